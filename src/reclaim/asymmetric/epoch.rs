//! Epochs, and what a record announces.
//!
//! The global epoch counts table retirements (it starts at 1 and each
//! retirement bumps it); a pinned record announces the epoch it read, and a
//! retired table carries the epoch its retirement's bump produced as its
//! stamp. An [`Epoch`] is therefore never 0, and a record that is not
//! pinned shows no epoch at all: [`Announcement::pinned_at`] gives
//! `Option<Epoch>`, decoded in that one place from the record's word (where
//! 0 stands for "not pinned"). Nothing else compares raw integers with 0.
//!
//! The encoding keeps the pin as it was: announcing is a store of the
//! epoch's integer, unpinning a store of 0 (plain `mov`s on x86); the
//! newtypes are free.

use crate::sync::{AtomicU64, Ordering};

/// A value of the global epoch: 1 + the number of table retirements before
/// it. Never 0 (the counter starts at 1 and only goes up; 2^64 retirements,
/// one per resize, are out of reach).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(super) struct Epoch(u64);

impl Epoch {
    /// The epoch before any retirement.
    const FIRST: Epoch = Epoch(1);
}

/// The global epoch, shared by every `WordMap` of a domain.
pub(super) struct GlobalEpoch(AtomicU64);

impl GlobalEpoch {
    #[cfg(not(loom))]
    pub(super) const fn new() -> Self {
        GlobalEpoch(AtomicU64::new(Epoch::FIRST.0))
    }

    #[cfg(loom)]
    pub(super) fn new() -> Self {
        GlobalEpoch(AtomicU64::new(Epoch::FIRST.0))
    }

    /// The current epoch (the caller's ordering: a pin loads it `Acquire`,
    /// `Domain::announce`).
    #[inline]
    pub(super) fn load(&self, order: Ordering) -> Epoch {
        Epoch(self.0.load(order))
    }

    /// Bumps the epoch; returns the new value, the stamp of the retirement
    /// that bumped it (the caller's ordering: `AcqRel`, `TableReclaim::retire`).
    #[inline]
    pub(super) fn advance(&self, order: Ordering) -> Epoch {
        Epoch(self.0.fetch_add(1, order) + 1)
    }
}

/// A record's announcement: pinned at some [`Epoch`], or not pinned.
///
/// One atomic word: the epoch's integer while pinned, [`Self::UNPINNED`] (0,
/// which no epoch is) while not. The word is read only through
/// [`pinned_at`](Self::pinned_at), which decodes it.
pub(super) struct Announcement(AtomicU64);

impl Announcement {
    /// The word of a record that is not pinned.
    const UNPINNED: u64 = 0;

    /// Not pinned.
    pub(super) fn unpinned() -> Self {
        Announcement(AtomicU64::new(Self::UNPINNED))
    }

    /// Announces a pin at `epoch` (the caller's ordering: `Release`,
    /// `Domain::announce`).
    #[inline]
    pub(super) fn pin(&self, epoch: Epoch, order: Ordering) {
        self.0.store(epoch.0, order);
    }

    /// Announces that the holder is no longer pinned (the caller's ordering:
    /// `Release`, the guards' drops).
    #[inline]
    pub(super) fn unpin(&self, order: Ordering) {
        self.0.store(Self::UNPINNED, order);
    }

    /// The epoch the holder is pinned at, or `None` while it is not pinned
    /// (the caller's ordering: `Acquire`, `Domain::oldest_pin`).
    #[inline]
    pub(super) fn pinned_at(&self, order: Ordering) -> Option<Epoch> {
        match self.0.load(order) {
            Self::UNPINNED => None,
            e => Some(Epoch(e)),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::Ordering::Relaxed;

    #[test]
    fn epochs_start_at_one_and_go_up() {
        let global = GlobalEpoch::new();
        assert_eq!(global.load(Relaxed), Epoch::FIRST);
        let stamp = global.advance(Relaxed);
        assert!(stamp > Epoch::FIRST);
        assert_eq!(global.load(Relaxed), stamp);
    }

    #[test]
    fn an_announcement_is_an_epoch_or_none() {
        let a = Announcement::unpinned();
        assert_eq!(a.pinned_at(Relaxed), None);
        a.pin(Epoch::FIRST, Relaxed);
        assert_eq!(a.pinned_at(Relaxed), Some(Epoch::FIRST));
        let later = Epoch(7);
        a.pin(later, Relaxed);
        assert_eq!(a.pinned_at(Relaxed), Some(later));
        a.unpin(Relaxed);
        assert_eq!(a.pinned_at(Relaxed), None);
    }
}
