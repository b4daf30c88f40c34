//! The response cache's storage: a fixed table of Envoy shared-data slots, so every
//! worker sees every entry and the number of keys never exceeds `max_entries`.

use tollgate_core::cache::normalized::Seen;
use tollgate_core::cache::{candidate_slots, choose_slot, Entry, SlotHead};
use tollgate_core::config::CacheConfig;

use crate::host::{cas_update, get_shared, set_shared};
use crate::tick_buffer::TickBuffer;

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

/// What a lookup saw in one candidate slot: enough to store into it later without
/// reading it again (the CAS token makes the store lose to any change in between).
#[derive(Clone, Copy)]
pub struct SeenSlot {
    slot: u32,
    head: SlotHead,
    cas: u32,
    len: usize,
}

/// The result of a lookup: the fresh entry, or the candidate slots as seen, for a store.
pub enum Lookup {
    Hit(Entry),
    Miss([Option<SeenSlot>; 2]),
}

fn read_slot(slot: u32) -> (SeenSlot, Option<Vec<u8>>) {
    let (value, cas) = get_shared(&slot_key(slot));
    let seen = SeenSlot {
        slot,
        head: value.as_deref().and_then(Entry::peek),
        cas,
        len: value.as_ref().map_or(0, Vec::len),
    };
    (seen, value)
}

/// The fresh entry for `key`, if any.
pub fn lookup(config: &CacheConfig, key: &[u8; 32], now_ms: i64) -> Lookup {
    let mut seen = [None, None];
    for (i, slot) in candidate_slots(key, config.max_entries)
        .into_iter()
        .enumerate()
    {
        let (slot_seen, value) = read_slot(slot);
        seen[i] = Some(slot_seen);
        // Compare the key from the header before decoding the whole body.
        if slot_seen.head.is_some_and(|(k, _)| &k == key) {
            if let Some(entry) = value
                .as_deref()
                .and_then(Entry::decode)
                .filter(|e| e.fresh(now_ms))
            {
                return Lookup::Hit(entry);
            }
            break; // this key lives here (expired): a store replaces it
        }
    }
    Lookup::Miss(seen)
}

/// Adds `delta` to the shared byte count if the result stays within `ceiling`; returns
/// the new total.
fn reserve_bytes(delta: i64, ceiling: u64) -> Option<i64> {
    let result = cas_update(BYTES_KEY, 64, |value| {
        let current = value
            .and_then(|v| v.try_into().ok())
            .map_or(0, i64::from_le_bytes);
        let next = (current + delta).max(0);
        if delta > 0 && next as u64 > ceiling {
            return Err(());
        }
        Ok(Some((next.to_le_bytes().to_vec(), next)))
    });
    result.ok().flatten()
}

/// Stores an entry into one of the slots its lookup saw (a slot it did not read is read
/// now), evicting the older candidate if both are taken. Returns false when the entry is
/// too large, the byte ceiling would be passed, or another worker changed the slot.
pub fn store(
    config: &CacheConfig,
    entry: &Entry,
    seen: [Option<SeenSlot>; 2],
    now_ms: i64,
    metrics: &CacheMetrics,
    tick_buffer: &TickBuffer,
) -> bool {
    let encoded = entry.encode();
    if encoded.len() > config.max_entry_bytes as usize {
        return false;
    }
    let slots = candidate_slots(&entry.key, config.max_entries);
    let heads: [SeenSlot; 2] = [0, 1].map(|i| match seen[i] {
        Some(s) if s.slot == slots[i] => s,
        _ => read_slot(slots[i]).0,
    });
    let chosen = choose_slot(&entry.key, heads.map(|s| (s.slot, s.head)), now_ms);
    let Some(target) = heads.iter().find(|s| s.slot == chosen) else {
        return false;
    };
    let delta = encoded.len() as i64 - target.len as i64;
    let Some(total) = reserve_bytes(delta, config.max_total_bytes) else {
        return false;
    };
    // CAS: if another worker filled the slot meanwhile, keep theirs.
    if set_shared(&slot_key(chosen), &encoded, target.cas).is_err() {
        reserve_bytes(-delta, config.max_total_bytes);
        return false;
    }
    if target.head.is_some_and(|(k, _)| k != entry.key) {
        tick_buffer.count(metrics.evictions, 1);
    }
    tick_buffer.count(metrics.stores, 1);
    tick_buffer.gauge(metrics.bytes, total.max(0) as u64);
    true
}

fn seen_key(slot: u32) -> String {
    format!("tollgate.cache.seen.{slot}")
}

/// Whether a miss repeats, under normalisation, an answer stored within `ttl_ms` (see
/// `cache::normalized::Seen`): one shared-data read.
pub fn near_repeat(config: &CacheConfig, normalized: &[u8; 32], now_ms: i64, ttl_ms: i64) -> bool {
    let (value, _) = get_shared(&seen_key(Seen::slot(normalized, config.max_entries)));
    value
        .as_deref()
        .and_then(Seen::decode)
        .is_some_and(|s| s.repeats(normalized, now_ms, ttl_ms))
}

/// Remembers that an answer to `normalized` was stored now (the slot's latest wins).
pub fn remember_normalized(config: &CacheConfig, normalized: &[u8; 32], now_ms: i64) {
    let slot = Seen::slot(normalized, config.max_entries);
    if let Err(status) = set_shared(&seen_key(slot), &Seen::new(normalized, now_ms).encode(), 0) {
        log::debug!("tollgate: cannot remember a stored answer's normalised key: {status:?}");
    }
}
