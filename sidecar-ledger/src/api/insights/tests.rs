//! The dashboard's endpoints and token access, in-process: router + SQLite (and
//! PostgreSQL, when the tests have a server) + seeded demo history.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;

use crate::api::router_with;
use crate::auth;
use crate::state::AppState;
use crate::state::DEFAULT_LEASE_TTL_MS;
use crate::store::conformance::fixtures::PgSchema;
use crate::store::tokens::{NewToken, Role};
use crate::store::{SqliteStore, Store};
use crate::test_util::{event_json, TempDir};

struct Fixture {
    app: Router,
    store: Arc<dyn Store>,
    _guard: Guard,
}

#[allow(dead_code)] // held for their Drop
enum Guard {
    Sqlite(TempDir),
    Pg(PgSchema),
}

fn fixture(require_tokens: bool) -> Fixture {
    let dir = TempDir::new();
    let store = Arc::new(SqliteStore::open(&dir.path().join("ledger.sqlite3")).unwrap());
    fixture_on(store, Guard::Sqlite(dir), require_tokens)
}

/// The same on a fresh PostgreSQL schema, if the tests have a server.
fn pg_fixture() -> Option<Fixture> {
    let schema = PgSchema::new()?;
    let store = Arc::new(schema.open().unwrap());
    Some(fixture_on(store, Guard::Pg(schema), false))
}

fn fixture_on(store: Arc<dyn Store>, guard: Guard, require_tokens: bool) -> Fixture {
    // A fifth of the demo's volume: its draws are seeded by date, and at this scale the
    // seeded premium drift clears the moves' $1/month threshold on every date (checked
    // over a hundred consecutive days); at 5% it did on only a few days in sixty.
    crate::demo_history::seed(store.as_ref(), 20, 0.2, crate::clock::now_ms()).unwrap();
    let app = router_with(AppState {
        store: store.clone(),
        lease_ttl_ms: DEFAULT_LEASE_TTL_MS,
        budgets: crate::config_reload::Shared::new(vec![serde_yaml_ng::from_str(
            "team_id: team_support\namount_usd: \"40.00\"\nperiod: monthly",
        )
        .unwrap()]),
        require_tokens,
        metrics: Default::default(),
        config: crate::config_reload::Shared::new(None),
        auth_limiter: Default::default(),
        ingest_checks: Default::default(),
        lease_holder_share_percent: tollgate_core::lease::DEFAULT_HOLDER_SHARE_PERCENT,
    });
    Fixture {
        app,
        store,
        _guard: guard,
    }
}

impl Fixture {
    fn token(&self, role: Role, team: Option<&str>) -> String {
        let token = auth::generate_token().unwrap();
        self.store
            .create_token(
                &NewToken {
                    name: "t".into(),
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

    async fn call(&self, req: Request<Body>) -> (StatusCode, Value, axum::http::HeaderMap) {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            headers,
        )
    }

    async fn get(&self, uri: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = Request::get(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let (s, v, _) = self.call(req.body(Body::empty()).unwrap()).await;
        (s, v)
    }
}

#[tokio::test]
async fn insights_always_need_a_token_and_team_tokens_see_only_their_team() {
    let f = fixture(false);
    let (status, body) = f.get("/v1/insights/teams", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["type"], "authentication_error");
    let (status, _) = f.get("/v1/insights/teams", Some("tgk_nonsense")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let support = f.token(Role::Team, Some("team_support"));
    let finance = f.token(Role::Finance, None);
    let (status, body) = f.get("/v1/insights/teams", Some(&support)).await;
    assert_eq!(status, StatusCode::OK);
    let teams: Vec<&str> = body["teams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["team"].as_str().unwrap())
        .collect();
    assert_eq!(teams, vec!["team_support"]);
    let (_, body) = f.get("/v1/insights/teams", Some(&finance)).await;
    assert_eq!(body["teams"].as_array().unwrap().len(), 3);

    for uri in [
        "/v1/insights/budget?team=team_finance",
        "/v1/insights/cache?team=team_finance",
        "/v1/insights/drivers?team=team_engineering",
        "/v1/insights/series?team=team_finance&group_by=lane",
    ] {
        let (status, body) = f.get(uri, Some(&support)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}: {body}");
        assert_eq!(body["error"]["type"], "permission_error");
    }
    // Without team=, a team token's answers are about its team only.
    let (_, top) = f.get("/v1/insights/top?by=user", Some(&support)).await;
    assert!(top["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["team"] == "team_support"));
    let (_, series) = f
        .get(
            "/v1/insights/series?group_by=team&bucket=week",
            Some(&support),
        )
        .await;
    assert!(series["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["key"]["team"] == "team_support"));

    // A revoked token is refused.
    let id = f.store.tokens().unwrap()[0].id;
    f.store.revoke_token(id, 1).unwrap();
    let (status, _) = f.get("/v1/insights/teams", Some(&support)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn with_insecure_open_reads_reads_are_open_and_writes_still_need_tokens() {
    let f = fixture(false);
    for uri in [
        "/healthz",
        "/openapi.json",
        "/v1/spend",
        "/v1/wallets",
        "/v1/budgets",
    ] {
        assert_eq!(f.get(uri, None).await.0, StatusCode::OK, "{uri}");
    }
    // The data plane's writes need an ingest token even with open reads.
    let post = |token: Option<&str>| {
        let mut req = Request::post("/v1/events").header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        req.body(Body::from(format!(
            "[{}]",
            event_json("x1", 1_000, "team_a", 5)
        )))
        .unwrap()
    };
    assert_eq!(f.call(post(None)).await.0, StatusCode::UNAUTHORIZED);
    let ingest = f.token(Role::Ingest, None);
    assert_eq!(f.call(post(Some(&ingest))).await.0, StatusCode::OK);
}

#[tokio::test]
async fn require_tokens_scopes_the_existing_reads() {
    let f = fixture(true);
    let support = f.token(Role::Team, Some("team_support"));
    let admin = f.token(Role::Admin, None);
    // Still open: health, the page.
    assert_eq!(f.get("/healthz", None).await.0, StatusCode::OK);
    assert_eq!(f.get("/", None).await.0, StatusCode::OK);
    // Reads need a token now.
    for uri in [
        "/v1/spend",
        "/v1/wallets",
        "/v1/budgets",
        "/v1/alerts",
        "/v1/events",
    ] {
        assert_eq!(f.get(uri, None).await.0, StatusCode::UNAUTHORIZED, "{uri}");
    }
    // A team token: spend pinned to its team, lists filtered, others 403.
    let (s, spend) = f.get("/v1/spend?group_by=team", Some(&support)).await;
    assert_eq!(s, StatusCode::OK);
    let rows = spend["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["key"]["team"], "team_support");
    assert_eq!(
        f.get("/v1/spend?team=team_finance", Some(&support)).await.0,
        StatusCode::FORBIDDEN
    );
    let (_, wallets) = f.get("/v1/wallets", Some(&support)).await;
    assert_eq!(wallets["wallets"].as_array().unwrap().len(), 1);
    assert_eq!(
        f.get("/v1/wallets/team_finance", Some(&support)).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        f.get("/v1/wallets/team_support", Some(&support)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        f.get("/v1/rejected-events", Some(&support)).await.0,
        StatusCode::FORBIDDEN
    );
    let (_, wallets) = f.get("/v1/wallets", Some(&admin)).await;
    assert_eq!(wallets["wallets"].as_array().unwrap().len(), 3);

    // Allocations: admin Bearer only.
    let allocate = |token: Option<&str>| {
        let mut req = Request::post("/v1/wallets/team_support/allocations")
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        req.body(Body::from(
            r#"{"amount_usd":"1.00","actor":"test","reason":"test"}"#,
        ))
        .unwrap()
    };
    assert_eq!(f.call(allocate(None)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        f.call(allocate(Some(&support))).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(f.call(allocate(Some(&admin))).await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn session_cookie_signs_the_page_in_and_out() {
    let f = fixture(false);
    let support = f.token(Role::Team, Some("team_support"));
    let (s, _, _) = f
        .call(
            Request::post("/v1/session")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"token":"tgk_wrong"}"#))
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, body, headers) = f
        .call(
            Request::post("/v1/session")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(format!(r#"{{"token":"{support}"}}"#)))
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["sees"], "team");
    assert_eq!(body["teams"], serde_json::json!(["team_support"]));
    let cookie = headers[header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let pair = cookie.split(';').next().unwrap().to_string();
    let (s, body, _) = f
        .call(
            Request::get("/v1/session")
                .header(header::COOKIE, pair)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["team"], "team_support");
    let (s, _, headers) = f
        .call(Request::delete("/v1/session").body(Body::empty()).unwrap())
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
}

#[tokio::test]
async fn every_chart_endpoint_answers_on_the_demo_history() {
    let f = fixture(false);
    let admin = f.token(Role::Admin, None);
    every_chart_endpoint_answers(&f, &admin).await;
}

/// The blocking PostgreSQL client may not run on the async runtime's threads: the
/// fixture is made and dropped outside it (the handlers reach the store on the
/// blocking pool, as in the ledger).
#[test]
fn every_chart_endpoint_answers_on_postgresql() {
    let Some(f) = pg_fixture() else {
        return;
    };
    let admin = f.token(Role::Admin, None);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(every_chart_endpoint_answers(&f, &admin));
}

async fn every_chart_endpoint_answers(f: &Fixture, admin: &str) {
    let get = |uri: &'static str| {
        let admin = admin.to_string();
        async move {
            let (s, body) = f.get(uri, Some(&admin)).await;
            assert_eq!(s, StatusCode::OK, "{uri}: {body}");
            body
        }
    };
    let budget = get("/v1/insights/budget?team=team_support").await;
    assert_eq!(budget["budget"]["team"], "team_support");
    assert!(budget["summary"]
        .as_str()
        .unwrap()
        .starts_with("team_support has used"));
    // One x axis (the budget period's days) for every line.
    let days = budget["days"].as_array().unwrap().len();
    for series in [
        "actual",
        "pace",
        "forecast",
        "forecast_low",
        "forecast_high",
    ] {
        assert_eq!(budget[series].as_array().unwrap().len(), days, "{series}");
    }
    assert_eq!(budget["days"][0], budget["budget"]["period_start"]);
    // Even pace reaches the budget on the period's last day; thresholds are lines.
    assert_eq!(budget["pace"][days - 1], budget["budget"]["budget_nanos"]);
    let amount = budget["budget"]["budget_nanos"].as_i64().unwrap();
    for t in budget["budget"]["thresholds"].as_array().unwrap() {
        assert_eq!(
            t["nanos"].as_i64().unwrap(),
            amount * t["pct"].as_i64().unwrap() / 100
        );
    }
    // The organisation: every team's days, no summed budget, the risks named.
    let org = get("/v1/insights/budget").await;
    assert_eq!(org["daily"].as_array().unwrap().len(), 3);
    assert!(org["budget"].is_null());
    assert!(org["summary"]
        .as_str()
        .unwrap()
        .starts_with("The organisation spent"));
    let teams = get("/v1/insights/teams").await;
    let mut ranks: Vec<i64> = teams["teams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["risk_rank"].as_i64().unwrap())
        .collect();
    ranks.sort_unstable();
    assert_eq!(ranks, vec![1, 2, 3]);

    let wallet = get("/v1/insights/wallet?team=team_support").await;
    assert_eq!(wallet["wallet"]["team"], "team_support");
    assert_eq!(wallet["days"].as_array().unwrap().len(), 30);
    assert_eq!(
        wallet["refusals"]["wallet_exhausted"]
            .as_array()
            .unwrap()
            .len(),
        30
    );
    let live = get("/v1/insights/live").await;
    assert!(live["as_of_ms"].as_i64().unwrap() > 0);
    assert_eq!(live["time_zone"], "UTC");

    let mix = get("/v1/insights/mix?by=provider&bucket=week").await;
    assert!(mix["series"].as_array().unwrap().len() >= 2);
    let cache = get("/v1/insights/cache?team=team_support").await;
    assert!(cache["summary"]
        .as_str()
        .unwrap()
        .contains("Cache hit rate"));
    let premium = get("/v1/insights/premium?team=team_engineering").await;
    assert!(premium["total_premium_share"].as_f64().unwrap() > 0.0);
    let top = get("/v1/insights/top?by=workflow&limit=3").await;
    assert_eq!(top["items"].as_array().unwrap().len(), 3);
    let hourly = get("/v1/insights/series?bucket=hour&group_by=outcome").await;
    assert!(!hourly["rows"].as_array().unwrap().is_empty());
    let monthly = get("/v1/insights/series?bucket=month&group_by=premium,team").await;
    assert!(!monthly["rows"].as_array().unwrap().is_empty());

    // The effects add up exactly to the difference, on real data.
    let d = get("/v1/insights/drivers?team=team_engineering").await;
    let sum: i64 = d["effects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["nanos"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, d["difference_nanos"].as_i64().unwrap());
    assert_eq!(
        d["difference_nanos"].as_i64().unwrap(),
        d["b"]["cost_nanos"].as_i64().unwrap() - d["a"]["cost_nanos"].as_i64().unwrap()
    );
    // And match /v1/spend for the same days.
    let (_, spend) = f
        .get(
            &format!(
                "/v1/spend?team=team_engineering&from={}&to={}",
                d["b"]["from_ms"], d["b"]["to_ms"]
            ),
            None,
        )
        .await;
    assert_eq!(spend["total"]["cost_nanos"], d["b"]["cost_nanos"]);

    let (s, _) = f
        .get("/v1/insights/series?group_by=user,lane", Some(admin))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = f.get("/v1/insights/mix?colour=red", Some(admin)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // A choice out of its list names the list and what was given.
    for (uri, message) in [
        (
            "/v1/insights/mix?by=colour",
            "'by' must be lane, provider or model, found 'colour'",
        ),
        (
            "/v1/insights/top?by=team",
            "'by' must be user or workflow, found 'team'",
        ),
        (
            "/v1/insights/cache?bucket=hour",
            "'bucket' must be one of: day, week, month",
        ),
    ] {
        let (s, body) = f.get(uri, Some(admin)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(body["error"]["message"], message, "{uri}");
    }
    // Without `by`, the first choice.
    let (s, mix) = f.get("/v1/insights/mix", Some(admin)).await;
    assert_eq!((s, mix["by"].as_str()), (StatusCode::OK, Some("lane")));
}

/// Finance sets team_support a budget ($0.50) its seeded spend overruns.
async fn overrun_support_budget(f: &Fixture, finance: &str) {
    let (status, changed, _) = f
        .call(
            Request::post("/v1/teams/team_support/budget")
                .header(header::AUTHORIZATION, format!("Bearer {finance}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"amount_usd": "0.50", "reason": "test"}"#))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{changed}");
}

#[tokio::test]
async fn recommended_moves_are_ranked_computed_and_confined_to_the_team() {
    let f = fixture(false);
    let finance = f.token(Role::Finance, None);
    let support = f.token(Role::Team, Some("team_support"));
    let (status, body) = f.get("/v1/insights/recommendations", Some(&finance)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let moves = body["moves"].as_array().unwrap();
    let impacts: Vec<i64> = moves
        .iter()
        .map(|m| m["impact_nanos"].as_i64().unwrap())
        .collect();
    assert!(impacts.windows(2).all(|w| w[0] >= w[1]), "{impacts:?}");
    assert_eq!(body["total_impact_nanos"], impacts.iter().sum::<i64>());
    // The seeded history: engineering's summarise drifted onto the premium lane.
    let drift = moves
        .iter()
        .find(|m| m["kind"] == "restrict_premium")
        .expect("premium drift is a move");
    assert_eq!(drift["team"], "team_engineering");
    assert_eq!(drift["workflow"], "summarise");
    assert_eq!(drift["action"]["path"], "/v1/teams/team_engineering/policy");
    assert_eq!(drift["action"]["body"]["change"], "restrict_premium");
    let sentence = drift["sentence"].as_str().unwrap();
    assert!(
        sentence.starts_with("premium share on summarise rose from")
            && sentence.contains("/month)"),
        "{sentence}"
    );
    // Finance sets team_support a budget its seeded spend overruns.
    overrun_support_budget(&f, &finance).await;
    let (_, body) = f.get("/v1/insights/recommendations", Some(&finance)).await;
    let moves = body["moves"].as_array().unwrap();
    let budget = moves
        .iter()
        .find(|m| m["kind"] == "revise_budget")
        .expect("the overrun budget is a move");
    assert_eq!(budget["team"], "team_support");
    assert_eq!(budget["action"]["path"], "/v1/teams/team_support/budget");

    let (_, mine) = f.get("/v1/insights/recommendations", Some(&support)).await;
    let teams: std::collections::BTreeSet<&str> = mine["moves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["team"].as_str().unwrap())
        .collect();
    assert_eq!(teams.into_iter().collect::<Vec<_>>(), vec!["team_support"]);
    let (status, _) = f
        .get(
            "/v1/insights/recommendations?team=team_engineering",
            Some(&support),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_organisations_moves_are_each_teams_moves() {
    // The organisation's moves come from shared reads across every team; they must be
    // exactly the moves each team's own view finds. (Amounts move with the clock
    // between two requests, as forecasts do, so moves are compared by what they are.)
    let identity = |m: &serde_json::Value| {
        format!(
            "{} {} {} {} {}",
            m["kind"], m["team"], m["workflow"], m["action"]["path"], m["action"]["label"]
        )
    };
    let f = fixture(false);
    let finance = f.token(Role::Finance, None);
    overrun_support_budget(&f, &finance).await;
    let (_, org) = f.get("/v1/insights/recommendations", Some(&finance)).await;
    let mut org_moves: Vec<String> = org["moves"]
        .as_array()
        .unwrap()
        .iter()
        .map(identity)
        .collect();
    let teams: std::collections::BTreeSet<String> = org["moves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["team"].as_str().unwrap().to_string())
        .collect();
    assert!(teams.len() >= 2, "{org}");
    let (_, wallets) = f.get("/v1/wallets", Some(&finance)).await;
    let every_team: Vec<String> = wallets["wallets"]
        .as_array()
        .unwrap_or_else(|| panic!("{wallets}"))
        .iter()
        .map(|w| w["team"].as_str().unwrap().to_string())
        .collect();
    assert!(every_team.len() >= teams.len(), "{wallets}");
    let mut per_team = Vec::new();
    for team in &every_team {
        let (status, body) = f
            .get(
                &format!("/v1/insights/recommendations?team={team}"),
                Some(&finance),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        per_team.extend(body["moves"].as_array().unwrap().iter().map(identity));
    }
    org_moves.sort();
    per_team.sort();
    assert_eq!(org_moves, per_team);
}

#[tokio::test]
async fn a_move_already_made_is_not_recommended_again() {
    let f = fixture(false);
    let finance = f.token(Role::Finance, None);
    let post = |path: &str, body: &str| {
        Request::post(path)
            .header(header::AUTHORIZATION, format!("Bearer {finance}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let kinds = |body: &serde_json::Value| -> Vec<(String, String)> {
        body["moves"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let s = |k: &str| m[k].as_str().unwrap().to_string();
                (s("kind"), s("team"))
            })
            .collect()
    };
    let drift = (
        "restrict_premium".to_string(),
        "team_engineering".to_string(),
    );
    let (_, before) = f.get("/v1/insights/recommendations", Some(&finance)).await;
    assert!(kinds(&before).contains(&drift), "{before}");
    let (status, body, _) = f
        .call(post(
            "/v1/teams/team_engineering/policy",
            r#"{"change": "restrict_premium", "allowed_workflows": [], "action": "downgrade", "reason": "test"}"#,
        ))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, after) = f.get("/v1/insights/recommendations", Some(&finance)).await;
    assert!(!kinds(&after).contains(&drift), "{after}");
    // A pending proposal is the budget move made: not offered again until decided.
    let support = f.token(Role::Team, Some("team_support"));
    let (status, body, _) = f
        .call(post(
            "/v1/teams/team_support/budget",
            r#"{"amount_usd": "0.50", "reason": "test"}"#,
        ))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let revise = ("revise_budget".to_string(), "team_support".to_string());
    let (_, now) = f.get("/v1/insights/recommendations", Some(&finance)).await;
    assert!(kinds(&now).contains(&revise), "{now}");
    let (status, body, _) = f
        .call(
            Request::post("/v1/teams/team_support/budget")
                .header(header::AUTHORIZATION, format!("Bearer {support}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"amount_usd": "900.00", "reason": "more"}"#))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (_, later) = f.get("/v1/insights/recommendations", Some(&finance)).await;
    assert!(!kinds(&later).contains(&revise), "{later}");
}

#[tokio::test]
async fn near_repeat_misses_are_shown_with_the_cache_and_become_a_move() {
    let f = fixture(false);
    let finance = f.token(Role::Finance, None);
    let now = crate::clock::now_ms();
    // A workflow that re-sends one prompt (another id, another timestamp) every minute.
    let events: Vec<_> = (0..600)
        .map(|i| {
            let mut e = crate::test_util::event(
                &format!("nr-{i}"),
                now - 86_400_000 + i * 60_000,
                "team_support",
                50_000_000,
            );
            e.workflow = Some("ticket-echo".into());
            e.cache = tollgate_core::event::CacheStatus::Miss;
            e.near_repeat = i > 0;
            e
        })
        .collect();
    f.store.ingest(&crate::test_util::batch(events)).unwrap();
    let (status, cache) = f
        .get("/v1/insights/cache?team=team_support", Some(&finance))
        .await;
    assert_eq!(status, StatusCode::OK, "{cache}");
    let row = cache["near_repeats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["workflow"] == "ticket-echo")
        .expect("the workflow's repeats are listed")
        .clone();
    assert_eq!(
        (row["misses"].as_i64(), row["repeats"].as_i64()),
        (Some(600), Some(599))
    );
    assert_eq!(row["repeat_cost_nanos"], 599 * 50_000_000i64);
    assert_eq!(row["normalized_on"], false);
    assert!(
        cache["summary"]
            .as_str()
            .unwrap()
            .contains("repeated an earlier request under normalisation"),
        "{cache}"
    );
    let (_, body) = f.get("/v1/insights/recommendations", Some(&finance)).await;
    let moves = body["moves"].as_array().unwrap();
    let m = moves
        .iter()
        .find(|m| m["kind"] == "normalized_cache" && m["workflow"] == "ticket-echo")
        .expect("the near-repeats are a move");
    assert_eq!(m["action"]["path"], "/v1/teams/team_support/policy");
    // Turned on: listed as on, and no longer recommended.
    let (status, changed, _) = f
        .call(
            Request::post("/v1/teams/team_support/policy")
                .header(header::AUTHORIZATION, format!("Bearer {finance}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(m["action"]["body"].to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{changed}");
    let (_, cache) = f
        .get("/v1/insights/cache?team=team_support", Some(&finance))
        .await;
    let row = cache["near_repeats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["workflow"] == "ticket-echo")
        .unwrap()
        .clone();
    assert_eq!(row["normalized_on"], true);
    let (_, body) = f.get("/v1/insights/recommendations", Some(&finance)).await;
    assert!(!body["moves"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["kind"] == "normalized_cache" && m["workflow"] == "ticket-echo"));
}
