//! `POST /v1/events` (ingest), `GET /v1/events` (recent events),
//! `GET /v1/rejected-events` (events that could not be read) and `GET /v1/quarantine`
//! (events the configuration checks held back).

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Extension, Query, State};
use axum::Json;
use serde::Serialize;
use tollgate_core::event::CostEvent;

use crate::api::blocking::blocking;
use crate::auth::Principal;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::ingest::{split_batch, HeldBack};
use crate::metrics::METRICS;
use crate::query::{parse_events, MAX_EVENTS_LIMIT};
use crate::state::AppState;
use crate::store::audit::NewAuditEntry;
use crate::store::quarantine::QuarantinedEvent;

#[derive(Serialize)]
pub struct IngestResponse {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: Vec<RejectedItem>,
    /// Events received and kept, but not charged: they failed the checks against the
    /// configuration (see `crate::ingest_check`). Not an error to retry.
    pub quarantined: Vec<QuarantinedItem>,
}

#[derive(Serialize)]
pub struct QuarantinedItem {
    pub index: usize,
    pub id: String,
    pub reason: &'static str,
    pub detail: String,
}

#[derive(Serialize)]
pub struct RejectedItem {
    pub index: usize,
    pub error: String,
}

/// Stores a batch. Answers only after the transaction committed, so a 200 means the
/// sender may drop the batch. Bad events are quarantined and reported, not refused:
/// a batch is never retried because of them.
///
/// Lease closings and delivery gaps in the batch are attributed to the ingest token's
/// holder (see [`Principal::lease_holder`]): a token closes only its own leases.
///
/// Each event is checked against the configuration (see `crate::config_generations`);
/// one that fails is stored in the quarantine, not charged, recorded in the audit log
/// and answered under `quarantined`, and the rest of the batch is stored as usual.
pub async fn post_events(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IngestResponse>, ApiError> {
    let body = body?;
    let received_ms = now_ms();
    let store = state.store.clone();
    let checks = state.ingest_checks.clone();
    // Parsing a large batch is CPU work: it runs on the blocking pool with the insert.
    let result = blocking(move || {
        let (mut batch, held) = match split_batch(&body, received_ms, |e| checks.check(e)) {
            Ok(split) => split,
            Err(message) => return Ok(Err(message)),
        };
        // Stored before the batch: a retried batch finds them already kept.
        let quarantined = quarantine(store.as_ref(), &who, held, received_ms)?;
        for c in &mut batch.lease_closures {
            c.instance = who.lease_holder(&c.instance);
        }
        for d in &mut batch.drops {
            d.instance = who.lease_holder(&d.instance);
        }
        // Batches posted at the same time share one transaction (group commit); the
        // answer still waits for the commit that holds this one.
        let (batch, outcome) = store.ingest_owned(batch);
        Ok(Ok((outcome?, batch.rejected, quarantined)))
    })
    .await?;
    let (outcome, rejected, quarantined) = result.map_err(ApiError::bad_request)?;
    if let Some(first) = rejected.first() {
        tracing::warn!(
            rejected = rejected.len(),
            first_index = first.index,
            first_error = %first.error,
            "quarantined cost events that could not be stored"
        );
    }
    tracing::debug!(
        accepted = outcome.accepted,
        duplicates = outcome.duplicates,
        "ingested batch"
    );
    Ok(Json(IngestResponse {
        accepted: outcome.accepted,
        duplicates: outcome.duplicates,
        rejected: rejected
            .into_iter()
            .map(|r| RejectedItem {
                index: r.index,
                error: r.error,
            })
            .collect(),
        quarantined,
    }))
}

/// Stores the held-back events in the quarantine with an audit entry naming the
/// token that posted them, and counts them by reason.
fn quarantine(
    store: &dyn crate::store::Store,
    who: &Principal,
    held: Vec<HeldBack>,
    received_ms: i64,
) -> Result<Vec<QuarantinedItem>, crate::store::StoreError> {
    if held.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<QuarantinedEvent> = held
        .iter()
        .map(|h| {
            QuarantinedEvent {
                event_id: h.event.id.clone(),
                received_ms,
                ts_ms: h.event.ts_ms,
                team: h.event.team.clone(),
                cost_nanos: h.event.cost_nanos,
                holder: who.name.clone(),
                reason: h.finding.reason.as_str().to_string(),
                detail: h.finding.detail.clone(),
                event: serde_json::to_string(&h.event).unwrap_or_default(),
            }
            .without_nul()
        })
        .collect();
    let summary: Vec<serde_json::Value> = held
        .iter()
        .map(|h| {
            serde_json::json!({
                "id": h.event.id,
                "team": h.event.team,
                "cost_nanos": h.event.cost_nanos,
                "reason": h.finding.reason.as_str(),
            })
        })
        .collect();
    let audit = NewAuditEntry {
        actor: who.actor(),
        action: "POST /v1/events (quarantined)".into(),
        team: None,
        before: None,
        after: Some(serde_json::json!({ "quarantined": summary })),
    };
    let new = store.quarantine(&rows, &audit, received_ms)?;
    for h in &held {
        METRICS.quarantined(h.finding.reason.as_str());
    }
    let first = &held[0];
    tracing::warn!(
        quarantined = held.len(),
        new,
        first_index = first.index,
        first_reason = first.finding.reason.as_str(),
        first_detail = %first.finding.detail,
        "cost events failed the checks against the configuration; quarantined, not charged"
    );
    Ok(held
        .into_iter()
        .map(|h| QuarantinedItem {
            index: h.index,
            id: h.event.id,
            reason: h.finding.reason.as_str(),
            detail: h.finding.detail,
        })
        .collect())
}

#[derive(Serialize)]
pub struct QuarantineResponse {
    pub quarantined_events: Vec<QuarantinedEventJson>,
}

#[derive(Serialize)]
pub struct QuarantinedEventJson {
    pub event_id: String,
    pub received_ms: i64,
    pub ts_ms: i64,
    pub team: String,
    pub cost_nanos: i64,
    /// The name of the ingest token that posted it.
    pub holder: String,
    pub reason: String,
    pub detail: String,
    pub event: serde_json::Value,
}

/// `GET /v1/quarantine?limit=N`: events the configuration checks held back, most
/// recently received first (admin only).
pub async fn list_quarantine(
    State(state): State<AppState>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<QuarantineResponse>, ApiError> {
    let limit = parse_limit(params?.0)?;
    let store = state.store.clone();
    let rows = blocking(move || store.quarantined_events(limit)).await?;
    Ok(Json(QuarantineResponse {
        quarantined_events: rows
            .into_iter()
            .map(|q| QuarantinedEventJson {
                event: serde_json::from_str(&q.event).unwrap_or(serde_json::Value::String(q.event)),
                event_id: q.event_id,
                received_ms: q.received_ms,
                ts_ms: q.ts_ms,
                team: q.team,
                cost_nanos: q.cost_nanos,
                holder: q.holder,
                reason: q.reason,
                detail: q.detail,
            })
            .collect(),
    }))
}

/// `limit` (1..=MAX_EVENTS_LIMIT, default 100), the only parameter.
fn parse_limit(params: Vec<(String, String)>) -> Result<usize, ApiError> {
    let mut limit = 100;
    for (name, value) in params {
        match name.as_str() {
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_EVENTS_LIMIT).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "'limit' must be a whole number from 1 to {MAX_EVENTS_LIMIT}, found '{value}'"
                        ))
                    })?
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter '{other}'; expected: limit"
                )))
            }
        }
    }
    Ok(limit)
}

#[derive(Serialize)]
pub struct EventsResponse {
    pub events: Vec<CostEvent>,
}

pub async fn list_events(
    State(state): State<AppState>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<EventsResponse>, ApiError> {
    let query = parse_events(&params?.0)?;
    let store = state.store.clone();
    let events = blocking(move || store.recent_events(&query)).await?;
    Ok(Json(EventsResponse { events }))
}

#[derive(Serialize)]
pub struct RejectedResponse {
    pub rejected_events: Vec<RejectedEventJson>,
}

#[derive(Serialize)]
pub struct RejectedEventJson {
    pub received_ms: i64,
    pub index: usize,
    pub error: String,
    /// The event's JSON text exactly as received.
    pub raw: String,
}

pub async fn list_rejected(
    State(state): State<AppState>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<RejectedResponse>, ApiError> {
    let limit = parse_limit(params?.0)?;
    let store = state.store.clone();
    let rows = blocking(move || store.rejected_events(limit)).await?;
    Ok(Json(RejectedResponse {
        rejected_events: rows
            .into_iter()
            .map(|r| RejectedEventJson {
                received_ms: r.received_ms,
                index: r.event.index,
                error: r.event.error,
                raw: r.event.raw,
            })
            .collect(),
    }))
}
