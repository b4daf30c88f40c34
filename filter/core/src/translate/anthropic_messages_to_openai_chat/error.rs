//! An OpenAI error body as the Anthropic client expects it (the status is kept).

use serde_json::json;

use crate::translate::error_body::read;

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
        // Azure OpenAI's code for a rate limit.
        "429",
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
    } else if is(&["invalid_request_error", "content_filter"]) {
        // Azure OpenAI's content filter refusing the prompt is a 400 about the request.
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
    use serde_json::Value;

    use super::*;

    fn parse(bytes: Vec<u8>) -> Value {
        serde_json::from_slice(&bytes).unwrap()
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
        // Azure OpenAI: a content-filter refusal (no type) and its rate limit code.
        let refusal = json!({"error": {"message": "filtered", "type": null, "param": "prompt",
            "code": "content_filter", "status": 400,
            "innererror": {"code": "ResponsibleAIPolicyViolation"}}});
        let out = parse(error_to_anthropic(refusal.to_string().as_bytes()));
        assert_eq!(out["error"]["type"], "invalid_request_error");
        assert_eq!(out["error"]["message"], "filtered");
        let limited = json!({"error": {"code": "429", "message": "call rate limit"}});
        let out = parse(error_to_anthropic(limited.to_string().as_bytes()));
        assert_eq!(out["error"]["type"], "rate_limit_error");
        let html = parse(error_to_anthropic(b"<html>502 Bad Gateway</html>"));
        assert_eq!(html["error"]["message"], "<html>502 Bad Gateway</html>");
        assert_eq!(html["error"]["type"], "api_error");
    }
}
