//! Tollgate's Envoy filter: a thin proxy-wasm shell around `tollgate-core`.
//!
//! One module, two roles chosen by the plugin's `root_id`:
//! * `tollgate_http` — the HTTP filter: attribute, route, account each request.
//! * `tollgate_flusher` — a singleton service VM that drains the cost-event queue and
//!   sends batches to the ledger.
//!
//! Everything here is host glue; decisions live in the core crate.

#[cfg(target_arch = "wasm32")]
mod flusher;
#[cfg(target_arch = "wasm32")]
mod host;
#[cfg(target_arch = "wasm32")]
mod ids;
#[cfg(target_arch = "wasm32")]
mod lane_health;
#[cfg(target_arch = "wasm32")]
mod metrics;
#[cfg(target_arch = "wasm32")]
mod request_flow;
#[cfg(target_arch = "wasm32")]
mod response_cache;
#[cfg(target_arch = "wasm32")]
mod root;
#[cfg(target_arch = "wasm32")]
mod runtime;
#[cfg(target_arch = "wasm32")]
mod tick_buffer;
#[cfg(target_arch = "wasm32")]
mod vm_memory;
#[cfg(target_arch = "wasm32")]
mod wallet;

#[cfg(target_arch = "wasm32")]
proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> {
        Box::new(root::TollgateRoot::default())
    });
}}
