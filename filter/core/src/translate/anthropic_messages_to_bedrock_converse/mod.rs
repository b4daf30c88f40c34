//! An Anthropic Messages client served by a Bedrock Converse lane: the request goes
//! messages → converse ([`request`]), the answer comes back converse → messages, whole
//! ([`response`]), streamed ([`stream`]) or as an error (`converse_terms`).
//!
//! The OpenAI Chat client's direction reuses all three through the Anthropic shape.

mod request;
mod response;
mod stream;

pub use request::messages_to_converse;
pub use response::converse_response_to_messages;
pub(crate) use stream::ConverseToMessages;
