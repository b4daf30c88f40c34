//! The evidence an allocation request carries, computed by the ledger when it is filed
//! and frozen with it: the wallet's runway, the budget's pace and forecast, the last
//! 30 days' spend, cache and lane mix, and what drove the last week's change.

use std::collections::BTreeMap;

use serde::Serialize;
use tollgate_core::config::BudgetDef;

use crate::api::wallets::WalletJson;
use crate::budget::{self, BudgetStatus, DailySpend};
use crate::insights::drivers;
use crate::insights::narrative::{pct, usd};
use crate::insights::DayRange;
use crate::query::{self, DAY_MS};
use crate::state::AppState;
use crate::store::insights::InsightDim;
use crate::store::{Store, StoreError};

use super::drivers::cells_of;
use super::grouping::grouped;
use super::scope::RangeJson;
use super::teams::run_rate;

/// Days of spend the period figures cover.
const PERIOD_DAYS: i64 = 30;

#[derive(Serialize)]
pub struct Evidence {
    pub computed_ms: i64,
    /// The case in one paragraph, every figure computed.
    pub summary: String,
    pub wallet: Option<WalletEvidence>,
    pub budget: Option<BudgetStatus>,
    pub period: PeriodEvidence,
    /// Spend per lane over the period, largest first.
    pub lanes: Vec<LaneShare>,
    pub drivers: DriversEvidence,
}

#[derive(Serialize)]
pub struct WalletEvidence {
    #[serde(flatten)]
    pub wallet: WalletJson,
    /// Trimmed mean of the last 14 full days.
    pub run_rate_per_day_nanos: i64,
    /// Whole days the balance lasts at the run rate (`None`: no recent spend).
    pub days_left: Option<i64>,
    /// The day the balance runs out at the run rate.
    pub exhaustion_day: Option<String>,
}

#[derive(Serialize)]
pub struct PeriodEvidence {
    pub range: RangeJson,
    pub spent_nanos: i64,
    pub requests: i64,
    pub cost_avoided_nanos: i64,
    pub cache_lookups: i64,
    pub cache_hits: i64,
    pub cache_hit_rate: Option<f64>,
}

#[derive(Serialize)]
pub struct LaneShare {
    pub lane: String,
    pub cost_nanos: i64,
    pub requests: i64,
    /// Of the period's spend.
    pub share: f64,
}

#[derive(Serialize)]
pub struct DriversEvidence {
    /// The week before `b`.
    pub a: RangeJson,
    /// The last 7 full days.
    pub b: RangeJson,
    pub a_cost_nanos: i64,
    pub b_cost_nanos: i64,
    /// Volume, mix, cache and price effects (nanodollars; they sum to the change).
    pub effects: Vec<EffectShare>,
}

#[derive(Serialize)]
pub struct EffectShare {
    pub effect: &'static str,
    pub label: &'static str,
    pub nanos: i64,
}

/// The team's evidence as of `now`.
pub fn team_evidence(
    store: &dyn Store,
    state: &AppState,
    team: &str,
    now: i64,
) -> Result<Evidence, StoreError> {
    let budgets = state.budgets.current();
    let budget_def: Option<&BudgetDef> = budgets.iter().find(|b| b.team_id == team);
    let teams = [team.to_string()];
    let daily = DailySpend::load(
        store,
        &teams,
        &budget_def.into_iter().collect::<Vec<_>>(),
        now,
    )?;
    let rate = run_rate(&daily, team, now);
    let today = now.div_euclid(DAY_MS) * DAY_MS;
    let wallet = store.wallet(team, now)?.map(|w| {
        let w = WalletJson::from(w);
        let days_left = (rate > 0).then(|| w.balance_nanos.max(0) / rate);
        WalletEvidence {
            exhaustion_day: days_left.map(|d| query::format_day(today + d * DAY_MS)),
            days_left,
            run_rate_per_day_nanos: rate,
            wallet: w,
        }
    });
    let budget = budget_def.map(|b| budget::status(b, &daily, now));

    let range = DayRange::last_days(now, PERIOD_DAYS);
    let rows = grouped(
        store,
        range,
        Some(team),
        None,
        None,
        &[InsightDim::Lane, InsightDim::Cache],
    )?;
    let mut period = PeriodEvidence {
        range: range.into(),
        spent_nanos: 0,
        requests: 0,
        cost_avoided_nanos: 0,
        cache_lookups: 0,
        cache_hits: 0,
        cache_hit_rate: None,
    };
    let mut lanes: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (_, key, s) in &rows {
        period.spent_nanos += s.cost_nanos;
        period.requests += s.requests;
        period.cost_avoided_nanos += s.cost_avoided_nanos;
        match key.get(1).cloned().flatten().as_deref() {
            Some("hit") => {
                period.cache_hits += s.requests;
                period.cache_lookups += s.requests;
            }
            Some("miss") => period.cache_lookups += s.requests,
            _ => {}
        }
        if let Some(lane) = key.first().cloned().flatten() {
            let l = lanes.entry(lane).or_default();
            l.0 += s.cost_nanos;
            l.1 += s.requests;
        }
    }
    period.cache_hit_rate =
        (period.cache_lookups > 0).then(|| period.cache_hits as f64 / period.cache_lookups as f64);
    let mut lanes: Vec<LaneShare> = lanes
        .into_iter()
        .map(|(lane, (cost_nanos, requests))| LaneShare {
            share: if period.spent_nanos > 0 {
                cost_nanos as f64 / period.spent_nanos as f64
            } else {
                0.0
            },
            lane,
            cost_nanos,
            requests,
        })
        .collect();
    lanes.sort_by(|a, b| b.cost_nanos.cmp(&a.cost_nanos).then(a.lane.cmp(&b.lane)));

    let b = DayRange {
        from_ms: today - 7 * DAY_MS,
        to_ms: today,
    };
    let a = DayRange {
        from_ms: today - 14 * DAY_MS,
        to_ms: b.from_ms,
    };
    let dims = [InsightDim::Lane, InsightDim::Model, InsightDim::Cache];
    let (ca, _) = cells_of(&grouped(store, a, Some(team), None, None, &dims)?);
    let (cb, _) = cells_of(&grouped(store, b, Some(team), None, None, &dims)?);
    let d = drivers::decompose(&ca, &cb);
    let drivers = DriversEvidence {
        a: a.into(),
        b: b.into(),
        a_cost_nanos: d.a_cost_nanos,
        b_cost_nanos: d.b_cost_nanos,
        effects: d
            .effects
            .iter()
            .map(|(e, v)| EffectShare {
                effect: e.as_str(),
                label: e.label(),
                nanos: *v,
            })
            .collect(),
    };
    let summary = summary(team, &wallet, &budget, &period, &lanes, &drivers);
    Ok(Evidence {
        computed_ms: now,
        summary,
        wallet,
        budget,
        period,
        lanes,
        drivers,
    })
}

fn summary(
    team: &str,
    wallet: &Option<WalletEvidence>,
    budget: &Option<BudgetStatus>,
    period: &PeriodEvidence,
    lanes: &[LaneShare],
    d: &DriversEvidence,
) -> String {
    let mut parts = vec![format!(
        "{team} spent {} over the last {PERIOD_DAYS} days ({} requests)",
        usd(period.spent_nanos),
        period.requests
    )];
    if let Some(w) = wallet {
        parts.push(match (&w.exhaustion_day, w.days_left) {
            (Some(day), Some(left)) => format!(
                "its wallet balance of {} lasts about {left} more days at {} a day (to {day})",
                usd(w.wallet.balance_nanos),
                usd(w.run_rate_per_day_nanos)
            ),
            _ => format!("its wallet balance is {}", usd(w.wallet.balance_nanos)),
        });
    }
    if let Some(b) = budget {
        parts.push(b.summary.clone());
    }
    if let Some(rate) = period.cache_hit_rate {
        parts.push(format!(
            "the cache answered {} of lookups and avoided {}",
            pct(rate),
            usd(period.cost_avoided_nanos)
        ));
    }
    if let Some(top) = lanes.first() {
        parts.push(format!(
            "{} carried {} of the spend",
            top.lane,
            pct(top.share)
        ));
    }
    let change = d.b_cost_nanos - d.a_cost_nanos;
    if change != 0 {
        let top = d
            .effects
            .iter()
            .filter(|e| e.nanos != 0)
            .max_by_key(|e| e.nanos.abs());
        parts.push(match top {
            Some(e) => format!(
                "last week's spend {} by {} against the week before, mostly {} ({})",
                if change > 0 { "rose" } else { "fell" },
                usd(change.abs()),
                e.label,
                usd(e.nanos)
            ),
            None => format!("last week's spend changed by {}", usd(change)),
        });
    }
    let mut text = parts.join("; ");
    text.push('.');
    text
}
