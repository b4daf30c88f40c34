//! The providers' report lines on SQLite.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::db::SqliteStore;
use crate::store::error::StoreError;
use crate::store::reconciliation::{ImportOutcome, ProviderLine, ReportKind};

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
