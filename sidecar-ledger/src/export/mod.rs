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

mod error;
pub mod focus;
mod periods;
mod prices;
mod request;
mod rows;
pub mod split;
#[cfg(test)]
mod tests;

use std::io;

use tollgate_core::pricing::PriceTable;

pub use error::ExportError;
pub use prices::{price_table, use_pricing};
pub use request::{parse_request, ExportRequest, Format, Grain};

use crate::store::Store;

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
