//! Plain data of the export reads (`Store::for_each_event`,
//! `Store::for_each_period_row`); the formats are built from it in `crate::export`.

use tollgate_core::event::CacheStatus;

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
}

/// A calendar bucket, in UTC, that rollup hours are summed into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Month,
}

/// One group of the hourly rollups summed over a period: the key is
/// (period, team, consumer_group, provider, lane, model[, cache]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodRow {
    /// Start of the UTC day or month, Unix ms. It may lie before the scope's start
    /// when the scope begins mid-period; only the scope's hours are summed.
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
