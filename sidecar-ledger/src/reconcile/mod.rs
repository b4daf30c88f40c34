//! Reconciliation with the providers' own reports: their cost and usage reports
//! imported from files in the documented JSON shapes (`report_file`, with `openai` and
//! `anthropic` for each provider's results and `amount` for exact money), or pulled
//! with an admin key (`pull`), stored, and compared with Tollgate's spend per UTC day ×
//! provider × model (`compare`, under the names of `models`). Served by
//! `GET /v1/reconciliation`, `tollgate-ledger reconcile` and the exports.

pub mod amount;
pub mod anthropic;
pub mod compare;
pub mod models;
pub mod openai;
pub mod pull;
pub mod report_file;

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use crate::calendar::ReportingCalendar;
use crate::clock::format_day;
use crate::query::{Dim, Filters, SpendQuery, DAY_MS};
use crate::store::reconciliation::ImportOutcome;
use crate::store::types::KeyValue;
use crate::store::{Store, StoreError, Sums};
use compare::{reconcile, Row, Tolerance, TollgateDay};
use report_file::Provider;

/// The reconciliation of `[from_ms, to_ms)` (whole UTC days).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// First day, `YYYY-MM-DD`.
    pub from: String,
    /// The day after the last, `YYYY-MM-DD`.
    pub to: String,
    pub tolerance: Tolerance,
    pub rows: Vec<Row>,
}

/// `[from_ms, to_ms)` widened to whole UTC days.
pub fn whole_days(from_ms: i64, to_ms: i64) -> (i64, i64) {
    let from = from_ms.div_euclid(DAY_MS) * DAY_MS;
    let to = (to_ms + DAY_MS - 1).div_euclid(DAY_MS) * DAY_MS;
    (from, to.max(from))
}

/// Tollgate's spend per UTC day, provider and served model (from the hourly rollups,
/// which are UTC whatever the reporting time zone).
fn tollgate_days(
    store: &dyn Store,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<TollgateDay>, StoreError> {
    let rows = store.spend(&SpendQuery {
        group_by: vec![Dim::Hour, Dim::Provider, Dim::Model],
        from_ms,
        to_ms,
        filters: Filters::default(),
        calendar: ReportingCalendar::utc(),
    })?;
    let mut days: BTreeMap<(i64, String, String), Sums> = BTreeMap::new();
    for row in rows {
        let (
            Some(KeyValue::TimeMs(hour)),
            Some(KeyValue::Text(provider)),
            Some(KeyValue::Text(model)),
        ) = (row.key.first(), row.key.get(1), row.key.get(2))
        else {
            return Err(StoreError::Corrupt(
                "a spend row without its hour, provider and model".into(),
            ));
        };
        let key = (
            hour.div_euclid(DAY_MS) * DAY_MS,
            provider.clone().unwrap_or_default(),
            model.clone().unwrap_or_default(),
        );
        let slot = days.entry(key).or_default();
        *slot = slot
            .checked_add(&row.sums)
            .ok_or_else(|| StoreError::Corrupt("sum overflows 64 bits".into()))?;
    }
    Ok(days
        .into_iter()
        .map(|((day_ms, provider, model), sums)| TollgateDay {
            day_ms,
            provider,
            model,
            sums,
        })
        .collect())
}

/// The reconciliation of the UTC days `[from_ms, to_ms)` touches.
pub fn report(
    store: &dyn Store,
    from_ms: i64,
    to_ms: i64,
    tolerance: Tolerance,
) -> Result<Report, StoreError> {
    let (from_ms, to_ms) = whole_days(from_ms, to_ms);
    let ours = tollgate_days(store, from_ms, to_ms)?;
    let theirs = store.report_lines(from_ms, to_ms)?;
    Ok(Report {
        from: format_day(from_ms),
        to: format_day(to_ms),
        tolerance,
        rows: reconcile(&ours, &theirs, tolerance),
    })
}

/// Parses `text` as `provider`'s report and stores its lines (replacing lines of the
/// same key).
pub fn import(
    store: &dyn Store,
    provider: Provider,
    text: &str,
    source: &str,
    now_ms: i64,
) -> Result<(usize, ImportOutcome), String> {
    let lines = report_file::parse(provider, text)?;
    let outcome = store
        .import_report_lines(&lines, source, now_ms)
        .map_err(|e| e.to_string())?;
    Ok((lines.len(), outcome))
}

/// The CSV columns of the reconciliation, in order.
pub const CSV_HEADER: [&str; 16] = [
    "day",
    "provider",
    "model",
    "tollgate_cost_usd",
    "provider_cost_usd",
    "variance_usd",
    "variance_pct",
    "verdict",
    "tollgate_cost_nanos",
    "provider_cost_nanos",
    "variance_nanos",
    "tollgate_requests",
    "tollgate_input_tokens",
    "tollgate_output_tokens",
    "usage_verdict",
    "provider_models",
];

/// The rows as CSV (RFC 4180), a header first.
pub fn write_csv(rows: &[Row], out: &mut dyn Write) -> std::io::Result<()> {
    use tollgate_core::money::format_usd;
    let mut w = csv::Writer::from_writer(out);
    let err = |e: csv::Error| std::io::Error::other(e.to_string());
    w.write_record(CSV_HEADER).map_err(err)?;
    for r in rows {
        let opt = |v: Option<i64>, f: fn(i64) -> String| v.map(f).unwrap_or_default();
        w.write_record([
            r.day.clone(),
            r.provider.clone(),
            r.model.clone(),
            format_usd(r.tollgate_cost_nanos),
            opt(r.provider_cost_nanos, format_usd),
            r.variance_usd.clone(),
            r.variance_pct.clone().unwrap_or_default(),
            r.verdict.as_str().to_string(),
            r.tollgate_cost_nanos.to_string(),
            opt(r.provider_cost_nanos, |n| n.to_string()),
            r.variance_nanos.to_string(),
            r.tollgate_requests.to_string(),
            r.tollgate_tokens.input_tokens.to_string(),
            r.tollgate_tokens.output_tokens.to_string(),
            r.usage_verdict.unwrap_or("").to_string(),
            r.provider_models.join(" "),
        ])
        .map_err(err)?;
    }
    w.flush()
}
