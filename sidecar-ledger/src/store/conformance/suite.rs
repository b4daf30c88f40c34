//! One store test-suite, run on both backends: every test here is a function of
//! `&dyn Store`, instantiated once on SQLite (a temporary file) and once on
//! PostgreSQL (a fresh schema in the database `TOLLGATE_TEST_PG_URL` names, which
//! `make test-unit` provides by starting a throwaway server with
//! `tests/harness/postgres.py run`). The PostgreSQL-only tests below them cover what
//! only a shared server has: several ledger instances on one database.
//!
//! Without `TOLLGATE_TEST_PG_URL` the PostgreSQL instances pass without running (and
//! say so on stderr), except under CI or with `TOLLGATE_REQUIRE_PG` set, where they fail.

use std::ops::ControlFlow;
use std::str::FromStr;

use tollgate_core::event::{ApiKind, CacheStatus, CostEvent, Outcome, Tokens, UsageSource};
use tollgate_core::lease::LeaseRequest;

use super::fixtures::{pg, pg_url, sqlite, PgSchema};
use crate::query::{Dim, EventsQuery, Filters, SpendQuery, DAY_MS, HOUR_MS};
use crate::store::alerts::NewAlert;
use crate::store::backend::Store;
use crate::store::export::{ExportScope, Period};
use crate::store::postgres::PgStore;
use crate::store::types::{IngestBatch, IngestOutcome, KeyValue, RejectedEvent, Sums};
use crate::store::wallets::{EntryKind, NewEntry};
use crate::test_util::{batch, event};

const H0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z
const USD: i64 = 1_000_000_000;

/// Instantiates each listed `fn(&dyn Store)` once per backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::sqlite().store.as_ref()); } )*
        }
        mod postgres {
            $( #[test] fn $name() {
                if let Some(f) = super::pg() { super::$name(f.store.as_ref()); }
            } )*
        }
    };
}

on_both_backends!(
    reports_of_dropped_events_are_kept_once_per_flusher_and_first_drop,
    an_instance_that_vanishes_leaves_its_lease_held_until_its_events_arrive,
    a_closed_lease_returns_its_unused_credit_and_holds_the_rest_until_its_events,
    ingest_is_idempotent_by_id_and_rollups_count_new_rows_only,
    every_field_survives_the_round_trip,
    a_failed_batch_leaves_nothing_behind,
    spend_groups_orders_by_cost_then_byte_order_and_filters,
    recent_events_are_newest_first_then_last_arrived,
    totals_that_overflow_64_bits_fail_instead_of_wrapping,
    text_is_stored_verbatim_and_nul_never_fails_a_batch,
    grants_never_exceed_what_the_wallet_has,
    no_instance_leases_more_than_half_of_what_is_left_beyond_its_need,
    spend_uses_up_leases_and_an_overspent_lease_holds_nothing,
    allocations_are_recorded_once,
    budget_spend_is_summed_per_range_and_utc_day,
    alerts_fire_once_and_deliveries_are_retried_with_backoff,
    export_events_page_in_time_then_arrival_order,
    export_rollups_sum_per_utc_day_and_calendar_month,
    premium_lanes_are_the_lanes_of_premium_events,
    billing_extras_sum_per_period_group_from_the_events,
    a_read_right_after_ingest_sees_the_events,
);

// ---- helpers ------------------------------------------------------------------------

fn spend_query(group_by: Vec<Dim>, filters: Filters) -> SpendQuery {
    SpendQuery {
        group_by,
        from_ms: 0,
        to_ms: H0 + 400 * DAY_MS,
        filters,
        calendar: Default::default(),
    }
}

fn total(store: &dyn Store) -> Sums {
    let rows = store
        .spend(&spend_query(Vec::new(), Filters::default()))
        .unwrap();
    assert!(rows.len() <= 1);
    rows.first().map(|r| r.sums).unwrap_or_default()
}

fn all_events(store: &dyn Store) -> Vec<CostEvent> {
    store
        .recent_events(&EventsQuery {
            filters: Filters::default(),
            limit: 1000,
        })
        .unwrap()
}

fn text(v: &str) -> KeyValue {
    KeyValue::Text(Some(v.into()))
}

fn scope(from_ms: i64, to_ms: i64) -> ExportScope {
    ExportScope {
        from_ms,
        to_ms,
        filters: Filters::default(),
        calendar: Default::default(),
    }
}

fn top_up(team: &str, nanos: i64, key: Option<&str>) -> NewEntry {
    NewEntry {
        team: team.into(),
        kind: EntryKind::TopUp,
        amount_nanos: nanos,
        actor: "test".into(),
        reason: "because".into(),
        idempotency_key: key.map(str::to_string),
    }
}

fn with_wallet(store: &dyn Store, team: &str, usd: i64) {
    store.ensure_wallet(team, 0).unwrap();
    store
        .allocate(&top_up(team, usd * USD, Some(&format!("k0-{team}"))), 0)
        .unwrap()
        .unwrap();
}

fn ask(instance: &str, want: i64) -> LeaseRequest {
    LeaseRequest {
        instance: instance.into(),
        team: "team_a".into(),
        want_nanos: want,
        need_nanos: None,
    }
}

fn spend_on_lease(store: &dyn Store, id: &str, lease: u64, cost: i64) {
    let mut e = event(id, 1_000, "team_a", cost);
    e.lease_id = Some(lease);
    store.ingest(&batch(vec![e])).unwrap();
}

// ---- events, rollups, queries --------------------------------------------------------

fn ingest_is_idempotent_by_id_and_rollups_count_new_rows_only(store: &dyn Store) {
    let first = batch(vec![
        event("a", H0, "team_a", 100),
        event("b", H0 + 1, "team_a", 200),
        // The same id twice in one batch counts once.
        event("a", H0, "team_a", 100),
    ]);
    assert_eq!(
        store.ingest(&first).unwrap(),
        IngestOutcome {
            accepted: 2,
            duplicates: 1
        }
    );
    let after_first = total(store);
    assert_eq!((after_first.requests, after_first.cost_nanos), (2, 300));
    assert_eq!(
        store.ingest(&first).unwrap(),
        IngestOutcome {
            accepted: 0,
            duplicates: 3
        }
    );
    assert_eq!(total(store), after_first);
    // A retried id with different content is still the stored one: first write wins.
    let changed = batch(vec![
        event("b", H0 + 1, "team_a", 999_999),
        event("c", H0 + 2, "team_a", 5),
    ]);
    assert_eq!(store.ingest(&changed).unwrap().accepted, 1);
    assert_eq!(total(store).cost_nanos, 305);
    assert_eq!(all_events(store).len(), 3);
    // Wallet spend is maintained with the rollups, for new rows only.
    assert_eq!(store.wallet("team_a", 0).unwrap().unwrap().spent_nanos, 305);
    // An empty batch is fine.
    assert_eq!(
        store.ingest(&batch(vec![])).unwrap(),
        IngestOutcome::default()
    );
}

fn every_field_survives_the_round_trip(store: &dyn Store) {
    let mut full = event("full", H0 + 5, "team_x", 123_456);
    full.user = Some("alice@example.com".into());
    full.workflow = Some("triage".into());
    full.api = ApiKind::Messages;
    full.provider = None;
    full.lane = None;
    full.model_served = "claude-haiku-4".into();
    full.tokens = Tokens {
        input: 1,
        cached_input: 2,
        cache_write: 3,
        cache_write_1h: 6,
        output: 4,
    };
    full.web_search_calls = 7;
    full.tool_cost_nanos = 70_000;
    full.service_tier = Some("priority".into());
    full.priced_by = Some("claude-haiku-4@long_context".into());
    full.usage_source = UsageSource::Estimated;
    full.unpriced = true;
    full.outcome = Outcome::Incomplete;
    full.http_status = 502;
    full.reason = Some("upstream_reset".into());
    full.latency_ms = u32::MAX;
    full.stream = true;
    full.cache = CacheStatus::Hit;
    full.cost_avoided_nanos = 77;
    full.premium = true;
    full.premium_approved = true;
    full.lease_id = Some(i64::MAX as u64);
    full.wallet_unchecked = true;
    let mut big = event("big", H0, "team_x", crate::ingest::MAX_COST_NANOS);
    big.tokens.input = crate::ingest::MAX_TOKENS;
    let mut b = batch(vec![full.clone(), big.clone()]);
    b.rejected.push(RejectedEvent {
        index: 2,
        raw: "{\"id\":1}".into(),
        error: "id: invalid type".into(),
    });
    store.ingest(&b).unwrap();
    assert_eq!(all_events(store), vec![full, big]);
    let sums = total(store);
    assert_eq!(sums.requests, 2);
    assert_eq!(sums.cost_nanos, 123_456 + crate::ingest::MAX_COST_NANOS);
    assert_eq!(sums.cost_avoided_nanos, 77);
    assert_eq!(
        sums.cache_write_tokens,
        3 + 6,
        "the rollups count every cache write"
    );
    assert_eq!(sums.input_tokens, 1 + crate::ingest::MAX_TOKENS as i64);
    let rejected = store.rejected_events(10).unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].event, b.rejected[0]);
    assert_eq!(rejected[0].received_ms, 1);
}

fn a_failed_batch_leaves_nothing_behind(store: &dyn Store) {
    let mut bad = event("too-many-tokens", H0, "team_a", 1);
    bad.tokens.input = u64::MAX; // validation normally stops this; the store must not half-commit
    let mut b = batch(vec![event("ok", H0, "team_a", 1), bad]);
    b.rejected.push(RejectedEvent {
        index: 2,
        raw: "1".into(),
        error: "e".into(),
    });
    assert!(store.ingest(&b).is_err());
    assert!(all_events(store).is_empty());
    assert_eq!(total(store), Sums::default());
    assert!(store.rejected_events(10).unwrap().is_empty());
    assert!(store.wallet("team_a", 0).unwrap().is_none());
}

fn spend_groups_orders_by_cost_then_byte_order_and_filters(store: &dyn Store) {
    let mut with_user = event("u", H0 + 2 * HOUR_MS, "team_b", 7);
    with_user.user = Some("bob".into());
    with_user.model_served = "m2".into();
    store
        .ingest(&batch(vec![
            // Equal cost: the tie is broken by the key in byte order ("B" < "_" < "a"),
            // whatever the database's collation.
            event("1", H0, "a", 5),
            event("2", H0 + 1, "B", 5),
            event("3", H0 + DAY_MS, "_c", 5),
            event("4", H0 + 3, "team_b", 2),
            with_user,
        ]))
        .unwrap();
    let rows = store
        .spend(&spend_query(vec![Dim::Team], Filters::default()))
        .unwrap();
    let keys: Vec<(KeyValue, i64)> = rows
        .iter()
        .map(|r| (r.key[0].clone(), r.sums.cost_nanos))
        .collect();
    assert_eq!(
        keys,
        vec![
            (text("team_b"), 9),
            (text("B"), 5),
            (text("_c"), 5),
            (text("a"), 5)
        ]
    );

    // Several dimensions; absent optional attributes read back as None.
    let rows = store
        .spend(&spend_query(
            vec![Dim::Day, Dim::User, Dim::Model],
            Filters {
                team: Some("team_b".into()),
                ..Filters::default()
            },
        ))
        .unwrap();
    let keys: Vec<Vec<KeyValue>> = rows.iter().map(|r| r.key.clone()).collect();
    assert_eq!(
        keys,
        vec![
            vec![
                KeyValue::TimeMs(H0),
                KeyValue::Text(Some("bob".into())),
                text("m2")
            ],
            vec![
                KeyValue::TimeMs(H0),
                KeyValue::Text(None),
                text("gpt-4o-mini")
            ],
        ]
    );
    let hours = store
        .spend(&spend_query(vec![Dim::Hour], Filters::default()))
        .unwrap();
    assert_eq!(hours.len(), 3);
    assert_eq!(hours[0].key, vec![KeyValue::TimeMs(H0)]);
    assert_eq!(hours[0].sums.requests, 3);

    // Half-open hour ranges; an empty range or an unknown filter value has no rows.
    let mut q = spend_query(vec![], Filters::default());
    (q.from_ms, q.to_ms) = (H0 + HOUR_MS, H0 + 2 * HOUR_MS);
    assert!(store.spend(&q).unwrap().is_empty());
    (q.from_ms, q.to_ms) = (H0 + 2 * HOUR_MS, H0 + 3 * HOUR_MS);
    assert_eq!(store.spend(&q).unwrap()[0].sums.cost_nanos, 7);
    let none = spend_query(
        vec![Dim::Team],
        Filters {
            model: Some("nope".into()),
            ..Filters::default()
        },
    );
    assert!(store.spend(&none).unwrap().is_empty());
}

fn recent_events_are_newest_first_then_last_arrived(store: &dyn Store) {
    store
        .ingest(&batch(vec![
            event("old", H0, "team_a", 1),
            event("tie-1", H0 + 5, "team_a", 1),
            event("tie-2", H0 + 5, "team_b", 1),
            event("new", H0 + 9, "team_a", 1),
        ]))
        .unwrap();
    let ids = |filters: Filters, limit: usize| -> Vec<String> {
        store
            .recent_events(&EventsQuery { filters, limit })
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect()
    };
    assert_eq!(
        ids(Filters::default(), 10),
        ["new", "tie-2", "tie-1", "old"]
    );
    assert_eq!(ids(Filters::default(), 2), ["new", "tie-2"]);
    let team_a = Filters {
        team: Some("team_a".into()),
        lane: Some("openai-gpt4o-mini".into()),
        ..Filters::default()
    };
    assert_eq!(ids(team_a, 10), ["new", "tie-1", "old"]);
}

fn totals_that_overflow_64_bits_fail_instead_of_wrapping(store: &dyn Store) {
    // Far beyond what ingest validation lets through (MAX_COST_NANOS): the store's
    // own arithmetic must still refuse rather than wrap. i64::MAX is about 9.2e18.
    let big = 5_000_000_000_000_000_000;
    store
        .ingest(&batch(vec![event("a", H0, "team_a", big)]))
        .unwrap();
    store
        .ingest(&batch(vec![event("b", H0 + HOUR_MS, "team_b", big)]))
        .unwrap();
    // Each team alone fits; both together (1e19) do not.
    let per_team = store
        .spend(&spend_query(vec![Dim::Team], Filters::default()))
        .unwrap();
    assert_eq!(per_team[0].sums.cost_nanos, big);
    let r = store.spend(&spend_query(vec![], Filters::default()));
    assert!(r.is_err(), "{r:?}");
    // Within one batch.
    let two = vec![
        event("c1", H0, "team_c", big),
        event("c2", H0, "team_c", big),
    ];
    assert!(store.ingest(&batch(two)).is_err());
    assert!(store.wallet("team_c", 0).unwrap().is_none());
}

fn text_is_stored_verbatim_and_nul_never_fails_a_batch(store: &dyn Store) {
    let mut odd = event("ünï'cödé\"; --", H0, "team_☃", 3);
    odd.user = Some("o'brien@example.com".into());
    odd.reason = Some("line\nbreak\ttab \\ backslash".into());
    let mut nul = event("nul", H0 + 1, "team_a", 4);
    nul.model_requested = "gpt\u{0}-4o".into();
    let b = IngestBatch {
        events: vec![
            odd.clone(),
            nul.clone(),
            event("plain", H0 + 2, "team_a", 5),
        ],
        rejected: vec![RejectedEvent {
            index: 1,
            raw: "{\"id\":\"x\\u0000\"}".into(),
            error: "tokens: invalid type: string \"a\u{0}b\"".into(),
        }],
        received_ms: 9,
        lease_closures: Vec::new(),
        drops: Vec::new(),
        held_back: Vec::new(),
    };
    let outcome = store.ingest(&b).unwrap();
    assert_eq!(outcome.duplicates, 0);
    let stored = all_events(store);
    assert!(stored.contains(&odd));
    assert!(stored.iter().any(|e| e.id == "plain"));
    let nul_stored = stored.iter().find(|e| e.id == "nul");
    let rejected = store.rejected_events(10).unwrap();
    match nul_stored {
        // SQLite keeps U+0000 as is.
        Some(e) => {
            assert_eq!(e, &nul);
            assert_eq!(outcome.accepted, 3);
        }
        // PostgreSQL cannot: the event is quarantined (as JSON, at its batch position,
        // 2: index 1 was already quarantined), nothing of it is counted.
        None => {
            assert_eq!(outcome.accepted, 2);
            let q = rejected.iter().find(|r| r.event.index == 2).unwrap();
            assert!(q.event.error.contains("U+0000"), "{}", q.event.error);
            let back: CostEvent = serde_json::from_str(&q.event.raw).unwrap();
            assert_eq!(back, nul);
            assert_eq!(total(store).cost_nanos, 8);
        }
    }
    let first = rejected.iter().find(|r| r.event.index == 1).unwrap();
    assert_eq!(first.event.raw, b.rejected[0].raw);
    assert!(first.event.error.starts_with("tokens: invalid type"));
    // A filter value with U+0000 matches nothing and is no error.
    let f = Filters {
        team: Some("team_a\u{0}".into()),
        ..Filters::default()
    };
    assert!(store
        .recent_events(&EventsQuery {
            filters: f.clone(),
            limit: 10
        })
        .unwrap()
        .is_empty());
    assert!(store
        .spend(&spend_query(vec![Dim::Team], f.clone()))
        .unwrap()
        .is_empty());
    assert!(store.wallet("team_a\u{0}", 0).unwrap().is_none());
    let mut rows = 0;
    store
        .for_each_event(
            &ExportScope {
                from_ms: 0,
                to_ms: H0 + DAY_MS,
                filters: f,
                calendar: Default::default(),
            },
            &mut |_| {
                rows += 1;
                ControlFlow::Continue(())
            },
        )
        .unwrap();
    assert_eq!(rows, 0);
}

// ---- wallets and leases -------------------------------------------------------------

fn grants_never_exceed_what_the_wallet_has(store: &dyn Store) {
    with_wallet(store, "team_a", 3);
    let a = store.lease(&ask("a", 2 * USD), 0, 30_000).unwrap().unwrap();
    let b = store.lease(&ask("b", 2 * USD), 0, 30_000).unwrap().unwrap();
    assert_eq!((a.granted_nanos, b.granted_nanos), (2 * USD, USD));
    assert_eq!(b.wallet_available_nanos, 0);
    let c = store.lease(&ask("c", USD), 0, 30_000).unwrap().unwrap();
    assert_eq!(c.granted_nanos, 0);
    // The same instance asking again adds to its live lease.
    let a2 = store.lease(&ask("a", USD), 1_000, 30_000).unwrap().unwrap();
    assert_eq!(
        (a2.lease_id, a2.granted_nanos, a2.expires_ms),
        (a.lease_id, 0, 31_000)
    );
    let w = store.wallet("team_a", 1_000).unwrap().unwrap();
    assert_eq!(
        (
            w.leased_outstanding_nanos,
            w.available_nanos(),
            w.live_leases
        ),
        (3 * USD, 0, 3)
    );
    assert!(store
        .lease(
            &LeaseRequest {
                team: "nobody".into(),
                ..ask("a", 1)
            },
            0,
            1
        )
        .unwrap()
        .is_none());
}

fn no_instance_leases_more_than_half_of_what_is_left_beyond_its_need(store: &dyn Store) {
    with_wallet(store, "team_a", 4);
    let needing = |instance: &str, want: i64, need: i64| LeaseRequest {
        need_nanos: Some(need),
        ..ask(instance, want)
    };
    // A chunk as large as the wallet: half of it, so the other instance finds credit.
    let a = store
        .lease(&needing("a", 4 * USD, USD / 10), 0, 30_000)
        .unwrap()
        .unwrap();
    assert_eq!(a.granted_nanos, 2 * USD);
    let b = store
        .lease(&needing("b", 4 * USD, USD / 10), 0, 30_000)
        .unwrap()
        .unwrap();
    assert_eq!(b.granted_nanos, USD);
    // A request that needs more than half of what is left still gets what it needs.
    let c = store
        .lease(&needing("c", 4 * USD, USD), 0, 30_000)
        .unwrap()
        .unwrap();
    assert_eq!((c.granted_nanos, c.wallet_available_nanos), (USD, 0));
}

fn spend_uses_up_leases_and_an_overspent_lease_holds_nothing(store: &dyn Store) {
    with_wallet(store, "team_a", 3);
    let a = store.lease(&ask("a", 2 * USD), 0, 30_000).unwrap().unwrap();
    spend_on_lease(store, "e1", a.lease_id, USD / 2);
    let w = store.wallet("team_a", 10).unwrap().unwrap();
    assert_eq!(w.spent_nanos, USD / 2);
    assert_eq!(w.leased_outstanding_nanos, 3 * USD / 2);
    assert_eq!(w.available_nanos(), USD);
    // Overspending a lease holds back nothing more (never a negative hold).
    spend_on_lease(store, "e2", a.lease_id, 2 * USD);
    let w = store.wallet("team_a", 10).unwrap().unwrap();
    assert_eq!(
        (w.leased_outstanding_nanos, w.available_nanos()),
        (0, USD / 2)
    );
    // Fully spent: after expiry nothing is held; a retried event batch changes nothing.
    let w = store.wallet("team_a", 30_000).unwrap().unwrap();
    assert_eq!((w.leased_outstanding_nanos, w.live_leases), (0, 0));
    spend_on_lease(store, "e1", a.lease_id, USD / 2);
    assert_eq!(
        store.wallet("team_a", 30_000).unwrap().unwrap().spent_nanos,
        5 * USD / 2
    );
    let b = store
        .lease(&ask("a", 10 * USD), 30_000, 30_000)
        .unwrap()
        .unwrap();
    assert_ne!(b.lease_id, a.lease_id, "an expired lease is not extended");
    assert_eq!(b.granted_nanos, USD / 2);
}

fn closing(lease: u64, instance: &str, unused: i64) -> tollgate_core::lease::LeaseClosed {
    tollgate_core::lease::LeaseClosed {
        lease_id: lease,
        team: "team_a".into(),
        instance: instance.into(),
        unused_nanos: unused,
        closed_ms: 0,
    }
}

fn an_instance_that_vanishes_leaves_its_lease_held_until_its_events_arrive(store: &dyn Store) {
    with_wallet(store, "team_a", 3);
    let a = store.lease(&ask("a", 2 * USD), 0, 30_000).unwrap().unwrap();
    spend_on_lease(store, "e1", a.lease_id, USD / 2);
    // The instance stops without closing: at expiry the unreported 1.5 is held.
    let w = store.wallet("team_a", 30_000).unwrap().unwrap();
    assert_eq!((w.leased_outstanding_nanos, w.live_leases), (0, 0));
    assert_eq!(w.unsettled_nanos, 3 * USD / 2);
    assert_eq!(w.balance_nanos(), USD, "held spend is charged to the team");
    assert_eq!(w.available_nanos(), USD);
    let holds = store.holds("team_a", 30_000).unwrap();
    assert_eq!(holds.len(), 1);
    assert_eq!(
        (
            holds[0].lease_id,
            holds[0].unused_nanos,
            holds[0].held_nanos
        ),
        (a.lease_id as i64, None, 3 * USD / 2)
    );
    // Another instance is granted only what is not held.
    let b = store
        .lease(&ask("b", 10 * USD), 30_000, 30_000)
        .unwrap()
        .unwrap();
    assert_eq!(b.granted_nanos, USD);
    // A late event of the vanished lease turns part of the hold into spend.
    spend_on_lease(store, "e2", a.lease_id, USD / 5);
    let w = store.wallet("team_a", 30_001).unwrap().unwrap();
    assert_eq!(w.unsettled_nanos, 3 * USD / 2 - USD / 5);
    // An operator releases the rest, once.
    let resolution = crate::store::wallets::HoldResolution {
        team: "team_a".into(),
        lease_id: a.lease_id as i64,
        actor: "ops".into(),
        reason: "instance a's disk was lost".into(),
    };
    let released = store
        .resolve_hold(&resolution, 30_002)
        .unwrap()
        .expect("a hold");
    assert_eq!(released.held_nanos, 3 * USD / 2 - USD / 5);
    assert_eq!(
        store
            .wallet("team_a", 30_003)
            .unwrap()
            .unwrap()
            .unsettled_nanos,
        0
    );
    assert!(store.holds("team_a", 30_003).unwrap().is_empty());
    assert_eq!(store.resolve_hold(&resolution, 30_004).unwrap(), None);
    let wrong_team = crate::store::wallets::HoldResolution {
        team: "team_b".into(),
        ..resolution
    };
    assert_eq!(store.resolve_hold(&wrong_team, 30_004).unwrap(), None);
}

fn a_closed_lease_returns_its_unused_credit_and_holds_the_rest_until_its_events(store: &dyn Store) {
    with_wallet(store, "team_a", 3);
    let a = store.lease(&ask("a", 2 * USD), 0, 30_000).unwrap().unwrap();
    spend_on_lease(store, "e1", a.lease_id, USD / 2);
    // The instance closes the lease: 1.0 never reserved; one more event rides along,
    // and 0.3 of the lease's spend is still on its way.
    let mut e2 = event("e2", 1_000, "team_a", USD / 5);
    e2.lease_id = Some(a.lease_id);
    let mut b = batch(vec![e2]);
    b.received_ms = 5_000;
    b.lease_closures = vec![
        closing(a.lease_id, "someone-else", 0),
        closing(a.lease_id, "a", USD),
    ];
    store.ingest(&b).unwrap();
    let w = store.wallet("team_a", 5_001).unwrap().unwrap();
    assert_eq!(
        (w.live_leases, w.leased_outstanding_nanos),
        (0, 0),
        "closed"
    );
    assert_eq!(w.spent_nanos, 7 * USD / 10);
    assert_eq!(w.unsettled_nanos, 3 * USD / 10);
    assert_eq!(w.available_nanos(), 2 * USD);
    let holds = store.holds("team_a", 5_001).unwrap();
    assert_eq!(holds[0].unused_nanos, Some(USD));
    // A repeated report changes nothing.
    let mut again = batch(vec![]);
    again.lease_closures = vec![closing(a.lease_id, "a", 2 * USD)];
    store.ingest(&again).unwrap();
    assert_eq!(
        store
            .wallet("team_a", 5_002)
            .unwrap()
            .unwrap()
            .unsettled_nanos,
        3 * USD / 10
    );
    // The last event arrives: nothing is held and the lease is settled.
    spend_on_lease(store, "e3", a.lease_id, 3 * USD / 10);
    let w = store.wallet("team_a", 6_000).unwrap().unwrap();
    assert_eq!((w.unsettled_nanos, w.spent_nanos), (0, USD));
    assert!(store.holds("team_a", 6_000).unwrap().is_empty());
    // The instance's next request opens a new lease rather than the closed one.
    let next = store.lease(&ask("a", USD), 7_000, 30_000).unwrap().unwrap();
    assert_ne!(next.lease_id, a.lease_id);
}

fn reports_of_dropped_events_are_kept_once_per_flusher_and_first_drop(store: &dyn Store) {
    let report = |instance: &str, count: u64, first_ms: i64, last_ms: i64| {
        let mut b = batch(vec![]);
        b.drops = vec![tollgate_core::outbox::EventsDropped {
            instance: instance.into(),
            count,
            first_ms,
            last_ms,
        }];
        b
    };
    store.ingest(&report("f1", 3, 1_000, 1_500)).unwrap();
    // The same report retried, then grown by drops since: one row, the larger figures.
    store.ingest(&report("f1", 3, 1_000, 1_500)).unwrap();
    store.ingest(&report("f1", 7, 1_000, 2_500)).unwrap();
    store.ingest(&report("f2", 1, 3_000, 3_000)).unwrap();
    let gaps = store.delivery_gaps(0).unwrap();
    let seen: Vec<(&str, i64, i64, i64)> = gaps
        .iter()
        .map(|g| (g.instance.as_str(), g.dropped, g.first_ms, g.last_ms))
        .collect();
    assert_eq!(seen, vec![("f2", 1, 3_000, 3_000), ("f1", 7, 1_000, 2_500)]);
    assert_eq!(
        store.delivery_gaps(2_600).unwrap().len(),
        1,
        "only recent ones"
    );
}

fn allocations_are_recorded_once(store: &dyn Store) {
    with_wallet(store, "team_a", 3);
    let (_, w) = store
        .allocate(&top_up("team_a", USD, Some("k1")), 5)
        .unwrap()
        .unwrap();
    assert_eq!(w.allocated_nanos, 4 * USD);
    let (again, w) = store
        .allocate(&top_up("team_a", USD, Some("k1")), 6)
        .unwrap()
        .unwrap();
    assert_eq!((again.ts_ms, w.allocated_nanos), (5, 4 * USD));
    let mut fix = top_up("team_a", -USD / 4, None);
    fix.kind = EntryKind::Correction;
    store.allocate(&fix, 7).unwrap().unwrap();
    store.allocate(&fix, 8).unwrap().unwrap(); // no key: applied each time
    let w = store.wallet("team_a", 10).unwrap().unwrap();
    assert_eq!(w.allocated_nanos, 4 * USD - USD / 2);
    let entries = store.wallet_entries("team_a", 10).unwrap();
    assert_eq!(entries.len(), 4);
    assert_eq!(
        (entries[0].kind, entries[0].ts_ms, entries[3].kind),
        (EntryKind::Correction, 8, EntryKind::TopUp)
    );
    assert_eq!(store.wallet_entries("team_a", 1).unwrap().len(), 1);
    assert!(store
        .allocate(&top_up("nobody", 1, None), 0)
        .unwrap()
        .is_none());
    // ensure_wallet twice keeps one empty wallet; wallets() lists in byte order.
    store.ensure_wallet("B", 1).unwrap();
    store.ensure_wallet("B", 2).unwrap();
    store.ensure_wallet("a", 1).unwrap();
    let teams: Vec<String> = store
        .wallets(10)
        .unwrap()
        .into_iter()
        .map(|w| w.team)
        .collect();
    assert_eq!(teams, ["B", "a", "team_a"]);
    assert_eq!(store.wallet("B", 0).unwrap().unwrap().allocated_nanos, 0);
}

// ---- budgets and alerts -------------------------------------------------------------

fn budget_spend_is_summed_per_range_and_utc_day(store: &dyn Store) {
    store
        .ingest(&batch(vec![
            event("a", H0 - 1, "team_a", 1),
            event("b", H0, "team_a", 2),
            event("c", H0 + DAY_MS - 1, "team_a", 4),
            event("d", H0 + 2 * DAY_MS, "team_a", 8),
            event("e", H0, "team_b", 16),
        ]))
        .unwrap();
    let day0 = H0 / DAY_MS;
    let teams = ["team_a", "team_b", "nobody"].map(String::from);
    let days = store.daily_spend(&teams, day0 - 1, day0 + 3).unwrap();
    assert_eq!(days["team_a"], vec![1, 6, 0, 8]);
    assert_eq!(days["team_b"], vec![0, 16, 0, 0]);
    assert_eq!(
        days["nobody"],
        vec![0; 4],
        "a listed team without spend has idle days"
    );
    assert_eq!(days.len(), 3);
    // Only the listed teams, however many have spend.
    let only_a = store.daily_spend(&teams[..1], day0 - 1, day0 + 3).unwrap();
    assert_eq!(only_a.keys().collect::<Vec<_>>(), vec!["team_a"]);
    assert!(store.daily_spend(&teams, day0, day0).unwrap()["team_a"].is_empty());
    assert!(store.daily_spend(&[], day0, day0 + 3).unwrap().is_empty());
    assert_eq!(team_total(store, "team_a"), 15);
}

/// All of a team's spend, from the rollups.
fn team_total(store: &dyn Store, team: &str) -> i64 {
    let rows = store
        .spend(&crate::store::spend_plan::team_query(team, 0, i64::MAX))
        .unwrap();
    rows.first().map_or(0, |r| r.sums.cost_nanos)
}

fn alert(threshold_pct: u32) -> NewAlert {
    NewAlert {
        team: "team_a".into(),
        period_start_ms: H0,
        period_end_ms: H0 + 30 * DAY_MS,
        kind: "actual",
        threshold_pct,
        spent_nanos: 80,
        budget_nanos: 100,
        forecast_nanos: 120,
        message: "team_a is at 80% of its budget".into(),
    }
}

fn alerts_fire_once_and_deliveries_are_retried_with_backoff(store: &dyn Store) {
    let hooks = vec![
        (
            "https://hooks.example.com/services/T/B/secret".to_string(),
            "slack".to_string(),
        ),
        (
            "http://127.0.0.1:9/alert".to_string(),
            "generic".to_string(),
        ),
    ];
    let id = store
        .record_alert(&alert(80), &hooks, 1_000)
        .unwrap()
        .unwrap();
    assert_eq!(store.record_alert(&alert(80), &hooks, 2_000).unwrap(), None);
    let second = store
        .record_alert(&alert(100), &[], 3_000)
        .unwrap()
        .unwrap();
    assert!(second > id);

    assert!(store.due_deliveries(999).unwrap().is_empty());
    let due = store.due_deliveries(1_000).unwrap();
    assert_eq!(due.len(), 2);
    assert!(due[0].0.id < due[1].0.id);
    let (d, a) = &due[0];
    assert_eq!(
        (d.alert_id, d.status.as_str(), d.attempts, d.next_attempt_ms),
        (id, "pending", 0, 1_000)
    );
    assert_eq!(d.target, "https://hooks.example.com");
    assert_eq!(d.format, "slack");
    assert_eq!((a.id, a.threshold_pct, a.fired_ms), (id, 80, 1_000));
    assert_eq!(a.deliveries.len(), 2);

    store
        .finish_delivery(due[0].0.id, Ok(()), 1_500, 3)
        .unwrap();
    store
        .finish_delivery(due[1].0.id, Err("timeout".into()), 1_500, 3)
        .unwrap();
    // The failure is retried after 1 s, then 2 s; the third failure gives up.
    assert!(store.due_deliveries(2_499).unwrap().is_empty());
    let retry = store.due_deliveries(2_500).unwrap();
    assert_eq!(retry.len(), 1);
    assert_eq!(
        (retry[0].0.attempts, retry[0].0.next_attempt_ms),
        (1, 2_500)
    );
    store
        .finish_delivery(retry[0].0.id, Err("timeout".into()), 2_500, 3)
        .unwrap();
    let retry = store.due_deliveries(4_500).unwrap();
    assert_eq!(retry[0].0.next_attempt_ms, 4_500);
    store
        .finish_delivery(retry[0].0.id, Err("refused".into()), 4_500, 3)
        .unwrap();
    assert!(store.due_deliveries(i64::MAX / 2).unwrap().is_empty());

    let alerts = store.alerts(10).unwrap();
    assert_eq!(
        alerts.iter().map(|a| a.id).collect::<Vec<_>>(),
        vec![second, id]
    );
    let ds = &alerts[1].deliveries;
    assert_eq!(
        (ds[0].status.as_str(), ds[0].attempts, ds[0].delivered_ms),
        ("delivered", 1, Some(1_500))
    );
    assert_eq!(
        (
            ds[1].status.as_str(),
            ds[1].attempts,
            ds[1].last_error.as_deref()
        ),
        ("failed", 3, Some("refused"))
    );
    assert_eq!(store.alerts(1).unwrap().len(), 1);
}

// ---- exports ------------------------------------------------------------------------

fn export_events_page_in_time_then_arrival_order(store: &dyn Store) {
    // More than two pages (500 per page on both backends), many sharing a timestamp,
    // arriving out of time order.
    let n = 500 * 2 + 7;
    let events: Vec<CostEvent> = (0..n)
        .rev()
        .map(|i| event(&format!("e{i:05}"), H0 + (i / 300) as i64, "team_a", 1))
        .collect();
    store.ingest(&batch(events.clone())).unwrap();
    let mut seen = Vec::new();
    store
        .for_each_event(&scope(H0, H0 + HOUR_MS), &mut |e| {
            seen.push(e.id);
            ControlFlow::Continue(())
        })
        .unwrap();
    let mut expected = events;
    expected.sort_by_key(|e| e.ts_ms); // stable: among equal times, arrival order
    assert_eq!(seen, expected.into_iter().map(|e| e.id).collect::<Vec<_>>());
    // The range is half-open and a break stops early.
    let mut count = 0;
    store
        .for_each_event(&scope(H0 + 1, H0 + 2), &mut |e| {
            assert_eq!(e.ts_ms, H0 + 1);
            count += 1;
            if count == 10 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(count, 10);
}

fn export_rollups_sum_per_utc_day_and_calendar_month(store: &dyn Store) {
    let oct31 = H0 - HOUR_MS; // 2026-10-31T23:00Z
    let mut hit = event("c", H0 + 25 * HOUR_MS, "team_a", 0);
    hit.cache = CacheStatus::Hit;
    hit.cost_avoided_nanos = 9;
    let dec31 = 1_798_761_600_000 - HOUR_MS; // 2026-12-31T23:00Z
    let feb29 = 1_709_164_800_000; // 2024-02-29T00:00Z
    store
        .ingest(&batch(vec![
            event("a", oct31 + 5, "team_a", 3),
            event("b", H0 + 5, "team_a", 4),
            hit,
            event("d", H0 + 26 * HOUR_MS, "team_a", 5),
            event("e", dec31, "team_a", 6),
            event("f", feb29 + 1, "team_a", 7),
        ]))
        .unwrap();
    let collect = |period, by_cache| {
        let mut rows = Vec::new();
        store
            .for_each_period_row(&scope(0, H0 + 90 * DAY_MS), period, by_cache, &mut |r| {
                rows.push(r);
                ControlFlow::Continue(())
            })
            .unwrap();
        rows
    };
    let days: Vec<(i64, i64, i64)> = collect(Period::Day, false)
        .iter()
        .map(|r| (r.period_ms, r.sums.requests, r.sums.cost_nanos))
        .collect();
    assert_eq!(
        days,
        vec![
            (feb29, 1, 7),
            (H0 - DAY_MS, 1, 3),
            (H0, 1, 4),
            (H0 + DAY_MS, 2, 5),
            (dec31 - 23 * HOUR_MS, 1, 6)
        ]
    );
    let months = collect(Period::Month, false);
    let oct1 = 1_790_812_800_000; // 2026-10-01T00:00:00Z
    let dec1 = 1_796_083_200_000; // 2026-12-01T00:00:00Z
    let feb1 = 1_706_745_600_000; // 2024-02-01T00:00:00Z
    let summary: Vec<(i64, i64)> = months
        .iter()
        .map(|r| (r.period_ms, r.sums.cost_nanos))
        .collect();
    assert_eq!(summary, vec![(feb1, 7), (oct1, 3), (H0, 9), (dec1, 6)]);
    assert_eq!(months[0].provider.as_deref(), Some("openai"));
    assert!(months.iter().all(|r| r.cache.is_none()));

    let by_cache = collect(Period::Month, true);
    assert_eq!(by_cache.len(), 5);
    let hit_row = by_cache
        .iter()
        .find(|r| r.cache == Some(CacheStatus::Hit))
        .unwrap();
    assert_eq!(hit_row.sums.cost_avoided_nanos, 9);
    // The scope's filters and bounds apply; a break stops early.
    let mut n = 0;
    store
        .for_each_period_row(
            &ExportScope {
                from_ms: H0,
                to_ms: H0 + DAY_MS,
                filters: Filters {
                    team: Some("team_a".into()),
                    ..Filters::default()
                },
                calendar: Default::default(),
            },
            Period::Month,
            false,
            &mut |r| {
                assert_eq!((r.period_ms, r.sums.cost_nanos), (H0, 4));
                n += 1;
                ControlFlow::Break(())
            },
        )
        .unwrap();
    assert_eq!(n, 1);
}

fn premium_lanes_are_the_lanes_of_premium_events(store: &dyn Store) {
    let mut p = event("p", H0 + 1, "team_a", 1);
    p.premium = true;
    p.lane = Some("openai-premium".into());
    let mut p2 = event("p2", H0 + 2, "team_a", 1);
    p2.premium = true;
    p2.lane = Some("Anthropic-premium".into());
    store
        .ingest(&batch(vec![p.clone(), p2, event("n", H0 + 2, "team_a", 1)]))
        .unwrap();
    assert_eq!(
        store.premium_lanes(&scope(H0, H0 + HOUR_MS)).unwrap(),
        vec![
            "Anthropic-premium".to_string(),
            "openai-premium".to_string()
        ]
    );
    assert!(store
        .premium_lanes(&scope(H0 + HOUR_MS, H0 + 2 * HOUR_MS))
        .unwrap()
        .is_empty());
}

fn billing_extras_sum_per_period_group_from_the_events(store: &dyn Store) {
    use crate::store::export::{BillingExtras, PeriodExtrasRow};
    let mut a = event("a", H0 + 1, "team_a", 30_000_000);
    a.tokens.cache_write_1h = 100;
    a.web_search_calls = 2;
    a.tool_cost_nanos = 20_000_000;
    let mut b = event("b", H0 + HOUR_MS, "team_a", 15_000_000);
    b.web_search_calls = 1;
    b.tool_cost_nanos = 10_000_000;
    let mut other_day = event("c", H0 + DAY_MS, "team_a", 5);
    other_day.tokens.cache_write_1h = 7;
    let mut no_lane = event("d", H0 + 2, "team_b", 5);
    no_lane.provider = None;
    no_lane.lane = None;
    no_lane.cache = CacheStatus::Hit;
    no_lane.tokens.cache_write_1h = 3;
    let plain = event("e", H0 + 3, "team_a", 9);
    store
        .ingest(&batch(vec![a.clone(), b, other_day, no_lane, plain]))
        .unwrap();
    let row = |period_ms, e: &CostEvent, extras| PeriodExtrasRow {
        period_ms,
        team: e.team.clone(),
        consumer_group: e.consumer_group.clone(),
        provider: e.provider.clone(),
        lane: e.lane.clone(),
        model: e.model_served.clone(),
        cache: e.cache,
        extras,
    };
    let no_lane_key = {
        let mut e = a.clone();
        e.team = "team_b".into();
        e.consumer_group = "b".into();
        e.provider = None;
        e.lane = None;
        e.cache = CacheStatus::Hit;
        e
    };
    let days = store
        .period_billing_extras(&scope(H0, H0 + 2 * DAY_MS), Period::Day)
        .unwrap();
    assert_eq!(
        days,
        vec![
            row(
                H0,
                &a,
                BillingExtras {
                    cache_write_1h_tokens: 100,
                    web_search_calls: 3,
                    tool_cost_nanos: 30_000_000,
                }
            ),
            row(
                H0,
                &no_lane_key,
                BillingExtras {
                    cache_write_1h_tokens: 3,
                    ..BillingExtras::default()
                }
            ),
            row(
                H0 + DAY_MS,
                &a,
                BillingExtras {
                    cache_write_1h_tokens: 7,
                    ..BillingExtras::default()
                }
            ),
        ]
    );
    let month = store
        .period_billing_extras(&scope(H0, H0 + 2 * DAY_MS), Period::Month)
        .unwrap();
    assert_eq!(month[0].extras.cache_write_1h_tokens, 107);
    assert_eq!(month.len(), 2);
    let mut only_b = scope(H0, H0 + 2 * DAY_MS);
    only_b.filters.team = Some("team_b".into());
    assert_eq!(
        store
            .period_billing_extras(&only_b, Period::Day)
            .unwrap()
            .len(),
        1
    );
}

/// Both stores fold events into the rollups in bulk, after the ingest: every read of
/// the rollups must still include a batch acknowledged just before it.
fn a_read_right_after_ingest_sees_the_events(store: &dyn Store) {
    let day0 = H0 / DAY_MS;
    // (events in the batch, team, the team's spend after it)
    for (n, team, a) in [(1, "team_a", 10), (2, "team_b", 20), (3, "team_a", 40)] {
        let events = (0..n)
            .map(|i| event(&format!("{team}-{n}-{i}"), H0 + i * HOUR_MS, team, 10))
            .collect();
        store.ingest(&batch(events)).unwrap();
        let team_filter = Filters {
            team: Some(team.into()),
            ..Filters::default()
        };
        let rows = store
            .spend(&spend_query(vec![], team_filter.clone()))
            .unwrap();
        assert_eq!(rows[0].sums.cost_nanos, a, "spend after batch {n}");
        let fine = store
            .spend_from(
                &spend_query(vec![Dim::Hour], team_filter),
                crate::store::spend_plan::Rollups::FineOnly,
            )
            .unwrap();
        assert_eq!(fine.iter().map(|r| r.sums.cost_nanos).sum::<i64>(), a);
        assert_eq!(
            store
                .daily_spend(&[team.to_string()], day0, day0 + 1)
                .unwrap()[team],
            vec![a]
        );
        let insight = store
            .insight_rows(&crate::store::insights::InsightQuery {
                from_ms: H0,
                to_ms: H0 + DAY_MS,
                team: Some(team.into()),
                workflow: None,
                drift_only: false,
                group_by: vec![],
            })
            .unwrap();
        assert_eq!(insight[0].sums.cost_nanos, a);
        let mut exported = 0;
        store
            .for_each_period_row(
                &ExportScope {
                    from_ms: H0,
                    to_ms: H0 + DAY_MS,
                    filters: Filters {
                        team: Some(team.into()),
                        ..Filters::default()
                    },
                    calendar: Default::default(),
                },
                Period::Day,
                false,
                &mut |r| {
                    exported += r.sums.cost_nanos;
                    ControlFlow::Continue(())
                },
            )
            .unwrap();
        assert_eq!(exported, a);
    }
}

// ---- PostgreSQL only: several ledger instances on one database ----------------------

mod shared_database {
    use std::sync::atomic::Ordering;
    use std::sync::{Arc, Barrier};
    use std::thread;

    use super::*;
    use crate::store::error::StoreError;

    #[test]
    fn ledgers_starting_together_migrate_once_and_refuse_a_newer_schema() {
        let Some(schema) = PgSchema::new() else {
            return;
        };
        let schema = Arc::new(schema);
        let barrier = Arc::new(Barrier::new(4));
        let versions: Vec<i64> = (0..4)
            .map(|_| {
                let (schema, barrier) = (schema.clone(), barrier.clone());
                thread::spawn(move || {
                    barrier.wait();
                    schema.open().unwrap().schema_version().unwrap()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        let supported = crate::store::sqlite::MIGRATIONS.len() as i64;
        assert_eq!(
            versions,
            vec![supported; 4],
            "the same numbering as SQLite's"
        );
        let mut admin = schema.admin();
        let applied: i64 = admin
            .query_one("SELECT COUNT(*) FROM tollgate_schema_migrations", &[])
            .unwrap()
            .get(0);
        assert_eq!(applied, crate::store::postgres::MIGRATIONS.len() as i64);
        admin
            .execute("INSERT INTO tollgate_schema_migrations VALUES (99, 0)", &[])
            .unwrap();
        match schema.open() {
            Err(StoreError::SchemaTooNew {
                found: 99,
                supported: s,
            }) if s == supported => {}
            other => panic!("expected SchemaTooNew, got {:?}", other.err()),
        }
    }

    /// (SQLite's `+` turns an overflowing integer into a REAL instead of failing, so
    /// this runs on PostgreSQL only.)
    #[test]
    fn a_wallet_passing_i64_max_refuses_the_batch_whole() {
        let Some(f) = pg() else {
            return;
        };
        let store = f.store.as_ref();
        let big = 5_000_000_000_000_000_000;
        let one = |id: &str, hour: i64| batch(vec![event(id, H0 + hour * HOUR_MS, "team_a", big)]);
        store.ingest(&one("a", 0)).unwrap();
        // The wallet's spend would pass i64::MAX.
        let e = store.ingest(&one("b", 0)).unwrap_err();
        assert!(e.to_string().contains("out of range"), "{e}");
        assert!(store.ingest(&one("b", 1)).is_err());
        assert_eq!(all_events(store).len(), 1);
        assert_eq!(store.wallet("team_a", 0).unwrap().unwrap().spent_nanos, big);
        assert_eq!(total(store).cost_nanos, big);
    }

    /// A rollup sum passing i64::MAX where no wallet does (tokens): ingest goes on,
    /// the fold fails and leaves the events pending, and reads report the error
    /// instead of a wrapped or partial total.
    #[test]
    fn a_fold_that_fails_does_not_stop_ingest() {
        let Some(schema) = PgSchema::new() else {
            return;
        };
        let store = schema.open().unwrap();
        let big = 5_000_000_000_000_000_000u64;
        let mut a = event("a", H0, "team_a", 1);
        a.tokens.input = big;
        let mut b = event("b", H0, "team_a", 1);
        b.tokens.input = big;
        store.ingest(&batch(vec![a])).unwrap();
        store.ingest(&batch(vec![b])).unwrap();
        let e = store
            .spend(&spend_query(vec![], Filters::default()))
            .unwrap_err();
        let e = e.to_string();
        assert!(
            e.contains("overflows 64 bits") || e.contains("out of range"),
            "{e}"
        );
        store
            .ingest(&batch(vec![event("c", H0, "team_b", 1)]))
            .unwrap();
        assert_eq!(all_events(&store).len(), 3);
        assert_eq!(store.wallet("team_a", 0).unwrap().unwrap().spent_nanos, 2);
        let pending: i64 = schema
            .admin()
            .query_one("SELECT COUNT(*) FROM rollup_pending", &[])
            .unwrap()
            .get(0);
        assert_eq!(pending, 3, "nothing was folded");
    }

    /// (requests in rollup_hourly, pending rows), read straight from the tables.
    fn folded(schema: &PgSchema) -> (i64, i64) {
        let row = schema
            .admin()
            .query_one(
                "SELECT (SELECT COALESCE(SUM(requests), 0)::BIGINT FROM rollup_hourly),
                        (SELECT COUNT(*) FROM rollup_pending)",
                &[],
            )
            .unwrap();
        (row.get(0), row.get(1))
    }

    #[test]
    fn a_read_through_either_ledger_folds_what_any_ledger_stored() {
        let Some(schema) = PgSchema::new() else {
            return;
        };
        let (a, b) = (schema.open().unwrap(), schema.open().unwrap());
        a.fold_clock().hold_off();
        b.fold_clock().hold_off();
        a.ingest(&batch(vec![
            event("a1", H0, "team_a", 1),
            event("a2", H0, "team_b", 2),
        ]))
        .unwrap();
        b.ingest(&batch(vec![event("b1", H0, "team_a", 4)]))
            .unwrap();
        assert_eq!(
            folded(&schema),
            (0, 2),
            "a small ingest leaves its events pending"
        );
        // b reads a's events (and its own) right after they were acknowledged.
        assert_eq!(total(&b).cost_nanos, 7);
        assert_eq!(folded(&schema), (3, 0));
        assert_eq!(total(&a).cost_nanos, 7, "folded once");
        // Ingest folds by itself once enough events are stored.
        let mut n = 3;
        while n < 3 + crate::store::postgres::FOLD_EVENTS {
            let events = (0..2048)
                .map(|i| event(&format!("e{}", n + i), H0 + 1, "team_a", 1))
                .collect();
            a.ingest(&batch(events)).unwrap();
            n += 2048;
        }
        assert_eq!(folded(&schema), (n as i64, 0));
        // That fold wrote its rollups in several slices, the same rows in each: the
        // sums still add up exactly.
        assert!(n - 3 > 2 * crate::store::postgres::EVENTS_PER_STATEMENT);
        let sums = total(&b);
        assert_eq!(
            (sums.requests, sums.cost_nanos),
            (n as i64, 7 + (n as i64 - 3))
        );
    }

    /// Two ledgers ingesting on four threads while both fold (after their ingests and
    /// on every read): each thread writes its own team and reads its spend through
    /// the other ledger after every batch, which must be exactly what it stored so far.
    #[test]
    fn two_ledgers_ingesting_and_folding_at_once_count_every_event_once() {
        let Some(schema) = PgSchema::new() else {
            return;
        };
        let ledgers: Vec<Arc<PgStore>> = (0..2).map(|_| Arc::new(schema.open().unwrap())).collect();
        let barrier = Arc::new(Barrier::new(5));
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let (mine, other) = (ledgers[t % 2].clone(), ledgers[(t + 1) % 2].clone());
                let barrier = barrier.clone();
                thread::spawn(move || {
                    let team = format!("team_{t}");
                    barrier.wait();
                    let mut stored = 0;
                    for b in 0..40i64 {
                        let events: Vec<CostEvent> = (0..100)
                            .map(|i| {
                                let mut e = event(
                                    &format!("{t}-{b}-{i}"),
                                    H0 + ((b + i) % 30) * HOUR_MS,
                                    &team,
                                    1 + i,
                                );
                                e.user = Some(format!("u{}", i % 3));
                                e
                            })
                            .collect();
                        stored += events.iter().map(|e| e.cost_nanos).sum::<i64>();
                        assert_eq!(mine.ingest(&batch(events)).unwrap().accepted, 100);
                        if b % 4 == 0 {
                            let seen = team_total(other.as_ref(), &team);
                            assert_eq!(seen, stored, "{team} after batch {b}");
                        }
                    }
                    stored
                })
            })
            .collect();
        // And a reader folding all along.
        let reader = {
            let (store, barrier, done) = (ledgers[0].clone(), barrier.clone(), done.clone());
            thread::spawn(move || {
                barrier.wait();
                let mut reads = 0;
                while !done.load(Ordering::Relaxed) {
                    total(store.as_ref());
                    reads += 1;
                }
                reads
            })
        };
        let stored: Vec<i64> = writers.into_iter().map(|t| t.join().unwrap()).collect();
        done.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
        let expected: i64 = stored.iter().sum();
        for ledger in &ledgers {
            let s = total(ledger.as_ref());
            assert_eq!((s.requests, s.cost_nanos), (16_000, expected));
            for (t, team_stored) in stored.iter().enumerate() {
                let team = format!("team_{t}");
                assert_eq!(
                    ledger.wallet(&team, 0).unwrap().unwrap().spent_nanos,
                    *team_stored
                );
                let by_user = ledger
                    .spend_from(
                        &spend_query(
                            vec![Dim::User],
                            Filters {
                                team: Some(team.clone()),
                                ..Filters::default()
                            },
                        ),
                        crate::store::spend_plan::Rollups::Coarsest,
                    )
                    .unwrap();
                assert_eq!(
                    by_user.iter().map(|r| r.sums.cost_nanos).sum::<i64>(),
                    *team_stored
                );
            }
        }
        assert_eq!(folded(&schema), (16_000, 0));
    }

    /// A database migrated when PostgreSQL numbered its versions 1 to 6 (version 4
    /// then held SQLite's versions 4 and 5) is renumbered once and then upgraded like
    /// any other: nothing is applied twice and its events stay counted once.
    #[test]
    fn a_database_with_the_old_version_numbers_is_renumbered_once() {
        let Some(schema) = PgSchema::new() else {
            return;
        };
        {
            let store = schema.open().unwrap();
            store
                .ingest(&batch(vec![event("a", H0, "team_a", 5)]))
                .unwrap();
        }
        // The schema of version 7, recorded as the old numbering did.
        schema
            .admin()
            .batch_execute(crate::test_util::UNDO_AFTER_SCHEMA_7)
            .unwrap();
        schema
            .admin()
            .batch_execute(
                "DELETE FROM tollgate_schema_migrations;
                 INSERT INTO tollgate_schema_migrations VALUES
                   (1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 0);",
            )
            .unwrap();
        let recorded = |schema: &PgSchema| -> Vec<i64> {
            schema
                .admin()
                .query(
                    "SELECT version FROM tollgate_schema_migrations ORDER BY version",
                    &[],
                )
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect()
        };
        let latest = crate::store::postgres::MIGRATIONS.last().unwrap().0;
        let mut expected = vec![1, 2, 3];
        expected.extend(5..=latest);
        for _ in 0..2 {
            let store = schema.open().unwrap();
            assert_eq!(store.schema_version().unwrap(), latest);
            assert_eq!(recorded(&schema), expected);
            assert_eq!(total(&store).cost_nanos, 5);
        }
    }

    /// A database written before version 7 (every event already in the rollups, no
    /// pending rows) is migrated without folding anything again.
    #[test]
    fn a_database_from_before_version_7_counts_its_events_once() {
        let Some(schema) = PgSchema::new() else {
            return;
        };
        {
            let store = schema.open().unwrap();
            store
                .ingest(&batch(vec![
                    event("a", H0, "team_a", 1),
                    event("b", H0, "team_a", 2),
                ]))
                .unwrap();
            store.settle().unwrap();
        }
        // As a version 6 ledger left it.
        schema
            .admin()
            .batch_execute(
                "DROP TABLE rollup_pending, rollup_fold;
                 DELETE FROM tollgate_schema_migrations WHERE version >= 7;",
            )
            .unwrap();
        schema
            .admin()
            .batch_execute(crate::test_util::UNDO_AFTER_SCHEMA_7)
            .unwrap();
        let store = schema.open().unwrap();
        let latest = crate::store::sqlite::MIGRATIONS.len() as i64;
        assert_eq!(store.schema_version().unwrap(), latest);
        assert_eq!(folded(&schema), (2, 0));
        assert_eq!(total(&store).cost_nanos, 3);
        store
            .ingest(&batch(vec![event("c", H0, "team_a", 4)]))
            .unwrap();
        assert_eq!(total(&store).cost_nanos, 7);
        assert_eq!(folded(&schema), (3, 0));
    }

    #[test]
    fn a_bad_url_or_unreachable_server_is_a_clear_error() {
        let Some(url) = pg_url() else {
            return;
        };
        let mut config = ::postgres::Config::from_str(&url).unwrap();
        config.dbname("no_such_database_here");
        let e = PgStore::open_config(config).err().unwrap().to_string();
        assert!(e.contains("no_such_database_here"), "{e}");
        assert!(PgStore::open("postgres://u@127.0.0.1:1/x?connect_timeout=1").is_err());
        let opened = crate::store::open(Some("mysql://x"), std::path::Path::new("/nonexistent"));
        assert!(opened.err().unwrap().contains("postgres://"));
    }

    /// Two ledgers on one database, four Envoy instances each leasing and spending
    /// as fast as they can: every nanodollar is granted once and spent once.
    #[test]
    fn two_ledgers_never_grant_the_same_credit() {
        let Some(schema) = PgSchema::new() else {
            return;
        };
        let ledgers: Vec<Arc<PgStore>> = (0..2).map(|_| Arc::new(schema.open().unwrap())).collect();
        let wallet_nanos = 3 * USD + 7;
        with_wallet(ledgers[0].as_ref(), "team_a", 0);
        ledgers[1]
            .allocate(&top_up("team_a", wallet_nanos, Some("fund")), 0)
            .unwrap()
            .unwrap();
        let chunk = USD / 200 + 3;
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let store = ledgers[i % 2].clone();
                thread::spawn(move || {
                    let (mut granted, mut spent, mut unspent, mut n) = (0, 0, 0, 0);
                    // Spend what was granted so far, in two events, the last one retried.
                    let mut spend = |unspent: &mut i64, lease: u64| {
                        let half = *unspent / 2;
                        for cost in [half, *unspent - half] {
                            let mut e = event(&format!("i{i}-{n}"), H0, "team_a", cost);
                            e.lease_id = Some(lease);
                            assert_eq!(store.ingest(&batch(vec![e.clone()])).unwrap().accepted, 1);
                            assert_eq!(store.ingest(&batch(vec![e])).unwrap().accepted, 0);
                            n += 1;
                            spent += cost;
                        }
                        *unspent = 0;
                    };
                    for round in 0.. {
                        let g = store
                            .lease(&ask(&format!("instance-{i}"), chunk), 1_000, 600_000)
                            .unwrap()
                            .unwrap();
                        granted += g.granted_nanos;
                        unspent += g.granted_nanos;
                        // Grants race grants mostly; every few, spend races them too.
                        if g.granted_nanos == 0 || round % 4 == 3 {
                            spend(&mut unspent, g.lease_id);
                        }
                        if g.granted_nanos == 0 {
                            break;
                        }
                    }
                    (granted, spent)
                })
            })
            .collect();
        let (mut granted, mut spent) = (0, 0);
        for t in threads {
            let (g, s) = t.join().unwrap();
            granted += g;
            spent += s;
        }
        assert_eq!(granted, wallet_nanos, "all the credit, and only once");
        assert_eq!(spent, wallet_nanos);
        for ledger in &ledgers {
            let w = ledger.wallet("team_a", 2_000).unwrap().unwrap();
            assert_eq!(
                (
                    w.spent_nanos,
                    w.leased_outstanding_nanos,
                    w.available_nanos()
                ),
                (wallet_nanos, 0, 0)
            );
            assert_eq!(team_total(ledger.as_ref(), "team_a"), spent);
        }
    }

    /// The same batches delivered to both ledgers at once (a sender retrying against
    /// another instance), in opposite orders so their transactions cross: each event
    /// counts once, and a transaction aborted as a deadlock victim is retried.
    #[test]
    fn the_same_events_through_two_ledgers_count_once() {
        let Some(schema) = PgSchema::new() else {
            return;
        };
        let ledgers: Vec<Arc<PgStore>> = (0..2).map(|_| Arc::new(schema.open().unwrap())).collect();
        let events: Vec<CostEvent> = (0..400)
            .map(|i| {
                let mut e = event(&format!("e{i}"), H0 + (i % 7) * HOUR_MS, "team_a", 10 + i);
                e.model_served = format!("m{}", i % 5);
                e
            })
            .collect();
        let barrier = Arc::new(Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let store = ledgers[t % 2].clone();
                let barrier = barrier.clone();
                let mut mine = events.clone();
                if t % 2 == 1 {
                    mine.reverse();
                }
                thread::spawn(move || {
                    barrier.wait();
                    let mut accepted = 0;
                    for chunk in mine.chunks(50) {
                        accepted += store.ingest(&batch(chunk.to_vec())).unwrap().accepted;
                    }
                    accepted
                })
            })
            .collect();
        let accepted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(accepted, events.len());
        let expected: i64 = events.iter().map(|e| e.cost_nanos).sum();
        for ledger in &ledgers {
            let s = total(ledger.as_ref());
            assert_eq!((s.requests, s.cost_nanos), (400, expected));
            assert_eq!(
                ledger.wallet("team_a", 0).unwrap().unwrap().spent_nanos,
                expected
            );
        }
    }

    #[test]
    fn an_alert_fires_once_and_each_delivery_goes_to_one_ledger() {
        let Some(schema) = PgSchema::new() else {
            return;
        };
        let ledgers: Vec<Arc<PgStore>> = (0..2).map(|_| Arc::new(schema.open().unwrap())).collect();
        let hooks = vec![("http://127.0.0.1:9/a".to_string(), "generic".to_string())];
        let barrier = Arc::new(Barrier::new(6));
        let fired: Vec<Option<i64>> = (0..6)
            .map(|i| {
                let (store, hooks, barrier) =
                    (ledgers[i % 2].clone(), hooks.clone(), barrier.clone());
                thread::spawn(move || {
                    barrier.wait();
                    store.record_alert(&alert(80), &hooks, 1_000).unwrap()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert_eq!(fired.iter().flatten().count(), 1, "{fired:?}");
        // The first ledger to look claims the delivery; the other sees nothing due
        // until the attempt is recorded (or the claim runs out).
        assert_eq!(ledgers[0].due_deliveries(1_000).unwrap().len(), 1);
        assert!(ledgers[1].due_deliveries(1_000).unwrap().is_empty());
        let claim = crate::store::postgres::CLAIM_MS;
        assert_eq!(ledgers[1].due_deliveries(1_000 + claim).unwrap().len(), 1);
        let id = ledgers[0].alerts(1).unwrap()[0].deliveries[0].id;
        ledgers[0]
            .finish_delivery(id, Err("refused".into()), 2_000, 5)
            .unwrap();
        assert_eq!(ledgers[1].due_deliveries(3_000).unwrap().len(), 1);
    }
}
