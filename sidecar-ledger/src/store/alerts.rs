//! Alert and delivery records (budget thresholds, wallet low, spend anomalies,
//! leaders' actions, digests), their acknowledgements, the channels they go to, and
//! the daily spend budgets read, shared by every store backend.

use std::collections::HashMap;

use serde::Serialize;

use crate::store::error::StoreError;

/// `Store::daily_spend`'s answer from its query's `(team, day, nanos)` rows: an entry
/// for every listed team, a slot per day of `[from_day, to_day)`, 0 where no row says
/// otherwise.
pub(super) fn days_by_team(
    teams: &[String],
    from_day: i64,
    to_day: i64,
    rows: impl IntoIterator<Item = Result<(String, i64, i64), StoreError>>,
) -> Result<HashMap<String, Vec<i64>>, StoreError> {
    let days = usize::try_from(to_day - from_day).unwrap_or(0);
    let mut out: HashMap<String, Vec<i64>> =
        teams.iter().map(|t| (t.clone(), vec![0; days])).collect();
    for row in rows {
        let (team, day, nanos) = row?;
        let slot = usize::try_from(day - from_day)
            .ok()
            .and_then(|i| out.get_mut(&team)?.get_mut(i));
        if let Some(slot) = slot {
            *slot = nanos;
        }
    }
    Ok(out)
}

/// An alert about to be recorded. Storing it is a no-op if the same
/// (team, period, kind, threshold) already fired: exactly once per period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    pub team: String,
    pub period_start_ms: i64,
    pub period_end_ms: i64,
    pub kind: &'static str,
    pub threshold_pct: u32,
    pub spent_nanos: i64,
    pub budget_nanos: i64,
    pub forecast_nanos: i64,
    pub message: String,
}

/// What an alert is about besides its team, and the facts a reader acts on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlertFacts {
    /// The workflow the alert is about (`None`: the whole team). An alert about a
    /// workflow fires once per period per workflow: the store numbers each (team,
    /// workflow) and that number takes the place of `threshold_pct` in the unique key.
    pub subject: Option<String>,
    /// Kind-specific facts (JSON object; `Null`: none).
    pub details: serde_json::Value,
}

/// Where one delivery of an alert goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryTarget {
    /// The channel set through the API (`None`: a webhook of the config file).
    pub channel_id: Option<i64>,
    /// The channel's name as recorded with the delivery.
    pub channel_name: String,
    /// The webhook URL, or `mailto:` and the recipients for email.
    pub url: String,
    /// `generic`, `slack` or `email`.
    pub format: String,
}

impl DeliveryTarget {
    /// A webhook of the config file.
    pub fn config_webhook(url: &str, format: &str) -> DeliveryTarget {
        DeliveryTarget {
            channel_id: None,
            channel_name: CONFIG_CHANNEL.into(),
            url: url.into(),
            format: format.into(),
        }
    }
}

/// The channel name of deliveries to the config file's webhooks.
pub const CONFIG_CHANNEL: &str = "config file";

/// Who acknowledged an alert, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Acknowledgement {
    pub by: String,
    pub at_ms: i64,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRecord {
    pub id: i64,
    pub team: String,
    pub period_start_ms: i64,
    pub period_end_ms: i64,
    pub kind: String,
    /// The threshold for budget alerts; for other kinds a number that keeps the alert
    /// unique (a request's id, a workflow's number).
    pub threshold_pct: i64,
    pub fired_ms: i64,
    pub spent_nanos: i64,
    pub budget_nanos: i64,
    pub forecast_nanos: i64,
    pub message: String,
    /// The workflow the alert is about (`None`: the team).
    pub subject: Option<String>,
    pub details: serde_json::Value,
    pub acknowledgement: Option<Acknowledgement>,
    pub deliveries: Vec<DeliveryRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryRecord {
    pub id: i64,
    pub alert_id: i64,
    /// Scheme and host only: webhook URLs carry secrets (Slack's do) and never leave.
    /// The recipients for email.
    pub target: String,
    #[serde(skip)]
    pub url: String,
    pub format: String,
    /// The channel it was made for (`None`: a webhook of the config file) and its name.
    pub channel_id: Option<i64>,
    pub channel: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_ms: i64,
    pub last_error: Option<String>,
    pub delivered_ms: Option<i64>,
}

/// Which alerts a list shows, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertQuery {
    /// `None`: every team.
    pub team: Option<String>,
    /// Only these kinds (empty: any kind not excluded).
    pub kinds: Vec<String>,
    /// Never these kinds.
    pub exclude_kinds: Vec<String>,
    /// `Some(true)`: acknowledged only; `Some(false)`: not acknowledged only.
    pub acknowledged: Option<bool>,
    /// Only alerts with a smaller id (the previous page's last).
    pub before_id: Option<i64>,
    pub limit: usize,
}

/// An acknowledgement about to be recorded.
#[derive(Debug, Clone, Copy)]
pub struct NewAck<'a> {
    pub team: &'a str,
    pub alert_id: i64,
    pub actor: &'a str,
    pub note: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    pub now_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AckOutcome {
    Acknowledged(AlertRecord),
    /// Acknowledged before by the same person, or with the same idempotency key:
    /// nothing changed.
    Replayed(AlertRecord),
    /// Someone else acknowledged it first.
    AlreadyAcknowledged(AlertRecord),
    NotFound,
}

impl AckOutcome {
    /// Which outcome an alert already acknowledged gives this request.
    pub fn for_existing(alert: AlertRecord, ack_key: Option<&str>, ack: &NewAck<'_>) -> Self {
        let same_key = ack.idempotency_key.is_some() && ack_key == ack.idempotency_key;
        let same_actor = alert
            .acknowledgement
            .as_ref()
            .is_some_and(|a| a.by == ack.actor);
        if same_key || same_actor {
            AckOutcome::Replayed(alert)
        } else {
            AckOutcome::AlreadyAcknowledged(alert)
        }
    }
}

/// A channel about to be added.
#[derive(Debug, Clone, Copy)]
pub struct NewChannel<'a> {
    pub team: &'a str,
    /// `webhook`, `slack` or `email`.
    pub kind: &'a str,
    pub name: &'a str,
    /// The URL or the comma-separated addresses.
    pub target: &'a str,
    /// `alerts`, `digests` or `alerts,digests`.
    pub receives: &'a str,
    pub actor: &'a str,
    pub idempotency_key: Option<&'a str>,
    /// Live channels a team may have; adding one more is refused.
    pub max_per_team: usize,
    pub now_ms: i64,
}

/// A delivery channel. Not serialisable: its target may be a secret URL (the API
/// shows a masked view of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRecord {
    pub id: i64,
    pub team: String,
    pub kind: String,
    pub name: String,
    pub target: String,
    pub receives: String,
    pub created_by: String,
    pub created_ms: i64,
    pub removed_by: Option<String>,
    pub removed_ms: Option<i64>,
}

impl ChannelRecord {
    pub fn receives(&self, what: &str) -> bool {
        self.receives.split(',').any(|r| r == what)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddChannelOutcome {
    Added(ChannelRecord),
    /// The idempotency key was used before: the channel it added.
    Replayed(ChannelRecord),
    /// The team already has this many live channels.
    TooMany(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveChannelOutcome {
    /// Removed now; its pending deliveries were given up.
    Removed(ChannelRecord),
    AlreadyRemoved(ChannelRecord),
    NotFound,
}

/// The error given to a pending delivery whose channel was removed.
pub const CHANNEL_REMOVED: &str = "channel removed before delivery";

/// An alert's stored details: JSON text, or NULL for none.
pub(super) fn details_text(details: &serde_json::Value) -> Option<String> {
    (!details.is_null()).then(|| details.to_string())
}

/// An alert's details as stored (NULL or unreadable: `Null`).
pub(super) fn parse_details(text: Option<&str>) -> serde_json::Value {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// The shown target of a delivery: scheme and host of a webhook, the recipients of
/// an email.
pub fn shown_target(url: &str) -> String {
    match url.strip_prefix("mailto:") {
        Some(recipients) => recipients.to_string(),
        None => redact_url(url),
    }
}

/// `https://hooks.slack.com/services/T/B/secret` → `https://hooks.slack.com`.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            let host = host.rsplit('@').next().unwrap_or(host);
            format!("{scheme}://{host}")
        }
        None => "(invalid url)".into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn email_targets_show_their_recipients() {
        assert_eq!(
            super::shown_target("mailto:a@x.org,b@y.org"),
            "a@x.org,b@y.org"
        );
        assert_eq!(
            super::shown_target("https://hooks.slack.com/services/T/B/X"),
            "https://hooks.slack.com"
        );
    }

    #[test]
    fn urls_are_redacted_to_scheme_and_host() {
        assert_eq!(
            super::redact_url("https://hooks.slack.com/services/T0/B0/XYZ"),
            "https://hooks.slack.com"
        );
        assert_eq!(
            super::redact_url("http://user:pw@127.0.0.1:9/x?token=1"),
            "http://127.0.0.1:9"
        );
    }
}
