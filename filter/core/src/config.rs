//! The user-facing configuration schema (`tollgate.yaml`).
//!
//! The shape starts from the published seed config (`version`, `providers`, `cache`,
//! `consumer_groups`, `cost_tracking`) and only ever extends it. Every struct denies
//! unknown keys so a typo is an error, not a silently ignored setting.
//!
//! Parsing the YAML text is the ledger's job (the filter receives the derived
//! [`crate::filter_config::FilterConfig`] as JSON); this module owns the types and the
//! cross-field validation both sides rely on.

use std::collections::{BTreeMap, HashSet};

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
    /// Extension: billing budgets (soft thresholds that warn, never block).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<BudgetDef>,
    /// Extension: where budget alerts are delivered.
    #[serde(default)]
    pub alerts: AlertsConfig,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    #[serde(default)]
    pub webhooks: Vec<WebhookDef>,
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

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (proleptic Gregorian, UTC).
pub fn parse_date_days(text: &str) -> Option<i64> {
    let mut parts = text.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=days_in_month(y, m)).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

pub fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

pub fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's days-from-civil: exact for every Gregorian date.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month, day).
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
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
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
        }
    }

    /// The provider's public API base URL.
    /// Output limit assumed for a lane that does not state one: the largest of the
    /// provider's current mainstream models.
    pub fn default_max_output_tokens(self) -> u64 {
        match self {
            ProviderKind::Openai => 32_768,
            ProviderKind::Anthropic => 64_000,
        }
    }

    pub fn default_endpoint(self) -> &'static str {
        match self {
            ProviderKind::Openai => "https://api.openai.com",
            ProviderKind::Anthropic => "https://api.anthropic.com",
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
    #[default]
    Exact,
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

/// Prices of one model in USD per million tokens of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPriceDef {
    pub input: UsdPerMTok,
    /// Cache reads; defaults to the input price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<UsdPerMTok>,
    /// Cache writes (Anthropic); defaults to the input price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<UsdPerMTok>,
    pub output: UsdPerMTok,
}

/// One problem found in a configuration: where it is and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Path in the document, e.g. `consumer_groups[1].wallet_team_id`.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

fn problem(path: impl Into<String>, message: impl Into<String>) -> ConfigProblem {
    ConfigProblem {
        path: path.into(),
        message: message.into(),
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.as_bytes()[0].is_ascii_digit()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Config {
    /// Cross-field checks that the type system cannot express. Returns every problem,
    /// not just the first, so one `check-config` run shows all of them.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        if self.version != "1" {
            problems.push(problem(
                "version",
                format!("expected '1', found '{}'", self.version),
            ));
        }

        if self.providers.targets.is_empty() {
            problems.push(problem(
                "providers.targets",
                "expected at least one target (a provider lane)",
            ));
        }
        let mut lane_ids = HashSet::new();
        for (i, t) in self.providers.targets.iter().enumerate() {
            let at = format!("providers.targets[{i}]");
            if !is_identifier(&t.id) {
                problems.push(problem(
                    format!("{at}.id"),
                    "expected 1-64 characters of letters, digits, '_', '-' or '.'",
                ));
            }
            if !lane_ids.insert(t.id.as_str()) {
                problems.push(problem(
                    format!("{at}.id"),
                    format!("duplicate target id '{}'", t.id),
                ));
            }
            if t.model.trim().is_empty() {
                problems.push(problem(format!("{at}.model"), "expected a model name"));
            }
            if !is_env_name(&t.secret_key_ref.env) {
                problems.push(problem(
                    format!("{at}.secret_key_ref.env"),
                    "expected an environment variable name (letters, digits, '_')",
                ));
            }
        }
        for (alias, lanes) in &self.providers.routing.aliases {
            for (j, lane) in lanes.iter().enumerate() {
                if !lane_ids.contains(lane.as_str()) {
                    problems.push(problem(
                        format!("providers.routing.aliases.{alias}[{j}]"),
                        format!("'{lane}' is not a target id"),
                    ));
                }
            }
        }
        if self.providers.routing.max_attempts == 0 {
            problems.push(problem(
                "providers.routing.max_attempts",
                "expected at least 1",
            ));
        }
        for (kind, url) in &self.providers.endpoints {
            if crate::endpoint::Endpoint::parse(url).is_err() {
                problems.push(problem(
                    format!("providers.endpoints.{}", kind.as_str()),
                    format!("expected an http:// or https:// URL with a host, found '{url}'"),
                ));
            }
        }

        if self.cache.max_entries == 0 && self.cache.enabled {
            problems.push(problem(
                "cache.max_entries",
                "expected at least 1 when the cache is enabled",
            ));
        }

        let ct = &self.cost_tracking;
        let buffer = &ct.event_buffer;
        for (path, value, range) in [
            (
                "cost_tracking.event_buffer.max_events",
                buffer.max_events,
                EVENT_BUFFER_MAX_EVENTS,
            ),
            (
                "cost_tracking.event_buffer.batch_size",
                buffer.batch_size,
                EVENT_BATCH_SIZE,
            ),
            (
                "cost_tracking.event_buffer.flush_interval_ms",
                buffer.flush_interval_ms,
                EVENT_FLUSH_INTERVAL_MS,
            ),
            (
                "cost_tracking.ledger_timeout_ms",
                ct.ledger_timeout_ms,
                LEDGER_TIMEOUT_MS,
            ),
        ] {
            if !range.contains(&value) {
                problems.push(problem(
                    path,
                    format!(
                        "expected {} to {}, found {value}",
                        range.start(),
                        range.end()
                    ),
                ));
            }
        }
        if buffer.batch_size > buffer.max_events && EVENT_BATCH_SIZE.contains(&buffer.batch_size) {
            problems.push(problem(
                "cost_tracking.event_buffer.batch_size",
                format!(
                    "expected at most max_events ({}), found {}",
                    buffer.max_events, buffer.batch_size
                ),
            ));
        }

        if self.consumer_groups.is_empty() {
            problems.push(problem(
                "consumer_groups",
                "expected at least one consumer group",
            ));
        }
        let wallet_ids: Option<HashSet<&str>> = self
            .wallets
            .as_ref()
            .map(|ws| ws.iter().map(|w| w.team_id.as_str()).collect());
        let mut names = HashSet::new();
        let mut digests = HashSet::new();
        for (i, g) in self.consumer_groups.iter().enumerate() {
            let at = format!("consumer_groups[{i}]");
            if !is_identifier(&g.name) {
                problems.push(problem(
                    format!("{at}.name"),
                    "expected 1-64 characters of letters, digits, '_', '-' or '.'",
                ));
            }
            if !names.insert(g.name.as_str()) {
                problems.push(problem(
                    format!("{at}.name"),
                    format!("duplicate consumer group name '{}'", g.name),
                ));
            }
            match (&g.api_key, &g.api_key_sha256) {
                (Some(_), Some(_)) => problems.push(problem(
                    format!("{at}.api_key_sha256"),
                    "expected either api_key or api_key_sha256, not both",
                )),
                (None, None) => problems.push(problem(
                    format!("{at}.api_key"),
                    "expected api_key (or api_key_sha256)",
                )),
                (Some(k), None) if k.len() < 8 => problems.push(problem(
                    format!("{at}.api_key"),
                    "expected a key of at least 8 characters",
                )),
                (None, Some(d)) if crate::keys::parse_digest(d).is_none() => {
                    problems.push(problem(
                        format!("{at}.api_key_sha256"),
                        "expected 64 hexadecimal characters (a SHA-256 digest)",
                    ))
                }
                _ => {}
            }
            if let Some(d) = g.key_digest() {
                if !digests.insert(d) {
                    problems.push(problem(
                        format!("{at}.api_key"),
                        "duplicate key: another consumer group already uses it",
                    ));
                }
            }
            for (wf, lanes) in &g.workflow_lanes {
                for (j, lane) in lanes.iter().enumerate() {
                    if !lane_ids.contains(lane.as_str()) {
                        problems.push(problem(
                            format!("{at}.workflow_lanes.{wf}[{j}]"),
                            format!("'{lane}' is not a target id"),
                        ));
                    }
                }
            }
            for (j, lane) in g.allowed_lanes.iter().flatten().enumerate() {
                if !lane_ids.contains(lane.as_str()) {
                    problems.push(problem(
                        format!("{at}.allowed_lanes[{j}]"),
                        format!("'{lane}' is not a target id"),
                    ));
                }
            }
            if !is_identifier(&g.wallet_team_id) {
                problems.push(problem(
                    format!("{at}.wallet_team_id"),
                    "expected 1-64 characters of letters, digits, '_', '-' or '.'",
                ));
            } else if let Some(ids) = &wallet_ids {
                if !ids.contains(g.wallet_team_id.as_str()) {
                    problems.push(problem(
                        format!("{at}.wallet_team_id"),
                        format!(
                            "wallet '{}' has no definition under `wallets:`",
                            g.wallet_team_id
                        ),
                    ));
                }
            }
        }

        if let Some(ws) = &self.wallets {
            let mut seen = HashSet::new();
            for (i, w) in ws.iter().enumerate() {
                if !is_identifier(&w.team_id) {
                    problems.push(problem(
                        format!("wallets[{i}].team_id"),
                        "expected 1-64 characters of letters, digits, '_', '-' or '.'",
                    ));
                }
                if !seen.insert(w.team_id.as_str()) {
                    problems.push(problem(
                        format!("wallets[{i}].team_id"),
                        format!("duplicate wallet '{}'", w.team_id),
                    ));
                }
            }
        }
        let teams: HashSet<String> = self.wallet_team_ids().into_iter().collect();
        let mut budget_teams = HashSet::new();
        for (i, b) in self.budgets.iter().enumerate() {
            let at = format!("budgets[{i}]");
            if !teams.contains(&b.team_id) {
                problems.push(problem(
                    format!("{at}.team_id"),
                    format!("'{}' is not a wallet team of any consumer group", b.team_id),
                ));
            }
            if !budget_teams.insert(b.team_id.as_str()) {
                problems.push(problem(
                    format!("{at}.team_id"),
                    format!("duplicate budget for '{}'", b.team_id),
                ));
            }
            if b.amount_usd.0 <= 0 {
                problems.push(problem(
                    format!("{at}.amount_usd"),
                    "expected a positive amount",
                ));
            }
            if let Some(start) = &b.start {
                if parse_date_days(start).is_none() {
                    problems.push(problem(
                        format!("{at}.start"),
                        format!("expected a date YYYY-MM-DD, found '{start}'"),
                    ));
                }
            }
            if b.period == BudgetPeriodKind::Custom {
                if b.start.is_none() {
                    problems.push(problem(
                        format!("{at}.start"),
                        "a custom period needs a start date",
                    ));
                }
                if !b.length_days.is_some_and(|d| (1..=366).contains(&d)) {
                    problems.push(problem(
                        format!("{at}.length_days"),
                        "a custom period needs length_days between 1 and 366",
                    ));
                }
            } else if b.length_days.is_some() {
                problems.push(problem(
                    format!("{at}.length_days"),
                    "only a custom period takes length_days",
                ));
            }
            for (field, list) in [
                ("thresholds_pct", &b.thresholds_pct),
                ("forecast_thresholds_pct", &b.forecast_thresholds_pct),
            ] {
                if list.iter().any(|&t| t == 0 || t > 1000) {
                    problems.push(problem(
                        format!("{at}.{field}"),
                        "expected percentages between 1 and 1000",
                    ));
                }
            }
        }
        for (i, w) in self.alerts.webhooks.iter().enumerate() {
            let rest = w
                .url
                .strip_prefix("https://")
                .or_else(|| w.url.strip_prefix("http://"));
            if !rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/')) {
                problems.push(problem(
                    format!("alerts.webhooks[{i}].url"),
                    format!("expected an http:// or https:// URL, found '{}'", w.url),
                ));
            }
        }
        problems
    }

    /// Non-fatal observations: the config loads, but probably not as the user meant.
    pub fn warnings(&self) -> Vec<ConfigProblem> {
        let mut warnings = Vec::new();
        let table = crate::pricing::PriceTable::with_overrides(&self.pricing);
        for (i, t) in self.providers.targets.iter().enumerate() {
            if table.lookup(&t.model).is_none() {
                warnings.push(problem(
                    format!("providers.targets[{i}].model"),
                    format!(
                        "no price known for model '{}': its requests are recorded with cost 0 \
                         and flagged unpriced; add it under `pricing:`",
                        t.model
                    ),
                ));
            }
        }
        if !self.cost_tracking.wallet_enforcement {
            let open = LedgerFailureMode::Open;
            let mut paths = Vec::new();
            if self.cost_tracking.on_ledger_unavailable == open {
                paths.push("cost_tracking.on_ledger_unavailable".to_string());
            }
            for (i, g) in self.consumer_groups.iter().enumerate() {
                if g.on_ledger_unavailable == Some(open) {
                    paths.push(format!("consumer_groups[{i}].on_ledger_unavailable"));
                }
            }
            for path in paths {
                warnings.push(problem(
                    path,
                    "has no effect: without wallet_enforcement no request waits for the ledger",
                ));
            }
        }
        if self.wallets.is_none() && self.cost_tracking.wallet_enforcement {
            warnings.push(problem(
                "wallets",
                "no wallets defined: every wallet starts empty and, with wallet_enforcement, \
                 refuses requests until an allocation is made",
            ));
        }
        warnings
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn seed() -> Config {
        serde_json::from_value(serde_json::json!({
            "version": "1",
            "providers": {
                "routing": {"strategy": "usage_based"},
                "targets": [
                    {"id": "openai-gpt4o-mini", "provider": "openai", "model": "gpt-5.4-mini-mini",
                     "secret_key_ref": {"env": "OPENAI_API_KEY"}},
                    {"id": "anthropic-haiku", "provider": "anthropic", "model": "claude-haiku",
                     "secret_key_ref": {"env": "ANTHROPIC_API_KEY"}}
                ]
            },
            "cache": {"enabled": true, "ttl_seconds": 1800, "max_entries": 10000, "match_strategy": "exact"},
            "consumer_groups": [
                {"name": "support", "api_key": "kt_cg_support_prod", "wallet_team_id": "team_support"},
                {"name": "engineering", "api_key": "kt_cg_engineering_prod", "wallet_team_id": "team_engineering"}
            ],
            "cost_tracking": {"enabled": true, "wallet_enforcement": true}
        }))
        .unwrap()
    }

    #[test]
    fn seed_shape_is_valid() {
        assert_eq!(seed().validate(), vec![]);
    }

    #[test]
    fn duplicate_target_ids_and_keys_are_reported_with_paths() {
        let mut c = seed();
        c.providers.targets[1].id = c.providers.targets[0].id.clone();
        c.consumer_groups[1].api_key = c.consumer_groups[0].api_key.clone();
        let paths: Vec<_> = c.validate().into_iter().map(|p| p.path).collect();
        assert_eq!(
            paths,
            vec!["providers.targets[1].id", "consumer_groups[1].api_key"]
        );
    }

    #[test]
    fn undefined_wallet_is_reported_only_when_wallets_are_declared() {
        let mut c = seed();
        c.wallets = Some(vec![WalletDef {
            team_id: "team_support".into(),
            initial_usd: Default::default(),
        }]);
        let problems = c.validate();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "consumer_groups[1].wallet_team_id");
        assert!(problems[0].message.contains("team_engineering"));
    }

    #[test]
    fn digest_and_plain_key_are_equivalent_but_exclusive() {
        let mut c = seed();
        let digest = crate::keys::hex(&crate::keys::digest_key("kt_cg_support_prod"));
        c.consumer_groups[0].api_key = None;
        c.consumer_groups[0].api_key_sha256 = Some(digest);
        assert_eq!(c.validate(), vec![]);
        c.consumer_groups[0].api_key = Some("kt_cg_support_prod".into());
        assert_eq!(
            c.validate()[0].path,
            "consumer_groups[0].api_key_sha256".to_string()
        );
    }

    #[test]
    fn ledger_failure_mode_has_a_global_default_and_group_overrides() {
        use crate::filter_config::FilterConfig;
        let modes = |c: &Config| -> Vec<LedgerFailureMode> {
            FilterConfig::from_config(c, "ledger:8080")
                .unwrap()
                .groups
                .iter()
                .map(|g| g.on_ledger_unavailable)
                .collect()
        };
        // The seed config says nothing: fail closed, as before the setting existed.
        let c = seed();
        assert_eq!(
            c.cost_tracking.on_ledger_unavailable,
            LedgerFailureMode::Closed
        );
        assert_eq!(modes(&c), vec![LedgerFailureMode::Closed; 2]);

        let mut v = serde_json::to_value(seed()).unwrap();
        v["cost_tracking"]["on_ledger_unavailable"] = "open".into();
        v["consumer_groups"][1]["on_ledger_unavailable"] = "closed".into();
        let c: Config = serde_json::from_value(v).unwrap();
        assert_eq!(c.validate(), vec![]);
        assert_eq!(
            modes(&c),
            vec![LedgerFailureMode::Open, LedgerFailureMode::Closed]
        );

        let mut v = serde_json::to_value(seed()).unwrap();
        v["consumer_groups"][0]["on_ledger_unavailable"] = "open".into();
        let c: Config = serde_json::from_value(v).unwrap();
        assert_eq!(
            modes(&c),
            vec![LedgerFailureMode::Open, LedgerFailureMode::Closed]
        );

        let mut v = serde_json::to_value(seed()).unwrap();
        v["consumer_groups"][0]["on_ledger_unavailable"] = "sometimes".into();
        let err = serde_json::from_value::<Config>(v).unwrap_err().to_string();
        assert!(err.contains("unknown variant `sometimes`"), "{err}");
    }

    #[test]
    fn fail_open_without_wallet_enforcement_is_a_warning() {
        let about_mode = |c: &Config| -> Vec<String> {
            c.warnings()
                .into_iter()
                .map(|w| w.path)
                .filter(|p| p.ends_with("on_ledger_unavailable"))
                .collect()
        };
        let mut c = seed();
        c.consumer_groups[0].on_ledger_unavailable = Some(LedgerFailureMode::Open);
        assert!(about_mode(&c).is_empty());
        c.cost_tracking.wallet_enforcement = false;
        assert_eq!(
            about_mode(&c),
            vec!["consumer_groups[0].on_ledger_unavailable"]
        );
    }

    #[test]
    fn event_buffer_settings_have_defaults_reach_the_filter_and_are_validated() {
        use crate::filter_config::FilterConfig;
        // Absent: the defaults, as before the settings existed.
        let events = FilterConfig::from_config(&seed(), "l:1").unwrap().events;
        assert_eq!(
            (
                events.max_buffered,
                events.max_batch,
                events.flush_interval_ms,
                events.ledger_timeout_ms
            ),
            (100_000, 500, 200, 5_000)
        );

        let mut v = serde_json::to_value(seed()).unwrap();
        v["cost_tracking"]["event_buffer"] =
            serde_json::json!({"max_events": 2000, "batch_size": 50, "flush_interval_ms": 1000});
        v["cost_tracking"]["ledger_timeout_ms"] = 1500.into();
        let c: Config = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(c.validate(), vec![]);
        let events = FilterConfig::from_config(&c, "l:1").unwrap().events;
        assert_eq!(
            (
                events.max_buffered,
                events.max_batch,
                events.flush_interval_ms,
                events.ledger_timeout_ms
            ),
            (2000, 50, 1000, 1500)
        );

        // A partial block keeps the other defaults.
        let mut partial = v.clone();
        partial["cost_tracking"]["event_buffer"] = serde_json::json!({"batch_size": 100});
        let c: Config = serde_json::from_value(partial).unwrap();
        assert_eq!(c.cost_tracking.event_buffer.max_events, 100_000);

        let paths = |buffer: serde_json::Value, timeout: u32| -> Vec<(String, String)> {
            let mut v = v.clone();
            v["cost_tracking"]["event_buffer"] = buffer;
            v["cost_tracking"]["ledger_timeout_ms"] = timeout.into();
            serde_json::from_value::<Config>(v)
                .unwrap()
                .validate()
                .into_iter()
                .map(|p| (p.path, p.message))
                .collect()
        };
        let bad = paths(
            serde_json::json!({"max_events": 0, "batch_size": 0, "flush_interval_ms": 1}),
            10,
        );
        assert_eq!(
            bad.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
            vec![
                "cost_tracking.event_buffer.max_events",
                "cost_tracking.event_buffer.batch_size",
                "cost_tracking.event_buffer.flush_interval_ms",
                "cost_tracking.ledger_timeout_ms",
            ]
        );
        assert_eq!(bad[0].1, "expected 1 to 1000000, found 0");
        let bad = paths(
            serde_json::json!({"max_events": 10, "batch_size": 20}),
            5000,
        );
        assert_eq!(
            bad,
            vec![(
                "cost_tracking.event_buffer.batch_size".to_string(),
                "expected at most max_events (10), found 20".to_string()
            )]
        );
        let mut v = v.clone();
        v["cost_tracking"]["event_buffer"]["batch"] = 5.into();
        let err = serde_json::from_value::<Config>(v).unwrap_err().to_string();
        assert!(err.contains("unknown field `batch`"), "{err}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let mut v = serde_json::to_value(seed()).unwrap();
        v["cache"]["ttl"] = 5.into();
        let err = serde_json::from_value::<Config>(v).unwrap_err().to_string();
        assert!(err.contains("unknown field `ttl`"), "{err}");
    }
}

#[cfg(test)]
mod date_tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(
            parse_date_days("2026-11-29"),
            Some(days_from_civil(2026, 11, 29))
        );
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        for z in [-1000, 0, 59, 60, 20_000, 30_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(parse_date_days("2025-02-29"), None);
        assert_eq!(parse_date_days("2026-13-01"), None);
        assert_eq!(parse_date_days("x"), None);
    }
}
