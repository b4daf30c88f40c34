//! Near-repeat cache misses of a team (or every team visible) in a range: what
//! normalised matching would have answered, beside every miss of the workflow, and
//! whether normalised matching is already on.

use std::collections::BTreeMap;

use serde::Serialize;
use tollgate_core::config::MatchStrategy;

use crate::insights::DayRange;
use crate::state::AppState;
use crate::store::insights::InsightDim;
use crate::store::{Store, StoreError};

use super::grouping::grouped;

/// Normalised matching is on for every team (the config's `cache.match_strategy`).
fn normalized_everywhere(state: &AppState) -> bool {
    let config = state.config.current();
    config
        .as_ref()
        .as_ref()
        .is_some_and(|c| c.cache.match_strategy == MatchStrategy::Normalized)
}

#[derive(Debug, Clone, Serialize)]
pub struct NearRepeatJson {
    pub team: String,
    /// `""`: requests without a workflow.
    pub workflow: String,
    /// Every cache miss of the workflow in the range.
    pub misses: i64,
    /// Misses that repeated a stored answer under normalisation.
    pub repeats: i64,
    pub repeat_cost_nanos: i64,
    /// Normalised matching already answers this workflow (config or runtime policy).
    pub normalized_on: bool,
}

pub fn near_repeats(
    store: &dyn Store,
    state: &AppState,
    team: Option<&str>,
    range: DayRange,
) -> Result<Vec<NearRepeatJson>, StoreError> {
    let everywhere = normalized_everywhere(state);
    let policy = store.policy_set()?;
    let repeats = store.repeat_misses(range.from_ms, range.to_ms, team)?;
    if repeats.is_empty() {
        return Ok(Vec::new());
    }
    // Every miss of each team and workflow, from the rollups.
    let mut misses: BTreeMap<(String, String), i64> = BTreeMap::new();
    let dims = [InsightDim::Team, InsightDim::Workflow, InsightDim::Cache];
    for (_, key, sums) in grouped(store, range, team, None, None, &dims)? {
        if key.get(2).cloned().flatten().as_deref() == Some("miss") {
            let part = |i: usize| key.get(i).cloned().flatten().unwrap_or_default();
            *misses.entry((part(0), part(1))).or_default() += sums.requests;
        }
    }
    Ok(repeats
        .into_iter()
        .map(|r| {
            let by_policy = policy.team(&r.team).is_some_and(|p| {
                p.normalized_cache((!r.workflow.is_empty()).then_some(r.workflow.as_str()))
            });
            NearRepeatJson {
                normalized_on: everywhere || by_policy,
                misses: misses
                    .get(&(r.team.clone(), r.workflow.clone()))
                    .copied()
                    .unwrap_or(r.repeats)
                    .max(r.repeats),
                team: r.team,
                workflow: r.workflow,
                repeats: r.repeats,
                repeat_cost_nanos: r.repeat_cost_nanos,
            }
        })
        .collect())
}
