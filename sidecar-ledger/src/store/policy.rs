//! Storage types of the leaders' runtime policy: the change log as stored.

use serde::Serialize;
use tollgate_core::policy::TeamPolicy;

/// One recorded change to a team's policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyChangeRecord {
    /// Also the policy version it made, and the id of a pause it created.
    pub id: i64,
    pub team: String,
    /// The change as requested (`crate::policy::PolicyChange`, JSON).
    pub change: serde_json::Value,
    pub actor: String,
    pub reason: String,
    pub ts_ms: i64,
}

/// A change to record.
#[derive(Debug, Clone)]
pub struct NewPolicyChange<'a> {
    pub team: &'a str,
    pub change: &'a serde_json::Value,
    pub actor: &'a str,
    pub reason: &'a str,
    /// A retried request with the same key (per team) is answered with the change it
    /// already made.
    pub idempotency_key: Option<&'a str>,
    pub now_ms: i64,
}

/// How a change is applied inside the store's transaction: the team's current policy
/// and the change's id in, the new policy (or why not) out.
pub type ApplyChange<'a> = &'a dyn Fn(&TeamPolicy, i64) -> Result<TeamPolicy, String>;

#[derive(Debug, Clone, PartialEq)]
pub enum PolicyChangeOutcome {
    /// Recorded; the team's policy is now this.
    Applied(PolicyChangeRecord, TeamPolicy),
    /// The idempotency key was used before: the change it made, nothing new.
    Replayed(PolicyChangeRecord),
    /// The change does not apply to the current policy; nothing stored.
    Refused(String),
}
