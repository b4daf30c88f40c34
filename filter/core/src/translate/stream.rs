//! Streamed answers translated event by event: each upstream chunk yields the client
//! bytes it completes, nothing waits for the end of the answer.

use super::anthropic_messages_to_bedrock_converse::ConverseToMessages;
use super::anthropic_messages_to_gemini::GeminiToMessages;
use super::anthropic_messages_to_openai_chat::ToMessages;
use super::direction::Direction;
use super::event_rewriter::{self, EventRewriter};
use super::openai_chat_to_anthropic_messages::ToChat;
use super::openai_chat_to_gemini::GeminiToChat;
use super::sse_out::write_event;
use crate::aws::event_stream::{Decoder, Message};
use crate::sse::{SseEvent, SseEventRef, SseParser};

/// Largest upstream event kept for translation. Provider events are small deltas; one
/// larger than this is skipped by the parser (and counted in `oversized_events`)
/// rather than growing the filter's memory.
pub const MAX_UPSTREAM_EVENT: usize = 1 << 20;

/// Rewrites an upstream stream (SSE, or a Bedrock lane's AWS event-stream framing) into
/// the client's stream format.
///
/// `push` each upstream body chunk as it arrives and send what it returns; call
/// `finish` at the end of the upstream body. Only 2xx streams are translated: an error
/// status carries a JSON body for `error_to_openai` / `error_to_anthropic`.
#[derive(Debug)]
pub struct StreamTranslator {
    parser: SseParser,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    ToChat(ToChat),
    ToMessages(ToMessages),
    GeminiToChat(GeminiToChat),
    GeminiToMessages(Box<GeminiToMessages>),
    FromConverse(Box<FromConverse>),
}

/// A Bedrock Converse stream: its event-stream messages become Anthropic events, for
/// an Anthropic client as they are, for an OpenAI client turned into chat chunks.
#[derive(Debug)]
struct FromConverse {
    /// Reads the lane's framing when the bytes are pushed here (not when the caller
    /// decodes the messages itself and hands them to [`StreamTranslator::on_message`]).
    decoder: Decoder,
    events: ConverseToMessages,
    /// Only for an OpenAI client.
    chat: Option<ToChat>,
    /// Anthropic events waiting to be written (reused).
    pending: Vec<SseEvent>,
}

impl FromConverse {
    /// Writes the pending Anthropic events in the client's format.
    fn write(&mut self, out: &mut Vec<u8>) {
        for e in self.pending.drain(..) {
            match &mut self.chat {
                Some(chat) => chat.on_event(e, out),
                None => write_event(out, e.name.as_deref().unwrap_or(""), &e.data),
            }
        }
    }

    fn on_message(&mut self, m: &Message, out: &mut Vec<u8>) {
        self.events.on_message(m, &mut self.pending);
        self.write(out);
    }

    fn broken(&mut self, why: &str, out: &mut Vec<u8>) {
        self.events.broken(why, &mut self.pending);
        self.write(out);
    }

    fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let FromConverse {
            decoder,
            events,
            pending,
            ..
        } = self;
        let read = decoder.push(chunk, &mut |m| events.on_message(&m, pending));
        if let Err(e) = read {
            events.broken(&e.to_string(), pending);
        }
        self.write(out);
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        self.events.finish(&mut self.pending);
        self.write(out);
        if let Some(chat) = &mut self.chat {
            chat.finish(out);
        }
    }

    fn is_complete(&self) -> bool {
        match &self.chat {
            Some(chat) => chat.is_complete(),
            None => self.events.is_complete(),
        }
    }
}

impl StreamTranslator {
    /// `client_model` is the model name the client sees. `include_usage` is whether an
    /// OpenAI client asked for `stream_options.include_usage` (only then does it get the
    /// usage chunk); Anthropic clients always get usage, so it is ignored for them.
    pub fn new(direction: Direction, client_model: &str, include_usage: bool) -> Self {
        let from_converse = |chat: Option<ToChat>| {
            Inner::FromConverse(Box::new(FromConverse {
                decoder: Decoder::new(MAX_UPSTREAM_EVENT),
                events: ConverseToMessages::new(client_model),
                chat,
                pending: Vec::new(),
            }))
        };
        let inner = match direction {
            Direction::ChatClientMessagesLane => {
                Inner::ToChat(ToChat::new(client_model, include_usage))
            }
            Direction::MessagesClientChatLane => Inner::ToMessages(ToMessages::new(client_model)),
            // Embeddings never stream; a chat stream shape is the harmless default.
            Direction::ChatClientGeminiLane | Direction::EmbeddingsClientGeminiLane => {
                Inner::GeminiToChat(GeminiToChat::new(client_model, include_usage))
            }
            Direction::MessagesClientGeminiLane => {
                Inner::GeminiToMessages(Box::new(GeminiToMessages::new(client_model)))
            }
            Direction::MessagesClientConverseLane => from_converse(None),
            Direction::ChatClientConverseLane => {
                from_converse(Some(ToChat::new(client_model, include_usage)))
            }
        };
        StreamTranslator {
            parser: SseParser::new(MAX_UPSTREAM_EVENT),
            inner,
        }
    }

    /// Sets the `created` Unix time of OpenAI chunks (0 otherwise): this crate reads no
    /// clock.
    pub fn with_created(mut self, created: u64) -> Self {
        match &mut self.inner {
            Inner::ToChat(t) => t.created = created,
            Inner::GeminiToChat(t) => t.created = created,
            Inner::FromConverse(c) => {
                if let Some(t) = &mut c.chat {
                    t.created = created;
                }
            }
            _ => {}
        }
        self
    }

    /// Names the answer after `request_id` where the lane gives it no id of its own
    /// (Bedrock), so two answers never share one.
    pub fn with_answer_id(mut self, request_id: &str) -> Self {
        if let Inner::FromConverse(c) = &mut self.inner {
            c.events.set_id_seed(request_id);
        }
        self
    }

    /// Feeds upstream bytes; returns the translated bytes to send to the client now
    /// (often empty: a chunk may end mid-event).
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        match &mut self.inner {
            Inner::ToChat(t) => event_rewriter::push(&mut self.parser, t, chunk),
            Inner::ToMessages(t) => event_rewriter::push(&mut self.parser, t, chunk),
            Inner::GeminiToChat(t) => event_rewriter::push(&mut self.parser, t, chunk),
            Inner::GeminiToMessages(t) => event_rewriter::push(&mut self.parser, t.as_mut(), chunk),
            Inner::FromConverse(c) => {
                let mut out = Vec::new();
                c.push(chunk, &mut out);
                out
            }
        }
    }

    /// Ends the upstream stream. If the upstream ended without finishing its answer the
    /// client gets a stream error (its SDK raises) rather than a truncated answer that
    /// looks complete.
    pub fn finish(&mut self) -> Vec<u8> {
        match &mut self.inner {
            Inner::ToChat(t) => event_rewriter::finish(&mut self.parser, t),
            Inner::ToMessages(t) => event_rewriter::finish(&mut self.parser, t),
            Inner::GeminiToChat(t) => event_rewriter::finish(&mut self.parser, t),
            Inner::GeminiToMessages(t) => event_rewriter::finish(&mut self.parser, t.as_mut()),
            Inner::FromConverse(c) => {
                let mut out = Vec::new();
                c.finish(&mut out);
                out
            }
        }
    }

    /// Writes the client bytes one upstream SSE event completes, for a caller that
    /// parses the stream itself (and reads usage from the same events). A Converse
    /// lane's messages go to [`Self::on_message`] instead.
    pub fn on_event(&mut self, event: SseEventRef<'_>, out: &mut Vec<u8>) {
        let rewriter: &mut dyn EventRewriter = match &mut self.inner {
            Inner::ToChat(t) => t,
            Inner::ToMessages(t) => t,
            Inner::GeminiToChat(t) => t,
            Inner::GeminiToMessages(t) => t.as_mut(),
            Inner::FromConverse(_) => return,
        };
        rewriter.on_event_ref(event, out);
    }

    /// Writes the client bytes one upstream event-stream message completes, for a
    /// caller that decodes a Converse lane's stream itself. Ignored on SSE lanes.
    pub fn on_message(&mut self, message: &Message, out: &mut Vec<u8>) {
        if let Inner::FromConverse(c) = &mut self.inner {
            c.on_message(message, out);
        }
    }

    /// The caller's decoding of a Converse lane's stream failed (`why`): the client's
    /// stream ends with an error event. Ignored on SSE lanes.
    pub fn broken(&mut self, why: &str, out: &mut Vec<u8>) {
        if let Inner::FromConverse(c) = &mut self.inner {
            c.broken(why, out);
        }
    }

    /// Ends the upstream stream fed through [`Self::on_event`] or [`Self::on_message`]:
    /// the client's close.
    pub fn finish_into(&mut self, out: &mut Vec<u8>) {
        match &mut self.inner {
            Inner::ToChat(t) => t.finish(out),
            Inner::ToMessages(t) => t.finish(out),
            Inner::GeminiToChat(t) => t.finish(out),
            Inner::GeminiToMessages(t) => t.finish(out),
            Inner::FromConverse(c) => c.finish(out),
        }
    }

    /// The client's stream has been ended (normally or with an error event).
    pub fn is_complete(&self) -> bool {
        match &self.inner {
            Inner::ToChat(t) => t.is_complete(),
            Inner::ToMessages(t) => t.is_complete(),
            Inner::GeminiToChat(t) => t.is_complete(),
            Inner::GeminiToMessages(t) => t.is_complete(),
            Inner::FromConverse(c) => c.is_complete(),
        }
    }

    /// Upstream events dropped for exceeding [`MAX_UPSTREAM_EVENT`].
    pub fn oversized_events(&self) -> u32 {
        self.parser.oversized_events
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::aws::event_stream::encode_event;

    fn converse_stream() -> Vec<u8> {
        let mut s = Vec::new();
        for (kind, payload) in [
            ("messageStart", json!({"role": "assistant"})),
            (
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": "Hi "}}),
            ),
            (
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"text": "there"}}),
            ),
            ("contentBlockStop", json!({"contentBlockIndex": 0})),
            ("messageStop", json!({"stopReason": "end_turn"})),
            (
                "metadata",
                json!({"usage": {"inputTokens": 8, "outputTokens": 2, "totalTokens": 10,
                "cacheReadInputTokens": 0, "cacheWriteInputTokens": 0}, "metrics": {"latencyMs": 5}}),
            ),
        ] {
            s.extend(encode_event(kind, payload.to_string().as_bytes()));
        }
        s
    }

    fn translate(direction: Direction, input: &[u8], chunk: usize) -> String {
        let mut t = StreamTranslator::new(direction, "client-model", true)
            .with_created(9)
            .with_answer_id("req-1");
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            out.extend(t.push(c));
        }
        out.extend(t.finish());
        assert!(t.is_complete());
        String::from_utf8(out).unwrap()
    }

    fn data_lines(sse: &str) -> Vec<Value> {
        sse.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    #[test]
    fn converse_stream_to_chat_chunks() {
        let input = converse_stream();
        let out = translate(Direction::ChatClientConverseLane, &input, input.len());
        for size in [1, 13] {
            assert_eq!(
                translate(Direction::ChatClientConverseLane, &input, size),
                out
            );
        }
        assert!(out.ends_with("data: [DONE]\n\n"));
        let chunks = data_lines(&out);
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "Hi there");
        assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"
            && c["model"] == "client-model"
            && c["created"] == 9));
        let finish: Vec<&Value> = chunks
            .iter()
            .map(|c| &c["choices"][0]["finish_reason"])
            .filter(|f| !f.is_null())
            .collect();
        assert_eq!(finish, [&json!("stop")]);
        let usage = &chunks.last().unwrap()["usage"];
        assert_eq!(
            (
                usage["prompt_tokens"].clone(),
                usage["completion_tokens"].clone()
            ),
            (json!(8), json!(2))
        );
    }

    #[test]
    fn converse_answers_are_named_after_their_request() {
        let input = converse_stream();
        let id = |request: &str| {
            let mut t = StreamTranslator::new(Direction::MessagesClientConverseLane, "m", true)
                .with_answer_id(request);
            let out = String::from_utf8(t.push(&input)).unwrap();
            data_lines(&out)[0]["message"]["id"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_ne!(id("req-1"), id("req-2"));
        assert_eq!(id("req-1"), id("req-1"));
        let chat = translate(Direction::ChatClientConverseLane, &input, 100);
        assert!(data_lines(&chat)[0]["id"]
            .as_str()
            .unwrap()
            .starts_with("chatcmpl-bdrk_"));
    }

    #[test]
    fn converse_stream_to_anthropic_events() {
        let input = converse_stream();
        let out = translate(Direction::MessagesClientConverseLane, &input, 3);
        let names: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
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
        let delta = data_lines(&out)[5].clone();
        assert_eq!(delta["usage"]["output_tokens"], 2);
        assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    }

    #[test]
    fn corrupt_framing_ends_the_client_stream_with_an_error() {
        let mut input = converse_stream();
        let n = input.len();
        input[n - 1] ^= 0xff;
        let out = translate(Direction::ChatClientConverseLane, &input, 50);
        let last = data_lines(&out).pop().unwrap();
        assert!(last["error"]["message"].as_str().unwrap().contains("CRC"));
        let out = translate(Direction::MessagesClientConverseLane, &input, 50);
        assert!(out.contains("event: error"));
    }
}
