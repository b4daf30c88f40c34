//! `/v1/insights/recommendations`: the recommended next moves of every visible team,
//! largest dollar impact first, each with the API call that makes it (see
//! `insights::recommend` for how each is found and worded).

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Extension, State};
use axum::Json;
use serde::Serialize;

use crate::api::blocking::blocking;
use crate::auth::Principal;
use crate::budget::{self, DailySpend};
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::insights::narrative::usd;
use crate::insights::recommend::{self, CacheOpportunity, Move, PremiumDrift, WalletRunway};
use crate::insights::{Bucket, DayRange};
use crate::state::AppState;
use crate::store::allocation_requests::RequestStatus;
use crate::store::budgets::ChangeStatus;
use crate::store::insights::InsightDim;
use crate::store::{Store, StoreError};

use super::args::{Args, Params};
use super::grouping::{grouped, tokens_total};
use super::near_repeats::near_repeats;
use super::scope::visible_among;
use super::teams::run_rate;

/// Days of history the moves are computed from.
const PERIOD_DAYS: i64 = 30;

#[derive(Serialize)]
pub struct RecommendationsResponse {
    pub moves: Vec<Move>,
    /// Sum of the moves' impacts per month.
    pub total_impact_nanos: i64,
    pub summary: String,
}

pub async fn get_recommendations(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    params: Params,
) -> Result<Json<RecommendationsResponse>, ApiError> {
    let args = Args::parse(params, &["team"])?;
    let team = who.scope(args.get("team"))?;
    let store = state.store.clone();
    let s = state.clone();
    let moves = blocking(move || {
        let now = now_ms();
        let budgets = s.budgets.current();
        let teams: Vec<String> = match team {
            Some(t) => vec![t],
            None => visible_among(&store.wallets(now)?, &budgets, &who)
                .into_iter()
                .collect(),
        };
        let mut moves = Vec::new();
        for t in &teams {
            moves.extend(team_moves(store.as_ref(), &s, t, now)?);
        }
        Ok(recommend::rank(moves))
    })
    .await?;
    let total: i64 = moves.iter().map(|m| m.impact_nanos).sum();
    let summary = match moves.first() {
        None => "No move stands out: spend is within wallets and budgets, and no premium drift is worth restricting".into(),
        Some(top) => format!(
            "{} recommended moves worth about {} a month; the largest: {}",
            moves.len(),
            usd(total),
            top.sentence
        ),
    };
    Ok(Json(RecommendationsResponse {
        moves,
        total_impact_nanos: total,
        summary,
    }))
}

pub(super) fn team_moves(
    store: &dyn Store,
    state: &AppState,
    team: &str,
    now: i64,
) -> Result<Vec<Move>, StoreError> {
    let budgets = state.budgets.current();
    let budget_def = budgets.iter().find(|b| b.team_id == team);
    let daily = DailySpend::load(
        store,
        &[team.to_string()],
        &budget_def.into_iter().collect::<Vec<_>>(),
        now,
    )?;
    // A move already made is not offered again: an allocation request or a budget
    // proposal waiting for finance, a premium restriction in force.
    let asked = !store
        .allocation_requests(Some(team), Some(RequestStatus::Pending), 1)?
        .is_empty();
    let proposed = !store
        .budget_changes(Some(team), Some(ChangeStatus::Pending), 1)?
        .is_empty();
    let restricted = store
        .policy_set()?
        .team(team)
        .is_some_and(|p| p.premium.is_some());
    let mut moves = Vec::new();
    if let Some(w) = store.wallet(team, now)?.filter(|_| !asked) {
        let runway = WalletRunway {
            team: team.to_string(),
            balance_nanos: w.allocated_nanos - w.spent_nanos - w.unsettled_nanos,
            run_rate_per_day_nanos: run_rate(&daily, team, now),
        };
        moves.extend(recommend::request_allocation(&runway, now));
    }
    if let Some(b) = budget_def.filter(|_| !proposed) {
        let status = budget::status(b, &daily, now);
        moves.extend(recommend::revise_budget(&recommend::BudgetOverrun {
            team: team.to_string(),
            period: status.period,
            budget_nanos: status.budget_nanos,
            forecast_nanos: status.forecast.period_end_nanos,
            exhaustion_day: status.forecast.exhaustion_day.clone(),
        }));
    }
    let drifts = if restricted {
        Vec::new()
    } else {
        premium_drifts(store, state, team, now)?
    };
    for drift in drifts {
        moves.extend(recommend::restrict_premium(&drift));
    }
    let range = DayRange::last_days(now, PERIOD_DAYS);
    let already_on: Vec<String> = store
        .policy_set()?
        .team(team)
        .and_then(|p| p.normalized_cache.as_ref())
        .map(|n| n.workflows.clone())
        .unwrap_or_default();
    for r in near_repeats(store, state, Some(team), range)? {
        if r.normalized_on || r.workflow.is_empty() {
            continue;
        }
        moves.extend(recommend::normalized_cache(&CacheOpportunity {
            team: r.team,
            workflow: r.workflow,
            period_days: PERIOD_DAYS,
            misses: r.misses,
            repeat_misses: r.repeats,
            repeat_cost_nanos: r.repeat_cost_nanos,
            already_on: already_on.clone(),
        }));
    }
    Ok(moves)
}

/// Each workflow of the team that used premium lanes without approval in the period.
fn premium_drifts(
    store: &dyn Store,
    state: &AppState,
    team: &str,
    now: i64,
) -> Result<Vec<PremiumDrift>, StoreError> {
    let range = DayRange::last_days(now, PERIOD_DAYS);
    let days = Bucket::Day.starts(range.from_ms, range.to_ms);
    let index: HashMap<i64, usize> = days.iter().enumerate().map(|(i, d)| (*d, i)).collect();
    let rows = grouped(
        store,
        range,
        Some(team),
        None,
        Some(Bucket::Day),
        &[InsightDim::Workflow, InsightDim::Premium, InsightDim::Cache],
    )?;
    struct Acc {
        unapproved: Vec<i64>,
        total: Vec<i64>,
        tokens: i64,
    }
    let (mut standard_nanos, mut standard_tokens) = (0i64, 0i64);
    let mut by_workflow: BTreeMap<String, Acc> = BTreeMap::new();
    for (day, key, s) in &rows {
        let Some(&i) = index.get(day) else { continue };
        let class = key.get(1).cloned().flatten();
        let hit = key.get(2).cloned().flatten().as_deref() == Some("hit");
        if class.as_deref() == Some("standard") && !hit {
            standard_nanos += s.cost_nanos;
            standard_tokens += tokens_total(s);
        }
        let Some(workflow) = key.first().cloned().flatten() else {
            continue;
        };
        let acc = by_workflow.entry(workflow).or_insert_with(|| Acc {
            unapproved: vec![0; days.len()],
            total: vec![0; days.len()],
            tokens: 0,
        });
        acc.total[i] += s.cost_nanos;
        if class.as_deref() == Some("unapproved") {
            acc.unapproved[i] += s.cost_nanos;
            if !hit {
                acc.tokens += tokens_total(s);
            }
        }
    }
    let config = state.config.current();
    let approved: Vec<String> = config
        .as_ref()
        .as_ref()
        .map(|c| {
            let mut w: Vec<String> = c
                .consumer_groups
                .iter()
                .filter(|g| g.wallet_team_id == team)
                .flat_map(|g| g.premium_workflows.iter().cloned())
                .collect();
            w.sort();
            w.dedup();
            w
        })
        .unwrap_or_default();
    Ok(by_workflow
        .into_iter()
        .filter(|(_, a)| a.unapproved.iter().any(|&n| n > 0))
        .map(|(workflow, a)| PremiumDrift {
            team: team.to_string(),
            workflow,
            days: days.clone(),
            unapproved_nanos: a.unapproved,
            workflow_nanos: a.total,
            unapproved_tokens: a.tokens,
            standard_nanos,
            standard_tokens,
            approved_workflows: approved.clone(),
        })
        .collect())
}
