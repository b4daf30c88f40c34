//! Turning what the filter observed during one request into its cost event.

use crate::event::{ApiKind, CacheStatus, CostEvent, Outcome, Tokens, UsageSource};
use crate::pricing::PriceTable;
use crate::refusal::LocalError;
use crate::usage::{estimate_tokens, UsageTracker};

/// The lane that served (or was chosen to serve) a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedBy {
    pub provider: String,
    pub lane: String,
    pub model: String,
}

/// Everything observed about one request, filled in phase by phase.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub id: String,
    pub ts_ms: i64,
    pub consumer_group: String,
    pub team: String,
    pub user: Option<String>,
    pub workflow: Option<String>,
    pub api: ApiKind,
    pub served_by: Option<ServedBy>,
    pub model_requested: String,
    pub stream: bool,
    pub request_bytes: usize,
    /// Tollgate answered the request itself.
    pub local_error: Option<LocalError>,
    /// Status of the provider's (or Envoy's) response, once headers arrived.
    pub response_status: Option<u16>,
    /// The response body reached its end.
    pub response_complete: bool,
    pub response_bytes: usize,
    pub usage: UsageTracker,
    pub cache: CacheStatus,
    /// For a cache hit: what the original request cost.
    pub cost_avoided_nanos: i64,
    /// The credit lease that covered the request, if the wallet was enforced.
    pub lease_id: Option<u64>,
    /// The serving lane is premium / the workflow is approved for premium lanes.
    pub premium: bool,
    pub premium_approved: bool,
    /// Sent without a reservation because the ledger was unreachable (fail open).
    pub wallet_unchecked: bool,
    /// A miss that repeated a stored answer under normalisation.
    pub near_repeat: bool,
}

/// A request's usage as priced: what its event records about tokens and cost.
struct Priced {
    tokens: Tokens,
    usage_source: UsageSource,
    model_served: String,
    cost_nanos: i64,
    unpriced: bool,
}

impl RequestRecord {
    pub fn new(id: String, ts_ms: i64, consumer_group: String, team: String, api: ApiKind) -> Self {
        RequestRecord {
            id,
            ts_ms,
            consumer_group,
            team,
            user: None,
            workflow: None,
            api,
            served_by: None,
            model_requested: String::new(),
            stream: false,
            request_bytes: 0,
            local_error: None,
            response_status: None,
            response_complete: false,
            response_bytes: 0,
            usage: UsageTracker::default(),
            cache: CacheStatus::Off,
            cost_avoided_nanos: 0,
            lease_id: None,
            premium: false,
            premium_approved: false,
            wallet_unchecked: false,
            near_repeat: false,
        }
    }

    fn outcome(&self) -> (Outcome, Option<&'static str>) {
        if let Some(e) = self.local_error {
            let outcome = match e {
                LocalError::WalletExhausted
                | LocalError::Paused
                | LocalError::Restricted
                | LocalError::WalletUnavailable
                | LocalError::NoLane
                | LocalError::Internal => Outcome::Refused,
                _ => Outcome::BadRequest,
            };
            return (outcome, Some(e.reason()));
        }
        match self.response_status {
            None => (Outcome::Incomplete, Some("no_response")),
            Some(s) if (200..300).contains(&s) && self.response_complete => (Outcome::Ok, None),
            Some(s) if (200..300).contains(&s) => {
                (Outcome::Incomplete, Some("response_interrupted"))
            }
            Some(_) => (Outcome::ProviderError, Some("provider_error")),
        }
    }

    /// What the request costs so far, as its event would say, without building the
    /// event (the cost header and a cache entry need only this).
    pub fn cost_nanos(&self, prices: &PriceTable) -> i64 {
        self.priced(prices).cost_nanos
    }

    /// Tokens, where they came from, the served model and its price.
    fn priced(&self, prices: &PriceTable) -> Priced {
        let hit = self.cache == CacheStatus::Hit;
        let provider_worked =
            !hit && matches!(self.response_status, Some(s) if (200..300).contains(&s));
        let (tokens, usage_source) = if hit {
            // Answered from the cache: no provider work, nothing to pay.
            (Tokens::default(), UsageSource::None)
        } else if self.usage.reported {
            (self.usage.tokens, UsageSource::Reported)
        } else if provider_worked {
            let estimate = Tokens {
                input: estimate_tokens(self.request_bytes),
                output: estimate_tokens(self.response_bytes),
                ..Tokens::default()
            };
            (estimate, UsageSource::Estimated)
        } else {
            (Tokens::default(), UsageSource::None)
        };
        let lane_model = self.served_by.as_ref().map(|s| s.model.as_str());
        let model_served = self
            .usage
            .model
            .clone()
            .or_else(|| lane_model.map(str::to_string))
            .unwrap_or_default();
        let price = prices
            .lookup(&model_served)
            .or_else(|| lane_model.and_then(|m| prices.lookup(m)));
        Priced {
            cost_nanos: price.map_or(0, |p| p.cost_nanos(&tokens)),
            unpriced: price.is_none() && tokens.total() > 0,
            tokens,
            usage_source,
            model_served,
        }
    }

    /// The cost event for this request, priced with `prices`.
    pub fn finish(&self, prices: &PriceTable, now_ms: i64) -> CostEvent {
        let (outcome, reason) = self.outcome();
        let hit = self.cache == CacheStatus::Hit;
        let Priced {
            tokens,
            usage_source,
            model_served,
            cost_nanos,
            unpriced,
        } = self.priced(prices);
        let http_status = match self.local_error {
            Some(e) => e.status(),
            None => self.response_status.unwrap_or(0),
        };
        CostEvent {
            id: self.id.clone(),
            ts_ms: self.ts_ms,
            consumer_group: self.consumer_group.clone(),
            team: self.team.clone(),
            user: self.user.clone(),
            workflow: self.workflow.clone(),
            api: self.api,
            provider: self.served_by.as_ref().map(|s| s.provider.clone()),
            lane: self.served_by.as_ref().map(|s| s.lane.clone()),
            model_requested: self.model_requested.clone(),
            model_served,
            tokens,
            usage_source,
            cost_nanos,
            unpriced,
            outcome,
            http_status,
            reason: reason.map(str::to_string),
            latency_ms: u32::try_from((now_ms - self.ts_ms).max(0)).unwrap_or(u32::MAX),
            stream: self.stream,
            cache: self.cache,
            cost_avoided_nanos: if hit { self.cost_avoided_nanos } else { 0 },
            premium: self.premium,
            premium_approved: self.premium_approved,
            lease_id: self.lease_id,
            wallet_unchecked: self.wallet_unchecked,
            near_repeat: self.near_repeat,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn record() -> RequestRecord {
        let mut r = RequestRecord::new(
            "id1".into(),
            1_000,
            "support".into(),
            "team_support".into(),
            ApiKind::ChatCompletions,
        );
        r.served_by = Some(ServedBy {
            provider: "openai".into(),
            lane: "oa".into(),
            model: "gpt-4o-mini".into(),
        });
        r.model_requested = "gpt-4o-mini".into();
        r.request_bytes = 400;
        r
    }

    #[test]
    fn reported_usage_is_priced_by_the_served_model() {
        let mut r = record();
        r.response_status = Some(200);
        r.response_complete = true;
        r.usage.observe_body(ApiKind::ChatCompletions, br#"{"model":"gpt-4o-mini-2024-07-18","usage":{"prompt_tokens":1000,"completion_tokens":100}}"#);
        let e = r.finish(&PriceTable::with_overrides(&BTreeMap::new()), 1_250);
        assert_eq!(e.outcome, Outcome::Ok);
        assert_eq!(e.usage_source, UsageSource::Reported);
        assert_eq!(e.model_served, "gpt-4o-mini-2024-07-18");
        // 1000 * 0.15 + 100 * 0.60 = 210 µ$ = 210_000 n$
        assert_eq!(e.cost_nanos, 210_000);
        assert_eq!(e.latency_ms, 250);
        assert_eq!(e.http_status, 200);
    }

    #[test]
    fn the_cost_alone_is_the_cost_its_event_records() {
        let prices = PriceTable::with_overrides(&BTreeMap::new());
        let mut r = record();
        assert_eq!(r.cost_nanos(&prices), 0, "nothing answered yet");
        r.response_status = Some(200);
        r.response_bytes = 80;
        assert_eq!(r.cost_nanos(&prices), r.finish(&prices, 1_000).cost_nanos);
        assert!(r.cost_nanos(&prices) > 0, "estimated");
        r.usage.observe_body(
            ApiKind::ChatCompletions,
            br#"{"usage":{"prompt_tokens":1000,"completion_tokens":100}}"#,
        );
        assert_eq!(r.cost_nanos(&prices), 210_000);
        r.cache = CacheStatus::Hit;
        assert_eq!(r.cost_nanos(&prices), r.finish(&prices, 1_000).cost_nanos);
        assert_eq!(r.cost_nanos(&prices), 0, "a hit costs nothing");
    }

    #[test]
    fn success_without_usage_is_estimated_and_flagged() {
        let mut r = record();
        r.response_status = Some(200);
        r.response_complete = true;
        r.response_bytes = 80;
        let e = r.finish(&PriceTable::with_overrides(&BTreeMap::new()), 1_000);
        assert_eq!(e.usage_source, UsageSource::Estimated);
        assert_eq!(
            e.tokens,
            Tokens {
                input: 100,
                output: 20,
                ..Default::default()
            }
        );
        assert_eq!(e.cost_nanos, 100 * 150 + 20 * 600);
        assert_eq!(e.model_served, "gpt-4o-mini");
    }

    #[test]
    fn refusals_and_provider_errors_cost_nothing() {
        let mut r = record();
        r.local_error = Some(LocalError::WalletExhausted);
        let e = r.finish(&PriceTable::default(), 1_000);
        assert_eq!(
            (e.outcome, e.http_status, e.cost_nanos),
            (Outcome::Refused, 402, 0)
        );
        assert_eq!(e.reason.as_deref(), Some("wallet_exhausted"));
        assert_eq!(e.usage_source, UsageSource::None);

        let mut r = record();
        r.response_status = Some(429);
        r.response_complete = true;
        let e = r.finish(&PriceTable::default(), 1_000);
        assert_eq!((e.outcome, e.cost_nanos), (Outcome::ProviderError, 0));
    }

    #[test]
    fn interrupted_streams_keep_what_was_reported() {
        let mut r = record();
        r.api = ApiKind::Messages;
        r.served_by = Some(ServedBy {
            provider: "anthropic".into(),
            lane: "an".into(),
            model: "claude-haiku-4-5".into(),
        });
        r.response_status = Some(200);
        r.usage.observe_stream_event(ApiKind::Messages, br#"{"type":"message_start","message":{"model":"claude-haiku-4-5","usage":{"input_tokens":10,"output_tokens":1}}}"#);
        let e = r.finish(&PriceTable::with_overrides(&BTreeMap::new()), 1_000);
        assert_eq!(e.outcome, Outcome::Incomplete);
        assert_eq!(e.tokens.input, 10);
        assert_eq!(e.cost_nanos, 10 * 1_000 + 5_000);
    }

    #[test]
    fn cache_hits_cost_nothing_and_record_what_they_saved() {
        let mut r = record();
        r.cache = CacheStatus::Hit;
        r.cost_avoided_nanos = 4_321;
        r.response_status = Some(200);
        r.response_complete = true;
        r.response_bytes = 500;
        let e = r.finish(&PriceTable::with_overrides(&BTreeMap::new()), 1_000);
        assert_eq!(
            (e.outcome, e.cost_nanos, e.cost_avoided_nanos),
            (Outcome::Ok, 0, 4_321)
        );
        assert_eq!(
            (e.tokens, e.usage_source),
            (Tokens::default(), UsageSource::None)
        );
        assert_eq!(e.cache, CacheStatus::Hit);
    }

    #[test]
    fn unknown_models_are_flagged_unpriced() {
        let mut r = record();
        r.served_by.as_mut().unwrap().model = "mystery".into();
        r.response_status = Some(200);
        r.response_complete = true;
        r.usage.observe_body(
            ApiKind::ChatCompletions,
            br#"{"usage":{"prompt_tokens":5,"completion_tokens":5}}"#,
        );
        let e = r.finish(&PriceTable::default(), 1_000);
        assert!(e.unpriced);
        assert_eq!(e.cost_nanos, 0);
    }
}
