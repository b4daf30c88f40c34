//! Whole (non-streamed) answers translated back into the client's format.
//!
//! An `Err` here means the lane's answer could not be read at all (the filter answers
//! 502); parts of an answer that have no counterpart (thinking blocks, which are never
//! requested, or annotations) are left out rather than failing the answer.

use serde_json::{json, Map, Value};

use super::{
    chat_id_from_message_id, finish_reason_from_stop_reason, message_id_from_chat_id,
    stop_reason_from_finish_reason, Untranslatable, Usage,
};

fn unreadable(what: &str) -> Untranslatable {
    Untranslatable(format!(
        "the provider's answer could not be translated: {what}"
    ))
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Untranslatable> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(unreadable("not a JSON object")),
    }
}

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
