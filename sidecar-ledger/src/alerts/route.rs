//! Where a notice goes: the config file's webhooks (every team's alerts, finance's
//! digest), a team's own channels, the organisation's; and recording an alert with a
//! pending delivery to each.

use tollgate_core::config::{AlertsConfig, WebhookFormat};

use super::channels::{self, ALERTS};
use crate::store::alerts::{AlertFacts, DeliveryTarget, NewAlert};
use crate::store::{Store, StoreError};

/// The organisation's own channels are kept under this team name: they hear every
/// team's alerts and finance's monthly digest.
pub const ORGANISATION: &str = "*";

/// The config file's webhooks, which hear every team's alerts and finance's digest.
pub fn config_targets(config: &AlertsConfig) -> Vec<DeliveryTarget> {
    config
        .webhooks
        .iter()
        .map(|w| {
            let format = match w.format {
                WebhookFormat::Generic => "generic",
                WebhookFormat::Slack => "slack",
            };
            DeliveryTarget::config_webhook(&w.url, format)
        })
        .collect()
}

/// The live channels of `team` (a team, or [`ORGANISATION`]) that receive `what`.
pub fn channel_targets(
    store: &dyn Store,
    team: &str,
    what: &str,
) -> Result<Vec<DeliveryTarget>, StoreError> {
    Ok(store
        .alert_channels(Some(team))?
        .iter()
        .filter(|c| c.receives(what))
        .map(channels::delivery_target)
        .collect())
}

/// Where an alert about `team` goes: every webhook of the config file, the team's
/// channels and the organisation's that receive alerts.
fn targets(
    store: &dyn Store,
    config: &AlertsConfig,
    team: &str,
) -> Result<Vec<DeliveryTarget>, StoreError> {
    let mut out = config_targets(config);
    out.extend(channel_targets(store, team, ALERTS)?);
    if team != ORGANISATION {
        out.extend(channel_targets(store, ORGANISATION, ALERTS)?);
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
    let targets = targets(store, config, &alert.team)?;
    store.record_alert_to(alert, facts, &targets, now_ms)
}
