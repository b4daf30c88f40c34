//! Daily-rollup rows grouped by bucket and dimensions, the sums the charts are drawn
//! from, and the small arithmetic on them.

use std::collections::BTreeMap;

use crate::api::blocking::blocking;
use crate::error::ApiError;
use crate::insights::{Bucket, DayRange};
use crate::state::AppState;
use crate::store::insights::{InsightDim, InsightQuery};
use crate::store::{KeyValue, Store, StoreError, Sums};

pub(super) fn text(k: &KeyValue) -> Option<String> {
    match k {
        KeyValue::Text(t) => t.clone(),
        KeyValue::TimeMs(ms) => Some(ms.to_string()),
    }
}

pub(super) fn add(a: &mut Sums, b: &Sums) -> Result<(), ApiError> {
    *a = a
        .checked_add(b)
        .ok_or_else(|| ApiError::internal("sum overflows 64 bits"))?;
    Ok(())
}

pub(super) fn tokens_total(s: &Sums) -> i64 {
    s.input_tokens + s.cached_input_tokens + s.cache_write_tokens + s.output_tokens
}

/// The buckets of the charts drawn from the daily rollups.
pub(super) const DAILY_BUCKETS: [Bucket; 3] = [Bucket::Day, Bucket::Week, Bucket::Month];

/// Rows of the daily rollups grouped by bucket and `dims`: `(bucket start, key, sums)`.
pub(super) type Grouped = Vec<(i64, Vec<Option<String>>, Sums)>;

/// [`grouped`] for one team (or every team) off the async runtime.
pub(super) async fn grouped_for(
    state: &AppState,
    range: DayRange,
    team: Option<String>,
    bucket: Option<Bucket>,
    dims: Vec<InsightDim>,
) -> Result<Grouped, ApiError> {
    let store = state.store.clone();
    blocking(move || grouped(store.as_ref(), range, team.as_deref(), None, bucket, &dims)).await
}

pub(super) fn grouped(
    store: &dyn Store,
    range: DayRange,
    team: Option<&str>,
    workflow: Option<&str>,
    bucket: Option<Bucket>,
    dims: &[InsightDim],
) -> Result<Grouped, StoreError> {
    let mut group_by = Vec::with_capacity(dims.len() + 1);
    if bucket.is_some() {
        group_by.push(InsightDim::Day);
    }
    group_by.extend_from_slice(dims);
    let rows = store.insight_rows(&InsightQuery {
        from_ms: range.from_ms,
        to_ms: range.to_ms,
        team: team.map(str::to_string),
        workflow: workflow.map(str::to_string),
        drift_only: false,
        group_by,
    })?;
    let mut merged: BTreeMap<(i64, Vec<Option<String>>), Sums> = BTreeMap::new();
    for r in rows {
        let (t, key) = match (bucket, r.key.split_first()) {
            (Some(b), Some((KeyValue::TimeMs(day), rest))) => {
                (b.start(*day), rest.iter().map(text).collect())
            }
            _ => (range.from_ms, r.key.iter().map(text).collect()),
        };
        let slot = merged.entry((t, key)).or_default();
        *slot = slot
            .checked_add(&r.sums)
            .ok_or_else(|| StoreError::Corrupt("sum overflows 64 bits".into()))?;
    }
    Ok(merged.into_iter().map(|((t, k), s)| (t, k, s)).collect())
}

pub(super) fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}
