//! `/v1/insights/mix`: spend shares per provider, lane or model per bucket.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Extension, State};
use axum::Json;
use serde::Serialize;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::insights::narrative::{self, pct, share};
use crate::insights::Bucket;
use crate::state::AppState;
use crate::store::insights::InsightDim;

use super::args::{Args, Params};
use super::grouping::{grouped_for, Grouped, DAILY_BUCKETS};
use super::now::now;
use super::scope::{scope_json, RangeJson, ScopeJson};

#[derive(Serialize)]
pub struct ShareSeries {
    pub key: String,
    /// Per bucket.
    pub cost_nanos: Vec<i64>,
    pub requests: Vec<i64>,
    /// Share of the bucket's spend, 0..1.
    pub cost_share: Vec<f64>,
    pub total_cost_nanos: i64,
    pub total_requests: i64,
}

#[derive(Serialize)]
pub struct MixResponse {
    pub scope: ScopeJson,
    pub range: RangeJson,
    pub bucket: &'static str,
    pub by: &'static str,
    pub buckets: Vec<String>,
    pub series: Vec<ShareSeries>,
    pub summary: String,
}

fn share_series(rows: &Grouped, starts: &[i64]) -> (Vec<ShareSeries>, Vec<i64>) {
    let index: HashMap<i64, usize> = starts.iter().enumerate().map(|(i, d)| (*d, i)).collect();
    let mut totals = vec![0i64; starts.len()];
    let mut map: BTreeMap<String, (Vec<i64>, Vec<i64>)> = BTreeMap::new();
    for (t, key, s) in rows {
        let Some(&i) = index.get(t) else { continue };
        let name = key
            .first()
            .cloned()
            .flatten()
            .unwrap_or_else(|| "(none)".into());
        let e = map
            .entry(name)
            .or_insert_with(|| (vec![0; starts.len()], vec![0; starts.len()]));
        e.0[i] += s.cost_nanos;
        e.1[i] += s.requests;
        totals[i] += s.cost_nanos;
    }
    let mut series: Vec<ShareSeries> = map
        .into_iter()
        .map(|(key, (cost, req))| ShareSeries {
            cost_share: cost
                .iter()
                .zip(&totals)
                .map(|(c, t)| (share(*c, *t) * 10_000.0).round() / 10_000.0)
                .collect(),
            total_cost_nanos: cost.iter().sum(),
            total_requests: req.iter().sum(),
            key,
            cost_nanos: cost,
            requests: req,
        })
        .collect();
    series.sort_by(|a, b| {
        b.total_cost_nanos
            .cmp(&a.total_cost_nanos)
            .then(a.key.cmp(&b.key))
    });
    (series, totals)
}

/// `GET /v1/insights/mix?by=provider|lane|model`: spend per key per bucket, as shares.
pub async fn get_mix(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    params: Params,
) -> Result<Json<MixResponse>, ApiError> {
    let args = Args::parse(params, &["from", "to", "team", "bucket", "by"])?;
    let range = args.range(&now(&state).await?)?;
    let bucket = args.bucket(Bucket::Day, &DAILY_BUCKETS)?;
    let team = who.scope(args.get("team"))?;
    let (by, dim) = args.choice(
        "by",
        &[
            ("lane", InsightDim::Lane),
            ("provider", InsightDim::Provider),
            ("model", InsightDim::Model),
        ],
    )?;
    let rows = grouped_for(&state, range, team.clone(), Some(bucket), vec![dim]).await?;
    let starts = bucket.starts(range.from_ms, range.to_ms);
    let (series, totals) = share_series(&rows, &starts);
    let all: i64 = totals.iter().sum();
    // The key whose share of spend shifted most, in words.
    let mut best: Option<(f64, String)> = None;
    for s in &series {
        let points: Vec<(i64, i64)> = s
            .cost_nanos
            .iter()
            .zip(&totals)
            .map(|(c, t)| (*c, *t))
            .collect();
        if let Some(shift) = narrative::level_shift(&points, 2) {
            if let Some(words) = narrative::shift_words(&shift, &starts) {
                let size = (shift.after - shift.before).abs();
                if best.as_ref().is_none_or(|(b, _)| size > *b) {
                    best = Some((size, format!("{}'s share of spend {words}", s.key)));
                }
            }
        }
    }
    let lead = series.first().map(|s| {
        format!(
            "{} carried {} of spend over the range",
            s.key,
            pct(share(s.total_cost_nanos, all))
        )
    });
    let summary = match (best, lead) {
        (Some((_, shift)), Some(lead)) => format!("{shift}; {lead}"),
        (None, Some(lead)) => format!("The {by} mix held steady; {lead}"),
        _ => "No spend in this range".to_string(),
    };
    Ok(Json(MixResponse {
        scope: scope_json(&team),
        range: range.into(),
        bucket: bucket.name(),
        by,
        buckets: starts.iter().map(|t| bucket.label(*t)).collect(),
        series,
        summary,
    }))
}
