//! Amazon Bedrock's Converse API: `POST /model/{modelId}/converse` (JSON) and
//! `/converse-stream` (AWS event-stream messages), with AWS's error shape (a
//! `{"message"}` body named by `x-amzn-ErrorType`).
//!
//! Every request must carry a valid AWS Signature Version 4 for the simulator's
//! credentials: the signature is recomputed from the request as received (path,
//! signed headers, body) and a mismatch is refused with 403 as AWS refuses it. That
//! makes a signing mistake anywhere between the client and here fail loudly.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Map, Value};
use tollgate_core::aws::event_stream::{
    encode_event, encode_exception, EVENT_STREAM_CONTENT_TYPE_NAME,
};
use tollgate_core::aws::sigv4;

use crate::control::Fault;
use crate::exchange::{self, Exchange, Failure, Provider, RECEIVED_AUTH};
use crate::state::{unix_seconds, Keys, Sim};
use crate::usage::{input_tokens_for_bytes, text_bytes, Answer, TokenUsage};

pub const CONVERSE_PATH: &str = "/model/{model_id}/converse";
pub const CONVERSE_STREAM_PATH: &str = "/model/{model_id}/converse-stream";

/// Words per streamed `contentBlockDelta`.
const WORDS_PER_DELTA: usize = 4;

/// How far a request's `x-amz-date` may be from the simulator's clock (AWS: 5 minutes).
const MAX_SKEW_SECONDS: i64 = 300;

/// Top-level fields of a Converse request; any other is refused, as Bedrock does.
const REQUEST_FIELDS: &[&str] = &[
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "guardrailConfig",
    "additionalModelRequestFields",
    "additionalModelResponseFieldPaths",
    "promptVariables",
    "requestMetadata",
    "performanceConfig",
];

pub struct Bedrock;

impl Provider for Bedrock {
    const REQUEST_ID_HEADER: &'static str = "x-amzn-requestid";

    /// The signature is verified before the exchange starts (it needs the path and
    /// body), see [`verify_signature`].
    fn check_credential(_keys: &Keys, _headers: &HeaderMap) -> Result<(), Failure> {
        Ok(())
    }

    fn error_body(failure: &Failure, _request_id: &str) -> Value {
        let message = match failure {
            Failure::MalformedJson(detail) => format!("Malformed input request: {detail}"),
            Failure::InvalidRequest(message) => message.clone(),
            Failure::Injected(status) => match status.as_u16() {
                429 => "Too many requests, please wait before trying again.".into(),
                503 => "Service unavailable. Please try your request again.".into(),
                403 => "You don't have access to the model with the specified model ID.".into(),
                404 => "The provided model identifier is invalid.".into(),
                code => format!("Simulated error {code}."),
            },
            Failure::MissingCredential | Failure::WrongCredential => {
                "The security token included in the request is invalid.".into()
            }
        };
        json!({"message": message})
    }

    fn error_headers(failure: &Failure) -> Vec<(&'static str, String)> {
        let name = match failure.status().as_u16() {
            400 => "ValidationException",
            403 => "AccessDeniedException",
            404 => "ResourceNotFoundException",
            408 => "ModelTimeoutException",
            429 => "ThrottlingException",
            503 => "ServiceUnavailableException",
            _ => "InternalServerException",
        };
        vec![("x-amzn-errortype", error_type(name))]
    }
}

/// `x-amzn-ErrorType` as Bedrock writes it.
fn error_type(name: &str) -> String {
    format!("{name}:http://internal.amazon.com/coral/com.amazon.bedrock/")
}

/// Why a signature is refused: the AWS exception and its message (always 403).
#[derive(Debug, PartialEq, Eq)]
pub struct SignatureRefusal {
    pub exception: &'static str,
    pub message: String,
}

fn refusal(exception: &'static str, message: impl Into<String>) -> SignatureRefusal {
    SignatureRefusal {
        exception,
        message: message.into(),
    }
}

/// Checks a request's AWS Signature Version 4 (in its `Authorization` header) against
/// `keys`, at `now` (Unix seconds). `path` and `query` are as received, undecoded.
pub fn verify_signature(
    keys: &Keys,
    path: &str,
    query: &str,
    host: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureRefusal> {
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Err(refusal(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    let Some(fields) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Err(refusal(
            "IncompleteSignatureException",
            "Authorization header requires the AWS4-HMAC-SHA256 algorithm",
        ));
    };
    let field = |name: &str| {
        fields
            .split(',')
            .map(str::trim)
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
    };
    let (Some(credential), Some(signed_names), Some(signature)) = (
        field("Credential"),
        field("SignedHeaders"),
        field("Signature"),
    ) else {
        return Err(refusal(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'",
        ));
    };
    let parts: Vec<&str> = credential.split('/').collect();
    let [key_id, date, region, service, "aws4_request"] = parts[..] else {
        return Err(refusal(
            "IncompleteSignatureException",
            "Credential must be <key>/<date>/<region>/<service>/aws4_request",
        ));
    };
    if key_id != keys.aws_access_key_id {
        return Err(refusal(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    if service != "bedrock" {
        return Err(refusal(
            "InvalidSignatureException",
            "Credential should be scoped to correct service: 'bedrock'.",
        ));
    }
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(signed_at) = parse_amz_date(amz_date).filter(|_| amz_date.starts_with(date)) else {
        return Err(refusal(
            "IncompleteSignatureException",
            "X-Amz-Date must be YYYYMMDDTHHMMSSZ and match the credential scope's date",
        ));
    };
    if (now - signed_at).abs() > MAX_SKEW_SECONDS {
        return Err(refusal(
            "InvalidSignatureException",
            format!(
                "Signature expired: {amz_date} is now earlier or later than the allowed 5 minutes."
            ),
        ));
    }
    let mut signed: Vec<(&str, &str)> = Vec::new();
    for name in signed_names.split(';') {
        if name == "host" {
            let host = headers
                .get(HOST)
                .and_then(|v| v.to_str().ok())
                .or(host)
                .unwrap_or("");
            signed.push(("host", host));
            continue;
        }
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return Err(refusal(
                "InvalidSignatureException",
                format!("The signed header '{name}' is missing from the request."),
            ));
        }
        signed.extend(values.into_iter().map(|v| (name, v)));
    }
    let scope = sigv4::Scope {
        region,
        service,
        amz_date,
        content_sha256_header: false,
    };
    let request = sigv4::Request {
        method: "POST",
        path,
        query,
        headers: &signed,
        payload: body,
    };
    let (_, names, expected) = sigv4::signature(
        &keys.aws_secret_access_key,
        &scope,
        &request,
        &sigv4::payload_hash(body),
    );
    if names != signed_names || expected != signature {
        return Err(refusal(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ));
    }
    Ok(())
}

/// The tool a request's `toolConfig.toolChoice` makes the model call, if any.
fn forced_tool(request: &Map<String, Value>) -> Option<String> {
    let config = request.get("toolConfig")?;
    let choice = config.get("toolChoice")?;
    if let Some(name) = choice["tool"]["name"].as_str() {
        return Some(name.to_string());
    }
    choice.get("any")?;
    config["tools"]
        .as_array()?
        .iter()
        .find_map(|t| t["toolSpec"]["name"].as_str())
        .map(str::to_string)
}

/// Unix seconds of `YYYYMMDDTHHMMSSZ`.
fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let days = tollgate_core::config::days_from_civil(n(0..4)?, n(4..6)?, n(6..8)?);
    Some(days * 86_400 + n(9..11)? * 3600 + n(11..13)? * 60 + n(13..15)?)
}

fn refuse_signature(r: SignatureRefusal) -> Response {
    let mut response = Response::new(axum::body::Body::from(
        json!({"message": r.message}).to_string(),
    ));
    *response.status_mut() = StatusCode::FORBIDDEN;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&error_type(r.exception)) {
        headers.insert("x-amzn-errortype", v);
    }
    headers.insert(RECEIVED_AUTH, HeaderValue::from_static("bad"));
    response
}

pub async fn converse(
    State(sim): State<Arc<Sim>>,
    Path(model_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&sim, &model_id, &uri, &headers, body, false).await
}

pub async fn converse_stream(
    State(sim): State<Arc<Sim>>,
    Path(model_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&sim, &model_id, &uri, &headers, body, true).await
}

async fn handle(
    sim: &Sim,
    model_id: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
    stream: bool,
) -> Response {
    let host = uri.authority().map(|a| a.as_str());
    let verified = verify_signature(
        &sim.keys,
        uri.path(),
        uri.query().unwrap_or(""),
        host,
        headers,
        &body,
        unix_seconds() as i64,
    );
    let path = if stream {
        CONVERSE_STREAM_PATH
    } else {
        CONVERSE_PATH
    };
    if let Err(r) = verified {
        sim.record(path, Some(uri.path()), headers, &body);
        return refuse_signature(r);
    }
    let target = Some(uri.path());
    let exchange =
        match exchange::admit_at::<Bedrock>(sim, path, target, headers, Some(&body)).await {
            Ok(exchange) => exchange,
            Err(refusal) => return refusal,
        };
    match Reply::answer(model_id, &exchange) {
        Ok(reply) if stream => exchange.stream(reply.events(), EVENT_STREAM_CONTENT_TYPE_NAME),
        Ok(reply) => exchange.json(&reply.response()),
        Err(failure) => exchange.fail(failure),
    }
}

/// A tool call the answer makes instead of text: when the request's `toolChoice`
/// requires one (`any`: the first tool; `tool`: the one named).
struct ToolCall {
    id: String,
    name: String,
    /// The call's input as JSON text; its output tokens are its bytes / 4, rounded up.
    input: String,
}

struct Reply {
    answer: Answer,
    tool: Option<ToolCall>,
    usage: Option<TokenUsage>,
    /// End the stream halfway with an exception message.
    stream_exception: bool,
}

impl Reply {
    fn answer(model_id: &str, exchange: &Exchange<Bedrock>) -> Result<Self, Failure> {
        let request = exchange
            .request
            .as_object()
            .cloned()
            .unwrap_or_else(Map::new);
        if let Some(extra) = request
            .keys()
            .find(|k| !REQUEST_FIELDS.contains(&k.as_str()))
        {
            return Err(Failure::InvalidRequest(format!(
                "Malformed input request: extraneous key [{extra}] is not permitted, please reformat your input and try again."
            )));
        }
        let messages = request
            .get("messages")
            .and_then(Value::as_array)
            .filter(|m| !m.is_empty())
            .ok_or_else(|| {
                Failure::InvalidRequest("A conversation must start with a user message.".into())
            })?;
        let mut expected = "user";
        for m in messages {
            if m["role"] != expected {
                return Err(Failure::InvalidRequest(
                    "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.".into(),
                ));
            }
            expected = if expected == "user" {
                "assistant"
            } else {
                "user"
            };
        }
        let max_tokens = request
            .get("inferenceConfig")
            .and_then(|c| c.get("maxTokens"))
            .and_then(Value::as_u64);
        let input_bytes = request.get("system").map_or(0, text_bytes)
            + messages
                .iter()
                .map(|m| text_bytes(&m["content"]))
                .sum::<usize>();
        let control = &exchange.control;
        let answer = Answer::sized(model_id, max_tokens, control.answer_words());
        let tool = forced_tool(&request).map(|name| ToolCall {
            id: format!("tooluse_sim{:08x}", input_bytes),
            input: json!({"query": format!("simulated input for {name}")}).to_string(),
            name,
        });
        let output_tokens = match &tool {
            Some(t) => input_tokens_for_bytes(t.input.len()),
            None => answer.output_tokens(),
        };
        let usage = control.wants_usage().then(|| {
            TokenUsage::new(
                input_tokens_for_bytes(input_bytes),
                control.cached_tokens,
                control.cache_write_tokens,
                output_tokens,
            )
        });
        Ok(Reply {
            answer,
            tool,
            usage,
            stream_exception: control.fault == Some(Fault::StreamException),
        })
    }

    fn stop_reason(&self) -> &'static str {
        if self.tool.is_some() {
            "tool_use"
        } else if self.answer.truncated {
            "max_tokens"
        } else {
            "end_turn"
        }
    }

    /// Converse usage: `inputTokens` excludes cache reads and writes, reported apart
    /// (only when there are any); `totalTokens` adds them all.
    fn usage_json(usage: &TokenUsage) -> Value {
        let mut u = json!({
            "inputTokens": usage.uncached_input(),
            "outputTokens": usage.output,
            "totalTokens": usage.total(),
        });
        if usage.cache_read > 0 {
            u["cacheReadInputTokens"] = json!(usage.cache_read);
        }
        if usage.cache_write > 0 {
            u["cacheWriteInputTokens"] = json!(usage.cache_write);
        }
        u
    }

    fn response(&self) -> Value {
        let content = match &self.tool {
            Some(t) => json!([{"toolUse": {"toolUseId": t.id, "name": t.name,
                "input": serde_json::from_str::<Value>(&t.input).unwrap_or(Value::Null)}}]),
            None => json!([{"text": self.answer.text}]),
        };
        let mut r = json!({
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": self.stop_reason(),
            "metrics": {"latencyMs": 0},
        });
        if let Some(usage) = &self.usage {
            r["usage"] = Self::usage_json(usage);
        }
        r
    }

    /// messageStart, the text in contentBlockDelta events, contentBlockStop,
    /// messageStop (the stop reason), metadata (usage and metrics).
    fn events(&self) -> Vec<Bytes> {
        let event = |kind: &str, payload: Value| {
            Bytes::from(encode_event(kind, payload.to_string().as_bytes()))
        };
        let mut frames = vec![event("messageStart", json!({"role": "assistant"}))];
        if let Some(t) = &self.tool {
            frames.push(event(
                "contentBlockStart",
                json!({"contentBlockIndex": 0,
                    "start": {"toolUse": {"toolUseId": t.id, "name": t.name}}}),
            ));
            // The input arrives as JSON text in pieces.
            let (head, tail) = t.input.split_at(t.input.len() / 2);
            for piece in [head, tail] {
                frames.push(event(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": piece}}}),
                ));
            }
        }
        let deltas = if self.tool.is_some() {
            Vec::new()
        } else {
            self.answer.deltas(WORDS_PER_DELTA)
        };
        let sent = if self.stream_exception {
            deltas.len().div_ceil(2)
        } else {
            deltas.len()
        };
        for piece in &deltas[..sent] {
            frames.push(event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": piece}}),
            ));
        }
        if self.stream_exception {
            let message = json!({"message": "Too many tokens, please wait before trying again."});
            frames.push(Bytes::from(encode_exception(
                "throttlingException",
                message.to_string().as_bytes(),
            )));
            return frames;
        }
        frames.push(event("contentBlockStop", json!({"contentBlockIndex": 0})));
        frames.push(event(
            "messageStop",
            json!({"stopReason": self.stop_reason()}),
        ));
        let mut metadata = json!({"metrics": {"latencyMs": 0}});
        if let Some(usage) = &self.usage {
            metadata["usage"] = Self::usage_json(usage);
        }
        frames.push(event("metadata", metadata));
        frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_core::aws::sigv4::{amz_date, sign, Credentials, Request, Scope};

    fn keys() -> Keys {
        Keys {
            openai: "o".into(),
            anthropic: "a".into(),
            azure: "az".into(),
            azure_entra: "az-t".into(),
            gemini: "g".into(),
            vertex: "v".into(),
            aws_access_key_id: "AKIDSIM".into(),
            aws_secret_access_key: "secret".into(),
        }
    }

    const PATH: &str = "/model/amazon.nova-lite-v1%3A0/converse";
    const NOW: i64 = 1_790_000_000;

    fn signed(secret: &str, at: i64, body: &[u8]) -> HeaderMap {
        let creds = Credentials {
            access_key_id: "AKIDSIM".into(),
            secret_access_key: secret.into(),
            session_token: Some("tok".into()),
        };
        let date = amz_date(at * 1000);
        let added = sign(
            &creds,
            &Scope {
                region: "us-east-1",
                service: "bedrock",
                amz_date: &date,
                content_sha256_header: true,
            },
            &Request {
                method: "POST",
                path: PATH,
                query: "",
                headers: &[("host", "sim:9000")],
                payload: body,
            },
        );
        let mut h = HeaderMap::new();
        h.insert(HOST, HeaderValue::from_static("sim:9000"));
        for (n, v) in added {
            h.insert(
                axum::http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(&v).unwrap(),
            );
        }
        h
    }

    fn check(h: &HeaderMap, body: &[u8], path: &str) -> Result<(), SignatureRefusal> {
        verify_signature(&keys(), path, "", None, h, body, NOW)
    }

    #[test]
    fn a_correct_signature_passes_and_any_change_fails() {
        let body = br#"{"messages":[]}"#;
        assert_eq!(check(&signed("secret", NOW, body), body, PATH), Ok(()));
        let mismatch = |r: Result<(), SignatureRefusal>| r.unwrap_err().exception;
        assert_eq!(
            mismatch(check(&signed("wrong", NOW, body), body, PATH)),
            "InvalidSignatureException"
        );
        assert_eq!(
            mismatch(check(&signed("secret", NOW, body), b"{}", PATH)),
            "InvalidSignatureException"
        );
        assert_eq!(
            mismatch(check(
                &signed("secret", NOW, body),
                body,
                "/model/amazon.nova-pro-v1%3A0/converse"
            )),
            "InvalidSignatureException"
        );
        // A clock off by more than five minutes.
        assert!(
            mismatch(check(&signed("secret", NOW - 600, body), body, PATH))
                .contains("InvalidSignature")
        );
        assert_eq!(
            mismatch(check(&HeaderMap::new(), body, PATH)),
            "MissingAuthenticationTokenException"
        );
        let mut other_key = signed("secret", NOW, body);
        let auth = other_key["authorization"]
            .to_str()
            .unwrap()
            .replace("AKIDSIM", "AKIDNOPE");
        other_key.insert("authorization", HeaderValue::from_str(&auth).unwrap());
        assert_eq!(
            mismatch(check(&other_key, body, PATH)),
            "UnrecognizedClientException"
        );
    }

    #[test]
    fn a_required_tool_choice_names_the_tool_to_call() {
        let request = |choice: Value| {
            json!({"toolConfig": {"tools": [{"toolSpec": {"name": "a"}}, {"toolSpec": {"name": "b"}}],
                "toolChoice": choice}})
            .as_object()
            .unwrap()
            .clone()
        };
        assert_eq!(
            forced_tool(&request(json!({"any": {}}))).as_deref(),
            Some("a")
        );
        assert_eq!(
            forced_tool(&request(json!({"tool": {"name": "b"}}))).as_deref(),
            Some("b")
        );
        assert_eq!(forced_tool(&request(json!({"auto": {}}))), None);
        assert_eq!(forced_tool(&Map::new()), None);
    }

    #[test]
    fn amz_dates_parse() {
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(parse_amz_date("2015-08-30"), None);
    }

    #[test]
    fn errors_are_named_in_x_amzn_errortype() {
        let h = Bedrock::error_headers(&Failure::Injected(StatusCode::TOO_MANY_REQUESTS));
        assert!(h[0].1.starts_with("ThrottlingException:"));
        assert_eq!(
            Bedrock::error_body(&Failure::Injected(StatusCode::TOO_MANY_REQUESTS), "r"),
            json!({"message": "Too many requests, please wait before trying again."})
        );
    }
}
