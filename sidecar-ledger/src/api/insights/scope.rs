//! Whose numbers an answer holds: the teams a principal may see, and the scope and
//! range echoed in every answer.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::auth::Principal;
use crate::clock::now_ms;
use crate::insights::DayRange;
use crate::query;
use crate::store::wallets::WalletState;
use crate::store::{Store, StoreError};

/// The teams a principal may see: every wallet's (each team with spend has one) and
/// every budget's.
pub(super) fn visible_teams(
    store: &dyn Store,
    budgets: &[tollgate_core::config::BudgetDef],
    who: &Principal,
) -> Result<BTreeSet<String>, StoreError> {
    let wallets = store.wallets(now_ms())?;
    Ok(visible_among(&wallets, budgets, who))
}

/// [`visible_teams`] from wallets already read.
pub(super) fn visible_among(
    wallets: &[WalletState],
    budgets: &[tollgate_core::config::BudgetDef],
    who: &Principal,
) -> BTreeSet<String> {
    // Every team with spend has a wallet (ingest creates it), so no rollup is read.
    wallets
        .iter()
        .map(|w| &w.team)
        .chain(budgets.iter().map(|b| &b.team_id))
        .filter(|t| who.can_see(t))
        .cloned()
        .collect()
}

#[derive(Serialize)]
pub struct RangeJson {
    pub from: String,
    pub to: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub days: i64,
}

impl From<DayRange> for RangeJson {
    fn from(r: DayRange) -> Self {
        RangeJson {
            from: query::format_day(r.from_ms),
            to: query::format_day(r.to_ms),
            from_ms: r.from_ms,
            to_ms: r.to_ms,
            days: r.days(),
        }
    }
}

/// The scope of an answer: one team, or every team the token sees.
#[derive(Serialize)]
pub struct ScopeJson {
    /// `None`: the organisation (every visible team).
    pub team: Option<String>,
    pub label: String,
}

pub(super) fn scope_json(team: &Option<String>) -> ScopeJson {
    ScopeJson {
        team: team.clone(),
        label: team
            .clone()
            .unwrap_or_else(|| "The organisation".to_string()),
    }
}
