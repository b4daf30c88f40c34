//! The OpenAI API surface: credential rule, error bodies and the model list shared by
//! Chat Completions (`chat`), the Responses API (`responses`), legacy completions
//! (`completions`), embeddings (`embeddings`), image generation (`images`) and
//! Realtime sessions over WebSocket (`realtime`).

pub mod chat;
pub mod completions;
pub mod embeddings;
pub mod images;
pub mod realtime;
pub mod responses;

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use crate::exchange::{self, bearer_matches, Failure, Provider};
use crate::state::{unix_seconds, Keys, Sim};

pub struct OpenAi;

impl Provider for OpenAi {
    const REQUEST_ID_HEADER: &'static str = "x-request-id";

    fn check_credential(keys: &Keys, headers: &HeaderMap) -> Result<(), Failure> {
        match headers.get(AUTHORIZATION).map(|v| v.as_bytes()) {
            None => Err(Failure::MissingCredential),
            Some(value) if bearer_matches(value, &keys.openai) => Ok(()),
            Some(_) => Err(Failure::WrongCredential),
        }
    }

    fn error_body(failure: &Failure, _request_id: &str) -> Value {
        let (message, kind, code): (String, &str, Option<&str>) = match failure {
            Failure::MissingCredential => (
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).".into(),
                "invalid_request_error",
                None,
            ),
            // The real message masks part of the key; this one leaves the key out entirely.
            Failure::WrongCredential | Failure::Injected(StatusCode::UNAUTHORIZED) => (
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.".into(),
                "invalid_request_error",
                Some("invalid_api_key"),
            ),
            Failure::MalformedJson(_) => (
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)".into(),
                "invalid_request_error",
                None,
            ),
            Failure::InvalidRequest(message) => (message.clone(), "invalid_request_error", None),
            Failure::Injected(StatusCode::TOO_MANY_REQUESTS) => (
                "Rate limit reached for requests (simulated). Please try again in 1s.".into(),
                "requests",
                Some("rate_limit_exceeded"),
            ),
            Failure::Injected(StatusCode::NOT_FOUND) => (
                "The model does not exist or you do not have access to it.".into(),
                "invalid_request_error",
                Some("model_not_found"),
            ),
            Failure::Injected(status) if status.is_server_error() => {
                let message = if matches!(status.as_u16(), 503 | 529) {
                    "The server is overloaded or not ready yet."
                } else {
                    "The server had an error while processing your request. Sorry about that!"
                };
                (message.into(), "server_error", None)
            }
            Failure::Injected(status) => (
                format!("Simulated error {}.", status.as_u16()),
                "invalid_request_error",
                None,
            ),
        };
        json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
    }
}

/// The `service_tier` a response reports: the one `x-sim-service-tier` names, else
/// the tier the request asked for when it is a concrete one, else `default` (what
/// OpenAI reports for `auto` on a standard project).
fn served_tier(request: &Value, control: &crate::control::Control) -> String {
    if let Some(tier) = &control.service_tier {
        return tier.clone();
    }
    match request["service_tier"].as_str() {
        Some(tier @ ("flex" | "priority" | "scale")) => tier.to_owned(),
        _ => "default".to_owned(),
    }
}

/// The `model` field every OpenAI request must name.
fn requested_model(request: &Value) -> Result<String, Failure> {
    request["model"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Failure::InvalidRequest("you must provide a model parameter".into()))
}

/// An output-token limit field, if the request sets one to a non-negative integer.
fn limit(request: &Value, field: &str) -> Option<u64> {
    request[field].as_u64()
}

/// A fingerprint like the real API's, constant for the simulator's one "backend".
const SYSTEM_FINGERPRINT: &str = "fp_tollgate_sim";

const MODELS: [&str; 6] = [
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-5",
    "o4-mini",
];

/// `GET /v1/models` in the OpenAI list shape (the route picks this or Anthropic's list).
pub async fn models(sim: &Sim, headers: &HeaderMap) -> Response {
    let exchange = match exchange::admit::<OpenAi>(sim, exchange::MODELS_PATH, headers, None).await
    {
        Ok(exchange) => exchange,
        Err(refusal) => return refusal,
    };
    let created = unix_seconds();
    let data: Vec<Value> = MODELS
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": created, "owned_by": "system"}))
        .collect();
    exchange.json(&json!({"object": "list", "data": data}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_key_error_never_contains_the_key() {
        let body = OpenAi::error_body(&Failure::WrongCredential, "req_1").to_string();
        assert!(body.contains("invalid_api_key") && !body.contains("sk-"));
    }
}
