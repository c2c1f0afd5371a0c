//! The reclamation contract (see the module above for the three rules):
//! the traits every backend implements and the rest of the crate uses. A
//! leaf module, so that the backends below `reclaim/` and the maps above it
//! depend on it and never on each other.

use crate::sync::{AtomicPtr, Ordering};

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

    /// Frees part of what the object owns, never the object itself: at
    /// most `budget` of the objects it owns (a retired table's entries),
    /// for an object whose whole [`free`](Retire::free) would be one long
    /// pause. Returns whether what is left is for `free` to free at once
    /// (the object then owns none, or too few to be worth steps); until
    /// then the caller calls this again later. The object stays valid
    /// whatever happens, also when this panics (a user's `Drop`): a panic
    /// leaves it to be resumed by a later call, nothing freed twice. The
    /// default has nothing to free in parts.
    ///
    /// A backend that frees in steps (`asymmetric`, the default) calls
    /// this, then `free`; the others call `free` alone.
    ///
    /// # Safety
    ///
    /// As for [`free`](Retire::free), and `ptr` is owned by the caller
    /// alone.
    unsafe fn free_part(ptr: *mut Self, budget: usize) -> bool {
        let _ = (ptr, budget);
        true
    }
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
    /// held across `.await` points and moved to another thread. As for
    /// [`pin`](Self::pin), objects retired from now on are not freed until
    /// the returned guard is dropped.
    fn pin_owned(&self) -> Self::OwnedGuard<'_>;

    /// Objects retired but not yet freed (a gauge, read with `Relaxed`).
    fn pending(&self) -> usize;

    /// Frees a step of retired memory whose free the backend spreads over
    /// later operations (a table that owns many entries: `Retire::free_part`),
    /// if there is any; returns whether there was. For a resize helper,
    /// which takes the steps off the map's operations. Backends that free
    /// each object whole have none.
    fn free_step(&self) -> bool {
        false
    }

    /// Frees whole, now, what the backend would free in steps over later
    /// operations (`free_step`'s tables), after a scan that hands on what
    /// became freeable meanwhile: for a user's `shrink_to` and
    /// `shrink_to_fit`, which ask for the memory back and cost O(capacity)
    /// anyway. A caller's pin only keeps the scan from freeing what that
    /// pin can reach (the table its own resize retired, which goes whole
    /// at a later scan: a shrink's). Best effort: tables another thread is
    /// stepping are left to the steps. Backends that free each object
    /// whole have nothing to do.
    fn free_steps_now(&self) {}
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

    /// Called by every write of the map this guard pins, before it
    /// writes: the backend may do a bounded share of freeing there
    /// (`asymmetric`: a step of the tables it frees in steps, every few
    /// writes; the others do nothing). Required, not defaulted, so that a
    /// guard that wraps another cannot drop the call by forgetting to
    /// forward it.
    fn before_write(&self);

    /// Hands what this guard's party retired in this map, and the backend
    /// still holds back until more arrives (a thread-local bag or batch),
    /// to the reclaimer now: it is then freed as soon as no pin can hold
    /// it, inside a later operation (not this one, whose own pin still
    /// can). Required, not defaulted, for the reason `before_write` is.
    fn flush(&self);

    /// The index of a record held by this guard's party alone while the
    /// guard lives (`stats.rs`: per-party counters), or `None` (counts then
    /// go to a shared cell). The asymmetric backend's guards give the
    /// record they pin with; seize's and crossbeam's, the calling thread's
    /// record (`asymmetric::thread_record`).
    #[inline]
    fn slot(&self) -> Option<usize> {
        None
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
