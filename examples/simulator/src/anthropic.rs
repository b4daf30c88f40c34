//! The Anthropic API surface: `POST /v1/messages` (JSON or the message event stream),
//! its credential rule, error bodies and model list.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Value};

use crate::exchange::{self, bearer_matches, Exchange, Failure, Provider};
use crate::output::{fragments, Ask, Choice, Output, Tool};
use crate::sse;
use crate::state::{Keys, Sim};
use crate::usage::{input_tokens_for_bytes, text_bytes, Answer, TokenUsage};

pub const PATH: &str = "/v1/messages";
pub const COUNT_TOKENS_PATH: &str = "/v1/messages/count_tokens";

const API_KEY: &str = "x-api-key";
const VERSION: &str = "anthropic-version";

/// Words per streamed `text_delta`.
const WORDS_PER_DELTA: usize = 4;

pub struct Anthropic;

impl Provider for Anthropic {
    const REQUEST_ID_HEADER: &'static str = "request-id";

    /// The SDK sends the key as `Authorization: Bearer <key>` (current versions) or as
    /// `x-api-key: <key>`; both are accepted. Every credential header present must carry
    /// the key, so a client key left next to the provider key is refused, not ignored.
    fn check_credential(keys: &Keys, headers: &HeaderMap) -> Result<(), Failure> {
        let api_key = headers
            .get(API_KEY)
            .map(|v| v.as_bytes() == keys.anthropic.as_bytes());
        let bearer = headers
            .get(AUTHORIZATION)
            .map(|v| bearer_matches(v.as_bytes(), &keys.anthropic));
        match (api_key, bearer) {
            (None, None) => Err(Failure::MissingCredential),
            (Some(false), _) | (_, Some(false)) => Err(Failure::WrongCredential),
            _ => Ok(()),
        }
    }

    fn check_headers(headers: &HeaderMap) -> Result<(), Failure> {
        if headers.contains_key(VERSION) {
            Ok(())
        } else {
            Err(Failure::InvalidRequest(format!(
                "{VERSION}: header is required"
            )))
        }
    }

    fn error_body(failure: &Failure, request_id: &str) -> Value {
        let (kind, message): (&str, String) = match failure {
            Failure::MissingCredential => (
                "authentication_error",
                format!("{API_KEY} header is required"),
            ),
            Failure::WrongCredential => ("authentication_error", format!("invalid {API_KEY}")),
            Failure::MalformedJson(detail) => (
                "invalid_request_error",
                format!("Invalid JSON in request body: {detail}"),
            ),
            Failure::InvalidRequest(message) => ("invalid_request_error", message.clone()),
            Failure::Injected(status) => match status.as_u16() {
                401 => ("authentication_error", format!("invalid {API_KEY}")),
                403 => (
                    "permission_error",
                    "Your API key does not have permission to use the specified resource.".into(),
                ),
                404 => (
                    "not_found_error",
                    "The requested resource could not be found.".into(),
                ),
                413 => (
                    "request_too_large",
                    "Request exceeds the maximum allowed number of bytes.".into(),
                ),
                429 => (
                    "rate_limit_error",
                    "Number of request tokens has exceeded your per-minute rate limit (simulated)."
                        .into(),
                ),
                529 => ("overloaded_error", "Overloaded".into()),
                _ if status.is_server_error() => ("api_error", "Internal server error".into()),
                code => ("invalid_request_error", format!("Simulated error {code}.")),
            },
        };
        json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id})
    }
}

pub async fn create_message(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let exchange = match exchange::admit::<Anthropic>(&sim, PATH, &headers, Some(&body)).await {
        Ok(exchange) => exchange,
        Err(refusal) => return refusal,
    };
    match Reply::answer(&sim, &exchange) {
        Ok(reply) if exchange.request["stream"] == json!(true) => exchange.sse(reply.events()),
        Ok(reply) => exchange.json(&reply.message()),
        Err(failure) => exchange.fail(failure),
    }
}

/// `POST /v1/messages/count_tokens`: `{"input_tokens": N}` for the same prompt text
/// `/v1/messages` would count (system and messages); nothing is generated.
pub async fn count_tokens(
    State(sim): State<Arc<Sim>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let exchange =
        match exchange::admit::<Anthropic>(&sim, COUNT_TOKENS_PATH, &headers, Some(&body)).await {
            Ok(exchange) => exchange,
            Err(refusal) => return refusal,
        };
    let request = &exchange.request;
    let required = |field: &str| Failure::InvalidRequest(format!("{field}: Field required"));
    if request["model"].as_str().is_none() {
        return exchange.fail(required("model"));
    }
    let Some(messages) = request["messages"].as_array() else {
        return exchange.fail(required("messages"));
    };
    let input_bytes = text_bytes(&request["system"])
        + messages
            .iter()
            .map(|m| text_bytes(&m["content"]))
            .sum::<usize>();
    exchange.json(&json!({"input_tokens": input_tokens_for_bytes(input_bytes)}))
}

struct Reply {
    id: String,
    model: String,
    output: Output,
    /// The `toolu_...` id of the tool call, when the answer is one.
    tool_use_id: String,
    usage: Option<TokenUsage>,
}

impl Reply {
    fn answer(sim: &Sim, exchange: &Exchange<Anthropic>) -> Result<Self, Failure> {
        let request = &exchange.request;
        let required = |field: &str| Failure::InvalidRequest(format!("{field}: Field required"));
        let model = request["model"].as_str().ok_or_else(|| required("model"))?;
        let max_tokens = request["max_tokens"]
            .as_u64()
            .ok_or_else(|| required("max_tokens"))?;
        let messages = request["messages"]
            .as_array()
            .ok_or_else(|| required("messages"))?;
        let input_bytes = text_bytes(&request["system"])
            + messages
                .iter()
                .map(|m| text_bytes(&m["content"]))
                .sum::<usize>();
        let control = &exchange.control;
        let output = Output::decide(&ask(request, messages)?, || {
            Answer::sized(model, Some(max_tokens), control.answer_words())
        })
        .map_err(Failure::InvalidRequest)?;
        let usage = control.wants_usage().then(|| {
            TokenUsage::new(
                input_tokens_for_bytes(input_bytes),
                control.cached_tokens,
                control.cache_write_tokens,
                output.output_tokens(),
            )
            .with_server_side(control.cache_write_1h_tokens, control.web_searches)
        });
        Ok(Reply {
            id: sim.new_id("msg_"),
            model: model.to_owned(),
            output,
            tool_use_id: sim.new_id("toolu_"),
            usage,
        })
    }

    fn stop_reason(&self) -> &'static str {
        match &self.output {
            Output::ToolCall { .. } => "tool_use",
            output if output.truncated() => "max_tokens",
            _ => "end_turn",
        }
    }

    /// The answer's one content block, whole (`started: false`) or as a stream's
    /// `content_block_start` announces it: empty text, or a tool_use with input `{}`.
    fn block(&self, started: bool) -> Value {
        match &self.output {
            Output::ToolCall { name, arguments } => {
                let input = if started {
                    json!({})
                } else {
                    serde_json::from_str(arguments).unwrap_or_else(|_| json!({}))
                };
                json!({"type": "tool_use", "id": self.tool_use_id, "name": name, "input": input})
            }
            _ if started => json!({"type": "text", "text": ""}),
            output => json!({"type": "text", "text": output.text().unwrap_or("")}),
        }
    }

    /// Anthropic's usage: `input_tokens` excludes cache reads and writes, which are
    /// reported beside it. `output_tokens` is a parameter because `message_start`
    /// reports a placeholder before any text exists.
    fn usage_json(usage: &TokenUsage, output_tokens: u64) -> Value {
        json!({
            "input_tokens": usage.uncached_input(),
            "cache_creation_input_tokens": usage.cache_write + usage.cache_write_1h,
            "cache_read_input_tokens": usage.cache_read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": usage.cache_write,
                "ephemeral_1h_input_tokens": usage.cache_write_1h
            },
            "output_tokens": output_tokens,
            "server_tool_use": Self::server_tool_use(usage),
            "service_tier": "standard"
        })
    }

    /// `usage.server_tool_use`: null when no server tool ran.
    fn server_tool_use(usage: &TokenUsage) -> Value {
        if usage.web_searches == 0 {
            return Value::Null;
        }
        json!({"web_search_requests": usage.web_searches, "web_fetch_requests": 0})
    }

    fn message_with(&self, content: Value, stop_reason: Option<&str>, output_tokens: u64) -> Value {
        let mut message = json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": null
        });
        if let Some(usage) = &self.usage {
            message["usage"] = Self::usage_json(usage, output_tokens);
        }
        message
    }

    /// The complete `message` object.
    fn message(&self) -> Value {
        let output = self.usage.map_or(0, |u| u.output);
        self.message_with(json!([self.block(false)]), Some(self.stop_reason()), output)
    }

    /// The stream: `message_start` (input usage, placeholder output of 1), `ping`, one
    /// block in several deltas (a text block in `text_delta`s, or a tool_use block
    /// starting with an empty input and filled by `input_json_delta`s), `message_delta`
    /// (stop reason and the final
    /// cumulative `output_tokens`), `message_stop`.
    fn events(&self) -> Vec<Bytes> {
        let event = |name: &str, mut payload: Value| {
            payload["type"] = json!(name);
            sse::event(name, &payload)
        };
        let mut frames = vec![
            event(
                "message_start",
                json!({"message": self.message_with(json!([]), None, 1)}),
            ),
            event("ping", json!({})),
            event(
                "content_block_start",
                json!({"index": 0, "content_block": self.block(true)}),
            ),
        ];
        let deltas = match &self.output {
            Output::ToolCall { arguments, .. } => fragments(arguments)
                .into_iter()
                .map(|piece| json!({"type": "input_json_delta", "partial_json": piece}))
                .collect::<Vec<_>>(),
            output => output
                .text_deltas(WORDS_PER_DELTA)
                .into_iter()
                .map(|piece| json!({"type": "text_delta", "text": piece}))
                .collect(),
        };
        for delta in deltas {
            frames.push(event(
                "content_block_delta",
                json!({"index": 0, "delta": delta}),
            ));
        }
        frames.push(event("content_block_stop", json!({"index": 0})));
        let mut delta =
            json!({"delta": {"stop_reason": self.stop_reason(), "stop_sequence": null}});
        // The final usage is cumulative: the input figures again, the output count
        // and the server tool use of the whole turn.
        if let Some(usage) = &self.usage {
            delta["usage"] = json!({
                "input_tokens": usage.uncached_input(),
                "cache_creation_input_tokens": usage.cache_write + usage.cache_write_1h,
                "cache_read_input_tokens": usage.cache_read,
                "output_tokens": usage.output,
                "server_tool_use": Self::server_tool_use(usage)
            });
        }
        frames.push(event("message_delta", delta));
        frames.push(event("message_stop", json!({})));
        frames
    }
}

/// The tools, tool choice and output format of a Messages request. Server tools (web
/// search and the like, which carry no `input_schema`) are the provider's to run and
/// are never called by the simulated model.
fn ask<'a>(request: &'a Value, messages: &[Value]) -> Result<Ask<'a>, Failure> {
    let tools: Vec<Tool> = request["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t.get("input_schema").is_some())
        .filter_map(|t| {
            Some(Tool {
                name: t["name"].as_str()?,
                schema: &t["input_schema"],
            })
        })
        .collect();
    let choice = match request["tool_choice"]["type"].as_str() {
        Some("none") => Choice::Never,
        Some("any") => Choice::Required,
        Some("tool") => {
            Choice::Named(request["tool_choice"]["name"].as_str().ok_or_else(|| {
                Failure::InvalidRequest("tool_choice.name: Field required".into())
            })?)
        }
        _ => Choice::Auto,
    };
    // Structured outputs: `output_config.format`, or the beta's `output_format`.
    let format = [
        &request["output_config"]["format"],
        &request["output_format"],
    ]
    .into_iter()
    .find(|f| f["type"] == "json_schema")
    .map(|f| f["schema"].clone());
    // The user asks unless their last turn only hands back tool results.
    let user_asks = messages.last().is_some_and(|m| {
        m["role"] == "user"
            && !m["content"]
                .as_array()
                .is_some_and(|blocks| blocks.iter().any(|b| b["type"] == "tool_result"))
    });
    Ok(Ask {
        tools,
        choice,
        user_asks,
        format,
    })
}

const MODELS: [(&str, &str); 4] = [
    ("claude-opus-4-1", "Claude Opus 4.1"),
    ("claude-sonnet-4-5", "Claude Sonnet 4.5"),
    ("claude-haiku-4-5", "Claude Haiku 4.5"),
    ("claude-3-5-haiku-latest", "Claude Haiku 3.5"),
];

/// `GET /v1/models` in Anthropic's paginated list shape.
pub async fn models(sim: &Sim, headers: &HeaderMap) -> Response {
    let exchange =
        match exchange::admit::<Anthropic>(sim, exchange::MODELS_PATH, headers, None).await {
            Ok(exchange) => exchange,
            Err(refusal) => return refusal,
        };
    let data: Vec<Value> = MODELS
        .iter()
        .map(|(id, name)| {
            json!({"type": "model", "id": id, "display_name": name, "created_at": "2025-01-01T00:00:00Z"})
        })
        .collect();
    exchange.json(&json!({
        "data": data,
        "has_more": false,
        "first_id": MODELS[0].0,
        "last_id": MODELS[MODELS.len() - 1].0
    }))
}

/// Whether a request to a path both APIs share (`/v1/models`) is meant for Anthropic.
pub fn is_addressed_to_anthropic(headers: &HeaderMap) -> bool {
    headers.contains_key(API_KEY) || headers.contains_key(VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn error_bodies_use_anthropic_types() {
        let kind = |status: u16| {
            Anthropic::error_body(
                &Failure::Injected(StatusCode::from_u16(status).unwrap()),
                "req_1",
            )["error"]["type"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(kind(429), "rate_limit_error");
        assert_eq!(kind(500), "api_error");
        assert_eq!(kind(529), "overloaded_error");
        let auth = Anthropic::error_body(&Failure::WrongCredential, "req_1");
        assert_eq!(
            auth,
            json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}, "request_id": "req_1"})
        );
    }

    #[test]
    fn ask_skips_server_tools_and_answers_after_tool_results() {
        let request = json!({
            "tools": [
                {"type": "web_search_20250305", "name": "web_search"},
                {"name": "f", "input_schema": {"type": "object"}}
            ],
            "tool_choice": {"type": "tool", "name": "f"},
            "output_config": {"format": {"type": "json_schema", "schema": {"type": "string"}}}
        });
        let asking = [json!({"role": "user", "content": [{"type": "text", "text": "hi"}]})];
        let a = ask(&request, &asking).unwrap();
        assert_eq!(a.tools.iter().map(|t| t.name).collect::<Vec<_>>(), ["f"]);
        assert_eq!(a.choice, Choice::Named("f"));
        assert!(a.user_asks);
        assert_eq!(a.format, Some(json!({"type": "string"})));

        let answered = [json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t", "content": "42"}]})];
        let beta = json!({"tool_choice": {"type": "any"},
            "output_format": {"type": "json_schema", "schema": {"type": "object"}}});
        let a = ask(&beta, &answered).unwrap();
        assert_eq!(a.choice, Choice::Required);
        assert!(!a.user_asks);
        assert_eq!(a.format, Some(json!({"type": "object"})));
        assert!(ask(&json!({"tool_choice": {"type": "tool"}}), &answered).is_err());
    }
}
