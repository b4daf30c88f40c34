//! The reporting time zone as stored on PostgreSQL, read by every fold in its own
//! transaction and by the calendar's settings (kept apart from both so neither
//! imports the other).

use postgres::Transaction;

use crate::calendar::ReportingCalendar;
use crate::store::error::StoreError;
use crate::store::types::ReportingZone;

pub(super) fn zone_row(row: &postgres::Row) -> Result<ReportingZone, StoreError> {
    Ok(ReportingZone {
        time_zone: row.try_get(0)?,
        changed_ms: row.try_get(1)?,
        changed_by: row.try_get(2)?,
    })
}

pub(super) const SELECT_ZONE: &str =
    "SELECT time_zone, changed_ms, changed_by FROM reporting_calendar WHERE id = 1";

/// The calendar the daily rollups are in, read in a fold's transaction.
pub(super) fn stored_calendar(tx: &mut Transaction<'_>) -> Result<ReportingCalendar, StoreError> {
    let zone = zone_row(&tx.query_one(SELECT_ZONE, &[])?)?;
    ReportingCalendar::parse(&zone.time_zone).map_err(StoreError::Corrupt)
}
