//! The audit log on SQLite: appended, read newest first.

use rusqlite::params;

use super::db::SqliteStore;
use crate::store::audit::{json_of, AuditEntry, NewAuditEntry};
use crate::store::error::StoreError;

impl SqliteStore {
    pub(super) fn record_audit_impl(
        &self,
        e: &NewAuditEntry,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let conn = self.writer();
        conn.prepare_cached(
            "INSERT INTO audit_log (ts_ms, actor, action, team, before, after)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            now_ms,
            e.actor,
            e.action,
            e.team,
            e.before.as_ref().map(|v| v.to_string()),
            e.after.as_ref().map(|v| v.to_string()),
        ])?;
        Ok(conn.last_insert_rowid())
    }

    pub(super) fn audit_log_impl(
        &self,
        limit: usize,
        before_id: Option<i64>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, ts_ms, actor, action, team, before, after FROM audit_log
             WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![before_id.unwrap_or(i64::MAX), limit as i64], |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                ts_ms: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                team: r.get(4)?,
                before: json_of(r.get(5)?),
                after: json_of(r.get(6)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::audit::NewAuditEntry;
    use crate::store::{SqliteStore, Store};
    use crate::test_util::TempDir;

    #[test]
    fn the_audit_log_refuses_edits_and_deletes() {
        let dir = TempDir::new();
        let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
        let entry = NewAuditEntry {
            actor: "ops".into(),
            action: "token.create".into(),
            team: None,
            before: None,
            after: None,
        };
        store.record_audit(&entry, 1).unwrap();
        let w = store.writer();
        for sql in [
            "UPDATE audit_log SET actor = 'someone else'",
            "DELETE FROM audit_log",
        ] {
            let err = w.execute(sql, []).unwrap_err().to_string();
            assert!(err.contains("append-only"), "{sql}: {err}");
        }
        drop(w);
        assert_eq!(store.audit_log(10, None).unwrap()[0].actor, "ops");
    }
}
