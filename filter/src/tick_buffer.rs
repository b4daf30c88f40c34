//! Per-request bookkeeping a worker VM keeps to itself until its next tick: cost events,
//! counter increments and gauge values.
//!
//! Each host call costs a request ~2 µs (BENCHMARKS.md), and each shared-queue item
//! wakes the flusher's thread (Envoy posts `onQueueReady` to it per enqueue). So a
//! request only appends here, inside the VM; the HTTP root's tick (and a full batch)
//! hands the events to the flusher as one queue item, adds the counters up in Envoy and
//! sets the gauges once per tick. Counters, gauges and events are therefore up to one
//! tick behind. The root flushes in `on_done` too, so a draining VM (config reload,
//! shutdown) does not keep what it collected.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use proxy_wasm::hostcalls;
use tollgate_core::config::filter_config::EventSink;
use tollgate_core::event::CostEvent;
use tollgate_core::metric_names::{self, EventKey, EventTotals};
use tollgate_core::outbox::EventBatch;

use crate::host;
use crate::metrics::LabelledCounters;

/// Events a worker collects before it enqueues without waiting for the tick.
const MAX_BATCH_EVENTS: usize = 64;

#[derive(Default)]
pub struct TickBuffer {
    events: RefCell<EventBatch>,
    /// Increments by metric id, for counters defined at configure time.
    counts: RefCell<Vec<(u32, i64)>>,
    /// The latest value by metric id, for gauges defined at configure time.
    gauges: RefCell<Vec<(u32, u64)>>,
    /// Increments by full stat name, for labelled counters (defined on first flush).
    named: RefCell<HashMap<String, i64>>,
    /// Finished requests added up by their labels; stat names are made at the flush.
    finished: RefCell<Vec<(EventKey, EventTotals)>>,
    /// The flusher's event queue, resolved lazily (the flusher VM may start later).
    queue_id: Cell<Option<u32>>,
}

/// The value kept for metric `id` (a new default if there is none yet). A tick sees a
/// handful of ids: found by comparison, without hashing one per request.
fn by_id<T: Default>(values: &mut Vec<(u32, T)>, id: u32) -> &mut T {
    let at = match values.iter().position(|(known, _)| *known == id) {
        Some(at) => at,
        None => {
            values.push((id, T::default()));
            values.len() - 1
        }
    };
    &mut values[at].1
}

/// Counters of the event path itself, counted when the batch is handed over.
pub struct QueueMetrics {
    pub enqueued: Option<u32>,
    pub unqueued: Option<u32>,
}

impl TickBuffer {
    /// Adds to a counter at the next flush.
    pub fn count(&self, metric: Option<u32>, by: i64) {
        if let (Some(id), Ok(mut counts)) = (metric, self.counts.try_borrow_mut()) {
            *by_id(&mut counts, id) += by;
        }
    }

    /// Sets a gauge at the next flush (the latest value wins).
    pub fn gauge(&self, metric: Option<u32>, value: u64) {
        if let (Some(id), Ok(mut gauges)) = (metric, self.gauges.try_borrow_mut()) {
            *by_id(&mut gauges, id) = value;
        }
    }

    /// Adds to a labelled counter (full stat name) at the next flush.
    pub fn count_named(&self, name: String, by: i64) {
        if by <= 0 {
            return;
        }
        if let Ok(mut named) = self.named.try_borrow_mut() {
            *named.entry(name).or_default() += by;
        }
    }

    /// Counts a finished request under its labels (team, provider, lane, cache, outcome).
    pub fn count_event(&self, event: &CostEvent) {
        if let Ok(mut finished) = self.finished.try_borrow_mut() {
            let totals = EventTotals::of(event);
            // A tick sees few distinct keys (teams × lanes × outcomes): found by
            // comparison, without building a key or hashing one per request.
            match finished.iter_mut().find(|(key, _)| key.is_key_of(event)) {
                Some((_, sum)) => sum.add(&totals),
                None => finished.push((EventKey::of(event), totals)),
            }
        }
    }

    /// Serialises a record for the ledger (a cost event, or a lease closed) into the
    /// batch for the flusher; hands the batch over once it is full.
    pub fn record<T: serde::Serialize>(
        &self,
        record: &T,
        sink: &EventSink,
        metrics: &QueueMetrics,
    ) {
        let full = match self.events.try_borrow_mut() {
            Ok(mut batch) => match batch.push_serialized(record) {
                Ok(n) => n >= MAX_BATCH_EVENTS,
                Err(e) => {
                    log::warn!("tollgate: record for the ledger not serialisable: {e}");
                    false
                }
            },
            Err(_) => false,
        };
        if full {
            self.send_events(sink, metrics);
        }
    }

    /// Hands everything collected to Envoy: events to the flusher's queue, counters
    /// to their stats.
    pub fn flush(&self, sink: &EventSink, metrics: &QueueMetrics, labelled: &LabelledCounters) {
        self.send_events(sink, metrics);
        if let Ok(mut counts) = self.counts.try_borrow_mut() {
            for (id, by) in counts.drain(..) {
                host::count(Some(id), by);
            }
        }
        if let Ok(mut gauges) = self.gauges.try_borrow_mut() {
            for (id, value) in gauges.drain(..) {
                host::gauge(Some(id), value);
            }
        }
        if let Ok(mut named) = self.named.try_borrow_mut() {
            for (name, by) in named.drain() {
                labelled.add_named(name, by);
            }
        }
        if let Ok(mut finished) = self.finished.try_borrow_mut() {
            for (key, totals) in finished.drain(..) {
                for (name, by) in metric_names::counts(&key, &totals) {
                    labelled.add_named(name, by);
                }
            }
        }
    }

    fn send_events(&self, sink: &EventSink, metrics: &QueueMetrics) {
        let Ok(mut batch) = self.events.try_borrow_mut() else {
            return;
        };
        let Some((item, n)) = batch.item() else {
            return;
        };
        let queue = self.queue_id.get().or_else(|| {
            let id = hostcalls::resolve_shared_queue(&sink.queue_vm_id, &sink.queue_name)
                .ok()
                .flatten();
            self.queue_id.set(id);
            id
        });
        match queue.map(|q| host::enqueue(q, item)) {
            Some(Ok(())) => host::count(metrics.enqueued, n as i64),
            _ => {
                // The queue vanished (flusher restarting): forget it and count the loss.
                self.queue_id.set(None);
                host::count(metrics.unqueued, n as i64);
                log::warn!("tollgate: {n} records for the ledger could not be queued");
            }
        }
        // Envoy copied the item: the buffer is reused for the next batch.
        batch.clear();
    }
}
