//! One `WordMap` table generation: the slot units, the key-top-byte array,
//! and the migration bookkeeping shared with the generic map.

use crate::raw::cursor::Cursor;
use crate::raw::probe::Placement;
use crate::raw::table::{zeroed_slice, MAX_SLOTS, MIN_SLOTS};
use crate::reclaim::Retire;
use crate::stats::Counter;
use crate::sync::{AtomicPtr, AtomicU128, AtomicU8};

/// A power-of-two array of 16-byte slot units (`word/slot.rs` says what the
/// bits mean), 1 byte more per slot for keys whose top byte is not zero.
pub(crate) struct WordTable {
    /// One `{meta, value}` unit per slot, 16-byte aligned.
    pub(crate) units: Box<[AtomicU128]>,
    /// The top byte of the key of each slot whose meta has `HIGH` set;
    /// zero (and never read) for every other slot.
    pub(crate) high: Box<[AtomicU8]>,
    /// Where keys live in this table: home slots and probe sequences
    /// (`raw/probe.rs`). Its size is the length of `units`.
    pub(crate) placement: Placement,
    /// Generation number: 0 for the first table, +1 per resize.
    pub(crate) generation: u64,
    /// The table this one is migrating into; null when no resize runs.
    pub(crate) next: AtomicPtr<WordTable>,
    /// Slots claimed (live, removed, or claimed and never given a value).
    pub(crate) occupied: Counter,
    /// Migration work hand-out (`raw/cursor.rs`).
    pub(crate) cursor: Cursor,
    /// Under loom: every unit access reads this cell and freeing the table
    /// writes it, so loom reports any access not ordered before the free
    /// (a table freed while a pin could still reach it).
    #[cfg(loom)]
    alive: loom::cell::UnsafeCell<()>,
}

impl WordTable {
    /// Allocates a table with `placement` (whose slot count is a power of
    /// two within [`MIN_SLOTS`]..=[`MAX_SLOTS`]), every slot empty: zeroed
    /// memory, so an untouched page costs no resident memory.
    pub(crate) fn new(placement: Placement, generation: u64) -> Box<Self> {
        let slots = placement.slots();
        assert!(slots.is_power_of_two() && (MIN_SLOTS..=MAX_SLOTS).contains(&slots));
        Box::new(WordTable {
            units: zeroed_slice(slots),
            high: zeroed_slice(slots),
            placement,
            generation,
            next: AtomicPtr::new(std::ptr::null_mut()),
            occupied: Counter::new(),
            cursor: Cursor::new(),
            #[cfg(loom)]
            alive: loom::cell::UnsafeCell::new(()),
        })
    }

    /// Records an access to the table for loom's free-after-use check; a
    /// no-op outside loom.
    #[inline(always)]
    pub(crate) fn touch(&self) {
        #[cfg(loom)]
        self.alive.with(|_| ());
    }

    /// Faults in, for writing, the pages of units `range` (clamped to the
    /// table) ahead of a migration copying into them.
    ///
    /// A new table is untouched zeroed memory. The copy's probe first *reads*
    /// a unit (the kernel maps the shared zero page), then its claim CAS
    /// *writes* it: a second, copy-on-write fault whose TLB flush interrupts
    /// the other cores, once per page. A `CAS(0 -> 0)` on one unit per page
    /// is a write access from the start: one fault, no flush. It changes no
    /// unit's value (an empty unit stays empty; a claimed one fails the CAS).
    pub(crate) fn prefault(&self, range: std::ops::Range<usize>) {
        #[cfg(not(loom))]
        {
            const UNITS_PER_PAGE: usize = 4096 / std::mem::size_of::<AtomicU128>();
            let end = range.end.min(self.slots());
            let mut i = range.start - range.start % UNITS_PER_PAGE;
            while i < end {
                // AcqRel/Acquire like every unit CAS; the result is ignored:
                // the point is the write access.
                let _ = self.units[i].compare_exchange(
                    0,
                    0,
                    crate::sync::Ordering::AcqRel,
                    crate::sync::Ordering::Acquire,
                );
                i += UNITS_PER_PAGE;
            }
        }
        #[cfg(loom)]
        let _ = range;
    }

    /// Number of slots.
    #[inline]
    pub(crate) fn slots(&self) -> usize {
        self.placement.slots()
    }
}

impl Retire for WordTable {
    unsafe fn free(ptr: *mut Self) {
        // SAFETY: tables come from `WordTable::new` (a `Box`), and the caller
        // frees each once. A table owns nothing but its arrays: keys and
        // values live inline.
        let table = unsafe { Box::from_raw(ptr) };
        // Under loom, the free is a write of `alive` that every earlier
        // access must happen before; the memory itself is kept until the
        // execution is over (the graveyard frees it when the next one
        // starts), so a late access in a broken model is reported by loom
        // instead of being undefined behaviour in the checker, and a long
        // loom run does not accumulate tables.
        #[cfg(loom)]
        {
            table.alive.with_mut(|_| ());
            crate::reclaim::loom_graveyard::bury(table);
        }
        #[cfg(not(loom))]
        drop(table);
    }
}
