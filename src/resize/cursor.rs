//! The migration cursor of one table: how a resize's work is handed out
//! and how its end is detected. Part of the resize engine both maps share
//! (`resize/mod.rs`): `HashMap` (`raw/migrate.rs`) and `WordMap`
//! (`word/raw.rs`) migrate their slots differently, but split the work the
//! same way.
//!
//! # Ranges and sub-chunks
//!
//! The table is cut into ranges of [`RANGE`] slots, each cut into
//! [`RANGE_SUBS`] sub-chunks of [`SUB`] slots. A helping write migrates one
//! sub-chunk (a shrink's up to 8: `Resizer::help`), so the migration's
//! share of a write's latency is [`SUB`] slots; the bookkeeping that used to come with every chunk (a claim and
//! a completion on counters every helper writes, ~300 ns at 2 threads)
//! now comes once per range:
//!
//! * **A range is claimed** with one `fetch_add` of the shared `claim`
//!   counter, in the interleaved order of [`unit_of`], and remembered by
//!   the claiming party (per map and party: `MapCounters::range_hint`).
//! * **A sub-chunk is taken** with one `fetch_add` on its range's own
//!   word (low half: sub-chunks taken). The party that claimed the range
//!   takes its sub-chunks one per write, from a word no other party writes
//!   until every range is claimed and thieves come (its cache line holds 7
//!   other ranges' words, though: in a table of fewer than 64 ranges their
//!   owners share it); it fetches the next sub-chunk's lines as it ends one
//!   ([`Cursor::ahead`]), so that its next write finds them cached.
//! * **Completion** adds to the range's word too (high half: sub-chunks
//!   done); the write that completes the range adds its slots to the
//!   shared `done`, and the one whose addition completes the table sets
//!   `finished` and promotes.
//! * **Stealing.** A range's owner may stop writing with sub-chunks left.
//!   Once every range is handed out, a write with nothing of its own looks
//!   at the next [`STEAL_SCAN`] range words of a shared cycle (`steal`),
//!   takes a sub-chunk from the first with one left, whether its owner
//!   stopped or still works there, and adopts that range. `open` counts
//!   the ranges with sub-chunks left to take: at 0 there is nothing to
//!   steal, and a write pays its hint's word and two plain loads of the
//!   shared line.
//!
//! A helper that stalls after taking a sub-chunk holds nobody up, as
//! before: `finish` (in `mod.rs`) migrates every slot itself,
//! idempotently, and sets `finished` too. Every sub-chunk is taken exactly
//! once (the `fetch_add` that returns its index), so each range's done
//! half reaches its count once and `done` counts every slot once.
//!
//! Why sub-chunks of 8 (docs/benchmarks.md, "Migration in sub-chunks,
//! claimed by range"): a growth migrates about two old slots per insert,
//! and every write that lands while a migration runs also seals its key
//! in the old table (one more cache miss). Small units spread the copies
//! over more writes (a lower p99) but keep the migration running over more
//! writes (more seals: lower throughput). At 2 threads, 16-slot chunks
//! with a claim and a completion each: `HashMap` p99 2.2 µs; sub-chunks of
//! 4: 1.4 µs at 30 % less throughput; of 8, with the lines prefetched
//! ahead: 1.6 µs at the same throughput (`WordMap` 3.0 → 2.0 µs).

use std::ops::Range;

use crossbeam_utils::CachePadded;

use super::memory::{self, Zeroed};
use crate::error::TryReserveError;
use crate::sync::stat::{AtomicBool as StatBool, AtomicUsize as StatUsize};
use crate::sync::Ordering::{AcqRel, Acquire, Relaxed, Release};
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize};

/// Slots a helping write migrates. Under loom 2, with ranges of two
/// sub-chunks: a model's 4-slot table is one range, migrated by two writes
/// (as many as before sub-chunks). Loom has no hints (guards have no
/// record there), so the second write steals the range's second
/// sub-chunk and completes the range: the models see a range completed by
/// another thread than the one whose copies it must publish (through the
/// range's word). Model 16 (`get_after_cross_promotion`, mutation
/// `range_relaxed`) checks that ordering; model 17
/// (`get_after_two_range_promotion`, an 8-slot table of two ranges, four
/// writes; mutation `done_relaxed`) checks `done`'s, added by two ranges'
/// completers.
pub(crate) const SUB: usize = if cfg!(loom) { 2 } else { 8 };

/// Sub-chunks per range: how many writes of one party a range's claim (and
/// its completion) is spread over.
pub(crate) const RANGE_SUBS: usize = if cfg!(loom) { 2 } else { 16 };

/// Slots per range.
pub(crate) const RANGE: usize = SUB * RANGE_SUBS;

/// Ranges one steal attempt looks at: 16 words, two cache lines. Under
/// loom 2.
const STEAL_SCAN: usize = if cfg!(loom) { 2 } else { 16 };

/// Slots a `finish` pass (`mod.rs`) prefetches and migrates at a time:
/// it migrates every slot in one call, so its unit only sets how far
/// ahead it prefetches.
pub(crate) const CHUNK: usize = if cfg!(loom) { 2 } else { 16 };

/// Interleaved passes of the hand-out order ([`unit_of`]).
const WAYS: usize = 8;

/// The `k`th range handed out of `n` ranges. Claims are taken `WAYS` ways
/// interleaved over the first `WAYS * q` ranges (`q = n / WAYS`): claim
/// `k` gets range `(k % WAYS) * q + k / WAYS`, so up to `WAYS` owners
/// working at the same moment (consecutive claims) hold ranges `q` apart,
/// and each one's lines (the old slots, the successor's range for them
/// and its probe overflow, which is the next range's first line) are not
/// another's. The fewer than `WAYS` ranges left over, and every range of
/// a table of fewer than `2 * WAYS` ranges (`q` under 2: interleaving
/// would change nothing), go front to back, last. Handed out front to
/// back, two helpers worked side by side and fought over those lines
/// (docs/benchmarks.md, "Migration chunks handed out interleaved").
///
/// A bijection of `0..n`: `k` ↦ `(k % WAYS, k / WAYS)` is one from
/// `0..WAYS * q` onto `[0, WAYS) × [0, q)`, and `(r, i)` ↦ `r * q + i` one
/// from there back onto `0..WAYS * q`; the rest maps to itself. (Not
/// needed for correctness since ranges are also stolen, but a range
/// handed out twice would be one left for stealing.)
#[inline]
fn unit_of(k: usize, n: usize) -> usize {
    let q = n / WAYS;
    if q >= 2 && k < WAYS * q {
        (k % WAYS) * q + k / WAYS
    } else {
        k
    }
}

/// Low half of a range's word: sub-chunks taken.
const TAKEN: u64 = 0xffff_ffff;
/// One sub-chunk done, in the high half of a range's word.
const ONE_DONE: u64 = 1 << 32;

/// A sub-chunk handed out by [`Cursor::next_chunk`].
pub(crate) struct Taken {
    /// Its slots.
    pub(crate) sub: Range<usize>,
    /// Its range: the caller's hint for its next write.
    pub(crate) range: usize,
}

pub(crate) struct Cursor {
    /// One word per range: sub-chunks taken (low half, [`TAKEN`]) and done
    /// (high half, [`ONE_DONE`]). Zeroed memory: a large table's words are
    /// zero pages until its migration writes them (a range's first access
    /// is its claimer's `fetch_add`, so no read maps the shared zero page
    /// into a page that is written next). Read-mostly here: the pointer
    /// sits with the header's other read-mostly fields, the counters below
    /// on a line of their own.
    ranges: Zeroed<AtomicU64>,
    shared: CachePadded<Shared>,
}

/// The counters every helper writes.
struct Shared {
    /// Ranges claimed so far (`fetch_add`): claim `k` gets range
    /// [`unit_of`]`(k)`. Relaxed, a statistics atomic like `open` and
    /// `steal`: it only says where to look first; the range's word decides
    /// who takes what (a claim of a range already taken out claims on or
    /// steals), so loom need not interleave it.
    claim: StatUsize,
    /// Slots migrated, added a whole range at a time.
    done: AtomicUsize,
    /// Every slot is frozen and copied: the next table is authoritative.
    finished: AtomicBool,
    /// Ranges with sub-chunks left to take. Relaxed: a hint that says
    /// when stealing can find nothing (it only falls, to 0 when every
    /// sub-chunk is taken); a statistics atomic, so loom does not
    /// interleave it.
    open: StatUsize,
    /// A party that took a sub-chunk panicked before completing it (a
    /// `WordMap`'s copy runs the map's hasher; a `HashMap`'s runs no user
    /// code). Its slots will
    /// never be handed out again, so `done` cannot reach the slot count:
    /// the first party to find nothing left to take and this set runs a
    /// `finish` pass (`Resizer::migrate_share`). Relaxed, a statistics
    /// atomic: a hint to run a pass that is correct at any time.
    abandoned: StatBool,
    /// Where the cycle of steal attempts is: each attempt adds
    /// [`STEAL_SCAN`] and looks at that many ranges from its start (modulo
    /// the range count). Relaxed, a statistics atomic: it only spreads the
    /// thieves; the range's word decides who takes what.
    steal: StatUsize,
}

impl Cursor {
    /// The cursor of a table of `slots` slots (at least one).
    pub(crate) fn try_new(slots: usize) -> Result<Cursor, TryReserveError> {
        let n = slots.div_ceil(RANGE);
        Ok(Cursor {
            ranges: memory::try_zeroed_slice(n)?,
            shared: CachePadded::new(Shared {
                claim: StatUsize::new(0),
                done: AtomicUsize::new(0),
                finished: AtomicBool::new(false),
                open: StatUsize::new(n),
                abandoned: StatBool::new(false),
                steal: StatUsize::new(0),
            }),
        })
    }

    /// Sub-chunks in range `r` of a table of `slots` slots (the last range
    /// may be short).
    #[inline]
    fn subs_in(r: usize, slots: usize) -> u64 {
        (slots - r * RANGE).min(RANGE).div_ceil(SUB) as u64
    }

    /// Takes the next sub-chunk of range `r`, if one is left. `claimed`:
    /// the caller just claimed `r`, so it is most likely untouched.
    #[inline]
    fn take(&self, r: usize, slots: usize, claimed: bool) -> Option<Range<usize>> {
        let subs = Self::subs_in(r, slots);
        let word = &self.ranges[r];
        // Relaxed, here and in the `fetch_add`: they only partition the
        // work; the slots are synchronised by their own CASes, and the
        // completion by the range word's release sequence (`complete`).
        // The load first (not for a range just claimed, whose first access
        // is then a write) keeps a taken-out range's count from growing: a
        // `fetch_add` that finds nothing left follows a load that saw a
        // sub-chunk left, or a claim (once per range), so the count
        // overshoots by at most the threads then racing, far from the high
        // half.
        if !claimed && word.load(Relaxed) & TAKEN >= subs {
            return None;
        }
        let s = word.fetch_add(1, Relaxed) & TAKEN;
        if s >= subs {
            return None;
        }
        if s + 1 == subs {
            self.shared.open.fetch_sub(1, Relaxed);
        }
        // Mutation for checking the tests: the second sub-chunk of a range
        // is handed out as the first again, and its own slots never, while
        // the range still completes.
        let s = if mutation!("chunk_order_overlap") && s == 1 {
            0
        } else {
            s
        };
        let start = r * RANGE + s as usize * SUB;
        Some(start..(start + SUB).min(slots))
    }

    /// Hands out the next sub-chunk of a table of `slots` slots, if any is
    /// left to take: from `hint` (the range the caller last worked in, in
    /// this table), else from a newly claimed range, else stolen. A write
    /// steals from the next [`STEAL_SCAN`] ranges of the cycle only, and
    /// may find nothing there while other ranges have sub-chunks left; a
    /// resize helper (`scan_all`), whose "nothing" means the migration has
    /// no work left to take (it stops, or parks, on it), looks at every
    /// range before it says so.
    #[inline]
    pub(crate) fn next_chunk(
        &self,
        slots: usize,
        hint: Option<usize>,
        scan_all: bool,
    ) -> Option<Taken> {
        let n = self.ranges.len();
        let found = |r: usize, sub: Range<usize>| Taken { sub, range: r };
        if let Some(r) = hint.filter(|&r| r < n) {
            if let Some(sub) = self.take(r, slots, false) {
                return Some(found(r, sub));
            }
        }
        let shared = &*self.shared;
        // Relaxed: as in `take`. The load first keeps the counter from
        // growing once every range is handed out. A claimed range may have
        // been taken out already (by thieves): claim on.
        while shared.claim.load(Relaxed) < n {
            let k = shared.claim.fetch_add(1, Relaxed);
            if k >= n {
                break;
            }
            let r = unit_of(k, n);
            if let Some(sub) = self.take(r, slots, true) {
                return Some(found(r, sub));
            }
        }
        if shared.open.load(Relaxed) == 0 {
            return None;
        }
        // Steal: look at the next `STEAL_SCAN` ranges of the cycle (plain
        // loads of adjacent words, two lines), and take from the first with
        // a sub-chunk left. Bounded work per write; the cycle reaches every
        // range within `n / STEAL_SCAN` attempts. A helper looks on to the
        // whole table (one word per 128 slots), which it does only while
        // `open` says some range has sub-chunks left.
        let scan = if scan_all { n } else { STEAL_SCAN.min(n) };
        let from = shared.steal.fetch_add(STEAL_SCAN, Relaxed);
        (0..scan).find_map(|i| {
            let r = from.wrapping_add(i) % n;
            self.take(r, slots, false).map(|sub| found(r, sub))
        })
    }

    /// The sub-chunk after `sub` in its range, whose lines the caller may
    /// fetch ahead of its next helping write (a hint: another thread may
    /// take it).
    #[inline]
    pub(crate) fn ahead(sub: &Range<usize>, slots: usize) -> Option<Range<usize>> {
        let start = sub.end;
        (start < slots && start % RANGE != 0).then(|| start..(start + SUB).min(slots))
    }

    /// Records that `sub` (from [`next_chunk`](Self::next_chunk)) is
    /// migrated; true for the one call that completes the table (which has
    /// then set `finished`: promote next).
    #[inline]
    pub(crate) fn complete(&self, sub: Range<usize>, slots: usize) -> bool {
        let r = sub.start / RANGE;
        let subs = Self::subs_in(r, slots);
        // AcqRel, here and on `done`: the thread that completes the count
        // must see every sub-chunk's copies (Acquire) before it promotes,
        // and publish its own (Release). RMWs on one word form a release
        // sequence, so the range's completer acquires every sub-chunk's
        // copies and releases them with its own through `done`.
        // Mutation for checking loom model 16 (docs/verification.md): the
        // counts without their ordering.
        let order = if mutation!("range_relaxed") {
            crate::sync::Ordering::Relaxed
        } else {
            AcqRel
        };
        if (self.ranges[r].fetch_add(ONE_DONE, order) >> 32) + 1 != subs {
            return false;
        }
        let len = (slots - r * RANGE).min(RANGE);
        // Mutation for checking loom model 17: `done`'s count alone
        // without its ordering (the range words keep theirs).
        let order = if mutation!("done_relaxed") {
            crate::sync::Ordering::Relaxed
        } else {
            order
        };
        if self.shared.done.fetch_add(len, order) + len == slots {
            self.set_finished();
            return true;
        }
        false
    }

    /// Records that a party's sub-chunk was abandoned ([`Shared`]'s
    /// `abandoned`).
    #[cold]
    pub(crate) fn abandon(&self) {
        self.shared.abandoned.store(true, Relaxed);
    }

    /// Takes the abandoned mark, if set: the caller runs the `finish` pass.
    #[inline]
    pub(crate) fn take_abandoned(&self) -> bool {
        self.shared.abandoned.load(Relaxed) && self.shared.abandoned.swap(false, Relaxed)
    }

    /// Marks every slot migrated (by `complete` or by a `finish` pass).
    #[inline]
    pub(crate) fn set_finished(&self) {
        // Release: every copy made before happens-before a thread that reads
        // the flag with Acquire (`is_finished`, then promotion).
        self.shared.finished.store(true, Release);
    }

    /// Slots migrated so far (whole ranges). Relaxed: a policy input
    /// (`Resizer::leaves_share`); nothing is read through it.
    #[inline]
    pub(crate) fn done(&self) -> usize {
        self.shared.done.load(Relaxed)
    }

    /// Whether every slot is migrated. Acquire: pairs with `set_finished`.
    #[inline]
    pub(crate) fn is_finished(&self) -> bool {
        self.shared.finished.load(Acquire)
    }

    /// Marks a table that was never installed as migrated: it holds
    /// nothing to migrate (`resize::discard`, `Resizer::release_prepared`).
    /// Relaxed: read only by the table's free, which its owner's drop or
    /// the reclaimer orders after this (no thread reads the cursor of a
    /// table that was never installed).
    pub(crate) fn mark_unused(&self) {
        self.shared.finished.store(true, Relaxed);
    }

    /// `is_finished` for a caller with exclusive access (drop).
    pub(crate) fn finished_exclusive(&mut self) -> bool {
        self.shared.finished.load(Relaxed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Table sizes the tests run over: small, ranges not full, sizes that
    /// `WAYS` does not divide, large.
    fn sizes() -> impl Iterator<Item = usize> {
        (1..=40 * RANGE)
            .step_by(7)
            .chain((1..=300).map(|c| c * RANGE))
            .chain([1 << 10, 1 << 16, 3 << 12, (1 << 12) + 5, 125 * RANGE])
    }

    /// One helping party: takes sub-chunks as `Resizer::help` does,
    /// keeping its own hint.
    struct Party<'a> {
        cursor: &'a Cursor,
        slots: usize,
        hint: Option<usize>,
    }

    impl<'a> Party<'a> {
        fn new(cursor: &'a Cursor, slots: usize, hint: Option<usize>) -> Self {
            Party {
                cursor,
                slots,
                hint,
            }
        }

        /// Marks `sub`'s slots migrated in `seen` and completes it;
        /// checks that exactly the completion of the last slot finishes
        /// the table.
        fn migrate(&self, sub: Range<usize>, seen: &mut [u8]) {
            for i in sub.clone() {
                seen[i] += 1;
            }
            let all = seen.iter().all(|&c| c == 1);
            assert_eq!(self.cursor.complete(sub, self.slots), all);
        }

        /// The party's next sub-chunk. A write may find nothing to steal in
        /// its window while ranges elsewhere are open: a stuck party retries
        /// as often as the cycle needs to reach them.
        fn next(&mut self) -> Option<Range<usize>> {
            let attempts = self.cursor.ranges.len().div_ceil(STEAL_SCAN) + 1;
            (0..attempts).find_map(|_| {
                let taken = self.cursor.next_chunk(self.slots, self.hint, false)?;
                self.hint = Some(taken.range);
                assert_eq!(taken.range, taken.sub.start / RANGE);
                Some(taken.sub)
            })
        }
    }

    /// Takes and completes every sub-chunk a party gets; checks that each
    /// slot is handed out once and that exactly the last completion
    /// finishes the table.
    fn drain(party: &mut Party<'_>, seen: &mut [u8]) {
        while let Some(sub) = party.next() {
            assert!(sub.len() <= SUB && !sub.is_empty());
            party.migrate(sub, seen);
        }
    }

    fn assert_all_once(seen: &[u8], cursor: &Cursor) {
        let missed: Vec<usize> = (0..seen.len()).filter(|&i| seen[i] != 1).collect();
        assert!(missed.is_empty(), "slots {}: {missed:?}", seen.len());
        assert!(cursor.is_finished());
        assert_eq!(cursor.shared.open.load(Relaxed), 0);
    }

    /// Every slot is handed out exactly once, whatever the size, and the
    /// completion count finishes the table at its last sub-chunk: the
    /// migration's promotion relies on both.
    #[test]
    fn sub_chunks_partition_the_table() {
        for slots in sizes() {
            let cursor = Cursor::try_new(slots).unwrap();
            let mut seen = vec![0u8; slots];
            drain(&mut Party::new(&cursor, slots, None), &mut seen);
            assert_all_once(&seen, &cursor);
        }
    }

    /// Parties that claim ranges and stop writing leave their sub-chunks
    /// to the others: another party, which never claimed those ranges,
    /// takes every one of them, and the table still completes once. Also
    /// with a stale hint (a range of another table of the same generation,
    /// or past the end): it only picks the word the thief tries first,
    /// maybe one an owner is in, and the range's word decides.
    #[test]
    fn stopped_owners_are_stolen_from() {
        for slots in [RANGE, 3 * RANGE + 5, 64 * RANGE, 1 << 14, 125 * RANGE] {
            for stale in [None, Some(0), Some(7), Some(usize::MAX)] {
                let cursor = Cursor::try_new(slots).unwrap();
                let mut seen = vec![0u8; slots];
                // Three owners each take one sub-chunk, migrate it, and stop.
                for _ in 0..3 {
                    let mut owner = Party::new(&cursor, slots, None);
                    let Some(sub) = owner.next() else { break };
                    owner.migrate(sub, &mut seen);
                }
                drain(&mut Party::new(&cursor, slots, stale), &mut seen);
                assert_all_once(&seen, &cursor);
            }
        }
    }

    /// Threads at once: every slot handed out once, and one completion
    /// (whichever thread makes it) finishes the table.
    #[test]
    fn parties_at_once_partition_the_table() {
        use std::sync::atomic::{AtomicU8, Ordering::Relaxed as R};
        for slots in [RANGE, 40 * RANGE + 8, 1 << 16] {
            let cursor = Cursor::try_new(slots).unwrap();
            let seen: Vec<AtomicU8> = (0..slots).map(|_| AtomicU8::new(0)).collect();
            let finished = AtomicU8::new(0);
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        let mut party = Party::new(&cursor, slots, None);
                        while let Some(sub) = party.next() {
                            for i in sub.clone() {
                                seen[i].fetch_add(1, R);
                            }
                            if cursor.complete(sub, slots) {
                                finished.fetch_add(1, R);
                            }
                        }
                    });
                }
            });
            assert!(seen.iter().all(|c| c.load(R) == 1), "slots {slots}");
            assert_eq!(finished.load(R), 1);
            assert!(cursor.is_finished());
        }
    }

    /// Consecutive range claims of a table of many ranges are far apart,
    /// also when `WAYS` does not divide its ranges (125 of them); the hand
    /// out order is a bijection.
    #[test]
    fn consecutive_claims_are_far_apart() {
        for n in [1 << 12, 125] {
            let slots = n * RANGE;
            let cursor = Cursor::try_new(slots).unwrap();
            let first = cursor.next_chunk(slots, None, false).unwrap();
            let second = cursor.next_chunk(slots, None, false).unwrap();
            assert_eq!((first.range, first.sub), (0, 0..SUB));
            assert_eq!(second.range, n / WAYS);
            // The first party's next sub-chunk continues its range.
            let next = cursor.next_chunk(slots, Some(first.range), false).unwrap();
            assert_eq!((next.range, next.sub), (0, SUB..2 * SUB));
            let mut all: Vec<usize> = (0..n).map(|k| unit_of(k, n)).collect();
            all.sort_unstable();
            assert!(all.iter().enumerate().all(|(i, &r)| i == r), "a bijection");
        }
    }

    /// The sub-chunk fetched ahead is the next one of the same range, and
    /// none past a range's end or the table's.
    #[test]
    fn ahead_stays_in_the_range() {
        let slots = 2 * RANGE + SUB / 2;
        assert_eq!(Cursor::ahead(&(0..SUB), slots), Some(SUB..2 * SUB));
        assert_eq!(Cursor::ahead(&(RANGE - SUB..RANGE), slots), None);
        assert_eq!(Cursor::ahead(&(2 * RANGE..slots), slots), None);
    }
}
