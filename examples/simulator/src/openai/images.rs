//! `POST /v1/images/generations`: an endpoint Tollgate passes through rather than
//! governs. Answers as GPT Image models do: base64 image data and token `usage`
//! (`input_tokens`, `output_tokens`), with no `model` field.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;

use super::OpenAi;
use crate::exchange::{self, Failure};
use crate::state::{unix_seconds, Sim};
use crate::usage::input_tokens_for_bytes;

pub const PATH: &str = "/v1/images/generations";

/// Output tokens of one 1024x1024 image at medium quality.
const TOKENS_PER_IMAGE: u64 = 1056;

/// A 1x1 transparent PNG.
const PIXEL_PNG_BASE64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

pub async fn create(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    let exchange = match exchange::admit::<OpenAi>(&sim, PATH, &headers, Some(&body)).await {
        Ok(exchange) => exchange,
        Err(refusal) => return refusal,
    };
    let request = &exchange.request;
    let Some(prompt) = request["prompt"].as_str() else {
        return exchange.fail(Failure::InvalidRequest(
            "Missing required parameter: 'prompt'.".into(),
        ));
    };
    let n = request["n"].as_u64().unwrap_or(1).max(1);
    let input = input_tokens_for_bytes(prompt.len());
    let output = TOKENS_PER_IMAGE * n;
    let data: Vec<_> = (0..n)
        .map(|_| json!({"b64_json": PIXEL_PNG_BASE64}))
        .collect();
    exchange.json(&json!({
        "created": unix_seconds(),
        "data": data,
        "usage": {
            "total_tokens": input + output,
            "input_tokens": input,
            "output_tokens": output,
            "input_tokens_details": {"text_tokens": input, "image_tokens": 0}
        }
    }))
}
