//! The storage boundary. Everything the HTTP layer knows about persistence is this
//! trait and its plain data types, so a PostgreSQL backend can be added beside
//! [`sqlite::SqliteStore`] without touching the handlers.
//!
//! Methods are synchronous: both embedded SQLite and a blocking Postgres client do
//! I/O on the calling thread, so async handlers call them via
//! `tokio::task::spawn_blocking`.

pub mod alerts;
pub mod codec;
mod derived;
pub mod export;
mod group_commit;
mod insight_sql;
pub mod insights;
#[cfg(test)]
mod insights_parity;
pub mod postgres;
mod postgres_alerts;
mod postgres_export;
mod postgres_fold;
mod postgres_insights;
#[cfg(test)]
pub(crate) mod postgres_parity;
mod postgres_rollups;
mod postgres_spend;
mod postgres_wallets;
#[cfg(test)]
mod rollup_parity;
pub mod spend_plan;
mod spend_sql;
pub mod sqlite;
mod sqlite_alerts;
mod sqlite_checkpoint;
mod sqlite_export;
mod sqlite_fold;
mod sqlite_insights;
mod sqlite_rollups;
mod sqlite_spend;
mod sqlite_wallets;
pub mod wallets;

use std::collections::HashMap;
use std::fmt;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use tollgate_core::event::CostEvent;
use tollgate_core::lease::{LeaseGrant, LeaseRequest};

use wallets::{NewEntry, WalletEntry, WalletState};

use crate::query::{EventsQuery, SpendQuery};

pub use self::postgres::PgStore;
pub use sqlite::SqliteStore;

/// An event that could not be used, kept verbatim so nothing a sender delivered is
/// silently lost and an operator can replay it after a fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedEvent {
    /// Position in the batch the sender posted.
    pub index: usize,
    /// The event's JSON text exactly as received.
    pub raw: String,
    pub error: String,
}

/// A quarantined event as stored, with when it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRejection {
    pub received_ms: i64,
    pub event: RejectedEvent,
}

/// One posted batch, already split into usable events and quarantined ones. The
/// store persists both in one transaction.
#[derive(Debug, Default)]
pub struct IngestBatch {
    pub events: Vec<CostEvent>,
    pub rejected: Vec<RejectedEvent>,
    /// When the ledger received the batch (Unix ms), for audit.
    pub received_ms: i64,
}

/// What an ingest did. `accepted + duplicates == events.len()`, except on PostgreSQL
/// for events it cannot store (text with U+0000): those join the quarantine
/// (`rejected_events`) and count as neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestOutcome {
    /// Events stored for the first time.
    pub accepted: usize,
    /// Events whose id was already stored (a retried batch); ignored.
    pub duplicates: usize,
}

/// Additive totals of a set of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sums {
    pub requests: i64,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_write_tokens: i64,
    pub output_tokens: i64,
    pub cost_nanos: i64,
    pub cost_avoided_nanos: i64,
}

impl Sums {
    /// Adds `other`; `None` on i64 overflow (never expected with validated events, but
    /// a wrong total must not be returned silently).
    pub fn checked_add(&self, other: &Sums) -> Option<Sums> {
        Some(Sums {
            requests: self.requests.checked_add(other.requests)?,
            input_tokens: self.input_tokens.checked_add(other.input_tokens)?,
            cached_input_tokens: self
                .cached_input_tokens
                .checked_add(other.cached_input_tokens)?,
            cache_write_tokens: self
                .cache_write_tokens
                .checked_add(other.cache_write_tokens)?,
            output_tokens: self.output_tokens.checked_add(other.output_tokens)?,
            cost_nanos: self.cost_nanos.checked_add(other.cost_nanos)?,
            cost_avoided_nanos: self
                .cost_avoided_nanos
                .checked_add(other.cost_avoided_nanos)?,
        })
    }
}

/// The value of one group-by dimension in a spend row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValue {
    /// A text dimension; `None` when the events did not carry it (e.g. no user).
    Text(Option<String>),
    /// A time bucket (`hour`, `day`): its start, Unix ms UTC.
    TimeMs(i64),
}

/// One group of a spend report; `key` follows the query's `group_by` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendRow {
    pub key: Vec<KeyValue>,
    pub sums: Sums,
}

#[derive(Debug)]
pub enum StoreError {
    Sqlite(rusqlite::Error),
    Postgres(::postgres::Error),
    /// No PostgreSQL connection could be had (server down, pool exhausted).
    Pool(String),
    Io(std::io::Error),
    /// The database was written by a newer ledger: refuse rather than misread it.
    SchemaTooNew {
        found: i64,
        supported: i64,
    },
    /// A stored value this binary cannot interpret (e.g. an unknown enum name).
    Corrupt(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Sqlite(e) => write!(f, "sqlite: {e}"),
            StoreError::Postgres(e) => match e.as_db_error() {
                Some(db) => write!(f, "postgres: {db}"),
                None => match std::error::Error::source(e) {
                    Some(cause) => write!(f, "postgres: {e}: {cause}"),
                    None => write!(f, "postgres: {e}"),
                },
            },
            StoreError::Pool(e) => write!(f, "postgres: {e}"),
            StoreError::Io(e) => write!(f, "{e}"),
            StoreError::SchemaTooNew { found, supported } => write!(
                f,
                "database schema version {found} is newer than this ledger supports ({supported}); upgrade the ledger"
            ),
            StoreError::Corrupt(m) => write!(f, "unreadable stored data: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

impl From<::postgres::Error> for StoreError {
    fn from(e: ::postgres::Error) -> Self {
        StoreError::Postgres(e)
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e)
    }
}

/// An opened store and how to name it in logs.
pub struct Opened {
    pub store: Arc<dyn Store>,
    /// The database, without secrets: a file path or `postgres://user@host:port/db`.
    pub location: String,
    pub schema_version: i64,
}

/// Opens the ledger's database: PostgreSQL when `database_url` is a `postgres://` (or
/// `postgresql://`) URL, else SQLite at `data_dir/ledger.sqlite3`. Blocking.
pub fn open(database_url: Option<&str>, data_dir: &Path) -> Result<Opened, String> {
    match database_url.filter(|u| !u.is_empty()) {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let store =
                PgStore::open(url).map_err(|e| format!("{}: {e}", PgStore::describe_url(url)))?;
            let location = store.location().to_string();
            let schema_version = store
                .schema_version()
                .map_err(|e| format!("{location}: {e}"))?;
            Ok(Opened {
                store: Arc::new(store),
                location,
                schema_version,
            })
        }
        Some(_) => Err(
            "the database URL must start with postgres:// (leave it unset for SQLite in the data directory)"
                .into(),
        ),
        None => {
            std::fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
            let path = data_dir.join("ledger.sqlite3");
            let location = path.display().to_string();
            let store = SqliteStore::open(&path).map_err(|e| format!("{location}: {e}"))?;
            let schema_version = store
                .schema_version()
                .map_err(|e| format!("{location}: {e}"))?;
            Ok(Opened {
                store: Arc::new(store),
                location,
                schema_version,
            })
        }
    }
}

/// The ledger's persistence. Implementations must make `ingest` atomic and durable
/// before returning (the HTTP acknowledgement is the sender's licence to forget the
/// batch) and idempotent by event id.
pub trait Store: Send + Sync + 'static {
    /// Stores a batch: new events, their rollups and the quarantined events, all in
    /// one transaction. Events whose id is already stored are counted as duplicates
    /// and change nothing.
    fn ingest(&self, batch: &IngestBatch) -> Result<IngestOutcome, StoreError>;

    /// [`Store::ingest`] for a caller that can lend the batch: SQLite writes batches
    /// that arrive together in one transaction (see `group_commit`). Same guarantees,
    /// per batch; the batch comes back with its outcome.
    fn ingest_owned(&self, batch: IngestBatch) -> (IngestBatch, Result<IngestOutcome, StoreError>) {
        let outcome = self.ingest(&batch);
        (batch, outcome)
    }

    /// Spend grouped and filtered as asked, from the coarsest rollups that answer it
    /// exactly (see [`spend_plan`]). Rows ordered by cost descending, then by key.
    fn spend(&self, query: &SpendQuery) -> Result<Vec<SpendRow>, StoreError> {
        self.spend_from(query, spend_plan::Rollups::Coarsest)
    }

    /// [`Store::spend`], from the rollups asked for: `FineOnly` is the reference the
    /// coarser rollups must equal to the nanodollar.
    fn spend_from(
        &self,
        query: &SpendQuery,
        rollups: spend_plan::Rollups,
    ) -> Result<Vec<SpendRow>, StoreError>;

    /// Most recent events first.
    fn recent_events(&self, query: &EventsQuery) -> Result<Vec<CostEvent>, StoreError>;

    /// Events quarantined so far, newest first (for operators and tests).
    fn rejected_events(&self, limit: usize) -> Result<Vec<StoredRejection>, StoreError>;

    /// Creates the team's wallet if it does not exist (empty).
    fn ensure_wallet(&self, team: &str, now_ms: i64) -> Result<(), StoreError>;

    /// Records an allocation change. `None` if the wallet does not exist. With an
    /// idempotency key already used, nothing changes and the original entry returns.
    fn allocate(
        &self,
        entry: &NewEntry,
        now_ms: i64,
    ) -> Result<Option<(WalletEntry, WalletState)>, StoreError>;

    fn wallet(&self, team: &str, now_ms: i64) -> Result<Option<WalletState>, StoreError>;

    fn wallets(&self, now_ms: i64) -> Result<Vec<WalletState>, StoreError>;

    /// The wallet's allocation history, newest first.
    fn wallet_entries(&self, team: &str, limit: usize) -> Result<Vec<WalletEntry>, StoreError>;

    /// Grants credit to an instance's lease (see `tollgate_core::lease`). Must be
    /// atomic with respect to every other grant and ingest, so two instances can never
    /// both be granted the same credit. `None` if the wallet does not exist.
    fn lease(
        &self,
        request: &LeaseRequest,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Option<LeaseGrant>, StoreError>;

    /// Each of `teams`' spend per UTC day for days `[from_day, to_day)`, from the daily
    /// rollups: one entry per listed team, 0 for idle days.
    fn daily_spend(
        &self,
        teams: &[String],
        from_day: i64,
        to_day: i64,
    ) -> Result<HashMap<String, Vec<i64>>, StoreError>;

    /// Records a budget alert with one pending delivery per `(url, format)` webhook.
    /// `None` when that threshold already fired this period (nothing is stored).
    fn record_alert(
        &self,
        alert: &alerts::NewAlert,
        webhooks: &[(String, String)],
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError>;

    /// Pending deliveries whose next attempt is due, with their alert.
    fn due_deliveries(
        &self,
        now_ms: i64,
    ) -> Result<Vec<(alerts::DeliveryRecord, alerts::AlertRecord)>, StoreError>;

    /// Records a delivery attempt: delivered, or failed and rescheduled with backoff
    /// (given up after `max_attempts`).
    fn finish_delivery(
        &self,
        id: i64,
        outcome: Result<(), String>,
        now_ms: i64,
        max_attempts: i64,
    ) -> Result<(), StoreError>;

    /// Recent alerts with their deliveries, newest first.
    fn alerts(&self, limit: usize) -> Result<Vec<alerts::AlertRecord>, StoreError>;

    /// Every event in the export's scope, oldest first (by `ts_ms`, then arrival),
    /// handed to `sink` one at a time until it breaks. Read in keyset pages, so memory
    /// stays constant however many events there are.
    fn for_each_event(
        &self,
        scope: &export::ExportScope,
        sink: &mut dyn FnMut(CostEvent) -> ControlFlow<()>,
    ) -> Result<(), StoreError>;

    /// The scope's rollup hours summed per UTC day or month and per (team,
    /// consumer_group, provider, lane, model[, cache]), ordered by that key and handed
    /// to `sink` one at a time until it breaks.
    fn for_each_period_row(
        &self,
        scope: &export::ExportScope,
        period: export::Period,
        by_cache: bool,
        sink: &mut dyn FnMut(export::PeriodRow) -> ControlFlow<()>,
    ) -> Result<(), StoreError>;

    /// The lanes that served at least one premium-marked event in the scope.
    fn premium_lanes(&self, scope: &export::ExportScope) -> Result<Vec<String>, StoreError>;

    // ---- The leaders' dashboard.

    /// Sums of the daily rollups grouped as asked, ordered by cost descending.
    fn insight_rows(&self, query: &insights::InsightQuery) -> Result<Vec<SpendRow>, StoreError>;

    /// Stores a new access token (its hash).
    fn create_token(
        &self,
        token: &insights::NewToken,
        now_ms: i64,
    ) -> Result<insights::TokenRecord, StoreError>;

    /// Every token ever created, revoked ones included, oldest first.
    fn tokens(&self) -> Result<Vec<insights::TokenRecord>, StoreError>;

    /// The token with this SHA-256 (lowercase hex), revoked or not.
    fn token_by_hash(&self, sha256: &str) -> Result<Option<insights::TokenRecord>, StoreError>;

    /// Revokes a token; false if there is no such live token.
    fn revoke_token(&self, id: i64, now_ms: i64) -> Result<bool, StoreError>;
}
