//! The SQLite database: one writer connection behind a mutex, a pool of readers, the
//! schema migrations, and the write-ahead log's checkpointer.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use super::checkpoint::{Checkpointer, WRITER_BACKSTOP_PAGES};
use super::fold::{fold_now, FoldState};
use super::group_commit::GroupCommit;
use crate::store::error::StoreError;

/// Schema migrations, applied in order; `PRAGMA user_version` is how many have run.
/// Append only: a released migration is never edited.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_wallets.sql"),
    include_str!("migrations/0003_budgets.sql"),
    include_str!("migrations/0004_insights.sql"),
    include_str!("migrations/0005_coarse_rollups.sql"),
    include_str!("migrations/0006_wallet_unchecked.sql"),
    include_str!("migrations/0007_bulk_rollups.sql"),
    include_str!("migrations/0008_delivery_safety.sql"),
    include_str!("migrations/0009_team_policies.sql"),
    include_str!("migrations/0010_allocation_requests.sql"),
    include_str!("migrations/0011_budgets_in_force.sql"),
    include_str!("migrations/0012_reporting_calendar.sql"),
    include_str!("migrations/0013_near_repeats.sql"),
    include_str!("migrations/0014_billing_components.sql"),
    include_str!("migrations/0015_audit_log.sql"),
    include_str!("migrations/0016_alerts.sql"),
    include_str!("migrations/0017_token_expiry.sql"),
    include_str!("migrations/0018_reconciliation.sql"),
    include_str!("migrations/0019_quarantined_events.sql"),
];

/// Idle reader connections kept for reuse; more are opened on demand under load.
const MAX_IDLE_READERS: usize = 4;

/// How long a connection waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Batches waiting for the writer (see `group_commit`).
    group: GroupCommit,
    /// When this process last brought the rollups up to date (see `sqlite::fold`).
    fold: FoldState,
    /// Copies WAL pages into the database off the writer's thread.
    _checkpointer: Option<Checkpointer>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to
    /// date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut writer = Connection::open(path)?;
        configure(&writer)?;
        // WAL is a property of the database file, set once by the writer.
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        let wal = mode.eq_ignore_ascii_case("wal");
        if !wal {
            tracing::warn!(path = %path.display(), mode, "SQLite refused WAL mode; readers will block the writer");
        }
        migrate(&mut writer)?;
        let checkpointer = if wal {
            writer.pragma_update(None, "wal_autocheckpoint", WRITER_BACKSTOP_PAGES)?;
            Some(Checkpointer::start(path, BUSY_TIMEOUT)?)
        } else {
            None
        };
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            group: GroupCommit::default(),
            fold: FoldState::default(),
            _checkpointer: checkpointer,
        })
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .reader()?
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    pub(super) fn group_commit(&self) -> &GroupCommit {
        &self.group
    }

    pub(super) fn fold_state(&self) -> &FoldState {
        &self.fold
    }

    pub(crate) fn writer(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves at worst an open transaction, which
        // rusqlite rolled back when it unwound; the connection itself is fine.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn reader(&self) -> Result<Reader<'_>, StoreError> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open(&self.path)?;
                configure(&c)?;
                // Belt and braces: the read path can never modify the ledger.
                c.pragma_update(None, "query_only", true)?;
                c
            }
        };
        Ok(Reader {
            store: self,
            conn: Some(conn),
        })
    }
}

/// A pooled reader connection, returned to the pool on drop.
pub(crate) struct Reader<'a> {
    store: &'a SqliteStore,
    conn: Option<Connection>,
}

impl std::ops::Deref for Reader<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut pool = self.store.readers.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < MAX_IDLE_READERS {
                pool.push(conn);
            }
        }
    }
}

/// Per-connection settings (SQLite does not persist these in the file).
fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let supported = MIGRATIONS.len() as i64;
    loop {
        // IMMEDIATE takes the write lock before reading the version, so two ledgers
        // starting on the same file cannot both apply a migration.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > supported {
            return Err(StoreError::SchemaTooNew {
                found: version,
                supported,
            });
        }
        if version == supported {
            return Ok(());
        }
        tx.execute_batch(MIGRATIONS[version as usize])?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
        tracing::info!(version = version + 1, "applied ledger schema migration");
    }
}

impl SqliteStore {
    /// Folds whatever is pending, so that a read of the rollups that starts after this
    /// returns includes every event stored before it was called.
    pub(crate) fn settle(&self) -> Result<(), StoreError> {
        {
            // Usually nothing is pending when nobody is ingesting: check without
            // taking the write lock.
            let conn = self.reader()?;
            let pending: bool = conn.query_row(
                "SELECT (SELECT seq FROM rollup_watermark WHERE id = 1)
                      < (SELECT COALESCE(MAX(seq), 0) FROM events)",
                [],
                |r| r.get(0),
            )?;
            if !pending {
                return Ok(());
            }
        }
        fold_now(&mut self.writer(), self.fold_state())
    }
}
