//! `/v1/insights/cache`: hit rate and cost avoided per bucket, and a shift in the hit
//! rate named in words.

use std::collections::HashMap;

use axum::extract::{Extension, State};
use axum::Json;
use serde::Serialize;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::insights::narrative::{self, pct, share, usd};
use crate::insights::Bucket;
use crate::state::AppState;
use crate::store::insights::InsightDim;

use super::args::{Args, Params};
use super::grouping::{grouped_for, round4, DAILY_BUCKETS};
use super::near_repeats::{near_repeats, NearRepeatJson};
use super::now::now;
use super::scope::{scope_json, RangeJson, ScopeJson};
use crate::api::blocking::blocking;

#[derive(Serialize)]
pub struct CacheResponse {
    pub scope: ScopeJson,
    pub range: RangeJson,
    pub bucket: &'static str,
    pub buckets: Vec<String>,
    pub hits: Vec<i64>,
    /// Requests the cache could have answered (hits and misses; off/bypass excluded).
    pub lookups: Vec<i64>,
    /// `hits / lookups` per bucket (null without lookups).
    pub hit_rate: Vec<Option<f64>>,
    pub cost_avoided_nanos: Vec<i64>,
    pub total_hit_rate: Option<f64>,
    pub total_cost_avoided_nanos: i64,
    /// The level shift found, if any: rates before and after, and the first bucket at
    /// the new level.
    pub shift: Option<ShiftJson>,
    /// Misses that repeated an earlier request under normalisation, by team and
    /// workflow, largest cost first.
    pub near_repeats: Vec<NearRepeatJson>,
    pub summary: String,
}

#[derive(Serialize)]
pub struct ShiftJson {
    pub before: f64,
    pub after: f64,
    pub first_bucket: String,
}

/// `GET /v1/insights/cache`: hit rate and cost avoided per bucket, and any shift in
/// the hit rate in words.
pub async fn get_cache(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    params: Params,
) -> Result<Json<CacheResponse>, ApiError> {
    let args = Args::parse(params, &["from", "to", "team", "bucket"])?;
    let range = args.range(&now(&state).await?)?;
    let bucket = args.bucket(Bucket::Day, &DAILY_BUCKETS)?;
    let team = who.scope(args.get("team"))?;
    let rows = grouped_for(
        &state,
        range,
        team.clone(),
        Some(bucket),
        vec![InsightDim::Cache],
    )
    .await?;
    let (store, s, t) = (state.store.clone(), state.clone(), team.clone());
    let near = blocking(move || near_repeats(store.as_ref(), &s, t.as_deref(), range)).await?;
    let starts = bucket.starts(range.from_ms, range.to_ms);
    let index: HashMap<i64, usize> = starts.iter().enumerate().map(|(i, d)| (*d, i)).collect();
    let n = starts.len();
    let (mut hits, mut lookups, mut avoided) = (vec![0i64; n], vec![0i64; n], vec![0i64; n]);
    for (t, key, s) in &rows {
        let Some(&i) = index.get(t) else { continue };
        match key.first().cloned().flatten().as_deref() {
            Some("hit") => {
                hits[i] += s.requests;
                lookups[i] += s.requests;
            }
            Some("miss") => lookups[i] += s.requests,
            _ => {}
        }
        avoided[i] += s.cost_avoided_nanos;
    }
    let hit_rate: Vec<Option<f64>> = hits
        .iter()
        .zip(&lookups)
        .map(|(h, l)| (*l > 0).then(|| round4(share(*h, *l))))
        .collect();
    let (th, tl): (i64, i64) = (hits.iter().sum(), lookups.iter().sum());
    let total_avoided: i64 = avoided.iter().sum();
    let points: Vec<(i64, i64)> = hits.iter().zip(&lookups).map(|(h, l)| (*h, *l)).collect();
    let shift = narrative::level_shift(&points, 2);
    let words = shift
        .as_ref()
        .and_then(|s| narrative::shift_words(s, &starts));
    let saved = format!("the cache saved {} in this range", usd(total_avoided));
    let summary = match (&words, tl) {
        (_, 0) => "No cacheable requests in this range".to_string(),
        (Some(w), _) => format!("Cache hit rate {w}; {saved}"),
        (None, _) => format!(
            "Cache hit rate held steady at {}; {saved}",
            pct(share(th, tl))
        ),
    };
    let (repeats, repeat_cost): (i64, i64) = near
        .iter()
        .filter(|r| !r.normalized_on)
        .fold((0, 0), |(n, c), r| (n + r.repeats, c + r.repeat_cost_nanos));
    let summary = if repeats > 0 {
        format!(
            "{summary}; {repeats} misses ({}) repeated an earlier request under normalisation",
            usd(repeat_cost)
        )
    } else {
        summary
    };
    Ok(Json(CacheResponse {
        scope: scope_json(&team),
        range: range.into(),
        bucket: bucket.name(),
        buckets: starts.iter().map(|t| bucket.label(*t)).collect(),
        hits,
        lookups,
        hit_rate,
        cost_avoided_nanos: avoided,
        total_hit_rate: (tl > 0).then(|| round4(share(th, tl))),
        total_cost_avoided_nanos: total_avoided,
        shift: match (shift, words) {
            (Some(s), Some(_)) => Some(ShiftJson {
                before: round4(s.before),
                after: round4(s.after),
                first_bucket: bucket.label(starts[s.at]),
            }),
            _ => None,
        },
        near_repeats: near,
        summary,
    }))
}
