//! An OpenAI Chat Completions client served by a Gemini lane (Gemini API or Vertex
//! AI): the request goes chat → `generateContent` ([`request`]), the answer comes back
//! as a `chat.completion`, whole ([`response`]), streamed ([`stream`]) or as an error
//! ([`error`]).

mod error;
mod request;
mod response;
mod stream;

pub use error::gemini_error_to_openai;
pub use request::chat_to_gemini;
pub use response::gemini_response_to_chat;
pub(crate) use stream::GeminiToChat;
