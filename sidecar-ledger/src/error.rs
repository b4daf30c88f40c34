//! The one error shape of the API: `{"error": {"message": "...", "type": "..."}}`,
//! whatever went wrong, so clients never have to parse text or an empty body.

use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::query::QueryError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Machine-readable category, stable for clients to branch on.
    pub kind: &'static str,
    pub message: String,
    /// A finer, stable reason within the category (e.g. `token_expired`), sent as
    /// `code` like the providers' errors.
    pub code: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            message: message.into(),
            code: None,
        }
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "api_error", message)
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError::bad_request(e.0)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        ApiError::bad_request(e.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(e: BytesRejection) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                format!(
                    "the body exceeds {} bytes; send smaller batches",
                    crate::state::MAX_BODY_BYTES
                ),
            )
        } else {
            ApiError::new(e.status(), "invalid_request_error", e.body_text())
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        // Logged here, where the detail is, because the client gets only a summary.
        tracing::error!(error = %e, "storage error");
        ApiError::internal(format!("storage error: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.code {
            Some(code) => {
                json!({"error": {"message": self.message, "type": self.kind, "code": code}})
            }
            None => json!({"error": {"message": self.message, "type": self.kind}}),
        };
        (self.status, Json(body)).into_response()
    }
}
