//! Which way a translated exchange goes (client format → lane format), and the error
//! for what cannot be carried across.

use crate::event::ApiKind;

/// A request (or an upstream answer) that cannot be carried faithfully to the other
/// wire format. The message names the field and is meant for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untranslatable(pub String);

impl std::fmt::Display for Untranslatable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Untranslatable {}

/// Which way a translated exchange goes, named by the client's format and the lane's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// An OpenAI Chat Completions client served by an Anthropic Messages lane: the
    /// request goes chat → messages, the answer comes back messages → chat.
    ChatClientMessagesLane,
    /// An Anthropic Messages client served by an OpenAI Chat Completions lane.
    MessagesClientChatLane,
    /// An OpenAI Chat Completions client served by a Gemini `generateContent` lane.
    ChatClientGeminiLane,
    /// An Anthropic Messages client served by a Gemini `generateContent` lane.
    MessagesClientGeminiLane,
    /// An OpenAI embeddings client served by a Gemini `batchEmbedContents` lane.
    EmbeddingsClientGeminiLane,
    /// An OpenAI Chat Completions client served by a Bedrock Converse lane.
    ChatClientConverseLane,
    /// An Anthropic Messages client served by a Bedrock Converse lane.
    MessagesClientConverseLane,
}

impl Direction {
    /// The translation needed when a `client` request is served by a `lane` API, or
    /// `None` when the two are the same (no translation) or no translation exists (the
    /// Responses API is not translated).
    pub fn between(client: ApiKind, lane: ApiKind) -> Option<Direction> {
        match (client, lane) {
            (ApiKind::ChatCompletions, ApiKind::Messages) => {
                Some(Direction::ChatClientMessagesLane)
            }
            (ApiKind::Messages, ApiKind::ChatCompletions) => {
                Some(Direction::MessagesClientChatLane)
            }
            (ApiKind::ChatCompletions, ApiKind::GenerateContent) => {
                Some(Direction::ChatClientGeminiLane)
            }
            (ApiKind::Messages, ApiKind::GenerateContent) => {
                Some(Direction::MessagesClientGeminiLane)
            }
            (ApiKind::Embeddings, ApiKind::GenerateContent) => {
                Some(Direction::EmbeddingsClientGeminiLane)
            }
            (ApiKind::ChatCompletions, ApiKind::Converse) => {
                Some(Direction::ChatClientConverseLane)
            }
            (ApiKind::Messages, ApiKind::Converse) => Some(Direction::MessagesClientConverseLane),
            _ => None,
        }
    }

    pub fn client(self) -> ApiKind {
        match self {
            Direction::ChatClientMessagesLane
            | Direction::ChatClientGeminiLane
            | Direction::ChatClientConverseLane => ApiKind::ChatCompletions,
            Direction::MessagesClientChatLane
            | Direction::MessagesClientGeminiLane
            | Direction::MessagesClientConverseLane => ApiKind::Messages,
            Direction::EmbeddingsClientGeminiLane => ApiKind::Embeddings,
        }
    }

    pub fn lane(self) -> ApiKind {
        match self {
            Direction::ChatClientMessagesLane => ApiKind::Messages,
            Direction::MessagesClientChatLane => ApiKind::ChatCompletions,
            Direction::ChatClientGeminiLane
            | Direction::MessagesClientGeminiLane
            | Direction::EmbeddingsClientGeminiLane => ApiKind::GenerateContent,
            Direction::ChatClientConverseLane | Direction::MessagesClientConverseLane => {
                ApiKind::Converse
            }
        }
    }

    /// The lane answers streams in AWS event-stream framing, not SSE.
    pub fn lane_streams_events(self) -> bool {
        self.lane() == ApiKind::Converse
    }
}
