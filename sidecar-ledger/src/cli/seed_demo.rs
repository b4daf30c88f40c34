//! `tollgate-ledger seed-demo`: writes the demo history ([`crate::demo_history`]) into
//! the ledger's database.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::demo_history::seed;

#[derive(clap::Args, Debug)]
pub struct SeedDemoArgs {
    /// The ledger's data directory (DATA_DIR/ledger.sqlite3).
    #[arg(long, env = "TOLLGATE_LEDGER_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// PostgreSQL instead of SQLite (postgres://...).
    #[arg(long, env = "TOLLGATE_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Days of history, ending today (UTC).
    #[arg(long, default_value_t = 60)]
    pub days: u32,
    /// Multiplies every day's request count (1.0: about 100k events over 60 days).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
}

pub fn run(args: &SeedDemoArgs) -> ExitCode {
    let opened = match crate::store::open(args.database_url.as_deref(), &args.data_dir) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("tollgate-ledger seed-demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !(args.scale > 0.0 && args.scale <= 1000.0) {
        eprintln!("tollgate-ledger seed-demo: --scale must be in (0, 1000]");
        return ExitCode::FAILURE;
    }
    match seed(
        opened.store.as_ref(),
        args.days,
        args.scale,
        crate::clock::now_ms(),
    ) {
        Ok(seeded) => {
            println!(
                "seeded {} days of demo history into {}: {} events stored ({} team-days were already seeded)",
                args.days, opened.location, seeded.stored, seeded.days_already_seeded
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tollgate-ledger seed-demo: {}: {e}", opened.location);
            ExitCode::FAILURE
        }
    }
}
