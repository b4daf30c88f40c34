//! Access tokens on PostgreSQL: stored by hash, found by hash, revoked.

use postgres::Row;

use super::db::PgStore;
use super::sql_args::has_nul;
use crate::store::error::StoreError;
use crate::store::tokens::{NewToken, Role, TokenRecord};

const TOKEN_COLUMNS: &str = "id, name, role, team, sha256, created_ms, revoked_ms, expires_ms";

fn token_from_row(r: &Row) -> Result<TokenRecord, StoreError> {
    let role: String = r.try_get(2)?;
    Ok(TokenRecord {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        // Only the known role names are ever written; anything else reads as least power.
        role: Role::parse(&role).unwrap_or(Role::Team),
        team: r.try_get(3)?,
        sha256: r.try_get(4)?,
        created_ms: r.try_get(5)?,
        revoked_ms: r.try_get(6)?,
        expires_ms: r.try_get(7)?,
    })
}

impl PgStore {
    pub(super) fn create_token_impl(
        &self,
        t: &NewToken,
        now_ms: i64,
    ) -> Result<TokenRecord, StoreError> {
        let row = self.conn()?.query_one(
            &format!(
                "INSERT INTO api_tokens (name, role, team, sha256, created_ms, expires_ms)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING {TOKEN_COLUMNS}"
            ),
            &[
                &t.name,
                &t.role.as_str(),
                &t.team,
                &t.sha256,
                &now_ms,
                &t.expires_ms,
            ],
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
