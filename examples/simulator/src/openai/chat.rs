//! `POST /v1/chat/completions`: the Chat Completions API, as JSON or as a stream of
//! `chat.completion.chunk` events.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Value};

use super::{limit, requested_model, OpenAi, SYSTEM_FINGERPRINT};
use crate::exchange::{self, Exchange, Failure};
use crate::output::{fragments, Ask, Choice, Output, Tool};
use crate::sse;
use crate::state::{unix_seconds, Sim};
use crate::usage::{input_tokens_for_bytes, text_bytes, Answer, TokenUsage};

pub const PATH: &str = "/v1/chat/completions";

/// Words per streamed content delta.
const WORDS_PER_DELTA: usize = 4;

pub async fn create(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    let exchange = match exchange::admit::<OpenAi>(&sim, PATH, &headers, Some(&body)).await {
        Ok(exchange) => exchange,
        Err(refusal) => return refusal,
    };
    match Completion::answer(&sim, &exchange) {
        Ok(completion) if exchange.request["stream"] == json!(true) => {
            let include_usage = exchange.request["stream_options"]["include_usage"] == json!(true);
            exchange.sse(completion.chunks(include_usage && exchange.control.wants_usage()))
        }
        Ok(completion) => exchange.json(&completion.body(exchange.control.wants_usage())),
        Err(failure) => exchange.fail(failure),
    }
}

/// One answered request, ready to be laid out as JSON or as chunks.
pub(crate) struct Completion {
    id: String,
    created: u64,
    model: String,
    output: Output,
    /// The `call_...` id of the tool call, when the answer is one.
    call_id: String,
    usage: TokenUsage,
    service_tier: String,
}

impl Completion {
    pub(crate) fn answer<P>(sim: &Sim, exchange: &Exchange<P>) -> Result<Self, Failure> {
        let request = &exchange.request;
        let model = requested_model(request)?;
        let messages = request["messages"].as_array().ok_or_else(|| {
            Failure::InvalidRequest("Missing required parameter: 'messages'.".into())
        })?;
        let input_bytes: usize = messages.iter().map(|m| text_bytes(&m["content"])).sum();
        // `max_completion_tokens` replaced `max_tokens`; the newer field wins.
        let limit =
            limit(request, "max_completion_tokens").or_else(|| limit(request, "max_tokens"));
        let control = &exchange.control;
        let ask = ask(request, messages)?;
        let output = Output::decide(&ask, || {
            Answer::sized(&model, limit, control.answer_words())
        })
        .map_err(Failure::InvalidRequest)?;
        let usage = TokenUsage::new(
            input_tokens_for_bytes(input_bytes),
            control.cached_tokens,
            control.cache_write_tokens,
            output.output_tokens(),
        );
        Ok(Completion {
            id: sim.new_id("chatcmpl-"),
            created: unix_seconds(),
            model,
            output,
            call_id: sim.new_id("call_"),
            usage,
            service_tier: super::served_tier(request, control),
        })
    }

    fn finish_reason(&self) -> &'static str {
        match &self.output {
            Output::ToolCall { .. } => "tool_calls",
            output if output.truncated() => "length",
            _ => "stop",
        }
    }

    /// The tool call as `message.tool_calls[0]`, with its arguments as given.
    fn tool_call(&self, arguments: &str) -> Option<Value> {
        let Output::ToolCall { name, .. } = &self.output else {
            return None;
        };
        Some(json!({
            "id": self.call_id,
            "type": "function",
            "function": {"name": name, "arguments": arguments}
        }))
    }

    fn usage_json(&self) -> Value {
        let u = &self.usage;
        json!({
            "prompt_tokens": u.prompt_total,
            "completion_tokens": u.output,
            "total_tokens": u.total(),
            "prompt_tokens_details": {
                "cached_tokens": u.cache_read,
                "cache_write_tokens": u.cache_write,
                "audio_tokens": 0
            },
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0
            }
        })
    }

    /// The `chat.completion` object.
    pub(crate) fn body(&self, with_usage: bool) -> Value {
        let mut body = json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": self.output.text(),
                    "refusal": null,
                    "annotations": []
                },
                "logprobs": null,
                "finish_reason": self.finish_reason()
            }],
            "service_tier": self.service_tier,
            "system_fingerprint": SYSTEM_FINGERPRINT
        });
        if let Output::ToolCall { arguments, .. } = &self.output {
            body["choices"][0]["message"]["tool_calls"] = json!([self.tool_call(arguments)]);
        }
        if with_usage {
            body["usage"] = self.usage_json();
        }
        body
    }

    /// The stream: a role chunk, content chunks (or, for a tool call, a chunk naming the
    /// call with empty arguments and then argument fragments, as OpenAI streams them),
    /// a finish chunk, then (only when the
    /// client asked with `stream_options.include_usage`) a usage chunk with no choices,
    /// then `[DONE]`. When usage is included every other chunk carries `"usage": null`.
    fn chunks(&self, include_usage: bool) -> Vec<Bytes> {
        let mut frames: Vec<Bytes> = self
            .chunk_values(include_usage)
            .iter()
            .map(sse::data)
            .collect();
        frames.push(sse::done());
        frames
    }

    /// The chunks of the stream, before framing (`[DONE]` follows them).
    pub(crate) fn chunk_values(&self, include_usage: bool) -> Vec<Value> {
        let chunk = |choices: Value, usage: Option<Value>| {
            let mut chunk = json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "service_tier": self.service_tier,
                "system_fingerprint": SYSTEM_FINGERPRINT,
                "choices": choices
            });
            if include_usage {
                chunk["usage"] = usage.unwrap_or(Value::Null);
            }
            chunk
        };
        let choice = |delta: Value, finish_reason: Option<&str>| json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]);

        let mut frames = Vec::new();
        if let Output::ToolCall { arguments, .. } = &self.output {
            let mut call = self.tool_call("").unwrap_or_default();
            call["index"] = json!(0);
            frames.push(chunk(
                choice(
                    json!({"role": "assistant", "content": null, "tool_calls": [call], "refusal": null}),
                    None,
                ),
                None,
            ));
            for piece in fragments(arguments) {
                let delta = json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]});
                frames.push(chunk(choice(delta, None), None));
            }
        } else {
            frames.push(chunk(
                choice(
                    json!({"role": "assistant", "content": "", "refusal": null}),
                    None,
                ),
                None,
            ));
            for piece in self.output.text_deltas(WORDS_PER_DELTA) {
                frames.push(chunk(choice(json!({"content": piece}), None), None));
            }
        }
        frames.push(chunk(choice(json!({}), Some(self.finish_reason())), None));
        if include_usage {
            frames.push(chunk(json!([]), Some(self.usage_json())));
        }
        frames
    }
}

/// The tools, tool choice and response format of a chat request.
fn ask<'a>(request: &'a Value, messages: &[Value]) -> Result<Ask<'a>, Failure> {
    let tools: Vec<Tool> = request["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["type"] == "function")
        .filter_map(|t| {
            Some(Tool {
                name: t["function"]["name"].as_str()?,
                schema: &t["function"]["parameters"],
            })
        })
        .collect();
    let choice = match &request["tool_choice"] {
        Value::String(s) if s == "none" => Choice::Never,
        Value::String(s) if s == "required" => Choice::Required,
        Value::Object(c) if c.get("type") == Some(&json!("function")) => {
            match c.get("function").and_then(|f| f["name"].as_str()) {
                Some(name) => Choice::Named(name),
                None => {
                    return Err(Failure::InvalidRequest(
                        "tool_choice.function.name is required".into(),
                    ))
                }
            }
        }
        _ => Choice::Auto,
    };
    let format = match request["response_format"]["type"].as_str() {
        Some("json_object") => Some(json!({"type": "object"})),
        Some("json_schema") => Some(request["response_format"]["json_schema"]["schema"].clone()),
        _ => None,
    };
    Ok(Ask {
        tools,
        choice,
        user_asks: messages.last().is_some_and(|m| m["role"] == "user"),
        format,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ask_reads_tools_choice_turn_and_format() {
        let request = json!({
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "integer"}}}
        });
        let asking = [json!({"role": "user", "content": "hi"})];
        let a = ask(&request, &asking).unwrap();
        assert_eq!((a.tools.len(), a.tools[0].name), (1, "f"));
        assert_eq!(a.choice, Choice::Named("f"));
        assert!(a.user_asks);
        assert_eq!(a.format, Some(json!({"type": "integer"})));

        let answered = [
            json!({"role": "user", "content": "hi"}),
            json!({"role": "tool", "tool_call_id": "c", "content": "42"}),
        ];
        let request =
            json!({"tool_choice": "required", "response_format": {"type": "json_object"}});
        let a = ask(&request, &answered).unwrap();
        assert_eq!(a.choice, Choice::Required);
        assert!(!a.user_asks && a.tools.is_empty());
        assert_eq!(a.format, Some(json!({"type": "object"})));
        assert_eq!(ask(&json!({}), &[]).unwrap().choice, Choice::Auto);
        assert_eq!(
            ask(&json!({"tool_choice": "none"}), &[]).unwrap().choice,
            Choice::Never
        );
    }
}
