//! The allocation bound of the fuzz targets, enforced by the target itself.
//!
//! libFuzzer's `-malloc_limit_mb` works through the sanitizer's malloc hooks, so a build
//! without a sanitizer (`cargo fuzz run -s none`, see `../README.md`) would not enforce it.
//! This allocator does, whatever the build: any single allocation over [`LIMIT`] aborts the
//! process, which libFuzzer reports as a crash and saves the input.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;

/// The largest single allocation a target may make: 256 MiB, as `-malloc_limit_mb=256`.
pub const LIMIT: usize = 256 << 20;

/// [`System`], refusing (by aborting) any allocation over [`LIMIT`].
pub struct Bounded;

fn check(size: usize) {
    if size > LIMIT {
        // Nothing here may allocate: a fixed message to unbuffered stderr, then abort.
        let _ = std::io::stderr()
            .write_all(b"==fuzz== ERROR: single allocation over the 256 MiB bound\n");
        std::process::abort();
    }
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds `GlobalAlloc`'s
// contract; the size check only adds an abort.
unsafe impl GlobalAlloc for Bounded {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: same layout, as the caller guaranteed for `alloc`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        // SAFETY: as for `dealloc`; `new_size` is the caller's, unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
