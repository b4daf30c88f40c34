//! `tollgate-ledger serve`: opens the store, follows the config file, starts the HTTP
//! API (and the metrics listener), evaluates budgets in the background, and stops
//! gracefully on SIGINT/SIGTERM.

use std::future::IntoFuture;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::{api, auth, budget, clock, config_reload, state, store};

/// How long in-flight requests may take to finish after SIGINT/SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the chosen address is printed).
    #[arg(long, env = "TOLLGATE_LEDGER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Directory for the ledger's data; the database is DATA_DIR/ledger.sqlite3
    /// (unused with --database-url).
    #[arg(long, env = "TOLLGATE_LEDGER_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// PostgreSQL instead of SQLite: postgres://USER:PASSWORD@HOST:PORT/DATABASE.
    /// Several ledgers may share one database; migrations run on start.
    #[arg(long, env = "TOLLGATE_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The Tollgate configuration (YAML): creates its wallets and applies each
    /// `initial_usd` once (later changes go through `wallet allocate`). Followed while
    /// the ledger runs: reloaded on SIGHUP and when the file changes.
    #[arg(long, env = "TOLLGATE_CONFIG")]
    config: Option<PathBuf>,
    /// How often the --config file is checked for changes, in ms (0: only on SIGHUP).
    #[arg(long, default_value_t = 2_000)]
    config_poll_ms: u64,
    /// Lifetime of a credit lease without renewal, in ms: a dead Envoy's unspent
    /// credit returns to its wallet after this long.
    #[arg(long, default_value_t = state::DEFAULT_LEASE_TTL_MS)]
    lease_ttl_ms: i64,
    /// Percent of a wallet's credit one ingest token's leases may hold while another
    /// token draws on the same wallet (1-100; see docs/security.md). A token alone on a
    /// wallet may still lease all of it.
    #[arg(long, default_value_t = tollgate_core::lease::DEFAULT_HOLDER_SHARE_PERCENT,
          value_parser = clap::value_parser!(u8).range(1..=100))]
    lease_holder_share_percent: u8,
    /// How often budgets are evaluated and alert webhooks retried, in ms.
    #[arg(long, default_value_t = 5_000)]
    budget_check_ms: u64,
    /// Accepted for compatibility: reads need a token by default (see
    /// --insecure-open-reads).
    #[arg(long, env = "TOLLGATE_REQUIRE_TOKENS", hide = true)]
    require_tokens: bool,
    /// FOR LOCAL EXPERIMENTS ONLY: serve reads of spend, events, exports, wallets,
    /// budgets and alerts to anyone who can reach the ledger, without a token (a token
    /// that is sent still confines a team token to its team). The dashboard, wallet
    /// changes and the data plane's writes still need their tokens.
    #[arg(
        long,
        env = "TOLLGATE_INSECURE_OPEN_READS",
        conflicts_with = "require_tokens"
    )]
    insecure_open_reads: bool,
    /// The data plane's ledger token(s), from a mounted file (e.g. a Kubernetes Secret
    /// that Envoy also gets as TOLLGATE_LEDGER_TOKEN): one `tgk_` token per line; list
    /// the old and the new one while rotating, then drop the old. Registered at start
    /// as `ingest` tokens (hashed); a token removed from the file is revoked. Ingest
    /// tokens made with `tokens create --role ingest` work as well.
    #[arg(long, env = "TOLLGATE_INGEST_TOKEN_FILE", value_name = "FILE")]
    ingest_token_file: Option<PathBuf>,
    /// Require a token for `GET /metrics` (`Authorization: Bearer <token>`; Prometheus:
    /// `authorization.credentials_file`). FILE holds the token, at least 16 characters.
    /// Without it /metrics is open, like /healthz.
    #[arg(long, env = "TOLLGATE_METRICS_TOKEN_FILE", value_name = "FILE")]
    metrics_token_file: Option<PathBuf>,
    /// Serve `/metrics` on its own listener at HOST:PORT instead of on --listen (e.g.
    /// a port only Prometheus can reach). Port 0 picks a free port (printed).
    #[arg(long, env = "TOLLGATE_METRICS_LISTEN", value_name = "HOST:PORT")]
    metrics_listen: Option<String>,
    /// Failed authentications (unknown, revoked or expired tokens) one peer address
    /// may make per --auth-failure-window-secs; beyond it the address is answered
    /// 429 until the window ends, without its tokens being checked (0: no limit).
    #[arg(long, env = "TOLLGATE_AUTH_FAILURE_LIMIT", default_value_t = 20)]
    auth_failure_limit: u32,
    /// The window of --auth-failure-limit, in seconds.
    #[arg(long, env = "TOLLGATE_AUTH_FAILURE_WINDOW_SECS", default_value_t = 60)]
    auth_failure_window_secs: u64,
}

/// Shortest metrics token accepted.
const MIN_METRICS_TOKEN_LEN: usize = 16;

/// Reads the metrics token file; returns the token's SHA-256 (the token itself is not
/// kept, and never logged).
fn metrics_token_digest(file: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("--metrics-token-file {}: cannot read: {e}", file.display()))?;
    let token = text.trim();
    if token.len() < MIN_METRICS_TOKEN_LEN || token.chars().any(char::is_whitespace) {
        return Err(format!(
            "--metrics-token-file {}: expected one token of at least {MIN_METRICS_TOKEN_LEN} \
             characters without spaces",
            file.display()
        ));
    }
    Ok(auth::hash_token(token))
}

/// The name of the ingest tokens registered from --ingest-token-file.
const INGEST_FILE_TOKEN_NAME: &str = "--ingest-token-file";
/// Shortest ingest token accepted from the file: `tgk_` and 128 bits in hex.
const MIN_INGEST_TOKEN_LEN: usize = 4 + 32;

/// The SHA-256 of each token in the ingest token file (the tokens are not kept, and
/// never logged or echoed).
fn ingest_token_digests(file: &std::path::Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("--ingest-token-file {}: cannot read: {e}", file.display()))?;
    let mut digests = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let token = line.trim();
        if token.is_empty() || token.starts_with('#') {
            continue;
        }
        if !token.starts_with(auth::TOKEN_PREFIX)
            || token.len() < MIN_INGEST_TOKEN_LEN
            || token.len() > 200
            || token.chars().any(char::is_whitespace)
        {
            return Err(format!(
                "--ingest-token-file {} line {}: expected one token per line, `{}` and at \
                 least {} characters without spaces (e.g. `tgk_` + `openssl rand -hex 32`)",
                file.display(),
                i + 1,
                auth::TOKEN_PREFIX,
                MIN_INGEST_TOKEN_LEN
            ));
        }
        digests.push(auth::hash_token(token));
    }
    if digests.is_empty() {
        return Err(format!(
            "--ingest-token-file {}: no token in the file",
            file.display()
        ));
    }
    Ok(digests)
}

/// Records a token registered or revoked from the file in the audit log.
fn audit_token(
    store: &dyn store::Store,
    action: &str,
    after: serde_json::Value,
    now_ms: i64,
) -> Result<(), String> {
    store
        .record_audit(
            &store::audit::NewAuditEntry {
                actor: "tollgate-ledger serve --ingest-token-file".into(),
                action: action.into(),
                team: None,
                before: None,
                after: Some(after),
            },
            now_ms,
        )
        .map(|_| ())
        .map_err(|e| format!("--ingest-token-file: cannot record the audit entry: {e}"))
}

/// Registers the file's tokens as `ingest` tokens and revokes those registered from an
/// earlier version of the file that it no longer lists (the end of a rotation).
fn sync_ingest_tokens(
    store: &dyn store::Store,
    digests: &[String],
    now_ms: i64,
) -> Result<(), String> {
    use crate::store::tokens::{NewToken, Role};
    let e = |e: store::StoreError| format!("--ingest-token-file: {e}");
    for digest in digests {
        match store.token_by_hash(digest).map_err(e)? {
            Some(t) if t.role == Role::Ingest && t.revoked_ms.is_none() => {}
            Some(_) => {
                return Err(
                    "--ingest-token-file: a token in the file is already known to this ledger \
                     as a revoked token or one of another role; generate a new one"
                        .into(),
                )
            }
            None => {
                let created = store.create_token(
                    &NewToken {
                        name: INGEST_FILE_TOKEN_NAME.into(),
                        role: Role::Ingest,
                        team: None,
                        sha256: digest.clone(),
                        expires_ms: None,
                    },
                    now_ms,
                );
                let made = match created {
                    Ok(made) => made,
                    // Ledgers starting together on one database register the same file:
                    // whoever inserts second finds the token the first registered.
                    Err(err) => match store.token_by_hash(digest).map_err(e)? {
                        Some(t) if t.role == Role::Ingest && t.revoked_ms.is_none() => continue,
                        _ => return Err(e(err)),
                    },
                };
                audit_token(
                    store,
                    "token.create",
                    serde_json::json!({"id": made.id, "name": made.name, "role": made.role}),
                    now_ms,
                )?;
            }
        }
    }
    for t in store.tokens().map_err(e)? {
        if t.name == INGEST_FILE_TOKEN_NAME
            && t.role == Role::Ingest
            && t.revoked_ms.is_none()
            && !digests.contains(&t.sha256)
        {
            store.revoke_token(t.id, now_ms).map_err(e)?;
            audit_token(
                store,
                "token.revoke",
                serde_json::json!({"id": t.id, "revoked_ms": now_ms}),
                now_ms,
            )?;
            tracing::info!(
                token_id = t.id,
                "ingest token no longer in --ingest-token-file: revoked"
            );
        }
    }
    Ok(())
}

/// How often spend anomalies and due digests are looked for.
const ANOMALY_CHECK_MS: i64 = 60_000;

/// Evaluates budgets, wallets and spend anomalies and delivers alerts in the
/// background, off the async workers, with the budgets and webhooks in force at each
/// round.
fn spawn_budget_watch(state: state::AppState, live: config_reload::LiveConfig, every_ms: u64) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(every_ms.max(100)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Spend anomalies read two weeks of hourly rollups: once a minute is enough.
        let mut anomalies_due = 0_i64;
        loop {
            tick.tick().await;
            let (store, budgets, alerts) = (
                state.store.clone(),
                live.budgets.current(),
                live.alerts.current(),
            );
            let app = state.clone();
            let now = clock::now_ms();
            let anomalies = now >= anomalies_due;
            if anomalies {
                anomalies_due = now + ANOMALY_CHECK_MS;
            }
            let done = tokio::task::spawn_blocking(move || {
                budget::evaluate(store.as_ref(), &budgets, &alerts, now)?;
                crate::alerts::wallet_low::evaluate(store.as_ref(), &alerts, now)?;
                if anomalies {
                    let calendar = store.calendar()?;
                    crate::alerts::anomaly::evaluate(store.as_ref(), &alerts, &calendar, now)?;
                    crate::api::digest_send_due(store.as_ref(), &app, &alerts, now)?;
                }
                let channels = budget::delivery::Channels::from_settings(&alerts);
                budget::delivery::deliver_due(store.as_ref(), &channels, clock::now_ms)
            })
            .await;
            match done {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "budget evaluation failed"),
                Err(e) => tracing::error!(error = %e, "budget task failed"),
            }
        }
    });
}

pub fn serve(args: ServeArgs) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(run_server(args))
}

async fn run_server(args: ServeArgs) -> Result<(), String> {
    let store::Opened {
        store,
        location: db,
        schema_version,
    } = {
        let (url, dir) = (args.database_url.clone(), args.data_dir.clone());
        tokio::task::spawn_blocking(move || store::open(url.as_deref(), &dir))
            .await
            .map_err(|e| e.to_string())??
    };
    tracing::info!(db, schema_version, "ledger database open");
    if let Some(file) = &args.ingest_token_file {
        let digests = ingest_token_digests(file)?;
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            sync_ingest_tokens(store.as_ref(), &digests, clock::now_ms())
        })
        .await
        .map_err(|e| e.to_string())??;
    }
    if args.insecure_open_reads {
        tracing::warn!(
            "INSECURE: --insecure-open-reads: every team's spend, events and exports can be read \
             by anyone who reaches this ledger, without a token; use it for local experiments only"
        );
    }
    if args.config.is_none() {
        tracing::warn!(
            "no --config: posted events are not checked against a configuration (their \
             teams, lanes and costs are taken as sent)"
        );
    }
    let live = match &args.config {
        Some(config) => {
            // Blocking store calls, off the async workers.
            let reloader = tokio::task::block_in_place(|| {
                config_reload::Reloader::start(config, store.clone(), clock::now_ms())
            })?;
            let live = reloader.live();
            config_reload::spawn(reloader, Duration::from_millis(args.config_poll_ms));
            live
        }
        None => {
            let live = config_reload::LiveConfig::new(Vec::new(), Default::default());
            tokio::task::block_in_place(|| {
                config_reload::refresh_budgets(store.as_ref(), &live.budgets)
            })?;
            live
        }
    };

    let metrics = state::MetricsAccess {
        token_sha256: match &args.metrics_token_file {
            Some(file) => Some(metrics_token_digest(file)?.into()),
            None => None,
        },
        separate_listener: args.metrics_listen.is_some(),
    };
    let metrics_listener = match &args.metrics_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen on {addr} (--metrics-listen): {e}"))?,
        ),
        None => None,
    };

    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, db, "ledger listening");
    // Scripts wait for this exact line to learn the address (port 0 picks one).
    {
        let mut out = std::io::stdout().lock();
        let mut lines = String::new();
        if let Some(l) = &metrics_listener {
            let metrics_addr = l.local_addr().map_err(|e| e.to_string())?;
            tracing::info!(%metrics_addr, "metrics listening");
            lines.push_str(&format!(
                "tollgate-ledger metrics on http://{metrics_addr}/metrics\n"
            ));
        }
        lines.push_str(&format!("tollgate-ledger listening on http://{addr}\n"));
        if let Err(e) = out.write_all(lines.as_bytes()).and_then(|_| out.flush()) {
            tracing::warn!(error = %e, "cannot write the listening line to stdout");
        }
    }

    // After a signal, in-flight requests get SHUTDOWN_GRACE to finish (an ingest
    // acknowledged is an ingest committed); a client that holds a request open longer
    // does not keep the ledger up.
    let signalled = Arc::new(tokio::sync::Notify::new());
    let state = state::AppState {
        store: store.clone(),
        lease_ttl_ms: args.lease_ttl_ms,
        budgets: live.budgets.clone(),
        require_tokens: !args.insecure_open_reads,
        metrics,
        config: live.config.clone(),
        ingest_checks: live.generations.clone(),
        lease_holder_share_percent: args.lease_holder_share_percent,
        auth_limiter: Arc::new(crate::auth_limit::FailedAuthLimiter::new(
            crate::auth_limit::AuthLimits {
                failures: args.auth_failure_limit,
                window_ms: i64::try_from(args.auth_failure_window_secs)
                    .unwrap_or(i64::MAX / 1000)
                    .saturating_mul(1000),
                ..Default::default()
            },
        )),
    };
    spawn_budget_watch(state.clone(), live.clone(), args.budget_check_ms);
    if let Some(l) = metrics_listener {
        // Ends with the process (the runtime is dropped after the API server stops).
        let router = api::metrics_router(state.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(l, router).await {
                tracing::error!(error = %e, "metrics listener stopped");
            }
        });
    }
    // The peer's address reaches the middleware, for the limit on failed authentications.
    let app = api::router_with(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown({
        let signalled = signalled.clone();
        async move {
            shutdown_signal().await;
            signalled.notify_one();
        }
    });
    tokio::select! {
        result = server.into_future() => result.map_err(|e| format!("server error: {e}"))?,
        _ = async {
            signalled.notified().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => tracing::warn!(grace_secs = SHUTDOWN_GRACE.as_secs(), "requests still open after the grace period; closing them"),
    }
    // The router, and with it the store, is dropped here: connections close and
    // SQLite checkpoints the WAL.
    tracing::info!("ledger stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM; in-flight requests then finish before exit.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    let signal = tokio::select! {
        _ = interrupt => "SIGINT",
        _ = terminate => "SIGTERM",
    };
    tracing::info!(signal, "shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ingest_token_file_registers_its_tokens_and_revokes_dropped_ones() {
        use crate::store::tokens::Role;
        use crate::store::Store;
        let dir = crate::test_util::TempDir::new();
        let store = crate::store::SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
        let file = dir.path().join("token");
        let (old, new) = (
            format!("tgk_{}", "a".repeat(64)),
            format!("tgk_{}", "b".repeat(64)),
        );
        // Rotation: old alone, then both, then new alone.
        for (text, live) in [
            (format!("{old}\n"), vec![&old]),
            (format!("# rotating\n{old}\n{new}\n"), vec![&old, &new]),
            (format!("{new}\n"), vec![&new]),
        ] {
            std::fs::write(&file, text).unwrap();
            let digests = ingest_token_digests(&file).unwrap();
            sync_ingest_tokens(&store, &digests, 5).unwrap();
            for token in [&old, &new] {
                let p = auth::lookup(&store, token).unwrap();
                assert_eq!(
                    p.map(|p| p.role),
                    live.contains(&token).then_some(Role::Ingest),
                    "{token}"
                );
            }
        }
        // Registered once each, never the token itself.
        assert_eq!(store.tokens().unwrap().len(), 2);
        // An old token cannot come back.
        std::fs::write(&file, &old).unwrap();
        let digests = ingest_token_digests(&file).unwrap();
        assert!(sync_ingest_tokens(&store, &digests, 6).is_err());
        for bad in [
            "short",
            "tgk_short",
            "no-prefix-0123456789012345678901234567890123",
            "",
        ] {
            std::fs::write(&file, bad).unwrap();
            let err = ingest_token_digests(&file).unwrap_err();
            assert!(
                bad.is_empty() || !err.contains(bad),
                "the token is not echoed: {err}"
            );
        }
    }

    #[test]
    fn the_metrics_token_file_holds_one_long_enough_token() {
        let dir = crate::test_util::TempDir::new();
        let file = dir.path().join("token");
        std::fs::write(&file, "  s3cret-metrics-token-1234\n").unwrap();
        assert_eq!(
            metrics_token_digest(&file).unwrap(),
            auth::hash_token("s3cret-metrics-token-1234")
        );
        for bad in ["short", "two tokens-0123456789", ""] {
            std::fs::write(&file, bad).unwrap();
            let err = metrics_token_digest(&file).unwrap_err();
            assert!(err.contains("at least 16"), "{err}");
            assert!(
                bad.is_empty() || !err.contains(bad),
                "the token is not echoed"
            );
        }
        assert!(metrics_token_digest(&dir.path().join("missing"))
            .unwrap_err()
            .contains("cannot read"));
    }
}
