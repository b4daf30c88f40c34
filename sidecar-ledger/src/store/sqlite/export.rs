//! The export reads on SQLite: events in keyset pages, and rollup hours summed per UTC
//! day or month. Both hand rows to a sink one at a time, so an export of any length
//! runs in constant memory.

use std::ops::ControlFlow;

use rusqlite::params_from_iter;
use rusqlite::types::Value;
use tollgate_core::event::CostEvent;

use super::db::SqliteStore;
use super::events::{event_from_row, push_filters, EVENT_COLUMNS};
use crate::store::error::StoreError;
use crate::store::event_text;
use crate::store::export::{
    BillingExtras, ExportScope, Period, PeriodExtrasRow, PeriodRow, PeriodSource,
};
use crate::store::types::Sums;

/// Events read per page. Each page is its own short read, so an export never holds
/// a read transaction open (which would keep SQLite from checkpointing the WAL).
pub(super) const EVENT_PAGE: usize = 500;

/// The SQL expression of a row's period: the label of its first day (day labels are
/// UTC midnights of local dates, so a month starts where UTC's would).
fn period_sql(period: Period, source: &PeriodSource) -> String {
    let day = &source.day_sql;
    match period {
        Period::Day => day.clone(),
        Period::Month => {
            format!("CAST(strftime('%s', ({day}) / 1000, 'unixepoch', 'start of month') AS INTEGER) * 1000")
        }
    }
}

/// `''` in a rollup key column means "absent".
fn optional(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

impl SqliteStore {
    pub(super) fn for_each_event_impl(
        &self,
        scope: &ExportScope,
        sink: &mut dyn FnMut(CostEvent) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        // Keyset pagination on (ts_ms, seq): `events_ts` (and `events_team_ts` with a
        // team filter) index ts_ms with the rowid (= seq) after it, so every page is an
        // index range scan starting at the cursor, however deep into the export.
        let mut sql = format!(
            "SELECT {EVENT_COLUMNS}, seq FROM events
             WHERE ts_ms >= ?1 AND ts_ms < ?2 AND (ts_ms > ?1 OR seq > ?3)"
        );
        let mut base = vec![
            Value::Integer(scope.from_ms),
            Value::Integer(scope.to_ms),
            Value::Integer(i64::MIN),
        ];
        push_filters(&mut sql, &mut base, &scope.filters);
        base.push(Value::Integer(EVENT_PAGE as i64));
        sql.push_str(&format!(" ORDER BY ts_ms, seq LIMIT ?{}", base.len()));
        // `seq` follows the event columns.
        let seq_column = EVENT_COLUMNS.split(',').count();

        let mut cursor = (scope.from_ms, i64::MIN);
        loop {
            let mut args = base.clone();
            args[0] = Value::Integer(cursor.0);
            args[2] = Value::Integer(cursor.1);
            // The page is read whole and the connection returned before the sink runs:
            // a slow consumer holds no database resources.
            let page = {
                let conn = self.reader()?;
                let mut stmt = conn.prepare_cached(&sql)?;
                let mut rows = stmt.query(params_from_iter(args))?;
                let mut page = Vec::with_capacity(EVENT_PAGE);
                while let Some(r) = rows.next()? {
                    let seq: i64 = r.get(seq_column)?;
                    page.push((seq, event_from_row(r)?));
                }
                page
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
        let key = if by_cache {
            "p, team, consumer_group, provider, lane, model_served, cache"
        } else {
            "p, team, consumer_group, provider, lane, model_served"
        };
        let source = scope.period_source();
        let mut sql = format!(
            "SELECT {} AS p, team, consumer_group, provider, lane, model_served, {},
                    SUM(requests), SUM(input_tokens), SUM(cached_input_tokens),
                    SUM(cache_write_tokens), SUM(output_tokens), SUM(cost_nanos),
                    SUM(cost_avoided_nanos)
             FROM {} WHERE {time} >= ?1 AND {time} < ?2",
            period_sql(period, &source),
            if by_cache { "cache" } else { "''" },
            source.table,
            time = source.time_column,
        );
        let mut args = vec![Value::Integer(source.from), Value::Integer(source.to)];
        push_filters(&mut sql, &mut args, &scope.filters);
        sql.push_str(&format!(" GROUP BY {key} ORDER BY {key}"));

        // One statement, stepped row by row: SQLite's sorter does the grouping (and
        // spills to temporary files if it must), this side holds one row at a time.
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        while let Some(r) = rows.next()? {
            let cache: String = r.get(6)?;
            let row = PeriodRow {
                period_ms: r.get(0)?,
                team: r.get(1)?,
                consumer_group: r.get(2)?,
                provider: optional(r.get(3)?),
                lane: optional(r.get(4)?),
                model: r.get(5)?,
                cache: if by_cache {
                    Some(event_text::cache_from(&cache)?)
                } else {
                    None
                },
                sums: Sums {
                    requests: r.get(7)?,
                    input_tokens: r.get(8)?,
                    cached_input_tokens: r.get(9)?,
                    cache_write_tokens: r.get(10)?,
                    output_tokens: r.get(11)?,
                    cost_nanos: r.get(12)?,
                    cost_avoided_nanos: r.get(13)?,
                },
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
        let key = "p, team, consumer_group, provider_key, lane_key, model_served, cache";
        let source = scope.events_period_source();
        let mut sql = format!(
            "SELECT {} AS p, team, consumer_group, COALESCE(provider, '') AS provider_key,
                    COALESCE(lane, '') AS lane_key, model_served, cache,
                    SUM(cache_write_1h_tokens), SUM(web_search_calls), SUM(tool_cost_nanos)
             FROM events WHERE ts_ms >= ?1 AND ts_ms < ?2
              AND (cache_write_1h_tokens > 0 OR web_search_calls > 0 OR tool_cost_nanos <> 0)",
            period_sql(period, &source),
        );
        let mut args = vec![Value::Integer(scope.from_ms), Value::Integer(scope.to_ms)];
        push_filters(&mut sql, &mut args, &scope.filters);
        sql.push_str(&format!(" GROUP BY {key} ORDER BY {key}"));
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(PeriodExtrasRow {
                period_ms: r.get(0)?,
                team: r.get(1)?,
                consumer_group: r.get(2)?,
                provider: optional(r.get(3)?),
                lane: optional(r.get(4)?),
                model: r.get(5)?,
                cache: event_text::cache_from(&r.get::<_, String>(6)?)?,
                extras: BillingExtras {
                    cache_write_1h_tokens: r.get(7)?,
                    web_search_calls: r.get(8)?,
                    tool_cost_nanos: r.get(9)?,
                },
            });
        }
        Ok(out)
    }

    pub(super) fn premium_lanes_impl(
        &self,
        scope: &ExportScope,
    ) -> Result<Vec<String>, StoreError> {
        let mut sql = String::from(
            "SELECT DISTINCT lane FROM events
             WHERE premium = 1 AND lane IS NOT NULL AND ts_ms >= ?1 AND ts_ms < ?2",
        );
        let mut args = vec![Value::Integer(scope.from_ms), Value::Integer(scope.to_ms)];
        push_filters(&mut sql, &mut args, &scope.filters);
        sql.push_str(" ORDER BY lane");
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let lanes = stmt
            .query_map(params_from_iter(args), |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(lanes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{Filters, DAY_MS, HOUR_MS};
    use crate::store::backend::Store;
    use crate::test_util::{batch, event, TempDir};

    const H0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z

    fn store_with(events: Vec<CostEvent>) -> (TempDir, SqliteStore) {
        let dir = TempDir::new();
        let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
        store.ingest(&batch(events)).unwrap();
        (dir, store)
    }

    fn scope(from_ms: i64, to_ms: i64) -> ExportScope {
        ExportScope {
            from_ms,
            to_ms,
            filters: Filters::default(),
            calendar: Default::default(),
        }
    }

    #[test]
    fn events_page_in_time_then_arrival_order_across_equal_timestamps() {
        // 3 pages' worth, many sharing a timestamp, arriving out of time order.
        let n = EVENT_PAGE * 2 + 7;
        let events: Vec<CostEvent> = (0..n)
            .rev()
            .map(|i| event(&format!("e{i:05}"), H0 + (i / 300) as i64, "team_a", 1))
            .collect();
        let (_dir, store) = store_with(events.clone());
        let mut seen = Vec::new();
        store
            .for_each_event(&scope(H0, H0 + HOUR_MS), &mut |e| {
                seen.push(e);
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(seen.len(), n);
        // Sorted by time; among equal times, by arrival (the input was in reverse).
        let mut expected = events;
        expected.sort_by_key(|e| e.ts_ms);
        assert_eq!(
            seen.iter().map(|e| &e.id).collect::<Vec<_>>(),
            expected.iter().map(|e| &e.id).collect::<Vec<_>>()
        );

        // The range is half-open and a break stops early.
        let mut count = 0;
        store
            .for_each_event(&scope(H0 + 1, H0 + 2), &mut |e| {
                assert_eq!(e.ts_ms, H0 + 1);
                count += 1;
                if count == 10 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
        assert_eq!(count, 10);
    }

    #[test]
    fn rollups_sum_per_utc_day_and_calendar_month() {
        let oct31 = H0 - HOUR_MS; // 2026-10-31T23:00Z
        let mut hit = event("c", H0 + 25 * HOUR_MS, "team_a", 0);
        hit.cache = tollgate_core::event::CacheStatus::Hit;
        hit.cost_avoided_nanos = 9;
        let (_dir, store) = store_with(vec![
            event("a", oct31 + 5, "team_a", 3),
            event("b", H0 + 5, "team_a", 4),
            hit,
            event("d", H0 + 26 * HOUR_MS, "team_a", 5),
        ]);
        let collect = |period, by_cache| {
            let mut rows = Vec::new();
            store
                .for_each_period_row(&scope(0, H0 + 40 * DAY_MS), period, by_cache, &mut |r| {
                    rows.push(r);
                    ControlFlow::Continue(())
                })
                .unwrap();
            rows
        };
        let days = collect(Period::Day, false);
        let summary: Vec<(i64, i64, i64)> = days
            .iter()
            .map(|r| (r.period_ms, r.sums.requests, r.sums.cost_nanos))
            .collect();
        assert_eq!(
            summary,
            vec![(H0 - DAY_MS, 1, 3), (H0, 1, 4), (H0 + DAY_MS, 2, 5)]
        );
        assert_eq!(days[0].provider.as_deref(), Some("openai"));
        assert!(days.iter().all(|r| r.cache.is_none()));

        let months = collect(Period::Month, false);
        let oct1 = 1_790_812_800_000; // 2026-10-01T00:00:00Z
        let summary: Vec<(i64, i64)> = months
            .iter()
            .map(|r| (r.period_ms, r.sums.cost_nanos))
            .collect();
        assert_eq!(summary, vec![(oct1, 3), (H0, 9)]);

        let by_cache = collect(Period::Month, true);
        assert_eq!(by_cache.len(), 3);
        let hit_row = by_cache
            .iter()
            .find(|r| r.cache == Some(tollgate_core::event::CacheStatus::Hit))
            .unwrap();
        assert_eq!(hit_row.sums.cost_avoided_nanos, 9);
    }

    #[test]
    fn premium_lanes_are_the_lanes_of_premium_events() {
        let mut p = event("p", H0 + 1, "team_a", 1);
        p.premium = true;
        p.lane = Some("openai-premium".into());
        let (_dir, store) = store_with(vec![p, event("n", H0 + 2, "team_a", 1)]);
        assert_eq!(
            store.premium_lanes(&scope(H0, H0 + HOUR_MS)).unwrap(),
            vec!["openai-premium".to_string()]
        );
        assert!(store
            .premium_lanes(&scope(H0 + HOUR_MS, H0 + 2 * HOUR_MS))
            .unwrap()
            .is_empty());
    }
}
