//! Realtime sessions over WebSocket let through (`other_endpoints.realtime`), on the
//! fake host: attributed, sent with the lane's credential, their server frames read
//! for usage unchanged, one event per session.

use proxy_wasm::types::Action;
use serde_json::json;
use tollgate_core::event::{ApiKind, Outcome};

use crate::test_plugin::{reply_json, seed_config, Plugin};

fn upgrade(key: &str) -> Vec<(&'static str, String)> {
    vec![
        (":method", "GET".into()),
        (":path", "/v1/realtime?model=gpt-realtime".into()),
        (":authority", "tollgate".into()),
        ("connection", "Upgrade".into()),
        ("upgrade", "websocket".into()),
        ("sec-websocket-version", "13".into()),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==".into()),
        (
            "sec-websocket-protocol",
            format!("realtime, openai-insecure-api-key.{key}"),
        ),
        ("authorization", format!("Bearer {key}")),
    ]
}

fn refs<'a>(h: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    h.iter().map(|(n, v)| (*n, v.as_str())).collect()
}

/// An unmasked server text frame.
fn text_frame(payload: &str) -> Vec<u8> {
    let mut f = vec![0x81];
    let n = payload.len();
    if n < 126 {
        f.push(n as u8);
    } else {
        f.push(126);
        f.extend_from_slice(&(n as u16).to_be_bytes());
    }
    f.extend_from_slice(payload.as_bytes());
    f
}

fn response_done(input: u64, cached: u64, output: u64) -> String {
    json!({"type": "response.done", "event_id": "event_1", "response": {
        "object": "realtime.response", "id": "resp_1", "status": "completed",
        "usage": {"total_tokens": input + output, "input_tokens": input, "output_tokens": output,
            "input_token_details": {"cached_tokens": cached, "text_tokens": input, "audio_tokens": 0},
            "output_token_details": {"text_tokens": output, "audio_tokens": 0}}}})
    .to_string()
}

#[test]
fn a_realtime_session_is_attributed_sent_with_the_lane_key_and_counted_once() {
    let mut config = seed_config();
    config["other_endpoints"] = json!({"realtime": "passthrough"});
    let mut plugin = Plugin::configure(&config);
    let h = upgrade("kt_support");
    let mut s = plugin.stream(&refs(&h), "");
    let (action, _) = s.send_request();
    assert_eq!(action, Action::Continue);
    assert_eq!(s.local_reply(), None);
    assert_eq!(
        s.upstream_header("authorization").as_deref(),
        Some("Bearer sk-openai-test"),
        "the lane's credential, never the team key"
    );
    assert_eq!(s.upstream_header("upgrade").as_deref(), Some("websocket"));
    assert_eq!(
        s.upstream_header("sec-websocket-protocol").as_deref(),
        Some("realtime"),
        "a key offered as a subprotocol is dropped"
    );
    assert_eq!(
        s.upstream_header("x-tollgate-provider").as_deref(),
        Some("openai")
    );

    let mut server = text_frame(r#"{"type":"session.created","event_id":"e0","session":{}}"#);
    server.extend(text_frame(
        r#"{"type":"response.output_text.delta","event_id":"e1","delta":"Hi"}"#,
    ));
    server.extend(text_frame(&response_done(120, 20, 30)));
    server.extend(text_frame(&response_done(200, 100, 45)));
    server.extend([0x88, 0x02, 0x03, 0xe8]);
    // Frames split across chunks anywhere.
    let chunks: Vec<&[u8]> = server.chunks(7).collect();
    let client = s.receive_stream_of(101, "", &chunks);
    assert_eq!(client, server, "the session's bytes pass unchanged");
    s.finish();
    let events = plugin.queued_events();
    assert_eq!(events.len(), 1, "one event per session");
    let e = &events[0];
    assert_eq!((e.api, e.outcome), (ApiKind::Passthrough, Outcome::Ok));
    assert_eq!((e.team.as_str(), e.http_status), ("team_support", 101));
    assert_eq!(
        (e.tokens.input, e.tokens.cached_input, e.tokens.output),
        (200, 120, 75)
    );
    assert_eq!(e.model_served, "gpt-realtime");
    assert!(
        e.unpriced,
        "no price for the realtime model: shown, not hidden"
    );
    assert_eq!(e.cost_nanos, 0);
}

#[test]
fn a_session_the_client_drops_keeps_the_usage_read_so_far() {
    let mut config = seed_config();
    config["other_endpoints"] = json!({"default": "passthrough"});
    let mut plugin = Plugin::configure(&config);
    let h = upgrade("kt_support");
    let mut s = plugin.stream(&refs(&h), "");
    s.send_request();
    let done = text_frame(&response_done(10, 0, 5));
    // Part of a session, then a reset: no closing frame, no end of stream.
    crate::fake_host::with(|h| {
        h.response_headers = vec![(":status".into(), "101".into())];
        h.response_body = done.clone();
    });
    s.flow.on_http_response_headers(0, false);
    s.flow.on_http_response_body(done.len(), false);
    s.finish();
    let events = plugin.queued_events();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.tokens.total(), 15);
    assert_eq!(e.outcome, Outcome::Incomplete);
}

#[test]
fn realtime_is_refused_by_default_and_unknown_keys_are_refused() {
    let plugin = Plugin::configure(&seed_config());
    let h = upgrade("kt_support");
    let mut s = plugin.stream(&refs(&h), "");
    s.send_request();
    let reply = s.local_reply().expect("refused");
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply_json(&reply)["error"]["code"],
        json!("unsupported_endpoint")
    );

    let mut config = seed_config();
    config["other_endpoints"] = json!({"realtime": "passthrough"});
    let plugin = Plugin::configure(&config);
    let h = upgrade("kt_nobody");
    let mut s = plugin.stream(&refs(&h), "");
    s.send_request();
    assert_eq!(s.local_reply().expect("refused").status, 401);
}
