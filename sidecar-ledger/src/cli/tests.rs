//! `wallet` and `export` against a ledger that requires tokens (the default), over real
//! HTTP: without a token they are refused with a hint, with one (`--token`) they work,
//! and a team token cannot allocate.

use std::sync::Arc;

use clap::Parser;

use crate::api::router_with;
use crate::auth;
use crate::state::AppState;
use crate::state::DEFAULT_LEASE_TTL_MS;
use crate::store::tokens::{NewToken, Role};
use crate::store::{IngestBatch, SqliteStore, Store};
use crate::test_util::{event, TempDir};
use crate::{Cli, Command};

fn token(store: &dyn Store, role: Role, team: Option<&str>) -> String {
    let token = auth::generate_token().unwrap();
    store
        .create_token(
            &NewToken {
                name: "cli test".into(),
                role,
                team: team.map(str::to_string),
                sha256: auth::hash_token(&token),
                expires_ms: None,
            },
            0,
        )
        .unwrap();
    token
}

/// Runs a `wallet` or `export` command line (the CLI is blocking).
async fn run(argv: Vec<String>) -> Result<(), String> {
    tokio::task::spawn_blocking(move || match Cli::try_parse_from(argv).unwrap().command {
        Command::Wallet(args) => crate::cli::wallet::execute(&args),
        Command::Export(args) => crate::cli::export::export(&args),
        other => panic!("not a client command: {other:?}"),
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn wallet_and_export_send_the_token_a_ledger_requires() {
    let dir = TempDir::new();
    let store = Arc::new(SqliteStore::open(&dir.path().join("ledger.sqlite3")).unwrap());
    let day = 1_793_491_200_000; // 2026-11-01
    store.ensure_wallet("team_a", 0).unwrap();
    store
        .ingest(&IngestBatch {
            events: vec![event("e1", day + 1000, "team_a", 1_234_567)],
            rejected: vec![],
            received_ms: day,
            lease_closures: Vec::new(),
            drops: Vec::new(),
            held_back: Vec::new(),
        })
        .unwrap();
    let admin = token(store.as_ref(), Role::Admin, None);
    let team_b = token(store.as_ref(), Role::Team, Some("team_b"));

    let app = router_with(AppState {
        store: store.clone(),
        lease_ttl_ms: DEFAULT_LEASE_TTL_MS,
        budgets: crate::config_reload::Shared::new(Vec::new()),
        require_tokens: true,
        metrics: Default::default(),
        config: crate::config_reload::Shared::new(None),
        auth_limiter: Default::default(),
        ingest_checks: Default::default(),
        lease_holder_share_percent: tollgate_core::lease::DEFAULT_HOLDER_SHARE_PERCENT,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ledger = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let argv = |args: &[&str]| -> Vec<String> {
        ["tollgate-ledger"]
            .iter()
            .chain(args)
            .map(|s| s.to_string())
            .collect()
    };
    let wallet = |args: &[&str]| argv(&[&["wallet", "--ledger", &ledger], args].concat());

    // No token: refused, and told how to give one.
    let e = run(wallet(&["list"])).await.unwrap_err();
    assert!(e.contains("401") && e.contains("--token"), "{e}");
    // A wrong token: refused as unknown.
    let e = run(wallet(&["list", "--token", "tgk_nonsense"]))
        .await
        .unwrap_err();
    assert!(e.contains("401") && e.contains("unknown or revoked"), "{e}");
    // The admin token reads and allocates.
    run(wallet(&["list", "--token", &admin])).await.unwrap();
    run(wallet(&["show", "team_a", "--token", &admin]))
        .await
        .unwrap();
    let allocate = |token: &str| {
        wallet(&[
            "allocate", "team_a", "--usd", "2.50", "--reason", "test", "--actor", "cli", "--token",
            token,
        ])
    };
    run(allocate(&admin)).await.unwrap();
    let w = store.wallet("team_a", 0).unwrap().unwrap();
    assert_eq!(w.allocated_nanos, 2_500_000_000);
    // A team token may not allocate (and not for another team).
    let e = run(allocate(&team_b)).await.unwrap_err();
    assert!(e.contains("403") && e.contains("role or team"), "{e}");
    assert_eq!(
        store.wallet("team_a", 0).unwrap().unwrap().allocated_nanos,
        2_500_000_000
    );

    // Export: refused without a token, written with one.
    let out = dir.path().join("spend.csv");
    let export = |extra: &[&str]| {
        let out = out.to_str().unwrap();
        argv(
            &[
                &[
                    "export",
                    "--ledger",
                    &ledger,
                    "--from",
                    "2026-11-01",
                    "--to",
                    "2026-11-02",
                    "--out",
                    out,
                ],
                extra,
            ]
            .concat(),
        )
    };
    let e = run(export(&[])).await.unwrap_err();
    assert!(e.contains("401") && e.contains("TOLLGATE_TOKEN"), "{e}");
    assert!(!out.exists());
    run(export(&["--token", &admin])).await.unwrap();
    let csv = std::fs::read_to_string(&out).unwrap();
    assert!(
        csv.contains("team_a") && csv.contains("0.001234567"),
        "{csv}"
    );

    server.abort();
}
