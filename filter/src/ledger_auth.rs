//! How the filter proves to the ledger that it is the data plane: the ingest token
//! from Envoy's environment (`TOLLGATE_LEDGER_TOKEN`, never the plugin configuration,
//! so it is absent from the rendered bootstrap and from `config_dump`), sent as a
//! Bearer header on every ledger call.

use tollgate_core::config::filter_config::LEDGER_TOKEN_ENV;

/// The `authorization` value for ledger calls, from the environment as `env` reads it;
/// `None` (with a warning, never the value) when the variable is unset or empty.
pub fn authorization(env: impl Fn(&str) -> Option<String>) -> Option<String> {
    match env(LEDGER_TOKEN_ENV).map(|t| t.trim().to_string()) {
        Some(token) if !token.is_empty() => Some(format!("Bearer {token}")),
        _ => {
            log::warn!(
                "tollgate: ${LEDGER_TOKEN_ENV} is not set in Envoy's environment: the ledger will refuse this instance's events and leases"
            );
            None
        }
    }
}

/// Headers of a call to the ledger at `path`.
pub fn headers<'a>(
    method: &'a str,
    path: &'a str,
    authority: &'a str,
    authorization: Option<&'a str>,
    json_body: bool,
) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![
        (":method", method),
        (":path", path),
        (":authority", authority),
    ];
    if json_body {
        h.push(("content-type", "application/json"));
    }
    if let Some(a) = authorization {
        h.push(("authorization", a));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_comes_from_the_environment_as_a_bearer_header() {
        let env = |v: Option<&'static str>| {
            move |name: &str| {
                assert_eq!(name, "TOLLGATE_LEDGER_TOKEN");
                v.map(str::to_string)
            }
        };
        assert_eq!(
            authorization(env(Some(" tgk_abc\n"))).as_deref(),
            Some("Bearer tgk_abc")
        );
        assert_eq!(authorization(env(Some(""))), None);
        assert_eq!(authorization(env(None)), None);
        let h = headers("POST", "/v1/events", "ledger", Some("Bearer t"), true);
        assert!(h.contains(&("authorization", "Bearer t")));
        assert!(h.contains(&("content-type", "application/json")));
        assert!(!headers("GET", "/v1/policy", "ledger", None, false)
            .iter()
            .any(|(k, _)| *k == "authorization"));
    }
}
