//! The command-line subcommands, one module each; `main.rs` only parses the command
//! line and dispatches here. The client commands (`wallet`, `export`) talk to a
//! running ledger over HTTP through [`ledger_client`]; the others open the store or
//! read files themselves.

pub mod check_config;
pub mod drain_envoy;
pub mod export;
mod ledger_client;
pub mod reconcile;
pub mod reprice;
pub mod seed_demo;
pub mod serve;
mod store_location;
#[cfg(test)]
mod tests;
pub mod time_zone;
pub mod tokens;
pub mod wallet;
