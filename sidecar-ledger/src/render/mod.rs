//! `tollgate-ledger render-envoy`: the Envoy bootstrap for a Tollgate config
//! ([`bootstrap`]), and the operator options applied to it ([`options`]: Prometheus
//! stats tags, a metrics-only listener, hot reload through watched xDS files).

mod bootstrap;
mod hot_reload;
mod metrics_listener;
mod options;
mod stats_tags;

pub use bootstrap::{render_envoy_command, RenderArgs};
