//! `POST /v1/completions`: the legacy Completions API (`text_completion` objects),
//! as JSON or as a stream of `text_completion` chunks.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Value};

use super::{limit, requested_model, OpenAi, SYSTEM_FINGERPRINT};
use crate::exchange::{self, Failure};
use crate::sse;
use crate::state::{unix_seconds, Sim};
use crate::usage::{input_tokens_for_bytes, text_bytes, Answer};

pub const PATH: &str = "/v1/completions";

/// The endpoint's `max_tokens` default.
const DEFAULT_MAX_TOKENS: u64 = 16;

/// Words per streamed text chunk.
const WORDS_PER_CHUNK: usize = 4;

pub async fn create(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    let exchange = match exchange::admit::<OpenAi>(&sim, PATH, &headers, Some(&body)).await {
        Ok(exchange) => exchange,
        Err(refusal) => return refusal,
    };
    let request = &exchange.request;
    match Completion::answer(&sim, request, exchange.control.answer_words()) {
        Ok(c) if request["stream"] == json!(true) => {
            let include_usage = request["stream_options"]["include_usage"] == json!(true);
            exchange.sse(c.chunks(include_usage && exchange.control.wants_usage()))
        }
        Ok(c) => exchange.json(&c.body(exchange.control.wants_usage())),
        Err(failure) => exchange.fail(failure),
    }
}

pub(crate) struct Completion {
    id: String,
    created: u64,
    model: String,
    answer: Answer,
    prompt_tokens: u64,
}

impl Completion {
    pub(crate) fn answer(sim: &Sim, request: &Value, answer_words: u64) -> Result<Self, Failure> {
        let model = requested_model(request)?;
        let prompt_bytes = match &request["prompt"] {
            Value::Null => {
                return Err(Failure::InvalidRequest(
                    "Missing required parameter: 'prompt'.".into(),
                ))
            }
            prompt => text_bytes(prompt),
        };
        let max_tokens = limit(request, "max_tokens").unwrap_or(DEFAULT_MAX_TOKENS);
        Ok(Completion {
            id: sim.new_id("cmpl-"),
            created: unix_seconds(),
            answer: Answer::sized(&model, Some(max_tokens), answer_words),
            model,
            prompt_tokens: input_tokens_for_bytes(prompt_bytes),
        })
    }

    fn finish_reason(&self) -> &'static str {
        if self.answer.truncated {
            "length"
        } else {
            "stop"
        }
    }

    fn usage(&self) -> Value {
        let output = self.answer.output_tokens();
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": output,
            "total_tokens": self.prompt_tokens + output
        })
    }

    fn object(&self, choices: Value) -> Value {
        json!({
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices
        })
    }

    pub(crate) fn body(&self, with_usage: bool) -> Value {
        let mut body = self.object(json!([{
            "text": self.answer.text,
            "index": 0,
            "logprobs": null,
            "finish_reason": self.finish_reason()
        }]));
        if with_usage {
            body["usage"] = self.usage();
        }
        body
    }

    /// Text chunks, the last with its `finish_reason`; then, when the client asked with
    /// `stream_options.include_usage`, a chunk with no choices and the usage (every
    /// other chunk then carries `"usage": null`); then `[DONE]`.
    pub(crate) fn chunks(&self, include_usage: bool) -> Vec<Bytes> {
        let chunk = |choices: Value, usage: Value| {
            let mut c = self.object(choices);
            if include_usage {
                c["usage"] = usage;
            }
            sse::data(&c)
        };
        let pieces = self.answer.deltas(WORDS_PER_CHUNK);
        let last = pieces.len().saturating_sub(1);
        let mut frames: Vec<Bytes> = pieces
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let finish = (i == last).then(|| self.finish_reason());
                chunk(
                    json!([{"text": text, "index": 0, "logprobs": null, "finish_reason": finish}]),
                    Value::Null,
                )
            })
            .collect();
        if include_usage {
            frames.push(chunk(json!([]), self.usage()));
        }
        frames.push(sse::done());
        frames
    }
}
