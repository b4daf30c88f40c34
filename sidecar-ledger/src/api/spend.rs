//! `GET /v1/spend`: spend grouped and filtered, from the hourly rollups.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::Serialize;
use serde_json::{Map, Value};
use tollgate_core::money::format_usd;

use crate::api::blocking::{blocking, reporting_calendar};
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::query::{format_day, format_instant, parse_spend, Dim};
use crate::state::AppState;
use crate::store::{KeyValue, Sums};

#[derive(Serialize)]
pub struct SpendResponse {
    /// The range actually counted, `[from, to)` in Unix ms: the requested range
    /// widened to whole hours.
    pub from: i64,
    pub to: i64,
    pub group_by: Vec<&'static str>,
    pub rows: Vec<SpendRowJson>,
    pub total: TotalsJson,
    /// The reporting time zone: `day` keys are its dates, date bounds its midnights.
    pub time_zone: String,
}

#[derive(Serialize)]
pub struct SpendRowJson {
    pub key: Map<String, Value>,
    #[serde(flatten)]
    pub totals: TotalsJson,
}

#[derive(Serialize)]
pub struct TotalsJson {
    pub requests: i64,
    pub tokens: TokensJson,
    pub cost_nanos: i64,
    pub cost_usd: String,
    pub cost_avoided_nanos: i64,
    pub cost_avoided_usd: String,
}

#[derive(Serialize)]
pub struct TokensJson {
    pub input: i64,
    pub cached_input: i64,
    pub cache_write: i64,
    pub output: i64,
}

impl From<&Sums> for TotalsJson {
    fn from(s: &Sums) -> Self {
        TotalsJson {
            requests: s.requests,
            tokens: TokensJson {
                input: s.input_tokens,
                cached_input: s.cached_input_tokens,
                cache_write: s.cache_write_tokens,
                output: s.output_tokens,
            },
            cost_nanos: s.cost_nanos,
            cost_usd: format_usd(s.cost_nanos),
            cost_avoided_nanos: s.cost_avoided_nanos,
            cost_avoided_usd: format_usd(s.cost_avoided_nanos),
        }
    }
}

fn key_json(dim: Dim, value: KeyValue) -> Value {
    match value {
        KeyValue::Text(Some(s)) => Value::String(s),
        KeyValue::Text(None) => Value::Null,
        KeyValue::TimeMs(ms) if dim == Dim::Day => Value::String(format_day(ms)),
        KeyValue::TimeMs(ms) => Value::String(format_instant(ms)),
    }
}

pub async fn get_spend(
    State(state): State<AppState>,
    params: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<SpendResponse>, ApiError> {
    let params = params?.0;
    let calendar = reporting_calendar(&state).await?;
    let query = parse_spend(&params, now_ms(), &calendar)?;
    let store = state.store.clone();
    let q = query.clone();
    let rows = blocking(move || store.spend(&q)).await?;

    let mut total = Sums::default();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        total = total
            .checked_add(&row.sums)
            .ok_or_else(|| ApiError::internal("total spend overflows 64 bits"))?;
        let key = query
            .group_by
            .iter()
            .zip(row.key)
            .map(|(d, v)| (d.name().to_string(), key_json(*d, v)))
            .collect();
        out.push(SpendRowJson {
            key,
            totals: TotalsJson::from(&row.sums),
        });
    }
    Ok(Json(SpendResponse {
        from: query.from_ms,
        to: query.to_ms,
        group_by: query.group_by.iter().map(|d| d.name()).collect(),
        rows: out,
        total: TotalsJson::from(&total),
        time_zone: query.calendar.name().to_string(),
    }))
}
