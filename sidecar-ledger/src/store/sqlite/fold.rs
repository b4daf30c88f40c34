//! Rollups that catch up with the events in bulk, on SQLite.
//!
//! An ingest transaction stores the events, the wallet and lease spend and the
//! quarantine; the rollups (`rollup_hourly` and the derived ones of
//! [`super::rollups`]) are brought up to date by *folding*: every event with a
//! `seq` above `rollup_watermark.seq` is aggregated in memory and added with one
//! upsert per rollup row, and the watermark moves to the last event folded, in one
//! transaction. Folding tens of thousands of events at once touches each rollup row
//! once instead of once per batch, which is most of what ingest used to cost.
//!
//! When: right after an ingest once [`FOLD_EVENTS`] events are pending or the last
//! fold is [`FOLD_AFTER`] old, and before every read of the rollups
//! ([`super::db::SqliteStore::settle`]), so answers include every acknowledged event. The
//! watermark lives in the database and folds run under SQLite's write lock, so
//! several processes on one file fold each event exactly once (`seq` grows in commit
//! order: there is one writer at a time and events are never deleted).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, Transaction, TransactionBehavior};
use tollgate_core::event::CostEvent;

use super::events::{event_from_row, EVENT_COLUMNS};
use super::stored_zone::stored_calendar;
use crate::calendar::ReportingCalendar;
use crate::store::error::StoreError;
use crate::store::rollup_deltas::{Derived, HourlyKey};
use crate::store::types::Sums;

/// An ingest folds once this many events are pending.
///
/// Larger folds touch each rollup row for more events, but the events are kept in
/// memory until then: 32,768 left the ledger at ~190 MB RSS under load, 8,192 at ~100.
pub const FOLD_EVENTS: i64 = 8_192;
/// An ingest folds whatever is pending once the last fold is this old.
pub const FOLD_AFTER: Duration = Duration::from_secs(1);
/// Events read back and aggregated at a time (bounds a fold's memory).
pub(super) const FOLD_CHUNK: usize = 16_384;

const UPSERT_HOURLY: &str = "INSERT INTO rollup_hourly (
        hour_ms, team, consumer_group, user_id, workflow, provider, lane, model_served,
        api, outcome, cache, requests, input_tokens, cached_input_tokens,
        cache_write_tokens, output_tokens, cost_nanos, cost_avoided_nanos)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
    ON CONFLICT (hour_ms, team, consumer_group, user_id, workflow, provider, lane,
                 model_served, api, outcome, cache) DO UPDATE SET
        requests = requests + excluded.requests,
        input_tokens = input_tokens + excluded.input_tokens,
        cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens,
        cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
        output_tokens = output_tokens + excluded.output_tokens,
        cost_nanos = cost_nanos + excluded.cost_nanos,
        cost_avoided_nanos = cost_avoided_nanos + excluded.cost_avoided_nanos";

/// This process's side of folding: when it last folded, and copies of the events it
/// stored since, so that a fold need not read them back. The watermark itself is in
/// the database. Used under the writer lock.
pub(super) struct FoldState(Mutex<Pending>);

pub(super) struct Pending {
    pub(super) last_fold: Instant,
    /// `(seq, event)` of the events this process inserted since its last fold, in
    /// `seq` order.
    events: Vec<(i64, CostEvent)>,
}

impl Default for FoldState {
    fn default() -> Self {
        FoldState(Mutex::new(Pending {
            last_fold: Instant::now(),
            events: Vec::new(),
        }))
    }
}

impl FoldState {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn due(&self) -> bool {
        self.lock().last_fold.elapsed() >= FOLD_AFTER
    }

    fn reset(&self) {
        let mut p = self.lock();
        p.last_fold = Instant::now();
        p.events = Vec::new();
    }

    /// Remembers an event just inserted with this `seq`.
    pub(super) fn inserted(&self, seq: i64, event: &CostEvent) {
        self.lock().events.push((seq, event.clone()));
    }

    /// How many events are remembered (to forget those of a transaction that failed).
    pub(super) fn remembered(&self) -> usize {
        self.lock().events.len()
    }

    pub(super) fn forget_after(&self, n: usize) {
        self.lock().events.truncate(n);
    }

    /// The remembered events if they are exactly the events with `seq` in
    /// `(mark, last]`, i.e. nobody else stored events since the watermark.
    fn take_exactly(&self, mark: i64, last: i64) -> Option<Vec<CostEvent>> {
        let events = std::mem::take(&mut self.lock().events);
        let exact = events.len() as i64 == last - mark
            && events.first().is_some_and(|(seq, _)| *seq == mark + 1)
            && events.windows(2).all(|w| w[1].0 == w[0].0 + 1);
        exact.then(|| events.into_iter().map(|(_, e)| e).collect())
    }
}

/// Every event with a `seq` above this is not in the rollups yet.
pub(super) fn watermark(tx: &Transaction<'_>) -> Result<i64, StoreError> {
    Ok(
        tx.query_row("SELECT seq FROM rollup_watermark WHERE id = 1", [], |r| {
            r.get(0)
        })?,
    )
}

fn last_seq(tx: &Transaction<'_>) -> Result<i64, StoreError> {
    Ok(tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?)
}

/// Inside an ingest transaction, after its events are inserted: whether a fold is due
/// (enough pending, or the last fold old enough). The fold itself runs after the
/// ingest committed, in its own transaction ([`fold_after_ingest`]).
pub(super) fn fold_due(tx: &Transaction<'_>, clock: &FoldState) -> Result<bool, StoreError> {
    let pending = last_seq(tx)? - watermark(tx)?;
    // Held in memory until the fold; a cap in case folds keep failing.
    if clock.remembered() > 2 * FOLD_EVENTS as usize {
        clock.forget_after(0);
    }
    Ok(pending >= FOLD_EVENTS || (pending > 0 && clock.due()))
}

/// Folds everything pending in a transaction of its own.
pub(super) fn fold_now(conn: &mut Connection, state: &FoldState) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mark = watermark(&tx)?;
    let last = last_seq(&tx)?;
    match state.take_exactly(mark, last) {
        Some(events) if !events.is_empty() => {
            let events: Vec<&CostEvent> = events.iter().collect();
            add_rollups(&tx, &events, &stored_calendar(&tx)?)?;
            tx.execute("UPDATE rollup_watermark SET seq = ?1 WHERE id = 1", [last])?;
        }
        _ => fold(&tx, mark)?,
    }
    tx.commit()?;
    state.reset();
    Ok(())
}

/// The fold an ingest found due. Its events are committed whatever happens here: a
/// fold that fails (a rollup sum beyond 64 bits, far outside what validation lets
/// through) leaves them pending, and the next read of the rollups reports the error.
pub(super) fn fold_after_ingest(conn: &mut Connection, clock: &FoldState) {
    if let Err(e) = fold_now(conn, clock) {
        // Not retried before FOLD_AFTER: ingest must not pay for it on every batch.
        // (The events are read back from the database then.)
        clock.reset();
        tracing::error!(error = %e, "could not bring the rollups up to date; events are stored");
    }
}

/// Adds the events to every rollup, their days in `calendar` (read in the fold's
/// transaction, so a fold never mixes zones with a rebuild in another process).
fn add_rollups(
    tx: &Transaction<'_>,
    events: &[&CostEvent],
    calendar: &ReportingCalendar,
) -> Result<(), StoreError> {
    add_hourly(tx, events, crate::store::rollup_deltas::sums_of)?;
    super::rollups::add(tx, &Derived::of(events, calendar)?)
}

/// Adds cost adjustments (as `rollup_deltas::adjustment_event`s) to every rollup: their
/// cost under their event's keys, no request, no tokens.
pub(super) fn add_adjustments(
    tx: &Transaction<'_>,
    adjustments: &[&CostEvent],
) -> Result<(), StoreError> {
    let calendar = stored_calendar(tx)?;
    add_hourly(
        tx,
        adjustments,
        crate::store::rollup_deltas::adjustment_sums,
    )?;
    super::rollups::add(tx, &Derived::of_adjustments(adjustments, &calendar)?)
}

/// Adds every event above the watermark `mark` to the rollups, reading them back from
/// `events`, and moves the watermark.
pub(super) fn fold(tx: &Transaction<'_>, mut mark: i64) -> Result<(), StoreError> {
    let calendar = stored_calendar(tx)?;
    let seq_column = EVENT_COLUMNS.split(',').count();
    let mut select = tx.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS}, seq FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2"
    ))?;
    loop {
        let mut events = Vec::new();
        let mut rows = select.query(params![mark, FOLD_CHUNK as i64])?;
        while let Some(r) = rows.next()? {
            events.push(event_from_row(r)?);
            mark = r.get(seq_column)?;
        }
        drop(rows);
        if events.is_empty() {
            break;
        }
        let events: Vec<&CostEvent> = events.iter().collect();
        add_rollups(tx, &events, &calendar)?;
        tx.execute("UPDATE rollup_watermark SET seq = ?1 WHERE id = 1", [mark])?;
        if events.len() < FOLD_CHUNK {
            break;
        }
    }
    Ok(())
}

/// Adds the events to `rollup_hourly` (each as `sums_of` counts it), one upsert per row
/// touched.
fn add_hourly(
    tx: &Transaction<'_>,
    events: &[&CostEvent],
    sums_of: fn(&CostEvent) -> Result<Sums, StoreError>,
) -> Result<(), StoreError> {
    let mut deltas: HashMap<HourlyKey<'_>, Sums> = HashMap::new();
    for e in events {
        let sums = sums_of(e)?;
        let slot = deltas.entry(HourlyKey::of(e)).or_default();
        *slot = slot
            .checked_add(&sums)
            .ok_or_else(|| StoreError::Corrupt("sum overflows 64 bits".into()))?;
    }
    let mut upsert = tx.prepare_cached(UPSERT_HOURLY)?;
    for (k, s) in &deltas {
        upsert.execute(params![
            k.hour_ms,
            k.team,
            k.consumer_group,
            k.user,
            k.workflow,
            k.provider,
            k.lane,
            k.model_served,
            k.api,
            k.outcome,
            k.cache,
            s.requests,
            s.input_tokens,
            s.cached_input_tokens,
            s.cache_write_tokens,
            s.output_tokens,
            s.cost_nanos,
            s.cost_avoided_nanos,
        ])?;
    }
    Ok(())
}
