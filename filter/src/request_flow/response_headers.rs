//! The lane's response headers: hold a failed answer back for a fallback, choose
//! how the body is read (buffered JSON or a stream), set Tollgate's own headers.

use proxy_wasm::types::{Action, MapType};
use tollgate_core::headers::{self};
use tollgate_core::lane_stream::LaneStream;
use tollgate_core::response_stream::{ClientStream, ResponseStream};
use tollgate_core::translate::StreamTranslator;
use tollgate_core::websocket::ServerFrames;

use crate::host;
use crate::host::now_ms;

use super::{
    RequestFlow, ResponseBody, HEADER_BUDGET, HEADER_LANE, HEADER_REQUEST_ID, MAX_SSE_EVENT_BYTES,
};

impl RequestFlow {
    pub(super) fn on_response_headers(&mut self, end_of_stream: bool) -> Action {
        if self.served_from_cache {
            return Action::Continue;
        }
        let Some(record) = self.record.as_mut() else {
            return Action::Continue;
        };
        if record.local_error.is_some() {
            return Action::Continue;
        }
        self.response_headers = host::get_headers(MapType::HttpResponseHeaders);
        let status = headers::find(&self.response_headers, ":status")
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(0);
        let is_stream = headers::find(&self.response_headers, "content-type")
            .is_some_and(LaneStream::is_stream_content_type);
        if (status == 429 || status >= 500) && !self.planned.is_empty() && self.sent.is_some() {
            // Another lane may serve: hold this answer back and try it.
            self.record_failed_attempt(status);
            self.response = ResponseBody::HeldForFallback;
            if end_of_stream {
                return self.start_fallback(0);
            }
            return Action::Pause;
        }
        let Some(record) = self.record.as_mut() else {
            return Action::Continue;
        };
        record.response_status = Some(status);
        let record_api = record.api;
        let mut set = vec![(HEADER_REQUEST_ID, record.id.clone())];
        // Notices ride on credit leases: read with the reservation, none without one.
        if let Some(notice) = self.budget_notice.take() {
            set.push((HEADER_BUDGET, notice));
        }
        if let Some(served) = record.served_by.as_ref() {
            set.push((HEADER_LANE, served.lane.clone()));
        }
        self.response_edits.set = set;
        if self.websocket && status == 101 {
            self.response =
                ResponseBody::Upgraded(Box::new(ServerFrames::new(MAX_SSE_EVENT_BYTES)));
            self.apply_response_edits();
            return Action::Continue;
        }
        if end_of_stream {
            record.response_complete = true;
            self.apply_response_edits();
            return Action::Continue;
        }
        if self.translation.is_some() {
            // The body changes length when translated.
            self.response_edits.remove.push("content-length");
        }
        if is_stream {
            let ok = (200..300).contains(&status);
            let unasked_usage = self.sent.as_ref().is_some_and(|p| p.adds_stream_usage());
            let client = match (self.translation, self.sent.as_ref()) {
                (Some(d), Some(parsed)) if ok => {
                    let created = (now_ms() / 1000) as u64;
                    let request_id = self.record.as_ref().map_or("", |r| r.id.as_str());
                    ClientStream::Translated(Box::new(
                        StreamTranslator::new(
                            d,
                            &parsed.facts.model,
                            parsed.facts.client_wants_stream_usage,
                        )
                        .with_created(created)
                        .with_answer_id(request_id),
                    ))
                }
                (None, _) if unasked_usage && ok => {
                    self.response_edits.remove.push("content-length");
                    ClientStream::WithoutUsageChunk
                }
                _ => ClientStream::AsIs,
            };
            if self.translation.is_some_and(|d| d.lane_streams_events()) {
                // The client gets SSE, translated from the lane's event-stream framing.
                self.response_edits
                    .set
                    .push(("content-type", "text/event-stream".into()));
            }
            let api = self.lane_api.unwrap_or(record_api);
            self.response =
                ResponseBody::Stream(ResponseStream::new(api, client, MAX_SSE_EVENT_BYTES));
            if self.cache_store.is_some() && status == 200 {
                self.captured = Some(Vec::new());
            }
            self.apply_response_edits();
            Action::Continue
        } else if self.passthrough
            && !headers::find(&self.response_headers, "content-type")
                .is_some_and(|ct| ct.starts_with("application/json"))
        {
            // A passed-through answer that is not JSON (audio, file contents) holds no
            // usage: it goes on unbuffered.
            self.apply_response_edits();
            Action::Continue
        } else {
            // Hold the headers until the body's usage is known, so the cost can be a header.
            self.response = ResponseBody::Buffered;
            Action::Pause
        }
    }
}
