//! Query-string parsing for the read endpoints: which dimensions to group by, the time
//! range and the filters. Pure functions (the clock is a parameter) so every rule is
//! unit-tested without a server.

use crate::calendar::ReportingCalendar;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub use crate::clock::{format_day, format_instant, DAY_MS, HOUR_MS};
/// The default spend window when `from` is not given.
pub const DEFAULT_WINDOW_MS: i64 = 30 * DAY_MS;
/// 9999-12-31T23:59:59.999Z: keeps hour rounding and arithmetic far from overflow.
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;
pub const DEFAULT_EVENTS_LIMIT: usize = 100;
pub const MAX_EVENTS_LIMIT: usize = 1000;

/// A dimension spend can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    Team,
    ConsumerGroup,
    User,
    Workflow,
    Provider,
    Lane,
    /// The model that served the request (`model_served`): what was paid for.
    Model,
    Api,
    Outcome,
    Cache,
    /// UTC hour bucket.
    Hour,
    /// UTC day bucket.
    Day,
}

impl Dim {
    pub const ALL: [Dim; 12] = [
        Dim::Team,
        Dim::ConsumerGroup,
        Dim::User,
        Dim::Workflow,
        Dim::Provider,
        Dim::Lane,
        Dim::Model,
        Dim::Api,
        Dim::Outcome,
        Dim::Cache,
        Dim::Hour,
        Dim::Day,
    ];

    /// The name used in `group_by` and in each row's `key` object.
    pub fn name(self) -> &'static str {
        match self {
            Dim::Team => "team",
            Dim::ConsumerGroup => "consumer_group",
            Dim::User => "user",
            Dim::Workflow => "workflow",
            Dim::Provider => "provider",
            Dim::Lane => "lane",
            Dim::Model => "model",
            Dim::Api => "api",
            Dim::Outcome => "outcome",
            Dim::Cache => "cache",
            Dim::Hour => "hour",
            Dim::Day => "day",
        }
    }

    pub fn parse(s: &str) -> Option<Dim> {
        Dim::ALL.into_iter().find(|d| d.name() == s)
    }
}

/// Exact-match filters shared by the read endpoints. `None` means no filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub team: Option<String>,
    pub consumer_group: Option<String>,
    pub provider: Option<String>,
    pub lane: Option<String>,
    /// Matches the served model.
    pub model: Option<String>,
}

const FILTER_PARAMS: [&str; 5] = ["team", "consumer_group", "provider", "lane", "model"];

impl Filters {
    /// Takes `name=value` if `name` is a filter; false if it is not.
    fn take(&mut self, name: &str, value: &str) -> Result<bool, QueryError> {
        let slot = match name {
            "team" => &mut self.team,
            "consumer_group" => &mut self.consumer_group,
            "provider" => &mut self.provider,
            "lane" => &mut self.lane,
            "model" => &mut self.model,
            _ => return Ok(false),
        };
        if slot.is_some() {
            return Err(QueryError(format!("'{name}' is given more than once")));
        }
        // An empty value (`team=` from a blank form field) means "no filter".
        if !value.is_empty() {
            *slot = Some(value.to_string());
        }
        Ok(true)
    }
}

/// `GET /v1/spend`, parsed. The range is half-open, `[from_ms, to_ms)`, and already
/// widened to whole hours, the granularity of the rollups it is answered from (a
/// bound given as a date is the start of that day in the reporting time zone, exact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendQuery {
    pub group_by: Vec<Dim>,
    pub from_ms: i64,
    pub to_ms: i64,
    pub filters: Filters,
    /// Whose days `group_by=day` buckets into, and the daily rollups are in.
    pub calendar: ReportingCalendar,
}

/// `GET /v1/events`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsQuery {
    pub filters: Filters,
    pub limit: usize,
}

/// A query the caller got wrong; the message is shown to them as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError(pub String);

/// A time bound: Unix ms, whether it was given as a bare date (then it is the instant
/// the reporting calendar's day starts, exactly).
fn parse_bound(
    text: &str,
    name: &str,
    calendar: &ReportingCalendar,
) -> Result<(i64, bool), QueryError> {
    let ms = parse_time(text).map_err(|e| bad_time(name, e))?;
    let t = text.trim();
    let date = t.len() == 10 && t.as_bytes()[4] == b'-';
    Ok(if date {
        (calendar.day_start(ms), true)
    } else {
        (ms, false)
    })
}

pub fn parse_spend(
    params: &[(String, String)],
    now_ms: i64,
    calendar: &ReportingCalendar,
) -> Result<SpendQuery, QueryError> {
    let mut group_by = Vec::new();
    let mut from = None;
    let mut to = None;
    let mut filters = Filters::default();
    for (name, value) in params {
        match name.as_str() {
            // Repeating `group_by` appends, so both `group_by=team,model` and
            // `group_by=team&group_by=model` work.
            "group_by" => {
                for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let dim = Dim::parse(part).ok_or_else(|| {
                        QueryError(format!(
                            "unknown group_by dimension '{part}'; expected any of: {}",
                            Dim::ALL.map(Dim::name).join(", ")
                        ))
                    })?;
                    if group_by.contains(&dim) {
                        return Err(QueryError(format!(
                            "group_by lists '{part}' more than once"
                        )));
                    }
                    group_by.push(dim);
                }
            }
            "from" => set_once(&mut from, "from", parse_bound(value, "from", calendar)?)?,
            "to" => set_once(&mut to, "to", parse_bound(value, "to", calendar)?)?,
            other => {
                if !filters.take(other, value)? {
                    return Err(unknown_param(other, &["group_by", "from", "to"]));
                }
            }
        }
    }
    let (to, to_date) = to.unwrap_or((now_ms.clamp(0, MAX_TIME_MS), false));
    let (from, from_date) = from.unwrap_or(((to - DEFAULT_WINDOW_MS).max(0), false));
    if from >= to {
        return Err(QueryError(format!(
            "'from' ({}) must be before 'to' ({})",
            format_instant(from),
            format_instant(to)
        )));
    }
    // Widen to whole hours so the answer covers at least what was asked and the
    // response's from/to say exactly which events were counted.
    // (A date is a local day's start: kept exact, so that zones whose offset has
    // minutes still ask for whole local days.)
    Ok(SpendQuery {
        group_by,
        from_ms: if from_date {
            from
        } else {
            from.div_euclid(HOUR_MS) * HOUR_MS
        },
        to_ms: if to_date || to % HOUR_MS == 0 {
            to
        } else {
            to.div_euclid(HOUR_MS) * HOUR_MS + HOUR_MS
        },
        filters,
        calendar: calendar.clone(),
    })
}

pub fn parse_events(params: &[(String, String)]) -> Result<EventsQuery, QueryError> {
    let mut limit = None;
    let mut filters = Filters::default();
    for (name, value) in params {
        match name.as_str() {
            "limit" => {
                let n = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_EVENTS_LIMIT).contains(n))
                    .ok_or_else(|| {
                        QueryError(format!(
                            "'limit' must be a whole number from 1 to {MAX_EVENTS_LIMIT}, found '{value}'"
                        ))
                    })?;
                set_once(&mut limit, "limit", n)?;
            }
            other => {
                if !filters.take(other, value)? {
                    return Err(unknown_param(other, &["limit"]));
                }
            }
        }
    }
    Ok(EventsQuery {
        filters,
        limit: limit.unwrap_or(DEFAULT_EVENTS_LIMIT),
    })
}

/// Parses a time as Unix milliseconds (digits only), RFC 3339
/// (`2026-11-01T10:00:00Z`, `...+02:00`) or a bare UTC date (`2026-11-01`).
pub fn parse_time(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let ms = if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse::<i64>().map_err(|_| "is too large".to_string())?
    } else {
        let rfc = if t.len() == 10 && t.as_bytes()[4] == b'-' {
            format!("{t}T00:00:00Z")
        } else {
            // An unencoded '+' in a query string arrives as a space: `...T10:00:00 02:00`.
            t.replace(' ', "+")
        };
        let dt = OffsetDateTime::parse(&rfc, &Rfc3339).map_err(|_| {
            "expected Unix milliseconds or an RFC 3339 time such as 2026-11-01T00:00:00Z"
                .to_string()
        })?;
        i64::try_from(dt.unix_timestamp_nanos().div_euclid(1_000_000))
            .map_err(|_| "is out of range".to_string())?
    };
    if !(0..=MAX_TIME_MS).contains(&ms) {
        return Err("must be between 1970-01-01 and 9999-12-31".into());
    }
    Ok(ms)
}

fn set_once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), QueryError> {
    if slot.is_some() {
        return Err(QueryError(format!("'{name}' is given more than once")));
    }
    *slot = Some(value);
    Ok(())
}

fn bad_time(name: &str, problem: String) -> QueryError {
    QueryError(format!("'{name}' {problem}"))
}

fn unknown_param(name: &str, own: &[&str]) -> QueryError {
    let mut known: Vec<&str> = own.to_vec();
    known.extend(FILTER_PARAMS);
    QueryError(format!(
        "unknown query parameter '{name}'; expected any of: {}",
        known.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const NOW: i64 = 1_764_000_000_000; // 2025-11-24T16:00:00Z, a whole hour

    #[test]
    fn times_parse_in_every_accepted_form() {
        assert_eq!(parse_time("1700000000000").unwrap(), 1_700_000_000_000);
        assert_eq!(
            parse_time("2026-11-01T00:00:00Z").unwrap(),
            1_793_491_200_000
        );
        assert_eq!(parse_time("2026-11-01").unwrap(), 1_793_491_200_000);
        assert_eq!(
            parse_time("2026-11-01T02:00:00+02:00").unwrap(),
            1_793_491_200_000
        );
        assert_eq!(
            parse_time("2026-11-01T02:00:00 02:00").unwrap(),
            1_793_491_200_000
        );
        assert_eq!(
            parse_time("2026-11-01T00:00:00.250Z").unwrap(),
            1_793_491_200_250
        );
        for bad in [
            "",
            "yesterday",
            "-5",
            "2026-13-01",
            "2026-11-01T00:00:00",
            "1e12",
            "99999999999999999999",
            "1969-12-31T00:00:00Z",
        ] {
            assert!(parse_time(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn spend_defaults_to_the_last_30_days() {
        let q = parse_spend(&[], NOW, &utc()).unwrap();
        assert_eq!(q.to_ms, NOW);
        assert_eq!(q.from_ms, NOW - DEFAULT_WINDOW_MS);
        assert!(q.group_by.is_empty());
        assert_eq!(q.filters, Filters::default());
    }

    #[test]
    fn spend_range_widens_to_whole_hours() {
        let q = parse_spend(
            &params(&[
                ("from", "2026-11-01T10:30:00Z"),
                ("to", "2026-11-01T12:00:00.001Z"),
            ]),
            NOW,
            &utc(),
        )
        .unwrap();
        assert_eq!(format_instant(q.from_ms), "2026-11-01T10:00:00Z");
        assert_eq!(format_instant(q.to_ms), "2026-11-01T13:00:00Z");
        // A now that is not on an hour boundary still includes the current hour.
        let q = parse_spend(&[], NOW + 60_000, &utc()).unwrap();
        assert_eq!(q.to_ms, NOW + HOUR_MS);
    }

    fn utc() -> ReportingCalendar {
        ReportingCalendar::utc()
    }

    #[test]
    fn dates_are_the_reporting_zones_midnights_kept_exact() {
        let paris = ReportingCalendar::parse("Europe/Paris").unwrap();
        let q = parse_spend(
            &params(&[("from", "2026-11-01"), ("to", "2026-11-03T10:30:00Z")]),
            NOW,
            &paris,
        )
        .unwrap();
        assert_eq!(format_instant(q.from_ms), "2026-10-31T23:00:00Z");
        assert_eq!(format_instant(q.to_ms), "2026-11-03T11:00:00Z");
        let kolkata = ReportingCalendar::parse("Asia/Kolkata").unwrap();
        let q = parse_spend(
            &params(&[("from", "2026-11-01"), ("to", "2026-11-02")]),
            NOW,
            &kolkata,
        )
        .unwrap();
        assert_eq!(format_instant(q.to_ms), "2026-11-01T18:30:00Z");
        assert_eq!(format_instant(q.from_ms), "2026-10-31T18:30:00Z");
        assert_eq!(q.calendar, kolkata);
    }

    #[test]
    fn group_by_and_filters_parse() {
        let q = parse_spend(
            &params(&[
                ("group_by", "team, model"),
                ("group_by", "day"),
                ("team", "team_support"),
                ("provider", ""),
                ("model", "claude-haiku"),
            ]),
            NOW,
            &utc(),
        )
        .unwrap();
        assert_eq!(q.group_by, vec![Dim::Team, Dim::Model, Dim::Day]);
        assert_eq!(q.filters.team.as_deref(), Some("team_support"));
        assert_eq!(q.filters.provider, None);
        assert_eq!(q.filters.model.as_deref(), Some("claude-haiku"));
        for d in Dim::ALL {
            assert_eq!(Dim::parse(d.name()), Some(d));
        }
    }

    #[test]
    fn bad_spend_queries_say_what_is_wrong() {
        let err = |p: &[(&str, &str)]| parse_spend(&params(p), NOW, &utc()).unwrap_err().0;
        let e = err(&[("group_by", "team,colour")]);
        assert!(e.contains("unknown group_by dimension 'colour'"), "{e}");
        assert!(e.contains("consumer_group"), "{e}");
        assert!(err(&[("group_by", "team,team")]).contains("more than once"));
        assert!(err(&[("from", "soon")]).starts_with("'from' expected"));
        assert!(err(&[("to", "-1")]).starts_with("'to'"));
        let e = err(&[("from", "2026-11-02"), ("to", "2026-11-01")]);
        assert!(e.contains("must be before"), "{e}");
        assert!(err(&[("from", "1"), ("from", "2")]).contains("more than once"));
        assert!(err(&[("team", "a"), ("team", "b")]).contains("more than once"));
        let e = err(&[("grop_by", "team")]);
        assert!(e.contains("unknown query parameter 'grop_by'"), "{e}");
    }

    #[test]
    fn events_query_limits() {
        assert_eq!(parse_events(&[]).unwrap().limit, DEFAULT_EVENTS_LIMIT);
        let q = parse_events(&params(&[("limit", "1000"), ("team", "t")])).unwrap();
        assert_eq!(q.limit, 1000);
        assert_eq!(q.filters.team.as_deref(), Some("t"));
        for bad in ["0", "1001", "ten", "-1"] {
            assert!(parse_events(&params(&[("limit", bad)])).is_err(), "{bad}");
        }
        assert!(parse_events(&params(&[("group_by", "team")])).is_err());
    }

    #[test]
    fn formats_buckets() {
        assert_eq!(format_instant(1_793_491_200_000), "2026-11-01T00:00:00Z");
        assert_eq!(format_day(1_793_491_200_000 + 5 * HOUR_MS), "2026-11-01");
    }
}
