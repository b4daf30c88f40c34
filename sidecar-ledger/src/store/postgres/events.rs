//! The `events` table on PostgreSQL: storing a batch as column arrays (one `UNNEST`
//! insert), its text made storable, the hourly rollup upsert, and reading rows back
//! into [`CostEvent`]s.

use std::collections::{BTreeMap, HashMap};

use postgres::{Row, Transaction};
use tollgate_core::event::{CostEvent, Tokens};

use super::sql_args::has_nul;
use crate::store::error::StoreError;
use crate::store::event_text;
use crate::store::rollup_deltas::HourlyKey;
use crate::store::types::{IngestBatch, Sums};

/// Columns read back into a [`CostEvent`], in [`event_from_row`]'s order.
pub(super) const EVENT_COLUMNS: &str = "id, ts_ms, consumer_group, team, user_id, workflow, api,
    provider, lane, model_requested, model_served, input_tokens, cached_input_tokens,
    cache_write_tokens, output_tokens, usage_source, cost_nanos, unpriced, outcome,
    http_status, reason, latency_ms, stream, cache, cost_avoided_nanos, premium,
    premium_approved, lease_id, wallet_unchecked, near_repeat, cache_write_1h_tokens,
    web_search_calls, tool_cost_nanos, service_tier, priced_by";

/// A whole batch in one statement: one array per column, rows inserted in batch order
/// (so `seq` is arrival order), ids already stored skipped. Returns the id and `seq`
/// of each row inserted.
const INSERT_EVENTS: &str = "INSERT INTO events (
        id, ts_ms, consumer_group, team, user_id, workflow, api, provider, lane,
        model_requested, model_served, input_tokens, cached_input_tokens,
        cache_write_tokens, output_tokens, usage_source, cost_nanos, unpriced, outcome,
        http_status, reason, latency_ms, stream, cache, cost_avoided_nanos, premium,
        premium_approved, received_ms, lease_id, wallet_unchecked, near_repeat,
        cache_write_1h_tokens, web_search_calls, tool_cost_nanos, service_tier, priced_by)
    SELECT id, ts_ms, consumer_group, team, user_id, workflow, api, provider, lane,
        model_requested, model_served, input_tokens, cached_input_tokens,
        cache_write_tokens, output_tokens, usage_source, cost_nanos, unpriced, outcome,
        http_status, reason, latency_ms, stream, cache, cost_avoided_nanos, premium,
        premium_approved, $28, lease_id, wallet_unchecked, near_repeat,
        cache_write_1h_tokens, web_search_calls, tool_cost_nanos, service_tier, priced_by
    FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[],
        $13::bigint[], $14::bigint[], $15::bigint[], $16::text[], $17::bigint[],
        $18::boolean[], $19::text[], $20::bigint[], $21::text[], $22::bigint[],
        $23::boolean[], $24::text[], $25::bigint[], $26::boolean[], $27::boolean[],
        $29::bigint[], $30::boolean[], $31::boolean[], $32::bigint[], $33::bigint[],
        $34::bigint[], $35::text[], $36::text[])
        WITH ORDINALITY AS t (id, ts_ms, consumer_group, team, user_id, workflow, api,
            provider, lane, model_requested, model_served, input_tokens,
            cached_input_tokens, cache_write_tokens, output_tokens, usage_source,
            cost_nanos, unpriced, outcome, http_status, reason, latency_ms, stream, cache,
            cost_avoided_nanos, premium, premium_approved, lease_id, wallet_unchecked,
            near_repeat, cache_write_1h_tokens, web_search_calls, tool_cost_nanos,
            service_tier, priced_by, ord)
    ORDER BY ord
    ON CONFLICT (id) DO NOTHING
    RETURNING id, seq";

/// Rollup deltas, one row per key (already aggregated), applied in key order (by a
/// fold, `postgres::fold`).
const UPSERT_ROLLUPS: &str = "INSERT INTO rollup_hourly AS r (
        hour_ms, team, consumer_group, user_id, workflow, provider, lane, model_served,
        api, outcome, cache, requests, input_tokens, cached_input_tokens,
        cache_write_tokens, output_tokens, cost_nanos, cost_avoided_nanos)
    SELECT hour_ms, team, consumer_group, user_id, workflow, provider, lane,
        model_served, api, outcome, cache, requests, input_tokens, cached_input_tokens,
        cache_write_tokens, output_tokens, cost_nanos, cost_avoided_nanos
    FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[],
        $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[],
        $18::bigint[])
        WITH ORDINALITY AS t (hour_ms, team, consumer_group, user_id, workflow, provider,
            lane, model_served, api, outcome, cache, requests, input_tokens,
            cached_input_tokens, cache_write_tokens, output_tokens, cost_nanos,
            cost_avoided_nanos, ord)
    ORDER BY ord
    ON CONFLICT (hour_ms, team, consumer_group, user_id, workflow, provider, lane,
                 model_served, api, outcome, cache) DO UPDATE SET
        requests = r.requests + excluded.requests,
        input_tokens = r.input_tokens + excluded.input_tokens,
        cached_input_tokens = r.cached_input_tokens + excluded.cached_input_tokens,
        cache_write_tokens = r.cache_write_tokens + excluded.cache_write_tokens,
        output_tokens = r.output_tokens + excluded.output_tokens,
        cost_nanos = r.cost_nanos + excluded.cost_nanos,
        cost_avoided_nanos = r.cost_avoided_nanos + excluded.cost_avoided_nanos";

/// Wallet spend of the inserted events, teams in sorted order.
pub(super) const ADD_WALLET_SPEND: &str = "INSERT INTO wallets AS w (team, spent_nanos, created_ms)
    SELECT team, spent, $3 FROM UNNEST($1::text[], $2::bigint[])
        WITH ORDINALITY AS t (team, spent, ord)
    ORDER BY ord
    ON CONFLICT (team) DO UPDATE SET spent_nanos = w.spent_nanos + excluded.spent_nanos";

/// A lease's spend grows; an ended lease whose events have caught up is settled.
pub(super) const ADD_LEASE_SPEND: &str = "UPDATE leases SET spent_nanos = spent_nanos + $2,
        settled_ms = CASE
            WHEN settled_ms IS NULL AND (closed_ms IS NOT NULL OR expires_ms <= $3)
             AND granted_nanos - COALESCE(unused_nanos, 0) - (spent_nanos + $2) <= 0 THEN $3
            ELSE settled_ms END
    WHERE id = $1";

/// An instance closed a lease: it ends now, its unused credit returns, and it is
/// settled at once if its events are all in. A repeated report changes nothing.
pub(super) const CLOSE_LEASE: &str = "UPDATE leases SET
        unused_nanos = LEAST(GREATEST($4::BIGINT, 0), granted_nanos),
        closed_ms = $5,
        expires_ms = LEAST(expires_ms, $5),
        settled_ms = CASE
            WHEN granted_nanos - LEAST(GREATEST($4::BIGINT, 0), granted_nanos) - spent_nanos <= 0 THEN $5
            ELSE NULL END
    WHERE id = $1 AND team = $2 AND instance = $3 AND closed_ms IS NULL AND settled_ms IS NULL";

pub(super) const INSERT_REJECTED: &str =
    "INSERT INTO rejected_events (received_ms, batch_index, error, raw)
    SELECT $1, batch_index, error, raw
    FROM UNNEST($2::bigint[], $3::text[], $4::text[])
        WITH ORDINALITY AS t (batch_index, error, raw, ord)
    ORDER BY ord";

pub(super) fn event_has_nul(e: &CostEvent) -> bool {
    [
        Some(&e.id),
        Some(&e.consumer_group),
        Some(&e.team),
        e.user.as_ref(),
        e.workflow.as_ref(),
        e.provider.as_ref(),
        e.lane.as_ref(),
        Some(&e.model_requested),
        Some(&e.model_served),
        e.reason.as_ref(),
        e.service_tier.as_ref(),
        e.priced_by.as_ref(),
    ]
    .into_iter()
    .flatten()
    .any(|s| has_nul(s))
}

/// Quarantine text: U+0000 written as the JSON escape it arrived as.
pub(super) fn storable_text(s: &str) -> String {
    s.replace('\0', "\\u0000")
}

pub(super) fn event_sums(e: &CostEvent) -> Result<Sums, StoreError> {
    tokens_i64(e.tokens.cache_write_1h)?;
    tokens_i64(e.web_search_calls)?;
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

fn tokens_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Corrupt(format!("token count {n} out of range")))
}

pub(super) fn overflow() -> StoreError {
    StoreError::Corrupt("sum overflows 64 bits".into())
}

pub(super) fn event_from_row(r: &Row) -> Result<CostEvent, StoreError> {
    let u64_col = |i: usize| -> Result<u64, StoreError> {
        let v: i64 = r.try_get(i)?;
        u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative token count {v}")))
    };
    let http_status: i64 = r.try_get(19)?;
    let latency_ms: i64 = r.try_get(21)?;
    Ok(CostEvent {
        id: r.try_get(0)?,
        ts_ms: r.try_get(1)?,
        consumer_group: r.try_get(2)?,
        team: r.try_get(3)?,
        user: r.try_get(4)?,
        workflow: r.try_get(5)?,
        api: event_text::api_from(r.try_get(6)?)?,
        provider: r.try_get(7)?,
        lane: r.try_get(8)?,
        model_requested: r.try_get(9)?,
        model_served: r.try_get(10)?,
        tokens: Tokens {
            input: u64_col(11)?,
            cached_input: u64_col(12)?,
            cache_write: u64_col(13)?,
            cache_write_1h: u64_col(30)?,
            output: u64_col(14)?,
        },
        usage_source: event_text::usage_source_from(r.try_get(15)?)?,
        cost_nanos: r.try_get(16)?,
        unpriced: r.try_get(17)?,
        outcome: event_text::outcome_from(r.try_get(18)?)?,
        http_status: u16::try_from(http_status)
            .map_err(|_| StoreError::Corrupt(format!("http_status {http_status}")))?,
        reason: r.try_get(20)?,
        latency_ms: u32::try_from(latency_ms)
            .map_err(|_| StoreError::Corrupt(format!("latency_ms {latency_ms}")))?,
        stream: r.try_get(22)?,
        cache: event_text::cache_from(r.try_get(23)?)?,
        cost_avoided_nanos: r.try_get(24)?,
        premium: r.try_get(25)?,
        premium_approved: r.try_get(26)?,
        lease_id: r
            .try_get::<_, Option<i64>>(27)?
            .map(|v| u64::try_from(v).unwrap_or_default()),
        wallet_unchecked: r.try_get(28)?,
        near_repeat: r.try_get(29)?,
        web_search_calls: u64_col(31)?,
        tool_cost_nanos: r.try_get(32)?,
        service_tier: r.try_get(33)?,
        priced_by: r.try_get(34)?,
    })
}

/// The position in the posted batch of each of `batch.events`, recovered from the
/// quarantined and held-back indices (`ingest::split_batch` keeps the lists in batch
/// order).
pub(super) fn batch_positions(batch: &IngestBatch) -> Vec<usize> {
    let mut rejected: Vec<usize> = batch.rejected.iter().map(|r| r.index).collect();
    rejected.extend(&batch.held_back);
    rejected.sort_unstable();
    let mut rejected = rejected.into_iter().peekable();
    let mut positions = Vec::with_capacity(batch.events.len());
    let mut i = 0;
    while positions.len() < batch.events.len() {
        match rejected.peek() {
            Some(&r) if r < i => {
                rejected.next();
            }
            Some(&r) if r == i => {
                rejected.next();
                i += 1;
            }
            _ => {
                positions.push(i);
                i += 1;
            }
        }
    }
    positions
}

/// Column arrays of the events to insert, in batch order.
#[derive(Default)]
pub(super) struct EventColumns<'a> {
    id: Vec<&'a str>,
    ts_ms: Vec<i64>,
    consumer_group: Vec<&'a str>,
    team: Vec<&'a str>,
    user: Vec<Option<&'a str>>,
    workflow: Vec<Option<&'a str>>,
    api: Vec<&'static str>,
    provider: Vec<Option<&'a str>>,
    lane: Vec<Option<&'a str>>,
    model_requested: Vec<&'a str>,
    model_served: Vec<&'a str>,
    input: Vec<i64>,
    cached_input: Vec<i64>,
    cache_write: Vec<i64>,
    output: Vec<i64>,
    usage_source: Vec<&'static str>,
    cost: Vec<i64>,
    unpriced: Vec<bool>,
    outcome: Vec<&'static str>,
    http_status: Vec<i64>,
    reason: Vec<Option<&'a str>>,
    latency_ms: Vec<i64>,
    stream: Vec<bool>,
    cache: Vec<&'static str>,
    cost_avoided: Vec<i64>,
    premium: Vec<bool>,
    premium_approved: Vec<bool>,
    lease_id: Vec<Option<i64>>,
    wallet_unchecked: Vec<bool>,
    near_repeat: Vec<bool>,
    cache_write_1h: Vec<i64>,
    web_search_calls: Vec<i64>,
    tool_cost: Vec<i64>,
    service_tier: Vec<Option<&'a str>>,
    priced_by: Vec<Option<&'a str>>,
}

impl<'a> EventColumns<'a> {
    pub(super) fn push(&mut self, e: &'a CostEvent, s: &Sums) {
        self.id.push(&e.id);
        self.ts_ms.push(e.ts_ms);
        self.consumer_group.push(&e.consumer_group);
        self.team.push(&e.team);
        self.user.push(e.user.as_deref());
        self.workflow.push(e.workflow.as_deref());
        self.api.push(event_text::api_str(e.api));
        self.provider.push(e.provider.as_deref());
        self.lane.push(e.lane.as_deref());
        self.model_requested.push(&e.model_requested);
        self.model_served.push(&e.model_served);
        self.input.push(s.input_tokens);
        self.cached_input.push(s.cached_input_tokens);
        self.cache_write.push(s.cache_write_tokens);
        self.output.push(s.output_tokens);
        self.usage_source
            .push(event_text::usage_source_str(e.usage_source));
        self.cost.push(e.cost_nanos);
        self.unpriced.push(e.unpriced);
        self.outcome.push(event_text::outcome_str(e.outcome));
        self.http_status.push(i64::from(e.http_status));
        self.reason.push(e.reason.as_deref());
        self.latency_ms.push(i64::from(e.latency_ms));
        self.stream.push(e.stream);
        self.cache.push(event_text::cache_str(e.cache));
        self.cost_avoided.push(e.cost_avoided_nanos);
        self.premium.push(e.premium);
        self.premium_approved.push(e.premium_approved);
        self.lease_id.push(e.lease_id.map(|l| l as i64));
        self.wallet_unchecked.push(e.wallet_unchecked);
        self.near_repeat.push(e.near_repeat);
        // Counts beyond i64 were refused by `event_sums` before the push.
        self.cache_write_1h
            .push(i64::try_from(e.tokens.cache_write_1h).unwrap_or(i64::MAX));
        self.web_search_calls
            .push(i64::try_from(e.web_search_calls).unwrap_or(i64::MAX));
        self.tool_cost.push(e.tool_cost_nanos);
        self.service_tier.push(e.service_tier.as_deref());
        self.priced_by.push(e.priced_by.as_deref());
    }

    /// Inserts the rows; returns the ids actually inserted (not already stored), each
    /// with its `seq`.
    pub(super) fn insert(
        &self,
        tx: &mut Transaction<'_>,
        received_ms: i64,
    ) -> Result<HashMap<String, i64>, StoreError> {
        let rows = tx.query(
            INSERT_EVENTS,
            &[
                &self.id,
                &self.ts_ms,
                &self.consumer_group,
                &self.team,
                &self.user,
                &self.workflow,
                &self.api,
                &self.provider,
                &self.lane,
                &self.model_requested,
                &self.model_served,
                &self.input,
                &self.cached_input,
                &self.cache_write,
                &self.output,
                &self.usage_source,
                &self.cost,
                &self.unpriced,
                &self.outcome,
                &self.http_status,
                &self.reason,
                &self.latency_ms,
                &self.stream,
                &self.cache,
                &self.cost_avoided,
                &self.premium,
                &self.premium_approved,
                &received_ms,
                &self.lease_id,
                &self.wallet_unchecked,
                &self.near_repeat,
                &self.cache_write_1h,
                &self.web_search_calls,
                &self.tool_cost,
                &self.service_tier,
                &self.priced_by,
            ],
        )?;
        let mut seqs = HashMap::with_capacity(rows.len());
        for r in &rows {
            seqs.insert(r.try_get::<_, String>(0)?, r.try_get::<_, i64>(1)?);
        }
        Ok(seqs)
    }
}

pub(super) fn upsert_rollups(
    tx: &mut Transaction<'_>,
    deltas: &BTreeMap<HourlyKey<'_>, Sums>,
) -> Result<(), StoreError> {
    if deltas.is_empty() {
        return Ok(());
    }
    let keys = || deltas.keys();
    let sums = || deltas.values();
    let hour: Vec<i64> = keys().map(|k| k.hour_ms).collect();
    let text = |f: for<'k> fn(&'k HourlyKey<'k>) -> &'k str| -> Vec<String> {
        keys().map(|k| f(k).to_string()).collect()
    };
    let num = |f: fn(&Sums) -> i64| -> Vec<i64> { sums().map(f).collect() };
    tx.execute(
        UPSERT_ROLLUPS,
        &[
            &hour,
            &text(|k| k.team),
            &text(|k| k.consumer_group),
            &text(|k| k.user),
            &text(|k| k.workflow),
            &text(|k| k.provider),
            &text(|k| k.lane),
            &text(|k| k.model_served),
            &text(|k| k.api),
            &text(|k| k.outcome),
            &text(|k| k.cache),
            &num(|s| s.requests),
            &num(|s| s.input_tokens),
            &num(|s| s.cached_input_tokens),
            &num(|s| s.cache_write_tokens),
            &num(|s| s.output_tokens),
            &num(|s| s.cost_nanos),
            &num(|s| s.cost_avoided_nanos),
        ],
    )?;
    Ok(())
}

/// A flusher's report of dropped events (see the SQLite statement).
pub(super) const RECORD_DROPS: &str =
    "INSERT INTO delivery_gaps AS g (instance, first_ms, last_ms, dropped, received_ms)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (instance, first_ms) DO UPDATE SET
        last_ms = GREATEST(g.last_ms, excluded.last_ms),
        dropped = GREATEST(g.dropped, excluded.dropped)";
