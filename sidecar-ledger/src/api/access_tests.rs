//! Who may call which route, on a ledger with its default settings: every route of
//! `openapi.json` (which documents the whole router) tried with no token, an ingest
//! token, another team's token and an admin token; the data plane's writes refused
//! without their token and storing nothing; team tokens confined to their team.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};

use super::action_fixture::{fixture_with, Fixture};
use crate::store::alerts::NewAlert;
use crate::store::tokens::Role;
use crate::store::wallets::{EntryKind, NewEntry};
use crate::test_util::event;

/// Every documented route as `(METHOD, path template)`.
async fn routes(f: &Fixture) -> Vec<(Method, String)> {
    let (status, doc) = f.get("/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            out.push((method, path.clone()));
        }
    }
    assert!(out.len() > 30, "openapi.json lists the router's routes");
    out
}

/// The route with its parameters filled in; `{team}` is `team`.
fn concrete(template: &str, team: &str) -> String {
    template
        .replace("{team}", team)
        .replace("{lease_id}", "lease-1")
        .replace("{id}", "1")
        .replace("{file}", "dashboard.js")
}

async fn call(f: &Fixture, method: &Method, uri: &str, token: Option<&str>) -> StatusCode {
    let mut req = Request::builder().method(method.clone()).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let body = if *method == Method::POST {
        req = req.header(header::CONTENT_TYPE, "application/json");
        Body::from("{}")
    } else {
        Body::empty()
    };
    f.call(req.body(body).unwrap()).await.0
}

/// The routes (as `METHOD template`) that answered anything but `refused` (401/403).
async fn admitted(f: &Fixture, token: Option<&str>, team: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (method, template) in routes(f).await {
        let status = call(f, &method, &concrete(&template, team), token).await;
        if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
            out.insert(format!("{method} {template}"));
        }
    }
    out
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Routes that carry no data and need no token.
const OPEN: [&str; 7] = [
    "GET /",
    "GET /assets/{file}",
    "GET /healthz",
    "GET /metrics",
    "GET /openapi.json",
    "POST /v1/session",
    "DELETE /v1/session",
];

#[tokio::test]
async fn without_a_token_only_pages_without_data_answer() {
    let f = fixture_with(true);
    assert_eq!(admitted(&f, None, "team_support").await, set(&OPEN));
    // POST /v1/session with no token in its body does not sign in either.
    let (status, _) = f.post("/v1/session", None, json!({})).await;
    assert!(status.is_client_error(), "{status}");
}

#[tokio::test]
async fn an_ingest_token_reaches_the_data_plane_routes_only() {
    let f = fixture_with(true);
    let ingest = f.token("envoy", Role::Ingest, None);
    let mut expected = set(&OPEN);
    expected.extend(set(&[
        "POST /v1/events",
        "POST /v1/leases",
        "GET /v1/policy",
    ]));
    assert_eq!(admitted(&f, Some(&ingest), "team_support").await, expected);
    let (status, body) = f.get("/v1/spend", Some(&ingest)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["type"], "permission_error");
}

#[tokio::test]
async fn a_team_token_reaches_no_other_teams_route_and_no_data_plane_route() {
    let f = fixture_with(true);
    let support = f.token("support lead", Role::Team, Some("team_support"));
    let got = admitted(&f, Some(&support), "team_engineering").await;
    for route in &got {
        assert!(
            !route.contains("{team}"),
            "{route} answered a team_support token about team_engineering"
        );
    }
    for refused in [
        "POST /v1/events",
        "POST /v1/leases",
        "GET /v1/policy",
        "GET /v1/rejected-events",
        "GET /v1/reconciliation",
        "GET /v1/quarantine",
        "GET /v1/audit",
    ] {
        assert!(!got.contains(refused), "{refused} admitted a team token");
    }
    // Its own team's routes answer.
    let own = admitted(&f, Some(&support), "team_support").await;
    for route in [
        "GET /v1/wallets/{team}",
        "GET /v1/teams/{team}/policy",
        "GET /v1/teams/{team}/budget",
    ] {
        assert!(own.contains(route), "{route} refused its own team");
    }
}

#[tokio::test]
async fn an_admin_token_reaches_every_route_but_the_data_plane_writes() {
    let f = fixture_with(true);
    let admin = f.token("ops", Role::Admin, None);
    let all: BTreeSet<String> = routes(&f)
        .await
        .into_iter()
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    let mut expected = all.clone();
    expected.remove("POST /v1/events");
    expected.remove("POST /v1/leases");
    assert_eq!(admitted(&f, Some(&admin), "team_support").await, expected);
}

#[tokio::test]
async fn the_reconciliation_covers_every_team_so_admin_and_finance_only() {
    let f = fixture_with(true);
    for (role, team, status) in [
        (Role::Admin, None, StatusCode::OK),
        (Role::Finance, None, StatusCode::OK),
        (Role::Team, Some("team_support"), StatusCode::FORBIDDEN),
        (Role::Ingest, None, StatusCode::FORBIDDEN),
    ] {
        let token = f.token("t", role, team);
        let (got, body) = f.get("/v1/reconciliation", Some(&token)).await;
        assert_eq!(got, status, "{role:?}: {body}");
    }
}

fn events_body() -> String {
    serde_json::to_string(&[event("forged-1", 1_000, "team_support", 400_000_000_000)]).unwrap()
}

async fn post_events(f: &Fixture, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = Request::post("/v1/events").header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    f.call(req.body(Body::from(events_body())).unwrap()).await
}

#[tokio::test]
async fn events_without_the_ingest_token_are_refused_and_not_stored() {
    let f = fixture_with(true);
    let admin = f.token("ops", Role::Admin, None);
    let ingest = f.token("envoy", Role::Ingest, None);
    let forged = format!("tgk_{}", "0".repeat(64));
    for (token, status) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some(forged.as_str()), StatusCode::UNAUTHORIZED),
        (Some(admin.as_str()), StatusCode::FORBIDDEN),
    ] {
        let (got, body) = post_events(&f, token).await;
        assert_eq!(got, status, "{body}");
        let kind = if status == StatusCode::UNAUTHORIZED {
            "authentication_error"
        } else {
            "permission_error"
        };
        assert_eq!(body["error"]["type"], kind, "{body}");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ingest"));
    }
    let (_, listed) = f.get("/v1/events", Some(&admin)).await;
    assert_eq!(listed["events"], json!([]), "nothing stored");

    // The refusals are counted.
    let (_, text) = {
        let req = Request::get("/metrics").body(Body::empty()).unwrap();
        let resp = tower::ServiceExt::oneshot(f.app.clone(), req)
            .await
            .unwrap();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        ((), String::from_utf8(bytes.to_vec()).unwrap())
    };
    assert!(
        text.contains(
            "tollgate_ledger_auth_refusals_total{access=\"data_plane\",reason=\"missing\"}"
        ),
        "{text}"
    );

    // A revoked ingest token is refused; a live one is accepted.
    let (status, body) = post_events(&f, Some(&ingest)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, listed) = f.get("/v1/events", Some(&admin)).await;
    assert_eq!(listed["events"].as_array().unwrap().len(), 1);
    let id = f
        .store
        .tokens()
        .unwrap()
        .into_iter()
        .find(|t| t.role == Role::Ingest)
        .unwrap()
        .id;
    f.store.revoke_token(id, 2).unwrap();
    assert_eq!(
        post_events(&f, Some(&ingest)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn leases_without_the_ingest_token_take_no_credit() {
    let f = fixture_with(true);
    let admin = f.token("ops", Role::Admin, None);
    let ingest = f.token("envoy", Role::Ingest, None);
    f.store.ensure_wallet("team_support", 0).unwrap();
    f.store
        .allocate(
            &NewEntry {
                team: "team_support".into(),
                kind: EntryKind::TopUp,
                amount_nanos: 10_000_000_000,
                actor: "test".into(),
                reason: "test".into(),
                idempotency_key: None,
            },
            0,
        )
        .unwrap();
    let ask =
        json!({"instance": "intruder", "team": "team_support", "want_nanos": 10_000_000_000i64});
    for token in [None, Some(admin.as_str())] {
        let (status, body) = f.post("/v1/leases", token, ask.clone()).await;
        assert!(
            status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN,
            "{status} {body}"
        );
    }
    let (_, wallet) = f.get("/v1/wallets/team_support", Some(&admin)).await;
    assert_eq!(wallet["available_nanos"], 10_000_000_000i64, "{wallet}");
    let (status, lease) = f.post("/v1/leases", Some(&ingest), ask).await;
    assert_eq!(status, StatusCode::OK, "{lease}");
    let (_, wallet) = f.get("/v1/wallets/team_support", Some(&admin)).await;
    assert!(
        wallet["available_nanos"].as_i64().unwrap() < 10_000_000_000,
        "{wallet}"
    );
}

/// Events of two teams, posted by the data plane.
async fn two_teams(f: &Fixture) {
    let ingest = f.token("envoy", Role::Ingest, None);
    let day = 1_793_491_200_000; // 2026-11-01
    let events = vec![
        event("s1", day + 1_000, "team_support", 1_000),
        event("s2", day + 2_000, "team_support", 2_000),
        event("e1", day + 3_000, "team_engineering", 7_000),
    ];
    let (status, body) = f
        .post(
            "/v1/events",
            Some(&ingest),
            serde_json::to_value(events).unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn text(f: &Fixture, uri: &str, token: &str) -> (StatusCode, String) {
    let req = Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(f.app.clone(), req)
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn a_team_token_reads_its_own_team_only_on_every_read() {
    let f = fixture_with(true);
    two_teams(&f).await;
    let support = f.token("support lead", Role::Team, Some("team_support"));
    let range = "from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z";

    // Spend grouped by team: its own row only; another team's filter is 403.
    let (status, spend) = f
        .get(&format!("/v1/spend?group_by=team&{range}"), Some(&support))
        .await;
    assert_eq!(status, StatusCode::OK, "{spend}");
    let teams: Vec<&str> = spend["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"]["team"].as_str().unwrap())
        .collect();
    assert_eq!(teams, ["team_support"]);
    assert_eq!(
        f.get(
            &format!("/v1/spend?team=team_engineering&{range}"),
            Some(&support)
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );

    // Events: its own only.
    let (_, events) = f.get("/v1/events", Some(&support)).await;
    let ids: BTreeSet<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from(["s1", "s2"]));
    assert_eq!(
        f.get("/v1/events?team=team_engineering", Some(&support))
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    // Exports, every format: its own rows only; another team is 403.
    for format in ["csv", "jsonl", "focus"] {
        let (status, body) =
            text(&f, &format!("/v1/export?format={format}&{range}"), &support).await;
        assert_eq!(status, StatusCode::OK, "{format}: {body}");
        assert!(body.contains("team_support"), "{format}: {body}");
        assert!(!body.contains("team_engineering"), "{format}: {body}");
        let (status, _) = text(
            &f,
            &format!("/v1/export?format={format}&team=team_engineering&{range}"),
            &support,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{format}");
    }

    // Wallets and lists.
    assert_eq!(
        f.get("/v1/wallets/team_engineering", Some(&support))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    for team in ["team_support", "team_engineering"] {
        f.store.ensure_wallet(team, 0).unwrap();
        f.store
            .record_alert(
                &NewAlert {
                    team: team.into(),
                    period_start_ms: 0,
                    period_end_ms: 1,
                    kind: "threshold",
                    threshold_pct: 80,
                    spent_nanos: 8,
                    budget_nanos: 10,
                    forecast_nanos: 10,
                    message: format!("{team} at 80%"),
                },
                &[],
                1,
            )
            .unwrap();
    }
    let admin = f.token("ops", Role::Admin, None);
    for (uri, key) in [
        ("/v1/wallets", "wallets"),
        ("/v1/budgets", "budgets"),
        ("/v1/alerts", "alerts"),
    ] {
        let (_, all) = f.get(uri, Some(&admin)).await;
        let teams = |body: &Value| -> BTreeSet<String> {
            body[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["team"].as_str().unwrap().to_string())
                .collect()
        };
        assert!(teams(&all).contains("team_engineering"), "{uri}: {all}");
        let (status, own) = f.get(uri, Some(&support)).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {own}");
        assert_eq!(teams(&own), set(&["team_support"]), "{uri}: {own}");
    }
}

/// A lease is held by the ingest token's name plus the instance the body names: a
/// second token using the same instance name gets its own lease and cannot close the
/// first token's.
#[tokio::test]
async fn a_lease_belongs_to_the_token_that_took_it() {
    let f = fixture_with(true);
    let admin = f.token("ops", Role::Admin, None);
    let node_a = f.token("envoy-node-a", Role::Ingest, None);
    let node_b = f.token("envoy-node-b", Role::Ingest, None);
    f.store.ensure_wallet("team_support", 0).unwrap();
    f.store
        .allocate(
            &NewEntry {
                team: "team_support".into(),
                kind: EntryKind::TopUp,
                amount_nanos: 10_000,
                actor: "test".into(),
                reason: "test".into(),
                idempotency_key: None,
            },
            0,
        )
        .unwrap();
    let ask = json!({"instance": "envoy-1", "team": "team_support", "want_nanos": 1_000});
    let (status, a) = f.post("/v1/leases", Some(&node_a), ask.clone()).await;
    assert_eq!(status, StatusCode::OK, "{a}");
    let (_, b) = f.post("/v1/leases", Some(&node_b), ask).await;
    assert_ne!(
        a["lease_id"], b["lease_id"],
        "same instance name, another holder"
    );
    let outstanding = || async {
        let (_, w) = f.get("/v1/wallets/team_support", Some(&admin)).await;
        w["leased_outstanding_nanos"].as_i64().unwrap()
    };
    assert_eq!(outstanding().await, 2_000);
    let close = |lease: &Value| {
        json!([{"lease_closed": {"lease_id": lease["lease_id"], "team": "team_support",
                "instance": "envoy-1", "unused_nanos": 1_000, "closed_ms": 1}}])
    };
    // Node B tries to close node A's lease: nothing happens.
    let (status, body) = f.post("/v1/events", Some(&node_b), close(&a)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(outstanding().await, 2_000);
    // Node A closes its own.
    f.post("/v1/events", Some(&node_a), close(&a)).await;
    assert_eq!(outstanding().await, 1_000);
    let (_, w) = f.get("/v1/wallets/team_support", Some(&admin)).await;
    assert_eq!(w["live_leases"], 1, "{w}");
}
