//! Streamed answers translated event by event: each upstream chunk yields the client
//! bytes it completes, nothing waits for the end of the answer.

use super::anthropic_messages_to_gemini::GeminiToMessages;
use super::anthropic_messages_to_openai_chat::ToMessages;
use super::direction::Direction;
use super::event_rewriter::{self, EventRewriter};
use super::openai_chat_to_anthropic_messages::ToChat;
use super::openai_chat_to_gemini::GeminiToChat;
use crate::sse::SseEventRef;
use crate::sse::SseParser;

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
    GeminiToChat(GeminiToChat),
    GeminiToMessages(Box<GeminiToMessages>),
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
            // Embeddings never stream; a chat stream shape is the harmless default.
            Direction::ChatClientGeminiLane | Direction::EmbeddingsClientGeminiLane => {
                Inner::GeminiToChat(GeminiToChat::new(client_model, include_usage))
            }
            Direction::MessagesClientGeminiLane => {
                Inner::GeminiToMessages(Box::new(GeminiToMessages::new(client_model)))
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
            _ => {}
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
        }
    }

    /// Writes the client bytes one upstream event completes, for a caller that parses
    /// the stream itself (and reads usage from the same events).
    pub fn on_event(&mut self, event: SseEventRef<'_>, out: &mut Vec<u8>) {
        self.rewriter().on_event_ref(event, out);
    }

    /// Ends the upstream stream fed through [`Self::on_event`]: the client's close.
    pub fn finish_into(&mut self, out: &mut Vec<u8>) {
        self.rewriter().finish(out);
    }

    fn rewriter(&mut self) -> &mut dyn EventRewriter {
        match &mut self.inner {
            Inner::ToChat(t) => t,
            Inner::ToMessages(t) => t,
            Inner::GeminiToChat(t) => t,
            Inner::GeminiToMessages(t) => t.as_mut(),
        }
    }

    /// The client's stream has been ended (normally or with an error event).
    pub fn is_complete(&self) -> bool {
        match &self.inner {
            Inner::ToChat(t) => t.is_complete(),
            Inner::ToMessages(t) => t.is_complete(),
            Inner::GeminiToChat(t) => t.is_complete(),
            Inner::GeminiToMessages(t) => t.is_complete(),
        }
    }

    /// Upstream events dropped for exceeding [`MAX_UPSTREAM_EVENT`].
    pub fn oversized_events(&self) -> u32 {
        self.parser.oversized_events
    }
}
