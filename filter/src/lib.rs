//! Tollgate's Envoy filter: a thin proxy-wasm shell around `tollgate-core`.
//!
//! One module, two roles chosen by the plugin's `root_id`:
//! * `tollgate_http` — the HTTP filter: attribute, route, account each request.
//! * `tollgate_flusher` — a singleton service VM that drains the cost-event queue and
//!   sends batches to the ledger.
//!
//! Everything here is host glue; decisions live in the core crate. The shell also
//! builds natively, where its tests run the whole plugin on a fake host (`fake_host`).

// Natively nothing calls the plugin's entry points (Envoy does, in the wasm build), so
// everything they reach would be reported as unused.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

// With the fake host (benchmarks compiled to wasm), the benchmark sets the allocator: the
// same one, counting.
#[cfg(all(
    not(target_feature = "atomics"),
    target_family = "wasm",
    not(feature = "fake-host")
))]
#[global_allocator]
static ALLOCATOR: allocator::WasmHeap = allocator::wasm_heap();

pub mod allocator;
#[cfg(any(test, feature = "fake-host"))]
pub mod fake_host;
mod flusher;
mod host;
mod ids;
mod lane_health;
mod ledger_auth;
mod metrics;
mod policy_sync;
mod request_flow;
mod response_cache;
mod root;
mod runtime;
#[cfg(any(test, feature = "fake-host"))]
pub mod test_plugin;
mod tick_buffer;
mod vm_memory;
mod wallet;

#[cfg(target_arch = "wasm32")]
proxy_wasm::main! {{
    proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> {
        Box::new(root::TollgateRoot::default())
    });
}}
