//! Token checks beyond roles: routes the access table does not list are admin-only,
//! expired tokens are refused with their own error, and an address that keeps failing
//! to authenticate is answered 429 before its tokens are looked at.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};

use super::action_fixture::{fixture_with, Fixture};
use crate::auth;
use crate::auth_limit::AuthLimits;
use crate::store::tokens::{NewToken, Role};

/// Every documented route of the router is in the access table: a route added without
/// a line there would be admin-only (refused to everyone else), so this names it.
#[tokio::test]
async fn every_documented_route_is_in_the_access_table() {
    let f = fixture_with(true);
    let (_, doc) = f.get("/openapi.json", None).await;
    let mut unlisted = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let concrete = path
                .replace("{team}", "team_a")
                .replace("{file}", "app.js")
                .replace("{lease_id}", "1")
                .replace("{id}", "1");
            if !auth::listed(&m, &concrete) {
                unlisted.push(format!("{m} {path}"));
            }
        }
    }
    assert_eq!(unlisted, Vec::<String>::new());
}

#[tokio::test]
async fn unlisted_routes_are_for_admins_only() {
    let f = fixture_with(true);
    let admin = f.token("ops", Role::Admin, None);
    let finance = f.token("finance", Role::Finance, None);
    let lead = f.token("lead", Role::Team, Some("team_support"));
    let ingest = f.token("envoy", Role::Ingest, None);
    for uri in ["/v1/not-yet-a-route", "/internal/debug"] {
        assert_eq!(f.get(uri, None).await.0, StatusCode::UNAUTHORIZED, "{uri}");
        for token in [&finance, &lead, &ingest] {
            let (status, body) = f.get(uri, Some(token)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{uri}: {body}");
            assert_eq!(body["error"]["type"], "permission_error");
        }
        assert_eq!(f.get(uri, Some(&admin)).await.0, StatusCode::NOT_FOUND);
    }
}

fn token_expiring(f: &Fixture, role: Role, team: Option<&str>, expires_ms: i64) -> String {
    let token = auth::generate_token().unwrap();
    f.store
        .create_token(
            &NewToken {
                name: "temporary".into(),
                role,
                team: team.map(str::to_string),
                sha256: auth::hash_token(&token),
                expires_ms: Some(expires_ms),
            },
            0,
        )
        .unwrap();
    token
}

async fn metrics_text(f: &Fixture) -> String {
    let resp = tower::ServiceExt::oneshot(
        f.app.clone(),
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await
    .unwrap();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn an_expired_token_is_refused_with_token_expired() {
    let f = fixture_with(true);
    let now = crate::clock::now_ms();
    let past = token_expiring(&f, Role::Admin, None, now - 1);
    let future = token_expiring(&f, Role::Admin, None, now + 3_600_000);
    let past_ingest = token_expiring(&f, Role::Ingest, None, now - 1);
    for (uri, token) in [("/v1/wallets", &past), ("/v1/policy", &past_ingest)] {
        let (status, body) = f.get(uri, Some(token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"]["type"], "authentication_error", "{body}");
        assert_eq!(body["error"]["code"], "token_expired", "{body}");
    }
    assert_eq!(f.get("/v1/wallets", Some(&future)).await.0, StatusCode::OK);
    // Signing in to the dashboard with it is refused the same way.
    let (status, body) = f.post("/v1/session", None, json!({"token": past})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "token_expired", "{body}");
    assert!(metrics_text(&f)
        .await
        .contains("tollgate_ledger_auth_refusals_total{access=\"read\",reason=\"expired\"}"));
}

/// A ledger whose limit is 3 failures a minute per address.
fn limited() -> Fixture {
    let mut f = fixture_with(true);
    let state_limits = AuthLimits {
        failures: 3,
        window_ms: 60_000,
        max_addresses: 100,
    };
    f.set_auth_limits(state_limits);
    f
}

async fn get_from(
    f: &Fixture,
    peer: [u8; 4],
    uri: &str,
    token: &str,
) -> (StatusCode, Value, Option<String>) {
    let mut req = Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((peer, 40_000))));
    let resp = tower::ServiceExt::oneshot(f.app.clone(), req)
        .await
        .unwrap();
    let status = resp.status();
    let retry = resp
        .headers()
        .get(header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        retry,
    )
}

#[tokio::test]
async fn an_address_that_keeps_failing_is_answered_429_without_a_token_check() {
    let f = limited();
    let admin = f.token("ops", Role::Admin, None);
    let envoy = f.token("envoy", Role::Ingest, None);
    let fresh = f.token("new lead", Role::Team, Some("team_support"));
    let attacker = [10, 0, 0, 66];
    // The data plane authenticates from the same address before the attack.
    assert_eq!(
        get_from(&f, attacker, "/v1/policy", &envoy).await.0,
        StatusCode::OK
    );
    for i in 0..3 {
        let guess = format!("tgk_{i:064}");
        let (status, _, _) = get_from(&f, attacker, "/v1/wallets", &guess).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Now even a right guess is not looked at: 429 with Retry-After, as JSON.
    let (status, body, retry) = get_from(&f, attacker, "/v1/wallets", &fresh).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // A success from the address does not reset its count; a token accepted before
    // the block still passes (the data plane is not locked out by a neighbour).
    assert_eq!(
        get_from(&f, attacker, "/v1/policy", &envoy).await.0,
        StatusCode::OK
    );
    let (status, _, _) = get_from(&f, attacker, "/v1/wallets", &fresh).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Signing in from the address is limited too.
    let mut req = Request::post("/v1/session")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({"token": fresh}).to_string()))
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((attacker, 40_001))));
    assert_eq!(f.call(req).await.0, StatusCode::TOO_MANY_REQUESTS);
    // Other addresses are not affected.
    let (status, _, _) = get_from(&f, [10, 0, 0, 7], "/v1/wallets", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(metrics_text(&f)
        .await
        .contains("tollgate_ledger_auth_refusals_total{access=\"read\",reason=\"rate_limited\"}"));
}

#[tokio::test]
async fn wrong_sign_ins_count_as_failures() {
    let f = limited();
    let lead = f.token("lead", Role::Team, Some("team_support"));
    let peer = [10, 0, 0, 9];
    for i in 0..3 {
        let mut req = Request::post("/v1/session")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"token": format!("tgk_{i:064}")}).to_string(),
            ))
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((peer, 40_000))));
        assert_eq!(f.call(req).await.0, StatusCode::UNAUTHORIZED);
    }
    let (status, _, _) = get_from(&f, peer, "/v1/wallets", &lead).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_audit_log_exports_as_json_lines_for_admins_only() {
    let f = fixture_with(true);
    let admin = f.token("ops", Role::Admin, None);
    let finance = f.token("finance", Role::Finance, None);
    for i in 0..3 {
        f.store
            .record_audit(
                &crate::store::audit::NewAuditEntry {
                    actor: "tester".into(),
                    action: format!("action.{i}"),
                    team: None,
                    before: None,
                    after: Some(json!({"n": i})),
                },
                1_000 + i,
            )
            .unwrap();
    }
    let export = |token: String| {
        Request::get("/v1/audit?format=jsonl")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    let resp = tower::ServiceExt::oneshot(f.app.clone(), export(admin.clone()))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/x-ndjson");
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let lines: Vec<Value> = String::from_utf8(bytes.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = lines
        .iter()
        .map(|l| l["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["action.0", "action.1", "action.2"],
        "oldest first"
    );
    assert_eq!(lines[2]["after"], json!({"n": 2}));
    let resp = tower::ServiceExt::oneshot(f.app.clone(), export(finance))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let (status, _) = f.get("/v1/audit?format=csv", Some(&admin)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
