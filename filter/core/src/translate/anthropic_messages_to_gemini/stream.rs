//! A Gemini stream rewritten as an Anthropic message event stream: each Gemini event
//! becomes chat chunks ([`GeminiToChat`], always with the usage chunk), and those
//! chunks become Anthropic events ([`ToMessages`]) straight away, so nothing waits
//! for the end of the answer.

use crate::sse::{SseEvent, SseParser};
use crate::translate::anthropic_messages_to_openai_chat::ToMessages;
use crate::translate::event_rewriter::{self, EventRewriter};
use crate::translate::openai_chat_to_gemini::GeminiToChat;

#[derive(Debug)]
pub(crate) struct GeminiToMessages {
    to_chat: GeminiToChat,
    /// Reads the chat chunks `to_chat` writes (whole events, never split).
    chat: SseParser,
    to_messages: ToMessages,
}

impl GeminiToMessages {
    pub(crate) fn new(model: &str) -> Self {
        GeminiToMessages {
            // Anthropic clients always get usage, from the chat usage chunk.
            to_chat: GeminiToChat::new(model, true),
            chat: SseParser::new(usize::MAX),
            to_messages: ToMessages::new(model),
        }
    }
}

impl EventRewriter for GeminiToMessages {
    fn on_event(&mut self, event: SseEvent, out: &mut Vec<u8>) {
        let mut chat = Vec::new();
        self.to_chat.on_event(event, &mut chat);
        out.extend(event_rewriter::push(
            &mut self.chat,
            &mut self.to_messages,
            &chat,
        ));
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        let mut chat = Vec::new();
        self.to_chat.finish(&mut chat);
        out.extend(event_rewriter::push(
            &mut self.chat,
            &mut self.to_messages,
            &chat,
        ));
        out.extend(event_rewriter::finish(
            &mut self.chat,
            &mut self.to_messages,
        ));
    }

    fn is_complete(&self) -> bool {
        self.to_messages.is_complete()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::translate::event_rewriter::test_support;

    fn gemini(events: &[Value]) -> String {
        events
            .iter()
            .map(|e| format!("data: {e}\r\n\r\n"))
            .collect()
    }

    fn translate(input: &str) -> Vec<(Option<String>, Value)> {
        test_support::translate_all_ways(|| GeminiToMessages::new("claude-haiku-4-5"), input)
    }

    #[test]
    fn text_stream_as_message_events() {
        let input = gemini(&[
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}}],
                "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1}, "responseId": "rid"}),
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "lo"}]}, "finishReason": "MAX_TOKENS"}],
                "usageMetadata": {"promptTokenCount": 5, "cachedContentTokenCount": 2,
                    "candidatesTokenCount": 2, "thoughtsTokenCount": 3}, "responseId": "rid"}),
        ]);
        let events = translate(&input);
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(events[0].1["message"]["id"], "msg_rid");
        assert_eq!(events[0].1["message"]["model"], "claude-haiku-4-5");
        let text: String = events
            .iter()
            .filter_map(|(_, d)| d["delta"]["text"].as_str())
            .collect();
        assert_eq!(text, "Hello");
        let delta = &events[5].1;
        assert_eq!(delta["delta"]["stop_reason"], "max_tokens");
        assert_eq!(delta["usage"]["output_tokens"], 5);
        assert_eq!(delta["usage"]["input_tokens"], 3);
        assert_eq!(delta["usage"]["cache_read_input_tokens"], 2);
    }

    #[test]
    fn a_cut_stream_ends_with_an_error_event() {
        let input = gemini(&[json!({"candidates": [{"content": {"parts": [{"text": "a"}]}}]})]);
        let events = translate(&input);
        assert_eq!(events.last().unwrap().0.as_deref(), Some("error"));
    }
}
