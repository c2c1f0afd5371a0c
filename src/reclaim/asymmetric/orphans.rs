//! Bags left behind: the sweep that hands over a map's bags whose record
//! nobody holds.
//!
//! A party that gives its record back (a thread that exits, an owned guard
//! that drops) leaves its bag in each map where it is: up to
//! `BATCH - 1` unsealed retirements and what it adopted (`bags.rs`). The
//! next holder of the record fills the bag and seals it. But claims take
//! the *lowest* free record (`registry.rs`), so after a spike of threads
//! or owned guards the records above the later peak may never be claimed
//! again, and their bags would wait for the map's drop: an outside test
//! left 32,059 values unfreed after 1,000 owned handles were dropped.
//!
//! So a scan of a map ([`TableReclaim::scan`](super::TableReclaim), under
//! its scanning flag) also steps a [`Sweep`]: once the domain's count of
//! give-backs has changed since its last sweep began, it walks the map's
//! bags, [`STEP`] a scan, and for each bag that holds objects it
//! *borrows* the bag's record ([`Domain::borrow`]: the claim's own CAS,
//! no pin, no bit), takes the bag's objects as one batch
//! ([`Bag::surrender`]), queues it with the scanner's unstamped batches,
//! and gives the record back. While it holds the record, a claim that
//! wants it goes on to the next free one, as it does when another claim
//! wins.
//!
//! # Why it is sound
//!
//! * **One holder.** The borrow is the claim's CAS on `taken` (Acquire),
//!   and the give-back its Release store: the bag is touched by one party
//!   at a time, and every access of the last holder happens before the
//!   sweep's, every access of the sweep before the next holder's, exactly
//!   as between two holders (`bags.rs`, "Who may touch a bag"). Loom model
//!   24 (`a_sweep_borrows_only_free_records`) races a sweep with claims
//!   and releases, and checks that no record is ever held twice; the
//!   planted mutation `record_borrow_by_bit`, a borrow that trusts the
//!   record's bit instead of its CAS, fails it.
//! * **The stamp.** Every unsealed object was unlinked before its push,
//!   which precedes the holder's give-back (Release), the sweep's borrow
//!   (Acquire) and so the bump that stamps the batch: the seal's argument
//!   (docs/design.md, "Why the stamp is sound") with the borrow in place of
//!   the queue's push and take. Adopted objects were found unreachable
//!   already; a stamp only delays them.
//! * **Nothing missed.** A give-back counts itself after its `taken` store
//!   (Release), and a sweep reads the count (Acquire) before it walks: a
//!   record given back before that read is then seen free, with its bag's
//!   last contents, or held by a later party, whose own retirements seal
//!   the bag. A give-back after the read changes the count again, and a
//!   later scan sweeps once more.
//!
//! # What it costs
//!
//! Nothing while no record is given back: a load of the count per scan.
//! After a give-back, a sweep of the map's bags, [`STEP`] per scan (a
//! load of each bag's gauge, a CAS and a store for each that holds
//! objects), begun at most once per [`INTERVAL`] per map, so that a
//! service whose owned guards come and go by the thousand a second does
//! not sweep at every scan. A sweep takes nothing from a record in use,
//! and allocates nothing (it reads only the bags that exist).
//!
//! Left to the map's drop still: a bag whose map is never scanned again
//! (no write, no pacing tick), and the buffers of a bag that was left
//! empty.

use super::bags::{Bags, Batch};
#[cfg(not(loom))]
use super::pacing;
use super::registry::Domain;
#[cfg(not(loom))]
use crate::sync::stat::AtomicU64;
use crate::sync::stat::AtomicUsize;
use crate::sync::Ordering::Relaxed;

/// Bags one scan looks at, at most (of those allocated: the walk skips
/// the segments of the bag directory that were never allocated): a sweep
/// after a spike of a few thousand parties takes a few dozen scans, none
/// of them longer by more than 64 loads of cold lines and a CAS and a
/// store for each bag that holds objects.
const STEP: usize = 64;

/// The shortest time between the starts of two sweeps of one map, in
/// nanoseconds: 10 ms, so that the scans of a map whose parties keep
/// giving records back (a pool of owned guards) sweep it about a hundred
/// times a second at most.
#[cfg(not(loom))]
const INTERVAL: u64 = 10_000_000;

/// A map's sweep of its bags ([`step`](Sweep::step)), kept with its
/// scanner's state (one scanner at a time: `TableReclaim::scanning`).
pub(super) struct Sweep {
    /// The domain's give-back count when the last sweep began.
    seen: usize,
    /// The next index to look at, while a sweep is under way.
    next: Option<usize>,
}

/// What a map's pacing ticks read to decide whether a scan would have
/// sweeping to do ([`wanted`](Hint::wanted)), written by its scanner
/// ([`Sweep::step`]). Heuristics, Relaxed.
pub(super) struct Hint {
    /// The give-back count the last finished sweep began with.
    done: AtomicUsize,
    /// When the next sweep may begin (pacing clock; not under loom, which
    /// has no time).
    #[cfg(not(loom))]
    not_before: AtomicU64,
}

impl Hint {
    pub(super) const fn new() -> Hint {
        Hint {
            done: AtomicUsize::new(0),
            #[cfg(not(loom))]
            not_before: AtomicU64::new(0),
        }
    }

    /// Whether a scan of the map would have sweeping to do now: a record
    /// was given back since the sweep that finished last began, and a
    /// sweep may begin (or one is under way and may go on) by the
    /// interval. For the pacing ticks of a thread in a map with nothing
    /// queued, which otherwise do not scan: while no record is given back,
    /// one load of the count and one of the hint; after one, a reading of
    /// the clock too, so that a map whose parties keep giving records back
    /// does not scan at every tick between two sweeps.
    #[inline]
    pub(super) fn wanted(&self, domain: &'static Domain) -> bool {
        // Relaxed: heuristics; the sweep itself reads the count Acquire.
        if domain.releases_hint() == self.done.load(Relaxed) {
            return false;
        }
        self.due()
    }

    /// Whether a new sweep may begin now: [`INTERVAL`] after the last one
    /// began (`not_before`, which the scanner wrote then; always under
    /// loom, which has no time).
    #[inline]
    fn due(&self) -> bool {
        #[cfg(loom)]
        return true;
        #[cfg(not(loom))]
        {
            pacing::now() >= self.not_before.load(Relaxed)
        }
    }
}

impl Sweep {
    /// No sweep yet: the first begins once a record is given back.
    pub(super) const fn new() -> Sweep {
        Sweep {
            seen: 0,
            next: None,
        }
    }

    /// A step of the sweep of `bags` (this map's), if one is under way or
    /// due: hands each batch it takes (at most [`BATCH`](super::bags::BATCH)
    /// objects each) to `take`, to be queued unstamped with the scanner's;
    /// keeps `hint` (the map's) for its pacing ticks. Returns the objects
    /// taken.
    pub(super) fn step(
        &mut self,
        domain: &'static Domain,
        bags: &Bags,
        hint: &Hint,
        mut take: impl FnMut(Batch),
    ) -> usize {
        let mut index = match self.next {
            Some(next) => next,
            None => {
                // Acquire (`Domain::releases`): every give-back it counts
                // shows its record free, or held again, to the walk below.
                let releases = domain.releases();
                if releases == self.seen || !hint.due() {
                    return 0;
                }
                self.seen = releases;
                #[cfg(not(loom))]
                hint.not_before
                    .store(pacing::now().saturating_add(INTERVAL), Relaxed);
                0
            }
        };
        let mut taken = 0;
        let mut looked = 0;
        self.next = loop {
            if looked == STEP {
                break Some(index);
            }
            let Some(at) = bags.next_installed(index) else {
                break None;
            };
            looked += 1;
            index = at + 1;
            let Some(bag) = bags.get_installed(at) else {
                continue;
            };
            // Most bags are empty (holding no buffer either) or their
            // record's holder is alive. Under loom every retirement seals,
            // so bags are empty: the models borrow every free record, to
            // race the borrow with claims.
            if !bag.worth_a_sweep() && !cfg!(loom) {
                continue;
            }
            let Some(borrowed) = domain.borrow(at) else {
                continue;
            };
            // SAFETY: we hold the bag's record until `borrowed` drops.
            let left = unsafe { bag.surrender() };
            // Given back before anything else: a claim that wants the
            // record finds it taken only for the surrender's few stores.
            drop(borrowed);
            taken += left.len();
            left.into_batches().for_each(&mut take);
        };
        if self.next.is_none() {
            // Relaxed: a hint (`Hint::wanted`); only the scanner writes it.
            hint.done.store(self.seen, Relaxed);
        }
        taken
    }
}
