//! Leaders' runtime policy on SQLite: each team's current policy and the append-only
//! log of changes, written together on the single writer.

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use tollgate_core::policy::{PolicySet, TeamPolicy};

use super::db::SqliteStore;
use crate::store::error::StoreError;
use crate::store::policy::{ApplyChange, NewPolicyChange, PolicyChangeOutcome, PolicyChangeRecord};

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("stored policy: {e}"))
}

impl SqliteStore {
    pub(super) fn policy_set_impl(&self) -> Result<PolicySet, StoreError> {
        let conn = self.reader()?;
        let mut set = PolicySet::default();
        let mut stmt = conn.prepare_cached("SELECT team, policy, version FROM team_policies")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (team, policy, version) = row?;
            set.version = set.version.max(version);
            let policy: TeamPolicy = serde_json::from_str(&policy).map_err(corrupt)?;
            if !policy.is_empty() {
                set.teams.insert(team, policy);
            }
        }
        Ok(set)
    }

    pub(super) fn change_policy_impl(
        &self,
        c: &NewPolicyChange<'_>,
        apply: ApplyChange<'_>,
    ) -> Result<PolicyChangeOutcome, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(key) = c.idempotency_key {
            let earlier = tx
                .query_row(
                    &format!("{SELECT_CHANGE} WHERE team = ?1 AND idempotency_key = ?2"),
                    params![c.team, key],
                    change_row,
                )
                .optional()?;
            if let Some(earlier) = earlier {
                return Ok(PolicyChangeOutcome::Replayed(change_record(earlier)?));
            }
        }
        let current: TeamPolicy = match tx
            .query_row(
                "SELECT policy FROM team_policies WHERE team = ?1",
                params![c.team],
                |r| r.get::<_, String>(0),
            )
            .optional()?
        {
            Some(json) => serde_json::from_str(&json).map_err(corrupt)?,
            None => TeamPolicy::default(),
        };
        tx.execute(
            "INSERT INTO policy_changes (team, change, actor, reason, ts_ms, idempotency_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                c.team,
                c.change.to_string(),
                c.actor,
                c.reason,
                c.now_ms,
                c.idempotency_key
            ],
        )?;
        let id = tx.last_insert_rowid();
        let next = match apply(&current, id) {
            Ok(p) => p,
            // Dropping the transaction rolls the change row back.
            Err(why) => return Ok(PolicyChangeOutcome::Refused(why)),
        };
        tx.execute(
            "INSERT INTO team_policies (team, policy, version) VALUES (?1, ?2, ?3)
             ON CONFLICT (team) DO UPDATE SET policy = excluded.policy, version = excluded.version",
            params![c.team, serde_json::to_string(&next).map_err(corrupt)?, id],
        )?;
        tx.commit()?;
        Ok(PolicyChangeOutcome::Applied(
            PolicyChangeRecord {
                id,
                team: c.team.to_string(),
                change: c.change.clone(),
                actor: c.actor.to_string(),
                reason: c.reason.to_string(),
                ts_ms: c.now_ms,
            },
            next,
        ))
    }

    pub(super) fn policy_changes_impl(
        &self,
        team: &str,
        limit: usize,
    ) -> Result<Vec<PolicyChangeRecord>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "{SELECT_CHANGE} WHERE team = ?1 ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![team, limit as i64], change_row)?;
        rows.map(|row| change_record(row?)).collect()
    }
}

const SELECT_CHANGE: &str = "SELECT id, team, change, actor, reason, ts_ms FROM policy_changes";

type ChangeRow = (i64, String, String, String, String, i64);

fn change_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChangeRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn change_record(
    (id, team, change, actor, reason, ts_ms): ChangeRow,
) -> Result<PolicyChangeRecord, StoreError> {
    Ok(PolicyChangeRecord {
        id,
        team,
        change: serde_json::from_str(&change).map_err(corrupt)?,
        actor,
        reason,
        ts_ms,
    })
}
