//! Token usage from provider responses: whole JSON bodies and streamed events.
//!
//! Only the usage and model fields are deserialised; answer text is skipped by serde
//! and never kept.

use serde::Deserialize;

use crate::event::{ApiKind, Tokens};

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

/// Anthropic Messages usage. Every field is optional because `message_delta` events
/// may carry only `output_tokens`.
#[derive(Deserialize)]
struct MessagesUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
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
            cache_write: 0,
            output: self.completion_tokens,
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
            cache_write: 0,
            output: self.output_tokens,
        }
    }
}

#[derive(Deserialize)]
struct ChatBody {
    model: Option<String>,
    usage: Option<ChatUsage>,
}

#[derive(Deserialize)]
struct ResponsesObject {
    model: Option<String>,
    usage: Option<ResponsesUsage>,
}

#[derive(Deserialize)]
struct ResponsesStreamEvent {
    #[serde(rename = "type")]
    kind: Option<String>,
    response: Option<ResponsesObject>,
}

#[derive(Deserialize)]
struct MessagesBody {
    model: Option<String>,
    usage: Option<MessagesUsage>,
}

#[derive(Deserialize)]
struct MessagesStreamEvent {
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<MessagesBody>,
    usage: Option<MessagesUsage>,
}

/// Usage gathered from one response, whole or streamed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageTracker {
    /// The provider reported usage at least once.
    pub reported: bool,
    pub tokens: Tokens,
    /// The model the provider says served the request.
    pub model: Option<String>,
}

impl UsageTracker {
    /// Reads a complete (non-streamed) JSON response body.
    pub fn observe_body(&mut self, api: ApiKind, body: &[u8]) {
        match api {
            ApiKind::ChatCompletions => {
                if let Ok(b) = serde_json::from_slice::<ChatBody>(body) {
                    self.set_model(b.model);
                    if let Some(u) = b.usage {
                        self.set(u.tokens());
                    }
                }
            }
            ApiKind::Responses => {
                if let Ok(b) = serde_json::from_slice::<ResponsesObject>(body) {
                    self.set_model(b.model);
                    if let Some(u) = b.usage {
                        self.set(u.tokens());
                    }
                }
            }
            ApiKind::Messages => {
                if let Ok(b) = serde_json::from_slice::<MessagesBody>(body) {
                    self.set_model(b.model);
                    if let Some(u) = b.usage {
                        self.merge_messages_usage(&u);
                    }
                }
            }
        }
    }

    /// Reads the `data:` payload of one streamed event.
    pub fn observe_stream_event(&mut self, api: ApiKind, data: &[u8]) {
        match api {
            ApiKind::ChatCompletions => {
                // Every chunk has the same shape as the body; usage arrives in the last
                // one when `stream_options.include_usage` is set.
                if data != b"[DONE]" {
                    self.observe_body(api, data);
                }
            }
            ApiKind::Responses => {
                if let Ok(e) = serde_json::from_slice::<ResponsesStreamEvent>(data) {
                    if let Some(r) = e.response {
                        self.set_model(r.model);
                        let terminal = matches!(
                            e.kind.as_deref(),
                            Some("response.completed" | "response.incomplete" | "response.failed")
                        );
                        if let (true, Some(u)) = (terminal, r.usage) {
                            self.set(u.tokens());
                        }
                    }
                }
            }
            ApiKind::Messages => {
                if let Ok(e) = serde_json::from_slice::<MessagesStreamEvent>(data) {
                    match e.kind.as_deref() {
                        Some("message_start") => {
                            if let Some(m) = e.message {
                                self.set_model(m.model);
                                if let Some(u) = m.usage {
                                    self.merge_messages_usage(&u);
                                }
                            }
                        }
                        // Counts in message_delta are cumulative: latest value wins.
                        Some("message_delta") => {
                            if let Some(u) = e.usage {
                                self.merge_messages_usage(&u);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    fn set_model(&mut self, model: Option<String>) {
        if let Some(m) = model.filter(|m| !m.is_empty()) {
            if self.model.as_deref() != Some(m.as_str()) {
                self.model = Some(m);
            }
        }
    }

    fn set(&mut self, tokens: Tokens) {
        self.tokens = tokens;
        self.reported = true;
    }

    fn merge_messages_usage(&mut self, u: &MessagesUsage) {
        if let Some(v) = u.input_tokens {
            self.tokens.input = v;
        }
        if let Some(v) = u.cache_read_input_tokens {
            self.tokens.cached_input = v;
        }
        if let Some(v) = u.cache_creation_input_tokens {
            self.tokens.cache_write = v;
        }
        if let Some(v) = u.output_tokens {
            self.tokens.output = v;
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
}
