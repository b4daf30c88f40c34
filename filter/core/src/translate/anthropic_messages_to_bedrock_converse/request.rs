//! An Anthropic Messages request rewritten as a Bedrock Converse request.
//!
//! `model` and `stream` leave the body: Bedrock takes the model in the path and
//! streams at `converse-stream`. Dropped without refusal, because they cannot change
//! what the model answers: `metadata` (the user id is Anthropic's abuse signal) and
//! `service_tier`. `cache_control` becomes a Converse `cachePoint` after the block it
//! marks, so prompt caching keeps working on models that offer it. Base64 PDF documents
//! become Converse documents named `document-N` (Converse requires a name).

use serde_json::{json, Map, Value};

use crate::translate::direction::Untranslatable;
use crate::translate::json_fields::{field, invalid, refuse};

const LANE: &str = "Bedrock";

fn no(field: &str, why: &str) -> Untranslatable {
    refuse(field, LANE, why)
}

/// Translates a Messages body for a Bedrock lane serving `target_model`.
/// `default_max_tokens` is sent when the client set no limit.
pub fn messages_to_converse(
    body: &Map<String, Value>,
    target_model: &str,
    default_max_tokens: u64,
) -> Result<Map<String, Value>, Untranslatable> {
    let mut out = Map::new();
    let mut inference = Map::new();
    let mut additional = Map::new();
    for (key, value) in body {
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "model" | "stream" | "metadata" | "service_tier" => {}
            "messages" | "system" | "tools" | "tool_choice" => {}
            "max_tokens" => {
                let n = value
                    .as_u64()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| invalid("`max_tokens` must be a positive integer"))?;
                inference.insert("maxTokens".into(), n.into());
            }
            "temperature" | "top_p" => {
                if !value.is_number() {
                    return Err(invalid(&format!("`{key}` must be a number")));
                }
                let name = if key == "top_p" {
                    "topP"
                } else {
                    "temperature"
                };
                inference.insert(name.into(), value.clone());
            }
            "stop_sequences" => {
                let all_text = value
                    .as_array()
                    .is_some_and(|a| a.iter().all(Value::is_string));
                if !all_text {
                    return Err(invalid("`stop_sequences` must be an array of strings"));
                }
                if value.as_array().is_some_and(|a| !a.is_empty()) {
                    inference.insert("stopSequences".into(), value.clone());
                }
            }
            // Converse has no top_k; Anthropic models on Bedrock take it as a
            // model-specific field, other families do not have it.
            "top_k" if is_anthropic_model(target_model) => {
                additional.insert("top_k".into(), value.clone());
            }
            "top_k" => return Err(no("top_k", "only Anthropic models on Bedrock take it")),
            other => {
                return Err(no(
                    other,
                    "the Converse API has no counterpart this translation knows",
                ))
            }
        }
    }
    if !inference.contains_key("maxTokens") {
        inference.insert("maxTokens".into(), default_max_tokens.into());
    }
    let messages = field(body, "messages")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("`messages` must be an array"))?;
    out.insert(
        "messages".into(),
        Value::Array(translate_messages(messages)?),
    );
    if let Some(system) = field(body, "system") {
        let blocks = system_blocks(system)?;
        if !blocks.is_empty() {
            out.insert("system".into(), Value::Array(blocks));
        }
    }
    out.insert("inferenceConfig".into(), Value::Object(inference));
    if let Some(tool_config) = tool_config(body)? {
        out.insert("toolConfig".into(), tool_config);
    }
    if !additional.is_empty() {
        out.insert(
            "additionalModelRequestFields".into(),
            Value::Object(additional),
        );
    }
    Ok(out)
}

/// `anthropic.claude-...`, also behind a cross-region inference profile (`us.`, `eu.`)
/// or a full ARN.
fn is_anthropic_model(model: &str) -> bool {
    model.contains("anthropic.")
}

fn cache_point() -> Value {
    json!({"cachePoint": {"type": "default"}})
}

fn marks_cache(block: &Value) -> bool {
    block.get("cache_control").is_some_and(|c| !c.is_null())
}

fn system_blocks(system: &Value) -> Result<Vec<Value>, Untranslatable> {
    match system {
        Value::String(s) if s.is_empty() => Ok(vec![]),
        Value::String(s) => Ok(vec![json!({"text": s})]),
        Value::Array(blocks) => {
            let mut out = Vec::new();
            for b in blocks {
                if b["type"] != "text" {
                    return Err(no("system", "only text blocks are supported"));
                }
                out.push(json!({"text": b["text"].as_str().unwrap_or("")}));
                if marks_cache(b) {
                    out.push(cache_point());
                }
            }
            Ok(out)
        }
        _ => Err(invalid(
            "`system` must be a string or an array of text blocks",
        )),
    }
}

/// Turns in Converse's shape; consecutive turns of one role are merged (Converse
/// requires roles to alternate, Anthropic merges them itself).
fn translate_messages(messages: &[Value]) -> Result<Vec<Value>, Untranslatable> {
    let mut out: Vec<Value> = Vec::new();
    // Converse needs a name per document, unique within the request.
    let mut documents = 0;
    for m in messages {
        let role = m["role"].as_str().unwrap_or("");
        if role != "user" && role != "assistant" {
            return Err(invalid("each message's `role` must be user or assistant"));
        }
        let content = match &m["content"] {
            Value::String(s) => vec![json!({"text": s})],
            Value::Array(blocks) => {
                let mut content = Vec::new();
                for b in blocks {
                    content.push(content_block(b, &mut documents)?);
                    if marks_cache(b) {
                        content.push(cache_point());
                    }
                }
                content
            }
            _ => {
                return Err(invalid(
                    "a message's `content` must be a string or an array",
                ))
            }
        };
        match out.last_mut() {
            Some(last) if last["role"] == role => {
                if let Some(a) = last["content"].as_array_mut() {
                    a.extend(content);
                }
            }
            _ => out.push(json!({"role": role, "content": content})),
        }
    }
    Ok(out)
}

fn content_block(b: &Value, documents: &mut usize) -> Result<Value, Untranslatable> {
    match b["type"].as_str().unwrap_or("") {
        "text" => Ok(json!({"text": b["text"].as_str().unwrap_or("")})),
        "image" => image_block(b),
        "document" => {
            let source = &b["source"];
            if source["type"] != "base64" || source["media_type"] != "application/pdf" {
                return Err(no(
                    "document.source",
                    "only base64 PDF documents are supported",
                ));
            }
            *documents += 1;
            Ok(
                json!({"document": {"format": "pdf", "name": format!("document-{documents}"),
                "source": {"bytes": source["data"]}}}),
            )
        }
        "tool_use" => Ok(json!({"toolUse": {
            "toolUseId": b["id"],
            "name": b["name"],
            "input": if b["input"].is_null() { json!({}) } else { b["input"].clone() },
        }})),
        "tool_result" => {
            let content = match &b["content"] {
                Value::Null => vec![],
                Value::String(s) => vec![json!({"text": s})],
                Value::Array(parts) => parts
                    .iter()
                    .map(|p| match p["type"].as_str() {
                        Some("text") => Ok(json!({"text": p["text"].as_str().unwrap_or("")})),
                        Some("image") => image_block(p),
                        _ => Err(no(
                            "tool_result.content",
                            "only text and image parts are supported",
                        )),
                    })
                    .collect::<Result<_, _>>()?,
                _ => {
                    return Err(invalid(
                        "a tool_result's `content` must be a string or an array",
                    ))
                }
            };
            let mut result = json!({"toolUseId": b["tool_use_id"], "content": content});
            if b["is_error"] == true {
                result["status"] = json!("error");
            }
            Ok(json!({"toolResult": result}))
        }
        other => Err(no(
            &format!("content block `{other}`"),
            "only text, image, PDF document, tool_use and tool_result blocks are supported",
        )),
    }
}

/// A base64 image; Converse takes the same bytes, also base64 in JSON.
fn image_block(b: &Value) -> Result<Value, Untranslatable> {
    let source = &b["source"];
    if source["type"] != "base64" {
        return Err(no("image.source", "only base64 images are supported"));
    }
    let format = match source["media_type"].as_str() {
        Some("image/png") => "png",
        Some("image/jpeg") => "jpeg",
        Some("image/gif") => "gif",
        Some("image/webp") => "webp",
        _ => {
            return Err(invalid(
                "an image's `media_type` must be png, jpeg, gif or webp",
            ))
        }
    };
    Ok(json!({"image": {"format": format, "source": {"bytes": source["data"]}}}))
}

fn tool_config(body: &Map<String, Value>) -> Result<Option<Value>, Untranslatable> {
    let Some(tools) = field(body, "tools").and_then(Value::as_array) else {
        if field(body, "tool_choice").is_some() {
            return Err(invalid("`tool_choice` needs `tools`"));
        }
        return Ok(None);
    };
    if tools.is_empty() {
        return Ok(None);
    }
    let mut specs = Vec::new();
    for t in tools {
        if t.get("type").is_some_and(|k| k != "custom" && !k.is_null()) {
            return Err(no(
                "tools",
                "server tools (web search, code execution, ...) run at Anthropic only",
            ));
        }
        let mut spec = json!({"name": t["name"], "inputSchema": {"json": t["input_schema"]}});
        if let Some(d) = t["description"].as_str() {
            spec["description"] = json!(d);
        }
        specs.push(json!({"toolSpec": spec}));
        if marks_cache(t) {
            specs.push(cache_point());
        }
    }
    let mut config = json!({"tools": specs});
    if let Some(choice) = field(body, "tool_choice") {
        if choice["disable_parallel_tool_use"] == true {
            return Err(no(
                "tool_choice.disable_parallel_tool_use",
                "Converse cannot limit the model to one tool call",
            ));
        }
        let c = match choice["type"].as_str() {
            Some("auto") => json!({"auto": {}}),
            Some("any") => json!({"any": {}}),
            Some("tool") => json!({"tool": {"name": choice["name"]}}),
            Some("none") => return Err(no("tool_choice", "Converse has no `none` choice")),
            _ => {
                return Err(invalid(
                    "`tool_choice.type` must be auto, any, tool or none",
                ))
            }
        };
        config["toolChoice"] = c;
    }
    Ok(Some(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn translate(v: Value) -> Result<Value, Untranslatable> {
        messages_to_converse(&obj(v), "amazon.nova-lite-v1:0", 512).map(Value::Object)
    }

    #[test]
    fn text_conversation_with_system_and_limits() {
        let out = translate(json!({
            "model": "claude-haiku", "max_tokens": 100, "temperature": 0.2, "top_p": 0.9,
            "stop_sequences": ["END"], "stream": true, "metadata": {"user_id": "u1"},
            "system": "Be brief.",
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]},
                {"role": "user", "content": "Again"},
                {"role": "user", "content": [{"type": "text", "text": "and again"}]}
            ]
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({
                "messages": [
                    {"role": "user", "content": [{"text": "Hi"}]},
                    {"role": "assistant", "content": [{"text": "Hello"}]},
                    {"role": "user", "content": [{"text": "Again"}, {"text": "and again"}]}
                ],
                "system": [{"text": "Be brief."}],
                "inferenceConfig": {"maxTokens": 100, "temperature": 0.2, "topP": 0.9,
                    "stopSequences": ["END"]}
            })
        );
        let bare = translate(json!({"messages": [{"role": "user", "content": "x"}]})).unwrap();
        assert_eq!(bare["inferenceConfig"], json!({"maxTokens": 512}));
    }

    #[test]
    fn tools_calls_results_images_and_cache_points() {
        let out = translate(json!({
            "max_tokens": 10,
            "system": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}],
            "tools": [{"name": "get_weather", "description": "Weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
            "tool_choice": {"type": "tool", "name": "get_weather"},
            "messages": [
                {"role": "user", "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
                    {"type": "text", "text": "Weather?"}]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "tu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "tu_1", "content": "18C", "is_error": false}]}
            ]
        }))
        .unwrap();
        assert_eq!(
            out["system"],
            json!([{"text": "S"}, {"cachePoint": {"type": "default"}}])
        );
        assert_eq!(
            out["toolConfig"],
            json!({"tools": [{"toolSpec": {"name": "get_weather", "description": "Weather",
                "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}}}}],
                "toolChoice": {"tool": {"name": "get_weather"}}})
        );
        assert_eq!(
            out["messages"][0]["content"][0],
            json!({"image": {"format": "png", "source": {"bytes": "iVBO"}}})
        );
        assert_eq!(
            out["messages"][1]["content"][0],
            json!({"toolUse": {"toolUseId": "tu_1", "name": "get_weather", "input": {"city": "Paris"}}})
        );
        assert_eq!(
            out["messages"][2]["content"][0],
            json!({"toolResult": {"toolUseId": "tu_1", "content": [{"text": "18C"}]}})
        );
    }

    #[test]
    fn pdf_documents_become_named_converse_documents() {
        let pdf = |data: &str| {
            json!({"type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": data}})
        };
        let out = translate(json!({"max_tokens": 5, "messages": [
            {"role": "user", "content": [pdf("JVBERi0x"), pdf("JVBERi0y"), {"type": "text", "text": "Compare"}]}
        ]}))
        .unwrap();
        assert_eq!(
            out["messages"][0]["content"],
            json!([
                {"document": {"format": "pdf", "name": "document-1", "source": {"bytes": "JVBERi0x"}}},
                {"document": {"format": "pdf", "name": "document-2", "source": {"bytes": "JVBERi0y"}}},
                {"text": "Compare"}
            ])
        );
    }

    #[test]
    fn what_cannot_be_carried_is_refused() {
        let refused = |extra: Value| {
            let mut body = json!({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            translate(body).unwrap_err().0
        };
        assert!(refused(json!({"top_k": 5})).contains("top_k"));
        assert!(
            refused(json!({"thinking": {"type": "enabled", "budget_tokens": 1024}}))
                .contains("thinking")
        );
        assert!(
            refused(json!({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}))
                .contains("server tools")
        );
        assert!(refused(json!({"messages": [{"role": "user", "content": [
            {"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}}]}]}))
        .contains("document"));
        assert!(refused(json!({"messages": [{"role": "user", "content": [
            {"type": "search_result", "source": "s", "title": "t", "content": []}]}]}))
        .contains("search_result"));
        // top_k goes to Anthropic models as their own field.
        let claude = messages_to_converse(
            &obj(json!({"max_tokens": 5, "top_k": 5, "messages": [{"role": "user", "content": "x"}]})),
            "us.anthropic.claude-3-5-haiku-20241022-v1:0",
            9,
        )
        .unwrap();
        assert_eq!(claude["additionalModelRequestFields"], json!({"top_k": 5}));
    }
}
