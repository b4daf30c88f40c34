//! An Anthropic `message` answer as the OpenAI client's `chat.completion`.
//!
//! An `Err` means the lane's answer could not be read at all (the filter answers
//! 502); parts without a counterpart (thinking blocks, annotations) are left out.

use serde_json::{json, Value};

use crate::translate::direction::Untranslatable;
use crate::translate::json_fields::{parse_object, unreadable};
use crate::translate::openai_anthropic_terms::{
    chat_id_from_message_id, finish_reason_from_stop_reason, Usage,
};

/// An Anthropic `message` as an OpenAI `chat.completion` (with `created` 0; see
/// [`messages_response_to_chat_at`]).
pub fn messages_response_to_chat(
    body: &[u8],
    client_model: &str,
) -> Result<Vec<u8>, Untranslatable> {
    messages_response_to_chat_at(body, client_model, 0)
}

/// As [`messages_response_to_chat`], with `created` (Unix seconds) from the caller's
/// clock: this crate reads no clock.
pub fn messages_response_to_chat_at(
    body: &[u8],
    client_model: &str,
    created: u64,
) -> Result<Vec<u8>, Untranslatable> {
    let message = parse_object(body)?;
    let blocks = message
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| unreadable("the message has no content array"))?;
    let mut text: Option<String> = None;
    let mut calls = Vec::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("text") => text
                .get_or_insert_with(String::new)
                .push_str(block["text"].as_str().unwrap_or("")),
            Some("tool_use") => calls.push(json!({
                "id": block["id"],
                "type": "function",
                "function": {
                    "name": block["name"],
                    "arguments": block.get("input").unwrap_or(&json!({})).to_string(),
                }
            })),
            _ => {}
        }
    }
    let mut reply = json!({"role": "assistant", "content": text, "refusal": null});
    if !calls.is_empty() {
        reply["tool_calls"] = Value::Array(calls);
    }
    let stop_reason = message
        .get("stop_reason")
        .and_then(Value::as_str)
        .unwrap_or("end_turn");
    let id = message.get("id").and_then(Value::as_str).unwrap_or("");
    let mut out = json!({
        "id": chat_id_from_message_id(id),
        "object": "chat.completion",
        "created": created,
        "model": client_model,
        "choices": [{
            "index": 0,
            "message": reply,
            "logprobs": null,
            "finish_reason": finish_reason_from_stop_reason(stop_reason),
        }],
    });
    if let Some(u) = message.get("usage").filter(|u| u.is_object()) {
        let mut usage = Usage::default();
        usage.merge_anthropic(u);
        out["usage"] = usage.to_openai();
    }
    Ok(out.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn anthropic_message_with_tool_use_to_chat() {
        let body = json!({
            "id": "msg_01XY", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 100,
                "cache_creation_input_tokens": 5, "output_tokens": 20}
        });
        let out = parse(
            &messages_response_to_chat_at(body.to_string().as_bytes(), "gpt-4o", 1700).unwrap(),
        );
        assert_eq!(
            out,
            json!({
                "id": "chatcmpl-01XY",
                "object": "chat.completion",
                "created": 1700,
                "model": "gpt-4o",
                "choices": [{
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Let me check.",
                        "refusal": null,
                        "tool_calls": [{"id": "toolu_1", "type": "function",
                            "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]
                    },
                    "logprobs": null,
                    "finish_reason": "tool_calls"
                }],
                "usage": {"prompt_tokens": 115, "completion_tokens": 20, "total_tokens": 135,
                    "prompt_tokens_details": {"cached_tokens": 100}}
            })
        );
    }

    #[test]
    fn anthropic_stop_reasons() {
        let finish = |stop: &str, content: Value| {
            let body = json!({"id": "msg_1", "content": content, "stop_reason": stop});
            let out = parse(&messages_response_to_chat(body.to_string().as_bytes(), "m").unwrap());
            (
                out["choices"][0]["finish_reason"].clone(),
                out["choices"][0]["message"]["content"].clone(),
                out.get("usage").is_none(),
            )
        };
        let hi = json!([{"type": "text", "text": "hi"}, {"type": "thinking", "thinking": "x"}]);
        assert_eq!(
            finish("end_turn", hi.clone()),
            (json!("stop"), json!("hi"), true)
        );
        assert_eq!(finish("stop_sequence", hi.clone()).0, "stop");
        assert_eq!(finish("max_tokens", hi.clone()).0, "length");
        assert_eq!(finish("refusal", hi).0, "content_filter");
        // Tool calls only: content is null, as OpenAI answers.
        assert_eq!(finish("end_turn", json!([])).1, Value::Null);
        assert!(messages_response_to_chat(b"not json", "m").is_err());
        assert!(messages_response_to_chat(br#"{"type":"message"}"#, "m").is_err());
    }
}
