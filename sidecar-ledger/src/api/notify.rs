//! Leaders' actions tell the people who must answer them: an alert recorded with a
//! delivery to every configured webhook and to the team's own alert channels.

use crate::state::AppState;
use crate::store::alerts::{AlertFacts, NewAlert};
use crate::store::{Store, StoreError};

pub fn notify(
    store: &dyn Store,
    state: &AppState,
    alert: NewAlert,
    now: i64,
) -> Result<(), StoreError> {
    let config = state.config.current();
    let alerts = config
        .as_ref()
        .as_ref()
        .map(|c| c.alerts.clone())
        .unwrap_or_default();
    crate::alerts::record(store, &alerts, &alert, &AlertFacts::default(), now)?;
    Ok(())
}
