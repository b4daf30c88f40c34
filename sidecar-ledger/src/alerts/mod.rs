//! Alerts leaders see and act on: where each one goes (the config file's webhooks,
//! which hear every team, and the team's own channels), what on the dashboard explains
//! it and what answers it ([`guide`]), the team channels' rules ([`channels`]), spend
//! anomalies ([`anomaly`]), low wallets ([`wallet_low`]) and email ([`email`]).

pub mod anomaly;
pub mod channels;
pub mod email;
pub mod guide;
pub mod wallet_low;

use tollgate_core::config::{AlertsConfig, WebhookFormat};

use crate::store::alerts::{AlertFacts, DeliveryTarget, NewAlert};
use crate::store::{Store, StoreError};

/// What a channel receives: alerts as they fire…
pub const ALERTS: &str = "alerts";
/// …and the periodic digests.
pub const DIGESTS: &str = "digests";

/// Where a notice about `team` goes: every webhook of the config file, then each of
/// the team's live channels that receives `what`.
pub fn targets(
    store: &dyn Store,
    config: &AlertsConfig,
    team: &str,
    what: &str,
) -> Result<Vec<DeliveryTarget>, StoreError> {
    let mut out: Vec<DeliveryTarget> = config
        .webhooks
        .iter()
        .map(|w| {
            let format = match w.format {
                WebhookFormat::Generic => "generic",
                WebhookFormat::Slack => "slack",
            };
            DeliveryTarget::config_webhook(&w.url, format)
        })
        .collect();
    for c in store.alert_channels(Some(team))? {
        if c.receives(what) {
            out.push(channels::delivery_target(&c));
        }
    }
    Ok(out)
}

/// Records an alert once, with a pending delivery to each of its targets. `Some(id)`
/// when it fired now, `None` when it had fired before.
pub fn record(
    store: &dyn Store,
    config: &AlertsConfig,
    alert: &NewAlert,
    facts: &AlertFacts,
    now_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let targets = targets(store, config, &alert.team, ALERTS)?;
    store.record_alert_to(alert, facts, &targets, now_ms)
}
