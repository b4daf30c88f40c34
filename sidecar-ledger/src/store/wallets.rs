//! Wallet and lease types shared by every store backend.

use serde::{Deserialize, Serialize};

/// Why an allocation changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// The opening allocation (from the config, once).
    Initial,
    TopUp,
    /// A signed adjustment (may be negative).
    Correction,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Initial => "initial",
            EntryKind::TopUp => "top_up",
            EntryKind::Correction => "correction",
        }
    }

    pub fn parse(s: &str) -> Option<EntryKind> {
        match s {
            "initial" => Some(EntryKind::Initial),
            "top_up" => Some(EntryKind::TopUp),
            "correction" => Some(EntryKind::Correction),
            _ => None,
        }
    }
}

/// A requested change to a wallet's allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub team: String,
    pub kind: EntryKind,
    pub amount_nanos: i64,
    pub actor: String,
    pub reason: String,
    /// Makes a retried request (or a restarted ledger seeding from config) apply once.
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WalletEntry {
    pub id: i64,
    pub team: String,
    pub kind: EntryKind,
    pub amount_nanos: i64,
    pub actor: String,
    pub reason: String,
    pub ts_ms: i64,
}

/// A wallet's state. `available = allocated - spent - leased_outstanding`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WalletState {
    pub team: String,
    pub allocated_nanos: i64,
    pub spent_nanos: i64,
    /// Credit held by live leases and not yet spent.
    pub leased_outstanding_nanos: i64,
    pub live_leases: i64,
}

impl WalletState {
    pub fn balance_nanos(&self) -> i64 {
        self.allocated_nanos - self.spent_nanos
    }

    pub fn available_nanos(&self) -> i64 {
        self.balance_nanos() - self.leased_outstanding_nanos
    }
}
