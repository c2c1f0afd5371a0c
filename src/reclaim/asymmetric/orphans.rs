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
//!   23 (`a_sweep_borrows_only_free_records`) races a sweep with claims
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
use super::pacing;
use super::registry::Domain;
use crate::sync::stat::AtomicUsize;
use crate::sync::Ordering::Relaxed;

/// Bags one scan looks at, at most: a sweep after a spike of a few
/// thousand parties takes a few dozen scans, none of them longer by more
/// than 64 loads of cold lines and a CAS for each bag that holds objects.
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
    /// The next bag to look at, while a sweep is under way.
    next: Option<usize>,
    /// When the last sweep began, on the pacing clock (`None`: never).
    began: Option<u64>,
}

impl Sweep {
    /// No sweep yet: the first begins once a record is given back.
    pub(super) const fn new() -> Sweep {
        Sweep {
            seen: 0,
            next: None,
            began: None,
        }
    }

    /// A step of the sweep of `bags` (this map's), if one is under way or
    /// due: hands each batch it takes to `take`, to be queued unstamped
    /// with the scanner's. Returns the objects taken.
    ///
    /// `done` is the map's hint for scans to come ([`Sweep::wanted`]):
    /// the count a finished sweep began with.
    pub(super) fn step(
        &mut self,
        domain: &'static Domain,
        bags: &Bags,
        done: &AtomicUsize,
        mut take: impl FnMut(Batch),
    ) -> usize {
        let start = match self.next {
            Some(next) => next,
            None => {
                // Acquire (`Domain::releases`): every give-back it counts
                // shows its record free, or held again, to the walk below.
                let releases = domain.releases();
                if releases == self.seen || !self.due() {
                    return 0;
                }
                self.seen = releases;
                self.began = Some(pacing::now());
                0
            }
        };
        let bound = bags.index_bound();
        let end = bound.min(start.saturating_add(STEP));
        let mut taken = 0;
        for index in start..end {
            let Some(bag) = bags.get_installed(index) else {
                continue;
            };
            // Most bags are empty or their record's holder is alive. Under
            // loom every retirement seals, so bags are empty: the models
            // borrow every free record, to race the borrow with claims.
            if bag.len() == 0 && !cfg!(loom) {
                continue;
            }
            let Some(borrowed) = domain.borrow(index) else {
                continue;
            };
            debug_assert_eq!(borrowed.index(), index);
            // SAFETY: we hold the bag's record until `borrowed` drops.
            if let Some(batch) = unsafe { bag.surrender() } {
                taken += batch.len();
                take(batch);
            }
            drop(borrowed);
        }
        self.next = (end < bound).then_some(end);
        if self.next.is_none() {
            // Relaxed: a hint (`wanted`); only this scanner writes it.
            done.store(self.seen, Relaxed);
        }
        taken
    }

    /// Whether a scan of the map would have sweeping to do: a record was
    /// given back since the sweep that `done` (the map's hint, written by
    /// [`step`](Self::step)) says finished last, or a sweep is under way.
    /// For the pacing ticks of a map with nothing queued, which otherwise
    /// do not scan: one load of the count, one of the hint. A sweep the
    /// interval holds back keeps it true until the sweep begins.
    #[inline]
    pub(super) fn wanted(domain: &'static Domain, done: &AtomicUsize) -> bool {
        // Relaxed: heuristics; the sweep itself reads the count Acquire.
        domain.releases_hint() != done.load(Relaxed)
    }

    /// Whether a new sweep may begin now ([`INTERVAL`]; always under loom,
    /// which has no time).
    fn due(&self) -> bool {
        #[cfg(loom)]
        return true;
        #[cfg(not(loom))]
        self.began
            .is_none_or(|began| pacing::now().saturating_sub(began) >= INTERVAL)
    }
}
