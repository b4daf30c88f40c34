//! OpenAI `chat.completion.chunk`s rewritten as an Anthropic message event stream.
//!
//! first chunk → message_start; `delta.content` → a text block; each
//! `delta.tool_calls[i]` → a tool_use block (its argument fragments as
//! input_json_delta); `finish_reason` closes the open block; `[DONE]` → message_delta
//! (stop reason and usage) and message_stop.
//!
//! Usage: OpenAI reports it once, in the last chunk (the lane is always asked for it),
//! after everything else. So message_start carries zeros and message_delta carries the
//! real counts: `output_tokens`, and also `input_tokens` and the cache counts, which
//! current Anthropic SDKs take from message_delta (cumulative totals overwrite
//! message_start's; anthropic-python 2.x `accumulate_event`). SDKs that read input
//! usage only from message_start would show 0 input tokens; announcing message_start
//! later would mean holding back the whole answer.

use serde_json::{json, Value};

use super::error::error_to_anthropic;
use crate::sse::SseEvent;
use crate::translate::event_rewriter::EventRewriter;
use crate::translate::openai_anthropic_terms::{
    message_id_from_chat_id, stop_reason_from_finish_reason, Usage,
};
use crate::translate::sse_out::write_event;

#[derive(Debug)]
pub(crate) struct ToMessages {
    model: String,
    started: bool,
    /// The Anthropic block being streamed, by index.
    open: Option<u64>,
    next_block: u64,
    /// Whether the open block is text (else a tool_use).
    open_is_text: bool,
    /// OpenAI tool call index → Anthropic block index.
    tool_blocks: Vec<(u64, u64)>,
    refused: bool,
    stop_reason: Option<&'static str>,
    usage: Option<Usage>,
    done: bool,
}

fn emit(out: &mut Vec<u8>, name: &str, mut data: Value) {
    data["type"] = Value::String(name.to_string());
    write_event(out, name, data.to_string().as_bytes());
}

impl ToMessages {
    pub(crate) fn new(model: &str) -> Self {
        ToMessages {
            model: model.to_string(),
            started: false,
            open: None,
            next_block: 0,
            open_is_text: false,
            tool_blocks: Vec::new(),
            refused: false,
            stop_reason: None,
            usage: None,
            done: false,
        }
    }

    fn start(&mut self, out: &mut Vec<u8>, chat_id: Option<&str>) {
        if self.started {
            return;
        }
        self.started = true;
        let message = json!({
            "id": message_id_from_chat_id(chat_id.unwrap_or("")),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        });
        emit(out, "message_start", json!({"message": message}));
    }

    fn rewrite_event(&mut self, event: SseEvent, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        if event.data == b"[DONE]" {
            self.complete(out);
            return;
        }
        let Ok(chunk) = serde_json::from_slice::<Value>(&event.data) else {
            return;
        };
        if chunk["error"].is_object() {
            write_event(out, "error", &error_to_anthropic(&event.data));
            self.done = true;
            return;
        }
        if crate::azure::is_prompt_filter_chunk(&chunk) {
            // Azure's verdict on the prompt: nothing of the answer yet, not even its id.
            return;
        }
        self.start(out, chunk["id"].as_str());
        if chunk["usage"].is_object() {
            self.usage = Some(Usage::from_openai(&chunk["usage"]));
        }
        let choices = chunk["choices"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        // One choice is all a translated request can ask for.
        for choice in choices
            .iter()
            .filter(|c| c["index"].as_u64().unwrap_or(0) == 0)
        {
            let delta = &choice["delta"];
            if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
                self.text(out, text);
            }
            if let Some(text) = delta["refusal"].as_str().filter(|t| !t.is_empty()) {
                self.refused = true;
                self.text(out, text);
            }
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                self.tool_call(out, call);
            }
            if let Some(reason) = choice["finish_reason"].as_str() {
                self.close(out);
                self.stop_reason = Some(if self.refused {
                    "refusal"
                } else {
                    stop_reason_from_finish_reason(reason)
                });
            }
        }
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if let Some(index) = self.open.take() {
            emit(out, "content_block_stop", json!({"index": index}));
        }
    }

    fn open_block(&mut self, out: &mut Vec<u8>, block: Value, is_text: bool) -> u64 {
        self.close(out);
        let index = self.next_block;
        self.next_block += 1;
        emit(
            out,
            "content_block_start",
            json!({"index": index, "content_block": block}),
        );
        self.open = Some(index);
        self.open_is_text = is_text;
        index
    }

    fn text(&mut self, out: &mut Vec<u8>, text: &str) {
        let index = match self.open {
            Some(i) if self.open_is_text => i,
            _ => self.open_block(out, json!({"type": "text", "text": ""}), true),
        };
        let delta = json!({"type": "text_delta", "text": text});
        emit(
            out,
            "content_block_delta",
            json!({"index": index, "delta": delta}),
        );
    }

    /// OpenAI streams each call whole before the next (id and name first, then argument
    /// fragments). A fragment for an earlier call is still sent to that call's block.
    fn tool_call(&mut self, out: &mut Vec<u8>, call: &Value) {
        let position = call["index"].as_u64().unwrap_or(0);
        let known = self.tool_blocks.iter().find(|(p, _)| *p == position);
        let index = match known {
            Some((_, index)) => *index,
            None => {
                let id = call["id"]
                    .as_str()
                    .map_or_else(|| format!("call_{position}"), str::to_string);
                let block = json!({
                    "type": "tool_use",
                    "id": id,
                    "name": call["function"]["name"].as_str().unwrap_or(""),
                    "input": {},
                });
                let index = self.open_block(out, block, false);
                self.tool_blocks.push((position, index));
                index
            }
        };
        if let Some(partial) = call["function"]["arguments"]
            .as_str()
            .filter(|a| !a.is_empty())
        {
            let delta = json!({"type": "input_json_delta", "partial_json": partial});
            emit(
                out,
                "content_block_delta",
                json!({"index": index, "delta": delta}),
            );
        }
    }

    fn complete(&mut self, out: &mut Vec<u8>) {
        self.start(out, None);
        self.close(out);
        let usage = match self.usage {
            Some(u) => u.to_anthropic(),
            None => json!({"output_tokens": 0}),
        };
        let delta = json!({
            "stop_reason": self.stop_reason.unwrap_or("end_turn"),
            "stop_sequence": null,
        });
        emit(
            out,
            "message_delta",
            json!({"delta": delta, "usage": usage}),
        );
        emit(out, "message_stop", json!({}));
        self.done = true;
    }

    fn end_stream(&mut self, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        if self.stop_reason.is_some() {
            // Only `[DONE]` was missing: the answer itself is whole.
            self.complete(out);
            return;
        }
        let error = json!({"type": "error", "error": {
            "type": "api_error",
            "message": "the provider's stream ended before the answer was complete",
        }});
        write_event(out, "error", error.to_string().as_bytes());
        self.done = true;
    }
}

impl EventRewriter for ToMessages {
    fn on_event(&mut self, event: SseEvent, out: &mut Vec<u8>) {
        self.rewrite_event(event, out);
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
    use serde_json::{json, Value};

    use super::*;
    use crate::translate::direction::Direction;
    use crate::translate::event_rewriter::test_support;

    /// Anthropic clients always get usage: the flag is the OpenAI direction's.
    fn translate_all_ways(
        _: Direction,
        _include_usage: bool,
        input: &str,
    ) -> Vec<(Option<String>, serde_json::Value)> {
        test_support::translate_all_ways(|| ToMessages::new("client-model"), input)
    }

    const D: Direction = Direction::MessagesClientChatLane;

    fn openai(chunks: &[Value]) -> String {
        let mut s: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
        s.push_str("data: [DONE]\n\n");
        s
    }

    fn delta(delta: Value, finish: Value) -> Value {
        json!({"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1,
            "model": "gpt-4o-mini", "usage": null,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
    }

    fn usage(prompt: u64, cached: u64, completion: u64) -> Value {
        json!({"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1,
            "model": "gpt-4o-mini", "choices": [],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": cached}}})
    }

    fn ev(name: &str, data: Value) -> (Option<String>, Value) {
        let mut data = data;
        data["type"] = json!(name);
        (Some(name.to_string()), data)
    }

    fn message_start() -> (Option<String>, Value) {
        ev(
            "message_start",
            json!({"message": {"id": "msg_9", "type": "message",
            "role": "assistant", "model": "client-model", "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "output_tokens": 0}}}),
        )
    }

    #[test]
    fn text_stream_with_usage() {
        let input = openai(&[
            delta(
                json!({"role": "assistant", "content": "", "refusal": null}),
                Value::Null,
            ),
            delta(json!({"content": "Hé"}), Value::Null),
            delta(json!({"content": "llo"}), Value::Null),
            delta(json!({}), json!("stop")),
            usage(2006, 1920, 300),
        ]);
        assert_eq!(
            translate_all_ways(D, false, &input),
            vec![
                message_start(),
                ev(
                    "content_block_start",
                    json!({"index": 0, "content_block": {"type": "text", "text": ""}})
                ),
                ev(
                    "content_block_delta",
                    json!({"index": 0, "delta": {"type": "text_delta", "text": "Hé"}})
                ),
                ev(
                    "content_block_delta",
                    json!({"index": 0, "delta": {"type": "text_delta", "text": "llo"}})
                ),
                ev("content_block_stop", json!({"index": 0})),
                ev(
                    "message_delta",
                    json!({"delta": {"stop_reason": "end_turn", "stop_sequence": null},
                    "usage": {"input_tokens": 86, "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 1920, "output_tokens": 300}})
                ),
                ev("message_stop", json!({})),
            ]
        );
    }

    #[test]
    fn azure_prompt_filter_chunk_and_content_filter_finish() {
        let prompt_filter = json!({"choices": [], "created": 0, "id": "", "model": "",
            "object": "", "prompt_filter_results": [{"prompt_index": 0,
                "content_filter_results": {"hate": {"filtered": false, "severity": "safe"}}}]});
        let mut filtered = delta(json!({}), json!("content_filter"));
        filtered["choices"][0]["content_filter_results"] =
            json!({"violence": {"filtered": true, "severity": "medium"}});
        let mut text = delta(json!({"content": "Hi"}), Value::Null);
        text["choices"][0]["content_filter_results"] =
            json!({"hate": {"filtered": false, "severity": "safe"}});
        let input = openai(&[prompt_filter, text, filtered, usage(10, 0, 1)]);
        let events = translate_all_ways(D, false, &input);
        assert_eq!(events[0], message_start(), "the id comes from the answer");
        assert_eq!(events[2].1["delta"]["text"], "Hi");
        let stop = events
            .iter()
            .find(|e| e.0.as_deref() == Some("message_delta"));
        assert_eq!(stop.unwrap().1["delta"]["stop_reason"], "refusal");
        assert_eq!(stop.unwrap().1["usage"]["output_tokens"], 1);
        assert_eq!(events.last().unwrap().0.as_deref(), Some("message_stop"));
    }

    #[test]
    fn parallel_tool_calls_stream() {
        let call = |index: u64, id: Option<&str>, name: Option<&str>, args: &str| {
            let mut c = json!({"index": index, "function": {"arguments": args}});
            if let (Some(id), Some(name)) = (id, name) {
                c["id"] = json!(id);
                c["type"] = json!("function");
                c["function"]["name"] = json!(name);
            }
            delta(json!({"tool_calls": [c]}), Value::Null)
        };
        let input = openai(&[
            delta(json!({"role": "assistant", "content": null}), Value::Null),
            delta(json!({"content": "Sure."}), Value::Null),
            call(0, Some("call_a"), Some("weather"), ""),
            call(0, None, None, "{\"city\":"),
            call(0, None, None, "\"Paris\"}"),
            call(1, Some("call_b"), Some("now"), "{}"),
            delta(json!({}), json!("tool_calls")),
            usage(50, 0, 20),
        ]);
        assert_eq!(
            translate_all_ways(D, false, &input),
            vec![
                message_start(),
                ev(
                    "content_block_start",
                    json!({"index": 0, "content_block": {"type": "text", "text": ""}})
                ),
                ev(
                    "content_block_delta",
                    json!({"index": 0, "delta": {"type": "text_delta", "text": "Sure."}})
                ),
                ev("content_block_stop", json!({"index": 0})),
                ev(
                    "content_block_start",
                    json!({"index": 1, "content_block":
                    {"type": "tool_use", "id": "call_a", "name": "weather", "input": {}}})
                ),
                ev(
                    "content_block_delta",
                    json!({"index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\":"}})
                ),
                ev(
                    "content_block_delta",
                    json!({"index": 1, "delta": {"type": "input_json_delta", "partial_json": "\"Paris\"}"}})
                ),
                ev("content_block_stop", json!({"index": 1})),
                ev(
                    "content_block_start",
                    json!({"index": 2, "content_block":
                    {"type": "tool_use", "id": "call_b", "name": "now", "input": {}}})
                ),
                ev(
                    "content_block_delta",
                    json!({"index": 2, "delta": {"type": "input_json_delta", "partial_json": "{}"}})
                ),
                ev("content_block_stop", json!({"index": 2})),
                ev(
                    "message_delta",
                    json!({"delta": {"stop_reason": "tool_use", "stop_sequence": null},
                    "usage": {"input_tokens": 50, "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0, "output_tokens": 20}})
                ),
                ev("message_stop", json!({})),
            ]
        );
    }

    #[test]
    fn length_refusal_and_missing_usage() {
        let input = openai(&[
            delta(json!({"content": "abc"}), Value::Null),
            delta(json!({}), json!("length")),
        ]);
        let events = translate_all_ways(D, false, &input);
        let last_delta = &events[events.len() - 2].1;
        assert_eq!(last_delta["delta"]["stop_reason"], "max_tokens");
        assert_eq!(last_delta["usage"], json!({"output_tokens": 0}));

        let input = openai(&[
            delta(json!({"refusal": "I can't help with that."}), Value::Null),
            delta(json!({}), json!("stop")),
        ]);
        let events = translate_all_ways(D, false, &input);
        assert_eq!(events[2].1["delta"]["text"], "I can't help with that.");
        assert_eq!(
            events[events.len() - 2].1["delta"]["stop_reason"],
            "refusal"
        );
    }

    #[test]
    fn upstream_error_chunk_becomes_an_error_event() {
        let input = format!(
            "data: {}\n\ndata: {}\n\n",
            delta(json!({"content": "a"}), Value::Null),
            json!({"error": {"message": "boom", "type": "server_error", "code": null}})
        );
        let events = translate_all_ways(D, false, &input);
        assert_eq!(
            events.last().unwrap(),
            &(
                Some("error".to_string()),
                json!({"type": "error", "error": {"type": "api_error", "message": "boom"}})
            )
        );
        assert_eq!(events.len(), 4);
    }

    #[test]
    fn truncated_stream_ends_with_an_error_event() {
        let input = format!("data: {}\n\n", delta(json!({"content": "a"}), Value::Null));
        let events = translate_all_ways(D, false, &input);
        assert_eq!(events.last().unwrap().0.as_deref(), Some("error"));
        assert!(events
            .iter()
            .all(|(n, _)| n.as_deref() != Some("message_stop")));

        // Finished but no [DONE]: a whole answer, ended normally.
        let input = format!(
            "data: {}\n\ndata: {}\n\n",
            delta(json!({"content": "a"}), Value::Null),
            delta(json!({}), json!("stop"))
        );
        let events = translate_all_ways(D, false, &input);
        assert_eq!(events.last().unwrap().0.as_deref(), Some("message_stop"));

        // Nothing at all: still a well-formed error, no panic.
        let events = translate_all_ways(D, false, "");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].0.as_deref(), Some("error"));
    }
}
