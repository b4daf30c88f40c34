//! Wallet low: a team's wallet balance has fallen to the configured share of what was
//! allocated to it. Fires once per allocation (the newest wallet entry dates it), so a
//! top-up re-arms it; the answer is to ask finance for more.

use serde_json::json;
use tollgate_core::config::AlertsConfig;

use crate::insights::narrative::usd;
use crate::store::alerts::{AlertFacts, NewAlert};
use crate::store::wallets::WalletState;
use crate::store::{Store, StoreError};

pub const KIND: &str = "wallet_low";

/// Whether the wallet is low: its balance at or under `pct`% of its allocation (a
/// wallet never allocated anything is not "low", it is closed).
pub fn is_low(w: &WalletState, pct: u32) -> bool {
    pct > 0
        && w.allocated_nanos > 0
        && i128::from(w.balance_nanos()) * 100 <= i128::from(w.allocated_nanos) * i128::from(pct)
}

/// Checks every wallet; returns how many alerts fired now.
pub fn evaluate(
    store: &dyn Store,
    config: &AlertsConfig,
    now_ms: i64,
) -> Result<usize, StoreError> {
    let pct = config.wallet_low_pct;
    let mut fired = 0;
    for w in store.wallets(now_ms)? {
        if !is_low(&w, pct) {
            continue;
        }
        let Some(last) = store.wallet_entries(&w.team, 1)?.into_iter().next() else {
            continue;
        };
        let balance = w.balance_nanos();
        let left_pct = (i128::from(balance.max(0)) * 100 / i128::from(w.allocated_nanos)) as i64;
        let message = format!(
            "Wallet low: {} has {} left of {} allocated ({left_pct}%, alert at {pct}%); \
             {} is held by live leases. Ask finance for more allocation before requests \
             are refused.",
            w.team,
            usd(balance),
            usd(w.allocated_nanos),
            usd(w.leased_outstanding_nanos),
        );
        let alert = NewAlert {
            team: w.team.clone(),
            period_start_ms: last.ts_ms,
            period_end_ms: last.ts_ms,
            kind: KIND,
            threshold_pct: pct,
            spent_nanos: w.spent_nanos,
            budget_nanos: w.allocated_nanos,
            forecast_nanos: balance,
            message,
        };
        let facts = AlertFacts {
            subject: None,
            details: json!({"balance_nanos": balance, "allocated_nanos": w.allocated_nanos, "entry_id": last.id}),
        };
        if super::route::record(store, config, &alert, &facts, now_ms)?.is_some() {
            tracing::warn!(team = w.team, balance_nanos = balance, "wallet low");
            fired += 1;
        }
    }
    Ok(fired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::wallets::EntryKind;
    use crate::store::SqliteStore;
    use crate::test_util::{batch, event, TempDir};

    const USD: i64 = 1_000_000_000;

    #[test]
    fn a_low_wallet_fires_once_per_allocation() {
        let dir = TempDir::new();
        let store = SqliteStore::open(&dir.path().join("l.sqlite3")).unwrap();
        let now = 1_793_534_400_000;
        store.ensure_wallet("team_a", now).unwrap();
        let grant = |usd_amount: i64, key: &str, at: i64| {
            store
                .allocate(
                    &crate::store::wallets::NewEntry {
                        team: "team_a".into(),
                        kind: EntryKind::TopUp,
                        amount_nanos: usd_amount * USD,
                        actor: "finance".into(),
                        reason: "month".into(),
                        idempotency_key: Some(key.into()),
                    },
                    at,
                )
                .unwrap()
        };
        grant(100, "g1", now);
        let config = AlertsConfig::default();
        store
            .ingest(&batch(vec![event("a", now, "team_a", 70 * USD)]))
            .unwrap();
        assert_eq!(evaluate(&store, &config, now).unwrap(), 0, "30% left");
        store
            .ingest(&batch(vec![event("b", now, "team_a", 15 * USD)]))
            .unwrap();
        assert_eq!(evaluate(&store, &config, now).unwrap(), 1, "15% left");
        assert_eq!(evaluate(&store, &config, now + 1).unwrap(), 0, "once");
        let a = &store.alerts(1).unwrap()[0];
        assert_eq!(
            a.message,
            "Wallet low: team_a has $15.00 left of $100.00 allocated (15%, alert at 20%); \
             $0.00 is held by live leases. Ask finance for more allocation before requests \
             are refused."
        );
        // A small top-up that leaves it low fires again, once.
        grant(5, "g2", now + 10);
        assert_eq!(evaluate(&store, &config, now + 20).unwrap(), 1);
        assert_eq!(evaluate(&store, &config, now + 30).unwrap(), 0);
        assert!(
            !is_low(&store.wallet("team_a", now).unwrap().unwrap(), 0),
            "0 is off"
        );
    }
}
