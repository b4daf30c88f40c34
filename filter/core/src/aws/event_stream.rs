//! AWS event-stream framing (`application/vnd.amazon.eventstream`), in which Bedrock's
//! ConverseStream answers: a sequence of binary messages, each
//!
//! ```text
//! total length u32 | headers length u32 | prelude CRC-32 u32 | headers | payload | message CRC-32 u32
//! ```
//!
//! big-endian, the prelude CRC over the first 8 bytes and the message CRC over all
//! that precedes it. A header is a 1-byte name length, the name, a 1-byte value type
//! and the value (strings: a u16 length and UTF-8). `:message-type` is `event` or
//! `exception`; `:event-type` / `:exception-type` name it; the payload is JSON.
//!
//! [`Decoder`] is incremental: a message may arrive split across any number of body
//! chunks. [`encode`] writes messages (the simulator answers with it).

/// The `content-type` of an event-stream body.
pub const EVENT_STREAM_CONTENT_TYPE_NAME: &str = "application/vnd.amazon.eventstream";

/// Bytes before the headers: two lengths and the prelude CRC.
const PRELUDE: usize = 12;
/// Bytes of the closing message CRC.
const TRAILER: usize = 4;

/// One decoded message: its string headers and its payload.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub headers: Vec<(String, String)>,
    pub payload: Vec<u8>,
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `event`, `exception` or `error` (`:message-type`).
    pub fn message_type(&self) -> &str {
        self.header(":message-type").unwrap_or("event")
    }

    /// The event's type (`contentBlockDelta`, `metadata`, ...) or the exception's
    /// (`throttlingException`, ...).
    pub fn kind(&self) -> &str {
        self.header(":event-type")
            .or_else(|| self.header(":exception-type"))
            .or_else(|| self.header(":error-code"))
            .unwrap_or("")
    }
}

/// Why the stream cannot be read further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    PreludeCrc,
    MessageCrc,
    /// Lengths that do not describe a message (or one larger than allowed).
    Length(u32),
    Header,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::PreludeCrc => f.write_str("event-stream prelude CRC mismatch"),
            DecodeError::MessageCrc => f.write_str("event-stream message CRC mismatch"),
            DecodeError::Length(n) => write!(f, "event-stream message length {n} is invalid"),
            DecodeError::Header => f.write_str("event-stream headers are malformed"),
        }
    }
}

/// Reads messages from body chunks as they come. After an error it reads nothing
/// more (the stream is corrupt from there on).
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    max_message: usize,
    failed: Option<DecodeError>,
}

impl Decoder {
    /// `max_message`: the largest message accepted, in bytes (AWS allows 16 MiB).
    pub fn new(max_message: usize) -> Self {
        Decoder {
            buf: Vec::new(),
            max_message,
            failed: None,
        }
    }

    /// Feeds a chunk; `on_message` gets each message it completes, in order.
    pub fn push(
        &mut self,
        chunk: &[u8],
        on_message: &mut dyn FnMut(Message),
    ) -> Result<(), DecodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.buf.extend_from_slice(chunk);
        let mut start = 0;
        let result = loop {
            match decode_one(&self.buf[start..], self.max_message) {
                Ok(Some((message, used))) => {
                    start += used;
                    on_message(message);
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.buf.drain(..start);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
            self.buf.clear();
        }
        result
    }

    /// Bytes of an incomplete message still waiting for the rest.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// The first message of `buf` and the bytes it took, or `None` if incomplete.
fn decode_one(buf: &[u8], max_message: usize) -> Result<Option<(Message, usize)>, DecodeError> {
    if buf.len() < PRELUDE {
        return Ok(None);
    }
    let total = be32(&buf[0..4]);
    let headers_len = be32(&buf[4..8]) as usize;
    if crc32fast::hash(&buf[0..8]) != be32(&buf[8..12]) {
        return Err(DecodeError::PreludeCrc);
    }
    let total_usize = total as usize;
    if total_usize < PRELUDE + TRAILER
        || total_usize > max_message
        || headers_len > total_usize - PRELUDE - TRAILER
    {
        return Err(DecodeError::Length(total));
    }
    if buf.len() < total_usize {
        return Ok(None);
    }
    let body_end = total_usize - TRAILER;
    if crc32fast::hash(&buf[..body_end]) != be32(&buf[body_end..total_usize]) {
        return Err(DecodeError::MessageCrc);
    }
    let headers = decode_headers(&buf[PRELUDE..PRELUDE + headers_len])?;
    let payload = buf[PRELUDE + headers_len..body_end].to_vec();
    Ok(Some((Message { headers, payload }, total_usize)))
}

/// String headers, in order; values of other types are read past and left out.
fn decode_headers(mut b: &[u8]) -> Result<Vec<(String, String)>, DecodeError> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let name_len = b[0] as usize;
        let name = b.get(1..1 + name_len).ok_or(DecodeError::Header)?;
        let name = std::str::from_utf8(name).map_err(|_| DecodeError::Header)?;
        let kind = *b.get(1 + name_len).ok_or(DecodeError::Header)?;
        let rest = &b[2 + name_len..];
        let (value, used) = match kind {
            0 | 1 => (None, 0),
            2 => (None, 1),
            3 => (None, 2),
            4 => (None, 4),
            5 | 8 => (None, 8),
            9 => (None, 16),
            6 | 7 => {
                let len = rest.get(0..2).ok_or(DecodeError::Header)?;
                let len = u16::from_be_bytes([len[0], len[1]]) as usize;
                let bytes = rest.get(2..2 + len).ok_or(DecodeError::Header)?;
                let value = (kind == 7)
                    .then(|| std::str::from_utf8(bytes).map(str::to_string))
                    .transpose()
                    .map_err(|_| DecodeError::Header)?;
                (value, 2 + len)
            }
            _ => return Err(DecodeError::Header),
        };
        if rest.len() < used {
            return Err(DecodeError::Header);
        }
        if let Some(v) = value {
            out.push((name.to_string(), v));
        }
        b = &rest[used..];
    }
    Ok(out)
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// One message with string headers (each name and value under 256 / 65536 bytes).
pub fn encode(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (name, value) in headers {
        h.push(name.len() as u8);
        h.extend_from_slice(name.as_bytes());
        h.push(7);
        h.extend_from_slice(&(value.len() as u16).to_be_bytes());
        h.extend_from_slice(value.as_bytes());
    }
    let total = (PRELUDE + h.len() + payload.len() + TRAILER) as u32;
    let mut out = Vec::with_capacity(total as usize);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// An event message as Bedrock sends one (`:message-type` `event`, JSON payload).
pub fn encode_event(event_type: &str, payload: &[u8]) -> Vec<u8> {
    encode(
        &[
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload,
    )
}

/// An exception message (`:message-type` `exception`), e.g. `throttlingException`.
pub fn encode_exception(exception_type: &str, payload: &[u8]) -> Vec<u8> {
    encode(
        &[
            (":exception-type", exception_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(d: &mut Decoder, chunk: &[u8]) -> Result<Vec<Message>, DecodeError> {
        let mut out = Vec::new();
        d.push(chunk, &mut |m| out.push(m))?;
        Ok(out)
    }

    // Messages of awslabs/aws-c-event-stream's tests/message_serializer_test.c: the
    // empty message, and `{'foo':'bar'}` with `content-type: application/json`.
    #[test]
    fn known_encodings() {
        assert_eq!(
            encode(&[], b""),
            [0, 0, 0, 0x10, 0, 0, 0, 0, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff]
        );
        let one = encode(&[("content-type", "application/json")], b"{'foo':'bar'}");
        assert_eq!(one.len(), 0x3d);
        assert_eq!(
            &one[..12],
            [0, 0, 0, 0x3d, 0, 0, 0, 0x20, 0x07, 0xfd, 0x83, 0x96]
        );
        assert_eq!(&one[one.len() - 4..], [0x8d, 0x9c, 0x08, 0xb1]);
        // The int32-header message decodes, its non-string header skipped.
        let int32: [u8; 43] = [
            0x00, 0x00, 0x00, 0x2B, 0x00, 0x00, 0x00, 0x0E, 0x34, 0x8B, 0xEC, 0x7B, 0x08, b'e',
            b'v', b'e', b'n', b't', b'-', b'i', b'd', 0x04, 0x00, 0x00, 0xA0, 0x0C, 0x7b, 0x27,
            0x66, 0x6f, 0x6f, 0x27, 0x3a, 0x27, 0x62, 0x61, 0x72, 0x27, 0x7d, 0xD3, 0x89, 0x02,
            0x85,
        ];
        let got = decode_all(&mut Decoder::new(1 << 20), &int32).unwrap();
        assert_eq!(
            (got[0].headers.len(), &got[0].payload[..]),
            (0, &b"{'foo':'bar'}"[..])
        );
    }

    #[test]
    fn round_trip_and_split_anywhere() {
        let mut stream = encode_event("messageStart", br#"{"role":"assistant"}"#);
        stream.extend(encode_event(
            "contentBlockDelta",
            br#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#,
        ));
        stream.extend(encode_exception(
            "throttlingException",
            br#"{"message":"slow"}"#,
        ));
        for cut in 0..stream.len() {
            let mut d = Decoder::new(1 << 20);
            let mut got = decode_all(&mut d, &stream[..cut]).unwrap();
            got.extend(decode_all(&mut d, &stream[cut..]).unwrap());
            assert_eq!(got.len(), 3, "cut at {cut}");
            assert_eq!(got[0].kind(), "messageStart");
            assert_eq!(
                got[1].payload,
                br#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#
            );
            assert_eq!(
                (got[2].message_type(), got[2].kind()),
                ("exception", "throttlingException")
            );
            assert_eq!(d.pending(), 0);
        }
        // Byte by byte.
        let mut d = Decoder::new(1 << 20);
        let n: usize = stream
            .iter()
            .map(|b| decode_all(&mut d, &[*b]).unwrap().len())
            .sum();
        assert_eq!(n, 3);
    }

    #[test]
    fn corruption_is_detected_and_sticks() {
        let good = encode_event("metadata", br#"{"usage":{}}"#);
        let mut bad_payload = good.clone();
        bad_payload[20] ^= 1;
        let mut d = Decoder::new(1 << 20);
        assert_eq!(
            decode_all(&mut d, &bad_payload),
            Err(DecodeError::MessageCrc)
        );
        // Nothing after a corrupt message is trusted.
        assert_eq!(decode_all(&mut d, &good), Err(DecodeError::MessageCrc));

        let mut bad_prelude = good.clone();
        bad_prelude[3] ^= 1;
        let mut d = Decoder::new(1 << 20);
        assert_eq!(
            decode_all(&mut d, &bad_prelude),
            Err(DecodeError::PreludeCrc)
        );
    }

    #[test]
    fn oversized_or_impossible_lengths_are_refused() {
        let msg = encode_event("metadata", &[b'x'; 100]);
        let mut d = Decoder::new(64);
        assert!(matches!(
            decode_all(&mut d, &msg),
            Err(DecodeError::Length(_))
        ));
        // A headers length past the message's end.
        let mut lie = vec![0, 0, 0, 16, 0, 0, 0, 200];
        let crc = crc32fast::hash(&lie);
        lie.extend_from_slice(&crc.to_be_bytes());
        let mut d = Decoder::new(1 << 20);
        assert!(matches!(
            decode_all(&mut d, &lie),
            Err(DecodeError::Length(16))
        ));
    }

    #[test]
    fn non_string_headers_are_skipped() {
        // name "n", type 4 (int32), then a string header.
        let mut h = vec![1, b'n', 4, 0, 0, 0, 7];
        h.extend_from_slice(&[1, b's', 7, 0, 2, b'o', b'k']);
        let total = (12 + h.len() + 4) as u32;
        let mut msg = total.to_be_bytes().to_vec();
        msg.extend_from_slice(&(h.len() as u32).to_be_bytes());
        let c = crc32fast::hash(&msg);
        msg.extend_from_slice(&c.to_be_bytes());
        msg.extend_from_slice(&h);
        let c = crc32fast::hash(&msg);
        msg.extend_from_slice(&c.to_be_bytes());
        let got = decode_all(&mut Decoder::new(1 << 20), &msg).unwrap();
        assert_eq!(got[0].headers, vec![("s".to_string(), "ok".to_string())]);
    }
}
