//! Pace and forecast of a budget period, in integer nanodollars.
//!
//! Run rate: a trimmed mean of recent full days' spend (the highest and lowest 10% of
//! days dropped, so one spike or outage day does not swing the forecast). With fewer
//! than `MIN_HISTORY_DAYS` full days of history the run rate falls back to the pace
//! so far (spend / elapsed time). The band is ± one standard deviation of the kept
//! days (± 25% of the rate on the pace fallback).

use super::period::DAY_MS;

pub const MIN_HISTORY_DAYS: usize = 3;
pub const HISTORY_DAYS: usize = 14;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    TrimmedMean,
    Pace,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::TrimmedMean => "trimmed_mean_daily",
            Method::Pace => "pace",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forecast {
    /// Spend the budget would have at this point if spent evenly over the period.
    pub pace_nanos: i64,
    pub run_rate_per_day_nanos: i64,
    pub method: Method,
    /// Projected spend at period end, and its band.
    pub period_end_nanos: i64,
    pub low_nanos: i64,
    pub high_nanos: i64,
    /// When the budget is (or is projected to be) used up, if within the period.
    pub exhaustion_ms: Option<i64>,
}

fn isqrt(n: i128) -> i128 {
    if n <= 0 {
        return 0;
    }
    let mut x = (n as f64).sqrt() as i128;
    while x * x > n {
        x -= 1;
    }
    while (x + 1) * (x + 1) <= n {
        x += 1;
    }
    x
}

/// Trimmed mean and standard deviation of daily amounts.
pub fn trimmed_stats(days: &[i64]) -> (i64, i64) {
    let mut sorted = days.to_vec();
    sorted.sort_unstable();
    let cut = sorted.len() / 10;
    let kept = &sorted[cut..sorted.len() - cut];
    let n = kept.len().max(1) as i128;
    let sum: i128 = kept.iter().map(|&v| i128::from(v)).sum();
    let mean = sum / n;
    let var: i128 = kept
        .iter()
        .map(|&v| (i128::from(v) - mean).pow(2))
        .sum::<i128>()
        / n;
    (mean as i64, isqrt(var) as i64)
}

/// Forecast for a period `[start_ms, end_ms)` at `now_ms`, given spend so far in the
/// period and the spend of recent full days (oldest first, most recent last).
pub fn forecast(
    budget_nanos: i64,
    start_ms: i64,
    end_ms: i64,
    now_ms: i64,
    spent_nanos: i64,
    full_days: &[i64],
) -> Forecast {
    let now = now_ms.clamp(start_ms, end_ms);
    let elapsed = i128::from(now - start_ms);
    let length = i128::from((end_ms - start_ms).max(1));
    let remaining = i128::from(end_ms - now);
    let pace = (i128::from(budget_nanos) * elapsed / length) as i64;

    let recent = &full_days[full_days.len().saturating_sub(HISTORY_DAYS)..];
    let (rate, spread, method) = if recent.len() >= MIN_HISTORY_DAYS {
        let (mean, sd) = trimmed_stats(recent);
        (i128::from(mean), i128::from(sd), Method::TrimmedMean)
    } else if elapsed > 0 {
        let rate = i128::from(spent_nanos) * i128::from(DAY_MS) / elapsed;
        (rate, rate / 4, Method::Pace)
    } else {
        (0, 0, Method::Pace)
    };
    let project =
        |r: i128| (i128::from(spent_nanos) + r.max(0) * remaining / i128::from(DAY_MS)) as i64;
    let exhaustion_ms = if spent_nanos >= budget_nanos {
        Some(now)
    } else if rate > 0 {
        let owed = i128::from(budget_nanos - spent_nanos) * i128::from(DAY_MS);
        let ms = (owed + rate - 1) / rate; // rounded up: exhaustion is not earlier than this
        let at = i128::from(now) + ms;
        (at < i128::from(end_ms)).then_some(at as i64)
    } else {
        None
    };
    Forecast {
        pace_nanos: pace,
        run_rate_per_day_nanos: rate as i64,
        method,
        period_end_nanos: project(rate),
        low_nanos: project(rate - spread),
        high_nanos: project(rate + spread),
        exhaustion_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USD: i64 = 1_000_000_000;

    #[test]
    fn trimmed_mean_drops_the_extremes() {
        // 10 days: one outage (0) and one spike (100) are dropped; the rest average 10.
        let days = [10, 0, 10, 10, 100, 10, 10, 10, 10, 10];
        assert_eq!(trimmed_stats(&days), (10, 0));
        // 4 days: nothing dropped (10% of 4 rounds to 0): mean 5, sd of 2,4,6,8 = sqrt(5) -> 2.
        assert_eq!(trimmed_stats(&[2, 4, 6, 8]), (5, 2));
    }

    #[test]
    fn hand_computed_forecast_with_history() {
        // 30-day period, 10 days elapsed, $100 spent, history of 10 USD/day exactly.
        let start = 0;
        let end = 30 * DAY_MS;
        let now = 10 * DAY_MS;
        let f = forecast(400 * USD, start, end, now, 100 * USD, &[10 * USD; 10]);
        assert_eq!(f.method, Method::TrimmedMean);
        assert_eq!(f.pace_nanos, 400 * USD / 3); // a third of the period gone
        assert_eq!(f.run_rate_per_day_nanos, 10 * USD);
        // 100 + 10/day * 20 days = 300; no spread.
        assert_eq!(
            (f.period_end_nanos, f.low_nanos, f.high_nanos),
            (300 * USD, 300 * USD, 300 * USD)
        );
        assert_eq!(
            f.exhaustion_ms, None,
            "300 < 400: not exhausted this period"
        );
        // Budget 250: (250-100)/10 = 15 days from now = day 25.
        let f = forecast(250 * USD, start, end, now, 100 * USD, &[10 * USD; 10]);
        assert_eq!(f.exhaustion_ms, Some(25 * DAY_MS));
    }

    #[test]
    fn pace_fallback_while_history_is_short() {
        // 2 days into the period, $30 spent, only 1 full day of history: rate 15/day.
        let f = forecast(300 * USD, 0, 30 * DAY_MS, 2 * DAY_MS, 30 * USD, &[20 * USD]);
        assert_eq!(f.method, Method::Pace);
        assert_eq!(f.run_rate_per_day_nanos, 15 * USD);
        assert_eq!(f.period_end_nanos, 30 * USD + 15 * USD * 28); // 450
                                                                  // Band: rate ± 25% (3.75/day) over 28 days = ± 105.
        assert_eq!(f.low_nanos, 450 * USD - 105 * USD);
        assert_eq!(f.high_nanos, 450 * USD + 105 * USD);
        // (300-30)/15 = 18 days from day 2 = day 20.
        assert_eq!(f.exhaustion_ms, Some(20 * DAY_MS));
    }

    #[test]
    fn already_exhausted_and_idle_cases() {
        let f = forecast(10 * USD, 0, 30 * DAY_MS, 5 * DAY_MS, 12 * USD, &[]);
        assert_eq!(f.exhaustion_ms, Some(5 * DAY_MS));
        let idle = forecast(10 * USD, 0, 30 * DAY_MS, 0, 0, &[]);
        assert_eq!(
            (
                idle.run_rate_per_day_nanos,
                idle.period_end_nanos,
                idle.exhaustion_ms
            ),
            (0, 0, None)
        );
    }
}
