//! `RawMap`: the generic map's operations over the slot protocol of
//! [`slot`], with its resizes driven by the shared engine (`resize/`).
//!
//! Every function here runs with the caller's guard pinned; references
//! returned live as long as that guard (`'g`).

mod migrate;
mod pool;
mod slab;
pub(crate) mod slot;
pub(crate) mod table;

use equivalent::Equivalent;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::ptr::NonNull;

use self::slot::{tag_of, Entry, Held, Pending, RemovedValue, Word};
use self::table::Table;
use crate::reclaim::{Reclaim, ReclaimGuard, Reclaimer, Retire};
use crate::resize::assist::{Assist, Work};
use crate::resize::policy::Shrink;
use crate::resize::probe::Placement;
use crate::resize::{next_of, prefetch_successor_home, Floor, Generation, Migrate, Resizer};
use crate::stats::{ProbeScan, ProbeStats, RootFacts, Stats};

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
    /// The root table, the counters and the resize driver. Dropping it
    /// frees the tables still linked from the root.
    resize: Resizer<Table<K, V>>,
    pub(crate) hasher: S,
    // Declared last: dropped after the tables, so it frees the retired
    // objects it still holds once the live ones are gone.
    reclaim: Reclaimer,
    _owns: PhantomData<Box<Entry<K, V>>>,
}

// SAFETY: a map owns its keys and values (moving the map moves them), and
// its reclaimer and tables are plain heap memory behind atomics.
unsafe impl<K: Send, V: Send, S: Send> Send for RawMap<K, V, S> {}
// SAFETY: through `&RawMap`, threads share `&K`/`&V` (so K, V: Sync) and
// may drop keys and values inserted by other threads (so K, V: Send).
unsafe impl<K: Send + Sync, V: Send + Sync, S: Sync> Sync for RawMap<K, V, S> {}

impl<K, V, S> RawMap<K, V, S> {
    pub(crate) fn new(slots: usize, hasher: S) -> Self {
        RawMap {
            resize: Resizer::new(Table::new(Placement::first(slots), 0, false)),
            hasher,
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
    pub(crate) fn root<'g, G: ReclaimGuard>(&self, guard: &'g G) -> &'g Table<K, V> {
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

    /// Scans the root table for [`ProbeStats`]. A root that is migrating is
    /// scanned as it stands: keys already copied forward are not counted.
    pub(crate) fn probe_stats(&self) -> ProbeStats {
        let guard = self.pin();
        let root = self.root(&guard);
        let mut scan = ProbeScan::new(root.len());
        for i in 0..root.len() {
            let w = root.slots.load(i, &guard);
            let live = match w.view() {
                Held::Live(e) if !w.copied() => Some(root.placement().probe_length(e.hash(), i)),
                _ => None,
            };
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
    /// The key's hash, with the bits an entry keeps its reclamation state
    /// in cleared (`slot::HASH_MASK`): every hash the map computes or
    /// stores is one of these.
    #[inline]
    pub(crate) fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key) & slot::HASH_MASK
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
        Q: Equivalent<K> + ?Sized,
    {
        let root = self.root(guard);
        let found = find(root, hash, key, guard);
        // A migration the writes left open is finished by reads, and a
        // prepared table the map stopped growing towards is released
        // (`resize/stall.rs`). Not under loom: no clock there, and the
        // models' reads keep their steps.
        #[cfg(not(loom))]
        self.resize.after_read(self, root, guard);
        found
    }

    /// The write engine behind remove, update, compute and friends, for a
    /// key the caller lends: finds `key`'s slot (or the empty slot that ends
    /// its probe sequence) in the newest table a writer may write to, asks
    /// `decide` what to do given the key's live entry, and performs that with
    /// one CAS, retrying on conflict. `decide` may be called several times;
    /// an entry it wants published it leaves in its `pending` argument (and
    /// it is put back there if a CAS fails).
    ///
    /// `decide` runs again only when the key's state differs from the one it
    /// last decided on (another entry, or present versus absent): a CAS that
    /// fails because a migration froze the slot, or because another key
    /// claimed the empty slot first, reuses the last decision (and the entry
    /// it left in `pending`). So user closures behind `decide` re-run only
    /// when another thread changed the key, as the API documents.
    #[inline]
    pub(crate) fn write<'g, Q, F, G: ReclaimGuard>(
        &self,
        hash: u64,
        key: &Q,
        decide: F,
        guard: &'g G,
    ) -> Written<'g, K, V>
    where
        Q: Equivalent<K> + ?Sized,
        F: FnMut(Option<&'g Entry<K, V>>, &mut Option<Pending<K, V>>) -> Action,
    {
        // SAFETY: `key` is the caller's borrow, not inside `pending`.
        unsafe { self.write_with(Shrink::Allow, hash, key, &mut None, decide, guard) }
    }

    /// The write engine for a key the caller gives up: `entry` carries the
    /// key (and the value [`Action::Put`] publishes), and the probe compares
    /// against the key inside it. Returns what was written and, unless it
    /// was published, the entry.
    #[inline]
    pub(crate) fn write_owned<'g, F, G: ReclaimGuard>(
        &self,
        entry: Pending<K, V>,
        mut decide: F,
        guard: &'g G,
    ) -> (Written<'g, K, V>, Option<Pending<K, V>>)
    where
        F: FnMut(Option<&'g Entry<K, V>>) -> Action,
    {
        let hash = entry.entry().hash();
        // SAFETY: the key lives in `entry`'s allocation, which from here on
        // is only ever moved between `pending` and the table, never freed,
        // until this call returns: `decide` below cannot reach `pending`, and
        // `write_with` only takes it out to publish it (after which the
        // table owns it, and our guard keeps it alive until after the call)
        // or puts it back. `key` is not used after `write_with` returns.
        let key: &K = unsafe { &(*entry.as_ptr()).key };
        let mut pending = Some(entry);
        // SAFETY: `key` points into `pending`'s entry, and `decide` below
        // never touches `pending` (it ignores its second argument).
        let written = unsafe {
            self.write_with(
                Shrink::Allow,
                hash,
                key,
                &mut pending,
                |cur, _| decide(cur),
                guard,
            )
        };
        (written, pending)
    }

    /// [`write`](Self::write) for a sweep: a removal never starts a shrink;
    /// the sweep calls [`end_sweep`](Self::end_sweep) when done.
    #[inline]
    pub(crate) fn write_in_sweep<'g, Q, F, G: ReclaimGuard>(
        &self,
        hash: u64,
        key: &Q,
        decide: F,
        guard: &'g G,
    ) -> Written<'g, K, V>
    where
        Q: Equivalent<K> + ?Sized,
        F: FnMut(Option<&'g Entry<K, V>>, &mut Option<Pending<K, V>>) -> Action,
    {
        // SAFETY: `key` is the caller's borrow, not inside `pending`.
        unsafe { self.write_with(Shrink::Defer, hash, key, &mut None, decide, guard) }
    }

    /// Ends a sweep (`retain`, `clear`): resizes once if the sweep left
    /// the table sparse (`Resizer::end_sweep`).
    pub(crate) fn end_sweep<G: ReclaimGuard>(&self, guard: &G) {
        self.resize.end_sweep(self, guard);
    }

    /// The root table once no resize is in progress (finishing any that
    /// is): where an iteration starts.
    pub(crate) fn stable_root<'g, G: ReclaimGuard>(&self, guard: &'g G) -> &'g Table<K, V> {
        self.resize.stable_root(self, guard)
    }

    /// The write engine itself; `shrink` says whether a removal may start a
    /// shrink ([`write`](Self::write) documents the rest).
    ///
    /// # Safety
    ///
    /// If `key` points into the entry held by `pending` (as in
    /// [`write_owned`](Self::write_owned)), `decide` must not drop or
    /// replace that entry. This function itself never drops it: it only
    /// publishes it (the table then owns it, protected by `guard`) or
    /// leaves it in `pending`.
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
        Q: Equivalent<K> + ?Sized,
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
        guard.before_write();
        let tag = tag_of(hash);
        let mut table = self.root(guard);
        let mut depth = 0;
        let mut sealed = migrate::Sealed::new();
        'tables: loop {
            // While a resize runs: help it, make sure nothing about this key
            // stays behind in the old table, and write in the new one.
            table = self
                .resize
                .writable(self, table, hash, &mut depth, guard, |old, new| {
                    // Mutation for checking the loom models (docs/verification.md).
                    if !mutation!("skip_seal") {
                        migrate::seal_key(&self.resize, old, new, hash, key, &mut sealed, guard);
                    }
                });
            let mut probed = 0;
            for i in table.placement().probe(hash) {
                probed += 1;
                let mut w = table.slots.load(i, guard);
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
                            match table.slots.claim_pending(i, p, guard) {
                                Ok(e) => {
                                    self.resize.counters.inserted(guard.slot());
                                    self.resize.after_claim(table, probed, guard);
                                    return Written {
                                        prev: None,
                                        cur: Some(e),
                                    };
                                }
                                Err((p, seen)) => {
                                    *pending = Some(p);
                                    w = seen;
                                }
                            }
                        }
                    }
                }
                let Some(e) = w.entry() else {
                    // Sealed (an entry-less word is unclaimed or sealed,
                    // and a failed claim means it is no longer unclaimed).
                    continue 'tables;
                };
                // For an entry a migration copied in, the stored hash too,
                // after the key: such a slot is the key's only if its entry
                // was placed under the writer's hash. A `Hash` that varies
                // for one key (a logic error) otherwise let a writer replace
                // an entry that a late copy of it, which probes by the
                // stored hash, then placed again: live and retired at once,
                // freed twice (found by review; seal_key and the copy
                // already compare it). A writer whose hash differs claims a
                // slot of its own: a duplicate key, as std's maps may give
                // for such a key, never a shared entry. An entry a writer
                // placed here (not `INHERITED`) was never in an older
                // table, so no copy places it again: its hash is not
                // loaded (one line fewer for an eighth of the entries,
                // whose hash starts the next line: 4 % of a presized
                // map's exchange throughput at 1 thread). And while a
                // migration into this table may still run, only the entry
                // this write's seal found (`migrate::Sealed`: an `Eq` that
                // is not an equivalence matched others).
                if w.tag() != tag
                    || !key.equivalent(&e.key)
                    || (w.inherited()
                        && (e.hash() != hash || !sealed.takes(&self.resize, table, e, guard)))
                {
                    continue;
                }
                // This is the key's slot; it stays so (slot.rs invariant).
                loop {
                    if w.frozen() {
                        continue 'tables;
                    }
                    let cur = w.live();
                    match decide(cur, pending) {
                        Action::Keep => return Written { prev: cur, cur },
                        Action::Remove => {
                            if cur.is_none() {
                                return Written {
                                    prev: None,
                                    cur: None,
                                };
                            }
                            match table.slots.delete(i, w) {
                                Ok(()) => {
                                    // The bookkeeping first: the retirement
                                    // may free others' values, whose `Drop`
                                    // may panic, and the count and the
                                    // table's tombstone flag must not miss
                                    // this removal then.
                                    table.note_tombstone();
                                    self.resize.after_remove(table, shrink, guard);
                                    self.retire_removed(w, guard);
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
                            match table.slots.replace(i, w, p) {
                                Ok(e) => {
                                    if w.deleted() {
                                        self.resize.counters.inserted(guard.slot());
                                    }
                                    self.retire_entry(table, w, guard);
                                    return Written {
                                        prev: cur,
                                        cur: Some(e),
                                    };
                                }
                                Err((p, seen)) => {
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
            self.resize.start_resize_full(table, guard);
        }
    }

    /// Retires the entry of `old`, a word a successful CAS just unlinked
    /// from `table`. While an older table may still be reached (a migration
    /// into `table` is unfinished), that table's copied words still point at
    /// entries it handed over, and readers dereference them to compare keys;
    /// such an entry waits on `table`'s deferred list until the older table
    /// is unlinked (`Table::promoted`). Only an entry a migration copied in
    /// can be one (`Word::inherited`): one a writer placed here was never in
    /// an older table, and is retired at once.
    fn retire_entry<G: ReclaimGuard>(&self, table: &Table<K, V>, old: Word<'_, K, V>, guard: &G) {
        let entry = old.ptr();
        if old.inherited() && table.defer_retire(entry) {
            // Mutation for checking loom model 20 (`defer_racing_promotion`):
            // no look at the flag after the push.
            if !mutation!("defer_skip_recheck") && table.older_released() {
                // The promoter may have drained before our push landed.
                table.drain_deferred(guard);
            }
            return;
        }
        // Mutation for checking the loom reclamation model
        // (docs/verification.md): free at once, ignoring pinned readers.
        if mutation!("free_early") {
            // SAFETY: none: this is the bug the mutation plants.
            unsafe { crate::reclaim::Retire::free(entry) };
            return;
        }
        // SAFETY: our CAS unlinked `entry` from its only slot, and no older
        // table can reach it any more: it is retired exactly once, here.
        unsafe { guard.retire(entry) };
    }

    /// Retires the drop of the value of `removed`, a live word whose entry
    /// a successful delete CAS just made a keyed tombstone. The entry
    /// stays with the slot, for its key; its value is dropped once every
    /// reader that could still see it live has left (`slot::Meta` says how
    /// that drop and the entry's owner share the entry).
    fn retire_removed<G: ReclaimGuard>(&self, removed: Word<'_, K, V>, guard: &G) {
        // A value without drop glue (a set's `()`, a `Copy` value) has
        // nothing to drop early: the entry's owner frees it whole, as it
        // frees a replaced entry, and the removal costs no retirement.
        if !std::mem::needs_drop::<V>() {
            return;
        }
        let entry = removed.entry().expect("a deleted word held an entry");
        entry.mark_removed();
        // SAFETY: our CAS unlinked the value: no slot holds the entry live
        // any more. An older table's frozen word for it is `COPIED` (this
        // writer sealed the key there before it wrote), so a lookup that
        // reaches the entry through it moves on to this table, and so does
        // a walk (`iter.rs`: it reads only the entry's key and hash there,
        // which stay with the tombstone, to look the key up); a reader
        // that loaded the value before this CAS is pinned, and the grace
        // period waits for it (design.md, "Removed values"). A removal
        // happens once per entry: the value's drop is retired once.
        unsafe {
            guard.retire(
                std::ptr::from_ref(entry)
                    .cast_mut()
                    .cast::<RemovedValue<K, V>>(),
            )
        };
    }
}

/// Looks `key` up in `table` and, where a migration has moved it, in the
/// tables after it. The lookup writes nothing (a read's help with a
/// stalled migration comes after it: `RawMap::get`): a frozen slot that is
/// not yet copied still holds the key's final value for this table.
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
    Q: Equivalent<K> + ?Sized,
{
    let tag = tag_of(hash);
    'tables: loop {
        prefetch_successor_home(table, hash, guard);
        for i in table.placement().probe(hash) {
            let w = table.slots.load(i, guard);
            let Some(e) = w.entry() else {
                if w.frozen() {
                    // Sealed: whatever this table had for the key is in
                    // the next table now.
                    table = next_of(table, guard)?;
                    continue 'tables;
                }
                // Unclaimed: the key's probe sequence ends here.
                return None;
            };
            if w.tag() != tag || !key.equivalent(&e.key) {
                continue;
            }
            if w.copied() {
                table = next_of(table, guard)?;
                continue 'tables;
            }
            return w.live();
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
    ///
    /// `reused`: the map goes on (`drain`), so the empty table's memory is
    /// faulted in now, as a new map's first table is (`Resizer::new`);
    /// for a map being consumed (`into_iter`) that would be wasted.
    pub(crate) fn take_root(&mut self, reused: bool) -> Box<Table<K, V>> {
        {
            let guard = self.pin();
            self.resize.finish_all(self, &guard);
        }
        let slots = self.resize.empty_root_slots(reused);
        let empty = Table::new(Placement::first(slots), 0, false);
        if reused {
            empty.populate_all(None);
        }
        self.resize.replace_root(empty)
    }
}

impl<K, V, S> RawMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    /// Finishes every resize in progress and returns the root table for
    /// the `&mut self` methods of `HashMap` (`get_mut`, `iter_mut`), which
    /// read and change its entries in place without pinning.
    ///
    /// With `&mut self`, no handle, iterator or helper of this map is
    /// alive (each borrows the map), so no other thread is inside it, and
    /// none can enter while the returned view (which keeps `self` borrowed
    /// mutably) lives. After `finish_all` the root has no successor: every
    /// key present is in exactly one of its slots, and none of its words is
    /// frozen or copied (only a migration *out of* a table freezes its
    /// words, and it has none). Older tables may still sit retired in the
    /// reclaimer, their `COPIED` words pointing at entries the root now
    /// owns; a retired table never reads those entries again (its free
    /// skips copied words: `Slots::free_owned`), and the view never looks at
    /// those tables.
    pub(crate) fn exclusive(&mut self) -> Exclusive<'_, K, V> {
        let root: *const Table<K, V> = {
            let guard = self.pin();
            self.resize.finish_all(self, &guard);
            self.root(&guard)
        };
        // SAFETY: the root was loaded under a pin, and it stays the root,
        // unretired, for as long as `self` is borrowed mutably: only a
        // resize retires it (started and finished through `&self`: a
        // handle's write, `reserve`, `shrink_to_fit`, a resize helper) and
        // only `replace_root` (`&mut self`) replaces it otherwise, and the
        // returned view holds the `&mut` borrow for its whole life. So
        // dropping the pin does not let it be freed.
        let table = unsafe { &*root };
        Exclusive {
            table,
            no_pin: NoPin,
        }
    }

    /// The value of `key` (whose hash is `hash`), lent mutably for as long
    /// as the map is: `HashMap::get_mut`.
    pub(crate) fn get_mut<Q>(&mut self, hash: u64, key: &Q) -> Option<&mut V>
    where
        Q: Equivalent<K> + ?Sized,
    {
        let entry = self.exclusive().find(hash, key)?.as_ptr();
        // SAFETY: `entry` is the live entry of `key`'s one slot in the root
        // of a map borrowed mutably for the returned lifetime (`exclusive`,
        // which finished every resize): no other thread is inside the map,
        // and none can replace, remove, retire or free the entry, or read
        // its value, until that borrow ends; nor can this thread, whose
        // every other access needs the same borrow. A removed key's
        // tombstone and a replaced or retired entry are never returned by
        // `find`. The pointer is the one the slot holds (write provenance
        // from the entry's allocation, never a shared reference's), and only
        // the value is lent mutably: the key and the stored hash stay
        // untouched, so the entry still belongs in its slot. An older table,
        // retired and not yet freed, may still point at the entry; nothing
        // reads it through that table any more (`exclusive`).
        Some(unsafe { &mut *Entry::value_ptr(entry) })
    }
}

/// The root table of a map held by `&mut` (see [`RawMap::exclusive`]),
/// read without a pin: live entries as raw pointers, for the `&mut self`
/// methods to hand out `&mut V` (through the pointer the slot holds, never
/// through a shared reference to the entry).
pub(crate) struct Exclusive<'m, K, V> {
    table: &'m Table<K, V>,
    /// The "guard" slots are loaded with, borrowed from the view so that
    /// what a load returns cannot outlive it (a `&NoPin` made on the spot
    /// would be a promoted constant, of any lifetime: found by review).
    no_pin: NoPin,
}

impl<K, V> Exclusive<'_, K, V> {
    /// The number of slots.
    pub(crate) fn slots(&self) -> usize {
        self.table.len()
    }

    /// Which of slots `start..start + n` look live: a walk's hint
    /// (`iter::Walk`), as for a pinned walk.
    pub(crate) fn live_hint(&self, start: usize, n: usize) -> u64 {
        self.table.slots.live_hint(start, n)
    }

    /// The live entry of slot `i`, if it holds one the root owns: not
    /// vacant, not a tombstone (a removed key, whose entry is no value of
    /// the map's), not handed on (`COPIED`, which the root, having no
    /// successor, never is). A replaced or removed-and-retired entry is in
    /// no slot at all, so it is never returned.
    pub(crate) fn live(&self, i: usize) -> Option<NonNull<Entry<K, V>>> {
        let w = self.table.slots.load(i, &self.no_pin);
        debug_assert!(
            !w.frozen(),
            "the root of a map held by &mut is not migrating"
        );
        if w.deleted() || w.copied() {
            return None;
        }
        NonNull::new(w.ptr())
    }

    /// The live entry of `key`, whose hash is `hash`, if any: the root's
    /// probe, as [`find`] runs it with no next table to follow.
    pub(crate) fn find<Q>(&self, hash: u64, key: &Q) -> Option<NonNull<Entry<K, V>>>
    where
        Q: Equivalent<K> + ?Sized,
    {
        let table = self.table;
        let tag = tag_of(hash);
        for i in table.placement().probe(hash) {
            let w = table.slots.load(i, &self.no_pin);
            debug_assert!(
                !w.frozen(),
                "the root of a map held by &mut is not migrating"
            );
            // An entry-less word ends the key's probe sequence (unclaimed;
            // a sealed one would mean a migration, and there is none).
            let e = w.entry()?;
            if w.tag() != tag || !key.equivalent(&e.key) {
                continue;
            }
            // The key's one slot in the root: live, or a tombstone.
            if w.deleted() || w.copied() {
                return None;
            }
            return NonNull::new(w.ptr());
        }
        None
    }
}

/// The "guard" an [`Exclusive`] view loads slots with: no pin at all.
/// Pins exist to keep what a load returns from being freed while other
/// threads retire it; a map held by `&mut` has no other thread inside it,
/// and the view only loads (it never retires, and so never frees),
/// so a plain Acquire load is all the protection a word needs. Private to
/// this module, so nothing else can make it stand in for a pin.
struct NoPin;

impl ReclaimGuard for NoPin {
    #[inline]
    fn protect<T>(&self, ptr: &crate::sync::AtomicPtr<T>) -> *mut T {
        // Acquire, every backend's minimum (`reclaim::contract`); with
        // exclusive access every write happened-before this load anyway.
        ptr.load(crate::sync::Ordering::Acquire)
    }

    unsafe fn retire<T: Retire>(&self, _ptr: *mut T) {
        unreachable!("an exclusive view of the map only loads slots; it never retires");
    }

    fn before_write(&self) {}

    fn flush(&self) {}
}

impl<K: Eq, V, S> RawMap<K, V, S> {
    /// Keys the newest table holds before it must grow.
    pub(crate) fn capacity<G: ReclaimGuard>(&self, guard: &G) -> usize {
        self.resize.reported_capacity(guard)
    }

    /// Makes room for `additional` more keys (`Resizer::reserve`).
    pub(crate) fn try_reserve<G: ReclaimGuard>(
        &self,
        additional: usize,
        guard: &G,
    ) -> Result<(), crate::TryReserveError> {
        self.resize.reserve(self, additional, Floor::Raise, guard)
    }

    /// Makes room for an `extend` of `hint` keys (`policy::extend_room`),
    /// without a floor; best effort.
    pub(crate) fn room_for_extend<G: ReclaimGuard>(&self, hint: (usize, Option<usize>), guard: &G) {
        self.resize.room_for_extend(self, hint, guard);
    }

    /// Shrinks to the smallest table that fits the keys and
    /// `min_capacity` of them (`Resizer::shrink_to`).
    pub(crate) fn shrink_to<G: ReclaimGuard>(&self, min_capacity: usize, guard: &G) {
        self.resize.shrink_to(self, min_capacity, guard);
        // The retired tables whose entries (the tombstones of removed
        // keys) the backend frees a step at a time over later writes go
        // whole now, as the user who asks for the memory back expects; a
        // map emptied by removals down to its `with_capacity` floor kept
        // 90 MiB of them through `shrink_to_fit` (found by an outside test).
        self.reclaim.free_steps_now();
    }
}

impl<K, V, S> Assist for RawMap<K, V, S>
where
    K: Eq + Send + Sync,
    V: Send + Sync,
    S: Sync,
{
    fn assist_step(&self) -> Work {
        self.resize.assist(self, &self.pin())
    }

    /// Unpinned (a pin held would keep the scan it may run from freeing
    /// what this thread could reach).
    fn free_step(&self) -> bool {
        self.reclaim.free_step()
    }

    fn set_assistant(&self, on: bool) {
        self.resize.set_assistant(on);
    }
}

impl<K: Eq, V, S> Migrate for RawMap<K, V, S> {
    type Table = Table<K, V>;

    #[inline]
    fn migrate_slot<G: ReclaimGuard>(
        &self,
        table: &Table<K, V>,
        i: usize,
        next: &Table<K, V>,
        guard: &G,
    ) {
        migrate::migrate_slot(&self.resize, table, i, next, guard);
    }
}
