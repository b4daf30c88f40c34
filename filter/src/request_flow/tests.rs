//! The request lifecycle on the fake host: what the client, the provider and the
//! ledger see for each way a request can go.

use proxy_wasm::types::Action;
use serde_json::json;
use tollgate_core::event::{Outcome, UsageSource};

use crate::fake_host;
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

/// The seed config with one Google lane of `provider` serving `model`.
fn google_lane(provider: &str, model: &str) -> serde_json::Value {
    let mut config = seed_config();
    let mut lane = json!({"id": "google", "provider": provider, "model": model,
        "secret_key_ref": {"env": "TOLLGATE_TEST_OPENAI_KEY"}});
    if provider == "vertex_ai" {
        lane["project"] = json!("acme-ml");
        lane["location"] = json!("us-central1");
    }
    config["providers"]["targets"] = json!([lane]);
    config
}

#[test]
fn a_chat_request_on_a_gemini_lane_goes_as_generate_content_with_googles_key_header() {
    let mut plugin = Plugin::configure(&google_lane("gemini", "gemini-2.5-flash"));
    let mut s = plugin.stream(&refs(&chat_headers("kt_engineering")), CHAT);
    s.send_request();
    assert_eq!(s.local_reply(), None);
    assert_eq!(
        s.upstream_header(":path").as_deref(),
        Some("/v1beta/models/gemini-2.5-flash:generateContent")
    );
    assert_eq!(
        s.upstream_header(":authority").as_deref(),
        Some("generativelanguage.googleapis.com")
    );
    assert_eq!(
        s.upstream_header("x-goog-api-key").as_deref(),
        Some("sk-openai-test")
    );
    assert_eq!(
        s.upstream_header("authorization"),
        None,
        "the team key stays"
    );
    assert_eq!(
        s.upstream_body(),
        json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    );

    let answer = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"hello"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1000,"candidatesTokenCount":150,"cachedContentTokenCount":400,"thoughtsTokenCount":50,"totalTokenCount":1200},"modelVersion":"gemini-2.5-flash","responseId":"r1"}"#;
    s.receive(200, &[("content-type", "application/json")], answer);
    let client = s.response_body();
    assert_eq!(client["object"], "chat.completion");
    assert_eq!(client["choices"][0]["message"]["content"], "hello");
    assert_eq!(client["usage"]["completion_tokens"], 200);
    s.finish();
    let events = plugin.queued_events();
    let t = events[0].tokens;
    assert_eq!((t.input, t.cached_input, t.output), (600, 400, 200));
    assert_eq!(events[0].provider.as_deref(), Some("gemini"));
    // gemini-2.5-flash: 600 × $0.30/M + 400 × $0.03/M + 200 × $2.50/M = $0.000692.
    assert_eq!(events[0].cost_nanos, 692_000);
}

#[test]
fn an_embeddings_request_on_a_gemini_lane_goes_as_batch_embed_contents_and_is_estimated() {
    let mut config = google_lane("gemini", "gemini-embedding-001");
    config["providers"]["targets"][0]["mode"] = json!("embedding");
    let mut plugin = Plugin::configure(&config);
    let mut headers = chat_headers("kt_engineering");
    headers[1] = (":path", "/v1/embeddings".into());
    let mut s = plugin.stream(
        &refs(&headers),
        r#"{"model":"gemini-embedding-001","input":"twelve chars"}"#,
    );
    s.send_request();
    assert_eq!(s.local_reply(), None);
    assert_eq!(
        s.upstream_header(":path").as_deref(),
        Some("/v1beta/models/gemini-embedding-001:batchEmbedContents")
    );
    assert_eq!(
        s.upstream_body()["requests"][0]["content"]["parts"][0]["text"],
        "twelve chars"
    );
    s.receive(
        200,
        &[("content-type", "application/json")],
        r#"{"embeddings":[{"values":[0.5,-0.25]}]}"#,
    );
    let client = s.response_body();
    assert_eq!(client["data"][0]["embedding"], json!([0.5, -0.25]));
    s.finish();
    let events = plugin.queued_events();
    assert_eq!(events[0].usage_source, UsageSource::Estimated);
    // "twelve chars": 12 characters, 3 tokens; an embedding answer has no output.
    assert_eq!((events[0].tokens.input, events[0].tokens.output), (3, 0));
    // 3 × $0.15/M.
    assert_eq!(events[0].cost_nanos, 450);
}

#[test]
fn a_messages_stream_on_a_vertex_lane_is_translated_event_by_event() {
    let mut plugin = Plugin::configure(&google_lane("vertex_ai", "gemini-2.5-pro"));
    let mut s = plugin.stream(
        &[
            (":method", "POST"),
            (":path", "/v1/messages"),
            ("x-api-key", "kt_engineering"),
            ("anthropic-version", "2023-06-01"),
        ],
        r#"{"model":"gemini-2.5-pro","max_tokens":20,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
    );
    s.send_request();
    assert_eq!(
        s.upstream_header(":path").as_deref(),
        Some("/v1/projects/acme-ml/locations/us-central1/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse")
    );
    assert_eq!(
        s.upstream_header(":authority").as_deref(),
        Some("us-central1-aiplatform.googleapis.com")
    );
    assert_eq!(
        s.upstream_header("authorization").as_deref(),
        Some("Bearer sk-openai-test")
    );
    assert_eq!(s.upstream_header("x-api-key"), None, "the team key stays");
    let client = s.receive_stream(
        200,
        &[
            "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"hel\"}]}}],\"usageMetadata\":{\"promptTokenCount\":10,\"candidatesTokenCount\":1},\"responseId\":\"r\"}\r\n\r\n",
            "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"lo\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":10,\"candidatesTokenCount\":2,\"thoughtsTokenCount\":30}}\r\n\r\n",
        ],
    );
    let client = String::from_utf8(client).unwrap();
    assert!(client.starts_with("event: message_start\n"), "{client}");
    assert!(client.contains("\"text\":\"hel\"") && client.contains("\"text\":\"lo\""));
    assert!(client.contains("\"stop_reason\":\"end_turn\""));
    assert!(
        client.trim_end().ends_with("{\"type\":\"message_stop\"}"),
        "{client}"
    );
    s.finish();
    let events = plugin.queued_events();
    assert_eq!((events[0].tokens.input, events[0].tokens.output), (10, 32));
    assert_eq!(events[0].usage_source, UsageSource::Reported);
    assert_eq!(events[0].provider.as_deref(), Some("vertex_ai"));
}

#[test]
fn a_configuration_that_is_not_valid_json_is_refused_at_start() {
    let (ok, _) = Plugin::try_configure_raw(b"{not json".to_vec());
    assert!(!ok, "Envoy refuses the configuration: fail closed");
}

fn two_lanes_in_order() -> serde_json::Value {
    let mut config = seed_config();
    // The client's model may be served by either lane: the OpenAI one first.
    config["providers"]["routing"] = json!({"strategy": "priority",
        "aliases": {"gpt-4o-mini": ["openai-gpt4o-mini", "anthropic-haiku"]}});
    config
}

#[test]
fn a_failing_lane_falls_back_to_the_next_and_the_client_sees_only_the_answer() {
    let mut plugin = Plugin::configure(&two_lanes_in_order());
    let mut s = plugin.stream(&refs(&chat_headers("kt_support")), CHAT);
    s.send_request();
    assert_eq!(
        s.upstream_header("x-tollgate-provider").as_deref(),
        Some("openai")
    );
    // The first lane fails: its answer is held back and the next lane is called.
    let held = s.receive(
        503,
        &[("content-type", "application/json")],
        r#"{"error":{"message":"overloaded","type":"server_error"}}"#,
    );
    assert_eq!(held, Action::Pause);
    let calls = s.http_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].upstream, "provider_anthropic");
    let sent: serde_json::Value = serde_json::from_slice(&calls[0].body).unwrap();
    assert_eq!(
        sent["model"], "claude-haiku-4-5",
        "translated for the Anthropic lane"
    );
    let answer = r#"{"id":"msg_2","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[{"type":"text","text":"fine"}],"stop_reason":"end_turn","usage":{"input_tokens":1000,"output_tokens":100}}"#;
    s.answer_call(
        calls[0].token,
        200,
        &[("content-type", "application/json")],
        answer,
    );
    assert!(s.resumed(proxy_wasm::types::StreamType::HttpResponse));
    assert_eq!(s.response_header(":status").as_deref(), Some("200"));
    assert_eq!(
        s.response_header("x-tollgate-lane").as_deref(),
        Some("anthropic-haiku")
    );
    let client = s.response_body();
    assert_eq!(client["choices"][0]["message"]["content"], "fine");
    s.finish();
    let events = plugin.queued_events();
    assert_eq!(
        events.len(),
        2,
        "the failed attempt and the answer: {events:?}"
    );
    let failed = events
        .iter()
        .find(|e| e.http_status == 503)
        .expect("the failed attempt");
    assert_eq!(
        (failed.lane.as_deref(), failed.cost_nanos),
        (Some("openai-gpt4o-mini"), 0)
    );
    let served = events
        .iter()
        .find(|e| e.http_status == 200)
        .expect("the answer");
    assert_eq!(served.lane.as_deref(), Some("anthropic-haiku"));
    // claude-haiku-4-5: 1000 × $1/M + 100 × $5/M = $0.0015.
    assert_eq!(served.cost_nanos, 1_500_000);
}

fn enforced() -> serde_json::Value {
    let mut config = seed_config();
    config["providers"]["targets"] = json!([config["providers"]["targets"][0]]);
    config["cost_tracking"]["wallet_enforcement"] = json!(true);
    config
}

#[test]
fn with_wallet_enforcement_credit_is_leased_before_the_request_goes_upstream() {
    let mut plugin = Plugin::configure(&enforced());
    let mut s = plugin.stream(&refs(&chat_headers("kt_support")), CHAT);
    let (_, body) = s.send_request();
    assert_eq!(body, Action::Pause, "waiting for the ledger");
    let calls = s.http_calls();
    assert_eq!(calls.len(), 1);
    assert!(proxy_wasm_path(&calls[0]).ends_with("/v1/leases"));
    assert_eq!(
        tollgate_core::headers::find(&calls[0].headers, "authorization"),
        Some(format!("Bearer {}", crate::test_plugin::LEDGER_TOKEN).as_str()),
        "the data plane's token from the environment"
    );
    let asked: serde_json::Value = serde_json::from_slice(&calls[0].body).unwrap();
    assert_eq!(asked["team"], "team_support");
    assert!(asked["want_nanos"].as_i64().unwrap() > 0);
    let grant = json!({"lease_id": 7, "granted_nanos": 5_000_000_000i64,
        "expires_ms": crate::test_plugin::NOW_MS as i64 + 30_000,
        "wallet_available_nanos": 95_000_000_000i64});
    s.answer_call(calls[0].token, 200, &[], &grant.to_string());
    assert!(s.resumed(proxy_wasm::types::StreamType::HttpRequest));
    assert_eq!(s.local_reply(), None);
    assert_eq!(
        s.upstream_header("authorization").as_deref(),
        Some("Bearer sk-openai-test")
    );
    s.receive(200, &[("content-type", "application/json")], OPENAI_ANSWER);
    s.finish();
    let events = plugin.queued_events();
    assert_eq!(
        events[0].lease_id,
        Some(7),
        "the spend is charged to the lease"
    );
}

#[test]
fn an_exhausted_wallet_is_refused_with_402_before_any_provider_call() {
    let mut plugin = Plugin::configure(&enforced());
    let mut s = plugin.stream(&refs(&chat_headers("kt_support")), CHAT);
    s.send_request();
    let token = s.http_calls()[0].token;
    let nothing = json!({"lease_id": 8, "granted_nanos": 0,
        "expires_ms": crate::test_plugin::NOW_MS as i64 + 30_000, "wallet_available_nanos": 0});
    s.answer_call(token, 200, &[], &nothing.to_string());
    let reply = s.local_reply().expect("refused locally");
    assert_eq!(reply.status, 402);
    let body = reply_json(&reply);
    assert_eq!(body["error"]["type"], "insufficient_quota");
    assert_eq!(body["error"]["code"], "wallet_exhausted");
    assert_eq!(
        s.upstream_header("authorization").as_deref(),
        Some("Bearer kt_support"),
        "nothing was rewritten or sent"
    );
    s.finish();
    let events = plugin.queued_events();
    assert_eq!(events[0].outcome, Outcome::Refused);
    assert_eq!(events[0].reason.as_deref(), Some("wallet_exhausted"));
}

#[test]
fn an_unreachable_ledger_fails_closed_by_default() {
    let plugin = Plugin::configure(&enforced());
    let mut s = plugin.stream(&refs(&chat_headers("kt_support")), CHAT);
    s.send_request();
    let token = s.http_calls()[0].token;
    s.answer_call(token, 504, &[], "");
    assert_eq!(s.local_reply().expect("refused").status, 503);
}

fn proxy_wasm_path(call: &crate::fake_host::HttpCall) -> String {
    tollgate_core::headers::find(&call.headers, ":path")
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_stream_whose_client_did_not_ask_for_usage_gets_none_but_is_priced_from_it() {
    let mut config = seed_config();
    config["providers"]["targets"] = json!([config["providers"]["targets"][0]]);
    let mut plugin = Plugin::configure(&config);
    let body =
        r#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let mut s = plugin.stream(&refs(&chat_headers("kt_support")), body);
    s.send_request();
    // Tollgate asks for usage on the client's behalf.
    assert_eq!(s.upstream_body()["stream_options"]["include_usage"], true);
    let chunk = |content: &str| {
        format!(
        "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}},\"finish_reason\":null}}]}}\n\n")
    };
    let usage = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":2,\"total_tokens\":12}}\n\n";
    let (a, b) = (chunk("he"), chunk("llo"));
    // The usage chunk split across two reads, as Envoy may deliver it.
    let (u1, u2) = usage.split_at(40);
    let client = s.receive_stream(200, &[&a, &b, u1, u2, "data: [DONE]\n\n"]);
    let client = String::from_utf8(client).unwrap();
    assert!(client.contains("\"he\"") && client.contains("\"llo\""));
    assert!(
        !client.contains("\"usage\""),
        "the usage chunk the client did not ask for is removed: {client}"
    );
    assert!(client.ends_with("data: [DONE]\n\n"));
    s.finish();
    let events = plugin.queued_events();
    assert_eq!((events[0].tokens.input, events[0].tokens.output), (10, 2));
    assert_eq!(events[0].usage_source, UsageSource::Reported);
    assert!(events[0].stream);
}

const STREAM_CHUNKS: [&str; 3] = [
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hello\"},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":2,\"total_tokens\":12}}\n\n",
    "data: [DONE]\n\n",
];

fn chat_stream_body(include_usage: Option<bool>) -> String {
    let mut body = json!({"model": "gpt-4o-mini", "stream": true,
        "messages": [{"role": "user", "content": "hi"}]});
    if let Some(asked) = include_usage {
        body["stream_options"] = json!({"include_usage": asked});
    }
    body.to_string()
}

#[test]
fn a_cached_stream_carries_the_usage_chunk_only_to_clients_that_asked_for_it() {
    let mut config = seed_config();
    config["providers"]["targets"] = json!([config["providers"]["targets"][0]]);
    config["cache"] = json!({"enabled": true, "ttl_seconds": 600, "max_entries": 100});
    let mut plugin = Plugin::configure(&config);
    // The miss: the client did not ask, the lane was asked, the answer is stored.
    let mut s = plugin.stream(&refs(&chat_headers("kt_support")), &chat_stream_body(None));
    s.send_request();
    assert_eq!(s.upstream_body()["stream_options"]["include_usage"], true);
    let client = String::from_utf8(s.receive_stream(200, &STREAM_CHUNKS)).unwrap();
    assert!(!client.contains("\"usage\""), "{client}");
    s.finish();
    let hit = |include_usage: Option<bool>| {
        let mut s = plugin.stream(
            &refs(&chat_headers("kt_support")),
            &chat_stream_body(include_usage),
        );
        s.send_request();
        let reply = s.local_reply().expect("answered from the cache");
        assert_eq!(reply.status, 200);
        s.finish();
        String::from_utf8(reply.body).unwrap()
    };
    for unasked in [None, Some(false)] {
        let replay = hit(unasked);
        assert!(
            replay.contains("\"hello\"") && replay.ends_with("data: [DONE]\n\n"),
            "{replay}"
        );
        assert!(!replay.contains("\"usage\""), "{replay}");
    }
    let replay = hit(Some(true));
    assert!(replay.contains("\"choices\":[],\"usage\":{\"prompt_tokens\":10"));
    assert_eq!(replay, STREAM_CHUNKS.concat());
    let events = plugin.queued_events();
    use tollgate_core::event::CacheStatus::{Hit, Miss};
    let caches: Vec<_> = events.iter().map(|e| e.cache).collect();
    assert_eq!(caches, vec![Miss, Hit, Hit, Hit]);
    // gpt-4o-mini: 10 × $0.15/M + 2 × $0.60/M.
    assert_eq!(events[0].cost_nanos, 2_700);
    assert!(events[1..].iter().all(|e| e.cost_avoided_nanos == 2_700));
}

#[test]
fn a_fallback_lanes_stream_drops_the_usage_chunk_the_client_did_not_ask_for() {
    stream_from_a_fallback_lane("openai", None);
}

#[test]
fn a_fallback_lanes_stream_keeps_the_usage_chunk_the_client_asked_for() {
    stream_from_a_fallback_lane("openai", Some(true));
}

#[test]
fn a_translated_fallback_lanes_stream_has_no_usage_chunk_the_client_did_not_ask_for() {
    stream_from_a_fallback_lane("anthropic", None);
}

/// A chat stream whose first lane fails and whose `backup` lane streams the answer;
/// the client asked for usage or not (`include_usage`).
fn stream_from_a_fallback_lane(backup: &str, include_usage: Option<bool>) {
    let mut config = seed_config();
    let openai = config["providers"]["targets"][0].clone();
    let mut second = openai.clone();
    if backup == "anthropic" {
        second = config["providers"]["targets"][1].clone();
    }
    second["id"] = json!("backup");
    config["providers"]["targets"] = json!([openai, second]);
    config["providers"]["routing"] = json!({"strategy": "priority",
            "aliases": {"gpt-4o-mini": ["openai-gpt4o-mini", "backup"]}});
    let mut plugin = Plugin::configure(&config);
    let mut s = plugin.stream(
        &refs(&chat_headers("kt_support")),
        &chat_stream_body(include_usage),
    );
    s.send_request();
    let held = s.receive(
        503,
        &[("content-type", "application/json")],
        r#"{"error":{"message":"overloaded","type":"server_error"}}"#,
    );
    assert_eq!(held, Action::Pause);
    let call = s.http_calls()[0].clone();
    let sent: serde_json::Value = serde_json::from_slice(&call.body).unwrap();
    let answer = if backup == "openai" {
        assert_eq!(sent["stream_options"]["include_usage"], true);
        STREAM_CHUNKS.concat()
    } else {
        concat!(
                "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-haiku-4-5\",\"content\":[],\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n",
                "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hello\"}}\n\n",
                "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
                "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n",
                "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
            )
            .to_string()
    };
    s.answer_call(
        call.token,
        200,
        &[("content-type", "text/event-stream")],
        &answer,
    );
    let client = fake_host::with(|h| String::from_utf8(h.response_body.clone()).unwrap());
    assert!(client.contains("hello"), "{backup}: {client}");
    assert_eq!(
        client.contains("\"usage\":{"),
        include_usage == Some(true),
        "{backup} {include_usage:?}: {client}"
    );
    assert_eq!(
        s.response_header("content-length"),
        Some(client.len().to_string())
    );
    s.finish();
    let events = plugin.queued_events();
    let served = events.iter().find(|e| e.http_status == 200).unwrap();
    assert_eq!((served.tokens.input, served.tokens.output), (10, 2));
    assert_eq!(served.usage_source, UsageSource::Reported);
}

#[test]
fn a_lease_answer_after_the_client_left_installs_the_grant_reserves_nothing_and_idles_out() {
    let mut plugin = Plugin::configure(&enforced());
    let mut s = plugin.stream(&refs(&chat_headers("kt_support")), CHAT);
    s.send_request();
    let token = s.http_calls()[0].token;
    // The client goes away while the lease call is out; Envoy logs the stream, then
    // delivers the callout's answer before destroying the context.
    s.flow.on_log();
    let grant = json!({"lease_id": 9, "granted_nanos": 1_000_000_000,
        "expires_ms": crate::test_plugin::NOW_MS as i64 + 30_000,
        "wallet_available_nanos": 99_000_000});
    s.answer_call(token, 200, &[], &grant.to_string());
    assert!(!s.resumed(proxy_wasm::types::StreamType::HttpRequest));
    // Idle (not yet ended): it closes only if nothing was reserved on it.
    plugin.advance_ms(tollgate_core::lease::IDLE_CLOSE_MS as u64);
    let closed: Vec<_> = plugin
        .queued_records()
        .into_iter()
        .filter_map(|r| r.get("lease_closed").cloned())
        .collect();
    assert_eq!(plugin.metric("tollgate.leases_opened"), Some(1));
    assert_eq!(
        plugin.metric("tollgate.leases_closed"),
        Some(1),
        "closed when idle"
    );
    assert_eq!(closed.len(), 1);
    assert_eq!(
        closed[0]["unused_nanos"], 1_000_000_000,
        "the whole grant handed back"
    );
}

#[test]
fn an_idle_lease_is_closed_and_its_unused_credit_reported_behind_its_events() {
    let mut plugin = Plugin::configure(&enforced());
    let mut s = plugin.stream(&refs(&chat_headers("kt_support")), CHAT);
    s.send_request();
    let token = s.http_calls()[0].token;
    let grant = json!({"lease_id": 9, "granted_nanos": 1_000_000_000,
        "expires_ms": crate::test_plugin::NOW_MS as i64 + 30_000,
        "wallet_available_nanos": 99_000_000});
    s.answer_call(token, 200, &[], &grant.to_string());
    s.receive(200, &[("content-type", "application/json")], OPENAI_ANSWER);
    s.finish();
    // Used a moment ago: still open.
    let records = plugin.queued_records();
    assert!(
        records.iter().all(|r| r.get("lease_closed").is_none()),
        "{records:?}"
    );
    assert_eq!(plugin.metric("tollgate.leases_opened"), Some(1));
    // Idle long enough: closed, with what was never reserved.
    plugin.advance_ms(tollgate_core::lease::IDLE_CLOSE_MS as u64);
    let records = plugin.queued_records();
    let closed: Vec<_> = records
        .iter()
        .filter_map(|r| r.get("lease_closed"))
        .collect();
    assert_eq!(closed.len(), 1, "{records:?}");
    assert_eq!(closed[0]["lease_id"], 9);
    assert_eq!(closed[0]["team"], "team_support");
    // $1 granted, $0.00027 spent by the request.
    assert_eq!(closed[0]["unused_nanos"], 1_000_000_000 - 270_000);
    assert_eq!(plugin.metric("tollgate.leases_closed"), Some(1));
    // Closed once: the next tick reports nothing more, and the next request asks the
    // ledger for a new lease.
    plugin.advance_ms(60_000);
    let all = plugin.queued_records();
    assert_eq!(
        all.iter()
            .filter(|r| r.get("lease_closed").is_some())
            .count(),
        1
    );
    assert_eq!(plugin.metric("tollgate.leases_closed"), Some(1));
    let mut next = plugin.stream(&refs(&chat_headers("kt_support")), CHAT);
    let (_, body) = next.send_request();
    assert_eq!(body, Action::Pause, "waiting for a new lease");
}

#[test]
fn models_are_listed_from_the_configuration_in_each_providers_shape_and_cost_nothing() {
    let mut plugin = Plugin::configure(&seed_config());
    let get = |path: &'static str, key: (&'static str, &'static str)| {
        vec![
            (":method", "GET"),
            (":path", path),
            (":authority", "tollgate"),
            key,
        ]
    };
    let mut s = plugin.stream(
        &get("/v1/models", ("authorization", "Bearer kt_support")),
        "",
    );
    s.send_request();
    let reply = s.local_reply().expect("answered by the filter");
    assert_eq!(reply.status, 200);
    let list = reply_json(&reply);
    assert_eq!(list["object"], "list");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"gpt-4o-mini"), "{list}");
    s.finish();
    // Anthropic's shape for an Anthropic client (its SDK sends its API version).
    let mut headers = get("/v1/models", ("authorization", "Bearer kt_support"));
    headers.push(("anthropic-version", "2023-06-01"));
    let mut s = plugin.stream(&headers, "");
    s.send_request();
    let list = reply_json(&s.local_reply().unwrap());
    assert_eq!(
        (list["has_more"].clone(), list["data"][0]["type"].clone()),
        (json!(false), json!("model"))
    );
    s.finish();
    // One model, and one this key may not use.
    let mut s = plugin.stream(
        &get(
            "/v1/models/gpt-4o-mini",
            ("authorization", "Bearer kt_support"),
        ),
        "",
    );
    s.send_request();
    assert_eq!(reply_json(&s.local_reply().unwrap())["id"], "gpt-4o-mini");
    s.finish();
    let mut s = plugin.stream(
        &get("/v1/models/gpt-9", ("authorization", "Bearer kt_support")),
        "",
    );
    s.send_request();
    let reply = s.local_reply().unwrap();
    assert_eq!(reply.status, 404);
    assert_eq!(reply_json(&reply)["error"]["code"], "model_not_found");
    s.finish();
    // An unknown key learns nothing.
    let mut s = plugin.stream(&get("/v1/models", ("authorization", "Bearer nope")), "");
    s.send_request();
    assert_eq!(s.local_reply().unwrap().status, 401);
    s.finish();
    assert_eq!(
        plugin.queued_events(),
        vec![],
        "listing models is not a charge"
    );
}

#[test]
fn the_requested_service_tier_prices_an_answer_that_does_not_report_one() {
    let mut config = seed_config();
    config["providers"]["targets"] = json!([config["providers"]["targets"][0]]);
    let mut plugin = Plugin::configure(&config);
    let body = r#"{"model":"gpt-4o-mini","service_tier":"priority","messages":[{"role":"user","content":"hi"}]}"#;
    let mut s = plugin.stream(&refs(&chat_headers("kt_support")), body);
    s.send_request();
    assert_eq!(
        s.upstream_body()["service_tier"],
        "priority",
        "sent as asked"
    );
    s.receive(200, &[("content-type", "application/json")], OPENAI_ANSWER);
    // gpt-4o-mini priority: 1000 × $0.25/M + 200 × $1.00/M = $0.00045.
    assert_eq!(
        s.response_header("x-tollgate-cost-usd").as_deref(),
        Some("0.00045")
    );
    s.finish();
    let e = &plugin.queued_events()[0];
    assert_eq!(e.service_tier.as_deref(), Some("priority"));
    assert_eq!(
        e.priced_by.as_deref(),
        Some("gpt-4o-mini:2024-07-18@priority")
    );
    assert_eq!(e.cost_nanos, 450_000);
}

#[test]
fn a_stream_cut_before_its_usage_is_estimated_from_the_text_delivered() {
    let mut config = seed_config();
    config["providers"]["targets"] = json!([config["providers"]["targets"][1]]);
    let mut plugin = Plugin::configure(&config);
    let headers = [
        (":method", "POST"),
        (":path", "/v1/messages"),
        (":authority", "tollgate"),
        ("content-type", "application/json"),
        ("x-api-key", "kt_support"),
        ("anthropic-version", "2023-06-01"),
    ];
    let body = r#"{"model":"claude-haiku-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let mut s = plugin.stream(&headers, body);
    s.send_request();
    let start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-haiku-4-5\",\"content\":[],\"usage\":{\"input_tokens\":40,\"output_tokens\":1}}}\n\n";
    let delta = |text: &str| {
        format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{text}\"}}}}\n\n")
    };
    // 70 characters of text in two deltas; the connection breaks before message_delta.
    let (d1, d2) = (delta(&"a".repeat(30)), delta(&"b".repeat(40)));
    fake_host::with(|h| {
        h.response_headers = vec![
            (":status".to_string(), "200".to_string()),
            ("content-type".to_string(), "text/event-stream".to_string()),
        ];
    });
    s.flow.on_http_response_headers(0, false);
    for chunk in [start, d1.as_str(), d2.as_str()] {
        fake_host::with(|h| h.response_body = chunk.as_bytes().to_vec());
        s.flow.on_http_response_body(chunk.len(), false);
    }
    s.finish();
    let e = &plugin.queued_events()[0];
    assert_eq!(e.outcome, Outcome::Incomplete);
    assert_eq!(e.usage_source, UsageSource::Estimated);
    // Input as reported; output 70 × 2 / 7 = 20 tokens (not the placeholder 1, not the
    // ~500 bytes of SSE envelope / 4).
    assert_eq!((e.tokens.input, e.tokens.output), (40, 20));
    // claude-haiku-4-5: 40 × $1/M + 20 × $5/M.
    assert_eq!(e.cost_nanos, 40_000 + 100_000);
}

#[test]
fn an_answer_without_usage_is_priced_from_the_prompt_in_its_header_and_its_event_alike() {
    let mut config = seed_config();
    config["providers"]["targets"] = json!([config["providers"]["targets"][0]]);
    let mut plugin = Plugin::configure(&config);
    let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Summarise the ticket about the drifting sensor readings, please."}]}"#;
    let mut s = plugin.stream(&refs(&chat_headers("kt_support")), body);
    s.send_request();
    let answer = r#"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"done"},"finish_reason":"stop"}]}"#;
    s.receive(200, &[("content-type", "application/json")], answer);
    let header = s
        .response_header("x-tollgate-cost-usd")
        .expect("a cost header");
    s.finish();
    let events = plugin.queued_events();
    let e = &events[0];
    assert_eq!(e.usage_source, UsageSource::Estimated);
    // The prompt's 67 characters weigh about 17 tokens; none of the JSON around them.
    assert!((10..30).contains(&e.tokens.input), "{:?}", e.tokens);
    assert!(e.cost_nanos > 0);
    assert_eq!(header, tollgate_core::money::format_usd(e.cost_nanos));
}

/// A body the filter's first pass accepts but a full JSON parse refuses (a number out of
/// range): what the provider makes of it is the provider's answer.
const OUT_OF_RANGE: &str =
    r#"{"model":"gpt-4o-mini","temperature":1e400,"messages":[{"role":"user","content":"hi"}]}"#;

fn one_lane(cache: bool) -> serde_json::Value {
    let mut config = seed_config();
    config["providers"]["targets"] = json!([config["providers"]["targets"][0]]);
    config["cache"] = json!({ "enabled": cache });
    config
}

#[test]
fn a_body_sent_on_as_it_is_is_never_built_as_an_object() {
    let plugin = Plugin::configure(&one_lane(false));
    let mut s = plugin.stream(&refs(&chat_headers("kt_support")), OUT_OF_RANGE);
    assert_eq!(s.send_request(), (Action::Pause, Action::Continue));
    assert_eq!(s.local_reply(), None);
    let sent = fake_host::with(|h| h.request_body.clone());
    assert_eq!(sent, OUT_OF_RANGE.as_bytes());
}

#[test]
fn a_body_the_cache_cannot_key_is_refused_as_bad_json() {
    let plugin = Plugin::configure(&one_lane(true));
    let mut s = plugin.stream(&refs(&chat_headers("kt_support")), OUT_OF_RANGE);
    s.send_request();
    let reply = s.local_reply().expect("refused");
    assert_eq!(reply.status, 400);
    let message = reply_json(&reply)["error"]["message"].clone();
    assert!(
        message.as_str().unwrap().contains("not valid JSON"),
        "{message}"
    );
}
