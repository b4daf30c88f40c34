//! The PostgreSQL database: the connection pool, write transactions retried on
//! deadlock or serialization failure, and the schema migrations.

use std::str::FromStr;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, NoTls, Transaction};
use r2d2_postgres::r2d2;
use r2d2_postgres::PostgresConnectionManager;

use std::sync::atomic::Ordering;

use super::fold::fold;
use crate::store::error::StoreError;

/// Schema migrations as (version, SQL), applied in order; `tollgate_schema_migrations`
/// records each version applied. Versions mean the same schema on both backends (see
/// `sqlite::db::MIGRATIONS`): version 4 has no file of its own here, because its
/// tables arrived on PostgreSQL together with version 5's. Append only: a released
/// migration is never edited.
pub(crate) const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_wallets.sql")),
    (3, include_str!("migrations/0003_budgets.sql")),
    (
        5,
        include_str!("migrations/0005_insights_and_coarse_rollups.sql"),
    ),
    (6, include_str!("migrations/0006_wallet_unchecked.sql")),
    (7, include_str!("migrations/0007_bulk_rollups.sql")),
    (8, include_str!("migrations/0008_delivery_safety.sql")),
    (9, include_str!("migrations/0009_team_policies.sql")),
    (10, include_str!("migrations/0010_allocation_requests.sql")),
    (11, include_str!("migrations/0011_budgets_in_force.sql")),
    (12, include_str!("migrations/0012_reporting_calendar.sql")),
    (13, include_str!("migrations/0013_near_repeats.sql")),
    (14, include_str!("migrations/0014_billing_components.sql")),
    (15, include_str!("migrations/0015_audit_log.sql")),
    (16, include_str!("migrations/0016_alerts.sql")),
    (17, include_str!("migrations/0017_token_expiry.sql")),
    (18, include_str!("migrations/0018_reconciliation.sql")),
    (19, include_str!("migrations/0019_quarantined_events.sql")),
];

/// Databases migrated before the versions were aligned with SQLite's recorded the
/// last three migrations as 4, 5 and 6. Renumbered once, at the next start.
const LEGACY_RENUMBERING: &[(i64, i64)] = &[(6, 7), (5, 6), (4, 5)];

/// The newest schema version this ledger knows.
pub(super) const SUPPORTED_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// `pg_advisory_xact_lock` key held while migrating ("Tollgate" in ASCII): ledgers
/// starting together take turns, and all but the first find nothing to do.
const MIGRATION_LOCK: i64 = 0x546f_6c6c_6761_7465;

/// Connections per ledger instance. PostgreSQL's default `max_connections` (100)
/// leaves room for several instances.
const POOL_SIZE: u32 = 16;
/// How long a caller waits for a pooled connection (or a new one) before failing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts of a write transaction that the server aborted as a deadlock victim or
/// for a serialization failure.
const MAX_TX_ATTEMPTS: u32 = 8;

pub(super) type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;
pub(super) type Conn = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

pub struct PgStore {
    /// Always `Some` until dropped.
    pool: Option<Pool>,
    location: String,
    fold: super::fold::FoldClock,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Each `postgres::Client` drives its connection on a small runtime of its own,
        // which cannot be shut down from async code; the ledger may drop its store
        // there. Closing the connections on a plain thread is right everywhere.
        if let Some(pool) = self.pool.take() {
            let _ = std::thread::spawn(move || drop(pool)).join();
        }
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`,
    /// or any form `postgres::Config` parses) and brings its schema up to date.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_config(postgres::Config::from_str(url)?)
    }

    pub fn open_config(mut config: postgres::Config) -> Result<Self, StoreError> {
        if config.get_application_name().is_none() {
            config.application_name("tollgate-ledger");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let location = describe(&config);
        // A first connection of its own: a wrong URL or a server that is down fails
        // now, with the server's own error, and the schema is brought up to date.
        migrate(&mut config.connect(NoTls)?)?;
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(CONNECT_TIMEOUT)
            .build_unchecked(PostgresConnectionManager::new(config, NoTls));
        Ok(PgStore {
            pool: Some(pool),
            location,
            fold: Default::default(),
        })
    }

    /// Where the data lives, without the password: for logs.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The database a URL names, without the password (for messages about a store
    /// that could not be opened).
    pub fn describe_url(url: &str) -> String {
        postgres::Config::from_str(url).map_or_else(
            |_| "PostgreSQL database (unparsable URL)".into(),
            |c| describe(&c),
        )
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn()?
            .query_one(
                "SELECT COALESCE(MAX(version), 0)::BIGINT FROM tollgate_schema_migrations",
                &[],
            )?
            .try_get(0)?)
    }

    pub(crate) fn fold_clock(&self) -> &super::fold::FoldClock {
        &self.fold
    }

    pub(crate) fn conn(&self) -> Result<Conn, StoreError> {
        self.pool
            .as_ref()
            .expect("pool present until drop")
            .get()
            .map_err(|e| StoreError::Pool(e.to_string()))
    }

    /// Runs `f` in a transaction and commits it. A transaction the server aborted to
    /// break a deadlock (or for a serialization failure) is run again from the start:
    /// `f` must not keep state from an earlier attempt.
    pub(super) fn write<T>(
        &self,
        mut f: impl FnMut(&mut Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut attempt = 1;
        loop {
            let result = {
                let mut conn = self.conn()?;
                run_transaction(&mut conn, &mut f)
            };
            match result {
                Err(e) if attempt < MAX_TX_ATTEMPTS && is_retryable(&e) => {
                    tracing::warn!(error = %e, attempt, "PostgreSQL transaction aborted; retrying");
                    // Back off with jitter, so the transactions that crossed do not
                    // meet again at once.
                    let jitter = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.subsec_nanos() as u64 % 10);
                    std::thread::sleep(Duration::from_millis(
                        (5 << attempt) + jitter * attempt as u64,
                    ));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

fn run_transaction<T>(
    conn: &mut Client,
    f: &mut impl FnMut(&mut Transaction<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut tx = conn.transaction()?;
    let value = f(&mut tx)?;
    tx.commit()?;
    Ok(value)
}

fn is_retryable(e: &StoreError) -> bool {
    match e {
        StoreError::Postgres(e) => matches!(
            e.code(),
            Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
        ),
        _ => false,
    }
}

/// `postgres://user@host:port/db`: the connection target without secrets.
pub(super) fn describe(config: &postgres::Config) -> String {
    use postgres::config::Host;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                Host::Unix(path) => path.display().to_string(),
            };
            match config.get_ports().get(i).or(config.get_ports().first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    format!(
        "postgres://{}{}/{}",
        config
            .get_user()
            .map(|u| format!("{u}@"))
            .unwrap_or_default(),
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

fn migrate(conn: &mut Client) -> Result<(), StoreError> {
    let supported = SUPPORTED_VERSION;
    let mut tx = conn.transaction()?;
    // Held until commit: a second ledger starting now waits here, then finds the
    // schema current. DDL is transactional, so a failed migration leaves nothing.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    let fresh: bool = tx
        .query_one(
            "SELECT to_regclass('tollgate_schema_migrations') IS NULL",
            &[],
        )?
        .try_get(0)?;
    if fresh {
        tx.batch_execute(
            "CREATE TABLE tollgate_schema_migrations (
                version    BIGINT PRIMARY KEY,
                applied_ms BIGINT NOT NULL
            )",
        )?;
    }
    // Version 4 is recorded only by the old numbering (see LEGACY_RENUMBERING).
    let legacy: bool = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM tollgate_schema_migrations WHERE version = 4)",
            &[],
        )?
        .try_get(0)?;
    if legacy {
        for (old, new) in LEGACY_RENUMBERING {
            tx.execute(
                "UPDATE tollgate_schema_migrations SET version = $2 WHERE version = $1",
                &[old, new],
            )?;
        }
        tracing::info!("renumbered the recorded schema versions to the shared numbering");
    }
    let version: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::BIGINT FROM tollgate_schema_migrations",
            &[],
        )?
        .try_get(0)?;
    if version > supported {
        return Err(StoreError::SchemaTooNew {
            found: version,
            supported,
        });
    }
    for (v, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > version) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO tollgate_schema_migrations (version, applied_ms)
             VALUES ($1, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT)",
            &[v],
        )?;
        tracing::info!(version = v, "applied ledger schema migration (PostgreSQL)");
    }
    tx.commit()?;
    Ok(())
}

impl PgStore {
    /// Folds whatever is pending, waiting for a fold in progress elsewhere, so that a
    /// read of the rollups that starts after this returns includes every event stored
    /// before it was called.
    pub(crate) fn settle(&self) -> Result<(), StoreError> {
        // Usually nothing is pending when nobody is ingesting: look without locking.
        let pending: bool = self
            .conn()?
            .query_one("SELECT EXISTS (SELECT 1 FROM rollup_pending)", &[])?
            .try_get(0)?;
        if pending {
            self.write(|tx| fold(tx, true, self.fold_clock()))?;
            self.fold_clock().reset();
        }
        Ok(())
    }

    /// After an ingest committed `stored` new events: folds if due. Its events are
    /// acknowledged whatever happens here; a failure is logged and left for the reads.
    pub(super) fn fold_if_due(&self, stored: usize) {
        let clock = self.fold_clock();
        if !clock.stored(stored) || clock.folding.swap(true, Ordering::AcqRel) {
            return;
        }
        let result = self.write(|tx| fold(tx, false, clock));
        // Folded, or another ledger is folding (and takes these events too), or
        // failed: either way not tried again before FOLD_AFTER or FOLD_EVENTS more.
        clock.reset();
        clock.folding.store(false, Ordering::Release);
        if let Err(e) = result {
            tracing::error!(error = %e, "could not bring the rollups up to date; events are stored");
        }
    }
}
