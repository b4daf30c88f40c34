//! `/v1/insights/teams`: each visible team's spend, wallet and budget, with one
//! sentence per team.

use std::collections::HashMap;

use axum::extract::{Extension, State};
use axum::Json;
use serde::Serialize;
use tollgate_core::config::BudgetDef;

use crate::api::blocking::blocking;
use crate::api::wallets::WalletJson;
use crate::auth::Principal;
use crate::budget::{self, BudgetStatus, DailySpend};
use crate::error::ApiError;
use crate::insights::narrative::{self, pct, share, usd};
use crate::insights::DayRange;
use crate::query::{self, DAY_MS};
use crate::state::AppState;
use crate::store::insights::InsightDim;
use crate::store::{Store, StoreError, Sums};

use super::args::{Args, Params};
use super::grouping::grouped;
use super::now::{now, Now};
use super::scope::{visible_among, RangeJson};

#[derive(Serialize)]
pub struct TeamJson {
    pub team: String,
    pub spent_nanos: i64,
    pub requests: i64,
    pub cost_avoided_nanos: i64,
    pub wallet: Option<WalletJson>,
    pub budget: Option<BudgetStatus>,
    /// Where the team stands against its limits, worst first: `wallet_empty`,
    /// `over_budget`, `will_exceed` (the forecast passes the budget), `ahead_of_pace`
    /// (spent more than an even pace would have by now), `on_track`, `no_budget`.
    pub pace_status: &'static str,
    /// Days the wallet balance lasts at the recent run rate (`None`: no spend lately,
    /// no wallet, or nothing left).
    pub wallet_runway_days: Option<i64>,
    /// 1 for the team most at risk: by `pace_status`, then the earliest forecast
    /// exhaustion, the highest share of budget used, the shortest wallet runway.
    pub risk_rank: usize,
    /// The team's position in one sentence (the budget summary when it has one).
    pub summary: String,
}

/// How bad a `pace_status` is (higher is worse).
fn severity(status: &str) -> u8 {
    match status {
        "wallet_empty" => 5,
        "over_budget" => 4,
        "will_exceed" => 3,
        "ahead_of_pace" => 2,
        "on_track" => 1,
        _ => 0,
    }
}

fn pace_status(budget: Option<&BudgetStatus>, wallet: Option<&WalletJson>) -> &'static str {
    if wallet.is_some_and(|w| w.allocated_nanos > 0 && w.available_nanos <= 0) {
        return "wallet_empty";
    }
    match budget {
        None => "no_budget",
        Some(b) if b.spent_nanos >= b.budget_nanos => "over_budget",
        Some(b) if b.forecast.exhaustion_day.is_some() => "will_exceed",
        Some(b) if b.spent_nanos > b.pace_nanos => "ahead_of_pace",
        Some(_) => "on_track",
    }
}

/// Ranks teams by risk, most at risk first (sets `risk_rank`; the order is kept).
fn rank_by_risk(teams: &mut [TeamJson]) {
    let mut order: Vec<usize> = (0..teams.len()).collect();
    order.sort_by_key(|&i| {
        let t = &teams[i];
        let b = t.budget.as_ref();
        (
            std::cmp::Reverse(severity(t.pace_status)),
            b.and_then(|b| b.forecast.exhaustion_day.clone())
                .unwrap_or_else(|| "9999".into()),
            std::cmp::Reverse(b.map_or(-1, |b| b.used_pct)),
            t.wallet_runway_days.unwrap_or(i64::MAX),
            std::cmp::Reverse(t.spent_nanos),
            t.team.clone(),
        )
    });
    for (rank, i) in order.into_iter().enumerate() {
        teams[i].risk_rank = rank + 1;
    }
}

#[derive(Serialize)]
pub struct TeamsResponse {
    pub range: RangeJson,
    pub teams: Vec<TeamJson>,
    pub total_spent_nanos: i64,
    pub summary: String,
}

/// Run rate per day: a trimmed mean of the last 14 full days (as budget forecasts).
pub(super) fn run_rate(daily: &DailySpend, team: &str, now: i64) -> i64 {
    let today = now.div_euclid(DAY_MS);
    let days = daily.days(team, today - 14, today);
    let first = days.iter().position(|&d| d > 0).unwrap_or(days.len());
    if days.len() - first < 3 {
        return 0;
    }
    budget::forecast::trimmed_stats(&days[first..]).0
}

/// The budget summary in words, money in cents and the day named: "team_support has
/// used 64% of its monthly budget ($76.80 of $120.00); on pace to exceed it on Monday
/// 23 November".
fn budget_words(b: &BudgetStatus) -> String {
    let head = format!(
        "{} has used {}% of its {} budget ({} of {})",
        b.team,
        b.used_pct,
        b.period,
        usd(b.spent_nanos),
        usd(b.budget_nanos)
    );
    let day = b
        .forecast
        .exhaustion_day
        .as_deref()
        .and_then(|d| query::parse_time(d).ok());
    match day {
        Some(_) if b.spent_nanos >= b.budget_nanos => format!("{head}; the budget is used up"),
        Some(ms) => format!(
            "{head}; on pace to exceed it on {} (forecast {} by {})",
            narrative::day_words(ms),
            usd(b.forecast.period_end_nanos),
            query::format_day(b.period_end_ms - DAY_MS)
        ),
        None => format!(
            "{head}; forecast {} at period end, within budget",
            usd(b.forecast.period_end_nanos)
        ),
    }
}

/// A sentence for a team without a billing budget: its wallet runway.
fn wallet_sentence(team: &str, wallet: Option<&WalletJson>, rate: i64) -> String {
    let head = format!("{team} has no billing budget");
    match wallet {
        Some(w) if rate > 0 && w.balance_nanos > 0 => format!(
            "{head}; at {} a day its wallet balance of {} lasts about {} more days",
            usd(rate),
            usd(w.balance_nanos),
            w.balance_nanos / rate
        ),
        Some(w) if w.balance_nanos <= 0 => {
            format!(
                "{head}; its wallet is empty ({} balance)",
                usd(w.balance_nanos)
            )
        }
        Some(w) => format!("{head}; wallet balance {}", usd(w.balance_nanos)),
        None => format!("{head} and no wallet"),
    }
}

pub(super) fn team_rows(
    store: &dyn Store,
    state: &AppState,
    who: &Principal,
    range: DayRange,
    only: Option<&str>,
    clock: &Now,
) -> Result<Vec<TeamJson>, StoreError> {
    let now = clock.local;
    let current = state.budgets.current();
    let all_wallets = store.wallets(clock.instant)?;
    let teams: Vec<String> = match only {
        Some(t) => vec![t.to_string()],
        None => visible_among(&all_wallets, &current, who)
            .into_iter()
            .collect(),
    };
    let spend: HashMap<String, Sums> =
        grouped(store, range, only, None, None, &[InsightDim::Team])?
            .into_iter()
            .filter_map(|(_, k, s)| k.into_iter().next().flatten().map(|t| (t, s)))
            .collect();
    let mut wallets: HashMap<String, WalletJson> = all_wallets
        .into_iter()
        .map(|w| (w.team.clone(), WalletJson::from(w)))
        .collect();
    let budgets: Vec<&BudgetDef> = current
        .iter()
        .filter(|b| teams.contains(&b.team_id))
        .collect();
    // Every team's days in one read, not one (or two) per team.
    let daily = DailySpend::load(store, &teams, &budgets, now)?;
    let mut out = Vec::new();
    for team in teams {
        let s = spend.get(&team).copied().unwrap_or_default();
        let budget = budgets
            .iter()
            .find(|b| b.team_id == team)
            .map(|b| budget::status(b, &daily, now));
        let wallet = wallets.remove(&team);
        let rate = run_rate(&daily, &team, now);
        let mut summary = match &budget {
            Some(b) => budget_words(b),
            None => wallet_sentence(&team, wallet.as_ref(), rate),
        };
        let wallet_runway_days = wallet
            .as_ref()
            .filter(|w| rate > 0 && w.available_nanos > 0)
            .map(|w| w.available_nanos / rate);
        let status = pace_status(budget.as_ref(), wallet.as_ref());
        if let Some(w) = wallet.as_ref().filter(|w| w.unsettled_nanos > 0) {
            summary.push_str(&format!(
                "; {} of its wallet is held for an Envoy that stopped before reporting all its spend (released as the events arrive, or by an operator)",
                usd(w.unsettled_nanos)
            ));
        }
        out.push(TeamJson {
            team,
            spent_nanos: s.cost_nanos,
            requests: s.requests,
            cost_avoided_nanos: s.cost_avoided_nanos,
            wallet,
            budget,
            pace_status: status,
            wallet_runway_days,
            risk_rank: 0,
            summary,
        });
    }
    out.sort_by(|a, b| b.spent_nanos.cmp(&a.spent_nanos).then(a.team.cmp(&b.team)));
    rank_by_risk(&mut out);
    Ok(out)
}

/// `GET /v1/insights/teams`: each visible team's spend in the range, wallet and budget.
pub async fn get_teams(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    params: Params,
) -> Result<Json<TeamsResponse>, ApiError> {
    let args = Args::parse(params, &["from", "to"])?;
    let clock = now(&state).await?;
    let range = args.range(&clock)?;
    let store = state.store.clone();
    let s = state.clone();
    let teams = blocking(move || team_rows(store.as_ref(), &s, &who, range, None, &clock)).await?;
    let total: i64 = teams.iter().map(|t| t.spent_nanos).sum();
    let summary = match teams.first() {
        Some(top) if total > 0 => format!(
            "{} teams spent {} in the {} days to {}; {} accounts for {} of it",
            teams.len(),
            usd(total),
            range.days(),
            query::format_day(range.to_ms - DAY_MS),
            top.team,
            pct(share(top.spent_nanos, total))
        ),
        _ => format!(
            "No spend in the {} days to {}",
            range.days(),
            query::format_day(range.to_ms - DAY_MS)
        ),
    };
    Ok(Json(TeamsResponse {
        range: range.into(),
        teams,
        total_spent_nanos: total,
        summary,
    }))
}
