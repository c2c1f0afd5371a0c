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
            map::unmap(self.ptr.as_ptr().cast(), layout.size());
        } else {
            // SAFETY: allocated by `alloc_zeroed` with this very layout.
            unsafe { std::alloc::dealloc(self.ptr.as_ptr().cast(), layout) };
        }
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
        (map::map(layout.size()).cast::<T>(), true)
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
/// the kernel by `munmap`.
#[cfg(all(not(loom), target_os = "linux"))]
mod map {
    pub(super) const AVAILABLE: bool = true;

    /// Maps `size` bytes of zero pages; null if the kernel refuses.
    pub(super) fn map(size: usize) -> *mut u8 {
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

    /// Unmaps what [`map`] mapped.
    pub(super) fn unmap(ptr: *mut u8, size: usize) {
        // SAFETY: `ptr` and `size` are those of one mapping made by `map`,
        // owned by the `Zeroed` being dropped, unmapped once.
        let r = unsafe { libc::munmap(ptr.cast(), size) };
        debug_assert_eq!(r, 0, "munmap failed");
    }
}

/// No direct mappings elsewhere: every table comes from the allocator.
#[cfg(all(not(loom), not(target_os = "linux")))]
mod map {
    pub(super) const AVAILABLE: bool = false;
    pub(super) fn map(_: usize) -> *mut u8 {
        std::ptr::null_mut()
    }
    pub(super) fn unmap(_: *mut u8, _: usize) {
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
