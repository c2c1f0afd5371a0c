//! The handshake that parks an idle resize helper and wakes it when work
//! comes: one protocol, in one place, driven as it ships by loom model 19
//! (`loom-tests/tests/models.rs`, `parked_helper_is_rung`).
//!
//! A helper with nothing to do for a while ([`assist`](super::assist))
//! parks on [`PARKED`]; a writer that starts a resize or publishes a
//! prepared table rings it ([`Parking::ring_if`]). The writer's side must stay
//! cheap (rings are once per resize, and most processes have no helper),
//! and no ring may be lost: a helper that parks just as a resize starts
//! would otherwise sleep through the growth it exists to take.
//!
//! The two sides are a store-buffering pair. The helper announces itself
//! (`any`, under the list's lock), then a `SeqCst` fence, then looks for
//! work once more; the ringer publishes its work (with the map's own
//! orderings), then a `SeqCst` fence, then loads `any`. Of two `SeqCst`
//! fences one comes first in their single total order: if the helper's
//! does, the ringer's load sees the announcement (or a later store, which
//! is made under the lock from the list, so it is `true` while the helper
//! is on it) and unparks the helper; if the ringer's does, the helper's
//! last look sees the work and it does not park. An unpark that comes
//! before the park leaves the thread's token, so that park returns at
//! once. Loom model 19 fails without the ringer's fence (mutation
//! `ring_without_fence`: the helper parks for good, a deadlock).
//!
//! The ringer never waits for the list's lock, which a helper holds to
//! join or leave the list and may be preempted holding (a writer that
//! blocked there would no longer be lock-free; found by review). It
//! records the ring in `missed` and only tries the lock; whoever holds
//! the lock looks at `missed` after letting go and rings for it
//! ([`Parking::deliver`]). Another store-buffering pair: the ringer
//! stores `missed`, a `SeqCst` fence, then tries the lock; the holder
//! unlocks, a `SeqCst` fence, then loads `missed`. Either the ringer's
//! try sees the lock free, or the holder sees the ring. The ringer's
//! store is a `Release` swap and the delivery's an `Acquire` swap, all of
//! them read-modify-writes, so the delivery synchronizes with every ring
//! it takes over, and a helper it wakes sees their work. Loom model 19
//! fails if a ringer that finds the lock taken drops its ring (mutation
//! `ring_skips_busy_list`: one helper stays parked).
//!
//! Outside loom a park also ends after the caller's longest sleep, so
//! that the helper sees what nothing rings for (its `stop` flag, retired
//! tables to free). Under loom it has no timeout, so a lost ring is a
//! deadlock the model reports.

use crate::sync::{
    AtomicBool,
    Ordering::{Acquire, Relaxed, Release},
};
#[cfg(loom)]
use loom::{
    sync::{Mutex, MutexGuard},
    thread::Thread,
};
use std::sync::TryLockError;
use std::time::Duration;
#[cfg(not(loom))]
use std::{
    sync::{Mutex, MutexGuard},
    thread::Thread,
};

/// Threads parked for lack of work, and the flag every ring reads.
///
/// Under `--cfg loom` this type is reachable as `lfmap::__loom::Parking`,
/// for loom model 19 alone; it is not part of the API.
pub struct Parking {
    /// Whether any thread is parked or about to be. Written only under
    /// `threads`' lock, as `!threads.is_empty()`.
    any: AtomicBool,
    /// A ring not yet delivered: set by a ringer, cleared by whoever
    /// takes the lock and wakes the list for it ([`Parking::deliver`]).
    missed: AtomicBool,
    threads: Mutex<Vec<Thread>>,
}

/// The resize helpers' list, process-wide: a ring from a map with a
/// helper wakes every parked helper (rings are rare; a helper woken for
/// another map's resize looks once and parks again).
#[cfg(not(loom))]
pub(crate) static PARKED: Parking = Parking::new();

impl Parking {
    /// An empty list.
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Parking {
            any: AtomicBool::new(false),
            missed: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        }
    }

    /// An empty list (loom's atomics and mutex have no `const` constructor).
    #[cfg(loom)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Parking {
            any: AtomicBool::new(false),
            missed: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        }
    }

    /// Parks the calling thread until a [`ring_if`](Self::ring_if), or for at
    /// most `max` (no limit under loom), unless a last look finds work:
    /// `look` returns `Some` when there is work, which is then returned
    /// without parking. Returns `None` after a park (rung, timed out, or
    /// woken spuriously: the caller looks again).
    pub fn park_unless<W>(&self, look: impl FnOnce() -> Option<W>, max: Duration) -> Option<W> {
        // Before the lock (`Leave` says why).
        let me = current();
        let mut threads = self.lock();
        // A `push` that fails to allocate would unwind under the lock
        // (an abort, with Rust's default allocation error handler).
        threads.push(me);
        // Relaxed: under the lock.
        self.any.store(true, Relaxed);
        // Letting go runs a `SeqCst` fence ([`Held`]), which also orders
        // the announcement above before the last look below; the ringer's
        // fence is the other half (module docs).
        drop(threads);
        let _leave = Leave(self);
        let work = look();
        if work.is_none() {
            park(max);
        }
        work
    }

    /// Wakes every thread parked here, or about to park, if `wanted` (read
    /// after the fence) says a parked thread may want the work, which was
    /// just published. One fence and one load when nobody is parked.
    ///
    /// A map rings only while it has a resize helper, which registered
    /// before any of its parks' fences: a ringer whose fence comes later
    /// reads the registration, and one whose fence comes first is seen by
    /// the helper's last look. The list's lock is then taken only by
    /// writes of maps that have a helper, never by other maps' (found by
    /// review: every map's resize start waited on it while any helper in
    /// the process parked).
    pub fn ring_if(&self, wanted: impl FnOnce() -> bool) {
        // SeqCst: the caller's publication of its work before the load of
        // `any` (module docs). Planted mutation `ring_without_fence`
        // removes it, and model 19 deadlocks.
        if !mutation!("ring_without_fence") {
            crate::sync::fence(crate::sync::Ordering::SeqCst);
        }
        if self.any.load(Relaxed) && wanted() {
            if mutation!("ring_skips_busy_list") {
                // The planted bug: a ring that finds the lock taken is lost.
                if let Ok(threads) = self.threads.try_lock() {
                    threads.iter().for_each(Thread::unpark);
                }
                return;
            }
            // Release: the work this ring is for (published before the
            // fence above) happens before whatever the delivery that
            // takes this ring over wakes (an `Acquire` swap of the same
            // read-modify-write chain; module docs).
            self.missed.swap(true, Release);
            // SeqCst: the store above before the look at the lock in
            // `deliver`; the holder's fence after its unlock is the other
            // half (module docs).
            crate::sync::fence(crate::sync::Ordering::SeqCst);
            self.deliver();
        }
    }

    /// Takes the list's lock, waiting for it (a helper joining or leaving
    /// the list; never a ringer). Letting go of it delivers the rings that
    /// came meanwhile ([`Held`]).
    fn lock(&self) -> Held<'_> {
        Held {
            threads: Some(self.threads.lock().unwrap_or_else(|e| e.into_inner())),
            parking: self,
        }
    }

    /// Wakes every thread on the list for the rings recorded in `missed`,
    /// if the list's lock is free now; if it is taken, its holder does so
    /// after letting go ([`Held`]'s drop). Never waits. Loops: a ring
    /// recorded while this thread held the lock is this thread's to
    /// deliver too, so it ends once no new ring comes during a pass
    /// (lock-free, not wait-free: each pass delivers at least one ring).
    fn deliver(&self) {
        while self.missed.load(Relaxed) {
            let threads = match self.threads.try_lock() {
                Ok(threads) => threads,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => return,
            };
            // Acquire: every ring taken over here (module docs). Under
            // the lock, so one delivery per recorded ring.
            if self.missed.swap(false, Acquire) {
                for t in threads.iter() {
                    // A token, if the thread has not parked yet: its park
                    // returns at once.
                    t.unpark();
                }
            }
            drop(threads);
            // SeqCst: the unlock above before the look at `missed`.
            crate::sync::fence(crate::sync::Ordering::SeqCst);
        }
    }
}

/// The list's lock, held by a helper joining or leaving the list (or a
/// test). Its drop is the holder's half of the delivery handshake (module
/// docs): unlock, a `SeqCst` fence, then [`Parking::deliver`], so that a
/// ring whose ringer found the lock taken is delivered by the holder. The
/// one other holder, [`Parking::deliver`]'s own `try_lock`, lets go the
/// same way: unlock, fence, then a look at `missed`.
struct Held<'a> {
    /// `Some` until the drop lets go.
    threads: Option<MutexGuard<'a, Vec<Thread>>>,
    parking: &'a Parking,
}

impl std::ops::Deref for Held<'_> {
    type Target = Vec<Thread>;

    fn deref(&self) -> &Vec<Thread> {
        self.threads.as_ref().expect("held until dropped")
    }
}

impl std::ops::DerefMut for Held<'_> {
    fn deref_mut(&mut self) -> &mut Vec<Thread> {
        self.threads.as_mut().expect("held until dropped")
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        drop(self.threads.take());
        if crate::sync::loom_unwinding() {
            // A failed model unwinding: more loom steps would panic again
            // and abort the test binary (`loom_unwinding`).
            return;
        }
        // SeqCst: the unlock above before `deliver`'s look at `missed`;
        // the ringer's fence after its store of `missed` is the other half
        // (module docs).
        crate::sync::fence(crate::sync::Ordering::SeqCst);
        // Planted mutation `holder_skips_delivery`: a ring that found the
        // lock taken is lost, and model 19 deadlocks.
        if !mutation!("holder_skips_delivery") {
            self.parking.deliver();
        }
    }
}

#[cfg(all(test, not(loom)))]
impl Parking {
    /// Holds the list's lock until the guard drops (which then delivers
    /// the rings that came meanwhile, as every holder does).
    pub(crate) fn lock_for_test(&self) -> impl std::ops::Deref<Target = Vec<Thread>> + '_ {
        self.lock()
    }

    /// Whether the thread `id` is on the list (parked or about to be).
    pub(crate) fn holds(&self, id: std::thread::ThreadId) -> bool {
        self.lock_for_test().iter().any(|t| t.id() == id)
    }
}

impl std::fmt::Debug for Parking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parking")
            .field("any", &self.any.load(Relaxed))
            .finish_non_exhaustive()
    }
}

/// Takes the calling thread off the list when its park ends (or its look
/// panicked).
struct Leave<'a>(&'a Parking);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        if crate::sync::loom_unwinding() {
            return;
        }
        let parking = self.0;
        // Before the lock, so that only the list's own steps run under it.
        let me = current().id();
        let mut threads = parking.lock();
        // Every entry of this thread (one per park, so one; all, so that
        // no stale entry could keep `any` set for good).
        threads.retain(|t| t.id() != me);
        // Relaxed: under the lock, as every store of `any`; a ring that
        // reads `false` has no thread to wake (this one is awake).
        parking.any.store(!threads.is_empty(), Relaxed);
        // Letting go delivers what rang meanwhile ([`Held`]).
    }
}

#[cfg(not(loom))]
fn current() -> Thread {
    std::thread::current()
}

#[cfg(loom)]
fn current() -> Thread {
    loom::thread::current()
}

#[cfg(not(loom))]
fn park(max: Duration) {
    std::thread::park_timeout(max);
}

#[cfg(loom)]
fn park(_max: Duration) {
    loom::thread::park();
}
