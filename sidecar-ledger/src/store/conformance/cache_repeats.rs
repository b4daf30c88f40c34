//! Near-repeat cache misses, alike on both backends: summed per team and workflow over
//! the flagged events of the range only.

use tollgate_core::event::{CacheStatus, CostEvent};

use crate::store::backend::Store;
use crate::store::cache_repeats::RepeatMisses;
use crate::store::conformance::fixtures::{pg, sqlite};
use crate::test_util::{batch, event};

const MIN: i64 = 60_000;

fn miss(
    id: &str,
    ts_ms: i64,
    team: &str,
    workflow: Option<&str>,
    near: bool,
    cost: i64,
) -> CostEvent {
    let mut e = event(id, ts_ms, team, cost);
    e.workflow = workflow.map(str::to_string);
    e.cache = CacheStatus::Miss;
    e.near_repeat = near;
    e
}

fn near_repeats_are_summed_per_team_and_workflow(store: &dyn Store) {
    let t0 = 1_764_547_200_000; // 2025-12-01
    let events = vec![
        miss("a1", t0, "team_a", Some("draft"), false, 100),
        miss("a2", t0 + MIN, "team_a", Some("draft"), true, 110),
        miss("a3", t0 + 2 * MIN, "team_a", Some("draft"), true, 120),
        miss("s1", t0 + MIN, "team_a", Some("search"), true, 20),
        miss("n1", t0 + MIN, "team_a", None, true, 5),
        miss("b1", t0 + MIN, "team_b", Some("draft"), true, 130),
        miss("late", t0 + 90 * MIN, "team_a", Some("draft"), true, 1_000),
    ];
    store.ingest(&batch(events)).unwrap();
    let row = |team: &str, workflow: &str, repeats, cost| RepeatMisses {
        team: team.into(),
        workflow: workflow.into(),
        repeats,
        repeat_cost_nanos: cost,
    };
    let hour = t0 + 60 * MIN;
    assert_eq!(
        store.repeat_misses(t0, hour, None).unwrap(),
        vec![
            row("team_a", "draft", 2, 230),
            row("team_b", "draft", 1, 130),
            row("team_a", "search", 1, 20),
            row("team_a", "", 1, 5),
        ]
    );
    assert_eq!(
        store.repeat_misses(t0, hour, Some("team_b")).unwrap(),
        vec![row("team_b", "draft", 1, 130)]
    );
    assert_eq!(
        store.repeat_misses(t0 + 5 * MIN, hour, None).unwrap(),
        vec![]
    );
    // The flag survives a read back.
    let back = store
        .recent_events(&crate::query::EventsQuery {
            filters: crate::query::Filters::default(),
            limit: 100,
        })
        .unwrap();
    assert!(back.iter().any(|e| e.id == "a2" && e.near_repeat));
    assert!(back.iter().any(|e| e.id == "a1" && !e.near_repeat));
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

on_both_backends!(near_repeats_are_summed_per_team_and_workflow);
