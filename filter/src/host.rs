//! Host calls that report failure as a value.
//!
//! The SDK's wrappers `panic!` on statuses they do not expect, and a panic kills the VM
//! (every later request on it gets 503). These call the same host imports directly and
//! return the status instead, so a refused header change degrades one request, not the
//! whole filter.

use proxy_wasm::types::{BufferType, MapType, Status};
use tollgate_core::headers::{self, HeaderMap};

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_replace_header_map_value(
        map_type: MapType,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> Status;
    fn proxy_remove_header_map_value(
        map_type: MapType,
        key_data: *const u8,
        key_size: usize,
    ) -> Status;
    fn proxy_set_buffer_bytes(
        buffer_type: BufferType,
        start: usize,
        size: usize,
        buffer_data: *const u8,
        buffer_size: usize,
    ) -> Status;
    fn proxy_enqueue_shared_queue(
        queue_id: u32,
        value_data: *const u8,
        value_size: usize,
    ) -> Status;
    fn proxy_send_local_response(
        status_code: u32,
        status_code_details_data: *const u8,
        status_code_details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> Status;
    fn proxy_set_shared_data(
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
        cas: u32,
    ) -> Status;
    fn proxy_get_header_map_pairs(
        map_type: MapType,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> Status;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> Status;
    fn proxy_record_metric(metric_id: u32, value: u64) -> Status;
}

fn ok(status: Status) -> Result<(), Status> {
    match status {
        Status::Ok => Ok(()),
        other => Err(other),
    }
}

pub fn set_header(map: MapType, name: &str, value: &str) -> Result<(), Status> {
    // SAFETY: pointers and lengths come from live &str values for the call's duration.
    ok(unsafe {
        proxy_replace_header_map_value(map, name.as_ptr(), name.len(), value.as_ptr(), value.len())
    })
}

pub fn remove_header(map: MapType, name: &str) -> Result<(), Status> {
    // SAFETY: pointer and length come from a live &str for the call's duration.
    ok(unsafe { proxy_remove_header_map_value(map, name.as_ptr(), name.len()) })
}

/// Makes `changes` with one call per changed header (no data comes back, so each is
/// cheaper than a whole-map rewrite; Envoy clears the cached route when request
/// headers change). Stops at the first refusal.
pub fn apply_changes(map: MapType, changes: &headers::Changes) -> Result<(), Status> {
    for name in &changes.remove {
        remove_header(map, name)?;
    }
    for (name, value) in &changes.set {
        set_header(map, name, value)?;
    }
    Ok(())
}

pub fn replace_body(buffer: BufferType, old_size: usize, body: &[u8]) -> Result<(), Status> {
    // SAFETY: as above.
    ok(unsafe { proxy_set_buffer_bytes(buffer, 0, old_size, body.as_ptr(), body.len()) })
}

/// Every header of `map` in one host call (empty if the map is not available).
pub fn get_headers(map: MapType) -> HeaderMap {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the host writes a buffer it allocated through this module's allocator
    // (proxy_on_memory_allocate); we take ownership of exactly `size` bytes.
    match unsafe { proxy_get_header_map_pairs(map, &mut data, &mut size) } {
        Status::Ok if !data.is_null() => {
            let bytes = unsafe { Vec::from_raw_parts(data, size, size) };
            HeaderMap::decode(&bytes)
        }
        _ => HeaderMap::default(),
    }
}

pub fn enqueue(queue_id: u32, value: &[u8]) -> Result<(), Status> {
    // SAFETY: as above.
    ok(unsafe { proxy_enqueue_shared_queue(queue_id, value.as_ptr(), value.len()) })
}

pub fn send_response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Result<(), Status> {
    let headers = tollgate_core::headers::encode(headers);
    let details = "tollgate";
    // SAFETY: as above.
    ok(unsafe {
        proxy_send_local_response(
            u32::from(status),
            details.as_ptr(),
            details.len(),
            body.as_ptr(),
            body.len(),
            headers.as_ptr(),
            headers.len(),
            -1,
        )
    })
}

/// Adds to a counter, or to a gauge (which also takes negative increments); metrics are
/// best effort, so failures are ignored.
pub fn count(metric_id: Option<u32>, by: i64) {
    if let Some(id) = metric_id {
        // SAFETY: plain integers.
        let _ = unsafe { proxy_increment_metric(id, by) };
    }
}

/// Sets a gauge; best effort.
pub fn gauge(metric_id: Option<u32>, value: u64) {
    if let Some(id) = metric_id {
        // SAFETY: plain integers.
        let _ = unsafe { proxy_record_metric(id, value) };
    }
}

/// Writes shared data; `cas` 0 writes unconditionally, otherwise only if unchanged.
pub fn set_shared(key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
    // SAFETY: pointers and lengths come from live slices for the call's duration.
    ok(unsafe { proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas) })
}

/// Why a [`cas_update`] wrote nothing.
pub enum UpdateError<E> {
    /// `change` refused the update.
    Refused(E),
    /// The host refused the write, or other workers kept winning the race.
    Host(Status),
}

/// Read-modify-write of one shared-data key, safe against the other workers: the write
/// lands only if the key is unchanged since it was read, otherwise it is read and
/// changed again, at most `attempts` times. `change` gets the current bytes (`None` when
/// absent) and returns the bytes to write with a value for the caller, `Ok(None)` to
/// leave the key as it is, or `Err` to stop.
pub fn cas_update<T, E>(
    key: &str,
    attempts: usize,
    change: impl Fn(Option<&[u8]>) -> Result<Option<(Vec<u8>, T)>, E>,
) -> Result<Option<T>, UpdateError<E>> {
    for _ in 0..attempts {
        let (value, cas) = get_shared(key);
        let Some((bytes, out)) = change(value.as_deref()).map_err(UpdateError::Refused)? else {
            return Ok(None);
        };
        match set_shared(key, &bytes, cas) {
            Ok(()) => return Ok(Some(out)),
            Err(Status::CasMismatch) => continue,
            Err(status) => return Err(UpdateError::Host(status)),
        }
    }
    Err(UpdateError::Host(Status::CasMismatch))
}

/// Reads shared data and its CAS token (0 when absent).
pub fn get_shared(key: &str) -> (Option<Vec<u8>>, u32) {
    match proxy_wasm::hostcalls::get_shared_data(key) {
        Ok((value, cas)) => (value, cas.unwrap_or(0)),
        Err(_) => (None, 0),
    }
}

/// Host time in Unix milliseconds (0 if the host cannot tell).
pub fn now_ms() -> i64 {
    proxy_wasm::hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64)
}
