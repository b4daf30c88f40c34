//! `/v1/session`: who a token is, and the dashboard's HttpOnly session cookie.

use std::net::SocketAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Extension, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::api::blocking::blocking;
use crate::auth::{self, Principal};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{Store, StoreError};

use super::scope::visible_teams;

#[derive(Serialize)]
pub struct SessionJson {
    pub name: String,
    pub role: &'static str,
    pub team: Option<String>,
    /// What the token may see: `all` teams or its `team`.
    pub sees: &'static str,
    /// Teams this token may open, for the team picker.
    pub teams: Vec<String>,
    /// The organisation's reporting time zone: the dashboard's days, months and
    /// times are in it.
    pub time_zone: String,
    /// Today's date there, and now (Unix ms) when answered.
    pub today: String,
    pub now_ms: i64,
}

fn session_json(
    store: &dyn Store,
    state: &AppState,
    p: &Principal,
) -> Result<SessionJson, StoreError> {
    let teams = visible_teams(store, &state.budgets.current(), p)?;
    let calendar = store.calendar()?;
    let now = crate::clock::now_ms();
    Ok(SessionJson {
        time_zone: calendar.name().to_string(),
        today: crate::query::format_day(calendar.day_label(now)),
        now_ms: now,
        name: p.name.clone(),
        role: p.role.as_str(),
        team: p.team.clone(),
        sees: if p.confined_to().is_some() {
            "team"
        } else {
            "all"
        },
        teams: teams.into_iter().collect(),
    })
}

pub async fn get_session(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<SessionJson>, ApiError> {
    let store = state.store.clone();
    let s = state.clone();
    Ok(Json(
        blocking(move || session_json(store.as_ref(), &s, &who)).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    pub token: String,
}

/// `POST /v1/session`: checks a token and keeps it in an HttpOnly cookie. A wrong
/// token counts as a failed authentication of the peer's address (see
/// `crate::auth_limit`), like one sent to any other route.
pub async fn post_session(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Result<Json<SessionRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let token = req.token.trim().to_string();
    let peer = peer.map(|Extension(ConnectInfo(a))| a.ip());
    let now = crate::clock::now_ms();
    let digest = if auth::well_formed(&token) {
        auth::hash_token(&token)
    } else {
        String::new()
    };
    if let Some(retry_after) = state.auth_limiter.blocked(peer, &digest, now) {
        crate::metrics::METRICS.auth_refused("open", "rate_limited");
        return Ok(auth::too_many_failures(retry_after));
    }
    let store = state.store.clone();
    let s = state.clone();
    let d = digest.clone();
    let found = blocking(move || {
        if d.is_empty() {
            return Ok(auth::Checked::Unknown);
        }
        auth::check_hash(store.as_ref(), &d, now)
    })
    .await?;
    let principal = match found {
        auth::Checked::Live(p) => p,
        refused => {
            state.auth_limiter.failed(peer, now);
            let reason = if refused == auth::Checked::Expired {
                "expired"
            } else {
                "unknown"
            };
            crate::metrics::METRICS.auth_refused("open", reason);
            return Ok(if reason == "expired" {
                auth::expired()
            } else {
                auth::unauthorized("unknown or revoked token")
            });
        }
    };
    state.auth_limiter.accepted(&digest);
    let store = state.store.clone();
    let session = blocking(move || session_json(store.as_ref(), &s, &principal)).await?;
    let cookie = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200",
        auth::COOKIE
    );
    let mut r = Json(session).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|_| ApiError::bad_request("malformed token"))?,
    );
    Ok(r)
}

/// `DELETE /v1/session`: forgets the cookie.
pub async fn delete_session() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("tollgate_token=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    r
}
