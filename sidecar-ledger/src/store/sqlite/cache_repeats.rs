//! Near-repeat cache misses, on SQLite (see
//! `store::cache_repeats`).

use rusqlite::params;

use super::db::SqliteStore;
use crate::store::cache_repeats::{self, RepeatMisses};
use crate::store::error::StoreError;

impl SqliteStore {
    pub(super) fn repeat_misses_impl(
        &self,
        from_ms: i64,
        to_ms: i64,
        team: Option<&str>,
    ) -> Result<Vec<RepeatMisses>, StoreError> {
        let conn = self.reader()?;
        let sql = cache_repeats::sql(|i| format!("?{i}"), "near_repeat = 1");
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![from_ms, to_ms, team], |r| {
            Ok(RepeatMisses {
                team: r.get(0)?,
                workflow: r.get(1)?,
                repeats: r.get(2)?,
                repeat_cost_nanos: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
