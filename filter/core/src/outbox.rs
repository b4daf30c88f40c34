//! Events waiting to reach the ledger: a bounded buffer with at most one batch in
//! flight. While the ledger is unreachable events wait here and are retried; when the
//! buffer is full the oldest are dropped and counted (memory stays bounded).

use std::collections::VecDeque;

#[derive(Debug)]
pub struct Outbox {
    queued: VecDeque<Vec<u8>>,
    in_flight: Vec<Vec<u8>>,
    max_buffered: usize,
    max_batch: usize,
    /// Events dropped because the buffer was full.
    pub dropped: u64,
    /// Consecutive failed sends, for backoff.
    pub failures: u32,
}

impl Outbox {
    pub fn new(max_buffered: usize, max_batch: usize) -> Self {
        Outbox {
            queued: VecDeque::new(),
            in_flight: Vec::new(),
            max_buffered: max_buffered.max(1),
            max_batch: max_batch.max(1),
            dropped: 0,
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
        self.queued.push_back(event_json);
        self.enforce_bound();
    }

    fn enforce_bound(&mut self) {
        while self.len() > self.max_buffered && !self.queued.is_empty() {
            self.queued.pop_front();
            self.dropped += 1;
        }
    }

    /// Takes the next batch as a JSON array body, or `None` if a batch is already in
    /// flight or nothing is queued.
    pub fn take_batch(&mut self) -> Option<Vec<u8>> {
        if self.has_batch_in_flight() || self.queued.is_empty() {
            return None;
        }
        let n = self.queued.len().min(self.max_batch);
        self.in_flight.extend(self.queued.drain(..n));
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
        n
    }

    /// The batch in flight failed: put it back in front, in order, for a retry.
    pub fn retry(&mut self) {
        self.failures = self.failures.saturating_add(1);
        for e in self.in_flight.drain(..).rev() {
            self.queued.push_front(e);
        }
        self.enforce_bound();
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
