//! What calling AWS takes, free of host calls: Signature Version 4 request signing
//! and the binary event-stream framing Bedrock's ConverseStream answers in.

pub mod event_stream;
pub mod sigv4;
