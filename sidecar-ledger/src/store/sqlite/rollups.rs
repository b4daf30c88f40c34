//! Adds a batch's derived rollups ([`crate::store::rollup_deltas`]) on SQLite, inside the ingest
//! transaction: one upsert per rollup row the batch touches.

use rusqlite::types::ToSql;
use rusqlite::{params_from_iter, Transaction};

use crate::store::error::StoreError;
use crate::store::rollup_deltas::Derived;
use crate::store::types::Sums;

/// `INSERT ... ON CONFLICT DO UPDATE` adding the seven sums to `table`'s row with the
/// given key columns.
fn upsert_sql(table: &str, key: &[&str]) -> String {
    const SUMS: [&str; 7] = [
        "requests",
        "input_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "output_tokens",
        "cost_nanos",
        "cost_avoided_nanos",
    ];
    let columns: Vec<&str> = key.iter().chain(SUMS.iter()).copied().collect();
    let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let updates: Vec<String> = SUMS
        .iter()
        .map(|c| format!("{c} = {c} + excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}",
        columns.join(", "),
        marks.join(", "),
        key.join(", "),
        updates.join(", ")
    )
}

const DAILY_KEY: [&str; 10] = [
    "day_ms",
    "team",
    "consumer_group",
    "workflow",
    "provider",
    "lane",
    "model_served",
    "cache",
    "premium",
    "premium_approved",
];
const DAILY_USER_KEY: [&str; 4] = ["day_ms", "team", "consumer_group", "user_id"];
const HOURLY_COARSE_KEY: [&str; 9] = [
    "hour_ms",
    "team",
    "consumer_group",
    "provider",
    "lane",
    "model_served",
    "api",
    "outcome",
    "cache",
];
const DAILY_COARSE_KEY: [&str; 11] = [
    "day_ms",
    "team",
    "consumer_group",
    "provider",
    "lane",
    "model_served",
    "api",
    "outcome",
    "cache",
    "premium",
    "premium_approved",
];

fn upsert_all<'k, K: 'k>(
    tx: &Transaction<'_>,
    table: &str,
    key_columns: &[&str],
    rows: impl Iterator<Item = (&'k K, &'k Sums)>,
    key_params: impl Fn(&'k K) -> Vec<&'k dyn ToSql>,
) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(&upsert_sql(table, key_columns))?;
    for (k, s) in rows {
        let mut params = key_params(k);
        params.extend([
            &s.requests as &dyn ToSql,
            &s.input_tokens,
            &s.cached_input_tokens,
            &s.cache_write_tokens,
            &s.output_tokens,
            &s.cost_nanos,
            &s.cost_avoided_nanos,
        ]);
        stmt.execute(params_from_iter(params))?;
    }
    Ok(())
}

/// Adds events' deltas to every derived rollup (those `d` has rows for).
pub(super) fn add(tx: &Transaction<'_>, d: &Derived<'_>) -> Result<(), StoreError> {
    upsert_all(tx, "rollup_daily", &DAILY_KEY, d.daily.iter(), |k| {
        vec![
            &k.day_ms,
            &k.team,
            &k.consumer_group,
            &k.workflow,
            &k.provider,
            &k.lane,
            &k.model_served,
            &k.cache,
            &k.premium,
            &k.premium_approved,
        ]
    })?;
    upsert_all(
        tx,
        "rollup_daily_user",
        &DAILY_USER_KEY,
        d.daily_user.iter(),
        |k| vec![&k.day_ms, &k.team, &k.consumer_group, &k.user],
    )?;
    upsert_all(
        tx,
        "rollup_hourly_coarse",
        &HOURLY_COARSE_KEY,
        d.hourly_coarse.iter(),
        |k| {
            vec![
                &k.hour_ms,
                &k.team,
                &k.consumer_group,
                &k.provider,
                &k.lane,
                &k.model_served,
                &k.api,
                &k.outcome,
                &k.cache,
            ]
        },
    )?;
    upsert_all(
        tx,
        "rollup_daily_coarse",
        &DAILY_COARSE_KEY,
        d.daily_coarse.iter(),
        |k| {
            vec![
                &k.day_ms,
                &k.team,
                &k.consumer_group,
                &k.provider,
                &k.lane,
                &k.model_served,
                &k.api,
                &k.outcome,
                &k.cache,
                &k.premium,
                &k.premium_approved,
            ]
        },
    )?;
    Ok(())
}
