//! An OpenAI `/v1/embeddings` client served by a Gemini API embedding lane: the request
//! becomes one `batchEmbedContents` call ([`request`]) and its embeddings come back as an
//! OpenAI embedding list ([`response`]); errors are read as for chat
//! (`gemini_error_to_openai`).

mod request;
mod response;

pub use request::embeddings_to_gemini;
pub use response::gemini_embeddings_to_openai;
