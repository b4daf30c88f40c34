//! The leaders' dashboard: one HTML page, its script and stylesheet, and the charting
//! library, all compiled into the binary (no CDN: installs may be offline).
//!
//! The page holds no data: it asks for a token (kept in an HttpOnly cookie by
//! `POST /v1/session`) and draws every chart from `/v1/insights/*`.
//!
//! Vendored: Chart.js 4.6.1 (`vendor/chart.umd.min.js`, from the npm package
//! `chart.js@4.6.1`, `dist/chart.umd.min.js`, unmodified; MIT licence in
//! `vendor/chart.js-LICENSE.md`, also served at `/assets/chart.js-LICENSE.md`).
//! npm integrity of the package: sha512-hJyniucsFmq//EvXYvJ6c6mahPoI3kaxdjVH8awTaJ/fDNWeSqqqArixMJWkWNN6fcYvPU3HneSANFNYtRi61g==

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const INDEX_HTML: &str = include_str!("index.html");
const DASHBOARD_JS: &str = include_str!("dashboard.js");
const DASHBOARD_CSS: &str = include_str!("dashboard.css");
const CHART_JS: &str = include_str!("vendor/chart.umd.min.js");
const CHART_JS_LICENSE: &str = include_str!("vendor/chart.js-LICENSE.md");

/// Scripts and styles only from the ledger itself; no framing, no third parties.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn with_headers(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Revalidated on every load: a new ledger binary serves new assets at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// `GET /`: the dashboard page.
pub async fn index() -> Response {
    let mut r = with_headers("text/html; charset=utf-8", INDEX_HTML);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// `GET /assets/{file}`: the page's script, stylesheet and the charting library.
pub async fn asset(Path(file): Path<String>) -> Response {
    match file.as_str() {
        "dashboard.js" => with_headers("text/javascript; charset=utf-8", DASHBOARD_JS),
        "dashboard.css" => with_headers("text/css; charset=utf-8", DASHBOARD_CSS),
        "chart.umd.min.js" => with_headers("text/javascript; charset=utf-8", CHART_JS),
        "chart.js-LICENSE.md" => with_headers("text/plain; charset=utf-8", CHART_JS_LICENSE),
        _ => crate::error::ApiError::new(StatusCode::NOT_FOUND, "not_found_error", "no such asset")
            .into_response(),
    }
}
