//! An OpenAI Chat Completions request rewritten as a Gemini `generateContent` request.
//! The model and whether the answer streams are in the lane's URL, not the body.
//!
//! Dropped without refusal, because they cannot change what the model answers:
//! `stream` and `stream_options` (the URL chooses streaming; Gemini streams always
//! report usage), `store`, `metadata`, `user` and `safety_identifier` (Gemini has no
//! end-user field), `prompt_cache_key`, `prompt_cache_retention`, `service_tier`,
//! `parallel_tool_calls`, a message's `name`, an image's `detail` and a tool's
//! `strict`.

use serde_json::{json, Map, Value};

use crate::translate::direction::Untranslatable;
use crate::translate::json_fields::{field, invalid, refuse};

const LANE: &str = "Gemini";

/// Gemini accepts at most this many stop sequences.
const MAX_STOP_SEQUENCES: usize = 5;

/// The `thoughtSignature` Google documents for a function call whose signature the
/// client did not send back: Gemini 3 refuses a replayed `functionCall` without one
/// (400 INVALID_ARGUMENT), and Anthropic histories (and OpenAI clients that rebuild
/// their messages) carry none. Older models ignore it.
const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

fn no(field: &str, why: &str) -> Untranslatable {
    refuse(field, LANE, why)
}

/// Translates a Chat Completions body for a Gemini lane.
pub fn chat_to_gemini(body: &Map<String, Value>) -> Result<Map<String, Value>, Untranslatable> {
    check_top_level(body)?;
    let mut out = Map::new();
    let messages = field(body, "messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("`messages` must be an array"))?;
    let (system, contents) = translate_messages(messages)?;
    if contents.is_empty() {
        return Err(invalid(
            "`messages` must hold at least one user or assistant message",
        ));
    }
    out.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        out.insert("systemInstruction".into(), json!({"parts": system}));
    }
    let config = generation_config(body)?;
    if !config.is_empty() {
        out.insert("generationConfig".into(), Value::Object(config));
    }
    translate_tools(body, &mut out)?;
    Ok(out)
}

fn check_top_level(body: &Map<String, Value>) -> Result<(), Untranslatable> {
    for (key, value) in body {
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "model"
            | "messages"
            | "max_tokens"
            | "max_completion_tokens"
            | "temperature"
            | "top_p"
            | "stop"
            | "stream"
            | "stream_options"
            | "user"
            | "safety_identifier"
            | "tools"
            | "tool_choice"
            | "parallel_tool_calls"
            | "response_format"
            | "seed"
            | "presence_penalty"
            | "frequency_penalty"
            | "reasoning_effort"
            | "n" => {}
            // Hints that do not change the answer (see the module's list).
            "store"
            | "metadata"
            | "prompt_cache_key"
            | "prompt_cache_retention"
            | "service_tier" => {}
            "logprobs" | "top_logprobs" => {
                return Err(no(key, "token log probabilities are not translated"))
            }
            "logit_bias" => return Err(no(key, "Gemini has no logit bias")),
            "modalities" | "audio" => return Err(no(key, "audio output is not translated")),
            "web_search_options" => return Err(no(key, "web search is not translated")),
            "functions" | "function_call" => {
                return Err(no(key, "legacy functions are not translated; use `tools`"))
            }
            "prediction" => return Err(no(key, "predicted outputs are not translated")),
            _ => return Err(no(key, "this option is not supported by translation")),
        }
    }
    Ok(())
}

fn generation_config(body: &Map<String, Value>) -> Result<Map<String, Value>, Untranslatable> {
    let mut config = Map::new();
    // The newer field wins, as in `ParsedRequest`.
    if let Some(v) = field(body, "max_completion_tokens").or_else(|| field(body, "max_tokens")) {
        let limit = v
            .as_u64()
            .filter(|n| *n > 0)
            .ok_or_else(|| invalid("the output token limit must be a positive integer"))?;
        config.insert("maxOutputTokens".into(), limit.into());
    }
    // Same ranges on both sides (temperature 0..=2, penalties -2..2).
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ] {
        if let Some(v) = field(body, from) {
            if !v.is_number() {
                return Err(invalid(&format!("`{from}` must be a number")));
            }
            config.insert(to.into(), v.clone());
        }
    }
    if let Some(seed) = field(body, "seed") {
        let seed = seed
            .as_i64()
            .ok_or_else(|| invalid("`seed` must be an integer"))?;
        config.insert("seed".into(), seed.into());
    }
    if let Some(n) = field(body, "n") {
        if n.as_u64() != Some(1) {
            return Err(no("n", "only one choice per request is translated"));
        }
    }
    if let Some(stop) = field(body, "stop") {
        let sequences = match stop {
            Value::String(s) => vec![Value::String(s.clone())],
            Value::Array(a) if a.iter().all(Value::is_string) => a.clone(),
            _ => return Err(invalid("`stop` must be a string or an array of strings")),
        };
        if sequences.len() > MAX_STOP_SEQUENCES {
            return Err(no("stop", "Gemini takes at most 5 stop sequences"));
        }
        if !sequences.is_empty() {
            config.insert("stopSequences".into(), Value::Array(sequences));
        }
    }
    if let Some(format) = field(body, "response_format") {
        match format["type"].as_str() {
            Some("text") => {}
            Some("json_object") => {
                config.insert("responseMimeType".into(), "application/json".into());
            }
            Some("json_schema") => {
                let schema = format["json_schema"]
                    .get("schema")
                    .filter(|s| s.is_object())
                    .ok_or_else(|| {
                        invalid("`response_format.json_schema.schema` must be an object")
                    })?;
                config.insert("responseMimeType".into(), "application/json".into());
                // `responseJsonSchema` takes JSON Schema as OpenAI clients write it
                // (`responseSchema` takes only an OpenAPI subset).
                config.insert("responseJsonSchema".into(), schema.clone());
            }
            _ => {
                return Err(invalid(
                    "`response_format.type` must be text, json_object or json_schema",
                ))
            }
        }
    }
    if let Some(effort) = field(body, "reasoning_effort") {
        // The thinking budgets Google's own OpenAI-compatible endpoint uses.
        let budget = match effort.as_str() {
            Some("none" | "minimal") => 0,
            Some("low") => 1024,
            Some("medium") => 8192,
            Some("high") => 24576,
            _ => {
                return Err(invalid(
                    "`reasoning_effort` must be none, minimal, low, medium or high",
                ))
            }
        };
        config.insert("thinkingConfig".into(), json!({"thinkingBudget": budget}));
    }
    Ok(config)
}

/// System and developer messages become `systemInstruction` parts; the rest become
/// `contents` with Gemini's roles (`user`, `model`), consecutive turns of one role
/// merged (a tool call's results, sent as separate `tool` messages, go back as one
/// user turn of `functionResponse` parts).
fn translate_messages(messages: &[Value]) -> Result<(Vec<Value>, Vec<Value>), Untranslatable> {
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    // Tool call id → function name: Gemini answers a call by the function's name.
    let mut call_names: Vec<(String, String)> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let m = message
            .as_object()
            .ok_or_else(|| invalid(&format!("messages[{i}] must be an object")))?;
        let role = field(m, "role").and_then(Value::as_str).unwrap_or("");
        let (role, parts) = match role {
            "system" | "developer" => {
                system.extend(text_parts(field(m, "content"), i)?);
                continue;
            }
            "user" => ("user", user_parts(field(m, "content"), i)?),
            "assistant" => ("model", model_parts(m, i, &mut call_names)?),
            "tool" => ("user", vec![function_response(m, i, &call_names)?]),
            "function" => {
                return Err(no(
                    &format!("messages[{i}].role"),
                    "legacy `function` messages are not translated; use `tool` messages",
                ))
            }
            other => {
                return Err(invalid(&format!(
                    "messages[{i}] has unknown role `{other}`"
                )))
            }
        };
        if parts.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(parts),
            _ => turns.push((role, parts)),
        }
    }
    let contents = turns
        .into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}))
        .collect();
    Ok((system, contents))
}

fn text_part(text: &str) -> Option<Value> {
    (!text.is_empty()).then(|| json!({"text": text}))
}

fn part_text(part: &Value, i: usize) -> Result<&str, Untranslatable> {
    part.get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(&format!("messages[{i}] has a text part without `text`")))
}

/// Text-only content (system, developer, assistant and tool text).
fn text_parts(content: Option<&Value>, i: usize) -> Result<Vec<Value>, Untranslatable> {
    match content {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(text_part(s).into_iter().collect()),
        Some(Value::Array(parts)) => {
            let mut out = Vec::new();
            for part in parts {
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => out.extend(text_part(part_text(part, i)?)),
                    // What the model refused earlier is what it said.
                    Some("refusal") => {
                        out.extend(text_part(part["refusal"].as_str().unwrap_or("")))
                    }
                    other => {
                        return Err(no(
                            &format!("messages[{i}].content"),
                            &format!(
                                "a `{}` part is not allowed here",
                                other.unwrap_or("untyped")
                            ),
                        ))
                    }
                }
            }
            Ok(out)
        }
        Some(_) => Err(invalid(&format!(
            "messages[{i}].content must be a string or an array"
        ))),
    }
}

fn user_parts(content: Option<&Value>, i: usize) -> Result<Vec<Value>, Untranslatable> {
    let Some(Value::Array(parts)) = content else {
        return text_parts(content, i);
    };
    let mut out = Vec::new();
    for part in parts {
        match part
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("untyped")
        {
            "text" => out.extend(text_part(part_text(part, i)?)),
            "image_url" => out.push(inline_image(part, i)?),
            other => {
                return Err(no(
                    &format!("messages[{i}].content"),
                    &format!("`{other}` parts are not translated"),
                ))
            }
        }
    }
    Ok(out)
}

/// A `data:` URL image as Gemini `inlineData`. Gemini fetches no web URLs for
/// `generateContent`, so an http(s) image is refused rather than dropped.
fn inline_image(part: &Value, i: usize) -> Result<Value, Untranslatable> {
    let url = part["image_url"]["url"]
        .as_str()
        .ok_or_else(|| invalid(&format!("messages[{i}] has an image part without a url")))?;
    let Some(rest) = url.strip_prefix("data:") else {
        return Err(no(
            &format!("messages[{i}].content"),
            "Gemini takes images inline only (a base64 `data:` URL)",
        ));
    };
    let (mime, data) = rest.split_once(";base64,").ok_or_else(|| {
        invalid(&format!(
            "messages[{i}] has an image data URL that is not base64"
        ))
    })?;
    Ok(json!({"inlineData": {"mimeType": mime, "data": data}}))
}

/// An assistant message: its text, then its tool calls as `functionCall` parts. A
/// call's `extra_content.google.thought_signature` (where the answer put Gemini's
/// signature, as Google's OpenAI-compatible endpoint does) goes back as its
/// `thoughtSignature`; a first call without one gets [`SKIP_SIGNATURE`] (Gemini checks
/// the first call of each step).
fn model_parts(
    m: &Map<String, Value>,
    i: usize,
    call_names: &mut Vec<(String, String)>,
) -> Result<Vec<Value>, Untranslatable> {
    let mut parts = text_parts(field(m, "content"), i)?;
    if let Some(refusal) = field(m, "refusal").and_then(Value::as_str) {
        parts.extend(text_part(refusal));
    }
    for (j, call) in field(m, "tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("messages[{i}].tool_calls[{j}]");
        if call["type"].as_str().is_some_and(|t| t != "function") {
            return Err(no(&at, "only function tool calls are translated"));
        }
        let name = call["function"]["name"]
            .as_str()
            .ok_or_else(|| invalid(&format!("{at} has no function name")))?;
        let arguments = call["function"]["arguments"].as_str().unwrap_or("");
        let args = if arguments.trim().is_empty() {
            json!({})
        } else {
            match serde_json::from_str::<Value>(arguments) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    return Err(invalid(&format!(
                        "{at} has arguments that are not a JSON object"
                    )))
                }
            }
        };
        if let Some(id) = call["id"].as_str() {
            call_names.push((id.to_string(), name.to_string()));
        }
        let mut part = json!({"functionCall": {"name": name, "args": args}});
        match call["extra_content"]["google"]["thought_signature"].as_str() {
            Some(signature) if !signature.is_empty() => {
                part["thoughtSignature"] = signature.into();
            }
            _ if j == 0 => part["thoughtSignature"] = SKIP_SIGNATURE.into(),
            _ => {}
        }
        parts.push(part);
    }
    Ok(parts)
}

/// A `tool` message as a `functionResponse` part, named after the call it answers.
fn function_response(
    m: &Map<String, Value>,
    i: usize,
    call_names: &[(String, String)],
) -> Result<Value, Untranslatable> {
    let id = field(m, "tool_call_id")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(&format!("messages[{i}] (tool) has no tool_call_id")))?;
    let name = call_names
        .iter()
        .rev()
        .find(|(call, _)| call == id)
        .map(|(_, name)| name.clone())
        .ok_or_else(|| {
            invalid(&format!(
                "messages[{i}] answers tool call `{id}`, which no earlier assistant message made"
            ))
        })?;
    let text: String = text_parts(field(m, "content"), i)?
        .iter()
        .filter_map(|p| p["text"].as_str())
        .collect();
    Ok(json!({"functionResponse": {"name": name, "response": {"content": text}}}))
}

/// OpenAI function tools as one Gemini `functionDeclarations` tool, and `tool_choice`
/// as `toolConfig.functionCallingConfig`.
fn translate_tools(
    body: &Map<String, Value>,
    out: &mut Map<String, Value>,
) -> Result<(), Untranslatable> {
    let mut declarations = Vec::new();
    for (j, tool) in field(body, "tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if tool["type"].as_str() != Some("function") {
            return Err(no(
                &format!("tools[{j}]"),
                "only function tools are translated",
            ));
        }
        let f = &tool["function"];
        let name = f["name"]
            .as_str()
            .ok_or_else(|| invalid(&format!("tools[{j}] has no function name")))?;
        let mut declaration = json!({"name": name});
        if let Some(d) = f["description"].as_str() {
            declaration["description"] = d.into();
        }
        if f["parameters"].is_object() {
            // JSON Schema as the client wrote it (`parameters` takes an OpenAPI subset).
            declaration["parametersJsonSchema"] = f["parameters"].clone();
        }
        declarations.push(declaration);
    }
    if !declarations.is_empty() {
        out.insert(
            "tools".into(),
            json!([{"functionDeclarations": declarations}]),
        );
    }
    let Some(choice) = field(body, "tool_choice") else {
        return Ok(());
    };
    let config = match choice {
        Value::String(s) => match s.as_str() {
            "auto" => json!({"mode": "AUTO"}),
            "none" => json!({"mode": "NONE"}),
            "required" => json!({"mode": "ANY"}),
            _ => {
                return Err(invalid(
                    "`tool_choice` must be auto, none, required or a function",
                ))
            }
        },
        Value::Object(_) if choice["type"] == "function" => {
            let name = choice["function"]["name"]
                .as_str()
                .ok_or_else(|| invalid("`tool_choice.function.name` must be a string"))?;
            json!({"mode": "ANY", "allowedFunctionNames": [name]})
        }
        _ => {
            return Err(no(
                "tool_choice",
                "only function tool choices are translated",
            ))
        }
    };
    out.insert(
        "toolConfig".into(),
        json!({"functionCallingConfig": config}),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(body: Value) -> Result<Value, Untranslatable> {
        let Value::Object(m) = body else {
            unreachable!()
        };
        chat_to_gemini(&m).map(Value::Object)
    }

    #[test]
    fn text_conversation_with_system_and_options() {
        let out = translate(json!({
            "model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true},
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "No emoji."}]},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": [{"type": "text", "text": "How are you?"}]}
            ],
            "max_completion_tokens": 50, "max_tokens": 9, "temperature": 1.5, "top_p": 0.9,
            "stop": "END", "seed": 4, "user": "u1", "store": false
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "Hi"}]},
                    {"role": "model", "parts": [{"text": "Hello!"}]},
                    {"role": "user", "parts": [{"text": "How are you?"}]}
                ],
                "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "No emoji."}]},
                "generationConfig": {"maxOutputTokens": 50, "temperature": 1.5, "topP": 0.9,
                    "stopSequences": ["END"], "seed": 4}
            })
        );
    }

    #[test]
    fn tools_calls_and_results() {
        let out = translate(json!({
            "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "c2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "c1", "content": "18C"},
                {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "25C"}]}
            ],
            "tools": [{"type": "function", "function": {"name": "weather", "description": "Weather now",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                "required": ["city"], "additionalProperties": false}, "strict": true}}],
            "tool_choice": {"type": "function", "function": {"name": "weather"}},
            "parallel_tool_calls": true
        }))
        .unwrap();
        assert_eq!(
            out["contents"][1],
            json!({"role": "model", "parts": [
                {"functionCall": {"name": "weather", "args": {"city": "Paris"}},
                    "thoughtSignature": "skip_thought_signature_validator"},
                {"functionCall": {"name": "weather", "args": {"city": "Rome"}}}
            ]})
        );
        assert_eq!(
            out["contents"][2],
            json!({"role": "user", "parts": [
                {"functionResponse": {"name": "weather", "response": {"content": "18C"}}},
                {"functionResponse": {"name": "weather", "response": {"content": "25C"}}}
            ]})
        );
        let declaration = &out["tools"][0]["functionDeclarations"][0];
        assert_eq!(declaration["name"], "weather");
        assert_eq!(
            declaration["parametersJsonSchema"]["required"],
            json!(["city"])
        );
        assert_eq!(
            out["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}})
        );
        // A signature the answer handed out comes back as Gemini's own.
        let signed = translate(json!({"messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "f", "arguments": "{}"},
                "extra_content": {"google": {"thought_signature": "c2ln"}}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "y"}
        ]}))
        .unwrap();
        assert_eq!(
            signed["contents"][1]["parts"][0],
            json!({"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "c2ln"})
        );
        let required = translate(
            json!({"messages": [{"role": "user", "content": "x"}], "tool_choice": "required"}),
        )
        .unwrap();
        assert_eq!(
            required["toolConfig"]["functionCallingConfig"]["mode"],
            "ANY"
        );
    }

    #[test]
    fn structured_output_images_and_thinking() {
        let out = translate(json!({
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is it?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K", "detail": "low"}}
            ]}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}},
            "reasoning_effort": "low"
        }))
        .unwrap();
        assert_eq!(
            out["contents"][0]["parts"][1],
            json!({"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}})
        );
        assert_eq!(
            out["generationConfig"]["responseMimeType"],
            "application/json"
        );
        assert_eq!(
            out["generationConfig"]["responseJsonSchema"],
            json!({"type": "object"})
        );
        assert_eq!(
            out["generationConfig"]["thinkingConfig"]["thinkingBudget"],
            1024
        );
    }

    #[test]
    fn what_cannot_be_carried_is_refused() {
        let base = |extra: Value| {
            let mut b = json!({"messages": [{"role": "user", "content": "x"}]});
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            translate(b).unwrap_err().0
        };
        assert!(base(json!({"n": 2})).contains("`n`"));
        assert!(base(json!({"logprobs": true})).contains("`logprobs`"));
        assert!(base(json!({"stop": ["a", "b", "c", "d", "e", "f"]})).contains("at most 5"));
        assert!(base(json!({"brand_new_option": 1})).contains("`brand_new_option`"));
        let web_image = translate(json!({"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]}));
        assert!(web_image.unwrap_err().0.contains("inline"));
        let orphan = translate(
            json!({"messages": [{"role": "tool", "tool_call_id": "zz", "content": "x"}]}),
        );
        assert!(orphan.unwrap_err().0.contains("zz"));
        assert!(translate(json!({"messages": [{"role": "system", "content": "only"}]})).is_err());
    }
}
