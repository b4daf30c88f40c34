//! Events held back by the checks against the configuration (see
//! `crate::ingest_check`): stored apart from spend, never charged to a wallet.

use serde::Serialize;

/// A quarantined event as stored. Text fields never hold NUL (replaced on the way
/// in), so every backend stores them alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantinedEvent {
    pub event_id: String,
    /// When the ledger received it (Unix ms).
    pub received_ms: i64,
    /// The event's own time.
    pub ts_ms: i64,
    /// The team the event names (which may not exist).
    pub team: String,
    /// The cost the event claims.
    pub cost_nanos: i64,
    /// The name of the ingest token that posted it.
    pub holder: String,
    /// Why: `unknown_team`, `cost_mismatch`, ... (see `ingest_check::Reason`).
    pub reason: String,
    pub detail: String,
    /// The event as JSON.
    pub event: String,
}

impl QuarantinedEvent {
    /// Replaces NUL in every text field (PostgreSQL text cannot hold it).
    pub fn without_nul(mut self) -> Self {
        for s in [
            &mut self.event_id,
            &mut self.team,
            &mut self.holder,
            &mut self.reason,
            &mut self.detail,
            &mut self.event,
        ] {
            if s.contains('\0') {
                *s = s.replace('\0', "\u{fffd}");
            }
        }
        self
    }
}
