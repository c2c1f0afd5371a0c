//! The announcements: one record per pinning party, in a process-wide
//! registry, and the global epoch ([`Domain`], one per process: [`GLOBAL`];
//! under loom, one per model execution).
//!
//! A record belongs to a thread (cached in its thread-local, `guard.rs`) or
//! to an owned guard, and says whether its holder is pinned and at which
//! epoch. Records are never freed: a record whose holder is gone is claimed
//! by the next party that needs one. The records are numbered densely from
//! 0 ([`Numbered`]: the records by index, and a bitmap of the taken ones),
//! which both claims and scans read. Under loom a domain lives for one
//! execution of a model and holds a few records of its own, made with it.
//!
//! A claim takes the free record with the *lowest* index ([`Numbered`]).
//! Every map keeps per-record values by index (`directory.rs`), allocated
//! up to the highest index that touched it; were a claim to take any free
//! record, a spike of threads or owned guards (a blocking pool growing to
//! hundreds of threads, then shrinking) would leave later threads holding
//! high indices, and every map made afterwards would allocate directories
//! of that size (hundreds of KiB per map at a few hundred records) and sum
//! them in every `len`. Lowest first, indices stay as dense as the parties
//! alive at once (each live thread that used owned guards also holds one
//! spare record: `guard.rs`). And a scan reads only the records whose bit is set: the
//! parties alive now, not every record a spike ever made.

use crossbeam_utils::CachePadded;

use super::barrier;
#[cfg(not(loom))]
use super::directory::{self, PerRecord};
use super::epoch::{Announcement, Epoch, GlobalEpoch};
#[cfg(loom)]
use super::graveyard;
#[cfg(not(loom))]
use crate::sync::AtomicUsize;
use crate::sync::{AtomicBool, AtomicU64, Ordering};
use Ordering::{Acquire, Relaxed, Release};

/// One pinning party's record.
pub(super) struct Record {
    /// Whether, and at which epoch, the holder is pinned.
    pub(super) announcement: Announcement,
    /// Owned by a thread or an owned guard.
    taken: AtomicBool,
    /// The record's number in its domain, dense from 0: each map keeps the
    /// holder's unsealed retirements at this index (`bags.rs`).
    pub(super) index: usize,
    /// A thread's guards now alive on this record (`guard.rs`): the pin is
    /// announced when it leaves 0 and withdrawn when it returns to 0,
    /// whichever guard drops last. Kept here, not in the thread-local, so
    /// that the last guard finds it even after the thread-local is gone.
    /// Only the holder touches it, with plain loads and stores (`Relaxed`);
    /// a hand-over to the next holder is ordered by `taken` (Release in
    /// `release`, Acquire in `claim`), and every holder leaves it at 0.
    /// A std atomic under loom too: it is the holder's alone, so loom has
    /// no interleaving to explore in it.
    depth: std::sync::atomic::AtomicU32,
    /// Owned guards' unpins on this record, in maps with nothing queued,
    /// until the next one ticks ([`countdown`](Record::countdown)): on the
    /// line the unpin writes anyway, so a pool of owned guards pays no
    /// thread-local lookup and writes no shared line for it. The holder's
    /// alone, as `depth` (a hand-over is ordered by `taken`); a pacing
    /// heuristic.
    countdown: std::sync::atomic::AtomicU32,
    /// Parties holding the record now: a check of the protocol (never
    /// more than one), in debug builds and under loom. Counted by every
    /// take ([`try_take`](Record::try_take), a new record's creation) and
    /// every give-back ([`Domain::release`], a [`Borrowed`]'s drop). A std
    /// atomic: a check, not a step of any protocol.
    #[cfg(any(debug_assertions, loom))]
    holders: std::sync::atomic::AtomicUsize,
}

/// Owned guards' unpins per tick of a record's [`Record::countdown`]:
/// 256, longer than a thread's pacing period (61, `guard.rs`), since these
/// ticks only look after bags (a measured 0.4–1 ns per owned unpin with
/// this period; docs/benchmarks.md, "Twenty-first session").
const TICK_PERIOD: u32 = 256;

/// The end of a process that leaked 2^32 - 1 guards on one thread
/// ([`Record::enter`]).
#[cold]
#[inline(never)]
fn too_many_guards() -> ! {
    eprintln!(
        "lfmap: 2^32 - 1 guards pinned at once on one thread (leaked with mem::forget?); aborting"
    );
    std::process::abort();
}

/// More pinning parties at once than the records' directories cover.
#[cfg(not(loom))]
#[cold]
#[inline(never)]
fn too_many_records() -> ! {
    panic!(
        "lfmap: more than {} parties pinned at once (threads and owned guards)",
        directory::CAPACITY
    )
}

impl Record {
    /// Record `index`, `taken` or free.
    fn new(index: usize, taken: bool) -> Record {
        Record {
            announcement: Announcement::unpinned(),
            taken: AtomicBool::new(taken),
            index,
            depth: std::sync::atomic::AtomicU32::new(0),
            countdown: std::sync::atomic::AtomicU32::new(0),
            #[cfg(any(debug_assertions, loom))]
            holders: std::sync::atomic::AtomicUsize::new(taken as usize),
        }
    }

    /// Counts a new holder of the record (debug builds and loom): there
    /// must have been none.
    #[inline]
    fn count_holder(&self) {
        #[cfg(any(debug_assertions, loom))]
        {
            let before = self
                .holders
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            assert_eq!(
                before, 0,
                "lfmap: record {} held by two parties",
                self.index
            );
        }
    }

    /// Counts a holder's give-back (debug builds and loom).
    #[inline]
    fn uncount_holder(&self) {
        #[cfg(any(debug_assertions, loom))]
        self.holders
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Counts a new guard of the holder's; returns the depth before it.
    ///
    /// Aborts the process rather than wrap, as `Arc` does with its count:
    /// 2^32 - 1 guards of one holder alive at once can only be guards
    /// leaked with `mem::forget`, and a wrapped depth would let the next
    /// guard's drop unpin the holder while older guards still hold
    /// references (found by review).
    #[inline]
    pub(super) fn enter(&self) -> u32 {
        use std::sync::atomic::Ordering::Relaxed;
        let depth = self.depth.load(Relaxed);
        let Some(next) = depth.checked_add(1) else {
            too_many_guards();
        };
        self.depth.store(next, Relaxed);
        depth
    }

    /// Counts a dropped guard of the holder's; returns the depth after it.
    #[inline]
    pub(super) fn leave(&self) -> u32 {
        use std::sync::atomic::Ordering::Relaxed;
        let depth = self.depth.load(Relaxed) - 1;
        self.depth.store(depth, Relaxed);
        depth
    }

    /// This record's index, for a guard pinned with it: its party's alone
    /// while the guard lives (a thread's, or an owned guard's), where the
    /// map keeps the party's counters. Under loom: none (counters stay out
    /// of the models).
    #[inline]
    pub(super) fn slot(&self) -> Option<usize> {
        if cfg!(loom) {
            None
        } else {
            Some(self.index)
        }
    }

    /// Whether the holder's countdown came up: true every [`TICK_PERIOD`]th
    /// call (`TableReclaim::owned_tick`).
    #[inline]
    pub(super) fn countdown(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let left = self.countdown.load(Relaxed);
        self.countdown
            .store(if left == 0 { TICK_PERIOD - 1 } else { left - 1 }, Relaxed);
        left == 0
    }

    /// The holder's guards now alive.
    pub(super) fn depth(&self) -> u32 {
        self.depth.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Takes the record if it is free.
    fn try_take(&self) -> bool {
        // Mutation `record_take_blind`: every try takes the record, taken
        // or not (two parties then share it: one's unpin withdraws the
        // other's pin).
        if mutation!("record_take_blind") {
            self.taken.store(true, Relaxed);
            self.count_holder();
            return true;
        }
        // Acquire on success: the previous holder's last store (its
        // unpinning one) happens before our use. The Relaxed pre-check
        // only skips a CAS that would fail.
        let taken = !self.taken.load(Relaxed)
            && self
                .taken
                .compare_exchange(false, true, Acquire, Relaxed)
                .is_ok();
        if taken {
            self.count_holder();
        }
        taken
    }
}

/// The announcements: the registry of records and the global epoch.
pub(super) struct Domain {
    /// The global epoch every pin reads and every retirement bumps, on a
    /// line of its own: the domain is a static, and the linker puts
    /// whatever statics it likes beside it (the program's among them), so
    /// a neighbour written often would otherwise make every pin's read of
    /// the epoch a miss. No such neighbour was measured: it is a hazard
    /// of layout, which lfmap does not control (docs/benchmarks.md,
    /// "Fourteenth session").
    pub(super) epoch: CachePadded<GlobalEpoch>,
    /// Records created so far: the next record's index, and the bound of
    /// every scan (`oldest_pin`: a step of the reclamation argument). Not
    /// under loom, whose records are made with the domain.
    #[cfg(not(loom))]
    count: AtomicUsize,
    /// Records given back so far ([`release`](Domain::release)): each map
    /// that sees it change looks for bags that a party left behind
    /// (`orphans.rs`). A heuristic trigger: a count never decides a free.
    /// On a line of its own: a pool of owned guards gives records back
    /// at the rate of its requests, and `count` beside it is read by
    /// every claim and scan.
    releases: CachePadded<std::sync::atomic::AtomicUsize>,
    /// The records by index, and which are taken: how a claim finds the
    /// lowest free one and a scan the parties alive. Each record is padded,
    /// so one party's announcement never shares a cache line with
    /// another's. Records are never freed while the domain is in use.
    #[cfg(not(loom))]
    numbered: Numbered,
    /// Under loom: in a box of its own, given to the graveyard when the
    /// domain drops (a thread may finish its thread-locals' drops, which
    /// release records, after the execution's statics dropped).
    #[cfg(loom)]
    numbered: std::ptr::NonNull<Numbered>,
    /// Under loom: this domain's id (`graveyard`).
    #[cfg(loom)]
    id: u64,
}

/// The process-wide domain every `WordMap` announces in.
#[cfg(not(loom))]
pub(super) static GLOBAL: Domain = Domain::new();

#[cfg(loom)]
loom::lazy_static! {
    /// Under loom: reset for every execution of a model.
    pub(super) static ref GLOBAL: Domain = Domain::new();
}

impl Domain {
    #[cfg(not(loom))]
    const fn new() -> Domain {
        Domain {
            epoch: CachePadded::new(GlobalEpoch::new()),
            count: AtomicUsize::new(0),
            releases: CachePadded::new(std::sync::atomic::AtomicUsize::new(0)),
            numbered: Numbered::new(),
        }
    }

    #[cfg(loom)]
    fn new() -> Domain {
        Domain {
            epoch: CachePadded::new(GlobalEpoch::new()),
            releases: CachePadded::new(std::sync::atomic::AtomicUsize::new(0)),
            numbered: std::ptr::NonNull::from(Box::leak(Box::new(Numbered::new()))),
            id: graveyard::open(),
        }
    }

    /// The records and their bits.
    #[inline]
    fn numbered(&'static self) -> &'static Numbered {
        #[cfg(not(loom))]
        return &self.numbered;
        // SAFETY: the box lives until the domain drops (then in the
        // graveyard until the next execution); it is only read through
        // shared references (its contents are atomics).
        #[cfg(loom)]
        return unsafe { self.numbered.as_ref() };
    }

    /// The records made so far: indices `0..bound()` (`Relaxed`: why it is
    /// enough for claims and scans, see `claim` and `oldest_pin`). Under
    /// loom, every record a model may hold, all made with the domain.
    #[inline]
    fn bound(&self) -> usize {
        #[cfg(not(loom))]
        return self.count.load(Relaxed);
        #[cfg(loom)]
        return LOOM_RECORDS;
    }

    /// Claims the free record with the lowest index (`Numbered`), or adds
    /// a new one.
    pub(super) fn claim(&'static self) -> &'static Record {
        // A record added meanwhile is found by a later claim; this one adds
        // its own.
        let count = self.bound();
        if let Some(r) = self.numbered().take_lowest(count) {
            return r;
        }
        #[cfg(loom)]
        panic!("lfmap: a loom model holds more than {LOOM_RECORDS} records at once");
        #[cfg(not(loom))]
        {
            // Past the directories (8 million parties pinned at once, or
            // leaked guards): a clear panic here, before the count or a bit
            // records a party that has no record (every later scan would
            // find it). Two claimers past the bound at once may both
            // count; scans skip unpublished indices.
            if count >= directory::CAPACITY {
                too_many_records();
            }
            // Relaxed: the RMW makes indices unique; a scan that must see
            // this record sees the count too (`oldest_pin`).
            let index = self.count.fetch_add(1, Relaxed);
            if index >= directory::CAPACITY {
                too_many_records();
            }
            let record = Box::new(CachePadded::new(Record::new(index, true)));
            // Never freed: records live as long as the process (`GLOBAL`).
            let r: &'static CachePadded<Record> = Box::leak(record);
            self.numbered().add(r);
            r
        }
    }

    /// Gives `r`, one of this domain's records, back. Its holder must have
    /// withdrawn its pin.
    pub(super) fn release(&'static self, r: &Record) {
        // First the bit, then the record: while the record is ours nobody
        // else clears or sets its bit (`Numbered`).
        self.numbered().mark_free(r.index);
        r.uncount_holder();
        // Release: the next claimer (Acquire CAS in `try_take`) sees our
        // last stores, the unpinning one and the bit's.
        r.taken.store(false, Release);
        // Release: a sweep that reads this count (Acquire, `releases`)
        // finds the record free, or held by a later party (`orphans.rs`).
        self.releases
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    /// Records given back so far: a sweep that reads a count finds each
    /// record given back before it free, or held by a later party (Acquire:
    /// pairs with `release`'s Release; a heuristic trigger, never a step
    /// of the reclamation argument).
    #[inline]
    pub(super) fn releases(&self) -> usize {
        self.releases.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Records given back so far, read Relaxed: the pacing ticks' cheap
    /// test for a sweep to do (`orphans.rs`).
    #[inline]
    pub(super) fn releases_hint(&self) -> usize {
        self.releases.load(Relaxed)
    }

    /// Takes record `index` for a moment if it exists and is free: no pin,
    /// no bit (the record stays out of claims' and scans' view as a free
    /// record in the middle of a claim does: `Numbered`), so the taker
    /// holds its per-map values (`bags.rs`) as a holder would. Given back
    /// when the [`Borrowed`] drops. A claim that finds the record taken
    /// goes on to the next free record, as it does when it loses a race.
    pub(super) fn borrow(&'static self, index: usize) -> Option<Borrowed> {
        if index >= self.bound() {
            return None;
        }
        let r = self.numbered().record(index)?;
        // Mutation `record_borrow_by_bit`: take a record whose bit is
        // clear, without the CAS: in the middle of a claim (its CAS made,
        // its bit not yet set) or of a release, two parties then hold it.
        if mutation!("record_borrow_by_bit") {
            if self.numbered().is_set(index) {
                return None;
            }
            r.taken.store(true, Relaxed);
            r.count_holder();
            return Some(Borrowed(r));
        }
        // The claim's CAS (Acquire): the last holder's accesses to the
        // record's values happen before ours. (`then`, not `then_some`: a
        // `Borrowed` built and dropped on failure would give back a record
        // another party holds; the holder count caught that draft.)
        r.try_take().then(|| Borrowed(r))
    }

    /// The oldest epoch a record is pinned at, or `None` if none is pinned.
    /// The caller has just passed a `SeqCst` fence (`reclaim`'s scan).
    pub(super) fn oldest_pin(&'static self) -> Option<Epoch> {
        // Relaxed: a pin's claim counted its record, set its bit and
        // published it before it announced and passed its light barrier;
        // if that barrier precedes our fence, we see all three, and if not,
        // the pin loads the root after the unlink and cannot hold what the
        // scan frees (`docs/design.md`, the "store, fence, load" proof).
        self.numbered()
            .held(self.bound())
            // Acquire: pairs with the Release store of an unpin (or of a
            // later pin of the same record, `announce`), so every access the
            // holder made to a table happens before a free decided on the
            // value read.
            .filter_map(|r| r.announcement.pinned_at(Acquire))
            .min()
    }

    /// Announces a pin on `r`, one of this domain's records.
    #[inline]
    pub(super) fn announce(&self, r: &Record) {
        // Acquire: pairs with the AcqRel bump in `TableReclaim::retire`. A
        // pin that reads the bumped epoch happens after the unlink that
        // preceded the bump, so it cannot load the retired table:
        // announcing it is truthful.
        let e = self.epoch.load(Acquire);
        // The store, then the light barrier: the "store, fence, load" half
        // of the proof in `docs/design.md`. Release, not Relaxed: a scan may
        // read this announcement where an earlier pin of the same record
        // ended (its unpinning store overwritten), and must then also see
        // that pin's table accesses; they happen before this store (program
        // order, or the claim CAS after the record's release), and a
        // Release store carries them to the scan's Acquire load. A plain
        // `mov` on x86. (Found by loom: with Relaxed, model 11 reports the
        // free racing the earlier pin's read.)
        // Mutation `tables_relaxed_announce`: the store loom caught.
        let order = if mutation!("tables_relaxed_announce") {
            Relaxed
        } else {
            Release
        };
        r.announcement.pin(e, order);
        barrier::light();
    }
}

/// A free record taken for a moment ([`Domain::borrow`]); given back when
/// dropped. Its holder has no pin and sets no bit: it only touches the
/// record's values in a map (`orphans.rs`).
pub(super) struct Borrowed(&'static Record);

impl Drop for Borrowed {
    fn drop(&mut self) {
        // Unwinding under loom: leave loom's state alone (`sync/mod.rs`);
        // the execution is failing.
        if crate::sync::loom_unwinding() {
            return;
        }
        self.0.uncount_holder();
        // Release: the next holder (Acquire CAS in `try_take`) sees our
        // accesses to the record's values. Not counted as a release: a
        // sweep (`orphans.rs`) that counted its own give-backs would
        // trigger itself for good.
        self.0.taken.store(false, Release);
    }
}

/// The records by index, and which are taken: one bit per record, 64 to
/// a word.
///
/// A bit is set while its record is held, but for two transient states in
/// which it is clear while the record is taken: between a claim's `taken`
/// CAS and its bit (the holder has not announced yet), and between a
/// release's bit and its `taken` store (the holder has withdrawn its pin).
/// A set bit on a free record cannot happen: each holder sets its bit
/// before it clears it (program order), and the next holder's set follows
/// the last holder's clear, because its CAS reads the store that followed
/// that clear (Release, Acquire). All bit operations on a word are
/// read-modify-writes of it, so they take effect in that order.
///
/// So a claimer that finds a clear bit tries the record and, in the
/// transient states, fails its CAS and goes on; and a scan may skip every
/// record whose bit is clear (`Domain::oldest_pin`): its holder either has
/// not announced (it will load the root after the unlink) or has
/// withdrawn (the clear is a Release, the scan's load of the word an
/// Acquire: the holder's table accesses happen before the free).
struct Numbered {
    /// Record `i`, or null while it is being added.
    #[cfg(not(loom))]
    records: PerRecord<std::sync::atomic::AtomicPtr<CachePadded<Record>>>,
    /// Word `w`: the taken bits of records `64 w .. 64 w + 64`.
    #[cfg(not(loom))]
    taken: PerRecord<AtomicU64>,
    /// Under loom: a model's records, all made with the domain (free), so
    /// that the models explore the bits, the claims and the announcements
    /// but not the publication of new records (plain publication, through
    /// a pointer that loom's std atomics could not order).
    #[cfg(loom)]
    records: [CachePadded<Record>; LOOM_RECORDS],
    #[cfg(loom)]
    taken: AtomicU64,
}

/// Under loom: the most records a model may hold at once.
#[cfg(loom)]
const LOOM_RECORDS: usize = 16;

impl Numbered {
    #[cfg(not(loom))]
    const fn new() -> Numbered {
        Numbered {
            records: PerRecord::new(null_record),
            taken: PerRecord::new(no_bits),
        }
    }

    #[cfg(loom)]
    fn new() -> Numbered {
        Numbered {
            records: std::array::from_fn(|i| CachePadded::new(Record::new(i, false))),
            taken: no_bits(),
        }
    }

    /// Record `index`, if it has been published (always, under loom).
    #[inline]
    fn record(&'static self, index: usize) -> Option<&'static Record> {
        #[cfg(not(loom))]
        {
            // Acquire: pairs with `add`'s Release, so the record's fields
            // are initialised. Null: still being added.
            let r = self.records.get_installed(index)?.load(Acquire);
            // SAFETY: records are never freed (`Domain::claim`).
            unsafe { r.as_ref() }.map(|r| &**r)
        }
        #[cfg(loom)]
        Some(&self.records[index])
    }

    /// Word `w` of the bits, installed if needed.
    #[inline]
    fn word(&self, w: usize) -> &AtomicU64 {
        #[cfg(not(loom))]
        return self.taken.get(w);
        #[cfg(loom)]
        {
            debug_assert_eq!(w, 0);
            &self.taken
        }
    }

    /// Word `w` of the bits if installed (a scan installs nothing).
    #[inline]
    fn word_installed(&self, w: usize) -> Option<&AtomicU64> {
        #[cfg(not(loom))]
        return self.taken.get_installed(w);
        #[cfg(loom)]
        {
            debug_assert_eq!(w, 0);
            Some(&self.taken)
        }
    }

    /// Takes the free record of lowest index below `count`, if any.
    fn take_lowest(&'static self, count: usize) -> Option<&'static Record> {
        for w in 0..count.div_ceil(64) {
            let word = self.word(w);
            // Relaxed: the search's guide (type docs); the record's CAS
            // decides. (Under loom a read-modify-write, which reads the
            // latest value: a stale guide only sends the search to another
            // record, and exploring every value the load may read made the
            // models four times slower.)
            #[cfg(not(loom))]
            let mut bits = word.load(Relaxed);
            #[cfg(loom)]
            let mut bits = word.fetch_or(0, Relaxed);
            // Bits past `count` stand for records that do not exist yet.
            if count - 64 * w < 64 {
                bits |= !0 << (count - 64 * w);
            }
            while bits != !0 {
                let bit = (!bits).trailing_zeros() as usize;
                bits |= 1 << bit;
                if let Some(r) = self.record(64 * w + bit) {
                    if r.try_take() {
                        // Relaxed: sequenced before the holder's first
                        // announcement and its light barrier, which is what
                        // a scan relies on (type docs, `oldest_pin`).
                        word.fetch_or(1 << bit, Relaxed);
                        return Some(r);
                    }
                }
            }
        }
        None
    }

    /// Adds `r`, a new record its creator holds.
    #[cfg(not(loom))]
    fn add(&self, r: &'static CachePadded<Record>) {
        // Relaxed: as in `take_lowest`. Set before the record is found:
        // the creator holds it.
        self.word(r.index / 64)
            .fetch_or(1 << (r.index % 64), Relaxed);
        // Release: a claimer or scan that finds the record (Acquire,
        // `record`) sees its fields.
        self.records.get(r.index).store(
            r as *const CachePadded<Record> as *mut CachePadded<Record>,
            Release,
        );
    }

    /// Whether record `index`'s bit is set (mutation `record_borrow_by_bit`).
    fn is_set(&self, index: usize) -> bool {
        self.word_installed(index / 64)
            .is_some_and(|word| word.load(Relaxed) & (1 << (index % 64)) != 0)
    }

    /// Clears record `index`'s bit: its holder has withdrawn its pin and
    /// is giving it back.
    fn mark_free(&self, index: usize) {
        // Release: a scan that reads the cleared bit (Acquire, `held`) and
        // so skips the record sees the holder's unpin and every table
        // access before it. Every later change of the word is a
        // read-modify-write, so a scan that reads a later value still
        // synchronises with this one (a release sequence).
        // Mutation `bit_clear_relaxed`: Relaxed.
        let order = if mutation!("bit_clear_relaxed") {
            Relaxed
        } else {
            Release
        };
        self.word(index / 64).fetch_and(!(1 << (index % 64)), order);
    }

    /// The records below `count` whose bit is set (type docs: every party
    /// a scan must consider).
    fn held(&'static self, count: usize) -> impl Iterator<Item = &'static Record> {
        (0..count.div_ceil(64)).flat_map(move |w| {
            // Acquire: pairs with `mark_free`'s Release (type docs). A
            // word not installed yet has no bit set.
            let mut bits = self.word_installed(w).map_or(0, |word| word.load(Acquire));
            std::iter::from_fn(move || loop {
                if bits == 0 {
                    return None;
                }
                let bit = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                // None: a record being added, whose creator has not
                // announced yet (its pointer's store precedes its
                // announcement and barrier, as its bit's does).
                if let Some(r) = self.record(64 * w + bit) {
                    return Some(r);
                }
            })
        })
    }
}

#[cfg(not(loom))]
fn null_record() -> std::sync::atomic::AtomicPtr<CachePadded<Record>> {
    std::sync::atomic::AtomicPtr::new(std::ptr::null_mut())
}

fn no_bits() -> AtomicU64 {
    AtomicU64::new(0)
}

#[cfg(loom)]
// SAFETY: (loom only) the domain owns its `Numbered` through the pointer,
// as a box would, and shares it only as `&Numbered`, whose contents are
// atomics; so the domain is as `Send` and `Sync` as the box would make it.
unsafe impl Send for Domain {}
#[cfg(loom)]
// SAFETY: as for `Send`.
unsafe impl Sync for Domain {}

#[cfg(loom)]
impl Drop for Domain {
    fn drop(&mut self) {
        graveyard::close(self.id);
        // SAFETY: `numbered` was leaked from a box in `new` and is given
        // back once, here; a thread still releasing a record may read it
        // until the graveyard frees it, when the next execution starts.
        let numbered = unsafe { Box::from_raw(self.numbered.as_ptr()) };
        graveyard::bury(numbered);
    }
}
