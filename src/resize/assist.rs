//! Resize helpers: a thread a service gives to one map's resizes, so that
//! its writers do not do them.
//!
//! Without a helper, the writers of a growing map do all of a resize's
//! work between them: each write that meets a migration moves one
//! sub-chunk of it ([`Resizer::help`]), and the writes before a growth
//! fault its prepared table in, one memory step at a time
//! ([`Resizer::prepare`]). That keeps every write's cost bounded, but the
//! work is still done inside users' writes, on their threads. A
//! [`ResizeHelper`] moves it onto a thread of the user's choosing:
//!
//! * **A helper does the work.** [`ResizeHelper::step`] migrates up to
//!   [`STEP_SUBS`] sub-chunks of a running resize, or faults in one memory
//!   step of the prepared table as soon as it exists (not paced by the
//!   map's load, as writers' steps are), or else gives back a step of a
//!   retired table's memory (`handoff.rs`: while a helper is registered,
//!   freed tables are unmapped by helpers, a MiB at a time, instead of
//!   whole in the freeing thread's operation);
//!   [`ResizeHelper::run`] steps until told to stop, pausing after each
//!   memory step (which holds the process's memory-map lock) and sleeping
//!   when there is nothing to do.
//! * **Writers leave it to the helper, within bounds.** While a helper
//!   is registered, a write that meets a migration skips its share as
//!   long as the new table, counting what is left to copy into it, stays
//!   below 5/8 full ([`policy::assistant_keeps_up`]), except one write in
//!   16 of each thread ([`helps_anyway`]); and writers fault in none of
//!   the prepared table until all its steps are due (the old table 23/32
//!   full, [`policy::steps_all_due`]). Past those bounds they do their
//!   usual shares again. Writes still seal their own key in the old table
//!   (the protocol's per-key step, `mod.rs`): a helper changes who does
//!   the bulk of the work, never what a write must do to be correct.
//!
//! Nothing waits for a helper. It takes sub-chunks from the same cursor as
//! the writers (`cursor.rs`), with the same idempotent copies, so a helper
//! that stalls, or is dropped mid-migration, leaves at most a sub-chunk
//! taken, as a stalled writer does. Nobody takes a taken sub-chunk again:
//! until the helper resumes, the migration ends only with a whole pass
//! (`finish`), which an iteration, `reserve` or `shrink_to_fit` makes, and
//! every write makes once the new table must resize too; meanwhile every
//! operation passes through both tables, and nothing is lost. The
//! bounds above put the writers back to work before the next resize could
//! stack up behind an unfinished one; and the write in 16 that helps
//! anyway ends a migration that no helper works on even when no insert
//! moves the bound (updates and removals only), after 16 times the writes
//! it takes with no helper. The safety of a resize does not depend on who
//! migrates: loom model 15 runs helpers beside writers that leave their
//! shares.
//!
//! What a helper costs: a thread, busy while the map resizes (a migration
//! is about as much work as the inserts that caused it); its sleep when
//! idle ([`IDLE_MIN`] to [`IDLE_MAX`], then parked: [`PARK_AFTER`],
//! [`PARK_MAX`]); and, because it faults the prepared
//! table in as soon as the map is 5/8 full, a map that stops growing
//! between 5/8 and 3/4 holds its next table resident sooner than with
//! paced steps (until its operations release it, `stall.rs`, or
//! `shrink_to_fit` gives it back).

use std::fmt;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::{next_of, policy, Generation, Migrate, Resizer};
use crate::reclaim::ReclaimGuard;
use crate::sync::Ordering::Relaxed;

/// Who migrates a sub-chunk: which count it lands in (`Stats`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Party {
    /// A write, by its share (`chunks_helped`).
    Writer,
    /// A resize helper (`chunks_assisted`).
    Assistant,
    /// A read that met a migration the writes left (`stall.rs`;
    /// `chunks_read`).
    #[cfg(not(loom))]
    Reader,
}

/// What one step of a helper did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Work {
    /// Nothing: no resize runs, nothing to prepare or give back.
    None,
    /// Migrated sub-chunks.
    Migrated,
    /// Freed a step of the entries a retired `HashMap` table owned (its
    /// keyed tombstones', `reclaim/asymmetric/draining.rs`).
    Freed,
    /// Faulted in a memory step of a prepared table, or unmapped one of a
    /// retired table: a system call that holds the process's memory-map
    /// lock (`ResizeHelper::run` pauses after it).
    Memory,
}

/// Sub-chunks a helper migrates per [`ResizeHelper::step`]: 16 of
/// [`SUB`](super::cursor::SUB) slots, 128 slots, a few microseconds of work
/// between pins, so that a helper never holds back reclamation for long.
pub(crate) const STEP_SUBS: usize = 16;

/// A helper's pause after a memory step ([`ResizeHelper::run`]): asked
/// for 20 µs; Linux's default timer slack makes it about 70.
pub(crate) const MEMORY_PAUSE: Duration = Duration::from_micros(20);

/// A helper's first sleep when it finds no work.
pub(crate) const IDLE_MIN: Duration = Duration::from_micros(50);

/// A helper's longest sleep: each idle step doubles the sleep up to this,
/// and any work found resets it to [`IDLE_MIN`]. Short against the time a
/// growth of a large map takes, so a helper joins a migration soon after
/// it starts (the writers' first writes into it leave their share to the
/// helper, [`policy::assistant_keeps_up`]).
pub(crate) const IDLE_MAX: Duration = Duration::from_millis(1);

/// A helper idle this long parks: it sleeps until a resize starts or a
/// table is prepared (in a map with a helper: [`Resizer::ring`]), or for
/// [`PARK_MAX`]. Until
/// then it wakes every [`IDLE_MAX`], about a thousand times a second, so
/// that it joins a migration soon after it starts; a service whose map
/// stops growing keeps its helper, and should not pay that for good.
pub(crate) const PARK_AFTER: Duration = Duration::from_millis(100);

/// A parked helper's longest sleep: it wakes this often to look at the
/// work nothing rings for (retired tables to unmap or free in steps) and
/// at its `stop` flag, which it cannot be rung for: `run` returns at most
/// this long after `stop` is set.
pub(crate) const PARK_MAX: Duration = Duration::from_millis(50);

impl<T: Generation> Resizer<T> {
    /// Wakes every parked helper if this map has one: a resize started, or
    /// a table was prepared, here. One fence and one load for the writer
    /// that rings when no helper is parked (the common case), and one more
    /// load when helpers of other maps are; rings are once per resize and
    /// per prepared table, never per operation. The handshake is
    /// [`parking`](super::parking)'s; a helper looks only at its own map,
    /// so other maps' work is no reason to wake it.
    pub(crate) fn ring(&self) {
        #[cfg(all(test, not(loom)))]
        if self.assisted() {
            tests::RINGS.with(|r| r.set(r.get() + 1));
        }
        // Under loom helpers never park: nothing to ring (and the models
        // keep their accesses; model 19 drives the handshake itself).
        #[cfg(not(loom))]
        super::parking::PARKED.ring_if(|| self.assisted());
    }

    /// Whether a resize helper is registered with the map.
    #[inline]
    pub(crate) fn assisted(&self) -> bool {
        self.assistants.load(Relaxed) > 0
    }

    /// Whether a write that meets the migration of `table` into `next`
    /// leaves its share to the map's resize helpers: while any is
    /// registered and `next` stays within the bound of
    /// [`policy::assistant_keeps_up`].
    #[inline]
    pub(crate) fn leaves_share(&self, table: &T, next: &T) -> bool {
        if !self.assisted() {
            return false;
        }
        let h = table.header();
        policy::assistant_keeps_up(
            next.len(),
            next.header().occupied.get(),
            h.slots(),
            h.occupied.get(),
            h.cursor.done(),
        ) && !helps_anyway()
    }

    /// Registers (`true`) or withdraws (`false`) a resize helper.
    pub(crate) fn set_assistant(&self, on: bool) {
        // Relaxed: a policy input; writers that read a stale count only do
        // a share more, or leave one to a helper that just left (which the
        // bounds of `leaves_share` and `prepare` put right).
        if on {
            self.assistants.fetch_add(1, Relaxed);
        } else {
            self.assistants.fetch_sub(1, Relaxed);
        }
    }

    /// One step of a helper's work, if there is any: up to [`STEP_SUBS`]
    /// sub-chunks of the root's migration, or else one memory step of the
    /// root's prepared successor.
    pub(crate) fn assist<P, G>(&self, map: &P, guard: &G) -> Work
    where
        P: Migrate<Table = T>,
        G: ReclaimGuard,
    {
        let root = self.root(guard);
        if let Some(next) = next_of(root, guard) {
            // Every sub-chunk handed out (the last ones are being copied by
            // writers, or by a thread that stalled, whose work the writers'
            // steals and `finish` complete): nothing for a helper now.
            let moved = self.migrate_share(map, root, next, STEP_SUBS, Party::Assistant, guard);
            return if moved > 0 {
                Work::Migrated
            } else {
                Work::None
            };
        }
        if self.populate_ahead(root, guard) {
            Work::Memory
        } else {
            Work::None
        }
    }

    /// Faults in one memory step of `table`'s prepared successor, if it has
    /// one with steps left that would still serve the resize (the test of
    /// [`prepare`](Self::prepare)).
    fn populate_ahead<G: ReclaimGuard>(&self, table: &T, guard: &G) -> bool {
        let h = table.header();
        // Protected (at least Acquire: pairs with `prepare`'s publishing
        // CAS, so the table's header is initialised for us).
        let Some(prepared) = h.prepared.load_protected(guard).ready() else {
            return false;
        };
        // SAFETY: a ready table is freed with `table` (or, installed, as
        // `next`, after `table`), or retired once released, after the
        // caller's pin began; `table` is the root, loaded through the
        // caller's guard, which keeps it allocated (`prepared.rs`).
        let prepared = unsafe { &*prepared };
        let total = prepared.memory_steps();
        let steps = &prepared.header().steps_claimed;
        if steps.load(Relaxed) >= total || !self.still_serves(table, prepared) {
            return false;
        }
        // Relaxed, as `prepare`'s: it only partitions the steps.
        let k = steps.fetch_add(1, Relaxed);
        if k >= total {
            return false;
        }
        prepared.populate(k, Some(table));
        true
    }
}

#[cfg(not(loom))]
std::thread_local! {
    /// Writes this thread left to a helper since it last helped anyway
    /// ([`helps_anyway`]).
    static LEFT: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Whether a write that may leave its share to a helper helps anyway: one
/// in [`policy::ASSISTED_WRITES_PER_SHARE`] of the thread's. The bound of
/// [`policy::assistant_keeps_up`] only moves with inserts; without this, a
/// migration that no helper works on (one stalled, or never stepped) and
/// that only updates, removals and reads meet would never end: both
/// tables would stay, and no later resize could start. With it, such a
/// migration ends after that many times the writes it takes with no
/// helper. Not under loom, whose models must replay deterministically
/// (their writes always leave the share: model 15).
#[inline]
fn helps_anyway() -> bool {
    #[cfg(loom)]
    {
        false
    }
    #[cfg(not(loom))]
    {
        // A thread whose thread-locals are gone helps.
        LEFT.try_with(|left| {
            let n = left.get() + 1;
            let help = n >= policy::ASSISTED_WRITES_PER_SHARE;
            left.set(if help { 0 } else { n });
            help
        })
        .unwrap_or(true)
    }
}

/// What a [`ResizeHelper`] needs from a map: one step of its resize work,
/// and its registration. Implemented by both maps' cores.
pub(crate) trait Assist: Sync {
    /// One step of the map's resize work, pinned (`Resizer::assist`).
    fn assist_step(&self) -> Work;

    /// One step of freeing what the map's retired tables own, if its
    /// reclaimer frees them in steps (`Reclaim::free_step`); returns
    /// whether it took one. After the resize work and the unmapping,
    /// which keep their priority.
    fn free_step(&self) -> bool;

    /// Registers or withdraws a helper (`Resizer::set_assistant`).
    fn set_assistant(&self, on: bool);
}

/// A thread's offer to do one map's resize work, so that its writers do
/// not: from [`HashMap::resize_helper`](crate::HashMap::resize_helper),
/// [`WordMap::resize_helper`](crate::WordMap::resize_helper) and the sets'.
///
/// A growing lfmap moves its entries to the larger table cooperatively:
/// every write that meets the move migrates a few slots of it first, and
/// the writes before a growth fault the next table's memory in, a step at
/// a time. Each write's share is small and bounded, but it is paid inside
/// the write. A service that has a core to spare can give it the work
/// instead: while a helper is registered (from its creation until it is
/// dropped), writers leave the migration and the faulting-in to it, and
/// help again where the helper falls behind: each write that meets a
/// migration once the new table, with what is left to copy, would pass
/// 5/8 full, and all the faulting-in once the old table is 23/32 full.
/// A helper that stalls or exits never blocks anyone, and the work it
/// leaves goes back to the writers (a write in 16 helps anyway). A
/// sub-chunk it took and did not finish is the exception: until the
/// helper resumes, that migration ends only with a whole pass, which an
/// iteration, [`reserve`](crate::HashMap::reserve) or
/// [`shrink_to_fit`](crate::HashMap::shrink_to_fit) makes, and writers
/// make once the new table must resize too; until then every operation
/// passes through both tables. (A writer that panics mid-share, in a
/// `WordMap`'s hasher during a copy, leaves the same.)
///
/// A helper also unmaps retired tables, a MiB at a time, for every map in
/// the process while it is registered (`munmap` of a large table otherwise
/// stalls the freeing thread, and every thread that takes a page fault
/// meanwhile, for milliseconds); up to 512 MiB of them wait for helpers'
/// steps, and the last helper to be dropped unmaps what is left. Only
/// while helpers step: once none has stepped for a second (a helper kept
/// but no longer stepped, or forgotten), tables are unmapped by their
/// freers again, and the first such free unmaps what waits; and a table
/// or entry mapping that the system refuses takes back what waits before
/// it fails (an address-space limit). And it
/// frees the entries a `HashMap`'s retired tables own (its removed keys':
/// otherwise a step every few writes, and on reads once writes stop).
///
/// Call [`run`](ResizeHelper::run) on a thread of its own, or
/// [`step`](ResizeHelper::step) from a loop of your own. The helper borrows
/// the map; share an `Arc` of the map with the helper's thread, or use
/// scoped threads. A helper only pays off where it has a core of its own:
/// on a machine whose cores the writers already keep busy, it takes time
/// from them.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::thread;
///
/// let map: lfmap::HashMap<u64, u64> = lfmap::HashMap::new();
/// let stop = AtomicBool::new(false);
/// thread::scope(|s| {
///     s.spawn(|| map.resize_helper().run(&stop));
///     let m = map.pin();
///     for i in 0..100_000 {
///         m.insert(i, i);
///     }
///     stop.store(true, Ordering::Release);
/// });
/// assert_eq!(map.len(), 100_000);
/// ```
pub struct ResizeHelper<'a> {
    map: &'a dyn Assist,
}

impl<'a> ResizeHelper<'a> {
    /// Registers a helper with `map` (and with the process's queue of
    /// retired tables to unmap: `handoff.rs`).
    pub(crate) fn new(map: &'a dyn Assist) -> Self {
        map.set_assistant(true);
        #[cfg(not(loom))]
        super::handoff::helper_joined();
        ResizeHelper { map }
    }

    /// Does one bounded step of the map's resize work, if there is any:
    /// migrates up to 128 slots of a running resize, or faults in one step
    /// (1 MiB) of the table a growing map has allocated for its next
    /// growth, or else unmaps one step (1 MiB) of a retired table. Returns
    /// whether it found work; `false` means the map has no resize work
    /// left to take (no resize runs, or its last slots are being copied by
    /// other threads right now) and nothing to prepare or give back. The
    /// migration and the
    /// faulting-in are lock-free, like every operation: they take work from
    /// the same pool as the writers. (Retired tables wait for the helpers
    /// on a short process-wide queue behind a mutex, held for a push or a
    /// pop: `munmap` holds the kernel's memory-map lock for 60–80 µs a MiB,
    /// and every page fault of the process waits for it, so a helper gives
    /// large tables back a MiB at a time, off the writers' threads.)
    ///
    /// ```
    /// let map: lfmap::WordMap<u64, u64> = lfmap::WordMap::new();
    /// let helper = map.resize_helper();
    /// assert!(!helper.step()); // an empty map has nothing to resize
    /// ```
    pub fn step(&self) -> bool {
        self.work() != Work::None
    }

    /// [`step`](Self::step), saying what it did.
    fn work(&self) -> Work {
        // Stamped whatever the step finds: a helper busy migrating still
        // takes the unmapping of the tables it empties (`handoff.rs`).
        #[cfg(not(loom))]
        super::handoff::helper_stepped();
        match self.map.assist_step() {
            #[cfg(not(loom))]
            Work::None if super::handoff::step() => Work::Memory,
            Work::None if self.map.free_step() => Work::Freed,
            work => work,
        }
    }

    /// Steps until `stop` is set (checked with `Acquire` between steps),
    /// sleeping while there is no work: 50 µs at first, doubling to 1 ms
    /// while none appears; any work found resets the sleep. After 100 ms
    /// with none it parks: a resize that starts, or a table prepared for
    /// the next one, in its map (or in any other map with a helper) wakes
    /// it at once, and otherwise it looks
    /// again (and at `stop`) every 50 ms, so an idle helper wakes about 20
    /// times a second instead of a thousand, and returns within 50 ms of
    /// `stop` being set, or at once if its thread is also unparked
    /// ([`Thread::unpark`](std::thread::Thread::unpark)). (A ring wakes
    /// every parked helper of the process, whichever map it helps: rings
    /// come once per resize and per prepared table, so that costs the
    /// others a look.) Once `stop` is
    /// set it migrates what is left of the migrations under way, if any
    /// (usually one table's, and a resize stacked on it if one is; the
    /// writers were leaving them to the helper, and a
    /// map left to readers would otherwise keep both tables, a lookup of a
    /// moved key probing both, until its next writes or, 50 ms on, until
    /// its reads finish it a sub-chunk a read), and returns; sub-chunks that writers hold mid-copy
    /// then are theirs to finish. A loop of your own around
    /// [`step`](Self::step) does the same by stepping until it returns
    /// `false` before it drops the helper.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    ///
    /// let map: lfmap::WordMap<u64, u64> = lfmap::WordMap::new();
    /// let stop = AtomicBool::new(false);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| map.resize_helper().run(&stop));
    ///     for i in 0..50_000 {
    ///         map.insert(i, i);
    ///     }
    ///     stop.store(true, Ordering::Release);
    /// });
    /// assert_eq!(map.get(&49_999), Some(49_999));
    /// ```
    pub fn run(&self, stop: &AtomicBool) {
        self.run_parking(stop, PARK_MAX);
    }

    /// [`run`](Self::run), with a parked helper's longest sleep given.
    fn run_parking(&self, stop: &AtomicBool, park_max: Duration) {
        let mut idle = IDLE_MIN;
        let mut idle_since = None;
        while !stop.load(std::sync::atomic::Ordering::Acquire) {
            let work = self.work();
            if work != Work::None {
                idle_since = None;
            }
            match work {
                Work::Migrated | Work::Freed => idle = IDLE_MIN,
                Work::Memory => {
                    // Faulting in and unmapping hold the process's
                    // memory-map lock (for reading, for writing), and
                    // Linux lets a new reader take it ahead of a waiting
                    // writer: back to back, these steps kept a `HashMap`
                    // writer's `mmap` (fresh entry memory) waiting 4–8 ms,
                    // until the kernel handed the lock over. A pause
                    // between steps lets waiters in.
                    idle = IDLE_MIN;
                    std::thread::sleep(MEMORY_PAUSE);
                }
                // Under loom: no clock, no sleep, no park. A yield tells
                // loom that this thread waits for the others (for work, or
                // for `stop`), which it then runs first; a sleep is no
                // step of the model, and a helper that only looked again
                // kept loom on one schedule until its branch limit (found
                // by an outside user's model).
                Work::None if cfg!(loom) => crate::sync::spin_hint(),
                Work::None => {
                    let since = *idle_since.get_or_insert_with(std::time::Instant::now);
                    if since.elapsed() >= PARK_AFTER {
                        match self.park(park_max) {
                            Work::None => {}
                            work => {
                                (idle, idle_since) = (IDLE_MIN, None);
                                if work == Work::Memory {
                                    // As after any memory step (above).
                                    std::thread::sleep(MEMORY_PAUSE);
                                }
                            }
                        }
                        continue;
                    }
                    std::thread::sleep(idle);
                    idle = (idle * 2).min(IDLE_MAX);
                }
            }
        }
        // The migration under way, to its end (found by review: stopped
        // right after a bulk load, a helper left the last growth open for
        // the readers). No faulting in or unmapping: the first step that is
        // not a migration ends it.
        while self.map.assist_step() == Work::Migrated {}
    }
}

impl ResizeHelper<'_> {
    /// Parks until a [`ring`](Resizer::ring) or for `max`, unless a last look finds work
    /// (which it then did). Returns that work, or `Work::None` after a
    /// park.
    #[cfg(not(loom))]
    fn park(&self, max: Duration) -> Work {
        let look = || Some(self.work()).filter(|w| *w != Work::None);
        super::parking::PARKED
            .park_unless(look, max)
            .unwrap_or(Work::None)
    }

    /// Under loom there is no parking: a look for work.
    #[cfg(loom)]
    fn park(&self, _max: Duration) -> Work {
        self.work()
    }
}

impl Drop for ResizeHelper<'_> {
    /// Withdraws the helper: the map's writers take its work back.
    fn drop(&mut self) {
        self.map.set_assistant(false);
        #[cfg(not(loom))]
        super::handoff::helper_left();
    }
}

impl fmt::Debug for ResizeHelper<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResizeHelper").finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::WordMap;

    /// A map whose resize helper has done all there was to do, then grown
    /// by single inserts until its next resize started (16,384 slots into
    /// 32,768: the new table 3/8 full). Returns the next key to insert.
    fn resizing_with_helper(map: &WordMap<u64, u64>, helper: &ResizeHelper<'_>) -> u64 {
        let mut k = 0;
        while k < 10_000 {
            map.insert(k, k);
            k += 1;
        }
        while helper.step() {}
        let finished = map.stats().resizes_finished;
        loop {
            map.insert(k, k);
            k += 1;
            let s = map.stats();
            if s.resizes > finished {
                assert_eq!(s.resizes, s.resizes_finished + 1, "{s:?}");
                return k;
            }
        }
    }

    std::thread_local! {
        /// Rings of maps with a helper made on this thread (`Resizer::ring`).
        pub(super) static RINGS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    /// A promotion that leaves the root migrating (a resize was stacked on
    /// the one it finished) rings the map's parked helpers: the helper looks
    /// at the root's migration only, so the stacked resize's own ring may
    /// have found it with nothing to do, and it parked again (found by
    /// review: it then slept up to `PARK_MAX` while writers left it the
    /// work).
    #[test]
    fn a_promotion_onto_a_migrating_root_rings() {
        let map = WordMap::<u64, u64>::new();
        let helper = map.resize_helper();
        let _ = resizing_with_helper(&map, &helper);
        let resizer = map.raw().resizer();
        let guard = map.raw().pin();
        let old = resizer.root(&guard);
        let middle = crate::resize::next_of(old, &guard).expect("a resize runs");
        // Stack a resize on the one running.
        resizer.start_resize_full(middle, &guard);
        assert!(crate::resize::next_of(middle, &guard).is_some());
        let rings = RINGS.with(std::cell::Cell::get);
        // The helper finishes the older migration; its last step promotes.
        while std::ptr::eq(resizer.root(&guard), old) {
            assert!(helper.step(), "the older migration has work left");
        }
        assert!(std::ptr::eq(resizer.root(&guard), middle));
        assert_eq!(RINGS.with(std::cell::Cell::get), rings + 1);
        drop(guard);
        while helper.step() {}
        let s = map.stats();
        assert_eq!(s.resizes, s.resizes_finished, "{s:?}");
    }

    fn assert_holds(map: &WordMap<u64, u64>, keys: u64) {
        assert_eq!(map.len(), keys as usize);
        for k in 0..keys {
            assert_eq!(map.get(&k), Some(k), "key {k}");
        }
    }

    /// While a helper is registered, writes that meet a migration leave it
    /// to the helper (the new table is below 5/8) but one in 16: the resize
    /// waits for the helper's steps, and they finish it. (Steps are
    /// counted by the chunks they move: `step` also unmaps other tests'
    /// retired tables, `handoff.rs`.)
    #[test]
    fn writers_leave_the_migration_to_a_registered_helper() {
        let map = WordMap::<u64, u64>::new();
        let helper = map.resize_helper();
        let mut k = resizing_with_helper(&map, &helper);
        let before = map.stats();
        for _ in 0..1_000 {
            map.insert(k, k);
            k += 1;
        }
        let s = map.stats();
        let helped = s.chunks_helped - before.chunks_helped;
        let most = 1_000 / policy::ASSISTED_WRITES_PER_SHARE as u64 + 1;
        assert!(helped <= most, "{helped} shares: {s:?}");
        assert_eq!(s.resizes, s.resizes_finished + 1, "{s:?}");
        while helper.step() {}
        let s = map.stats();
        assert_eq!(s.resizes, s.resizes_finished, "{s:?}");
        // 16,384 slots in sub-chunks of 8, between the helper and the
        // writes that helped anyway.
        assert_eq!(
            s.chunks_assisted - before.chunks_assisted + helped,
            16_384 / 8
        );
        assert_holds(&map, k);
    }

    /// A helper told to stop finishes the migration the writers left to it
    /// before `run` returns: a map then served by readers alone (who never
    /// migrate) is back to one table (found by review).
    #[test]
    fn a_stopped_helper_finishes_the_migration_under_way() {
        let map = WordMap::<u64, u64>::new();
        let helper = map.resize_helper();
        let k = resizing_with_helper(&map, &helper);
        let s = map.stats();
        assert_eq!(s.resizes, s.resizes_finished + 1, "{s:?}");
        helper.run(&AtomicBool::new(true));
        drop(helper);
        let s = map.stats();
        assert_eq!(s.resizes, s.resizes_finished, "{s:?}");
        assert_holds(&map, k);
    }

    /// A range a writer left half taken (a write in 16 helps anyway, and
    /// takes one sub-chunk of the range it claims) is no reason for a
    /// helper to stop short: once every range is claimed, a helper steals
    /// from any range with sub-chunks left, not only from the 16 range
    /// words a write looks at (found by review: a stopped helper's last
    /// steps saw an empty window and left the migration open).
    #[test]
    fn a_stopped_helper_finishes_ranges_writers_left_half_taken() {
        let map = WordMap::<u64, u64>::new();
        let helper = map.resize_helper();
        let k = resizing_with_helper(&map, &helper);
        // The helper claims the first range and migrates it (a step
        // migrates up to 16 sub-chunks: one range).
        assert!(helper.step());
        // A thread of its own (no range hint here) updates keys: the 16th
        // write helps anyway, claims the next range and takes one of its
        // sub-chunks.
        let before = map.stats().chunks_helped;
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 0..policy::ASSISTED_WRITES_PER_SHARE as u64 {
                    map.insert(i, i);
                }
            });
        });
        assert_eq!(map.stats().chunks_helped, before + 1);
        helper.run(&AtomicBool::new(true));
        drop(helper);
        let s = map.stats();
        assert_eq!(s.resizes, s.resizes_finished, "{s:?}");
        assert_holds(&map, k);
    }

    /// A migration that no helper works on and that only updates meet (no
    /// insert moves the new table toward its bound) still ends: a write in
    /// 16 helps anyway.
    #[test]
    fn an_idle_helper_does_not_hold_a_migration_open() {
        let map = WordMap::<u64, u64>::new();
        let helper = map.resize_helper();
        let k = resizing_with_helper(&map, &helper);
        // 2,048 sub-chunks, one per 16 writes, plus the thread's count.
        let writes = 2_048 * policy::ASSISTED_WRITES_PER_SHARE as u64 + 16;
        for i in 0..writes {
            map.insert(i % k, i % k);
        }
        let s = map.stats();
        assert_eq!(s.resizes, s.resizes_finished, "{s:?}");
        assert_holds(&map, k);
    }

    /// A helper that never steps holds nothing up: once the new table,
    /// with what is left to copy, would pass 5/8, writes help by their
    /// share again and finish each migration before the new table needs a
    /// resize of its own (resizes never stack up: as first written, the
    /// bound counted the new table's claims only, and writers filled it
    /// before copying anything).
    #[test]
    fn a_helper_that_never_steps_blocks_nothing() {
        let map = WordMap::<u64, u64>::new();
        let _idle = map.resize_helper();
        for k in 0..200_000u64 {
            map.insert(k, k);
            let s = map.stats();
            assert!(s.resizes <= s.resizes_finished + 1, "key {k}: {s:?}");
        }
        let s = map.stats();
        assert!(s.resizes >= 13 && s.chunks_helped > 0, "{s:?}");
        assert!(s.resizes - s.resizes_finished <= 1, "{s:?}");
        assert_eq!(s.chunks_assisted, 0);
        assert_holds(&map, 200_000);
    }

    /// Dropping the helper gives the work back: every write that meets
    /// the migration helps again.
    #[test]
    fn dropping_the_helper_gives_the_work_back() {
        let map = WordMap::<u64, u64>::new();
        let helper = map.resize_helper();
        let mut k = resizing_with_helper(&map, &helper);
        let before = map.stats().chunks_helped;
        for _ in 0..32 {
            map.insert(k, k);
            k += 1;
        }
        let helped = map.stats().chunks_helped - before;
        assert!(helped <= 2, "{helped} of 32 writes helped");
        drop(helper);
        for _ in 0..8 {
            map.insert(k, k);
            k += 1;
        }
        assert_eq!(map.stats().chunks_helped, before + helped + 8);
        assert_holds(&map, k);
    }

    /// Two helpers share one migration: each step takes sub-chunks the
    /// other has not, and together they move every one exactly once.
    #[test]
    fn two_helpers_split_one_migration() {
        let map = WordMap::<u64, u64>::new();
        let (a, b) = (map.resize_helper(), map.resize_helper());
        let k = resizing_with_helper(&map, &a);
        let before = map.stats();
        while a.step() | b.step() {}
        let s = map.stats();
        assert_eq!(s.resizes, s.resizes_finished, "{s:?}");
        let helped = s.chunks_helped - before.chunks_helped;
        assert_eq!(
            s.chunks_assisted - before.chunks_assisted + helped,
            16_384 / 8
        );
        assert_holds(&map, k);
    }

    /// A helper faults the prepared table in as soon as it exists, where
    /// writers leave it (with a helper registered) until all its steps are
    /// due at 23/32. (Only mapped tables are prepared: Linux.)
    #[test]
    #[cfg(target_os = "linux")]
    fn a_helper_faults_the_prepared_table_in_ahead_of_the_writers() {
        let map = WordMap::<u64, u64>::new();
        let helper = map.resize_helper();
        // 8,192 slots, 5,400 keys: past 5/8 (prepared), below 23/32. Its
        // successor (256 KiB) is one memory step.
        for k in 0..5_400u64 {
            map.insert(k, k);
            if k < 4_000 {
                while helper.step() {}
            }
        }
        let claimed = || {
            let guard = map.raw().pin();
            let root = map.raw().resizer().root(&guard);
            assert_eq!(root.len(), 8_192);
            // SAFETY: the root's prepared table lives as long as the root,
            // which `guard` protects.
            let prepared = unsafe {
                root.header()
                    .prepared
                    .load(crate::sync::Ordering::Acquire)
                    .table()
                    .as_ref()
            }
            .expect("prepared past 5/8");
            (
                prepared.header().steps_claimed.load(Relaxed),
                prepared.memory_steps(),
            )
        };
        let (writers, total) = claimed();
        assert!(total >= 1);
        assert_eq!(
            writers, 0,
            "writers faulted in steps a helper was there for"
        );
        while helper.step() {}
        let (claimed, total) = claimed();
        assert!(claimed >= total, "{claimed} {total}");
        assert_holds(&map, 5_400);
    }

    /// Whether the thread `id` is on the parked list.
    fn parked(id: std::thread::ThreadId) -> bool {
        crate::resize::parking::PARKED.holds(id)
    }

    /// A map with no helper rings nobody: its resizes start while a helper
    /// of another map is parked and the parked list's lock is held (found
    /// by review: every resize start in the process took that lock while
    /// any helper parked, so a write could wait on a helper thread). The
    /// wait below is a liveness bound, not a speed one.
    #[test]
    fn a_map_without_a_helper_never_waits_on_the_parked_list() {
        writes_beside_a_held_parked_list(false);
    }

    /// A map with a helper rings, and its ring only tries the parked
    /// list's lock: held (by a helper joining or leaving the list, here by
    /// the test), the ring is left to the holder (`Parking::deliver`), and
    /// the write goes on (found by review: it waited on the lock, so a
    /// helper preempted holding it stalled the writers of its map).
    #[test]
    fn a_map_with_a_helper_never_waits_on_the_parked_list() {
        writes_beside_a_held_parked_list(true);
    }

    /// A thread parked on the process's list, the list's lock held, and a
    /// writer of a fresh map (with a registered helper that never steps,
    /// if `with_helper`) that grows it through several resizes: the
    /// writer must finish while the lock is held.
    fn writes_beside_a_held_parked_list(with_helper: bool) {
        use std::sync::atomic::Ordering::SeqCst;
        let parking = &crate::resize::parking::PARKED;
        let map = WordMap::<u64, u64>::new();
        let helper = with_helper.then(|| map.resize_helper());
        let (done, release) = (AtomicBool::new(false), AtomicBool::new(false));
        std::thread::scope(|s| {
            // A parked thread keeps the list's flag set (it parks again
            // when another test's ring wakes it).
            let parked_one = s.spawn(|| {
                while !release.load(SeqCst) {
                    parking.park_unless(|| None::<()>, Duration::from_secs(3_600));
                }
            });
            let id = parked_one.thread().id();
            // Lets the parked thread go however this test ends (a failed
            // assertion would otherwise leave the scope waiting for it).
            struct Release<'a>(&'a AtomicBool, std::thread::Thread);
            impl Drop for Release<'_> {
                fn drop(&mut self) {
                    self.0.store(true, SeqCst);
                    self.1.unpark();
                }
            }
            let _release = Release(&release, parked_one.thread().clone());
            // The list's lock, taken while the thread is on the list (so
            // the flag every ring reads is set): another test's ring may
            // wake it in between, and it parks again.
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            let held = loop {
                let held = parking.lock_for_test();
                if held.iter().any(|t| t.id() == id) {
                    break held;
                }
                drop(held);
                assert!(std::time::Instant::now() < deadline, "never parked");
                std::thread::sleep(Duration::from_millis(1));
            };
            let writer = s.spawn(|| {
                // Several resizes, each of which would ring.
                for k in 0..5_000u64 {
                    map.insert(k, k);
                }
                done.store(true, SeqCst);
            });
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while !done.load(SeqCst) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            let finished = done.load(SeqCst);
            drop(held);
            writer.join().unwrap();
            assert!(finished, "a write waited on the parked helpers' lock");
        });
        drop(helper);
        assert!(map.stats().resizes > 0);
        assert_holds(&map, 5_000);
    }

    /// An idle helper parks, and a resize that starts in the map wakes it
    /// at once: its park here would last an hour, yet it migrates. (The
    /// bounds below are liveness, not speed: a minute each.)
    #[test]
    fn a_parked_helper_is_rung_awake_by_a_resize() {
        let map = WordMap::<u64, u64>::new();
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let helper = s.spawn(|| {
                map.resize_helper()
                    .run_parking(&stop, Duration::from_secs(3_600))
            });
            let id = helper.thread().id();
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            let mut woken = false;
            while std::time::Instant::now() < deadline {
                if parked(id) {
                    // Growth: its first resize rings. Writers leave their
                    // shares to the helper, so only it moves the chunks
                    // the statistics count as assisted.
                    for k in 0..50_000u64 {
                        map.insert(k, k);
                    }
                    while std::time::Instant::now() < deadline {
                        if map.stats().chunks_assisted > 0 {
                            woken = true;
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            stop.store(true, std::sync::atomic::Ordering::Release);
            helper.thread().unpark();
            assert!(woken, "the helper never parked, or no resize woke it");
        });
        assert_holds(&map, 50_000);
    }
}
