//! The audit log over HTTP: every privileged write through the API is recorded (who by
//! token, when, what, on which team, the wallet before and after or the action's
//! answer), and `GET /v1/audit` lists it for admins (`?format=jsonl`: the whole log,
//! oldest first, one entry per line, for export).

use axum::body::{to_bytes, Body};
use axum::extract::{Query, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::api::blocking::blocking;
use crate::auth::{path_team, Principal};
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::state::{AppState, MAX_BODY_BYTES};
use crate::store::audit::{AuditEntry, NewAuditEntry};
use crate::store::tokens::Role;

/// Largest answer kept in an entry; a larger one is recorded as its size.
const MAX_RECORDED_ANSWER: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// At most this many entries (1..=1000, default 100).
    limit: Option<usize>,
    /// Only entries older than this id (the next page).
    before: Option<i64>,
    /// `json` (default: a page, newest first) or `jsonl` (every entry, oldest first).
    format: Option<String>,
}

/// Entries read per query while exporting.
const EXPORT_PAGE: usize = 1000;

#[derive(Serialize)]
pub struct AuditResponse {
    pub entries: Vec<AuditEntry>,
}

pub async fn get_audit(
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    match q.format.as_deref() {
        None | Some("json") => Ok(page(state, q).await?.into_response()),
        Some("jsonl") if q.limit.is_none() => export(state, q.before).await,
        Some("jsonl") => Err(ApiError::bad_request(
            "format=jsonl exports the whole log: 'limit' does not apply",
        )),
        Some(other) => Err(ApiError::bad_request(format!(
            "format must be json or jsonl, found '{other}'"
        ))),
    }
}

/// The whole log (older than `before`, if given), oldest first, as JSON Lines.
async fn export(state: AppState, before: Option<i64>) -> Result<Response, ApiError> {
    let store = state.store.clone();
    let entries = blocking(move || {
        let mut all = Vec::new();
        let mut before = before;
        loop {
            let page = store.audit_log(EXPORT_PAGE, before)?;
            let Some(last) = page.last() else { break };
            before = Some(last.id);
            all.extend(page);
        }
        Ok(all)
    })
    .await?;
    let mut body = Vec::new();
    for e in entries.iter().rev() {
        serde_json::to_writer(&mut body, e)
            .map_err(|e| ApiError::internal(format!("cannot write the export: {e}")))?;
        body.push(b'\n');
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"tollgate-audit.jsonl\"",
            ),
        ],
        body,
    )
        .into_response())
}

async fn page(state: AppState, q: AuditQuery) -> Result<Json<AuditResponse>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be between 1 and 1000"));
    }
    let store = state.store.clone();
    let entries = blocking(move || store.audit_log(limit, q.before)).await?;
    Ok(Json(AuditResponse { entries }))
}

/// Whether a request is a privileged write: a change made with an access token (the
/// data plane's writes and signing in are not).
fn audited(method: &Method, path: &str, who: Option<&Principal>) -> bool {
    method != Method::GET
        && method != Method::HEAD
        && method != Method::OPTIONS
        && path != "/v1/session"
        && who.is_some_and(|p| p.role != Role::Ingest)
}

/// Who acted, as the entry names them (never the token itself).
fn actor(p: &Principal) -> String {
    p.actor()
}

/// The middleware (inside authentication, so the principal is known): records each
/// successful privileged write.
pub async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let who = req.extensions().get::<Principal>().cloned();
    let path = req.uri().path().to_string();
    if !audited(req.method(), &path, who.as_ref()) {
        return next.run(req).await;
    }
    let who = who.expect("audited requests have a principal");
    let action = format!("{} {path}", req.method());
    let team = Some(path_team(&path)).filter(|t| !t.is_empty());
    // Wallet changes: the wallet before and after; other actions: the request and the
    // answer (budget changes carry their before and after in it).
    let wallet_team = team.clone().filter(|_| path.starts_with("/v1/wallets/"));
    let wallet_state = |team: Option<String>| {
        let store = state.store.clone();
        async move {
            let team = team?;
            blocking(move || store.wallet(&team, now_ms()))
                .await
                .ok()
                .flatten()
                .and_then(|w| serde_json::to_value(w).ok())
        }
    };
    let before = wallet_state(wallet_team.clone()).await;
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
        return ApiError::bad_request("request body too large or unreadable").into_response();
    };
    let request: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(answer_bytes) = to_bytes(body, usize::MAX).await else {
        return ApiError::internal("cannot read the answer").into_response();
    };
    let answer: Value = if answer_bytes.len() > MAX_RECORDED_ANSWER {
        json!({"bytes": answer_bytes.len()})
    } else {
        serde_json::from_slice(&answer_bytes).unwrap_or(Value::Null)
    };
    let (before, after) = if wallet_team.is_some() {
        (
            before,
            Some(json!({"request": request, "wallet": wallet_state(wallet_team).await})),
        )
    } else {
        (None, Some(json!({"request": request, "answer": answer})))
    };
    let entry = NewAuditEntry {
        actor: actor(&who),
        action,
        team,
        before,
        after,
    };
    let store = state.store.clone();
    if let Err(e) = blocking(move || store.record_audit(&entry, now_ms())).await {
        // The change is made and acknowledged below; a lost audit entry is logged loudly.
        tracing::error!(error = ?e.message, "cannot record an audit entry");
    }
    Response::from_parts(parts, Body::from(answer_bytes))
}
