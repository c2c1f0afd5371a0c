//! Retired objects whose grace period has ended, waiting for their map to
//! free them in its own code: the crossbeam-epoch and seize backends.
//!
//! Their reclaimers run callbacks where a user's `Drop` must not run, or
//! must not nest: crossbeam runs deferred calls inside any thread's collect
//! (another thread's pin, a participant released at thread exit), and seize
//! runs its reclaim callbacks inside its own calls, nested once more for
//! each freed value whose `Drop` writes its map. So a callback hands its
//! object to the map's [`Ready`] stack instead (crossbeam's always, seize's
//! when frees are already [`MAX_FREEING`] deep on the thread), and the map
//! frees what is ready as its handles drop (after the handle's unpin) and
//! in its own drop.
//!
//! One nesting policy: frees nest at most [`MAX_FREEING`] deep on a thread
//! ([`Depth`]); past it, what is ready waits for a later handle drop, or
//! the map's drop, which frees everything whatever the depth (its nesting
//! is bounded by what the user's values own, not by a chain of writes).

#[cfg(not(loom))]
use std::cell::Cell;

use crossbeam_utils::CachePadded;

use super::contract::Retire;
use super::stack::{Stack, Taken};
use crate::stats::Counter;
use crate::sync::Ordering::{Acquire, Relaxed, Release};

/// How deep frees may nest on one thread ([`Depth`]).
const MAX_FREEING: u32 = 2;

#[cfg(not(loom))]
std::thread_local! {
    /// How many frees this thread is inside (through [`Depth`]).
    static FREEING: Cell<u32> = const { Cell::new(0) };
}

/// One level of freeing on this thread, left on drop (also when a `Drop`
/// panics).
pub(crate) struct Depth(bool);

impl Depth {
    /// Enters a level (a no-op where the count cannot be reached: a
    /// thread-local destructor on targets that destroy the count).
    #[cfg(not(loom))]
    pub(crate) fn enter() -> Depth {
        Depth(FREEING.try_with(|d| d.set(d.get() + 1)).is_ok())
    }

    /// Whether this thread is [`MAX_FREEING`] frees deep already.
    #[cfg(not(loom))]
    pub(crate) fn too_deep() -> bool {
        FREEING
            .try_with(|d| d.get() >= MAX_FREEING)
            .unwrap_or(false)
    }

    /// Under loom no depth is counted (loom runs its threads on one OS
    /// thread, which would share one count): frees never wait for depth,
    /// and the models' values nest none.
    #[cfg(loom)]
    pub(crate) fn enter() -> Depth {
        Depth(false)
    }

    /// Under loom: never (see `enter`).
    #[cfg(loom)]
    pub(crate) fn too_deep() -> bool {
        let _ = MAX_FREEING;
        false
    }
}

impl Drop for Depth {
    fn drop(&mut self) {
        #[cfg(loom)]
        let _ = self.0;
        #[cfg(not(loom))]
        if self.0 {
            let _ = FREEING.try_with(|d| d.set(d.get() - 1));
        }
    }
}

/// A retired object whose grace period has ended, for its map to free.
pub(crate) struct Freeable {
    ptr: *mut (),
    free: unsafe fn(*mut ()),
}

// SAFETY: a `Freeable` is the sole claim on a retired object that no thread
// can reach any more; whichever thread takes it off a `Ready` frees it,
// once. The objects are the generic map's entries and tables, which hold
// `K` and `V`, and the map is `Sync` (shared between threads, which is when
// a `Freeable` changes threads) only for `K: Send` and `V: Send`
// (`raw/mod.rs`).
unsafe impl Send for Freeable {}

impl Freeable {
    /// The claim on `ptr`, to be freed with `T::free`.
    pub(crate) fn of<T: Retire>(ptr: *mut T) -> Freeable {
        Freeable {
            ptr: ptr.cast(),
            free: free_as::<T>,
        }
    }
}

/// `T::free`, type-erased for a [`Freeable`].
///
/// # Safety
///
/// As for [`Retire::free`], with `ptr` a `*mut T`.
unsafe fn free_as<T: Retire>(ptr: *mut ()) {
    // SAFETY: the caller's obligations are `free`'s.
    unsafe { T::free(ptr.cast::<T>()) }
}

/// A map's retired objects not yet freed: a gauge of them all, and the
/// stack of those ready for the map to free.
pub(crate) struct Ready {
    /// On a cache line of its own: every handle drop of the map loads its
    /// head, where every retirement writes the gauge.
    stack: CachePadded<Stack<Freeable>>,
    /// Objects retired and not yet freed (the backend's `pending`).
    pending: Counter,
}

impl Ready {
    pub(crate) fn new() -> Ready {
        Ready {
            stack: CachePadded::new(Stack::new()),
            pending: Counter::new(),
        }
    }

    /// Counts an object retired.
    #[inline]
    pub(crate) fn retired(&self) {
        // A striped gauge (relaxed shards); nothing synchronises through it.
        self.pending.add(1);
    }

    /// Counts an object the reclaimer freed itself, not through the stack.
    #[inline]
    pub(crate) fn freed(&self) {
        self.pending.add(-1);
    }

    /// Objects retired and not yet freed (a gauge).
    pub(crate) fn pending(&self) -> usize {
        self.pending.sum()
    }

    /// Hands an object over; a later [`free`](Ready::free) frees it.
    pub(crate) fn push(&self, object: Freeable) {
        // Release: the taker (Acquire, in `free`) frees after this, and
        // after every use of the object that happened before the push
        // (the reclaimer ordered the readers' uses before its callback).
        self.stack.push(object, Release);
    }

    /// Whether anything looked ready (a hint: `free` is what synchronises).
    #[inline]
    pub(crate) fn looks_empty(&self) -> bool {
        self.stack.is_empty(Relaxed)
    }

    /// Frees what is ready, in the calling thread, unless this thread is
    /// already [`MAX_FREEING`] frees deep and not `forced` (a map's drop
    /// forces: it must free everything before it returns). A `Drop` that
    /// panics unwinds out of here; the objects after it go back on the
    /// stack.
    pub(crate) fn free(&self, forced: bool) {
        if !forced && Depth::too_deep() {
            return;
        }
        let _depth = Depth::enter();
        /// Puts what is left of a take back, also when a free panics.
        struct Rest<'a> {
            taken: Taken<Freeable>,
            ready: &'a Ready,
        }
        impl Drop for Rest<'_> {
            fn drop(&mut self) {
                for object in self.taken.by_ref() {
                    self.ready.push(object);
                }
            }
        }
        loop {
            // Acquire: pairs with the pushes (Release), so the objects' last
            // uses happen before their frees.
            let mut rest = Rest {
                taken: self.stack.take_all(Acquire),
                ready: self,
            };
            let mut any = false;
            for object in rest.taken.by_ref() {
                any = true;
                // Counted first: a `Drop` that panics must not leave it.
                self.freed();
                // SAFETY: the reclaimer handed the object over once its
                // grace period ended (no thread can reach it), and this take
                // made it ours alone: freed once, here.
                unsafe { (object.free)(object.ptr) };
            }
            // Frees may make more ready (a `Drop` that writes the map);
            // a map's drop frees those too, a handle leaves them.
            if !any || !forced {
                return;
            }
        }
    }
}
