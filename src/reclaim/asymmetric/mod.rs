//! `WordMap`'s reclaimer: epochs with an asymmetric barrier, for a map whose
//! only garbage is whole tables.
//!
//! A `WordMap` retires an object once per resize (the table it promoted
//! past) and never anything else, while every operation pins. So the pin is
//! made as cheap as it can be and the rare retirement pays for it:
//!
//! * **pin**: the thread writes the global epoch into its own record (a
//!   `Release` store, a plain `mov` on x86) and issues a *compiler* fence:
//!   no locked instruction, so
//!   the CPU keeps overlapping the cache misses of consecutive lookups.
//! * **unpin**: a `Release` store of "not pinned" into the record.
//! * **retire** (once per resize): bump the global epoch, issue a *heavy*
//!   barrier, `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, which runs a
//!   full fence on every CPU running a thread of this process, then queue
//!   the table with the new epoch as its stamp.
//! * **free**: a queued table is freed once every record is either not
//!   pinned or pinned at an epoch at least its stamp (pinned later than the
//!   retirement).
//!
//! Why such a record proves nobody holds the table: see `docs/design.md`,
//! "Table reclamation". In short, the heavy barrier splits every reader's
//! pin at one point: either the reader's announcement is visible to the
//! scan, or the reader loads the root after the unlink and never sees the
//! table. The orderings, step by step:
//!
//! | step | access | ordering | why |
//! |---|---|---|---|
//! | pin | load the epoch | `Acquire` | pairs with the bump: a pin that reads a stamp's epoch happens after that table's unlink ([`registry`], `announce`) |
//! | pin | store the announcement | `Release` | a scan that reads it where an earlier pin of the record ended must see that pin's accesses (`announce`) |
//! | pin | light barrier | compiler fence, or `fence(SeqCst)` | the store before the root load, against the heavy barrier ([`barrier`]) |
//! | unpin | store "not pinned" | `Release` | the pin's table accesses happen before a free decided on it ([`guard`]) |
//! | retire | bump the epoch | `AcqRel` | see [`TableReclaim::retire_now`] |
//! | retire | heavy barrier, then push | `membarrier` or `fence(SeqCst)`; `Release` push | every pin now shows its announcement or loads the root after the unlink; the push carries that to the scanner ([`retired`]) |
//! | scan | take the queue, fence, read records | `Acquire` swap, `fence(SeqCst)`, `Acquire` loads | after every taken retirement's barrier; sees every announcement the barriers split off ([`TableReclaim::reclaim`]) |
//!
//! Where `membarrier` is missing (not Linux, kernels before 4.14, valgrind),
//! the pin issues a `SeqCst` fence after its store and the retirer a `SeqCst`
//! fence in place of the syscall: the textbook store-fence-load pairing,
//! slower but with the same proof.
//!
//! seize (the generic map's default) is not used here because its unpin is
//! an atomic swap, a full barrier per operation; with seize's own
//! membarrier mode (off in this crate: the generic map retires every
//! removed entry, and a syscall per 32 of them cost more than it saved) the
//! pin is cheap but the unpin is not. For a map that retires a table per
//! resize, moving all fences to the retirer is the right trade.
//!
//! # Layout
//!
//! | module | what it holds |
//! |---|---|
//! | this one | [`TableReclaim`], the backend: retire, scan, pacing, drop |
//! | [`epoch`] | [`Epoch`](epoch::Epoch), the global epoch, a record's announcement (pinned at an epoch, or not) |
//! | [`registry`] | the process-wide [`Domain`]: the records, numbered densely, with a bit per taken record, and the global epoch; claim (lowest index first), announce, the oldest pin (of the records whose bit is set) |
//! | [`barrier`] | the barrier strategy: `membarrier` or fences |
//! | [`guard`] | the thread's record cache; the guards, pin and unpin |
//! | [`retired`] | a map's queue of retired tables and sealed batches |
//! | [`draining`] | a map's freeable tables that own entries, freed a step at a time by its writes |
//! | [`bags`] | each record's unsealed retirements in a map, the batches they seal into, and the freeable objects a sealer (or a tick while a table waits) adopts |
//! | [`pacing`] | when a scan may bump the epoch for sealed batches |
//! | [`orphans`] | the sweep that takes over the bags of records nobody holds (a spike of threads or owned guards that is gone) |
//! | `graveyard` | under loom: what an execution leaves, freed by the next |
//!
//! Records live in one process-wide domain shared by every `WordMap` and
//! are never freed (a record is reused by the next thread once its owner
//! exits). A thread keeps its record in a thread-local; a guard that must
//! move between threads (iterators) claims a record of its own.
//!
//! Under loom the same code runs (the domain a per-execution `lazy_static`,
//! the record cache loom's `thread_local`) with the fence strategy, and
//! `WordTable` tracks its own accesses so that loom reports a free that an
//! access does not happen before (`loom-tests/tests/word_models.rs`); each
//! execution's records are freed once it is over (`graveyard`), so a
//! user's loom run of hundreds of thousands of executions stays flat.

mod bags;
mod barrier;
pub(crate) mod directory;
mod draining;
mod epoch;
#[cfg(loom)]
pub(crate) mod graveyard;
mod guard;
mod orphans;
mod pacing;
mod registry;
mod retired;
#[cfg(all(test, not(loom)))]
mod tests;

use crossbeam_utils::CachePadded;

use self::bags::{Bag, Bags, Batch, Deferred};
pub(crate) use self::directory::PerRecord;
use self::draining::{Draining, Stepper};
pub(crate) use self::guard::thread_record;
use self::orphans::Sweep;
use self::registry::{Domain, Record, GLOBAL};
use self::retired::{Retired, RetiredTables};
use super::contract::Retire;
use std::cell::UnsafeCell;
use std::collections::VecDeque;

use crate::sync::fence;
use crate::sync::AtomicBool;
use crate::sync::Ordering::{Acquire, Release};
// `pending`, `tables` (statistics), `seals` and `tick` (scan pacing) are
// heuristics, never a step of the reclamation argument (`sync/mod.rs`, `stat`).
use crate::sync::stat::AtomicUsize;
use crate::sync::Ordering::{AcqRel, Relaxed, SeqCst};

/// Objects one scan frees at most while little is freeable: one batch,
/// plus one for each seal whose scan was skipped because another thread
/// was scanning. Each seal adds one batch and runs a scan, so the writers'
/// own scans keep pace with their retirements. Freeing a batch costs
/// 0.3–2 µs (its entries' lines are cold by then): four per scan put
/// 7–10 µs into one write in 64, the p99 of the writes of a steady load
/// (docs/benchmarks.md, "Issue #15"). A sealer's bag (or, while a table
/// waits, a ticking thread's) adopts the batch, and each retirement of its
/// holder frees four of its objects (`Bag::adopt`).
const FREE_PER_SCAN: usize = bags::BATCH;

/// Objects one scan frees at most, whatever the backlog: four batches.
const MAX_FREE_PER_SCAN: usize = 4 * bags::BATCH;

/// Entries of a freeable table (a `HashMap` table that owns keyed
/// tombstones' entries) that one step frees, at most: the scan that finds
/// the table freeable frees one step, and then every 17th write of a
/// thread one step of each such table, until it is gone ([`draining`],
/// `guard.rs`'s `STEP_PERIOD`; once writes stop, a pacing tick frees
/// [`FREE_PER_SCAN`] a tick). A churning map owes an entry per removal,
/// so this frees a table about twice as fast as a map that removes in
/// every other write fills the next, each table here getting its own step
/// (a backlog drains faster). Sixteen cold entries, fetched together, and
/// the slots around them cost about a microsecond here. Under loom a
/// table is freed whole by its scan: the models' tables are small, and
/// steps would only multiply their states.
const TABLE_STEP: usize = if cfg!(loom) { usize::MAX } else { 16 };

/// Stamped objects held from which scans free [`MAX_FREE_PER_SCAN`]: a
/// backlog (a pin that held everything back for a while) is worked off
/// four batches per scan. Above the batches one paced bump stamps at
/// 2 threads' full write rate (about 19 a millisecond), so that a steady
/// load frees one batch per seal.
const CATCH_UP_FROM: usize = 16 * bags::BATCH;

/// A record's pacing ticks in a row, in a map, that must see no new seal
/// before they scan it to free ([`TableReclaim::writers_idle`]): eight,
/// so the ninth tick after the last seal, about 500 unpins of the thread.
/// Threads that both read and write (a mixed load) each see a seal about
/// every 180 of their operations; with one quiet tick enough, two ticks in
/// three scanned, and gets paid for 47,000 of 58,645 scans and a third of
/// the batch frees in 4 million operations (docs/benchmarks.md, "Issue
/// #15"). A map whose writers stop drains after this many ticks.
const IDLE_TICKS: usize = 8;

/// The reclaimer of one map: its queue of retired tables and sealed
/// batches, what its scanner holds, and its per-record bags of unsealed
/// retirements. The announcements are process-wide.
pub(crate) struct TableReclaim {
    /// Retired tables and sealed batches not yet taken by a scan, newest
    /// first. Taken whole by the scanner.
    retired: CachePadded<RetiredTables>,
    /// Whether a thread is scanning this map: one scanner at a time owns
    /// `scan` ([`ScanFlag`]); a thread that finds it set skips its scan
    /// (the scanner does the work), so nobody waits for it.
    scanning: CachePadded<AtomicBool>,
    /// The scanner's objects (`scanning` guards them).
    scan: UnsafeCell<ScanState>,
    /// Each record's unsealed retirements in this map (`bags.rs`).
    bags: Bags,
    /// Freeable tables that own entries, freed a step at a time by the
    /// map's writes (`draining.rs`). Padded: its flag and counters are
    /// written by each step, and read every 17th write of every thread.
    draining: CachePadded<Draining>,
    /// Objects queued or held by the scanner (a table counts 1, a batch
    /// its length).
    pending: AtomicUsize,
    /// Tables among them.
    tables: AtomicUsize,
    /// Seals whose scan was skipped (another thread was scanning) since a
    /// scan last made up for them ([`FREE_PER_SCAN`]).
    skipped: AtomicUsize,
    /// Batches sealed in this map so far (each record's bag keeps the count
    /// its holder's last pacing tick saw: [`writers_idle`](Self::writers_idle)).
    seals: AtomicUsize,
    /// Unpins of this map by owned guards while objects are queued; every
    /// 64th scans. (Thread-bound pins count on their thread: `guard.rs`.)
    tick: AtomicUsize,
    /// Whether a scan would have bags left behind to sweep
    /// (`orphans.rs`): a pacing tick of a map with nothing queued scans
    /// only then.
    sweep_hint: orphans::Hint,
    /// Pacing ticks (of any thread) left that free what they can
    /// ([`after_unpin`](Self::after_unpin)) rather than wait for the
    /// writers to be idle ([`IDLE_TICKS`]): a flush sets [`FLUSH_TICKS`].
    flush_ticks: AtomicUsize,
}

/// How long a holder's unsealed objects wait, since a pacing tick first
/// saw them, before a tick without a retirement seals them
/// ([`TableReclaim::tidy_if_done`]): 50 ms, so that a writer that retires
/// rarely (a read-mostly mix) still fills its batches (a tick without a
/// retirement comes every few dozen of its operations; sealing at each
/// made batches of 1.4 to 4 objects at 0.1 to 1 % writes, and 12 to 40
/// times the seals and epoch bumps: found by review), while a holder
/// that stopped writing, or a reader that took a writer's record, hands
/// them over within a few tens of milliseconds of operations.
const SEAL_AGE: u64 = 50_000_000;

/// Ticks that free at once after a flush ([`TableReclaim::flush_ticks`]).
/// Two free what a flush queued unless a pin holds it back (the first
/// stamps it, if no bump came since; the next frees it); the rest wait out
/// a short pin. A bound, not "until freed": while writers keep sealing,
/// something is always queued, and every tick (reads' included) would
/// free batches for good, which the pacing leaves to the writers (found
/// by the session's diff review: a flag cleared only when nothing was
/// queued stayed set through 20,000 later writes).
const FLUSH_TICKS: usize = 16;

/// Objects a scan took off the queue and could not free yet. Every object
/// is visited by a constant number of scans, so a scan's cost is that of
/// what it takes, stamps and frees, not of how much waits: a pin that stays
/// for seconds (a long iteration, a preempted thread) makes garbage wait,
/// never scans slower. (A first version put everything back on the queue
/// and walked it whole on every scan: with 4 threads on 2 cores, always one
/// preempted while pinned, the counter workload ran 60 times slower.)
struct ScanState {
    /// Stamped objects, oldest stamp first (nearly: a table whose bump
    /// raced a scan's may queue behind a later stamp, and then waits for
    /// that one, never less), so a scan frees from the front and stops at
    /// the first object a pin may hold.
    held: VecDeque<Retired>,
    /// Sealed batches waiting for a bump the pacing allows.
    unstamped: Vec<Retired>,
    /// When the oldest of `unstamped` was taken, on the pacing clock
    /// (`pacing::now`): the pacing bounds its wait however often other
    /// maps bump.
    unstamped_since: u64,
    /// Objects in `held` (a table counts 1, a batch its length): the
    /// backlog a scan's budget follows.
    held_objects: usize,
    /// The sweep of bags whose record nobody holds (`orphans.rs`).
    sweep: Sweep,
}

// SAFETY: `scan` is only touched by the holder of `scanning` (or with
// `&mut self`), and `Retired` is `Send`; the other fields are `Sync`.
unsafe impl Sync for TableReclaim {}

/// Holds `TableReclaim::scanning`; clears it when dropped (also while a
/// panic unwinds).
struct ScanFlag<'a>(&'a AtomicBool);

impl<'a> ScanFlag<'a> {
    /// Becomes the map's scanner, unless another thread is.
    #[inline]
    fn try_take(flag: &'a AtomicBool) -> Option<Self> {
        // Relaxed pre-check: skips the RMW while someone scans. Acquire on
        // success: the previous scanner's accesses to `scan` (before its
        // Release clear) happen before ours.
        // (`then`, not `then_some`: a flag built and dropped on failure
        // would clear the other scanner's.)
        (!flag.load(Relaxed) && flag.compare_exchange(false, true, Acquire, Relaxed).is_ok())
            .then(|| ScanFlag(flag))
    }
}

impl Drop for ScanFlag<'_> {
    fn drop(&mut self) {
        // Release: our accesses to `scan` happen before the next scanner's.
        self.0.store(false, Release);
    }
}

impl TableReclaim {
    /// The reclaimer of a new map (`Reclaim::new`, in `guard.rs` with the
    /// rest of the trait: pins make guards).
    pub(super) fn create() -> Self {
        barrier::init();
        TableReclaim {
            retired: CachePadded::new(RetiredTables::new()),
            scanning: CachePadded::new(AtomicBool::new(false)),
            scan: UnsafeCell::new(ScanState {
                held: VecDeque::new(),
                unstamped: Vec::new(),
                unstamped_since: 0,
                held_objects: 0,
                sweep: Sweep::new(),
            }),
            bags: Bags::new(),
            draining: CachePadded::new(Draining::new()),
            pending: AtomicUsize::new(0),
            tables: AtomicUsize::new(0),
            skipped: AtomicUsize::new(0),
            seals: AtomicUsize::new(0),
            tick: AtomicUsize::new(0),
            sweep_hint: orphans::Hint::new(),
            flush_ticks: AtomicUsize::new(0),
        }
    }

    /// Objects retired and not yet freed: queued, in the bags, and tables
    /// being freed in steps.
    pub(super) fn pending_objects(&self) -> usize {
        self.pending.load(Relaxed) + self.bags.pending() + self.draining.len()
    }
}

impl TableReclaim {
    /// The domain this map announces in.
    #[inline]
    fn domain(&self) -> &'static Domain {
        &GLOBAL
    }

    /// Queues `ptr`, a large object retired rarely (a table), to be freed
    /// once no pin can hold it: the epoch is bumped for it at once, so the
    /// next scan that finds every pin past the bump frees it.
    ///
    /// # Safety
    ///
    /// As for [`ReclaimGuard::retire`](super::ReclaimGuard::retire): `ptr`
    /// is unlinked, retired once, and valid for `T::free`.
    unsafe fn retire_now<T: Retire>(&self, ptr: *mut T) {
        // AcqRel: Release so a pin that reads the new epoch happens after
        // the unlink this call follows (see `Domain::announce`); Acquire
        // for the stamp's place in the epoch order.
        // Mutation `table_stale_stamp`: stamp with the epoch as it is,
        // without bumping (pins that read it may still hold the table).
        let stamp = if mutation!("table_stale_stamp") {
            self.domain().epoch.load(SeqCst)
        } else {
            self.domain().epoch.advance(AcqRel)
        };
        // Every pin now either shows its announcement to a later scan or
        // loads the root after the unlink. Required: with `membarrier` it
        // is the one barrier of the pattern (pins issue only a compiler
        // fence). Mutation `scan_and_heavy_unfenced` removes it together
        // with the scan's fence; under loom (the fence strategy) either
        // alone closes the pattern, so no model sees this one alone gone
        // (`scan`).
        if !mutation!("scan_and_heavy_unfenced") {
            barrier::heavy();
        }
        pacing::bumped();
        // SAFETY: the caller's obligations are `Retired::table`'s.
        let table = unsafe { Retired::table(ptr, stamp) };
        // Relaxed: a gauge and a heuristic (`after_unpin`). Counted before
        // the push (Release) and uncounted after a take (Acquire), so the
        // count never goes below zero.
        self.pending.fetch_add(1, Relaxed);
        self.tables.fetch_add(1, Relaxed);
        // Release (`RetiredTables::push`): the scanner that takes the table
        // happens after the heavy barrier above.
        self.retired.push(table);
    }

    /// Retires `ptr` (an entry) into `record`'s bag in this map: a plain
    /// push. Every [`bags::BATCH`] of them are sealed into one batch,
    /// queued unstamped, and a scan runs.
    ///
    /// # Safety
    ///
    /// As for `retire_now`; and the caller holds `record` (it pinned with
    /// it), so that the bag is its alone (`bags.rs`). `keeps`: the caller
    /// keeps `record` after its pin (as in `after_unpin`), so its bag may
    /// adopt what the seal's scan finds freeable.
    #[inline]
    unsafe fn retire_in<T: Retire>(&self, record: &Record, ptr: *mut T, keeps: bool) {
        let bag = self.bags.get(record.index);
        // SAFETY: the caller's obligations are `Deferred::new`'s and
        // `Bag::push`'s; holding `record` is also all that `seal`,
        // `has_ready` and `free_ready` ask (the batch's objects were each
        // retired once and unlinked before their push).
        unsafe {
            if let Some(batch) = bag.push(Deferred::new(ptr)) {
                self.seal(batch, bag, keeps);
            }
            // Not while the thread unwinds (`guard::frees_allowed`).
            if bag.has_ready() && guard::frees_allowed() {
                bag.free_ready(bags::FREE_PER_RETIREMENT);
            }
        }
    }

    /// Seals `record`'s bag in this map now, whatever it holds
    /// (`ReclaimGuard::flush`), as a full bag is sealed, and frees at once
    /// what its scan finds freeable and what the bag adopted earlier (a
    /// flush is for values whose `Drop` matters soon: nothing is adopted
    /// to be freed a few at a time). For what must still wait for pins,
    /// the map's next [`FLUSH_TICKS`] pacing ticks free what they can,
    /// rather than wait for its writers to be idle
    /// ([`after_unpin`](Self::after_unpin); flushed values waited some 550
    /// operations of a thread, found by a port of flurry's tests), and the
    /// flushing guard's own unpin scans.
    ///
    /// # Safety
    ///
    /// The caller holds `record`.
    unsafe fn flush_in(&self, record: &Record) {
        let bag = self.bags.get(record.index);
        // SAFETY: the caller holds `record`; every object in the bag was
        // retired once and unlinked before its push (`retire_in`).
        unsafe {
            if let Some(batch) = bag.take_unsealed() {
                self.seal(batch, bag, false);
            }
            // Not while the thread unwinds (`guard::frees_allowed`).
            if bag.has_ready() && guard::frees_allowed() {
                bag.free_ready(usize::MAX);
            }
        }
        // Relaxed: a heuristic, as `pending` is; a max, so that no tick's
        // count-down loses this flush's ticks.
        if self.pending.load(Relaxed) > 0 {
            self.flush_ticks.fetch_max(FLUSH_TICKS, Relaxed);
        }
    }

    /// Queues a sealed batch, unstamped, and scans; what the scan finds
    /// freeable goes to `bag` if the caller `keeps` its record, to be freed
    /// a few objects per later retirement, and is freed now otherwise. (An
    /// owned guard gives its record up when it drops, so what its bag
    /// adopted waited for the record's next holder in this map, or the
    /// map's drop, as `scan_on_tick` already said: found by review.)
    ///
    /// # Safety
    ///
    /// The caller holds the record `bag` belongs to, and every object of
    /// `batch` was retired once and unlinked before its push into the bag
    /// (`retire_in`).
    #[cold]
    unsafe fn seal(&self, batch: Batch, bag: &Bag, keeps: bool) {
        let n = batch.len();
        // The batch is freed only through the queue, once; its objects'
        // unlinks precede this in program order (the bag's holder is this
        // party).
        let retired = Retired::batch(batch);
        // Relaxed: a gauge and a heuristic (`after_unpin`).
        self.pending.fetch_add(n, Relaxed);
        self.seals.fetch_add(1, Relaxed);
        // Release (`RetiredTables::push`): the scanner that takes the batch
        // (Acquire) happens after every unlink of its objects, so the bump
        // it makes for them comes after those unlinks (`reclaim`).
        self.retired.push(retired);
        // No scan while the thread unwinds (`guard::frees_allowed`): a
        // later seal or tick scans.
        // SAFETY: the caller holds `bag`'s record.
        if !guard::frees_allowed() || !unsafe { self.reclaim_into(keeps.then_some(bag)) } {
            // Relaxed: a heuristic sizing a later scan's work.
            self.skipped.fetch_add(1, Relaxed);
        }
    }

    /// Frees what no pin can hold, up to [`FREE_PER_SCAN`] objects (more
    /// for skipped seals or a backlog: [`CATCH_UP_FROM`]), unless
    /// another thread is scanning this map. Takes the queue; sealed batches
    /// get the stamp of a bump made now if the pacing allows one
    /// ([`pacing`]) and wait for a later scan otherwise; stamped objects
    /// wait in stamp order for the pins older than their stamp to end.
    /// Returns false if another thread was scanning (this scan skipped).
    /// The freeable batches go to `adopter` if given, as many as it has
    /// room for (`Bag::room`; the rest stay held for a later scan); tables,
    /// and without an adopter everything, are freed now.
    ///
    /// # Safety
    ///
    /// The caller holds the record `adopter` belongs to.
    unsafe fn reclaim_into(&self, adopter: Option<&Bag>) -> bool {
        // SAFETY: the caller's.
        unsafe { self.scan(adopter, true) }
    }

    /// [`reclaim_into`](Self::reclaim_into), or, unless `free`, a scan
    /// that takes the queue and stamps (bumping as the pacing allows) but
    /// frees nothing.
    ///
    /// # Safety
    ///
    /// As for `reclaim_into`.
    unsafe fn scan(&self, adopter: Option<&Bag>, free: bool) -> bool {
        let Some(flag) = ScanFlag::try_take(&self.scanning) else {
            return false;
        };
        // SAFETY: the flag makes us the only thread touching `scan`.
        let st = unsafe { &mut *self.scan.get() };
        // Acquire (`RetiredTables::take`). The swap makes the taken objects
        // ours alone. Newest first: stamped ones (tables) join `held` in
        // the order they were pushed.
        let mut stamped = Vec::new();
        let none_waited = st.unstamped.is_empty();
        // Bags whose record nobody holds (`orphans.rs`): their objects join
        // the unstamped batches, as a seal's would. Their unlinks happen
        // before the borrow's Acquire CAS, so before a bump below.
        let swept = st
            .sweep
            .step(self.domain(), &self.bags, &self.sweep_hint, |batch| {
                st.unstamped.push(Retired::batch(batch));
            });
        if swept > 0 {
            // Relaxed: a gauge, as in `seal` (the bags' gauges dropped).
            self.pending.fetch_add(swept, Relaxed);
        }
        for r in self.retired.take() {
            if r.is_stamped() {
                stamped.push(r);
            } else {
                st.unstamped.push(r);
            }
        }
        if none_waited && !st.unstamped.is_empty() {
            st.unstamped_since = pacing::now();
        }
        st.held_objects += stamped.iter().map(Retired::count).sum::<usize>();
        st.held.extend(stamped.into_iter().rev());
        if !st.unstamped.is_empty()
            && pacing::may_bump(st.unstamped.len(), Some(st.unstamped_since))
        {
            // AcqRel, as in `retire_now`. Every unlink of a taken batch's
            // objects happens before its push (Release), our take
            // (Acquire), and so this bump: a pin that reads the new epoch
            // cannot reach them. (Batches taken by earlier scans: their
            // take happened before our flag's Acquire.)
            // Mutation `batch_stale_stamp`: stamp with the epoch as it is,
            // without bumping (pins that read it may still hold objects).
            let stamp = if mutation!("batch_stale_stamp") {
                self.domain().epoch.load(SeqCst)
            } else {
                self.domain().epoch.advance(AcqRel)
            };
            barrier::heavy();
            pacing::bumped();
            pacing::withdraw(st.unstamped_since);
            st.held_objects += st.unstamped.iter().map(Retired::count).sum::<usize>();
            st.held.extend(st.unstamped.drain(..).map(|mut r| {
                r.stamp_if_unstamped(stamp);
                r
            }));
        }
        if st.held.is_empty() || !free {
            return true;
        }
        // Orders our scan after the heavy barrier of every retirement we
        // took (they happen before our swap) and of our own bump: in the
        // fence-only strategy this fence pairs with the pins' fences, and
        // in either strategy it makes the barriers precede our loads in the
        // fence order.
        // Every object a scan frees has a heavy barrier before the scan's
        // loads in happens-before (a table's in `retire_now`, before its
        // Release push; a batch's in this scan's own bump; a held
        // object's through the `scanning` flag). That barrier is what
        // closes the store-buffering pattern with the pins: the only one
        // under `membarrier` (whose pins issue no hardware fence, so this
        // fence has nothing there to pair with), and enough alone under
        // the fence strategy too (C++20's rules for the SeqCst order, and
        // loom's). This fence is therefore redundant under both; it is
        // kept as cheap insurance (one per scan) for a reading by the
        // older rules and for any future path that reaches the loads
        // without such a barrier. No model fails without it alone; the
        // mutation `scan_and_heavy_unfenced` removes it with the
        // retirement's barrier, and model 16 of `word_models.rs` fails
        // (docs/verification.md).
        if !mutation!("scan_and_heavy_unfenced") {
            fence(SeqCst);
        }
        // Acquire loads of every record (`Domain::oldest_pin`).
        let oldest_pin = self.domain().oldest_pin();
        // Free from the front what no pin can hold, up to `FREE_PER_SCAN`
        // objects (more when a backlog is held); the rest wait for the next
        // scans. A paced bump can make thousands of entries free at once;
        // freeing them a batch per scan keeps each write's share of the
        // work small and lets the entry cache (`raw/pool.rs`) absorb the
        // blocks.
        // Mutation `tables_ignore_pins`: free regardless of pins.
        // Relaxed: a heuristic (`seal`); the swap only when seals were
        // skipped, so a scan normally adds no locked instruction.
        let skipped = match self.skipped.load(Relaxed) {
            0 => 0,
            _ => self.skipped.swap(0, Relaxed),
        };
        let mut budget = if st.held_objects >= CATCH_UP_FROM {
            MAX_FREE_PER_SCAN
        } else {
            (FREE_PER_SCAN + skipped * bags::BATCH).min(MAX_FREE_PER_SCAN)
        };
        // What an adopter has no room for stays held for a later scan,
        // rather than being freed in this operation: a batch freed at once
        // costs the operation 3–30 µs (`scan_on_tick`). A table at the
        // front is taken whatever the room: it is freed here, not adopted.
        // SAFETY: the caller holds the record `adopter` belongs to.
        let mut room = adopter.map_or(usize::MAX, |bag| unsafe { bag.room() });
        let mut free = Vec::new();
        while let Some(front) = st.held.front() {
            let unreachable =
                front.unreachable_under(oldest_pin) || mutation!("tables_ignore_pins");
            if budget == 0 || !unreachable {
                break;
            }
            if !front.is_table() {
                if front.count() > room {
                    break;
                }
                room -= front.count();
            }
            budget = budget.saturating_sub(front.count());
            st.held_objects -= front.count();
            free.extend(st.held.pop_front());
        }
        // The count that sizes the budget matches what is held (checked
        // while `held` is short, so that a long backlog's scans stay cheap
        // in debug builds too).
        debug_assert!(
            st.held.len() > 64
                || st.held_objects == st.held.iter().map(Retired::count).sum::<usize>(),
            "the held-objects count drifted"
        );
        // Before freeing: a user's `Drop` run by a free may pin and scan
        // this map too.
        drop(flag);
        // A free that panics (a user's `Drop`; the batch itself still frees
        // the rest of its objects) puts the objects after it back on the
        // queue, for a later scan, instead of leaking them.
        let mut free = Requeue {
            queue: &self.retired,
            rest: free.into_iter(),
        };
        for object in free.rest.by_ref() {
            if object.is_table() {
                // SAFETY: as below.
                unsafe { self.free_table(object) };
                continue;
            }
            // Relaxed: gauges. Before the free, so that a panicking free
            // (which still frees its objects) leaves them right.
            self.pending.fetch_sub(object.count(), Relaxed);
            // Every record read "not pinned" or an epoch at least this
            // object's stamp: by the barrier argument (docs/design.md,
            // "Reclamation") no pin that can reach it is left, and its last
            // accesses happen before this free (or the adopter's later
            // ones). It was retired once, and taken off the queue by us
            // alone.
            let object = match adopter {
                Some(bag) => match object.into_batch() {
                    // SAFETY: as above; the caller holds `bag`'s record.
                    Ok(batch) => match unsafe { bag.adopt(batch) } {
                        None => continue,
                        Some(batch) => Retired::batch(batch),
                    },
                    Err(table) => table,
                },
                None => object,
            };
            // SAFETY: as above.
            unsafe { object.free() };
        }
        true
    }

    /// Frees a freeable table: a first step of the entries it owns
    /// ([`TABLE_STEP`]), then, if that was all, the table; else hands it to
    /// the map's writes to free in steps ([`draining`]). Either way it
    /// leaves the gauges of queued and held objects (after joining
    /// `draining`'s, so `pending_garbage` never misses it).
    ///
    /// # Safety
    ///
    /// No pin can reach the table, its last accesses happen before this
    /// call, and the caller took it off the queue (it owns it alone).
    unsafe fn free_table(&self, table: Retired) {
        /// Hands the table (unless taken) to `draining`, then takes it off
        /// the queued-objects gauges, when dropped: also when the step
        /// panics (a user's `Drop`), which leaves the table valid, to be
        /// resumed (`Retire::free_part`).
        struct Leave<'a> {
            reclaim: &'a TableReclaim,
            table: Option<Retired>,
        }
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                if let Some(table) = self.table.take() {
                    // SAFETY: `free_table`'s caller's; not freed.
                    unsafe { self.reclaim.draining.add(table) };
                }
                // Relaxed: gauges, as in `scan`.
                self.reclaim.pending.fetch_sub(1, Relaxed);
                self.reclaim.tables.fetch_sub(1, Relaxed);
            }
        }
        let mut leave = Leave {
            reclaim: self,
            table: Some(table),
        };
        let table = leave.table.as_mut().expect("set above");
        // SAFETY: the caller's; a first step.
        if unsafe { table.free_step(TABLE_STEP) } {
            let table = leave.table.take().expect("set above");
            // Gauges first, as for any free ("before the free", `scan`).
            drop(leave);
            // SAFETY: the caller's; taken off the guard above, so a panic
            // in this free (which still frees the table) hands nothing
            // over: freed once, here.
            unsafe { table.free() };
        }
    }

    /// A scan that frees what it finds freeable at once ([`reclaim_into`]).
    ///
    /// [`reclaim_into`]: Self::reclaim_into
    fn reclaim(&self) -> bool {
        // SAFETY: no adopter.
        unsafe { self.reclaim_into(None) }
    }

    /// After an unpin of this map by `record`'s holder, if `scan_due` (the
    /// guard retired a table, or its pacing tick came up: `guard.rs`):
    /// frees what the record's bag adopted, and seals what it holds, if
    /// its holder stopped retiring ([`tidy_if_done`](Self::tidy_if_done));
    /// then scans
    /// to free if there is work no writer is about to do (a queued table:
    /// [`scan_on_tick`](Self::scan_on_tick), which gives the freeable
    /// batches to the bag when the holder `keeps` the record; or objects
    /// queued while no batch was sealed here during this record's last
    /// [`IDLE_TICKS`] ticks: [`writers_idle`](Self::writers_idle)), and
    /// otherwise only stamps, if a bump is due. While writers seal, their
    /// own scans free a batch per seal, and a read's tick leaves the freeing
    /// to them.
    ///
    /// `keeps`: the caller keeps `record` after this call (a thread-bound
    /// pin whose thread goes on), so that its later ticks and retirements
    /// free what its bag adopts. An owned guard gives its record up right
    /// after (to its thread's spare, or the registry): what it adopted
    /// would wait for the record's next holder in this map, or the map's
    /// drop.
    ///
    /// # Safety
    ///
    /// The caller holds `record` (`guard.rs` gives it back after this).
    #[inline]
    unsafe fn after_unpin(&self, scan_due: bool, record: &Record, keeps: bool) {
        if !scan_due {
            return;
        }
        // SAFETY: the caller's. A seal ran its scan (or found another
        // thread scanning).
        if unsafe { self.tidy_if_done(record, keeps) } {
            return;
        }
        // Relaxed: heuristics, as are `tables` and `seals` below. A stale
        // value at worst skips a scan (the next tick or seal runs one) or
        // adds one; none is a step of the reclamation argument, and
        // `reclaim` takes the queue with Acquire.
        let pending = self.pending.load(Relaxed);
        if pending == 0 {
            // Bags that parties gave up with their records may wait here
            // (`orphans.rs`): a scan that only sweeps (and stamps what it
            // takes, if a bump is due); a later tick frees it.
            if self.bags.any() && self.sweep_hint.wanted(self.domain()) {
                // SAFETY: no adopter.
                unsafe { self.scan(None, false) };
            }
            return;
        }
        if cfg!(loom) {
            self.reclaim();
        } else if self.flush_ticks.load(Relaxed) > 0 {
            // Freed now, not adopted: what a flush handed over. Relaxed, as
            // above; racing ticks may take one tick between them.
            let _ = self
                .flush_ticks
                .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
            self.reclaim();
        } else if self.tables.load(Relaxed) > 0 {
            // SAFETY: the caller's.
            unsafe { self.scan_on_tick(record, keeps) };
        } else if self.writers_idle(record) {
            self.reclaim();
        } else if pacing::may_bump(0, None) {
            // Writers are sealing, and a bump is due: this tick makes it
            // (a `membarrier`, tens of microseconds on a VM) and stamps
            // their batches; their scans free them. Reads are most of the
            // ticks, so they take most bumps, rarer than one read in a
            // thousand; a write pays one only if no tick came first.
            // SAFETY: no adopter.
            unsafe { self.scan(None, false) };
        }
    }

    /// A pacing tick's scan while a retired table waits (a map that
    /// grows): frees the tables it finds freeable, and, in a map whose
    /// writers seal batches and if the holder `keeps` `record` (as in
    /// `after_unpin`), gives the freeable batches to `record`'s bag
    /// rather than freeing them in this operation. A holder that retires
    /// frees them four per retirement; one that does not (a reader) a batch
    /// per tick ([`tidy_if_done`](Self::tidy_if_done)), so
    /// a read still pays for a batch, a tick later. What the bag has no
    /// room for stays held. Freed here, a tick's batch cost the operation
    /// that ticked 3–30 µs (the entries' lines are cold by then): with 4
    /// writers growing a map while they update it, about 1,100 of the
    /// slowest 6,000 of 6 million operations, the demo's p99.9
    /// (docs/benchmarks.md, "Ticks adopt while a table waits").
    ///
    /// # Safety
    ///
    /// The caller holds `record`.
    #[inline]
    unsafe fn scan_on_tick(&self, record: &Record, keeps: bool) {
        // Relaxed: a heuristic, as in `after_unpin`. A map that never
        // sealed (a `WordMap`) retires tables only: no bag is touched. A
        // record given up after this tick (an owned guard's) would leave
        // its bag's adopted objects to its next holder: no adoption then.
        if !keeps || self.seals.load(Relaxed) == 0 {
            self.reclaim();
            return;
        }
        let bag = self.bags.get(record.index);
        // SAFETY: the caller holds `record`, which `bag` belongs to.
        unsafe { self.reclaim_into(Some(bag)) };
    }

    /// On a pacing tick: if `record`'s holder retired nothing into its
    /// bag here since its previous call (it stopped writing this map, or
    /// never wrote it), frees up to a batch of what the bag adopted, and
    /// seals what the bag holds unsealed if that has waited [`SEAL_AGE`]
    /// (since a tick first saw it), as a full bag is sealed
    /// ([`seal`](Self::seal); `keeps` as there). Returns whether it
    /// sealed. A batch of adopted objects, not all: the tick is usually a
    /// read's, and freeing 256 at once cost several microseconds
    /// (`MAX_FREE_PER_SCAN`); the most a bag adopts drains in four ticks.
    /// The seal: a holder that stopped writing would keep its last few
    /// retirements until it writes again, and a party that only reads
    /// would keep for good what the record's previous holder left (a
    /// reader that took an exited writer's record, lowest first: found by
    /// an outside test, 19 of 19 values unfreed after 30 s of reads),
    /// which the sweep of bags left behind (`orphans.rs`) cannot take from
    /// a record in use.
    ///
    /// # Safety
    ///
    /// The caller holds `record`.
    #[inline]
    unsafe fn tidy_if_done(&self, record: &Record, keeps: bool) -> bool {
        // A record that never retired here has no bag (nor a map that
        // never retires entries, a `WordMap`): nothing allocated here.
        let Some(bag) = self.bags.get_installed(record.index) else {
            return false;
        };
        // SAFETY: the caller holds `record`; every unsealed object in the
        // bag was retired once and unlinked before its push (`seal`).
        unsafe {
            if bag.len() == 0 {
                return false;
            }
            // Asked at every tick that finds objects, so that the wait
            // starts at the first (one reading of the clock per batch,
            // and one per quiet tick after it).
            let retired = bag.retired_since_asked();
            if retired {
                bag.unsealed_waited(SEAL_AGE);
                return false;
            }
            if bag.has_ready() {
                bag.free_ready(bags::BATCH);
            }
            if !bag.unsealed_waited(SEAL_AGE) {
                return false;
            }
            match bag.take_unsealed() {
                Some(batch) => {
                    self.seal(batch, bag, keeps);
                    true
                }
                None => false,
            }
        }
    }

    /// Whether no batch was sealed in this map during `record`'s holder's
    /// last [`IDLE_TICKS`] ticks here (then the map's writers are idle, and
    /// its queued garbage waits for the ticks). Per record, so that many
    /// readers' ticks do not each see "idle" between two seals. A map that
    /// never seals (a `WordMap`) is always idle and touches no bag.
    #[inline]
    fn writers_idle(&self, record: &Record) -> bool {
        // Relaxed: heuristics (`after_unpin`); `seals_seen` and
        // `idle_ticks` are read and written by the record's holder alone.
        let seals = self.seals.load(Relaxed);
        if seals == 0 {
            return true;
        }
        let bag = self.bags.get(record.index);
        if bag.seals_seen.load(Relaxed) == seals {
            let idle = bag.idle_ticks.load(Relaxed).saturating_add(1);
            bag.idle_ticks.store(idle, Relaxed);
            return idle >= IDLE_TICKS;
        }
        bag.seals_seen.store(seals, Relaxed);
        bag.idle_ticks.store(0, Relaxed);
        false
    }

    /// A step of the tables this map frees in steps, if any ([`draining`]):
    /// every few writes of a thread ([`before_write`](Self::before_write)),
    /// and for a resize helper. Returns whether this thread stepped (not
    /// if there was nothing, or another thread was stepping).
    #[inline]
    fn step_draining(&self) -> bool {
        self.draining.len() > 0 && self.draining.step(TABLE_STEP, Stepper::Writer)
    }

    /// Frees every table this map frees in steps whole ([`draining`]), a
    /// few at a time, until none is left or another thread steps them:
    /// a user's `shrink_to` (`Reclaim::free_steps_now`).
    fn free_draining_whole(&self) {
        while self.draining.len() > 0 && self.draining.step(usize::MAX, Stepper::Writer) {}
    }

    /// On a pacing tick: a step of the tables this map frees in steps, if
    /// any and if its writers stopped stepping them ([`Draining::tick`]).
    #[inline]
    fn tick_draining(&self) {
        if self.draining.len() > 0 {
            self.draining.tick(FREE_PER_SCAN);
        }
    }

    /// Before a write of this map: a step of the tables it frees in steps,
    /// if any, every few writes of the thread (`guard.rs`,
    /// `STEP_PERIOD`).
    #[inline]
    fn before_write(&self) {
        // Under loom tables are freed whole (`TABLE_STEP`): nothing to step.
        if !cfg!(loom) && guard::write_step_due() && guard::frees_allowed() {
            self.step_draining();
        }
    }

    /// A scan, if retired tables wait (for a resize helper:
    /// `Reclaim::free_step`); returns whether it took any off the queue.
    fn scan_for_tables(&self) -> bool {
        // Relaxed: a gauge, as in `after_unpin`.
        let queued = self.tables.load(Relaxed);
        if queued == 0 {
            return false;
        }
        self.reclaim();
        self.tables.load(Relaxed) < queued
    }

    /// The pacing tick of an owned guard's unpin (a lossy count on the
    /// map, load then store, Relaxed: it only paces scans; `fetch_add`
    /// would put a locked instruction on every such unpin). Only read while
    /// objects are queued; while none are, a tick every 256th such unpin
    /// of the guard's record in a map with bags (for `tidy_if_done` and the
    /// sweep of bags left behind, `orphans.rs`).
    #[inline]
    fn owned_tick(&self, record: &Record) -> bool {
        // Relaxed: hints, as in `after_unpin`.
        if self.pending.load(Relaxed) == 0 && self.draining.len() == 0 {
            // Nothing queued: a tick for the bags (`after_unpin`: what a
            // holder that does not write here left, and bags left behind,
            // `orphans.rs`), paced by the record's own countdown, so that
            // this map's line is not written at each such unpin.
            return self.bags.any() && record.countdown();
        }
        let tick = self.tick.load(Relaxed).wrapping_add(1);
        self.tick.store(tick, Relaxed);
        tick % 64 == 0
    }
}

impl Drop for TableReclaim {
    fn drop(&mut self) {
        // Unwinding under loom: leave loom's state alone (`sync/mod.rs`).
        if crate::sync::loom_unwinding() {
            return;
        }
        // `&mut self` orders every push before us: no ordering needed.
        let queued = self.retired.take_all_mut();
        let st = self.scan.get_mut();
        let held = std::mem::take(&mut st.held);
        let unstamped = std::mem::take(&mut st.unstamped);
        if !unstamped.is_empty() {
            // Its announcement, if it starved: gone with the map.
            pacing::withdraw(st.unstamped_since);
        }
        // The bags gave up their objects (each retired once) to these
        // batches, freed below, once.
        let bags = self.bags.drain_mut().into_iter().map(Retired::batch);
        // If a free panics (a user's `Drop`), the guard frees the rest
        // while unwinding, as std's collections drop the rest of their
        // elements (a second panic aborts).
        let draining = self.draining.take_all_mut().collect::<Vec<_>>();
        let mut all = FreeAll(
            queued
                .chain(held)
                .chain(unstamped)
                .chain(bags)
                .chain(draining),
        );
        for object in &mut all.0 {
            // SAFETY: `&mut self`: no guard of this map is alive (guards
            // borrow it), so no pin can hold anything it retired; each is
            // freed once.
            unsafe { object.free() };
        }
    }
}

/// Puts what a scan did not get to free back on the queue (on a panic).
struct Requeue<'a> {
    queue: &'a RetiredTables,
    rest: std::vec::IntoIter<Retired>,
}

impl Drop for Requeue<'_> {
    fn drop(&mut self) {
        for object in self.rest.by_ref() {
            // Release, as any push; stamped, so the next scan frees it.
            self.queue.push(object);
        }
    }
}

/// Frees the rest of a dropping map's objects (on a panic).
struct FreeAll<I: Iterator<Item = Retired>>(I);

impl<I: Iterator<Item = Retired>> Drop for FreeAll<I> {
    fn drop(&mut self) {
        for object in &mut self.0 {
            // SAFETY: as in `TableReclaim::drop`, which made this list.
            unsafe { object.free() };
        }
    }
}
