//! A nearly empty wallet on the fake host: the lane's `count_tokens` asked before a
//! refusal on the byte bound, and never otherwise.

use proxy_wasm::types::StreamType;
use serde_json::{json, Value};
use tollgate_core::event::Outcome;

use crate::fake_host::HttpCall;
use crate::test_plugin::{reply_json, seed_config, Plugin, CHAT_HEADERS, NOW_MS};

/// Only the Anthropic lane (claude-haiku-4-5), wallet enforced.
fn enforced() -> Value {
    let mut config = seed_config();
    config["providers"]["targets"] = json!([config["providers"]["targets"][1]]);
    config["cost_tracking"]["wallet_enforcement"] = json!(true);
    config
}

/// About 4 KB of prompt: reserved on the byte bound at haiku's dearest input rate
/// ($2/M for 1-hour cache writes) it needs about $0.0082, far more than its tokens.
fn long_prompt() -> String {
    "lorem ipsum ".repeat(340)
}

fn messages_body() -> String {
    json!({
        "model": "claude-haiku-4-5",
        "max_tokens": 10,
        "temperature": 0.5,
        "messages": [{"role": "user", "content": long_prompt()}]
    })
    .to_string()
}

const MESSAGES_HEADERS: &[(&str, &str)] = &[
    (":method", "POST"),
    (":path", "/v1/messages"),
    (":authority", "tollgate"),
    ("content-type", "application/json"),
    ("x-api-key", "kt_support"),
    ("anthropic-version", "2023-06-01"),
];

const ANTHROPIC_ANSWER: &str = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":{"input_tokens":1000,"output_tokens":5}}"#;

/// The ledger's grant: all a wallet of `nanos` has left.
fn grant(nanos: i64) -> String {
    json!({"lease_id": 8, "granted_nanos": nanos, "expires_ms": NOW_MS as i64 + 30_000,
        "wallet_available_nanos": 0})
    .to_string()
}

fn header(call: &HttpCall, name: &str) -> Option<String> {
    tollgate_core::headers::find(&call.headers, name).map(str::to_string)
}

/// $0.003 left: the byte bound (~$0.0082) does not fit, 1000 counted tokens do.
const NEARLY_EMPTY: i64 = 3_000_000;

#[test]
fn a_refusal_on_the_byte_bound_asks_the_lane_to_count_and_sends_when_the_count_fits() {
    let mut plugin = Plugin::configure(&enforced());
    let mut s = plugin.stream(MESSAGES_HEADERS, &messages_body());
    s.send_request();
    let lease = s.http_calls()[0].clone();
    s.answer_call(lease.token, 200, &[], &grant(NEARLY_EMPTY));
    assert_eq!(s.local_reply(), None, "not refused yet");
    let calls = s.http_calls();
    assert_eq!(calls.len(), 2, "one count call after the lease call");
    let count = &calls[1];
    assert_eq!(count.upstream, "provider_anthropic", "the lane's cluster");
    assert_eq!(
        header(count, ":path").as_deref(),
        Some("/v1/messages/count_tokens")
    );
    assert_eq!(header(count, "x-api-key").as_deref(), Some("sk-ant-test"));
    assert_eq!(
        header(count, "anthropic-version").as_deref(),
        Some("2023-06-01")
    );
    let asked: Value = serde_json::from_slice(&count.body).unwrap();
    assert_eq!(asked["model"], "claude-haiku-4-5");
    assert_eq!(asked["messages"][0]["content"], long_prompt());
    assert!(asked.get("max_tokens").is_none() && asked.get("temperature").is_none());

    s.answer_call(count.token, 200, &[], r#"{"input_tokens":1000}"#);
    assert_eq!(s.local_reply(), None);
    assert!(s.resumed(StreamType::HttpRequest));
    assert_eq!(
        s.upstream_header("x-api-key").as_deref(),
        Some("sk-ant-test")
    );
    s.receive(
        200,
        &[("content-type", "application/json")],
        ANTHROPIC_ANSWER,
    );
    s.finish();
    let events = plugin.queued_events();
    assert_eq!(events.len(), 1, "the count is no event of its own");
    assert_eq!(events[0].outcome, Outcome::Ok);
    assert_eq!(events[0].lease_id, Some(8));
}

fn refused_after_count(answer_status: u16, answer: &str) {
    let mut plugin = Plugin::configure(&enforced());
    let mut s = plugin.stream(MESSAGES_HEADERS, &messages_body());
    s.send_request();
    let lease = s.http_calls()[0].clone();
    s.answer_call(lease.token, 200, &[], &grant(NEARLY_EMPTY));
    let count = s.http_calls()[1].clone();
    s.answer_call(count.token, answer_status, &[], answer);
    let reply = s.local_reply().expect("refused locally");
    assert_eq!(reply.status, 402);
    let body = reply_json(&reply);
    assert_eq!(body["type"], "error");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("cannot cover this request"));
    assert_eq!(s.http_calls().len(), 2, "no further call");
    assert_eq!(
        s.upstream_header("x-api-key").as_deref(),
        Some("kt_support"),
        "nothing was rewritten or sent"
    );
    s.finish();
    let events = plugin.queued_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].reason.as_deref(), Some("wallet_exhausted"));
}

#[test]
fn a_count_the_wallet_still_cannot_cover_leaves_the_refusal() {
    // 2000 tokens + margin at $2/M is over $0.004: more than the wallet has.
    refused_after_count(200, r#"{"input_tokens":2000}"#);
}

#[test]
fn a_failed_count_leaves_the_refusal() {
    refused_after_count(503, r#"{"type":"error"}"#);
}

#[test]
fn a_count_answer_without_input_tokens_leaves_the_refusal() {
    refused_after_count(200, "not json");
}

/// Refused at once, with the lease call as the only call.
fn refused_without_count(config: &Value, headers: &[(&str, &str)], body: &str) {
    let plugin = Plugin::configure(config);
    let mut s = plugin.stream(headers, body);
    s.send_request();
    let lease = s.http_calls()[0].clone();
    s.answer_call(lease.token, 200, &[], &grant(NEARLY_EMPTY));
    assert_eq!(s.local_reply().expect("refused").status, 402);
    assert_eq!(s.http_calls().len(), 1, "no count call");
}

#[test]
fn the_count_can_be_switched_off() {
    let mut config = enforced();
    config["cost_tracking"]["count_tokens_precheck"] = json!(false);
    refused_without_count(&config, MESSAGES_HEADERS, &messages_body());
}

#[test]
fn a_request_translated_from_the_openai_format_is_not_counted() {
    let headers = CHAT_HEADERS;
    let body = json!({
        "model": "claude-haiku-4-5",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": long_prompt()}]
    });
    refused_without_count(&enforced(), &headers, &body.to_string());
}

#[test]
fn a_request_the_wallet_covers_is_never_counted() {
    let plugin = Plugin::configure(&enforced());
    let mut s = plugin.stream(MESSAGES_HEADERS, &messages_body());
    s.send_request();
    let lease = s.http_calls()[0].clone();
    s.answer_call(lease.token, 200, &[], &grant(1_000_000_000));
    assert!(s.resumed(StreamType::HttpRequest));
    assert_eq!(s.http_calls().len(), 1, "the lease call only");
}

#[test]
fn a_wallet_known_to_be_short_is_counted_without_asking_the_ledger_again() {
    let mut plugin = Plugin::configure(&enforced());
    // The first request is refused after its count: the instance now remembers the
    // wallet short and holds the $0.003 the ledger granted.
    let mut first = plugin.stream(MESSAGES_HEADERS, &messages_body());
    first.send_request();
    let lease = first.http_calls()[0].clone();
    first.answer_call(lease.token, 200, &[], &grant(NEARLY_EMPTY));
    let count = first.http_calls()[1].clone();
    first.answer_call(count.token, 200, &[], r#"{"input_tokens":2000}"#);
    assert_eq!(first.local_reply().expect("refused").status, 402);
    first.finish();

    let mut second = plugin.stream(MESSAGES_HEADERS, &messages_body());
    second.send_request();
    let calls = second.http_calls();
    assert_eq!(calls.len(), 3, "a count call, no lease call");
    assert_eq!(
        header(&calls[2], ":path").as_deref(),
        Some("/v1/messages/count_tokens")
    );
    second.answer_call(calls[2].token, 200, &[], r#"{"input_tokens":1000}"#);
    assert_eq!(second.local_reply(), None);
    assert!(second.resumed(StreamType::HttpRequest));
    second.receive(
        200,
        &[("content-type", "application/json")],
        ANTHROPIC_ANSWER,
    );
    second.finish();
    let events = plugin.queued_events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].outcome, Outcome::Ok);
}
