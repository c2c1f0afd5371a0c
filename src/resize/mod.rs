//! How a resize runs: one engine for both maps.
//!
//! `HashMap` (`raw/`) and `WordMap` (`word/`) differ in what a slot holds
//! (an entry pointer, or a key and value inline) and so in how one slot is
//! looked up, written, frozen and copied. Everything else about a resize is
//! the same and lives here, once: when one starts ([`policy`]), where keys go
//! in the new table ([`probe`]), how its work is split ([`cursor`]), how the
//! driver below helps, finishes and promotes, and how operations reach the
//! newest table. A map plugs in with two small traits: [`Generation`] (its
//! table type) and [`Migrate`] (how to move one slot).
//!
//! # The protocol
//!
//! A resize starts when a writer installs `next` on the root table with one
//! CAS ([`Resizer::start_resize`]). From then on:
//!
//! * **Writers help.** Every write that finds `next` set first migrates one
//!   chunk of [`CHUNK`] slots ([`Resizer::help`]): it claims the chunk with
//!   a `fetch_add` on the table's cursor, freezes each slot (after which no
//!   write can land there) and copies live content forward. Chunks are
//!   handed out front to back; in a growth, split order sends old range
//!   `[a, b)` to new range `[2a, 2b)`, so the new table fills front to back
//!   as well (a shrink or rebuild rehashes: its copies land anywhere in a
//!   table no larger than the old one; `probe.rs`).
//! * **Writers seal their key** before writing in `next` (each map's
//!   `seal_key`, passed to [`Resizer::writable`]): they freeze the key's
//!   slot (copying it) or seal the empty slot that ends its probe sequence,
//!   so the old table can never again gain or change that key. A migration
//!   therefore never races a write on the same key.
//! * **Copies are idempotent** (each map's `insert_copy`): a copy is "insert
//!   this key's content unless the key is already there", so any number of
//!   threads may copy the same slot, and a slow copier can never resurrect a
//!   key that was copied, then removed, in the new table (removal keeps a
//!   keyed tombstone there until that table itself migrates).
//! * **Nobody waits.** A thread that claimed a chunk and stalled holds
//!   nobody up: others keep working in `next`, and a thread that finds
//!   resizes stacking up (or an iterator that needs the old table gone)
//!   migrates every remaining slot itself ([`Resizer::finish`]), which is
//!   safe because each step is idempotent.
//! * **Promotion** ([`Resizer::promote`]): when all slots of the root are
//!   migrated, the root pointer moves to `next` with one CAS and the old
//!   table is retired.
//!
//! Work bound: an operation migrates at most one chunk per table it passes
//! through (normally one), plus its own key's slot; only when a resize is
//! left unfinished while the next one is already needed does a writer
//! finish the older one, O(slots) once for all.

pub(crate) mod cursor;
pub(crate) mod memory;
pub(crate) mod policy;
pub(crate) mod probe;

use std::ops::Range;

use self::cursor::{Cursor, CHUNK};
use self::memory::alloc_failed;
use self::policy::Shrink;
use self::probe::Placement;
use crate::error::TryReserveError;
use crate::reclaim::{ReclaimGuard, Retire};
use crate::stats::{claim_batch, MapCounters, Occupancy};
use crate::sync::stat::AtomicUsize as StatUsize;
use crate::sync::AtomicPtr;
use crate::sync::Ordering::{AcqRel, Acquire, Relaxed};

/// Probe steps past which a claim counts its party's held-back claims at
/// once (`after_claim`): a probe this long says the table may be fuller
/// than its batched count shows. A linear probe for a new key averages
/// about 8.5 steps at the 3/4 load limit (`policy::should_grow`) and 2–3
/// at half load, so claims flush one by one only near the limit, where the
/// count matters.
const LONG_PROBE: usize = 8;

/// What every table generation carries for the resize engine, whatever its
/// slots hold.
pub(crate) struct Header<T> {
    /// Where keys live in this table: home slots and probe sequences
    /// (`probe.rs`). Its size is the table's slot count.
    pub(crate) placement: Placement,
    /// Generation number: 0 for the first table, +1 per resize.
    pub(crate) generation: u64,
    /// The table this one is migrating into; null when no resize runs.
    next: AtomicPtr<T>,
    /// Slots claimed in this table (live keys plus tombstones).
    pub(crate) occupied: Occupancy,
    /// Who migrates which chunk, and whether all are done (`cursor.rs`).
    pub(crate) cursor: Cursor,
}

impl<T> Header<T> {
    pub(crate) fn new(placement: Placement, generation: u64) -> Self {
        Header {
            placement,
            generation,
            next: AtomicPtr::new(std::ptr::null_mut()),
            occupied: Occupancy::new(),
            cursor: Cursor::new(),
        }
    }

    /// Number of slots.
    #[inline]
    pub(crate) fn slots(&self) -> usize {
        self.placement.slots()
    }

    /// The successor, for a caller with exclusive access (drop).
    fn next_exclusive(&mut self) -> *mut T {
        self.next.load(Relaxed)
    }
}

/// A table generation of some map: slots plus a [`Header`].
pub(crate) trait Generation: Retire + Sized {
    /// Allocates an empty table that will receive a migration from its
    /// predecessor; fails (and allocates nothing) if its memory cannot be
    /// had.
    fn successor(placement: Placement, generation: u64) -> Result<Box<Self>, TryReserveError>;

    /// The resize engine's part of the table.
    fn header(&self) -> &Header<Self>;

    /// The resize engine's part of the table, exclusively (drop).
    fn header_mut(&mut self) -> &mut Header<Self>;

    /// Where keys live in this table (`probe.rs`).
    #[inline]
    fn placement(&self) -> &Placement {
        &self.header().placement
    }

    /// Number of slots.
    #[inline]
    fn len(&self) -> usize {
        self.header().slots()
    }

    /// Gets `next`'s memory (or this table's) ready for the copies of the
    /// slots `chunk` of this table, just before they are made. A hint: the
    /// default does nothing.
    #[inline]
    fn prepare_copy(&self, next: &Self, chunk: Range<usize>) {
        let _ = (next, chunk);
    }

    /// Runs once, in the thread whose CAS made this table the root, after
    /// its predecessor became unreachable for operations that start later.
    #[inline]
    fn promoted(&self, guard: &impl ReclaimGuard) {
        let _ = guard;
    }
}

/// How a map moves one slot: its half of the migration protocol.
pub(crate) trait Migrate {
    /// The map's table type.
    type Table: Generation;

    /// Freezes slot `i` of `table`, so that no write can land there any
    /// more, and copies what it holds into `next` unless that is done
    /// already. Idempotent: any number of threads may migrate one slot.
    fn migrate_slot<G: ReclaimGuard>(
        &self,
        table: &Self::Table,
        i: usize,
        next: &Self::Table,
        guard: &G,
    );
}

/// The table `table` is migrating into, if a resize runs.
#[inline]
pub(crate) fn next_of<'g, T: Generation, G: ReclaimGuard>(
    table: &T,
    guard: &'g G,
) -> Option<&'g T> {
    // SAFETY: a successor is retired only after it has been the root and
    // has been unlinked from there, after every older table; `table` is
    // protected by the same guard, whose pin loaded the root before that
    // unlink, so the successor is protected too (reclaim contract 1;
    // docs/design.md, "Table reclamation").
    unsafe { guard.protect(&table.header().next).as_ref() }
}

/// The resize state of one map: its root table, its counters, and the
/// driver that helps, finishes and promotes resizes.
pub(crate) struct Resizer<T: Generation> {
    /// The current table. Tables retired from here are freed by the map's
    /// reclaimer.
    root: AtomicPtr<T>,
    /// Key counts and resize events (`stats.rs`).
    pub(crate) counters: MapCounters,
    /// A resize never shrinks below this many slots: the `with_capacity`
    /// size, raised by `reserve`, reset by `shrink_to_fit`. Relaxed: a
    /// policy input, like the counters (a statistics atomic, so loom does
    /// not interleave it).
    min_slots: StatUsize,
}

impl<T: Generation> Resizer<T> {
    /// A resizer whose root is `first`, never shrinking below `first`'s size.
    pub(crate) fn new(first: Box<T>) -> Self {
        Resizer {
            min_slots: StatUsize::new(first.header().slots()),
            root: AtomicPtr::new(Box::into_raw(first)),
            counters: MapCounters::new(),
        }
    }

    /// The current root table.
    #[inline]
    pub(crate) fn root<'g, G: ReclaimGuard>(&self, guard: &'g G) -> &'g T {
        // SAFETY: the root is never null, and a table loaded through a live
        // guard is freed only after that guard is dropped (it is retired
        // after being unlinked from `root`).
        unsafe { &*guard.protect(&self.root) }
    }

    /// Number of live keys (see `HashMap::len`).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.counters.len()
    }

    /// The slot count no resize goes below.
    #[inline]
    pub(crate) fn min_slots(&self) -> usize {
        self.min_slots.load(Relaxed)
    }

    /// The newest table a write to a key may land in, starting from
    /// `table`: while `table` is migrating, helps the migration by one
    /// chunk, makes `table` final for the key (`seal`, the map's
    /// `seal_key(table, next)`), and moves on to `next`. Finishes the oldest
    /// resize when resizes stack up, so the chain stays short.
    /// `depth` counts the tables one operation has moved past so far.
    #[inline]
    pub(crate) fn writable<'g, P, G, F>(
        &self,
        map: &P,
        mut table: &'g T,
        depth: &mut u32,
        guard: &'g G,
        mut seal: F,
    ) -> &'g T
    where
        P: Migrate<Table = T>,
        G: ReclaimGuard,
        F: FnMut(&'g T, &'g T),
    {
        while let Some(next) = next_of(table, guard) {
            self.help(map, table, next, guard);
            seal(table, next);
            table = next;
            *depth += 1;
            if *depth >= 2 {
                // Resizes are stacking up behind an unfinished one: finish
                // the oldest so the chain stays short.
                self.finish(map, self.root(guard), guard);
            }
        }
        table
    }

    /// Bookkeeping after a successful claim of a slot of `table` that took
    /// `probed` probe steps: counts the slot (in this thread's batch,
    /// `stats::claim_batch`: one locked add per batch, or at once after a
    /// long probe) and starts a resize when the table passes its load
    /// limit, checked whenever a count lands.
    #[inline]
    pub(crate) fn after_claim<G: ReclaimGuard>(&self, table: &T, probed: usize, guard: &G) {
        let h = table.header();
        let counted = self.counters.claimed(
            guard.slot(),
            h.generation,
            claim_batch(h.slots()),
            probed > LONG_PROBE,
        );
        let Some(n) = counted else {
            return;
        };
        if policy::should_grow(h.slots(), h.occupied.add(n)) {
            self.start_resize(table, guard);
        }
    }

    /// Counts a slot of `table` that a migration's copy claimed (in this
    /// thread's batch, as `after_claim`; a copy never starts a resize).
    #[inline]
    pub(crate) fn after_copy<G: ReclaimGuard>(&self, table: &T, guard: &G) {
        let h = table.header();
        if let Some(n) =
            self.counters
                .claimed(guard.slot(), h.generation, claim_batch(h.slots()), false)
        {
            h.occupied.add(n);
        }
    }

    /// Bookkeeping after a removal from `table`: counts it, and starts a
    /// shrink once the table is mostly empty,
    /// so a grow-then-delete-all cycle returns its memory. Sweeps defer.
    #[inline]
    pub(crate) fn after_remove<G: ReclaimGuard>(&self, table: &T, shrink: Shrink, guard: &G) {
        let local = self.counters.removed(guard.slot());
        if shrink == Shrink::Defer {
            return;
        }
        let slots = table.header().slots();
        let sample = slots <= 1024 || local & 63 == 0;
        if sample && policy::should_shrink(slots, self.min_slots(), self.len()) {
            self.start_resize(table, guard);
        }
    }

    /// Starts the resize that follows `table` unless one already runs. The
    /// new size comes from the live count: doubling when the table is full
    /// of live keys, the same size when it is full of tombstones, smaller
    /// when it is mostly empty; the new placement from `probe.rs`'s policy
    /// (a doubling keeps split order, anything else rehashes).
    pub(crate) fn start_resize<G: ReclaimGuard>(&self, table: &T, guard: &G) {
        if next_of(table, guard).is_some() {
            return;
        }
        let slots = policy::slots_for(self.len().max(1)).max(self.min_slots());
        if let Err(e) = self.start_resize_to(table, slots, guard) {
            alloc_failed(e);
        }
    }

    /// Starts a resize of `table` to a table of `slots` slots unless one
    /// already runs (whatever its size): allocates the table and installs
    /// it as `table`'s successor. An allocation failure leaves everything
    /// as it was.
    fn start_resize_to<G: ReclaimGuard>(
        &self,
        table: &T,
        slots: usize,
        guard: &G,
    ) -> Result<(), TryReserveError> {
        if next_of(table, guard).is_some() {
            return Ok(());
        }
        let h = table.header();
        let generation = h.generation + 1;
        let placement = h.placement.successor(slots, generation);
        let new = Box::into_raw(T::successor(placement, generation)?);
        // AcqRel on success: Release publishes the new table's initialised
        // arrays to every thread that loads `next` with Acquire. Acquire on
        // failure: we then use the winner's table.
        match h
            .next
            .compare_exchange(std::ptr::null_mut(), new, AcqRel, Acquire)
        {
            Ok(_) => self.counters.resizes.bump(),
            // SAFETY: never published; we still own it alone.
            Err(_) => drop(unsafe { Box::from_raw(new) }),
        }
        Ok(())
    }

    /// The newest table: the root, or the last table a resize in progress
    /// is migrating into.
    fn newest<'g, G: ReclaimGuard>(&self, guard: &'g G) -> &'g T {
        let mut table = self.root(guard);
        while let Some(next) = next_of(table, guard) {
            table = next;
        }
        table
    }

    /// How many keys the newest table holds before it must grow (its load
    /// limit; tombstones count against it until the next resize).
    pub(crate) fn capacity<G: ReclaimGuard>(&self, guard: &G) -> usize {
        policy::capacity(self.newest(guard).len())
    }

    /// Makes room for `additional` more keys than the map holds now: if the
    /// table's [`capacity`](Self::capacity) is smaller, resizes it to a
    /// table that fits them, migrating it in the calling thread (like any
    /// resize it is cooperative: other threads keep reading and writing,
    /// and help by a chunk when they write). The new size is also the floor
    /// later shrinks respect, until [`shrink_to_fit`](Self::shrink_to_fit).
    /// On error nothing changed.
    pub(crate) fn reserve<P, G>(
        &self,
        map: &P,
        additional: usize,
        guard: &G,
    ) -> Result<(), TryReserveError>
    where
        P: Migrate<Table = T>,
        G: ReclaimGuard,
    {
        let wanted = self
            .len()
            .checked_add(additional)
            .ok_or(TryReserveError::CapacityOverflow)?;
        let slots = policy::try_slots_for_capacity(wanted)?;
        let mut floor_set = false;
        loop {
            let root = self.root(guard);
            if next_of(root, guard).is_some() {
                // Any resize in progress first: it may already be enough.
                self.finish(map, root, guard);
                continue;
            }
            if root.len() >= slots {
                if floor_set {
                    return Ok(());
                }
                // Raise the floor, then look once more: a shrink that
                // started before the floor rose must not undo the room.
                self.min_slots.fetch_max(slots, Relaxed);
                floor_set = true;
                continue;
            }
            // The floor rises before the table is installed: a remover
            // that reaches the new table does so through `next` (Acquire,
            // after our Release CAS), so it reads the raised floor and
            // cannot start a shrink below it. (A shrink that read the old
            // floor before this store can still start from the old root,
            // and is finished below before we look again.)
            let before = self.min_slots.fetch_max(slots, Relaxed);
            if let Err(e) = self.start_resize_to(root, slots, guard) {
                if !floor_set && before < slots {
                    // Nothing changed: put the floor back (unless another
                    // reserve raised it further meanwhile).
                    let _ = self
                        .min_slots
                        .compare_exchange(slots, before, Relaxed, Relaxed);
                }
                return Err(e);
            }
            floor_set = true;
            self.finish(map, root, guard);
        }
    }

    /// Drops the floor that `with_capacity` and `reserve` set, and shrinks
    /// the table to the smallest that holds the current keys below its load
    /// limit, migrating it in the calling thread. Best effort: if the
    /// smaller table cannot be allocated, the map keeps its table.
    pub(crate) fn shrink_to_fit<P, G>(&self, map: &P, guard: &G)
    where
        P: Migrate<Table = T>,
        G: ReclaimGuard,
    {
        self.min_slots.store(policy::MIN_SLOTS, Relaxed);
        loop {
            let root = self.root(guard);
            if next_of(root, guard).is_some() {
                self.finish(map, root, guard);
                continue;
            }
            let slots = policy::slots_for_capacity(self.len());
            let tombstones = root.header().occupied.get() > self.len();
            if root.len() < slots || (root.len() == slots && !tombstones) {
                return;
            }
            if self.start_resize_to(root, slots, guard).is_err() {
                return;
            }
            // One resize and done, whatever its size (another thread's may
            // have won the install): looping until the table is small
            // could alternate forever with a concurrent `reserve`.
            self.finish(map, root, guard);
            return;
        }
    }

    /// Migrates one chunk of `table` into `next`, if any is left to claim.
    pub(crate) fn help<P, G>(&self, map: &P, table: &T, next: &T, guard: &G)
    where
        P: Migrate<Table = T>,
        G: ReclaimGuard,
    {
        let h = table.header();
        let slots = h.slots();
        let Some(chunk) = h.cursor.next_chunk(slots) else {
            return;
        };
        table.prepare_copy(next, chunk.clone());
        for i in chunk.clone() {
            map.migrate_slot(table, i, next, guard);
        }
        self.counters.chunks_helped.bump();
        if h.cursor.complete(chunk, slots) {
            self.promote(guard);
        }
    }

    /// Migrates every slot of `table` that is not yet migrated, whoever
    /// claimed it, then promotes. Idempotent and lock-free.
    pub(crate) fn finish<P, G>(&self, map: &P, table: &T, guard: &G)
    where
        P: Migrate<Table = T>,
        G: ReclaimGuard,
    {
        let Some(next) = next_of(table, guard) else {
            return;
        };
        let h = table.header();
        if !h.cursor.is_finished() {
            let slots = h.slots();
            for start in (0..slots).step_by(CHUNK) {
                let chunk = start..(start + CHUNK).min(slots);
                table.prepare_copy(next, chunk.clone());
                for i in chunk {
                    map.migrate_slot(table, i, next, guard);
                }
            }
            h.cursor.set_finished();
        }
        self.promote(guard);
    }

    /// Moves the root forward past every finished table, retiring each.
    pub(crate) fn promote<G: ReclaimGuard>(&self, guard: &G) {
        loop {
            let root = self.root(guard);
            if !root.header().cursor.is_finished() {
                return;
            }
            let Some(next) = next_of(root, guard) else {
                return;
            };
            let (old, new) = (root as *const T as *mut T, next as *const T as *mut T);
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
                // from now on.
                next.promoted(guard);
                // SAFETY: our CAS unlinked `old` from the root, the only
                // place it was reachable from (older tables were promoted
                // past earlier); it is retired exactly once, by the winner.
                unsafe { guard.retire_now(old) };
            }
        }
    }

    /// The table a walk starts from: the root, once no resize is in
    /// progress (finishing any that is, without waiting for anyone).
    pub(crate) fn stable_root<'g, P, G>(&self, map: &P, guard: &'g G) -> &'g T
    where
        P: Migrate<Table = T>,
        G: ReclaimGuard,
    {
        loop {
            let root = self.root(guard);
            if next_of(root, guard).is_none() {
                return root;
            }
            self.finish(map, root, guard);
        }
    }

    /// Ends a sweep (`retain`, `clear`): if the sweep left the table mostly
    /// empty or full of tombstones, resizes it once, here, migrating every
    /// slot itself (the sweep already paid O(slots); the other threads pay
    /// nothing). A resize another thread started during the sweep was sized
    /// from the length before the sweep: it is finished first, and the
    /// table it leaves is judged the same way.
    pub(crate) fn end_sweep<P, G>(&self, map: &P, guard: &G)
    where
        P: Migrate<Table = T>,
        G: ReclaimGuard,
    {
        let mut root = self.root(guard);
        if next_of(root, guard).is_some() {
            self.finish(map, root, guard);
            root = self.root(guard);
        }
        let h = root.header();
        if next_of(root, guard).is_none()
            && policy::should_tidy(h.slots(), self.min_slots(), self.len(), h.occupied.get())
        {
            self.start_resize(root, guard);
            self.finish(map, root, guard);
        }
    }

    /// Finishes every resize in progress: afterwards the root has no
    /// successor, unless another thread has started a new resize since.
    pub(crate) fn finish_all<P, G>(&self, map: &P, guard: &G)
    where
        P: Migrate<Table = T>,
        G: ReclaimGuard,
    {
        while next_of(self.root(guard), guard).is_some() {
            self.finish(map, self.root(guard), guard);
        }
    }

    /// Takes the root table out, leaving `empty` in its place, and zeroes
    /// the length. With `&mut self` no other thread runs, so after a
    /// [`finish_all`](Self::finish_all) the returned table has no
    /// successor and holds every key, each exactly once.
    pub(crate) fn replace_root(&mut self, empty: Box<T>) -> Box<T> {
        let root = self.root.swap(Box::into_raw(empty), Relaxed);
        self.counters.reset_len();
        // SAFETY: the root is linked from nowhere else, and `&mut self`
        // means no guard of the map is alive: we own it alone.
        unsafe { Box::from_raw(root) }
    }
}

impl<T: Generation> Drop for Resizer<T> {
    fn drop(&mut self) {
        // Unwinding under loom: leave loom's state alone (`sync.rs`).
        if crate::sync::loom_unwinding() {
            return;
        }
        // `&mut self`: no guard, no other thread. Every table still linked
        // from the root is the map's; retired tables are freed by the
        // map's reclaimer, which drops after this.
        let mut table = self.root.load(Relaxed);
        while !table.is_null() {
            // SAFETY: linked tables are owned by the map and freed once,
            // here.
            let mut owned = unsafe { Box::from_raw(table) };
            table = owned.header_mut().next_exclusive();
            drop(owned);
        }
    }
}
