//! Envoy's `stats_config`: the labels encoded in the filter's metric names become
//! Prometheus labels.

use serde_json::{json, Value};
use tollgate_core::metric_names::{tag_regex, LABELS};

/// `stats_config` turning the labels encoded in the filter's metric names into tags
/// (Prometheus labels), next to Envoy's default tags.
pub fn stats_config() -> Value {
    let tags: Vec<Value> = LABELS
        .iter()
        .map(|l| json!({"tag_name": l, "regex": tag_regex(l)}))
        .collect();
    json!({"use_all_default_tags": true, "stats_tags": tags})
}
