//! A table's prepared successor, and who owns it: the one word
//! (`Header::prepared`) through which a table prepared ahead of a resize
//! is published, installed, or released.
//!
//! Three states, each a value of the word:
//!
//! * **empty** (null): nothing prepared yet, or what was prepared was
//!   released. A writer past 5/8 may publish a table (`Resizer::prepare`).
//! * **ready** (`P`): table `P` is prepared and owned by this slot (its
//!   table's header frees it with the table). Writers fault its memory in.
//!   Exactly one of two things may end this state, each by a CAS from `P`:
//!   the resize that **installs** `P` (`P → P | INSTALLED`, then `next`'s
//!   CAS), or a **release** of a table the map stopped growing towards
//!   (`P → null`, then `P` is retired: `Resizer::release_prepared`).
//! * **installed** (`P | INSTALLED`): `P` was taken for an install. Once
//!   `next`'s CAS installs it, the chain owns it like any successor; if
//!   another thread's table won that CAS, the installer puts `P` back
//!   (ready again: [`PreparedSlot::untake`]), as nothing else changes a
//!   taken word.
//!
//! Why the install takes the table rather than reading it: a release
//! retires `P`, so an install that only read `P` could put a retired table
//! in the chain (freed twice, and reached after its free). The two CASes
//! from `P` decide which of the two happened; whichever loses leaves `P`
//! alone (the installer then allocates a table of its own, the releaser
//! does nothing). A thread that loaded `P` before a release (to fault a
//! memory step in, or to test whether it serves) holds a pin from before
//! the retirement, so `P` stays allocated for it (reclaim contract 4).

use crate::reclaim::ReclaimGuard;
use crate::sync::AtomicPtr;
use crate::sync::Ordering::{self, AcqRel, Acquire, Relaxed, Release};

/// The low bit of a taken table's pointer (tables are at least 8-byte
/// aligned: the bit is free).
const INSTALLED: usize = 1;

/// What a table's prepared slot holds ([`PreparedSlot::load`]).
#[derive(PartialEq, Eq, Debug)]
pub(crate) enum Prepared<T> {
    /// Nothing prepared, or the prepared table was released.
    Empty,
    /// A prepared table, owned by the slot.
    Ready(*mut T),
    /// A prepared table taken for an install (installed, or about to be
    /// put back by an installer that lost `next`'s CAS).
    Installed(*mut T),
}

// By hand: a derive would ask `T: Copy` of the table type.
impl<T> Clone for Prepared<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Prepared<T> {}

impl<T> Prepared<T> {
    fn decode(word: *mut T) -> Self {
        let bits = word as usize;
        if word.is_null() {
            Prepared::Empty
        } else if bits & INSTALLED != 0 {
            Prepared::Installed(word.map_addr(|a| a & !INSTALLED))
        } else {
            Prepared::Ready(word)
        }
    }

    /// Whether nothing is prepared.
    pub(crate) fn is_empty(self) -> bool {
        matches!(self, Prepared::Empty)
    }

    /// The ready table, if any.
    pub(crate) fn ready(self) -> Option<*mut T> {
        match self {
            Prepared::Ready(p) => Some(p),
            _ => None,
        }
    }
}

/// A table's prepared-successor word: see the module.
pub(crate) struct PreparedSlot<T>(AtomicPtr<T>);

impl<T> PreparedSlot<T> {
    pub(crate) fn new() -> Self {
        PreparedSlot(AtomicPtr::new(std::ptr::null_mut()))
    }

    /// The slot's state. `Acquire` where the caller reads the table
    /// (pairs with [`publish`](Self::publish)'s Release, so its header is
    /// initialised), `Relaxed` for a hint.
    #[inline]
    pub(crate) fn load(&self, order: Ordering) -> Prepared<T> {
        Prepared::decode(self.0.load(order))
    }

    /// The slot's state, loaded through `guard` as every pointer to a
    /// retirable object is (`reclaim` contract; at least Acquire): for a
    /// caller that reads the ready table, which a release may retire
    /// meanwhile.
    #[inline]
    pub(crate) fn load_protected<G: ReclaimGuard>(&self, guard: &G) -> Prepared<T> {
        Prepared::decode(guard.protect(&self.0))
    }

    /// Publishes `new` in an empty slot. `Err` with what is there instead
    /// (another writer's table, or a taken one); the caller still owns
    /// `new` then.
    pub(crate) fn publish(&self, new: *mut T) -> Result<(), Prepared<T>> {
        debug_assert!(new as usize & INSTALLED == 0, "a misaligned table");
        // AcqRel on success: Release publishes the table's initialised
        // header to the threads that load the slot with Acquire. Acquire
        // on failure: the caller may use the winner's table.
        self.0
            .compare_exchange(std::ptr::null_mut(), new, AcqRel, Acquire)
            .map(drop)
            .map_err(Prepared::decode)
    }

    /// Takes ready table `p` for an install: `false` if it is no longer
    /// ready (released, or taken by another installer).
    pub(crate) fn take(&self, p: *mut T) -> bool {
        // Mutation for checking the loom models (docs/verification.md): a
        // take that loads, then stores, instead of one CAS: a release
        // between the two retires the table the install then puts in the
        // chain.
        if mutation!("take_by_load_store") {
            if self.0.load(Acquire) != p {
                return false;
            }
            self.0.store(p.map_addr(|a| a | INSTALLED), Release);
            return true;
        }
        // AcqRel: what decides between an install and a release is that
        // both are read-modify-writes of this one word (one of them fails);
        // Acquire so that the installer sees the table as its publisher
        // left it (it saw that already through its own Acquire load), and
        // Release so that a later load that finds the word taken sees the
        // installer's earlier writes (none are read through it: a hint).
        // Failure: Relaxed, the installer uses nothing it finds.
        self.0
            .compare_exchange(p, p.map_addr(|a| a | INSTALLED), AcqRel, Relaxed)
            .is_ok()
    }

    /// Puts back table `p`, which this thread took ([`take`](Self::take))
    /// and did not install (another table won `next`'s CAS): ready again,
    /// owned by the slot. Nothing else writes a taken word.
    pub(crate) fn untake(&self, p: *mut T) {
        // Mutation for checking the loom models (docs/verification.md):
        // leave the table marked taken, so that no owner frees it (a leak).
        if mutation!("untake_leaks") {
            return;
        }
        // Release: as `publish`'s, for the threads that load it again.
        self.0.store(p, Release);
    }

    /// Releases ready table `p`: `true` if this call emptied the slot, and
    /// the caller must then retire `p` (it is unreachable for operations
    /// that start later); `false` if `p` was taken for an install, or
    /// released by another thread, meanwhile.
    pub(crate) fn release(&self, p: *mut T) -> bool {
        // AcqRel on success: the read-modify-write against `take`'s decides
        // (see `take`); Acquire so that the retirement comes after every
        // write this thread saw to the table's header. Failure: Relaxed,
        // the releaser does nothing.
        self.0
            .compare_exchange(p, std::ptr::null_mut(), AcqRel, Relaxed)
            .is_ok()
    }

    /// The ready table, for a caller with exclusive access (the table's
    /// free): the slot's to free. A taken table belongs to the chain.
    pub(crate) fn owned_exclusive(&mut self) -> Option<*mut T> {
        // Relaxed: exclusive access, every write happened-before.
        let word = self.0.load(Relaxed);
        // Mutation for checking the loom models (docs/verification.md):
        // free the prepared table even when the resize installed it.
        if mutation!("free_installed_prepared") {
            return Some(word.map_addr(|a| a & !INSTALLED)).filter(|p| !p.is_null());
        }
        Prepared::decode(word).ready()
    }
}

#[cfg(all(test, not(loom)))]
impl<T> Prepared<T> {
    /// The table, ready or taken; null if none.
    pub(crate) fn table(self) -> *mut T {
        match self {
            Prepared::Empty => std::ptr::null_mut(),
            Prepared::Ready(p) | Prepared::Installed(p) => p,
        }
    }
}

#[cfg(all(test, not(loom)))]
impl<T> PreparedSlot<T> {
    /// Sets a ready table, which the slot then owns.
    pub(crate) fn set_for_test(&self, p: *mut T) {
        self.0.store(p, Relaxed);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn an_install_and_a_release_of_one_table_exclude_each_other() {
        let mut table = 0u64;
        let p: *mut u64 = &mut table;
        let slot = PreparedSlot::new();
        assert_eq!(slot.load(Relaxed), Prepared::Empty);
        slot.publish(p).unwrap();
        assert_eq!(slot.publish(p), Err(Prepared::Ready(p)));
        // Taken first: the release fails, and the table is the chain's.
        assert!(slot.take(p));
        assert_eq!(slot.load(Relaxed), Prepared::Installed(p));
        assert!(!slot.release(p));
        assert!(!slot.take(p));
        // Put back: ready again, and now a release wins.
        slot.untake(p);
        assert_eq!(slot.load(Relaxed), Prepared::Ready(p));
        assert!(slot.release(p));
        assert_eq!(slot.load(Relaxed), Prepared::Empty);
        assert!(!slot.take(p), "taken after its release");
        assert!(!slot.release(p), "released twice");
    }

    #[test]
    fn the_slot_frees_a_ready_table_only() {
        let mut table = 0u64;
        let p: *mut u64 = &mut table;
        let mut slot = PreparedSlot::new();
        assert_eq!(slot.owned_exclusive(), None);
        slot.publish(p).unwrap();
        assert_eq!(slot.owned_exclusive(), Some(p));
        assert!(slot.take(p));
        assert_eq!(slot.owned_exclusive(), None);
    }
}
