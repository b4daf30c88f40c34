//! Choosing and opening the backend: PostgreSQL for a `postgres://` URL, else SQLite
//! in the data directory.

use std::path::Path;
use std::sync::Arc;

use super::backend::Store;
use super::postgres::PgStore;
use super::sqlite::SqliteStore;

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
