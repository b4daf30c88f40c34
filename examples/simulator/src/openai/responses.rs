//! `POST /v1/responses`: the Responses API, as one `response` object or as its typed
//! event stream (`response.created` ... `response.completed`).
//!
//! As on the real API, an answer cut short by `max_output_tokens` is reported with
//! status `incomplete` (reason `max_output_tokens`) and its stream ends with
//! `response.incomplete` instead of `response.completed`; both carry the usage.
//!
//! Function tools and `text.format` follow the rules of [`crate::output`]: a tool call
//! is a `function_call` output item (streamed as `response.function_call_arguments.*`)
//! in place of the message; a JSON format makes the message's text a schema instance.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Value};

use super::{limit, requested_model, OpenAi};
use crate::exchange::{self, Exchange, Failure};
use crate::output::{fragments, Ask, Choice, Output, Tool};
use crate::sse;
use crate::state::{unix_seconds, Sim};
use crate::usage::{input_tokens_for_bytes, text_bytes, Answer, TokenUsage};

pub const PATH: &str = "/v1/responses";

/// Words per streamed `response.output_text.delta`.
const WORDS_PER_DELTA: usize = 4;

pub async fn create(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    let exchange = match exchange::admit::<OpenAi>(&sim, PATH, &headers, Some(&body)).await {
        Ok(exchange) => exchange,
        Err(refusal) => return refusal,
    };
    match Reply::answer(&sim, &exchange) {
        Ok(reply) if exchange.request["stream"] == json!(true) => exchange.sse(reply.events()),
        Ok(reply) => exchange.json(&reply.response(Stage::Finished)),
        Err(failure) => exchange.fail(failure),
    }
}

/// How far along the response object is when it is shown.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// In `response.created` / `response.in_progress`: no output, no usage yet.
    InProgress,
    Finished,
}

struct Reply<'a> {
    request: &'a Value,
    response_id: String,
    message_id: String,
    /// The `call_...` id of a tool call, when the answer is one.
    call_id: String,
    created_at: u64,
    model: String,
    output: Output,
    usage: Option<TokenUsage>,
    service_tier: String,
    /// Ids of the `web_search_call` items that precede the message.
    searches: Vec<String>,
}

impl<'a> Reply<'a> {
    fn answer(sim: &Sim, exchange: &'a Exchange<OpenAi>) -> Result<Self, Failure> {
        let request = &exchange.request;
        let model = requested_model(request)?;
        let input_bytes = text_bytes(&request["instructions"]) + text_bytes(&request["input"]);
        let control = &exchange.control;
        let output = Output::decide(&ask(request)?, || {
            Answer::sized(
                &model,
                limit(request, "max_output_tokens"),
                control.answer_words(),
            )
        })
        .map_err(Failure::InvalidRequest)?;
        let usage = exchange.control.wants_usage().then(|| {
            TokenUsage::new(
                input_tokens_for_bytes(input_bytes),
                control.cached_tokens,
                control.cache_write_tokens,
                output.output_tokens(),
            )
        });
        let searches = (0..control.web_searches)
            .map(|_| sim.new_id("ws_"))
            .collect();
        Ok(Reply {
            request,
            response_id: sim.new_id("resp_"),
            message_id: if matches!(output, Output::ToolCall { .. }) {
                sim.new_id("fc_")
            } else {
                sim.new_id("msg_")
            },
            call_id: sim.new_id("call_"),
            created_at: unix_seconds(),
            model,
            output,
            usage,
            service_tier: super::served_tier(request, control),
            searches,
        })
    }

    fn finished_status(&self) -> &'static str {
        if self.output.truncated() {
            "incomplete"
        } else {
            "completed"
        }
    }

    fn text_part(&self, text: &str) -> Value {
        json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
    }

    fn text(&self) -> &str {
        self.output.text().unwrap_or("")
    }

    /// The answer's output item: the message, or the function call.
    fn message(&self, stage: Stage) -> Value {
        if let Output::ToolCall { name, arguments } = &self.output {
            let (status, arguments) = match stage {
                Stage::InProgress => ("in_progress", ""),
                Stage::Finished => ("completed", arguments.as_str()),
            };
            return json!({
                "id": self.message_id,
                "type": "function_call",
                "status": status,
                "arguments": arguments,
                "call_id": self.call_id,
                "name": name
            });
        }
        let (status, content) = match stage {
            Stage::InProgress => ("in_progress", json!([])),
            Stage::Finished => (self.finished_status(), json!([self.text_part(self.text())])),
        };
        json!({
            "id": self.message_id,
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content
        })
    }

    /// A completed `web_search_call` output item.
    fn search_call(id: &str) -> Value {
        json!({
            "id": id,
            "type": "web_search_call",
            "status": "completed",
            "action": {"type": "search", "query": "simulated search"}
        })
    }

    /// The finished `output` array: the web searches, then the message.
    fn output(&self) -> Value {
        let mut items: Vec<Value> = self
            .searches
            .iter()
            .map(|id| Self::search_call(id))
            .collect();
        items.push(self.message(Stage::Finished));
        Value::Array(items)
    }

    fn usage_json(usage: &TokenUsage) -> Value {
        json!({
            "input_tokens": usage.prompt_total,
            "input_tokens_details": {
                "cached_tokens": usage.cache_read,
                "cache_write_tokens": usage.cache_write
            },
            "output_tokens": usage.output,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage.total()
        })
    }

    /// The `response` object; request settings are echoed back as the real API does.
    fn response(&self, stage: Stage) -> Value {
        let request = self.request;
        let echo = |field: &str, default: Value| match &request[field] {
            Value::Null => default,
            value => value.clone(),
        };
        let finished = stage == Stage::Finished;
        let mut response = json!({
            "id": self.response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": if finished { self.finished_status() } else { "in_progress" },
            "background": false,
            "error": null,
            "incomplete_details": if finished && self.output.truncated() {
                json!({"reason": "max_output_tokens"})
            } else {
                Value::Null
            },
            "instructions": echo("instructions", Value::Null),
            "max_output_tokens": echo("max_output_tokens", Value::Null),
            "model": self.model,
            "output": if finished { self.output() } else { json!([]) },
            "parallel_tool_calls": echo("parallel_tool_calls", json!(true)),
            "previous_response_id": echo("previous_response_id", Value::Null),
            "reasoning": {"effort": null, "summary": null},
            "service_tier": self.service_tier,
            "store": echo("store", json!(true)),
            "temperature": echo("temperature", json!(1.0)),
            "text": {"format": echo_format(request)},
            "tool_choice": echo("tool_choice", json!("auto")),
            "tools": echo("tools", json!([])),
            "top_p": echo("top_p", json!(1.0)),
            "truncation": "disabled",
            "user": null,
            "metadata": echo("metadata", json!({}))
        });
        if finished {
            response["completed_at"] = json!(unix_seconds());
            // `no-usage` leaves the key out entirely rather than sending null.
            if let Some(usage) = &self.usage {
                response["usage"] = Self::usage_json(usage);
            }
        } else {
            response["usage"] = Value::Null;
        }
        response
    }

    /// The event sequence of a streamed text answer, numbered by `sequence_number`.
    fn events(&self) -> Vec<Bytes> {
        let mut frames = Vec::new();
        let mut emit = |name: &str, mut payload: Value| {
            payload["type"] = json!(name);
            payload["sequence_number"] = json!(frames.len());
            frames.push(sse::event(name, &payload));
        };
        // The searches come first in `output`; the message follows them.
        let message_index = self.searches.len();
        let text_at = |payload: Value| {
            let mut payload = payload;
            payload["item_id"] = json!(self.message_id);
            payload["output_index"] = json!(message_index);
            payload["content_index"] = json!(0);
            payload
        };

        emit(
            "response.created",
            json!({"response": self.response(Stage::InProgress)}),
        );
        emit(
            "response.in_progress",
            json!({"response": self.response(Stage::InProgress)}),
        );
        for (index, id) in self.searches.iter().enumerate() {
            let mut added = Self::search_call(id);
            added["status"] = json!("in_progress");
            added.as_object_mut().map(|o| o.remove("action"));
            emit(
                "response.output_item.added",
                json!({"output_index": index, "item": added}),
            );
            for stage in ["in_progress", "searching", "completed"] {
                emit(
                    &format!("response.web_search_call.{stage}"),
                    json!({"output_index": index, "item_id": id}),
                );
            }
            emit(
                "response.output_item.done",
                json!({"output_index": index, "item": Self::search_call(id)}),
            );
        }
        emit(
            "response.output_item.added",
            json!({"output_index": message_index, "item": self.message(Stage::InProgress)}),
        );
        if let Output::ToolCall { arguments, .. } = &self.output {
            let at = |mut payload: Value| {
                payload["item_id"] = json!(self.message_id);
                payload["output_index"] = json!(message_index);
                payload
            };
            for piece in fragments(arguments) {
                emit(
                    "response.function_call_arguments.delta",
                    at(json!({"delta": piece})),
                );
            }
            emit(
                "response.function_call_arguments.done",
                at(json!({"arguments": arguments})),
            );
        } else {
            self.text_events(&mut emit, &text_at);
        }
        emit(
            "response.output_item.done",
            json!({"output_index": message_index, "item": self.message(Stage::Finished)}),
        );
        let last = if self.output.truncated() {
            "response.incomplete"
        } else {
            "response.completed"
        };
        emit(last, json!({"response": self.response(Stage::Finished)}));
        frames
    }

    /// The content part and text events of a message answer.
    fn text_events(&self, emit: &mut impl FnMut(&str, Value), text_at: &impl Fn(Value) -> Value) {
        emit(
            "response.content_part.added",
            text_at(json!({"part": self.text_part("")})),
        );
        for piece in self.output.text_deltas(WORDS_PER_DELTA) {
            emit(
                "response.output_text.delta",
                text_at(json!({"delta": piece, "logprobs": []})),
            );
        }
        emit(
            "response.output_text.done",
            text_at(json!({"text": self.text(), "logprobs": []})),
        );
        emit(
            "response.content_part.done",
            text_at(json!({"part": self.text_part(self.text())})),
        );
    }
}

/// `text.format` as the response echoes it.
fn echo_format(request: &Value) -> Value {
    match &request["text"]["format"] {
        Value::Null => json!({"type": "text"}),
        format => format.clone(),
    }
}

/// The function tools, tool choice and `text.format` of a Responses request. The user
/// asks unless the input ends with a function call's output.
fn ask(request: &Value) -> Result<Ask<'_>, Failure> {
    let tools: Vec<Tool> = request["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["type"] == "function")
        .filter_map(|t| {
            Some(Tool {
                name: t["name"].as_str()?,
                schema: &t["parameters"],
            })
        })
        .collect();
    let choice = match &request["tool_choice"] {
        Value::String(s) if s == "none" => Choice::Never,
        Value::String(s) if s == "required" => Choice::Required,
        Value::Object(c) if c.get("type") == Some(&json!("function")) => Choice::Named(
            c.get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| Failure::InvalidRequest("tool_choice.name is required".into()))?,
        ),
        _ => Choice::Auto,
    };
    let format = &request["text"]["format"];
    let format = match format["type"].as_str() {
        Some("json_object") => Some(json!({"type": "object"})),
        Some("json_schema") => Some(format["schema"].clone()),
        _ => None,
    };
    let user_asks = match &request["input"] {
        Value::Array(items) => items
            .last()
            .is_some_and(|item| item["role"] == "user" && item["type"] != "function_call_output"),
        _ => true,
    };
    Ok(Ask {
        tools,
        choice,
        user_asks,
        format,
    })
}
