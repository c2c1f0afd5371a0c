//! The `crossbeam-epoch` backend (cargo feature `crossbeam-epoch`).
//!
//! Each map owns its own [`Collector`], so that `K` and `V` need not be
//! `'static`: every object the map retires is freed before the map's drop
//! returns, never after, and never by code outside the map.
//!
//! **Participants are cached per thread.** Registering a participant
//! (`Collector::register`) allocates crossbeam's `Local`, a record with an
//! inline bag of 64 deferred calls, links it into the collector's list, and
//! pushes its bag to the global queue when it goes. Doing that for every
//! pin made this backend 4–40× slower than the default one
//! (docs/benchmarks.md, "The crossbeam-epoch backend"). Each thread instead
//! keeps its participants in the last [`CACHED`] collectors it pinned
//! (`PARTICIPANTS`, most recent first) and pins those. A participant that
//! outlives its guards, in a collector that outlives its map, brings four
//! obligations, each kept here:
//!
//! 1. **Its bag outlives the guard.** Garbage left in a cached participant's
//!    bag would wait for that thread's later pins of the map, or its exit.
//!    So a guard that retired flushes its bag to the collector's queue when
//!    it drops ([`EpochGuard`]'s `Drop`): once a map's guards are gone, no
//!    participant's bag holds its garbage.
//! 2. **Crossbeam runs deferred calls on any thread, at any time** a
//!    participant of the collector collects: in a pin (one in 128), a
//!    flush, and when a participant goes (evicted, or at its thread's exit,
//!    inside a thread-local destructor, which for scoped threads may run
//!    after the scope has returned). So a deferred call frees nothing: it
//!    moves the object to the map's `ready` stack ([`Frees`], `ready.rs`),
//!    and the map frees it, in its own code, as a guard of the map drops
//!    (unpinned first, at most two frees deep) or in the map's drop. No
//!    user `Drop` runs inside crossbeam.
//! 3. **The collector outlives the map** (cached participants hold it), so
//!    the map's drop cannot leave the queue to the collector's own drop. It
//!    drains it ([`EpochReclaim`]'s `Drop`): pins and flushes until every
//!    deferred call of the map has run (`Frees::queued`), which no guard of
//!    the map holds back (each borrows the map). If one never runs (a
//!    guard leaked with `mem::forget`, or a participant stalled elsewhere
//!    past [`DRAIN_PATIENCE`]), the map leaks its [`Frees`]: a call that
//!    runs later moves its object onto a stack nobody frees.
//! 4. **Pinning and releasing run deferred calls**, so the cache is
//!    borrowed only to find or insert a handle (an `Rc`, cloned out), never
//!    while pinning or releasing one.
//!
//! Owned guards (`pin_owned`), which may move between threads, still
//! register a participant of their own, which goes with the guard.

use std::cell::Cell;
#[cfg(not(loom))]
use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crossbeam_epoch::{Collector, Guard, LocalHandle};

use super::contract::{Reclaim, ReclaimGuard, Retire};
use super::ready::{Freeable, Ready};
use crate::sync::{AtomicPtr, AtomicUsize, Ordering};
use Ordering::{Acquire, Relaxed, Release};

/// How many collectors' participants a thread keeps. A thread that pins
/// more maps than this in turn registers anew for the least recent one.
#[cfg(not(loom))]
const CACHED: usize = 8;

/// Whether threads keep their participants. Not under loom
/// (`cfg(crossbeam_loom)`): there every pin registers, as an owned guard's
/// does, and the collector's drop in the map's drop runs what is queued.
/// The models check the map's protocols against crossbeam's real
/// reclamation; a cache would multiply their executions (a drain's rounds
/// against every exiting thread's release), and it is one thread's
/// sequential structure, which `tests/reclaim.rs` checks from outside.
const CACHE: bool = !cfg!(loom);

/// How long the map's drop waits for its last deferred calls to run while
/// none does (obligation 3 in the module docs) before it leaks them: only
/// a leaked guard, or a thread stalled that long inside crossbeam with a
/// participant of this collector pinned, makes it wait at all.
const DRAIN_PATIENCE: Duration = Duration::from_secs(1);

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
                    // `register` runs no deferred call.
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
    // and may collect (obligation 4).
    drop(evicted);
    handle
}

/// Under loom threads keep no participants ([`CACHE`]).
#[cfg(loom)]
fn cached_participant(_: &Collector) -> Option<Rc<LocalHandle>> {
    None
}

/// What a map's deferred calls share with the map, allocated apart from it
/// so that a call that runs after the map gave up on it (obligation 3 in
/// the module docs) still finds it: the map then leaks it.
struct Frees {
    /// Deferred calls handed to crossbeam and not yet finished: the drain
    /// waits for 0. A call's decrement (Release) is its last access.
    queued: AtomicUsize,
    /// Objects retired and not yet freed (the `pending` gauge), and those
    /// whose grace period ended, for the map's next guard drop (or its
    /// drop) to free.
    ready: Ready,
}

/// The crossbeam-epoch backend.
pub(crate) struct EpochReclaim {
    collector: ManuallyDrop<Collector>,
    /// A `Box<Frees>`'s pointer: freed by the map's drop, or leaked by it.
    frees: NonNull<Frees>,
}

// SAFETY: the fields are a `Collector` (`Send + Sync`) and the pointer of a
// boxed `Frees`, which is `Send + Sync` (atomics, and a stack of `Send`
// values) and which this struct owns as a `Box` would.
unsafe impl Send for EpochReclaim {}
// SAFETY: as for `Send`: `&EpochReclaim` hands out only `&Frees`.
unsafe impl Sync for EpochReclaim {}

impl EpochReclaim {
    fn frees(&self) -> &Frees {
        // SAFETY: boxed in `new`, freed or leaked only in `drop`.
        unsafe { self.frees.as_ref() }
    }
}

impl Reclaim for EpochReclaim {
    type Guard<'a> = EpochGuard<'a>;
    type OwnedGuard<'a> = EpochOwnedGuard<'a>;

    fn new() -> Self {
        let frees = Box::new(Frees {
            queued: AtomicUsize::new(0),
            ready: Ready::new(),
        });
        EpochReclaim {
            collector: ManuallyDrop::new(Collector::new()),
            frees: NonNull::from(Box::leak(frees)),
        }
    }

    fn pin(&self) -> EpochGuard<'_> {
        let guard = match cached_participant(&self.collector) {
            // The `Rc` may go at once: the guard keeps the participant alive.
            Some(participant) => participant.pin(),
            None => self.collector.register().pin(),
        };
        EpochGuard::new(guard, self.frees())
    }

    fn pin_owned(&self) -> EpochOwnedGuard<'_> {
        // A participant for this guard alone (see `EpochOwnedGuard`'s
        // `Send`); it goes, pushing its bag, when the guard drops.
        EpochOwnedGuard(EpochGuard::new(
            self.collector.register().pin(),
            self.frees(),
        ))
    }

    fn pending(&self) -> usize {
        // Relaxed: a gauge.
        self.frees().ready.pending()
    }
}

impl Drop for EpochReclaim {
    /// Runs the map's deferred calls still queued and frees what they hand
    /// over (obligation 3 in the module docs).
    fn drop(&mut self) {
        // SAFETY: boxed in `new` and freed only at the end of this drop; a
        // borrow apart from `self`, as the collector's drop below needs.
        let frees: &Frees = unsafe { &*self.frees.as_ptr() };
        // Acquire, here and below: pairs with each deferred call's last
        // access (a Release decrement), so at 0 every call has finished
        // with `frees` and its push to `ready` is visible. Retirements
        // (Relaxed increments) happened before this drop: their guards
        // borrowed the map.
        if CACHE && frees.queued.load(Acquire) != 0 {
            let participant = self.collector.register();
            let mut left = frees.queued.load(Acquire);
            let mut since = Instant::now();
            loop {
                // A pin and a flush: the flush tries to advance the epoch
                // (no guard of this map is pinned: each borrows it) and
                // runs up to eight expired bags. Our calls run no user code.
                participant.pin().flush();
                let now = frees.queued.load(Acquire);
                if now == 0 {
                    break;
                }
                if now < left {
                    (left, since) = (now, Instant::now());
                } else if since.elapsed() > DRAIN_PATIENCE {
                    break;
                } else {
                    // Another thread may be releasing its participant here
                    // (its pin holds the epoch back for a moment).
                    std::thread::yield_now();
                }
            }
        }
        // SAFETY: dropped once, here, and not used after. If no thread
        // keeps a participant (always under loom), this was the last
        // reference and the collector's drop runs what is still queued.
        unsafe { ManuallyDrop::drop(&mut self.collector) };
        // Calls still queued (a leaked guard, a stalled thread): they may
        // run later, so `frees` stays, leaked; what they move to `ready`
        // then is never freed, as crossbeam never frees a leaked guard's
        // garbage either.
        let leak = frees.queued.load(Acquire) != 0;
        /// Frees what is ready, and then `frees` itself unless leaking, also
        /// when a `Drop` there panics: the rest is freed as that panic
        /// unwinds (a second panic aborts, as in std's collections).
        struct Finish<'a> {
            frees: &'a Frees,
            boxed: NonNull<Frees>,
            leak: bool,
        }
        impl Drop for Finish<'_> {
            fn drop(&mut self) {
                self.frees.ready.free(true);
                if !self.leak {
                    // SAFETY: boxed in `new`; every deferred call has
                    // finished with it (`queued` is 0), no guard borrows
                    // the map any more, and `self.frees` is not used after.
                    drop(unsafe { Box::from_raw(self.boxed.as_ptr()) });
                }
            }
        }
        let finish = Finish {
            frees,
            boxed: self.frees,
            leak,
        };
        // Freed here first: if a `Drop` panics, `finish` frees the rest as
        // the panic unwinds (then finds nothing left otherwise).
        frees.ready.free(true);
        drop(finish);
    }
}

/// A pinned crossbeam-epoch guard.
pub(crate) struct EpochGuard<'a> {
    /// Dropped (unpinned) in our `Drop`, before the frees it runs.
    guard: ManuallyDrop<Guard>,
    frees: &'a Frees,
    /// Whether this guard put garbage in its participant's bag since its
    /// last flush (obligation 1 in the module docs).
    retired: Cell<bool>,
}

impl<'a> EpochGuard<'a> {
    fn new(guard: Guard, frees: &'a Frees) -> Self {
        EpochGuard {
            guard: ManuallyDrop::new(guard),
            frees,
            retired: Cell::new(false),
        }
    }
}

impl Drop for EpochGuard<'_> {
    /// Hands what this guard retired to the collector's queue (obligation 1
    /// in the module docs), unpins, then frees what the map's deferred
    /// calls made ready (obligation 2), unpinned, so that a free's `Drop`
    /// that pins and writes maps (this one included) holds no epoch back.
    fn drop(&mut self) {
        if CACHE && self.retired.get() {
            // Runs deferred calls, never user code (ours only move objects).
            self.guard.flush();
        }
        // SAFETY: dropped once, here; the field is not used after.
        unsafe { ManuallyDrop::drop(&mut self.guard) };
        // Relaxed: a hint; the take in `Ready::free` is what synchronises.
        // Not while unwinding: a `Drop` that panicked there would abort.
        if !self.frees.ready.looks_empty() && !std::thread::panicking() {
            self.frees.ready.free(false);
        }
    }
}

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
        self.frees.ready.retired();
        // Relaxed: a count the map's drop reads after every retirement
        // happened before it (the guards borrow the map).
        self.frees.queued.fetch_add(1, Relaxed);
        // The bag holds the call from here on: this guard's drop hands it
        // to the queue (obligation 1).
        self.retired.set(true);
        let frees: *const Frees = self.frees;
        // SAFETY: the call runs once no participant can hold `ptr`. It only
        // moves the object to `ready` (the map frees it there), and its
        // accesses to `frees` end with its `queued` decrement, which the
        // map's drop waits for before it frees `frees` (or else leaks it).
        unsafe {
            self.guard.defer_unchecked(move || {
                // SAFETY: alive until `queued` reaches 0, or for good.
                let frees = &*frees;
                frees.ready.push(Freeable::of(ptr));
                // Release: the drain's Acquire load of 0 then sees our
                // push. Our last access to `frees`.
                frees.queued.fetch_sub(1, Release);
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
        // thread's next flush or collecting pin runs it once the epoch has
        // advanced; the objects it hands over are freed at a later guard
        // drop of the map.
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
// happens-before that thread's first use. (`retired` is a `Cell`, `Send`;
// `Frees` is `Sync`.)
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
