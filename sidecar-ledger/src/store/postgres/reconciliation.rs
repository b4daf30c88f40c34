//! The providers' report lines and repricing's cost adjustments on PostgreSQL.

use postgres::Transaction;
use tollgate_core::event::CostEvent;

use super::db::PgStore;
use super::sql_args::has_nul;
use crate::store::error::StoreError;
use crate::store::reconciliation::{
    Adjustment, ImportOutcome, NewAdjustment, ProviderLine, ReportKind,
};
use crate::store::rollup_deltas::adjustment_event;

const LINE_COLUMNS: &str = "provider, kind, day_ms, model, line, amount_nanos, currency,
    input_tokens, cached_input_tokens, cache_write_tokens, cache_write_1h_tokens,
    output_tokens, requests, web_search_calls";

impl PgStore {
    pub(super) fn import_report_lines_impl(
        &self,
        lines: &[ProviderLine],
        source: &str,
        now_ms: i64,
    ) -> Result<ImportOutcome, StoreError> {
        if lines.iter().any(|l| {
            has_nul(&l.provider) || has_nul(&l.model) || has_nul(&l.line) || has_nul(&l.currency)
        }) || has_nul(source)
        {
            return Err(StoreError::Refused("text must not contain U+0000".into()));
        }
        self.write(|tx| {
            let upsert = tx.prepare(&format!(
                "INSERT INTO provider_report_lines ({LINE_COLUMNS}, source, imported_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                 ON CONFLICT (provider, kind, day_ms, model, line) DO UPDATE SET
                    amount_nanos = excluded.amount_nanos, currency = excluded.currency,
                    input_tokens = excluded.input_tokens,
                    cached_input_tokens = excluded.cached_input_tokens,
                    cache_write_tokens = excluded.cache_write_tokens,
                    cache_write_1h_tokens = excluded.cache_write_1h_tokens,
                    output_tokens = excluded.output_tokens, requests = excluded.requests,
                    web_search_calls = excluded.web_search_calls,
                    source = excluded.source, imported_ms = excluded.imported_ms
                 RETURNING (xmax = 0)"
            ))?;
            let mut outcome = ImportOutcome::default();
            for l in lines {
                let inserted: bool = tx
                    .query_one(
                        &upsert,
                        &[
                            &l.provider,
                            &l.kind.as_str(),
                            &l.day_ms,
                            &l.model,
                            &l.line,
                            &l.amount_nanos,
                            &l.currency,
                            &l.input_tokens,
                            &l.cached_input_tokens,
                            &l.cache_write_tokens,
                            &l.cache_write_1h_tokens,
                            &l.output_tokens,
                            &l.requests,
                            &l.web_search_calls,
                            &source,
                            &now_ms,
                        ],
                    )?
                    .try_get(0)?;
                if inserted {
                    outcome.added += 1;
                } else {
                    outcome.replaced += 1;
                }
            }
            Ok(outcome)
        })
    }

    pub(super) fn report_lines_impl(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<ProviderLine>, StoreError> {
        self.conn()?
            .query(
                &format!(
                    "SELECT {LINE_COLUMNS} FROM provider_report_lines
                     WHERE day_ms >= $1 AND day_ms < $2
                     ORDER BY day_ms, provider, kind, model, line"
                ),
                &[&from_ms, &to_ms],
            )?
            .iter()
            .map(|r| {
                let kind: String = r.try_get(1)?;
                Ok(ProviderLine {
                    provider: r.try_get(0)?,
                    kind: ReportKind::parse(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("report line kind '{kind}'")))?,
                    day_ms: r.try_get(2)?,
                    model: r.try_get(3)?,
                    line: r.try_get(4)?,
                    amount_nanos: r.try_get(5)?,
                    currency: r.try_get(6)?,
                    input_tokens: r.try_get(7)?,
                    cached_input_tokens: r.try_get(8)?,
                    cache_write_tokens: r.try_get(9)?,
                    cache_write_1h_tokens: r.try_get(10)?,
                    output_tokens: r.try_get(11)?,
                    requests: r.try_get(12)?,
                    web_search_calls: r.try_get(13)?,
                })
            })
            .collect()
    }
}

const ADJUSTMENT_COLUMNS: &str = "run_id, event_id, ts_ms, team, consumer_group, user_id,
    workflow, api, provider, lane, model_served, outcome, cache, premium, premium_approved,
    delta_nanos, cost_after_nanos, priced_by";

fn adjustment_of(r: &postgres::Row) -> Result<NewAdjustment, StoreError> {
    Ok(NewAdjustment {
        run_id: r.try_get(0)?,
        event_id: r.try_get(1)?,
        ts_ms: r.try_get(2)?,
        team: r.try_get(3)?,
        consumer_group: r.try_get(4)?,
        user: r.try_get(5)?,
        workflow: r.try_get(6)?,
        api: r.try_get(7)?,
        provider: r.try_get(8)?,
        lane: r.try_get(9)?,
        model_served: r.try_get(10)?,
        outcome: r.try_get(11)?,
        cache: r.try_get(12)?,
        premium: r.try_get(13)?,
        premium_approved: r.try_get(14)?,
        delta_nanos: r.try_get(15)?,
        cost_after_nanos: r.try_get(16)?,
        priced_by: r.try_get(17)?,
    })
}

/// Every stored adjustment as the rollups see it (for rebuilding the daily rollups).
pub(super) fn adjustment_events(tx: &mut Transaction<'_>) -> Result<Vec<CostEvent>, StoreError> {
    tx.query(
        &format!("SELECT {ADJUSTMENT_COLUMNS} FROM cost_adjustments"),
        &[],
    )?
    .iter()
    .map(|r| adjustment_event(&adjustment_of(r)?))
    .collect()
}

impl PgStore {
    pub(super) fn record_adjustments_impl(
        &self,
        adjustments: &[NewAdjustment],
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        let events = adjustments
            .iter()
            .map(adjustment_event)
            .collect::<Result<Vec<_>, _>>()?;
        self.write(|tx| {
            let insert = tx.prepare(&format!(
                "INSERT INTO cost_adjustments ({ADJUSTMENT_COLUMNS}, created_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
            ))?;
            for a in adjustments {
                tx.execute(
                    &insert,
                    &[
                        &a.run_id,
                        &a.event_id,
                        &a.ts_ms,
                        &a.team,
                        &a.consumer_group,
                        &a.user,
                        &a.workflow,
                        &a.api,
                        &a.provider,
                        &a.lane,
                        &a.model_served,
                        &a.outcome,
                        &a.cache,
                        &a.premium,
                        &a.premium_approved,
                        &a.delta_nanos,
                        &a.cost_after_nanos,
                        &a.priced_by,
                        &now_ms,
                    ],
                )?;
            }
            super::fold::add_adjustments(tx, &events)?;
            Ok(adjustments.len())
        })
    }

    pub(super) fn adjustments_impl(
        &self,
        from_ms: i64,
        to_ms: i64,
        team: Option<&str>,
    ) -> Result<Vec<Adjustment>, StoreError> {
        self.conn()?
            .query(
                &format!(
                    "SELECT {ADJUSTMENT_COLUMNS}, id, created_ms FROM cost_adjustments
                     WHERE ts_ms >= $1 AND ts_ms < $2 AND ($3::TEXT IS NULL OR team = $3)
                     ORDER BY ts_ms, id"
                ),
                &[&from_ms, &to_ms, &team],
            )?
            .iter()
            .map(|r| {
                Ok(Adjustment {
                    adjustment: adjustment_of(r)?,
                    id: r.try_get(18)?,
                    created_ms: r.try_get(19)?,
                })
            })
            .collect()
    }
}
