//! `tollgate-ledger check-config FILE`: every problem of a config file, with the path
//! in the document and what was expected, plus warnings.

use std::path::Path;
use std::process::ExitCode;

use crate::config_file::load;

/// `tollgate-ledger check-config FILE`.
pub fn check_config_command(path: &Path) -> ExitCode {
    match load(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!(
                    "{}: warning: at `{}`: {}",
                    path.display(),
                    w.path,
                    w.message
                );
            }
            let c = &loaded.config;
            println!(
                "{}: ok ({} lanes, {} consumer groups, {} wallets)",
                path.display(),
                c.providers.targets.len(),
                c.consumer_groups.len(),
                c.wallet_team_ids().len()
            );
            println!("{}: prices: {}", path.display(), prices_in_force(c));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}", e.report(path));
            ExitCode::FAILURE
        }
    }
}

/// Which prices requests are charged with: the catalogue and its version, and how many
/// models the config prices itself.
fn prices_in_force(config: &tollgate_core::config::Config) -> String {
    let catalogue = match (&config.catalogue, &config.price_catalogue) {
        (Some(c), Some(file)) => format!("catalogue {file} (version {})", c.version),
        _ => format!(
            "built-in catalogue (version {})",
            tollgate_core::pricing::built_in_catalogue().version
        ),
    };
    match config.pricing.len() {
        0 => catalogue,
        n => format!("{catalogue}, {n} model(s) priced by `pricing:`"),
    }
}
