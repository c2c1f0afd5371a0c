//! One table generation of the generic map: its slots, the resize
//! engine's header, and the retirements it must defer while an older table
//! can still reach its entries.

use std::ops::Range;

use super::slot::{Entry, Slots};
use crate::error::TryReserveError;
use crate::reclaim::stack::{Stack, Taken};
use crate::reclaim::{ReclaimGuard, Retire};
use crate::resize::memory::alloc_failed;
use crate::resize::policy::{self, GRAIN, MAX_SLOTS, MIN_SLOTS};
use crate::resize::probe::Placement;
use crate::resize::{Generation, Header};
use crate::sync::{AtomicBool, Ordering};

/// An array of slots plus its migration bookkeeping.
pub(crate) struct Table<K, V> {
    /// One word per slot: a tagged, flagged entry pointer (`raw/slot.rs`
    /// says what the bits mean, and owns every transition).
    pub(crate) slots: Slots<K, V>,
    /// Placement, generation, successor, occupancy and migration cursor:
    /// what the resize engine (`resize/mod.rs`) needs of every table.
    pub(crate) header: Header<Table<K, V>>,
    /// An older table migrating into this one may still be reached, so
    /// entries unlinked here may still be dereferenced through its copied
    /// words: their retirement waits on `deferred`.
    pub(crate) older_reachable: AtomicBool,
    /// Some slot of this table was ever deleted (holds a keyed tombstone,
    /// which the table owns). A finished table without one owns no entry,
    /// so dropping it skips the slot scan: that scan, run by whichever thread
    /// reclaims the table, was a multi-millisecond stall on large tables.
    tombstoned: AtomicBool,
    /// Entries unlinked here while `older_reachable`.
    deferred: Stack<Parked<K, V>>,
    /// Where freeing the entries this table owns goes on from: slots
    /// before it own none any more. Moved on by [`Retire::free_part`],
    /// which frees a retired table in steps; touched only by whoever owns
    /// the unreachable table (`&mut`).
    freed_to: usize,
}

/// An entry parked on a table's deferred-retirement stack: unlinked from
/// the table, owned by the stack until it is retired (or the table drops).
struct Parked<K, V>(*mut Entry<K, V>);

// SAFETY: a parked entry is owned by the stack alone; whoever takes it
// retires or frees it, possibly on another thread, which moves its key and
// value there (so K, V: Send).
unsafe impl<K: Send, V: Send> Send for Parked<K, V> {}

impl<K, V> Table<K, V> {
    /// Allocates a table with `placement` (whose slot count is a multiple
    /// of [`GRAIN`], at least [`MIN_SLOTS`], at most [`MAX_SLOTS`]), every
    /// slot empty.
    pub(crate) fn new(placement: Placement, generation: u64, older_reachable: bool) -> Box<Self> {
        Self::try_new(placement, generation, older_reachable).unwrap_or_else(|e| alloc_failed(e))
    }

    /// [`new`](Self::new), reporting an allocation failure instead.
    fn try_new(
        placement: Placement,
        generation: u64,
        older_reachable: bool,
    ) -> Result<Box<Self>, TryReserveError> {
        let slots = placement.slots();
        assert!(slots % GRAIN == 0 && (MIN_SLOTS..=MAX_SLOTS).contains(&slots));
        Ok(Box::new(Table {
            slots: Slots::try_new(slots)?,
            header: Header::try_new(placement, generation)?,
            older_reachable: AtomicBool::new(older_reachable),
            tombstoned: AtomicBool::new(false),
            deferred: Stack::new(),
            freed_to: 0,
        }))
    }

    /// Parks `entry`, just unlinked from this table, if an older table may
    /// still reach it; returns whether it was parked. A parked entry is
    /// retired by whoever drains the stack after `older_reachable` clears:
    /// the promoter, or this thread if it sees the flag clear after pushing.
    pub(crate) fn defer_retire(&self, entry: *mut Entry<K, V>) -> bool {
        // SeqCst on the flag and the stack, here and in `release_older`: the
        // pusher's (push, load flag) and the promoter's (clear flag, take
        // stack) form a store-buffering pattern; SeqCst forbids the outcome
        // where the pusher sees the flag set and the promoter misses the push.
        if !self.older_reachable.load(Ordering::SeqCst) {
            return false;
        }
        self.deferred.push(Parked(entry), Ordering::SeqCst);
        true
    }

    /// True once a pusher must drain the stack itself (the flag cleared).
    pub(crate) fn older_released(&self) -> bool {
        !self.older_reachable.load(Ordering::SeqCst)
    }

    /// Clears `older_reachable` (the older table was unlinked from the root)
    /// and retires every parked entry through `guard`.
    pub(crate) fn release_older(&self, guard: &impl ReclaimGuard) {
        self.older_reachable.store(false, Ordering::SeqCst);
        self.drain_deferred(guard);
    }

    /// Retires every parked entry through `guard`, once the older table
    /// is unlinked ([`older_released`](Self::older_released): the only
    /// time it is called). A retirement may free entries and so run a
    /// user's `Drop`; if that panics, the entries not yet retired are
    /// retired as it unwinds ([`RetireRest`]). (Put back on the stack, as
    /// first written, they waited for the table's own free, which a map
    /// that stops resizing never makes: found by review.)
    pub(crate) fn drain_deferred<G: ReclaimGuard>(&self, guard: &G) {
        debug_assert!(self.older_released());
        let mut rest = RetireRest {
            guard,
            // SeqCst: the promoter's side of the pattern `defer_retire`
            // states.
            taken: self.deferred.take_all(Ordering::SeqCst),
        };
        rest.retire_all();
    }

    /// Whether the slots still point at entries this table owns (some may
    /// be freed already: `freed_to`). A finished table has handed every
    /// live entry on (all `COPIED`); without tombstones it owns none of the
    /// entries its words point at. Relaxed: exclusive access.
    fn owns_entries(&mut self) -> bool {
        !self.header.cursor.finished_exclusive() || self.tombstoned.load(Ordering::Relaxed)
    }

    /// Records that a slot of this table now holds a tombstone. Relaxed: read
    /// only by `drop`, which has exclusive access (every write happened-before
    /// it). The plain load first keeps repeated deletes from writing the
    /// shared line again.
    #[inline]
    pub(crate) fn note_tombstone(&self) {
        if !self.tombstoned.load(Ordering::Relaxed) {
            self.tombstoned.store(true, Ordering::Relaxed);
        }
    }
}

impl<K, V> Generation for Table<K, V> {
    fn successor(
        &self,
        placement: Placement,
        generation: u64,
    ) -> Result<Box<Self>, TryReserveError> {
        // An older table migrates into this one, and its copied words still
        // point at entries this table takes over.
        Table::try_new(placement, generation, true)
    }

    #[inline]
    fn header(&self) -> &Header<Self> {
        &self.header
    }

    fn header_mut(&mut self) -> &mut Header<Self> {
        &mut self.header
    }

    const SLOT_BYTES: usize = std::mem::size_of::<usize>();

    fn memory_steps(&self) -> usize {
        self.slots.memory_steps()
    }

    fn populate(&self, k: usize, _from: Option<&Self>) {
        self.slots.populate(k);
    }

    #[inline]
    fn prefetch_slots(&self, range: Range<usize>) {
        self.slots.prefetch_slots(range);
    }

    #[inline]
    fn prepare_copy(&self, next: &Self, chunk: Range<usize>) {
        self.slots.prefetch_entries(chunk.clone());
        // A growth (the same salt) sends slots [a, b) to their split range
        // ([2a, 2b) for a doubling), plus the probe overflow: those lines of
        // the successor, cache-cold though faulted in ahead, are the
        // copies' other miss each.
        if !policy::prepares_copies(self.placement().slots(), next.placement().slots()) {
            return;
        }
        if let Some(to) = next.placement().split_range(self.placement(), chunk) {
            next.slots.prefetch_slots(to.start..to.end + 8);
        }
    }

    fn promoted(&self, guard: &impl ReclaimGuard) {
        // The older table is unreachable for operations that start from now
        // on: entries parked here may be retired.
        self.release_older(guard);
    }
}

impl<K, V> Retire for Table<K, V> {
    unsafe fn free(ptr: *mut Self) {
        // SAFETY: tables are allocated by `Table::new` (a `Box`) and the
        // caller frees each once. Dropping it frees the entries it still
        // owns (`Drop`), then its arrays.
        drop(unsafe { Box::from_raw(ptr) });
    }

    /// Frees `budget` of the entries the table owns (keyed tombstones, in
    /// a churning map one per key removed since the table came: half a
    /// million in a cache of that size); `true` once it owns none, or if
    /// it is to be freed whole: an unbounded budget, or a table a shrink
    /// replaced ([`policy::freed_whole`](crate::resize::policy::freed_whole)).
    unsafe fn free_part(ptr: *mut Self, budget: usize) -> bool {
        // SAFETY: the caller owns the unreachable table alone, and has not
        // freed it (`Retire::free_part`).
        let table = unsafe { &mut *ptr };
        // A prepared table the resize did not install goes with the first
        // step, not the last: nothing reaches it any more, and a table
        // freed in steps (one with tombstones) may take thousands of
        // writes to finish, or never, in a map that stops writing (found
        // by review: `shrink_to_fit` kept it until then). Idempotent.
        table.header.free_prepared();
        // Unbounded (a backend's whole free, or under loom): `free` does it.
        if budget == usize::MAX || table.header.freed_whole() || !table.owns_entries() {
            return true;
        }
        // A panic here (a user's `Drop`) leaves `freed_to` where this
        // step began; the step's freed slots are empty, so the next call
        // resumes it.
        table.freed_to = table.slots.free_owned(table.freed_to, budget);
        table.freed_to == table.slots.len()
    }
}

/// Parked entries taken off a table's `deferred` stack after the older
/// table was unlinked, to retire: the ones left when a retirement's free
/// panics (a user's `Drop`) are retired as the panic unwinds, which frees
/// nothing then (every backend defers its frees while the thread unwinds,
/// or catches what they raise), so each is retired once.
struct RetireRest<'g, K, V, G: ReclaimGuard> {
    guard: &'g G,
    taken: Taken<Parked<K, V>>,
}

impl<K, V, G: ReclaimGuard> RetireRest<'_, K, V, G> {
    fn retire_all(&mut self) {
        for Parked(entry) in self.taken.by_ref() {
            // SAFETY: the entry was unlinked from its table by the CAS that
            // parked it, parked once, taken once (the take gave us the
            // whole stack), and the older table that could still reach it
            // has been unlinked from the root (`drain_deferred`).
            unsafe { self.guard.retire(entry) };
        }
    }
}

impl<K, V, G: ReclaimGuard> Drop for RetireRest<'_, K, V, G> {
    fn drop(&mut self) {
        // Unwinding under loom: leave loom's state alone (`sync/mod.rs`).
        if crate::sync::loom_unwinding() {
            return;
        }
        self.retire_all();
    }
}

/// Parked entries taken off a table's `deferred` stack in its drop and not
/// yet freed: put back on it if dropped early (a user's `Drop` panicked),
/// for the resumed pass to free.
struct ParkedRest<'t, K, V> {
    table: &'t Table<K, V>,
    taken: Taken<Parked<K, V>>,
}

impl<K, V> Drop for ParkedRest<'_, K, V> {
    fn drop(&mut self) {
        // Unwinding under loom: leave loom's state alone (`sync/mod.rs`).
        if crate::sync::loom_unwinding() {
            return;
        }
        for parked in self.taken.by_ref() {
            // SeqCst: as every push onto `deferred`.
            self.table.deferred.push(parked, Ordering::SeqCst);
        }
    }
}

impl<K, V> Drop for Table<K, V> {
    /// Frees the entries this table owns: every claimed word that is a
    /// keyed tombstone, or live and not handed to the next table; plus the
    /// entries parked on `deferred`. Runs only when the table is unreachable
    /// (retired and reclaimed, or dropped with the map).
    ///
    /// If a user's `Drop` panics, the rest are still freed as the panic
    /// unwinds through here (a second panic aborts, as in std's
    /// collections): every freed slot is emptied first, so the resumed
    /// pass frees each entry once.
    fn drop(&mut self) {
        // Unwinding under loom: leave loom's state alone (`sync/mod.rs`).
        if crate::sync::loom_unwinding() {
            return;
        }
        /// Frees the rest of the table's entries when dropped early.
        struct Resume<'t, K, V>(&'t mut Table<K, V>);
        impl<K, V> Drop for Resume<'_, K, V> {
            fn drop(&mut self) {
                // Unwinding under loom: leave loom's state alone (`sync/mod.rs`;
                // there the pass is not resumable, and a model has failed).
                if crate::sync::loom_unwinding() {
                    return;
                }
                self.0.free_rest();
            }
        }
        let resume = Resume(self);
        resume.0.free_rest();
        std::mem::forget(resume);
    }
}

impl<K, V> Table<K, V> {
    /// Frees every entry the table still owns (the table's drop).
    fn free_rest(&mut self) {
        if self.owns_entries() {
            // The rest of them, if `free_part` freed some. A bounded
            // budget (all the slots) makes the pass resumable: it empties
            // each slot before freeing its entry. Under loom the models'
            // frees stay free of those stores (no panicking `Drop` there).
            let budget = if cfg!(loom) {
                usize::MAX
            } else {
                self.slots.len()
            };
            self.freed_to = self.slots.free_owned(self.freed_to, budget);
        }
        let taken = self.deferred.take_all_mut();
        let mut rest = ParkedRest { table: self, taken };
        for Parked(entry) in rest.taken.by_ref() {
            // SAFETY: parked entries are owned by the stack, and nothing can
            // reach this table any more; each is taken off once.
            unsafe { Entry::free(entry) };
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::raw::slot::Pending;
    use crate::sync::AtomicPtr;
    use std::cell::Cell;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    /// A value that counts its drops.
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A guard whose retirements free at once (no reader exists in this
    /// test), and whose first retirement then panics, as a retirement does
    /// when the frees it runs reach a user's panicking `Drop`.
    struct FirstRetirePanics {
        calls: Cell<usize>,
    }

    impl ReclaimGuard for FirstRetirePanics {
        fn protect<T>(&self, ptr: &AtomicPtr<T>) -> *mut T {
            ptr.load(Ordering::Acquire)
        }

        unsafe fn retire<T: Retire>(&self, ptr: *mut T) {
            self.calls.set(self.calls.get() + 1);
            // SAFETY: the caller's obligations: retired once, and nothing
            // else here can reach it.
            unsafe { T::free(ptr) };
            if self.calls.get() == 1 {
                panic!("a value's Drop panicked in the retirement's frees");
            }
        }

        fn before_write(&self) {}

        fn flush(&self) {}
    }

    /// A table freed in steps gives its unused prepared successor back at
    /// its first step.
    #[test]
    fn a_tables_first_step_frees_its_unused_prepared_table() {
        let table = Box::into_raw(Table::<u64, u64>::new(
            Placement::first(MIN_SLOTS),
            0,
            false,
        ));
        let prepared = Table::<u64, u64>::new(Placement::first(2 * MIN_SLOTS), 1, false);
        // SAFETY: `table` is ours alone; it owns `prepared` from here.
        unsafe {
            (*table)
                .header
                .set_prepared_for_test(Box::into_raw(prepared))
        };
        // SAFETY: unreachable, ours alone, not freed yet.
        unsafe { Table::free_part(table, 1) };
        // SAFETY: as above.
        assert!(unsafe { (*table).header.prepared_dealt_with() });
        // SAFETY: as above; the prepared table is not freed again.
        unsafe { Table::free(table) };
    }

    /// A promotion whose retirement of the parked entries panics still
    /// retires the rest of them (found by review: they went back on the
    /// stack, which nothing drains after the promotion, so their values
    /// lived until the table itself was freed, which a map that stops
    /// resizing never does).
    #[test]
    fn a_panic_in_a_promotions_retirements_leaves_no_entry_parked() {
        let table = Table::<u64, Counted>::new(Placement::first(MIN_SLOTS), 0, true);
        let drops = Arc::new(AtomicUsize::new(0));
        for k in 0..3u64 {
            let pending = Pending::new(k, k, Counted(drops.clone()));
            let entry = pending.as_ptr().cast_mut();
            // The stack owns it from here.
            std::mem::forget(pending);
            assert!(table.defer_retire(entry));
        }
        let guard = FirstRetirePanics {
            calls: Cell::new(0),
        };
        let promoted =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| table.release_older(&guard)));
        assert!(promoted.is_err());
        assert_eq!(guard.calls.get(), 3, "a parked entry was left unretired");
        assert_eq!(drops.load(Ordering::SeqCst), 3);
        drop(table);
        assert_eq!(drops.load(Ordering::SeqCst), 3, "an entry freed twice");
    }
}
