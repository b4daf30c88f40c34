//! Access tokens as stored: the role, the team it is confined to, the SHA-256 of the
//! token (never the token itself), its optional expiry, and its revocation.

use serde::Serialize;

/// Who a token belongs to and what it may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, every team.
    Admin,
    /// Every team's spend (read-only like all tokens).
    Finance,
    /// One team's spend only.
    Team,
    /// The data plane (Envoy's filter): writes cost events and takes credit leases;
    /// reads nothing else.
    Ingest,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Finance => "finance",
            Role::Team => "team",
            Role::Ingest => "ingest",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "finance" => Some(Role::Finance),
            "team" => Some(Role::Team),
            "ingest" => Some(Role::Ingest),
            _ => None,
        }
    }
}

/// A token to store: the hash only, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
    /// Required for [`Role::Team`], absent otherwise.
    pub team: Option<String>,
    /// Lowercase hex SHA-256 of the token text.
    pub sha256: String,
    /// When the token stops working (Unix ms); `None`: until revoked.
    pub expires_ms: Option<i64>,
}

/// A stored token (its hash, not the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub team: Option<String>,
    #[serde(skip)]
    pub sha256: String,
    pub created_ms: i64,
    pub revoked_ms: Option<i64>,
    pub expires_ms: Option<i64>,
}

impl TokenRecord {
    /// Whether the token has expired at `now_ms`.
    pub fn expired(&self, now_ms: i64) -> bool {
        self.expires_ms.is_some_and(|e| now_ms >= e)
    }
}
