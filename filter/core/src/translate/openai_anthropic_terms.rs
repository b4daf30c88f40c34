//! What the OpenAI and Anthropic formats say alike in different words: answer ids,
//! stop and finish reasons, and token usage.

use serde_json::Value;

/// `chatcmpl-<rest>` for Anthropic `msg_<rest>`, so one id names the answer on both
/// sides (and the reverse below).
pub(super) fn chat_id_from_message_id(id: &str) -> String {
    format!("chatcmpl-{}", id.strip_prefix("msg_").unwrap_or(id))
}

pub(super) fn message_id_from_chat_id(id: &str) -> String {
    format!("msg_{}", id.strip_prefix("chatcmpl-").unwrap_or(id))
}

/// Anthropic `stop_reason` → OpenAI `finish_reason`.
pub(super) fn finish_reason_from_stop_reason(stop_reason: &str) -> &'static str {
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
pub(super) fn stop_reason_from_finish_reason(finish_reason: &str) -> &'static str {
    match finish_reason {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

/// Token counts in Anthropic's disjoint split, the common ground of both formats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Usage {
    /// Prompt tokens neither read from nor written to the cache.
    pub(super) input: u64,
    pub(super) cache_read: u64,
    pub(super) cache_write: u64,
    pub(super) output: u64,
}

impl Usage {
    /// From an OpenAI `usage` object, where `prompt_tokens` includes cached tokens.
    /// `cache_write_tokens` is not OpenAI's but some OpenAI-compatible servers (the
    /// simulator among them) report it; it is read when present.
    pub(super) fn from_openai(u: &Value) -> Usage {
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
    pub(super) fn merge_anthropic(&mut self, u: &Value) {
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
    pub(super) fn to_openai(self) -> Value {
        let prompt = self.input + self.cache_read + self.cache_write;
        serde_json::json!({
            "prompt_tokens": prompt,
            "completion_tokens": self.output,
            "total_tokens": prompt + self.output,
            "prompt_tokens_details": {"cached_tokens": self.cache_read},
        })
    }

    pub(super) fn to_anthropic(self) -> Value {
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
    use serde_json::json;

    use super::*;

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
