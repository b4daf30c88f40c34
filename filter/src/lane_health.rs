//! Per-lane usage, latency and health in Envoy shared data, so every worker's routing
//! decisions see the same picture.
//!
//! Routing reads the shared stats per request (plus what this worker has not shared
//! yet). Writes are split: a failure is written at once (cooling a lane down must not
//! wait), successes and request counts are collected per worker and written once per
//! tick — a compare-and-swap per request costs two host calls (~4 µs) for figures that
//! only matter per minute.

use std::cell::RefCell;
use std::collections::HashMap;
use std::convert::Infallible;

use tollgate_core::routing::{LaneActivity, LaneStats};

use crate::host::{cas_update, get_shared};

fn key(lane: &str) -> String {
    format!("tollgate.lane.{lane}")
}

fn read_shared(lane: &str) -> LaneStats {
    get_shared(&key(lane))
        .0
        .as_deref()
        .and_then(LaneStats::decode)
        .unwrap_or_default()
}

/// Applies `change` atomically (compare-and-swap, retried); best effort.
fn update(lane: &str, change: impl Fn(LaneStats) -> LaneStats) {
    let _ = cas_update::<(), Infallible>(&key(lane), 32, |value| {
        let current = value.and_then(LaneStats::decode).unwrap_or_default();
        Ok(Some((change(current).encode().to_vec(), ())))
    });
}

/// This worker's activity per lane, not yet in shared data.
#[derive(Default)]
pub struct LaneLedger {
    unshared: RefCell<HashMap<String, LaneActivity>>,
}

impl LaneLedger {
    /// The lane's stats as routing should see them now.
    pub fn read(&self, lane: &str, now_ms: i64) -> LaneStats {
        let shared = read_shared(lane);
        match self.unshared.borrow().get(lane) {
            Some(activity) => shared.with_activity(activity, now_ms),
            None => shared,
        }
    }

    pub fn started(&self, lane: &str, now_ms: i64) {
        self.with(lane, |a| a.started(now_ms));
    }

    pub fn succeeded(&self, lane: &str, now_ms: i64, tokens: u64, latency_ms: u32) {
        self.with(lane, |a| a.succeeded(now_ms, tokens, latency_ms));
    }

    /// A failed answer (429, 5xx, none): written at once, with whatever this worker had
    /// not shared yet, so every worker sees a lane cool down.
    pub fn failed(
        &self,
        lane: &str,
        now_ms: i64,
        tokens: u64,
        failures_to_cool: u32,
        cooldown_ms: i64,
    ) {
        let activity = self.unshared.borrow_mut().remove(lane).unwrap_or_default();
        update(lane, |s| {
            s.with_activity(&activity, now_ms).finished(
                now_ms,
                tokens,
                0,
                false,
                failures_to_cool,
                cooldown_ms,
            )
        });
    }

    /// Writes every lane's collected activity (on the worker's tick).
    pub fn share(&self, now_ms: i64) {
        let collected: Vec<(String, LaneActivity)> = self.unshared.borrow_mut().drain().collect();
        for (lane, activity) in collected {
            update(&lane, |s| s.with_activity(&activity, now_ms));
        }
    }

    fn with(&self, lane: &str, change: impl FnOnce(&mut LaneActivity)) {
        let mut unshared = self.unshared.borrow_mut();
        match unshared.get_mut(lane) {
            Some(a) => change(a),
            None => {
                let mut a = LaneActivity::default();
                change(&mut a);
                unshared.insert(lane.to_string(), a);
            }
        }
    }
}
