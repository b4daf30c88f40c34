//! Wallets, allocations and credit leases on SQLite. Every write runs on the single
//! writer connection inside an IMMEDIATE transaction, so a grant sees every committed
//! spend and every other grant: credit is never handed out twice.

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};
use tollgate_core::lease::{holder_grant_size, HolderStanding, LeaseGrant, LeaseRequest};

use super::db::SqliteStore;
use crate::store::error::StoreError;
use crate::store::wallets::{
    EntryKind, Hold, HoldResolution, LeaseHolder, NewEntry, WalletEntry, WalletState,
};

/// A live lease is open and unexpired; an ended one (closed, or expired) holds what it
/// may have spent beyond its events until it is settled (see migration 0008).
const WALLET_STATE: &str = "SELECT w.team, w.allocated_nanos, w.spent_nanos,
        COALESCE((SELECT SUM(MAX(l.granted_nanos - l.spent_nanos, 0)) FROM leases l
                  WHERE l.team = w.team AND l.expires_ms > ?2 AND l.closed_ms IS NULL), 0),
        (SELECT COUNT(*) FROM leases l
          WHERE l.team = w.team AND l.expires_ms > ?2 AND l.closed_ms IS NULL),
        COALESCE((SELECT SUM(MAX(l.granted_nanos - COALESCE(l.unused_nanos, 0) - l.spent_nanos, 0))
                  FROM leases l
                  WHERE l.team = w.team AND l.settled_ms IS NULL
                    AND (l.closed_ms IS NOT NULL OR l.expires_ms <= ?2)), 0)
    FROM wallets w WHERE w.team = ?1";

/// What one holder's (?2) live leases on a team (?1) have not spent, and whether
/// another holder has a live lease there (?3 is now).
const HOLDER_STANDING: &str = "SELECT
        COALESCE((SELECT SUM(MAX(l.granted_nanos - l.spent_nanos, 0)) FROM leases l
                  WHERE l.team = ?1 AND l.expires_ms > ?3 AND l.closed_ms IS NULL
                    AND (l.instance = ?2 OR substr(l.instance, 1, length(?2) + 1) = ?2 || '/')), 0),
        EXISTS (SELECT 1 FROM leases l
                 WHERE l.team = ?1 AND l.expires_ms > ?3 AND l.closed_ms IS NULL
                   AND NOT (l.instance = ?2 OR substr(l.instance, 1, length(?2) + 1) = ?2 || '/'))";

const HOLD_COLUMNS: &str = "id, team, instance, granted_nanos, unused_nanos, spent_nanos,
    MAX(granted_nanos - COALESCE(unused_nanos, 0) - spent_nanos, 0), expires_ms, closed_ms";

fn hold_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Hold> {
    Ok(Hold {
        lease_id: r.get(0)?,
        team: r.get(1)?,
        instance: r.get(2)?,
        granted_nanos: r.get(3)?,
        unused_nanos: r.get(4)?,
        spent_nanos: r.get(5)?,
        held_nanos: r.get(6)?,
        expires_ms: r.get(7)?,
        closed_ms: r.get(8)?,
    })
}

fn state_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<WalletState> {
    Ok(WalletState {
        team: r.get(0)?,
        allocated_nanos: r.get(1)?,
        spent_nanos: r.get(2)?,
        leased_outstanding_nanos: r.get(3)?,
        live_leases: r.get(4)?,
        unsettled_nanos: r.get(5)?,
    })
}

fn entry_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<WalletEntry> {
    let kind: String = r.get(2)?;
    Ok(WalletEntry {
        id: r.get(0)?,
        team: r.get(1)?,
        kind: EntryKind::parse(&kind).unwrap_or(EntryKind::Correction),
        amount_nanos: r.get(3)?,
        actor: r.get(4)?,
        reason: r.get(5)?,
        ts_ms: r.get(6)?,
    })
}

const ENTRY_COLUMNS: &str = "id, team, kind, amount_nanos, actor, reason, ts_ms";

pub(super) fn state(
    tx: &rusqlite::Connection,
    team: &str,
    now_ms: i64,
) -> Result<Option<WalletState>, StoreError> {
    Ok(tx
        .prepare_cached(WALLET_STATE)?
        .query_row(params![team, now_ms], state_from_row)
        .optional()?)
}

pub(super) fn insert_entry(
    tx: &Transaction<'_>,
    e: &NewEntry,
    now_ms: i64,
) -> Result<WalletEntry, StoreError> {
    if let Some(key) = &e.idempotency_key {
        let existing = tx
            .query_row(
                &format!("SELECT {ENTRY_COLUMNS} FROM wallet_entries WHERE idempotency_key = ?1"),
                params![key],
                entry_from_row,
            )
            .optional()?;
        if let Some(existing) = existing {
            return Ok(existing);
        }
    }
    tx.execute(
        "INSERT INTO wallet_entries (team, kind, amount_nanos, actor, reason, ts_ms, idempotency_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![e.team, e.kind.as_str(), e.amount_nanos, e.actor, e.reason, now_ms, e.idempotency_key],
    )?;
    let id = tx.last_insert_rowid();
    let updated = tx.execute(
        "UPDATE wallets SET allocated_nanos = allocated_nanos + ?2 WHERE team = ?1",
        params![e.team, e.amount_nanos],
    )?;
    if updated != 1 {
        return Err(StoreError::Corrupt(format!("wallet {} vanished", e.team)));
    }
    Ok(WalletEntry {
        id,
        team: e.team.clone(),
        kind: e.kind,
        amount_nanos: e.amount_nanos,
        actor: e.actor.clone(),
        reason: e.reason.clone(),
        ts_ms: now_ms,
    })
}

impl SqliteStore {
    pub(super) fn ensure_wallet_impl(&self, team: &str, now_ms: i64) -> Result<(), StoreError> {
        self.writer().execute(
            "INSERT INTO wallets (team, created_ms) VALUES (?1, ?2) ON CONFLICT (team) DO NOTHING",
            params![team, now_ms],
        )?;
        Ok(())
    }

    pub(super) fn allocate_impl(
        &self,
        entry: &NewEntry,
        now_ms: i64,
    ) -> Result<Option<(WalletEntry, WalletState)>, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if state(&tx, &entry.team, now_ms)?.is_none() {
            return Ok(None);
        }
        let stored = insert_entry(&tx, entry, now_ms)?;
        let after = state(&tx, &entry.team, now_ms)?
            .ok_or_else(|| StoreError::Corrupt(format!("wallet {} vanished", entry.team)))?;
        tx.commit()?;
        Ok(Some((stored, after)))
    }

    pub(super) fn wallet_impl(
        &self,
        team: &str,
        now_ms: i64,
    ) -> Result<Option<WalletState>, StoreError> {
        let conn = self.reader()?;
        state(&conn, team, now_ms)
    }

    pub(super) fn wallets_impl(&self, now_ms: i64) -> Result<Vec<WalletState>, StoreError> {
        let conn = self.reader()?;
        let teams: Vec<String> = conn
            .prepare("SELECT team FROM wallets ORDER BY team")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(teams.len());
        for team in teams {
            if let Some(s) = state(&conn, &team, now_ms)? {
                out.push(s);
            }
        }
        Ok(out)
    }

    pub(super) fn wallet_entries_impl(
        &self,
        team: &str,
        limit: usize,
    ) -> Result<Vec<WalletEntry>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {ENTRY_COLUMNS} FROM wallet_entries WHERE team = ?1 ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![team, limit as i64], entry_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(super) fn lease_impl(
        &self,
        holder: &LeaseHolder<'_>,
        req: &LeaseRequest,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Option<LeaseGrant>, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(wallet) = state(&tx, &req.team, now_ms)? else {
            return Ok(None);
        };
        let available = wallet.available_nanos();
        let (held_nanos, others_active): (i64, bool) = tx
            .prepare_cached(HOLDER_STANDING)?
            .query_row(params![req.team, holder.name, now_ms], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        let standing = HolderStanding {
            held_nanos,
            wallet_credit_nanos: available + wallet.leased_outstanding_nanos,
            others_active,
        };
        let granted = holder_grant_size(req, available, standing, holder.share_percent);
        let expires_ms = now_ms + ttl_ms;
        let live: Option<i64> = tx
            .query_row(
                "SELECT id FROM leases WHERE instance = ?1 AND team = ?2 AND expires_ms > ?3
                   AND closed_ms IS NULL
                 ORDER BY id DESC LIMIT 1",
                params![req.instance, req.team, now_ms],
                |r| r.get(0),
            )
            .optional()?;
        let lease_id = match live {
            Some(id) => {
                tx.execute(
                    "UPDATE leases SET granted_nanos = granted_nanos + ?2, expires_ms = ?3 WHERE id = ?1",
                    params![id, granted, expires_ms],
                )?;
                id
            }
            None => {
                tx.execute(
                    "INSERT INTO leases (instance, team, granted_nanos, created_ms, expires_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![req.instance, req.team, granted, now_ms, expires_ms],
                )?;
                tx.last_insert_rowid()
            }
        };
        tx.commit()?;
        Ok(Some(LeaseGrant {
            lease_id: lease_id as u64,
            granted_nanos: granted,
            expires_ms,
            wallet_available_nanos: available - granted,
            budget_notice: None,
        }))
    }

    pub(super) fn holds_impl(&self, team: &str, now_ms: i64) -> Result<Vec<Hold>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {HOLD_COLUMNS} FROM leases
             WHERE team = ?1 AND settled_ms IS NULL AND (closed_ms IS NOT NULL OR expires_ms <= ?2)
             ORDER BY id"
        ))?;
        let rows = stmt.query_map(params![team, now_ms], hold_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(super) fn resolve_hold_impl(
        &self,
        resolution: &HoldResolution,
        now_ms: i64,
    ) -> Result<Option<Hold>, StoreError> {
        let mut conn = self.writer();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let hold = tx
            .query_row(
                &format!(
                    "SELECT {HOLD_COLUMNS} FROM leases
                     WHERE id = ?1 AND team = ?2 AND settled_ms IS NULL
                       AND (closed_ms IS NOT NULL OR expires_ms <= ?3)"
                ),
                params![resolution.lease_id, resolution.team, now_ms],
                hold_from_row,
            )
            .optional()?;
        if hold.is_some() {
            tx.execute(
                "UPDATE leases SET settled_ms = ?2, resolved_by = ?3, resolution = ?4 WHERE id = ?1",
                params![resolution.lease_id, now_ms, resolution.actor, resolution.reason],
            )?;
        }
        tx.commit()?;
        Ok(hold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::backend::Store;
    use crate::test_util::{batch, event, TempDir};

    const USD: i64 = 1_000_000_000;

    fn store_with_wallet(dir: &TempDir, usd: i64) -> SqliteStore {
        let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
        store.ensure_wallet("team_a", 0).unwrap();
        store
            .allocate(&top_up(usd * USD, Some("k0")), 0)
            .unwrap()
            .unwrap();
        store
    }

    fn top_up(nanos: i64, key: Option<&str>) -> NewEntry {
        NewEntry {
            team: "team_a".into(),
            kind: EntryKind::TopUp,
            amount_nanos: nanos,
            actor: "test".into(),
            reason: "because".into(),
            idempotency_key: key.map(str::to_string),
        }
    }

    fn ask(instance: &str, want: i64) -> LeaseRequest {
        LeaseRequest {
            instance: instance.into(),
            team: "team_a".into(),
            want_nanos: want,
            need_nanos: None,
        }
    }

    fn spend(store: &SqliteStore, id: &str, lease: u64, cost: i64) {
        let mut e = event(id, 1_000, "team_a", cost);
        e.lease_id = Some(lease);
        store.ingest(&batch(vec![e])).unwrap();
    }

    #[test]
    fn grants_never_exceed_what_the_wallet_has() {
        let dir = TempDir::new();
        let store = store_with_wallet(&dir, 3);
        let a = store.lease(&ask("a", 2 * USD), 0, 30_000).unwrap().unwrap();
        let b = store.lease(&ask("b", 2 * USD), 0, 30_000).unwrap().unwrap();
        assert_eq!((a.granted_nanos, b.granted_nanos), (2 * USD, USD));
        assert_eq!(b.wallet_available_nanos, 0);
        let c = store.lease(&ask("c", USD), 0, 30_000).unwrap().unwrap();
        assert_eq!(c.granted_nanos, 0);
        // The same instance asking again adds to its live lease.
        let a2 = store.lease(&ask("a", USD), 1_000, 30_000).unwrap().unwrap();
        assert_eq!(
            (a2.lease_id, a2.granted_nanos, a2.expires_ms),
            (a.lease_id, 0, 31_000)
        );
        let w = store.wallet("team_a", 1_000).unwrap().unwrap();
        assert_eq!(
            (
                w.leased_outstanding_nanos,
                w.available_nanos(),
                w.live_leases
            ),
            (3 * USD, 0, 3)
        );
    }

    #[test]
    fn spend_uses_up_leases_and_an_expired_lease_holds_its_unreported_rest() {
        let dir = TempDir::new();
        let store = store_with_wallet(&dir, 3);
        let a = store.lease(&ask("a", 2 * USD), 0, 30_000).unwrap().unwrap();
        spend(&store, "e1", a.lease_id, USD / 2);
        let w = store.wallet("team_a", 10).unwrap().unwrap();
        assert_eq!(w.spent_nanos, USD / 2);
        assert_eq!(w.leased_outstanding_nanos, 3 * USD / 2);
        assert_eq!(w.available_nanos(), USD);
        // Instance a dies without closing its lease: after expiry the 1.5 USD it never
        // reported stays held (its events may be lost), not handed to others.
        let w = store.wallet("team_a", 30_000).unwrap().unwrap();
        assert_eq!(
            (
                w.leased_outstanding_nanos,
                w.unsettled_nanos,
                w.available_nanos()
            ),
            (0, 3 * USD / 2, USD)
        );
        let b = store
            .lease(&ask("b", 10 * USD), 30_000, 30_000)
            .unwrap()
            .unwrap();
        assert_eq!(b.granted_nanos, USD);
        // A retried event batch changes nothing.
        spend(&store, "e1", a.lease_id, USD / 2);
        assert_eq!(
            store.wallet("team_a", 30_000).unwrap().unwrap().spent_nanos,
            USD / 2
        );
    }

    #[test]
    fn allocations_are_recorded_once_and_survive_reopen() {
        let dir = TempDir::new();
        {
            let store = store_with_wallet(&dir, 3);
            let (_, w) = store
                .allocate(&top_up(USD, Some("k1")), 5)
                .unwrap()
                .unwrap();
            assert_eq!(w.allocated_nanos, 4 * USD);
            let (again, w) = store
                .allocate(&top_up(USD, Some("k1")), 6)
                .unwrap()
                .unwrap();
            assert_eq!((again.ts_ms, w.allocated_nanos), (5, 4 * USD));
            let mut fix = top_up(-USD / 4, None);
            fix.kind = EntryKind::Correction;
            store.allocate(&fix, 7).unwrap().unwrap();
        }
        let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
        let w = store.wallet("team_a", 10).unwrap().unwrap();
        assert_eq!(w.allocated_nanos, 4 * USD - USD / 4);
        let entries = store.wallet_entries("team_a", 10).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].kind, EntryKind::Correction);
        assert!(store
            .allocate(
                &NewEntry {
                    team: "nobody".into(),
                    ..top_up(1, None)
                },
                0
            )
            .unwrap()
            .is_none());
        assert!(store
            .lease(
                &LeaseRequest {
                    team: "nobody".into(),
                    ..ask("a", 1)
                },
                0,
                1
            )
            .unwrap()
            .is_none());
    }
}
