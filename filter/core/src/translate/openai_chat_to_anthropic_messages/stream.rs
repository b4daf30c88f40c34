//! An Anthropic message event stream rewritten as OpenAI `chat.completion.chunk`s.
//!
//! message_start → role chunk; text blocks → `delta.content`; tool_use blocks →
//! `delta.tool_calls` (id and name first, then argument fragments); message_delta →
//! finish chunk; message_stop → usage chunk (if the client asked) and `[DONE]`.

use serde_json::{json, Value};

use super::error::error_to_openai;
use crate::json_scan;
use crate::sse::{SseEvent, SseEventRef};
use crate::translate::event_rewriter::EventRewriter;
use crate::translate::openai_anthropic_terms::{
    chat_id_from_message_id, finish_reason_from_stop_reason, Usage,
};
use crate::translate::sse_out::write_data;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    /// A tool_use block and its position in OpenAI's `tool_calls`.
    Tool(u64),
    /// Blocks with no chat counterpart (thinking, server tools): left out.
    Other,
}

#[derive(Debug)]
pub(crate) struct ToChat {
    model: String,
    pub(crate) created: u64,
    include_usage: bool,
    id: String,
    started: bool,
    /// Anthropic block index → what it is.
    blocks: Vec<(u64, Block)>,
    tool_calls: u64,
    finish_sent: bool,
    usage: Usage,
    done: bool,
    /// The text chunk as `write_delta` writes it, split around its text: text deltas
    /// (nearly every event) are written by copying the upstream's escaped text between
    /// the two halves. Rebuilt after any other event, which may change the chunk's id.
    text_chunk: Option<(Vec<u8>, usize)>,
}

/// Stands in for the text in the rendered text chunk; plain ASCII, so serde_json
/// writes it as it is.
const TEXT_SLOT: &str = "tollgate-text-slot-5b7e";

impl ToChat {
    pub(crate) fn new(model: &str, include_usage: bool) -> Self {
        ToChat {
            model: model.to_string(),
            created: 0,
            include_usage,
            id: chat_id_from_message_id(""),
            started: false,
            blocks: Vec::new(),
            tool_calls: 0,
            finish_sent: false,
            usage: Usage::default(),
            done: false,
            text_chunk: None,
        }
    }

    /// A `text_delta` of a text block, written without deserialising the event; false
    /// (nothing written) for any other event, or text serde_json would escape
    /// differently, which the full rewrite handles.
    fn text_delta(&mut self, data: &[u8], out: &mut Vec<u8>) -> bool {
        if self.done || !self.started {
            return false;
        }
        let Some([Some(kind), index, Some(delta)]) =
            json_scan::object_fields(data, [b"type", b"index", b"delta"])
        else {
            return false;
        };
        if json_scan::string_body(kind) != Some(b"content_block_delta") {
            return false;
        }
        let index = match index {
            None => 0,
            Some(raw) => match std::str::from_utf8(raw).ok().and_then(|n| n.parse().ok()) {
                Some(n) => n,
                None => return false,
            },
        };
        let block = self.blocks.iter().rev().find(|(i, _)| *i == index);
        if block.map(|(_, b)| *b) != Some(Block::Text) {
            return false;
        }
        let Some([Some(delta_kind), text]) = json_scan::object_fields(delta, [b"type", b"text"])
        else {
            return false;
        };
        if json_scan::string_body(delta_kind) != Some(b"text_delta") {
            return false;
        }
        let text = match text.map(json_scan::string_body) {
            None => b"".as_slice(),
            Some(Some(t)) if json_scan::is_serde_escaped(t) => t,
            Some(_) => return false,
        };
        if text.is_empty() {
            return true;
        }
        let (chunk, slot) = self.text_chunk.get_or_insert_with(|| {
            let mut rendered = Vec::new();
            render_text_chunk(&self.id, &self.model, self.created, &mut rendered);
            let slot = rendered
                .windows(TEXT_SLOT.len())
                .position(|w| w == TEXT_SLOT.as_bytes())
                .unwrap_or(0);
            (rendered, slot)
        });
        out.extend_from_slice(&chunk[..*slot]);
        out.extend_from_slice(text);
        out.extend_from_slice(&chunk[*slot + TEXT_SLOT.len()..]);
        true
    }

    fn chunk(&self, choices: Value) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        })
    }

    fn write_delta(&self, out: &mut Vec<u8>, delta: Value, finish_reason: Option<&str>) {
        let choice = json!([{
            "index": 0,
            "delta": delta,
            "logprobs": null,
            "finish_reason": finish_reason,
        }]);
        write_data(out, &self.chunk(choice));
    }

    /// The first chunk names the role, as OpenAI's does.
    fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            self.write_delta(out, json!({"role": "assistant", "content": ""}), None);
        }
    }

    fn rewrite_event(&mut self, event: SseEvent, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(&event.data) else {
            return;
        };
        let kind = v["type"].as_str().or(event.name.as_deref()).unwrap_or("");
        match kind {
            "message_start" => {
                let message = &v["message"];
                if let Some(id) = message["id"].as_str() {
                    self.id = chat_id_from_message_id(id);
                }
                self.usage.merge_anthropic(&message["usage"]);
                self.start(out);
            }
            "content_block_start" => {
                self.start(out);
                let index = v["index"].as_u64().unwrap_or(0);
                let block = &v["content_block"];
                let kind = match block["type"].as_str() {
                    Some("text") => {
                        let text = block["text"].as_str().unwrap_or("");
                        if !text.is_empty() {
                            self.write_delta(out, json!({"content": text}), None);
                        }
                        Block::Text
                    }
                    Some("tool_use") => {
                        let position = self.tool_calls;
                        self.tool_calls += 1;
                        // Streams start tool input empty and send it as deltas; an input
                        // given up front is passed whole.
                        let arguments = match &block["input"] {
                            Value::Object(m) if !m.is_empty() => block["input"].to_string(),
                            _ => String::new(),
                        };
                        let call = json!({
                            "index": position,
                            "id": block["id"],
                            "type": "function",
                            "function": {"name": block["name"], "arguments": arguments},
                        });
                        self.write_delta(out, json!({"tool_calls": [call]}), None);
                        Block::Tool(position)
                    }
                    _ => Block::Other,
                };
                self.blocks.push((index, kind));
            }
            "content_block_delta" => {
                self.start(out);
                let index = v["index"].as_u64().unwrap_or(0);
                let block = self.blocks.iter().rev().find(|(i, _)| *i == index);
                let delta = &v["delta"];
                match (block.map(|(_, b)| *b), delta["type"].as_str()) {
                    (Some(Block::Text), Some("text_delta")) => {
                        let text = delta["text"].as_str().unwrap_or("");
                        if !text.is_empty() {
                            self.write_delta(out, json!({"content": text}), None);
                        }
                    }
                    (Some(Block::Tool(position)), Some("input_json_delta")) => {
                        let partial = delta["partial_json"].as_str().unwrap_or("");
                        if !partial.is_empty() {
                            let call =
                                json!({"index": position, "function": {"arguments": partial}});
                            self.write_delta(out, json!({"tool_calls": [call]}), None);
                        }
                    }
                    // Citations, thinking and signatures have no chat counterpart.
                    _ => {}
                }
            }
            "message_delta" => {
                self.usage.merge_anthropic(&v["usage"]);
                if let Some(stop) = v["delta"]["stop_reason"].as_str() {
                    self.write_finish(out, finish_reason_from_stop_reason(stop));
                }
            }
            "message_stop" => self.complete(out),
            "error" => {
                out.extend_from_slice(b"data: ");
                out.extend(error_to_openai(&event.data));
                out.extend_from_slice(b"\n\n");
                self.done = true;
            }
            // ping, content_block_stop: nothing to say.
            _ => {}
        }
    }

    fn write_finish(&mut self, out: &mut Vec<u8>, finish_reason: &str) {
        if !self.finish_sent {
            self.start(out);
            self.finish_sent = true;
            self.write_delta(out, json!({}), Some(finish_reason));
        }
    }

    fn complete(&mut self, out: &mut Vec<u8>) {
        self.write_finish(out, "stop");
        if self.include_usage {
            let mut chunk = self.chunk(json!([]));
            chunk["usage"] = self.usage.to_openai();
            write_data(out, &chunk);
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
        self.done = true;
    }

    fn end_stream(&mut self, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        if self.finish_sent {
            // Only message_stop was missing: the answer itself is whole.
            self.complete(out);
            return;
        }
        let error = json!({"error": {
            "message": "the provider's stream ended before the answer was complete",
            "type": "server_error",
            "param": null,
            "code": "incomplete_stream",
        }});
        write_data(out, &error);
        self.done = true;
    }
}

/// The text chunk [`ToChat::write_delta`] writes, with [`TEXT_SLOT`] as its text.
fn render_text_chunk(id: &str, model: &str, created: u64, out: &mut Vec<u8>) {
    let mut t = ToChat::new(model, false);
    t.id = id.to_string();
    t.created = created;
    t.write_delta(out, json!({"content": TEXT_SLOT}), None);
}

impl EventRewriter for ToChat {
    fn on_event(&mut self, event: SseEvent, out: &mut Vec<u8>) {
        self.text_chunk = None;
        self.rewrite_event(event, out);
    }

    fn on_event_ref(&mut self, event: SseEventRef<'_>, out: &mut Vec<u8>) {
        if !self.text_delta(event.data, out) {
            self.on_event(event.to_owned(), out);
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        self.end_stream(out);
    }

    fn is_complete(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::translate::direction::Direction;
    use crate::translate::event_rewriter::test_support;

    fn translate_all_ways(
        _: Direction,
        include_usage: bool,
        input: &str,
    ) -> Vec<(Option<String>, serde_json::Value)> {
        test_support::translate_all_ways(
            || {
                let mut t = ToChat::new("client-model", include_usage);
                t.created = 7;
                t
            },
            input,
        )
    }

    const D: Direction = Direction::ChatClientMessagesLane;

    fn anthropic(events: &[(&str, serde_json::Value)]) -> String {
        events
            .iter()
            .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
            .collect()
    }

    fn chunk(delta: serde_json::Value, finish: serde_json::Value) -> serde_json::Value {
        json!({"id": "chatcmpl-01", "object": "chat.completion.chunk", "created": 7,
            "model": "client-model",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
    }

    fn text_stream() -> String {
        anthropic(&[
            (
                "message_start",
                json!({"type": "message_start", "message": {"id": "msg_01",
                "type": "message", "role": "assistant", "model": "claude-haiku-4-5", "content": [],
                "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 25, "cache_creation_input_tokens": 10,
                    "cache_read_input_tokens": 50, "output_tokens": 1}}}),
            ),
            ("ping", json!({"type": "ping"})),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": "Hé"}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": "llo"}}),
            ),
            (
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            (
                "message_delta",
                json!({"type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                "usage": {"output_tokens": 15}}),
            ),
            ("message_stop", json!({"type": "message_stop"})),
        ])
    }

    #[test]
    fn text_stream_with_usage() {
        let events = translate_all_ways(D, true, &text_stream());
        let data: Vec<_> = events
            .iter()
            .map(|(name, d)| {
                assert!(name.is_none());
                d.clone()
            })
            .collect();
        assert_eq!(
            data,
            vec![
                chunk(json!({"role": "assistant", "content": ""}), json!(null)),
                chunk(json!({"content": "Hé"}), json!(null)),
                chunk(json!({"content": "llo"}), json!(null)),
                chunk(json!({}), json!("stop")),
                json!({"id": "chatcmpl-01", "object": "chat.completion.chunk", "created": 7,
                    "model": "client-model", "choices": [],
                    "usage": {"prompt_tokens": 85, "completion_tokens": 15, "total_tokens": 100,
                        "prompt_tokens_details": {"cached_tokens": 50}}}),
                json!("[DONE]"),
            ]
        );
    }

    /// The client bytes for `input` with every event copied and rewritten whole (the
    /// reading without the text-delta shortcut).
    fn rewritten_whole(input: &str) -> Vec<u8> {
        let mut t = ToChat::new("client-model", true);
        t.created = 7;
        let mut parser = crate::sse::SseParser::new(usize::MAX);
        let mut out = Vec::new();
        parser.push(input.as_bytes(), &mut |e| t.on_event(e, &mut out));
        t.finish(&mut out);
        out
    }

    #[test]
    fn text_deltas_written_directly_are_the_bytes_of_the_full_rewrite() {
        let texts = [
            "plain",
            "quote \" backslash \\ newline \n tab \t",
            "é 日本 😀",
            "\u{1}control",
            "",
        ];
        let mut events = vec![
            (
                "message_start",
                json!({"type": "message_start", "message": {"id": "msg_01"}}),
            ),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}}),
            ),
        ];
        for text in texts {
            events.push((
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": text}}),
            ));
        }
        events.push((
            "message_delta",
            json!({"type": "message_delta",
            "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}}),
        ));
        events.push(("message_stop", json!({"type": "message_stop"})));
        let mut input = anthropic(&events);
        // Escapes serde_json would not write, and members in another order.
        let odd = concat!(
            "event: content_block_delta\n",
            "data: {\"delta\":{\"text\":\"caf\\u00e9 \\/\",\"type\":\"text_delta\"},\"index\":0,\"type\":\"content_block_delta\"}\n\n",
            "event: content_block_delta\n",
            "data: {\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"ordered\"},\"type\":\"content_block_delta\"}\n\n",
        );
        let at = input.find("event: message_delta").unwrap();
        input.insert_str(at, odd);
        let mut t = ToChat::new("client-model", true);
        t.created = 7;
        let direct = test_support::translate_in_chunks(t, input.as_bytes(), usize::MAX);
        let whole = rewritten_whole(&input);
        assert_eq!(
            String::from_utf8(direct).unwrap(),
            String::from_utf8(whole.clone()).unwrap()
        );
        let contents: Vec<_> = test_support::events(&whole)
            .into_iter()
            .filter_map(|(_, d)| {
                d["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(String::from)
            })
            .collect();
        assert_eq!(
            contents,
            vec![
                "",
                "plain",
                "quote \" backslash \\ newline \n tab \t",
                "é 日本 😀",
                "\u{1}control",
                "café /",
                "ordered"
            ]
        );
    }

    #[test]
    fn usage_chunk_only_when_asked() {
        let events = translate_all_ways(D, false, &text_stream());
        assert_eq!(events.len(), 5);
        assert_eq!(events[3].1["choices"][0]["finish_reason"], "stop");
        assert_eq!(events[4].1, "[DONE]");
    }

    #[test]
    fn tool_use_stream() {
        let input = anthropic(&[
            (
                "message_start",
                json!({"type": "message_start", "message": {"id": "msg_01",
                "usage": {"input_tokens": 5, "output_tokens": 1}}}),
            ),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": "Checking."}}),
            ),
            (
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 1,
                "content_block": {"type": "tool_use", "id": "toolu_A", "name": "weather", "input": {}}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": ""}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": "{\"city\": \"Pa"}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": "ris\"}"}}),
            ),
            (
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 1}),
            ),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 2,
                "content_block": {"type": "tool_use", "id": "toolu_B", "name": "now", "input": {}}}),
            ),
            (
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 2}),
            ),
            (
                "message_delta",
                json!({"type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                "usage": {"output_tokens": 30}}),
            ),
            ("message_stop", json!({"type": "message_stop"})),
        ]);
        let events = translate_all_ways(D, true, &input);
        let data: Vec<_> = events.into_iter().map(|(_, d)| d).collect();
        assert_eq!(
            data,
            vec![
                chunk(json!({"role": "assistant", "content": ""}), json!(null)),
                chunk(json!({"content": "Checking."}), json!(null)),
                chunk(
                    json!({"tool_calls": [{"index": 0, "id": "toolu_A", "type": "function",
                    "function": {"name": "weather", "arguments": ""}}]}),
                    json!(null)
                ),
                chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\": \"Pa"}}]}),
                    json!(null)
                ),
                chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "ris\"}"}}]}),
                    json!(null)
                ),
                chunk(
                    json!({"tool_calls": [{"index": 1, "id": "toolu_B", "type": "function",
                    "function": {"name": "now", "arguments": ""}}]}),
                    json!(null)
                ),
                chunk(json!({}), json!("tool_calls")),
                json!({"id": "chatcmpl-01", "object": "chat.completion.chunk", "created": 7,
                    "model": "client-model", "choices": [],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 30, "total_tokens": 35,
                        "prompt_tokens_details": {"cached_tokens": 0}}}),
                json!("[DONE]"),
            ]
        );
    }

    #[test]
    fn thinking_blocks_are_left_out_and_max_tokens_is_length() {
        let input = anthropic(&[
            (
                "message_start",
                json!({"type": "message_start", "message": {"id": "msg_01"}}),
            ),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "thinking", "thinking": ""}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "hmm"}}),
            ),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 1,
                "content_block": {"type": "text", "text": "Hi"}}),
            ),
            (
                "message_delta",
                json!({"type": "message_delta",
                "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 2}}),
            ),
            ("message_stop", json!({"type": "message_stop"})),
        ]);
        let data: Vec<_> = translate_all_ways(D, false, &input)
            .into_iter()
            .map(|(_, d)| d)
            .collect();
        assert_eq!(data[1], chunk(json!({"content": "Hi"}), json!(null)));
        assert_eq!(data[2], chunk(json!({}), json!("length")));
        assert_eq!(data.len(), 4);
    }

    #[test]
    fn upstream_error_event_becomes_an_openai_stream_error() {
        let mut input = text_stream();
        input.truncate(input.find("event: message_delta").unwrap());
        input.push_str("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n");
        input.push_str("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
        let events = translate_all_ways(D, true, &input);
        let last = &events.last().unwrap().1;
        assert_eq!(last["error"]["message"], "Overloaded");
        assert_eq!(last["error"]["type"], "server_error");
        // Nothing after the error, not even [DONE].
        assert_eq!(events.len(), 4);
    }

    #[test]
    fn truncated_stream_ends_with_an_error_not_a_clean_finish() {
        let mut input = text_stream();
        input.truncate(input.find("event: content_block_stop").unwrap());
        let events = translate_all_ways(D, true, &input);
        assert_eq!(
            events.last().unwrap().1["error"]["code"],
            "incomplete_stream"
        );
        assert!(events.iter().all(|(_, d)| d != "[DONE]"));

        // Only message_stop missing: the answer is whole and ends normally.
        let mut input = text_stream();
        input.truncate(input.find("event: message_stop").unwrap());
        let events = translate_all_ways(D, false, &input);
        assert_eq!(events.last().unwrap().1, "[DONE]");
    }
}
