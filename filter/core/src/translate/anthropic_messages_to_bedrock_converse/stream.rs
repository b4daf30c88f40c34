//! A ConverseStream (event-stream messages) rewritten as Anthropic message events.
//!
//! messageStart → message_start; text deltas → a text block (Converse opens text
//! blocks implicitly); contentBlockStart with toolUse → a tool_use block whose input
//! arrives as input_json_delta; contentBlockStop → content_block_stop; messageStop
//! gives the stop reason and metadata the usage, both written as message_delta, then
//! message_stop. An exception message becomes an `error` event.

use serde_json::{json, Value};

use super::response::message_id;
use crate::aws::event_stream::Message;
use crate::sse::SseEvent;
use crate::translate::converse_terms::{
    anthropic_error_type, anthropic_usage, stop_reason_from_converse,
};

#[derive(Debug)]
pub(crate) struct ConverseToMessages {
    model: String,
    id: String,
    /// What the message id is derived from (Converse streams carry none); the first
    /// event's payload when unset.
    id_seed: Option<String>,
    started: bool,
    /// Converse block indexes opened on the client side.
    open: Vec<u64>,
    stop_reason: Option<String>,
    done: bool,
}

impl ConverseToMessages {
    pub(crate) fn new(model: &str) -> Self {
        ConverseToMessages {
            model: model.to_string(),
            id: String::new(),
            id_seed: None,
            started: false,
            open: Vec::new(),
            stop_reason: None,
            done: false,
        }
    }

    /// Derives the message id from `seed` (the request's own id), so every answer has
    /// its own.
    pub(crate) fn set_id_seed(&mut self, seed: &str) {
        self.id_seed = Some(seed.to_string());
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.done
    }

    fn emit(out: &mut Vec<SseEvent>, name: &str, data: Value) {
        out.push(SseEvent {
            name: Some(name.to_string()),
            data: data.to_string().into_bytes(),
        });
    }

    fn start(&mut self, seed: &[u8], out: &mut Vec<SseEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        self.id = match &self.id_seed {
            Some(s) => message_id(s.as_bytes()),
            None => message_id(seed),
        };
        let message = json!({
            "id": self.id, "type": "message", "role": "assistant", "model": self.model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        });
        Self::emit(
            out,
            "message_start",
            json!({"type": "message_start", "message": message}),
        );
    }

    fn open_block(&mut self, index: u64, block: Value, out: &mut Vec<SseEvent>) {
        if !self.open.contains(&index) {
            self.open.push(index);
            Self::emit(
                out,
                "content_block_start",
                json!({"type": "content_block_start", "index": index, "content_block": block}),
            );
        }
    }

    fn close_blocks(&mut self, out: &mut Vec<SseEvent>) {
        for index in std::mem::take(&mut self.open) {
            Self::emit(
                out,
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            );
        }
    }

    fn end(&mut self, usage: Value, out: &mut Vec<SseEvent>) {
        self.close_blocks(out);
        let stop = stop_reason_from_converse(self.stop_reason.as_deref().unwrap_or("end_turn"));
        Self::emit(
            out,
            "message_delta",
            json!({"type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": usage}),
        );
        Self::emit(out, "message_stop", json!({"type": "message_stop"}));
        self.done = true;
    }

    fn error(&mut self, kind: &str, message: &str, out: &mut Vec<SseEvent>) {
        Self::emit(
            out,
            "error",
            json!({"type": "error", "error": {"type": kind, "message": message}}),
        );
        self.done = true;
    }

    /// The Anthropic events one Converse stream message completes.
    pub(crate) fn on_message(&mut self, m: &Message, out: &mut Vec<SseEvent>) {
        if self.done {
            return;
        }
        if m.message_type() != "event" {
            let v: Value = serde_json::from_slice(&m.payload).unwrap_or(Value::Null);
            let message = v["message"]
                .as_str()
                .or(v["Message"].as_str())
                .unwrap_or("the provider ended the stream with an error");
            self.error(anthropic_error_type(500, Some(m.kind())), message, out);
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(&m.payload) else {
            return;
        };
        self.start(&m.payload, out);
        let index = v["contentBlockIndex"].as_u64().unwrap_or(0);
        match m.kind() {
            "contentBlockStart" => {
                if let Some(t) = v["start"].get("toolUse") {
                    let block = json!({"type": "tool_use", "id": t["toolUseId"],
                        "name": t["name"], "input": {}});
                    self.open_block(index, block, out);
                }
            }
            "contentBlockDelta" => {
                let delta = &v["delta"];
                if let Some(text) = delta["text"].as_str() {
                    self.open_block(index, json!({"type": "text", "text": ""}), out);
                    Self::emit(
                        out,
                        "content_block_delta",
                        json!({"type": "content_block_delta", "index": index,
                            "delta": {"type": "text_delta", "text": text}}),
                    );
                } else if let Some(input) = delta["toolUse"]["input"].as_str() {
                    Self::emit(
                        out,
                        "content_block_delta",
                        json!({"type": "content_block_delta", "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": input}}),
                    );
                }
                // Reasoning deltas have no counterpart in an answer without thinking.
            }
            "contentBlockStop" => {
                if let Some(pos) = self.open.iter().position(|i| *i == index) {
                    self.open.remove(pos);
                    Self::emit(
                        out,
                        "content_block_stop",
                        json!({"type": "content_block_stop", "index": index}),
                    );
                }
            }
            "messageStop" => {
                self.stop_reason = v["stopReason"].as_str().map(str::to_string);
            }
            "metadata" => {
                let usage = anthropic_usage(&v["usage"]);
                self.end(usage, out);
            }
            // messageStart: the message_start above is all it says.
            _ => {}
        }
    }

    /// The upstream's framing broke (a CRC mismatch): nothing more can be read.
    pub(crate) fn broken(&mut self, why: &str, out: &mut Vec<SseEvent>) {
        if !self.done {
            self.start(b"", out);
            self.error("api_error", why, out);
        }
    }

    /// The upstream ended. A stream stopped but without its metadata still ends
    /// normally (without usage); one cut before it stopped ends with an error event.
    pub(crate) fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if self.done {
            return;
        }
        if self.stop_reason.is_some() {
            self.end(json!({"output_tokens": 0}), out);
        } else {
            self.start(b"", out);
            self.error(
                "api_error",
                "the provider's stream ended before the answer was complete",
                out,
            );
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::aws::event_stream::{encode_event, encode_exception, Decoder};

    /// A ConverseStream answer: text, then a tool call, then stop and usage.
    pub(crate) fn sample_stream() -> Vec<u8> {
        let mut s = Vec::new();
        for (kind, payload) in [
            ("messageStart", json!({"role": "assistant"})),
            (
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": "Hel"}}),
            ),
            (
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": "lo"}}),
            ),
            ("contentBlockStop", json!({"contentBlockIndex": 0})),
            (
                "contentBlockStart",
                json!({"contentBlockIndex": 1,
                "start": {"toolUse": {"toolUseId": "tooluse_9", "name": "f"}}}),
            ),
            (
                "contentBlockDelta",
                json!({"contentBlockIndex": 1,
                "delta": {"toolUse": {"input": "{\"a\":"}}}),
            ),
            (
                "contentBlockDelta",
                json!({"contentBlockIndex": 1,
                "delta": {"toolUse": {"input": "1}"}}}),
            ),
            ("contentBlockStop", json!({"contentBlockIndex": 1})),
            ("messageStop", json!({"stopReason": "tool_use"})),
            (
                "metadata",
                json!({"usage": {"inputTokens": 11, "outputTokens": 6, "totalTokens": 17},
                "metrics": {"latencyMs": 42}}),
            ),
        ] {
            s.extend(encode_event(kind, payload.to_string().as_bytes()));
        }
        s
    }

    fn run(stream: &[u8], chunk: usize) -> Vec<(String, Value)> {
        let mut d = Decoder::new(1 << 20);
        let mut t = ConverseToMessages::new("claude-client");
        let mut events = Vec::new();
        for c in stream.chunks(chunk) {
            d.push(c, &mut |m| t.on_message(&m, &mut events)).unwrap();
        }
        t.finish(&mut events);
        events
            .into_iter()
            .map(|e| (e.name.unwrap(), serde_json::from_slice(&e.data).unwrap()))
            .collect()
    }

    #[test]
    fn a_whole_stream_in_any_chunking() {
        let stream = sample_stream();
        let whole = run(&stream, stream.len());
        let names: Vec<&str> = whole.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(whole[0].1["message"]["model"], "claude-client");
        assert_eq!(
            whole[2].1["delta"],
            json!({"type": "text_delta", "text": "Hel"})
        );
        assert_eq!(
            whole[5].1["content_block"],
            json!({"type": "tool_use", "id": "tooluse_9", "name": "f", "input": {}})
        );
        assert_eq!(whole[7].1["delta"]["partial_json"], "1}");
        assert_eq!(whole[9].1["delta"]["stop_reason"], "tool_use");
        assert_eq!(whole[9].1["usage"]["input_tokens"], 11);
        assert_eq!(whole[9].1["usage"]["output_tokens"], 6);
        for size in [1, 7, 64] {
            assert_eq!(run(&stream, size), whole, "chunks of {size}");
        }
    }

    #[test]
    fn exceptions_and_cut_streams_end_with_an_error_event() {
        let mut s = encode_event("messageStart", br#"{"role":"assistant"}"#);
        s.extend(encode_exception(
            "throttlingException",
            br#"{"message":"Too many tokens"}"#,
        ));
        let events = run(&s, 5);
        let last = &events.last().unwrap().1;
        assert_eq!(last["error"]["type"], "rate_limit_error");
        assert_eq!(last["error"]["message"], "Too many tokens");

        let cut = encode_event(
            "contentBlockDelta",
            br#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#,
        );
        let events = run(&cut, 100);
        assert_eq!(events.last().unwrap().0, "error");
    }
}
