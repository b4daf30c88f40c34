//! Leaders' runtime policy (pauses, premium restrictions, pins, normalised caching).
//!
//! * `GET  /v1/policy?after=V`: every team's policy as one document, for Envoy's
//!   filter; `304 Not Modified` when the caller already has version `V` or newer.
//! * `GET  /v1/teams/{team}/policy`: the team's policy in force and its changes.
//! * `POST /v1/teams/{team}/policy`: one change (`crate::policy::PolicyChange`), by the
//!   signed-in principal; team tokens act for their own team only (see `crate::auth`).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use tollgate_core::policy::TeamPolicy;

use super::action::{json_body, known_team, needs_token};
use crate::api::blocking::blocking;
use crate::auth::Principal;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::policy::{apply, PolicyChange};
use crate::state::AppState;
use crate::store::policy::{NewPolicyChange, PolicyChangeOutcome, PolicyChangeRecord};

/// How many changes `GET /v1/teams/{team}/policy` lists.
const HISTORY: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyPoll {
    /// The version the caller has; absent: it has none.
    #[serde(default)]
    pub after: Option<i64>,
}

pub async fn get_policy_set(
    State(state): State<AppState>,
    Query(poll): Query<PolicyPoll>,
) -> Result<Response, ApiError> {
    let store = state.store.clone();
    let set = blocking(move || store.policy_set()).await?;
    if poll.after.is_some_and(|v| set.version <= v) {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    Ok(Json(set).into_response())
}

#[derive(Serialize)]
pub struct TeamPolicyView {
    pub team: String,
    pub policy: TeamPolicy,
    /// Lanes a workflow can be pinned to (the config's; empty without one).
    pub lanes: Vec<String>,
    /// Newest first.
    pub changes: Vec<PolicyChangeRecord>,
}

pub async fn get_team_policy(
    State(state): State<AppState>,
    Path(team): Path<String>,
) -> Result<Json<TeamPolicyView>, ApiError> {
    known_team(&state, &team)?;
    let store = state.store.clone();
    let t = team.clone();
    let (set, changes) =
        blocking(move || Ok((store.policy_set()?, store.policy_changes(&t, HISTORY)?))).await?;
    let mut policy = set.teams.get(&team).cloned().unwrap_or_default();
    let now = now_ms();
    policy
        .pauses
        .retain(|p| p.until_ms.is_none_or(|until| now < until));
    Ok(Json(TeamPolicyView {
        team,
        policy,
        lanes: state.known().map(|k| k.lanes).unwrap_or_default(),
        changes,
    }))
}

#[derive(Serialize)]
pub struct ChangeResponse {
    pub change: PolicyChangeRecord,
    /// The team's policy after the change (absent for a replayed request).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<TeamPolicy>,
    /// The idempotency key was used before: nothing new was changed.
    pub replayed: bool,
}

pub async fn post_team_policy(
    State(state): State<AppState>,
    Path(team): Path<String>,
    principal: Option<Extension<Principal>>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<(StatusCode, Json<ChangeResponse>), ApiError> {
    let Some(Extension(principal)) = principal else {
        return Err(needs_token("changing a team's policy"));
    };
    let mut body = json_body(body)?;
    let idempotency_key = match body.as_object_mut().map(|o| o.remove("idempotency_key")) {
        Some(Some(serde_json::Value::String(k))) if !k.is_empty() && k.len() <= 200 => Some(k),
        Some(None) | None => None,
        Some(Some(_)) => {
            return Err(ApiError::bad_request(
                "idempotency_key must be a string of 1 to 200 bytes",
            ))
        }
    };
    let change: PolicyChange = serde_json::from_value(body.clone())
        .map_err(|e| ApiError::bad_request(format!("not a policy change: {e}")))?;
    let known = state.known();
    known_team(&state, &team)?;
    let lanes = known.map(|k| k.lanes).unwrap_or_default();
    let now = now_ms();
    change
        .validate(&lanes, now)
        .map_err(|e| ApiError::bad_request(e.0))?;
    let actor = principal.name.clone();
    let reason = change.reason().trim().to_string();
    let store = state.store.clone();
    let t = team.clone();
    let outcome = blocking(move || {
        let new = NewPolicyChange {
            team: &t,
            change: &body,
            actor: &actor,
            reason: &reason,
            idempotency_key: idempotency_key.as_deref(),
            now_ms: now,
        };
        store.change_policy(&new, &|current, id| {
            apply(current, &change, id, &actor, now).map_err(|e| e.0)
        })
    })
    .await?;
    match outcome {
        PolicyChangeOutcome::Applied(change, policy) => {
            tracing::info!(
                team,
                version = change.id,
                actor = change.actor,
                change = %change.change["change"],
                "team policy changed"
            );
            Ok((
                StatusCode::CREATED,
                Json(ChangeResponse {
                    change,
                    policy: Some(policy),
                    replayed: false,
                }),
            ))
        }
        PolicyChangeOutcome::Replayed(change) => Ok((
            StatusCode::OK,
            Json(ChangeResponse {
                change,
                policy: None,
                replayed: true,
            }),
        )),
        PolicyChangeOutcome::Refused(why) => {
            Err(ApiError::new(StatusCode::CONFLICT, "conflict_error", why))
        }
    }
}
