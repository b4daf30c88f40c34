//! `/v1/insights/top`: the biggest spending users or workflows.

use axum::extract::{Extension, State};
use axum::Json;
use serde::Serialize;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::insights::narrative::{pct, share, usd};
use crate::state::AppState;
use crate::store::insights::InsightDim;

use super::args::{Args, Params};
use super::grouping::{grouped_for, round4};
use super::now::now;
use super::scope::{scope_json, RangeJson, ScopeJson};

#[derive(Serialize)]
pub struct TopItem {
    pub key: Option<String>,
    pub team: Option<String>,
    pub cost_nanos: i64,
    pub requests: i64,
    pub share: f64,
}

#[derive(Serialize)]
pub struct TopResponse {
    pub scope: ScopeJson,
    pub range: RangeJson,
    pub by: &'static str,
    pub items: Vec<TopItem>,
    /// Everything in scope, not only the items listed.
    pub total_cost_nanos: i64,
    pub summary: String,
}

/// `GET /v1/insights/top?by=user|workflow&limit=N`: the biggest spenders.
pub async fn get_top(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    params: Params,
) -> Result<Json<TopResponse>, ApiError> {
    let args = Args::parse(params, &["from", "to", "team", "by", "limit"])?;
    let range = args.range(&now(&state).await?)?;
    let team = who.scope(args.get("team"))?;
    let (by, dim) = args.choice(
        "by",
        &[
            ("user", InsightDim::User),
            ("workflow", InsightDim::Workflow),
        ],
    )?;
    let limit = match args.get("limit") {
        None => 10,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::bad_request("'limit' must be a whole number from 1 to 100"))?,
    };
    let rows = grouped_for(
        &state,
        range,
        team.clone(),
        None,
        vec![dim, InsightDim::Team],
    )
    .await?;
    let total: i64 = rows.iter().map(|(_, _, s)| s.cost_nanos).sum();
    let mut items: Vec<TopItem> = rows
        .into_iter()
        .map(|(_, k, s)| TopItem {
            key: k.first().cloned().flatten(),
            team: k.get(1).cloned().flatten(),
            cost_nanos: s.cost_nanos,
            requests: s.requests,
            share: round4(share(s.cost_nanos, total)),
        })
        .collect();
    items.sort_by(|a, b| b.cost_nanos.cmp(&a.cost_nanos).then(a.key.cmp(&b.key)));
    items.truncate(limit);
    let summary = match items.first() {
        Some(top) if total > 0 => {
            let top3: i64 = items.iter().take(3).map(|i| i.cost_nanos).sum();
            format!(
                "{} {} is the biggest spender: {} ({} of {}); the top {} account for {}",
                by,
                top.key.as_deref().unwrap_or("(none)"),
                usd(top.cost_nanos),
                pct(share(top.cost_nanos, total)),
                usd(total),
                items.len().min(3),
                pct(share(top3, total))
            )
        }
        _ => "No spend in this range".to_string(),
    };
    Ok(Json(TopResponse {
        scope: scope_json(&team),
        range: range.into(),
        by,
        items,
        total_cost_nanos: total,
        summary,
    }))
}
