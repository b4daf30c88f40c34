//! A proxy-wasm host in the test binary, so the shell's request lifecycle runs natively
//! under `cargo test`.
//!
//! The SDK and [`crate::host`] call the host through `extern "C"` imports (`proxy_*`).
//! In a wasm build Envoy provides them; natively, this module defines the ones the shell
//! uses, over one thread-local [`FakeHost`] (each test runs on its own thread, so tests
//! do not share it). Only host *behaviour* is faked: what the shell asked for (headers
//! changed, bodies replaced, local replies, queued events, HTTP calls) is recorded as
//! Envoy would apply it, and tests assert on that record.

#![allow(clippy::missing_safety_doc)]

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use proxy_wasm::types::{BufferType, LogLevel, MapType, MetricType, Status, StreamType};
use tollgate_core::headers::{self, Pairs};

/// A reply the filter sent itself (`send_http_response`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u32,
    pub headers: Pairs,
    pub body: Vec<u8>,
}

/// An HTTP call the filter dispatched (a lease request, a fallback attempt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    pub token: u32,
    pub upstream: String,
    pub headers: Pairs,
    pub body: Vec<u8>,
    pub timeout_ms: u32,
}

/// Everything the host knows: the current stream's headers and bodies, shared data and
/// queues, metrics, and what the filter did.
#[derive(Debug, Default)]
pub struct FakeHost {
    pub now_ns: u64,
    pub request_headers: Pairs,
    pub request_body: Vec<u8>,
    pub response_headers: Pairs,
    pub response_body: Vec<u8>,
    pub call_response_headers: Pairs,
    pub call_response_body: Vec<u8>,
    /// The plugin's `configuration` (a JSON `StringValue` in Envoy).
    pub plugin_configuration: Vec<u8>,
    pub local_reply: Option<LocalReply>,
    pub http_calls: Vec<HttpCall>,
    pub shared_data: HashMap<String, (Vec<u8>, u32)>,
    pub queues: HashMap<u32, VecDeque<Vec<u8>>>,
    queue_names: HashMap<String, u32>,
    pub metrics: Vec<(String, u64)>,
    pub properties: HashMap<String, Vec<u8>>,
    pub resumed: Vec<StreamType>,
    pub logs: Vec<String>,
    /// Every host function the filter called, by name, in order.
    pub calls: Vec<&'static str>,
}

thread_local! {
    static HOST: RefCell<FakeHost> = RefCell::new(FakeHost::default());
}

/// Resets the host for a new test.
pub fn reset() {
    HOST.with(|h| *h.borrow_mut() = FakeHost::default());
}

/// Runs `f` on the host (to arrange a request or read what the filter did).
pub fn with<T>(f: impl FnOnce(&mut FakeHost) -> T) -> T {
    HOST.with(|h| f(&mut h.borrow_mut()))
}

impl FakeHost {
    fn map(&mut self, map: MapType) -> Option<&mut Pairs> {
        match map {
            MapType::HttpRequestHeaders => Some(&mut self.request_headers),
            MapType::HttpResponseHeaders => Some(&mut self.response_headers),
            MapType::HttpCallResponseHeaders => Some(&mut self.call_response_headers),
            _ => None,
        }
    }

    fn buffer(&mut self, buffer: BufferType) -> Option<&mut Vec<u8>> {
        match buffer {
            BufferType::HttpRequestBody => Some(&mut self.request_body),
            BufferType::HttpResponseBody => Some(&mut self.response_body),
            BufferType::HttpCallResponseBody => Some(&mut self.call_response_body),
            BufferType::PluginConfiguration => Some(&mut self.plugin_configuration),
            _ => None,
        }
    }

    /// The value of a header the filter left in `map` (lower-case name).
    pub fn header(&mut self, map: MapType, name: &str) -> Option<String> {
        let pairs = self.map(map)?;
        headers::find(pairs, name).map(str::to_string)
    }

    /// Items waiting on the queue named `name`.
    pub fn queued(&self, name: &str) -> Vec<Vec<u8>> {
        self.queue_names
            .get(name)
            .and_then(|id| self.queues.get(id))
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }
}

fn called(name: &'static str) {
    with(|h| h.calls.push(name));
}

fn text(data: *const u8, size: usize) -> String {
    String::from_utf8_lossy(bytes(data, size)).into_owned()
}

fn bytes<'a>(data: *const u8, size: usize) -> &'a [u8] {
    if data.is_null() || size == 0 {
        return &[];
    }
    // SAFETY: the caller (the SDK or crate::host) passes a live buffer of `size` bytes.
    unsafe { std::slice::from_raw_parts(data, size) }
}

/// Hands `value` to the caller as the host would: a buffer the caller then owns and
/// frees as a `Vec` of exactly that length.
unsafe fn give(value: Vec<u8>, data: *mut *mut u8, size: *mut usize) {
    let boxed = value.into_boxed_slice();
    let len = boxed.len();
    *size = len;
    *data = if len == 0 {
        std::ptr::null_mut()
    } else {
        Box::into_raw(boxed) as *mut u8
    };
}

#[no_mangle]
pub extern "C" fn proxy_log(_level: LogLevel, data: *const u8, size: usize) -> Status {
    called("proxy_log");
    let line = text(data, size);
    with(|h| h.logs.push(line));
    Status::Ok
}

#[no_mangle]
pub unsafe extern "C" fn proxy_get_log_level(level: *mut LogLevel) -> Status {
    called("proxy_get_log_level");
    *level = LogLevel::Info;
    Status::Ok
}

#[no_mangle]
pub unsafe extern "C" fn proxy_get_current_time_nanoseconds(time: *mut u64) -> Status {
    called("proxy_get_current_time_nanoseconds");
    *time = with(|h| h.now_ns);
    Status::Ok
}

#[no_mangle]
pub extern "C" fn proxy_set_tick_period_milliseconds(_period: u32) -> Status {
    called("proxy_set_tick_period_milliseconds");
    Status::Ok
}

#[no_mangle]
pub unsafe extern "C" fn proxy_get_buffer_bytes(
    buffer: BufferType,
    start: usize,
    max_size: usize,
    data: *mut *mut u8,
    size: *mut usize,
) -> Status {
    called("proxy_get_buffer_bytes");
    let got = with(|h| {
        h.buffer(buffer).map(|b| {
            let start = start.min(b.len());
            let end = start.saturating_add(max_size).min(b.len());
            b[start..end].to_vec()
        })
    });
    match got {
        Some(v) => {
            give(v, data, size);
            Status::Ok
        }
        None => Status::NotFound,
    }
}

#[no_mangle]
pub extern "C" fn proxy_set_buffer_bytes(
    buffer: BufferType,
    start: usize,
    size: usize,
    data: *const u8,
    data_size: usize,
) -> Status {
    called("proxy_set_buffer_bytes");
    let new = bytes(data, data_size).to_vec();
    with(|h| match h.buffer(buffer) {
        Some(b) => {
            let start = start.min(b.len());
            let end = start.saturating_add(size).min(b.len());
            b.splice(start..end, new);
            Status::Ok
        }
        None => Status::NotFound,
    })
}

#[no_mangle]
pub unsafe extern "C" fn proxy_get_header_map_pairs(
    map: MapType,
    data: *mut *mut u8,
    size: *mut usize,
) -> Status {
    called("proxy_get_header_map_pairs");
    match with(|h| h.map(map).map(|p| headers::encode(p))) {
        Some(encoded) => {
            give(encoded, data, size);
            Status::Ok
        }
        None => Status::NotFound,
    }
}

#[no_mangle]
pub unsafe extern "C" fn proxy_get_header_map_value(
    map: MapType,
    key: *const u8,
    key_size: usize,
    data: *mut *mut u8,
    size: *mut usize,
) -> Status {
    called("proxy_get_header_map_value");
    let name = text(key, key_size);
    match with(|h| h.header(map, &name)) {
        Some(v) => {
            give(v.into_bytes(), data, size);
            Status::Ok
        }
        None => Status::NotFound,
    }
}

#[no_mangle]
pub extern "C" fn proxy_remove_header_map_value(
    map: MapType,
    key: *const u8,
    key_size: usize,
) -> Status {
    called("proxy_remove_header_map_value");
    let name = text(key, key_size).to_ascii_lowercase();
    with(|h| match h.map(map) {
        Some(p) => {
            p.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
            Status::Ok
        }
        None => Status::NotFound,
    })
}

#[no_mangle]
pub extern "C" fn proxy_replace_header_map_value(
    map: MapType,
    key: *const u8,
    key_size: usize,
    value: *const u8,
    value_size: usize,
) -> Status {
    called("proxy_replace_header_map_value");
    let (name, value) = (
        text(key, key_size).to_ascii_lowercase(),
        text(value, value_size),
    );
    with(|h| match h.map(map) {
        Some(p) => {
            p.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
            p.push((name, value));
            Status::Ok
        }
        None => Status::NotFound,
    })
}

#[no_mangle]
pub extern "C" fn proxy_add_header_map_value(
    map: MapType,
    key: *const u8,
    key_size: usize,
    value: *const u8,
    value_size: usize,
) -> Status {
    called("proxy_add_header_map_value");
    let (name, value) = (
        text(key, key_size).to_ascii_lowercase(),
        text(value, value_size),
    );
    with(|h| match h.map(map) {
        Some(p) => {
            p.push((name, value));
            Status::Ok
        }
        None => Status::NotFound,
    })
}

#[no_mangle]
pub unsafe extern "C" fn proxy_get_property(
    path: *const u8,
    path_size: usize,
    data: *mut *mut u8,
    size: *mut usize,
) -> Status {
    called("proxy_get_property");
    // The SDK joins the path's parts with NUL; tests key properties by "a.b.c".
    let key = text(path, path_size).replace('\0', ".");
    match with(|h| h.properties.get(&key).cloned()) {
        Some(v) => {
            give(v, data, size);
            Status::Ok
        }
        None => Status::NotFound,
    }
}

#[no_mangle]
pub unsafe extern "C" fn proxy_get_shared_data(
    key: *const u8,
    key_size: usize,
    data: *mut *mut u8,
    size: *mut usize,
    cas: *mut u32,
) -> Status {
    called("proxy_get_shared_data");
    let key = text(key, key_size);
    match with(|h| h.shared_data.get(&key).cloned()) {
        Some((value, version)) => {
            give(value, data, size);
            *cas = version;
            Status::Ok
        }
        None => Status::NotFound,
    }
}

#[no_mangle]
pub extern "C" fn proxy_set_shared_data(
    key: *const u8,
    key_size: usize,
    value: *const u8,
    value_size: usize,
    cas: u32,
) -> Status {
    called("proxy_set_shared_data");
    let (key, value) = (text(key, key_size), bytes(value, value_size).to_vec());
    with(|h| {
        let current = h.shared_data.get(&key).map_or(0, |(_, v)| *v);
        if cas != 0 && cas != current {
            return Status::CasMismatch;
        }
        h.shared_data.insert(key, (value, current + 1));
        Status::Ok
    })
}

/// One host, one VM id space: a queue is known by its name.
fn queue_id(h: &mut FakeHost, _vm_id: &str, name: &str) -> u32 {
    let next = h.queue_names.len() as u32 + 1;
    *h.queue_names.entry(name.to_string()).or_insert(next)
}

#[no_mangle]
pub unsafe extern "C" fn proxy_register_shared_queue(
    name: *const u8,
    name_size: usize,
    id: *mut u32,
) -> Status {
    called("proxy_register_shared_queue");
    let name = text(name, name_size);
    *id = with(|h| queue_id(h, "", &name));
    Status::Ok
}

#[no_mangle]
pub unsafe extern "C" fn proxy_resolve_shared_queue(
    vm_id: *const u8,
    vm_id_size: usize,
    name: *const u8,
    name_size: usize,
    id: *mut u32,
) -> Status {
    called("proxy_resolve_shared_queue");
    let (vm_id, name) = (text(vm_id, vm_id_size), text(name, name_size));
    *id = with(|h| queue_id(h, &vm_id, &name));
    Status::Ok
}

#[no_mangle]
pub unsafe extern "C" fn proxy_dequeue_shared_queue(
    queue: u32,
    data: *mut *mut u8,
    size: *mut usize,
) -> Status {
    called("proxy_dequeue_shared_queue");
    match with(|h| h.queues.get_mut(&queue).and_then(VecDeque::pop_front)) {
        Some(v) => {
            give(v, data, size);
            Status::Ok
        }
        None => Status::Empty,
    }
}

#[no_mangle]
pub extern "C" fn proxy_enqueue_shared_queue(queue: u32, data: *const u8, size: usize) -> Status {
    called("proxy_enqueue_shared_queue");
    let item = bytes(data, size).to_vec();
    with(|h| h.queues.entry(queue).or_default().push_back(item));
    Status::Ok
}

#[no_mangle]
pub extern "C" fn proxy_continue_stream(stream: StreamType) -> Status {
    called("proxy_continue_stream");
    with(|h| h.resumed.push(stream));
    Status::Ok
}

#[no_mangle]
pub extern "C" fn proxy_send_local_response(
    status: u32,
    _details: *const u8,
    _details_size: usize,
    body: *const u8,
    body_size: usize,
    headers_data: *const u8,
    headers_size: usize,
    _grpc_status: i32,
) -> Status {
    called("proxy_send_local_response");
    let reply = LocalReply {
        status,
        headers: headers::decode(bytes(headers_data, headers_size)),
        body: bytes(body, body_size).to_vec(),
    };
    with(|h| h.local_reply = Some(reply));
    Status::Ok
}

#[no_mangle]
pub unsafe extern "C" fn proxy_http_call(
    upstream: *const u8,
    upstream_size: usize,
    headers_data: *const u8,
    headers_size: usize,
    body: *const u8,
    body_size: usize,
    _trailers: *const u8,
    _trailers_size: usize,
    timeout: u32,
    token: *mut u32,
) -> Status {
    called("proxy_http_call");
    let call = HttpCall {
        token: 0,
        upstream: text(upstream, upstream_size),
        headers: headers::decode(bytes(headers_data, headers_size)),
        body: bytes(body, body_size).to_vec(),
        timeout_ms: timeout,
    };
    *token = with(|h| {
        let token = h.http_calls.len() as u32 + 1;
        h.http_calls.push(HttpCall { token, ..call });
        token
    });
    Status::Ok
}

#[no_mangle]
pub unsafe extern "C" fn proxy_call_foreign_function(
    _name: *const u8,
    _name_size: usize,
    _args: *const u8,
    _args_size: usize,
    data: *mut *mut u8,
    size: *mut usize,
) -> Status {
    called("proxy_call_foreign_function");
    give(Vec::new(), data, size);
    Status::Ok
}

#[no_mangle]
pub extern "C" fn proxy_set_effective_context(_context_id: u32) -> Status {
    called("proxy_set_effective_context");
    Status::Ok
}

#[no_mangle]
pub extern "C" fn proxy_done() -> Status {
    called("proxy_done");
    Status::Ok
}

#[no_mangle]
pub unsafe extern "C" fn proxy_define_metric(
    _kind: MetricType,
    name: *const u8,
    name_size: usize,
    id: *mut u32,
) -> Status {
    called("proxy_define_metric");
    let name = text(name, name_size);
    *id = with(|h| match h.metrics.iter().position(|(n, _)| *n == name) {
        Some(i) => i as u32,
        None => {
            h.metrics.push((name, 0));
            h.metrics.len() as u32 - 1
        }
    });
    Status::Ok
}

#[no_mangle]
pub unsafe extern "C" fn proxy_get_metric(id: u32, value: *mut u64) -> Status {
    called("proxy_get_metric");
    match with(|h| h.metrics.get(id as usize).map(|m| m.1)) {
        Some(v) => {
            *value = v;
            Status::Ok
        }
        None => Status::NotFound,
    }
}

#[no_mangle]
pub extern "C" fn proxy_record_metric(id: u32, value: u64) -> Status {
    called("proxy_record_metric");
    with(|h| match h.metrics.get_mut(id as usize) {
        Some(m) => {
            m.1 = value;
            Status::Ok
        }
        None => Status::NotFound,
    })
}

#[no_mangle]
pub extern "C" fn proxy_increment_metric(id: u32, offset: i64) -> Status {
    called("proxy_increment_metric");
    with(|h| match h.metrics.get_mut(id as usize) {
        Some(m) => {
            m.1 = m.1.saturating_add_signed(offset);
            Status::Ok
        }
        None => Status::NotFound,
    })
}

// Imports the shell never calls (gRPC, whole-map writes, properties, stream closing):
// present so the SDK's trait objects link, and failing loudly if one is ever reached.

#[no_mangle]
pub extern "C" fn proxy_set_property(_: *const u8, _: usize, _: *const u8, _: usize) -> Status {
    called("proxy_set_property");
    unreachable_host_call("proxy_set_property")
}

#[no_mangle]
pub extern "C" fn proxy_set_header_map_pairs(_: MapType, _: *const u8, _: usize) -> Status {
    called("proxy_set_header_map_pairs");
    unreachable_host_call("proxy_set_header_map_pairs")
}

#[no_mangle]
pub extern "C" fn proxy_get_status(_: *mut u32, _: *mut *mut u8, _: *mut usize) -> Status {
    called("proxy_get_status");
    unreachable_host_call("proxy_get_status")
}

#[no_mangle]
pub extern "C" fn proxy_close_stream(_: StreamType) -> Status {
    called("proxy_close_stream");
    unreachable_host_call("proxy_close_stream")
}

#[no_mangle]
pub extern "C" fn proxy_grpc_call(
    _: *const u8,
    _: usize,
    _: *const u8,
    _: usize,
    _: *const u8,
    _: usize,
    _: *const u8,
    _: usize,
    _: *const u8,
    _: usize,
    _: u32,
    _: *mut u32,
) -> Status {
    called("proxy_grpc_call");
    unreachable_host_call("proxy_grpc_call")
}

#[no_mangle]
pub extern "C" fn proxy_grpc_stream(
    _: *const u8,
    _: usize,
    _: *const u8,
    _: usize,
    _: *const u8,
    _: usize,
    _: *const u8,
    _: usize,
    _: *mut u32,
) -> Status {
    called("proxy_grpc_stream");
    unreachable_host_call("proxy_grpc_stream")
}

#[no_mangle]
pub extern "C" fn proxy_grpc_send(_: u32, _: *const u8, _: usize, _: bool) -> Status {
    called("proxy_grpc_send");
    unreachable_host_call("proxy_grpc_send")
}

#[no_mangle]
pub extern "C" fn proxy_grpc_cancel(_: u32) -> Status {
    called("proxy_grpc_cancel");
    unreachable_host_call("proxy_grpc_cancel")
}

#[no_mangle]
pub extern "C" fn proxy_grpc_close(_: u32) -> Status {
    called("proxy_grpc_close");
    unreachable_host_call("proxy_grpc_close")
}

fn unreachable_host_call(name: &str) -> Status {
    panic!("the shell called {name}, which the fake host does not provide")
}
