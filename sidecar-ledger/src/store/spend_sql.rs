//! The SQL of a `/v1/spend` plan ([`super::spend_plan`]), for SQLite and PostgreSQL:
//! one statement that reads each part's rollup over its range, then groups, sums and
//! orders the union, so totals are summed once by the database (an error on 64-bit
//! overflow on both backends) and rows come back as from a single table.

use super::spend_plan::{Grain, Part};
use crate::query::{Dim, SpendQuery};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A bound parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Int(i64),
    Text(String),
}

/// The rollup column of a text dimension (the same in every rollup).
pub fn text_column(d: Dim) -> &'static str {
    match d {
        Dim::Team => "team",
        Dim::ConsumerGroup => "consumer_group",
        Dim::User => "user_id",
        Dim::Workflow => "workflow",
        Dim::Provider => "provider",
        Dim::Lane => "lane",
        Dim::Model => "model_served",
        Dim::Api => "api",
        Dim::Outcome => "outcome",
        Dim::Cache => "cache",
        Dim::Hour => "hour_ms",
        Dim::Day => "day_ms",
    }
}

fn key_sql(d: Dim, part: &Part, q: &SpendQuery) -> String {
    match (d, part.rollup.grain) {
        // The label of the reporting calendar's day the hour starts in.
        (Dim::Day, Grain::Hour) => q
            .calendar
            .day_label_sql("hour_ms", part.from_ms, part.to_ms),
        (Dim::Day | Dim::Hour, _) => part.rollup.time_column().into(),
        (d, _) => text_column(d).into(),
    }
}

const SUMMED: [&str; 7] = [
    "requests",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "cost_nanos",
    "cost_avoided_nanos",
];

/// The statement and its parameters. Columns: the keys in `group_by` order, the number
/// of rollup rows summed (0: no data; the one row an ungrouped query always returns),
/// then the seven sums in [`super::Sums`] order. Ordered by cost descending, then by
/// the keys.
pub fn spend_sql(q: &SpendQuery, parts: &[Part], dialect: Dialect) -> (String, Vec<Arg>) {
    let mark = |i: usize| match dialect {
        Dialect::Sqlite => format!("?{i}"),
        Dialect::Postgres => format!("${i}"),
    };
    let mut args = Vec::new();
    let mut filters = String::new();
    for (dim, value) in [
        (Dim::Team, &q.filters.team),
        (Dim::ConsumerGroup, &q.filters.consumer_group),
        (Dim::Provider, &q.filters.provider),
        (Dim::Lane, &q.filters.lane),
        (Dim::Model, &q.filters.model),
    ] {
        if let Some(v) = value {
            args.push(Arg::Text(v.clone()));
            filters.push_str(&format!(" AND {} = {}", text_column(dim), mark(args.len())));
        }
    }
    let selects: Vec<String> = parts
        .iter()
        .map(|part| {
            let mut sql = String::from("SELECT ");
            for (i, d) in q.group_by.iter().enumerate() {
                sql.push_str(&format!("{} AS k{i}, ", key_sql(*d, part, q)));
            }
            sql.push_str(&SUMMED.join(", "));
            args.push(Arg::Int(part.from_ms));
            args.push(Arg::Int(part.to_ms));
            let time = part.rollup.time_column();
            sql.push_str(&format!(
                " FROM {} WHERE {time} >= {} AND {time} < {}{filters}",
                part.rollup.table,
                mark(args.len() - 1),
                mark(args.len())
            ));
            sql
        })
        .collect();

    let keys: Vec<String> = (0..q.group_by.len()).map(|i| format!("k{i}")).collect();
    let mut sql = String::from("SELECT ");
    for k in &keys {
        sql.push_str(k);
        sql.push_str(", ");
    }
    sql.push_str("COUNT(*)");
    for column in SUMMED {
        let alias = if column == "cost_nanos" {
            " AS cost"
        } else {
            ""
        };
        match dialect {
            Dialect::Sqlite => sql.push_str(&format!(", SUM({column}){alias}")),
            // SUM(BIGINT) is NUMERIC: the cast back errors on overflow.
            Dialect::Postgres => sql.push_str(&format!(", SUM({column})::BIGINT{alias}")),
        }
    }
    sql.push_str(&format!(" FROM ({}) AS parts", selects.join(" UNION ALL ")));
    if !keys.is_empty() {
        sql.push_str(&format!(" GROUP BY {}", keys.join(", ")));
    }
    sql.push_str(" ORDER BY cost DESC");
    for k in &keys {
        sql.push_str(", ");
        sql.push_str(k);
    }
    (sql, args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{Filters, DAY_MS, HOUR_MS};
    use crate::store::spend_plan::{plan, Rollups};

    const D0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z

    #[test]
    fn one_select_per_part_with_filters_bound_once() {
        let q = SpendQuery {
            group_by: vec![Dim::Day, Dim::Model],
            from_ms: D0 - HOUR_MS,
            to_ms: D0 + DAY_MS + HOUR_MS,
            filters: Filters {
                team: Some("t'; --".into()),
                ..Filters::default()
            },
            calendar: Default::default(),
        };
        let parts = plan(&q, Rollups::Coarsest);
        let (sql, args) = spend_sql(&q, &parts, Dialect::Postgres);
        assert_eq!(
            args,
            vec![
                Arg::Text("t'; --".into()),
                Arg::Int(D0 - HOUR_MS),
                Arg::Int(D0),
                Arg::Int(D0),
                Arg::Int(D0 + DAY_MS),
                Arg::Int(D0 + DAY_MS),
                Arg::Int(D0 + DAY_MS + HOUR_MS),
            ]
        );
        assert_eq!(sql.matches(" UNION ALL ").count(), 2);
        assert_eq!(sql.matches("team = $1").count(), 3);
        assert!(sql.contains(
            "SELECT day_ms AS k0, model_served AS k1, requests, input_tokens, \
             cached_input_tokens, cache_write_tokens, output_tokens, cost_nanos, \
             cost_avoided_nanos FROM rollup_daily_coarse WHERE day_ms >= $4 AND day_ms < $5 \
             AND team = $1"
        ));
        assert!(sql.contains("(hour_ms / 86400000) * 86400000 AS k0"));
        assert!(sql.contains("SUM(cost_nanos)::BIGINT AS cost"));
        assert!(sql.ends_with(") AS parts GROUP BY k0, k1 ORDER BY cost DESC, k0, k1"));

        let (sql, _) = spend_sql(&q, &parts, Dialect::Sqlite);
        assert!(sql.contains("team = ?1") && sql.contains("day_ms < ?5"));
        assert!(sql.contains("SUM(cost_nanos) AS cost"));
    }

    #[test]
    fn an_ungrouped_query_has_no_group_by() {
        let q = SpendQuery {
            group_by: vec![],
            from_ms: D0,
            to_ms: D0 + HOUR_MS,
            filters: Filters::default(),
            calendar: Default::default(),
        };
        let (sql, args) = spend_sql(&q, &plan(&q, Rollups::FineOnly), Dialect::Sqlite);
        assert_eq!(args, vec![Arg::Int(D0), Arg::Int(D0 + HOUR_MS)]);
        assert!(!sql.contains("GROUP BY"));
        assert!(sql.contains("FROM rollup_hourly WHERE hour_ms >= ?1 AND hour_ms < ?2"));
    }
}
