//! `/v1/insights/series`: spend, requests, tokens and cost per request grouped by any
//! dimensions, per hour, day, week or month.

use axum::extract::{Extension, State};
use axum::Json;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::api::blocking::blocking;
use crate::api::spend::TotalsJson;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::insights::{Bucket, DayRange};
use crate::query::{self, Dim, Filters, SpendQuery, DAY_MS, HOUR_MS};
use crate::state::AppState;
use crate::store::insights::{InsightDim, InsightQuery};
use crate::store::{KeyValue, Sums};

use super::args::{Args, Params};
use super::grouping::{add, grouped, text, tokens_total};
use super::now::now;
use super::scope::{scope_json, RangeJson, ScopeJson};

#[derive(Serialize)]
pub struct SeriesRow {
    pub bucket: String,
    pub bucket_ms: i64,
    pub key: Map<String, Value>,
    #[serde(flatten)]
    pub totals: TotalsJson,
    pub tokens_total: i64,
    /// Cost per request, rounded down (0 without requests).
    pub cost_per_request_nanos: i64,
}

#[derive(Serialize)]
pub struct SeriesResponse {
    pub scope: ScopeJson,
    pub range: RangeJson,
    pub bucket: &'static str,
    pub group_by: Vec<String>,
    /// Every bucket of the range, in order (rows only exist where there was spend).
    pub buckets: Vec<String>,
    pub rows: Vec<SeriesRow>,
    pub total: TotalsJson,
}

fn row_json(
    bucket: Bucket,
    t: i64,
    names: &[String],
    key: Vec<Option<String>>,
    s: &Sums,
) -> SeriesRow {
    SeriesRow {
        bucket: bucket.label(t),
        bucket_ms: t,
        key: names
            .iter()
            .cloned()
            .zip(
                key.into_iter()
                    .map(|v| v.map(Value::String).unwrap_or(Value::Null)),
            )
            .collect(),
        totals: TotalsJson::from(s),
        tokens_total: tokens_total(s),
        cost_per_request_nanos: if s.requests > 0 {
            s.cost_nanos / s.requests
        } else {
            0
        },
    }
}

/// `GET /v1/insights/series`: spend, requests, tokens and cost per request by any
/// dimensions, per hour, day, week or month.
pub async fn get_series(
    State(state): State<AppState>,
    Extension(who): Extension<Principal>,
    params: Params,
) -> Result<Json<SeriesResponse>, ApiError> {
    let args = Args::parse(
        params,
        &["from", "to", "bucket", "group_by", "team", "workflow"],
    )?;
    let clock = now(&state).await?;
    let now = clock.instant;
    let bucket = args.bucket(Bucket::Day, &Bucket::ALL)?;
    let team = who.scope(args.get("team"))?;
    let workflow = args.get("workflow").map(str::to_string);
    let mut dims = Vec::new();
    let mut names = Vec::new();
    for part in args
        .get("group_by")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if names.iter().any(|n| n == part) {
            return Err(ApiError::bad_request(format!(
                "group_by lists '{part}' more than once"
            )));
        }
        names.push(part.to_string());
        dims.push(part);
    }
    let store = state.store.clone();

    if bucket == Bucket::Hour {
        // The hourly rollups: every /v1/spend dimension, hour-exact ranges.
        let mut group_by = vec![Dim::Hour];
        for d in &dims {
            match Dim::parse(d).filter(|d| !matches!(d, Dim::Hour | Dim::Day)) {
                Some(dim) => group_by.push(dim),
                None => {
                    return Err(ApiError::bad_request(format!(
                        "with bucket=hour, group_by takes: {}",
                        Dim::ALL[..10]
                            .iter()
                            .map(|d| d.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )))
                }
            }
        }
        if workflow.is_some() {
            return Err(ApiError::bad_request(
                "the workflow filter needs bucket=day, week or month",
            ));
        }
        // A date is the reporting time zone's midnight.
        let bound = |text: &str| -> Result<i64, String> {
            let ms = query::parse_time(text)?;
            let t = text.trim();
            Ok(if t.len() == 10 && t.as_bytes()[4] == b'-' {
                clock.calendar.day_start(ms)
            } else {
                ms
            })
        };
        let from = args
            .get("from")
            .map(bound)
            .transpose()
            .map_err(|e| ApiError::bad_request(format!("'from' {e}")))?;
        let to = args
            .get("to")
            .map(bound)
            .transpose()
            .map_err(|e| ApiError::bad_request(format!("'to' {e}")))?
            .unwrap_or(now);
        let to_ms = (to + HOUR_MS - 1).div_euclid(HOUR_MS) * HOUR_MS;
        let from_ms = from.unwrap_or(to_ms - DAY_MS).div_euclid(HOUR_MS) * HOUR_MS;
        if from_ms >= to_ms || to_ms - from_ms > 93 * DAY_MS {
            return Err(ApiError::bad_request(
                "with bucket=hour, 'from' must be before 'to' and at most 93 days earlier",
            ));
        }
        let q = SpendQuery {
            group_by,
            from_ms,
            to_ms,
            filters: Filters {
                team: team.clone(),
                ..Filters::default()
            },
            calendar: clock.calendar.clone(),
        };
        let rows = blocking(move || store.spend(&q)).await?;
        let mut total = Sums::default();
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            add(&mut total, &r.sums)?;
            let t = match r.key.first() {
                Some(KeyValue::TimeMs(t)) => *t,
                _ => from_ms,
            };
            let key = r.key[1..].iter().map(text).collect();
            out.push(row_json(bucket, t, &names, key, &r.sums));
        }
        out.sort_by(|a, b| {
            a.bucket_ms
                .cmp(&b.bucket_ms)
                .then(b.totals.cost_nanos.cmp(&a.totals.cost_nanos))
        });
        let range = DayRange { from_ms, to_ms };
        return Ok(Json(SeriesResponse {
            scope: scope_json(&team),
            range: RangeJson {
                from: query::format_instant(from_ms),
                to: query::format_instant(to_ms),
                from_ms,
                to_ms,
                days: range.days(),
            },
            bucket: bucket.name(),
            group_by: names,
            buckets: bucket
                .starts(from_ms, to_ms)
                .into_iter()
                .map(|t| bucket.label(t))
                .collect(),
            rows: out,
            total: TotalsJson::from(&total),
        }));
    }

    let mut idims = Vec::new();
    for d in &dims {
        match InsightDim::parse(d).filter(|d| *d != InsightDim::Day) {
            Some(dim) => idims.push(dim),
            None => {
                return Err(ApiError::bad_request(format!(
                    "group_by takes: {} (api and outcome with bucket=hour)",
                    InsightDim::ALL[1..]
                        .iter()
                        .map(|d| d.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        }
    }
    let q = InsightQuery {
        group_by: idims.clone(),
        workflow: workflow.clone(),
        ..Default::default()
    };
    if !q.answerable() {
        return Err(ApiError::bad_request(
            "user combines only with team and consumer_group, without a workflow filter",
        ));
    }
    let range = args.range(&clock)?;
    let t = team.clone();
    let rows = blocking(move || {
        grouped(
            store.as_ref(),
            range,
            t.as_deref(),
            workflow.as_deref(),
            Some(bucket),
            &idims,
        )
    })
    .await?;
    let mut total = Sums::default();
    let mut out = Vec::with_capacity(rows.len());
    for (t, key, s) in rows {
        add(&mut total, &s)?;
        out.push(row_json(bucket, t, &names, key, &s));
    }
    Ok(Json(SeriesResponse {
        scope: scope_json(&team),
        range: range.into(),
        bucket: bucket.name(),
        group_by: names,
        buckets: bucket
            .starts(range.from_ms, range.to_ms)
            .into_iter()
            .map(|t| bucket.label(t))
            .collect(),
        rows: out,
        total: TotalsJson::from(&total),
    }))
}
