//! The budgets in force and their history on SQLite, written on the single writer.

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};
use tollgate_core::config::BudgetDef;

use super::db::SqliteStore;
use crate::store::budgets::{
    def_text, parse_def, BudgetChangeOutcome, BudgetChangeRecord, BudgetDecision,
    BudgetDecisionOutcome, ChangeStatus, NewBudgetChange, CONFIG_FILE_ACTOR,
};
use crate::store::error::StoreError;

const COLUMNS: &str = "id, team, before, after, actor, reason, ts_ms, status, decided_by,
    decided_ms, decision_comment";

type Row = (
    (i64, String, Option<String>, Option<String>, String, String),
    (i64, String, Option<String>, Option<i64>, Option<String>),
);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        (
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ),
        (r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?),
    ))
}

fn record(
    ((id, team, before, after, actor, reason), (ts_ms, status, decided_by, decided_ms, comment)): Row,
) -> Result<BudgetChangeRecord, StoreError> {
    let def = |t: Option<String>| t.map(|t| parse_def(&team, &t)).transpose();
    Ok(BudgetChangeRecord {
        id,
        before: def(before)?,
        after: def(after)?,
        status: ChangeStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("budget change {id} status '{status}'")))?,
        team,
        actor,
        reason,
        ts_ms,
        decided_by,
        decided_ms,
        decision_comment: comment,
    })
}

fn one(
    conn: &rusqlite::Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Option<BudgetChangeRecord>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM budget_changes WHERE {filter}"),
        args,
        row,
    )
    .optional()?
    .map(record)
    .transpose()
}

/// The team's budget in force and the file's as last read, as stored text.
fn in_force(
    tx: &Transaction<'_>,
    team: &str,
) -> Result<(Option<String>, Option<String>), StoreError> {
    Ok(tx
        .query_row(
            "SELECT def, file_def FROM budgets_in_force WHERE team = ?1",
            params![team],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or((None, None)))
}

fn set_in_force(
    tx: &Transaction<'_>,
    team: &str,
    def: Option<&str>,
    file_def: Option<&str>,
    now_ms: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO budgets_in_force (team, def, file_def, updated_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (team) DO UPDATE SET def = excluded.def, file_def = excluded.file_def,
           updated_ms = excluded.updated_ms",
        params![team, def, file_def, now_ms],
    )?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn insert_change(
    tx: &Transaction<'_>,
    team: &str,
    before: Option<&str>,
    after: Option<&str>,
    actor: &str,
    reason: &str,
    status: ChangeStatus,
    idempotency_key: Option<&str>,
    now_ms: i64,
) -> Result<BudgetChangeRecord, StoreError> {
    tx.execute(
        "INSERT INTO budget_changes (team, before, after, actor, reason, ts_ms, status, idempotency_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![team, before, after, actor, reason, now_ms, status.as_str(), idempotency_key],
    )?;
    let id = tx.last_insert_rowid();
    one(tx, "id = ?1", params![id])?
        .ok_or_else(|| StoreError::Corrupt(format!("budget change {id} vanished")))
}

impl SqliteStore {
    pub(super) fn budgets_in_force_impl(&self) -> Result<Vec<BudgetDef>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT team, def FROM budgets_in_force WHERE def IS NOT NULL ORDER BY team",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        rows.map(|r| {
            let (team, def) = r?;
            parse_def(&team, &def)
        })
        .collect()
    }

    pub(super) fn sync_file_budgets_impl(
        &self,
        file: &[BudgetDef],
        now_ms: i64,
    ) -> Result<Vec<BudgetChangeRecord>, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut teams: Vec<String> = tx
            .prepare("SELECT team FROM budgets_in_force WHERE file_def IS NOT NULL")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        teams.extend(file.iter().map(|b| b.team_id.clone()));
        teams.sort();
        teams.dedup();
        let mut changes = Vec::new();
        for team in teams {
            let now_file = file.iter().find(|b| b.team_id == team).map(def_text);
            let (def, last_file) = in_force(&tx, &team)?;
            if now_file == last_file {
                continue;
            }
            if def != now_file {
                let reason = match &now_file {
                    Some(_) => "the budget in the config file changed",
                    None => "the budget was removed from the config file",
                };
                changes.push(insert_change(
                    &tx,
                    &team,
                    def.as_deref(),
                    now_file.as_deref(),
                    CONFIG_FILE_ACTOR,
                    reason,
                    ChangeStatus::Applied,
                    None,
                    now_ms,
                )?);
            }
            set_in_force(&tx, &team, now_file.as_deref(), now_file.as_deref(), now_ms)?;
        }
        tx.commit()?;
        Ok(changes)
    }

    pub(super) fn change_budget_impl(
        &self,
        c: &NewBudgetChange<'_>,
    ) -> Result<BudgetChangeOutcome, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(key) = c.idempotency_key {
            if let Some(earlier) = one(
                &tx,
                "team = ?1 AND idempotency_key = ?2",
                params![c.team, key],
            )? {
                return Ok(BudgetChangeOutcome::Replayed(earlier));
            }
        }
        let (def, file_def) = in_force(&tx, c.team)?;
        let after = c.after.map(def_text);
        let status = if c.propose {
            ChangeStatus::Pending
        } else {
            ChangeStatus::Applied
        };
        let change = insert_change(
            &tx,
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
            set_in_force(&tx, c.team, after.as_deref(), file_def.as_deref(), c.now_ms)?;
        }
        tx.commit()?;
        Ok(BudgetChangeOutcome::Recorded(change))
    }

    pub(super) fn decide_budget_proposal_impl(
        &self,
        d: &BudgetDecision<'_>,
    ) -> Result<BudgetDecisionOutcome, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(proposal) = one(&tx, "id = ?1 AND team = ?2", params![d.id, d.team])? else {
            return Ok(BudgetDecisionOutcome::NotFound);
        };
        if proposal.status != ChangeStatus::Pending {
            return Ok(BudgetDecisionOutcome::AlreadyDecided(proposal));
        }
        let (def, file_def) = in_force(&tx, d.team)?;
        let status = if d.approve {
            let after = proposal.after.as_ref().map(def_text);
            set_in_force(&tx, d.team, after.as_deref(), file_def.as_deref(), d.now_ms)?;
            ChangeStatus::Approved
        } else {
            ChangeStatus::Declined
        };
        // `before` becomes what the approval replaced.
        tx.execute(
            "UPDATE budget_changes SET status = ?2, decided_by = ?3, decided_ms = ?4,
               decision_comment = ?5, before = CASE WHEN ?2 = 'approved' THEN ?6 ELSE before END
             WHERE id = ?1",
            params![d.id, status.as_str(), d.actor, d.now_ms, d.comment, def],
        )?;
        let decided = one(&tx, "id = ?1", params![d.id])?
            .ok_or_else(|| StoreError::Corrupt(format!("budget change {} vanished", d.id)))?;
        tx.commit()?;
        Ok(BudgetDecisionOutcome::Decided(decided))
    }

    pub(super) fn budget_changes_impl(
        &self,
        team: Option<&str>,
        status: Option<ChangeStatus>,
        limit: usize,
    ) -> Result<Vec<BudgetChangeRecord>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM budget_changes
             WHERE (?1 IS NULL OR team = ?1) AND (?2 IS NULL OR status = ?2)
             ORDER BY id DESC LIMIT ?3"
        ))?;
        let rows = stmt.query_map(
            params![team, status.map(ChangeStatus::as_str), limit as i64],
            row,
        )?;
        rows.map(|r| record(r?)).collect()
    }
}
