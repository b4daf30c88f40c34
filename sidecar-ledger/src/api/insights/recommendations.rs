//! `/v1/insights/recommendations`: the recommended next moves of every visible team,
//! largest dollar impact first, each with the API call that makes it (see
//! `insights::recommend` for how each is found and worded).

use std::collections::{BTreeMap, HashMap, HashSet};

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
use crate::store::wallets::WalletState;
use crate::store::{Store, StoreError};

use super::args::{Args, Params};
use super::grouping::{grouped, tokens_total};
use super::near_repeats::{near_repeats, NearRepeatJson};
use super::scope::visible_among;
use super::teams::run_rate;

/// Days of history the moves are computed from.
const PERIOD_DAYS: i64 = 30;

/// More pending requests than any organisation keeps open at once.
const PENDING_LIMIT: usize = 10_000;

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
        Ok(recommend::rank(moves_for(store.as_ref(), &s, &teams, now)?))
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

/// The recommended moves of one team.
pub(super) fn team_moves(
    store: &dyn Store,
    state: &AppState,
    team: &str,
    now: i64,
) -> Result<Vec<Move>, StoreError> {
    moves_for(store, state, &[team.to_string()], now)
}

/// The recommended moves of each of `teams`, unranked. The reads are shared: one of
/// each kind for all the teams (an organisation of 50 teams costs what one team does,
/// plus the rows), filtered to one team when only one is asked for.
pub(super) fn moves_for(
    store: &dyn Store,
    state: &AppState,
    teams: &[String],
    now: i64,
) -> Result<Vec<Move>, StoreError> {
    if teams.is_empty() {
        return Ok(Vec::new());
    }
    let only = match teams {
        [one] => Some(one.as_str()),
        _ => None,
    };
    let budgets = state.budgets.current();
    let budget_defs: Vec<_> = budgets
        .iter()
        .filter(|b| teams.contains(&b.team_id))
        .collect();
    let daily = DailySpend::load(store, teams, &budget_defs, now)?;
    // A move already made is not offered again: an allocation request or a budget
    // proposal waiting for finance, a premium restriction in force.
    let asked: HashSet<String> = store
        .allocation_requests(only, Some(RequestStatus::Pending), PENDING_LIMIT)?
        .into_iter()
        .map(|r| r.team)
        .collect();
    let proposed: HashSet<String> = store
        .budget_changes(only, Some(ChangeStatus::Pending), PENDING_LIMIT)?
        .into_iter()
        .map(|c| c.team)
        .collect();
    let policy = store.policy_set()?;
    let wallets: HashMap<String, WalletState> = match only {
        Some(t) => store.wallet(t, now)?.into_iter().collect::<Vec<_>>(),
        None => store.wallets(now)?,
    }
    .into_iter()
    .map(|w| (w.team.clone(), w))
    .collect();
    let range = DayRange::last_days(now, PERIOD_DAYS);
    let mut drifts = premium_drifts(store, state, only, now)?;
    let mut repeats: HashMap<String, Vec<NearRepeatJson>> = HashMap::new();
    for r in near_repeats(store, state, only, range)? {
        repeats.entry(r.team.clone()).or_default().push(r);
    }

    let mut moves = Vec::new();
    for team in teams {
        let team_policy = policy.team(team);
        if let Some(w) = wallets.get(team).filter(|_| !asked.contains(team)) {
            let runway = WalletRunway {
                team: team.clone(),
                balance_nanos: w.allocated_nanos - w.spent_nanos - w.unsettled_nanos,
                run_rate_per_day_nanos: run_rate(&daily, team, now),
            };
            moves.extend(recommend::request_allocation(&runway, now));
        }
        let budget_def = budget_defs.iter().find(|b| &b.team_id == team);
        if let Some(b) = budget_def.filter(|_| !proposed.contains(team)) {
            let status = budget::status(b, &daily, now);
            moves.extend(recommend::revise_budget(&recommend::BudgetOverrun {
                team: team.clone(),
                period: status.period,
                budget_nanos: status.budget_nanos,
                forecast_nanos: status.forecast.period_end_nanos,
                exhaustion_day: status.forecast.exhaustion_day.clone(),
            }));
        }
        let restricted = team_policy.is_some_and(|p| p.premium.is_some());
        if !restricted {
            for drift in drifts.remove(team).unwrap_or_default() {
                moves.extend(recommend::restrict_premium(&drift));
            }
        }
        let already_on: Vec<String> = team_policy
            .and_then(|p| p.normalized_cache.as_ref())
            .map(|n| n.workflows.clone())
            .unwrap_or_default();
        for r in repeats.remove(team).unwrap_or_default() {
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
    }
    Ok(moves)
}

/// Each workflow that used premium lanes without approval in the period, by team
/// (`team`: only that one; `None`: every team, from one read).
fn premium_drifts(
    store: &dyn Store,
    state: &AppState,
    team: Option<&str>,
    now: i64,
) -> Result<HashMap<String, Vec<PremiumDrift>>, StoreError> {
    let range = DayRange::last_days(now, PERIOD_DAYS);
    let days = Bucket::Day.starts(range.from_ms, range.to_ms);
    let index: HashMap<i64, usize> = days.iter().enumerate().map(|(i, d)| (*d, i)).collect();
    let rows = grouped(
        store,
        range,
        team,
        None,
        Some(Bucket::Day),
        &[
            InsightDim::Team,
            InsightDim::Workflow,
            InsightDim::Premium,
            InsightDim::Cache,
        ],
    )?;
    struct Acc {
        unapproved: Vec<i64>,
        total: Vec<i64>,
        tokens: i64,
    }
    #[derive(Default)]
    struct TeamAcc {
        standard_nanos: i64,
        standard_tokens: i64,
        by_workflow: BTreeMap<String, Acc>,
    }
    let mut by_team: BTreeMap<String, TeamAcc> = BTreeMap::new();
    for (day, key, s) in &rows {
        let Some(&i) = index.get(day) else { continue };
        let Some(team) = key.first().cloned().flatten() else {
            continue;
        };
        let acc_team = by_team.entry(team).or_default();
        let class = key.get(2).cloned().flatten();
        let hit = key.get(3).cloned().flatten().as_deref() == Some("hit");
        if class.as_deref() == Some("standard") && !hit {
            acc_team.standard_nanos += s.cost_nanos;
            acc_team.standard_tokens += tokens_total(s);
        }
        let Some(workflow) = key.get(1).cloned().flatten() else {
            continue;
        };
        let acc = acc_team.by_workflow.entry(workflow).or_insert_with(|| Acc {
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
    let approved = |team: &str| -> Vec<String> {
        config
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
            .unwrap_or_default()
    };
    Ok(by_team
        .into_iter()
        .map(|(team, t)| {
            let approved = approved(&team);
            let drifts = t
                .by_workflow
                .into_iter()
                .filter(|(_, a)| a.unapproved.iter().any(|&n| n > 0))
                .map(|(workflow, a)| PremiumDrift {
                    team: team.clone(),
                    workflow,
                    days: days.clone(),
                    unapproved_nanos: a.unapproved,
                    workflow_nanos: a.total,
                    unapproved_tokens: a.tokens,
                    standard_nanos: t.standard_nanos,
                    standard_tokens: t.standard_tokens,
                    approved_workflows: approved.clone(),
                })
                .collect();
            (team, drifts)
        })
        .collect())
}
