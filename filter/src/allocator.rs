//! The wasm build's heap: small blocks recycled by size class in front of Talc.
//!
//! A request allocates and frees some eighty small blocks (strings, vectors, the JSON
//! tree); compiled to wasm and run under wasmtime, Talc's general search and coalescing
//! took about a fifth of the filter's time on a miss (BENCHMARKS.md, "The whole request
//! path in wasm"). Here
//! a freed block of up to [`LARGEST`] bytes goes onto a list for its size class and
//! the next allocation of that class takes it back: a few loads and stores each way.
//! Larger or over-aligned blocks go to the inner allocator unchanged.
//!
//! The lists keep what they hold: the memory they take is at most the largest number
//! of small blocks of each class that were alive at once (the VM's linear memory never
//! shrinks in any case). A proxy-wasm VM runs one callback at a time on one thread,
//! so the lists need no lock; the type is `Sync` only where that holds (wasm without
//! threads).

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr;

/// Class granularity and the alignment every class block has.
const QUANTUM: usize = 16;
const CLASSES: usize = 32;
/// The largest block recycled by class.
pub const LARGEST: usize = QUANTUM * CLASSES;

/// Small blocks recycled by size class, everything else from `A`.
pub struct SizeClasses<A> {
    inner: A,
    /// Per class, the first free block; each free block's first word points to the
    /// next (null ends the list).
    free: UnsafeCell<[*mut u8; CLASSES]>,
}

// SAFETY: without wasm threads the module's memory is only ever touched by the one
// thread Envoy runs the VM on, one callback at a time.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
unsafe impl<A: Sync> Sync for SizeClasses<A> {}

impl<A> SizeClasses<A> {
    pub const fn new(inner: A) -> Self {
        SizeClasses {
            inner,
            free: UnsafeCell::new([ptr::null_mut(); CLASSES]),
        }
    }
}

/// The class of a block of this layout, if it is recycled by class.
fn class_of(layout: Layout) -> Option<usize> {
    (layout.align() <= QUANTUM && layout.size() <= LARGEST)
        .then(|| layout.size().max(1).div_ceil(QUANTUM) - 1)
}

/// The layout every block of `class` is allocated with from the inner allocator.
fn class_layout(class: usize) -> Layout {
    // Never fails: a multiple of 16 up to LARGEST, aligned to 16.
    Layout::from_size_align((class + 1) * QUANTUM, QUANTUM).expect("a class layout")
}

unsafe impl<A: GlobalAlloc> GlobalAlloc for SizeClasses<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout) else {
            return self.inner.alloc(layout);
        };
        // SAFETY: one thread, and no other reference to the lists outlives this call.
        let free = &mut *self.free.get();
        let block = free[class];
        if block.is_null() {
            return self.inner.alloc(class_layout(class));
        }
        // SAFETY: a listed block is at least QUANTUM bytes, aligned, and its first
        // word was written by `dealloc`.
        free[class] = block.cast::<*mut u8>().read();
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(class) = class_of(layout) else {
            return self.inner.dealloc(block, layout);
        };
        // SAFETY: as in `alloc`; the caller gives the block back, so its first word is
        // ours to use as the list link.
        let free = &mut *self.free.get();
        block.cast::<*mut u8>().write(free[class]);
        free[class] = block;
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY (all branches): the caller's contract for `realloc`; `new_layout` is
        // valid because the caller guarantees `new_size` rounded to the alignment fits.
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        match (class_of(layout), class_of(new_layout)) {
            (Some(old), Some(new)) if old == new => block,
            (None, None) => self.inner.realloc(block, layout, new_size),
            _ => {
                let moved = self.alloc(new_layout);
                if !moved.is_null() {
                    ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                    self.dealloc(block, layout);
                }
                moved
            }
        }
    }
}

/// The filter's heap in its wasm build.
#[cfg(target_family = "wasm")]
pub type WasmHeap = SizeClasses<talc::wasm::WasmDynamicTalc>;

#[cfg(target_family = "wasm")]
pub const fn wasm_heap() -> WasmHeap {
    SizeClasses::new(talc::wasm::new_wasm_dynamic_allocator())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn sizes_fall_into_classes_of_sixteen_bytes() {
        assert_eq!(class_of(layout(1, 1)), Some(0));
        assert_eq!(class_of(layout(16, 8)), Some(0));
        assert_eq!(class_of(layout(17, 1)), Some(1));
        assert_eq!(class_of(layout(LARGEST, 16)), Some(CLASSES - 1));
        assert_eq!(class_of(layout(LARGEST + 1, 1)), None, "too large");
        assert_eq!(class_of(layout(8, 32)), None, "over-aligned");
        for size in 1..=LARGEST {
            let class = class_of(layout(size, 1)).unwrap();
            assert!(class_layout(class).size() >= size, "{size}");
            assert!(class_layout(class).size() - size < QUANTUM, "{size}");
        }
    }

    #[test]
    fn a_freed_small_block_is_given_back_to_the_next_request_of_its_class() {
        let heap = SizeClasses::new(System);
        unsafe {
            let a = heap.alloc(layout(40, 8));
            let b = heap.alloc(layout(40, 8));
            assert_ne!(a, b);
            heap.dealloc(a, layout(40, 8));
            heap.dealloc(b, layout(40, 8));
            // Last freed, first reused; a size of the same class shares the list.
            assert_eq!(heap.alloc(layout(33, 1)), b);
            assert_eq!(heap.alloc(layout(48, 16)), a);
            let c = heap.alloc(layout(40, 8));
            assert!(c != a && c != b, "the list was empty: a new block");
            // Another class does not take from this one.
            heap.dealloc(c, layout(40, 8));
            assert_ne!(heap.alloc(layout(20, 1)), c);
        }
    }

    #[test]
    fn blocks_keep_their_contents_and_alignment_through_reuse_and_realloc() {
        let heap = SizeClasses::new(System);
        unsafe {
            // Many blocks of every class, freed and reallocated in a shuffled order,
            // each filled with its own byte: a shared or overlapping block would show.
            let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
            for round in 0..4u8 {
                for size in (1..=LARGEST + 64).step_by(7) {
                    let l = layout(size, if size % 3 == 0 { 16 } else { 1 });
                    let p = heap.alloc(l);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % l.align(), 0);
                    let mark = (size as u8).wrapping_add(round);
                    ptr::write_bytes(p, mark, size);
                    live.push((p, l, mark));
                }
                for i in (0..live.len()).rev().step_by(2) {
                    let (p, l, mark) = live.swap_remove(i);
                    assert!((0..l.size()).all(|k| *p.add(k) == mark));
                    heap.dealloc(p, l);
                }
            }
            // Growing and shrinking across classes and past the largest class keeps
            // the bytes both sizes share.
            let small = heap.alloc(layout(10, 1));
            assert_eq!(
                heap.realloc(small, layout(10, 1), 16),
                small,
                "same class: in place"
            );
            heap.dealloc(small, layout(16, 1));
            for (from, to) in [(10, 12), (10, 100), (100, 10), (500, 2_000), (2_000, 30)] {
                let l = layout(from, 1);
                let p = heap.alloc(l);
                for k in 0..from {
                    *p.add(k) = k as u8;
                }
                let q = heap.realloc(p, l, to);
                assert!(
                    (0..from.min(to)).all(|k| *q.add(k) == k as u8),
                    "{from} -> {to}"
                );
                heap.dealloc(q, layout(to, 1));
            }
            for (p, l, mark) in live {
                assert!((0..l.size()).all(|k| *p.add(k) == mark));
                heap.dealloc(p, l);
            }
        }
    }
}
