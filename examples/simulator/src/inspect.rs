//! Endpoints for the test harness rather than for SDKs: liveness, the last provider
//! request as it arrived (credentials replaced by a verdict), and request counts.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::anthropic;
use crate::azure;
use crate::bedrock;
use crate::exchange::{bearer_matches, MODELS_PATH};
use crate::gemini;
use crate::state::{Keys, Sim};

/// Headers whose values are secrets; `/_sim/last` shows a verdict instead.
const API_KEY: &str = "x-api-key";
/// Azure OpenAI's key header (elsewhere just another secret).
const AZURE_API_KEY: &str = "api-key";
const OTHER_SECRETS: [&str; 4] = [
    "proxy-authorization",
    "cookie",
    "api-key",
    "x-amz-security-token",
];

pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /_sim/last`: `{path, headers, body}` of the last provider request.
pub async fn last(State(sim): State<Arc<Sim>>) -> Response {
    let Some(request) = sim.last_request() else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no provider request yet"})),
        )
            .into_response();
    };
    let body = serde_json::from_slice::<Value>(&request.body).unwrap_or(Value::Null);
    Json(json!({
        "path": request.path,
        "target": request.target,
        "headers": sanitized_headers(request.path, &request.headers, &sim.keys),
        "body": body
    }))
    .into_response()
}

/// `GET /_sim/stats`: `{"requests": {path: count}}` over provider endpoints only, so
/// polling it (or `/healthz`) never changes it.
pub async fn stats(State(sim): State<Arc<Sim>>) -> Json<Value> {
    Json(json!({"requests": sim.requests_by_path()}))
}

/// Header names (lowercase, as HTTP/2 and hyper store them) to values; credentials
/// become "ok" or "bad" against the key of the provider the path belongs to, other
/// secrets "redacted". Repeated headers are joined with ", ".
fn sanitized_headers(path: &str, headers: &HeaderMap, keys: &Keys) -> Map<String, Value> {
    let azure = azure::is_azure_path(path);
    let provider_key = if path == gemini::VERTEX_PATH || path == gemini::VERTEX_STREAM_PATH {
        &keys.vertex
    } else if path == anthropic::PATH
        || path == anthropic::COUNT_TOKENS_PATH
        || (path == MODELS_PATH && anthropic::is_addressed_to_anthropic(headers))
    {
        &keys.anthropic
    } else if azure {
        &keys.azure_entra
    } else {
        &keys.openai
    };
    let mut out = Map::new();
    for (name, value) in headers {
        let name = name.as_str();
        let is_bedrock = path == bedrock::CONVERSE_PATH || path == bedrock::CONVERSE_STREAM_PATH;
        let shown = if name == AUTHORIZATION.as_str() && is_bedrock {
            // A SigV4 header: the key id and signed header names are shown, the
            // signature is not.
            let text = String::from_utf8_lossy(value.as_bytes());
            match text.split_once("Signature=") {
                Some((head, _)) => format!("{head}Signature=redacted"),
                None => "redacted".to_owned(),
            }
        } else if name == AUTHORIZATION.as_str() {
            verdict(bearer_matches(value.as_bytes(), provider_key))
        } else if name == API_KEY {
            verdict(value.as_bytes() == keys.anthropic.as_bytes())
        } else if name == AZURE_API_KEY && azure {
            verdict(value.as_bytes() == keys.azure.as_bytes())
        } else if name == gemini::API_KEY {
            verdict(value.as_bytes() == keys.gemini.as_bytes())
        } else if OTHER_SECRETS.contains(&name) {
            "redacted".to_owned()
        } else {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        };
        match out.get_mut(name) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&shown);
            }
            _ => {
                out.insert(name.to_owned(), Value::String(shown));
            }
        }
    }
    out
}

fn verdict(ok: bool) -> String {
    if ok { "ok" } else { "bad" }.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_replaced_by_a_verdict() {
        let keys = Keys {
            openai: "sk-o".into(),
            anthropic: "sk-a".into(),
            azure: "az-k".into(),
            azure_entra: "az-t".into(),
            gemini: "g-k".into(),
            vertex: "v-t".into(),
            aws_access_key_id: "AKID".into(),
            aws_secret_access_key: "s".into(),
        };
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer sk-o".parse().unwrap());
        headers.insert("x-api-key", "kt_team_key".parse().unwrap());
        headers.insert("cookie", "session=1".parse().unwrap());
        headers.append("x-trace", "a".parse().unwrap());
        headers.append("x-trace", "b".parse().unwrap());
        let shown = Value::Object(sanitized_headers("/v1/chat/completions", &headers, &keys));
        assert_eq!(
            shown,
            json!({"authorization": "ok", "x-api-key": "bad", "cookie": "redacted", "x-trace": "a, b"})
        );
        // The same bearer token is the wrong key for the Anthropic API.
        let shown = sanitized_headers(anthropic::PATH, &headers, &keys);
        assert_eq!(shown["authorization"], "bad");
        // Azure's key header gets a verdict on Azure paths only.
        headers.insert("api-key", "az-k".parse().unwrap());
        let shown = sanitized_headers(azure::CHAT_PATH, &headers, &keys);
        assert_eq!(
            (&shown["api-key"], &shown["authorization"]),
            (&json!("ok"), &json!("bad"))
        );
        let shown = sanitized_headers("/v1/chat/completions", &headers, &keys);
        assert_eq!(shown["api-key"], "redacted");
        // Google's key and Vertex's token are secrets too.
        headers.insert("x-goog-api-key", "g-k".parse().unwrap());
        headers.insert("authorization", "Bearer v-t".parse().unwrap());
        let shown = sanitized_headers(gemini::VERTEX_PATH, &headers, &keys);
        assert_eq!(
            (
                shown["x-goog-api-key"].as_str(),
                shown["authorization"].as_str()
            ),
            (Some("ok"), Some("ok"))
        );
        // A Bedrock signature shows its key id and signed headers only.
        let mut sigv4 = HeaderMap::new();
        sigv4.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc123"
                .parse()
                .unwrap(),
        );
        sigv4.insert("x-amz-security-token", "tok".parse().unwrap());
        let shown = sanitized_headers(bedrock::CONVERSE_PATH, &sigv4, &keys);
        assert!(shown["authorization"]
            .as_str()
            .unwrap()
            .ends_with("Signature=redacted"));
        assert_eq!(shown["x-amz-security-token"], "redacted");
    }
}
