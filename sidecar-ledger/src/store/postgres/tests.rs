//! The PostgreSQL store's own tests. What both backends must do alike is in
//! `store::conformance`.

use super::*;
use std::str::FromStr;

use super::db::describe;
use super::events::batch_positions;
use crate::test_util::event;

#[test]
fn batch_positions_skip_the_quarantined_and_held_back_indices() {
    let batch = IngestBatch {
        events: vec![
            event("a", 0, "t", 0),
            event("b", 0, "t", 0),
            event("c", 0, "t", 0),
        ],
        rejected: [0, 2, 3, 6]
            .map(|index| RejectedEvent {
                index,
                raw: String::new(),
                error: String::new(),
            })
            .into(),
        received_ms: 0,
        lease_closures: Vec::new(),
        drops: Vec::new(),
        held_back: Vec::new(),
    };
    assert_eq!(batch_positions(&batch), vec![1, 4, 5]);
    let plain = IngestBatch {
        events: batch.events.clone(),
        ..Default::default()
    };
    assert_eq!(batch_positions(&plain), vec![0, 1, 2]);
    // Events the configuration checks held back are skipped too.
    let checked = IngestBatch {
        events: batch.events.clone(),
        held_back: vec![1, 4],
        ..Default::default()
    };
    assert_eq!(batch_positions(&checked), vec![0, 2, 3]);
}

#[test]
fn the_location_names_no_password() {
    let config = postgres::Config::from_str("postgres://u:secret@127.0.0.1:5433/ledger").unwrap();
    assert_eq!(describe(&config), "postgres://u@127.0.0.1:5433/ledger");
}
