//! A failed answer (429, 5xx) retried on the next lane of the plan, inside the same
//! client request.

use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, BufferType, MapType};
use tollgate_core::accounting::ServedBy;
use tollgate_core::lane_stream::LaneStream;
use tollgate_core::money::format_usd;
use tollgate_core::routing::premium_status;
use tollgate_core::stream_filter::strip_usage_chunks;

use crate::host;
use crate::host::now_ms;

use super::upstream::{translate_whole_answer, upstream_request};
use super::{
    group_of, FallbackCall, RequestFlow, ResponseBody, FALLBACK_TIMEOUT_SECS, HEADER_COST,
    HEADER_LANE, HEADER_REQUEST_ID, MAX_SSE_EVENT_BYTES,
};

impl RequestFlow {
    /// A lane answered 429/5xx and another lane may serve: record the failed attempt as
    /// its own event (cost 0) and mark the lane's failure.
    pub(super) fn record_failed_attempt(&mut self, status: u16) {
        self.attempt += 1;
        let Some(record) = self.record.as_ref() else {
            return;
        };
        let mut attempt = record.clone();
        attempt.id = format!("{}-attempt{}", record.id, self.attempt);
        attempt.response_status = Some(status);
        attempt.response_complete = true;
        attempt.lease_id = None;
        let now = now_ms();
        let event = attempt.finish(&self.rt.prices, now);
        let labels = [
            ("team", event.team.as_str()),
            ("provider", event.provider.as_deref().unwrap_or("none")),
            ("lane", event.lane.as_deref().unwrap_or("none")),
        ];
        self.rt.tick_buffer.count_named(
            tollgate_core::metric_names::stat_name(
                tollgate_core::metric_names::FAILED_ATTEMPTS,
                &labels,
            ),
            1,
        );
        if let Some(lane) = self.upstream_lane.take() {
            self.lane_finished(&lane, &event, false, now);
        }
        self.enqueue(&event);
    }

    /// Sends the request to the next planned lane from inside the filter, while the
    /// failed answer is held back. The client sees only the final answer.
    pub(super) fn start_fallback(&mut self, failed_body_size: usize) -> Action {
        let Some(parsed) = self.sent.as_ref() else {
            return Action::Continue;
        };
        if self.planned.is_empty() {
            return Action::Continue;
        }
        let lane = self.planned.remove(0);
        let Some(credential) = self.rt.credential(&lane).map(str::to_string) else {
            return Action::Continue;
        };
        let aws = self.rt.aws_credentials(&lane);
        let Ok(upstream) = upstream_request(parsed, &lane, &credential, None, aws.as_ref()) else {
            return Action::Continue;
        };
        let headers: Vec<(&str, &str)> = upstream
            .headers
            .iter()
            .map(|(k, v)| (*k, v.as_ref()))
            .collect();
        // No rewritten body: the client's goes to this lane as it was sent.
        let body = upstream
            .body
            .clone()
            .unwrap_or_else(|| parsed.bytes().to_vec());
        let timeout = Duration::from_secs(FALLBACK_TIMEOUT_SECS);
        match self.dispatch_http_call(&lane.cluster, headers, Some(&body), vec![], timeout) {
            Ok(token) => {
                // The group is read through a handle of its own (no deep clone per request).
                let rt = Rc::clone(&self.rt);
                let group = group_of(&rt, self.record.as_ref());
                let policy_set = group.and_then(|g| rt.team_policy(&g.team));
                if let (Some(r), Some(group)) = (self.record.as_mut(), group) {
                    let policy = policy_set.as_deref().and_then(|s| s.team(&group.team));
                    r.served_by = Some(ServedBy {
                        provider: lane.provider.as_str().to_string(),
                        lane: lane.id.clone(),
                        model: lane.model.clone(),
                        fixed_cost: lane.fixed_cost,
                    });
                    (r.premium, r.premium_approved) =
                        premium_status(&lane, group, r.workflow.as_deref(), policy);
                }
                self.rt.lanes.started(&lane.id, now_ms());
                self.upstream_lane = Some(lane.id.clone());
                self.translation = upstream.direction;
                self.lane_api = Some(upstream.lane_api);
                self.fallback = Some(FallbackCall {
                    token,
                    failed_body_size,
                    lane,
                });
                Action::Pause
            }
            Err(status) => {
                log::warn!(
                    "tollgate: fallback to lane {} not possible: {status:?}",
                    lane.id
                );
                Action::Continue
            }
        }
    }

    pub(super) fn on_fallback_answer(&mut self, body_size: usize) {
        let Some(call) = self.fallback.take() else {
            return;
        };
        let status = self
            .get_http_call_response_header(":status")
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(502);
        let mut content_type = self
            .get_http_call_response_header("content-type")
            .unwrap_or_else(|| "application/json".into());
        let exception = self.get_http_call_response_header("x-amzn-errortype");
        let body = self
            .get_http_call_response_body(0, body_size)
            .unwrap_or_default();
        if (status == 429 || status >= 500) && !self.planned.is_empty() {
            self.record_failed_attempt(status);
            if let Action::Pause = self.start_fallback(call.failed_body_size) {
                return;
            }
        }
        let Some(api) = self.lane_api.or(self.record.as_ref().map(|r| r.api)) else {
            self.resume_http_response();
            return;
        };
        let is_stream = LaneStream::is_stream_content_type(&content_type);
        if let Some(r) = self.record.as_mut() {
            r.response_status = Some(status);
            r.response_bytes = body.len();
            r.response_complete = true;
            if is_stream {
                let mut parser = LaneStream::for_api(api, MAX_SSE_EVENT_BYTES);
                let usage = &mut r.usage;
                parser.push(&body, &mut |data| usage.observe_stream_event(api, data));
                parser.finish(&mut |data| usage.observe_stream_event(api, data));
            } else {
                r.usage.observe_body(api, &body);
                r.provider_reason = tollgate_core::azure::error_reason(status, &body);
            }
        }
        let cost = self
            .record
            .is_some()
            .then(|| format_usd(self.cost_so_far()));
        let body = match (self.translation, self.sent.as_ref()) {
            (Some(d), Some(parsed)) => translate_whole_answer(
                d,
                status,
                exception.as_deref(),
                self.record.as_ref().map_or("", |r| r.id.as_str()),
                is_stream,
                &body,
                &parsed.facts.model,
                parsed.facts.client_wants_stream_usage,
            ),
            // The lane was asked for the usage chunk on the client's behalf.
            (None, Some(parsed)) if is_stream && parsed.adds_stream_usage() => {
                strip_usage_chunks(&body)
            }
            _ => body,
        };
        if is_stream && self.translation.is_some() {
            // A translated stream is the client's SSE, whatever the lane streamed in.
            content_type = "text/event-stream".into();
        }
        let map = MapType::HttpResponseHeaders;
        let _ = host::set_header(map, ":status", &status.to_string());
        let _ = host::set_header(map, "content-type", &content_type);
        let _ = host::set_header(map, "content-length", &body.len().to_string());
        let _ = host::set_header(map, HEADER_LANE, &call.lane.id);
        if let Some(id) = self.record.as_ref().map(|r| r.id.clone()) {
            let _ = host::set_header(map, HEADER_REQUEST_ID, &id);
        }
        if let (Some(cost), false) = (cost, is_stream) {
            let _ = host::set_header(map, HEADER_COST, &cost);
        }
        let _ = host::replace_body(BufferType::HttpResponseBody, call.failed_body_size, &body);
        // Nothing left to parse or cache from the held-back failed answer.
        self.response = ResponseBody::Unknown;
        self.cache_store = None;
        self.resume_http_response();
    }
}
