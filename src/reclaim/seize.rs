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
//!
//! A `Drop` that panics in a callback must not unwind through seize:
//! seize does not resume the batch it was freeing, so every later object of
//! that batch leaked (17,503 values in `tests/reclaim_alone.rs`'s
//! panicking-drops check). So a callback catches the panic, keeps the
//! first one per seize call (in the slot [`within`] gives it) and returns;
//! seize frees the rest of its batch; and `within` raises that panic again
//! once seize has returned, out of the operation whose guard drop, retire
//! or flush ran the batch, as before. One case differs: a guard dropped
//! while another panic unwinds (a user's `Hash` or `Eq` that panicked
//! mid-operation) cannot raise a second panic, which used to abort the
//! process; its callbacks' panics are dropped and the first one goes on.

use std::any::Any;
use std::cell::Cell;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
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

/// A panic's payload, as `catch_unwind` returns it.
type Payload = Box<dyn Any + Send>;

/// The seize call of a map running on this thread ([`within`]).
#[derive(Clone, Copy)]
struct Current {
    /// The map's state, or null outside any such call.
    state: *const State,
    /// Where a callback keeps the first panic it caught during the call.
    caught: *mut Option<Payload>,
}

thread_local! {
    /// The innermost seize call of a map running on this thread. Raw
    /// pointers, so no destructor: an access is a plain thread-local load.
    static CURRENT: Cell<Current> = const {
        Cell::new(Current { state: ptr::null(), caught: ptr::null_mut() })
    };
}

/// Runs `call`, a seize call for the map of `state` that may run callbacks,
/// with [`CURRENT`] pointing at the map and at a slot for a caught panic;
/// then restores the enclosing call's (calls nest when a value's
/// destructor drops or writes another map) and raises the panic a callback
/// caught, if any (module docs), unless the thread is already unwinding. If
/// `call` itself unwinds, that panic goes on and a caught one is dropped.
#[inline]
fn within<R>(state: &State, call: impl FnOnce() -> R) -> R {
    /// Puts the enclosing call back, also as `call` unwinds.
    struct Restore(Current);
    impl Drop for Restore {
        #[inline]
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let mut caught: Option<Payload> = None;
    let restore = Restore(CURRENT.with(|c| {
        c.replace(Current {
            state,
            caught: &mut caught,
        })
    }));
    let r = call();
    drop(restore);
    if let Some(payload) = caught {
        // Not while unwinding (a guard dropped by another panic): a second
        // panic there would abort; that one goes on, this one is dropped.
        if !std::thread::panicking() {
            panic::resume_unwind(payload);
        }
    }
    r
}

unsafe fn reclaim<T: Retire>(ptr: *mut T, _collector: &Collector) {
    let current = CURRENT.with(Cell::get);
    if !current.state.is_null() {
        // SAFETY: the pointer is set only while a seize call for this map
        // runs on this thread (`within`), and the state is boxed in the map's
        // `SeizeReclaim`, which outlives that call.
        let state = unsafe { &*current.state };
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
    let free = || unsafe { T::free(ptr) };
    if current.caught.is_null() {
        // Outside any call of ours (none is known to run callbacks there):
        // no scope to raise a panic in, so it unwinds as it comes.
        return free();
    }
    // A panic stays out of seize: `within` raises it once seize has freed
    // the rest of the batch (module docs). The object counts as freed
    // whatever its `Drop` did: `T::free` deallocates as it unwinds, as a
    // panicking drop in std's collections does.
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(free)) {
        // SAFETY: set with `state` by the `within` running on this thread,
        // whose slot lives until that call returns; nothing else touches it
        // meanwhile. A later panic of the same call is dropped: the first
        // is raised.
        let slot = unsafe { &mut *current.caught };
        if slot.is_none() {
            *slot = Some(payload);
        }
    }
}

/// The seize backend.
pub(crate) struct SeizeReclaim {
    collector: Collector,
    /// Boxed so the address seen by in-flight reclaimers never moves.
    state: Box<State>,
}

impl Reclaim for SeizeReclaim {
    type Guard<'a> = SeizeGuard<'a, ThreadPin<'a>>;
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
        // Seize's thread id is gone once `ALIVE` is (see there): a pin in
        // a thread-local destructor that late takes an owned guard.
        let guard = match ALIVE.try_with(|a| a.pinned.get()) {
            Ok(true) => ThreadPin::Local(self.collector.enter()),
            Ok(false) => first_pin(&self.collector),
            Err(_) => ThreadPin::Owned(self.collector.enter_owned()),
        };
        SeizeGuard {
            guard: ManuallyDrop::new(guard),
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
        // SAFETY: `&mut self` proves no guard of this collector is alive (a
        // guard borrows the map), so nothing retired can still be in use.
        // Every callback only hands its object over.
        within(&self.state, || unsafe { self.collector.reclaim_all() });
        let finish = Finish(&self.state);
        self.state.ready.free(true);
        drop(finish);
        // Then the collector drops (a field): its own `reclaim_all` finds
        // nothing, as nothing can be retired into it under `&mut self`.
    }
}

/// Alive until the thread's thread-locals are torn down: touched by every
/// thread pin before seize's own first use on the thread, so that its
/// destructor is registered before seize's (which releases the thread's
/// id) and runs after it (thread-local destructors run in reverse order of
/// registration). A pin that finds it gone runs in a thread-local
/// destructor that may come after seize released the id, where seize's
/// `enter` panics, and a panic there aborts the process (found by review:
/// a value whose `Drop` writes a map, in a thread-local set up before the
/// thread's first pin). Such a pin takes an owned guard. If something else
/// used seize on the thread before lfmap did, its id may be gone before
/// `ALIVE` is first touched: the thread's first pin ([`first_pin`])
/// therefore catches a panic of `enter` and takes an owned guard then.
///
/// What this cannot mend: a thread pin *held* in a thread-local set up
/// before the thread's first pin outlives seize's id, which another thread
/// may then be given; used or dropped then, it would share seize's
/// per-thread state for the id with that thread (a data race). So a thread
/// pin checks that `ALIVE` is still there before it touches that state
/// (its drop, a retirement, a flush: [`ThreadPin`]) and aborts the process
/// with a message if not ([`id_given_back`]). Its reads touch no per-thread
/// state of seize's, and stay protected: the pin's count keeps the id's
/// reservation entered whoever holds the id next. A pin that is never
/// dropped again (leaked with `mem::forget`, or on the stack of a thread
/// that calls `std::process::exit`, which runs the thread's thread-local
/// destructors without unwinding) never aborts.
///
/// Exact when lfmap is the first user of seize on the thread: nothing is
/// set up between `ALIVE` and seize's thread-local, so `ALIVE` is gone
/// exactly when seize's id is. If other code used seize on the thread
/// first, seize's thread-local comes before `ALIVE` and is destroyed after
/// it, and a pin held in a thread-local destroyed between the two aborts
/// too, although seize's id was still there (the feature's rule broken
/// all the same).
struct Alive {
    /// Whether a thread pin has been taken on this thread.
    pinned: Cell<bool>,
}

impl Drop for Alive {
    fn drop(&mut self) {}
}

thread_local! {
    static ALIVE: Alive = const { Alive { pinned: Cell::new(false) } };
}

/// Aborts if `ALIVE` is gone: the thread's seize id may belong to another
/// thread now, and the caller, a thread pin, is about to touch seize's
/// state for it ([`Alive`]).
#[inline]
fn check_id_kept() {
    if ALIVE.try_with(|_| ()).is_err() {
        id_given_back();
    }
}

/// [`check_id_kept`]'s abort, with its message.
#[cold]
#[inline(never)]
fn id_given_back() -> ! {
    eprintln!(
        "lfmap: a handle from `pin` was used or dropped after its thread gave \
         seize's thread id back (feature `seize`): it was held in a thread-local \
         that outlived seize's, and would now race with the id's next thread. Keep \
         handles in thread-locals from `pin_owned`. Aborting."
    );
    std::process::abort();
}

/// The thread's first pin of any map (module docs, [`Alive`]): seize's
/// `enter`, or an owned guard if that panics because seize, used on this
/// thread before lfmap was, gave the thread's id back already (this is a
/// thread-local destructor that runs after seize's). The panic's message
/// is printed by the panic hook; with `panic = "abort"` the process
/// aborts there, as before.
#[cold]
fn first_pin(collector: &Collector) -> ThreadPin<'_> {
    match panic::catch_unwind(AssertUnwindSafe(|| collector.enter())) {
        Ok(guard) => {
            let _ = ALIVE.try_with(|a| a.pinned.set(true));
            ThreadPin::Local(guard)
        }
        Err(_) => ThreadPin::Owned(collector.enter_owned()),
    }
}

/// A thread pin: seize's thread-local guard, or an owned one where the
/// thread's seize id is gone ([`Alive`]). `!Send`, as the local guard.
pub(crate) enum ThreadPin<'a> {
    Local(LocalGuard<'a>),
    Owned(OwnedGuard<'a>),
}

/// A thread pin's end: seize's guard leaves the thread's reservation,
/// which must still be this thread's ([`check_id_kept`]).
impl Drop for ThreadPin<'_> {
    #[inline]
    fn drop(&mut self) {
        if let ThreadPin::Local(_) = self {
            check_id_kept();
        }
    }
}

/// Each call goes to the guard within.
impl seize::Guard for ThreadPin<'_> {
    #[inline]
    fn refresh(&mut self) {
        match self {
            ThreadPin::Local(g) => {
                check_id_kept();
                g.refresh()
            }
            ThreadPin::Owned(g) => g.refresh(),
        }
    }

    #[inline]
    fn flush(&self) {
        match self {
            ThreadPin::Local(g) => {
                check_id_kept();
                g.flush()
            }
            ThreadPin::Owned(g) => g.flush(),
        }
    }

    #[inline]
    fn collector(&self) -> &Collector {
        match self {
            ThreadPin::Local(g) => g.collector(),
            ThreadPin::Owned(g) => g.collector(),
        }
    }

    /// Never called by lfmap: seize's owned guard answers with the calling
    /// thread's id, which `Owned` exists for the lack of (it would panic).
    #[inline]
    fn thread_id(&self) -> usize {
        match self {
            ThreadPin::Local(g) => g.thread_id(),
            ThreadPin::Owned(g) => g.thread_id(),
        }
    }

    #[inline]
    fn protect<T>(&self, ptr: &AtomicPtr<T>, order: Ordering) -> *mut T {
        match self {
            ThreadPin::Local(g) => g.protect(ptr, order),
            ThreadPin::Owned(g) => g.protect(ptr, order),
        }
    }

    #[inline]
    unsafe fn defer_retire<T>(&self, ptr: *mut T, reclaim: unsafe fn(*mut T, &Collector)) {
        match self {
            ThreadPin::Local(g) => {
                // The batch it adds to is the thread id's.
                check_id_kept();
                // SAFETY: the caller's obligations, passed on.
                unsafe { g.defer_retire(ptr, reclaim) }
            }
            // SAFETY: as above.
            ThreadPin::Owned(g) => unsafe { g.defer_retire(ptr, reclaim) },
        }
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
        // SAFETY: the caller unlinked `ptr` and retires it once; `reclaim`
        // frees it with `T::free`, which is valid for it.
        within(self.state, || unsafe {
            self.guard.defer_retire(ptr, reclaim::<T>)
        });
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
        within(self.state, || {
            for _ in 0..padding() {
                // SAFETY: `noop` never dereferences its (dangling, never
                // allocated) pointer; a zero-sized type needs no memory.
                unsafe {
                    self.guard
                        .defer_retire(std::ptr::NonNull::<Filler>::dangling().as_ptr(), noop)
                };
            }
            self.guard.flush();
        });
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
        // SAFETY: dropped exactly once, here.
        within(self.state, || unsafe {
            ManuallyDrop::drop(&mut self.guard)
        });
        // Unpinned now (unless another handle of this thread is open). Not
        // while unwinding: a `Drop` that panicked there would abort.
        if !self.state.ready.looks_empty() && !std::thread::panicking() {
            self.state.ready.free(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thread whose first pin of any map comes in a thread-local
    /// destructor that runs after seize, used on the thread before lfmap
    /// was, gave the thread's id back: seize's `enter` panics there, and the
    /// pin takes an owned guard instead of aborting the process (found by
    /// review). On the old code the test binary aborts.
    #[test]
    fn a_first_pin_after_seize_gave_the_thread_id_back_is_owned() {
        use std::sync::atomic::{AtomicU8, Ordering::SeqCst};
        static PINNED: AtomicU8 = AtomicU8::new(0);
        struct Late;
        impl Drop for Late {
            fn drop(&mut self) {
                let r = SeizeReclaim::new();
                let g = r.pin();
                PINNED.store(
                    if matches!(*g.guard, ThreadPin::Owned(_)) {
                        2
                    } else {
                        1
                    },
                    SeqCst,
                );
            }
        }
        thread_local! {
            static LATE: Late = const { Late };
        }
        std::thread::spawn(|| {
            // First: its destructor runs after seize's, registered below.
            LATE.with(|_| {});
            let other = Collector::new();
            drop(other.enter());
        })
        .join()
        .expect("the thread's thread-local destructors ran");
        assert_eq!(PINNED.load(SeqCst), 2, "not pinned with an owned guard");
    }
}
