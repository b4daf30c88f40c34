//! Tollgate's pure core, shared by the Envoy filter (compiled to `wasm32-wasip1`) and
//! the ledger (native). Nothing here calls a host: every function takes values and
//! returns values, so all of it is unit-tested natively and under wasm32.

pub mod accounting;
pub mod aws;
pub mod azure;
pub mod budget;
pub mod cache;
pub mod config;
pub mod count_precheck;
pub mod digits;
pub mod endpoint;
pub mod event;
pub mod headers;
pub mod json_scan;
pub mod keys;
pub mod lane_stream;
pub mod lanes;
pub mod lease;
pub mod metric_names;
pub mod models;
pub mod money;
pub mod other_endpoints;
pub mod outbox;
pub mod policy;
pub mod pricing;
pub mod refusal;
pub mod request;
pub mod response_stream;
pub mod routing;
pub mod sse;
pub mod stream_filter;
pub mod token_estimate;
pub mod translate;
pub mod usage;
pub mod websocket;
