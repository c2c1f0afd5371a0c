//! The `crossbeam-epoch` backend (cargo feature `crossbeam-epoch`).
//!
//! Each map owns its own [`Collector`], so deferred destructors of `K` and
//! `V` (which need not be `'static`) run at the latest when the map drops,
//! never after. The price is that a pin registers a fresh participant with
//! that collector (`register().pin()`, one allocation); the default
//! (asymmetric epochs) and `seize` backends have no such cost.

use crossbeam_epoch::{Collector, Guard};

use super::contract::{Reclaim, ReclaimGuard, Retire};
use crate::stats::Counter;
use crate::sync::{AtomicPtr, Ordering};

/// The crossbeam-epoch backend.
pub(crate) struct EpochReclaim {
    // Declared first: dropped (running every deferred free) while `pending`
    // is still alive.
    collector: Collector,
    pending: Box<Counter>,
}

impl Reclaim for EpochReclaim {
    type Guard<'a> = EpochGuard<'a>;
    type OwnedGuard<'a> = EpochOwnedGuard<'a>;

    fn new() -> Self {
        EpochReclaim {
            collector: Collector::new(),
            pending: Box::new(Counter::new()),
        }
    }

    fn pin(&self) -> EpochGuard<'_> {
        // The handle may go at once: the guard keeps the participant alive.
        EpochGuard {
            guard: self.collector.register().pin(),
            pending: &self.pending,
        }
    }

    fn pin_owned(&self) -> EpochOwnedGuard<'_> {
        EpochOwnedGuard(self.pin())
    }

    fn pending(&self) -> usize {
        // A gauge: the sum of its relaxed shards.
        self.pending.sum()
    }
}

/// A pinned crossbeam-epoch guard.
pub(crate) struct EpochGuard<'a> {
    guard: Guard,
    pending: &'a Counter,
}

struct SendPtr<T>(*mut T);

impl ReclaimGuard for EpochGuard<'_> {
    /// Nothing: this backend frees each object whole.
    #[inline]
    fn before_write(&self) {}

    /// The calling thread's record: per-party counters (`stats.rs`).
    #[inline]
    fn slot(&self) -> Option<usize> {
        super::thread_record()
    }

    #[inline]
    fn protect<T>(&self, ptr: &AtomicPtr<T>) -> *mut T {
        // Acquire: synchronises with the Release CAS that published the
        // object; being pinned keeps it alive.
        ptr.load(Ordering::Acquire)
    }

    unsafe fn retire<T: Retire>(&self, ptr: *mut T) {
        // A striped gauge: writers on different threads touch different
        // cache lines, so retiring adds no shared write to the hot path.
        self.pending.add(1);
        let pending: *const Counter = self.pending;
        let ptr = SendPtr(ptr);
        // SAFETY: the closure runs once no pinned participant can hold `ptr`,
        // at the latest when the collector drops inside the map's drop,
        // while the boxed `pending` counter is still alive.
        unsafe {
            self.guard.defer_unchecked(move || {
                let ptr = ptr;
                (*pending).add(-1);
                T::free(ptr.0);
            })
        };
    }

    unsafe fn retire_now<T: Retire>(&self, ptr: *mut T) {
        // SAFETY: as for `retire`.
        unsafe { self.retire(ptr) };
        self.flush();
    }

    fn flush(&self) {
        // Move the thread-local bag to the global queue, where any thread's
        // next pin can collect it once the epoch has advanced.
        self.guard.flush();
    }
}

/// An owned crossbeam-epoch guard: the guard of a participant registered for
/// it alone, which may move between threads.
pub(crate) struct EpochOwnedGuard<'a>(EpochGuard<'a>);

// SAFETY: crossbeam's `Guard` is `!Send` because a participant's non-atomic
// state (its pin count, its local bag) must only be touched by one thread at
// a time. This guard's participant was registered by `pin` for this guard
// alone (its handle is already dropped), so nothing else ever touches that
// state; the guard is not `Sync`, so only its current owner uses it; and
// moving it to another thread happens-before that thread's first use.
unsafe impl Send for EpochOwnedGuard<'_> {}

impl ReclaimGuard for EpochOwnedGuard<'_> {
    /// Nothing: this backend frees each object whole.
    #[inline]
    fn before_write(&self) {}

    /// The calling thread's record: per-party counters (`stats.rs`).
    #[inline]
    fn slot(&self) -> Option<usize> {
        super::thread_record()
    }

    #[inline]
    fn protect<T>(&self, ptr: &AtomicPtr<T>) -> *mut T {
        self.0.protect(ptr)
    }

    unsafe fn retire<T: Retire>(&self, ptr: *mut T) {
        // SAFETY: the caller's obligations are `retire`'s.
        unsafe { self.0.retire(ptr) }
    }

    unsafe fn retire_now<T: Retire>(&self, ptr: *mut T) {
        // SAFETY: the caller's obligations are `retire_now`'s.
        unsafe { self.0.retire_now(ptr) }
    }

    fn flush(&self) {
        self.0.flush();
    }
}
