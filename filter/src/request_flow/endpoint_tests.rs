//! Embeddings, legacy completions, token counting and the endpoints Tollgate does not
//! govern, on the fake host: where each goes, what the client gets, what is charged.

use proxy_wasm::types::Action;
use serde_json::{json, Value};
use tollgate_core::event::{ApiKind, CacheStatus, Outcome, UsageSource};

use crate::test_plugin::{reply_json, seed_config, Plugin};

fn headers(path: &str, key: &str) -> Vec<(&'static str, String)> {
    vec![
        (":method", "POST".into()),
        (":path", path.into()),
        (":authority", "tollgate".into()),
        ("content-type", "application/json".into()),
        ("authorization", format!("Bearer {key}")),
    ]
}

fn refs<'a>(h: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    h.iter().map(|(n, v)| (*n, v.as_str())).collect()
}

/// The seed lanes plus an embedding lane and a legacy-completions lane.
fn with_modes() -> Value {
    let mut config = seed_config();
    let targets = config["providers"]["targets"].as_array_mut().unwrap();
    targets.push(
        json!({"id": "embed-small", "provider": "openai", "model": "text-embedding-3-small",
        "mode": "embedding", "secret_key_ref": {"env": "TOLLGATE_TEST_OPENAI_KEY"}}),
    );
    targets.push(
        json!({"id": "instruct", "provider": "openai", "model": "gpt-3.5-turbo-instruct",
        "mode": "completion", "secret_key_ref": {"env": "TOLLGATE_TEST_OPENAI_KEY"}}),
    );
    config
}

const EMBED: &str =
    r#"{"model":"text-embedding-3-small","input":["alpha","beta"],"encoding_format":"base64"}"#;
const EMBED_ANSWER: &str = r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":"AAAAAA=="},{"object":"embedding","index":1,"embedding":"AAAAAA=="}],"model":"text-embedding-3-small","usage":{"prompt_tokens":2000,"total_tokens":2000}}"#;

#[test]
fn embeddings_go_to_the_embedding_lane_are_priced_from_prompt_tokens_and_cached_exactly() {
    let mut config = with_modes();
    config["cache"] = json!({"enabled": true, "match_strategy": "normalized"});
    let mut plugin = Plugin::configure(&config);
    let h = headers("/v1/embeddings", "kt_support");
    let mut s = plugin.stream(&refs(&h), EMBED);
    assert_eq!(s.send_request(), (Action::Pause, Action::Continue));
    assert_eq!(
        s.upstream_header(":path").as_deref(),
        Some("/v1/embeddings")
    );
    assert_eq!(
        s.upstream_header("authorization").as_deref(),
        Some("Bearer sk-openai-test")
    );
    s.receive(200, &[("content-type", "application/json")], EMBED_ANSWER);
    assert_eq!(
        s.response_header("x-tollgate-lane").as_deref(),
        Some("embed-small")
    );
    // 2000 tokens × $0.02/M = $0.00004.
    assert_eq!(
        s.response_header("x-tollgate-cost-usd").as_deref(),
        Some("0.00004")
    );
    s.finish();
    let e = &plugin.queued_events()[0];
    assert_eq!(e.api, ApiKind::Embeddings);
    assert_eq!((e.tokens.input, e.tokens.output), (2000, 0));
    assert_eq!(e.cost_nanos, 40_000);
    assert_eq!(e.cache, CacheStatus::Miss);

    // The same request again: answered from the cache, nothing charged.
    let mut again = plugin.stream(&refs(&h), EMBED);
    again.send_request();
    let hit = again.local_reply().expect("answered from the cache");
    assert_eq!(hit.status, 200);
    assert_eq!(reply_json(&hit)["usage"]["prompt_tokens"], 2000);
    again.finish();
    let events = plugin.queued_events();
    let e = events.last().unwrap();
    assert_eq!(
        (e.cache, e.cost_nanos, e.cost_avoided_nanos),
        (CacheStatus::Hit, 0, 40_000)
    );

    // Even under normalised matching, other whitespace is another input.
    let spaced = EMBED.replace("\"alpha\"", "\"alpha \"");
    let mut other = plugin.stream(&refs(&h), &spaced);
    other.send_request();
    assert_eq!(other.local_reply(), None, "not a cache hit");
}

#[test]
fn embeddings_for_a_model_no_lane_serves_are_refused_not_sent_to_a_chat_lane() {
    let plugin = Plugin::configure(&with_modes());
    let h = headers("/v1/embeddings", "kt_support");
    let mut s = plugin.stream(
        &refs(&h),
        r#"{"model":"text-embedding-3-large","input":"x"}"#,
    );
    s.send_request();
    let reply = s.local_reply().expect("refused");
    assert_eq!(reply.status, 400);
    let message = reply_json(&reply)["error"]["message"].to_string();
    assert!(
        message.contains("text-embedding-3-large") && message.contains("mode: embedding"),
        "{message}"
    );
}

#[test]
fn a_legacy_completion_stream_is_priced_like_chat_and_its_unasked_usage_removed() {
    let mut plugin = Plugin::configure(&with_modes());
    let h = headers("/v1/completions", "kt_support");
    let mut s = plugin.stream(
        &refs(&h),
        r#"{"model":"gpt-3.5-turbo-instruct","prompt":"Say hi","stream":true}"#,
    );
    s.send_request();
    let sent = s.upstream_body();
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert_eq!(
        s.upstream_header(":path").as_deref(),
        Some("/v1/completions")
    );
    let text = r#"data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"gpt-3.5-turbo-instruct","choices":[{"text":"hi there","index":0,"logprobs":null,"finish_reason":"stop"}],"usage":null}

"#;
    let usage = r#"data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"gpt-3.5-turbo-instruct","choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500}}

"#;
    let client =
        String::from_utf8(s.receive_stream(200, &[text, usage, "data: [DONE]\n\n"])).unwrap();
    assert!(client.contains("hi there"));
    assert!(!client.contains("\"prompt_tokens\""), "{client}");
    s.finish();
    let e = &plugin.queued_events()[0];
    assert_eq!(e.api, ApiKind::Completions);
    assert_eq!(e.lane.as_deref(), Some("instruct"));
    // 1000 × $1.50/M + 500 × $2.00/M = $0.0025.
    assert_eq!(e.cost_nanos, 2_500_000);
    assert_eq!(e.usage_source, UsageSource::Reported);
}

#[test]
fn token_counting_reserves_nothing_and_records_a_free_event() {
    let mut config = seed_config();
    config["cost_tracking"]["wallet_enforcement"] = json!(true);
    let mut plugin = Plugin::configure(&config);
    let h = vec![
        (":method", "POST".to_string()),
        (":path", "/v1/messages/count_tokens".to_string()),
        ("x-api-key", "kt_support".to_string()),
        ("anthropic-version", "2023-06-01".to_string()),
        ("content-type", "application/json".to_string()),
    ];
    let mut s = plugin.stream(
        &refs(&h),
        r#"{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"hello"}]}"#,
    );
    assert_eq!(s.send_request().1, Action::Continue, "no wallet wait");
    assert!(s.http_calls().is_empty(), "no lease asked for");
    assert_eq!(
        s.upstream_header(":path").as_deref(),
        Some("/v1/messages/count_tokens")
    );
    assert_eq!(
        s.upstream_header("x-api-key").as_deref(),
        Some("sk-ant-test")
    );
    s.receive(
        200,
        &[("content-type", "application/json")],
        r#"{"input_tokens":4000}"#,
    );
    assert_eq!(s.response_body()["input_tokens"], 4000);
    s.finish();
    let e = &plugin.queued_events()[0];
    assert_eq!((e.api, e.outcome), (ApiKind::CountTokens, Outcome::Ok));
    assert_eq!((e.cost_nanos, e.tokens.total(), e.unpriced), (0, 0, false));
    assert_eq!(e.lease_id, None);
    assert_eq!(e.team, "team_support");
}

const IMAGE_ANSWER: &str = r#"{"created":1,"data":[{"b64_json":"iVBORw0KGgo="}],"usage":{"total_tokens":1066,"input_tokens":10,"output_tokens":1056,"input_tokens_details":{"text_tokens":10,"image_tokens":0}}}"#;

#[test]
fn a_passed_through_endpoint_is_attributed_and_recorded_unpriced() {
    let mut config = seed_config();
    config["other_endpoints"] = json!({"images": "passthrough"});
    let mut plugin = Plugin::configure(&config);
    let h = headers("/v1/images/generations", "kt_support");
    let mut s = plugin.stream(&refs(&h), r#"{"model":"gpt-image-1","prompt":"a cat"}"#);
    let (headers_action, _) = s.send_request();
    assert_eq!(
        headers_action,
        Action::Continue,
        "sent on at once, body unread"
    );
    assert_eq!(s.local_reply(), None);
    assert_eq!(
        s.upstream_header(":path").as_deref(),
        Some("/v1/images/generations")
    );
    assert_eq!(
        s.upstream_header("authorization").as_deref(),
        Some("Bearer sk-openai-test"),
        "the lane's credential, never the team key"
    );
    assert_eq!(
        s.upstream_header("x-tollgate-provider").as_deref(),
        Some("openai")
    );
    assert_eq!(s.flow.on_http_request_body(10, true), Action::Continue);
    s.receive(200, &[("content-type", "application/json")], IMAGE_ANSWER);
    s.finish();
    let e = &plugin.queued_events()[0];
    assert_eq!((e.api, e.outcome), (ApiKind::Passthrough, Outcome::Ok));
    assert_eq!(e.team, "team_support");
    // Usage reported, but no model named that has a price: recorded, flagged unpriced.
    assert_eq!(e.tokens.output, 1056);
    assert!(e.unpriced);
    assert_eq!(e.cost_nanos, 0);

    // Audio (not named, default refuse) is still refused with the clear 404.
    let h = headers("/v1/audio/speech", "kt_support");
    let mut s = plugin.stream(&refs(&h), r#"{"model":"tts-1","input":"hi"}"#);
    s.send_request();
    assert_eq!(s.local_reply().expect("refused").status, 404);
}

#[test]
fn a_passed_through_answer_that_is_not_json_goes_on_unbuffered_and_completes() {
    let mut config = seed_config();
    config["other_endpoints"] = json!({"default": "passthrough"});
    let mut plugin = Plugin::configure(&config);
    let h = headers("/v1/audio/speech", "kt_support");
    let mut s = plugin.stream(&refs(&h), r#"{"model":"tts-1","input":"hi"}"#);
    s.send_request();
    let action = s.receive(200, &[("content-type", "audio/mpeg")], "ID3...");
    assert_eq!(action, Action::Continue);
    s.finish();
    let e = &plugin.queued_events()[0];
    assert_eq!((e.outcome, e.unpriced), (Outcome::Ok, true));
}

#[test]
fn batch_jobs_are_refused_as_not_governed_even_under_a_passthrough_default() {
    // A passthrough default does not cover batches.
    let mut config = seed_config();
    config["other_endpoints"] = json!({"default": "passthrough"});
    let mut plugin = Plugin::configure(&config);
    for path in ["/v1/batches", "/v1/messages/batches"] {
        let h = headers(path, "kt_support");
        let mut s = plugin.stream(&refs(&h), r#"{"requests":[]}"#);
        s.send_request();
        let reply = s.local_reply().expect("refused");
        assert_eq!(reply.status, 403);
        let body = reply_json(&reply);
        assert_eq!(body["error"]["code"], "batch_not_governed");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Batch jobs are not governed"));
        s.finish();
        let events = plugin.queued_events();
        assert_eq!(events.last().unwrap().outcome, Outcome::Refused);
    }
}

#[test]
fn batch_jobs_let_through_are_never_priced() {
    let mut config = seed_config();
    config["other_endpoints"] = json!({"batches": "passthrough"});
    let mut plugin = Plugin::configure(&config);
    let h = vec![
        (":method", "POST".to_string()),
        (":path", "/v1/messages/batches".to_string()),
        ("x-api-key", "kt_support".to_string()),
        ("anthropic-version", "2023-06-01".to_string()),
    ];
    let mut s = plugin.stream(&refs(&h), r#"{"requests":[]}"#);
    s.send_request();
    assert_eq!(s.local_reply(), None);
    assert_eq!(
        s.upstream_header("x-api-key").as_deref(),
        Some("sk-ant-test")
    );
    assert_eq!(
        s.upstream_header("x-tollgate-provider").as_deref(),
        Some("anthropic")
    );
    // Whatever usage a batch answer carried, the interactive rate never prices it.
    s.receive(
        200,
        &[("content-type", "application/json")],
        r#"{"id":"msgbatch_1","type":"message_batch","model":"claude-haiku-4-5","usage":{"input_tokens":1000,"output_tokens":10}}"#,
    );
    s.finish();
    let e = &plugin.queued_events()[0];
    assert_eq!((e.cost_nanos, e.unpriced), (0, true));
    assert_eq!(e.provider.as_deref(), Some("anthropic"));
}

#[test]
fn an_openai_compatible_lane_is_called_at_its_base_url_and_a_fixed_cost_one_charges_nothing() {
    let mut config = seed_config();
    config["providers"]["targets"] = json!([
        {"id": "groq", "provider": "openai_compatible", "model": "llama-3.1-8b-instant",
         "base_url": "https://api.groq.com/openai/v1", "fixed_cost": true,
         "secret_key_ref": {"env": "TOLLGATE_TEST_OPENAI_KEY"}}
    ]);
    config["cost_tracking"]["wallet_enforcement"] = json!(true);
    let mut plugin = Plugin::configure(&config);
    let h = headers("/v1/chat/completions", "kt_support");
    let mut s = plugin.stream(
        &refs(&h),
        r#"{"model":"llama-3.1-8b-instant","messages":[{"role":"user","content":"hi"}]}"#,
    );
    // Fixed cost: nothing to reserve, so no credit is asked for.
    assert_eq!(s.send_request().1, Action::Continue);
    assert!(s.http_calls().is_empty());
    assert_eq!(
        s.upstream_header(":path").as_deref(),
        Some("/openai/v1/chat/completions")
    );
    assert_eq!(
        s.upstream_header(":authority").as_deref(),
        Some("api.groq.com")
    );
    assert_eq!(
        s.upstream_header("x-tollgate-provider").as_deref(),
        Some("lane_groq"),
        "routed to the lane's own cluster"
    );
    assert_eq!(
        s.upstream_header("authorization").as_deref(),
        Some("Bearer sk-openai-test")
    );
    s.receive(
        200,
        &[("content-type", "application/json")],
        r#"{"id":"x","object":"chat.completion","model":"llama-3.1-8b-instant","choices":[],"usage":{"prompt_tokens":40,"completion_tokens":9,"total_tokens":49}}"#,
    );
    s.finish();
    let e = &plugin.queued_events()[0];
    assert_eq!(e.provider.as_deref(), Some("openai_compatible"));
    assert_eq!((e.tokens.input, e.tokens.output), (40, 9));
    assert_eq!((e.cost_nanos, e.unpriced), (0, false));
}
