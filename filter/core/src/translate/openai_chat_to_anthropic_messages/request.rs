//! An OpenAI Chat Completions request rewritten as an Anthropic Messages request.
//!
//! Dropped without refusal, because they cannot change what the model answers:
//! `stream_options`, `store`, `metadata`, `seed` (best effort even at OpenAI),
//! `prompt_cache_key`, `prompt_cache_retention`, `prediction`, `service_tier`, a
//! message's `name`, an image's `detail`, and a tool's `strict`. Anthropic's
//! `cache_control` is never produced (an OpenAI client has no way to ask for it).
//!
//! Structured output: `response_format` `json_schema` becomes Anthropic's
//! `output_config.format` with the same schema (Anthropic enforces it as strictly as
//! OpenAI's `strict` mode; the schema's `name` and `description` have no counterpart).
//! `json_object` (any JSON object, no schema) is refused: Anthropic only constrains
//! output to a schema, and prompting for JSON is not the guarantee the client asked for.

use serde_json::{json, Map, Value};

use crate::translate::direction::Untranslatable;
use crate::translate::json_fields::{field, invalid, refuse};

const LANE: &str = "Anthropic";

fn no(field: &str, why: &str) -> Untranslatable {
    refuse(field, LANE, why)
}

/// Translates a Chat Completions body for an Anthropic lane serving `target_model`.
/// `default_max_tokens` fills Anthropic's required `max_tokens` when the client set no
/// limit.
pub fn chat_to_messages(
    body: &Map<String, Value>,
    target_model: &str,
    default_max_tokens: u64,
) -> Result<Map<String, Value>, Untranslatable> {
    check_top_level(body)?;
    let mut out = Map::new();
    out.insert("model".into(), Value::String(target_model.to_string()));

    let messages = field(body, "messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("`messages` must be an array"))?;
    let (system, turns) = translate_messages(messages)?;
    if let Some(system) = system {
        out.insert("system".into(), system);
    }
    out.insert("messages".into(), Value::Array(turns));

    // The newer field wins, as in `ParsedRequest`.
    let limit = match field(body, "max_completion_tokens").or_else(|| field(body, "max_tokens")) {
        Some(v) => v
            .as_u64()
            .filter(|n| *n > 0)
            .ok_or_else(|| invalid("the output token limit must be a positive integer"))?,
        None => default_max_tokens,
    };
    out.insert("max_tokens".into(), limit.into());

    if let Some(t) = field(body, "temperature") {
        let t = t
            .as_f64()
            .ok_or_else(|| invalid("`temperature` must be a number"))?;
        // OpenAI accepts 0..=2, Anthropic 0..=1; rescaling would change the sampling the
        // client asked for, so values above 1 are refused.
        if t > 1.0 {
            return Err(no("temperature", "Anthropic accepts values from 0 to 1"));
        }
        out.insert("temperature".into(), body["temperature"].clone());
    }
    if let Some(p) = field(body, "top_p") {
        if !p.is_number() {
            return Err(invalid("`top_p` must be a number"));
        }
        out.insert("top_p".into(), p.clone());
    }
    if let Some(stop) = field(body, "stop") {
        let sequences = match stop {
            Value::String(s) => vec![Value::String(s.clone())],
            Value::Array(a) if a.iter().all(Value::is_string) => a.clone(),
            _ => return Err(invalid("`stop` must be a string or an array of strings")),
        };
        if !sequences.is_empty() {
            out.insert("stop_sequences".into(), Value::Array(sequences));
        }
    }
    if let Some(stream) = field(body, "stream") {
        // `stream_options` has no counterpart: Anthropic streams always report usage and
        // the stream translator adds the usage chunk only if the client asked for it.
        out.insert("stream".into(), stream.clone());
    }
    let user = field(body, "user").or_else(|| field(body, "safety_identifier"));
    if let Some(user) = user {
        let user = user
            .as_str()
            .ok_or_else(|| invalid("`user` must be a string"))?;
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    translate_tools(body, &mut out)?;
    if let Some(format) = output_format(body)? {
        out.insert("output_config".into(), json!({"format": format}));
    }
    Ok(out)
}

/// A `json_schema` response format as Anthropic's structured-output format.
fn output_format(body: &Map<String, Value>) -> Result<Option<Value>, Untranslatable> {
    let Some(format) = field(body, "response_format") else {
        return Ok(None);
    };
    if format["type"] != "json_schema" {
        return Ok(None);
    }
    let schema = format["json_schema"]
        .get("schema")
        .filter(|s| s.is_object())
        .ok_or_else(|| invalid("`response_format.json_schema.schema` must be an object"))?;
    Ok(Some(json!({"type": "json_schema", "schema": schema})))
}

/// Refuses options that would change the answer and have no Anthropic counterpart,
/// and any field this translation does not know (a new OpenAI option is refused until
/// someone decides how to carry it, rather than silently dropped).
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
            | "user"
            | "safety_identifier"
            | "tools"
            | "tool_choice"
            | "parallel_tool_calls" => {}
            // Hints that do not change the answer: usage in streams (always reported by
            // Anthropic), OpenAI's own storage and dashboards, best-effort determinism,
            // OpenAI's cache routing and retention, predicted outputs (a latency
            // optimisation), and the service tier (latency and price, which Tollgate
            // accounts itself).
            "stream_options"
            | "store"
            | "metadata"
            | "seed"
            | "prompt_cache_key"
            | "prompt_cache_retention"
            | "prediction"
            | "service_tier" => {}
            "n" => {
                if value.as_u64() != Some(1) {
                    return Err(no("n", "Anthropic returns exactly one choice"));
                }
            }
            "logprobs" => {
                if value != &Value::Bool(false) {
                    return Err(no(
                        "logprobs",
                        "Anthropic does not return log probabilities",
                    ));
                }
            }
            "top_logprobs" => {
                if value.as_u64() != Some(0) {
                    return Err(no(
                        "top_logprobs",
                        "Anthropic does not return log probabilities",
                    ));
                }
            }
            "frequency_penalty" | "presence_penalty" => {
                if value.as_f64() != Some(0.0) {
                    return Err(no(key, "Anthropic has no repetition penalties"));
                }
            }
            "logit_bias" => {
                if value.as_object().is_none_or(|m| !m.is_empty()) {
                    return Err(no(key, "Anthropic has no token biasing"));
                }
            }
            "response_format" => match value.get("type").and_then(Value::as_str) {
                Some("text" | "json_schema") => {}
                Some("json_object") => return Err(no(
                    key,
                    "JSON mode without a schema is not enforced by this lane; use `json_schema`",
                )),
                _ => return Err(no(key, "only `text` and `json_schema` are translated")),
            },
            "modalities" => {
                let text_only = value
                    .as_array()
                    .is_some_and(|a| a.iter().all(|m| m == "text"));
                if !text_only {
                    return Err(no(key, "only text output is available"));
                }
            }
            "audio" => return Err(no(key, "audio output is not available")),
            "reasoning_effort" | "verbosity" => {
                return Err(no(key, "Anthropic models have no such setting"))
            }
            "functions" | "function_call" => {
                return Err(no(
                    key,
                    "the legacy function-calling API is not translated; use `tools`",
                ))
            }
            "web_search_options" => return Err(no(key, "OpenAI web search is not available")),
            _ => return Err(no(key, "this option is not supported by translation")),
        }
    }
    Ok(())
}

/// Splits the conversation into Anthropic's top-level `system` and its turns.
///
/// System and developer messages are hoisted to the top-level `system` in order,
/// wherever they appear: Anthropic has no mid-conversation system turns. Consecutive
/// messages with the same Anthropic role are merged into one turn (tool results become
/// user turns, and Anthropic wants the results of one assistant turn together, first,
/// in the next user turn).
fn translate_messages(messages: &[Value]) -> Result<(Option<Value>, Vec<Value>), Untranslatable> {
    let mut system: Vec<Value> = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let m = message
            .as_object()
            .ok_or_else(|| invalid(&format!("messages[{i}] must be an object")))?;
        let role = field(m, "role").and_then(Value::as_str).unwrap_or("");
        let (role, blocks) = match role {
            "system" | "developer" => {
                system.extend(text_blocks(field(m, "content"), i)?);
                continue;
            }
            "user" => ("user", user_blocks(field(m, "content"), i)?),
            "assistant" => ("assistant", assistant_blocks(m, i)?),
            "tool" => ("user", vec![tool_result(m, i)?]),
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
        // A message with nothing left (e.g. an empty assistant turn) carries nothing.
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let system = match system.len() {
        0 => None,
        1 => Some(system[0]["text"].clone()),
        _ => Some(Value::Array(system)),
    };
    let turns = turns
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    Ok((system, turns))
}

fn text_block(text: &str) -> Option<Value> {
    // Anthropic rejects empty text blocks; an empty text says nothing, so it goes.
    (!text.is_empty()).then(|| json!({"type": "text", "text": text}))
}

/// Text-only content (system, developer, tool results): a string or text parts.
fn text_blocks(content: Option<&Value>, i: usize) -> Result<Vec<Value>, Untranslatable> {
    match content {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(text_block(s).into_iter().collect()),
        Some(Value::Array(parts)) => {
            let mut out = Vec::new();
            for part in parts {
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => out.extend(text_block(part_text(part, i)?)),
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

fn part_text(part: &Value, i: usize) -> Result<&str, Untranslatable> {
    part.get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(&format!("messages[{i}] has a text part without `text`")))
}

fn user_blocks(content: Option<&Value>, i: usize) -> Result<Vec<Value>, Untranslatable> {
    let Some(Value::Array(parts)) = content else {
        return text_blocks(content, i);
    };
    let mut out = Vec::new();
    for part in parts {
        let kind = part
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("untyped");
        match kind {
            "text" => out.extend(text_block(part_text(part, i)?)),
            "image_url" => out.push(image_block(part, i)?),
            "input_audio" => {
                return Err(no(
                    &format!("messages[{i}].content"),
                    "audio input is not available",
                ))
            }
            "file" => {
                return Err(no(
                    &format!("messages[{i}].content"),
                    "file and PDF inputs are not translated",
                ))
            }
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

/// An OpenAI image part as an Anthropic image block: a base64 `data:` URL becomes a
/// base64 source, an http(s) URL a URL source. `detail` is a resolution hint with no
/// Anthropic counterpart and is dropped.
fn image_block(part: &Value, i: usize) -> Result<Value, Untranslatable> {
    let image = &part["image_url"];
    let url = image
        .get("url")
        .or(Some(image))
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(&format!("messages[{i}] has an image part without a url")))?;
    let where_ = format!("messages[{i}].content.image_url");
    if let Some(rest) = url.strip_prefix("data:") {
        let (media_type, data) = rest
            .split_once(";base64,")
            .ok_or_else(|| no(&where_, "only base64 `data:` URLs can be translated"))?;
        let media_type = match media_type.to_ascii_lowercase().as_str() {
            "image/jpeg" | "image/jpg" => "image/jpeg",
            "image/png" => "image/png",
            "image/gif" => "image/gif",
            "image/webp" => "image/webp",
            other => {
                return Err(no(
                    &where_,
                    &format!("`{other}` images are not accepted (jpeg, png, gif, webp are)"),
                ))
            }
        };
        return Ok(json!({
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data}
        }));
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    Err(no(
        &where_,
        "only http(s) and base64 data URLs can be translated",
    ))
}

/// Anthropic tool ids must match `^[a-zA-Z0-9_-]+$`; OpenAI's are free-form. The same
/// mapping is applied to `tool_calls[].id` and `tool_call_id`, so pairs still match.
fn tool_id(id: &str) -> String {
    let cleaned: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "toolu_".into()
    } else {
        cleaned
    }
}

fn assistant_blocks(m: &Map<String, Value>, i: usize) -> Result<Vec<Value>, Untranslatable> {
    if field(m, "audio").is_some() {
        return Err(no(
            &format!("messages[{i}].audio"),
            "audio is not available",
        ));
    }
    if field(m, "function_call").is_some() {
        return Err(no(
            &format!("messages[{i}].function_call"),
            "the legacy function-calling API is not translated; use `tool_calls`",
        ));
    }
    let mut out = Vec::new();
    match field(m, "content") {
        Some(Value::Array(parts)) => {
            for part in parts {
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => out.extend(text_block(part_text(part, i)?)),
                    // A past refusal stays in the history as what the model said.
                    Some("refusal") => out.extend(text_block(
                        part.get("refusal").and_then(Value::as_str).unwrap_or(""),
                    )),
                    other => {
                        return Err(no(
                            &format!("messages[{i}].content"),
                            &format!("`{}` parts are not translated", other.unwrap_or("untyped")),
                        ))
                    }
                }
            }
        }
        other => out.extend(text_blocks(other, i)?),
    }
    if let Some(calls) = field(m, "tool_calls") {
        let calls = calls
            .as_array()
            .ok_or_else(|| invalid(&format!("messages[{i}].tool_calls must be an array")))?;
        for call in calls {
            out.push(tool_use_block(call, i)?);
        }
    }
    Ok(out)
}

fn tool_use_block(call: &Value, i: usize) -> Result<Value, Untranslatable> {
    let kind = call
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("function");
    if kind != "function" {
        return Err(no(
            &format!("messages[{i}].tool_calls"),
            &format!("`{kind}` tool calls are not translated"),
        ));
    }
    let id = call.get("id").and_then(Value::as_str).unwrap_or("");
    let name = call["function"]["name"].as_str().ok_or_else(|| {
        invalid(&format!(
            "messages[{i}].tool_calls has a call without a name"
        ))
    })?;
    let arguments = call["function"]["arguments"].as_str().unwrap_or("");
    // Anthropic keeps the input as an object; arguments that are not one cannot be
    // carried without changing them.
    let input = if arguments.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        match serde_json::from_str::<Value>(arguments) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return Err(no(
                    &format!("messages[{i}].tool_calls"),
                    &format!("the arguments of call `{id}` are not a JSON object"),
                ))
            }
        }
    };
    Ok(json!({"type": "tool_use", "id": tool_id(id), "name": name, "input": input}))
}

fn tool_result(m: &Map<String, Value>, i: usize) -> Result<Value, Untranslatable> {
    let id = field(m, "tool_call_id")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(&format!("messages[{i}] (tool) needs `tool_call_id`")))?;
    let mut block = json!({"type": "tool_result", "tool_use_id": tool_id(id)});
    match field(m, "content") {
        Some(Value::String(s)) if !s.is_empty() => block["content"] = Value::String(s.clone()),
        content => {
            let blocks = text_blocks(content, i)?;
            if !blocks.is_empty() {
                block["content"] = Value::Array(blocks);
            }
        }
    }
    Ok(block)
}

/// `tools`, `tool_choice` and `parallel_tool_calls`.
fn translate_tools(
    body: &Map<String, Value>,
    out: &mut Map<String, Value>,
) -> Result<(), Untranslatable> {
    let mut tools = Vec::new();
    if let Some(list) = field(body, "tools") {
        let list = list
            .as_array()
            .ok_or_else(|| invalid("`tools` must be an array"))?;
        for tool in list {
            let kind = tool.get("type").and_then(Value::as_str).unwrap_or("");
            if kind != "function" {
                return Err(no("tools", &format!("`{kind}` tools are not translated")));
            }
            let f = &tool["function"];
            let name = f["name"]
                .as_str()
                .ok_or_else(|| invalid("every tool needs `function.name`"))?;
            // `strict` (guaranteed schema adherence) is dropped: Anthropic's tool use
            // follows the schema without a switch for it.
            let schema = match f.get("parameters") {
                Some(p) if p.is_object() => p.clone(),
                _ => json!({"type": "object", "properties": {}}),
            };
            let mut t = json!({"name": name, "input_schema": schema});
            if let Some(d) = f.get("description").filter(|d| d.is_string()) {
                t["description"] = d.clone();
            }
            tools.push(t);
        }
    }

    let parallel = field(body, "parallel_tool_calls").and_then(Value::as_bool);
    let mut choice = match field(body, "tool_choice") {
        None => None,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Some(json!({"type": "auto"})),
            "none" => Some(json!({"type": "none"})),
            "required" => Some(json!({"type": "any"})),
            other => return Err(invalid(&format!("unknown `tool_choice` `{other}`"))),
        },
        Some(c) => match (c["type"].as_str(), c["function"]["name"].as_str()) {
            (Some("function"), Some(name)) => Some(json!({"type": "tool", "name": name})),
            _ => {
                return Err(no(
                    "tool_choice",
                    "only auto, none, required and a named function are translated",
                ))
            }
        },
    };
    if tools.is_empty() {
        // Nothing to choose from: Anthropic rejects a choice without tools.
        return match choice {
            Some(c) if c["type"] != "none" => Err(invalid("`tool_choice` needs `tools`")),
            _ => Ok(()),
        };
    }
    if parallel == Some(false) {
        let c = choice.get_or_insert_with(|| json!({"type": "auto"}));
        if c["type"] != "none" {
            c["disable_parallel_tool_use"] = Value::Bool(true);
        }
    }
    out.insert("tools".into(), Value::Array(tools));
    if let Some(c) = choice {
        out.insert("tool_choice".into(), c);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(body: Value) -> Result<Value, Untranslatable> {
        let Value::Object(body) = body else {
            panic!("test body must be an object")
        };
        let out = chat_to_messages(&body, "claude-haiku-4-5", 4096)?;
        // Valid JSON all the way through.
        let bytes = serde_json::to_vec(&out).unwrap();
        Ok(serde_json::from_slice(&bytes).unwrap())
    }

    fn refusal(body: Value) -> String {
        translate(body).unwrap_err().0
    }

    #[test]
    fn system_and_multi_turn() {
        let out = translate(json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Bonjour"},
                {"role": "user", "content": [{"type": "text", "text": "How are you?"}], "name": "al"}
            ],
            "max_tokens": 50,
            "temperature": 0.5,
            "top_p": 0.9,
            "stop": "END",
            "user": "alice",
            "stream": false,
            "seed": 3
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({
                "model": "claude-haiku-4-5",
                "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use French."}],
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                    {"role": "assistant", "content": [{"type": "text", "text": "Bonjour"}]},
                    {"role": "user", "content": [{"type": "text", "text": "How are you?"}]}
                ],
                "max_tokens": 50,
                "temperature": 0.5,
                "top_p": 0.9,
                "stop_sequences": ["END"],
                "metadata": {"user_id": "alice"},
                "stream": false
            })
        );
    }

    #[test]
    fn single_system_is_a_string_and_limits_default() {
        let out = translate(json!({
            "model": "m",
            "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}],
            "stream": true,
            "stream_options": {"include_usage": true},
            "stop": ["a", "b"]
        }))
        .unwrap();
        assert_eq!(out["system"], "S");
        assert_eq!(out["max_tokens"], 4096);
        assert_eq!(out["stream"], true);
        assert_eq!(out["stop_sequences"], json!(["a", "b"]));
        assert!(out.get("stream_options").is_none());

        let out = translate(json!({"model": "m", "messages": [],
            "max_tokens": 10, "max_completion_tokens": 20}))
        .unwrap();
        assert_eq!(out["max_tokens"], 20);
        assert!(out.get("system").is_none());
    }

    #[test]
    fn images_by_data_url_and_http_url() {
        let out = translate(json!({
            "model": "m",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0=", "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
            ]}]
        }))
        .unwrap();
        assert_eq!(
            out["messages"][0]["content"],
            json!([
                {"type": "text", "text": "What is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0="}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
            ])
        );
        let bad = |url: &str| {
            refusal(
                json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": url}}]}]}),
            )
        };
        assert!(bad("data:image/tiff;base64,AA").contains("image/tiff"));
        assert!(bad("data:image/png,raw").contains("base64"));
        assert!(bad("ftp://x/y.png").contains("image_url"));
    }

    #[test]
    fn tools_calls_and_results() {
        let out = translate(json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call.2", "type": "function", "function": {"name": "weather", "arguments": ""}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
                {"role": "tool", "tool_call_id": "call.2", "content": [{"type": "text", "text": "21C"}]},
                {"role": "user", "content": "Thanks"}
            ],
            "tools": [
                {"type": "function", "function": {"name": "weather", "description": "Weather by city",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true}},
                {"type": "function", "function": {"name": "now"}}
            ],
            "tool_choice": "required",
            "parallel_tool_calls": false
        }))
        .unwrap();
        assert_eq!(
            out["messages"],
            json!([
                {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "call_2", "name": "weather", "input": {}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "21C"}]},
                    {"type": "text", "text": "Thanks"}
                ]}
            ])
        );
        assert_eq!(
            out["tools"],
            json!([
                {"name": "weather", "description": "Weather by city",
                 "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
                {"name": "now", "input_schema": {"type": "object", "properties": {}}}
            ])
        );
        assert_eq!(
            out["tool_choice"],
            json!({"type": "any", "disable_parallel_tool_use": true})
        );
    }

    #[test]
    fn tool_choice_variants() {
        let choice = |c: Value| {
            translate(json!({"model": "m", "messages": [], "tool_choice": c,
                "tools": [{"type": "function", "function": {"name": "f"}}]}))
            .map(|o| o["tool_choice"].clone())
        };
        assert_eq!(choice(json!("auto")).unwrap(), json!({"type": "auto"}));
        assert_eq!(choice(json!("none")).unwrap(), json!({"type": "none"}));
        assert_eq!(
            choice(json!({"type": "function", "function": {"name": "f"}})).unwrap(),
            json!({"type": "tool", "name": "f"})
        );
        assert!(choice(json!({"type": "allowed_tools"})).is_err());
        // No tools: a `none` choice is moot, anything else is an error.
        let out = translate(json!({"model": "m", "messages": [], "tool_choice": "none"})).unwrap();
        assert!(out.get("tool_choice").is_none() && out.get("tools").is_none());
        assert!(translate(json!({"model": "m", "messages": [], "tool_choice": "auto"})).is_err());
    }

    #[test]
    fn empty_turns_are_dropped_and_same_roles_merged() {
        let out = translate(json!({"model": "m", "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": "b"}
        ]}))
        .unwrap();
        assert_eq!(
            out["messages"],
            json!([{"role": "user", "content": [
                {"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}])
        );
    }

    #[test]
    fn untranslatable_features_are_refused_by_name() {
        let base = |extra: Value| {
            let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            body
        };
        for (extra, named) in [
            (json!({"n": 2}), "`n`"),
            (json!({"logprobs": true}), "`logprobs`"),
            (json!({"top_logprobs": 3}), "`top_logprobs`"),
            (json!({"frequency_penalty": 0.5}), "`frequency_penalty`"),
            (json!({"presence_penalty": -1}), "`presence_penalty`"),
            (json!({"logit_bias": {"50256": -100}}), "`logit_bias`"),
            (
                json!({"response_format": {"type": "json_object"}}),
                "`response_format`",
            ),
            (
                json!({"response_format": {"type": "grammar"}}),
                "`response_format`",
            ),
            (json!({"modalities": ["text", "audio"]}), "`modalities`"),
            (json!({"audio": {"voice": "alloy"}}), "`audio`"),
            (json!({"reasoning_effort": "high"}), "`reasoning_effort`"),
            (json!({"functions": []}), "`functions`"),
            (json!({"temperature": 1.5}), "`temperature`"),
            (json!({"brand_new_option": 1}), "`brand_new_option`"),
            (
                json!({"tools": [{"type": "custom", "custom": {"name": "x"}}]}),
                "`tools`",
            ),
        ] {
            let msg = refusal(base(extra.clone()));
            assert!(msg.contains(named), "{extra}: {msg}");
            assert!(msg.contains("Anthropic"), "{msg}");
        }
        // Neutral values of the same options pass.
        translate(base(
            json!({"n": 1, "logprobs": false, "frequency_penalty": 0,
            "presence_penalty": 0.0, "response_format": {"type": "text"}, "logit_bias": {},
            "modalities": ["text"], "temperature": null}),
        ))
        .unwrap();

        let msg = |m: Value| refusal(json!({"model": "m", "messages": [m]}));
        assert!(
            msg(json!({"role": "user", "content": [{"type": "input_audio",
            "input_audio": {"data": "", "format": "wav"}}]}))
            .contains("audio")
        );
        assert!(msg(json!({"role": "user", "content": [{"type": "file",
            "file": {"file_data": "data:application/pdf;base64,AA"}}]}))
        .contains("PDF"));
        assert!(msg(
            json!({"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
            "function": {"name": "f", "arguments": "[1]"}}]})
        )
        .contains("JSON object"));
        assert!(msg(json!({"role": "function", "name": "f", "content": "x"})).contains("legacy"));
        assert!(msg(json!({"role": "wizard", "content": "x"})).contains("unknown role"));
    }

    #[test]
    fn json_schema_response_format_becomes_output_config() {
        let schema = json!({"type": "object", "properties": {"name": {"type": "string"}},
            "required": ["name"], "additionalProperties": false});
        let out = translate(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema",
                "json_schema": {"name": "Person", "strict": true, "schema": schema}}}),
        )
        .unwrap();
        assert_eq!(
            out["output_config"],
            json!({"format": {"type": "json_schema", "schema": schema}})
        );
        assert!(out.get("response_format").is_none());
        // A text format asks for nothing.
        let out = translate(json!({"model": "m", "messages": [],
            "response_format": {"type": "text"}}))
        .unwrap();
        assert!(out.get("output_config").is_none());
        assert!(refusal(json!({"model": "m", "messages": [],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}))
        .contains("json_schema.schema"));
    }

    #[test]
    fn malformed_bodies_are_invalid_requests() {
        assert!(refusal(json!({"model": "m"})).contains("`messages`"));
        assert!(
            refusal(json!({"model": "m", "messages": [], "max_tokens": 0}))
                .contains("positive integer")
        );
        assert!(refusal(json!({"model": "m", "messages": [], "stop": 3})).contains("`stop`"));
    }
}
