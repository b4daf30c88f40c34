//! What a leader may ask for and what an approver may decide on an allocation request:
//! the bodies of the API, validated here (pure), stored by `store::allocation_requests`.

use serde::Deserialize;
use tollgate_core::money::Usd;

use crate::store::allocation_requests::Decision;

/// Longest reason or comment.
pub const MAX_TEXT: usize = 2_000;

/// Largest amount one request may ask for or be granted ($1,000,000): a typo guard,
/// not a policy.
pub const MAX_NANOS: i64 = 1_000_000 * 1_000_000_000;

/// `POST /v1/teams/{team}/allocation-requests` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileBody {
    /// USD decimal, e.g. "250.00".
    pub amount_usd: String,
    pub reason: String,
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// `POST /v1/teams/{team}/allocation-requests/{id}/decision` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// `approve` or `decline`.
    pub decision: String,
    /// What to grant, if not the amount asked.
    #[serde(default)]
    pub amount_usd: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
}

/// A positive USD amount no larger than [`MAX_NANOS`], in nanodollars.
pub fn amount(field: &str, text: &str) -> Result<i64, String> {
    let nanos = Usd::parse(text.trim())
        .map_err(|e| format!("{field}: {e}"))?
        .0;
    if nanos <= 0 {
        return Err(format!("{field} must be more than zero"));
    }
    if nanos > MAX_NANOS {
        return Err(format!("{field} must be at most $1,000,000.00"));
    }
    Ok(nanos)
}

fn text(field: &str, s: &str, required: bool) -> Result<(), String> {
    if required && s.trim().is_empty() {
        return Err(format!("{field} is required: say why"));
    }
    if s.len() > MAX_TEXT || s.chars().any(|c| c.is_control() && c != '\n') {
        return Err(format!(
            "{field} must be at most {MAX_TEXT} bytes of printable text"
        ));
    }
    Ok(())
}

impl FileBody {
    /// The amount asked, in nanodollars, once the body is valid.
    pub fn validate(&self) -> Result<i64, String> {
        text("reason", &self.reason, true)?;
        if self
            .idempotency_key
            .as_deref()
            .is_some_and(|k| k.is_empty() || k.len() > 200)
        {
            return Err("idempotency_key must be 1 to 200 bytes".into());
        }
        amount("amount_usd", &self.amount_usd)
    }
}

impl DecisionBody {
    /// The decision (an approval without an amount grants the amount asked).
    pub fn validate(&self) -> Result<Decision, String> {
        let comment = self.comment.as_deref().unwrap_or("");
        match self.decision.as_str() {
            "approve" => {
                text("comment", comment, false)?;
                let amount_nanos = match &self.amount_usd {
                    Some(a) => Some(amount("amount_usd", a)?),
                    None => None,
                };
                Ok(Decision::Approve { amount_nanos })
            }
            "decline" => {
                if self.amount_usd.is_some() {
                    return Err("a decline grants nothing: leave amount_usd out".into());
                }
                // The team deserves to know why.
                text("comment", comment, true)?;
                Ok(Decision::Decline)
            }
            other => Err(format!(
                "decision must be 'approve' or 'decline', not '{other}'"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(amount: &str, reason: &str) -> FileBody {
        FileBody {
            amount_usd: amount.into(),
            reason: reason.into(),
            idempotency_key: None,
        }
    }

    fn decide(decision: &str, amount: Option<&str>, comment: Option<&str>) -> DecisionBody {
        DecisionBody {
            decision: decision.into(),
            amount_usd: amount.map(str::to_string),
            comment: comment.map(str::to_string),
        }
    }

    #[test]
    fn a_request_asks_a_positive_bounded_amount_with_a_reason() {
        assert_eq!(
            file("250.00", "launch week").validate(),
            Ok(250_000_000_000)
        );
        assert_eq!(file("0.000000001", "tiny").validate(), Ok(1));
        for (amount, reason, says) in [
            ("0", "r", "more than zero"),
            ("-5", "r", "amount_usd"),
            ("abc", "r", "amount_usd"),
            ("1000000.01", "r", "at most"),
            ("10", "  ", "reason is required"),
            ("10", "a\u{0}b", "printable"),
        ] {
            let err = file(amount, reason).validate().unwrap_err();
            assert!(err.contains(says), "{amount} {reason:?}: {err}");
        }
    }

    #[test]
    fn an_approval_grants_the_asked_amount_unless_told_otherwise_and_a_decline_says_why() {
        assert_eq!(
            decide("approve", None, None).validate(),
            Ok(Decision::Approve { amount_nanos: None })
        );
        assert_eq!(
            decide("approve", Some("100"), Some("half of it")).validate(),
            Ok(Decision::Approve {
                amount_nanos: Some(100_000_000_000)
            })
        );
        assert_eq!(
            decide("decline", None, Some("use the cache first")).validate(),
            Ok(Decision::Decline)
        );
        assert!(decide("decline", None, None).validate().is_err());
        assert!(decide("decline", Some("5"), Some("c")).validate().is_err());
        assert!(decide("maybe", None, None).validate().is_err());
        assert!(decide("approve", Some("0"), None).validate().is_err());
    }
}
