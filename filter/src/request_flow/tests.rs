//! The request lifecycle on the fake host: what the client, the provider and the
//! ledger see for each way a request can go.

use proxy_wasm::types::Action;
use serde_json::json;
use tollgate_core::event::{Outcome, UsageSource};

use crate::test_plugin::{reply_json, seed_config, Plugin};

const CHAT: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;

fn chat_headers(key: &str) -> Vec<(&'static str, String)> {
    vec![
        (":method", "POST".into()),
        (":path", "/v1/chat/completions".into()),
        (":authority", "tollgate".into()),
        ("content-type", "application/json".into()),
        ("authorization", format!("Bearer {key}")),
        ("x-tollgate-workflow", "ticket-summarise".into()),
    ]
}

fn refs<'a>(h: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    h.iter().map(|(n, v)| (*n, v.as_str())).collect()
}

const OPENAI_ANSWER: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1000,"completion_tokens":200,"total_tokens":1200}}"#;

#[test]
fn a_request_without_a_key_is_refused_in_the_openai_shape_and_charged_nothing() {
    let mut plugin = Plugin::configure(&seed_config());
    let mut s = plugin.stream(
        &[(":method", "POST"), (":path", "/v1/chat/completions")],
        CHAT,
    );
    let (headers, _) = s.send_request();
    assert_eq!(headers, Action::Pause);
    let reply = s.local_reply().expect("answered locally");
    assert_eq!(reply.status, 401);
    let body = reply_json(&reply);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Missing API key"));
    s.finish();
    // No consumer group: nobody to charge, so no event.
    assert!(plugin.queued_events().is_empty());
}

#[test]
fn an_unknown_key_is_refused_in_the_anthropic_shape_for_anthropic_clients() {
    let plugin = Plugin::configure(&seed_config());
    let mut s = plugin.stream(
        &[
            (":method", "POST"),
            (":path", "/v1/messages"),
            ("x-api-key", "kt_nobody"),
        ],
        r#"{"model":"claude-haiku-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"#,
    );
    s.send_request();
    let reply = s.local_reply().expect("answered locally");
    assert_eq!(reply.status, 401);
    let body = reply_json(&reply);
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "authentication_error");
}

#[test]
fn an_endpoint_tollgate_does_not_serve_is_refused_and_recorded_for_the_team() {
    let mut plugin = Plugin::configure(&seed_config());
    let headers = [
        (":method", "POST"),
        (":path", "/v1/images/generations"),
        ("authorization", "Bearer kt_support"),
    ];
    let mut s = plugin.stream(&headers, r#"{"prompt":"a cat"}"#);
    s.send_request();
    let reply = s.local_reply().expect("answered locally");
    assert_eq!(reply.status, 404);
    assert!(reply_json(&reply)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/v1/images/generations"));
    assert!(reply
        .headers
        .iter()
        .any(|(n, v)| n == "x-tollgate-request-id" && !v.is_empty()));
    s.finish();
    let events = plugin.queued_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].team, "team_support");
    // The client asked for something Tollgate does not do: a bad request, not a refusal.
    assert_eq!(events[0].outcome, Outcome::BadRequest);
    assert_eq!(events[0].http_status, 404);
    assert_eq!(events[0].cost_nanos, 0);
}

#[test]
fn a_body_larger_than_the_limit_is_refused_before_it_is_read() {
    let plugin = Plugin::configure(&seed_config());
    let mut headers = chat_headers("kt_support");
    headers.push(("content-length", "999999999".into()));
    let mut s = plugin.stream(&refs(&headers), CHAT);
    s.send_request();
    assert_eq!(s.local_reply().expect("refused").status, 413);
}

#[test]
fn a_request_goes_upstream_with_the_lane_credential_and_is_priced_from_the_answer() {
    let mut config = seed_config();
    // One lane, so the route is certain.
    config["providers"]["targets"] = json!([config["providers"]["targets"][0]]);
    let mut plugin = Plugin::configure(&config);
    let mut s = plugin.stream(&refs(&chat_headers("kt_support")), CHAT);
    let (headers, body) = s.send_request();
    assert_eq!((headers, body), (Action::Pause, Action::Continue));
    assert_eq!(s.local_reply(), None);
    // The team key never leaves Envoy; the provider's key and route header are set.
    assert_eq!(
        s.upstream_header("authorization").as_deref(),
        Some("Bearer sk-openai-test")
    );
    assert_eq!(
        s.upstream_header("x-tollgate-provider").as_deref(),
        Some("openai")
    );
    assert_eq!(s.upstream_header("x-tollgate-workflow"), None);
    assert_eq!(s.upstream_header("accept-encoding"), None);

    let action = s.receive(200, &[("content-type", "application/json")], OPENAI_ANSWER);
    assert_eq!(action, Action::Continue);
    assert_eq!(
        s.response_header("x-tollgate-lane").as_deref(),
        Some("openai-gpt4o-mini")
    );
    // gpt-4o-mini: 1000 × $0.15/M + 200 × $0.60/M = $0.00027.
    assert_eq!(
        s.response_header("x-tollgate-cost-usd").as_deref(),
        Some("0.00027")
    );
    s.finish();
    let events = plugin.queued_events();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        (e.team.as_str(), e.workflow.as_deref()),
        ("team_support", Some("ticket-summarise"))
    );
    assert_eq!(e.outcome, Outcome::Ok);
    assert_eq!(e.usage_source, UsageSource::Reported);
    assert_eq!((e.tokens.input, e.tokens.output), (1000, 200));
    assert_eq!(e.cost_nanos, 270_000);
}

#[test]
fn a_chat_request_on_an_anthropic_lane_is_translated_both_ways() {
    let mut config = seed_config();
    config["providers"]["targets"] = json!([config["providers"]["targets"][1]]);
    let mut plugin = Plugin::configure(&config);
    let mut s = plugin.stream(&refs(&chat_headers("kt_engineering")), CHAT);
    s.send_request();
    assert_eq!(s.local_reply(), None);
    assert_eq!(s.upstream_header(":path").as_deref(), Some("/v1/messages"));
    assert_eq!(
        s.upstream_header("x-api-key").as_deref(),
        Some("sk-ant-test")
    );
    assert_eq!(s.upstream_header("authorization"), None);
    let sent = s.upstream_body();
    assert_eq!(sent["model"], "claude-haiku-4-5");
    assert_eq!(sent["messages"][0]["content"][0]["text"], "hi");
    assert!(
        sent["max_tokens"].as_u64().is_some(),
        "Anthropic needs a limit"
    );

    let answer = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[{"type":"text","text":"hello"}],"stop_reason":"end_turn","usage":{"input_tokens":100,"output_tokens":10}}"#;
    s.receive(200, &[("content-type", "application/json")], answer);
    let client = s.response_body();
    assert_eq!(client["object"], "chat.completion");
    assert_eq!(client["choices"][0]["message"]["content"], "hello");
    assert_eq!(client["choices"][0]["finish_reason"], "stop");
    s.finish();
    let events = plugin.queued_events();
    assert_eq!(events[0].team, "team_engineering");
    assert_eq!((events[0].tokens.input, events[0].tokens.output), (100, 10));
}

#[test]
fn a_configuration_that_is_not_valid_json_is_refused_at_start() {
    let (ok, _) = Plugin::try_configure_raw(b"{not json".to_vec());
    assert!(!ok, "Envoy refuses the configuration: fail closed");
}
