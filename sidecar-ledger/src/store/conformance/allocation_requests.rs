//! Allocation requests on both backends: filed with frozen evidence (a retried filing
//! answers with the first), listed per team and status, decided once; an approval
//! writes one wallet grant in the same step, whatever is retried.

use serde_json::json;

use crate::store::allocation_requests::{
    DecideOutcome, Decision, DecisionInput, FileOutcome, NewAllocationRequest, RequestStatus,
};
use crate::store::backend::Store;
use crate::store::conformance::fixtures::{pg, sqlite};

const NOW: i64 = 1_793_534_400_000;
const USD: i64 = 1_000_000_000;

fn file(store: &dyn Store, team: &str, usd: i64, key: Option<&str>) -> FileOutcome {
    store
        .file_allocation_request(&NewAllocationRequest {
            team,
            amount_nanos: usd * USD,
            reason: "launch week",
            requested_by: "support lead",
            evidence: &json!({"summary": "on pace to run out on the 23rd"}),
            idempotency_key: key,
            now_ms: NOW,
        })
        .unwrap()
}

fn decide(store: &dyn Store, team: &str, id: i64, decision: Decision) -> DecideOutcome {
    store
        .decide_allocation_request(&DecisionInput {
            team,
            id,
            decision,
            comment: Some("ok for this month"),
            actor: "finance desk",
            now_ms: NOW + 1_000,
        })
        .unwrap()
}

fn requests_are_filed_once_and_an_approval_grants_once(store: &dyn Store) {
    store.ensure_wallet("team_a", NOW).unwrap();
    store.ensure_wallet("team_b", NOW).unwrap();
    let FileOutcome::Filed(first) = file(store, "team_a", 250, Some("k1")) else {
        panic!("filed")
    };
    assert_eq!(
        (
            first.status,
            first.amount_nanos,
            first.requested_by.as_str()
        ),
        (RequestStatus::Pending, 250 * USD, "support lead")
    );
    assert_eq!(first.evidence["summary"], "on pace to run out on the 23rd");
    assert_eq!(
        file(store, "team_a", 999, Some("k1")),
        FileOutcome::Replayed(first.clone()),
        "a retried filing answers with the first"
    );
    let FileOutcome::Filed(other) = file(store, "team_b", 10, Some("k1")) else {
        panic!("the same key for another team is another request")
    };
    let FileOutcome::Filed(second) = file(store, "team_a", 40, None) else {
        panic!("filed")
    };

    let pending = store
        .allocation_requests(None, Some(RequestStatus::Pending), 10)
        .unwrap();
    assert_eq!(
        pending.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![second.id, other.id, first.id]
    );
    assert_eq!(
        store.allocation_requests(Some("team_b"), None, 10).unwrap(),
        vec![other.clone()]
    );
    assert_eq!(
        decide(store, "team_b", first.id, Decision::Decline),
        DecideOutcome::NotFound,
        "a request is decided under its own team only"
    );

    let before = store.wallet("team_a", NOW).unwrap().unwrap();
    let DecideOutcome::Decided(approved, Some((entry, wallet))) = decide(
        store,
        "team_a",
        first.id,
        Decision::Approve {
            amount_nanos: Some(200 * USD),
        },
    ) else {
        panic!("approved with a grant")
    };
    assert_eq!(approved.status, RequestStatus::Approved);
    assert_eq!(approved.approved_nanos, Some(200 * USD));
    assert_eq!(approved.decided_by.as_deref(), Some("finance desk"));
    assert_eq!(
        approved.decision_comment.as_deref(),
        Some("ok for this month")
    );
    assert_eq!(approved.wallet_entry_id, Some(entry.id));
    assert_eq!(entry.amount_nanos, 200 * USD);
    assert!(entry
        .reason
        .contains(&format!("allocation request #{}", first.id)));
    assert_eq!(wallet.allocated_nanos, before.allocated_nanos + 200 * USD);

    // Deciding again changes nothing: the wallet is granted once.
    assert_eq!(
        decide(
            store,
            "team_a",
            first.id,
            Decision::Approve { amount_nanos: None }
        ),
        DecideOutcome::AlreadyDecided(approved.clone())
    );
    assert_eq!(
        store
            .wallet("team_a", NOW)
            .unwrap()
            .unwrap()
            .allocated_nanos,
        wallet.allocated_nanos
    );

    let DecideOutcome::Decided(declined, None) =
        decide(store, "team_a", second.id, Decision::Decline)
    else {
        panic!("declined without a grant")
    };
    assert_eq!(declined.status, RequestStatus::Declined);
    assert_eq!(declined.wallet_entry_id, None);
    assert_eq!(
        store
            .allocation_requests(Some("team_a"), Some(RequestStatus::Pending), 10)
            .unwrap(),
        vec![]
    );
    // An approval without an amount grants the amount asked.
    let DecideOutcome::Decided(_, Some((entry, _))) = decide(
        store,
        "team_b",
        other.id,
        Decision::Approve { amount_nanos: None },
    ) else {
        panic!("approved")
    };
    assert_eq!(entry.amount_nanos, 10 * USD);
}

fn approving_without_a_wallet_changes_nothing(store: &dyn Store) {
    let FileOutcome::Filed(r) = file(store, "team_ghost", 5, None) else {
        panic!("filed")
    };
    assert_eq!(
        decide(
            store,
            "team_ghost",
            r.id,
            Decision::Approve { amount_nanos: None }
        ),
        DecideOutcome::NoWallet
    );
    assert_eq!(
        store
            .allocation_requests(Some("team_ghost"), None, 1)
            .unwrap()[0]
            .status,
        RequestStatus::Pending
    );
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
    requests_are_filed_once_and_an_approval_grants_once,
    approving_without_a_wallet_changes_nothing,
);
