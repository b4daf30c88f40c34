//! Tollgate answering a request itself, in the client's provider's error shape.

use proxy_wasm::types::Action;
use tollgate_core::refusal::{error_body, LocalError};

use crate::host;

use super::{RequestFlow, HEADER_REQUEST_ID};

impl RequestFlow {
    /// Answers the client locally with a provider-style error; nothing goes upstream.
    pub(super) fn refuse(&mut self, error: LocalError, message: &str) -> Action {
        self.rt.tick_buffer.count(self.rt.metrics.local_errors, 1);
        let team = self.record.as_ref().map_or("unknown", |r| r.team.as_str());
        let labels = [("team", team), ("reason", error.reason())];
        self.rt.tick_buffer.count_named(
            tollgate_core::metric_names::stat_name(tollgate_core::metric_names::REFUSALS, &labels),
            1,
        );
        let request_id = self
            .record
            .as_ref()
            .map(|r| r.id.clone())
            .unwrap_or_default();
        if let Some(r) = self.record.as_mut() {
            r.local_error = Some(error);
        }
        let body = error_body(self.style, error, message);
        let mut headers = vec![("content-type", "application/json")];
        if !request_id.is_empty() {
            headers.push((HEADER_REQUEST_ID, request_id.as_str()));
        }
        if let Err(status) = host::send_response(error.status(), &headers, body.as_bytes()) {
            log::warn!("tollgate: cannot send local reply: {status:?}");
        }
        Action::Pause
    }
}
