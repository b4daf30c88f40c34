//! Webhook deliveries of budget alerts: a generic JSON body or Slack's `{"text"}`,
//! retried with backoff, every attempt's outcome recorded.

use std::time::Duration;

use serde_json::json;
use tollgate_core::money::format_usd;

use crate::store::alerts::{AlertRecord, DeliveryRecord};
use crate::store::{Store, StoreError};

/// Attempts before a delivery is marked failed (backoff 1 s doubling: about 4 min).
pub const MAX_ATTEMPTS: i64 = 9;

pub fn payload(d: &DeliveryRecord, a: &AlertRecord) -> serde_json::Value {
    match d.format.as_str() {
        "slack" => json!({"text": a.message}),
        _ => json!({
            "type": "tollgate.budget_alert",
            "alert_id": a.id,
            "team": a.team,
            "kind": a.kind,
            "threshold_pct": a.threshold_pct,
            "period_start_ms": a.period_start_ms,
            "period_end_ms": a.period_end_ms,
            "spent_usd": format_usd(a.spent_nanos),
            "budget_usd": format_usd(a.budget_nanos),
            "forecast_usd": format_usd(a.forecast_nanos),
            "message": a.message,
            "fired_ms": a.fired_ms,
        }),
    }
}

fn send(agent: &ureq::Agent, d: &DeliveryRecord, a: &AlertRecord) -> Result<(), String> {
    match agent.post(&d.url).send_json(payload(d, a)) {
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
pub fn deliver_due(store: &dyn Store, now_ms: impl Fn() -> i64) -> Result<usize, StoreError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let due = store.due_deliveries(now_ms())?;
    let mut delivered = 0;
    for (d, a) in due {
        let outcome = send(&agent, &d, &a);
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
