//! The budgets in force and their history on PostgreSQL. Every write locks the change
//! log first: budget changes are rare, and ledgers sharing the database (each syncing
//! the same config file) then apply them one after the other, each seeing the last.

use postgres::{GenericClient, Transaction};
use tollgate_core::config::BudgetDef;

use super::db::PgStore;
use super::sql_args::has_nul;
use crate::store::budgets::{
    def_text, parse_def, BudgetChangeOutcome, BudgetChangeRecord, BudgetDecision,
    BudgetDecisionOutcome, ChangeStatus, NewBudgetChange, CONFIG_FILE_ACTOR,
};
use crate::store::error::StoreError;

const COLUMNS: &str = "id, team, before, after, actor, reason, ts_ms, status, decided_by,
    decided_ms, decision_comment";

fn record(r: &postgres::Row) -> Result<BudgetChangeRecord, StoreError> {
    let id: i64 = r.try_get(0)?;
    let team: String = r.try_get(1)?;
    let def = |t: Option<String>| t.map(|t| parse_def(&team, &t)).transpose();
    let status: String = r.try_get(7)?;
    Ok(BudgetChangeRecord {
        id,
        before: def(r.try_get(2)?)?,
        after: def(r.try_get(3)?)?,
        actor: r.try_get(4)?,
        reason: r.try_get(5)?,
        ts_ms: r.try_get(6)?,
        status: ChangeStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("budget change {id} status '{status}'")))?,
        decided_by: r.try_get(8)?,
        decided_ms: r.try_get(9)?,
        decision_comment: r.try_get(10)?,
        team,
    })
}

fn one(
    client: &mut impl GenericClient,
    filter: &str,
    args: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<Option<BudgetChangeRecord>, StoreError> {
    client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM budget_changes WHERE {filter}"),
            args,
        )?
        .as_ref()
        .map(record)
        .transpose()
}

fn lock(tx: &mut Transaction<'_>) -> Result<(), StoreError> {
    tx.batch_execute("LOCK TABLE budget_changes IN EXCLUSIVE MODE")?;
    Ok(())
}

fn in_force(
    tx: &mut Transaction<'_>,
    team: &str,
) -> Result<(Option<String>, Option<String>), StoreError> {
    Ok(
        match tx.query_opt(
            "SELECT def, file_def FROM budgets_in_force WHERE team = $1",
            &[&team],
        )? {
            Some(r) => (r.try_get(0)?, r.try_get(1)?),
            None => (None, None),
        },
    )
}

fn set_in_force(
    tx: &mut Transaction<'_>,
    team: &str,
    def: Option<&str>,
    file_def: Option<&str>,
    now_ms: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO budgets_in_force (team, def, file_def, updated_ms) VALUES ($1, $2, $3, $4)
         ON CONFLICT (team) DO UPDATE SET def = excluded.def, file_def = excluded.file_def,
           updated_ms = excluded.updated_ms",
        &[&team, &def, &file_def, &now_ms],
    )?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn insert_change(
    tx: &mut Transaction<'_>,
    team: &str,
    before: Option<&str>,
    after: Option<&str>,
    actor: &str,
    reason: &str,
    status: ChangeStatus,
    idempotency_key: Option<&str>,
    now_ms: i64,
) -> Result<BudgetChangeRecord, StoreError> {
    let id: i64 = tx
        .query_one(
            "INSERT INTO budget_changes (team, before, after, actor, reason, ts_ms, status, idempotency_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            &[&team, &before, &after, &actor, &reason, &now_ms, &status.as_str(), &idempotency_key],
        )?
        .try_get(0)?;
    one(tx, "id = $1", &[&id])?
        .ok_or_else(|| StoreError::Corrupt(format!("budget change {id} vanished")))
}

impl PgStore {
    pub(super) fn budgets_in_force_impl(&self) -> Result<Vec<BudgetDef>, StoreError> {
        self.conn()?
            .query(
                "SELECT team, def FROM budgets_in_force WHERE def IS NOT NULL ORDER BY team",
                &[],
            )?
            .iter()
            .map(|r| parse_def(&r.try_get::<_, String>(0)?, &r.try_get::<_, String>(1)?))
            .collect()
    }

    pub(super) fn sync_file_budgets_impl(
        &self,
        file: &[BudgetDef],
        now_ms: i64,
    ) -> Result<Vec<BudgetChangeRecord>, StoreError> {
        if file.iter().any(|b| has_nul(&b.team_id)) {
            return Err(StoreError::Refused("text must not contain U+0000".into()));
        }
        self.write(|tx| {
            lock(tx)?;
            let mut teams: Vec<String> = tx
                .query(
                    "SELECT team FROM budgets_in_force WHERE file_def IS NOT NULL",
                    &[],
                )?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?;
            teams.extend(file.iter().map(|b| b.team_id.clone()));
            teams.sort();
            teams.dedup();
            let mut changes = Vec::new();
            for team in &teams {
                let now_file = file.iter().find(|b| &b.team_id == team).map(def_text);
                let (def, last_file) = in_force(tx, team)?;
                if now_file == last_file {
                    continue;
                }
                if def != now_file {
                    let reason = match &now_file {
                        Some(_) => "the budget in the config file changed",
                        None => "the budget was removed from the config file",
                    };
                    changes.push(insert_change(
                        tx,
                        team,
                        def.as_deref(),
                        now_file.as_deref(),
                        CONFIG_FILE_ACTOR,
                        reason,
                        ChangeStatus::Applied,
                        None,
                        now_ms,
                    )?);
                }
                set_in_force(tx, team, now_file.as_deref(), now_file.as_deref(), now_ms)?;
            }
            Ok(changes)
        })
    }

    pub(super) fn change_budget_impl(
        &self,
        c: &NewBudgetChange<'_>,
    ) -> Result<BudgetChangeOutcome, StoreError> {
        if [c.team, c.actor, c.reason]
            .into_iter()
            .chain(c.idempotency_key)
            .any(has_nul)
        {
            return Err(StoreError::Refused("text must not contain U+0000".into()));
        }
        let after = c.after.map(def_text);
        self.write(|tx| {
            lock(tx)?;
            if let Some(key) = c.idempotency_key {
                if let Some(earlier) =
                    one(tx, "team = $1 AND idempotency_key = $2", &[&c.team, &key])?
                {
                    return Ok(BudgetChangeOutcome::Replayed(earlier));
                }
            }
            let (def, file_def) = in_force(tx, c.team)?;
            let status = if c.propose {
                ChangeStatus::Pending
            } else {
                ChangeStatus::Applied
            };
            let change = insert_change(
                tx,
                c.team,
                def.as_deref(),
                after.as_deref(),
                c.actor,
                c.reason,
                status,
                c.idempotency_key,
                c.now_ms,
            )?;
            if !c.propose {
                set_in_force(tx, c.team, after.as_deref(), file_def.as_deref(), c.now_ms)?;
            }
            Ok(BudgetChangeOutcome::Recorded(change))
        })
    }

    pub(super) fn decide_budget_proposal_impl(
        &self,
        d: &BudgetDecision<'_>,
    ) -> Result<BudgetDecisionOutcome, StoreError> {
        if [d.team, d.actor].into_iter().chain(d.comment).any(has_nul) {
            return Err(StoreError::Refused("text must not contain U+0000".into()));
        }
        self.write(|tx| {
            lock(tx)?;
            let Some(proposal) = one(tx, "id = $1 AND team = $2", &[&d.id, &d.team])? else {
                return Ok(BudgetDecisionOutcome::NotFound);
            };
            if proposal.status != ChangeStatus::Pending {
                return Ok(BudgetDecisionOutcome::AlreadyDecided(proposal));
            }
            let (def, file_def) = in_force(tx, d.team)?;
            let status = if d.approve {
                let after = proposal.after.as_ref().map(def_text);
                set_in_force(tx, d.team, after.as_deref(), file_def.as_deref(), d.now_ms)?;
                ChangeStatus::Approved
            } else {
                ChangeStatus::Declined
            };
            tx.execute(
                "UPDATE budget_changes SET status = $2, decided_by = $3, decided_ms = $4,
                   decision_comment = $5, before = CASE WHEN $2 = 'approved' THEN $6 ELSE before END
                 WHERE id = $1",
                &[
                    &d.id,
                    &status.as_str(),
                    &d.actor,
                    &d.now_ms,
                    &d.comment,
                    &def,
                ],
            )?;
            let decided = one(tx, "id = $1", &[&d.id])?
                .ok_or_else(|| StoreError::Corrupt(format!("budget change {} vanished", d.id)))?;
            Ok(BudgetDecisionOutcome::Decided(decided))
        })
    }

    pub(super) fn budget_changes_impl(
        &self,
        team: Option<&str>,
        status: Option<ChangeStatus>,
        limit: usize,
    ) -> Result<Vec<BudgetChangeRecord>, StoreError> {
        if team.is_some_and(has_nul) {
            return Ok(Vec::new());
        }
        self.conn()?
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM budget_changes
                     WHERE ($1::TEXT IS NULL OR team = $1) AND ($2::TEXT IS NULL OR status = $2)
                     ORDER BY id DESC LIMIT $3"
                ),
                &[&team, &status.map(ChangeStatus::as_str), &(limit as i64)],
            )?
            .iter()
            .map(record)
            .collect()
    }
}
