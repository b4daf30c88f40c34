//! An Anthropic Messages client served by a Gemini lane (Gemini API or Vertex AI).
//!
//! Each step is the Messages ⇄ Chat Completions translation composed with the
//! Chat Completions ⇄ Gemini one, so both directions share every rule (what is
//! refused, how finish reasons, usage and errors map) instead of keeping a third copy:
//! the request goes messages → chat → `generateContent` ([`request`]), the answer
//! comes back the other way, whole ([`response`]), streamed ([`stream`]) or as an
//! error ([`error`]).

mod error;
mod request;
mod response;
mod stream;

pub use error::gemini_error_to_anthropic;
pub use request::messages_to_gemini;
pub use response::gemini_response_to_messages;
pub(crate) use stream::GeminiToMessages;
