//! Operations that end what the writes left: a migration they left open,
//! and a growth they stopped heading for.
//!
//! A migration moves by writes: each write that meets it migrates a share
//! first (`Resizer::help`), and the gets do not, so that reads stay as fast
//! while the map grows as before it. A map whose writes stop while a
//! migration is open (a bulk load that ends a little after a growth began,
//! then only reads) kept it open for good: both tables resident (the old
//! one half the size of the new, so 1.5 times the memory; measured, a
//! `WordMap` of 6.5M keys at 62 bytes a key against 41.3 once finished)
//! and every lookup of a copied key reading both. So a read that meets an
//! open migration watches it, per party (the record its guard holds),
//! against the sub-chunks the writes and resize helpers have moved
//! (`MapCounters::moved_by_others`, exact: the reads' own are counted
//! apart); once it has stalled, the party's reads that meet the migration
//! move a sub-chunk each (`Party::Reader`), until it is done or others
//! move it again.
//!
//! A table past 5/8 holds its prepared successor (`Resizer::prepare`, up
//! to twice its own memory, faulted in), and a map that stopped growing
//! there, between 5/8 and 3/4, held it for good (a `WordMap` of 6.0M keys
//! read 65.6 bytes a key). So an operation that finds a prepared table, and
//! no migration, watches the slots claimed in the table (`Occupancy`,
//! where every new key and every copy counts); once that has stalled, the
//! table is released (`Resizer::release_prepared`). Reads and writes both
//! watch it: a map whose writes only update (a table of counters) claims
//! nothing.
//!
//! **When a watch calls it a stall.** Once in [`CHECK_EVERY`] operations
//! that meet a migration (once in [`PREPARED_CHECK_EVERY`] of a thread's
//! that meet a prepared table), the party reads the progress count and the
//! clock. A window opens at the first check and whenever the count has
//! moved by more than [`MARGIN`] since the window opened. The window's
//! time is the party's *active* time: the gaps between its checks, each
//! counted up to a quarter of the stall ([`GAP_SHARE`]). It is a stall
//! once that time reaches [`Watched::stall`] (50 ms for a migration, 1 s
//! for a prepared table) with the count still within the margin. So a
//! stall spans at least four checks of the party, and a
//! party's own pause (descheduled, or sleeping) adds at most a quarter:
//! a thread that claims a slot in at least one of four of its operations
//! (every loader, a get-then-insert or insert-then-remove loop) moves the
//! count past the margin within those four checks, whatever its pauses,
//! so it never releases its own growth's table.
//!
//! A heuristic, not a protocol: a read migrates exactly as a write does
//! (`Resizer::migrate_share`, which any number of parties run at once),
//! and a release is the prepared table's own protocol (`prepared.rs`);
//! this module only decides when. The stalls are long against a writer's
//! gaps and short against a service's life; a prepared table's is the
//! longer, since only memory waits on it, and a map growing by fewer than
//! 64 keys a second (minutes to its resize for a large table) gives it
//! back meanwhile. Not under loom, which has no clock: the models'
//! operations never migrate or release through a watch.

// Heuristics, not protocol steps: the statistics atomics (`sync::stat`).
use crate::sync::stat::{AtomicBool, AtomicU64, AtomicUsize};
use crate::sync::Ordering::Relaxed;

/// A stall of a migration: 50 ms of the party's active time, in
/// nanoseconds ([`Watched::stall`]).
pub(crate) const STALL: u64 = 50_000_000;

/// A stall of a prepared table: 1 s of the party's active time.
pub(crate) const PREPARED_STALL: u64 = 1_000_000_000;

/// An operation that meets what is watched checks it once in this many.
pub(crate) const CHECK_EVERY: usize = 64;

/// A thread's operations that meet a prepared table check the watch once
/// in this many ([`tick`]). Far rarer than a migration's checks: each
/// check reads the clock and the party's watch (some 50–100 ns), and a
/// map holds a prepared table through an eighth of every growth, so
/// checks every 64 operations put that into 1 % of a growing map's
/// writes: its p99.9 insert rose from 1.0 to 1.2–1.3 µs (measured). At
/// one in 1,024, a stall spans at least 4,096 of the party's operations,
/// and a party that claims in one operation of 64 can never release its
/// own growth's table.
pub(crate) const PREPARED_CHECK_EVERY: u32 = 1024;

/// The most one gap between two checks of a party adds to its window's
/// active time: this share of the stall. A stall therefore spans at least
/// this many checks.
pub(crate) const GAP_SHARE: u64 = 4;

/// The progress a window allows without calling it progress
/// ([`policy::WATCH_MARGIN`](super::policy::WATCH_MARGIN)).
pub(crate) const MARGIN: u64 = super::policy::WATCH_MARGIN as u64;

std::thread_local! {
    /// The calling thread's count of operations that met a prepared table
    /// ([`tick`]).
    static TICKS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Counts an operation that met a prepared table (and no migration) on
/// the calling thread: whether it is the one in [`PREPARED_CHECK_EVERY`] that
/// checks the watch. A thread-local count, a few instructions: the
/// operations of a map that holds a prepared table (from 5/8 to 3/4 of
/// every growth, and for good in a map that churns there) pay that
/// instead of a call to reach the party's watch (about 60 instructions a
/// get, measured). Shared by all the maps a thread uses, which only
/// spreads each map's checks further apart.
#[inline]
pub(crate) fn tick() -> bool {
    TICKS.with(|t| {
        let n = t.get().wrapping_add(1);
        t.set(n);
        n % PREPARED_CHECK_EVERY == 0
    })
}

/// What a watch watches, in the table of a generation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Watched {
    /// The table's migration: the sub-chunks others move.
    Migration(u64),
    /// The table's prepared successor: the slots claimed in the table.
    Prepared(u64),
}

impl Watched {
    /// How long the progress must stay within [`MARGIN`], in the party's
    /// active time, for a stall.
    pub(crate) fn stall(self) -> u64 {
        match self {
            Watched::Migration(_) => STALL,
            Watched::Prepared(_) => PREPARED_STALL,
        }
    }

    /// A tag that tells every watched thing of a map apart, never 0 (for
    /// any generation a map reaches: one per resize, below 2^62).
    fn tag(self) -> u64 {
        match self {
            Watched::Migration(g) => g.wrapping_add(1) << 1,
            Watched::Prepared(g) => g.wrapping_add(1) << 1 | 1,
        }
    }
}

/// One party's watch over the migration (or prepared table) its
/// operations meet. Every field is
/// written by the party holding the record alone: Relaxed loads and
/// stores, no read-modify-write. A record handed to another thread hands
/// its watch over too, which only delays or hastens a decision.
pub(crate) struct StallWatch {
    /// What is watched ([`Watched::tag`]; 0: nothing).
    table: AtomicU64,
    /// The progress count (others' sub-chunks, or claims) when the window
    /// opened.
    outside: AtomicU64,
    /// The clock (`crate::clock::now`) at the party's last check.
    last: AtomicU64,
    /// The window's active time so far: its gaps between checks, each
    /// capped ([`GAP_SHARE`]).
    active: AtomicU64,
    /// Operations that meet it until the next check.
    countdown: AtomicUsize,
    /// The party's reads move the migration.
    helping: AtomicBool,
}

impl StallWatch {
    pub(crate) fn new() -> StallWatch {
        StallWatch {
            table: AtomicU64::new(0),
            outside: AtomicU64::new(0),
            last: AtomicU64::new(0),
            active: AtomicU64::new(0),
            countdown: AtomicUsize::new(0),
            helping: AtomicBool::new(false),
        }
    }

    /// An operation of this party met `watched`: whether it has stalled
    /// (a read then moves a sub-chunk of the migration; an operation
    /// releases the prepared table). `outside` reads the progress so far
    /// (the sub-chunks the writes and helpers moved in the map, or the
    /// slots claimed in the table), `now` the clock; each only at a check.
    #[inline]
    pub(crate) fn met(
        &self,
        watched: Watched,
        outside: impl FnOnce() -> u64,
        now: impl FnOnce() -> u64,
    ) -> bool {
        let tag = watched.tag();
        if self.table.load(Relaxed) != tag {
            // A migration not watched yet: its first window opens.
            self.table.store(tag, Relaxed);
            self.open(outside(), now());
            return false;
        }
        let left = self.countdown.load(Relaxed).saturating_sub(1);
        if left > 0 {
            self.countdown.store(left, Relaxed);
            // A stalled migration is moved by every read until the next
            // check; a prepared table is released by a check alone, so a
            // party whose window another party's release ended never acts
            // on it (a table prepared again came with progress past the
            // margin: `Resizer::release_prepared` waits for twice it).
            return matches!(watched, Watched::Migration(_)) && self.helping.load(Relaxed);
        }
        self.countdown.store(CHECK_EVERY, Relaxed);
        self.check(watched, outside(), now())
    }

    /// A check of what is watched, at progress count `outside` and clock
    /// `now`, with no countdown before it: [`met`](Self::met)'s, and a
    /// prepared table's, whose operations count down on the thread's own
    /// [`tick`] instead (cheaper than reaching the party's watch). Whether
    /// it has stalled.
    pub(crate) fn check(&self, watched: Watched, outside: u64, now: u64) -> bool {
        let tag = watched.tag();
        if self.table.load(Relaxed) != tag {
            self.table.store(tag, Relaxed);
            self.open(outside, now);
            return false;
        }
        if outside.wrapping_sub(self.outside.load(Relaxed)) > MARGIN {
            // Others move it: leave it to them, and watch anew.
            self.open(outside, now);
            return false;
        }
        let stall = watched.stall();
        let gap = now
            .saturating_sub(self.last.load(Relaxed))
            .min(stall / GAP_SHARE);
        let active = self.active.load(Relaxed).saturating_add(gap);
        self.last.store(now, Relaxed);
        self.active.store(active, Relaxed);
        let stalled = active >= stall;
        self.helping.store(stalled, Relaxed);
        stalled
    }

    /// Forgets what is watched, after a release: the next operation that
    /// meets a prepared table (one prepared again) opens a new window
    /// rather than finding this one's stall.
    pub(crate) fn forget(&self) {
        self.table.store(0, Relaxed);
        self.helping.store(false, Relaxed);
    }

    /// Opens a window at `outside` sub-chunks moved by others, at `now`.
    fn open(&self, outside: u64, now: u64) {
        self.outside.store(outside, Relaxed);
        self.last.store(now, Relaxed);
        self.active.store(0, Relaxed);
        self.countdown.store(CHECK_EVERY, Relaxed);
        self.helping.store(false, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a watch through the reads `reads` that meet generation 0's
    /// migration, with others' progress and the clock as functions of the
    /// read's index; returns how many helped.
    fn drive(
        w: &StallWatch,
        reads: std::ops::Range<u64>,
        outside: &dyn Fn(u64) -> u64,
        clock: &dyn Fn(u64) -> u64,
    ) -> u64 {
        reads
            .filter(|&r| w.met(Watched::Migration(0), || outside(r), || clock(r)))
            .count() as u64
    }

    const MS: u64 = 1_000_000;

    #[test]
    fn a_migration_others_move_is_left_to_them() {
        let w = StallWatch::new();
        // 1 µs a read, 10 s in all; others move twice the margin every
        // 50 ms, steadily: under one sub-chunk between two checks.
        let per_window = STALL / 1_000;
        let helped = drive(
            &w,
            0..10_000_000,
            &|r| r * (2 * MARGIN + 2) / per_window,
            &|r| r * 1_000,
        );
        assert_eq!(helped, 0);
    }

    #[test]
    fn a_stalled_migration_is_moved_by_reads_after_the_stall() {
        let w = StallWatch::new();
        // Nothing moves; 1 ms a read: the stall is seen once the checks'
        // gaps, each counted up to 12.5 ms, add up to 50 ms, and every
        // read helps from then on.
        let helped = drive(&w, 0..10_000, &|_| 0, &|r| r * MS);
        // 64 ms between checks, each counted as 12.5: the fourth check.
        let first_check = GAP_SHARE * CHECK_EVERY as u64;
        assert_eq!(helped, 10_000 - first_check);
    }

    #[test]
    fn a_trickle_within_the_margin_is_a_stall() {
        let w = StallWatch::new();
        // Others move MARGIN / 2 sub-chunks every 50 ms: reads take over.
        let helped = drive(
            &w,
            0..1_000_000,
            &|r| r * 1_000 / STALL * (MARGIN / 2),
            &|r| r * 1_000,
        );
        assert!(helped > 0);
    }

    #[test]
    fn progress_that_resumes_takes_the_migration_back() {
        let w = StallWatch::new();
        drive(&w, 0..100_000, &|_| 0, &|r| r * 1_000);
        assert!(w.helping.load(Relaxed), "stalled before others resume");
        // Others move a sub-chunk a read from read 100,000 on.
        let helped = drive(&w, 100_000..101_000, &|r| r - 100_000, &|r| r * 1_000);
        assert!(helped < 2 * CHECK_EVERY as u64, "{helped}");
        assert!(!w.helping.load(Relaxed));
        // And the next stall is waited for in full again.
        let helped = drive(&w, 101_000..120_000, &|_| 1_000, &|r| r * 1_000);
        assert_eq!(helped, 0, "within 50 ms of the last progress");
    }

    #[test]
    fn a_new_migration_starts_a_new_watch() {
        let w = StallWatch::new();
        drive(&w, 0..10_000, &|_| 0, &|r| r * MS);
        assert!(w.helping.load(Relaxed));
        // Generation 1, 10 s later: a new window, no help for its 50 ms.
        assert!(!w.met(Watched::Migration(1), || 0, || 10_000 * MS));
        for r in 1..=2 * CHECK_EVERY as u64 {
            assert!(
                !w.met(Watched::Migration(1), || 0, || 10_000 * MS + r),
                "read {r}"
            );
        }
        assert!(!w.helping.load(Relaxed));
    }

    #[test]
    fn one_long_gap_of_the_party_itself_is_not_a_stall() {
        let w = StallWatch::new();
        // A lone writer whose claims are the progress: 64 claims between
        // two checks (at most MARGIN), and one gap of 100 ms (preempted)
        // right after the window opened.
        let claims = |r: u64| r;
        let clock = |r: u64| {
            if r <= CHECK_EVERY as u64 {
                r
            } else {
                r + 100 * MS
            }
        };
        assert!(!w.met(Watched::Prepared(0), || claims(0), || clock(0)));
        let stalled = (1..=10 * CHECK_EVERY as u64)
            .filter(|&r| w.met(Watched::Prepared(0), || claims(r), || clock(r)))
            .count();
        assert_eq!(stalled, 0);
    }

    #[test]
    fn a_party_that_claims_every_other_time_never_stalls_itself() {
        // A get-then-insert loader (or an insert-then-remove churn): a
        // claim every second operation, and a pause of 10 s after every
        // operation. Its window closes at the third check (96 claims), by
        // which its gaps add at most half the stall.
        for watched in [Watched::Prepared(0), Watched::Migration(0)] {
            let w = StallWatch::new();
            let stalled = (0..100 * CHECK_EVERY as u64)
                .filter(|&r| w.met(watched, || r / 2, || r * 10_000 * MS))
                .count();
            assert_eq!(stalled, 0, "{watched:?}");
        }
    }

    #[test]
    fn a_forgotten_watch_starts_over() {
        let w = StallWatch::new();
        // 1 ms an operation: the stall, 1 s, at the 16th check.
        let stalls = |w: &StallWatch, from: u64| {
            (from..from + 3_000)
                .filter(|&r| w.met(Watched::Prepared(0), || 0, || r * MS))
                .count()
        };
        assert!(stalls(&w, 0) > 0);
        w.forget();
        // The same table prepared again: a whole stall before the next.
        assert!(!w.met(Watched::Prepared(0), || 0, || 5_000 * MS));
        for r in 1..15 * CHECK_EVERY as u64 {
            assert!(!w.met(Watched::Prepared(0), || 0, || (5_000 + r) * MS));
        }
    }

    #[test]
    fn a_prepared_table_is_watched_apart_from_the_migration() {
        let w = StallWatch::new();
        drive(&w, 0..10_000, &|_| 0, &|r| r * MS);
        assert!(w.helping.load(Relaxed));
        // The same generation's prepared table: a watch of its own.
        assert!(!w.met(Watched::Prepared(0), || 0, || 10_000 * MS));
        assert!(!w.helping.load(Relaxed));
        // A stall of the prepared table is acted on at the check alone.
        let acted = (1..10_000)
            .filter(|&r| w.met(Watched::Prepared(0), || 0, || 10_000 * MS + r * MS))
            .count();
        assert!(
            (1..=10_000 / CHECK_EVERY).contains(&acted),
            "{acted}: the stall is acted on at checks, not between them"
        );
        assert_ne!(Watched::Prepared(0).tag(), Watched::Migration(0).tag());
        assert_ne!(Watched::Prepared(0).tag(), Watched::Migration(1).tag());
    }
}
