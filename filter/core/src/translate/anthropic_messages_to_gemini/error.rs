//! A Google error body as the Anthropic client expects it (the status is kept).

use crate::translate::anthropic_messages_to_openai_chat::error_to_anthropic;
use crate::translate::openai_chat_to_gemini::gemini_error_to_openai;

/// A Google error body (or any body) as an Anthropic error body.
pub fn gemini_error_to_anthropic(body: &[u8]) -> Vec<u8> {
    error_to_anthropic(&gemini_error_to_openai(body))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    #[test]
    fn google_errors_to_anthropic() {
        let kind = |status: &str| {
            let body = json!({"error": {"code": 400, "message": "m", "status": status}});
            let out: Value =
                serde_json::from_slice(&gemini_error_to_anthropic(body.to_string().as_bytes()))
                    .unwrap();
            assert_eq!(
                (out["type"].clone(), out["error"]["message"].clone()),
                (json!("error"), json!("m"))
            );
            out["error"]["type"].as_str().unwrap().to_string()
        };
        assert_eq!(kind("RESOURCE_EXHAUSTED"), "rate_limit_error");
        assert_eq!(kind("INVALID_ARGUMENT"), "invalid_request_error");
        assert_eq!(kind("UNAUTHENTICATED"), "authentication_error");
        assert_eq!(kind("PERMISSION_DENIED"), "permission_error");
        assert_eq!(kind("NOT_FOUND"), "not_found_error");
        assert_eq!(kind("INTERNAL"), "api_error");
    }
}
