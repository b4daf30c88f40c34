//! Google's Gemini `generateContent` surface, in both URL forms: the Gemini API
//! (`/v1beta/models/{model}:generateContent`, or `/v1/...` as Google's SDK calls it by
//! default; key in `x-goog-api-key`) and Vertex AI
//! (`/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:...`,
//! an OAuth bearer token). `:streamGenerateContent?alt=sse` streams
//! `data: <GenerateContentResponse>` events, CRLF-framed as Google sends them; without
//! `alt=sse` it answers one JSON array of the same chunks, as Google does.
//!
//! Tokens follow the simulator's rules (`usage`): the prompt is the text of
//! `systemInstruction` and `contents`; `x-sim-cached-tokens` reports
//! `cachedContentTokenCount` (part of the prompt) and `x-sim-thinking-tokens`
//! `thoughtsTokenCount` (beside `candidatesTokenCount`).
//!
//! Function calling and JSON output follow the simulator's shared rules
//! ([`crate::output`]), read from Gemini's fields: `tools[].functionDeclarations`
//! (`parametersJsonSchema`, or the OpenAPI-style `parameters`), the mode of
//! `toolConfig.functionCallingConfig` (`AUTO`/`VALIDATED`, `ANY` with its
//! `allowedFunctionNames`, `NONE`), whether the last turn is a `functionResponse`,
//! and `generationConfig.responseMimeType: application/json` with
//! `responseJsonSchema` or `responseSchema`. A call is answered as one `functionCall`
//! part `{name, args}` with finish reason `STOP`; a stream carries it whole in one
//! chunk, as Gemini does.
//!
//! Gemini 3 models (`gemini-3*`) sign their function calls with a `thoughtSignature`
//! on the part and, as Google does, refuse a request whose current turn replays a
//! model step's first `functionCall` without one (400 INVALID_ARGUMENT).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use crate::exchange::{self, bearer_matches, Exchange, Failure, Provider};
use crate::output::Output;
use crate::sse;
use crate::state::{Keys, Sim};
use crate::usage::{input_tokens_for_bytes, Answer, TokenUsage};

mod tools;

use tools::{ask, check_signatures, signs_calls};

pub const GEMINI_ROUTE: &str = "/v1beta/models/{call}";
/// The stable API version, which Google's SDK calls by default.
pub const GEMINI_V1_ROUTE: &str = "/v1/models/{call}";
pub const VERTEX_ROUTE: &str =
    "/v1/projects/{project}/locations/{location}/publishers/google/models/{call}";

/// Paths as recorded for `/_sim/last` and `/_sim/stats` (the model left as a pattern).
pub const GEMINI_PATH: &str = "/v1beta/models/{model}:generateContent";
pub const GEMINI_STREAM_PATH: &str = "/v1beta/models/{model}:streamGenerateContent";
pub const GEMINI_V1_PATH: &str = "/v1/models/{model}:generateContent";
pub const GEMINI_V1_STREAM_PATH: &str = "/v1/models/{model}:streamGenerateContent";
pub const GEMINI_EMBED_PATH: &str = "/v1beta/models/{model}:batchEmbedContents";
pub const GEMINI_V1_EMBED_PATH: &str = "/v1/models/{model}:batchEmbedContents";

/// Dimensions of a simulated embedding when the request names none (Gemini's default
/// for gemini-embedding-001 is 3072; tests ask for fewer).
const DEFAULT_DIMENSIONS: u64 = 768;
pub const VERTEX_PATH: &str =
    "/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent";
pub const VERTEX_STREAM_PATH: &str = "/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:streamGenerateContent";

pub const API_KEY: &str = "x-goog-api-key";

/// Words per streamed chunk.
const WORDS_PER_CHUNK: usize = 4;

/// The Gemini API: an API key.
pub struct GeminiApi;

/// Vertex AI: an OAuth access token.
pub struct VertexAi;

/// Google's error body: `{"error": {"code", "message", "status"}}`, with an
/// `ErrorInfo` detail where Google gives one.
fn google_error(failure: &Failure, status: StatusCode) -> Value {
    let (state, message): (&str, String) = match failure {
        Failure::MissingCredential => (
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.".into(),
        ),
        Failure::WrongCredential if status == StatusCode::UNAUTHORIZED => (
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.".into(),
        ),
        Failure::WrongCredential => (
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.".into(),
        ),
        Failure::MalformedJson(detail) => (
            "INVALID_ARGUMENT",
            format!("Invalid JSON payload received. {detail}"),
        ),
        Failure::InvalidRequest(message) => ("INVALID_ARGUMENT", message.clone()),
        Failure::Injected(status) => match status.as_u16() {
            401 => ("UNAUTHENTICATED", "Request had invalid authentication credentials.".into()),
            403 => ("PERMISSION_DENIED", "The caller does not have permission".into()),
            404 => ("NOT_FOUND", "models/unknown is not found for API version v1beta.".into()),
            429 => ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).".into()),
            503 => ("UNAVAILABLE", "The model is overloaded. Please try again later.".into()),
            504 => ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete.".into()),
            _ if status.is_server_error() => (
                "INTERNAL",
                "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting".into(),
            ),
            code => ("INVALID_ARGUMENT", format!("Simulated error {code}.")),
        },
    };
    let mut error = json!({"code": status.as_u16(), "message": message, "status": state});
    if matches!(failure, Failure::WrongCredential) && status == StatusCode::BAD_REQUEST {
        error["details"] = json!([{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"}
        }]);
    }
    json!({"error": error})
}

impl Provider for GeminiApi {
    const REQUEST_ID_HEADER: &'static str = "x-sim-request-id";

    fn check_credential(keys: &Keys, headers: &HeaderMap) -> Result<(), Failure> {
        match headers.get(API_KEY) {
            None => Err(Failure::MissingCredential),
            Some(v) if v.as_bytes() == keys.gemini.as_bytes() => Ok(()),
            Some(_) => Err(Failure::WrongCredential),
        }
    }

    /// A missing key is 403 PERMISSION_DENIED, a wrong one 400 INVALID_ARGUMENT.
    fn status(failure: &Failure) -> StatusCode {
        match failure {
            Failure::MissingCredential => StatusCode::FORBIDDEN,
            Failure::WrongCredential => StatusCode::BAD_REQUEST,
            other => other.status(),
        }
    }

    fn error_body(failure: &Failure, _request_id: &str) -> Value {
        google_error(failure, Self::status(failure))
    }
}

impl Provider for VertexAi {
    const REQUEST_ID_HEADER: &'static str = "x-sim-request-id";

    fn check_credential(keys: &Keys, headers: &HeaderMap) -> Result<(), Failure> {
        match headers.get(AUTHORIZATION) {
            None => Err(Failure::MissingCredential),
            Some(v) if bearer_matches(v.as_bytes(), &keys.vertex) => Ok(()),
            Some(_) => Err(Failure::WrongCredential),
        }
    }

    fn status(failure: &Failure) -> StatusCode {
        match failure {
            Failure::MissingCredential | Failure::WrongCredential => StatusCode::UNAUTHORIZED,
            other => other.status(),
        }
    }

    fn error_body(failure: &Failure, _request_id: &str) -> Value {
        let status = Self::status(failure);
        let failure = match failure {
            // Vertex says UNAUTHENTICATED for a missing token too.
            Failure::MissingCredential => &Failure::WrongCredential,
            other => other,
        };
        google_error(failure, status)
    }
}

/// The methods served on `models/{model}:{method}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Generate,
    StreamGenerate,
    BatchEmbed,
}

/// `{model}:{method}` from the last path segment.
fn split_call(call: &str) -> Option<(&str, Method)> {
    let (model, method) = call.rsplit_once(':')?;
    let method = match method {
        "generateContent" => Method::Generate,
        "streamGenerateContent" => Method::StreamGenerate,
        "batchEmbedContents" => Method::BatchEmbed,
        _ => return None,
    };
    (!model.is_empty()).then_some((model, method))
}

pub async fn gemini_api(
    State(sim): State<Arc<Sim>>,
    Path(call): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    gemini_call(
        &sim,
        [GEMINI_PATH, GEMINI_STREAM_PATH, GEMINI_EMBED_PATH],
        &call,
        query,
        headers,
        body,
    )
    .await
}

pub async fn gemini_api_v1(
    State(sim): State<Arc<Sim>>,
    Path(call): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    gemini_call(
        &sim,
        [GEMINI_V1_PATH, GEMINI_V1_STREAM_PATH, GEMINI_V1_EMBED_PATH],
        &call,
        query,
        headers,
        body,
    )
    .await
}

/// A Gemini API call; `paths` are the recorded paths (whole, streamed, embeddings) of
/// its version.
async fn gemini_call(
    sim: &Sim,
    paths: [&'static str; 3],
    call: &str,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((model, method)) = split_call(call) else {
        return not_found();
    };
    let path = match method {
        Method::Generate => paths[0],
        Method::StreamGenerate => paths[1],
        Method::BatchEmbed => paths[2],
    };
    match exchange::admit::<GeminiApi>(sim, path, &headers, Some(&body)).await {
        Ok(exchange) if method == Method::BatchEmbed => match embeddings(&exchange.request) {
            Ok(answer) => exchange.json(&answer),
            Err(failure) => exchange.fail(failure),
        },
        Ok(exchange) => respond(
            sim,
            &exchange,
            model,
            method == Method::StreamGenerate,
            query.as_deref(),
        ),
        Err(refusal) => refusal,
    }
}

pub async fn vertex(
    State(sim): State<Arc<Sim>>,
    Path((_project, _location, call)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (model, stream) = match split_call(&call) {
        Some((model, Method::Generate)) => (model, false),
        Some((model, Method::StreamGenerate)) => (model, true),
        // Vertex embeds with `:predict`, which the simulator does not serve.
        _ => return not_found(),
    };
    let path = if stream {
        VERTEX_STREAM_PATH
    } else {
        VERTEX_PATH
    };
    match exchange::admit::<VertexAi>(&sim, path, &headers, Some(&body)).await {
        Ok(exchange) => respond(&sim, &exchange, model, stream, query.as_deref()),
        Err(refusal) => refusal,
    }
}

/// A `BatchEmbedContentsResponse`: for each request, `outputDimensionality` values
/// derived from its text (the same text always embeds the same). Like the Gemini API,
/// it reports no token counts.
fn embeddings(request: &Value) -> Result<Value, Failure> {
    let requests = request["requests"]
        .as_array()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            Failure::InvalidRequest(
                "* BatchEmbedContentsRequest.requests: requests is not specified\n".into(),
            )
        })?;
    let embeddings = requests
        .iter()
        .map(|r| {
            let text: String = r["content"]["parts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["text"].as_str())
                .collect();
            let dims = r["outputDimensionality"]
                .as_u64()
                .unwrap_or(DEFAULT_DIMENSIONS);
            let seed = text
                .bytes()
                .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
            let values: Vec<f64> = (0..dims)
                .map(|i| ((seed.wrapping_add(i * 2_654_435_761) % 2001) as f64 - 1000.0) / 1000.0)
                .collect();
            json!({"values": values})
        })
        .collect::<Vec<_>>();
    Ok(json!({"embeddings": embeddings}))
}

fn not_found() -> Response {
    let mut response = Response::new(axum::body::Body::from(
        json!({"error": {"code": 404, "message": "Method not found.", "status": "NOT_FOUND"}})
            .to_string(),
    ));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

fn respond<P: Provider>(
    sim: &Sim,
    exchange: &Exchange<P>,
    model: &str,
    stream: bool,
    query: Option<&str>,
) -> Response {
    let reply = match Reply::answer(sim, &exchange.request, &exchange.control, model) {
        Ok(reply) => reply,
        Err(failure) => return exchange.fail(failure),
    };
    let sse = query.is_some_and(|q| q.split('&').any(|p| p == "alt=sse"));
    match (stream, sse) {
        (false, _) => exchange.json(&reply.whole()),
        (true, true) => exchange.sse(reply.chunks().iter().map(sse::data_crlf).collect()),
        (true, false) => exchange.json(&Value::Array(reply.chunks())),
    }
}

struct Reply {
    id: String,
    model: String,
    output: Output,
    usage: Option<TokenUsage>,
    thoughts: u64,
}

/// The text of `systemInstruction` and every part of `contents`.
fn prompt_bytes(request: &Value) -> usize {
    let parts = |content: &Value| -> usize {
        content["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["text"].as_str())
            .map(str::len)
            .sum()
    };
    parts(&request["systemInstruction"])
        + request["contents"]
            .as_array()
            .into_iter()
            .flatten()
            .map(parts)
            .sum::<usize>()
}

impl Reply {
    fn answer(
        sim: &Sim,
        request: &Value,
        control: &crate::control::Control,
        model: &str,
    ) -> Result<Self, Failure> {
        let contents = request["contents"].as_array().ok_or_else(|| {
            Failure::InvalidRequest(
                "* GenerateContentRequest.contents: contents is not specified\n".into(),
            )
        })?;
        if contents.is_empty() {
            return Err(Failure::InvalidRequest(
                "* GenerateContentRequest.contents: contents is not specified\n".into(),
            ));
        }
        if signs_calls(model) {
            check_signatures(contents)?;
        }
        let limit = request["generationConfig"]["maxOutputTokens"].as_u64();
        // What arguments or a JSON answer follow when the request gives no schema.
        let any_object = json!({"type": "object"});
        let output = Output::decide(&ask(request, &any_object)?, || {
            Answer::sized(model, limit, control.answer_words())
        })
        .map_err(Failure::InvalidRequest)?;
        let usage = control.wants_usage().then(|| {
            TokenUsage::new(
                input_tokens_for_bytes(prompt_bytes(request)),
                control.cached_tokens,
                0,
                output.output_tokens(),
            )
        });
        Ok(Reply {
            id: sim.new_id(""),
            model: model.to_owned(),
            output,
            usage,
            thoughts: control.thinking_tokens,
        })
    }

    fn finish_reason(&self) -> &'static str {
        if self.output.truncated() {
            "MAX_TOKENS"
        } else {
            "STOP"
        }
    }

    /// `usageMetadata` with `candidates` answer tokens so far; Google leaves out the
    /// cached and thinking counts when they are zero.
    fn usage_json(&self, usage: &TokenUsage, candidates: u64) -> Value {
        let mut u = json!({
            "promptTokenCount": usage.prompt_total,
            "candidatesTokenCount": candidates,
            "totalTokenCount": usage.prompt_total + candidates + self.thoughts,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": usage.prompt_total}],
        });
        if usage.cache_read > 0 {
            u["cachedContentTokenCount"] = usage.cache_read.into();
            u["cacheTokensDetails"] = json!([{"modality": "TEXT", "tokenCount": usage.cache_read}]);
        }
        if self.thoughts > 0 {
            u["thoughtsTokenCount"] = self.thoughts.into();
        }
        u
    }

    /// A `GenerateContentResponse` carrying `part` and the usage with `candidates`
    /// answer tokens so far; `last` adds the finish reason.
    fn chunk(&self, part: Value, last: bool, candidates: u64) -> Value {
        let mut candidate = json!({
            "content": {"parts": [part], "role": "model"},
            "index": 0
        });
        if last {
            candidate["finishReason"] = self.finish_reason().into();
        }
        let mut chunk = json!({
            "candidates": [candidate],
            "modelVersion": self.model,
            "responseId": self.id,
        });
        if let Some(usage) = &self.usage {
            chunk["usageMetadata"] = self.usage_json(usage, candidates);
        }
        chunk
    }

    /// The `functionCall` part of a tool call, its arguments as a JSON object; a
    /// Gemini 3 model signs it (an opaque base64 value, as Google's is).
    fn call_part(&self, name: &str, arguments: &str) -> Value {
        let args: Value = serde_json::from_str(arguments).unwrap_or_else(|_| json!({}));
        let mut part = json!({"functionCall": {"name": name, "args": args}});
        if signs_calls(&self.model) {
            use base64::Engine;
            part["thoughtSignature"] = base64::engine::general_purpose::STANDARD
                .encode(format!("sim-thought:{}:{name}", self.id))
                .into();
        }
        part
    }

    /// The whole answer.
    fn whole(&self) -> Value {
        let tokens = self.output.output_tokens();
        match &self.output {
            Output::ToolCall { name, arguments } => {
                self.chunk(self.call_part(name, arguments), true, tokens)
            }
            other => self.chunk(json!({"text": other.text().unwrap_or("")}), true, tokens),
        }
    }

    /// The streamed chunks: a few words (or, for JSON, a few characters) each, the last
    /// with the finish reason; every chunk's usage counts the answer so far, so the
    /// last one's is final. A function call comes whole in one chunk.
    fn chunks(&self) -> Vec<Value> {
        if matches!(self.output, Output::ToolCall { .. }) {
            return vec![self.whole()];
        }
        let pieces = self.output.text_deltas(WORDS_PER_CHUNK);
        let count = pieces.len();
        let mut words = 0u64;
        let mut bytes = 0usize;
        pieces
            .iter()
            .enumerate()
            .map(|(i, piece)| {
                words += piece.split_whitespace().count() as u64;
                bytes += piece.len();
                let so_far = match &self.output {
                    Output::Json(_) => input_tokens_for_bytes(bytes),
                    _ => words,
                };
                self.chunk(json!({"text": piece}), i + 1 == count, so_far)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    /// The text of a streamed answer: each chunk's first part, in order.
    fn streamed_text(chunks: &[serde_json::Value]) -> String {
        chunks
            .iter()
            .map(|c| {
                c["candidates"][0]["content"]["parts"][0]["text"]
                    .as_str()
                    .unwrap()
            })
            .collect()
    }

    use super::*;

    #[test]
    fn calls_name_the_model_and_method() {
        assert_eq!(
            split_call("gemini-2.5-flash:generateContent"),
            Some(("gemini-2.5-flash", Method::Generate))
        );
        assert_eq!(
            split_call("gemini-2.5-pro:streamGenerateContent"),
            Some(("gemini-2.5-pro", Method::StreamGenerate))
        );
        assert_eq!(
            split_call("gemini-embedding-001:batchEmbedContents"),
            Some(("gemini-embedding-001", Method::BatchEmbed))
        );
        assert_eq!(split_call("gemini-2.5-pro:countTokens"), None);
        assert_eq!(split_call("gemini-2.5-pro"), None);
    }

    #[test]
    fn embeddings_are_deterministic_and_sized_as_asked() {
        let request = json!({"requests": [
            {"model": "models/e", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 4},
            {"model": "models/e", "content": {"parts": [{"text": "b"}]}}
        ]});
        let answer = embeddings(&request).unwrap();
        let values = |i: usize| {
            answer["embeddings"][i]["values"]
                .as_array()
                .unwrap()
                .clone()
        };
        assert_eq!((values(0).len(), values(1).len()), (4, 768));
        assert_eq!(embeddings(&request).unwrap(), answer);
        assert!(answer.get("usageMetadata").is_none());
        assert!(embeddings(&json!({"requests": []})).is_err());
    }

    #[test]
    fn error_bodies_use_google_statuses() {
        let bad_key = GeminiApi::error_body(&Failure::WrongCredential, "r");
        assert_eq!(bad_key["error"]["code"], 400);
        assert_eq!(bad_key["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(bad_key["error"]["details"][0]["reason"], "API_KEY_INVALID");
        let missing = GeminiApi::error_body(&Failure::MissingCredential, "r");
        assert_eq!(
            (
                missing["error"]["code"].clone(),
                missing["error"]["status"].clone()
            ),
            (json!(403), json!("PERMISSION_DENIED"))
        );
        let vertex = VertexAi::error_body(&Failure::MissingCredential, "r");
        assert_eq!(vertex["error"]["status"], "UNAUTHENTICATED");
        let overloaded =
            GeminiApi::error_body(&Failure::Injected(StatusCode::SERVICE_UNAVAILABLE), "r");
        assert_eq!(
            overloaded["error"],
            json!({"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"})
        );
    }

    #[test]
    fn usage_counts_the_prompt_text_cached_and_thinking_tokens() {
        let request = json!({
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "contents": [{"role": "user", "parts": [{"text": "Say hi"}]}],
            "generationConfig": {"maxOutputTokens": 5}
        });
        assert_eq!(prompt_bytes(&request), 15);
        let control = crate::control::Control {
            cached_tokens: 2,
            thinking_tokens: 7,
            ..Default::default()
        };
        let reply = Reply {
            id: "r".into(),
            model: "gemini-2.5-flash".into(),
            output: Output::Text(Answer::sized(
                "gemini-2.5-flash",
                Some(5),
                control.answer_words(),
            )),
            usage: Some(TokenUsage::new(4, 2, 0, 5)),
            thoughts: control.thinking_tokens,
        };
        let whole = reply.whole();
        assert_eq!(whole["candidates"][0]["finishReason"], "MAX_TOKENS");
        assert_eq!(
            whole["usageMetadata"],
            json!({"promptTokenCount": 4, "candidatesTokenCount": 5, "totalTokenCount": 16,
                "cachedContentTokenCount": 2, "thoughtsTokenCount": 7,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 4}],
                "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 2}]})
        );
        let chunks = reply.chunks();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0]["usageMetadata"]["candidatesTokenCount"], 4);
        assert!(chunks[0]["candidates"][0].get("finishReason").is_none());
        assert_eq!(chunks[1]["usageMetadata"]["candidatesTokenCount"], 5);
        let text = streamed_text(&chunks);
        assert_eq!(Some(text.as_str()), reply.output.text());
    }

    fn reply_to(request: &Value) -> Result<Reply, Failure> {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from(["tollgate-sim"]).unwrap();
        let sim = Sim::new(&cli);
        Reply::answer(
            &sim,
            request,
            &crate::control::Control::default(),
            "gemini-2.5-flash",
        )
    }

    fn weather_request() -> Value {
        json!({
            "contents": [{"role": "user", "parts": [{"text": "Weather in Paris?"}]}],
            "tools": [{"functionDeclarations": [
                {"name": "get_time", "parameters": {"type": "OBJECT",
                    "properties": {"zone": {"type": "STRING"}}, "required": ["zone"]}},
                {"name": "get_weather", "parametersJsonSchema": {"type": "object",
                    "properties": {"city": {"type": "string"},
                        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                    "required": ["city", "unit"]}}
            ]}]
        })
    }

    #[test]
    fn offered_functions_are_called_with_an_instance_of_their_parameters() {
        let reply = reply_to(&weather_request()).unwrap();
        let whole = reply.whole();
        let candidate = &whole["candidates"][0];
        assert_eq!(
            candidate["content"],
            json!({"role": "model", "parts": [{"functionCall": {"name": "get_time", "args": {"zone": "sim"}}}]})
        );
        assert_eq!(candidate["finishReason"], "STOP");
        // ceil(len(`{"zone":"sim"}`) / 4)
        assert_eq!(whole["usageMetadata"]["candidatesTokenCount"], 4);
        // A stream carries the call whole, in one chunk.
        assert_eq!(reply.chunks(), vec![whole]);

        let mut any = weather_request();
        any["toolConfig"] = json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}});
        assert_eq!(
            reply_to(&any).unwrap().whole()["candidates"][0]["content"]["parts"][0],
            json!({"functionCall": {"name": "get_weather", "args": {"city": "sim", "unit": "celsius"}}})
        );
        any["toolConfig"]["functionCallingConfig"]["allowedFunctionNames"] = json!(["nope"]);
        assert!(matches!(reply_to(&any), Err(Failure::InvalidRequest(m)) if m.contains("nope")));
    }

    #[test]
    fn none_and_a_function_response_answer_in_text() {
        let text = |request: &Value| {
            let whole = reply_to(request).unwrap().whole();
            whole["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .map(str::to_owned)
        };
        let mut none = weather_request();
        none["toolConfig"] = json!({"functionCallingConfig": {"mode": "NONE"}});
        assert!(text(&none).unwrap().starts_with("Simulated answer"));

        let mut answered = weather_request();
        answered["contents"] = json!([
            {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_time", "args": {"zone": "sim"}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get_time", "response": {"content": "noon"}}}]}
        ]);
        assert!(text(&answered).unwrap().starts_with("Simulated answer"));
        // ANY still calls after a result.
        answered["toolConfig"] = json!({"functionCallingConfig": {"mode": "ANY"}});
        assert_eq!(text(&answered), None);
    }

    #[test]
    fn gemini_3_signs_its_calls_and_wants_the_signature_back() {
        let sim = {
            use clap::Parser;
            Sim::new(&crate::cli::Cli::try_parse_from(["tollgate-sim"]).unwrap())
        };
        let control = crate::control::Control::default();
        let answer = |request: &Value, model: &str| Reply::answer(&sim, request, &control, model);
        let call = answer(&weather_request(), "gemini-3-flash-preview")
            .unwrap()
            .whole();
        let part = &call["candidates"][0]["content"]["parts"][0];
        assert!(part["thoughtSignature"]
            .as_str()
            .is_some_and(|s| !s.is_empty()));
        let unsigned = answer(&weather_request(), "gemini-2.5-flash")
            .unwrap()
            .whole();
        assert!(unsigned["candidates"][0]["content"]["parts"][0]
            .get("thoughtSignature")
            .is_none());

        let mut replay = weather_request();
        let result = json!({"role": "user", "parts": [{"functionResponse": {"name": "get_time", "response": {}}}]});
        replay["contents"] = json!([
            replay["contents"][0],
            call["candidates"][0]["content"],
            result
        ]);
        assert!(answer(&replay, "gemini-3-flash-preview").is_ok());
        let mut stripped = replay.clone();
        stripped["contents"][1]["parts"][0]
            .as_object_mut()
            .unwrap()
            .remove("thoughtSignature");
        let refused = answer(&stripped, "gemini-3-flash-preview").err();
        assert!(
            matches!(&refused, Some(Failure::InvalidRequest(m)) if m.contains("thought_signature") && m.contains("get_time")),
            "{refused:?}"
        );
        // Older models do not check; nor does Gemini 3 once a new user turn began.
        assert!(answer(&stripped, "gemini-2.5-flash").is_ok());
        stripped["contents"]
            .as_array_mut()
            .unwrap()
            .push(json!({"role": "user", "parts": [{"text": "And tomorrow?"}]}));
        assert!(answer(&stripped, "gemini-3-flash-preview").is_ok());
    }

    #[test]
    fn a_json_mime_type_answers_an_instance_of_the_schema() {
        for key in ["responseJsonSchema", "responseSchema"] {
            let request = json!({
                "contents": [{"role": "user", "parts": [{"text": "Forecast"}]}],
                "generationConfig": {"responseMimeType": "application/json", "maxOutputTokens": 2,
                    key: {"type": "object", "properties": {"city": {"type": "string"},
                        "high": {"type": "number"}}, "required": ["city", "high"]}}
            });
            let reply = reply_to(&request).unwrap();
            let whole = reply.whole();
            let expected = r#"{"city":"sim","high":0}"#;
            // JSON is never cut short by the output limit.
            assert_eq!(whole["candidates"][0]["finishReason"], "STOP");
            assert_eq!(
                whole["candidates"][0]["content"]["parts"][0]["text"],
                expected
            );
            assert_eq!(whole["usageMetadata"]["candidatesTokenCount"], 6);
            let chunks = reply.chunks();
            assert!(chunks.len() > 1);
            let streamed = streamed_text(&chunks);
            assert_eq!(streamed, expected);
            assert_eq!(
                chunks.last().unwrap()["usageMetadata"]["candidatesTokenCount"],
                6
            );
        }
        let schemaless = json!({
            "contents": [{"role": "user", "parts": [{"text": "JSON"}]}],
            "generationConfig": {"responseMimeType": "application/json"}
        });
        let whole = reply_to(&schemaless).unwrap().whole();
        assert_eq!(whole["candidates"][0]["content"]["parts"][0]["text"], "{}");
    }
}
