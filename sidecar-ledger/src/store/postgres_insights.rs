//! The dashboard's storage on PostgreSQL: grouped reads of the daily rollups (brought
//! up to date by the folds of [`super::postgres_fold`]) and the access tokens.

use postgres::Row;

use super::insight_sql::insight_sql;
use super::insights::{InsightDim, InsightQuery, NewToken, Role, TokenRecord};
use super::postgres::{arg_refs, has_nul, pg_args, sums_from, PgStore};
use super::spend_sql::Dialect;
use super::{KeyValue, SpendRow, StoreError};

const TOKEN_COLUMNS: &str = "id, name, role, team, sha256, created_ms, revoked_ms";

fn token_from_row(r: &Row) -> Result<TokenRecord, StoreError> {
    let role: String = r.try_get(2)?;
    Ok(TokenRecord {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        // Only the three names are ever written; anything else reads as least power.
        role: Role::parse(&role).unwrap_or(Role::Team),
        team: r.try_get(3)?,
        sha256: r.try_get(4)?,
        created_ms: r.try_get(5)?,
        revoked_ms: r.try_get(6)?,
    })
}

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

    pub(super) fn create_token_impl(
        &self,
        t: &NewToken,
        now_ms: i64,
    ) -> Result<TokenRecord, StoreError> {
        let row = self.conn()?.query_one(
            &format!(
                "INSERT INTO api_tokens (name, role, team, sha256, created_ms)
                 VALUES ($1, $2, $3, $4, $5) RETURNING {TOKEN_COLUMNS}"
            ),
            &[&t.name, &t.role.as_str(), &t.team, &t.sha256, &now_ms],
        )?;
        token_from_row(&row)
    }

    pub(super) fn tokens_impl(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.conn()?
            .query(
                &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id"),
                &[],
            )?
            .iter()
            .map(token_from_row)
            .collect()
    }

    pub(super) fn token_by_hash_impl(
        &self,
        sha256: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        if has_nul(sha256) {
            return Ok(None);
        }
        self.conn()?
            .query_opt(
                &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE sha256 = $1"),
                &[&sha256],
            )?
            .as_ref()
            .map(token_from_row)
            .transpose()
    }

    pub(super) fn revoke_token_impl(&self, id: i64, now_ms: i64) -> Result<bool, StoreError> {
        let changed = self.conn()?.execute(
            "UPDATE api_tokens SET revoked_ms = $2 WHERE id = $1 AND revoked_ms IS NULL",
            &[&id, &now_ms],
        )?;
        Ok(changed == 1)
    }
}
