//! What every HTTP handler is given: the store and the settings of this ledger
//! process (axum's injected state), plus the limits the API enforces.

use std::sync::Arc;

use crate::store::Store;

/// Largest accepted request body. A batch of ~16k typical events; the filter's
/// batches are far smaller.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// How long a credit lease lives without renewal.
    pub lease_ttl_ms: i64,
    /// Billing budgets from the config (replaced when the config is reloaded).
    pub budgets: Arc<crate::config_reload::Shared<Vec<tollgate_core::config::BudgetDef>>>,
    /// Reads of spend, events, wallets and budgets need a token (the default; off only
    /// with `serve --insecure-open-reads`). The dashboard's `/v1/insights/*`, actions
    /// and the data plane's writes always do; see `crate::auth`.
    pub require_tokens: bool,
    /// Who may read `GET /metrics`, and where it is served.
    pub metrics: MetricsAccess,
    /// The config file in force (`None`: none given), replaced on a reload.
    pub config: Arc<crate::config_reload::Shared<Option<tollgate_core::config::Config>>>,
    /// Failed authentications per peer address (see `crate::auth_limit`).
    pub auth_limiter: Arc<crate::auth_limit::FailedAuthLimiter>,
    /// The configurations posted events are checked against (empty without a config
    /// file: nothing is checked); see `crate::ingest_check`.
    pub ingest_checks: Arc<crate::config_generations::ConfigGenerations>,
    /// Percent of a wallet's credit one ingest token may hold in leases while another
    /// token draws on the wallet (see `tollgate_core::lease::holder_grant_size`).
    pub lease_holder_share_percent: u8,
}

impl AppState {
    /// The config's teams and lanes, for validating leaders' changes; `None` without a
    /// config file (then any team and no lane names are known).
    pub fn known(&self) -> Option<Known> {
        let config = self.config.current();
        let config = config.as_ref().as_ref()?;
        let mut teams = config.wallet_team_ids();
        teams.extend(config.budgets.iter().map(|b| b.team_id.clone()));
        teams.sort();
        teams.dedup();
        let lanes =
            tollgate_core::config::filter_config::FilterConfig::from_config(config, "ledger")
                .map(|f| f.lanes.into_iter().map(|l| l.id).collect())
                .unwrap_or_default();
        Some(Known { teams, lanes })
    }
}

/// Teams and lane ids of the config in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub teams: Vec<String>,
    pub lanes: Vec<String>,
}

/// Access to the ledger's Prometheus metrics: open by default (scrapers send no
/// credentials), or behind a token, and on the API's listener or on its own.
#[derive(Clone, Debug, Default)]
pub struct MetricsAccess {
    /// SHA-256 (hex) of the token `GET /metrics` requires as `Authorization: Bearer`;
    /// `None`: no token needed.
    pub token_sha256: Option<Arc<str>>,
    /// `/metrics` is served by [`crate::api::metrics_router`] on its own listener, and not by the
    /// API's router.
    pub separate_listener: bool,
}

/// Default lease lifetime: long enough that busy instances renew rarely, short enough
/// that a dead instance's unspent credit returns to its wallet within half a minute.
pub const DEFAULT_LEASE_TTL_MS: i64 = 30_000;
