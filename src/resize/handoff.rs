//! Retired tables' memory handed to resize helpers, to give back to the
//! kernel in steps.
//!
//! A freed table's mapping goes back with `munmap`, which on Linux holds the
//! process's memory-map lock for writing while it frees the pages: 60–80 µs
//! a MiB on the machine of docs/benchmarks.md, 5 ms for a 64 MiB table.
//! Whoever frees the table pays that (a writer whose pacing tick found it
//! freeable), and so does any other thread that takes a page fault
//! meanwhile (a `HashMap` writer touching fresh entry memory): the fault
//! waits for the lock. Unmapping a MiB at a time bounds both waits, but
//! in writers' operations it only spread the cost over more of them
//! (docs/benchmarks.md: tried and not taken).
//!
//! With a resize helper registered anywhere in the process
//! (`assist.rs`), a mapped table's array is not unmapped by whoever frees
//! it: the mapping goes on a queue, and helpers unmap it a step
//! ([`STEP_BYTES`]) per [`ResizeHelper::step`](crate::ResizeHelper::step)
//! that has nothing else to do. The queue is bounded ([`MAX_QUEUED`]
//! mappings, [`MAX_QUEUED_BYTES`] in all; past either, the freer unmaps as
//! before), and it is used only while helpers step: a table is queued only
//! if some helper stepped within the last [`STALE`], and a free that finds
//! no helper stepped for that long unmaps what the queue holds as well as
//! its own table (a helper that stopped stepping, or that was forgotten
//! with `mem::forget` and stays registered for good, would otherwise hold
//! back up to the queue's bound of every map's retired tables, for the
//! process's life: found by review). The last helper to leave unmaps what
//! is left. Any helper
//! drains any map's tables: the queue is the process's, like the
//! memory-map lock it is about (a helper registered with one map also
//! takes the unmapping off other maps' threads).
//!
//! The queue is a mutex around a short list: a freer or a helper holds it
//! for a push or a pop, never across an `munmap`. A freer only tries it:
//! held by another thread, the freer unmaps the table itself, so no map
//! operation waits for the lock, but one whose table or entry-region
//! mapping the system refused: it takes the lock to unmap all that is
//! queued before it tries again ([`release_queued`]; an entry region's
//! refill does so holding the entry allocator's lock, whose other takers
//! wait the while, on a path that otherwise ends the process). Frees are once per table retirement, rare
//! next to operations, and with no helper in the process a free reads one
//! counter and does not take the lock.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;

use super::memory::{map, STEP_BYTES};

/// The most mappings the queue holds; a table freed past it is unmapped
/// by its freer. A growth retires one table at a time (a `WordMap` table's
/// slots and its top-byte array: two mappings), each freed once readers
/// moved on: a helper that keeps up holds one retirement's.
const MAX_QUEUED: usize = 4;

/// The most bytes the queue holds: a helper that stops stepping keeps at
/// most this much of retired tables mapped, until it drops.
const MAX_QUEUED_BYTES: usize = 512 << 20;

/// How long after the helpers' last step the queue still takes tables. A
/// running helper ([`ResizeHelper::run`](crate::ResizeHelper::run)) steps
/// at least every 50 ms, parked, idle or migrating.
const STALE: Duration = Duration::from_secs(1);

/// A step stamp that no helper made: `Handoff::stepped` until the first.
const NEVER: u64 = 0;

/// The helpers' clock, in nanoseconds: the crate's ([`crate::clock`]) plus
/// twice [`STALE`], so that a step stamped [`NEVER`] or 1 (tests: "long
/// ago") is always stale.
fn clock() -> u64 {
    crate::clock::now().saturating_add(2 * STALE.as_nanos() as u64)
}

/// The process's queue ([`Handoff`]).
static HANDOFF: Handoff = Handoff::new();

/// Registered helpers and the mappings they are to unmap.
struct Queue {
    helpers: usize,
    /// `(address, bytes)` of each mapping, page-aligned; unmapped from the
    /// front, a step at a time.
    mappings: Vec<(usize, usize)>,
    /// Their bytes, together.
    bytes: usize,
}

/// Helpers and the mappings queued for them: one per process
/// ([`HANDOFF`]); tests make their own.
struct Handoff {
    /// `helpers` of `queue`, readable without the lock: a free with no
    /// helper anywhere unmaps at once without taking it. Relaxed: a stale
    /// non-zero only sends the free to the lock, which decides; a stale
    /// zero unmaps now, as with no helper.
    helpers: AtomicUsize,
    /// When a helper last stepped ([`helper_stepped`]: every step, whatever
    /// it found to do), by [`clock`]; [`NEVER`] until one has. Relaxed: a stamp a
    /// little stale only sends one table the other way.
    stepped: AtomicU64,
    queue: Mutex<Queue>,
}

impl Handoff {
    const fn new() -> Handoff {
        Handoff {
            helpers: AtomicUsize::new(0),
            stepped: AtomicU64::new(NEVER),
            queue: Mutex::new(Queue {
                helpers: 0,
                mappings: Vec::new(),
                bytes: 0,
            }),
        }
    }

    /// The queue, whatever a panic elsewhere left (nothing panics while
    /// holding it but an allocation failure in a push, and its state is
    /// valid after any push or pop).
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`unmap_table`]'s work on this queue.
    ///
    /// # Safety
    ///
    /// As [`unmap_table`].
    unsafe fn unmap_table(&self, ptr: *mut u8, size: usize) {
        if size > STEP_BYTES && self.helpers.load(Relaxed) > 0 {
            // Never waits: a free runs inside some thread's map operation
            // (a reclaimer scan), and the queue's holder may be a helper
            // that was preempted holding it. Contended, the table is
            // unmapped here, as with no helper (found by review).
            let mut q = match self.queue.try_lock() {
                Ok(q) => q,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    // SAFETY: the caller's.
                    unsafe { map::unmap(ptr, size) };
                    return;
                }
            };
            let stepping = self.stepping();
            if q.helpers > 0
                && stepping
                && q.mappings.len() < MAX_QUEUED
                && q.bytes.saturating_add(size) <= MAX_QUEUED_BYTES
            {
                q.mappings.push((ptr as usize, size));
                q.bytes += size;
                return;
            }
            if !stepping && !q.mappings.is_empty() {
                // No helper steps: what they left queued goes back here,
                // with this table, as it would with no helper at all.
                q.bytes = 0;
                let left = std::mem::take(&mut q.mappings);
                drop(q);
                // SAFETY: queued by this function, whose caller gave each
                // mapping up; taken off the queue, so unmapped once, here.
                unsafe { unmap_all(left) };
            }
        }
        // SAFETY: the caller's.
        unsafe { map::unmap(ptr, size) };
    }

    /// A helper stepped, now.
    fn stamp_step(&self) {
        self.stepped.store(clock(), Relaxed);
    }

    /// Whether a helper stepped within the last [`STALE`].
    fn stepping(&self) -> bool {
        let at = self.stepped.load(Relaxed);
        at != NEVER && clock().saturating_sub(at) < STALE.as_nanos() as u64
    }

    fn joined(&self) {
        let mut q = self.lock();
        q.helpers += 1;
        self.helpers.store(q.helpers, Relaxed);
    }

    fn left(&self) {
        let left = {
            let mut q = self.lock();
            q.helpers -= 1;
            self.helpers.store(q.helpers, Relaxed);
            if q.helpers > 0 {
                return;
            }
            q.bytes = 0;
            std::mem::take(&mut q.mappings)
        };
        // SAFETY: queued by `unmap_table`, whose caller gave each mapping
        // up; taken off the queue, so unmapped once, here.
        unsafe { unmap_all(left) };
    }

    /// [`release_queued`]'s work on this queue.
    fn release_all(&self) -> bool {
        let left = {
            let mut q = self.lock();
            q.bytes = 0;
            std::mem::take(&mut q.mappings)
        };
        let any = !left.is_empty();
        // SAFETY: queued by `unmap_table`, whose caller gave each mapping
        // up; taken off the queue, so unmapped once, here.
        unsafe { unmap_all(left) };
        any
    }

    fn step(&self) -> bool {
        let (at, size) = {
            let mut q = self.lock();
            let (at, size) = match q.mappings.first_mut() {
                None => return false,
                Some(m) if m.1 > STEP_BYTES => {
                    // The step's part leaves the queue; the rest stays
                    // first.
                    let step = (m.0, STEP_BYTES);
                    *m = (m.0 + STEP_BYTES, m.1 - STEP_BYTES);
                    step
                }
                Some(_) => q.mappings.remove(0),
            };
            q.bytes -= size;
            (at, size)
        };
        // SAFETY: `[at, at + size)` is the front of a queued mapping, taken
        // off the queue above (a page-aligned part: `STEP_BYTES` is a page
        // multiple), so unmapped once, here.
        unsafe { map::unmap(at as *mut u8, size) };
        true
    }
}

/// Unmaps each of `mappings`, `(address, bytes)`.
///
/// # Safety
///
/// Each is a whole mapping, or the rest of one past the steps already
/// unmapped, that was queued by [`Handoff::unmap_table`] and taken off the
/// queue by the caller: nobody else unmaps it.
unsafe fn unmap_all(mappings: Vec<(usize, usize)>) {
    for (at, size) in mappings {
        // SAFETY: the caller's.
        unsafe { map::unmap(at as *mut u8, size) };
    }
}

/// Gives a freed table's mapping of `size` bytes at `ptr` back to the
/// kernel: now, or, while a resize helper is registered and stepping and
/// the queue has room, by the helpers' steps.
///
/// # Safety
///
/// `[ptr, ptr + size)` is one mapping made by `map::map_table`, owned by
/// the caller and no longer used by anyone.
pub(crate) unsafe fn unmap_table(ptr: *mut u8, size: usize) {
    // SAFETY: the caller's.
    unsafe { HANDOFF.unmap_table(ptr, size) }
}

/// A resize helper steps (`ResizeHelper::step`, whatever it finds to do):
/// while helpers do, the queue takes tables.
pub(crate) fn helper_stepped() {
    HANDOFF.stamp_step();
}

/// Counts a resize helper in.
pub(crate) fn helper_joined() {
    HANDOFF.joined();
}

/// Counts a resize helper out; the last one unmaps whatever is queued.
pub(crate) fn helper_left() {
    HANDOFF.left();
}

/// Unmaps one step of the oldest queued mapping, if any; returns whether
/// there was one.
pub(crate) fn step() -> bool {
    HANDOFF.step()
}

/// Unmaps everything queued, now; returns whether there was anything. For
/// a mapping the system refused: the retired tables that helpers had not
/// yet given back may be what holds the room (found by an outside test
/// under an address-space limit: with a helper registered, a table the
/// size of one just dropped failed to map for up to 4 s, and an insert's
/// growth aborted where it succeeds with no helper).
pub(crate) fn release_queued() -> bool {
    HANDOFF.release_all()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn mapping(size: usize) -> *mut u8 {
        let at = map::map_table(size, false);
        assert!(!at.is_null());
        at
    }

    /// Gives `h` a fresh mapping of `size` bytes at `at` to unmap.
    fn give_up(h: &Handoff, at: *mut u8, size: usize) {
        // SAFETY: callers pass a fresh mapping of theirs (`mapping`), which
        // nothing uses, and give it up here.
        unsafe { h.unmap_table(at, size) };
    }

    /// With a helper registered, a large mapping waits on the queue and
    /// goes back a step per call; a small one is unmapped at once, and so
    /// is one with no helper, or past the bounds; the last helper out
    /// unmaps the rest. (A queue of the test's own: the process's is
    /// shared with other tests' helpers.)
    #[test]
    fn helpers_unmap_queued_tables_in_steps() {
        let h = Handoff::new();
        let size = 3 * STEP_BYTES + 4096;
        give_up(&h, mapping(size), size);
        assert!(h.lock().mappings.is_empty(), "queued with no helper");
        h.joined();
        give_up(&h, mapping(size), size);
        assert!(
            h.lock().mappings.is_empty(),
            "queued for a helper that never stepped"
        );
        h.stamp_step();
        give_up(&h, mapping(STEP_BYTES), STEP_BYTES);
        assert!(h.lock().mappings.is_empty(), "a small mapping queued");
        let at = mapping(size);
        give_up(&h, at, size);
        assert_eq!(h.lock().mappings, vec![(at as usize, size)]);
        assert_eq!(h.lock().bytes, size);
        for k in 1..=3 {
            assert!(h.step());
            let rest = (at as usize + k * STEP_BYTES, size - k * STEP_BYTES);
            assert_eq!(h.lock().mappings, vec![rest]);
        }
        assert!(h.step());
        assert!(!h.step());
        assert_eq!(h.lock().bytes, 0);
        // Bounded: four mappings queue, the fifth is unmapped by its freer.
        for _ in 0..5 {
            give_up(&h, mapping(size), size);
        }
        assert_eq!(h.lock().mappings.len(), MAX_QUEUED);
        h.joined();
        h.left();
        assert_eq!(h.lock().mappings.len(), MAX_QUEUED, "one helper is left");
        h.left();
        assert!(h.lock().mappings.is_empty() && h.lock().bytes == 0);
        assert_eq!(h.helpers.load(Relaxed), 0);
    }

    /// A queue of the test's own with a helper that just stepped, holding
    /// two mappings; and their size.
    fn two_queued() -> (Handoff, usize) {
        let h = Handoff::new();
        h.joined();
        let size = 2 * STEP_BYTES;
        for _ in 0..2 {
            // Stamped just before: the queue takes tables whatever stalls
            // the test (within the helpers' second, `STALE`).
            h.stamp_step();
            give_up(&h, mapping(size), size);
        }
        assert_eq!(h.lock().mappings.len(), 2);
        (h, size)
    }

    /// A mapping the system refused gives back what the queue holds
    /// (`memory::map_or_release`), however recently helpers stepped, and
    /// leaves the helpers registered: the queue empties, and takes tables
    /// again after.
    #[test]
    fn a_refused_mapping_releases_the_queue() {
        assert!(!Handoff::new().release_all(), "an empty queue released");
        let (h, size) = two_queued();
        assert!(h.release_all());
        assert!(h.lock().mappings.is_empty() && h.lock().bytes == 0);
        assert!(!h.release_all());
        h.stamp_step();
        give_up(&h, mapping(size), size);
        assert_eq!(
            h.lock().mappings.len(),
            1,
            "the queue no longer takes tables"
        );
        h.left();
        assert!(h.lock().mappings.is_empty());
    }

    /// The byte bound: a mapping that would take the queue past
    /// `MAX_QUEUED_BYTES` is unmapped by its freer.
    #[test]
    fn the_queue_holds_at_most_its_bytes() {
        let h = Handoff::new();
        h.joined();
        h.stamp_step();
        let big = MAX_QUEUED_BYTES / 2 + STEP_BYTES;
        give_up(&h, mapping(big), big);
        give_up(&h, mapping(big), big);
        assert_eq!(h.lock().mappings.len(), 1);
        h.left();
    }

    /// A helper that stops stepping (here: its last step over a second
    /// ago, as for one forgotten with `mem::forget`, which stays registered
    /// for good) holds nothing back: the next free unmaps the queue with
    /// its own table, and queues nothing more.
    #[test]
    fn a_helper_that_stopped_stepping_holds_nothing_back() {
        let (h, size) = two_queued();
        // Stepped last over a second ago (`clock` starts past 2 s).
        h.stepped.store(1, Relaxed);
        give_up(&h, mapping(size), size);
        assert!(h.lock().mappings.is_empty() && h.lock().bytes == 0);
        assert!(!h.step(), "nothing left to step over");
        // Stepping again, it queues again.
        h.stamp_step();
        give_up(&h, mapping(size), size);
        assert_eq!(h.lock().mappings.len(), 1);
        h.left();
        assert!(h.lock().mappings.is_empty());
    }
}
