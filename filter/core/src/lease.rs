//! The credit-lease protocol between an Envoy instance and the ledger (the wallet
//! authority). One definition, used by the filter and the ledger.
//!
//! An instance asks for credit for one team; the ledger grants at most what the wallet
//! has left after spend and other instances' live leases, adds it to the instance's live
//! lease for that team (or opens a new one), and extends the lease's expiry. Credit the
//! instance has not spent when the lease expires returns to the wallet by itself, so a
//! dead instance never strands money for longer than the lease's time to live.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRequest {
    /// The Envoy instance asking (random per Envoy process).
    pub instance: String,
    pub team: String,
    /// Credit wanted, in nanodollars.
    pub want_nanos: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseGrant {
    pub lease_id: u64,
    /// Credit added to the lease by this call (0 when the wallet is exhausted).
    pub granted_nanos: i64,
    /// When the lease ends (Unix ms); the instance must stop reserving before then.
    pub expires_ms: i64,
    /// What the wallet still has unleased after this grant, for error messages.
    pub wallet_available_nanos: i64,
    /// Set when the team is past a billing-budget threshold (soft: never blocks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_notice: Option<String>,
}

/// Margin before a lease's expiry at which an instance stops using it, covering clock
/// skew between the instance and the ledger and requests about to start.
pub const EXPIRY_MARGIN_MS: i64 = 2_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_is_plain_json() {
        let g: LeaseGrant = serde_json::from_str(
            r#"{"lease_id":3,"granted_nanos":5,"expires_ms":9,"wallet_available_nanos":0}"#,
        )
        .unwrap();
        assert_eq!(g.lease_id, 3);
        let r = LeaseRequest {
            instance: "i".into(),
            team: "t".into(),
            want_nanos: 1,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"instance":"i","team":"t","want_nanos":1}"#
        );
    }
}
