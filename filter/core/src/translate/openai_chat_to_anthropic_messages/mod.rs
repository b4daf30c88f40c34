//! An OpenAI Chat Completions client served by an Anthropic Messages lane: the request
//! goes chat → messages ([`request`]), the answer comes back messages → chat, whole
//! ([`response`]), streamed ([`stream`]) or as an error ([`error`]).

mod error;
mod request;
mod response;
mod stream;

pub use error::error_to_openai;
pub use request::chat_to_messages;
pub use response::{messages_response_to_chat, messages_response_to_chat_at};
pub(crate) use stream::ToChat;
