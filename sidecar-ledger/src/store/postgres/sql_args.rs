//! Query arguments and summed result columns on PostgreSQL: filters as `$n`
//! parameters, the portable arguments of the shared SQL builders, `SUM` columns read
//! back as BIGINT.

use postgres::types::ToSql;
use postgres::Row;

use crate::query::Filters;
use crate::store::error::StoreError;
use crate::store::types::Sums;

/// Positional query parameters built at run time.
pub(super) type Args = Vec<Box<dyn ToSql + Sync + Send>>;

/// PostgreSQL text cannot hold U+0000 (SQLite's can).
pub(super) fn has_nul(s: &str) -> bool {
    s.contains('\0')
}

/// A filter value with U+0000 matches nothing stored (no stored text has one).
pub(super) fn unmatchable(f: &Filters) -> bool {
    [&f.team, &f.consumer_group, &f.provider, &f.lane, &f.model]
        .into_iter()
        .flatten()
        .any(|v| has_nul(v))
}

/// Appends `AND column = $n` for each filter set; the values go to `args`. Column
/// names are the same in `events` and `rollup_hourly`.
pub(super) fn push_filters(sql: &mut String, args: &mut Args, f: &Filters) {
    for (column, value) in [
        ("team", &f.team),
        ("consumer_group", &f.consumer_group),
        ("provider", &f.provider),
        ("lane", &f.lane),
        ("model_served", &f.model),
    ] {
        if let Some(v) = value {
            args.push(Box::new(v.clone()));
            sql.push_str(&format!(" AND {column} = ${}", args.len()));
        }
    }
}

/// The portable query arguments of `spend_sql`/`insight_sql` as PostgreSQL parameters.
pub(super) fn pg_args(args: Vec<crate::store::spend_sql::Arg>) -> Args {
    args.into_iter()
        .map(|a| -> Box<dyn ToSql + Sync + Send> {
            match a {
                crate::store::spend_sql::Arg::Int(v) => Box::new(v),
                crate::store::spend_sql::Arg::Text(v) => Box::new(v),
            }
        })
        .collect()
}

pub(super) fn arg_refs(args: &Args) -> Vec<&(dyn ToSql + Sync)> {
    args.iter()
        .map(|a| a.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// A stored SUM: NULL (no rows) reads as 0.
pub(super) fn sum_col(r: &Row, i: usize) -> Result<i64, StoreError> {
    Ok(r.try_get::<_, Option<i64>>(i)?.unwrap_or(0))
}

pub(super) fn sums_from(r: &Row, first: usize) -> Result<Sums, StoreError> {
    Ok(Sums {
        requests: sum_col(r, first)?,
        input_tokens: sum_col(r, first + 1)?,
        cached_input_tokens: sum_col(r, first + 2)?,
        cache_write_tokens: sum_col(r, first + 3)?,
        output_tokens: sum_col(r, first + 4)?,
        cost_nanos: sum_col(r, first + 5)?,
        cost_avoided_nanos: sum_col(r, first + 6)?,
    })
}

/// The seven additive columns summed, each cast back to BIGINT (an error on
/// overflow, never a wrapped total).
pub(super) const SUM_COLUMNS: &str = "SUM(requests)::BIGINT, SUM(input_tokens)::BIGINT,
    SUM(cached_input_tokens)::BIGINT, SUM(cache_write_tokens)::BIGINT,
    SUM(output_tokens)::BIGINT, SUM(cost_nanos)::BIGINT, SUM(cost_avoided_nanos)::BIGINT";
