//! `RawWordMap`: the `WordMap` engine over bit patterns. Lookups, the write
//! engine, and cooperative migration, over the slot protocol of
//! `word/slot.rs`. Not generic over the key and value types (only the
//! hasher): every `WordMap<K, V, S>` shares this code.
//!
//! The architecture is the generic map's (`raw/mod.rs`, `raw/migrate.rs`),
//! and so are the probe sequence (`raw/probe.rs`), table sizing, the
//! migration cursor (`raw/cursor.rs`), the reclaimer and the counters. What
//! differs is what a slot holds: a copy moves a value, not an entry pointer,
//! so nothing but tables is ever retired.

use std::hash::BuildHasher;

use super::slot::{KeyId, Unit};
use super::table::WordTable;
use crate::raw::probe::Placement;
use crate::raw::table::{self, slots_for, Shrink};
use crate::reclaim::{Reclaim, ReclaimGuard, TableReclaimer};
use crate::stats::{MapCounters, ProbeScan, ProbeStats, RootFacts, Stats};
use crate::sync::{AtomicPtr, Ordering};

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

/// A pin of a `WordMap` (see `reclaim/tables.rs`).
pub(crate) type WordGuard<'a> = <TableReclaimer as Reclaim>::Guard<'a>;
/// A pin of a `WordMap` that may move between threads (iterators).
pub(crate) type WordOwnedGuard<'a> = <TableReclaimer as Reclaim>::OwnedGuard<'a>;

pub(crate) struct RawWordMap<S> {
    /// The current table. Tables retired from here are freed by `reclaim`.
    root: AtomicPtr<WordTable>,
    pub(crate) hasher: S,
    /// Key counts and resize events (`stats.rs`).
    counters: MapCounters,
    /// A resize never shrinks below this many slots (`with_capacity`).
    min_slots: usize,
    // Declared last: dropped after the tables it may still hold retired.
    reclaim: TableReclaimer,
}

impl<S> RawWordMap<S> {
    pub(crate) fn new(slots: usize, hasher: S) -> Self {
        RawWordMap {
            root: AtomicPtr::new(Box::into_raw(WordTable::new(Placement::first(slots), 0))),
            hasher,
            counters: MapCounters::new(),
            min_slots: slots,
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

    /// The current root table.
    #[inline]
    pub(crate) fn root<'g, G: ReclaimGuard>(&self, guard: &'g G) -> &'g WordTable {
        // SAFETY: the root is never null, and a table loaded through a live
        // guard is freed only after that guard is dropped (it is retired
        // after being unlinked from `root`).
        unsafe { &*guard.protect(&self.root) }
    }

    pub(crate) fn len(&self) -> usize {
        self.counters.len()
    }

    pub(crate) fn stats(&self) -> Stats {
        let guard = self.pin();
        let root = self.root(&guard);
        self.counters.stats(RootFacts {
            slots: root.slots(),
            occupied: root.occupied.sum(),
            generation: root.generation,
            pending_garbage: self.reclaim.pending(),
        })
    }
}

/// The table `table` is migrating into, if a resize runs.
#[inline]
pub(crate) fn next_of<'g, G: ReclaimGuard>(
    table: &WordTable,
    guard: &'g G,
) -> Option<&'g WordTable> {
    // SAFETY: a next table is retired only after it has been root and has
    // been unlinked from it. The guard's pin loaded the root before that
    // unlink (it read `table` or an older table there), which is what the
    // reclaimer's argument needs to keep every table reachable from it
    // alive while the guard lives (docs/design.md, "Table reclamation").
    unsafe { guard.protect(&table.next).as_ref() }
}

/// Looks `key` up in `table` and, where a migration moved it, in the tables
/// after it. Readers never write.
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
        for i in table.placement.probe(key.hash) {
            let u = table.load(i);
            if u.is_vacant() {
                if u.frozen() {
                    // Sealed: whatever this table had for the key is in the
                    // next table now.
                    table = next_of(table, guard)?;
                    continue 'tables;
                }
                return None;
            }
            if !table.owns(i, u, key) {
                continue;
            }
            if u.copied() {
                table = next_of(table, guard)?;
                continue 'tables;
            }
            // Frozen but not copied: still this table's final word on the
            // key (the next table gets nothing for it before `COPIED`).
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
        let mut scan = ProbeScan::new(root.slots());
        for i in 0..root.slots() {
            let u = root.load(i);
            let live = (u.live().is_some() && !u.copied()).then(|| {
                let key = self.key(root.key_bits(i, u));
                root.placement.probe_length(key.hash, i)
            });
            scan.slot(!u.is_vacant(), live);
        }
        scan.finish()
    }

    #[inline]
    pub(crate) fn get<G: ReclaimGuard>(&self, key: &KeyId, guard: &G) -> Option<u64> {
        find(self.root(guard), key, guard)
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
        let mut root = self.root(guard);
        if next_of(root, guard).is_some() {
            self.finish(root, guard);
            root = self.root(guard);
        }
        if next_of(root, guard).is_none()
            && table::should_tidy(
                root.slots(),
                self.min_slots,
                self.len(),
                root.occupied.sum(),
            )
        {
            self.start_resize(root, guard);
            self.finish(root, guard);
        }
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
            if let Some(next) = next_of(table, guard) {
                // A resize runs: help it, make sure nothing about this key
                // stays behind in `table`, and write in `next`.
                self.help(table, next, guard);
                // Mutation for checking the loom models (docs/verification.md).
                #[cfg(not(lfmap_mutation = "word_skip_seal"))]
                self.seal_key(table, next, key, guard);
                table = next;
                depth += 1;
                if depth >= 2 {
                    // Resizes are stacking up behind an unfinished one:
                    // finish the oldest so the chain stays short.
                    self.finish(self.root(guard), guard);
                }
                continue;
            }
            let mut probed = 0;
            for i in table.placement.probe(key.hash) {
                probed += 1;
                let mut u = table.load(i);
                if u.is_unclaimed() {
                    let Action::Put(v) = decide(None) else {
                        return (None, None);
                    };
                    match table.claim(i, key, v) {
                        Ok(claimed) => {
                            self.after_claim(table, probed, guard);
                            if claimed.valued() {
                                self.counters.inserted.add(1);
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
                if !table.owns(i, u, key) {
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
                        Action::Remove => table.delete(i, u).map(|()| None),
                        Action::Put(v) if u.valued() => table.replace(i, u, v).map(|()| Some(v)),
                        Action::Put(v) => table.complete(i, u, key, v).map(|()| Some(v)),
                    };
                    match done {
                        Ok(new) => {
                            match (cur, new) {
                                (None, Some(_)) => {
                                    self.counters.inserted.add(1);
                                }
                                (Some(_), None) => {
                                    let local = self.counters.removed.add(1);
                                    if shrink == Shrink::Allow {
                                        self.after_remove(table, local, guard);
                                    }
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
            self.start_resize(table, guard);
        }
    }

    /// Counts a claimed slot and starts a resize past 3/4 occupancy (large
    /// tables sum the occupancy shards only on a long probe or every 16th
    /// claim per thread).
    #[inline]
    fn after_claim<G: ReclaimGuard>(&self, table: &WordTable, probed: usize, guard: &G) {
        let local = table.occupied.add(1);
        if table.slots() <= 1024 || probed > 8 || local & 15 == 0 {
            let occupied = table.occupied.sum();
            if occupied * 4 > table.slots() * 3 {
                self.start_resize(table, guard);
            }
        }
    }

    /// Shrinks once the table is mostly empty.
    #[inline]
    fn after_remove<G: ReclaimGuard>(&self, table: &WordTable, local: isize, guard: &G) {
        let sample = table.slots() <= 1024 || local & 63 == 0;
        if sample && table::should_shrink(table.slots(), self.min_slots, self.len()) {
            self.start_resize(table, guard);
        }
    }

    /// Starts the resize that follows `table` unless one already runs; the
    /// new size comes from the live count (grow, rebuild, or shrink), the
    /// new placement from `raw/probe.rs`'s policy.
    fn start_resize<G: ReclaimGuard>(&self, table: &WordTable, guard: &G) {
        if next_of(table, guard).is_some() {
            return;
        }
        let slots = slots_for(self.len().max(1)).max(self.min_slots);
        let generation = table.generation + 1;
        let placement = table.placement.successor(slots, generation);
        let new = Box::into_raw(WordTable::new(placement, generation));
        // AcqRel on success: Release publishes the new table's initialised
        // arrays to every thread that loads `next` with Acquire. Acquire on
        // failure: we then use the winner's table.
        match table.next.compare_exchange(
            std::ptr::null_mut(),
            new,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => self.counters.resizes.bump(),
            // SAFETY: never published; we own it alone.
            Err(_) => drop(unsafe { Box::from_raw(new) }),
        }
    }

    /// Migrates one chunk of `table` into `next`, if any is left to claim.
    fn help<G: ReclaimGuard>(&self, table: &WordTable, next: &WordTable, guard: &G) {
        let slots = table.slots();
        let Some(chunk) = table.cursor.next_chunk(slots) else {
            return;
        };
        // Split order (a growth): old slots [a, b) copy to homes [a, b)
        // scaled by the size ratio (linear probing may carry the last few a
        // little past). A rehashing resize scatters its copies over a table
        // no larger than this one: nothing to prepare.
        if next.placement.splits(&table.placement) {
            let (from, to) = (chunk.start as u128, chunk.end as u128);
            let scale = |x: u128| (x * next.slots() as u128 / slots as u128) as usize;
            next.prefault(scale(from)..scale(to) + 1);
        }
        for i in chunk.clone() {
            // Mutation for checking the loom models (docs/verification.md):
            // copy without freezing, so a write can land behind the copy.
            #[cfg(lfmap_mutation = "word_skip_freeze")]
            let u = table.load(i);
            #[cfg(not(lfmap_mutation = "word_skip_freeze"))]
            let u = table.freeze(i);
            self.copy_slot(table, i, u, next, guard);
        }
        self.counters.chunks_helped.bump();
        if table.cursor.complete(chunk, slots) {
            self.promote(guard);
        }
    }

    /// Migrates every slot of `table` not yet migrated, whoever claimed it,
    /// then promotes. Idempotent and lock-free.
    pub(crate) fn finish<G: ReclaimGuard>(&self, table: &WordTable, guard: &G) {
        let Some(next) = next_of(table, guard) else {
            return;
        };
        if !table.cursor.is_finished() {
            for i in 0..table.slots() {
                let u = table.freeze(i);
                self.copy_slot(table, i, u, next, guard);
            }
            table.cursor.set_finished();
        }
        self.promote(guard);
    }

    /// Moves the root forward past every finished table, retiring each.
    fn promote<G: ReclaimGuard>(&self, guard: &G) {
        loop {
            let root = self.root(guard);
            if !root.cursor.is_finished() {
                return;
            }
            let Some(next) = next_of(root, guard) else {
                return;
            };
            let (old, new) = (
                root as *const WordTable as *mut WordTable,
                next as *const WordTable as *mut WordTable,
            );
            // AcqRel on success: readers that load the new root (Acquire)
            // see every copy made before `finished`. Failure: another thread
            // promoted; look at the new root.
            if self
                .root
                .compare_exchange(old, new, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                self.counters.promotions.bump();
                // SAFETY: our CAS unlinked `old` from the root, the only
                // place it was reachable from (older tables were promoted
                // past earlier); the winner retires it, once.
                unsafe { guard.retire_now(old) };
            }
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
        for i in table.placement.probe(key.hash) {
            let mut u = table.load(i);
            if u.is_unclaimed() {
                match table.seal(i) {
                    Ok(()) => return,
                    Err(seen) => u = seen,
                }
            }
            if u.is_vacant() {
                return; // already sealed
            }
            if table.owns(i, u, key) {
                let u = table.freeze(i);
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
            let key = self.key(table.key_bits(i, u));
            self.insert_copy(next, &key, value, guard);
        }
        table.mark_copied(i, u);
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
            for i in table.placement.probe(key.hash) {
                let mut u = table.load(i);
                if u.is_unclaimed() {
                    match table.claim(i, key, value) {
                        Ok(claimed) => {
                            table.occupied.add(1);
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
                if !table.owns(i, u, key) {
                    continue;
                }
                // The key's slot. Pending means another copier of this very
                // value claimed it (a writer reaches this table only after
                // the key's copy returned): complete it with the same value.
                loop {
                    // Mutation for checking the loom models: take a pending
                    // slot for a finished copy (the value may never land).
                    #[cfg(lfmap_mutation = "word_pending_done")]
                    return;
                    if u.valued() {
                        return;
                    }
                    if u.frozen() {
                        // Pending and frozen: the claim lost to a migration
                        // of `table`, which copies nothing for it. The value
                        // must land further on.
                        table = next_of(table, guard)
                            .expect("a frozen slot in a table with no successor");
                        continue 'tables;
                    }
                    match table.complete(i, u, key, value) {
                        Ok(()) => return,
                        Err(seen) => u = seen,
                    }
                }
            }
            // Full: make room in a successor and continue there.
            self.start_resize(table, guard);
            table = next_of(table, guard).expect("start_resize installs a successor");
        }
    }

    /// The table a walk starts from: the root, once no resize is in
    /// progress (finishing any that is, without waiting for anyone).
    pub(crate) fn stable_root<'g, G: ReclaimGuard>(&self, guard: &'g G) -> &'g WordTable {
        loop {
            let root = self.root(guard);
            if next_of(root, guard).is_none() {
                return root;
            }
            self.finish(root, guard);
        }
    }

    /// The next live `(key bits, value bits)` at or after `*index` of
    /// `table` (a table from [`stable_root`](Self::stable_root)), following
    /// keys a resize moved forward after the walk began. The iteration
    /// guarantee is the generic map's (`src/iter.rs`): each slot of `table`
    /// belongs to one key for the table's life and is visited once.
    pub(crate) fn next_live<'g, G: ReclaimGuard>(
        &self,
        table: &'g WordTable,
        index: &mut usize,
        guard: &'g G,
    ) -> Option<(u64, u64)> {
        while *index < table.slots() {
            let i = *index;
            *index += 1;
            let u = table.load(i);
            // Empty, sealed, pending or removed: no live key here.
            let Some(v) = u.live() else { continue };
            let bits = table.key_bits(i, u);
            if !u.copied() {
                return Some((bits, v));
            }
            let next = next_of(table, guard)?;
            if let Some(v) = find(next, &self.key(bits), guard) {
                return Some((bits, v));
            }
        }
        None
    }
}

impl<S> Drop for RawWordMap<S> {
    fn drop(&mut self) {
        // Unwinding under loom: leave loom's state alone (`sync.rs`).
        if crate::sync::loom_unwinding() {
            return;
        }
        // `&mut self`: no guard, no other thread. Tables still linked from
        // the root are ours; retired ones are freed by `reclaim`, after us.
        let mut table = self.root.load(Ordering::Relaxed);
        while !table.is_null() {
            // SAFETY: linked tables are owned by the map and freed once, here.
            let owned = unsafe { Box::from_raw(table) };
            table = owned.next.load(Ordering::Relaxed);
        }
    }
}
