//! Labelled counters (see `tollgate_core::metric_names`): each label combination is a metric
//! of its own, defined on first use and its id kept for the life of the plugin.
//!
//! Definition goes through the raw host import: the SDK's `define_metric` panics on an
//! unexpected status, and a panic kills the VM. A counter that cannot be defined is
//! simply not counted.

use std::cell::RefCell;
use std::collections::HashMap;

use proxy_wasm::types::{MetricType, Status};

use crate::host;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_define_metric(
        metric_type: MetricType,
        name_data: *const u8,
        name_size: usize,
        return_metric_id: *mut u32,
    ) -> Status;
}

/// Most label combinations one plugin defines. Labels come from the configuration
/// (teams, lanes) and fixed lists (outcomes, reasons), so real use stays far below;
/// the ceiling only guards Envoy's stat memory against a surprise.
const MAX_SERIES: usize = 4096;

fn define_counter(name: &str) -> Option<u32> {
    let mut id = 0u32;
    // SAFETY: pointer and length come from a live &str; `id` outlives the call.
    match unsafe { proxy_define_metric(MetricType::Counter, name.as_ptr(), name.len(), &mut id) } {
        Status::Ok => Some(id),
        _ => None,
    }
}

#[derive(Default)]
pub struct LabelledCounters {
    ids: RefCell<HashMap<String, Option<u32>>>,
}

impl LabelledCounters {
    /// Adds `by` to the counter with this full stat name (`tollgate_core::metric_names::stat_name`).
    pub fn add_named(&self, name: String, by: i64) {
        if by <= 0 {
            return;
        }
        let id = {
            let Ok(mut ids) = self.ids.try_borrow_mut() else {
                return;
            };
            match ids.get(&name) {
                Some(id) => *id,
                None if ids.len() >= MAX_SERIES => None,
                None => {
                    let id = define_counter(&name);
                    ids.insert(name, id);
                    id
                }
            }
        };
        host::count(id, by);
    }
}
