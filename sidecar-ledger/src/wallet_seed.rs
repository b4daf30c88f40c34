//! Wallets from the config file: every team a consumer group pays from gets a wallet,
//! and each `initial_usd` is applied once (keyed, so restarts do not add it again).

use std::path::Path;

use tollgate_core::config::Config;

use crate::store::wallets::{EntryKind, NewEntry};
use crate::store::{Store, StoreError};

/// How an entry names the config file: its file name only. Stored entries and API
/// answers carry no host details such as directories.
fn source_name(file: &Path) -> String {
    match file.file_name().and_then(|n| n.to_str()) {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => "the config file".to_string(),
    }
}

pub fn seed_wallets(
    store: &dyn Store,
    config: &Config,
    file: &Path,
    now_ms: i64,
) -> Result<(), StoreError> {
    for team in config.wallet_team_ids() {
        store.ensure_wallet(&team, now_ms)?;
    }
    for w in config.wallets.iter().flatten() {
        if w.initial_usd.0 <= 0 {
            continue;
        }
        let entry = NewEntry {
            team: w.team_id.clone(),
            kind: EntryKind::Initial,
            amount_nanos: w.initial_usd.0,
            actor: "config".into(),
            reason: format!("initial allocation from {}", source_name(file)),
            idempotency_key: Some(format!("config-initial:{}", w.team_id)),
        };
        store.allocate(&entry, now_ms)?;
    }
    tracing::info!(
        wallets = config.wallet_team_ids().len(),
        "wallets seeded from config"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_name_the_config_file_without_its_directory() {
        assert_eq!(
            source_name(Path::new("/home/ops/secret-dir/tollgate.yaml")),
            "tollgate.yaml"
        );
        assert_eq!(source_name(Path::new("tollgate.yaml")), "tollgate.yaml");
        assert_eq!(source_name(Path::new("/")), "the config file");
    }

    #[test]
    fn the_opening_allocation_reason_holds_no_path() {
        let dir = crate::test_util::TempDir::new();
        let store = crate::store::sqlite::SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
        let config: Config =
            serde_yaml_ng::from_str(include_str!("../../examples/tollgate.yaml")).unwrap();
        let file = dir.path().join("conf").join("tollgate.yaml");
        seed_wallets(&store, &config, &file, 1_000).unwrap();
        let entries = store.wallet_entries("team_support", 10).unwrap();
        let reasons: Vec<&str> = entries.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons, ["initial allocation from tollgate.yaml"]);
    }
}
