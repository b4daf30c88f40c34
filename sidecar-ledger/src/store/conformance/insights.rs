//! The dashboard's storage on both backends: daily-rollup reads equal `/v1/spend`'s
//! fine path for the same whole days (every dimension both have, alone and in pairs,
//! with the team and workflow filters), premium classes and drift equal sums of the
//! events, and access tokens are created, found, listed and revoked alike.

use tollgate_core::event::CostEvent;

use super::rollups::load;
use crate::query::{Dim, Filters, SpendQuery, DAY_MS};
use crate::store::backend::Store;
use crate::store::conformance::fixtures::{pg, sqlite};
use crate::store::insights::{InsightDim, InsightQuery};
use crate::store::spend_plan::Rollups;
use crate::store::tokens::{NewToken, Role};
use crate::store::types::{KeyValue, SpendRow, Sums};

const D0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z

/// The `/v1/spend` dimension of an insight dimension (all but the premium class).
fn spend_dim(d: InsightDim) -> Option<Dim> {
    Some(match d {
        InsightDim::Day => Dim::Day,
        InsightDim::Team => Dim::Team,
        InsightDim::ConsumerGroup => Dim::ConsumerGroup,
        InsightDim::Workflow => Dim::Workflow,
        InsightDim::Provider => Dim::Provider,
        InsightDim::Lane => Dim::Lane,
        InsightDim::Model => Dim::Model,
        InsightDim::Cache => Dim::Cache,
        InsightDim::User => Dim::User,
        InsightDim::Premium => return None,
    })
}

/// Rows as a sorted list, so two reads compare whatever their tie order.
fn sorted(mut rows: Vec<SpendRow>) -> Vec<(Vec<KeyValue>, Sums)> {
    let mut out: Vec<(Vec<KeyValue>, Sums)> = rows.drain(..).map(|r| (r.key, r.sums)).collect();
    out.sort_by(|a, b| format!("{:?}", a.0).cmp(&format!("{:?}", b.0)));
    out
}

fn insight_rows_equal_the_fine_spend_rows(store: &dyn Store) {
    load(store);
    let (from_ms, to_ms) = (D0 + DAY_MS, D0 + 4 * DAY_MS);
    let dims: Vec<InsightDim> = InsightDim::ALL
        .into_iter()
        .filter(|d| *d != InsightDim::Premium)
        .collect();
    let mut groupings: Vec<Vec<InsightDim>> = vec![vec![]];
    for (i, a) in dims.iter().enumerate() {
        groupings.push(vec![*a]);
        for b in &dims[i + 1..] {
            groupings.push(vec![*a, *b]);
        }
    }
    let mut compared = 0;
    for group_by in groupings {
        for (team, workflow) in [(None, None), (Some("team_b"), None), (None, Some("triage"))] {
            let q = InsightQuery {
                from_ms,
                to_ms,
                team: team.map(str::to_string),
                workflow: workflow.map(str::to_string),
                drift_only: false,
                group_by: group_by.clone(),
            };
            if !q.answerable() {
                assert!(store.insight_rows(&q).is_err(), "{q:?}");
                continue;
            }
            let got = store.insight_rows(&q).unwrap();
            // Ordered by cost, descending.
            assert!(got
                .windows(2)
                .all(|w| w[0].sums.cost_nanos >= w[1].sums.cost_nanos));
            // /v1/spend has no workflow filter: group by workflow and keep that one.
            let mut spend_by: Vec<Dim> = group_by.iter().filter_map(|d| spend_dim(*d)).collect();
            if workflow.is_some() && !spend_by.contains(&Dim::Workflow) {
                spend_by.push(Dim::Workflow);
            }
            let spend = SpendQuery {
                group_by: spend_by.clone(),
                from_ms,
                to_ms,
                filters: Filters {
                    team: team.map(str::to_string),
                    ..Filters::default()
                },
                calendar: Default::default(),
            };
            let wf = spend_by.iter().position(|d| *d == Dim::Workflow);
            let mut expected: Vec<SpendRow> = Vec::new();
            for mut r in store.spend_from(&spend, Rollups::FineOnly).unwrap() {
                if let (Some(w), Some(want)) = (wf, workflow) {
                    if r.key[w] != KeyValue::Text(Some(want.into())) {
                        continue;
                    }
                    if !group_by.contains(&InsightDim::Workflow) {
                        r.key.remove(w);
                    }
                }
                expected.push(r);
            }
            assert_eq!(sorted(got), sorted(expected), "{q:?}");
            compared += 1;
        }
    }
    assert!(compared > 100, "{compared}");
}

fn premium_classes_and_drift_sum_the_events(store: &dyn Store) {
    let all: Vec<CostEvent> = load(store);
    let (from_ms, to_ms) = (D0, D0 + 5 * DAY_MS);
    let class = |e: &CostEvent| match (e.premium, e.premium_approved) {
        (false, _) => "standard",
        (true, true) => "approved",
        (true, false) => "unapproved",
    };
    let q = InsightQuery {
        from_ms,
        to_ms,
        group_by: vec![InsightDim::Premium],
        ..Default::default()
    };
    let rows = store.insight_rows(&q).unwrap();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        let KeyValue::Text(Some(name)) = &r.key[0] else {
            panic!("{:?}", r.key)
        };
        let cost: i64 = all
            .iter()
            .filter(|e| class(e) == name)
            .map(|e| e.cost_nanos)
            .sum();
        assert_eq!(r.sums.cost_nanos, cost, "{name}");
    }
    // Drift alone, by workflow, for one team.
    let q = InsightQuery {
        from_ms,
        to_ms,
        team: Some("team_a".into()),
        drift_only: true,
        group_by: vec![InsightDim::Workflow],
        ..Default::default()
    };
    let rows = store.insight_rows(&q).unwrap();
    let mut got: Vec<(Option<String>, i64)> = rows
        .iter()
        .map(|r| match &r.key[0] {
            KeyValue::Text(w) => (w.clone(), r.sums.cost_nanos),
            other => panic!("{other:?}"),
        })
        .collect();
    got.sort();
    let mut expected: Vec<(Option<String>, i64)> = Vec::new();
    for e in all
        .iter()
        .filter(|e| e.team == "team_a" && class(e) == "unapproved")
    {
        match expected.iter_mut().find(|(w, _)| *w == e.workflow) {
            Some((_, c)) => *c += e.cost_nanos,
            None => expected.push((e.workflow.clone(), e.cost_nanos)),
        }
    }
    expected.sort();
    assert_eq!(got, expected);
    assert!(expected.len() >= 2);
}

fn tokens_are_created_found_by_hash_listed_and_revoked(store: &dyn Store) {
    let new = |name: &str, role, team: Option<&str>, hash: &str| NewToken {
        name: name.into(),
        role,
        team: team.map(str::to_string),
        sha256: hash.repeat(32),
        expires_ms: None,
    };
    let lead = store
        .create_token(
            &new("support lead", Role::Team, Some("team_support"), "ab"),
            1000,
        )
        .unwrap();
    assert_eq!(
        (
            lead.role,
            lead.team.as_deref(),
            lead.created_ms,
            lead.revoked_ms
        ),
        (Role::Team, Some("team_support"), 1000, None)
    );
    let admin = store
        .create_token(&new("ops", Role::Admin, None, "cd"), 1001)
        .unwrap();
    assert!(admin.id > lead.id);
    // The same hash twice is refused (the hash is the token's identity).
    assert!(store
        .create_token(&new("again", Role::Finance, None, "ab"), 1002)
        .is_err());
    assert_eq!(
        store.token_by_hash(&"ab".repeat(32)).unwrap(),
        Some(lead.clone())
    );
    assert_eq!(store.token_by_hash(&"ef".repeat(32)).unwrap(), None);
    assert_eq!(store.tokens().unwrap(), vec![lead.clone(), admin.clone()]);
    assert!(store.revoke_token(lead.id, 2000).unwrap());
    assert!(
        !store.revoke_token(lead.id, 3000).unwrap(),
        "already revoked"
    );
    assert!(!store.revoke_token(9999, 3000).unwrap(), "no such token");
    let revoked = store.token_by_hash(&"ab".repeat(32)).unwrap().unwrap();
    assert_eq!(revoked.revoked_ms, Some(2000));
    assert_eq!(store.tokens().unwrap()[1], admin);
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
    insight_rows_equal_the_fine_spend_rows,
    premium_classes_and_drift_sum_the_events,
    tokens_are_created_found_by_hash_listed_and_revoked,
);
