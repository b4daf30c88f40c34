//! The store conformance suite: what every backend must do alike, each test a
//! function of `&dyn Store` run on SQLite and on PostgreSQL (see [`fixtures`]), plus
//! what only a database shared by several ledgers has.
//!
//! Without `TOLLGATE_TEST_PG_URL` the PostgreSQL instances pass without running (and
//! say so on stderr), except under CI or with `TOLLGATE_REQUIRE_PG` set, where they
//! fail. `make test-unit` provides the URL by starting a throwaway server with
//! `tests/harness/postgres.py run`.

mod alerts;
mod allocation_requests;
mod audit;
mod budgets;
mod cache_repeats;
mod calendar;
pub(crate) mod fixtures;
mod insights;
mod policy;
mod quarantine;
mod reconciliation;
mod rollups;
mod suite;
mod tokens;
