//! The export reads on PostgreSQL: events in keyset pages, and rollup hours summed per
//! UTC day or calendar month. Both hand rows to a sink one at a time, so an export of
//! any length runs in constant memory.

use std::ops::ControlFlow;

use postgres::fallible_iterator::FallibleIterator;
use tollgate_core::event::CostEvent;

use super::db::PgStore;
use super::events::{event_from_row, EVENT_COLUMNS};
use super::sql_args::{arg_refs, push_filters, sums_from, unmatchable, Args, SUM_COLUMNS};
use crate::store::error::StoreError;
use crate::store::event_text;
use crate::store::export::{
    BillingExtras, ExportScope, Period, PeriodExtrasRow, PeriodRow, PeriodSource,
};

/// Events read per page; each page is its own short query.
pub(super) const EVENT_PAGE: usize = 500;

/// The SQL expression of a row's period: the label of its first day (day labels are
/// UTC midnights of local dates, so a month starts where UTC's would).
fn period_sql(period: Period, source: &PeriodSource) -> String {
    let day = &source.day_sql;
    match period {
        Period::Day => day.clone(),
        // `AT TIME ZONE 'UTC'` turns the label into a UTC wall-clock timestamp, so the
        // month is the label's whatever the session's TimeZone; EXTRACT(EPOCH) of a
        // timestamp without time zone reads it as UTC again.
        Period::Month => format!(
            "(EXTRACT(EPOCH FROM date_trunc('month',
                to_timestamp(({day}) / 1000) AT TIME ZONE 'UTC')) * 1000)::BIGINT"
        ),
    }
}

/// `''` in a rollup key column means "absent".
fn optional(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

impl PgStore {
    pub(super) fn for_each_event_impl(
        &self,
        scope: &ExportScope,
        sink: &mut dyn FnMut(CostEvent) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        if unmatchable(&scope.filters) {
            return Ok(());
        }
        // Keyset pagination on (ts_ms, seq), served by the (ts_ms, seq) indexes: every
        // page is an index range scan starting at the cursor, however deep.
        let mut sql = format!(
            "SELECT {EVENT_COLUMNS}, seq FROM events
             WHERE (ts_ms, seq) > ($1, $3) AND ts_ms < $2"
        );
        let mut filters: Args = vec![
            Box::new(scope.from_ms),
            Box::new(scope.to_ms),
            Box::new(i64::MIN),
        ];
        push_filters(&mut sql, &mut filters, &scope.filters);
        filters.push(Box::new(EVENT_PAGE as i64));
        sql.push_str(&format!(" ORDER BY ts_ms, seq LIMIT ${}", filters.len()));
        // `seq` follows the event columns.
        let seq_column = EVENT_COLUMNS.split(',').count();

        let mut cursor = (scope.from_ms, i64::MIN);
        loop {
            filters[0] = Box::new(cursor.0);
            filters[2] = Box::new(cursor.1);
            // The page is read whole and the connection returned before the sink runs:
            // a slow consumer holds no database resources.
            let page = {
                let rows = self.conn()?.query(&sql, &arg_refs(&filters))?;
                rows.iter()
                    .map(|r| Ok((r.try_get::<_, i64>(seq_column)?, event_from_row(r)?)))
                    .collect::<Result<Vec<_>, StoreError>>()?
            };
            let full = page.len() == EVENT_PAGE;
            for (seq, event) in page {
                cursor = (event.ts_ms, seq);
                if sink(event).is_break() {
                    return Ok(());
                }
            }
            if !full {
                return Ok(());
            }
        }
    }

    pub(super) fn for_each_period_row_impl(
        &self,
        scope: &ExportScope,
        period: Period,
        by_cache: bool,
        sink: &mut dyn FnMut(PeriodRow) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        if unmatchable(&scope.filters) {
            return Ok(());
        }
        let key = if by_cache {
            "p, team, consumer_group, provider, lane, model_served, cache"
        } else {
            "p, team, consumer_group, provider, lane, model_served"
        };
        let source = scope.period_source();
        let mut sql = format!(
            "SELECT {} AS p, team, consumer_group, provider, lane, model_served, {},
                    {SUM_COLUMNS}
             FROM {} WHERE {time} >= $1 AND {time} < $2",
            period_sql(period, &source),
            if by_cache { "cache" } else { "''::TEXT" },
            source.table,
            time = source.time_column,
        );
        let mut args: Args = vec![Box::new(source.from), Box::new(source.to)];
        push_filters(&mut sql, &mut args, &scope.filters);
        sql.push_str(&format!(" GROUP BY {key} ORDER BY {key}"));

        // Rows stream from the server as the sink takes them; this side holds one at
        // a time.
        let mut conn = self.conn()?;
        let mut rows = conn.query_raw(&sql, arg_refs(&args))?;
        while let Some(r) = rows.next()? {
            let cache: String = r.try_get(6)?;
            let row = PeriodRow {
                period_ms: r.try_get(0)?,
                team: r.try_get(1)?,
                consumer_group: r.try_get(2)?,
                provider: optional(r.try_get(3)?),
                lane: optional(r.try_get(4)?),
                model: r.try_get(5)?,
                cache: if by_cache {
                    Some(event_text::cache_from(&cache)?)
                } else {
                    None
                },
                sums: sums_from(&r, 7)?,
            };
            if sink(row).is_break() {
                break;
            }
        }
        Ok(())
    }

    pub(super) fn period_billing_extras_impl(
        &self,
        scope: &ExportScope,
        period: Period,
    ) -> Result<Vec<PeriodExtrasRow>, StoreError> {
        if unmatchable(&scope.filters) {
            return Ok(Vec::new());
        }
        let key = "p, team, consumer_group, provider_key, lane_key, model_served, cache";
        let mut sql = format!(
            "SELECT {} AS p, team, consumer_group, COALESCE(provider, '') AS provider_key,
                    COALESCE(lane, '') AS lane_key, model_served, cache,
                    SUM(cache_write_1h_tokens)::BIGINT, SUM(web_search_calls)::BIGINT,
                    SUM(tool_cost_nanos)::BIGINT
             FROM events WHERE ts_ms >= $1 AND ts_ms < $2
              AND (cache_write_1h_tokens > 0 OR web_search_calls > 0 OR tool_cost_nanos <> 0)",
            period_sql(period, &scope.events_period_source()),
        );
        let mut args: Args = vec![Box::new(scope.from_ms), Box::new(scope.to_ms)];
        push_filters(&mut sql, &mut args, &scope.filters);
        sql.push_str(&format!(" GROUP BY {key} ORDER BY {key}"));
        self.conn()?
            .query(&sql, &arg_refs(&args))?
            .iter()
            .map(|r| {
                Ok(PeriodExtrasRow {
                    period_ms: r.try_get(0)?,
                    team: r.try_get(1)?,
                    consumer_group: r.try_get(2)?,
                    provider: optional(r.try_get(3)?),
                    lane: optional(r.try_get(4)?),
                    model: r.try_get(5)?,
                    cache: event_text::cache_from(r.try_get(6)?)?,
                    extras: BillingExtras {
                        cache_write_1h_tokens: r.try_get(7)?,
                        web_search_calls: r.try_get(8)?,
                        tool_cost_nanos: r.try_get(9)?,
                    },
                })
            })
            .collect()
    }

    pub(super) fn premium_lanes_impl(
        &self,
        scope: &ExportScope,
    ) -> Result<Vec<String>, StoreError> {
        if unmatchable(&scope.filters) {
            return Ok(Vec::new());
        }
        let mut sql = String::from(
            "SELECT DISTINCT lane FROM events
             WHERE premium AND lane IS NOT NULL AND ts_ms >= $1 AND ts_ms < $2",
        );
        let mut args: Args = vec![Box::new(scope.from_ms), Box::new(scope.to_ms)];
        push_filters(&mut sql, &mut args, &scope.filters);
        sql.push_str(" ORDER BY lane");
        self.conn()?
            .query(&sql, &arg_refs(&args))?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
    }
}
