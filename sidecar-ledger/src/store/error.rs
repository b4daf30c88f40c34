//! Why a store call failed, whichever backend answered.

use std::fmt;

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
    /// A transaction's own rule refused the write; it was rolled back.
    Refused(String),
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
            StoreError::Refused(m) => write!(f, "refused: {m}"),
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
