//! `/v1/insights/budget`: daily and period-to-date spend against the budget line, with
//! the forecast and its band, and the teams that need attention first.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::extract::{Extension, State};
use axum::Json;
use serde::Serialize;

use crate::api::blocking::blocking;
use crate::auth::Principal;
use crate::budget::BudgetStatus;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::insights::narrative::{pct, share, usd};
use crate::insights::{Bucket, DayRange};
use crate::query::{self, DAY_MS};
use crate::state::AppState;
use crate::store::insights::InsightDim;

use super::args::{Args, Params};
use super::grouping::grouped;
use super::scope::{scope_json, RangeJson, ScopeJson};
use super::teams::{team_rows, TeamJson};

#[derive(Serialize)]
pub struct BudgetLineJson {
    pub amount_nanos: i64,
    pub period_start: String,
    pub period_end: String,
    pub period_start_ms: i64,
    pub period_end_ms: i64,
    pub spent_nanos: i64,
    pub forecast_nanos: i64,
    pub forecast_low_nanos: i64,
    pub forecast_high_nanos: i64,
    /// Budgets summed into this line (1 for a team).
    pub budgets: usize,
}

#[derive(Serialize)]
pub struct BudgetChartResponse {
    pub scope: ScopeJson,
    pub range: RangeJson,
    /// The x axis: the range's days, extended to the end of the current budget period.
    pub days: Vec<String>,
    /// Daily spend per team (one series per team; one for a team view).
    pub daily: Vec<TeamSeries>,
    /// Spend since the budget period started, per day (null outside the period or
    /// after today).
    pub cumulative: Vec<Option<i64>>,
    /// Straight line from today's spend to the period-end forecast, and its band
    /// (null before today).
    pub forecast: Vec<Option<i64>>,
    pub forecast_low: Vec<Option<i64>>,
    pub forecast_high: Vec<Option<i64>>,
    pub budget: Option<BudgetLineJson>,
    pub total_spent_nanos: i64,
    /// Budget summaries in words, most urgent first.
    pub sentences: Vec<String>,
    pub summary: String,
}

#[derive(Serialize)]
pub struct TeamSeries {
    pub team: String,
    pub values: Vec<i64>,
    pub total_nanos: i64,
}

/// `GET /v1/insights/budget`: daily spend against the budget line, with the forecast
/// and its band, for a team or for every visible team (their budgets summed).
pub async fn get_budget(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    params: Params,
) -> Result<Json<BudgetChartResponse>, ApiError> {
    let args = Args::parse(params, &["from", "to", "team"])?;
    let now = now_ms();
    let range = args.range(now)?;
    let team = who.scope(args.get("team"))?;
    let store = state.store.clone();
    let s = state.clone();
    let t = team.clone();
    let (teams, rows) = blocking(move || {
        let teams = team_rows(store.as_ref(), &s, &who, range, t.as_deref())?;
        let visible: BTreeSet<String> = teams.iter().map(|t| t.team.clone()).collect();
        // Period to date, for the cumulative line: from the earliest period start.
        let period_from = teams
            .iter()
            .filter_map(|t| t.budget.as_ref().map(|b| b.period_start_ms))
            .min()
            .unwrap_or(range.from_ms)
            .min(range.from_ms);
        let wide = DayRange {
            from_ms: period_from,
            to_ms: range.to_ms.max(DayRange::last_days(now, 1).to_ms),
        };
        let rows: Vec<(i64, String, i64)> = grouped(
            store.as_ref(),
            wide,
            t.as_deref(),
            None,
            Some(Bucket::Day),
            &[InsightDim::Team],
        )?
        .into_iter()
        .filter_map(|(d, k, s)| {
            let team = k.into_iter().next().flatten()?;
            visible.contains(&team).then_some((d, team, s.cost_nanos))
        })
        .collect();
        Ok((teams, rows))
    })
    .await?;

    // The budget line: the team's, or the sum of every visible team's budget whose
    // period is the same as the first one's (monthly budgets, typically).
    let statuses: Vec<&BudgetStatus> = teams.iter().filter_map(|t| t.budget.as_ref()).collect();
    let line = statuses.first().map(|first| {
        let same: Vec<&&BudgetStatus> = statuses
            .iter()
            .filter(|b| {
                b.period_start_ms == first.period_start_ms && b.period_end_ms == first.period_end_ms
            })
            .collect();
        BudgetLineJson {
            amount_nanos: same.iter().map(|b| b.budget_nanos).sum(),
            period_start: first.period_start.clone(),
            period_end: first.period_end.clone(),
            period_start_ms: first.period_start_ms,
            period_end_ms: first.period_end_ms,
            spent_nanos: same.iter().map(|b| b.spent_nanos).sum(),
            forecast_nanos: same.iter().map(|b| b.forecast.period_end_nanos).sum(),
            forecast_low_nanos: same.iter().map(|b| b.forecast.low_nanos).sum(),
            forecast_high_nanos: same.iter().map(|b| b.forecast.high_nanos).sum(),
            budgets: same.len(),
        }
    });
    let budget_teams: BTreeSet<&str> = match &line {
        Some(l) => statuses
            .iter()
            .filter(|b| {
                b.period_start_ms == l.period_start_ms && b.period_end_ms == l.period_end_ms
            })
            .map(|b| b.team.as_str())
            .collect(),
        None => BTreeSet::new(),
    };

    let end_ms = match &line {
        Some(l) if l.period_end_ms > range.to_ms && l.period_start_ms < range.to_ms => {
            l.period_end_ms
        }
        _ => range.to_ms,
    };
    let day_starts: Vec<i64> = Bucket::Day.starts(range.from_ms, end_ms);
    let index: HashMap<i64, usize> = day_starts
        .iter()
        .enumerate()
        .map(|(i, d)| (*d, i))
        .collect();
    let today = now.div_euclid(DAY_MS) * DAY_MS;

    let mut per_team: BTreeMap<String, Vec<i64>> = teams
        .iter()
        .map(|t| (t.team.clone(), vec![0; day_starts.len()]))
        .collect();
    let mut cumulative = vec![None; day_starts.len()];
    let mut running = 0i64;
    // Period-to-date per day (only teams whose budget forms the line).
    let mut by_day: BTreeMap<i64, i64> = BTreeMap::new();
    for (d, t, cost) in &rows {
        if let (Some(i), Some(v)) = (index.get(d), per_team.get_mut(t)) {
            if *d < range.to_ms {
                v[*i] += cost;
            }
        }
        if budget_teams.contains(t.as_str()) {
            *by_day.entry(*d).or_default() += cost;
        }
    }
    let mut forecast = vec![None; day_starts.len()];
    let mut low = vec![None; day_starts.len()];
    let mut high = vec![None; day_starts.len()];
    if let Some(l) = &line {
        for (d, cost) in &by_day {
            if *d >= l.period_start_ms && *d < l.period_end_ms {
                running += cost;
                if let Some(i) = index.get(d) {
                    cumulative[*i] = Some(running);
                }
            }
        }
        // Fill idle days inside the period up to today with the running total.
        let mut last = None;
        for (i, d) in day_starts.iter().enumerate() {
            if *d >= l.period_start_ms && *d <= today && *d < l.period_end_ms {
                if cumulative[i].is_none() {
                    cumulative[i] = Some(last.unwrap_or_else(|| {
                        by_day
                            .range(l.period_start_ms..*d)
                            .map(|(_, c)| *c)
                            .sum::<i64>()
                    }));
                }
                last = cumulative[i];
            }
        }
        // Forecast: a straight line from the spend so far (at the end of today) to the
        // period-end forecast at the period's last day.
        let last_day = l.period_end_ms - DAY_MS;
        if today <= last_day {
            let span = (last_day - today).max(DAY_MS) as f64;
            for (i, d) in day_starts.iter().enumerate() {
                if *d >= today && *d <= last_day {
                    let f = (*d - today) as f64 / span;
                    let at = |target: i64| {
                        Some(l.spent_nanos + ((target - l.spent_nanos) as f64 * f).round() as i64)
                    };
                    forecast[i] = at(l.forecast_nanos);
                    low[i] = at(l.forecast_low_nanos);
                    high[i] = at(l.forecast_high_nanos);
                }
            }
        }
    }

    let daily: Vec<TeamSeries> = per_team
        .into_iter()
        .map(|(team, values)| TeamSeries {
            total_nanos: values.iter().sum(),
            team,
            values,
        })
        .collect();
    let total: i64 = daily.iter().map(|t| t.total_nanos).sum();
    // Most urgent first: exhaustion soonest, then highest use.
    let mut urgent: Vec<&TeamJson> = teams.iter().collect();
    urgent.sort_by_key(|t| {
        let b = t.budget.as_ref();
        (
            b.and_then(|b| b.forecast.exhaustion_day.clone())
                .unwrap_or_else(|| "9999".into()),
            -b.map(|b| b.used_pct).unwrap_or(-1),
        )
    });
    let sentences: Vec<String> = urgent.iter().map(|t| t.summary.clone()).collect();
    let summary = match (&team, &line) {
        (Some(_), _) => sentences.first().cloned().unwrap_or_default(),
        (None, Some(l)) => {
            let over: Vec<&str> = teams
                .iter()
                .filter(|t| {
                    t.budget
                        .as_ref()
                        .is_some_and(|b| b.forecast.exhaustion_day.is_some())
                })
                .map(|t| t.team.as_str())
                .collect();
            let head = format!(
                "The organisation has used {} of its {} this period ({} of {})",
                pct(share(l.spent_nanos, l.amount_nanos)),
                if l.budgets == 1 {
                    "one budget".to_string()
                } else {
                    format!("{} budgets", l.budgets)
                },
                usd(l.spent_nanos),
                usd(l.amount_nanos)
            );
            if over.is_empty() {
                format!(
                    "{head}; forecast {} at period end, within budget",
                    usd(l.forecast_nanos)
                )
            } else {
                format!("{head}; on pace to exceed: {}", over.join(", "))
            }
        }
        (None, None) => format!(
            "No billing budgets are set; {} spent {} in this range",
            if teams.len() == 1 {
                "the team"
            } else {
                "the teams"
            },
            usd(total)
        ),
    };
    Ok(Json(BudgetChartResponse {
        scope: scope_json(&team),
        range: range.into(),
        days: day_starts.iter().map(|d| query::format_day(*d)).collect(),
        daily,
        cumulative,
        forecast,
        forecast_low: low,
        forecast_high: high,
        budget: line,
        total_spent_nanos: total,
        sentences,
        summary,
    }))
}
