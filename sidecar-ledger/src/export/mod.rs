//! Finance exports: CSV, JSON Lines and FOCUS 1.2, from the same stored evidence as
//! the dashboard.
//!
//! * `grain=request`: one row per cost event, read from `events` in keyset pages.
//! * `grain=day|month`: one row per UTC day or calendar month and attribution key,
//!   summed from `rollup_hourly`, the table `/v1/spend` answers from.
//! * `format=focus`: FinOps FOCUS 1.2 rows, one per charge period × team × consumer
//!   group × provider × model × lane × cache status × token kind (see [`focus`]).
//!
//! The range is the one `/v1/spend` counts for the same `from`/`to` (widened to whole
//! hours) and the filters are its filters, so an export's totals equal the
//! dashboard's for the same period and scope, to the nanodollar.
//!
//! Rows are written as they are read, into any `io::Write`: the HTTP handler's writer
//! feeds a streamed response body, so memory stays constant for any range.

mod cli;
pub mod focus;
mod rows;
pub mod split;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::sync::{Arc, RwLock};

use time::{Date, Month, OffsetDateTime};
use tollgate_core::config::ModelPriceDef;
use tollgate_core::pricing::PriceTable;

#[cfg(test)]
pub(crate) use cli::export;
pub use cli::{run, ExportArgs};

use crate::query::{parse_spend, QueryError};
use crate::store::export::{ExportScope, Period};
use crate::store::{Store, StoreError};

/// How fine the rows are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Grain {
    /// One row per cost event.
    Request,
    /// One row per UTC day and key.
    Day,
    /// One row per calendar month (UTC) and key.
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

    fn period(self) -> Option<Period> {
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
    /// A download name: `tollgate-focus-day-2026-11-01-2026-12-01.csv`.
    pub fn file_name(&self) -> String {
        // `2026-11-01` for midnight, else `2026-11-01T130000Z`.
        let stamp = |ms: i64| {
            let s = crate::query::format_instant(ms).replace(':', "");
            s.strip_suffix("T000000Z").map(str::to_string).unwrap_or(s)
        };
        format!(
            "tollgate-{}-{}-{}-{}.{}",
            self.format.name(),
            self.grain.name(),
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
    let spend = parse_spend(&rest, now_ms)?;
    Ok(ExportRequest {
        scope: ExportScope {
            from_ms: spend.from_ms,
            to_ms: spend.to_ms,
            filters: spend.filters,
        },
        grain,
        format,
    })
}

/// Why an export stopped.
#[derive(Debug)]
pub enum ExportError {
    Store(StoreError),
    /// The output failed (for HTTP: usually the client went away).
    Write(io::Error),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Store(e) => write!(f, "{e}"),
            ExportError::Write(e) => write!(f, "cannot write the export: {e}"),
        }
    }
}

impl std::error::Error for ExportError {}

impl From<StoreError> for ExportError {
    fn from(e: StoreError) -> Self {
        ExportError::Store(e)
    }
}

impl From<io::Error> for ExportError {
    fn from(e: io::Error) -> Self {
        ExportError::Write(e)
    }
}

/// Writes the whole export to `out`, row by row. `prices` only decides how a group's
/// cost is split between token kinds in FOCUS rows, never a total.
pub fn write_export(
    store: &dyn Store,
    req: &ExportRequest,
    prices: &PriceTable,
    out: &mut dyn io::Write,
) -> Result<(), ExportError> {
    match (req.format, req.grain.period()) {
        (Format::Focus, Some(period)) => focus::write(store, &req.scope, period, prices, out),
        (Format::Focus, None) => unreachable!("rejected by parse_request"),
        (format, None) => rows::write_events(store, &req.scope, format, out),
        (format, Some(period)) => rows::write_periods(store, &req.scope, period, format, out),
    }
}

static PRICES: RwLock<Option<Arc<PriceTable>>> = RwLock::new(None);

/// Sets the price table FOCUS rows are split with: the built-in list prices with the
/// config's `pricing:` overrides, i.e. the prices the filter charges with. Called by
/// `serve --config` at start and on every configuration reload.
pub fn use_pricing(overrides: &BTreeMap<String, ModelPriceDef>) {
    let table = Arc::new(PriceTable::with_overrides(overrides));
    *PRICES.write().unwrap_or_else(|p| p.into_inner()) = Some(table);
}

/// The price table in force (built-in list prices when no config was given).
pub fn price_table() -> Arc<PriceTable> {
    if let Some(table) = PRICES.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
        return table.clone();
    }
    let mut slot = PRICES.write().unwrap_or_else(|p| p.into_inner());
    slot.get_or_insert_with(|| Arc::new(PriceTable::with_overrides(&BTreeMap::new())))
        .clone()
}

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
