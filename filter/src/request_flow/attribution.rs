//! The request headers: who is calling (key → consumer group → team, end user,
//! workflow), and whether Tollgate serves this endpoint and body size at all.

use std::rc::Rc;

use proxy_wasm::types::{Action, MapType};
use tollgate_core::accounting::RequestRecord;
use tollgate_core::config::filter_config::GroupEntry;
use tollgate_core::config::ProviderKind;
use tollgate_core::event::ApiKind;
use tollgate_core::headers;
use tollgate_core::keys;
use tollgate_core::models::{list_body, model_body, models_for, ModelsRequest};
use tollgate_core::refusal::LocalError;
use tollgate_core::request::clean_label;

use crate::host;
use crate::ids::new_request_id;

use super::{RequestFlow, HEADER_REQUEST_ID, HEADER_USER, HEADER_WORKFLOW};

impl RequestFlow {
    pub(super) fn attribute(&mut self, end_of_stream: bool) -> Action {
        self.rt.tick_buffer.count(self.rt.metrics.requests, 1);
        self.request_headers = host::get_headers(MapType::HttpRequestHeaders);
        let path = self.header(":path").unwrap_or_default().to_string();
        let api = ApiKind::from_path(&path);
        // Read from the map itself (not through `self`): `self.style` is set below.
        let authorization = headers::find(&self.request_headers, "authorization");
        let x_api_key = headers::find(&self.request_headers, "x-api-key");
        self.style = match api {
            Some(a) => a.native_provider(),
            None if x_api_key.is_some() && authorization.is_none() => ProviderKind::Anthropic,
            None => ProviderKind::Openai,
        };

        let Some(key) = keys::client_key(authorization, x_api_key) else {
            self.rt.tick_buffer.count(self.rt.metrics.unauthorized, 1);
            return self.refuse(
                LocalError::MissingKey,
                "Missing API key: send your team key as `Authorization: Bearer <key>` or `x-api-key`.",
            );
        };
        let rt = Rc::clone(&self.rt);
        let Some(group) = rt.group_for_key(key) else {
            self.rt.tick_buffer.count(self.rt.metrics.unauthorized, 1);
            return self.refuse(
                LocalError::UnknownKey,
                "Incorrect API key provided: it matches no Tollgate consumer group.",
            );
        };

        let id = new_request_id(self.started_ms as u64);
        let mut record = RequestRecord::new(
            id,
            self.started_ms,
            group.name.clone(),
            group.team.clone(),
            api.unwrap_or(ApiKind::ChatCompletions),
        );
        record.user = self.header(HEADER_USER).and_then(clean_label);
        record.workflow = self.header(HEADER_WORKFLOW).and_then(clean_label);
        self.record = Some(record);

        if self.header(":method") == Some("GET") {
            if let Some(asked) = ModelsRequest::from_path(&path) {
                return self.answer_models(group, asked);
            }
        }
        if api.is_none() {
            return self.other_endpoint(group, &path);
        }
        if self.header(":method") != Some("POST") {
            let msg = format!("Tollgate serves POST {path}, not other methods");
            return self.refuse(LocalError::UnsupportedEndpoint, &msg);
        }
        if end_of_stream {
            return self.refuse(LocalError::BadRequest, "request body is required");
        }
        let declared = self
            .header("content-length")
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > u64::from(self.rt.config.max_request_bytes)) {
            let msg = format!(
                "request body exceeds {} bytes",
                self.rt.config.max_request_bytes
            );
            return self.refuse(LocalError::BodyTooLarge, &msg);
        }
        Action::Pause
    }

    /// Lists the models the key's group may ask for, or one of them, from the
    /// configuration: no provider call, no charge and so no cost event.
    fn answer_models(&mut self, group: &GroupEntry, asked: ModelsRequest) -> Action {
        // Both providers list at /v1/models: Anthropic's clients always send their
        // API version header.
        if self.header("anthropic-version").is_some() {
            self.style = ProviderKind::Anthropic;
        }
        let models = models_for(&self.rt.config, group);
        let body = match asked {
            ModelsRequest::List => list_body(self.style, &models),
            ModelsRequest::One(id) => match models.iter().find(|m| m.id == id) {
                Some(m) => model_body(self.style, m),
                None => {
                    let message =
                        format!("The model '{id}' does not exist or this key may not use it.");
                    let action = self.refuse(LocalError::ModelNotFound, &message);
                    self.record = None;
                    return action;
                }
            },
        };
        let id = self.record.take().map(|r| r.id).unwrap_or_default();
        let headers = [
            ("content-type", "application/json"),
            (HEADER_REQUEST_ID, id.as_str()),
        ];
        if let Err(status) = host::send_response(200, &headers, body.to_string().as_bytes()) {
            log::warn!("tollgate: cannot answer a models request: {status:?}");
        }
        Action::Pause
    }
}
