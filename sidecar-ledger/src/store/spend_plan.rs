//! Which rollups answer a `/v1/spend` query, exactly and as cheaply as possible.
//!
//! Every rollup is a projection of the events onto some of the spend dimensions, per
//! UTC hour or day, kept up to date with the events (see `derived`; on SQLite the
//! rollups are brought up to date before every read). Summing any rollup whose key
//! holds every dimension a query groups or filters by gives the same integers as
//! summing the events, so a query is split by time:
//!
//! * the whole days of the range (in the reporting time zone, the daily rollups'
//!   days: see `crate::calendar`) come from the smallest daily rollup holding those
//!   dimensions;
//! * the partial days at either end (and any query grouped by hour) come from the
//!   smallest hourly rollup holding them;
//! * when no daily rollup holds them (user with model, say), everything comes from
//!   the fine hourly rollup, whose key has every dimension. So does a range whose
//!   partial days would end between UTC hours (a zone whose offset has minutes, such
//!   as Asia/Kolkata, with bounds that are not that zone's midnights): hourly rows
//!   cannot be split, so such a range counts the hours starting in it.
//!
//! Pure: the backends turn a plan into SQL ([`super::spend_sql`]).

use crate::query::{Dim, Filters, SpendQuery, DAY_MS, HOUR_MS};

/// How finely a rollup buckets time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    Hour,
    Day,
}

/// One rollup table: its time grain and the spend dimensions in its key (besides
/// time). Column names are the same in every rollup.
#[derive(Debug, PartialEq, Eq)]
pub struct Rollup {
    pub table: &'static str,
    pub grain: Grain,
    pub dims: &'static [Dim],
}

impl Rollup {
    /// The column holding the start of the row's hour or day (Unix ms).
    pub fn time_column(&self) -> &'static str {
        match self.grain {
            Grain::Hour => "hour_ms",
            Grain::Day => "day_ms",
        }
    }

    fn holds(&self, needed: &[Dim]) -> bool {
        needed.iter().all(|d| self.dims.contains(d))
    }
}

/// Every dimension of an event: the hourly rollup's key.
pub const HOURLY: Rollup = Rollup {
    table: "rollup_hourly",
    grain: Grain::Hour,
    dims: &[
        Dim::Team,
        Dim::ConsumerGroup,
        Dim::User,
        Dim::Workflow,
        Dim::Provider,
        Dim::Lane,
        Dim::Model,
        Dim::Api,
        Dim::Outcome,
        Dim::Cache,
    ],
};

/// The hourly key without user and workflow (schema version 5).
pub const HOURLY_COARSE: Rollup = Rollup {
    table: "rollup_hourly_coarse",
    grain: Grain::Hour,
    dims: COARSE_DIMS,
};

const COARSE_DIMS: &[Dim] = &[
    Dim::Team,
    Dim::ConsumerGroup,
    Dim::Provider,
    Dim::Lane,
    Dim::Model,
    Dim::Api,
    Dim::Outcome,
    Dim::Cache,
];

/// [`HOURLY_COARSE`] per day (schema version 5; the dashboard reads it too).
pub const DAILY_COARSE: Rollup = Rollup {
    table: "rollup_daily_coarse",
    grain: Grain::Day,
    dims: COARSE_DIMS,
};

/// The dashboard's workflow rollup (schema version 4).
pub const DAILY_WORKFLOW: Rollup = Rollup {
    table: "rollup_daily",
    grain: Grain::Day,
    dims: &[
        Dim::Team,
        Dim::ConsumerGroup,
        Dim::Workflow,
        Dim::Provider,
        Dim::Lane,
        Dim::Model,
        Dim::Cache,
    ],
};

/// The dashboard's per-user rollup (schema version 4).
pub const DAILY_USER: Rollup = Rollup {
    table: "rollup_daily_user",
    grain: Grain::Day,
    dims: &[Dim::Team, Dim::ConsumerGroup, Dim::User],
};

/// Hourly rollups, smallest first.
const HOURLY_BY_SIZE: [&Rollup; 2] = [&HOURLY_COARSE, &HOURLY];

/// Daily rollups, smallest first (where neither holds all of the other's dimensions
/// the order does not matter: a query either one answers, the first answers too).
const DAILY_BY_SIZE: [&Rollup; 3] = [&DAILY_COARSE, &DAILY_WORKFLOW, &DAILY_USER];

/// How a query may be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollups {
    /// From the coarsest rollups that answer it exactly (what `/v1/spend` does).
    Coarsest,
    /// From the fine hourly rollup alone: the reference the others must equal.
    FineOnly,
}

/// One rollup read over `[from_ms, to_ms)` (aligned to the rollup's grain; a daily
/// part's bounds are day labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub rollup: &'static Rollup,
    pub from_ms: i64,
    pub to_ms: i64,
}

/// The dimensions a query groups or filters by, time excepted.
fn needed(q: &SpendQuery) -> Vec<Dim> {
    let Filters {
        team,
        consumer_group,
        provider,
        lane,
        model,
    } = &q.filters;
    let mut dims: Vec<Dim> = q
        .group_by
        .iter()
        .copied()
        .filter(|d| !matches!(d, Dim::Hour | Dim::Day))
        .collect();
    for (set, dim) in [
        (team.is_some(), Dim::Team),
        (consumer_group.is_some(), Dim::ConsumerGroup),
        (provider.is_some(), Dim::Provider),
        (lane.is_some(), Dim::Lane),
        (model.is_some(), Dim::Model),
    ] {
        if set && !dims.contains(&dim) {
            dims.push(dim);
        }
    }
    dims
}

/// A team's total over the rollup hours starting in `[from_ms, to_ms)`.
#[cfg(test)]
pub fn team_query(team: &str, from_ms: i64, to_ms: i64) -> SpendQuery {
    SpendQuery {
        group_by: Vec::new(),
        from_ms,
        to_ms,
        filters: Filters {
            team: Some(team.to_string()),
            ..Filters::default()
        },
        calendar: Default::default(),
    }
}

/// The parts that together cover the query's range exactly once, in time order.
/// Each part counts the rollup rows whose hour or day starts in its range, so a
/// range that is not whole hours counts what the hourly rollup alone would.
pub fn plan(q: &SpendQuery, rollups: Rollups) -> Vec<Part> {
    let whole = |rollup| {
        vec![Part {
            rollup,
            from_ms: q.from_ms,
            to_ms: q.to_ms,
        }]
    };
    if rollups == Rollups::FineOnly {
        return whole(&HOURLY);
    }
    let needed = needed(q);
    let hourly = HOURLY_BY_SIZE
        .into_iter()
        .find(|r| r.holds(&needed))
        .unwrap_or(&HOURLY);
    if q.group_by.contains(&Dim::Hour) {
        return whole(hourly);
    }
    let Some(daily) = DAILY_BY_SIZE.into_iter().find(|r| r.holds(&needed)) else {
        return whole(hourly);
    };
    let cal = &q.calendar;
    // The first local day starting at or after `from`, and the day `to` falls in.
    let mut first_day = cal.day_label(q.from_ms);
    if cal.day_start(first_day) < q.from_ms {
        first_day += DAY_MS;
    }
    let end_day = cal.day_label(q.to_ms);
    if first_day >= end_day {
        return whole(hourly);
    }
    let (first_start, end_start) = (cal.day_start(first_day), cal.day_start(end_day));
    let edge = |at: i64, bound: i64| at == bound || at.rem_euclid(HOUR_MS) == 0;
    if !edge(first_start, q.from_ms) || !edge(end_start, q.to_ms) {
        return whole(hourly);
    }
    let mut parts = Vec::with_capacity(3);
    if q.from_ms < first_start {
        parts.push(Part {
            rollup: hourly,
            from_ms: q.from_ms,
            to_ms: first_start,
        });
    }
    parts.push(Part {
        rollup: daily,
        from_ms: first_day,
        to_ms: end_day,
    });
    if end_start < q.to_ms {
        parts.push(Part {
            rollup: hourly,
            from_ms: end_start,
            to_ms: q.to_ms,
        });
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::HOUR_MS;

    const D0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z

    fn query(group_by: Vec<Dim>, filters: Filters, from_ms: i64, to_ms: i64) -> SpendQuery {
        SpendQuery {
            group_by,
            from_ms,
            to_ms,
            filters,
            calendar: Default::default(),
        }
    }

    fn tables(parts: &[Part]) -> Vec<(&'static str, i64, i64)> {
        parts
            .iter()
            .map(|p| (p.rollup.table, p.from_ms, p.to_ms))
            .collect()
    }

    #[test]
    fn whole_days_come_from_a_daily_rollup_and_the_edges_from_an_hourly_one() {
        let from = D0 + 5 * HOUR_MS;
        let to = D0 + 3 * DAY_MS + 2 * HOUR_MS;
        let q = query(vec![Dim::Team, Dim::Model], Filters::default(), from, to);
        assert_eq!(
            tables(&plan(&q, Rollups::Coarsest)),
            vec![
                ("rollup_hourly_coarse", from, D0 + DAY_MS),
                ("rollup_daily_coarse", D0 + DAY_MS, D0 + 3 * DAY_MS),
                ("rollup_hourly_coarse", D0 + 3 * DAY_MS, to),
            ]
        );
        // Aligned to days: no edges.
        let q = query(vec![Dim::Day], Filters::default(), D0, D0 + 2 * DAY_MS);
        assert_eq!(
            tables(&plan(&q, Rollups::Coarsest)),
            vec![("rollup_daily_coarse", D0, D0 + 2 * DAY_MS)]
        );
        // Less than one whole day: hourly only.
        let q = query(vec![], Filters::default(), from, D0 + DAY_MS + HOUR_MS);
        assert_eq!(
            tables(&plan(&q, Rollups::Coarsest)),
            vec![("rollup_hourly_coarse", from, D0 + DAY_MS + HOUR_MS)]
        );
        // The reference path reads the fine rollup over the whole range.
        assert_eq!(
            tables(&plan(&q, Rollups::FineOnly)),
            vec![("rollup_hourly", from, D0 + DAY_MS + HOUR_MS)]
        );
    }

    #[test]
    fn the_smallest_rollup_holding_every_grouped_or_filtered_dimension_is_chosen() {
        let range = |group_by: Vec<Dim>, filters: Filters| {
            let q = query(group_by, filters, D0 - HOUR_MS, D0 + DAY_MS + HOUR_MS);
            let parts = plan(&q, Rollups::Coarsest);
            let hourly = parts[0].rollup.table;
            assert_eq!(parts.last().unwrap().rollup.table, hourly);
            (parts[1].rollup.table, hourly)
        };
        let none = Filters::default;
        assert_eq!(
            range(vec![Dim::Lane, Dim::Cache], none()),
            ("rollup_daily_coarse", "rollup_hourly_coarse")
        );
        assert_eq!(
            range(vec![Dim::Outcome], none()),
            ("rollup_daily_coarse", "rollup_hourly_coarse")
        );
        let by_group = Filters {
            consumer_group: Some("g".into()),
            ..none()
        };
        assert_eq!(
            range(vec![Dim::Model, Dim::Api], by_group),
            ("rollup_daily_coarse", "rollup_hourly_coarse")
        );
        assert_eq!(
            range(vec![Dim::ConsumerGroup], none()),
            ("rollup_daily_coarse", "rollup_hourly_coarse")
        );
        assert_eq!(
            range(vec![Dim::Workflow, Dim::Model], none()),
            ("rollup_daily", "rollup_hourly")
        );
        let team = Filters {
            team: Some("t".into()),
            ..none()
        };
        assert_eq!(
            range(vec![Dim::User, Dim::Day], team),
            ("rollup_daily_user", "rollup_hourly")
        );
        // No daily rollup has user with model, or workflow with outcome.
        for group_by in [
            vec![Dim::User, Dim::Model],
            vec![Dim::Workflow, Dim::Outcome],
        ] {
            let q = query(group_by, none(), D0 - HOUR_MS, D0 + 9 * DAY_MS);
            assert_eq!(
                tables(&plan(&q, Rollups::Coarsest)),
                vec![("rollup_hourly", D0 - HOUR_MS, D0 + 9 * DAY_MS)]
            );
        }
        let user_filter_on_model = Filters {
            model: Some("m".into()),
            ..none()
        };
        let q = query(vec![Dim::User], user_filter_on_model, D0, D0 + 9 * DAY_MS);
        assert_eq!(plan(&q, Rollups::Coarsest)[0].rollup.table, "rollup_hourly");
    }

    #[test]
    fn hour_buckets_read_an_hourly_rollup_throughout() {
        let q = query(
            vec![Dim::Hour, Dim::Team],
            Filters::default(),
            D0,
            D0 + 5 * DAY_MS,
        );
        assert_eq!(
            tables(&plan(&q, Rollups::Coarsest)),
            vec![("rollup_hourly_coarse", D0, D0 + 5 * DAY_MS)]
        );
        let q = query(
            vec![Dim::Hour, Dim::User],
            Filters::default(),
            D0,
            D0 + 5 * DAY_MS,
        );
        assert_eq!(
            tables(&plan(&q, Rollups::Coarsest)),
            vec![("rollup_hourly", D0, D0 + 5 * DAY_MS)]
        );
    }

    #[test]
    fn days_are_the_reporting_zones_and_minute_offsets_fall_back_to_hours() {
        use crate::calendar::ReportingCalendar;
        // New York from 8 November (winter time): local days start at 05:00Z.
        let ny = ReportingCalendar::parse("America/New_York").unwrap();
        let nov8 = D0 + 7 * DAY_MS;
        let mut q = query(vec![Dim::Day], Filters::default(), nov8, nov8 + 3 * DAY_MS);
        q.calendar = ny.clone();
        assert_eq!(
            tables(&plan(&q, Rollups::Coarsest)),
            vec![
                ("rollup_hourly_coarse", nov8, nov8 + 5 * HOUR_MS),
                ("rollup_daily_coarse", nov8, nov8 + 2 * DAY_MS),
                (
                    "rollup_hourly_coarse",
                    nov8 + 2 * DAY_MS + 5 * HOUR_MS,
                    nov8 + 3 * DAY_MS
                ),
            ]
        );
        // Kolkata (+05:30): its midnights as bounds read the daily rollup alone...
        let ist = ReportingCalendar::parse("Asia/Kolkata").unwrap();
        let half = 30 * 60_000;
        let mut q = query(
            vec![],
            Filters::default(),
            D0 - 5 * HOUR_MS - half,
            D0 + 2 * DAY_MS - 5 * HOUR_MS - half,
        );
        q.calendar = ist.clone();
        assert_eq!(
            tables(&plan(&q, Rollups::Coarsest)),
            vec![("rollup_daily_coarse", D0, D0 + 2 * DAY_MS)]
        );
        // ...and other bounds the hourly one throughout.
        q.from_ms = D0;
        assert_eq!(
            tables(&plan(&q, Rollups::Coarsest)),
            vec![("rollup_hourly_coarse", D0, q.to_ms)]
        );
    }

    #[test]
    fn every_rollup_key_is_a_subset_of_the_fine_one() {
        for r in HOURLY_BY_SIZE.iter().chain(DAILY_BY_SIZE.iter()) {
            assert!(HOURLY.holds(r.dims), "{}", r.table);
        }
    }
}
