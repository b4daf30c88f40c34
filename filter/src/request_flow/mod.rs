//! One HTTP request through Tollgate: attribute → read body → route → forward →
//! read usage → emit one cost event.
//!
//! Headers are paused until the whole body is read (the plugin sets
//! `allow_on_headers_stop_iteration`), so a request is refused or rewritten before any
//! upstream stream is opened.

mod cached;
mod fallback;
#[cfg(test)]
mod tests;
mod upstream;
mod wallet_gate;

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, MapType};
use tollgate_core::accounting::{RequestRecord, ServedBy};
use tollgate_core::budget::reservation_nanos;
use tollgate_core::config::filter_config::{GroupEntry, LaneEntry};
use tollgate_core::config::LedgerFailureMode;
use tollgate_core::config::ProviderKind;
use tollgate_core::event::ApiKind;
use tollgate_core::headers::{self, Pairs};
use tollgate_core::keys;
use tollgate_core::refusal::{error_body, LocalError};
use tollgate_core::request::{clean_label, ParsedRequest};
use tollgate_core::routing::{plan, premium_status, RouteQuery};
use tollgate_core::sse::SseParser;
use tollgate_core::stream_filter::UsageChunkStripper;
use tollgate_core::translate::{Direction, StreamTranslator};

use crate::host;
use crate::host::now_ms;
use crate::ids::{new_request_id, random_u64};
use crate::response_cache::SeenSlot;
use crate::runtime::Runtime;
use crate::wallet;
use upstream::{translate_whole_answer, upstream_request};

/// Request headers that never go upstream: the client's key and Tollgate's own
/// control headers (and `accept-encoding`: usage is read from uncompressed answers).
const CLIENT_ONLY_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    HEADER_USER,
    HEADER_WORKFLOW,
    HEADER_PROVIDER,
    "accept-encoding",
];

/// The filter translates between the OpenAI and Anthropic formats.
const TRANSLATION: bool = true;

/// Largest single SSE event kept while parsing a stream.
const MAX_SSE_EVENT_BYTES: usize = 1024 * 1024;

pub const HEADER_REQUEST_ID: &str = "x-tollgate-request-id";
pub const HEADER_LANE: &str = "x-tollgate-lane";
pub const HEADER_COST: &str = "x-tollgate-cost-usd";
pub const HEADER_CACHE: &str = "x-tollgate-cache";
/// Soft-budget state: present once the team is past a billing-budget threshold.
pub const HEADER_BUDGET: &str = "x-tollgate-budget-warning";
pub const HEADER_USER: &str = "x-tollgate-user";
pub const HEADER_WORKFLOW: &str = "x-tollgate-workflow";
/// Tells the route table which provider cluster serves the request.
pub const HEADER_PROVIDER: &str = "x-tollgate-provider";

/// A request ready to go upstream once the wallet allows it.
struct Prepared {
    parsed: ParsedRequest,
    lane: LaneEntry,
    /// Lanes to try, in order, if `lane` answers 429 or 5xx.
    fallbacks: Vec<LaneEntry>,
    body_size: usize,
    /// Upper bound of its cost, reserved from the team's credit.
    reservation: i64,
    /// When the lane was chosen (one clock read serves the body phase).
    planned_ms: i64,
}

/// A cache miss whose answer may be stored: the key, the entry's lifetime in seconds,
/// and the candidate slots as the lookup saw them.
struct CacheStore {
    key: [u8; 32],
    ttl: u32,
    seen: [Option<SeenSlot>; 2],
}

enum Gate {
    Pass,
    Refuse(Action),
    AskLedger,
}

/// A fallback attempt in flight (made with `dispatch_http_call`).
struct FallbackCall {
    token: u32,
    /// Size of the failed answer's body held in Envoy's buffer, replaced at the end.
    failed_body_size: usize,
    lane: LaneEntry,
}

/// How long a fallback attempt may take (the answer is buffered, not streamed).
const FALLBACK_TIMEOUT_SECS: u64 = 300;

#[derive(Default)]
struct ResponseEdits {
    set: Vec<(&'static str, String)>,
    remove: Vec<&'static str>,
}

enum ResponseBody {
    /// Not yet known (before response headers).
    Unknown,
    /// A failed answer held back (not sent to the client) while a fallback runs.
    HeldForFallback,
    /// A JSON body, buffered whole so its usage can go in a response header.
    Buffered,
    /// An event stream, parsed chunk by chunk as it passes.
    Stream(SseParser),
}

pub struct RequestFlow {
    rt: Rc<Runtime>,
    /// The client's request headers, read with one host call.
    request_headers: Pairs,
    /// The lane's response headers, read with one host call.
    response_headers: Pairs,
    /// Response header changes not yet made: written once the headers go on (for a
    /// buffered answer, after its body is read), one call per changed header.
    response_edits: ResponseEdits,
    started_ms: i64,
    /// Set once the caller is attributed to a consumer group; events need a team.
    record: Option<RequestRecord>,
    /// The API style for local error bodies.
    style: ProviderKind,
    response: ResponseBody,
    event_sent: bool,
    /// The answer came from the cache (sent locally).
    served_from_cache: bool,
    /// Waiting for the ledger's answer to a credit request.
    pending: Option<Prepared>,
    /// (lease id, amount) reserved from the team's credit, settled in `on_log`.
    reservation: Option<(u64, i64)>,
    /// The team's soft-budget notice, read with the reservation.
    budget_notice: Option<String>,
    /// Set on a cache miss that may be stored: the key and the entry's lifetime.
    cache_store: Option<CacheStore>,
    /// A streamed answer being captured for the cache (dropped past the size limit).
    captured: Option<Vec<u8>>,
    /// The lane the request was sent to, for its usage and health statistics.
    upstream_lane: Option<String>,
    /// The request as parsed, kept for fallback attempts on other lanes.
    sent: Option<ParsedRequest>,
    /// Lanes still to try if the current one fails.
    planned: Vec<LaneEntry>,
    fallback: Option<FallbackCall>,
    /// Failed attempts so far.
    attempt: u32,
    /// Set when the serving lane speaks the other provider's format.
    translation: Option<Direction>,
    /// The API the serving lane was called with: its answers are read as this API.
    lane_api: Option<ApiKind>,
    /// Rewrites a translated stream chunk by chunk.
    stream_translator: Option<StreamTranslator>,
    /// Removes the usage chunk Tollgate asked for but the client did not.
    usage_stripper: Option<UsageChunkStripper>,
}

impl RequestFlow {
    pub fn new(rt: Rc<Runtime>) -> Self {
        RequestFlow {
            rt,
            request_headers: Vec::new(),
            response_headers: Vec::new(),
            response_edits: ResponseEdits::default(),
            started_ms: now_ms(),
            record: None,
            style: ProviderKind::Openai,
            response: ResponseBody::Unknown,
            event_sent: false,
            served_from_cache: false,
            pending: None,
            reservation: None,
            budget_notice: None,
            cache_store: None,
            captured: None,
            upstream_lane: None,
            sent: None,
            planned: Vec::new(),
            fallback: None,
            attempt: 0,
            translation: None,
            lane_api: None,
            stream_translator: None,
            usage_stripper: None,
        }
    }

    fn header(&self, name: &str) -> Option<String> {
        headers::find(&self.request_headers, name).map(str::to_string)
    }

    /// Answers the client locally with a provider-style error; nothing goes upstream.
    fn refuse(&mut self, error: LocalError, message: &str) -> Action {
        self.rt.tick_buffer.count(self.rt.metrics.local_errors, 1);
        let team = self.record.as_ref().map_or("unknown", |r| r.team.as_str());
        let labels = [("team", team), ("reason", error.reason())];
        self.rt.tick_buffer.count_named(
            tollgate_core::metric_names::stat_name(tollgate_core::metric_names::REFUSALS, &labels),
            1,
        );
        let request_id = self
            .record
            .as_ref()
            .map(|r| r.id.clone())
            .unwrap_or_default();
        if let Some(r) = self.record.as_mut() {
            r.local_error = Some(error);
        }
        let body = error_body(self.style, error, message);
        let mut headers = vec![("content-type", "application/json")];
        if !request_id.is_empty() {
            headers.push((HEADER_REQUEST_ID, request_id.as_str()));
        }
        if let Err(status) = host::send_response(error.status(), &headers, body.as_bytes()) {
            log::warn!("tollgate: cannot send local reply: {status:?}");
        }
        Action::Pause
    }

    fn emit_event(&mut self) {
        if self.event_sent {
            return;
        }
        let Some(record) = self.record.as_ref() else {
            return;
        };
        self.event_sent = true;
        let now = now_ms();
        let event = record.finish(&self.rt.prices, now);
        if let Some(lane) = self.upstream_lane.take() {
            // 429 and 5xx (and no answer at all) count against the lane's health.
            let ok = matches!(event.http_status, 200..=499) && event.http_status != 429;
            self.lane_finished(&lane, &event, ok, now);
        }
        // Every exit path ends here (success, error, reset, client gone): settle once.
        if let Some((lease_id, amount)) = self.reservation.take() {
            wallet::settle(&event.team, lease_id, amount, event.cost_nanos);
        }
        self.rt.tick_buffer.count_event(&event);
        self.enqueue(&event);
    }

    fn lane_finished(
        &self,
        lane: &str,
        event: &tollgate_core::event::CostEvent,
        ok: bool,
        now: i64,
    ) {
        let routing = &self.rt.config.routing;
        if ok {
            let lanes = &self.rt.lanes;
            lanes.succeeded(lane, now, event.tokens.total(), event.latency_ms);
        } else {
            self.rt.lanes.failed(
                lane,
                now,
                event.tokens.total(),
                routing.failures_to_cool_down,
                i64::from(routing.cooldown_seconds) * 1000,
            );
        }
    }

    fn enqueue(&self, event: &tollgate_core::event::CostEvent) {
        if !self.rt.config.cost_tracking_enabled {
            return;
        }
        self.rt.enqueue_event(event);
    }

    /// The body phase: parse, choose a lane, check the wallet, then forward.
    fn forward(&mut self, body_size: usize) -> Action {
        let prepared = match self.prepare(body_size) {
            Ok(p) => p,
            Err(action) => return action,
        };
        if let Some(action) = self.answer_from_cache(&prepared) {
            return action;
        }
        if !self.rt.config.wallet_enforcement {
            return self.send(prepared);
        }
        match self.try_reserve(&prepared) {
            Gate::Pass => self.send(prepared),
            Gate::Refuse(action) => action,
            Gate::AskLedger => self.ask_ledger(prepared),
        }
    }

    /// Parses the body and chooses the lane; refusals come back as the action to return.
    fn prepare(&mut self, body_size: usize) -> Result<Prepared, Action> {
        let Some(api) = self.record.as_ref().map(|r| r.api) else {
            return Err(Action::Continue);
        };
        let bytes = self.get_http_request_body(0, body_size).unwrap_or_default();
        let parsed = match ParsedRequest::parse(api, &bytes) {
            Ok(p) => p,
            Err(e) => return Err(self.refuse(LocalError::BadRequest, &e.0)),
        };
        let rt = Rc::clone(&self.rt);
        let Some(group) = group_of(&rt, self.record.as_ref()) else {
            return Err(Action::Continue);
        };
        let now = now_ms();
        let workflow = self.record.as_ref().and_then(|r| r.workflow.clone());
        let query = RouteQuery {
            api,
            workflow: workflow.as_deref(),
            requested_model: &parsed.facts.model,
            group,
            translation: TRANSLATION,
            random: random_u64(now),
            now_ms: now,
        };
        let lanes = match plan(&self.rt.config, &self.rt.prices, &query, |l| {
            self.rt.lanes.read(&l.id, now)
        }) {
            Ok(lanes) => lanes.into_iter().cloned().collect::<Vec<_>>(),
            Err(e) => return Err(self.refuse(LocalError::NoLane, &e.0)),
        };
        let lane = lanes[0].clone();
        if let Some(r) = self.record.as_mut() {
            r.request_bytes = bytes.len();
            r.model_requested = parsed.facts.model.clone();
            r.stream = parsed.facts.stream;
            if r.user.is_none() {
                r.user = parsed.facts.user.clone();
            }
            r.served_by = Some(ServedBy {
                provider: lane.provider.as_str().to_string(),
                lane: lane.id.clone(),
                model: lane.model.clone(),
            });
            (r.premium, r.premium_approved) = premium_status(&lane, group, r.workflow.as_deref());
        }
        // Reserve for the dearest lane the request may end up on (fallbacks included).
        let reservation = lanes
            .iter()
            .filter_map(|l| {
                let price = self.rt.prices.lookup(&l.model)?;
                let max_output = parsed
                    .facts
                    .max_output_tokens
                    .unwrap_or(l.max_output_tokens);
                Some(reservation_nanos(price, bytes.len(), max_output))
            })
            .max()
            .unwrap_or(0);
        Ok(Prepared {
            parsed,
            lane,
            fallbacks: lanes[1..].to_vec(),
            body_size,
            reservation,
            planned_ms: now,
        })
    }

    fn group(&self) -> Option<&GroupEntry> {
        group_of(&self.rt, self.record.as_ref())
    }

    /// What the request costs with the usage read so far (0 before attribution).
    fn cost_so_far(&self) -> i64 {
        self.record
            .as_ref()
            .map_or(0, |r| r.cost_nanos(&self.rt.prices))
    }

    /// The consumer group's answer when the ledger cannot be reached for credit.
    fn failure_mode(&self) -> LedgerFailureMode {
        self.group()
            .map_or(LedgerFailureMode::Closed, |g| g.on_ledger_unavailable)
    }

    /// Marks the request as sent without a reservation (ledger unreachable, fail open).
    fn mark_unchecked(&mut self) {
        if let Some(r) = self.record.as_mut() {
            r.wallet_unchecked = true;
        }
    }

    fn team(&self) -> String {
        self.record
            .as_ref()
            .map(|r| r.team.clone())
            .unwrap_or_default()
    }

    fn finish_response(&mut self, body_size: usize) {
        // Usage is read from the lane's own answer, before any translation.
        let api = match self.record.as_ref() {
            Some(r) => self.lane_api.unwrap_or(r.api),
            None => return,
        };
        match &mut self.response {
            ResponseBody::Buffered => {
                let body = self
                    .get_http_response_body(0, body_size)
                    .unwrap_or_default();
                if let Some(r) = self.record.as_mut() {
                    r.response_bytes = body.len();
                    r.usage.observe_body(api, &body);
                    r.response_complete = true;
                }
                // Priced once: for the cost header and for a cache entry.
                let cost_nanos = self.cost_so_far();
                let cost = tollgate_core::money::format_usd(cost_nanos);
                self.response_edits.set.push((HEADER_COST, cost));
                if self.cache_store.is_some() {
                    let ct = headers::find(&self.response_headers, "content-type")
                        .unwrap_or("application/json")
                        .to_string();
                    self.store_in_cache(&body, ct, cost_nanos);
                }
                if let (Some(d), Some(parsed)) = (self.translation, self.sent.as_ref()) {
                    let status = self
                        .record
                        .as_ref()
                        .and_then(|r| r.response_status)
                        .unwrap_or(0);
                    let client_body =
                        translate_whole_answer(d, status, false, &body, &parsed.facts.model, false);
                    self.response_edits
                        .set
                        .push(("content-length", client_body.len().to_string()));
                    let _ =
                        host::replace_body(BufferType::HttpResponseBody, body_size, &client_body);
                }
                self.apply_response_edits();
            }
            ResponseBody::Stream(parser) => {
                if let Some(r) = self.record.as_mut() {
                    parser.finish(&mut |e| r.usage.observe_stream_event(api, &e.data));
                    r.response_complete = true;
                }
                if let Some(captured) = self.captured.take() {
                    let cost_nanos = self.cost_so_far();
                    self.store_in_cache(&captured, "text/event-stream".into(), cost_nanos);
                }
            }
            ResponseBody::Unknown | ResponseBody::HeldForFallback => {}
        }
    }

    /// Makes the pending response header changes (only the headers that differ).
    fn apply_response_edits(&mut self) {
        let edits = std::mem::take(&mut self.response_edits);
        if edits.set.is_empty() && edits.remove.is_empty() {
            return;
        }
        let set: Vec<(&str, &str)> = edits.set.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let changes = headers::Changes::between(&self.response_headers, &edits.remove, &set);
        if let Err(status) = host::apply_changes(MapType::HttpResponseHeaders, &changes) {
            log::warn!("tollgate: cannot set response headers: {status:?}");
        }
    }

    /// Rewrites the request for its lane and lets it go upstream.
    fn send(&mut self, prepared: Prepared) -> Action {
        let Prepared {
            parsed,
            lane,
            body_size,
            fallbacks,
            planned_ms,
            ..
        } = prepared;
        let Some(credential) = self.rt.credential(&lane).map(str::to_string) else {
            let msg = format!(
                "provider credential for lane '{}' is not configured",
                lane.id
            );
            return self.refuse(LocalError::Internal, &msg);
        };
        let anthropic_version = self.header("anthropic-version");
        let upstream =
            match upstream_request(&parsed, &lane, &credential, anthropic_version.as_deref()) {
                Ok(u) => u,
                Err(e) => return self.refuse(LocalError::BadRequest, &e.0),
            };
        self.translation = upstream.direction;
        self.lane_api = Some(upstream.lane_api);
        if upstream.direction.is_some() {
            // The cache stores answers in the client's format only for native lanes.
            self.cache_store = None;
        }
        // The client's key never travels further, nor do our own control headers. Only
        // the headers that change are touched, one call each. Changing request headers
        // makes Envoy select the route again (it clears the cached route).
        let mut set: Vec<(&str, &str)> = upstream
            .headers
            .iter()
            .filter(|(name, _)| name != ":method" && name != "content-type")
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        set.push((HEADER_PROVIDER, lane.provider.as_str()));
        let changes = headers::Changes::between(&self.request_headers, CLIENT_ONLY_HEADERS, &set);
        let mut ok = host::apply_changes(MapType::HttpRequestHeaders, &changes).is_ok();
        if let Some(body) = &upstream.body {
            ok = ok && host::replace_body(BufferType::HttpRequestBody, body_size, body).is_ok();
        }
        if !ok {
            return self.refuse(
                LocalError::Internal,
                "Tollgate could not prepare the upstream request",
            );
        }
        self.rt.lanes.started(&lane.id, planned_ms);
        self.upstream_lane = Some(lane.id.clone());
        self.planned = fallbacks;
        self.sent = Some(parsed);
        Action::Continue
    }
}

/// The consumer group a request was attributed to.
fn group_of<'a>(rt: &'a Runtime, record: Option<&RequestRecord>) -> Option<&'a GroupEntry> {
    let name = &record?.consumer_group;
    rt.config.groups.iter().find(|g| &g.name == name)
}

impl Context for RequestFlow {
    fn on_http_call_response(
        &mut self,
        token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        if self.fallback.as_ref().is_some_and(|f| f.token == token) {
            self.on_fallback_answer(body_size);
        } else {
            self.on_lease_answer(body_size);
        }
    }
}

impl HttpContext for RequestFlow {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        self.rt.tick_buffer.count(self.rt.metrics.requests, 1);
        self.request_headers = host::get_headers(MapType::HttpRequestHeaders);
        let path = self.header(":path").unwrap_or_default();
        let api = ApiKind::from_path(&path);
        let authorization = self.header("authorization");
        let x_api_key = self.header("x-api-key");
        self.style = match api {
            Some(a) => a.native_provider(),
            None if x_api_key.is_some() && authorization.is_none() => ProviderKind::Anthropic,
            None => ProviderKind::Openai,
        };

        let Some(key) = keys::client_key(authorization.as_deref(), x_api_key.as_deref()) else {
            self.rt.tick_buffer.count(self.rt.metrics.unauthorized, 1);
            return self.refuse(
                LocalError::MissingKey,
                "Missing API key: send your team key as `Authorization: Bearer <key>` or `x-api-key`.",
            );
        };
        let rt = Rc::clone(&self.rt);
        let Some(group) = rt.group_for_key(key) else {
            self.rt.tick_buffer.count(self.rt.metrics.unauthorized, 1);
            return self.refuse(
                LocalError::UnknownKey,
                "Incorrect API key provided: it matches no Tollgate consumer group.",
            );
        };

        let id = new_request_id(self.started_ms as u64);
        let mut record = RequestRecord::new(
            id,
            self.started_ms,
            group.name.clone(),
            group.team.clone(),
            api.unwrap_or(ApiKind::ChatCompletions),
        );
        record.user = self.header(HEADER_USER).as_deref().and_then(clean_label);
        record.workflow = self
            .header(HEADER_WORKFLOW)
            .as_deref()
            .and_then(clean_label);
        self.record = Some(record);

        if api.is_none() || self.header(":method").as_deref() != Some("POST") {
            let msg = format!("Tollgate serves POST /v1/chat/completions, /v1/responses and /v1/messages, not {path}");
            return self.refuse(LocalError::UnsupportedEndpoint, &msg);
        }
        if end_of_stream {
            return self.refuse(LocalError::BadRequest, "request body is required");
        }
        let declared = self
            .header("content-length")
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > u64::from(self.rt.config.max_request_bytes)) {
            let msg = format!(
                "request body exceeds {} bytes",
                self.rt.config.max_request_bytes
            );
            return self.refuse(LocalError::BodyTooLarge, &msg);
        }
        Action::Pause
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.record.as_ref().is_none_or(|r| r.local_error.is_some()) {
            return Action::Pause;
        }
        if body_size > self.rt.config.max_request_bytes as usize {
            let msg = format!(
                "request body exceeds {} bytes",
                self.rt.config.max_request_bytes
            );
            return self.refuse(LocalError::BodyTooLarge, &msg);
        }
        if !end_of_stream {
            return Action::Pause;
        }
        self.forward(body_size)
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        if self.served_from_cache {
            return Action::Continue;
        }
        let Some(record) = self.record.as_mut() else {
            return Action::Continue;
        };
        if record.local_error.is_some() {
            return Action::Continue;
        }
        self.response_headers = host::get_headers(MapType::HttpResponseHeaders);
        let status = headers::find(&self.response_headers, ":status")
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(0);
        let is_stream = headers::find(&self.response_headers, "content-type")
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        if (status == 429 || status >= 500) && !self.planned.is_empty() && self.sent.is_some() {
            // Another lane may serve: hold this answer back and try it.
            self.record_failed_attempt(status);
            self.response = ResponseBody::HeldForFallback;
            if end_of_stream {
                return self.start_fallback(0);
            }
            return Action::Pause;
        }
        let Some(record) = self.record.as_mut() else {
            return Action::Continue;
        };
        record.response_status = Some(status);
        let mut set = vec![(HEADER_REQUEST_ID, record.id.clone())];
        // Notices ride on credit leases: read with the reservation, none without one.
        if let Some(notice) = self.budget_notice.take() {
            set.push((HEADER_BUDGET, notice));
        }
        if let Some(served) = record.served_by.as_ref() {
            set.push((HEADER_LANE, served.lane.clone()));
        }
        self.response_edits.set = set;
        if end_of_stream {
            record.response_complete = true;
            self.apply_response_edits();
            return Action::Continue;
        }
        if self.translation.is_some() {
            // The body changes length when translated.
            self.response_edits.remove.push("content-length");
        }
        if is_stream {
            if let (Some(d), Some(parsed), true) = (
                self.translation,
                self.sent.as_ref(),
                (200..300).contains(&status),
            ) {
                let created = (now_ms() / 1000) as u64;
                self.stream_translator = Some(
                    StreamTranslator::new(
                        d,
                        &parsed.facts.model,
                        parsed.facts.client_wants_stream_usage,
                    )
                    .with_created(created),
                );
            }
            let unasked_usage = self.sent.as_ref().is_some_and(|p| {
                p.api == ApiKind::ChatCompletions && !p.facts.client_wants_stream_usage
            });
            if self.translation.is_none() && unasked_usage && (200..300).contains(&status) {
                self.response_edits.remove.push("content-length");
                self.usage_stripper = Some(UsageChunkStripper::new(MAX_SSE_EVENT_BYTES));
            }
            self.response = ResponseBody::Stream(SseParser::new(MAX_SSE_EVENT_BYTES));
            if self.cache_store.is_some() && status == 200 {
                self.captured = Some(Vec::new());
            }
            self.apply_response_edits();
            Action::Continue
        } else {
            // Hold the headers until the body's usage is known, so the cost can be a header.
            self.response = ResponseBody::Buffered;
            Action::Pause
        }
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let api = match self.record.as_ref() {
            Some(r) if r.local_error.is_none() && !self.served_from_cache => {
                self.lane_api.unwrap_or(r.api)
            }
            _ => return Action::Continue,
        };
        // Each streamed call sees only the new chunk: earlier ones were passed on.
        let chunk = match self.response {
            ResponseBody::Stream(_) => self
                .get_http_response_body(0, body_size)
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        if let ResponseBody::HeldForFallback = self.response {
            if !end_of_stream {
                return Action::Pause;
            }
            // The fallback's answer replaces this body; if none can be made, the
            // client gets the original error.
            if let Action::Pause = self.start_fallback(body_size) {
                return Action::Pause;
            }
            self.response = ResponseBody::Unknown;
            return Action::Continue;
        }
        match &mut self.response {
            ResponseBody::Stream(parser) => {
                if let Some(captured) = self.captured.as_mut() {
                    if captured.len() + chunk.len() <= self.rt.config.cache.max_entry_bytes as usize
                    {
                        captured.extend_from_slice(&chunk);
                    } else {
                        self.captured = None;
                        self.cache_store = None;
                    }
                }
                if let Some(r) = self.record.as_mut() {
                    r.response_bytes += chunk.len();
                    parser.push(&chunk, &mut |e| r.usage.observe_stream_event(api, &e.data));
                }
                if let Some(stripper) = self.usage_stripper.as_mut() {
                    let mut out = stripper.push(&chunk);
                    if end_of_stream {
                        out.extend(stripper.finish());
                    }
                    let _ = host::replace_body(BufferType::HttpResponseBody, body_size, &out);
                }
                if let Some(t) = self.stream_translator.as_mut() {
                    // The client gets the translated events; the lane's were read above.
                    let mut out = t.push(&chunk);
                    if end_of_stream {
                        out.extend(t.finish());
                    }
                    let _ = host::replace_body(BufferType::HttpResponseBody, body_size, &out);
                }
            }
            ResponseBody::Buffered if !end_of_stream => {
                if body_size > self.rt.config.max_response_bytes as usize {
                    // Too large to hold: let it through and account from what we have.
                    self.response = ResponseBody::Unknown;
                    self.apply_response_edits();
                    if let Some(r) = self.record.as_mut() {
                        r.response_bytes = body_size;
                    }
                    return Action::Continue;
                }
                return Action::Pause;
            }
            _ => {}
        }
        if end_of_stream {
            self.finish_response(body_size);
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        self.emit_event();
    }
}
