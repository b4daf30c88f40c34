//! Budget periods: calendar months, calendar quarters, or custom runs of days from a
//! start date, as days of the reporting time zone (day numbers of local dates, see
//! `crate::calendar`).

use tollgate_core::config::{
    civil_from_days, days_from_civil, parse_date_days, BudgetDef, BudgetPeriodKind,
};

pub const DAY_MS: i64 = 86_400_000;

/// A half-open range of whole days, `[start_day, end_day)`, as local dates' days since
/// epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start_day: i64,
    pub end_day: i64,
}

impl Period {
    pub fn start_ms(&self) -> i64 {
        self.start_day * DAY_MS
    }
    pub fn end_ms(&self) -> i64 {
        self.end_day * DAY_MS
    }
    #[cfg(test)]
    pub fn days(&self) -> i64 {
        self.end_day - self.start_day
    }
}

fn month_start(y: i64, m: i64) -> i64 {
    days_from_civil(y, m, 1)
}

fn add_months(y: i64, m: i64, n: i64) -> (i64, i64) {
    let idx = y * 12 + (m - 1) + n;
    (idx.div_euclid(12), idx.rem_euclid(12) + 1)
}

/// The budget period containing `day` (or, for a custom budget that has not started,
/// its first period).
pub fn period_containing(budget: &BudgetDef, day: i64) -> Period {
    let (y, m, _) = civil_from_days(day);
    match budget.period {
        BudgetPeriodKind::Monthly => {
            let (ny, nm) = add_months(y, m, 1);
            Period {
                start_day: month_start(y, m),
                end_day: month_start(ny, nm),
            }
        }
        BudgetPeriodKind::Quarterly => {
            let qm = (m - 1) / 3 * 3 + 1;
            let (ny, nm) = add_months(y, qm, 3);
            Period {
                start_day: month_start(y, qm),
                end_day: month_start(ny, nm),
            }
        }
        BudgetPeriodKind::Custom => {
            // Validated config guarantees both; fall back to a 30-day period at `day`.
            let start = budget
                .start
                .as_deref()
                .and_then(parse_date_days)
                .unwrap_or(day);
            let len = i64::from(budget.length_days.unwrap_or(30).max(1));
            let k = if day < start { 0 } else { (day - start) / len };
            Period {
                start_day: start + k * len,
                end_day: start + (k + 1) * len,
            }
        }
    }
}

/// `YYYY-MM-DD` of a day number.
pub fn format_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_core::money::Usd;

    fn budget(period: BudgetPeriodKind, start: Option<&str>, len: Option<u32>) -> BudgetDef {
        BudgetDef {
            team_id: "t".into(),
            amount_usd: Usd(1),
            period,
            start: start.map(str::to_string),
            length_days: len,
            thresholds_pct: vec![],
            forecast_thresholds_pct: vec![],
        }
    }

    #[test]
    fn months_quarters_and_custom_periods() {
        let day = days_from_civil(2026, 11, 29);
        let p = period_containing(&budget(BudgetPeriodKind::Monthly, None, None), day);
        assert_eq!(
            (format_day(p.start_day), format_day(p.end_day), p.days()),
            ("2026-11-01".into(), "2026-12-01".into(), 30)
        );
        let dec = period_containing(
            &budget(BudgetPeriodKind::Monthly, None, None),
            days_from_civil(2026, 12, 31),
        );
        assert_eq!(format_day(dec.end_day), "2027-01-01");
        let q = period_containing(&budget(BudgetPeriodKind::Quarterly, None, None), day);
        assert_eq!(
            (format_day(q.start_day), format_day(q.end_day)),
            ("2026-10-01".into(), "2027-01-01".into())
        );
        let c = budget(BudgetPeriodKind::Custom, Some("2026-11-10"), Some(14));
        let p = period_containing(&c, day);
        assert_eq!(
            (format_day(p.start_day), format_day(p.end_day)),
            ("2026-11-24".into(), "2026-12-08".into())
        );
        let before = period_containing(&c, days_from_civil(2026, 1, 1));
        assert_eq!(format_day(before.start_day), "2026-11-10");
    }
}
