//! An OpenAI embeddings request as a Gemini `batchEmbedContents` request: one
//! `EmbedContentRequest` per input string, in order.
//!
//! `encoding_format` is accepted and answered with float arrays, which the official SDKs
//! read whatever they asked for (they ask for base64 by default and decode it only when
//! the answer is a string); `user` is dropped (Gemini has no end-user field).

use serde_json::{json, Map, Value};

use crate::translate::direction::Untranslatable;
use crate::translate::json_fields::{field, invalid, refuse};

/// Gemini takes at most this many requests in one `batchEmbedContents` call.
const MAX_INPUTS: usize = 100;

/// Translates an embeddings body for a Gemini lane serving `target_model`.
pub fn embeddings_to_gemini(
    body: &Map<String, Value>,
    target_model: &str,
) -> Result<Map<String, Value>, Untranslatable> {
    for (key, value) in body {
        match key.as_str() {
            _ if value.is_null() => {}
            "model" | "input" | "dimensions" | "encoding_format" | "user" => {}
            _ => {
                return Err(refuse(
                    key,
                    "Gemini",
                    "this option is not supported by translation",
                ))
            }
        }
    }
    let inputs: Vec<&str> = match field(body, "input") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            items.iter().filter_map(Value::as_str).collect()
        }
        Some(Value::Array(_)) => {
            return Err(refuse(
                "input",
                "Gemini",
                "token arrays cannot be sent to Gemini; send the text",
            ))
        }
        _ => return Err(invalid("`input` must be a string or an array of strings")),
    };
    if inputs.is_empty() || inputs.iter().any(|s| s.is_empty()) {
        return Err(invalid("`input` must hold non-empty strings"));
    }
    if inputs.len() > MAX_INPUTS {
        return Err(refuse(
            "input",
            "Gemini",
            "Gemini embeds at most 100 inputs per request",
        ));
    }
    let dimensions = match field(body, "dimensions") {
        Some(d) => Some(
            d.as_u64()
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid("`dimensions` must be a positive integer"))?,
        ),
        None => None,
    };
    if let Some(format) = field(body, "encoding_format") {
        if !matches!(format.as_str(), Some("float" | "base64")) {
            return Err(invalid("`encoding_format` must be float or base64"));
        }
    }
    let model = format!("models/{target_model}");
    let requests: Vec<Value> = inputs
        .iter()
        .map(|text| {
            let mut r = json!({"model": model, "content": {"parts": [{"text": text}]}});
            if let Some(d) = dimensions {
                r["outputDimensionality"] = d.into();
            }
            r
        })
        .collect();
    let mut out = Map::new();
    out.insert("requests".into(), Value::Array(requests));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(body: Value) -> Result<Value, Untranslatable> {
        let Value::Object(m) = body else {
            unreachable!()
        };
        embeddings_to_gemini(&m, "gemini-embedding-001").map(Value::Object)
    }

    #[test]
    fn one_request_per_input() {
        let out = translate(json!({"model": "e", "input": ["a", "b"], "dimensions": 8,
            "encoding_format": "base64", "user": "u"}))
        .unwrap();
        assert_eq!(
            out,
            json!({"requests": [
                {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 8},
                {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 8}
            ]})
        );
        let one = translate(json!({"input": "x"})).unwrap();
        assert_eq!(one["requests"].as_array().unwrap().len(), 1);
        assert!(one["requests"][0].get("outputDimensionality").is_none());
    }

    #[test]
    fn what_cannot_be_carried_is_refused() {
        assert!(translate(json!({"input": [[1, 2, 3]]}))
            .unwrap_err()
            .0
            .contains("token arrays"));
        assert!(translate(json!({"input": [""]})).is_err());
        assert!(translate(json!({"input": "x", "encoding_format": "int8"})).is_err());
        assert!(translate(json!({"input": "x", "brand_new": 1}))
            .unwrap_err()
            .0
            .contains("`brand_new`"));
        let many: Vec<String> = (0..101).map(|i| i.to_string()).collect();
        assert!(translate(json!({"input": many}))
            .unwrap_err()
            .0
            .contains("100"));
    }
}
