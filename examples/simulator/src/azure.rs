//! The Azure OpenAI API surface: a resource's deployments at
//! `/openai/deployments/{deployment}/...?api-version=...` and the versionless v1 API
//! at `/openai/v1/...` (the deployment named as `model`), with the key as `api-key`
//! or a Microsoft Entra ID token as a bearer. Answers are OpenAI's, in Azure's shape:
//! `prompt_filter_results` (in the JSON answer, and as a first stream chunk with no
//! choices), `content_filter_results` on every choice, no `service_tier`.
//! `x-sim-content-filter: prompt` refuses the request as Azure's content filter does
//! (400 `content_filter`); `completion` ends the answer with
//! `finish_reason: "content_filter"`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use crate::control::ContentFilter;
use crate::exchange::{self, bearer_matches, Exchange, Failure, Provider};
use crate::openai::{chat, completions, embeddings};
use crate::sse;
use crate::state::{Keys, Sim};

pub const CHAT_PATH: &str = "/openai/deployments/{deployment}/chat/completions";
pub const COMPLETIONS_PATH: &str = "/openai/deployments/{deployment}/completions";
pub const EMBEDDINGS_PATH: &str = "/openai/deployments/{deployment}/embeddings";
pub const V1_CHAT_PATH: &str = "/openai/v1/chat/completions";
pub const V1_COMPLETIONS_PATH: &str = "/openai/v1/completions";
pub const V1_EMBEDDINGS_PATH: &str = "/openai/v1/embeddings";

/// Whether a recorded route is one of Azure's.
pub fn is_azure_path(path: &str) -> bool {
    path.starts_with("/openai/")
}

pub fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route(CHAT_PATH, post(chat_deployment))
        .route(COMPLETIONS_PATH, post(completions_deployment))
        .route(EMBEDDINGS_PATH, post(embeddings_deployment))
        .route(V1_CHAT_PATH, post(chat_v1))
        .route(V1_COMPLETIONS_PATH, post(completions_v1))
        .route(V1_EMBEDDINGS_PATH, post(embeddings_v1))
}

pub struct AzureOpenAi;

const ACCESS_DENIED: &str = "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.";

impl Provider for AzureOpenAi {
    const REQUEST_ID_HEADER: &'static str = "apim-request-id";

    fn check_credential(keys: &Keys, headers: &HeaderMap) -> Result<(), Failure> {
        let key = headers.get("api-key").map(|v| v.as_bytes());
        let bearer = headers.get(AUTHORIZATION).map(|v| v.as_bytes());
        match (key, bearer) {
            (None, None) => Err(Failure::MissingCredential),
            (Some(k), _) if k == keys.azure.as_bytes() => Ok(()),
            (_, Some(b)) if bearer_matches(b, &keys.azure_entra) => Ok(()),
            _ => Err(Failure::WrongCredential),
        }
    }

    fn error_body(failure: &Failure, _request_id: &str) -> Value {
        let azure =
            |code: &str, message: &str| json!({"error": {"code": code, "message": message}});
        match failure {
            Failure::MissingCredential
            | Failure::WrongCredential
            | Failure::Injected(StatusCode::UNAUTHORIZED) => azure("401", ACCESS_DENIED),
            Failure::MalformedJson(_) => openai_shaped("We could not parse the JSON body of your request."),
            Failure::InvalidRequest(message) => openai_shaped(message),
            Failure::Injected(StatusCode::TOO_MANY_REQUESTS) => azure(
                "429",
                "Requests to the ChatCompletions_Create Operation under Azure OpenAI API have exceeded call rate limit of your current OpenAI S0 pricing tier (simulated). Please retry after 1 second.",
            ),
            Failure::Injected(StatusCode::NOT_FOUND) => azure("404", "Resource not found"),
            Failure::Injected(status) if status.is_server_error() => azure(
                "InternalServerError",
                "The service is temporarily unable to process your request. Please try again later.",
            ),
            Failure::Injected(status) => azure(
                status.as_str(),
                &format!("Simulated error {}.", status.as_u16()),
            ),
        }
    }
}

/// Azure answers request errors in OpenAI's error shape.
fn openai_shaped(message: &str) -> Value {
    json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}})
}

/// The four harm categories, none filtered.
fn harms_safe() -> Value {
    let safe = json!({"filtered": false, "severity": "safe"});
    json!({"hate": safe, "self_harm": safe, "sexual": safe, "violence": safe})
}

/// The verdict on the prompt (`prompt_filter_results`).
fn prompt_filter_results() -> Value {
    let mut results = harms_safe();
    results["jailbreak"] = json!({"filtered": false, "detected": false});
    json!([{"prompt_index": 0, "content_filter_results": results}])
}

/// The verdict on one choice's output; `filtered`: violence caught.
fn completion_filter_results(filtered: bool) -> Value {
    let mut results = harms_safe();
    let none = json!({"filtered": false, "detected": false});
    results["protected_material_code"] = none.clone();
    results["protected_material_text"] = none;
    if filtered {
        results["violence"] = json!({"filtered": true, "severity": "medium"});
    }
    results
}

/// The 400 Azure answers when its content filter refuses the prompt.
fn prompt_refusal() -> Value {
    let mut results = harms_safe();
    results["jailbreak"] = json!({"filtered": false, "detected": false});
    results["violence"] = json!({"filtered": true, "severity": "medium"});
    json!({"error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
        "type": null,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": results
        }
    }})
}

/// Where a request came in: a deployment (`api-version` required) or the v1 API.
enum Route {
    Deployment(String),
    V1,
}

/// The shared checks, then Azure's own: an `api-version` on deployment paths, the
/// prompt filter, and the `model` the answer names (a deployment path takes the
/// body's, else the deployment's name; the v1 API requires it).
async fn admit(
    sim: &Sim,
    path: &'static str,
    route: Route,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Exchange<AzureOpenAi>, Response> {
    let target = uri.path_and_query().map(|p| p.as_str());
    let mut exchange =
        exchange::admit_at::<AzureOpenAi>(sim, path, target, headers, Some(body)).await?;
    let api_version = uri
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("api-version="))
        .filter(|v| !v.is_empty());
    if let Route::Deployment(deployment) = route {
        if api_version.is_none() {
            return Err(exchange.refuse_with(
                StatusCode::NOT_FOUND,
                &json!({"error": {"code": "404", "message": "Resource not found"}}),
            ));
        }
        if !exchange.request["model"].is_string() {
            exchange.request["model"] = Value::String(deployment);
        }
    }
    if exchange.control.content_filter == Some(ContentFilter::Prompt) {
        return Err(exchange.refuse_with(StatusCode::BAD_REQUEST, &prompt_refusal()));
    }
    Ok(exchange)
}

async fn chat_deployment(
    State(sim): State<Arc<Sim>>,
    Path(deployment): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let route = Route::Deployment(deployment);
    chat(&sim, CHAT_PATH, route, &uri, &headers, &body).await
}

async fn chat_v1(
    State(sim): State<Arc<Sim>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    chat(&sim, V1_CHAT_PATH, Route::V1, &uri, &headers, &body).await
}

async fn chat(
    sim: &Sim,
    path: &'static str,
    route: Route,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let exchange = match admit(sim, path, route, uri, headers, body).await {
        Ok(exchange) => exchange,
        Err(refusal) => return refusal,
    };
    let completion = match chat::Completion::answer(sim, &exchange) {
        Ok(completion) => completion,
        Err(failure) => return exchange.fail(failure),
    };
    let filtered = exchange.control.content_filter == Some(ContentFilter::Completion);
    let wants_usage = exchange.control.wants_usage();
    if exchange.request["stream"] == json!(true) {
        let include_usage = exchange.request["stream_options"]["include_usage"] == json!(true);
        let chunks = completion.chunk_values(include_usage && wants_usage);
        exchange.sse(stream_frames(chunks, filtered))
    } else {
        let mut answer = completion.body(wants_usage);
        in_azure_shape(&mut answer, filtered);
        exchange.json(&answer)
    }
}

/// A whole answer (chat or legacy completion) as Azure sends it.
fn in_azure_shape(answer: &mut Value, filtered: bool) {
    if let Some(object) = answer.as_object_mut() {
        object.remove("service_tier");
        object.insert("prompt_filter_results".into(), prompt_filter_results());
    }
    for choice in answer["choices"].as_array_mut().into_iter().flatten() {
        choice["content_filter_results"] = completion_filter_results(filtered);
        if filtered {
            choice["finish_reason"] = json!("content_filter");
        }
    }
}

/// The stream as Azure sends it: the prompt's verdict first (no choices, empty id and
/// model), then OpenAI's chunks with a verdict on every choice (empty on the role
/// chunk), then `[DONE]`.
fn stream_frames(chunks: Vec<Value>, filtered: bool) -> Vec<Bytes> {
    let first = json!({"choices": [], "created": 0, "id": "", "model": "", "object": "",
        "prompt_filter_results": prompt_filter_results()});
    let mut frames = vec![sse::data(&first)];
    for mut chunk in chunks {
        if let Some(object) = chunk.as_object_mut() {
            object.remove("service_tier");
        }
        for choice in chunk["choices"].as_array_mut().into_iter().flatten() {
            let finishes = choice["finish_reason"].is_string();
            let is_role = choice["delta"]["role"].is_string();
            choice["content_filter_results"] = if is_role {
                json!({})
            } else {
                completion_filter_results(filtered && finishes)
            };
            if filtered && finishes {
                choice["finish_reason"] = json!("content_filter");
            }
        }
        frames.push(sse::data(&chunk));
    }
    frames.push(sse::done());
    frames
}

async fn embeddings_deployment(
    State(sim): State<Arc<Sim>>,
    Path(deployment): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let route = Route::Deployment(deployment);
    embed(&sim, EMBEDDINGS_PATH, route, &uri, &headers, &body).await
}

async fn embeddings_v1(
    State(sim): State<Arc<Sim>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    embed(&sim, V1_EMBEDDINGS_PATH, Route::V1, &uri, &headers, &body).await
}

/// Embeddings answer as OpenAI's do (Azure filters no embedding).
async fn embed(
    sim: &Sim,
    path: &'static str,
    route: Route,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let exchange = match admit(sim, path, route, uri, headers, body).await {
        Ok(exchange) => exchange,
        Err(refusal) => return refusal,
    };
    match embeddings::answer(&exchange.request, exchange.control.wants_usage()) {
        Ok(answer) => exchange.json(&answer),
        Err(failure) => exchange.fail(failure),
    }
}

async fn completions_deployment(
    State(sim): State<Arc<Sim>>,
    Path(deployment): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let route = Route::Deployment(deployment);
    complete(&sim, COMPLETIONS_PATH, route, &uri, &headers, &body).await
}

async fn completions_v1(
    State(sim): State<Arc<Sim>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    complete(&sim, V1_COMPLETIONS_PATH, Route::V1, &uri, &headers, &body).await
}

/// Legacy completions: the JSON answer in Azure's shape; a stream as OpenAI's.
async fn complete(
    sim: &Sim,
    path: &'static str,
    route: Route,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let exchange = match admit(sim, path, route, uri, headers, body).await {
        Ok(exchange) => exchange,
        Err(refusal) => return refusal,
    };
    let request = &exchange.request;
    let words = exchange.control.answer_words();
    let completion = match completions::Completion::answer(sim, request, words) {
        Ok(completion) => completion,
        Err(failure) => return exchange.fail(failure),
    };
    let wants_usage = exchange.control.wants_usage();
    if request["stream"] == json!(true) {
        let include_usage = request["stream_options"]["include_usage"] == json!(true);
        exchange.sse(completion.chunks(include_usage && wants_usage))
    } else {
        let mut answer = completion.body(wants_usage);
        let filtered = exchange.control.content_filter == Some(ContentFilter::Completion);
        in_azure_shape(&mut answer, filtered);
        exchange.json(&answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn keys() -> Keys {
        Keys {
            openai: "sk-o".into(),
            anthropic: "sk-a".into(),
            azure: "az-key".into(),
            azure_entra: "az-token".into(),
            gemini: "g-k".into(),
            vertex: "v-t".into(),
            aws_access_key_id: "AKID".into(),
            aws_secret_access_key: "s".into(),
        }
    }

    #[test]
    fn the_key_or_an_entra_token_is_accepted() {
        let check = |pairs: &[(&'static str, &str)]| {
            AzureOpenAi::check_credential(&keys(), &headers(pairs))
        };
        assert_eq!(check(&[("api-key", "az-key")]), Ok(()));
        assert_eq!(check(&[("authorization", "Bearer az-token")]), Ok(()));
        assert_eq!(check(&[]), Err(Failure::MissingCredential));
        assert_eq!(check(&[("api-key", "sk-o")]), Err(Failure::WrongCredential));
        assert_eq!(
            check(&[("authorization", "Bearer az-key")]),
            Err(Failure::WrongCredential),
            "the key is not a token"
        );
        let body = AzureOpenAi::error_body(&Failure::WrongCredential, "r").to_string();
        assert!(body.contains("\"401\"") && !body.contains("az-key"));
    }

    #[test]
    fn a_stream_starts_with_the_prompt_verdict_and_flags_every_choice() {
        let chunks = vec![
            json!({"id": "c", "service_tier": "default", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]}),
            json!({"id": "c", "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": null}]}),
            json!({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
            json!({"id": "c", "choices": [], "usage": {"prompt_tokens": 1}}),
        ];
        let frames = stream_frames(chunks.clone(), false);
        let data: Vec<Value> = frames[..frames.len() - 1]
            .iter()
            .map(|f| serde_json::from_slice(&f[6..f.len() - 2]).unwrap())
            .collect();
        assert_eq!(data[0]["choices"], json!([]));
        assert_eq!(data[0]["id"], "");
        assert_eq!(data[0]["prompt_filter_results"][0]["prompt_index"], 0);
        assert_eq!(data[1]["choices"][0]["content_filter_results"], json!({}));
        assert!(data[1].get("service_tier").is_none());
        assert_eq!(
            data[2]["choices"][0]["content_filter_results"]["hate"]["severity"],
            "safe"
        );
        assert_eq!(data[3]["choices"][0]["finish_reason"], "stop");
        assert_eq!(data[4]["usage"]["prompt_tokens"], 1);
        assert_eq!(&frames[frames.len() - 1][..], b"data: [DONE]\n\n");

        let frames = stream_frames(chunks, true);
        let finish: Value = serde_json::from_slice(&frames[3][6..frames[3].len() - 2]).unwrap();
        assert_eq!(finish["choices"][0]["finish_reason"], "content_filter");
        assert_eq!(
            finish["choices"][0]["content_filter_results"]["violence"]["filtered"],
            true
        );
    }

    #[test]
    fn the_prompt_refusal_is_azures_content_filter_error() {
        let body = prompt_refusal();
        assert_eq!(body["error"]["code"], "content_filter");
        assert_eq!(
            body["error"]["innererror"]["code"],
            "ResponsibleAIPolicyViolation"
        );
        assert_eq!(
            body["error"]["innererror"]["content_filter_result"]["violence"]["filtered"],
            true
        );
    }
}
