//! The SQLite store's own tests: schema creation, idempotent ingest, durability,
//! group commit, folding, checkpoints. What both backends must do alike is in
//! `store::conformance`.

mod checkpoint;
mod fold;

use super::*;
use tollgate_core::event::Tokens;

use crate::query::Filters;
use crate::query::{parse_spend, EventsQuery, DAY_MS};
use crate::store::types::Sums;
use crate::test_util::{batch, event, TempDir};

const H0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z

fn total(store: &SqliteStore) -> Sums {
    let q = parse_spend(
        &[
            ("from".into(), "0".into()),
            ("to".into(), (H0 + 10 * DAY_MS).to_string()),
        ],
        H0,
        &Default::default(),
    )
    .unwrap();
    let rows = store.spend(&q).unwrap();
    assert!(rows.len() <= 1);
    rows.first().map(|r| r.sums).unwrap_or_default()
}

fn all_events(store: &SqliteStore) -> Vec<CostEvent> {
    store
        .recent_events(&EventsQuery {
            filters: Filters::default(),
            limit: 1000,
        })
        .unwrap()
}

#[test]
fn creates_schema_once_and_refuses_a_newer_one() {
    let dir = TempDir::new();
    let path = dir.path().join("l.sqlite3");
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    drop(store);
    // Reopening finds the schema current and applies nothing.
    let store = SqliteStore::open(&path).unwrap();
    let mode: String = store
        .writer()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = store
        .writer()
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "synchronous=FULL");
    store
        .writer()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    drop(store);
    match SqliteStore::open(&path) {
        Err(StoreError::SchemaTooNew { found: 99, .. }) => {}
        other => panic!("expected SchemaTooNew, got {:?}", other.err()),
    }
}

#[test]
fn ingest_is_idempotent_by_id_and_rollups_count_new_rows_only() {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
    let first = batch(vec![
        event("a", H0, "team_a", 100),
        event("b", H0 + 1, "team_a", 200),
        // The same id twice in one batch counts once.
        event("a", H0, "team_a", 100),
    ]);
    assert_eq!(
        store.ingest(&first).unwrap(),
        IngestOutcome {
            accepted: 2,
            duplicates: 1
        }
    );
    let after_first = total(&store);
    assert_eq!(after_first.requests, 2);
    assert_eq!(after_first.cost_nanos, 300);

    assert_eq!(
        store.ingest(&first).unwrap(),
        IngestOutcome {
            accepted: 0,
            duplicates: 3
        }
    );
    assert_eq!(total(&store), after_first);

    // A retried id with different content is still the stored one: first write wins.
    let changed = batch(vec![
        event("b", H0 + 1, "team_a", 999_999),
        event("c", H0 + 2, "team_a", 5),
    ]);
    assert_eq!(store.ingest(&changed).unwrap().accepted, 1);
    assert_eq!(total(&store).cost_nanos, 305);
    assert_eq!(all_events(&store).len(), 3);
}

#[test]
fn every_field_survives_close_and_reopen() {
    let dir = TempDir::new();
    let path = dir.path().join("l.sqlite3");
    let mut full = event("full", H0 + 5, "team_x", 123_456);
    full.user = Some("alice@example.com".into());
    full.workflow = Some("triage".into());
    full.api = tollgate_core::event::ApiKind::Messages;
    full.provider = None;
    full.lane = None;
    full.model_served = "claude-haiku-4".into();
    full.tokens = Tokens {
        input: 1,
        cached_input: 2,
        cache_write: 3,
        cache_write_1h: 0,
        output: 4,
    };
    full.usage_source = tollgate_core::event::UsageSource::Estimated;
    full.unpriced = true;
    full.outcome = tollgate_core::event::Outcome::Incomplete;
    full.http_status = 502;
    full.reason = Some("upstream_reset".into());
    full.latency_ms = u32::MAX;
    full.stream = true;
    full.cache = tollgate_core::event::CacheStatus::Hit;
    full.cost_avoided_nanos = 77;
    full.premium = true;
    full.premium_approved = true;
    full.wallet_unchecked = true;
    let plain = event("plain", H0, "team_x", 1);
    let mut b = batch(vec![full.clone(), plain.clone()]);
    b.rejected.push(RejectedEvent {
        index: 2,
        raw: "{\"id\":1}".into(),
        error: "id: invalid type".into(),
    });
    {
        let store = SqliteStore::open(&path).unwrap();
        store.ingest(&b).unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(all_events(&store), vec![full, plain]);
    let sums = total(&store);
    assert_eq!(sums.requests, 2);
    assert_eq!(sums.cost_nanos, 123_457);
    assert_eq!(sums.cost_avoided_nanos, 77);
    assert_eq!(sums.cache_write_tokens, 3);
    let rejected = store.rejected_events(10).unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].event, b.rejected[0]);
    assert_eq!(rejected[0].received_ms, 1);
}

#[test]
fn a_group_of_batches_is_stored_as_if_one_after_the_other() {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
    let mut first = batch(vec![
        event("a", H0, "team_a", 100),
        event("b", H0, "team_b", 7),
    ]);
    first.rejected.push(RejectedEvent {
        index: 2,
        raw: "{}".into(),
        error: "id: missing".into(),
    });
    // Repeats "a" from the first batch (a retry racing the original) and "c" twice.
    let second = batch(vec![
        event("a", H0, "team_a", 100),
        event("c", H0 + 1, "team_a", 5),
        event("c", H0 + 1, "team_a", 5),
    ]);
    let mut bad = event("bad", H0, "team_a", 1);
    bad.tokens.input = u64::MAX;
    let failing = batch(vec![event("d", H0, "team_a", 1), bad]);
    let outcomes = ingest_group(
        &mut store.writer(),
        &[&first, &failing, &second],
        store.fold_state(),
    );
    assert_eq!(outcomes.len(), 3);
    assert_eq!(
        outcomes[0].as_ref().unwrap(),
        &IngestOutcome {
            accepted: 2,
            duplicates: 0
        }
    );
    assert!(outcomes[1].is_err(), "the failing batch fails alone");
    assert_eq!(
        outcomes[2].as_ref().unwrap(),
        &IngestOutcome {
            accepted: 1,
            duplicates: 2
        }
    );
    let sums = total(&store);
    assert_eq!((sums.requests, sums.cost_nanos), (3, 112));
    let mut ids: Vec<String> = all_events(&store).into_iter().map(|e| e.id).collect();
    ids.sort();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(store.rejected_events(10).unwrap().len(), 1);
    assert_eq!(store.wallet("team_b", H0).unwrap().unwrap().spent_nanos, 7);

    // Without a failing batch the group is one transaction with the same result.
    let dir2 = TempDir::new();
    let grouped = SqliteStore::open(&dir2.path().join("l.sqlite3")).unwrap();
    let outcomes = ingest_group(
        &mut grouped.writer(),
        &[&first, &second],
        grouped.fold_state(),
    );
    assert!(outcomes.iter().all(|o| o.is_ok()));
    assert_eq!(total(&grouped), sums);
}

#[test]
fn concurrent_senders_each_get_their_own_outcome() {
    let dir = TempDir::new();
    let store = std::sync::Arc::new(SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                (0..20)
                    .map(|b| {
                        // Every batch repeats one id of the previous batch of its sender.
                        let ids = [format!("{t}-{b}-x"), format!("{t}-{}-x", b.max(1) - 1)];
                        let events = ids
                            .iter()
                            .map(|id| event(id, H0 + b, &format!("team_{t}"), 10))
                            .collect();
                        let (back, outcome) = store.ingest_owned(batch(events));
                        assert_eq!(back.events[0].id, ids[0]);
                        outcome.unwrap()
                    })
                    .fold((0, 0), |(a, d), o| (a + o.accepted, d + o.duplicates))
            })
        })
        .collect();
    let mut accepted = 0;
    for t in threads {
        let (a, d) = t.join().unwrap();
        // Batch 0 repeats its own id; batches 1.. repeat the previous one's.
        assert_eq!((a, d), (20, 20));
        accepted += a;
    }
    assert_eq!(total(&store).requests, accepted as i64);
    assert_eq!(total(&store).cost_nanos, 10 * accepted as i64);
}

#[test]
fn a_failed_batch_leaves_nothing_behind() {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
    let mut bad = event("too-many-tokens", H0, "team_a", 1);
    bad.tokens.input = u64::MAX; // validation normally stops this; the store must not half-commit
    let b = batch(vec![event("ok", H0, "team_a", 1), bad]);
    assert!(store.ingest(&b).is_err());
    assert!(all_events(&store).is_empty());
    assert_eq!(total(&store), Sums::default());
}
