//! One `WordMap` table generation: its slot units (`word/slot.rs`) and
//! the resize engine's header (`resize/mod.rs`).

use std::ops::Range;

use super::slot::Units;
use crate::error::TryReserveError;
use crate::reclaim::Retire;
use crate::resize::memory::alloc_failed;
use crate::resize::policy::{GRAIN, MAX_SLOTS, MIN_SLOTS};
use crate::resize::probe::Placement;
use crate::resize::{Generation, Header};

/// An array of 16-byte slot units (`word/slot.rs` says what the
/// bits mean), 1 byte more per slot for keys whose top byte is not zero.
pub(crate) struct WordTable {
    /// The slots, and every transition on them.
    pub(crate) slots: Units,
    /// Placement, generation, successor, occupancy and migration cursor.
    pub(crate) header: Header<WordTable>,
}

impl WordTable {
    /// Allocates a table with `placement` (whose slot count is a multiple
    /// of [`GRAIN`] within [`MIN_SLOTS`]..=[`MAX_SLOTS`]), every slot empty: zeroed
    /// memory, so an untouched page costs no resident memory.
    pub(crate) fn new(placement: Placement, generation: u64) -> Box<Self> {
        Self::try_new(placement, generation).unwrap_or_else(|e| alloc_failed(e))
    }

    /// [`new`](Self::new), reporting an allocation failure instead.
    fn try_new(placement: Placement, generation: u64) -> Result<Box<Self>, TryReserveError> {
        let slots = placement.slots();
        assert!(slots % GRAIN == 0 && (MIN_SLOTS..=MAX_SLOTS).contains(&slots));
        Ok(Box::new(WordTable {
            slots: Units::try_new(slots)?,
            header: Header::try_new(placement, generation)?,
        }))
    }
}

impl Generation for WordTable {
    fn successor(placement: Placement, generation: u64) -> Result<Box<Self>, TryReserveError> {
        WordTable::try_new(placement, generation)
    }

    #[inline]
    fn header(&self) -> &Header<Self> {
        &self.header
    }

    fn header_mut(&mut self) -> &mut Header<Self> {
        &mut self.header
    }

    /// A 16-byte unit per slot (the top-byte array, 1 byte per slot,
    /// written only for keys whose top byte is not zero, is faulted in by
    /// the same memory steps, but not counted here).
    const SLOT_BYTES: usize = 16;

    fn memory_steps(&self) -> usize {
        self.slots.memory_steps()
    }

    fn populate(&self, k: usize) {
        self.slots.populate(k);
    }

    #[inline]
    fn prefetch_slots(&self, range: Range<usize>) {
        self.slots.prefetch(range);
    }

    /// Split order (a growth): old slots `[a, b)` copy to homes `[a, b)`
    /// scaled by the size ratio (linear probing may carry the last few a
    /// little past): fault those pages in for writing first
    /// (`Units::prefault`), and prefetch their lines (`Units::prefetch`). A rehashing resize scatters its copies over a
    /// table no larger than this one: nothing to prepare.
    #[inline]
    fn prepare_copy(&self, next: &Self, chunk: Range<usize>) {
        if let Some(to) = next.placement().split_range(self.placement(), chunk) {
            next.slots.prefault(to.clone());
            // And their lines into the cache (plus a line of probe
            // overflow): each copy's claim missed there.
            next.slots.prefetch(to.start..to.end + 4);
        }
    }
}

impl Retire for WordTable {
    unsafe fn free(ptr: *mut Self) {
        // SAFETY: tables come from `WordTable::new` (a `Box`), and the caller
        // frees each once. A table owns nothing but its arrays: keys and
        // values live inline.
        let mut table = unsafe { Box::from_raw(ptr) };
        // Now, while this execution runs: the graveyard below drops the
        // table outside it (`Header::free_prepared`). Unwinding under loom:
        // leave loom's state alone (`sync.rs`).
        if crate::sync::loom_unwinding() {
            #[cfg(loom)]
            table.header.forget_prepared();
        } else {
            table.header.free_prepared();
        }
        // Under loom, the free is a write of `alive` that every earlier
        // access must happen before; the memory itself is kept until the
        // execution is over (the graveyard frees it when the next one
        // starts), so a late access in a broken model is reported by loom
        // instead of being undefined behaviour in the checker, and a long
        // loom run does not accumulate tables.
        table.slots.mark_freed();
        #[cfg(loom)]
        crate::reclaim::loom_graveyard::bury(table);
        #[cfg(not(loom))]
        drop(table);
    }
}
