//! The `seize` backend (cargo feature `seize`): [`seize`], the reclaimer
//! papaya uses. (The default backend is the built-in asymmetric epochs,
//! `reclaim/asymmetric/`.)
//!
//! A seize pin is a thread-local access and a `SeqCst` store; its unpin an
//! atomic swap. (seize's `fast-barrier` feature would make the pin's store
//! plain and pay with a `membarrier` per 32 retirements; this crate builds
//! seize without it, because the generic map retires every removed entry:
//! see `docs/design.md`, "Reclamation". A build that also links seize with
//! the feature, papaya's benchmarks for instance, gets it for us too.)
//! Retired objects are batched per thread and freed when every thread that
//! was active at retirement has left.
//!
//! seize's reclaim callback gets no context pointer, so it reaches the
//! map's [`State`] (its pending-garbage gauge and its `ready` stack)
//! through a thread-local that points at it for exactly the duration of
//! each seize call that may run reclaimers (guard drop, retire, flush,
//! `reclaim_all` and the collector's drop after it). Each map has its own
//! collector, so a callback only ever runs inside a call made for its
//! map.
//!
//! seize runs those callbacks inside its own calls: a freed value whose
//! `Drop` writes its map retires again, and the guard drop of that write
//! frees again, one level deeper each time. A callback that finds the
//! thread two frees deep therefore hands its object to the map's `ready`
//! stack (`ready.rs`), which the map frees as a later guard drops, and in
//! its own drop.

use std::cell::Cell;
use std::mem::ManuallyDrop;
use std::ptr;

use seize::{Collector, LocalGuard, OwnedGuard};

use super::contract::{Reclaim, ReclaimGuard, Retire};
use super::ready::{Depth, Freeable, Ready};
use crate::sync::{AtomicBool, AtomicPtr, Ordering};
use Ordering::Relaxed;

/// What a map's reclaim callbacks reach (through [`CURRENT`]).
struct State {
    /// Objects retired and not yet freed (the gauge), and those a callback
    /// found too deep to free (module docs) or that the map's drop took
    /// over.
    ready: Ready,
    /// Set by the map's drop: every callback hands its object over.
    handing_over: AtomicBool,
}

thread_local! {
    /// The state of the map whose seize call is running on this thread, or
    /// null.
    static CURRENT: Cell<*const State> = const { Cell::new(ptr::null()) };
}

/// Restores the previous thread-local state when dropped (calls nest when
/// a value's destructor drops another map).
struct Scope(*const State);

impl Scope {
    #[inline]
    fn enter(state: &State) -> Scope {
        Scope(CURRENT.with(|p| p.replace(state)))
    }
}

impl Drop for Scope {
    #[inline]
    fn drop(&mut self) {
        CURRENT.with(|p| p.set(self.0));
    }
}

unsafe fn reclaim<T: Retire>(ptr: *mut T, _collector: &Collector) {
    let state = CURRENT.with(|p| p.get());
    if !state.is_null() {
        // SAFETY: the pointer is set only while a seize call for this map
        // runs on this thread (`Scope`), and the state is boxed in the map's
        // `SeizeReclaim`, which outlives that call.
        let state = unsafe { &*state };
        // Relaxed: set on this thread, by the map's drop.
        if Depth::too_deep() || state.handing_over.load(Relaxed) {
            // The map frees it, as a later guard drops (module docs), or
            // in its drop.
            state.ready.push(Freeable::of(ptr));
            return;
        }
        state.ready.freed();
    }
    let _depth = Depth::enter();
    // SAFETY: seize calls us once, after every guard that could have loaded
    // `ptr` is gone; `retire` passed a pointer valid for `T::free`.
    unsafe { T::free(ptr) }
}

/// The seize backend.
pub(crate) struct SeizeReclaim {
    collector: Collector,
    /// Boxed so the address seen by in-flight reclaimers never moves.
    state: Box<State>,
}

impl Reclaim for SeizeReclaim {
    type Guard<'a> = SeizeGuard<'a, LocalGuard<'a>>;
    type OwnedGuard<'a> = SeizeGuard<'a, OwnedGuard<'a>>;

    fn new() -> Self {
        SeizeReclaim {
            collector: Collector::new(),
            state: Box::new(State {
                ready: Ready::new(),
                handing_over: AtomicBool::new(false),
            }),
        }
    }

    #[inline]
    fn pin(&self) -> Self::Guard<'_> {
        SeizeGuard {
            guard: ManuallyDrop::new(self.collector.enter()),
            state: &self.state,
        }
    }

    fn pin_owned(&self) -> Self::OwnedGuard<'_> {
        SeizeGuard {
            guard: ManuallyDrop::new(self.collector.enter_owned()),
            state: &self.state,
        }
    }

    fn pending(&self) -> usize {
        // A gauge: the sum of its relaxed shards.
        self.state.ready.pending()
    }
}

impl Drop for SeizeReclaim {
    /// Runs what seize still holds as hand-overs, then frees it all here:
    /// seize resumes no batch a `Drop` panicked in (and its collector's
    /// drop would go over that batch again), so no user code runs inside
    /// seize now, and a `Drop` that panics in the frees below leaves the
    /// rest to be freed as it unwinds (a second panic aborts, as in std's
    /// collections).
    fn drop(&mut self) {
        /// Frees what is ready, whatever the depth, also as a panic unwinds.
        struct Finish<'a>(&'a State);
        impl Drop for Finish<'_> {
            fn drop(&mut self) {
                self.0.ready.free(true);
            }
        }
        // Relaxed: read by the callbacks `reclaim_all` runs on this thread.
        self.state.handing_over.store(true, Relaxed);
        {
            let _scope = Scope::enter(&self.state);
            // SAFETY: `&mut self` proves no guard of this collector is
            // alive (a guard borrows the map), so nothing retired can still
            // be in use. Every callback only hands its object over.
            unsafe { self.collector.reclaim_all() };
        }
        let finish = Finish(&self.state);
        self.state.ready.free(true);
        drop(finish);
        // Then the collector drops (a field): its own `reclaim_all` finds
        // nothing, as nothing can be retired into it under `&mut self`.
    }
}

/// A pinned seize guard: thread-local (`LocalGuard`) or owned (`OwnedGuard`,
/// `Send`; its pins cost a lock-free reservation of their own).
pub(crate) struct SeizeGuard<'a, G: seize::Guard> {
    guard: ManuallyDrop<G>,
    state: &'a State,
}

impl<G: seize::Guard> ReclaimGuard for SeizeGuard<'_, G> {
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
        // seize strengthens the ordering as its barrier scheme requires
        // (SeqCst, a plain load on x86); Acquire is our own minimum.
        self.guard.protect(ptr, Ordering::Acquire)
    }

    #[inline]
    unsafe fn retire<T: Retire>(&self, ptr: *mut T) {
        // A striped gauge: writers on different threads touch different
        // cache lines, so retiring adds no shared write to the hot path.
        self.state.ready.retired();
        let _scope = Scope::enter(self.state);
        // SAFETY: the caller unlinked `ptr` and retires it once; `reclaim`
        // frees it with `T::free`, which is valid for it.
        unsafe { self.guard.defer_retire(ptr, reclaim::<T>) };
    }

    unsafe fn retire_now<T: Retire>(&self, ptr: *mut T) {
        // SAFETY: as for `retire`.
        unsafe { self.retire(ptr) };
        self.flush();
    }

    fn flush(&self) {
        // seize hands a thread's batch to the reclaimer only once it holds
        // at least one entry per thread that is active at that moment, and a
        // batch left behind by a thread that exits waits for a new thread to
        // take its slot. So pad the batch with no-op entries and flush it
        // now: then it is freed as soon as the threads active now have left
        // (a table, retired once per resize, always goes this way). The padding is a few
        // hundred cheap pushes per resize.
        let _scope = Scope::enter(self.state);
        for _ in 0..padding() {
            // SAFETY: `noop` never dereferences its (dangling, never
            // allocated) pointer; a zero-sized type needs no memory.
            unsafe {
                self.guard
                    .defer_retire(std::ptr::NonNull::<Filler>::dangling().as_ptr(), noop)
            };
        }
        self.guard.flush();
    }
}

/// The zero-sized stand-in retired as batch padding.
struct Filler;

unsafe fn noop(_: *mut Filler, _: &Collector) {}

/// Padding per flushed table: more than the threads that can be active at
/// once on any ordinary machine (every pinned thread counts, scheduled or not).
fn padding() -> usize {
    static PADDING: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PADDING.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(8, |n| n.get());
        (cpus * 8).max(128)
    })
}

impl<G: seize::Guard> Drop for SeizeGuard<'_, G> {
    fn drop(&mut self) {
        {
            let _scope = Scope::enter(self.state);
            // SAFETY: dropped exactly once, here.
            unsafe { ManuallyDrop::drop(&mut self.guard) };
        }
        // Unpinned now (unless another handle of this thread is open). Not
        // while unwinding: a `Drop` that panicked there would abort.
        if !self.state.ready.looks_empty() && !std::thread::panicking() {
            self.state.ready.free(false);
        }
    }
}
