//! Adds events' derived rollups ([`crate::store::rollup_deltas`]) on PostgreSQL, inside a fold's
//! transaction ([`super::fold`]): one `UNNEST` upsert per table, rows in key
//! order, tables always in the same order. BIGINT additions error on overflow instead
//! of wrapping.

use postgres::types::ToSql;
use postgres::Transaction;

use crate::store::error::StoreError;
use crate::store::rollup_deltas::Derived;
use crate::store::types::Sums;

const SUMS: [&str; 7] = [
    "requests",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "cost_nanos",
    "cost_avoided_nanos",
];

/// The upsert of `table` from one array parameter per column: the key columns (name,
/// element type) then the seven sums.
fn upsert_sql(table: &str, key: &[(&str, &str)]) -> String {
    let columns: Vec<&str> = key
        .iter()
        .map(|(c, _)| *c)
        .chain(SUMS.iter().copied())
        .collect();
    let arrays: Vec<String> = key
        .iter()
        .map(|(_, t)| *t)
        .chain(std::iter::repeat_n("bigint", SUMS.len()))
        .enumerate()
        .map(|(i, t)| format!("${}::{t}[]", i + 1))
        .collect();
    let updates: Vec<String> = SUMS
        .iter()
        .map(|c| format!("{c} = r.{c} + excluded.{c}"))
        .collect();
    let key_names: Vec<&str> = key.iter().map(|(c, _)| *c).collect();
    format!(
        "INSERT INTO {table} AS r ({cols}) SELECT {cols} FROM UNNEST({arrays})
             WITH ORDINALITY AS t ({cols}, ord)
         ORDER BY ord
         ON CONFLICT ({key}) DO UPDATE SET {updates}",
        cols = columns.join(", "),
        arrays = arrays.join(", "),
        key = key_names.join(", "),
        updates = updates.join(", ")
    )
}

type Column = Box<dyn ToSql + Sync>;

/// The seven sums as column arrays.
fn sum_columns<'s>(sums: impl Iterator<Item = &'s Sums> + Clone) -> Vec<Column> {
    let column =
        |f: fn(&Sums) -> i64| -> Column { Box::new(sums.clone().map(f).collect::<Vec<i64>>()) };
    vec![
        column(|s| s.requests),
        column(|s| s.input_tokens),
        column(|s| s.cached_input_tokens),
        column(|s| s.cache_write_tokens),
        column(|s| s.output_tokens),
        column(|s| s.cost_nanos),
        column(|s| s.cost_avoided_nanos),
    ]
}

fn texts<'k, K: 'k>(keys: impl Iterator<Item = &'k K>, f: fn(&K) -> &str) -> Column {
    Box::new(keys.map(|k| f(k).to_string()).collect::<Vec<String>>())
}

fn ints<'k, K: 'k>(keys: impl Iterator<Item = &'k K>, f: fn(&K) -> i64) -> Column {
    Box::new(keys.map(f).collect::<Vec<i64>>())
}

fn bools<'k, K: 'k>(keys: impl Iterator<Item = &'k K>, f: fn(&K) -> bool) -> Column {
    Box::new(keys.map(f).collect::<Vec<bool>>())
}

fn run(
    tx: &mut Transaction<'_>,
    table: &str,
    key: &[(&str, &str)],
    mut columns: Vec<Column>,
    sums: Vec<Column>,
) -> Result<(), StoreError> {
    columns.extend(sums);
    let params: Vec<&(dyn ToSql + Sync)> = columns.iter().map(|c| c.as_ref()).collect();
    tx.execute(&upsert_sql(table, key), &params)?;
    Ok(())
}

/// Adds events' deltas to every derived rollup (those `d` has rows for).
pub(super) fn add(tx: &mut Transaction<'_>, d: &Derived<'_>) -> Result<(), StoreError> {
    let keys = || d.daily.keys();
    run(
        tx,
        "rollup_daily",
        &[
            ("day_ms", "bigint"),
            ("team", "text"),
            ("consumer_group", "text"),
            ("workflow", "text"),
            ("provider", "text"),
            ("lane", "text"),
            ("model_served", "text"),
            ("cache", "text"),
            ("premium", "boolean"),
            ("premium_approved", "boolean"),
        ],
        vec![
            ints(keys(), |k| k.day_ms),
            texts(keys(), |k| k.team),
            texts(keys(), |k| k.consumer_group),
            texts(keys(), |k| k.workflow),
            texts(keys(), |k| k.provider),
            texts(keys(), |k| k.lane),
            texts(keys(), |k| k.model_served),
            texts(keys(), |k| k.cache),
            bools(keys(), |k| k.premium),
            bools(keys(), |k| k.premium_approved),
        ],
        sum_columns(d.daily.values()),
    )?;

    let keys = || d.daily_user.keys();
    run(
        tx,
        "rollup_daily_user",
        &[
            ("day_ms", "bigint"),
            ("team", "text"),
            ("consumer_group", "text"),
            ("user_id", "text"),
        ],
        vec![
            ints(keys(), |k| k.day_ms),
            texts(keys(), |k| k.team),
            texts(keys(), |k| k.consumer_group),
            texts(keys(), |k| k.user),
        ],
        sum_columns(d.daily_user.values()),
    )?;

    const COARSE: [(&str, &str); 8] = [
        ("team", "text"),
        ("consumer_group", "text"),
        ("provider", "text"),
        ("lane", "text"),
        ("model_served", "text"),
        ("api", "text"),
        ("outcome", "text"),
        ("cache", "text"),
    ];
    // Empty when only the daily rollups are rebuilt (a new reporting time zone).
    if !d.hourly_coarse.is_empty() {
        let keys = || d.hourly_coarse.keys();
        let mut key = vec![("hour_ms", "bigint")];
        key.extend(COARSE);
        run(
            tx,
            "rollup_hourly_coarse",
            &key,
            vec![
                ints(keys(), |k| k.hour_ms),
                texts(keys(), |k| k.team),
                texts(keys(), |k| k.consumer_group),
                texts(keys(), |k| k.provider),
                texts(keys(), |k| k.lane),
                texts(keys(), |k| k.model_served),
                texts(keys(), |k| k.api),
                texts(keys(), |k| k.outcome),
                texts(keys(), |k| k.cache),
            ],
            sum_columns(d.hourly_coarse.values()),
        )?;
    }

    let keys = || d.daily_coarse.keys();
    let mut key = vec![("day_ms", "bigint")];
    key.extend(COARSE);
    key.extend([("premium", "boolean"), ("premium_approved", "boolean")]);
    run(
        tx,
        "rollup_daily_coarse",
        &key,
        vec![
            ints(keys(), |k| k.day_ms),
            texts(keys(), |k| k.team),
            texts(keys(), |k| k.consumer_group),
            texts(keys(), |k| k.provider),
            texts(keys(), |k| k.lane),
            texts(keys(), |k| k.model_served),
            texts(keys(), |k| k.api),
            texts(keys(), |k| k.outcome),
            texts(keys(), |k| k.cache),
            bools(keys(), |k| k.premium),
            bools(keys(), |k| k.premium_approved),
        ],
        sum_columns(d.daily_coarse.values()),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upsert_adds_every_sum_on_conflict() {
        let sql = upsert_sql(
            "rollup_daily_user",
            &[("day_ms", "bigint"), ("user_id", "text")],
        );
        assert!(sql.starts_with(
            "INSERT INTO rollup_daily_user AS r (day_ms, user_id, requests, input_tokens,"
        ));
        assert!(sql.contains("UNNEST($1::bigint[], $2::text[], $3::bigint[],"));
        assert!(sql.contains("$9::bigint[])"));
        assert!(sql.contains("ON CONFLICT (day_ms, user_id) DO UPDATE SET requests = r.requests + excluded.requests,"));
        assert!(sql
            .ends_with("cost_avoided_nanos = r.cost_avoided_nanos + excluded.cost_avoided_nanos"));
    }
}
