//! How many host calls a request makes: each costs Envoy a crossing into and out of
//! the VM, so the miss path's count is kept to what its work needs.

use std::collections::BTreeMap;

use crate::fake_host;
use crate::test_plugin::{seed_config, Plugin, CHAT_ANSWER, CHAT_HEADERS};

const CHAT: &str = r#"{"model":"gpt-4o-mini","max_tokens":64,"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}]}"#;

fn calls_since(start: usize) -> BTreeMap<&'static str, usize> {
    fake_host::with(|h| {
        h.calls[start..].iter().fold(BTreeMap::new(), |mut m, c| {
            *m.entry(*c).or_default() += 1;
            m
        })
    })
}

fn mark() -> usize {
    fake_host::with(|h| h.calls.len())
}

/// The host calls of one chat request answered 200, per phase: request, answer, log.
fn calls_per_phase(plugin: &Plugin) -> [BTreeMap<&'static str, usize>; 3] {
    let headers = [&CHAT_HEADERS[..], &[("content-length", "130")]].concat();
    let start = mark();
    let mut s = plugin.stream(&headers, CHAT);
    s.send_request();
    let request = calls_since(start);
    let start = mark();
    s.receive(200, &[("content-type", "application/json")], CHAT_ANSWER);
    let response = calls_since(start);
    let start = mark();
    s.finish();
    let log = calls_since(start);
    [request, response, log]
}

/// A cache-off miss's host calls, per phase.
fn miss_calls() -> [BTreeMap<&'static str, usize>; 3] {
    [
        // Read the headers and the body once each, set the lane's credential, path and
        // route header; read the clock when the stream starts and when the lane is
        // chosen.
        BTreeMap::from([
            ("proxy_get_buffer_bytes", 1),
            ("proxy_get_current_time_nanoseconds", 2),
            ("proxy_get_header_map_pairs", 1),
            ("proxy_replace_header_map_value", 3),
        ]),
        // Read the answer's headers and body once each, set request id, lane and cost.
        BTreeMap::from([
            ("proxy_get_buffer_bytes", 1),
            ("proxy_get_header_map_pairs", 1),
            ("proxy_replace_header_map_value", 3),
        ]),
        // The event and the counters wait in the VM for its tick: one clock read.
        BTreeMap::from([("proxy_get_current_time_nanoseconds", 1)]),
    ]
}

/// `calls` with `added` more.
fn plus(
    mut calls: BTreeMap<&'static str, usize>,
    added: &[(&'static str, usize)],
) -> BTreeMap<&'static str, usize> {
    for &(call, n) in added {
        *calls.entry(call).or_default() += n;
    }
    calls
}

#[test]
fn a_cache_miss_makes_only_the_host_calls_its_work_needs() {
    let plugin = Plugin::configure(&seed_config());
    assert_eq!(calls_per_phase(&plugin), miss_calls());
}

/// With the cache on, a miss adds what the cache's work needs: its two candidate slots
/// and the near-repeat record read while the request waits (the clock read for the
/// lane choice dates the lookup too); the byte count read, and the byte count, the
/// entry and the near-repeat record written once the answer is in, dated by one clock
/// read. The byte gauge waits for the tick like the counters.
#[test]
fn a_cache_miss_with_the_cache_on_adds_only_the_cache_calls() {
    let mut config = seed_config();
    config["cache"] = serde_json::json!({"enabled": true});
    let mut plugin = Plugin::configure(&config);
    let [request, response, log] = calls_per_phase(&plugin);
    assert_eq!(
        plugin.metric("tollgate.cache_bytes"),
        Some(0),
        "not before the tick"
    );
    plugin.queued_records(); // the tick
    assert_eq!(plugin.metric("tollgate.cache_stores"), Some(1));
    assert!(
        plugin
            .metric("tollgate.cache_bytes")
            .is_some_and(|b| b > CHAT_ANSWER.len() as u64),
        "the stored entry's bytes"
    );
    let [miss_request, miss_response, miss_log] = miss_calls();
    assert_eq!(request, plus(miss_request, &[("proxy_get_shared_data", 3)]));
    assert_eq!(
        response,
        plus(
            miss_response,
            &[
                ("proxy_get_shared_data", 1),
                ("proxy_set_shared_data", 3),
                ("proxy_get_current_time_nanoseconds", 1),
            ]
        )
    );
    assert_eq!(log, miss_log);
}
