//! `GET /metrics` through the router: open, behind a token, or on its own listener.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use tower::ServiceExt;

use super::{metrics_router, router_with};
use crate::state::{AppState, MetricsAccess, DEFAULT_LEASE_TTL_MS};
use crate::store::SqliteStore;
use crate::test_util::TempDir;

const TOKEN: &str = "metrics-token-0123456789";

fn state(dir: &TempDir, metrics: MetricsAccess) -> AppState {
    let store = SqliteStore::open(&dir.path().join("ledger.sqlite3")).unwrap();
    AppState {
        store: Arc::new(store),
        lease_ttl_ms: DEFAULT_LEASE_TTL_MS,
        budgets: crate::config_reload::Shared::new(Vec::new()),
        require_tokens: false,
        metrics,
        config: crate::config_reload::Shared::new(None),
        auth_limiter: Default::default(),
        ingest_checks: Default::default(),
        lease_holder_share_percent: tollgate_core::lease::DEFAULT_HOLDER_SHARE_PERCENT,
    }
}

async fn get(app: &Router, path: &str, bearer: Option<&str>) -> (StatusCode, String) {
    let mut req = Request::get(path);
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn metrics_are_open_by_default() {
    let dir = TempDir::new();
    let app = router_with(state(&dir, MetricsAccess::default()));
    let (status, body) = get(&app, "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("tollgate_ledger_ingest_batch_duration_seconds"));
}

#[tokio::test]
async fn a_metrics_token_is_required_when_configured() {
    let dir = TempDir::new();
    let access = MetricsAccess {
        token_sha256: Some(crate::auth::hash_token(TOKEN).into()),
        separate_listener: false,
    };
    let app = router_with(state(&dir, access));
    for bearer in [None, Some("wrong-token-0123456789"), Some("")] {
        let (status, body) = get(&app, "/metrics", bearer).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{bearer:?}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["type"], "authentication_error");
    }
    let (status, body) = get(&app, "/metrics", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("tollgate_ledger_"));
    // The rest of the API is unaffected.
    assert_eq!(get(&app, "/healthz", None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_separate_listener_serves_metrics_and_the_api_does_not() {
    let dir = TempDir::new();
    let access = MetricsAccess {
        token_sha256: Some(crate::auth::hash_token(TOKEN).into()),
        separate_listener: true,
    };
    let s = state(&dir, access);
    let api = router_with(s.clone());
    let metrics = metrics_router(s);
    assert_eq!(
        get(&api, "/metrics", Some(TOKEN)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&metrics, "/metrics", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&metrics, "/metrics", Some(TOKEN)).await.0,
        StatusCode::OK
    );
    // Only metrics there.
    assert_eq!(
        get(&metrics, "/v1/wallets", None).await.0,
        StatusCode::NOT_FOUND
    );
}
