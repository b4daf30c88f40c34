//! `/v1/spend` from the coarsest rollups equals `/v1/spend` from the fine hourly rollup
//! to the nanodollar, row for row and in the same order, on both backends: over ranges
//! with partial days at either end, for every grouping and filter. The fine path is
//! itself checked against sums computed here from the events.

use std::collections::BTreeMap;

use tollgate_core::event::{ApiKind, CacheStatus, CostEvent, Outcome};

use crate::query::{Dim, Filters, SpendQuery, DAY_MS, HOUR_MS};
use crate::store::backend::Store;
use crate::store::conformance::fixtures::{pg, sqlite, PgSchema};
use crate::store::spend_plan::Rollups;
use crate::store::types::{IngestBatch, KeyValue, Sums};
use crate::test_util::{batch, event};

const D0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z
const DAYS: i64 = 5;

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        options[self.below(options.len() as u64) as usize]
    }
}

/// Events over five days with every attribute varying, absent ones included.
fn events() -> Vec<CostEvent> {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    (0..1500)
        .map(|i| {
            let team = rng.pick(&["team_a", "team_b", "team_c"]);
            let ts = D0 + rng.below((DAYS * DAY_MS) as u64) as i64;
            let mut e = event(&format!("e{i}"), ts, team, rng.below(5_000_000_000) as i64);
            e.consumer_group = format!("{team}-{}", rng.below(2));
            e.user = Some(rng.pick(&["ann", "bob", "cy", ""]))
                .filter(|u| !u.is_empty())
                .map(str::to_string);
            e.workflow = Some(rng.pick(&["triage", "codegen", ""]))
                .filter(|w| !w.is_empty())
                .map(str::to_string);
            let (provider, lane, model, api) = match rng.below(4) {
                0 => (None, None, "gpt-4o-mini", ApiKind::ChatCompletions),
                1 => (
                    Some("openai"),
                    Some("oa-mini"),
                    "gpt-4o-mini",
                    ApiKind::Responses,
                ),
                2 => (
                    Some("anthropic"),
                    Some("an-haiku"),
                    "claude-haiku",
                    ApiKind::Messages,
                ),
                _ => (
                    Some("anthropic"),
                    Some("an-haiku-oa"),
                    "claude-haiku",
                    ApiKind::ChatCompletions,
                ),
            };
            e.provider = provider.map(str::to_string);
            e.lane = lane.map(str::to_string);
            e.model_served = model.into();
            e.api = api;
            e.outcome = [Outcome::Ok, Outcome::Ok, Outcome::ProviderError][rng.below(3) as usize];
            e.cache =
                [CacheStatus::Miss, CacheStatus::Hit, CacheStatus::Bypass][rng.below(3) as usize];
            e.cost_avoided_nanos = rng.below(1000) as i64;
            e.tokens.input = rng.below(10_000);
            e.tokens.cached_input = rng.below(100);
            e.tokens.cache_write = rng.below(100);
            e.tokens.output = rng.below(4000);
            e.premium = rng.below(4) == 0;
            e.premium_approved = e.premium && rng.below(2) == 0;
            e
        })
        .collect()
}

pub(super) fn load(store: &dyn Store) -> Vec<CostEvent> {
    let all = events();
    for chunk in all.chunks(400) {
        store.ingest(&batch(chunk.to_vec())).unwrap();
    }
    // A retried batch changes nothing.
    let retry = IngestBatch {
        events: all[..400].to_vec(),
        rejected: vec![],
        received_ms: 2,
        lease_closures: Vec::new(),
        drops: Vec::new(),
        held_back: Vec::new(),
    };
    assert_eq!(store.ingest(&retry).unwrap().accepted, 0);
    all
}

/// Ranges of whole hours: partial days at both ends, one end aligned, aligned days,
/// less than a day, and around everything.
pub(super) fn ranges() -> Vec<(i64, i64)> {
    vec![
        (D0 + 5 * HOUR_MS, D0 + 3 * DAY_MS + 7 * HOUR_MS),
        (D0, D0 + 2 * DAY_MS + 23 * HOUR_MS),
        (D0 + 13 * HOUR_MS, D0 + 4 * DAY_MS),
        (D0 + DAY_MS, D0 + 3 * DAY_MS),
        (D0 + DAY_MS + HOUR_MS, D0 + 2 * DAY_MS - HOUR_MS),
        (D0 + 20 * HOUR_MS, D0 + DAY_MS + 4 * HOUR_MS),
        (0, D0 + 400 * DAY_MS),
    ]
}

const TEXT_DIMS: [Dim; 10] = [
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
];

/// No grouping, each dimension alone, with day and with hour, and every pair.
pub(super) fn groupings() -> Vec<Vec<Dim>> {
    let mut out = vec![vec![], vec![Dim::Day], vec![Dim::Hour]];
    for (i, a) in TEXT_DIMS.iter().enumerate() {
        out.push(vec![*a]);
        out.push(vec![Dim::Day, *a]);
        out.push(vec![*a, Dim::Hour]);
        for b in &TEXT_DIMS[i + 1..] {
            out.push(vec![*b, *a]);
        }
    }
    out
}

fn filter_sets() -> Vec<Filters> {
    let f = Filters::default;
    vec![
        f(),
        Filters {
            team: Some("team_b".into()),
            ..f()
        },
        Filters {
            consumer_group: Some("team_a-1".into()),
            ..f()
        },
        Filters {
            provider: Some("anthropic".into()),
            model: Some("claude-haiku".into()),
            ..f()
        },
        Filters {
            lane: Some("oa-mini".into()),
            ..f()
        },
    ]
}

fn coarsest_equals_fine(store: &dyn Store) {
    load(store);
    let mut compared = 0;
    for (from_ms, to_ms) in ranges() {
        for group_by in groupings() {
            for filters in filter_sets() {
                let q = SpendQuery {
                    group_by: group_by.clone(),
                    from_ms,
                    to_ms,
                    filters,
                    calendar: Default::default(),
                };
                let fine = store.spend_from(&q, Rollups::FineOnly).unwrap();
                let coarse = store.spend_from(&q, Rollups::Coarsest).unwrap();
                assert_eq!(coarse, fine, "{q:?}");
                compared += usize::from(!fine.is_empty());
            }
        }
    }
    // Most combinations have rows (the test is not vacuous).
    assert!(compared > 2000, "{compared}");
}

/// The fine path itself against the events: spend per (day, team) over a range with
/// partial days, summed here.
fn fine_path_equals_the_events(store: &dyn Store) {
    let all = load(store);
    let (from_ms, to_ms) = (D0 + 5 * HOUR_MS, D0 + 3 * DAY_MS + 7 * HOUR_MS);
    let mut expected: BTreeMap<(i64, String), Sums> = BTreeMap::new();
    for e in all.iter().filter(|e| (from_ms..to_ms).contains(&e.ts_ms)) {
        let slot = expected
            .entry((e.ts_ms / DAY_MS * DAY_MS, e.team.clone()))
            .or_default();
        *slot = slot
            .checked_add(&crate::store::rollup_deltas::sums_of(e).unwrap())
            .unwrap();
    }
    for rollups in [Rollups::FineOnly, Rollups::Coarsest] {
        let q = SpendQuery {
            group_by: vec![Dim::Day, Dim::Team],
            from_ms,
            to_ms,
            filters: Filters::default(),
            calendar: Default::default(),
        };
        let got: BTreeMap<(i64, String), Sums> = store
            .spend_from(&q, rollups)
            .unwrap()
            .into_iter()
            .map(|r| match &r.key[..] {
                [KeyValue::TimeMs(day), KeyValue::Text(Some(team))] => {
                    ((*day, team.clone()), r.sums)
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(got, expected, "{rollups:?}");
    }
}

mod on_sqlite {
    #[test]
    fn coarsest_equals_fine() {
        super::coarsest_equals_fine(super::sqlite().store.as_ref());
    }

    #[test]
    fn fine_path_equals_the_events() {
        super::fine_path_equals_the_events(super::sqlite().store.as_ref());
    }
}

mod on_postgres {
    #[test]
    fn coarsest_equals_fine() {
        if let Some(f) = super::pg() {
            super::coarsest_equals_fine(f.store.as_ref());
        }
    }

    #[test]
    fn fine_path_equals_the_events() {
        if let Some(f) = super::pg() {
            super::fine_path_equals_the_events(f.store.as_ref());
        }
    }
}

/// Schema version 5 fills the coarse rollups of a database written before them (from
/// its hourly rollups and events) so that they answer as the fine rollup does. Run
/// as the migration script alone, on a database whose derived rollups were dropped.
#[test]
fn sqlite_migration_fills_the_coarse_rollups() {
    use crate::store::sqlite::SqliteStore;
    let dir = crate::test_util::TempDir::new();
    let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
    load(&store);
    // As a ledger before version 5 left it: every event in the rollups.
    store.settle().unwrap();
    store
        .writer()
        .execute_batch(
            "DROP TABLE rollup_hourly_coarse; DROP TABLE rollup_daily_coarse;
             CREATE TABLE rollup_daily_team (day_ms INTEGER);",
        )
        .unwrap();
    let script = crate::store::sqlite::MIGRATIONS[4];
    assert!(script.contains("Schema version 5"));
    store.writer().execute_batch(script).unwrap();
    migrated_answers_equal_fine(&store);
}

/// The same on PostgreSQL, whose version 4 fills every derived rollup.
#[test]
fn postgres_migration_fills_the_derived_rollups() {
    let Some(schema) = PgSchema::new() else {
        return;
    };
    let store = schema.open().unwrap();
    load(&store);
    // As a ledger before version 4 left it: every event in the rollups.
    store.settle().unwrap();
    let (version, script) = crate::store::postgres::MIGRATIONS[3];
    assert_eq!(version, 5);
    assert!(script.contains("PostgreSQL schema versions 4 and 5"));
    let mut admin = schema.admin();
    admin
        .batch_execute(
            "DROP TABLE rollup_daily, rollup_daily_user, rollup_hourly_coarse,
                 rollup_daily_coarse, api_tokens",
        )
        .unwrap();
    admin.batch_execute(script).unwrap();
    migrated_answers_equal_fine(&store);
}

fn migrated_answers_equal_fine(store: &dyn Store) {
    for group_by in [
        vec![Dim::Outcome, Dim::Team],
        vec![Dim::Day, Dim::User],
        vec![Dim::Workflow],
    ] {
        let q = SpendQuery {
            group_by,
            from_ms: D0 + 3 * HOUR_MS,
            to_ms: D0 + 4 * DAY_MS + 3 * HOUR_MS,
            filters: Filters::default(),
            calendar: Default::default(),
        };
        let fine = store.spend_from(&q, Rollups::FineOnly).unwrap();
        assert!(!fine.is_empty());
        assert_eq!(store.spend_from(&q, Rollups::Coarsest).unwrap(), fine);
    }
}
