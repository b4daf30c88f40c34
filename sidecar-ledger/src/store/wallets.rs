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

/// A wallet's state. `balance = allocated - spent - unsettled`;
/// `available = balance - leased_outstanding`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WalletState {
    pub team: String,
    pub allocated_nanos: i64,
    /// Spend recorded from cost events.
    pub spent_nanos: i64,
    /// Credit held by live leases and not yet spent.
    pub leased_outstanding_nanos: i64,
    pub live_leases: i64,
    /// Spend held for leases that ended before all their events arrived (an instance
    /// stopped or crashed): charged to the team until the events arrive or an operator
    /// resolves the hold, so a lost event never makes the wallet generous.
    pub unsettled_nanos: i64,
}

impl WalletState {
    pub fn balance_nanos(&self) -> i64 {
        self.allocated_nanos - self.spent_nanos - self.unsettled_nanos
    }

    pub fn available_nanos(&self) -> i64 {
        self.balance_nanos() - self.leased_outstanding_nanos
    }
}

/// The unsettled part of one ended lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hold {
    pub lease_id: i64,
    pub team: String,
    /// The Envoy instance the lease belonged to.
    pub instance: String,
    pub granted_nanos: i64,
    /// What the instance reported never reserving when it closed the lease (`None`:
    /// it never closed it — it stopped or crashed — so all of the lease is held).
    pub unused_nanos: Option<i64>,
    /// Spend of the lease's events received so far.
    pub spent_nanos: i64,
    /// `granted - unused - spent`, at least 0.
    pub held_nanos: i64,
    pub expires_ms: i64,
    pub closed_ms: Option<i64>,
}

/// An operator's release of a hold (the events will not come, e.g. an instance's disk
/// was lost with its buffer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldResolution {
    pub team: String,
    pub lease_id: i64,
    pub actor: String,
    pub reason: String,
}

/// Who takes a lease, for the bound on what one holder may hold of a wallet while
/// others draw on it (see `tollgate_core::lease::holder_grant_size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseHolder<'a> {
    /// The holder's name: its leases are those whose instance is this name or starts
    /// with it and `/` (an ingest token's name, see `Principal::lease_holder`).
    pub name: &'a str,
    /// Percent of the wallet's credit the holder may hold while others draw on it.
    pub share_percent: u8,
}
