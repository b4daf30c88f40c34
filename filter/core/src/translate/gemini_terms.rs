//! What Gemini's `generateContent` says in its own words, read for OpenAI and
//! Anthropic clients: finish reasons, token usage and error statuses.

use serde_json::Value;

use super::openai_anthropic_terms::Usage;

/// Gemini `finishReason` → OpenAI `finish_reason`. `called_tools`: the answer holds
/// function calls (Gemini says `STOP` for those too).
pub(super) fn finish_reason_to_openai(reason: &str, called_tools: bool) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        // Blocked or withheld by Google's filters.
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION"
        | "LANGUAGE" => "content_filter",
        _ if called_tools => "tool_calls",
        // STOP, OTHER, MALFORMED_FUNCTION_CALL, FINISH_REASON_UNSPECIFIED.
        _ => "stop",
    }
}

/// Token counts of a `usageMetadata` object in the shared split (cached tokens are part
/// of `promptTokenCount`; thinking is output).
pub(super) fn usage_from_gemini(u: &Value) -> Usage {
    let n = |k: &str| u[k].as_u64().unwrap_or(0);
    let prompt = n("promptTokenCount").saturating_add(n("toolUsePromptTokenCount"));
    let cached = n("cachedContentTokenCount").min(prompt);
    Usage {
        input: prompt - cached,
        cache_read: cached,
        cache_write: 0,
        output: n("candidatesTokenCount").saturating_add(n("thoughtsTokenCount")),
    }
}

/// OpenAI `usage` for a `usageMetadata` object, with the thinking tokens as
/// `completion_tokens_details.reasoning_tokens` (as OpenAI reports its own reasoning).
pub(super) fn openai_usage(u: &Value) -> Value {
    let mut usage = usage_from_gemini(u).to_openai();
    usage["completion_tokens_details"] =
        serde_json::json!({"reasoning_tokens": u["thoughtsTokenCount"].as_u64().unwrap_or(0)});
    usage
}

/// `chatcmpl-<responseId>`, so one id names the answer on both sides.
pub(super) fn chat_id(response: &Value) -> String {
    format!("chatcmpl-{}", response["responseId"].as_str().unwrap_or(""))
}

/// The OpenAI error `type` and `code` for a Google error `status` (and the `reason`
/// of its `ErrorInfo` detail, which tells a bad key from other bad arguments).
pub(super) fn openai_error_kind(status: &str, reason: Option<&str>) -> (&'static str, String) {
    if matches!(reason, Some("API_KEY_INVALID" | "API_KEY_EXPIRED")) {
        return ("invalid_request_error", "invalid_api_key".into());
    }
    match status {
        "UNAUTHENTICATED" => ("invalid_request_error", "invalid_api_key".into()),
        "PERMISSION_DENIED" => ("invalid_request_error", "permission_denied".into()),
        "NOT_FOUND" => ("invalid_request_error", "model_not_found".into()),
        "RESOURCE_EXHAUSTED" => ("rate_limit_error", "rate_limit_exceeded".into()),
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => {
            ("invalid_request_error", status.to_ascii_lowercase())
        }
        "" => ("server_error", "server_error".into()),
        // INTERNAL, UNAVAILABLE, DEADLINE_EXCEEDED, ...
        other => ("server_error", other.to_ascii_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn finish_reasons() {
        assert_eq!(finish_reason_to_openai("STOP", false), "stop");
        assert_eq!(finish_reason_to_openai("STOP", true), "tool_calls");
        assert_eq!(finish_reason_to_openai("MAX_TOKENS", true), "length");
        assert_eq!(finish_reason_to_openai("SAFETY", false), "content_filter");
        assert_eq!(
            finish_reason_to_openai("RECITATION", false),
            "content_filter"
        );
        assert_eq!(finish_reason_to_openai("OTHER", false), "stop");
    }

    #[test]
    fn usage_counts_cached_as_prompt_and_thinking_as_output() {
        let u = json!({"promptTokenCount": 100, "cachedContentTokenCount": 60,
            "candidatesTokenCount": 7, "thoughtsTokenCount": 5, "totalTokenCount": 112});
        let usage = usage_from_gemini(&u);
        assert_eq!((usage.input, usage.cache_read, usage.output), (40, 60, 12));
        let openai = openai_usage(&u);
        assert_eq!(openai["prompt_tokens"], 100);
        assert_eq!(openai["completion_tokens"], 12);
        assert_eq!(openai["total_tokens"], 112);
        assert_eq!(openai["prompt_tokens_details"]["cached_tokens"], 60);
        assert_eq!(openai["completion_tokens_details"]["reasoning_tokens"], 5);
        // Inconsistent counts are clamped.
        let odd = usage_from_gemini(&json!({"promptTokenCount": 5, "cachedContentTokenCount": 9}));
        assert_eq!((odd.input, odd.cache_read), (0, 5));
    }

    #[test]
    fn error_statuses() {
        assert_eq!(
            openai_error_kind("INVALID_ARGUMENT", Some("API_KEY_INVALID")).1,
            "invalid_api_key"
        );
        assert_eq!(
            openai_error_kind("RESOURCE_EXHAUSTED", None),
            ("rate_limit_error", "rate_limit_exceeded".to_string())
        );
        assert_eq!(openai_error_kind("NOT_FOUND", None).1, "model_not_found");
        assert_eq!(
            openai_error_kind("UNAVAILABLE", None),
            ("server_error", "unavailable".to_string())
        );
    }
}
