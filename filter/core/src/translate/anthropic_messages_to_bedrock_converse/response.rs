//! A Bedrock Converse answer rewritten as an Anthropic Message.

use serde_json::{json, Value};

use crate::translate::converse_terms::{anthropic_usage, stop_reason_from_converse};
use crate::translate::direction::Untranslatable;
use crate::translate::json_fields::{parse_object, unreadable};

/// Converse answers carry no id: one is derived from the answer, stable for it.
pub(crate) fn message_id(seed: &[u8]) -> String {
    let hash = blake3::hash(seed);
    let hex: String = hash.as_bytes()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("msg_bdrk_{hex}")
}

/// A Converse answer as an Anthropic Message named `client_model`.
pub fn converse_response_to_messages(
    body: &[u8],
    client_model: &str,
) -> Result<Vec<u8>, Untranslatable> {
    let answer = parse_object(body)?;
    let blocks = answer
        .get("output")
        .and_then(|o| o["message"]["content"].as_array())
        .ok_or_else(|| unreadable("no `output.message.content`"))?;
    let content: Vec<Value> = blocks
        .iter()
        .filter_map(|b| {
            if let Some(text) = b["text"].as_str() {
                Some(json!({"type": "text", "text": text}))
            } else {
                let t = b.get("toolUse")?;
                Some(
                    json!({"type": "tool_use", "id": t["toolUseId"], "name": t["name"],
                    "input": t["input"]}),
                )
            }
            // Reasoning blocks and guardrail traces have no Messages counterpart.
        })
        .collect();
    let stop = answer
        .get("stopReason")
        .and_then(Value::as_str)
        .unwrap_or("end_turn");
    let usage = answer.get("usage").cloned().unwrap_or(Value::Null);
    let message = json!({
        "id": message_id(body),
        "type": "message",
        "role": "assistant",
        "model": client_model,
        "content": content,
        "stop_reason": stop_reason_from_converse(stop),
        "stop_sequence": null,
        "usage": anthropic_usage(&usage),
    });
    Ok(message.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_tool_use_answer() {
        let body = br#"{"output":{"message":{"role":"assistant","content":[
            {"text":"Let me check."},
            {"toolUse":{"toolUseId":"tooluse_1","name":"get_weather","input":{"city":"Paris"}}}]}},
            "stopReason":"tool_use",
            "usage":{"inputTokens":30,"outputTokens":12,"totalTokens":42},"metrics":{"latencyMs":300}}"#;
        let out: Value =
            serde_json::from_slice(&converse_response_to_messages(body, "claude-x").unwrap())
                .unwrap();
        assert!(out["id"].as_str().unwrap().starts_with("msg_bdrk_"));
        assert_eq!(out["model"], "claude-x");
        assert_eq!(
            out["content"],
            json!([{"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}])
        );
        assert_eq!(out["stop_reason"], "tool_use");
        assert_eq!(out["usage"]["input_tokens"], 30);
        assert_eq!(out["usage"]["output_tokens"], 12);
    }

    #[test]
    fn unreadable_answers_are_errors() {
        assert!(converse_response_to_messages(b"{}", "m").is_err());
        assert!(converse_response_to_messages(b"nope", "m").is_err());
    }
}
