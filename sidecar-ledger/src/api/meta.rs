//! Health and the OpenAPI document (the home page is the dashboard, `crate::dashboard`).

use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

/// Hand-written and kept beside the code it describes; a test checks that every
/// route is in it.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON)
}
