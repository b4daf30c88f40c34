//! What Bedrock's Converse API says in Anthropic Messages' words: stop reasons, usage
//! and errors. Both client directions go through the Anthropic shape (the OpenAI side
//! reuses the chat ⇄ messages translation), so these are the only Bedrock terms.

use serde_json::{json, Value};

/// Converse `stopReason` → Anthropic `stop_reason`.
pub(super) fn stop_reason_from_converse(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" => "max_tokens",
        "stop_sequence" => "stop_sequence",
        "tool_use" => "tool_use",
        "model_context_window_exceeded" => "model_context_window_exceeded",
        // A guardrail or the content filter withheld the answer.
        "content_filtered" | "guardrail_intervened" => "refusal",
        _ => "end_turn",
    }
}

/// Converse `usage` (or a stream's `metadata.usage`) as an Anthropic `usage` object.
/// Both count cache reads and writes apart from the other input tokens.
pub(super) fn anthropic_usage(usage: &Value) -> Value {
    let n = |k: &str| usage[k].as_u64().unwrap_or(0);
    json!({
        "input_tokens": n("inputTokens"),
        "cache_creation_input_tokens": n("cacheWriteInputTokens"),
        "cache_read_input_tokens": n("cacheReadInputTokens"),
        "output_tokens": n("outputTokens"),
    })
}

/// The Anthropic error type for a Bedrock error: by its exception name (the
/// `x-amzn-ErrorType` header, an event-stream `:exception-type`, or `__type` in the
/// body) when known, else by HTTP status.
pub(super) fn anthropic_error_type(status: u16, exception: Option<&str>) -> &'static str {
    // Names arrive as `ThrottlingException`, `throttlingException` or with a
    // `:http://...` / `#` qualification.
    let name = exception
        .map(|e| e.split([':', '#']).find(|p| !p.is_empty()).unwrap_or(e))
        .map(|e| e.to_ascii_lowercase());
    match name.as_deref() {
        Some("throttlingexception") => "rate_limit_error",
        Some("validationexception") => "invalid_request_error",
        Some("accessdeniedexception") => "permission_error",
        Some("unrecognizedclientexception" | "invalidsignatureexception")
        | Some("expiredtokenexception" | "incompletesignatureexception") => "authentication_error",
        Some("resourcenotfoundexception") => "not_found_error",
        Some("servicequotaexceededexception") => "rate_limit_error",
        Some("serviceunavailableexception") | Some("modelnotreadyexception") => "overloaded_error",
        Some(_) | None => match status {
            400 | 413 | 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            503 | 529 => "overloaded_error",
            _ => "api_error",
        },
    }
}

/// A Bedrock error body (`{"message": ...}`) as an Anthropic error body.
pub(super) fn anthropic_error(status: u16, exception: Option<&str>, body: &[u8]) -> Vec<u8> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let text = |k: &str| {
        parsed
            .as_ref()
            .and_then(|v| v[k].as_str())
            .map(str::to_string)
    };
    let message = text("message")
        .or_else(|| text("Message"))
        .unwrap_or_else(|| {
            let raw = String::from_utf8_lossy(body);
            let raw: String = raw.trim().chars().take(512).collect();
            if raw.is_empty() {
                "the provider returned an error".into()
            } else {
                raw
            }
        });
    let body_type = text("__type");
    let kind = anthropic_error_type(status, exception.or(body_type.as_deref()));
    json!({"type": "error", "error": {"type": kind, "message": message}})
        .to_string()
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons() {
        for (c, a) in [
            ("end_turn", "end_turn"),
            ("tool_use", "tool_use"),
            ("max_tokens", "max_tokens"),
            ("stop_sequence", "stop_sequence"),
            ("guardrail_intervened", "refusal"),
            ("content_filtered", "refusal"),
        ] {
            assert_eq!(stop_reason_from_converse(c), a);
        }
    }

    #[test]
    fn errors_by_name_then_status() {
        assert_eq!(
            anthropic_error_type(
                400,
                Some("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/")
            ),
            "rate_limit_error"
        );
        assert_eq!(
            anthropic_error_type(500, Some("throttlingException")),
            "rate_limit_error"
        );
        assert_eq!(anthropic_error_type(403, None), "permission_error");
        assert_eq!(
            anthropic_error_type(403, Some("UnrecognizedClientException")),
            "authentication_error"
        );
        assert_eq!(anthropic_error_type(503, None), "overloaded_error");
        assert_eq!(
            anthropic_error_type(500, Some("InternalServerException")),
            "api_error"
        );
        let body: Value = serde_json::from_slice(&anthropic_error(
            429,
            None,
            br#"{"message":"Too many requests"}"#,
        ))
        .unwrap();
        assert_eq!(
            body,
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": "Too many requests"}})
        );
        let raw: Value =
            serde_json::from_slice(&anthropic_error(502, None, b"bad gateway")).unwrap();
        assert_eq!(raw["error"]["message"], "bad gateway");
    }

    #[test]
    fn usage_is_disjoint_on_both_sides() {
        let u = anthropic_usage(
            &json!({"inputTokens": 3, "outputTokens": 4, "totalTokens": 17,
            "cacheReadInputTokens": 8, "cacheWriteInputTokens": 2}),
        );
        assert_eq!(
            u,
            json!({"input_tokens": 3, "cache_creation_input_tokens": 2,
                "cache_read_input_tokens": 8, "output_tokens": 4})
        );
    }
}
