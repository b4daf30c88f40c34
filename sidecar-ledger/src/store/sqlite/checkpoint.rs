//! Checkpoints SQLite's write-ahead log on a thread of its own.
//!
//! The writer is the ledger's ingest bottleneck: one thread commits every batch. With
//! SQLite's automatic checkpoints (every 1,000 WAL pages) that thread also copied WAL
//! pages back into the database and fsynced it, ~0.5-0.9 µs per event at 100k events/s
//! (BENCHMARKS.md). Here a second connection runs `PRAGMA wal_checkpoint(PASSIVE)` a
//! few times a second instead; a passive checkpoint never blocks the writer or readers.
//!
//! The writer keeps an automatic checkpoint at [`WRITER_BACKSTOP_PAGES`]: under
//! sustained load this thread always trails the newest commits, and SQLite only starts
//! the WAL over once every page of it is checkpointed, which the writer's own
//! checkpoint (run between its transactions) then finishes cheaply. So the WAL stays
//! bounded (about 64 MiB) and the writer copies only what this thread has not.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::store::error::StoreError;

/// WAL pages after which the writer checkpoints itself (16,384 × 4 KiB = 64 MiB).
pub(super) const WRITER_BACKSTOP_PAGES: i64 = 16_384;

/// How often the checkpointer runs.
const INTERVAL: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Stop {
    requested: Mutex<bool>,
    wake: Condvar,
}

/// The checkpoint thread; stopped (and joined) when dropped.
pub(super) struct Checkpointer {
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a connection of its own to `path` and starts checkpointing.
    pub(super) fn start(path: &Path, busy_timeout: Duration) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(busy_timeout)?;
        // The checkpoint fsyncs the database before the WAL pages it copied may be reused.
        conn.pragma_update(None, "synchronous", "FULL")?;
        let stop = Arc::new(Stop::default());
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn({
                let stop = stop.clone();
                move || run(&conn, &stop)
            })
            .map_err(StoreError::Io)?;
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }
}

fn run(conn: &Connection, stop: &Stop) {
    let mut requested = stop.requested.lock().unwrap_or_else(|p| p.into_inner());
    while !*requested {
        requested = stop
            .wake
            .wait_timeout(requested, INTERVAL)
            .unwrap_or_else(|p| p.into_inner())
            .0;
        if *requested {
            break;
        }
        // A failed checkpoint loses nothing (the pages stay in the WAL); the writer's
        // backstop still bounds the WAL. Say so and try again next time.
        if let Err(e) = checkpoint(conn) {
            tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
        }
    }
}

/// Copies committed WAL pages into the database; returns (WAL pages, pages checkpointed).
pub(super) fn checkpoint(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        *self
            .stop
            .requested
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = true;
        self.stop.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
