//! `tollgate-ledger reprice --from --to [--team] [--dry-run] [--config FILE]`:
//! recomputes the cost of a period's events from their stored usage with the price
//! catalogue in force (the built-in prices with the config file's `pricing:`), and
//! records each difference as an adjustment (see `crate::reprice`). Opens the ledger's
//! store directly, like `time-zone`.

use std::path::PathBuf;
use std::process::ExitCode;

use tollgate_core::money::format_usd;
use tollgate_core::pricing::PriceTable;

use crate::clock::now_ms;
use crate::query::parse_time;
use crate::reprice::{apply, plan, Scope};

#[derive(clap::Args, Debug)]
pub struct RepriceArgs {
    /// Start of the period (YYYY-MM-DD, UTC, or RFC 3339), inclusive.
    #[arg(long)]
    from: String,
    /// End of the period, exclusive.
    #[arg(long)]
    to: String,
    /// Only this team's events.
    #[arg(long)]
    team: Option<String>,
    /// Show what would change; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// The Tollgate config whose `pricing:` overrides the built-in prices (the file
    /// `serve --config` reads); without it, the built-in prices.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Who is repricing (recorded with the adjustments, the wallet entries and the
    /// audit log).
    #[arg(long, default_value = "cli")]
    actor: String,
    /// The ledger's data directory (DATA_DIR/ledger.sqlite3).
    #[arg(long, env = "TOLLGATE_LEDGER_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// PostgreSQL instead of SQLite (postgres://...).
    #[arg(long, env = "TOLLGATE_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

pub fn run(args: &RepriceArgs) -> ExitCode {
    match execute(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate-ledger reprice: {e}");
            ExitCode::FAILURE
        }
    }
}

fn execute(args: &RepriceArgs) -> Result<(), String> {
    let from_ms = parse_time(&args.from).map_err(|e| format!("--from {e}"))?;
    let to_ms = parse_time(&args.to).map_err(|e| format!("--to {e}"))?;
    if from_ms >= to_ms {
        return Err("--from must be before --to".into());
    }
    let actor = args.actor.trim();
    if actor.is_empty() {
        return Err("--actor must not be empty".into());
    }
    let prices = match &args.config {
        Some(path) => {
            let loaded = crate::config_file::load_or_report(path)?;
            loaded.config.price_table()
        }
        None => PriceTable::with_overrides(&Default::default()),
    };
    let opened = crate::store::open(args.database_url.as_deref(), &args.data_dir)?;
    let store = opened.store.as_ref();
    let at = |e: crate::store::StoreError| format!("{}: {e}", opened.location);
    let now = now_ms();
    let run_id = format!("reprice-{now}");
    let scope = Scope {
        from_ms,
        to_ms,
        team: args.team.clone(),
    };
    let p = plan(store, &prices, &scope, &run_id).map_err(at)?;
    let verb = if args.dry_run {
        "would change"
    } else {
        "changes"
    };
    println!(
        "{run_id}: {} events read, {} unpriced (left as recorded); {verb} {} events by {} USD ({} nanodollars)",
        p.events,
        p.unpriced,
        p.adjustments.len(),
        format_usd(p.delta_nanos()),
        p.delta_nanos()
    );
    for (team, t) in p.by_team() {
        println!(
            "  {team}: {} events, {} USD ({} nanodollars)",
            t.events,
            format_usd(t.delta_nanos),
            t.delta_nanos
        );
    }
    if args.dry_run || p.adjustments.is_empty() {
        return Ok(());
    }
    let corrected = apply(
        store,
        &p,
        &format!("{actor} (tollgate-ledger reprice)"),
        now,
    )
    .map_err(at)?;
    println!(
        "recorded {} adjustments; wallet corrections: {}",
        p.adjustments.len(),
        if corrected.is_empty() {
            "none".to_string()
        } else {
            corrected.join(", ")
        }
    );
    Ok(())
}
