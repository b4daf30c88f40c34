//! Error bodies in the shape each provider's SDK parses, so a refusal by Tollgate
//! surfaces in the client as a normal, typed API error.

use serde_json::json;

use crate::config::ProviderKind;

/// Why Tollgate answered a request itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalError {
    MissingKey,
    UnknownKey,
    UnsupportedEndpoint,
    /// A batch endpoint: batch jobs are not governed (see `other_endpoints`).
    BatchNotGoverned,
    /// `GET /v1/models/{id}` for a model the group may not ask for.
    ModelNotFound,
    BadRequest,
    BodyTooLarge,
    NoLane,
    WalletExhausted,
    /// A leader paused the team, the workflow or the user (see `policy`).
    Paused,
    /// A leader's routing restriction refuses the request (see `policy`).
    Restricted,
    /// The ledger (wallet authority) could not be asked for credit.
    WalletUnavailable,
    Internal,
}

impl LocalError {
    pub fn status(self) -> u16 {
        match self {
            LocalError::MissingKey | LocalError::UnknownKey => 401,
            LocalError::UnsupportedEndpoint | LocalError::ModelNotFound => 404,
            LocalError::BadRequest | LocalError::NoLane => 400,
            LocalError::BodyTooLarge => 413,
            LocalError::WalletExhausted => 402,
            LocalError::Paused | LocalError::Restricted | LocalError::BatchNotGoverned => 403,
            LocalError::WalletUnavailable => 503,
            LocalError::Internal => 500,
        }
    }

    /// Short machine-readable reason, used in events and metrics.
    pub fn reason(self) -> &'static str {
        match self {
            LocalError::MissingKey => "missing_api_key",
            LocalError::UnknownKey => "invalid_api_key",
            LocalError::UnsupportedEndpoint => "unsupported_endpoint",
            LocalError::BatchNotGoverned => "batch_not_governed",
            LocalError::ModelNotFound => "model_not_found",
            LocalError::BadRequest => "invalid_request",
            LocalError::BodyTooLarge => "request_too_large",
            LocalError::NoLane => "no_lane",
            LocalError::WalletExhausted => "wallet_exhausted",
            LocalError::Paused => "paused",
            LocalError::Restricted => "restricted_by_policy",
            LocalError::WalletUnavailable => "wallet_unavailable",
            LocalError::Internal => "internal_error",
        }
    }

    fn anthropic_type(self) -> &'static str {
        match self {
            LocalError::MissingKey | LocalError::UnknownKey => "authentication_error",
            LocalError::UnsupportedEndpoint | LocalError::ModelNotFound => "not_found_error",
            LocalError::BadRequest | LocalError::NoLane => "invalid_request_error",
            LocalError::BodyTooLarge => "request_too_large",
            LocalError::WalletExhausted => "billing_error",
            LocalError::Paused | LocalError::Restricted | LocalError::BatchNotGoverned => {
                "permission_error"
            }
            LocalError::WalletUnavailable => "overloaded_error",
            LocalError::Internal => "api_error",
        }
    }

    fn openai_type(self) -> &'static str {
        match self {
            LocalError::WalletExhausted => "insufficient_quota",
            LocalError::Internal | LocalError::WalletUnavailable => "server_error",
            _ => "invalid_request_error",
        }
    }
}

/// The JSON error body for `error` in the wire format of `style`.
pub fn error_body(style: ProviderKind, error: LocalError, message: &str) -> String {
    let value = match style.wire() {
        // Clients speak OpenAI's or Anthropic's format, never Gemini's or Bedrock's:
        // OpenAI's is the default.
        ProviderKind::Openai
        | ProviderKind::OpenaiCompatible
        | ProviderKind::AzureOpenai
        | ProviderKind::Gemini
        | ProviderKind::VertexAi
        | ProviderKind::Bedrock => json!({
            "error": {
                "message": message,
                "type": error.openai_type(),
                "param": null,
                "code": error.reason(),
            }
        }),
        ProviderKind::Anthropic => json!({
            "type": "error",
            "error": {"type": error.anthropic_type(), "message": message},
        }),
    };
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_each_providers_shape() {
        let o: serde_json::Value = serde_json::from_str(&error_body(
            ProviderKind::Openai,
            LocalError::UnknownKey,
            "m",
        ))
        .unwrap();
        assert_eq!(o["error"]["code"], "invalid_api_key");
        assert_eq!(o["error"]["message"], "m");
        let a: serde_json::Value = serde_json::from_str(&error_body(
            ProviderKind::Anthropic,
            LocalError::UnknownKey,
            "m \"quoted\"",
        ))
        .unwrap();
        assert_eq!(a["type"], "error");
        assert_eq!(a["error"]["type"], "authentication_error");
        assert_eq!(a["error"]["message"], "m \"quoted\"");
    }
}
