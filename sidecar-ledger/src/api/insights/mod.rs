//! The dashboard's data: `/v1/insights/*` and `/v1/session`.
//!
//! Every insights endpoint needs a token (see [`crate::auth`]); a team token is
//! confined to its team (`team=` of another team is 403). All are answered from the
//! daily rollups (`bucket=hour` from the hourly ones), so they stay fast as events
//! accumulate. Money is integer nanodollars; sentences state what a leader acts on.

mod budget;
mod cache;
mod drivers;
mod mix;
mod premium;
mod series;
mod session;
mod teams;
#[cfg(test)]
mod tests;
mod top;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use serde::Serialize;

use super::{blocking, now_ms, ApiError, AppState};
use crate::auth::Principal;
use crate::insights::{parse_range, Bucket, DayRange};
use crate::query;
use crate::store::insights::{InsightDim, InsightQuery};
use crate::store::wallets::WalletState;
use crate::store::{KeyValue, Store, StoreError, Sums};

type Params = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// Query parameters by name, each at most once, only the known ones.
struct Args(HashMap<String, String>);

impl Args {
    fn parse(params: Params, known: &[&str]) -> Result<Args, ApiError> {
        let mut out = HashMap::new();
        for (k, v) in params?.0 {
            if !known.contains(&k.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter '{k}'; expected any of: {}",
                    known.join(", ")
                )));
            }
            if out.insert(k.clone(), v).is_some() {
                return Err(ApiError::bad_request(format!(
                    "'{k}' is given more than once"
                )));
            }
        }
        Ok(Args(out))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn range(&self, now: i64) -> Result<DayRange, ApiError> {
        Ok(parse_range(
            self.get("from"),
            self.get("to"),
            now,
            ("from", "to"),
        )?)
    }

    /// `name`'s value among `options` (the first when absent), with its name.
    fn choice<T: Copy>(
        &self,
        name: &str,
        options: &[(&'static str, T)],
    ) -> Result<(&'static str, T), ApiError> {
        let Some(given) = self.get(name) else {
            return Ok(options[0]);
        };
        options
            .iter()
            .find(|(n, _)| *n == given)
            .copied()
            .ok_or_else(|| {
                let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                let (last, rest) = names.split_last().expect("options are not empty");
                ApiError::bad_request(format!(
                    "'{name}' must be {} or {last}, found '{given}'",
                    rest.join(", ")
                ))
            })
    }

    fn bucket(&self, default: Bucket, allowed: &[Bucket]) -> Result<Bucket, ApiError> {
        match self.get("bucket") {
            None => Ok(default),
            Some(b) => Bucket::parse(b)
                .filter(|b| allowed.contains(b))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "'bucket' must be one of: {}",
                        allowed
                            .iter()
                            .map(|b| b.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }),
        }
    }
}

fn text(k: &KeyValue) -> Option<String> {
    match k {
        KeyValue::Text(t) => t.clone(),
        KeyValue::TimeMs(ms) => Some(ms.to_string()),
    }
}

fn add(a: &mut Sums, b: &Sums) -> Result<(), ApiError> {
    *a = a
        .checked_add(b)
        .ok_or_else(|| ApiError::internal("sum overflows 64 bits"))?;
    Ok(())
}

fn tokens_total(s: &Sums) -> i64 {
    s.input_tokens + s.cached_input_tokens + s.cache_write_tokens + s.output_tokens
}

/// The buckets of the charts drawn from the daily rollups.
const DAILY_BUCKETS: [Bucket; 3] = [Bucket::Day, Bucket::Week, Bucket::Month];

/// Rows of the daily rollups grouped by bucket and `dims`: `(bucket start, key, sums)`.
type Grouped = Vec<(i64, Vec<Option<String>>, Sums)>;

/// [`grouped`] for one team (or every team) off the async runtime.
async fn grouped_for(
    state: &AppState,
    range: DayRange,
    team: Option<String>,
    bucket: Option<Bucket>,
    dims: Vec<InsightDim>,
) -> Result<Grouped, ApiError> {
    let store = state.store.clone();
    blocking(move || grouped(store.as_ref(), range, team.as_deref(), None, bucket, &dims)).await
}

fn grouped(
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

/// The teams a principal may see: every wallet's (each team with spend has one) and
/// every budget's.
fn visible_teams(
    store: &dyn Store,
    budgets: &[tollgate_core::config::BudgetDef],
    who: &Principal,
) -> Result<BTreeSet<String>, StoreError> {
    let wallets = store.wallets(now_ms())?;
    Ok(visible_among(&wallets, budgets, who))
}

/// [`visible_teams`] from wallets already read.
fn visible_among(
    wallets: &[WalletState],
    budgets: &[tollgate_core::config::BudgetDef],
    who: &Principal,
) -> BTreeSet<String> {
    // Every team with spend has a wallet (ingest creates it), so no rollup is read.
    wallets
        .iter()
        .map(|w| &w.team)
        .chain(budgets.iter().map(|b| &b.team_id))
        .filter(|t| who.can_see(t))
        .cloned()
        .collect()
}

#[derive(Serialize)]
pub struct RangeJson {
    pub from: String,
    pub to: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub days: i64,
}

impl From<DayRange> for RangeJson {
    fn from(r: DayRange) -> Self {
        RangeJson {
            from: query::format_day(r.from_ms),
            to: query::format_day(r.to_ms),
            from_ms: r.from_ms,
            to_ms: r.to_ms,
            days: r.days(),
        }
    }
}

/// The scope of an answer: one team, or every team the token sees.
#[derive(Serialize)]
pub struct ScopeJson {
    /// `None`: the organisation (every visible team).
    pub team: Option<String>,
    pub label: String,
}

fn scope_json(team: &Option<String>) -> ScopeJson {
    ScopeJson {
        team: team.clone(),
        label: team
            .clone()
            .unwrap_or_else(|| "The organisation".to_string()),
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

pub use budget::get_budget;
pub use cache::get_cache;
pub use drivers::get_drivers;
pub use mix::get_mix;
pub use premium::get_premium;
pub use series::get_series;
pub use session::{delete_session, get_session, post_session};
pub use teams::get_teams;
pub use top::get_top;
