//! Server-sent events written for the client, in each provider's framing.

use serde_json::Value;

/// `data: <json>` (OpenAI chunks carry no event names).
pub(super) fn write_data(out: &mut Vec<u8>, value: &Value) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(value.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// `event: <name>` then `data: <json>` (Anthropic SDKs skip events without a name).
pub(super) fn write_event(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\n\n");
}
