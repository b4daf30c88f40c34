//! Leaders' actions tell the people who must answer them: an alert recorded with a
//! delivery to every configured webhook (the budget alerts' channel).

use crate::state::AppState;
use crate::store::alerts::NewAlert;
use crate::store::{Store, StoreError};

pub fn notify(
    store: &dyn Store,
    state: &AppState,
    alert: NewAlert,
    now: i64,
) -> Result<(), StoreError> {
    let config = state.config.current();
    let webhooks = config
        .as_ref()
        .as_ref()
        .map(|c| crate::budget::webhook_targets(&c.alerts))
        .unwrap_or_default();
    store.record_alert(&alert, &webhooks, now)?;
    Ok(())
}
