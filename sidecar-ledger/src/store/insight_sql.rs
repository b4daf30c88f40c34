//! The SQL of a dashboard read ([`InsightQuery`]) for SQLite and PostgreSQL: the
//! smallest daily rollup that holds what the query groups and filters by, summed and
//! ordered by cost descending, then by the keys.

use super::insights::{InsightDim, InsightQuery};
use super::spend_sql::{Arg, Dialect};

/// The rollup that answers `q` (which must be [`InsightQuery::answerable`]).
pub fn table(q: &InsightQuery) -> &'static str {
    if q.needs_users() {
        "rollup_daily_user"
    } else if q.workflow.is_none() && !q.group_by.contains(&InsightDim::Workflow) {
        "rollup_daily_coarse"
    } else {
        "rollup_daily"
    }
}

// Boolean tests written so both backends read them: SQLite stores the flags as 0/1
// integers, PostgreSQL as booleans.
const PREMIUM_CLASS: &str = "CASE WHEN NOT premium THEN 'standard' \
     WHEN premium_approved THEN 'approved' ELSE 'unapproved' END";

fn dim_sql(d: InsightDim) -> &'static str {
    match d {
        InsightDim::Day => "day_ms",
        InsightDim::Team => "team",
        InsightDim::ConsumerGroup => "consumer_group",
        InsightDim::Workflow => "workflow",
        InsightDim::Provider => "provider",
        InsightDim::Lane => "lane",
        InsightDim::Model => "model_served",
        InsightDim::Cache => "cache",
        InsightDim::Premium => PREMIUM_CLASS,
        InsightDim::User => "user_id",
    }
}

/// The statement and its parameters. Columns: the keys in `group_by` order, the number
/// of rollup rows summed (0: no data), then the seven sums in [`super::Sums`] order.
pub fn insight_sql(q: &InsightQuery, dialect: Dialect) -> (String, Vec<Arg>) {
    let mark = |i: usize| match dialect {
        Dialect::Sqlite => format!("?{i}"),
        Dialect::Postgres => format!("${i}"),
    };
    let sum = |column: &str| match dialect {
        Dialect::Sqlite => format!("SUM({column})"),
        // SUM(BIGINT) is NUMERIC: the cast back errors on overflow.
        Dialect::Postgres => format!("SUM({column})::BIGINT"),
    };
    let mut sql = String::from("SELECT ");
    for (i, d) in q.group_by.iter().enumerate() {
        sql.push_str(&format!("{} AS k{i}, ", dim_sql(*d)));
    }
    sql.push_str(&format!(
        "COUNT(*), {}, {}, {}, {}, {}, {} AS cost, {} FROM {} WHERE day_ms >= {} AND day_ms < {}",
        sum("requests"),
        sum("input_tokens"),
        sum("cached_input_tokens"),
        sum("cache_write_tokens"),
        sum("output_tokens"),
        sum("cost_nanos"),
        sum("cost_avoided_nanos"),
        table(q),
        mark(1),
        mark(2)
    ));
    let mut args = vec![Arg::Int(q.from_ms), Arg::Int(q.to_ms)];
    for (column, value) in [("team", &q.team), ("workflow", &q.workflow)] {
        if let Some(v) = value {
            args.push(Arg::Text(v.clone()));
            sql.push_str(&format!(" AND {column} = {}", mark(args.len())));
        }
    }
    if q.drift_only {
        sql.push_str(" AND premium AND NOT premium_approved");
    }
    let n = q.group_by.len();
    if n > 0 {
        let keys: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
        sql.push_str(&format!(" GROUP BY {}", keys.join(", ")));
        sql.push_str(&format!(" ORDER BY cost DESC, {}", keys.join(", ")));
    }
    (sql, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_rollup_holding_the_query_is_read() {
        let q = |group_by: Vec<InsightDim>, workflow: Option<&str>| InsightQuery {
            group_by,
            workflow: workflow.map(str::to_string),
            ..Default::default()
        };
        assert_eq!(
            table(&q(vec![InsightDim::Day, InsightDim::Premium], None)),
            "rollup_daily_coarse"
        );
        assert_eq!(
            table(&q(vec![InsightDim::ConsumerGroup], None)),
            "rollup_daily_coarse"
        );
        assert_eq!(table(&q(vec![InsightDim::Lane], Some("w"))), "rollup_daily");
        assert_eq!(table(&q(vec![InsightDim::Workflow], None)), "rollup_daily");
        assert_eq!(table(&q(vec![InsightDim::User], None)), "rollup_daily_user");
    }

    #[test]
    fn filters_are_bound_and_drift_is_a_condition() {
        let q = InsightQuery {
            from_ms: 10,
            to_ms: 20,
            team: Some("t".into()),
            workflow: None,
            drift_only: true,
            group_by: vec![InsightDim::Workflow],
        };
        let (sql, args) = insight_sql(&q, Dialect::Postgres);
        assert_eq!(
            args,
            vec![Arg::Int(10), Arg::Int(20), Arg::Text("t".into())]
        );
        assert!(sql.contains(
            "FROM rollup_daily WHERE day_ms >= $1 AND day_ms < $2 AND team = $3 \
             AND premium AND NOT premium_approved GROUP BY k0 ORDER BY cost DESC, k0"
        ));
        assert!(sql.contains("SUM(cost_nanos)::BIGINT AS cost"));
        let (sql, _) = insight_sql(&q, Dialect::Sqlite);
        assert!(sql.contains("team = ?3") && sql.contains("SUM(cost_nanos) AS cost"));
    }
}
