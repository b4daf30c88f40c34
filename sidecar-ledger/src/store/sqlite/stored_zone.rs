//! The reporting time zone as stored on SQLite, read by every fold in its own
//! transaction and by the calendar's settings (kept apart from both so neither
//! imports the other).

use rusqlite::Connection;

use crate::calendar::ReportingCalendar;
use crate::store::error::StoreError;
use crate::store::types::ReportingZone;

pub(super) fn zone_row(conn: &Connection) -> Result<ReportingZone, StoreError> {
    Ok(conn.query_row(
        "SELECT time_zone, changed_ms, changed_by FROM reporting_calendar WHERE id = 1",
        [],
        |r| {
            Ok(ReportingZone {
                time_zone: r.get(0)?,
                changed_ms: r.get(1)?,
                changed_by: r.get(2)?,
            })
        },
    )?)
}

/// The calendar the daily rollups are in, read with `conn` (a fold's transaction).
pub(super) fn stored_calendar(conn: &Connection) -> Result<ReportingCalendar, StoreError> {
    let zone = zone_row(conn)?;
    ReportingCalendar::parse(&zone.time_zone).map_err(StoreError::Corrupt)
}
