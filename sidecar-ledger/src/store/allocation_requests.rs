//! Storage types of allocation requests: a team asks for more wallet allocation with
//! the evidence frozen at filing; finance or an admin approves (the grant is written in
//! the same transaction) or declines.

use serde::Serialize;

use super::wallets::{WalletEntry, WalletState};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    Approved,
    Declined,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Declined => "declined",
        }
    }

    pub fn parse(s: &str) -> Option<RequestStatus> {
        match s {
            "pending" => Some(RequestStatus::Pending),
            "approved" => Some(RequestStatus::Approved),
            "declined" => Some(RequestStatus::Declined),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AllocationRequestRecord {
    pub id: i64,
    pub team: String,
    pub amount_nanos: i64,
    pub reason: String,
    pub requested_by: String,
    pub requested_ms: i64,
    /// What the ledger knew when the request was filed (see `api::insights::evidence`).
    pub evidence: serde_json::Value,
    pub status: RequestStatus,
    pub decided_by: Option<String>,
    pub decided_ms: Option<i64>,
    /// What was granted (may differ from the amount asked).
    pub approved_nanos: Option<i64>,
    pub decision_comment: Option<String>,
    /// The wallet entry the approval wrote.
    pub wallet_entry_id: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewAllocationRequest<'a> {
    pub team: &'a str,
    pub amount_nanos: i64,
    pub reason: &'a str,
    pub requested_by: &'a str,
    pub evidence: &'a serde_json::Value,
    /// A retry with the same key (per team) answers with the request already filed.
    pub idempotency_key: Option<&'a str>,
    pub now_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FileOutcome {
    Filed(AllocationRequestRecord),
    Replayed(AllocationRequestRecord),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Grant this amount (nanodollars, > 0), or (`None`) the amount asked.
    Approve {
        amount_nanos: Option<i64>,
    },
    Decline,
}

#[derive(Debug, Clone)]
pub struct DecisionInput<'a> {
    pub team: &'a str,
    pub id: i64,
    pub decision: Decision,
    pub comment: Option<&'a str>,
    pub actor: &'a str,
    pub now_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DecideOutcome {
    /// Decided now; an approval's grant and the wallet after it.
    Decided(AllocationRequestRecord, Option<(WalletEntry, WalletState)>),
    /// It was decided before (by this decision or another): nothing changed.
    AlreadyDecided(AllocationRequestRecord),
    /// No such request for this team.
    NotFound,
    /// Approving needs the team's wallet, and there is none.
    NoWallet,
}
