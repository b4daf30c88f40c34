//! Turning what the filter observed during one request into its cost event.

use crate::config::schema::ProviderKind;
use crate::event::{ApiKind, CacheStatus, CostEvent, Outcome, Tokens, UsageSource};
use crate::pricing::{priced_by, Billable, PriceTable};
use crate::refusal::LocalError;
use crate::token_estimate::PromptText;
use crate::usage::{estimate_tokens, UsageTracker};

/// The lane that served (or was chosen to serve) a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedBy {
    pub provider: String,
    pub lane: String,
    pub model: String,
    /// The lane is paid for by capacity (`fixed_cost`): its requests cost 0.
    pub fixed_cost: bool,
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
    /// The service tier the client asked for (OpenAI `service_tier`), used when the
    /// response does not say which tier processed it.
    pub service_tier_requested: Option<String>,
    pub stream: bool,
    pub request_bytes: usize,
    /// The request's prompt text, for an input estimate when no usage is reported.
    pub prompt: PromptText,
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
    /// Never priced, whatever its answer reports (a batch job let through: billed
    /// later at batch rates Tollgate does not see); its event is `unpriced`.
    pub never_priced: bool,
    /// The provider's own reason for an error answer, when it gives one Tollgate
    /// records (`content_filter`: Azure's content filter refused the prompt).
    pub provider_reason: Option<&'static str>,
}

/// A request's usage as priced: what its event records about tokens and cost.
struct Priced {
    tokens: Tokens,
    usage_source: UsageSource,
    model_served: String,
    cost_nanos: i64,
    unpriced: bool,
    service_tier: Option<String>,
    web_search_calls: u64,
    tool_cost_nanos: i64,
    priced_by: Option<String>,
}

/// The provider took the request: a 2xx answer, or a WebSocket session it accepted
/// (`101 Switching Protocols`, a realtime session passed through).
fn accepted(status: u16) -> bool {
    (200..300).contains(&status) || status == 101
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
            service_tier_requested: None,
            stream: false,
            request_bytes: 0,
            prompt: PromptText::default(),
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
            never_priced: false,
            provider_reason: None,
        }
    }

    fn outcome(&self) -> (Outcome, Option<&'static str>) {
        if let Some(e) = self.local_error {
            let outcome = match e {
                LocalError::WalletExhausted
                | LocalError::Paused
                | LocalError::Restricted
                | LocalError::BatchNotGoverned
                | LocalError::WalletUnavailable
                | LocalError::NoLane
                | LocalError::Internal => Outcome::Refused,
                _ => Outcome::BadRequest,
            };
            return (outcome, Some(e.reason()));
        }
        match self.response_status {
            None => (Outcome::Incomplete, Some("no_response")),
            Some(s) if accepted(s) && self.response_complete => (Outcome::Ok, None),
            Some(s) if accepted(s) => (Outcome::Incomplete, Some("response_interrupted")),
            Some(_) => (
                Outcome::ProviderError,
                Some(self.provider_reason.unwrap_or("provider_error")),
            ),
        }
    }

    /// What the request costs so far, as its event would say, without building the
    /// event (the cost header and a cache entry need only this).
    pub fn cost_nanos(&self, prices: &PriceTable) -> i64 {
        self.priced(prices).cost_nanos
    }

    /// The tokenizer family of the serving lane's model, for estimates.
    fn provider_kind(&self) -> ProviderKind {
        match self.served_by.as_ref().map(|s| s.provider.as_str()) {
            Some("anthropic") => ProviderKind::Anthropic,
            Some(_) => ProviderKind::Openai,
            None => self.api.native_provider(),
        }
    }

    /// Output tokens when the provider never reported a final count: the text a
    /// stream delivered, or (a whole body without usage) its size; none for APIs that
    /// produce no output tokens (embeddings).
    fn estimated_output(&self) -> u64 {
        if self.api.input_only() {
            // An embedding answer is vectors, not generated tokens.
            return 0;
        }
        if self.stream {
            self.usage.delivered.estimated_tokens(self.provider_kind())
        } else {
            estimate_tokens(self.response_bytes)
        }
    }

    /// Tokens, where they came from, the served model and its price.
    fn priced(&self, prices: &PriceTable) -> Priced {
        let hit = self.cache == CacheStatus::Hit;
        let answered = self.response_status.is_some_and(accepted);
        let provider_worked = !hit && answered;
        // Free endpoints, endpoints let through without a reported usage and batch
        // jobs are never estimated: nothing says what (if anything) they cost.
        let unbilled = self.api.is_free()
            || self.never_priced
            || (self.api == ApiKind::Passthrough && !self.usage.reported);
        let (tokens, usage_source) = if hit || unbilled {
            // Answered from the cache: no provider work, nothing to pay.
            (Tokens::default(), UsageSource::None)
        } else if self.usage.reported && (self.usage.output_reported || !provider_worked) {
            (self.usage.tokens, UsageSource::Reported)
        } else if self.usage.reported {
            // The prompt counts were reported (Anthropic `message_start`), the final
            // output count never came: its placeholder is replaced by an estimate.
            let tokens = Tokens {
                output: self.estimated_output(),
                ..self.usage.tokens
            };
            (tokens, UsageSource::Estimated)
        } else if provider_worked {
            let estimate = Tokens {
                input: self.prompt.estimated_tokens(self.provider_kind()),
                output: self.estimated_output(),
                ..Tokens::default()
            };
            (estimate, UsageSource::Estimated)
        } else {
            (Tokens::default(), UsageSource::None)
        };

        let service_tier = if hit {
            None
        } else {
            self.usage
                .service_tier
                .clone()
                .or_else(|| self.service_tier_requested.clone())
        };
        // A passed-through answer is priced only by the model it names itself: the
        // lane whose credential carried it may serve another model entirely.
        let lane_model = self
            .served_by
            .as_ref()
            .map(|s| s.model.as_str())
            .filter(|_| self.api != ApiKind::Passthrough);
        let model_served = self
            .usage
            .model
            .clone()
            .or_else(|| lane_model.map(str::to_string))
            .unwrap_or_default();
        let fixed_cost = self.served_by.as_ref().is_some_and(|s| s.fixed_cost);
        // Priced with the prices in force when the request was made.
        // Prices have no audio rates: audio at the text rate would understate the cost.
        let entry = if self.never_priced || fixed_cost || self.usage.audio_tokens > 0 {
            None
        } else {
            prices
                .lookup_at(&model_served, self.ts_ms)
                .or_else(|| lane_model.and_then(|m| prices.lookup_at(m, self.ts_ms)))
        };
        // A model that searches for every request (a search-preview model) ran at least
        // one search for each answer, reported or not.
        let per_request = entry.is_some_and(|e| e.price.web_search_per_request);
        let web_search_calls = match (hit, per_request && provider_worked) {
            (true, _) => 0,
            (false, true) => self.usage.web_search_calls.max(1),
            (false, false) => self.usage.web_search_calls,
        };
        let charge = entry.map(|e| {
            e.price.charge(&Billable {
                tokens,
                service_tier: service_tier.as_deref(),
                web_search_calls,
                batch: false,
            })
        });
        let priced_by = match (entry, &charge) {
            (Some(e), Some(c)) if tokens.total() > 0 || web_search_calls > 0 => {
                Some(priced_by(e.label(), &c.rule))
            }
            _ => None,
        };
        // A passed-through answer without usage of a priced model: recorded, not hidden.
        let priced_passthrough_missing =
            self.api == ApiKind::Passthrough && (entry.is_none() || tokens.total() == 0);
        Priced {
            cost_nanos: charge.as_ref().map_or(0, |c| c.total()),
            tool_cost_nanos: charge.as_ref().map_or(0, |c| c.tools_nanos),
            unpriced: (entry.is_none()
                && !fixed_cost
                && (tokens.total() > 0 || web_search_calls > 0))
                || (answered && !hit && (self.never_priced || priced_passthrough_missing)),
            tokens,
            usage_source,
            model_served,
            service_tier,
            web_search_calls,
            priced_by,
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
            service_tier,
            web_search_calls,
            tool_cost_nanos,
            priced_by,
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
            service_tier,
            web_search_calls,
            tool_cost_nanos,
            priced_by,
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
            fixed_cost: false,
        });
        r.model_requested = "gpt-4o-mini".into();
        // 4 + 392 characters of text in one message: 99 tokens + 3 for the message.
        let body = serde_json::json!({"model": "gpt-4o-mini", "temperature": 0.25,
            "messages": [{"role": "user", "content": "a".repeat(392)}]});
        r.request_bytes = body.to_string().len();
        r.prompt = PromptText::of(body.as_object().unwrap());
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
    fn each_request_is_priced_with_the_catalogue_entry_of_its_day() {
        let prices = PriceTable::with_overrides(&BTreeMap::new());
        let body =
            br#"{"model":"o3-2025-04-16","usage":{"prompt_tokens":1000,"completion_tokens":100}}"#;
        let at = |date: &str| {
            let mut r = record();
            r.ts_ms = crate::config::parse_date_days(date).unwrap() * 86_400_000 + 43_200_000;
            r.response_status = Some(200);
            r.response_complete = true;
            r.usage.observe_body(ApiKind::ChatCompletions, body);
            let e = r.finish(&prices, r.ts_ms + 1_000);
            (e.cost_nanos, e.priced_by.unwrap())
        };
        // o3 before its 2025-06-10 price cut: 1000 × $10 + 100 × $40 per million.
        assert_eq!(at("2025-06-09"), (14_000_000, "o3:2025-04-16".into()));
        // From the day of the cut: 1000 × $2 + 100 × $8.
        assert_eq!(at("2025-06-10"), (2_800_000, "o3:2025-06-10".into()));
    }

    #[test]
    fn a_search_preview_model_charges_a_web_search_for_every_answer() {
        let prices = PriceTable::with_overrides(&BTreeMap::new());
        let answer = |status: u16| {
            let mut r = record();
            r.ts_ms = crate::config::parse_date_days("2026-11-01").unwrap() * 86_400_000;
            r.served_by.as_mut().unwrap().model = "gpt-4o-mini-search-preview".into();
            r.response_status = Some(status);
            r.response_complete = true;
            r.usage.observe_body(
                ApiKind::ChatCompletions,
                br#"{"model":"gpt-4o-mini-search-preview-2025-03-11","usage":{"prompt_tokens":1000,"completion_tokens":100}}"#,
            );
            r.finish(&prices, r.ts_ms + 10)
        };
        let e = answer(200);
        // 1000 × $0.15 + 100 × $0.60 per million, and one search at $25 per 1,000.
        assert_eq!(e.web_search_calls, 1);
        assert_eq!(e.tool_cost_nanos, 25_000_000);
        assert_eq!(e.cost_nanos, 210_000 + 25_000_000);
        assert_eq!(
            e.priced_by.as_deref(),
            Some("gpt-4o-mini-search-preview:2025-03-11")
        );
        // A refused or failed request ran no search.
        let e = answer(429);
        assert_eq!((e.web_search_calls, e.tool_cost_nanos), (0, 0));
        // Other models charge only the searches reported.
        let mut r = record();
        r.response_status = Some(200);
        r.response_complete = true;
        r.usage.observe_body(
            ApiKind::ChatCompletions,
            br#"{"model":"gpt-4o-mini","usage":{"prompt_tokens":10,"completion_tokens":1}}"#,
        );
        assert_eq!(r.finish(&prices, 2_000).web_search_calls, 0);
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
                input: 102,
                output: 20,
                ..Default::default()
            }
        );
        assert!(
            r.request_bytes / 4 > 110,
            "the JSON around the text is not counted"
        );
        assert_eq!(e.cost_nanos, 102 * 150 + 20 * 600);
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
    fn interrupted_streams_keep_what_was_reported_and_estimate_the_rest() {
        let mut r = record();
        r.api = ApiKind::Messages;
        r.stream = true;
        r.served_by = Some(ServedBy {
            provider: "anthropic".into(),
            lane: "an".into(),
            model: "claude-haiku-4-5".into(),
            fixed_cost: false,
        });
        r.response_status = Some(200);
        // message_start's output_tokens (here 30) is a placeholder, never a count.
        r.usage.observe_stream_event(ApiKind::Messages, br#"{"type":"message_start","message":{"model":"claude-haiku-4-5","usage":{"input_tokens":10,"cache_creation_input_tokens":20,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":20},"output_tokens":30}}}"#);
        // 35 characters delivered: 35 × 2 / 7 = 10 tokens.
        r.usage.observe_stream_event(
            ApiKind::Messages,
            br#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello there, this is a cut answer."}}"#,
        );
        r.usage.observe_stream_event(
            ApiKind::Messages,
            br#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"!"}}"#,
        );
        r.response_bytes = 100_000;
        let e = r.finish(&PriceTable::with_overrides(&BTreeMap::new()), 1_000);
        assert_eq!(e.outcome, Outcome::Incomplete);
        assert_eq!(e.usage_source, UsageSource::Estimated);
        assert_eq!(
            e.tokens,
            Tokens {
                input: 10,
                cache_write_1h: 20,
                output: 10,
                ..Tokens::default()
            }
        );
        // 10 × 1.00 + 20 × 2.00 + 10 × 5.00 µ$
        assert_eq!(e.cost_nanos, 10 * 1_000 + 20 * 2_000 + 10 * 5_000);

        // The final message_delta makes the output reported.
        r.usage.observe_stream_event(
            ApiKind::Messages,
            br#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":12}}"#,
        );
        let e = r.finish(&PriceTable::with_overrides(&BTreeMap::new()), 1_000);
        assert_eq!(e.usage_source, UsageSource::Reported);
        assert_eq!((e.tokens.output, e.tokens.cache_write_1h), (12, 20));
    }

    #[test]
    fn cut_openai_streams_estimate_output_from_the_text_delivered() {
        let mut r = record();
        r.stream = true;
        r.response_status = Some(200);
        let chunk = |text: &str| {
            format!(
                r#"{{"id":"c","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{{"index":0,"delta":{{"content":"{text}"}}}}]}}"#
            )
        };
        for piece in ["The quick brown fox ", "jumps over the lazy dog."] {
            let data = chunk(piece);
            r.response_bytes += data.len() + 8;
            r.usage
                .observe_stream_event(ApiKind::ChatCompletions, data.as_bytes());
        }
        let e = r.finish(&PriceTable::with_overrides(&BTreeMap::new()), 1_000);
        assert_eq!(e.usage_source, UsageSource::Estimated);
        // 44 characters at 4 per token; the SSE envelope (~250 bytes) is not counted.
        assert_eq!(e.tokens.output, 11);
        assert_eq!(e.tokens.input, 102, "the prompt's text, not its bytes");
        assert_eq!(e.cost_nanos, 102 * 150 + 11 * 600);
    }

    #[test]
    fn openai_service_tier_reported_else_requested() {
        let prices = PriceTable::with_overrides(&BTreeMap::new());
        let mut r = record();
        r.served_by.as_mut().unwrap().model = "gpt-5".into();
        r.service_tier_requested = Some("flex".into());
        r.response_status = Some(200);
        r.response_complete = true;
        r.usage.observe_body(
            ApiKind::ChatCompletions,
            br#"{"model":"gpt-5-2025-08-07","usage":{"prompt_tokens":1000,"completion_tokens":100}}"#,
        );
        let e = r.finish(&prices, 1_000);
        assert_eq!(e.service_tier.as_deref(), Some("flex"));
        assert_eq!(e.priced_by.as_deref(), Some("gpt-5:2025-08-07@flex"));
        // 1000 × 0.625 + 100 × 5 µ$
        assert_eq!(e.cost_nanos, 625_000 + 500_000);

        r.usage.observe_body(
            ApiKind::ChatCompletions,
            br#"{"model":"gpt-5-2025-08-07","service_tier":"default","usage":{"prompt_tokens":1000,"completion_tokens":100}}"#,
        );
        let e = r.finish(&prices, 1_000);
        assert_eq!(
            e.service_tier.as_deref(),
            Some("default"),
            "the response wins"
        );
        assert_eq!(e.priced_by.as_deref(), Some("gpt-5:2025-08-07"));
        assert_eq!(e.cost_nanos, 1_250_000 + 1_000_000);
    }

    #[test]
    fn web_search_calls_are_a_cost_component_of_the_event() {
        let mut r = record();
        r.api = ApiKind::Messages;
        r.served_by = Some(ServedBy {
            provider: "anthropic".into(),
            lane: "an".into(),
            model: "claude-sonnet-4-5".into(),
            fixed_cost: false,
        });
        r.response_status = Some(200);
        r.response_complete = true;
        r.usage.observe_body(
            ApiKind::Messages,
            br#"{"model":"claude-sonnet-4-5-20250929","usage":{"input_tokens":1000,"output_tokens":100,"server_tool_use":{"web_search_requests":2}}}"#,
        );
        let e = r.finish(&PriceTable::with_overrides(&BTreeMap::new()), 1_000);
        assert_eq!(e.web_search_calls, 2);
        assert_eq!(e.tool_cost_nanos, 20_000_000);
        assert_eq!(e.cost_nanos, 20_000_000 + 1000 * 3_000 + 100 * 15_000);
        let text = serde_json::to_string(&e).unwrap();
        assert!(text.contains(r#""web_search_calls":2"#), "{text}");
        assert!(text.contains(r#""tool_cost_nanos":20000000"#), "{text}");
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
    fn embeddings_are_priced_from_prompt_tokens_and_token_counts_are_free() {
        let prices = PriceTable::with_overrides(&BTreeMap::new());
        let mut r = record();
        r.api = ApiKind::Embeddings;
        r.served_by.as_mut().unwrap().model = "text-embedding-3-small".into();
        r.response_status = Some(200);
        r.response_complete = true;
        r.usage.observe_body(
            ApiKind::Embeddings,
            br#"{"model":"text-embedding-3-small","usage":{"prompt_tokens":1000,"total_tokens":1000}}"#,
        );
        let e = r.finish(&prices, 1_000);
        // 1000 tokens × $0.02 / 1M = 20 n$... × 1000 = 20_000 n$.
        assert_eq!((e.tokens.input, e.cost_nanos), (1000, 20_000));
        assert_eq!(
            e.priced_by.as_deref(),
            Some("text-embedding-3-small:2024-01-25")
        );

        let mut t = record();
        t.api = ApiKind::CountTokens;
        t.served_by.as_mut().unwrap().model = "claude-haiku-4-5".into();
        t.response_status = Some(200);
        t.response_complete = true;
        t.request_bytes = 4_000;
        t.response_bytes = 20;
        t.usage
            .observe_body(ApiKind::CountTokens, br#"{"input_tokens":1000}"#);
        let e = t.finish(&prices, 1_000);
        assert_eq!(e.outcome, Outcome::Ok);
        assert_eq!((e.cost_nanos, e.tokens.total()), (0, 0));
        assert_eq!(e.usage_source, UsageSource::None);
        assert!(!e.unpriced, "free, not unpriced");
    }

    #[test]
    fn passed_through_answers_are_priced_by_their_own_usage_or_flagged_unpriced() {
        let prices = PriceTable::with_overrides(&BTreeMap::new());
        let through = |body: &[u8]| {
            let mut r = record();
            r.api = ApiKind::Passthrough;
            r.model_requested = String::new();
            r.request_bytes = 40_000;
            r.response_bytes = body.len();
            r.response_status = Some(200);
            r.response_complete = true;
            r.usage.observe_body(ApiKind::Passthrough, body);
            r
        };
        // No usage: nothing estimated, and flagged rather than hidden.
        let e = through(br#"{"id":"file-abc","object":"file","bytes":120}"#).finish(&prices, 1);
        assert_eq!((e.cost_nanos, e.tokens.total()), (0, 0));
        assert!(e.unpriced);
        assert_eq!(e.model_served, "", "not the lane's model");
        // Usage of a priced model it names: priced.
        let e = through(
            br#"{"model":"gpt-4o-mini","usage":{"prompt_tokens":1000,"completion_tokens":0}}"#,
        )
        .finish(&prices, 1);
        assert_eq!(e.cost_nanos, 150_000);
        assert!(!e.unpriced);
        // Usage without a model: unpriced, tokens kept.
        let e =
            through(br#"{"usage":{"input_tokens":50,"output_tokens":4000}}"#).finish(&prices, 1);
        assert_eq!((e.cost_nanos, e.tokens.output), (0, 4000));
        assert!(e.unpriced);
        // A batch job let through is never priced, whatever it reports.
        let mut batch = through(
            br#"{"model":"gpt-4o-mini","usage":{"prompt_tokens":1000,"completion_tokens":0}}"#,
        );
        batch.never_priced = true;
        let e = batch.finish(&prices, 1);
        assert_eq!(e.cost_nanos, 0);
        assert!(e.unpriced);
        // A provider error costs nothing and is not an unpriced request.
        let mut failed = through(br#"{"error":{"message":"no"}}"#);
        failed.response_status = Some(404);
        assert!(!failed.finish(&prices, 1).unpriced);
    }

    #[test]
    fn realtime_sessions_are_priced_by_their_text_usage_or_flagged_unpriced() {
        let prices = PriceTable::with_overrides(&BTreeMap::new());
        let session = |model: &str, events: &[&[u8]]| {
            let mut r = record();
            r.api = ApiKind::Passthrough;
            r.model_requested = String::new();
            r.usage.model = Some(model.to_string());
            r.response_status = Some(101);
            r.response_complete = true;
            for e in events {
                r.usage.observe_realtime_event(e);
            }
            r.finish(&prices, 1)
        };
        let text: &[u8] = br#"{"type":"response.done","response":{"usage":{"input_tokens":1000,"output_tokens":0,"input_token_details":{"cached_tokens":0,"text_tokens":1000,"audio_tokens":0},"output_token_details":{"text_tokens":0,"audio_tokens":0}}}}"#;
        let audio: &[u8] = br#"{"type":"response.done","response":{"usage":{"input_tokens":10,"output_tokens":20,"input_token_details":{"audio_tokens":10},"output_token_details":{"audio_tokens":20}}}}"#;
        // An accepted session is a completed request, priced when its model has a price.
        let e = session("gpt-4o-mini", &[text, text]);
        assert_eq!(e.outcome, Outcome::Ok);
        assert_eq!(
            (e.tokens.input, e.cost_nanos, e.unpriced),
            (2000, 300_000, false)
        );
        // Audio has no price in the table: the tokens are kept and the event flagged.
        let e = session("gpt-4o-mini", &[text, audio]);
        assert_eq!(
            (e.tokens.total(), e.cost_nanos, e.unpriced),
            (1030, 0, true)
        );
        // A realtime model without a price, and a session that never answered.
        let e = session("gpt-realtime", &[text]);
        assert_eq!((e.tokens.input, e.cost_nanos, e.unpriced), (1000, 0, true));
        let e = session("gpt-realtime", &[]);
        assert_eq!((e.tokens.total(), e.unpriced), (0, true));
    }

    #[test]
    fn fixed_cost_lanes_cost_nothing_and_are_not_unpriced() {
        let prices = PriceTable::with_overrides(&BTreeMap::new());
        let mut r = record();
        r.served_by = Some(ServedBy {
            provider: "openai_compatible".into(),
            lane: "vllm".into(),
            model: "gpt-4o-mini".into(),
            fixed_cost: true,
        });
        r.response_status = Some(200);
        r.response_complete = true;
        r.usage.observe_body(
            ApiKind::ChatCompletions,
            br#"{"model":"gpt-4o-mini","usage":{"prompt_tokens":1000,"completion_tokens":100}}"#,
        );
        let e = r.finish(&prices, 1);
        assert_eq!(
            (e.cost_nanos, e.unpriced),
            (0, false),
            "even with a catalogue price"
        );
        assert_eq!((e.tokens.input, e.tokens.output), (1000, 100), "counted");
        assert_eq!(e.provider.as_deref(), Some("openai_compatible"));
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
