//! `tollgate-ledger tokens create|list|revoke`: dashboard and API access tokens,
//! managed on the ledger's database directly (an operator's local action; a running
//! ledger sees changes at once).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use crate::auth;
use crate::query::format_instant;
use crate::store::tokens::{NewToken, Role};

#[derive(clap::Args, Debug)]
pub struct TokensArgs {
    #[command(subcommand)]
    command: TokensCommand,
    /// The ledger's data directory (DATA_DIR/ledger.sqlite3).
    #[arg(
        long,
        env = "TOLLGATE_LEDGER_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    data_dir: PathBuf,
    /// PostgreSQL instead of SQLite (postgres://...).
    #[arg(
        long,
        env = "TOLLGATE_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    database_url: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum RoleArg {
    /// Every team.
    Admin,
    /// Every team (finance owners).
    Finance,
    /// One team (`--team`).
    Team,
    /// The data plane: Envoy's filter sends it (environment variable
    /// `TOLLGATE_LEDGER_TOKEN`) to write cost events and take credit leases.
    Ingest,
}

#[derive(Subcommand, Debug)]
enum TokensCommand {
    /// Create a token and print it once (only its SHA-256 is stored).
    Create {
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The team a `team` token sees.
        #[arg(long)]
        team: Option<String>,
        /// Who or what the token is for (shown by `tokens list`).
        #[arg(long)]
        name: String,
    },
    /// List tokens (never the tokens themselves).
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id (from `tokens list`).
    Revoke { id: i64 },
}

/// Records a token change in the audit log, as the local operator's.
fn audit(
    store: &dyn crate::store::Store,
    action: &str,
    team: Option<String>,
    after: serde_json::Value,
    now: i64,
) -> Result<(), String> {
    store
        .record_audit(
            &crate::store::audit::NewAuditEntry {
                actor: "tollgate-ledger tokens (local operator)".into(),
                action: action.into(),
                team,
                before: None,
                after: Some(after),
            },
            now,
        )
        .map(|_| ())
        .map_err(|e| format!("cannot record the change in the audit log: {e}"))
}

pub fn run(args: &TokensArgs) -> ExitCode {
    match execute(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate-ledger tokens: {e}");
            ExitCode::FAILURE
        }
    }
}

fn execute(args: &TokensArgs) -> Result<(), String> {
    let opened = crate::store::open(args.database_url.as_deref(), &args.data_dir)?;
    let store = opened.store;
    let now = crate::clock::now_ms();
    match &args.command {
        TokensCommand::Create { role, team, name } => {
            let role = match role {
                RoleArg::Admin => Role::Admin,
                RoleArg::Finance => Role::Finance,
                RoleArg::Team => Role::Team,
                RoleArg::Ingest => Role::Ingest,
            };
            let team = team.as_deref().map(str::trim).filter(|t| !t.is_empty());
            match (role, team) {
                (Role::Team, None) => return Err("a team token needs --team TEAM".into()),
                (Role::Admin | Role::Finance | Role::Ingest, Some(_)) => {
                    return Err(
                        "--team is only for --role team (admin, finance and ingest tokens are not per team)".into(),
                    )
                }
                _ => {}
            }
            let name = name.trim();
            if name.is_empty() {
                return Err("--name must not be empty".into());
            }
            let token = auth::generate_token()?;
            let record = store
                .create_token(
                    &NewToken {
                        name: name.to_string(),
                        role,
                        team: team.map(str::to_string),
                        sha256: auth::hash_token(&token),
                    },
                    now,
                )
                .map_err(|e| format!("{}: {e}", opened.location))?;
            audit(
                store.as_ref(),
                "token.create",
                record.team.clone(),
                serde_json::json!({"id": record.id, "name": record.name, "role": record.role, "team": record.team}),
                now,
            )?;
            eprintln!(
                "created token {} ({}{}) for '{}'; it is shown once, store it now:",
                record.id,
                record.role.as_str(),
                record
                    .team
                    .as_deref()
                    .map(|t| format!(": {t}"))
                    .unwrap_or_default(),
                record.name
            );
            println!("{token}");
        }
        TokensCommand::List { json } => {
            let tokens = store
                .tokens()
                .map_err(|e| format!("{}: {e}", opened.location))?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&tokens).map_err(|e| e.to_string())?
                );
            } else {
                println!(
                    "{:>4}  {:<8} {:<20} {:<24} {:<25} REVOKED",
                    "ID", "ROLE", "TEAM", "NAME", "CREATED"
                );
                for t in tokens {
                    println!(
                        "{:>4}  {:<8} {:<20} {:<24} {:<25} {}",
                        t.id,
                        t.role.as_str(),
                        t.team.as_deref().unwrap_or("(all)"),
                        t.name,
                        format_instant(t.created_ms),
                        t.revoked_ms
                            .map(format_instant)
                            .unwrap_or_else(|| "-".into())
                    );
                }
            }
        }
        TokensCommand::Revoke { id } => {
            let revoked = store
                .revoke_token(*id, now)
                .map_err(|e| format!("{}: {e}", opened.location))?;
            if !revoked {
                return Err(format!("no live token with id {id}"));
            }
            audit(
                store.as_ref(),
                "token.revoke",
                None,
                serde_json::json!({"id": id, "revoked_ms": now}),
                now,
            )?;
            println!("revoked token {id}");
        }
    }
    Ok(())
}
