//! One upstream stream event in, the client's bytes out: what each direction's stream
//! translator implements, and the byte-level driving of one (SSE parsing across
//! arbitrary chunk boundaries) that [`super::stream::StreamTranslator`] and the tests
//! share.

use crate::sse::{SseEvent, SseEventRef, SseParser};

/// A stream translator for one direction, fed whole upstream events.
pub(crate) trait EventRewriter {
    /// Writes the client bytes `event` completes.
    fn on_event(&mut self, event: SseEvent, out: &mut Vec<u8>);
    /// [`Self::on_event`] for an event lent by the parser. A rewriter overrides it to
    /// answer its frequent events without copying them; the rest go to `on_event`.
    fn on_event_ref(&mut self, event: SseEventRef<'_>, out: &mut Vec<u8>) {
        self.on_event(event.to_owned(), out);
    }
    /// The upstream stream ended: close the client's stream (with an error event if
    /// the answer was not finished). Calling it again writes nothing.
    fn finish(&mut self, out: &mut Vec<u8>);
    /// The client's stream has been ended (normally or with an error event).
    fn is_complete(&self) -> bool;
}

/// Feeds upstream bytes through `parser` into `rewriter`; returns the client bytes.
pub(crate) fn push(
    parser: &mut SseParser,
    rewriter: &mut impl EventRewriter,
    chunk: &[u8],
) -> Vec<u8> {
    let mut out = Vec::new();
    parser.push_borrowed(chunk, &mut |event| rewriter.on_event_ref(event, &mut out));
    out
}

/// Ends the upstream stream: the parser's last event, then the rewriter's close.
pub(crate) fn finish(parser: &mut SseParser, rewriter: &mut impl EventRewriter) -> Vec<u8> {
    let mut out = Vec::new();
    parser.finish_borrowed(&mut |event| rewriter.on_event_ref(event, &mut out));
    rewriter.finish(&mut out);
    out
}

#[cfg(test)]
pub(crate) mod test_support {
    use serde_json::Value;

    use super::*;

    /// Runs `input` through a fresh rewriter in chunks of `size` bytes and returns the
    /// client bytes, so tests can check that chunking never changes the output.
    pub fn translate_in_chunks<R: EventRewriter>(
        mut rewriter: R,
        input: &[u8],
        size: usize,
    ) -> Vec<u8> {
        let mut parser = SseParser::new(usize::MAX);
        let mut out = Vec::new();
        for chunk in input.chunks(size) {
            out.extend(push(&mut parser, &mut rewriter, chunk));
        }
        out.extend(finish(&mut parser, &mut rewriter));
        assert!(rewriter.is_complete());
        // finish is idempotent.
        assert!(finish(&mut parser, &mut rewriter).is_empty());
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

    /// Translates `input` whole, then byte by byte and in 7-byte chunks with fresh
    /// rewriters from `make`, checks all three give the same bytes, and returns the
    /// parsed events.
    pub fn translate_all_ways<R: EventRewriter>(
        make: impl Fn() -> R,
        input: &str,
    ) -> Vec<(Option<String>, Value)> {
        let whole = translate_in_chunks(make(), input.as_bytes(), usize::MAX);
        for size in [1, 7] {
            let chunked = translate_in_chunks(make(), input.as_bytes(), size);
            assert_eq!(
                String::from_utf8_lossy(&chunked),
                String::from_utf8_lossy(&whole),
                "chunk size {size}"
            );
        }
        events(&whole)
    }
}
