//! The end of a request, however it ended: one cost event, the wallet reservation
//! settled, the lane's health updated.

use crate::host::now_ms;
use crate::wallet;

use super::RequestFlow;

impl RequestFlow {
    pub(super) fn emit_event(&mut self) {
        if self.event_sent {
            return;
        }
        self.weigh_prompt();
        let Some(record) = self.record.as_ref() else {
            return;
        };
        self.event_sent = true;
        let now = now_ms();
        let event = record.finish(&self.rt.prices, now);
        if let Some(lane) = self.upstream_lane.take() {
            // 429 and 5xx (and no answer at all) count against the lane's health.
            let ok = matches!(event.http_status, 200..=499) && event.http_status != 429;
            self.lane_finished(&lane, &event, ok, now);
        }
        // Every exit path ends here (success, error, reset, client gone): settle once.
        if let Some((lease_id, amount)) = self.reservation.take() {
            wallet::settle(&event.team, lease_id, amount, event.cost_nanos);
        }
        self.rt.tick_buffer.count_event(&event);
        self.enqueue(&event);
    }

    pub(super) fn lane_finished(
        &self,
        lane: &str,
        event: &tollgate_core::event::CostEvent,
        ok: bool,
        now: i64,
    ) {
        let routing = &self.rt.config.routing;
        if ok {
            let lanes = &self.rt.lanes;
            lanes.succeeded(lane, now, event.tokens.total(), event.latency_ms);
        } else {
            self.rt.lanes.failed(
                lane,
                now,
                event.tokens.total(),
                routing.failures_to_cool_down,
                i64::from(routing.cooldown_seconds) * 1000,
            );
        }
    }

    pub(super) fn enqueue(&self, event: &tollgate_core::event::CostEvent) {
        if !self.rt.config.cost_tracking_enabled {
            return;
        }
        self.rt.enqueue_event(event);
    }
}
