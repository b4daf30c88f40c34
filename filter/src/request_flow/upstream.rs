//! What goes upstream for a lane: path, headers and body in the provider's format, and
//! the whole answer translated back to the client's.

use std::borrow::Cow;

use tollgate_core::aws::sigv4::{self, Credentials};
use tollgate_core::config::filter_config::LaneEntry;
use tollgate_core::config::ProviderKind;
use tollgate_core::event::ApiKind;
use tollgate_core::request::ParsedRequest;
use tollgate_core::translate::{
    translate_lane_error, translate_request, translate_response, Direction, StreamTranslator,
    Untranslatable,
};

use crate::host::now_ms;

/// A request as one lane's provider expects it.
pub(super) struct UpstreamRequest<'a> {
    /// Names are the protocol's own; values borrow from the lane where they can.
    pub(super) headers: Vec<(&'static str, Cow<'a, str>)>,
    /// The body to send, or `None` when the client's goes as it is.
    pub(super) body: Option<Vec<u8>>,
    /// Set when the lane speaks the other provider's format.
    pub(super) direction: Option<Direction>,
    /// The API the lane is called with (its answers are read as this API).
    pub(super) lane_api: ApiKind,
}

/// Whether the client's body goes to `lane` byte for byte: the lane speaks the client's
/// format, under the model the client named, and nothing is added.
pub(super) fn sent_as_is(parsed: &ParsedRequest, lane: &LaneEntry) -> bool {
    let lane_api = lane_api(parsed.api, lane.provider);
    Direction::between(parsed.api, lane_api).is_none() && parsed.sent_unchanged(lane.body_model())
}

/// Path, authority, credential and body for `lane`, translated when the lane speaks
/// the other provider's format. A Bedrock lane's request is signed with `aws` (its
/// credentials) at the host clock's time.
pub(super) fn upstream_request<'a>(
    parsed: &ParsedRequest,
    lane: &'a LaneEntry,
    credential: &str,
    anthropic_version: Option<&str>,
    aws: Option<&Credentials>,
) -> Result<UpstreamRequest<'a>, Untranslatable> {
    let lane_api = lane_api(parsed.api, lane.provider);
    let direction = Direction::between(parsed.api, lane_api);
    let model = lane.body_model();
    let body = match direction {
        _ if sent_as_is(parsed, lane) => None,
        None => Some(parsed.upstream_body(model)),
        Some(d) => {
            let map = translate_request(d, parsed.body(), model, lane.max_output_tokens)?;
            Some(serde_json::to_vec(&serde_json::Value::Object(map)).unwrap_or_default())
        }
    };
    let path = lane_path(lane, parsed.api, lane_api, parsed.facts.stream);
    let mut headers: Vec<(&'static str, Cow<'a, str>)> = vec![
        (":method", "POST".into()),
        (":authority", lane.authority.as_str().into()),
        ("content-type", "application/json".into()),
    ];
    if let Some(body) = &body {
        headers.push(("content-length", body.len().to_string().into()));
    }
    let owned = |(name, value): (&'static str, String)| (name, Cow::Owned(value));
    match (&lane.azure, lane.provider, &lane.aws, aws) {
        (Some(azure), ..) => headers.push(owned(azure.credential_header(credential))),
        (None, ProviderKind::Bedrock, Some(lane_aws), Some(creds)) => {
            let amz_date = sigv4::amz_date(now_ms());
            let signed = sigv4::sign(
                creds,
                &sigv4::Scope {
                    region: &lane_aws.region,
                    service: "bedrock",
                    amz_date: &amz_date,
                    content_sha256_header: true,
                },
                &sigv4::Request {
                    method: "POST",
                    path: &path,
                    query: "",
                    headers: &[("host", &lane.authority)],
                    payload: body.as_deref().unwrap_or_default(),
                },
            );
            headers.extend(signed.into_iter().map(owned));
        }
        (None, ProviderKind::Bedrock, ..) => {
            return Err(Untranslatable(format!(
                "lane '{}' has no AWS credentials to sign with",
                lane.id
            )))
        }
        (None, ..) => headers.extend(
            credential_headers(lane.provider, credential, anthropic_version)
                .into_iter()
                .map(owned),
        ),
    }
    // Second, as a request line reads (method, path); signing needed it borrowed above.
    headers.insert(1, (":path", path.into()));
    Ok(UpstreamRequest {
        headers,
        body,
        direction,
        lane_api,
    })
}

/// The provider's credential headers (and Anthropic's API version).
pub(super) fn credential_headers(
    provider: ProviderKind,
    credential: &str,
    anthropic_version: Option<&str>,
) -> Vec<(&'static str, String)> {
    match provider {
        ProviderKind::Openai | ProviderKind::OpenaiCompatible => {
            vec![("authorization", ["Bearer ", credential].concat())]
        }
        ProviderKind::AzureOpenai => vec![("api-key", credential.to_string())],
        // Signed per request (`upstream_request`), never a static header.
        ProviderKind::Bedrock => vec![],
        ProviderKind::Anthropic => vec![
            ("x-api-key", credential.to_string()),
            (
                "anthropic-version",
                anthropic_version.unwrap_or("2023-06-01").to_string(),
            ),
        ],
        ProviderKind::Gemini => vec![("x-goog-api-key", credential.to_string())],
        // An OAuth access token (`gcloud auth print-access-token`, a workload identity).
        ProviderKind::VertexAi => vec![("authorization", ["Bearer ", credential].concat())],
    }
}

/// The path `lane` is called at: Gemini's names the model, the method and whether it
/// streams.
fn lane_path(lane: &LaneEntry, client: ApiKind, lane_api: ApiKind, stream: bool) -> String {
    match (lane_api, client) {
        (ApiKind::GenerateContent, ApiKind::Embeddings) => {
            lane.model_method_path("batchEmbedContents")
        }
        (ApiKind::GenerateContent, _) => lane.generate_content_path(stream),
        (ApiKind::Converse, _) => converse_path(&lane.model, stream),
        (api, _) => lane.upstream_path(api),
    }
}

/// The API a lane's provider is called with for a client speaking `client`.
fn lane_api(client: ApiKind, provider: ProviderKind) -> ApiKind {
    if client.native_provider() == provider.wire() {
        client
    } else {
        match provider.wire() {
            ProviderKind::Anthropic => ApiKind::Messages,
            ProviderKind::Gemini | ProviderKind::VertexAi => ApiKind::GenerateContent,
            ProviderKind::Openai | ProviderKind::OpenaiCompatible | ProviderKind::AzureOpenai => {
                ApiKind::ChatCompletions
            }
            ProviderKind::Bedrock => ApiKind::Converse,
        }
    }
}

/// Bedrock's path for a model: its id percent-encoded (ids hold `:`), as AWS SDKs send
/// it and as the signature covers it.
fn converse_path(model: &str, stream: bool) -> String {
    let action = if stream {
        "converse-stream"
    } else {
        "converse"
    };
    format!("/model/{}/{action}", sigv4::uri_encode(model))
}

/// Turns a whole lane answer into the client's format (JSON, error or a buffered
/// stream). `exception` is the error name a Bedrock lane gives in `x-amzn-ErrorType`;
/// `request_id` names a streamed answer whose lane gives it no id.
#[allow(clippy::too_many_arguments)]
pub(super) fn translate_whole_answer(
    direction: Direction,
    status: u16,
    exception: Option<&str>,
    request_id: &str,
    is_stream: bool,
    body: &[u8],
    client_model: &str,
    include_usage: bool,
) -> Vec<u8> {
    let created = (now_ms() / 1000) as u64;
    let translate_error = |d, body| translate_lane_error(d, status, exception, body);
    if !(200..300).contains(&status) {
        return translate_error(direction, body);
    }
    if is_stream {
        let mut t = StreamTranslator::new(direction, client_model, include_usage)
            .with_created(created)
            .with_answer_id(request_id);
        let mut out = t.push(body);
        out.extend(t.finish());
        return out;
    }
    translate_response(direction, body, client_model, created).unwrap_or_else(|e| {
        log::warn!("tollgate: lane answer could not be translated: {}", e.0);
        translate_error(direction, body)
    })
}
