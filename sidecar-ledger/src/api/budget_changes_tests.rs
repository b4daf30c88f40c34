//! Budget changes through the API on SQLite with the example config: finance changes a
//! budget at once, a team lead proposes and finance decides, the budgets in force (what
//! alerts and the dashboard read) follow, and wrong moves get clear errors.

use axum::http::StatusCode;
use serde_json::json;

use super::action_fixture::fixture;
use crate::store::tokens::Role;

const USD: i64 = 1_000_000_000;

#[tokio::test]
async fn finance_changes_at_once_a_lead_proposes_and_the_budget_in_force_follows() {
    let f = fixture();
    let finance = f.token("finance desk", Role::Finance, None);
    let lead = f.token("support lead", Role::Team, Some("team_support"));

    let (status, body) = f
        .post(
            "/v1/teams/team_support/budget",
            Some(&finance),
            json!({"amount_usd": "120.00", "thresholds_pct": [50, 90], "reason": "Q1 plan"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["change"]["status"], "applied");
    assert_eq!(body["change"]["before"], json!(null));
    assert_eq!(body["budget"]["amount_usd"], "120.00");

    let (_, budgets) = f.get("/v1/budgets", None).await;
    assert_eq!(
        budgets["budgets"][0]["budget_nanos"],
        120 * USD,
        "{budgets}"
    );

    let (status, body) = f
        .post(
            "/v1/teams/team_support/budget",
            Some(&lead),
            json!({"amount_usd": "200", "reason": "launch month", "idempotency_key": "p-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let id = body["change"]["id"].as_i64().unwrap();
    assert_eq!(body["change"]["status"], "pending");
    assert_eq!(
        body["budget"]["amount_usd"], "120.00",
        "a proposal changes nothing yet"
    );
    let (status, again) = f
        .post(
            "/v1/teams/team_support/budget",
            Some(&lead),
            json!({"amount_usd": "200", "reason": "launch month", "idempotency_key": "p-1"}),
        )
        .await;
    assert_eq!(
        (status, again["replayed"].clone()),
        (StatusCode::OK, json!(true))
    );

    let decision = format!("/v1/teams/team_support/budget/proposals/{id}/decision");
    let (status, _) = f
        .post(&decision, Some(&lead), json!({"decision": "approve"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, pending) = f.get("/v1/budget-changes?status=pending", None).await;
    assert_eq!(pending["changes"].as_array().unwrap().len(), 1);
    let (status, body) = f
        .post(
            &decision,
            Some(&finance),
            json!({"decision": "approve", "comment": "ok"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["change"]["status"], "approved");
    assert_eq!(body["budget"]["amount_usd"], "200.00");
    let (status, body) = f
        .post(
            &decision,
            Some(&finance),
            json!({"decision": "decline", "comment": "no"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (_, view) = f.get("/v1/teams/team_support/budget", Some(&lead)).await;
    assert_eq!(view["budget"]["amount_usd"], "200.00");
    assert_eq!(view["status"]["budget_nanos"], 200 * USD);
    let actors: Vec<&str> = view["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors, vec!["support lead", "finance desk"]);
    let kinds: Vec<String> = f
        .store
        .alerts(10)
        .unwrap()
        .into_iter()
        .map(|a| a.kind)
        .collect();
    assert_eq!(
        kinds,
        vec!["budget_decided", "budget_proposed", "budget_changed"]
    );
}

#[tokio::test]
async fn wrong_budget_changes_get_clear_errors() {
    let f = fixture();
    let admin = f.token("ops", Role::Admin, None);
    let lead = f.token("support lead", Role::Team, Some("team_support"));
    for (team, body, status, says) in [
        (
            "team_nope",
            json!({"amount_usd": "5", "reason": "r"}),
            StatusCode::NOT_FOUND,
            "no team",
        ),
        (
            "team_support",
            json!({"reason": "r"}),
            StatusCode::BAD_REQUEST,
            "amount_usd is required",
        ),
        (
            "team_support",
            json!({"amount_usd": "-5", "reason": "r"}),
            StatusCode::BAD_REQUEST,
            "amount_usd",
        ),
        (
            "team_support",
            json!({"amount_usd": "5", "thresholds_pct": [5000], "reason": "r"}),
            StatusCode::BAD_REQUEST,
            "between 1 and 1000",
        ),
        (
            "team_support",
            json!({"amount_usd": "5"}),
            StatusCode::BAD_REQUEST,
            "reason",
        ),
        (
            "team_support",
            json!({"remove": true, "reason": "r"}),
            StatusCode::BAD_REQUEST,
            "no budget to remove",
        ),
        (
            "team_support",
            json!({"amount_usd": "5", "reason": "r", "colour": "red"}),
            StatusCode::BAD_REQUEST,
            "colour",
        ),
    ] {
        let (got, answer) = f
            .post(
                &format!("/v1/teams/{team}/budget"),
                Some(&admin),
                body.clone(),
            )
            .await;
        assert_eq!(got, status, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{body}: {message}");
    }
    let (status, _) = f
        .post(
            "/v1/teams/team_engineering/budget",
            Some(&lead),
            json!({"amount_usd": "5", "reason": "r"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(f.store.budget_changes(None, None, 10).unwrap().is_empty());
    assert!(f.store.budgets_in_force().unwrap().is_empty());
}
