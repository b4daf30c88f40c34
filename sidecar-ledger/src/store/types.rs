//! The plain data every backend reads and writes: ingest batches and their outcomes,
//! quarantined events, additive sums and spend rows.

use tollgate_core::event::CostEvent;
use tollgate_core::lease::LeaseClosed;
use tollgate_core::outbox::EventsDropped;

/// An event that could not be used, kept verbatim so nothing a sender delivered is
/// silently lost and an operator can replay it after a fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedEvent {
    /// Position in the batch the sender posted.
    pub index: usize,
    /// The event's JSON text exactly as received.
    pub raw: String,
    pub error: String,
}

/// A quarantined event as stored, with when it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRejection {
    pub received_ms: i64,
    pub event: RejectedEvent,
}

/// One posted batch, already split into usable events and quarantined ones. The
/// store persists both in one transaction.
#[derive(Debug, Default)]
pub struct IngestBatch {
    pub events: Vec<CostEvent>,
    pub rejected: Vec<RejectedEvent>,
    /// When the ledger received the batch (Unix ms), for audit.
    pub received_ms: i64,
    /// Leases their instances closed, reported behind those leases' events: applied
    /// after the events, in the same transaction.
    pub lease_closures: Vec<LeaseClosed>,
    /// Reports of events an Envoy had to drop.
    pub drops: Vec<EventsDropped>,
    /// Positions in the posted batch of valid events the configuration checks held
    /// back (stored apart, see `Store::quarantine`), so the position of every event
    /// in `events` can be recovered.
    pub held_back: Vec<usize>,
}

/// What an ingest did. `accepted + duplicates == events.len()`, except on PostgreSQL
/// for events it cannot store (text with U+0000): those join the quarantine
/// (`rejected_events`) and count as neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestOutcome {
    /// Events stored for the first time.
    pub accepted: usize,
    /// Events whose id was already stored (a retried batch); ignored.
    pub duplicates: usize,
}

/// Additive totals of a set of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sums {
    pub requests: i64,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_write_tokens: i64,
    pub output_tokens: i64,
    pub cost_nanos: i64,
    pub cost_avoided_nanos: i64,
}

impl Sums {
    /// Adds `other`; `None` on i64 overflow (never expected with validated events, but
    /// a wrong total must not be returned silently).
    pub fn checked_add(&self, other: &Sums) -> Option<Sums> {
        Some(Sums {
            requests: self.requests.checked_add(other.requests)?,
            input_tokens: self.input_tokens.checked_add(other.input_tokens)?,
            cached_input_tokens: self
                .cached_input_tokens
                .checked_add(other.cached_input_tokens)?,
            cache_write_tokens: self
                .cache_write_tokens
                .checked_add(other.cache_write_tokens)?,
            output_tokens: self.output_tokens.checked_add(other.output_tokens)?,
            cost_nanos: self.cost_nanos.checked_add(other.cost_nanos)?,
            cost_avoided_nanos: self
                .cost_avoided_nanos
                .checked_add(other.cost_avoided_nanos)?,
        })
    }
}

/// The value of one group-by dimension in a spend row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyValue {
    /// A text dimension; `None` when the events did not carry it (e.g. no user).
    Text(Option<String>),
    /// A time bucket (`hour`, `day`): its start, Unix ms UTC.
    TimeMs(i64),
}

/// One group of a spend report; `key` follows the query's `group_by` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendRow {
    pub key: Vec<KeyValue>,
    pub sums: Sums,
}

/// Events an Envoy's flusher dropped while the ledger could not be reached, as it
/// reported them: the spend shown is short by these requests.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryGap {
    pub instance: String,
    pub dropped: i64,
    pub first_ms: i64,
    pub last_ms: i64,
    /// When the ledger heard of it.
    pub received_ms: i64,
}

/// The organisation's reporting time zone as stored: the zone the daily rollups'
/// days are in (see [`crate::calendar`]), and who set it when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReportingZone {
    pub time_zone: String,
    /// 0 for the default every store starts with.
    pub changed_ms: i64,
    pub changed_by: String,
}

/// What setting a reporting time zone did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ZoneChange {
    pub previous: String,
    pub time_zone: String,
    /// Events whose days were recomputed (0 when the zone did not change).
    pub events: i64,
}

/// Refused requests read from the events (each refusal is an event with outcome
/// `refused` and a reason such as `wallet_exhausted`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalQuery {
    pub from_ms: i64,
    pub to_ms: i64,
    /// `None`: every team.
    pub team: Option<String>,
}

/// Refusals of one reporting-calendar day, team and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalRow {
    /// The day's label (see [`crate::calendar`]).
    pub day_ms: i64,
    pub team: String,
    /// '' when the event carried none.
    pub reason: String,
    pub count: i64,
}
