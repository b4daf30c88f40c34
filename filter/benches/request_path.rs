//! The filter's whole request path, natively, on the fake proxy-wasm host the shell's
//! tests use: headers, body, answer and log callbacks exactly as Envoy calls them, for
//! a cache miss with the cache off and on (parse, attribution, routing, cache lookup
//! and store, usage, pricing, the cost event) and a cache hit, with the ~1 KB chat request of
//! `bench/tollgate_bench/chat_request.py` and a 64-word answer as the provider
//! simulator writes it.
//!
//! `cargo bench -p tollgate-filter --features fake-host --bench request_path` prints the
//! best of several runs per phase (a shared machine only ever adds time) and the heap
//! allocations each makes. It asserts nothing about speed. Native time includes the
//! fake host's own work behind each host call; inside Envoy the same code runs
//! compiled to wasm under V8 (BENCHMARKS.md compares the two). Run it under
//! `perf record` to see which functions the time goes to.
//!
//! `make bench-path-wasm` runs the same benchmark compiled to wasm32-wasip1 under
//! wasmtime (`bench/wasm_path.py`), one case per process: wasm has no threads.
//! `TOLLGATE_BENCH_COLD_BYTES=N` writes N bytes of other memory before each callback,
//! so each starts with cold caches as inside Envoy.

use std::hint::black_box;
use std::time::Instant;

use proxy_wasm::traits::RootContext;
use serde_json::json;
use tollgate_filter::fake_host;
use tollgate_filter::test_plugin::{seed_config, Plugin, CHAT_HEADERS};

#[path = "../core/benches/support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{allocations, Counting};

#[cfg(not(target_family = "wasm"))]
#[global_allocator]
static GLOBAL: Counting<std::alloc::System> = Counting(std::alloc::System);
/// Compiled to wasm, the filter's own heap, as in its wasm build.
#[cfg(target_family = "wasm")]
#[global_allocator]
static GLOBAL: Counting<tollgate_filter::allocator::WasmHeap> =
    Counting(tollgate_filter::allocator::wasm_heap());

/// Requests per run, and runs per case (the best run is reported).
const REQUESTS: usize = 2_000;
const RUNS: usize = 15;

const SYSTEM: &str = "You are the support assistant of a company selling industrial sensors. Answer briefly, cite the relevant manual section when you can, and never promise delivery dates. If the customer is angry, apologise once and move on to the fix.";

/// The chat request of `bench/tollgate_bench/chat_request.py`, ticket `n`.
fn chat_request(n: usize) -> String {
    let user = format!("Ticket {n:06}: Our temperature sensor model TS-4410 reports values that drift by about two degrees per hour after a firmware update to version 3.2.1. The drift starts roughly ten minutes after power-on and stops after about six hours. We have eighteen units on the same line and all show the same behaviour; units still on 3.1.9 are fine. We already tried a factory reset and recalibration with the reference probe, without any change. Is this a known issue, is there a fix or a rollback procedure, and can we keep the line running meanwhile? Please reply with clear steps for the night shift.");
    format!(
        r#"{{"model": "gpt-4o-mini", "max_tokens": 64, "temperature": 0, "messages": [{{"role": "system", "content": "{SYSTEM}"}}, {{"role": "user", "content": "{user}"}}]}}"#
    )
}

/// A 64-word answer in the simulator's JSON, with OpenAI's usage details.
fn answer() -> String {
    let words = "this is a deterministic reply from the Tollgate provider simulator so tests can predict usage and cost for every request ".repeat(4);
    let content: Vec<&str> = words.split_whitespace().take(64).collect();
    json!({
        "choices": [{"finish_reason": "length", "index": 0, "logprobs": null,
                     "message": {"annotations": [], "content": content.join(" "),
                                 "refusal": null, "role": "assistant"}}],
        "created": 1796382298, "id": "chatcmpl-sim6b129e59000002", "model": "gpt-4o-mini",
        "object": "chat.completion", "service_tier": "default",
        "system_fingerprint": "fp_tollgate_sim",
        "usage": {"completion_tokens": 64,
                  "completion_tokens_details": {"accepted_prediction_tokens": 0, "audio_tokens": 0,
                                                "reasoning_tokens": 0, "rejected_prediction_tokens": 0},
                  "prompt_tokens": 180,
                  "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 0},
                  "total_tokens": 244}
    })
    .to_string()
}

/// Time and allocations of one phase, summed over a run.
#[derive(Default, Clone, Copy)]
struct Phase {
    ns: u128,
    allocations: u64,
}

impl Phase {
    fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let (a, t) = (allocations(), Instant::now());
        let out = f();
        self.ns += t.elapsed().as_nanos();
        self.allocations += allocations() - a;
        out
    }
}

/// Request, response and log phases of one run, and the VM's ticks (every 100
/// requests: the events handed to the flusher's queue, counters to their stats).
type Run = [Phase; 4];

/// Bytes of other memory written before each callback when `TOLLGATE_BENCH_COLD_BYTES`
/// is set: inside Envoy a filter's callbacks run between Envoy's own work, which
/// leaves the caches cold for them; a loop of callbacks alone keeps them warm.
fn cold_bytes() -> usize {
    std::env::var("TOLLGATE_BENCH_COLD_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Writes one byte per cache line of `other`, evicting what the caches held.
fn chill(other: &mut [u8]) {
    for byte in other.iter_mut().step_by(64) {
        *byte = byte.wrapping_add(1);
    }
    black_box(other);
}

/// `REQUESTS` requests through the plugin; `distinct`: a new ticket number each time
/// (every request a miss), otherwise the same request (a hit after the first).
fn run(plugin: &mut Plugin, first: usize, distinct: bool, answer: &str) -> Run {
    let mut phases = Run::default();
    let mut other = vec![0u8; cold_bytes()];
    for i in 0..REQUESTS {
        let body = chat_request(if distinct { first + i } else { 0 });
        let length = body.len().to_string();
        let headers = [
            &CHAT_HEADERS[..],
            &[
                ("content-length", length.as_str()),
                ("user-agent", "wrk"),
                ("x-request-id", "5b5e1c2a-9d41-4c52-8f0b-3c1a2e4d5f60"),
            ],
        ]
        .concat();
        let mut stream = plugin.stream(&headers, &body);
        chill(&mut other);
        phases[0].time(|| black_box(stream.send_request()));
        if stream.local_reply().is_none() {
            let answer_headers = [("content-type", "application/json")];
            chill(&mut other);
            phases[1].time(|| black_box(stream.receive(200, &answer_headers, answer)));
        }
        chill(&mut other);
        phases[2].time(|| stream.finish());
        if i % 100 == 99 {
            // The tick hands events to the flusher's queue; the fake host's record of
            // calls and queued items is cleared, as Envoy's flusher would drain it.
            phases[3].time(|| plugin.root.on_tick());
            fake_host::with(|h| {
                h.queues.values_mut().for_each(|q| q.clear());
                h.calls.clear();
                h.logs.clear();
            });
        }
    }
    phases
}

/// Best of `RUNS` runs, phase by phase: ns and allocations per request.
fn best(mut one_run: impl FnMut(usize) -> Run) -> [(f64, f64); 4] {
    let mut best = [(f64::INFINITY, 0.0); 4];
    for r in 0..RUNS {
        let phases = one_run(r);
        for (b, p) in best.iter_mut().zip(phases) {
            let ns = p.ns as f64 / REQUESTS as f64;
            if ns < b.0 {
                *b = (ns, p.allocations as f64 / REQUESTS as f64);
            }
        }
    }
    best
}

/// Best runs of `case` (misses, or hits after one miss) on a plugin configured with
/// `config`. Each case runs on a thread of its own, as the shell's tests do: the SDK
/// keeps the plugin's state (HTTP call tokens) per thread, and the fake host too.
/// Compiled to wasm, where there are no threads, a process runs one case.
fn measure(config: serde_json::Value, distinct: bool) -> [(f64, f64); 4] {
    let body = move || {
        let answer = answer();
        let mut plugin = Plugin::configure(&config);
        best(|r| run(&mut plugin, r * REQUESTS, distinct, &answer))
    };
    #[cfg(target_family = "wasm")]
    return body();
    #[cfg(not(target_family = "wasm"))]
    std::thread::spawn(body)
        .join()
        .expect("the benchmark thread ran")
}

fn main() {
    let cache_off = seed_config();
    let mut cache_on = seed_config();
    cache_on["cache"] = json!({"enabled": true, "max_entries": 10_000});
    // `-- <word>` runs only the cases whose name contains it (`-- hit`), to profile one.
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let cases = [
        ("miss, cache off", cache_off, true),
        ("miss, cache on (lookup and store)", cache_on.clone(), true),
        ("hit", cache_on, false),
    ]
    .into_iter()
    .filter(|(name, ..)| only.as_ref().is_none_or(|w| name.contains(w.as_str())))
    .collect::<Vec<_>>();
    if cfg!(target_family = "wasm") && cases.len() != 1 {
        // One thread holds the SDK's and the fake host's state for every case.
        eprintln!("compiled to wasm, name one case (`-- \"cache off\"`): bench/wasm_path.py does");
        std::process::exit(2);
    }
    let cases = cases
        .into_iter()
        .map(|(name, config, distinct)| (name, measure(config, distinct)));
    println!("| path (973-byte request, wallet enforcement off) | request ns | response ns | log ns | tick ns | total ns | allocations (request / response / log / tick) |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for (name, phases) in cases {
        let total: f64 = phases.iter().map(|p| p.0).sum();
        let [request, response, log, tick] = phases;
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.0} | {total:.0} | {:.0} / {:.0} / {:.0} / {:.1} |",
            request.0, response.0, log.0, tick.0, request.1, response.1, log.1, tick.1
        );
    }
}
