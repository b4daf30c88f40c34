//! A Gemini answer as the Anthropic client's `message`, through the Chat Completions
//! form.

use crate::translate::anthropic_messages_to_openai_chat::chat_response_to_messages;
use crate::translate::direction::Untranslatable;
use crate::translate::openai_chat_to_gemini::gemini_response_to_chat;

/// A Gemini `GenerateContentResponse` as an Anthropic `message`.
pub fn gemini_response_to_messages(
    body: &[u8],
    client_model: &str,
) -> Result<Vec<u8>, Untranslatable> {
    chat_response_to_messages(
        &gemini_response_to_chat(body, client_model, 0)?,
        client_model,
    )
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn translate(body: Value) -> Value {
        serde_json::from_slice(
            &gemini_response_to_messages(body.to_string().as_bytes(), "claude-haiku-4-5").unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn text_tool_use_usage_and_stop_reasons() {
        let out = translate(json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "Let me check."},
                {"functionCall": {"name": "weather", "args": {"city": "Paris"}}}]},
                "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 100, "cachedContentTokenCount": 40,
                "candidatesTokenCount": 10, "thoughtsTokenCount": 5, "totalTokenCount": 115},
            "modelVersion": "gemini-2.5-flash", "responseId": "rid"
        }));
        assert_eq!(out["id"], "msg_rid");
        assert_eq!(out["model"], "claude-haiku-4-5");
        assert_eq!(
            out["content"][0],
            json!({"type": "text", "text": "Let me check."})
        );
        assert_eq!(out["content"][1]["type"], "tool_use");
        assert_eq!(out["content"][1]["input"], json!({"city": "Paris"}));
        assert_eq!(out["stop_reason"], "tool_use");
        assert_eq!(
            out["usage"],
            json!({"input_tokens": 60, "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 40, "output_tokens": 15})
        );
        let cut = translate(
            json!({"candidates": [{"content": {"parts": [{"text": "a"}]}, "finishReason": "MAX_TOKENS"}]}),
        );
        assert_eq!(cut["stop_reason"], "max_tokens");
        let blocked = translate(json!({"promptFeedback": {"blockReason": "SAFETY"}}));
        assert_eq!(blocked["stop_reason"], "refusal");
        assert!(blocked["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("SAFETY"));
    }
}
