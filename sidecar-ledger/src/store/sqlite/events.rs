//! The `events` table on SQLite: the statements that store an event and its wallet and
//! lease spend, and reading rows back into [`CostEvent`]s.

use rusqlite::types::Value;
use rusqlite::Row;
use tollgate_core::event::{CostEvent, Tokens};

use crate::query::Filters;
use crate::store::error::StoreError;
use crate::store::event_text;
use crate::store::types::Sums;

pub(super) const INSERT_EVENT: &str = "INSERT INTO events (
        id, ts_ms, consumer_group, team, user_id, workflow, api, provider, lane,
        model_requested, model_served, input_tokens, cached_input_tokens,
        cache_write_tokens, output_tokens, usage_source, cost_nanos, unpriced, outcome,
        http_status, reason, latency_ms, stream, cache, cost_avoided_nanos, premium,
        premium_approved, received_ms, lease_id, wallet_unchecked, near_repeat,
        cache_write_1h_tokens, web_search_calls, tool_cost_nanos, service_tier, priced_by)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
        ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33,
        ?34, ?35, ?36)
    ON CONFLICT (id) DO NOTHING";

pub(super) const ADD_WALLET_SPEND: &str = "INSERT INTO wallets (team, spent_nanos, created_ms)
    VALUES (?1, ?2, ?3)
    ON CONFLICT (team) DO UPDATE SET spent_nanos = spent_nanos + excluded.spent_nanos";

/// A lease's spend grows; an ended lease whose events have caught up is settled.
pub(super) const ADD_LEASE_SPEND: &str = "UPDATE leases SET spent_nanos = spent_nanos + ?2,
        settled_ms = CASE
            WHEN settled_ms IS NULL AND (closed_ms IS NOT NULL OR expires_ms <= ?3)
             AND granted_nanos - COALESCE(unused_nanos, 0) - (spent_nanos + ?2) <= 0 THEN ?3
            ELSE settled_ms END
    WHERE id = ?1";

/// An instance closed a lease: it ends now, its unused credit returns, and it is
/// settled at once if its events are all in. A repeated report changes nothing.
pub(super) const CLOSE_LEASE: &str = "UPDATE leases SET
        unused_nanos = MIN(MAX(?4, 0), granted_nanos),
        closed_ms = ?5,
        expires_ms = MIN(expires_ms, ?5),
        settled_ms = CASE
            WHEN granted_nanos - MIN(MAX(?4, 0), granted_nanos) - spent_nanos <= 0 THEN ?5
            ELSE NULL END
    WHERE id = ?1 AND team = ?2 AND instance = ?3 AND closed_ms IS NULL AND settled_ms IS NULL";

pub(super) const INSERT_REJECTED: &str =
    "INSERT INTO rejected_events (received_ms, batch_index, error, raw) VALUES (?1, ?2, ?3, ?4)";

/// Columns read back into a [`CostEvent`], in [`event_from_row`]'s order.
pub(super) const EVENT_COLUMNS: &str = "id, ts_ms, consumer_group, team, user_id, workflow, api,
    provider, lane, model_requested, model_served, input_tokens, cached_input_tokens,
    cache_write_tokens, output_tokens, usage_source, cost_nanos, unpriced, outcome,
    http_status, reason, latency_ms, stream, cache, cost_avoided_nanos, premium,
    premium_approved, lease_id, wallet_unchecked, near_repeat, cache_write_1h_tokens,
    web_search_calls, tool_cost_nanos, service_tier, priced_by";

/// The event's additive quantities as stored integers.
pub(super) fn event_sums(e: &CostEvent) -> Result<Sums, StoreError> {
    Ok(Sums {
        requests: 1,
        input_tokens: tokens_i64(e.tokens.input)?,
        cached_input_tokens: tokens_i64(e.tokens.cached_input)?,
        cache_write_tokens: tokens_i64(e.tokens.cache_write)?,
        output_tokens: tokens_i64(e.tokens.output)?,
        cost_nanos: e.cost_nanos,
        cost_avoided_nanos: e.cost_avoided_nanos,
    })
}

pub(super) fn tokens_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Corrupt(format!("token count {n} out of range")))
}

pub(super) fn overflow() -> StoreError {
    StoreError::Corrupt("sum overflows 64 bits".into())
}

/// Appends `AND column = ?` for each filter set; the values go to `args`. Column
/// names are the same in `events` and `rollup_hourly`.
pub(super) fn push_filters(sql: &mut String, args: &mut Vec<Value>, f: &Filters) {
    for (column, value) in [
        ("team", &f.team),
        ("consumer_group", &f.consumer_group),
        ("provider", &f.provider),
        ("lane", &f.lane),
        ("model_served", &f.model),
    ] {
        if let Some(v) = value {
            args.push(Value::Text(v.clone()));
            sql.push_str(&format!(" AND {column} = ?{}", args.len()));
        }
    }
}

pub(super) fn event_from_row(r: &Row<'_>) -> Result<CostEvent, StoreError> {
    let u64_col = |i: usize| -> Result<u64, StoreError> {
        let v: i64 = r.get(i)?;
        u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative token count {v}")))
    };
    let http_status: i64 = r.get(19)?;
    let latency_ms: i64 = r.get(21)?;
    Ok(CostEvent {
        id: r.get(0)?,
        ts_ms: r.get(1)?,
        consumer_group: r.get(2)?,
        team: r.get(3)?,
        user: r.get(4)?,
        workflow: r.get(5)?,
        api: event_text::api_from(&r.get::<_, String>(6)?)?,
        provider: r.get(7)?,
        lane: r.get(8)?,
        model_requested: r.get(9)?,
        model_served: r.get(10)?,
        tokens: Tokens {
            input: u64_col(11)?,
            cached_input: u64_col(12)?,
            cache_write: u64_col(13)?,
            cache_write_1h: u64_col(30)?,
            output: u64_col(14)?,
        },
        usage_source: event_text::usage_source_from(&r.get::<_, String>(15)?)?,
        cost_nanos: r.get(16)?,
        unpriced: r.get(17)?,
        outcome: event_text::outcome_from(&r.get::<_, String>(18)?)?,
        http_status: u16::try_from(http_status)
            .map_err(|_| StoreError::Corrupt(format!("http_status {http_status}")))?,
        reason: r.get(20)?,
        latency_ms: u32::try_from(latency_ms)
            .map_err(|_| StoreError::Corrupt(format!("latency_ms {latency_ms}")))?,
        stream: r.get(22)?,
        cache: event_text::cache_from(&r.get::<_, String>(23)?)?,
        cost_avoided_nanos: r.get(24)?,
        premium: r.get(25)?,
        premium_approved: r.get(26)?,
        lease_id: r
            .get::<_, Option<i64>>(27)?
            .map(|v| u64::try_from(v).unwrap_or_default()),
        wallet_unchecked: r.get(28)?,
        near_repeat: r.get(29)?,
        web_search_calls: u64_col(31)?,
        tool_cost_nanos: r.get(32)?,
        service_tier: r.get(33)?,
        priced_by: r.get(34)?,
    })
}

/// A flusher's report of dropped events; a repeated report (its send was retried, or
/// more were dropped since the first) raises the count, never adds a row.
pub(super) const RECORD_DROPS: &str =
    "INSERT INTO delivery_gaps (instance, first_ms, last_ms, dropped, received_ms)
     VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (instance, first_ms) DO UPDATE SET
        last_ms = MAX(last_ms, excluded.last_ms), dropped = MAX(dropped, excluded.dropped)";
