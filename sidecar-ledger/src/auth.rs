//! Access tokens for the data plane, the dashboard and the read API.
//!
//! * A token is `tgk_` + 64 hex digits (256 random bits), printed once by
//!   `tollgate-ledger tokens create`; the database keeps only its SHA-256, and a
//!   presented token is found by its hash (so no comparison of secrets can leak timing).
//! * Roles: `admin` and `finance` see every team; `team` sees only its team (other
//!   teams' data is 403, lists are filtered, spend queries get its `team=` filter);
//!   `ingest` is the data plane's (Envoy's filter): it writes events and takes leases,
//!   and reads nothing else.
//! * A token is sent as `Authorization: Bearer <token>` or, from the dashboard, in the
//!   `tollgate_token` cookie (HttpOnly, SameSite=Strict) set by `POST /v1/session`.
//!
//! Which routes need one:
//!
//! | route | token |
//! | --- | --- |
//! | `POST /v1/events`, `POST /v1/leases` | always: an `ingest` token, as a Bearer header |
//! | `GET /v1/policy` | always: an `ingest`, `admin` or `finance` token, as a Bearer header |
//! | `/healthz`, `/openapi.json`, `/`, `/assets/*`, `POST /v1/session` | never: no data |
//! | `/v1/insights/*`, `GET /v1/session`, `/v1/teams/{team}/*` actions | always |
//! | `GET /v1/spend`, `/v1/events`, `/v1/export`, `/v1/wallets*`, `/v1/budgets`, `/v1/alerts`, `/v1/rejected-events`, ... | always, unless `serve --insecure-open-reads` (then a token, if sent, still confines a team token to its team) |
//! | `GET /v1/audit` | always (even with `--insecure-open-reads`): an admin token |
//! | `GET /v1/reconciliation` | always unless `--insecure-open-reads`: an admin or finance token (every team's spend) |
//! | `POST /v1/wallets/{team}/allocations`, `POST /v1/wallets/{team}/holds/{lease}/resolve` | always: an admin or finance token, as a Bearer header (never the cookie, so no cross-site request can spend it) |

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::tokens::{Role, TokenRecord};
use crate::store::Store;

/// The cookie the dashboard keeps its token in.
pub const COOKIE: &str = "tollgate_token";
pub const TOKEN_PREFIX: &str = "tgk_";

/// A new random token (never stored; only its hash is).
pub fn generate_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness available: {e}"))?;
    Ok(format!("{TOKEN_PREFIX}{}", hex(&bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lowercase hex SHA-256 of the token text.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Who is asking, from a live token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub token_id: i64,
    pub name: String,
    pub role: Role,
    /// The only team a `team` token sees.
    pub team: Option<String>,
}

impl Principal {
    pub fn from_record(t: &TokenRecord) -> Principal {
        Principal {
            token_id: t.id,
            name: t.name.clone(),
            role: t.role,
            team: t.team.clone(),
        }
    }

    /// The team this principal is confined to (`None`: all teams).
    pub fn confined_to(&self) -> Option<&str> {
        match self.role {
            Role::Admin | Role::Finance => None,
            // A team token without a team (never written by the CLI) sees nothing.
            Role::Team => Some(self.team.as_deref().unwrap_or("\u{0}")),
            // Refused before any read; were one to get through, it sees no team.
            Role::Ingest => Some("\u{0}"),
        }
    }

    /// Who holds a credit lease taken (or closed) with this token: the token's name,
    /// then the instance the body names. One token's holder cannot renew or close the
    /// leases of another token, whatever instance name it sends.
    pub fn lease_holder(&self, instance: &str) -> String {
        format!("{}/{instance}", self.name)
    }

    /// Who acted, as the audit log names them (never the token itself).
    pub fn actor(&self) -> String {
        format!(
            "{} (token {}, {})",
            self.name,
            self.token_id,
            self.role.as_str()
        )
    }

    pub fn can_see(&self, team: &str) -> bool {
        self.confined_to().is_none_or(|t| t == team)
    }

    /// The team a query is about: the requested one if visible (403 if not); without a
    /// request, a team token's own team, else `None` (every team).
    pub fn scope(&self, requested: Option<&str>) -> Result<Option<String>, ApiError> {
        match (requested.filter(|t| !t.is_empty()), self.confined_to()) {
            (Some(t), _) if self.can_see(t) => Ok(Some(t.to_string())),
            (Some(t), _) => Err(forbidden(t)),
            (None, own) => Ok(own.map(str::to_string)),
        }
    }
}

pub fn unauthorized(message: &str) -> Response {
    let mut r =
        ApiError::new(StatusCode::UNAUTHORIZED, "authentication_error", message).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"tollgate\""),
    );
    r
}

pub fn forbidden(team: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "permission_error",
        format!("this token may not see team '{team}'"),
    )
}

/// The token a request carries: the Bearer header, else (if allowed) the cookie.
pub fn presented_token(headers: &HeaderMap, allow_cookie: bool) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") {
            return Some(v[7..].trim().to_string());
        }
    }
    if !allow_cookie {
        return None;
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim().to_string())
}

/// What a presented token turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    Live(Principal),
    /// Never issued, or revoked.
    Unknown,
    /// Issued with an expiry that has passed.
    Expired,
}

/// Whether `token` can be a token at all (so nothing else is hashed or looked up).
pub fn well_formed(token: &str) -> bool {
    token.starts_with(TOKEN_PREFIX) && token.len() <= 200
}

/// Resolves a token by its SHA-256 at `now_ms`.
pub fn check_hash(
    store: &dyn Store,
    sha256: &str,
    now_ms: i64,
) -> Result<Checked, crate::store::StoreError> {
    Ok(match store.token_by_hash(sha256)? {
        Some(t) if t.revoked_ms.is_some() => Checked::Unknown,
        Some(t) if t.expired(now_ms) => Checked::Expired,
        Some(t) => Checked::Live(Principal::from_record(&t)),
        None => Checked::Unknown,
    })
}

/// Resolves a presented token now: `Ok(None)` if unknown, revoked or expired.
#[cfg(test)]
pub fn lookup(
    store: &dyn Store,
    token: &str,
) -> Result<Option<Principal>, crate::store::StoreError> {
    if !well_formed(token) {
        return Ok(None);
    }
    Ok(
        match check_hash(store, &hash_token(token), crate::clock::now_ms())? {
            Checked::Live(p) => Some(p),
            Checked::Unknown | Checked::Expired => None,
        },
    )
}

/// The answer to an expired token: 401, `code: token_expired`.
pub fn expired() -> Response {
    let mut r = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "authentication_error",
        "this token has expired: ask for a new one (`tollgate-ledger tokens create`)",
    )
    .with_code("token_expired")
    .into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"tollgate\", error=\"invalid_token\""),
    );
    r
}

/// The answer to an address that failed to authenticate too often: 429 with
/// `Retry-After`.
pub fn too_many_failures(retry_after_secs: u64) -> Response {
    let mut r = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_error",
        format!(
            "too many failed authentications from this address; try again in {retry_after_secs} s"
        ),
    )
    .with_code("auth_rate_limited")
    .into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    r
}

/// How a route is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Carries no data: the dashboard's page and assets, health, metrics (which has its
    /// own token check), the API description, signing in and out.
    Open,
    /// Not in this table: an admin token only. A route added to the router without a
    /// line here is refused to everyone else, never served openly by mistake; an
    /// admin's request reaches the router (which answers 404 for a path it lacks).
    Unlisted,
    /// Only the data plane calls it: always needs an `ingest` Bearer token (reading
    /// the policy feed, an admin or finance token will also do).
    DataPlane,
    /// Always needs a token; the handler scopes by team.
    Dashboard,
    /// Needs a token unless the ledger runs with --insecure-open-reads.
    Read(Scope),
    /// Needs an admin/finance Bearer token.
    Manage,
    /// A leader's action on the team in the path (`/v1/teams/{team}/...`): always
    /// needs a token (the dashboard's cookie will do: it is `SameSite=Strict` and the
    /// actions take JSON bodies only); a team token acts for its own team only, and
    /// the handler checks what each role may do.
    Act,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Team tokens get `team=<own>` added (another team: 403).
    QueryTeam,
    /// `/v1/wallets/{team}`, `/v1/teams/{team}/...`: another team is 403.
    PathTeam,
    /// A JSON list whose items carry `team`: filtered to the team token's team.
    List(&'static str),
    /// Not per team (quarantined raw events): admin and finance only.
    AllTeams,
    /// The audit log: admin only.
    AdminOnly,
}

fn access(method: &Method, path: &str) -> Access {
    let get = method == Method::GET || method == Method::HEAD;
    match path {
        "/v1/events" | "/v1/leases" if method == Method::POST => Access::DataPlane,
        "/v1/policy" if get => Access::DataPlane,
        _ if path.starts_with("/v1/insights/") => Access::Dashboard,
        "/v1/session" if get => Access::Dashboard,
        "/v1/events" | "/v1/spend" | "/v1/export" if get => Access::Read(Scope::QueryTeam),
        "/v1/wallets" if get => Access::Read(Scope::List("wallets")),
        "/v1/budgets" if get => Access::Read(Scope::List("budgets")),
        "/v1/alerts" if get => Access::Read(Scope::List("alerts")),
        "/v1/allocation-requests" if get => Access::Read(Scope::List("requests")),
        "/v1/budget-changes" if get => Access::Read(Scope::List("changes")),
        "/v1/rejected-events" | "/v1/reconciliation" if get => Access::Read(Scope::AllTeams),
        "/v1/audit" | "/v1/quarantine" if get => Access::Read(Scope::AdminOnly),
        _ if path.starts_with("/v1/wallets/")
            && (path.ends_with("/allocations") || path.ends_with("/resolve")) =>
        {
            Access::Manage
        }
        _ if path.starts_with("/v1/wallets/") && get => Access::Read(Scope::PathTeam),
        _ if path.starts_with("/v1/teams/") && get => Access::Read(Scope::PathTeam),
        _ if path.starts_with("/v1/teams/") => Access::Act,
        "/" | "/healthz" | "/metrics" | "/openapi.json" if get => Access::Open,
        _ if get && path.starts_with("/assets/") => Access::Open,
        "/v1/session" if method == Method::POST || method == Method::DELETE => Access::Open,
        _ => Access::Unlisted,
    }
}

/// Whether the access table lists a route (an unlisted one is admin-only).
#[cfg(test)]
pub fn listed(method: &Method, path: &str) -> bool {
    access(method, path) != Access::Unlisted
}

impl Access {
    /// The `access` label of refusals in the ledger's metrics.
    fn label(self) -> &'static str {
        match self {
            Access::Open => "open",
            Access::Unlisted => "unlisted",
            Access::DataPlane => "data_plane",
            Access::Dashboard => "dashboard",
            Access::Read(_) => "read",
            Access::Manage => "manage",
            Access::Act => "action",
        }
    }
}

/// A refusal of authentication (401), counted by route class and reason.
fn refuse(access: Access, reason: &'static str, message: &str) -> Response {
    crate::metrics::METRICS.auth_refused(access.label(), reason);
    unauthorized(message)
}

fn wrong_role(access: Access, message: &str) -> Response {
    crate::metrics::METRICS.auth_refused(access.label(), "role");
    ApiError::new(StatusCode::FORBIDDEN, "permission_error", message).into_response()
}

/// The peer's address, when the server recorded it (`ConnectInfo`).
fn peer(req: &Request) -> Option<std::net::IpAddr> {
    req.extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

/// The middleware: checks the token where one is needed and hands the handlers a
/// [`Principal`] (as a request extension).
pub async fn require(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let access = access(req.method(), req.uri().path());
    let needed = match access {
        Access::Open => return next.run(req).await,
        Access::DataPlane | Access::Dashboard | Access::Act | Access::Manage => true,
        Access::Unlisted | Access::Read(Scope::AdminOnly) => true,
        Access::Read(_) => state.require_tokens,
    };
    // Bearer only where a cross-site request must not be able to spend the cookie.
    let allow_cookie = !matches!(
        access,
        Access::Manage | Access::DataPlane | Access::Unlisted
    );
    let Some(token) = presented_token(req.headers(), allow_cookie) else {
        if !needed {
            // --insecure-open-reads, and no token sent.
            return next.run(req).await;
        }
        return refuse(
            access,
            "missing",
            if access == Access::DataPlane {
                "this endpoint is for the data plane: send 'Authorization: Bearer <ingest token>' \
                 (Envoy's filter reads it from TOLLGATE_LEDGER_TOKEN)"
            } else {
                "a token is required: send 'Authorization: Bearer <token>' or sign in on the dashboard"
            },
        );
    };
    let peer = peer(&req);
    let now = crate::clock::now_ms();
    let digest = if well_formed(&token) {
        hash_token(&token)
    } else {
        String::new()
    };
    if let Some(retry_after) = state.auth_limiter.blocked(peer, &digest, now) {
        crate::metrics::METRICS.auth_refused(access.label(), "rate_limited");
        return too_many_failures(retry_after);
    }
    let store = state.store.clone();
    let found = if digest.is_empty() {
        Ok(Ok(Checked::Unknown))
    } else {
        let digest = digest.clone();
        tokio::task::spawn_blocking(move || check_hash(store.as_ref(), &digest, now)).await
    };
    let principal = match found {
        Ok(Ok(Checked::Live(p))) => {
            state.auth_limiter.accepted(&digest);
            p
        }
        Ok(Ok(Checked::Expired)) => {
            state.auth_limiter.failed(peer, now);
            crate::metrics::METRICS.auth_refused(access.label(), "expired");
            return expired();
        }
        Ok(Ok(Checked::Unknown)) => {
            state.auth_limiter.failed(peer, now);
            return refuse(
                access,
                "unknown",
                if access == Access::DataPlane {
                    "unknown or revoked token: this endpoint needs a live ingest token"
                } else {
                    "unknown or revoked token"
                },
            );
        }
        Ok(Err(e)) => return ApiError::from(e).into_response(),
        Err(_) => return ApiError::internal("token check failed").into_response(),
    };
    if access == Access::DataPlane {
        let reader =
            req.method() == Method::GET && matches!(principal.role, Role::Admin | Role::Finance);
        if principal.role != Role::Ingest && !reader {
            return wrong_role(
                access,
                "this endpoint is for the data plane: it needs an ingest token \
                 (`tollgate-ledger tokens create --role ingest`)",
            );
        }
        req.extensions_mut().insert(principal);
        return next.run(req).await;
    }
    if principal.role == Role::Ingest {
        return wrong_role(
            access,
            "an ingest token writes events and takes leases only; reads and actions need an admin, finance or team token",
        );
    }
    let own = principal.confined_to().map(str::to_string);
    match access {
        Access::Unlisted if principal.role != Role::Admin => {
            return wrong_role(
                access,
                "this endpoint is not open to this token: it needs an admin token",
            );
        }
        Access::Manage if own.is_some() => {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "permission_error",
                "changing wallets needs an admin or finance token",
            )
            .into_response();
        }
        Access::Read(Scope::AllTeams) if own.is_some() => {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "permission_error",
                "this endpoint shows every team's data: it needs an admin or finance token",
            )
            .into_response();
        }
        Access::Read(Scope::AdminOnly) if principal.role != Role::Admin => {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "permission_error",
                "the audit log needs an admin token",
            )
            .into_response();
        }
        Access::Read(Scope::PathTeam) | Access::Act => {
            let team = path_team(req.uri().path());
            if !principal.can_see(&team) {
                return forbidden(&team).into_response();
            }
        }
        Access::Read(Scope::QueryTeam) => {
            if let Some(own) = &own {
                match scoped_query(req.uri().query().unwrap_or(""), own) {
                    Ok(q) => {
                        let path = req.uri().path().to_string();
                        match format!("{path}?{q}").parse() {
                            Ok(uri) => *req.uri_mut() = uri,
                            Err(_) => {
                                return ApiError::bad_request("malformed query").into_response()
                            }
                        }
                    }
                    Err(other) => return forbidden(&other).into_response(),
                }
            }
        }
        _ => {}
    }
    req.extensions_mut().insert(principal);
    let response = next.run(req).await;
    match (access, own) {
        (Access::Read(Scope::List(key)), Some(own)) => filter_list(response, key, &own).await,
        _ => response,
    }
}

/// The team a `/v1/wallets/{team}...` or `/v1/teams/{team}/...` path is about.
pub fn path_team(path: &str) -> String {
    let rest = path
        .strip_prefix("/v1/wallets/")
        .or_else(|| path.strip_prefix("/v1/teams/"))
        .unwrap_or("");
    percent_decode(rest.split('/').next().unwrap_or(""))
}

/// The query with every `team` pair replaced by `team=<own>`; `Err(team)` if it asked
/// for another team.
fn scoped_query(query: &str, own: &str) -> Result<String, String> {
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(k) == "team" {
            let v = percent_decode(v);
            if !v.is_empty() && v != own {
                return Err(v);
            }
            continue;
        }
        kept.push(pair.to_string());
    }
    kept.push(format!("team={}", percent_encode(own)));
    Ok(kept.join("&"))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let digit = |c: u8| (c as char).to_digit(16);
                match (digit(bytes[i + 1]), digit(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Keeps only the items of `body[key]` whose `team` is `own`.
async fn filter_list(response: Response, key: &str, own: &str) -> Response {
    if !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024 * 1024).await else {
        return ApiError::internal("response too large to filter").into_response();
    };
    let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return ApiError::internal("unexpected response shape").into_response();
    };
    if let Some(items) = doc.get_mut(key).and_then(|v| v.as_array_mut()) {
        items.retain(|item| item.get("team").and_then(|t| t.as_str()) == Some(own));
    }
    let mut parts = parts;
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(doc.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed_with_sha256() {
        let a = generate_token().unwrap();
        let b = generate_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("tgk_") && a.len() == 4 + 64, "{a}");
        // SHA-256("abc"), the FIPS 180-2 test vector.
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn team_tokens_see_their_team_only() {
        let team = Principal {
            token_id: 1,
            name: "s".into(),
            role: Role::Team,
            team: Some("team_support".into()),
        };
        assert!(team.can_see("team_support") && !team.can_see("team_finance"));
        assert_eq!(team.scope(None).unwrap().as_deref(), Some("team_support"));
        assert_eq!(
            team.scope(Some("")).unwrap().as_deref(),
            Some("team_support")
        );
        assert_eq!(team.scope(Some("team_finance")).unwrap_err().status, 403);
        let finance = Principal {
            role: Role::Finance,
            team: None,
            ..team.clone()
        };
        assert_eq!(finance.scope(None).unwrap(), None);
        assert_eq!(
            finance.scope(Some("team_finance")).unwrap().as_deref(),
            Some("team_finance")
        );
        // A team token without a team sees nothing.
        let broken = Principal { team: None, ..team };
        assert!(!broken.can_see("team_support") && !broken.can_see(""));
    }

    #[test]
    fn routes_are_classified() {
        assert_eq!(access(&Method::POST, "/v1/events"), Access::DataPlane);
        assert_eq!(access(&Method::POST, "/v1/leases"), Access::DataPlane);
        assert_eq!(access(&Method::GET, "/v1/policy"), Access::DataPlane);
        assert_eq!(access(&Method::GET, "/healthz"), Access::Open);
        assert_eq!(access(&Method::GET, "/"), Access::Open);
        assert_eq!(access(&Method::GET, "/assets/app.js"), Access::Open);
        assert_eq!(
            access(&Method::GET, "/v1/insights/drivers"),
            Access::Dashboard
        );
        assert_eq!(access(&Method::GET, "/v1/session"), Access::Dashboard);
        assert_eq!(access(&Method::POST, "/v1/session"), Access::Open);
        assert_eq!(
            access(&Method::GET, "/v1/events"),
            Access::Read(Scope::QueryTeam)
        );
        assert_eq!(
            access(&Method::GET, "/v1/wallets/team_a"),
            Access::Read(Scope::PathTeam)
        );
        assert_eq!(
            access(&Method::POST, "/v1/wallets/team_a/allocations"),
            Access::Manage
        );
        assert_eq!(
            access(&Method::GET, "/v1/rejected-events"),
            Access::Read(Scope::AllTeams)
        );
        assert_eq!(
            access(&Method::GET, "/v1/teams/team_a/policy"),
            Access::Read(Scope::PathTeam)
        );
        assert_eq!(
            access(&Method::POST, "/v1/teams/team_a/policy"),
            Access::Act
        );
        assert_eq!(
            access(
                &Method::POST,
                "/v1/teams/team_a/allocation-requests/3/decision"
            ),
            Access::Act
        );
        assert_eq!(
            access(&Method::GET, "/v1/allocation-requests"),
            Access::Read(Scope::List("requests"))
        );
        // Fail closed: what the table does not list is admin-only.
        for (method, path) in [
            (Method::GET, "/v1/new-route"),
            (Method::DELETE, "/v1/events"),
            (Method::PUT, "/v1/spend"),
            (Method::POST, "/healthz"),
            (Method::GET, "/v1/wallets/team_a/allocations"),
            (Method::GET, "/v2/events"),
        ] {
            let got = access(&method, path);
            assert!(
                got == Access::Unlisted || got == Access::Manage,
                "{method} {path}: {got:?}"
            );
        }
        assert_eq!(access(&Method::GET, "/v1/new-route"), Access::Unlisted);
        assert_eq!(access(&Method::DELETE, "/v1/session"), Access::Open);
    }

    #[test]
    fn the_team_of_a_path_is_its_third_segment() {
        assert_eq!(path_team("/v1/wallets/team_a"), "team_a");
        assert_eq!(path_team("/v1/wallets/team%20a/allocations"), "team a");
        assert_eq!(path_team("/v1/teams/team_b/policy"), "team_b");
        assert_eq!(path_team("/v1/other"), "");
    }

    #[test]
    fn team_queries_are_pinned_to_the_team() {
        assert_eq!(
            scoped_query("group_by=day&team=", "team_a").unwrap(),
            "group_by=day&team=team_a"
        );
        assert_eq!(
            scoped_query("team=team_a&team=team%5Fa", "team_a").unwrap(),
            "team=team_a"
        );
        assert_eq!(scoped_query("", "team a").unwrap(), "team=team%20a");
        assert_eq!(
            scoped_query("te%61m=team_b", "team_a").unwrap_err(),
            "team_b"
        );
        assert_eq!(percent_decode("a%2Fb+c%zz%"), "a/b c%zz%");
    }

    #[test]
    fn tokens_come_from_the_header_or_the_cookie() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; tollgate_token=tgk_c; b=2".parse().unwrap(),
        );
        assert_eq!(presented_token(&h, true).as_deref(), Some("tgk_c"));
        assert_eq!(presented_token(&h, false), None);
        h.insert(header::AUTHORIZATION, "Bearer tgk_h".parse().unwrap());
        assert_eq!(presented_token(&h, false).as_deref(), Some("tgk_h"));
    }
}
