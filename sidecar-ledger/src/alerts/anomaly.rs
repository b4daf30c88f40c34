//! Spend anomalies: a team's (or one of its workflows') spend today, so far, far above
//! what it spent by the same time of day on each of the last 14 days. It fires when
//! today passes the trailing mean plus `sensitivity` standard deviations and exceeds
//! the mean by at least the configured amount (small teams do not page), once per
//! team (or workflow) and day, with the numbers in its sentence.

use std::collections::BTreeMap;

use serde_json::json;
use tollgate_core::config::AlertsConfig;

use crate::calendar::ReportingCalendar;
use crate::insights::narrative::usd;
use crate::query::{Dim, Filters, SpendQuery};
use crate::store::alerts::{AlertFacts, NewAlert};
use crate::store::{KeyValue, Store, StoreError};

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;
/// Trailing days compared with today.
pub const TRAILING_DAYS: i64 = 14;
/// Days of history a team or workflow needs before it can be anomalous (a new team's
/// first busy day is not an anomaly).
pub const MIN_DAYS: usize = 7;

pub const KIND: &str = "spend_anomaly";

/// Today against the trailing days, all in nanodollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    pub today_nanos: i64,
    pub mean_nanos: i64,
    /// Population standard deviation of the trailing days' totals.
    pub sigma_nanos: i64,
    /// `mean + sensitivity × sigma`: today passed it.
    pub threshold_nanos: i64,
    pub days: usize,
}

/// Whether `today` is anomalous against `past` (each trailing day's total by the same
/// time of day): above `mean + sigmas × σ`, and above the mean by `min_excess_nanos`
/// at least. Needs [`MIN_DAYS`] of history. Integer arithmetic throughout.
pub fn detect(today: i64, past: &[i64], sigmas: u32, min_excess_nanos: i64) -> Option<Finding> {
    if past.len() < MIN_DAYS {
        return None;
    }
    let n = past.len() as i128;
    let sum: i128 = past.iter().map(|&x| i128::from(x)).sum();
    let mean = sum / n;
    let var = past
        .iter()
        .map(|&x| (i128::from(x) - mean).pow(2))
        .sum::<i128>()
        / n;
    let sigma = isqrt(var);
    let threshold = mean + i128::from(sigmas) * sigma;
    let today = i128::from(today);
    if today <= threshold || today - mean < i128::from(min_excess_nanos) {
        return None;
    }
    let clamp = |v: i128| i64::try_from(v).unwrap_or(i64::MAX);
    Some(Finding {
        today_nanos: clamp(today),
        mean_nanos: clamp(mean),
        sigma_nanos: clamp(sigma),
        threshold_nanos: clamp(threshold),
        days: past.len(),
    })
}

fn isqrt(v: i128) -> i128 {
    if v <= 0 {
        return 0;
    }
    // Newton's method from an upper bound; exact floor square root.
    let mut x = 1i128 << ((128 - v.leading_zeros()).div_ceil(2));
    loop {
        let y = (x + v / x) / 2;
        if y >= x {
            return x;
        }
        x = y;
    }
}

/// One subject's totals: today's so far, and each trailing day's by the same time,
/// oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Series {
    today: i64,
    past: Vec<i64>,
}

/// Checks every team and workflow with spend in the trailing days and records the
/// anomalies found (once per day each). Returns how many fired now.
pub fn evaluate(
    store: &dyn Store,
    config: &AlertsConfig,
    calendar: &ReportingCalendar,
    now_ms: i64,
) -> Result<usize, StoreError> {
    if !config.anomaly.enabled {
        return Ok(0);
    }
    let today_label = calendar.day_label(now_ms);
    let today_start = calendar.day_start(today_label);
    // "So far" counts whole hours, the rollups' grain: the current hour included.
    let so_far = (now_ms - today_start).div_euclid(HOUR_MS) * HOUR_MS + HOUR_MS;
    let starts: Vec<i64> = (1..=TRAILING_DAYS)
        .rev()
        .map(|k| calendar.day_start(today_label - k * DAY_MS))
        .collect();
    let from = starts[0].div_euclid(HOUR_MS) * HOUR_MS;
    let rows = store.spend(&SpendQuery {
        group_by: vec![Dim::Team, Dim::Workflow, Dim::Hour],
        from_ms: from,
        to_ms: today_start + so_far,
        filters: Filters::default(),
        calendar: calendar.clone(),
    })?;
    // (team, workflow or None for the team) → per-day totals.
    let mut series: BTreeMap<(String, Option<String>), Series> = BTreeMap::new();
    for row in rows {
        let (
            Some(KeyValue::Text(Some(team))),
            Some(KeyValue::Text(workflow)),
            Some(KeyValue::TimeMs(hour)),
        ) = (row.key.first(), row.key.get(1), row.key.get(2))
        else {
            continue;
        };
        let cost = row.sums.cost_nanos;
        let slot = if *hour >= today_start {
            None
        } else {
            match starts.iter().rposition(|&s| *hour >= s) {
                Some(i) if *hour < starts[i] + so_far => Some(i),
                _ => continue,
            }
        };
        let mut subjects = vec![(team.clone(), None)];
        if let Some(w) = workflow {
            subjects.push((team.clone(), Some(w.clone())));
        }
        for key in subjects {
            let s = series.entry(key).or_insert_with(|| Series {
                today: 0,
                past: vec![0; starts.len()],
            });
            match slot {
                None => s.today += cost,
                Some(i) => s.past[i] += cost,
            }
        }
    }
    let mut fired = 0;
    let at = calendar.format_local(now_ms);
    let clock = at.get(11..16).unwrap_or("now");
    for ((team, workflow), s) in series {
        // History counts from the subject's first day with spend.
        let first = s.past.iter().position(|&x| x > 0).unwrap_or(s.past.len());
        let Some(f) = detect(
            s.today,
            &s.past[first..],
            config.anomaly.sensitivity,
            config.anomaly.min_excess_usd.0,
        ) else {
            continue;
        };
        let who = match &workflow {
            Some(w) => format!("{team}'s workflow {w}"),
            None => team.clone(),
        };
        let message = format!(
            "Spend anomaly: {who} has spent {} today by {clock}, against {} on average by that \
             time over the last {} days (standard deviation {}); the alert level is {} \
             (mean + {}σ).",
            usd(f.today_nanos),
            usd(f.mean_nanos),
            f.days,
            usd(f.sigma_nanos),
            usd(f.threshold_nanos),
            config.anomaly.sensitivity,
        );
        let alert = NewAlert {
            team: team.clone(),
            period_start_ms: today_start,
            period_end_ms: calendar.day_start(today_label + DAY_MS),
            kind: KIND,
            threshold_pct: 0,
            spent_nanos: f.today_nanos,
            budget_nanos: f.threshold_nanos,
            forecast_nanos: f.mean_nanos,
            message,
        };
        let facts = AlertFacts {
            subject: workflow.clone(),
            details: json!({
                "workflow": workflow,
                "today_nanos": f.today_nanos,
                "mean_nanos": f.mean_nanos,
                "sigma_nanos": f.sigma_nanos,
                "threshold_nanos": f.threshold_nanos,
                "days": f.days,
                "sigmas": config.anomaly.sensitivity,
            }),
        };
        if super::route::record(store, config, &alert, &facts, now_ms)?.is_some() {
            tracing::warn!(team, workflow, today_nanos = f.today_nanos, "spend anomaly");
            fired += 1;
        }
    }
    Ok(fired)
}

#[cfg(test)]
mod tests {
    use super::*;

    const USD: i64 = 1_000_000_000;

    #[test]
    fn fires_only_far_above_the_trailing_days_and_the_minimum() {
        let past = [10, 12, 8, 10, 11, 9, 10, 12, 8, 10].map(|d| d * USD);
        // mean 10, σ = sqrt(1.8) ≈ 1.3416: the level is 10 + 3σ ≈ 14.02.
        let f = detect(40 * USD, &past, 3, 5 * USD).unwrap();
        assert_eq!(f.mean_nanos, 10 * USD);
        assert_eq!(f.sigma_nanos, 1_341_640_786);
        assert_eq!(f.threshold_nanos, 10 * USD + 3 * 1_341_640_786);
        assert_eq!(f.days, 10);
        assert_eq!(detect(14 * USD, &past, 3, 1), None, "under mean + 3σ");
        assert!(detect(15 * USD, &past, 3, 1).is_some());
        assert_eq!(
            detect(15 * USD, &past, 3, 6 * USD),
            None,
            "excess under the minimum"
        );
        assert_eq!(
            detect(40 * USD, &past[..6], 3, 1),
            None,
            "too little history"
        );
        // A flat history (σ = 0): any excess past the minimum fires.
        let flat = [USD; 14];
        assert_eq!(detect(USD + 1, &flat, 3, USD), None);
        assert_eq!(detect(2 * USD, &flat, 3, USD).unwrap().threshold_nanos, USD);
    }

    #[test]
    fn a_workflow_far_above_its_days_fires_once_with_its_numbers() {
        use crate::store::SqliteStore;
        use crate::test_util::{batch, event, TempDir};
        let dir = TempDir::new();
        let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
        let cal = ReportingCalendar::utc();
        let day0 = tollgate_core::config::days_from_civil(2026, 11, 16) * DAY_MS;
        let now = day0 + 10 * HOUR_MS + 30 * 60_000;
        let mut events = Vec::new();
        let mut add = |id: String, ts: i64, wf: &str, cost: i64| {
            let mut e = event(&id, ts, "team_a", cost);
            e.workflow = Some(wf.into());
            events.push(e);
        };
        for d in 1..=14 {
            let start = day0 - d * DAY_MS;
            // $2 by 10:00 each day, and $50 late in the day (not "by this time").
            add(
                format!("m{d}"),
                start + 3 * HOUR_MS,
                "draft-reply",
                (2 + d % 2) * USD,
            );
            add(format!("s{d}"), start + 4 * HOUR_MS, "summarise", 5 * USD);
            add(
                format!("l{d}"),
                start + 20 * HOUR_MS,
                "draft-reply",
                50 * USD,
            );
        }
        add("t1".into(), day0 + HOUR_MS, "draft-reply", 30 * USD);
        add("t2".into(), day0 + 10 * HOUR_MS, "summarise", 5 * USD);
        store.ingest(&batch(events)).unwrap();
        let config = AlertsConfig::default();
        assert_eq!(evaluate(&store, &config, &cal, now).unwrap(), 2);
        assert_eq!(
            evaluate(&store, &config, &cal, now + 60_000).unwrap(),
            0,
            "once a day"
        );
        let fired = store.alerts(10).unwrap();
        let wf = fired
            .iter()
            .find(|a| a.subject.as_deref() == Some("draft-reply"))
            .unwrap();
        assert_eq!(wf.kind, KIND);
        assert_eq!(wf.spent_nanos, 30 * USD);
        assert_eq!(wf.forecast_nanos, 2_500_000_000, "mean of 2 and 3");
        assert_eq!(
            wf.message,
            "Spend anomaly: team_a's workflow draft-reply has spent $30.00 today by 10:30, \
             against $2.50 on average by that time over the last 14 days (standard deviation \
             $0.50); the alert level is $4.00 (mean + 3σ)."
        );
        // The team as a whole: $35 against $7.50 ± $0.50.
        let team = fired.iter().find(|a| a.subject.is_none()).unwrap();
        assert_eq!(
            (team.spent_nanos, team.forecast_nanos),
            (35 * USD, 7_500_000_000)
        );
        // summarise is at its usual $5: no alert for it.
        assert!(!fired
            .iter()
            .any(|a| a.subject.as_deref() == Some("summarise")));
    }

    #[test]
    fn integer_square_roots_are_exact_floors() {
        for v in [
            0i128,
            1,
            2,
            3,
            4,
            15,
            16,
            17,
            1 << 40,
            (1 << 62) + 12345,
            i128::from(i64::MAX) * 1000,
        ] {
            let r = isqrt(v);
            assert!(r * r <= v && (r + 1) * (r + 1) > v, "{v}");
        }
    }
}
