//! The price table FOCUS rows split a group's cost with (the prices the filter
//! charges with), replaced when the configuration is reloaded.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use tollgate_core::config::Config;
use tollgate_core::pricing::PriceTable;

static PRICES: RwLock<Option<Arc<PriceTable>>> = RwLock::new(None);

/// Sets the price table FOCUS rows are split with: the config's catalogue (else the
/// built-in one) with its `pricing:` overrides, i.e. the prices the filter charges
/// with. Called by `serve --config` at start and on every configuration reload.
pub fn use_pricing(config: &Config) {
    let table = Arc::new(config.price_table());
    *PRICES.write().unwrap_or_else(|p| p.into_inner()) = Some(table);
}

/// The price table in force (built-in list prices when no config was given).
pub fn price_table() -> Arc<PriceTable> {
    if let Some(table) = PRICES.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
        return table.clone();
    }
    let mut slot = PRICES.write().unwrap_or_else(|p| p.into_inner());
    slot.get_or_insert_with(|| Arc::new(PriceTable::with_overrides(&BTreeMap::new())))
        .clone()
}
