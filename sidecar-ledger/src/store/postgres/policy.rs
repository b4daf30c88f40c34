//! Leaders' runtime policy on PostgreSQL: each team's current policy and the
//! append-only log of changes; a change locks the log, so ledgers sharing the
//! database apply changes one after the other.

use tollgate_core::policy::{PolicySet, TeamPolicy};

use super::db::PgStore;
use super::sql_args::has_nul;
use crate::store::error::StoreError;
use crate::store::policy::{ApplyChange, NewPolicyChange, PolicyChangeOutcome, PolicyChangeRecord};

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("stored policy: {e}"))
}

impl PgStore {
    pub(super) fn policy_set_impl(&self) -> Result<PolicySet, StoreError> {
        let mut set = PolicySet::default();
        for row in self
            .conn()?
            .query("SELECT team, policy, version FROM team_policies", &[])?
        {
            let (team, policy, version): (String, String, i64) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
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
        if [c.team, c.actor, c.reason]
            .into_iter()
            .chain(c.idempotency_key)
            .any(has_nul)
        {
            return Ok(PolicyChangeOutcome::Refused(
                "text must not contain U+0000".into(),
            ));
        }
        let change_text = c.change.to_string();
        let outcome = self.write(|tx| {
            // Versions are change ids, and pollers ask for "newer than V": changes are
            // serialised across teams so a lower id never commits after a higher one.
            tx.batch_execute("LOCK TABLE policy_changes IN EXCLUSIVE MODE")?;
            if let Some(key) = c.idempotency_key {
                let earlier = tx.query_opt(
                    &format!("{SELECT_CHANGE} WHERE team = $1 AND idempotency_key = $2"),
                    &[&c.team, &key],
                )?;
                if let Some(row) = earlier {
                    return Ok(PolicyChangeOutcome::Replayed(change_record(&row)?));
                }
            }
            let current: TeamPolicy = match tx.query_opt(
                "SELECT policy FROM team_policies WHERE team = $1",
                &[&c.team],
            )? {
                Some(row) => {
                    serde_json::from_str(&row.try_get::<_, String>(0)?).map_err(corrupt)?
                }
                None => TeamPolicy::default(),
            };
            let id: i64 = tx
                .query_one(
                    "INSERT INTO policy_changes (team, change, actor, reason, ts_ms, idempotency_key)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    &[&c.team, &change_text, &c.actor, &c.reason, &c.now_ms, &c.idempotency_key],
                )?
                .try_get(0)?;
            // A refusal is returned as an error so the transaction rolls back.
            let next = apply(&current, id).map_err(StoreError::Refused)?;
            tx.execute(
                "INSERT INTO team_policies (team, policy, version) VALUES ($1, $2, $3)
                 ON CONFLICT (team) DO UPDATE SET policy = excluded.policy, version = excluded.version",
                &[&c.team, &serde_json::to_string(&next).map_err(corrupt)?, &id],
            )?;
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
        });
        match outcome {
            Err(StoreError::Refused(why)) => Ok(PolicyChangeOutcome::Refused(why)),
            other => other,
        }
    }

    pub(super) fn policy_changes_impl(
        &self,
        team: &str,
        limit: usize,
    ) -> Result<Vec<PolicyChangeRecord>, StoreError> {
        if has_nul(team) {
            return Ok(Vec::new());
        }
        self.conn()?
            .query(
                &format!("{SELECT_CHANGE} WHERE team = $1 ORDER BY id DESC LIMIT $2"),
                &[&team, &(limit as i64)],
            )?
            .iter()
            .map(change_record)
            .collect()
    }
}

const SELECT_CHANGE: &str = "SELECT id, team, change, actor, reason, ts_ms FROM policy_changes";

fn change_record(r: &postgres::Row) -> Result<PolicyChangeRecord, StoreError> {
    let change: String = r.try_get(2)?;
    Ok(PolicyChangeRecord {
        id: r.try_get(0)?,
        team: r.try_get(1)?,
        change: serde_json::from_str(&change).map_err(corrupt)?,
        actor: r.try_get(3)?,
        reason: r.try_get(4)?,
        ts_ms: r.try_get(5)?,
    })
}
