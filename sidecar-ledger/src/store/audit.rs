//! The audit log as stored: one row per privileged action (who, when, what, on which
//! team, the state before and after), append-only: the schema refuses updates and
//! deletes.

use serde::Serialize;
use serde_json::Value;

/// An action to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    /// Who acted: a token's name, id and role, or the local operator's command.
    pub actor: String,
    /// What was done, e.g. `POST /v1/wallets/team_a/allocations` or `token.create`.
    pub action: String,
    /// The team acted on, if any.
    pub team: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// A recorded action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub ts_ms: i64,
    pub actor: String,
    pub action: String,
    pub team: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// A stored JSON text back as a value (text that is not JSON comes back as a string).
pub(crate) fn json_of(text: Option<String>) -> Option<Value> {
    text.map(|t| serde_json::from_str(&t).unwrap_or(Value::String(t)))
}
