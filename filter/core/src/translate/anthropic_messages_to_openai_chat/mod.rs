//! An Anthropic Messages client served by an OpenAI Chat Completions lane: the request
//! goes messages → chat ([`request`]), the answer comes back chat → messages, whole
//! ([`response`]), streamed ([`stream`]) or as an error ([`error`]).

mod error;
mod request;
mod response;
mod stream;

pub use error::error_to_anthropic;
pub use request::messages_to_chat;
pub use response::chat_response_to_messages;
pub(crate) use stream::ToMessages;
