//! The reporting time zone on PostgreSQL: reading it (every fold does, after taking
//! the fold lock, see `stored_zone`), setting it and rebuilding the daily rollups in it, and the
//! refusals counted per local day.
//!
//! A rebuild must neither miss nor double an event while other ledgers ingest and
//! fold. It runs in one REPEATABLE READ transaction that first locks `rollup_fold`
//! against every fold (`LOCK TABLE` before any query, so its snapshot is taken with
//! the lock held): the events it sees are exactly those committed before it; of
//! those, the ones still named by a pending row are left for a later fold (which reads
//! the new zone, see [`super::fold`]) and all others are recomputed here.

use postgres::IsolationLevel;
use tollgate_core::event::CostEvent;

use super::db::PgStore;
use super::fold::{rollup_event, FOLD_CHUNK, FOLD_COLUMNS, SEQ_COLUMN};
use super::stored_zone::{zone_row, SELECT_ZONE};
use crate::calendar::ReportingCalendar;
use crate::store::error::StoreError;
use crate::store::rollup_deltas::Derived;
use crate::store::types::{RefusalQuery, RefusalRow, ReportingZone, ZoneChange};

/// The daily rollups, rebuilt when the zone changes (the hourly ones keep UTC hours).
const DAILY_ROLLUPS: [&str; 3] = ["rollup_daily", "rollup_daily_user", "rollup_daily_coarse"];

/// Whether `seq` is in one of the sorted, disjoint runs.
fn in_runs(runs: &[(i64, i64)], seq: i64) -> bool {
    let i = runs.partition_point(|(_, hi)| *hi < seq);
    runs.get(i).is_some_and(|(lo, _)| *lo <= seq)
}

impl PgStore {
    pub(super) fn reporting_zone_impl(&self) -> Result<ReportingZone, StoreError> {
        zone_row(&self.conn()?.query_one(SELECT_ZONE, &[])?)
    }

    pub(super) fn set_reporting_zone_impl(
        &self,
        calendar: &ReportingCalendar,
        actor: &str,
        now_ms: i64,
    ) -> Result<ZoneChange, StoreError> {
        let mut conn = self.conn()?;
        let mut tx = conn
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .start()?;
        tx.batch_execute("LOCK TABLE rollup_fold IN EXCLUSIVE MODE")?;
        let previous: String = tx
            .query_one("SELECT time_zone FROM reporting_calendar WHERE id = 1", &[])?
            .try_get(0)?;
        let mut events = 0i64;
        if previous != calendar.name() {
            let mut pending: Vec<(i64, i64)> = Vec::new();
            for row in tx.query("SELECT lo, hi FROM rollup_pending", &[])? {
                let lo: Vec<i64> = row.try_get(0)?;
                let hi: Vec<i64> = row.try_get(1)?;
                pending.extend(lo.into_iter().zip(hi));
            }
            pending.sort_unstable();
            for table in DAILY_ROLLUPS {
                tx.batch_execute(&format!("DELETE FROM {table}"))?;
            }
            let select = tx.prepare(&format!(
                "SELECT {FOLD_COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2"
            ))?;
            let mut from = 0i64;
            loop {
                let rows = tx.query(&select, &[&from, &(FOLD_CHUNK as i64)])?;
                let mut chunk: Vec<CostEvent> = Vec::with_capacity(rows.len());
                for r in &rows {
                    let seq: i64 = r.try_get(SEQ_COLUMN)?;
                    from = seq;
                    if !in_runs(&pending, seq) {
                        chunk.push(rollup_event(r)?);
                    }
                }
                events += chunk.len() as i64;
                for slice in chunk.chunks(super::fold::EVENTS_PER_STATEMENT) {
                    let refs: Vec<&CostEvent> = slice.iter().collect();
                    super::rollups::add(&mut tx, &Derived::daily_of(&refs, calendar)?)?;
                }
                if rows.len() < FOLD_CHUNK {
                    break;
                }
            }
            // Repricing adjustments count in their events' days too.
            let adjustments = super::reconciliation::adjustment_events(&mut tx)?;
            for slice in adjustments.chunks(super::fold::EVENTS_PER_STATEMENT) {
                let refs: Vec<&CostEvent> = slice.iter().collect();
                super::rollups::add(&mut tx, &Derived::daily_of_adjustments(&refs, calendar)?)?;
            }
        }
        tx.execute(
            "UPDATE reporting_calendar SET time_zone = $1, changed_ms = $2, changed_by = $3
             WHERE id = 1",
            &[&calendar.name(), &now_ms, &actor],
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
            " AND team = $3"
        } else {
            ""
        };
        let sql = format!(
            "SELECT team, COUNT(*)::BIGINT FROM events
             WHERE unpriced AND ts_ms >= $1 AND ts_ms < $2{team}
             GROUP BY 1 ORDER BY 1"
        );
        let mut conn = self.conn()?;
        let rows = match &q.team {
            Some(t) => conn.query(&sql, &[&q.from_ms, &q.to_ms, t])?,
            None => conn.query(&sql, &[&q.from_ms, &q.to_ms])?,
        };
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    pub(super) fn refusals_impl(
        &self,
        q: &RefusalQuery,
        calendar: &ReportingCalendar,
    ) -> Result<Vec<RefusalRow>, StoreError> {
        let day = calendar.day_label_sql("ts_ms", q.from_ms, q.to_ms);
        let team = if q.team.is_some() {
            " AND team = $3"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {day} AS day, team, COALESCE(reason, ''), COUNT(*)::BIGINT FROM events
             WHERE outcome = 'refused' AND ts_ms >= $1 AND ts_ms < $2{team}
             GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        );
        let mut conn = self.conn()?;
        let rows = match &q.team {
            Some(t) => conn.query(&sql, &[&q.from_ms, &q.to_ms, t])?,
            None => conn.query(&sql, &[&q.from_ms, &q.to_ms])?,
        };
        rows.iter()
            .map(|r| {
                Ok(RefusalRow {
                    day_ms: r.try_get(0)?,
                    team: r.try_get(1)?,
                    reason: r.try_get(2)?,
                    count: r.try_get(3)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn seqs_are_found_in_runs() {
        let runs = [(3, 5), (9, 9), (12, 20)];
        let found: Vec<i64> = (0..22).filter(|s| super::in_runs(&runs, *s)).collect();
        let mut want: Vec<i64> = vec![3, 4, 5, 9];
        want.extend(12..=20);
        assert_eq!(found, want);
    }
}
