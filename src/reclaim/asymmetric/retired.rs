//! The queue of one map's retired tables, waiting for the pins that may
//! hold them to end.
//!
//! A [`Stack`] of [`Retired`] tables and sealed batches, newest first. A
//! retirement or a seal pushes one (`Release`); the map's scanner takes the
//! whole queue (`Acquire`) into what it holds (`TableReclaim::reclaim`),
//! and the map's drop frees everything left. Whoever takes an object off
//! the queue owns it until it frees it.

use super::bags::Batch;
use super::epoch::Epoch;
use crate::reclaim::contract::Retire;
use crate::reclaim::stack::{Stack, Taken};
use crate::sync::Ordering::{Acquire, Release};

/// A table or a sealed batch of entries, retired but not yet freed.
/// Dropping one without [`free`](Retired::free) leaks it (only on a
/// panic's path).
pub(super) struct Retired {
    object: Object,
    /// The epoch after this object's retirement bump; `None` for a sealed
    /// batch of entries until a scan that took it bumps the epoch for it
    /// (`TableReclaim::reclaim`).
    stamp: Option<Epoch>,
}

/// What was retired.
enum Object {
    /// A table (retired stamped, by `retire_now`), type-erased: its address
    /// and how to free it, a part at a time (`Retire::free_part`), then
    /// whole.
    Table {
        ptr: *mut (),
        free_part: unsafe fn(*mut (), usize) -> bool,
        free: unsafe fn(*mut ()),
    },
    /// A sealed bag of entries (queued unstamped, by `seal`).
    Batch(Batch),
}

// SAFETY: a `Retired` owns its table or batch; moving it to another thread
// moves the objects, which are freed by whichever thread scans: the
// reclamation contract (`reclaim/mod.rs`, 3: `Retire::free` runs "on some
// thread") that every map's retired objects are built for.
unsafe impl Send for Retired {}

impl Retired {
    /// `ptr`, a table retired by the bump that produced `stamp`.
    ///
    /// # Safety
    ///
    /// As for `ReclaimGuard::retire`: `ptr` is unlinked, retired once, and
    /// valid for `T::free`.
    pub(super) unsafe fn table<T: Retire>(ptr: *mut T, stamp: Epoch) -> Self {
        unsafe fn free_part<T: Retire>(p: *mut (), budget: usize) -> bool {
            // SAFETY: `p` is the `*mut T` stored by `Retired::table::<T>`,
            // stepped by its owner alone (`free_step` takes `&mut self`)
            // and never after its free (`Retired::free` consumes it).
            unsafe { T::free_part(p.cast(), budget) }
        }
        unsafe fn free<T: Retire>(p: *mut ()) {
            // SAFETY: `p` is the `*mut T` stored by `Retired::table::<T>`,
            // freed once (`Retired::free` consumes the `Retired`).
            unsafe { T::free(p.cast()) }
        }
        Retired {
            object: Object::Table {
                ptr: ptr.cast(),
                free_part: free_part::<T>,
                free: free::<T>,
            },
            stamp: Some(stamp),
        }
    }

    /// A sealed batch, unstamped: a bump after its push stamps it.
    pub(super) fn batch(batch: Batch) -> Self {
        Retired {
            object: Object::Batch(batch),
            stamp: None,
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

    /// Objects this stands for (1 for a table, the batch's length for a
    /// batch), for the pending-garbage gauge.
    #[inline]
    pub(super) fn count(&self) -> usize {
        match &self.object {
            Object::Table { .. } => 1,
            Object::Batch(batch) => batch.len(),
        }
    }

    /// Whether this is a retired table, not a batch (the queued-tables
    /// gauge).
    #[inline]
    pub(super) fn is_table(&self) -> bool {
        matches!(self.object, Object::Table { .. })
    }

    /// The batch this stands for, if it is one (to be freed an object at a
    /// time: `Bag::adopt`); a table comes back as it was.
    pub(super) fn into_batch(self) -> Result<Batch, Retired> {
        match self.object {
            Object::Batch(batch) => Ok(batch),
            object @ Object::Table { .. } => Err(Retired {
                object,
                stamp: self.stamp,
            }),
        }
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

    /// Frees the object, all of it (what a table still owns, then the
    /// table).
    ///
    /// # Safety
    ///
    /// No pin can still reach the object, and its last accesses happen
    /// before this call.
    pub(super) unsafe fn free(self) {
        // The destructors run here may write their map: not a free of
        // theirs (`guard::frees_allowed`).
        let _freeing = super::guard::Freeing::enter();
        match self.object {
            // SAFETY: the caller's; `ptr` and `free` were paired by
            // `table`, and `self` is consumed, so the table is freed once.
            Object::Table { ptr, free, .. } => unsafe { free(ptr) },
            // SAFETY: the caller's: no pin can reach the batch's objects.
            Object::Batch(batch) => unsafe { batch.free() },
        }
    }

    /// Frees a part of what a table owns, at most `budget` of its entries
    /// (`Retire::free_part`); returns whether the rest is for
    /// [`free`](Self::free). The table stays valid, also if this panics (a
    /// user's `Drop`): a later call resumes. A batch has no parts (`true`).
    ///
    /// # Safety
    ///
    /// As for [`free`](Self::free).
    pub(super) unsafe fn free_step(&mut self, budget: usize) -> bool {
        // As in `free`.
        let _freeing = super::guard::Freeing::enter();
        match &self.object {
            // SAFETY: the caller's; not freed yet (`free` consumes `self`),
            // and ours alone (`&mut self`).
            Object::Table { ptr, free_part, .. } => unsafe { free_part(*ptr, budget) },
            Object::Batch(_) => true,
        }
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

    #[test]
    fn a_table_is_unreachable_once_every_pin_is_at_its_stamp_or_later() {
        let global = super::super::epoch::GlobalEpoch::new();
        let before = global.load(Relaxed);
        let stamp = global.advance(Relaxed);
        let after = global.advance(Relaxed);
        let mut t = Retired::batch(Batch::default());
        assert!(!t.unreachable_under(None), "unstamped: never freed");
        t.stamp_if_unstamped(stamp);
        t.stamp_if_unstamped(after);
        assert!(t.unreachable_under(None));
        assert!(!t.unreachable_under(Some(before)));
        assert!(t.unreachable_under(Some(stamp)));
        assert!(t.unreachable_under(Some(after)));
        // SAFETY: an empty batch: nothing to free.
        unsafe { t.free() };
    }
}
