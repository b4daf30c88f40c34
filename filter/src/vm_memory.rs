//! The filter's own memory: each VM's wasm linear memory, summed over the plugin's VMs
//! (`tollgate.vm_memory_bytes`), with the number of VMs counted (`tollgate.vms`), so
//! an operator can tell what one worker's VM holds. Cache entries are not in it: they
//! live in Envoy's shared data (`tollgate.cache_bytes`).
//!
//! Envoy stats are shared by every VM of the plugin, so each VM adds the change of its
//! own size (a gauge takes signed increments) and takes its share back when it ends.

use std::cell::Cell;

use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

use crate::host;

/// Bytes of this VM's linear memory (it only grows: wasm memory is never returned).
#[cfg(target_arch = "wasm32")]
fn linear_memory_bytes() -> u64 {
    core::arch::wasm32::memory_size(0) as u64 * 65_536
}

/// Natively (the shell's tests) there is no linear memory to report.
#[cfg(not(target_arch = "wasm32"))]
fn linear_memory_bytes() -> u64 {
    0
}

thread_local! {
    /// One per VM: a VM runs its module's code on one thread.
    static THIS_VM: std::cell::RefCell<Option<VmMemory>> = const { std::cell::RefCell::new(None) };
}

/// Reports this VM's memory (counting the VM in on its first report). Called per tick.
pub fn report() {
    THIS_VM.with(|vm| {
        if let Ok(mut vm) = vm.try_borrow_mut() {
            vm.get_or_insert_with(VmMemory::start).report();
        }
    });
}

/// Takes this VM out of the figures (its root is done: reload or shutdown).
pub fn stop() {
    THIS_VM.with(|vm| {
        if let Some(m) = vm.try_borrow_mut().ok().and_then(|mut vm| vm.take()) {
            m.stop();
        }
    });
}

struct VmMemory {
    bytes: Option<u32>,
    vms: Option<u32>,
    reported: Cell<u64>,
}

impl VmMemory {
    /// Defines the gauges and counts this VM in.
    fn start() -> VmMemory {
        let gauge = |name| hostcalls::define_metric(MetricType::Gauge, name).ok();
        let m = VmMemory {
            bytes: gauge("tollgate.vm_memory_bytes"),
            vms: gauge("tollgate.vms"),
            reported: Cell::new(0),
        };
        host::count(m.vms, 1);
        m.report();
        m
    }

    /// Adds this VM's growth since the last report.
    fn report(&self) {
        let now = linear_memory_bytes();
        let delta = now as i64 - self.reported.get() as i64;
        if delta != 0 {
            host::count(self.bytes, delta);
            self.reported.set(now);
        }
    }

    /// Takes this VM's share back (the VM is being replaced or stopped).
    fn stop(&self) {
        host::count(self.bytes, -(self.reported.replace(0) as i64));
        host::count(self.vms, -1);
    }
}
