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
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}", e.report(path));
            ExitCode::FAILURE
        }
    }
}
