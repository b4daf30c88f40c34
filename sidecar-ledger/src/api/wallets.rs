//! Wallets (hard limits) and the credit leases Envoy instances draw on.
//!
//! * `GET  /v1/wallets`, `GET /v1/wallets/{team}`: balances and allocation history.
//! * `POST /v1/wallets/{team}/allocations`: top-ups and corrections, live.
//! * `POST /v1/wallets/{team}/holds/{lease_id}/resolve`: an operator releases the
//!   unsettled spend held for an ended lease whose events will not come.
//! * `POST /v1/leases`: an Envoy instance asks for credit (see `tollgate_core::lease`).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_core::lease::{LeaseGrant, LeaseRequest};
use tollgate_core::money::{format_usd, Usd};

use crate::api::blocking::blocking;
use crate::auth::Principal;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::wallets::{
    EntryKind, Hold, HoldResolution, LeaseHolder, NewEntry, WalletEntry, WalletState,
};

/// A wallet as the API shows it: integers for machines, USD text for people.
#[derive(Serialize)]
pub struct WalletJson {
    pub team: String,
    pub allocated_nanos: i64,
    pub spent_nanos: i64,
    pub balance_nanos: i64,
    pub leased_outstanding_nanos: i64,
    pub available_nanos: i64,
    pub live_leases: i64,
    /// Spend held for ended leases whose events have not all arrived.
    pub unsettled_nanos: i64,
    pub allocated_usd: String,
    pub spent_usd: String,
    pub balance_usd: String,
    pub available_usd: String,
    pub unsettled_usd: String,
}

impl From<WalletState> for WalletJson {
    fn from(w: WalletState) -> Self {
        WalletJson {
            balance_nanos: w.balance_nanos(),
            available_nanos: w.available_nanos(),
            allocated_usd: format_usd(w.allocated_nanos),
            spent_usd: format_usd(w.spent_nanos),
            balance_usd: format_usd(w.balance_nanos()),
            available_usd: format_usd(w.available_nanos()),
            unsettled_usd: format_usd(w.unsettled_nanos),
            unsettled_nanos: w.unsettled_nanos,
            team: w.team,
            allocated_nanos: w.allocated_nanos,
            spent_nanos: w.spent_nanos,
            leased_outstanding_nanos: w.leased_outstanding_nanos,
            live_leases: w.live_leases,
        }
    }
}

#[derive(Serialize)]
pub struct WalletsResponse {
    pub wallets: Vec<WalletJson>,
}

#[derive(Serialize)]
pub struct WalletDetail {
    #[serde(flatten)]
    pub wallet: WalletJson,
    pub entries: Vec<WalletEntry>,
    /// Ended leases whose spend is not settled yet, oldest first.
    pub holds: Vec<Hold>,
}

fn no_wallet(team: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found_error",
        format!("no wallet for team '{team}'"),
    )
}

pub async fn list_wallets(
    State(state): State<AppState>,
) -> Result<Json<WalletsResponse>, ApiError> {
    let store = state.store.clone();
    let wallets = blocking(move || store.wallets(now_ms())).await?;
    Ok(Json(WalletsResponse {
        wallets: wallets.into_iter().map(WalletJson::from).collect(),
    }))
}

pub async fn get_wallet(
    State(state): State<AppState>,
    Path(team): Path<String>,
) -> Result<Json<WalletDetail>, ApiError> {
    let store = state.store.clone();
    let t = team.clone();
    let found = blocking(move || {
        let now = now_ms();
        let wallet = store.wallet(&t, now)?;
        let entries = store.wallet_entries(&t, 200)?;
        let holds = store.holds(&t, now)?;
        Ok(wallet.map(|w| (w, entries, holds)))
    })
    .await?;
    let (wallet, entries, holds) = found.ok_or_else(|| no_wallet(&team))?;
    Ok(Json(WalletDetail {
        wallet: wallet.into(),
        entries,
        holds,
    }))
}

/// `POST /v1/wallets/{team}/allocations` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocationRequest {
    /// USD decimal; negative only for corrections (e.g. "-5.00").
    pub amount_usd: String,
    #[serde(default = "default_kind")]
    pub kind: EntryKind,
    pub actor: String,
    pub reason: String,
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

fn default_kind() -> EntryKind {
    EntryKind::TopUp
}

#[derive(Serialize)]
pub struct AllocationResponse {
    pub entry: WalletEntry,
    pub wallet: WalletJson,
}

/// Parses a signed USD amount into nanodollars.
pub fn parse_signed_usd(text: &str) -> Result<i64, String> {
    let t = text.trim();
    match t.strip_prefix('-') {
        Some(rest) => Usd::parse(rest).map(|u| -u.0),
        None => Usd::parse(t).map(|u| u.0),
    }
}

pub async fn post_allocation(
    State(state): State<AppState>,
    Path(team): Path<String>,
    body: Result<Json<AllocationRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<AllocationResponse>), ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let amount = parse_signed_usd(&req.amount_usd)
        .map_err(|e| ApiError::bad_request(format!("amount_usd: {e}")))?;
    match req.kind {
        EntryKind::Correction if amount == 0 => {
            return Err(ApiError::bad_request(
                "amount_usd: a correction must not be zero",
            ))
        }
        EntryKind::Correction => {}
        _ if amount <= 0 => return Err(ApiError::bad_request(
            "amount_usd: allocations and top-ups must be positive; use kind=correction to reduce",
        )),
        _ => {}
    }
    if req.actor.trim().is_empty() || req.reason.trim().is_empty() {
        return Err(ApiError::bad_request(
            "actor and reason are required: every allocation says who and why",
        ));
    }
    let entry = NewEntry {
        team: team.clone(),
        kind: req.kind,
        amount_nanos: amount,
        actor: req.actor.trim().to_string(),
        reason: req.reason.trim().to_string(),
        idempotency_key: req.idempotency_key,
    };
    let store = state.store.clone();
    let stored = blocking(move || store.allocate(&entry, now_ms())).await?;
    let (entry, wallet) = stored.ok_or_else(|| no_wallet(&team))?;
    tracing::info!(
        team,
        kind = entry.kind.as_str(),
        amount_nanos = entry.amount_nanos,
        actor = entry.actor,
        "wallet allocation"
    );
    Ok((
        StatusCode::CREATED,
        Json(AllocationResponse {
            entry,
            wallet: wallet.into(),
        }),
    ))
}

/// `POST /v1/wallets/{team}/holds/{lease_id}/resolve` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    pub actor: String,
    pub reason: String,
}

#[derive(Serialize)]
pub struct ResolveResponse {
    /// The hold as it was when released.
    pub released: Hold,
    pub wallet: WalletJson,
}

pub async fn post_resolve_hold(
    State(state): State<AppState>,
    Path((team, lease_id)): Path<(String, i64)>,
    body: Result<Json<ResolveRequest>, JsonRejection>,
) -> Result<Json<ResolveResponse>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if req.actor.trim().is_empty() || req.reason.trim().is_empty() {
        return Err(ApiError::bad_request(
            "actor and reason are required: releasing held spend says who and why",
        ));
    }
    let resolution = HoldResolution {
        team: team.clone(),
        lease_id,
        actor: req.actor.trim().to_string(),
        reason: req.reason.trim().to_string(),
    };
    let store = state.store.clone();
    let done = blocking(move || {
        let now = now_ms();
        let Some(released) = store.resolve_hold(&resolution, now)? else {
            return Ok(None);
        };
        Ok(store.wallet(&resolution.team, now)?.map(|w| (released, w)))
    })
    .await?;
    let (released, wallet) = done.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            format!("team '{team}' has no unsettled hold for lease {lease_id}"),
        )
    })?;
    tracing::info!(
        team,
        lease_id,
        held_nanos = released.held_nanos,
        "hold released by an operator"
    );
    Ok(Json(ResolveResponse {
        released,
        wallet: wallet.into(),
    }))
}

/// `POST /v1/leases`. The lease is held by the ingest token's name plus the body's
/// instance (see [`Principal::lease_holder`]), never by the body alone; while another
/// token draws on the wallet, one token's leases stay within its share of it.
pub async fn post_lease(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    body: Result<Json<LeaseRequest>, JsonRejection>,
) -> Result<Json<LeaseGrant>, ApiError> {
    let Json(mut req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if req.want_nanos < 0 || req.instance.is_empty() {
        return Err(ApiError::bad_request(
            "want_nanos must be >= 0 and instance non-empty",
        ));
    }
    req.instance = who.lease_holder(&req.instance);
    let holder_name = who.name.clone();
    let share_percent = state.lease_holder_share_percent;
    let store = state.store.clone();
    let ttl = state.lease_ttl_ms;
    let team = req.team.clone();
    let budget = state
        .budgets
        .current()
        .iter()
        .find(|b| b.team_id == team)
        .cloned();
    let grant = blocking(move || {
        let now = now_ms();
        let holder = LeaseHolder {
            name: &holder_name,
            share_percent,
        };
        let Some(mut grant) = store.lease_for(&holder, &req, now, ttl)? else {
            return Ok(None);
        };
        // Soft-budget state rides along, so clients see it in response headers.
        if let Some(b) = budget {
            grant.budget_notice = crate::budget::statuses(store.as_ref(), &[&b], now)?
                .first()
                .and_then(crate::budget::notice);
        }
        Ok(Some(grant))
    })
    .await?;
    grant.map(Json).ok_or_else(|| no_wallet(&team))
}
