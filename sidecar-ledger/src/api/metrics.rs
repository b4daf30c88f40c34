//! `GET /metrics` (Prometheus text format) and the middleware that counts ingest and
//! lease calls from their responses, so the handlers themselves stay unchanged.

use std::time::Instant;

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::api::blocking::blocking;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::metrics::{CONTENT_TYPE, METRICS};
use crate::state::AppState;

/// How many recent alerts the delivery gauges look at (alerts fire at most once per
/// threshold per period, so this covers years).
const ALERTS_SCANNED: usize = 10_000;
/// Ingest and lease answers are a few hundred bytes; anything larger is not read.
const MAX_INSPECTED_BODY: usize = 1024 * 1024;

pub async fn get_metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if state.metrics.separate_listener {
        // Served on the metrics listener only: here it does not exist.
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            "no such endpoint; see /openapi.json",
        ));
    }
    if let Some(want) = &state.metrics.token_sha256 {
        // Compared as SHA-256 digests, so the comparison's timing says nothing useful
        // about the token.
        let presented =
            crate::auth::presented_token(&headers, false).map(|t| crate::auth::hash_token(&t));
        if presented.as_deref() != Some(want.as_ref()) {
            return Ok(crate::auth::unauthorized(
                "/metrics needs the metrics token: send 'Authorization: Bearer <token>'",
            ));
        }
    }
    let store = state.store.clone();
    let (wallets, alerts) = blocking(move || {
        let now = now_ms();
        Ok((store.wallets(now)?, store.alerts(ALERTS_SCANNED)?))
    })
    .await?;
    let text = METRICS.render(&wallets, &alerts);
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

#[derive(Deserialize)]
struct IngestCounts {
    accepted: u64,
    duplicates: u64,
    #[serde(default)]
    rejected: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct LeaseAnswer {
    granted_nanos: i64,
}

fn status_label(status: StatusCode) -> &'static str {
    if status.is_success() {
        "ok"
    } else if status.is_client_error() {
        "bad_request"
    } else {
        "error"
    }
}

/// Reads a (small) response body and puts it back.
async fn peek(response: Response) -> (Response, Option<Bytes>) {
    let (parts, body) = response.into_parts();
    match to_bytes(body, MAX_INSPECTED_BODY).await {
        Ok(bytes) => (
            Response::from_parts(parts, Body::from(bytes.clone())),
            Some(bytes),
        ),
        Err(_) => (Response::from_parts(parts, Body::empty()), None),
    }
}

/// Counts `POST /v1/events` and `POST /v1/leases`; passes everything else through.
pub async fn track(req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    match req.uri().path() {
        "/v1/events" => {
            let start = Instant::now();
            let response = next.run(req).await;
            let seconds = start.elapsed().as_secs_f64();
            let status = response.status();
            if !status.is_success() {
                METRICS.ingest(status_label(status), seconds, None, now_ms() / 1000);
                return response;
            }
            let (response, body) = peek(response).await;
            let counts = body
                .and_then(|b| serde_json::from_slice::<IngestCounts>(&b).ok())
                .map(|c| (c.accepted, c.duplicates, c.rejected.len() as u64));
            METRICS.ingest("ok", seconds, counts, now_ms() / 1000);
            response
        }
        "/v1/leases" => {
            let response = next.run(req).await;
            let status = response.status();
            if status == StatusCode::NOT_FOUND {
                METRICS.lease("unknown_wallet", 0);
                return response;
            }
            if !status.is_success() {
                METRICS.lease(
                    if status.is_client_error() {
                        "bad_request"
                    } else {
                        "error"
                    },
                    0,
                );
                return response;
            }
            let (response, body) = peek(response).await;
            let granted = body
                .and_then(|b| serde_json::from_slice::<LeaseAnswer>(&b).ok())
                .map_or(0, |l| l.granted_nanos);
            // A 200 with nothing granted: the wallet has no credit left to lease.
            METRICS.lease(if granted > 0 { "granted" } else { "exhausted" }, granted);
            response
        }
        _ => next.run(req).await,
    }
}
