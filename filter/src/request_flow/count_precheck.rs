//! Before a wallet refusal on the byte bound, the lane's free `count_tokens` call and a
//! second check with the counted input (decisions in `tollgate_core::count_precheck`).
//! The count is no cost event of its own: it is free, and the request it served is
//! recorded as usual.

use std::time::Duration;

use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use tollgate_core::budget::{plan_reservation, InputBound};
use tollgate_core::count_precheck::{
    applies, count_body, counted_tokens, input_bound, recheck, COUNT_TIMEOUT_MS,
};
use tollgate_core::event::ApiKind;

use super::upstream::credential_headers;
use super::{CountCall, Gate, Prepared, RequestFlow};

impl RequestFlow {
    /// Whether the request may be counted before its wallet refusal (once at most).
    pub(super) fn may_count(&self, prepared: &Prepared) -> bool {
        !self.counted
            && applies(
                self.rt.config.count_tokens_precheck,
                prepared.parsed.api,
                &prepared.lane,
            )
    }

    /// Asks the lane to count the request's input; the request waits, paused. When the
    /// call cannot be made the refusal stands.
    pub(super) fn count_before_refusing(&mut self, prepared: Prepared, available: i64) -> Action {
        self.counted = true;
        let team = self.team();
        let lane = &prepared.lane;
        let Some(credential) = self.rt.credential(lane).map(str::to_string) else {
            return self.refuse_wallet(&team, available, prepared.reservation);
        };
        let Ok(tree) = prepared.parsed.tree() else {
            return self.refuse_wallet(&team, available, prepared.reservation);
        };
        let body = count_body(tree, lane.body_model());
        let path = lane.upstream_path(ApiKind::CountTokens);
        let length = body.len().to_string();
        let version = self.header("anthropic-version");
        let auth = credential_headers(lane.provider, &credential, version);
        let mut headers: Vec<(&str, &str)> = vec![
            (":method", "POST"),
            (":path", &path),
            (":authority", &lane.authority),
            ("content-type", "application/json"),
            ("content-length", &length),
        ];
        headers.extend(auth.iter().map(|(k, v)| (*k, v.as_str())));
        let timeout = Duration::from_millis(COUNT_TIMEOUT_MS);
        match self.dispatch_http_call(&lane.cluster, headers, Some(&body), vec![], timeout) {
            Ok(token) => {
                self.count_call = Some(CountCall { token, available });
                self.pending = Some(prepared);
                Action::Pause
            }
            Err(status) => {
                log::warn!(
                    "tollgate: token count on lane {} not possible: {status:?}",
                    lane.id
                );
                self.refuse_wallet(&team, available, prepared.reservation)
            }
        }
    }

    pub(super) fn on_count_answer(&mut self, body_size: usize) {
        let (Some(call), Some(mut prepared)) = (self.count_call.take(), self.pending.take()) else {
            return;
        };
        if self.event_sent {
            return; // the client went away while the count was asked
        }
        let status = self
            .get_http_call_response_header(":status")
            .and_then(|s| s.parse::<u16>().ok());
        let body = self.get_http_call_response_body(0, body_size);
        let counted = counted_tokens(status, body.as_deref()).map(|tokens| {
            let request_bytes = self.record.as_ref().map_or(0, |r| r.request_bytes);
            plan_reservation(
                std::iter::once(&*prepared.lane).chain(prepared.fallbacks.iter().map(|l| &**l)),
                &self.rt.prices,
                prepared.planned_ms,
                request_bytes,
                prepared.parsed.facts.max_output_tokens,
                Some(InputBound {
                    model: &prepared.lane.model,
                    tokens: input_bound(tokens),
                }),
            )
        });
        let team = self.team();
        let Some(reservation) = recheck(prepared.reservation, counted) else {
            if counted.is_none() {
                log::warn!("tollgate: token count answered {status:?}; the wallet refusal stands");
            }
            self.refuse_wallet(&team, call.available, prepared.reservation);
            return;
        };
        prepared.reservation = reservation;
        let action = match self.try_reserve(&prepared) {
            Gate::Pass => self.send(prepared),
            Gate::AskLedger => self.ask_ledger(prepared),
            Gate::Refuse(action) => action,
            Gate::Count { available } => self.refuse_wallet(&team, available, reservation),
        };
        if let Action::Continue = action {
            self.resume_http_request();
        }
    }
}
