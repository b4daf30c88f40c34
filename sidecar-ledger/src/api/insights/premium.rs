//! `/v1/insights/premium`: the premium lanes' share of spend and its drift (premium use by
//! workflows not approved for it), per bucket and per workflow.

use std::collections::HashMap;

use axum::extract::{Extension, State};
use axum::Json;
use serde::Serialize;

use crate::api::blocking::blocking;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::insights::narrative::{self, pct, share, usd};
use crate::insights::Bucket;
use crate::state::AppState;
use crate::store::insights::{InsightDim, InsightQuery};

use super::args::{Args, Params};
use super::grouping::{grouped, round4, text, DAILY_BUCKETS};
use super::now::now;
use super::scope::{scope_json, RangeJson, ScopeJson};

#[derive(Serialize)]
pub struct WorkflowSpend {
    pub workflow: Option<String>,
    pub cost_nanos: i64,
    pub requests: i64,
}

#[derive(Serialize)]
pub struct PremiumResponse {
    pub scope: ScopeJson,
    pub range: RangeJson,
    pub bucket: &'static str,
    pub buckets: Vec<String>,
    /// Spend per bucket on standard lanes, premium lanes by approved workflows, and
    /// premium lanes by workflows not approved for them (premium drift).
    pub standard_nanos: Vec<i64>,
    pub approved_nanos: Vec<i64>,
    pub unapproved_nanos: Vec<i64>,
    /// Premium (approved + unapproved) share of each bucket's spend, 0..1.
    pub premium_share: Vec<Option<f64>>,
    pub drift_share: Vec<Option<f64>>,
    pub total_premium_share: Option<f64>,
    pub total_drift_share: Option<f64>,
    /// Workflows using premium lanes without approval, dearest first.
    pub drifting_workflows: Vec<WorkflowSpend>,
    pub summary: String,
}

/// `GET /v1/insights/premium`: premium share and premium drift per bucket.
pub async fn get_premium(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    params: Params,
) -> Result<Json<PremiumResponse>, ApiError> {
    let args = Args::parse(params, &["from", "to", "team", "bucket"])?;
    let range = args.range(&now(&state).await?)?;
    let bucket = args.bucket(Bucket::Day, &DAILY_BUCKETS)?;
    let team = who.scope(args.get("team"))?;
    let store = state.store.clone();
    let t = team.clone();
    let (rows, workflows) = blocking(move || {
        let rows = grouped(
            store.as_ref(),
            range,
            t.as_deref(),
            None,
            Some(bucket),
            &[InsightDim::Premium],
        )?;
        // Only premium drift is listed by workflow: read just those rollup rows.
        let wf = store.insight_rows(&InsightQuery {
            from_ms: range.from_ms,
            to_ms: range.to_ms,
            team: t,
            drift_only: true,
            group_by: vec![InsightDim::Workflow],
            ..Default::default()
        })?;
        Ok((rows, wf))
    })
    .await?;
    let starts = bucket.starts(range.from_ms, range.to_ms);
    let index: HashMap<i64, usize> = starts.iter().enumerate().map(|(i, d)| (*d, i)).collect();
    let n = starts.len();
    let (mut std_, mut appr, mut unap) = (vec![0i64; n], vec![0i64; n], vec![0i64; n]);
    for (t, key, s) in &rows {
        let Some(&i) = index.get(t) else { continue };
        match key.first().cloned().flatten().as_deref() {
            Some("approved") => appr[i] += s.cost_nanos,
            Some("unapproved") => unap[i] += s.cost_nanos,
            _ => std_[i] += s.cost_nanos,
        }
    }
    let total_of = |i: usize| std_[i] + appr[i] + unap[i];
    let premium_share: Vec<Option<f64>> = (0..n)
        .map(|i| (total_of(i) > 0).then(|| round4(share(appr[i] + unap[i], total_of(i)))))
        .collect();
    let drift_share: Vec<Option<f64>> = (0..n)
        .map(|i| (total_of(i) > 0).then(|| round4(share(unap[i], total_of(i)))))
        .collect();
    let (ts, ta, tu): (i64, i64, i64) = (std_.iter().sum(), appr.iter().sum(), unap.iter().sum());
    let total = ts + ta + tu;
    let mut drifting: Vec<WorkflowSpend> = workflows
        .into_iter()
        .map(|r| WorkflowSpend {
            workflow: r.key.first().and_then(text),
            cost_nanos: r.sums.cost_nanos,
            requests: r.sums.requests,
        })
        .collect();
    drifting.sort_by_key(|w| std::cmp::Reverse(w.cost_nanos));
    let points: Vec<(i64, i64)> = (0..n).map(|i| (unap[i], total_of(i))).collect();
    let shift = narrative::level_shift(&points, 2)
        .and_then(|s| narrative::shift_words(&s, &starts))
        .map(|w| format!("; premium drift {w}"))
        .unwrap_or_default();
    let summary = if total == 0 {
        "No spend in this range".to_string()
    } else if ta + tu == 0 {
        "No premium lanes were used in this range".to_string()
    } else {
        let mut s = format!(
            "Premium lanes took {} of spend ({})",
            pct(share(ta + tu, total)),
            usd(ta + tu)
        );
        if tu > 0 {
            let who = drifting
                .first()
                .map(|w| {
                    format!(
                        ", mostly workflow '{}' ({})",
                        w.workflow.as_deref().unwrap_or("(none)"),
                        usd(w.cost_nanos)
                    )
                })
                .unwrap_or_default();
            s.push_str(&format!(
                "; {} of spend was premium use by workflows not approved for it{who}{shift}",
                pct(share(tu, total))
            ));
        } else {
            s.push_str("; all of it by approved workflows");
        }
        s
    };
    Ok(Json(PremiumResponse {
        scope: scope_json(&team),
        range: range.into(),
        bucket: bucket.name(),
        buckets: starts.iter().map(|t| bucket.label(*t)).collect(),
        standard_nanos: std_,
        approved_nanos: appr,
        unapproved_nanos: unap,
        premium_share,
        drift_share,
        total_premium_share: (total > 0).then(|| round4(share(ta + tu, total))),
        total_drift_share: (total > 0).then(|| round4(share(tu, total))),
        drifting_workflows: drifting,
        summary,
    }))
}
