//! Which lanes may serve a request, and in which order they are tried.
//!
//! 1. Policy: the group's `allowed_lanes`; the alias of the requested model (or the
//!    lanes serving exactly that model); lanes whose provider can serve the client's
//!    API (natively, or by translation when the filter can translate).
//! 2. Health: lanes cooling down after repeated failures are skipped, unless every
//!    permitted lane is cooling down (then all are tried rather than none).
//! 3. Strategy orders what is left; the first lane serves, the next ones are fallbacks.

use crate::config::filter_config::{FilterConfig, GroupEntry, LaneEntry};
use crate::config::{LaneMode, ProviderKind, RoutingStrategy};
use crate::event::ApiKind;
use crate::policy::{RestrictAction, TeamPolicy};
use crate::pricing::PriceTable;

/// Shared, per-lane state (every worker of an instance updates it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LaneStats {
    /// The minute (Unix ms / 60 000) the counters below belong to.
    pub minute: i64,
    pub requests: u64,
    pub tokens: u64,
    /// Exponentially weighted moving average of latency; 0 = never measured.
    pub latency_ewma_ms: u32,
    pub consecutive_failures: u32,
    pub cooldown_until_ms: i64,
}

impl LaneStats {
    pub const ENCODED_LEN: usize = 40;

    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[0..8].copy_from_slice(&self.minute.to_le_bytes());
        out[8..16].copy_from_slice(&self.requests.to_le_bytes());
        out[16..24].copy_from_slice(&self.tokens.to_le_bytes());
        out[24..28].copy_from_slice(&self.latency_ewma_ms.to_le_bytes());
        out[28..32].copy_from_slice(&self.consecutive_failures.to_le_bytes());
        out[32..40].copy_from_slice(&self.cooldown_until_ms.to_le_bytes());
        out
    }

    pub fn decode(b: &[u8]) -> Option<LaneStats> {
        if b.len() != Self::ENCODED_LEN {
            return None;
        }
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap_or([0; 4]));
        Some(LaneStats {
            minute: u64_at(0) as i64,
            requests: u64_at(8),
            tokens: u64_at(16),
            latency_ewma_ms: u32_at(24),
            consecutive_failures: u32_at(28),
            cooldown_until_ms: u64_at(32) as i64,
        })
    }

    /// Counters as of `now_ms`: a new minute starts from zero.
    pub fn current(&self, now_ms: i64) -> LaneStats {
        if self.minute == now_ms.div_euclid(60_000) {
            *self
        } else {
            LaneStats {
                minute: now_ms.div_euclid(60_000),
                requests: 0,
                tokens: 0,
                ..*self
            }
        }
    }

    /// A request was sent to the lane.
    pub fn started(&self, now_ms: i64) -> LaneStats {
        let c = self.current(now_ms);
        LaneStats {
            requests: c.requests + 1,
            ..c
        }
    }

    /// A request finished: tokens used, latency, success or failure.
    pub fn finished(
        &self,
        now_ms: i64,
        tokens: u64,
        latency_ms: u32,
        ok: bool,
        failures_to_cool: u32,
        cooldown_ms: i64,
    ) -> LaneStats {
        let c = self.current(now_ms);
        let latency = if c.latency_ewma_ms == 0 {
            latency_ms
        } else {
            // EWMA with weight 1/4 on the newest sample.
            ((u64::from(c.latency_ewma_ms) * 3 + u64::from(latency_ms)) / 4) as u32
        };
        let failures = if ok { 0 } else { c.consecutive_failures + 1 };
        let cooldown_until_ms = if !ok && failures >= failures_to_cool.max(1) {
            now_ms + cooldown_ms
        } else {
            c.cooldown_until_ms
        };
        LaneStats {
            tokens: c.tokens + tokens,
            latency_ewma_ms: if ok { latency } else { c.latency_ewma_ms },
            consecutive_failures: if failures >= failures_to_cool.max(1) {
                0
            } else {
                failures
            },
            cooldown_until_ms,
            ..c
        }
    }

    pub fn cooling(&self, now_ms: i64) -> bool {
        now_ms < self.cooldown_until_ms
    }

    /// These stats with a worker's not-yet-shared activity added: its requests and
    /// tokens of the current minute, one latency step for the mean of its successes
    /// (a success also ends a run of failures).
    pub fn with_activity(&self, a: &LaneActivity, now_ms: i64) -> LaneStats {
        let c = self.current(now_ms);
        let (requests, tokens) = if a.minute == c.minute {
            (a.requests, a.tokens)
        } else {
            (0, 0)
        };
        let mut out = LaneStats {
            requests: c.requests + requests,
            tokens: c.tokens + tokens,
            ..c
        };
        if a.successes > 0 {
            let mean =
                (a.latency_total_ms / u64::from(a.successes)).min(u64::from(u32::MAX)) as u32;
            out.latency_ewma_ms = if c.latency_ewma_ms == 0 {
                mean
            } else {
                ((u64::from(c.latency_ewma_ms) * 3 + u64::from(mean)) / 4) as u32
            };
            out.consecutive_failures = 0;
        }
        out
    }
}

/// What one worker saw on a lane since it last wrote the shared stats. Successes are
/// collected and written once per tick (a shared-data write per request costs more than
/// the routing gains from seeing it at once); failures are written at once, because
/// cooling a failing lane down must not wait.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LaneActivity {
    /// The minute (Unix ms / 60 000) `requests` and `tokens` belong to.
    pub minute: i64,
    pub requests: u64,
    pub tokens: u64,
    pub latency_total_ms: u64,
    pub successes: u32,
}

impl LaneActivity {
    fn roll(&mut self, now_ms: i64) {
        let minute = now_ms.div_euclid(60_000);
        if self.minute != minute {
            self.minute = minute;
            self.requests = 0;
            self.tokens = 0;
        }
    }

    pub fn started(&mut self, now_ms: i64) {
        self.roll(now_ms);
        self.requests += 1;
    }

    pub fn succeeded(&mut self, now_ms: i64, tokens: u64, latency_ms: u32) {
        self.roll(now_ms);
        self.tokens += tokens;
        self.latency_total_ms += u64::from(latency_ms);
        self.successes += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.requests == 0 && self.tokens == 0 && self.successes == 0
    }
}

/// Whether a lane of `provider` can answer a client speaking `api`.
pub fn can_serve(api: ApiKind, provider: ProviderKind, translation: bool) -> bool {
    if api == ApiKind::Passthrough {
        return false;
    }
    if matches!(
        provider,
        ProviderKind::OpenaiCompatible | ProviderKind::AzureOpenai
    ) {
        // OpenAI's wire format, without the Responses API or Anthropic token counting.
        return match api {
            ApiKind::ChatCompletions | ApiKind::Completions | ApiKind::Embeddings => true,
            ApiKind::Messages => translation,
            _ => false,
        };
    }
    if provider.wire() == ProviderKind::Gemini {
        // No client speaks Gemini's format: chat and messages clients are translated,
        // and embeddings clients on the Gemini API (Vertex embeds with another API).
        let embeddings = api == ApiKind::Embeddings && provider == ProviderKind::Gemini;
        return translation
            && (embeddings || matches!(api, ApiKind::ChatCompletions | ApiKind::Messages));
    }
    if api.native_provider() == provider {
        return true;
    }
    // The Responses API has no Anthropic counterpart worth pretending to be.
    translation && matches!(api, ApiKind::ChatCompletions | ApiKind::Messages)
}

/// Headroom of a lane against its per-minute limits, in parts per million (1e6 = idle
/// or unlimited).
pub fn headroom_ppm(lane: &LaneEntry, stats: &LaneStats) -> u64 {
    let left = |used: u64, limit: Option<u32>| match limit {
        Some(l) if l > 0 => (u64::from(l).saturating_sub(used)) * 1_000_000 / u64::from(l),
        _ => 1_000_000,
    };
    left(stats.requests, lane.rpm_limit).min(left(stats.tokens, lane.tpm_limit))
}

/// A comparable price of a lane now: input plus output price per token (unknown =
/// dearest).
fn price_key(prices: &PriceTable, lane: &LaneEntry, now_ms: i64) -> u64 {
    prices
        .lookup(&lane.model, now_ms)
        .map_or(u64::MAX, |p| p.base.input.saturating_add(p.base.output))
}

/// Why no lane serves a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoLane {
    /// Nothing the configuration allows can serve it.
    Unservable(String),
    /// A leader's restriction refuses it (a premium lane for an unapproved workflow).
    Restricted(String),
}

impl NoLane {
    pub fn message(&self) -> &str {
        match self {
            NoLane::Unservable(m) | NoLane::Restricted(m) => m,
        }
    }
}

pub struct RouteQuery<'a> {
    pub api: ApiKind,
    /// The request's workflow (`x-tollgate-workflow`), for per-workflow lane policy.
    pub workflow: Option<&'a str>,
    pub requested_model: &'a str,
    pub group: &'a GroupEntry,
    /// The filter can translate between the OpenAI and Anthropic formats.
    pub translation: bool,
    /// A uniformly random number, for the weighted strategy.
    pub random: u64,
    pub now_ms: i64,
    /// The team's runtime policy (pins and premium restrictions narrow the lanes).
    pub policy: Option<&'a TeamPolicy>,
}

/// The lanes to try for a request, best first, at most `max_attempts` of them.
pub fn plan<'a>(
    config: &'a FilterConfig,
    prices: &PriceTable,
    q: &RouteQuery<'_>,
    stats: impl Fn(&LaneEntry) -> LaneStats,
) -> Result<Vec<&'a LaneEntry>, NoLane> {
    let workflow_lanes = q.workflow.and_then(|w| q.group.workflow_lanes.get(w));
    let pin = q.policy.and_then(|p| p.pin(q.workflow));
    let restriction = q.policy.and_then(|p| {
        let r = p.premium.as_ref()?;
        (p.premium_allowed(q.workflow) == Some(false)).then_some(r)
    });
    let allowed = |l: &LaneEntry| {
        q.group
            .allowed_lanes
            .as_ref()
            .is_none_or(|a| a.contains(&l.id))
            && workflow_lanes.is_none_or(|a| a.contains(&l.id))
            && pin.is_none_or(|p| p == l.id)
            && !(l.premium && restriction.is_some_and(|r| r.action == RestrictAction::Downgrade))
    };
    let servable: Vec<&LaneEntry> = config
        .lanes
        .iter()
        .filter(|l| {
            allowed(l) && l.mode == q.api.lane_mode() && can_serve(q.api, l.provider, q.translation)
        })
        .collect();
    // Embeddings and legacy completions name the model they need: a lane serving
    // another model would answer with different vectors or refuse the prompt.
    let exact_only = q.api.lane_mode() != LaneMode::Chat;
    let by_alias = config.routing.aliases.get(q.requested_model);
    let mut lanes: Vec<&LaneEntry> = match by_alias {
        Some(ids) => servable
            .iter()
            .copied()
            .filter(|l| ids.contains(&l.id))
            .collect(),
        None => {
            // No alias: the lanes serving exactly that model; else the client's own
            // provider's lanes; translated lanes only when nothing native exists.
            // Cross-provider fallback is opt-in through an alias.
            let exact: Vec<&LaneEntry> = servable
                .iter()
                .copied()
                .filter(|l| l.model == q.requested_model)
                .collect();
            let native: Vec<&LaneEntry> = servable
                .iter()
                .copied()
                .filter(|l| l.provider == q.api.native_provider())
                .collect();
            if !exact.is_empty() || exact_only {
                exact
            } else if !native.is_empty() {
                native
            } else {
                servable.clone()
            }
        }
    };
    if let Some(r) = restriction.filter(|r| r.action == RestrictAction::Refuse) {
        if lanes.iter().any(|l| l.premium) {
            return Err(NoLane::Restricted(format!(
                "premium lanes are restricted to the workflows {} of team {} (by {}: {}); this request's workflow is {}",
                r.allowed_workflows.join(", "),
                q.group.team,
                r.by,
                r.reason,
                q.workflow.map_or("not set".to_string(), |w| format!("'{w}'"))
            )));
        }
    }
    if lanes.is_empty() {
        return Err(NoLane::Unservable(match by_alias {
            None if exact_only => format!(
                "no lane allowed for consumer group '{}' serves model '{}' at {} (a lane with `mode: {}` and that model is needed)",
                q.group.name,
                q.requested_model,
                q.api.upstream_path(),
                match q.api.lane_mode() {
                    LaneMode::Embedding => "embedding",
                    LaneMode::Completion => "completion",
                    LaneMode::Chat => "chat",
                }
            ),
            Some(_) => format!(
                "no lane allowed for consumer group '{}' serves model '{}' for this API",
                q.group.name, q.requested_model
            ),
            None => format!(
                "no lane allowed for consumer group '{}' can serve {} requests",
                q.group.name,
                q.api.upstream_path()
            ),
        }));
    }
    if lanes.len() == 1 {
        // One candidate: no statistics can change the plan (a cooling lane is still
        // tried when it is the only one), so none are read.
        return Ok(lanes);
    }
    let mut keyed: Vec<(&LaneEntry, LaneStats)> = lanes
        .drain(..)
        .map(|l| (l, stats(l).current(q.now_ms)))
        .collect();
    if keyed.iter().any(|(_, s)| !s.cooling(q.now_ms)) {
        keyed.retain(|(_, s)| !s.cooling(q.now_ms));
    }
    order(
        &mut keyed,
        config.routing.strategy,
        prices,
        q.random,
        q.now_ms,
    );
    Ok(keyed
        .into_iter()
        .map(|(l, _)| l)
        .take(config.routing.max_attempts.max(1) as usize)
        .collect())
}

fn order(
    lanes: &mut [(&LaneEntry, LaneStats)],
    strategy: RoutingStrategy,
    prices: &PriceTable,
    random: u64,
    now_ms: i64,
) {
    match strategy {
        RoutingStrategy::UsageBased => lanes.sort_by_key(|(l, s)| {
            (
                std::cmp::Reverse(headroom_ppm(l, s)),
                price_key(prices, l, now_ms),
            )
        }),
        RoutingStrategy::CostBased => lanes.sort_by_key(|(l, _)| price_key(prices, l, now_ms)),
        RoutingStrategy::Priority => lanes.sort_by_key(|(l, _)| l.priority),
        // Never-measured lanes first (0), so every lane gets a latency sample.
        RoutingStrategy::LatencyBased => {
            lanes.sort_by_key(|(l, s)| (s.latency_ewma_ms, price_key(prices, l, now_ms)))
        }
        RoutingStrategy::Weighted => {
            // Draw the first lane with probability weight / total; fallbacks follow by weight.
            let total: u64 = lanes.iter().map(|(l, _)| u64::from(l.weight)).sum();
            if total > 0 {
                let mut point = random % total;
                let pick = lanes
                    .iter()
                    .position(|(l, _)| {
                        if point < u64::from(l.weight) {
                            true
                        } else {
                            point -= u64::from(l.weight);
                            false
                        }
                    })
                    .unwrap_or(0);
                lanes[..=pick].rotate_right(1);
                lanes[1..].sort_by_key(|(l, _)| std::cmp::Reverse(l.weight));
            }
        }
    }
}

/// Whether serving on `lane` is premium, and if so whether the workflow is approved
/// (by the configuration, or by a leader's premium restriction that lists it).
pub fn premium_status(
    lane: &LaneEntry,
    group: &GroupEntry,
    workflow: Option<&str>,
    policy: Option<&TeamPolicy>,
) -> (bool, bool) {
    let approved = workflow.is_some_and(|w| group.premium_workflows.iter().any(|p| p == w))
        || policy.and_then(|p| p.premium_allowed(workflow)) == Some(true);
    (lane.premium, lane.premium && approved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workers_activity_adds_up_like_per_request_updates() {
        let now = 600_000; // minute 10
        let shared = LaneStats {
            minute: 10,
            requests: 5,
            tokens: 100,
            latency_ewma_ms: 200,
            consecutive_failures: 2,
            cooldown_until_ms: 0,
        };
        let mut a = LaneActivity::default();
        assert!(a.is_empty());
        assert_eq!(
            shared.with_activity(&a, now),
            shared,
            "nothing seen, nothing changes"
        );
        a.started(now);
        a.started(now + 1);
        let merged = shared.with_activity(&a, now);
        assert_eq!((merged.requests, merged.consecutive_failures), (7, 2));
        a.succeeded(now + 2, 30, 100);
        a.succeeded(now + 3, 10, 300);
        let merged = shared.with_activity(&a, now + 3);
        assert_eq!((merged.requests, merged.tokens), (7, 140));
        // One EWMA step (weight 1/4) towards the mean latency of the successes.
        assert_eq!(merged.latency_ewma_ms, (200 * 3 + 200) / 4);
        assert_eq!(
            merged.consecutive_failures, 0,
            "a success ends a run of failures"
        );
        // Same as applying the requests and successes one by one, for counts.
        let one_by_one = shared
            .started(now)
            .started(now)
            .finished(now, 30, 100, true, 3, 1000)
            .finished(now, 10, 300, true, 3, 1000);
        assert_eq!(
            (one_by_one.requests, one_by_one.tokens),
            (merged.requests, merged.tokens)
        );
        // A new minute starts counting from zero on both sides.
        let later = shared.with_activity(&a, now + 60_000);
        assert_eq!((later.minute, later.requests, later.tokens), (11, 0, 0));
        a.started(now + 60_000);
        assert_eq!(shared.with_activity(&a, now + 60_000).requests, 1);
    }
    use crate::config::filter_config::EventSink;
    use crate::config::{CacheConfig, Routing};
    use std::collections::BTreeMap;

    fn lane(id: &str, provider: ProviderKind, model: &str) -> LaneEntry {
        LaneEntry {
            id: id.into(),
            provider,
            model: model.into(),
            credential_env: "K".into(),
            cluster: "c".into(),
            authority: "a".into(),
            max_output_tokens: 100,
            rpm_limit: None,
            tpm_limit: None,
            weight: 1,
            priority: 0,
            premium: false,
            mode: LaneMode::Chat,
            base_path: None,
            fixed_cost: false,
            azure: None,
            aws: None,
        }
    }

    fn group() -> GroupEntry {
        GroupEntry {
            name: "support".into(),
            key_sha256: "0".repeat(64),
            team: "team_support".into(),
            cache_enabled: false,
            cache_ttl_seconds: 1,
            allowed_lanes: None,
            premium_workflows: vec!["escalation".into()],
            workflow_lanes: BTreeMap::from([("drafting".to_string(), vec!["mini".to_string()])]),
            on_ledger_unavailable: Default::default(),
        }
    }

    fn config(lanes: Vec<LaneEntry>, strategy: RoutingStrategy) -> FilterConfig {
        FilterConfig {
            groups: vec![group()],
            lanes,
            routing: Routing {
                strategy,
                max_attempts: 3,
                aliases: BTreeMap::from([(
                    "all".to_string(),
                    vec!["mini".to_string(), "big".to_string(), "haiku".to_string()],
                )]),
                ..Routing::default()
            },
            prices: BTreeMap::new(),
            catalogue: None,
            cache: CacheConfig::default(),
            cost_tracking_enabled: true,
            wallet_enforcement: false,
            count_tokens_precheck: false,
            lease_chunk_nanos: 1,
            lease_path: "/".into(),
            events: EventSink::new("l".into()),
            max_request_bytes: 1,
            max_response_bytes: 1,
            other_endpoints: Default::default(),
        }
    }

    fn three() -> Vec<LaneEntry> {
        let mut mini = lane("mini", ProviderKind::Openai, "gpt-4o-mini");
        mini.priority = 2;
        mini.weight = 1;
        let mut big = lane("big", ProviderKind::Openai, "gpt-4o");
        big.priority = 0;
        big.weight = 3;
        big.premium = true;
        let mut haiku = lane("haiku", ProviderKind::Anthropic, "claude-haiku-4-5");
        haiku.priority = 1;
        vec![mini, big, haiku]
    }

    fn ids(lanes: &[&LaneEntry]) -> Vec<String> {
        lanes.iter().map(|l| l.id.clone()).collect()
    }

    fn query<'a>(g: &'a GroupEntry, model: &'a str, translation: bool) -> RouteQuery<'a> {
        RouteQuery {
            api: ApiKind::ChatCompletions,
            workflow: None,
            requested_model: model,
            group: g,
            translation,
            random: 0,
            now_ms: 120_000,
            policy: None,
        }
    }

    fn prices() -> PriceTable {
        PriceTable::with_overrides(&BTreeMap::new())
    }

    #[test]
    fn each_strategy_orders_the_permitted_lanes() {
        let g = group();
        let none = |_: &LaneEntry| LaneStats::default();
        let plan_with = |s: RoutingStrategy, stats: &dyn Fn(&LaneEntry) -> LaneStats| {
            ids(&plan(
                &config(three(), s),
                &prices(),
                &query(&g, "all", true),
                stats,
            )
            .unwrap())
        };
        // cost: gpt-4o-mini (0.75/M) < haiku 4.5 (6/M) < gpt-4o (12.5/M)
        assert_eq!(
            plan_with(RoutingStrategy::CostBased, &none),
            ["mini", "haiku", "big"]
        );
        assert_eq!(
            plan_with(RoutingStrategy::Priority, &none),
            ["big", "haiku", "mini"]
        );
        // usage: all idle → cheapest first; a busy lane drops behind.
        assert_eq!(
            plan_with(RoutingStrategy::UsageBased, &none),
            ["mini", "haiku", "big"]
        );
        let mut cfg = config(three(), RoutingStrategy::UsageBased);
        cfg.lanes[0].rpm_limit = Some(10);
        let busy = |l: &LaneEntry| LaneStats {
            minute: 2,
            requests: if l.id == "mini" { 9 } else { 0 },
            ..Default::default()
        };
        assert_eq!(
            ids(&plan(&cfg, &prices(), &query(&g, "all", true), busy).unwrap()),
            ["haiku", "big", "mini"]
        );
        // ...but only within the same minute.
        let stale = |l: &LaneEntry| LaneStats {
            minute: 1,
            requests: if l.id == "mini" { 9 } else { 0 },
            ..Default::default()
        };
        assert_eq!(
            ids(&plan(&cfg, &prices(), &query(&g, "all", true), stale).unwrap())[0],
            "mini"
        );
        // latency: unmeasured first, then fastest.
        let lat = |l: &LaneEntry| LaneStats {
            latency_ewma_ms: match l.id.as_str() {
                "mini" => 300,
                "big" => 100,
                _ => 0,
            },
            ..Default::default()
        };
        assert_eq!(
            plan_with(RoutingStrategy::LatencyBased, &lat),
            ["haiku", "big", "mini"]
        );
    }

    #[test]
    fn a_leaders_policy_pins_workflows_and_restricts_premium_lanes() {
        use crate::policy::{PremiumRestriction, RestrictAction, TeamPolicy};
        let g = group();
        let cfg = config(three(), RoutingStrategy::CostBased);
        let run = |policy: &TeamPolicy, workflow: Option<&'static str>, model: &'static str| {
            let mut q = query(&g, model, true);
            q.workflow = workflow;
            q.policy = Some(policy);
            plan(&cfg, &prices(), &q, |_| LaneStats::default()).map(|p| ids(&p))
        };
        // The premium lane serves what asks for its model, until restricted.
        let free = TeamPolicy::default();
        assert_eq!(
            run(&free, Some("summarise"), "gpt-4o"),
            Ok(vec!["big".into()])
        );
        let mut restricted = TeamPolicy {
            premium: Some(PremiumRestriction {
                allowed_workflows: vec!["codegen".into()],
                action: RestrictAction::Downgrade,
                reason: "premium drift".into(),
                by: "lead".into(),
            }),
            ..Default::default()
        };
        // Downgrade: an unapproved workflow is served by an ordinary lane instead.
        assert_eq!(
            run(&restricted, Some("summarise"), "gpt-4o"),
            Ok(vec!["mini".into()])
        );
        assert_eq!(
            run(&restricted, Some("codegen"), "gpt-4o"),
            Ok(vec!["big".into()])
        );
        // Refuse: it is refused, naming the restriction.
        restricted.premium.as_mut().unwrap().action = RestrictAction::Refuse;
        match run(&restricted, Some("summarise"), "gpt-4o") {
            Err(NoLane::Restricted(m)) => {
                assert!(m.contains("codegen") && m.contains("premium drift"), "{m}")
            }
            other => panic!("expected a restriction, got {other:?}"),
        }
        assert_eq!(
            run(&restricted, Some("summarise"), "gpt-4o-mini"),
            Ok(vec!["mini".into()])
        );
        // A pin serves the workflow from its lane only.
        let mut pinned = TeamPolicy::default();
        pinned.pins.insert("summarise".into(), "haiku".into());
        assert_eq!(
            run(&pinned, Some("summarise"), "gpt-4o"),
            Ok(vec!["haiku".into()])
        );
        assert_eq!(
            run(&pinned, Some("other"), "gpt-4o"),
            Ok(vec!["big".into()])
        );
    }

    #[test]
    fn translated_lanes_are_opt_in_unless_nothing_native_exists() {
        let g = group();
        let cfg = config(three(), RoutingStrategy::CostBased);
        let p = plan(&cfg, &prices(), &query(&g, "unknown-model", true), |_| {
            LaneStats::default()
        })
        .unwrap();
        assert_eq!(
            ids(&p),
            ["mini", "big"],
            "no alias, no exact match: native lanes only"
        );
        let p = plan(
            &cfg,
            &prices(),
            &query(&g, "claude-haiku-4-5", true),
            |_| LaneStats::default(),
        )
        .unwrap();
        assert_eq!(ids(&p), ["haiku"], "asked for by model name: translated");
        let only_anthropic = config(vec![three().remove(2)], RoutingStrategy::CostBased);
        let p = plan(
            &only_anthropic,
            &prices(),
            &query(&g, "gpt-4o", true),
            |_| LaneStats::default(),
        )
        .unwrap();
        assert_eq!(ids(&p), ["haiku"], "nothing native: translated lanes serve");
    }

    #[test]
    fn workflow_policy_narrows_the_lanes() {
        let g = group();
        let cfg = config(three(), RoutingStrategy::Priority);
        let q = RouteQuery {
            workflow: Some("drafting"),
            ..query(&g, "all", true)
        };
        let p = plan(&cfg, &prices(), &q, |_| LaneStats::default()).unwrap();
        assert_eq!(ids(&p), ["mini"]);
        let q = RouteQuery {
            workflow: Some("other"),
            ..query(&g, "all", true)
        };
        assert_eq!(
            plan(&cfg, &prices(), &q, |_| LaneStats::default())
                .unwrap()
                .len(),
            3
        );
    }

    #[test]
    fn weighted_draws_in_proportion() {
        let g = group();
        let cfg = config(three(), RoutingStrategy::Weighted);
        // weights: mini 1, big 3, haiku 1 → total 5; points 0 → mini, 1..=3 → big, 4 → haiku.
        let first = |r: u64| {
            let q = RouteQuery {
                random: r,
                ..query(&g, "all", true)
            };
            plan(&cfg, &prices(), &q, |_| LaneStats::default()).unwrap()[0]
                .id
                .clone()
        };
        let counts: Vec<String> = (0..5).map(first).collect();
        assert_eq!(counts, ["mini", "big", "big", "big", "haiku"]);
    }

    #[test]
    fn policy_aliases_translation_and_cooldown() {
        let mut g = group();
        let mut cfg = config(three(), RoutingStrategy::CostBased);
        // Without translation an OpenAI client cannot be served by Anthropic.
        let p = plan(&cfg, &prices(), &query(&g, "x", false), |_| {
            LaneStats::default()
        })
        .unwrap();
        assert_eq!(ids(&p), ["mini", "big"]);
        // Exact model match narrows the choice; one candidate needs no statistics
        // (reading them costs the filter a shared-data read per lane).
        let p = plan(&cfg, &prices(), &query(&g, "gpt-4o", true), |_| {
            panic!("statistics read for a single candidate")
        })
        .unwrap();
        assert_eq!(ids(&p), ["big"]);
        // Aliases map a requested name to lanes.
        cfg.routing
            .aliases
            .insert("fast".into(), vec!["haiku".into(), "mini".into()]);
        let p = plan(&cfg, &prices(), &query(&g, "fast", true), |_| {
            LaneStats::default()
        })
        .unwrap();
        assert_eq!(ids(&p), ["mini", "haiku"]);
        // Group policy.
        g.allowed_lanes = Some(vec!["haiku".into()]);
        let p = plan(&cfg, &prices(), &query(&g, "fast", true), |_| {
            LaneStats::default()
        })
        .unwrap();
        assert_eq!(ids(&p), ["haiku"]);
        let err = plan(&cfg, &prices(), &query(&g, "fast", false), |_| {
            LaneStats::default()
        })
        .unwrap_err();
        assert!(err.message().contains("support"), "{}", err.message());
        // Cooling lanes are skipped unless all are cooling.
        g.allowed_lanes = None;
        let cool = |l: &LaneEntry| LaneStats {
            cooldown_until_ms: if l.id == "mini" { 999_999 } else { 0 },
            ..Default::default()
        };
        assert_eq!(
            ids(&plan(&cfg, &prices(), &query(&g, "all", true), cool).unwrap()),
            ["haiku", "big"]
        );
        let all_cool = |_: &LaneEntry| LaneStats {
            cooldown_until_ms: 999_999,
            ..Default::default()
        };
        assert_eq!(
            plan(&cfg, &prices(), &query(&g, "all", true), all_cool)
                .unwrap()
                .len(),
            3
        );
        cfg.routing.max_attempts = 1;
        assert_eq!(
            plan(&cfg, &prices(), &query(&g, "all", true), |_| {
                LaneStats::default()
            })
            .unwrap()
            .len(),
            1
        );
    }

    #[test]
    fn lane_stats_windows_latency_and_cooldown() {
        let s = LaneStats::default().started(60_000).started(60_500);
        assert_eq!((s.minute, s.requests), (1, 2));
        assert_eq!(
            s.started(120_000).requests,
            1,
            "a new minute resets the counters"
        );
        let s = s.finished(61_000, 50, 200, true, 3, 30_000);
        assert_eq!((s.tokens, s.latency_ewma_ms), (50, 200));
        let s = s.finished(61_000, 0, 600, true, 3, 30_000);
        assert_eq!(s.latency_ewma_ms, 300);
        let s = s.finished(62_000, 0, 0, false, 2, 30_000);
        assert!(!s.cooling(62_000));
        let s = s.finished(62_000, 0, 0, false, 2, 30_000);
        assert!(s.cooling(62_000) && !s.cooling(92_000));
        assert_eq!(LaneStats::decode(&s.encode()), Some(s));
    }

    #[test]
    fn premium_use_is_flagged_and_approval_checked() {
        let g = group();
        let mut l = lane("big", ProviderKind::Openai, "gpt-4o");
        assert_eq!(
            premium_status(&l, &g, Some("escalation"), None),
            (false, false)
        );
        l.premium = true;
        assert_eq!(
            premium_status(&l, &g, Some("escalation"), None),
            (true, true)
        );
        assert_eq!(
            premium_status(&l, &g, Some("drafting"), None),
            (true, false)
        );
        assert_eq!(premium_status(&l, &g, None, None), (true, false));
    }

    #[test]
    fn embeddings_and_completions_go_only_to_lanes_of_their_mode_and_model() {
        let g = group();
        let mut lanes = three();
        let mut small = lane(
            "embed-small",
            ProviderKind::Openai,
            "text-embedding-3-small",
        );
        small.mode = LaneMode::Embedding;
        let mut large = lane(
            "embed-large",
            ProviderKind::Openai,
            "text-embedding-3-large",
        );
        large.mode = LaneMode::Embedding;
        let mut instruct = lane("instruct", ProviderKind::Openai, "gpt-3.5-turbo-instruct");
        instruct.mode = LaneMode::Completion;
        lanes.extend([small, large, instruct]);
        let mut c = config(lanes, RoutingStrategy::CostBased);
        c.routing.aliases.insert(
            "embed".into(),
            vec!["embed-small".into(), "embed-large".into()],
        );
        let none = |_: &LaneEntry| LaneStats::default();
        let route = |api: ApiKind, model: &str| {
            let mut q = query(&g, model, true);
            q.api = api;
            plan(&c, &prices(), &q, none).map(|l| ids(&l))
        };
        assert_eq!(
            route(ApiKind::Embeddings, "text-embedding-3-large").unwrap(),
            ["embed-large"]
        );
        // An alias routes among embedding lanes by the strategy (cheapest first).
        assert_eq!(
            route(ApiKind::Embeddings, "embed").unwrap(),
            ["embed-small", "embed-large"]
        );
        // No lane serves the model: refused, never sent to another model's lane.
        assert!(matches!(
            route(ApiKind::Embeddings, "text-embedding-ada-002"),
            Err(NoLane::Unservable(_))
        ));
        assert!(route(ApiKind::Embeddings, "gpt-4o").is_err());
        assert_eq!(
            route(ApiKind::Completions, "gpt-3.5-turbo-instruct").unwrap(),
            ["instruct"]
        );
        assert!(route(ApiKind::Completions, "gpt-4o-mini").is_err());
        // Chat never lands on an embedding or completion lane, even by fallback.
        let chat = route(ApiKind::ChatCompletions, "no-such-model").unwrap();
        assert!(chat.iter().all(|l| l == "mini" || l == "big"), "{chat:?}");
        // Token counting goes to Anthropic chat lanes only, never translated.
        assert_eq!(
            route(ApiKind::CountTokens, "claude-haiku-4-5").unwrap(),
            ["haiku"]
        );
        assert_eq!(route(ApiKind::CountTokens, "gpt-4o").unwrap(), ["haiku"]);
        assert!(route(ApiKind::Passthrough, "gpt-4o").is_err());
    }

    #[test]
    fn openai_compatible_lanes_speak_openai_chat_completions_and_embeddings() {
        for compat in [ProviderKind::OpenaiCompatible, ProviderKind::AzureOpenai] {
            openai_shaped_lane_serves(compat);
        }
    }

    fn openai_shaped_lane_serves(compat: ProviderKind) {
        for api in [
            ApiKind::ChatCompletions,
            ApiKind::Completions,
            ApiKind::Embeddings,
        ] {
            assert!(can_serve(api, compat, false), "{api:?}");
        }
        assert!(can_serve(ApiKind::Messages, compat, true), "translated");
        assert!(!can_serve(ApiKind::Messages, compat, false));
        assert!(!can_serve(ApiKind::Responses, compat, true));
        assert!(!can_serve(ApiKind::CountTokens, compat, true));
    }

    #[test]
    fn gemini_lanes_serve_chat_and_messages_clients_by_translation() {
        for provider in [ProviderKind::Gemini, ProviderKind::VertexAi] {
            assert!(can_serve(ApiKind::ChatCompletions, provider, true));
            assert!(can_serve(ApiKind::Messages, provider, true));
            assert!(!can_serve(ApiKind::ChatCompletions, provider, false));
            for api in [
                ApiKind::Responses,
                ApiKind::Completions,
                ApiKind::CountTokens,
            ] {
                assert!(!can_serve(api, provider, true), "{api:?}");
            }
        }
        assert!(can_serve(ApiKind::Embeddings, ProviderKind::Gemini, true));
        assert!(!can_serve(
            ApiKind::Embeddings,
            ProviderKind::VertexAi,
            true
        ));
    }
}
