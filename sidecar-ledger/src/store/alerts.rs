//! Budget alert and delivery records, and the daily spend budgets read, shared by
//! every store backend.

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertRecord {
    pub id: i64,
    pub team: String,
    pub period_start_ms: i64,
    pub period_end_ms: i64,
    pub kind: String,
    pub threshold_pct: i64,
    pub fired_ms: i64,
    pub spent_nanos: i64,
    pub budget_nanos: i64,
    pub forecast_nanos: i64,
    pub message: String,
    pub deliveries: Vec<DeliveryRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryRecord {
    pub id: i64,
    pub alert_id: i64,
    /// Scheme and host only: webhook URLs carry secrets (Slack's do) and never leave.
    pub target: String,
    #[serde(skip)]
    pub url: String,
    pub format: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_ms: i64,
    pub last_error: Option<String>,
    pub delivered_ms: Option<i64>,
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
