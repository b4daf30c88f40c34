//! The providers' report lines and repricing's cost adjustments on SQLite.

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};
use tollgate_core::event::CostEvent;

use super::db::SqliteStore;
use crate::store::error::StoreError;
use crate::store::reconciliation::{
    Adjustment, ImportOutcome, NewAdjustment, ProviderLine, ReportKind,
};
use crate::store::rollup_deltas::adjustment_event;

const LINE_COLUMNS: &str = "provider, kind, day_ms, model, line, amount_nanos, currency,
    input_tokens, cached_input_tokens, cache_write_tokens, cache_write_1h_tokens,
    output_tokens, requests, web_search_calls";

fn line_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<(ProviderLine, String)> {
    let kind: String = r.get(1)?;
    Ok((
        ProviderLine {
            provider: r.get(0)?,
            kind: ReportKind::Cost,
            day_ms: r.get(2)?,
            model: r.get(3)?,
            line: r.get(4)?,
            amount_nanos: r.get(5)?,
            currency: r.get(6)?,
            input_tokens: r.get(7)?,
            cached_input_tokens: r.get(8)?,
            cache_write_tokens: r.get(9)?,
            cache_write_1h_tokens: r.get(10)?,
            output_tokens: r.get(11)?,
            requests: r.get(12)?,
            web_search_calls: r.get(13)?,
        },
        kind,
    ))
}

impl SqliteStore {
    pub(super) fn import_report_lines_impl(
        &self,
        lines: &[ProviderLine],
        source: &str,
        now_ms: i64,
    ) -> Result<ImportOutcome, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut outcome = ImportOutcome::default();
        {
            let mut exists = tx.prepare_cached(
                "SELECT 1 FROM provider_report_lines
                 WHERE provider = ?1 AND kind = ?2 AND day_ms = ?3 AND model = ?4 AND line = ?5",
            )?;
            let mut upsert = tx.prepare_cached(&format!(
                "INSERT INTO provider_report_lines ({LINE_COLUMNS}, source, imported_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                 ON CONFLICT (provider, kind, day_ms, model, line) DO UPDATE SET
                    amount_nanos = excluded.amount_nanos, currency = excluded.currency,
                    input_tokens = excluded.input_tokens,
                    cached_input_tokens = excluded.cached_input_tokens,
                    cache_write_tokens = excluded.cache_write_tokens,
                    cache_write_1h_tokens = excluded.cache_write_1h_tokens,
                    output_tokens = excluded.output_tokens, requests = excluded.requests,
                    web_search_calls = excluded.web_search_calls,
                    source = excluded.source, imported_ms = excluded.imported_ms"
            ))?;
            for l in lines {
                let key = params![l.provider, l.kind.as_str(), l.day_ms, l.model, l.line];
                if exists.query_row(key, |_| Ok(())).optional()?.is_some() {
                    outcome.replaced += 1;
                } else {
                    outcome.added += 1;
                }
                upsert.execute(params![
                    l.provider,
                    l.kind.as_str(),
                    l.day_ms,
                    l.model,
                    l.line,
                    l.amount_nanos,
                    l.currency,
                    l.input_tokens,
                    l.cached_input_tokens,
                    l.cache_write_tokens,
                    l.cache_write_1h_tokens,
                    l.output_tokens,
                    l.requests,
                    l.web_search_calls,
                    source,
                    now_ms,
                ])?;
            }
        }
        tx.commit()?;
        Ok(outcome)
    }

    pub(super) fn report_lines_impl(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<ProviderLine>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {LINE_COLUMNS} FROM provider_report_lines
             WHERE day_ms >= ?1 AND day_ms < ?2
             ORDER BY day_ms, provider, kind, model, line"
        ))?;
        let rows = stmt.query_map(params![from_ms, to_ms], line_of)?;
        rows.map(|r| {
            let (mut line, kind) = r?;
            line.kind = ReportKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("report line kind '{kind}'")))?;
            Ok(line)
        })
        .collect()
    }
}

const ADJUSTMENT_COLUMNS: &str = "run_id, event_id, ts_ms, team, consumer_group, user_id,
    workflow, api, provider, lane, model_served, outcome, cache, premium, premium_approved,
    delta_nanos, cost_after_nanos, priced_by";

fn adjustment_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<NewAdjustment> {
    Ok(NewAdjustment {
        run_id: r.get(0)?,
        event_id: r.get(1)?,
        ts_ms: r.get(2)?,
        team: r.get(3)?,
        consumer_group: r.get(4)?,
        user: r.get(5)?,
        workflow: r.get(6)?,
        api: r.get(7)?,
        provider: r.get(8)?,
        lane: r.get(9)?,
        model_served: r.get(10)?,
        outcome: r.get(11)?,
        cache: r.get(12)?,
        premium: r.get(13)?,
        premium_approved: r.get(14)?,
        delta_nanos: r.get(15)?,
        cost_after_nanos: r.get(16)?,
        priced_by: r.get(17)?,
    })
}

/// Every stored adjustment as the rollups see it (for rebuilding the daily rollups).
pub(super) fn adjustment_events(tx: &Transaction<'_>) -> Result<Vec<CostEvent>, StoreError> {
    let mut stmt = tx.prepare(&format!(
        "SELECT {ADJUSTMENT_COLUMNS} FROM cost_adjustments"
    ))?;
    let rows = stmt.query_map([], adjustment_of)?;
    rows.map(|r| adjustment_event(&r?)).collect()
}

impl SqliteStore {
    pub(super) fn record_adjustments_impl(
        &self,
        adjustments: &[NewAdjustment],
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut insert = tx.prepare_cached(&format!(
                "INSERT INTO cost_adjustments ({ADJUSTMENT_COLUMNS}, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)"
            ))?;
            for a in adjustments {
                insert.execute(params![
                    a.run_id,
                    a.event_id,
                    a.ts_ms,
                    a.team,
                    a.consumer_group,
                    a.user,
                    a.workflow,
                    a.api,
                    a.provider,
                    a.lane,
                    a.model_served,
                    a.outcome,
                    a.cache,
                    a.premium,
                    a.premium_approved,
                    a.delta_nanos,
                    a.cost_after_nanos,
                    a.priced_by,
                    now_ms,
                ])?;
            }
        }
        let events = adjustments
            .iter()
            .map(adjustment_event)
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&CostEvent> = events.iter().collect();
        super::fold::add_adjustments(&tx, &refs)?;
        tx.commit()?;
        Ok(adjustments.len())
    }

    pub(super) fn adjustments_impl(
        &self,
        from_ms: i64,
        to_ms: i64,
        team: Option<&str>,
    ) -> Result<Vec<Adjustment>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {ADJUSTMENT_COLUMNS}, id, created_ms FROM cost_adjustments
             WHERE ts_ms >= ?1 AND ts_ms < ?2 AND (?3 IS NULL OR team = ?3)
             ORDER BY ts_ms, id"
        ))?;
        let rows = stmt.query_map(params![from_ms, to_ms, team], |r| {
            Ok(Adjustment {
                adjustment: adjustment_of(r)?,
                id: r.get(18)?,
                created_ms: r.get(19)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
