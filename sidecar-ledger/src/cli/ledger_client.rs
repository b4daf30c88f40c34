//! How the operator commands that talk to a running ledger (`wallet`, `export`) reach
//! it: its URL and an access token (reads need one unless the ledger runs with
//! `--insecure-open-reads`), sent as `Authorization: Bearer`. HTTP client: `ureq`, small and blocking, which is all a
//! one-shot command needs.

use std::fmt;

use ureq::http::StatusCode;
use ureq::RequestBuilder;

#[derive(clap::Args, Clone)]
pub struct LedgerConn {
    /// The ledger's base URL.
    #[arg(
        long,
        env = "TOLLGATE_LEDGER_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub ledger: String,
    /// An access token (`tollgate-ledger tokens create`); reads need one unless the
    /// ledger runs with `--insecure-open-reads`. Allocations need an admin or finance token.
    #[arg(long, env = "TOLLGATE_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
}

/// Never prints the token (arguments may end up in logs).
impl fmt::Debug for LedgerConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LedgerConn")
            .field("ledger", &self.ledger)
            .field("token", &self.token().map(|_| "<redacted>"))
            .finish()
    }
}

impl LedgerConn {
    pub fn base(&self) -> &str {
        self.ledger.trim_end_matches('/')
    }

    /// The token, if one was given (an empty `TOLLGATE_TOKEN` counts as none).
    fn token(&self) -> Option<&str> {
        self.token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// An agent that hands every answer back (errors included) to be read.
    pub fn agent(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into()
    }

    /// `request` with the token, if any.
    pub fn authorize<B>(&self, request: RequestBuilder<B>) -> RequestBuilder<B> {
        match self.token() {
            Some(t) => request.header("Authorization", format!("Bearer {t}")),
            None => request,
        }
    }

    /// What to tell the operator when the ledger refused: its message, and for a
    /// missing or insufficient token what to do about it.
    pub fn refusal(&self, status: StatusCode, message: &str) -> String {
        let hint = match (status, self.token()) {
            (StatusCode::UNAUTHORIZED, None) => {
                " (this ledger requires a token: pass --token or set TOLLGATE_TOKEN)"
            }
            (StatusCode::UNAUTHORIZED, Some(_)) => {
                " (the token given with --token or TOLLGATE_TOKEN is unknown or revoked)"
            }
            (StatusCode::FORBIDDEN, Some(_)) => " (the token's role or team does not allow this)",
            _ => "",
        };
        format!("ledger answered {status}: {message}{hint}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        conn: LedgerConn,
    }

    #[test]
    fn the_token_comes_from_the_flag_or_tollgate_token_and_is_never_shown() {
        let cli =
            Cli::try_parse_from(["x", "--token", " tgk_abc ", "--ledger", "http://l:1/"]).unwrap();
        assert_eq!(cli.conn.token(), Some("tgk_abc"));
        assert_eq!(cli.conn.base(), "http://l:1");
        let shown = format!("{:?}", cli.conn);
        assert!(
            !shown.contains("tgk_abc") && shown.contains("redacted"),
            "{shown}"
        );
        let token = Cli::command()
            .get_arguments()
            .find(|a| a.get_id() == "token")
            .cloned()
            .unwrap();
        assert_eq!(
            token.get_env(),
            Some(std::ffi::OsStr::new("TOLLGATE_TOKEN"))
        );
        assert!(token.is_hide_env_values_set());
        let empty = Cli::try_parse_from(["x", "--token", ""]).unwrap();
        assert_eq!(empty.conn.token(), None);
    }

    #[test]
    fn refusals_say_what_to_do_about_the_token() {
        let mut conn = Cli::try_parse_from(["x"]).unwrap().conn;
        let m = conn.refusal(StatusCode::UNAUTHORIZED, "a token is required");
        assert!(
            m.contains("401") && m.contains("pass --token or set TOLLGATE_TOKEN"),
            "{m}"
        );
        conn.token = Some("tgk_x".into());
        let m = conn.refusal(StatusCode::UNAUTHORIZED, "unknown token");
        assert!(
            m.contains("unknown or revoked") && !m.contains("tgk_x"),
            "{m}"
        );
        let m = conn.refusal(StatusCode::FORBIDDEN, "team token");
        assert!(m.contains("role or team"), "{m}");
        assert_eq!(
            conn.refusal(StatusCode::BAD_REQUEST, "bad"),
            "ledger answered 400 Bad Request: bad"
        );
    }
}
