//! Unsealed retirements: each record's bag in one map, and the batches
//! they are sealed into.
//!
//! The generic map retires an entry on every replace and remove. Handing
//! each one to the shared queue would cost a locked push and, worse, a
//! heavy barrier per entry; instead a retirement is a push onto the
//! retiring party's own [`Bag`] in that map: no atomic read-modify-write,
//! no fence, no shared cache line written. A bag that reaches [`BATCH`]
//! objects is *sealed*: its contents become one [`Batch`], which the map
//! queues as a single retired object (`mod.rs`, `seal`).
//!
//! # Who may touch a bag
//!
//! A map keeps one bag per record of the domain, at the record's index
//! ([`Bags`], a directory of lazily allocated segments). A record is held
//! by one party at a time (a thread, through its thread-local cache, or an
//! owned guard), so only the record's holder pushes onto its bag. A record
//! changes hands through its `taken` flag (a `Release` store by the old
//! holder, an `Acquire` CAS by the new one: `registry.rs`), which orders
//! every access of the old holder to the bag before the new holder's. A
//! bag's contents are read by the map's drop, which holds `&mut` and so
//! comes after every pin of the map. So the contents need no atomics: they
//! are an `UnsafeCell<Vec<_>>`, touched in short sections that run no code
//! of the user's (a push, a `mem::replace`).
//!
//! A party that stops retiring (a thread that exits) leaves its bag's
//! objects where they are: the next holder of its record fills the bag and
//! seals it, or the map's drop frees them. Unsealed garbage per map is thus
//! bounded by `BATCH - 1` objects per record, and records by the most
//! parties ever pinned at once.

use std::cell::UnsafeCell;
use std::ptr;

use crate::reclaim::contract::Retire;
use crate::sync::stat::AtomicUsize;
use crate::sync::AtomicPtr;
use crate::sync::Ordering::{AcqRel, Acquire, Relaxed, Release};

/// Objects per sealed batch. Each seal costs a locked push onto the map's
/// queue and a scan of the records, so a batch amortises them; a larger one
/// holds more garbage per party. Under loom every retirement seals, so the
/// models reach the sealed path with one entry.
pub(super) const BATCH: usize = if cfg!(loom) { 1 } else { 64 };

/// One retired object, type-erased: its address and how to free it.
pub(super) struct Deferred {
    ptr: *mut (),
    free: unsafe fn(*mut ()),
}

impl Deferred {
    /// `ptr`, to be freed with `T::free`.
    ///
    /// # Safety
    ///
    /// As for `ReclaimGuard::retire`: `ptr` is unlinked, retired once, and
    /// valid for `T::free`.
    pub(super) unsafe fn new<T: Retire>(ptr: *mut T) -> Self {
        unsafe fn free<T: Retire>(p: *mut ()) {
            // SAFETY: `p` is the `*mut T` stored by `Deferred::new::<T>`,
            // freed once (`Batch::free` consumes each `Deferred` once).
            unsafe { T::free(p.cast()) }
        }
        Deferred {
            ptr: ptr.cast(),
            free: free::<T>,
        }
    }
}

/// A sealed bag: retired as one object, freed as one.
pub(super) struct Batch(Vec<Deferred>);

impl Batch {
    /// Objects in the batch.
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
}

impl Retire for Batch {
    /// Frees every object of the batch. If one object's free panics (a
    /// user's `Drop`), the rest are still freed as the panic unwinds (a
    /// second panic aborts, as for a slice's drop).
    unsafe fn free(ptr: *mut Self) {
        /// Frees what is left of the batch when dropped: only on unwind,
        /// after an object's free panicked.
        struct Rest<'a>(&'a mut std::vec::IntoIter<Deferred>);
        impl Drop for Rest<'_> {
            fn drop(&mut self) {
                for d in self.0.by_ref() {
                    // SAFETY: as in the loop below.
                    unsafe { (d.free)(d.ptr) };
                }
            }
        }
        // SAFETY: the caller's: `ptr` is a boxed batch, freed once.
        let batch = unsafe { Box::from_raw(ptr) };
        let mut objects = batch.0.into_iter();
        let rest = Rest(&mut objects);
        for d in rest.0.by_ref() {
            // SAFETY: `Batch::free`'s caller: every object of the batch is
            // retired once and unreachable; each `Deferred` is taken from
            // the iterator once.
            unsafe { (d.free)(d.ptr) };
        }
    }
}

/// A record's unsealed retirements in one map.
pub(super) struct Bag {
    /// Touched only by the record's holder, or under `&mut` (module docs).
    items: UnsafeCell<Vec<Deferred>>,
    /// `items.len()`, for the pending-garbage gauge (a statistic: written by
    /// the holder with a plain store, read by anyone).
    len: AtomicUsize,
}

// SAFETY: a bag holds retired objects that may be freed on any thread (the
// reclamation contract, rule 3); `items` is touched only by the holder of
// the bag's record or under `&mut` (module docs), never by two threads at
// once.
unsafe impl Send for Bag {}
// SAFETY: as above.
unsafe impl Sync for Bag {}

impl Bag {
    fn new() -> Bag {
        Bag {
            items: UnsafeCell::new(Vec::with_capacity(BATCH)),
            len: AtomicUsize::new(0),
        }
    }

    /// Adds `d`; when the bag reaches [`BATCH`] objects, empties it and
    /// returns them, sealed.
    ///
    /// # Safety
    ///
    /// The caller holds the record this bag belongs to (module docs).
    #[inline]
    pub(super) unsafe fn push(&self, d: Deferred) -> Option<Batch> {
        // SAFETY: the caller holds the record, so no other access to
        // `items` runs now; the borrow ends before anything else is called.
        let items = unsafe { &mut *self.items.get() };
        items.push(d);
        let n = items.len();
        if n < BATCH {
            // Relaxed: a gauge.
            self.len.store(n, Relaxed);
            return None;
        }
        self.len.store(0, Relaxed);
        Some(Batch(std::mem::replace(items, Vec::with_capacity(BATCH))))
    }

    /// Objects in the bag (a gauge).
    fn len(&self) -> usize {
        self.len.load(Relaxed)
    }
}

/// Segments of the directory: segment `k` holds `FIRST << k` bags, so
/// twenty of them cover 64 million records.
const SEGMENTS: usize = 20;
/// Bags in segment 0 (under loom a handful, to keep models small).
const FIRST: usize = if cfg!(loom) { 2 } else { 64 };

/// Segment and offset of the bag of record `index`.
#[inline]
fn locate(index: usize) -> (usize, usize) {
    // Segment k covers indices FIRST * (2^k - 1) .. FIRST * (2^(k+1) - 1).
    let n = index / FIRST + 1;
    let k = (usize::BITS - 1 - n.leading_zeros()) as usize;
    (k, index - FIRST * ((1 << k) - 1))
}

/// One map's bags, by record index: a directory of segments allocated when
/// a record of their range first retires in this map. A map that never
/// retires an entry (a `WordMap`) allocates nothing.
pub(super) struct Bags {
    /// Segment `k`: the first of `64 << k` bag pointers, or null.
    segments: [AtomicPtr<AtomicPtr<Bag>>; SEGMENTS],
}

impl Bags {
    pub(super) fn new() -> Bags {
        Bags {
            segments: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
        }
    }

    /// The bag of record `index`, created if needed.
    ///
    /// # Safety
    ///
    /// The caller holds record `index` (only the holder creates its bag).
    #[inline]
    pub(super) unsafe fn get(&self, index: usize) -> &Bag {
        let (k, offset) = locate(index);
        let segment = match self.segments.get(k) {
            Some(s) => s,
            None => capacity_exhausted(index),
        };
        // Acquire: pairs with the Release CAS that installed the segment,
        // so its (null) cells are initialised.
        let mut first = segment.load(Acquire);
        if first.is_null() {
            first = self.install(k);
        }
        // SAFETY: segment k has `FIRST << k` cells and `offset` is below
        // that (`locate`); segments live until the map drops.
        let cell = unsafe { &*first.add(offset) };
        // Acquire: pairs with the Release store below by an earlier holder
        // of the record (also ordered by the record's hand-over).
        let mut bag = cell.load(Acquire);
        if bag.is_null() {
            bag = Box::into_raw(Box::new(Bag::new()));
            // Release: a reader of the gauge (`pending`) that finds the
            // pointer sees an initialised bag. Only the record's holder
            // stores into this cell (the caller's contract): no race.
            cell.store(bag, Release);
        }
        // SAFETY: bags are freed only by the map's drop (`&mut self`).
        unsafe { &*bag }
    }

    /// Installs segment `k` (or finds the one another party installed).
    #[cold]
    fn install(&self, k: usize) -> *mut AtomicPtr<Bag> {
        let cells: Box<[AtomicPtr<Bag>]> = (0..FIRST << k)
            .map(|_| AtomicPtr::new(ptr::null_mut()))
            .collect();
        let fresh = Box::into_raw(cells).cast::<AtomicPtr<Bag>>();
        // AcqRel: Release publishes the cells; Acquire, on failure, reads
        // the winner's.
        match self.segments[k].compare_exchange(ptr::null_mut(), fresh, AcqRel, Acquire) {
            Ok(_) => fresh,
            Err(winner) => {
                // SAFETY: `fresh` is ours, never published, of this length.
                drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(fresh, FIRST << k)) });
                winner
            }
        }
    }

    /// Every bag created so far.
    fn each(&self) -> impl Iterator<Item = &Bag> + '_ {
        self.segments.iter().enumerate().flat_map(|(k, s)| {
            // Acquire: as in `get`.
            let first = s.load(Acquire);
            let cells: &[AtomicPtr<Bag>] = if first.is_null() {
                &[]
            } else {
                // SAFETY: an installed segment of `FIRST << k` cells, alive
                // until the map drops.
                unsafe { std::slice::from_raw_parts(first, FIRST << k) }
            };
            // Acquire: pairs with the Release store that published the bag.
            // SAFETY: a published bag lives until the map drops.
            cells
                .iter()
                .filter_map(|c| unsafe { c.load(Acquire).as_ref() })
        })
    }

    /// Objects in every bag (a gauge: each bag's own count, read Relaxed).
    pub(super) fn pending(&self) -> usize {
        self.each().map(Bag::len).sum()
    }

    /// Every bag's objects, for the map's drop (`&mut self`: no pin of the
    /// map is left, so no holder is using a bag).
    pub(super) fn drain_mut(&mut self) -> Vec<Batch> {
        self.each()
            .map(|bag| {
                // SAFETY: `&mut self`: no holder can be touching the bag.
                Batch(std::mem::take(unsafe { &mut *bag.items.get() }))
            })
            .filter(|b| b.len() > 0)
            .collect()
    }
}

impl Drop for Bags {
    fn drop(&mut self) {
        // Unwinding under loom: leave loom's state alone (`sync.rs`).
        if crate::sync::loom_unwinding() {
            return;
        }
        // The owner drains the contents first (`TableReclaim`'s drop);
        // here only the bags and the segments go.
        for (k, s) in self.segments.iter().enumerate() {
            let first = s.load(Relaxed);
            if first.is_null() {
                continue;
            }
            // SAFETY: `&mut self`: the segment and its bags are ours alone;
            // each was allocated by `install`/`get` as freed here, once.
            unsafe {
                let cells = Box::from_raw(ptr::slice_from_raw_parts_mut(first, FIRST << k));
                for c in cells.iter() {
                    let bag = c.load(Relaxed);
                    if !bag.is_null() {
                        drop(Box::from_raw(bag));
                    }
                }
            }
        }
    }
}

/// More records than the directory covers (64 million parties pinned at
/// once): report it, never corrupt.
#[cold]
fn capacity_exhausted(index: usize) -> ! {
    panic!("lfmap: reclamation record {index} is beyond the retirement directory")
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn segments_tile_the_indices() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(63), (0, 63));
        assert_eq!(locate(64), (1, 0));
        assert_eq!(locate(191), (1, 127));
        assert_eq!(locate(192), (2, 0));
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
}
