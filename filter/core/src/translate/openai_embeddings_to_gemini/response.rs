//! A Gemini `batchEmbedContents` answer as an OpenAI embedding list.
//!
//! The Gemini API reports no token counts for embeddings: `usage` carries
//! `usageMetadata.promptTokenCount` when an answer has it, else zeros (Tollgate prices
//! such a request from its own estimate of the input, flagged `estimated`).

use serde_json::{json, Value};

use crate::translate::direction::Untranslatable;
use crate::translate::json_fields::{parse_object, unreadable};

/// A `BatchEmbedContentsResponse` as an OpenAI `{"object": "list", "data": [...]}`.
pub fn gemini_embeddings_to_openai(
    body: &[u8],
    client_model: &str,
) -> Result<Vec<u8>, Untranslatable> {
    let response = parse_object(body)?;
    let embeddings = response
        .get("embeddings")
        .and_then(Value::as_array)
        .ok_or_else(|| unreadable("the answer has no embeddings"))?;
    let data: Vec<Value> = embeddings
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"object": "embedding", "index": i, "embedding": e["values"]}))
        .collect();
    if data.iter().any(|d| !d["embedding"].is_array()) {
        return Err(unreadable("an embedding has no values"));
    }
    let prompt = response
        .get("usageMetadata")
        .and_then(|u| u["promptTokenCount"].as_u64())
        .unwrap_or(0);
    let out = json!({
        "object": "list",
        "data": data,
        "model": client_model,
        "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
    });
    Ok(out.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_in_order_with_usage_when_reported() {
        let out: Value = serde_json::from_slice(
            &gemini_embeddings_to_openai(
                br#"{"embeddings":[{"values":[0.1,0.2]},{"values":[0.3,0.4]}]}"#,
                "text-embedding-3-small",
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(out["object"], "list");
        assert_eq!(out["model"], "text-embedding-3-small");
        assert_eq!(
            out["data"][1],
            json!({"object": "embedding", "index": 1, "embedding": [0.3, 0.4]})
        );
        assert_eq!(out["usage"], json!({"prompt_tokens": 0, "total_tokens": 0}));
        let reported: Value = serde_json::from_slice(
            &gemini_embeddings_to_openai(
                br#"{"embeddings":[{"values":[1.0]}],"usageMetadata":{"promptTokenCount":7}}"#,
                "m",
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(reported["usage"]["prompt_tokens"], 7);
        assert!(gemini_embeddings_to_openai(br#"{"embeddings":[{}]}"#, "m").is_err());
        assert!(gemini_embeddings_to_openai(br#"{"candidates":[]}"#, "m").is_err());
    }
}
