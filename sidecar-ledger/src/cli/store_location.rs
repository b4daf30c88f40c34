//! Where an administrative command finds the ledger's store: a data directory (SQLite)
//! or a PostgreSQL URL, the same options (and environment variables) for every command.

use std::path::PathBuf;

use crate::store::{open, Opened};

#[derive(clap::Args, Debug)]
pub struct StoreLocation {
    /// The ledger's data directory (DATA_DIR/ledger.sqlite3).
    #[arg(
        long,
        env = "TOLLGATE_LEDGER_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// PostgreSQL instead of SQLite (postgres://...).
    #[arg(
        long,
        env = "TOLLGATE_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<String>,
}

impl StoreLocation {
    /// Opens (and migrates) the store.
    pub fn open(&self) -> Result<Opened, String> {
        open(self.database_url.as_deref(), &self.data_dir)
    }
}
