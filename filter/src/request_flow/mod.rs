//! One HTTP request through Tollgate: attribute → read body → route → forward →
//! read usage → emit one cost event.
//!
//! One file per phase, in the order Envoy calls them: [`attribution`] (request
//! headers), [`admission`] (request body: parse, route, then [`cached`] or
//! [`wallet_gate`] (with [`count_precheck`] before a wallet refusal), then [`send`],
//! built by [`upstream`]), [`response_headers`],
//! [`response_body`] (with [`fallback`] when a lane fails), and [`completion`] (the cost
//! event, on Envoy's log callback). [`refusal`] is how any phase answers by itself;
//! [`passthrough`] refuses or sends on the endpoints Tollgate does not govern.
//! This file holds the request's state and hands each Envoy callback to its phase.
//!
//! Headers are paused until the whole body is read (the plugin sets
//! `allow_on_headers_stop_iteration`), so a request is refused or rewritten before any
//! upstream stream is opened.

mod admission;
mod attribution;
#[cfg(test)]
mod azure_tests;
#[cfg(test)]
mod bedrock_tests;
#[cfg(test)]
mod cache_bound_tests;
mod cached;
mod completion;
mod count_precheck;
#[cfg(test)]
mod count_precheck_tests;
#[cfg(test)]
mod endpoint_tests;
mod fallback;
#[cfg(test)]
mod host_call_tests;
mod passthrough;
#[cfg(test)]
mod policy_tests;
#[cfg(test)]
mod realtime_tests;
mod refusal;
mod response_body;
mod response_headers;
mod send;
#[cfg(test)]
mod tests;
mod upstream;
mod wallet_gate;

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use tollgate_core::accounting::RequestRecord;
use tollgate_core::config::filter_config::{GroupEntry, LaneEntry};
use tollgate_core::config::LedgerFailureMode;
use tollgate_core::config::ProviderKind;
use tollgate_core::event::ApiKind;
use tollgate_core::headers::{self, HeaderMap};
use tollgate_core::request::ParsedRequest;
use tollgate_core::response_stream::ResponseStream;
use tollgate_core::token_estimate::PromptText;
use tollgate_core::translate::Direction;
use tollgate_core::websocket::ServerFrames;

use crate::host::now_ms;
use crate::response_cache::SeenSlot;
use crate::runtime::Runtime;

/// Request headers that never go upstream: the client's key and Tollgate's own
/// control headers (and `accept-encoding`: usage is read from uncompressed answers).
pub(super) const CLIENT_ONLY_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    HEADER_USER,
    HEADER_WORKFLOW,
    HEADER_PROVIDER,
    "accept-encoding",
];

/// The filter translates between the OpenAI and Anthropic formats, and both to Gemini's.
pub(super) const TRANSLATION: bool = true;

/// Largest single SSE event kept while parsing a stream.
pub(super) const MAX_SSE_EVENT_BYTES: usize = 1024 * 1024;

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
pub(super) struct Prepared {
    parsed: ParsedRequest,
    lane: Rc<LaneEntry>,
    /// Lanes to try, in order, if `lane` answers 429 or 5xx.
    fallbacks: Vec<Rc<LaneEntry>>,
    body_size: usize,
    /// Upper bound of its cost, reserved from the team's credit.
    reservation: i64,
    /// It may cost something: false for free calls and fixed-cost lanes, which are
    /// never reserved against the wallet.
    charged: bool,
    /// When the lane was chosen (one clock read serves the body phase).
    planned_ms: i64,
}

/// A cache miss whose answer may be stored: the key, the entry's lifetime in seconds,
/// and the candidate slots as the lookup saw them.
pub(super) struct CacheStore {
    key: [u8; 32],
    /// The request's normalised key, remembered once its answer is stored.
    normalized: [u8; 32],
    ttl: u32,
    seen: [Option<SeenSlot>; 2],
}

pub(super) enum Gate {
    Pass,
    Refuse(Action),
    AskLedger,
    /// The wallet cannot cover the byte-bound reservation, but the lane may count the
    /// input first (`available` is quoted if the refusal stands).
    Count {
        available: i64,
    },
}

/// A `count_tokens` call in flight before a wallet refusal.
pub(super) struct CountCall {
    token: u32,
    /// The credit quoted by the refusal that stands if the count does not help.
    available: i64,
}

/// A fallback attempt in flight (made with `dispatch_http_call`).
pub(super) struct FallbackCall {
    token: u32,
    /// Size of the failed answer's body held in Envoy's buffer, replaced at the end.
    failed_body_size: usize,
    lane: Rc<LaneEntry>,
}

/// How long a fallback attempt may take (the answer is buffered, not streamed).
pub(super) const FALLBACK_TIMEOUT_SECS: u64 = 300;

#[derive(Default)]
pub(super) struct ResponseEdits {
    set: Vec<(&'static str, String)>,
    remove: Vec<&'static str>,
}

pub(super) enum ResponseBody {
    /// Not yet known (before response headers).
    Unknown,
    /// A failed answer held back (not sent to the client) while a fallback runs.
    HeldForFallback,
    /// A JSON body, buffered whole so its usage can go in a response header.
    Buffered,
    /// An event stream, read chunk by chunk as it passes (usage, and what the client
    /// gets: as is, without the usage chunk, or translated).
    Stream(ResponseStream),
    /// A WebSocket session the provider accepted (a realtime session passed through):
    /// its server messages are read for usage as they pass, unchanged.
    Upgraded(Box<ServerFrames>),
}

pub struct RequestFlow {
    rt: Rc<Runtime>,
    /// The client's request headers, read with one host call.
    request_headers: HeaderMap,
    /// The lane's response headers, read with one host call.
    response_headers: HeaderMap,
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
    /// Waiting for the ledger's answer to a credit request, or for a token count.
    pending: Option<Prepared>,
    /// The token count asked for before a wallet refusal.
    count_call: Option<CountCall>,
    /// The input was counted already: a request is counted at most once.
    counted: bool,
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
    planned: Vec<Rc<LaneEntry>>,
    fallback: Option<FallbackCall>,
    /// Failed attempts so far.
    attempt: u32,
    /// Set when the serving lane speaks the other provider's format.
    translation: Option<Direction>,
    /// The API the serving lane was called with: its answers are read as this API.
    lane_api: Option<ApiKind>,
    /// An endpoint Tollgate does not govern, sent on as it is (`other_endpoints`).
    passthrough: bool,
    /// The prompt's text is in the record (see [`RequestFlow::weigh_prompt`]).
    prompt_weighed: bool,
    /// A realtime session asked for over WebSocket, passed through.
    websocket: bool,
}

impl RequestFlow {
    pub fn new(rt: Rc<Runtime>) -> Self {
        RequestFlow {
            rt,
            request_headers: HeaderMap::default(),
            response_headers: HeaderMap::default(),
            response_edits: ResponseEdits::default(),
            started_ms: now_ms(),
            record: None,
            style: ProviderKind::Openai,
            response: ResponseBody::Unknown,
            event_sent: false,
            served_from_cache: false,
            pending: None,
            count_call: None,
            counted: false,
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
            passthrough: false,
            prompt_weighed: false,
            websocket: false,
        }
    }

    /// The first value of the client's request header `name`.
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        headers::find(&self.request_headers, name)
    }

    pub(super) fn group(&self) -> Option<&GroupEntry> {
        group_of(&self.rt, self.record.as_ref())
    }

    /// What the request costs with the usage read so far (0 before attribution).
    pub(super) fn cost_so_far(&mut self) -> i64 {
        self.weigh_prompt();
        self.record
            .as_ref()
            .map_or(0, |r| r.cost_nanos(&self.rt.prices))
    }

    /// Weighs the prompt's text for an input estimate, once, and only when the usage
    /// read so far does not say what the input was: most answers report it, so most
    /// requests never walk their body for it.
    pub(super) fn weigh_prompt(&mut self) {
        if self.prompt_weighed {
            return;
        }
        let (Some(record), Some(parsed)) = (self.record.as_mut(), self.sent.as_ref()) else {
            return;
        };
        if !record.usage.reported {
            record.prompt = PromptText::of(parsed.body());
            self.prompt_weighed = true;
        }
    }

    /// The consumer group's answer when the ledger cannot be reached for credit.
    pub(super) fn failure_mode(&self) -> LedgerFailureMode {
        self.group()
            .map_or(LedgerFailureMode::Closed, |g| g.on_ledger_unavailable)
    }

    /// Marks the request as sent without a reservation (ledger unreachable, fail open).
    pub(super) fn mark_unchecked(&mut self) {
        if let Some(r) = self.record.as_mut() {
            r.wallet_unchecked = true;
        }
    }

    pub(super) fn team(&self) -> String {
        self.record
            .as_ref()
            .map(|r| r.team.clone())
            .unwrap_or_default()
    }
}

/// The consumer group a request was attributed to.
pub(super) fn group_of<'a>(
    rt: &'a Runtime,
    record: Option<&RequestRecord>,
) -> Option<&'a GroupEntry> {
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
        // Envoy may deliver a callout's completion after the stream ended (before it
        // destroys the context): a fallback answer then has no one to go to; a lease
        // answer still installs its grant (see `on_lease_answer`).
        if self.fallback.as_ref().is_some_and(|f| f.token == token) {
            if !self.event_sent {
                self.on_fallback_answer(body_size);
            }
        } else if self.count_call.as_ref().is_some_and(|c| c.token == token) {
            self.on_count_answer(body_size);
        } else {
            self.on_lease_answer(body_size);
        }
    }
}

impl HttpContext for RequestFlow {
    fn on_http_request_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        self.attribute(end_of_stream)
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.admit_body(body_size, end_of_stream)
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, end_of_stream: bool) -> Action {
        self.on_response_headers(end_of_stream)
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        self.on_response_body(body_size, end_of_stream)
    }

    fn on_log(&mut self) {
        self.emit_event();
    }
}
