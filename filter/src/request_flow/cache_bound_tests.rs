//! The response cache's byte ceiling (`cache.max_total_bytes`), as the shell keeps it in
//! Envoy's shared data for every worker.

use serde_json::json;

use crate::fake_host;
use crate::test_plugin::{seed_config, Plugin, CHAT_ANSWER, CHAT_HEADERS};

fn chat(n: usize) -> String {
    format!(
        r#"{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"question {n:03}"}}]}}"#
    )
}

/// Sends request `n`; true when the cache answered it.
fn ask(plugin: &Plugin, n: usize) -> bool {
    let body = chat(n);
    let length = body.len().to_string();
    let headers = [&CHAT_HEADERS[..], &[("content-length", length.as_str())]].concat();
    let mut s = plugin.stream(&headers, &body);
    s.send_request();
    let hit = s.local_reply().is_some();
    if !hit {
        s.receive(200, &[("content-type", "application/json")], CHAT_ANSWER);
    }
    s.finish();
    hit
}

/// The bytes the cache's entries hold in shared data, and how many entries there are.
fn held() -> (u64, usize) {
    fake_host::with(|h| {
        let slots: Vec<_> = h
            .shared_data
            .iter()
            .filter(|(k, (v, _))| k.starts_with("tollgate.cache.slot.") && !v.is_empty())
            .map(|(_, (v, _))| v.len() as u64)
            .collect();
        (slots.iter().sum(), slots.len())
    })
}

fn plugin_with_ceiling(max_total_bytes: u64) -> Plugin {
    let mut config = seed_config();
    config["cache"] =
        json!({"enabled": true, "max_entries": 1000, "max_total_bytes": max_total_bytes});
    Plugin::configure(&config)
}

#[test]
fn the_cache_stops_storing_at_its_byte_ceiling_and_keeps_what_it_stored() {
    // One entry's size, from a cache with room to spare.
    let roomy = plugin_with_ceiling(1 << 30);
    assert!(!ask(&roomy, 0));
    let (entry_bytes, entries) = held();
    assert_eq!(entries, 1);
    fake_host::reset();

    // Room for three entries and a half.
    let ceiling = entry_bytes * 7 / 2;
    let mut plugin = plugin_with_ceiling(ceiling);
    let hits: Vec<bool> = (0..10).map(|n| ask(&plugin, n)).collect();
    assert!(
        hits.iter().all(|hit| !hit),
        "ten distinct requests, ten misses"
    );
    let (bytes, entries) = held();
    assert_eq!(
        entries, 3,
        "three entries fit under the ceiling, the fourth does not"
    );
    assert!(
        bytes <= ceiling,
        "{bytes} bytes held under a ceiling of {ceiling}"
    );
    // The first three were stored and answer now; the rest were not.
    let again: Vec<bool> = (0..10).map(|n| ask(&plugin, n)).collect();
    assert_eq!(again.iter().filter(|hit| **hit).count(), 3, "{again:?}");
    assert!(again[..3].iter().all(|hit| *hit), "{again:?}");
    plugin.queued_records(); // the tick
    assert_eq!(
        plugin.metric("tollgate.cache_bytes"),
        Some(bytes),
        "the gauge is the bytes the entries hold"
    );
}
