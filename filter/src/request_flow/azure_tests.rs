//! Azure OpenAI lanes on the fake host: the deployment path and credential header,
//! Azure's answers (prompt filter results, content filter refusals) for OpenAI and
//! Anthropic clients, and which failures fall back to another lane.

use proxy_wasm::types::Action;
use serde_json::{json, Value};
use tollgate_core::event::{Outcome, UsageSource};

use crate::fake_host;
use crate::test_plugin::{seed_config, Plugin};

fn headers(path: &str, anthropic: bool) -> Vec<(&'static str, String)> {
    let mut h = vec![
        (":method", "POST".into()),
        (":path", path.into()),
        (":authority", "tollgate".into()),
        ("content-type", "application/json".into()),
    ];
    if anthropic {
        h.push(("x-api-key", "kt_support".into()));
        h.push(("anthropic-version", "2023-06-01".into()));
    } else {
        h.push(("authorization", "Bearer kt_support".into()));
    }
    h
}

fn refs<'a>(h: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    h.iter().map(|(n, v)| (*n, v.as_str())).collect()
}

fn azure_lane(id: &str, mode: &str, deployment: &str, auth: &str) -> Value {
    json!({"id": id, "provider": "azure_openai",
        "model": if mode == "embedding" { "text-embedding-3-small" } else { "gpt-4o-mini" },
        "mode": mode, "base_url": "https://myres.openai.azure.com",
        "deployment": deployment, "api_version": "2024-10-21", "auth": auth,
        "secret_key_ref": {"env": "TOLLGATE_TEST_OPENAI_KEY"}})
}

/// An Azure chat lane first, the seed's OpenAI lane as its fallback.
fn config() -> Value {
    let mut config = seed_config();
    let openai = config["providers"]["targets"][0].clone();
    config["providers"]["targets"] = json!([
        azure_lane("azure-mini", "chat", "mini-prod", "api_key"),
        openai,
        azure_lane("azure-embed", "embedding", "embed-prod", "entra"),
    ]);
    config["providers"]["routing"] = json!({"strategy": "priority",
        "aliases": {"gpt-4o-mini": ["azure-mini", "openai-gpt4o-mini"]}});
    config
}

const CHAT: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;
const MESSAGES: &str = r#"{"model":"gpt-4o-mini","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;

const ANSWER: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-mini-2024-07-18",
    "prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}],
    "choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"hello"},
      "content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}],
    "usage":{"prompt_tokens":1000,"completion_tokens":100,"total_tokens":1100}}"#;

const REFUSAL: &str = r#"{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"violence":{"filtered":true,"severity":"medium"}}}}}"#;

#[test]
fn a_chat_request_goes_to_the_deployment_with_the_api_key_and_is_priced_as_the_model() {
    let mut plugin = Plugin::configure(&config());
    let h = headers("/v1/chat/completions", false);
    let mut s = plugin.stream(&refs(&h), CHAT);
    assert_eq!(s.send_request(), (Action::Pause, Action::Continue));
    assert_eq!(
        s.upstream_header(":path").as_deref(),
        Some("/openai/deployments/mini-prod/chat/completions?api-version=2024-10-21")
    );
    assert_eq!(
        s.upstream_header(":authority").as_deref(),
        Some("myres.openai.azure.com")
    );
    assert_eq!(
        s.upstream_header("x-tollgate-provider").as_deref(),
        Some("lane_azure-mini")
    );
    assert_eq!(
        s.upstream_header("api-key").as_deref(),
        Some("sk-openai-test")
    );
    assert_eq!(s.upstream_header("authorization"), None, "no client key");
    s.receive(200, &[("content-type", "application/json")], ANSWER);
    assert_eq!(
        s.response_body()["prompt_filter_results"][0]["prompt_index"],
        0
    );
    s.finish();
    let e = &plugin.queued_events()[0];
    assert_eq!(e.provider.as_deref(), Some("azure_openai"));
    assert_eq!(e.lane.as_deref(), Some("azure-mini"));
    assert_eq!(e.model_served, "gpt-4o-mini-2024-07-18");
    assert_eq!((e.tokens.input, e.tokens.output), (1000, 100));
    // gpt-4o-mini: 1,000 × $0.15/M + 100 × $0.60/M.
    assert_eq!((e.cost_nanos, e.unpriced), (210_000, false));
}

#[test]
fn an_embedding_lane_with_entra_auth_sends_a_bearer_token_to_its_embeddings_path() {
    let mut plugin = Plugin::configure(&config());
    let h = headers("/v1/embeddings", false);
    let mut s = plugin.stream(
        &refs(&h),
        r#"{"model":"text-embedding-3-small","input":"alpha"}"#,
    );
    s.send_request();
    assert_eq!(
        s.upstream_header(":path").as_deref(),
        Some("/openai/deployments/embed-prod/embeddings?api-version=2024-10-21")
    );
    assert_eq!(
        s.upstream_header("authorization").as_deref(),
        Some("Bearer sk-openai-test")
    );
    assert_eq!(s.upstream_header("api-key"), None);
    s.receive(
        200,
        &[("content-type", "application/json")],
        r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":2000,"total_tokens":2000}}"#,
    );
    s.finish();
    let e = &plugin.queued_events()[0];
    assert_eq!(e.lane.as_deref(), Some("azure-embed"));
    // text-embedding-3-small: 2,000 × $0.02/M.
    assert_eq!((e.tokens.input, e.cost_nanos), (2000, 40_000));
}

#[test]
fn a_content_filter_refusal_reaches_an_openai_client_as_is_uncharged_and_without_fallback() {
    let mut plugin = Plugin::configure(&config());
    let h = headers("/v1/chat/completions", false);
    let mut s = plugin.stream(&refs(&h), CHAT);
    s.send_request();
    let action = s.receive(400, &[("content-type", "application/json")], REFUSAL);
    assert_eq!(action, Action::Continue);
    assert!(s.http_calls().is_empty(), "no other lane is tried");
    let body = s.response_body();
    assert_eq!(body["error"]["code"], "content_filter");
    assert_eq!(
        body["error"]["innererror"]["code"],
        "ResponsibleAIPolicyViolation"
    );
    s.finish();
    let events = plugin.queued_events();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!((e.outcome, e.http_status), (Outcome::ProviderError, 400));
    assert_eq!(e.reason.as_deref(), Some("content_filter"));
    assert_eq!((e.cost_nanos, e.tokens.total()), (0, 0));
    assert_eq!(e.usage_source, UsageSource::None);
}

#[test]
fn a_content_filter_refusal_reaches_an_anthropic_client_as_an_anthropic_error() {
    let mut plugin = Plugin::configure(&config());
    let h = headers("/v1/messages", true);
    let mut s = plugin.stream(&refs(&h), MESSAGES);
    s.send_request();
    assert_eq!(
        s.upstream_header(":path").as_deref(),
        Some("/openai/deployments/mini-prod/chat/completions?api-version=2024-10-21")
    );
    assert_eq!(s.upstream_body()["stream_options"]["include_usage"], true);
    s.receive(400, &[("content-type", "application/json")], REFUSAL);
    let body = s.response_body();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("content management policy"));
    s.finish();
    let e = &plugin.queued_events()[0];
    assert_eq!(e.reason.as_deref(), Some("content_filter"));
    assert_eq!(e.cost_nanos, 0);
}

#[test]
fn an_anthropic_stream_from_azure_starts_with_the_answer_not_the_prompt_filter_chunk() {
    let mut plugin = Plugin::configure(&config());
    let h = headers("/v1/messages", true);
    let mut s = plugin.stream(&refs(&h), MESSAGES);
    s.send_request();
    let client = s.receive_stream(
        200,
        &[
            "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{}}]}\n\n",
            "data: {\"id\":\"chatcmpl-7\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"hel\"},\"content_filter_results\":{}}],\"usage\":null}\n\n",
            "data: {\"id\":\"chatcmpl-7\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\",\"content_filter_results\":{}}],\"usage\":null}\n\n",
            "data: {\"id\":\"chatcmpl-7\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":2,\"total_tokens\":12}}\n\n",
            "data: [DONE]\n\n",
        ],
    );
    let client = String::from_utf8(client).unwrap();
    assert!(
        client.starts_with("event: message_start\ndata: {") && client.contains("\"id\":\"msg_7\""),
        "{client}"
    );
    assert!(!client.contains("prompt_filter_results"), "{client}");
    assert!(client.contains("\"text\":\"hel\"") && client.contains("\"text\":\"lo\""));
    assert!(client.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    s.finish();
    let e = &plugin.queued_events()[0];
    assert_eq!((e.tokens.input, e.tokens.output), (10, 2));
    assert_eq!(e.usage_source, UsageSource::Reported);
}

#[test]
fn an_azure_rate_limit_falls_back_to_the_openai_lane() {
    let mut plugin = Plugin::configure(&config());
    let h = headers("/v1/chat/completions", false);
    let mut s = plugin.stream(&refs(&h), CHAT);
    s.send_request();
    let held = s.receive(
        429,
        &[("content-type", "application/json")],
        r#"{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation have exceeded call rate limit."}}"#,
    );
    assert_eq!(held, Action::Pause);
    let call = s.http_calls()[0].clone();
    assert_eq!(call.upstream, "provider_openai");
    let sent: Vec<(String, String)> = call.headers.clone();
    let header = |n: &str| sent.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(header(":path").as_deref(), Some("/v1/chat/completions"));
    assert_eq!(
        header("authorization").as_deref(),
        Some("Bearer sk-openai-test")
    );
    assert_eq!(header("api-key"), None);
    s.answer_call(
        call.token,
        200,
        &[("content-type", "application/json")],
        r#"{"id":"c","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1000,"completion_tokens":100}}"#,
    );
    assert_eq!(
        s.response_header("x-tollgate-lane").as_deref(),
        Some("openai-gpt4o-mini")
    );
    assert!(fake_host::with(|h| !h.response_body.is_empty()));
    s.finish();
    let events = plugin.queued_events();
    let failed = events.iter().find(|e| e.http_status == 429).unwrap();
    assert_eq!(
        (failed.lane.as_deref(), failed.cost_nanos),
        (Some("azure-mini"), 0)
    );
    let served = events.iter().find(|e| e.http_status == 200).unwrap();
    assert_eq!(served.lane.as_deref(), Some("openai-gpt4o-mini"));
    assert_eq!(served.cost_nanos, 210_000);
}
