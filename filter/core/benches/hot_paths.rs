//! The core's per-request and per-chunk work, timed natively with `std::time` (no
//! benchmark framework): the streamed answers the provider simulator sends (OpenAI chat,
//! Anthropic messages, and an OpenAI client served by an Anthropic lane), fed chunk by
//! chunk through what the filter runs for each response body chunk, and the request
//! body of `bench/tollgate_bench/chat_request.py` through what it runs on a cache miss.
//!
//! `cargo bench -p tollgate-core --bench hot_paths` prints the best of several runs per
//! case (a shared machine only ever adds time) and the heap allocations each makes; it
//! asserts nothing about speed.

use std::hint::black_box;
use std::time::Instant;

use tollgate_core::cache::{cache_key, normalized_key};
use tollgate_core::event::ApiKind;
use tollgate_core::request::ParsedRequest;
use tollgate_core::response_stream::{ClientStream, ResponseStream};
use tollgate_core::token_estimate::PromptText;
use tollgate_core::translate::{Direction, StreamTranslator};
use tollgate_core::usage::UsageTracker;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{allocations, Counting};

#[cfg(not(target_family = "wasm"))]
#[global_allocator]
static GLOBAL: Counting<std::alloc::System> = Counting(std::alloc::System);
// The core alone, compiled to wasm: Talc, the allocator beneath the filter's size
// classes.
#[cfg(target_family = "wasm")]
#[global_allocator]
static GLOBAL: Counting<talc::wasm::WasmDynamicTalc> =
    Counting(talc::wasm::new_wasm_dynamic_allocator());

/// Content chunks per answer, as in BENCHMARKS.md section e (4,000 words, four a chunk).
const CHUNKS: usize = 1000;
/// Runs per case: many short runs, so that some run without being preempted on a
/// shared machine; the best one is reported.
const RUNS: usize = 60;
const MAX_EVENT: usize = 1 << 20;

const WORDS: &[&str] = &[
    "this is a deterministic ",
    "reply from the Tollgate ",
    "provider simulator so tests ",
    "can predict usage and ",
    "cost for every request ",
];

/// An OpenAI chat stream as the simulator writes it, with the usage chunk Tollgate asks for.
fn openai_stream() -> Vec<String> {
    let envelope = r#""created":1796382298,"id":"chatcmpl-sim6b129e59000002","model":"gpt-5.4-mini","object":"chat.completion.chunk","service_tier":"default","system_fingerprint":"fp_tollgate_sim""#;
    let mut events = vec![format!(
        r#"data: {{"choices":[{{"delta":{{"content":"","refusal":null,"role":"assistant"}},"finish_reason":null,"index":0,"logprobs":null}}],{envelope},"usage":null}}"#
    )];
    for i in 0..CHUNKS {
        events.push(format!(
            r#"data: {{"choices":[{{"delta":{{"content":"{}"}},"finish_reason":null,"index":0,"logprobs":null}}],{envelope},"usage":null}}"#,
            WORDS[i % WORDS.len()]
        ));
    }
    events.push(format!(
        r#"data: {{"choices":[{{"delta":{{}},"finish_reason":"stop","index":0,"logprobs":null}}],{envelope},"usage":null}}"#
    ));
    events.push(format!(
        r#"data: {{"choices":[],{envelope},"usage":{{"completion_tokens":4000,"completion_tokens_details":{{"accepted_prediction_tokens":0,"audio_tokens":0,"reasoning_tokens":0,"rejected_prediction_tokens":0}},"prompt_tokens":18,"prompt_tokens_details":{{"audio_tokens":0,"cache_write_tokens":0,"cached_tokens":0}},"total_tokens":4018}}}}"#
    ));
    events.push("data: [DONE]".into());
    events.into_iter().map(|e| e + "\n\n").collect()
}

/// An Anthropic message stream as the simulator writes it.
fn anthropic_stream() -> Vec<String> {
    let mut events = vec![
        r#"event: message_start
data: {"message":{"content":[],"id":"msg_sim6b129e59000004","model":"claude-haiku-4-5","role":"assistant","stop_reason":null,"stop_sequence":null,"type":"message","usage":{"cache_creation":{"ephemeral_1h_input_tokens":0,"ephemeral_5m_input_tokens":0},"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"input_tokens":18,"output_tokens":1,"server_tool_use":null,"service_tier":"standard"}},"type":"message_start"}"#.to_string(),
        "event: ping\ndata: {\"type\":\"ping\"}".into(),
        r#"event: content_block_start
data: {"content_block":{"text":"","type":"text"},"index":0,"type":"content_block_start"}"#.into(),
    ];
    for i in 0..CHUNKS {
        events.push(format!(
            "event: content_block_delta\ndata: {{\"delta\":{{\"text\":\"{}\",\"type\":\"text_delta\"}},\"index\":0,\"type\":\"content_block_delta\"}}",
            WORDS[i % WORDS.len()]
        ));
    }
    events.push(
        "event: content_block_stop\ndata: {\"index\":0,\"type\":\"content_block_stop\"}".into(),
    );
    events.push(r#"event: message_delta
data: {"delta":{"stop_reason":"end_turn","stop_sequence":null},"type":"message_delta","usage":{"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"input_tokens":18,"output_tokens":4000,"server_tool_use":null}}"#.into());
    events.push("event: message_stop\ndata: {\"type\":\"message_stop\"}".into());
    events.into_iter().map(|e| e + "\n\n").collect()
}

/// One shape: the upstream chunks (one event each, as the simulator flushes them) and
/// what the filter does with the client's bytes.
struct Shape {
    name: &'static str,
    lane_api: ApiKind,
    chunks: Vec<String>,
    client: Client,
}

#[derive(Clone, Copy)]
enum Client {
    /// Passed on as it is (usage read only).
    Pass,
    /// The usage chunk Tollgate asked for is taken out.
    StripUsage,
    /// Translated for an OpenAI client.
    TranslateToChat,
}

/// Events at each end of a stream (message start, the first delta's role, the final
/// usage and stop) that set the stream up or close it; the rest is its steady state.
const ENDS: usize = 10;

/// What one stream did: the client's bytes, the chunks written back, the output tokens
/// read, and the allocations made by the events between the first and last [`ENDS`].
struct StreamRun {
    client_bytes: usize,
    written_back: usize,
    output_tokens: u64,
    steady_allocations: u64,
}

/// One streamed answer through the core, chunk by chunk, as the filter's response body
/// callback drives it.
fn run_stream(shape: &Shape) -> StreamRun {
    let client = match shape.client {
        Client::Pass => ClientStream::AsIs,
        Client::StripUsage => ClientStream::WithoutUsageChunk,
        Client::TranslateToChat => ClientStream::Translated(Box::new(
            StreamTranslator::new(Direction::ChatClientMessagesLane, "claude-haiku", false)
                .with_created(1_796_382_298),
        )),
    };
    let mut stream = ResponseStream::new(shape.lane_api, client, MAX_EVENT);
    let mut usage = UsageTracker::default();
    let (mut client_bytes, mut written_back, mut steady_allocations) = (0, 0, 0);
    let last = shape.chunks.len() - 1;
    for (i, chunk) in shape.chunks.iter().enumerate() {
        let chunk = chunk.as_bytes();
        let before = allocations();
        let out = stream.push(chunk, i == last, &mut usage);
        if (ENDS..=last.saturating_sub(ENDS)).contains(&i) {
            steady_allocations += allocations() - before;
        }
        match out {
            Some(out) => {
                client_bytes += black_box(out).len();
                written_back += 1;
            }
            None => client_bytes += chunk.len(),
        }
    }
    StreamRun {
        client_bytes,
        written_back,
        output_tokens: usage.tokens.output,
        steady_allocations,
    }
}

/// The ~1 KB chat request of `bench/tollgate_bench/chat_request.py`.
fn chat_request() -> String {
    let system = "You are the support assistant of a company selling industrial sensors. Answer briefly, cite the relevant manual section when you can, and never promise delivery dates. If the customer is angry, apologise once and move on to the fix.";
    let user = "Ticket 000000: Our temperature sensor model TS-4410 reports values that drift by about two degrees per hour after a firmware update to version 3.2.1. The drift starts roughly ten minutes after power-on and stops after about six hours. We have eighteen units on the same line and all show the same behaviour; units still on 3.1.9 are fine. We already tried a factory reset and recalibration with the reference probe, without any change. Is this a known issue, is there a fix or a rollback procedure, and can we keep the line running meanwhile? Please reply with clear steps for the night shift.";
    format!(
        r#"{{"model": "gpt-5.4-mini-mini", "max_tokens": 64, "temperature": 0, "messages": [{{"role": "system", "content": "{system}"}}, {{"role": "user", "content": "{user}"}}]}}"#
    )
}

/// What the filter's body phase computes from a request on a cache miss with every
/// feature on: the parsed facts, the prompt estimate, the exact and normalised cache
/// keys, and the body sent upstream.
fn run_request(body: &[u8], served_model: &str) -> usize {
    let parsed = ParsedRequest::parse_whole(ApiKind::ChatCompletions, body).expect("valid request");
    let prompt = PromptText::of(parsed.body());
    let key = cache_key(parsed.api, served_model, Some("support"), parsed.body());
    let normalized = normalized_key(
        &key,
        parsed.api,
        served_model,
        Some("support"),
        parsed.body(),
    );
    let upstream = if parsed.sent_unchanged(served_model) {
        0
    } else {
        parsed.upstream_body(served_model).len()
    };
    black_box((prompt, key, normalized));
    upstream + parsed.facts.model.len()
}

/// Best time of `RUNS` runs of `f`, each repeated `reps` times, in ns per rep.
fn best_ns(reps: usize, mut f: impl FnMut()) -> f64 {
    (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..reps {
                f();
            }
            start.elapsed().as_nanos() as f64 / reps as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let shapes = [
        Shape {
            name: "OpenAI chat stream (usage chunk stripped)",
            lane_api: ApiKind::ChatCompletions,
            chunks: openai_stream(),
            client: Client::StripUsage,
        },
        Shape {
            name: "OpenAI chat stream (client asked for usage)",
            lane_api: ApiKind::ChatCompletions,
            chunks: openai_stream(),
            client: Client::Pass,
        },
        Shape {
            name: "Anthropic messages stream",
            lane_api: ApiKind::Messages,
            chunks: anthropic_stream(),
            client: Client::Pass,
        },
        Shape {
            name: "OpenAI client, Anthropic lane (translated)",
            lane_api: ApiKind::Messages,
            chunks: anthropic_stream(),
            client: Client::TranslateToChat,
        },
    ];
    println!(
        "| stream | events | ns per event (best of {RUNS}) | allocations per event | allocations after the first and before the last {ENDS} events | chunks written back |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for shape in &shapes {
        let before = allocations();
        let run = run_stream(shape);
        let allocated = allocations() - before;
        assert!(
            run.client_bytes > 0 && run.output_tokens == 4000,
            "{}: the stream was read",
            shape.name
        );
        let ns = best_ns(1, || {
            black_box(run_stream(black_box(shape)));
        });
        let events = shape.chunks.len();
        println!(
            "| {} | {events} | {:.0} | {:.2} | {} | {} |",
            shape.name,
            ns / events as f64,
            allocated as f64 / events as f64,
            run.steady_allocations,
            run.written_back
        );
    }
    let body = chat_request();
    println!();
    println!(
        "| request ({} bytes) | ns per request (best of {RUNS}) | allocations per request |",
        body.len()
    );
    println!("|---|---:|---:|");
    for (name, served) in [
        ("miss, model served as asked", "gpt-5.4-mini-mini"),
        ("miss, model rewritten for the lane", "gpt-5.4-mini"),
    ] {
        let before = allocations();
        black_box(run_request(body.as_bytes(), served));
        let allocated = allocations() - before;
        let ns = best_ns(20, || {
            black_box(run_request(black_box(body.as_bytes()), served));
        });
        println!("| {name} | {ns:.0} | {allocated} |");
    }
}
