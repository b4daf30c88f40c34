//! Access tokens on SQLite: stored by hash, found by hash, revoked.

use rusqlite::{params, OptionalExtension};

use super::db::SqliteStore;
use crate::store::error::StoreError;
use crate::store::tokens::{NewToken, Role, TokenRecord};

const TOKEN_COLUMNS: &str = "id, name, role, team, sha256, created_ms, revoked_ms, expires_ms";

fn token_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    let role: String = r.get(2)?;
    Ok(TokenRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        // Only the known role names are ever written; anything else reads as least power.
        role: Role::parse(&role).unwrap_or(Role::Team),
        team: r.get(3)?,
        sha256: r.get(4)?,
        created_ms: r.get(5)?,
        revoked_ms: r.get(6)?,
        expires_ms: r.get(7)?,
    })
}

impl SqliteStore {
    pub(super) fn create_token_impl(
        &self,
        t: &NewToken,
        now_ms: i64,
    ) -> Result<TokenRecord, StoreError> {
        let conn = self.writer();
        conn.prepare_cached(
            "INSERT INTO api_tokens (name, role, team, sha256, created_ms, expires_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            t.name,
            t.role.as_str(),
            t.team,
            t.sha256,
            now_ms,
            t.expires_ms
        ])?;
        let id = conn.last_insert_rowid();
        let record = conn
            .prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?1"
            ))?
            .query_row([id], token_from_row)?;
        Ok(record)
    }

    pub(super) fn tokens_impl(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY id"
        ))?;
        let rows = stmt.query_map([], token_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(super) fn token_by_hash_impl(
        &self,
        sha256: &str,
    ) -> Result<Option<TokenRecord>, StoreError> {
        let conn = self.reader()?;
        let found = conn
            .prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE sha256 = ?1"
            ))?
            .query_row([sha256], token_from_row)
            .optional()?;
        Ok(found)
    }

    pub(super) fn revoke_token_impl(&self, id: i64, now_ms: i64) -> Result<bool, StoreError> {
        let conn = self.writer();
        let changed = conn
            .prepare_cached(
                "UPDATE api_tokens SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
            )?
            .execute(params![id, now_ms])?;
        Ok(changed == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::backend::Store;
    use crate::test_util::TempDir;

    #[test]
    fn tokens_are_created_found_by_hash_listed_and_revoked() {
        let dir = TempDir::new();
        let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
        let t = store
            .create_token(
                &NewToken {
                    name: "support lead".into(),
                    role: Role::Team,
                    team: Some("team_support".into()),
                    sha256: "ab".repeat(32),
                    expires_ms: None,
                },
                1000,
            )
            .unwrap();
        assert_eq!(t.role, Role::Team);
        assert_eq!(t.team.as_deref(), Some("team_support"));
        assert_eq!(t.revoked_ms, None);
        assert_eq!(
            store.token_by_hash(&"ab".repeat(32)).unwrap(),
            Some(t.clone())
        );
        assert_eq!(store.token_by_hash(&"cd".repeat(32)).unwrap(), None);
        assert_eq!(store.tokens().unwrap(), vec![t.clone()]);
        assert!(store.revoke_token(t.id, 2000).unwrap());
        assert!(!store.revoke_token(t.id, 3000).unwrap(), "already revoked");
        assert_eq!(
            store
                .token_by_hash(&"ab".repeat(32))
                .unwrap()
                .unwrap()
                .revoked_ms,
            Some(2000)
        );
    }
}
