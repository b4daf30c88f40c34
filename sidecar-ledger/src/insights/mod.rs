//! The leaders' dashboard's computations, free of HTTP and SQL: time buckets, the
//! change-drivers decomposition and the sentences that state numbers in words. Days,
//! weeks and months are the reporting calendar's, as day labels (`crate::calendar`).

pub mod drivers;
pub mod narrative;
pub mod recommend;

use tollgate_core::config::{civil_from_days, days_from_civil};

use crate::calendar::ReportingCalendar;
use crate::query::{format_day, parse_time, QueryError, DAY_MS, HOUR_MS, MAX_TIME_MS};

/// A time bucket of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
    /// ISO weeks, Monday to Sunday (UTC).
    Week,
    /// Calendar months (UTC).
    Month,
}

impl Bucket {
    pub const ALL: [Bucket; 4] = [Bucket::Hour, Bucket::Day, Bucket::Week, Bucket::Month];

    pub fn name(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
            Bucket::Week => "week",
            Bucket::Month => "month",
        }
    }

    pub fn parse(s: &str) -> Option<Bucket> {
        Bucket::ALL.into_iter().find(|b| b.name() == s)
    }

    /// Start of the bucket holding `ms` (Unix ms, UTC).
    pub fn start(self, ms: i64) -> i64 {
        match self {
            Bucket::Hour => ms.div_euclid(HOUR_MS) * HOUR_MS,
            Bucket::Day => ms.div_euclid(DAY_MS) * DAY_MS,
            Bucket::Week => {
                let day = ms.div_euclid(DAY_MS);
                // 1970-01-01 was a Thursday: Monday-based weekday = (day + 3) mod 7.
                (day - (day + 3).rem_euclid(7)) * DAY_MS
            }
            Bucket::Month => {
                let (y, m, _) = civil_from_days(ms.div_euclid(DAY_MS));
                days_from_civil(y, m, 1) * DAY_MS
            }
        }
    }

    /// The label of the bucket starting at `start_ms`.
    pub fn label(self, start_ms: i64) -> String {
        match self {
            Bucket::Hour => crate::query::format_instant(start_ms),
            Bucket::Day | Bucket::Week => format_day(start_ms),
            Bucket::Month => format_day(start_ms)[..7].to_string(),
        }
    }

    /// Every bucket start in `[from_ms, to_ms)`, in order (the first may start before
    /// `from_ms` for weeks and months).
    pub fn starts(self, from_ms: i64, to_ms: i64) -> Vec<i64> {
        let mut out = Vec::new();
        let mut t = self.start(from_ms);
        while t < to_ms && out.len() < 100_000 {
            out.push(t);
            t = match self {
                Bucket::Hour => t + HOUR_MS,
                Bucket::Day => t + DAY_MS,
                Bucket::Week => t + 7 * DAY_MS,
                Bucket::Month => {
                    let (y, m, _) = civil_from_days(t.div_euclid(DAY_MS));
                    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                    days_from_civil(ny, nm, 1) * DAY_MS
                }
            };
        }
        out
    }
}

/// A time range of whole UTC days, `[from_ms, to_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub from_ms: i64,
    pub to_ms: i64,
}

impl DayRange {
    /// `[from, to)` widened to whole days: `from` down, `to` up.
    pub fn widen(from_ms: i64, to_ms: i64) -> DayRange {
        DayRange {
            from_ms: from_ms.div_euclid(DAY_MS) * DAY_MS,
            to_ms: (to_ms + DAY_MS - 1).div_euclid(DAY_MS) * DAY_MS,
        }
    }

    /// The last `days` days up to and including today.
    pub fn last_days(now_ms: i64, days: i64) -> DayRange {
        let end = now_ms.div_euclid(DAY_MS) * DAY_MS + DAY_MS;
        DayRange {
            from_ms: end - days * DAY_MS,
            to_ms: end,
        }
    }

    pub fn days(&self) -> i64 {
        (self.to_ms - self.from_ms) / DAY_MS
    }
}

/// Parses optional `from`/`to` texts (the ledger's time formats) into a range of
/// `calendar` days: a date is that day; an instant, the day holding it (`from`) or the
/// first day starting at or after it (`to`). `now_ms` is on the calendar's local clock
/// (see [`crate::calendar::ReportingCalendar::local_clock`]); the default is the 30
/// days up to and including today.
pub fn parse_range(
    from: Option<&str>,
    to: Option<&str>,
    now_ms: i64,
    names: (&str, &str),
    calendar: &ReportingCalendar,
) -> Result<DayRange, QueryError> {
    let parse = |text: &str, name: &str, end: bool| -> Result<i64, QueryError> {
        let ms = parse_time(text).map_err(|e| QueryError(format!("'{name}' {e}")))?;
        let t = text.trim();
        if t.len() == 10 && t.as_bytes()[4] == b'-' {
            return Ok(ms);
        }
        let label = calendar.day_label(ms);
        Ok(if end && calendar.day_start(label) < ms {
            label + DAY_MS
        } else {
            label
        })
    };
    let to_ms = match to.filter(|t| !t.is_empty()) {
        Some(t) => parse(t, names.1, true)?,
        None => DayRange::last_days(now_ms.clamp(0, MAX_TIME_MS - DAY_MS), 1).to_ms,
    };
    let from_ms = match from.filter(|t| !t.is_empty()) {
        Some(t) => parse(t, names.0, false)?,
        None => (to_ms - 30 * DAY_MS).max(0),
    };
    if from_ms >= to_ms {
        return Err(QueryError(format!(
            "'{}' must be before '{}'",
            names.0, names.1
        )));
    }
    let r = DayRange::widen(from_ms, to_ms);
    if r.days() > 3660 {
        return Err(QueryError("the range may span at most 10 years".into()));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z, a Sunday

    #[test]
    fn buckets_start_on_hours_days_mondays_and_months() {
        let t = D0 + 3 * DAY_MS + 5 * HOUR_MS + 7; // Wed 2026-11-04 05:00
        assert_eq!(Bucket::Hour.start(t), D0 + 3 * DAY_MS + 5 * HOUR_MS);
        assert_eq!(Bucket::Day.label(Bucket::Day.start(t)), "2026-11-04");
        assert_eq!(Bucket::Week.label(Bucket::Week.start(t)), "2026-11-02");
        assert_eq!(Bucket::Week.label(Bucket::Week.start(D0)), "2026-10-26");
        assert_eq!(Bucket::Month.label(Bucket::Month.start(t)), "2026-11");
        let months = Bucket::Month.starts(D0 - 40 * DAY_MS, D0 + DAY_MS);
        let labels: Vec<String> = months.iter().map(|m| Bucket::Month.label(*m)).collect();
        assert_eq!(labels, vec!["2026-09", "2026-10", "2026-11"]);
        assert_eq!(Bucket::Day.starts(D0, D0 + 3 * DAY_MS).len(), 3);
        assert_eq!(Bucket::Week.starts(D0, D0 + 14 * DAY_MS).len(), 3);
    }

    #[test]
    fn ranges_widen_to_days_and_default_to_30() {
        let now = D0 + 10 * HOUR_MS;
        let utc = ReportingCalendar::utc();
        let r = parse_range(None, None, now, ("from", "to"), &utc).unwrap();
        assert_eq!(r.to_ms, D0 + DAY_MS);
        assert_eq!(r.days(), 30);
        let r = parse_range(
            Some("2026-11-01T10:00:00Z"),
            Some("2026-11-03T00:00:01Z"),
            now,
            ("from", "to"),
            &utc,
        )
        .unwrap();
        assert_eq!((r.from_ms, r.to_ms), (D0, D0 + 3 * DAY_MS));
        // In Tokyo (UTC+9) 10:00Z on 1 November is 19:00 that day; 00:00:01Z on the
        // 3rd is the 3rd's morning, so the range runs to the 4th.
        let tokyo = ReportingCalendar::parse("Asia/Tokyo").unwrap();
        let r = parse_range(
            Some("2026-11-01T10:00:00Z"),
            Some("2026-11-03T00:00:01Z"),
            now,
            ("from", "to"),
            &tokyo,
        )
        .unwrap();
        assert_eq!((r.from_ms, r.to_ms), (D0, D0 + 3 * DAY_MS));
        let r = parse_range(
            Some("2026-10-31T16:00:00Z"),
            Some("2026-11-03"),
            now,
            ("from", "to"),
            &tokyo,
        )
        .unwrap();
        assert_eq!(r.from_ms, D0);
        assert!(parse_range(
            Some("2026-11-02"),
            Some("2026-11-01"),
            now,
            ("a_from", "a_to"),
            &utc
        )
        .unwrap_err()
        .0
        .contains("'a_from' must be before 'a_to'"));
        assert!(parse_range(Some("soon"), None, now, ("from", "to"), &utc).is_err());
    }
}
