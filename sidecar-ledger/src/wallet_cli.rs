//! `tollgate-ledger wallet list|show|allocate`: wallet operations against a running
//! ledger's API, so they work the same on SQLite or PostgreSQL and take effect live
//! (Envoy instances see new credit on their next lease request, within seconds).
//!
//! HTTP client: `ureq`, small and blocking, which is all a one-shot command needs.

use std::process::ExitCode;

use serde_json::{json, Value};

#[derive(clap::Args, Debug)]
pub struct WalletArgs {
    /// The ledger's base URL.
    #[arg(
        long,
        env = "TOLLGATE_LEDGER_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    ledger: String,
    #[command(subcommand)]
    command: WalletCommand,
}

#[derive(clap::Subcommand, Debug)]
enum WalletCommand {
    /// Every wallet with its balance.
    List,
    /// One wallet: balance, leases and allocation history.
    Show { team: String },
    /// Add to (or, with --kind correction, adjust) a wallet's allocation.
    Allocate {
        team: String,
        /// Amount in USD, e.g. 25.00 (negative only with --kind correction).
        #[arg(long, allow_hyphen_values = true)]
        usd: String,
        /// Why: recorded with the entry.
        #[arg(long)]
        reason: String,
        /// Who: recorded with the entry (default: $USER).
        #[arg(long, env = "USER", default_value = "unknown")]
        actor: String,
        #[arg(long, default_value = "top_up", value_parser = ["initial", "top_up", "correction"])]
        kind: String,
        /// Makes a retried command apply once.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn answer(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Value, String> {
    let mut response = result.map_err(|e| format!("cannot reach the ledger: {e}"))?;
    let status = response.status();
    let body: Value = response
        .body_mut()
        .read_json()
        .map_err(|e| format!("ledger answered {status} without JSON: {e}"))?;
    if status.is_success() {
        Ok(body)
    } else {
        let message = body["error"]["message"].as_str().unwrap_or("unknown error");
        Err(format!("ledger answered {status}: {message}"))
    }
}

fn print_wallet(w: &Value) {
    println!(
        "{:<24} allocated ${:>12}  spent ${:>12}  balance ${:>12}  available ${:>12}  leases {}",
        w["team"].as_str().unwrap_or("?"),
        w["allocated_usd"].as_str().unwrap_or("?"),
        w["spent_usd"].as_str().unwrap_or("?"),
        w["balance_usd"].as_str().unwrap_or("?"),
        w["available_usd"].as_str().unwrap_or("?"),
        w["live_leases"],
    );
}

pub fn run(args: &WalletArgs) -> ExitCode {
    let base = args.ledger.trim_end_matches('/');
    let agent = agent();
    let result = match &args.command {
        WalletCommand::List => answer(agent.get(format!("{base}/v1/wallets")).call()).map(|v| {
            for w in v["wallets"].as_array().into_iter().flatten() {
                print_wallet(w);
            }
        }),
        WalletCommand::Show { team } => {
            answer(agent.get(format!("{base}/v1/wallets/{team}")).call()).map(|v| {
                print_wallet(&v);
                for e in v["entries"].as_array().into_iter().flatten() {
                    println!(
                        "  #{:<5} {:<10} {:>14} nanos  by {}: {}",
                        e["id"],
                        e["kind"].as_str().unwrap_or("?"),
                        e["amount_nanos"],
                        e["actor"].as_str().unwrap_or("?"),
                        e["reason"].as_str().unwrap_or("?")
                    );
                }
            })
        }
        WalletCommand::Allocate {
            team,
            usd,
            reason,
            actor,
            kind,
            idempotency_key,
        } => {
            let body = json!({
                "amount_usd": usd, "kind": kind, "actor": actor, "reason": reason,
                "idempotency_key": idempotency_key,
            });
            answer(
                agent
                    .post(format!("{base}/v1/wallets/{team}/allocations"))
                    .send_json(&body),
            )
            .map(|v| {
                print_wallet(&v["wallet"]);
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate-ledger wallet: {e}");
            ExitCode::FAILURE
        }
    }
}
