//! The HTTP API end to end in-process: router + real SQLite store in a temp dir,
//! driven with `tower::ServiceExt::oneshot`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::router;
use crate::store::tokens::Role;
use crate::store::SqliteStore;
use crate::test_util::{event, event_json, TempDir};
use tollgate_core::event::{ApiKind, CacheStatus, CostEvent};

const H0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z
const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

struct Ledger {
    app: Router,
    /// The data plane's `Authorization` header.
    ingest: String,
    /// An admin's `Authorization` header.
    admin: String,
    /// The data directory, when this ledger owns it.
    _dir: Option<TempDir>,
}

impl Ledger {
    fn new() -> Self {
        let dir = TempDir::new();
        let mut l = Self::at(&dir);
        l._dir = Some(dir);
        l
    }

    /// A ledger on an existing data directory; dropping it closes the database.
    fn at(dir: &TempDir) -> Self {
        let store = SqliteStore::open(&dir.path().join("ledger.sqlite3")).unwrap();
        let ingest = crate::test_util::bearer(&store, Role::Ingest, None);
        let admin = crate::test_util::bearer(&store, Role::Admin, None);
        Ledger {
            app: router(Arc::new(store)),
            ingest,
            admin,
            _dir: None,
        }
    }

    async fn send(&self, req: Request<Body>) -> (StatusCode, String) {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        let (status, text) = self
            .send(Request::get(uri).body(Body::empty()).unwrap())
            .await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post_raw(&self, body: impl Into<Body>) -> (StatusCode, Value) {
        let req = Request::post("/v1/events")
            .header("content-type", "application/json")
            .header("authorization", &self.ingest)
            .body(body.into())
            .unwrap();
        let (status, text) = self.send(req).await;
        (status, serde_json::from_str(&text).unwrap())
    }

    async fn post(&self, events: &[CostEvent]) -> Value {
        let (status, body) = self.post_raw(serde_json::to_string(events).unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn spend(&self, query: &str) -> Value {
        let (status, body) = self.get(&format!("/v1/spend?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        body
    }

    async fn bad_request(&self, uri: &str) -> String {
        let (status, body) = self.get(uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
        body["error"]["message"].as_str().unwrap().to_string()
    }
}

/// Five events over two days and two teams; every expected total below is
/// computed by hand from this table.
///
/// | id | team   | time        | model        | provider  | cost | other                      |
/// |----|--------|-------------|--------------|-----------|------|----------------------------|
/// | a1 | team_a | H0 + 10min  | gpt-4o-mini  | openai    | 1000 | user alice                 |
/// | a2 | team_a | H0 + 50min  | claude-haiku | anthropic | 3000 | hit, avoided 500, cached 5, write 3 |
/// | a3 | team_a | H0 + 1h05   | gpt-4o-mini  | openai    | 2000 |                            |
/// | b1 | team_b | H0 + 1h30   | gpt-4o-mini  | openai    | 7000 | workflow triage            |
/// | b2 | team_b | H0 + 1d 2h  | claude-haiku | anthropic | 4000 |                            |
fn dataset() -> Vec<CostEvent> {
    let mut a1 = event("a1", H0 + 10 * MIN, "team_a", 1000);
    a1.user = Some("alice".into());
    let mut a2 = anthropic(event("a2", H0 + 50 * MIN, "team_a", 3000));
    a2.cache = CacheStatus::Hit;
    a2.cost_avoided_nanos = 500;
    a2.tokens.cached_input = 5;
    a2.tokens.cache_write = 3;
    let a3 = event("a3", H0 + HOUR + 5 * MIN, "team_a", 2000);
    let mut b1 = event("b1", H0 + HOUR + 30 * MIN, "team_b", 7000);
    b1.workflow = Some("triage".into());
    let b2 = anthropic(event("b2", H0 + DAY + 2 * HOUR, "team_b", 4000));
    vec![a1, a2, a3, b1, b2]
}

fn anthropic(mut e: CostEvent) -> CostEvent {
    e.api = ApiKind::Messages;
    e.provider = Some("anthropic".into());
    e.lane = Some("anthropic-haiku".into());
    e.model_requested = "claude-haiku".into();
    e.model_served = "claude-haiku".into();
    e
}

fn range(from: i64, to: i64) -> String {
    format!("from={from}&to={to}")
}

/// `(key, requests, cost_nanos)` of each row, for compact assertions.
fn rows(body: &Value) -> Vec<(Value, i64, i64)> {
    body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].clone(),
                r["requests"].as_i64().unwrap(),
                r["cost_nanos"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_same_batch_twice_is_counted_once() {
    let l = Ledger::new();
    let events = dataset();
    let first = l.post(&events).await;
    assert_eq!(
        first,
        json!({"accepted": 5, "duplicates": 0, "rejected": [], "quarantined": []})
    );
    let q = format!("group_by=team,hour&{}", range(H0, H0 + 2 * DAY));
    let before = l.spend(&q).await;

    let second = l.post(&events).await;
    assert_eq!(
        second,
        json!({"accepted": 0, "duplicates": 5, "rejected": [], "quarantined": []})
    );
    assert_eq!(l.spend(&q).await, before, "rollups must not change");

    // A batch mixing a new event with old ones stores only the new one.
    let mixed = vec![events[0].clone(), event("n1", H0, "team_a", 1)];
    assert_eq!(
        l.post(&mixed).await,
        json!({"accepted": 1, "duplicates": 1, "rejected": [], "quarantined": []})
    );
    let (_, listed) = l.get("/v1/events?limit=1000").await;
    assert_eq!(listed["events"].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn a_poison_event_is_quarantined_and_the_rest_accepted() {
    let l = Ledger::new();
    let good1 = event_json("g1", H0, "team_a", 10);
    let good2 = event_json("g2", H0 + 1, "team_a", 20);
    let poison = r#"{"id": "p1", "ts_ms": "yesterday", "team": "team_a"}"#;
    let body = format!("[{good1},{poison},{good2},[1,2]]");
    let (status, resp) = l.post_raw(body).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    assert_eq!(resp["accepted"], 2);
    assert_eq!(resp["duplicates"], 0);
    let rejected = resp["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0]["index"], 1);
    let error = rejected[0]["error"].as_str().unwrap();
    assert!(error.starts_with("ts_ms: invalid type"), "{error}");
    assert_eq!(rejected[1]["index"], 3);

    // Stored verbatim for an operator.
    let (_, q) = l.get("/v1/rejected-events").await;
    let stored = q["rejected_events"].as_array().unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1]["raw"], poison);
    assert_eq!(stored[1]["index"], 1);
    assert_eq!(stored[0]["raw"], "[1,2]");

    // The good events are in, with their spend.
    let (_, listed) = l.get("/v1/events").await;
    let ids: Vec<&str> = listed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["g2", "g1"]);
    let spend = l.spend(&range(H0, H0 + HOUR)).await;
    assert_eq!(spend["total"]["cost_nanos"], 30);
}

#[tokio::test]
async fn spend_groups_filters_and_ranges_add_up() {
    let l = Ledger::new();
    l.post(&dataset()).await;
    let two_days = range(H0, H0 + 2 * DAY);

    // By team: b = 7000 + 4000, a = 1000 + 3000 + 2000; cost descending.
    let body = l.spend(&format!("group_by=team&{two_days}")).await;
    assert_eq!(body["from"], H0);
    assert_eq!(body["to"], H0 + 2 * DAY);
    assert_eq!(body["group_by"], json!(["team"]));
    assert_eq!(
        rows(&body),
        vec![
            (json!({"team": "team_b"}), 2, 11_000),
            (json!({"team": "team_a"}), 3, 6_000),
        ]
    );
    assert_eq!(
        body["total"],
        json!({
            "requests": 5,
            "tokens": {"input": 50, "cached_input": 5, "cache_write": 3, "output": 100},
            "cost_nanos": 17_000,
            "cost_usd": "0.000017",
            "cost_avoided_nanos": 500,
            "cost_avoided_usd": "0.0000005",
        })
    );
    let row = &body["rows"][1];
    assert_eq!(row["cost_usd"], "0.000006");
    assert_eq!(row["tokens"]["cached_input"], 5);

    // Filter + two dimensions; equal costs are ordered by key.
    let body = l
        .spend(&format!("group_by=team,model&team=team_a&{two_days}"))
        .await;
    assert_eq!(
        rows(&body),
        vec![
            (json!({"team": "team_a", "model": "claude-haiku"}), 1, 3_000),
            (json!({"team": "team_a", "model": "gpt-4o-mini"}), 2, 3_000),
        ]
    );
    assert_eq!(body["total"]["cost_nanos"], 6_000);

    // Hours and days are UTC buckets.
    let body = l
        .spend(&format!("group_by=hour&{}", range(H0, H0 + 2 * HOUR)))
        .await;
    assert_eq!(
        rows(&body),
        vec![
            (json!({"hour": "2026-11-01T01:00:00Z"}), 2, 9_000),
            (json!({"hour": "2026-11-01T00:00:00Z"}), 2, 4_000),
        ]
    );
    let body = l.spend(&format!("group_by=day&{two_days}")).await;
    assert_eq!(
        rows(&body),
        vec![
            (json!({"day": "2026-11-01"}), 4, 13_000),
            (json!({"day": "2026-11-02"}), 1, 4_000),
        ]
    );

    // Half-open range: [H0+1h, H0+1d+2h) leaves out b2 at exactly H0+1d+2h.
    let body = l.spend(&range(H0 + HOUR, H0 + DAY + 2 * HOUR)).await;
    assert_eq!(body["total"]["cost_nanos"], 9_000);
    let body = l.spend(&range(H0 + HOUR, H0 + DAY + 3 * HOUR)).await;
    assert_eq!(body["total"]["cost_nanos"], 13_000);
    // Mid-hour bounds widen to whole hours, and the response says so.
    let body = l
        .spend("from=2026-11-01T00:30:00Z&to=2026-11-01T00:40:00Z")
        .await;
    assert_eq!(body["from"], H0);
    assert_eq!(body["to"], H0 + HOUR);
    assert_eq!(body["total"]["cost_nanos"], 4_000);

    // No group_by: one row with an empty key; provider filter.
    let body = l.spend(&format!("provider=anthropic&{two_days}")).await;
    assert_eq!(rows(&body), vec![(json!({}), 2, 7_000)]);
    assert_eq!(body["total"]["cost_avoided_nanos"], 500);

    // Absent optional attributes group under null.
    let body = l.spend(&format!("group_by=user&{two_days}")).await;
    assert_eq!(
        rows(&body),
        vec![
            (json!({"user": null}), 4, 16_000),
            (json!({"user": "alice"}), 1, 1_000),
        ]
    );
    let body = l
        .spend(&format!(
            "group_by=workflow,cache&consumer_group=b&{two_days}"
        ))
        .await;
    assert_eq!(
        rows(&body),
        vec![
            (json!({"workflow": "triage", "cache": "miss"}), 1, 7_000),
            (json!({"workflow": null, "cache": "miss"}), 1, 4_000),
        ]
    );
    let body = l
        .spend(&format!(
            "group_by=api,outcome,lane,provider&model=claude-haiku&{two_days}"
        ))
        .await;
    assert_eq!(
        rows(&body),
        vec![(
            json!({"api": "messages", "outcome": "ok", "lane": "anthropic-haiku", "provider": "anthropic"}),
            2,
            7_000
        )]
    );

    // Nothing in range: no rows, zero total.
    let body = l.spend(&range(H0 - 10 * DAY, H0 - 9 * DAY)).await;
    assert_eq!(rows(&body), vec![]);
    assert_eq!(body["total"]["requests"], 0);
    assert_eq!(body["total"]["cost_usd"], "0.00");
}

#[tokio::test]
async fn spend_defaults_to_the_last_30_days() {
    let l = Ledger::new();
    let now = crate::clock::now_ms();
    l.post(&[
        event("recent", now - DAY, "team_a", 5),
        event("old", now - 40 * DAY, "team_a", 7),
    ])
    .await;
    let body = l.spend("group_by=team").await;
    assert_eq!(rows(&body), vec![(json!({"team": "team_a"}), 1, 5)]);
    let to = body["to"].as_i64().unwrap();
    assert!(to >= now && to <= now + HOUR, "{body}");
}

#[tokio::test]
async fn data_survives_a_restart() {
    let dir = TempDir::new();
    {
        let l = Ledger::at(&dir);
        l.post(&dataset()).await;
    }
    let l = Ledger::at(&dir);
    let body = l.spend(&range(H0, H0 + 2 * DAY)).await;
    assert_eq!(body["total"]["cost_nanos"], 17_000);
    assert_eq!(
        l.post(&dataset()).await["duplicates"],
        5,
        "ids remembered across restarts"
    );
}

#[tokio::test]
async fn bad_queries_are_400_with_a_clear_message() {
    let l = Ledger::new();
    let m = l.bad_request("/v1/spend?group_by=team,colour").await;
    assert!(m.contains("unknown group_by dimension 'colour'"), "{m}");
    let m = l.bad_request("/v1/spend?from=last-week").await;
    assert!(m.contains("'from'") && m.contains("RFC 3339"), "{m}");
    let m = l
        .bad_request("/v1/spend?from=2026-11-02&to=2026-11-01")
        .await;
    assert!(m.contains("must be before"), "{m}");
    let m = l.bad_request("/v1/spend?teem=a").await;
    assert!(m.contains("unknown query parameter 'teem'"), "{m}");
    let m = l.bad_request("/v1/events?limit=5000").await;
    assert!(m.contains("1 to 1000"), "{m}");
    l.bad_request("/v1/rejected-events?limit=0").await;

    for body in ["{\"id\": \"x\"}", "not json", "", "[{\"id\": \"x\""] {
        let (status, resp) = l.post_raw(body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {resp}");
        let m = resp["error"]["message"].as_str().unwrap();
        assert!(m.starts_with("the body must be a JSON array"), "{m}");
    }

    let (status, resp) = l.post_raw(vec![b' '; super::MAX_BODY_BYTES + 1]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(resp["error"]["type"], "request_too_large");

    // Paths and methods the access table does not list are refused without an admin
    // token (fail closed); an admin learns that they do not exist.
    let (status, resp) = l.get("/v2/nothing").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{resp}");
    let admin_get = |uri: &str| {
        Request::get(uri)
            .header("authorization", &l.admin)
            .body(Body::empty())
            .unwrap()
    };
    let (status, text) = l.send(admin_get("/v2/nothing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let resp: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(resp["error"]["type"], "not_found_error");
    let delete = |token: Option<&str>| {
        let mut r = Request::delete("/v1/events");
        if let Some(t) = token {
            r = r.header("authorization", t);
        }
        r.body(Body::empty()).unwrap()
    };
    assert_eq!(l.send(delete(None)).await.0, StatusCode::UNAUTHORIZED);
    let (status, text) = l.send(delete(Some(&l.admin))).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let resp: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(resp["error"]["type"], "method_not_allowed");
}

#[tokio::test]
async fn events_are_listed_newest_first_and_filtered() {
    let l = Ledger::new();
    l.post(&dataset()).await;
    let (status, body) = l.get("/v1/events?team=team_a&limit=2").await;
    assert_eq!(status, StatusCode::OK);
    let events: Vec<CostEvent> = serde_json::from_value(body["events"].clone()).unwrap();
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, vec!["a3", "a2"]);
    assert_eq!(events[1], dataset()[1], "events come back as sent");
    let (_, body) = l.get("/v1/events?provider=anthropic").await;
    assert_eq!(body["events"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn health_home_page_and_openapi() {
    let l = Ledger::new();
    let (status, body) = l.get("/healthz").await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));

    let (status, html) = l.send(Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("/assets/app.js") && html.contains("/assets/chart.umd.min.js"));

    let (status, doc) = l.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let routes = [
        ("/v1/events", "post"),
        ("/v1/events", "get"),
        ("/v1/rejected-events", "get"),
        ("/v1/spend", "get"),
        ("/v1/export", "get"),
        ("/healthz", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
        ("/", "get"),
        ("/v1/wallets", "get"),
        ("/v1/wallets/{team}", "get"),
        ("/v1/wallets/{team}/allocations", "post"),
        ("/v1/wallets/{team}/holds/{lease_id}/resolve", "post"),
        ("/v1/leases", "post"),
        ("/v1/budgets", "get"),
        ("/v1/alerts", "get"),
        ("/v1/teams/{team}/alerts", "get"),
        ("/v1/teams/{team}/alerts/{id}", "get"),
        ("/v1/teams/{team}/alerts/{id}/acknowledge", "post"),
        ("/v1/teams/{team}/alert-channels", "get"),
        ("/v1/teams/{team}/alert-channels", "post"),
        ("/v1/teams/{team}/alert-channels/{id}", "delete"),
        ("/v1/teams/{team}/digest", "get"),
        ("/v1/teams/{team}/digest", "post"),
        ("/assets/{file}", "get"),
        ("/v1/session", "get"),
        ("/v1/session", "post"),
        ("/v1/session", "delete"),
        ("/v1/insights/series", "get"),
        ("/v1/insights/teams", "get"),
        ("/v1/insights/budget", "get"),
        ("/v1/insights/mix", "get"),
        ("/v1/insights/cache", "get"),
        ("/v1/insights/premium", "get"),
        ("/v1/insights/top", "get"),
        ("/v1/insights/drivers", "get"),
        ("/v1/insights/delivery", "get"),
        ("/v1/insights/recommendations", "get"),
        ("/v1/insights/wallet", "get"),
        ("/v1/insights/live", "get"),
        ("/v1/policy", "get"),
        ("/v1/allocation-requests", "get"),
        ("/v1/budget-changes", "get"),
        ("/v1/teams/{team}/budget", "get"),
        ("/v1/teams/{team}/budget", "post"),
        ("/v1/teams/{team}/budget/proposals/{id}/decision", "post"),
        ("/v1/teams/{team}/allocation-requests", "get"),
        ("/v1/teams/{team}/allocation-requests", "post"),
        ("/v1/teams/{team}/allocation-requests/{id}/decision", "post"),
        ("/v1/teams/{team}/policy", "get"),
        ("/v1/teams/{team}/policy", "post"),
        ("/v1/audit", "get"),
        ("/v1/quarantine", "get"),
        ("/v1/reconciliation", "get"),
    ];
    for (path, method) in routes {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from openapi.json"
        );
    }
    let distinct: std::collections::BTreeSet<&str> = routes.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        paths.len(),
        distinct.len(),
        "openapi.json documents a route that does not exist"
    );
    // Every group_by dimension the server accepts is documented, and no other.
    let dims =
        &doc["components"]["schemas"]["SpendResponse"]["properties"]["group_by"]["items"]["enum"];
    let expected: Vec<&str> = crate::query::Dim::ALL.iter().map(|d| d.name()).collect();
    assert_eq!(dims, &json!(expected));
}
