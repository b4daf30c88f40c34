//! `/v1/insights/budget`: a team's budget period on one dollar axis (daily spend,
//! actual to date, the even-pace line, the forecast and its band, the budget and its
//! alert thresholds), or, for the organisation, every team's daily spend with the
//! teams at risk named (budgets are never summed: one team far over its budget must
//! not hide behind others under theirs).

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Extension, State};
use axum::Json;
use serde::Serialize;
use tollgate_core::config::BudgetDef;

use crate::api::blocking::blocking;
use crate::auth::Principal;
use crate::budget::{self, BudgetStatus, DailySpend};
use crate::error::ApiError;
use crate::insights::narrative::usd;
use crate::insights::{Bucket, DayRange};
use crate::query::{self, DAY_MS};
use crate::state::AppState;
use crate::store::insights::InsightDim;

use super::args::{Args, Params};
use super::grouping::grouped;
use super::now::now;
use super::scope::{scope_json, RangeJson, ScopeJson};
use super::teams::{team_rows, TeamJson};

/// An alert threshold drawn as a line.
#[derive(Serialize)]
pub struct ThresholdJson {
    pub pct: u32,
    pub nanos: i64,
}

/// The team's budget period the chart shows: the one holding the range's last day.
#[derive(Serialize)]
pub struct PeriodJson {
    #[serde(flatten)]
    pub status: BudgetStatus,
    /// The period is over (the range ends before today): actual is final, no forecast.
    pub complete: bool,
    /// `over_budget`, `will_exceed`, `ahead_of_pace` or `on_track` (see
    /// `/v1/insights/teams`).
    pub pace_status: &'static str,
    pub thresholds: Vec<ThresholdJson>,
}

#[derive(Serialize)]
pub struct BudgetChartResponse {
    pub scope: ScopeJson,
    pub range: RangeJson,
    /// The reporting time zone the days are in.
    pub time_zone: String,
    /// The x axis: the budget period's days (a team with a budget), else the range's.
    pub days: Vec<String>,
    /// Daily spend per team on those days (one series for a team), 0 after today.
    pub daily: Vec<TeamSeries>,
    pub total_spent_nanos: i64,
    /// The team's budget period, when it has a budget.
    pub budget: Option<PeriodJson>,
    /// Spend since the period (or range) started, per day; null after today.
    pub actual: Vec<Option<i64>>,
    /// Even pace: the budget spread evenly over the period, at the end of each day.
    pub pace: Vec<Option<i64>>,
    /// A straight line from today's spend to the period-end forecast, and its band
    /// (null before today and in a complete period).
    pub forecast: Vec<Option<i64>>,
    pub forecast_low: Vec<Option<i64>>,
    pub forecast_high: Vec<Option<i64>>,
    /// Budget positions in words, most at risk first.
    pub sentences: Vec<String>,
    pub summary: String,
}

#[derive(Serialize)]
pub struct TeamSeries {
    pub team: String,
    pub values: Vec<i64>,
    pub total_nanos: i64,
}

fn pace_of(b: &BudgetStatus, complete: bool) -> &'static str {
    if b.spent_nanos >= b.budget_nanos {
        "over_budget"
    } else if complete {
        "on_track"
    } else if b.forecast.exhaustion_day.is_some() {
        "will_exceed"
    } else if b.spent_nanos > b.pace_nanos {
        "ahead_of_pace"
    } else {
        "on_track"
    }
}

/// The organisation's headline: what was spent, and every team at risk by name.
fn organisation_summary(teams: &[TeamJson], total: i64, range: DayRange) -> String {
    let head = format!(
        "The organisation spent {} in the {} days to {}",
        usd(total),
        range.days(),
        query::format_day(range.to_ms - DAY_MS)
    );
    let mut ranked: Vec<&TeamJson> = teams.iter().collect();
    ranked.sort_by_key(|t| t.risk_rank);
    let named = |status: &str| -> Vec<String> {
        ranked
            .iter()
            .filter(|t| t.pace_status == status)
            .map(|t| match &t.budget {
                Some(b) => format!("{} ({}% used)", t.team, b.used_pct),
                None => t.team.clone(),
            })
            .collect()
    };
    let mut parts = Vec::new();
    for (status, words) in [
        ("wallet_empty", "wallet empty"),
        ("over_budget", "over budget"),
        ("will_exceed", "on pace to exceed"),
    ] {
        let teams = named(status);
        if !teams.is_empty() {
            parts.push(format!("{words}: {}", teams.join(", ")));
        }
    }
    let budgets = teams.iter().filter(|t| t.budget.is_some()).count();
    if parts.is_empty() {
        match budgets {
            0 => format!("{head}; no billing budgets are set"),
            n => format!("{head}; all {n} budgets are within their limits"),
        }
    } else {
        format!("{head}; {}", parts.join("; "))
    }
}

/// `GET /v1/insights/budget`: for a team, its budget period against the budget line;
/// for the organisation (no `team`), each team's daily spend and the teams at risk.
pub async fn get_budget(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    params: Params,
) -> Result<Json<BudgetChartResponse>, ApiError> {
    let args = Args::parse(params, &["from", "to", "team"])?;
    let clock = now(&state).await?;
    let range = args.range(&clock)?;
    let team = who.scope(args.get("team"))?;
    let store = state.store.clone();
    let s = state.clone();
    let t = team.clone();
    let c = clock.clone();
    let budget_def: Option<BudgetDef> = team.as_ref().and_then(|t| {
        state
            .budgets
            .current()
            .iter()
            .find(|b| &b.team_id == t)
            .cloned()
    });
    let def = budget_def.clone();
    let (teams, period_status, rows, window) = blocking(move || {
        let teams = team_rows(store.as_ref(), &s, &who, range, t.as_deref(), &c)?;
        // A team with a budget: the period holding the range's last day, as of now
        // or, if it is over, as of its last instant.
        let (period_status, window) = match &def {
            Some(b) => {
                let last_day = (range.to_ms - DAY_MS).min(c.today());
                let p = budget::period::period_containing(b, last_day.div_euclid(DAY_MS));
                let as_of = c.local.min(p.end_ms() - 1);
                let spend = DailySpend::load(
                    store.as_ref(),
                    std::slice::from_ref(&b.team_id),
                    &[b],
                    as_of,
                )?;
                let st = budget::status(b, &spend, as_of);
                (
                    Some(st),
                    DayRange {
                        from_ms: p.start_ms(),
                        to_ms: p.end_ms(),
                    },
                )
            }
            None => (None, range),
        };
        let visible: Vec<String> = teams.iter().map(|t| t.team.clone()).collect();
        let rows: Vec<(i64, String, i64)> = grouped(
            store.as_ref(),
            window,
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
        Ok((teams, period_status, rows, window))
    })
    .await?;

    let day_starts = Bucket::Day.starts(window.from_ms, window.to_ms);
    let index: HashMap<i64, usize> = day_starts
        .iter()
        .enumerate()
        .map(|(i, d)| (*d, i))
        .collect();
    let n = day_starts.len();
    let today = clock.today();
    let mut per_team: BTreeMap<String, Vec<i64>> =
        teams.iter().map(|t| (t.team.clone(), vec![0; n])).collect();
    for (d, t, cost) in &rows {
        if let (Some(i), Some(v)) = (index.get(d), per_team.get_mut(t)) {
            v[*i] += cost;
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

    // Actual to date: the running total over the window, up to today.
    let mut actual = vec![None; n];
    let mut running = 0i64;
    for (i, d) in day_starts.iter().enumerate() {
        if *d > today {
            break;
        }
        running += daily.iter().map(|t| t.values[i]).sum::<i64>();
        actual[i] = Some(running);
    }

    let mut pace = vec![None; n];
    let mut forecast = vec![None; n];
    let mut low = vec![None; n];
    let mut high = vec![None; n];
    let budget = period_status.map(|st| {
        let complete = window.to_ms <= today;
        // Even pace at the end of each day of the period.
        for (i, slot) in pace.iter_mut().enumerate() {
            *slot = Some((i128::from(st.budget_nanos) * (i as i128 + 1) / n.max(1) as i128) as i64);
        }
        // Forecast: from the spend so far (the end of today) to the period-end
        // forecast at the period's last day.
        let last_day = window.to_ms - DAY_MS;
        if !complete && today <= last_day {
            let span = (last_day - today).max(DAY_MS) as f64;
            for (i, d) in day_starts.iter().enumerate() {
                if *d >= today {
                    let f = (*d - today) as f64 / span;
                    let at = |target: i64| {
                        Some(st.spent_nanos + ((target - st.spent_nanos) as f64 * f).round() as i64)
                    };
                    forecast[i] = at(st.forecast.period_end_nanos);
                    low[i] = at(st.forecast.low_nanos);
                    high[i] = at(st.forecast.high_nanos);
                }
            }
        }
        let thresholds = st
            .thresholds_pct
            .iter()
            .map(|p| ThresholdJson {
                pct: *p,
                nanos: (i128::from(st.budget_nanos) * i128::from(*p) / 100) as i64,
            })
            .collect();
        PeriodJson {
            pace_status: pace_of(&st, complete),
            complete,
            thresholds,
            status: st,
        }
    });

    let mut ranked: Vec<&TeamJson> = teams.iter().collect();
    ranked.sort_by_key(|t| t.risk_rank);
    let sentences: Vec<String> = ranked.iter().map(|t| t.summary.clone()).collect();
    let summary = match (&team, &budget) {
        (Some(_), Some(p)) if p.complete => format!(
            "{} spent {} of its {} budget of {} ({}%) in the period {} to {}",
            p.status.team,
            usd(p.status.spent_nanos),
            p.status.period,
            usd(p.status.budget_nanos),
            p.status.used_pct,
            p.status.period_start,
            query::format_day(p.status.period_end_ms - DAY_MS)
        ),
        (Some(_), _) => sentences.first().cloned().unwrap_or_default(),
        (None, _) => organisation_summary(&teams, total, range),
    };
    Ok(Json(BudgetChartResponse {
        scope: scope_json(&team),
        range: range.into(),
        time_zone: clock.calendar.name().to_string(),
        days: day_starts.iter().map(|d| query::format_day(*d)).collect(),
        daily,
        total_spent_nanos: total,
        budget,
        actual,
        pace,
        forecast,
        forecast_low: low,
        forecast_high: high,
        sentences,
        summary,
    }))
}
