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
// integer (`portable_atomic::AtomicU128` documents the same for `u128`);
// all-zero is 0.
#[cfg(not(loom))]
unsafe impl Zeroable for crate::sync::AtomicU8 {}
// SAFETY: as above.
#[cfg(not(loom))]
unsafe impl Zeroable for crate::sync::AtomicU128 {}

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
/// when [`set_huge_pages`] asked for them: two huge pages, so that a table
/// whose first and last bytes are not 2 MiB-aligned still has one.
#[cfg(not(loom))]
const HUGE_FROM: usize = 4 << 20;

/// The size of a transparent huge page on x86_64 and AArch64 with 4 KiB
/// pages: mapped tables that may use them are aligned to it.
#[cfg(all(not(loom), target_os = "linux"))]
const HUGE_PAGE: usize = 2 << 20;

/// Whether tables are mapped for huge pages ([`set_huge_pages`]). Relaxed
/// throughout: a setting read once per table allocation, which orders
/// nothing else.
static HUGE_PAGES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Backs the tables that maps allocate from now on, of 4 MiB and more, with
/// transparent huge pages (Linux: `madvise(MADV_HUGEPAGE)` on a 2 MiB-aligned
/// mapping), or stops doing so. Off by default. Process-wide, for every map,
/// like the kernel policy it asks for; tables already allocated keep the
/// pages they have. Elsewhere than Linux (and under loom) it only records the
/// setting.
///
/// **What it buys.** A large table is read at random: with 4 KiB pages
/// nearly every operation on a table beyond the TLB's reach (a few MiB)
/// also misses the TLB and walks the page tables, twice over in a virtual
/// machine. With 2 MiB pages a 128 MiB table needs 64 TLB entries. On the
/// 2-core virtual machine of `docs/benchmarks.md` ("Huge pages"), 2
/// threads, medians: a read-heavy `WordMap`, +17 % and +32 % operations per
/// second in two sessions; growing from empty to 4M keys, +19 % (`HashMap`)
/// and +24 % (`WordMap`), the median insert 12–16 % faster and p99 5–12 %
/// lower.
///
/// **What it costs, and why it is off by default.** The kernel backs a huge
/// page all at once: a map's memory step (which faults in its next table
/// ahead of a resize) then faults 2 MiB in one call instead of 1 MiB in 256
/// pages, and where the kernel's `defrag` setting for transparent huge pages
/// is `madvise` or `always` (common), it may first compact memory to find a
/// free huge page: on a long-running, fragmented machine that can stall the
/// one write that takes the fault for milliseconds, the latency spikes for
/// which databases advise turning huge pages off. On a virtual machine whose
/// memory the host has not backed yet, a huge page's first fault measured
/// 3–8 ms here, and the same growth's slowest insert rose from 3–4 ms to
/// 9–11 ms in two runs of four. A table's resident memory also grows in
/// 2 MiB units while it is first written. Turn it on for large maps read and written at
/// random, where throughput matters more than the worst single operation.
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

/// Whether tables allocated now are backed by huge pages: see
/// [`set_huge_pages`].
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
            // it and is being dropped: unmapped once, unused.
            unsafe { map::unmap(self.ptr.as_ptr().cast(), layout.size()) };
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
    let bytes = std::mem::size_of_val::<[T]>(array);
    let Some(start) = k
        .checked_mul(STEP_BYTES)
        .filter(|&s| s < bytes && array.mapped)
    else {
        return;
    };
    let len = STEP_BYTES.min(bytes - start);
    // SAFETY: `start < bytes`, so the address stays inside the array.
    let at = unsafe { array.ptr.as_ptr().cast::<u8>().add(start) };
    map::populate(at, len);
}

/// Under loom there is no memory to fault in.
#[cfg(loom)]
pub(crate) fn steps<T>(_: &Zeroed<T>) -> usize {
    0
}

/// Under loom there is no memory to fault in.
#[cfg(loom)]
pub(crate) fn populate<T>(_: &Zeroed<T>, _: usize) {}

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
        (map::map_table(layout.size(), huge).cast::<T>(), true)
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
        // Over-map by a huge page, keep the aligned `size` bytes inside and
        // unmap the rest, so the result is one mapping of exactly `size`
        // bytes (what `unmap` later gets), every 2 MiB of it alignable.
        let Some(over) = size.checked_add(super::HUGE_PAGE) else {
            return std::ptr::null_mut();
        };
        let p = map(over);
        if p.is_null() {
            return p;
        }
        // The kernel maps whole pages: `over` rounded up to one. Keep the
        // pages that hold `size` bytes from the first aligned address.
        let page = page_size().max(1);
        let (mapped, keep) = (over.next_multiple_of(page), size.next_multiple_of(page));
        let head = p.align_offset(super::HUGE_PAGE);
        let at = p.wrapping_add(head);
        let tail = mapped - head - keep;
        // SAFETY: the head `[p, at)` and the tail `[at + keep, p + mapped)`
        // are parts of the mapping just made, unused, and page-aligned:
        // `p`, the huge page and `keep` are page multiples, so `head` is,
        // and `tail` (at least a page: `head` is under a huge page, `keep`
        // under `size` plus a page) then is too.
        unsafe {
            if head > 0 {
                unmap(p, head);
            }
            if tail > 0 {
                unmap(at.wrapping_add(keep), tail);
            }
        }
        // SAFETY: `[at, at + size)` is our mapping; the advice changes no
        // byte. A hint: an error (no transparent huge pages) is ignored.
        let _ = unsafe { libc::madvise(at.cast(), size, libc::MADV_HUGEPAGE) };
        at
    }

    /// The system's page size, read once.
    pub(crate) fn page_size() -> usize {
        static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        *PAGE.get_or_init(|| {
            // SAFETY: `sysconf` has no preconditions.
            let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            usize::try_from(page).unwrap_or(0)
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

    /// Gives the pages of `len` bytes at `at` (page-aligned) back to the
    /// kernel, keeping the mapping: they read as zeroes afterwards and
    /// cost no resident memory until written again.
    ///
    /// # Safety
    ///
    /// The range lies inside one live mapping made by [`map`], and nothing
    /// in it is in use (its bytes are lost).
    pub(crate) unsafe fn discard(at: *mut u8, len: usize) {
        // SAFETY: the caller's: ours, mapped, unused.
        let r = unsafe { libc::madvise(at.cast(), len, libc::MADV_DONTNEED) };
        debug_assert_eq!(r, 0, "madvise(MADV_DONTNEED) failed");
    }

    /// Unmaps what [`map`] mapped.
    ///
    /// # Safety
    ///
    /// `ptr` and `size` are those of one mapping made by [`map`] (or a
    /// part of one, page-aligned), nothing in it is in use, and it is
    /// unmapped once.
    pub(crate) unsafe fn unmap(ptr: *mut u8, size: usize) {
        // SAFETY: the caller's.
        let r = unsafe { libc::munmap(ptr.cast(), size) };
        debug_assert_eq!(r, 0, "munmap failed");
    }
}

/// No direct mappings elsewhere: every table (and entry span) comes from
/// the allocator.
#[cfg(all(not(loom), not(target_os = "linux")))]
pub(crate) mod map {
    pub(crate) const AVAILABLE: bool = false;
    pub(crate) fn map(_: usize) -> *mut u8 {
        std::ptr::null_mut()
    }
    pub(crate) fn map_table(_: usize, _: bool) -> *mut u8 {
        std::ptr::null_mut()
    }
    pub(crate) unsafe fn unmap(_: *mut u8, _: usize) {
        unreachable!("nothing is mapped on this platform")
    }
    pub(crate) unsafe fn discard(_: *mut u8, _: usize) {
        unreachable!("nothing is mapped on this platform")
    }
    pub(crate) fn populate(_: *mut u8, _: usize) {
        unreachable!("nothing is mapped on this platform")
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
impl<T> LoomZero for AtomicPtr<T> {
    fn zero() -> Self {
        AtomicPtr::new(std::ptr::null_mut())
    }
}

/// Asks the CPU to start loading the line holding `p`: a hint that never
/// faults, whatever the address (a stale one included), and reads nothing.
/// A no-op off x86_64 and under loom.
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
/// to the array): ahead of a migration's copies into a successor's slots.
#[inline]
pub(crate) fn prefetch_lines<T>(array: &[T], range: std::ops::Range<usize>) {
    let per_line = (64 / std::mem::size_of::<T>().max(1)).max(1);
    let end = range.end.min(array.len());
    let mut i = range.start - range.start % per_line;
    while i < end {
        prefetch(array[i..].as_ptr());
        i += per_line;
    }
}

#[cfg(all(test, not(loom), target_os = "linux"))]
mod tests {
    use super::*;

    /// The `VmFlags` of the mapping that starts at `at`, from
    /// `/proc/self/smaps`.
    fn vm_flags(at: *mut u8) -> Option<String> {
        vma(at).map(|(_, flags)| flags)
    }

    /// The length and `VmFlags` of the mapping that starts at `at`, from
    /// `/proc/self/smaps`.
    fn vma(at: *mut u8) -> Option<(usize, String)> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let start = format!("{:x}-", at.addr());
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&start));
        let range = lines.next()?.split_whitespace().next()?;
        let (a, b) = range.split_once('-')?;
        let len = usize::from_str_radix(b, 16).ok()? - usize::from_str_radix(a, 16).ok()?;
        let flags = lines.find(|l| l.starts_with("VmFlags:"))?;
        Some((len, flags["VmFlags:".len()..].to_string()))
    }

    /// A huge table mapping is exactly its size, 2 MiB-aligned, advised
    /// for huge pages (where the kernel has them), and usable; a plain one
    /// is not advised.
    #[test]
    fn table_mappings_for_huge_pages() {
        // A size that is not a page multiple (a rebuilt table's byte array
        // need not be): the trimmed tail starts at the next page.
        for size in [6 << 20, (5 << 20) + 1000] {
            huge_mapping(size);
        }
        let size = 6 << 20;
        let q = map::map_table(size, false);
        assert!(!q.is_null());
        let flags = vm_flags(q).expect("the mapping is in smaps");
        assert!(!flags.split_whitespace().any(|f| f == "hg"), "{flags}");
        // SAFETY: our fresh mapping of `size` bytes, unused.
        unsafe { map::unmap(q, size) };
    }

    /// Maps `size` bytes for huge pages, checks and unmaps them.
    fn huge_mapping(size: usize) {
        let p = map::map_table(size, true);
        assert!(!p.is_null());
        assert_eq!(p.addr() % HUGE_PAGE, 0);
        let (len, flags) = vma(p).expect("the mapping is in smaps");
        // Trimmed to its pages (no other mapping here is advised for huge
        // pages, so the kernel merges none into it).
        let keep = size.next_multiple_of(map::page_size());
        assert_eq!(len, keep);
        let thp = std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists();
        if thp {
            assert!(flags.split_whitespace().any(|f| f == "hg"), "{flags}");
        }
        // SAFETY: our fresh mapping of `size` bytes.
        unsafe {
            p.write(1);
            p.add(size - 1).write(2);
            assert_eq!((p.read(), p.add(size - 1).read()), (1, 2));
            map::unmap(p, size);
        }
    }
}
