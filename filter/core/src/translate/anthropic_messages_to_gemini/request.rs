//! An Anthropic Messages request as a Gemini `generateContent` request, through the
//! Chat Completions form (see the module's parent for why).
//!
//! `top_k`, which Chat Completions lacks, is carried past the chat step to Gemini's
//! `topK`. Anthropic's `thinking` must be disabled or absent (Gemini's thoughts are not
//! returned as thinking blocks).

use serde_json::{Map, Value};

use crate::translate::anthropic_messages_to_openai_chat::messages_to_chat;
use crate::translate::direction::Untranslatable;
use crate::translate::json_fields::invalid;
use crate::translate::openai_chat_to_gemini::chat_to_gemini;

/// Translates a Messages body for a Gemini lane (the model is in the lane's URL).
pub fn messages_to_gemini(body: &Map<String, Value>) -> Result<Map<String, Value>, Untranslatable> {
    let lane =
        |e: Untranslatable| Untranslatable(e.0.replace("the OpenAI model", "the Gemini model"));
    let mut without_top_k = body.clone();
    let top_k = without_top_k.remove("top_k").filter(|v| !v.is_null());
    let chat = messages_to_chat(&without_top_k, "").map_err(lane)?;
    let mut out = chat_to_gemini(&chat).map_err(lane)?;
    if let Some(k) = top_k {
        let k = k
            .as_u64()
            .ok_or_else(|| invalid("`top_k` must be a positive integer"))?;
        let config = out
            .entry("generationConfig")
            .or_insert_with(|| Value::Object(Map::new()));
        config["topK"] = k.into();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn translate(body: Value) -> Result<Value, Untranslatable> {
        let Value::Object(m) = body else {
            unreachable!()
        };
        messages_to_gemini(&m).map(Value::Object)
    }

    #[test]
    fn messages_with_system_tools_and_results() {
        let out = translate(json!({
            "model": "claude-haiku-4-5", "max_tokens": 64, "stream": true,
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            "stop_sequences": ["END"], "temperature": 0.5,
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}]}
            ],
            "tools": [{"name": "weather", "description": "Weather now",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
            "tool_choice": {"type": "any"}
        }))
        .unwrap();
        assert_eq!(
            out["systemInstruction"],
            json!({"parts": [{"text": "Be brief."}]})
        );
        assert_eq!(
            out["contents"],
            json!([
                {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
                {"role": "model", "parts": [{"text": "Checking."},
                    {"functionCall": {"name": "weather", "args": {"city": "Paris"}},
                        "thoughtSignature": "skip_thought_signature_validator"}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "weather", "response": {"content": "18C"}}}]}
            ])
        );
        assert_eq!(
            out["generationConfig"],
            json!({"maxOutputTokens": 64, "temperature": 0.5, "stopSequences": ["END"]})
        );
        assert_eq!(
            out["tools"][0]["functionDeclarations"][0]["name"],
            "weather"
        );
        assert_eq!(out["toolConfig"]["functionCallingConfig"]["mode"], "ANY");
    }

    #[test]
    fn top_k_is_carried_and_refusals_name_the_lane() {
        let out = translate(json!({"max_tokens": 5, "top_k": 3,
            "messages": [{"role": "user", "content": "x"}]}))
        .unwrap();
        assert_eq!(
            out["generationConfig"],
            json!({"maxOutputTokens": 5, "topK": 3})
        );
        let err = translate(
            json!({"max_tokens": 5, "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [{"role": "user", "content": "x"}]}),
        )
        .unwrap_err();
        assert!(
            err.0.contains("`thinking`") && err.0.contains("the Gemini model"),
            "{}",
            err.0
        );
        let err = translate(
            json!({"max_tokens": 5, "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]}]}),
        )
        .unwrap_err();
        assert!(err.0.contains("inline"), "{}", err.0);
    }
}
