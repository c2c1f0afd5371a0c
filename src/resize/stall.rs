//! Reads that finish a migration the writes left open.
//!
//! A migration moves by writes: each write that meets it migrates a share
//! first (`Resizer::help`), and the gets do not, so that reads stay as fast
//! while the map grows as before it. A map whose writes stop while a
//! migration is open (a bulk load that ends a little after a growth began,
//! then only reads) kept it open for good: both tables resident (the old
//! one half the size of the new, so 1.5 times the memory; measured, a
//! `WordMap` of 6.5M keys at 62 bytes a key against 41.3 once finished)
//! and every lookup of a copied key reading both.
//!
//! So a read that meets an open migration watches it, per party (the
//! record its guard holds): once in [`CHECK_EVERY`] such reads it reads
//! how many sub-chunks the writes and resize helpers have moved
//! (`MapCounters::moved_by_others`, exact: the reads' own are counted
//! apart) and the clock. A window opens at the first check and whenever
//! that count has moved by more than [`MARGIN`] since the window opened;
//! once a window has stayed open for [`STALL`] (others moved at most
//! `MARGIN` sub-chunks in 50 ms or more), the party's reads that meet the
//! migration move a sub-chunk each (`Party::Reader`), until it is done or
//! others move it again.
//!
//! The same watch ends a growth the map stopped heading for: a table past
//! 5/8 holds its prepared successor (`Resizer::prepare`, up to twice its
//! own memory, faulted in), and a map that stops growing there, between
//! 5/8 and 3/4, held it for good (a `WordMap` of 6.0M keys read 65.6 bytes
//! a key). So an operation that finds a prepared table, and no
//! migration, watches the slots claimed in the table (`Occupancy`, where
//! every new key and every copy counts); once a window has stayed open for
//! [`STALL`] with at most [`MARGIN`] claims, the table is released
//! (`Resizer::release_prepared`). Reads and writes both watch it: a map
//! whose writes only update (a table of counters) claims nothing.
//!
//! A heuristic, not a protocol: a read migrates exactly as a write does
//! (`Resizer::migrate_share`, which any number of parties run at once),
//! and a release is the prepared table's own protocol (`prepared.rs`);
//! this module only decides when. [`STALL`] is long against a writer's
//! gaps (a writer preempted for a time slice or two does not turn the
//! reads of a growing map into migrators), short against a service's life.
//! Not under loom, which has no clock: the models' reads never migrate.

// Heuristics, not protocol steps: the statistics atomics (`sync::stat`).
use crate::sync::stat::{AtomicBool, AtomicU64, AtomicUsize};
use crate::sync::Ordering::Relaxed;

/// How long the others' progress must stay within [`MARGIN`] before
/// reads move the migration: 50 ms, in nanoseconds.
pub(crate) const STALL: u64 = 50_000_000;

/// A read that meets a migration checks it once in this many.
pub(crate) const CHECK_EVERY: usize = 64;

/// Checks a window must span before it counts as a stall: the party did
/// at least `MIN_CHECKS * CHECK_EVERY` operations in it, so a window that
/// grew long because this party itself was descheduled (a writer whose own
/// claims are the progress) is not one.
pub(crate) const MIN_CHECKS: usize = 2;

/// Sub-chunks the writes and helpers may move in a window without it
/// counting as progress: 64 (512 slots), so that a migration others move
/// at under 1,280 sub-chunks a second (a trickle of writes, which would
/// take minutes over a large table while every read of a copied key
/// reads both tables) is taken over too.
pub(crate) const MARGIN: u64 = 64;

/// What a watch watches, in the table of a generation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Watched {
    /// The table's migration: the sub-chunks others move.
    Migration(u64),
    /// The table's prepared successor: the slots claimed in the table.
    Prepared(u64),
}

impl Watched {
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
    /// The clock (`crate::clock::now`) when the window opened.
    since: AtomicU64,
    /// Operations that meet it until the next check.
    countdown: AtomicUsize,
    /// Checks since the window opened.
    checks: AtomicUsize,
    /// The party's reads move the migration.
    helping: AtomicBool,
}

impl StallWatch {
    pub(crate) fn new() -> StallWatch {
        StallWatch {
            table: AtomicU64::new(0),
            outside: AtomicU64::new(0),
            since: AtomicU64::new(0),
            countdown: AtomicUsize::new(0),
            checks: AtomicUsize::new(0),
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
            // margin: 1/64 of its table's slots, at least 128 claims).
            return matches!(watched, Watched::Migration(_)) && self.helping.load(Relaxed);
        }
        self.countdown.store(CHECK_EVERY, Relaxed);
        let (outside, now) = (outside(), now());
        if outside.wrapping_sub(self.outside.load(Relaxed)) > MARGIN {
            // Others move it: leave it to them, and watch anew.
            self.open(outside, now);
            return false;
        }
        // At least two checks into the window: one gap of 50 ms between
        // two checks is this party itself stopped (preempted), not the
        // others; so a lone writer never releases its own growth's table.
        let checks = self.checks.load(Relaxed) + 1;
        self.checks.store(checks, Relaxed);
        let stalled = checks >= MIN_CHECKS && now.saturating_sub(self.since.load(Relaxed)) >= STALL;
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
        self.since.store(now, Relaxed);
        self.countdown.store(CHECK_EVERY, Relaxed);
        self.checks.store(0, Relaxed);
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
        // Nothing moves; 1 ms a read: the stall is seen at the first check
        // 50 ms on, and every read helps from then on.
        let helped = drive(&w, 0..10_000, &|_| 0, &|r| r * MS);
        let first_check = (STALL / MS)
            .div_ceil(CHECK_EVERY as u64)
            .max(MIN_CHECKS as u64)
            * CHECK_EVERY as u64;
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
    fn a_forgotten_watch_starts_over() {
        let w = StallWatch::new();
        let stalls = |w: &StallWatch, from: u64| {
            (from..from + 1_000)
                .filter(|&r| w.met(Watched::Prepared(0), || 0, || r * MS))
                .count()
        };
        assert!(stalls(&w, 0) > 0);
        w.forget();
        // The same table prepared again: 50 ms before the next stall.
        assert!(!w.met(Watched::Prepared(0), || 0, || 2_000 * MS));
        for r in 1..2 * CHECK_EVERY as u64 {
            assert!(!w.met(Watched::Prepared(0), || 0, || 2_000 * MS + r));
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
