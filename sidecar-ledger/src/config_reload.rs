//! The ledger follows its config file while it runs: new wallets (with their opening
//! allocation, applied once), budgets, alert webhooks and prices take effect without a
//! restart.
//!
//! A reload happens on `SIGHUP` and whenever the file's content changes (polled, so it
//! works the same for an edited file, a file replaced by rename, and a Kubernetes
//! ConfigMap whose mount swaps a symlink). A file that fails validation is reported
//! and ignored: the ledger keeps running on the last good configuration.
//!
//! Each load, and each reload that changes the configuration, is recorded in the
//! audit log (see `crate::config_audit`).
//!
//! What a reload does not do: remove wallets (a wallet stays, with its history, when
//! its team leaves the config) or re-apply an opening allocation that was already made
//! (`initial_usd` is applied once per team; later changes go through
//! `wallet allocate`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tollgate_core::config::{AlertsConfig, BudgetDef, Config};

use crate::config_file;
use crate::store::Store;

/// A value the reloader replaces while readers keep using the one they took.
#[derive(Debug, Default)]
pub struct Shared<T>(RwLock<Arc<T>>);

impl<T> Shared<T> {
    pub fn new(value: T) -> Arc<Self> {
        Arc::new(Shared(RwLock::new(Arc::new(value))))
    }

    /// The current value (cheap: one reference count).
    pub fn current(&self) -> Arc<T> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn replace(&self, value: T) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(value);
    }
}

/// The parts of the config the running ledger uses, replaced together on a reload.
#[derive(Clone)]
pub struct LiveConfig {
    pub budgets: Arc<Shared<Vec<BudgetDef>>>,
    pub alerts: Arc<Shared<AlertsConfig>>,
    /// The whole file in force (`None`: the ledger runs without one), for what the
    /// API validates against: known teams and lanes.
    pub config: Arc<Shared<Option<Config>>>,
    /// The file in force and the ones recently replaced, that posted events are
    /// checked against (see `crate::config_generations`).
    pub generations: Arc<crate::config_generations::ConfigGenerations>,
}

impl LiveConfig {
    pub fn new(budgets: Vec<BudgetDef>, alerts: AlertsConfig) -> Self {
        LiveConfig {
            budgets: Shared::new(budgets),
            alerts: Shared::new(alerts),
            config: Shared::new(None),
            generations: Default::default(),
        }
    }

    /// Puts the file in force. Budgets are the store's (see [`refresh_budgets`]): the
    /// file only seeds and edits them.
    fn apply(&self, config: &Config, now_ms: i64) {
        self.alerts.replace(config.alerts.clone());
        self.config.replace(Some(config.clone()));
        self.generations.replace(config, now_ms);
        crate::export::use_pricing(config);
    }
}

/// Brings the file's budgets into the store (a budget edited in the file is recorded
/// as a change by the config file; one the file left alone keeps what is in force) and
/// puts the store's budgets in force.
fn sync_budgets(
    store: &dyn Store,
    live: &LiveConfig,
    file: &[BudgetDef],
    now_ms: i64,
) -> Result<(), String> {
    for change in store
        .sync_file_budgets(file, now_ms)
        .map_err(|e| format!("cannot record the budgets of the config file: {e}"))?
    {
        tracing::info!(team = change.team, "budget changed in the config file");
    }
    refresh_budgets(store, &live.budgets)
}

/// Puts the store's budgets in force (after any change to them).
pub fn refresh_budgets(store: &dyn Store, budgets: &Shared<Vec<BudgetDef>>) -> Result<(), String> {
    let in_force = store
        .budgets_in_force()
        .map_err(|e| format!("cannot read the budgets in force: {e}"))?;
    budgets.replace(in_force);
    Ok(())
}

/// What one reload attempt did.
#[derive(Debug, PartialEq, Eq)]
pub enum Reloaded {
    /// The file's content is what was last read: nothing to do.
    Unchanged,
    /// The new configuration is in force; these wallets are new.
    Applied { new_wallets: Vec<String> },
}

/// Why a reload did not happen; the previous configuration stays in force.
#[derive(Debug, PartialEq, Eq)]
pub enum ReloadError {
    /// The file cannot be read or does not validate (every problem, with its path).
    Invalid(String),
    /// The store could not create the wallets; tried again at the next check.
    Failed(String),
}

impl std::fmt::Display for ReloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReloadError::Invalid(e) | ReloadError::Failed(e) => f.write_str(e),
        }
    }
}

/// Follows one config file.
pub struct Reloader {
    path: PathBuf,
    store: Arc<dyn Store>,
    live: LiveConfig,
    /// The text last read (valid or not), to notice changes.
    last_text: Option<String>,
    /// The configuration in force.
    current: Config,
}

impl Reloader {
    /// Loads `path`, creates its wallets and applies their opening allocations, and
    /// returns the reloader with the configuration in force.
    pub fn start(path: &Path, store: Arc<dyn Store>, now_ms: i64) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let loaded = config_file::parse_at(&text, path).map_err(|e| e.report(path))?;
        crate::wallet_seed::seed_wallets(store.as_ref(), &loaded.config, path, now_ms)
            .map_err(|e| format!("cannot create the wallets of {}: {e}", path.display()))?;
        let live = LiveConfig::new(Vec::new(), loaded.config.alerts.clone());
        live.apply(&loaded.config, now_ms);
        sync_budgets(store.as_ref(), &live, &loaded.config.budgets, now_ms)?;
        crate::config_audit::record(store.as_ref(), None, &loaded.config, now_ms);
        Ok(Reloader {
            path: path.to_path_buf(),
            store,
            live,
            last_text: Some(text),
            current: loaded.config,
        })
    }

    pub fn live(&self) -> LiveConfig {
        self.live.clone()
    }

    /// Reads the file again and, if its content changed (or `force`), validates it and
    /// puts it in force. On an error the previous configuration stays in force.
    pub fn reload(&mut self, force: bool, now_ms: i64) -> Result<Reloaded, ReloadError> {
        let text = std::fs::read_to_string(&self.path).map_err(|e| {
            ReloadError::Invalid(format!("{}: cannot read: {e}", self.path.display()))
        })?;
        if !force && self.last_text.as_deref() == Some(text.as_str()) {
            return Ok(Reloaded::Unchanged);
        }
        let loaded = match config_file::parse_at(&text, &self.path) {
            Ok(loaded) => loaded,
            Err(e) => {
                // Remembered: a broken file is reported once, not at every poll.
                self.last_text = Some(text);
                return Err(ReloadError::Invalid(e.report(&self.path)));
            }
        };
        let config = loaded.config;
        let known: Vec<String> = self.current.wallet_team_ids();
        let new_wallets: Vec<String> = config
            .wallet_team_ids()
            .into_iter()
            .filter(|t| !known.contains(t))
            .collect();
        // A store error is not remembered: the next poll tries again.
        crate::wallet_seed::seed_wallets(self.store.as_ref(), &config, &self.path, now_ms)
            .map_err(|e| {
                ReloadError::Failed(format!(
                    "cannot create the wallets of {}: {e}",
                    self.path.display()
                ))
            })?;
        for w in config.wallets.iter().flatten() {
            let before = self
                .current
                .wallets
                .iter()
                .flatten()
                .find(|old| old.team_id == w.team_id);
            if before.is_some_and(|old| old.initial_usd != w.initial_usd) {
                tracing::warn!(
                    team = w.team_id,
                    "initial_usd changed for an existing wallet: opening allocations apply \
                     once; use `tollgate-ledger wallet allocate` to change its allocation"
                );
            }
        }
        sync_budgets(self.store.as_ref(), &self.live, &config.budgets, now_ms)
            .map_err(ReloadError::Failed)?;
        self.live.apply(&config, now_ms);
        crate::config_audit::record(self.store.as_ref(), Some(&self.current), &config, now_ms);
        self.current = config;
        self.last_text = Some(text);
        Ok(Reloaded::Applied { new_wallets })
    }
}

/// Reloads on `SIGHUP` and when the file changes (checked every `poll`; zero: only on
/// `SIGHUP`). Store work runs on the blocking pool.
pub fn spawn(reloader: Reloader, poll: Duration) {
    let reloader = Arc::new(std::sync::Mutex::new(reloader));
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; config reload by polling only");
                None
            }
        };
        let mut tick = (!poll.is_zero()).then(|| {
            let mut t = tokio::time::interval(poll);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            t
        });
        loop {
            let force = tokio::select! {
                _ = async {
                    match tick.as_mut() {
                        Some(t) => { t.tick().await; }
                        None => std::future::pending::<()>().await,
                    }
                } => false,
                _ = async {
                    #[cfg(unix)]
                    match hangup.as_mut() {
                        Some(h) => { h.recv().await; }
                        None => std::future::pending::<()>().await,
                    }
                    #[cfg(not(unix))]
                    std::future::pending::<()>().await
                } => true,
            };
            let reloader = reloader.clone();
            let done = tokio::task::spawn_blocking(move || {
                let mut r = reloader.lock().unwrap_or_else(|p| p.into_inner());
                let result = r.reload(force, crate::clock::now_ms());
                (result, r.path.display().to_string())
            })
            .await;
            match done {
                Ok((Ok(Reloaded::Unchanged), _)) => {}
                Ok((Ok(Reloaded::Applied { new_wallets }), file)) => {
                    crate::metrics::METRICS.config_reload("ok");
                    tracing::info!(
                        file,
                        signal = force,
                        new_wallets = new_wallets.join(","),
                        "configuration reloaded"
                    );
                }
                Ok((Err(e), file)) => {
                    crate::metrics::METRICS.config_reload(match e {
                        ReloadError::Invalid(_) => "invalid",
                        ReloadError::Failed(_) => "error",
                    });
                    tracing::error!(file, error = %e, "configuration not reloaded; the previous one stays in force");
                }
                Err(e) => tracing::error!(error = %e, "configuration reload task failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::test_util::TempDir;

    use crate::test_util::ONE_TEAM_CONFIG as BASE;

    fn with_research(initial: &str) -> String {
        BASE.replace(
            "wallets:\n",
            "  - {name: research, api_key: kt_cg_research_prod, wallet_team_id: team_research}\n\
             wallets:\n",
        ) + &format!(
            "  - {{team_id: team_research, initial_usd: '{initial}'}}\n\
             budgets:\n  - {{team_id: team_research, amount_usd: '3.00'}}\n"
        )
    }

    fn allocated(store: &SqliteStore, team: &str) -> Option<i64> {
        store.wallet(team, 0).unwrap().map(|w| w.allocated_nanos)
    }

    #[test]
    fn a_new_wallet_is_created_and_funded_once_and_bad_files_are_ignored() {
        let dir = TempDir::new();
        let store = Arc::new(SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap());
        let file = dir.path().join("tollgate.yaml");
        std::fs::write(&file, BASE).unwrap();
        let mut r = Reloader::start(&file, store.clone(), 1).unwrap();
        let live = r.live();
        assert_eq!(allocated(&store, "team_support"), Some(5_000_000_000));
        assert_eq!(allocated(&store, "team_research"), None);
        assert_eq!(r.reload(false, 2), Ok(Reloaded::Unchanged));

        std::fs::write(&file, with_research("2.50")).unwrap();
        assert_eq!(
            r.reload(false, 3),
            Ok(Reloaded::Applied {
                new_wallets: vec!["team_research".into()]
            })
        );
        assert_eq!(allocated(&store, "team_research"), Some(2_500_000_000));
        assert_eq!(live.budgets.current().len(), 1, "budgets follow the file");

        // Forced again (SIGHUP), or with a changed opening amount: applied once only.
        assert_eq!(
            r.reload(true, 4),
            Ok(Reloaded::Applied {
                new_wallets: vec![]
            })
        );
        std::fs::write(&file, with_research("9.00")).unwrap();
        r.reload(false, 5).unwrap();
        assert_eq!(allocated(&store, "team_research"), Some(2_500_000_000));
        assert_eq!(allocated(&store, "team_support"), Some(5_000_000_000));

        // A broken file is reported; the configuration in force does not change.
        std::fs::write(
            &file,
            with_research("9.00").replace("wallet_team_id: team_support", "wallet_team: x"),
        )
        .unwrap();
        let Err(ReloadError::Invalid(err)) = r.reload(false, 6) else {
            panic!("expected an invalid file");
        };
        assert!(err.contains("tollgate.yaml"), "{err}");
        assert!(!err.contains("kt_cg_"), "keys never echoed: {err}");
        assert_eq!(live.budgets.current().len(), 1);
        assert_eq!(r.reload(false, 7), Ok(Reloaded::Unchanged), "reported once");

        // Back to the base file: wallets stay, budgets go.
        std::fs::write(&file, BASE).unwrap();
        r.reload(false, 8).unwrap();
        assert!(live.budgets.current().is_empty());
        assert_eq!(allocated(&store, "team_research"), Some(2_500_000_000));

        // The audit log has the load and each reload that changed something (not the
        // forced reload of the same file, nor the broken file), without the path.
        let log = store.audit_log(100, None).unwrap();
        let actions: Vec<(&str, i64)> = log.iter().map(|e| (e.action.as_str(), e.ts_ms)).collect();
        assert_eq!(
            actions,
            [
                ("config.reload", 8),
                ("config.reload", 5),
                ("config.reload", 3),
                ("config.load", 1)
            ]
        );
        let text = serde_json::to_string(&log).unwrap();
        assert!(
            !text.contains("tollgate.yaml") && !text.contains("kt_cg_"),
            "{text}"
        );
    }

    #[test]
    fn a_budget_changed_through_the_api_survives_reloads_until_the_file_edits_it() {
        let dir = TempDir::new();
        let store = Arc::new(SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap());
        let file = dir.path().join("tollgate.yaml");
        std::fs::write(&file, with_research("1.00")).unwrap();
        let mut r = Reloader::start(&file, store.clone(), 1).unwrap();
        let live = r.live();
        let amount = |live: &LiveConfig| live.budgets.current()[0].amount_usd.0;
        assert_eq!(amount(&live), 3_000_000_000);

        let mut raised = live.budgets.current()[0].clone();
        raised.amount_usd = tollgate_core::money::Usd(8_000_000_000);
        store
            .change_budget(&crate::store::budgets::NewBudgetChange {
                team: "team_research",
                after: Some(&raised),
                actor: "finance desk",
                reason: "launch",
                propose: false,
                idempotency_key: None,
                now_ms: 2,
            })
            .unwrap();
        refresh_budgets(store.as_ref(), &live.budgets).unwrap();
        assert_eq!(amount(&live), 8_000_000_000);

        // A forced reload (SIGHUP) and an edit elsewhere in the file keep it.
        r.reload(true, 3).unwrap();
        assert_eq!(amount(&live), 8_000_000_000);
        std::fs::write(&file, with_research("1.50")).unwrap();
        r.reload(false, 4).unwrap();
        assert_eq!(amount(&live), 8_000_000_000);

        // Editing the budget in the file is the latest edit: it wins, recorded.
        std::fs::write(
            &file,
            with_research("1.50").replace("amount_usd: '3.00'", "amount_usd: '4.00'"),
        )
        .unwrap();
        r.reload(false, 5).unwrap();
        assert_eq!(amount(&live), 4_000_000_000);
        let history = store
            .budget_changes(Some("team_research"), None, 10)
            .unwrap();
        assert_eq!(history[0].actor, crate::store::budgets::CONFIG_FILE_ACTOR);
        assert_eq!(history[1].actor, "finance desk");
    }

    #[test]
    fn a_broken_file_at_start_is_an_error() {
        let dir = TempDir::new();
        let store = Arc::new(SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap());
        let file = dir.path().join("tollgate.yaml");
        std::fs::write(&file, "version: '1'\n").unwrap();
        let err = Reloader::start(&file, store, 1).err().unwrap();
        assert!(err.contains("tollgate.yaml"), "{err}");
    }
}
