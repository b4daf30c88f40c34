//! `/v1/spend` on SQLite: the plan's statement ([`crate::store::spend_sql`]) run on a reader.

use rusqlite::params_from_iter;
use rusqlite::types::Value;

use super::db::SqliteStore;
use crate::query::{Dim, SpendQuery};
use crate::store::error::StoreError;
use crate::store::spend_plan::{plan, Rollups};
use crate::store::spend_sql::{spend_sql, Arg, Dialect};
use crate::store::types::{KeyValue, SpendRow, Sums};

impl SqliteStore {
    pub(super) fn spend_impl(
        &self,
        q: &SpendQuery,
        rollups: Rollups,
    ) -> Result<Vec<SpendRow>, StoreError> {
        let (sql, args) = spend_sql(q, &plan(q, rollups), Dialect::Sqlite);
        let args = args.into_iter().map(|a| match a {
            Arg::Int(v) => Value::Integer(v),
            Arg::Text(v) => Value::Text(v),
        });
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let n = q.group_by.len();
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            // Without GROUP BY an empty range still yields one all-NULL row.
            let count: i64 = r.get(n)?;
            if count == 0 {
                continue;
            }
            let mut key = Vec::with_capacity(n);
            for (i, d) in q.group_by.iter().enumerate() {
                key.push(match d {
                    Dim::Hour | Dim::Day => KeyValue::TimeMs(r.get(i)?),
                    // Optional attributes are stored as '' in the rollup keys.
                    Dim::User | Dim::Workflow | Dim::Provider | Dim::Lane => {
                        let v: String = r.get(i)?;
                        KeyValue::Text((!v.is_empty()).then_some(v))
                    }
                    _ => KeyValue::Text(Some(r.get(i)?)),
                });
            }
            out.push(SpendRow {
                key,
                sums: Sums {
                    requests: r.get(n + 1)?,
                    input_tokens: r.get(n + 2)?,
                    cached_input_tokens: r.get(n + 3)?,
                    cache_write_tokens: r.get(n + 4)?,
                    output_tokens: r.get(n + 5)?,
                    cost_nanos: r.get(n + 6)?,
                    cost_avoided_nanos: r.get(n + 7)?,
                },
            });
        }
        Ok(out)
    }
}
