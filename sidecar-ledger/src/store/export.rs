//! Plain data of the export reads (`Store::for_each_event`,
//! `Store::for_each_period_row`); the formats are built from it in `crate::export`.

use tollgate_core::event::CacheStatus;

use crate::calendar::ReportingCalendar;
use crate::query::Filters;
use crate::store::types::Sums;

/// What an export covers: the events with `from_ms <= ts_ms < to_ms` that match the
/// filters. Bounds are whole hours (the rollups' granularity), exactly as
/// `GET /v1/spend` counts them, so the two always describe the same events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportScope {
    pub from_ms: i64,
    pub to_ms: i64,
    pub filters: Filters,
    /// Whose days and months periods are.
    pub calendar: ReportingCalendar,
}

/// A calendar bucket of the reporting time zone that rollup hours are summed into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Month,
}

/// One group of the hourly rollups summed over a period: the key is
/// (period, team, consumer_group, provider, lane, model[, cache]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodRow {
    /// The label of the period's first day (see `crate::calendar`; in UTC, its start
    /// in Unix ms). It may lie before the scope's start when the scope begins
    /// mid-period; only the scope's hours are summed.
    pub period_ms: i64,
    pub team: String,
    pub consumer_group: String,
    pub provider: Option<String>,
    pub lane: Option<String>,
    /// The served model.
    pub model: String,
    /// Set only when the rows were asked for per cache status.
    pub cache: Option<CacheStatus>,
    pub sums: Sums,
}

/// Where period rows are summed from: the daily coarse rollup when the scope is whole
/// days of its calendar (exact in every zone, and ~20× fewer rows), else the coarse
/// hourly rollup (whose hours go to the day they start in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodSource {
    pub table: &'static str,
    pub time_column: &'static str,
    /// Bounds on `time_column`: day labels or instants.
    pub from: i64,
    pub to: i64,
    /// SQL for the label of a row's day.
    pub day_sql: String,
}

impl ExportScope {
    /// The period source with its day labels computed from the `events` table, so
    /// each event lands in the period the rollups put it in: the label of its own time
    /// where the daily rollup is read, of its hour's start where the hourly one is.
    pub fn events_period_source(&self) -> PeriodSource {
        let mut source = self.period_source();
        let column = if source.time_column == "day_ms" {
            "ts_ms"
        } else {
            "((ts_ms / 3600000) * 3600000)"
        };
        source.day_sql = self
            .calendar
            .day_label_sql(column, self.from_ms, self.to_ms);
        source
    }

    pub fn period_source(&self) -> PeriodSource {
        let cal = &self.calendar;
        let (from_day, to_day) = (cal.day_label(self.from_ms), cal.day_label(self.to_ms));
        if cal.day_start(from_day) == self.from_ms && cal.day_start(to_day) == self.to_ms {
            PeriodSource {
                table: "rollup_daily_coarse",
                time_column: "day_ms",
                from: from_day,
                to: to_day,
                day_sql: "day_ms".into(),
            }
        } else {
            PeriodSource {
                table: "rollup_hourly_coarse",
                time_column: "hour_ms",
                from: self.from_ms,
                to: self.to_ms,
                day_sql: cal.day_label_sql("hour_ms", self.from_ms, self.to_ms),
            }
        }
    }
}

/// The billing components of a period group that the rollups do not keep apart,
/// summed from its events: 1-hour cache writes (inside the rollups'
/// `cache_write_tokens`) and web search calls with their charge (inside `cost_nanos`).
/// Keyed like [`PeriodRow`] per cache status; groups with none of them are left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodExtrasRow {
    pub period_ms: i64,
    pub team: String,
    pub consumer_group: String,
    pub provider: Option<String>,
    pub lane: Option<String>,
    pub model: String,
    pub cache: CacheStatus,
    pub extras: BillingExtras,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BillingExtras {
    pub cache_write_1h_tokens: i64,
    pub web_search_calls: i64,
    pub tool_cost_nanos: i64,
}
