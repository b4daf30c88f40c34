//! `/v1/insights/drivers`: what drove the spend change between two periods (volume,
//! mix, price, cache rate, tokens per request), exactly decomposed.

use std::collections::BTreeMap;

use axum::extract::{Extension, State};
use axum::Json;
use serde::Serialize;

use crate::api::blocking::blocking;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::insights::drivers::{self, CellKey, CellSums, Effect};
use crate::insights::narrative::{self, usd};
use crate::insights::parse_range;
use crate::query::{self, DAY_MS};
use crate::state::AppState;
use crate::store::insights::InsightDim;

use super::args::{Args, Params};
use super::grouping::{grouped, tokens_total, Grouped};
use super::now::now;
use super::scope::{scope_json, RangeJson, ScopeJson};

#[derive(Serialize)]
pub struct PeriodJson {
    #[serde(flatten)]
    pub range: RangeJson,
    pub cost_nanos: i64,
    pub requests: i64,
}

#[derive(Serialize)]
pub struct EffectJson {
    pub effect: &'static str,
    pub label: &'static str,
    pub nanos: i64,
    pub usd: String,
}

#[derive(Serialize)]
pub struct DriversResponse {
    pub scope: ScopeJson,
    pub method: &'static str,
    pub a: PeriodJson,
    pub b: PeriodJson,
    /// `b - a`, exactly the sum of `effects`.
    pub difference_nanos: i64,
    pub effects: Vec<EffectJson>,
    /// The integer rounding remainder, already included in `remainder_effect`.
    pub remainder_nanos: i64,
    pub remainder_effect: &'static str,
    pub cells: Vec<drivers::CellDrivers>,
    pub summary: String,
}

pub(super) fn cells_of(rows: &Grouped) -> (BTreeMap<CellKey, CellSums>, i64) {
    let mut out: BTreeMap<CellKey, CellSums> = BTreeMap::new();
    let mut requests = 0;
    for (_, key, s) in rows {
        let lane = key.first().cloned().flatten().unwrap_or_default();
        let model = key.get(1).cloned().flatten().unwrap_or_default();
        let hit = key.get(2).cloned().flatten().as_deref() == Some("hit");
        let c = out.entry((lane, model)).or_default();
        c.requests += s.requests;
        c.cost_nanos += s.cost_nanos;
        if !hit {
            c.billed_requests += s.requests;
            c.tokens += tokens_total(s);
        }
        requests += s.requests;
    }
    (out, requests)
}

fn drivers_sentence(
    scope: &str,
    a: &PeriodJson,
    b: &PeriodJson,
    d: &drivers::Decomposition,
) -> String {
    let diff = d.difference_nanos;
    let verb = if diff > 0 {
        "rose"
    } else if diff < 0 {
        "fell"
    } else {
        "held"
    };
    let change = if a.cost_nanos > 0 {
        format!(
            " ({}, {:+.0}%)",
            narrative::signed_usd(diff),
            diff as f64 * 100.0 / a.cost_nanos as f64
        )
    } else {
        format!(" ({})", narrative::signed_usd(diff))
    };
    let head = format!(
        "{scope}'s spend {verb} from {} ({} to {}) to {} ({} to {}){change}",
        usd(a.cost_nanos),
        a.range.from,
        query::format_day(a.range.to_ms - DAY_MS),
        usd(b.cost_nanos),
        b.range.from,
        query::format_day(b.range.to_ms - DAY_MS),
    );
    let mut big: Vec<&(Effect, i64)> = d.effects.iter().filter(|(_, v)| *v != 0).collect();
    big.sort_by_key(|(_, v)| std::cmp::Reverse(v.abs()));
    let scale = a.cost_nanos.max(b.cost_nanos).max(1);
    let named: Vec<String> = big
        .iter()
        .take(3)
        .filter(|(_, v)| v.abs() * 100 >= scale) // at least 1% of the spend
        .map(|(e, v)| format!("{} {}", e.label(), narrative::signed_usd(*v)))
        .collect();
    if named.is_empty() {
        format!("{head}; no single driver stands out")
    } else {
        format!("{head}; drivers: {}", named.join(", "))
    }
}

/// `GET /v1/insights/drivers`: what drove the spend change from period A to B.
/// Defaults: B = the 7 full days before today, A = the 7 days before B.
pub async fn get_drivers(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    params: Params,
) -> Result<Json<DriversResponse>, ApiError> {
    let args = Args::parse(params, &["team", "a_from", "a_to", "b_from", "b_to"])?;
    let clock = now(&state).await?;
    let today = clock.today();
    let b_to_default = query::format_day(today);
    let b = parse_range(
        Some(
            args.get("b_from")
                .unwrap_or(&query::format_day(today - 7 * DAY_MS)),
        ),
        Some(args.get("b_to").unwrap_or(&b_to_default)),
        clock.local,
        ("b_from", "b_to"),
        &clock.calendar,
    )?;
    let a_to_default = query::format_day(b.from_ms);
    let a = parse_range(
        Some(
            args.get("a_from")
                .unwrap_or(&query::format_day(b.from_ms - (b.to_ms - b.from_ms))),
        ),
        Some(args.get("a_to").unwrap_or(&a_to_default)),
        clock.local,
        ("a_from", "a_to"),
        &clock.calendar,
    )?;
    let team = who.scope(args.get("team"))?;
    let store = state.store.clone();
    let t = team.clone();
    let dims = [InsightDim::Lane, InsightDim::Model, InsightDim::Cache];
    let (ra, rb) = blocking(move || {
        Ok((
            grouped(store.as_ref(), a, t.as_deref(), None, None, &dims)?,
            grouped(store.as_ref(), b, t.as_deref(), None, None, &dims)?,
        ))
    })
    .await?;
    let (ca, na) = cells_of(&ra);
    let (cb, nb) = cells_of(&rb);
    let d = drivers::decompose(&ca, &cb);
    let pa = PeriodJson {
        range: a.into(),
        cost_nanos: d.a_cost_nanos,
        requests: na,
    };
    let pb = PeriodJson {
        range: b.into(),
        cost_nanos: d.b_cost_nanos,
        requests: nb,
    };
    let scope = scope_json(&team);
    let summary = drivers_sentence(&scope.label, &pa, &pb, &d);
    Ok(Json(DriversResponse {
        scope,
        method: "shapley",
        effects: d
            .effects
            .iter()
            .map(|(e, v)| EffectJson {
                effect: e.as_str(),
                label: e.label(),
                nanos: *v,
                usd: tollgate_core::money::format_usd(*v),
            })
            .collect(),
        a: pa,
        b: pb,
        difference_nanos: d.difference_nanos,
        remainder_nanos: d.remainder_nanos,
        remainder_effect: drivers::REMAINDER_EFFECT.as_str(),
        cells: d.cells,
        summary,
    }))
}
