//! The storage boundary. Everything the rest of the ledger knows about persistence is
//! the [`Store`] trait and its plain data types; each backend lives in a folder of its
//! own with its migrations (`sqlite/`, the embedded default; `postgres/`, shared by
//! several ledgers), and `conformance` (tests) is the suite both must pass.
//!
//! Methods are synchronous: both embedded SQLite and a blocking Postgres client do
//! I/O on the calling thread, so async handlers call them via
//! `tokio::task::spawn_blocking`.
//!
//! The files at this level hold what both backends share: the trait (`backend`), its
//! data (`types`, and one module per concept: `alerts`, `export`, `insights`, `tokens`,
//! `wallets`), the error, and the SQL both build alike (`spend_plan`, `spend_sql`,
//! `insight_sql`, `rollup_deltas`, `event_text`). This file only wires them.

pub mod alerts;
pub mod allocation_requests;
pub mod audit;
pub(crate) mod backend;
pub mod budgets;
pub mod cache_repeats;
#[cfg(test)]
pub(crate) mod conformance;
pub(crate) mod error;
pub mod event_text;
pub mod export;
mod insight_sql;
pub mod insights;
mod open;
pub mod policy;
pub mod postgres;
pub mod quarantine;
pub mod reconciliation;
pub(crate) mod rollup_deltas;
pub mod spend_plan;
mod spend_sql;
pub mod sqlite;
pub mod tokens;
pub(crate) mod types;
pub mod wallets;

pub use backend::Store;
pub use error::StoreError;
pub use open::{open, Opened};
#[cfg(test)]
pub use sqlite::SqliteStore;
pub use types::{IngestBatch, KeyValue, RejectedEvent, Sums};
