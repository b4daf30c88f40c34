//! Billing budgets: soft thresholds that warn and alert, never block.
//!
//! Every few seconds the ledger evaluates each budget's current period: spend so far,
//! pace and forecast; a threshold of actual spend (or of forecast period-end spend)
//! that is reached fires an alert once per period — the store's unique key makes that
//! exact even across restarts and several ledgers — and its webhook deliveries are
//! retried with backoff until delivered.

pub mod delivery;
pub mod forecast;
pub mod period;

use std::collections::HashMap;

use serde::Serialize;
use tollgate_core::config::{AlertsConfig, BudgetDef};
use tollgate_core::money::format_usd;

use crate::store::alerts::{AlertFacts, NewAlert};
use crate::store::{Store, StoreError};
use forecast::{forecast, Forecast, HISTORY_DAYS};
use period::{format_day, period_containing, DAY_MS};

/// One budget's state now.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetStatus {
    pub team: String,
    pub period: &'static str,
    /// First and last-plus-one dates of the period, in the reporting time zone.
    pub period_start: String,
    pub period_end: String,
    /// The same days as labels (see `crate::calendar`: Unix ms of the date at 00:00
    /// UTC, which in UTC is the instant the period starts).
    pub period_start_ms: i64,
    pub period_end_ms: i64,
    pub budget_nanos: i64,
    pub spent_nanos: i64,
    /// Spent as a whole percentage of the budget (rounded down).
    pub used_pct: i64,
    pub pace_nanos: i64,
    pub forecast: ForecastJson,
    pub thresholds_pct: Vec<u32>,
    pub forecast_thresholds_pct: Vec<u32>,
    /// One sentence a leader can act on.
    pub summary: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ForecastJson {
    pub method: &'static str,
    pub run_rate_per_day_nanos: i64,
    pub period_end_nanos: i64,
    pub low_nanos: i64,
    pub high_nanos: i64,
    /// Day (`YYYY-MM-DD`) the budget is used up at the current run rate, if this period.
    pub exhaustion_day: Option<String>,
}

fn period_name(b: &BudgetDef) -> &'static str {
    match b.period {
        tollgate_core::config::BudgetPeriodKind::Monthly => "monthly",
        tollgate_core::config::BudgetPeriodKind::Quarterly => "quarterly",
        tollgate_core::config::BudgetPeriodKind::Custom => "custom",
    }
}

fn pct(part: i64, whole: i64) -> i64 {
    if whole <= 0 {
        return 0;
    }
    (i128::from(part) * 100 / i128::from(whole)) as i64
}

fn summary(b: &BudgetDef, spent: i64, f: &Forecast) -> String {
    let budget = b.amount_usd.0;
    let head = format!(
        "{} has used {}% of its {} budget (${} of ${})",
        b.team_id,
        pct(spent, budget),
        period_name(b),
        format_usd(spent),
        format_usd(budget)
    );
    match f.exhaustion_ms {
        Some(_) if spent >= budget => format!("{head}; the budget is used up"),
        Some(at) => format!(
            "{head}; on pace to exceed it on {}",
            format_day(at.div_euclid(DAY_MS))
        ),
        None => format!(
            "{head}; forecast ${} at period end, within budget",
            format_usd(f.period_end_nanos)
        ),
    }
}

/// Teams' spend per UTC day over one window, read from the store in one query so that
/// a page about every team does not ask once per team.
#[derive(Debug, Default)]
pub struct DailySpend {
    from_day: i64,
    by_team: HashMap<String, Vec<i64>>,
}

impl DailySpend {
    /// The spend of `teams` over every day the budgets' current periods and
    /// [`HISTORY_DAYS`] of history before today need (at least `[today - HISTORY_DAYS,
    /// today]`).
    pub fn load(
        store: &dyn Store,
        teams: &[String],
        budgets: &[&BudgetDef],
        now_ms: i64,
    ) -> Result<DailySpend, StoreError> {
        let today = now_ms.div_euclid(DAY_MS);
        let (from_day, to_day) =
            budgets
                .iter()
                .fold((today - HISTORY_DAYS as i64, today + 1), |(from, to), b| {
                    let p = period_containing(b, today);
                    (from.min(p.start_day), to.max(p.end_day))
                });
        Ok(DailySpend {
            from_day,
            by_team: store.daily_spend(teams, from_day, to_day)?,
        })
    }

    /// The team's spend on each day of `[from_day, to_day)` (0 outside what was loaded).
    pub fn days(&self, team: &str, from_day: i64, to_day: i64) -> Vec<i64> {
        let loaded = self.by_team.get(team).map_or(&[][..], Vec::as_slice);
        (from_day..to_day)
            .map(|day| {
                usize::try_from(day - self.from_day)
                    .ok()
                    .and_then(|i| loaded.get(i))
                    .copied()
                    .unwrap_or(0)
            })
            .collect()
    }
}

/// The status of each budget at the instant `now_ms`, from one read of the store;
/// periods are days and months of the store's reporting time zone.
pub fn statuses(
    store: &dyn Store,
    budgets: &[&BudgetDef],
    now_ms: i64,
) -> Result<Vec<BudgetStatus>, StoreError> {
    let mut teams: Vec<String> = budgets.iter().map(|b| b.team_id.clone()).collect();
    teams.sort_unstable();
    teams.dedup();
    let local = store.calendar()?.local_clock(now_ms);
    let spend = DailySpend::load(store, &teams, budgets, local)?;
    Ok(budgets.iter().map(|b| status(b, &spend, local)).collect())
}

/// One budget's status at `now_ms` on the reporting calendar's local clock (see
/// `ReportingCalendar::local_clock`), from spend already read (see [`DailySpend::load`]).
pub fn status(b: &BudgetDef, spend: &DailySpend, now_ms: i64) -> BudgetStatus {
    let today = now_ms.div_euclid(DAY_MS);
    let p = period_containing(b, today);
    // Periods are whole days of the daily rollups, so the period's spend is the sum
    // of its days.
    let spent = spend.days(&b.team_id, p.start_day, p.end_day).iter().sum();
    let history = spend.days(&b.team_id, today - HISTORY_DAYS as i64, today);
    // Days before the team's first spend are not history: skip leading idle days.
    let first = history.iter().position(|&d| d > 0).unwrap_or(history.len());
    let f = forecast(
        b.amount_usd.0,
        p.start_ms(),
        p.end_ms(),
        now_ms,
        spent,
        &history[first..],
    );
    BudgetStatus {
        team: b.team_id.clone(),
        period: period_name(b),
        period_start: format_day(p.start_day),
        period_end: format_day(p.end_day),
        period_start_ms: p.start_ms(),
        period_end_ms: p.end_ms(),
        budget_nanos: b.amount_usd.0,
        spent_nanos: spent,
        used_pct: pct(spent, b.amount_usd.0),
        pace_nanos: f.pace_nanos,
        forecast: ForecastJson {
            method: f.method.as_str(),
            run_rate_per_day_nanos: f.run_rate_per_day_nanos,
            period_end_nanos: f.period_end_nanos,
            low_nanos: f.low_nanos,
            high_nanos: f.high_nanos,
            exhaustion_day: f.exhaustion_ms.map(|ms| format_day(ms.div_euclid(DAY_MS))),
        },
        thresholds_pct: b.thresholds_pct.clone(),
        forecast_thresholds_pct: b.forecast_thresholds_pct.clone(),
        summary: summary(b, spent, &f),
    }
}

/// The thresholds this status has reached: `(kind, pct)`.
pub fn reached(s: &BudgetStatus) -> Vec<(&'static str, u32)> {
    let mut out: Vec<(&'static str, u32)> = s
        .thresholds_pct
        .iter()
        .filter(|&&t| s.used_pct >= i64::from(t))
        .map(|&t| ("actual", t))
        .collect();
    out.extend(
        s.forecast_thresholds_pct
            .iter()
            .filter(|&&t| pct(s.forecast.period_end_nanos, s.budget_nanos) >= i64::from(t))
            .map(|&t| ("forecast", t)),
    );
    out
}

/// A short note for response headers when the team is past a threshold.
pub fn notice(s: &BudgetStatus) -> Option<String> {
    let crossed = reached(s);
    if crossed.is_empty() {
        return None;
    }
    Some(format!(
        "{}% of {} budget used; forecast {}% by {}",
        s.used_pct,
        s.period,
        pct(s.forecast.period_end_nanos, s.budget_nanos),
        s.period_end
    ))
}

/// Evaluates every budget and records newly reached thresholds. Returns how many
/// alerts fired.
pub fn evaluate(
    store: &dyn Store,
    budgets: &[BudgetDef],
    alerts: &AlertsConfig,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let mut fired = 0;
    let budgets: Vec<&BudgetDef> = budgets.iter().collect();
    for s in statuses(store, &budgets, now_ms)? {
        for (kind, threshold) in reached(&s) {
            let message = match kind {
                "actual" => format!(
                    "Budget alert: {} (threshold {threshold}% reached).",
                    s.summary
                ),
                _ => format!(
                    "Budget forecast alert: {} (forecast passes {threshold}%).",
                    s.summary
                ),
            };
            let alert = NewAlert {
                team: s.team.clone(),
                period_start_ms: s.period_start_ms,
                period_end_ms: s.period_end_ms,
                kind,
                threshold_pct: threshold,
                spent_nanos: s.spent_nanos,
                budget_nanos: s.budget_nanos,
                forecast_nanos: s.forecast.period_end_nanos,
                message,
            };
            if crate::alerts::record(store, alerts, &alert, &AlertFacts::default(), now_ms)?
                .is_some()
            {
                tracing::warn!(team = s.team, kind, threshold, "budget threshold reached");
                fired += 1;
            }
        }
    }
    Ok(fired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{IngestBatch, SqliteStore};
    use crate::test_util::{batch, event, TempDir};
    use tollgate_core::config::{BudgetPeriodKind, WebhookDef, WebhookFormat};
    use tollgate_core::money::Usd;

    const USD: i64 = 1_000_000_000;

    #[test]
    fn each_threshold_fires_once_per_period() {
        let dir = TempDir::new();
        let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
        let now = tollgate_core::config::days_from_civil(2026, 11, 15) * DAY_MS + 3_600_000;
        let budget = BudgetDef {
            team_id: "team_a".into(),
            amount_usd: Usd(100 * USD),
            period: BudgetPeriodKind::Monthly,
            start: None,
            length_days: None,
            thresholds_pct: vec![50, 80, 100],
            forecast_thresholds_pct: vec![],
        };
        let alerts = AlertsConfig {
            webhooks: vec![WebhookDef {
                url: "http://127.0.0.1:9/hook".into(),
                format: WebhookFormat::Slack,
            }],
            ..AlertsConfig::default()
        };
        let ingest = |id: &str, cost: i64| {
            store
                .ingest(&IngestBatch {
                    events: vec![event(id, now - 1000, "team_a", cost)],
                    rejected: vec![],
                    received_ms: now,
                    lease_closures: Vec::new(),
                    drops: Vec::new(),
                    held_back: Vec::new(),
                })
                .unwrap();
        };
        ingest("e1", 60 * USD);
        assert_eq!(
            evaluate(&store, std::slice::from_ref(&budget), &alerts, now).unwrap(),
            1,
            "50% reached"
        );
        assert_eq!(
            evaluate(&store, std::slice::from_ref(&budget), &alerts, now).unwrap(),
            0,
            "not again"
        );
        ingest("e2", 45 * USD);
        assert_eq!(
            evaluate(&store, std::slice::from_ref(&budget), &alerts, now).unwrap(),
            2,
            "80% and 100%"
        );
        let fired = store.alerts(10).unwrap();
        assert_eq!(fired.len(), 3);
        assert_eq!(fired[0].deliveries.len(), 1);
        assert_eq!(fired[0].deliveries[0].target, "http://127.0.0.1:9");
        assert!(
            fired[0].message.contains("team_a has used 105%"),
            "{}",
            fired[0].message
        );
        // Next month is a new period: thresholds may fire again there.
        let next = tollgate_core::config::days_from_civil(2026, 12, 2) * DAY_MS;
        assert_eq!(
            evaluate(&store, &[budget], &alerts, next).unwrap(),
            0,
            "nothing spent in December yet"
        );
    }

    fn budget(team: &str, period: BudgetPeriodKind, usd: i64) -> BudgetDef {
        BudgetDef {
            team_id: team.into(),
            amount_usd: Usd(usd * USD),
            period,
            start: None,
            length_days: None,
            thresholds_pct: vec![80],
            forecast_thresholds_pct: vec![],
        }
    }

    #[test]
    fn every_budget_is_judged_on_its_own_period_from_one_read() {
        let dir = TempDir::new();
        let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
        let day = |m, d| tollgate_core::config::days_from_civil(2026, m, d) * DAY_MS;
        let now = day(11, 15) + 3_600_000;
        let events = vec![
            event("sep", day(9, 30), "team_a", USD), // last quarter: in neither
            event("oct", day(10, 20), "team_a", 2 * USD), // this quarter, last month
            event("nov1", day(11, 1), "team_a", 3 * USD), // this month, first day
            event("nov14", day(11, 14), "team_a", 4 * USD),
            event("b", day(11, 10), "team_b", 5 * USD),
            event("c", day(11, 12), "team_c", 6 * USD), // a team without a budget
        ];
        store.ingest(&batch(events)).unwrap();
        let monthly_a = budget("team_a", BudgetPeriodKind::Monthly, 10);
        let quarterly_a = budget("team_a", BudgetPeriodKind::Quarterly, 100);
        let monthly_b = budget("team_b", BudgetPeriodKind::Monthly, 10);
        let all = statuses(&store, &[&monthly_a, &quarterly_a, &monthly_b], now).unwrap();
        let spent: Vec<(&str, &str, i64)> = all
            .iter()
            .map(|s| (s.team.as_str(), s.period, s.spent_nanos))
            .collect();
        assert_eq!(
            spent,
            vec![
                ("team_a", "monthly", 7 * USD),
                ("team_a", "quarterly", 9 * USD),
                ("team_b", "monthly", 5 * USD),
            ]
        );
        assert_eq!(all[0].used_pct, 70);
        // One budget alone reads the same as it does among others.
        let alone = statuses(&store, &[&quarterly_a], now).unwrap();
        assert_eq!(alone[0].spent_nanos, all[1].spent_nanos);
        assert_eq!(
            alone[0].forecast.period_end_nanos,
            all[1].forecast.period_end_nanos
        );
        // Loaded days outside a team's list are zero, not another team's.
        let teams = ["team_a".to_string()];
        let daily = DailySpend::load(&store, &teams, &[], now).unwrap();
        let today = now.div_euclid(DAY_MS);
        assert_eq!(daily.days("team_a", today - 1, today + 1), vec![4 * USD, 0]);
        assert_eq!(daily.days("team_c", today - 3, today), vec![0, 0, 0]);
        // Days before what was loaded read as zero rather than failing.
        assert_eq!(daily.days("team_a", today - 400, today - 399), vec![0]);
    }
}
