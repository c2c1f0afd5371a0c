//! [`Stats`], and the thread-owned counters behind `len` and table
//! occupancy.

use crossbeam_utils::CachePadded;

use crate::reclaim::{thread_record, PerRecord};
// Statistics atomics: not interleaved by loom unless asked (`sync/mod.rs`).
use crate::sync::stat::{AtomicIsize, AtomicU64, AtomicUsize};
use crate::sync::Ordering::Relaxed;

/// A snapshot of a map's counters, from [`HashMap::stats`](crate::HashMap::stats).
///
/// Every field is read without stopping writers, so under concurrent writes
/// the fields are each recent but not mutually consistent. Reading them costs
/// a few dozen relaxed loads, never a scan of the table.
///
/// ```
/// let map = lfmap::HashMap::new();
/// map.pin().insert(1, "one");
/// let stats = map.stats();
/// assert_eq!(stats.len, 1);
/// assert!(stats.capacity >= 1);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Number of entries.
    pub len: usize,
    /// Entries the current table holds before it starts a resize, and
    /// never fewer than `len` (above its batched counts' granularity a
    /// table takes a few keys past its load limit before its growth
    /// starts). The
    /// current table is the root: while a resize runs, the table being
    /// migrated from (`capacity()` on the map answers for the table being
    /// built instead).
    pub capacity: usize,
    /// Slots of the current table.
    pub slots: usize,
    /// Removed keys whose slots are not yet reclaimed (a resize drops them).
    /// An estimate from counts: the current table's claimed slots less
    /// `len`. It may read low: tables of 8,192 slots and more count
    /// claims in batches, and while a resize runs, keys inserted into the
    /// new table count in `len` but not in the old table's claims.
    pub tombstones: usize,
    /// Resizes started (growths, rebuilds and shrinks).
    pub resizes: u64,
    /// Resizes finished (the root moved to the new table); never more than
    /// `resizes`, so `resizes - resizes_finished`, the number in progress,
    /// cannot underflow.
    pub resizes_finished: u64,
    /// Keys inserted into the map (new keys, including re-inserted removed
    /// ones; replacing a present key's value does not count).
    pub inserts: u64,
    /// Keys removed from the map.
    pub removes: u64,
    /// Migration sub-chunks (8 slots each) moved by threads that were
    /// helping: by a writer that met the resize (and by reads only as
    /// `chunks_read`); `finish` passes, which move whole tables
    /// (`reserve`, `shrink_to_fit`, iteration, resizes stacking up), are
    /// not counted.
    pub chunks_helped: u64,
    /// Migration sub-chunks moved by reads: a read moves one only once the
    /// writes and resize helpers moved the migration it meets by at most
    /// 64 sub-chunks in 50 ms (they stopped while it was open, as after a
    /// bulk load), so that a map that is only read from then on still
    /// finishes it and frees its old table. Not counted in `chunks_helped`.
    pub chunks_read: u64,
    /// Migration sub-chunks moved by [`ResizeHelper`](crate::ResizeHelper)s:
    /// the work a helper thread took off the map's writers. Not counted in
    /// `chunks_helped`.
    pub chunks_assisted: u64,
    /// Tables prepared ahead of a growth and released unused: past 5/8 of
    /// its load a table prepares its successor (twice its memory, faulted
    /// in while the map fills), and once the map has claimed at most 64
    /// slots over a second of one thread's operations, at least 4,096 of
    /// them (it stopped growing
    /// short of the resize), an operation that meets the prepared table
    /// releases it. It is prepared again once the map claims another 1/64
    /// of the table's slots (twice that after a second release, and never
    /// later than 23/32 of them); a table releases at most three.
    pub prepared_released: u64,
    /// Generation of the current table (0 before the first resize).
    pub generation: u64,
    /// Retired entries, removed values and tables not yet freed by the
    /// reclaimer (each thread's last retirements wait in its batch until
    /// it fills or `flush` hands it over). A retired table counts as one,
    /// also while the entries it owns (the tombstones of keys removed
    /// while it was the current table, whose values went at removal) are
    /// freed a few at a time by the map's later writes.
    pub pending_garbage: usize,
}

/// A counter kept in thread-owned cells: each thread adds to its own cell
/// with a plain load and store (no locked instruction, no shared cache line
/// written), and a reader sums the cells.
///
/// A thread's cell sits at the index of its reclamation record
/// ([`thread_record`]): the thread holds that record until it exits, and
/// the next thread to claim it continues from the value left (the record's
/// hand-over orders the two). A thread with no record any more (inside a
/// thread-local destructor), and every thread under loom, adds to one
/// shared cell with `fetch_add` instead.
///
/// All accesses are `Relaxed`: counters feed statistics and resize
/// heuristics, never the correctness of the protocol. A sum read while
/// threads add is each cell's recent value, not one instant's total.
///
/// (The pending-garbage gauge of the seize and crossbeam-epoch backends;
/// unused by a default build.)
#[allow(dead_code)]
pub(crate) struct Counter {
    cells: PerRecord<CachePadded<AtomicIsize>>,
    shared: AtomicIsize,
}

#[allow(dead_code)]
impl Counter {
    pub(crate) fn new() -> Counter {
        Counter {
            cells: PerRecord::new(|| CachePadded::new(AtomicIsize::new(0))),
            shared: AtomicIsize::new(0),
        }
    }

    /// Adds `delta` to this thread's cell; returns the cell's new value
    /// (callers use it to decide cheaply when to look at the total).
    #[inline]
    pub(crate) fn add(&self, delta: isize) -> isize {
        match thread_record() {
            Some(i) => own_add(self.cells.get(i), delta),
            None => self.shared.fetch_add(delta, Relaxed).wrapping_add(delta),
        }
    }

    /// The total, clamped at zero (cells may be negative: a gauge raised on
    /// one thread and lowered on another). Summed with wraparound: cells
    /// that each wrapped still add up to the true total while it fits
    /// (`isize` is 32 bits on some targets), where a checked sum would
    /// panic.
    pub(crate) fn sum(&self) -> usize {
        let cells = self
            .cells
            .each()
            .fold(0isize, |t, c| t.wrapping_add(c.load(Relaxed)));
        cells.wrapping_add(self.shared.load(Relaxed)).max(0) as usize
    }
}

/// Adds `delta` to a cell only this thread writes: load, then store (the
/// single writer makes the pair exact; readers see either value).
#[inline]
fn own_add(cell: &AtomicIsize, delta: isize) -> isize {
    let v = cell.load(Relaxed).wrapping_add(delta);
    cell.store(v, Relaxed);
    v
}

/// Slots claimed in one table (live keys plus tombstones): a shared count
/// that threads add to in batches ([`MapCounters::claimed`]), so that a
/// claim costs a locked add only once per batch.
pub(crate) struct Occupancy(AtomicUsize);

impl Occupancy {
    pub(crate) fn new() -> Occupancy {
        Occupancy(AtomicUsize::new(0))
    }

    /// Adds a batch of `n` claims; returns the new total. Relaxed: the
    /// count only paces resizes (`policy::should_grow`); no memory is
    /// published or read through it, and a resize that starts a little
    /// early or late is correct either way.
    #[inline]
    pub(crate) fn add(&self, n: usize) -> usize {
        self.0.fetch_add(n, Relaxed).wrapping_add(n)
    }

    /// The claims counted so far (each thread may hold back a partial
    /// batch: [`claim_batch`]). Relaxed: as in `add`.
    #[inline]
    pub(crate) fn get(&self) -> usize {
        self.0.load(Relaxed)
    }
}

/// Claims a thread counts on its own before adding them to a table's
/// [`Occupancy`] in one locked add: every claim for tables under 8192
/// slots (whose load limit is a few thousand claims away at most), then one
/// batch per 4096 slots, at most 16. A party holds back fewer than a batch
/// per table, so the count lags by under `parties * slots / 4096` claims
/// (1/64 of the slots at 64 parties, 0.4 % at 16): a resize starts that
/// late at most. Two things keep
/// the lag from hurting: a write whose probe runs long adds its party's
/// held-back claims at once (`MapCounters::claimed`'s `flush`), and a
/// write that laps a full table starts a resize whatever the count.
#[inline]
pub(crate) fn claim_batch(slots: usize) -> usize {
    (slots >> 12).clamp(1, 16)
}

/// The length that `inserted` and `removed` keys leave (0 if a concurrent
/// read saw more removals than insertions). At most the keys a table can
/// hold, so it fits `usize` on every target.
fn len_of(inserted: u64, removed: u64) -> usize {
    usize::try_from(inserted.saturating_sub(removed)).unwrap_or(usize::MAX)
}

/// One party's counts in one map: written only by the holder of the
/// record at whose index it sits (the writing thread's, or its owned
/// guard's), with plain loads and stores; read by anyone (`len`, `stats`).
struct PartyCounts {
    /// Keys this party inserted (new or revived) and removed. 64 bits on
    /// every target: they only grow, and a 32-bit count would wrap after
    /// 2^31 writes, minutes of a busy map's life (its `len` then read 0,
    /// which would shrink the map's table).
    inserted: AtomicU64,
    removed: AtomicU64,
    /// The generation + 1 of the table its held-back claims were made in
    /// (0: none), and how many ([`MapCounters::claimed`]).
    claims_table: AtomicU64,
    claims: AtomicUsize,
    /// Migration sub-chunks this party moved while helping.
    chunks: AtomicU64,
    /// The generation + 1 of the table whose migration range this party
    /// last worked in (0: none), that range, and the first slot of the
    /// sub-chunk it fetched ahead (`usize::MAX`: none)
    /// ([`MapCounters::range_hint`]).
    range_table: AtomicU64,
    range: AtomicUsize,
    ahead: AtomicUsize,
    /// Whether this party's reads move a migration the writes left
    /// (`resize/stall.rs`).
    #[cfg(not(loom))]
    stall: crate::resize::stall::StallWatch,
}

impl PartyCounts {
    fn new() -> PartyCounts {
        PartyCounts {
            inserted: AtomicU64::new(0),
            removed: AtomicU64::new(0),
            claims_table: AtomicU64::new(0),
            claims: AtomicUsize::new(0),
            chunks: AtomicU64::new(0),
            range_table: AtomicU64::new(0),
            range: AtomicUsize::new(0),
            ahead: AtomicUsize::new(usize::MAX),
            #[cfg(not(loom))]
            stall: crate::resize::stall::StallWatch::new(),
        }
    }
}

/// A plain relaxed event counter.
pub(crate) struct Events(AtomicUsize);

impl Events {
    pub(crate) fn new() -> Events {
        Events(AtomicUsize::new(0))
    }
    #[inline]
    pub(crate) fn bump(&self) {
        self.0.fetch_add(1, Relaxed);
    }
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed) as u64
    }
}

/// The counters both maps keep, and the one way `len` and [`Stats`] are
/// computed from them.
///
/// Keys inserted and removed (`len` is the difference: two monotonic
/// counts cost the same as one up-down count and give the metrics for
/// free) and the claims held back from a table's occupancy are kept per
/// party: a [`PartyCounts`] at the index of the record the writer's guard
/// pins with (`ReclaimGuard::slot`), so a count is a plain load and store
/// of a line only that party writes. A guard with no record (under loom)
/// counts in one shared cell with `fetch_add` instead.
pub(crate) struct MapCounters {
    parties: PerRecord<CachePadded<PartyCounts>>,
    shared: PartyCounts,
    pub(crate) resizes: Events,
    pub(crate) promotions: Events,
    /// Migration sub-chunks moved by resize helpers (`resize/assist.rs`):
    /// few threads, so one shared counter.
    pub(crate) assisted: Events,
    /// Migration sub-chunks moved by reads (`resize/stall.rs`): only while
    /// no write moves the migration, so one shared counter.
    pub(crate) read: Events,
    /// Prepared tables released unused (`Resizer::release_prepared`).
    pub(crate) released: Events,
}

/// What a [`Stats`] snapshot needs from the map's current root table.
pub(crate) struct RootFacts {
    pub(crate) slots: usize,
    pub(crate) occupied: usize,
    pub(crate) generation: u64,
    pub(crate) pending_garbage: usize,
}

impl MapCounters {
    pub(crate) fn new() -> MapCounters {
        MapCounters {
            parties: PerRecord::new(|| CachePadded::new(PartyCounts::new())),
            shared: PartyCounts::new(),
            resizes: Events::new(),
            promotions: Events::new(),
            assisted: Events::new(),
            read: Events::new(),
            released: Events::new(),
        }
    }

    /// Migration sub-chunks moved by writes and resize helpers, in every
    /// migration of the map so far (not by reads): a sum over the
    /// parties' cells, for the reads' stall watch (`resize/stall.rs`),
    /// once in 64 reads that meet a migration.
    #[cfg(not(loom))]
    pub(crate) fn moved_by_others(&self) -> u64 {
        self.sum(|p| &p.chunks).wrapping_add(self.assisted.get())
    }

    /// The stall watch of the party holding record `slot`
    /// (`resize/stall.rs`); none without a record.
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn stall_watch(
        &self,
        slot: Option<usize>,
    ) -> Option<&crate::resize::stall::StallWatch> {
        slot.map(|i| &self.parties.get(i).stall)
    }

    /// Adds one to count `f` of the party holding record `slot` (a plain
    /// load and store of its own line), or of the shared cell without a
    /// record; returns the cell's new value.
    #[inline]
    fn bump(&self, slot: Option<usize>, f: fn(&PartyCounts) -> &AtomicU64) -> u64 {
        match slot {
            Some(i) => {
                // A plain load and store: this party alone writes the cell.
                let cell = f(self.parties.get(i));
                let v = cell.load(Relaxed).wrapping_add(1);
                cell.store(v, Relaxed);
                v
            }
            None => f(&self.shared).fetch_add(1, Relaxed).wrapping_add(1),
        }
    }

    /// Counts a key inserted by the party holding record `slot`.
    #[inline]
    pub(crate) fn inserted(&self, slot: Option<usize>) {
        self.bump(slot, |p| &p.inserted);
    }

    /// Counts a key removed by the party holding record `slot`; returns
    /// that party's removals so far (callers sample on it).
    #[inline]
    pub(crate) fn removed(&self, slot: Option<usize>) -> u64 {
        self.bump(slot, |p| &p.removed)
    }

    /// Counts a migration sub-chunk moved by the party holding record
    /// `slot` (per party, like the key counts: two helpers of one migration
    /// each add to a line of their own, not to one they would pass between
    /// them once per sub-chunk).
    #[inline]
    pub(crate) fn helped(&self, slot: Option<usize>) {
        self.bump(slot, |p| &p.chunks);
    }

    /// The migration range (`resize/cursor.rs`) the party holding record
    /// `slot` last took a sub-chunk from in the table of generation
    /// `generation`, if any, and the first slot of the sub-chunk it fetched
    /// ahead then (`usize::MAX`: none): where its next helping write looks
    /// first, and whether that write's lines are already fetched. Per map
    /// and party, so a thread that writes to several migrating maps keeps
    /// its range in each. A hint: any party may take any range's
    /// sub-chunks. None without a record (under loom): every helping write
    /// then claims or steals.
    #[inline]
    pub(crate) fn range_hint(
        &self,
        slot: Option<usize>,
        generation: u64,
    ) -> Option<(usize, usize)> {
        let party = self.parties.get(slot?);
        // Plain loads of cells only this party writes.
        (party.range_table.load(Relaxed) == generation.wrapping_add(1))
            .then(|| (party.range.load(Relaxed), party.ahead.load(Relaxed)))
    }

    /// Records `range` of the table of generation `generation`, and the
    /// sub-chunk fetched ahead (`ahead`, its first slot, or `usize::MAX`),
    /// for the party holding record `slot` ([`range_hint`](Self::range_hint)).
    #[inline]
    pub(crate) fn set_range_hint(
        &self,
        slot: Option<usize>,
        generation: u64,
        range: usize,
        ahead: usize,
    ) {
        if let Some(i) = slot {
            let party = self.parties.get(i);
            // Plain stores to cells only this party writes.
            party.range_table.store(generation.wrapping_add(1), Relaxed);
            party.range.store(range, Relaxed);
            party.ahead.store(ahead, Relaxed);
        }
    }

    /// Counts a claim, by the party holding record `slot`, of a slot of the
    /// table of generation `generation`, in the party's batch; returns the
    /// batch when it reaches `batch` claims, or at once if `flush` (a long
    /// probe: the table may be fuller than its count says), and the caller
    /// adds it to the table's [`Occupancy`]. Claims held back for another
    /// table are dropped: a party works on one table at a time except
    /// across a resize, and the count only paces resizes.
    #[inline]
    pub(crate) fn claimed(
        &self,
        slot: Option<usize>,
        generation: u64,
        batch: usize,
        flush: bool,
    ) -> Option<usize> {
        let (Some(i), true) = (slot, batch > 1) else {
            return Some(1);
        };
        let party = self.parties.get(i);
        // Plain loads and stores of cells only this party writes.
        let tag = generation.wrapping_add(1);
        let n = if party.claims_table.load(Relaxed) == tag {
            party.claims.load(Relaxed) + 1
        } else {
            party.claims_table.store(tag, Relaxed);
            1
        };
        if n >= batch || flush {
            party.claims.store(0, Relaxed);
            Some(n)
        } else {
            party.claims.store(n, Relaxed);
            None
        }
    }

    /// The claims of slots of the table of generation `generation` that
    /// parties hold back in their batches ([`claimed`](Self::claimed)) and
    /// its [`Occupancy`] does not count yet: up to `batch - 1` a party. A
    /// `reserve` that finds room in that table adds them, or the inserts
    /// it makes room for would find the table fuller than it counted (found
    /// by an outside test: 15 held back, a resize 11 inserts short of a
    /// `reserve(n)`'s `n`). Relaxed loads of cells their parties write: a
    /// snapshot, exact for the calling thread's own batch; another party's
    /// may be read just as it lands in the table's count, and then counts
    /// twice (at most a batch each). An overestimate costs `reserve` at
    /// most a rebuild at the table's size, which ends its loop. A batch of
    /// an exited thread stays, as the slots it claimed do.
    pub(crate) fn held_back(&self, generation: u64) -> usize {
        let tag = generation.wrapping_add(1);
        self.parties
            .each()
            .filter(|party| party.claims_table.load(Relaxed) == tag)
            .map(|party| party.claims.load(Relaxed))
            .fold(0, usize::saturating_add)
    }

    /// How many parties' counts a sum reads (at least 1): what one
    /// [`len`](Self::len) costs, in cache lines.
    #[inline]
    pub(crate) fn parties(&self) -> usize {
        self.parties.installed().max(1)
    }

    /// One of the parties' counts, summed over every party (64-bit counts
    /// that only grow: no wraparound in practice).
    fn sum(&self, f: fn(&PartyCounts) -> &AtomicU64) -> u64 {
        let parties = self
            .parties
            .each()
            .fold(0u64, |t, p| t.wrapping_add(f(p).load(Relaxed)));
        parties.wrapping_add(f(&self.shared).load(Relaxed))
    }

    /// Keys inserted and removed, over every party.
    fn sums(&self) -> (u64, u64) {
        // Each cell is read once, Relaxed, at some moment of the call: each
        // sum lies between its values at the call's start and end, so the
        // length is off by at most the writes that complete meanwhile (no
        // snapshot of independent cells is exact without stopping writers).
        // (A writer counts after its CAS, so even a remove seen before its
        // key's insert is possible.) The clamps keep any result at 0 or
        // above.
        let removed = self.sum(|p| &p.removed);
        (self.sum(|p| &p.inserted), removed)
    }

    /// Number of keys (see `HashMap::len`).
    pub(crate) fn len(&self) -> usize {
        let (inserted, removed) = self.sums();
        len_of(inserted, removed)
    }

    /// [`len`](Self::len), or `None` if more removals than insertions were
    /// counted: a read racing the counts of one key's insert and removal
    /// (briefly), or a map whose keys' hashes are not deterministic, where a
    /// key copied twice by a `WordMap`'s migration is removed twice (for
    /// good: the count no longer says what the tables hold).
    pub(crate) fn len_if_consistent(&self) -> Option<usize> {
        let (inserted, removed) = self.sums();
        (inserted >= removed).then(|| len_of(inserted, removed))
    }

    /// The map's root was replaced by an empty table of generation
    /// `generation` (a map emptied with exclusive access: `drain`, or the
    /// consuming `into_iter`). Its keys count as removed (so `len` reads 0
    /// while the cumulative counts keep growing, as [`Stats`] documents
    /// them), and every party's held-back claims and migration range,
    /// which were the old table's, are dropped: the new table may reuse
    /// the old one's generation tag, and they must not reach its occupancy
    /// (found by review).
    pub(crate) fn reset_for_empty_root(&mut self) {
        // `&mut self`: no writer runs, so the sums are exact.
        let (inserts, removes) = self.sums();
        let len = inserts.wrapping_sub(removes);
        // Relaxed: `&mut self` orders these stores before any later use of
        // the map.
        for p in self.parties.each().map(|p| &**p).chain([&self.shared]) {
            p.claims_table.store(0, Relaxed);
            p.claims.store(0, Relaxed);
            p.range_table.store(0, Relaxed);
            p.ahead.store(usize::MAX, Relaxed);
        }
        let removed = self.shared.removed.load(Relaxed);
        self.shared
            .removed
            .store(removed.wrapping_add(len), Relaxed);
    }

    pub(crate) fn stats(&self, root: RootFacts) -> Stats {
        let (inserts, removes) = self.sums();
        let len = len_of(inserts, removes);
        // Finished first, then started: a resize is counted as started
        // after its install and may finish (be promoted) before that, so
        // read the other way round a fast resize could show as finished
        // and not started. The `min` covers the first case too.
        let finished = self.promotions.get();
        let resizes = self.resizes.get();
        Stats {
            len,
            // Never below `len` (a table holds a few keys past its load
            // limit before its growth starts), as `capacity()`.
            capacity: crate::resize::policy::capacity(root.slots).max(len),
            slots: root.slots,
            tombstones: root.occupied.saturating_sub(len),
            resizes,
            resizes_finished: finished.min(resizes),
            inserts,
            removes,
            chunks_helped: self.sum(|p| &p.chunks),
            chunks_read: self.read.get(),
            chunks_assisted: self.assisted.get(),
            prepared_released: self.released.get(),
            generation: root.generation,
            pending_garbage: root.pending_garbage,
        }
    }
}

/// How far keys sit from their home slots in the map's current table: what
/// lookups cost. From [`HashMap::probe_stats`](crate::HashMap::probe_stats)
/// and [`WordMap::probe_stats`](crate::WordMap::probe_stats).
///
/// Unlike [`Stats`], this scans the table: O(slots). Meant for diagnosing a
/// hasher or a workload (and for lfmap's own tests), not for a hot path.
/// With a sound hasher, [`mean_probe`](ProbeStats::mean_probe) stays below
/// about 2.5 slots at any load lfmap allows (3/4), whatever order keys were
/// inserted or removed in; a mean far above that means many keys share hash
/// bits.
///
/// ```
/// let map = lfmap::HashMap::new();
/// let m = map.pin();
/// for i in 0..10_000 {
///     m.insert(i, i);
/// }
/// let probes = map.probe_stats();
/// assert_eq!(probes.keys, 10_000);
/// assert!(probes.mean_probe() < 4.0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProbeStats {
    /// Slots of the table scanned.
    pub slots: usize,
    /// Live keys found in it.
    pub keys: usize,
    /// Over those keys, the total number of slots a lookup reads to reach
    /// each (1 for a key in its home slot). Saturating: with a hasher that
    /// sends every key to one home it grows as `keys² / 2`, past
    /// `usize::MAX` near 92,000 keys on 32-bit targets.
    pub total_probe: usize,
    /// The most slots a lookup of a present key reads.
    pub max_probe: usize,
    /// The longest run of consecutive claimed slots (live keys and removed
    /// keys' tombstones, wrapping around the end): a lookup of an absent
    /// key reads at most this many slots plus one.
    pub longest_run: usize,
}

impl ProbeStats {
    /// Mean slots a lookup of a present key reads (0 for an empty map).
    ///
    /// ```
    /// let map = lfmap::WordMap::new();
    /// map.insert(1u64, 2u64);
    /// assert_eq!(map.probe_stats().mean_probe(), 1.0);
    /// ```
    pub fn mean_probe(&self) -> f64 {
        if self.keys == 0 {
            0.0
        } else {
            self.total_probe as f64 / self.keys as f64
        }
    }
}

/// Builds a [`ProbeStats`] from one pass over a table's slots, in order.
pub(crate) struct ProbeScan {
    stats: ProbeStats,
    /// The run of claimed slots that starts at slot 0 (it may continue the
    /// run that ends the table).
    first_run: Option<usize>,
    run: usize,
}

impl ProbeScan {
    pub(crate) fn new(slots: usize) -> ProbeScan {
        ProbeScan {
            stats: ProbeStats {
                slots,
                ..ProbeStats::default()
            },
            first_run: None,
            run: 0,
        }
    }

    /// The next slot: whether it is claimed, and for a live key, the probe
    /// length that reaches it.
    pub(crate) fn slot(&mut self, claimed: bool, live_probe: Option<usize>) {
        if let Some(p) = live_probe {
            self.stats.keys += 1;
            self.stats.total_probe = self.stats.total_probe.saturating_add(p);
            self.stats.max_probe = self.stats.max_probe.max(p);
        }
        if claimed {
            self.run += 1;
        } else {
            self.end_run();
        }
    }

    fn end_run(&mut self) {
        if self.first_run.is_none() {
            self.first_run = Some(self.run);
        }
        self.stats.longest_run = self.stats.longest_run.max(self.run);
        self.run = 0;
    }

    pub(crate) fn finish(mut self) -> ProbeStats {
        match self.first_run {
            // Every slot claimed: one run, the whole table.
            None => self.stats.longest_run = self.run,
            // The last run wraps into the first.
            Some(first) => {
                let wrapped = self.run + first;
                self.stats.longest_run = self.stats.longest_run.max(wrapped);
            }
        }
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::ProbeScan;

    #[test]
    fn probe_scan_counts_wrapping_runs() {
        let mut scan = ProbeScan::new(8);
        // claimed: x x . x . . x x  -> runs 2, 1, and 2 wrapping into 2 = 4
        for (i, claimed) in [1, 1, 0, 1, 0, 0, 1, 1].into_iter().enumerate() {
            scan.slot(claimed == 1, (claimed == 1).then_some(i % 3 + 1));
        }
        let s = scan.finish();
        assert_eq!((s.keys, s.longest_run, s.max_probe), (5, 4, 2));
        assert_eq!(s.total_probe, 1 + 2 + 1 + 1 + 2);

        let mut full = ProbeScan::new(4);
        (0..4).for_each(|_| full.slot(true, None));
        assert_eq!(full.finish().longest_run, 4);

        let mut empty = ProbeScan::new(4);
        (0..4).for_each(|_| empty.slot(false, None));
        let e = empty.finish();
        assert_eq!((e.longest_run, e.keys, e.mean_probe()), (0, 0, 0.0));
    }
}
