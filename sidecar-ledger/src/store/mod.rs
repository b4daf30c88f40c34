//! The storage boundary. Everything the HTTP layer knows about persistence is this
//! trait and its plain data types, so a PostgreSQL backend can be added beside
//! [`sqlite::SqliteStore`] without touching the handlers.
//!
//! Methods are synchronous: both embedded SQLite and a blocking Postgres client do
//! I/O on the calling thread, so async handlers call them via
//! `tokio::task::spawn_blocking`.

pub mod alerts;
pub mod codec;
pub mod export;
pub mod sqlite;
mod sqlite_alerts;
mod sqlite_export;
mod sqlite_wallets;
pub mod wallets;

use std::fmt;
use std::ops::ControlFlow;

use tollgate_core::event::CostEvent;
use tollgate_core::lease::{LeaseGrant, LeaseRequest};

use wallets::{NewEntry, WalletEntry, WalletState};

use crate::query::{EventsQuery, SpendQuery};

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

/// What an ingest did. `accepted + duplicates == events.len()`.
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

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e)
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

    /// Spend grouped and filtered as asked, from hourly rollups. Rows ordered by
    /// cost descending, then by key.
    fn spend(&self, query: &SpendQuery) -> Result<Vec<SpendRow>, StoreError>;

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

    /// A team's spend in `[from_ms, to_ms)` (hour granularity, from the rollups).
    fn team_spend_between(&self, team: &str, from_ms: i64, to_ms: i64) -> Result<i64, StoreError>;

    /// A team's spend per UTC day for days `[from_day, to_day)` (0 for idle days).
    fn team_daily_spend(
        &self,
        team: &str,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<i64>, StoreError>;

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
}
