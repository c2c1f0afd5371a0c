//! One `WordMap` table generation: its slot units (`word/slot.rs`) and
//! the resize engine's header (`resize/mod.rs`).

use std::ops::Range;

use super::slot::Units;
use crate::error::TryReserveError;
use crate::reclaim::Retire;
use crate::resize::memory::alloc_failed;
use crate::resize::policy::{self, GRAIN, MAX_SLOTS, MIN_SLOTS};
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
    /// `tops_likely`: whether the map's keys may have a top byte (its key
    /// type is 8 bytes); its successors inherit it.
    pub(crate) fn new(placement: Placement, generation: u64, tops_likely: bool) -> Box<Self> {
        Self::try_new(placement, generation, tops_likely).unwrap_or_else(|e| alloc_failed(e))
    }

    /// [`new`](Self::new), reporting an allocation failure instead.
    fn try_new(
        placement: Placement,
        generation: u64,
        tops_likely: bool,
    ) -> Result<Box<Self>, TryReserveError> {
        let slots = placement.slots();
        assert!(slots % GRAIN == 0 && (MIN_SLOTS..=MAX_SLOTS).contains(&slots));
        Ok(Box::new(WordTable {
            slots: Units::try_new(slots, tops_likely)?,
            header: Header::try_new(placement, generation)?,
        }))
    }
}

impl Generation for WordTable {
    fn successor(
        &self,
        placement: Placement,
        generation: u64,
    ) -> Result<Box<Self>, TryReserveError> {
        WordTable::try_new(placement, generation, self.slots.tops_likely())
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
    /// the same memory steps when such keys come, but not counted here).
    const SLOT_BYTES: usize = 16;

    fn memory_steps(&self) -> usize {
        self.slots.memory_steps()
    }

    /// The units, and the top bytes too if the keys may need them: never
    /// for a key type below 8 bytes (they zero-extend); else unless `from`
    /// has shown that the map's keys have none: it holds keys (its claims
    /// counted so far: a few held back in a thread's batch read as none),
    /// and none of them stored a top byte. A map's first table, and the
    /// successor of an empty one (a `reserve` or `extend` before the first
    /// insert), get them: nothing is known of the keys yet. A key with a
    /// top byte that comes later (or from a small type that does not
    /// zero-extend) faults its byte's page in itself (one page per 4,096
    /// slots), and sets the hint of the table it lands in, so that table's
    /// successor gets them (the copies set the successor's own).
    fn populate(&self, k: usize, from: Option<&Self>) {
        let tops = match from {
            None => self.slots.tops_likely(),
            Some(f) => {
                f.slots.tops_seen() || (f.slots.tops_likely() && f.header.occupied.get() == 0)
            }
        };
        self.slots.populate(k, tops);
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
        if !policy::prepares_copies(self.placement().slots(), next.placement().slots()) {
            return;
        }
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
        // leave loom's state alone (`sync/mod.rs`).
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

#[cfg(all(test, not(loom), target_os = "linux"))]
mod tests {
    use super::*;
    use crate::resize::memory::map::residency_unknowable;
    use crate::word::slot::KeyId;

    /// Slots per table: top bytes of 128 KiB, a mapping of their own.
    const SLOTS: usize = 1 << 17;

    /// Whether this kernel cannot show which pages are resident
    /// (`residency_unknowable`); says why if so.
    fn skipped() -> bool {
        let why = residency_unknowable();
        if let Some(why) = why {
            eprintln!("skipped: {why}");
        }
        why.is_some()
    }

    fn table() -> Box<WordTable> {
        WordTable::new(Placement::first(SLOTS), 0, true)
    }

    /// A growth's memory steps fault in the successor's top bytes only
    /// while a key may need them: with no table before it, or after one
    /// that held no key or a key with a top byte. A map of small keys
    /// never makes them resident (1 byte per slot, 6 % of the table).
    #[test]
    fn top_bytes_are_faulted_in_only_for_keys_that_may_have_them() {
        if skipped() {
            return;
        }
        let pages = SLOTS / crate::resize::memory::map::page_size();
        let resident_after = |from: Option<&WordTable>| {
            let next = table();
            next.populate_all(from);
            next.slots.resident_top_pages()
        };
        // A map's first table, and the successor of an empty one: nothing
        // is known of the keys yet.
        assert_eq!(resident_after(None), pages);
        let from = table();
        assert_eq!(resident_after(Some(&from)), pages);
        // Keys, none with a top byte (a claim counted, `complete` never
        // called).
        let small = KeyId::new(5, 0x1234);
        from.slots.claim(3, &small, 7).unwrap();
        from.header.occupied.add(1);
        assert!(!from.slots.tops_seen());
        assert_eq!(resident_after(Some(&from)), 0);
        // A key with a top byte: from now on its successors get them.
        let big = KeyId::new(1 << 63 | 5, 0x5678);
        let pending = from.slots.claim(9, &big, 7).unwrap();
        from.slots.complete(9, pending, &big, 7).unwrap();
        assert!(from.slots.tops_seen());
        assert_eq!(resident_after(Some(&from)), pages);

        // A key type below 8 bytes: never, not even with nothing known.
        let small_first = WordTable::new(Placement::first(SLOTS), 0, false);
        small_first.populate_all(None);
        assert_eq!(small_first.slots.resident_top_pages(), 0);
        let next = small_first.successor(Placement::first(SLOTS), 1).unwrap();
        assert!(!next.slots.tops_likely(), "inherited");
        next.populate_all(Some(&small_first));
        assert_eq!(next.slots.resident_top_pages(), 0);
    }

    /// Through the map, each growth's steps: a map of small keys grown to
    /// 2^19 slots never faulted its root's top bytes in.
    #[test]
    fn a_map_grown_with_small_keys_never_faults_its_top_bytes_in() {
        if skipped() {
            return;
        }
        let map = crate::WordMap::<u64, u64>::new();
        for k in 0..300_000u64 {
            map.insert(k, k);
        }
        let guard = map.raw().pin();
        let root = map.raw().resizer().root(&guard);
        assert_eq!(
            root.header.slots(),
            1 << 19,
            "grown, and no resize under way"
        );
        assert_eq!(root.slots.resident_top_pages(), 0);
    }

    /// Through the map: `with_capacity` faults in the top bytes for 8-byte
    /// keys (nothing is known of them yet), not for smaller ones.
    #[test]
    fn with_capacity_faults_in_top_bytes_only_for_keys_that_can_have_them() {
        if skipped() {
            return;
        }
        fn top_pages<K: crate::WordSized>(map: &crate::WordMap<K, u32>) -> (usize, usize) {
            let guard = map.raw().pin();
            let root = map.raw().resizer().root(&guard);
            let pages = root.header.slots() / crate::resize::memory::map::page_size();
            (root.slots.resident_top_pages(), pages)
        }
        let (resident, pages) = top_pages(&crate::WordMap::<u64, u32>::with_capacity(1 << 17));
        assert_eq!(resident, pages);
        let (resident, _) = top_pages(&crate::WordMap::<u32, u32>::with_capacity(1 << 17));
        assert_eq!(resident, 0);
        // A pair of 8 bytes: its top byte is its second half's top byte.
        let (resident, _) = top_pages(&crate::WordMap::<(u16, u32), u32>::with_capacity(1 << 17));
        assert_eq!(resident, pages);
    }
}
