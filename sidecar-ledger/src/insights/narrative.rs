//! Numbers a leader acts on, stated in words: money, percentages, days, and the level
//! shift in a daily rate ("cache hit rate fell from 41% to 18% after Tuesday 3
//! November").

use tollgate_core::config::civil_from_days;

use crate::query::DAY_MS;

/// `$1,234.56` (rounded half away from zero to cents; `-$5.00` when negative).
pub fn usd(nanos: i64) -> String {
    let cents = (i128::from(nanos) + if nanos < 0 { -5_000_000 } else { 5_000_000 }) / 10_000_000;
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let dollars = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in dollars.chars().enumerate() {
        if i > 0 && (dollars.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{sign}${grouped}.{:02}", cents % 100)
}

/// A signed amount: `+$12.00` / `-$3.50`.
pub fn signed_usd(nanos: i64) -> String {
    if nanos >= 0 {
        format!("+{}", usd(nanos))
    } else {
        usd(nanos)
    }
}

/// `part / whole` as a fraction (0 when `whole` is 0).
pub fn share(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// A fraction as a whole percentage: `0.414` → `41%`.
pub fn pct(fraction: f64) -> String {
    format!("{}%", (fraction * 100.0).round() as i64)
}

const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `Tuesday 3 November` for the UTC day holding `ms`.
pub fn day_words(ms: i64) -> String {
    let day = ms.div_euclid(DAY_MS);
    let (_, m, d) = civil_from_days(day);
    let weekday = WEEKDAYS[(day + 3).rem_euclid(7) as usize];
    format!("{weekday} {d} {}", MONTHS[(m - 1).clamp(0, 11) as usize])
}

/// A step change in a rate over a series of periods.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shift {
    /// The rate over the periods before the change, and from it on.
    pub before: f64,
    pub after: f64,
    /// Index of the first period at the new level.
    pub at: usize,
    /// The median period's rate on each side: a one-period blip moves the pooled
    /// rates but not these.
    pub before_median: f64,
    pub after_median: f64,
}

/// The split of `points` (numerator, denominator per period) into a "before" and an
/// "after" run, each of at least `min_side` periods with data, where the rate differs
/// most, weighted so that a long run counts more than a one-day blip (the statistic
/// of a single change-point test: |Δ| · √(n₁n₂/(n₁+n₂))). `None` with too few points.
pub fn level_shift(points: &[(i64, i64)], min_side: usize) -> Option<Shift> {
    let with_data: Vec<usize> = (0..points.len()).filter(|&i| points[i].1 > 0).collect();
    let n = with_data.len();
    if n < 2 * min_side.max(1) {
        return None;
    }
    let rate = |idx: &[usize]| {
        let (num, den) = idx.iter().fold((0i64, 0i64), |(a, b), &i| {
            (a + points[i].0, b + points[i].1)
        });
        share(num, den)
    };
    let median = |idx: &[usize]| {
        let mut rates: Vec<f64> = idx
            .iter()
            .map(|&i| share(points[i].0, points[i].1))
            .collect();
        rates.sort_by(f64::total_cmp);
        let m = rates.len() / 2;
        if rates.len() % 2 == 1 {
            rates[m]
        } else {
            (rates[m - 1] + rates[m]) / 2.0
        }
    };
    let mut best: Option<(f64, Shift)> = None;
    for k in min_side.max(1)..=(n - min_side.max(1)) {
        let (before, after) = (rate(&with_data[..k]), rate(&with_data[k..]));
        let (n1, n2) = (k as f64, (n - k) as f64);
        let score = (after - before).abs() * (n1 * n2 / (n1 + n2)).sqrt();
        if best.as_ref().is_none_or(|(s, _)| score > *s + 1e-12) {
            best = Some((
                score,
                Shift {
                    before,
                    after,
                    at: with_data[k],
                    before_median: median(&with_data[..k]),
                    after_median: median(&with_data[k..]),
                },
            ));
        }
    }
    best.map(|(_, s)| s)
}

/// Changes smaller than this (in percentage points) are "steady".
pub const MEANINGFUL_SHIFT: f64 = 0.05;

/// "fell from 41% to 18% after Tuesday 3 November" (or `None` if the shift is small
/// or not sustained: the median periods on each side must differ as much, in the same
/// direction). `days[i]` is the start of period `i`.
pub fn shift_words(shift: &Shift, days: &[i64]) -> Option<String> {
    let pooled = shift.after - shift.before;
    let typical = shift.after_median - shift.before_median;
    if pooled.abs() < MEANINGFUL_SHIFT
        || typical.abs() < MEANINGFUL_SHIFT
        || pooled.signum() != typical.signum()
        || shift.at == 0
    {
        return None;
    }
    let verb = if shift.after < shift.before {
        "fell"
    } else {
        "rose"
    };
    Some(format!(
        "{verb} from {} to {} after {}",
        pct(shift.before),
        pct(shift.after),
        day_words(days[shift.at - 1])
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D0: i64 = 1_793_491_200_000; // Sunday 1 November 2026

    #[test]
    fn money_in_words() {
        assert_eq!(usd(0), "$0.00");
        assert_eq!(usd(1_234_564_999_999), "$1,234.56");
        assert_eq!(usd(1_234_565_000_000), "$1,234.57");
        assert_eq!(usd(-5_000_000_000), "-$5.00");
        assert_eq!(usd(999_999_999_999_999), "$1,000,000.00");
        assert_eq!(signed_usd(12_000_000_000), "+$12.00");
        assert_eq!(signed_usd(-3_500_000_000), "-$3.50");
        assert_eq!(pct(0.414), "41%");
        assert_eq!(pct(share(1, 8)), "13%");
    }

    #[test]
    fn days_in_words() {
        assert_eq!(day_words(D0), "Sunday 1 November");
        assert_eq!(day_words(D0 + 2 * DAY_MS + 5), "Tuesday 3 November");
    }

    #[test]
    fn finds_the_step_in_a_cache_hit_rate() {
        // 41% for five days (Sun..Thu), then 18% for four.
        let mut points = vec![(41, 100); 5];
        points.extend(vec![(18, 100); 4]);
        let s = level_shift(&points, 2).unwrap();
        assert_eq!(s.at, 5);
        assert!((s.before - 0.41).abs() < 1e-9 && (s.after - 0.18).abs() < 1e-9);
        let days: Vec<i64> = (0..9).map(|i| D0 + i * DAY_MS).collect();
        assert_eq!(
            shift_words(&s, &days).unwrap(),
            "fell from 41% to 18% after Thursday 5 November"
        );
        // A one-day blip does not beat a sustained level.
        let mut blip = vec![(40, 100); 8];
        blip[3] = (90, 100);
        let s = level_shift(&blip, 2).unwrap();
        assert!(shift_words(&s, &days).is_none(), "{s:?}");
        // Days without data are skipped; too little data is no answer.
        assert!(level_shift(&[(1, 2), (0, 0), (1, 2)], 2).is_none());
    }
}
