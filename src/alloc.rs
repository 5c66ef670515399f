//! The process allocator: mimalloc, set up so that a long harvest's memory stays low.
//!
//! Parse + normalize makes ~150 small allocations a record, and with glibc malloc/free
//! were its largest cost; mimalloc does the same work in 13% fewer instructions
//! (docs/benchmarks.md). On a kernel with transparent huge pages `always`, the kernel
//! backs mimalloc's arenas with 2 MB pages: a 20k-record harvest peaked at 104 MB against
//! glibc's 48 MB. [`configure`] turns huge pages off for the process, which brings it to
//! 52–55 MB, and [`return_free_memory`] (called by the harvester after each page) keeps
//! mimalloc's delayed purges from adding ~10 MB on long harvests.
//!
//! The binary (`src/main.rs`) and the parse + normalize bench install [`Allocator`] and
//! call [`configure`] first thing, so the bench measures what the binary runs.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// mimalloc as Rust's global allocator; install with `#[global_allocator]`.
///
/// The `mimalloc` crate's own wrapper asks for every block through `mi_malloc_aligned`,
/// whose fast path in mimalloc v3 covers only blocks up to 1 KiB that happen to be
/// aligned; every larger string (abstracts, page buffers) took the generic over-allocating
/// path (0.5 M instructions a page, docs/benchmarks.md). Every mimalloc block is aligned to
/// at least a word, so requests with an alignment up to that go to the plain calls.
pub struct Allocator;

/// Alignment every mimalloc block has (its size classes are whole words).
const WORD: usize = std::mem::size_of::<usize>();

// SAFETY: each method forwards to the mimalloc call with the same contract, the plain
// ones only where the alignment asked for is one every block has.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            unsafe { mi::mi_malloc(layout.size()) }.cast()
        } else {
            unsafe { mi::mi_malloc_aligned(layout.size(), layout.align()) }.cast()
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            unsafe { mi::mi_zalloc(layout.size()) }.cast()
        } else {
            unsafe { mi::mi_zalloc_aligned(layout.size(), layout.align()) }.cast()
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= WORD {
            unsafe { mi::mi_realloc(ptr.cast::<c_void>(), new_size) }.cast()
        } else {
            unsafe { mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()) }.cast()
        }
    }
}

/// Keep transparent huge pages out of this process.
///
/// Call at the start of `main`, before threads start. The `prctl` applies to the whole
/// process and to mappings made before it too (mimalloc reserved its arena before `main`).
pub fn configure() {
    // SAFETY: PR_SET_THP_DISABLE takes an integer flag and touches no memory of ours.
    // It fails only on kernels without it (before 3.15); THP then stays as it was.
    let _ = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
}

/// Give the memory the allocator holds freed back to the OS now, instead of after its
/// purge delay. The harvester calls this after each stored page: a page churns a few MB,
/// and at a fast provider's pace the delayed purges held ~10 MB more at the peak (100k
/// records: 69.4 MB against 55–59 MB). Purging at once everywhere (`purge_delay` 0)
/// bounds it as well but page-faults every reuse, a quarter of parse + normalize's speed.
pub fn return_free_memory() {
    // SAFETY: mi_collect only walks mimalloc's own structures (the calling thread's heap
    // and the process's arenas); under another global allocator it finds nothing.
    unsafe { mi::mi_collect(true) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configure_disables_huge_pages() {
        configure();
        // SAFETY: PR_GET_THP_DISABLE returns the flag and touches no memory.
        let thp_disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(thp_disabled, 1);
    }

    #[test]
    fn blocks_have_the_alignment_asked_for_and_keep_their_bytes() {
        let a = Allocator;
        for (size, align) in [
            (1, 1),
            (7, 1),
            (24, 8),
            (1500, 1),
            (5000, 8),
            (24, 16),
            (100, 64),
            (3000, 4096),
        ] {
            let layout = Layout::from_size_align(size, align).expect("valid layout");
            // SAFETY: non-zero sizes; every block is written within its size, read back,
            // grown with realloc, and freed once with the layout it has.
            unsafe {
                let p = a.alloc(layout);
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0, "{size} bytes aligned to {align}");
                p.write_bytes(0xA5, size);
                let q = a.realloc(p, layout, size * 3);
                assert_eq!(
                    q as usize % align,
                    0,
                    "grown {size} bytes aligned to {align}"
                );
                assert!((0..size).all(|i| *q.add(i) == 0xA5));
                a.dealloc(
                    q,
                    Layout::from_size_align(size * 3, align).expect("valid layout"),
                );
                let z = a.alloc_zeroed(layout);
                assert_eq!(z as usize % align, 0);
                assert!((0..size).all(|i| *z.add(i) == 0));
                a.dealloc(z, layout);
            }
        }
    }
}
