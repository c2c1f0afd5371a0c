//! The `crossbeam-epoch` backend (cargo feature `crossbeam-epoch`).
//!
//! Each map owns its own [`Collector`], so deferred destructors of `K` and
//! `V` (which need not be `'static`) run before the map's drop returns,
//! never after.
//!
//! **Participants are cached per thread.** Registering a participant
//! (`Collector::register`) allocates crossbeam's `Local`, a record with an
//! inline bag of 64 deferred calls, links it into the collector's list, and
//! pushes its bag to the global queue when it goes. Doing that for every
//! pin made this backend about 40× slower than the others
//! (docs/benchmarks.md, "The crossbeam-epoch backend"). Each thread instead
//! keeps its participants in the last [`CACHED`] collectors it pinned
//! (`PARTICIPANTS`, most recent first) and pins those. A participant that
//! outlives its guards brings three obligations, each kept here:
//!
//! 1. **Its bag outlives the guard.** Garbage left in a cached participant's
//!    bag would wait for that thread's later pins of the map, or run when
//!    the thread exits, possibly after the map (and the `K` and `V` its
//!    frees drop) is gone. A guard that retired therefore flushes its bag to
//!    the collector's queue when it drops ([`EpochGuard`]'s `Drop`). So once
//!    a map's guards are gone, no participant's bag holds its garbage.
//! 2. **It keeps the collector alive** (the `Collector` is a shared
//!    pointer), so the map's drop cannot leave the queue to the collector's
//!    own drop. It drains the queue itself ([`EpochReclaim`]'s `Drop`). No
//!    guard of the map lives then (every guard borrows it), so no
//!    participant is pinned, each round advances the epoch, and every
//!    queued bag expires and runs within a few rounds.
//! 3. **Pinning and unregistering may run frees.** crossbeam collects
//!    garbage every 128 pins, in a flush, and when a participant goes (it
//!    pins once more). A free drops a user's `K` or `V`, whose `Drop` may
//!    pin again, this map or another. So the cache is borrowed only to find
//!    or insert a handle (an `Rc`, cloned out), never while pinning or
//!    releasing one.
//!
//! Owned guards (`pin_owned`), which may move between threads, still
//! register a participant of their own, which goes with the guard.

use std::cell::Cell;
#[cfg(not(loom))]
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use crossbeam_epoch::{Collector, Guard, LocalHandle};

use super::contract::{Reclaim, ReclaimGuard, Retire};
use crate::stats::Counter;
use crate::sync::{AtomicPtr, Ordering};

/// How many collectors' participants a thread keeps. A thread that pins
/// more maps than this in turn registers anew for the least recent one.
#[cfg(not(loom))]
const CACHED: usize = 8;

/// A drain's rounds in a row that free nothing before it stops: only a
/// panicking `Drop` (which loses the rest of its bag for good, as in
/// crossbeam) or a guard leaked with `mem::forget` (which holds every later
/// free back) leaves garbage that no round can free.
const DRAIN_IDLE_ROUNDS: u32 = 256;

/// Whether threads keep their participants. Not under loom
/// (`cfg(crossbeam_loom)`): there every pin registers, as an owned guard's
/// does, and the collector's drop runs what is queued. The models check the
/// map's protocols against crossbeam's real reclamation; a cache would
/// multiply their executions (a drain's rounds against every exiting
/// thread's release) and is a sequential structure of one thread, which
/// `tests/reclaim.rs` checks from outside.
const CACHE: bool = !cfg!(loom);

#[cfg(not(loom))]
std::thread_local! {
    /// This thread's participants, most recently pinned first.
    static PARTICIPANTS: RefCell<Vec<Rc<LocalHandle>>> = const { RefCell::new(Vec::new()) };
}

/// This thread's participant in `collector`, registered on its first pin
/// and kept for the next ones. `None` while the thread's cache is gone (in
/// a thread-local destructor at thread exit) or, which no path here does,
/// borrowed further up the stack: the caller then registers a participant
/// for one pin, as an owned guard does.
#[cfg(not(loom))]
fn cached_participant(collector: &Collector) -> Option<Rc<LocalHandle>> {
    let mut evicted = None;
    let handle = PARTICIPANTS
        .try_with(|cache| {
            let mut cache = cache.try_borrow_mut().ok()?;
            let handle = match cache.iter().position(|h| h.collector() == collector) {
                Some(0) => Rc::clone(&cache[0]),
                Some(i) => {
                    let handle = cache.remove(i);
                    cache.insert(0, Rc::clone(&handle));
                    handle
                }
                None => {
                    // `register` runs no user code.
                    let handle = Rc::new(collector.register());
                    if cache.len() == CACHED {
                        evicted = cache.pop();
                    }
                    cache.insert(0, Rc::clone(&handle));
                    handle
                }
            };
            Some(handle)
        })
        .ok()
        .flatten();
    // Released outside the borrow: a participant that goes pins once more
    // and may collect, running frees (obligation 3). Its bag holds none of
    // any map's garbage (obligation 1).
    drop(evicted);
    handle
}

/// Under loom threads keep no participants ([`CACHE`]).
#[cfg(loom)]
fn cached_participant(_: &Collector) -> Option<Rc<LocalHandle>> {
    None
}

/// The crossbeam-epoch backend.
pub(crate) struct EpochReclaim {
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
        let guard = match cached_participant(&self.collector) {
            // The `Rc` may go at once: the guard keeps the participant alive.
            Some(participant) => participant.pin(),
            None => self.collector.register().pin(),
        };
        EpochGuard::new(guard, &self.pending)
    }

    fn pin_owned(&self) -> EpochOwnedGuard<'_> {
        // A participant for this guard alone (see `EpochOwnedGuard`'s
        // `Send`); it goes, pushing its bag, when the guard drops.
        EpochOwnedGuard(EpochGuard::new(
            self.collector.register().pin(),
            &self.pending,
        ))
    }

    fn pending(&self) -> usize {
        // A gauge: the sum of its relaxed shards.
        self.pending.sum()
    }
}

impl Drop for EpochReclaim {
    /// Runs every deferred free still queued (obligation 2 in the module
    /// docs): the collector itself may live on in other threads' caches.
    fn drop(&mut self) {
        if !CACHE {
            // Every participant went with its guard: the collector's own
            // drop, right after this, runs what is queued.
            return;
        }
        let participant = self.collector.register();
        let mut idle = 0;
        let mut first_panic = None;
        // `pending` counts the frees not yet run; every change to it
        // happened before this drop (the guards that retired borrowed the
        // map) or on this thread, inside the rounds below.
        loop {
            let before = self.pending.sum();
            if before == 0 {
                break;
            }
            // A pin and a flush: the flush advances the epoch (no other
            // participant is pinned) and runs up to eight expired bags.
            let round = panic::catch_unwind(AssertUnwindSafe(|| participant.pin().flush()));
            if let Err(payload) = round {
                first_panic.get_or_insert(payload);
            }
            if self.pending.sum() < before {
                idle = 0;
            } else {
                idle += 1;
                if idle == DRAIN_IDLE_ROUNDS {
                    break;
                }
                // Another thread may be releasing its participant in this
                // collector (the list walk then stalls): let it finish.
                std::thread::yield_now();
            }
        }
        drop(participant);
        if let Some(payload) = first_panic {
            if !std::thread::panicking() {
                panic::resume_unwind(payload);
            }
        }
    }
}

/// A pinned crossbeam-epoch guard.
pub(crate) struct EpochGuard<'a> {
    guard: Guard,
    pending: &'a Counter,
    /// Whether this guard put garbage in its participant's bag since its
    /// last flush (obligation 1 in the module docs).
    retired: Cell<bool>,
}

impl<'a> EpochGuard<'a> {
    fn new(guard: Guard, pending: &'a Counter) -> Self {
        EpochGuard {
            guard,
            pending,
            retired: Cell::new(false),
        }
    }
}

impl Drop for EpochGuard<'_> {
    /// Hands what this guard retired to the collector's queue (obligation 1
    /// in the module docs), still pinned: the `Guard` field drops after.
    fn drop(&mut self) {
        if !CACHE || !self.retired.get() {
            return;
        }
        if std::thread::panicking() {
            // A `Drop` that a free runs may panic; out of a drop during
            // unwinding that would abort. Caught, it loses the rest of that
            // bag (freed never, like any bag a panic interrupts).
            let _ = panic::catch_unwind(AssertUnwindSafe(|| self.guard.flush()));
        } else {
            self.guard.flush();
        }
    }
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
        // Set before the call can panic-free: the bag holds the free from
        // here on, and this guard's drop must hand it over.
        self.retired.set(true);
        // SAFETY: the closure runs once no pinned participant can hold `ptr`,
        // and before the map's drop returns (obligations 1 and 2 in the
        // module docs: this guard's drop flushes it to the queue, the
        // backend's drop drains the queue), while the boxed `pending`
        // counter and the `K` and `V` that `T::free` drops are still alive.
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
        // Move the participant's bag to the global queue, where this or any
        // thread's next flush or collecting pin frees it once the epoch has
        // advanced. Cleared first: a free that panics in the flush leaves
        // the bag already pushed.
        self.retired.set(false);
        self.guard.flush();
    }
}

/// An owned crossbeam-epoch guard: the guard of a participant registered for
/// it alone, which may move between threads.
pub(crate) struct EpochOwnedGuard<'a>(EpochGuard<'a>);

// SAFETY: crossbeam's `Guard` is `!Send` because a participant's non-atomic
// state (its pin count, its local bag) must only be touched by one thread at
// a time. This guard's participant was registered by `pin_owned` for this
// guard alone (its handle is already dropped, and it is in no thread's
// cache), so nothing else ever touches that state; the guard is not `Sync`,
// so only its current owner uses it; and moving it to another thread
// happens-before that thread's first use. (`retired` is a `Cell`, `Send`.)
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
