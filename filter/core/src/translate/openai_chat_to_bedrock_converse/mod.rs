//! An OpenAI Chat Completions client served by a Bedrock Converse lane, by way of the
//! Anthropic Messages shape: chat → messages → converse for the request, converse →
//! messages → chat for the answer (whole, streamed or an error). The chat ⇄ messages
//! steps are the ones Anthropic lanes use, so both lanes treat a chat request alike
//! (what is refused, how tools and images are carried).

mod request;
mod response;

pub use request::chat_to_converse;
pub use response::{converse_error_to_openai, converse_response_to_chat};
