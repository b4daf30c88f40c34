//! The cost event: one per request, emitted by the filter, stored by the ledger.
//!
//! This is the only definition of the event; the filter serialises it and the ledger
//! deserialises it, so the two cannot drift apart.

use serde::{Deserialize, Serialize};

/// Tokens of one request, by how they are priced. The kinds are disjoint: `input`
/// excludes cache reads and cache writes, so cost is a plain sum of `tokens × price`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tokens {
    /// Prompt tokens billed at the full input price.
    #[serde(default)]
    pub input: u64,
    /// Prompt tokens served from the provider's prompt cache (cache reads).
    #[serde(default)]
    pub cached_input: u64,
    /// Prompt tokens written to the provider's prompt cache for 5 minutes (Anthropic
    /// cache creation; all of it when the provider does not split by duration).
    #[serde(default)]
    pub cache_write: u64,
    /// Prompt tokens written to the provider's prompt cache for 1 hour (Anthropic
    /// `cache_creation.ephemeral_1h_input_tokens`). Absent when 0, as in older events.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub cache_write_1h: u64,
    /// Generated tokens, reasoning included.
    #[serde(default)]
    pub output: u64,
}

impl Tokens {
    pub fn total(&self) -> u64 {
        self.prompt().saturating_add(self.output)
    }

    /// Every prompt token, however priced: what long-context thresholds compare.
    pub fn prompt(&self) -> u64 {
        self.input
            .saturating_add(self.cached_input)
            .saturating_add(self.cache_write)
            .saturating_add(self.cache_write_1h)
    }
}

/// Where the token counts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageSource {
    /// The provider reported usage in its response.
    Reported,
    /// The provider answered without usage, or the stream broke before its final
    /// usage: what was not reported is estimated (output from the text delivered,
    /// input from the request's size) and the event is flagged.
    Estimated,
    /// No provider work happened (refusal, local error): zero by definition.
    None,
}

/// How the request ended, from the team's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The provider answered with a 2xx.
    Ok,
    /// The provider answered with an error status.
    ProviderError,
    /// The request reached the provider but the exchange did not complete (reset,
    /// timeout, client disconnect mid-stream).
    Incomplete,
    /// Tollgate refused the request before any provider was called.
    Refused,
    /// The client's request was invalid (answered locally with a 4xx).
    BadRequest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheStatus {
    /// Cache disabled for this request.
    Off,
    Miss,
    Hit,
    /// The client asked not to use the cache.
    Bypass,
}

/// The API shape of the client's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiKind {
    /// OpenAI `POST /v1/chat/completions`.
    ChatCompletions,
    /// OpenAI `POST /v1/responses`.
    Responses,
    /// Anthropic `POST /v1/messages`.
    Messages,
    /// OpenAI `POST /v1/embeddings`: priced from `usage.prompt_tokens`.
    Embeddings,
    /// OpenAI's legacy `POST /v1/completions`: priced like chat.
    Completions,
    /// Anthropic `POST /v1/messages/count_tokens`: free at the provider, never charged.
    CountTokens,
    /// Any other provider endpoint an operator lets through (`other_endpoints`):
    /// attributed and counted, priced only where its answer reports usage of a
    /// priced model, otherwise recorded `unpriced`.
    Passthrough,
    /// Google's `models/{model}:<method>` API (`generateContent` on Gemini API and
    /// Vertex AI lanes, `batchEmbedContents` on Gemini API embedding lanes): only a
    /// lane's API, never a client's (chat, messages and embeddings clients are
    /// translated to it).
    GenerateContent,
    /// Amazon Bedrock `POST /model/{modelId}/converse` (and `converse-stream`): only
    /// ever a lane's API, which chat and messages clients are translated to.
    Converse,
}

impl ApiKind {
    /// The governed API at `path`; `None` for models listings and every other path
    /// (which `other_endpoints` decides).
    pub fn from_path(path: &str) -> Option<ApiKind> {
        let path = path.split('?').next().unwrap_or(path);
        match path.trim_end_matches('/') {
            "/v1/chat/completions" | "/chat/completions" => Some(ApiKind::ChatCompletions),
            "/v1/responses" | "/responses" => Some(ApiKind::Responses),
            "/v1/messages" | "/messages" => Some(ApiKind::Messages),
            "/v1/embeddings" | "/embeddings" => Some(ApiKind::Embeddings),
            "/v1/completions" | "/completions" => Some(ApiKind::Completions),
            "/v1/messages/count_tokens" | "/messages/count_tokens" => Some(ApiKind::CountTokens),
            _ => None,
        }
    }

    /// The provider whose wire format this API is.
    pub fn native_provider(self) -> crate::config::schema::ProviderKind {
        match self {
            ApiKind::ChatCompletions
            | ApiKind::Responses
            | ApiKind::Embeddings
            | ApiKind::Completions
            | ApiKind::Passthrough => crate::config::schema::ProviderKind::Openai,
            ApiKind::Messages | ApiKind::CountTokens => {
                crate::config::schema::ProviderKind::Anthropic
            }
            ApiKind::GenerateContent => crate::config::schema::ProviderKind::Gemini,
            ApiKind::Converse => crate::config::schema::ProviderKind::Bedrock,
        }
    }

    /// The path a lane is called at. A passthrough request keeps the client's path.
    pub fn upstream_path(self) -> &'static str {
        match self {
            ApiKind::ChatCompletions => "/v1/chat/completions",
            ApiKind::Responses => "/v1/responses",
            ApiKind::Messages => "/v1/messages",
            ApiKind::Embeddings => "/v1/embeddings",
            ApiKind::Completions => "/v1/completions",
            ApiKind::CountTokens => "/v1/messages/count_tokens",
            // The path names the model: see `LaneEntry::generate_content_path` and the
            // Bedrock lane's Converse path; a passthrough keeps the client's.
            ApiKind::Passthrough | ApiKind::GenerateContent | ApiKind::Converse => "",
        }
    }

    /// The kind of lane model that serves this API.
    pub fn lane_mode(self) -> crate::config::schema::LaneMode {
        use crate::config::schema::LaneMode;
        match self {
            ApiKind::Embeddings => LaneMode::Embedding,
            ApiKind::Completions => LaneMode::Completion,
            _ => LaneMode::Chat,
        }
    }

    /// The provider does not charge for it: no reservation, cost 0.
    pub fn is_free(self) -> bool {
        self == ApiKind::CountTokens
    }

    /// Its answers produce no output tokens (the reservation bounds the input only).
    pub fn input_only(self) -> bool {
        matches!(self, ApiKind::Embeddings | ApiKind::CountTokens)
    }

    /// Streams in the Chat Completions chunk shape, whose usage chunk is asked for
    /// with `stream_options.include_usage`.
    pub fn chat_stream_shape(self) -> bool {
        matches!(self, ApiKind::ChatCompletions | ApiKind::Completions)
    }
}

/// One request's cost record. `id` is the idempotency key: the ledger stores an id
/// once, however many times a batch carrying it is retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostEvent {
    /// Unique per request, generated by the filter (never taken from the client).
    pub id: String,
    /// When the request arrived, Unix milliseconds UTC.
    pub ts_ms: i64,
    pub consumer_group: String,
    /// The wallet that pays (`wallet_team_id`).
    pub team: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    pub api: ApiKind,
    /// Provider of the lane that served (or would have served) the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lane: Option<String>,
    /// The model the client asked for.
    #[serde(default)]
    pub model_requested: String,
    /// The model the provider reports having served (the lane's model if unreported).
    #[serde(default)]
    pub model_served: String,
    pub tokens: Tokens,
    pub usage_source: UsageSource,
    /// Cost in nanodollars (1e-9 USD).
    pub cost_nanos: i64,
    /// True when the request had a cost Tollgate could not price (recorded as 0): no
    /// price for the served model, a passed-through answer without usage of a priced
    /// model, or a batch job let through (billed later, at batch rates).
    #[serde(default)]
    pub unpriced: bool,
    pub outcome: Outcome,
    /// HTTP status the client received (0 if none was sent).
    pub http_status: u16,
    /// Short machine-readable reason for refusals and errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub latency_ms: u32,
    pub stream: bool,
    pub cache: CacheStatus,
    /// What a cache hit saved: the cost the miss would have had.
    #[serde(default)]
    pub cost_avoided_nanos: i64,
    /// The serving lane is marked premium.
    #[serde(default)]
    pub premium: bool,
    /// The workflow is approved for premium lanes (meaningful when `premium`).
    #[serde(default)]
    pub premium_approved: bool,
    /// The credit lease the request's reservation came from (wallet enforcement).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_id: Option<u64>,
    /// Wallet enforcement was on, but the ledger could not be reached for credit and
    /// the consumer group fails open (`on_ledger_unavailable: open`): the request went
    /// upstream without a reservation, so no wallet check stood behind its spend.
    /// Absent (false) in events from before this field existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wallet_unchecked: bool,
    /// A cache miss that repeated, under normalisation, an answer stored within the
    /// cache's lifetime (see `cache::normalized::Seen`): what normalised matching would
    /// have answered. The ledger sums these per team and workflow.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub near_repeat: bool,
    /// The service tier that priced the request: the one the provider reported
    /// (`service_tier` in the response), else the one the client asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    /// Web search calls the provider ran for the request (server-side tool use).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub web_search_calls: u64,
    /// The part of `cost_nanos` charged per server-side tool call rather than per
    /// token (web search). `cost_nanos − tool_cost_nanos` is the token cost.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub tool_cost_nanos: i64,
    /// The catalogue entry that priced the request, with the rate rule that applied:
    /// `gpt-5`, `gpt-5@flex`, `claude-sonnet-4-5@long_context`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priced_by: Option<String>,
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_kind_from_path() {
        assert_eq!(
            ApiKind::from_path("/v1/chat/completions"),
            Some(ApiKind::ChatCompletions)
        );
        assert_eq!(
            ApiKind::from_path("/v1/messages?beta=true"),
            Some(ApiKind::Messages)
        );
        assert_eq!(
            ApiKind::from_path("/v1/responses/"),
            Some(ApiKind::Responses)
        );
        assert_eq!(ApiKind::from_path("/v1/models"), None);
        assert_eq!(
            ApiKind::from_path("/v1/embeddings"),
            Some(ApiKind::Embeddings)
        );
        assert_eq!(
            ApiKind::from_path("/v1/completions"),
            Some(ApiKind::Completions)
        );
        assert_eq!(
            ApiKind::from_path("/v1/messages/count_tokens?beta=true"),
            Some(ApiKind::CountTokens)
        );
        assert_eq!(ApiKind::from_path("/v1/messages/batches"), None);
        assert_eq!(ApiKind::from_path("/v1/images/generations"), None);
        for api in [
            ApiKind::Embeddings,
            ApiKind::Completions,
            ApiKind::CountTokens,
        ] {
            assert_eq!(ApiKind::from_path(api.upstream_path()), Some(api));
        }
    }

    #[test]
    fn event_round_trips_through_json() {
        let e = CostEvent {
            id: "a1".into(),
            ts_ms: 1,
            consumer_group: "support".into(),
            team: "team_support".into(),
            user: Some("u1".into()),
            workflow: None,
            api: ApiKind::Messages,
            provider: Some("anthropic".into()),
            lane: Some("anthropic-haiku".into()),
            model_requested: "claude-haiku".into(),
            model_served: "claude-haiku".into(),
            tokens: Tokens {
                input: 1,
                cached_input: 2,
                cache_write: 3,
                cache_write_1h: 0,
                output: 4,
            },
            usage_source: UsageSource::Reported,
            cost_nanos: 10,
            unpriced: false,
            outcome: Outcome::Ok,
            http_status: 200,
            reason: None,
            latency_ms: 5,
            stream: true,
            cache: CacheStatus::Miss,
            cost_avoided_nanos: 0,
            premium: false,
            premium_approved: false,
            lease_id: Some(9),
            wallet_unchecked: false,
            near_repeat: false,
            service_tier: None,
            web_search_calls: 0,
            tool_cost_nanos: 0,
            priced_by: None,
        };
        let text = serde_json::to_string(&e).unwrap();
        assert!(!text.contains("workflow"));
        assert!(
            !text.contains("wallet_unchecked"),
            "false is left out: {text}"
        );
        assert_eq!(serde_json::from_str::<CostEvent>(&text).unwrap(), e);
        let unchecked = CostEvent {
            wallet_unchecked: true,
            lease_id: None,
            ..e
        };
        let text = serde_json::to_string(&unchecked).unwrap();
        assert!(text.contains(r#""wallet_unchecked":true"#), "{text}");
        assert_eq!(serde_json::from_str::<CostEvent>(&text).unwrap(), unchecked);
    }
}
