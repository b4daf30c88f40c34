//! Allocation requests on PostgreSQL: filed with their evidence, decided once (the
//! request row is locked, so two approvers racing from two ledgers grant once); an
//! approval writes its wallet grant in the same transaction.

use postgres::GenericClient;

use super::db::PgStore;
use super::sql_args::has_nul;
use super::wallets::{insert_entry, lock_wallet, state};
use crate::store::allocation_requests::{
    AllocationRequestRecord, DecideOutcome, Decision, DecisionInput, FileOutcome,
    NewAllocationRequest, RequestStatus,
};
use crate::store::error::StoreError;
use crate::store::wallets::{EntryKind, NewEntry};

const COLUMNS: &str =
    "id, team, amount_nanos, reason, requested_by, requested_ms, evidence, status,
    decided_by, decided_ms, approved_nanos, decision_comment, wallet_entry_id";

fn record(r: &postgres::Row) -> Result<AllocationRequestRecord, StoreError> {
    let id: i64 = r.try_get(0)?;
    let evidence: String = r.try_get(6)?;
    let status: String = r.try_get(7)?;
    Ok(AllocationRequestRecord {
        id,
        team: r.try_get(1)?,
        amount_nanos: r.try_get(2)?,
        reason: r.try_get(3)?,
        requested_by: r.try_get(4)?,
        requested_ms: r.try_get(5)?,
        evidence: serde_json::from_str(&evidence)
            .map_err(|e| StoreError::Corrupt(format!("allocation request {id} evidence: {e}")))?,
        status: RequestStatus::parse(&status).ok_or_else(|| {
            StoreError::Corrupt(format!("allocation request {id} status '{status}'"))
        })?,
        decided_by: r.try_get(8)?,
        decided_ms: r.try_get(9)?,
        approved_nanos: r.try_get(10)?,
        decision_comment: r.try_get(11)?,
        wallet_entry_id: r.try_get(12)?,
    })
}

fn one(
    client: &mut impl GenericClient,
    filter: &str,
    args: &[&(dyn postgres::types::ToSql + Sync)],
) -> Result<Option<AllocationRequestRecord>, StoreError> {
    client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM allocation_requests WHERE {filter}"),
            args,
        )?
        .as_ref()
        .map(record)
        .transpose()
}

impl PgStore {
    pub(super) fn file_allocation_request_impl(
        &self,
        r: &NewAllocationRequest<'_>,
    ) -> Result<FileOutcome, StoreError> {
        if [r.team, r.reason, r.requested_by]
            .into_iter()
            .chain(r.idempotency_key)
            .any(has_nul)
        {
            return Err(StoreError::Refused("text must not contain U+0000".into()));
        }
        let evidence = r.evidence.to_string();
        self.write(|tx| {
            let inserted = tx.query_opt(
                "INSERT INTO allocation_requests
                   (team, amount_nanos, reason, requested_by, requested_ms, evidence, idempotency_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (team, idempotency_key) DO NOTHING
                 RETURNING id",
                &[&r.team, &r.amount_nanos, &r.reason, &r.requested_by, &r.now_ms, &evidence, &r.idempotency_key],
            )?;
            Ok(match inserted {
                Some(row) => {
                    let id: i64 = row.try_get(0)?;
                    FileOutcome::Filed(one(tx, "id = $1", &[&id])?.ok_or_else(|| {
                        StoreError::Corrupt(format!("allocation request {id} vanished"))
                    })?)
                }
                None => FileOutcome::Replayed(
                    one(tx, "team = $1 AND idempotency_key = $2", &[&r.team, &r.idempotency_key])?
                        .ok_or_else(|| StoreError::Corrupt("idempotent request vanished".into()))?,
                ),
            })
        })
    }

    pub(super) fn allocation_requests_impl(
        &self,
        team: Option<&str>,
        status: Option<RequestStatus>,
        limit: usize,
    ) -> Result<Vec<AllocationRequestRecord>, StoreError> {
        if team.is_some_and(has_nul) {
            return Ok(Vec::new());
        }
        self.conn()?
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM allocation_requests
                     WHERE ($1::TEXT IS NULL OR team = $1) AND ($2::TEXT IS NULL OR status = $2)
                     ORDER BY id DESC LIMIT $3"
                ),
                &[&team, &status.map(RequestStatus::as_str), &(limit as i64)],
            )?
            .iter()
            .map(record)
            .collect()
    }

    pub(super) fn decide_allocation_request_impl(
        &self,
        d: &DecisionInput<'_>,
    ) -> Result<DecideOutcome, StoreError> {
        if [d.team, d.actor].into_iter().chain(d.comment).any(has_nul) {
            return Err(StoreError::Refused("text must not contain U+0000".into()));
        }
        self.write(|tx| {
            let Some(request) = one(tx, "id = $1 AND team = $2 FOR UPDATE", &[&d.id, &d.team])?
            else {
                return Ok(DecideOutcome::NotFound);
            };
            if request.status != RequestStatus::Pending {
                return Ok(DecideOutcome::AlreadyDecided(request));
            }
            let (status, approved, grant) = match d.decision {
                Decision::Decline => (RequestStatus::Declined, None, None),
                Decision::Approve { amount_nanos } => {
                    let amount_nanos = amount_nanos.unwrap_or(request.amount_nanos);
                    if !lock_wallet(tx, d.team)? {
                        return Ok(DecideOutcome::NoWallet);
                    }
                    let entry = insert_entry(
                        tx,
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
                    let wallet = state(tx, d.team, d.now_ms)?.ok_or_else(|| {
                        StoreError::Corrupt(format!("wallet {} vanished", d.team))
                    })?;
                    (
                        RequestStatus::Approved,
                        Some(amount_nanos),
                        Some((entry, wallet)),
                    )
                }
            };
            tx.execute(
                "UPDATE allocation_requests SET status = $2, decided_by = $3, decided_ms = $4,
                   approved_nanos = $5, decision_comment = $6, wallet_entry_id = $7
                 WHERE id = $1",
                &[
                    &d.id,
                    &status.as_str(),
                    &d.actor,
                    &d.now_ms,
                    &approved,
                    &d.comment,
                    &grant
                        .as_ref()
                        .map(|(e, _): &(crate::store::wallets::WalletEntry, _)| e.id),
                ],
            )?;
            let decided = one(tx, "id = $1", &[&d.id])?.ok_or_else(|| {
                StoreError::Corrupt(format!("allocation request {} vanished", d.id))
            })?;
            Ok(DecideOutcome::Decided(decided, grant))
        })
    }
}
