//! The server-to-client half of a WebSocket connection (RFC 6455) passing through
//! the gateway: the text messages its frames carry, reassembled from fragments, so
//! a realtime session's usage can be read as it streams by. The bytes themselves are
//! never changed.
//!
//! Frames may be split anywhere across the chunks Envoy delivers. Text messages
//! larger than the limit, binary messages and control frames are skipped without
//! being held. Server frames are unmasked; a masked one is unmasked before reading.

/// What the frames since the last complete message belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Message {
    /// Between messages.
    None,
    /// A text message being collected.
    Text,
    /// A binary or oversized message: its remaining frames are skipped.
    Skipped,
}

#[derive(Debug)]
pub struct ServerFrames {
    /// Bytes of a frame not yet complete (its header, or a kept payload).
    pending: Vec<u8>,
    /// The text message read so far.
    message: Vec<u8>,
    state: Message,
    /// Payload bytes of the current frame still to skip.
    skip: u64,
    /// Whether the frame being skipped ends its message.
    skip_fin: bool,
    /// Largest text message kept.
    max_message: usize,
    /// The server sent its closing frame: the session ended as the protocol says.
    closed: bool,
}

/// A frame header, once all of it has arrived.
struct Header {
    fin: bool,
    opcode: u8,
    len: u64,
    mask: Option<[u8; 4]>,
    size: usize,
}

fn header(bytes: &[u8]) -> Option<Header> {
    let [b0, b1, rest @ ..] = bytes else {
        return None;
    };
    let (len, mut size) = match b1 & 0x7f {
        126 => (
            u64::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?)),
            4,
        ),
        127 => (u64::from_be_bytes(rest.get(..8)?.try_into().ok()?), 10),
        n => (u64::from(n), 2),
    };
    let mask = if b1 & 0x80 != 0 {
        let key: [u8; 4] = bytes.get(size..size + 4)?.try_into().ok()?;
        size += 4;
        Some(key)
    } else {
        None
    };
    Some(Header {
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0f,
        len,
        mask,
        size,
    })
}

impl ServerFrames {
    pub fn new(max_message: usize) -> Self {
        ServerFrames {
            pending: Vec::new(),
            message: Vec::new(),
            state: Message::None,
            skip: 0,
            skip_fin: false,
            max_message,
            closed: false,
        }
    }

    /// Whether the server sent its closing frame (a close it started or answered).
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Reads `chunk`, calling `on_text` with each text message it completes.
    pub fn push(&mut self, chunk: &[u8], mut on_text: impl FnMut(&[u8])) {
        // A skipped payload is dropped as it arrives, never held.
        let mut chunk = chunk;
        if self.skip > 0 {
            let n = usize::try_from(self.skip).map_or(chunk.len(), |s| s.min(chunk.len()));
            chunk = &chunk[n..];
            self.skip -= n as u64;
            if self.skip > 0 {
                return;
            }
            self.end_skipped_frame();
        }
        self.pending.extend_from_slice(chunk);
        let mut at = 0;
        while let Some(h) = header(&self.pending[at..]) {
            self.closed |= h.opcode == 8;
            let keep = match (h.opcode, self.state) {
                (1, _) => {
                    self.message.clear();
                    self.state = Message::Text;
                    true
                }
                (0, Message::Text) => true,
                (2, _) => {
                    self.message.clear();
                    self.state = Message::Skipped;
                    false
                }
                _ => false,
            };
            let fits = (self.message.len() as u64).saturating_add(h.len) <= self.max_message as u64;
            if keep && !fits {
                self.message.clear();
                self.state = Message::Skipped;
            }
            if keep && fits {
                // Bounded by `max_message`, so the length fits a usize.
                let end = at + h.size + h.len as usize;
                if self.pending.len() < end {
                    break;
                }
                let start = self.message.len();
                self.message
                    .extend_from_slice(&self.pending[at + h.size..end]);
                if let Some(key) = h.mask {
                    for (i, b) in self.message[start..].iter_mut().enumerate() {
                        *b ^= key[i % 4];
                    }
                }
                at = end;
                if h.fin {
                    on_text(&self.message);
                    self.message.clear();
                    self.state = Message::None;
                }
            } else {
                let here = (self.pending.len() - at - h.size) as u64;
                let n = h.len.min(here);
                at += h.size + n as usize;
                self.skip = h.len - n;
                // Control frames (opcode 8 and up) may come between a message's frames.
                self.skip_fin = h.opcode <= 2 && h.fin;
                if self.skip > 0 {
                    break;
                }
                self.end_skipped_frame();
            }
        }
        self.pending.drain(..at);
    }

    fn end_skipped_frame(&mut self) {
        if self.skip_fin {
            self.message.clear();
            self.state = Message::None;
            self.skip_fin = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server frame: unmasked, with the shortest length encoding.
    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            n if n < 126 => f.push(n as u8),
            n if n <= 0xffff => {
                f.push(126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(payload);
        f
    }

    fn read_in_chunks(bytes: &[u8], size: usize, max: usize) -> Vec<String> {
        let mut frames = ServerFrames::new(max);
        let mut out = Vec::new();
        for c in bytes.chunks(size) {
            frames.push(c, |m| out.push(String::from_utf8(m.to_vec()).unwrap()));
        }
        out
    }

    #[test]
    fn text_messages_in_every_length_encoding_and_any_split() {
        let medium = "m".repeat(300);
        let large = "l".repeat(70_000);
        let mut bytes = frame(true, 1, b"hello");
        bytes.extend(frame(true, 1, medium.as_bytes()));
        bytes.extend(frame(true, 1, large.as_bytes()));
        // A 64-bit length may encode a short payload too.
        bytes.extend([0x81, 127, 0, 0, 0, 0, 0, 0, 0, 2, b'o', b'k']);
        for size in [1, 2, 3, 7, 125, 4096, bytes.len()] {
            let got = read_in_chunks(&bytes, size, 1 << 20);
            assert_eq!(
                got,
                vec!["hello", &medium, &large, "ok"],
                "chunk size {size}"
            );
        }
    }

    #[test]
    fn fragments_are_joined_around_control_frames() {
        let mut bytes = frame(false, 1, b"{\"type\":");
        bytes.extend(frame(true, 9, b"ping"));
        bytes.extend(frame(false, 0, b"\"response"));
        bytes.extend(frame(true, 0, b".done\"}"));
        bytes.extend(frame(true, 1, b"next"));
        for size in [1, 5, bytes.len()] {
            assert_eq!(
                read_in_chunks(&bytes, size, 1024),
                vec![r#"{"type":"response.done"}"#, "next"]
            );
        }
    }

    #[test]
    fn binary_oversized_and_control_frames_are_skipped() {
        let mut bytes = frame(false, 2, &[0u8; 200]);
        bytes.extend(frame(true, 0, &[1u8; 200]));
        bytes.extend(frame(true, 1, &[b'x'; 100]));
        bytes.extend(frame(false, 1, &[b'y'; 40]));
        bytes.extend(frame(true, 0, &[b'y'; 40]));
        bytes.extend(frame(true, 10, b""));
        bytes.extend(frame(true, 1, b"kept"));
        bytes.extend(frame(true, 8, &[0x03, 0xe8]));
        for size in [1, 3, 64, bytes.len()] {
            assert_eq!(
                read_in_chunks(&bytes, size, 64),
                vec!["kept"],
                "size {size}"
            );
        }
    }

    #[test]
    fn masked_frames_are_unmasked() {
        let key = [1u8, 2, 3, 4];
        let masked: Vec<u8> = b"hi there"
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect();
        let mut bytes = vec![0x81, 0x80 | masked.len() as u8];
        bytes.extend_from_slice(&key);
        bytes.extend(masked);
        assert_eq!(read_in_chunks(&bytes, 3, 64), vec!["hi there"]);
    }
}
