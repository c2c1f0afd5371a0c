//! Table memory: slot arrays that start zeroed, from the kernel (large
//! tables) or the allocator, and go back where they came from.

use crate::error::TryReserveError;
use crate::sync::AtomicPtr;

/// Types whose all-zero bit pattern is a valid value.
///
/// # Safety
///
/// Implementors must be valid when zero-initialised.
#[cfg(not(loom))]
pub(crate) unsafe trait Zeroable {}
// SAFETY: `AtomicPtr<T>` has the same in-memory representation as `*mut T`;
// all-zero is the null pointer.
#[cfg(not(loom))]
unsafe impl<T> Zeroable for AtomicPtr<T> {}
// SAFETY: atomic integers have the in-memory representation of their
// integer (`portable_atomic::AtomicU128` documents the same for `u128`,
// and `sync::AtomicU128` is a transparent wrapper of it on x86_64);
// all-zero is 0.
#[cfg(not(loom))]
unsafe impl Zeroable for crate::sync::AtomicU8 {}
// SAFETY: as above.
#[cfg(not(loom))]
unsafe impl Zeroable for crate::sync::AtomicU128 {}
// SAFETY: as above.
#[cfg(not(loom))]
unsafe impl Zeroable for crate::sync::AtomicU64 {}

/// Tables of at least this many bytes are mapped from the kernel directly
/// (Linux), not taken from the global allocator: glibc's malloc raises its
/// own mmap threshold (up to 32 MiB) each time it frees a large mapped
/// block, after which large tables land in its heap and their memory is not
/// handed back to the system when they are freed. 128 KiB is glibc's
/// starting threshold, so below it nothing changes.
#[cfg(not(loom))]
const MAP_DIRECTLY: usize = 128 * 1024;

/// Bytes one memory step faults in ([`populate`]): 256 pages. A step is
/// a page fault per page however it is taken (about 2 µs each on the
/// machine of docs/benchmarks.md, `MADV_POPULATE_WRITE` included: it saves
/// the trap, not the zeroing), so what the step's size chooses is how a
/// fixed total is split among writes. Faulting pages one by one, as the
/// writes met them, put a fault into about one write in a hundred (the p99
/// of a growing map); 256 KiB steps put about 130 µs into some 1,000
/// writes of a growth to 4M keys (p99.99 near 90 µs); 1 MiB steps put
/// about 0.5 ms into some 250 (p99.99 near 30 µs), a bound per write that
/// stays far below a stop-the-world copy's. docs/benchmarks.md,
/// "Issue #15", has the measurements.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const STEP_BYTES: usize = 1024 * 1024;

/// Tables of at least this many bytes are backed by transparent huge pages
/// when [`set_huge_pages`] asked for them. Below it a table lies within
/// the reach of the TLB's small-page entries (a few MiB), so huge pages
/// would save little and round its resident memory up to 2 MiB.
#[cfg(not(loom))]
const HUGE_FROM: usize = 4 << 20;

/// Whether tables are mapped for huge pages ([`set_huge_pages`]). Relaxed
/// throughout: a setting read once per table allocation, which orders
/// nothing else.
static HUGE_PAGES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Backs the tables that maps allocate from now on, of 4 MiB and more, with
/// transparent huge pages (Linux: `madvise(MADV_HUGEPAGE)` on a mapping
/// aligned to the huge page size), or stops doing so. Off by default.
/// Process-wide, for every map, like the kernel policy it asks for; tables
/// already allocated (a successor table prepared before the call
/// included) keep the pages they have. Elsewhere than Linux (and under
/// loom) it only records the setting.
///
/// It takes effect only where the kernel's transparent huge pages are
/// `always` or `madvise` (`/sys/kernel/mm/transparent_hugepage/enabled`);
/// whether tables got them shows as `AnonHugePages` in
/// `/proc/self/smaps_rollup`, and as the `hg` flag of their mappings in
/// `/proc/self/smaps`. Only the slot arrays are covered: [`HashMap`]'s
/// entries live in 1 MiB spans on small pages, so [`WordMap`], whose keys
/// and values are in its slots, gains most.
///
/// **What it buys.** A large table is read at random: with 4 KiB pages
/// nearly every operation on a table beyond the TLB's reach (a few MiB)
/// also misses the TLB and walks the page tables, twice over in a virtual
/// machine. With 2 MiB pages a 128 MiB table needs 64 TLB entries. On the
/// 2-core virtual machine of `docs/benchmarks.md` ("Huge pages"), 2
/// threads, medians: a read-heavy `WordMap`, +17 % and +32 % operations per
/// second in two sessions; growing from empty to 4M keys, +20 % (`HashMap`)
/// and +26 % (`WordMap`), the median insert 11–16 % faster and p99 4–11 %
/// lower.
///
/// **What it costs, and why it is off by default.** The kernel backs a huge
/// page all at once, on the first touch of any byte of it: a map's memory
/// step (which faults its next table in ahead of a resize) then faults
/// 2 MiB in one call instead of 1 MiB in 256 pages, and a table that is not
/// prepared ahead (one sized by `with_capacity` or `reserve`, a rebuild,
/// a shrink) faults 2 MiB inside the write or migration copy that first
/// touches it. Where the kernel's THP `defrag` setting is `always`,
/// `madvise` or `defer+madvise` (common), such a fault may first compact
/// memory to find a free huge page: on a long-running, fragmented machine
/// that can stall that one operation for milliseconds, the latency spikes
/// for which databases advise turning huge pages off. On a virtual machine
/// whose memory the host has not backed yet, a huge page's first fault
/// measured 3–8 ms here, and `WordMap`'s slowest insert in that growth
/// rose from 3–4 ms to 9–11 ms in two runs of four (`HashMap`'s did not
/// move: 1.6–3.0 against 1.7–4.0 ms). A table's resident memory also grows
/// in 2 MiB units while it is first written. Turn it on for large maps read
/// and written at random, where throughput matters more than the worst
/// single operation.
///
/// [`HashMap`]: crate::HashMap
/// [`WordMap`]: crate::WordMap
///
/// ```
/// lfmap::set_huge_pages(true);
/// let map: lfmap::WordMap<u64, u64> = lfmap::WordMap::with_capacity(1 << 20);
/// map.insert(1, 2);
/// assert_eq!(map.get(&1), Some(2));
/// assert!(lfmap::huge_pages());
/// lfmap::set_huge_pages(false);
/// ```
pub fn set_huge_pages(enabled: bool) {
    HUGE_PAGES.store(enabled, std::sync::atomic::Ordering::Relaxed);
}

/// Whether huge pages are requested for the tables allocated from now on
/// (the last [`set_huge_pages`]): the request, not what the kernel grants.
///
/// ```
/// // Off unless a program asks (`set_huge_pages`).
/// let requested: bool = lfmap::huge_pages();
/// # let _ = requested;
/// ```
pub fn huge_pages() -> bool {
    HUGE_PAGES.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether a table of `bytes` bytes is worth preparing ahead of the
/// resize that installs it (`Resizer::prepare`): only mapped tables are
/// faulted in step by step; a small one comes from the allocator, mostly
/// from pages it has touched before. Under loom, always: the models then
/// run the preparation protocol on their tiny tables (its memory steps are
/// no-ops there).
#[cfg(not(loom))]
pub(crate) fn worth_preparing(bytes: usize) -> bool {
    bytes >= MAP_DIRECTLY && map::AVAILABLE
}

/// Under loom, every table is prepared (see above).
#[cfg(loom)]
pub(crate) fn worth_preparing(_: usize) -> bool {
    true
}

/// `n` zeroed `T`s: a table's slot array. Large arrays are anonymous
/// mappings from the kernel (zero pages: an untouched slot costs no
/// resident memory, allocation costs no initialisation pass, and freeing
/// returns the memory to the system at once); small ones come from the
/// global allocator's `alloc_zeroed`.
#[cfg(not(loom))]
pub(crate) struct Zeroed<T> {
    ptr: std::ptr::NonNull<T>,
    len: usize,
    /// Where the memory came from, so `drop` gives it back there.
    mapped: bool,
}

// SAFETY: `Zeroed<T>` owns its `T`s like a `Box<[T]>`.
#[cfg(not(loom))]
unsafe impl<T: Send> Send for Zeroed<T> {}
// SAFETY: shared access hands out `&[T]` only, like a `Box<[T]>`.
#[cfg(not(loom))]
unsafe impl<T: Sync> Sync for Zeroed<T> {}

#[cfg(not(loom))]
impl<T> std::ops::Deref for Zeroed<T> {
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` points to `len` initialised (zeroed, `Zeroable`)
        // `T`s that this value owns until it drops.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

#[cfg(not(loom))]
impl<T> Drop for Zeroed<T> {
    fn drop(&mut self) {
        // Atomics need no drop; the memory goes back where it came from.
        let layout = std::alloc::Layout::array::<T>(self.len).expect("checked when allocated");
        if layout.size() == 0 {
            return;
        }
        if self.mapped {
            // SAFETY: one mapping made by `map` for this array, which owns
            // it and is being dropped: unmapped once (now, or by resize
            // helpers' steps: `handoff.rs`), unused.
            unsafe { super::handoff::unmap_table(self.ptr.as_ptr().cast(), layout.size()) };
        } else {
            // SAFETY: allocated by `alloc_zeroed` with this very layout.
            unsafe { std::alloc::dealloc(self.ptr.as_ptr().cast(), layout) };
        }
    }
}

/// How many memory steps ([`populate`]) cover `array`: none for memory
/// that the allocator gave (or under loom).
#[cfg(not(loom))]
pub(crate) fn steps<T>(array: &Zeroed<T>) -> usize {
    if array.mapped {
        std::mem::size_of_val::<[T]>(array).div_ceil(STEP_BYTES)
    } else {
        0
    }
}

/// Faults in, for writing, step `k` of `array`'s memory (`STEP_BYTES`
/// from `k * STEP_BYTES`, clamped to the array), so that the writes and
/// reads that come later find their pages present. Changes no byte of the
/// array: safe at any time, also while other threads use it. A hint: does
/// nothing where the kernel cannot (before Linux 5.14, or a step past the
/// end).
#[cfg(not(loom))]
pub(crate) fn populate<T>(array: &Zeroed<T>, k: usize) {
    populate_range(array, step_range::<T>(k));
}

/// The elements of an array of `T`s that memory step `k` covers
/// (unclamped): those in the `STEP_BYTES` bytes from `k * STEP_BYTES`.
pub(crate) fn step_range<T>(k: usize) -> std::ops::Range<usize> {
    let per_step = STEP_BYTES / std::mem::size_of::<T>().max(1);
    let start = k.saturating_mul(per_step);
    start..start.saturating_add(per_step)
}

/// Faults in, for writing, the pages under elements `range` of `array`
/// (clamped to it), like [`populate`]: for an array that runs beside a
/// stepped one (`WordMap`'s top bytes beside its units), the part under
/// the same slots as the step.
#[cfg(not(loom))]
pub(crate) fn populate_range<T>(array: &Zeroed<T>, range: std::ops::Range<usize>) {
    let size = std::mem::size_of::<T>();
    let bytes = std::mem::size_of_val::<[T]>(array);
    let start = range.start.saturating_mul(size);
    if !array.mapped || start >= bytes || range.end <= range.start {
        return;
    }
    let end = range.end.saturating_mul(size).min(bytes);
    // Rounded down to a page: the mapping starts on one.
    let start = start - start % map::page_size();
    // SAFETY: `start < bytes`, so the address stays inside the array.
    let at = unsafe { array.ptr.as_ptr().cast::<u8>().add(start) };
    map::populate(at, end - start);
}

/// Under loom there is no memory to fault in.
#[cfg(loom)]
pub(crate) fn steps<T>(_: &Zeroed<T>) -> usize {
    0
}

/// Under loom there is no memory to fault in.
#[cfg(loom)]
pub(crate) fn populate<T>(_: &Zeroed<T>, _: usize) {}

/// Under loom there is no memory to fault in.
#[cfg(loom)]
pub(crate) fn populate_range<T>(_: &Zeroed<T>, _: std::ops::Range<usize>) {}

/// Maps memory with `map` (null if the system refuses); if the system
/// refuses, gives back the retired tables that resize helpers still hold
/// queued (`handoff.rs`), if any, and tries once more.
#[cfg(not(loom))]
pub(crate) fn map_or_release(mut map: impl FnMut() -> *mut u8) -> *mut u8 {
    let p = map();
    if p.is_null() && super::handoff::release_queued() {
        map()
    } else {
        p
    }
}

/// `n` zeroed atomics for a table (see [`Zeroed`]). Fails instead of
/// aborting, for `try_reserve`.
#[cfg(not(loom))]
pub(crate) fn try_zeroed_slice<T: Zeroable>(n: usize) -> Result<Zeroed<T>, TryReserveError> {
    use std::alloc::{alloc_zeroed, Layout};
    let layout = Layout::array::<T>(n).map_err(|_| TryReserveError::CapacityOverflow)?;
    if layout.size() == 0 {
        return Ok(Zeroed {
            ptr: std::ptr::NonNull::dangling(),
            len: n,
            mapped: false,
        });
    }
    let (ptr, mapped) = if layout.size() >= MAP_DIRECTLY && map::AVAILABLE {
        let huge = layout.size() >= HUGE_FROM && huge_pages();
        let table = map_or_release(|| map::map_table(layout.size(), huge));
        (table.cast::<T>(), true)
    } else {
        // SAFETY: the layout has a non-zero size.
        (unsafe { alloc_zeroed(layout) }.cast::<T>(), false)
    };
    let ptr = std::ptr::NonNull::new(ptr).ok_or(TryReserveError::AllocError { layout })?;
    debug_assert!(ptr.as_ptr().is_aligned());
    Ok(Zeroed {
        ptr,
        len: n,
        mapped,
    })
}

/// Anonymous mappings (Linux): page-aligned, zero-filled, given back to
/// the kernel by `munmap`. Tables use them, and so do the entry spans of
/// `raw/slab.rs`.
#[cfg(all(not(loom), target_os = "linux"))]
pub(crate) mod map {
    pub(crate) const AVAILABLE: bool = true;

    /// Maps `size` bytes of zero pages; null if the kernel refuses.
    pub(crate) fn map(size: usize) -> *mut u8 {
        // SAFETY: an anonymous private mapping at an address of the
        // kernel's choosing touches no existing memory.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            p.cast()
        }
    }

    /// Maps `size` bytes for a table; if `huge`, aligned to a huge page
    /// and advised to use huge pages (a hint: a kernel without transparent
    /// huge pages, or with them off, answers with small pages). Null if the
    /// kernel refuses.
    pub(crate) fn map_table(size: usize, huge: bool) -> *mut u8 {
        if !huge {
            return map(size);
        }
        // Over-map by a huge page, keep the aligned pages that hold `size`
        // bytes and unmap the rest, so the result is one mapping of `size`
        // bytes (what `unmap` later gets), every huge page of it aligned.
        let (page, huge_page) = (page_size(), huge_page_size());
        let over = size.checked_add(huge_page);
        let p = over.map_or(std::ptr::null_mut(), map);
        let at = if p.is_null() {
            // No room for the margin (an address-space limit): an
            // unaligned table, whose inner huge pages may still be used.
            map(size)
        } else {
            let (head, keep, tail) = trim(p.addr(), size, page, huge_page);
            let at = p.wrapping_add(head);
            // SAFETY: the head `[p, at)` and the tail `[at + keep, ...)` of
            // `tail` bytes are page-aligned parts of the mapping just made,
            // unused (`trim`).
            unsafe {
                if head > 0 {
                    unmap(p, head);
                }
                if tail > 0 {
                    unmap(at.wrapping_add(keep), tail);
                }
            }
            at
        };
        if !at.is_null() {
            // SAFETY: `[at, at + size)` is our mapping; the advice changes
            // no byte. A hint: an error (no transparent huge pages) is
            // ignored.
            let _ = unsafe { libc::madvise(at.cast(), size, libc::MADV_HUGEPAGE) };
        }
        at
    }

    /// How to cut a mapping of `size + huge_page` bytes at address `p`
    /// down to the pages that hold `size` bytes from its first
    /// `huge_page`-aligned address: `(head, keep, tail)`, the bytes to
    /// unmap before, to keep, and to unmap after. The kernel maps whole
    /// pages, so the mapping is `size + huge_page` rounded up to a page.
    /// With `p` a page multiple and `huge_page` a power of two and a page
    /// multiple, `head` (under a huge page) and `keep` are page multiples
    /// and `tail` is `huge_page - head`: at least a page, all page-aligned.
    pub(crate) fn trim(
        p: usize,
        size: usize,
        page: usize,
        huge_page: usize,
    ) -> (usize, usize, usize) {
        let mapped = (size + huge_page).next_multiple_of(page);
        let keep = size.next_multiple_of(page);
        let head = p.wrapping_neg() & (huge_page - 1);
        (head, keep, mapped - head - keep)
    }

    /// The system's page size, read once (4 KiB if unknown).
    pub(crate) fn page_size() -> usize {
        static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        *PAGE.get_or_init(|| {
            // SAFETY: `sysconf` has no preconditions.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            usize::try_from(page)
                .ok()
                .filter(|p| p.is_power_of_two())
                .unwrap_or(4096)
        })
    }

    /// The size of a transparent huge page, read once from the kernel
    /// (`hpage_pmd_size`: 2 MiB on x86_64, and on AArch64 with 4 KiB
    /// pages; 32 MiB or 512 MiB with 16 or 64 KiB pages); 2 MiB if unknown.
    /// A power of two and a page multiple.
    pub(crate) fn huge_page_size() -> usize {
        static HUGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        *HUGE.get_or_init(|| {
            std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .filter(|h| h.is_power_of_two() && *h >= page_size())
                .unwrap_or(2 << 20)
                .max(page_size())
        })
    }

    /// `madvise(MADV_POPULATE_WRITE)` (Linux 5.14; the `libc` crate's
    /// version in our lock file may predate it): fault pages in as a write
    /// would, without writing.
    const MADV_POPULATE_WRITE: libc::c_int = 23;

    /// Faults in `len` bytes at `at` (page-aligned: `STEP_BYTES` steps of a
    /// page-aligned mapping) for writing; a hint, errors ignored (an older
    /// kernel answers `EINVAL`: the pages then fault when first used).
    pub(crate) fn populate(at: *mut u8, len: usize) {
        // SAFETY: the range lies inside one live mapping made by `map`
        // (the caller's array or span keeps it mapped); populating changes
        // no byte.
        let _ = unsafe { libc::madvise(at.cast(), len, MADV_POPULATE_WRITE) };
    }

    /// Asks the kernel to take back the pages of `len` bytes at `at`
    /// (page-aligned), keeping the mapping, so that they cost no resident
    /// memory until written again. A hint, as [`populate`] is: the kernel
    /// refuses it for locked memory (`EINVAL` in a process that called
    /// `mlockall`, as latency-sensitive services do), and the pages then
    /// stay resident with their bytes. Callers assume nothing about the
    /// bytes afterwards (the slab writes every header and block it hands
    /// out), only that they may be lost.
    ///
    /// # Safety
    ///
    /// The range lies inside one live mapping made by [`map`], and nothing
    /// in it is in use (its bytes are lost).
    pub(crate) unsafe fn discard(at: *mut u8, len: usize) {
        // SAFETY: the caller's: ours, mapped, unused.
        let _ = unsafe { libc::madvise(at.cast(), len, libc::MADV_DONTNEED) };
    }

    /// Unmaps what [`map`] mapped. Unmapping part of a mapping that the
    /// kernel merged with its neighbours splits it, which fails (`ENOMEM`)
    /// in a process at its limit of mappings (`vm.max_map_count`); the
    /// range then stays mapped, and its pages are given back as by
    /// [`discard`], so that what leaks is address space, not memory.
    ///
    /// # Safety
    ///
    /// `ptr` and `size` are those of one mapping made by [`map`] (or a
    /// part of one, page-aligned), nothing in it is in use, and it is
    /// unmapped once.
    pub(crate) unsafe fn unmap(ptr: *mut u8, size: usize) {
        // SAFETY: the caller's.
        if unsafe { libc::munmap(ptr.cast(), size) } != 0 {
            // SAFETY: still mapped (the call failed), ours and unused.
            unsafe { discard(ptr, size) };
        }
    }

    /// Pages of `len` bytes at `at` (a page's start, inside one live
    /// mapping) resident now (`mincore`).
    #[cfg(test)]
    pub(crate) fn resident_pages(at: *const u8, len: usize) -> usize {
        assert_eq!(at.addr() % page_size(), 0, "a page's start");
        let mut resident = vec![0u8; len.div_ceil(page_size())];
        // SAFETY: the caller's range lies in one live mapping of ours;
        // `resident` has a byte per page of it.
        let r = unsafe { libc::mincore(at as *mut _, len, resident.as_mut_ptr()) };
        assert_eq!(r, 0, "mincore failed");
        resident.iter().filter(|&&b| b & 1 != 0).count()
    }

    /// Why a test of which pages are resident cannot tell here, if it
    /// cannot: transparent huge pages always on (a huge page may back a
    /// mapping's neighbour too), or no `MADV_POPULATE_WRITE` ([`populate`]
    /// then does nothing).
    #[cfg(test)]
    pub(crate) fn residency_unknowable() -> Option<&'static str> {
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled");
        if thp.is_ok_and(|s| s.contains("[always]")) {
            return Some("transparent huge pages are always on");
        }
        let page = map(page_size());
        assert!(!page.is_null());
        // SAFETY: a fresh private anonymous page, unused, unmapped once.
        let populated = unsafe {
            let r = libc::madvise(page.cast(), page_size(), MADV_POPULATE_WRITE) == 0;
            unmap(page, page_size());
            r
        };
        (!populated).then_some("the kernel has no MADV_POPULATE_WRITE")
    }
}

/// No direct mappings elsewhere: every table (and entry span) comes from
/// the allocator.
#[cfg(all(not(loom), not(target_os = "linux")))]
pub(crate) mod map {
    pub(crate) const AVAILABLE: bool = false;
    // Used on Linux only (entry spans), like `discard`.
    #[allow(dead_code)]
    pub(crate) fn map(_: usize) -> *mut u8 {
        std::ptr::null_mut()
    }
    pub(crate) fn map_table(_: usize, _: bool) -> *mut u8 {
        std::ptr::null_mut()
    }
    pub(crate) unsafe fn unmap(_: *mut u8, _: usize) {
        unreachable!("nothing is mapped on this platform")
    }
    #[allow(dead_code)]
    pub(crate) unsafe fn discard(_: *mut u8, _: usize) {
        unreachable!("nothing is mapped on this platform")
    }
    pub(crate) fn populate(_: *mut u8, _: usize) {
        unreachable!("nothing is mapped on this platform")
    }
    pub(crate) fn page_size() -> usize {
        4096
    }
}

/// Under loom, a table's array is a plain boxed slice.
#[cfg(loom)]
pub(crate) type Zeroed<T> = Box<[T]>;

/// Under loom, atomics are not plain memory: build them one by one (and
/// allocation is not modelled as failing).
#[cfg(loom)]
pub(crate) fn try_zeroed_slice<T: LoomZero>(n: usize) -> Result<Zeroed<T>, TryReserveError> {
    Ok((0..n).map(|_| T::zero()).collect())
}

/// Reports a failed table allocation the way an infallible allocation
/// does: a capacity overflow panics, an allocator failure aborts.
#[cold]
#[track_caller]
pub(crate) fn alloc_failed(err: TryReserveError) -> ! {
    match err {
        TryReserveError::CapacityOverflow => super::policy::capacity_overflow(),
        TryReserveError::AllocError { layout } => std::alloc::handle_alloc_error(layout),
    }
}

#[cfg(loom)]
pub(crate) trait LoomZero {
    fn zero() -> Self;
}
#[cfg(loom)]
impl LoomZero for crate::sync::AtomicU8 {
    fn zero() -> Self {
        crate::sync::AtomicU8::new(0)
    }
}
#[cfg(loom)]
impl LoomZero for crate::sync::AtomicU128 {
    fn zero() -> Self {
        crate::sync::AtomicU128::new(0)
    }
}
#[cfg(loom)]
impl LoomZero for crate::sync::AtomicU64 {
    fn zero() -> Self {
        crate::sync::AtomicU64::new(0)
    }
}
#[cfg(loom)]
impl<T> LoomZero for AtomicPtr<T> {
    fn zero() -> Self {
        AtomicPtr::new(std::ptr::null_mut())
    }
}

/// Whether [`prefetch`] does anything: on x86_64, not under loom. Callers
/// that would compute or load something only to prefetch it skip that work
/// where this is false.
pub(crate) const PREFETCHES: bool = cfg!(all(target_arch = "x86_64", not(loom)));

/// Asks the CPU to start loading the line holding `p`: a hint that never
/// faults, whatever the address (a stale one included), and reads nothing.
/// A no-op off x86_64 and under loom ([`PREFETCHES`]).
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(all(target_arch = "x86_64", not(loom)))]
    // SAFETY: `_mm_prefetch` only hints the cache; it never faults, and SSE
    // is part of the x86_64 baseline.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
    }
    #[cfg(not(all(target_arch = "x86_64", not(loom))))]
    let _ = p;
}

/// [`prefetch`]es the cache lines holding `array[range]` (`range` clamped
/// to the array): a sub-chunk's slots and the successor's lines its copies
/// claim, or one key's home slot. Lines are found by address, not by index:
/// an array from the allocator need not start on a line.
#[inline]
pub(crate) fn prefetch_lines<T>(array: &[T], range: std::ops::Range<usize>) {
    if !PREFETCHES {
        return;
    }
    let base = array.as_ptr().cast::<u8>();
    let size = std::mem::size_of::<T>();
    for line in line_starts(base.addr(), size, array.len(), range) {
        // The address of a line that holds part of `array[range]` (it may
        // start before the array): never dereferenced, and a prefetch
        // cannot fault.
        prefetch(base.with_addr(line));
    }
}

/// Bytes per cache line, as far as [`prefetch_lines`] is concerned.
const LINE: usize = 64;

/// The start addresses of the cache lines that hold elements `range`
/// (clamped to `len`) of an array of `len` elements of `size` bytes at
/// `addr`.
#[inline]
fn line_starts(
    addr: usize,
    size: usize,
    len: usize,
    range: std::ops::Range<usize>,
) -> std::iter::StepBy<std::ops::Range<usize>> {
    let end = range.end.min(len);
    if range.start >= end || size == 0 {
        return (0..0).step_by(LINE);
    }
    let first = addr + range.start * size;
    let past = addr + end * size;
    ((first & !(LINE - 1))..past).step_by(LINE)
}

#[cfg(all(test, not(loom)))]
mod line_tests {
    use super::{line_starts, LINE};

    /// Every line listed holds a byte of the range, and every byte of the
    /// range lies in a listed line, whatever the array's alignment.
    #[test]
    fn line_starts_cover_exactly_the_range() {
        for addr in [0, 8, 16, 24, 48, 56, 64, 4096 + 40] {
            for size in [8, 16, 24] {
                for len in [0, 1, 5, 13] {
                    for start in 0..=len + 2 {
                        for end in start..=len + 3 {
                            let lines: Vec<usize> =
                                line_starts(addr, size, len, start..end).collect();
                            let bytes = (start * size..end.min(len) * size).map(|b| addr + b);
                            for b in bytes.clone() {
                                assert!(lines.contains(&(b & !(LINE - 1))), "byte {b} uncovered");
                            }
                            for &l in &lines {
                                assert_eq!(l % LINE, 0);
                                assert!(
                                    bytes.clone().any(|b| b / LINE == l / LINE),
                                    "line {l} extra"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(all(test, not(loom), target_os = "linux"))]
mod tests {
    use super::*;

    /// The range and `VmFlags` of the mapping that holds `at`, from
    /// `/proc/self/smaps` (the kernel may have merged it with a neighbour
    /// of the same kind).
    fn vma(at: *mut u8) -> Option<(std::ops::Range<usize>, String)> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut found = None;
        for line in smaps.lines() {
            if let Some(flags) = line.strip_prefix("VmFlags:") {
                if let Some(range) = found.take() {
                    return Some((range, flags.to_string()));
                }
                continue;
            }
            let Some((a, b)) = line
                .split_whitespace()
                .next()
                .and_then(|r| r.split_once('-'))
            else {
                continue;
            };
            let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
            else {
                continue;
            };
            if (a..b).contains(&at.addr()) {
                found = Some(a..b);
            }
        }
        None
    }

    fn advised(flags: &str) -> bool {
        flags.split_whitespace().any(|f| f == "hg")
    }

    /// The cut of an over-sized mapping: aligned, page-aligned pieces that
    /// add up to the mapping, whatever its address and size.
    #[test]
    fn trims_are_aligned_and_add_up() {
        for (page, huge) in [(4096, 2 << 20), (16384, 32 << 20), (65536, 512 << 20)] {
            for p in [0, page, huge - page, huge, 7 * huge + 3 * page] {
                for size in [1, page - 1, page, 4 << 20, (5 << 20) + 1000, huge * 3] {
                    let (head, keep, tail) = map::trim(p, size, page, huge);
                    let mapped = (size + huge).next_multiple_of(page);
                    assert_eq!(head + keep + tail, mapped, "{p} {size}");
                    assert_eq!((p + head) % huge, 0);
                    assert!(keep >= size && keep - size < page);
                    assert!(head < huge && tail >= page);
                    assert!([head, keep, tail].iter().all(|x| x % page == 0));
                }
            }
        }
    }

    /// A mapping for huge pages is its size in pages, aligned, advised for
    /// huge pages (where the kernel has them), and usable; a plain one is
    /// not advised.
    #[test]
    fn table_mappings_for_huge_pages() {
        let thp = std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists();
        // A size that is not a page multiple too (a rebuilt table's byte
        // array need not be one).
        for size in [6 << 20, (5 << 20) + 1000] {
            let p = map::map_table(size, true);
            assert!(!p.is_null());
            assert_eq!(p.addr() % map::huge_page_size(), 0);
            let (range, flags) = vma(p).expect("the mapping is in smaps");
            if thp {
                // Advised, so no unadvised neighbour merged into it (and
                // nothing else in this test binary advises).
                assert!(advised(&flags), "{flags}");
                let keep = size.next_multiple_of(map::page_size());
                assert_eq!(range, p.addr()..p.addr() + keep);
            }
            // SAFETY: our fresh mapping of `size` bytes.
            unsafe {
                p.write(1);
                p.add(size - 1).write(2);
                assert_eq!((p.read(), p.add(size - 1).read()), (1, 2));
                map::unmap(p, size);
            }
        }
        let size = 6 << 20;
        let q = map::map_table(size, false);
        assert!(!q.is_null());
        let (_, flags) = vma(q).expect("the mapping is in smaps");
        assert!(!advised(&flags), "{flags}");
        // SAFETY: our fresh mapping of `size` bytes, unused.
        unsafe { map::unmap(q, size) };
    }
}
