//! The configuration the filter runs on, derived from [`Config`] by `render-envoy`.
//!
//! Differences from the user's file: consumer-group keys are replaced by their SHA-256
//! digests (Envoy's `/config_dump` shows plugin configuration), and each lane carries
//! the cluster and authority Envoy routes it to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::schema::{
    CacheConfig, Catalogue, Config, CostTracking, LaneMode, LedgerFailureMode, ModelPriceDef,
    OtherEndpoints, ProviderKind, Routing, Target,
};
use crate::azure::AzureUpstream;
use crate::endpoint::Endpoint;
use crate::keys;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilterConfig {
    pub groups: Vec<GroupEntry>,
    pub lanes: Vec<LaneEntry>,
    pub routing: Routing,
    /// Price overrides; built-in prices are compiled into the filter.
    #[serde(default)]
    pub prices: BTreeMap<String, ModelPriceDef>,
    /// The operator's price catalogue (`price_catalogue:`), used instead of the
    /// built-in one; prices only, never a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalogue: Option<Catalogue>,
    pub cache: CacheConfig,
    pub cost_tracking_enabled: bool,
    pub wallet_enforcement: bool,
    /// Count an Anthropic request's input before refusing it on the byte bound
    /// (`count_precheck`).
    #[serde(default)]
    pub count_tokens_precheck: bool,
    /// Credit leased from the ledger per request for more, in nanodollars.
    pub lease_chunk_nanos: i64,
    /// Path of the ledger's lease endpoint.
    pub lease_path: String,
    pub events: EventSink,
    /// Largest request body accepted, in bytes.
    pub max_request_bytes: u32,
    /// Largest response body buffered to read usage (non-streamed), in bytes.
    pub max_response_bytes: u32,
    /// Endpoints Tollgate does not govern itself: refused or passed through.
    #[serde(default)]
    pub other_endpoints: OtherEndpoints,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupEntry {
    pub name: String,
    /// Hex SHA-256 of the group's API key.
    pub key_sha256: String,
    pub team: String,
    /// The cache serves this group (global switch and group override combined).
    pub cache_enabled: bool,
    pub cache_ttl_seconds: u32,
    /// Lanes this group may use; `None` = all.
    #[serde(default)]
    pub allowed_lanes: Option<Vec<String>>,
    #[serde(default)]
    pub premium_workflows: Vec<String>,
    /// Per-workflow lane allowances (narrowing `allowed_lanes`).
    #[serde(default)]
    pub workflow_lanes: BTreeMap<String, Vec<String>>,
    /// When the ledger cannot be reached for credit: refuse (`closed`, the default for
    /// configurations rendered before this field existed) or send unreserved (`open`).
    #[serde(default)]
    pub on_ledger_unavailable: LedgerFailureMode,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaneEntry {
    pub id: String,
    pub provider: ProviderKind,
    pub model: String,
    /// Environment variable holding the provider key (read inside the VM).
    pub credential_env: String,
    /// The Envoy cluster serving this lane's provider.
    pub cluster: String,
    /// The `:authority` to send.
    pub authority: String,
    /// Output-token ceiling used to bound a request's cost.
    pub max_output_tokens: u64,
    #[serde(default)]
    pub rpm_limit: Option<u32>,
    #[serde(default)]
    pub tpm_limit: Option<u32>,
    #[serde(default = "one")]
    pub weight: u32,
    /// Position under the `priority` strategy (lower first).
    #[serde(default)]
    pub priority: u32,
    #[serde(default)]
    pub premium: bool,
    /// What the lane's model answers (chat, legacy completions or embeddings).
    #[serde(default)]
    pub mode: LaneMode,
    /// An OpenAI-compatible lane's base path (`/v1`, `/openai/v1`): its endpoint paths
    /// are this followed by the path after OpenAI's `/v1`. For Gemini lanes, what
    /// `models/{model}:generateContent` follows (`/v1beta`, or a Vertex lane's
    /// `/v1/projects/{project}/locations/{location}/publishers/google`).
    #[serde(default)]
    pub base_path: Option<String>,
    /// Paid for by capacity: its requests cost 0, counted.
    #[serde(default)]
    pub fixed_cost: bool,
    /// An Azure OpenAI lane's deployment, API version and credential scheme.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<AzureUpstream>,
    /// A Bedrock lane's signing region and credential variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsLaneEntry>,
}

/// What a Bedrock lane signs with: the region, and the names of the environment
/// variables holding the access key id and session token (the secret access key is
/// the lane's `credential_env`). Names only: the values are read inside the VM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwsLaneEntry {
    pub region: String,
    pub access_key_id_env: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token_env: Option<String>,
}

impl LaneEntry {
    /// The value of the route header that sends a request to this lane's cluster: the
    /// provider's name, or for a lane with a cluster of its own that cluster.
    pub fn route_key(&self) -> &str {
        if self.provider.has_lane_cluster() {
            &self.cluster
        } else {
            self.provider.as_str()
        }
    }

    /// The `model` the request body names upstream: the lane's model, except on
    /// Azure's v1 API, which finds the deployment by it.
    pub fn body_model(&self) -> &str {
        match &self.azure {
            Some(azure) => azure.body_model(&self.model),
            None => &self.model,
        }
    }

    /// The path (with any query) to call `api` at on this lane.
    pub fn upstream_path(&self, api: crate::event::ApiKind) -> String {
        match self.azure.as_ref().and_then(|a| a.path(api)) {
            Some(path) => format!("{}{path}", self.base_path.as_deref().unwrap_or("")),
            None => self.path_for(api.upstream_path()),
        }
    }

    /// The path of a Gemini or Vertex lane's `generateContent` call, streamed with
    /// server-sent events (`alt=sse`) when `stream`.
    pub fn generate_content_path(&self, stream: bool) -> String {
        self.model_method_path(if stream {
            "streamGenerateContent?alt=sse"
        } else {
            "generateContent"
        })
    }

    /// The path of Google's `models/{model}:{method}` on this lane.
    pub fn model_method_path(&self, method: &str) -> String {
        let base = self.base_path.as_deref().unwrap_or("/v1beta");
        format!("{base}/models/{}:{method}", self.model)
    }

    /// The path to call `api` at on this lane (`api_path`: OpenAI's or Anthropic's).
    pub fn path_for(&self, api_path: &str) -> String {
        match &self.base_path {
            Some(base) => format!("{base}{}", api_path.strip_prefix("/v1").unwrap_or(api_path)),
            None => api_path.to_string(),
        }
    }
}

/// Where a lane's requests go: the endpoint, the path its API paths start with (an
/// OpenAI-compatible lane's base path, Gemini's API version, a Vertex lane's project
/// and location; none for Bedrock, whose paths name the model) and the Envoy cluster.
pub fn lane_endpoint(
    config: &Config,
    t: &Target,
) -> Result<(Endpoint, Option<String>, String), String> {
    match (t.provider, &t.base_url) {
        (ProviderKind::OpenaiCompatible, Some(url)) => {
            let (e, path) = Endpoint::parse_base(url)?;
            Ok((e, Some(path), lane_cluster(&t.id)))
        }
        (ProviderKind::AzureOpenai, Some(url)) => {
            let (e, path) = Endpoint::parse_base(url)?;
            Ok((e, Some(path), lane_cluster(&t.id)))
        }
        (ProviderKind::OpenaiCompatible | ProviderKind::AzureOpenai, None) => {
            Err(format!("lane '{}' needs a base_url", t.id))
        }
        (ProviderKind::VertexAi, _) => {
            let (Some(project), Some(location)) = (&t.project, &t.location) else {
                return Err(format!("lane '{}' needs a project and a location", t.id));
            };
            let url = match config.providers.endpoints.get(&ProviderKind::VertexAi) {
                Some(url) => url.clone(),
                None => vertex_endpoint(location),
            };
            let path = format!("/v1/projects/{project}/locations/{location}/publishers/google");
            Ok((Endpoint::parse(&url)?, Some(path), lane_cluster(&t.id)))
        }
        (ProviderKind::Bedrock, _) => {
            let Some(aws) = &t.aws else {
                return Err(format!(
                    "bedrock lane '{}' needs aws.region and aws.access_key_id_ref",
                    t.id
                ));
            };
            let endpoint = Endpoint::parse(&config.bedrock_endpoint(&aws.region))?;
            Ok((endpoint, None, lane_cluster(&t.id)))
        }
        (p, _) => {
            let base_path = (p == ProviderKind::Gemini).then(|| "/v1beta".to_string());
            Ok((
                Endpoint::parse(config.endpoint_for(p))?,
                base_path,
                provider_cluster(p),
            ))
        }
    }
}

/// Vertex AI's regional endpoint for `location` (the `global` location has none of
/// its own).
pub fn vertex_endpoint(location: &str) -> String {
    if location == "global" {
        "https://aiplatform.googleapis.com".into()
    } else {
        format!("https://{location}-aiplatform.googleapis.com")
    }
}

/// The cluster of an OpenAI-compatible, Azure, Vertex or Bedrock lane: one per lane, at
/// its own host (a Bedrock lane's is its region's endpoint).
pub fn lane_cluster(lane_id: &str) -> String {
    format!("lane_{lane_id}")
}

fn one() -> u32 {
    1
}

/// Where cost events go: a shared queue owned by the singleton flusher VM, which sends
/// them in batches to the ledger cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSink {
    pub queue_vm_id: String,
    pub queue_name: String,
    pub ledger_cluster: String,
    pub ledger_authority: String,
    pub ingest_path: String,
    pub flush_interval_ms: u32,
    pub max_batch: u32,
    /// Events held while the ledger is unreachable; beyond this the oldest are dropped
    /// and counted.
    pub max_buffered: u32,
    pub ledger_timeout_ms: u32,
}

pub const FLUSHER_VM_ID: &str = "tollgate-flusher";
pub const EVENT_QUEUE: &str = "tollgate.events";
pub const LEDGER_CLUSTER: &str = "tollgate_ledger";
/// The environment variable that holds the data plane's ledger token (an `ingest`
/// token), in Envoy's environment; never in the plugin configuration.
pub const LEDGER_TOKEN_ENV: &str = "TOLLGATE_LEDGER_TOKEN";

pub fn provider_cluster(kind: ProviderKind) -> String {
    format!("provider_{}", kind.as_str())
}

impl EventSink {
    /// The sink with the default buffer settings.
    pub fn new(ledger_authority: String) -> Self {
        Self::with_settings(ledger_authority, &CostTracking::default())
    }

    /// The sink with the buffer settings and ledger timeout of `cost_tracking`.
    pub fn with_settings(ledger_authority: String, cost_tracking: &CostTracking) -> Self {
        let buffer = &cost_tracking.event_buffer;
        EventSink {
            queue_vm_id: FLUSHER_VM_ID.into(),
            queue_name: EVENT_QUEUE.into(),
            ledger_cluster: LEDGER_CLUSTER.into(),
            ledger_authority,
            ingest_path: "/v1/events".into(),
            flush_interval_ms: buffer.flush_interval_ms,
            max_batch: buffer.batch_size,
            max_buffered: buffer.max_events,
            ledger_timeout_ms: cost_tracking.ledger_timeout_ms,
        }
    }
}

impl FilterConfig {
    /// The prices the filter charges with: the operator's catalogue (else the
    /// built-in one) and the config's overrides.
    pub fn price_table(&self) -> crate::pricing::PriceTable {
        let catalogue = self
            .catalogue
            .as_ref()
            .unwrap_or_else(|| crate::pricing::built_in_catalogue());
        crate::pricing::PriceTable::new(catalogue, &self.prices)
    }

    /// Derives the filter's configuration. `config` must have passed validation.
    pub fn from_config(config: &Config, ledger_authority: &str) -> Result<Self, String> {
        let groups = config
            .consumer_groups
            .iter()
            .map(|g| {
                let digest = g
                    .key_digest()
                    .ok_or_else(|| format!("consumer group '{}' has no key", g.name))?;
                let policy = g.cache.unwrap_or(crate::config::GroupCachePolicy {
                    enabled: None,
                    ttl_seconds: None,
                });
                Ok(GroupEntry {
                    name: g.name.clone(),
                    key_sha256: keys::hex(&digest),
                    team: g.wallet_team_id.clone(),
                    cache_enabled: config.cache.enabled && policy.enabled.unwrap_or(true),
                    cache_ttl_seconds: policy.ttl_seconds.unwrap_or(config.cache.ttl_seconds),
                    allowed_lanes: g.allowed_lanes.clone(),
                    premium_workflows: g.premium_workflows.clone(),
                    workflow_lanes: g.workflow_lanes.clone(),
                    on_ledger_unavailable: g
                        .on_ledger_unavailable
                        .unwrap_or(config.cost_tracking.on_ledger_unavailable),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let lanes = config
            .providers
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let (endpoint, base_path, cluster) = lane_endpoint(config, t)?;
                Ok(LaneEntry {
                    id: t.id.clone(),
                    provider: t.provider,
                    model: t.model.clone(),
                    credential_env: t.secret_key_ref.env.clone(),
                    cluster,
                    authority: endpoint.authority(),
                    max_output_tokens: t
                        .max_output_tokens
                        .unwrap_or(t.provider.default_max_output_tokens()),
                    rpm_limit: t.rpm_limit,
                    tpm_limit: t.tpm_limit,
                    weight: t.weight.unwrap_or(1),
                    priority: t.priority.unwrap_or(i as u32),
                    premium: t.premium,
                    mode: t.mode,
                    base_path,
                    fixed_cost: t.fixed_cost,
                    azure: crate::config::azure_lane::upstream(t)?,
                    aws: t.aws.as_ref().map(|a| AwsLaneEntry {
                        region: a.region.clone(),
                        access_key_id_env: a.access_key_id_ref.env.clone(),
                        session_token_env: a.session_token_ref.as_ref().map(|r| r.env.clone()),
                    }),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(FilterConfig {
            groups,
            lanes,
            routing: config.providers.routing.clone(),
            prices: config.pricing.clone(),
            catalogue: config.catalogue.clone(),
            cache: config.cache.clone(),
            cost_tracking_enabled: config.cost_tracking.enabled,
            wallet_enforcement: config.cost_tracking.wallet_enforcement,
            count_tokens_precheck: config.cost_tracking.count_tokens_precheck,
            lease_chunk_nanos: config.cost_tracking.lease_chunk_usd.0,
            lease_path: "/v1/leases".into(),
            events: EventSink::with_settings(ledger_authority.to_string(), &config.cost_tracking),
            max_request_bytes: 4 * 1024 * 1024,
            max_response_bytes: 8 * 1024 * 1024,
            other_endpoints: config.other_endpoints,
        })
    }

    /// Environment variables the VM must be allowed to read.
    pub fn credential_envs(&self) -> Vec<String> {
        let mut envs: Vec<String> = self
            .lanes
            .iter()
            .flat_map(|l| {
                let aws = l.aws.iter().flat_map(|a| {
                    std::iter::once(a.access_key_id_env.clone()).chain(a.session_token_env.clone())
                });
                std::iter::once(l.credential_env.clone()).chain(aws)
            })
            .collect();
        envs.sort();
        envs.dedup();
        envs
    }
}
