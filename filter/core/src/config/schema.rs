//! The types of `tollgate.yaml`, each denying unknown keys, with their defaults and
//! the allowed ranges of numeric settings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::money::UsdPerMTok;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Schema version; only `'1'` exists.
    pub version: String,
    pub providers: Providers,
    #[serde(default)]
    pub cache: CacheConfig,
    pub consumer_groups: Vec<ConsumerGroup>,
    #[serde(default)]
    pub cost_tracking: CostTracking,
    /// Extension: wallet definitions. When present, every consumer group's
    /// `wallet_team_id` must be defined here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallets: Option<Vec<WalletDef>>,
    /// Extension: price overrides and additions, in USD per million tokens.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pricing: BTreeMap<String, ModelPriceDef>,
    /// Extension: a price catalogue file (the format of the built-in
    /// `filter/core/catalogue/prices.yaml`) used instead of the built-in one; a
    /// relative path is relative to this file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_catalogue: Option<String>,
    /// The contents of `price_catalogue`, read by whoever loads this file (the core
    /// reads no files); `None`: the built-in catalogue.
    #[serde(skip)]
    pub catalogue: Option<Catalogue>,
    /// Extension: billing budgets (soft thresholds that warn, never block).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<BudgetDef>,
    /// Extension: where budget alerts are delivered.
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// Extension: what happens to provider endpoints Tollgate does not govern itself
    /// (images, audio, files, fine-tuning, realtime, batches, ...).
    #[serde(default, skip_serializing_if = "OtherEndpoints::is_default")]
    pub other_endpoints: OtherEndpoints,
}

/// What a request to an endpoint Tollgate does not govern itself gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EndpointPolicy {
    /// Answered 404 with a provider-style error naming the endpoints Tollgate serves.
    #[default]
    Refuse,
    /// Sent to the provider with a lane's credential: attributed to the team and
    /// counted, priced when the answer reports usage of a priced model, otherwise
    /// recorded as `unpriced`. Not checked against the wallet before it is sent
    /// (its cost is not known up front).
    Passthrough,
}

/// The policy of each family of provider endpoints Tollgate does not govern itself.
/// A family not named here gets `default`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OtherEndpoints {
    /// Every endpoint under `/v1/` not named below.
    #[serde(default)]
    pub default: EndpointPolicy,
    /// `/v1/images/...`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<EndpointPolicy>,
    /// `/v1/audio/...`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<EndpointPolicy>,
    /// `/v1/files...`, `/v1/uploads...`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<EndpointPolicy>,
    /// `/v1/fine_tuning/...`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fine_tuning: Option<EndpointPolicy>,
    /// `/v1/realtime...`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realtime: Option<EndpointPolicy>,
    /// `/v1/moderations`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderations: Option<EndpointPolicy>,
    /// OpenAI `/v1/batches...` and Anthropic `/v1/messages/batches...`. Refused unless
    /// named here (whatever `default` says): batch jobs are billed later at batch rates
    /// Tollgate does not see, so they are not governed; let through, their events are
    /// always `unpriced`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batches: Option<EndpointPolicy>,
}

impl OtherEndpoints {
    pub fn is_default(&self) -> bool {
        *self == OtherEndpoints::default()
    }
}

/// What a lane's model answers: chat (Chat Completions, Responses, Messages and
/// Anthropic token counting), legacy completions, or embeddings. Requests are routed
/// only to lanes whose mode serves their endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LaneMode {
    #[default]
    Chat,
    Completion,
    Embedding,
}

impl LaneMode {
    pub fn is_chat(&self) -> bool {
        *self == LaneMode::Chat
    }
}

/// A team's billing budget for a recurring period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetDef {
    pub team_id: String,
    pub amount_usd: crate::money::Usd,
    #[serde(default)]
    pub period: BudgetPeriodKind,
    /// First day of the first period (`YYYY-MM-DD`, UTC); required for `custom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Length of a `custom` period in days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length_days: Option<u32>,
    /// Alert when actual spend reaches these percentages of the budget.
    #[serde(default = "default_actual_thresholds")]
    pub thresholds_pct: Vec<u32>,
    /// Alert when forecast period-end spend reaches these percentages.
    #[serde(default = "default_forecast_thresholds")]
    pub forecast_thresholds_pct: Vec<u32>,
}

fn default_actual_thresholds() -> Vec<u32> {
    vec![50, 80, 100]
}
fn default_forecast_thresholds() -> Vec<u32> {
    vec![100]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BudgetPeriodKind {
    #[default]
    Monthly,
    Quarterly,
    Custom,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Receive every team's alerts and the monthly finance digest (teams add their
    /// own channels through the ledger's API).
    #[serde(default)]
    pub webhooks: Vec<WebhookDef>,
    /// Alert when a wallet's balance falls to this percentage of its allocation
    /// (once per top-up); 0 turns the alert off.
    #[serde(default = "default_wallet_low_pct")]
    pub wallet_low_pct: u32,
    #[serde(default)]
    pub anomaly: AnomalyConfig,
    #[serde(default)]
    pub digests: DigestsConfig,
    /// The dashboard's address as people reach it (`https://tollgate.example.com`):
    /// alerts and digests link back to it. Without it, links are relative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard_url: Option<String>,
    /// The SMTP server for email channels (the password comes from the environment or a
    /// mounted file, never from this file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<SmtpConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            webhooks: Vec::new(),
            wallet_low_pct: default_wallet_low_pct(),
            anomaly: AnomalyConfig::default(),
            digests: DigestsConfig::default(),
            dashboard_url: None,
            email: None,
        }
    }
}

fn default_wallet_low_pct() -> u32 {
    20
}

/// Spend anomalies: today's spend so far far above the team's (or workflow's) spend
/// by the same time of day over the last 14 days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalyConfig {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// How many standard deviations above the trailing days' mean fire.
    #[serde(default = "default_anomaly_sensitivity")]
    pub sensitivity: u32,
    /// The least excess over the usual level that fires, so small teams do not page.
    #[serde(default = "default_anomaly_min_excess")]
    pub min_excess_usd: crate::money::Usd,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            enabled: true,
            sensitivity: default_anomaly_sensitivity(),
            min_excess_usd: default_anomaly_min_excess(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_anomaly_sensitivity() -> u32 {
    3
}
fn default_anomaly_min_excess() -> crate::money::Usd {
    crate::money::Usd(10_000_000_000)
}

/// Digests: each team's week on its channels, and the month for finance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestsConfig {
    #[serde(default = "default_true")]
    pub weekly: bool,
    #[serde(default = "default_true")]
    pub monthly: bool,
    /// UTC hour after which a period's digest goes out (Mondays, the 1st).
    #[serde(default = "default_digest_hour")]
    pub hour_utc: u32,
}

impl Default for DigestsConfig {
    fn default() -> Self {
        DigestsConfig {
            weekly: true,
            monthly: true,
            hour_utc: default_digest_hour(),
        }
    }
}

fn default_digest_hour() -> u32 {
    7
}

/// How the ledger reaches its SMTP server. Each field may instead come from the
/// environment (`TOLLGATE_SMTP_HOST`, `_PORT`, `_USERNAME`, `_FROM`, `_TLS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The sender address (`Tollgate <tollgate@example.com>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `starttls` (the default: refuse a server without it), `tls` (implicit TLS,
    /// usually port 465) or `none` (a relay on a trusted network).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<SmtpTls>,
    /// A file holding the SMTP password (a mounted secret); or `TOLLGATE_SMTP_PASSWORD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    #[default]
    Starttls,
    Tls,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookDef {
    pub url: String,
    #[serde(default)]
    pub format: WebhookFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// A JSON object with every fact of the alert.
    #[default]
    Generic,
    /// Slack's incoming-webhook shape (`{"text": ...}`), also accepted by Mattermost.
    Slack,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Providers {
    #[serde(default)]
    pub routing: Routing,
    pub targets: Vec<Target>,
    /// Extension: where each provider's API lives. Defaults to the public endpoints.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoints: BTreeMap<ProviderKind, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    #[serde(default)]
    pub strategy: RoutingStrategy,
    /// Extension: what a client asks for → the lanes that may serve it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<String, Vec<String>>,
    /// Extension: lanes tried per request, the first included (fallbacks = this - 1).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Extension: consecutive failures after which a lane cools down.
    #[serde(default = "default_failures_to_cool")]
    pub failures_to_cool_down: u32,
    /// Extension: how long a failing lane is skipped.
    #[serde(default = "default_cooldown")]
    pub cooldown_seconds: u32,
}

impl Default for Routing {
    fn default() -> Self {
        Routing {
            strategy: RoutingStrategy::default(),
            aliases: BTreeMap::new(),
            max_attempts: default_max_attempts(),
            failures_to_cool_down: default_failures_to_cool(),
            cooldown_seconds: default_cooldown(),
        }
    }
}

fn default_max_attempts() -> u32 {
    2
}
fn default_failures_to_cool() -> u32 {
    3
}
fn default_cooldown() -> u32 {
    30
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RoutingStrategy {
    #[default]
    UsageBased,
    CostBased,
    Priority,
    Weighted,
    LatencyBased,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Openai,
    Anthropic,
    /// Any server speaking OpenAI's API at the lane's `base_url` (vLLM, Ollama,
    /// Together, Groq, Mistral, DeepSeek, Fireworks, ...): chat completions, legacy
    /// completions and embeddings, with usage read from the OpenAI shape.
    OpenaiCompatible,
    /// Azure OpenAI: a resource's deployments (`base_url` the resource endpoint,
    /// `deployment`, `api_version`), called in OpenAI's wire format.
    AzureOpenai,
    /// Google's Gemini API (`generativelanguage.googleapis.com`, key in
    /// `x-goog-api-key`): chat and messages clients are translated to `generateContent`.
    Gemini,
    /// Gemini on Google Cloud Vertex AI (`{location}-aiplatform.googleapis.com`, an
    /// OAuth bearer token); the lane names its `project` and `location`.
    VertexAi,
    /// Amazon Bedrock's Converse API (`/model/{modelId}/converse[-stream]` on
    /// `bedrock-runtime.{region}.amazonaws.com`), signed with AWS Signature Version 4
    /// from the lane's `aws` credentials. OpenAI and Anthropic clients are translated.
    Bedrock,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::OpenaiCompatible => "openai_compatible",
            ProviderKind::AzureOpenai => "azure_openai",
            ProviderKind::Gemini => "gemini",
            ProviderKind::VertexAi => "vertex_ai",
            ProviderKind::Bedrock => "bedrock",
        }
    }

    /// The wire format the provider speaks: OpenAI's, Anthropic's, Google's
    /// `generateContent` (both Gemini kinds) or Bedrock's Converse.
    pub fn wire(self) -> ProviderKind {
        match self {
            ProviderKind::Anthropic => ProviderKind::Anthropic,
            ProviderKind::Bedrock => ProviderKind::Bedrock,
            ProviderKind::Openai | ProviderKind::OpenaiCompatible | ProviderKind::AzureOpenai => {
                ProviderKind::Openai
            }
            ProviderKind::Gemini | ProviderKind::VertexAi => ProviderKind::Gemini,
        }
    }

    /// Each lane of this kind has its own Envoy cluster (its own host), rather than
    /// one cluster per provider.
    pub fn has_lane_cluster(self) -> bool {
        matches!(
            self,
            ProviderKind::OpenaiCompatible
                | ProviderKind::AzureOpenai
                | ProviderKind::VertexAi
                | ProviderKind::Bedrock
        )
    }

    /// Output limit assumed for a lane that does not state one: the largest of the
    /// provider's current mainstream models.
    pub fn default_max_output_tokens(self) -> u64 {
        match self {
            ProviderKind::Openai | ProviderKind::OpenaiCompatible | ProviderKind::AzureOpenai => {
                32_768
            }
            ProviderKind::Anthropic => 64_000,
            // Gemini 2.5 Pro, Flash and Flash-Lite.
            ProviderKind::Gemini | ProviderKind::VertexAi => 65_536,
            // Claude 3.5 Haiku's limit on Bedrock; Nova and Llama models stop sooner.
            ProviderKind::Bedrock => 8_192,
        }
    }

    /// The provider's public API base URL (an OpenAI-compatible lane names its own).
    pub fn default_endpoint(self) -> &'static str {
        match self {
            ProviderKind::Openai => "https://api.openai.com",
            ProviderKind::Anthropic => "https://api.anthropic.com",
            ProviderKind::Gemini => "https://generativelanguage.googleapis.com",
            // Per lane: its base URL, or `https://{location}-aiplatform.googleapis.com`.
            ProviderKind::OpenaiCompatible | ProviderKind::AzureOpenai | ProviderKind::VertexAi => {
                ""
            }
            // Regional: see [`Config::bedrock_endpoint`].
            ProviderKind::Bedrock => "",
        }
    }
}

/// A routing lane: one provider and one model, with the credential to call it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub id: String,
    pub provider: ProviderKind,
    pub model: String,
    pub secret_key_ref: SecretKeyRef,
    /// Extension: the most output tokens this lane's model produces; used to bound a
    /// request's cost when the client sets no `max_tokens`. Defaults per provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    /// Extension: requests-per-minute limit of this lane (usage_based headroom).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm_limit: Option<u32>,
    /// Extension: tokens-per-minute limit of this lane (usage_based headroom).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm_limit: Option<u32>,
    /// Extension: share of traffic under the `weighted` strategy (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Extension: order under the `priority` strategy (lower first; default: config order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// Extension: a premium (expensive) lane; its use by workflows not approved for
    /// premium is reported as premium drift.
    #[serde(default)]
    pub premium: bool,
    /// Extension: what the lane's model answers (default `chat`; `embedding` for
    /// `/v1/embeddings`, `completion` for the legacy `/v1/completions`).
    #[serde(default, skip_serializing_if = "LaneMode::is_chat")]
    pub mode: LaneMode,
    /// Extension: where an `openai_compatible` lane's API lives, as its provider
    /// documents it (`http://vllm:8000/v1`, `https://api.groq.com/openai/v1`); the
    /// endpoint paths (`/chat/completions`, `/embeddings`, ...) follow it. For an
    /// `azure_openai` lane, the resource endpoint (`https://myres.openai.azure.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Extension (`azure_openai`): the deployment the lane calls; `model` stays the
    /// model deployed there, which prices the lane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// Extension (`azure_openai`): the `api-version` query of every call
    /// (`2024-10-21`), or `v1` for Azure's versionless v1 API (`/openai/v1/...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Extension (`azure_openai`): how the credential is sent: `api_key` (the default,
    /// an `api-key` header) or `entra` (a Microsoft Entra ID token as
    /// `Authorization: Bearer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AzureAuth>,
    /// Extension: a lane paid for by capacity, not per token (self-hosted): its
    /// requests cost 0 and are counted for volume and mix, never `unpriced`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fixed_cost: bool,
    /// Extension: the Google Cloud project of a `vertex_ai` lane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Extension: the Vertex AI location of a `vertex_ai` lane (`us-central1`,
    /// `europe-west4`, `global`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Extension: a `bedrock` lane's region and the rest of its AWS credentials (the
    /// secret access key is `secret_key_ref`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsLane>,
}

/// Where a Bedrock lane runs and the environment variables holding the credentials
/// its requests are signed with (AWS Signature Version 4, service `bedrock`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsLane {
    /// `us-east-1`, `eu-west-3`, ...: the runtime endpoint and the signing scope.
    pub region: String,
    /// The access key id (`AKIA...` / `ASIA...`).
    pub access_key_id_ref: SecretKeyRef,
    /// The session token of temporary credentials (STS, roles), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token_ref: Option<SecretKeyRef>,
}

/// How an Azure OpenAI lane presents its credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AzureAuth {
    /// The resource key, as the `api-key` header.
    #[default]
    ApiKey,
    /// A Microsoft Entra ID access token, as `Authorization: Bearer`.
    Entra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretKeyRef {
    /// Name of the environment variable (in Envoy's environment) holding the key.
    pub env: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default = "default_ttl")]
    pub ttl_seconds: u32,
    #[serde(default = "default_max_entries")]
    pub max_entries: u32,
    #[serde(default)]
    pub match_strategy: MatchStrategy,
    /// Extension: largest response stored, in bytes.
    #[serde(default = "default_max_entry_bytes")]
    pub max_entry_bytes: u32,
    /// Extension: ceiling on the bytes all entries may hold together.
    #[serde(default = "default_max_total_bytes")]
    pub max_total_bytes: u64,
    /// Extension: let consumer groups share answers (off: a team never reads another
    /// team's cached answer).
    #[serde(default)]
    pub share_across_groups: bool,
    /// Extension: do not cache requests that declare themselves non-deterministic
    /// (`n` > 1, or `temperature` > 0 without `seed`).
    #[serde(default)]
    pub skip_nondeterministic: bool,
}

fn default_max_entry_bytes() -> u32 {
    256 * 1024
}
fn default_max_total_bytes() -> u64 {
    64 * 1024 * 1024
}

fn default_ttl() -> u32 {
    1800
}
fn default_max_entries() -> u32 {
    10_000
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: false,
            ttl_seconds: default_ttl(),
            max_entries: default_max_entries(),
            match_strategy: MatchStrategy::Exact,
            max_entry_bytes: default_max_entry_bytes(),
            max_total_bytes: default_max_total_bytes(),
            share_across_groups: false,
            skip_nondeterministic: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MatchStrategy {
    /// The canonical request body, byte for byte.
    #[default]
    Exact,
    /// The body with volatile values masked and whitespace collapsed (see
    /// `cache::normalized`): near-repeats share an answer. Opt-in, for every team;
    /// a team or workflow can also turn it on at run time (runtime policy).
    Normalized,
}

/// Who is calling: the key a team's existing clients already send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerGroup {
    pub name: String,
    /// The key in plain text, as in the seed config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Extension: the key's SHA-256 (hex), so the config need not hold the key itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_sha256: Option<String>,
    pub wallet_team_id: String,
    /// Extension: this group's cache policy, overriding the global `cache` block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<GroupCachePolicy>,
    /// Extension: the lanes this group may use (default: every lane).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_lanes: Option<Vec<String>>,
    /// Extension: workflows of this group approved to use premium lanes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub premium_workflows: Vec<String>,
    /// Extension: per-workflow lane policy (`x-tollgate-workflow`): the lanes a
    /// workflow of this group may use, narrowing `allowed_lanes`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub workflow_lanes: BTreeMap<String, Vec<String>>,
    /// Extension: this group's answer when the ledger cannot be reached for credit,
    /// overriding `cost_tracking.on_ledger_unavailable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_ledger_unavailable: Option<LedgerFailureMode>,
}

/// What wallet enforcement does with a request that needs new credit when the ledger
/// (the wallet authority) cannot be reached: the call fails, times out or gets a 5xx.
/// A wallet the ledger reports exhausted is refused (402) in both modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LedgerFailureMode {
    /// Refuse with 503 `wallet_unavailable`: no spend without a wallet check.
    #[default]
    Closed,
    /// Send the request without a reservation; its cost event is marked
    /// `wallet_unchecked` and its spend is still charged to the wallet once the
    /// ledger receives the event.
    Open,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupCachePolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostTracking {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub wallet_enforcement: bool,
    /// Extension: how much credit an Envoy instance leases from the ledger at a time
    /// (USD). Smaller chunks strand less credit on idle instances; larger ones mean
    /// fewer ledger round trips.
    #[serde(default = "default_lease_chunk")]
    pub lease_chunk_usd: crate::money::Usd,
    /// Extension: what wallet enforcement does when the ledger cannot be reached for
    /// credit (default `closed`); consumer groups may override it.
    #[serde(default)]
    pub on_ledger_unavailable: LedgerFailureMode,
    /// Extension: how long Envoy waits for the ledger's answer to a credit request or
    /// an event batch, in milliseconds.
    #[serde(default = "default_ledger_timeout_ms")]
    pub ledger_timeout_ms: u32,
    /// Extension: the cost-event buffer in each Envoy (the flusher's outbox).
    #[serde(default)]
    pub event_buffer: EventBufferConfig,
    /// Extension: before refusing an Anthropic-format request on an Anthropic lane
    /// because its byte-bound reservation does not fit the wallet, ask the lane's free
    /// `count_tokens` endpoint and check again with the counted input (default on; it
    /// never adds a call to a request the wallet covers). See `count_precheck`.
    #[serde(default = "yes")]
    pub count_tokens_precheck: bool,
}

/// Cost events on their way from an Envoy to the ledger: held in a bounded buffer by
/// the singleton flusher and sent in batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBufferConfig {
    /// Events held while the ledger is slow or unreachable; beyond this the oldest are
    /// dropped and counted (`tollgate_events_dropped`). About 1 KB of memory each.
    #[serde(default = "default_buffer_max_events")]
    pub max_events: u32,
    /// Most events sent to the ledger in one request.
    #[serde(default = "default_buffer_batch_size")]
    pub batch_size: u32,
    /// How often the flusher sends what is buffered, in milliseconds (also the first
    /// retry delay, doubling to at most 10 s while the ledger is unreachable).
    #[serde(default = "default_buffer_flush_interval_ms")]
    pub flush_interval_ms: u32,
}

/// Bounds accepted for [`EventBufferConfig`] and `ledger_timeout_ms`.
pub const EVENT_BUFFER_MAX_EVENTS: std::ops::RangeInclusive<u32> = 1..=1_000_000;
pub const EVENT_BATCH_SIZE: std::ops::RangeInclusive<u32> = 1..=5_000;
/// Envoy does not honour tick periods much below 5 ms.
pub const EVENT_FLUSH_INTERVAL_MS: std::ops::RangeInclusive<u32> = 5..=60_000;
pub const LEDGER_TIMEOUT_MS: std::ops::RangeInclusive<u32> = 100..=60_000;

fn default_buffer_max_events() -> u32 {
    100_000
}
fn default_buffer_batch_size() -> u32 {
    500
}
fn default_buffer_flush_interval_ms() -> u32 {
    200
}
fn default_ledger_timeout_ms() -> u32 {
    5_000
}

impl Default for EventBufferConfig {
    fn default() -> Self {
        EventBufferConfig {
            max_events: default_buffer_max_events(),
            batch_size: default_buffer_batch_size(),
            flush_interval_ms: default_buffer_flush_interval_ms(),
        }
    }
}

fn default_lease_chunk() -> crate::money::Usd {
    crate::money::Usd(crate::money::NANOS_PER_USD / 4)
}

fn yes() -> bool {
    true
}

impl Default for CostTracking {
    fn default() -> Self {
        CostTracking {
            enabled: true,
            wallet_enforcement: false,
            lease_chunk_usd: default_lease_chunk(),
            on_ledger_unavailable: LedgerFailureMode::Closed,
            ledger_timeout_ms: default_ledger_timeout_ms(),
            event_buffer: EventBufferConfig::default(),
            count_tokens_precheck: true,
        }
    }
}

/// A team wallet and the allocation it starts with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletDef {
    pub team_id: String,
    /// Initial allocation in USD (decimal, e.g. "250.00").
    #[serde(default)]
    pub initial_usd: crate::money::Usd,
}

/// Prices of one model in USD per million tokens of each kind, with the rules that
/// change them: the service tier the provider reports, a prompt-size threshold, and
/// per-call charges for server-side tools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPriceDef {
    pub input: UsdPerMTok,
    /// Cache reads; defaults to the input price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<UsdPerMTok>,
    /// 5-minute cache writes (Anthropic); defaults to 1.25 × the input price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<UsdPerMTok>,
    /// 1-hour cache writes (Anthropic); defaults to 2 × the input price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h: Option<UsdPerMTok>,
    pub output: UsdPerMTok,
    /// USD per 1,000 web search calls the provider runs for the request (Anthropic
    /// `server_tool_use.web_search_requests`, OpenAI Responses `web_search_call` items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_search_per_1k: Option<crate::money::Usd>,
    /// The model searches the web for every request it answers (OpenAI's Chat
    /// Completions search-preview models): each answered request is at least one web
    /// search call.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub web_search_per_request: bool,
    /// Rates for a service tier (OpenAI `flex`, `priority`), keyed by the tier name
    /// the provider reports in `service_tier`. Tiers not listed use the base rates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub service_tiers: BTreeMap<String, TokenRatesDef>,
    /// Rates for every token of a request whose prompt is larger than a threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_context: Option<LongContextDef>,
    /// Rates of the provider's batch API (OpenAI Batch, Anthropic Message Batches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<TokenRatesDef>,
}

/// A price catalogue: dated prices of each model, as the providers publish them.
/// `version` labels the data (shown by `check-config`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    pub version: String,
    pub models: BTreeMap<String, Vec<CatalogueEntry>>,
}

/// One dated price of a model: the fields of [`ModelPriceDef`] and the UTC day it takes
/// effect (`effective_from: "YYYY-MM-DD"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueEntry {
    /// Days since 1970-01-01 (UTC).
    pub effective_from: i64,
    pub price: ModelPriceDef,
}

impl Serialize for CatalogueEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = match serde_json::to_value(&self.price) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => return Err(serde::ser::Error::custom("a price is an object")),
        };
        map.insert(
            "effective_from".into(),
            format_date(self.effective_from).into(),
        );
        map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for CatalogueEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        // The price fields are checked by ModelPriceDef itself (unknown keys refused).
        let mut map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        let date = map
            .remove("effective_from")
            .ok_or_else(|| D::Error::missing_field("effective_from"))?;
        let effective_from = date
            .as_str()
            .and_then(super::calendar::parse_date_days)
            .ok_or_else(|| {
                D::Error::custom(format!("effective_from: expected YYYY-MM-DD, found {date}"))
            })?;
        let price =
            ModelPriceDef::deserialize(serde_json::Value::Object(map)).map_err(D::Error::custom)?;
        Ok(CatalogueEntry {
            effective_from,
            price,
        })
    }
}

/// `YYYY-MM-DD` of a day number.
pub fn format_date(days: i64) -> String {
    let mut out = String::with_capacity(10);
    push_date(&mut out, days);
    out
}

/// Appends `YYYY-MM-DD` of a day number to `out` (every priced request names its price
/// entry's date).
pub fn push_date(out: &mut String, days: i64) {
    let (y, m, d) = super::calendar::civil_from_days(days);
    if !(0..=9999).contains(&y) {
        out.push_str(&format!("{y:04}-{m:02}-{d:02}"));
        return;
    }
    crate::digits::push_padded(out, y as u64, 4);
    out.push('-');
    crate::digits::push_padded(out, m as u64, 2);
    out.push('-');
    crate::digits::push_padded(out, d as u64, 2);
}

/// One set of token rates (USD per million tokens); the cache rates default as in
/// [`ModelPriceDef`], from this set's input price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRatesDef {
    pub input: UsdPerMTok,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<UsdPerMTok>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<UsdPerMTok>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h: Option<UsdPerMTok>,
    pub output: UsdPerMTok,
}

/// Long-context rates: when the prompt (input + cache reads + cache writes) has more
/// than `above_input_tokens` tokens, every token of the request is priced at these
/// rates (the rule Anthropic and OpenAI apply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongContextDef {
    pub above_input_tokens: u64,
    pub input: UsdPerMTok,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<UsdPerMTok>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<UsdPerMTok>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_1h: Option<UsdPerMTok>,
    pub output: UsdPerMTok,
}

impl LongContextDef {
    pub fn rates(&self) -> TokenRatesDef {
        TokenRatesDef {
            input: self.input,
            cached_input: self.cached_input,
            cache_write: self.cache_write,
            cache_write_1h: self.cache_write_1h,
            output: self.output,
        }
    }
}

impl Config {
    /// Where a Bedrock lane in `region` is called: `providers.endpoints.bedrock` when
    /// set (one endpoint for every region, e.g. a simulator or a VPC endpoint), else
    /// the region's public runtime endpoint.
    pub fn bedrock_endpoint(&self, region: &str) -> String {
        match self.providers.endpoints.get(&ProviderKind::Bedrock) {
            Some(url) => url.clone(),
            None => format!("https://bedrock-runtime.{region}.amazonaws.com"),
        }
    }

    pub fn endpoint_for(&self, kind: ProviderKind) -> &str {
        self.providers
            .endpoints
            .get(&kind)
            .map(String::as_str)
            .unwrap_or(kind.default_endpoint())
    }

    /// Every team that has a wallet: the defined ones plus any a group names.
    pub fn wallet_team_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .wallets
            .iter()
            .flatten()
            .map(|w| w.team_id.clone())
            .chain(
                self.consumer_groups
                    .iter()
                    .map(|g| g.wallet_team_id.clone()),
            )
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

impl ConsumerGroup {
    /// The digest the filter compares against; never the key itself.
    pub fn key_digest(&self) -> Option<[u8; 32]> {
        match (&self.api_key, &self.api_key_sha256) {
            (Some(k), _) => Some(crate::keys::digest_key(k)),
            (None, Some(d)) => crate::keys::parse_digest(d),
            (None, None) => None,
        }
    }
}
