//! The SQLite implementation of [`Store`].
//!
//! * One writer connection behind a mutex: SQLite allows one writer at a time anyway,
//!   and serialising in-process avoids busy-retry loops.
//! * A small pool of reader connections: in WAL mode readers see the last committed
//!   state and never block (nor are blocked by) the writer.
//! * `synchronous=FULL`: a commit is on disk before `ingest` returns, so the HTTP
//!   acknowledgement never outruns durability.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, Row, TransactionBehavior};
use tollgate_core::event::{CostEvent, Tokens};

use super::codec;
use super::group_commit::{GroupCommit, Outcomes};
use super::sqlite_checkpoint::{Checkpointer, WRITER_BACKSTOP_PAGES};
use super::sqlite_fold::{fold_after_ingest, fold_due, FoldState};
use super::{
    IngestBatch, IngestOutcome, RejectedEvent, SpendRow, Store, StoreError, StoredRejection, Sums,
};
use crate::query::{EventsQuery, Filters, SpendQuery};

/// Schema migrations, applied in order; `PRAGMA user_version` is how many have run.
/// Append only: a released migration is never edited.
pub(super) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_wallets.sql"),
    include_str!("migrations/0003_budgets.sql"),
    include_str!("migrations/0004_insights.sql"),
    include_str!("migrations/0005_coarse_rollups.sql"),
    include_str!("migrations/0006_wallet_unchecked.sql"),
    include_str!("migrations/0007_rollup_watermark.sql"),
];

/// Idle reader connections kept for reuse; more are opened on demand under load.
const MAX_IDLE_READERS: usize = 4;

/// How long a connection waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const INSERT_EVENT: &str = "INSERT INTO events (
        id, ts_ms, consumer_group, team, user_id, workflow, api, provider, lane,
        model_requested, model_served, input_tokens, cached_input_tokens,
        cache_write_tokens, output_tokens, usage_source, cost_nanos, unpriced, outcome,
        http_status, reason, latency_ms, stream, cache, cost_avoided_nanos, premium,
        premium_approved, received_ms, lease_id, wallet_unchecked)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
        ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30)
    ON CONFLICT (id) DO NOTHING";

const ADD_WALLET_SPEND: &str = "INSERT INTO wallets (team, spent_nanos, created_ms)
    VALUES (?1, ?2, ?3)
    ON CONFLICT (team) DO UPDATE SET spent_nanos = spent_nanos + excluded.spent_nanos";

const ADD_LEASE_SPEND: &str = "UPDATE leases SET spent_nanos = spent_nanos + ?2 WHERE id = ?1";

const INSERT_REJECTED: &str =
    "INSERT INTO rejected_events (received_ms, batch_index, error, raw) VALUES (?1, ?2, ?3, ?4)";

/// Columns read back into a [`CostEvent`], in [`event_from_row`]'s order.
pub(super) const EVENT_COLUMNS: &str = "id, ts_ms, consumer_group, team, user_id, workflow, api,
    provider, lane, model_requested, model_served, input_tokens, cached_input_tokens,
    cache_write_tokens, output_tokens, usage_source, cost_nanos, unpriced, outcome,
    http_status, reason, latency_ms, stream, cache, cost_avoided_nanos, premium,
    premium_approved, lease_id, wallet_unchecked";

pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Batches waiting for the writer (see `group_commit`).
    group: GroupCommit,
    /// When this process last brought the rollups up to date (see `sqlite_fold`).
    fold: FoldState,
    /// Copies WAL pages into the database off the writer's thread.
    _checkpointer: Option<Checkpointer>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to
    /// date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut writer = Connection::open(path)?;
        configure(&writer)?;
        // WAL is a property of the database file, set once by the writer.
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        let wal = mode.eq_ignore_ascii_case("wal");
        if !wal {
            tracing::warn!(path = %path.display(), mode, "SQLite refused WAL mode; readers will block the writer");
        }
        migrate(&mut writer)?;
        let checkpointer = if wal {
            writer.pragma_update(None, "wal_autocheckpoint", WRITER_BACKSTOP_PAGES)?;
            Some(Checkpointer::start(path, BUSY_TIMEOUT)?)
        } else {
            None
        };
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            group: GroupCommit::default(),
            fold: FoldState::default(),
            _checkpointer: checkpointer,
        })
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .reader()?
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    pub(super) fn fold_state(&self) -> &FoldState {
        &self.fold
    }

    pub(super) fn writer(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves at worst an open transaction, which
        // rusqlite rolled back when it unwound; the connection itself is fine.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn reader(&self) -> Result<Reader<'_>, StoreError> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open(&self.path)?;
                configure(&c)?;
                // Belt and braces: the read path can never modify the ledger.
                c.pragma_update(None, "query_only", true)?;
                c
            }
        };
        Ok(Reader {
            store: self,
            conn: Some(conn),
        })
    }
}

/// A pooled reader connection, returned to the pool on drop.
pub(super) struct Reader<'a> {
    store: &'a SqliteStore,
    conn: Option<Connection>,
}

impl std::ops::Deref for Reader<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("connection present until drop")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut pool = self.store.readers.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < MAX_IDLE_READERS {
                pool.push(conn);
            }
        }
    }
}

/// Per-connection settings (SQLite does not persist these in the file).
fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let supported = MIGRATIONS.len() as i64;
    loop {
        // IMMEDIATE takes the write lock before reading the version, so two ledgers
        // starting on the same file cannot both apply a migration.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > supported {
            return Err(StoreError::SchemaTooNew {
                found: version,
                supported,
            });
        }
        if version == supported {
            return Ok(());
        }
        tx.execute_batch(MIGRATIONS[version as usize])?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
        tracing::info!(version = version + 1, "applied ledger schema migration");
    }
}

/// The event's additive quantities as stored integers.
fn event_sums(e: &CostEvent) -> Result<Sums, StoreError> {
    Ok(Sums {
        requests: 1,
        input_tokens: tokens_i64(e.tokens.input)?,
        cached_input_tokens: tokens_i64(e.tokens.cached_input)?,
        cache_write_tokens: tokens_i64(e.tokens.cache_write)?,
        output_tokens: tokens_i64(e.tokens.output)?,
        cost_nanos: e.cost_nanos,
        cost_avoided_nanos: e.cost_avoided_nanos,
    })
}

fn tokens_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Corrupt(format!("token count {n} out of range")))
}

fn overflow() -> StoreError {
    StoreError::Corrupt("sum overflows 64 bits".into())
}

/// Appends `AND column = ?` for each filter set; the values go to `args`. Column
/// names are the same in `events` and `rollup_hourly`.
pub(super) fn push_filters(sql: &mut String, args: &mut Vec<Value>, f: &Filters) {
    for (column, value) in [
        ("team", &f.team),
        ("consumer_group", &f.consumer_group),
        ("provider", &f.provider),
        ("lane", &f.lane),
        ("model_served", &f.model),
    ] {
        if let Some(v) = value {
            args.push(Value::Text(v.clone()));
            sql.push_str(&format!(" AND {column} = ?{}", args.len()));
        }
    }
}

pub(super) fn event_from_row(r: &Row<'_>) -> Result<CostEvent, StoreError> {
    let u64_col = |i: usize| -> Result<u64, StoreError> {
        let v: i64 = r.get(i)?;
        u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative token count {v}")))
    };
    let http_status: i64 = r.get(19)?;
    let latency_ms: i64 = r.get(21)?;
    Ok(CostEvent {
        id: r.get(0)?,
        ts_ms: r.get(1)?,
        consumer_group: r.get(2)?,
        team: r.get(3)?,
        user: r.get(4)?,
        workflow: r.get(5)?,
        api: codec::api_from(&r.get::<_, String>(6)?)?,
        provider: r.get(7)?,
        lane: r.get(8)?,
        model_requested: r.get(9)?,
        model_served: r.get(10)?,
        tokens: Tokens {
            input: u64_col(11)?,
            cached_input: u64_col(12)?,
            cache_write: u64_col(13)?,
            output: u64_col(14)?,
        },
        usage_source: codec::usage_source_from(&r.get::<_, String>(15)?)?,
        cost_nanos: r.get(16)?,
        unpriced: r.get(17)?,
        outcome: codec::outcome_from(&r.get::<_, String>(18)?)?,
        http_status: u16::try_from(http_status)
            .map_err(|_| StoreError::Corrupt(format!("http_status {http_status}")))?,
        reason: r.get(20)?,
        latency_ms: u32::try_from(latency_ms)
            .map_err(|_| StoreError::Corrupt(format!("latency_ms {latency_ms}")))?,
        stream: r.get(22)?,
        cache: codec::cache_from(&r.get::<_, String>(23)?)?,
        cost_avoided_nanos: r.get(24)?,
        premium: r.get(25)?,
        premium_approved: r.get(26)?,
        lease_id: r
            .get::<_, Option<i64>>(27)?
            .map(|v| u64::try_from(v).unwrap_or_default()),
        wallet_unchecked: r.get(28)?,
    })
}

/// Stores a group of batches in one transaction; if that fails, each batch alone in
/// its own, so a batch that cannot be stored fails by itself.
fn ingest_group(conn: &mut Connection, batches: &[&IngestBatch], fold: &FoldState) -> Outcomes {
    match ingest_batches(conn, batches, fold) {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(e) if batches.len() == 1 => vec![Err(e)],
        Err(_) => batches
            .iter()
            .map(|b| ingest_batches(conn, &[b], fold).map(|o| o[0]))
            .collect(),
    }
}

/// Stores the batches in one transaction: new events, wallet and lease spend, and the
/// quarantined events; the rollups follow in bulk (see `sqlite_fold`). One outcome per
/// batch.
fn ingest_batches(
    conn: &mut Connection,
    batches: &[&IngestBatch],
    fold: &FoldState,
) -> Result<Vec<IngestOutcome>, StoreError> {
    let remembered = fold.remembered();
    let result = store_batches(conn, batches, fold);
    if result.is_err() {
        // Rolled back: those events were not stored.
        fold.forget_after(remembered);
    }
    result
}

fn store_batches(
    conn: &mut Connection,
    batches: &[&IngestBatch],
    fold: &FoldState,
) -> Result<Vec<IngestOutcome>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes = vec![IngestOutcome::default(); batches.len()];
    // Wallet and lease spend of the inserted events, applied once per key.
    let mut team_spend: HashMap<&str, i64> = HashMap::new();
    let mut lease_spend: HashMap<u64, i64> = HashMap::new();
    {
        let mut insert = tx.prepare_cached(INSERT_EVENT)?;
        let events = batches
            .iter()
            .enumerate()
            .flat_map(|(i, b)| b.events.iter().map(move |e| (i, e)));
        for (i, e) in events {
            let sums = event_sums(e)?;
            let inserted = insert.execute(params![
                e.id,
                e.ts_ms,
                e.consumer_group,
                e.team,
                e.user,
                e.workflow,
                codec::api_str(e.api),
                e.provider,
                e.lane,
                e.model_requested,
                e.model_served,
                sums.input_tokens,
                sums.cached_input_tokens,
                sums.cache_write_tokens,
                sums.output_tokens,
                codec::usage_source_str(e.usage_source),
                e.cost_nanos,
                e.unpriced,
                codec::outcome_str(e.outcome),
                e.http_status,
                e.reason,
                e.latency_ms,
                e.stream,
                codec::cache_str(e.cache),
                e.cost_avoided_nanos,
                e.premium,
                e.premium_approved,
                batches[i].received_ms,
                e.lease_id.map(|l| l as i64),
                e.wallet_unchecked,
            ])?;
            // 0 rows: the id is already stored (a retry, or twice in this group).
            if inserted == 1 {
                fold.inserted(tx.last_insert_rowid(), e);
                outcomes[i].accepted += 1;
                let team = team_spend.entry(e.team.as_str()).or_insert(0);
                *team = team.checked_add(e.cost_nanos).ok_or_else(overflow)?;
                if let Some(lease) = e.lease_id {
                    *lease_spend.entry(lease).or_insert(0) += e.cost_nanos;
                }
            }
        }

        // A wallet first seen here is dated by the group's first batch.
        let created_ms = batches.first().map_or(0, |b| b.received_ms);
        let mut wallet = tx.prepare_cached(ADD_WALLET_SPEND)?;
        for (team, cost) in &team_spend {
            wallet.execute(params![team, cost, created_ms])?;
        }
        let mut lease = tx.prepare_cached(ADD_LEASE_SPEND)?;
        for (id, cost) in &lease_spend {
            lease.execute(params![*id as i64, cost])?;
        }

        let mut quarantine = tx.prepare_cached(INSERT_REJECTED)?;
        for batch in batches {
            for r in &batch.rejected {
                quarantine.execute(params![batch.received_ms, r.index as i64, r.error, r.raw])?;
            }
        }
    }
    let fold_due = fold_due(&tx, fold)?;
    tx.commit()?;
    if fold_due {
        fold_after_ingest(conn, fold);
    }
    for (o, b) in outcomes.iter_mut().zip(batches) {
        o.duplicates = b.events.len() - o.accepted;
    }
    Ok(outcomes)
}

impl Store for SqliteStore {
    fn ingest(&self, batch: &IngestBatch) -> Result<IngestOutcome, StoreError> {
        Ok(ingest_batches(&mut self.writer(), &[batch], &self.fold)?[0])
    }

    fn ingest_owned(&self, batch: IngestBatch) -> (IngestBatch, Result<IngestOutcome, StoreError>) {
        self.group.submit(
            batch,
            || self.writer(),
            |conn, batches| ingest_group(conn, batches, &self.fold),
        )
    }

    fn spend_from(
        &self,
        q: &SpendQuery,
        rollups: super::spend_plan::Rollups,
    ) -> Result<Vec<SpendRow>, StoreError> {
        self.settle()?;
        self.spend_impl(q, rollups)
    }

    fn recent_events(&self, q: &EventsQuery) -> Result<Vec<CostEvent>, StoreError> {
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1");
        let mut args = Vec::new();
        push_filters(&mut sql, &mut args, &q.filters);
        args.push(Value::Integer(q.limit as i64));
        sql.push_str(&format!(
            " ORDER BY ts_ms DESC, seq DESC LIMIT ?{}",
            args.len()
        ));
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(event_from_row(r)?);
        }
        Ok(out)
    }

    fn rejected_events(&self, limit: usize) -> Result<Vec<StoredRejection>, StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT received_ms, batch_index, raw, error FROM rejected_events
             ORDER BY seq DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(StoredRejection {
                received_ms: r.get(0)?,
                event: RejectedEvent {
                    index: r.get::<_, i64>(1)? as usize,
                    raw: r.get(2)?,
                    error: r.get(3)?,
                },
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn ensure_wallet(&self, team: &str, now_ms: i64) -> Result<(), StoreError> {
        self.ensure_wallet_impl(team, now_ms)
    }

    fn allocate(
        &self,
        entry: &super::wallets::NewEntry,
        now_ms: i64,
    ) -> Result<Option<(super::wallets::WalletEntry, super::wallets::WalletState)>, StoreError>
    {
        self.allocate_impl(entry, now_ms)
    }

    fn wallet(
        &self,
        team: &str,
        now_ms: i64,
    ) -> Result<Option<super::wallets::WalletState>, StoreError> {
        self.wallet_impl(team, now_ms)
    }

    fn wallets(&self, now_ms: i64) -> Result<Vec<super::wallets::WalletState>, StoreError> {
        self.wallets_impl(now_ms)
    }

    fn wallet_entries(
        &self,
        team: &str,
        limit: usize,
    ) -> Result<Vec<super::wallets::WalletEntry>, StoreError> {
        self.wallet_entries_impl(team, limit)
    }

    fn lease(
        &self,
        request: &tollgate_core::lease::LeaseRequest,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<Option<tollgate_core::lease::LeaseGrant>, StoreError> {
        self.lease_impl(request, now_ms, ttl_ms)
    }

    fn daily_spend(
        &self,
        teams: &[String],
        from_day: i64,
        to_day: i64,
    ) -> Result<std::collections::HashMap<String, Vec<i64>>, StoreError> {
        self.settle()?;
        self.daily_spend_impl(teams, from_day, to_day)
    }

    fn record_alert(
        &self,
        alert: &super::alerts::NewAlert,
        webhooks: &[(String, String)],
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.record_alert_impl(alert, webhooks, now_ms)
    }

    fn due_deliveries(
        &self,
        now_ms: i64,
    ) -> Result<Vec<(super::alerts::DeliveryRecord, super::alerts::AlertRecord)>, StoreError> {
        self.due_deliveries_impl(now_ms)
    }

    fn finish_delivery(
        &self,
        id: i64,
        outcome: Result<(), String>,
        now_ms: i64,
        max_attempts: i64,
    ) -> Result<(), StoreError> {
        self.finish_delivery_impl(id, outcome, now_ms, max_attempts)
    }

    fn alerts(&self, limit: usize) -> Result<Vec<super::alerts::AlertRecord>, StoreError> {
        self.alerts_impl(limit)
    }

    fn for_each_event(
        &self,
        scope: &super::export::ExportScope,
        sink: &mut dyn FnMut(CostEvent) -> std::ops::ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.for_each_event_impl(scope, sink)
    }

    fn for_each_period_row(
        &self,
        scope: &super::export::ExportScope,
        period: super::export::Period,
        by_cache: bool,
        sink: &mut dyn FnMut(super::export::PeriodRow) -> std::ops::ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.settle()?;
        self.for_each_period_row_impl(scope, period, by_cache, sink)
    }

    fn premium_lanes(&self, scope: &super::export::ExportScope) -> Result<Vec<String>, StoreError> {
        self.premium_lanes_impl(scope)
    }

    fn insight_rows(
        &self,
        query: &super::insights::InsightQuery,
    ) -> Result<Vec<SpendRow>, StoreError> {
        self.settle()?;
        self.insight_rows_impl(query)
    }

    fn create_token(
        &self,
        token: &super::insights::NewToken,
        now_ms: i64,
    ) -> Result<super::insights::TokenRecord, StoreError> {
        self.create_token_impl(token, now_ms)
    }

    fn tokens(&self) -> Result<Vec<super::insights::TokenRecord>, StoreError> {
        self.tokens_impl()
    }

    fn token_by_hash(
        &self,
        sha256: &str,
    ) -> Result<Option<super::insights::TokenRecord>, StoreError> {
        self.token_by_hash_impl(sha256)
    }

    fn revoke_token(&self, id: i64, now_ms: i64) -> Result<bool, StoreError> {
        self.revoke_token_impl(id, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{parse_spend, EventsQuery, DAY_MS};
    use crate::test_util::{batch, event, TempDir};

    const H0: i64 = 1_793_491_200_000; // 2026-11-01T00:00:00Z

    fn total(store: &SqliteStore) -> Sums {
        let q = parse_spend(
            &[
                ("from".into(), "0".into()),
                ("to".into(), (H0 + 10 * DAY_MS).to_string()),
            ],
            H0,
        )
        .unwrap();
        let rows = store.spend(&q).unwrap();
        assert!(rows.len() <= 1);
        rows.first().map(|r| r.sums).unwrap_or_default()
    }

    fn all_events(store: &SqliteStore) -> Vec<CostEvent> {
        store
            .recent_events(&EventsQuery {
                filters: Filters::default(),
                limit: 1000,
            })
            .unwrap()
    }

    #[test]
    fn creates_schema_once_and_refuses_a_newer_one() {
        let dir = TempDir::new();
        let path = dir.path().join("l.sqlite3");
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
        drop(store);
        // Reopening finds the schema current and applies nothing.
        let store = SqliteStore::open(&path).unwrap();
        let mode: String = store
            .writer()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = store
            .writer()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
        store
            .writer()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        drop(store);
        match SqliteStore::open(&path) {
            Err(StoreError::SchemaTooNew { found: 99, .. }) => {}
            other => panic!("expected SchemaTooNew, got {:?}", other.err()),
        }
    }

    #[test]
    fn ingest_is_idempotent_by_id_and_rollups_count_new_rows_only() {
        let dir = TempDir::new();
        let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
        let first = batch(vec![
            event("a", H0, "team_a", 100),
            event("b", H0 + 1, "team_a", 200),
            // The same id twice in one batch counts once.
            event("a", H0, "team_a", 100),
        ]);
        assert_eq!(
            store.ingest(&first).unwrap(),
            IngestOutcome {
                accepted: 2,
                duplicates: 1
            }
        );
        let after_first = total(&store);
        assert_eq!(after_first.requests, 2);
        assert_eq!(after_first.cost_nanos, 300);

        assert_eq!(
            store.ingest(&first).unwrap(),
            IngestOutcome {
                accepted: 0,
                duplicates: 3
            }
        );
        assert_eq!(total(&store), after_first);

        // A retried id with different content is still the stored one: first write wins.
        let changed = batch(vec![
            event("b", H0 + 1, "team_a", 999_999),
            event("c", H0 + 2, "team_a", 5),
        ]);
        assert_eq!(store.ingest(&changed).unwrap().accepted, 1);
        assert_eq!(total(&store).cost_nanos, 305);
        assert_eq!(all_events(&store).len(), 3);
    }

    #[test]
    fn every_field_survives_close_and_reopen() {
        let dir = TempDir::new();
        let path = dir.path().join("l.sqlite3");
        let mut full = event("full", H0 + 5, "team_x", 123_456);
        full.user = Some("alice@example.com".into());
        full.workflow = Some("triage".into());
        full.api = tollgate_core::event::ApiKind::Messages;
        full.provider = None;
        full.lane = None;
        full.model_served = "claude-haiku-4".into();
        full.tokens = Tokens {
            input: 1,
            cached_input: 2,
            cache_write: 3,
            output: 4,
        };
        full.usage_source = tollgate_core::event::UsageSource::Estimated;
        full.unpriced = true;
        full.outcome = tollgate_core::event::Outcome::Incomplete;
        full.http_status = 502;
        full.reason = Some("upstream_reset".into());
        full.latency_ms = u32::MAX;
        full.stream = true;
        full.cache = tollgate_core::event::CacheStatus::Hit;
        full.cost_avoided_nanos = 77;
        full.premium = true;
        full.premium_approved = true;
        full.wallet_unchecked = true;
        let plain = event("plain", H0, "team_x", 1);
        let mut b = batch(vec![full.clone(), plain.clone()]);
        b.rejected.push(RejectedEvent {
            index: 2,
            raw: "{\"id\":1}".into(),
            error: "id: invalid type".into(),
        });
        {
            let store = SqliteStore::open(&path).unwrap();
            store.ingest(&b).unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(all_events(&store), vec![full, plain]);
        let sums = total(&store);
        assert_eq!(sums.requests, 2);
        assert_eq!(sums.cost_nanos, 123_457);
        assert_eq!(sums.cost_avoided_nanos, 77);
        assert_eq!(sums.cache_write_tokens, 3);
        let rejected = store.rejected_events(10).unwrap();
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].event, b.rejected[0]);
        assert_eq!(rejected[0].received_ms, 1);
    }

    #[test]
    fn a_group_of_batches_is_stored_as_if_one_after_the_other() {
        let dir = TempDir::new();
        let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
        let mut first = batch(vec![
            event("a", H0, "team_a", 100),
            event("b", H0, "team_b", 7),
        ]);
        first.rejected.push(RejectedEvent {
            index: 2,
            raw: "{}".into(),
            error: "id: missing".into(),
        });
        // Repeats "a" from the first batch (a retry racing the original) and "c" twice.
        let second = batch(vec![
            event("a", H0, "team_a", 100),
            event("c", H0 + 1, "team_a", 5),
            event("c", H0 + 1, "team_a", 5),
        ]);
        let mut bad = event("bad", H0, "team_a", 1);
        bad.tokens.input = u64::MAX;
        let failing = batch(vec![event("d", H0, "team_a", 1), bad]);
        let outcomes = ingest_group(
            &mut store.writer(),
            &[&first, &failing, &second],
            &store.fold,
        );
        assert_eq!(outcomes.len(), 3);
        assert_eq!(
            outcomes[0].as_ref().unwrap(),
            &IngestOutcome {
                accepted: 2,
                duplicates: 0
            }
        );
        assert!(outcomes[1].is_err(), "the failing batch fails alone");
        assert_eq!(
            outcomes[2].as_ref().unwrap(),
            &IngestOutcome {
                accepted: 1,
                duplicates: 2
            }
        );
        let sums = total(&store);
        assert_eq!((sums.requests, sums.cost_nanos), (3, 112));
        let mut ids: Vec<String> = all_events(&store).into_iter().map(|e| e.id).collect();
        ids.sort();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(store.rejected_events(10).unwrap().len(), 1);
        assert_eq!(store.wallet("team_b", H0).unwrap().unwrap().spent_nanos, 7);

        // Without a failing batch the group is one transaction with the same result.
        let dir2 = TempDir::new();
        let grouped = SqliteStore::open(&dir2.path().join("l.sqlite3")).unwrap();
        let outcomes = ingest_group(&mut grouped.writer(), &[&first, &second], &grouped.fold);
        assert!(outcomes.iter().all(|o| o.is_ok()));
        assert_eq!(total(&grouped), sums);
    }

    #[test]
    fn concurrent_senders_each_get_their_own_outcome() {
        let dir = TempDir::new();
        let store = std::sync::Arc::new(SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    (0..20)
                        .map(|b| {
                            // Every batch repeats one id of the previous batch of its sender.
                            let ids = [format!("{t}-{b}-x"), format!("{t}-{}-x", b.max(1) - 1)];
                            let events = ids
                                .iter()
                                .map(|id| event(id, H0 + b, &format!("team_{t}"), 10))
                                .collect();
                            let (back, outcome) = store.ingest_owned(batch(events));
                            assert_eq!(back.events[0].id, ids[0]);
                            outcome.unwrap()
                        })
                        .fold((0, 0), |(a, d), o| (a + o.accepted, d + o.duplicates))
                })
            })
            .collect();
        let mut accepted = 0;
        for t in threads {
            let (a, d) = t.join().unwrap();
            // Batch 0 repeats its own id; batches 1.. repeat the previous one's.
            assert_eq!((a, d), (20, 20));
            accepted += a;
        }
        assert_eq!(total(&store).requests, accepted as i64);
        assert_eq!(total(&store).cost_nanos, 10 * accepted as i64);
    }

    #[test]
    fn a_failed_batch_leaves_nothing_behind() {
        let dir = TempDir::new();
        let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
        let mut bad = event("too-many-tokens", H0, "team_a", 1);
        bad.tokens.input = u64::MAX; // validation normally stops this; the store must not half-commit
        let b = batch(vec![event("ok", H0, "team_a", 1), bad]);
        assert!(store.ingest(&b).is_err());
        assert!(all_events(&store).is_empty());
        assert_eq!(total(&store), Sums::default());
    }
}
