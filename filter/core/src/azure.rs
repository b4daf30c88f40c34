//! Azure OpenAI: where a lane's deployment is called, how its credential is sent, and
//! the parts of Azure's answers that OpenAI's do not have.
//!
//! Azure speaks OpenAI's wire format at its own paths: a deployment's
//! `/openai/deployments/{deployment}/chat/completions?api-version=...` (also
//! `/embeddings` and `/completions`), or with the versionless v1 API
//! `/openai/v1/chat/completions` naming the deployment as `model`. Its answers add
//! `prompt_filter_results` (in the JSON answer, and in a first stream chunk with no
//! choices) and `content_filter_results` per choice; a prompt its content filter
//! refuses is a 400 with `error.code = "content_filter"`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::schema::AzureAuth;
use crate::event::ApiKind;

/// The `api_version` that selects Azure's versionless v1 API (`/openai/v1/...`).
pub const V1_API: &str = "v1";

/// How one Azure OpenAI lane is called (in the filter's configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AzureUpstream {
    pub deployment: String,
    /// An `api-version` (`2024-10-21`) or [`V1_API`].
    pub api_version: String,
    #[serde(default)]
    pub auth: AzureAuth,
}

impl AzureUpstream {
    fn is_v1(&self) -> bool {
        self.api_version == V1_API
    }

    /// The path (after the resource's base path) that serves `api`, with its query.
    /// `None` for an API Azure lanes are not called with.
    pub fn path(&self, api: ApiKind) -> Option<String> {
        let operation = match api {
            ApiKind::ChatCompletions => "chat/completions",
            ApiKind::Embeddings => "embeddings",
            ApiKind::Completions => "completions",
            _ => return None,
        };
        Some(if self.is_v1() {
            format!("/openai/v1/{operation}")
        } else {
            format!(
                "/openai/deployments/{}/{operation}?api-version={}",
                self.deployment, self.api_version
            )
        })
    }

    /// The `model` a request body names: the v1 API finds the deployment by it; a
    /// deployment path ignores it, so the lane's model name is kept there.
    pub fn body_model<'a>(&'a self, lane_model: &'a str) -> &'a str {
        if self.is_v1() {
            &self.deployment
        } else {
            lane_model
        }
    }

    /// The credential header: the resource key as `api-key`, or an Entra ID token.
    pub fn credential_header(&self, credential: &str) -> (&'static str, String) {
        match self.auth {
            AzureAuth::ApiKey => ("api-key", credential.to_string()),
            AzureAuth::Entra => ("authorization", format!("Bearer {credential}")),
        }
    }
}

/// Azure's first stream chunk: the prompt's content-filter verdict, with no choices,
/// no usage and an empty id and model. It says nothing an Anthropic client can take.
pub fn is_prompt_filter_chunk(chunk: &Value) -> bool {
    chunk.get("prompt_filter_results").is_some()
        && chunk["choices"].as_array().is_some_and(Vec::is_empty)
        && !chunk["usage"].is_object()
}

/// Whether an error body is Azure's content-filter refusal of the prompt (the
/// client's content, not a failure of the lane).
pub fn is_content_filter_refusal(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .is_ok_and(|v| v["error"]["code"].as_str() == Some("content_filter"))
}

/// The reason an error answer's event records beyond `provider_error`:
/// `content_filter` for a refusal by Azure's content filter.
pub fn error_reason(status: u16, body: &[u8]) -> Option<&'static str> {
    ((400..500).contains(&status) && is_content_filter_refusal(body)).then_some("content_filter")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn lane(api_version: &str, auth: AzureAuth) -> AzureUpstream {
        AzureUpstream {
            deployment: "chat-prod".into(),
            api_version: api_version.into(),
            auth,
        }
    }

    #[test]
    fn deployment_paths_carry_the_api_version() {
        let l = lane("2024-10-21", AzureAuth::ApiKey);
        assert_eq!(
            l.path(ApiKind::ChatCompletions).unwrap(),
            "/openai/deployments/chat-prod/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            l.path(ApiKind::Embeddings).unwrap(),
            "/openai/deployments/chat-prod/embeddings?api-version=2024-10-21"
        );
        assert_eq!(
            l.path(ApiKind::Completions).unwrap(),
            "/openai/deployments/chat-prod/completions?api-version=2024-10-21"
        );
        assert_eq!(l.path(ApiKind::Responses), None);
        assert_eq!(l.path(ApiKind::Messages), None);
        assert_eq!(l.body_model("gpt-4o"), "gpt-4o");
    }

    #[test]
    fn the_v1_api_names_the_deployment_as_the_model() {
        let l = lane(V1_API, AzureAuth::ApiKey);
        assert_eq!(
            l.path(ApiKind::ChatCompletions).unwrap(),
            "/openai/v1/chat/completions"
        );
        assert_eq!(
            l.path(ApiKind::Embeddings).unwrap(),
            "/openai/v1/embeddings"
        );
        assert_eq!(l.body_model("gpt-4o"), "chat-prod");
    }

    #[test]
    fn the_credential_goes_as_api_key_or_entra_bearer() {
        let key = lane("2024-10-21", AzureAuth::ApiKey).credential_header("k1");
        assert_eq!(key, ("api-key", "k1".to_string()));
        let token = lane("2024-10-21", AzureAuth::Entra).credential_header("eyJ0");
        assert_eq!(token, ("authorization", "Bearer eyJ0".to_string()));
    }

    #[test]
    fn the_prompt_filter_chunk_is_recognised() {
        let first = json!({"choices": [], "created": 0, "id": "", "model": "", "object": "",
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]});
        assert!(is_prompt_filter_chunk(&first));
        let usage = json!({"choices": [], "prompt_filter_results": [],
            "usage": {"prompt_tokens": 1}});
        assert!(!is_prompt_filter_chunk(&usage));
        let content = json!({"choices": [{"index": 0, "delta": {"content": "x"}}]});
        assert!(!is_prompt_filter_chunk(&content));
    }

    #[test]
    fn content_filter_refusals_are_told_from_other_errors() {
        let refusal = json!({"error": {"message": "filtered", "type": null, "param": "prompt",
            "code": "content_filter", "status": 400, "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {"violence": {"filtered": true, "severity": "medium"}}}}});
        assert!(is_content_filter_refusal(refusal.to_string().as_bytes()));
        let other = json!({"error": {"code": "429", "message": "slow down"}});
        assert!(!is_content_filter_refusal(other.to_string().as_bytes()));
        assert!(!is_content_filter_refusal(b"<html>"));
        assert_eq!(
            error_reason(400, refusal.to_string().as_bytes()),
            Some("content_filter")
        );
        assert_eq!(error_reason(400, other.to_string().as_bytes()), None);
        assert_eq!(error_reason(500, refusal.to_string().as_bytes()), None);
    }
}
