//! Allocation requests on SQLite: filed with their evidence, decided once; an approval
//! writes its wallet grant in the same transaction on the single writer.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::db::SqliteStore;
use super::wallets::{insert_entry, state};
use crate::store::allocation_requests::{
    AllocationRequestRecord, DecideOutcome, Decision, DecisionInput, FileOutcome,
    NewAllocationRequest, RequestStatus,
};
use crate::store::error::StoreError;
use crate::store::wallets::{EntryKind, NewEntry};

const COLUMNS: &str =
    "id, team, amount_nanos, reason, requested_by, requested_ms, evidence, status,
    decided_by, decided_ms, approved_nanos, decision_comment, wallet_entry_id";

type Row = (
    (i64, String, i64, String, String, i64, String),
    (
        String,
        Option<String>,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<i64>,
    ),
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
            r.get(6)?,
        ),
        (
            r.get(7)?,
            r.get(8)?,
            r.get(9)?,
            r.get(10)?,
            r.get(11)?,
            r.get(12)?,
        ),
    ))
}

fn record(
    ((id, team, amount_nanos, reason, requested_by, requested_ms, evidence), rest): Row,
) -> Result<AllocationRequestRecord, StoreError> {
    let (status, decided_by, decided_ms, approved_nanos, decision_comment, wallet_entry_id) = rest;
    Ok(AllocationRequestRecord {
        id,
        team,
        amount_nanos,
        reason,
        requested_by,
        requested_ms,
        evidence: serde_json::from_str(&evidence)
            .map_err(|e| StoreError::Corrupt(format!("allocation request {id} evidence: {e}")))?,
        status: RequestStatus::parse(&status).ok_or_else(|| {
            StoreError::Corrupt(format!("allocation request {id} status '{status}'"))
        })?,
        decided_by,
        decided_ms,
        approved_nanos,
        decision_comment,
        wallet_entry_id,
    })
}

fn one(
    conn: &rusqlite::Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Option<AllocationRequestRecord>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM allocation_requests WHERE {filter}"),
        args,
        row,
    )
    .optional()?
    .map(record)
    .transpose()
}

impl SqliteStore {
    pub(super) fn file_allocation_request_impl(
        &self,
        r: &NewAllocationRequest<'_>,
    ) -> Result<FileOutcome, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(key) = r.idempotency_key {
            if let Some(earlier) = one(
                &tx,
                "team = ?1 AND idempotency_key = ?2",
                params![r.team, key],
            )? {
                return Ok(FileOutcome::Replayed(earlier));
            }
        }
        tx.execute(
            "INSERT INTO allocation_requests
               (team, amount_nanos, reason, requested_by, requested_ms, evidence, idempotency_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                r.team,
                r.amount_nanos,
                r.reason,
                r.requested_by,
                r.now_ms,
                r.evidence.to_string(),
                r.idempotency_key
            ],
        )?;
        let id = tx.last_insert_rowid();
        let filed = one(&tx, "id = ?1", params![id])?
            .ok_or_else(|| StoreError::Corrupt(format!("allocation request {id} vanished")))?;
        tx.commit()?;
        Ok(FileOutcome::Filed(filed))
    }

    pub(super) fn allocation_requests_impl(
        &self,
        team: Option<&str>,
        status: Option<RequestStatus>,
        limit: usize,
    ) -> Result<Vec<AllocationRequestRecord>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM allocation_requests
             WHERE (?1 IS NULL OR team = ?1) AND (?2 IS NULL OR status = ?2)
             ORDER BY id DESC LIMIT ?3"
        ))?;
        let rows = stmt.query_map(
            params![team, status.map(RequestStatus::as_str), limit as i64],
            row,
        )?;
        rows.map(|r| record(r?)).collect()
    }

    pub(super) fn decide_allocation_request_impl(
        &self,
        d: &DecisionInput<'_>,
    ) -> Result<DecideOutcome, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(request) = one(&tx, "id = ?1 AND team = ?2", params![d.id, d.team])? else {
            return Ok(DecideOutcome::NotFound);
        };
        if request.status != RequestStatus::Pending {
            return Ok(DecideOutcome::AlreadyDecided(request));
        }
        let amount_nanos = match d.decision {
            Decision::Approve { amount_nanos } => {
                Some(amount_nanos.unwrap_or(request.amount_nanos))
            }
            Decision::Decline => None,
        };
        let grant = match amount_nanos {
            None => None,
            Some(amount_nanos) => {
                if state(&tx, d.team, d.now_ms)?.is_none() {
                    return Ok(DecideOutcome::NoWallet);
                }
                let entry = insert_entry(
                    &tx,
                    &NewEntry {
                        team: d.team.to_string(),
                        kind: EntryKind::TopUp,
                        amount_nanos,
                        actor: d.actor.to_string(),
                        reason: format!("allocation request #{}: {}", d.id, request.reason),
                        idempotency_key: Some(format!("allocation-request:{}", d.id)),
                    },
                    d.now_ms,
                )?;
                let wallet = state(&tx, d.team, d.now_ms)?
                    .ok_or_else(|| StoreError::Corrupt(format!("wallet {} vanished", d.team)))?;
                Some((entry, wallet))
            }
        };
        let (status, approved) = match amount_nanos {
            Some(granted) => (RequestStatus::Approved, Some(granted)),
            None => (RequestStatus::Declined, None),
        };
        tx.execute(
            "UPDATE allocation_requests SET status = ?2, decided_by = ?3, decided_ms = ?4,
               approved_nanos = ?5, decision_comment = ?6, wallet_entry_id = ?7
             WHERE id = ?1 AND status = 'pending'",
            params![
                d.id,
                status.as_str(),
                d.actor,
                d.now_ms,
                approved,
                d.comment,
                grant.as_ref().map(|(e, _)| e.id)
            ],
        )?;
        let decided = one(&tx, "id = ?1", params![d.id])?
            .ok_or_else(|| StoreError::Corrupt(format!("allocation request {} vanished", d.id)))?;
        tx.commit()?;
        Ok(DecideOutcome::Decided(decided, grant))
    }
}
