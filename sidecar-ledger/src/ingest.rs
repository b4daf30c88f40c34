//! Turning a posted body into an [`IngestBatch`]: which events are stored and which are
//! quarantined. One malformed event must not block the rest of its batch, or the
//! sender would retry the whole batch forever and the good events would never land.

use serde_json::value::RawValue;
use tollgate_core::event::CostEvent;
use tollgate_core::lease::{LeaseClosed, LeaseClosedRecord};
use tollgate_core::outbox::EventsDroppedRecord;

use crate::ingest_check::Finding;
use crate::query::MAX_TIME_MS;
use crate::store::{IngestBatch, RejectedEvent};

/// A valid event the configuration checks held back (see `crate::ingest_check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBack {
    /// Position in the posted batch.
    pub index: usize,
    pub event: CostEvent,
    pub finding: Finding,
}

/// Longest accepted event id. The filter's ids are short; a huge one is a bug.
pub const MAX_ID_LEN: usize = 256;
/// Upper bounds that keep every sum far from i64 overflow. A single request beyond
/// them (a trillion tokens, a million dollars) is an upstream bug, not spend.
pub const MAX_TOKENS: u64 = 1_000_000_000_000;
pub const MAX_COST_NANOS: i64 = 1_000_000_000_000_000;

/// Splits a JSON array of records into valid cost events, lease closings
/// (`{"lease_closed": {...}}`, see [`LeaseClosedRecord`]) and quarantined items; a
/// valid event that `check` refuses is held back, apart from the batch.
///
/// `Err` only when the body is not a JSON array at all: then nothing can be attributed
/// to an index, and the sender must fix its request.
pub fn split_batch(
    body: &[u8],
    received_ms: i64,
    check: impl Fn(&CostEvent) -> Result<(), Finding>,
) -> Result<(IngestBatch, Vec<HeldBack>), String> {
    // Borrowed raw slices: each element is parsed on its own and, if bad, stored
    // byte for byte as it arrived.
    let items: Vec<&RawValue> = serde_json::from_slice(body)
        .map_err(|e| format!("the body must be a JSON array of cost events: {e}"))?;
    let mut batch = IngestBatch {
        events: Vec::with_capacity(items.len()),
        rejected: Vec::new(),
        received_ms,
        lease_closures: Vec::new(),
        drops: Vec::new(),
        held_back: Vec::new(),
    };
    let mut held = Vec::new();
    for (index, raw) in items.into_iter().enumerate() {
        let parsed = if first_key_is(raw.get(), "lease_closed") {
            parse_lease_closed(raw.get()).map(|c| batch.lease_closures.push(c))
        } else if first_key_is(raw.get(), "events_dropped") {
            serde_json::from_str::<EventsDroppedRecord>(raw.get())
                .map(|r| batch.drops.push(r.events_dropped))
                .map_err(|e| format!("events_dropped: {e}"))
        } else {
            parse_event(raw.get()).map(|event| match check(&event) {
                Ok(()) => batch.events.push(event),
                Err(finding) => {
                    batch.held_back.push(index);
                    held.push(HeldBack {
                        index,
                        event,
                        finding,
                    });
                }
            })
        };
        if let Err(error) = parsed {
            batch.rejected.push(RejectedEvent {
                index,
                raw: raw.get().to_string(),
                error,
            });
        }
    }
    Ok((batch, held))
}

/// Records other than events are objects whose first key names them
/// (`lease_closed`, `events_dropped`; events never have these keys); only the item's
/// start is looked at, not the whole item.
fn first_key_is(json: &str, key: &str) -> bool {
    json.trim_start()
        .strip_prefix('{')
        .and_then(|rest| rest.trim_start().strip_prefix('"'))
        .and_then(|rest| rest.strip_prefix(key))
        .is_some_and(|rest| rest.starts_with('"'))
}

fn parse_lease_closed(json: &str) -> Result<LeaseClosed, String> {
    let record: LeaseClosedRecord =
        serde_json::from_str(json).map_err(|e| format!("lease_closed: {e}"))?;
    let c = record.lease_closed;
    if c.team.is_empty() || c.instance.is_empty() {
        return Err("lease_closed: team and instance must not be empty".into());
    }
    if !(0..=MAX_COST_NANOS).contains(&c.unused_nanos) {
        return Err(format!(
            "lease_closed.unused_nanos: {} is outside 0..={MAX_COST_NANOS}",
            c.unused_nanos
        ));
    }
    Ok(c)
}

/// Parses and validates one event; the error names the field at fault.
pub fn parse_event(json: &str) -> Result<CostEvent, String> {
    let event: CostEvent = match serde_json::from_str(json) {
        Ok(event) => event,
        // Parse again, on the rare failure only (path tracking costs on the hot path),
        // so the message names the field: `tokens.input: invalid type ...`.
        Err(plain) => {
            let mut de = serde_json::Deserializer::from_str(json);
            let detailed = serde_path_to_error::deserialize::<_, CostEvent>(&mut de);
            return Err(detailed.err().map_or(plain.to_string(), |e| e.to_string()));
        }
    };
    validate(&event)?;
    Ok(event)
}

/// Rules serde cannot express. Kept few on purpose: anything quarantined is spend
/// missing from reports until an operator acts, so only values that would corrupt
/// the ledger (no idempotency key, sums that could overflow) are refused.
pub fn validate(e: &CostEvent) -> Result<(), String> {
    if e.id.is_empty() {
        return Err("id: must not be empty".into());
    }
    if e.id.len() > MAX_ID_LEN {
        return Err(format!("id: longer than {MAX_ID_LEN} bytes"));
    }
    if !(0..=MAX_TIME_MS).contains(&e.ts_ms) {
        return Err(format!(
            "ts_ms: {} is not a Unix-millisecond time between 1970 and 9999",
            e.ts_ms
        ));
    }
    for (name, n) in [
        ("input", e.tokens.input),
        ("cached_input", e.tokens.cached_input),
        ("cache_write", e.tokens.cache_write),
        ("cache_write_1h", e.tokens.cache_write_1h),
        ("output", e.tokens.output),
    ] {
        if n > MAX_TOKENS {
            return Err(format!("tokens.{name}: {n} exceeds {MAX_TOKENS}"));
        }
    }
    for (name, v) in [
        ("cost_nanos", e.cost_nanos),
        ("cost_avoided_nanos", e.cost_avoided_nanos),
    ] {
        if !(0..=MAX_COST_NANOS).contains(&v) {
            return Err(format!("{name}: {v} is outside 0..={MAX_COST_NANOS}"));
        }
    }
    if e.web_search_calls > MAX_TOKENS {
        return Err(format!(
            "web_search_calls: {} exceeds {MAX_TOKENS}",
            e.web_search_calls
        ));
    }
    if !(0..=e.cost_nanos).contains(&e.tool_cost_nanos) {
        return Err(format!(
            "tool_cost_nanos: {} is outside 0..=cost_nanos ({})",
            e.tool_cost_nanos, e.cost_nanos
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::event_json;

    fn split_unchecked(body: &[u8], received_ms: i64) -> Result<IngestBatch, String> {
        split_batch(body, received_ms, |_| Ok(())).map(|(batch, held)| {
            assert!(held.is_empty());
            batch
        })
    }

    #[test]
    fn good_events_pass_bad_ones_are_kept_verbatim_with_the_field_at_fault() {
        let good = event_json("e1", 1_000, "team_a", 5);
        let missing_team = r#"{"id":"e2","ts_ms":1}"#;
        let wrong_type =
            event_json("e3", 1_000, "team_a", 5).replace(r#""input":10"#, r#""input":"ten""#);
        let empty_id = event_json("", 1_000, "team_a", 5);
        let negative =
            event_json("e5", 1_000, "team_a", 5).replace(r#""cost_nanos":5"#, r#""cost_nanos":-5"#);
        let body = format!("[{good}, {missing_team},{wrong_type},{empty_id},{negative}, 42]");
        let batch = split_unchecked(body.as_bytes(), 7).unwrap();
        assert_eq!(batch.events.len(), 1);
        assert_eq!(batch.events[0].id, "e1");
        assert_eq!(batch.received_ms, 7);
        let by_index: Vec<(usize, &str)> = batch
            .rejected
            .iter()
            .map(|r| (r.index, r.error.as_str()))
            .collect();
        assert_eq!(by_index.len(), 5, "{by_index:?}");
        assert_eq!(batch.rejected[0].raw, missing_team);
        assert!(by_index[0].1.contains("missing field"), "{by_index:?}");
        assert!(
            by_index[1].1.starts_with("tokens.input: invalid type"),
            "{by_index:?}"
        );
        assert!(by_index[2].1.starts_with("id: must not be empty"));
        assert!(by_index[3].1.starts_with("cost_nanos: -5"));
        assert_eq!(by_index[4].0, 5);
        assert_eq!(batch.rejected[4].raw, "42");
    }

    #[test]
    fn lease_closings_travel_among_the_events() {
        let good = event_json("e1", 1_000, "team_a", 5);
        let closed = r#"{"lease_closed":{"lease_id":7,"team":"team_a","instance":"i1","unused_nanos":40,"closed_ms":9}}"#;
        let bad = r#"{"lease_closed":{"lease_id":7,"team":"","instance":"i1","unused_nanos":-1,"closed_ms":9}}"#;
        let dropped = r#"{"events_dropped":{"instance":"f1","count":3,"first_ms":5,"last_ms":6}}"#;
        let body = format!("[{good},{closed},{bad},{dropped}]");
        let batch = split_unchecked(body.as_bytes(), 7).unwrap();
        assert_eq!(batch.events.len(), 1);
        assert_eq!(batch.lease_closures.len(), 1);
        assert_eq!(batch.lease_closures[0].lease_id, 7);
        assert_eq!(batch.lease_closures[0].unused_nanos, 40);
        assert_eq!(batch.rejected.len(), 1);
        assert_eq!(batch.rejected[0].index, 2);
        assert!(batch.rejected[0].error.starts_with("lease_closed:"));
        assert_eq!(batch.drops.len(), 1);
        assert_eq!(batch.drops[0].count, 3);
    }

    #[test]
    fn a_body_that_is_not_an_array_is_an_error() {
        for body in [&b"{}"[..], b"", b"[1,", b"not json", b"\"[]\""] {
            let e = split_unchecked(body, 0).unwrap_err();
            assert!(e.starts_with("the body must be a JSON array"), "{e}");
        }
        assert!(split_unchecked(b"[]", 0).unwrap().events.is_empty());
    }
}
