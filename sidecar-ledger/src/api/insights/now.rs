//! "Now" for the dashboard: the instant, and the same moment on the reporting
//! calendar's local clock, which every day, week and month of an answer is counted on.

use crate::api::blocking::reporting_calendar;
use crate::calendar::ReportingCalendar;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::query::DAY_MS;
use crate::state::AppState;

#[derive(Debug, Clone)]
pub(super) struct Now {
    /// Unix ms.
    pub instant: i64,
    /// `instant` on the local clock: floored to days, today's label.
    pub local: i64,
    pub calendar: ReportingCalendar,
}

impl Now {
    pub(super) fn at(instant: i64, calendar: ReportingCalendar) -> Now {
        Now {
            instant,
            local: calendar.local_clock(instant),
            calendar,
        }
    }

    /// Today's label.
    pub(super) fn today(&self) -> i64 {
        self.local.div_euclid(DAY_MS) * DAY_MS
    }
}

pub(super) async fn now(state: &AppState) -> Result<Now, ApiError> {
    Ok(Now::at(now_ms(), reporting_calendar(state).await?))
}
