//! OpenAI Chat Completions ⇄ Anthropic Messages translation, and both to Gemini's
//! `generateContent` and Bedrock's Converse, so a client keeps its SDK while the mesh
//! serves it from another provider's lane.
//!
//! Requests are translated whole (they are small and already parsed); responses whole
//! when they are JSON, and event by event when they are streamed, so a translated
//! stream reaches the client as fast as the upstream one.
//!
//! The rule for requests: whatever cannot be expressed on the other side is refused
//! with [`Untranslatable`] naming the field, so the filter answers 400 instead of
//! quietly serving a different request. Only hints that cannot change the answer's
//! content or shape are dropped (each one is listed where it is dropped, with why).
//!
//! Layout: one folder per client API × lane API (its request, response, stream and
//! error translation, each with its tests), and leaf modules for what both share.
//!
//! Usage accounting is not done here: the filter feeds the upstream bytes, untranslated,
//! to [`crate::usage::UsageTracker`] with the lane's API kind. The usage written into
//! translated bodies is for the client's benefit.

mod anthropic_messages_to_bedrock_converse;
mod anthropic_messages_to_gemini;
mod anthropic_messages_to_openai_chat;
mod converse_terms;
mod direction;
mod error_body;
mod event_rewriter;
mod gemini_terms;
mod json_fields;
mod openai_anthropic_terms;
mod openai_chat_to_anthropic_messages;
mod openai_chat_to_bedrock_converse;
mod openai_chat_to_gemini;
mod openai_embeddings_to_gemini;
mod sse_out;
mod stream;

pub use anthropic_messages_to_bedrock_converse::{
    converse_response_to_messages, messages_to_converse,
};
pub use anthropic_messages_to_gemini::{
    gemini_error_to_anthropic, gemini_response_to_messages, messages_to_gemini,
};
pub use anthropic_messages_to_openai_chat::{
    chat_response_to_messages, error_to_anthropic, messages_to_chat,
};
pub use direction::{Direction, Untranslatable};
pub use openai_chat_to_anthropic_messages::{
    chat_to_messages, error_to_openai, messages_response_to_chat, messages_response_to_chat_at,
};
pub use openai_chat_to_bedrock_converse::{
    chat_to_converse, converse_error_to_openai, converse_response_to_chat,
};
pub use openai_chat_to_gemini::{chat_to_gemini, gemini_error_to_openai, gemini_response_to_chat};
pub use openai_embeddings_to_gemini::{embeddings_to_gemini, gemini_embeddings_to_openai};
pub use stream::{StreamTranslator, MAX_UPSTREAM_EVENT};

use serde_json::{Map, Value};

/// The request body for the lane, translated from the client's format.
/// `default_max_tokens` is used for Anthropic lanes, which require a limit, and sent
/// to Bedrock lanes, whose default differs by model; `target_model` is unused for
/// Gemini lanes, whose URL names the model.
pub fn translate_request(
    direction: Direction,
    body: &Map<String, Value>,
    target_model: &str,
    default_max_tokens: u64,
) -> Result<Map<String, Value>, Untranslatable> {
    match direction {
        Direction::ChatClientMessagesLane => {
            chat_to_messages(body, target_model, default_max_tokens)
        }
        Direction::MessagesClientChatLane => messages_to_chat(body, target_model),
        Direction::ChatClientGeminiLane => chat_to_gemini(body),
        Direction::MessagesClientGeminiLane => messages_to_gemini(body),
        Direction::EmbeddingsClientGeminiLane => embeddings_to_gemini(body, target_model),
        Direction::ChatClientConverseLane => {
            chat_to_converse(body, target_model, default_max_tokens)
        }
        Direction::MessagesClientConverseLane => {
            messages_to_converse(body, target_model, default_max_tokens)
        }
    }
}

/// A whole 2xx answer from the lane, in the client's format. `created` (Unix seconds)
/// is used only for OpenAI clients.
pub fn translate_response(
    direction: Direction,
    body: &[u8],
    client_model: &str,
    created: u64,
) -> Result<Vec<u8>, Untranslatable> {
    match direction {
        Direction::ChatClientMessagesLane => {
            messages_response_to_chat_at(body, client_model, created)
        }
        Direction::MessagesClientChatLane => chat_response_to_messages(body, client_model),
        Direction::ChatClientGeminiLane => gemini_response_to_chat(body, client_model, created),
        Direction::MessagesClientGeminiLane => gemini_response_to_messages(body, client_model),
        Direction::EmbeddingsClientGeminiLane => gemini_embeddings_to_openai(body, client_model),
        Direction::ChatClientConverseLane => converse_response_to_chat(body, client_model, created),
        Direction::MessagesClientConverseLane => converse_response_to_messages(body, client_model),
    }
}

/// An error body from the lane, in the client's format (the status is kept as is).
pub fn translate_error(direction: Direction, body: &[u8]) -> Vec<u8> {
    translate_lane_error(direction, 0, None, body)
}

/// An error answer from the lane, in the client's format. Bedrock names the error in
/// a header (`x-amzn-ErrorType`, `exception`) and the status, not in its body.
pub fn translate_lane_error(
    direction: Direction,
    status: u16,
    exception: Option<&str>,
    body: &[u8],
) -> Vec<u8> {
    match direction {
        Direction::ChatClientMessagesLane => error_to_openai(body),
        Direction::MessagesClientChatLane => error_to_anthropic(body),
        Direction::ChatClientGeminiLane | Direction::EmbeddingsClientGeminiLane => {
            gemini_error_to_openai(body)
        }
        Direction::MessagesClientGeminiLane => gemini_error_to_anthropic(body),
        Direction::ChatClientConverseLane => converse_error_to_openai(status, exception, body),
        Direction::MessagesClientConverseLane => {
            converse_terms::anthropic_error(status, exception, body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ApiKind;
    use serde_json::json;

    #[test]
    fn direction_between_apis() {
        assert_eq!(
            Direction::between(ApiKind::ChatCompletions, ApiKind::Messages),
            Some(Direction::ChatClientMessagesLane)
        );
        assert_eq!(
            Direction::between(ApiKind::Messages, ApiKind::ChatCompletions),
            Some(Direction::MessagesClientChatLane)
        );
        assert_eq!(
            Direction::between(ApiKind::Messages, ApiKind::Messages),
            None
        );
        assert_eq!(
            Direction::between(ApiKind::Responses, ApiKind::Messages),
            None
        );
        assert_eq!(
            Direction::between(ApiKind::ChatCompletions, ApiKind::GenerateContent),
            Some(Direction::ChatClientGeminiLane)
        );
        assert_eq!(
            Direction::between(ApiKind::Messages, ApiKind::GenerateContent),
            Some(Direction::MessagesClientGeminiLane)
        );
        assert_eq!(
            Direction::MessagesClientGeminiLane.lane(),
            ApiKind::GenerateContent
        );
        let d = Direction::MessagesClientChatLane;
        assert_eq!(
            (d.client(), d.lane()),
            (ApiKind::Messages, ApiKind::ChatCompletions)
        );
    }

    #[test]
    fn dispatch_by_direction() {
        let Value::Object(chat) =
            json!({"model": "a", "messages": [{"role": "user", "content": "hi"}]})
        else {
            unreachable!()
        };
        let out =
            translate_request(Direction::ChatClientMessagesLane, &chat, "claude", 77).unwrap();
        assert_eq!(
            (out["model"].clone(), out["max_tokens"].clone()),
            (json!("claude"), json!(77))
        );
        let out = translate_request(Direction::MessagesClientChatLane, &chat, "gpt", 77).unwrap();
        assert!(out.get("max_completion_tokens").is_none());

        let message =
            br#"{"id":"msg_1","content":[{"type":"text","text":"x"}],"stop_reason":"end_turn"}"#;
        let out: Value = serde_json::from_slice(
            &translate_response(Direction::ChatClientMessagesLane, message, "m", 5).unwrap(),
        )
        .unwrap();
        assert_eq!(
            (out["created"].clone(), out["object"].clone()),
            (json!(5), json!("chat.completion"))
        );
        let completion = br#"{"id":"chatcmpl-1","choices":[{"message":{"content":"x"},"finish_reason":"stop"}]}"#;
        let out: Value = serde_json::from_slice(
            &translate_response(Direction::MessagesClientChatLane, completion, "m", 5).unwrap(),
        )
        .unwrap();
        assert_eq!(out["type"], "message");

        let err: Value = serde_json::from_slice(&translate_error(
            Direction::MessagesClientChatLane,
            br#"{"error":{"message":"m","type":"server_error"}}"#,
        ))
        .unwrap();
        assert_eq!(err["type"], "error");
    }
}
