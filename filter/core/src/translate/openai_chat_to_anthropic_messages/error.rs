//! An Anthropic error body as the OpenAI client expects it (the status is kept).

use serde_json::json;

use crate::translate::error_body::read;

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

#[cfg(test)]
mod tests {
    use serde_json::Value;

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
        let raw = parse(error_to_openai(b"upstream connect error"));
        assert_eq!(raw["error"]["message"], "upstream connect error");
        assert_eq!(raw["error"]["type"], "server_error");
    }
}
