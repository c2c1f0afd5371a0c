//! Pins and guards: a thread's cached record ([`Local`]), the thread-bound
//! [`TableGuard`] and the movable [`TableOwnedGuard`].
//!
//! The pin's fast path is here: a thread-local access, a count of the
//! thread's live guards kept in its record, and for the first of them the
//! announcement (`Domain::announce`: a load of the epoch, a store to the
//! thread's record, the light barrier). A thread's guards share that
//! announcement (a closure run by one map operation may call another map,
//! and a user may hold several `pin()`s and drop them in any order); the
//! last one to drop withdraws it with one `Release` store of "not pinned".
//! Every guard's drop then calls `TableReclaim::after_unpin` (a pacing
//! tick, or a table retired), and only after it gives back a record it
//! holds alone (an owned guard's, or one whose thread-local is gone):
//! `after_unpin` may free what the record's bag adopted. An owned guard's
//! record goes back to the thread it drops on, which keeps one such
//! record, still taken, as its *spare* for its next owned guard
//! ([`release_owned`]; given back when the thread exits).

use std::cell::Cell;
use std::marker::PhantomData;

#[cfg(loom)]
use super::graveyard;
use super::registry::{Record, GLOBAL};
use super::TableReclaim;
use crate::reclaim::contract::{acquire_load, Reclaim, ReclaimGuard, Retire};
use crate::sync::{AtomicPtr, Ordering::Release};

// The backend's trait lives here, with the guards its pins make, so that
// `mod.rs` (retire, scan) never names a guard and this file depends on it,
// not the reverse.
impl Reclaim for TableReclaim {
    type Guard<'a> = TableGuard<'a>;
    type OwnedGuard<'a> = TableOwnedGuard<'a>;

    fn new() -> Self {
        TableReclaim::create()
    }

    /// Pins the current thread, through its thread-local record.
    #[inline]
    fn pin(&self) -> TableGuard<'_> {
        TableGuard::pin(self)
    }

    /// Pins with a record of the guard's own, which may move between
    /// threads.
    fn pin_owned(&self) -> TableOwnedGuard<'_> {
        TableOwnedGuard::pin(self)
    }

    /// Objects retired and not yet freed.
    fn pending(&self) -> usize {
        self.pending_objects()
    }

    /// A step of the tables being freed in steps (`draining.rs`); else, if
    /// retired tables wait, a scan for them (which frees a freeable one,
    /// or its first step). True if either did something (not if another
    /// thread was stepping).
    fn free_step(&self) -> bool {
        // A resize helper stepped from a destructor (or while a panic
        // unwinds) frees nothing, as any write there (`frees_allowed`).
        if !frees_allowed() {
            return false;
        }
        if self.step_draining() {
            return true;
        }
        self.scan_for_tables()
    }

    /// A scan for retired tables, then every table being freed in steps
    /// freed whole (`draining.rs`), while no other thread steps them.
    fn free_steps_now(&self) {
        if !frees_allowed() {
            return;
        }
        self.scan_for_tables();
        self.free_draining_whole();
    }
}

/// A thread's record (in [`GLOBAL`]) and pacing tick. The pin depth is in
/// the record ([`Record::enter`]).
struct Local {
    record: Cell<Option<&'static Record>>,
    /// Under loom: the domain `record` belongs to (`graveyard`).
    #[cfg(loom)]
    domain: Cell<u64>,
    /// Unpins on this thread until the next pacing scan: every
    /// [`SCAN_PERIOD`]th unpin scans the map it unpins, if that map has
    /// objects queued (a countdown: a decrement and a test per unpin).
    tick: Cell<u32>,
    /// Writes on this thread until its next step of the tables its maps
    /// free in steps ([`STEP_PERIOD`]; a countdown, as `tick`).
    writes: Cell<u32>,
    /// How many [`Freeing`] scopes this thread is in (running retired
    /// objects' destructors): from [`MAX_FREEING`] on, its writes retire
    /// without freeing.
    freeing: Cell<u32>,
    /// The record of the last owned guard dropped on this thread, kept
    /// (still taken) for the next owned guard pinned here: most owned
    /// guards live and die on one thread, one at a time, and then reuse a
    /// record with no atomic read-modify-write (a claim from the registry
    /// costs two: `registry.rs`). Given back when the thread exits. (Not
    /// under loom: a hand-over within one thread, with nothing to explore,
    /// and the models' claims stay as they were.)
    #[cfg(not(loom))]
    spare: Cell<Option<&'static Record>>,
}

/// A record for an owned guard: this thread's spare, or a claim.
#[inline]
fn claim_owned() -> &'static Record {
    #[cfg(not(loom))]
    if let Ok(Some(r)) = LOCAL.try_with(|l| l.spare.take()) {
        return r;
    }
    GLOBAL.claim()
}

/// Gives an owned guard's record back: kept as this thread's spare (and
/// its locals alive), else to the registry. Of the record and a spare
/// already kept, the one of lower index stays and the other goes back:
/// a thread that drops a spike of owned guards from the last keeps the
/// spike's lowest record, not its highest, so its later owned guards
/// keep indices (and every map's per-record values) dense (found by
/// review: `tests/records.rs`).
#[inline]
fn release_owned(r: &'static Record) {
    #[cfg(not(loom))]
    let r = match LOCAL.try_with(|l| match l.spare.get() {
        None => {
            l.spare.set(Some(r));
            None
        }
        Some(kept) if r.index < kept.index => {
            l.spare.set(Some(r));
            Some(kept)
        }
        Some(_) => Some(r),
    }) {
        Ok(None) => return,
        Ok(Some(back)) => back,
        Err(_) => r,
    };
    GLOBAL.release(r);
}

/// Unpins between two pacing scans of one thread. Prime, so that a thread
/// that cycles through a few maps in a fixed order scans each of them.
const SCAN_PERIOD: u32 = 61;

/// Writes between two steps of the tables a map frees in steps
/// (`draining.rs`), on one thread. Prime, like [`SCAN_PERIOD`], so that a
/// thread that writes a few maps in turn steps each of them. A step frees
/// `TABLE_STEP` entries, so a thread frees about one entry per write
/// while a table drains: twice
/// what a map that removes a key in every other write owes, in steps
/// short enough to stay out of the writes' p99.9 (docs/benchmarks.md,
/// "Tables freed in steps"). Writes, not reads: a writer's entry cache
/// takes the freed blocks back for its next inserts, where a reader's
/// would hand them to the spans (reads step only once writes stopped:
/// `Draining::tick`).
const STEP_PERIOD: u32 = 17;

/// Whether this thread's write countdown came up ([`STEP_PERIOD`]).
#[inline]
pub(super) fn write_step_due() -> bool {
    LOCAL
        .try_with(|l| {
            let w = l.writes.get();
            l.writes.set(if w == 0 { STEP_PERIOD - 1 } else { w - 1 });
            w == 0
        })
        .unwrap_or(false)
}

impl Drop for Local {
    fn drop(&mut self) {
        // A loom model that failed drops its thread-locals while unwinding,
        // outside the execution, where loom atomics cannot be touched; the
        // record dies with the execution anyway.
        if crate::sync::loom_unwinding() {
            return;
        }
        // Under loom a thread's locals may drop after the execution's
        // domain, which freed its records (`graveyard`).
        #[cfg(loom)]
        if !graveyard::alive(self.domain.get()) {
            return;
        }
        // A guard still alive (depth > 0: one kept in another thread-local
        // that drops after this one) releases the record when the last such
        // guard drops (`TableGuard::drop`).
        if let Some(r) = self.record.get() {
            if r.depth() == 0 {
                GLOBAL.release(r);
            }
        }
        #[cfg(not(loom))]
        if let Some(r) = self.spare.take() {
            GLOBAL.release(r);
        }
    }
}

#[cfg(not(loom))]
thread_local! {
    static LOCAL: Local = const {
        Local { record: Cell::new(None), tick: Cell::new(0), writes: Cell::new(0), freeing: Cell::new(0), spare: Cell::new(None) }
    };
}

#[cfg(loom)]
loom::thread_local! {
    static LOCAL: Local = Local { record: Cell::new(None), domain: Cell::new(0), tick: Cell::new(0), writes: Cell::new(0), freeing: Cell::new(0) };
}

/// How a [`TableGuard`] holds its pin.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pin {
    /// On the thread's record, shared by all of the thread's guards (pins
    /// nest, and guards may drop in any order: the record counts them).
    Thread,
    /// On a record of the guard's own (the thread-local was gone).
    Own,
}

/// The unpin's ordering: `Release` (the guards' drops say why).
/// Mutation for checking loom model 10 (docs/verification.md): `Relaxed`.
#[inline(always)]
fn unpin_order() -> crate::sync::Ordering {
    if mutation!("unpin_relaxed") {
        crate::sync::Ordering::Relaxed
    } else {
        Release
    }
}

/// A pin of the current thread.
pub(crate) struct TableGuard<'a> {
    owner: &'a TableReclaim,
    record: &'static Record,
    pin: Pin,
    /// This guard retired a table, or flushed: try to free when unpinning.
    retired: Cell<bool>,
    _not_send: PhantomData<*const ()>,
}

impl<'a> TableGuard<'a> {
    fn new(owner: &'a TableReclaim, record: &'static Record, pin: Pin) -> Self {
        TableGuard {
            owner,
            record,
            pin,
            retired: Cell::new(false),
            _not_send: PhantomData,
        }
    }

    /// Pins the current thread for `owner`, through its thread-local record.
    #[inline]
    pub(super) fn pin(owner: &'a TableReclaim) -> Self {
        let local = LOCAL.try_with(|l| match l.record.get() {
            Some(r) => r,
            None => {
                let r = GLOBAL.claim();
                l.record.set(Some(r));
                #[cfg(loom)]
                l.domain.set(graveyard::current());
                r
            }
        });
        match local {
            Ok(record) => {
                // The thread's first live guard announces the pin; the
                // others share it.
                if record.enter() == 0 {
                    GLOBAL.announce(record);
                }
                TableGuard::new(owner, record, Pin::Thread)
            }
            // The thread-local is gone (a pin from a thread-local's
            // destructor): pin with a record of the guard's own.
            Err(_) => {
                let r = GLOBAL.claim();
                GLOBAL.announce(r);
                TableGuard::new(owner, r, Pin::Own)
            }
        }
    }
}

impl Drop for TableGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // Unwinding under loom: leave loom's state alone (`sync/mod.rs`).
        if crate::sync::loom_unwinding() {
            return;
        }
        if self.pin == Pin::Thread {
            let mut tick = false;
            // Err: the thread-local died while we were pinned (`Local`'s
            // drop then left the record to the thread's last guard).
            let alive = LOCAL
                .try_with(|l| {
                    let t = l.tick.get();
                    tick = t == 0;
                    l.tick.set(if tick { SCAN_PERIOD - 1 } else { t - 1 });
                })
                .is_ok();
            // The last of the thread's guards withdraws the pin, whatever
            // order they drop in.
            let last = self.record.leave() == 0;
            if last {
                // Release: the table accesses of every guard of this pin
                // (the others already dropped) happen before a scan that
                // reads "not pinned" (Acquire) and frees.
                self.record.announcement.unpin(unpin_order());
            }
            // The common unpin ends here: the thread keeps its record (a
            // release needs `!alive`), the tick is not due (nor then
            // `tick_draining`), and no scan is (`after_unpin` with
            // `scan_due` false does nothing), so the rest, with its
            // unwinding cleanup, stays out of line (`docs/benchmarks.md`,
            // "The unpin's common path").
            if alive && !tick && !self.retired.get() {
                return;
            }
            let release = (last && !alive).then_some(self.record);
            self.finish_unpin(tick, release);
        } else {
            // Release: as above.
            self.record.announcement.unpin(unpin_order());
            let tick = self.owner.owned_tick(self.record);
            self.finish_unpin(tick, Some(self.record));
        }
    }
}

impl TableGuard<'_> {
    /// The rest of an unpin whose pin is withdrawn already: a scan if one
    /// is due (`tick`: the pacing tick; or this guard retired), then
    /// `release` gives the record back, if the thread does not keep it.
    #[cold]
    #[inline(never)]
    fn finish_unpin(&self, tick: bool, release: Option<&'static Record>) {
        // Released after `after_unpin`, which may touch the record's bags
        // (also if it panics: a user's `Drop` run by a free).
        let release = ReleaseOnDrop(release);
        let scan = (self.retired.get() || tick) && frees_allowed();
        if tick && scan {
            self.owner.tick_draining();
        }
        // The thread keeps its record unless `release` gives it back.
        let keeps = release.0.is_none();
        // SAFETY: `self.record` is still held: by the thread (its
        // thread-local, or its other guards), or by `release`, which gives
        // it back after this call (then not kept).
        unsafe { self.owner.after_unpin(scan, self.record, keeps) };
    }
}

/// Whether this thread may free now: not while it unwinds. A guard
/// dropped, or a write made by a destructor, while a panic of user code
/// unwinds (`Hash`, `Eq`, a closure) would otherwise run other users'
/// `Drop`s in its frees, and one that panicked then would abort the process
/// (a panic during a panic). What it would have freed waits for a later
/// pin, seal or step. (Found by review.) Callers check it only when they
/// are about to free (an unpin's tick, about one in 61; a bag with objects
/// ready; a seal; a draining step).
///
/// Nor while it already frees [`MAX_FREEING`] deep (nested [`Freeing`]
/// scopes): a retired value's `Drop` that writes its own map retires what
/// it replaces or removes, and a free there runs the next value's `Drop`,
/// which writes again, and so on, one stack frame deeper each time until
/// the queue of freeable objects ran dry (found by testing: a stack
/// overflow after some 16,000 nested `Drop`s, a map whose values' `Drop`
/// inserts another key). A depth, not a flag: a map written only from
/// another map's destructors must still free (with a flag it never did:
/// found by the review of the change). The outer frees go on with what
/// the nested writes leave. Nor on a thread whose locals are gone (its
/// exit, in other thread-locals' destructors): no depth to count there.
#[inline]
pub(super) fn frees_allowed() -> bool {
    !std::thread::panicking()
        && LOCAL
            .try_with(|l| l.freeing.get() < MAX_FREEING)
            .unwrap_or(false)
}

/// How many frees may be under way on a thread at once: 2, a free inside
/// a destructor that a free runs (so a map written only from another
/// map's destructors frees), and none deeper.
const MAX_FREEING: u32 = 2;

/// Marks this thread as freeing retired objects (running their
/// destructors) until dropped, also when a destructor panics: one level
/// deeper for [`frees_allowed`]. On a thread whose locals are gone, no
/// mark (frees are not allowed there anyway).
pub(super) struct Freeing(());

impl Freeing {
    #[inline]
    pub(super) fn enter() -> Self {
        let _ = LOCAL.try_with(|l| l.freeing.set(l.freeing.get() + 1));
        Freeing(())
    }
}

impl Drop for Freeing {
    #[inline]
    fn drop(&mut self) {
        // Unwinding under loom (a model failed): leave loom's state alone
        // (`sync/mod.rs`).
        if crate::sync::loom_unwinding() {
            return;
        }
        let _ = LOCAL.try_with(|l| l.freeing.set(l.freeing.get().saturating_sub(1)));
    }
}

/// Gives a record back when dropped (after a guard's `after_unpin`, also
/// while a panic from it unwinds).
struct ReleaseOnDrop(Option<&'static Record>);

impl Drop for ReleaseOnDrop {
    #[inline]
    fn drop(&mut self) {
        // Unwinding under loom (`after_unpin` panicked: a model failed):
        // leave loom's state alone (`sync/mod.rs`).
        if crate::sync::loom_unwinding() {
            return;
        }
        if let Some(record) = self.0 {
            release_owned(record);
        }
    }
}

impl ReclaimGuard for TableGuard<'_> {
    #[inline]
    fn protect<T>(&self, ptr: &AtomicPtr<T>) -> *mut T {
        acquire_load(ptr)
    }

    /// The record this guard pins with ([`Record::slot`]).
    #[inline]
    fn slot(&self) -> Option<usize> {
        self.record.slot()
    }

    #[inline]
    unsafe fn retire<T: Retire>(&self, ptr: *mut T) {
        // SAFETY: the caller's obligations are `retire_in`'s, and this
        // guard's record is held by this thread (or by this guard). A
        // record of the guard's own goes back when it drops.
        unsafe {
            self.owner
                .retire_in(self.record, ptr, self.pin == Pin::Thread)
        }
    }

    #[inline]
    fn before_write(&self) {
        self.owner.before_write();
    }

    fn flush(&self) {
        // Its unpin scans: what the flush queued may be freeable then.
        self.retired.set(true);
        // SAFETY: this guard's record is held by this thread (or by this
        // guard).
        unsafe { self.owner.flush_in(self.record) }
    }

    unsafe fn retire_now<T: Retire>(&self, ptr: *mut T) {
        self.retired.set(true);
        // SAFETY: the caller's obligations are `retire_now`'s.
        unsafe { self.owner.retire_now(ptr) }
    }
}

/// A pin with a record of its own, free to move between threads, used by
/// one at a time: `!Sync`, because its retirements go into the bag at its
/// record's index and its counts into its record's cells, both written
/// without synchronisation by the record's holder alone.
pub(crate) struct TableOwnedGuard<'a> {
    owner: &'a TableReclaim,
    record: &'static Record,
    /// This guard retired a table: try to free it when unpinning (as
    /// [`TableGuard`]'s; the cell also makes the guard `!Sync`).
    retired: Cell<bool>,
}

impl<'a> TableOwnedGuard<'a> {
    /// Pins with a record of the guard's own.
    pub(super) fn pin(owner: &'a TableReclaim) -> Self {
        TableOwnedGuard {
            owner,
            record: {
                let r = claim_owned();
                GLOBAL.announce(r);
                r
            },
            retired: Cell::new(false),
        }
    }
}

impl Drop for TableOwnedGuard<'_> {
    fn drop(&mut self) {
        // Unwinding under loom: leave loom's state alone (`sync/mod.rs`).
        if crate::sync::loom_unwinding() {
            return;
        }
        // Release: as in `TableGuard::drop`.
        self.record.announcement.unpin(unpin_order());
        // Released after `after_unpin`, as in `TableGuard::finish_unpin`.
        let _release = ReleaseOnDrop(Some(self.record));
        let tick = self.owner.owned_tick(self.record);
        let scan = (self.retired.get() || tick) && frees_allowed();
        if tick && scan {
            self.owner.tick_draining();
        }
        // SAFETY: `_release` holds the record until after this call, and
        // gives it back then: the record is not kept. A table this guard
        // retired is scanned for now, not at a later tick (found by
        // review: a `WordMap::iter` that finished a resize left the old
        // table to later pins, or to the map's drop if none came).
        unsafe { self.owner.after_unpin(scan, self.record, false) };
    }
}

#[cfg(test)]
impl<'a> TableGuard<'a> {
    /// The guard's record (tests drive its pacing ticks directly).
    pub(super) fn record(&self) -> &'a Record {
        self.record
    }
}

#[cfg(test)]
impl<'a> TableOwnedGuard<'a> {
    /// The guard's record (tests drive its pacing ticks directly).
    pub(super) fn record(&self) -> &'a Record {
        self.record
    }
}

impl ReclaimGuard for TableOwnedGuard<'_> {
    #[inline]
    fn protect<T>(&self, ptr: &AtomicPtr<T>) -> *mut T {
        acquire_load(ptr)
    }

    /// The record this guard pins with ([`Record::slot`]).
    #[inline]
    fn slot(&self) -> Option<usize> {
        self.record.slot()
    }

    unsafe fn retire<T: Retire>(&self, ptr: *mut T) {
        // SAFETY: the caller's obligations are `retire_in`'s, and the
        // record is this guard's alone, until it drops.
        unsafe { self.owner.retire_in(self.record, ptr, false) }
    }

    #[inline]
    fn before_write(&self) {
        self.owner.before_write();
    }

    fn flush(&self) {
        // Its unpin scans, as a thread pin's (above).
        self.retired.set(true);
        // SAFETY: the record is this guard's alone, until it drops.
        unsafe { self.owner.flush_in(self.record) }
    }

    unsafe fn retire_now<T: Retire>(&self, ptr: *mut T) {
        self.retired.set(true);
        // SAFETY: the caller's obligations are `retire_now`'s.
        unsafe { self.owner.retire_now(ptr) }
    }
}

/// The index of the calling thread's record, claimed if the thread has
/// none yet; `None` once the thread's locals are gone (in a thread-local
/// destructor). The thread holds that record until it exits, so a value
/// kept at this index in a [`PerRecord`](super::directory::PerRecord) is
/// the thread's alone while it runs: counters written with a plain load
/// and store (`stats.rs`). A record changes hands through its `taken`
/// flag (Release, then the next holder's Acquire), so the next thread
/// continues from the last value. Under loom: always `None` (counters are
/// not part of any model, and claiming a record would add steps to every
/// model that counts).
#[cfg(not(loom))]
#[cfg_attr(
    not(any(feature = "seize", feature = "crossbeam-epoch")),
    allow(dead_code)
)]
#[inline]
pub(crate) fn thread_record() -> Option<usize> {
    LOCAL
        .try_with(|l| match l.record.get() {
            Some(r) => r.index,
            None => {
                let r = GLOBAL.claim();
                l.record.set(Some(r));
                r.index
            }
        })
        .ok()
}

/// Under loom: no thread-owned cells (see above).
#[cfg(loom)]
#[allow(dead_code)]
#[inline]
pub(crate) fn thread_record() -> Option<usize> {
    None
}
