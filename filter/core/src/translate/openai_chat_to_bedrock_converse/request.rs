//! A Chat Completions request as a Converse request: chat → messages → converse.

use serde_json::{Map, Value};

use crate::translate::anthropic_messages_to_bedrock_converse::messages_to_converse;
use crate::translate::direction::Untranslatable;
use crate::translate::openai_chat_to_anthropic_messages::chat_to_messages;

/// Translates a Chat Completions body for a Bedrock lane serving `target_model`;
/// `default_max_tokens` is the limit sent when the client set none.
pub fn chat_to_converse(
    body: &Map<String, Value>,
    target_model: &str,
    default_max_tokens: u64,
) -> Result<Map<String, Value>, Untranslatable> {
    // The first step's refusals speak of the Anthropic model; the client's lane is
    // Bedrock's.
    let named = |e: Untranslatable| Untranslatable(e.0.replace("Anthropic", "Bedrock"));
    let messages = chat_to_messages(body, target_model, default_max_tokens).map_err(named)?;
    messages_to_converse(&messages, target_model, default_max_tokens)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn chat_request_to_converse() {
        let out = chat_to_converse(
            &obj(json!({
                "model": "gpt-4o-mini", "max_completion_tokens": 64, "temperature": 0.5,
                "stop": "END", "stream": true, "stream_options": {"include_usage": true},
                "user": "alice",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1",
                        "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "42"}
                ],
                "tools": [{"type": "function", "function": {"name": "f", "description": "F",
                    "parameters": {"type": "object"}}}],
                "tool_choice": "required"
            })),
            "amazon.nova-pro-v1:0",
            1000,
        )
        .unwrap();
        let out = Value::Object(out);
        assert_eq!(out["system"], json!([{"text": "Be brief."}]));
        assert_eq!(
            out["inferenceConfig"],
            json!({"maxTokens": 64, "temperature": 0.5, "stopSequences": ["END"]})
        );
        assert_eq!(
            out["messages"][0],
            json!({"role": "user", "content": [{"text": "Hi"}]})
        );
        assert_eq!(
            out["messages"][1]["content"][0]["toolUse"],
            json!({"toolUseId": "call_1", "name": "f", "input": {"a": 1}})
        );
        assert_eq!(
            out["messages"][2]["content"][0]["toolResult"]["toolUseId"],
            "call_1"
        );
        assert_eq!(out["toolConfig"]["toolChoice"], json!({"any": {}}));
        assert!(out.get("model").is_none() && out.get("stream").is_none());
        // Without a limit the lane's is sent.
        let bare = chat_to_converse(
            &obj(json!({"model": "m", "messages": [{"role": "user", "content": "x"}]})),
            "amazon.nova-lite-v1:0",
            777,
        )
        .unwrap();
        assert_eq!(bare["inferenceConfig"]["maxTokens"], 777);
    }

    #[test]
    fn refusals_name_bedrock() {
        let e = chat_to_converse(
            &obj(json!({"model": "m", "n": 2, "messages": [{"role": "user", "content": "x"}]})),
            "amazon.nova-lite-v1:0",
            5,
        )
        .unwrap_err();
        assert!(
            e.0.contains("Bedrock") && !e.0.contains("Anthropic"),
            "{}",
            e.0
        );
    }
}
