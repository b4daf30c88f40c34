//! Cache misses that repeated under normalisation, alike on both backends: a miss
//! counts as a repeat only after a successful request of the same team and
//! fingerprint within the window.

use tollgate_core::event::{CacheStatus, CostEvent, Outcome};

use crate::store::backend::Store;
use crate::store::cache_repeats::RepeatMisses;
use crate::store::conformance::fixtures::{pg, sqlite};
use crate::test_util::{batch, event};

const MIN: i64 = 60_000;

fn miss(id: &str, ts_ms: i64, team: &str, workflow: &str, print: &str, cost: i64) -> CostEvent {
    let mut e = event(id, ts_ms, team, cost);
    e.workflow = Some(workflow.into());
    e.cache = CacheStatus::Miss;
    e.prompt_fingerprint = Some(print.into());
    e
}

fn repeats_are_counted_within_the_window_per_team_and_workflow(store: &dyn Store) {
    let t0 = 1_764_547_200_000; // 2025-12-01
    let mut failed = miss("f", t0, "team_a", "draft", "cccc", 5);
    failed.outcome = Outcome::ProviderError;
    let mut hit = miss("h", t0 + 2 * MIN, "team_a", "draft", "aaaa", 0);
    hit.cache = CacheStatus::Hit;
    let events = vec![
        miss("a1", t0, "team_a", "draft", "aaaa", 100),
        miss("a2", t0 + MIN, "team_a", "draft", "aaaa", 110), // repeat
        miss("a3", t0 + 40 * MIN, "team_a", "draft", "aaaa", 120), // 39 min later: too late
        miss("b1", t0 + MIN, "team_b", "draft", "aaaa", 130), // another team's: no repeat
        failed,
        miss("c2", t0 + MIN, "team_a", "draft", "cccc", 140), // after a failure: no repeat
        hit,
        miss("s1", t0, "team_a", "search", "dddd", 10),
        miss("s2", t0 + 3 * MIN, "team_a", "search", "dddd", 20), // repeat
        event("plain", t0, "team_a", 7),                          // no fingerprint: not counted
    ];
    store.ingest(&batch(events)).unwrap();
    let window = 30 * MIN;
    let all = store
        .repeat_misses(t0, t0 + 60 * MIN, window, None)
        .unwrap();
    let row = |team: &str, workflow: &str, misses, repeats, cost| RepeatMisses {
        team: team.into(),
        workflow: workflow.into(),
        misses,
        repeats,
        repeat_cost_nanos: cost,
    };
    assert_eq!(
        all,
        vec![
            row("team_a", "draft", 5, 1, 110),
            row("team_a", "search", 2, 1, 20),
            row("team_b", "draft", 1, 0, 0),
        ]
    );
    assert_eq!(
        store
            .repeat_misses(t0, t0 + 60 * MIN, window, Some("team_b"))
            .unwrap(),
        vec![row("team_b", "draft", 1, 0, 0)]
    );
    // The range bounds the misses, not the earlier requests they repeat.
    assert_eq!(
        store
            .repeat_misses(t0 + MIN, t0 + 2 * MIN, window, Some("team_a"))
            .unwrap(),
        vec![row("team_a", "draft", 2, 1, 110)]
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

on_both_backends!(repeats_are_counted_within_the_window_per_team_and_workflow);
