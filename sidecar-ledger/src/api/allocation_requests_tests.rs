//! Allocation requests through the API on SQLite with the example config: a team lead
//! files with evidence the ledger computes, finance decides, the wallet is granted once,
//! and every wrong move gets a clear error.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::action_fixture::{fixture, Fixture};
use crate::store::tokens::Role;
use crate::test_util::event;

const USD: i64 = 1_000_000_000;

impl Fixture {
    async fn file(&self, team: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.post(
            &format!("/v1/teams/{team}/allocation-requests"),
            Some(token),
            body,
        )
        .await
    }

    async fn decide(&self, team: &str, id: i64, token: &str, body: Value) -> (StatusCode, Value) {
        self.post(
            &format!("/v1/teams/{team}/allocation-requests/{id}/decision"),
            Some(token),
            body,
        )
        .await
    }
}

/// The example config's wallets exist (as `serve` would create them), with some spend.
fn with_wallets(f: &Fixture) {
    let now = crate::clock::now_ms();
    for team in ["team_support", "team_engineering"] {
        f.store.ensure_wallet(team, now).unwrap();
    }
    let mut events = Vec::new();
    for day in 1..=10 {
        let mut e = event(
            &format!("e{day}"),
            now - day * 86_400_000,
            "team_support",
            3 * USD,
        );
        e.lane = Some("openai-gpt4o-mini".into());
        events.push(e);
    }
    f.store.ingest(&crate::test_util::batch(events)).unwrap();
}

#[tokio::test]
async fn a_lead_files_with_evidence_and_finance_approves_once() {
    let f = fixture();
    with_wallets(&f);
    let lead = f.token("support lead", Role::Team, Some("team_support"));
    let finance = f.token("finance desk", Role::Finance, None);

    let (status, body) = f
        .file(
            "team_support",
            &lead,
            json!({"amount_usd": "250.00", "reason": "launch week", "idempotency_key": "form-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let request = &body["request"];
    let id = request["id"].as_i64().unwrap();
    assert_eq!(request["status"], "pending");
    assert_eq!(request["amount_nanos"], 250 * USD);
    assert_eq!(request["requested_by"], "support lead");
    // The evidence is the ledger's, computed at filing.
    let evidence = &request["evidence"];
    assert_eq!(evidence["period"]["spent_nanos"], 30 * USD);
    assert_eq!(evidence["period"]["requests"], 10);
    assert_eq!(evidence["lanes"][0]["lane"], "openai-gpt4o-mini");
    assert_eq!(evidence["wallet"]["team"], "team_support");
    assert!(
        evidence["wallet"]["run_rate_per_day_nanos"]
            .as_i64()
            .unwrap()
            > 0
    );
    assert!(evidence["drivers"]["effects"].as_array().unwrap().len() >= 4);
    let summary = evidence["summary"].as_str().unwrap();
    assert!(
        summary.contains("team_support spent $30.00 over the last 30 days"),
        "{summary}"
    );

    // A retried submission files nothing new.
    let (status, again) = f
        .file(
            "team_support",
            &lead,
            json!({"amount_usd": "250.00", "reason": "launch week", "idempotency_key": "form-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (again["replayed"].clone(), again["request"]["id"].as_i64()),
        (json!(true), Some(id))
    );

    // The lead cannot decide; finance sees it pending and approves a different amount.
    let (status, body) = f
        .decide("team_support", id, &lead, json!({"decision": "approve"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (_, pending) = f
        .get("/v1/allocation-requests?status=pending", Some(&finance))
        .await;
    assert_eq!(pending["requests"].as_array().unwrap().len(), 1);
    let (_, before) = f.get("/v1/wallets/team_support", None).await;
    let allocated = before["allocated_nanos"].as_i64().unwrap();
    let approve =
        json!({"decision": "approve", "amount_usd": "200", "comment": "200 now, review in May"});
    let (status, body) = f
        .decide("team_support", id, &finance, approve.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["request"]["status"], "approved");
    assert_eq!(body["request"]["decided_by"], "finance desk");
    assert_eq!(body["wallet"]["allocated_nanos"], allocated + 200 * USD);
    // The same click again answers as before and grants nothing more.
    let (status, _) = f.decide("team_support", id, &finance, approve).await;
    assert_eq!(status, StatusCode::OK);
    let (_, after) = f.get("/v1/wallets/team_support", None).await;
    assert_eq!(after["allocated_nanos"], allocated + 200 * USD);
    // A different decision now conflicts.
    let (status, body) = f
        .decide(
            "team_support",
            id,
            &finance,
            json!({"decision": "decline", "comment": "no"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("already approved by finance desk"));

    // The team's history, and the approvers were notified through the alert log.
    let (_, history) = f
        .get("/v1/teams/team_support/allocation-requests", Some(&lead))
        .await;
    assert_eq!(history["requests"][0]["approved_nanos"], 200 * USD);
    let alerts = f.store.alerts(10).unwrap();
    let kinds: Vec<&str> = alerts.iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(kinds, vec!["allocation_decided", "allocation_requested"]);
    assert!(alerts[1].message.contains("team_support asks for $250.00"));
}

#[tokio::test]
async fn wrong_moves_get_clear_errors_and_change_nothing() {
    let f = fixture();
    with_wallets(&f);
    let lead = f.token("support lead", Role::Team, Some("team_support"));
    let admin = f.token("ops", Role::Admin, None);
    let cases = [
        (
            "team_support",
            json!({"amount_usd": "0", "reason": "r"}),
            StatusCode::BAD_REQUEST,
            "more than zero",
        ),
        (
            "team_support",
            json!({"amount_usd": "12.5x", "reason": "r"}),
            StatusCode::BAD_REQUEST,
            "amount_usd",
        ),
        (
            "team_support",
            json!({"amount_usd": "10", "reason": ""}),
            StatusCode::BAD_REQUEST,
            "reason is required",
        ),
        (
            "team_support",
            json!({"amount_usd": "10"}),
            StatusCode::BAD_REQUEST,
            "reason",
        ),
        (
            "team_nope",
            json!({"amount_usd": "10", "reason": "r"}),
            StatusCode::NOT_FOUND,
            "no team",
        ),
        (
            "team_finance",
            json!({"amount_usd": "10", "reason": "r"}),
            StatusCode::NOT_FOUND,
            "no wallet",
        ),
    ];
    for (team, body, status, says) in cases {
        let (got, answer) = f.file(team, &admin, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{body}: {message}");
    }
    let (status, _) = f
        .file(
            "team_engineering",
            &lead,
            json!({"amount_usd": "10", "reason": "r"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a team token files for its own team only"
    );
    let (status, _) = f
        .post(
            "/v1/teams/team_support/allocation-requests",
            None,
            json!({"amount_usd": "10", "reason": "r"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(f
        .store
        .allocation_requests(None, None, 10)
        .unwrap()
        .is_empty());

    let (_, filed) = f
        .file(
            "team_support",
            &lead,
            json!({"amount_usd": "10", "reason": "r"}),
        )
        .await;
    let id = filed["request"]["id"].as_i64().unwrap();
    for (body, status) in [
        (json!({"decision": "decline"}), StatusCode::BAD_REQUEST),
        (json!({"decision": "maybe"}), StatusCode::BAD_REQUEST),
        (
            json!({"decision": "approve", "amount_usd": "-1"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (got, answer) = f.decide("team_support", id, &admin, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
    }
    let (status, _) = f
        .decide(
            "team_engineering",
            id,
            &admin,
            json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = f
        .get("/v1/allocation-requests?status=open", Some(&admin))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        f.store.allocation_requests(None, None, 10).unwrap()[0].status,
        crate::store::allocation_requests::RequestStatus::Pending
    );
}
