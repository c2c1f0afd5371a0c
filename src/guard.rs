//! The public guard types of [`HashMap`](crate::HashMap) handles: newtypes
//! over the compiled-in reclamation backend's guards, so the backend (the
//! built-in asymmetric epochs, seize or crossbeam-epoch) never shows in the
//! public API.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use crate::raw;
use crate::reclaim::{ReclaimGuard, Retire};

/// The guard of a [`HashMap::pin`](crate::HashMap::pin) handle: cheap, tied to its thread.
///
/// ```
/// let map: lfmap::HashMap<u8, u8> = lfmap::HashMap::new();
/// let m: lfmap::HashMapRef<'_, u8, u8, _, lfmap::LocalGuard<'_>> = map.pin();
/// m.insert(1, 1);
/// ```
///
/// A `pin` handle neither moves to nor is shared with another thread (take
/// [`pin_owned`](crate::HashMap::pin_owned) for that):
///
/// ```compile_fail
/// let map: lfmap::HashMap<u8, u8> = lfmap::HashMap::new();
/// let m = map.pin();
/// std::thread::scope(|s| {
///     s.spawn(move || {
///         m.insert(1, 1);
///     });
/// });
/// ```
///
/// ```compile_fail
/// let map: lfmap::HashMap<u8, u8> = lfmap::HashMap::new();
/// let m = map.pin();
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         m.insert(1, 1);
///     });
/// });
/// ```
pub struct LocalGuard<'a>(
    pub(crate) raw::Guard<'a>,
    /// `!Send` and `!Sync` whatever the backend: the guard's pin belongs
    /// to its thread's record (found by review: under `--cfg loom`, whose
    /// backend guard is `Send + Sync`, a `pin` handle could move).
    pub(crate) PhantomData<*const ()>,
);

/// The guard of a [`HashMap::pin_owned`](crate::HashMap::pin_owned) handle:
/// `Send`, so the handle can move to another thread (or across an
/// `.await`), but not `Sync`: one handle is used by one thread at a time,
/// because its writes retire into, and count in, places that belong to the
/// handle alone. Threads that work at once take a handle each.
///
/// ```
/// let map: lfmap::HashMap<u8, u8> = lfmap::HashMap::new();
/// let m: lfmap::HashMapRef<'_, u8, u8, _, lfmap::OwnedGuard<'_>> = map.pin_owned();
/// std::thread::scope(|s| {
///     s.spawn(move || {
///         m.insert(1, 1);
///     });
/// });
/// ```
///
/// Sharing one handle between threads does not compile:
///
/// ```compile_fail
/// let map: lfmap::HashMap<u8, u8> = lfmap::HashMap::new();
/// let m = map.pin_owned();
/// std::thread::scope(|s| {
///     s.spawn(|| m.insert(1, 1));
///     s.spawn(|| m.insert(2, 2));
/// });
/// ```
pub struct OwnedGuard<'a>(
    pub(crate) raw::OwnedGuard<'a>,
    /// `!Sync` whatever the backend (`Cell` is `Send` and not `Sync`).
    pub(crate) PhantomData<Cell<()>>,
);

macro_rules! delegate_guard {
    ($guard:ident) => {
        impl ReclaimGuard for $guard<'_> {
            #[inline]
            fn protect<T>(&self, ptr: &crate::sync::AtomicPtr<T>) -> *mut T {
                self.0.protect(ptr)
            }
            #[inline]
            unsafe fn retire<T: Retire>(&self, ptr: *mut T) {
                // SAFETY: the caller's obligations are the backend's.
                unsafe { self.0.retire(ptr) }
            }
            unsafe fn retire_now<T: Retire>(&self, ptr: *mut T) {
                // SAFETY: the caller's obligations are the backend's.
                unsafe { self.0.retire_now(ptr) }
            }
            #[inline]
            fn slot(&self) -> Option<usize> {
                self.0.slot()
            }
            #[inline]
            fn before_write(&self) {
                self.0.before_write()
            }
            fn flush(&self) {
                self.0.flush()
            }
        }

        impl fmt::Debug for $guard<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(stringify!($guard))
            }
        }
    };
}

delegate_guard!(LocalGuard);
delegate_guard!(OwnedGuard);

/// Drops `*guard`, then puts `pin()` in its place: a handle's `refresh`.
/// The old guard goes first: a pin taken while it lives would share its
/// announcement (a thread's pins nest) and let go of nothing.
///
/// The old guard's drop may free retired values, whose `Drop` may panic:
/// that panic is caught, the new pin put in place, and the panic resumed,
/// so the handle is never left without a guard. `pin` runs no user code
/// (it frees nothing); it could unwind only where the process is out of
/// records (more pinning parties than the registry holds), and then, with
/// `*guard` holding a value already dropped, the process aborts.
pub(crate) fn repin<G>(guard: &mut G, pin: impl FnOnce() -> G) {
    /// Aborts the process if dropped: armed while `*guard` is moved out.
    struct Hole;
    impl Drop for Hole {
        fn drop(&mut self) {
            eprintln!("lfmap: pinning again in a handle's refresh panicked; aborting");
            std::process::abort();
        }
    }
    // Mutation for checking `refresh_lets_a_long_lived_handle_release_what_
    // it_removed` (`tests/reclaim_alone.rs`): the new pin first, which keeps
    // the thread's old announcement.
    if mutation!("refresh_pins_first") {
        drop(std::mem::replace(guard, pin()));
        return;
    }
    // SAFETY: `*guard` is read out once and written back once, and no one
    // else can see it in between: `guard` is borrowed exclusively for this
    // call, and neither the frees run by the old guard's drop nor `pin`
    // can reach the handle that holds it. If `pin` unwinds, `Hole`'s drop
    // aborts before the handle (and its moved-out guard) is dropped again.
    // `AssertUnwindSafe`: the closure consumes the old guard, and nothing
    // of it is looked at after a panic; each backend's guard unpins and
    // releases its record before it frees (or on unwind), so a panic in a
    // free leaves no state half-changed.
    let unwound = unsafe {
        let old = std::ptr::read(guard);
        let hole = Hole;
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(old))).err();
        std::ptr::write(guard, pin());
        std::mem::forget(hole);
        unwound
    };
    if let Some(payload) = unwound {
        std::panic::resume_unwind(payload);
    }
}

/// The guard of a [`HashMapRef`](crate::HashMapRef): [`LocalGuard`] (from
/// [`pin`](crate::HashMap::pin)) or [`OwnedGuard`] (from
/// [`pin_owned`](crate::HashMap::pin_owned)). Sealed; name it to write
/// functions that take either handle.
///
/// ```
/// use lfmap::{Guard, HashMap, HashMapRef};
///
/// fn total<G: Guard>(m: &HashMapRef<'_, &str, u64, lfmap::DefaultHashBuilder, G>) -> u64 {
///     m.values().sum()
/// }
///
/// let map = HashMap::new();
/// map.pin().insert("a", 1);
/// map.pin().insert("b", 2);
/// assert_eq!(total(&map.pin()), 3);
/// assert_eq!(total(&map.pin_owned()), 3);
/// ```
pub trait Guard: ReclaimGuard + sealed::Sealed {}

impl Guard for LocalGuard<'_> {}
impl Guard for OwnedGuard<'_> {}

mod sealed {
    /// Only lfmap's guards are [`Guard`](super::Guard)s.
    pub trait Sealed {}
    impl Sealed for super::LocalGuard<'_> {}
    impl Sealed for super::OwnedGuard<'_> {}
}
