//! The event payloads of a lane's streamed answer, whichever framing the lane streams
//! in: server-sent events (OpenAI, Anthropic) or AWS event-stream messages (Bedrock).
//! Usage is read from these payloads (`usage::UsageTracker::observe_stream_event`).

use crate::aws::event_stream::{Decoder, EVENT_STREAM_CONTENT_TYPE_NAME};
use crate::event::ApiKind;
use crate::sse::SseParser;

#[derive(Debug)]
pub enum LaneStream {
    Sse(SseParser),
    /// After a framing error nothing more is read (the usage then stays unreported).
    Events(Decoder),
}

impl LaneStream {
    /// The reader for a lane called with `api`; `max_event` bounds one event's size.
    pub fn for_api(api: ApiKind, max_event: usize) -> Self {
        match api {
            ApiKind::Converse => LaneStream::Events(Decoder::new(max_event)),
            _ => LaneStream::Sse(SseParser::new(max_event)),
        }
    }

    /// Whether an answer with this `content-type` is a stream.
    pub fn is_stream_content_type(content_type: &str) -> bool {
        content_type.starts_with("text/event-stream")
            || content_type.starts_with(EVENT_STREAM_CONTENT_TYPE_NAME)
    }

    /// Feeds a chunk; `on_data` gets each complete event's payload.
    pub fn push(&mut self, chunk: &[u8], on_data: &mut dyn FnMut(&[u8])) {
        match self {
            LaneStream::Sse(p) => p.push(chunk, &mut |e| on_data(&e.data)),
            LaneStream::Events(d) => {
                let _ = d.push(chunk, &mut |m| {
                    if m.message_type() == "event" {
                        on_data(&m.payload)
                    }
                });
            }
        }
    }

    /// The end of the stream: a last SSE event without its blank line.
    pub fn finish(&mut self, on_data: &mut dyn FnMut(&[u8])) {
        if let LaneStream::Sse(p) = self {
            p.finish(&mut |e| on_data(&e.data));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::event_stream::{encode_event, encode_exception};

    fn payloads(api: ApiKind, input: &[u8]) -> Vec<Vec<u8>> {
        let mut s = LaneStream::for_api(api, 1 << 16);
        let mut out = Vec::new();
        for c in input.chunks(5) {
            s.push(c, &mut |d| out.push(d.to_vec()));
        }
        s.finish(&mut |d| out.push(d.to_vec()));
        out
    }

    #[test]
    fn both_framings() {
        assert_eq!(
            payloads(ApiKind::ChatCompletions, b"data: {\"a\":1}\n\ndata: [DONE]"),
            [b"{\"a\":1}".to_vec(), b"[DONE]".to_vec()]
        );
        let mut events = encode_event("metadata", br#"{"usage":{}}"#);
        events.extend(encode_exception(
            "throttlingException",
            br#"{"message":"m"}"#,
        ));
        assert_eq!(
            payloads(ApiKind::Converse, &events),
            [br#"{"usage":{}}"#.to_vec()]
        );
        assert!(LaneStream::is_stream_content_type(
            "application/vnd.amazon.eventstream"
        ));
        assert!(LaneStream::is_stream_content_type(
            "text/event-stream; charset=utf-8"
        ));
        assert!(!LaneStream::is_stream_content_type("application/json"));
    }
}
