//! Allocation requests: a team asks for more wallet allocation with evidence; finance
//! or an admin decides.
//!
//! * `POST /v1/teams/{team}/allocation-requests`: file one (the team's token, or
//!   finance/admin); the ledger computes and freezes the evidence.
//! * `GET  /v1/teams/{team}/allocation-requests`: the team's requests and decisions.
//! * `GET  /v1/allocation-requests?status=pending`: every visible team's requests.
//! * `POST /v1/teams/{team}/allocation-requests/{id}/decision`: approve (possibly
//!   another amount) or decline; finance and admin only. An approval writes the wallet
//!   grant in the same transaction, so Envoy admits the team's traffic again at its
//!   next lease.
//!
//! Filing and deciding each notify the alert webhooks.

use crate::insights::narrative::usd;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::action::{json_body, known_team, needs_token};
use crate::allocation_request::{DecisionBody, FileBody};
use crate::api::blocking::blocking;
use crate::api::insights::evidence::team_evidence;
use crate::api::notify::notify;
use crate::api::wallets::WalletJson;
use crate::auth::Principal;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::alerts::NewAlert;
use crate::store::allocation_requests::{
    AllocationRequestRecord, DecideOutcome, Decision, DecisionInput, FileOutcome,
    NewAllocationRequest, RequestStatus,
};
use crate::store::tokens::Role;
use crate::store::wallets::WalletEntry;

/// How many requests a list shows.
const LIST_LIMIT: usize = 200;

#[derive(Serialize)]
pub struct FiledResponse {
    pub request: AllocationRequestRecord,
    /// The idempotency key was used before: this is the request already filed.
    pub replayed: bool,
}

pub async fn post_request(
    State(state): State<AppState>,
    Path(team): Path<String>,
    principal: Option<Extension<Principal>>,
    body: Result<Json<FileBody>, JsonRejection>,
) -> Result<(StatusCode, Json<FiledResponse>), ApiError> {
    let Some(Extension(who)) = principal else {
        return Err(needs_token("this action"));
    };
    let body = json_body(body)?;
    let amount_nanos = body.validate().map_err(ApiError::bad_request)?;
    known_team(&state, &team)?;
    let store = state.store.clone();
    let s = state.clone();
    let t = team.clone();
    let outcome = blocking(move || {
        let now = now_ms();
        if store.wallet(&t, now)?.is_none() {
            return Ok(None);
        }
        let evidence = serde_json::to_value(team_evidence(store.as_ref(), &s, &t, now)?)
            .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
        let outcome = store.file_allocation_request(&NewAllocationRequest {
            team: &t,
            amount_nanos,
            reason: body.reason.trim(),
            requested_by: &who.name,
            evidence: &evidence,
            idempotency_key: body.idempotency_key.as_deref(),
            now_ms: now,
        })?;
        if let FileOutcome::Filed(r) = &outcome {
            notify(store.as_ref(), &s, filed_alert(r), now)?;
        }
        Ok(Some(outcome))
    })
    .await?;
    match outcome {
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            format!("team '{team}' has no wallet to allocate to"),
        )),
        Some(FileOutcome::Filed(request)) => {
            tracing::info!(
                team,
                id = request.id,
                amount_nanos,
                by = request.requested_by,
                "allocation requested"
            );
            Ok((
                StatusCode::CREATED,
                Json(FiledResponse {
                    request,
                    replayed: false,
                }),
            ))
        }
        Some(FileOutcome::Replayed(request)) => Ok((
            StatusCode::OK,
            Json(FiledResponse {
                request,
                replayed: true,
            }),
        )),
    }
}

#[derive(Serialize)]
pub struct RequestList {
    pub requests: Vec<AllocationRequestRecord>,
}

pub async fn get_team_requests(
    State(state): State<AppState>,
    Path(team): Path<String>,
) -> Result<Json<RequestList>, ApiError> {
    let store = state.store.clone();
    let requests =
        blocking(move || store.allocation_requests(Some(&team), None, LIST_LIMIT)).await?;
    Ok(Json(RequestList { requests }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub team: Option<String>,
}

/// Every visible team's requests; a team token's list is filtered to its team by the
/// auth middleware.
pub async fn get_requests(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<RequestList>, ApiError> {
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(RequestStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "status must be pending, approved or declined, not '{s}'"
            ))
        })?),
    };
    let store = state.store.clone();
    let team = q.team.filter(|t| !t.is_empty());
    let requests =
        blocking(move || store.allocation_requests(team.as_deref(), status, LIST_LIMIT)).await?;
    Ok(Json(RequestList { requests }))
}

#[derive(Serialize)]
pub struct DecidedResponse {
    pub request: AllocationRequestRecord,
    /// The wallet entry an approval wrote, and the wallet after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<WalletEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallet: Option<WalletJson>,
}

pub async fn post_decision(
    State(state): State<AppState>,
    Path((team, id)): Path<(String, i64)>,
    principal: Option<Extension<Principal>>,
    body: Result<Json<DecisionBody>, JsonRejection>,
) -> Result<Json<DecidedResponse>, ApiError> {
    let Some(Extension(who)) = principal else {
        return Err(needs_token("this action"));
    };
    if who.role == Role::Team {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            "deciding an allocation request needs a finance or admin token",
        ));
    }
    let body = json_body(body)?;
    let decision = body.validate().map_err(ApiError::bad_request)?;
    let comment = body
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    let store = state.store.clone();
    let s = state.clone();
    let t = team.clone();
    let d = decision.clone();
    let outcome = blocking(move || {
        let now = now_ms();
        let outcome = store.decide_allocation_request(&DecisionInput {
            team: &t,
            id,
            decision: d,
            comment: comment.as_deref(),
            actor: &who.name,
            now_ms: now,
        })?;
        if let DecideOutcome::Decided(r, _) = &outcome {
            notify(store.as_ref(), &s, decided_alert(r), now)?;
        }
        Ok(outcome)
    })
    .await?;
    match outcome {
        DecideOutcome::Decided(request, grant) => {
            tracing::info!(
                team,
                id,
                status = request.status.as_str(),
                by = request.decided_by.as_deref().unwrap_or(""),
                "allocation request decided"
            );
            let (entry, wallet) = match grant {
                Some((e, w)) => (Some(e), Some(WalletJson::from(w))),
                None => (None, None),
            };
            Ok(Json(DecidedResponse {
                request,
                entry,
                wallet,
            }))
        }
        // The same decision again (a retried click) answers as before; another one is
        // a conflict.
        DecideOutcome::AlreadyDecided(request) if same(&request, &decision) => {
            Ok(Json(DecidedResponse {
                request,
                entry: None,
                wallet: None,
            }))
        }
        DecideOutcome::AlreadyDecided(request) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict_error",
            format!(
                "request #{id} was already {} by {}",
                request.status.as_str(),
                request.decided_by.as_deref().unwrap_or("someone")
            ),
        )),
        DecideOutcome::NotFound => Err(not_found(&team, id)),
        DecideOutcome::NoWallet => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            format!("team '{team}' has no wallet to allocate to"),
        )),
    }
}

fn same(request: &AllocationRequestRecord, decision: &Decision) -> bool {
    match decision {
        Decision::Approve { amount_nanos } => {
            request.status == RequestStatus::Approved
                && request.approved_nanos == Some(amount_nanos.unwrap_or(request.amount_nanos))
        }
        Decision::Decline => request.status == RequestStatus::Declined,
    }
}

fn not_found(team: &str, id: i64) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found_error",
        format!("team '{team}' has no allocation request #{id}"),
    )
}

fn filed_alert(r: &AllocationRequestRecord) -> NewAlert {
    let summary = r.evidence["summary"].as_str().unwrap_or("");
    NewAlert {
        team: r.team.clone(),
        period_start_ms: r.requested_ms,
        period_end_ms: r.requested_ms,
        kind: "allocation_requested",
        threshold_pct: u32::try_from(r.id).unwrap_or(u32::MAX),
        spent_nanos: 0,
        budget_nanos: r.amount_nanos,
        forecast_nanos: 0,
        message: format!(
            "{} asks for {} more wallet allocation (request #{}, by {}): {}. Evidence: {summary}",
            r.team,
            usd(r.amount_nanos),
            r.id,
            r.requested_by,
            r.reason
        ),
    }
}

fn decided_alert(r: &AllocationRequestRecord) -> NewAlert {
    let by = r.decided_by.as_deref().unwrap_or("");
    let comment = r
        .decision_comment
        .as_deref()
        .map(|c| format!(": {c}"))
        .unwrap_or_default();
    let message = match r.status {
        RequestStatus::Approved => format!(
            "{by} approved {} for {} (request #{}, {} asked){comment}",
            usd(r.approved_nanos.unwrap_or(0)),
            r.team,
            r.id,
            usd(r.amount_nanos)
        ),
        _ => format!(
            "{by} declined request #{} of {} for {}{comment}",
            r.id,
            r.team,
            usd(r.amount_nanos)
        ),
    };
    NewAlert {
        team: r.team.clone(),
        period_start_ms: r.decided_ms.unwrap_or(r.requested_ms),
        period_end_ms: r.decided_ms.unwrap_or(r.requested_ms),
        kind: "allocation_decided",
        threshold_pct: u32::try_from(r.id).unwrap_or(u32::MAX),
        spent_nanos: 0,
        budget_nanos: r.approved_nanos.unwrap_or(0),
        forecast_nanos: 0,
        message,
    }
}
