//! Streamed answers translated event by event: each upstream chunk yields the client
//! bytes it completes, nothing waits for the end of the answer.

use super::anthropic_messages_to_openai_chat::ToMessages;
use super::direction::Direction;
use super::openai_chat_to_anthropic_messages::ToChat;
use crate::sse::{SseEvent, SseParser};

/// Largest upstream event kept for translation. Provider events are small deltas; one
/// larger than this is skipped by the parser (and counted in `oversized_events`)
/// rather than growing the filter's memory.
pub const MAX_UPSTREAM_EVENT: usize = 1 << 20;

/// Rewrites an upstream SSE stream into the client's stream format.
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
}

impl StreamTranslator {
    /// `client_model` is the model name the client sees. `include_usage` is whether an
    /// OpenAI client asked for `stream_options.include_usage` (only then does it get the
    /// usage chunk); Anthropic clients always get usage, so it is ignored for them.
    pub fn new(direction: Direction, client_model: &str, include_usage: bool) -> Self {
        let inner = match direction {
            Direction::ChatClientMessagesLane => {
                Inner::ToChat(ToChat::new(client_model, include_usage))
            }
            Direction::MessagesClientChatLane => Inner::ToMessages(ToMessages::new(client_model)),
        };
        StreamTranslator {
            parser: SseParser::new(MAX_UPSTREAM_EVENT),
            inner,
        }
    }

    /// Sets the `created` Unix time of OpenAI chunks (0 otherwise): this crate reads no
    /// clock.
    pub fn with_created(mut self, created: u64) -> Self {
        if let Inner::ToChat(t) = &mut self.inner {
            t.created = created;
        }
        self
    }

    /// Feeds upstream bytes; returns the translated bytes to send to the client now
    /// (often empty: a chunk may end mid-event).
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let inner = &mut self.inner;
        self.parser
            .push(chunk, &mut |event| inner.on_event(event, &mut out));
        out
    }

    /// Ends the upstream stream. If the upstream ended without finishing its answer the
    /// client gets a stream error (its SDK raises) rather than a truncated answer that
    /// looks complete.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let inner = &mut self.inner;
        self.parser
            .finish(&mut |event| inner.on_event(event, &mut out));
        match inner {
            Inner::ToChat(t) => t.finish(&mut out),
            Inner::ToMessages(t) => t.finish(&mut out),
        }
        out
    }

    /// The client's stream has been ended (normally or with an error event).
    pub fn is_complete(&self) -> bool {
        match &self.inner {
            Inner::ToChat(t) => t.done,
            Inner::ToMessages(t) => t.done,
        }
    }

    /// Upstream events dropped for exceeding [`MAX_UPSTREAM_EVENT`].
    pub fn oversized_events(&self) -> u32 {
        self.parser.oversized_events
    }
}

impl Inner {
    fn on_event(&mut self, event: SseEvent, out: &mut Vec<u8>) {
        match self {
            Inner::ToChat(t) => t.on_event(event, out),
            Inner::ToMessages(t) => t.on_event(event, out),
        }
    }
}

#[cfg(test)]
pub(super) mod test_support {
    use serde_json::Value;

    use super::*;

    /// Runs `input` through a translator in chunks of `size` bytes and returns the
    /// client bytes, so tests can check that chunking never changes the output.
    pub fn translate_in_chunks(
        direction: Direction,
        include_usage: bool,
        input: &[u8],
        size: usize,
    ) -> Vec<u8> {
        let mut t = StreamTranslator::new(direction, "client-model", include_usage).with_created(7);
        let mut out = Vec::new();
        for chunk in input.chunks(size) {
            out.extend(t.push(chunk));
        }
        out.extend(t.finish());
        assert!(t.is_complete());
        // finish is idempotent.
        assert!(t.finish().is_empty());
        out
    }

    /// The client stream as (event name, parsed data) pairs; every payload must be
    /// valid JSON (except OpenAI's `[DONE]`, kept as a string).
    pub fn events(bytes: &[u8]) -> Vec<(Option<String>, Value)> {
        let mut parser = SseParser::new(usize::MAX);
        let mut events = Vec::new();
        let mut collect = |e: SseEvent| {
            let data = if e.data == b"[DONE]" {
                Value::String("[DONE]".into())
            } else {
                serde_json::from_slice(&e.data).expect("translated event is valid JSON")
            };
            events.push((e.name, data));
        };
        parser.push(bytes, &mut collect);
        parser.finish(&mut collect);
        events
    }

    /// Translates `input` whole, then byte by byte and in 7-byte chunks, checks all
    /// three give the same bytes, and returns the parsed events.
    pub fn translate_all_ways(
        direction: Direction,
        include_usage: bool,
        input: &str,
    ) -> Vec<(Option<String>, Value)> {
        let whole = translate_in_chunks(direction, include_usage, input.as_bytes(), usize::MAX);
        for size in [1, 7] {
            let chunked = translate_in_chunks(direction, include_usage, input.as_bytes(), size);
            assert_eq!(
                String::from_utf8_lossy(&chunked),
                String::from_utf8_lossy(&whole),
                "chunk size {size}"
            );
        }
        events(&whole)
    }
}
