//! `tollgate-ledger tokens create|list|revoke`: dashboard and API access tokens,
//! managed on the ledger's database directly (an operator's local action; a running
//! ledger sees changes at once).

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};

use crate::auth;
use crate::cli::store_location::StoreLocation;
use crate::query::format_instant;
use crate::store::tokens::{NewToken, Role};

#[derive(clap::Args, Debug)]
pub struct TokensArgs {
    #[command(subcommand)]
    command: TokensCommand,
    #[command(flatten)]
    store: StoreLocation,
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
        /// The token stops working this long after creation: a number and a unit,
        /// `s`, `m`, `h`, `d` or `w` (e.g. `30d`, `12h`). Without it (or
        /// --expires-at) it works until revoked.
        #[arg(long, value_name = "DURATION", conflicts_with = "expires_at")]
        expires_in: Option<String>,
        /// The token stops working at this time (RFC 3339, e.g.
        /// `2027-01-31T00:00:00Z`).
        #[arg(long, value_name = "TIME")]
        expires_at: Option<String>,
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

/// A duration such as `30d`: whole units of `s`, `m`, `h`, `d` (24 h) or `w`, in ms.
fn parse_duration_ms(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let bad = || {
        format!("--expires-in '{text}': expected a number and a unit s, m, h, d or w (e.g. 30d)")
    };
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (digits, unit) = t.split_at(split);
    let n: i64 = digits.parse().map_err(|_| bad())?;
    let unit_ms: i64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return Err(bad()),
    };
    match n.checked_mul(unit_ms) {
        Some(ms) if ms > 0 && ms <= crate::query::MAX_TIME_MS => Ok(ms),
        _ => Err(format!(
            "--expires-in '{text}': must be positive and before the year 9999"
        )),
    }
}

/// When a new token expires (Unix ms), from `--expires-in` or `--expires-at`.
fn expiry(
    expires_in: Option<&str>,
    expires_at: Option<&str>,
    now_ms: i64,
) -> Result<Option<i64>, String> {
    match (expires_in, expires_at) {
        (Some(d), _) => Ok(Some(now_ms.saturating_add(parse_duration_ms(d)?))),
        (None, Some(at)) => {
            let ms =
                crate::query::parse_time(at).map_err(|e| format!("--expires-at '{at}': {e}"))?;
            if ms <= now_ms {
                return Err(format!("--expires-at '{at}': is not in the future"));
            }
            Ok(Some(ms))
        }
        (None, None) => Ok(None),
    }
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
    let opened = args.store.open()?;
    let store = opened.store;
    let now = crate::clock::now_ms();
    match &args.command {
        TokensCommand::Create {
            role,
            team,
            name,
            expires_in,
            expires_at,
        } => {
            let expires_ms = expiry(expires_in.as_deref(), expires_at.as_deref(), now)?;
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
                        expires_ms,
                    },
                    now,
                )
                .map_err(|e| format!("{}: {e}", opened.location))?;
            audit(
                store.as_ref(),
                "token.create",
                record.team.clone(),
                serde_json::json!({"id": record.id, "name": record.name, "role": record.role, "team": record.team, "expires_ms": record.expires_ms}),
                now,
            )?;
            eprintln!(
                "created token {} ({}{}) for '{}'{}; it is shown once, store it now:",
                record.id,
                record.role.as_str(),
                record
                    .team
                    .as_deref()
                    .map(|t| format!(": {t}"))
                    .unwrap_or_default(),
                record.name,
                record
                    .expires_ms
                    .map(|e| format!(", expires {}", format_instant(e)))
                    .unwrap_or_default()
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
                    "{:>4}  {:<8} {:<20} {:<24} {:<25} {:<25} REVOKED",
                    "ID", "ROLE", "TEAM", "NAME", "CREATED", "EXPIRES"
                );
                for t in tokens {
                    let expires = match t.expires_ms {
                        Some(e) if t.expired(now) => format!("{} (expired)", format_instant(e)),
                        Some(e) => format_instant(e),
                        None => "-".into(),
                    };
                    println!(
                        "{:>4}  {:<8} {:<20} {:<24} {:<25} {:<25} {}",
                        t.id,
                        t.role.as_str(),
                        t.team.as_deref().unwrap_or("(all)"),
                        t.name,
                        format_instant(t.created_ms),
                        expires,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_comes_from_a_duration_or_a_time() {
        let now = 1_000;
        assert_eq!(expiry(None, None, now), Ok(None));
        assert_eq!(
            expiry(Some("30d"), None, now),
            Ok(Some(now + 30 * 86_400_000))
        );
        assert_eq!(
            expiry(Some("12h"), None, now),
            Ok(Some(now + 12 * 3_600_000))
        );
        assert_eq!(
            expiry(Some("2w"), None, now),
            Ok(Some(now + 14 * 86_400_000))
        );
        assert_eq!(expiry(Some("90s"), None, now), Ok(Some(now + 90_000)));
        assert_eq!(
            expiry(None, Some("2027-01-31T00:00:00Z"), now),
            Ok(Some(1_801_353_600_000))
        );
        for bad in ["30", "d", "0d", "3y", "-1d", "1.5h", "99999999999999w"] {
            let e = expiry(Some(bad), None, now).unwrap_err();
            assert!(e.starts_with("--expires-in"), "{bad}: {e}");
        }
        assert!(expiry(None, Some("1970-01-01T00:00:00Z"), now)
            .unwrap_err()
            .contains("not in the future"));
        assert!(expiry(None, Some("tomorrow"), now).is_err());
    }
}
