//! Ingest on SQLite: a batch (or a group of batches, see `group_commit`) stored in one
//! IMMEDIATE transaction with its wallet and lease spend and its quarantined events.

use std::collections::HashMap;

use rusqlite::{params, Connection, TransactionBehavior};

use super::events::{
    event_sums, overflow, tokens_i64, ADD_LEASE_SPEND, ADD_WALLET_SPEND, CLOSE_LEASE, INSERT_EVENT,
    INSERT_REJECTED, RECORD_DROPS,
};
use super::fold::{fold_after_ingest, fold_due, FoldState};
use super::group_commit::Outcomes;
use crate::store::error::StoreError;
use crate::store::event_text;
use crate::store::types::{IngestBatch, IngestOutcome};

/// Stores a group of batches in one transaction; if that fails, each batch alone in
/// its own, so a batch that cannot be stored fails by itself.
pub(super) fn ingest_group(
    conn: &mut Connection,
    batches: &[&IngestBatch],
    fold: &FoldState,
) -> Outcomes {
    match ingest_batches(conn, batches, fold) {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(e) if batches.len() == 1 => vec![Err(e)],
        Err(_) => batches
            .iter()
            .map(|b| ingest_batches(conn, &[b], fold).map(|o| o[0]))
            .collect(),
    }
}

/// Stores the batches in one transaction: new events, wallet and lease spend, and the
/// quarantined events; the rollups follow in bulk (see `sqlite::fold`). One outcome per
/// batch.
pub(super) fn ingest_batches(
    conn: &mut Connection,
    batches: &[&IngestBatch],
    fold: &FoldState,
) -> Result<Vec<IngestOutcome>, StoreError> {
    let remembered = fold.remembered();
    let result = store_batches(conn, batches, fold);
    if result.is_err() {
        // Rolled back: those events were not stored.
        fold.forget_after(remembered);
    }
    result
}

fn store_batches(
    conn: &mut Connection,
    batches: &[&IngestBatch],
    fold: &FoldState,
) -> Result<Vec<IngestOutcome>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes = vec![IngestOutcome::default(); batches.len()];
    // Wallet and lease spend of the inserted events, applied once per key.
    let mut team_spend: HashMap<&str, i64> = HashMap::new();
    let mut lease_spend: HashMap<u64, i64> = HashMap::new();
    {
        let mut insert = tx.prepare_cached(INSERT_EVENT)?;
        let events = batches
            .iter()
            .enumerate()
            .flat_map(|(i, b)| b.events.iter().map(move |e| (i, e)));
        for (i, e) in events {
            let sums = event_sums(e)?;
            let inserted = insert.execute(params![
                e.id,
                e.ts_ms,
                e.consumer_group,
                e.team,
                e.user,
                e.workflow,
                event_text::api_str(e.api),
                e.provider,
                e.lane,
                e.model_requested,
                e.model_served,
                sums.input_tokens,
                sums.cached_input_tokens,
                sums.cache_write_tokens,
                sums.output_tokens,
                event_text::usage_source_str(e.usage_source),
                e.cost_nanos,
                e.unpriced,
                event_text::outcome_str(e.outcome),
                e.http_status,
                e.reason,
                e.latency_ms,
                e.stream,
                event_text::cache_str(e.cache),
                e.cost_avoided_nanos,
                e.premium,
                e.premium_approved,
                batches[i].received_ms,
                e.lease_id.map(|l| l as i64),
                e.wallet_unchecked,
                e.near_repeat,
                tokens_i64(e.tokens.cache_write_1h)?,
                tokens_i64(e.web_search_calls)?,
                e.tool_cost_nanos,
                e.service_tier,
                e.priced_by,
            ])?;
            // 0 rows: the id is already stored (a retry, or twice in this group).
            if inserted == 1 {
                fold.inserted(tx.last_insert_rowid(), e);
                outcomes[i].accepted += 1;
                let team = team_spend.entry(e.team.as_str()).or_insert(0);
                *team = team.checked_add(e.cost_nanos).ok_or_else(overflow)?;
                if let Some(lease) = e.lease_id {
                    *lease_spend.entry(lease).or_insert(0) += e.cost_nanos;
                }
            }
        }

        // A wallet first seen here is dated by the group's first batch.
        let created_ms = batches.first().map_or(0, |b| b.received_ms);
        let mut wallet = tx.prepare_cached(ADD_WALLET_SPEND)?;
        for (team, cost) in &team_spend {
            wallet.execute(params![team, cost, created_ms])?;
        }
        let mut lease = tx.prepare_cached(ADD_LEASE_SPEND)?;
        for (id, cost) in &lease_spend {
            lease.execute(params![*id as i64, cost, created_ms])?;
        }
        let mut gap = tx.prepare_cached(RECORD_DROPS)?;
        for batch in batches {
            for d in &batch.drops {
                gap.execute(params![
                    d.instance,
                    d.first_ms,
                    d.last_ms,
                    d.count as i64,
                    batch.received_ms
                ])?;
            }
        }
        // After the events: a lease's closing sees the spend they brought.
        let mut close = tx.prepare_cached(CLOSE_LEASE)?;
        for batch in batches {
            for c in &batch.lease_closures {
                close.execute(params![
                    c.lease_id as i64,
                    c.team,
                    c.instance,
                    c.unused_nanos,
                    batch.received_ms
                ])?;
            }
        }

        let mut quarantine = tx.prepare_cached(INSERT_REJECTED)?;
        for batch in batches {
            for r in &batch.rejected {
                quarantine.execute(params![batch.received_ms, r.index as i64, r.error, r.raw])?;
            }
        }
    }
    let fold_due = fold_due(&tx, fold)?;
    tx.commit()?;
    if fold_due {
        fold_after_ingest(conn, fold);
    }
    for (o, b) in outcomes.iter_mut().zip(batches) {
        o.duplicates = b.events.len() - o.accepted;
    }
    Ok(outcomes)
}
