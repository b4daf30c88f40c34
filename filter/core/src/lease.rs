//! The credit-lease protocol between an Envoy instance and the ledger (the wallet
//! authority). One definition, used by the filter and the ledger.
//!
//! An instance asks for credit for one team; the ledger grants at most what the wallet
//! has left after spend and other instances' live leases, adds it to the instance's live
//! lease for that team (or opens a new one), and extends the lease's expiry. Credit the
//! instance has not spent when the lease expires returns to the wallet by itself, so a
//! dead instance never strands money for longer than the lease's time to live.

use serde::{Deserialize, Serialize};

use crate::config::LedgerFailureMode;

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

/// What the ledger's answer to a lease call means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseAnswer {
    /// The ledger granted credit — possibly none at all: the wallet is exhausted.
    Granted(LeaseGrant),
    /// The ledger answered and turned the call down (4xx: unknown wallet, bad request).
    Rejected { status: u16 },
    /// No usable answer: the call could not be made, Envoy could not connect (503) or
    /// timed out (504), the ledger failed (5xx), or its answer was not a grant.
    Unreachable,
}

impl LeaseAnswer {
    /// Classifies the HTTP answer to a lease call (`status` is `None` when the call
    /// could not be dispatched or the answer had no status).
    pub fn from_http(status: Option<u16>, body: Option<&[u8]>) -> LeaseAnswer {
        match status {
            Some(200) => body
                .and_then(|b| serde_json::from_slice::<LeaseGrant>(b).ok())
                .map_or(LeaseAnswer::Unreachable, LeaseAnswer::Granted),
            Some(status @ 400..=499) => LeaseAnswer::Rejected { status },
            _ => LeaseAnswer::Unreachable,
        }
    }
}

/// What wallet enforcement does with a request that needed credit from the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreditDecision {
    /// Add the grant to the instance's credit and reserve from it. A grant that does
    /// not cover the request (the wallet is exhausted) is a 402 in either failure mode.
    UseGrant(LeaseGrant),
    /// Refuse with 503 `wallet_unavailable`; nothing goes upstream.
    RefuseUnavailable,
    /// Send upstream without a reservation; the cost event is marked
    /// `wallet_unchecked`.
    SendUnchecked,
}

/// The decision for a lease answer under the consumer group's failure mode. Only an
/// unreachable ledger is affected by the mode: a grant (even an empty one) and a
/// refusal by a ledger that answered are the same in both.
pub fn decide(answer: LeaseAnswer, mode: LedgerFailureMode) -> CreditDecision {
    match (answer, mode) {
        (LeaseAnswer::Granted(grant), _) => CreditDecision::UseGrant(grant),
        (LeaseAnswer::Rejected { .. }, _) => CreditDecision::RefuseUnavailable,
        (LeaseAnswer::Unreachable, LedgerFailureMode::Closed) => CreditDecision::RefuseUnavailable,
        (LeaseAnswer::Unreachable, LedgerFailureMode::Open) => CreditDecision::SendUnchecked,
    }
}

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

    const GRANT: &[u8] =
        br#"{"lease_id":3,"granted_nanos":500,"expires_ms":60000,"wallet_available_nanos":0}"#;
    const EMPTY_GRANT: &[u8] =
        br#"{"lease_id":3,"granted_nanos":0,"expires_ms":60000,"wallet_available_nanos":0}"#;

    #[test]
    fn answers_are_classified_by_status_and_body() {
        assert!(matches!(
            LeaseAnswer::from_http(Some(200), Some(GRANT)),
            LeaseAnswer::Granted(LeaseGrant {
                granted_nanos: 500,
                ..
            })
        ));
        // Envoy's answers when the ledger is down, hangs, or fails.
        for status in [None, Some(0), Some(500), Some(502), Some(503), Some(504)] {
            assert_eq!(
                LeaseAnswer::from_http(status, Some(b"upstream connect error")),
                LeaseAnswer::Unreachable,
                "{status:?}"
            );
        }
        assert_eq!(
            LeaseAnswer::from_http(Some(200), Some(b"<html>proxy</html>")),
            LeaseAnswer::Unreachable,
            "a 200 that is not a grant is no answer"
        );
        assert_eq!(
            LeaseAnswer::from_http(Some(200), None),
            LeaseAnswer::Unreachable
        );
        assert_eq!(
            LeaseAnswer::from_http(Some(404), Some(b"{}")),
            LeaseAnswer::Rejected { status: 404 }
        );
    }

    #[test]
    fn only_an_unreachable_ledger_depends_on_the_failure_mode() {
        use LedgerFailureMode::{Closed, Open};
        let unreachable = || LeaseAnswer::from_http(Some(503), None);
        assert_eq!(
            decide(unreachable(), Closed),
            CreditDecision::RefuseUnavailable
        );
        assert_eq!(decide(unreachable(), Open), CreditDecision::SendUnchecked);
        assert_eq!(
            decide(LeaseAnswer::Unreachable, Open),
            CreditDecision::SendUnchecked
        );
        // A ledger that answered "no" is never bypassed.
        let unknown_wallet = || LeaseAnswer::from_http(Some(404), None);
        assert_eq!(
            decide(unknown_wallet(), Open),
            CreditDecision::RefuseUnavailable
        );
        assert_eq!(
            decide(unknown_wallet(), Closed),
            CreditDecision::RefuseUnavailable
        );
    }

    #[test]
    fn an_exhausted_wallet_is_refused_in_fail_open_mode_too() {
        use crate::budget::{Credit, ReserveError};
        for mode in [LedgerFailureMode::Closed, LedgerFailureMode::Open] {
            let answer = LeaseAnswer::from_http(Some(200), Some(EMPTY_GRANT));
            let CreditDecision::UseGrant(grant) = decide(answer, mode) else {
                panic!("an empty grant is still a grant under {mode:?}");
            };
            let credit = Credit::default().with_grant(&grant);
            assert_eq!(
                credit.reserve(100, 1_000),
                Err(ReserveError::Insufficient { available: 0 }),
                "{mode:?}"
            );
        }
        // And a grant that covers the request is used, in both modes.
        let CreditDecision::UseGrant(grant) = decide(
            LeaseAnswer::from_http(Some(200), Some(GRANT)),
            LedgerFailureMode::Open,
        ) else {
            panic!("expected a grant");
        };
        let credit = Credit::default().with_grant(&grant);
        assert_eq!(credit.reserve(100, 1_000).map(|c| c.available), Ok(400));
    }
}
