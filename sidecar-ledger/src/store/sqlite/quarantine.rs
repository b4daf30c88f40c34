//! The quarantine of events that failed the configuration checks, on SQLite.

use rusqlite::params;

use super::db::SqliteStore;
use crate::store::audit::NewAuditEntry;
use crate::store::error::StoreError;
use crate::store::quarantine::QuarantinedEvent;

const COLUMNS: &str =
    "event_id, received_ms, ts_ms, team, cost_nanos, holder, reason, detail, event";

impl SqliteStore {
    pub(super) fn quarantine_impl(
        &self,
        events: &[QuarantinedEvent],
        audit: &NewAuditEntry,
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        let mut stored = 0;
        {
            let mut insert = tx.prepare_cached(&format!(
                "INSERT INTO quarantined_events ({COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (event_id) DO NOTHING"
            ))?;
            for q in events {
                stored += insert.execute(params![
                    q.event_id,
                    q.received_ms,
                    q.ts_ms,
                    q.team,
                    q.cost_nanos,
                    q.holder,
                    q.reason,
                    q.detail,
                    q.event
                ])?;
            }
        }
        if stored > 0 {
            tx.execute(
                "INSERT INTO audit_log (ts_ms, actor, action, team, before, after)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    now_ms,
                    audit.actor,
                    audit.action,
                    audit.team,
                    audit.before.as_ref().map(|v| v.to_string()),
                    audit.after.as_ref().map(|v| v.to_string()),
                ],
            )?;
        }
        tx.commit()?;
        Ok(stored)
    }

    pub(super) fn quarantined_events_impl(
        &self,
        limit: usize,
    ) -> Result<Vec<QuarantinedEvent>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM quarantined_events
             ORDER BY received_ms DESC, event_id DESC LIMIT ?1"
        ))?;
        let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            Ok(QuarantinedEvent {
                event_id: r.get(0)?,
                received_ms: r.get(1)?,
                ts_ms: r.get(2)?,
                team: r.get(3)?,
                cost_nanos: r.get(4)?,
                holder: r.get(5)?,
                reason: r.get(6)?,
                detail: r.get(7)?,
                event: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
