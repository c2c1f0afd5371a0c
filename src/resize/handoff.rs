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
//! mappings; past it, the freer unmaps as before), so a helper that stops
//! stepping holds back at most that much memory, and the last helper to
//! leave unmaps what is left. Any helper drains any map's tables: the
//! queue is the process's, like the memory-map lock it is about.
//!
//! The queue is a mutex around a short list: a freer or a helper holds it
//! for a push or a pop, never across an `munmap`. Frees are once per
//! table retirement, rare next to operations, and a map without helpers
//! in the process takes the lock only to find that out.

use std::sync::{Mutex, MutexGuard, PoisonError};

use super::memory::{map, STEP_BYTES};

/// The most mappings the queue holds; a table freed past it is unmapped
/// by its freer. A growth retires one table at a time, each freed once
/// readers moved on: a helper that keeps up holds one or two.
const MAX_QUEUED: usize = 4;

/// Registered helpers and the mappings they are to unmap.
struct Queue {
    helpers: usize,
    /// `(address, bytes)` of each mapping, page-aligned; unmapped from the
    /// front, a step at a time.
    mappings: Vec<(usize, usize)>,
}

static QUEUE: Mutex<Queue> = Mutex::new(Queue {
    helpers: 0,
    mappings: Vec::new(),
});

/// The queue, whatever a panic elsewhere left (nothing panics while
/// holding it, and its state is valid after any push or pop).
fn queue() -> MutexGuard<'static, Queue> {
    QUEUE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Gives a freed table's mapping of `size` bytes at `ptr` back to the
/// kernel: now, or, while a resize helper is registered and the queue has
/// room, by the helpers' steps.
///
/// # Safety
///
/// `[ptr, ptr + size)` is one mapping made by `map::map_table`, owned by
/// the caller and no longer used by anyone.
pub(crate) unsafe fn unmap_table(ptr: *mut u8, size: usize) {
    if size > STEP_BYTES {
        let mut q = queue();
        if q.helpers > 0 && q.mappings.len() < MAX_QUEUED {
            q.mappings.push((ptr as usize, size));
            return;
        }
    }
    // SAFETY: the caller's.
    unsafe { map::unmap(ptr, size) };
}

/// Counts a resize helper in.
pub(crate) fn helper_joined() {
    queue().helpers += 1;
}

/// Counts a resize helper out; the last one unmaps whatever is queued.
pub(crate) fn helper_left() {
    let left = {
        let mut q = queue();
        q.helpers -= 1;
        if q.helpers > 0 {
            return;
        }
        std::mem::take(&mut q.mappings)
    };
    for (at, size) in left {
        // SAFETY: queued by `unmap_table`, whose caller gave the mapping
        // up; taken off the queue, so unmapped once, here.
        unsafe { map::unmap(at as *mut u8, size) };
    }
}

/// Unmaps one step of the oldest queued mapping, if any; returns whether
/// there was one.
pub(crate) fn step() -> bool {
    let (at, size) = {
        let mut q = queue();
        match q.mappings.first_mut() {
            None => return false,
            Some(m) if m.1 > STEP_BYTES => {
                // The step's part leaves the queue; the rest stays first.
                let step = (m.0, STEP_BYTES);
                *m = (m.0 + STEP_BYTES, m.1 - STEP_BYTES);
                step
            }
            Some(_) => q.mappings.remove(0),
        }
    };
    // SAFETY: `[at, at + size)` is the front of a queued mapping, taken off
    // the queue above (a page-aligned part: `STEP_BYTES` is a page
    // multiple), so unmapped once, here.
    unsafe { map::unmap(at as *mut u8, size) };
    true
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// With a helper registered, a large mapping waits on the queue and
    /// goes back a step per call; the last helper out unmaps the rest; a
    /// small one, or one past the bound, is unmapped at once. (The queue is
    /// the process's: other tests' helpers may come and go, so this checks
    /// only what it queued itself, by address.)
    #[test]
    fn helpers_unmap_queued_tables_in_steps() {
        let queued = |at: usize| {
            queue()
                .mappings
                .iter()
                .any(|m| m.0 >= at && m.0 < at + 4 * STEP_BYTES)
        };
        helper_joined();
        let size = 3 * STEP_BYTES + 4096;
        let at = map::map_table(size, false);
        assert!(!at.is_null());
        // SAFETY: our fresh mapping, given up.
        unsafe { unmap_table(at, size) };
        assert!(queued(at as usize));
        let mut steps = 0;
        while queued(at as usize) {
            assert!(step());
            steps += 1;
            assert!(steps <= 64, "never drained");
        }
        helper_left();
    }
}
