//! `RawWordMap`: the `WordMap` engine over bit patterns. Lookups, the write
//! engine, and the map's half of migration (freeze, copy, seal), over the
//! slot protocol of `word/slot.rs`; the resize driver is shared with the
//! generic map (`resize/mod.rs`). Not generic over the key and value types
//! (only the hasher): every `WordMap<K, V, S>` shares this code.
//!
//! What differs from the generic map is what a slot holds: a copy moves a
//! value, not an entry pointer, so nothing but tables is ever retired.

use std::hash::BuildHasher;

use super::slot::{KeyId, Unit};
use super::table::WordTable;
use crate::iter::Walk;
use crate::reclaim::{Reclaim, ReclaimGuard, TableReclaimer};
use crate::resize::assist::{Assist, Work};
use crate::resize::policy::Shrink;
use crate::resize::probe::Placement;
use crate::resize::{
    next_of, prefetch_followed, prefetch_successor_home, Floor, Generation, Migrate, Resizer,
};
use crate::stats::{ProbeScan, ProbeStats, RootFacts, Stats};

/// What a write wants done, given the key's current value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Action {
    /// Leave the slot as it is.
    Keep,
    /// Remove the key (no-op if absent).
    Remove,
    /// Make this the key's value.
    Put(u64),
}

/// A pin of a `WordMap` (see `reclaim/asymmetric/`).
pub(crate) type WordGuard<'a> = <TableReclaimer as Reclaim>::Guard<'a>;
/// A pin of a `WordMap` that may move between threads (iterators).
pub(crate) type WordOwnedGuard<'a> = <TableReclaimer as Reclaim>::OwnedGuard<'a>;

pub(crate) struct RawWordMap<S> {
    /// The root table, the counters and the resize driver. Dropping it
    /// frees the tables still linked from the root.
    resize: Resizer<WordTable>,
    pub(crate) hasher: S,
    // Declared last: dropped after the tables it may still hold retired.
    reclaim: TableReclaimer,
}

impl<S> RawWordMap<S> {
    /// A map whose first table has `slots` slots; `tops_likely`: whether
    /// its keys may have a top byte (the key type is 8 bytes).
    pub(crate) fn new(slots: usize, hasher: S, tops_likely: bool) -> Self {
        RawWordMap {
            resize: Resizer::new(WordTable::new(Placement::first(slots), 0, tops_likely)),
            hasher,
            reclaim: TableReclaimer::new(),
        }
    }

    #[inline]
    pub(crate) fn pin(&self) -> WordGuard<'_> {
        self.reclaim.pin()
    }

    pub(crate) fn pin_owned(&self) -> WordOwnedGuard<'_> {
        self.reclaim.pin_owned()
    }

    /// Releases the root's prepared table (`Resizer::release_prepared`),
    /// as an operation whose watch found the map stopped growing does: how
    /// the loom models race a release (loom has no clock, so no watch
    /// runs there). Whether this call released it.
    #[cfg(loom)]
    pub(crate) fn release_prepared(&self) -> bool {
        let guard = self.pin();
        self.resize.release_prepared(self.root(&guard), &guard)
    }

    /// The current root table.
    #[inline]
    pub(crate) fn root<'g, G: ReclaimGuard>(&self, guard: &'g G) -> &'g WordTable {
        self.resize.root(guard)
    }

    pub(crate) fn len(&self) -> usize {
        self.resize.len()
    }

    pub(crate) fn stats(&self) -> Stats {
        let guard = self.pin();
        let root = self.root(&guard);
        self.resize.counters.stats(RootFacts {
            slots: root.len(),
            occupied: root.header.occupied.get(),
            generation: root.header.generation,
            pending_garbage: self.reclaim.pending(),
        })
    }
}

/// Looks `key` up in `table` and, where a migration moved it, in the tables
/// after it. The lookup writes nothing (a read's help with a stalled
/// migration comes after it: `RawWordMap::get`).
///
/// Linearization: the Acquire load of the key's unit (live: its value;
/// pending or removed: absent), or of the first unclaimed, unfrozen unit of
/// its probe sequence (absent).
#[inline]
pub(crate) fn find<'g, G: ReclaimGuard>(
    mut table: &'g WordTable,
    key: &KeyId,
    guard: &'g G,
) -> Option<u64> {
    'tables: loop {
        prefetch_successor_home(table, key.hash, guard);
        for i in table.placement().probe(key.hash) {
            let u = table.slots.load(i);
            if u.is_vacant() {
                if u.frozen() {
                    // Sealed: whatever this table had for the key is in the
                    // next table now.
                    table = next_of(table, guard)?;
                    continue 'tables;
                }
                return None;
            }
            if !table.slots.owns(i, u, key) {
                continue;
            }
            if u.copied() {
                table = next_of(table, guard)?;
                continue 'tables;
            }
            // Frozen but not copied: still this table's final word on the
            // key (the next table gets no newer value for it before
            // `COPIED`: copies of this very value may land first).
            return u.live();
        }
        table = next_of(table, guard)?;
    }
}

impl<S: BuildHasher> RawWordMap<S> {
    #[inline]
    pub(crate) fn key(&self, bits: u64) -> KeyId {
        KeyId::new(bits, self.hasher.hash_one(bits))
    }

    /// Scans the root table for [`ProbeStats`] (as the generic map's).
    pub(crate) fn probe_stats(&self) -> ProbeStats {
        let guard = self.pin();
        let root = self.root(&guard);
        let mut scan = ProbeScan::new(root.len());
        for i in 0..root.len() {
            let u = root.slots.load(i);
            let live = (u.live().is_some() && !u.copied()).then(|| {
                let key = self.key(root.slots.key_bits(i, u));
                root.placement().probe_length(key.hash, i)
            });
            scan.slot(!u.is_vacant(), live);
        }
        scan.finish()
    }

    #[inline]
    pub(crate) fn get<G: ReclaimGuard>(&self, key: &KeyId, guard: &G) -> Option<u64> {
        let root = self.root(guard);
        let found = find(root, key, guard);
        // A migration the writes left open is finished by reads, and a
        // prepared table the map stopped growing towards is released
        // (`resize/stall.rs`). Not under loom: no clock there, and the
        // models' reads keep their steps.
        #[cfg(not(loom))]
        self.resize.after_read(self, root, guard);
        found
    }

    /// The write engine behind every update: finds `key`'s slot (or the
    /// empty slot that ends its probe sequence) in the newest table a writer
    /// may write to, asks `decide` what to do given the key's current value,
    /// and does it with one CAS, retrying on conflict. Returns the value
    /// before and after.
    ///
    /// `decide` runs again only when the key's value differs from the one it
    /// last decided on: a CAS that fails because a migration froze the slot,
    /// or because another key claimed the empty slot first, reuses the last
    /// decision. So user closures behind `decide` re-run only when another
    /// thread changed the key.
    #[inline]
    pub(crate) fn write<F, G: ReclaimGuard>(
        &self,
        key: &KeyId,
        decide: F,
        guard: &G,
    ) -> (Option<u64>, Option<u64>)
    where
        F: FnMut(Option<u64>) -> Action,
    {
        self.write_with(Shrink::Allow, key, decide, guard)
    }

    /// [`write`](Self::write) for a sweep (`clear`): a removal never starts
    /// a shrink; the sweep calls [`end_sweep`](Self::end_sweep) when done.
    #[inline]
    pub(crate) fn write_in_sweep<F, G: ReclaimGuard>(
        &self,
        key: &KeyId,
        decide: F,
        guard: &G,
    ) -> (Option<u64>, Option<u64>)
    where
        F: FnMut(Option<u64>) -> Action,
    {
        self.write_with(Shrink::Defer, key, decide, guard)
    }

    /// Ends a sweep: if it left the table mostly empty or full of
    /// tombstones, resizes it once, here, migrating every slot itself, after
    /// finishing any resize another thread started meanwhile (the generic
    /// map's `end_sweep` says why).
    pub(crate) fn end_sweep<G: ReclaimGuard>(&self, guard: &G) {
        self.resize.end_sweep(self, guard);
    }

    fn write_with<F, G: ReclaimGuard>(
        &self,
        shrink: Shrink,
        key: &KeyId,
        mut decide: F,
        guard: &G,
    ) -> (Option<u64>, Option<u64>)
    where
        F: FnMut(Option<u64>) -> Action,
    {
        let mut last: Option<(Option<u64>, Action)> = None;
        let mut decide = |cur: Option<u64>| match last {
            Some((seen, action)) if seen == cur => action,
            _ => {
                let action = decide(cur);
                last = Some((cur, action));
                action
            }
        };
        let mut table = self.root(guard);
        let mut depth = 0;
        'tables: loop {
            // While a resize runs: help it, make sure nothing about this key
            // stays behind in the old table, and write in the new one.
            table = self
                .resize
                .writable(self, table, key.hash, &mut depth, guard, |old, new| {
                    // Mutation for checking the loom models (docs/verification.md).
                    if !mutation!("word_skip_seal") {
                        self.seal_key(old, new, key, guard);
                    }
                });
            let mut probed = 0;
            for i in table.placement().probe(key.hash) {
                probed += 1;
                let mut u = table.slots.load(i);
                if u.is_unclaimed() {
                    let Action::Put(v) = decide(None) else {
                        return (None, None);
                    };
                    match table.slots.claim(i, key, v) {
                        Ok(claimed) => {
                            // Counted before `after_claim`, which may start
                            // a resize (and panic on capacity overflow): the
                            // key is in, whatever happens next.
                            if claimed.valued() {
                                self.resize.counters.inserted(guard.slot());
                            }
                            self.resize.after_claim(table, probed, guard);
                            if claimed.valued() {
                                return (None, Some(v));
                            }
                            // Pending: complete it below, like anyone's.
                            u = claimed;
                        }
                        Err(seen) => u = seen,
                    }
                }
                if u.is_vacant() {
                    // Sealed: the table is migrating; start over from it.
                    continue 'tables;
                }
                if !table.slots.owns(i, u, key) {
                    continue;
                }
                // This is the key's slot; it stays so (slot.rs invariant).
                loop {
                    if u.frozen() {
                        continue 'tables;
                    }
                    let cur = u.live();
                    let done = match decide(cur) {
                        Action::Keep => return (cur, cur),
                        Action::Remove if cur.is_none() => return (None, None),
                        Action::Remove => table.slots.delete(i, u).map(|()| None),
                        Action::Put(v) if u.valued() => {
                            table.slots.replace(i, u, v).map(|()| Some(v))
                        }
                        Action::Put(v) => table.slots.complete(i, u, key, v).map(|()| Some(v)),
                    };
                    match done {
                        Ok(new) => {
                            match (cur, new) {
                                (None, Some(_)) => {
                                    self.resize.counters.inserted(guard.slot());
                                }
                                (Some(_), None) => {
                                    self.resize.after_remove(table, shrink, guard);
                                }
                                _ => {}
                            }
                            return (cur, new);
                        }
                        Err(seen) => u = seen,
                    }
                }
            }
            // A full lap without the key or an empty slot: the table is
            // full. Start a resize (or join the one already started).
            self.resize.start_resize_full(table, guard);
        }
    }

    /// Makes `table` final for `key`: freezes the key's slot and copies it
    /// into `next`, or seals the empty slot ending its probe sequence.
    fn seal_key<G: ReclaimGuard>(
        &self,
        table: &WordTable,
        next: &WordTable,
        key: &KeyId,
        guard: &G,
    ) {
        for i in table.placement().probe(key.hash) {
            let mut u = table.slots.load(i);
            if u.is_unclaimed() {
                match table.slots.seal(i) {
                    Ok(()) => return,
                    Err(seen) => u = seen,
                }
            }
            if u.is_vacant() {
                return; // already sealed
            }
            if table.slots.owns(i, u, key) {
                let u = table.slots.freeze(i);
                self.copy_slot(table, i, u, next, guard);
                return;
            }
        }
        // A full lap: the table is full, nothing can be inserted here.
    }

    /// Copies frozen slot `i` of `table` into `next` unless that is done.
    /// Only a live value moves: a pending slot never had one and a removed
    /// key stays removed (it is simply not copied).
    fn copy_slot<G: ReclaimGuard>(
        &self,
        table: &WordTable,
        i: usize,
        u: Unit,
        next: &WordTable,
        guard: &G,
    ) {
        if u.copied() || u.is_vacant() {
            return;
        }
        if let Some(value) = u.live() {
            let key = self.key(table.slots.key_bits(i, u));
            self.insert_copy(next, &key, value, guard);
        }
        table.slots.mark_copied(i, u);
    }

    /// Puts `key = value` into `table` unless the key has a value there
    /// already (this copy by another helper, or a newer write). Returns only
    /// once the value is in place: a copy that finds the key pending, or
    /// sealed out of `table`, completes it or goes on to `table`'s successor.
    fn insert_copy<'g, G: ReclaimGuard>(
        &self,
        mut table: &'g WordTable,
        key: &KeyId,
        value: u64,
        guard: &'g G,
    ) {
        'tables: loop {
            for i in table.placement().probe(key.hash) {
                let mut u = table.slots.load(i);
                if u.is_unclaimed() {
                    match table.slots.claim(i, key, value) {
                        Ok(claimed) => {
                            self.resize.after_copy(table, guard);
                            if claimed.valued() {
                                return;
                            }
                            u = claimed;
                        }
                        Err(seen) => u = seen,
                    }
                }
                if u.is_vacant() {
                    // Sealed: `table` is migrating and final for this key,
                    // which it does not hold; go on.
                    table =
                        next_of(table, guard).expect("a sealed slot in a table with no successor");
                    continue 'tables;
                }
                if !table.slots.owns(i, u, key) {
                    continue;
                }
                // The key's slot. Pending means another copier of this very
                // value claimed it (a writer reaches this table only after
                // the key's copy returned): complete it with the same value.
                loop {
                    // Mutation for checking the loom models: take a pending
                    // slot for a finished copy (the value may never land).
                    if mutation!("word_pending_done") || u.valued() {
                        return;
                    }
                    if u.frozen() {
                        // Pending and frozen: the claim lost to a migration
                        // of `table`, which copies nothing for it. The value
                        // must land further on, so the slot is marked copied
                        // first, as a writer's seal marks it (`copy_slot`):
                        // the next table gets nothing for a key before its
                        // slot here says `COPIED`, which is what lets `find`
                        // take a frozen, uncopied slot for the key's last
                        // word. The migrator that froze the slot marks it
                        // too, but may stall before it does. Marking early
                        // is safe: a lookup reaches this slot only through
                        // the older table's slot, which our caller marks
                        // copied after the value has landed.
                        // Mutation for checking the regression test
                        // (`a_copy_pending_in_a_migrating_table_...`): leave
                        // the mark to the migrator.
                        if !mutation!("word_pending_unmarked") {
                            table.slots.mark_copied(i, u);
                        }
                        table = next_of(table, guard)
                            .expect("a frozen slot in a table with no successor");
                        continue 'tables;
                    }
                    match table.slots.complete(i, u, key, value) {
                        Ok(()) => return,
                        Err(seen) => u = seen,
                    }
                }
            }
            // Full: make room in a successor and continue there.
            self.resize.start_resize_full(table, guard);
            table = next_of(table, guard).expect("start_resize installs a successor");
        }
    }

    /// The table a walk starts from: the root, once no resize is in
    /// progress (finishing any that is, without waiting for anyone).
    pub(crate) fn stable_root<'g, G: ReclaimGuard>(&self, guard: &'g G) -> &'g WordTable {
        self.resize.stable_root(self, guard)
    }
}

/// The next live `(key bits, value bits)` of `table` (a table from
/// [`RawWordMap::stable_root`], loaded under `guard`) at or after `walk`:
/// the key's value at the moment the walk reaches its unit. The iteration
/// guarantee is the generic map's (`src/iter.rs`), and so is the walk: each
/// slot of `table` belongs to one key for the table's life and is visited
/// once.
pub(crate) fn next_live<'g, S: BuildHasher, G: ReclaimGuard>(
    map: &RawWordMap<S>,
    table: &'g WordTable,
    walk: &mut Walk,
    guard: &'g G,
) -> Option<(u64, u64)> {
    walk.visit(
        |start, n| table.slots.live_hint(start, n),
        |i| {
            let u = table.slots.load(i);
            // Empty, sealed, pending or removed: no live key here.
            let value = u.live()?;
            let bits = table.slots.key_bits(i, u);
            // Mutation for checking the models (docs/verification.md): the
            // walk yields a copied unit's frozen value, as before the
            // twelfth session.
            if u.copied() && !mutation!("walk_yields_frozen") {
                // A resize begun since the walk started moved the key on;
                // the unit keeps the value it had when frozen, and the key
                // may have been updated or removed since: its value now is
                // in the tables after this one (as the generic map's walk,
                // `iter.rs`). A hashed lookup, only for units copied since
                // the walk began.
                return current(map, table, i, bits, value, guard).map(|v| (bits, v));
            }
            Some((bits, value))
        },
    )
}

/// The value the key `bits` has now, for a walk that met its unit `i` of
/// `table` `COPIED`, frozen with `frozen` (`None`: removed since). Out of
/// line, as the generic map's.
#[inline(never)]
fn current<'g, S: BuildHasher, G: ReclaimGuard>(
    map: &RawWordMap<S>,
    table: &'g WordTable,
    i: usize,
    bits: u64,
    frozen: u64,
    guard: &'g G,
) -> Option<u64> {
    // A `COPIED` unit is in a table with a successor (linked before its
    // migration began, and left in place for the table's life).
    let Some(next) = next_of(table, guard) else {
        debug_assert!(false, "a copied unit in a table without a successor");
        return Some(frozen);
    };
    prefetch_followed(table, next, i);
    find(next, &map.key(bits), guard)
}

/// The next live `(key bits, value bits)` of a table that no other thread
/// can reach (an owned map's `into_iter` or `drain`): no resize runs, so no
/// unit is `COPIED`.
pub(crate) fn next_owned(table: &WordTable, walk: &mut Walk) -> Option<(u64, u64)> {
    walk.visit(
        |start, n| table.slots.live_hint(start, n),
        |i| {
            let u = table.slots.load(i);
            debug_assert!(!u.copied(), "a copied unit in an owned table");
            u.live().map(|v| (table.slots.key_bits(i, u), v))
        },
    )
}

impl<S: BuildHasher + Sync> Assist for RawWordMap<S> {
    fn assist_step(&self) -> Work {
        self.resize.assist(self, &self.pin())
    }

    /// Nothing: a `WordMap`'s tables own no entries, and are freed whole.
    fn free_step(&self) -> bool {
        false
    }

    fn set_assistant(&self, on: bool) {
        self.resize.set_assistant(on);
    }
}

impl<S: BuildHasher> Migrate for RawWordMap<S> {
    type Table = WordTable;

    #[inline]
    fn migrate_slot<G: ReclaimGuard>(
        &self,
        table: &WordTable,
        i: usize,
        next: &WordTable,
        guard: &G,
    ) {
        // Mutation for checking the loom models (docs/verification.md): copy
        // without freezing, so a write can land behind the copy.
        let u = if mutation!("word_skip_freeze") {
            table.slots.load(i)
        } else {
            table.slots.freeze(i)
        };
        self.copy_slot(table, i, u, next, guard);
    }
}

impl<S: BuildHasher> RawWordMap<S> {
    /// Keys the newest table holds before it must grow.
    pub(crate) fn capacity(&self) -> usize {
        self.resize.reported_capacity(&self.pin())
    }

    /// Makes room for `additional` more keys (`Resizer::reserve`).
    pub(crate) fn try_reserve(&self, additional: usize) -> Result<(), crate::TryReserveError> {
        self.resize
            .reserve(self, additional, Floor::Raise, &self.pin())
    }

    /// Makes room for an `extend` of `hint` keys (`policy::extend_room`),
    /// without a floor; best effort.
    pub(crate) fn room_for_extend(&self, hint: (usize, Option<usize>)) {
        self.resize.room_for_extend(self, hint, &self.pin());
    }

    /// Shrinks to the smallest table that fits the keys and `min_capacity`
    /// of them (`Resizer::shrink_to`).
    pub(crate) fn shrink_to(&self, min_capacity: usize) {
        self.resize.shrink_to(self, min_capacity, &self.pin());
    }

    /// Finishes every resize in progress and takes the root table out,
    /// leaving an empty table of the floor's size and a length of zero:
    /// `WordMap::into_iter` and `drain`. `reused`: the map goes on
    /// (`drain`), so the empty table is faulted in now, as a new map's
    /// first table is; for a map being consumed that would be wasted. With
    /// `&mut self` no handle, iterator or helper of the map is alive, so no
    /// other thread can start a resize or write after `finish_all`: the
    /// returned table has no successor, none of its units is frozen, and it
    /// holds every key of the map, each in exactly one unit.
    pub(crate) fn take_root(&mut self, reused: bool) -> Box<WordTable> {
        let tops_likely = {
            let guard = self.pin();
            self.resize.finish_all(self, &guard);
            self.root(&guard).slots.tops_likely()
        };
        let slots = self.resize.empty_root_slots(reused);
        let empty = WordTable::new(Placement::first(slots), 0, tops_likely);
        if reused {
            empty.populate_all(None);
        }
        self.resize.replace_root(empty)
    }
}

#[cfg(all(test, not(loom)))]
impl<S> RawWordMap<S> {
    /// The resize state, for the resize engine's tests (`resize/mod.rs`).
    pub(crate) fn resizer(&self) -> &Resizer<WordTable> {
        &self.resize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DefaultHashBuilder;

    /// A map consumed (`into_iter`) is left the smallest table, not one of
    /// its capacity floor's size (found by review: a second table as large
    /// as the first was mapped, only to be dropped); one that goes on
    /// (`drain`) keeps its floor.
    #[cfg(not(loom))]
    #[test]
    fn a_consumed_map_is_left_the_smallest_table() {
        let floor = 1 << 16;
        for reused in [false, true] {
            let mut raw = RawWordMap::new(floor, DefaultHashBuilder::default(), true);
            raw.try_reserve(floor / 2).unwrap();
            drop(raw.take_root(reused));
            let left = raw.resizer().root(&raw.pin()).header().slots();
            let want = if reused {
                floor
            } else {
                crate::resize::policy::MIN_SLOTS
            };
            assert_eq!(left, want, "reused: {reused}");
        }
    }

    /// The first slot of `key`'s probe sequence in `table` that `key`
    /// owns, or the first unclaimed one.
    fn slot_of(table: &WordTable, key: &KeyId) -> usize {
        table
            .placement()
            .probe(key.hash)
            .find(|&i| {
                let u = table.slots.load(i);
                u.is_unclaimed() || table.slots.owns(i, u, key)
            })
            .expect("a slot for the key")
    }

    /// A copy whose pending claim in the next table is frozen by that
    /// table's own migration goes on to the table after it; a lookup that
    /// follows the key's copied slot must then follow it there too, not take
    /// the frozen pending slot for the key's last word (found by review:
    /// `get` answered `None` for a present key until the migrator that froze
    /// the slot marked it copied). The interleaving, replayed on one thread:
    /// copier A freezes the key's slot in T0 and claims it pending in T1;
    /// T1's resize starts and migrator B freezes that pending slot, then
    /// stalls; A finishes its copy.
    #[test]
    fn a_copy_pending_in_a_migrating_table_leaves_the_key_findable() {
        let raw = RawWordMap::new(16, DefaultHashBuilder::default(), true);
        let guard = raw.pin();
        // A key with a top byte: its claims are pending until completed.
        let key = raw.key(0xab00_0000_0000_0001);
        raw.write(&key, |_| Action::Put(7), &guard);
        let t0 = raw.root(&guard);
        raw.resize.start_resize(t0, &guard);
        let t1 = next_of(t0, &guard).expect("T0 -> T1");
        // A: freezes the key's slot in T0, claims it pending in T1.
        let i = slot_of(t0, &key);
        let frozen = t0.slots.freeze(i);
        let j = slot_of(t1, &key);
        let pending = t1.slots.claim(j, &key, 7).expect("an empty slot");
        assert!(!pending.valued(), "a top-byte key's claim is pending");
        // T1's resize starts; B freezes the pending slot and stalls.
        raw.resize.start_resize(t1, &guard);
        let t2 = next_of(t1, &guard).expect("T1 -> T2");
        t1.slots.freeze(j);
        // A goes on: its copy lands in T2, and T0's slot is marked copied.
        raw.copy_slot(t0, i, frozen, t1, &guard);
        assert_eq!(find(t2, &key, &guard), Some(7), "the copy is in T2");
        assert_eq!(find(t0, &key, &guard), Some(7), "a lookup from T0");
        assert_eq!(find(t1, &key, &guard), Some(7), "a lookup from T1");
    }
}
