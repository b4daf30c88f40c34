//! Near-repeat cache misses, on PostgreSQL (see
//! `store::cache_repeats`).

use super::db::PgStore;
use crate::store::cache_repeats::{self, RepeatMisses};
use crate::store::error::StoreError;

impl PgStore {
    pub(super) fn repeat_misses_impl(
        &self,
        from_ms: i64,
        to_ms: i64,
        team: Option<&str>,
    ) -> Result<Vec<RepeatMisses>, StoreError> {
        // Typed placeholders: `$3 IS NULL` alone does not tell PostgreSQL its type.
        let sql = cache_repeats::sql(
            |i| match i {
                3 => "$3::text".to_string(),
                n => format!("${n}::bigint"),
            },
            "near_repeat",
        );
        self.conn()?
            .query(&sql, &[&from_ms, &to_ms, &team])?
            .iter()
            .map(|r| {
                Ok(RepeatMisses {
                    team: r.try_get(0)?,
                    workflow: r.try_get(1)?,
                    repeats: r.try_get(2)?,
                    repeat_cost_nanos: r.try_get(3)?,
                })
            })
            .collect()
    }
}
