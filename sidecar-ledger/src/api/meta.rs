//! Health, the OpenAPI document and the placeholder home page.

use axum::http::header;
use axum::response::{Html, IntoResponse};
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

pub async fn index() -> Html<&'static str> {
    Html(INDEX_HTML)
}

const INDEX_HTML: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Tollgate ledger</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto;">
<h1>Tollgate ledger</h1>
<p>The spend dashboard is coming. Until then, the API answers:</p>
<ul>
<li><a href="/v1/spend?group_by=team">/v1/spend?group_by=team</a> &mdash; spend by team, last 30 days</li>
<li><a href="/v1/spend?group_by=team,model">/v1/spend?group_by=team,model</a> &mdash; by team and model</li>
<li><a href="/v1/events?limit=20">/v1/events?limit=20</a> &mdash; the latest cost events</li>
<li><a href="/openapi.json">/openapi.json</a> &mdash; the API description (OpenAPI 3.1)</li>
</ul>
</body>
</html>
"#;
