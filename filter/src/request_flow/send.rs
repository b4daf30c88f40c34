//! The request rewritten for its lane (credential, path, headers, translated body)
//! and let go upstream.

use std::rc::Rc;

use proxy_wasm::types::{Action, BufferType, MapType};
use tollgate_core::headers::{self};
use tollgate_core::refusal::LocalError;

use crate::host;

use super::upstream::upstream_request;
use super::{Prepared, RequestFlow, CLIENT_ONLY_HEADERS, HEADER_PROVIDER};

impl RequestFlow {
    /// Rewrites the request for its lane and lets it go upstream.
    pub(super) fn send(&mut self, prepared: Prepared) -> Action {
        let Prepared {
            parsed,
            lane,
            body_size,
            fallbacks,
            planned_ms,
            ..
        } = prepared;
        let rt = Rc::clone(&self.rt);
        let Some(credential) = rt.credential(&lane) else {
            let msg = format!(
                "provider credential for lane '{}' is not configured",
                lane.id
            );
            return self.refuse(LocalError::Internal, &msg);
        };
        let aws = self.rt.aws_credentials(&lane);
        if lane.aws.is_some() && aws.is_none() {
            let msg = format!("AWS credentials for lane '{}' are not configured", lane.id);
            return self.refuse(LocalError::Internal, &msg);
        }
        let anthropic_version = self.header("anthropic-version");
        let upstream =
            match upstream_request(&parsed, &lane, credential, anthropic_version, aws.as_ref()) {
                Ok(u) => u,
                Err(e) => return self.refuse(LocalError::BadRequest, &e.0),
            };
        self.translation = upstream.direction;
        self.lane_api = Some(upstream.lane_api);
        if upstream.direction.is_some() {
            // The cache stores answers in the client's format only for native lanes.
            self.cache_store = None;
        }
        // The client's key never travels further, nor do our own control headers. Only
        // the headers that change are touched, one call each. Changing request headers
        // makes Envoy select the route again (it clears the cached route).
        let mut set: Vec<(&str, &str)> = upstream
            .headers
            .iter()
            .filter(|(name, _)| *name != ":method" && *name != "content-type")
            .map(|(n, v)| (*n, v.as_ref()))
            .collect();
        set.push((HEADER_PROVIDER, lane.route_key()));
        let changes = headers::Changes::between(&self.request_headers, CLIENT_ONLY_HEADERS, &set);
        let mut ok = host::apply_changes(MapType::HttpRequestHeaders, &changes).is_ok();
        if let Some(body) = &upstream.body {
            ok = ok && host::replace_body(BufferType::HttpRequestBody, body_size, body).is_ok();
        }
        if !ok {
            return self.refuse(
                LocalError::Internal,
                "Tollgate could not prepare the upstream request",
            );
        }
        self.rt.lanes.started(&lane.id, planned_ms);
        self.upstream_lane = Some(lane.id.clone());
        self.planned = fallbacks;
        self.sent = Some(parsed);
        Action::Continue
    }
}
