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

#[derive(Debug)]
pub struct SseParser {
    line: Vec<u8>,
    name: Option<String>,
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
            name: None,
            data: Vec::new(),
            has_data: false,
            max_event,
            skipping: false,
            oversized_events: 0,
        }
    }

    /// Feeds a chunk; calls `on_event` for each complete event.
    pub fn push(&mut self, mut chunk: &[u8], on_event: &mut impl FnMut(SseEvent)) {
        while !chunk.is_empty() {
            match chunk.iter().position(|&b| b == b'\n') {
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

    /// Ends the stream: an event not yet terminated by a blank line is dispatched, as
    /// providers' final events sometimes lack the trailing blank line.
    pub fn finish(&mut self, on_event: &mut impl FnMut(SseEvent)) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.handle_line(&line, on_event);
        }
        self.dispatch(on_event);
    }

    fn append_to_line(&mut self, bytes: &[u8]) {
        if self.skipping {
            return;
        }
        if self.line.len() + self.data.len() + bytes.len() > self.max_event {
            self.skipping = true;
            self.oversized_events += 1;
            self.line.clear();
            self.data.clear();
            return;
        }
        self.line.extend_from_slice(bytes);
    }

    fn handle_line(&mut self, line: &[u8], on_event: &mut impl FnMut(SseEvent)) {
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
            b"event" => self.name = Some(String::from_utf8_lossy(value).into_owned()),
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

    fn dispatch(&mut self, on_event: &mut impl FnMut(SseEvent)) {
        let was_skipping = std::mem::replace(&mut self.skipping, false);
        let name = self.name.take();
        if self.has_data && !was_skipping {
            on_event(SseEvent {
                name,
                data: std::mem::take(&mut self.data),
            });
        }
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
    fn unterminated_final_event_is_dispatched() {
        let (events, _) = parse_in_chunks(b"data: last", 3, 100);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, b"last");
    }
}
