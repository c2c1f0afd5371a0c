//! The migration cursor of one table: how a resize's work is handed out in
//! chunks and how its end is detected. Part of the resize engine both maps
//! share (`resize/mod.rs`): `HashMap` (`raw/migrate.rs`) and `WordMap`
//! (`word/raw.rs`) migrate their slots differently, but split the work the
//! same way.
//!
//! Helpers claim chunks of [`CHUNK`] slots front to back with one
//! `fetch_add`; after migrating a chunk they add its length to `done`; the
//! helper whose addition completes the count sets `finished` and promotes.
//! A helper that stalls after claiming holds nobody up: `finish` (in each
//! map) migrates every slot itself, idempotently, and sets `finished` too.

use std::ops::Range;

use crate::sync::Ordering::{AcqRel, Acquire, Relaxed, Release};
use crate::sync::{AtomicBool, AtomicUsize};

/// Slots migrated per helping step. Every write that finds a migration
/// running migrates one chunk, so the chunk is the migration's share of a
/// write's latency: 64 slots took 1.1–2.0 µs (p50, 1–2 threads) and put
/// one write in thirty above 1 µs while the map grew; 16 slots take about
/// a quarter of that, for one more claim per 16 slots. 8 slots cut the
/// p99 of a growing map's inserts by another 10–25 % but cost `HashMap`
/// about 10 % of its growth throughput, and a migration twice as many
/// writes to finish (a table lives on beside its successor that much
/// longer); not taken (docs/benchmarks.md, "Issue #15").
///
/// Under loom, 2: a 4-slot table is then migrated in two chunks, so models
/// see several helpers and the chunk hand-off.
pub(crate) const CHUNK: usize = if cfg!(loom) { 2 } else { 16 };

pub(crate) struct Cursor {
    /// Next chunk to hand out (claimed with `fetch_add`).
    claim: AtomicUsize,
    /// Slots migrated by chunk owners.
    done: AtomicUsize,
    /// Every slot is frozen and copied: the next table is authoritative.
    finished: AtomicBool,
}

impl Cursor {
    pub(crate) fn new() -> Cursor {
        Cursor {
            claim: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            finished: AtomicBool::new(false),
        }
    }

    /// Hands out the next chunk of a table of `slots` slots, if any is left.
    #[inline]
    pub(crate) fn next_chunk(&self, slots: usize) -> Option<Range<usize>> {
        // Relaxed: the cursor only partitions work; the slots themselves are
        // synchronised by their own CASes. The plain load first keeps the
        // cursor from growing without bound once every chunk is handed out.
        if self.claim.load(Relaxed) >= slots {
            return None;
        }
        let start = self.claim.fetch_add(CHUNK, Relaxed);
        (start < slots).then(|| start..(start + CHUNK).min(slots))
    }

    /// Records that `chunk` is migrated; true for the one call that
    /// completes the table (which has then set `finished`: promote next).
    #[inline]
    pub(crate) fn complete(&self, chunk: Range<usize>, slots: usize) -> bool {
        let n = chunk.len();
        // AcqRel: the thread that completes the count must see every other
        // chunk's copies (Acquire) before it promotes, and publish its own
        // (Release); RMWs on one counter form a release sequence.
        if self.done.fetch_add(n, AcqRel) + n == slots {
            self.set_finished();
            return true;
        }
        false
    }

    /// Marks every slot migrated (by `complete` or by a `finish` pass).
    #[inline]
    pub(crate) fn set_finished(&self) {
        // Release: every copy made before happens-before a thread that reads
        // the flag with Acquire (`is_finished`, then promotion).
        self.finished.store(true, Release);
    }

    /// Whether every slot is migrated. Acquire: pairs with `set_finished`.
    #[inline]
    pub(crate) fn is_finished(&self) -> bool {
        self.finished.load(Acquire)
    }

    /// Marks a table that was never installed as migrated: it holds
    /// nothing to migrate (`resize::discard`). Exclusive access.
    pub(crate) fn mark_unused(&mut self) {
        self.finished.store(true, Relaxed);
    }

    /// `is_finished` for a caller with exclusive access (drop).
    pub(crate) fn finished_exclusive(&mut self) -> bool {
        self.finished.load(Relaxed)
    }
}
