//! The reporting time zone on SQLite: reading it (every fold does, in its own
//! transaction), setting it and rebuilding the daily rollups in it, and the refusals
//! counted per local day.

use rusqlite::{params, TransactionBehavior};
use tollgate_core::event::CostEvent;

use super::db::SqliteStore;
use super::events::{event_from_row, EVENT_COLUMNS};
use super::fold::{watermark, FOLD_CHUNK};
use super::stored_zone::zone_row;
use crate::calendar::ReportingCalendar;
use crate::store::error::StoreError;
use crate::store::rollup_deltas::Derived;
use crate::store::types::{RefusalQuery, RefusalRow, ReportingZone, ZoneChange};

/// The daily rollups, rebuilt when the zone changes (the hourly ones keep UTC hours).
const DAILY_ROLLUPS: [&str; 3] = ["rollup_daily", "rollup_daily_user", "rollup_daily_coarse"];

impl SqliteStore {
    pub(super) fn reporting_zone_impl(&self) -> Result<ReportingZone, StoreError> {
        zone_row(&*self.reader()?)
    }

    /// In one write transaction: every folded event's days recomputed in `calendar`
    /// and the zone recorded. Events not folded yet are folded later, in the zone read
    /// then, which is this one.
    pub(super) fn set_reporting_zone_impl(
        &self,
        calendar: &ReportingCalendar,
        actor: &str,
        now_ms: i64,
    ) -> Result<ZoneChange, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let previous = zone_row(&tx)?.time_zone;
        let mut events = 0i64;
        if previous != calendar.name() {
            for table in DAILY_ROLLUPS {
                tx.execute(&format!("DELETE FROM {table}"), [])?;
            }
            let mark = watermark(&tx)?;
            let seq_column = EVENT_COLUMNS.split(',').count();
            let mut select = tx.prepare(&format!(
                "SELECT {EVENT_COLUMNS}, seq FROM events WHERE seq > ?1 AND seq <= ?2
                 ORDER BY seq LIMIT ?3"
            ))?;
            let mut from = 0i64;
            loop {
                let mut chunk: Vec<CostEvent> = Vec::with_capacity(FOLD_CHUNK);
                let mut rows = select.query(params![from, mark, FOLD_CHUNK as i64])?;
                while let Some(r) = rows.next()? {
                    chunk.push(event_from_row(r)?);
                    from = r.get(seq_column)?;
                }
                drop(rows);
                if chunk.is_empty() {
                    break;
                }
                events += chunk.len() as i64;
                let refs: Vec<&CostEvent> = chunk.iter().collect();
                super::rollups::add(&tx, &Derived::daily_of(&refs, calendar)?)?;
                if chunk.len() < FOLD_CHUNK {
                    break;
                }
            }
            drop(select);
            // Repricing adjustments count in their events' days too.
            let adjustments = super::reconciliation::adjustment_events(&tx)?;
            let refs: Vec<&CostEvent> = adjustments.iter().collect();
            super::rollups::add(&tx, &Derived::daily_of_adjustments(&refs, calendar)?)?;
        }
        tx.execute(
            "UPDATE reporting_calendar SET time_zone = ?1, changed_ms = ?2, changed_by = ?3
             WHERE id = 1",
            params![calendar.name(), now_ms, actor],
        )?;
        tx.commit()?;
        Ok(ZoneChange {
            previous,
            time_zone: calendar.name().to_string(),
            events,
        })
    }

    pub(super) fn unpriced_requests_impl(
        &self,
        q: &RefusalQuery,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let team = if q.team.is_some() {
            " AND team = ?3"
        } else {
            ""
        };
        let sql = format!(
            "SELECT team, COUNT(*) FROM events
             WHERE unpriced AND ts_ms >= ?1 AND ts_ms < ?2{team}
             GROUP BY 1 ORDER BY 1"
        );
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let map = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?));
        let rows = match &q.team {
            Some(t) => stmt.query_map(params![q.from_ms, q.to_ms, t], map)?,
            None => stmt.query_map(params![q.from_ms, q.to_ms], map)?,
        };
        rows.map(|r| r.map_err(StoreError::from)).collect()
    }

    pub(super) fn refusals_impl(
        &self,
        q: &RefusalQuery,
        calendar: &ReportingCalendar,
    ) -> Result<Vec<RefusalRow>, StoreError> {
        let day = calendar.day_label_sql("ts_ms", q.from_ms, q.to_ms);
        let team = if q.team.is_some() {
            " AND team = ?3"
        } else {
            ""
        };
        // `outcome = 'refused'` matches the partial index `events_refused`.
        let sql = format!(
            "SELECT {day} AS day, team, COALESCE(reason, ''), COUNT(*) FROM events
             WHERE outcome = 'refused' AND ts_ms >= ?1 AND ts_ms < ?2{team}
             GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        );
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let map = |r: &rusqlite::Row<'_>| {
            Ok(RefusalRow {
                day_ms: r.get(0)?,
                team: r.get(1)?,
                reason: r.get(2)?,
                count: r.get(3)?,
            })
        };
        let rows = match &q.team {
            Some(t) => stmt.query_map(params![q.from_ms, q.to_ms, t], map)?,
            None => stmt.query_map(params![q.from_ms, q.to_ms], map)?,
        };
        rows.map(|r| r.map_err(StoreError::from)).collect()
    }
}
