//! The queue of one map's retired tables, waiting for the pins that may
//! hold them to end.
//!
//! A [`Stack`] of [`Retired`] tables and sealed batches, newest first. A
//! retirement or a seal pushes one (`Release`); the map's scanner takes the
//! whole queue (`Acquire`) into what it holds (`TableReclaim::reclaim`),
//! and the map's drop frees everything left. Whoever takes an object off
//! the queue owns it until it frees it.

use super::epoch::Epoch;
use crate::reclaim::contract::Retire;
use crate::reclaim::stack::{Stack, Taken};
use crate::sync::Ordering::{Acquire, Release};

/// A table (or a sealed batch of entries) retired but not yet freed. Dropping one without
/// [`free`](Retired::free) leaks its table (only on a panic's path).
pub(super) struct Retired {
    ptr: *mut (),
    free: unsafe fn(*mut ()),
    /// The epoch after this object's retirement bump; `None` for a sealed
    /// batch of entries until a scan that took it bumps the epoch for it
    /// (`TableReclaim::reclaim`).
    stamp: Option<Epoch>,
    /// Objects this stands for (1 for a table, the batch's length for a
    /// batch), for the pending-garbage gauge.
    count: usize,
    /// Whether this is a table (retired stamped, by `retire_now`), not a
    /// sealed batch (queued unstamped): for the queued-tables gauge.
    table: bool,
}

// SAFETY: a `Retired` owns its table; moving it to another thread moves the
// table, which is freed by whichever thread scans: the reclamation contract
// (`reclaim/mod.rs`, 3: `Retire::free` runs "on some thread") that every
// map's retired objects are built for.
unsafe impl Send for Retired {}

impl Retired {
    /// `ptr`, retired by the bump that produced `stamp`.
    ///
    /// # Safety
    ///
    /// As for `ReclaimGuard::retire`: `ptr` is unlinked, retired once, and
    /// valid for `T::free`.
    pub(super) unsafe fn new<T: Retire>(ptr: *mut T, stamp: Option<Epoch>, count: usize) -> Self {
        unsafe fn free<T: Retire>(p: *mut ()) {
            // SAFETY: `p` is the `*mut T` stored by `Retired::new::<T>`,
            // freed once (`Retired::free` consumes the `Retired`).
            unsafe { T::free(p.cast()) }
        }
        Retired {
            ptr: ptr.cast(),
            free: free::<T>,
            table: stamp.is_some(),
            stamp,
            count,
        }
    }

    /// Whether a bump after this object's unlink has stamped it.
    #[inline]
    pub(super) fn is_stamped(&self) -> bool {
        self.stamp.is_some()
    }

    /// Stamps an unstamped object with `stamp`, the result of a bump that
    /// happens after its unlink (the scanner took it off the queue, with
    /// `Acquire`, before bumping).
    #[inline]
    pub(super) fn stamp_if_unstamped(&mut self, stamp: Epoch) {
        self.stamp.get_or_insert(stamp);
    }

    /// Objects this stands for.
    #[inline]
    pub(super) fn count(&self) -> usize {
        self.count
    }

    /// Whether this is a retired table (see `table`).
    #[inline]
    pub(super) fn is_table(&self) -> bool {
        self.table
    }

    /// Whether no pin can hold this table, given the oldest epoch a record
    /// is pinned at: none is pinned, or every pin read an epoch at least the
    /// stamp, so it pinned after the retirement's bump (by the barrier
    /// argument, `docs/design.md`, "Table reclamation", it cannot reach the
    /// table).
    #[inline]
    pub(super) fn unreachable_under(&self, oldest_pin: Option<Epoch>) -> bool {
        match self.stamp {
            // No bump after the unlink yet: any pin may hold it.
            None => false,
            Some(stamp) => oldest_pin.is_none_or(|oldest| stamp <= oldest),
        }
    }

    /// Frees the table.
    ///
    /// # Safety
    ///
    /// No pin can still reach the table, and its last accesses happen
    /// before this call.
    pub(super) unsafe fn free(self) {
        // SAFETY: the caller's; `ptr` and `free` were paired by `new`, and
        // `self` is consumed, so the table is freed once.
        unsafe { (self.free)(self.ptr) }
    }
}

/// One map's retired tables.
pub(super) struct RetiredTables(Stack<Retired>);

impl RetiredTables {
    pub(super) fn new() -> Self {
        RetiredTables(Stack::new())
    }

    /// Queues a table. Called after the retirement's heavy barrier.
    pub(super) fn push(&self, table: Retired) {
        // Release: a scanner that takes the queue (Acquire, `take`) sees the
        // node's fields, and happens after the heavy barrier of every
        // retirement in it.
        self.0.push(table, Release);
    }

    /// Takes the whole queue, to scan it.
    pub(super) fn take(&self) -> Taken<Retired> {
        // Acquire: pairs with the pushes' (and push-backs') Release, see
        // `push`. The swap makes the taken tables ours alone.
        self.0.take_all(Acquire)
    }

    /// Every table left, for the map's drop (`&mut self`: no guard of the
    /// map is alive, so no pin can hold any of them).
    pub(super) fn take_all_mut(&mut self) -> Taken<Retired> {
        self.0.take_all_mut()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::Ordering::Relaxed;

    struct Nothing;

    impl Retire for Nothing {
        unsafe fn free(_: *mut Self) {}
    }

    #[test]
    fn a_table_is_unreachable_once_every_pin_is_at_its_stamp_or_later() {
        let global = super::super::epoch::GlobalEpoch::new();
        let before = global.load(Relaxed);
        let stamp = global.advance(Relaxed);
        let after = global.advance(Relaxed);
        // SAFETY: `Nothing::free` touches nothing; the pointer is never freed.
        let mut t =
            unsafe { Retired::new(std::ptr::NonNull::<Nothing>::dangling().as_ptr(), None, 1) };
        assert!(!t.unreachable_under(None), "unstamped: never freed");
        t.stamp_if_unstamped(stamp);
        t.stamp_if_unstamped(after);
        assert!(t.unreachable_under(None));
        assert!(!t.unreachable_under(Some(before)));
        assert!(t.unreachable_under(Some(stamp)));
        assert!(t.unreachable_under(Some(after)));
    }
}
