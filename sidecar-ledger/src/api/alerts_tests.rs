//! Alerts through the API on SQLite with the example config: listed with their
//! delivery status, guide and open count (team tokens confined to their team),
//! acknowledged once by the right people, and team channels managed with their
//! secrets masked.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};

use super::action_fixture::{fixture, fixture_with, Fixture};
use crate::store::alerts::{AlertFacts, DeliveryTarget, NewAlert};
use crate::store::tokens::Role;

const NOW: i64 = 1_793_534_400_000;

fn fire(f: &Fixture, team: &str, kind: &'static str, at: i64) -> i64 {
    let hook = DeliveryTarget::config_webhook("https://hooks.example.com/T/B/secret", "slack");
    f.store
        .record_alert_to(
            &NewAlert {
                team: team.into(),
                period_start_ms: at,
                period_end_ms: at,
                kind,
                threshold_pct: 80,
                spent_nanos: 1,
                budget_nanos: 2,
                forecast_nanos: 3,
                message: format!("{kind} for {team}"),
            },
            &AlertFacts::default(),
            &[hook],
            at,
        )
        .unwrap()
        .unwrap()
}

impl Fixture {
    async fn delete(&self, uri: &str, token: &str) -> (StatusCode, Value) {
        let req = Request::delete(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        self.call(req).await
    }
}

#[tokio::test]
async fn alerts_are_listed_with_their_guide_and_acknowledged_once() {
    let f = fixture_with(true);
    let low = fire(&f, "team_support", "wallet_low", NOW);
    let forecast = fire(&f, "team_support", "forecast", NOW + 1);
    let other = fire(&f, "team_engineering", "actual", NOW + 2);
    f.store
        .finish_delivery(
            f.store.alert(low).unwrap().unwrap().deliveries[0].id,
            Err("HTTP 500".into()),
            NOW + 10,
            1,
        )
        .unwrap();
    let lead = f.token("support lead", Role::Team, Some("team_support"));
    let eng = f.token("eng lead", Role::Team, Some("team_engineering"));
    let finance = f.token("finance desk", Role::Finance, None);

    let (status, all) = f.get("/v1/alerts", Some(&finance)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all["open"], 3);
    let ids: Vec<i64> = all["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![other, forecast, low], "newest first");
    let w = &all["alerts"][2];
    assert_eq!(w["kind"], "wallet_low");
    assert_eq!(w["title"], "Wallet low");
    assert_eq!(
        w["explain"],
        json!({"view": "wallet", "label": "See the wallet's runway"})
    );
    assert_eq!(
        w["action"],
        json!({"view": "requests", "label": "Ask for more allocation"})
    );
    assert_eq!(w["open"], true);
    let d = &w["deliveries"][0];
    assert_eq!(
        (d["status"].as_str(), d["last_error"].as_str()),
        (Some("failed"), Some("HTTP 500"))
    );
    assert_eq!(d["target"], "https://hooks.example.com");
    assert!(
        !all.to_string().contains("secret"),
        "webhook URLs stay secret"
    );
    assert_eq!(all["alerts"][1]["action"]["view"], "budget-settings");

    // A team token sees its own team's, whatever it asks for.
    let (_, mine) = f.get("/v1/alerts", Some(&lead)).await;
    assert_eq!(mine["open"], 2);
    assert_eq!(mine["alerts"].as_array().unwrap().len(), 2);
    let (status, _) = f.get("/v1/alerts?team=team_engineering", Some(&lead)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = f
        .get("/v1/teams/team_engineering/alerts", Some(&lead))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = f.get("/v1/alerts?status=closed", Some(&finance)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The lead acknowledges their team's alert once; a retry answers as before.
    let ack = format!("/v1/teams/team_support/alerts/{low}/acknowledge");
    let (status, body) = f
        .post(&ack, Some(&lead), json!({"note": "asked finance"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["replayed"], false);
    assert_eq!(body["alert"]["open"], false);
    assert_eq!(body["alert"]["acknowledgement"]["by"], "support lead");
    assert_eq!(body["alert"]["acknowledgement"]["note"], "asked finance");
    let at = body["alert"]["acknowledgement"]["at_ms"].clone();
    let (status, again) = f.post(&ack, Some(&lead), json!({})).await;
    assert_eq!(
        (status, again["replayed"].clone()),
        (StatusCode::OK, json!(true))
    );
    assert_eq!(again["alert"]["acknowledgement"]["at_ms"], at);
    let (_, mine) = f.get("/v1/teams/team_support/alerts", Some(&lead)).await;
    assert_eq!(mine["open"], 1, "acknowledged alerts leave the open count");
    let (_, open) = f
        .get("/v1/teams/team_support/alerts?status=open", Some(&lead))
        .await;
    assert_eq!(open["alerts"][0]["id"], forecast);

    // Another team's lead cannot; finance can for any team; unknown ids are 404;
    // without a token it is refused.
    let eng_ack = format!("/v1/teams/team_engineering/alerts/{other}/acknowledge");
    let (status, _) = f.post(&eng_ack, Some(&lead), json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let wrong_team = format!("/v1/teams/team_engineering/alerts/{low}/acknowledge");
    let (status, _) = f.post(&wrong_team, Some(&eng), json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = f.post(&eng_ack, None, json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = f.post(&eng_ack, Some(&finance), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["alert"]["acknowledgement"]["by"], "finance desk");
    let (status, _) = f
        .post(&eng_ack, Some(&finance), json!({"note": "x".repeat(501)}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, all) = f.get("/v1/alerts", Some(&finance)).await;
    assert_eq!(all["open"], 1);
}

#[tokio::test]
async fn team_channels_are_set_by_the_team_or_finance_with_secrets_masked() {
    let f = fixture();
    let lead = f.token("support lead", Role::Team, Some("team_support"));
    let finance = f.token("finance desk", Role::Finance, None);
    let path = "/v1/teams/team_support/alert-channels";
    let slack = json!({
        "kind": "slack", "name": "support on-call",
        "target": "https://hooks.slack.com/services/T0/B0/verysecret",
        "idempotency_key": "k1"
    });
    let (status, body) = f.post(path, Some(&lead), slack.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["channel"]["id"].as_i64().unwrap();
    assert_eq!(body["channel"]["target"], "https://hooks.slack.com/…");
    assert_eq!(body["channel"]["receives"], json!(["alerts", "digests"]));
    let (status, again) = f.post(path, Some(&lead), slack).await;
    assert_eq!(
        (status, again["replayed"].clone()),
        (StatusCode::OK, json!(true))
    );
    let (status, _) = f
        .post(
            path,
            Some(&finance),
            json!({"kind": "email", "name": "leads", "target": "lead@example.com", "receives": ["digests"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, list) = f.get(path, Some(&lead)).await;
    assert_eq!(list["channels"].as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains("verysecret"));
    assert_eq!(list["channels"][1]["target"], "lead@example.com");

    for (bad, why) in [
        (
            json!({"kind": "pager", "name": "x", "target": "https://x.org"}),
            "kind",
        ),
        (
            json!({"kind": "webhook", "name": "x", "target": "x.org/hook"}),
            "target",
        ),
        (
            json!({"kind": "email", "name": "x", "target": "nobody"}),
            "target",
        ),
        (
            json!({"kind": "webhook", "name": "", "target": "https://x.org/h"}),
            "name",
        ),
    ] {
        let (status, body) = f.post(path, Some(&lead), bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["error"]["message"].as_str().unwrap().starts_with(why),
            "{body}"
        );
    }
    let (status, _) = f
        .post(
            "/v1/teams/team_engineering/alert-channels",
            Some(&lead),
            json!({"kind": "email", "name": "x", "target": "a@b.org"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = f
        .post(
            "/v1/teams/team_nobody/alert-channels",
            Some(&finance),
            json!({"kind": "email", "name": "x", "target": "a@b.org"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // New alerts of the team go to its channels as well as the config's webhooks.
    let alert = fire_through_record(&f);
    let channels: Vec<&str> = alert["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["channel"].as_str().unwrap())
        .collect();
    assert_eq!(
        channels,
        vec!["support on-call"],
        "the email channel takes digests only"
    );

    let (status, body) = f.delete(&format!("{path}/{id}"), &lead).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["replayed"], false);
    let (_, again) = f.delete(&format!("{path}/{id}"), &lead).await;
    assert_eq!(again["replayed"], true);
    let (status, _) = f.delete(&format!("{path}/999"), &lead).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = f.get(path, Some(&lead)).await;
    assert_eq!(list["channels"].as_array().unwrap().len(), 1);
}

fn fire_through_record(f: &Fixture) -> Value {
    let id = crate::alerts::record(
        f.store.as_ref(),
        &tollgate_core::config::AlertsConfig::default(),
        &NewAlert {
            team: "team_support".into(),
            period_start_ms: NOW,
            period_end_ms: NOW,
            kind: "actual",
            threshold_pct: 50,
            spent_nanos: 1,
            budget_nanos: 2,
            forecast_nanos: 3,
            message: "half the budget".into(),
        },
        &AlertFacts::default(),
        NOW,
    )
    .unwrap()
    .unwrap();
    serde_json::to_value(f.store.alert(id).unwrap().unwrap()).unwrap()
}

#[tokio::test]
async fn the_weekly_digest_is_computed_and_sent_to_the_teams_digest_channels() {
    use crate::test_util::event;
    const USD: i64 = 1_000_000_000;
    let f = fixture();
    let now = crate::clock::now_ms();
    let mut events = Vec::new();
    for d in 1..=14 {
        let (draft, summary) = if d <= 7 { (3, 2) } else { (2, 0) };
        for (wf, usd) in [("draft-reply", draft), ("summarise", summary)] {
            if usd > 0 {
                let mut e = event(
                    &format!("{wf}-{d}"),
                    now - d * 86_400_000,
                    "team_support",
                    usd * USD,
                );
                e.workflow = Some(wf.into());
                events.push(e);
            }
        }
    }
    f.store.ingest(&crate::test_util::batch(events)).unwrap();
    let lead = f.token("support lead", Role::Team, Some("team_support"));
    let path = "/v1/teams/team_support/alert-channels";
    for (name, receives) in [("digests only", "digests"), ("alerts only", "alerts")] {
        let (status, _) = f
            .post(
                path,
                Some(&lead),
                json!({"kind": "slack", "name": name, "target": "https://hooks.example.com/x", "receives": [receives]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }

    let (status, d) = f.get("/v1/teams/team_support/digest", Some(&lead)).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    let text = d["text"].as_str().unwrap();
    assert_eq!(
        (d["spent_nanos"].as_i64(), d["previous_nanos"].as_i64()),
        (Some(35 * USD), Some(14 * USD))
    );
    assert!(
        text.contains("Spend: $35.00 in these 7 days, $14.00 the 7 days before (+150%)."),
        "{text}"
    );
    assert!(text.contains("Budget: none set for this team."), "{text}");
    assert!(
        text.contains("Top change: summarise, $14.00 this week (+$14.00 from the week before)."),
        "{text}"
    );
    assert!(
        text.contains("What drove the change: request volume +$"),
        "{text}"
    );
    assert!(d["subject"]
        .as_str()
        .unwrap()
        .starts_with("[Tollgate] Weekly digest: team_support, "));

    // Sent now: recorded once with a delivery to the digest channel only.
    let (status, sent) = f
        .post("/v1/teams/team_support/digest", Some(&lead), json!({}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["channels"], 1);
    let (_, listed) = f
        .get(
            "/v1/teams/team_support/alerts?kind=digest_weekly",
            Some(&lead),
        )
        .await;
    let digest = &listed["alerts"][0];
    assert_eq!(digest["id"], sent["alert_id"]);
    assert_eq!(digest["deliveries"][0]["channel"], "digests only");
    assert_eq!(digest["message"], d["text"]);
    let (_, alerts) = f.get("/v1/teams/team_support/alerts", Some(&lead)).await;
    assert_eq!(
        alerts["alerts"].as_array().unwrap().len(),
        0,
        "digests are not alerts"
    );
    assert_eq!(alerts["open"], 0);

    // The schedule: once per week per team, and finance's month once.
    let state = crate::state::AppState {
        store: f.store.clone(),
        lease_ttl_ms: crate::state::DEFAULT_LEASE_TTL_MS,
        budgets: crate::config_reload::Shared::new(Vec::new()),
        require_tokens: false,
        metrics: Default::default(),
        config: crate::config_reload::Shared::new(None),
        auth_limiter: Default::default(),
        ingest_checks: Default::default(),
        lease_holder_share_percent: tollgate_core::lease::DEFAULT_HOLDER_SHARE_PERCENT,
    };
    let alerts_config = tollgate_core::config::AlertsConfig::default();
    // The next Monday noon and the next 1st noon (UTC): past the digest hour.
    const DAY: i64 = 86_400_000;
    let today = now - now.rem_euclid(DAY);
    let weekday = (today / DAY + 3).rem_euclid(7);
    let monday = today + (7 - weekday) * DAY + 12 * 3_600_000;
    let (y, m, _) = tollgate_core::config::civil_from_days(today / DAY);
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let first = tollgate_core::config::days_from_civil(ny, nm, 1) * DAY + 12 * 3_600_000;
    let send =
        |at| crate::api::digest_send_due(f.store.as_ref(), &state, &alerts_config, at).unwrap();
    let count = |kind: &str| {
        f.store
            .alert_page(&crate::store::alerts::AlertQuery {
                kinds: vec![kind.into()],
                limit: 50,
                ..Default::default()
            })
            .unwrap()
    };
    let weekly_before = count("digest_weekly").len();
    send(monday);
    let weekly = count("digest_weekly");
    assert_eq!(weekly.len(), weekly_before + 1, "team_support's week");
    assert_eq!(weekly[0].period_start_ms, monday - 12 * 3_600_000);
    send(monday + 60_000);
    assert_eq!(
        count("digest_weekly").len(),
        weekly_before + 1,
        "once a week"
    );
    send(monday + 3 * DAY);
    assert_eq!(
        count("digest_weekly").len(),
        weekly_before + 1,
        "not days late"
    );
    let monthly_before = count("digest_monthly").len();
    send(first);
    send(first + 60_000);
    assert_eq!(
        count("digest_monthly").len(),
        monthly_before + 1,
        "finance's month, once"
    );
    let (_, monthly) = f.get("/v1/alerts?kind=digest_monthly", None).await;
    assert_eq!(monthly["alerts"][0]["team"], "*");
    assert!(monthly["alerts"][0]["message"]
        .as_str()
        .unwrap()
        .contains("Tollgate monthly digest for finance"));
}
