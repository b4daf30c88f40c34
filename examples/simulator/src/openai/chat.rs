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
    answer: Answer,
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
        let answer = Answer::sized(&model, limit, control.answer_words());
        let usage = TokenUsage::new(
            input_tokens_for_bytes(input_bytes),
            control.cached_tokens,
            control.cache_write_tokens,
            answer.output_tokens(),
        );
        Ok(Completion {
            id: sim.new_id("chatcmpl-"),
            created: unix_seconds(),
            model,
            answer,
            usage,
            service_tier: super::served_tier(request, control),
        })
    }

    fn finish_reason(&self) -> &'static str {
        if self.answer.truncated {
            "length"
        } else {
            "stop"
        }
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
                    "content": self.answer.text,
                    "refusal": null,
                    "annotations": []
                },
                "logprobs": null,
                "finish_reason": self.finish_reason()
            }],
            "service_tier": self.service_tier,
            "system_fingerprint": SYSTEM_FINGERPRINT
        });
        if with_usage {
            body["usage"] = self.usage_json();
        }
        body
    }

    /// The stream: a role chunk, content chunks, a finish chunk, then (only when the
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

        let mut frames = vec![chunk(
            choice(
                json!({"role": "assistant", "content": "", "refusal": null}),
                None,
            ),
            None,
        )];
        for piece in self.answer.deltas(WORDS_PER_DELTA) {
            frames.push(chunk(choice(json!({"content": piece}), None), None));
        }
        frames.push(chunk(choice(json!({}), Some(self.finish_reason())), None));
        if include_usage {
            frames.push(chunk(json!([]), Some(self.usage_json())));
        }
        frames
    }
}
