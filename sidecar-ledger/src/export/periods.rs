//! Charge periods in UTC: day and calendar-month boundaries, clipped to a scope.

use time::{Date, Month, OffsetDateTime};

use crate::store::export::{ExportScope, Period};

fn from_unix_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn date_ms(d: Date) -> i64 {
    d.midnight().assume_utc().unix_timestamp() * 1000
}

/// The first instant of the UTC calendar month containing `ms`.
pub fn month_start(ms: i64) -> i64 {
    let d = from_unix_ms(ms).date();
    Date::from_calendar_date(d.year(), d.month(), 1).map_or(ms, date_ms)
}

/// The first instant of the UTC calendar month after the one containing `ms`.
pub fn next_month_start(ms: i64) -> i64 {
    let d = from_unix_ms(ms).date();
    let (year, month) = match d.month() {
        Month::December => (d.year() + 1, Month::January),
        m => (d.year(), m.next()),
    };
    Date::from_calendar_date(year, month, 1).map_or(ms, date_ms)
}

/// The exclusive end of the period that starts at `start_ms`.
pub fn period_end(period: Period, start_ms: i64) -> i64 {
    match period {
        Period::Day => start_ms + crate::query::DAY_MS,
        Period::Month => next_month_start(start_ms),
    }
}

/// The part of the period starting at `start_ms` that lies in the scope: the rows'
/// own `[start, end)`, so a partial first or last period says so.
pub fn clipped_period(scope: &ExportScope, period: Period, start_ms: i64) -> (i64, i64) {
    (
        start_ms.max(scope.from_ms),
        period_end(period, start_ms).min(scope.to_ms),
    )
}
