//! Reads that finish a migration the writes left open.
//!
//! A migration moves by writes: each write that meets it migrates a share
//! first (`Resizer::help`), and the gets do not, so that reads stay as fast
//! while the map grows as before it. A map whose writes stop while a
//! migration is open (a bulk load that ends a little after a growth began,
//! then only reads) kept it open for good: both tables resident (the old
//! one half the size of the new, so 1.5 times the memory; measured, a
//! `WordMap` of 6.5M keys at 62 bytes a key against 41.5 once finished)
//! and every lookup of a copied key reading both.
//!
//! So a read that meets an open migration watches it, per party (the
//! record its guard holds): once in [`CHECK_EVERY`] such reads it reads the
//! migration's progress (`Cursor::done`, the slots of the ranges
//! completed) and the clock. While the progress that reads did not make
//! stays under [`MARGIN`] for [`STALL`], the party's reads that meet the
//! migration move a sub-chunk each (`Party::Reader`), until it is done or
//! the progress of others (writes, a resize helper) resumes.
//!
//! A heuristic, not a protocol: a read migrates exactly as a write does
//! (`Resizer::migrate_share`, which any number of parties run at once);
//! this module only decides when. [`STALL`] is long against a writer's
//! gaps (a writer preempted for a time slice or two does not turn the
//! reads of a growing map into migrators), short against a service's life.
//! Not under loom, which has no clock: the models' reads never migrate.

// Heuristics, not protocol steps: the statistics atomics (`sync::stat`).
use crate::sync::stat::{AtomicBool, AtomicU64, AtomicUsize};
use crate::sync::Ordering::Relaxed;

/// How long a migration's progress must stay below [`MARGIN`] (besides the
/// reads' own) before reads move it: 50 ms, in nanoseconds.
pub(crate) const STALL: u64 = 50_000_000;

/// A read that meets a migration checks it once in this many.
pub(crate) const CHECK_EVERY: usize = 64;

/// Progress of others, in slots between two checks, that counts as the
/// migration moving without the reads: two ranges (`Cursor::done` counts
/// whole ranges, so a reader's own sub-chunks show there only once their
/// range is complete, up to a range late).
pub(crate) const MARGIN: usize = 2 * super::cursor::RANGE;

/// One party's watch over the migration its reads meet. Every field is
/// written by the party holding the record alone: Relaxed loads and
/// stores, no read-modify-write. A record handed to another thread hands
/// its watch over too, which only delays or hastens a decision.
pub(crate) struct StallWatch {
    /// The generation + 1 of the table whose migration is watched (0:
    /// none).
    table: AtomicU64,
    /// `Cursor::done` and the map's count of slots moved by reads, at the
    /// last check.
    done: AtomicUsize,
    read: AtomicUsize,
    /// The clock (`crate::clock::now`) when others' progress was last seen.
    since: AtomicU64,
    /// Reads that meet the migration until the next check.
    countdown: AtomicUsize,
    /// The party's reads move the migration.
    helping: AtomicBool,
}

impl StallWatch {
    pub(crate) fn new() -> StallWatch {
        StallWatch {
            table: AtomicU64::new(0),
            done: AtomicUsize::new(0),
            read: AtomicUsize::new(0),
            since: AtomicU64::new(0),
            countdown: AtomicUsize::new(0),
            helping: AtomicBool::new(false),
        }
    }

    /// A read of this party met the migration of the table of generation
    /// `generation`: whether it moves a sub-chunk. `done` reads the
    /// migration's progress, `read` the slots reads moved in the map so far,
    /// `now` the clock; each only at a check.
    #[inline]
    pub(crate) fn met(
        &self,
        generation: u64,
        done: impl FnOnce() -> usize,
        read: impl FnOnce() -> usize,
        now: impl FnOnce() -> u64,
    ) -> bool {
        let tag = generation.wrapping_add(1);
        if self.table.load(Relaxed) != tag {
            // A migration not watched yet: its first check is a baseline.
            self.table.store(tag, Relaxed);
            self.done.store(done(), Relaxed);
            self.read.store(read(), Relaxed);
            self.since.store(now(), Relaxed);
            self.countdown.store(CHECK_EVERY, Relaxed);
            self.helping.store(false, Relaxed);
            return false;
        }
        let helping = self.helping.load(Relaxed);
        let left = self.countdown.load(Relaxed).saturating_sub(1);
        if left > 0 {
            self.countdown.store(left, Relaxed);
            return helping;
        }
        self.countdown.store(CHECK_EVERY, Relaxed);
        let (done, read, now) = (done(), read(), now());
        let moved = done.saturating_sub(self.done.load(Relaxed));
        let by_reads = read.saturating_sub(self.read.load(Relaxed));
        self.done.store(done, Relaxed);
        self.read.store(read, Relaxed);
        if moved.saturating_sub(by_reads) > MARGIN {
            // Others move it: leave it to them.
            self.since.store(now, Relaxed);
            self.helping.store(false, Relaxed);
            return false;
        }
        let stalled = now.saturating_sub(self.since.load(Relaxed)) >= STALL;
        self.helping.store(stalled, Relaxed);
        stalled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a watch through `reads` reads that meet generation 0's
    /// migration, with the given progress and clock; returns how many
    /// helped.
    fn drive(
        w: &StallWatch,
        reads: u32,
        done: &dyn Fn(u32) -> usize,
        by_reads: &dyn Fn(u32) -> usize,
        clock: &dyn Fn(u32) -> u64,
    ) -> u32 {
        (0..reads)
            .filter(|&r| w.met(0, || done(r), || by_reads(r), || clock(r)))
            .count() as u32
    }

    #[test]
    fn a_migration_that_moves_is_left_to_the_writes() {
        let w = StallWatch::new();
        // Writes complete a range every read; a second passes per read.
        let helped = drive(
            &w,
            100_000,
            &|r| r as usize * super::super::cursor::RANGE,
            &|_| 0,
            &|r| u64::from(r) * 1_000_000_000,
        );
        assert_eq!(helped, 0);
    }

    #[test]
    fn a_stalled_migration_is_moved_by_reads_after_the_stall() {
        let w = StallWatch::new();
        // Nothing moves; 1 ms per read: the stall is seen at the first
        // check 50 ms on, and every read helps from then on.
        let helped = drive(&w, 10_000, &|_| 0, &|_| 0, &|r| u64::from(r) * 1_000_000);
        let first_check =
            ((STALL / 1_000_000) as u32).div_ceil(CHECK_EVERY as u32) * CHECK_EVERY as u32;
        assert_eq!(helped, 10_000 - first_check);
    }

    #[test]
    fn reads_keep_helping_while_only_reads_move_it() {
        let w = StallWatch::new();
        // Once stalled, the reads' own progress (counted apart, several
        // readers' together) keeps them helping.
        let stalled_from = 60_000u32;
        let helped = drive(
            &w,
            200_000,
            &|r| r.saturating_sub(stalled_from) as usize * 8,
            &|r| r.saturating_sub(stalled_from) as usize * 8,
            &|r| u64::from(r) * 1_000,
        );
        assert!(
            helped > 200_000 - stalled_from - CHECK_EVERY as u32,
            "{helped}"
        );
    }

    #[test]
    fn writes_that_resume_take_the_migration_back() {
        let w = StallWatch::new();
        let resume = 100_000u32;
        let range = super::super::cursor::RANGE;
        // Stalled (1 µs a read: 50,000 reads to the stall), then writes
        // complete a range per read from `resume` on.
        drive(&w, resume, &|_| 0, &|_| 0, &|r| u64::from(r) * 1_000);
        assert!(w.helping.load(Relaxed), "stalled before the writes resume");
        let helped = drive(&w, 1_000, &|r| r as usize * range, &|_| 0, &|r| {
            u64::from(resume + r) * 1_000
        });
        assert!((helped as usize) < CHECK_EVERY, "{helped}");
        assert!(!w.helping.load(Relaxed));
    }

    #[test]
    fn a_new_migration_starts_a_new_watch() {
        let w = StallWatch::new();
        drive(&w, 10_000, &|_| 0, &|_| 0, &|r| u64::from(r) * 1_000_000);
        assert!(w.helping.load(Relaxed));
        // Generation 1: a baseline first, no help.
        assert!(!w.met(1, || 0, || 0, || 10_000_000_000));
        assert!(!w.helping.load(Relaxed));
    }
}
