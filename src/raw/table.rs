//! One table generation: the slot array and its migration state.

use crate::raw::cursor::Cursor;
use crate::raw::probe::Placement;
use crate::raw::slot::{Entry, Word};
use crate::reclaim::{ReclaimGuard, Retire};
use crate::stats::Counter;
use crate::sync::{AtomicBool, AtomicPtr, Ordering};

/// The smallest table: 16 slots (and so `shift <= 60`). Under loom, 4, so
/// that models of a few operations already resize.
pub(crate) const MIN_SLOTS: usize = if cfg!(loom) { 4 } else { 16 };

/// The largest table lfmap allocates: `2^(usize::BITS - 5)` slots, so that
/// slot arrays never overflow `isize` in bytes.
pub(crate) const MAX_SLOTS: usize = 1 << (usize::BITS - 5);

/// A power-of-two array of slots plus its migration bookkeeping.
pub(crate) struct Table<K, V> {
    /// One word per slot: a tagged, flagged entry pointer (`raw/slot.rs`
    /// says what the bits mean).
    pub(crate) words: Box<[AtomicPtr<Entry<K, V>>]>,
    /// Where keys live in this table: home slots and probe sequences
    /// (`probe.rs`). Its size is the length of `words`.
    pub(crate) placement: Placement,
    /// Generation number: 0 for the first table, +1 per resize.
    pub(crate) generation: u64,
    /// The table this one is migrating into; null when no resize runs.
    pub(crate) next: AtomicPtr<Table<K, V>>,
    /// Slots claimed in this table (live entries plus keyed tombstones).
    pub(crate) occupied: Counter,
    /// Who migrates which chunk, and whether all are done (`cursor.rs`).
    pub(crate) cursor: Cursor,
    /// An older table migrating into this one may still be reached, so
    /// entries unlinked here may still be dereferenced through its copied
    /// words: their retirement waits on `deferred`.
    pub(crate) older_reachable: AtomicBool,
    /// Some slot of this table was ever deleted (holds a keyed tombstone,
    /// which the table owns). A finished table without one owns no entry,
    /// so dropping it skips the slot scan: that scan, run by whichever thread
    /// reclaims the table, was a multi-millisecond stall on large tables.
    tombstoned: AtomicBool,
    /// Entries unlinked here while `older_reachable` (a Treiber stack).
    deferred: AtomicPtr<Deferred<K, V>>,
}

/// A node of a table's deferred-retirement stack.
struct Deferred<K, V> {
    entry: *mut Entry<K, V>,
    next: *mut Deferred<K, V>,
}

impl<K, V> Table<K, V> {
    /// Allocates a table with `placement` (whose slot count is a power of
    /// two, at least [`MIN_SLOTS`], at most [`MAX_SLOTS`]), every slot empty.
    pub(crate) fn new(placement: Placement, generation: u64, older_reachable: bool) -> Box<Self> {
        let slots = placement.slots();
        assert!(slots.is_power_of_two() && (MIN_SLOTS..=MAX_SLOTS).contains(&slots));
        Box::new(Table {
            words: zeroed_slice(slots),
            placement,
            generation,
            next: AtomicPtr::new(std::ptr::null_mut()),
            occupied: Counter::new(),
            cursor: Cursor::new(),
            older_reachable: AtomicBool::new(older_reachable),
            tombstoned: AtomicBool::new(false),
            deferred: AtomicPtr::new(std::ptr::null_mut()),
        })
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
        let node = Box::into_raw(Box::new(Deferred {
            entry,
            next: std::ptr::null_mut(),
        }));
        let mut head = self.deferred.load(Ordering::SeqCst);
        loop {
            // SAFETY: `node` is ours until the CAS publishes it.
            unsafe { (*node).next = head };
            match self.deferred.compare_exchange_weak(
                head,
                node,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => break,
                Err(seen) => head = seen,
            }
        }
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

    /// Retires every parked entry through `guard`.
    pub(crate) fn drain_deferred(&self, guard: &impl ReclaimGuard) {
        let mut node = self.deferred.swap(std::ptr::null_mut(), Ordering::SeqCst);
        while !node.is_null() {
            // SAFETY: the swap gave us the whole stack: its nodes are ours.
            let owned = unsafe { Box::from_raw(node) };
            node = owned.next;
            // SAFETY: the entry was unlinked from this table by the CAS that
            // parked it, parked once, and the older table that could still
            // reach it has been unlinked from the root.
            unsafe { guard.retire(owned.entry) };
        }
    }

    /// Asks the CPU to start loading the entries of slots `range`, before a
    /// migration copies them. Copying needs each entry's stored hash, and
    /// entries are scattered over the heap: loaded one after the other, every
    /// copy waits for its own cache miss (89% of the copy's samples in a
    /// profile of rapid growth). Prefetched together, the misses overlap.
    ///
    /// Only a hint: the words are read Relaxed and nothing is dereferenced
    /// (a prefetch of a stale address cannot fault).
    #[inline]
    pub(crate) fn prefetch_entries(&self, range: std::ops::Range<usize>) {
        #[cfg(all(target_arch = "x86_64", not(loom)))]
        for i in range {
            let w = Word::from_raw(self.words[i].load(Ordering::Relaxed));
            // SAFETY: `_mm_prefetch` only hints the cache; it never faults,
            // whatever the address, and SSE is part of the x86_64 baseline.
            unsafe {
                use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
                // The line holding the stored hash, which the copy reads.
                let hash = std::mem::offset_of!(Entry<K, V>, hash);
                _mm_prefetch::<_MM_HINT_T0>(w.entry().cast::<i8>().wrapping_add(hash));
            }
        }
        #[cfg(not(all(target_arch = "x86_64", not(loom))))]
        let _ = range;
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

    /// Number of slots.
    #[inline]
    pub(crate) fn slots(&self) -> usize {
        self.placement.slots()
    }
}

impl<K, V> Table<K, V> {
    /// Takes the live entry of slot `i` out of a table this thread owns
    /// exclusively, leaving the slot vacant; `None` if it holds no live,
    /// owned entry.
    pub(crate) fn take_live(&mut self, i: usize) -> Option<(K, V)> {
        let word = &self.words[i];
        let w = Word::from_raw(word.load(Ordering::Relaxed));
        if w.is_vacant() || w.deleted() || w.copied() {
            return None;
        }
        word.store(std::ptr::null_mut(), Ordering::Relaxed);
        // SAFETY: the table owns this live entry (not deleted, not handed
        // on), we have exclusive access, and the slot no longer points to it.
        let entry = unsafe { Box::from_raw(w.entry()) };
        Some((entry.key, entry.value))
    }
}

impl<K, V> Retire for Table<K, V> {
    unsafe fn free(ptr: *mut Self) {
        // SAFETY: tables are allocated by `Table::new` (a `Box`) and the
        // caller frees each once. Dropping a table frees its arrays only;
        // the entries it pointed to are owned elsewhere by then (copied to
        // the next table, or retired individually).
        drop(unsafe { Box::from_raw(ptr) });
    }
}

impl<K, V> Drop for Table<K, V> {
    /// Frees the entries this table owns: every claimed word that is a
    /// keyed tombstone, or live and not handed to the next table; plus the
    /// entries parked on `deferred`. Runs only when the table is unreachable
    /// (retired and reclaimed, or dropped with the map).
    fn drop(&mut self) {
        // Unwinding under loom: leave loom's state alone (`sync.rs`).
        if crate::sync::loom_unwinding() {
            return;
        }
        // A finished table has handed every live entry on (all `COPIED`);
        // without tombstones it owns none of the entries its words point at.
        let owns_entries =
            !self.cursor.finished_exclusive() || self.tombstoned.load(Ordering::Relaxed);
        if owns_entries {
            for word in self.words.iter() {
                let w = Word::from_raw(word.load(Ordering::Relaxed));
                if !w.is_vacant() && (w.deleted() || !w.copied()) {
                    // SAFETY: owned by this table alone (see above), which
                    // nothing can reach any more.
                    unsafe { Entry::free(w.entry()) };
                }
            }
        }
        let mut node = self.deferred.load(Ordering::Relaxed);
        while !node.is_null() {
            // SAFETY: parked nodes and their entries are owned by the stack.
            let owned = unsafe { Box::from_raw(node) };
            node = owned.next;
            // SAFETY: as above.
            unsafe { Entry::free(owned.entry) };
        }
    }
}

/// Types whose all-zero bit pattern is a valid value.
///
/// # Safety
///
/// Implementors must be valid when zero-initialised.
#[cfg(not(loom))]
pub(crate) unsafe trait Zeroable {}
// SAFETY: `AtomicPtr<T>` has the same in-memory representation as `*mut T`;
// all-zero is the null pointer.
#[cfg(not(loom))]
unsafe impl<T> Zeroable for AtomicPtr<T> {}
// SAFETY: atomic integers have the in-memory representation of their
// integer (`portable_atomic::AtomicU128` documents the same for `u128`);
// all-zero is 0.
#[cfg(not(loom))]
unsafe impl Zeroable for crate::sync::AtomicU8 {}
// SAFETY: as above.
#[cfg(not(loom))]
unsafe impl Zeroable for crate::sync::AtomicU128 {}

/// A boxed slice of `n` zeroed atomics, from `alloc_zeroed`: large tables
/// come straight from the kernel's zero pages, so an untouched slot costs
/// no resident memory and allocation costs no initialisation pass.
#[cfg(not(loom))]
pub(crate) fn zeroed_slice<T: Zeroable>(n: usize) -> Box<[T]> {
    use std::alloc::{alloc_zeroed, handle_alloc_error, Layout};
    let layout = Layout::array::<T>(n).unwrap_or_else(|_| capacity_overflow());
    if layout.size() == 0 {
        return Vec::new().into_boxed_slice();
    }
    // SAFETY: the layout has a non-zero size.
    let ptr = unsafe { alloc_zeroed(layout) }.cast::<T>();
    if ptr.is_null() {
        handle_alloc_error(layout);
    }
    // SAFETY: `ptr` is a fresh allocation of `n` zeroed `T`s with the layout
    // `Box<[T]>` uses, and zeroes are valid `T`s (`Zeroable`).
    unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, n)) }
}

/// Under loom, atomics are not plain memory: build them one by one.
#[cfg(loom)]
pub(crate) fn zeroed_slice<T: LoomZero>(n: usize) -> Box<[T]> {
    (0..n).map(|_| T::zero()).collect()
}

#[cfg(loom)]
pub(crate) trait LoomZero {
    fn zero() -> Self;
}
#[cfg(loom)]
impl LoomZero for crate::sync::AtomicU8 {
    fn zero() -> Self {
        crate::sync::AtomicU8::new(0)
    }
}
#[cfg(loom)]
impl LoomZero for crate::sync::AtomicU128 {
    fn zero() -> Self {
        crate::sync::AtomicU128::new(0)
    }
}
#[cfg(loom)]
impl<T> LoomZero for AtomicPtr<T> {
    fn zero() -> Self {
        AtomicPtr::new(std::ptr::null_mut())
    }
}

/// The one place a capacity overflow is reported.
#[cold]
#[track_caller]
pub(crate) fn capacity_overflow() -> ! {
    panic!("lfmap: capacity overflow (requested more than {MAX_SLOTS} slots)")
}

/// The slot count for a table expected to hold `n` entries at a load factor
/// of at most 1/2 right after a resize, so the table can grow by half again
/// before the next resize (at 3/4). Panics on overflow.
pub(crate) fn slots_for(n: usize) -> usize {
    n.checked_mul(2)
        .and_then(usize::checked_next_power_of_two)
        .filter(|&s| s <= MAX_SLOTS)
        .unwrap_or_else(|| capacity_overflow())
        .max(MIN_SLOTS)
}

/// Whether a table of `slots` slots holding `len` live keys is mostly
/// empty and may shrink (not below `min_slots`, the `with_capacity` floor):
/// below 1/8 live, so that a shrink to [`slots_for`]`(len)` at least
/// quarters the table and a workload hovering around one size does not
/// resize back and forth.
pub(crate) fn should_shrink(slots: usize, min_slots: usize, len: usize) -> bool {
    slots > min_slots && len.saturating_mul(8) < slots
}

/// Whether a table that a sweep (`retain`, `clear`) has just thinned should
/// be rebuilt now, by the sweeping thread: when it may shrink, or when its
/// tombstones (`occupied - len`: removed keys keep their slots until the
/// next resize) fill more than a quarter of it, which would make the next
/// inserts start a same-size rebuild soon anyway.
pub(crate) fn should_tidy(slots: usize, min_slots: usize, len: usize, occupied: usize) -> bool {
    should_shrink(slots, min_slots, len) || occupied.saturating_sub(len) * 4 > slots
}

/// Whether a removal may start a shrink. Sweeps that remove much of the
/// map (`retain`, `clear`) defer it and resize once at their end
/// ([`should_tidy`]), instead of once per halving of the map.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Shrink {
    /// An ordinary removal: shrink once the table is mostly empty.
    Allow,
    /// A removal inside a sweep: the sweep decides at its end.
    Defer,
}

/// The slot count for `with_capacity(n)`: `n` entries must fit below the
/// 3/4 resize threshold.
pub(crate) fn slots_for_capacity(n: usize) -> usize {
    let needed = n
        .checked_add(n / 3 + 1)
        .and_then(usize::checked_next_power_of_two)
        .filter(|&s| s <= MAX_SLOTS)
        .unwrap_or_else(|| capacity_overflow());
    needed.max(MIN_SLOTS)
}
