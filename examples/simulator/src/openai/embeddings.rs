//! `POST /v1/embeddings`: one embedding per input, as float arrays or (the SDKs'
//! default) base64 of little-endian float32 values, with `usage.prompt_tokens`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine;
use serde_json::{json, Value};

use super::{requested_model, OpenAi};
use crate::exchange::{self, Failure};
use crate::state::Sim;
use crate::usage::input_tokens_for_bytes;

pub const PATH: &str = "/v1/embeddings";

pub async fn create(State(sim): State<Arc<Sim>>, headers: HeaderMap, body: Bytes) -> Response {
    let exchange = match exchange::admit::<OpenAi>(&sim, PATH, &headers, Some(&body)).await {
        Ok(exchange) => exchange,
        Err(refusal) => return refusal,
    };
    match answer(&exchange.request, exchange.control.wants_usage()) {
        Ok(body) => exchange.json(&body),
        Err(failure) => exchange.fail(failure),
    }
}

/// The model's native vector length.
fn native_dimensions(model: &str) -> usize {
    if model.contains("large") {
        3072
    } else {
        1536
    }
}

/// One input: text, or tokens already (an array of integers).
enum Input<'a> {
    Text(&'a str),
    Tokens(&'a [Value]),
}

impl Input<'_> {
    /// Tokens by the simulator's rule (text: a token per 4 bytes; token arrays: as given).
    fn tokens(&self) -> u64 {
        match self {
            Input::Text(t) => input_tokens_for_bytes(t.len()),
            Input::Tokens(t) => t.len() as u64,
        }
    }

    fn seed(&self) -> u64 {
        // FNV-1a: a stable vector per input, so equal inputs embed equally.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |b: u8| {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        };
        match self {
            Input::Text(t) => t.bytes().for_each(&mut eat),
            Input::Tokens(t) => t
                .iter()
                .flat_map(|v| v.as_u64().unwrap_or(0).to_le_bytes())
                .for_each(&mut eat),
        }
        h
    }
}

fn inputs(request: &Value) -> Result<Vec<Input<'_>>, Failure> {
    let bad = || {
        Failure::InvalidRequest(
            "'input' must be a string, an array of strings, an array of integers or an array of arrays of integers.".into(),
        )
    };
    match &request["input"] {
        Value::String(s) => Ok(vec![Input::Text(s)]),
        Value::Array(items) if items.is_empty() => Err(bad()),
        Value::Array(items) if items.iter().all(Value::is_u64) => Ok(vec![Input::Tokens(items)]),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(Input::Text(s)),
                Value::Array(t) if t.iter().all(Value::is_u64) => Ok(Input::Tokens(t)),
                _ => Err(bad()),
            })
            .collect(),
        Value::Null => Err(Failure::InvalidRequest(
            "Missing required parameter: 'input'.".into(),
        )),
        _ => Err(bad()),
    }
}

/// A deterministic unit-length-ish vector for `seed`.
fn vector(seed: u64, dimensions: usize) -> Vec<f32> {
    let mut x = seed | 1;
    (0..dimensions)
        .map(|_| {
            // xorshift64: cheap and reproducible.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) / (dimensions as f32).sqrt()
        })
        .collect()
}

pub(crate) fn answer(request: &Value, with_usage: bool) -> Result<Value, Failure> {
    let model = requested_model(request)?;
    let inputs = inputs(request)?;
    let dimensions = match &request["dimensions"] {
        Value::Null => native_dimensions(&model),
        v => v
            .as_u64()
            .filter(|d| *d > 0 && (*d as usize) <= native_dimensions(&model))
            .ok_or_else(|| {
                Failure::InvalidRequest(
                    "'dimensions' must be a positive integer no larger than the model's.".into(),
                )
            })? as usize,
    };
    let base64 = match request["encoding_format"].as_str() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(Failure::InvalidRequest(format!(
                "'{other}' is not one of ['float', 'base64'] - 'encoding_format'"
            )))
        }
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let v = vector(input.seed(), dimensions);
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let tokens: u64 = inputs.iter().map(Input::tokens).sum();
    let mut body = json!({"object": "list", "data": data, "model": model});
    if with_usage {
        body["usage"] = json!({"prompt_tokens": tokens, "total_tokens": tokens});
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_or_base64_of_the_same_little_endian_float32_values() {
        let floats = answer(
            &json!({"model": "text-embedding-3-small", "input": ["abcdefgh", "x"], "dimensions": 4}),
            true,
        )
        .unwrap();
        assert_eq!(
            floats["usage"],
            json!({"prompt_tokens": 3, "total_tokens": 3})
        );
        assert_eq!(floats["data"][1]["index"], 1);
        let first: Vec<f32> = floats["data"][0]["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(first.len(), 4);
        let encoded = answer(
            &json!({"model": "text-embedding-3-small", "input": ["abcdefgh", "x"], "dimensions": 4, "encoding_format": "base64"}),
            true,
        )
        .unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded["data"][0]["embedding"].as_str().unwrap())
            .unwrap();
        let decoded: Vec<f32> = bytes
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(decoded, first);
    }

    #[test]
    fn token_inputs_count_as_given_and_bad_inputs_are_refused() {
        let tokens = answer(&json!({"model": "m", "input": [[1, 2, 3], [4]]}), true).unwrap();
        assert_eq!(tokens["usage"]["prompt_tokens"], 4);
        assert_eq!(
            tokens["data"][0]["embedding"].as_array().unwrap().len(),
            1536
        );
        assert!(answer(&json!({"model": "m", "input": [1.5]}), true).is_err());
        assert!(answer(&json!({"model": "m"}), true).is_err());
        assert!(answer(
            &json!({"model": "m", "input": "a", "encoding_format": "hex"}),
            true
        )
        .is_err());
    }
}
