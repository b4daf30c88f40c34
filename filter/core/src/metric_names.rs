//! Labelled metrics through Envoy's stats tag extraction.
//!
//! A proxy-wasm metric has a name and no labels. Tollgate encodes its labels in the
//! name — `tollgate_requests.team=team_support.lane=openai-mini.cache=hit` — and the
//! Envoy bootstrap written by `render-envoy` carries one `stats_config.stats_tags`
//! regex per label, `(\.team=([^.]+))`, which cuts `.team=team_support` out of the
//! name and makes it a tag. `/stats/prometheus` then shows
//! `tollgate_requests{team="team_support",lane="openai-mini",cache="hit"}`.
//!
//! This module is the single definition of the label names (the filter builds the
//! names, `render-envoy` builds the regexes from the same list) and of how label values
//! are made safe: a `.` or `=` inside a value would break the extraction.

use crate::event::{CacheStatus, CostEvent, Outcome};

/// Every label a Tollgate metric may carry. `render-envoy` writes one tag regex each.
pub const LABELS: &[&str] = &[
    "team", "provider", "lane", "cache", "outcome", "reason", "kind",
];

/// Counter: finished requests of attributed callers.
/// Labels: team, provider, lane, cache, outcome.
pub const REQUESTS: &str = "tollgate_requests";
/// Counter: requests Tollgate answered itself with an error (before any provider).
/// Labels: team (`unknown` when the key matched no group), reason.
pub const REFUSALS: &str = "tollgate_refusals";
/// Counter: tokens of finished requests. Labels: team, provider, lane, kind
/// (input, cached_input, cache_write, output).
pub const TOKENS: &str = "tollgate_tokens";
/// Counter: cost of finished requests in nanodollars. Labels: team, provider, lane.
pub const COST: &str = "tollgate_cost_nanodollars";
/// Counter: what cache hits saved, in nanodollars. Labels: team.
pub const COST_AVOIDED: &str = "tollgate_cost_avoided_nanodollars";
/// Counter: lane attempts that failed (429/5xx) and were retried on another lane.
/// Labels: team, provider, lane.
pub const FAILED_ATTEMPTS: &str = "tollgate_failed_attempts";
/// Counter: requests sent without a wallet check because the ledger was unreachable
/// and the consumer group fails open. Labels: team.
pub const WALLET_UNCHECKED: &str = "tollgate_wallet_unchecked";

/// Value used when a label has no value (e.g. no lane was chosen).
pub const NONE: &str = "none";
/// Longest label value kept; longer values are cut (ids are short in practice).
pub const MAX_VALUE_LEN: usize = 64;

/// The Envoy stats tag regex for `label`: group 1 is removed from the name, group 2
/// becomes the tag's value.
pub fn tag_regex(label: &str) -> String {
    format!(r"(\.{label}=([^.]+))")
}

/// A label value safe inside a stat name: `[A-Za-z0-9_-]` kept, anything else `_`,
/// at most `MAX_VALUE_LEN` bytes, `none` when empty.
pub fn label_value(raw: &str) -> String {
    let v: String = raw
        .chars()
        .take(MAX_VALUE_LEN)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if v.is_empty() {
        NONE.to_string()
    } else {
        v
    }
}

/// `base.label=value.label=value…`, values made safe.
pub fn stat_name(base: &str, labels: &[(&str, &str)]) -> String {
    let mut name = String::with_capacity(base.len() + 24 * labels.len());
    name.push_str(base);
    for (label, value) in labels {
        debug_assert!(LABELS.contains(label), "label {label} has no tag regex");
        name.push('.');
        name.push_str(label);
        name.push('=');
        name.push_str(&label_value(value));
    }
    name
}

pub fn outcome_label(o: Outcome) -> &'static str {
    match o {
        Outcome::Ok => "ok",
        Outcome::ProviderError => "provider_error",
        Outcome::Incomplete => "incomplete",
        Outcome::Refused => "refused",
        Outcome::BadRequest => "bad_request",
    }
}

pub fn cache_label(c: CacheStatus) -> &'static str {
    match c {
        CacheStatus::Off => "off",
        CacheStatus::Miss => "miss",
        CacheStatus::Hit => "hit",
        CacheStatus::Bypass => "bypass",
    }
}

/// The labels a finished request is counted under. Workers add requests up per key
/// between ticks ([`EventTotals`]) and only then format stat names ([`counts`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventKey {
    pub team: String,
    pub provider: String,
    pub lane: String,
    pub cache: &'static str,
    pub outcome: &'static str,
}

impl EventKey {
    pub fn of(e: &CostEvent) -> EventKey {
        EventKey {
            team: e.team.clone(),
            provider: e.provider.as_deref().unwrap_or(NONE).to_string(),
            lane: e.lane.as_deref().unwrap_or(NONE).to_string(),
            cache: cache_label(e.cache),
            outcome: outcome_label(e.outcome),
        }
    }

    /// Whether `e` is counted under this key (compared in place: no key is built).
    pub fn is_key_of(&self, e: &CostEvent) -> bool {
        self.team == e.team
            && self.provider == e.provider.as_deref().unwrap_or(NONE)
            && self.lane == e.lane.as_deref().unwrap_or(NONE)
            && self.cache == cache_label(e.cache)
            && self.outcome == outcome_label(e.outcome)
    }
}

/// What requests add to the counters of one [`EventKey`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EventTotals {
    pub requests: i64,
    pub input: u64,
    pub cached_input: u64,
    pub cache_write: u64,
    pub output: u64,
    pub cost_nanos: i64,
    pub cost_avoided_nanos: i64,
    pub wallet_unchecked: i64,
}

impl EventTotals {
    pub fn of(e: &CostEvent) -> EventTotals {
        EventTotals {
            requests: 1,
            input: e.tokens.input,
            cached_input: e.tokens.cached_input,
            // Every cache write, 5-minute and 1-hour, as `/v1/spend` counts them.
            cache_write: e.tokens.cache_write.saturating_add(e.tokens.cache_write_1h),
            output: e.tokens.output,
            cost_nanos: e.cost_nanos,
            cost_avoided_nanos: e.cost_avoided_nanos,
            wallet_unchecked: i64::from(e.wallet_unchecked),
        }
    }

    pub fn add(&mut self, o: &EventTotals) {
        self.requests += o.requests;
        self.input = self.input.saturating_add(o.input);
        self.cached_input = self.cached_input.saturating_add(o.cached_input);
        self.cache_write = self.cache_write.saturating_add(o.cache_write);
        self.output = self.output.saturating_add(o.output);
        self.cost_nanos = self.cost_nanos.saturating_add(o.cost_nanos);
        self.cost_avoided_nanos = self.cost_avoided_nanos.saturating_add(o.cost_avoided_nanos);
        self.wallet_unchecked += o.wallet_unchecked;
    }
}

/// The counter increments of `totals` under `key`: (stat name, amount). Zero amounts
/// are left out (a counter that never moves need not exist).
pub fn counts(key: &EventKey, totals: &EventTotals) -> Vec<(String, i64)> {
    let where_ = [
        ("team", key.team.as_str()),
        ("provider", key.provider.as_str()),
        ("lane", key.lane.as_str()),
    ];
    let mut out = Vec::new();
    if totals.requests > 0 {
        let labels = [
            where_[0],
            where_[1],
            where_[2],
            ("cache", key.cache),
            ("outcome", key.outcome),
        ];
        out.push((stat_name(REQUESTS, &labels), totals.requests));
    }
    for (kind, n) in [
        ("input", totals.input),
        ("cached_input", totals.cached_input),
        ("cache_write", totals.cache_write),
        ("output", totals.output),
    ] {
        if n > 0 {
            let labels = [where_[0], where_[1], where_[2], ("kind", kind)];
            out.push((
                stat_name(TOKENS, &labels),
                i64::try_from(n).unwrap_or(i64::MAX),
            ));
        }
    }
    if totals.cost_nanos > 0 {
        out.push((stat_name(COST, &where_), totals.cost_nanos));
    }
    if totals.cost_avoided_nanos > 0 {
        out.push((
            stat_name(COST_AVOIDED, &[where_[0]]),
            totals.cost_avoided_nanos,
        ));
    }
    if totals.wallet_unchecked > 0 {
        out.push((
            stat_name(WALLET_UNCHECKED, &[where_[0]]),
            totals.wallet_unchecked,
        ));
    }
    out
}

/// The counter increments one finished request's event makes.
pub fn event_counts(e: &CostEvent) -> Vec<(String, i64)> {
    counts(&EventKey::of(e), &EventTotals::of(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{ApiKind, Tokens, UsageSource};

    /// What Envoy's tag extraction does with our regexes (first match of each).
    fn extract(name: &str) -> (String, Vec<(String, String)>) {
        let mut rest = name.to_string();
        let mut tags = Vec::new();
        for label in LABELS {
            let needle = format!(".{label}=");
            if let Some(start) = rest.find(&needle) {
                let value_start = start + needle.len();
                let end = rest[value_start..]
                    .find('.')
                    .map_or(rest.len(), |i| value_start + i);
                tags.push((label.to_string(), rest[value_start..end].to_string()));
                rest.replace_range(start..end, "");
            }
        }
        (rest, tags)
    }

    #[test]
    fn names_carry_labels_that_the_regexes_cut_out() {
        let name = stat_name(
            REQUESTS,
            &[
                ("team", "team_support"),
                ("lane", "openai.gpt-4.1"),
                ("cache", "hit"),
            ],
        );
        assert_eq!(
            name,
            "tollgate_requests.team=team_support.lane=openai_gpt-4_1.cache=hit"
        );
        let (base, tags) = extract(&name);
        assert_eq!(base, "tollgate_requests");
        assert_eq!(tags.len(), 3);
        assert!(tags.contains(&("lane".into(), "openai_gpt-4_1".into())));
    }

    #[test]
    fn values_are_made_safe() {
        assert_eq!(label_value(""), "none");
        assert_eq!(label_value("a=b.c d"), "a_b_c_d");
        assert_eq!(label_value(&"x".repeat(200)).len(), MAX_VALUE_LEN);
        assert_eq!(tag_regex("team"), r"(\.team=([^.]+))");
    }

    #[test]
    fn an_event_counts_request_tokens_and_cost() {
        let e = CostEvent {
            id: "r1".into(),
            ts_ms: 0,
            consumer_group: "support".into(),
            team: "team_support".into(),
            user: None,
            workflow: None,
            api: ApiKind::ChatCompletions,
            provider: Some("openai".into()),
            lane: Some("openai-mini".into()),
            model_requested: "m".into(),
            model_served: "m".into(),
            tokens: Tokens {
                input: 10,
                output: 5,
                ..Tokens::default()
            },
            usage_source: UsageSource::Reported,
            cost_nanos: 42,
            unpriced: false,
            outcome: Outcome::Ok,
            http_status: 200,
            reason: None,
            latency_ms: 1,
            stream: false,
            cache: CacheStatus::Miss,
            cost_avoided_nanos: 0,
            premium: false,
            premium_approved: false,
            lease_id: None,
            wallet_unchecked: false,
            near_repeat: false,
            service_tier: None,
            web_search_calls: 0,
            tool_cost_nanos: 0,
            priced_by: None,
        };
        let counts = event_counts(&e);
        assert_eq!(
            counts,
            vec![
                ("tollgate_requests.team=team_support.provider=openai.lane=openai-mini.cache=miss.outcome=ok".to_string(), 1),
                ("tollgate_tokens.team=team_support.provider=openai.lane=openai-mini.kind=input".to_string(), 10),
                ("tollgate_tokens.team=team_support.provider=openai.lane=openai-mini.kind=output".to_string(), 5),
                ("tollgate_cost_nanodollars.team=team_support.provider=openai.lane=openai-mini".to_string(), 42),
            ]
        );
        // A request let through unchecked (ledger unreachable, fail open) is counted.
        let unchecked = CostEvent {
            wallet_unchecked: true,
            ..e.clone()
        };
        assert_eq!(
            event_counts(&unchecked).last(),
            Some(&("tollgate_wallet_unchecked.team=team_support".to_string(), 1))
        );
        // Requests added up under one key count the same as each counted alone.
        let mut totals = EventTotals::default();
        for ev in [&e, &e, &unchecked] {
            assert_eq!(EventKey::of(ev), EventKey::of(&e));
            assert!(EventKey::of(&e).is_key_of(ev));
            totals.add(&EventTotals::of(ev));
        }
        // Any label that differs is another key.
        let others = [
            CostEvent {
                team: "team_other".into(),
                ..e.clone()
            },
            CostEvent {
                provider: None,
                ..e.clone()
            },
            CostEvent {
                lane: Some("other-lane".into()),
                ..e.clone()
            },
            CostEvent {
                cache: CacheStatus::Hit,
                ..e.clone()
            },
            CostEvent {
                outcome: Outcome::ProviderError,
                ..e.clone()
            },
        ];
        for other in &others {
            assert!(!EventKey::of(&e).is_key_of(other), "{other:?}");
            assert!(EventKey::of(other).is_key_of(other));
        }
        let mut one_by_one = std::collections::BTreeMap::new();
        for ev in [&e, &e, &unchecked] {
            for (name, n) in event_counts(ev) {
                *one_by_one.entry(name).or_insert(0) += n;
            }
        }
        let added: std::collections::BTreeMap<_, _> = super::counts(&EventKey::of(&e), &totals)
            .into_iter()
            .collect();
        assert_eq!(added, one_by_one);
        assert!(super::counts(&EventKey::of(&e), &EventTotals::default()).is_empty());
    }
}
