//! The migration cursor of one table: how a resize's work is handed out in
//! chunks and how its end is detected. Part of the resize engine both maps
//! share (`resize/mod.rs`): `HashMap` (`raw/migrate.rs`) and `WordMap`
//! (`word/raw.rs`) migrate their slots differently, but split the work the
//! same way.
//!
//! Helpers claim chunks of [`CHUNK`] slots with one `fetch_add` of a claim
//! counter, in the interleaved order of [`chunk_of`] (neighbouring claims
//! lie far apart in the table); after migrating a chunk they add its
//! length to `done`; the helper whose addition completes the count sets
//! `finished` and promotes. A helper that stalls after claiming holds
//! nobody up: `finish` (in each map) migrates every slot itself,
//! idempotently, and sets `finished` too.

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

/// Interleaved passes of the hand-out order ([`chunk_of`]).
const WAYS: usize = 8;

/// The `k`th chunk handed out of a table of `slots` slots, `n` chunks.
/// Claims are taken `WAYS` ways interleaved over the first `WAYS * q`
/// chunks (`q = n / WAYS`): claim `k` gets chunk `(k % WAYS) * q + k /
/// WAYS`, so up to `WAYS` helpers migrating at the same moment
/// (consecutive claims) hold chunks `q` apart, and each one's lines (the
/// old slots, the successor's range for them and its probe overflow,
/// which is the next chunk's first line) are not another's. The fewer
/// than `WAYS` chunks left over, and every chunk of a table of fewer than
/// `2 * WAYS` chunks (`q` under 2: interleaving would change nothing),
/// go front to back, last. Handed out front to back, two helpers worked on
/// neighbouring chunks and fought over those lines: a chunk's copy took
/// 0.8–1.1 µs (`HashMap`) and 1.4–1.8 µs (`WordMap`) at 2 threads against
/// 0.5 and 1.0 µs at 1 (docs/benchmarks.md, "Issue #15").
///
/// A bijection of `0..n`: `k` ↦ `(k % WAYS, k / WAYS)` is one from
/// `0..WAYS * q` onto `[0, WAYS) × [0, q)`, and `(r, i)` ↦ `r * q + i` one
/// from there back onto `0..WAYS * q`; the rest maps to itself. So every
/// chunk is handed out exactly once and `done` counts each slot once.
#[inline]
fn chunk_of(k: usize, slots: usize) -> Range<usize> {
    let n = slots.div_ceil(CHUNK);
    let q = n / WAYS;
    let c = if q >= 2 && k < WAYS * q {
        // Mutation for checking the tests: two claims get the same chunk
        // (and one chunk none), so `done` completes with slots unmigrated.
        #[cfg(lfmap_mutation = "chunk_order_overlap")]
        let k = if k == 1 { 0 } else { k };
        (k % WAYS) * q + k / WAYS
    } else {
        k
    };
    let start = c * CHUNK;
    start..(start + CHUNK).min(slots)
}

pub(crate) struct Cursor {
    /// Claims so far times [`CHUNK`] (`fetch_add`): claim `k` is `k *
    /// CHUNK`, and gets [`chunk_of`]`(k)`.
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
        (start < slots).then(|| chunk_of(start / CHUNK, slots))
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Every slot is handed out exactly once, whatever the size: the
    /// migration's completion count (`done`) relies on it.
    #[test]
    fn chunks_partition_the_table() {
        let sizes = (1..=40 * CHUNK)
            .step_by(3)
            .chain((1..=300).map(|c| c * CHUNK));
        for slots in sizes.chain([1 << 10, 1 << 16, 3 << 12, (1 << 12) + 5, 125 * CHUNK]) {
            let cursor = Cursor::new();
            let mut seen = vec![0u8; slots];
            let mut claims = 0;
            while let Some(chunk) = cursor.next_chunk(slots) {
                claims += 1;
                for i in chunk {
                    seen[i] += 1;
                }
            }
            assert!(seen.iter().all(|&c| c == 1), "slots {slots}: {seen:?}");
            assert_eq!(claims, slots.div_ceil(CHUNK));
        }
    }

    /// Consecutive claims of a table of many chunks are far apart, also
    /// when `WAYS` does not divide its chunks (`with_capacity(1000)`'s 125).
    #[test]
    fn consecutive_claims_are_far_apart() {
        for n in [1 << 12, 125] {
            let slots = n * CHUNK;
            let cursor = Cursor::new();
            let first = cursor.next_chunk(slots).unwrap();
            let second = cursor.next_chunk(slots).unwrap();
            assert_eq!(first, 0..CHUNK);
            assert_eq!(second.start, n / WAYS * CHUNK);
        }
    }
}
