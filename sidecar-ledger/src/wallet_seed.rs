//! Wallets from the config file: every team a consumer group pays from gets a wallet,
//! and each `initial_usd` is applied once (keyed, so restarts do not add it again).

use std::path::Path;

use tollgate_core::config::Config;

use crate::store::wallets::{EntryKind, NewEntry};
use crate::store::{Store, StoreError};

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
            reason: format!("initial allocation from {}", file.display()),
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
