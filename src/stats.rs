//! [`Stats`], and the striped counters behind `len` and table occupancy.

use std::sync::OnceLock;

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicIsize, AtomicUsize, Ordering::Relaxed};

/// A snapshot of a map's counters, from [`HashMap::stats`](crate::HashMap::stats).
///
/// Every field is read without stopping writers, so under concurrent writes
/// the fields are each recent but not mutually consistent. Reading them costs
/// a few dozen relaxed loads, never a scan of the table.
///
/// ```
/// let map = lfmap::HashMap::new();
/// map.pin().insert(1, "one");
/// let stats = map.stats();
/// assert_eq!(stats.len, 1);
/// assert!(stats.capacity >= 1);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Number of entries.
    pub len: usize,
    /// Entries the current table holds before it starts a resize.
    pub capacity: usize,
    /// Slots of the current table.
    pub slots: usize,
    /// Removed keys whose slots are not yet reclaimed (a resize drops them).
    pub tombstones: usize,
    /// Resizes started (growths, same-size rebuilds and shrinks).
    pub resizes: u64,
    /// Resizes finished (the root moved to the new table). `resizes -
    /// resizes_finished` is the number in progress.
    pub resizes_finished: u64,
    /// Keys inserted into the map (new keys, including re-inserted removed
    /// ones; replacing a present key's value does not count).
    pub inserts: u64,
    /// Keys removed from the map.
    pub removes: u64,
    /// Migration chunks moved by threads that were helping (every chunk is
    /// moved by a writer that met the resize; readers never help).
    pub chunks_helped: u64,
    /// Generation of the current table (0 before the first resize).
    pub generation: u64,
    /// Retired entries and tables not yet freed by the reclaimer.
    pub pending_garbage: usize,
}

/// Shard count: enough to spread the machine's cores, a power of two.
fn shard_count() -> usize {
    if cfg!(loom) {
        // One shard keeps loom's state space small; striping is a
        // performance device, not part of the protocol.
        return 1;
    }
    static SHARDS: OnceLock<usize> = OnceLock::new();
    *SHARDS.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(4, |n| n.get());
        (cpus * 2).next_power_of_two().clamp(4, 64)
    })
}

/// This thread's shard seed: threads are numbered as they first count.
fn thread_index() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    INDEX.try_with(|i| *i).unwrap_or(0)
}

/// A counter split over cache-padded shards so that concurrent writers on
/// different threads do not bounce one cache line. Reading sums the shards.
///
/// All accesses are `Relaxed`: counters feed statistics and resize
/// heuristics, never the correctness of the protocol.
pub(crate) struct Counter {
    shards: Box<[CachePadded<AtomicIsize>]>,
}

impl Counter {
    pub(crate) fn new() -> Counter {
        Counter {
            shards: (0..shard_count())
                .map(|_| CachePadded::new(AtomicIsize::new(0)))
                .collect(),
        }
    }

    /// Adds `delta` to this thread's shard; returns the shard's new value
    /// (callers use it to decide cheaply when to look at the total).
    #[inline]
    pub(crate) fn add(&self, delta: isize) -> isize {
        let shard = &self.shards[thread_index() & (self.shards.len() - 1)];
        shard.fetch_add(delta, Relaxed).wrapping_add(delta)
    }

    /// The total, clamped at zero (shards may be transiently negative).
    pub(crate) fn sum(&self) -> usize {
        let total: isize = self.shards.iter().map(|s| s.load(Relaxed)).sum();
        total.max(0) as usize
    }
}

/// A plain relaxed event counter.
pub(crate) struct Events(AtomicUsize);

impl Events {
    pub(crate) fn new() -> Events {
        Events(AtomicUsize::new(0))
    }
    #[inline]
    pub(crate) fn bump(&self) {
        self.0.fetch_add(1, Relaxed);
    }
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed) as u64
    }
}

/// The counters both maps keep, and the one way `len` and [`Stats`] are
/// computed from them.
pub(crate) struct MapCounters {
    /// Keys inserted (new or revived) and removed; `len` is the difference.
    /// Two monotonic counters instead of one up-down counter cost the same
    /// (each write touches one) and give the metrics for free.
    pub(crate) inserted: Counter,
    pub(crate) removed: Counter,
    pub(crate) resizes: Events,
    pub(crate) promotions: Events,
    pub(crate) chunks_helped: Events,
}

/// What a [`Stats`] snapshot needs from the map's current root table.
pub(crate) struct RootFacts {
    pub(crate) slots: usize,
    pub(crate) occupied: usize,
    pub(crate) generation: u64,
    pub(crate) pending_garbage: usize,
}

impl MapCounters {
    pub(crate) fn new() -> MapCounters {
        MapCounters {
            inserted: Counter::new(),
            removed: Counter::new(),
            resizes: Events::new(),
            promotions: Events::new(),
            chunks_helped: Events::new(),
        }
    }

    /// Number of keys (see `HashMap::len`).
    pub(crate) fn len(&self) -> usize {
        // Removals are read first: a concurrent insert-then-remove can then
        // only make the result too large, never wrap below zero.
        let removed = self.removed.sum();
        self.inserted.sum().saturating_sub(removed)
    }

    /// Restarts the key counts (a map emptied with exclusive access).
    pub(crate) fn reset_len(&mut self) {
        self.inserted = Counter::new();
        self.removed = Counter::new();
    }

    pub(crate) fn stats(&self, root: RootFacts) -> Stats {
        let removes = self.removed.sum();
        let inserts = self.inserted.sum();
        let len = inserts.saturating_sub(removes);
        Stats {
            len,
            capacity: root.slots / 4 * 3,
            slots: root.slots,
            tombstones: root.occupied.saturating_sub(len),
            resizes: self.resizes.get(),
            resizes_finished: self.promotions.get(),
            inserts: inserts as u64,
            removes: removes as u64,
            chunks_helped: self.chunks_helped.get(),
            generation: root.generation,
            pending_garbage: root.pending_garbage,
        }
    }
}
