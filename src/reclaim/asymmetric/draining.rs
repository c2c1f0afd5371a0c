//! Freeable tables whose free is spread over the writes that follow.
//!
//! A `HashMap` table owns the entries of its keyed tombstones
//! (`raw/table.rs`): a churning map's retired table owns one entry per key
//! removed since the table came, half a million in a cache of that size.
//! Freed by the scan that found the table freeable, they were one
//! operation of 16–72 ms (docs/benchmarks.md, "Tables freed in steps").
//! So a scan frees one step of such a table (`Retire::free_part`) and
//! hands the rest here, where every few writes of a thread free a step of
//! each table, until they are gone ([`step`](Draining::step)); pacing
//! ticks (reads too) step only once the writers stopped
//! ([`tick`](Draining::tick)), and a resize helper steps whenever it has
//! nothing else to do.
//!
//! No pin can reach these tables any more (a scan proved it before the
//! first step), so a step needs none of a scan's work (the fence, the
//! records' announcements): whoever holds the `stepping` flag owns them.
//! A thread that finds the flag taken skips its step; nobody waits.
//!
//! A scan hands a table over through a lock-free stack (`arrived`), so
//! that it need not take the flag; the stepper moves what arrived into its
//! queue before it steps.

use std::cell::UnsafeCell;
use std::collections::VecDeque;

use super::retired::Retired;
use super::{ScanFlag, IDLE_TICKS};
use crate::reclaim::stack::{Stack, Taken};
use crate::sync::stat::AtomicUsize;
use crate::sync::AtomicBool;
use crate::sync::Ordering::{Acquire, Relaxed, Release};

/// Tables a step frees a part of, at most (the oldest first).
pub(super) const TABLES_PER_STEP: usize = 4;

/// A map's freeable tables, freed a step at a time.
pub(super) struct Draining {
    /// Tables handed over by scans, newest first, not yet in `tables`.
    arrived: Stack<Retired>,
    /// Whether a thread is stepping: its holder alone touches `tables`.
    stepping: AtomicBool,
    /// The tables being freed, in the order they arrived.
    tables: UnsafeCell<VecDeque<Retired>>,
    /// Tables here (`arrived` and `tables`): a gauge, read by every tick.
    count: AtomicUsize,
    /// Steps taken by writes (and resize helpers) so far; that count as a
    /// pacing tick last saw it; and the ticks in a row since that saw it
    /// unchanged ([`tick`](Self::tick)). Heuristics, Relaxed, each map's
    /// own, read and written by any thread's ticks with a lossy load and
    /// store (a lost update only moves a tick's step by a tick or two).
    steps: AtomicUsize,
    ticked_at: AtomicUsize,
    idle_ticks: AtomicUsize,
}

/// Who takes a step ([`Draining::step`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Stepper {
    /// A write, or a resize helper: its steps keep ticks from stepping.
    Writer,
    /// A pacing tick, once the writers stopped stepping.
    Tick,
}

// SAFETY: `tables` is only touched by the holder of `stepping` (or with
// `&mut self`), and `Retired` is `Send`; the other fields are `Sync`.
unsafe impl Sync for Draining {}

impl Draining {
    pub(super) fn new() -> Self {
        Draining {
            arrived: Stack::new(),
            stepping: AtomicBool::new(false),
            tables: UnsafeCell::new(VecDeque::new()),
            count: AtomicUsize::new(0),
            steps: AtomicUsize::new(0),
            ticked_at: AtomicUsize::new(0),
            idle_ticks: AtomicUsize::new(0),
        }
    }

    /// Tables here, for the ticks' check and the pending-garbage gauge.
    /// Relaxed: a stale zero skips a tick's step (the next tick takes it),
    /// a stale non-zero costs a look at the flag.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.count.load(Relaxed)
    }

    /// Takes `table` over, to be freed in steps.
    ///
    /// # Safety
    ///
    /// No pin can reach the table, its last accesses happen before this
    /// call, it is not wholly freed yet, and the caller owns it alone.
    pub(super) unsafe fn add(&self, table: Retired) {
        // Relaxed: a gauge; counted before the push, uncounted after the
        // free, so it never goes below zero.
        self.count.fetch_add(1, Relaxed);
        // Release: the stepper that takes it (Acquire) sees its fields and
        // happens after our accesses (the first step's included).
        self.arrived.push(table, Release);
    }

    /// On a pacing tick (reads tick too): a step, once the map's ticks
    /// have seen no write step for [`IDLE_TICKS`] ticks in a row. Writers
    /// step on their writes: their entry caches take the freed blocks
    /// back for their next inserts, where a reader, which allocates none,
    /// gives them back to the spans, from which the writers' refills take
    /// them again under the spans' lock; and a map's removals, which make
    /// the tables' debt, are writes. So ticks step only once the writers
    /// stopped, and then each tick steps: a map that churned and now only
    /// reads still frees its tables, `budget` entries a tick.
    pub(super) fn tick(&self, budget: usize) {
        // Relaxed: heuristics (the fields' docs).
        let steps = self.steps.load(Relaxed);
        if self.ticked_at.load(Relaxed) != steps {
            self.ticked_at.store(steps, Relaxed);
            self.idle_ticks.store(0, Relaxed);
            return;
        }
        let idle = self.idle_ticks.load(Relaxed).saturating_add(1);
        self.idle_ticks.store(idle, Relaxed);
        if idle >= IDLE_TICKS {
            self.step(budget, Stepper::Tick);
        }
    }

    /// Frees a step (`budget` entries) of each table here (the oldest
    /// [`TABLES_PER_STEP`]), unless another thread is stepping. A table
    /// wholly freed leaves; one whose step panicked (a user's `Drop`)
    /// stays, to be resumed by a later step (`Retire::free_part`: nothing
    /// is freed twice). Returns whether this thread stepped.
    pub(super) fn step(&self, budget: usize, by: Stepper) -> bool {
        let Some(_flag) = ScanFlag::try_take(&self.stepping) else {
            return false;
        };
        // SAFETY: the flag makes us the only thread touching `tables`; the
        // borrow ends before the flag's drop. A user's `Drop` run by a
        // step that pins this map and ticks finds the flag taken.
        let tables = unsafe { &mut *self.tables.get() };
        if by == Stepper::Writer {
            // Relaxed: a heuristic (`tick`); under the flag, so a plain
            // increment.
            let steps = self.steps.load(Relaxed);
            self.steps.store(steps.wrapping_add(1), Relaxed);
        }
        if self.len() > tables.len() {
            // Acquire: pairs with `add`'s push. The swap makes them ours;
            // the stack gives the newest first.
            let arrived: Vec<Retired> = self.arrived.take_all(Acquire).collect();
            tables.extend(arrived.into_iter().rev());
        }
        // The oldest few: a backlog drains faster, yet a step stays
        // bounded however many tables wait.
        let (mut i, mut visited) = (0, 0);
        while let Some(table) = tables.get_mut(i).filter(|_| visited < TABLES_PER_STEP) {
            visited += 1;
            // SAFETY: `add`'s caller proved no pin can reach it; the flag
            // makes it ours; not freed (it would have left).
            if unsafe { table.free_step(budget) } {
                // Off the queue before its free, so that a panic there
                // (which still frees the table) leaves nothing behind.
                let table = tables.remove(i).expect("at `i`");
                // Relaxed: the gauge, as in `add`.
                self.count.fetch_sub(1, Relaxed);
                // SAFETY: as above; taken off the queue, so freed once,
                // here. A user's `Drop` it runs that steps this map finds
                // the flag taken.
                unsafe { table.free() };
            } else {
                i += 1;
            }
        }
        true
    }

    /// Every table here, to be freed whole by the map's drop.
    pub(super) fn take_all_mut(&mut self) -> impl Iterator<Item = Retired> {
        let tables = std::mem::take(self.tables.get_mut());
        *self.count.get_mut() = 0;
        let arrived: Taken<Retired> = self.arrived.take_all_mut();
        tables.into_iter().chain(arrived)
    }
}
