//! The ledger's own Prometheus metrics, served at `GET /metrics`.
//!
//! Counters and the ingest latency histogram live in one process-wide registry and
//! are updated by the API's metrics middleware (`api::metrics`); wallet, lease and
//! alert-delivery state is read from the store at scrape time, so it is right however
//! many ledgers share the database and survives restarts.
//!
//! Encoded with `prometheus-client` (the Prometheus project's Rust client) in the
//! classic text format 0.0.4 — the same format as Envoy's `/stats/prometheus`.

use std::sync::{LazyLock, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::store::alerts::AlertRecord;
use crate::store::wallets::WalletState;

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

/// A refused credential: the class of route (`data_plane`, `read`, `manage`,
/// `dashboard`, `action`) and why (`missing`, `unknown`, `role`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthLabel {
    pub access: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TeamLabel {
    pub team: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabel {
    pub status: String,
}

pub struct Metrics {
    registry: Registry,
    /// `POST /v1/events` calls by outcome: ok, bad_request, error.
    pub ingest_batches: Family<StatusLabel, Counter>,
    /// Events received by result: accepted, duplicate, rejected (quarantined).
    pub ingest_events: Family<ResultLabel, Counter>,
    /// Wall time of one ingest call, parse and commit included.
    pub ingest_seconds: Histogram,
    /// Unix time of the last ingest that committed (0 before the first).
    pub last_ingest_unix: Gauge,
    /// `POST /v1/leases` calls by result: granted, exhausted, unknown_wallet, bad_request, error.
    pub leases: Family<ResultLabel, Counter>,
    /// Credit handed out by lease grants, in nanodollars.
    pub lease_granted_nanos: Counter,
    /// Configuration reloads by result: ok, invalid, error (the previous config stays).
    pub config_reloads: Family<ResultLabel, Counter>,
    /// Requests refused for their credential (401, or 403 for a token of the wrong role).
    pub auth_refusals: Family<AuthLabel, Counter>,
    /// Posted events held back by the configuration checks, by reason.
    pub quarantined: Family<ReasonLabel, Counter>,
    // Read from the store at scrape time.
    wallet_allocated: Family<TeamLabel, Gauge>,
    wallet_spent: Family<TeamLabel, Gauge>,
    wallet_leased: Family<TeamLabel, Gauge>,
    wallet_live_leases: Family<TeamLabel, Gauge>,
    wallet_unsettled: Family<TeamLabel, Gauge>,
    alert_deliveries: Family<DeliveryLabel, Gauge>,
    alerts: Gauge,
    /// Serialises refresh + encode between concurrent scrapes.
    scrape: Mutex<()>,
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("tollgate_ledger");
        let m = Metrics {
            ingest_batches: Family::default(),
            ingest_events: Family::default(),
            // 0.5 ms … ~8 s.
            ingest_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 15)),
            last_ingest_unix: Gauge::default(),
            leases: Family::default(),
            lease_granted_nanos: Counter::default(),
            config_reloads: Family::default(),
            auth_refusals: Family::default(),
            quarantined: Family::default(),
            wallet_allocated: Family::default(),
            wallet_spent: Family::default(),
            wallet_leased: Family::default(),
            wallet_live_leases: Family::default(),
            wallet_unsettled: Family::default(),
            alert_deliveries: Family::default(),
            alerts: Gauge::default(),
            scrape: Mutex::new(()),
            registry: Registry::default(),
        };
        registry.register(
            "ingest_batches",
            "Event batches received (POST /v1/events) by status",
            m.ingest_batches.clone(),
        );
        registry.register(
            "ingest_events",
            "Cost events received by result: accepted, duplicate (already stored), rejected (quarantined)",
            m.ingest_events.clone(),
        );
        registry.register(
            "ingest_batch_duration_seconds",
            "Time to parse and commit one event batch",
            m.ingest_seconds.clone(),
        );
        registry.register(
            "last_ingest_timestamp_seconds",
            "Unix time of the last committed event batch (0: none since start)",
            m.last_ingest_unix.clone(),
        );
        registry.register(
            "lease_requests",
            "Credit lease requests (POST /v1/leases) by result",
            m.leases.clone(),
        );
        registry.register(
            "lease_granted_nanodollars",
            "Credit granted to Envoy instances by leases, in nanodollars",
            m.lease_granted_nanos.clone(),
        );
        registry.register(
            "config_reloads",
            "Configuration file reloads by result: ok, invalid (file rejected), error (store failure); on invalid and error the previous configuration stays in force",
            m.config_reloads.clone(),
        );
        registry.register(
            "auth_refusals",
            "Requests refused for their credential, by route class (data_plane, read, manage, dashboard, action) and reason (missing, unknown, role)",
            m.auth_refusals.clone(),
        );
        registry.register(
            "ingest_quarantined_events",
            "Posted cost events quarantined by the checks against the configuration (not charged, not spend), by reason (unknown_team, unknown_group, unknown_lane, lane_mismatch, model_mismatch, cost_mismatch)",
            m.quarantined.clone(),
        );
        registry.register(
            "wallet_allocated_nanodollars",
            "Wallet allocations (opening allocation, top-ups, corrections), in nanodollars",
            m.wallet_allocated.clone(),
        );
        registry.register(
            "wallet_spent_nanodollars",
            "Recorded spend per wallet, in nanodollars",
            m.wallet_spent.clone(),
        );
        registry.register(
            "wallet_leased_outstanding_nanodollars",
            "Credit held by live leases and not yet spent, per wallet, in nanodollars",
            m.wallet_leased.clone(),
        );
        registry.register(
            "wallet_live_leases",
            "Live (unexpired) credit leases per wallet",
            m.wallet_live_leases.clone(),
        );
        registry.register(
            "wallet_unsettled_nanodollars",
            "Spend held for ended leases whose events have not all arrived (an Envoy stopped or crashed), per wallet, in nanodollars",
            m.wallet_unsettled.clone(),
        );
        registry.register(
            "alert_deliveries",
            "Budget alert webhook deliveries by status (pending, delivered, failed)",
            m.alert_deliveries.clone(),
        );
        registry.register("alerts", "Budget alerts fired", m.alerts.clone());
        Metrics { registry, ..m }
    }

    /// Records one ingest call.
    pub fn ingest(
        &self,
        status: &'static str,
        seconds: f64,
        counts: Option<(u64, u64, u64)>,
        now_unix: i64,
    ) {
        self.ingest_batches
            .get_or_create(&StatusLabel { status })
            .inc();
        self.ingest_seconds.observe(seconds);
        if let Some((accepted, duplicates, rejected)) = counts {
            for (result, n) in [
                ("accepted", accepted),
                ("duplicate", duplicates),
                ("rejected", rejected),
            ] {
                self.ingest_events
                    .get_or_create(&ResultLabel { result })
                    .inc_by(n);
            }
            self.last_ingest_unix.set(now_unix);
        }
    }

    pub fn lease(&self, result: &'static str, granted_nanos: i64) {
        self.leases.get_or_create(&ResultLabel { result }).inc();
        if granted_nanos > 0 {
            self.lease_granted_nanos.inc_by(granted_nanos as u64);
        }
    }

    pub fn auth_refused(&self, access: &'static str, reason: &'static str) {
        self.auth_refusals
            .get_or_create(&AuthLabel { access, reason })
            .inc();
    }

    pub fn quarantined(&self, reason: &'static str) {
        self.quarantined
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    pub fn config_reload(&self, result: &'static str) {
        self.config_reloads
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    /// Refreshes store-derived gauges and encodes everything.
    pub fn render(&self, wallets: &[WalletState], alerts: &[AlertRecord]) -> String {
        let _guard = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        for family in [
            &self.wallet_allocated,
            &self.wallet_spent,
            &self.wallet_leased,
            &self.wallet_live_leases,
            &self.wallet_unsettled,
        ] {
            family.clear();
        }
        for w in wallets {
            let team = TeamLabel {
                team: w.team.clone(),
            };
            self.wallet_allocated
                .get_or_create(&team)
                .set(w.allocated_nanos);
            self.wallet_spent.get_or_create(&team).set(w.spent_nanos);
            self.wallet_leased
                .get_or_create(&team)
                .set(w.leased_outstanding_nanos);
            self.wallet_live_leases
                .get_or_create(&team)
                .set(w.live_leases);
            self.wallet_unsettled
                .get_or_create(&team)
                .set(w.unsettled_nanos);
        }
        self.alert_deliveries.clear();
        // Every status shows, at zero when none: dashboards and alerts need the series.
        for status in ["pending", "delivered", "failed"] {
            let _ = self.alert_deliveries.get_or_create(&DeliveryLabel {
                status: status.into(),
            });
        }
        for d in alerts.iter().flat_map(|a| &a.deliveries) {
            self.alert_deliveries
                .get_or_create(&DeliveryLabel {
                    status: d.status.clone(),
                })
                .inc();
        }
        self.alerts.set(alerts.len() as i64);
        let mut out = String::new();
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format_names_and_labels() {
        let m = Metrics::new();
        m.ingest("ok", 0.003, Some((5, 2, 1)), 1_700_000_000);
        m.lease("granted", 250_000_000);
        m.lease("exhausted", 0);
        m.config_reload("ok");
        let wallets = vec![WalletState {
            team: "team_support".into(),
            allocated_nanos: 500,
            spent_nanos: 20,
            leased_outstanding_nanos: 7,
            live_leases: 1,
            unsettled_nanos: 3,
        }];
        let text = m.render(&wallets, &[]);
        for line in [
            "tollgate_ledger_ingest_events_total{result=\"accepted\"} 5",
            "tollgate_ledger_wallet_unsettled_nanodollars{team=\"team_support\"} 3",
            "tollgate_ledger_ingest_events_total{result=\"duplicate\"} 2",
            "tollgate_ledger_ingest_events_total{result=\"rejected\"} 1",
            "tollgate_ledger_ingest_batches_total{status=\"ok\"} 1",
            "tollgate_ledger_ingest_batch_duration_seconds_count 1",
            "tollgate_ledger_lease_requests_total{result=\"granted\"} 1",
            "tollgate_ledger_lease_requests_total{result=\"exhausted\"} 1",
            "tollgate_ledger_lease_granted_nanodollars_total 250000000",
            "tollgate_ledger_config_reloads_total{result=\"ok\"} 1",
            "tollgate_ledger_wallet_spent_nanodollars{team=\"team_support\"} 20",
            "tollgate_ledger_alert_deliveries{status=\"failed\"} 0",
            "tollgate_ledger_last_ingest_timestamp_seconds 1700000000",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        // Wallets that disappear do not linger.
        let text = m.render(&[], &[]);
        assert!(!text.contains("team_support"));
    }
}
