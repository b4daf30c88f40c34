//! Deliveries of alerts and digests: a webhook's JSON body, a Slack-compatible
//! webhook's `{"text"}`, or an email over SMTP; retried with backoff, every attempt's
//! outcome recorded.

use std::time::Duration;

use serde_json::json;
use tollgate_core::config::AlertsConfig;
use tollgate_core::money::format_usd;

use crate::alerts::email::Smtp;
use crate::alerts::guide::{guide, team_link};
use crate::store::alerts::{AlertRecord, DeliveryRecord};
use crate::store::{Store, StoreError};

/// Attempts before a delivery is marked failed (backoff 1 s doubling: about 4 min).
pub const MAX_ATTEMPTS: i64 = 9;

/// What a round of deliveries needs besides the store: the SMTP server (or why there
/// is none usable) and the dashboard's address for links back.
#[derive(Debug, Clone)]
pub struct Channels {
    pub smtp: Result<Option<Smtp>, String>,
    pub dashboard_url: Option<String>,
}

impl Channels {
    /// From the alert settings in force and the process environment.
    pub fn from_settings(alerts: &AlertsConfig) -> Channels {
        Channels {
            smtp: Smtp::from_settings(alerts.email.as_ref(), |n| std::env::var(n).ok()),
            dashboard_url: alerts.dashboard_url.clone(),
        }
    }
}

fn link(c: &Channels, a: &AlertRecord) -> Option<String> {
    c.dashboard_url
        .as_deref()
        .map(|base| team_link(base, &a.team))
}

pub fn payload(d: &DeliveryRecord, a: &AlertRecord, c: &Channels) -> serde_json::Value {
    let link = link(c, a);
    match d.format.as_str() {
        "slack" => match &link {
            Some(l) => json!({"text": format!("{}\n<{l}|Open {} in Tollgate>", a.message, a.team)}),
            None => json!({"text": a.message}),
        },
        _ => {
            let g = guide(&a.kind);
            json!({
                "type": "tollgate.budget_alert",
                "alert_id": a.id,
                "team": a.team,
                "kind": a.kind,
                "title": g.title,
                "subject": a.subject,
                "threshold_pct": a.threshold_pct,
                "period_start_ms": a.period_start_ms,
                "period_end_ms": a.period_end_ms,
                "spent_usd": format_usd(a.spent_nanos),
                "budget_usd": format_usd(a.budget_nanos),
                "forecast_usd": format_usd(a.forecast_nanos),
                "message": a.message,
                "details": a.details,
                "explain": g.explain,
                "action": g.action,
                "link": link,
                "fired_ms": a.fired_ms,
            })
        }
    }
}

/// An email's subject and text.
pub fn email(a: &AlertRecord, c: &Channels) -> (String, String) {
    if let Some(subject) = a.details.get("subject").and_then(|s| s.as_str()) {
        // A digest: its own subject, its text already links back.
        return (subject.to_string(), a.message.clone());
    }
    let g = guide(&a.kind);
    let subject = format!("[Tollgate] {}: {}", g.title, a.team);
    let mut text = format!("{}\n\n", a.message);
    match link(c, a) {
        Some(l) => text.push_str(&format!(
            "Open {} on the dashboard: {l}\n({}: the \"{}\" card; {}: the \"{}\" card.)\n",
            a.team, g.explain.label, g.explain.view, g.action.label, g.action.view
        )),
        None => text.push_str(&format!(
            "On the dashboard, team {}: {} (the \"{}\" card); {} (the \"{}\" card).\n",
            a.team, g.explain.label, g.explain.view, g.action.label, g.action.view
        )),
    }
    text.push_str(&format!("\nAlert #{} of team {}.\n", a.id, a.team));
    (subject, text)
}

fn send(
    agent: &ureq::Agent,
    d: &DeliveryRecord,
    a: &AlertRecord,
    c: &Channels,
) -> Result<(), String> {
    if d.format == "email" {
        let smtp = match &c.smtp {
            Ok(Some(s)) => s,
            Ok(None) => {
                return Err("no SMTP server configured (alerts.email or TOLLGATE_SMTP_HOST)".into())
            }
            Err(e) => return Err(e.clone()),
        };
        let (subject, text) = email(a, c);
        return smtp.send(
            d.url.strip_prefix("mailto:").unwrap_or(&d.url),
            &subject,
            &text,
        );
    }
    match agent.post(&d.url).send_json(payload(d, a, c)) {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
        // The error text may quote the URL: keep only the redacted target.
        Err(e) => Err(format!("cannot reach {}: {}", d.target, error_kind(&e))),
    }
}

fn error_kind(e: &ureq::Error) -> &'static str {
    match e {
        ureq::Error::Timeout(_) => "timeout",
        ureq::Error::Io(_) => "connection failed",
        ureq::Error::HostNotFound => "host not found",
        _ => "request failed",
    }
}

/// Sends every due delivery once. Blocking: run it off the async workers.
pub fn deliver_due(
    store: &dyn Store,
    channels: &Channels,
    now_ms: impl Fn() -> i64,
) -> Result<usize, StoreError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let due = store.due_deliveries(now_ms())?;
    let mut delivered = 0;
    for (d, a) in due {
        let outcome = send(&agent, &d, &a, channels);
        match &outcome {
            Ok(()) => delivered += 1,
            Err(e) => tracing::warn!(
                delivery = d.id,
                target = d.target,
                error = e,
                "alert delivery failed"
            ),
        }
        store.finish_delivery(d.id, outcome, now_ms(), MAX_ATTEMPTS)?;
    }
    Ok(delivered)
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    use super::*;
    use crate::alerts::channels::{ChannelBody, ValidChannel};
    use crate::store::alerts::{AddChannelOutcome, AlertFacts, NewAlert, NewChannel};
    use crate::store::SqliteStore;
    use crate::test_util::TempDir;

    /// A one-message SMTP server on 127.0.0.1: answers the dialogue and returns the
    /// envelope recipients and the DATA it received.
    fn smtp_sink() -> (u16, std::thread::JoinHandle<(Vec<String>, String)>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut out = stream.try_clone().unwrap();
            let mut lines = BufReader::new(stream);
            out.write_all(b"220 sink ESMTP\r\n").unwrap();
            let (mut rcpt, mut data, mut in_data) = (Vec::new(), String::new(), false);
            let mut line = String::new();
            while lines.read_line(&mut line).unwrap() > 0 {
                if in_data {
                    if line == ".\r\n" {
                        in_data = false;
                        out.write_all(b"250 queued\r\n").unwrap();
                    } else {
                        data.push_str(&line);
                    }
                } else {
                    let upper = line.to_ascii_uppercase();
                    if upper.starts_with("EHLO") {
                        out.write_all(b"250-sink\r\n250 8BITMIME\r\n").unwrap();
                    } else if upper.starts_with("RCPT TO:") {
                        rcpt.push(line[8..].trim().to_string());
                        out.write_all(b"250 ok\r\n").unwrap();
                    } else if upper.starts_with("DATA") {
                        in_data = true;
                        out.write_all(b"354 go on\r\n").unwrap();
                    } else if upper.starts_with("QUIT") {
                        out.write_all(b"221 bye\r\n").unwrap();
                        break;
                    } else {
                        out.write_all(b"250 ok\r\n").unwrap();
                    }
                }
                line.clear();
            }
            (rcpt, data)
        });
        (port, handle)
    }

    #[test]
    fn an_email_channel_gets_the_alert_with_its_link_and_is_marked_delivered() {
        let dir = TempDir::new();
        let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
        let ValidChannel {
            kind,
            name,
            target,
            receives,
        } = ChannelBody {
            kind: "email".into(),
            name: "leads".into(),
            target: "lead@example.com, cfo@example.com".into(),
            receives: None,
            idempotency_key: None,
        }
        .validate()
        .unwrap();
        let AddChannelOutcome::Added(_) = store
            .add_alert_channel(&NewChannel {
                team: "team_a",
                kind,
                name: &name,
                target: &target,
                receives: &receives,
                actor: "lead",
                idempotency_key: None,
                max_per_team: 10,
                now_ms: 1,
            })
            .unwrap()
        else {
            panic!("added")
        };
        let alerts = AlertsConfig {
            dashboard_url: Some("https://tollgate.example.com".into()),
            ..AlertsConfig::default()
        };
        let id = crate::alerts::record(
            &store,
            &alerts,
            &NewAlert {
                team: "team_a".into(),
                period_start_ms: 0,
                period_end_ms: 0,
                kind: "wallet_low",
                threshold_pct: 20,
                spent_nanos: 0,
                budget_nanos: 0,
                forecast_nanos: 0,
                message: "Wallet low: team_a has $15.00 left.".into(),
            },
            &AlertFacts::default(),
            10,
        )
        .unwrap()
        .unwrap();

        // Without a server the delivery fails with the reason, and is retried.
        let none = Channels {
            smtp: Ok(None),
            dashboard_url: alerts.dashboard_url.clone(),
        };
        assert_eq!(deliver_due(&store, &none, || 20).unwrap(), 0);
        let d = &store.alert(id).unwrap().unwrap().deliveries[0];
        assert_eq!(d.status, "pending");
        assert!(d
            .last_error
            .as_deref()
            .unwrap()
            .starts_with("no SMTP server"));

        let (port, sink) = smtp_sink();
        let smtp = Smtp::from_settings(None, |n| match n {
            "TOLLGATE_SMTP_HOST" => Some("127.0.0.1".into()),
            "TOLLGATE_SMTP_PORT" => Some(port.to_string()),
            "TOLLGATE_SMTP_TLS" => Some("none".into()),
            "TOLLGATE_SMTP_FROM" => Some("Tollgate <tollgate@example.com>".into()),
            _ => None,
        })
        .unwrap();
        let channels = Channels {
            smtp: Ok(smtp),
            dashboard_url: alerts.dashboard_url.clone(),
        };
        assert_eq!(deliver_due(&store, &channels, || 100_000).unwrap(), 1);
        let (rcpt, data) = sink.join().unwrap();
        // The body is quoted-printable: join soft line breaks, decode `=3D`.
        let data = data.replace("=\r\n", "").replace("=3D", "=");
        assert_eq!(rcpt, vec!["<lead@example.com>", "<cfo@example.com>"]);
        assert!(
            data.contains("Subject: [Tollgate] Wallet low: team_a"),
            "{data}"
        );
        assert!(
            data.contains("Wallet low: team_a has $15.00 left."),
            "{data}"
        );
        assert!(
            data.contains("https://tollgate.example.com/#scope=team_a&range=30d"),
            "{data}"
        );
        assert!(data.contains("Ask for more allocation"), "{data}");
        let d = &store.alert(id).unwrap().unwrap().deliveries[0];
        assert_eq!(
            (d.status.as_str(), d.channel.as_str()),
            ("delivered", "leads")
        );
        assert_eq!(d.target, "lead@example.com,cfo@example.com");
    }
}
