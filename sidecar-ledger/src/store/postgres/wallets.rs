//! Wallets, allocations and credit leases on PostgreSQL. Every write that reads a
//! balance first locks the team's `wallets` row (`SELECT ... FOR UPDATE`); ingest
//! updates that row too, so a grant sees every committed spend and every other grant,
//! whichever ledger instance made them: credit is never handed out twice.

use postgres::{GenericClient, Row, Transaction};
use tollgate_core::lease::{holder_grant_size, HolderStanding, LeaseGrant, LeaseRequest};

use super::db::PgStore;
use super::sql_args::has_nul;
use crate::store::error::StoreError;
use crate::store::wallets::{
    EntryKind, Hold, HoldResolution, LeaseHolder, NewEntry, WalletEntry, WalletState,
};

/// What one holder ($2) of a team ($1) holds in live leases not spent yet, and whether
/// another holder has a live lease there ($3 is now).
const HOLDER_STANDING: &str = "SELECT
        COALESCE((SELECT SUM(GREATEST(l.granted_nanos - l.spent_nanos, 0)) FROM leases l
                  WHERE l.team = $1 AND l.expires_ms > $3 AND l.closed_ms IS NULL
                    AND (l.instance = $2 OR left(l.instance, length($2) + 1) = $2 || '/')), 0)::BIGINT,
        EXISTS (SELECT 1 FROM leases l
                 WHERE l.team = $1 AND l.expires_ms > $3 AND l.closed_ms IS NULL
                   AND NOT (l.instance = $2 OR left(l.instance, length($2) + 1) = $2 || '/'))";

/// The state of the wallets `filter` selects; `$1` is now.
fn wallet_state_sql(filter: &str) -> String {
    format!(
        "SELECT w.team, w.allocated_nanos, w.spent_nanos,
            COALESCE((SELECT SUM(GREATEST(l.granted_nanos - l.spent_nanos, 0)) FROM leases l
                      WHERE l.team = w.team AND l.expires_ms > $1 AND l.closed_ms IS NULL), 0)::BIGINT,
            (SELECT COUNT(*) FROM leases l
              WHERE l.team = w.team AND l.expires_ms > $1 AND l.closed_ms IS NULL),
            COALESCE((SELECT SUM(GREATEST(l.granted_nanos - COALESCE(l.unused_nanos, 0) - l.spent_nanos, 0))
                      FROM leases l
                      WHERE l.team = w.team AND l.settled_ms IS NULL
                        AND (l.closed_ms IS NOT NULL OR l.expires_ms <= $1)), 0)::BIGINT
        FROM wallets w WHERE {filter} ORDER BY w.team"
    )
}

fn state_from_row(r: &Row) -> Result<WalletState, StoreError> {
    Ok(WalletState {
        team: r.try_get(0)?,
        allocated_nanos: r.try_get(1)?,
        spent_nanos: r.try_get(2)?,
        leased_outstanding_nanos: r.try_get(3)?,
        live_leases: r.try_get(4)?,
        unsettled_nanos: r.try_get(5)?,
    })
}

const ENTRY_COLUMNS: &str = "id, team, kind, amount_nanos, actor, reason, ts_ms";

const HOLD_COLUMNS: &str = "id, team, instance, granted_nanos, unused_nanos, spent_nanos,
    GREATEST(granted_nanos - COALESCE(unused_nanos, 0) - spent_nanos, 0), expires_ms, closed_ms";

fn hold_from_row(r: &Row) -> Result<Hold, StoreError> {
    Ok(Hold {
        lease_id: r.try_get(0)?,
        team: r.try_get(1)?,
        instance: r.try_get(2)?,
        granted_nanos: r.try_get(3)?,
        unused_nanos: r.try_get(4)?,
        spent_nanos: r.try_get(5)?,
        held_nanos: r.try_get(6)?,
        expires_ms: r.try_get(7)?,
        closed_ms: r.try_get(8)?,
    })
}

fn entry_from_row(r: &Row) -> Result<WalletEntry, StoreError> {
    let kind: &str = r.try_get(2)?;
    Ok(WalletEntry {
        id: r.try_get(0)?,
        team: r.try_get(1)?,
        kind: EntryKind::parse(kind).unwrap_or(EntryKind::Correction),
        amount_nanos: r.try_get(3)?,
        actor: r.try_get(4)?,
        reason: r.try_get(5)?,
        ts_ms: r.try_get(6)?,
    })
}

pub(super) fn state(
    client: &mut impl GenericClient,
    team: &str,
    now_ms: i64,
) -> Result<Option<WalletState>, StoreError> {
    if has_nul(team) {
        return Ok(None);
    }
    client
        .query_opt(&wallet_state_sql("w.team = $2"), &[&now_ms, &team])?
        .as_ref()
        .map(state_from_row)
        .transpose()
}

/// Locks the team's wallet row until the transaction ends; false if there is none.
pub(super) fn lock_wallet(tx: &mut Transaction<'_>, team: &str) -> Result<bool, StoreError> {
    if has_nul(team) {
        return Ok(false);
    }
    Ok(tx
        .query_opt("SELECT 1 FROM wallets WHERE team = $1 FOR UPDATE", &[&team])?
        .is_some())
}

pub(super) fn insert_entry(
    tx: &mut Transaction<'_>,
    e: &NewEntry,
    now_ms: i64,
) -> Result<WalletEntry, StoreError> {
    // The unique idempotency key decides, also between ledger instances racing.
    let inserted = tx.query_opt(
        "INSERT INTO wallet_entries (team, kind, amount_nanos, actor, reason, ts_ms, idempotency_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING id",
        &[&e.team, &e.kind.as_str(), &e.amount_nanos, &e.actor, &e.reason, &now_ms, &e.idempotency_key],
    )?;
    let Some(row) = inserted else {
        let existing = tx.query_one(
            &format!("SELECT {ENTRY_COLUMNS} FROM wallet_entries WHERE idempotency_key = $1"),
            &[&e.idempotency_key],
        )?;
        return entry_from_row(&existing);
    };
    let id: i64 = row.try_get(0)?;
    let updated = tx.execute(
        "UPDATE wallets SET allocated_nanos = allocated_nanos + $2 WHERE team = $1",
        &[&e.team, &e.amount_nanos],
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

impl PgStore {
    pub(super) fn ensure_wallet_impl(&self, team: &str, now_ms: i64) -> Result<(), StoreError> {
        self.conn()?.execute(
            "INSERT INTO wallets (team, created_ms) VALUES ($1, $2) ON CONFLICT (team) DO NOTHING",
            &[&team, &now_ms],
        )?;
        Ok(())
    }

    pub(super) fn allocate_impl(
        &self,
        entry: &NewEntry,
        now_ms: i64,
    ) -> Result<Option<(WalletEntry, WalletState)>, StoreError> {
        self.write(|tx| {
            if !lock_wallet(tx, &entry.team)? {
                return Ok(None);
            }
            let stored = insert_entry(tx, entry, now_ms)?;
            let after = state(tx, &entry.team, now_ms)?
                .ok_or_else(|| StoreError::Corrupt(format!("wallet {} vanished", entry.team)))?;
            Ok(Some((stored, after)))
        })
    }

    pub(super) fn wallet_impl(
        &self,
        team: &str,
        now_ms: i64,
    ) -> Result<Option<WalletState>, StoreError> {
        state(&mut *self.conn()?, team, now_ms)
    }

    pub(super) fn wallets_impl(&self, now_ms: i64) -> Result<Vec<WalletState>, StoreError> {
        // One statement: every wallet from the same snapshot.
        let rows = self.conn()?.query(&wallet_state_sql("TRUE"), &[&now_ms])?;
        rows.iter().map(state_from_row).collect()
    }

    pub(super) fn wallet_entries_impl(
        &self,
        team: &str,
        limit: usize,
    ) -> Result<Vec<WalletEntry>, StoreError> {
        if has_nul(team) {
            return Ok(Vec::new());
        }
        let rows = self.conn()?.query(
            &format!(
                "SELECT {ENTRY_COLUMNS} FROM wallet_entries WHERE team = $1 ORDER BY id DESC LIMIT $2"
            ),
            &[&team, &i64::try_from(limit).unwrap_or(i64::MAX)],
        )?;
        rows.iter().map(entry_from_row).collect()
    }

    pub(super) fn lease_impl(
        &self,
        holder: &LeaseHolder<'_>,
        req: &LeaseRequest,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Option<LeaseGrant>, StoreError> {
        self.write(|tx| {
            // The wallet row lock orders this grant after every committed ingest and
            // grant of the team, and before the next: the balance read below is final.
            if !lock_wallet(tx, &req.team)? {
                return Ok(None);
            }
            let wallet = state(tx, &req.team, now_ms)?
                .ok_or_else(|| StoreError::Corrupt(format!("wallet {} vanished", req.team)))?;
            let available = wallet.available_nanos();
            let row = tx.query_one(HOLDER_STANDING, &[&req.team, &holder.name, &now_ms])?;
            let standing = HolderStanding {
                held_nanos: row.try_get(0)?,
                wallet_credit_nanos: available + wallet.leased_outstanding_nanos,
                others_active: row.try_get(1)?,
            };
            let granted = holder_grant_size(req, available, standing, holder.share_percent);
            let expires_ms = now_ms + ttl_ms;
            let live = tx.query_opt(
                "SELECT id FROM leases WHERE instance = $1 AND team = $2 AND expires_ms > $3
                   AND closed_ms IS NULL
                 ORDER BY id DESC LIMIT 1",
                &[&req.instance, &req.team, &now_ms],
            )?;
            let lease_id: i64 = match live {
                Some(row) => {
                    let id: i64 = row.try_get(0)?;
                    tx.execute(
                        "UPDATE leases SET granted_nanos = granted_nanos + $2, expires_ms = $3
                         WHERE id = $1",
                        &[&id, &granted, &expires_ms],
                    )?;
                    id
                }
                None => tx
                    .query_one(
                        "INSERT INTO leases (instance, team, granted_nanos, created_ms, expires_ms)
                         VALUES ($1, $2, $3, $4, $5) RETURNING id",
                        &[&req.instance, &req.team, &granted, &now_ms, &expires_ms],
                    )?
                    .try_get(0)?,
            };
            Ok(Some(LeaseGrant {
                lease_id: lease_id as u64,
                granted_nanos: granted,
                expires_ms,
                wallet_available_nanos: available - granted,
                budget_notice: None,
            }))
        })
    }

    pub(super) fn holds_impl(&self, team: &str, now_ms: i64) -> Result<Vec<Hold>, StoreError> {
        if has_nul(team) {
            return Ok(Vec::new());
        }
        self.conn()?
            .query(
                &format!(
                    "SELECT {HOLD_COLUMNS} FROM leases
                     WHERE team = $1 AND settled_ms IS NULL
                       AND (closed_ms IS NOT NULL OR expires_ms <= $2)
                     ORDER BY id"
                ),
                &[&team, &now_ms],
            )?
            .iter()
            .map(hold_from_row)
            .collect()
    }

    pub(super) fn resolve_hold_impl(
        &self,
        resolution: &HoldResolution,
        now_ms: i64,
    ) -> Result<Option<Hold>, StoreError> {
        if has_nul(&resolution.team) || has_nul(&resolution.actor) || has_nul(&resolution.reason) {
            return Ok(None);
        }
        self.write(|tx| {
            // Wallet row first, as every write that changes a balance.
            if !lock_wallet(tx, &resolution.team)? {
                return Ok(None);
            }
            let hold = tx
                .query_opt(
                    &format!(
                        "SELECT {HOLD_COLUMNS} FROM leases
                         WHERE id = $1 AND team = $2 AND settled_ms IS NULL
                           AND (closed_ms IS NOT NULL OR expires_ms <= $3)
                         FOR UPDATE"
                    ),
                    &[&resolution.lease_id, &resolution.team, &now_ms],
                )?
                .as_ref()
                .map(hold_from_row)
                .transpose()?;
            if hold.is_some() {
                tx.execute(
                    "UPDATE leases SET settled_ms = $2, resolved_by = $3, resolution = $4 WHERE id = $1",
                    &[&resolution.lease_id, &now_ms, &resolution.actor, &resolution.reason],
                )?;
            }
            Ok(hold)
        })
    }
}
