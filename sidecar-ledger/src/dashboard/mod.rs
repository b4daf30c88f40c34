//! The leaders' dashboard: one HTML page, its ES modules (`js/`: the app, one file per
//! view, see `js/views.js`) and stylesheet, and the charting library, all compiled
//! into the binary (no CDN, no build step: installs may be offline).
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

const JS: &str = "text/javascript; charset=utf-8";

/// Every file under `/assets/`: name, content type, content. A new module of the page
/// is added here (and preloaded in index.html).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "dashboard.css",
        "text/css; charset=utf-8",
        include_str!("dashboard.css"),
    ),
    ("app.js", JS, include_str!("js/app.js")),
    ("api.js", JS, include_str!("js/api.js")),
    ("url.js", JS, include_str!("js/url.js")),
    ("period.js", JS, include_str!("js/period.js")),
    ("format.js", JS, include_str!("js/format.js")),
    ("charts.js", JS, include_str!("js/charts.js")),
    ("table.js", JS, include_str!("js/table.js")),
    ("card.js", JS, include_str!("js/card.js")),
    ("live.js", JS, include_str!("js/live.js")),
    ("views.js", JS, include_str!("js/views.js")),
    ("view-budget.js", JS, include_str!("js/view-budget.js")),
    ("view-teams.js", JS, include_str!("js/view-teams.js")),
    ("view-wallet.js", JS, include_str!("js/view-wallet.js")),
    ("view-drivers.js", JS, include_str!("js/view-drivers.js")),
    ("view-mix.js", JS, include_str!("js/view-mix.js")),
    ("view-cache.js", JS, include_str!("js/view-cache.js")),
    ("view-premium.js", JS, include_str!("js/view-premium.js")),
    ("view-top.js", JS, include_str!("js/view-top.js")),
    ("view-export.js", JS, include_str!("js/view-export.js")),
    ("actions.js", JS, include_str!("js/actions.js")),
    ("view-moves.js", JS, include_str!("js/view-moves.js")),
    ("view-requests.js", JS, include_str!("js/view-requests.js")),
    (
        "view-budget-settings.js",
        JS,
        include_str!("js/view-budget-settings.js"),
    ),
    ("view-policy.js", JS, include_str!("js/view-policy.js")),
    ("view-alerts.js", JS, include_str!("js/view-alerts.js")),
    (
        "view-reconciliation.js",
        JS,
        include_str!("js/view-reconciliation.js"),
    ),
    (
        "chart.umd.min.js",
        JS,
        include_str!("vendor/chart.umd.min.js"),
    ),
    (
        "chart.js-LICENSE.md",
        "text/plain; charset=utf-8",
        include_str!("vendor/chart.js-LICENSE.md"),
    ),
];

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

/// `GET /assets/{file}`: the page's modules, stylesheet and the charting library.
pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => with_headers(content_type, body),
        None => {
            crate::error::ApiError::new(StatusCode::NOT_FOUND, "not_found_error", "no such asset")
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ASSETS;

    /// Every module the page imports or preloads is served, and every served module
    /// is preloaded (so the browser fetches them in parallel, not one import at a time).
    #[test]
    fn every_module_is_served_and_preloaded() {
        let served: Vec<&str> = ASSETS.iter().map(|(n, _, _)| *n).collect();
        for (_, _, body) in ASSETS.iter().filter(|(n, _, _)| n.ends_with(".js")) {
            for line in body.lines().filter(|l| l.starts_with("import ")) {
                let name = line
                    .rsplit("'./")
                    .next()
                    .and_then(|r| r.split('\'').next())
                    .unwrap();
                assert!(served.contains(&name), "{name} is imported but not served");
            }
        }
        let html = super::INDEX_HTML;
        for name in served
            .iter()
            .filter(|n| n.ends_with(".js") && **n != "chart.umd.min.js" && **n != "app.js")
        {
            assert!(
                html.contains(&format!(
                    "<link rel=\"modulepreload\" href=\"/assets/{name}\">"
                )),
                "{name} is not preloaded"
            );
        }
        assert!(html.contains("<script type=\"module\" src=\"/assets/app.js\">"));
    }
}
