//! Budgets in force on both backends: the config file seeds them, an API change is
//! recorded with before and after, a reload of an unchanged file keeps it, an edit in
//! the file wins and is recorded as the file's; proposals wait for a decision.

use tollgate_core::config::BudgetDef;

use crate::store::backend::Store;
use crate::store::budgets::{
    BudgetChangeOutcome, BudgetDecision, BudgetDecisionOutcome, ChangeStatus, NewBudgetChange,
    CONFIG_FILE_ACTOR,
};
use crate::store::conformance::fixtures::{pg, sqlite};

fn budget(team: &str, usd: u32) -> BudgetDef {
    serde_yaml_ng::from_str(&format!("team_id: {team}\namount_usd: '{usd}.00'")).unwrap()
}

fn change(
    store: &dyn Store,
    team: &str,
    after: Option<&BudgetDef>,
    propose: bool,
    key: Option<&str>,
) -> BudgetChangeOutcome {
    store
        .change_budget(&NewBudgetChange {
            team,
            after,
            actor: if propose {
                "support lead"
            } else {
                "finance desk"
            },
            reason: "launch month",
            propose,
            idempotency_key: key,
            now_ms: 2_000,
        })
        .unwrap()
}

fn amounts(store: &dyn Store) -> Vec<(String, i64)> {
    store
        .budgets_in_force()
        .unwrap()
        .into_iter()
        .map(|b| (b.team_id, b.amount_usd.0 / 1_000_000_000))
        .collect()
}

fn the_latest_edit_wins_and_every_change_is_recorded(store: &dyn Store) {
    let file = vec![budget("team_a", 100), budget("team_b", 50)];
    assert!(store.sync_file_budgets(&file, 1_000).unwrap().len() == 2);
    assert_eq!(
        amounts(store),
        vec![("team_a".into(), 100), ("team_b".into(), 50)]
    );
    assert!(
        store.sync_file_budgets(&file, 1_100).unwrap().is_empty(),
        "nothing new"
    );

    let BudgetChangeOutcome::Recorded(raised) = change(
        store,
        "team_a",
        Some(&budget("team_a", 150)),
        false,
        Some("k"),
    ) else {
        panic!("applied")
    };
    assert_eq!(raised.status, ChangeStatus::Applied);
    assert_eq!(raised.before, Some(budget("team_a", 100)));
    assert_eq!(raised.after, Some(budget("team_a", 150)));
    assert_eq!(
        change(
            store,
            "team_a",
            Some(&budget("team_a", 999)),
            false,
            Some("k")
        ),
        BudgetChangeOutcome::Replayed(raised.clone())
    );
    // A reload of the same file keeps the change made through the API.
    assert!(store.sync_file_budgets(&file, 3_000).unwrap().is_empty());
    assert_eq!(amounts(store)[0], ("team_a".into(), 150));

    // An edit in the file wins, recorded as the file's; team_b's untouched budget and a
    // removed one follow the file too.
    let edited = vec![budget("team_a", 120)];
    let changes = store.sync_file_budgets(&edited, 4_000).unwrap();
    assert_eq!(changes.len(), 2);
    assert!(changes.iter().all(|c| c.actor == CONFIG_FILE_ACTOR));
    let a = changes.iter().find(|c| c.team == "team_a").unwrap();
    assert_eq!(
        (a.before.clone(), a.after.clone()),
        (Some(budget("team_a", 150)), Some(budget("team_a", 120)))
    );
    let b = changes.iter().find(|c| c.team == "team_b").unwrap();
    assert_eq!(b.after, None);
    assert_eq!(amounts(store), vec![("team_a".into(), 120)]);

    // A budget created through the API for a team the file does not name stays.
    change(store, "team_c", Some(&budget("team_c", 10)), false, None);
    assert!(store.sync_file_budgets(&edited, 5_000).unwrap().is_empty());
    assert_eq!(amounts(store).len(), 2);
    let history = store.budget_changes(Some("team_a"), None, 10).unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[0].actor, CONFIG_FILE_ACTOR);
}

fn a_proposal_changes_nothing_until_approved(store: &dyn Store) {
    store
        .sync_file_budgets(&[budget("team_a", 100)], 1_000)
        .unwrap();
    let BudgetChangeOutcome::Recorded(proposal) =
        change(store, "team_a", Some(&budget("team_a", 300)), true, None)
    else {
        panic!("proposed")
    };
    assert_eq!(proposal.status, ChangeStatus::Pending);
    assert_eq!(amounts(store), vec![("team_a".into(), 100)]);
    assert_eq!(
        store
            .budget_changes(None, Some(ChangeStatus::Pending), 10)
            .unwrap(),
        vec![proposal.clone()]
    );
    let decide = |approve: bool, team: &str| {
        store
            .decide_budget_proposal(&BudgetDecision {
                team,
                id: proposal.id,
                approve,
                actor: "finance desk",
                comment: Some("fine for launch"),
                now_ms: 3_000,
            })
            .unwrap()
    };
    assert_eq!(decide(true, "team_b"), BudgetDecisionOutcome::NotFound);
    let BudgetDecisionOutcome::Decided(approved) = decide(true, "team_a") else {
        panic!("decided")
    };
    assert_eq!(approved.status, ChangeStatus::Approved);
    assert_eq!(approved.decided_by.as_deref(), Some("finance desk"));
    assert_eq!(approved.before, Some(budget("team_a", 100)));
    assert_eq!(amounts(store), vec![("team_a".into(), 300)]);
    assert!(
        matches!(decide(false, "team_a"), BudgetDecisionOutcome::AlreadyDecided(c) if c.status == ChangeStatus::Approved)
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
    the_latest_edit_wins_and_every_change_is_recorded,
    a_proposal_changes_nothing_until_approved,
);
