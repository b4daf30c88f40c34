//! The reporting time zone on both backends: a zone change recomputes every daily
//! rollup row so that days are the zone's (checked against the events bucketed here),
//! events folded afterwards land in the zone's days, `/v1/spend` from the coarsest
//! rollups still equals the fine path, and refusals are counted per local day.

use std::collections::BTreeMap;

use tollgate_core::event::{CostEvent, Outcome};

use super::rollups::{groupings, load, ranges};
use crate::calendar::ReportingCalendar;
use crate::query::{Dim, Filters, SpendQuery, DAY_MS, HOUR_MS};
use crate::store::backend::Store;
use crate::store::conformance::fixtures::{pg, sqlite};
use crate::store::insights::{InsightDim, InsightQuery};
use crate::store::spend_plan::Rollups;
use crate::store::types::{KeyValue, RefusalQuery, Sums};
use crate::test_util::{batch, event};

const D0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z

/// Spend per (local day label, team), summed here from the events.
fn by_local_day(events: &[CostEvent], cal: &ReportingCalendar) -> BTreeMap<(i64, String), Sums> {
    let mut out: BTreeMap<(i64, String), Sums> = BTreeMap::new();
    for e in events {
        let slot = out
            .entry((cal.day_label(e.ts_ms), e.team.clone()))
            .or_default();
        *slot = slot
            .checked_add(&crate::store::rollup_deltas::sums_of(e).unwrap())
            .unwrap();
    }
    out
}

/// The daily rollups read per (day, team), over every day.
fn daily_rollups(store: &dyn Store) -> BTreeMap<(i64, String), Sums> {
    store
        .insight_rows(&InsightQuery {
            from_ms: 0,
            to_ms: D0 + 400 * DAY_MS,
            group_by: vec![InsightDim::Day, InsightDim::Team],
            ..InsightQuery::default()
        })
        .unwrap()
        .into_iter()
        .map(|r| match &r.key[..] {
            [KeyValue::TimeMs(day), KeyValue::Text(Some(team))] => ((*day, team.clone()), r.sums),
            other => panic!("{other:?}"),
        })
        .collect()
}

/// `/v1/spend` per (day, team) over `[from, to)`, from the given rollups.
fn spend_by_day(
    store: &dyn Store,
    cal: &ReportingCalendar,
    from_ms: i64,
    to_ms: i64,
    rollups: Rollups,
) -> BTreeMap<(i64, String), Sums> {
    let q = SpendQuery {
        group_by: vec![Dim::Day, Dim::Team],
        from_ms,
        to_ms,
        filters: Filters::default(),
        calendar: cal.clone(),
    };
    store
        .spend_from(&q, rollups)
        .unwrap()
        .into_iter()
        .map(|r| match &r.key[..] {
            [KeyValue::TimeMs(day), KeyValue::Text(Some(team))] => ((*day, team.clone()), r.sums),
            other => panic!("{other:?}"),
        })
        .collect()
}

fn zone_change_recomputes_every_day_exactly(store: &dyn Store) {
    let mut all = load(store);
    let zone = store.reporting_zone().unwrap();
    assert_eq!((zone.time_zone.as_str(), zone.changed_ms), ("UTC", 0));
    assert_eq!(
        daily_rollups(store),
        by_local_day(&all, &ReportingCalendar::utc())
    );

    let ny = ReportingCalendar::parse("America/New_York").unwrap();
    let change = store.set_reporting_zone(&ny, "finance lead", 1234).unwrap();
    assert_eq!(
        (
            change.previous.as_str(),
            change.time_zone.as_str(),
            change.events
        ),
        ("UTC", "America/New_York", all.len() as i64)
    );
    let zone = store.reporting_zone().unwrap();
    assert_eq!(
        (
            zone.time_zone.as_str(),
            zone.changed_ms,
            zone.changed_by.as_str()
        ),
        ("America/New_York", 1234, "finance lead")
    );
    assert_eq!(store.calendar().unwrap(), ny);
    assert_eq!(daily_rollups(store), by_local_day(&all, &ny));

    // Events stored after the change are folded into New York's days.
    let later: Vec<CostEvent> = (0..48)
        .map(|h| {
            event(
                &format!("late{h}"),
                D0 + 2 * DAY_MS + h * HOUR_MS + 7,
                "team_b",
                11,
            )
        })
        .collect();
    store.ingest(&batch(later.clone())).unwrap();
    all.extend(later);
    assert_eq!(daily_rollups(store), by_local_day(&all, &ny));

    // /v1/spend per local day: coarsest equals fine equals the events, over whole
    // local days and over ranges whose ends are not midnights there.
    let (first, last) = (ny.day_start(D0 + DAY_MS), ny.day_start(D0 + 4 * DAY_MS));
    let in_range = |from: i64, to: i64| -> Vec<CostEvent> {
        all.iter()
            .filter(|e| (from..to).contains(&e.ts_ms))
            .cloned()
            .collect()
    };
    for (from, to) in [
        (first, last),
        (D0 + 5 * HOUR_MS, D0 + 3 * DAY_MS + 7 * HOUR_MS),
    ] {
        let want = by_local_day(&in_range(from, to), &ny);
        assert_eq!(spend_by_day(store, &ny, from, to, Rollups::Coarsest), want);
        assert_eq!(spend_by_day(store, &ny, from, to, Rollups::FineOnly), want);
    }
    let mut compared = 0;
    for (from_ms, to_ms) in ranges() {
        for group_by in groupings().into_iter().step_by(7) {
            let q = SpendQuery {
                group_by,
                from_ms,
                to_ms,
                filters: Filters::default(),
                calendar: ny.clone(),
            };
            let fine = store.spend_from(&q, Rollups::FineOnly).unwrap();
            assert_eq!(
                store.spend_from(&q, Rollups::Coarsest).unwrap(),
                fine,
                "{q:?}"
            );
            compared += 1;
        }
    }
    assert!(compared > 50);

    // The same zone again changes nothing; a zone whose offset has minutes is exact
    // over its own midnights.
    assert_eq!(
        store.set_reporting_zone(&ny, "cli", 2000).unwrap().events,
        0
    );
    let ist = ReportingCalendar::parse("Asia/Kolkata").unwrap();
    store.set_reporting_zone(&ist, "cli", 3000).unwrap();
    assert_eq!(daily_rollups(store), by_local_day(&all, &ist));
    let (from, to) = (ist.day_start(D0 + DAY_MS), ist.day_start(D0 + 3 * DAY_MS));
    assert_eq!(
        spend_by_day(store, &ist, from, to, Rollups::Coarsest),
        by_local_day(&in_range(from, to), &ist)
    );
    // And back to UTC: the original days.
    store
        .set_reporting_zone(&ReportingCalendar::utc(), "cli", 4000)
        .unwrap();
    assert_eq!(
        daily_rollups(store),
        by_local_day(&all, &ReportingCalendar::utc())
    );
}

fn refusals_are_counted_per_local_day_team_and_reason(store: &dyn Store) {
    let refused = |id: &str, ts: i64, team: &str, reason: &str| {
        let mut e = event(id, ts, team, 0);
        e.outcome = Outcome::Refused;
        e.http_status = 402;
        e.reason = Some(reason.into());
        e
    };
    store
        .ingest(&batch(vec![
            refused("r1", D0 + 2 * HOUR_MS, "team_a", "wallet_exhausted"),
            refused("r2", D0 + 3 * HOUR_MS, "team_a", "wallet_exhausted"),
            refused("r3", D0 + 6 * HOUR_MS, "team_a", "paused"),
            refused("r4", D0 + DAY_MS + HOUR_MS, "team_b", "wallet_exhausted"),
            event("ok", D0 + 2 * HOUR_MS, "team_a", 5),
        ]))
        .unwrap();
    let utc = ReportingCalendar::utc();
    let q = |team: Option<&str>| RefusalQuery {
        from_ms: D0,
        to_ms: D0 + 2 * DAY_MS,
        team: team.map(str::to_string),
    };
    let rows: Vec<(i64, String, String, i64)> = store
        .refusals(&q(None), &utc)
        .unwrap()
        .into_iter()
        .map(|r| (r.day_ms, r.team, r.reason, r.count))
        .collect();
    assert_eq!(
        rows,
        vec![
            (D0, "team_a".into(), "paused".into(), 1),
            (D0, "team_a".into(), "wallet_exhausted".into(), 2),
            (D0 + DAY_MS, "team_b".into(), "wallet_exhausted".into(), 1),
        ]
    );
    // In Los Angeles (UTC-7 that morning) the team_a refusals were on 31 October.
    let la = ReportingCalendar::parse("America/Los_Angeles").unwrap();
    let rows = store.refusals(&q(Some("team_a")), &la).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows
        .iter()
        .all(|r| r.day_ms == D0 - DAY_MS && r.team == "team_a"));
}

fn unpriced_requests_are_counted_per_team(store: &dyn Store) {
    let unpriced = |id: &str, ts: i64, team: &str| {
        let mut e = event(id, ts, team, 0);
        e.unpriced = true;
        e
    };
    store
        .ingest(&batch(vec![
            unpriced("u1", D0 + HOUR_MS, "team_a"),
            unpriced("u2", D0 + 2 * HOUR_MS, "team_a"),
            unpriced("u3", D0 + 2 * HOUR_MS, "team_b"),
            unpriced("late", D0 + 2 * DAY_MS, "team_a"),
            event("priced", D0 + HOUR_MS, "team_a", 5),
        ]))
        .unwrap();
    let q = |team: Option<&str>| RefusalQuery {
        from_ms: D0,
        to_ms: D0 + 2 * DAY_MS,
        team: team.map(str::to_string),
    };
    assert_eq!(
        store.unpriced_requests(&q(None)).unwrap(),
        vec![("team_a".to_string(), 2), ("team_b".to_string(), 1)]
    );
    assert_eq!(
        store.unpriced_requests(&q(Some("team_b"))).unwrap(),
        vec![("team_b".to_string(), 1)]
    );
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $( #[test] fn $name() { super::$name(super::sqlite().store.as_ref()); } )*
        }
        mod on_postgres {
            $( #[test] fn $name() {
                if let Some(f) = super::pg() { super::$name(f.store.as_ref()); }
            } )*
        }
    };
}

on_both_backends!(
    zone_change_recomputes_every_day_exactly,
    refusals_are_counted_per_local_day_team_and_reason,
    unpriced_requests_are_counted_per_team,
);
