//! Heap and RSS accounting for the memory workload: the process's global
//! allocator is the system one, counting live and peak bytes while
//! `COUNTING` is set (only in the memory workload's child), and the
//! resident set size and its high-water mark from `/proc`.
//!
//! The counting allocator sees only what goes through the global
//! allocator. On Linux lfmap maps its tables of 128 KiB and more
//! (`src/resize/memory.rs`) and `HashMap`'s entry spans
//! (`src/raw/slab.rs`) from the kernel directly, so its heap figures are
//! near zero and say nothing; RSS and peak RSS count every map alike.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// The system allocator, counting live and peak bytes while `COUNTING` is set.
struct CountingAlloc;

pub static COUNTING: AtomicBool = AtomicBool::new(false);
pub static LIVE: AtomicIsize = AtomicIsize::new(0);
pub static PEAK: AtomicIsize = AtomicIsize::new(0);

fn count(delta: isize) {
    if COUNTING.load(Ordering::Relaxed) {
        let now = LIVE.fetch_add(delta, Ordering::Relaxed) + delta;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; the counters are
// bookkeeping only.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's obligations are `System`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// A field of `/proc/self/status` given in kB, in bytes (0 if absent).
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Resident set size of this process, in bytes.
pub fn rss_bytes() -> u64 {
    status_bytes("VmRSS:")
}

/// The resident set's high-water mark (`VmHWM`), in bytes: since the
/// process started, or since [`reset_peak_rss`].
pub fn vm_hwm_bytes() -> u64 {
    status_bytes("VmHWM:")
}

/// Resets the high-water mark to the current RSS (writing `5` to
/// `/proc/self/clear_refs`, Linux 4.0 and later); false if the kernel
/// refused or the mark did not come down to the RSS, and then `VmHWM`
/// covers the whole process, not what follows. Memory the process maps
/// itself (lfmap's tables and entry spans) counts in it like the heap.
pub fn reset_peak_rss() -> bool {
    if std::fs::write("/proc/self/clear_refs", "5").is_err() {
        return false;
    }
    // After a reset the mark equals the RSS of that moment; the RSS read
    // after it may have moved by the pages this read itself touched.
    let (hwm, rss) = (vm_hwm_bytes(), rss_bytes());
    hwm > 0 && hwm <= rss + (64 << 10)
}
