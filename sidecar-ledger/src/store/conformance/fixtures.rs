//! The backends the conformance suite runs on: SQLite in a temporary file, PostgreSQL
//! in a fresh schema of the server `TOLLGATE_TEST_PG_URL` names.

use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::store::backend::Store;
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;
use crate::test_util::TempDir;

/// A store and what must outlive it (its file or its schema).
pub(super) struct Fixture {
    pub store: Box<dyn Store>,
    _guard: Guard,
}

#[allow(dead_code)] // held for their Drop
enum Guard {
    Sqlite(TempDir),
    Pg(PgSchema),
}

pub(super) fn sqlite() -> Fixture {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
    Fixture {
        store: Box::new(store),
        _guard: Guard::Sqlite(dir),
    }
}

pub(super) fn pg() -> Option<Fixture> {
    let schema = PgSchema::new()?;
    Some(Fixture {
        store: Box::new(schema.open().unwrap()),
        _guard: Guard::Pg(schema),
    })
}

/// The test server's URL, if any. Missing it fails only where PostgreSQL is expected.
pub(crate) fn pg_url() -> Option<String> {
    match std::env::var("TOLLGATE_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let required = std::env::var_os("TOLLGATE_REQUIRE_PG").is_some()
                || std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
            assert!(
                !required,
                "TOLLGATE_TEST_PG_URL is not set: run the tests with `make test-unit` \
                 (or `python3 tests/harness/postgres.py run -- cargo test`)"
            );
            eprintln!("TOLLGATE_TEST_PG_URL is not set: PostgreSQL store test not run");
            None
        }
    }
}

/// A schema of its own in the test database, dropped afterwards: tests run in
/// parallel and never see each other's tables.
pub(crate) struct PgSchema {
    url: String,
    name: String,
}

impl PgSchema {
    pub(crate) fn new() -> Option<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let url = pg_url()?;
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
            ))
            .unwrap();
        Some(PgSchema { url, name })
    }

    /// Connection settings whose tables all live in this schema.
    pub(super) fn config(&self) -> ::postgres::Config {
        let mut config = ::postgres::Config::from_str(&self.url).unwrap();
        config.options(&format!("-c search_path={}", self.name));
        config
    }

    /// Another ledger instance on this schema.
    pub(crate) fn open(&self) -> Result<PgStore, crate::store::error::StoreError> {
        PgStore::open_config(self.config())
    }

    pub(super) fn admin(&self) -> ::postgres::Client {
        self.config().connect(::postgres::NoTls).unwrap()
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Ok(mut admin) = ::postgres::Client::connect(&self.url, ::postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}
