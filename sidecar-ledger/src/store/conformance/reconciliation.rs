//! The providers' report lines on both backends: stored exactly, read back by UTC day,
//! and replaced (never doubled) when the same line is imported again.

use crate::store::backend::Store;
use crate::store::conformance::fixtures::{pg, sqlite};
use crate::store::reconciliation::{ImportOutcome, ProviderLine, ReportKind};

const D0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z
const DAY: i64 = 86_400_000;

fn cost(day_ms: i64, model: &str, line: &str, nanos: i64) -> ProviderLine {
    let mut l = ProviderLine::empty("anthropic", ReportKind::Cost, day_ms, model, line);
    l.amount_nanos = nanos;
    l
}

fn report_lines_are_stored_exactly_and_replaced_on_reimport(store: &dyn Store) {
    let mut usage = ProviderLine::empty(
        "openai",
        ReportKind::Usage,
        D0,
        "gpt-4o-mini",
        "|||interactive|",
    );
    usage.input_tokens = 1_000;
    usage.cached_input_tokens = 200;
    usage.cache_write_tokens = 3;
    usage.cache_write_1h_tokens = 4;
    usage.output_tokens = 300;
    usage.requests = 7;
    usage.web_search_calls = 2;
    let first = vec![
        cost(D0, "claude-sonnet-4-20250514", "w|input", 1_237_891_200),
        cost(D0, "claude-sonnet-4-20250514", "w|output", 9_223_372_036),
        cost(D0 + DAY, "", "w|web search", 10_000_000_000),
        usage.clone(),
    ];
    assert_eq!(
        store
            .import_report_lines(&first, "file:a.json", 1_000)
            .unwrap(),
        ImportOutcome {
            added: 4,
            replaced: 0
        }
    );
    let day0 = store.report_lines(D0, D0 + DAY).unwrap();
    assert_eq!(day0.len(), 3);
    // Ordered by day, provider, kind, model, line.
    assert_eq!(day0[0].provider, "anthropic");
    assert_eq!(day0[0].line, "w|input");
    assert_eq!(day0[1].amount_nanos, 9_223_372_036);
    assert_eq!(day0[2], usage);
    assert_eq!(store.report_lines(D0, D0 + 2 * DAY).unwrap().len(), 4);
    assert!(store.report_lines(D0 - DAY, D0).unwrap().is_empty());

    // The same report again, one amount corrected: replaced, not added.
    let mut again = first.clone();
    again[0].amount_nanos = 1;
    assert_eq!(
        store
            .import_report_lines(&again, "pull:/v1/organizations/cost_report", 2_000)
            .unwrap(),
        ImportOutcome {
            added: 0,
            replaced: 4
        }
    );
    let all = store.report_lines(D0, D0 + 2 * DAY).unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(
        all.iter()
            .filter(|l| l.kind == ReportKind::Cost)
            .map(|l| l.amount_nanos)
            .sum::<i64>(),
        1 + 9_223_372_036 + 10_000_000_000
    );
    // A cost and a usage line of the same day, model and line are different lines.
    let twin = ProviderLine {
        kind: ReportKind::Cost,
        ..usage
    };
    assert_eq!(
        store
            .import_report_lines(&[twin], "file:b.json", 3_000)
            .unwrap(),
        ImportOutcome {
            added: 1,
            replaced: 0
        }
    );
}

fn adjustments_count_in_every_rollup_and_survive_a_zone_change(store: &dyn Store) {
    use crate::calendar::ReportingCalendar;
    use crate::query::{Dim, Filters, SpendQuery};
    use crate::store::reconciliation::NewAdjustment;
    use crate::store::IngestBatch;
    use crate::test_util::event;

    let mut e = event("e1", D0 + 3_600_000 + 5, "team_a", 1_000);
    e.workflow = Some("triage".into());
    store
        .ingest(&IngestBatch {
            events: vec![e.clone()],
            received_ms: D0,
            ..IngestBatch::default()
        })
        .unwrap();
    let adj = NewAdjustment {
        run_id: "r1".into(),
        event_id: e.id.clone(),
        ts_ms: e.ts_ms,
        team: e.team.clone(),
        consumer_group: e.consumer_group.clone(),
        user: None,
        workflow: e.workflow.clone(),
        api: "chat_completions".into(),
        provider: e.provider.clone(),
        lane: e.lane.clone(),
        model_served: e.model_served.clone(),
        outcome: "ok".into(),
        cache: "off".into(),
        premium: false,
        premium_approved: false,
        delta_nanos: 250,
        cost_after_nanos: 1_250,
        priced_by: Some("gpt-4o-mini".into()),
    };
    assert_eq!(
        store
            .record_adjustments(std::slice::from_ref(&adj), 7)
            .unwrap(),
        1
    );
    let stored = store.adjustments(D0, D0 + DAY, Some("team_a")).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].adjustment.clone(), stored[0].created_ms),
        (adj, 7)
    );
    assert!(store
        .adjustments(D0, D0 + DAY, Some("team_b"))
        .unwrap()
        .is_empty());
    // Every grouping, answered from the hourly, daily and coarse rollups alike.
    let spend = |group_by: Vec<Dim>, calendar: ReportingCalendar| {
        let rows = store
            .spend(&SpendQuery {
                group_by,
                from_ms: D0,
                to_ms: D0 + DAY,
                filters: Filters::default(),
                calendar,
            })
            .unwrap();
        (
            rows.iter().map(|r| r.sums.cost_nanos).sum::<i64>(),
            rows.iter().map(|r| r.sums.requests).sum::<i64>(),
        )
    };
    let utc = ReportingCalendar::utc();
    for dims in [
        vec![Dim::Team],
        vec![Dim::Workflow],
        vec![Dim::Hour],
        vec![Dim::Day, Dim::Model],
        vec![Dim::User],
    ] {
        assert_eq!(spend(dims.clone(), utc.clone()), (1_250, 1), "{dims:?}");
    }
    // Rebuilding the daily rollups in another zone keeps the adjustment.
    let paris = ReportingCalendar::parse("Europe/Paris").unwrap();
    store.set_reporting_zone(&paris, "test", 8).unwrap();
    assert_eq!(spend(vec![Dim::Day, Dim::Team], paris), (1_250, 1));
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
    report_lines_are_stored_exactly_and_replaced_on_reimport,
    adjustments_count_in_every_rollup_and_survive_a_zone_change,
);
