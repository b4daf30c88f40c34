//! The WAL checkpointer: the log is copied back and kept bounded while ingest runs.

use std::path::Path;

use rusqlite::Connection;
use std::time::{Duration, Instant};

use crate::store::backend::Store;
use crate::store::sqlite::checkpoint::*;
use crate::store::sqlite::db::SqliteStore;
use crate::test_util::{batch, event, TempDir};

const H0: i64 = 1_793_491_200_000;

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

#[test]
fn committed_pages_reach_the_database_file_without_the_writer_checkpointing() {
    let dir = TempDir::new();
    let path = dir.path().join("l.sqlite3");
    let store = SqliteStore::open(&path).unwrap();
    let empty = file_len(&path);
    // ~2,000 events: a few hundred WAL pages, far below the writer's own threshold,
    // so only the checkpoint thread can copy them into the database file.
    for b in 0..20 {
        let events = (0..100)
            .map(|i| event(&format!("e{b}-{i}"), H0 + i, "team_a", 1))
            .collect();
        store.ingest(&batch(events)).unwrap();
    }
    let wal = path.with_extension("sqlite3-wal");
    assert!(file_len(&wal) > 100 * 4096, "the batches went to the WAL");
    let deadline = Instant::now() + Duration::from_secs(10);
    while file_len(&path) < empty + 100 * 4096 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        file_len(&path) >= empty + 100 * 4096,
        "database file {} bytes, was {empty}: nothing checkpointed",
        file_len(&path)
    );
    // Everything acknowledged is still there, and the store shuts down cleanly
    // (dropping it stops and joins the thread).
    let stored: i64 = store
        .reader()
        .unwrap()
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 2_000);
    drop(store);
}

#[test]
fn a_checkpoint_copies_every_committed_page() {
    let dir = TempDir::new();
    let path = dir.path().join("l.sqlite3");
    let conn = Connection::open(&path).unwrap();
    conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
        .unwrap();
    conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1), (2);")
        .unwrap();
    let (pages, copied) = checkpoint(&conn).unwrap();
    assert!(pages > 0);
    assert_eq!(pages, copied);
}
