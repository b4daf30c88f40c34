//! `tollgate-ledger`: the Tollgate sidecar that stores cost events and answers spend
//! queries, plus the operator commands that work on a Tollgate config.

mod alerts;
mod allocation_request;
mod allocator;
mod api;
mod auth;
mod auth_limit;
mod budget;
mod budget_change;
mod calendar;
mod cli;
mod clock;
mod config_audit;
mod config_file;
mod config_generations;
mod config_reload;
mod dashboard;
mod demo_history;
mod error;
mod export;
mod ingest;
mod ingest_check;
mod insights;
mod metrics;
mod policy;
mod query;
mod reconcile;
mod render;
mod reprice;
mod state;
mod store;
#[cfg(test)]
mod test_util;
mod wallet_seed;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(name = "tollgate-ledger", version, about)]
struct Cli {
    /// Log output format (logs go to stderr; level via RUST_LOG, default info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the ledger HTTP service.
    Serve(cli::serve::ServeArgs),
    /// Validate a Tollgate config file and report every problem.
    CheckConfig {
        /// The Tollgate configuration (YAML).
        file: PathBuf,
    },
    /// Write the Envoy bootstrap for a Tollgate config.
    RenderEnvoy(render::RenderArgs),
    /// Show and change team wallets on a running ledger.
    Wallet(cli::wallet::WalletArgs),
    /// Export spend from a running ledger as CSV, JSON Lines or FOCUS 1.2.
    Export(cli::export::ExportArgs),
    /// Create, list and revoke dashboard/API access tokens (stored hashed).
    Tokens(cli::tokens::TokensArgs),
    /// Show or set the organisation's reporting time zone (days and months of the
    /// dashboard, budgets, spend and exports; UTC until set).
    TimeZone(cli::time_zone::TimeZoneArgs),
    /// Import the providers' own cost and usage reports (from a file, or pulled with an
    /// admin key) and compare them with Tollgate's spend per day, provider and model.
    Reconcile(cli::reconcile::ReconcileArgs),
    /// Recompute a period's cost from stored token counts with the prices in force and
    /// record the differences as adjustments (never edits events).
    Reprice(cli::reprice::RepriceArgs),
    /// Drain an Envoy before it is stopped, so no cost event or leased credit is lost
    /// (run it before SIGTERM, e.g. as a Kubernetes preStop hook).
    DrainEnvoy(cli::drain_envoy::DrainEnvoyArgs),
    /// Write ~60 days of demo history for the demo teams (idempotent).
    SeedDemo(cli::seed_demo::SeedDemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Serve(args) => match cli::serve::serve(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "ledger stopped");
                eprintln!("tollgate-ledger: {e}");
                ExitCode::FAILURE
            }
        },
        Command::CheckConfig { file } => cli::check_config::check_config_command(&file),
        Command::Wallet(args) => cli::wallet::run(&args),
        Command::Export(args) => cli::export::run(&args),
        Command::Tokens(args) => cli::tokens::run(&args),
        Command::TimeZone(args) => cli::time_zone::run(&args),
        Command::Reconcile(args) => cli::reconcile::run(&args),
        Command::Reprice(args) => cli::reprice::run(&args),
        Command::SeedDemo(args) => cli::seed_demo::run(&args),
        Command::DrainEnvoy(args) => cli::drain_envoy::run(&args),
        Command::RenderEnvoy(args) => match render::render_envoy_command(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn init_logging(format: LogFormat) {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // The HTTP client logs full request URLs at debug, and webhook URLs carry secrets
    // (Slack's path is the credential): never below info, whatever RUST_LOG says.
    for quiet in ["ureq=info", "ureq_proto=info"] {
        if let Ok(directive) = quiet.parse() {
            filter = filter.add_directive(directive);
        }
    }
    // stderr: stdout carries the "listening on" line and command output.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in log files.
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
