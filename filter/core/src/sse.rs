//! A bounded server-sent-events parser.
//!
//! Response chunks do not line up with events, lines or even UTF-8 characters, so bytes
//! are buffered until a line ends. Memory is bounded: an event larger than `max_event`
//! is skipped (and counted) instead of growing the buffer.

/// One parsed event: its `event:` name (if any) and its `data:` payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub name: Option<String>,
    pub data: Vec<u8>,
}

/// One parsed event, borrowed from the parser's buffers: valid until the next event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEventRef<'a> {
    pub name: Option<&'a str>,
    pub data: &'a [u8],
}

impl SseEventRef<'_> {
    pub fn to_owned(self) -> SseEvent {
        SseEvent {
            name: self.name.map(str::to_string),
            data: self.data.to_vec(),
        }
    }
}

/// The parser keeps its buffers from event to event: once they have grown to the
/// stream's event size, parsing allocates nothing.
#[derive(Debug)]
pub struct SseParser {
    line: Vec<u8>,
    name: String,
    has_name: bool,
    data: Vec<u8>,
    has_data: bool,
    max_event: usize,
    /// The current event overflowed `max_event` and is being skipped.
    skipping: bool,
    /// Events dropped because they were larger than `max_event`.
    pub oversized_events: u32,
}

impl SseParser {
    pub fn new(max_event: usize) -> Self {
        SseParser {
            line: Vec::new(),
            name: String::new(),
            has_name: false,
            data: Vec::new(),
            has_data: false,
            max_event,
            skipping: false,
            oversized_events: 0,
        }
    }

    /// Feeds a chunk; calls `on_event` for each complete event.
    pub fn push(&mut self, chunk: &[u8], on_event: &mut impl FnMut(SseEvent)) {
        self.push_borrowed(chunk, &mut |e| on_event(e.to_owned()));
    }

    /// Ends the stream: an event not yet terminated by a blank line is dispatched, as
    /// providers' final events sometimes lack the trailing blank line.
    pub fn finish(&mut self, on_event: &mut impl FnMut(SseEvent)) {
        self.finish_borrowed(&mut |e| on_event(e.to_owned()));
    }

    /// [`Self::push`], lending each event instead of handing over a copy.
    pub fn push_borrowed(&mut self, mut chunk: &[u8], on_event: &mut impl FnMut(SseEventRef<'_>)) {
        while !chunk.is_empty() {
            match memchr::memchr(b'\n', chunk) {
                // A whole line inside the chunk is read where it is.
                Some(i) if self.line.is_empty() => {
                    let line = &chunk[..i];
                    chunk = &chunk[i + 1..];
                    if self.fits(line.len()) {
                        self.handle_line(line.strip_suffix(b"\r").unwrap_or(line), on_event);
                    } else {
                        // As for a buffered line that overflowed: the event is dropped.
                        self.dispatch(on_event);
                    }
                }
                Some(i) => {
                    self.append_to_line(&chunk[..i]);
                    chunk = &chunk[i + 1..];
                    let mut line = std::mem::take(&mut self.line);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    self.handle_line(&line, on_event);
                    line.clear();
                    self.line = line;
                }
                None => {
                    self.append_to_line(chunk);
                    chunk = &[];
                }
            }
        }
    }

    /// [`Self::finish`], lending the last event.
    pub fn finish_borrowed(&mut self, on_event: &mut impl FnMut(SseEventRef<'_>)) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.handle_line(&line, on_event);
        }
        self.dispatch(on_event);
    }

    /// Whether `more` bytes of the current event stay within `max_event`; past it, the
    /// event is skipped (and counted once).
    fn fits(&mut self, more: usize) -> bool {
        if self.skipping {
            return false;
        }
        if self.line.len() + self.data.len() + more > self.max_event {
            self.skipping = true;
            self.oversized_events += 1;
            self.line.clear();
            self.data.clear();
            return false;
        }
        true
    }

    fn append_to_line(&mut self, bytes: &[u8]) {
        if self.fits(bytes.len()) {
            self.line.extend_from_slice(bytes);
        }
    }

    fn handle_line(&mut self, line: &[u8], on_event: &mut impl FnMut(SseEventRef<'_>)) {
        if line.is_empty() {
            self.dispatch(on_event);
            return;
        }
        if self.skipping || line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"event" => {
                // Streams repeat a few names: an unchanged one is not decoded again.
                if self.name.as_bytes() != value {
                    self.name.clear();
                    self.name.push_str(&String::from_utf8_lossy(value));
                }
                self.has_name = true;
            }
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, on_event: &mut impl FnMut(SseEventRef<'_>)) {
        let was_skipping = std::mem::replace(&mut self.skipping, false);
        if self.has_data && !was_skipping {
            on_event(SseEventRef {
                name: self.has_name.then_some(self.name.as_str()),
                data: &self.data,
            });
        }
        self.has_name = false;
        self.data.clear();
        self.has_data = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_chunks(input: &[u8], chunk: usize, max: usize) -> (Vec<SseEvent>, u32) {
        let mut p = SseParser::new(max);
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            p.push(c, &mut |e| out.push(e));
        }
        p.finish(&mut |e| out.push(e));
        (out, p.oversized_events)
    }

    #[test]
    fn events_survive_any_chunking() {
        let input = "event: message_start\r\ndata: {\"a\":\"é\"}\r\n\r\n: comment\n\ndata: x\ndata: y\n\ndata: [DONE]\n\n"
            .as_bytes();
        for chunk in 1..input.len() {
            let (events, _) = parse_in_chunks(input, chunk, 1024);
            assert_eq!(events.len(), 3, "chunk {chunk}");
            assert_eq!(events[0].name.as_deref(), Some("message_start"));
            assert_eq!(events[0].data, "{\"a\":\"é\"}".as_bytes());
            assert_eq!(events[1].data, b"x\ny");
            assert_eq!(events[2].data, b"[DONE]");
        }
    }

    #[test]
    fn oversized_events_are_skipped_not_buffered() {
        let big = format!("data: {}\n\ndata: small\n\n", "z".repeat(5000));
        let (events, oversized) = parse_in_chunks(big.as_bytes(), 7, 100);
        assert_eq!(oversized, 1);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, b"small");
    }

    #[test]
    fn events_lent_whole_chunks_at_a_time_match_the_owned_ones() {
        let input = concat!(
            "event: a\r\ndata: {\"x\":1}\r\n\r\n",
            ": keep-alive\n\n",
            "data: one\ndata: two\n\n",
            "event: b\ndata: [DONE]\n\n",
            "data: tail"
        )
        .as_bytes();
        let (owned, _) = parse_in_chunks(input, 3, 1024);
        let mut p = SseParser::new(1024);
        let mut lent = Vec::new();
        p.push_borrowed(input, &mut |e| lent.push(e.to_owned()));
        p.finish_borrowed(&mut |e| lent.push(e.to_owned()));
        assert_eq!(lent, owned);
        assert_eq!(lent.len(), 4);
        assert_eq!(lent[2].name.as_deref(), Some("b"));
        assert_eq!(lent[3].name, None, "a name does not outlive its event");
        // An oversized line inside one chunk is skipped as when it comes in pieces.
        let big = format!("data: {}\n\ndata: small\n\n", "z".repeat(500));
        let (events, oversized) = parse_in_chunks(big.as_bytes(), big.len(), 100);
        assert_eq!((events.len(), oversized), (1, 1));
        assert_eq!(events[0].data, b"small");
    }

    #[test]
    fn unterminated_final_event_is_dispatched() {
        let (events, _) = parse_in_chunks(b"data: last", 3, 100);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, b"last");
    }
}
