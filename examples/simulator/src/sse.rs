//! Server-sent-event framing, byte for byte as the providers send it:
//! Anthropic and the Responses API name every event (`event: NAME\ndata: JSON\n\n`),
//! Chat Completions sends bare `data: JSON\n\n` lines and ends with `data: [DONE]`.

use axum::body::Bytes;
use serde::Serialize;

pub const CONTENT_TYPE: &str = "text/event-stream; charset=utf-8";

/// A named event: `event: NAME\ndata: JSON\n\n`.
pub fn event(name: &str, data: &impl Serialize) -> Bytes {
    let mut frame = Vec::with_capacity(128);
    frame.extend_from_slice(b"event: ");
    frame.extend_from_slice(name.as_bytes());
    frame.extend_from_slice(b"\ndata: ");
    write_json(&mut frame, data);
    frame.extend_from_slice(b"\n\n");
    Bytes::from(frame)
}

/// An unnamed event: `data: JSON\n\n`.
pub fn data(data: &impl Serialize) -> Bytes {
    let mut frame = Vec::with_capacity(128);
    frame.extend_from_slice(b"data: ");
    write_json(&mut frame, data);
    frame.extend_from_slice(b"\n\n");
    Bytes::from(frame)
}

/// An unnamed event with CRLF line ends, as Google's `alt=sse` streams frame them.
pub fn data_crlf(data: &impl Serialize) -> Bytes {
    let mut frame = Vec::with_capacity(128);
    frame.extend_from_slice(b"data: ");
    write_json(&mut frame, data);
    frame.extend_from_slice(b"\r\n\r\n");
    Bytes::from(frame)
}

/// Chat Completions' end-of-stream marker.
pub fn done() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}

fn write_json(out: &mut Vec<u8>, data: &impl Serialize) {
    // Compact JSON never contains a raw newline, so it cannot break the framing.
    serde_json::to_writer(out, data).expect("JSON values always serialize");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_event_frame() {
        let frame = event("message_stop", &json!({"type": "message_stop"}));
        assert_eq!(
            &frame[..],
            b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        );
    }

    #[test]
    fn data_only_frame_and_done_marker() {
        assert_eq!(&data(&json!({"a": 1}))[..], b"data: {\"a\":1}\n\n");
        assert_eq!(&done()[..], b"data: [DONE]\n\n");
    }

    #[test]
    fn newlines_inside_values_stay_escaped() {
        let frame = data(&json!({"text": "line one\nline two"}));
        let text = std::str::from_utf8(&frame).unwrap();
        assert_eq!(
            text.matches('\n').count(),
            2,
            "only the frame terminator: {text:?}"
        );
        assert!(text.ends_with("\n\n"));
    }
}
