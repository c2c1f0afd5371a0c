//! Cooperative incremental resize: claim, freeze, copy, promote.
//!
//! A resize starts when a writer installs `table.next` with one CAS
//! (`RawMap::start_resize`). From then on:
//!
//! * **Writers help.** Every write that finds `next` set first migrates one
//!   chunk of [`CHUNK`] slots (`help`): it claims the chunk with a
//!   `fetch_add` on the table's cursor, freezes each slot (a CAS that sets
//!   `FROZEN`, after which no write can land there) and copies live entries
//!   forward. Chunks are handed out front to back; in a growth, split order
//!   sends old range `[a, b)` to new range `[2a, 2b)`, so the new table
//!   fills front to back as well (a shrink or rebuild rehashes: its copies
//!   land anywhere in a table no larger than the old one; `probe.rs`).
//! * **Writers seal their key** (`seal_key`) before writing in `next`: they
//!   freeze the key's slot (copying it) or the empty slot that ends its probe
//!   sequence, so the old table can never again gain or change that key.
//!   A migration therefore never races a write on the same key.
//! * **Copies are idempotent** (`insert_copy`): a copy is "insert this very
//!   entry unless the key is already there", so any number of threads may
//!   copy the same slot, and a slow copier can never resurrect a key that
//!   was copied, then removed, in the new table (removal keeps a keyed
//!   tombstone there until that table itself migrates).
//! * **Nobody waits.** A thread that claimed a chunk and stalled holds
//!   nobody up: others keep working in `next`, and a thread that finds
//!   resizes stacking up (or an iterator that needs the old table gone)
//!   migrates every remaining slot itself (`finish`), which is safe because
//!   each step is idempotent.
//! * **Promotion** (`promote`): when all slots of the root are migrated, the
//!   root pointer moves to `next` with one CAS and the old table is retired.
//!
//! Work bound: an operation migrates at most one chunk per table it passes
//! through (normally one), plus its own key's slot; only when a resize is
//! left unfinished while the next one is already needed does a writer
//! finish the older one, O(slots) once for all.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

use super::cursor::CHUNK;
use super::slot::{tag_of, Entry, Word};
use super::table::Table;
use super::{next_of, RawMap};
use crate::reclaim::ReclaimGuard;
use crate::sync::Ordering::{AcqRel, Acquire};

impl<K, V, S> RawMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    /// Migrates one chunk of `table` into `next`, if any is left to claim.
    pub(super) fn help<G: ReclaimGuard>(&self, table: &Table<K, V>, next: &Table<K, V>, guard: &G) {
        let slots = table.slots();
        let Some(chunk) = table.cursor.next_chunk(slots) else {
            return;
        };
        table.prefetch_entries(chunk.clone());
        for i in chunk.clone() {
            // Mutation for checking the loom models (docs/verification.md):
            // copy without freezing, so a write can land behind the copy.
            #[cfg(lfmap_mutation = "skip_freeze")]
            let w = table.word(i, guard);
            #[cfg(not(lfmap_mutation = "skip_freeze"))]
            let w = table.freeze(i, guard);
            self.copy_slot(table, i, w, next, guard);
        }
        self.counters.chunks_helped.bump();
        if table.cursor.complete(chunk, slots) {
            self.promote(guard);
        }
    }

    /// Migrates every slot of `table` that is not yet migrated, whoever
    /// claimed it, then promotes. Idempotent and lock-free.
    pub(crate) fn finish<G: ReclaimGuard>(&self, table: &Table<K, V>, guard: &G) {
        let Some(next) = next_of(table, guard) else {
            return;
        };
        if !table.cursor.is_finished() {
            for i in 0..table.slots() {
                if i % CHUNK == 0 {
                    table.prefetch_entries(i..(i + CHUNK).min(table.slots()));
                }
                let w = table.freeze(i, guard);
                self.copy_slot(table, i, w, next, guard);
            }
            table.cursor.set_finished();
        }
        self.promote(guard);
    }

    /// Moves the root forward past every finished table, retiring each.
    pub(super) fn promote<G: ReclaimGuard>(&self, guard: &G) {
        loop {
            let root = self.root(guard);
            if !root.cursor.is_finished() {
                return;
            }
            let Some(next) = next_of(root, guard) else {
                return;
            };
            let (old, new) = (
                root as *const Table<K, V> as *mut Table<K, V>,
                next as *const _ as *mut _,
            );
            // AcqRel on success: readers that load the new root (Acquire)
            // see every copy made before `finished`. Failure: another thread
            // promoted; loop to look at the new root.
            if self
                .root
                .compare_exchange(old, new, AcqRel, Acquire)
                .is_ok()
            {
                self.counters.promotions.bump();
                // The old table is unreachable for operations that start
                // from now on: entries parked in `next` may be retired, and
                // so may the old table itself.
                next.release_older(guard);
                // SAFETY: our CAS unlinked `old` from the root, the only
                // place it was reachable from (older tables were promoted
                // past earlier); it is retired exactly once, by the winner.
                unsafe { guard.retire_now(old) };
            }
        }
    }

    /// Makes `table` final for `key`: freezes the key's slot (and copies it
    /// into `next`), or seals the empty slot ending its probe sequence. After
    /// this no write to `key` can land in `table`, and the key's state in
    /// `table` is in `next`.
    pub(super) fn seal_key<Q, G: ReclaimGuard>(
        &self,
        table: &Table<K, V>,
        next: &Table<K, V>,
        hash: u64,
        key: &Q,
        guard: &G,
    ) where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let tag = tag_of(hash);
        for i in table.placement.probe(hash) {
            let mut w = table.word(i, guard);
            if w.is_unclaimed() {
                match table.seal(i) {
                    Ok(()) => return,
                    Err(seen) => w = seen,
                }
            }
            if w.is_vacant() {
                return; // already sealed
            }
            if w.tag() != tag {
                continue;
            }
            // SAFETY: claimed, so non-null; loaded under our guard.
            let e = unsafe { &*w.entry() };
            if e.hash == hash && e.key.borrow() == key {
                let w = table.freeze(i, guard);
                self.copy_slot(table, i, w, next, guard);
                return;
            }
        }
        // A full lap: the table is full, nothing can be inserted here.
    }

    /// Copies frozen slot `i` of `table` into `next` unless that is done.
    /// Live entries move (the same allocation); tombstones stay with `table`
    /// and are freed with it.
    pub(super) fn copy_slot<G: ReclaimGuard>(
        &self,
        table: &Table<K, V>,
        i: usize,
        w: Word<K, V>,
        next: &Table<K, V>,
        guard: &G,
    ) {
        if w.copied() || w.is_vacant() {
            return;
        }
        if !w.deleted() {
            self.insert_copy(next, w.entry(), guard);
        }
        table.mark_copied(i, w);
    }

    /// Inserts the entry `entry` into `table` unless its key is there already
    /// (as this very entry, a newer one, or a keyed tombstone). If `table` is
    /// itself migrating and sealed for the key, goes on to its successor.
    fn insert_copy<'g, G: ReclaimGuard>(
        &self,
        mut table: &'g Table<K, V>,
        entry: *mut Entry<K, V>,
        guard: &'g G,
    ) {
        // SAFETY: `entry` is live in a frozen slot of an older table that
        // our guard protects; it is retired only after that table is
        // unlinked, after our pin.
        let e = unsafe { &*entry };
        let word = Word::tagged(entry, e.hash);
        let tag = word.tag();
        'tables: loop {
            for i in table.placement.probe(e.hash) {
                let mut w = table.word(i, guard);
                if w.is_unclaimed() {
                    match table.claim(i, word) {
                        Ok(()) => {
                            table.occupied.add(1);
                            return;
                        }
                        Err(seen) => w = seen,
                    }
                }
                if w.is_vacant() {
                    // Sealed: `table` is migrating and final for this key,
                    // which it does not hold; go on.
                    match next_of(table, guard) {
                        Some(n) => {
                            table = n;
                            continue 'tables;
                        }
                        None => unreachable!("a sealed slot in a table without a successor"),
                    }
                }
                if w.tag() != tag {
                    continue;
                }
                if w.entry() == entry {
                    return; // copied by another helper
                }
                // SAFETY: claimed, so non-null; loaded under our guard.
                let other = unsafe { &*w.entry() };
                if other.hash == e.hash && other.key == e.key {
                    return; // the key is here already, possibly newer
                }
            }
            // Full: make room in a successor and continue there.
            self.start_resize(table, guard);
            table = next_of(table, guard).expect("start_resize installs a successor");
        }
    }
}
