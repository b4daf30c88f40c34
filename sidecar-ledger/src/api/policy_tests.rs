//! The policy endpoints in-process on SQLite with the example config: who may change
//! what, validation against the config's teams and lanes, idempotent retries, and the
//! versioned document Envoy polls.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::action_fixture::{fixture, Fixture};
use crate::store::tokens::Role;

impl Fixture {
    async fn change(&self, team: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.post(&format!("/v1/teams/{team}/policy"), token, body)
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
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a team token reads its own team only, even with open reads"
    );

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
    let envoy = f.token("envoy", Role::Ingest, None);
    let support = f.token("support lead", Role::Team, Some("team_support"));
    // Every team's policy: the data plane's feed, not a team's read.
    assert_eq!(f.get("/v1/policy", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        f.get("/v1/policy", Some(&support)).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(f.get("/v1/policy", Some(&admin)).await.0, StatusCode::OK);
    let envoy = Some(envoy.as_str());
    let (status, body) = f.get("/v1/policy", envoy).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"version": 0, "teams": {}}));
    let (status, _) = f.get("/v1/policy?after=0", envoy).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);

    let (_, made) = f
        .change("team_support", Some(&admin), pause_workflow("draft-reply"))
        .await;
    let version = made["change"]["id"].as_i64().unwrap();
    let (status, body) = f.get("/v1/policy?after=0", envoy).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["version"], version);
    assert_eq!(
        body["teams"]["team_support"]["pauses"][0]["scope"],
        json!({"kind": "workflow", "value": "draft-reply"})
    );
    let (status, _) = f.get(&format!("/v1/policy?after={version}"), envoy).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let (status, body) = f.get("/v1/policy?after=soon", envoy).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
