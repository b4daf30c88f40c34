//! Ingest on PostgreSQL: a batch's new events, wallet and lease spend and quarantine
//! in one transaction, its events marked pending for the next fold.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::db::PgStore;
use super::events::{
    batch_positions, event_has_nul, event_sums, overflow, storable_text, EventColumns,
    ADD_LEASE_SPEND, ADD_WALLET_SPEND, CLOSE_LEASE, INSERT_REJECTED, RECORD_DROPS,
};
use super::sql_args::has_nul;
use crate::store::error::StoreError;
use crate::store::types::{IngestBatch, IngestOutcome};

impl PgStore {
    pub(super) fn ingest_batch(&self, batch: &IngestBatch) -> Result<IngestOutcome, StoreError> {
        // Events PostgreSQL cannot store (text with U+0000) join the quarantine rather
        // than failing the batch, which its sender would retry forever.
        let mut quarantine: Vec<(i64, String, String)> = batch
            .rejected
            .iter()
            .map(|r| {
                (
                    r.index as i64,
                    storable_text(&r.error),
                    storable_text(&r.raw),
                )
            })
            .collect();
        let mut unstorable = 0;
        let mut columns = EventColumns::default();
        let mut seen = HashSet::new();
        let mut candidates = Vec::with_capacity(batch.events.len());
        let positions = batch_positions(batch);
        for (e, position) in batch.events.iter().zip(positions) {
            if event_has_nul(e) {
                unstorable += 1;
                quarantine.push((
                    position as i64,
                    "a text field contains U+0000, which PostgreSQL cannot store".into(),
                    serde_json::to_string(e).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                ));
                continue;
            }
            // The same id twice in one batch: the first one is the event.
            if !seen.insert(e.id.as_str()) {
                continue;
            }
            let sums = event_sums(e)?;
            columns.push(e, &sums);
            candidates.push((e, sums));
        }
        if unstorable > 0 {
            tracing::warn!(
                events = unstorable,
                "quarantined cost events with U+0000 in a text field"
            );
        }
        quarantine.sort_by_key(|q| q.0);

        let inserted = self.write(|tx| {
            let inserted = if candidates.is_empty() {
                HashMap::new()
            } else {
                columns.insert(tx, batch.received_ms)?
            };
            // The rollups follow in bulk (`postgres::fold`): this transaction only says
            // which events it stored.
            super::fold::mark_pending(tx, inserted.values().copied().collect())?;
            let mut team_spend: BTreeMap<&str, i64> = BTreeMap::new();
            let mut lease_spend: BTreeMap<u64, i64> = BTreeMap::new();
            for (e, _) in &candidates {
                if !inserted.contains_key(&e.id) {
                    continue;
                }
                let team = team_spend.entry(e.team.as_str()).or_insert(0);
                *team = team.checked_add(e.cost_nanos).ok_or_else(overflow)?;
                if let Some(lease) = e.lease_id {
                    let l = lease_spend.entry(lease).or_insert(0);
                    *l = l.checked_add(e.cost_nanos).ok_or_else(overflow)?;
                }
            }
            if !team_spend.is_empty() {
                let teams: Vec<&str> = team_spend.keys().copied().collect();
                let spent: Vec<i64> = team_spend.values().copied().collect();
                tx.execute(ADD_WALLET_SPEND, &[&teams, &spent, &batch.received_ms])?;
            }
            for (id, cost) in &lease_spend {
                tx.execute(ADD_LEASE_SPEND, &[&(*id as i64), cost, &batch.received_ms])?;
            }
            for d in &batch.drops {
                if has_nul(&d.instance) {
                    continue;
                }
                tx.execute(
                    RECORD_DROPS,
                    &[
                        &d.instance,
                        &d.first_ms,
                        &d.last_ms,
                        &(d.count as i64),
                        &batch.received_ms,
                    ],
                )?;
            }
            // After the events: a lease's closing sees the spend they brought.
            for c in &batch.lease_closures {
                if has_nul(&c.team) || has_nul(&c.instance) {
                    continue;
                }
                tx.execute(
                    CLOSE_LEASE,
                    &[
                        &(c.lease_id as i64),
                        &c.team,
                        &c.instance,
                        &c.unused_nanos,
                        &batch.received_ms,
                    ],
                )?;
            }
            if !quarantine.is_empty() {
                let index: Vec<i64> = quarantine.iter().map(|q| q.0).collect();
                let error: Vec<&str> = quarantine.iter().map(|q| q.1.as_str()).collect();
                let raw: Vec<&str> = quarantine.iter().map(|q| q.2.as_str()).collect();
                tx.execute(INSERT_REJECTED, &[&batch.received_ms, &index, &error, &raw])?;
            }
            Ok(inserted)
        })?;
        // Committed: the next fold may use these copies instead of reading them back.
        self.fold_clock().remember(
            candidates
                .iter()
                .filter_map(|(e, _)| inserted.get(&e.id).map(|seq| (*seq, *e))),
        );
        let accepted = inserted.len();
        self.fold_if_due(accepted);
        Ok(IngestOutcome {
            accepted,
            duplicates: batch.events.len() - unstorable - accepted,
        })
    }
}
