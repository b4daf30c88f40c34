//! The PostgreSQL implementation of [`Store`], for several ledger instances sharing one
//! database.
//!
//! * Nothing that must agree across instances lives in memory: idempotency is the
//!   `events.id` unique key, wallet and lease arithmetic happens in transactions that
//!   lock the team's `wallets` row, alerts fire once through their unique key.
//! * Every write transaction takes its row locks in one global order (wallets by
//!   team, then leases by id; a grant takes its wallet before its lease), so
//!   concurrent ledgers queue rather than deadlock. A deadlock or serialization
//!   failure the server still reports is retried a few times. Rollup rows are written
//!   only by folds, one at a time across ledgers (`postgres_fold`).
//! * Ingest stores events, wallet and lease spend and the quarantine, and marks its
//!   events pending; the rollups catch up in bulk before every read of them and every
//!   [`super::postgres_fold::FOLD_EVENTS`] events or second (`postgres_fold`).
//! * Commits use the server's durability settings (`synchronous_commit` on by
//!   default): `ingest` returns after the batch is durable.
//! * A blocking client (`postgres`) behind an r2d2 pool: the trait is synchronous and
//!   the HTTP layer calls it on the blocking pool.
//! * Money stays BIGINT nanodollars. Sums are computed by PostgreSQL as NUMERIC and
//!   cast back with `::BIGINT`, which raises an error on overflow instead of wrapping;
//!   rollup, wallet and lease additions are BIGINT arithmetic, which errors likewise.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Transaction};
use r2d2_postgres::r2d2;
use r2d2_postgres::PostgresConnectionManager;
use tollgate_core::event::{CostEvent, Tokens};

use super::codec;
use super::derived::HourlyKey;
use super::{
    IngestBatch, IngestOutcome, RejectedEvent, SpendRow, Store, StoreError, StoredRejection, Sums,
};
use crate::query::{EventsQuery, Filters, SpendQuery};

/// Schema migrations, applied in order; `tollgate_schema_migrations` records each
/// version applied. Append only: a released migration is never edited.
pub(super) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/pg/0001_init.sql"),
    include_str!("migrations/pg/0002_wallets.sql"),
    include_str!("migrations/pg/0003_budgets.sql"),
    include_str!("migrations/pg/0004_insights.sql"),
    include_str!("migrations/pg/0005_wallet_unchecked.sql"),
    include_str!("migrations/pg/0006_bulk_rollups.sql"),
];

/// `pg_advisory_xact_lock` key held while migrating ("Tollgate" in ASCII): ledgers
/// starting together take turns, and all but the first find nothing to do.
const MIGRATION_LOCK: i64 = 0x546f_6c6c_6761_7465;

/// Connections per ledger instance. PostgreSQL's default `max_connections` (100)
/// leaves room for several instances.
const POOL_SIZE: u32 = 16;
/// How long a caller waits for a pooled connection (or a new one) before failing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts of a write transaction that the server aborted as a deadlock victim or
/// for a serialization failure.
const MAX_TX_ATTEMPTS: u32 = 8;

pub(super) type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;
pub(super) type Conn = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;
/// Positional query parameters built at run time.
pub(super) type Args = Vec<Box<dyn ToSql + Sync + Send>>;

/// Columns read back into a [`CostEvent`], in [`event_from_row`]'s order.
pub(super) const EVENT_COLUMNS: &str = "id, ts_ms, consumer_group, team, user_id, workflow, api,
    provider, lane, model_requested, model_served, input_tokens, cached_input_tokens,
    cache_write_tokens, output_tokens, usage_source, cost_nanos, unpriced, outcome,
    http_status, reason, latency_ms, stream, cache, cost_avoided_nanos, premium,
    premium_approved, lease_id, wallet_unchecked";

/// A whole batch in one statement: one array per column, rows inserted in batch order
/// (so `seq` is arrival order), ids already stored skipped. Returns the id and `seq`
/// of each row inserted.
const INSERT_EVENTS: &str = "INSERT INTO events (
        id, ts_ms, consumer_group, team, user_id, workflow, api, provider, lane,
        model_requested, model_served, input_tokens, cached_input_tokens,
        cache_write_tokens, output_tokens, usage_source, cost_nanos, unpriced, outcome,
        http_status, reason, latency_ms, stream, cache, cost_avoided_nanos, premium,
        premium_approved, received_ms, lease_id, wallet_unchecked)
    SELECT id, ts_ms, consumer_group, team, user_id, workflow, api, provider, lane,
        model_requested, model_served, input_tokens, cached_input_tokens,
        cache_write_tokens, output_tokens, usage_source, cost_nanos, unpriced, outcome,
        http_status, reason, latency_ms, stream, cache, cost_avoided_nanos, premium,
        premium_approved, $28, lease_id, wallet_unchecked
    FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[],
        $13::bigint[], $14::bigint[], $15::bigint[], $16::text[], $17::bigint[],
        $18::boolean[], $19::text[], $20::bigint[], $21::text[], $22::bigint[],
        $23::boolean[], $24::text[], $25::bigint[], $26::boolean[], $27::boolean[],
        $29::bigint[], $30::boolean[])
        WITH ORDINALITY AS t (id, ts_ms, consumer_group, team, user_id, workflow, api,
            provider, lane, model_requested, model_served, input_tokens,
            cached_input_tokens, cache_write_tokens, output_tokens, usage_source,
            cost_nanos, unpriced, outcome, http_status, reason, latency_ms, stream, cache,
            cost_avoided_nanos, premium, premium_approved, lease_id, wallet_unchecked,
            ord)
    ORDER BY ord
    ON CONFLICT (id) DO NOTHING
    RETURNING id, seq";

/// Rollup deltas, one row per key (already aggregated), applied in key order (by a
/// fold, `postgres_fold`).
const UPSERT_ROLLUPS: &str = "INSERT INTO rollup_hourly AS r (
        hour_ms, team, consumer_group, user_id, workflow, provider, lane, model_served,
        api, outcome, cache, requests, input_tokens, cached_input_tokens,
        cache_write_tokens, output_tokens, cost_nanos, cost_avoided_nanos)
    SELECT hour_ms, team, consumer_group, user_id, workflow, provider, lane,
        model_served, api, outcome, cache, requests, input_tokens, cached_input_tokens,
        cache_write_tokens, output_tokens, cost_nanos, cost_avoided_nanos
    FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[],
        $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[],
        $18::bigint[])
        WITH ORDINALITY AS t (hour_ms, team, consumer_group, user_id, workflow, provider,
            lane, model_served, api, outcome, cache, requests, input_tokens,
            cached_input_tokens, cache_write_tokens, output_tokens, cost_nanos,
            cost_avoided_nanos, ord)
    ORDER BY ord
    ON CONFLICT (hour_ms, team, consumer_group, user_id, workflow, provider, lane,
                 model_served, api, outcome, cache) DO UPDATE SET
        requests = r.requests + excluded.requests,
        input_tokens = r.input_tokens + excluded.input_tokens,
        cached_input_tokens = r.cached_input_tokens + excluded.cached_input_tokens,
        cache_write_tokens = r.cache_write_tokens + excluded.cache_write_tokens,
        output_tokens = r.output_tokens + excluded.output_tokens,
        cost_nanos = r.cost_nanos + excluded.cost_nanos,
        cost_avoided_nanos = r.cost_avoided_nanos + excluded.cost_avoided_nanos";

/// Wallet spend of the inserted events, teams in sorted order.
const ADD_WALLET_SPEND: &str = "INSERT INTO wallets AS w (team, spent_nanos, created_ms)
    SELECT team, spent, $3 FROM UNNEST($1::text[], $2::bigint[])
        WITH ORDINALITY AS t (team, spent, ord)
    ORDER BY ord
    ON CONFLICT (team) DO UPDATE SET spent_nanos = w.spent_nanos + excluded.spent_nanos";

const ADD_LEASE_SPEND: &str = "UPDATE leases SET spent_nanos = spent_nanos + $2 WHERE id = $1";

const INSERT_REJECTED: &str = "INSERT INTO rejected_events (received_ms, batch_index, error, raw)
    SELECT $1, batch_index, error, raw
    FROM UNNEST($2::bigint[], $3::text[], $4::text[])
        WITH ORDINALITY AS t (batch_index, error, raw, ord)
    ORDER BY ord";

pub struct PgStore {
    /// Always `Some` until dropped.
    pool: Option<Pool>,
    location: String,
    fold: super::postgres_fold::FoldClock,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Each `postgres::Client` drives its connection on a small runtime of its own,
        // which cannot be shut down from async code; the ledger may drop its store
        // there. Closing the connections on a plain thread is right everywhere.
        if let Some(pool) = self.pool.take() {
            let _ = std::thread::spawn(move || drop(pool)).join();
        }
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`,
    /// or any form `postgres::Config` parses) and brings its schema up to date.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_config(postgres::Config::from_str(url)?)
    }

    pub fn open_config(mut config: postgres::Config) -> Result<Self, StoreError> {
        if config.get_application_name().is_none() {
            config.application_name("tollgate-ledger");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let location = describe(&config);
        // A first connection of its own: a wrong URL or a server that is down fails
        // now, with the server's own error, and the schema is brought up to date.
        migrate(&mut config.connect(NoTls)?)?;
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(CONNECT_TIMEOUT)
            .build_unchecked(PostgresConnectionManager::new(config, NoTls));
        Ok(PgStore {
            pool: Some(pool),
            location,
            fold: Default::default(),
        })
    }

    /// Where the data lives, without the password: for logs.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The database a URL names, without the password (for messages about a store
    /// that could not be opened).
    pub fn describe_url(url: &str) -> String {
        postgres::Config::from_str(url).map_or_else(
            |_| "PostgreSQL database (unparsable URL)".into(),
            |c| describe(&c),
        )
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn()?
            .query_one(
                "SELECT COALESCE(MAX(version), 0)::BIGINT FROM tollgate_schema_migrations",
                &[],
            )?
            .try_get(0)?)
    }

    pub(super) fn fold_clock(&self) -> &super::postgres_fold::FoldClock {
        &self.fold
    }

    pub(super) fn conn(&self) -> Result<Conn, StoreError> {
        self.pool
            .as_ref()
            .expect("pool present until drop")
            .get()
            .map_err(|e| StoreError::Pool(e.to_string()))
    }

    /// Runs `f` in a transaction and commits it. A transaction the server aborted to
    /// break a deadlock (or for a serialization failure) is run again from the start:
    /// `f` must not keep state from an earlier attempt.
    pub(super) fn write<T>(
        &self,
        mut f: impl FnMut(&mut Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut attempt = 1;
        loop {
            let result = {
                let mut conn = self.conn()?;
                run_transaction(&mut conn, &mut f)
            };
            match result {
                Err(e) if attempt < MAX_TX_ATTEMPTS && is_retryable(&e) => {
                    tracing::warn!(error = %e, attempt, "PostgreSQL transaction aborted; retrying");
                    // Back off with jitter, so the transactions that crossed do not
                    // meet again at once.
                    let jitter = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.subsec_nanos() as u64 % 10);
                    std::thread::sleep(Duration::from_millis(
                        (5 << attempt) + jitter * attempt as u64,
                    ));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

fn run_transaction<T>(
    conn: &mut Client,
    f: &mut impl FnMut(&mut Transaction<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut tx = conn.transaction()?;
    let value = f(&mut tx)?;
    tx.commit()?;
    Ok(value)
}

fn is_retryable(e: &StoreError) -> bool {
    match e {
        StoreError::Postgres(e) => matches!(
            e.code(),
            Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
        ),
        _ => false,
    }
}

/// `postgres://user@host:port/db`: the connection target without secrets.
fn describe(config: &postgres::Config) -> String {
    use postgres::config::Host;
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                Host::Unix(path) => path.display().to_string(),
            };
            match config.get_ports().get(i).or(config.get_ports().first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    format!(
        "postgres://{}{}/{}",
        config
            .get_user()
            .map(|u| format!("{u}@"))
            .unwrap_or_default(),
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

fn migrate(conn: &mut Client) -> Result<(), StoreError> {
    let supported = MIGRATIONS.len() as i64;
    let mut tx = conn.transaction()?;
    // Held until commit: a second ledger starting now waits here, then finds the
    // schema current. DDL is transactional, so a failed migration leaves nothing.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    let fresh: bool = tx
        .query_one(
            "SELECT to_regclass('tollgate_schema_migrations') IS NULL",
            &[],
        )?
        .try_get(0)?;
    if fresh {
        tx.batch_execute(
            "CREATE TABLE tollgate_schema_migrations (
                version    BIGINT PRIMARY KEY,
                applied_ms BIGINT NOT NULL
            )",
        )?;
    }
    let version: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::BIGINT FROM tollgate_schema_migrations",
            &[],
        )?
        .try_get(0)?;
    if version > supported {
        return Err(StoreError::SchemaTooNew {
            found: version,
            supported,
        });
    }
    for v in version..supported {
        tx.batch_execute(MIGRATIONS[v as usize])?;
        tx.execute(
            "INSERT INTO tollgate_schema_migrations (version, applied_ms)
             VALUES ($1, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT)",
            &[&(v + 1)],
        )?;
        tracing::info!(
            version = v + 1,
            "applied ledger schema migration (PostgreSQL)"
        );
    }
    tx.commit()?;
    Ok(())
}

/// PostgreSQL text cannot hold U+0000 (SQLite's can).
pub(super) fn has_nul(s: &str) -> bool {
    s.contains('\0')
}

/// A filter value with U+0000 matches nothing stored (no stored text has one).
pub(super) fn unmatchable(f: &Filters) -> bool {
    [&f.team, &f.consumer_group, &f.provider, &f.lane, &f.model]
        .into_iter()
        .flatten()
        .any(|v| has_nul(v))
}

fn event_has_nul(e: &CostEvent) -> bool {
    [
        Some(&e.id),
        Some(&e.consumer_group),
        Some(&e.team),
        e.user.as_ref(),
        e.workflow.as_ref(),
        e.provider.as_ref(),
        e.lane.as_ref(),
        Some(&e.model_requested),
        Some(&e.model_served),
        e.reason.as_ref(),
    ]
    .into_iter()
    .flatten()
    .any(|s| has_nul(s))
}

/// Quarantine text: U+0000 written as the JSON escape it arrived as.
fn storable_text(s: &str) -> String {
    s.replace('\0', "\\u0000")
}

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

/// Appends `AND column = $n` for each filter set; the values go to `args`. Column
/// names are the same in `events` and `rollup_hourly`.
pub(super) fn push_filters(sql: &mut String, args: &mut Args, f: &Filters) {
    for (column, value) in [
        ("team", &f.team),
        ("consumer_group", &f.consumer_group),
        ("provider", &f.provider),
        ("lane", &f.lane),
        ("model_served", &f.model),
    ] {
        if let Some(v) = value {
            args.push(Box::new(v.clone()));
            sql.push_str(&format!(" AND {column} = ${}", args.len()));
        }
    }
}

/// The portable query arguments of `spend_sql`/`insight_sql` as PostgreSQL parameters.
pub(super) fn pg_args(args: Vec<super::spend_sql::Arg>) -> Args {
    args.into_iter()
        .map(|a| -> Box<dyn ToSql + Sync + Send> {
            match a {
                super::spend_sql::Arg::Int(v) => Box::new(v),
                super::spend_sql::Arg::Text(v) => Box::new(v),
            }
        })
        .collect()
}

pub(super) fn arg_refs(args: &Args) -> Vec<&(dyn ToSql + Sync)> {
    args.iter()
        .map(|a| a.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// A stored SUM: NULL (no rows) reads as 0.
pub(super) fn sum_col(r: &Row, i: usize) -> Result<i64, StoreError> {
    Ok(r.try_get::<_, Option<i64>>(i)?.unwrap_or(0))
}

pub(super) fn sums_from(r: &Row, first: usize) -> Result<Sums, StoreError> {
    Ok(Sums {
        requests: sum_col(r, first)?,
        input_tokens: sum_col(r, first + 1)?,
        cached_input_tokens: sum_col(r, first + 2)?,
        cache_write_tokens: sum_col(r, first + 3)?,
        output_tokens: sum_col(r, first + 4)?,
        cost_nanos: sum_col(r, first + 5)?,
        cost_avoided_nanos: sum_col(r, first + 6)?,
    })
}

/// The seven additive columns summed, each cast back to BIGINT (an error on
/// overflow, never a wrapped total).
pub(super) const SUM_COLUMNS: &str = "SUM(requests)::BIGINT, SUM(input_tokens)::BIGINT,
    SUM(cached_input_tokens)::BIGINT, SUM(cache_write_tokens)::BIGINT,
    SUM(output_tokens)::BIGINT, SUM(cost_nanos)::BIGINT, SUM(cost_avoided_nanos)::BIGINT";

pub(super) fn event_from_row(r: &Row) -> Result<CostEvent, StoreError> {
    let u64_col = |i: usize| -> Result<u64, StoreError> {
        let v: i64 = r.try_get(i)?;
        u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative token count {v}")))
    };
    let http_status: i64 = r.try_get(19)?;
    let latency_ms: i64 = r.try_get(21)?;
    Ok(CostEvent {
        id: r.try_get(0)?,
        ts_ms: r.try_get(1)?,
        consumer_group: r.try_get(2)?,
        team: r.try_get(3)?,
        user: r.try_get(4)?,
        workflow: r.try_get(5)?,
        api: codec::api_from(r.try_get(6)?)?,
        provider: r.try_get(7)?,
        lane: r.try_get(8)?,
        model_requested: r.try_get(9)?,
        model_served: r.try_get(10)?,
        tokens: Tokens {
            input: u64_col(11)?,
            cached_input: u64_col(12)?,
            cache_write: u64_col(13)?,
            output: u64_col(14)?,
        },
        usage_source: codec::usage_source_from(r.try_get(15)?)?,
        cost_nanos: r.try_get(16)?,
        unpriced: r.try_get(17)?,
        outcome: codec::outcome_from(r.try_get(18)?)?,
        http_status: u16::try_from(http_status)
            .map_err(|_| StoreError::Corrupt(format!("http_status {http_status}")))?,
        reason: r.try_get(20)?,
        latency_ms: u32::try_from(latency_ms)
            .map_err(|_| StoreError::Corrupt(format!("latency_ms {latency_ms}")))?,
        stream: r.try_get(22)?,
        cache: codec::cache_from(r.try_get(23)?)?,
        cost_avoided_nanos: r.try_get(24)?,
        premium: r.try_get(25)?,
        premium_approved: r.try_get(26)?,
        lease_id: r
            .try_get::<_, Option<i64>>(27)?
            .map(|v| u64::try_from(v).unwrap_or_default()),
        wallet_unchecked: r.try_get(28)?,
    })
}

/// The position in the posted batch of each of `batch.events`, recovered from the
/// quarantined indices (`ingest::split_batch` keeps both lists in batch order).
fn batch_positions(batch: &IngestBatch) -> Vec<usize> {
    let mut rejected: Vec<usize> = batch.rejected.iter().map(|r| r.index).collect();
    rejected.sort_unstable();
    let mut rejected = rejected.into_iter().peekable();
    let mut positions = Vec::with_capacity(batch.events.len());
    let mut i = 0;
    while positions.len() < batch.events.len() {
        match rejected.peek() {
            Some(&r) if r < i => {
                rejected.next();
            }
            Some(&r) if r == i => {
                rejected.next();
                i += 1;
            }
            _ => {
                positions.push(i);
                i += 1;
            }
        }
    }
    positions
}

/// Column arrays of the events to insert, in batch order.
#[derive(Default)]
struct EventColumns<'a> {
    id: Vec<&'a str>,
    ts_ms: Vec<i64>,
    consumer_group: Vec<&'a str>,
    team: Vec<&'a str>,
    user: Vec<Option<&'a str>>,
    workflow: Vec<Option<&'a str>>,
    api: Vec<&'static str>,
    provider: Vec<Option<&'a str>>,
    lane: Vec<Option<&'a str>>,
    model_requested: Vec<&'a str>,
    model_served: Vec<&'a str>,
    input: Vec<i64>,
    cached_input: Vec<i64>,
    cache_write: Vec<i64>,
    output: Vec<i64>,
    usage_source: Vec<&'static str>,
    cost: Vec<i64>,
    unpriced: Vec<bool>,
    outcome: Vec<&'static str>,
    http_status: Vec<i64>,
    reason: Vec<Option<&'a str>>,
    latency_ms: Vec<i64>,
    stream: Vec<bool>,
    cache: Vec<&'static str>,
    cost_avoided: Vec<i64>,
    premium: Vec<bool>,
    premium_approved: Vec<bool>,
    lease_id: Vec<Option<i64>>,
    wallet_unchecked: Vec<bool>,
}

impl<'a> EventColumns<'a> {
    fn push(&mut self, e: &'a CostEvent, s: &Sums) {
        self.id.push(&e.id);
        self.ts_ms.push(e.ts_ms);
        self.consumer_group.push(&e.consumer_group);
        self.team.push(&e.team);
        self.user.push(e.user.as_deref());
        self.workflow.push(e.workflow.as_deref());
        self.api.push(codec::api_str(e.api));
        self.provider.push(e.provider.as_deref());
        self.lane.push(e.lane.as_deref());
        self.model_requested.push(&e.model_requested);
        self.model_served.push(&e.model_served);
        self.input.push(s.input_tokens);
        self.cached_input.push(s.cached_input_tokens);
        self.cache_write.push(s.cache_write_tokens);
        self.output.push(s.output_tokens);
        self.usage_source
            .push(codec::usage_source_str(e.usage_source));
        self.cost.push(e.cost_nanos);
        self.unpriced.push(e.unpriced);
        self.outcome.push(codec::outcome_str(e.outcome));
        self.http_status.push(i64::from(e.http_status));
        self.reason.push(e.reason.as_deref());
        self.latency_ms.push(i64::from(e.latency_ms));
        self.stream.push(e.stream);
        self.cache.push(codec::cache_str(e.cache));
        self.cost_avoided.push(e.cost_avoided_nanos);
        self.premium.push(e.premium);
        self.premium_approved.push(e.premium_approved);
        self.lease_id.push(e.lease_id.map(|l| l as i64));
        self.wallet_unchecked.push(e.wallet_unchecked);
    }

    /// Inserts the rows; returns the ids actually inserted (not already stored), each
    /// with its `seq`.
    fn insert(
        &self,
        tx: &mut Transaction<'_>,
        received_ms: i64,
    ) -> Result<HashMap<String, i64>, StoreError> {
        let rows = tx.query(
            INSERT_EVENTS,
            &[
                &self.id,
                &self.ts_ms,
                &self.consumer_group,
                &self.team,
                &self.user,
                &self.workflow,
                &self.api,
                &self.provider,
                &self.lane,
                &self.model_requested,
                &self.model_served,
                &self.input,
                &self.cached_input,
                &self.cache_write,
                &self.output,
                &self.usage_source,
                &self.cost,
                &self.unpriced,
                &self.outcome,
                &self.http_status,
                &self.reason,
                &self.latency_ms,
                &self.stream,
                &self.cache,
                &self.cost_avoided,
                &self.premium,
                &self.premium_approved,
                &received_ms,
                &self.lease_id,
                &self.wallet_unchecked,
            ],
        )?;
        let mut seqs = HashMap::with_capacity(rows.len());
        for r in &rows {
            seqs.insert(r.try_get::<_, String>(0)?, r.try_get::<_, i64>(1)?);
        }
        Ok(seqs)
    }
}

pub(super) fn upsert_rollups(
    tx: &mut Transaction<'_>,
    deltas: &BTreeMap<HourlyKey<'_>, Sums>,
) -> Result<(), StoreError> {
    if deltas.is_empty() {
        return Ok(());
    }
    let keys = || deltas.keys();
    let sums = || deltas.values();
    let hour: Vec<i64> = keys().map(|k| k.hour_ms).collect();
    let text = |f: for<'k> fn(&'k HourlyKey<'k>) -> &'k str| -> Vec<String> {
        keys().map(|k| f(k).to_string()).collect()
    };
    let num = |f: fn(&Sums) -> i64| -> Vec<i64> { sums().map(f).collect() };
    tx.execute(
        UPSERT_ROLLUPS,
        &[
            &hour,
            &text(|k| k.team),
            &text(|k| k.consumer_group),
            &text(|k| k.user),
            &text(|k| k.workflow),
            &text(|k| k.provider),
            &text(|k| k.lane),
            &text(|k| k.model_served),
            &text(|k| k.api),
            &text(|k| k.outcome),
            &text(|k| k.cache),
            &num(|s| s.requests),
            &num(|s| s.input_tokens),
            &num(|s| s.cached_input_tokens),
            &num(|s| s.cache_write_tokens),
            &num(|s| s.output_tokens),
            &num(|s| s.cost_nanos),
            &num(|s| s.cost_avoided_nanos),
        ],
    )?;
    Ok(())
}

impl Store for PgStore {
    fn ingest(&self, batch: &IngestBatch) -> Result<IngestOutcome, StoreError> {
        // Events PostgreSQL cannot store (text with U+0000) join the quarantine rather
        // than failing the batch, which its sender would retry forever.
        let mut quarantine: Vec<(i64, String, String)> = batch
            .rejected
            .iter()
            .map(|r| {
                (
                    r.index as i64,
                    storable_text(&r.error),
                    storable_text(&r.raw),
                )
            })
            .collect();
        let mut unstorable = 0;
        let mut columns = EventColumns::default();
        let mut seen = HashSet::new();
        let mut candidates = Vec::with_capacity(batch.events.len());
        let positions = batch_positions(batch);
        for (e, position) in batch.events.iter().zip(positions) {
            if event_has_nul(e) {
                unstorable += 1;
                quarantine.push((
                    position as i64,
                    "a text field contains U+0000, which PostgreSQL cannot store".into(),
                    serde_json::to_string(e).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                ));
                continue;
            }
            // The same id twice in one batch: the first one is the event.
            if !seen.insert(e.id.as_str()) {
                continue;
            }
            let sums = event_sums(e)?;
            columns.push(e, &sums);
            candidates.push((e, sums));
        }
        if unstorable > 0 {
            tracing::warn!(
                events = unstorable,
                "quarantined cost events with U+0000 in a text field"
            );
        }
        quarantine.sort_by_key(|q| q.0);

        let inserted = self.write(|tx| {
            let inserted = if candidates.is_empty() {
                HashMap::new()
            } else {
                columns.insert(tx, batch.received_ms)?
            };
            // The rollups follow in bulk (`postgres_fold`): this transaction only says
            // which events it stored.
            super::postgres_fold::mark_pending(tx, inserted.values().copied().collect())?;
            let mut team_spend: BTreeMap<&str, i64> = BTreeMap::new();
            let mut lease_spend: BTreeMap<u64, i64> = BTreeMap::new();
            for (e, _) in &candidates {
                if !inserted.contains_key(&e.id) {
                    continue;
                }
                let team = team_spend.entry(e.team.as_str()).or_insert(0);
                *team = team.checked_add(e.cost_nanos).ok_or_else(overflow)?;
                if let Some(lease) = e.lease_id {
                    let l = lease_spend.entry(lease).or_insert(0);
                    *l = l.checked_add(e.cost_nanos).ok_or_else(overflow)?;
                }
            }
            if !team_spend.is_empty() {
                let teams: Vec<&str> = team_spend.keys().copied().collect();
                let spent: Vec<i64> = team_spend.values().copied().collect();
                tx.execute(ADD_WALLET_SPEND, &[&teams, &spent, &batch.received_ms])?;
            }
            for (id, cost) in &lease_spend {
                tx.execute(ADD_LEASE_SPEND, &[&(*id as i64), cost])?;
            }
            if !quarantine.is_empty() {
                let index: Vec<i64> = quarantine.iter().map(|q| q.0).collect();
                let error: Vec<&str> = quarantine.iter().map(|q| q.1.as_str()).collect();
                let raw: Vec<&str> = quarantine.iter().map(|q| q.2.as_str()).collect();
                tx.execute(INSERT_REJECTED, &[&batch.received_ms, &index, &error, &raw])?;
            }
            Ok(inserted)
        })?;
        // Committed: the next fold may use these copies instead of reading them back.
        self.fold.remember(
            candidates
                .iter()
                .filter_map(|(e, _)| inserted.get(&e.id).map(|seq| (*seq, *e))),
        );
        let accepted = inserted.len();
        self.fold_if_due(accepted);
        Ok(IngestOutcome {
            accepted,
            duplicates: batch.events.len() - unstorable - accepted,
        })
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
        if unmatchable(&q.filters) {
            return Ok(Vec::new());
        }
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE TRUE");
        let mut args: Args = Vec::new();
        push_filters(&mut sql, &mut args, &q.filters);
        args.push(Box::new(i64::try_from(q.limit).unwrap_or(i64::MAX)));
        sql.push_str(&format!(
            " ORDER BY ts_ms DESC, seq DESC LIMIT ${}",
            args.len()
        ));
        let rows = self.conn()?.query(&sql, &arg_refs(&args))?;
        rows.iter().map(event_from_row).collect()
    }

    fn rejected_events(&self, limit: usize) -> Result<Vec<StoredRejection>, StoreError> {
        let rows = self.conn()?.query(
            "SELECT received_ms, batch_index, raw, error FROM rejected_events
             ORDER BY seq DESC LIMIT $1",
            &[&i64::try_from(limit).unwrap_or(i64::MAX)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(StoredRejection {
                    received_ms: r.try_get(0)?,
                    event: RejectedEvent {
                        index: r.try_get::<_, i64>(1)? as usize,
                        raw: r.try_get(2)?,
                        error: r.try_get(3)?,
                    },
                })
            })
            .collect()
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
    use crate::test_util::event;

    #[test]
    fn batch_positions_skip_the_quarantined_indices() {
        let batch = IngestBatch {
            events: vec![
                event("a", 0, "t", 0),
                event("b", 0, "t", 0),
                event("c", 0, "t", 0),
            ],
            rejected: [0, 2, 3, 6]
                .map(|index| RejectedEvent {
                    index,
                    raw: String::new(),
                    error: String::new(),
                })
                .into(),
            received_ms: 0,
        };
        assert_eq!(batch_positions(&batch), vec![1, 4, 5]);
        let plain = IngestBatch {
            events: batch.events.clone(),
            ..Default::default()
        };
        assert_eq!(batch_positions(&plain), vec![0, 1, 2]);
    }

    #[test]
    fn the_location_names_no_password() {
        let config =
            postgres::Config::from_str("postgres://u:secret@127.0.0.1:5433/ledger").unwrap();
        assert_eq!(describe(&config), "postgres://u@127.0.0.1:5433/ledger");
    }
}
