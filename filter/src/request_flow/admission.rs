//! The request body: parsed, routed to a lane (with its fallbacks), answered from
//! the cache or checked against the wallet, then sent.

use std::rc::Rc;

use proxy_wasm::traits::HttpContext;
use proxy_wasm::types::Action;
use tollgate_core::accounting::ServedBy;
use tollgate_core::budget::plan_reservation;
use tollgate_core::policy::pause_message;
use tollgate_core::refusal::LocalError;
use tollgate_core::request::ParsedRequest;
use tollgate_core::routing::{plan, premium_status, NoLane, RouteQuery};

use crate::host::now_ms;
use crate::ids::random_u64;

use super::cached::cache_answers;
use super::upstream::sent_as_is;
use super::{group_of, Gate, Prepared, RequestFlow, TRANSLATION};

impl RequestFlow {
    pub(super) fn admit_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if self.passthrough {
            return Action::Continue;
        }
        if self.record.as_ref().is_none_or(|r| r.local_error.is_some()) {
            return Action::Pause;
        }
        if body_size > self.rt.config.max_request_bytes as usize {
            let msg = format!(
                "request body exceeds {} bytes",
                self.rt.config.max_request_bytes
            );
            return self.refuse(LocalError::BodyTooLarge, &msg);
        }
        if !end_of_stream {
            return Action::Pause;
        }
        self.forward(body_size)
    }

    /// The body phase: parse, choose a lane, check the wallet, then forward.
    pub(super) fn forward(&mut self, body_size: usize) -> Action {
        let prepared = match self.prepare(body_size) {
            Ok(p) => p,
            Err(action) => return action,
        };
        if let Some(action) = self.answer_from_cache(&prepared) {
            return action;
        }
        if !self.rt.config.wallet_enforcement || !prepared.charged {
            return self.send(prepared);
        }
        match self.try_reserve(&prepared) {
            Gate::Pass => self.send(prepared),
            Gate::Refuse(action) => action,
            Gate::AskLedger => self.ask_ledger(prepared),
            Gate::Count { available } => self.count_before_refusing(prepared, available),
        }
    }

    /// Parses the body and chooses the lane; refusals come back as the action to return.
    pub(super) fn prepare(&mut self, body_size: usize) -> Result<Prepared, Action> {
        let Some(api) = self.record.as_ref().map(|r| r.api) else {
            return Err(Action::Continue);
        };
        let rt = Rc::clone(&self.rt);
        let Some(group) = group_of(&rt, self.record.as_ref()) else {
            return Err(Action::Continue);
        };
        let bytes = self.get_http_request_body(0, body_size).unwrap_or_default();
        // A request the cache may answer is keyed from the body as an object: parsed
        // whole at once rather than read for its facts first.
        let cache_used = cache_answers(group, api);
        let parsed = if cache_used {
            ParsedRequest::parse_whole(api, bytes)
        } else {
            ParsedRequest::parse(api, bytes)
        };
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => return Err(self.refuse(LocalError::BadRequest, &e.0)),
        };
        let now = now_ms();
        let workflow = self.record.as_ref().and_then(|r| r.workflow.clone());
        let user = self
            .record
            .as_ref()
            .and_then(|r| r.user.clone())
            .or_else(|| parsed.facts.user.clone());
        let policy_set = self.rt.team_policy(&group.team);
        let policy = policy_set.as_deref().and_then(|s| s.team(&group.team));
        if let Some(pause) =
            policy.and_then(|p| p.pause_for(workflow.as_deref(), user.as_deref(), now))
        {
            let message = pause_message(&group.team, pause);
            return Err(self.refuse(LocalError::Paused, &message));
        }
        let query = RouteQuery {
            api,
            workflow: workflow.as_deref(),
            requested_model: &parsed.facts.model,
            group,
            translation: TRANSLATION,
            random: random_u64(now),
            now_ms: now,
            policy,
        };
        let lanes = match plan(&self.rt.config, &self.rt.prices, &query, |l| {
            self.rt.lanes.read(&l.id, now)
        }) {
            Ok(lanes) => lanes
                .into_iter()
                .map(|l| self.rt.shared_lane(l))
                .collect::<Vec<_>>(),
            Err(NoLane::Restricted(m)) => return Err(self.refuse(LocalError::Restricted, &m)),
            Err(NoLane::Unservable(m)) => return Err(self.refuse(LocalError::NoLane, &m)),
        };
        // The body as an object keys the cache, carries another model or is translated:
        // a body the first pass let through that cannot be built is refused before any
        // of those, and a request sent on as it is never builds it.
        if cache_used || !lanes.iter().all(|l| sent_as_is(&parsed, l)) {
            if let Err(e) = parsed.tree() {
                return Err(self.refuse(LocalError::BadRequest, &e.0));
            }
        }
        let lane = Rc::clone(&lanes[0]);
        if let Some(r) = self.record.as_mut() {
            r.request_bytes = parsed.bytes().len();
            r.model_requested = parsed.facts.model.clone();
            r.stream = parsed.facts.stream;
            r.service_tier_requested = parsed.facts.service_tier.clone();
            if r.user.is_none() {
                r.user = parsed.facts.user.clone();
            }
            r.served_by = Some(ServedBy {
                provider: lane.provider.as_str().to_string(),
                lane: lane.id.clone(),
                model: lane.model.clone(),
                fixed_cost: lane.fixed_cost,
            });
            (r.premium, r.premium_approved) =
                premium_status(&lane, group, r.workflow.as_deref(), policy);
        }
        // Reserve for the dearest lane the request may end up on (fallbacks included).
        let reservation = plan_reservation(
            lanes.iter().map(|l| &**l),
            &self.rt.prices,
            now,
            parsed.bytes().len(),
            parsed.facts.max_output_tokens,
            None,
        );
        // Free calls (token counting) and fixed-cost lanes reserve nothing: nothing is
        // charged per request.
        let charged = !api.is_free() && lanes.iter().any(|l| !l.fixed_cost);
        let reservation = if charged { reservation } else { 0 };
        Ok(Prepared {
            charged,
            parsed,
            lane,
            fallbacks: lanes[1..].to_vec(),
            body_size,
            reservation,
            planned_ms: now,
        })
    }
}
