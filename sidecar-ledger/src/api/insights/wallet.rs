//! `/v1/insights/wallet`: a team's hard limit at a glance: balance, what is leased to
//! Envoys and held for Envoys that stopped before reporting, the allocation history,
//! and the requests the limit refused.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Extension, State};
use axum::Json;
use serde::Serialize;

use crate::api::blocking::blocking;
use crate::api::wallets::WalletJson;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::insights::narrative::usd;
use crate::insights::Bucket;
use crate::query;
use crate::state::AppState;
use crate::store::types::RefusalQuery;
use crate::store::wallets::{Hold, WalletEntry};

use super::args::{Args, Params};
use super::now::now;
use super::scope::{RangeJson, ScopeJson};
use super::teams::team_rows;

/// The refusal reason of the hard limit (`tollgate_core::refusal::LocalError`).
pub(super) const WALLET_EXHAUSTED: &str = "wallet_exhausted";

#[derive(Serialize)]
pub struct EntryJson {
    #[serde(flatten)]
    pub entry: WalletEntry,
    /// The wallet's allocation right after this entry.
    pub allocated_after_nanos: i64,
}

#[derive(Serialize)]
pub struct ReasonCount {
    pub reason: String,
    pub count: i64,
}

#[derive(Serialize)]
pub struct RefusalsJson {
    /// Refused by the wallet's hard limit, per day of the range.
    pub wallet_exhausted: Vec<i64>,
    /// Refused for any other reason (paused, ledger unreachable, ...), per day.
    pub other: Vec<i64>,
    pub wallet_exhausted_total: i64,
    pub by_reason: Vec<ReasonCount>,
    /// The last day with a hard-limit refusal.
    pub last_wallet_exhausted_day: Option<String>,
}

#[derive(Serialize)]
pub struct WalletInsight {
    pub scope: ScopeJson,
    pub range: RangeJson,
    pub time_zone: String,
    pub days: Vec<String>,
    /// `None`: the team has no wallet (no spend and no allocation yet).
    pub wallet: Option<WalletJson>,
    /// Days the available credit lasts at the recent run rate.
    pub runway_days: Option<i64>,
    /// Allocation changes, newest first (at most 100).
    pub entries: Vec<EntryJson>,
    /// Ended leases whose spend is not settled yet, oldest first.
    pub holds: Vec<Hold>,
    pub refusals: RefusalsJson,
    pub summary: String,
}

fn summary(
    team: &str,
    w: Option<&WalletJson>,
    runway: Option<i64>,
    refusals: &RefusalsJson,
    days: i64,
) -> String {
    let Some(w) = w else {
        return format!("{team} has no wallet yet: nothing allocated and nothing spent");
    };
    let mut s = format!(
        "{team}'s wallet has {} available of {} allocated ({} spent",
        usd(w.available_nanos),
        usd(w.allocated_nanos),
        usd(w.spent_nanos)
    );
    if w.leased_outstanding_nanos > 0 {
        s.push_str(&format!(
            ", {} leased to running Envoys",
            usd(w.leased_outstanding_nanos)
        ));
    }
    if w.unsettled_nanos > 0 {
        s.push_str(&format!(
            ", {} held for Envoys that stopped before reporting",
            usd(w.unsettled_nanos)
        ));
    }
    s.push(')');
    match runway {
        Some(d) => s.push_str(&format!("; at the recent run rate it lasts about {d} days")),
        None if w.available_nanos <= 0 && w.allocated_nanos > 0 => {
            s.push_str("; it is empty: requests are refused until it is topped up")
        }
        None => {}
    }
    match refusals.wallet_exhausted_total {
        0 => s.push_str(&format!(
            "; the hard limit refused no request in the {days} days"
        )),
        n => s.push_str(&format!(
            "; the hard limit refused {n} request{} in the {days} days (last on {})",
            if n == 1 { "" } else { "s" },
            refusals.last_wallet_exhausted_day.as_deref().unwrap_or("?")
        )),
    }
    s
}

/// `GET /v1/insights/wallet?team=T`: the team's wallet, its history and refusals.
pub async fn get_wallet(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    params: Params,
) -> Result<Json<WalletInsight>, ApiError> {
    let args = Args::parse(params, &["from", "to", "team"])?;
    let clock = now(&state).await?;
    let range = args.range(&clock)?;
    let team = who
        .scope(args.get("team"))?
        .ok_or_else(|| ApiError::bad_request("'team' is required: wallets are per team"))?;
    let store = state.store.clone();
    let s = state.clone();
    let t = team.clone();
    let c = clock.clone();
    let (row, wallet_entries, holds, refusal_rows) = blocking(move || {
        let row = team_rows(store.as_ref(), &s, &who, range, Some(&t), &c)?
            .into_iter()
            .next();
        let entries = store.wallet_entries(&t, 100)?;
        let holds = store.holds(&t, c.instant)?;
        let refusals = store.refusals(
            &RefusalQuery {
                from_ms: c.calendar.day_start(range.from_ms),
                to_ms: c.calendar.day_start(range.to_ms),
                team: Some(t.clone()),
            },
            &c.calendar,
        )?;
        Ok((row, entries, holds, refusals))
    })
    .await?;

    let day_starts = Bucket::Day.starts(range.from_ms, range.to_ms);
    let index: HashMap<i64, usize> = day_starts
        .iter()
        .enumerate()
        .map(|(i, d)| (*d, i))
        .collect();
    let mut exhausted = vec![0; day_starts.len()];
    let mut other = vec![0; day_starts.len()];
    let mut by_reason: BTreeMap<String, i64> = BTreeMap::new();
    let mut last = None;
    for r in &refusal_rows {
        *by_reason.entry(r.reason.clone()).or_default() += r.count;
        let Some(i) = index.get(&r.day_ms) else {
            continue;
        };
        if r.reason == WALLET_EXHAUSTED {
            exhausted[*i] += r.count;
            last = last.max(Some(r.day_ms));
        } else {
            other[*i] += r.count;
        }
    }
    let mut by_reason: Vec<ReasonCount> = by_reason
        .into_iter()
        .map(|(reason, count)| ReasonCount { reason, count })
        .collect();
    by_reason.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
    let refusals = RefusalsJson {
        wallet_exhausted_total: exhausted.iter().sum(),
        wallet_exhausted: exhausted,
        other,
        by_reason,
        last_wallet_exhausted_day: last.map(query::format_day),
    };

    let (wallet, runway) = match row {
        Some(r) => (r.wallet, r.wallet_runway_days),
        None => (None, None),
    };
    // Allocation after each entry: today's allocation less the newer entries.
    let mut after = wallet.as_ref().map_or(0, |w| w.allocated_nanos);
    let entries = wallet_entries
        .into_iter()
        .map(|entry| {
            let e = EntryJson {
                allocated_after_nanos: after,
                entry,
            };
            after -= e.entry.amount_nanos;
            e
        })
        .collect();
    let summary = summary(&team, wallet.as_ref(), runway, &refusals, range.days());
    Ok(Json(WalletInsight {
        scope: ScopeJson {
            label: team.clone(),
            team: Some(team),
        },
        range: range.into(),
        time_zone: clock.calendar.name().to_string(),
        days: day_starts.iter().map(|d| query::format_day(*d)).collect(),
        wallet,
        runway_days: runway,
        entries,
        holds,
        refusals,
        summary,
    }))
}
