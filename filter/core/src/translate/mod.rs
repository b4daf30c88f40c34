//! OpenAI Chat Completions ⇄ Anthropic Messages translation, so a client keeps its SDK
//! while the mesh serves it from the other provider's lane.
//!
//! Requests are translated whole (they are small and already parsed); responses whole
//! when they are JSON, and event by event when they are streamed, so a translated
//! stream reaches the client as fast as the upstream one.
//!
//! The rule for requests: whatever cannot be expressed on the other side is refused
//! with [`Untranslatable`] naming the field, so the filter answers 400 instead of
//! quietly serving a different request. Only hints that cannot change the answer's
//! content or shape are dropped (each one is listed where it is dropped, with why).
//!
//! Usage accounting is not done here: the filter feeds the upstream bytes, untranslated,
//! to [`crate::usage::UsageTracker`] with the lane's API kind. The usage written into
//! translated bodies is for the client's benefit.

mod chat_request;
mod errors;
mod messages_request;
mod response;
mod stream;
mod stream_to_chat;
mod stream_to_messages;

pub use chat_request::chat_to_messages;
pub use errors::{error_to_anthropic, error_to_openai};
pub use messages_request::messages_to_chat;
pub use response::{
    chat_response_to_messages, messages_response_to_chat, messages_response_to_chat_at,
};
pub use stream::{StreamTranslator, MAX_UPSTREAM_EVENT};

use serde_json::{Map, Value};

use crate::event::ApiKind;

/// A request (or an upstream answer) that cannot be carried faithfully to the other
/// wire format. The message names the field and is meant for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untranslatable(pub String);

impl std::fmt::Display for Untranslatable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Untranslatable {}

/// Which way a translated exchange goes, named by the client's format and the lane's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// An OpenAI Chat Completions client served by an Anthropic Messages lane: the
    /// request goes chat → messages, the answer comes back messages → chat.
    ChatClientMessagesLane,
    /// An Anthropic Messages client served by an OpenAI Chat Completions lane.
    MessagesClientChatLane,
}

impl Direction {
    /// The translation needed when a `client` request is served by a `lane` API, or
    /// `None` when the two are the same (no translation) or no translation exists (the
    /// Responses API is not translated).
    pub fn between(client: ApiKind, lane: ApiKind) -> Option<Direction> {
        match (client, lane) {
            (ApiKind::ChatCompletions, ApiKind::Messages) => {
                Some(Direction::ChatClientMessagesLane)
            }
            (ApiKind::Messages, ApiKind::ChatCompletions) => {
                Some(Direction::MessagesClientChatLane)
            }
            _ => None,
        }
    }

    pub fn client(self) -> ApiKind {
        match self {
            Direction::ChatClientMessagesLane => ApiKind::ChatCompletions,
            Direction::MessagesClientChatLane => ApiKind::Messages,
        }
    }

    pub fn lane(self) -> ApiKind {
        match self {
            Direction::ChatClientMessagesLane => ApiKind::Messages,
            Direction::MessagesClientChatLane => ApiKind::ChatCompletions,
        }
    }
}

/// The request body for the lane, translated from the client's format.
/// `default_max_tokens` is used only for Anthropic lanes, which require a limit.
pub fn translate_request(
    direction: Direction,
    body: &Map<String, Value>,
    target_model: &str,
    default_max_tokens: u64,
) -> Result<Map<String, Value>, Untranslatable> {
    match direction {
        Direction::ChatClientMessagesLane => {
            chat_to_messages(body, target_model, default_max_tokens)
        }
        Direction::MessagesClientChatLane => messages_to_chat(body, target_model),
    }
}

/// A whole 2xx answer from the lane, in the client's format. `created` (Unix seconds)
/// is used only for OpenAI clients.
pub fn translate_response(
    direction: Direction,
    body: &[u8],
    client_model: &str,
    created: u64,
) -> Result<Vec<u8>, Untranslatable> {
    match direction {
        Direction::ChatClientMessagesLane => {
            messages_response_to_chat_at(body, client_model, created)
        }
        Direction::MessagesClientChatLane => chat_response_to_messages(body, client_model),
    }
}

/// An error body from the lane, in the client's format (the status is kept as is).
pub fn translate_error(direction: Direction, body: &[u8]) -> Vec<u8> {
    match direction {
        Direction::ChatClientMessagesLane => error_to_openai(body),
        Direction::MessagesClientChatLane => error_to_anthropic(body),
    }
}

/// A field's value, with JSON `null` read as absent (SDKs send explicit nulls for
/// unset options).
fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn refuse(field: &str, lane: &str, why: &str) -> Untranslatable {
    Untranslatable(format!(
        "`{field}` cannot be translated for the {lane} model serving this request: {why}"
    ))
}

fn invalid(what: &str) -> Untranslatable {
    Untranslatable(format!("invalid request: {what}"))
}

/// `chatcmpl-<rest>` for Anthropic `msg_<rest>`, so one id names the answer on both
/// sides (and the reverse below).
fn chat_id_from_message_id(id: &str) -> String {
    format!("chatcmpl-{}", id.strip_prefix("msg_").unwrap_or(id))
}

fn message_id_from_chat_id(id: &str) -> String {
    format!("msg_{}", id.strip_prefix("chatcmpl-").unwrap_or(id))
}

/// Anthropic `stop_reason` → OpenAI `finish_reason`.
fn finish_reason_from_stop_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        // end_turn, stop_sequence, pause_turn (server tools, which are refused anyway).
        _ => "stop",
    }
}

/// OpenAI `finish_reason` → Anthropic `stop_reason`. OpenAI does not say whether a
/// `stop` came from a stop sequence, so it is always `end_turn`.
fn stop_reason_from_finish_reason(finish_reason: &str) -> &'static str {
    match finish_reason {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

/// Token counts in Anthropic's disjoint split, the common ground of both formats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Usage {
    /// Prompt tokens neither read from nor written to the cache.
    input: u64,
    cache_read: u64,
    cache_write: u64,
    output: u64,
}

impl Usage {
    /// From an OpenAI `usage` object, where `prompt_tokens` includes cached tokens.
    /// `cache_write_tokens` is not OpenAI's but some OpenAI-compatible servers (the
    /// simulator among them) report it; it is read when present.
    fn from_openai(u: &Value) -> Usage {
        let n = |v: &Value| v.as_u64().unwrap_or(0);
        let prompt = n(&u["prompt_tokens"]);
        let cache_read = n(&u["prompt_tokens_details"]["cached_tokens"]).min(prompt);
        let cache_write =
            n(&u["prompt_tokens_details"]["cache_write_tokens"]).min(prompt - cache_read);
        Usage {
            input: prompt - cache_read - cache_write,
            cache_read,
            cache_write,
            output: n(&u["completion_tokens"]),
        }
    }

    /// Overwrites the counts an Anthropic `usage` object carries (stream events carry
    /// only some of them; each is a cumulative total).
    fn merge_anthropic(&mut self, u: &Value) {
        let set = |slot: &mut u64, key: &str| {
            if let Some(v) = u.get(key).and_then(Value::as_u64) {
                *slot = v;
            }
        };
        set(&mut self.input, "input_tokens");
        set(&mut self.cache_read, "cache_read_input_tokens");
        set(&mut self.cache_write, "cache_creation_input_tokens");
        set(&mut self.output, "output_tokens");
    }

    /// OpenAI `usage`: cache reads and writes are part of the prompt; only reads have a
    /// field of their own.
    fn to_openai(self) -> Value {
        let prompt = self.input + self.cache_read + self.cache_write;
        serde_json::json!({
            "prompt_tokens": prompt,
            "completion_tokens": self.output,
            "total_tokens": prompt + self.output,
            "prompt_tokens_details": {"cached_tokens": self.cache_read},
        })
    }

    fn to_anthropic(self) -> Value {
        serde_json::json!({
            "input_tokens": self.input,
            "cache_creation_input_tokens": self.cache_write,
            "cache_read_input_tokens": self.cache_read,
            "output_tokens": self.output,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn direction_between_apis() {
        assert_eq!(
            Direction::between(ApiKind::ChatCompletions, ApiKind::Messages),
            Some(Direction::ChatClientMessagesLane)
        );
        assert_eq!(
            Direction::between(ApiKind::Messages, ApiKind::ChatCompletions),
            Some(Direction::MessagesClientChatLane)
        );
        assert_eq!(
            Direction::between(ApiKind::Messages, ApiKind::Messages),
            None
        );
        assert_eq!(
            Direction::between(ApiKind::Responses, ApiKind::Messages),
            None
        );
        let d = Direction::MessagesClientChatLane;
        assert_eq!(
            (d.client(), d.lane()),
            (ApiKind::Messages, ApiKind::ChatCompletions)
        );
    }

    #[test]
    fn dispatch_by_direction() {
        let Value::Object(chat) =
            json!({"model": "a", "messages": [{"role": "user", "content": "hi"}]})
        else {
            unreachable!()
        };
        let out =
            translate_request(Direction::ChatClientMessagesLane, &chat, "claude", 77).unwrap();
        assert_eq!(
            (out["model"].clone(), out["max_tokens"].clone()),
            (json!("claude"), json!(77))
        );
        let out = translate_request(Direction::MessagesClientChatLane, &chat, "gpt", 77).unwrap();
        assert!(out.get("max_completion_tokens").is_none());

        let message =
            br#"{"id":"msg_1","content":[{"type":"text","text":"x"}],"stop_reason":"end_turn"}"#;
        let out: Value = serde_json::from_slice(
            &translate_response(Direction::ChatClientMessagesLane, message, "m", 5).unwrap(),
        )
        .unwrap();
        assert_eq!(
            (out["created"].clone(), out["object"].clone()),
            (json!(5), json!("chat.completion"))
        );
        let completion = br#"{"id":"chatcmpl-1","choices":[{"message":{"content":"x"},"finish_reason":"stop"}]}"#;
        let out: Value = serde_json::from_slice(
            &translate_response(Direction::MessagesClientChatLane, completion, "m", 5).unwrap(),
        )
        .unwrap();
        assert_eq!(out["type"], "message");

        let err: Value = serde_json::from_slice(&translate_error(
            Direction::MessagesClientChatLane,
            br#"{"error":{"message":"m","type":"server_error"}}"#,
        ))
        .unwrap();
        assert_eq!(err["type"], "error");
    }

    #[test]
    fn ids_map_both_ways() {
        assert_eq!(chat_id_from_message_id("msg_01Ab"), "chatcmpl-01Ab");
        assert_eq!(message_id_from_chat_id("chatcmpl-9x"), "msg_9x");
        assert_eq!(message_id_from_chat_id("odd"), "msg_odd");
    }

    #[test]
    fn usage_maps_both_ways() {
        let u = Usage::from_openai(&json!({
            "prompt_tokens": 100, "completion_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 30}
        }));
        assert_eq!(
            u,
            Usage {
                input: 10,
                cache_read: 60,
                cache_write: 30,
                output: 7
            }
        );
        assert_eq!(u.to_openai()["prompt_tokens"], 100);
        assert_eq!(u.to_openai()["total_tokens"], 107);
        assert_eq!(u.to_anthropic()["input_tokens"], 10);
        // Inconsistent upstream counts are clamped, never underflow.
        let odd = Usage::from_openai(&json!({"prompt_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 9, "cache_write_tokens": 9}}));
        assert_eq!((odd.input, odd.cache_read, odd.cache_write), (0, 5, 0));
    }
}
