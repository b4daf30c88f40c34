//! What every action endpoint (`POST /v1/teams/{team}/…`) checks first, in one place:
//! a token was presented, the JSON body parses, and the team is one the config names.

use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::Json;

use crate::error::ApiError;
use crate::state::AppState;

/// 401 for an action made without a token (reads may be open; actions never are).
pub fn needs_token(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "authentication_error",
        format!("{what} needs a token"),
    )
}

/// The parsed body, or a 400 naming what is wrong with it.
pub fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(b)| b)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

/// 404 for a team the config does not name (any team is accepted without a config).
pub fn known_team(state: &AppState, team: &str) -> Result<(), ApiError> {
    match state.known() {
        Some(k) if !k.teams.iter().any(|t| t == team) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            format!("no team '{team}' in the configuration"),
        )),
        _ => Ok(()),
    }
}
