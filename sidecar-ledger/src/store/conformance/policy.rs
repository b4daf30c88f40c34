//! Leaders' runtime policy on both backends: a change is recorded with who, when and
//! why and makes the next version; a refused change stores nothing; an idempotency key
//! answers a retry with the first change; every team's policy comes back as one
//! versioned document.

use tollgate_core::policy::{PauseScope, TeamPolicy};

use crate::policy::{apply, PolicyChange};
use crate::store::backend::Store;
use crate::store::conformance::fixtures::{pg, sqlite};
use crate::store::policy::{NewPolicyChange, PolicyChangeOutcome};

fn change(
    store: &dyn Store,
    team: &str,
    body: serde_json::Value,
    key: Option<&str>,
    now_ms: i64,
) -> PolicyChangeOutcome {
    let parsed: PolicyChange = serde_json::from_value(body.clone()).unwrap();
    let reason = parsed.reason().to_string();
    store
        .change_policy(
            &NewPolicyChange {
                team,
                change: &body,
                actor: "lead",
                reason: &reason,
                idempotency_key: key,
                now_ms,
            },
            &|current: &TeamPolicy, id| {
                apply(current, &parsed, id, "lead", now_ms).map_err(|e| e.0)
            },
        )
        .unwrap()
}

fn changes_are_versioned_recorded_and_refusals_leave_nothing(store: &dyn Store) {
    assert_eq!(store.policy_set().unwrap().version, 0);
    let pause = serde_json::json!({
        "change": "pause",
        "scope": {"kind": "workflow", "value": "bulk-import"},
        "reason": "runaway loop",
    });
    let PolicyChangeOutcome::Applied(first, policy) =
        change(store, "team_a", pause.clone(), Some("k1"), 1_000)
    else {
        panic!("the pause applies")
    };
    assert_eq!(policy.pauses.len(), 1);
    assert_eq!(policy.pauses[0].id, first.id);
    assert_eq!(
        policy.pauses[0].scope,
        PauseScope::Workflow("bulk-import".into())
    );
    assert_eq!(
        (first.actor.as_str(), first.reason.as_str()),
        ("lead", "runaway loop")
    );
    // A retry with the same key changes nothing and answers with the first change.
    assert_eq!(
        change(store, "team_a", pause.clone(), Some("k1"), 2_000),
        PolicyChangeOutcome::Replayed(first.clone())
    );
    // The same key for another team is another request.
    let PolicyChangeOutcome::Applied(other, _) = change(store, "team_b", pause, Some("k1"), 2_500)
    else {
        panic!("team_b's pause applies")
    };
    assert!(other.id > first.id);
    let set = store.policy_set().unwrap();
    assert_eq!(set.version, other.id);
    assert_eq!(set.teams.len(), 2);

    // Lifting a pause that is not in force is refused and leaves no trace.
    let bad_lift = serde_json::json!({"change": "lift", "pause_id": 999, "reason": "oops"});
    assert!(matches!(
        change(store, "team_a", bad_lift, None, 3_000),
        PolicyChangeOutcome::Refused(why) if why.contains("999")
    ));
    assert_eq!(store.policy_set().unwrap().version, other.id);
    assert_eq!(
        store.policy_changes("team_a", 10).unwrap(),
        vec![first.clone()]
    );

    let lift = serde_json::json!({"change": "lift", "pause_id": first.id, "reason": "fixed"});
    let PolicyChangeOutcome::Applied(lifted, policy) = change(store, "team_a", lift, None, 4_000)
    else {
        panic!("the lift applies")
    };
    assert!(policy.is_empty());
    let set = store.policy_set().unwrap();
    // An emptied policy leaves the document (its version still grows).
    assert_eq!(set.version, lifted.id);
    assert!(!set.teams.contains_key("team_a"));
    let history = store.policy_changes("team_a", 10).unwrap();
    assert_eq!(
        history.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![lifted.id, first.id]
    );
    assert_eq!(history[0].change["change"], "lift");
    assert_eq!(store.policy_changes("team_a", 1).unwrap().len(), 1);
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

on_both_backends!(changes_are_versioned_recorded_and_refusals_leave_nothing);
