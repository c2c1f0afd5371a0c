//! `RawMap`: the root pointer, table generations, and the operations of the
//! map expressed over the slot protocol of [`slot`].
//!
//! Every function here runs with the caller's guard pinned; references
//! returned live as long as that guard (`'g`).

pub(crate) mod cursor;
mod migrate;
pub(crate) mod probe;
pub(crate) mod slot;
pub(crate) mod table;

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;

use self::probe::Placement;
use self::slot::{tag_of, Entry, Pending, Word};
use self::table::{Shrink, Table};
use crate::reclaim::{Reclaim, ReclaimGuard, Reclaimer};
use crate::stats::{MapCounters, ProbeScan, ProbeStats, RootFacts, Stats};
use crate::sync::{AtomicPtr, Ordering};

/// The guard type of the compiled-in reclamation backend.
pub(crate) type Guard<'a> = <Reclaimer as Reclaim>::Guard<'a>;

/// The owned (`Send`) guard type of the compiled-in reclamation backend.
pub(crate) type OwnedGuard<'a> = <Reclaimer as Reclaim>::OwnedGuard<'a>;

/// What a write wants done with the key's current entry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Action {
    /// Leave the slot as it is.
    Keep,
    /// Remove the key (no-op if absent).
    Remove,
    /// Publish the entry in the caller's `pending` slot.
    Put,
}

/// What a write did: the live entry before it and the live entry after it.
pub(crate) struct Written<'g, K, V> {
    pub(crate) prev: Option<&'g Entry<K, V>>,
    pub(crate) cur: Option<&'g Entry<K, V>>,
}

/// The untyped-API core of the map.
pub(crate) struct RawMap<K, V, S> {
    /// The current table. Tables retired from here are freed by `reclaim`.
    root: AtomicPtr<Table<K, V>>,
    pub(crate) hasher: S,
    /// Key counts and resize events (`stats.rs`).
    counters: MapCounters,
    /// A resize never shrinks below this many slots (`with_capacity`).
    min_slots: usize,
    // Declared last: dropped after the tables, so it frees the retired
    // objects it still holds once the live ones are gone.
    reclaim: Reclaimer,
    _owns: PhantomData<Box<Entry<K, V>>>,
}

impl<K, V, S> RawMap<K, V, S> {
    pub(crate) fn new(slots: usize, hasher: S) -> Self {
        RawMap {
            root: AtomicPtr::new(Box::into_raw(Table::new(Placement::first(slots), 0, false))),
            hasher,
            counters: MapCounters::new(),
            min_slots: slots,
            reclaim: Reclaimer::new(),
            _owns: PhantomData,
        }
    }

    #[inline]
    pub(crate) fn pin(&self) -> Guard<'_> {
        self.reclaim.pin()
    }

    pub(crate) fn pin_owned(&self) -> OwnedGuard<'_> {
        self.reclaim.pin_owned()
    }

    /// The current root table.
    #[inline]
    pub(crate) fn root<'g, G: ReclaimGuard>(&self, guard: &'g G) -> &'g Table<K, V> {
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

    /// Scans the root table for [`ProbeStats`]. A root that is migrating is
    /// scanned as it stands: keys already copied forward are not counted.
    pub(crate) fn probe_stats(&self) -> ProbeStats {
        let guard = self.pin();
        let root = self.root(&guard);
        let mut scan = ProbeScan::new(root.slots());
        for i in 0..root.slots() {
            let w = root.word(i, &guard);
            let live = (!w.is_vacant() && !w.deleted() && !w.copied()).then(|| {
                // SAFETY: claimed, so non-null; loaded under our guard.
                let e = unsafe { &*w.entry() };
                root.placement.probe_length(e.hash, i)
            });
            scan.slot(!w.is_vacant(), live);
        }
        scan.finish()
    }
}

impl<K, V, S> RawMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    #[inline]
    pub(crate) fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Looks `key` up, starting at the root.
    #[inline]
    pub(crate) fn get<'g, Q, G: ReclaimGuard>(
        &self,
        hash: u64,
        key: &Q,
        guard: &'g G,
    ) -> Option<&'g Entry<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        find(self.root(guard), hash, key, guard)
    }

    /// The write engine behind insert, remove, update and friends.
    ///
    /// Finds `key`'s slot (or the empty slot that ends its probe sequence)
    /// in the newest table a writer may write to, asks `decide` what to do
    /// given the key's live entry, and performs that with one CAS, retrying
    /// on conflict. `decide` may be called several times; an entry it wants
    /// published is left in `pending` (and put back there if a CAS fails).
    ///
    /// `decide` runs again only when the key's state differs from the one it
    /// last decided on (another entry, or present versus absent): a CAS that
    /// fails because a migration froze the slot, or because another key
    /// claimed the empty slot first, reuses the last decision (and the entry
    /// it left in `pending`). So user closures behind `decide` re-run only
    /// when another thread changed the key, as the API documents.
    ///
    /// # Safety
    ///
    /// `key` must stay valid for the whole call; it may point into the entry
    /// held by `pending` (which is only moved, never freed, during the call).
    #[inline]
    pub(crate) unsafe fn write<'g, Q, F, G: ReclaimGuard>(
        &self,
        hash: u64,
        key: &Q,
        pending: &mut Option<Pending<K, V>>,
        decide: F,
        guard: &'g G,
    ) -> Written<'g, K, V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
        F: FnMut(Option<&'g Entry<K, V>>, &mut Option<Pending<K, V>>) -> Action,
    {
        // SAFETY: the caller's contract is ours.
        unsafe { self.write_with(Shrink::Allow, hash, key, pending, decide, guard) }
    }

    /// [`write`](Self::write) for a sweep: a removal never starts a shrink;
    /// the sweep calls [`end_sweep`](Self::end_sweep) when done.
    ///
    /// # Safety
    ///
    /// As for [`write`](Self::write).
    #[inline]
    pub(crate) unsafe fn write_in_sweep<'g, Q, F, G: ReclaimGuard>(
        &self,
        hash: u64,
        key: &Q,
        decide: F,
        guard: &'g G,
    ) -> Written<'g, K, V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
        F: FnMut(Option<&'g Entry<K, V>>, &mut Option<Pending<K, V>>) -> Action,
    {
        // SAFETY: the caller's contract is ours.
        unsafe { self.write_with(Shrink::Defer, hash, key, &mut None, decide, guard) }
    }

    /// Ends a sweep (`retain`, `clear`): if the sweep left the table mostly
    /// empty or full of tombstones, resizes it once, here, migrating every
    /// slot itself (the sweep already paid O(slots); the other threads pay
    /// nothing). A resize another thread started during the sweep was sized
    /// from the length before the sweep: it is finished first, and the
    /// table it leaves is judged the same way.
    pub(crate) fn end_sweep<G: ReclaimGuard>(&self, guard: &G) {
        let mut root = self.root(guard);
        if next_of(root, guard).is_some() {
            self.finish(root, guard);
            root = self.root(guard);
        }
        let occupied = root.occupied.sum();
        if next_of(root, guard).is_none()
            && table::should_tidy(root.slots(), self.min_slots, self.len(), occupied)
        {
            self.start_resize(root, guard);
            self.finish(root, guard);
        }
    }

    /// The write engine itself; `shrink` says whether a removal may start a
    /// shrink ([`write`](Self::write) documents the rest).
    ///
    /// # Safety
    ///
    /// As for [`write`](Self::write).
    unsafe fn write_with<'g, Q, F, G: ReclaimGuard>(
        &self,
        shrink: Shrink,
        hash: u64,
        key: &Q,
        pending: &mut Option<Pending<K, V>>,
        mut decide: F,
        guard: &'g G,
    ) -> Written<'g, K, V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
        F: FnMut(Option<&'g Entry<K, V>>, &mut Option<Pending<K, V>>) -> Action,
    {
        // The last decision and the state it was made on (the live entry's
        // address, or null for absent).
        let mut last: Option<(*const Entry<K, V>, Action)> = None;
        let mut decide = |cur: Option<&'g Entry<K, V>>, pending: &mut Option<Pending<K, V>>| {
            let seen = cur.map_or(std::ptr::null(), |e| e as *const Entry<K, V>);
            match last {
                Some((state, action)) if state == seen => action,
                _ => {
                    let action = decide(cur, pending);
                    last = Some((seen, action));
                    action
                }
            }
        };
        let tag = tag_of(hash);
        let mut table = self.root(guard);
        let mut depth = 0;
        'tables: loop {
            if let Some(next) = next_of(table, guard) {
                // A resize runs: help it, make sure nothing about this key
                // stays behind in `table`, and write in `next`.
                self.help(table, next, guard);
                // Mutation for checking the loom models (docs/verification.md).
                #[cfg(not(lfmap_mutation = "skip_seal"))]
                self.seal_key(table, next, hash, key, guard);
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
            for i in table.placement.probe(hash) {
                probed += 1;
                let mut w = table.word(i, guard);
                if w.is_unclaimed() {
                    match decide(None, pending) {
                        Action::Keep | Action::Remove => {
                            return Written {
                                prev: None,
                                cur: None,
                            }
                        }
                        Action::Put => {
                            let p = pending.take().expect("Action::Put without a pending entry");
                            match table.claim(i, p.word()) {
                                Ok(()) => {
                                    let e = p.ptr();
                                    p.publish();
                                    self.counters.inserted.add(1);
                                    self.after_claim(table, probed, guard);
                                    // SAFETY: just published; protected by
                                    // our guard from now on.
                                    return Written {
                                        prev: None,
                                        cur: Some(unsafe { &*e }),
                                    };
                                }
                                Err(seen) => {
                                    *pending = Some(p);
                                    w = seen;
                                }
                            }
                        }
                    }
                }
                if w.is_vacant() {
                    // Sealed (an entry-less word is unclaimed or sealed,
                    // and a failed claim means it is no longer unclaimed).
                    continue 'tables;
                }
                if w.tag() != tag {
                    continue;
                }
                // SAFETY: claimed, so non-null; loaded under our guard.
                let e = unsafe { &*w.entry() };
                if e.key.borrow() != key {
                    continue;
                }
                // This is the key's slot; it stays so (slot.rs invariant).
                loop {
                    if w.frozen() {
                        continue 'tables;
                    }
                    // SAFETY: loaded under our guard.
                    let cur = unsafe { w.live() };
                    match decide(cur, pending) {
                        Action::Keep => return Written { prev: cur, cur },
                        Action::Remove => {
                            if cur.is_none() {
                                return Written {
                                    prev: None,
                                    cur: None,
                                };
                            }
                            match table.delete(i, w) {
                                Ok(()) => {
                                    let local = self.counters.removed.add(1);
                                    if shrink == Shrink::Allow {
                                        self.after_remove(table, local, guard);
                                    }
                                    return Written {
                                        prev: cur,
                                        cur: None,
                                    };
                                }
                                Err(seen) => w = seen,
                            }
                        }
                        Action::Put => {
                            let p = pending.take().expect("Action::Put without a pending entry");
                            match table.replace(i, w, p.word()) {
                                Ok(()) => {
                                    let e = p.ptr();
                                    p.publish();
                                    if w.deleted() {
                                        self.counters.inserted.add(1);
                                    }
                                    self.retire_entry(table, w, guard);
                                    // SAFETY: just published; protected by
                                    // our guard from now on.
                                    return Written {
                                        prev: cur,
                                        cur: Some(unsafe { &*e }),
                                    };
                                }
                                Err(seen) => {
                                    *pending = Some(p);
                                    w = seen;
                                }
                            }
                        }
                    }
                }
            }
            // A full lap without the key or an empty slot: the table is
            // full. Start a resize (or join the one already started).
            self.start_resize(table, guard);
        }
    }

    /// Bookkeeping after a successful claim: count the slot and start a
    /// resize when the table passes 3/4 occupancy. Summing the occupancy
    /// shards costs a few loads, so large tables do it only on a long probe
    /// or every 16th claim per thread.
    #[inline]
    fn after_claim<G: ReclaimGuard>(&self, table: &Table<K, V>, probed: usize, guard: &G) {
        let local = table.occupied.add(1);
        if table.slots() <= 1024 || probed > 8 || local & 15 == 0 {
            let occupied = table.occupied.sum();
            if occupied * 4 > table.slots() * 3 {
                self.start_resize(table, guard);
            }
        }
    }

    /// Bookkeeping after a removal: shrink once the table is mostly empty,
    /// so a grow-then-delete-all cycle returns its memory.
    #[inline]
    fn after_remove<G: ReclaimGuard>(&self, table: &Table<K, V>, local: isize, guard: &G) {
        let sample = table.slots() <= 1024 || local & 63 == 0;
        if sample && table::should_shrink(table.slots(), self.min_slots, self.len()) {
            self.start_resize(table, guard);
        }
    }

    /// Starts the resize that follows `table` unless one already runs. The
    /// new size comes from the live count: doubling when the table is full
    /// of live keys, the same size when it is full of tombstones, smaller
    /// when it is mostly empty; the new placement from `probe.rs`'s policy
    /// (a doubling keeps split order, anything else rehashes).
    fn start_resize<G: ReclaimGuard>(&self, table: &Table<K, V>, guard: &G) {
        if next_of(table, guard).is_some() {
            return;
        }
        let slots = table::slots_for(self.len().max(1)).max(self.min_slots);
        let generation = table.generation + 1;
        let placement = table.placement.successor(slots, generation);
        let new = Box::into_raw(Table::new(placement, generation, true));
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
            // SAFETY: never published; we still own it alone.
            Err(_) => drop(unsafe { Box::from_raw(new) }),
        }
    }

    /// Retires the entry `old` that a successful CAS just unlinked from
    /// `table`. While an older table may still be reached (a migration into
    /// `table` is unfinished), that table's copied words still point at
    /// entries it handed over, and readers dereference them to compare keys;
    /// such retirements wait on `table`'s deferred list until the older
    /// table is unlinked (see `migrate.rs`, `promote`).
    fn retire_entry<G: ReclaimGuard>(&self, table: &Table<K, V>, old: Word<K, V>, guard: &G) {
        let entry = old.entry();
        if table.defer_retire(entry) {
            if table.older_released() {
                // The promoter may have drained before our push landed.
                table.drain_deferred(guard);
            }
            return;
        }
        // Mutation for checking the loom reclamation model
        // (docs/verification.md): free at once, ignoring pinned readers.
        #[cfg(lfmap_mutation = "free_early")]
        // SAFETY: none: this is the bug the mutation plants.
        unsafe {
            crate::reclaim::Retire::free(entry)
        };
        // SAFETY: our CAS unlinked `entry` from its only slot, and no older
        // table can reach it any more: it is retired exactly once, here.
        #[cfg(not(lfmap_mutation = "free_early"))]
        unsafe {
            guard.retire(entry)
        };
    }
}

/// The table `table` is migrating into, if a resize runs.
#[inline]
pub(crate) fn next_of<'g, K, V, G: ReclaimGuard>(
    table: &Table<K, V>,
    guard: &'g G,
) -> Option<&'g Table<K, V>> {
    // SAFETY: a next table is retired only after it has been root and
    // has been unlinked from root, after every older table; `table` is
    // protected by the same guard, so its successor is too.
    unsafe { guard.protect(&table.next).as_ref() }
}

/// Looks `key` up in `table` and, where a migration has moved it, in the
/// tables after it. Readers never write: a frozen slot that is not yet
/// copied still holds the key's final value for this table.
///
/// Linearization: the Acquire load of the key's word (live or deleted),
/// or of the first unclaimed, unfrozen word of its probe sequence (absent).
pub(crate) fn find<'g, K, V, Q, G: ReclaimGuard>(
    mut table: &'g Table<K, V>,
    hash: u64,
    key: &Q,
    guard: &'g G,
) -> Option<&'g Entry<K, V>>
where
    K: Borrow<Q>,
    Q: Eq + ?Sized,
{
    let tag = tag_of(hash);
    'tables: loop {
        for i in table.placement.probe(hash) {
            let w = table.word(i, guard);
            if w.is_vacant() {
                if w.frozen() {
                    // Sealed: whatever this table had for the key is in
                    // the next table now.
                    table = next_of(table, guard)?;
                    continue 'tables;
                }
                // Unclaimed: the key's probe sequence ends here.
                return None;
            }
            if w.tag() != tag {
                continue;
            }
            // SAFETY: claimed, so non-null; loaded under our guard.
            let e = unsafe { &*w.entry() };
            if e.key.borrow() != key {
                continue;
            }
            if w.copied() {
                table = next_of(table, guard)?;
                continue 'tables;
            }
            // SAFETY: loaded under our guard.
            return unsafe { w.live() };
        }
        // A full lap without an empty slot: the key is not here.
        table = next_of(table, guard)?;
    }
}

impl<K, V, S> RawMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    /// Finishes every resize in progress and takes the root table out of
    /// the map, leaving an empty table in its place. With `&mut self`, no
    /// other thread runs: the returned table holds every entry, each
    /// exactly once.
    pub(crate) fn take_root(&mut self) -> Box<Table<K, V>> {
        {
            let guard = self.pin();
            while let Some(_next) = next_of(self.root(&guard), &guard) {
                self.finish(self.root(&guard), &guard);
            }
        }
        let empty = Box::into_raw(Table::new(Placement::first(self.min_slots), 0, false));
        let root = self.root.swap(empty, Ordering::Relaxed);
        self.counters.reset_len();
        // SAFETY: the root is linked from nowhere else, has no successor,
        // and `&mut self` means no guard can still reach it.
        unsafe { Box::from_raw(root) }
    }
}

impl<K, V, S> Drop for RawMap<K, V, S> {
    fn drop(&mut self) {
        // Unwinding under loom: leave loom's state alone (`sync.rs`).
        if crate::sync::loom_unwinding() {
            return;
        }
        // `&mut self`: no guard, no other thread. Every table still linked
        // from the root frees the entries it owns (table.rs); retired tables
        // and entries are freed by `reclaim` when it drops after us.
        let mut table = self.root.load(Ordering::Relaxed);
        while !table.is_null() {
            // SAFETY: linked tables are owned by the map and freed once, here.
            let owned = unsafe { Box::from_raw(table) };
            table = owned.next.load(Ordering::Relaxed);
            drop(owned);
        }
    }
}
