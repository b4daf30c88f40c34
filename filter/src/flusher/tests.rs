//! The flusher on the fake host: batching workers' events and resending until the
//! ledger acknowledges them.

use proxy_wasm::traits::{Context, RootContext};
use serde_json::Value;

use crate::fake_host;
use crate::test_plugin::{seed_config, Plugin, NOW_MS};

fn serve_one(plugin: &Plugin) {
    let mut s = plugin.stream(
        &[
            (":method", "POST"),
            (":path", "/v1/chat/completions"),
            ("authorization", "Bearer kt_support"),
        ],
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#,
    );
    s.send_request();
    s.receive(
        200,
        &[("content-type", "application/json")],
        r#"{"id":"c","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}"#,
    );
    s.finish();
}

#[test]
fn workers_events_reach_the_ledger_in_one_batch_and_are_resent_until_acknowledged() {
    let mut config = seed_config();
    config["providers"]["targets"] = serde_json::json!([config["providers"]["targets"][0]]);
    let mut http = Plugin::configure(&config);
    let mut flusher = Plugin::flusher(&config);
    for _ in 0..3 {
        serve_one(&http);
    }
    http.root.on_tick(); // the worker hands its events over
    flusher.root.on_queue_ready(1);
    flusher.root.on_tick();
    let calls = fake_host::with(|h| h.http_calls.clone());
    let ingest = calls.last().expect("a batch was posted");
    assert_eq!(ingest.upstream, "tollgate_ledger");
    assert_eq!(
        tollgate_core::headers::find(&ingest.headers, ":path"),
        Some("/v1/events")
    );
    let bearer = format!("Bearer {}", crate::test_plugin::LEDGER_TOKEN);
    assert_eq!(
        tollgate_core::headers::find(&ingest.headers, "authorization"),
        Some(bearer.as_str()),
        "the data plane's token from the environment"
    );
    let batch: Vec<Value> = serde_json::from_slice(&ingest.body).expect("a JSON array");
    assert_eq!(batch.len(), 3);
    assert!(batch.iter().all(|e| e["team"] == "team_support"));

    // The ledger fails: nothing is lost, the same events go again after a backoff.
    fake_host::with(|h| {
        h.call_response_headers = vec![(":status".into(), "503".into())];
    });
    flusher.root.on_http_call_response(ingest.token, 0, 0, 0);
    flusher.root.on_tick();
    assert_eq!(
        fake_host::with(|h| h.http_calls.len()),
        calls.len(),
        "backing off"
    );
    fake_host::with(|h| h.now_ns = (NOW_MS + 60_000) * 1_000_000);
    flusher.root.on_tick();
    let retry = fake_host::with(|h| h.http_calls.last().cloned()).unwrap();
    assert_ne!(retry.token, ingest.token);
    assert_eq!(
        retry.body, ingest.body,
        "the same events, in the same batch"
    );

    fake_host::with(|h| {
        h.call_response_headers = vec![(":status".into(), "200".into())];
    });
    flusher.root.on_http_call_response(retry.token, 0, 0, 0);
    flusher.root.on_tick();
    assert_eq!(
        fake_host::with(|h| h.http_calls.len()),
        calls.len() + 1,
        "acknowledged: nothing left to send"
    );
}
