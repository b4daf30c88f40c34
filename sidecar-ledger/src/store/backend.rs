//! The trait every storage backend implements: everything the rest of the ledger knows
//! about persistence.

use std::collections::HashMap;
use std::ops::ControlFlow;

use tollgate_core::event::CostEvent;
use tollgate_core::lease::{LeaseGrant, LeaseRequest};

use super::alerts::{
    AckOutcome, AddChannelOutcome, AlertFacts, AlertQuery, AlertRecord, ChannelRecord,
    DeliveryRecord, DeliveryTarget, NewAck, NewAlert, NewChannel, RemoveChannelOutcome,
};
use tollgate_core::config::BudgetDef;
use tollgate_core::policy::PolicySet;

use super::allocation_requests::{
    AllocationRequestRecord, DecideOutcome, DecisionInput, FileOutcome, NewAllocationRequest,
    RequestStatus,
};
use super::budgets::{
    BudgetChangeOutcome, BudgetChangeRecord, BudgetDecision, BudgetDecisionOutcome, ChangeStatus,
    NewBudgetChange,
};
use super::error::StoreError;
use super::export::{ExportScope, Period, PeriodExtrasRow, PeriodRow};
use super::insights::InsightQuery;
use super::policy::{ApplyChange, NewPolicyChange, PolicyChangeOutcome, PolicyChangeRecord};
use super::spend_plan::Rollups;
use super::tokens::{NewToken, TokenRecord};
use super::types::{
    DeliveryGap, IngestBatch, IngestOutcome, RefusalQuery, RefusalRow, ReportingZone, SpendRow,
    StoredRejection, ZoneChange,
};
use super::wallets::{Hold, HoldResolution, LeaseHolder, NewEntry, WalletEntry, WalletState};
use crate::calendar::ReportingCalendar;
use crate::query::{EventsQuery, SpendQuery};

/// The ledger's persistence. Implementations must make `ingest` atomic and durable
/// before returning (the HTTP acknowledgement is the sender's licence to forget the
/// batch) and idempotent by event id.
pub trait Store: Send + Sync + 'static {
    /// Stores a batch: new events, their rollups and the quarantined events, all in
    /// one transaction. Events whose id is already stored are counted as duplicates
    /// and change nothing.
    fn ingest(&self, batch: &IngestBatch) -> Result<IngestOutcome, StoreError>;

    /// [`Store::ingest`] for a caller that can lend the batch: SQLite writes batches
    /// that arrive together in one transaction (see `group_commit`). Same guarantees,
    /// per batch; the batch comes back with its outcome.
    fn ingest_owned(&self, batch: IngestBatch) -> (IngestBatch, Result<IngestOutcome, StoreError>) {
        let outcome = self.ingest(&batch);
        (batch, outcome)
    }

    /// Spend grouped and filtered as asked, from the coarsest rollups that answer it
    /// exactly (see [`super::spend_plan`]). Rows ordered by cost descending, then by key.
    fn spend(&self, query: &SpendQuery) -> Result<Vec<SpendRow>, StoreError> {
        self.spend_from(query, Rollups::Coarsest)
    }

    /// [`Store::spend`], from the rollups asked for: `FineOnly` is the reference the
    /// coarser rollups must equal to the nanodollar.
    fn spend_from(&self, query: &SpendQuery, rollups: Rollups)
        -> Result<Vec<SpendRow>, StoreError>;

    /// Most recent events first.
    fn recent_events(&self, query: &EventsQuery) -> Result<Vec<CostEvent>, StoreError>;

    /// Events quarantined so far, newest first (for operators and tests).
    fn rejected_events(&self, limit: usize) -> Result<Vec<StoredRejection>, StoreError>;

    /// Stores events that failed the checks against the configuration, once per event
    /// id, and records `audit` in the same transaction when any was new. Returns how
    /// many were new.
    fn quarantine(
        &self,
        events: &[crate::store::quarantine::QuarantinedEvent],
        audit: &crate::store::audit::NewAuditEntry,
        now_ms: i64,
    ) -> Result<usize, StoreError>;

    /// Quarantined events, most recently received first.
    fn quarantined_events(
        &self,
        limit: usize,
    ) -> Result<Vec<crate::store::quarantine::QuarantinedEvent>, StoreError>;

    /// Creates the team's wallet if it does not exist (empty).
    fn ensure_wallet(&self, team: &str, now_ms: i64) -> Result<(), StoreError>;

    /// Records an allocation change. `None` if the wallet does not exist. With an
    /// idempotency key already used, nothing changes and the original entry returns.
    fn allocate(
        &self,
        entry: &NewEntry,
        now_ms: i64,
    ) -> Result<Option<(WalletEntry, WalletState)>, StoreError>;

    fn wallet(&self, team: &str, now_ms: i64) -> Result<Option<WalletState>, StoreError>;

    fn wallets(&self, now_ms: i64) -> Result<Vec<WalletState>, StoreError>;

    /// The wallet's allocation history, newest first.
    fn wallet_entries(&self, team: &str, limit: usize) -> Result<Vec<WalletEntry>, StoreError>;

    /// Grants credit to an instance's lease (see `tollgate_core::lease`), each
    /// instance its own holder with the default share. Must be atomic with respect to
    /// every other grant and ingest, so two instances can never both be granted the
    /// same credit. `None` if the wallet does not exist.
    #[cfg(test)]
    fn lease(
        &self,
        request: &LeaseRequest,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Option<LeaseGrant>, StoreError> {
        let holder = LeaseHolder {
            name: &request.instance,
            share_percent: tollgate_core::lease::DEFAULT_HOLDER_SHARE_PERCENT,
        };
        self.lease_for(&holder, request, now_ms, ttl_ms)
    }

    /// [`Store::lease`] for `holder`: while another holder draws on the wallet, this
    /// one's live leases stay within its share of the wallet's credit.
    fn lease_for(
        &self,
        holder: &LeaseHolder<'_>,
        request: &LeaseRequest,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Option<LeaseGrant>, StoreError>;

    /// Every team's runtime policy, with the document's version.
    fn policy_set(&self) -> Result<PolicySet, StoreError>;

    /// Applies a change to the team's policy in one transaction: records it with its
    /// actor and reason, calls `apply` with the team's current policy and the change's
    /// id, and stores the result as the new version. A refusal stores nothing.
    fn change_policy(
        &self,
        change: &NewPolicyChange<'_>,
        apply: ApplyChange<'_>,
    ) -> Result<PolicyChangeOutcome, StoreError>;

    /// Files an allocation request (or, for a known idempotency key, answers with the
    /// request already filed).
    fn file_allocation_request(
        &self,
        request: &NewAllocationRequest<'_>,
    ) -> Result<FileOutcome, StoreError>;

    /// Allocation requests, newest first: one team's or every team's, of one status or
    /// any.
    fn allocation_requests(
        &self,
        team: Option<&str>,
        status: Option<RequestStatus>,
        limit: usize,
    ) -> Result<Vec<AllocationRequestRecord>, StoreError>;

    /// Decides a pending request; an approval writes the wallet grant (idempotency key
    /// `allocation-request:{id}`) in the same transaction.
    fn decide_allocation_request(
        &self,
        decision: &DecisionInput<'_>,
    ) -> Result<DecideOutcome, StoreError>;

    /// Every budget in force, by team.
    fn budgets_in_force(&self) -> Result<Vec<BudgetDef>, StoreError>;

    /// Brings the config file's budgets in: a team whose budget in the file differs
    /// from the file's as last read gets the file's (recorded as a change by the
    /// config file); any other keeps the budget in force. Returns the changes made.
    fn sync_file_budgets(
        &self,
        file: &[BudgetDef],
        now_ms: i64,
    ) -> Result<Vec<BudgetChangeRecord>, StoreError>;

    /// Applies a change to a team's budget, or records it as a proposal.
    fn change_budget(
        &self,
        change: &NewBudgetChange<'_>,
    ) -> Result<BudgetChangeOutcome, StoreError>;

    /// Approves (applies) or declines a pending proposal.
    fn decide_budget_proposal(
        &self,
        decision: &BudgetDecision<'_>,
    ) -> Result<BudgetDecisionOutcome, StoreError>;

    /// Budget changes and proposals, newest first: one team's or every team's, of one
    /// status or any.
    fn budget_changes(
        &self,
        team: Option<&str>,
        status: Option<ChangeStatus>,
        limit: usize,
    ) -> Result<Vec<BudgetChangeRecord>, StoreError>;

    /// The team's policy changes, newest first.
    fn policy_changes(
        &self,
        team: &str,
        limit: usize,
    ) -> Result<Vec<PolicyChangeRecord>, StoreError>;

    /// Events Envoys reported dropping, that were dropped at or after `since_ms`,
    /// newest first.
    fn delivery_gaps(&self, since_ms: i64) -> Result<Vec<DeliveryGap>, StoreError>;

    /// Near-repeat cache misses in `[from_ms, to_ms)` by team and workflow (see
    /// `store::cache_repeats`); one team's or every team's.
    fn repeat_misses(
        &self,
        from_ms: i64,
        to_ms: i64,
        team: Option<&str>,
    ) -> Result<Vec<crate::store::cache_repeats::RepeatMisses>, StoreError>;

    /// The team's ended leases whose spend is not yet settled, oldest first.
    fn holds(&self, team: &str, now_ms: i64) -> Result<Vec<Hold>, StoreError>;

    /// Releases a hold by an operator's decision, recording who and why. `None` if
    /// the team has no such unsettled, ended lease.
    fn resolve_hold(
        &self,
        resolution: &HoldResolution,
        now_ms: i64,
    ) -> Result<Option<Hold>, StoreError>;

    /// Each of `teams`' spend per reporting-calendar day for days `[from_day, to_day)`
    /// (local dates' day numbers), from the daily
    /// rollups: one entry per listed team, 0 for idle days.
    fn daily_spend(
        &self,
        teams: &[String],
        from_day: i64,
        to_day: i64,
    ) -> Result<HashMap<String, Vec<i64>>, StoreError>;

    /// Records a budget alert with one pending delivery per `(url, format)` webhook.
    /// `None` when that threshold already fired this period (nothing is stored).
    #[cfg(test)]
    fn record_alert(
        &self,
        alert: &NewAlert,
        webhooks: &[(String, String)],
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let targets: Vec<DeliveryTarget> = webhooks
            .iter()
            .map(|(url, format)| DeliveryTarget::config_webhook(url, format))
            .collect();
        self.record_alert_to(alert, &AlertFacts::default(), &targets, now_ms)
    }

    /// Records an alert, with its subject and facts, and one pending delivery per
    /// target, in one transaction. `None` when it already fired (nothing is stored).
    fn record_alert_to(
        &self,
        alert: &NewAlert,
        facts: &AlertFacts,
        targets: &[DeliveryTarget],
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError>;

    /// Pending deliveries whose next attempt is due, with their alert.
    fn due_deliveries(&self, now_ms: i64)
        -> Result<Vec<(DeliveryRecord, AlertRecord)>, StoreError>;

    /// Records a delivery attempt: delivered, or failed and rescheduled with backoff
    /// (given up after `max_attempts`).
    fn finish_delivery(
        &self,
        id: i64,
        outcome: Result<(), String>,
        now_ms: i64,
        max_attempts: i64,
    ) -> Result<(), StoreError>;

    /// Recent alerts with their deliveries, newest first.
    fn alerts(&self, limit: usize) -> Result<Vec<AlertRecord>, StoreError> {
        self.alert_page(&AlertQuery {
            limit,
            ..AlertQuery::default()
        })
    }

    /// The alerts a query selects, with their deliveries, newest first.
    fn alert_page(&self, query: &AlertQuery) -> Result<Vec<AlertRecord>, StoreError>;

    /// One alert with its deliveries.
    fn alert(&self, id: i64) -> Result<Option<AlertRecord>, StoreError>;

    /// Acknowledges one of the team's alerts, once: who, when and an optional note.
    fn acknowledge_alert(&self, ack: &NewAck<'_>) -> Result<AckOutcome, StoreError>;

    /// The live (not removed) delivery channels of one team, or of every team, oldest
    /// first.
    fn alert_channels(&self, team: Option<&str>) -> Result<Vec<ChannelRecord>, StoreError>;

    /// Adds a channel (or, for a known idempotency key, answers with the one added).
    fn add_alert_channel(&self, channel: &NewChannel<'_>) -> Result<AddChannelOutcome, StoreError>;

    /// Removes one of the team's channels, recording who and when, and gives up its
    /// pending deliveries.
    fn remove_alert_channel(
        &self,
        team: &str,
        id: i64,
        actor: &str,
        now_ms: i64,
    ) -> Result<RemoveChannelOutcome, StoreError>;

    /// Every event in the export's scope, oldest first (by `ts_ms`, then arrival),
    /// handed to `sink` one at a time until it breaks. Read in keyset pages, so memory
    /// stays constant however many events there are.
    fn for_each_event(
        &self,
        scope: &ExportScope,
        sink: &mut dyn FnMut(CostEvent) -> ControlFlow<()>,
    ) -> Result<(), StoreError>;

    /// The scope's rollup hours summed per UTC day or month and per (team,
    /// consumer_group, provider, lane, model[, cache]), ordered by that key and handed
    /// to `sink` one at a time until it breaks.
    fn for_each_period_row(
        &self,
        scope: &ExportScope,
        period: Period,
        by_cache: bool,
        sink: &mut dyn FnMut(PeriodRow) -> ControlFlow<()>,
    ) -> Result<(), StoreError>;

    /// The lanes that served at least one premium-marked event in the scope.
    fn premium_lanes(&self, scope: &ExportScope) -> Result<Vec<String>, StoreError>;

    /// Per period × team × consumer group × provider × lane × model × cache status,
    /// the 1-hour cache writes, web search calls and tool charges of the scope's
    /// events (only groups that have any), ordered by that key.
    fn period_billing_extras(
        &self,
        scope: &ExportScope,
        period: Period,
    ) -> Result<Vec<PeriodExtrasRow>, StoreError>;

    // ---- The leaders' dashboard.

    /// Sums of the daily rollups grouped as asked, ordered by cost descending.
    fn insight_rows(&self, query: &InsightQuery) -> Result<Vec<SpendRow>, StoreError>;

    /// Stores a new access token (its hash).
    fn create_token(&self, token: &NewToken, now_ms: i64) -> Result<TokenRecord, StoreError>;

    /// Every token ever created, revoked ones included, oldest first.
    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// The token with this SHA-256 (lowercase hex), revoked or not.
    fn token_by_hash(&self, sha256: &str) -> Result<Option<TokenRecord>, StoreError>;

    /// Revokes a token; false if there is no such live token.
    fn revoke_token(&self, id: i64, now_ms: i64) -> Result<bool, StoreError>;

    // ---- The reporting calendar (see `crate::calendar`).

    /// The organisation's reporting time zone: the zone of the daily rollups' days.
    fn reporting_zone(&self) -> Result<ReportingZone, StoreError>;

    /// [`Store::reporting_zone`] as a calendar.
    fn calendar(&self) -> Result<ReportingCalendar, StoreError> {
        ReportingCalendar::parse(&self.reporting_zone()?.time_zone).map_err(StoreError::Corrupt)
    }

    /// Sets the reporting time zone and recomputes every daily rollup row in it, in one
    /// transaction that no fold can interleave with (safe while ledgers ingest).
    fn set_reporting_zone(
        &self,
        calendar: &ReportingCalendar,
        actor: &str,
        now_ms: i64,
    ) -> Result<ZoneChange, StoreError>;

    /// Refused requests (events with outcome `refused`) in `[from_ms, to_ms)` per
    /// `calendar` day, team and reason, in that order.
    fn refusals(
        &self,
        query: &RefusalQuery,
        calendar: &ReportingCalendar,
    ) -> Result<Vec<RefusalRow>, StoreError>;

    /// Requests recorded `unpriced` (answered, but no price applied: a passed-through
    /// endpoint or a model without a price) in `[from_ms, to_ms)`, per team, by team.
    fn unpriced_requests(&self, query: &RefusalQuery) -> Result<Vec<(String, i64)>, StoreError>;

    /// Appends a privileged action to the audit log; returns its id.
    fn record_audit(
        &self,
        entry: &crate::store::audit::NewAuditEntry,
        now_ms: i64,
    ) -> Result<i64, StoreError>;

    /// The audit log, newest first: up to `limit` entries older than `before_id`.
    fn audit_log(
        &self,
        limit: usize,
        before_id: Option<i64>,
    ) -> Result<Vec<crate::store::audit::AuditEntry>, StoreError>;

    // ---- Reconciliation with the providers' reports (see `crate::reconcile`).

    /// Stores a provider report's lines in one transaction; a line whose key
    /// (provider, kind, day, model, line) is stored replaces it.
    fn import_report_lines(
        &self,
        lines: &[crate::store::reconciliation::ProviderLine],
        source: &str,
        now_ms: i64,
    ) -> Result<crate::store::reconciliation::ImportOutcome, StoreError>;

    /// The stored report lines of the UTC days in `[from_ms, to_ms)`, ordered by day,
    /// provider, kind, model and line.
    fn report_lines(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<crate::store::reconciliation::ProviderLine>, StoreError>;

    // ---- Repricing (see `crate::reprice`).

    /// Stores cost adjustments and adds each to its event's rollup rows (its cost, no
    /// request, no tokens), in one transaction. Returns how many were stored.
    fn record_adjustments(
        &self,
        adjustments: &[crate::store::reconciliation::NewAdjustment],
        now_ms: i64,
    ) -> Result<usize, StoreError>;

    /// The adjustments of events in `[from_ms, to_ms)` (one team's or every team's),
    /// in event time order.
    fn adjustments(
        &self,
        from_ms: i64,
        to_ms: i64,
        team: Option<&str>,
    ) -> Result<Vec<crate::store::reconciliation::Adjustment>, StoreError>;
}
