//! Memory reclamation: when may a removed entry or a retired table be freed?
//!
//! A thread that unlinks an object from the map cannot free it at once:
//! another thread may have loaded the pointer a moment earlier and still be
//! reading through it. Every operation therefore runs *pinned* (inside a
//! guard), loads shared pointers through [`ReclaimGuard::protect`], and hands
//! unlinked objects to [`ReclaimGuard::retire`]. The backend frees a retired
//! object only once every guard that could have loaded it has been dropped.
//!
//! The contract the rest of the crate relies on, and that every backend keeps:
//!
//! 1. A pointer loaded with `protect` stays dereferenceable until the guard
//!    that loaded it is dropped, even if another thread retires it meanwhile.
//! 2. `retire(p)` is called exactly once per object, after `p` has been made
//!    unreachable for operations that start later (unlinked by a CAS).
//! 3. [`Retire::free`] runs exactly once per retired object, on some thread,
//!    at the latest when the backend itself is dropped.
//!
//! Five backends implement the contract behind one small trait: `HashMap`
//! gets one of the first four, chosen at compile time; `WordMap`, whose only
//! garbage is one table per resize, always uses the last:
//!
//! | backend | when | notes |
//! |---|---|---|
//! | `seize` | default | hyaline-style reference counting of batches; a pin is one thread-local access |
//! | `epoch` | `--features crossbeam-epoch` | crossbeam's epoch GC with one collector per map |
//! | `deferred` | `cfg(loom)` | frees nothing until the map is dropped, so loom models can run the real map code (seize cannot run under loom) |
//! | `epoch` under loom | `cfg(loom)` and `cfg(crossbeam_loom)` | crossbeam-epoch's own loom support: real reclamation, model-checked |
//! | `asymmetric` | `WordMap` (also under loom, with its fence strategy) | epochs with an asymmetric barrier: a pin is two plain stores, a retirement (once per resize) a `membarrier`; a directory by concept: the backend (`mod.rs`), `epoch.rs`, `registry.rs`, `barrier.rs`, `guard.rs`, `retired.rs` |
//!
//! [`stack`] is the crate's one lock-free stack (push, take all, walk; each
//! synchronising access's ordering chosen and justified by the caller): the
//! `asymmetric` backend's registry of records and queue of retired tables
//! are both one, and its shape serves a table's deferred-retirement stack
//! (`raw/table.rs`) too.

use crate::sync::{AtomicPtr, Ordering};

mod asymmetric;
#[cfg(all(loom, not(crossbeam_loom)))]
mod deferred;
#[cfg(any(all(not(loom), feature = "crossbeam-epoch"), all(loom, crossbeam_loom)))]
mod epoch;
#[cfg(all(not(loom), not(feature = "crossbeam-epoch")))]
mod seize;
pub(crate) mod stack;

#[cfg(all(loom, not(crossbeam_loom)))]
pub(crate) use self::deferred::DeferredReclaim as Reclaimer;
#[cfg(any(all(not(loom), feature = "crossbeam-epoch"), all(loom, crossbeam_loom)))]
pub(crate) use self::epoch::EpochReclaim as Reclaimer;
#[cfg(all(not(loom), not(feature = "crossbeam-epoch")))]
pub(crate) use self::seize::SeizeReclaim as Reclaimer;

/// Under loom: where an execution's retired memory waits for the next one
/// (`asymmetric/graveyard.rs`).
#[cfg(loom)]
pub(crate) use self::asymmetric::graveyard as loom_graveyard;
/// `WordMap`'s backend: only tables are retired, so pins are plain stores
/// and the retirer pays for the barrier (`asymmetric/`). Under loom it runs
/// its fence strategy, which loom can model.
pub(crate) use self::asymmetric::TableReclaim as TableReclaimer;

/// An object the map allocates and may retire: it knows how to free itself.
///
/// (`pub` inside this private module: nameable in public bounds, never
/// implementable or callable from outside the crate.)
pub trait Retire {
    /// Frees the object.
    ///
    /// # Safety
    ///
    /// `ptr` came from `Box::into_raw` (or the object's own allocator), was
    /// retired exactly once, and no thread can reach it any more.
    unsafe fn free(ptr: *mut Self);
}

/// A reclamation backend, owned by one map.
pub(crate) trait Reclaim: Send + Sync + Sized {
    /// The guard that keeps a thread pinned.
    type Guard<'a>: ReclaimGuard
    where
        Self: 'a;

    /// A guard that owns its pin and may move between threads (`Send`).
    type OwnedGuard<'a>: ReclaimGuard + Send
    where
        Self: 'a;

    /// Creates the backend for a new map.
    fn new() -> Self;

    /// Pins the current thread: objects retired from now on are not freed
    /// until the returned guard is dropped.
    fn pin(&self) -> Self::Guard<'_>;

    /// Pins with a guard that is not tied to the current thread: it may be
    /// held across `.await` points and moved to another thread.
    fn pin_owned(&self) -> Self::OwnedGuard<'_>;

    /// Objects retired but not yet freed (a gauge, read with `Relaxed`).
    fn pending(&self) -> usize;
}

/// The operations a pinned thread performs on shared pointers.
///
/// `pub` inside this private module, so it can bound the guard parameter of
/// the public [`HashMapRef`](crate::HashMapRef) while staying sealed.
pub trait ReclaimGuard {
    /// Loads `ptr` so that the object it points to stays valid for as long
    /// as this guard lives. Has at least `Acquire` semantics.
    fn protect<T>(&self, ptr: &AtomicPtr<T>) -> *mut T;

    /// Schedules `T::free(ptr)` for when no guard can still hold `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` was unlinked from every shared location by the caller (whose CAS
    /// removed it), is retired only this once, and is valid to pass to
    /// [`Retire::free`].
    unsafe fn retire<T: Retire>(&self, ptr: *mut T);

    /// Like [`retire`](ReclaimGuard::retire), for a large object retired
    /// rarely (a table): it is handed to the reclaimer at once instead of
    /// waiting in a thread-local batch for more garbage to arrive, so a
    /// grow-then-delete-all cycle gives its memory back promptly.
    ///
    /// # Safety
    ///
    /// As for `retire`.
    unsafe fn retire_now<T: Retire>(&self, ptr: *mut T) {
        // SAFETY: the caller's obligations are `retire`'s.
        unsafe { self.retire(ptr) }
    }
}

/// Loads with the ordering every backend's `protect` needs at minimum.
#[inline]
#[allow(dead_code)]
pub(crate) fn acquire_load<T>(ptr: &AtomicPtr<T>) -> *mut T {
    // Acquire: the object behind the pointer was initialised before the
    // Release CAS that published it; this load synchronises with that CAS.
    ptr.load(Ordering::Acquire)
}
