//! The leaders' runtime policy in this Envoy: polled from the ledger, shared by the
//! workers, applied by each request.
//!
//! One worker's root tick at a time (a compare-and-swap on the next poll time) asks
//! the ledger for a version newer than the one held (`GET /v1/policy?after=V`) every
//! [`POLL_INTERVAL_MS`]; the answer goes into shared data with its version. Every
//! worker's tick compares that version (eight bytes) with its own copy and parses the
//! document only when it changed, so a request reads the policy from its worker's
//! memory, with no host call.

use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::hostcalls;
use tollgate_core::policy::{PolicySet, POLL_INTERVAL_MS};

use crate::host::{cas_update, get_shared, set_shared};
use crate::runtime::Runtime;

const POLICY_KEY: &str = "tollgate.policy";
const VERSION_KEY: &str = "tollgate.policy.version";
const NEXT_POLL_KEY: &str = "tollgate.policy.next_poll_ms";

fn read_i64(key: &str) -> i64 {
    match get_shared(key) {
        (Some(v), _) if v.len() == 8 => i64::from_le_bytes(v.try_into().unwrap_or([0; 8])),
        _ => 0,
    }
}

/// On every worker tick: takes a newer shared policy into this worker, and asks the
/// ledger for news when it is this worker's turn.
pub fn tick(rt: &Runtime, now_ms: i64) {
    let shared = read_i64(VERSION_KEY);
    if shared != rt.policy.borrow().version {
        if let (Some(bytes), _) = get_shared(POLICY_KEY) {
            match serde_json::from_slice::<PolicySet>(&bytes) {
                Ok(set) => *rt.policy.borrow_mut() = Rc::new(set),
                Err(e) => log::warn!("tollgate: unreadable shared policy: {e}"),
            }
        }
    }
    if rt.policy_call.get().is_none() && my_turn(now_ms) {
        ask(rt);
    }
}

/// Whether this worker polls now (the first to move the next poll time forward).
fn my_turn(now_ms: i64) -> bool {
    let won = std::cell::Cell::new(false);
    let _ = cas_update::<(), ()>(NEXT_POLL_KEY, 4, |value| {
        let next = value
            .filter(|v| v.len() == 8)
            .map_or(0, |v| i64::from_le_bytes(v.try_into().unwrap_or([0; 8])));
        if now_ms < next {
            won.set(false);
            return Ok(None);
        }
        won.set(true);
        Ok(Some((
            (now_ms + POLL_INTERVAL_MS).to_le_bytes().to_vec(),
            (),
        )))
    });
    won.get()
}

fn ask(rt: &Runtime) {
    let sink = &rt.config.events;
    let path = format!("/v1/policy?after={}", rt.policy.borrow().version);
    let headers = crate::ledger_auth::headers(
        "GET",
        &path,
        &sink.ledger_authority,
        rt.ledger_authorization.as_deref(),
        false,
    );
    let timeout = Duration::from_millis(u64::from(sink.ledger_timeout_ms));
    match hostcalls::dispatch_http_call(&sink.ledger_cluster, headers, None, vec![], timeout) {
        Ok(token) => rt.policy_call.set(Some(token)),
        Err(status) => log::debug!("tollgate: cannot ask the ledger for policy: {status:?}"),
    }
}

/// The ledger's answer to [`ask`]: a newer document goes into shared data (the
/// version last, so a worker never sees a new version with an old document).
pub fn on_answer(rt: &Runtime, token: u32, body_size: usize) -> bool {
    if rt.policy_call.get() != Some(token) {
        return false;
    }
    rt.policy_call.set(None);
    let status = hostcalls::get_map_value(
        proxy_wasm::types::MapType::HttpCallResponseHeaders,
        ":status",
    )
    .ok()
    .flatten();
    if status.as_deref() != Some("200") {
        return true;
    }
    let Ok(Some(body)) = hostcalls::get_buffer(
        proxy_wasm::types::BufferType::HttpCallResponseBody,
        0,
        body_size,
    ) else {
        return true;
    };
    let Ok(set) = serde_json::from_slice::<PolicySet>(&body) else {
        log::warn!("tollgate: the ledger's policy answer is not a policy document");
        return true;
    };
    if set.version > read_i64(VERSION_KEY) {
        let _ = set_shared(POLICY_KEY, &body, 0);
        let _ = set_shared(VERSION_KEY, &set.version.to_le_bytes(), 0);
        *rt.policy.borrow_mut() = Rc::new(set);
    }
    true
}
