//! Per-lane usage, latency and health in Envoy shared data, so every worker's routing
//! decisions see the same picture.

use tollgate_core::routing::LaneStats;

use crate::host::{get_shared, set_shared};

fn key(lane: &str) -> String {
    format!("tollgate.lane.{lane}")
}

pub fn read(lane: &str) -> LaneStats {
    get_shared(&key(lane))
        .0
        .as_deref()
        .and_then(LaneStats::decode)
        .unwrap_or_default()
}

/// Applies `change` atomically (compare-and-swap, retried); best effort.
pub fn update(lane: &str, change: impl Fn(LaneStats) -> LaneStats) {
    let key = key(lane);
    for _ in 0..32 {
        let (value, cas) = get_shared(&key);
        let current = value
            .as_deref()
            .and_then(LaneStats::decode)
            .unwrap_or_default();
        match set_shared(&key, &change(current).encode(), cas) {
            Err(proxy_wasm::types::Status::CasMismatch) => continue,
            _ => return,
        }
    }
}
