//! What a change to a team's billing budget may say: the body of
//! `POST /v1/teams/{team}/budget`, resolved against the budget in force and validated
//! like the config file's budgets (pure; stored by `store::budgets`).

use serde::Deserialize;
use tollgate_core::config::{BudgetDef, BudgetPeriodKind};
use tollgate_core::money::Usd;

/// Longest reason or comment.
pub const MAX_TEXT: usize = 2_000;

/// The fields left out keep their value in force (or the config file's defaults for a
/// team without a budget).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetBody {
    #[serde(default)]
    pub amount_usd: Option<String>,
    #[serde(default)]
    pub period: Option<BudgetPeriodKind>,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub length_days: Option<u32>,
    #[serde(default)]
    pub thresholds_pct: Option<Vec<u32>>,
    #[serde(default)]
    pub forecast_thresholds_pct: Option<Vec<u32>>,
    /// Remove the team's budget.
    #[serde(default)]
    pub remove: bool,
    pub reason: String,
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// `POST /v1/teams/{team}/budget/proposals/{id}/decision` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposalDecisionBody {
    /// `approve` or `decline`.
    pub decision: String,
    #[serde(default)]
    pub comment: Option<String>,
}

pub fn check_text(field: &str, s: &str, required: bool) -> Result<(), String> {
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

impl BudgetBody {
    /// The team's budget after this change (`None`: removed).
    pub fn resolve(
        &self,
        team: &str,
        current: Option<&BudgetDef>,
    ) -> Result<Option<BudgetDef>, String> {
        check_text("reason", &self.reason, true)?;
        if self
            .idempotency_key
            .as_deref()
            .is_some_and(|k| k.is_empty() || k.len() > 200)
        {
            return Err("idempotency_key must be 1 to 200 bytes".into());
        }
        if self.remove {
            let others = self.amount_usd.is_some()
                || self.period.is_some()
                || self.start.is_some()
                || self.length_days.is_some()
                || self.thresholds_pct.is_some()
                || self.forecast_thresholds_pct.is_some();
            if others {
                return Err("a removal takes only a reason".into());
            }
            return match current {
                Some(_) => Ok(None),
                None => Err(format!("team '{team}' has no budget to remove")),
            };
        }
        let mut b = match current {
            Some(c) => c.clone(),
            None => {
                let Some(amount) = &self.amount_usd else {
                    return Err(format!(
                        "team '{team}' has no budget yet: amount_usd is required"
                    ));
                };
                // The config file's defaults, through its own parser.
                let mut b: BudgetDef = serde_json::from_value(serde_json::json!({
                    "team_id": team,
                    "amount_usd": "1",
                }))
                .map_err(|e| e.to_string())?;
                b.amount_usd = parse_amount(amount)?;
                b
            }
        };
        if let Some(a) = &self.amount_usd {
            b.amount_usd = parse_amount(a)?;
        }
        if let Some(p) = self.period {
            if p != BudgetPeriodKind::Custom {
                b.length_days = None;
            }
            b.period = p;
        }
        if self.start.is_some() {
            b.start = self.start.clone();
        }
        if self.length_days.is_some() {
            b.length_days = self.length_days;
        }
        if let Some(t) = &self.thresholds_pct {
            b.thresholds_pct = t.clone();
        }
        if let Some(t) = &self.forecast_thresholds_pct {
            b.forecast_thresholds_pct = t.clone();
        }
        let problems = b.problems("budget");
        if !problems.is_empty() {
            return Err(problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "));
        }
        if current == Some(&b) {
            return Err("the change leaves the budget as it is".into());
        }
        Ok(Some(b))
    }
}

fn parse_amount(text: &str) -> Result<Usd, String> {
    Usd::parse(text.trim()).map_err(|e| format!("amount_usd: {e}"))
}

impl ProposalDecisionBody {
    /// `true` to approve.
    pub fn validate(&self) -> Result<bool, String> {
        let comment = self.comment.as_deref().unwrap_or("");
        match self.decision.as_str() {
            "approve" => check_text("comment", comment, false).map(|()| true),
            "decline" => check_text("comment", comment, true).map(|()| false),
            other => Err(format!(
                "decision must be 'approve' or 'decline', not '{other}'"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USD: i64 = 1_000_000_000;

    fn body(json: serde_json::Value) -> BudgetBody {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_first_budget_needs_an_amount_and_gets_the_files_defaults() {
        let b = body(serde_json::json!({"amount_usd": "120", "reason": "Q1 plan"}))
            .resolve("team_a", None)
            .unwrap()
            .unwrap();
        assert_eq!(b.team_id, "team_a");
        assert_eq!(b.amount_usd, Usd(120 * USD));
        assert_eq!(b.period, BudgetPeriodKind::Monthly);
        assert_eq!(b.thresholds_pct, vec![50, 80, 100]);
        assert_eq!(b.forecast_thresholds_pct, vec![100]);
        let err = body(serde_json::json!({"reason": "r"}))
            .resolve("team_a", None)
            .unwrap_err();
        assert!(err.contains("amount_usd is required"), "{err}");
    }

    #[test]
    fn a_revision_keeps_what_it_does_not_name_and_is_validated_like_the_file() {
        let current = body(serde_json::json!({"amount_usd": "120", "reason": "r"}))
            .resolve("team_a", None)
            .unwrap()
            .unwrap();
        let b = body(serde_json::json!({"thresholds_pct": [50, 90], "reason": "fewer pings"}))
            .resolve("team_a", Some(&current))
            .unwrap()
            .unwrap();
        assert_eq!(
            (b.amount_usd, b.thresholds_pct.clone()),
            (Usd(120 * USD), vec![50, 90])
        );
        for (json, says) in [
            (
                serde_json::json!({"amount_usd": "0", "reason": "r"}),
                "positive",
            ),
            (
                serde_json::json!({"amount_usd": "x", "reason": "r"}),
                "amount_usd",
            ),
            (
                serde_json::json!({"thresholds_pct": [0], "reason": "r"}),
                "between 1 and 1000",
            ),
            (
                serde_json::json!({"period": "custom", "reason": "r"}),
                "start date",
            ),
            (
                serde_json::json!({"length_days": 7, "reason": "r"}),
                "only a custom period",
            ),
            (
                serde_json::json!({"amount_usd": "120", "reason": "r"}),
                "as it is",
            ),
            (
                serde_json::json!({"amount_usd": "10", "reason": " "}),
                "reason is required",
            ),
            (
                serde_json::json!({"remove": true, "amount_usd": "1", "reason": "r"}),
                "only a reason",
            ),
        ] {
            let err = body(json.clone())
                .resolve("team_a", Some(&current))
                .unwrap_err();
            assert!(err.contains(says), "{json}: {err}");
        }
        let custom = body(
            serde_json::json!({"period": "custom", "start": "2026-12-01",
            "length_days": 14, "reason": "sprint budget"}),
        )
        .resolve("team_a", Some(&current))
        .unwrap()
        .unwrap();
        assert_eq!(custom.length_days, Some(14));
        // Back to monthly drops the custom length.
        let monthly = body(serde_json::json!({"period": "monthly", "reason": "r"}))
            .resolve("team_a", Some(&custom))
            .unwrap()
            .unwrap();
        assert_eq!(
            (monthly.period, monthly.length_days),
            (BudgetPeriodKind::Monthly, None)
        );
    }

    #[test]
    fn removing_needs_a_budget_to_remove() {
        let current = body(serde_json::json!({"amount_usd": "5", "reason": "r"}))
            .resolve("team_a", None)
            .unwrap()
            .unwrap();
        let remove = body(serde_json::json!({"remove": true, "reason": "team disbanded"}));
        assert_eq!(remove.resolve("team_a", Some(&current)), Ok(None));
        assert!(remove.resolve("team_a", None).is_err());
    }
}
