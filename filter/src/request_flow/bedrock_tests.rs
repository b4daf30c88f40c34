//! Bedrock lanes on the fake host: the request signed and sent to Converse, the answer
//! (JSON or event stream) translated for the client and priced.

use serde_json::json;
use tollgate_core::aws::event_stream::encode_event;
use tollgate_core::aws::sigv4;

use crate::test_plugin::{reply_json, seed_config, Plugin, NOW_MS};

const CHAT: &str = r#"{"model":"amazon.nova-lite-v1:0","max_tokens":40,"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}]}"#;

fn bedrock_config(secret_env: &str) -> serde_json::Value {
    std::env::set_var("TOLLGATE_TEST_AWS_KEY_ID", "AKIDTEST");
    std::env::set_var("TOLLGATE_TEST_AWS_SECRET", "test/secret");
    std::env::set_var("TOLLGATE_TEST_AWS_TOKEN", "session-token");
    let mut config = seed_config();
    config["providers"]["targets"] = json!([{
        "id": "nova", "provider": "bedrock", "model": "amazon.nova-lite-v1:0",
        "secret_key_ref": {"env": secret_env},
        "aws": {"region": "eu-west-3", "access_key_id_ref": {"env": "TOLLGATE_TEST_AWS_KEY_ID"},
                "session_token_ref": {"env": "TOLLGATE_TEST_AWS_TOKEN"}}
    }]);
    config
}

fn chat_headers() -> Vec<(&'static str, &'static str)> {
    vec![
        (":method", "POST"),
        (":path", "/v1/chat/completions"),
        (":authority", "tollgate"),
        ("content-type", "application/json"),
        ("authorization", "Bearer kt_support"),
    ]
}

#[test]
fn a_chat_request_on_a_bedrock_lane_is_signed_translated_and_priced() {
    let mut plugin = Plugin::configure(&bedrock_config("TOLLGATE_TEST_AWS_SECRET"));
    let mut s = plugin.stream(&chat_headers(), CHAT);
    s.send_request();
    assert_eq!(s.local_reply(), None);
    let path = "/model/amazon.nova-lite-v1%3A0/converse";
    assert_eq!(s.upstream_header(":path").as_deref(), Some(path));
    let authority = "bedrock-runtime.eu-west-3.amazonaws.com";
    assert_eq!(s.upstream_header(":authority").as_deref(), Some(authority));
    let body = s.upstream_body();
    assert_eq!(
        body,
        json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "system": [{"text": "Be brief."}], "inferenceConfig": {"maxTokens": 40}})
    );
    // The signature is the one AWS would compute for this request, at the host's time.
    let amz_date = sigv4::amz_date(NOW_MS as i64);
    assert_eq!(
        s.upstream_header("x-amz-date").as_deref(),
        Some(amz_date.as_str())
    );
    assert_eq!(
        s.upstream_header("x-amz-security-token").as_deref(),
        Some("session-token")
    );
    let expected = sigv4::sign(
        &sigv4::Credentials {
            access_key_id: "AKIDTEST".into(),
            secret_access_key: "test/secret".into(),
            session_token: Some("session-token".into()),
        },
        &sigv4::Scope {
            region: "eu-west-3",
            service: "bedrock",
            amz_date: &amz_date,
            content_sha256_header: true,
        },
        &sigv4::Request {
            method: "POST",
            path,
            query: "",
            headers: &[("host", authority)],
            payload: &serde_json::to_vec(&body).unwrap(),
        },
    );
    let auth = s.upstream_header("authorization").unwrap();
    assert_eq!(
        Some(&auth),
        expected
            .iter()
            .find(|(n, _)| *n == "authorization")
            .map(|(_, v)| v)
    );
    assert!(auth.contains("/eu-west-3/bedrock/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature="));
    assert!(!auth.contains("test/secret") && !auth.contains("kt_support"));
    assert_eq!(s.upstream_header("x-api-key"), None);
    assert_eq!(
        s.upstream_header("x-tollgate-provider").as_deref(),
        Some("lane_nova")
    );

    let answer = r#"{"output":{"message":{"role":"assistant","content":[{"text":"hello"}]}},"stopReason":"end_turn","usage":{"inputTokens":1000,"outputTokens":200,"totalTokens":1200},"metrics":{"latencyMs":50}}"#;
    s.receive(200, &[("content-type", "application/json")], answer);
    let client = s.response_body();
    assert_eq!(client["object"], "chat.completion");
    assert_eq!(client["model"], "amazon.nova-lite-v1:0");
    assert_eq!(client["choices"][0]["message"]["content"], "hello");
    assert_eq!(client["usage"]["prompt_tokens"], 1000);
    // Nova Lite: 1000 × $0.06/M + 200 × $0.24/M = $0.000108.
    assert_eq!(
        s.response_header("x-tollgate-cost-usd").as_deref(),
        Some("0.000108")
    );
    s.finish();
    let events = plugin.queued_events();
    assert_eq!(events[0].provider.as_deref(), Some("bedrock"));
    assert_eq!(events[0].model_served, "amazon.nova-lite-v1:0");
    assert_eq!(
        (events[0].tokens.input, events[0].tokens.output),
        (1000, 200)
    );
    assert_eq!(events[0].cost_nanos, 108_000);
}

#[test]
fn a_converse_stream_reaches_the_client_as_chat_chunks_and_is_priced() {
    let mut plugin = Plugin::configure(&bedrock_config("TOLLGATE_TEST_AWS_SECRET"));
    let body = r#"{"model":"amazon.nova-lite-v1:0","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#;
    let mut s = plugin.stream(&chat_headers(), body);
    s.send_request();
    assert_eq!(
        s.upstream_header(":path").as_deref(),
        Some("/model/amazon.nova-lite-v1%3A0/converse-stream")
    );
    let mut upstream = Vec::new();
    for (kind, payload) in [
        ("messageStart", json!({"role": "assistant"})),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "Hel"}}),
        ),
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "lo"}}),
        ),
        ("contentBlockStop", json!({"contentBlockIndex": 0})),
        ("messageStop", json!({"stopReason": "end_turn"})),
        (
            "metadata",
            json!({"usage": {"inputTokens": 50, "outputTokens": 2, "totalTokens": 1052,
            "cacheReadInputTokens": 1000}, "metrics": {"latencyMs": 5}}),
        ),
    ] {
        upstream.extend(encode_event(kind, payload.to_string().as_bytes()));
    }
    // Frames split across body chunks anywhere.
    let chunks: Vec<&[u8]> = upstream.chunks(37).collect();
    let client = s.receive_stream_of(200, "application/vnd.amazon.eventstream", &chunks);
    assert_eq!(
        s.response_header("content-type").as_deref(),
        Some("text/event-stream")
    );
    let text = String::from_utf8(client).unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let chunks: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let said: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(said, "Hello");
    assert_eq!(chunks.last().unwrap()["usage"]["prompt_tokens"], 1050);
    s.finish();
    let e = &plugin.queued_events()[0];
    assert_eq!(
        (e.tokens.input, e.tokens.cached_input, e.tokens.output),
        (50, 1000, 2)
    );
    // 50 × $0.06/M + 1000 × $0.015/M + 2 × $0.24/M
    assert_eq!(e.cost_nanos, 3_000 + 15_000 + 480);
}

#[test]
fn a_bedrock_error_reaches_an_openai_client_in_its_shape() {
    let mut plugin = Plugin::configure(&bedrock_config("TOLLGATE_TEST_AWS_SECRET"));
    let mut s = plugin.stream(&chat_headers(), CHAT);
    s.send_request();
    s.receive(
        429,
        &[
            ("content-type", "application/json"),
            (
                "x-amzn-errortype",
                "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
            ),
        ],
        r#"{"message":"Too many requests, please wait before trying again."}"#,
    );
    let client = s.response_body();
    assert_eq!(client["error"]["type"], "rate_limit_error");
    assert_eq!(client["error"]["code"], "rate_limit_exceeded");
    s.finish();
    assert_eq!(plugin.queued_events()[0].http_status, 429);
}

#[test]
fn a_bedrock_lane_without_its_credentials_is_refused_without_naming_them() {
    let plugin = Plugin::configure(&bedrock_config("TOLLGATE_TEST_AWS_UNSET_SECRET"));
    let mut s = plugin.stream(&chat_headers(), CHAT);
    s.send_request();
    let reply = s.local_reply().expect("refused locally");
    assert_eq!(reply.status, 500);
    let message = reply_json(&reply)["error"]["message"].to_string();
    assert!(message.contains("nova") && !message.contains("test/secret"));
}
