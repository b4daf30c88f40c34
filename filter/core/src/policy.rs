//! Leaders' runtime policy, enforced in the traffic: pauses (a team, a workflow or an
//! end user stops being served, with a reason and an optional end), premium lanes
//! restricted to approved workflows (a downgrade to an ordinary lane, or a refusal),
//! workflows pinned to a lane, and normalised caching turned on per team or workflow.
//!
//! The ledger stores each change with who, when and why, and serves the whole set as
//! one versioned document (`GET /v1/policy`); every Envoy polls it and applies a new
//! version within one poll interval (see [`POLL_INTERVAL_MS`]). It narrows what the
//! configuration file allows, never widens it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How often an Envoy asks the ledger for a newer policy: a change reaches every Envoy
/// within this, plus one worker tick.
pub const POLL_INTERVAL_MS: i64 = 1_000;

/// Every team's policy, as one versioned document.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PolicySet {
    /// Grows with every change; an Envoy asks for anything newer than what it has.
    pub version: i64,
    #[serde(default)]
    pub teams: BTreeMap<String, TeamPolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TeamPolicy {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pauses: Vec<Pause>,
    /// Premium lanes only for these workflows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub premium: Option<PremiumRestriction>,
    /// A workflow served by one lane only: workflow → lane id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pins: BTreeMap<String, String>,
    /// Normalised cache matching (see `cache::normalized`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalized_cache: Option<NormalizedCache>,
}

/// What a pause stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum PauseScope {
    Team,
    Workflow(String),
    User(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub id: i64,
    pub scope: PauseScope,
    pub reason: String,
    /// Who paused it (the dashboard user's token name).
    pub by: String,
    /// When it lifts by itself (Unix ms); `None`: until lifted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestrictAction {
    /// Serve the request on an ordinary (non-premium) lane instead.
    Downgrade,
    /// Refuse it with a provider-style error naming the restriction.
    Refuse,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PremiumRestriction {
    /// The workflows that may still use premium lanes.
    pub allowed_workflows: Vec<String>,
    pub action: RestrictAction,
    pub reason: String,
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NormalizedCache {
    /// Every workflow of the team (else only `workflows`).
    #[serde(default)]
    pub all_workflows: bool,
    #[serde(default)]
    pub workflows: Vec<String>,
}

impl TeamPolicy {
    /// The pause in force for a request of this workflow and user, if any: the team's
    /// first, then the workflow's, then the user's.
    pub fn pause_for(
        &self,
        workflow: Option<&str>,
        user: Option<&str>,
        now_ms: i64,
    ) -> Option<&Pause> {
        let live = |p: &&Pause| p.until_ms.is_none_or(|until| now_ms < until);
        let matches = |p: &&Pause| match &p.scope {
            PauseScope::Team => true,
            PauseScope::Workflow(w) => workflow == Some(w.as_str()),
            PauseScope::User(u) => user == Some(u.as_str()),
        };
        self.pauses.iter().filter(live).find(matches)
    }

    /// Whether this workflow may use premium lanes under the restriction (`None`: no
    /// restriction is in force).
    pub fn premium_allowed(&self, workflow: Option<&str>) -> Option<bool> {
        let r = self.premium.as_ref()?;
        Some(workflow.is_some_and(|w| r.allowed_workflows.iter().any(|a| a == w)))
    }

    /// The lane this workflow is pinned to.
    pub fn pin(&self, workflow: Option<&str>) -> Option<&str> {
        self.pins.get(workflow?).map(String::as_str)
    }

    /// Whether requests of this workflow are cached with normalised matching.
    pub fn normalized_cache(&self, workflow: Option<&str>) -> bool {
        self.normalized_cache.as_ref().is_some_and(|n| {
            n.all_workflows || workflow.is_some_and(|w| n.workflows.iter().any(|x| x == w))
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == TeamPolicy::default()
    }
}

impl PolicySet {
    pub fn team(&self, team: &str) -> Option<&TeamPolicy> {
        self.teams.get(team)
    }
}

/// The message a paused request is refused with: what is paused, why, by whom, until.
pub fn pause_message(team: &str, pause: &Pause) -> String {
    let what = match &pause.scope {
        PauseScope::Team => format!("team {team}"),
        PauseScope::Workflow(w) => format!("workflow '{w}' of team {team}"),
        PauseScope::User(u) => format!("user '{u}' of team {team}"),
    };
    let until = match pause.until_ms {
        Some(ms) => format!(" until {}", utc_minute(ms)),
        None => " until it is lifted".to_string(),
    };
    format!(
        "Tollgate has paused {what}{until} (pause #{}, by {}): {}",
        pause.id, pause.by, pause.reason
    )
}

/// `YYYY-MM-DD HH:MM UTC`.
fn utc_minute(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let (y, m, d) = crate::config::civil_from_days(days);
    let minutes = ms.rem_euclid(86_400_000) / 60_000;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        minutes / 60,
        minutes % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pause(id: i64, scope: PauseScope, until_ms: Option<i64>) -> Pause {
        Pause {
            id,
            scope,
            reason: "runaway loop".into(),
            by: "lead".into(),
            until_ms,
        }
    }

    #[test]
    fn pauses_match_their_scope_and_lift_at_their_end() {
        let p = TeamPolicy {
            pauses: vec![
                pause(1, PauseScope::Workflow("draft".into()), Some(1_000)),
                pause(2, PauseScope::User("bob".into()), None),
            ],
            ..Default::default()
        };
        assert_eq!(p.pause_for(Some("draft"), None, 999).map(|p| p.id), Some(1));
        assert_eq!(p.pause_for(Some("draft"), None, 1_000), None, "expired");
        assert_eq!(
            p.pause_for(Some("other"), Some("bob"), 5).map(|p| p.id),
            Some(2)
        );
        assert_eq!(p.pause_for(Some("other"), Some("ann"), 5), None);
        let team = TeamPolicy {
            pauses: vec![pause(3, PauseScope::Team, None)],
            ..Default::default()
        };
        assert_eq!(team.pause_for(None, None, 0).map(|p| p.id), Some(3));
        let msg = pause_message("team_support", &p.pauses[0]);
        assert!(msg.contains("until 1970-01-01 00:00 UTC"), "{msg}");
        assert!(
            msg.contains("workflow 'draft' of team team_support"),
            "{msg}"
        );
        assert!(
            msg.contains("pause #1, by lead") && msg.contains("runaway loop"),
            "{msg}"
        );
    }

    #[test]
    fn premium_restrictions_pins_and_normalised_cache() {
        let mut p = TeamPolicy::default();
        assert_eq!(p.premium_allowed(Some("codegen")), None);
        p.premium = Some(PremiumRestriction {
            allowed_workflows: vec!["codegen".into()],
            action: RestrictAction::Downgrade,
            reason: "premium drift".into(),
            by: "lead".into(),
        });
        assert_eq!(p.premium_allowed(Some("codegen")), Some(true));
        assert_eq!(p.premium_allowed(Some("summarise")), Some(false));
        assert_eq!(p.premium_allowed(None), Some(false));
        p.pins.insert("summarise".into(), "mini".into());
        assert_eq!(p.pin(Some("summarise")), Some("mini"));
        assert_eq!(p.pin(None), None);
        assert!(!p.normalized_cache(Some("draft")));
        p.normalized_cache = Some(NormalizedCache {
            all_workflows: false,
            workflows: vec!["draft".into()],
        });
        assert!(p.normalized_cache(Some("draft")) && !p.normalized_cache(Some("x")));
        // The document round-trips as JSON.
        let set = PolicySet {
            version: 4,
            teams: BTreeMap::from([("t".to_string(), p)]),
        };
        let text = serde_json::to_string(&set).unwrap();
        assert_eq!(serde_json::from_str::<PolicySet>(&text).unwrap(), set);
        assert!(text.contains(r#""summarise":"mini""#), "{text}");
    }
}
