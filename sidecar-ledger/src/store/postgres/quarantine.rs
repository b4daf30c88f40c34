//! The quarantine of events that failed the configuration checks, on PostgreSQL.

use super::db::PgStore;
use crate::store::audit::NewAuditEntry;
use crate::store::error::StoreError;
use crate::store::quarantine::QuarantinedEvent;

const COLUMNS: &str =
    "event_id, received_ms, ts_ms, team, cost_nanos, holder, reason, detail, event";

impl PgStore {
    pub(super) fn quarantine_impl(
        &self,
        events: &[QuarantinedEvent],
        audit: &NewAuditEntry,
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        let events: Vec<QuarantinedEvent> = events
            .iter()
            .cloned()
            .map(QuarantinedEvent::without_nul)
            .collect();
        let audit = audit.clone();
        self.write(move |tx| {
            let mut stored = 0;
            for q in &events {
                stored += tx.execute(
                    &format!(
                        "INSERT INTO quarantined_events ({COLUMNS})
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                         ON CONFLICT (event_id) DO NOTHING"
                    ),
                    &[
                        &q.event_id,
                        &q.received_ms,
                        &q.ts_ms,
                        &q.team,
                        &q.cost_nanos,
                        &q.holder,
                        &q.reason,
                        &q.detail,
                        &q.event,
                    ],
                )? as usize;
            }
            if stored > 0 {
                let json = |v: &Option<serde_json::Value>| {
                    v.as_ref().map(|v| v.to_string().replace('\0', "\u{fffd}"))
                };
                tx.execute(
                    "INSERT INTO audit_log (ts_ms, actor, action, team, before, after)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &now_ms,
                        &audit.actor.replace('\0', "\u{fffd}"),
                        &audit.action,
                        &audit.team.as_ref().map(|t| t.replace('\0', "\u{fffd}")),
                        &json(&audit.before),
                        &json(&audit.after),
                    ],
                )?;
            }
            Ok(stored)
        })
    }

    pub(super) fn quarantined_events_impl(
        &self,
        limit: usize,
    ) -> Result<Vec<QuarantinedEvent>, StoreError> {
        self.conn()?
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM quarantined_events
                     ORDER BY received_ms DESC, event_id DESC LIMIT $1"
                ),
                &[&i64::try_from(limit).unwrap_or(i64::MAX)],
            )?
            .iter()
            .map(|r| {
                Ok(QuarantinedEvent {
                    event_id: r.try_get(0)?,
                    received_ms: r.try_get(1)?,
                    ts_ms: r.try_get(2)?,
                    team: r.try_get(3)?,
                    cost_nanos: r.try_get(4)?,
                    holder: r.try_get(5)?,
                    reason: r.try_get(6)?,
                    detail: r.try_get(7)?,
                    event: r.try_get(8)?,
                })
            })
            .collect()
    }
}
