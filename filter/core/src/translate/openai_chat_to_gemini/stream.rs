//! A Gemini `streamGenerateContent?alt=sse` stream rewritten as OpenAI
//! `chat.completion.chunk`s.
//!
//! Each Gemini event is a partial `GenerateContentResponse`: its text parts become
//! `delta.content`, its function calls whole `delta.tool_calls` (Gemini streams each
//! call whole), its `finishReason` the finish chunk. Every event carries the usage so
//! far; the last one's is the final count, sent as the usage chunk (if the client
//! asked) before `[DONE]` when the upstream stream ends.

use serde_json::{json, Value};

use super::error::gemini_error_to_openai;
use super::response::{block_message, read_reply};
use crate::sse::SseEvent;
use crate::translate::event_rewriter::EventRewriter;
use crate::translate::gemini_terms::{chat_id, openai_usage};
use crate::translate::sse_out::write_data;

#[derive(Debug)]
pub(crate) struct GeminiToChat {
    model: String,
    pub(crate) created: u64,
    include_usage: bool,
    id: Option<String>,
    tool_calls: usize,
    finish_sent: bool,
    usage: Option<Value>,
    done: bool,
}

impl GeminiToChat {
    pub(crate) fn new(model: &str, include_usage: bool) -> Self {
        GeminiToChat {
            model: model.to_string(),
            created: 0,
            include_usage,
            id: None,
            tool_calls: 0,
            finish_sent: false,
            usage: None,
            done: false,
        }
    }

    fn chunk(&self, choices: Value) -> Value {
        json!({
            "id": self.id.as_deref().unwrap_or("chatcmpl-"),
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

    fn rewrite_event(&mut self, event: SseEvent, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(&event.data) else {
            return;
        };
        if v["error"].is_object() {
            out.extend_from_slice(b"data: ");
            out.extend(gemini_error_to_openai(&event.data));
            out.extend_from_slice(b"\n\n");
            self.done = true;
            return;
        }
        if self.id.is_none() {
            // The first chunk names the role, as OpenAI's does.
            self.id = Some(chat_id(&v));
            self.write_delta(out, json!({"role": "assistant", "content": ""}), None);
        }
        if v["usageMetadata"].is_object() {
            self.usage = Some(v["usageMetadata"].clone());
        }
        let reply = read_reply(&v, self.tool_calls);
        if !reply.text.is_empty() {
            self.write_delta(out, json!({"content": reply.text}), None);
        }
        for mut call in reply.calls {
            call["index"] = self.tool_calls.into();
            self.tool_calls += 1;
            self.write_delta(out, json!({"tool_calls": [call]}), None);
        }
        if let Some(reason) = &reply.blocked {
            self.write_delta(out, json!({"refusal": block_message(reason)}), None);
        }
        if let (Some(finish), false) = (reply.finish_reason, self.finish_sent) {
            self.finish_sent = true;
            self.write_delta(out, json!({}), Some(finish));
        }
    }

    fn end_stream(&mut self, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        self.done = true;
        if !self.finish_sent {
            let error = json!({"error": {
                "message": "the provider's stream ended before the answer was complete",
                "type": "server_error",
                "param": null,
                "code": "incomplete_stream",
            }});
            write_data(out, &error);
            return;
        }
        if self.include_usage {
            let mut chunk = self.chunk(json!([]));
            chunk["usage"] = openai_usage(self.usage.as_ref().unwrap_or(&Value::Null));
            write_data(out, &chunk);
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
}

impl EventRewriter for GeminiToChat {
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
    use super::*;
    use crate::translate::event_rewriter::test_support;

    /// Gemini frames its events with CRLF line ends.
    fn gemini(events: &[Value]) -> String {
        events
            .iter()
            .map(|e| format!("data: {e}\r\n\r\n"))
            .collect()
    }

    fn translate(include_usage: bool, input: &str) -> Vec<Value> {
        test_support::translate_all_ways(
            || {
                let mut t = GeminiToChat::new("gpt-4o", include_usage);
                t.created = 7;
                t
            },
            input,
        )
        .into_iter()
        .map(|(name, data)| {
            assert_eq!(name, None);
            data
        })
        .collect()
    }

    #[test]
    fn text_stream_with_usage() {
        let input = gemini(&[
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}, "index": 0}],
                "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1, "totalTokenCount": 6},
                "modelVersion": "gemini-2.5-flash", "responseId": "rid"}),
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "lo"}]}, "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "thoughtsTokenCount": 3, "totalTokenCount": 10},
                "modelVersion": "gemini-2.5-flash", "responseId": "rid"}),
        ]);
        let events = translate(true, &input);
        assert_eq!(events.len(), 6);
        assert_eq!(
            events[0]["choices"][0]["delta"],
            json!({"role": "assistant", "content": ""})
        );
        assert_eq!(events[0]["id"], "chatcmpl-rid");
        assert_eq!(events[0]["created"], 7);
        assert_eq!(events[1]["choices"][0]["delta"]["content"], "Hel");
        assert_eq!(events[2]["choices"][0]["delta"]["content"], "lo");
        assert_eq!(events[3]["choices"][0]["finish_reason"], "stop");
        assert_eq!(events[4]["choices"], json!([]));
        assert_eq!(events[4]["usage"]["completion_tokens"], 5);
        assert_eq!(events[4]["usage"]["prompt_tokens"], 5);
        assert_eq!(events[5], json!("[DONE]"));
        // Without include_usage, no usage chunk.
        let plain = translate(false, &input);
        assert_eq!(plain.len(), 5);
        assert!(plain.iter().all(|e| e.get("usage").is_none()));
    }

    #[test]
    fn tool_calls_stream_whole() {
        let input = gemini(&[
            json!({"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "a", "args": {"x": 1}}}]}}], "responseId": "rid"}),
            json!({"candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "b", "args": {}}},
            {"functionCall": {"id": "g7", "name": "c", "args": {}}}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 9}, "responseId": "rid"}),
        ]);
        let events = translate(false, &input);
        let call = |i: usize| events[i]["choices"][0]["delta"]["tool_calls"][0].clone();
        assert_eq!(call(1)["index"], 0);
        // Numbered across the stream's events, and named after the answer.
        assert_eq!(call(1)["id"], "call_rid_0");
        assert_eq!(
            call(1)["function"],
            json!({"name": "a", "arguments": "{\"x\":1}"})
        );
        assert_eq!(
            (call(2)["index"].clone(), call(2)["id"].clone()),
            (json!(1), json!("call_rid_1"))
        );
        // Gemini's own id is kept.
        assert_eq!(
            (call(3)["index"].clone(), call(3)["id"].clone()),
            (json!(2), json!("g7"))
        );
        assert_eq!(events[4]["choices"][0]["finish_reason"], "tool_calls");
    }

    #[test]
    fn cut_streams_errors_and_blocked_prompts() {
        let cut = gemini(&[json!({"candidates": [{"content": {"parts": [{"text": "a"}]}}]})]);
        let events = translate(true, &cut);
        assert_eq!(events.last().unwrap()["error"]["code"], "incomplete_stream");

        let error = gemini(&[
            json!({"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}),
        ]);
        let events = translate(true, &error);
        assert_eq!(
            events,
            [
                json!({"error": {"message": "overloaded", "type": "server_error", "param": null, "code": "unavailable"}})
            ]
        );

        let blocked = gemini(&[json!({"promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4}})]);
        let events = translate(false, &blocked);
        assert!(events[1]["choices"][0]["delta"]["refusal"]
            .as_str()
            .unwrap()
            .contains("SAFETY"));
        assert_eq!(events[2]["choices"][0]["finish_reason"], "content_filter");
        assert_eq!(events[3], json!("[DONE]"));
    }
}
