//! Group commit: batches that arrive while the writer is busy are written together in
//! one transaction (one fsync, and one upsert per rollup row for the whole group).
//!
//! Every sender still gets its own outcome, and only after the transaction holding its
//! batch committed, so an acknowledgement never outruns durability. Nobody waits on
//! purpose: a group is whatever queued up during the previous write, so a lone sender
//! sees no added latency, and under load the groups grow with the queue.
//!
//! There is no writer thread. A caller queues its batch, then takes the writer lock;
//! whoever holds it writes every queued batch (up to [`MAX_GROUP_EVENTS`]), files each
//! outcome under its ticket and lets go. A caller that gets the lock and finds its
//! outcome filed returns it.

use std::collections::HashMap;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Mutex, MutexGuard};

use crate::store::error::StoreError;
use crate::store::types::{IngestBatch, IngestOutcome};

/// At most this many events go into one group transaction (the first batch always
/// goes in, however large). Bounds the transaction's memory and each commit's WAL
/// growth while still amortising commits over a few batches.
pub const MAX_GROUP_EVENTS: usize = 16_384;

/// What a group write hands back for each batch of the group, in order.
pub type Outcomes = Vec<Result<IngestOutcome, StoreError>>;

#[derive(Default)]
struct Queue {
    next_ticket: u64,
    waiting: Vec<(u64, IngestBatch)>,
    done: HashMap<u64, (IngestBatch, Result<IngestOutcome, StoreError>)>,
}

#[derive(Default)]
pub struct GroupCommit {
    queue: Mutex<Queue>,
}

impl GroupCommit {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        // The queue is consistent between statements; a panic elsewhere cannot leave
        // it half-updated.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Batches queued and not yet taken by a writer.
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.queue().waiting.len()
    }

    /// Stores `batch` with whatever else is queued. `lock` takes the writer lock
    /// (serialising writers); `write` stores a group in one transaction and returns one
    /// outcome per batch. The batch comes back with its outcome.
    pub fn submit<G>(
        &self,
        batch: IngestBatch,
        lock: impl Fn() -> G,
        mut write: impl FnMut(&mut G, &[&IngestBatch]) -> Outcomes,
    ) -> (IngestBatch, Result<IngestOutcome, StoreError>) {
        let ticket = {
            let mut q = self.queue();
            let ticket = q.next_ticket;
            q.next_ticket += 1;
            q.waiting.push((ticket, batch));
            ticket
        };
        loop {
            let mut writer = lock();
            let group = {
                let mut q = self.queue();
                if let Some(done) = q.done.remove(&ticket) {
                    return done;
                }
                if !q.waiting.iter().any(|(t, _)| *t == ticket) {
                    // Taken by a writer that panicked: the batch is gone, and so is
                    // its transaction (rolled back). The sender must retry.
                    return (
                        IngestBatch::default(),
                        Err(StoreError::Io(std::io::Error::other(
                            "the ingest of this batch was aborted; send it again",
                        ))),
                    );
                }
                take_group(&mut q.waiting)
            };
            let refs: Vec<&IngestBatch> = group.iter().map(|(_, b)| b).collect();
            let outcomes = catch_unwind(AssertUnwindSafe(|| write(&mut writer, &refs)));
            drop(refs);
            match outcomes {
                Ok(outcomes) => {
                    assert_eq!(outcomes.len(), group.len(), "one outcome per batch");
                    // Filed before the writer lock is released: whoever takes it next
                    // must find them.
                    let mut q = self.queue();
                    for ((t, b), outcome) in group.into_iter().zip(outcomes) {
                        q.done.insert(t, (b, outcome));
                    }
                }
                // The other batches' callers find their ticket gone and answer with an
                // error; this caller's thread keeps the panic.
                Err(panic) => {
                    drop(writer);
                    resume_unwind(panic)
                }
            }
        }
    }
}

/// The oldest waiting batches, up to [`MAX_GROUP_EVENTS`] events (at least one batch).
fn take_group(waiting: &mut Vec<(u64, IngestBatch)>) -> Vec<(u64, IngestBatch)> {
    let mut events = 0;
    let mut n = 0;
    for (_, b) in waiting.iter() {
        let size = b.events.len() + b.rejected.len();
        if n > 0 && events + size > MAX_GROUP_EVENTS {
            break;
        }
        events += size;
        n += 1;
    }
    waiting.drain(..n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::event;
    use std::sync::Arc;

    fn batch(tag: i64, events: usize) -> IngestBatch {
        IngestBatch {
            events: (0..events)
                .map(|i| event(&format!("{tag}-{i}"), 0, "team_a", 1))
                .collect(),
            rejected: Vec::new(),
            received_ms: tag,
            lease_closures: Vec::new(),
            drops: Vec::new(),
            held_back: Vec::new(),
        }
    }

    #[test]
    fn batches_queued_during_a_write_are_written_together_and_each_gets_its_own_outcome() {
        let gc = Arc::new(GroupCommit::default());
        let writer = Arc::new(Mutex::new(Vec::<Vec<i64>>::new()));
        let senders = 6;
        // The first write waits (inside the writer lock) until every other sender has
        // queued its batch; they must then all go into the second group.
        let first_started = Arc::new(std::sync::Barrier::new(senders as usize));
        let threads: Vec<_> = (0..senders)
            .map(|tag| {
                let (gc, writer, first_started) =
                    (gc.clone(), writer.clone(), first_started.clone());
                std::thread::spawn(move || {
                    if tag > 0 {
                        first_started.wait();
                    }
                    let gc2 = gc.clone();
                    gc.submit(
                        batch(tag, tag as usize + 1),
                        || writer.lock().unwrap(),
                        |groups, batches| {
                            if batches[0].received_ms == 0 {
                                first_started.wait();
                                while gc2.waiting() < senders as usize - 1 {
                                    std::thread::yield_now();
                                }
                            }
                            groups.push(batches.iter().map(|b| b.received_ms).collect());
                            batches
                                .iter()
                                .map(|b| {
                                    Ok(IngestOutcome {
                                        accepted: b.events.len(),
                                        duplicates: b.received_ms as usize,
                                    })
                                })
                                .collect()
                        },
                    )
                })
            })
            .collect();
        for (tag, t) in threads.into_iter().enumerate() {
            let (b, outcome) = t.join().unwrap();
            assert_eq!(
                b.received_ms, tag as i64,
                "the sender's own batch comes back"
            );
            assert_eq!(
                outcome.unwrap(),
                IngestOutcome {
                    accepted: tag + 1,
                    duplicates: tag
                }
            );
        }
        let groups = writer.lock().unwrap().clone();
        assert_eq!(groups.len(), 2, "{groups:?}");
        assert_eq!(groups[0], vec![0]);
        let mut second = groups[1].clone();
        second.sort();
        assert_eq!(second, vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_writer_that_panics_fails_its_whole_group_and_the_next_group_is_written() {
        let gc = Arc::new(GroupCommit::default());
        let writer = Arc::new(Mutex::new(()));
        // Hold the writer lock until both batches are queued: they form one group.
        let held = writer.lock().unwrap();
        let senders: Vec<_> = (0..2)
            .map(|tag| {
                let (gc, writer) = (gc.clone(), writer.clone());
                std::thread::spawn(move || {
                    gc.submit(
                        batch(tag, 1),
                        || writer.lock().unwrap_or_else(|p| p.into_inner()),
                        |_, batches| -> Outcomes {
                            assert_eq!(batches.len(), 2);
                            panic!("writer bug");
                        },
                    )
                })
            })
            .collect();
        while gc.waiting() < 2 {
            std::thread::yield_now();
        }
        drop(held);
        let results: Vec<_> = senders.into_iter().map(|t| t.join()).collect();
        // The thread that wrote keeps the panic; the other batch fails with an error.
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
        let (_, outcome) = results.into_iter().find_map(|r| r.ok()).unwrap();
        let e = outcome.unwrap_err().to_string();
        assert!(e.contains("aborted"), "{e}");

        let (back, next) = gc.submit(
            batch(2, 3),
            || writer.lock().unwrap_or_else(|p| p.into_inner()),
            |_, batches| {
                batches
                    .iter()
                    .map(|b| {
                        Ok(IngestOutcome {
                            accepted: b.events.len(),
                            duplicates: 0,
                        })
                    })
                    .collect()
            },
        );
        assert_eq!(back.received_ms, 2);
        assert_eq!(next.unwrap().accepted, 3);
    }

    #[test]
    fn a_group_holds_at_most_max_group_events_but_always_one_batch() {
        let mut waiting: Vec<(u64, IngestBatch)> = vec![
            (0, batch(0, MAX_GROUP_EVENTS + 5)),
            (1, batch(1, 10)),
            (2, batch(2, 10)),
        ];
        let first = take_group(&mut waiting);
        assert_eq!(first.len(), 1, "an oversized batch goes alone");
        waiting.push((3, batch(3, MAX_GROUP_EVENTS - 25)));
        waiting.push((4, batch(4, 10)));
        let second: Vec<u64> = take_group(&mut waiting).iter().map(|(t, _)| *t).collect();
        assert_eq!(second, vec![1, 2, 3], "the oldest batches that fit");
        assert_eq!(waiting.len(), 1);
    }
}
