//! The HTTP API's router: which handler answers which route, and the middleware
//! every request passes (body limit, authentication, logging, metrics). Handlers live
//! in the child modules; what they share lives below this layer (`crate::state`,
//! `crate::error`, `crate::clock`), so nothing here is imported back.

#[cfg(test)]
mod access_tests;
mod action;
#[cfg(test)]
mod action_fixture;
mod alerts;
#[cfg(test)]
mod alerts_tests;
mod allocation_requests;
#[cfg(test)]
mod allocation_requests_tests;
mod audit;
#[cfg(test)]
mod audit_tests;
#[cfg(test)]
mod auth_tests;
mod blocking;
mod budget_changes;
#[cfg(test)]
mod budget_changes_tests;
mod budgets;
mod events;
mod export;
mod insights;
mod meta;
mod metrics;
#[cfg(test)]
mod metrics_tests;
mod notify;
mod policy;
#[cfg(test)]
mod policy_tests;
#[cfg(test)]
mod quarantine_tests;
mod reconciliation;
mod spend;
#[cfg(test)]
mod tests;
mod wallets;

#[cfg(test)]
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::state::{AppState, MAX_BODY_BYTES};
#[cfg(test)]
use crate::state::{MetricsAccess, DEFAULT_LEASE_TTL_MS};
#[cfg(test)]
use crate::store::Store;

/// Sends the digests due (see `insights::digest`): for the ledger's background loop.
pub use insights::digest::send_due as digest_send_due;

#[cfg(test)]
pub fn router(store: Arc<dyn Store>) -> Router {
    router_with(AppState {
        store,
        lease_ttl_ms: DEFAULT_LEASE_TTL_MS,
        budgets: crate::config_reload::Shared::new(Vec::new()),
        require_tokens: false,
        metrics: MetricsAccess::default(),
        config: crate::config_reload::Shared::new(None),
        auth_limiter: Default::default(),
        ingest_checks: Default::default(),
        lease_holder_share_percent: tollgate_core::lease::DEFAULT_HOLDER_SHARE_PERCENT,
    })
}

/// The router of a metrics-only listener (`serve --metrics-listen`): `GET /metrics`.
pub fn metrics_router(mut state: AppState) -> Router {
    state.metrics.separate_listener = false;
    Router::new()
        .route("/metrics", get(metrics::get_metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

pub fn router_with(state: AppState) -> Router {
    Router::new()
        .route("/", get(crate::dashboard::index))
        .route("/assets/{file}", get(crate::dashboard::asset))
        .route(
            "/v1/session",
            get(insights::get_session)
                .post(insights::post_session)
                .delete(insights::delete_session),
        )
        .route("/v1/insights/series", get(insights::get_series))
        .route("/v1/insights/teams", get(insights::get_teams))
        .route("/v1/insights/budget", get(insights::get_budget))
        .route("/v1/insights/mix", get(insights::get_mix))
        .route("/v1/insights/cache", get(insights::get_cache))
        .route("/v1/insights/premium", get(insights::get_premium))
        .route("/v1/insights/top", get(insights::get_top))
        .route("/v1/insights/drivers", get(insights::get_drivers))
        .route("/v1/insights/delivery", get(insights::get_delivery))
        .route(
            "/v1/insights/recommendations",
            get(insights::get_recommendations),
        )
        .route("/v1/insights/wallet", get(insights::get_wallet))
        .route("/v1/insights/live", get(insights::get_live))
        .route("/healthz", get(meta::healthz))
        .route("/metrics", get(metrics::get_metrics))
        .route("/openapi.json", get(meta::openapi))
        .route(
            "/v1/events",
            get(events::list_events).post(events::post_events),
        )
        .route("/v1/rejected-events", get(events::list_rejected))
        .route("/v1/quarantine", get(events::list_quarantine))
        .route("/v1/spend", get(spend::get_spend))
        .route("/v1/export", get(export::get_export))
        .route("/v1/wallets", get(wallets::list_wallets))
        .route("/v1/wallets/{team}", get(wallets::get_wallet))
        .route(
            "/v1/wallets/{team}/allocations",
            axum::routing::post(wallets::post_allocation),
        )
        .route(
            "/v1/wallets/{team}/holds/{lease_id}/resolve",
            axum::routing::post(wallets::post_resolve_hold),
        )
        .route("/v1/leases", axum::routing::post(wallets::post_lease))
        .route(
            "/v1/allocation-requests",
            get(allocation_requests::get_requests),
        )
        .route(
            "/v1/teams/{team}/allocation-requests",
            get(allocation_requests::get_team_requests).post(allocation_requests::post_request),
        )
        .route(
            "/v1/teams/{team}/allocation-requests/{id}/decision",
            axum::routing::post(allocation_requests::post_decision),
        )
        .route("/v1/budget-changes", get(budget_changes::get_changes))
        .route(
            "/v1/teams/{team}/budget",
            get(budget_changes::get_team_budget).post(budget_changes::post_team_budget),
        )
        .route(
            "/v1/teams/{team}/budget/proposals/{id}/decision",
            axum::routing::post(budget_changes::post_proposal_decision),
        )
        .route("/v1/policy", get(policy::get_policy_set))
        .route(
            "/v1/teams/{team}/policy",
            get(policy::get_team_policy).post(policy::post_team_policy),
        )
        .route("/v1/budgets", get(budgets::list_budgets))
        .route("/v1/audit", get(audit::get_audit))
        .route(
            "/v1/reconciliation",
            get(reconciliation::get_reconciliation),
        )
        .route("/v1/alerts", get(alerts::get_alerts))
        .route("/v1/teams/{team}/alerts", get(alerts::get_team_alerts))
        .route("/v1/teams/{team}/alerts/{id}", get(alerts::get_team_alert))
        .route(
            "/v1/teams/{team}/alerts/{id}/acknowledge",
            axum::routing::post(alerts::post_acknowledge),
        )
        .route(
            "/v1/teams/{team}/alert-channels",
            get(alerts::get_channels).post(alerts::post_channel),
        )
        .route(
            "/v1/teams/{team}/digest",
            get(alerts::get_digest).post(alerts::post_digest),
        )
        .route(
            "/v1/teams/{team}/alert-channels/{id}",
            axum::routing::delete(alerts::delete_channel),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Inside authentication: it records who made each privileged write.
        .layer(middleware::from_fn_with_state(state.clone(), audit::record))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::require,
        ))
        .layer(middleware::from_fn(log_request))
        .layer(middleware::from_fn(metrics::track))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found_error",
        "no such endpoint; see /openapi.json",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this endpoint; see /openapi.json",
    )
}

/// One log line per request: at debug for successes (the ingest path is hot), at
/// warn for server errors.
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let start = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
    if response.status().is_server_error() {
        tracing::warn!(%method, path, status, elapsed_ms, "request failed");
    } else {
        tracing::debug!(%method, path, status, elapsed_ms, "request");
    }
    response
}
