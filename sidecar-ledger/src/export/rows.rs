//! CSV and JSON Lines rows: per request (every `CostEvent` field) and per day or
//! month (the rollup sums). Both formats carry the same fields in the same order;
//! money is given twice, as integer nanodollars and as an exact USD decimal string.

use std::io::{self, Write};
use std::ops::ControlFlow;

use serde::Serialize;
use tollgate_core::event::CostEvent;
use tollgate_core::money::format_usd;

use super::error::ExportError;
use super::periods::clipped_period;
use super::request::Format;
use crate::query::format_instant;
use crate::store::event_text;
use crate::store::export::{ExportScope, Period, PeriodRow};
use crate::store::rollup_deltas::adjustment_event;
use crate::store::Store;

/// Request-grain columns, in order (the field names of [`EventRecord`]).
pub const EVENT_COLUMNS: [&str; 38] = [
    "id",
    "ts_ms",
    "ts",
    "consumer_group",
    "team",
    "user",
    "workflow",
    "api",
    "provider",
    "lane",
    "model_requested",
    "model_served",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "usage_source",
    "cost_nanos",
    "cost_usd",
    "unpriced",
    "outcome",
    "http_status",
    "reason",
    "latency_ms",
    "stream",
    "cache",
    "cost_avoided_nanos",
    "cost_avoided_usd",
    "premium",
    "premium_approved",
    "lease_id",
    "wallet_unchecked",
    "cache_write_1h_tokens",
    "web_search_calls",
    "tool_cost_nanos",
    "tool_cost_usd",
    "service_tier",
    "priced_by",
];

/// Day/month columns, in order (the field names of [`PeriodRecord`]).
pub const PERIOD_COLUMNS: [&str; 16] = [
    "period_start",
    "period_end",
    "team",
    "consumer_group",
    "provider",
    "lane",
    "model",
    "requests",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "cost_nanos",
    "cost_usd",
    "cost_avoided_nanos",
    "cost_avoided_usd",
];

/// One event, flat. Absent optional fields are `null` in JSON and empty in CSV.
#[derive(Serialize)]
pub struct EventRecord<'a> {
    id: &'a str,
    ts_ms: i64,
    /// `ts_ms` as RFC 3339 UTC, for people and spreadsheets.
    ts: String,
    consumer_group: &'a str,
    team: &'a str,
    user: Option<&'a str>,
    workflow: Option<&'a str>,
    api: &'static str,
    provider: Option<&'a str>,
    lane: Option<&'a str>,
    model_requested: &'a str,
    model_served: &'a str,
    input_tokens: u64,
    cached_input_tokens: u64,
    cache_write_tokens: u64,
    output_tokens: u64,
    usage_source: &'static str,
    cost_nanos: i64,
    cost_usd: String,
    unpriced: bool,
    outcome: &'static str,
    http_status: u16,
    reason: Option<&'a str>,
    latency_ms: u32,
    stream: bool,
    cache: &'static str,
    cost_avoided_nanos: i64,
    cost_avoided_usd: String,
    premium: bool,
    premium_approved: bool,
    lease_id: Option<u64>,
    /// Sent without a wallet check: the ledger was unreachable and the group fails open.
    wallet_unchecked: bool,
    /// 1-hour cache writes (`cache_write_tokens` are the 5-minute ones).
    cache_write_1h_tokens: u64,
    web_search_calls: u64,
    /// The per-call part of `cost_nanos` (web search).
    tool_cost_nanos: i64,
    tool_cost_usd: String,
    service_tier: Option<&'a str>,
    /// The price-catalogue entry and rate rule that priced the request.
    priced_by: Option<&'a str>,
}

impl<'a> EventRecord<'a> {
    pub fn of(e: &'a CostEvent) -> Self {
        EventRecord {
            id: &e.id,
            ts_ms: e.ts_ms,
            ts: format_instant(e.ts_ms),
            consumer_group: &e.consumer_group,
            team: &e.team,
            user: e.user.as_deref(),
            workflow: e.workflow.as_deref(),
            api: event_text::api_str(e.api),
            provider: e.provider.as_deref(),
            lane: e.lane.as_deref(),
            model_requested: &e.model_requested,
            model_served: &e.model_served,
            input_tokens: e.tokens.input,
            cached_input_tokens: e.tokens.cached_input,
            cache_write_tokens: e.tokens.cache_write,
            output_tokens: e.tokens.output,
            usage_source: event_text::usage_source_str(e.usage_source),
            cost_nanos: e.cost_nanos,
            cost_usd: format_usd(e.cost_nanos),
            unpriced: e.unpriced,
            outcome: event_text::outcome_str(e.outcome),
            http_status: e.http_status,
            reason: e.reason.as_deref(),
            latency_ms: e.latency_ms,
            stream: e.stream,
            cache: event_text::cache_str(e.cache),
            cost_avoided_nanos: e.cost_avoided_nanos,
            cost_avoided_usd: format_usd(e.cost_avoided_nanos),
            premium: e.premium,
            premium_approved: e.premium_approved,
            lease_id: e.lease_id,
            wallet_unchecked: e.wallet_unchecked,
            cache_write_1h_tokens: e.tokens.cache_write_1h,
            web_search_calls: e.web_search_calls,
            tool_cost_nanos: e.tool_cost_nanos,
            tool_cost_usd: format_usd(e.tool_cost_nanos),
            service_tier: e.service_tier.as_deref(),
            priced_by: e.priced_by.as_deref(),
        }
    }
}

/// One (period, key) group. `period_start`/`period_end` are the part of the UTC day
/// or month inside the export's range, `[start, end)`. Its `cache_write_tokens` are
/// every cache write, 5-minute and 1-hour (as `/v1/spend` counts them); FOCUS rows
/// and request rows show the two apart.
#[derive(Serialize)]
pub struct PeriodRecord<'a> {
    period_start: String,
    period_end: String,
    team: &'a str,
    consumer_group: &'a str,
    provider: Option<&'a str>,
    lane: Option<&'a str>,
    model: &'a str,
    requests: i64,
    input_tokens: i64,
    cached_input_tokens: i64,
    cache_write_tokens: i64,
    output_tokens: i64,
    cost_nanos: i64,
    cost_usd: String,
    cost_avoided_nanos: i64,
    cost_avoided_usd: String,
}

impl<'a> PeriodRecord<'a> {
    pub fn of(r: &'a PeriodRow, scope: &ExportScope, period: Period) -> Self {
        let (start, end) = clipped_period(scope, period, r.period_ms);
        let s = &r.sums;
        PeriodRecord {
            period_start: format_instant(start),
            period_end: format_instant(end),
            team: &r.team,
            consumer_group: &r.consumer_group,
            provider: r.provider.as_deref(),
            lane: r.lane.as_deref(),
            model: &r.model,
            requests: s.requests,
            input_tokens: s.input_tokens,
            cached_input_tokens: s.cached_input_tokens,
            cache_write_tokens: s.cache_write_tokens,
            output_tokens: s.output_tokens,
            cost_nanos: s.cost_nanos,
            cost_usd: format_usd(s.cost_nanos),
            cost_avoided_nanos: s.cost_avoided_nanos,
            cost_avoided_usd: format_usd(s.cost_avoided_nanos),
        }
    }
}

/// Serialises records as CSV (header first, even with no rows) or JSON Lines.
enum Table<'w> {
    Csv(Box<::csv::Writer<&'w mut dyn Write>>),
    Jsonl(&'w mut dyn Write),
}

impl<'w> Table<'w> {
    fn new(format: Format, columns: &[&str], out: &'w mut dyn Write) -> io::Result<Self> {
        Ok(match format {
            Format::Jsonl => Table::Jsonl(out),
            Format::Csv | Format::Focus => {
                let mut w = csv_writer(out);
                w.write_record(columns).map_err(io::Error::from)?;
                Table::Csv(Box::new(w))
            }
        })
    }

    fn row<T: Serialize>(&mut self, record: &T) -> io::Result<()> {
        match self {
            Table::Csv(w) => w.serialize(record).map_err(io::Error::from),
            Table::Jsonl(out) => {
                serde_json::to_writer(&mut **out, record).map_err(io::Error::from)?;
                out.write_all(b"\n")
            }
        }
    }

    fn finish(self) -> io::Result<()> {
        match self {
            Table::Csv(mut w) => w.flush(),
            Table::Jsonl(out) => out.flush(),
        }
    }
}

/// CSV writer used by every export: RFC 4180 quoting, `\n` line ends, and no
/// automatic header (headers are written explicitly so an empty export has one).
pub fn csv_writer(out: &mut dyn Write) -> ::csv::Writer<&mut dyn Write> {
    ::csv::WriterBuilder::new()
        .has_headers(false)
        .terminator(::csv::Terminator::Any(b'\n'))
        .from_writer(out)
}

/// Runs a store read whose sink may fail to write: the first write error stops the
/// read and is returned.
pub(super) fn drive<T>(
    read: impl FnOnce(&mut dyn FnMut(T) -> ControlFlow<()>) -> Result<(), crate::store::StoreError>,
    mut write: impl FnMut(T) -> io::Result<()>,
) -> Result<(), ExportError> {
    let mut failed = None;
    read(&mut |item| match write(item) {
        Ok(()) => ControlFlow::Continue(()),
        Err(e) => {
            failed = Some(e);
            ControlFlow::Break(())
        }
    })?;
    match failed {
        Some(e) => Err(ExportError::Write(e)),
        None => Ok(()),
    }
}

pub fn write_events(
    store: &dyn Store,
    scope: &ExportScope,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), ExportError> {
    let mut table = Table::new(format, &EVENT_COLUMNS, out)?;
    drive(
        |sink| store.for_each_event(scope, sink),
        |e| table.row(&EventRecord::of(&e)),
    )?;
    // Repricing adjustments of the scope's events follow them, one row each: the
    // event's attribution and time, no tokens, the cost difference, reason `repricing`,
    // id `<event id>#<run id>`. The rows' costs add up to `/v1/spend`'s.
    let f = &scope.filters;
    let same =
        |want: &Option<String>, have: Option<&str>| want.as_deref().is_none_or(|w| have == Some(w));
    for a in store.adjustments(scope.from_ms, scope.to_ms, f.team.as_deref())? {
        let a = a.adjustment;
        if !(same(&f.consumer_group, Some(&a.consumer_group))
            && same(&f.provider, a.provider.as_deref())
            && same(&f.lane, a.lane.as_deref())
            && same(&f.model, Some(&a.model_served)))
        {
            continue;
        }
        let mut e = adjustment_event(&a)?;
        e.id = format!("{}#{}", a.event_id, a.run_id);
        e.reason = Some("repricing".into());
        table
            .row(&EventRecord::of(&e))
            .map_err(ExportError::Write)?;
    }
    Ok(table.finish()?)
}

pub fn write_periods(
    store: &dyn Store,
    scope: &ExportScope,
    period: Period,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), ExportError> {
    let mut table = Table::new(format, &PERIOD_COLUMNS, out)?;
    drive(
        |sink| store.for_each_period_row(scope, period, false, sink),
        |r| table.row(&PeriodRecord::of(&r, scope, period)),
    )?;
    Ok(table.finish()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Sums;
    use crate::test_util::event;

    /// The constant column lists are exactly the records' serialised field names.
    #[test]
    fn column_lists_match_the_records() {
        let header = |record: &dyn erased::Record| {
            let mut out = Vec::new();
            record.write_with_header(&mut out);
            let text = String::from_utf8(out).unwrap();
            text.lines().next().unwrap().to_string()
        };
        let e = event("a", 1, "team_a", 5);
        assert_eq!(header(&EventRecord::of(&e)), EVENT_COLUMNS.join(","));
        let row = PeriodRow {
            period_ms: 0,
            team: "t".into(),
            consumer_group: "g".into(),
            provider: None,
            lane: None,
            model: "m".into(),
            cache: None,
            sums: Sums::default(),
        };
        let scope = ExportScope {
            from_ms: 0,
            to_ms: 1,
            filters: Default::default(),
            calendar: Default::default(),
        };
        assert_eq!(
            header(&PeriodRecord::of(&row, &scope, Period::Day)),
            PERIOD_COLUMNS.join(",")
        );
    }

    mod erased {
        pub trait Record {
            fn write_with_header(&self, out: &mut Vec<u8>);
        }
        impl<T: serde::Serialize> Record for T {
            fn write_with_header(&self, out: &mut Vec<u8>) {
                let mut w = ::csv::Writer::from_writer(out);
                w.serialize(self).unwrap();
                w.flush().unwrap();
            }
        }
    }
}
