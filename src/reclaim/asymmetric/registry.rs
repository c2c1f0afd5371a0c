//! The announcements: one record per pinning party, in a process-wide
//! registry, and the global epoch ([`Domain`], one per process: [`GLOBAL`];
//! under loom, one per model execution).
//!
//! A record belongs to a thread (cached in its thread-local, `guard.rs`) or
//! to an owned guard, and says whether its holder is pinned and at which
//! epoch. Records are never freed: a record whose holder is gone is claimed
//! by the next party that needs one. The registry is a push-only
//! [`Stack`] of padded records, walked by scans; under loom each
//! execution's records are freed by the graveyard once it is over.
//!
//! A claim takes the free record with the *lowest* index ([`Numbered`]).
//! Every map keeps per-record values by index (`directory.rs`), allocated
//! up to the highest index that touched it; were a claim to take any free
//! record, a spike of threads or owned guards (a blocking pool growing to
//! hundreds of threads, then shrinking) would leave later threads holding
//! high indices, and every map made afterwards would allocate directories
//! of that size (hundreds of KiB per map at a few hundred records) and sum
//! them in every `len`. Lowest first, indices stay as dense as the parties
//! alive at once.

use std::mem::ManuallyDrop;
#[cfg(loom)]
use std::ptr::NonNull;

use crossbeam_utils::CachePadded;

use super::barrier;
#[cfg(not(loom))]
use super::directory::PerRecord;
use super::epoch::{Announcement, Epoch, GlobalEpoch};
#[cfg(loom)]
use super::graveyard;
use crate::reclaim::stack::Stack;
use crate::sync::stat::AtomicUsize;
use crate::sync::{AtomicBool, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicPtr, AtomicU64};
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
}

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

impl Record {
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

    /// The holder's guards now alive.
    pub(super) fn depth(&self) -> u32 {
        self.depth.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Takes the record if it is free.
    fn try_take(&self) -> bool {
        // Mutation `record_take_blind`: every try takes the record, taken
        // or not (two parties then share it: one's unpin withdraws the
        // other's pin).
        if cfg!(lfmap_mutation = "record_take_blind") {
            self.taken.store(true, Relaxed);
            return true;
        }
        // Acquire on success: the previous holder's last store (its
        // unpinning one) happens before our use. The Relaxed pre-check
        // only skips a CAS that would fail.
        !self.taken.load(Relaxed)
            && self
                .taken
                .compare_exchange(false, true, Acquire, Relaxed)
                .is_ok()
    }
}

/// The announcements: the registry of records and the global epoch.
pub(super) struct Domain {
    /// The global epoch every pin reads and every retirement bumps.
    pub(super) epoch: GlobalEpoch,
    /// Padded records, so one party's announcement never shares a cache
    /// line with another's. (A node's link sits past the padded record: it
    /// is written once, before the record is published, and only read by
    /// walks, so it never shares a line with an announcement either.)
    /// Never taken or dropped: records live as long as the domain's users
    /// may hold them (`ManuallyDrop`; under loom, the graveyard frees them).
    records: ManuallyDrop<Stack<CachePadded<Record>>>,
    /// Records created so far: the next record's index. (A statistics
    /// atomic, std's even under loom: only the uniqueness of indices
    /// matters, which the read-modify-write gives.)
    count: AtomicUsize,
    /// The records by index, and which are taken: how a claim finds the
    /// lowest free one. (Not under loom: a model's few records are walked.)
    #[cfg(not(loom))]
    numbered: Numbered,
    /// Under loom: this execution's records, freed with the domain.
    #[cfg(loom)]
    allocated: Allocated,
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
            epoch: GlobalEpoch::new(),
            records: ManuallyDrop::new(Stack::new()),
            count: AtomicUsize::new(0),
            numbered: Numbered::new(),
        }
    }

    #[cfg(loom)]
    fn new() -> Domain {
        Domain {
            epoch: GlobalEpoch::new(),
            records: ManuallyDrop::new(Stack::new()),
            count: AtomicUsize::new(0),
            allocated: Allocated::new(),
            id: graveyard::open(),
        }
    }

    /// The records, newest first.
    pub(super) fn records(&self) -> impl Iterator<Item = &Record> + '_ {
        // SAFETY: the registry is only pushed: its nodes are never taken or
        // dropped while the domain is in use (`records` is `ManuallyDrop`;
        // under loom the graveyard frees them after the execution). The
        // walk's ordering: `Stack::iter`.
        unsafe { self.records.iter() }.map(|r| &**r)
    }

    /// Claims the free record with the lowest index (`Numbered`), or adds
    /// a new one.
    pub(super) fn claim(&self) -> &Record {
        #[cfg(not(loom))]
        if let Some(r) = self.numbered.take_lowest(self.count.load(Relaxed)) {
            return r;
        }
        // Under loom: the few records of a model, walked (the claim's
        // protocol, `try_take` and `release`, is the same).
        #[cfg(loom)]
        if let Some(r) = self.records().find(|r| r.try_take()) {
            return r;
        }
        let record = CachePadded::new(Record {
            announcement: Announcement::unpinned(),
            taken: AtomicBool::new(true),
            // Relaxed: only uniqueness matters (the RMW gives it).
            index: self.count.fetch_add(1, Relaxed),
            depth: std::sync::atomic::AtomicU32::new(0),
        });
        // Release: a thread that walks to the record (Acquire, `records`)
        // sees its fields.
        let r = self.records.push(record, Release);
        #[cfg(loom)]
        self.allocated.push(r);
        // SAFETY: records are never freed while the domain is in use (see
        // `records`).
        let r = unsafe { r.as_ref() };
        #[cfg(not(loom))]
        self.numbered.add(r);
        r
    }

    /// Gives `r`, one of this domain's records, back. Its holder must not
    /// be pinned.
    pub(super) fn release(&self, r: &Record) {
        // First the hint, then the record: while the record is ours nobody
        // else clears or sets its bit (`Numbered`).
        #[cfg(not(loom))]
        self.numbered.mark_free(r.index);
        // Release: the next claimer (Acquire CAS in `try_take`) sees our
        // last store, the unpinning one.
        r.taken.store(false, Release);
    }

    /// The oldest epoch a record is pinned at, or `None` if none is pinned.
    pub(super) fn oldest_pin(&self) -> Option<Epoch> {
        self.records()
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
        let order = if cfg!(lfmap_mutation = "tables_relaxed_announce") {
            Relaxed
        } else {
            Release
        };
        r.announcement.pin(e, order);
        barrier::light();
    }
}

/// The records by index, and a hint of which are taken: one bit per
/// record, 64 to a word.
///
/// The hint is exact but for one transient state. A claim takes a record
/// (its `taken` CAS, the protocol's authority) and then sets its bit; a
/// release clears the bit and then frees the record. So between a claim's
/// CAS and its bit, and between a release's bit and its store, the bit is
/// clear while the record is taken: a claimer that tries it fails its CAS
/// and goes on. The opposite, a set bit on a free record, cannot happen:
/// each holder sets its bit before it clears it (program order), and the
/// next holder's set follows the last holder's clear, because its CAS
/// reads the store that followed that clear (Release, Acquire). All bit
/// operations on a word are read-modify-writes of it, so they take effect
/// in that order; `Relaxed` is enough, as the bits only steer the search.
#[cfg(not(loom))]
struct Numbered {
    /// Record `i`, or null while it is being added.
    records: PerRecord<AtomicPtr<Record>>,
    /// Word `w`: the taken bits of records `64 w .. 64 w + 64`.
    taken: PerRecord<AtomicU64>,
}

#[cfg(not(loom))]
impl Numbered {
    const fn new() -> Numbered {
        Numbered {
            records: PerRecord::new(null_record),
            taken: PerRecord::new(no_bits),
        }
    }

    /// Takes the free record of lowest index below `count`, if any.
    fn take_lowest(&self, count: usize) -> Option<&Record> {
        for w in 0..count.div_ceil(64) {
            let word = self.taken.get(w);
            // Relaxed: a hint (type docs); the record's CAS decides.
            let mut bits = word.load(Relaxed);
            // Bits past `count` stand for records that do not exist yet.
            if count - 64 * w < 64 {
                bits |= !0 << (count - 64 * w);
            }
            while bits != !0 {
                let bit = (!bits).trailing_zeros() as usize;
                bits |= 1 << bit;
                // Acquire: pairs with `add`'s Release, so the record's
                // fields are initialised. Null: still being added.
                let r = self.records.get(64 * w + bit).load(Acquire);
                // SAFETY: records are never freed (`Domain::records`).
                if let Some(r) = unsafe { r.as_ref() } {
                    if r.try_take() {
                        // Relaxed: as above.
                        word.fetch_or(1 << bit, Relaxed);
                        return Some(r);
                    }
                }
            }
        }
        None
    }

    /// Adds `r`, a new record its creator holds.
    fn add(&self, r: &Record) {
        // Relaxed: as in `take_lowest`. Set before the record is found:
        // the creator holds it.
        self.taken
            .get(r.index / 64)
            .fetch_or(1 << (r.index % 64), Relaxed);
        // Release: a claimer that finds the record (Acquire, `take_lowest`)
        // sees its fields.
        self.records
            .get(r.index)
            .store(r as *const Record as *mut Record, Release);
    }

    /// Marks record `index` free in the hint (its holder is releasing it).
    fn mark_free(&self, index: usize) {
        // Relaxed: as in `take_lowest`.
        self.taken
            .get(index / 64)
            .fetch_and(!(1 << (index % 64)), Relaxed);
    }
}

#[cfg(not(loom))]
fn null_record() -> AtomicPtr<Record> {
    AtomicPtr::new(std::ptr::null_mut())
}

#[cfg(not(loom))]
fn no_bits() -> AtomicU64 {
    AtomicU64::new(0)
}

/// Under loom: the records a domain allocated (their addresses: a record
/// is shared through `&'static` references while the domain lives), so
/// that they can be freed with the domain without reading the registry,
/// whose loom atomics are gone once the execution is over.
#[cfg(loom)]
struct Allocated(std::sync::Mutex<Vec<usize>>);

#[cfg(loom)]
impl Allocated {
    fn new() -> Allocated {
        Allocated(std::sync::Mutex::new(Vec::new()))
    }

    fn push(&self, r: NonNull<CachePadded<Record>>) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(r.as_ptr() as usize);
    }

    /// The domain `id` ends: its records go to the graveyard.
    fn bury_all(&mut self, id: u64) {
        let list = std::mem::take(self.0.get_mut().unwrap_or_else(|e| e.into_inner()));
        graveyard::close(id);
        for r in list {
            // SAFETY: each address is a record this domain pushed on its
            // registry, listed once; the registry is `ManuallyDrop` and
            // never used again (the domain is being dropped), so the node
            // is given back once, to be freed by the graveyard after the
            // execution.
            let node =
                unsafe { Stack::into_node(NonNull::new_unchecked(r as *mut CachePadded<Record>)) };
            graveyard::bury(node);
        }
    }
}

#[cfg(loom)]
impl Drop for Domain {
    fn drop(&mut self) {
        let id = self.id;
        self.allocated.bury_all(id);
    }
}
