//! An OpenAI `chat.completion` answer as the Anthropic client's `message`.
//!
//! An `Err` means the lane's answer could not be read at all (the filter answers
//! 502); parts without a counterpart are left out.

use serde_json::{json, Value};

use crate::translate::direction::Untranslatable;
use crate::translate::json_fields::{parse_object, unreadable};
use crate::translate::openai_anthropic_terms::{
    message_id_from_chat_id, stop_reason_from_finish_reason, Usage,
};

/// An OpenAI `chat.completion` as an Anthropic `message`. Only the first choice is
/// read: requests asking for more are refused before they reach the lane.
pub fn chat_response_to_messages(
    body: &[u8],
    client_model: &str,
) -> Result<Vec<u8>, Untranslatable> {
    let completion = parse_object(body)?;
    let choice = completion
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| unreadable("the completion has no choices"))?;
    let message = &choice["message"];
    let mut content = Vec::new();
    let text = match &message["content"] {
        Value::String(s) => s.clone(),
        // Some OpenAI-compatible servers answer with text parts.
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
        _ => String::new(),
    };
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    // A refusal is what the model said; Anthropic marks it with stop_reason `refusal`.
    let refusal = message["refusal"].as_str().filter(|r| !r.is_empty());
    if let Some(r) = refusal {
        content.push(json!({"type": "text", "text": r}));
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        let arguments = call["function"]["arguments"].as_str().unwrap_or("");
        // Anthropic clients get tool input as an object; arguments the model did not
        // write as one cannot be handed over unchanged.
        let input = if arguments.trim().is_empty() {
            json!({})
        } else {
            match serde_json::from_str::<Value>(arguments) {
                Ok(v @ Value::Object(_)) => v,
                _ => return Err(unreadable("a tool call's arguments are not a JSON object")),
            }
        };
        content.push(json!({
            "type": "tool_use",
            "id": call["id"],
            "name": call["function"]["name"],
            "input": input,
        }));
    }
    let stop_reason = if refusal.is_some() {
        "refusal"
    } else {
        stop_reason_from_finish_reason(choice["finish_reason"].as_str().unwrap_or("stop"))
    };
    let id = completion.get("id").and_then(Value::as_str).unwrap_or("");
    let usage = completion
        .get("usage")
        .filter(|u| u.is_object())
        .map(Usage::from_openai)
        .unwrap_or_default();
    let out = json!({
        "id": message_id_from_chat_id(id),
        "type": "message",
        "role": "assistant",
        "model": client_model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": usage.to_anthropic(),
    });
    Ok(out.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn chat_completion_with_tool_calls_to_anthropic() {
        let body = json!({
            "id": "chatcmpl-abc", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "On it.", "refusal": null,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "now", "arguments": ""}}
                ]}}],
            "usage": {"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
                "prompt_tokens_details": {"cached_tokens": 1920}}
        });
        let out =
            parse(&chat_response_to_messages(body.to_string().as_bytes(), "claude-x").unwrap());
        assert_eq!(
            out,
            json!({
                "id": "msg_abc",
                "type": "message",
                "role": "assistant",
                "model": "claude-x",
                "content": [
                    {"type": "text", "text": "On it."},
                    {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Rome"}},
                    {"type": "tool_use", "id": "call_2", "name": "now", "input": {}}
                ],
                "stop_reason": "tool_use",
                "stop_sequence": null,
                "usage": {"input_tokens": 86, "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 1920, "output_tokens": 300}
            })
        );
    }

    #[test]
    fn chat_finish_reasons_refusals_and_bad_bodies() {
        let stop = |choice: Value| {
            let body = json!({"id": "chatcmpl-1", "choices": [choice]});
            parse(&chat_response_to_messages(body.to_string().as_bytes(), "m").unwrap())
        };
        let out = stop(json!({"message": {"content": "x"}, "finish_reason": "length"}));
        assert_eq!(out["stop_reason"], "max_tokens");
        assert_eq!(out["usage"]["output_tokens"], 0);
        assert_eq!(
            stop(json!({"message": {"content": "x"}, "finish_reason": "stop"}))["stop_reason"],
            "end_turn"
        );
        let refused = stop(json!({"message": {"content": null, "refusal": "I can't."},
            "finish_reason": "stop"}));
        assert_eq!(refused["stop_reason"], "refusal");
        assert_eq!(
            refused["content"],
            json!([{"type": "text", "text": "I can't."}])
        );
        assert!(chat_response_to_messages(br#"{"choices":[]}"#, "m").is_err());
        let bad_args = json!({"choices": [{"message": {"tool_calls": [
            {"id": "c", "function": {"name": "f", "arguments": "{oops"}}]}}]});
        assert!(chat_response_to_messages(bad_args.to_string().as_bytes(), "m").is_err());
    }
}
