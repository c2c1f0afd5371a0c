//! Table memory: slot arrays that start zeroed, straight from the allocator.

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

/// A boxed slice of `n` zeroed atomics, from `alloc_zeroed`: large tables
/// come straight from the kernel's zero pages, so an untouched slot costs
/// no resident memory and allocation costs no initialisation pass. Fails
/// instead of aborting, for `try_reserve`.
#[cfg(not(loom))]
pub(crate) fn try_zeroed_slice<T: Zeroable>(n: usize) -> Result<Box<[T]>, TryReserveError> {
    use std::alloc::{alloc_zeroed, Layout};
    let layout = Layout::array::<T>(n).map_err(|_| TryReserveError::CapacityOverflow)?;
    if layout.size() == 0 {
        return Ok(Vec::new().into_boxed_slice());
    }
    // SAFETY: the layout has a non-zero size.
    let ptr = unsafe { alloc_zeroed(layout) }.cast::<T>();
    if ptr.is_null() {
        return Err(TryReserveError::AllocError { layout });
    }
    // SAFETY: `ptr` is a fresh allocation of `n` zeroed `T`s with the layout
    // `Box<[T]>` uses, and zeroes are valid `T`s (`Zeroable`).
    Ok(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, n)) })
}

/// Under loom, atomics are not plain memory: build them one by one (and
/// allocation is not modelled as failing).
#[cfg(loom)]
pub(crate) fn try_zeroed_slice<T: LoomZero>(n: usize) -> Result<Box<[T]>, TryReserveError> {
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
