//! Budgets leaders can revise, with their history.
//!
//! * `GET  /v1/teams/{team}/budget`: the budget in force, its status, and every change
//!   and proposal (who, when, before and after, why).
//! * `POST /v1/teams/{team}/budget`: finance and admin change it (in force at once); a
//!   team token proposes a change for its own team, which finance decides.
//! * `POST /v1/teams/{team}/budget/proposals/{id}/decision`: approve or decline a
//!   proposal (finance and admin).
//! * `GET  /v1/budget-changes?status=pending`: changes and proposals of every visible
//!   team.
//!
//! How these relate to the config file: see `store::budgets`.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use tollgate_core::config::BudgetDef;

use super::action::{json_body, known_team, needs_token};
use crate::api::blocking::blocking;
use crate::api::notify::notify;
use crate::auth::Principal;
use crate::budget::{self, BudgetStatus, DailySpend};
use crate::budget_change::{BudgetBody, ProposalDecisionBody};
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::insights::narrative::usd;
use crate::state::AppState;
use crate::store::alerts::NewAlert;
use crate::store::budgets::{
    BudgetChangeOutcome, BudgetChangeRecord, BudgetDecision, BudgetDecisionOutcome, ChangeStatus,
    NewBudgetChange,
};
use crate::store::tokens::Role;
use crate::store::{Store, StoreError};

const HISTORY: usize = 200;

#[derive(Serialize)]
pub struct TeamBudgetView {
    pub team: String,
    pub budget: Option<BudgetDef>,
    pub status: Option<BudgetStatus>,
    /// Changes and proposals, newest first.
    pub changes: Vec<BudgetChangeRecord>,
}

fn in_force(state: &AppState, team: &str) -> Option<BudgetDef> {
    state
        .budgets
        .current()
        .iter()
        .find(|b| b.team_id == team)
        .cloned()
}

pub async fn get_team_budget(
    State(state): State<AppState>,
    Path(team): Path<String>,
) -> Result<Json<TeamBudgetView>, ApiError> {
    let budget = in_force(&state, &team);
    let store = state.store.clone();
    let (t, b) = (team.clone(), budget.clone());
    let (status, changes) = blocking(move || {
        let now = now_ms();
        let status = match &b {
            Some(b) => {
                let daily = DailySpend::load(store.as_ref(), std::slice::from_ref(&t), &[b], now)?;
                Some(budget::status(b, &daily, now))
            }
            None => None,
        };
        Ok((status, store.budget_changes(Some(&t), None, HISTORY)?))
    })
    .await?;
    Ok(Json(TeamBudgetView {
        team,
        budget,
        status,
        changes,
    }))
}

#[derive(Serialize)]
pub struct ChangeResponse {
    pub change: BudgetChangeRecord,
    /// The budget in force after the request (a proposal changes nothing yet).
    pub budget: Option<BudgetDef>,
    pub replayed: bool,
}

pub async fn post_team_budget(
    State(state): State<AppState>,
    Path(team): Path<String>,
    principal: Option<Extension<Principal>>,
    body: Result<Json<BudgetBody>, JsonRejection>,
) -> Result<(StatusCode, Json<ChangeResponse>), ApiError> {
    let Some(Extension(who)) = principal else {
        return Err(needs_token("changing a budget"));
    };
    let body = json_body(body)?;
    known_team(&state, &team)?;
    let current = in_force(&state, &team);
    let after = body
        .resolve(&team, current.as_ref())
        .map_err(ApiError::bad_request)?;
    let propose = who.role == Role::Team;
    let store = state.store.clone();
    let s = state.clone();
    let t = team.clone();
    let outcome = blocking(move || {
        let now = now_ms();
        let outcome = store.change_budget(&NewBudgetChange {
            team: &t,
            after: after.as_ref(),
            actor: &who.name,
            reason: body.reason.trim(),
            propose,
            idempotency_key: body.idempotency_key.as_deref(),
            now_ms: now,
        })?;
        if let BudgetChangeOutcome::Recorded(c) = &outcome {
            refresh(store.as_ref(), &s)?;
            notify(store.as_ref(), &s, change_alert(c), now)?;
        }
        Ok(outcome)
    })
    .await?;
    let (change, replayed) = match outcome {
        BudgetChangeOutcome::Recorded(c) => (c, false),
        BudgetChangeOutcome::Replayed(c) => (c, true),
    };
    let status = match (replayed, change.status) {
        (true, _) => StatusCode::OK,
        (false, ChangeStatus::Pending) => StatusCode::ACCEPTED,
        (false, _) => StatusCode::CREATED,
    };
    if !replayed {
        tracing::info!(
            team,
            id = change.id,
            status = change.status.as_str(),
            actor = change.actor,
            "budget change"
        );
    }
    Ok((
        status,
        Json(ChangeResponse {
            change,
            budget: in_force(&state, &team),
            replayed,
        }),
    ))
}

pub async fn post_proposal_decision(
    State(state): State<AppState>,
    Path((team, id)): Path<(String, i64)>,
    principal: Option<Extension<Principal>>,
    body: Result<Json<ProposalDecisionBody>, JsonRejection>,
) -> Result<Json<ChangeResponse>, ApiError> {
    let Some(Extension(who)) = principal else {
        return Err(needs_token("deciding a proposal"));
    };
    if who.role == Role::Team {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            "deciding a budget proposal needs a finance or admin token",
        ));
    }
    let body = json_body(body)?;
    let approve = body.validate().map_err(ApiError::bad_request)?;
    let comment = body
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    let store = state.store.clone();
    let s = state.clone();
    let t = team.clone();
    let outcome = blocking(move || {
        let now = now_ms();
        let outcome = store.decide_budget_proposal(&BudgetDecision {
            team: &t,
            id,
            approve,
            actor: &who.name,
            comment: comment.as_deref(),
            now_ms: now,
        })?;
        if let BudgetDecisionOutcome::Decided(c) = &outcome {
            refresh(store.as_ref(), &s)?;
            notify(store.as_ref(), &s, change_alert(c), now)?;
        }
        Ok(outcome)
    })
    .await?;
    let wanted = if approve {
        ChangeStatus::Approved
    } else {
        ChangeStatus::Declined
    };
    match outcome {
        BudgetDecisionOutcome::Decided(change) => Ok(Json(ChangeResponse {
            change,
            budget: in_force(&state, &team),
            replayed: false,
        })),
        BudgetDecisionOutcome::AlreadyDecided(change) if change.status == wanted => {
            Ok(Json(ChangeResponse {
                change,
                budget: in_force(&state, &team),
                replayed: true,
            }))
        }
        BudgetDecisionOutcome::AlreadyDecided(change) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict_error",
            format!(
                "change #{id} is {}{}",
                change.status.as_str(),
                change
                    .decided_by
                    .map(|b| format!(" by {b}"))
                    .unwrap_or_default()
            ),
        )),
        BudgetDecisionOutcome::NotFound => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            format!("team '{team}' has no budget proposal #{id}"),
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub team: Option<String>,
}

#[derive(Serialize)]
pub struct ChangeList {
    pub changes: Vec<BudgetChangeRecord>,
}

/// Every visible team's changes and proposals; a team token's list is filtered to its
/// team by the auth middleware.
pub async fn get_changes(
    State(state): State<AppState>,
    Query(q): Query<ChangesQuery>,
) -> Result<Json<ChangeList>, ApiError> {
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(ChangeStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "status must be applied, pending, approved or declined, not '{s}'"
            ))
        })?),
    };
    let store = state.store.clone();
    let team = q.team.filter(|t| !t.is_empty());
    let changes = blocking(move || store.budget_changes(team.as_deref(), status, HISTORY)).await?;
    Ok(Json(ChangeList { changes }))
}

fn refresh(store: &dyn Store, state: &AppState) -> Result<(), StoreError> {
    state.budgets.replace(store.budgets_in_force()?);
    Ok(())
}

fn describe(b: &Option<BudgetDef>) -> String {
    match b {
        Some(b) => format!(
            "{} {} (alerts at {:?}% actual, {:?}% forecast)",
            usd(b.amount_usd.0),
            match b.period {
                tollgate_core::config::BudgetPeriodKind::Monthly => "monthly",
                tollgate_core::config::BudgetPeriodKind::Quarterly => "quarterly",
                tollgate_core::config::BudgetPeriodKind::Custom => "per custom period",
            },
            b.thresholds_pct,
            b.forecast_thresholds_pct
        ),
        None => "no budget".into(),
    }
}

fn change_alert(c: &BudgetChangeRecord) -> NewAlert {
    let (kind, message) = match c.status {
        ChangeStatus::Pending => (
            "budget_proposed",
            format!(
                "{} proposes {} for {} instead of {} (proposal #{}): {}",
                c.actor,
                describe(&c.after),
                c.team,
                describe(&c.before),
                c.id,
                c.reason
            ),
        ),
        ChangeStatus::Applied => (
            "budget_changed",
            format!(
                "{} changed the budget of {} from {} to {}: {}",
                c.actor,
                c.team,
                describe(&c.before),
                describe(&c.after),
                c.reason
            ),
        ),
        ChangeStatus::Approved | ChangeStatus::Declined => (
            "budget_decided",
            format!(
                "{} {} proposal #{} for {} ({}){}",
                c.decided_by.as_deref().unwrap_or(""),
                c.status.as_str(),
                c.id,
                c.team,
                describe(&c.after),
                c.decision_comment
                    .as_deref()
                    .map(|x| format!(": {x}"))
                    .unwrap_or_default()
            ),
        ),
    };
    let ts = c.decided_ms.unwrap_or(c.ts_ms);
    NewAlert {
        team: c.team.clone(),
        period_start_ms: ts,
        period_end_ms: ts,
        kind,
        threshold_pct: u32::try_from(c.id).unwrap_or(u32::MAX),
        spent_nanos: 0,
        budget_nanos: c.after.as_ref().map_or(0, |b| b.amount_usd.0),
        forecast_nanos: 0,
        message,
    }
}
