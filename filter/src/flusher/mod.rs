//! The singleton flusher: owns the shared event queue, drains it into a bounded
//! outbox, and sends batches to the ledger, retrying with backoff while it is down.

#[cfg(test)]
mod tests;

use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;
use tollgate_core::config::filter_config::EventSink;
use tollgate_core::config::filter_config::FilterConfig;
use tollgate_core::outbox::{split_event_batch, Outbox};

use crate::host;

pub struct Flusher {
    sink: EventSink,
    queue_id: u32,
    outbox: Outbox,
    in_flight_token: Option<u32>,
    /// No send before this time (ms since epoch), for backoff.
    next_attempt_ms: u64,
    sent: Option<u32>,
    dropped: Option<u32>,
    send_failures: Option<u32>,
    buffered: Option<u32>,
    /// How long the oldest buffered event has waited, in ms (0 when none waits).
    oldest_age: Option<u32>,
    reported_drops: u64,
    /// Names this flusher in its reports of dropped events.
    instance: String,
    /// `Bearer <ingest token>` (see `ledger_auth`).
    authorization: Option<String>,
}

fn now_ms() -> u64 {
    host::now_ms().max(0) as u64
}

impl Flusher {
    pub fn new(
        config: &FilterConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let sink = config.events.clone();
        let queue_id = hostcalls::register_shared_queue(&sink.queue_name)
            .map_err(|s| format!("cannot register queue {}: {s:?}", sink.queue_name))?;
        let metric = |name: &str| hostcalls::define_metric(MetricType::Counter, name).ok();
        Ok(Flusher {
            outbox: Outbox::new(sink.max_buffered as usize, sink.max_batch as usize),
            queue_id,
            in_flight_token: None,
            next_attempt_ms: 0,
            sent: metric("tollgate.events_sent"),
            dropped: metric("tollgate.events_dropped"),
            send_failures: metric("tollgate.ledger_send_failures"),
            buffered: hostcalls::define_metric(MetricType::Gauge, "tollgate.events_buffered").ok(),
            oldest_age: hostcalls::define_metric(
                MetricType::Gauge,
                "tollgate.events_oldest_age_ms",
            )
            .ok(),
            reported_drops: 0,
            instance: crate::ids::new_request_id(now_ms()),
            authorization: crate::ledger_auth::authorization(env),
            sink,
        })
    }

    pub fn drain_queue(&mut self) {
        // Each item is one worker's batch of events (see `tick_buffer`).
        let now = now_ms() as i64;
        while let Ok(Some(item)) = hostcalls::dequeue_shared_queue(self.queue_id) {
            for event in split_event_batch(&item) {
                self.outbox.push_at(event.to_vec(), now);
            }
        }
        let new_drops = self.outbox.dropped - self.reported_drops;
        if new_drops > 0 {
            host::count(self.dropped, new_drops as i64);
            log::warn!("tollgate flusher: buffer full, dropped {new_drops} events");
            self.reported_drops = self.outbox.dropped;
        }
        self.report_buffer();
    }

    /// The buffer's size and the age of its oldest event, as gauges.
    fn report_buffer(&self) {
        host::gauge(self.buffered, self.outbox.len() as u64);
        let age = self
            .outbox
            .oldest_ms()
            .map_or(0, |at| (now_ms() as i64 - at).max(0) as u64);
        host::gauge(self.oldest_age, age);
    }

    pub fn on_tick(&mut self) {
        self.drain_queue();
        if self.in_flight_token.is_some() || now_ms() < self.next_attempt_ms {
            return;
        }
        let Some(body) = self.outbox.take_batch_reporting(&self.instance) else {
            return;
        };
        let headers = crate::ledger_auth::headers(
            "POST",
            &self.sink.ingest_path,
            &self.sink.ledger_authority,
            self.authorization.as_deref(),
            true,
        );
        match hostcalls::dispatch_http_call(
            &self.sink.ledger_cluster,
            headers,
            Some(&body),
            vec![],
            Duration::from_millis(u64::from(self.sink.ledger_timeout_ms)),
        ) {
            Ok(token) => self.in_flight_token = Some(token),
            Err(status) => {
                log::warn!("tollgate flusher: cannot reach ledger cluster: {status:?}");
                self.failed();
            }
        }
    }

    fn failed(&mut self) {
        host::count(self.send_failures, 1);
        self.outbox.retry();
        self.next_attempt_ms = now_ms()
            + self
                .outbox
                .backoff_ms(u64::from(self.sink.flush_interval_ms));
    }

    pub fn on_ledger_response(&mut self, token: u32, _body_size: usize) {
        if self.in_flight_token != Some(token) {
            return;
        }
        self.in_flight_token = None;
        let status = hostcalls::get_map_value(
            proxy_wasm::types::MapType::HttpCallResponseHeaders,
            ":status",
        )
        .ok()
        .flatten()
        .and_then(|s| s.parse::<u16>().ok())
        .unwrap_or(0);
        if (200..300).contains(&status) {
            let n = self.outbox.acknowledge();
            host::count(self.sent, n as i64);
            self.next_attempt_ms = 0;
            // Keep draining without waiting for the next tick when more is queued.
            if !self.outbox.is_empty() {
                self.on_tick();
            }
        } else {
            log::warn!("tollgate flusher: ledger answered {status}; will retry");
            self.failed();
        }
        self.report_buffer();
    }
}
