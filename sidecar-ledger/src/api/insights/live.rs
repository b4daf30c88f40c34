//! `/v1/insights/live`: today so far (in the reporting time zone), for the dashboard
//! to poll: spend, requests, refusals, unpriced requests, and the instant the numbers
//! are as of.

use axum::extract::{Extension, State};
use axum::Json;
use serde::Serialize;

use crate::api::blocking::blocking;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::insights::narrative::usd;
use crate::insights::DayRange;
use crate::query::{self, DAY_MS};
use crate::state::AppState;
use crate::store::insights::InsightDim;
use crate::store::types::RefusalQuery;

use super::args::{Args, Params};
use super::grouping::grouped;
use super::now::now;
use super::scope::{scope_json, visible_teams, ScopeJson};
use super::wallet::WALLET_EXHAUSTED;

#[derive(Serialize)]
pub struct LiveResponse {
    pub scope: ScopeJson,
    /// Today's date in the reporting time zone.
    pub today: String,
    pub time_zone: String,
    /// The numbers include every event stored before this instant (Unix ms).
    pub as_of_ms: i64,
    /// The same instant as local time with its offset.
    pub as_of: String,
    pub spent_nanos: i64,
    pub requests: i64,
    pub cost_avoided_nanos: i64,
    pub refused: i64,
    /// Of `refused`, by the wallets' hard limits.
    pub refused_wallet: i64,
    /// Requests answered but recorded without a price (passed-through endpoints,
    /// models without a price): counted in `requests` at cost 0, shown here so their
    /// spend is not mistaken for none.
    pub unpriced: i64,
    pub summary: String,
}

/// `GET /v1/insights/live`: today so far, for a team or every visible team.
pub async fn get_live(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    params: Params,
) -> Result<Json<LiveResponse>, ApiError> {
    let args = Args::parse(params, &["team"])?;
    let team = who.scope(args.get("team"))?;
    let clock = now(&state).await?;
    let today = clock.today();
    let store = state.store.clone();
    let s = state.clone();
    let t = team.clone();
    let c = clock.clone();
    let (sums, refusals, unpriced) = blocking(move || {
        let visible = match &t {
            Some(t) => vec![t.clone()],
            None => visible_teams(store.as_ref(), &s.budgets.current(), &who)?
                .into_iter()
                .collect(),
        };
        let day = DayRange {
            from_ms: today,
            to_ms: today + DAY_MS,
        };
        let mut total = crate::store::Sums::default();
        for (_, key, sums) in grouped(
            store.as_ref(),
            day,
            t.as_deref(),
            None,
            None,
            &[InsightDim::Team],
        )? {
            if key
                .first()
                .cloned()
                .flatten()
                .is_some_and(|k| visible.contains(&k))
            {
                total = total.checked_add(&sums).unwrap_or(total);
            }
        }
        let refusals: Vec<(String, i64)> = store
            .refusals(
                &RefusalQuery {
                    from_ms: c.calendar.day_start(today),
                    to_ms: c.instant + 1,
                    team: t.clone(),
                },
                &c.calendar,
            )?
            .into_iter()
            .filter(|r| visible.contains(&r.team))
            .map(|r| (r.reason, r.count))
            .collect();
        let range = RefusalQuery {
            from_ms: c.calendar.day_start(today),
            to_ms: c.instant + 1,
            team: t.clone(),
        };
        let unpriced: i64 = store
            .unpriced_requests(&range)?
            .into_iter()
            .filter(|(team, _)| visible.contains(team))
            .map(|(_, n)| n)
            .sum();
        Ok((total, refusals, unpriced))
    })
    .await?;
    let refused: i64 = refusals.iter().map(|(_, n)| n).sum();
    let refused_wallet: i64 = refusals
        .iter()
        .filter(|(r, _)| r == WALLET_EXHAUSTED)
        .map(|(_, n)| n)
        .sum();
    let scope = scope_json(&team);
    let as_of = clock.calendar.format_local(clock.instant);
    let summary = format!(
        "{} today so far ({}): {} spent, {} requests, {} refused{}{}",
        scope.label,
        query::format_day(today),
        usd(sums.cost_nanos),
        sums.requests,
        refused,
        if refused_wallet > 0 {
            format!(" ({refused_wallet} by a wallet limit)")
        } else {
            String::new()
        },
        if unpriced > 0 {
            format!(", {unpriced} unpriced (answered, cost not known)")
        } else {
            String::new()
        }
    );
    Ok(Json(LiveResponse {
        scope,
        today: query::format_day(today),
        time_zone: clock.calendar.name().to_string(),
        as_of_ms: clock.instant,
        as_of,
        spent_nanos: sums.cost_nanos,
        requests: sums.requests,
        cost_avoided_nanos: sums.cost_avoided_nanos,
        refused,
        refused_wallet,
        unpriced,
        summary,
    }))
}
