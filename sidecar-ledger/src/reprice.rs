//! Repricing: recomputing stored events' cost from their recorded usage (tokens by
//! kind, service tier, web search calls, served model) with the price catalogue in
//! force now, after a price was found wrong and corrected.
//!
//! Events are never edited. Each event whose cost at today's prices differs from its
//! cost so far (its recorded cost plus every earlier adjustment) gets an adjustment of
//! the difference, stored with the event's attribution and added to the rollups, so
//! `/v1/spend`, the dashboard and the exports include it and still add up to the
//! nanodollar. Repricing again with the same prices finds every difference 0 and adds
//! nothing. Each team's wallet gets one correction entry per run for its total, and
//! each run is recorded in the audit log.
//!
//! Left as recorded: cache hits (no provider work, no cost) and events whose model no
//! price covers now (the catalogue, not the event, would be wrong).

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;

use serde::Serialize;
use serde_json::json;
use tollgate_core::event::{CacheStatus, CostEvent};
use tollgate_core::pricing::{Billable, PriceTable};

use crate::calendar::ReportingCalendar;
use crate::query::Filters;
use crate::store::audit::NewAuditEntry;
use crate::store::event_text;
use crate::store::export::ExportScope;
use crate::store::reconciliation::NewAdjustment;
use crate::store::wallets::{EntryKind, NewEntry};
use crate::store::{Store, StoreError};

/// Which events a run reprices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scope {
    pub from_ms: i64,
    pub to_ms: i64,
    pub team: Option<String>,
}

/// What a run changes (or, dry, would change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub run_id: String,
    pub scope: Scope,
    /// Events read.
    pub events: u64,
    /// Events left as recorded because no price covers their model.
    pub unpriced: u64,
    pub adjustments: Vec<NewAdjustment>,
}

/// A team's share of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct TeamTotal {
    pub events: u64,
    pub delta_nanos: i64,
}

impl Plan {
    pub fn delta_nanos(&self) -> i64 {
        self.adjustments.iter().map(|a| a.delta_nanos).sum()
    }

    pub fn by_team(&self) -> BTreeMap<String, TeamTotal> {
        let mut out: BTreeMap<String, TeamTotal> = BTreeMap::new();
        for a in &self.adjustments {
            let t = out.entry(a.team.clone()).or_default();
            t.events += 1;
            t.delta_nanos += a.delta_nanos;
        }
        out
    }
}

/// The event's cost at `prices`, and the label of what priced it; `None` when
/// repricing leaves it as recorded (a cache hit, or no price covers its model).
pub fn current_cost(prices: &PriceTable, e: &CostEvent) -> Option<(i64, Option<String>)> {
    if e.cache == CacheStatus::Hit {
        return None;
    }
    let usage = Billable {
        tokens: e.tokens,
        service_tier: e.service_tier.as_deref(),
        web_search_calls: e.web_search_calls,
        batch: false,
    };
    if usage.tokens.total() == 0 && usage.web_search_calls == 0 {
        return Some((0, e.priced_by.clone()));
    }
    prices
        .charge_for(&e.model_served, e.ts_ms, &usage)
        .map(|(label, charge)| (charge.total(), Some(label)))
}

fn adjustment(
    run_id: &str,
    e: &CostEvent,
    delta: i64,
    after: i64,
    priced_by: Option<String>,
) -> NewAdjustment {
    NewAdjustment {
        run_id: run_id.to_string(),
        event_id: e.id.clone(),
        ts_ms: e.ts_ms,
        team: e.team.clone(),
        consumer_group: e.consumer_group.clone(),
        user: e.user.clone(),
        workflow: e.workflow.clone(),
        api: event_text::api_str(e.api).to_string(),
        provider: e.provider.clone(),
        lane: e.lane.clone(),
        model_served: e.model_served.clone(),
        outcome: event_text::outcome_str(e.outcome).to_string(),
        cache: event_text::cache_str(e.cache).to_string(),
        premium: e.premium,
        premium_approved: e.premium_approved,
        delta_nanos: delta,
        cost_after_nanos: after,
        priced_by,
    }
}

/// The adjustments repricing the scope's events with `prices` needs. Reads only.
pub fn plan(
    store: &dyn Store,
    prices: &PriceTable,
    scope: &Scope,
    run_id: &str,
) -> Result<Plan, StoreError> {
    let mut adjusted: HashMap<String, i64> = HashMap::new();
    for a in store.adjustments(scope.from_ms, scope.to_ms, scope.team.as_deref())? {
        *adjusted.entry(a.adjustment.event_id).or_default() += a.adjustment.delta_nanos;
    }
    let mut out = Plan {
        run_id: run_id.to_string(),
        scope: scope.clone(),
        events: 0,
        unpriced: 0,
        adjustments: Vec::new(),
    };
    let export_scope = ExportScope {
        from_ms: scope.from_ms,
        to_ms: scope.to_ms,
        filters: Filters {
            team: scope.team.clone(),
            ..Filters::default()
        },
        calendar: ReportingCalendar::utc(),
    };
    store.for_each_event(&export_scope, &mut |e| {
        out.events += 1;
        match current_cost(prices, &e) {
            None if e.cache != CacheStatus::Hit => out.unpriced += 1,
            None => {}
            Some((cost, priced_by)) => {
                let so_far = e.cost_nanos + adjusted.get(&e.id).copied().unwrap_or(0);
                if cost != so_far {
                    out.adjustments
                        .push(adjustment(run_id, &e, cost - so_far, cost, priced_by));
                }
            }
        }
        ControlFlow::Continue(())
    })?;
    Ok(out)
}

/// Writes a plan: the adjustments (with their rollup deltas), one wallet correction per
/// team that has a wallet, and an audit entry. Returns the teams whose wallet was
/// corrected.
pub fn apply(
    store: &dyn Store,
    plan: &Plan,
    actor: &str,
    now_ms: i64,
) -> Result<Vec<String>, StoreError> {
    store.record_adjustments(&plan.adjustments, now_ms)?;
    let mut corrected = Vec::new();
    for (team, total) in plan.by_team() {
        if total.delta_nanos == 0 {
            continue;
        }
        let entry = NewEntry {
            team: team.clone(),
            kind: EntryKind::Correction,
            // More cost leaves less to spend.
            amount_nanos: -total.delta_nanos,
            actor: actor.to_string(),
            reason: format!(
                "repricing {}: {} events re-priced by {} nanodollars",
                plan.run_id, total.events, total.delta_nanos
            ),
            idempotency_key: Some(format!("reprice:{}", plan.run_id)),
        };
        if store.allocate(&entry, now_ms)?.is_some() {
            corrected.push(team);
        }
    }
    store.record_audit(
        &NewAuditEntry {
            actor: actor.to_string(),
            action: "reprice".into(),
            team: plan.scope.team.clone(),
            before: None,
            after: Some(json!({
                "run_id": plan.run_id,
                "from_ms": plan.scope.from_ms,
                "to_ms": plan.scope.to_ms,
                "events": plan.events,
                "unpriced": plan.unpriced,
                "adjusted_events": plan.adjustments.len(),
                "delta_nanos": plan.delta_nanos(),
                "by_team": plan.by_team(),
                "wallets_corrected": corrected,
            })),
        },
        now_ms,
    )?;
    Ok(corrected)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tollgate_core::config::ModelPriceDef;
    use tollgate_core::event::Tokens;
    use tollgate_core::pricing::{price_def, PriceTable};

    use super::*;
    use crate::query::{Dim, SpendQuery};
    use crate::store::wallets::EntryKind;
    use crate::store::{IngestBatch, SqliteStore};
    use crate::test_util::{event, TempDir};

    const D0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z

    fn prices(input: &str, output: &str) -> PriceTable {
        let mut m: BTreeMap<String, ModelPriceDef> = BTreeMap::new();
        m.insert("gpt-4o-mini".into(), price_def(input, None, None, output));
        PriceTable::with_overrides(&m)
    }

    fn total(store: &dyn Store, team: Option<&str>) -> i64 {
        store
            .spend(&SpendQuery {
                group_by: vec![Dim::Team],
                from_ms: D0,
                to_ms: D0 + 86_400_000,
                filters: Filters {
                    team: team.map(str::to_string),
                    ..Filters::default()
                },
                calendar: ReportingCalendar::utc(),
            })
            .unwrap()
            .iter()
            .map(|r| r.sums.cost_nanos)
            .sum()
    }

    #[test]
    fn a_corrected_price_becomes_adjustments_once_and_totals_follow() {
        let dir = TempDir::new();
        let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
        // Recorded at $0.15 / $0.60 per million: 1,000 input + 500 output = 450,000 n$.
        let mut a = event("a", D0 + 1_000, "team_a", 450_000);
        a.tokens = Tokens {
            input: 1_000,
            output: 500,
            ..Tokens::default()
        };
        let mut b = event("b", D0 + 2_000, "team_b", 450_000);
        b.tokens = a.tokens;
        let mut hit = event("hit", D0 + 3_000, "team_a", 0);
        hit.cache = CacheStatus::Hit;
        let mut odd = event("odd", D0 + 4_000, "team_a", 5);
        odd.model_served = "a-model-no-price-covers".into();
        store
            .ingest(&IngestBatch {
                events: vec![a, b, hit, odd],
                received_ms: D0,
                ..IngestBatch::default()
            })
            .unwrap();
        store.ensure_wallet("team_a", 0).unwrap();
        let scope = Scope {
            from_ms: D0,
            to_ms: D0 + 86_400_000,
            team: None,
        };

        // The same prices: nothing to do.
        let same = plan(&store, &prices("0.15", "0.60"), &scope, "r0").unwrap();
        assert_eq!(
            (same.events, same.unpriced, same.adjustments.len()),
            (4, 1, 0)
        );

        // Input was really $0.30: each event costs 300,000 n$ more.
        let fixed = prices("0.30", "0.60");
        let p = plan(&store, &fixed, &scope, "r1").unwrap();
        assert_eq!(p.adjustments.len(), 2);
        assert!(p
            .adjustments
            .iter()
            .all(|a| a.delta_nanos == 150_000 && a.cost_after_nanos == 600_000));
        assert_eq!(
            p.adjustments[0].priced_by.as_deref(),
            Some("gpt-4o-mini:config")
        );
        let before = total(&store, None);
        assert_eq!(
            apply(&store, &p, "ops", 10).unwrap(),
            vec!["team_a", "team_b"]
        );
        // Spend, per team and overall, includes the adjustments; requests do not change.
        assert_eq!(total(&store, None), before + 300_000);
        assert_eq!(total(&store, Some("team_b")), 600_000);
        let requests: i64 = store
            .spend(&SpendQuery {
                group_by: vec![Dim::Model],
                from_ms: D0,
                to_ms: D0 + 86_400_000,
                filters: Filters::default(),
                calendar: ReportingCalendar::utc(),
            })
            .unwrap()
            .iter()
            .map(|r| r.sums.requests)
            .sum();
        assert_eq!(requests, 4);
        // The wallet: one explicit correction; the audit log: the run.
        let entries = store.wallet_entries("team_a", 10).unwrap();
        assert_eq!(
            (entries[0].kind, entries[0].amount_nanos),
            (EntryKind::Correction, -150_000)
        );
        let audit = &store.audit_log(1, None).unwrap()[0];
        assert_eq!(audit.action, "reprice");
        assert_eq!(audit.after.as_ref().unwrap()["delta_nanos"], 300_000);

        // The exports: an adjustment row per event (request grain) and per group
        // (FOCUS), and their costs add up to the spend.
        let spend = total(&store, None);
        let export = |grain, format| {
            let req = crate::export::ExportRequest {
                scope: ExportScope {
                    from_ms: D0,
                    to_ms: D0 + 86_400_000,
                    filters: Filters::default(),
                    calendar: ReportingCalendar::utc(),
                },
                grain,
                format,
            };
            let mut out = Vec::new();
            crate::export::write_export(&store, &req, &fixed, &mut out).unwrap();
            let mut r = csv::Reader::from_reader(out.as_slice());
            let header = r.headers().unwrap().clone();
            r.records()
                .map(|rec| {
                    header
                        .iter()
                        .zip(rec.unwrap().iter())
                        .map(|(h, v)| (h.to_string(), v.to_string()))
                        .collect()
                })
                .collect::<Vec<std::collections::HashMap<String, String>>>()
        };
        let rows = export(crate::export::Grain::Request, crate::export::Format::Csv);
        assert_eq!(rows.len(), 6);
        let adj: Vec<_> = rows.iter().filter(|r| r["reason"] == "repricing").collect();
        assert_eq!(adj.len(), 2);
        assert!(adj
            .iter()
            .any(|r| r["id"] == "a#r1" && r["cost_nanos"] == "150000" && r["input_tokens"] == "0"));
        assert_eq!(
            rows.iter()
                .map(|r| r["cost_nanos"].parse::<i64>().unwrap())
                .sum::<i64>(),
            spend
        );
        let focus = export(crate::export::Grain::Day, crate::export::Format::Focus);
        let usd = |t: &str| {
            crate::reconcile::amount::to_nanos(t, crate::reconcile::amount::Unit::Dollars).unwrap()
        };
        assert_eq!(
            focus.iter().map(|r| usd(&r["BilledCost"])).sum::<i64>(),
            spend
        );
        let adj: Vec<_> = focus
            .iter()
            .filter(|r| r["ChargeCategory"] == "Adjustment")
            .collect();
        assert_eq!(adj.len(), 2, "{focus:?}");
        assert!(adj.iter().all(|r| usd(&r["BilledCost"]) == 150_000
            && r["x_TokenKind"] == "adjustment"
            && r["ConsumedQuantity"].is_empty()));

        // Again with the same prices: nothing more.
        let again = plan(&store, &fixed, &scope, "r2").unwrap();
        assert!(again.adjustments.is_empty(), "{:?}", again.adjustments);
        // Back to the old prices: the adjustments are undone by new ones.
        let back = plan(&store, &prices("0.15", "0.60"), &scope, "r3").unwrap();
        assert!(back
            .adjustments
            .iter()
            .all(|a| a.delta_nanos == -150_000 && a.cost_after_nanos == 450_000));
        apply(&store, &back, "ops", 20).unwrap();
        assert_eq!(total(&store, None), before);
        // One team only.
        let one = plan(
            &store,
            &fixed,
            &Scope {
                team: Some("team_b".into()),
                ..scope
            },
            "r4",
        )
        .unwrap();
        assert_eq!(
            one.adjustments
                .iter()
                .map(|a| a.team.as_str())
                .collect::<Vec<_>>(),
            vec!["team_b"]
        );
    }
}
