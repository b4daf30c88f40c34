//! `POST /v1/events` (ingest), `GET /v1/events` (recent events) and
//! `GET /v1/rejected-events` (the quarantine).

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
use crate::ingest::split_batch;
use crate::query::{parse_events, MAX_EVENTS_LIMIT};
use crate::state::AppState;

#[derive(Serialize)]
pub struct IngestResponse {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: Vec<RejectedItem>,
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
pub async fn post_events(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IngestResponse>, ApiError> {
    let body = body?;
    let received_ms = now_ms();
    let store = state.store.clone();
    // Parsing a large batch is CPU work: it runs on the blocking pool with the insert.
    let result = blocking(move || {
        let mut batch = match split_batch(&body, received_ms) {
            Ok(batch) => batch,
            Err(message) => return Ok(Err(message)),
        };
        for c in &mut batch.lease_closures {
            c.instance = who.lease_holder(&c.instance);
        }
        for d in &mut batch.drops {
            d.instance = who.lease_holder(&d.instance);
        }
        // Batches posted at the same time share one transaction (group commit); the
        // answer still waits for the commit that holds this one.
        let (batch, outcome) = store.ingest_owned(batch);
        Ok(Ok((outcome?, batch.rejected)))
    })
    .await?;
    let (outcome, rejected) = result.map_err(ApiError::bad_request)?;
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
    }))
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
    let mut limit = 100;
    for (name, value) in params?.0 {
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
