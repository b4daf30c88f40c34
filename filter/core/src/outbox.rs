//! Events waiting to reach the ledger: a bounded buffer with at most one batch in
//! flight. While the ledger is unreachable events wait here and are retried; when the
//! buffer is full the oldest are dropped and counted (memory stays bounded).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// The flusher's report that it dropped events (its buffer was full during a ledger
/// outage), sent with its next batch as `{"events_dropped": {...}}` so the ledger can
/// say that its numbers are short and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsDropped {
    /// The Envoy instance's flusher.
    pub instance: String,
    pub count: u64,
    /// When the first and the last of them were dropped (Unix ms).
    pub first_ms: i64,
    pub last_ms: i64,
}

/// How an [`EventsDropped`] travels in an event batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsDroppedRecord {
    pub events_dropped: EventsDropped,
}

#[derive(Debug)]
pub struct Outbox {
    queued: VecDeque<Vec<u8>>,
    /// When each queued event arrived (Unix ms), front first.
    queued_at: VecDeque<i64>,
    in_flight: Vec<Vec<u8>>,
    in_flight_at: Vec<i64>,
    max_buffered: usize,
    max_batch: usize,
    /// Events dropped because the buffer was full.
    pub dropped: u64,
    /// Drops not yet reported to the ledger: (count, first, last).
    unreported_drops: Option<(u64, i64, i64)>,
    /// Drops reported in the batch in flight.
    drops_in_flight: Option<(u64, i64, i64)>,
    /// Consecutive failed sends, for backoff.
    pub failures: u32,
}

impl Outbox {
    pub fn new(max_buffered: usize, max_batch: usize) -> Self {
        Outbox {
            queued: VecDeque::new(),
            queued_at: VecDeque::new(),
            in_flight: Vec::new(),
            in_flight_at: Vec::new(),
            max_buffered: max_buffered.max(1),
            max_batch: max_batch.max(1),
            dropped: 0,
            unreported_drops: None,
            drops_in_flight: None,
            failures: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.queued.len() + self.in_flight.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn has_batch_in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    pub fn push(&mut self, event_json: Vec<u8>) {
        self.push_at(event_json, 0);
    }

    /// Queues an event that arrived at `now_ms`.
    pub fn push_at(&mut self, event_json: Vec<u8>, now_ms: i64) {
        self.queued.push_back(event_json);
        self.queued_at.push_back(now_ms);
        self.enforce_bound(now_ms);
    }

    fn enforce_bound(&mut self, now_ms: i64) {
        while self.len() > self.max_buffered && !self.queued.is_empty() {
            self.queued.pop_front();
            self.queued_at.pop_front();
            self.dropped += 1;
            self.unreported_drops = Some(match self.unreported_drops {
                Some((n, first, _)) => (n + 1, first, now_ms),
                None => (1, now_ms, now_ms),
            });
        }
    }

    /// When the oldest event still waiting arrived (Unix ms).
    pub fn oldest_ms(&self) -> Option<i64> {
        self.in_flight_at
            .first()
            .or(self.queued_at.front())
            .copied()
    }

    /// As [`Outbox::take_batch`], with a report of the drops not yet reported (by the
    /// flusher of `instance`) appended to the batch.
    pub fn take_batch_reporting(&mut self, instance: &str) -> Option<Vec<u8>> {
        let mut body = self.take_batch()?;
        if let Some((count, first_ms, last_ms)) = self.unreported_drops.take() {
            let record = EventsDroppedRecord {
                events_dropped: EventsDropped {
                    instance: instance.to_string(),
                    count,
                    first_ms,
                    last_ms,
                },
            };
            if let Ok(json) = serde_json::to_vec(&record) {
                body.pop(); // ']'
                body.push(b',');
                body.extend_from_slice(&json);
                body.push(b']');
                self.drops_in_flight = Some((count, first_ms, last_ms));
            }
        }
        Some(body)
    }

    /// Takes the next batch as a JSON array body, or `None` if a batch is already in
    /// flight or nothing is queued.
    pub fn take_batch(&mut self) -> Option<Vec<u8>> {
        if self.has_batch_in_flight() || self.queued.is_empty() {
            return None;
        }
        let n = self.queued.len().min(self.max_batch);
        self.in_flight.extend(self.queued.drain(..n));
        self.in_flight_at.extend(self.queued_at.drain(..n));
        let size: usize = self.in_flight.iter().map(|e| e.len() + 1).sum();
        let mut body = Vec::with_capacity(size + 2);
        body.push(b'[');
        for (i, e) in self.in_flight.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(e);
        }
        body.push(b']');
        Some(body)
    }

    /// The ledger acknowledged the batch in flight. Returns how many events it held.
    pub fn acknowledge(&mut self) -> usize {
        self.failures = 0;
        let n = self.in_flight.len();
        self.in_flight.clear();
        self.in_flight_at.clear();
        self.drops_in_flight = None;
        n
    }

    /// The batch in flight failed: put it back in front, in order, for a retry.
    pub fn retry(&mut self) {
        self.failures = self.failures.saturating_add(1);
        for e in self.in_flight.drain(..).rev() {
            self.queued.push_front(e);
        }
        for at in self.in_flight_at.drain(..).rev() {
            self.queued_at.push_front(at);
        }
        // The drop report goes again, merged with any drops since.
        if let Some((n, first, last)) = self.drops_in_flight.take() {
            self.unreported_drops = Some(match self.unreported_drops {
                Some((m, _, later)) => (n + m, first, later),
                None => (n, first, last),
            });
        }
        let now = self.queued_at.back().copied().unwrap_or(0);
        self.enforce_bound(now);
    }

    /// Milliseconds to wait before the next attempt after `failures` failed sends:
    /// doubling from the flush interval, capped at 10 s.
    pub fn backoff_ms(&self, flush_interval_ms: u64) -> u64 {
        if self.failures == 0 {
            return 0;
        }
        let exp = self.failures.min(16) - 1;
        flush_interval_ms.saturating_mul(1 << exp).min(10_000)
    }
}

/// Cost events a worker collects between ticks, handed to the flusher as one
/// shared-queue item: events joined by `\n` (serialised JSON never contains a raw
/// newline). One item per batch instead of one per request, because every enqueue
/// wakes the flusher's thread.
#[derive(Debug, Default)]
pub struct EventBatch {
    joined: Vec<u8>,
    count: usize,
}

impl EventBatch {
    /// Adds one serialised event; returns how many the batch now holds.
    pub fn push(&mut self, event_json: &[u8]) -> usize {
        if self.count > 0 {
            self.joined.push(b'\n');
        }
        self.joined.extend_from_slice(event_json);
        self.count += 1;
        self.count
    }

    /// Serialises `event` straight into the batch (no buffer of its own per event);
    /// returns how many the batch now holds. On an error the batch is left as it was.
    pub fn push_serialized<T: serde::Serialize>(
        &mut self,
        event: &T,
    ) -> Result<usize, serde_json::Error> {
        let before = self.joined.len();
        if self.count > 0 {
            self.joined.push(b'\n');
        }
        if let Err(e) = serde_json::to_writer(&mut self.joined, event) {
            self.joined.truncate(before);
            return Err(e);
        }
        self.count += 1;
        Ok(self.count)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The queue item for everything collected so far and how many events it holds;
    /// `None` when there is nothing to send. Call [`EventBatch::clear`] once handed over.
    pub fn item(&self) -> Option<(&[u8], usize)> {
        (self.count > 0).then_some((self.joined.as_slice(), self.count))
    }

    /// Empties the batch, keeping its buffer: the next batch grows into the same memory.
    pub fn clear(&mut self) {
        self.joined.clear();
        self.count = 0;
    }
}

/// The events of one queue item made by [`EventBatch`] (empty lines skipped).
pub fn split_event_batch(item: &[u8]) -> impl Iterator<Item = &[u8]> {
    item.split(|&b| b == b'\n').filter(|e| !e.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: u32) -> Vec<u8> {
        format!("{{\"i\":{i}}}").into_bytes()
    }

    #[test]
    fn event_batches_round_trip_through_one_queue_item() {
        let mut batch = EventBatch::default();
        assert!(batch.item().is_none(), "nothing collected, nothing sent");
        let events = [ev(0), br#"{"text":"a\nb"}"#.to_vec(), ev(2)];
        for (i, e) in events.iter().enumerate() {
            assert_eq!(batch.push(e), i + 1);
        }
        let (item, n) = batch.item().map(|(b, n)| (b.to_vec(), n)).unwrap();
        assert_eq!(n, 3);
        batch.clear();
        assert!(batch.is_empty() && batch.item().is_none());
        let back: Vec<&[u8]> = split_event_batch(&item).collect();
        assert_eq!(back, events.iter().map(Vec::as_slice).collect::<Vec<_>>());
        // The flusher's outbox holds the events one by one again.
        let mut o = Outbox::new(100, 10);
        for e in split_event_batch(&item) {
            o.push(e.to_vec());
        }
        assert_eq!(
            o.take_batch().unwrap(),
            br#"[{"i":0},{"text":"a\nb"},{"i":2}]"#
        );
    }

    #[test]
    fn events_serialised_into_the_batch_match_their_own_serialisation() {
        #[derive(serde::Serialize)]
        struct Ev<'a> {
            id: u32,
            text: &'a str,
        }
        let events = [
            Ev {
                id: 1,
                text: "plain",
            },
            Ev {
                id: 2,
                text: "line\nbreak",
            },
        ];
        let mut batch = EventBatch::default();
        for (i, e) in events.iter().enumerate() {
            assert_eq!(batch.push_serialized(e).unwrap(), i + 1);
        }
        let (item, n) = batch.item().unwrap();
        assert_eq!(n, 2);
        let back: Vec<&[u8]> = split_event_batch(item).collect();
        let expected: Vec<Vec<u8>> = events
            .iter()
            .map(|e| serde_json::to_vec(e).unwrap())
            .collect();
        assert_eq!(back, expected.iter().map(Vec::as_slice).collect::<Vec<_>>());
        batch.clear();
        assert!(batch.item().is_none() && batch.is_empty());
        // A cleared batch starts a fresh item.
        batch.push_serialized(&events[0]).unwrap();
        assert_eq!(batch.item().unwrap().0, expected[0].as_slice());
    }

    #[test]
    fn an_event_that_cannot_be_serialised_leaves_the_batch_as_it_was() {
        struct Broken;
        impl serde::Serialize for Broken {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("no"))
            }
        }
        let mut batch = EventBatch::default();
        batch.push(b"{\"i\":0}");
        assert!(batch.push_serialized(&Broken).is_err());
        assert_eq!(batch.item().unwrap(), (&b"{\"i\":0}"[..], 1));
    }

    #[test]
    fn batches_are_json_arrays_of_at_most_max_batch() {
        let mut o = Outbox::new(100, 2);
        for i in 0..3 {
            o.push(ev(i));
        }
        assert_eq!(o.take_batch().unwrap(), b"[{\"i\":0},{\"i\":1}]");
        assert!(o.take_batch().is_none(), "one batch in flight at a time");
        assert_eq!(o.acknowledge(), 2);
        assert_eq!(o.take_batch().unwrap(), b"[{\"i\":2}]");
    }

    #[test]
    fn failed_batches_are_retried_in_order() {
        let mut o = Outbox::new(100, 2);
        for i in 0..3 {
            o.push(ev(i));
        }
        let first = o.take_batch().unwrap();
        o.push(ev(3));
        o.retry();
        assert_eq!(o.take_batch().unwrap(), first);
        assert_eq!(o.backoff_ms(200), 200);
        o.retry();
        assert_eq!(o.backoff_ms(200), 400);
        assert_eq!(o.len(), 4);
    }

    #[test]
    fn memory_is_bounded_and_drops_are_counted() {
        let mut o = Outbox::new(3, 2);
        for i in 0..10 {
            o.push(ev(i));
        }
        assert_eq!(o.len(), 3);
        assert_eq!(o.dropped, 7);
        assert_eq!(o.take_batch().unwrap(), b"[{\"i\":7},{\"i\":8}]");
        // While a batch is in flight, new events still respect the bound.
        o.push(ev(10));
        o.push(ev(11));
        assert_eq!(o.len(), 3);
        o.retry();
        assert_eq!(o.len(), 3);
        assert_eq!(o.dropped, 9);
    }

    #[test]
    fn drops_are_reported_to_the_ledger_once_and_again_if_the_report_fails() {
        let mut o = Outbox::new(2, 10);
        for i in 0..4 {
            o.push_at(ev(i), 100 + i64::from(i));
        }
        assert_eq!(o.oldest_ms(), Some(102));
        let body = o.take_batch_reporting("flusher-1").unwrap();
        let items: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[2]["events_dropped"]["count"], 2);
        assert_eq!(items[2]["events_dropped"]["first_ms"], 102);
        assert_eq!(items[2]["events_dropped"]["last_ms"], 103);
        assert_eq!(items[2]["events_dropped"]["instance"], "flusher-1");
        // The send failed: the events and the report go again.
        o.retry();
        let again: Vec<serde_json::Value> =
            serde_json::from_slice(&o.take_batch_reporting("flusher-1").unwrap()).unwrap();
        assert_eq!(again, items);
        // Acknowledged: nothing more to report.
        o.acknowledge();
        o.push_at(ev(9), 200);
        let next: Vec<serde_json::Value> =
            serde_json::from_slice(&o.take_batch_reporting("flusher-1").unwrap()).unwrap();
        assert_eq!(next.len(), 1);
        assert_eq!(o.oldest_ms(), Some(200));
    }

    #[test]
    fn backoff_is_capped() {
        let mut o = Outbox::new(10, 1);
        o.push(ev(0));
        for _ in 0..40 {
            o.take_batch();
            o.retry();
        }
        assert_eq!(o.backoff_ms(200), 10_000);
    }
}
