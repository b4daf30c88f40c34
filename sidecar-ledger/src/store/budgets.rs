//! Storage types of the budgets in force and their history.
//!
//! The config file seeds a team's budget; the ledger holds the budget in force and a
//! record of every change, whoever made it. The latest edit wins: a budget changed in
//! the file takes effect at the reload that reads it (recorded as a change by
//! [`CONFIG_FILE_ACTOR`]); a reload that leaves the file's budget as it was keeps
//! whatever is in force, including changes made through the API since.

use serde::Serialize;
use tollgate_core::config::BudgetDef;

/// Who a change read from the config file is recorded as.
pub const CONFIG_FILE_ACTOR: &str = "config file";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    /// In force since it was made.
    Applied,
    /// A team's proposal waiting for finance.
    Pending,
    /// A proposal finance approved (in force since the decision).
    Approved,
    Declined,
}

impl ChangeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeStatus::Applied => "applied",
            ChangeStatus::Pending => "pending",
            ChangeStatus::Approved => "approved",
            ChangeStatus::Declined => "declined",
        }
    }

    pub fn parse(s: &str) -> Option<ChangeStatus> {
        match s {
            "applied" => Some(ChangeStatus::Applied),
            "pending" => Some(ChangeStatus::Pending),
            "approved" => Some(ChangeStatus::Approved),
            "declined" => Some(ChangeStatus::Declined),
            _ => None,
        }
    }
}

/// One change to a team's budget, or a proposal of one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BudgetChangeRecord {
    pub id: i64,
    pub team: String,
    /// In force before the change (for a pending proposal: when it was made).
    pub before: Option<BudgetDef>,
    /// `None`: the budget is removed.
    pub after: Option<BudgetDef>,
    pub actor: String,
    pub reason: String,
    pub ts_ms: i64,
    pub status: ChangeStatus,
    pub decided_by: Option<String>,
    pub decided_ms: Option<i64>,
    pub decision_comment: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewBudgetChange<'a> {
    pub team: &'a str,
    pub after: Option<&'a BudgetDef>,
    pub actor: &'a str,
    pub reason: &'a str,
    /// Record it pending, for finance to decide, instead of applying it.
    pub propose: bool,
    pub idempotency_key: Option<&'a str>,
    pub now_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BudgetChangeOutcome {
    /// Applied or proposed now.
    Recorded(BudgetChangeRecord),
    /// The idempotency key was used before: that change, nothing new.
    Replayed(BudgetChangeRecord),
}

#[derive(Debug, Clone)]
pub struct BudgetDecision<'a> {
    pub team: &'a str,
    pub id: i64,
    pub approve: bool,
    pub actor: &'a str,
    pub comment: Option<&'a str>,
    pub now_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BudgetDecisionOutcome {
    Decided(BudgetChangeRecord),
    AlreadyDecided(BudgetChangeRecord),
    NotFound,
}

/// A stored budget definition, or a corrupt-data error naming the team.
pub fn parse_def(team: &str, text: &str) -> Result<BudgetDef, crate::store::error::StoreError> {
    serde_json::from_str(text)
        .map_err(|e| crate::store::error::StoreError::Corrupt(format!("budget of {team}: {e}")))
}

pub fn def_text(def: &BudgetDef) -> String {
    serde_json::to_string(def).unwrap_or_default()
}
