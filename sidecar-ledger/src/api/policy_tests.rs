//! The policy endpoints in-process on SQLite with the example config: who may change
//! what, validation against the config's teams and lanes, idempotent retries, and the
//! versioned document Envoy polls.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::api::router_with;
use crate::auth;
use crate::state::{AppState, DEFAULT_LEASE_TTL_MS};
use crate::store::tokens::{NewToken, Role};
use crate::store::{SqliteStore, Store};
use crate::test_util::TempDir;

struct Fixture {
    app: Router,
    store: Arc<dyn Store>,
    _dir: TempDir,
}

fn fixture() -> Fixture {
    let dir = TempDir::new();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("ledger.sqlite3")).unwrap());
    let text = include_str!("../../../examples/tollgate.yaml");
    let config = crate::config_file::parse(text).unwrap().config;
    let app = router_with(AppState {
        store: store.clone(),
        lease_ttl_ms: DEFAULT_LEASE_TTL_MS,
        budgets: crate::config_reload::Shared::new(Vec::new()),
        require_tokens: false,
        metrics: Default::default(),
        config: crate::config_reload::Shared::new(Some(config)),
    });
    Fixture {
        app,
        store,
        _dir: dir,
    }
}

impl Fixture {
    fn token(&self, name: &str, role: Role, team: Option<&str>) -> String {
        let token = auth::generate_token().unwrap();
        self.store
            .create_token(
                &NewToken {
                    name: name.into(),
                    role,
                    team: team.map(str::to_string),
                    sha256: auth::hash_token(&token),
                },
                0,
            )
            .unwrap();
        token
    }

    async fn call(&self, req: Request<Body>) -> (StatusCode, Value) {
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

    async fn get(&self, uri: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = Request::get(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.call(req.body(Body::empty()).unwrap()).await
    }

    async fn change(&self, team: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut req = Request::post(format!("/v1/teams/{team}/policy"))
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.call(req.body(Body::from(body.to_string())).unwrap())
            .await
    }
}

fn pause_workflow(workflow: &str) -> Value {
    json!({
        "change": "pause",
        "scope": {"kind": "workflow", "value": workflow},
        "reason": "runaway retry loop",
    })
}

#[tokio::test]
async fn a_team_lead_changes_only_their_own_team_and_every_change_names_its_author() {
    let f = fixture();
    let lead = f.token("support lead", Role::Team, Some("team_support"));
    let finance = f.token("finance", Role::Finance, None);

    let (status, body) = f
        .change("team_support", None, pause_workflow("draft-reply"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = f
        .change("team_engineering", Some(&lead), pause_workflow("x"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["type"], "permission_error");
    let (status, _) = f
        .get("/v1/teams/team_engineering/policy", Some(&lead))
        .await;
    assert_eq!(status, StatusCode::OK, "reads follow --require-tokens");

    let (status, body) = f
        .change("team_support", Some(&lead), pause_workflow("draft-reply"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["change"]["actor"], "support lead");
    assert_eq!(body["policy"]["pauses"][0]["by"], "support lead");
    let pause_id = body["change"]["id"].as_i64().unwrap();

    let (status, body) = f
        .change(
            "team_engineering",
            Some(&finance),
            json!({
                "change": "restrict_premium",
                "allowed_workflows": ["code-review"],
                "action": "downgrade",
                "reason": "premium drift on ticket-summarise",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, body) = f.get("/v1/teams/team_support/policy", Some(&lead)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["policy"]["pauses"][0]["id"], pause_id);
    assert_eq!(body["changes"][0]["reason"], "runaway retry loop");
    assert_eq!(
        body["lanes"],
        json!(["openai-gpt4o-mini", "anthropic-haiku"])
    );
}

#[tokio::test]
async fn bad_changes_get_clear_errors_and_change_nothing() {
    let f = fixture();
    let admin = f.token("ops", Role::Admin, None);
    let cases = [
        (
            "team_nope",
            pause_workflow("w"),
            StatusCode::NOT_FOUND,
            "no team",
        ),
        (
            "team_support",
            json!({"change": "pause", "scope": {"kind": "team"}, "reason": "  "}),
            StatusCode::BAD_REQUEST,
            "reason",
        ),
        (
            "team_support",
            json!({"change": "pin", "workflow": "w", "lane": "gpt-9", "reason": "r"}),
            StatusCode::BAD_REQUEST,
            "no lane 'gpt-9'",
        ),
        (
            "team_support",
            json!({"change": "explode", "reason": "r"}),
            StatusCode::BAD_REQUEST,
            "not a policy change",
        ),
        (
            "team_support",
            json!({"change": "pause", "scope": {"kind": "team"}, "reason": "r", "until_ms": 1}),
            StatusCode::BAD_REQUEST,
            "future",
        ),
        (
            "team_support",
            json!({"change": "lift", "pause_id": 7, "reason": "r"}),
            StatusCode::CONFLICT,
            "no pause #7",
        ),
        (
            "team_support",
            json!({"change": "unpin", "workflow": "w", "reason": "r"}),
            StatusCode::CONFLICT,
            "not pinned",
        ),
    ];
    for (team, body, status, message) in cases {
        let (got, answer) = f.change(team, Some(&admin), body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        let text = answer["error"]["message"].as_str().unwrap();
        assert!(text.contains(message), "{body}: {text}");
    }
    assert_eq!(f.store.policy_set().unwrap().version, 0);
    assert!(f
        .store
        .policy_changes("team_support", 10)
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_retried_change_with_its_idempotency_key_is_made_once() {
    let f = fixture();
    let admin = f.token("ops", Role::Admin, None);
    let mut body = pause_workflow("draft-reply");
    body["idempotency_key"] = json!("form-7f3a");
    let (status, first) = f.change("team_support", Some(&admin), body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = f.change("team_support", Some(&admin), body).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["replayed"], true);
    assert_eq!(again["change"]["id"], first["change"]["id"]);
    let set = f.store.policy_set().unwrap();
    assert_eq!(set.teams["team_support"].pauses.len(), 1);
}

#[tokio::test]
async fn envoy_polls_one_versioned_document_and_gets_304_until_it_changes() {
    let f = fixture();
    let admin = f.token("ops", Role::Admin, None);
    let (status, body) = f.get("/v1/policy", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"version": 0, "teams": {}}));
    let (status, _) = f.get("/v1/policy?after=0", None).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);

    let (_, made) = f
        .change("team_support", Some(&admin), pause_workflow("draft-reply"))
        .await;
    let version = made["change"]["id"].as_i64().unwrap();
    let (status, body) = f.get("/v1/policy?after=0", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["version"], version);
    assert_eq!(
        body["teams"]["team_support"]["pauses"][0]["scope"],
        json!({"kind": "workflow", "value": "draft-reply"})
    );
    let (status, _) = f.get(&format!("/v1/policy?after={version}"), None).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let (status, body) = f.get("/v1/policy?after=soon", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
