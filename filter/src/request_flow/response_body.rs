//! The lane's response body: usage read from every chunk or the whole answer, the
//! stream translated or stripped of what Tollgate asked for, the cost header, the
//! cache entry.

use proxy_wasm::traits::HttpContext;
use proxy_wasm::types::{Action, BufferType, MapType};
use tollgate_core::headers::{self};

use crate::host;

use super::upstream::translate_whole_answer;
use super::{RequestFlow, ResponseBody, HEADER_COST};

impl RequestFlow {
    pub(super) fn on_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        match self.record.as_ref() {
            Some(r) if r.local_error.is_none() && !self.served_from_cache => {}
            _ => return Action::Continue,
        }
        // Each streamed call sees only the new chunk: earlier ones were passed on.
        let chunk = match self.response {
            ResponseBody::Stream(_) | ResponseBody::Upgraded(_) => self
                .get_http_response_body(0, body_size)
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        if let ResponseBody::HeldForFallback = self.response {
            if !end_of_stream {
                return Action::Pause;
            }
            // The fallback's answer replaces this body; if none can be made, the
            // client gets the original error.
            if let Action::Pause = self.start_fallback(body_size) {
                return Action::Pause;
            }
            self.response = ResponseBody::Unknown;
            return Action::Continue;
        }
        match &mut self.response {
            ResponseBody::Stream(stream) => {
                if let Some(captured) = self.captured.as_mut() {
                    if captured.len() + chunk.len() <= self.rt.config.cache.max_entry_bytes as usize
                    {
                        captured.extend_from_slice(&chunk);
                    } else {
                        self.captured = None;
                        self.cache_store = None;
                    }
                }
                if let Some(r) = self.record.as_mut() {
                    r.response_bytes += chunk.len();
                    // Usage is read from the lane's own events; the client's bytes are
                    // written back only when they differ from the chunk.
                    if let Some(out) = stream.push(&chunk, end_of_stream, &mut r.usage) {
                        let _ = host::replace_body(BufferType::HttpResponseBody, body_size, out);
                    }
                }
            }
            ResponseBody::Upgraded(frames) => {
                if let Some(r) = self.record.as_mut() {
                    r.response_bytes += chunk.len();
                    frames.push(&chunk, |message| r.usage.observe_realtime_event(message));
                    // A session both sides closed is complete, however its stream ends.
                    r.response_complete |= frames.closed();
                }
            }
            ResponseBody::Buffered if !end_of_stream => {
                if body_size > self.rt.config.max_response_bytes as usize {
                    // Too large to hold: let it through and account from what we have.
                    self.response = ResponseBody::Unknown;
                    self.apply_response_edits();
                    if let Some(r) = self.record.as_mut() {
                        r.response_bytes = body_size;
                    }
                    return Action::Continue;
                }
                return Action::Pause;
            }
            _ => {}
        }
        if end_of_stream {
            self.finish_response(body_size);
        }
        Action::Continue
    }

    pub(super) fn finish_response(&mut self, body_size: usize) {
        // Usage is read from the lane's own answer, before any translation.
        let api = match self.record.as_ref() {
            Some(r) => self.lane_api.unwrap_or(r.api),
            None => return,
        };
        match &mut self.response {
            ResponseBody::Buffered => {
                let body = self
                    .get_http_response_body(0, body_size)
                    .unwrap_or_default();
                if let Some(r) = self.record.as_mut() {
                    r.response_bytes = body.len();
                    r.usage.observe_body(api, &body);
                    r.response_complete = true;
                    if let Some(status) = r.response_status {
                        r.provider_reason = tollgate_core::azure::error_reason(status, &body);
                    }
                }
                // Priced once: for the cost header and for a cache entry.
                let cost_nanos = self.cost_so_far();
                let cost = tollgate_core::money::format_usd(cost_nanos);
                self.response_edits.set.push((HEADER_COST, cost));
                if self.cache_store.is_some() {
                    let ct = headers::find(&self.response_headers, "content-type")
                        .unwrap_or("application/json")
                        .to_string();
                    self.store_in_cache(&body, ct, cost_nanos);
                }
                if let (Some(d), Some(parsed)) = (self.translation, self.sent.as_ref()) {
                    let status = self
                        .record
                        .as_ref()
                        .and_then(|r| r.response_status)
                        .unwrap_or(0);
                    let exception = headers::find(&self.response_headers, "x-amzn-errortype");
                    let request_id = self.record.as_ref().map_or("", |r| r.id.as_str());
                    let client_body = translate_whole_answer(
                        d,
                        status,
                        exception,
                        request_id,
                        false,
                        &body,
                        &parsed.facts.model,
                        false,
                    );
                    self.response_edits
                        .set
                        .push(("content-length", client_body.len().to_string()));
                    let _ =
                        host::replace_body(BufferType::HttpResponseBody, body_size, &client_body);
                }
                self.apply_response_edits();
            }
            // The stream's last chunk finished reading it.
            ResponseBody::Stream(_) => {
                if let Some(r) = self.record.as_mut() {
                    r.response_complete = true;
                }
                if let Some(captured) = self.captured.take() {
                    let cost_nanos = self.cost_so_far();
                    self.store_in_cache(&captured, "text/event-stream".into(), cost_nanos);
                }
            }
            ResponseBody::Upgraded(_) => {
                if let Some(r) = self.record.as_mut() {
                    r.response_complete = true;
                }
            }
            ResponseBody::Unknown if self.passthrough => {
                if let Some(r) = self.record.as_mut() {
                    r.response_complete = true;
                }
            }
            ResponseBody::Unknown | ResponseBody::HeldForFallback => {}
        }
    }

    /// Makes the pending response header changes (only the headers that differ).
    pub(super) fn apply_response_edits(&mut self) {
        let edits = std::mem::take(&mut self.response_edits);
        if edits.set.is_empty() && edits.remove.is_empty() {
            return;
        }
        let set: Vec<(&str, &str)> = edits.set.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let changes = headers::Changes::between(&self.response_headers, &edits.remove, &set);
        if let Err(status) = host::apply_changes(MapType::HttpResponseHeaders, &changes) {
            log::warn!("tollgate: cannot set response headers: {status:?}");
        }
    }
}
