//! Team credit in Envoy shared data, so every worker of an instance draws on one pool.
//! Updates are compare-and-swap loops: a lost race retries instead of overwriting
//! another worker's reservation.

use tollgate_core::budget::{Credit, CreditRecord, ReserveError};
use tollgate_core::lease::{LeaseAnswer, LeaseClosed, LeaseGrant, LedgerMemory};

pub use crate::host::UpdateError;
use crate::host::{cas_update, get_shared as load, set_shared as set};

/// Compare-and-swap attempts before giving up on a contended key.
const CAS_ATTEMPTS: usize = 64;
/// After the ledger said a wallet cannot cover a request, refuse locally for this long
/// instead of asking again for every request (a top-up is seen within this time).
pub const EXHAUSTED_MEMORY_MS: i64 = 1_000;

fn credit_key(team: &str) -> String {
    format!("tollgate.credit.{team}")
}

fn exhausted_key(team: &str) -> String {
    format!("tollgate.exhausted.{team}")
}

/// Applies `change` to the team's credit record atomically. `Ok(None)` from `change`
/// means "leave it as it is".
fn update_record<E>(
    team: &str,
    change: impl Fn(CreditRecord) -> Result<Option<CreditRecord>, E>,
) -> Result<Option<CreditRecord>, UpdateError<E>> {
    cas_update(&credit_key(team), CAS_ATTEMPTS, |value| {
        let current = value.and_then(CreditRecord::decode).unwrap_or_default();
        Ok(change(current)?.map(|next| (next.encode(), next)))
    })
}

/// Applies `change` to the team's credit, keeping its budget notice.
fn update<E>(
    team: &str,
    change: impl Fn(Credit) -> Result<Option<Credit>, E>,
) -> Result<Option<CreditRecord>, UpdateError<E>> {
    update_record(team, |record| {
        Ok(change(record.credit)?.map(|credit| CreditRecord { credit, ..record }))
    })
}

/// Reserves `amount` for a request. Returns the lease id the reservation belongs to
/// and the team's soft-budget notice, if it is past a threshold.
pub fn reserve(
    team: &str,
    amount: i64,
    now_ms: i64,
) -> Result<(u64, Option<String>), UpdateError<ReserveError>> {
    let record = update(team, |c| c.reserve(amount, now_ms).map(Some))?.unwrap_or_default();
    let notice = (!record.notice.is_empty()).then_some(record.notice);
    Ok((record.credit.lease_id, notice))
}

/// Ends a reservation made under `lease_id`; unused credit returns only to that lease.
pub fn settle(team: &str, lease_id: u64, reserved: i64, actual: i64) {
    let _ = update::<()>(team, |c| {
        if c.lease_id == lease_id {
            Ok(Some(c.settle(reserved, actual)))
        } else {
            // The lease was replaced: its credit is gone; only the in-flight count drops.
            Ok(Some(Credit {
                reserved: (c.reserved - reserved).max(0),
                ..c
            }))
        }
    });
}

/// What adding a grant did to the team's lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantEffect {
    /// More credit on the lease already held.
    Extended,
    /// A new lease, where none was held.
    Opened,
    /// A new lease in place of one still held (requests were in flight on it, so it
    /// was never closed; the ledger keeps its unreported part held).
    Replaced,
}

/// Adds a ledger grant to the team's credit, with the soft-budget notice it carries
/// (none clears it).
pub fn install_grant(team: &str, grant: &LeaseGrant, now_ms: i64) -> GrantEffect {
    let notice = CreditRecord::clean_notice(grant.budget_notice.as_deref());
    let effect = std::cell::Cell::new(GrantEffect::Extended);
    let _ = update_record::<()>(team, |r| {
        effect.set(match r.credit.lease_id {
            id if id == grant.lease_id => GrantEffect::Extended,
            0 => GrantEffect::Opened,
            _ => GrantEffect::Replaced,
        });
        Ok(Some(CreditRecord {
            credit: r.credit.with_grant(grant, now_ms),
            notice: notice.clone(),
        }))
    });
    effect.get()
}

/// Closes the team's lease if nothing is in flight on it and it has ended or sat idle
/// for `idle_ms`; returns the report for the ledger. Only one worker closes a lease
/// (compare-and-swap).
pub fn close_lease(team: &str, instance: &str, now_ms: i64, idle_ms: i64) -> Option<LeaseClosed> {
    let closed = std::cell::Cell::new(None);
    let _ = update::<()>(team, |c| {
        if !c.closable(now_ms, idle_ms) {
            closed.set(None);
            return Ok(None);
        }
        closed.set(Some((c.lease_id, c.available.max(0))));
        Ok(Some(c.closed()))
    });
    closed.get().map(|(lease_id, unused_nanos)| LeaseClosed {
        lease_id,
        team: team.to_string(),
        instance: instance.to_string(),
        unused_nanos,
        closed_ms: now_ms,
    })
}

/// Remembers that the wallet could not cover a request, with its last known balance.
pub fn mark_exhausted(team: &str, now_ms: i64, available: i64) {
    let mut value = [0u8; 16];
    value[..8].copy_from_slice(&(now_ms + EXHAUSTED_MEMORY_MS).to_le_bytes());
    value[8..].copy_from_slice(&available.to_le_bytes());
    let _ = set(&exhausted_key(team), &value, 0);
}

/// The last known balance if the wallet was recently found exhausted.
pub fn recently_exhausted(team: &str, now_ms: i64) -> Option<i64> {
    let (value, _) = load(&exhausted_key(team));
    let v = value.filter(|v| v.len() == 16)?;
    let until = i64::from_le_bytes(v[..8].try_into().ok()?);
    (now_ms < until).then(|| i64::from_le_bytes(v[8..].try_into().unwrap_or([0; 8])))
}

pub fn clear_exhausted(team: &str) {
    let _ = set(&exhausted_key(team), &[], 0);
}

/// Shared-data key of the instance's memory that the ledger was found unreachable
/// (one ledger serves every team, so one key for all of them).
const LEDGER_MEMORY_KEY: &str = "tollgate.ledger_unreachable";

/// What the instance's workers remember about the ledger's reachability.
pub fn ledger_memory() -> LedgerMemory {
    let (value, _) = load(LEDGER_MEMORY_KEY);
    value
        .as_deref()
        .map(LedgerMemory::decode)
        .unwrap_or_default()
}

/// Records the outcome of a lease call that ended at `now_ms`: an unreachable ledger
/// is remembered, any answer from it clears the memory. Written only when it changes
/// (a plain write, no compare-and-swap: the latest outcome wins, and it is a hint).
pub fn note_ledger_answer(answer: &LeaseAnswer, now_ms: i64) {
    let before = ledger_memory();
    let after = before.after(answer, now_ms);
    if after != before {
        let _ = set(LEDGER_MEMORY_KEY, &after.encode(), 0);
    }
}

/// This Envoy instance's id, shared by its workers: created by the first to ask.
pub fn instance_id(fresh: impl FnOnce() -> String) -> String {
    const KEY: &str = "tollgate.instance";
    if let (Some(v), _) = load(KEY) {
        if let Ok(s) = String::from_utf8(v) {
            if !s.is_empty() {
                return s;
            }
        }
    }
    let id = fresh();
    let _ = set(KEY, id.as_bytes(), 0);
    // Re-read: if another worker won the race, use its id so leases are shared.
    match load(KEY) {
        (Some(v), _) => String::from_utf8(v).unwrap_or(id),
        _ => id,
    }
}
