//! `/v1/spend` on PostgreSQL: the plan's statement ([`crate::store::spend_sql`]).

use super::db::PgStore;
use super::sql_args::{arg_refs, pg_args, sums_from, unmatchable};
use crate::query::{Dim, SpendQuery};
use crate::store::error::StoreError;
use crate::store::spend_plan::{plan, Rollups};
use crate::store::spend_sql::{spend_sql, Dialect};
use crate::store::types::{KeyValue, SpendRow};

impl PgStore {
    pub(super) fn spend_impl(
        &self,
        q: &SpendQuery,
        rollups: Rollups,
    ) -> Result<Vec<SpendRow>, StoreError> {
        if unmatchable(&q.filters) {
            return Ok(Vec::new());
        }
        let (sql, args) = spend_sql(q, &plan(q, rollups), Dialect::Postgres);
        let args = pg_args(args);
        let rows = self.conn()?.query(&sql, &arg_refs(&args))?;
        let n = q.group_by.len();
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            // Without GROUP BY an empty range still yields one all-NULL row.
            let count: i64 = r.try_get(n)?;
            if count == 0 {
                continue;
            }
            let mut key = Vec::with_capacity(n);
            for (i, d) in q.group_by.iter().enumerate() {
                key.push(match d {
                    Dim::Hour | Dim::Day => KeyValue::TimeMs(r.try_get(i)?),
                    // Optional attributes are stored as '' in the rollup keys.
                    Dim::User | Dim::Workflow | Dim::Provider | Dim::Lane => {
                        let v: String = r.try_get(i)?;
                        KeyValue::Text((!v.is_empty()).then_some(v))
                    }
                    _ => KeyValue::Text(Some(r.try_get(i)?)),
                });
            }
            out.push(SpendRow {
                key,
                sums: sums_from(r, n + 1)?,
            });
        }
        Ok(out)
    }
}
