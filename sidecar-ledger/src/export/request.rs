//! What an export asks for: range, grain, format and filters, parsed from the same
//! query parameters as `/v1/spend` so totals match the dashboard's.

use crate::calendar::ReportingCalendar;
use crate::query::{parse_spend, QueryError};
use crate::store::export::{ExportScope, Period};

/// How fine the rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Grain {
    /// One row per cost event.
    Request,
    /// One row per day (in the reporting time zone) and key.
    Day,
    /// One row per calendar month (in the reporting time zone) and key.
    Month,
}

impl Grain {
    pub fn name(self) -> &'static str {
        match self {
            Grain::Request => "request",
            Grain::Day => "day",
            Grain::Month => "month",
        }
    }

    fn parse(s: &str) -> Option<Grain> {
        [Grain::Request, Grain::Day, Grain::Month]
            .into_iter()
            .find(|g| g.name() == s)
    }

    pub(super) fn period(self) -> Option<Period> {
        match self {
            Grain::Request => None,
            Grain::Day => Some(Period::Day),
            Grain::Month => Some(Period::Month),
        }
    }
}

/// What the rows are written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// RFC 4180 CSV with a header row.
    Csv,
    /// JSON Lines: one JSON object per line.
    Jsonl,
    /// FOCUS 1.2 cost and usage rows, as CSV (day or month grain only).
    Focus,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Focus => "focus",
        }
    }

    fn parse(s: &str) -> Option<Format> {
        [Format::Csv, Format::Jsonl, Format::Focus]
            .into_iter()
            .find(|f| f.name() == s)
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv | Format::Focus => "text/csv; charset=utf-8",
            Format::Jsonl => "application/jsonl; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv | Format::Focus => "csv",
            Format::Jsonl => "jsonl",
        }
    }
}

/// `GET /v1/export`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRequest {
    pub scope: ExportScope,
    pub grain: Grain,
    pub format: Format,
}

impl ExportRequest {
    /// A download name: `tollgate-focus-day-2026-11-01-2026-12-01.csv`, with the team
    /// when the export is one team's (`tollgate-focus-day-team_support-…`), so one
    /// team's file does not replace another's in a downloads folder.
    pub fn file_name(&self) -> String {
        // `2026-11-01` for midnight, else `2026-11-01T130000Z`.
        let stamp = |ms: i64| {
            let s = crate::query::format_instant(ms).replace(':', "");
            s.strip_suffix("T000000Z").map(str::to_string).unwrap_or(s)
        };
        let team = self
            .scope
            .filters
            .team
            .as_deref()
            .map(|t| {
                let safe: String = t
                    .chars()
                    .map(|c| match c {
                        'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '.' | '-' => c,
                        _ => '_',
                    })
                    .collect();
                format!("{safe}-")
            })
            .unwrap_or_default();
        format!(
            "tollgate-{}-{}-{}{}-{}.{}",
            self.format.name(),
            self.grain.name(),
            team,
            stamp(self.scope.from_ms),
            stamp(self.scope.to_ms),
            self.format.extension()
        )
    }
}

const OWN_PARAMS: [&str; 4] = ["from", "to", "grain", "format"];
const FILTER_PARAMS: [&str; 5] = ["team", "consumer_group", "provider", "lane", "model"];

/// Parses the export's query: `from`, `to` (as `/v1/spend`, default the last 30 days),
/// `grain` (default `day`), `format` (default `csv`) and the spend filters.
pub fn parse_request(
    params: &[(String, String)],
    now_ms: i64,
    calendar: &ReportingCalendar,
) -> Result<ExportRequest, QueryError> {
    let mut grain = None;
    let mut format = None;
    let mut rest = Vec::new();
    for (name, value) in params {
        match name.as_str() {
            "grain" => {
                let g = Grain::parse(value).ok_or_else(|| {
                    QueryError(format!(
                        "unknown grain '{value}'; expected request, day or month"
                    ))
                })?;
                if grain.replace(g).is_some() {
                    return Err(QueryError("'grain' is given more than once".into()));
                }
            }
            "format" => {
                let f = Format::parse(value).ok_or_else(|| {
                    QueryError(format!(
                        "unknown format '{value}'; expected csv, jsonl or focus"
                    ))
                })?;
                if format.replace(f).is_some() {
                    return Err(QueryError("'format' is given more than once".into()));
                }
            }
            n if OWN_PARAMS.contains(&n) || FILTER_PARAMS.contains(&n) => {
                rest.push((name.clone(), value.clone()))
            }
            other => {
                let mut known = OWN_PARAMS.to_vec();
                known.extend(FILTER_PARAMS);
                return Err(QueryError(format!(
                    "unknown query parameter '{other}'; expected any of: {}",
                    known.join(", ")
                )));
            }
        }
    }
    let grain = grain.unwrap_or(Grain::Day);
    let format = format.unwrap_or(Format::Csv);
    if format == Format::Focus && grain == Grain::Request {
        return Err(QueryError(
            "FOCUS rows are per charge period: use grain=day or grain=month with format=focus"
                .into(),
        ));
    }
    // The range and filters exactly as the spend endpoint reads them.
    let spend = parse_spend(&rest, now_ms, calendar)?;
    Ok(ExportRequest {
        scope: ExportScope {
            from_ms: spend.from_ms,
            to_ms: spend.to_ms,
            filters: spend.filters,
            calendar: spend.calendar,
        },
        grain,
        format,
    })
}

#[cfg(test)]
mod file_name_tests {
    use super::*;
    use crate::calendar::ReportingCalendar;
    use crate::query::Filters;
    use crate::store::export::ExportScope;

    #[test]
    fn a_teams_file_is_named_for_the_team() {
        let request = |team: Option<&str>| ExportRequest {
            scope: ExportScope {
                from_ms: 1_761_955_200_000, // 2025-11-01
                to_ms: 1_764_547_200_000,   // 2025-12-01
                filters: Filters {
                    team: team.map(str::to_string),
                    ..Filters::default()
                },
                calendar: ReportingCalendar::utc(),
            },
            grain: Grain::Day,
            format: Format::Focus,
        };
        assert_eq!(
            request(None).file_name(),
            "tollgate-focus-day-2025-11-01-2025-12-01.csv"
        );
        assert_eq!(
            request(Some("team_support")).file_name(),
            "tollgate-focus-day-team_support-2025-11-01-2025-12-01.csv"
        );
        // Nothing a header or a file system would misread.
        assert_eq!(
            request(Some("a\"b/c")).file_name(),
            "tollgate-focus-day-a_b_c-2025-11-01-2025-12-01.csv"
        );
    }
}
