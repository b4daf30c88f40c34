//! `GET /v1/audit` and what the API records in it: a privileged write with its author,
//! team and before/after; nothing for reads, refusals or the data plane; admins only.

use axum::http::StatusCode;
use serde_json::json;

use super::action_fixture::fixture_with;
use crate::store::tokens::Role;

#[tokio::test]
async fn privileged_writes_are_recorded_with_author_and_before_after() {
    let f = fixture_with(true);
    let admin = f.token("ops", Role::Admin, None);
    let lead = f.token("support lead", Role::Team, Some("team_support"));
    let ingest = f.token("envoy", Role::Ingest, None);
    f.store.ensure_wallet("team_support", 0).unwrap();

    // Reads, refusals and the data plane record nothing.
    assert_eq!(f.get("/v1/wallets", Some(&admin)).await.0, StatusCode::OK);
    let allocation = json!({"amount_usd": "2.50", "actor": "ops", "reason": "top-up"});
    let (status, _) = f
        .post(
            "/v1/wallets/team_support/allocations",
            Some(&lead),
            allocation.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = f
        .post(
            "/v1/leases",
            Some(&ingest),
            json!({"instance": "i", "team": "team_support", "want_nanos": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, log) = f.get("/v1/audit", Some(&admin)).await;
    assert_eq!(log["entries"], json!([]), "{log}");

    // An allocation: who, what, the wallet before and after.
    let (status, body) = f
        .post(
            "/v1/wallets/team_support/allocations",
            Some(&admin),
            allocation,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // A leader's policy change: the request and the answer.
    let (status, body) = f
        .post(
            "/v1/teams/team_support/policy",
            Some(&lead),
            json!({"change": "pause", "scope": {"kind": "workflow", "value": "draft-reply"},
                   "reason": "runaway retry loop"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, log) = f.get("/v1/audit", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{log}");
    let (policy, topup) = (&entries[0], &entries[1]);
    assert_eq!(topup["action"], "POST /v1/wallets/team_support/allocations");
    assert_eq!(topup["team"], "team_support");
    assert!(
        topup["actor"].as_str().unwrap().starts_with("ops (token ")
            && topup["actor"].as_str().unwrap().ends_with(", admin)"),
        "{topup}"
    );
    assert_eq!(topup["before"]["allocated_nanos"], 0);
    assert_eq!(
        topup["after"]["wallet"]["allocated_nanos"],
        2_500_000_000i64
    );
    assert_eq!(topup["after"]["request"]["reason"], "top-up");
    assert_eq!(policy["action"], "POST /v1/teams/team_support/policy");
    assert!(policy["actor"]
        .as_str()
        .unwrap()
        .starts_with("support lead (token "));
    assert_eq!(
        policy["after"]["answer"]["policy"]["pauses"][0]["scope"]["value"],
        "draft-reply"
    );
    // No token in the log.
    let text = log.to_string();
    for token in [&admin, &lead, &ingest] {
        assert!(!text.contains(token.as_str()));
    }
    // Paging.
    let id = topup["id"].as_i64().unwrap();
    let (_, page) = f.get("/v1/audit?limit=1", Some(&admin)).await;
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);
    let (_, older) = f.get(&format!("/v1/audit?before={id}"), Some(&admin)).await;
    assert_eq!(older["entries"], json!([]));
    assert_eq!(
        f.get("/v1/audit?limit=0", Some(&admin)).await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn only_admins_read_the_audit_log_even_with_open_reads() {
    let f = fixture_with(false);
    let finance = f.token("finance", Role::Finance, None);
    let lead = f.token("lead", Role::Team, Some("team_support"));
    assert_eq!(f.get("/v1/audit", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        f.get("/v1/audit", Some(&finance)).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        f.get("/v1/audit", Some(&lead)).await.0,
        StatusCode::FORBIDDEN
    );
}
