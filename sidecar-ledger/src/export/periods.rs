//! Charge periods: days and calendar months of the reporting time zone, as day
//! labels (UTC arithmetic on local dates, see `crate::calendar`) and as the instants
//! they start, clipped to a scope.

use time::{Date, Month, OffsetDateTime};

use crate::store::export::{ExportScope, Period};

fn from_unix_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn date_ms(d: Date) -> i64 {
    d.midnight().assume_utc().unix_timestamp() * 1000
}

/// The label of the first day of the month holding the day labelled `ms`.
pub fn month_start(ms: i64) -> i64 {
    let d = from_unix_ms(ms).date();
    Date::from_calendar_date(d.year(), d.month(), 1).map_or(ms, date_ms)
}

/// The label of the first day of the month after the one holding `ms`.
pub fn next_month_start(ms: i64) -> i64 {
    let d = from_unix_ms(ms).date();
    let (year, month) = match d.month() {
        Month::December => (d.year() + 1, Month::January),
        m => (d.year(), m.next()),
    };
    Date::from_calendar_date(year, month, 1).map_or(ms, date_ms)
}

/// The label of the day after the period that starts on the day labelled `start_ms`.
pub fn period_end(period: Period, start_ms: i64) -> i64 {
    match period {
        Period::Day => start_ms + crate::query::DAY_MS,
        Period::Month => next_month_start(start_ms),
    }
}

/// The instants of the part of the period starting on the day labelled `start_ms`
/// that lies in the scope: the rows' own `[start, end)`, so a partial first or last
/// period says so.
pub fn clipped_period(scope: &ExportScope, period: Period, start_ms: i64) -> (i64, i64) {
    let cal = &scope.calendar;
    (
        cal.day_start(start_ms).max(scope.from_ms),
        cal.day_start(period_end(period, start_ms)).min(scope.to_ms),
    )
}
