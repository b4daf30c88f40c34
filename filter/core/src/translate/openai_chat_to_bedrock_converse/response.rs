//! A Converse answer (or error) as a Chat Completions answer: converse → messages →
//! chat.

use crate::translate::anthropic_messages_to_bedrock_converse::converse_response_to_messages;
use crate::translate::converse_terms::anthropic_error;
use crate::translate::direction::Untranslatable;
use crate::translate::openai_chat_to_anthropic_messages::{
    error_to_openai, messages_response_to_chat_at,
};

/// A whole Converse answer as a `chat.completion` named `client_model`.
pub fn converse_response_to_chat(
    body: &[u8],
    client_model: &str,
    created: u64,
) -> Result<Vec<u8>, Untranslatable> {
    let message = converse_response_to_messages(body, client_model)?;
    messages_response_to_chat_at(&message, client_model, created)
}

/// A Bedrock error body as an OpenAI error body.
pub fn converse_error_to_openai(status: u16, exception: Option<&str>, body: &[u8]) -> Vec<u8> {
    error_to_openai(&anthropic_error(status, exception, body))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    #[test]
    fn converse_answer_to_chat_completion() {
        let body = br#"{"output":{"message":{"role":"assistant","content":[{"text":"Hello!"}]}},
            "stopReason":"max_tokens",
            "usage":{"inputTokens":9,"outputTokens":4,"totalTokens":25,"cacheReadInputTokens":12},
            "metrics":{"latencyMs":100}}"#;
        let out: Value =
            serde_json::from_slice(&converse_response_to_chat(body, "gpt-4o-mini", 77).unwrap())
                .unwrap();
        assert_eq!(out["object"], "chat.completion");
        assert_eq!(out["created"], 77);
        assert_eq!(out["model"], "gpt-4o-mini");
        assert_eq!(out["choices"][0]["message"]["content"], "Hello!");
        assert_eq!(out["choices"][0]["finish_reason"], "length");
        assert_eq!(
            out["usage"],
            json!({"prompt_tokens": 21, "completion_tokens": 4, "total_tokens": 25,
                "prompt_tokens_details": {"cached_tokens": 12}})
        );
    }

    #[test]
    fn bedrock_errors_to_openai() {
        let out: Value = serde_json::from_slice(&converse_error_to_openai(
            429,
            Some("ThrottlingException"),
            br#"{"message":"Too many requests, please wait before trying again."}"#,
        ))
        .unwrap();
        assert_eq!(out["error"]["type"], "rate_limit_error");
        assert_eq!(out["error"]["code"], "rate_limit_exceeded");
        assert!(out["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Too many"));
    }
}
