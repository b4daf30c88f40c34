//! Leaders' changes to a team's runtime policy (pauses, premium restrictions, pins,
//! normalised caching): what a change may say, and the policy after it. Pure: the
//! handlers validate and apply here, the store records the result with who, when and
//! why, and every Envoy picks up the new version (`tollgate_core::policy`).

use serde::{Deserialize, Serialize};
use tollgate_core::policy::{
    NormalizedCache, Pause, PauseScope, PremiumRestriction, RestrictAction, TeamPolicy,
};

/// Longest free text (reasons, names) a change may carry.
pub const MAX_TEXT: usize = 500;

/// One change, as posted to `POST /v1/teams/{team}/policy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case", deny_unknown_fields)]
pub enum PolicyChange {
    /// Stop serving the team, a workflow or a user, until `until_ms` or lifted.
    Pause {
        scope: PauseScope,
        reason: String,
        #[serde(default)]
        until_ms: Option<i64>,
    },
    Lift {
        pause_id: i64,
        reason: String,
    },
    /// Premium lanes only for these workflows; others are downgraded or refused.
    RestrictPremium {
        allowed_workflows: Vec<String>,
        action: RestrictAction,
        reason: String,
    },
    LiftPremiumRestriction {
        reason: String,
    },
    /// Serve a workflow from one lane only.
    Pin {
        workflow: String,
        lane: String,
        reason: String,
    },
    Unpin {
        workflow: String,
        reason: String,
    },
    /// Normalised cache matching for every workflow or the listed ones; both empty
    /// turns it off.
    NormalizedCache {
        #[serde(default)]
        all_workflows: bool,
        #[serde(default)]
        workflows: Vec<String>,
        reason: String,
    },
}

/// What a change cannot be applied for; the message is for the person who asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl PolicyChange {
    pub fn reason(&self) -> &str {
        match self {
            PolicyChange::Pause { reason, .. }
            | PolicyChange::Lift { reason, .. }
            | PolicyChange::RestrictPremium { reason, .. }
            | PolicyChange::LiftPremiumRestriction { reason }
            | PolicyChange::Pin { reason, .. }
            | PolicyChange::Unpin { reason, .. }
            | PolicyChange::NormalizedCache { reason, .. } => reason,
        }
    }

    /// Checks what can be checked without the current policy: a reason, sane text, a
    /// pause end in the future, a lane that exists.
    pub fn validate(&self, lanes: &[String], now_ms: i64) -> Result<(), Invalid> {
        let text = |what: &str, s: &str| {
            if s.trim().is_empty() {
                Err(Invalid(format!("{what} must not be empty")))
            } else if s.len() > MAX_TEXT || s.chars().any(char::is_control) {
                Err(Invalid(format!(
                    "{what} must be at most {MAX_TEXT} bytes of printable text"
                )))
            } else {
                Ok(())
            }
        };
        text("reason", self.reason())?;
        match self {
            PolicyChange::Pause {
                scope, until_ms, ..
            } => {
                match scope {
                    PauseScope::Team => {}
                    PauseScope::Workflow(w) => text("the paused workflow", w)?,
                    PauseScope::User(u) => text("the paused user", u)?,
                }
                if until_ms.is_some_and(|u| u <= now_ms) {
                    return Err(Invalid("until_ms must be in the future".into()));
                }
            }
            PolicyChange::RestrictPremium {
                allowed_workflows, ..
            } => {
                for w in allowed_workflows {
                    text("an allowed workflow", w)?;
                }
            }
            PolicyChange::Pin { workflow, lane, .. } => {
                text("workflow", workflow)?;
                if !lanes.iter().any(|l| l == lane) {
                    return Err(Invalid(format!(
                        "no lane '{lane}' in the configuration; lanes: {}",
                        lanes.join(", ")
                    )));
                }
            }
            PolicyChange::Unpin { workflow, .. } => text("workflow", workflow)?,
            PolicyChange::NormalizedCache { workflows, .. } => {
                for w in workflows {
                    text("a workflow", w)?;
                }
            }
            PolicyChange::Lift { .. } | PolicyChange::LiftPremiumRestriction { .. } => {}
        }
        Ok(())
    }
}

/// The team's policy after `change`, made by `actor` as change number `id` (a pause's
/// id is the change's). Expired pauses are dropped on the way.
pub fn apply(
    current: &TeamPolicy,
    change: &PolicyChange,
    id: i64,
    actor: &str,
    now_ms: i64,
) -> Result<TeamPolicy, Invalid> {
    let mut p = current.clone();
    p.pauses
        .retain(|pause| pause.until_ms.is_none_or(|until| now_ms < until));
    match change {
        PolicyChange::Pause {
            scope,
            reason,
            until_ms,
        } => p.pauses.push(Pause {
            id,
            scope: scope.clone(),
            reason: reason.trim().to_string(),
            by: actor.to_string(),
            until_ms: *until_ms,
        }),
        PolicyChange::Lift { pause_id, .. } => {
            let before = p.pauses.len();
            p.pauses.retain(|pause| pause.id != *pause_id);
            if p.pauses.len() == before {
                return Err(Invalid(format!("no pause #{pause_id} is in force")));
            }
        }
        PolicyChange::RestrictPremium {
            allowed_workflows,
            action,
            reason,
        } => {
            p.premium = Some(PremiumRestriction {
                allowed_workflows: allowed_workflows.clone(),
                action: *action,
                reason: reason.trim().to_string(),
                by: actor.to_string(),
            })
        }
        PolicyChange::LiftPremiumRestriction { .. } => {
            if p.premium.take().is_none() {
                return Err(Invalid("no premium restriction is in force".into()));
            }
        }
        PolicyChange::Pin { workflow, lane, .. } => {
            p.pins.insert(workflow.clone(), lane.clone());
        }
        PolicyChange::Unpin { workflow, .. } => {
            if p.pins.remove(workflow).is_none() {
                return Err(Invalid(format!("workflow '{workflow}' is not pinned")));
            }
        }
        PolicyChange::NormalizedCache {
            all_workflows,
            workflows,
            ..
        } => {
            p.normalized_cache =
                (*all_workflows || !workflows.is_empty()).then(|| NormalizedCache {
                    all_workflows: *all_workflows,
                    workflows: workflows.clone(),
                });
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lanes() -> Vec<String> {
        vec!["mini".into(), "big".into()]
    }

    #[test]
    fn changes_are_validated_before_they_apply() {
        let pause = |reason: &str, until_ms| PolicyChange::Pause {
            scope: PauseScope::Workflow("draft".into()),
            reason: reason.into(),
            until_ms,
        };
        assert!(pause("loop", Some(2_000)).validate(&lanes(), 1_000).is_ok());
        assert!(pause(" ", None).validate(&lanes(), 1_000).is_err());
        assert!(pause("a\u{7}b", None).validate(&lanes(), 1_000).is_err());
        assert!(pause("loop", Some(1_000))
            .validate(&lanes(), 1_000)
            .is_err());
        let pin = |lane: &str| PolicyChange::Pin {
            workflow: "summarise".into(),
            lane: lane.into(),
            reason: "cheaper".into(),
        };
        assert!(pin("mini").validate(&lanes(), 0).is_ok());
        let e = pin("nope").validate(&lanes(), 0).unwrap_err();
        assert!(
            e.0.contains("no lane 'nope'") && e.0.contains("mini, big"),
            "{}",
            e.0
        );
        // The wire shape: a tagged object, unknown fields refused.
        let parsed: PolicyChange = serde_json::from_str(
            r#"{"change":"pause","scope":{"kind":"user","value":"bob"},"reason":"test"}"#,
        )
        .unwrap();
        assert_eq!(
            parsed,
            PolicyChange::Pause {
                scope: PauseScope::User("bob".into()),
                reason: "test".into(),
                until_ms: None
            }
        );
        assert!(serde_json::from_str::<PolicyChange>(
            r#"{"change":"pause","scope":{"kind":"team"},"reason":"x","extra":1}"#
        )
        .is_err());
    }

    #[test]
    fn applying_changes_builds_the_policy_and_refuses_what_does_not_exist() {
        let p0 = TeamPolicy::default();
        let paused = apply(
            &p0,
            &PolicyChange::Pause {
                scope: PauseScope::Team,
                reason: " runaway ".into(),
                until_ms: Some(5_000),
            },
            7,
            "lead",
            1_000,
        )
        .unwrap();
        assert_eq!(paused.pauses[0].id, 7);
        assert_eq!(paused.pauses[0].reason, "runaway");
        assert_eq!(paused.pauses[0].by, "lead");
        let lift = PolicyChange::Lift {
            pause_id: 7,
            reason: "fixed".into(),
        };
        assert!(apply(&paused, &lift, 8, "lead", 2_000)
            .unwrap()
            .pauses
            .is_empty());
        // An expired pause is gone before the change applies.
        assert!(apply(&paused, &lift, 8, "lead", 6_000).is_err());
        let restricted = apply(
            &p0,
            &PolicyChange::RestrictPremium {
                allowed_workflows: vec!["codegen".into()],
                action: RestrictAction::Downgrade,
                reason: "drift".into(),
            },
            9,
            "cfo",
            0,
        )
        .unwrap();
        assert_eq!(restricted.premium_allowed(Some("codegen")), Some(true));
        let lifted = apply(
            &restricted,
            &PolicyChange::LiftPremiumRestriction {
                reason: "ok".into(),
            },
            10,
            "cfo",
            0,
        )
        .unwrap();
        assert_eq!(lifted, TeamPolicy::default());
        let unpin = PolicyChange::Unpin {
            workflow: "x".into(),
            reason: "r".into(),
        };
        assert!(apply(&p0, &unpin, 11, "a", 0).is_err());
        let cache = apply(
            &p0,
            &PolicyChange::NormalizedCache {
                all_workflows: false,
                workflows: vec!["draft".into()],
                reason: "near repeats".into(),
            },
            12,
            "a",
            0,
        )
        .unwrap();
        assert!(cache.normalized_cache(Some("draft")));
        let off = apply(
            &cache,
            &PolicyChange::NormalizedCache {
                all_workflows: false,
                workflows: vec![],
                reason: "off".into(),
            },
            13,
            "a",
            0,
        )
        .unwrap();
        assert!(off.is_empty());
    }
}
