//! The audit log on PostgreSQL: appended, read newest first.

use super::db::PgStore;
use super::sql_args::has_nul;
use crate::store::audit::{json_of, AuditEntry, NewAuditEntry};
use crate::store::error::StoreError;

/// PostgreSQL text cannot hold NUL: it is replaced, so the action is still recorded.
fn text(s: &str) -> String {
    if has_nul(s) {
        s.replace('\0', "\u{fffd}")
    } else {
        s.to_string()
    }
}

impl PgStore {
    pub(super) fn record_audit_impl(
        &self,
        e: &NewAuditEntry,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let before = e.before.as_ref().map(|v| text(&v.to_string()));
        let after = e.after.as_ref().map(|v| text(&v.to_string()));
        let row = self.conn()?.query_one(
            "INSERT INTO audit_log (ts_ms, actor, action, team, before, after)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &now_ms,
                &text(&e.actor),
                &text(&e.action),
                &e.team.as_deref().map(text),
                &before,
                &after,
            ],
        )?;
        Ok(row.try_get(0)?)
    }

    pub(super) fn audit_log_impl(
        &self,
        limit: usize,
        before_id: Option<i64>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.conn()?
            .query(
                "SELECT id, ts_ms, actor, action, team, before, after FROM audit_log
                 WHERE id < $1 ORDER BY id DESC LIMIT $2",
                &[&before_id.unwrap_or(i64::MAX), &(limit as i64)],
            )?
            .iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get(0)?,
                    ts_ms: r.try_get(1)?,
                    actor: r.try_get(2)?,
                    action: r.try_get(3)?,
                    team: r.try_get(4)?,
                    before: json_of(r.try_get(5)?),
                    after: json_of(r.try_get(6)?),
                })
            })
            .collect()
    }
}
