//! The root context: parses the plugin configuration and becomes either the HTTP
//! filter's factory or the singleton event flusher, by `root_id`.

use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, MetricType};
use tollgate_core::config::filter_config::FilterConfig;

use crate::flusher::Flusher;
use crate::request_flow::RequestFlow;
use crate::runtime::{Metrics, Runtime};

pub const HTTP_ROOT_ID: &str = "tollgate_http";
pub const FLUSHER_ROOT_ID: &str = "tollgate_flusher";

#[derive(Default)]
pub enum TollgateRoot {
    #[default]
    Unconfigured,
    Http(Rc<Runtime>),
    Flusher(Box<Flusher>),
}

fn counter(name: &str) -> Option<u32> {
    hostcalls::define_metric(MetricType::Counter, name).ok()
}

fn root_id() -> String {
    hostcalls::get_property(vec!["plugin_root_id"])
        .ok()
        .flatten()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default()
}

impl Context for TollgateRoot {
    fn on_done(&mut self) -> bool {
        // A VM being replaced (config reload) or stopped hands over what it collected.
        if let TollgateRoot::Http(rt) = self {
            rt.flush_tick_buffer();
        }
        crate::vm_memory::stop();
        true
    }

    fn on_http_call_response(
        &mut self,
        token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        match self {
            TollgateRoot::Flusher(f) => f.on_ledger_response(token, body_size),
            TollgateRoot::Http(rt) => {
                crate::policy_sync::on_answer(rt, token, body_size);
            }
            TollgateRoot::Unconfigured => {}
        }
    }
}

impl RootContext for TollgateRoot {
    fn on_configure(&mut self, _size: usize) -> bool {
        let raw = match hostcalls::get_buffer(
            proxy_wasm::types::BufferType::PluginConfiguration,
            0,
            usize::MAX,
        ) {
            Ok(Some(bytes)) => bytes,
            _ => {
                log::error!("tollgate: missing plugin configuration");
                return false;
            }
        };
        let config: FilterConfig = match serde_json::from_slice(&raw) {
            Ok(c) => c,
            Err(e) => {
                // Returning false makes Envoy refuse the configuration: fail closed.
                log::error!("tollgate: invalid plugin configuration: {e}");
                return false;
            }
        };
        match root_id().as_str() {
            FLUSHER_ROOT_ID => {
                let flusher = match Flusher::new(&config, |name| std::env::var(name).ok()) {
                    Ok(f) => f,
                    Err(e) => {
                        log::error!("tollgate flusher: {e}");
                        return false;
                    }
                };
                // Half the flush interval here and half in the workers: an event waits
                // at most about one flush interval before it is on its way to the ledger
                // (the window a crash of Envoy can lose).
                let _ = hostcalls::set_tick_period(Duration::from_millis(u64::from(
                    (config.events.flush_interval_ms / 2).max(5),
                )));
                *self = TollgateRoot::Flusher(Box::new(flusher));
                true
            }
            HTTP_ROOT_ID | "" => {
                let metrics = Metrics {
                    // Not `tollgate.requests`: that would share its Prometheus name with the
                    // labelled `tollgate_requests` family.
                    requests: counter("tollgate.requests_received"),
                    unauthorized: counter("tollgate.unauthorized"),
                    local_errors: counter("tollgate.local_errors"),
                    events_enqueued: counter("tollgate.events_enqueued"),
                    events_unqueued: counter("tollgate.events_unqueued"),
                    leases_opened: counter("tollgate.leases_opened"),
                    leases_closed: counter("tollgate.leases_closed"),
                };
                let cache_metrics = crate::response_cache::CacheMetrics {
                    hits: counter("tollgate.cache_hits"),
                    misses: counter("tollgate.cache_misses"),
                    stores: counter("tollgate.cache_stores"),
                    evictions: counter("tollgate.cache_evictions"),
                    bytes: hostcalls::define_metric(MetricType::Gauge, "tollgate.cache_bytes").ok(),
                };
                match Runtime::new(
                    config,
                    crate::wallet::instance_id(|| crate::ids::new_request_id(0)),
                    |name| std::env::var(name).ok(),
                    metrics,
                    cache_metrics,
                ) {
                    Ok(rt) => {
                        for env in rt.missing_credentials() {
                            log::warn!("tollgate: provider credential ${env} is not set in Envoy's environment");
                        }
                        // Each worker hands its collected events and counters over per tick,
                        // every half flush interval (the flusher sends on the other half).
                        let _ = hostcalls::set_tick_period(Duration::from_millis(u64::from(
                            (rt.config.events.flush_interval_ms / 2).clamp(10, 1000),
                        )));
                        *self = TollgateRoot::Http(Rc::new(rt));
                        true
                    }
                    Err(e) => {
                        log::error!("tollgate: {e}");
                        false
                    }
                }
            }
            other => {
                log::error!("tollgate: unknown root_id '{other}' (expected {HTTP_ROOT_ID} or {FLUSHER_ROOT_ID})");
                false
            }
        }
    }

    fn on_tick(&mut self) {
        crate::vm_memory::report();
        match self {
            TollgateRoot::Flusher(f) => f.on_tick(),
            TollgateRoot::Http(rt) => {
                rt.flush_tick_buffer();
                // Keeps the leaders' runtime policy current.
                if rt.config.cost_tracking_enabled {
                    crate::policy_sync::tick(rt, crate::host::now_ms());
                }
            }
            TollgateRoot::Unconfigured => {}
        }
    }

    fn on_queue_ready(&mut self, _queue_id: u32) {
        if let TollgateRoot::Flusher(f) = self {
            f.drain_queue();
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        match self {
            TollgateRoot::Http(rt) => Some(Box::new(RequestFlow::new(rt.clone()))),
            _ => None,
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
