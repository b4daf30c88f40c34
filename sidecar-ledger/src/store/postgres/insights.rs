//! The dashboard's storage on PostgreSQL: grouped reads of the daily rollups (brought
//! up to date by the folds of [`super::fold`]) and the access tokens.

use super::db::PgStore;
use super::sql_args::{arg_refs, has_nul, pg_args, sums_from};
use crate::store::error::StoreError;
use crate::store::insight_sql::insight_sql;
use crate::store::insights::{InsightDim, InsightQuery};
use crate::store::spend_sql::Dialect;
use crate::store::types::{KeyValue, SpendRow};

impl PgStore {
    pub(super) fn insight_rows_impl(&self, q: &InsightQuery) -> Result<Vec<SpendRow>, StoreError> {
        if !q.answerable() {
            return Err(StoreError::Corrupt(
                "the per-user rollup groups only by day, team and consumer_group".into(),
            ));
        }
        // No stored text holds U+0000 (PostgreSQL cannot), so such a filter matches nothing.
        if [&q.team, &q.workflow]
            .into_iter()
            .flatten()
            .any(|v| has_nul(v))
        {
            return Ok(Vec::new());
        }
        let (sql, args) = insight_sql(q, Dialect::Postgres);
        let args = pg_args(args);
        let rows = self.conn()?.query(&sql, &arg_refs(&args))?;
        let n = q.group_by.len();
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            // Without GROUP BY an empty range still yields one row, counting 0.
            let count: i64 = r.try_get(n)?;
            if count == 0 {
                continue;
            }
            let mut key = Vec::with_capacity(n);
            for (i, d) in q.group_by.iter().enumerate() {
                key.push(match d {
                    InsightDim::Day => KeyValue::TimeMs(r.try_get(i)?),
                    InsightDim::Team | InsightDim::ConsumerGroup | InsightDim::Model => {
                        KeyValue::Text(Some(r.try_get(i)?))
                    }
                    // Absent optional attributes are stored as ''.
                    _ => {
                        let v: String = r.try_get(i)?;
                        KeyValue::Text((!v.is_empty()).then_some(v))
                    }
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
