//! The steps every provider request goes through, whichever API it speaks: record it,
//! wait the configured latency, check credentials, parse the body, apply injected
//! faults, and finally send the answer (whole, or cut off for `broken-stream`).
//! Each provider supplies only its credential rule and its error-body shape.

use std::io;
use std::marker::PhantomData;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::control::{Control, Fault};
use crate::sse;
use crate::state::{Keys, Sim};

/// The one path both providers serve; request headers decide whose format answers.
pub const MODELS_PATH: &str = "/v1/models";

/// Response header telling tests whether the credential that reached the provider was
/// the right one, without ever echoing it.
pub const RECEIVED_AUTH: &str = "x-sim-received-auth";

/// How long a `broken-stream` answer stalls between its last byte and the abort.
const BREAK_AFTER: Duration = Duration::from_millis(20);

/// Why a request is refused; each provider renders it in its own error shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    MissingCredential,
    WrongCredential,
    MalformedJson(String),
    InvalidRequest(String),
    /// Asked for by `x-sim-error: <status>` or picked by `--error-rate`.
    Injected(StatusCode),
}

impl Failure {
    pub fn status(&self) -> StatusCode {
        match self {
            Failure::MissingCredential | Failure::WrongCredential => StatusCode::UNAUTHORIZED,
            Failure::MalformedJson(_) | Failure::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Failure::Injected(status) => *status,
        }
    }
}

/// What differs between the provider APIs at the request level.
pub trait Provider {
    /// Header carrying the request id (`x-request-id` / `request-id`).
    const REQUEST_ID_HEADER: &'static str;

    fn check_credential(keys: &Keys, headers: &HeaderMap) -> Result<(), Failure>;

    /// Other headers the API insists on (Anthropic's `anthropic-version`).
    fn check_headers(_headers: &HeaderMap) -> Result<(), Failure> {
        Ok(())
    }

    /// The HTTP status of `failure` (Google answers a bad key with 400 or 403).
    fn status(failure: &Failure) -> StatusCode {
        failure.status()
    }

    /// The JSON error body for `failure`.
    fn error_body(failure: &Failure, request_id: &str) -> Value;

    /// Response headers naming the error beside its body (Bedrock's
    /// `x-amzn-ErrorType`); none by default.
    fn error_headers(_failure: &Failure) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// Whether an `Authorization` value is exactly `Bearer <key>`.
pub fn bearer_matches(value: &[u8], key: &str) -> bool {
    value
        .strip_prefix(b"Bearer ")
        .is_some_and(|token| token == key.as_bytes())
}

/// A request that passed every check: the handler turns it into an answer.
pub struct Exchange<P> {
    /// The parsed JSON body (`Null` for requests without one).
    pub request: Value,
    pub control: Control,
    request_id: String,
    provider: PhantomData<P>,
}

/// Runs the shared checks; `Err` is the finished error response.
pub async fn admit<P: Provider>(
    sim: &Sim,
    path: &'static str,
    headers: &HeaderMap,
    body: Option<&Bytes>,
) -> Result<Exchange<P>, Response> {
    admit_at(sim, path, None, headers, body).await
}

/// [`admit`] for a route with parameters: `target` is the path and query as sent,
/// kept for `/_sim/last`.
pub async fn admit_at<P: Provider>(
    sim: &Sim,
    path: &'static str,
    target: Option<&str>,
    headers: &HeaderMap,
    body: Option<&Bytes>,
) -> Result<Exchange<P>, Response> {
    sim.record(path, target, headers, body.unwrap_or(&Bytes::new()));
    let request_id = sim.new_id("req_");
    let control = Control::from_headers(headers);

    let latency = control
        .as_ref()
        .ok()
        .and_then(|c| c.latency)
        .unwrap_or(sim.default_latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let refuse =
        |failure: Failure, auth_ok: bool| error_response::<P>(&failure, &request_id, auth_ok);
    if let Err(failure) = P::check_credential(&sim.keys, headers) {
        return Err(refuse(failure, false));
    }
    let control = control.map_err(|msg| refuse(Failure::InvalidRequest(msg), true))?;
    P::check_headers(headers).map_err(|f| refuse(f, true))?;
    let request = match body {
        None => Value::Null,
        Some(bytes) => match serde_json::from_slice::<Value>(bytes) {
            Ok(value @ Value::Object(_)) => value,
            Ok(_) => {
                return Err(refuse(
                    Failure::InvalidRequest("The request body must be a JSON object.".into()),
                    true,
                ))
            }
            Err(e) => return Err(refuse(Failure::MalformedJson(e.to_string()), true)),
        },
    };
    if let Some(Fault::Status(status)) = control.fault {
        return Err(refuse(Failure::Injected(status), true));
    }
    if sim.error_rate_picks_next() {
        return Err(refuse(
            Failure::Injected(StatusCode::INTERNAL_SERVER_ERROR),
            true,
        ));
    }
    Ok(Exchange {
        request,
        control,
        request_id,
        provider: PhantomData,
    })
}

impl<P: Provider> Exchange<P> {
    /// Refuses a request whose body the handler found invalid.
    pub fn fail(&self, failure: Failure) -> Response {
        error_response::<P>(&failure, &self.request_id, true)
    }

    /// An error answer with a body of the handler's own making (a refusal no
    /// [`Failure`] describes, such as Azure's content filter).
    pub fn refuse_with(&self, status: StatusCode, body: &Value) -> Response {
        let bytes = serde_json::to_vec(body).expect("JSON values always serialize");
        let response = reply(status, "application/json", Body::from(bytes));
        decorate::<P>(response, &self.request_id, true)
    }

    /// A JSON answer; with `broken-stream` only its first half is sent before the
    /// connection is dropped.
    pub fn json(&self, answer: &Value) -> Response {
        let bytes = Bytes::from(serde_json::to_vec(answer).expect("JSON values always serialize"));
        let body = if self.control.breaks_stream() {
            let half = bytes.slice(..bytes.len() / 2);
            cut_off_after(vec![half])
        } else {
            Body::from(bytes)
        };
        let response = reply(StatusCode::OK, "application/json", body);
        decorate::<P>(response, &self.request_id, true)
    }

    /// An event-stream answer, one body chunk per event; with `broken-stream` only the
    /// first half of the events are sent before the connection is dropped.
    pub fn sse(&self, frames: Vec<Bytes>) -> Response {
        self.stream(frames, sse::CONTENT_TYPE)
    }

    /// A streamed answer of `content_type` (SSE, or AWS event-stream messages), one
    /// body chunk per frame, cut off like [`Exchange::sse`] under `broken-stream`.
    pub fn stream(&self, mut frames: Vec<Bytes>, content_type: &'static str) -> Response {
        let body = if self.control.breaks_stream() {
            frames.truncate((frames.len() / 2).max(1));
            cut_off_after(frames)
        } else {
            Body::from_stream(futures_util::stream::iter(
                frames.into_iter().map(Ok::<_, io::Error>),
            ))
        };
        let mut response = reply(StatusCode::OK, content_type, body);
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        decorate::<P>(response, &self.request_id, true)
    }
}

/// A body that sends `chunks` and then fails, which makes hyper abort the connection
/// without the end-of-body marker (no final chunk on HTTP/1.1, RST_STREAM on HTTP/2).
fn cut_off_after(chunks: Vec<Bytes>) -> Body {
    use futures_util::StreamExt;
    let sent = futures_util::stream::iter(chunks.into_iter().map(Ok));
    // Fail only after a pause: an error in the same poll as the data would make hyper
    // drop the buffered head and chunks unsent, and the client would see no response.
    let abort = futures_util::stream::once(async {
        tokio::time::sleep(BREAK_AFTER).await;
        Err(io::Error::other("x-sim-error: broken-stream"))
    });
    Body::from_stream(sent.chain(abort))
}

fn error_response<P: Provider>(failure: &Failure, request_id: &str, auth_ok: bool) -> Response {
    let status = P::status(failure);
    let body = serde_json::to_vec(&P::error_body(failure, request_id))
        .expect("JSON values always serialize");
    let mut response = reply(status, "application/json", Body::from(body));
    for (name, value) in P::error_headers(failure) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    }
    decorate::<P>(response, request_id, auth_ok)
}

fn reply(status: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn decorate<P: Provider>(mut response: Response, request_id: &str, auth_ok: bool) -> Response {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(P::REQUEST_ID_HEADER, value);
    }
    headers.insert(
        RECEIVED_AUTH,
        HeaderValue::from_static(if auth_ok { "ok" } else { "bad" }),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_must_match_exactly() {
        assert!(bearer_matches(b"Bearer sk-sim-openai", "sk-sim-openai"));
        assert!(!bearer_matches(b"Bearer sk-sim-openai2", "sk-sim-openai"));
        assert!(!bearer_matches(b"sk-sim-openai", "sk-sim-openai"));
    }
}
