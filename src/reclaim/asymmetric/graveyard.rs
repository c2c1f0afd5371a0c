//! Under loom: where an execution's retired memory waits for the next one.
//!
//! Under loom a domain lives for one execution of a model, and a user's
//! loom run may execute a model hundreds of thousands of times: nothing an
//! execution allocates may outlive it for long. What an execution retires
//! (its records, when its domain drops; `WordMap`'s tables, when they are
//! reclaimed) goes to this per-OS-thread graveyard, and the next
//! execution's domain frees it. Not earlier: loom drops the main thread's
//! thread-locals *after* the execution's statics, and a joined thread may
//! finish after them too; and a table "freed" by the reclaimer must stay
//! readable so that loom, not undefined behaviour, reports a late access
//! in a broken model. A thread's record cache (`guard.rs`, `Local`) that
//! drops after its domain does not touch its record at all.
//!
//! (Reached from outside as `crate::reclaim::loom_graveyard`.)

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

/// Ids are unique in the process.
static NEXT: AtomicU64 = AtomicU64::new(1);

std::thread_local! {
    /// The id of the domain alive now on this OS thread (0: none), and
    /// what ended executions left. Per OS thread: loom runs a model's
    /// executions one after another on the thread that called it (its
    /// model threads are coroutines there), while the test harness may
    /// run several models at once on other threads. The graveyard's
    /// remains are freed when the OS thread exits, at the latest.
    static LIVE: Cell<u64> = const { Cell::new(0) };
    static GRAVEYARD: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

/// A new domain's id, now the live one; frees what the executions
/// before it left.
pub(super) fn open() -> u64 {
    // Dropped outside the borrow: a drop never re-enters the graveyard,
    // but the order of two thread-local accesses stays obvious.
    let dead = GRAVEYARD.with(|g| std::mem::take(&mut *g.borrow_mut()));
    drop(dead);
    // Any ordering would do: only the ids' uniqueness matters, which the
    // RMW gives; SeqCst because this runs once per execution.
    let id = NEXT.fetch_add(1, SeqCst);
    LIVE.with(|l| l.set(id));
    id
}

/// Whether the domain `id` is still alive.
pub(super) fn alive(id: u64) -> bool {
    current() == id
}

/// The id of the domain alive now (0 once the thread-local is gone).
pub(super) fn current() -> u64 {
    LIVE.try_with(Cell::get).unwrap_or(0)
}

/// The domain `id` ends: it is no longer the live one.
pub(super) fn close(id: u64) {
    let _ = LIVE.try_with(|l| {
        if l.get() == id {
            l.set(0);
        }
    });
}

/// Keeps `remains` until the next execution starts (or, if the OS
/// thread is exiting and the graveyard is gone, drops it at once:
/// nothing of the execution runs on this thread any more).
pub(crate) fn bury(remains: Box<dyn Any>) {
    // On failure `remains` was moved into the closure and is dropped
    // with it.
    let _ = GRAVEYARD.try_with(|g| g.borrow_mut().push(remains));
}
