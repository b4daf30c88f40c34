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
    /// How often budgets are evaluated and alert webhooks retried, in ms.
    #[arg(long, default_value_t = 5_000)]
    budget_check_ms: u64,
    /// Require an access token (`tokens create`) for reads of spend, events, wallets,
    /// budgets and alerts, and an admin/finance token for wallet allocations. The
    /// dashboard's data always needs one; ingest, leases and health never do.
    #[arg(long, env = "TOLLGATE_REQUIRE_TOKENS")]
    require_tokens: bool,
    /// Require a token for `GET /metrics` (`Authorization: Bearer <token>`; Prometheus:
    /// `authorization.credentials_file`). FILE holds the token, at least 16 characters.
    /// Without it /metrics is open, like /healthz.
    #[arg(long, env = "TOLLGATE_METRICS_TOKEN_FILE", value_name = "FILE")]
    metrics_token_file: Option<PathBuf>,
    /// Serve `/metrics` on its own listener at HOST:PORT instead of on --listen (e.g.
    /// a port only Prometheus can reach). Port 0 picks a free port (printed).
    #[arg(long, env = "TOLLGATE_METRICS_LISTEN", value_name = "HOST:PORT")]
    metrics_listen: Option<String>,
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
        require_tokens: args.require_tokens,
        metrics,
        config: live.config.clone(),
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
    let server = axum::serve(listener, api::router_with(state)).with_graceful_shutdown({
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
