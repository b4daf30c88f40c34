//! `tollgate-ledger reconcile import|pull|report`: the providers' own cost and usage
//! reports against Tollgate's spend (see `crate::reconcile` and
//! `docs/reconciliation.md`). Opens the ledger's store directly, like `time-zone`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use serde_json::json;

use crate::cli::store_location::StoreLocation;
use crate::clock::now_ms;
use crate::query::{parse_time, DAY_MS};
use crate::reconcile::compare::{Tolerance, ALL_MODELS};
use crate::reconcile::report_file::Provider;
use crate::reconcile::{self, pull};
use crate::store::audit::NewAuditEntry;
use crate::store::Store;

#[derive(clap::Args, Debug)]
pub struct ReconcileArgs {
    #[command(subcommand)]
    command: ReconcileCommand,
    #[command(flatten)]
    store: StoreLocation,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ProviderArg {
    Openai,
    Anthropic,
}

impl ProviderArg {
    fn provider(self) -> Provider {
        match self {
            ProviderArg::Openai => Provider::Openai,
            ProviderArg::Anthropic => Provider::Anthropic,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Format {
    Table,
    Csv,
    Json,
}

#[derive(clap::Args, Debug)]
struct Period {
    /// First day (YYYY-MM-DD, UTC) or instant (RFC 3339); default 30 days before --to.
    #[arg(long)]
    from: Option<String>,
    /// End of the period, exclusive (YYYY-MM-DD: that day is not included); default
    /// tomorrow, UTC.
    #[arg(long)]
    to: Option<String>,
}

impl Period {
    fn bounds(&self) -> Result<(i64, i64), String> {
        let to = match &self.to {
            Some(t) => parse_time(t).map_err(|e| format!("--to {e}"))?,
            None => (now_ms().div_euclid(DAY_MS) + 1) * DAY_MS,
        };
        let from = match &self.from {
            Some(f) => parse_time(f).map_err(|e| format!("--from {e}"))?,
            None => to - 30 * DAY_MS,
        };
        if from >= to {
            return Err("--from must be before --to".into());
        }
        Ok(reconcile::whole_days(from, to))
    }
}

#[derive(Subcommand, Debug)]
enum ReconcileCommand {
    /// Import a provider's cost or usage report from a file: one page of the API's
    /// JSON answer, or a JSON array of pages. Lines already imported are replaced.
    Import {
        #[arg(long, value_enum)]
        provider: ProviderArg,
        #[arg(long)]
        file: PathBuf,
        /// Who is importing (recorded in the audit log).
        #[arg(long, default_value = "cli")]
        actor: String,
    },
    /// Fetch a provider's cost and usage reports for a period with an admin key and
    /// import them.
    Pull {
        #[arg(long, value_enum)]
        provider: ProviderArg,
        #[command(flatten)]
        period: Period,
        /// The environment variable holding the admin key (default OPENAI_ADMIN_KEY
        /// or ANTHROPIC_ADMIN_KEY).
        #[arg(long)]
        admin_key_env: Option<String>,
        /// The API's base URL (default https://api.openai.com or
        /// https://api.anthropic.com).
        #[arg(long)]
        base_url: Option<String>,
        #[arg(long, default_value = "cli")]
        actor: String,
    },
    /// Tollgate's cost against the providers' per UTC day, provider and model.
    Report {
        #[command(flatten)]
        period: Period,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Costs within this many nanodollars match (default half a cent).
        #[arg(long)]
        tolerance_nanos: Option<i64>,
        /// ... or within this many basis points of the provider's cost (default 10).
        #[arg(long)]
        tolerance_bp: Option<i64>,
    },
}

pub fn run(args: &ReconcileArgs) -> ExitCode {
    match execute(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate-ledger reconcile: {e}");
            ExitCode::FAILURE
        }
    }
}

fn import_text(
    store: &dyn Store,
    provider: Provider,
    text: &str,
    source: &str,
    actor: &str,
) -> Result<(), String> {
    let (lines, outcome) = reconcile::import(store, provider, text, source, now_ms())?;
    store
        .record_audit(
            &NewAuditEntry {
                actor: format!("{actor} (tollgate-ledger reconcile)"),
                action: "reconcile.import".into(),
                team: None,
                before: None,
                after: Some(json!({
                    "provider": provider.name(),
                    "source": source,
                    "lines": lines,
                    "added": outcome.added,
                    "replaced": outcome.replaced,
                })),
            },
            now_ms(),
        )
        .map_err(|e| e.to_string())?;
    println!(
        "{}: {lines} lines from {source} ({} new, {} replaced)",
        provider.name(),
        outcome.added,
        outcome.replaced
    );
    Ok(())
}

fn execute(args: &ReconcileArgs) -> Result<(), String> {
    let opened = args.store.open()?;
    let store = opened.store.as_ref();
    match &args.command {
        ReconcileCommand::Import {
            provider,
            file,
            actor,
        } => {
            let text =
                std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
            let source = format!("file:{}", file.display());
            import_text(store, provider.provider(), &text, &source, actor)
                .map_err(|e| format!("{}: {e}", file.display()))
        }
        ReconcileCommand::Pull {
            provider,
            period,
            admin_key_env,
            base_url,
            actor,
        } => {
            let provider = provider.provider();
            let (from, to) = period.bounds()?;
            let (env, base) = match provider {
                Provider::Openai => ("OPENAI_ADMIN_KEY", "https://api.openai.com"),
                Provider::Anthropic => ("ANTHROPIC_ADMIN_KEY", "https://api.anthropic.com"),
            };
            let env = admin_key_env.as_deref().unwrap_or(env);
            let key = std::env::var(env)
                .ok()
                .filter(|k| !k.trim().is_empty())
                .ok_or_else(|| format!("set {env} to the provider's admin key"))?;
            let base = base_url.as_deref().unwrap_or(base);
            for (path, text) in pull::pull(provider, base, key.trim(), from, to)? {
                import_text(store, provider, &text, &format!("pull:{path}"), actor)?;
            }
            Ok(())
        }
        ReconcileCommand::Report {
            period,
            format,
            tolerance_nanos,
            tolerance_bp,
        } => {
            let (from, to) = period.bounds()?;
            let d = Tolerance::default();
            let tolerance = Tolerance {
                nanos: tolerance_nanos.unwrap_or(d.nanos),
                basis_points: tolerance_bp.unwrap_or(d.basis_points),
            };
            let report = reconcile::report(store, from, to, tolerance)
                .map_err(|e| format!("{}: {e}", opened.location))?;
            let mut out = std::io::stdout().lock();
            match format {
                Format::Json => {
                    let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
                    println!("{text}");
                }
                Format::Csv => {
                    reconcile::write_csv(&report.rows, &mut out).map_err(|e| e.to_string())?
                }
                Format::Table => print_table(&report.rows),
            }
            Ok(())
        }
    }
}

fn print_table(rows: &[reconcile::compare::Row]) {
    use tollgate_core::money::format_usd;
    println!(
        "{:<10}  {:<9}  {:<24}  {:>14}  {:>14}  {:>14}  {:>8}  verdict",
        "day", "provider", "model", "tollgate $", "provider $", "variance $", "%"
    );
    for r in rows {
        let model = if r.model == ALL_MODELS {
            "(all models)"
        } else {
            &r.model
        };
        println!(
            "{:<10}  {:<9}  {:<24}  {:>14}  {:>14}  {:>14}  {:>8}  {}",
            r.day,
            r.provider,
            model,
            format_usd(r.tollgate_cost_nanos),
            r.provider_cost_nanos
                .map(format_usd)
                .unwrap_or_else(|| "-".into()),
            r.variance_usd,
            r.variance_pct.as_deref().unwrap_or("-"),
            r.verdict.as_str()
        );
    }
}
