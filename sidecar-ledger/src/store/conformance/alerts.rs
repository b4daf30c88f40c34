//! Alerts on both backends: an alert about a workflow fires once per team, workflow
//! and period; acknowledging records who and when once (a retry answers as before,
//! someone else's is refused, another team's alert is not found); lists filter by team
//! and acknowledgement; teams' channels are added once per idempotency key, capped,
//! and removed with their pending deliveries given up.

use serde_json::json;

use crate::store::alerts::{
    AckOutcome, AddChannelOutcome, AlertFacts, AlertQuery, DeliveryTarget, NewAck, NewAlert,
    NewChannel, RemoveChannelOutcome, CHANNEL_REMOVED, CONFIG_CHANNEL,
};
use crate::store::backend::Store;
use crate::store::conformance::fixtures::{pg, sqlite};

const NOW: i64 = 1_793_534_400_000;
const DAY: i64 = 86_400_000;

fn anomaly(team: &str, day: i64) -> NewAlert {
    NewAlert {
        team: team.into(),
        period_start_ms: day,
        period_end_ms: day + DAY,
        kind: "spend_anomaly",
        threshold_pct: 0,
        spent_nanos: 90,
        budget_nanos: 0,
        forecast_nanos: 10,
        message: format!("{team} spends far above its usual"),
    }
}

fn facts(workflow: Option<&str>) -> AlertFacts {
    AlertFacts {
        subject: workflow.map(str::to_string),
        details: json!({"mean_nanos": 10}),
    }
}

fn ack<'a>(team: &'a str, id: i64, actor: &'a str, key: Option<&'a str>) -> NewAck<'a> {
    NewAck {
        team,
        alert_id: id,
        actor,
        note: Some("looking into it"),
        idempotency_key: key,
        now_ms: NOW + 5_000,
    }
}

fn workflow_alerts_fire_once_and_are_acknowledged_once(store: &dyn Store) {
    let hook = DeliveryTarget::config_webhook("https://hooks.example.com/secret/path", "slack");
    let day = NOW - NOW % DAY;
    let record = |team: &str, wf: Option<&str>, day: i64| {
        store
            .record_alert_to(
                &anomaly(team, day),
                &facts(wf),
                std::slice::from_ref(&hook),
                NOW,
            )
            .unwrap()
    };
    let team_wide = record("team_a", None, day).expect("fires");
    let drafts = record("team_a", Some("draft-reply"), day).expect("fires");
    let summaries = record("team_a", Some("summarise"), day).expect("another workflow fires");
    assert_eq!(
        record("team_a", Some("draft-reply"), day),
        None,
        "once a day"
    );
    assert_eq!(record("team_a", None, day), None);
    assert!(
        record("team_a", Some("draft-reply"), day + DAY).is_some(),
        "the next day fires"
    );
    let other = record("team_b", Some("draft-reply"), day).expect("another team fires");

    let one = store.alert(drafts).unwrap().unwrap();
    assert_eq!(one.subject.as_deref(), Some("draft-reply"));
    assert_eq!(one.details, json!({"mean_nanos": 10}));
    assert_eq!(one.acknowledgement, None);
    assert_eq!(one.deliveries.len(), 1);
    assert_eq!(one.deliveries[0].target, "https://hooks.example.com");
    assert_eq!(one.deliveries[0].channel, CONFIG_CHANNEL);
    assert_eq!(one.deliveries[0].status, "pending");

    // Acknowledged once, by the team's lead; a retry answers as before.
    let AckOutcome::Acknowledged(a) = store
        .acknowledge_alert(&ack("team_a", drafts, "support lead", Some("k1")))
        .unwrap()
    else {
        panic!("acknowledged")
    };
    let by = a.acknowledgement.clone().unwrap();
    assert_eq!((by.by.as_str(), by.at_ms), ("support lead", NOW + 5_000));
    assert_eq!(by.note.as_deref(), Some("looking into it"));
    assert!(matches!(
        store
            .acknowledge_alert(&ack("team_a", drafts, "support lead", None))
            .unwrap(),
        AckOutcome::Replayed(_)
    ));
    assert!(matches!(
        store
            .acknowledge_alert(&ack("team_a", drafts, "finance desk", Some("k1")))
            .unwrap(),
        AckOutcome::Replayed(_)
    ));
    let AckOutcome::AlreadyAcknowledged(first) = store
        .acknowledge_alert(&ack("team_a", drafts, "finance desk", None))
        .unwrap()
    else {
        panic!("already acknowledged")
    };
    assert_eq!(first.acknowledgement.unwrap().by, "support lead");
    assert_eq!(
        store
            .acknowledge_alert(&ack("team_b", drafts, "b lead", None))
            .unwrap(),
        AckOutcome::NotFound,
        "another team's alert"
    );
    assert_eq!(
        store
            .acknowledge_alert(&ack("team_a", 999_999, "support lead", None))
            .unwrap(),
        AckOutcome::NotFound
    );

    // Lists: per team, open or acknowledged, newest first.
    let page = |team: Option<&str>, acked: Option<bool>| -> Vec<i64> {
        store
            .alert_page(&AlertQuery {
                team: team.map(str::to_string),
                acknowledged: acked,
                limit: 50,
                ..AlertQuery::default()
            })
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect()
    };
    let all_a = page(Some("team_a"), None);
    assert_eq!(all_a.len(), 4);
    assert!(all_a.windows(2).all(|w| w[0] > w[1]), "newest first");
    assert!(!all_a.contains(&other));
    assert_eq!(page(Some("team_a"), Some(true)), vec![drafts]);
    let open = page(Some("team_a"), Some(false));
    assert!(open.contains(&team_wide) && open.contains(&summaries) && !open.contains(&drafts));
    assert_eq!(page(None, None).len(), 5);
    let only = store
        .alert_page(&AlertQuery {
            kinds: vec!["actual".into()],
            limit: 50,
            ..AlertQuery::default()
        })
        .unwrap();
    assert!(only.is_empty());
    let excluded = store
        .alert_page(&AlertQuery {
            team: Some("team_a".into()),
            exclude_kinds: vec!["spend_anomaly".into()],
            limit: 50,
            ..AlertQuery::default()
        })
        .unwrap();
    assert!(excluded.is_empty(), "excluded kinds are left out");
    let before = store
        .alert_page(&AlertQuery {
            team: Some("team_a".into()),
            before_id: Some(all_a[1]),
            limit: 50,
            ..AlertQuery::default()
        })
        .unwrap();
    assert_eq!(
        before.iter().map(|a| a.id).collect::<Vec<_>>(),
        all_a[2..].to_vec()
    );
}

fn channel<'a>(team: &'a str, key: Option<&'static str>, max: usize) -> NewChannel<'a> {
    NewChannel {
        team,
        kind: "slack",
        name: "support on-call",
        target: "https://hooks.slack.com/services/T0/B0/secret",
        receives: "alerts,digests",
        actor: "support lead",
        idempotency_key: key,
        max_per_team: max,
        now_ms: NOW,
    }
}

fn channels_are_added_once_capped_and_removed(store: &dyn Store) {
    let AddChannelOutcome::Added(c) = store
        .add_alert_channel(&channel("team_a", Some("c1"), 2))
        .unwrap()
    else {
        panic!("added")
    };
    assert_eq!(
        (c.team.as_str(), c.kind.as_str(), c.created_by.as_str()),
        ("team_a", "slack", "support lead")
    );
    assert!(c.receives("alerts") && c.receives("digests"));
    assert_eq!(
        store
            .add_alert_channel(&channel("team_a", Some("c1"), 2))
            .unwrap(),
        AddChannelOutcome::Replayed(c.clone())
    );
    assert!(matches!(
        store
            .add_alert_channel(&channel("team_a", None, 2))
            .unwrap(),
        AddChannelOutcome::Added(_)
    ));
    assert_eq!(
        store
            .add_alert_channel(&channel("team_a", None, 2))
            .unwrap(),
        AddChannelOutcome::TooMany(2)
    );
    assert!(matches!(
        store
            .add_alert_channel(&channel("team_b", None, 2))
            .unwrap(),
        AddChannelOutcome::Added(_)
    ));
    assert_eq!(store.alert_channels(Some("team_a")).unwrap().len(), 2);
    assert_eq!(store.alert_channels(None).unwrap().len(), 3);

    // A pending delivery to the channel is given up when it is removed.
    let target = DeliveryTarget {
        channel_id: Some(c.id),
        channel_name: c.name.clone(),
        url: c.target.clone(),
        format: "slack".into(),
    };
    let id = store
        .record_alert_to(&anomaly("team_a", NOW), &facts(None), &[target], NOW)
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .remove_alert_channel("team_b", c.id, "b lead", NOW)
            .unwrap(),
        RemoveChannelOutcome::NotFound,
        "another team's channel"
    );
    let RemoveChannelOutcome::Removed(gone) = store
        .remove_alert_channel("team_a", c.id, "finance desk", NOW + 1)
        .unwrap()
    else {
        panic!("removed")
    };
    assert_eq!(gone.removed_by.as_deref(), Some("finance desk"));
    assert!(matches!(
        store
            .remove_alert_channel("team_a", c.id, "finance desk", NOW + 2)
            .unwrap(),
        RemoveChannelOutcome::AlreadyRemoved(_)
    ));
    assert_eq!(store.alert_channels(Some("team_a")).unwrap().len(), 1);
    let d = &store.alert(id).unwrap().unwrap().deliveries[0];
    assert_eq!(d.channel_id, Some(c.id));
    assert_eq!(d.channel, "support on-call");
    assert_eq!(d.status, "failed");
    assert_eq!(d.last_error.as_deref(), Some(CHANNEL_REMOVED));
    assert!(store.due_deliveries(NOW + DAY).unwrap().is_empty());
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $( #[test] fn $name() { super::$name(super::sqlite().store.as_ref()); } )*
        }
        mod on_postgres {
            $( #[test] fn $name() {
                if let Some(f) = super::pg() { super::$name(f.store.as_ref()); }
            } )*
        }
    };
}

on_both_backends!(
    workflow_alerts_fire_once_and_are_acknowledged_once,
    channels_are_added_once_capped_and_removed,
);
