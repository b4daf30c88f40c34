//! A team's own alert channels: a webhook (Tollgate's JSON body), a Slack-compatible
//! webhook (`{"text": …}`, also understood by Mattermost, Rocket.Chat, Teams
//! workflows) or email addresses. What a new channel must be, how it is shown (a
//! webhook URL is a secret: scheme and host only) and where its deliveries go.

use serde::{Deserialize, Serialize};

use crate::store::alerts::{redact_url, ChannelRecord, DeliveryTarget};

/// What a channel receives: alerts as they fire…
pub const ALERTS: &str = "alerts";
/// …and the periodic digests.
pub const DIGESTS: &str = "digests";

/// Live channels a team may have.
pub const MAX_PER_TEAM: usize = 10;
const MAX_NAME: usize = 80;
const MAX_URL: usize = 2048;
const MAX_RECIPIENTS: usize = 20;

/// `POST /v1/teams/{team}/alert-channels`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelBody {
    /// `webhook`, `slack` or `email`.
    pub kind: String,
    pub name: String,
    /// The URL, or the comma-separated email addresses.
    pub target: String,
    /// `alerts`, `digests` (default: both).
    #[serde(default)]
    pub receives: Option<Vec<String>>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// A channel body checked: what the store records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidChannel {
    pub kind: &'static str,
    pub name: String,
    pub target: String,
    pub receives: String,
}

impl ChannelBody {
    pub fn validate(&self) -> Result<ValidChannel, String> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control)
        {
            return Err(format!(
                "name: expected 1 to {MAX_NAME} characters without control characters"
            ));
        }
        let (kind, target) = match self.kind.as_str() {
            "webhook" => ("webhook", web_url(&self.target)?),
            "slack" => ("slack", web_url(&self.target)?),
            "email" => ("email", recipients(&self.target)?),
            other => {
                return Err(format!(
                    "kind: expected webhook, slack or email, not '{other}'"
                ))
            }
        };
        let mut receives: Vec<&str> = Vec::new();
        for r in self
            .receives
            .clone()
            .unwrap_or_else(|| vec![ALERTS.into(), DIGESTS.into()])
        {
            let r = match r.as_str() {
                ALERTS => ALERTS,
                DIGESTS => DIGESTS,
                other => {
                    return Err(format!(
                        "receives: expected 'alerts' and/or 'digests', not '{other}'"
                    ))
                }
            };
            if !receives.contains(&r) {
                receives.push(r);
            }
        }
        if receives.is_empty() {
            return Err("receives: expected 'alerts' and/or 'digests'".into());
        }
        receives.sort_unstable();
        Ok(ValidChannel {
            kind,
            name: name.to_string(),
            target,
            receives: receives.join(","),
        })
    }
}

fn web_url(text: &str) -> Result<String, String> {
    let url = text.trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    if url.len() > MAX_URL
        || !host.is_some_and(|h| !h.is_empty() && !h.contains('@'))
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(
            "target: expected an http:// or https:// URL with a host (no user:password@)".into(),
        );
    }
    Ok(url.to_string())
}

fn recipients(text: &str) -> Result<String, String> {
    let mut out = Vec::new();
    for part in text
        .split([',', ';', ' ', '\n'])
        .filter(|p| !p.trim().is_empty())
    {
        let addr: lettre::Address = part
            .trim()
            .parse()
            .map_err(|_| format!("target: '{}' is not an email address", part.trim()))?;
        out.push(addr.to_string());
    }
    if out.is_empty() || out.len() > MAX_RECIPIENTS {
        return Err(format!(
            "target: expected 1 to {MAX_RECIPIENTS} email addresses, comma-separated"
        ));
    }
    Ok(out.join(","))
}

/// How a channel's target is shown: a webhook's scheme and host (its path is the
/// secret), an email channel's addresses.
pub fn masked_target(kind: &str, target: &str) -> String {
    match kind {
        "email" => target.to_string(),
        _ => format!("{}/…", redact_url(target)),
    }
}

/// Where a delivery to the channel goes, as the store records it.
pub fn delivery_target(c: &ChannelRecord) -> DeliveryTarget {
    let (url, format) = match c.kind.as_str() {
        "email" => (format!("mailto:{}", c.target), "email"),
        "slack" => (c.target.clone(), "slack"),
        _ => (c.target.clone(), "generic"),
    };
    DeliveryTarget {
        channel_id: Some(c.id),
        channel_name: c.name.clone(),
        url,
        format: format.into(),
    }
}

/// A channel as the API shows it: never its secret URL.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelJson {
    pub id: i64,
    pub team: String,
    pub kind: String,
    pub name: String,
    pub target: String,
    pub receives: Vec<String>,
    pub created_by: String,
    pub created_ms: i64,
}

impl From<&ChannelRecord> for ChannelJson {
    fn from(c: &ChannelRecord) -> Self {
        ChannelJson {
            id: c.id,
            team: c.team.clone(),
            kind: c.kind.clone(),
            name: c.name.clone(),
            target: masked_target(&c.kind, &c.target),
            receives: c.receives.split(',').map(str::to_string).collect(),
            created_by: c.created_by.clone(),
            created_ms: c.created_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(kind: &str, target: &str) -> ChannelBody {
        ChannelBody {
            kind: kind.into(),
            name: " on-call ".into(),
            target: target.into(),
            receives: None,
            idempotency_key: None,
        }
    }

    #[test]
    fn channels_are_checked_and_their_secrets_masked() {
        let slack = body("slack", "https://hooks.slack.com/services/T0/B0/XYZ")
            .validate()
            .unwrap();
        assert_eq!(
            (slack.kind, slack.name.as_str(), slack.receives.as_str()),
            ("slack", "on-call", "alerts,digests")
        );
        assert_eq!(
            masked_target("slack", &slack.target),
            "https://hooks.slack.com/…"
        );
        let mail = body("email", "a@example.com; b@example.org")
            .validate()
            .unwrap();
        assert_eq!(mail.target, "a@example.com,b@example.org");
        assert_eq!(masked_target("email", &mail.target), mail.target);
        for (kind, target) in [
            ("slack", "hooks.slack.com/services/x"),
            ("webhook", "ftp://x.org/a"),
            ("webhook", "https://user:pw@x.org/a"),
            ("webhook", "https:///nohost"),
            ("email", "not an address"),
            ("email", ""),
            ("pager", "https://x.org"),
        ] {
            assert!(body(kind, target).validate().is_err(), "{kind} {target}");
        }
        let mut only = body("webhook", "http://127.0.0.1:9/h");
        only.receives = Some(vec!["digests".into()]);
        assert_eq!(only.validate().unwrap().receives, "digests");
        only.receives = Some(vec!["pages".into()]);
        assert!(only.validate().is_err());
        only.receives = Some(vec![]);
        assert!(only.validate().is_err());
    }
}
