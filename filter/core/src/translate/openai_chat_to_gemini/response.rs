//! A Gemini `GenerateContentResponse` as the OpenAI client's `chat.completion`.
//!
//! Thought parts (shown only when a request asks Gemini to include them) have no chat
//! counterpart and are left out; their tokens are in the usage as reasoning tokens.

use serde_json::{json, Value};

use crate::translate::direction::Untranslatable;
use crate::translate::gemini_terms::{chat_id, finish_reason_to_openai, openai_usage};
use crate::translate::json_fields::parse_object;

/// The text, tool calls and finish reason of a Gemini answer (whole, or the part of
/// a stream one chunk carries).
pub(super) struct Reply {
    pub(super) text: String,
    /// OpenAI tool calls, each with its whole arguments.
    pub(super) calls: Vec<Value>,
    pub(super) finish_reason: Option<&'static str>,
    /// Why Gemini blocked the prompt (no candidate at all), if it did.
    pub(super) blocked: Option<String>,
}

/// Reads the first candidate of `response`; `first_call` numbers tool call ids when
/// Gemini gives none (a stream continues the count).
///
/// Such an id also names the answer (`call_<responseId>_<n>`), so calls from
/// different turns of one conversation never share an id: clients and agent loops
/// match results to calls by id across the whole history. Only letters, digits, `_`
/// and `-` are kept, the characters Anthropic allows in a `tool_use` id. A call's
/// `thoughtSignature` goes to the client as `extra_content.google.thought_signature`.
pub(super) fn read_reply(response: &Value, first_call: usize) -> Reply {
    let candidate = &response["candidates"][0];
    let answer: String = response["responseId"]
        .as_str()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    let mut text = String::new();
    let mut calls = Vec::new();
    for part in candidate["content"]["parts"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if part["thought"].as_bool() == Some(true) {
            continue;
        }
        if let Some(t) = part["text"].as_str() {
            text.push_str(t);
        }
        if let Some(call) = part.get("functionCall").filter(|c| c.is_object()) {
            let id = match call["id"].as_str() {
                Some(id) => id.to_string(),
                None if answer.is_empty() => format!("call_{}", first_call + calls.len()),
                None => format!("call_{answer}_{}", first_call + calls.len()),
            };
            let mut tool_call = json!({
                "id": id,
                "type": "function",
                "function": {
                    "name": call["name"],
                    "arguments": call.get("args").filter(|a| a.is_object()).unwrap_or(&json!({})).to_string(),
                }
            });
            if let Some(signature) = part["thoughtSignature"].as_str() {
                // Where Google's own OpenAI-compatible endpoint puts it, so a client that
                // replays the message whole sends it back (see the request's reading).
                tool_call["extra_content"] = json!({"google": {"thought_signature": signature}});
            }
            calls.push(tool_call);
        }
    }
    let blocked = response["promptFeedback"]["blockReason"]
        .as_str()
        .filter(|_| candidate.is_null())
        .map(str::to_string);
    let finish_reason = match (&blocked, candidate["finishReason"].as_str()) {
        (Some(_), _) => Some("content_filter"),
        (None, Some(reason)) => Some(finish_reason_to_openai(reason, !calls.is_empty())),
        (None, None) => None,
    };
    Reply {
        text,
        calls,
        finish_reason,
        blocked,
    }
}

/// The refusal an OpenAI client reads when Gemini blocked the prompt.
pub(super) fn block_message(reason: &str) -> String {
    format!("The prompt was blocked by the provider's safety filters ({reason}).")
}

/// A Gemini answer as an OpenAI `chat.completion`; `created` is Unix seconds from the
/// caller's clock (this crate reads none).
pub fn gemini_response_to_chat(
    body: &[u8],
    client_model: &str,
    created: u64,
) -> Result<Vec<u8>, Untranslatable> {
    let response = Value::Object(parse_object(body)?);
    let reply = read_reply(&response, 0);
    let refusal = reply.blocked.as_deref().map(block_message);
    let content = if reply.text.is_empty() && (refusal.is_some() || !reply.calls.is_empty()) {
        Value::Null
    } else {
        Value::String(reply.text)
    };
    let mut message = json!({"role": "assistant", "content": content, "refusal": refusal});
    if !reply.calls.is_empty() {
        message["tool_calls"] = Value::Array(reply.calls);
    }
    let mut out = json!({
        "id": chat_id(&response),
        "object": "chat.completion",
        "created": created,
        "model": client_model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": reply.finish_reason.unwrap_or("stop"),
        }],
    });
    if response["usageMetadata"].is_object() {
        out["usage"] = openai_usage(&response["usageMetadata"]);
    }
    Ok(out.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(body: Value) -> Value {
        serde_json::from_slice(
            &gemini_response_to_chat(body.to_string().as_bytes(), "gpt-4o", 9).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn text_answer_with_usage() {
        let out = translate(json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "thinking...", "thought": true}, {"text": "Hello "}, {"text": "there"}]},
                "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 3,
                "thoughtsTokenCount": 4, "cachedContentTokenCount": 2, "totalTokenCount": 17},
            "modelVersion": "gemini-2.5-flash", "responseId": "abc"
        }));
        assert_eq!(out["id"], "chatcmpl-abc");
        assert_eq!(
            (out["created"].clone(), out["model"].clone()),
            (json!(9), json!("gpt-4o"))
        );
        assert_eq!(out["choices"][0]["message"]["content"], "Hello there");
        assert_eq!(out["choices"][0]["finish_reason"], "stop");
        assert_eq!(out["usage"]["prompt_tokens"], 10);
        assert_eq!(out["usage"]["completion_tokens"], 7);
        assert_eq!(out["usage"]["prompt_tokens_details"]["cached_tokens"], 2);
        assert_eq!(
            out["usage"]["completion_tokens_details"]["reasoning_tokens"],
            4
        );
    }

    #[test]
    fn function_calls_and_finish_reasons() {
        let out = translate(json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"functionCall": {"name": "weather", "args": {"city": "Paris"}}}]},
                "finishReason": "STOP"}],
            "responseId": "r/7"
        }));
        let message = &out["choices"][0]["message"];
        assert_eq!(message["content"], Value::Null);
        assert_eq!(message["tool_calls"][0]["id"], "call_r7_0");
        assert_eq!(
            message["tool_calls"][0]["function"]["arguments"],
            "{\"city\":\"Paris\"}"
        );
        assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
        assert!(message["tool_calls"][0].get("extra_content").is_none());
        let signed = translate(json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"functionCall": {"name": "a", "args": {}}, "thoughtSignature": "c2ln"},
                {"functionCall": {"name": "b", "args": {}}}]}, "finishReason": "STOP"}]
        }));
        let calls = &signed["choices"][0]["message"]["tool_calls"];
        assert_eq!(
            calls[0]["extra_content"],
            json!({"google": {"thought_signature": "c2ln"}})
        );
        assert!(calls[1].get("extra_content").is_none());
        let cut = translate(
            json!({"candidates": [{"content": {"parts": [{"text": "a"}]}, "finishReason": "MAX_TOKENS"}]}),
        );
        assert_eq!(cut["choices"][0]["finish_reason"], "length");
        let unsafe_answer = translate(json!({"candidates": [{"finishReason": "SAFETY"}]}));
        assert_eq!(
            unsafe_answer["choices"][0]["finish_reason"],
            "content_filter"
        );
    }

    #[test]
    fn a_blocked_prompt_is_a_refusal() {
        let out = translate(json!({
            "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
            "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}
        }));
        let message = &out["choices"][0]["message"];
        assert_eq!(message["content"], Value::Null);
        assert!(message["refusal"]
            .as_str()
            .unwrap()
            .contains("PROHIBITED_CONTENT"));
        assert_eq!(out["choices"][0]["finish_reason"], "content_filter");
        assert_eq!(out["usage"]["prompt_tokens"], 8);
        assert!(gemini_response_to_chat(b"[1]", "m", 0).is_err());
    }
}
