//! Token usage from provider responses: whole JSON bodies and streamed events.
//!
//! Only the usage, model, service tier and tool-call fields are deserialised; answer
//! text is skipped by serde and never kept. In streams, the length of the text
//! delivered is measured (not kept), to estimate output a cut stream never reported.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::event::{ApiKind, Tokens};
use crate::json_scan::{self, Kind};
use crate::token_estimate::DeliveredText;

/// Reads a field whose shape the filter does not control: a value of another shape
/// is treated as absent instead of failing the whole event (and losing its usage).
fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(v).ok())
}

#[derive(Deserialize, Default)]
struct Details {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

/// OpenAI Chat Completions usage.
#[derive(Deserialize)]
struct ChatUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<Details>,
}

/// OpenAI Responses usage.
#[derive(Deserialize)]
struct ResponsesUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    input_tokens_details: Option<Details>,
}

/// Anthropic `usage.cache_creation`: cache writes by lifetime.
#[derive(Deserialize)]
struct CacheCreation {
    ephemeral_5m_input_tokens: Option<u64>,
    ephemeral_1h_input_tokens: Option<u64>,
}

/// Anthropic `usage.server_tool_use`.
#[derive(Deserialize)]
struct ServerToolUse {
    web_search_requests: Option<u64>,
}

/// Anthropic Messages usage. Every field is optional because `message_delta` events
/// may carry only `output_tokens`.
#[derive(Deserialize)]
struct MessagesUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "lenient")]
    cache_creation: Option<CacheCreation>,
    #[serde(default, deserialize_with = "lenient")]
    server_tool_use: Option<ServerToolUse>,
    #[serde(default, deserialize_with = "lenient")]
    service_tier: Option<String>,
}

impl ChatUsage {
    fn tokens(&self) -> Tokens {
        let cached = self
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0)
            .min(self.prompt_tokens);
        Tokens {
            input: self.prompt_tokens - cached,
            cached_input: cached,
            output: self.completion_tokens,
            ..Tokens::default()
        }
    }
}

impl ResponsesUsage {
    fn tokens(&self) -> Tokens {
        let cached = self
            .input_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0)
            .min(self.input_tokens);
        Tokens {
            input: self.input_tokens - cached,
            cached_input: cached,
            output: self.output_tokens,
            ..Tokens::default()
        }
    }
}

#[derive(Deserialize)]
struct ChatBody {
    model: Option<String>,
    usage: Option<ChatUsage>,
    #[serde(default, deserialize_with = "lenient")]
    service_tier: Option<String>,
}

/// An answer of an endpoint Tollgate passes through: its usage is read in whichever
/// OpenAI shape it comes (`prompt_tokens`/`completion_tokens` or
/// `input_tokens`/`output_tokens`), if any.
#[derive(Deserialize)]
struct PassthroughBody {
    #[serde(default, deserialize_with = "lenient")]
    model: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    usage: Option<serde_json::Map<String, serde_json::Value>>,
}

impl PassthroughBody {
    fn tokens(&self) -> Option<Tokens> {
        let usage = serde_json::Value::Object(self.usage.clone()?);
        if usage.get("prompt_tokens").is_some() {
            serde_json::from_value::<ChatUsage>(usage)
                .ok()
                .map(|u| u.tokens())
        } else if usage.get("input_tokens").is_some() {
            serde_json::from_value::<ResponsesUsage>(usage)
                .ok()
                .map(|u| u.tokens())
        } else {
            None
        }
    }
}

/// A realtime session's token counts by kind (`input_token_details`,
/// `output_token_details`).
#[derive(Deserialize, Default)]
struct RealtimeDetails {
    #[serde(default)]
    cached_tokens: u64,
    #[serde(default)]
    audio_tokens: u64,
}

/// The usage of one response of an OpenAI Realtime session (`response.done`).
#[derive(Deserialize)]
struct RealtimeUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default, deserialize_with = "lenient")]
    input_token_details: Option<RealtimeDetails>,
    #[serde(default, deserialize_with = "lenient")]
    output_token_details: Option<RealtimeDetails>,
}

#[derive(Deserialize)]
struct RealtimeResponse {
    #[serde(default, deserialize_with = "lenient")]
    usage: Option<RealtimeUsage>,
}

#[derive(Deserialize)]
struct RealtimeDone {
    response: Option<RealtimeResponse>,
}

/// An item of a Responses `output` array; only its type is read.
#[derive(Deserialize)]
struct OutputItem {
    #[serde(rename = "type", default, deserialize_with = "lenient")]
    kind: Option<String>,
}

fn web_search_calls(items: &[OutputItem]) -> u64 {
    items
        .iter()
        .filter(|i| i.kind.as_deref() == Some("web_search_call"))
        .count() as u64
}

#[derive(Deserialize)]
struct ResponsesObject {
    model: Option<String>,
    usage: Option<ResponsesUsage>,
    #[serde(default, deserialize_with = "lenient")]
    service_tier: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    output: Option<Vec<OutputItem>>,
}

/// Responses stream events whose `delta` is text shown to the client.
const RESPONSES_TEXT_DELTAS: &[&str] = &[
    "response.output_text.delta",
    "response.refusal.delta",
    "response.function_call_arguments.delta",
    "response.reasoning_summary_text.delta",
    "response.reasoning_text.delta",
    "response.custom_tool_call_input.delta",
];

#[derive(Deserialize)]
struct ResponsesStreamEvent {
    #[serde(rename = "type")]
    kind: Option<String>,
    response: Option<ResponsesObject>,
    #[serde(default, deserialize_with = "lenient")]
    delta: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    item: Option<OutputItem>,
}

#[derive(Deserialize)]
struct MessagesBody {
    model: Option<String>,
    usage: Option<MessagesUsage>,
}

/// A `content_block_delta`'s delta: text, tool input JSON or thinking.
#[derive(Deserialize)]
struct MessagesDelta {
    #[serde(default, deserialize_with = "lenient")]
    text: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    partial_json: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    thinking: Option<String>,
}

#[derive(Deserialize)]
struct MessagesStreamEvent {
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<MessagesBody>,
    usage: Option<MessagesUsage>,
    #[serde(default, deserialize_with = "lenient")]
    delta: Option<MessagesDelta>,
}

/// The text a chat chunk's `choices` deliver (content, refusal, legacy `text`, tool
/// names and arguments), scanned. `None` when `choices` is not an array of objects: the
/// lenient typed read skips such a list whole.
fn chat_choices_text(choices: &[u8]) -> Option<DeliveredText> {
    let mut text = DeliveredText::default();
    let string = |text: &mut DeliveredText, value: &[u8]| {
        if let Some(body) = json_scan::string_body(value) {
            text.add_json_escaped(body);
        }
    };
    let mut all_objects = true;
    json_scan::items(choices)?.for_each(|choice| {
        let Some(members) = json_scan::members(choice) else {
            all_objects = false;
            return;
        };
        members.for_each(|key, value| match key {
            b"text" => string(&mut text, value),
            b"delta" => {
                if let Some(delta) = json_scan::members(value) {
                    delta.for_each(|key, value| match key {
                        b"content" | b"refusal" => string(&mut text, value),
                        b"tool_calls" => {
                            if let Some(calls) = tool_calls_text(value) {
                                text.add_units_of(&calls);
                            }
                        }
                        _ => {}
                    });
                }
            }
            _ => {}
        });
    });
    all_objects.then_some(text)
}

/// The names and arguments of a chat delta's `tool_calls`; `None` when it is not an
/// array of objects.
fn tool_calls_text(calls: &[u8]) -> Option<DeliveredText> {
    let mut text = DeliveredText::default();
    let mut all_objects = true;
    json_scan::items(calls)?.for_each(|call| {
        let Some(members) = json_scan::members(call) else {
            all_objects = false;
            return;
        };
        members.for_each(|key, value| {
            if key != b"function" {
                return;
            }
            if let Some(function) = json_scan::members(value) {
                function.for_each(|key, value| {
                    if matches!(key, b"name" | b"arguments") {
                        if let Some(body) = json_scan::string_body(value) {
                            text.add_json_escaped(body);
                        }
                    }
                });
            }
        });
    });
    all_objects.then_some(text)
}

/// Gemini `usageMetadata`. `promptTokenCount` includes the cached tokens;
/// thinking (`thoughtsTokenCount`) is billed as output beside `candidatesTokenCount`;
/// `toolUsePromptTokenCount` (Google's own tools' results fed back) as input.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiUsage {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    cached_content_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
    #[serde(default)]
    tool_use_prompt_token_count: u64,
}

impl GeminiUsage {
    fn tokens(&self) -> Tokens {
        let prompt = self
            .prompt_token_count
            .saturating_add(self.tool_use_prompt_token_count);
        let cached = self.cached_content_token_count.min(prompt);
        Tokens {
            input: prompt - cached,
            cached_input: cached,
            output: self
                .candidates_token_count
                .saturating_add(self.thoughts_token_count),
            ..Tokens::default()
        }
    }
}

/// Bedrock Converse `usage` (in the answer, or the stream's `metadata` event).
/// `inputTokens` excludes the cache reads and writes, which are reported apart.
#[derive(Deserialize)]
struct ConverseUsage {
    #[serde(default, rename = "inputTokens")]
    input_tokens: u64,
    #[serde(default, rename = "outputTokens")]
    output_tokens: u64,
    #[serde(default, rename = "cacheReadInputTokens")]
    cache_read_input_tokens: u64,
    #[serde(default, rename = "cacheWriteInputTokens")]
    cache_write_input_tokens: u64,
}

impl ConverseUsage {
    fn tokens(&self) -> Tokens {
        Tokens {
            input: self.input_tokens,
            cached_input: self.cache_read_input_tokens,
            cache_write: self.cache_write_input_tokens,
            output: self.output_tokens,
            ..Tokens::default()
        }
    }
}

/// A Gemini `GenerateContentResponse`, whole or one streamed chunk of it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiResponse {
    #[serde(default, deserialize_with = "lenient")]
    model_version: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    usage_metadata: Option<GeminiUsage>,
    #[serde(default, deserialize_with = "lenient")]
    candidates: Option<Vec<GeminiCandidate>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiCandidate {
    #[serde(default, deserialize_with = "lenient")]
    content: Option<GeminiContent>,
    #[serde(default, deserialize_with = "lenient")]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct GeminiContent {
    #[serde(default, deserialize_with = "lenient")]
    parts: Option<Vec<GeminiPart>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeminiPart {
    #[serde(default, deserialize_with = "lenient")]
    text: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    function_call: Option<serde_json::Value>,
}

/// A Converse answer, or the payload of one ConverseStream event (told apart by the
/// fields they carry: `usage` in `metadata`, `delta` in `contentBlockDelta`).
#[derive(Deserialize)]
struct ConverseObject {
    #[serde(default, deserialize_with = "lenient")]
    usage: Option<ConverseUsage>,
    #[serde(default, deserialize_with = "lenient")]
    delta: Option<ConverseDelta>,
}

#[derive(Deserialize)]
struct ConverseDelta {
    #[serde(default, deserialize_with = "lenient")]
    text: Option<String>,
    #[serde(default, rename = "toolUse", deserialize_with = "lenient")]
    tool_use: Option<ConverseToolDelta>,
}

#[derive(Deserialize)]
struct ConverseToolDelta {
    #[serde(default, deserialize_with = "lenient")]
    input: Option<String>,
}

/// Usage gathered from one response, whole or streamed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageTracker {
    /// The provider reported usage at least once.
    pub reported: bool,
    /// The output count is the provider's final one. False while only Anthropic's
    /// `message_start` placeholder was seen.
    pub output_reported: bool,
    pub tokens: Tokens,
    /// The model the provider says served the request.
    pub model: Option<String>,
    /// The service tier the provider says processed the request.
    pub service_tier: Option<String>,
    /// Web search calls the provider ran (server-side tool use).
    pub web_search_calls: u64,
    /// Audio tokens among `tokens` (realtime sessions): Tollgate's prices have no
    /// audio rates, so usage with any is recorded unpriced.
    pub audio_tokens: u64,
    /// Text delivered in the stream so far (measured, not kept).
    pub delivered: DeliveredText,
}

impl UsageTracker {
    /// Reads a complete (non-streamed) JSON response body.
    pub fn observe_body(&mut self, api: ApiKind, body: &[u8]) {
        match api {
            // Embeddings report `usage.prompt_tokens` (and `total_tokens`) only.
            ApiKind::ChatCompletions | ApiKind::Completions | ApiKind::Embeddings => {
                if let Ok(b) = serde_json::from_slice::<ChatBody>(body) {
                    self.set_model(b.model);
                    self.set_tier(b.service_tier);
                    if let Some(u) = b.usage {
                        self.set(u.tokens());
                    }
                }
            }
            ApiKind::Responses => {
                if let Ok(b) = serde_json::from_slice::<ResponsesObject>(body) {
                    self.observe_response_object(b, true);
                }
            }
            ApiKind::Messages => {
                if let Ok(b) = serde_json::from_slice::<MessagesBody>(body) {
                    self.set_model(b.model);
                    if let Some(u) = b.usage {
                        self.merge_messages_usage(&u, true);
                    }
                }
            }
            // Its `input_tokens` is a count, not usage: the provider charges nothing.
            ApiKind::CountTokens => {}
            ApiKind::Passthrough => self.observe_passthrough(body),
            ApiKind::GenerateContent => self.observe_gemini(body, false),
            // Bedrock names no model in its answer: the lane's stands.
            ApiKind::Converse => self.observe_converse(body),
        }
    }

    /// A Gemini answer or stream chunk. Every streamed chunk carries the usage so far;
    /// the output count is final once a candidate has a finish reason (the last
    /// chunk), or always for a whole answer.
    fn observe_gemini(&mut self, data: &[u8], streamed: bool) {
        let Ok(r) = serde_json::from_slice::<GeminiResponse>(data) else {
            return;
        };
        self.set_model(r.model_version);
        let mut finished = !streamed;
        for c in r.candidates.into_iter().flatten() {
            finished |= c.finish_reason.is_some();
            if !streamed {
                continue;
            }
            for part in c.content.and_then(|c| c.parts).into_iter().flatten() {
                self.deliver(part.text.as_deref());
                if let Some(call) = part.function_call {
                    self.deliver(Some(&call.to_string()));
                }
            }
        }
        if let Some(u) = r.usage_metadata {
            self.tokens = u.tokens();
            self.reported = true;
            self.output_reported = finished;
        }
    }

    fn observe_passthrough(&mut self, data: &[u8]) {
        if let Ok(b) = serde_json::from_slice::<PassthroughBody>(data) {
            if let Some(tokens) = b.tokens() {
                self.set(tokens);
            }
            self.set_model(b.model);
        }
    }

    /// One server event of an OpenAI Realtime session (a WebSocket text message):
    /// each `response.done` adds its response's usage to the session's.
    pub fn observe_realtime_event(&mut self, data: &[u8]) {
        let Some([kind]) = json_scan::object_fields(data, [b"type"]) else {
            return;
        };
        if kind.and_then(json_scan::string_body) != Some(b"response.done") {
            return;
        }
        let Some(u) = serde_json::from_slice::<RealtimeDone>(data)
            .ok()
            .and_then(|d| d.response?.usage)
        else {
            return;
        };
        let input = u.input_token_details.unwrap_or_default();
        let output = u.output_token_details.unwrap_or_default();
        let cached = input.cached_tokens.min(u.input_tokens);
        let t = &mut self.tokens;
        t.input = t.input.saturating_add(u.input_tokens - cached);
        t.cached_input = t.cached_input.saturating_add(cached);
        t.output = t.output.saturating_add(u.output_tokens);
        self.audio_tokens = self
            .audio_tokens
            .saturating_add(input.audio_tokens)
            .saturating_add(output.audio_tokens);
        self.reported = true;
        self.output_reported = true;
    }

    /// A Responses `response` object; its usage counts only when `terminal`.
    fn observe_response_object(&mut self, r: ResponsesObject, terminal: bool) {
        self.set_model(r.model);
        self.set_tier(r.service_tier);
        if !terminal {
            return;
        }
        if let Some(items) = r.output.as_deref().filter(|i| !i.is_empty()) {
            self.web_search_calls = web_search_calls(items);
        }
        if let Some(u) = r.usage {
            self.set(u.tokens());
        }
    }

    /// Reads the `data:` payload of one streamed event.
    ///
    /// The events that make up almost every stream (text deltas) are read by scanning
    /// their bytes ([`crate::json_scan`]): no allocation, nothing deserialised but a
    /// usage object. The rarer events that carry usage or the answer's metadata are
    /// deserialised as a whole, and both readings take the same fields from the same
    /// event.
    pub fn observe_stream_event(&mut self, api: ApiKind, data: &[u8]) {
        self.observe_stream_event_usage_only(api, data);
    }

    /// [`Self::observe_stream_event`], also telling whether the event is the chat chunk
    /// that carries only usage (`choices: []` and a usage; see
    /// [`crate::stream_filter::is_usage_only_chunk`]), so a caller removing it needs no
    /// second look at the event.
    pub fn observe_stream_event_usage_only(&mut self, api: ApiKind, data: &[u8]) -> bool {
        match api {
            ApiKind::ChatCompletions | ApiKind::Completions | ApiKind::Embeddings => {
                // Usage arrives in the last chunk when `stream_options.include_usage`
                // is set.
                if data != b"[DONE]" {
                    return self.observe_chat_chunk(data);
                }
            }
            ApiKind::Responses => {
                let fields =
                    json_scan::object_fields(data, [b"type", b"delta", b"response", b"item"]);
                let Some([kind, delta, None, None]) = fields else {
                    self.observe_responses_event(data);
                    return false;
                };
                let kind = kind.and_then(json_scan::string_body).unwrap_or(b"");
                if RESPONSES_TEXT_DELTAS.iter().any(|d| d.as_bytes() == kind) {
                    self.deliver_raw(delta);
                }
            }
            ApiKind::Messages => {
                let fields =
                    json_scan::object_fields(data, [b"type", b"delta", b"message", b"usage"]);
                let Some([kind, delta, message, usage]) = fields else {
                    return false;
                };
                match kind.and_then(json_scan::string_body) {
                    Some(b"content_block_delta") if message.is_none() && usage.is_none() => {
                        if let Some(d) = delta.and_then(json_scan::members) {
                            d.for_each(|key, value| {
                                if matches!(key, b"text" | b"partial_json" | b"thinking") {
                                    self.deliver_raw(Some(value));
                                }
                            });
                        }
                    }
                    Some(b"message_start" | b"message_delta" | b"content_block_delta") => {
                        self.observe_messages_event(data)
                    }
                    // Other events (ping, block start and stop, message_stop) carry
                    // nothing the usage needs.
                    _ => {}
                }
            }
            ApiKind::CountTokens => {}
            ApiKind::Passthrough => {
                if data != b"[DONE]" {
                    self.observe_passthrough(data);
                }
            }
            ApiKind::GenerateContent => self.observe_gemini(data, true),
            // `data` is one event-stream message's payload.
            ApiKind::Converse => self.observe_converse(data),
        }
        false
    }

    /// One chat (or legacy completions) chunk, scanned; true when it carries only usage. Reads what deserialising it
    /// into [`ChatChunk`] would: a `model` or `usage` of another shape spoils the whole
    /// chunk, while choices, deltas and tool calls of another shape are only skipped.
    fn observe_chat_chunk(&mut self, data: &[u8]) -> bool {
        let fields =
            json_scan::object_fields(data, [b"model", b"service_tier", b"choices", b"usage"]);
        let Some([model, tier, choices, usage]) = fields else {
            return false;
        };
        let usage = usage.filter(|u| json_scan::kind(u) != Kind::Null);
        let usage_only = usage.is_some() && choices.is_some_and(json_scan::is_empty_array);
        let usage = match usage {
            None => None,
            Some(u) => match serde_json::from_slice::<ChatUsage>(u) {
                Ok(u) => Some(u),
                Err(_) => return usage_only,
            },
        };
        let model = match model.filter(|m| json_scan::kind(m) != Kind::Null) {
            None => None,
            Some(m) if json_scan::kind(m) == Kind::String => Some(m),
            Some(_) => return usage_only,
        };
        self.set_model_raw(model);
        if let Some(t) = tier.filter(|t| json_scan::kind(t) == Kind::String) {
            self.set_tier_raw(t);
        }
        if let Some(text) = choices.and_then(chat_choices_text) {
            self.delivered.add_units_of(&text);
        }
        if let Some(u) = usage {
            self.set(u.tokens());
        }
        usage_only
    }

    /// A Responses event other than a plain text delta, deserialised.
    fn observe_responses_event(&mut self, data: &[u8]) {
        if let Ok(e) = serde_json::from_slice::<ResponsesStreamEvent>(data) {
            let kind = e.kind.as_deref().unwrap_or("");
            if RESPONSES_TEXT_DELTAS.contains(&kind) {
                self.deliver(e.delta.as_deref());
            }
            if kind == "response.output_item.done"
                && e.item.and_then(|i| i.kind).as_deref() == Some("web_search_call")
            {
                self.web_search_calls += 1;
            }
            if let Some(r) = e.response {
                let terminal = matches!(
                    kind,
                    "response.completed" | "response.incomplete" | "response.failed"
                );
                self.observe_response_object(r, terminal);
            }
        }
    }

    /// A Messages event that may carry usage or the model, deserialised.
    fn observe_messages_event(&mut self, data: &[u8]) {
        if let Ok(e) = serde_json::from_slice::<MessagesStreamEvent>(data) {
            match e.kind.as_deref() {
                Some("message_start") => {
                    if let Some(m) = e.message {
                        self.set_model(m.model);
                        if let Some(u) = m.usage {
                            // Its output_tokens is a placeholder, not a count.
                            self.merge_messages_usage(&u, false);
                        }
                    }
                }
                Some("content_block_delta") => {
                    if let Some(d) = e.delta {
                        self.deliver(d.text.as_deref());
                        self.deliver(d.partial_json.as_deref());
                        self.deliver(d.thinking.as_deref());
                    }
                }
                // Counts in message_delta are cumulative: latest value wins.
                Some("message_delta") => {
                    if let Some(u) = e.usage {
                        self.merge_messages_usage(&u, true);
                    }
                }
                _ => {}
            }
        }
    }

    /// Measures a JSON string value given as its bytes; a value of another type is
    /// skipped, as the lenient fields skip it.
    fn deliver_raw(&mut self, value: Option<&[u8]>) {
        if let Some(body) = value.and_then(json_scan::string_body) {
            self.delivered.add_json_escaped(body);
        }
    }

    /// [`Self::set_model`] from the string's bytes: nothing is allocated while the
    /// model stays the same.
    fn set_model_raw(&mut self, value: Option<&[u8]>) {
        if let Some(v) = value {
            if self.model.as_deref().map(str::as_bytes) != json_scan::string_body(v) {
                self.set_model(serde_json::from_slice(v).ok());
            }
        }
    }

    /// [`Self::set_tier`] from the string's bytes, like [`Self::set_model_raw`].
    fn set_tier_raw(&mut self, value: &[u8]) {
        if self.service_tier.as_deref().map(str::as_bytes) != json_scan::string_body(value) {
            self.set_tier(serde_json::from_slice(value).ok());
        }
    }

    /// One Converse answer, or one ConverseStream event's payload.
    fn observe_converse(&mut self, data: &[u8]) {
        if let Ok(o) = serde_json::from_slice::<ConverseObject>(data) {
            if let Some(d) = o.delta {
                self.deliver(d.text.as_deref());
                self.deliver(d.tool_use.and_then(|t| t.input).as_deref());
            }
            if let Some(u) = o.usage {
                self.set(u.tokens());
            }
        }
    }

    fn deliver(&mut self, text: Option<&str>) {
        if let Some(t) = text {
            self.delivered.add(t);
        }
    }

    fn set_model(&mut self, model: Option<String>) {
        if let Some(m) = model.filter(|m| !m.is_empty()) {
            if self.model.as_deref() != Some(m.as_str()) {
                self.model = Some(m);
            }
        }
    }

    fn set_tier(&mut self, tier: Option<String>) {
        if let Some(t) = tier.filter(|t| !t.is_empty()) {
            if self.service_tier.as_deref() != Some(t.as_str()) {
                self.service_tier = Some(t);
            }
        }
    }

    fn set(&mut self, tokens: Tokens) {
        self.tokens = tokens;
        self.reported = true;
        self.output_reported = true;
    }

    /// Merges Anthropic usage; `output_final` is false for `message_start`, whose
    /// `output_tokens` is a placeholder.
    fn merge_messages_usage(&mut self, u: &MessagesUsage, output_final: bool) {
        if let Some(v) = u.input_tokens {
            self.tokens.input = v;
        }
        if let Some(v) = u.cache_read_input_tokens {
            self.tokens.cached_input = v;
        }
        let split = u.cache_creation.as_ref();
        let one_hour = split.and_then(|c| c.ephemeral_1h_input_tokens);
        match (u.cache_creation_input_tokens, split) {
            (Some(total), _) => {
                // A total without its split (a later `message_delta`) keeps the split seen.
                let one_hour = one_hour.unwrap_or(self.tokens.cache_write_1h).min(total);
                self.tokens.cache_write_1h = one_hour;
                self.tokens.cache_write = total - one_hour;
            }
            (None, Some(c)) => {
                self.tokens.cache_write = c.ephemeral_5m_input_tokens.unwrap_or(0);
                self.tokens.cache_write_1h = one_hour.unwrap_or(0);
            }
            (None, None) => {}
        }
        if let Some(v) = u
            .server_tool_use
            .as_ref()
            .and_then(|s| s.web_search_requests)
        {
            self.web_search_calls = v;
        }
        if let Some(t) = &u.service_tier {
            self.set_tier(Some(t.clone()));
        }
        if let Some(v) = u.output_tokens {
            self.tokens.output = v;
            self.output_reported |= output_final;
        }
        self.reported = true;
    }
}

/// A rough token count for bodies whose usage was not reported: about four bytes of
/// text per token, rounded up. Events using it are flagged `estimated`.
pub fn estimate_tokens(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::SseParser;

    /// The typed reading of a chat chunk the scan in `observe_chat_chunk` stands in for:
    /// both must take the same fields from any chunk.
    #[derive(Deserialize)]
    struct ChatChunk {
        model: Option<String>,
        usage: Option<ChatUsage>,
        #[serde(default, deserialize_with = "lenient")]
        service_tier: Option<String>,
        #[serde(default, deserialize_with = "lenient")]
        choices: Option<Vec<ChatChoice>>,
    }

    #[derive(Deserialize)]
    struct ChatChoice {
        #[serde(default, deserialize_with = "lenient")]
        delta: Option<ChatDelta>,
        /// Legacy completions stream text here rather than in a delta.
        #[serde(default, deserialize_with = "lenient")]
        text: Option<String>,
    }

    #[derive(Deserialize)]
    struct ChatDelta {
        #[serde(default, deserialize_with = "lenient")]
        content: Option<String>,
        #[serde(default, deserialize_with = "lenient")]
        refusal: Option<String>,
        #[serde(default, deserialize_with = "lenient")]
        tool_calls: Option<Vec<ChatToolCall>>,
    }

    #[derive(Deserialize)]
    struct ChatToolCall {
        #[serde(default, deserialize_with = "lenient")]
        function: Option<ChatFunction>,
    }

    #[derive(Deserialize)]
    struct ChatFunction {
        #[serde(default, deserialize_with = "lenient")]
        name: Option<String>,
        #[serde(default, deserialize_with = "lenient")]
        arguments: Option<String>,
    }

    /// What the typed reading takes from a chat chunk: model, tier, usage and the
    /// delivered text.
    fn typed_chat_read(data: &[u8]) -> UsageTracker {
        let mut t = UsageTracker::default();
        let deliver = |t: &mut UsageTracker, s: Option<&str>| {
            if let Some(s) = s {
                t.delivered.add(s)
            }
        };
        if let Ok(c) = serde_json::from_slice::<ChatChunk>(data) {
            t.set_model(c.model);
            t.set_tier(c.service_tier);
            for choice in c.choices.into_iter().flatten() {
                deliver(&mut t, choice.text.as_deref());
                let Some(d) = choice.delta else { continue };
                deliver(&mut t, d.content.as_deref());
                deliver(&mut t, d.refusal.as_deref());
                for f in d
                    .tool_calls
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c.function)
                {
                    deliver(&mut t, f.name.as_deref());
                    deliver(&mut t, f.arguments.as_deref());
                }
            }
            if let Some(u) = c.usage {
                t.set(u.tokens());
            }
        }
        t
    }

    #[test]
    fn scanned_chat_chunks_read_as_the_typed_reading() {
        let chunks = [
            r#"{"choices":[{"delta":{"content":"","refusal":null,"role":"assistant"},"finish_reason":null,"index":0,"logprobs":null}],"created":1,"id":"c","model":"gpt-5.4-mini","object":"chat.completion.chunk","service_tier":"default","usage":null}"#,
            r#"{"choices":[{"delta":{"content":"Hé \"quoted\" \n\u00e9\ud83d\ude00 日本"},"index":0}],"model":"gpt-5.4-mini"}"#,
            r#"{"choices":[],"model":"m","usage":{"completion_tokens":4,"prompt_tokens":18,"prompt_tokens_details":{"cached_tokens":2}}}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"get","arguments":"{\"a\":1}"}}]}}]}"#,
            r#"{"choices":[{"text":"legacy text"}],"model":"gpt-3.5-turbo-instruct"}"#,
            // Shapes the lenient reading skips, or that spoil the whole chunk.
            r#"{"choices":[{"delta":{"content":5}}],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#,
            r#"{"choices":[{"delta":"x"},{"delta":{"content":"kept"}}]}"#,
            r#"{"choices":[3,{"delta":{"content":"dropped with its list"}}],"model":"m"}"#,
            r#"{"choices":{"delta":{"content":"not a list"}},"model":"m"}"#,
            r#"{"choices":[{"delta":{"content":"a","tool_calls":[1,{"function":{"name":"dropped"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"function":"x"},{"function":{"name":5,"arguments":"ok"}}]}}]}"#,
            r#"{"model":5,"choices":[{"delta":{"content":"spoilt"}}]}"#,
            r#"{"usage":7,"model":"m","choices":[{"delta":{"content":"spoilt"}}]}"#,
            r#"{"usage":{"prompt_tokens":"x"},"model":"m"}"#,
            r#"{"model":null,"service_tier":3,"choices":null,"usage":null}"#,
            r#"{"model":"","service_tier":"","choices":[]}"#,
            r#"{"model":"mod\u0065l","service_tier":"fl\u0065x"}"#,
            r#"{"choices":[{"delta":{"content":"cut"}}]"#,
            r#"{"choices":[]} trailing"#,
            "[DONE]",
            "",
            "not json",
        ];
        for chunk in chunks {
            let mut scanned = UsageTracker::default();
            let usage_only =
                scanned.observe_stream_event_usage_only(ApiKind::ChatCompletions, chunk.as_bytes());
            assert_eq!(scanned, typed_chat_read(chunk.as_bytes()), "{chunk}");
            assert_eq!(
                usage_only,
                crate::stream_filter::is_usage_only_chunk(chunk.as_bytes()),
                "{chunk}"
            );
        }
        // Text is measured as delivered, whatever its escaping.
        let mut t = UsageTracker::default();
        t.observe_stream_event(ApiKind::ChatCompletions, chunks[1].as_bytes());
        let mut expected = DeliveredText::default();
        expected.add("Hé \"quoted\" \né😀 日本");
        assert_eq!(t.delivered, expected);
    }

    #[test]
    fn scanned_messages_and_responses_events_measure_text() {
        let mut t = UsageTracker::default();
        for data in [
            r#"{"delta":{"text":"ab\ncd","type":"text_delta"},"index":0,"type":"content_block_delta"}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"k\":"}}"#,
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"thinking_delta","thinking":"hm"}}"#,
            r#"{"type":"content_block_delta","index":2,"delta":"not an object"}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"not counted"}}"#,
        ] {
            t.observe_stream_event(ApiKind::Messages, data.as_bytes());
        }
        let mut expected = DeliveredText::default();
        expected.add("ab\ncd{\"k\":hm");
        assert_eq!(t.delivered, expected);
        assert!(!t.reported);

        let mut r = UsageTracker::default();
        r.observe_stream_event(
            ApiKind::Responses,
            br#"{"type":"response.output_text.delta","item_id":"m","output_index":0,"content_index":0,"delta":"x\ty"}"#,
        );
        r.observe_stream_event(
            ApiKind::Responses,
            br#"{"type":"response.output_text.done","text":"not counted"}"#,
        );
        let mut expected = DeliveredText::default();
        expected.add("x\ty");
        assert_eq!(r.delivered, expected);
    }

    #[test]
    fn bedrock_converse_usage_json_and_stream() {
        let mut t = UsageTracker::default();
        t.observe_body(
            ApiKind::Converse,
            br#"{"output":{"message":{"role":"assistant","content":[{"text":"hi"}]}},
                "stopReason":"end_turn","usage":{"inputTokens":12,"outputTokens":7,"totalTokens":1019,
                "cacheReadInputTokens":900,"cacheWriteInputTokens":100},"metrics":{"latencyMs":80}}"#,
        );
        assert!(t.reported && t.output_reported);
        assert_eq!(
            (
                t.tokens.input,
                t.tokens.cached_input,
                t.tokens.cache_write,
                t.tokens.output
            ),
            (12, 900, 100, 7)
        );
        assert_eq!(t.model, None);

        let mut s = UsageTracker::default();
        s.observe_stream_event(ApiKind::Converse, br#"{"role":"assistant"}"#);
        s.observe_stream_event(
            ApiKind::Converse,
            br#"{"contentBlockIndex":0,"delta":{"text":"Hello"}}"#,
        );
        s.observe_stream_event(
            ApiKind::Converse,
            br#"{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"a\":1}"}}}"#,
        );
        assert!(!s.reported);
        assert!(!s.delivered.is_empty());
        s.observe_stream_event(ApiKind::Converse, br#"{"stopReason":"end_turn"}"#);
        s.observe_stream_event(
            ApiKind::Converse,
            br#"{"usage":{"inputTokens":5,"outputTokens":3,"totalTokens":8},"metrics":{"latencyMs":9}}"#,
        );
        assert!(s.reported);
        assert_eq!((s.tokens.input, s.tokens.output), (5, 3));
    }

    #[test]
    fn openai_chat_body_with_cached_tokens() {
        let mut t = UsageTracker::default();
        t.observe_body(
            ApiKind::ChatCompletions,
            br#"{"id":"x","model":"gpt-4o-mini-2024-07-18","choices":[{"message":{"content":"hi"}}],
                "usage":{"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,
                "prompt_tokens_details":{"cached_tokens":1920}}}"#,
        );
        assert!(t.reported);
        assert_eq!(t.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
        assert_eq!(
            t.tokens,
            Tokens {
                input: 86,
                cached_input: 1920,
                cache_write: 0,
                cache_write_1h: 0,
                output: 300
            }
        );
    }

    #[test]
    fn openai_chat_stream_usage_in_last_chunk() {
        let stream = concat!(
            "data: {\"model\":\"gpt-4o\",\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null}\n\n",
            "data: {\"model\":\"gpt-4o\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":3}}\n\n",
            "data: [DONE]\n\n"
        );
        let mut t = UsageTracker::default();
        let mut p = SseParser::new(1 << 16);
        p.push(stream.as_bytes(), &mut |e| {
            t.observe_stream_event(ApiKind::ChatCompletions, &e.data)
        });
        assert_eq!(
            t.tokens,
            Tokens {
                input: 10,
                output: 3,
                ..Default::default()
            }
        );
        assert!(t.reported);
    }

    #[test]
    fn azure_answers_with_content_filter_results_are_read() {
        let mut t = UsageTracker::default();
        t.observe_body(
            ApiKind::ChatCompletions,
            br#"{"id":"x","model":"gpt-4o-mini-2024-07-18","prompt_filter_results":[{"prompt_index":0,
                "content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}],
                "choices":[{"index":0,"finish_reason":"content_filter","message":{"content":"hi"},
                "content_filter_results":{"violence":{"filtered":true,"severity":"medium"}}}],
                "usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14}}"#,
        );
        assert_eq!((t.tokens.input, t.tokens.output), (12, 2));
        let stream = concat!(
            "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{}}]}\n\n",
            "data: {\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"content_filter_results\":{}}],\"usage\":null}\n\n",
            "data: {\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":3}}\n\n",
            "data: [DONE]\n\n"
        );
        let mut t = UsageTracker::default();
        let mut p = SseParser::new(1 << 16);
        p.push(stream.as_bytes(), &mut |e| {
            t.observe_stream_event(ApiKind::ChatCompletions, &e.data)
        });
        assert_eq!((t.tokens.input, t.tokens.output), (10, 3));
        assert_eq!(t.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
    }

    #[test]
    fn anthropic_stream_takes_latest_cumulative_output() {
        let stream = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-haiku-4-5\",",
            "\"usage\":{\"input_tokens\":25,\"cache_creation_input_tokens\":100,\"cache_read_input_tokens\":50,\"output_tokens\":1}}}\n\n",
            "event: ping\ndata: {\"type\":\"ping\"}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":7}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        );
        let mut t = UsageTracker::default();
        let mut p = SseParser::new(1 << 16);
        for c in stream.as_bytes().chunks(5) {
            p.push(c, &mut |e| {
                t.observe_stream_event(ApiKind::Messages, &e.data)
            });
        }
        assert_eq!(
            t.tokens,
            Tokens {
                input: 25,
                cached_input: 50,
                cache_write: 100,
                cache_write_1h: 0,
                output: 15
            }
        );
        assert_eq!(t.model.as_deref(), Some("claude-haiku-4-5"));
    }

    #[test]
    fn anthropic_body() {
        let mut t = UsageTracker::default();
        t.observe_body(
            ApiKind::Messages,
            br#"{"type":"message","model":"m","content":[],"usage":{"input_tokens":3,"output_tokens":4,"cache_creation_input_tokens":0,"cache_read_input_tokens":9}}"#,
        );
        assert_eq!(
            t.tokens,
            Tokens {
                input: 3,
                cached_input: 9,
                cache_write: 0,
                cache_write_1h: 0,
                output: 4
            }
        );
    }

    #[test]
    fn responses_body_and_stream() {
        let body = br#"{"model":"gpt-4.1","usage":{"input_tokens":100,"input_tokens_details":{"cached_tokens":40},"output_tokens":5,"output_tokens_details":{"reasoning_tokens":2}}}"#;
        let mut t = UsageTracker::default();
        t.observe_body(ApiKind::Responses, body);
        let expected = Tokens {
            input: 60,
            cached_input: 40,
            cache_write: 0,
            cache_write_1h: 0,
            output: 5,
        };
        assert_eq!(t.tokens, expected);

        let mut s = UsageTracker::default();
        s.observe_stream_event(
            ApiKind::Responses,
            br#"{"type":"response.created","response":{"model":"gpt-4.1","usage":null}}"#,
        );
        assert!(!s.reported);
        let done = format!(
            r#"{{"type":"response.completed","response":{}}}"#,
            std::str::from_utf8(body).unwrap()
        );
        s.observe_stream_event(ApiKind::Responses, done.as_bytes());
        assert_eq!(s.tokens, expected);
    }

    #[test]
    fn gemini_body_counts_cached_and_thinking_tokens() {
        let mut t = UsageTracker::default();
        t.observe_body(
            ApiKind::GenerateContent,
            br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP","index":0}],
                "usageMetadata":{"promptTokenCount":1200,"candidatesTokenCount":30,"cachedContentTokenCount":1000,
                "thoughtsTokenCount":70,"totalTokenCount":1300},"modelVersion":"gemini-2.5-flash","responseId":"r1"}"#,
        );
        assert!(t.reported && t.output_reported);
        assert_eq!(t.model.as_deref(), Some("gemini-2.5-flash"));
        assert_eq!(
            t.tokens,
            Tokens {
                input: 200,
                cached_input: 1000,
                output: 100,
                ..Default::default()
            }
        );
    }

    #[test]
    fn gemini_stream_takes_the_last_chunks_usage() {
        let stream = concat!(
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hello \"}],\"role\":\"model\"},\"index\":0}],",
            "\"usageMetadata\":{\"promptTokenCount\":9,\"candidatesTokenCount\":2,\"totalTokenCount\":11},\"modelVersion\":\"gemini-2.5-pro\"}\r\n\r\n",
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"world\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],",
            "\"usageMetadata\":{\"promptTokenCount\":9,\"candidatesTokenCount\":4,\"thoughtsTokenCount\":12,\"totalTokenCount\":25},\"modelVersion\":\"gemini-2.5-pro\"}\r\n\r\n"
        );
        let mut t = UsageTracker::default();
        let mut p = SseParser::new(1 << 16);
        let mut seen = Vec::new();
        for c in stream.as_bytes().chunks(3) {
            p.push(c, &mut |e| {
                t.observe_stream_event(ApiKind::GenerateContent, &e.data);
                seen.push(t.output_reported);
            });
        }
        p.finish(&mut |e| t.observe_stream_event(ApiKind::GenerateContent, &e.data));
        // The first chunk's output count is a running one, not final.
        assert_eq!(seen, [false, true]);
        assert_eq!(
            t.tokens,
            Tokens {
                input: 9,
                output: 16,
                ..Default::default()
            }
        );
        assert_eq!(t.model.as_deref(), Some("gemini-2.5-pro"));
        assert!(!t.delivered.is_empty());
    }

    #[test]
    fn missing_or_garbage_usage_is_not_reported() {
        let mut t = UsageTracker::default();
        t.observe_body(ApiKind::ChatCompletions, b"{\"choices\":[]}");
        t.observe_body(ApiKind::Messages, b"not json");
        t.observe_stream_event(ApiKind::Messages, b"{\"type\":\"message_delta\"}");
        assert!(!t.reported);
        assert_eq!(estimate_tokens(9), 3);
    }

    #[test]
    fn cached_more_than_prompt_is_clamped() {
        let mut t = UsageTracker::default();
        t.observe_body(ApiKind::ChatCompletions, br#"{"usage":{"prompt_tokens":5,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":9}}}"#);
        assert_eq!(t.tokens.input, 0);
        assert_eq!(t.tokens.cached_input, 5);
    }

    #[test]
    fn anthropic_cache_writes_split_by_lifetime() {
        let mut t = UsageTracker::default();
        t.observe_body(
            ApiKind::Messages,
            br#"{"model":"claude-sonnet-4-5","usage":{"input_tokens":5,"cache_creation_input_tokens":300,
               "cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":200},
               "cache_read_input_tokens":7,"output_tokens":9,"service_tier":"standard"}}"#,
        );
        assert_eq!(
            t.tokens,
            Tokens {
                input: 5,
                cached_input: 7,
                cache_write: 100,
                cache_write_1h: 200,
                output: 9,
            }
        );
        assert_eq!(t.service_tier.as_deref(), Some("standard"));
        // A later cumulative total without the split keeps the split seen.
        let mut s = UsageTracker::default();
        s.observe_stream_event(ApiKind::Messages, br#"{"type":"message_start","message":{"usage":{"input_tokens":5,"cache_creation_input_tokens":300,"cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":200},"output_tokens":1}}}"#);
        assert!(s.reported && !s.output_reported, "placeholder output");
        s.observe_stream_event(ApiKind::Messages, br#"{"type":"message_delta","usage":{"input_tokens":5,"cache_creation_input_tokens":300,"output_tokens":40,"server_tool_use":{"web_search_requests":3}}}"#);
        assert!(s.output_reported);
        assert_eq!((s.tokens.cache_write, s.tokens.cache_write_1h), (100, 200));
        assert_eq!((s.tokens.output, s.web_search_calls), (40, 3));
        // Without the split, every write is a 5-minute one.
        let mut old = UsageTracker::default();
        old.observe_body(
            ApiKind::Messages,
            br#"{"usage":{"input_tokens":1,"cache_creation_input_tokens":50,"output_tokens":2}}"#,
        );
        assert_eq!((old.tokens.cache_write, old.tokens.cache_write_1h), (50, 0));
    }

    #[test]
    fn responses_web_search_calls_and_service_tier() {
        let body = br#"{"model":"gpt-5","service_tier":"priority","output":[
            {"type":"web_search_call","id":"ws_1","status":"completed","action":{"type":"search","query":"a"}},
            {"type":"web_search_call","id":"ws_2","status":"completed"},
            {"type":"message","content":[{"type":"output_text","text":"x"}]}],
            "usage":{"input_tokens":10,"output_tokens":2}}"#;
        let mut t = UsageTracker::default();
        t.observe_body(ApiKind::Responses, body);
        assert_eq!(t.web_search_calls, 2);
        assert_eq!(t.service_tier.as_deref(), Some("priority"));

        let mut s = UsageTracker::default();
        s.observe_stream_event(ApiKind::Responses, br#"{"type":"response.created","response":{"model":"gpt-5","service_tier":"auto","output":[]}}"#);
        s.observe_stream_event(ApiKind::Responses, br#"{"type":"response.output_item.done","output_index":0,"item":{"type":"web_search_call","id":"ws_1","status":"completed"}}"#);
        s.observe_stream_event(ApiKind::Responses, br#"{"type":"response.output_text.delta","item_id":"m","output_index":1,"content_index":0,"delta":"abcdefgh"}"#);
        assert_eq!(s.web_search_calls, 1, "counted as items complete");
        assert_eq!(
            s.delivered
                .estimated_tokens(crate::config::ProviderKind::Openai),
            2
        );
        let done = format!(
            r#"{{"type":"response.completed","response":{}}}"#,
            std::str::from_utf8(body).unwrap()
        );
        s.observe_stream_event(ApiKind::Responses, done.as_bytes());
        assert_eq!(
            s.web_search_calls, 2,
            "the final response's output is authoritative"
        );
        assert_eq!(s.service_tier.as_deref(), Some("priority"));
    }

    #[test]
    fn embeddings_completions_and_token_counts() {
        let mut e = UsageTracker::default();
        e.observe_body(
            ApiKind::Embeddings,
            br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":"AAAAAA=="}],
                "model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}"#,
        );
        assert!(e.reported && e.output_reported);
        assert_eq!(e.model.as_deref(), Some("text-embedding-3-small"));
        assert_eq!(
            e.tokens,
            Tokens {
                input: 8,
                ..Tokens::default()
            }
        );

        let mut c = UsageTracker::default();
        c.observe_stream_event(
            ApiKind::Completions,
            br#"{"id":"cmpl-1","object":"text_completion","model":"gpt-3.5-turbo-instruct","choices":[{"text":"abcdefgh","index":0,"logprobs":null,"finish_reason":null}]}"#,
        );
        assert!(!c.reported);
        assert_eq!(
            c.delivered
                .estimated_tokens(crate::config::ProviderKind::Openai),
            2,
            "completion text is measured"
        );
        c.observe_stream_event(
            ApiKind::Completions,
            br#"{"id":"cmpl-1","object":"text_completion","model":"gpt-3.5-turbo-instruct","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#,
        );
        assert_eq!((c.tokens.input, c.tokens.output), (5, 7));

        let mut t = UsageTracker::default();
        t.observe_body(ApiKind::CountTokens, br#"{"input_tokens":1234}"#);
        assert!(!t.reported, "a token count is not usage");
    }

    #[test]
    fn usage_on_every_chunk_keeps_the_latest_counts() {
        // Some OpenAI-compatible servers (vLLM's continuous usage stats) report the
        // running usage on every chunk, the last one final.
        let mut t = UsageTracker::default();
        for (i, text) in ["ab", "cd", "ef"].iter().enumerate() {
            let chunk = format!(
                r#"{{"model":"llama","choices":[{{"index":0,"delta":{{"content":"{text}"}}}}],"usage":{{"prompt_tokens":9,"completion_tokens":{},"total_tokens":{}}}}}"#,
                i + 1,
                i + 10
            );
            t.observe_stream_event(ApiKind::ChatCompletions, chunk.as_bytes());
        }
        assert_eq!((t.tokens.input, t.tokens.output), (9, 3));
        assert!(t.reported && t.output_reported);
    }

    #[test]
    fn realtime_sessions_sum_the_usage_of_every_response_done() {
        let mut u = UsageTracker::default();
        let done = |input: u64, cached: u64, audio_in: u64, output: u64, audio_out: u64| {
            format!(
                r#"{{"type":"response.done","event_id":"e","response":{{"object":"realtime.response","status":"completed","usage":{{"total_tokens":{},"input_tokens":{input},"output_tokens":{output},"input_token_details":{{"cached_tokens":{cached},"text_tokens":{},"audio_tokens":{audio_in}}},"output_token_details":{{"text_tokens":{},"audio_tokens":{audio_out}}}}}}}}}"#,
                input + output,
                input - audio_in,
                output - audio_out
            )
        };
        u.observe_realtime_event(
            br#"{"type":"session.created","session":{"model":"gpt-realtime"}}"#,
        );
        u.observe_realtime_event(br#"{"type":"response.output_text.delta","delta":"hi"}"#);
        assert!(!u.reported);
        u.observe_realtime_event(done(100, 40, 0, 20, 0).as_bytes());
        u.observe_realtime_event(done(150, 100, 0, 30, 0).as_bytes());
        assert!(u.reported);
        assert_eq!(
            (u.tokens.input, u.tokens.cached_input, u.tokens.output),
            (110, 140, 50)
        );
        assert_eq!(u.audio_tokens, 0);
        u.observe_realtime_event(done(10, 0, 4, 8, 6).as_bytes());
        assert_eq!(u.audio_tokens, 10);
        assert_eq!(u.tokens.output, 58);
        // A response that failed before any usage, and text that is not an event.
        u.observe_realtime_event(
            br#"{"type":"response.done","response":{"status":"failed","usage":null}}"#,
        );
        u.observe_realtime_event(b"not json");
        assert_eq!(u.tokens.total(), 318);
    }

    #[test]
    fn passthrough_reads_either_openai_usage_shape() {
        let mut a = UsageTracker::default();
        a.observe_body(
            ApiKind::Passthrough,
            br#"{"created":1,"data":[],"usage":{"input_tokens":50,"input_tokens_details":{"text_tokens":10,"image_tokens":40},"output_tokens":4160,"total_tokens":4210}}"#,
        );
        assert_eq!((a.tokens.input, a.tokens.output), (50, 4160));
        assert_eq!(a.model, None);
        let mut b = UsageTracker::default();
        b.observe_body(
            ApiKind::Passthrough,
            br#"{"model":"omni-moderation-latest","usage":{"prompt_tokens":3,"completion_tokens":0}}"#,
        );
        assert_eq!(b.tokens.input, 3);
        assert_eq!(b.model.as_deref(), Some("omni-moderation-latest"));
        let mut none = UsageTracker::default();
        none.observe_body(ApiKind::Passthrough, br#"{"id":"file-1","bytes":3}"#);
        none.observe_body(ApiKind::Passthrough, b"RIFF....WAVE");
        none.observe_body(ApiKind::Passthrough, br#"{"usage":{"seconds":3}}"#);
        assert!(!none.reported);
    }

    #[test]
    fn chat_stream_measures_text_and_tool_arguments_but_not_the_envelope() {
        let mut t = UsageTracker::default();
        t.observe_stream_event(
            ApiKind::ChatCompletions,
            br#"{"id":"x","model":"gpt-4o","service_tier":"default","choices":[{"index":0,"delta":{"role":"assistant","content":"abcd"}}]}"#,
        );
        t.observe_stream_event(
            ApiKind::ChatCompletions,
            br#"{"id":"x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"get","arguments":"{\"a\":1}"}}]}}]}"#,
        );
        // A delta of an unexpected shape is ignored, and the usage beside it is kept.
        t.observe_stream_event(
            ApiKind::ChatCompletions,
            br#"{"choices":[{"delta":{"content":5}}],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#,
        );
        // "abcd" + "get" + {"a":1} = 4 + 3 + 7 = 14 units → 4 tokens.
        assert_eq!(
            t.delivered
                .estimated_tokens(crate::config::ProviderKind::Openai),
            4
        );
        assert_eq!(t.service_tier.as_deref(), Some("default"));
        assert!(t.reported && t.output_reported);
        assert_eq!(t.tokens.output, 4);
    }
}
