//! The audit log on both backends: entries come back newest first with their before
//! and after, page by id, and the log refuses to be edited or trimmed.

use serde_json::json;

use crate::store::audit::NewAuditEntry;
use crate::store::backend::Store;
use crate::store::conformance::fixtures::{pg, sqlite};

fn entry(action: &str, team: Option<&str>, after: serde_json::Value) -> NewAuditEntry {
    NewAuditEntry {
        actor: "ops (token 1, admin)".into(),
        action: action.into(),
        team: team.map(str::to_string),
        before: Some(json!({"allocated_nanos": 0})),
        after: Some(after),
    }
}

fn actions_are_recorded_newest_first_and_paged(store: &dyn Store) {
    assert_eq!(store.audit_log(10, None).unwrap(), vec![]);
    let a = store
        .record_audit(
            &entry(
                "POST /v1/wallets/team_a/allocations",
                Some("team_a"),
                json!({"allocated_nanos": 5}),
            ),
            1_000,
        )
        .unwrap();
    let b = store
        .record_audit(
            &entry("token.create", None, json!({"id": 3, "role": "team"})),
            2_000,
        )
        .unwrap();
    assert!(b > a);
    let log = store.audit_log(10, None).unwrap();
    assert_eq!(log.iter().map(|e| e.id).collect::<Vec<_>>(), vec![b, a]);
    assert_eq!(log[1].ts_ms, 1_000);
    assert_eq!(log[1].actor, "ops (token 1, admin)");
    assert_eq!(log[1].action, "POST /v1/wallets/team_a/allocations");
    assert_eq!(log[1].team.as_deref(), Some("team_a"));
    assert_eq!(log[1].before, Some(json!({"allocated_nanos": 0})));
    assert_eq!(log[1].after, Some(json!({"allocated_nanos": 5})));
    assert_eq!(log[0].team, None);
    // Paging: older than b.
    let older = store.audit_log(10, Some(b)).unwrap();
    assert_eq!(older.iter().map(|e| e.id).collect::<Vec<_>>(), vec![a]);
    assert_eq!(store.audit_log(1, None).unwrap().len(), 1);
    // No before or after is kept as none.
    let c = store
        .record_audit(
            &NewAuditEntry {
                before: None,
                after: None,
                ..entry("token.revoke", None, json!(null))
            },
            3_000,
        )
        .unwrap();
    let last = &store.audit_log(1, None).unwrap()[0];
    assert_eq!((last.id, &last.before, &last.after), (c, &None, &None));
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

on_both_backends!(actions_are_recorded_newest_first_and_paged);
