//! Near-repeat cache misses of a team (or every team visible) in a range: what
//! normalised matching would have answered, and whether it is already on.

use serde::Serialize;
use tollgate_core::config::MatchStrategy;

use crate::state::AppState;
use crate::store::{Store, StoreError};

/// A miss repeats an earlier request when it came within the cache's lifetime (the
/// config's `cache.ttl_seconds`; its default without a config).
fn window_ms(state: &AppState) -> (i64, bool) {
    let config = state.config.current();
    let cache = config
        .as_ref()
        .as_ref()
        .map(|c| c.cache.clone())
        .unwrap_or_default();
    (
        i64::from(cache.ttl_seconds) * 1000,
        cache.match_strategy == MatchStrategy::Normalized,
    )
}

#[derive(Debug, Clone, Serialize)]
pub struct NearRepeatJson {
    pub team: String,
    /// `""`: requests without a workflow.
    pub workflow: String,
    pub misses: i64,
    /// Misses that repeated an earlier request under normalisation.
    pub repeats: i64,
    pub repeat_cost_nanos: i64,
    /// Normalised matching already answers this workflow (config or runtime policy).
    pub normalized_on: bool,
}

pub fn near_repeats(
    store: &dyn Store,
    state: &AppState,
    team: Option<&str>,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<NearRepeatJson>, StoreError> {
    let (window, everywhere) = window_ms(state);
    let policy = store.policy_set()?;
    Ok(store
        .repeat_misses(from_ms, to_ms, window, team)?
        .into_iter()
        .map(|r| {
            let by_policy = policy.team(&r.team).is_some_and(|p| {
                p.normalized_cache((!r.workflow.is_empty()).then_some(r.workflow.as_str()))
            });
            NearRepeatJson {
                normalized_on: everywhere || by_policy,
                team: r.team,
                workflow: r.workflow,
                misses: r.misses,
                repeats: r.repeats,
                repeat_cost_nanos: r.repeat_cost_nanos,
            }
        })
        .collect())
}
