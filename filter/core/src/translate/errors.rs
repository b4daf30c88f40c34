//! Provider error bodies in the client's format. The status code is kept by the
//! caller; SDKs pick the exception class from the status and read the message and
//! type from the body.

use serde_json::{json, Value};

/// Longest message taken from a body that is not JSON (an HTML page from a gateway).
const MAX_RAW_MESSAGE: usize = 512;

/// The message and type of an error body in either provider's shape (both nest an
/// `error` object with `message` and `type`; OpenAI adds `code`).
struct ErrorFacts {
    message: String,
    kind: Option<String>,
    code: Option<String>,
}

fn read(body: &[u8]) -> ErrorFacts {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed
        .as_ref()
        .map(|v| &v["error"])
        .filter(|e| e.is_object());
    if let Some(e) = error {
        let text = |k: &str| e[k].as_str().map(str::to_string);
        return ErrorFacts {
            message: text("message").unwrap_or_else(|| "the provider returned an error".into()),
            kind: text("type"),
            code: text("code"),
        };
    }
    let raw = String::from_utf8_lossy(body);
    let raw: String = raw.trim().chars().take(MAX_RAW_MESSAGE).collect();
    ErrorFacts {
        message: if raw.is_empty() {
            "the provider returned an error".into()
        } else {
            raw
        },
        kind: None,
        code: None,
    }
}

/// An Anthropic error body (or any body) as an OpenAI error body. The Anthropic type is
/// kept as `code`, so nothing the client could act on is lost.
pub fn error_to_openai(body: &[u8]) -> Vec<u8> {
    let facts = read(body);
    let original = facts.kind.as_deref().or(facts.code.as_deref());
    let kind = match original {
        Some("invalid_request_error" | "authentication_error" | "permission_error")
        | Some("not_found_error" | "request_too_large") => "invalid_request_error",
        Some("rate_limit_error") => "rate_limit_error",
        Some("billing_error") => "insufficient_quota",
        _ => "server_error",
    };
    let code = match original {
        Some("authentication_error") => Some("invalid_api_key".to_string()),
        Some("rate_limit_error") => Some("rate_limit_exceeded".to_string()),
        Some("billing_error") => Some("insufficient_quota".to_string()),
        _ => facts.code.or(facts.kind),
    };
    json!({"error": {"message": facts.message, "type": kind, "param": null, "code": code}})
        .to_string()
        .into_bytes()
}

/// An OpenAI error body (or any body) as an Anthropic error body.
pub fn error_to_anthropic(body: &[u8]) -> Vec<u8> {
    let facts = read(body);
    let is = |names: &[&str]| {
        [facts.code.as_deref(), facts.kind.as_deref()]
            .into_iter()
            .flatten()
            .any(|v| names.contains(&v))
    };
    let kind = if is(&["invalid_api_key", "authentication_error"]) {
        "authentication_error"
    } else if is(&[
        "rate_limit_exceeded",
        "rate_limit_error",
        "requests",
        "tokens",
    ]) {
        "rate_limit_error"
    } else if is(&["insufficient_quota", "billing_error"]) {
        "billing_error"
    } else if is(&["model_not_found", "not_found_error"]) {
        "not_found_error"
    } else if is(&["permission_error", "permission_denied"]) {
        "permission_error"
    } else if is(&["overloaded_error"]) {
        "overloaded_error"
    } else if is(&["invalid_request_error"]) {
        "invalid_request_error"
    } else {
        "api_error"
    };
    json!({"type": "error", "error": {"type": kind, "message": facts.message}})
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: Vec<u8>) -> Value {
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn anthropic_errors_to_openai() {
        let out = parse(error_to_openai(
            br#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"},"request_id":"r"}"#,
        ));
        assert_eq!(
            out,
            json!({"error": {"message": "slow down", "type": "rate_limit_error",
                "param": null, "code": "rate_limit_exceeded"}})
        );
        let kind = |t: &str| {
            let body = json!({"type": "error", "error": {"type": t, "message": "m"}});
            let out = parse(error_to_openai(body.to_string().as_bytes()));
            (out["error"]["type"].clone(), out["error"]["code"].clone())
        };
        assert_eq!(
            kind("authentication_error"),
            (json!("invalid_request_error"), json!("invalid_api_key"))
        );
        assert_eq!(
            kind("invalid_request_error"),
            (
                json!("invalid_request_error"),
                json!("invalid_request_error")
            )
        );
        assert_eq!(
            kind("overloaded_error"),
            (json!("server_error"), json!("overloaded_error"))
        );
        assert_eq!(kind("billing_error").0, "insufficient_quota");
    }

    #[test]
    fn openai_errors_to_anthropic() {
        let kind = |t: &str, code: Value| {
            let body = json!({"error": {"message": "m", "type": t, "param": null, "code": code}});
            let out = parse(error_to_anthropic(body.to_string().as_bytes()));
            assert_eq!(out["type"], "error");
            assert_eq!(out["error"]["message"], "m");
            out["error"]["type"].as_str().unwrap().to_string()
        };
        assert_eq!(
            kind("invalid_request_error", json!("invalid_api_key")),
            "authentication_error"
        );
        assert_eq!(
            kind("requests", json!("rate_limit_exceeded")),
            "rate_limit_error"
        );
        assert_eq!(
            kind("insufficient_quota", json!("insufficient_quota")),
            "billing_error"
        );
        assert_eq!(
            kind("invalid_request_error", json!("model_not_found")),
            "not_found_error"
        );
        assert_eq!(
            kind("invalid_request_error", Value::Null),
            "invalid_request_error"
        );
        assert_eq!(kind("server_error", Value::Null), "api_error");
    }

    #[test]
    fn bodies_that_are_not_json_keep_their_text() {
        let out = parse(error_to_anthropic(b"<html>502 Bad Gateway</html>"));
        assert_eq!(out["error"]["message"], "<html>502 Bad Gateway</html>");
        assert_eq!(out["error"]["type"], "api_error");
        let out = parse(error_to_openai(&vec![b'x'; 5000]));
        assert_eq!(
            out["error"]["message"].as_str().unwrap().len(),
            MAX_RAW_MESSAGE
        );
        assert_eq!(out["error"]["type"], "server_error");
        let out = parse(error_to_openai(b""));
        assert_eq!(out["error"]["message"], "the provider returned an error");
    }
}
