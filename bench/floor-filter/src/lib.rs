//! Two yardsticks for `make bench`, in one trivial proxy-wasm HTTP filter:
//!
//! - default: one request-header read, one response-header write (what any wasm
//!   filter costs);
//! - plugin configuration `buffer-bodies`: the host calls Tollgate's miss path cannot
//!   avoid, and nothing else: pause both directions until the body is complete, read
//!   both header maps and both bodies, set three request and three response headers.
//!   No parsing, routing, pricing or events: what remains above it is Tollgate's own work.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(FloorRoot { buffer_bodies: false }) });
}}

struct FloorRoot {
    buffer_bodies: bool,
}

impl Context for FloorRoot {}

impl RootContext for FloorRoot {
    fn on_configure(&mut self, _size: usize) -> bool {
        self.buffer_bodies = self.get_plugin_configuration().as_deref() == Some(b"buffer-bodies");
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Floor {
            buffer_bodies: self.buffer_bodies,
            saw_key: false,
            bytes_seen: 0,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Floor {
    buffer_bodies: bool,
    saw_key: bool,
    /// Bytes of both bodies read (kept so the reads are not optimised away).
    bytes_seen: usize,
}

impl Context for Floor {}

impl HttpContext for Floor {
    fn on_http_request_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        if !self.buffer_bodies {
            self.saw_key = self.get_http_request_header("authorization").is_some();
            return Action::Continue;
        }
        let headers = self.get_http_request_headers();
        self.saw_key = headers.iter().any(|(name, _)| name == "authorization");
        if end_of_stream {
            Action::Continue
        } else {
            Action::Pause
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !self.buffer_bodies {
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        self.bytes_seen += self
            .get_http_request_body(0, body_size)
            .map_or(0, |b| b.len());
        for name in ["x-floor-a", "x-floor-b", "x-floor-c"] {
            self.set_http_request_header(name, Some("1"));
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        let saw_key = if self.saw_key { "1" } else { "0" };
        if !self.buffer_bodies {
            self.set_http_response_header("x-floor-saw-key", Some(saw_key));
            return Action::Continue;
        }
        let headers = self.get_http_response_headers();
        self.bytes_seen += headers.len();
        if end_of_stream {
            self.set_http_response_header("x-floor-saw-key", Some(saw_key));
            return Action::Continue;
        }
        Action::Pause
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !self.buffer_bodies {
            return Action::Continue;
        }
        if !end_of_stream {
            return Action::Pause;
        }
        self.bytes_seen += self
            .get_http_response_body(0, body_size)
            .map_or(0, |b| b.len());
        let saw_key = if self.saw_key && self.bytes_seen > 0 {
            "1"
        } else {
            "0"
        };
        self.set_http_response_header("x-floor-saw-key", Some(saw_key));
        self.set_http_response_header("x-floor-b", Some("1"));
        self.set_http_response_header("x-floor-c", Some("1"));
        Action::Continue
    }
}
