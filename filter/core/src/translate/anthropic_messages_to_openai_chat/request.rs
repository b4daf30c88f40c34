//! An Anthropic Messages request rewritten as an OpenAI Chat Completions request.
//!
//! Dropped without refusal, because they cannot change what the model answers:
//! `cache_control` on any block or tool (a cost hint; OpenAI caches prompt prefixes
//! automatically), `citations` on past text blocks, `service_tier`, thinking blocks of
//! earlier assistant turns, and `is_error` on tool results (the result's text carries
//! the failure; OpenAI has no flag for it).
//!
//! Structured output: `output_config.format` (or the beta's `output_format`) of type
//! `json_schema` becomes `response_format` `json_schema` with `strict: true`, OpenAI's
//! switch for the same guarantee Anthropic gives. A schema strict mode cannot enforce
//! is refused by OpenAI, not silently loosened.

use serde_json::{json, Map, Value};

use crate::translate::direction::Untranslatable;
use crate::translate::json_fields::{field, invalid, refuse};

const LANE: &str = "OpenAI";

fn no(field: &str, why: &str) -> Untranslatable {
    refuse(field, LANE, why)
}

/// Translates a Messages body for an OpenAI chat lane serving `target_model`.
///
/// Streams ask the lane for `stream_options.include_usage`: the Anthropic client reads
/// usage from `message_delta`, which the stream translator fills from the final usage
/// chunk.
pub fn messages_to_chat(
    body: &Map<String, Value>,
    target_model: &str,
) -> Result<Map<String, Value>, Untranslatable> {
    check_top_level(body)?;
    let mut out = Map::new();
    out.insert("model".into(), Value::String(target_model.to_string()));

    let mut messages = Vec::new();
    if let Some(system) = field(body, "system") {
        let content = text_content(system, "system")?;
        if !content.is_null() {
            messages.push(json!({"role": "system", "content": content}));
        }
    }
    let turns = field(body, "messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("`messages` must be an array"))?;
    for (i, turn) in turns.iter().enumerate() {
        translate_turn(turn, i, &mut messages)?;
    }
    out.insert("messages".into(), Value::Array(messages));

    if let Some(limit) = field(body, "max_tokens") {
        let limit = limit
            .as_u64()
            .filter(|n| *n > 0)
            .ok_or_else(|| invalid("`max_tokens` must be a positive integer"))?;
        // `max_completion_tokens` is the field every current OpenAI model accepts
        // (reasoning models reject `max_tokens`).
        out.insert("max_completion_tokens".into(), limit.into());
    }
    for key in ["temperature", "top_p"] {
        if let Some(v) = field(body, key) {
            if !v.is_number() {
                return Err(invalid(&format!("`{key}` must be a number")));
            }
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(stop) = field(body, "stop_sequences") {
        let stop = stop
            .as_array()
            .filter(|a| a.iter().all(Value::is_string))
            .ok_or_else(|| invalid("`stop_sequences` must be an array of strings"))?;
        if !stop.is_empty() {
            out.insert("stop".into(), Value::Array(stop.clone()));
        }
    }
    if let Some(stream) = field(body, "stream") {
        let stream = stream
            .as_bool()
            .ok_or_else(|| invalid("`stream` must be a boolean"))?;
        out.insert("stream".into(), Value::Bool(stream));
        if stream {
            out.insert("stream_options".into(), json!({"include_usage": true}));
        }
    }
    if let Some(user) = field(body, "metadata").and_then(|m| m.get("user_id")) {
        if !user.is_null() {
            let user = user
                .as_str()
                .ok_or_else(|| invalid("`metadata.user_id` must be a string"))?;
            out.insert("user".into(), Value::String(user.to_string()));
        }
    }
    translate_tools(body, &mut out)?;
    if let Some(format) = response_format(body)? {
        out.insert("response_format".into(), format);
    }
    Ok(out)
}

/// Anthropic's structured-output format as OpenAI's `json_schema` response format.
fn response_format(body: &Map<String, Value>) -> Result<Option<Value>, Untranslatable> {
    let format = field(body, "output_config")
        .and_then(|c| c.get("format"))
        .filter(|f| !f.is_null())
        .or_else(|| field(body, "output_format"));
    let Some(format) = format else {
        return Ok(None);
    };
    let schema = format
        .get("schema")
        .filter(|s| s.is_object())
        .ok_or_else(|| invalid("the output format's `schema` must be an object"))?;
    Ok(Some(json!({
        "type": "json_schema",
        "json_schema": {"name": "output", "strict": true, "schema": schema}
    })))
}

fn check_top_level(body: &Map<String, Value>) -> Result<(), Untranslatable> {
    for (key, value) in body {
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "model" | "messages" | "system" | "max_tokens" | "temperature" | "top_p"
            | "stop_sequences" | "stream" | "tools" | "tool_choice" => {}
            "output_config" | "output_format" => {
                let format = if key == "output_config" {
                    let only_format = value
                        .as_object()
                        .is_some_and(|m| m.keys().all(|k| k == "format"));
                    if !only_format {
                        return Err(no(key, "only `output_config.format` is translated"));
                    }
                    &value["format"]
                } else {
                    value
                };
                if !format.is_null() && format["type"] != "json_schema" {
                    return Err(no(key, "only `json_schema` formats are translated"));
                }
            }
            // `service_tier` chooses latency and price, which Tollgate accounts itself.
            "service_tier" => {}
            "metadata" => {
                let only_user = value
                    .as_object()
                    .is_some_and(|m| m.keys().all(|k| k == "user_id"));
                if !only_user {
                    return Err(no(key, "only `metadata.user_id` is translated"));
                }
            }
            "thinking" => {
                if value.get("type").and_then(Value::as_str) != Some("disabled") {
                    return Err(no(
                        key,
                        "extended thinking blocks cannot be produced by this lane",
                    ));
                }
            }
            "top_k" => return Err(no(key, "OpenAI has no top-k sampling")),
            _ => return Err(no(key, "this option is not supported by translation")),
        }
    }
    Ok(())
}

/// Text-only content (system prompt, tool results): a string, or text blocks as OpenAI
/// text parts. `Null` when there is no text at all.
fn text_content(content: &Value, place: &str) -> Result<Value, Untranslatable> {
    match content {
        Value::String(s) if s.is_empty() => Ok(Value::Null),
        Value::String(s) => Ok(Value::String(s.clone())),
        Value::Array(blocks) => {
            let mut parts = Vec::new();
            for block in blocks {
                match block.get("type").and_then(Value::as_str) {
                    // `cache_control` (a cost hint) and `citations` are dropped.
                    Some("text") => parts.push(text_part(block, place)?),
                    other => {
                        return Err(no(
                            place,
                            &format!(
                                "`{}` blocks are not allowed here",
                                other.unwrap_or("untyped")
                            ),
                        ))
                    }
                }
            }
            Ok(match parts.len() {
                0 => Value::Null,
                1 => parts[0]["text"].clone(),
                _ => Value::Array(parts),
            })
        }
        _ => Err(invalid(&format!("`{place}` must be a string or an array"))),
    }
}

fn text_part(block: &Value, place: &str) -> Result<Value, Untranslatable> {
    let text = block
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(&format!("a text block in `{place}` has no `text`")))?;
    Ok(json!({"type": "text", "text": text}))
}

fn translate_turn(turn: &Value, i: usize, out: &mut Vec<Value>) -> Result<(), Untranslatable> {
    let place = format!("messages[{i}].content");
    let content = turn
        .get("content")
        .ok_or_else(|| invalid(&format!("messages[{i}] has no content")))?;
    match turn.get("role").and_then(Value::as_str) {
        Some("user") => user_turn(content, &place, out),
        Some("assistant") => assistant_turn(content, &place, out),
        _ => Err(invalid(&format!(
            "messages[{i}].role must be `user` or `assistant`"
        ))),
    }
}

/// A user turn: its tool results become `tool` messages, which OpenAI wants directly
/// after the assistant message that made the calls; the rest becomes one user message.
fn user_turn(content: &Value, place: &str, out: &mut Vec<Value>) -> Result<(), Untranslatable> {
    let blocks = match content {
        Value::String(s) => {
            out.push(json!({"role": "user", "content": s}));
            return Ok(());
        }
        Value::Array(blocks) => blocks,
        _ => return Err(invalid(&format!("`{place}` must be a string or an array"))),
    };
    let mut parts = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => parts.push(text_part(block, place)?),
            Some("image") => parts.push(image_part(block, place)?),
            Some("tool_result") => out.push(tool_message(block, place)?),
            Some("document") => {
                return Err(no(place, "document and PDF blocks are not translated"))
            }
            other => {
                return Err(no(
                    place,
                    &format!("`{}` blocks are not translated", other.unwrap_or("untyped")),
                ))
            }
        }
    }
    if !parts.is_empty() {
        out.push(json!({"role": "user", "content": parts}));
    }
    Ok(())
}

/// An Anthropic image block as an OpenAI `image_url` part: base64 sources become
/// `data:` URLs.
fn image_part(block: &Value, place: &str) -> Result<Value, Untranslatable> {
    let source = &block["source"];
    let url = match source["type"].as_str() {
        Some("base64") => {
            let (Some(media_type), Some(data)) =
                (source["media_type"].as_str(), source["data"].as_str())
            else {
                return Err(invalid(&format!(
                    "an image in `{place}` lacks media_type or data"
                )));
            };
            format!("data:{media_type};base64,{data}")
        }
        Some("url") => source["url"]
            .as_str()
            .ok_or_else(|| invalid(&format!("an image in `{place}` lacks its url")))?
            .to_string(),
        other => {
            return Err(no(
                place,
                &format!(
                    "`{}` image sources are not translated",
                    other.unwrap_or("untyped")
                ),
            ))
        }
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

/// A `tool_result` block as a `tool` message. `is_error` has no OpenAI counterpart and
/// is dropped: the result's text is what tells the model what went wrong.
fn tool_message(block: &Value, place: &str) -> Result<Value, Untranslatable> {
    let id = block["tool_use_id"]
        .as_str()
        .ok_or_else(|| invalid(&format!("a tool_result in `{place}` has no tool_use_id")))?;
    let content = block.get("content").unwrap_or(&Value::Null);
    // OpenAI tool messages hold text only.
    let only_text = content
        .as_array()
        .is_none_or(|blocks| blocks.iter().all(|b| b["type"] == "text"));
    if !only_text {
        return Err(no(
            place,
            "tool results other than text (e.g. images) are not translated",
        ));
    }
    let content = match content {
        Value::Null => Value::Null,
        c => text_content(c, place)?,
    };
    let content = if content.is_null() {
        Value::String(String::new())
    } else {
        content
    };
    Ok(json!({"role": "tool", "tool_call_id": id, "content": content}))
}

fn assistant_turn(
    content: &Value,
    place: &str,
    out: &mut Vec<Value>,
) -> Result<(), Untranslatable> {
    let blocks = match content {
        Value::String(s) => {
            out.push(json!({"role": "assistant", "content": s}));
            return Ok(());
        }
        Value::Array(blocks) => blocks,
        _ => return Err(invalid(&format!("`{place}` must be a string or an array"))),
    };
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => parts.push(text_part(block, place)?),
            Some("tool_use") => {
                let (Some(id), Some(name)) = (block["id"].as_str(), block["name"].as_str()) else {
                    return Err(invalid(&format!(
                        "a tool_use in `{place}` lacks id or name"
                    )));
                };
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                calls.push(json!({
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": input.to_string()}
                }));
            }
            // Thinking from an earlier turn is context Anthropic itself drops from
            // earlier turns; an OpenAI model cannot read it.
            Some("thinking" | "redacted_thinking") => {}
            other => {
                return Err(no(
                    place,
                    &format!("`{}` blocks are not translated", other.unwrap_or("untyped")),
                ))
            }
        }
    }
    if parts.is_empty() && calls.is_empty() {
        return Ok(());
    }
    let content = match parts.len() {
        0 => Value::Null,
        1 => parts[0]["text"].clone(),
        _ => Value::Array(parts),
    };
    let mut message = json!({"role": "assistant", "content": content});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    out.push(message);
    Ok(())
}

/// `tools` and `tool_choice` (with `disable_parallel_tool_use`).
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
            // Client tools have no type (or `custom`); typed ones (web search, bash,
            // text editor, computer use...) run on Anthropic's side.
            match tool.get("type").and_then(Value::as_str) {
                None | Some("custom") => {}
                Some(kind) => {
                    return Err(no(
                        "tools",
                        &format!("the `{kind}` server tool is not available"),
                    ))
                }
            }
            let name = tool["name"]
                .as_str()
                .ok_or_else(|| invalid("every tool needs a `name`"))?;
            let mut function = json!({
                "name": name,
                "parameters": tool.get("input_schema").cloned()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            });
            if let Some(d) = tool.get("description").filter(|d| d.is_string()) {
                function["description"] = d.clone();
            }
            tools.push(json!({"type": "function", "function": function}));
        }
    }
    let Some(choice) = field(body, "tool_choice") else {
        if !tools.is_empty() {
            out.insert("tools".into(), Value::Array(tools));
        }
        return Ok(());
    };
    let (choice, no_parallel) = match choice["type"].as_str() {
        Some("auto") => (json!("auto"), choice["disable_parallel_tool_use"] == true),
        Some("any") => (
            json!("required"),
            choice["disable_parallel_tool_use"] == true,
        ),
        Some("none") => (json!("none"), false),
        Some("tool") => {
            let name = choice["name"]
                .as_str()
                .ok_or_else(|| invalid("`tool_choice` of type tool needs a `name`"))?;
            (
                json!({"type": "function", "function": {"name": name}}),
                choice["disable_parallel_tool_use"] == true,
            )
        }
        _ => {
            return Err(invalid(
                "`tool_choice.type` must be auto, any, tool or none",
            ))
        }
    };
    if tools.is_empty() {
        // OpenAI rejects a choice and parallel_tool_calls without tools.
        return if choice == "none" {
            Ok(())
        } else {
            Err(invalid("`tool_choice` needs `tools`"))
        };
    }
    out.insert("tools".into(), Value::Array(tools));
    out.insert("tool_choice".into(), choice);
    if no_parallel {
        out.insert("parallel_tool_calls".into(), Value::Bool(false));
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
        let out = messages_to_chat(&body, "gpt-4o-mini")?;
        let bytes = serde_json::to_vec(&out).unwrap();
        Ok(serde_json::from_slice(&bytes).unwrap())
    }

    fn refusal(body: Value) -> String {
        translate(body).unwrap_err().0
    }

    #[test]
    fn system_and_multi_turn() {
        let out = translate(json!({
            "model": "claude-sonnet-4-5",
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]},
                {"role": "user", "content": [{"type": "text", "text": "Again"}, {"type": "text", "text": "please"}]}
            ],
            "max_tokens": 100,
            "temperature": 0.2,
            "top_p": 0.8,
            "stop_sequences": ["END"],
            "metadata": {"user_id": "u-1"},
            "service_tier": "auto",
            "thinking": {"type": "disabled"}
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello"},
                    {"role": "user", "content": [{"type": "text", "text": "Again"}, {"type": "text", "text": "please"}]}
                ],
                "max_completion_tokens": 100,
                "temperature": 0.2,
                "top_p": 0.8,
                "stop": ["END"],
                "user": "u-1"
            })
        );
    }

    #[test]
    fn multiple_system_blocks_and_streams() {
        let out = translate(json!({
            "model": "c", "max_tokens": 5, "stream": true,
            "system": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}],
            "messages": [{"role": "user", "content": "x"}]
        }))
        .unwrap();
        assert_eq!(
            out["messages"][0],
            json!({"role": "system", "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]})
        );
        assert_eq!(out["stream"], true);
        assert_eq!(out["stream_options"], json!({"include_usage": true}));
        let out = translate(
            json!({"model": "c", "max_tokens": 5, "stream": false, "system": "",
            "messages": []}),
        )
        .unwrap();
        assert!(out.get("stream_options").is_none());
        assert_eq!(out["messages"], json!([]));
    }

    #[test]
    fn images_both_sources() {
        let out = translate(json!({"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4A=="}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
            {"type": "text", "text": "Compare"}
        ]}]}))
        .unwrap();
        assert_eq!(
            out["messages"][0]["content"],
            json!([
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4A=="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                {"type": "text", "text": "Compare"}
            ])
        );
        assert!(refusal(
            json!({"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "file", "file_id": "f"}}]}]})
        )
        .contains("`file` image sources"));
    }

    #[test]
    fn tool_use_and_results() {
        let out = translate(json!({
            "model": "c", "max_tokens": 50,
            "tools": [{"name": "weather", "description": "By city",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
                "cache_control": {"type": "ephemeral"}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "messages": [
                {"role": "user", "content": "Paris and Rome?"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hm", "signature": "s"},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {"city": "Rome"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true,
                        "content": [{"type": "text", "text": "timeout"}]},
                    {"type": "text", "text": "And London?"}
                ]}
            ]
        }))
        .unwrap();
        assert_eq!(
            out["messages"],
            json!([
                {"role": "user", "content": "Paris and Rome?"},
                {"role": "assistant", "content": "Checking.", "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "toolu_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
                {"role": "tool", "tool_call_id": "toolu_2", "content": "timeout"},
                {"role": "user", "content": [{"type": "text", "text": "And London?"}]}
            ])
        );
        assert_eq!(
            out["tools"],
            json!([{"type": "function", "function": {"name": "weather", "description": "By city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])
        );
        assert_eq!(out["tool_choice"], "required");
        assert_eq!(out["parallel_tool_calls"], false);
    }

    #[test]
    fn tool_choice_variants() {
        let choice = |c: Value| {
            translate(
                json!({"model": "c", "max_tokens": 5, "messages": [], "tool_choice": c,
                "tools": [{"name": "f", "input_schema": {"type": "object"}}]}),
            )
            .map(|o| {
                (
                    o["tool_choice"].clone(),
                    o.get("parallel_tool_calls").cloned(),
                )
            })
        };
        assert_eq!(
            choice(json!({"type": "auto"})).unwrap(),
            (json!("auto"), None)
        );
        assert_eq!(
            choice(json!({"type": "none"})).unwrap(),
            (json!("none"), None)
        );
        assert_eq!(
            choice(json!({"type": "tool", "name": "f", "disable_parallel_tool_use": true}))
                .unwrap(),
            (
                json!({"type": "function", "function": {"name": "f"}}),
                Some(json!(false))
            )
        );
        assert!(choice(json!({"type": "magic"})).is_err());
        assert!(
            translate(json!({"model": "c", "max_tokens": 5, "messages": [],
            "tool_choice": {"type": "any"}}))
            .is_err()
        );
    }

    #[test]
    fn untranslatable_features_are_refused_by_name() {
        let base = |extra: Value| {
            let mut body = json!({"model": "c", "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}]});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            body
        };
        for (extra, named) in [
            (
                json!({"thinking": {"type": "enabled", "budget_tokens": 1024}}),
                "`thinking`",
            ),
            (json!({"top_k": 5}), "`top_k`"),
            (json!({"mcp_servers": []}), "`mcp_servers`"),
            (json!({"container": "c"}), "`container`"),
            (
                json!({"metadata": {"user_id": "u", "other": 1}}),
                "`metadata`",
            ),
            (
                json!({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
                "`tools`",
            ),
            (
                json!({"output_config": {"effort": "low"}}),
                "`output_config`",
            ),
            (
                json!({"output_format": {"type": "regex"}}),
                "`output_format`",
            ),
        ] {
            let msg = refusal(base(extra.clone()));
            assert!(msg.contains(named), "{extra}: {msg}");
            assert!(msg.contains("OpenAI"), "{msg}");
        }
        let msg = |content: Value| {
            refusal(json!({"model": "c", "max_tokens": 5,
                "messages": [{"role": "user", "content": content}]}))
        };
        assert!(msg(json!([{"type": "document", "source": {"type": "base64",
            "media_type": "application/pdf", "data": "AA"}}]))
        .contains("PDF"));
        assert!(msg(
            json!([{"type": "tool_result", "tool_use_id": "t", "content": [
            {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]}])
        )
        .contains("tool results other than text"));
        assert!(msg(json!([{"type": "search_result"}])).contains("`search_result`"));
        assert!(msg(json!(3)).contains("invalid request"));
        assert!(
            refusal(json!({"model": "c", "max_tokens": 0, "messages": []}))
                .contains("positive integer")
        );
    }

    #[test]
    fn structured_output_becomes_a_strict_json_schema_format() {
        let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}},
            "required": ["n"], "additionalProperties": false});
        let expected = json!({"type": "json_schema",
            "json_schema": {"name": "output", "strict": true, "schema": schema}});
        for key in ["output_config", "output_format"] {
            let format = json!({"type": "json_schema", "schema": schema});
            let value = if key == "output_config" {
                json!({"format": format})
            } else {
                format
            };
            let mut body = json!({"model": "c", "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}]});
            body[key] = value;
            let out = translate(body).unwrap();
            assert_eq!(out["response_format"], expected, "{key}");
            assert!(out.get(key).is_none());
        }
        assert!(
            refusal(json!({"model": "c", "max_tokens": 5, "messages": [],
            "output_format": {"type": "json_schema"}}))
            .contains("`schema`")
        );
    }
}
