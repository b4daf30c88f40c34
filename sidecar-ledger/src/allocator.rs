//! The process allocator: mimalloc.
//!
//! With glibc's malloc every thread that allocates gets an arena of its own (up to eight
//! per core) and keeps what is freed in it: under PostgreSQL ingest the ledger's RSS
//! grows by ~20 MiB per million events without levelling off. With mimalloc it levels
//! off (~230 MiB) and falls back when the ledger is idle, at the same ingest rate. On
//! SQLite it holds more than glibc would (~130 against ~65 MiB after ten million
//! events): `MIMALLOC_PURGE_DELAY=0` in the environment gives that back at 7-8% of the
//! ingest rate. Figures: BENCHMARKS.md, "Ledger memory and the allocator".

use mimalloc::MiMalloc;

#[global_allocator]
static ALLOCATOR: MiMalloc = MiMalloc;
