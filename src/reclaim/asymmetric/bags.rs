//! Unsealed retirements: each record's bag in one map, and the batches
//! they are sealed into.
//!
//! The generic map retires an entry on every replace and remove. Handing
//! each one to the shared queue would cost a locked push and, worse, a
//! heavy barrier per entry; instead a retirement is a push onto the
//! retiring party's own [`Bag`] in that map: no atomic read-modify-write,
//! no fence, no shared cache line written. A bag that reaches [`BATCH`]
//! objects is *sealed*: its contents become one [`Batch`], which the map
//! queues as a single retired object (`mod.rs`, `seal`). The batches the
//! sealer's scan then finds freeable are *adopted* by its bag and freed a
//! few objects per retirement of its holder, the sealing one included
//! ([`Bag::adopt`]), so that no single write frees a whole batch. A pacing
//! tick's scan while a retired table waits adopts into the ticking
//! record's bag the same way (`mod.rs`, `scan_on_tick`).
//!
//! # Who may touch a bag
//!
//! A map keeps one bag per record of the domain, at the record's index
//! ([`Bags`], a [`PerRecord`] directory). A record is held
//! by one party at a time (a thread, through its thread-local cache, or an
//! owned guard), so only the record's holder pushes onto its bag. A record
//! changes hands through its `taken` flag (a `Release` store by the old
//! holder, an `Acquire` CAS by the new one: `registry.rs`), which orders
//! every access of the old holder to the bag before the new holder's. A
//! bag's contents are read by the map's drop, which holds `&mut` and so
//! comes after every pin of the map. So the contents need no atomics: they
//! are `UnsafeCell<Vec<_>>`s, touched in short sections that run no code
//! of the user's (a push, a `mem::replace`, an append, a pop); an adopted
//! object is popped, the borrow ended, and only then freed, so a user's
//! `Drop` that retires into the same bag again finds it consistent.
//!
//! A party that stops retiring leaves its bag's unsealed objects where
//! they are: the next holder of its record fills the bag and seals it;
//! once the party gives its record back, a scan of the map takes the bag
//! over (`orphans.rs`); or the map's drop frees them. What it adopted is freed by its pacing ticks
//! once it stops retiring (`TableReclaim::tidy_if_done`), by the
//! next holder's retirements if it exits first, or by the map's drop.
//! Unsealed garbage per map is thus bounded by `BATCH - 1` objects per
//! record held now (and per record given back, until a scan of the map
//! sweeps it), and adopted garbage by [`READY_MAX`].

use std::cell::UnsafeCell;

use crossbeam_utils::CachePadded;

use super::directory::PerRecord;
use crate::reclaim::contract::Retire;
use crate::sync::stat::{AtomicBool, AtomicU64, AtomicUsize};
use crate::sync::Ordering::Relaxed;

/// Objects per sealed batch. Each seal costs a locked push onto the map's
/// queue and a scan of the records, so a batch amortises them; a larger one
/// holds more garbage per party. Under loom every retirement seals, so the
/// models reach the sealed path with one entry.
pub(super) const BATCH: usize = if cfg!(loom) { 1 } else { 64 };

/// Adopted objects a holder frees per retirement ([`Bag::free_ready`]):
/// four, so that a batch adopted at a seal is freed within a quarter of
/// the [`BATCH`] retirements before the next seal, and a scan that adopts
/// several at once (with 4 threads on 2 cores, a scan often makes up for
/// seals whose scans were skipped) is worked off before the next. With
/// two, half the adoptions found the bag full (4 writers, 2 cores).
pub(super) const FREE_PER_RETIREMENT: usize = 4;

/// Empty batch buffers a bag keeps for its next seals ([`Bag::adopt`]):
/// a scan may adopt a few batches at once (those of seals whose scan was
/// skipped), and the next seals use their buffers.
const SPARES: usize = 2;

/// Adopted objects a bag holds at most ([`Bag::adopt`]): four batches,
/// what one scan frees at most (`MAX_FREE_PER_SCAN`). A scan with an
/// adopter takes no more freeable batches than the bag has room for
/// ([`Bag::room`]); the rest stay held for a later scan.
pub(super) const READY_MAX: usize = 4 * BATCH;

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

/// A sealed bag: retired as one object; freed as one, or adopted by a
/// record's bag and freed a few objects at a time ([`Bag::adopt`]).
#[derive(Default)]
pub(super) struct Batch(Vec<Deferred>);

#[cfg(test)]
impl Batch {
    /// A batch of `objects` (tests fill bags with it).
    pub(super) fn of(objects: Vec<Deferred>) -> Batch {
        Batch(objects)
    }
}

impl Batch {
    /// Objects in the batch.
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// Frees every object of the batch. If one object's free panics (a
    /// user's `Drop`), the rest are still freed as the panic unwinds (a
    /// second panic aborts, as for a slice's drop).
    ///
    /// # Safety
    ///
    /// No pin can reach any object of the batch, and their last accesses
    /// happen before this call.
    pub(super) unsafe fn free(self) {
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
        let mut objects = self.0.into_iter();
        let rest = Rest(&mut objects);
        for d in rest.0.by_ref() {
            // SAFETY: the caller's: every object of the batch is retired
            // once and unreachable; each `Deferred` is taken from the
            // iterator once, and `self` is consumed.
            unsafe { (d.free)(d.ptr) };
        }
    }
}

/// What a bag gave up ([`Bag::surrender`]): its objects, and its buffers,
/// freed when this drops.
pub(super) struct Surrendered {
    objects: Vec<Deferred>,
    _buffers: (Vec<Deferred>, Vec<Vec<Deferred>>),
}

impl Surrendered {
    /// Objects given up.
    pub(super) fn len(&self) -> usize {
        self.objects.len()
    }

    /// The objects, as batches of at most [`BATCH`] (the bag's unsealed
    /// and adopted objects together are up to `BATCH - 1 + READY_MAX`; a
    /// scan with an adopter takes no batch larger than the adopter's room,
    /// at most `READY_MAX`, so a larger one would stop every such scan:
    /// found by review). The buffers are freed here.
    pub(super) fn into_batches(self) -> impl Iterator<Item = Batch> {
        let mut objects = self.objects;
        std::iter::from_fn(move || {
            if objects.is_empty() {
                return None;
            }
            let rest = objects.split_off(objects.len().saturating_sub(BATCH));
            Some(Batch(rest))
        })
    }
}

/// A record's unsealed retirements in one map, and the freeable objects its
/// holder frees a few at a time.
pub(super) struct Bag {
    /// Touched only by the record's holder, or under `&mut` (module docs).
    items: UnsafeCell<Vec<Deferred>>,
    /// Objects no pin can reach, adopted from batches the holder's own
    /// scans found freeable ([`adopt`](Self::adopt)), freed
    /// [`FREE_PER_RETIREMENT`] per retirement of the holder, and a batch
    /// per pacing tick once it stopped retiring
    /// ([`free_ready`](Self::free_ready)). The same access rules as `items`.
    ready: UnsafeCell<Vec<Deferred>>,
    /// Empty buffers for the next seals' fresh bags (at most [`SPARES`]):
    /// the buffers of batches the holder adopted, so that a writer that
    /// seals and adopts at the same pace allocates no buffer (a fresh one
    /// per seal, freed on whichever thread freed the batch, took glibc's
    /// slow paths and, with 4 threads on 2 cores, page faults in one seal
    /// in 5). The same access rules as `items`.
    spares: UnsafeCell<Vec<Vec<Deferred>>>,
    /// `items.len() + ready.len()`, for the pending-garbage gauge (a
    /// statistic: written by the holder with a plain store, read by
    /// anyone).
    len: AtomicUsize,
    /// The map's seal count when the record's holder last had a pacing
    /// tick in this map (`TableReclaim::writers_idle`): a heuristic, read
    /// and written by the holder alone, Relaxed.
    pub(super) seals_seen: AtomicUsize,
    /// The holder's pacing ticks in this map in a row that saw no new seal
    /// (`TableReclaim::writers_idle`); the same heuristic, the same rules.
    pub(super) idle_ticks: AtomicUsize,
    /// Whether the holder retired into this bag since it last asked
    /// (`TableReclaim::tidy_if_done`, on pacing ticks and on the
    /// unpin of a guard that retired a table: roughly, since its last
    /// tick); the same rules.
    retiring: AtomicBool,
    /// When a pacing tick of the holder first saw unsealed objects in the
    /// bag since it was last emptied, on the pacing clock; 0 for not yet
    /// ([`unsealed_waited`](Self::unsealed_waited)). The same rules as
    /// `seals_seen`.
    unsealed_since: AtomicU64,
    /// Whether the bag may hold allocated buffers while it holds no
    /// object: set where a bag is emptied and keeps a buffer (a seal, a
    /// partial seal) and where it reserves one (an adoption), cleared by
    /// [`surrender`](Self::surrender); a bag with objects holds its
    /// buffer anyway. So that a sweep of bags left behind (`orphans.rs`)
    /// also frees an empty bag's buffers (up to 7 KiB: a batch's, the
    /// adopted objects' and two spares), and only then borrows a record
    /// whose bag holds nothing. The holder's, Relaxed; read by a sweep
    /// after the give-back's Release, as the gauge.
    buffers: AtomicBool,
}

// SAFETY: a bag holds retired objects that may be freed on any thread (the
// reclamation contract, rule 3): whichever thread holds the record frees
// the adopted ones. `items`, `ready` and `spares` are touched only by the
// holder of the bag's record or under `&mut` (module docs), never by two
// threads at once.
unsafe impl Send for Bag {}
// SAFETY: as above.
unsafe impl Sync for Bag {}

impl Bag {
    fn new() -> Bag {
        Bag {
            // Allocated on the first push: most records never retire in
            // most maps.
            items: UnsafeCell::new(Vec::new()),
            ready: UnsafeCell::new(Vec::new()),
            spares: UnsafeCell::new(Vec::new()),
            len: AtomicUsize::new(0),
            seals_seen: AtomicUsize::new(0),
            idle_ticks: AtomicUsize::new(0),
            retiring: AtomicBool::new(false),
            unsealed_since: AtomicU64::new(0),
            buffers: AtomicBool::new(false),
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
        // Relaxed: a heuristic, the holder's alone (`retiring`).
        self.retiring.store(true, Relaxed);
        let n = items.len();
        let batch = if n < BATCH {
            None
        } else {
            // SAFETY: as above.
            let fresh =
                unsafe { (*self.spares.get()).pop() }.unwrap_or_else(|| Vec::with_capacity(BATCH));
            // Relaxed: the holder's heuristic (`unsealed_waited`), and a
            // hint for sweeps (`buffers`).
            self.unsealed_since.store(0, Relaxed);
            self.buffers.store(true, Relaxed);
            Some(Batch(std::mem::replace(items, fresh)))
        };
        // SAFETY: as above.
        unsafe { self.update_len() };
        batch
    }

    /// Empties the bag, however few objects it holds, and returns them
    /// sealed; `None` if it holds none.
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push).
    pub(super) unsafe fn take_unsealed(&self) -> Option<Batch> {
        // SAFETY: the caller holds the record (as in `push`).
        let items = unsafe { &mut *self.items.get() };
        if items.is_empty() {
            return None;
        }
        // A vector of the objects' own length: the bag keeps its buffer
        // (of `BATCH`) for its next retirements, so that a partial seal
        // (a flush, a holder that stopped retiring) allocates what it
        // seals, not a full batch's buffer that nobody gives back (a batch
        // freed, not adopted, frees its buffer on the freeing thread).
        let mut sealed = Vec::with_capacity(items.len());
        sealed.append(items);
        let batch = Batch(sealed);
        // Relaxed: the holder's heuristic (`unsealed_waited`), and a hint
        // for sweeps (`buffers`).
        self.unsealed_since.store(0, Relaxed);
        self.buffers.store(true, Relaxed);
        // SAFETY: as above.
        unsafe { self.update_len() };
        Some(batch)
    }

    /// Whether the bag's unsealed objects have waited `age` nanoseconds
    /// since a pacing tick of the holder first saw them (this call, at the
    /// ticks: the first that sees them starts the wait). False while the
    /// bag has none. Under loom, which has no time: whether it has any.
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push).
    pub(super) unsafe fn unsealed_waited(&self, age: u64) -> bool {
        // SAFETY: the caller holds the record; a short borrow.
        if unsafe { (*self.items.get()).is_empty() } {
            return false;
        }
        if cfg!(loom) {
            return true;
        }
        // Relaxed: the holder's heuristic.
        let since = self.unsealed_since.load(Relaxed);
        let now = super::pacing::now();
        if since == 0 {
            self.unsealed_since.store(now.max(1), Relaxed);
            return false;
        }
        now.saturating_sub(since) >= age
    }

    /// Stores the gauge.
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push).
    #[inline]
    unsafe fn update_len(&self) {
        // SAFETY: the caller holds the record; short borrows.
        let n = unsafe { (*self.items.get()).len() + (*self.ready.get()).len() };
        // Relaxed: a gauge.
        self.len.store(n, Relaxed);
    }

    /// Takes the objects of `batch` to free them [`FREE_PER_RETIREMENT`]
    /// per retirement, so that no single write frees a whole batch (0.3–1
    /// µs here, more on a loaded machine: one write in 64, at the p99 of
    /// the writes of a steady load). Gives the batch back if it would take
    /// the bag past [`READY_MAX`] objects (the scan checked the room first;
    /// a user's `Drop` run by a free before this one may have retired into
    /// the bag since): the caller frees it now.
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push); and no pin can reach any object of the
    /// batch.
    pub(super) unsafe fn adopt(&self, batch: Batch) -> Option<Batch> {
        // SAFETY: the caller holds the record; the borrow ends before
        // anything else is called.
        let (ready, spares) = unsafe { (&mut *self.ready.get(), &mut *self.spares.get()) };
        if ready.len() + batch.len() > READY_MAX {
            return Some(batch);
        }
        let mut buffer = batch.0;
        // Sized once for the most it holds, so that no adoption reallocates.
        ready.reserve_exact(READY_MAX - ready.len());
        // Relaxed: a hint for sweeps (`buffers`).
        self.buffers.store(true, Relaxed);
        ready.append(&mut buffer);
        // An empty buffer for a later seal.
        if buffer.capacity() >= BATCH && spares.len() < SPARES {
            spares.push(buffer);
        }
        // SAFETY: as above.
        unsafe { self.update_len() };
        None
    }

    /// Frees up to `n` adopted objects. A free that panics (a user's
    /// `Drop`) propagates; the objects after it stay adopted.
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push).
    #[inline]
    pub(super) unsafe fn free_ready(&self, n: usize) {
        // The destructors run here may write this map: not a free of theirs
        // (`guard::frees_allowed`).
        let _freeing = super::guard::Freeing::enter();
        for _ in 0..n {
            // SAFETY: the caller holds the record; the borrow ends before
            // the free, which may run a user's `Drop` that retires into
            // this bag again.
            let Some(d) = (unsafe { (*self.ready.get()).pop() }) else {
                break;
            };
            // SAFETY: as above.
            unsafe { self.update_len() };
            // SAFETY: adopted objects are unreachable (`adopt`); each is
            // popped, so freed, once.
            unsafe { (d.free)(d.ptr) };
        }
    }

    /// Whether the holder retired into this bag since the last call (which
    /// this call's answer covers).
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push).
    #[inline]
    pub(super) unsafe fn retired_since_asked(&self) -> bool {
        // Relaxed: a heuristic, the holder's alone (`retiring`).
        let retired = self.retiring.load(Relaxed);
        if retired {
            self.retiring.store(false, Relaxed);
        }
        retired
    }

    /// How many more objects [`adopt`](Self::adopt) would take.
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push).
    #[inline]
    pub(super) unsafe fn room(&self) -> usize {
        // SAFETY: the caller holds the record; a short borrow.
        READY_MAX.saturating_sub(unsafe { (*self.ready.get()).len() })
    }

    /// Whether the bag holds adopted objects.
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push).
    #[inline]
    pub(super) unsafe fn has_ready(&self) -> bool {
        // SAFETY: the caller holds the record; a short borrow.
        unsafe { !(*self.ready.get()).is_empty() }
    }

    /// Objects in the bag (a gauge; after an Acquire that follows the
    /// holder's give-back of the record, exact: `orphans.rs`).
    pub(super) fn len(&self) -> usize {
        self.len.load(Relaxed)
    }

    /// Whether the bag holds objects, or may hold buffers (`buffers`): what
    /// a sweep of bags left behind takes over (`orphans.rs`).
    pub(super) fn worth_a_sweep(&self) -> bool {
        // Relaxed: as the gauge (`len`).
        self.len() > 0 || self.buffers.load(Relaxed)
    }

    /// The capacity of the bag's buffers, in objects (tests).
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push).
    #[cfg(test)]
    pub(super) unsafe fn capacity(&self) -> usize {
        // SAFETY: the caller holds the record, or no holder is active.
        unsafe {
            (*self.items.get()).capacity()
                + (*self.ready.get()).capacity()
                + (*self.spares.get())
                    .iter()
                    .map(Vec::capacity)
                    .sum::<usize>()
        }
    }

    /// Empties the bag for good: its unsealed and its adopted objects, and
    /// its buffers, so that it is as a bag never used. For a bag whose
    /// last holder gave its record back (`orphans.rs`): each unsealed
    /// object was retired once and unlinked before its push, and each
    /// adopted one was found unreachable, so both may be queued as sealed
    /// batches are (adopted objects then wait for a stamp they do not
    /// need: a delay, never an early free). The buffers are freed when
    /// the [`Surrendered`] drops, after the caller gave the record back.
    ///
    /// # Safety
    ///
    /// As for [`push`](Self::push).
    pub(super) unsafe fn surrender(&self) -> Surrendered {
        // SAFETY: the caller holds the record; the borrows end before
        // anything else is called, and nothing here runs a user's code.
        let (items, ready, spares) = unsafe {
            (
                &mut *self.items.get(),
                &mut *self.ready.get(),
                &mut *self.spares.get(),
            )
        };
        let mut objects = std::mem::take(items);
        objects.append(ready);
        // Relaxed: the holder's heuristic (`unsealed_waited`), and the
        // sweeps' hint (`buffers`): the buffers go below.
        self.unsealed_since.store(0, Relaxed);
        self.buffers.store(false, Relaxed);
        let buffers = (std::mem::take(ready), std::mem::take(spares));
        // Relaxed: a gauge, as in `update_len`.
        self.len.store(0, Relaxed);
        Surrendered {
            objects,
            _buffers: buffers,
        }
    }
}

/// One map's bags, by record index (a [`PerRecord`] directory, whose
/// segments are allocated when a record of their range first retires in
/// this map: a map that never retires an entry, a `WordMap`, allocates
/// nothing). Each bag is cache-padded: its holder writes it on every
/// retirement.
pub(super) struct Bags(PerRecord<CachePadded<Bag>>);

impl Bags {
    pub(super) fn new() -> Bags {
        Bags(PerRecord::new(|| CachePadded::new(Bag::new())))
    }

    /// The bag of record `index`.
    ///
    /// (Safe: getting the bag touches no contents; pushing onto it is
    /// [`Bag::push`], whose caller must hold the record.)
    #[inline]
    pub(super) fn get(&self, index: usize) -> &Bag {
        self.0.get(index)
    }

    /// The bag of record `index` if its segment is allocated (a sweep
    /// allocates nothing: `orphans.rs`).
    #[inline]
    pub(super) fn get_installed(&self, index: usize) -> Option<&Bag> {
        self.0.get_installed(index).map(|b| &**b)
    }

    /// Whether any bag is allocated (a record retired into this map; never
    /// in a `WordMap`): one load.
    #[inline]
    pub(super) fn any(&self) -> bool {
        self.0.installed() > 0
    }

    /// The lowest index from `index` on whose bag is allocated, if any (a
    /// bag allocated meanwhile may be missed).
    #[inline]
    pub(super) fn next_installed(&self, index: usize) -> Option<usize> {
        self.0.next_installed(index)
    }

    /// Objects in every bag (a gauge: each bag's own count, read Relaxed).
    pub(super) fn pending(&self) -> usize {
        self.0.each().map(|b| b.len()).sum()
    }

    /// Every bag's objects, for the map's drop (`&mut self`: no pin of the
    /// map is left, so no holder is using a bag).
    pub(super) fn drain_mut(&mut self) -> Vec<Batch> {
        self.0
            .each()
            // SAFETY: `&mut self`: no holder can be touching the bag.
            .flat_map(|bag| unsafe { bag.surrender() }.into_batches())
            .collect()
    }
}
