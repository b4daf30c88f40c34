//! The providers' report lines on PostgreSQL.

use super::db::PgStore;
use super::sql_args::has_nul;
use crate::store::error::StoreError;
use crate::store::reconciliation::{ImportOutcome, ProviderLine, ReportKind};

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
        if lines
            .iter()
            .any(|l| has_nul(&l.provider) || has_nul(&l.model) || has_nul(&l.line) || has_nul(&l.currency))
            || has_nul(source)
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
