//! `POST /v1/events` with the checks against the configuration: a forged event is
//! quarantined, not charged, answered as such and audited; the rest of its batch is
//! stored; `GET /v1/quarantine` lists it to admins only.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::Value;
use tollgate_core::event::CostEvent;

use super::action_fixture::{fixture_with, Fixture};
use crate::store::tokens::Role;
use crate::test_util::event;

/// An event the filter could send with `examples/tollgate.yaml`: 10 input and 20
/// output tokens of its `gpt-5.4-mini-mini` (0.15 and 0.60 $ per million).
fn honest(id: &str) -> CostEvent {
    let mut e = event(id, 1_000, "team_support", 10 * 150 + 20 * 600);
    e.consumer_group = "support".into();
    e.model_served = "gpt-5.4-mini-mini".into();
    e
}

async fn post(f: &Fixture, token: &str, events: &[CostEvent]) -> (StatusCode, Value) {
    let req = Request::post("/v1/events")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(serde_json::to_string(events).unwrap()))
        .unwrap();
    f.call(req).await
}

fn forged() -> Vec<CostEvent> {
    let mut unknown_team = honest("f-team");
    unknown_team.team = "team_00".into();
    let mut other_wallet = honest("f-group");
    other_wallet.team = "team_finance".into();
    let mut gone_lane = honest("f-lane");
    gone_lane.lane = Some("openai-gpt5".into());
    let mut inflated = honest("f-cost");
    inflated.cost_nanos = 400_000_000_000;
    vec![unknown_team, other_wallet, gone_lane, inflated]
}

#[tokio::test]
async fn forged_events_are_quarantined_not_charged_and_the_rest_is_stored() {
    let mut f = fixture_with(true);
    f.check_events();
    let ingest = f.token("envoy-node-a", Role::Ingest, None);
    let admin = f.token("ops", Role::Admin, None);
    let spent = |f: &Fixture| {
        f.store
            .wallet("team_support", 0)
            .unwrap()
            .map_or(0, |w| w.spent_nanos)
    };
    let before = spent(&f);
    let mut batch = vec![honest("ok-1")];
    batch.extend(forged());
    let (status, body) = post(&f, &ingest, &batch).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 1, "{body}");
    assert_eq!(body["rejected"], Value::Array(vec![]));
    let got: Vec<(u64, &str, &str)> = body["quarantined"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["index"].as_u64().unwrap(),
                q["id"].as_str().unwrap(),
                q["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, "f-team", "unknown_team"),
            (2, "f-group", "unknown_group"),
            (3, "f-lane", "unknown_lane"),
            (4, "f-cost", "cost_mismatch")
        ]
    );
    assert_eq!(
        spent(&f) - before,
        13_500,
        "only the honest event is charged"
    );
    let (_, events) = f.get("/v1/events?limit=100", Some(&admin)).await;
    let ids: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ok-1"]);

    // The quarantine: admin only, with who posted each event and why.
    let (status, q) = f.get("/v1/quarantine", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK, "{q}");
    let rows = q["quarantined_events"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let inflated = rows.iter().find(|r| r["event_id"] == "f-cost").unwrap();
    assert_eq!(inflated["holder"], "envoy-node-a");
    assert_eq!(inflated["cost_nanos"], 400_000_000_000i64);
    assert_eq!(inflated["event"]["team"], "team_support");
    assert!(
        inflated["detail"].as_str().unwrap().contains("13500"),
        "{inflated}"
    );
    for (role, team) in [
        (Role::Finance, None),
        (Role::Team, Some("team_support")),
        (Role::Ingest, None),
    ] {
        let token = f.token("t", role, team);
        let (status, _) = f.get("/v1/quarantine", Some(&token)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role:?}");
    }

    // Audited once; a retried batch stores nothing twice and charges nothing.
    let audited = |f: &Fixture| {
        f.store
            .audit_log(100, None)
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "POST /v1/events (quarantined)")
            .collect::<Vec<_>>()
    };
    let log = audited(&f);
    assert_eq!(log.len(), 1);
    assert!(log[0].actor.starts_with("envoy-node-a (token "), "{log:?}");
    assert_eq!(
        log[0].after.as_ref().unwrap()["quarantined"][3]["reason"],
        "cost_mismatch"
    );
    let (status, again) = post(&f, &ingest, &batch).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(again["quarantined"].as_array().unwrap().len(), 4);
    assert_eq!(audited(&f).len(), 1);
    assert_eq!(spent(&f) - before, 13_500);
    let (_, q) = f.get("/v1/quarantine", Some(&admin)).await;
    assert_eq!(q["quarantined_events"].as_array().unwrap().len(), 4);

    // Counted by reason.
    let text = crate::metrics::METRICS.render(&[], &[]);
    for reason in [
        "unknown_team",
        "unknown_group",
        "unknown_lane",
        "cost_mismatch",
    ] {
        let line =
            format!("tollgate_ledger_ingest_quarantined_events_total{{reason=\"{reason}\"}}");
        assert!(text.contains(&line), "{line} missing");
    }
}

#[tokio::test]
async fn a_ledger_without_a_config_file_takes_events_as_sent() {
    let f = fixture_with(true);
    let ingest = f.token("envoy", Role::Ingest, None);
    let (status, body) = post(&f, &ingest, &forged()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["accepted"], 4, "{body}");
    assert_eq!(body["quarantined"], Value::Array(vec![]));
}
