//! Rollups that catch up with the events in bulk, on PostgreSQL (schema version 7),
//! as on SQLite (`sqlite::fold`) but for many ledgers sharing one database.
//!
//! An ingest transaction stores the events, the wallet and lease spend and the
//! quarantine, and one `rollup_pending` row naming the events it stored (runs of
//! consecutive `seq`). A *fold* brings the rollups (`rollup_hourly` and the derived
//! ones of [`super::rollups`]) up to date: in one transaction it locks the
//! `rollup_fold` row, deletes every pending row it can see, takes the events those
//! rows name (copies this ledger kept of the events it stored, the rest read back)
//! and adds them to the rollups, one upsert per rollup row touched.
//!
//! When: after an ingest once this ledger stored [`FOLD_EVENTS`] events since its last
//! fold or that fold is [`FOLD_AFTER`] old (skipped if another ledger is folding: it
//! takes what is pending too), and before every read of the rollups
//! ([`super::db::PgStore::settle`]), so every answer includes every acknowledged event, from any
//! ledger.
//!
//! Why this is safe with concurrent ledgers:
//! * `events.seq` is an identity column: *not* commit-ordered (a transaction can
//!   commit a lower seq after a higher one is visible), so "every seq above a
//!   watermark" could skip an event for good. Nothing here folds by a bound: a fold
//!   takes exactly the events named by the pending rows it deletes, and a pending row
//!   commits in the transaction that stored its events, so a fold that sees the row
//!   sees the events (READ COMMITTED: each later statement's snapshot is newer), and a
//!   row still uncommitted is invisible and left for a later fold.
//! * Each pending row is deleted by exactly one committed fold: folds take turns on
//!   the `rollup_fold` row lock, and a fold's `DELETE` starts after the lock is
//!   granted, so it sees what earlier folds deleted as gone. A fold that fails rolls
//!   its deletions back with its additions: its events stay pending.
//! * A read first looks for pending rows; a row deleted by a fold still in progress
//!   still shows, so the reader folds too, waiting for the lock, i.e. for that fold's
//!   commit. So when the read's own query starts, every event acknowledged before
//!   the read began is in the rollups.
//! * Only folds write rollup rows (ingest no longer does), one fold at a time: no lock
//!   cycle with ingest, whose row locks are wallets then leases.
//! * A copy is used only for a seq in a run the fold deleted, and is the event that
//!   the committed ingest stored under that seq; copies of events another fold took
//!   are dropped unused.
//!
//! A fold that fails (a rollup sum beyond 64 bits, far outside what validation lets
//! through) leaves its events pending and every read of the rollups failing with that
//! error until an operator acts, as on SQLite; ingest goes on.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use postgres::{Row, Statement, Transaction};
use tollgate_core::event::{CostEvent, Tokens, UsageSource};

use super::events::upsert_rollups;
use super::stored_zone::stored_calendar;
use crate::calendar::ReportingCalendar;
use crate::store::error::StoreError;
use crate::store::event_text;
use crate::store::rollup_deltas::{Derived, HourlyKey};
use crate::store::types::Sums;

/// A ledger folds after an ingest once it stored this many events since its last fold.
///
/// Larger folds touch each rollup row for more events (in the ingest benchmark the
/// fold cost ~14 µs an event folding every 8,192 and ~10 µs every 32,768), but a read
/// may have to fold that many first, and the copies kept for the fold grow with it.
pub const FOLD_EVENTS: usize = 32_768;
/// A ledger folds after an ingest once its last fold is this old.
pub const FOLD_AFTER: Duration = Duration::from_secs(1);
/// Events read back and aggregated at a time (bounds a fold's memory: the fold
/// reads only what the rollups need, ~300 bytes an event).
pub(super) const FOLD_CHUNK: usize = 32_768;

/// What the rollups need of an event, in [`rollup_event`]'s order; `seq` last.
pub(super) const FOLD_COLUMNS: &str =
    "ts_ms, consumer_group, team, user_id, workflow, api, provider,
    lane, model_served, input_tokens, cached_input_tokens, cache_write_tokens,
    output_tokens, cost_nanos, outcome, cache, cost_avoided_nanos, premium,
    premium_approved, cache_write_1h_tokens, seq";
pub(super) const SEQ_COLUMN: usize = 20;
/// Copies of stored events kept for the next fold, at most (~600 bytes each); beyond
/// that a fold reads the events back.
const MAX_COPIES: usize = 2 * FOLD_EVENTS;

const INSERT_PENDING: &str =
    "INSERT INTO rollup_pending (lo, hi) VALUES ($1::bigint[], $2::bigint[])";

/// This ledger's side of folding: when it last folded, how many events it stored
/// since, and copies of them so that a fold need not read them back. What is pending
/// is in the database.
pub(crate) struct FoldClock {
    state: Mutex<Clock>,
    /// `(seq, event)` of events this ledger stored since its last fold, at most
    /// [`MAX_COPIES`]. Used only for events named by the pending rows a fold deleted.
    copies: Mutex<Vec<(i64, CostEvent)>>,
    /// A fold after an ingest is under way in this process (others need not try).
    pub(super) folding: AtomicBool,
}

struct Clock {
    last_fold: Instant,
    stored_since: usize,
}

impl Default for FoldClock {
    fn default() -> Self {
        FoldClock {
            state: Mutex::new(Clock {
                last_fold: Instant::now(),
                stored_since: 0,
            }),
            copies: Mutex::new(Vec::new()),
            folding: AtomicBool::new(false),
        }
    }
}

impl FoldClock {
    fn lock(&self) -> std::sync::MutexGuard<'_, Clock> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts events just stored; whether a fold is due.
    pub(super) fn stored(&self, events: usize) -> bool {
        let mut c = self.lock();
        c.stored_since += events;
        c.stored_since >= FOLD_EVENTS || (c.stored_since > 0 && c.last_fold.elapsed() >= FOLD_AFTER)
    }

    /// Keeps copies of events just stored (committed) with these `seq`s.
    pub(super) fn remember<'e>(&self, stored: impl Iterator<Item = (i64, &'e CostEvent)>) {
        let mut copies = self.copies.lock().unwrap_or_else(|p| p.into_inner());
        let room = MAX_COPIES.saturating_sub(copies.len());
        copies.extend(stored.take(room).map(|(seq, e)| (seq, e.clone())));
    }

    fn take_copies(&self) -> Vec<(i64, CostEvent)> {
        std::mem::take(&mut *self.copies.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub(super) fn reset(&self) {
        let mut c = self.lock();
        c.last_fold = Instant::now();
        c.stored_since = 0;
    }

    #[cfg(test)]
    pub(crate) fn hold_off(&self) {
        self.lock().last_fold = Instant::now() + Duration::from_secs(3600);
    }
}

/// `seqs` (any order, distinct) as runs of consecutive values: `(firsts, lasts)`.
fn runs(mut seqs: Vec<i64>) -> (Vec<i64>, Vec<i64>) {
    seqs.sort_unstable();
    let (mut lo, mut hi): (Vec<i64>, Vec<i64>) = (Vec::new(), Vec::new());
    for s in seqs {
        match hi.last_mut() {
            Some(last) if *last + 1 == s => *last = s,
            _ => {
                lo.push(s);
                hi.push(s);
            }
        }
    }
    (lo, hi)
}

/// In the ingest transaction: records the events it stored (by `seq`) as pending.
pub(super) fn mark_pending(tx: &mut Transaction<'_>, seqs: Vec<i64>) -> Result<(), StoreError> {
    if seqs.is_empty() {
        return Ok(());
    }
    let (lo, hi) = runs(seqs);
    tx.execute(INSERT_PENDING, &[&lo, &hi])?;
    Ok(())
}

/// An event as the rollups see it (read with [`FOLD_COLUMNS`]): the attributes that
/// no rollup holds are left empty.
pub(super) fn rollup_event(r: &Row) -> Result<CostEvent, StoreError> {
    let u64_col = |i: usize| -> Result<u64, StoreError> {
        let v: i64 = r.try_get(i)?;
        u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative token count {v}")))
    };
    Ok(CostEvent {
        id: String::new(),
        ts_ms: r.try_get(0)?,
        consumer_group: r.try_get(1)?,
        team: r.try_get(2)?,
        user: r.try_get(3)?,
        workflow: r.try_get(4)?,
        api: event_text::api_from(r.try_get(5)?)?,
        provider: r.try_get(6)?,
        lane: r.try_get(7)?,
        model_requested: String::new(),
        model_served: r.try_get(8)?,
        tokens: Tokens {
            input: u64_col(9)?,
            cached_input: u64_col(10)?,
            cache_write: u64_col(11)?,
            cache_write_1h: u64_col(19)?,
            output: u64_col(12)?,
        },
        usage_source: UsageSource::Reported,
        cost_nanos: r.try_get(13)?,
        unpriced: false,
        outcome: event_text::outcome_from(r.try_get(14)?)?,
        http_status: 0,
        reason: None,
        latency_ms: 0,
        stream: false,
        cache: event_text::cache_from(r.try_get(15)?)?,
        cost_avoided_nanos: r.try_get(16)?,
        premium: r.try_get(17)?,
        premium_approved: r.try_get(18)?,
        lease_id: None,
        wallet_unchecked: false,
        near_repeat: false,
        service_tier: None,
        web_search_calls: 0,
        tool_cost_nanos: 0,
        priced_by: None,
    })
}

/// Runs `(lo, hi)` sorted and merged where they touch or overlap.
fn merge(mut runs: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    runs.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(runs.len());
    for (lo, hi) in runs {
        match merged.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    merged
}

/// Events whose rollup rows go into one set of upsert statements.
///
/// Every row of a statement travels as one bind message, built in the connection's
/// write buffer, which keeps its largest size for the life of the pooled connection:
/// one statement for a whole fold grew it to ~20 MB, and the ledger to ~300-420 MiB RSS
/// with 16 connections (heaptrack, 2026-11-29). A fold therefore writes its rollups in
/// slices of this many events (a row touched by two slices is upserted twice, which
/// adds up the same): after 1M events RSS was ~200 MiB instead of ~350, at ingest
/// rates within the runs' noise (4,096 gave the same RSS).
pub(crate) const EVENTS_PER_STATEMENT: usize = 8_192;

/// Adds the events to every rollup, their days in `calendar`.
fn add_rollups(
    tx: &mut Transaction<'_>,
    events: &[CostEvent],
    calendar: &ReportingCalendar,
) -> Result<(), StoreError> {
    for slice in events.chunks(EVENTS_PER_STATEMENT) {
        add_rollups_in_one_statement_each(tx, slice, calendar)?;
    }
    Ok(())
}

fn add_rollups_in_one_statement_each(
    tx: &mut Transaction<'_>,
    events: &[CostEvent],
    calendar: &ReportingCalendar,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let events: Vec<&CostEvent> = events.iter().collect();
    let mut deltas: BTreeMap<HourlyKey<'_>, Sums> = BTreeMap::new();
    for e in &events {
        let sums = crate::store::rollup_deltas::sums_of(e)?;
        let slot = deltas.entry(HourlyKey::of(e)).or_default();
        *slot = slot
            .checked_add(&sums)
            .ok_or_else(|| StoreError::Corrupt("sum overflows 64 bits".into()))?;
    }
    upsert_rollups(tx, &deltas)?;
    super::rollups::add(tx, &Derived::of(&events, calendar)?)
}

/// Adds cost adjustments (as `rollup_deltas::adjustment_event`s) to every rollup: their
/// cost under their event's keys, no request, no tokens. Takes the fold lock first
/// (folds are the only other writers of rollup rows), and the zone after it.
pub(super) fn add_adjustments(
    tx: &mut Transaction<'_>,
    adjustments: &[CostEvent],
) -> Result<(), StoreError> {
    tx.query_one("SELECT id FROM rollup_fold WHERE id = 1 FOR UPDATE", &[])?;
    let calendar = stored_calendar(tx)?;
    for slice in adjustments.chunks(EVENTS_PER_STATEMENT) {
        let refs: Vec<&CostEvent> = slice.iter().collect();
        let mut deltas: BTreeMap<HourlyKey<'_>, Sums> = BTreeMap::new();
        for e in &refs {
            let sums = crate::store::rollup_deltas::adjustment_sums(e)?;
            let slot = deltas.entry(HourlyKey::of(e)).or_default();
            *slot = slot
                .checked_add(&sums)
                .ok_or_else(|| StoreError::Corrupt("sum overflows 64 bits".into()))?;
        }
        upsert_rollups(tx, &deltas)?;
        super::rollups::add(tx, &Derived::of_adjustments(&refs, &calendar)?)?;
    }
    Ok(())
}

/// One fold, in `tx`. `None` if another fold holds the lock and `wait` is false;
/// else how many events were folded.
pub(super) fn fold(
    tx: &mut Transaction<'_>,
    wait: bool,
    clock: &FoldClock,
) -> Result<Option<usize>, StoreError> {
    let lock = if wait {
        "SELECT id FROM rollup_fold WHERE id = 1 FOR UPDATE"
    } else {
        "SELECT id FROM rollup_fold WHERE id = 1 FOR UPDATE SKIP LOCKED"
    };
    if tx.query_opt(lock, &[])?.is_none() {
        return Ok(None);
    }
    // Read after the lock, in a statement of its own (a snapshot taken after it): a
    // zone change commits while holding that lock, so this is the zone it set.
    let calendar = stored_calendar(tx)?;
    // Taken after the lock and before the DELETE: each copy's ingest committed
    // before the DELETE's snapshot, so its pending row is deleted now or was by an
    // earlier fold; copies not used below are of the latter kind and are dropped.
    let mut copies: HashMap<i64, CostEvent> = clock.take_copies().into_iter().collect();
    let mut pending = Vec::new();
    for row in tx.query("DELETE FROM rollup_pending RETURNING lo, hi", &[])? {
        let lo: Vec<i64> = row.try_get(0)?;
        let hi: Vec<i64> = row.try_get(1)?;
        if lo.len() != hi.len() {
            return Err(StoreError::Corrupt(
                "a rollup_pending row's runs differ in length".into(),
            ));
        }
        pending.extend(lo.into_iter().zip(hi));
    }
    let select = tx.prepare(&format!(
        "SELECT {FOLD_COLUMNS} FROM events WHERE seq >= $1 AND seq <= $2
         ORDER BY seq LIMIT $3"
    ))?;
    let mut f = Folder {
        tx,
        calendar,
        chunk: Vec::new(),
        folded: 0,
        read_back: 0,
        adding: Duration::ZERO,
    };
    let started = Instant::now();
    // Every seq in a merged run is a stored event's: copies where this ledger has
    // them, the rest read back.
    for (lo, hi) in merge(pending) {
        let mut missing_from = None;
        for seq in lo..=hi {
            match copies.remove(&seq) {
                Some(e) => {
                    if let Some(from) = missing_from.take() {
                        f.read(&select, from, seq - 1)?;
                    }
                    f.push(e)?;
                }
                None => {
                    missing_from.get_or_insert(seq);
                }
            }
        }
        if let Some(from) = missing_from {
            f.read(&select, from, hi)?;
        }
    }
    f.flush()?;
    tracing::debug!(
        events = f.folded,
        read_back = f.read_back,
        ms = started.elapsed().as_millis() as u64,
        adding_ms = f.adding.as_millis() as u64,
        "folded pending events into the rollups"
    );
    Ok(Some(f.folded))
}

/// A fold's events on their way into the rollups, [`FOLD_CHUNK`] at a time.
struct Folder<'t, 'c> {
    tx: &'t mut Transaction<'c>,
    calendar: ReportingCalendar,
    chunk: Vec<CostEvent>,
    folded: usize,
    read_back: usize,
    adding: Duration,
}

impl Folder<'_, '_> {
    fn push(&mut self, e: CostEvent) -> Result<(), StoreError> {
        self.chunk.push(e);
        if self.chunk.len() >= FOLD_CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        let t = Instant::now();
        add_rollups(self.tx, &self.chunk, &self.calendar)?;
        self.adding += t.elapsed();
        self.folded += self.chunk.len();
        self.chunk.clear();
        Ok(())
    }

    /// Reads back the events with `seq` in `[lo, hi]`, in pages.
    fn read(&mut self, select: &Statement, lo: i64, hi: i64) -> Result<(), StoreError> {
        let mut from = lo;
        loop {
            let rows = self.tx.query(select, &[&from, &hi, &(FOLD_CHUNK as i64)])?;
            self.read_back += rows.len();
            let last_page = rows.len() < FOLD_CHUNK;
            for r in &rows {
                from = r.try_get::<_, i64>(SEQ_COLUMN)? + 1;
                self.push(rollup_event(r)?)?;
            }
            if last_page {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seqs_become_runs_and_runs_merge() {
        assert_eq!(
            runs(vec![7, 3, 4, 5, 9, 10, 1]),
            (vec![1, 3, 7, 9], vec![1, 5, 7, 10])
        );
        assert_eq!(runs(vec![]), (vec![], vec![]));
        assert_eq!(
            merge(vec![(9, 10), (1, 1), (3, 5), (2, 2), (7, 7), (4, 6)]),
            vec![(1, 7), (9, 10)]
        );
    }
}
