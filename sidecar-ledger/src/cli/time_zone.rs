//! `tollgate-ledger time-zone show|set ZONE`: the organisation's reporting time zone,
//! the zone whose days and months the dashboard, budgets, `/v1/spend` and exports
//! count in (UTC until set). Stored in the ledger's database, so every ledger on a
//! shared PostgreSQL store counts the same days; setting it recomputes the daily
//! rollups in one transaction, safe while ledgers run (they see it on their next
//! request).

use std::process::ExitCode;

use clap::Subcommand;

use crate::calendar::ReportingCalendar;
use crate::cli::store_location::StoreLocation;
use crate::query::format_instant;

#[derive(clap::Args, Debug)]
pub struct TimeZoneArgs {
    #[command(subcommand)]
    command: TimeZoneCommand,
    #[command(flatten)]
    store: StoreLocation,
}

#[derive(Subcommand, Debug)]
enum TimeZoneCommand {
    /// Print the reporting time zone, and who set it when.
    Show,
    /// Set the reporting time zone (an IANA name: Europe/Paris, America/New_York,
    /// UTC) and recompute the days of every stored event in it.
    Set {
        zone: String,
        /// Who is changing it (recorded).
        #[arg(long, default_value = "cli")]
        actor: String,
    },
}

pub fn run(args: &TimeZoneArgs) -> ExitCode {
    match execute(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate-ledger time-zone: {e}");
            ExitCode::FAILURE
        }
    }
}

fn execute(args: &TimeZoneArgs) -> Result<(), String> {
    // Parse before opening the store, so a typo changes nothing.
    let wanted = match &args.command {
        TimeZoneCommand::Set { zone, .. } => Some(ReportingCalendar::parse(zone)?),
        TimeZoneCommand::Show => None,
    };
    let opened = args.store.open()?;
    let store = opened.store;
    let at = |e: crate::store::StoreError| format!("{}: {e}", opened.location);
    match (&args.command, wanted) {
        (TimeZoneCommand::Set { actor, .. }, Some(calendar)) => {
            let actor = actor.trim();
            if actor.is_empty() {
                return Err("--actor must not be empty".into());
            }
            let started = std::time::Instant::now();
            let change = store
                .set_reporting_zone(&calendar, actor, crate::clock::now_ms())
                .map_err(at)?;
            if change.previous == change.time_zone {
                println!("reporting time zone: {} (unchanged)", change.time_zone);
            } else {
                println!(
                    "reporting time zone: {} (was {}); days of {} events recomputed in {:.1} s",
                    change.time_zone,
                    change.previous,
                    change.events,
                    started.elapsed().as_secs_f64()
                );
            }
        }
        _ => {
            let zone = store.reporting_zone().map_err(at)?;
            if zone.changed_ms == 0 {
                println!("reporting time zone: {} (the default)", zone.time_zone);
            } else {
                println!(
                    "reporting time zone: {} (set by {} at {})",
                    zone.time_zone,
                    zone.changed_by,
                    format_instant(zone.changed_ms)
                );
            }
        }
    }
    Ok(())
}
