//! [`PerRecord`]: one value per record of the domain, by record index.
//!
//! A record is held by one party at a time (a thread, or an owned guard),
//! so a value kept at the record's index is that party's own: it may be
//! written without a read-modify-write. A map keeps its bags of retired
//! entries this way (`bags.rs`), and its key counters (`stats.rs`, through
//! [`thread_record`](super::thread_record)).
//!
//! The directory is a fixed array of segments, allocated when a record of
//! their range first needs its value: segment `k` holds `FIRST << k`
//! values, so a map that a few threads use allocates one small segment,
//! and twenty segments cover millions of records. Values are created by a
//! constructor and never dropped before the directory.
//!
//! The segment pointers are std atomics even under loom: publishing a
//! segment (a CAS with `AcqRel`, loads with `Acquire`) is plain
//! publication, and making every count step a loom scheduling point is
//! what issue #16 took counters out of loom for.

use std::ptr;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::sync::atomic::{AtomicPtr, AtomicUsize};

/// Segments in a directory.
const SEGMENTS: usize = 20;
/// Values in segment 0 (under loom two, to keep the models' maps small).
const FIRST: usize = if cfg!(loom) { 2 } else { 8 };
/// Indices a directory covers: `0..CAPACITY`.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const CAPACITY: usize = FIRST * ((1 << SEGMENTS) - 1);

/// Segment and offset of index `index`.
#[inline]
fn locate(index: usize) -> (usize, usize) {
    // Segment k covers indices FIRST * (2^k - 1) .. FIRST * (2^(k+1) - 1).
    let n = index / FIRST + 1;
    let k = (usize::BITS - 1 - n.leading_zeros()) as usize;
    (k, index - FIRST * ((1 << k) - 1))
}

/// One `T` per record index, created on first use.
pub(crate) struct PerRecord<T> {
    /// Segment `k`: the first of `FIRST << k` values, or null.
    segments: [AtomicPtr<T>; SEGMENTS],
    /// Values in the installed segments: what [`each`](Self::each) walks.
    installed: AtomicUsize,
    /// Makes a value.
    make: fn() -> T,
}

impl<T> PerRecord<T> {
    /// An empty directory whose values `make` builds.
    pub(crate) const fn new(make: fn() -> T) -> Self {
        PerRecord {
            segments: [const { AtomicPtr::new(ptr::null_mut()) }; SEGMENTS],
            installed: AtomicUsize::new(0),
            make,
        }
    }

    /// The value at `index` if its segment is installed: no allocation,
    /// and `None` past the directory rather than a panic.
    #[inline]
    pub(crate) fn get_installed(&self, index: usize) -> Option<&T> {
        let (k, offset) = locate(index);
        // Acquire: as in `get`.
        let first = self.segments.get(k)?.load(Acquire);
        // SAFETY: as in `get`, for an installed segment.
        (!first.is_null()).then(|| unsafe { &*first.add(offset) })
    }

    /// The value at `index`, its segment allocated if needed.
    #[inline]
    pub(crate) fn get(&self, index: usize) -> &T {
        let (k, offset) = locate(index);
        let Some(segment) = self.segments.get(k) else {
            beyond_directory(index)
        };
        // Acquire: pairs with the Release CAS that installed the segment,
        // so its values are initialised.
        let mut first = segment.load(Acquire);
        if first.is_null() {
            first = self.install(k);
        }
        // SAFETY: segment k has `FIRST << k` values and `offset` is below
        // that (`locate`); segments live until the directory drops, and
        // `&self` keeps it alive.
        unsafe { &*first.add(offset) }
    }

    /// Installs segment `k` (or finds the one another party installed).
    #[cold]
    fn install(&self, k: usize) -> *mut T {
        let values: Box<[T]> = (0..FIRST << k).map(|_| (self.make)()).collect();
        let fresh = Box::into_raw(values).cast::<T>();
        // AcqRel: Release publishes the values; Acquire, on failure, reads
        // the winner's.
        match self.segments[k].compare_exchange(ptr::null_mut(), fresh, AcqRel, Acquire) {
            Ok(_) => {
                // Relaxed: a size hint (`installed`), ordered with nothing.
                self.installed.fetch_add(FIRST << k, Relaxed);
                fresh
            }
            Err(winner) => {
                // SAFETY: `fresh` is ours, never published, of this length.
                drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(fresh, FIRST << k)) });
                winner
            }
        }
    }

    /// How many values [`each`](Self::each) walks now (every installed
    /// segment's): one load, a hint that may lag a segment installed
    /// meanwhile.
    #[inline]
    pub(crate) fn installed(&self) -> usize {
        self.installed.load(Relaxed)
    }

    /// The lowest index from `index` on whose segment is installed, if
    /// any: a walk of the values that skips the segments never installed
    /// (one party of high index installs one segment of its own, not
    /// those below it). A segment installed meanwhile may be missed.
    pub(crate) fn next_installed(&self, index: usize) -> Option<usize> {
        let (k, _) = locate(index);
        // Relaxed: a guide for a walk that reads each value through
        // `get_installed` (Acquire) anyway.
        let installed = |k: usize| !self.segments[k].load(Relaxed).is_null();
        if k >= SEGMENTS {
            return None;
        }
        if installed(k) {
            return Some(index);
        }
        (k + 1..SEGMENTS)
            .find(|&k| installed(k))
            .map(|k| FIRST * ((1 << k) - 1))
    }

    /// Every value of every installed segment (values never used included:
    /// each is as `make` built it, or as its users left it).
    pub(crate) fn each(&self) -> impl Iterator<Item = &T> + '_ {
        self.segments.iter().enumerate().flat_map(|(k, s)| {
            // Acquire: as in `get`.
            let first = s.load(Acquire);
            let values: &[T] = if first.is_null() {
                &[]
            } else {
                // SAFETY: an installed segment of `FIRST << k` values, alive
                // as long as `&self`.
                unsafe { std::slice::from_raw_parts(first, FIRST << k) }
            };
            values.iter()
        })
    }
}

impl<T> Drop for PerRecord<T> {
    fn drop(&mut self) {
        for (k, s) in self.segments.iter().enumerate() {
            // Relaxed: `&mut self` orders every install before us.
            let first = s.load(Relaxed);
            if !first.is_null() {
                // SAFETY: `&mut self`: the segment is ours alone; allocated
                // by `install` with this length, freed once.
                drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(first, FIRST << k)) });
            }
        }
    }
}

// SAFETY: the directory owns its values; moving it moves them.
unsafe impl<T: Send> Send for PerRecord<T> {}
// SAFETY: through `&PerRecord` any thread reaches any value (`get`, `each`),
// so `T: Sync` is required and enough; values are created under a CAS and
// dropped only under `&mut`.
unsafe impl<T: Send + Sync> Sync for PerRecord<T> {}

/// More records than the directory covers: report it, never corrupt.
#[cold]
fn beyond_directory(index: usize) -> ! {
    panic!("lfmap: reclamation record {index} is beyond the per-record directory")
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn segments_tile_the_indices() {
        let mut expect = (0, 0);
        for i in 0..10_000 {
            let (k, off) = locate(i);
            assert_eq!((k, off), expect, "index {i}");
            assert!(off < FIRST << k);
            expect = if off + 1 == FIRST << k {
                (k + 1, 0)
            } else {
                (k, off + 1)
            };
        }
    }

    #[test]
    fn values_are_made_once_and_kept() {
        let d: PerRecord<std::sync::atomic::AtomicUsize> =
            PerRecord::new(|| std::sync::atomic::AtomicUsize::new(7));
        assert_eq!(d.each().count(), 0);
        d.get(3).store(1, Relaxed);
        d.get(100).store(2, Relaxed);
        assert_eq!(d.get(3).load(Relaxed), 1);
        assert_eq!(d.get(100).load(Relaxed), 2);
        let sum: usize = d.each().map(|v| v.load(Relaxed)).sum();
        let installed = d.each().count();
        assert_eq!(sum, 1 + 2 + 7 * (installed - 2));
    }

    #[test]
    fn a_walk_skips_segments_never_installed() {
        let d: PerRecord<u8> = PerRecord::new(|| 0);
        assert_eq!(d.next_installed(0), None);
        // Only the segment of index 100 (not those below it).
        d.get(100);
        let (k, off) = locate(100);
        let first = 100 - off;
        assert_eq!(d.next_installed(0), Some(first));
        assert_eq!(d.next_installed(100), Some(100));
        assert_eq!(d.next_installed(first + (FIRST << k)), None);
        assert_eq!(d.next_installed(CAPACITY + 5), None);
        d.get(3);
        assert_eq!(d.next_installed(0), Some(0));
        assert_eq!(d.next_installed(FIRST), Some(first));
    }
}
