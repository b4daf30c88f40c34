//! On both backends: the quarantine of events that failed the configuration checks
//! (kept once per event id, audited only when something new was kept, never spend),
//! and the bound on what one lease holder may hold while another draws on a wallet.

use serde_json::json;
use tollgate_core::lease::LeaseRequest;

use crate::store::audit::NewAuditEntry;
use crate::store::backend::Store;
use crate::store::conformance::fixtures::{pg, sqlite};
use crate::store::quarantine::QuarantinedEvent;
use crate::store::wallets::{EntryKind, LeaseHolder, NewEntry};

const USD: i64 = 1_000_000_000;

fn held(id: &str, received_ms: i64, reason: &str) -> QuarantinedEvent {
    QuarantinedEvent {
        event_id: id.into(),
        received_ms,
        ts_ms: 5,
        team: "team_00".into(),
        cost_nanos: 400 * USD,
        holder: "envoy-node-a".into(),
        reason: reason.into(),
        detail: "team 'team_00' is not in the configuration".into(),
        event: json!({"id": id, "team": "team_00"}).to_string(),
    }
}

fn audit() -> NewAuditEntry {
    NewAuditEntry {
        actor: "envoy-node-a (token 3, ingest)".into(),
        action: "POST /v1/events (quarantined)".into(),
        team: None,
        before: None,
        after: Some(json!({"quarantined": 2})),
    }
}

fn quarantined_events_are_kept_once_and_audited_once(store: &dyn Store) {
    assert_eq!(store.quarantined_events(10).unwrap(), vec![]);
    let first = [
        held("q1", 1_000, "unknown_team"),
        held("q2", 1_000, "cost_mismatch"),
    ];
    assert_eq!(store.quarantine(&first, &audit(), 1_000).unwrap(), 2);
    // A retried batch: nothing new, nothing audited again.
    assert_eq!(store.quarantine(&first, &audit(), 2_000).unwrap(), 0);
    assert_eq!(
        store
            .quarantine(&[held("q3", 3_000, "unknown_lane")], &audit(), 3_000)
            .unwrap(),
        1
    );
    let rows = store.quarantined_events(10).unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r.event_id.as_str()).collect();
    assert_eq!(ids, ["q3", "q2", "q1"], "most recently received first");
    assert_eq!(rows[2], held("q1", 1_000, "unknown_team"));
    assert_eq!(store.quarantined_events(1).unwrap().len(), 1);
    let log = store.audit_log(10, None).unwrap();
    assert_eq!(
        log.iter().map(|e| e.ts_ms).collect::<Vec<_>>(),
        [3_000, 1_000]
    );
    assert_eq!(log[1].actor, "envoy-node-a (token 3, ingest)");
    // Text with NUL is kept on both backends (replaced).
    let odd = held("q\u{0}4", 4_000, "unknown_team").without_nul();
    assert_eq!(
        store
            .quarantine(std::slice::from_ref(&odd), &audit(), 4_000)
            .unwrap(),
        1
    );
    assert_eq!(store.quarantined_events(1).unwrap(), vec![odd]);
    // Quarantined events are not spend.
    assert_eq!(store.wallet("team_00", 0).unwrap(), None);
    assert!(store
        .recent_events(&crate::query::EventsQuery {
            filters: Default::default(),
            limit: 10,
        })
        .unwrap()
        .is_empty());
}

fn a_holder_among_others_leases_at_most_its_share_of_the_wallet(store: &dyn Store) {
    store.ensure_wallet("team_a", 0).unwrap();
    store
        .allocate(
            &NewEntry {
                team: "team_a".into(),
                kind: EntryKind::TopUp,
                amount_nanos: 10 * USD,
                actor: "ops".into(),
                reason: "test".into(),
                idempotency_key: None,
            },
            0,
        )
        .unwrap()
        .unwrap();
    let ask = |instance: &str, want: i64, need: i64| LeaseRequest {
        instance: instance.into(),
        team: "team_a".into(),
        want_nanos: want,
        need_nanos: Some(need),
    };
    let honest = LeaseHolder {
        name: "envoy-a",
        share_percent: 50,
    };
    let liar = LeaseHolder {
        name: "envoy-b",
        share_percent: 50,
    };
    // The honest holder leases a small chunk; it is alone, so grant_size applies.
    let a = store
        .lease_for(&honest, &ask("envoy-a/i1", USD, USD / 10), 0, 30_000)
        .unwrap()
        .unwrap();
    assert_eq!(a.granted_nanos, USD);
    // Another token claims to need the whole wallet: half of the wallet's credit.
    let b = store
        .lease_for(&liar, &ask("envoy-b/i1", 10 * USD, 10 * USD), 1, 30_000)
        .unwrap()
        .unwrap();
    assert_eq!(b.granted_nanos, 5 * USD);
    // A second instance of the same token is the same holder: nothing more.
    let b2 = store
        .lease_for(&liar, &ask("envoy-b/i2", 10 * USD, 10 * USD), 2, 30_000)
        .unwrap()
        .unwrap();
    assert_eq!(b2.granted_nanos, 0);
    // The honest holder still finds credit.
    let a2 = store
        .lease_for(&honest, &ask("envoy-a/i2", USD, USD), 3, 30_000)
        .unwrap()
        .unwrap();
    assert_eq!(a2.granted_nanos, USD);
    // Once the others' leases are gone, a holder alone may take the rest to the last
    // request: here, at expiry, the liar's unreported credit is held, the rest free.
    let w = store.wallet("team_a", 40_000).unwrap().unwrap();
    let rest = w.available_nanos();
    assert!(rest > 0);
    let last = store
        .lease_for(&honest, &ask("envoy-a/i3", rest, rest), 40_000, 30_000)
        .unwrap()
        .unwrap();
    assert_eq!(last.granted_nanos, rest);
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
    quarantined_events_are_kept_once_and_audited_once,
    a_holder_among_others_leases_at_most_its_share_of_the_wallet,
);
