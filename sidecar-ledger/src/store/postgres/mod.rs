//! The PostgreSQL backend of [`Store`], for several ledger instances sharing one
//! database.
//!
//! * Nothing that must agree across instances lives in memory: idempotency is the
//!   `events.id` unique key, wallet and lease arithmetic happens in transactions that
//!   lock the team's `wallets` row, alerts fire once through their unique key.
//! * Every write transaction takes its row locks in one global order (wallets by
//!   team, then leases by id; a grant takes its wallet before its lease), so
//!   concurrent ledgers queue rather than deadlock. A deadlock or serialization
//!   failure the server still reports is retried a few times. Rollup rows are written
//!   only by folds, one at a time across ledgers (`fold`).
//! * Ingest stores events, wallet and lease spend and the quarantine, and marks its
//!   events pending; the rollups catch up in bulk before every read of them and every
//!   [`fold::FOLD_EVENTS`] events or second (`fold`).
//! * Commits use the server's durability settings (`synchronous_commit` on by
//!   default): `ingest` returns after the batch is durable.
//! * A blocking client (`postgres`) behind an r2d2 pool: the trait is synchronous and
//!   the HTTP layer calls it on the blocking pool.
//! * Money stays BIGINT nanodollars. Sums are computed by PostgreSQL as NUMERIC and
//!   cast back with `::BIGINT`, which raises an error on overflow instead of wrapping;
//!   rollup, wallet and lease additions are BIGINT arithmetic, which errors likewise.
//!
//! `mod.rs` only implements the trait, delegating to one child module per concept;
//! the children share the pool and transactions in [`db`] and never import this file.

mod alerts;
mod allocation_requests;
mod audit;
mod budgets;
mod cache_repeats;
mod calendar;
#[cfg(test)]
pub(crate) use alerts::CLAIM_MS;
#[cfg(test)]
pub(crate) use fold::{EVENTS_PER_STATEMENT, FOLD_EVENTS};
mod db;
mod delivery;
mod events;
mod export;
mod fold;
mod ingest;
mod insights;
mod policy;
mod quarantine;
mod reconciliation;
mod rollups;
mod spend;
mod sql_args;
mod stored_zone;
#[cfg(test)]
mod tests;
mod tokens;
mod wallets;

use tollgate_core::event::CostEvent;

pub use db::PgStore;
#[cfg(test)]
pub(crate) use db::MIGRATIONS;
use events::{event_from_row, EVENT_COLUMNS};
use sql_args::{arg_refs, push_filters, unmatchable, Args};

use crate::query::{EventsQuery, SpendQuery};
use crate::store::backend::Store;
use crate::store::error::StoreError;
use crate::store::types::{IngestBatch, IngestOutcome, RejectedEvent, SpendRow, StoredRejection};

impl Store for PgStore {
    fn ingest(&self, batch: &IngestBatch) -> Result<IngestOutcome, StoreError> {
        self.ingest_batch(batch)
    }

    fn spend_from(
        &self,
        q: &SpendQuery,
        rollups: crate::store::spend_plan::Rollups,
    ) -> Result<Vec<SpendRow>, StoreError> {
        self.settle()?;
        self.spend_impl(q, rollups)
    }

    fn recent_events(&self, q: &EventsQuery) -> Result<Vec<CostEvent>, StoreError> {
        if unmatchable(&q.filters) {
            return Ok(Vec::new());
        }
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE TRUE");
        let mut args: Args = Vec::new();
        push_filters(&mut sql, &mut args, &q.filters);
        args.push(Box::new(i64::try_from(q.limit).unwrap_or(i64::MAX)));
        sql.push_str(&format!(
            " ORDER BY ts_ms DESC, seq DESC LIMIT ${}",
            args.len()
        ));
        let rows = self.conn()?.query(&sql, &arg_refs(&args))?;
        rows.iter().map(event_from_row).collect()
    }

    fn rejected_events(&self, limit: usize) -> Result<Vec<StoredRejection>, StoreError> {
        let rows = self.conn()?.query(
            "SELECT received_ms, batch_index, raw, error FROM rejected_events
             ORDER BY seq DESC LIMIT $1",
            &[&i64::try_from(limit).unwrap_or(i64::MAX)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(StoredRejection {
                    received_ms: r.try_get(0)?,
                    event: RejectedEvent {
                        index: r.try_get::<_, i64>(1)? as usize,
                        raw: r.try_get(2)?,
                        error: r.try_get(3)?,
                    },
                })
            })
            .collect()
    }

    fn quarantine(
        &self,
        events: &[crate::store::quarantine::QuarantinedEvent],
        audit: &crate::store::audit::NewAuditEntry,
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        self.quarantine_impl(events, audit, now_ms)
    }

    fn quarantined_events(
        &self,
        limit: usize,
    ) -> Result<Vec<crate::store::quarantine::QuarantinedEvent>, StoreError> {
        self.quarantined_events_impl(limit)
    }

    fn ensure_wallet(&self, team: &str, now_ms: i64) -> Result<(), StoreError> {
        self.ensure_wallet_impl(team, now_ms)
    }

    fn allocate(
        &self,
        entry: &crate::store::wallets::NewEntry,
        now_ms: i64,
    ) -> Result<
        Option<(
            crate::store::wallets::WalletEntry,
            crate::store::wallets::WalletState,
        )>,
        StoreError,
    > {
        self.allocate_impl(entry, now_ms)
    }

    fn wallet(
        &self,
        team: &str,
        now_ms: i64,
    ) -> Result<Option<crate::store::wallets::WalletState>, StoreError> {
        self.wallet_impl(team, now_ms)
    }

    fn wallets(&self, now_ms: i64) -> Result<Vec<crate::store::wallets::WalletState>, StoreError> {
        self.wallets_impl(now_ms)
    }

    fn wallet_entries(
        &self,
        team: &str,
        limit: usize,
    ) -> Result<Vec<crate::store::wallets::WalletEntry>, StoreError> {
        self.wallet_entries_impl(team, limit)
    }

    fn lease_for(
        &self,
        holder: &crate::store::wallets::LeaseHolder<'_>,
        request: &tollgate_core::lease::LeaseRequest,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Option<tollgate_core::lease::LeaseGrant>, StoreError> {
        self.lease_impl(holder, request, now_ms, ttl_ms)
    }

    fn file_allocation_request(
        &self,
        request: &crate::store::allocation_requests::NewAllocationRequest<'_>,
    ) -> Result<crate::store::allocation_requests::FileOutcome, StoreError> {
        self.file_allocation_request_impl(request)
    }

    fn allocation_requests(
        &self,
        team: Option<&str>,
        status: Option<crate::store::allocation_requests::RequestStatus>,
        limit: usize,
    ) -> Result<Vec<crate::store::allocation_requests::AllocationRequestRecord>, StoreError> {
        self.allocation_requests_impl(team, status, limit)
    }

    fn decide_allocation_request(
        &self,
        decision: &crate::store::allocation_requests::DecisionInput<'_>,
    ) -> Result<crate::store::allocation_requests::DecideOutcome, StoreError> {
        self.decide_allocation_request_impl(decision)
    }

    fn budgets_in_force(&self) -> Result<Vec<tollgate_core::config::BudgetDef>, StoreError> {
        self.budgets_in_force_impl()
    }

    fn sync_file_budgets(
        &self,
        file: &[tollgate_core::config::BudgetDef],
        now_ms: i64,
    ) -> Result<Vec<crate::store::budgets::BudgetChangeRecord>, StoreError> {
        self.sync_file_budgets_impl(file, now_ms)
    }

    fn change_budget(
        &self,
        change: &crate::store::budgets::NewBudgetChange<'_>,
    ) -> Result<crate::store::budgets::BudgetChangeOutcome, StoreError> {
        self.change_budget_impl(change)
    }

    fn decide_budget_proposal(
        &self,
        decision: &crate::store::budgets::BudgetDecision<'_>,
    ) -> Result<crate::store::budgets::BudgetDecisionOutcome, StoreError> {
        self.decide_budget_proposal_impl(decision)
    }

    fn budget_changes(
        &self,
        team: Option<&str>,
        status: Option<crate::store::budgets::ChangeStatus>,
        limit: usize,
    ) -> Result<Vec<crate::store::budgets::BudgetChangeRecord>, StoreError> {
        self.budget_changes_impl(team, status, limit)
    }

    fn policy_set(&self) -> Result<tollgate_core::policy::PolicySet, StoreError> {
        self.policy_set_impl()
    }

    fn change_policy(
        &self,
        change: &crate::store::policy::NewPolicyChange<'_>,
        apply: crate::store::policy::ApplyChange<'_>,
    ) -> Result<crate::store::policy::PolicyChangeOutcome, StoreError> {
        self.change_policy_impl(change, apply)
    }

    fn policy_changes(
        &self,
        team: &str,
        limit: usize,
    ) -> Result<Vec<crate::store::policy::PolicyChangeRecord>, StoreError> {
        self.policy_changes_impl(team, limit)
    }

    fn reporting_zone(&self) -> Result<crate::store::types::ReportingZone, StoreError> {
        self.reporting_zone_impl()
    }

    fn set_reporting_zone(
        &self,
        calendar: &crate::calendar::ReportingCalendar,
        actor: &str,
        now_ms: i64,
    ) -> Result<crate::store::types::ZoneChange, StoreError> {
        self.set_reporting_zone_impl(calendar, actor, now_ms)
    }

    fn refusals(
        &self,
        query: &crate::store::types::RefusalQuery,
        calendar: &crate::calendar::ReportingCalendar,
    ) -> Result<Vec<crate::store::types::RefusalRow>, StoreError> {
        self.refusals_impl(query, calendar)
    }

    fn unpriced_requests(
        &self,
        query: &crate::store::types::RefusalQuery,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        self.unpriced_requests_impl(query)
    }

    fn repeat_misses(
        &self,
        from_ms: i64,
        to_ms: i64,
        team: Option<&str>,
    ) -> Result<Vec<crate::store::cache_repeats::RepeatMisses>, StoreError> {
        self.repeat_misses_impl(from_ms, to_ms, team)
    }

    fn delivery_gaps(
        &self,
        since_ms: i64,
    ) -> Result<Vec<crate::store::types::DeliveryGap>, StoreError> {
        self.delivery_gaps_impl(since_ms)
    }

    fn holds(
        &self,
        team: &str,
        now_ms: i64,
    ) -> Result<Vec<crate::store::wallets::Hold>, StoreError> {
        self.holds_impl(team, now_ms)
    }

    fn resolve_hold(
        &self,
        resolution: &crate::store::wallets::HoldResolution,
        now_ms: i64,
    ) -> Result<Option<crate::store::wallets::Hold>, StoreError> {
        self.resolve_hold_impl(resolution, now_ms)
    }

    fn daily_spend(
        &self,
        teams: &[String],
        from_day: i64,
        to_day: i64,
    ) -> Result<std::collections::HashMap<String, Vec<i64>>, StoreError> {
        self.settle()?;
        self.daily_spend_impl(teams, from_day, to_day)
    }

    fn record_alert_to(
        &self,
        alert: &crate::store::alerts::NewAlert,
        facts: &crate::store::alerts::AlertFacts,
        targets: &[crate::store::alerts::DeliveryTarget],
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.record_alert_impl(alert, facts, targets, now_ms)
    }

    fn due_deliveries(
        &self,
        now_ms: i64,
    ) -> Result<
        Vec<(
            crate::store::alerts::DeliveryRecord,
            crate::store::alerts::AlertRecord,
        )>,
        StoreError,
    > {
        self.due_deliveries_impl(now_ms)
    }

    fn finish_delivery(
        &self,
        id: i64,
        outcome: Result<(), String>,
        now_ms: i64,
        max_attempts: i64,
    ) -> Result<(), StoreError> {
        self.finish_delivery_impl(id, outcome, now_ms, max_attempts)
    }

    fn alert_page(
        &self,
        query: &crate::store::alerts::AlertQuery,
    ) -> Result<Vec<crate::store::alerts::AlertRecord>, StoreError> {
        self.alert_page_impl(query)
    }

    fn alert(&self, id: i64) -> Result<Option<crate::store::alerts::AlertRecord>, StoreError> {
        self.alert_impl(id)
    }

    fn acknowledge_alert(
        &self,
        ack: &crate::store::alerts::NewAck<'_>,
    ) -> Result<crate::store::alerts::AckOutcome, StoreError> {
        self.acknowledge_alert_impl(ack)
    }

    fn alert_channels(
        &self,
        team: Option<&str>,
    ) -> Result<Vec<crate::store::alerts::ChannelRecord>, StoreError> {
        self.alert_channels_impl(team)
    }

    fn add_alert_channel(
        &self,
        channel: &crate::store::alerts::NewChannel<'_>,
    ) -> Result<crate::store::alerts::AddChannelOutcome, StoreError> {
        self.add_alert_channel_impl(channel)
    }

    fn remove_alert_channel(
        &self,
        team: &str,
        id: i64,
        actor: &str,
        now_ms: i64,
    ) -> Result<crate::store::alerts::RemoveChannelOutcome, StoreError> {
        self.remove_alert_channel_impl(team, id, actor, now_ms)
    }

    fn for_each_event(
        &self,
        scope: &crate::store::export::ExportScope,
        sink: &mut dyn FnMut(CostEvent) -> std::ops::ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.for_each_event_impl(scope, sink)
    }

    fn for_each_period_row(
        &self,
        scope: &crate::store::export::ExportScope,
        period: crate::store::export::Period,
        by_cache: bool,
        sink: &mut dyn FnMut(crate::store::export::PeriodRow) -> std::ops::ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.settle()?;
        self.for_each_period_row_impl(scope, period, by_cache, sink)
    }

    fn premium_lanes(
        &self,
        scope: &crate::store::export::ExportScope,
    ) -> Result<Vec<String>, StoreError> {
        self.premium_lanes_impl(scope)
    }

    fn period_billing_extras(
        &self,
        scope: &crate::store::export::ExportScope,
        period: crate::store::export::Period,
    ) -> Result<Vec<crate::store::export::PeriodExtrasRow>, StoreError> {
        self.period_billing_extras_impl(scope, period)
    }

    fn insight_rows(
        &self,
        query: &crate::store::insights::InsightQuery,
    ) -> Result<Vec<SpendRow>, StoreError> {
        self.settle()?;
        self.insight_rows_impl(query)
    }

    fn create_token(
        &self,
        token: &crate::store::tokens::NewToken,
        now_ms: i64,
    ) -> Result<crate::store::tokens::TokenRecord, StoreError> {
        self.create_token_impl(token, now_ms)
    }

    fn tokens(&self) -> Result<Vec<crate::store::tokens::TokenRecord>, StoreError> {
        self.tokens_impl()
    }

    fn token_by_hash(
        &self,
        sha256: &str,
    ) -> Result<Option<crate::store::tokens::TokenRecord>, StoreError> {
        self.token_by_hash_impl(sha256)
    }

    fn revoke_token(&self, id: i64, now_ms: i64) -> Result<bool, StoreError> {
        self.revoke_token_impl(id, now_ms)
    }

    fn record_audit(
        &self,
        entry: &crate::store::audit::NewAuditEntry,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        self.record_audit_impl(entry, now_ms)
    }

    fn audit_log(
        &self,
        limit: usize,
        before_id: Option<i64>,
    ) -> Result<Vec<crate::store::audit::AuditEntry>, StoreError> {
        self.audit_log_impl(limit, before_id)
    }

    fn import_report_lines(
        &self,
        lines: &[crate::store::reconciliation::ProviderLine],
        source: &str,
        now_ms: i64,
    ) -> Result<crate::store::reconciliation::ImportOutcome, StoreError> {
        self.import_report_lines_impl(lines, source, now_ms)
    }

    fn report_lines(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<crate::store::reconciliation::ProviderLine>, StoreError> {
        self.report_lines_impl(from_ms, to_ms)
    }

    fn record_adjustments(
        &self,
        adjustments: &[crate::store::reconciliation::NewAdjustment],
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        self.record_adjustments_impl(adjustments, now_ms)
    }

    fn adjustments(
        &self,
        from_ms: i64,
        to_ms: i64,
        team: Option<&str>,
    ) -> Result<Vec<crate::store::reconciliation::Adjustment>, StoreError> {
        self.adjustments_impl(from_ms, to_ms, team)
    }
}
