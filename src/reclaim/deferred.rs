//! The loom backend: retired objects are kept until the map is dropped.
//!
//! seize cannot run under loom (its barrier uses `membarrier`), so models
//! run with this reclaimer: it trivially keeps contract 1 (nothing is freed
//! while any operation runs) and lets loom check every other part of the
//! protocol on the real code. Exactly-once retirement (contract 2) is still
//! checked: a double retire frees twice at drop, which the models' drop
//! counters catch.

use std::sync::Mutex;

use super::contract::{Reclaim, ReclaimGuard, Retire};
use crate::sync::{AtomicPtr, Ordering};
// A statistic (`sync/mod.rs`, `stat`).
use crate::sync::stat::AtomicIsize;

type Garbage = Vec<(*mut (), unsafe fn(*mut ()))>;

/// Frees everything retired when dropped.
pub(crate) struct DeferredReclaim {
    garbage: Mutex<Garbage>,
    pending: AtomicIsize,
}

// SAFETY: the raw pointers in `garbage` are owned retired objects, freed
// only by `drop` through `&mut self`; the map's own bounds make K and V
// Send + Sync before a map is shared.
unsafe impl Send for DeferredReclaim {}
// SAFETY: as above; the list is behind a mutex.
unsafe impl Sync for DeferredReclaim {}

unsafe fn free_erased<T: Retire>(ptr: *mut ()) {
    // SAFETY: `ptr` was a `*mut T` retired once.
    unsafe { T::free(ptr.cast()) }
}

impl Reclaim for DeferredReclaim {
    type Guard<'a> = DeferredGuard<'a>;
    type OwnedGuard<'a> = DeferredGuard<'a>;

    fn new() -> Self {
        DeferredReclaim {
            garbage: Mutex::new(Vec::new()),
            pending: AtomicIsize::new(0),
        }
    }

    fn pin(&self) -> DeferredGuard<'_> {
        DeferredGuard { owner: self }
    }

    fn pin_owned(&self) -> DeferredGuard<'_> {
        DeferredGuard { owner: self }
    }

    fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed).max(0) as usize
    }
}

impl Drop for DeferredReclaim {
    fn drop(&mut self) {
        // Unwinding under loom: leave loom's state alone (`sync/mod.rs`).
        if crate::sync::loom_unwinding() {
            return;
        }
        let garbage = std::mem::take(self.garbage.get_mut().unwrap_or_else(|e| e.into_inner()));
        for (ptr, free) in garbage {
            // SAFETY: every entry was retired once and `&mut self` proves no
            // operation is running.
            unsafe { free(ptr) };
        }
    }
}

/// A "pin" of the deferred backend: nothing to do.
pub(crate) struct DeferredGuard<'a> {
    owner: &'a DeferredReclaim,
}

impl ReclaimGuard for DeferredGuard<'_> {
    /// Nothing: this backend frees each object whole.
    #[inline]
    fn before_write(&self) {}

    /// Nothing: this backend frees everything when the map drops.
    fn flush(&self) {}

    fn protect<T>(&self, ptr: &AtomicPtr<T>) -> *mut T {
        // Acquire: pairs with the Release CAS that published the object.
        ptr.load(Ordering::Acquire)
    }

    unsafe fn retire<T: Retire>(&self, ptr: *mut T) {
        self.owner.pending.fetch_add(1, Ordering::Relaxed);
        self.owner
            .garbage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((ptr.cast(), free_erased::<T>));
    }
}
