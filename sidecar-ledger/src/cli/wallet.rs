//! `tollgate-ledger wallet list|show|allocate|resolve-hold`: wallet operations against a running
//! ledger's API, so they work the same on SQLite or PostgreSQL and take effect live
//! (Envoy instances see new credit on their next lease request, within seconds).
//! With `--token` (or `TOLLGATE_TOKEN`) they work against a ledger that requires tokens (the default).

use std::process::ExitCode;

use serde_json::{json, Value};

use super::ledger_client::LedgerConn;

#[derive(clap::Args, Debug)]
pub struct WalletArgs {
    #[command(flatten)]
    conn: LedgerConn,
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
    /// Release the spend held for an ended lease whose events will not arrive (its
    /// Envoy's buffer was lost); `wallet show` lists the holds.
    ResolveHold {
        team: String,
        lease_id: i64,
        /// Why: recorded on the lease.
        #[arg(long)]
        reason: String,
        /// Who: recorded on the lease (default: $USER).
        #[arg(long, env = "USER", default_value = "unknown")]
        actor: String,
    },
}

fn answer(
    conn: &LedgerConn,
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Value, String> {
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
        Err(conn.refusal(status, message))
    }
}

fn print_wallet(w: &Value) {
    println!(
        "{:<24} allocated ${:>12}  spent ${:>12}  held ${:>12}  balance ${:>12}  available ${:>12}  leases {}",
        w["team"].as_str().unwrap_or("?"),
        w["allocated_usd"].as_str().unwrap_or("?"),
        w["spent_usd"].as_str().unwrap_or("?"),
        w["unsettled_usd"].as_str().unwrap_or("?"),
        w["balance_usd"].as_str().unwrap_or("?"),
        w["available_usd"].as_str().unwrap_or("?"),
        w["live_leases"],
    );
}

pub fn run(args: &WalletArgs) -> ExitCode {
    match execute(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate-ledger wallet: {e}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn execute(args: &WalletArgs) -> Result<(), String> {
    let conn = &args.conn;
    let base = conn.base();
    let agent = conn.agent();
    let get = |path: String| answer(conn, conn.authorize(agent.get(path)).call());
    match &args.command {
        WalletCommand::List => get(format!("{base}/v1/wallets")).map(|v| {
            for w in v["wallets"].as_array().into_iter().flatten() {
                print_wallet(w);
            }
        }),
        WalletCommand::Show { team } => get(format!("{base}/v1/wallets/{team}")).map(|v| {
            print_wallet(&v);
            for h in v["holds"].as_array().into_iter().flatten() {
                println!(
                    "  hold: lease {:<6} instance {}  held {} nanos ({})",
                    h["lease_id"],
                    h["instance"].as_str().unwrap_or("?"),
                    h["held_nanos"],
                    if h["unused_nanos"].is_null() {
                        "never closed: the instance stopped"
                    } else {
                        "closed; events on their way"
                    }
                );
            }
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
        }),
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
            let request =
                conn.authorize(agent.post(format!("{base}/v1/wallets/{team}/allocations")));
            answer(conn, request.send_json(&body)).map(|v| {
                print_wallet(&v["wallet"]);
            })
        }
        WalletCommand::ResolveHold {
            team,
            lease_id,
            reason,
            actor,
        } => {
            let request = conn.authorize(
                agent.post(format!("{base}/v1/wallets/{team}/holds/{lease_id}/resolve")),
            );
            answer(
                conn,
                request.send_json(json!({"actor": actor, "reason": reason})),
            )
            .map(|v| {
                println!(
                    "released {} nanos held for lease {lease_id}",
                    v["released"]["held_nanos"]
                );
                print_wallet(&v["wallet"]);
            })
        }
    }
}
