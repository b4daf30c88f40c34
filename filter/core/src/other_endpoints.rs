//! Provider endpoints Tollgate does not govern itself (images, audio, files,
//! fine-tuning, realtime, batches, ...): which family a path is, the configured
//! policy for it (`other_endpoints`), and the provider it belongs to.

use crate::config::{EndpointPolicy, OtherEndpoints, ProviderKind};

/// A family of provider endpoints, as `other_endpoints` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Images,
    Audio,
    Files,
    FineTuning,
    Realtime,
    Moderations,
    /// OpenAI Batch and Anthropic Message Batches.
    Batches,
    /// Any other path under `/v1/`.
    Other,
}

impl Family {
    /// The family of `path` (query string ignored), or `None` outside `/v1/`.
    pub fn of(path: &str) -> Option<Family> {
        let path = path.split('?').next().unwrap_or(path);
        let rest = path.strip_prefix("/v1/")?;
        let first = rest.split('/').next().unwrap_or_default();
        Some(match first {
            "images" => Family::Images,
            "audio" => Family::Audio,
            "files" | "uploads" => Family::Files,
            "fine_tuning" | "fine-tunes" => Family::FineTuning,
            "realtime" => Family::Realtime,
            "moderations" => Family::Moderations,
            "batches" => Family::Batches,
            "messages" if rest.starts_with("messages/batches") => Family::Batches,
            _ => Family::Other,
        })
    }

    /// Batch jobs are billed later, at batch rates, for work Tollgate never sees.
    pub fn is_batch(self) -> bool {
        self == Family::Batches
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Family::Images => "images",
            Family::Audio => "audio",
            Family::Files => "files",
            Family::FineTuning => "fine_tuning",
            Family::Realtime => "realtime",
            Family::Moderations => "moderations",
            Family::Batches => "batches",
            Family::Other => "other",
        }
    }
}

/// The configured policy for `family`. Batches are refused unless named explicitly.
pub fn policy_for(config: &OtherEndpoints, family: Family) -> EndpointPolicy {
    let named = match family {
        Family::Images => config.images,
        Family::Audio => config.audio,
        Family::Files => config.files,
        Family::FineTuning => config.fine_tuning,
        Family::Realtime => config.realtime,
        Family::Moderations => config.moderations,
        Family::Batches => return config.batches.unwrap_or(EndpointPolicy::Refuse),
        Family::Other => None,
    };
    named.unwrap_or(config.default)
}

/// The provider a passed-through request goes to: Anthropic for its Message Batches
/// and for any request carrying `anthropic-version` (Anthropic's SDKs always send it),
/// otherwise OpenAI.
pub fn provider_for(path: &str, anthropic_version: bool) -> ProviderKind {
    if anthropic_version || path.starts_with("/v1/messages/") {
        ProviderKind::Anthropic
    } else {
        ProviderKind::Openai
    }
}

/// The model a realtime session asks for (`/v1/realtime?model=...`), when it is a
/// plain model name.
pub fn realtime_model(path: &str) -> Option<&str> {
    let (_, query) = path.split_once('?')?;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("model="))
        .filter(|m| {
            !m.is_empty()
                && m.len() <= 128
                && m.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        })
}

/// The subprotocol prefix by which browsers put an OpenAI key in a WebSocket
/// handshake (`Sec-WebSocket-Protocol`), where no `Authorization` header can go.
const KEY_PROTOCOL: &str = "openai-insecure-api-key.";

/// A `Sec-WebSocket-Protocol` value without any key entry, when it had one (`Some("")`
/// when nothing else is left): a key a client puts there never goes upstream.
pub fn protocols_without_keys(value: &str) -> Option<String> {
    let entries: Vec<&str> = value.split(',').map(str::trim).collect();
    if !entries.iter().any(|e| e.starts_with(KEY_PROTOCOL)) {
        return None;
    }
    let kept: Vec<&str> = entries
        .into_iter()
        .filter(|e| !e.is_empty() && !e.starts_with(KEY_PROTOCOL))
        .collect();
    Some(kept.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_of_paths() {
        assert_eq!(Family::of("/v1/images/generations"), Some(Family::Images));
        assert_eq!(Family::of("/v1/audio/transcriptions"), Some(Family::Audio));
        assert_eq!(Family::of("/v1/files?purpose=batch"), Some(Family::Files));
        assert_eq!(Family::of("/v1/uploads/u1/parts"), Some(Family::Files));
        assert_eq!(Family::of("/v1/fine_tuning/jobs"), Some(Family::FineTuning));
        assert_eq!(Family::of("/v1/realtime/sessions"), Some(Family::Realtime));
        assert_eq!(Family::of("/v1/moderations"), Some(Family::Moderations));
        assert_eq!(
            Family::of("/v1/batches/batch_1/cancel"),
            Some(Family::Batches)
        );
        assert_eq!(Family::of("/v1/messages/batches"), Some(Family::Batches));
        assert_eq!(
            Family::of("/v1/messages/batches/msgbatch_1/results"),
            Some(Family::Batches)
        );
        assert_eq!(Family::of("/v1/vector_stores"), Some(Family::Other));
        assert_eq!(Family::of("/admin/config_dump"), None);
        assert_eq!(Family::of("/v1"), None);
    }

    #[test]
    fn policy_defaults_to_refuse_and_batches_need_naming() {
        let none = OtherEndpoints::default();
        assert_eq!(policy_for(&none, Family::Images), EndpointPolicy::Refuse);
        let open = OtherEndpoints {
            default: EndpointPolicy::Passthrough,
            audio: Some(EndpointPolicy::Refuse),
            ..OtherEndpoints::default()
        };
        assert_eq!(
            policy_for(&open, Family::Images),
            EndpointPolicy::Passthrough
        );
        assert_eq!(
            policy_for(&open, Family::Other),
            EndpointPolicy::Passthrough
        );
        assert_eq!(policy_for(&open, Family::Audio), EndpointPolicy::Refuse);
        // A passthrough default does not let batch jobs through at interactive rates.
        assert_eq!(policy_for(&open, Family::Batches), EndpointPolicy::Refuse);
        let batches = OtherEndpoints {
            batches: Some(EndpointPolicy::Passthrough),
            ..OtherEndpoints::default()
        };
        assert_eq!(
            policy_for(&batches, Family::Batches),
            EndpointPolicy::Passthrough
        );
        assert_eq!(policy_for(&batches, Family::Files), EndpointPolicy::Refuse);
    }

    #[test]
    fn realtime_sessions_name_their_model_in_the_query() {
        assert_eq!(
            realtime_model("/v1/realtime?model=gpt-realtime"),
            Some("gpt-realtime")
        );
        assert_eq!(
            realtime_model("/v1/realtime?intent=x&model=gpt-4o-realtime-preview-2024-12-17"),
            Some("gpt-4o-realtime-preview-2024-12-17")
        );
        assert_eq!(realtime_model("/v1/realtime"), None);
        assert_eq!(realtime_model("/v1/realtime?model="), None);
        assert_eq!(realtime_model("/v1/realtime?model=a%20b"), None);
    }

    #[test]
    fn keys_in_websocket_subprotocols_are_dropped() {
        assert_eq!(protocols_without_keys("realtime"), None);
        assert_eq!(
            protocols_without_keys(
                "realtime, openai-insecure-api-key.kt_x, openai-beta.realtime-v1"
            )
            .as_deref(),
            Some("realtime, openai-beta.realtime-v1")
        );
        assert_eq!(
            protocols_without_keys("openai-insecure-api-key.kt_x").as_deref(),
            Some("")
        );
    }

    #[test]
    fn providers_of_passed_through_requests() {
        assert_eq!(
            provider_for("/v1/messages/batches", false),
            ProviderKind::Anthropic
        );
        assert_eq!(provider_for("/v1/files", true), ProviderKind::Anthropic);
        assert_eq!(
            provider_for("/v1/images/generations", false),
            ProviderKind::Openai
        );
    }
}
