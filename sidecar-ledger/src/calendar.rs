//! The organisation's reporting calendar: which days and months spend falls in, in
//! one IANA time zone (UTC by default; `tollgate-ledger time-zone set`).
//!
//! Days are *labelled* by their civil date: a day's label is the Unix milliseconds of
//! that date at 00:00 UTC, whatever the zone. So the daily rollups' `day_ms`, budget
//! periods and the dashboard's day arithmetic (`+ DAY_MS`, calendar months from
//! `civil_from_days`) work on labels unchanged, and in UTC a label *is* the instant.
//! Converting happens only at the edges: an event's instant to its local day
//! ([`ReportingCalendar::day_label`]), a label back to the instant its local day
//! starts ([`ReportingCalendar::day_start`]), and "now" to the local clock
//! ([`ReportingCalendar::local_clock`]: the instant shifted by the zone's offset then,
//! which flooring by `DAY_MS` turns into today's label).

use std::fmt;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use tollgate_core::config::civil_from_days;

use crate::clock::DAY_MS;

/// The zone every fresh store starts with.
pub const DEFAULT_TIME_ZONE: &str = "UTC";

/// A reporting time zone and the arithmetic on its days.
#[derive(Clone)]
pub struct ReportingCalendar {
    name: String,
    tz: TimeZone,
}

impl fmt::Debug for ReportingCalendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReportingCalendar({})", self.name)
    }
}

impl PartialEq for ReportingCalendar {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for ReportingCalendar {}

impl Default for ReportingCalendar {
    fn default() -> Self {
        ReportingCalendar::utc()
    }
}

impl ReportingCalendar {
    pub fn utc() -> ReportingCalendar {
        ReportingCalendar {
            name: DEFAULT_TIME_ZONE.to_string(),
            tz: TimeZone::UTC,
        }
    }

    /// An IANA time zone name (`Europe/Paris`, `America/New_York`, `UTC`), as the
    /// zone database spells it.
    pub fn parse(name: &str) -> Result<ReportingCalendar, String> {
        let name = name.trim();
        if name.eq_ignore_ascii_case("utc") || name.eq_ignore_ascii_case("etc/utc") {
            return Ok(ReportingCalendar::utc());
        }
        let tz = TimeZone::get(name).map_err(|_| {
            format!("unknown time zone '{name}': expected an IANA name such as Europe/Paris, America/New_York or UTC")
        })?;
        let canonical = tz.iana_name().unwrap_or(name).to_string();
        Ok(ReportingCalendar {
            name: canonical,
            tz,
        })
    }

    /// The zone's IANA name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn is_utc(&self) -> bool {
        self.name == DEFAULT_TIME_ZONE
    }

    /// The zone's offset from UTC at `ms`, in milliseconds.
    pub fn offset_ms(&self, ms: i64) -> i64 {
        if self.is_utc() {
            return 0;
        }
        match Timestamp::from_millisecond(ms) {
            Ok(ts) => i64::from(self.tz.to_offset(ts).seconds()) * 1000,
            Err(_) => 0,
        }
    }

    /// `ms` on the local clock: the instant shifted by the offset in force then. Its
    /// floor to whole days is the label of the local day holding `ms`.
    pub fn local_clock(&self, ms: i64) -> i64 {
        ms + self.offset_ms(ms)
    }

    /// The label of the local day holding the instant `ms`.
    pub fn day_label(&self, ms: i64) -> i64 {
        self.local_clock(ms).div_euclid(DAY_MS) * DAY_MS
    }

    /// The instant the local day labelled `label` starts (on a day that begins in a
    /// daylight-saving gap, the first instant that exists).
    pub fn day_start(&self, label: i64) -> i64 {
        if self.is_utc() {
            return label;
        }
        let (y, m, d) = civil_from_days(label.div_euclid(DAY_MS));
        let date = i16::try_from(y)
            .ok()
            .and_then(|y| Date::new(y, m as i8, d as i8).ok());
        date.and_then(|date| date.to_zoned(self.tz.clone()).ok())
            .and_then(|z| z.start_of_day().ok())
            .map_or(label, |z| z.timestamp().as_millisecond())
    }

    /// The offsets in force over `[from_ms, to_ms)`: `(first instant, offset ms)` in
    /// time order, the first starting at `from_ms`.
    pub fn offsets(&self, from_ms: i64, to_ms: i64) -> Vec<(i64, i64)> {
        let mut out = vec![(from_ms, self.offset_ms(from_ms))];
        if self.is_utc() {
            return out;
        }
        let Ok(start) = Timestamp::from_millisecond(from_ms) else {
            return out;
        };
        for t in self.tz.following(start) {
            let at = t.timestamp().as_millisecond();
            if at >= to_ms || out.len() > 10_000 {
                break;
            }
            let offset = i64::from(t.offset().seconds()) * 1000;
            if out.last().is_some_and(|(_, o)| *o != offset) {
                out.push((at, offset));
            }
        }
        out
    }

    /// An SQL expression for the label of the local day holding the instant in
    /// `column` (Unix ms, non-negative), valid for instants in `[from_ms, to_ms)`.
    /// Literal integers only, so it is safe to splice into a statement; the same text
    /// on SQLite and PostgreSQL (integer division floors non-negative values).
    pub fn day_label_sql(&self, column: &str, from_ms: i64, to_ms: i64) -> String {
        let offsets = self.offsets(from_ms, to_ms);
        let shifted = match offsets.as_slice() {
            [(_, 0)] => column.to_string(),
            [(_, o)] => format!("({column} + {o})"),
            [(_, first), rest @ ..] => {
                let mut case = format!("({column} + CASE");
                let mut previous = *first;
                for (at, o) in rest {
                    case.push_str(&format!(" WHEN {column} < {at} THEN {previous}"));
                    previous = *o;
                }
                case.push_str(&format!(" ELSE {previous} END)"));
                case
            }
            [] => column.to_string(),
        };
        format!("({shifted} / {DAY_MS}) * {DAY_MS}")
    }

    /// `+01:00`-style offset at `ms`, for labels shown with a time of day.
    pub fn offset_text(&self, ms: i64) -> String {
        let o = self.offset_ms(ms) / 60_000;
        let sign = if o < 0 { '-' } else { '+' };
        format!("{sign}{:02}:{:02}", o.abs() / 60, o.abs() % 60)
    }

    /// The local time of `ms` as RFC 3339 with its offset: `2026-11-01T10:00:00+01:00`
    /// (`...Z` in UTC).
    pub fn format_local(&self, ms: i64) -> String {
        if self.is_utc() {
            return crate::clock::format_instant(ms);
        }
        let local = crate::clock::format_instant(self.local_clock(ms));
        let base = local.strip_suffix('Z').unwrap_or(&local);
        format!("{base}{}", self.offset_text(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::HOUR_MS;
    use tollgate_core::config::days_from_civil;

    fn day(y: i64, m: i64, d: i64) -> i64 {
        days_from_civil(y, m, d) * DAY_MS
    }

    #[test]
    fn utc_labels_are_instants() {
        let c = ReportingCalendar::utc();
        let t = day(2026, 11, 1) + 5 * HOUR_MS;
        assert_eq!(c.day_label(t), day(2026, 11, 1));
        assert_eq!(c.day_start(day(2026, 11, 1)), day(2026, 11, 1));
        assert_eq!(
            c.day_label_sql("ts_ms", 0, i64::MAX / 2),
            "(ts_ms / 86400000) * 86400000"
        );
        assert_eq!(ReportingCalendar::parse("utc").unwrap(), c);
    }

    #[test]
    fn new_york_days_start_at_local_midnight_across_daylight_saving() {
        let c = ReportingCalendar::parse("America/New_York").unwrap();
        assert_eq!(c.name(), "America/New_York");
        // 2026-11-01 is the day clocks go back (EDT -4 → EST -5 at 06:00Z).
        let nov1 = day(2026, 11, 1);
        assert_eq!(c.day_start(nov1), nov1 + 4 * HOUR_MS);
        assert_eq!(c.day_start(nov1 + DAY_MS), nov1 + DAY_MS + 5 * HOUR_MS);
        // 03:59Z on 1 November is still 31 October in New York; 04:00Z is 1 November.
        assert_eq!(c.day_label(nov1 + 4 * HOUR_MS - 1), nov1 - DAY_MS);
        assert_eq!(c.day_label(nov1 + 4 * HOUR_MS), nov1);
        // The 25-hour day: its last instant still belongs to it.
        assert_eq!(c.day_label(nov1 + DAY_MS + 5 * HOUR_MS - 1), nov1);
        let offsets = c.offsets(nov1, nov1 + 2 * DAY_MS);
        assert_eq!(
            offsets,
            vec![(nov1, -4 * HOUR_MS), (nov1 + 6 * HOUR_MS, -5 * HOUR_MS)]
        );
        assert_eq!(
            c.day_label_sql("hour_ms", nov1, nov1 + 2 * DAY_MS),
            format!(
                "((hour_ms + CASE WHEN hour_ms < {} THEN -14400000 ELSE -18000000 END) / 86400000) * 86400000",
                nov1 + 6 * HOUR_MS
            )
        );
        assert_eq!(
            c.format_local(nov1 + 4 * HOUR_MS),
            "2026-11-01T00:00:00-04:00"
        );
    }

    #[test]
    fn half_hour_zones_start_days_between_hours() {
        let c = ReportingCalendar::parse("Asia/Kolkata").unwrap();
        let d = day(2026, 11, 1);
        assert_eq!(c.day_start(d), d - 5 * HOUR_MS - 30 * 60_000);
        assert_eq!(c.day_label(d - 5 * HOUR_MS - 30 * 60_000), d);
        assert_eq!(c.day_label(d - 5 * HOUR_MS - 30 * 60_000 - 1), d - DAY_MS);
        assert_eq!(c.offset_text(d), "+05:30");
    }

    #[test]
    fn unknown_zones_are_refused_with_an_example() {
        let e = ReportingCalendar::parse("Mars/Olympus").unwrap_err();
        assert!(e.contains("Europe/Paris"), "{e}");
    }
}
