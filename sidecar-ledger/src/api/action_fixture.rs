//! A ledger for the leaders' action endpoints' tests: router + SQLite in a temp dir
//! with the example config in force (its teams and lanes), tokens of any role, and
//! JSON calls.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;

use crate::api::router_with;
use crate::auth;
use crate::state::{AppState, DEFAULT_LEASE_TTL_MS};
use crate::store::tokens::{NewToken, Role};
use crate::store::{SqliteStore, Store};
use crate::test_util::TempDir;

pub struct Fixture {
    pub app: Router,
    state: AppState,
    pub store: Arc<dyn Store>,
    _dir: TempDir,
}

pub fn fixture() -> Fixture {
    fixture_with(false)
}

/// As [`fixture`], with reads needing a token (`serve`'s default) if `require_tokens`,
/// and the config's billing budgets in force.
pub fn fixture_with(require_tokens: bool) -> Fixture {
    let dir = TempDir::new();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("ledger.sqlite3")).unwrap());
    let text = include_str!("../../../examples/tollgate.yaml");
    let config = crate::config_file::parse(text).unwrap().config;
    let budgets = if require_tokens {
        config.budgets.clone()
    } else {
        Vec::new()
    };
    let state = AppState {
        store: store.clone(),
        lease_ttl_ms: DEFAULT_LEASE_TTL_MS,
        budgets: crate::config_reload::Shared::new(budgets),
        require_tokens,
        metrics: Default::default(),
        config: crate::config_reload::Shared::new(Some(config)),
        auth_limiter: Default::default(),
        ingest_checks: Default::default(),
        lease_holder_share_percent: tollgate_core::lease::DEFAULT_HOLDER_SHARE_PERCENT,
    };
    Fixture {
        app: router_with(state.clone()),
        state,
        store,
        _dir: dir,
    }
}

impl Fixture {
    /// Rebuilds the router with these limits on failed authentications.
    pub fn set_auth_limits(&mut self, limits: crate::auth_limit::AuthLimits) {
        self.app = router_with(AppState {
            auth_limiter: Arc::new(crate::auth_limit::FailedAuthLimiter::new(limits)),
            ..self.state.clone()
        });
    }

    /// Rebuilds the router with posted events checked against the example config.
    pub fn check_events(&mut self) {
        let checks = crate::config_generations::ConfigGenerations::default();
        if let Some(config) = self.state.config.current().as_ref() {
            checks.replace(config, 0);
        }
        self.app = router_with(AppState {
            ingest_checks: Arc::new(checks),
            ..self.state.clone()
        });
    }

    pub fn token(&self, name: &str, role: Role, team: Option<&str>) -> String {
        let token = auth::generate_token().unwrap();
        self.store
            .create_token(
                &NewToken {
                    name: name.into(),
                    role,
                    team: team.map(str::to_string),
                    sha256: auth::hash_token(&token),
                    expires_ms: None,
                },
                0,
            )
            .unwrap();
        token
    }

    pub async fn call(&self, req: Request<Body>) -> (StatusCode, Value) {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn get(&self, uri: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = Request::get(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.call(req.body(Body::empty()).unwrap()).await
    }

    pub async fn post(&self, uri: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut req = Request::post(uri).header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.call(req.body(Body::from(body.to_string())).unwrap())
            .await
    }
}
