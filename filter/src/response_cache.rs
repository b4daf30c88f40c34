//! The response cache's storage: a fixed table of Envoy shared-data slots, so every
//! worker sees every entry and the number of keys never exceeds `max_entries`.

use tollgate_core::cache::{candidate_slots, choose_slot, Entry};
use tollgate_core::config::CacheConfig;

use crate::host::{self, get_shared, set_shared};

const BYTES_KEY: &str = "tollgate.cache.bytes";

fn slot_key(slot: u32) -> String {
    format!("tollgate.cache.slot.{slot}")
}

pub struct CacheMetrics {
    pub hits: Option<u32>,
    pub misses: Option<u32>,
    pub stores: Option<u32>,
    pub evictions: Option<u32>,
    pub bytes: Option<u32>,
}

/// The fresh entry for `key`, if any.
pub fn lookup(config: &CacheConfig, key: &[u8; 32], now_ms: i64) -> Option<Entry> {
    for slot in candidate_slots(key, config.max_entries) {
        let (value, _) = get_shared(&slot_key(slot));
        let Some(bytes) = value else { continue };
        // Compare the key from the header before decoding the whole body.
        if Entry::peek(&bytes).is_some_and(|(k, _)| &k == key) {
            return Entry::decode(&bytes).filter(|e| e.fresh(now_ms));
        }
    }
    None
}

/// Adds `delta` to the shared byte count if the result stays within `ceiling`.
fn reserve_bytes(delta: i64, ceiling: u64) -> bool {
    for _ in 0..64 {
        let (value, cas) = get_shared(BYTES_KEY);
        let current = value
            .and_then(|v| v.try_into().ok())
            .map_or(0, i64::from_le_bytes);
        let next = (current + delta).max(0);
        if delta > 0 && next as u64 > ceiling {
            return false;
        }
        match set_shared(BYTES_KEY, &next.to_le_bytes(), cas) {
            Ok(()) => return true,
            Err(proxy_wasm::types::Status::CasMismatch) => continue,
            Err(_) => return false,
        }
    }
    false
}

/// Stores an entry, evicting the older candidate if both slots are taken. Returns false
/// when the entry is too large or the byte ceiling would be passed.
pub fn store(config: &CacheConfig, entry: &Entry, now_ms: i64, metrics: &CacheMetrics) -> bool {
    let encoded = entry.encode();
    if encoded.len() > config.max_entry_bytes as usize {
        return false;
    }
    let slots = candidate_slots(&entry.key, config.max_entries);
    let heads = slots.map(|slot| {
        let (value, cas) = get_shared(&slot_key(slot));
        let len = value.as_ref().map_or(0, Vec::len);
        (slot, value.as_deref().and_then(Entry::peek), cas, len)
    });
    let chosen = choose_slot(&entry.key, heads.map(|(s, h, _, _)| (s, h)), now_ms);
    let Some(&(_, head, cas, old_len)) = heads.iter().find(|(s, ..)| *s == chosen) else {
        return false;
    };
    let delta = encoded.len() as i64 - old_len as i64;
    if !reserve_bytes(delta, config.max_total_bytes) {
        return false;
    }
    // CAS: if another worker filled the slot meanwhile, keep theirs.
    if set_shared(&slot_key(chosen), &encoded, cas).is_err() {
        reserve_bytes(-delta, config.max_total_bytes);
        return false;
    }
    if head.is_some_and(|(k, _)| k != entry.key) {
        host::count(metrics.evictions, 1);
    }
    host::count(metrics.stores, 1);
    let (bytes, _) = get_shared(BYTES_KEY);
    host::gauge(
        metrics.bytes,
        bytes
            .and_then(|v| v.try_into().ok())
            .map_or(0, u64::from_le_bytes),
    );
    true
}
