//! A Google error body as the OpenAI client expects it (the status is kept).

use serde_json::{json, Value};

use crate::translate::error_body::read;
use crate::translate::gemini_terms::openai_error_kind;

/// A Google `{"error": {"code", "message", "status", "details"}}` body (or any body)
/// as an OpenAI error body.
pub fn gemini_error_to_openai(body: &[u8]) -> Vec<u8> {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = &parsed["error"];
    let facts = read(body);
    let status = error["status"].as_str().unwrap_or("");
    let reason = error["details"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|d| d["reason"].as_str());
    let (kind, code) = openai_error_kind(status, reason);
    json!({"error": {"message": facts.message, "type": kind, "param": null, "code": code}})
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
    fn google_errors_to_openai() {
        let out = parse(gemini_error_to_openai(
            br#"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}"#,
        ));
        assert_eq!(
            out,
            json!({"error": {"message": "Resource has been exhausted (e.g. check quota).",
                "type": "rate_limit_error", "param": null, "code": "rate_limit_exceeded"}})
        );
        let bad_key = parse(gemini_error_to_openai(
            br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT",
                "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#,
        ));
        assert_eq!(bad_key["error"]["code"], "invalid_api_key");
        let unavailable = parse(gemini_error_to_openai(
            br#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#,
        ));
        assert_eq!(unavailable["error"]["type"], "server_error");
        let html = parse(gemini_error_to_openai(b"<html>502</html>"));
        assert_eq!(
            (
                html["error"]["message"].clone(),
                html["error"]["type"].clone()
            ),
            (json!("<html>502</html>"), json!("server_error"))
        );
    }
}
