//! Folding on SQLite: the rollups catch up with stored events exactly once, across
//! ledgers sharing a file and across restarts.

use std::time::{Duration, Instant};

use crate::store::backend::Store;
use crate::store::sqlite::db::SqliteStore;
use crate::store::sqlite::fold::*;
use crate::test_util::{batch, event, TempDir};

const H0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z

/// (watermark, requests in rollup_hourly), read straight from the tables.
fn folded(store: &SqliteStore) -> (i64, i64) {
    store
        .writer()
        .query_row(
            "SELECT (SELECT seq FROM rollup_watermark),
                    (SELECT COALESCE(SUM(requests), 0) FROM rollup_hourly)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

fn total_requests(store: &SqliteStore) -> i64 {
    let q = crate::query::parse_spend(
        &[
            ("from".into(), "0".into()),
            ("to".into(), (H0 + 86_400_000).to_string()),
        ],
        H0,
        &Default::default(),
    )
    .unwrap();
    store
        .spend(&q)
        .unwrap()
        .first()
        .map_or(0, |r| r.sums.requests)
}

#[test]
fn reads_fold_what_is_pending_and_ingest_folds_in_bulk() {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
    // No fold falls due by time during this test, however slow the machine.
    store.fold_state().lock().last_fold = Instant::now() + Duration::from_secs(3600);
    store
        .ingest(&batch(vec![
            event("a", H0, "team_a", 1),
            event("b", H0, "team_b", 2),
        ]))
        .unwrap();
    assert_eq!(
        folded(&store),
        (0, 0),
        "a small ingest leaves its events pending"
    );
    assert_eq!(total_requests(&store), 2, "a read includes pending events");
    assert_eq!(folded(&store), (2, 2));
    assert_eq!(total_requests(&store), 2, "and folds them once");

    // Enough pending events fold in the ingest that crosses FOLD_EVENTS, no read needed.
    let per_batch = 4096;
    let mut n = 2;
    while n < 2 + FOLD_EVENTS as usize {
        let events = (0..per_batch)
            .map(|i| event(&format!("e{}", n + i), H0 + 1, "team_a", 1))
            .collect();
        store.ingest(&batch(events)).unwrap();
        n += per_batch;
    }
    assert_eq!(folded(&store), (n as i64, n as i64));
}

#[test]
fn two_ledgers_on_one_file_fold_each_event_once() {
    let dir = TempDir::new();
    let path = dir.path().join("l.sqlite3");
    let a = SqliteStore::open(&path).unwrap();
    let b = SqliteStore::open(&path).unwrap();
    a.ingest(&batch(vec![event("a1", H0, "team_a", 1)]))
        .unwrap();
    b.ingest(&batch(vec![event("b1", H0, "team_b", 2)]))
        .unwrap();
    a.ingest(&batch(vec![event("a2", H0, "team_a", 4)]))
        .unwrap();
    // a's copies of its own events are not all that is pending: a reads them back.
    assert_eq!(total_requests(&a), 3);
    b.ingest(&batch(vec![event("b2", H0, "team_b", 8)]))
        .unwrap();
    assert_eq!(total_requests(&b), 4);
    assert_eq!(total_requests(&a), 4);
    assert_eq!(folded(&a), (4, 4));
}

#[test]
fn a_database_from_before_version_7_counts_its_events_once() {
    let dir = TempDir::new();
    let path = dir.path().join("l.sqlite3");
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .ingest(&batch(vec![
                event("a", H0, "team_a", 1),
                event("b", H0, "team_a", 2),
            ]))
            .unwrap();
        // As a version 6 ledger left it: every event in the rollups, no watermark.
        store.settle().unwrap();
        store
            .writer()
            .execute_batch("DROP TABLE rollup_watermark; PRAGMA user_version = 6;")
            .unwrap();
        store
            .writer()
            .execute_batch(crate::test_util::UNDO_AFTER_SCHEMA_7)
            .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(folded(&store), (2, 2));
    assert_eq!(total_requests(&store), 2);
    store
        .ingest(&batch(vec![event("c", H0, "team_a", 3)]))
        .unwrap();
    assert_eq!(total_requests(&store), 3);
}

#[test]
fn a_fold_that_fails_does_not_stop_ingest() {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
    // Far beyond validation: two of them overflow one rollup row's sum.
    let big = 5_000_000_000_000_000_000;
    store
        .ingest(&batch(vec![event("a", H0, "team_a", big)]))
        .unwrap();
    store
        .ingest(&batch(vec![event("b", H0, "team_a", big)]))
        .unwrap();
    // The fold fails (in this ingest, or in the read below); the events are stored.
    store.fold_state().lock().last_fold = Instant::now() - FOLD_AFTER;
    store
        .ingest(&batch(vec![event("c", H0, "team_b", 1)]))
        .unwrap();
    let events = store
        .recent_events(&crate::query::EventsQuery {
            filters: Default::default(),
            limit: 10,
        })
        .unwrap();
    assert_eq!(events.len(), 3);
    let q = crate::query::parse_spend(
        &[
            ("from".into(), "0".into()),
            ("to".into(), (H0 + 86_400_000).to_string()),
        ],
        H0,
        &Default::default(),
    )
    .unwrap();
    assert!(
        store.spend(&q).is_err(),
        "the overflow is reported, not wrapped"
    );
}
