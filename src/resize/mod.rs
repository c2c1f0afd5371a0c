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
//! Before a growth or a rebuild, its table is **prepared**
//! ([`Resizer::prepare`]): once the root is 5/8 full, a writer allocates
//! the table the resize will want and publishes it in the root's
//! `prepared` (one CAS; `prepared.rs`), and writers then fault its memory in,
//! one bounded step per write at most, paced so that it is all present
//! before the resize. The resize installs that table if it serves
//! ([`policy::prepared_serves`]); no write, copy or read of it then takes
//! a page fault, and no read maps the shared zero page into a page a
//! writer later writes (which costs every thread a TLB shootdown). A table
//! the resize does not use (the map turned from churning to growing, or
//! the other way, past what the rule allows) is freed with the table that
//! prepared it, and one the map stopped growing towards is released by
//! its operations a second after its claims stopped (`stall.rs`): the
//! install takes the table with a CAS and the release empties the word
//! with one, so exactly one of them has it. A table that a user's call
//! sizes is faulted in by that call instead ([`Origin`]).
//!
//! A resize starts when a writer installs `next` on the root table with one
//! CAS ([`Resizer::start_resize`]). From then on:
//!
//! * **Writers help.** Every write that finds `next` set first migrates
//!   one sub-chunk of [`SUB`](cursor::SUB) slots ([`Resizer::help`]; a
//!   shrink's writes a few), freezing each slot (after which no write can
//!   land there) and copying live content forward. The work is handed out
//!   by the table's cursor ([`cursor`]): a thread claims a range of 128
//!   slots with one `fetch_add` on a shared counter, then takes that
//!   range's sub-chunks one per write from the range's own word (its
//!   range remembered per map and party), and prefetches the next
//!   sub-chunk's lines as it ends one; once every range is handed out,
//!   writes with nothing of their own steal sub-chunks from any range with
//!   some left (so a range whose owner stopped writing is finished).
//!   Ranges are handed out interleaved: up to 8 owners at work at the same
//!   moment hold ranges far apart in a large table. In a growth, split
//!   order sends old range `[a, b)` to new range `[2a, 2b)`, so a
//!   sub-chunk's copies fill one range of the new table (a shrink or
//!   rebuild rehashes: its copies land anywhere in a table no larger than
//!   the old one; `probe.rs`).
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
//! * **Nobody waits.** A thread that took a sub-chunk and stalled holds
//!   nobody up: others keep working in `next`, and a thread that finds
//!   resizes stacking up (or an iterator that needs the old table gone)
//!   migrates every remaining slot itself ([`Resizer::finish`]), which is
//!   safe because each step is idempotent.
//! * **Promotion** ([`Resizer::promote`]): when all slots of the root are
//!   migrated, the root pointer moves to `next` with one CAS and the old
//!   table is retired.
//!
//! Work bound: an operation migrates, per table it passes through
//! (normally one), one sub-chunk in a growth or rebuild and at most
//! [`MAX_SHARE`] in a shrink, plus its own key's slot, and faults in at
//! most one memory step of a prepared table; only when a resize is left
//! unfinished while the next one is already needed does a writer
//! finish the older one, O(slots) (also once after a panic left a
//! sub-chunk abandoned).

pub(crate) mod assist;
pub(crate) mod cursor;
#[cfg(not(loom))]
mod handoff;
#[cfg(loom)]
pub(crate) mod leaks;
pub(crate) mod memory;
pub(crate) mod parking;
pub(crate) mod policy;
pub(crate) mod prepared;
pub(crate) mod probe;
#[cfg(not(loom))]
pub(crate) mod stall;

use std::mem;
use std::ops::Range;

use crossbeam_utils::CachePadded;

pub(crate) use self::assist::Party;
use self::cursor::{Cursor, CHUNK};
use self::memory::alloc_failed;
use self::policy::Shrink;
use self::prepared::{Prepared, PreparedSlot};
use self::probe::Placement;
use crate::error::TryReserveError;
use crate::reclaim::{ReclaimGuard, Retire};
use crate::stats::{claim_batch, MapCounters, Occupancy};
use crate::sync::stat::AtomicUsize as StatUsize;
use crate::sync::Ordering::{AcqRel, Acquire, Relaxed, SeqCst};
use crate::sync::{fence, AtomicPtr};

/// The most sub-chunks one helping write migrates (`Resizer::help`): a
/// shrink's share, whatever the ratio of the tables (64 slots).
const MAX_SHARE: usize = 8;

/// Probe steps past which a claim counts its party's held-back claims at
/// once (`after_claim`): a probe this long says the table may be fuller
/// than its batched count shows. A linear probe for a new key averages
/// about 8.5 steps at the 3/4 load limit (`policy::should_grow`) and 2–3
/// at half load, so claims flush one by one only near the limit, where the
/// count matters.
const LONG_PROBE: usize = 8;

/// One count of `Header::installing`, taken back when dropped (also when
/// the allocation fails or a panic unwinds).
struct Installing<'a>(&'a StatUsize);

impl<'a> Installing<'a> {
    fn new(count: &'a StatUsize) -> Self {
        // Relaxed: a hint (`Header::installing`).
        count.fetch_add(1, Relaxed);
        Installing(count)
    }
}

impl Drop for Installing<'_> {
    fn drop(&mut self) {
        // Relaxed: as above.
        self.0.fetch_sub(1, Relaxed);
    }
}

/// How many more times a resize the policy (or a full lap) needs looks
/// again after its successor's allocation failed, a yield apart, before
/// the failure aborts (`start_resize_from`).
const ALLOC_RETRIES: u32 = 3;

/// What every table generation carries for the resize engine, whatever its
/// slots hold. `repr(C)`, so that the fields every operation reads
/// (`placement`, `next`) share the first cache line in this order, apart
/// from the lines writers write (`occupied`, the cursor's counters); a test
/// checks it.
#[repr(C)]
pub(crate) struct Header<T: Generation> {
    /// Where keys live in this table: home slots and probe sequences
    /// (`probe.rs`). Its size is the table's slot count.
    pub(crate) placement: Placement,
    /// Generation number: 0 for the first table, +1 per resize.
    pub(crate) generation: u64,
    /// The table this one is migrating into; null when no resize runs.
    next: AtomicPtr<T>,
    /// The table allocated ahead for this one's growth and faulted in step
    /// by step while this one fills ([`Resizer::prepare`]); empty until
    /// then. Owned by this header while ready: taken and installed as
    /// `next` by the resize if its size is the one the resize wants (it
    /// then belongs to the chain, like any `next`), released by a map that
    /// stopped growing towards it ([`Resizer::release_prepared`]), or
    /// freed with this table (`prepared.rs` has the protocol).
    prepared: PreparedSlot<T>,
    /// Memory steps of this table handed out, when it is a prepared one
    /// (`memory::populate`). Relaxed: it only partitions the faulting-in
    /// among writers; no memory is published through it (a statistics
    /// atomic, so loom does not interleave it).
    steps_claimed: StatUsize,
    /// The predecessor's count of claimed slots when this table was
    /// prepared as its successor (0 for a table that was not): where the
    /// pacing of its memory steps starts ([`policy::steps_due`]). Relaxed,
    /// stored before the table is published (whose Release publishes it).
    prepared_at: StatUsize,
    /// The occupancy below which this table does not try to prepare a
    /// successor again ([`Resizer::prepare`]): 0 at first; `usize::MAX`
    /// once it declined for good (too small, presized, no memory); a
    /// little above the occupancy at which it last found the map not
    /// growing (removals keeping it at half live), so that it looks again
    /// if the map starts to grow; past the occupancy at which its prepared
    /// table was released, [`policy::retry_after_release`]. Relaxed: a
    /// hint that saves the decision's cost (a statistics atomic, so loom
    /// does not interleave it).
    prepare_retry_at: StatUsize,
    /// `prepared` was dealt with ([`Header::free_prepared`]): a later drop
    /// leaves it alone. A plain flag (exclusive access), so that a drop
    /// that runs outside its loom execution (`WordMap`'s loom graveyard,
    /// `word/table.rs`) touches no loom atomic.
    prepared_freed: bool,
    /// The map's live count when this table was installed (0 for a first
    /// table): with `occupied`, how fast the map grows per slot claimed,
    /// for the prediction of its next resize
    /// ([`policy::expected_len_at_resize`]). Relaxed: a policy input (a
    /// statistics atomic, so loom does not interleave it).
    len_at_install: StatUsize,
    /// Threads that are allocating (or faulting in) a successor for this
    /// table and have not yet tried to install it (`start_resize_to`): a
    /// thread whose own allocation failed waits for them, as one of them
    /// may install the growth it needs, rather than abort at once (found
    /// by review: a `reserve` faults its table in between its allocation
    /// and its CAS, for milliseconds). Relaxed: a hint; the install itself
    /// is `next`'s CAS (a statistics atomic, so loom does not interleave
    /// it).
    installing: StatUsize,
    /// Prepared successors this table released
    /// ([`Resizer::release_prepared`]; at most
    /// [`policy::MAX_RELEASES`]). Relaxed: a policy input (a statistics
    /// atomic, so loom does not interleave it).
    releases: StatUsize,
    /// The slots of the table that replaced this one as the root, once it
    /// did (0 until then): set by the promotion that retires this table,
    /// read by its free ([`Header::freed_whole`]). Relaxed: the free
    /// happens after the retirement (the reclaimer's queue orders them).
    successor_slots: StatUsize,
    /// Slots claimed in this table (live keys plus tombstones). On its own
    /// cache line, like the cursor's counters: writers add to both, and
    /// every operation reads the fields above.
    pub(crate) occupied: CachePadded<Occupancy>,
    /// Who migrates which sub-chunk, and whether all are done
    /// (`cursor.rs`): the range words' pointer here, read-mostly; the
    /// counters every helper writes on a cache line of their own.
    pub(crate) cursor: Cursor,
}

impl<T: Generation> Header<T> {
    /// The header of a new table; fails if its cursor's memory cannot be
    /// had.
    pub(crate) fn try_new(placement: Placement, generation: u64) -> Result<Self, TryReserveError> {
        let cursor = Cursor::try_new(placement.slots())?;
        // Counted once the header exists: its drop counts the free.
        #[cfg(loom)]
        leaks::made();
        Ok(Header {
            placement,
            generation,
            next: AtomicPtr::new(std::ptr::null_mut()),
            prepared: PreparedSlot::new(),
            steps_claimed: StatUsize::new(0),
            prepared_at: StatUsize::new(0),
            prepare_retry_at: StatUsize::new(0),
            prepared_freed: false,
            len_at_install: StatUsize::new(0),
            installing: StatUsize::new(0),
            releases: StatUsize::new(0),
            successor_slots: StatUsize::new(0),
            occupied: CachePadded::new(Occupancy::new()),
            cursor,
        })
    }

    /// Whether this table, retired, is freed whole rather than a step at
    /// a time ([`policy::freed_whole`]: it was replaced by a shrink).
    pub(crate) fn freed_whole(&self) -> bool {
        // Relaxed: see `successor_slots`.
        let successor = self.successor_slots.load(Relaxed);
        successor > 0 && policy::freed_whole(self.slots(), successor)
    }

    /// Number of slots.
    #[inline]
    pub(crate) fn slots(&self) -> usize {
        self.placement.slots()
    }

    /// Whether this table has a successor (is migrating, or was): a hint
    /// for a read, which then looks again through its guard
    /// (`Resizer::after_read`). Relaxed: nothing is read through it, and a
    /// stale answer costs one read's look (or skips one).
    #[cfg(not(loom))]
    #[inline]
    fn migrating(&self) -> bool {
        !self.next.load(Relaxed).is_null()
    }

    /// Whether a successor is prepared for this table (installed or not):
    /// a policy input (`Resizer::shrink_to_fit`), and a hint for an
    /// operation, which then counts towards a look through its guard
    /// (`Resizer::met_prepared`). Both this word and `next` share the
    /// header's first line, which every operation reads for `placement`.
    #[inline]
    fn has_prepared(&self) -> bool {
        // Relaxed: nothing is read through the pointer, and a stale answer
        // costs an operation one count (or skips one).
        !self.prepared.load(Relaxed).is_empty()
    }

    /// The successor, for a caller with exclusive access (drop).
    fn next_exclusive(&mut self) -> *mut T {
        self.next.load(Relaxed)
    }
}

#[cfg(all(test, not(loom)))]
impl<T: Generation> Header<T> {
    /// Sets the prepared table, which this header then owns.
    pub(crate) fn set_prepared_for_test(&self, prepared: *mut T) {
        self.prepared.set_for_test(prepared);
    }

    /// Whether the prepared table was dealt with ([`Header::free_prepared`]).
    pub(crate) fn prepared_dealt_with(&self) -> bool {
        self.prepared_freed
    }
}

impl<T: Generation> Header<T> {
    /// Frees the prepared table if it is still ready (not taken by the
    /// resize that installed it as `next`, which the chain then owns:
    /// `Resizer`'s drop or the reclaimer frees it; not released, which the
    /// reclaimer frees). Runs once, when this table is freed: from its
    /// drop, or earlier from a map's free that keeps the table's memory
    /// (under loom).
    pub(crate) fn free_prepared(&mut self) {
        self.free_prepared_unless(false);
    }

    /// Gives up the prepared table without freeing it: a loom execution
    /// that unwinds leaves loom's state alone (`sync/mod.rs`), and the table's
    /// later drop, outside that execution, must not touch it either.
    #[cfg(loom)]
    pub(crate) fn forget_prepared(&mut self) {
        self.free_prepared_unless(true);
    }

    /// [`free_prepared`](Self::free_prepared), or (`forget`) only marks it
    /// done.
    fn free_prepared_unless(&mut self, forget: bool) {
        if std::mem::replace(&mut self.prepared_freed, true) {
            return;
        }
        // Every free of a table comes here once (its drop, or a
        // `WordMap` table's free under loom before its memory waits in
        // the graveyard).
        #[cfg(loom)]
        leaks::freed();
        if forget {
            return;
        }
        if let Some(prepared) = self.prepared.owned_exclusive() {
            // SAFETY: published by `Resizer::prepare` from a `Box`, owned by
            // this header while ready (neither taken for `next` nor
            // released), and nothing reaches it once this table is
            // unreachable; freed once, here.
            discard(unsafe { Box::from_raw(prepared) });
        }
    }
}

impl<T: Generation> Drop for Header<T> {
    fn drop(&mut self) {
        // Unwinding under loom: leave loom's state alone (`sync/mod.rs`).
        if crate::sync::loom_unwinding() {
            return;
        }
        self.free_prepared();
    }
}

/// Whether [`Resizer::reserve`] raises the floor below which the map does
/// not shrink.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Floor {
    /// `reserve`: the room stays until `shrink_to_fit`.
    Raise,
    /// `extend`: room for what the iterator yields, given back as usual
    /// when the map empties again.
    Leave,
}

/// Who sized a new table: the user's call, or the map's own policy.
///
/// A page fault costs microseconds (about 2 µs on the machine of
/// docs/benchmarks.md), and a read that maps the shared zero page into a
/// page that a write then writes costs every thread of the process a TLB
/// shootdown. A table the map's policy sizes (a growth, a rebuild) is
/// prepared ahead, in steps (`Resizer::prepare`); a table that a user's
/// call sizes has its memory faulted in by that call, so that no later
/// operation meets either.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Origin {
    /// `with_capacity`, `reserve`, `shrink_to_fit`, an `extend` with an
    /// exact `size_hint`: the table has exactly the size asked for, and its
    /// memory is faulted in by the call that allocates it (the user asked
    /// for that memory).
    Caller,
    /// The room an `extend` makes for a `size_hint` that is only a lower
    /// bound (`Resizer::room_for_extend`): as `Caller`, but its memory
    /// faults in as the inserts touch it, since the bound may overstate
    /// (found by an outside test: an iterator that promised 4M pairs and
    /// yielded one left its 2^23-slot table resident).
    Hint,
    /// A resize the map starts itself: the prepared successor serves if it
    /// has the size wanted, or one close enough for a rebuild
    /// ([`policy::prepared_serves`]); a fresh table faults in as the
    /// writes and copies first touch it.
    Policy,
    /// A resize after a probe found the table full (`start_resize_full`):
    /// as `Policy`, but only a prepared table of the very size wanted
    /// serves.
    FullLap,
}

/// Why a table prepares no successor (`Resizer::allocate_prepared`).
enum Decline {
    /// Not this table, ever: its successors are too small to be mapped, it
    /// cannot double, or there is no memory for it.
    ForGood,
    /// Not now: the resize would grow a table that the user sized (the
    /// map may yet churn at that size instead, and then rebuild), or
    /// rebuild into a table too small to be mapped.
    NotNow,
}

/// Frees a table that was never installed (a prepared table the resize did
/// not use, or the loser's of two racing `start_resize`s): it holds
/// nothing, so it is marked migrated first, and a map whose table drop
/// scans an unfinished table for the entries it owns
/// (`raw/table.rs`) skips that scan, which over a large table read every
/// page (a multi-millisecond stall in the thread that lost the race).
fn discard<T: Generation>(mut table: Box<T>) {
    table.header_mut().cursor.mark_unused();
    // SAFETY: we own the table alone (the caller's `Box`), so nothing can
    // reach it; freed once, here. Through the map's own free, so loom's
    // models check this free like a reclaimed table's (`word/table.rs`).
    unsafe { T::free(Box::into_raw(table)) };
}
/// A table generation of some map: slots plus a [`Header`].
pub(crate) trait Generation: Retire + Sized {
    /// Allocates an empty table that will receive a migration from this
    /// one, its predecessor (whose map-wide settings it inherits); fails
    /// (and allocates nothing) if its memory cannot be had.
    fn successor(
        &self,
        placement: Placement,
        generation: u64,
    ) -> Result<Box<Self>, TryReserveError>;

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

    /// Bytes of slot memory per slot (what a table's size costs; whether a
    /// successor is worth preparing ahead, `memory::worth_preparing`).
    const SLOT_BYTES: usize;

    /// How many memory steps fault this table's slot memory in
    /// (`memory::steps`); 0 when it came from the allocator.
    fn memory_steps(&self) -> usize;

    /// Faults in memory step `k` of this table (`memory::populate`), the
    /// successor of `from` (the table whose keys it will take; `None` for
    /// a map's first table): a hint, changing no slot, safe while other
    /// threads use the table. `from` says which parts the keys will write
    /// (`WordMap`'s top bytes only for keys that have them).
    fn populate(&self, k: usize, from: Option<&Self>);

    /// Faults in every memory step of this table: the table a user's call
    /// sized ([`Origin::Caller`]), the successor of `from` if any.
    fn populate_all(&self, from: Option<&Self>) {
        for k in 0..self.memory_steps() {
            self.populate(k, from);
        }
    }

    /// Gets `next`'s memory (or this table's) ready for the copies of the
    /// slots `chunk` of this table, just before they are made. A hint: the
    /// default does nothing.
    #[inline]
    fn prepare_copy(&self, next: &Self, chunk: Range<usize>) {
        let _ = (next, chunk);
    }

    /// Asks the CPU to start loading the cache lines of slots `range` of
    /// this table (clamped to it): a hint that reads and changes nothing.
    fn prefetch_slots(&self, range: Range<usize>);

    /// Asks the CPU to start loading the line of `hash`'s home slot in this
    /// table (`probe.rs`), where prefetches do anything
    /// ([`memory::PREFETCHES`]): issued before work that would otherwise
    /// leave the probe's first load to miss on its own after it
    /// ([`Resizer::writable`], the maps' lookups while a resize runs).
    #[inline]
    fn prefetch_home(&self, hash: u64) {
        if memory::PREFETCHES {
            let home = self.placement().home(hash);
            self.prefetch_slots(home..home + 1);
        }
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

/// While `table` is migrating, asks the CPU to start loading `hash`'s home
/// line in its successor: a lookup that finds its key copied (or its probe
/// sealed) goes on there, and its probe's first load there would otherwise
/// miss only after the one here did; fetched now, the two misses overlap
/// (docs/benchmarks.md, "Home lines fetched ahead"). A hint: a lookup that
/// stays in `table` loses nothing but the fetch. Skipped where prefetches
/// do nothing ([`memory::PREFETCHES`]): off x86_64, and under loom, whose
/// models would otherwise see one more load of `next` in every read.
#[inline]
pub(crate) fn prefetch_successor_home<T: Generation, G: ReclaimGuard>(
    table: &T,
    hash: u64,
    guard: &G,
) {
    if !memory::PREFETCHES {
        return;
    }
    if let Some(next) = next_of(table, guard) {
        next.prefetch_home(hash);
    }
}

/// For a walk that met slot `i` of `table` copied forward and looks its
/// key up in `next` (`word/raw.rs`, `next_live`): asks the CPU to start
/// loading where the keys of slot `i + 16` went in `next`, so that a walk
/// over a table a growth copied out overlaps the misses of its lookups, as
/// a migration's copies do. A growth keeps split order, so those keys land
/// at `⌊(i + 16)·m/n⌋` of `next`'s `m` slots (`Placement::split_range`); a
/// rehashing resize scatters them, and then nothing is prefetched. In 64
/// bits: the 128-bit division `split_range` makes is a library call that
/// cost more than the miss it hid (docs/benchmarks.md, "Walks that follow
/// copied keys"), and for `HashMap`'s denser slots the hardware's own
/// prefetcher keeps up, so only `WordMap`'s walk asks.
#[inline]
pub(crate) fn prefetch_followed<T: Generation>(table: &T, next: &T, i: usize) {
    const AHEAD: usize = 16;
    let j = i + AHEAD;
    if !memory::PREFETCHES || j >= table.len() || !next.placement().splits(table.placement()) {
        return;
    }
    let Some(scaled) = (j as u64).checked_mul(next.len() as u64) else {
        return;
    };
    let to = (scaled / table.len() as u64) as usize;
    next.prefetch_slots(to..to + 1);
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
    /// How many times a `reserve` has raised `min_slots`: a failed
    /// `reserve` puts the floor back only if no other one raised it since
    /// its own last raise (else it would erase a floor another call set
    /// and returned with). Relaxed, as `min_slots`.
    floor_raises: StatUsize,
    /// Resize helpers registered with the map (`assist.rs`): while there
    /// are any, writers leave the migration and the prepared table's
    /// memory to them, within the bounds of `policy::assistant_keeps_up`.
    /// Relaxed: a policy input (a statistics atomic, so loom does not
    /// interleave it).
    assistants: StatUsize,
    /// Under loom, a loom atomic holding [`Resizer::canary_value`], written
    /// once at creation: a map lives in the loom execution that created it
    /// (`assert_same_execution`).
    #[cfg(loom)]
    canary: loom::sync::atomic::AtomicUsize,
    /// What [`Resizer::canary`] holds: a number no other map of the
    /// process has, so that a stale map whose canary names another map's
    /// in a later execution does not pass for it (found by review).
    #[cfg(loom)]
    canary_value: usize,
}

/// Numbers the maps of the process for their loom canaries (a std atomic:
/// bookkeeping, no step of any model).
#[cfg(loom)]
static LOOM_CANARIES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

impl<T: Generation> Resizer<T> {
    /// A resizer whose root is `first`, never shrinking below `first`'s
    /// size. `first` is sized by the user (`with_capacity`, or the
    /// smallest table): its memory is faulted in now ([`Origin::Caller`]).
    pub(crate) fn new(first: Box<T>) -> Self {
        first.populate_all(None);
        // Relaxed: the RMW alone makes each number unique; nothing is
        // published through it.
        #[cfg(loom)]
        let canary_value = LOOM_CANARIES.fetch_add(1, Relaxed);
        Resizer {
            min_slots: StatUsize::new(first.header().slots()),
            floor_raises: StatUsize::new(0),
            root: AtomicPtr::new(Box::into_raw(first)),
            counters: MapCounters::new(),
            assistants: StatUsize::new(0),
            #[cfg(loom)]
            canary: loom::sync::atomic::AtomicUsize::new(canary_value),
            #[cfg(loom)]
            canary_value,
        }
    }

    /// Under loom, panics with a clear message if the map is used outside
    /// the loom execution that created it: from a `static` or `LazyLock`,
    /// or kept from an earlier execution or model. loom's atomics live in
    /// the execution that made them; in a later one the map's atomics name
    /// other objects, or none, and a load could hand back another atomic's
    /// value as a table pointer (found by an outside user's model: a
    /// `WordMap` in a `LazyLock` segfaulted in its second execution). Each
    /// map's canary holds a number of its own, which the map also keeps
    /// outside loom: a stale canary that names some other map's reads that
    /// map's number. The check is an unsynchronised load: no scheduling
    /// point, no synchronisation, so it changes nothing that loom explores.
    /// loom refuses that load (a panic, caught here) where the map's
    /// creation does not happen before it: a map from another execution,
    /// or one passed to this thread without synchronisation (a user's bug
    /// that loom would report at the map's next access anyway).
    #[cfg(loom)]
    #[inline]
    fn assert_same_execution(&self) {
        if crate::sync::loom_unwinding() {
            return;
        }
        let seen = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: the canary is written only by its creation, which
            // happens before every use of the map (whoever uses it got it
            // from its creator), so this plain read races with nothing.
            unsafe { self.canary.unsync_load() }
        }));
        assert!(
            seen.is_ok_and(|v| v == self.canary_value),
            "lfmap: a map used outside the loom execution that created it \
             (a `static` or `LazyLock`, or a map kept from an earlier execution \
             or model), or handed to this thread without synchronisation: \
             loom's atomics live for one execution; create the map inside the \
             model, or in a `loom::lazy_static!`, and share it as a \
             `loom::sync::Arc`"
        );
    }

    /// The current root table.
    #[inline]
    pub(crate) fn root<'g, G: ReclaimGuard>(&self, guard: &'g G) -> &'g T {
        #[cfg(loom)]
        self.assert_same_execution();
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

    /// The live count a resize of `table` is sized from: [`len`](Self::len),
    /// or, where more removals than insertions were counted (a logic error
    /// of the keys' hashes, `MapCounters::len_if_consistent`), `table`'s
    /// claimed slots, which bound what it holds: sized from a count of 0,
    /// each resize chose the smallest table, which its own migration's
    /// copies overfilled, and every write paid a cascade of resizes
    /// (found by testing: a `WordSet` under a hasher whose result changes
    /// between calls slowed to about a thousand operations a second).
    ///
    /// Capped at half the slots, so that such a resize is a same-size
    /// rebuild, never a growth: a map whose counts lost track would
    /// otherwise double at every load-triggered resize, tombstones or not,
    /// and grow without bound under churn (found by the review of the
    /// change). It grows where a probe finds a table full
    /// (`start_resize_full`).
    fn policy_len(&self, table: &T) -> usize {
        self.counters.len_if_consistent().unwrap_or_else(|| {
            let h = table.header();
            h.occupied.get().min(h.slots() / 2)
        })
    }

    /// The slot count no resize goes below.
    #[inline]
    pub(crate) fn min_slots(&self) -> usize {
        self.min_slots.load(Relaxed)
    }

    /// The size of the empty table a map's `take_root` leaves: the
    /// capacity floor's if the map goes on (`reused`: `drain`); the
    /// smallest there is if it is consumed (`into_iter`), whose empty
    /// table is dropped with it unused (one of the floor's size would map,
    /// and under strict overcommit commit, a second table as large as the
    /// first: found by review).
    pub(crate) fn empty_root_slots(&self, reused: bool) -> usize {
        if reused {
            self.min_slots()
        } else {
            policy::MIN_SLOTS
        }
    }

    /// The newest table a write to the key of `hash` may land in, starting
    /// from `table`: while `table` is migrating, helps the migration by its
    /// share ([`help`](Self::help)), makes `table` final for the key
    /// (`seal`, the map's `seal_key(table, next)`), and moves on to `next`.
    /// Finishes the oldest resize when resizes stack up, so the chain stays
    /// short. `depth` counts the tables one operation has moved past so
    /// far.
    ///
    /// The key's home lines in both tables are fetched first: the seal's
    /// probe of `table` and the write's probe of `next` would each miss in
    /// turn, after the migration share's copies (whose locked instructions
    /// hold back every later load, on x86 as measured here); fetched up
    /// front, both misses overlap the copies (docs/benchmarks.md, "Home
    /// lines fetched ahead"). `table`'s line only while the operation has
    /// passed no table yet (`depth` 0): along a chain, a table passed on to
    /// had its line fetched as `next`.
    #[inline]
    pub(crate) fn writable<'g, P, G, F>(
        &self,
        map: &P,
        mut table: &'g T,
        hash: u64,
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
            next.prefetch_home(hash);
            if *depth == 0 {
                table.prefetch_home(hash);
            }
            // With a resize helper registered, the share is left to it
            // (`assist.rs`); the seal never is.
            let leave = self.leaves_share(table, next);
            if !leave {
                self.help(map, table, next, guard);
            }
            // Mutation for checking the loom models (docs/verification.md):
            // a write that leaves its share to a helper skips its seal too.
            if !(mutation!("assist_skips_seal") && leave) {
                seal(table, next);
            }
            table = next;
            *depth += 1;
            if *depth >= 2 {
                // Resizes are stacking up behind an unfinished one: finish
                // the oldest so the chain stays short.
                self.finish(map, self.root(guard), guard);
            }
        }
        // A prepared table the map stopped growing towards is released
        // (`stall.rs`): writes watch it too, for a map whose writes only
        // update. Relaxed: a hint on the line just read for `next`. Not
        // under loom (no clock).
        #[cfg(not(loom))]
        if *depth == 0 && table.header().has_prepared() && stall::tick() {
            self.met_prepared(table, guard);
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
        let occupied = h.occupied.add(n);
        if policy::should_grow(h.slots(), occupied) {
            self.start_resize(table, guard);
        } else if policy::should_prepare(h.slots(), occupied) {
            self.prepare(table, occupied, guard);
        }
    }

    /// Gets the successor of `table` (which has `occupied` slots claimed,
    /// past [`policy::should_prepare`]) ready before its resize starts, so
    /// that no write, copy or read takes a page fault in it later (a fault
    /// costs microseconds, and a read that maps the shared zero page into a
    /// page a writer then writes costs every thread a TLB shootdown): the
    /// first call allocates the table the resize will want, a growth or a
    /// rebuild ([`policy::predicted_resize`]), and publishes it in `table`'s
    /// `prepared`; every call then faults in at most one memory step of it
    /// ([`memory::STEP_BYTES`]), paced by `occupied`
    /// ([`policy::steps_due`]) so that the steps spread over the writes
    /// until the resize instead of coming in a burst. A hint throughout:
    /// if the table cannot be allocated, or the resize wants another size,
    /// the resize allocates its own as before.
    fn prepare<G: ReclaimGuard>(&self, table: &T, occupied: usize, guard: &G) {
        let h = table.header();
        // Protected (at least Acquire: pairs with `publish`'s Release, so
        // the table's header is initialised for us).
        let prepared = match h.prepared.load_protected(guard) {
            Prepared::Ready(p) => p,
            // Taken for an install: the resize has begun.
            Prepared::Installed(_) => return,
            Prepared::Empty => {
                if occupied < h.prepare_retry_at.load(Relaxed) || next_of(table, guard).is_some() {
                    return;
                }
                match self.allocate_prepared(table, occupied) {
                    Ok(new) => {
                        // Relaxed: ours alone until `publish`, whose
                        // Release publishes it with the table.
                        new.header().prepared_at.store(occupied, Relaxed);
                        let new = Box::into_raw(new);
                        match h.prepared.publish(new) {
                            Ok(()) => {
                                // A parked resize helper faults it in.
                                self.ring();
                                new
                            }
                            Err(won) => {
                                // SAFETY: never published; we still own it
                                // alone.
                                discard(unsafe { Box::from_raw(new) });
                                match won.ready() {
                                    Some(won) => won,
                                    None => return,
                                }
                            }
                        }
                    }
                    Err(Decline::ForGood) => {
                        h.prepare_retry_at.store(usize::MAX, Relaxed);
                        return;
                    }
                    Err(Decline::NotNow) => {
                        // Look again after another 1/32 of the slots is
                        // claimed: the map may churn (or grow) by then.
                        let again = occupied.saturating_add((h.slots() / 32).max(1));
                        h.prepare_retry_at.store(again, Relaxed);
                        return;
                    }
                }
            }
        };
        // SAFETY: a ready table is freed with `table` (or, installed, as
        // `next`, after `table`), or retired once released, after our pin
        // began; `table` is protected by `guard` (`prepared.rs`).
        let prepared = unsafe { &*prepared };
        let total = prepared.memory_steps();
        let (steps, at) = (
            &prepared.header().steps_claimed,
            prepared.header().prepared_at.load(Relaxed),
        );
        if steps.load(Relaxed) >= policy::steps_due(h.slots(), occupied, total, at)
            || (self.assisted() && !policy::steps_all_due(h.slots(), occupied, at))
        {
            // Nothing due yet, or a resize helper faults the steps in
            // (writers take over what is left once all are due).
            return;
        }
        // Still the resize it was prepared for? (Removals since may make
        // a growth a rebuild, and inserts a rebuild a growth; the resize
        // would not use this table: fault no more of it.)
        if !self.still_serves(table, prepared) {
            return;
        }
        let k = steps.fetch_add(1, Relaxed);
        if k < total {
            prepared.populate(k, Some(table));
        }
    }

    /// Whether `prepared`, `table`'s prepared successor, would serve the
    /// resize that `table` would start now ([`policy::prepared_serves`]):
    /// its memory steps are worth taking only then.
    fn still_serves(&self, table: &T, prepared: &T) -> bool {
        let (slots, min_slots, len) = (table.header().slots(), self.min_slots(), self.len());
        policy::predicted_resize(slots, len, min_slots).is_some_and(|wanted| {
            policy::prepared_serves(prepared.header().slots(), wanted, slots, min_slots, len)
        })
    }

    /// The table `table`'s resize will want ([`policy::predicted_resize`]),
    /// if it is worth preparing: never for a table whose successors are
    /// too small to be mapped (`memory::worth_preparing`), that cannot
    /// double, or whose successor's memory cannot be had; not now for a
    /// growth of a table at its `with_capacity`/`reserve` size, or of one
    /// that holds no more than a `reserve` that found room in it asked for
    /// (the user sized the map not to grow, but it may churn at that size,
    /// and its rebuilds are prepared: at the doubling line, the same-size
    /// rebuild instead), nor for a rebuild too small to be mapped.
    /// The cheap tests first.
    fn allocate_prepared(&self, table: &T, occupied: usize) -> Result<Box<T>, Decline> {
        let h = table.header();
        let min_slots = self.min_slots();
        if !memory::worth_preparing(h.slots().saturating_mul(2 * T::SLOT_BYTES)) {
            return Err(Decline::ForGood);
        }
        // Not the count now: the one the resize will find, by the map's
        // growth since `table` came (a map that removes half of what it
        // inserts still grows, and must not be prepared a rebuild because
        // it is half live at 5/8).
        let len = policy::expected_len_at_resize(
            h.slots(),
            occupied,
            self.len(),
            h.len_at_install.load(Relaxed),
        );
        let mut slots =
            policy::predicted_resize(h.slots(), len, min_slots).ok_or(Decline::ForGood)?;
        // Sized by the user: the table is the floor's (or smaller), or the
        // floor, a `reserve` that found room in a larger table, still
        // covers the map's count (found by an outside test: such a
        // map filling up to what it reserved prepared a growth it would
        // not need, twice its table).
        let presized = min_slots > policy::MIN_SLOTS
            && (h.slots() <= min_slots || self.len() <= policy::capacity(min_slots));
        if presized && slots > h.slots() {
            // No growth of a table the user sized. At the doubling line,
            // where a map churning at its presized size flips between the
            // two predictions, its same-size rebuild: that serves a
            // growth too (`policy::prepared_serves`).
            if !policy::prepared_serves(h.slots(), slots, h.slots(), min_slots, len) {
                return Err(Decline::NotNow);
            }
            slots = h.slots();
        }
        if !memory::worth_preparing(slots.saturating_mul(T::SLOT_BYTES)) {
            return Err(Decline::NotNow);
        }
        let generation = h.generation + 1;
        table
            .successor(h.placement.successor(slots, generation), generation)
            .map_err(|_| Decline::ForGood)
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
        // Every 64th removal checks at any size; a table below 16,384 slots
        // may want more often (`shrink_check_every`, which is 64 from there
        // on): only those pay for working the interval out.
        let sample = slots <= 1024
            || local & 63 == 0
            || (slots < 16_384
                && local & (policy::shrink_check_every(slots, self.counters.parties()) - 1) == 0);
        // No shrink on counts that have lost track of the tables
        // (`policy_len`).
        let len = || self.counters.len_if_consistent();
        if sample && len().is_some_and(|len| policy::should_shrink(slots, self.min_slots(), len)) {
            self.try_start_resize(table, guard);
        }
    }

    /// Starts the policy's resize of `table`, as
    /// [`start_resize`](Self::start_resize), where nothing needs it: a
    /// shrink after removals, a sweep's tidy. Best effort: if the new
    /// table cannot be had, `table` stays (a later removal or sweep tries
    /// again), where a growth that a write needs reports the failure.
    /// Removing keys to free memory must not end the process because the
    /// smaller table could not be allocated (found by an outside test
    /// under an address-space limit: a `remove` aborted). Returns whether
    /// a resize of `table` is under way.
    fn try_start_resize<G: ReclaimGuard>(&self, table: &T, guard: &G) -> bool {
        if next_of(table, guard).is_some() {
            return true;
        }
        let slots = self.policy_slots(table);
        self.start_resize_to(table, slots, Origin::Policy, guard, || {})
            .is_ok()
    }

    /// The size the policy gives `table`'s successor, from the live count
    /// (`policy::resize_slots`).
    fn policy_slots(&self, table: &T) -> usize {
        policy::resize_slots(
            table.header().slots(),
            self.policy_len(table),
            self.min_slots(),
        )
    }

    /// Starts the resize that follows `table` unless one already runs. The
    /// new size comes from the live count (`policy::resize_slots`):
    /// doubling when more than half the table is live, else 2/5 live, at
    /// most the same size (a rebuild that drops tombstones, or a shrink
    /// when mostly empty); the new placement from `probe.rs`'s policy
    /// (a doubling keeps split order, anything else rehashes).
    pub(crate) fn start_resize<G: ReclaimGuard>(&self, table: &T, guard: &G) {
        self.start_resize_from(table, 0, Origin::Policy, guard);
    }

    /// Starts the resize that follows `table`, which a probe found full (a
    /// whole lap without its key or an empty slot), unless one already
    /// runs: as [`start_resize`](Self::start_resize), but at least a
    /// doubling. The policy sizes a resize from the map's count, which
    /// trails what a full table holds when its keys' hashes are not
    /// deterministic (a `WordMap` rehashes keys as it copies them, so two
    /// copiers can place one key twice, and the counted removals then
    /// exceed the counted inserts): a successor of that size filled before
    /// its migration ended, and so did every successor stacked after it,
    /// and every thread spun in its copy (found by testing: a livelock).
    /// A map whose hashes are sound reaches a full lap only when its claim
    /// counts trail its table (they are counted in batches above 8,192
    /// slots), where a doubling is what the count would soon have asked.
    /// Only a prepared successor of the very size wanted serves it (the
    /// prepared doubling, if the policy asks no more): a prepared rebuild,
    /// which [`policy::prepared_serves`] lets serve a growth that leaves
    /// it at most 9/16 live, would give the full lap a table no larger,
    /// or smaller, than the one that was full.
    pub(crate) fn start_resize_full<G: ReclaimGuard>(&self, table: &T, guard: &G) {
        if next_of(table, guard).is_some() {
            return;
        }
        let doubled = table
            .header()
            .slots()
            .checked_mul(2)
            .filter(|&s| s <= policy::MAX_SLOTS)
            .unwrap_or_else(|| policy::capacity_overflow());
        self.start_resize_from(table, doubled, Origin::FullLap, guard);
    }

    /// The policy's resize of `table`, to at least `at_least` slots,
    /// unless one already runs; an allocation failure panics
    /// ([`alloc_failed`]), as a growth that `insert` needs must.
    fn start_resize_from<G: ReclaimGuard>(
        &self,
        table: &T,
        at_least: usize,
        origin: Origin,
        guard: &G,
    ) {
        if next_of(table, guard).is_some() {
            return;
        }
        let slots = self.policy_slots(table).max(at_least);
        // Writers that race to start one resize each map a successor, and
        // the CAS that installs one discards the others. Where the system
        // commits memory strictly (`vm.overcommit_memory = 2`), a loser's
        // mapping can fail only because the winner's took the room: the
        // growth this write needs is then there, or about to be (the
        // winner is between its mapping and its CAS), or the winner lost
        // too and gave its table back. So a failure waits while another
        // thread's successor is on its way (`Header::installing`), then
        // looks again a few times a yield apart (`start_resize_to` returns
        // at once once a successor is installed), before it is the map's
        // to report: it aborted the process, found by review.
        let mut tries = 0;
        while let Err(e) = self.start_resize_to(table, slots, origin, guard, || {}) {
            // Relaxed: a hint (`Header::installing`); the next try reads
            // `next` with Acquire.
            if table.header().installing.load(Relaxed) > 0 {
                // Another thread's successor is on its way: its CAS (or
                // its failure) ends the wait at a later try.
                std::thread::sleep(std::time::Duration::from_micros(100));
                continue;
            }
            tries += 1;
            if tries > ALLOC_RETRIES {
                alloc_failed(e);
            }
            std::thread::yield_now();
        }
    }

    /// Starts a resize of `table` to a table of `slots` slots unless one
    /// already runs (whatever its size): installs as `table`'s successor
    /// the prepared table if it serves ([`Origin`]), else a new one (whose
    /// memory is faulted in first for the `Caller`). `before_install` runs
    /// once the table is had and faulted in, just before the CAS that may
    /// install it (`reserve` raises its floor there). An allocation failure
    /// leaves everything as it was, `before_install` not run. `Ok(true)` if
    /// this call installed the table; `Ok(false)` if another's was there
    /// or won the install.
    fn start_resize_to<G: ReclaimGuard>(
        &self,
        table: &T,
        slots: usize,
        origin: Origin,
        guard: &G,
        before_install: impl FnOnce(),
    ) -> Result<bool, TryReserveError> {
        if next_of(table, guard).is_some() {
            return Ok(false);
        }
        let h = table.header();
        let generation = h.generation + 1;
        let placement = h.placement.successor(slots, generation);
        // The prepared table if it has the placement wanted, or, for a
        // resize of the map's own, a rebuild's size close enough (Acquire:
        // pairs with `prepare`'s CAS); else a new one. (A prepared table is
        // `table`'s successor placement for its own size: the same salt
        // if it doubles, a fresh one drawn for this generation if not.)
        let ready = h.prepared.load_protected(guard).ready();
        // SAFETY: as in `prepare`: a ready table is freed with `table`,
        // which `guard` protects, or retired after our pin began.
        let fits = ready.and_then(|p| unsafe { p.as_ref() }).is_some_and(|p| {
            *p.placement() == placement
                || (origin == Origin::Policy
                    && policy::prepared_serves(
                        p.header().slots(),
                        slots,
                        h.slots(),
                        self.min_slots(),
                        self.len(),
                    ))
        });
        // The install takes it, or a release got it first: then a fresh
        // table, as if none had been prepared (`prepared.rs`).
        let prepared = ready.filter(|&p| fits && h.prepared.take(p));
        let fits = prepared.is_some();
        // Counted from before the allocation to after the CAS (or the
        // failure): `Header::installing`.
        let _installing = (!fits).then(|| Installing::new(&h.installing));
        let new = if let Some(prepared) = prepared {
            prepared
        } else {
            #[cfg(all(test, not(loom)))]
            tests::fail_successor::<T>()?;
            Box::into_raw(table.successor(placement, generation)?)
        };
        // SAFETY: `new` is unpublished, or the prepared table, taken by us:
        // `table` (protected by `guard`) owns it until `next`'s CAS.
        let new_table = unsafe { &*new };
        new_table.header().len_at_install.store(self.len(), Relaxed);
        if origin == Origin::Caller {
            new_table.populate_all(Some(table));
        }
        before_install();
        // AcqRel on success: Release publishes the new table's initialised
        // arrays to every thread that loads `next` with Acquire. Acquire on
        // failure: we then use the winner's table.
        match h
            .next
            .compare_exchange(std::ptr::null_mut(), new, AcqRel, Acquire)
        {
            Ok(_) => {
                self.counters.resizes.bump();
                // A parked resize helper joins the migration.
                self.ring();
                Ok(true)
            }
            // Another table won: the prepared one is `table`'s again (its
            // drop frees it, or a release).
            Err(_) if fits => {
                if let Some(prepared) = prepared {
                    h.prepared.untake(prepared);
                }
                Ok(false)
            }
            Err(_) => {
                // SAFETY: never published; we still own it alone.
                discard(unsafe { Box::from_raw(new) });
                Ok(false)
            }
        }
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

    /// The capacity the maps report: [`capacity`](Self::capacity), or the
    /// count if that is more. Above 8,192 slots claims are counted in
    /// batches (`policy.rs`), so a table may hold a few keys past its load
    /// limit before a write sees the count that starts its growth; it does
    /// hold them, and `capacity() >= len()` holds as in std (a port of
    /// hashbrown's tests found `capacity() - len()` underflowing).
    pub(crate) fn reported_capacity<G: ReclaimGuard>(&self, guard: &G) -> usize {
        self.capacity(guard).max(self.len())
    }

    /// Makes room for `additional` more keys than the map holds now: if the
    /// table's [`capacity`](Self::capacity) is smaller, resizes it to a
    /// table that fits them, migrating it in the calling thread (like any
    /// resize it is cooperative: other threads keep reading and writing,
    /// and help by a sub-chunk when they write). With [`Floor::Raise`] (the
    /// user's `reserve`) the new size is also the floor later shrinks
    /// respect, until [`shrink_to_fit`](crate::HashMap::shrink_to_fit). With
    /// [`Floor::Leave`] (`extend`) the map shrinks as usual once emptied,
    /// the table at least doubles (so that the doubling a growing map has
    /// prepared is the one installed, in split order), and one resize is
    /// all it tries: without a floor, removers may shrink the new table at
    /// once, and the room is a hint anyway. On error nothing changed.
    pub(crate) fn reserve<P, G>(
        &self,
        map: &P,
        additional: usize,
        floor: Floor,
        guard: &G,
    ) -> Result<(), TryReserveError>
    where
        P: Migrate<Table = T>,
        G: ReclaimGuard,
    {
        self.reserve_from(map, additional, floor, Origin::Caller, guard)
    }

    /// [`reserve`](Self::reserve), whose table, if it installs one, has
    /// `origin` ([`Origin::Caller`], or [`Origin::Hint`] for an `extend`'s
    /// room that is not faulted in ahead).
    fn reserve_from<P, G>(
        &self,
        map: &P,
        additional: usize,
        floor: Floor,
        origin: Origin,
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
        // A `reserve(0)` asks for no room: it sets no floor (as std's is a
        // no-op; generic code reserves an iterator's lower bound, often 0,
        // and a floor at the length would keep an emptied map's table). It
        // still finishes a resize in progress, and grows a table whose
        // batched count let it pass its load limit (`capacity < len`).
        let floor = if additional == 0 { Floor::Leave } else { floor };
        // A resize, if one is needed, takes room for `wanted` at half load;
        // a table that already holds `wanted` below its load limit is
        // enough (a map `shrink_to_fit` left exactly full keeps its table
        // for a `reserve(0)`).
        let slots = policy::try_slots_for_capacity(wanted)?;
        let fits = policy::slots_to_fit(wanted);
        // Leaving the floor alone is having set it already.
        let mut floor_set = floor == Floor::Leave;
        // The floor before this call first raised it, the highest value it
        // raised it to, and the raise count its last raise left: on an
        // error the floor goes back (the map is unchanged on error), unless
        // another call raised it since.
        let mut raised: Option<(usize, usize, usize)> = None;
        // Whether this call installed a table.
        let mut rebuilt = false;
        let raise = |to: usize, raised: &mut Option<(usize, usize, usize)>| {
            let before = self.min_slots.fetch_max(to, Relaxed);
            let ticket = self.floor_raises.fetch_add(1, Relaxed) + 1;
            let first = raised.map_or(before, |(first, _, _)| first);
            let high = raised.map_or(to, |(_, high, _)| high.max(to));
            *raised = Some((first, high, ticket));
        };
        loop {
            let root = self.root(guard);
            if next_of(root, guard).is_some() {
                // Any resize in progress first: it may already be enough.
                self.finish(map, root, guard);
                continue;
            }
            let capacity = policy::capacity(root.len());
            // Tombstones hold slots until a resize drops them: a table
            // with room for `wanted` keys but whose claims (live keys and
            // tombstones) leave less than `additional` free would resize
            // at the next inserts. It is rebuilt here, at its size. Looked
            // at until this call installed a table: after that only `len`
            // counts, or writers that keep inserting meanwhile would keep
            // this loop rebuilding.
            // With the claims writers hold back in their batches, which the
            // table's count leaves out (`Counters::held_back`): this
            // thread's own would start a resize short of `additional`.
            let h = root.header();
            let claimed = h
                .occupied
                .get()
                .saturating_add(self.counters.held_back(h.generation));
            let tombstones_fit =
                rebuilt || additional == 0 || claimed.saturating_add(additional) <= capacity;
            if capacity >= wanted && tombstones_fit {
                if floor_set {
                    return Ok(());
                }
                // Raise the floor, then look once more: a shrink that
                // started before the floor rose and is installed by then is
                // finished before we look again. One installed just after
                // our look (sized from the old floor) still goes below the
                // floor: a window of a few instructions, whose cost is a
                // later growth, nothing else. (A shrink cannot give up at
                // its install instead: a writer that found its table full
                // relies on `start_resize` installing a successor.)
                raise(fits, &mut raised);
                floor_set = true;
                continue;
            }
            let slots = match floor {
                // Room enough but for the tombstones: rebuild at this size.
                _ if capacity >= wanted => root.len(),
                Floor::Raise => slots,
                Floor::Leave => {
                    let doubled = root.len().saturating_mul(2);
                    if doubled <= policy::MAX_SLOTS {
                        slots.max(doubled)
                    } else {
                        slots
                    }
                }
            };
            // The floor rises once the table is had, just before it is
            // installed: not sooner, or a writer's own resize meanwhile
            // would size itself to the floor (`resize_slots`) and allocate
            // a table as large as ours, or fail to and abort the process,
            // inside an unrelated insert (found by review); not later, as
            // a remover that reaches the new table does so through `next`
            // (Acquire, after our Release CAS), so it reads the raised
            // floor and cannot start a shrink below it.
            let mut ran = false;
            // A rebuild for tombstones raises the floor only as far as
            // `wanted` needs, not to the table's size.
            let floor_to = if capacity >= wanted { fits } else { slots };
            let installed = self.start_resize_to(root, slots, origin, guard, || {
                ran = true;
                if floor == Floor::Raise {
                    raise(floor_to, &mut raised);
                }
            });
            let installed = match installed {
                Ok(installed) => installed,
                // Another thread's successor went in while ours failed to
                // allocate (as in `start_resize_from`): the loop finishes
                // that resize and judges the table it leaves.
                Err(_) if next_of(root, guard).is_some() => continue,
                Err(e) => {
                    if let Some((first, high, ticket)) = raised {
                        // Put the floor back, unless another reserve raised
                        // it since our last raise (or raised it further).
                        if first < high && self.floor_raises.load(Relaxed) == ticket {
                            let _ = self
                                .min_slots
                                .compare_exchange(high, first, Relaxed, Relaxed);
                        }
                    }
                    return Err(e);
                }
            };
            // Set only if this call raised it: a resize another thread
            // installed first (`start_resize_to` then returns at once)
            // leaves it to the branch above, once that resize is done.
            floor_set |= ran;
            // Only if this call's table went in: another thread's resize
            // (which won the install) may not have dropped the tombstones
            // with room to spare.
            rebuilt |= installed;
            self.finish(map, root, guard);
            if floor == Floor::Leave {
                return Ok(());
            }
        }
    }

    /// Before an `extend` of an iterator whose `size_hint` is `hint`: room
    /// for its lower bound ([`policy::extend_room`]), without a floor
    /// ([`Floor::Leave`]). An exact hint (lower and upper bound equal: a
    /// collection's, a range's, a `clone`'s) is trusted, and its room is
    /// faulted in now, as `reserve`'s is (inserts into untouched pages
    /// fault twice, and cost every other thread a TLB shootdown:
    /// docs/benchmarks.md, "Pre-sized tables are faulted in"); a lower
    /// bound alone may overstate (it is not trusted for safety either), so
    /// its room is faulted in by the inserts ([`Origin::Hint`]). Best
    /// effort: a hint too large to allocate leaves the map to grow as it
    /// fills.
    pub(crate) fn room_for_extend<P, G>(&self, map: &P, hint: (usize, Option<usize>), guard: &G)
    where
        P: Migrate<Table = T>,
        G: ReclaimGuard,
    {
        let room = policy::extend_room(|| self.len(), hint.0);
        if room > 0 {
            let origin = if hint.1 == Some(hint.0) {
                Origin::Caller
            } else {
                Origin::Hint
            };
            let _ = self.reserve_from(map, room, Floor::Leave, origin, guard);
        }
    }

    /// Lowers the floor that `with_capacity` and `reserve` set to what
    /// `min_capacity` keys need below the load limit (never raises it),
    /// and shrinks the table to the smallest that holds the current keys,
    /// and `min_capacity` of them, below its load limit, migrating it in
    /// the calling thread: `shrink_to`, and with 0 `shrink_to_fit`. Never
    /// grows the table. Best effort: if the smaller table cannot be
    /// allocated, the map keeps its table.
    pub(crate) fn shrink_to<P, G>(&self, map: &P, min_capacity: usize, guard: &G)
    where
        P: Migrate<Table = T>,
        G: ReclaimGuard,
    {
        // A capacity no table holds lowers nothing, shrinks nothing.
        let Some(floor) = policy::try_slots_to_fit(min_capacity) else {
            return;
        };
        self.min_slots
            .fetch_min(floor.max(policy::MIN_SLOTS), Relaxed);
        loop {
            let root = self.root(guard);
            if next_of(root, guard).is_some() {
                self.finish(map, root, guard);
                continue;
            }
            let len = self.policy_len(root);
            let slots = policy::slots_to_fit(len.max(min_capacity));
            let tombstones = root.header().occupied.get() > len;
            // A prepared successor's memory goes too: the rebuild (to the
            // fit, or at the same size) retires the root, whose free frees
            // it.
            let prepared = root.header().has_prepared();
            if root.len() < slots || (root.len() == slots && !tombstones && !prepared) {
                return;
            }
            if self
                .start_resize_to(root, slots, Origin::Caller, guard, || {})
                .is_err()
            {
                return;
            }
            // One resize and done, whatever its size (another thread's may
            // have won the install): looping until the table is small
            // could alternate forever with a concurrent `reserve`.
            self.finish(map, root, guard);
            return;
        }
    }

    /// Migrates a helping write's share of `table` into `next`, if any is
    /// left to take: one sub-chunk of [`SUB`](cursor::SUB) slots
    /// (`cursor.rs`), or, when `next` is smaller (a shrink), one per time
    /// `next` goes into `table`, rounded up, at most [`MAX_SHARE`]. A
    /// shrink's new table has room for fewer writes before its own resize
    /// is due than a growth's, and its old table is mostly empty slots
    /// (frozen, not copied): the larger share finishes the migration within
    /// the writes it has, at about a growth's cost per write, before a
    /// resize of `next` would stack up behind it.
    pub(crate) fn help<P, G>(&self, map: &P, table: &T, next: &T, guard: &G)
    where
        P: Migrate<Table = T>,
        G: ReclaimGuard,
    {
        let share = table.len().div_ceil(next.len()).min(MAX_SHARE);
        self.migrate_share(map, table, next, share, Party::Writer, guard);
    }

    /// After a read whose root is `table` (`stall.rs`): a migration the
    /// writes left stalled is moved a sub-chunk by the read
    /// ([`read_met_migration`](Self::read_met_migration)), and a prepared
    /// table the map stopped claiming slots towards is released
    /// ([`met_prepared`](Self::met_prepared)). Inline: two hints on the
    /// header's first line, and with a prepared table a thread-local
    /// countdown; the rest out of line.
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn after_read<P, G>(&self, map: &P, table: &T, guard: &G)
    where
        P: Migrate<Table = T>,
        G: ReclaimGuard,
    {
        let h = table.header();
        if h.migrating() {
            self.read_met_migration(map, table, guard);
        } else if h.has_prepared() && stall::tick() {
            self.met_prepared(table, guard);
        }
    }

    /// After a read whose root `table` has a successor: moves a sub-chunk
    /// of its migration if the writes left it stalled (they and the resize
    /// helpers moved it by at most 64 sub-chunks in 50 ms of the party's
    /// time). Otherwise, and on most calls, a countdown on the party's own
    /// line. Out of line: it runs only while a migration is open.
    #[cfg(not(loom))]
    #[inline(never)]
    fn read_met_migration<P, G>(&self, map: &P, table: &T, guard: &G)
    where
        P: Migrate<Table = T>,
        G: ReclaimGuard,
    {
        let Some(next) = next_of(table, guard) else {
            return;
        };
        let Some(watch) = self.counters.stall_watch(guard.slot()) else {
            return;
        };
        let stalled = watch.met(
            stall::Watched::Migration(table.header().generation),
            || self.counters.moved_by_others(),
            crate::clock::now,
        );
        if stalled {
            self.migrate_share(map, table, next, 1, Party::Reader, guard);
        }
    }

    /// One operation in [`PREPARED_CHECK_EVERY`](stall::PREPARED_CHECK_EVERY) of a thread
    /// whose root `table` holds a prepared table, and no migration: a
    /// check of the party's watch over the slots claimed in `table`, which
    /// releases the prepared table
    /// ([`release_prepared`](Self::release_prepared)) once the map has
    /// claimed at most 64 of them in a second of the party's time. Out of
    /// line.
    #[cfg(not(loom))]
    #[inline(never)]
    fn met_prepared<G: ReclaimGuard>(&self, table: &T, guard: &G) {
        let Some(watch) = self.counters.stall_watch(guard.slot()) else {
            return;
        };
        let h = table.header();
        if next_of(table, guard).is_some() || h.prepared.load(Relaxed).is_empty() {
            return;
        }
        let stalled = watch.check(
            stall::Watched::Prepared(h.generation),
            h.occupied.get() as u64,
            crate::clock::now(),
        );
        if stalled {
            self.release_prepared(table, guard);
            // A table prepared again later is watched anew, not found
            // stalled by this party's next check.
            watch.forget();
        }
    }

    /// Releases `table`'s prepared successor, if it is still ready (not
    /// taken by a resize that installs it): the map stopped growing
    /// towards it. Retired, so a thread still faulting it in keeps it until
    /// its pin ends (`prepared.rs`); the table prepares again once the
    /// map claims more slots ([`policy::retry_after_release`]), and
    /// releases at most [`policy::MAX_RELEASES`] tables. Returns whether
    /// this call released it.
    pub(crate) fn release_prepared<G: ReclaimGuard>(&self, table: &T, guard: &G) -> bool {
        let h = table.header();
        let Some(prepared) = h.prepared.load_protected(guard).ready() else {
            return false;
        };
        // At most `MAX_RELEASES` times a table: then the one prepared
        // stays (Relaxed, a policy input; two racing releasers may both
        // pass, and one of their CASes fails).
        let released = h.releases.load(Relaxed) + 1;
        if released > policy::MAX_RELEASES {
            return false;
        }
        // Prepared again only after more slots are claimed
        // (`policy::retry_after_release`), at least twice the watch's
        // margin (so every party's window that the release ended has seen
        // progress by then). Stored first: a `prepare` that finds the slot
        // empty must not find the old retry point (it would prepare again
        // at once). Relaxed: a hint.
        let again = policy::retry_after_release(
            h.slots(),
            h.occupied.get(),
            released,
            2 * policy::WATCH_MARGIN,
        );
        h.prepare_retry_at.store(again, Relaxed);
        if !h.prepared.release(prepared) {
            return false;
        }
        h.releases.store(released, Relaxed);
        // SAFETY: our release emptied the slot, the only place the table
        // was reachable from (`take` fails on it from now on, so no resize
        // installs it); retired exactly once, by the releaser. It was
        // never installed: nothing was migrated into it, and its cursor
        // says so to its free (as `discard`'s).
        unsafe {
            (*prepared).header().cursor.mark_unused();
            guard.retire_now(prepared);
        }
        self.counters.released.bump();
        true
    }

    /// Migrates up to `share` sub-chunks of `table` into `next` for
    /// `party` (a writer's share, [`help`](Self::help), or a resize
    /// helper's, `assist.rs`), promoting if it completes the migration.
    /// Returns how many it moved: fewer once nothing is left to take.
    pub(crate) fn migrate_share<P, G>(
        &self,
        map: &P,
        table: &T,
        next: &T,
        share: usize,
        party: Party,
        guard: &G,
    ) -> usize
    where
        P: Migrate<Table = T>,
        G: ReclaimGuard,
    {
        let h = table.header();
        let slots = h.slots();
        for moved in 0..share {
            let hint = self.counters.range_hint(guard.slot(), h.generation);
            let range = hint.map(|(range, _)| range);
            let Some(taken) = h.cursor.next_chunk(slots, range, party == Party::Assistant) else {
                // Nothing left to take, but a sub-chunk taken by a party
                // that panicked will never complete: migrate what is left
                // here, once, rather than leave the migration open until
                // something else calls `finish`.
                // Not marked again if the pass panics too (a copy that
                // panics every time): then every later write would run a
                // pass and panic; the migration is left to a stacked
                // resize or an iteration, as before.
                if h.cursor.take_abandoned() {
                    self.finish(map, table, guard);
                }
                return moved;
            };
            // The sub-chunk this party's previous write fetched ahead (its
            // range's next one, unless a thief took that) has its lines
            // fetched already.
            let fetched = hint.is_some_and(|(_, ahead)| ahead == taken.sub.start);
            if !fetched {
                table.prepare_copy(next, taken.sub.clone());
            }
            // A `WordMap`'s copy runs the map's hasher: if it panics, this
            // sub-chunk is never completed.
            let abandon = AbandonOnUnwind(&h.cursor);
            for i in taken.sub.clone() {
                map.migrate_slot(table, i, next, guard);
            }
            mem::forget(abandon);
            match party {
                Party::Writer => self.counters.helped(guard.slot()),
                Party::Assistant => self.counters.assisted.bump(),
                #[cfg(not(loom))]
                Party::Reader => self.counters.read.bump(),
            }
            if h.cursor.complete(taken.sub.clone(), slots) {
                self.promote(guard);
                return moved + 1;
            }
            // The party's next sub-chunk is likely the next one of this
            // range: its lines are fetched now (after the completion's
            // locked add, which would otherwise wait for these loads), to
            // be cached when the next write migrates it.
            let ahead = Cursor::ahead(&taken.sub, slots);
            if let Some(ahead) = &ahead {
                table.prepare_copy(next, ahead.clone());
            }
            let ahead = ahead.map_or(usize::MAX, |a| a.start);
            self.counters
                .set_range_hint(guard.slot(), h.generation, taken.range, ahead);
        }
        share
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
        // SeqCst fence: every caller has just set a table's `finished`
        // (Release), and now reads the root's. Two completers of stacked
        // tables (A migrating into B, B into C) are the store-buffering
        // pattern: with acquire/release alone, B's completer can read A
        // unfinished while A's, having promoted to B, reads B unfinished,
        // and nobody promotes past B until something else calls `finish`
        // (found by review). With a SeqCst fence between each one's store
        // and its loads, at least one of them sees the other's flag. Once
        // per completed table, off every operation's path.
        fence(SeqCst);
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
                // Relaxed: read by the old table's free, which the
                // retirement below orders after this.
                root.header()
                    .successor_slots
                    .store(next.header().slots(), Relaxed);
                // SAFETY: our CAS unlinked `old` from the root, the only
                // place it was reachable from (older tables were promoted
                // past earlier); it is retired exactly once, by the winner.
                // Retired before `promoted`, which may run a user's `Drop`:
                // a panic there must not leave the old table unretired
                // (found by review: it leaked, with the entries it owns).
                unsafe { guard.retire_now(old) };
                // The old table is unreachable for operations that start
                // from now on.
                next.promoted(guard);
                // A resize stacked on the one just finished is now the
                // root's, the only one a resize helper looks at: its start
                // rang while the helper found no work in the older one, so
                // the helper may have parked again (found by review: it
                // slept up to `assist::PARK_MAX` while writers left it the
                // work).
                // SeqCst fence (with a helper only): our root CAS before
                // the load of `next`, the other half of the installer's
                // (its CAS of `next`, then its ring's fence): one of the
                // two sees the other's store, so either we ring or its
                // ring's woken helper finds the new root (a store-buffering
                // pair, as in `parking.rs`).
                if self.assisted() {
                    fence(SeqCst);
                    if next_of(next, guard).is_some() {
                        self.ring();
                    }
                }
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
            && self.try_start_resize(root, guard)
        {
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
        self.counters.reset_for_empty_root();
        // SAFETY: the root is linked from nowhere else, and `&mut self`
        // means no guard of the map is alive: we own it alone.
        unsafe { Box::from_raw(root) }
    }
}

impl<T: Generation> Drop for Resizer<T> {
    fn drop(&mut self) {
        // Unwinding under loom: leave loom's state alone (`sync/mod.rs`).
        if crate::sync::loom_unwinding() {
            return;
        }
        // `&mut self`: no guard, no other thread. Every table still linked
        // from the root is the map's; retired tables are freed by the
        // map's reclaimer, which drops after this.
        //
        // If a table's drop panics (a user's `Drop`), the tables after it
        // are still dropped as the panic unwinds (`Chain`'s drop; a second
        // panic aborts, as in std's collections).
        let mut chain = Chain(self.root.load(Relaxed));
        while let Some(table) = chain.pop() {
            drop(table);
        }
    }
}

/// The tables linked from one (`next`), owned: dropping it drops them.
struct Chain<T: Generation>(*mut T);

impl<T: Generation> Chain<T> {
    /// The first table, unlinked from the rest.
    fn pop(&mut self) -> Option<Box<T>> {
        // Off the chain before the box owns it: the load of `next` below
        // is a step of the model under loom, where loom may stop the
        // execution with a panic at any step (its branch limit). The box
        // then frees the table once as the panic unwinds, and the chain,
        // which no longer holds it, does not free it again (the tables
        // after it leak, in an execution that is failing; found by an
        // outside user's loom model, whose map was dropped as the limit
        // struck: a double free that aborted the test binary).
        let first = std::mem::replace(&mut self.0, std::ptr::null_mut());
        if first.is_null() {
            return None;
        }
        // SAFETY: linked tables are owned by the map (the chain held them)
        // and each is taken off once, here: the chain gave `first` up.
        let mut table = unsafe { Box::from_raw(first) };
        self.0 = table.header_mut().next_exclusive();
        Some(table)
    }
}

impl<T: Generation> Drop for Chain<T> {
    fn drop(&mut self) {
        // Unwinding under loom: leave loom's state alone (`sync/mod.rs`).
        if crate::sync::loom_unwinding() {
            return;
        }
        while let Some(table) = self.pop() {
            drop(table);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::policy::{predicted_resize, should_prepare, steps_due};
    use super::*;
    use crate::WordMap;
    use std::cell::RefCell;

    std::thread_local! {
        /// A stand-in for the system refusing this thread's successor
        /// tables: while set, it runs at each allocation (the first run
        /// may start another thread's install), and the allocation fails.
        static FAIL_SUCCESSOR: RefCell<Option<Box<dyn FnMut()>>> = const { RefCell::new(None) };
    }

    /// Called where `start_resize_to` allocates a successor: fails it if
    /// this thread's test asked for that.
    pub(super) fn fail_successor<T>() -> Result<(), TryReserveError> {
        let failing = FAIL_SUCCESSOR.with(|f| match f.borrow_mut().as_mut() {
            Some(meanwhile) => {
                meanwhile();
                true
            }
            None => false,
        });
        if failing {
            return Err(TryReserveError::AllocError {
                layout: std::alloc::Layout::new::<T>(),
            });
        }
        Ok(())
    }

    /// Makes every successor allocation of this thread fail, running
    /// `first` at the first of them, until the returned guard drops.
    fn failing_successors(first: impl FnOnce() + 'static) -> impl Drop {
        let mut first = Some(first);
        FAIL_SUCCESSOR.with(|f| {
            *f.borrow_mut() = Some(Box::new(move || {
                if let Some(first) = first.take() {
                    first();
                }
            }));
        });
        struct Stop;
        impl Drop for Stop {
            fn drop(&mut self) {
                FAIL_SUCCESSOR.with(|f| f.borrow_mut().take());
            }
        }
        Stop
    }

    /// Grows `map`'s root, as a writer that found it full does.
    fn grow(map: &WordMap<u64, u64>) {
        let guard = map.raw().pin();
        let resizer = map.raw().resizer();
        resizer.start_resize_full(resizer.root(&guard), &guard);
    }

    /// A map of 100 keys with no migration left open; its root's size.
    fn settled_map() -> (std::sync::Arc<WordMap<u64, u64>>, usize) {
        let map = std::sync::Arc::new(WordMap::<u64, u64>::new());
        for k in 0..100 {
            map.insert(k, k);
        }
        // The inserts end a migration bit by bit: end it here.
        let slots = map.raw().stable_root(&map.raw().pin()).len();
        (map, slots)
    }

    /// The size of `map`'s newest table.
    fn newest_len(map: &WordMap<u64, u64>) -> usize {
        let guard = map.raw().pin();
        let root = map.raw().resizer().root(&guard);
        next_of(root, &guard).unwrap_or(root).len()
    }

    /// A writer whose successor allocations fail while another writer's
    /// succeeds and is installed goes on into the installed table instead
    /// of aborting the process (found by review: the failure aborted at
    /// once, so under strict overcommit two writers racing to grow one map
    /// could abort where either alone would have grown it). On the old
    /// code this test aborts the test binary ("memory allocation of ...
    /// failed").
    #[test]
    fn a_failed_successor_allocation_yields_to_the_installed_one() {
        let (map, slots) = settled_map();
        let failed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (other, flag) = (std::sync::Arc::clone(&map), std::sync::Arc::clone(&failed));
        // This thread's allocation fails once the other thread's table is
        // installed (the race, in the order that loses).
        let failing = failing_successors(move || {
            flag.store(true, Relaxed);
            std::thread::spawn(move || grow(&other)).join().unwrap();
        });
        grow(&map);
        drop(failing);
        assert!(failed.load(Relaxed), "no allocation was failed");
        assert_eq!(newest_len(&map), 2 * slots);
        for k in 100..1_000 {
            map.insert(k, k);
        }
        assert_eq!(map.len(), 1_000);
        assert!((0..1_000).all(|k| map.get(&k) == Some(k)));
    }

    /// A writer whose allocations fail while another thread is still
    /// between its own allocation and its install (a `reserve` faulting its
    /// table in, for milliseconds) waits for that install instead of
    /// aborting after its three quick looks (found by review; on the old
    /// code this test aborts the test binary).
    #[test]
    fn a_failed_successor_allocation_waits_for_an_install_under_way() {
        static OTHER: std::sync::Mutex<Option<std::thread::JoinHandle<()>>> =
            std::sync::Mutex::new(None);
        let (map, slots) = settled_map();
        let other = std::sync::Arc::clone(&map);
        let failing = failing_successors(move || {
            // Another thread is mid-install, counted as `start_resize_to`
            // counts it, and installs 50 ms later.
            let (tx, rx) = std::sync::mpsc::channel();
            *OTHER.lock().unwrap() = Some(std::thread::spawn(move || {
                let guard = other.raw().pin();
                let root = other.raw().resizer().root(&guard);
                root.header().installing.fetch_add(1, Relaxed);
                tx.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(50));
                grow(&other);
                // `guard` keeps the old root alive to here.
                root.header().installing.fetch_sub(1, Relaxed);
            }));
            rx.recv().unwrap();
        });
        grow(&map);
        drop(failing);
        let other = OTHER
            .lock()
            .unwrap()
            .take()
            .expect("no allocation was failed");
        other.join().unwrap();
        assert_eq!(newest_len(&map), 2 * slots);
        assert!((0..100).all(|k| map.get(&k) == Some(k)));
    }

    /// `try_reserve` whose table fails to allocate while another thread's
    /// resize is installed judges the table that resize leaves instead of
    /// reporting the failure (on the old code: `Err(AllocError)`).
    #[test]
    fn try_reserve_yields_to_a_resize_installed_while_it_failed() {
        let (map, _) = settled_map();
        let failed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (other, flag) = (std::sync::Arc::clone(&map), std::sync::Arc::clone(&failed));
        let failing = failing_successors(move || {
            flag.store(true, Relaxed);
            std::thread::spawn(move || other.reserve(400))
                .join()
                .unwrap();
        });
        assert_eq!(map.try_reserve(300), Ok(()));
        drop(failing);
        assert!(failed.load(Relaxed), "no allocation was failed");
        assert!(map.capacity() >= 400, "{}", map.capacity());
        assert!((0..100).all(|k| map.get(&k) == Some(k)));
    }

    /// Removals and sweeps that would shrink the table while no smaller
    /// table can be had: the map keeps its table, stays whole, and shrinks
    /// once tables can be had again (on the old code the removal, or the
    /// sweep's tidy, aborted the process: a shrink nothing needed reported
    /// its allocation failure as a growth must). Both maps; removals one
    /// by one, `retain` and `clear`.
    #[test]
    fn removals_and_sweeps_shrink_only_when_they_can() {
        for how in ["remove", "retain", "clear"] {
            let keep = |k: u64| how != "clear" && k % 64 == 0;
            let word: WordMap<u64, u64> = WordMap::new();
            let hash: crate::HashMap<u64, u64> = crate::HashMap::new();
            for k in 0..4096 {
                word.insert(k, k);
                hash.pin().insert(k, k);
            }
            let before = (word.stats(), hash.stats());
            let failing = failing_successors(|| {});
            match how {
                "remove" => {
                    for k in (0..4096).filter(|&k| !keep(k)) {
                        assert_eq!(word.remove(&k), Some(k));
                        assert_eq!(hash.pin().remove(&k), Some(&k));
                    }
                }
                "retain" => {
                    word.retain(|k, _| keep(k));
                    hash.pin().retain(|k, _| keep(*k));
                }
                _ => {
                    word.clear();
                    hash.pin().clear();
                }
            }
            let during = (word.stats(), hash.stats());
            drop(failing);
            for (b, d) in [(&before.0, &during.0), (&before.1, &during.1)] {
                assert_eq!((d.slots, d.resizes), (b.slots, b.resizes), "{how}: {d:?}");
                assert_eq!(d.len, (0..4096).filter(|&k| keep(k)).count(), "{how}");
            }
            for k in 0..4096 {
                assert_eq!(word.get(&k), keep(k).then_some(k), "{how}");
                assert_eq!(hash.pin().get(&k), keep(k).then_some(&k), "{how}");
            }
            // Tables can be had again: the next removal's check (or sweep)
            // shrinks.
            for k in (0..4096).step_by(64) {
                word.remove(&k);
                hash.pin().remove(&k);
            }
            word.retain(|_, _| true);
            hash.pin().retain(|_, _| true);
            for (b, m) in [(&before.0, word.stats()), (&before.1, hash.stats())] {
                assert!(m.slots < b.slots, "{how}: no shrink after: {m:?}");
                assert_eq!(m.len, 0);
            }
        }
    }

    fn addr<T>(table: &T) -> usize {
        table as *const T as usize
    }

    fn slot_bytes<T: Generation>(_: &T) -> usize {
        T::SLOT_BYTES
    }

    /// The fields every operation reads share the header's first line, and
    /// the counters writers write are on later ones (`Header` is
    /// `repr(C)`; tables are at least line-aligned through the padded
    /// fields).
    #[test]
    fn read_fields_share_the_first_line() {
        fn check<T: Generation>() {
            let placement = std::mem::offset_of!(Header<T>, placement);
            let next = std::mem::offset_of!(Header<T>, next);
            assert_eq!((placement / 64, next / 64), (0, 0));
            assert!(std::mem::offset_of!(Header<T>, occupied) >= 64);
            assert!(std::mem::align_of::<Header<T>>() >= 64);
        }
        check::<crate::word::table::WordTable>();
        check::<crate::raw::table::Table<u64, u64>>();
        check::<crate::raw::table::Table<String, Vec<u8>>>();
    }

    #[test]
    fn steps_are_paced_from_five_eighths_to_twenty_three_thirty_seconds() {
        let (slots, total) = (1 << 20, 64);
        assert!(!should_prepare(slots, slots / 8 * 5 - 1));
        assert!(should_prepare(slots, slots / 8 * 5));
        assert_eq!(steps_due(slots, slots / 8 * 5, total, 0), 0);
        assert_eq!(steps_due(slots, slots / 8 * 5 + 1, total, 0), 1);
        assert_eq!(steps_due(slots, slots / 32 * 23, total, 0), total);
        assert_eq!(steps_due(slots, slots, total, 0), total);
        let mut last = 0;
        for occupied in (slots / 2..slots).step_by(997) {
            let due = steps_due(slots, occupied, total, 0);
            assert!(due >= last && due <= total);
            last = due;
        }
        // All are due before the table must grow.
        assert!(!policy::should_grow(slots, slots / 32 * 23));
        // No overflow at the largest sizes.
        let max = policy::MAX_SLOTS;
        assert_eq!(steps_due(max, max / 32 * 23, max / 8, 0), max / 8);
    }

    #[test]
    fn resizes_are_predicted_as_the_resize_sizes_them() {
        // The resize's own size: doubling once more than half is live,
        // whatever the table's size (not only powers of two).
        for slots in [1024, 1536, 48, 5_592_416] {
            for len in [slots / 2 + 1, slots * 23 / 32, slots * 3 / 4] {
                assert_eq!(policy::resize_slots(slots, len, 16), 2 * slots);
                assert_eq!(predicted_resize(slots, len, 16), Some(2 * slots));
            }
            // Half live or less (removals churn): a rebuild, never larger;
            // from 2/5 live down, to 2/5 live.
            assert_eq!(policy::resize_slots(slots, slots / 2, 16), slots);
            assert_eq!(predicted_resize(slots, slots / 2, 16), Some(slots));
            let rebuilt = policy::resize_slots(slots, slots / 3, 16);
            assert!(
                rebuilt <= slots && rebuilt >= slots / 3 * 5 / 2,
                "{slots}: {rebuilt}"
            );
        }
        assert_eq!(policy::resize_slots(1024, 512, 16), 1024);
        assert_eq!(policy::resize_slots(1024, 300, 16), 752);
        assert_eq!(predicted_resize(1024, 300, 16), Some(752));
        // A shrink: to 5/2 of the live count, never below the floor.
        assert_eq!(policy::resize_slots(4096, 100, 16), 256);
        assert_eq!(policy::resize_slots(4096, 101, 16), 256);
        assert_eq!(policy::resize_slots(4096, 100, 1024), 1024);
        assert_eq!(policy::resize_slots(4096, 0, 16), 16);
        assert_eq!(
            predicted_resize(policy::MAX_SLOTS, policy::MAX_SLOTS, 16),
            None
        );
        assert_eq!(
            predicted_resize(policy::MAX_SLOTS, 100, 16),
            Some(policy::resize_slots(policy::MAX_SLOTS, 100, 16))
        );
    }

    /// `shrink_to_fit`'s table is the smallest multiple of the grain whose
    /// load limit holds `n`: within a grain of `4n/3`, not the next power of
    /// two (up to twice that). `with_capacity(n)`'s holds `n` at half load.
    #[test]
    fn capacity_sizes_follow_the_count() {
        #[cfg(target_pointer_width = "64")]
        let large = [4_194_304, 5_000_000, 1 << 30];
        #[cfg(not(target_pointer_width = "64"))]
        let large = [4_194_304, 5_000_000, 1 << 20];
        for n in [0, 1, 11, 12, 13, 100, 1000].into_iter().chain(large) {
            let slots = policy::slots_to_fit(n);
            assert_eq!(slots % policy::GRAIN, 0);
            assert!(policy::capacity(slots) >= n, "{n}: {slots}");
            let smaller = slots - policy::GRAIN;
            assert!(
                slots == policy::MIN_SLOTS || policy::capacity(smaller) < n,
                "{n}: {slots} is not the smallest"
            );
            let presized = policy::slots_for_capacity(n);
            assert!(
                presized >= 2 * n && presized < 2 * n + policy::GRAIN.max(policy::MIN_SLOTS + 1)
            );
        }
        assert_eq!(policy::slots_to_fit(4_194_304), 5_592_416);
        assert_eq!(policy::slots_for_capacity(3_001), 6_016);
        // Past half load's limit, the counts a table can hold still get
        // one: the smallest that fits them; past that, an error.
        let max = policy::MAX_SLOTS;
        assert_eq!(policy::try_slots_for_capacity(max / 2), Ok(max));
        assert_eq!(
            policy::try_slots_for_capacity(max / 2 + 1),
            Ok(policy::slots_to_fit(max / 2 + 1))
        );
        assert_eq!(
            policy::try_slots_for_capacity(policy::capacity(max)),
            Ok(max)
        );
        assert!(policy::try_slots_for_capacity(policy::capacity(max) + 1).is_err());
        assert!(policy::try_slots_for_capacity(usize::MAX).is_err());
    }

    /// A map churning around one size keeps one size: a rebuild leaves
    /// room for its count to drift up by a quarter before the next one,
    /// which then rebuilds at the same size instead of doubling (and
    /// shrinking back after). With rebuilds to half live, one more key
    /// doubled the table.
    #[test]
    fn rebuilds_of_a_churning_map_keep_its_size() {
        for len in [100, 3_000, 5_000, 65_536, 1_000_001] {
            // A doubling that left the table between 1/4 and 1/2 live,
            // then rebuilds as removals and inserts churn around `len`.
            let mut slots = policy::resize_slots(len * 2 - 16, len, 16);
            assert!(slots >= 2 * len);
            for drift in [len / 8, len / 4, 0, len / 5, len / 4] {
                let next = policy::resize_slots(slots, len + drift, 16);
                assert!(next <= slots, "{len}+{drift}: {slots} -> {next}");
                slots = next;
            }
            // Where the churn settled: 2/5 live at `len`.
            assert!(
                slots >= len * 5 / 2 && slots < len * 5 / 2 + 16,
                "{len}: {slots}"
            );
        }
    }

    /// One thread grows a `WordMap` from empty: every table large enough to
    /// be prepared is, the resize installs exactly that table, and every
    /// memory step of it was handed out before the resize started. (Only
    /// mapped tables are prepared: Linux.)
    #[test]
    #[cfg(target_os = "linux")]
    fn growth_installs_the_prepared_table_fully_faulted_in() {
        let map = WordMap::<u64, u64>::new();
        let resize = map.raw().resizer();
        let guard = map.raw().pin();
        let mut installed = 0;
        let mut watched: Option<usize> = None;
        for k in 0..100_000u64 {
            map.insert(k, k);
            let root = resize.root(&guard);
            let h = root.header();
            if watched == Some(addr(root)) {
                continue;
            }
            if let Some(next) = next_of(root, &guard) {
                let prepared = h.prepared.load(Relaxed);
                if memory::worth_preparing(next.len() * slot_bytes(next)) {
                    assert!(
                        matches!(prepared, Prepared::Installed(p) if p as usize == addr(next)),
                        "the resize installed another table"
                    );
                    let steps = next.header().steps_claimed.load(Relaxed);
                    assert!(steps >= next.memory_steps() && steps > 0);
                    installed += 1;
                } else {
                    assert!(prepared.is_empty());
                }
                watched = Some(addr(root));
            }
        }
        assert!(
            installed >= 2,
            "{installed} tables installed from preparation"
        );
    }

    /// An `extend` into a growing map that makes room does so with the
    /// doubling its inserts would have made: the table prepared for it is
    /// the one installed, not a fresh one of another size.
    #[test]
    #[cfg(target_os = "linux")]
    fn extend_installs_the_prepared_doubling() {
        let map = WordMap::<u64, u64>::new();
        let resize = map.raw().resizer();
        let mut installed = 0;
        for chunk in 0..400u64 {
            let (root, prepared) = {
                let guard = map.raw().pin();
                let root = resize.root(&guard);
                (
                    addr(root),
                    root.header().prepared.load(Relaxed).table() as usize,
                )
            };
            (&map).extend((chunk * 1000..(chunk + 1) * 1000).map(|i| (i, i)));
            let guard = map.raw().pin();
            let now = addr(resize.root(&guard));
            if prepared != 0 && now != root {
                assert_eq!(
                    now, prepared,
                    "chunk {chunk}: a fresh table, not the prepared one"
                );
                installed += 1;
            }
        }
        assert!(installed >= 2, "{installed} prepared tables installed");
    }

    /// The root's prepared table, if any.
    fn root_prepared(map: &WordMap<u64, u64>) -> bool {
        let guard = map.raw().pin();
        map.raw().resizer().root(&guard).header().has_prepared()
    }

    /// A map of 8,192 slots grown past 5/8 (5,400 keys, each mapped to
    /// itself): its successor is prepared, no resize yet.
    fn grown_past_five_eighths() -> WordMap<u64, u64> {
        let map = WordMap::<u64, u64>::new();
        for k in 0..5_400u64 {
            map.insert(k, k);
        }
        assert!(root_prepared(&map));
        map
    }

    /// A prepared table that the resize does not want (the keys were
    /// removed: it shrinks instead) is freed with the table that prepared
    /// it, and the map stays correct (a leak shows under LeakSanitizer).
    #[test]
    #[cfg(target_os = "linux")]
    fn an_unwanted_prepared_table_is_freed() {
        let map = grown_past_five_eighths();
        for k in 0..5_390u64 {
            assert_eq!(map.remove(&k), Some(k));
        }
        for k in 5_390..5_400u64 {
            assert_eq!(map.get(&k), Some(k));
        }
        assert!(map.capacity() < 4096, "shrank: {}", map.capacity());
    }

    /// A map sized with `with_capacity` does not prepare a growth, even
    /// filled past its size and past 5/8 of its slots (12,000: 7,500), up
    /// to its load limit: the user sized it not to grow. (Past 9/16 live,
    /// 6,750 keys, not its same-size rebuild either: that would not serve
    /// the growth.)
    #[test]
    #[cfg(target_os = "linux")]
    fn a_presized_map_prepares_no_growth() {
        let map = WordMap::<u64, u64>::with_capacity(6_000);
        assert_eq!(map.stats().slots, 12_000);
        for k in 0..8_990u64 {
            map.insert(k, k);
            assert!(!root_prepared(&map), "prepared at {k}");
        }
        assert_eq!(map.stats().resizes, 0);
    }

    /// The root's address and its prepared table's (0 if none).
    fn root_and_prepared(map: &WordMap<u64, u64>) -> (usize, usize) {
        let guard = map.raw().pin();
        let root = map.raw().resizer().root(&guard);
        (
            addr(root),
            root.header().prepared.load(Relaxed).table() as usize,
        )
    }

    /// Inserts keys `0..window`, then keys on to `end`, each evicting the
    /// key `window` before it; returns how many of the resizes meanwhile
    /// installed the table prepared for them, and how many a fresh one.
    fn churn(map: &WordMap<u64, u64>, window: u64, end: u64) -> (usize, usize) {
        for k in 0..window {
            map.insert(k, k);
        }
        let (mut installed, mut fresh) = (0, 0);
        for k in window..end {
            let (root, prepared) = root_and_prepared(map);
            map.insert(k, k);
            map.remove(&(k - window));
            let (now, _) = root_and_prepared(map);
            if now != root {
                if now == prepared {
                    installed += 1;
                } else {
                    fresh += 1;
                }
            }
        }
        (installed, fresh)
    }

    /// A map whose removals keep it at half live or less rebuilds once per
    /// so many new keys: each rebuild's table is prepared ahead, and the
    /// rebuild installs it (with the keys all there).
    #[test]
    #[cfg(target_os = "linux")]
    fn a_churning_map_prepares_its_rebuilds() {
        let map = WordMap::<u64, u64>::new();
        let (installed, fresh) = churn(&map, 4_000, 60_000);
        assert_eq!(map.len(), 4_000);
        // Its size settles at 2/5 live (the map was still growing when
        // the first cycle's successor was prepared: a doubling, and from
        // then on rebuilds at `5·len/2`, of the 4,001 keys counted when the
        // insert that starts a rebuild has landed, in whole grains).
        let settled = (5 * 4_001 / 2usize).next_multiple_of(crate::resize::policy::GRAIN);
        assert!(map.stats().slots <= settled, "{:?}", map.stats());
        assert!(
            installed >= 5 && fresh <= 1,
            "{installed} prepared rebuilds installed, {fresh} fresh tables"
        );
        for k in 56_000..60_000u64 {
            assert_eq!(map.get(&k), Some(k));
        }
    }

    /// A map presized with `with_capacity` that churns at that size
    /// prepares its rebuilds too, each of them, even one key over half live
    /// (6,001 keys in 12,000 slots: the resize predicted is a growth, which
    /// a presized table does not prepare, but the same-size rebuild serves
    /// it). Only a growth past the map's size is not prepared.
    #[test]
    #[cfg(target_os = "linux")]
    fn a_presized_churning_map_prepares_its_rebuilds() {
        let map = WordMap::<u64, u64>::with_capacity(6_000);
        let slots = map.stats().slots;
        let (installed, fresh) = churn(&map, 6_001, 60_000);
        assert_eq!(map.stats().slots, slots);
        assert!(
            installed >= 5 && fresh == 0,
            "{installed} prepared rebuilds installed, {fresh} fresh tables"
        );
    }

    /// A map that churned at half live past 5/8 (its rebuild prepared) and
    /// then grows faster than the rebuild leaves room for doubles into a
    /// fresh table; the prepared rebuild is freed with its table, and the
    /// doubled table prepares its own growth before the next resize.
    #[test]
    #[cfg(target_os = "linux")]
    fn a_map_that_grows_after_churning_prepares() {
        let map = WordMap::<u64, u64>::new();
        for k in 0..4_000u64 {
            map.insert(k, k);
        }
        let claimed = |m: &WordMap<u64, u64>| m.stats().len + m.stats().tombstones;
        let mut k = 4_000u64;
        while claimed(&map) < 5_300 {
            map.insert(k, k);
            map.remove(&(k - 4_000));
            k += 1;
        }
        assert_eq!(map.stats().slots, 8_192);
        assert!(root_prepared(&map), "the rebuild is prepared");
        // Grow: from 4,000 live and 5,300 claimed, the resize at 6,144
        // claimed finds about 4,844 live, past 9/16 of the rebuild's
        // 8,192 slots, so the rebuild no longer serves it.
        let resizes = map.stats().resizes;
        while map.stats().resizes == resizes {
            map.insert(k, k);
            k += 1;
        }
        // (The capacity of the new table: the migration has only begun.)
        assert_eq!(map.capacity(), 12_288, "doubled");
        let resizes = map.stats().resizes;
        while !root_prepared(&map) {
            map.insert(k, k);
            k += 1;
            assert_eq!(map.stats().resizes, resizes, "resized unprepared");
        }
    }

    /// A full lap's resize at least doubles even where the table has a
    /// same-size rebuild prepared, which a growth from the policy may take
    /// (`policy::prepared_serves`): a map grown to 9,600 keys (16,384
    /// slots, not yet 5/8 claimed) that then churns at 5,600 live prepares
    /// a rebuild (of 13,328 slots), and a probe that finds the table full
    /// gets a fresh table of 32,768 slots instead.
    #[test]
    #[cfg(target_os = "linux")]
    fn a_full_lap_doubles_past_a_prepared_rebuild() {
        let map = WordMap::<u64, u64>::new();
        for k in 0..9_600u64 {
            map.insert(k, k);
        }
        assert!(!root_prepared(&map));
        for k in 0..4_000u64 {
            map.remove(&k);
        }
        let mut k = 9_600u64;
        while !root_prepared(&map) {
            map.insert(k, k);
            map.remove(&(k - 5_600));
            k += 1;
            assert!(k < 20_000, "no rebuild prepared");
        }
        let guard = map.raw().pin();
        let resizer = map.raw().resizer();
        let root = resizer.root(&guard);
        assert_eq!(root.header().slots(), 16_384);
        let prepared = root.header().prepared.load(Relaxed).table();
        // SAFETY: ready, freed with `root`, which `guard` protects (this
        // thread releases nothing here).
        let prepared_slots = unsafe { &*prepared }.header().slots();
        assert!(prepared_slots < 16_384, "a rebuild: {prepared_slots}");
        resizer.start_resize_full(root, &guard);
        let next = next_of(root, &guard).expect("a resize started");
        assert!(!std::ptr::eq(next, prepared), "the prepared rebuild served");
        assert_eq!(next.header().slots(), 32_768);
        drop(guard);
        for j in k - 5_600..k {
            assert_eq!(map.get(&j), Some(j));
        }
        assert_eq!(map.len(), 5_600);
    }

    /// `shrink_to_fit` on a map that stopped growing past 5/8 gives its
    /// prepared table back (a rebuild into the smallest table that holds
    /// its keys), keeping every key.
    #[test]
    #[cfg(target_os = "linux")]
    fn shrink_to_fit_releases_the_prepared_table() {
        let map = grown_past_five_eighths();
        assert_eq!(map.stats().slots, 8_192);
        map.shrink_to_fit();
        assert!(!root_prepared(&map));
        assert_eq!(map.stats().slots, policy::slots_to_fit(5_400));
        assert_eq!(map.stats().slots, 7_200);
        assert_eq!(map.len(), 5_400);
        for k in 0..5_400u64 {
            assert_eq!(map.get(&k), Some(k));
        }
    }
}

/// Marks a cursor's migration abandoned if dropped, that is, if the code
/// it guards unwinds (it is forgotten otherwise): a sub-chunk a party took
/// and did not complete ([`Cursor::abandon`]).
struct AbandonOnUnwind<'a>(&'a Cursor);

impl Drop for AbandonOnUnwind<'_> {
    #[cold]
    fn drop(&mut self) {
        self.0.abandon();
    }
}
