//! `WordMap`'s reclaimer: epochs with an asymmetric barrier, for a map whose
//! only garbage is whole tables.
//!
//! A `WordMap` retires an object once per resize (the table it promoted
//! past) and never anything else, while every operation pins. So the pin is
//! made as cheap as it can be and the rare retirement pays for it:
//!
//! * **pin**: the thread writes the global epoch into its own record (a
//!   `Release` store, a plain `mov` on x86) and issues a *compiler* fence:
//!   no locked instruction, so
//!   the CPU keeps overlapping the cache misses of consecutive lookups.
//! * **unpin**: a `Release` store of "not pinned" into the record.
//! * **retire** (once per resize): bump the global epoch, issue a *heavy*
//!   barrier, `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, which runs a
//!   full fence on every CPU running a thread of this process, then queue
//!   the table with the new epoch as its stamp.
//! * **free**: a queued table is freed once every record is either not
//!   pinned or pinned at an epoch at least its stamp (pinned later than the
//!   retirement).
//!
//! Why such a record proves nobody holds the table: see `docs/design.md`,
//! "Table reclamation". In short, the heavy barrier splits every reader's
//! pin at one point: either the reader's announcement is visible to the
//! scan, or the reader loads the root after the unlink and never sees the
//! table. The orderings, step by step:
//!
//! | step | access | ordering | why |
//! |---|---|---|---|
//! | pin | load the epoch | `Acquire` | pairs with the bump: a pin that reads a stamp's epoch happens after that table's unlink ([`registry`], `announce`) |
//! | pin | store the announcement | `Release` | a scan that reads it where an earlier pin of the record ended must see that pin's accesses (`announce`) |
//! | pin | light barrier | compiler fence, or `fence(SeqCst)` | the store before the root load, against the heavy barrier ([`barrier`]) |
//! | unpin | store "not pinned" | `Release` | the pin's table accesses happen before a free decided on it ([`guard`]) |
//! | retire | bump the epoch | `AcqRel` | see [`TableReclaim::retire`] |
//! | retire | heavy barrier, then push | `membarrier` or `fence(SeqCst)`; `Release` push | every pin now shows its announcement or loads the root after the unlink; the push carries that to the scanner ([`retired`]) |
//! | scan | take the queue, fence, read records | `Acquire` swap, `fence(SeqCst)`, `Acquire` loads | after every taken retirement's barrier; sees every announcement the barriers split off ([`TableReclaim::reclaim`]) |
//!
//! Where `membarrier` is missing (not Linux, kernels before 4.14, valgrind),
//! the pin issues a `SeqCst` fence after its store and the retirer a `SeqCst`
//! fence in place of the syscall: the textbook store-fence-load pairing,
//! slower but with the same proof.
//!
//! seize (the generic map's default) is not used here because its unpin is
//! an atomic swap, a full barrier per operation; with seize's own
//! membarrier mode (off in this crate: the generic map retires every
//! removed entry, and a syscall per 32 of them cost more than it saved) the
//! pin is cheap but the unpin is not. For a map that retires a table per
//! resize, moving all fences to the retirer is the right trade.
//!
//! # Layout
//!
//! | module | what it holds |
//! |---|---|
//! | this one | [`TableReclaim`], the backend: retire, scan, pacing, drop |
//! | [`epoch`] | [`Epoch`](epoch::Epoch), the global epoch, a record's announcement (pinned at an epoch, or not) |
//! | [`registry`] | the process-wide [`Domain`]: the records (a push-only stack) and the global epoch; claim, announce, the oldest pin |
//! | [`barrier`] | the barrier strategy: `membarrier` or fences |
//! | [`guard`] | the thread's record cache and pin depth; the guards, pin and unpin |
//! | [`retired`] | a map's queue of retired tables |
//! | `graveyard` | under loom: what an execution leaves, freed by the next |
//!
//! Records live in one process-wide domain shared by every `WordMap` and
//! are never freed (a record is reused by the next thread once its owner
//! exits). A thread keeps its record in a thread-local; a guard that must
//! move between threads (iterators) claims a record of its own.
//!
//! Under loom the same code runs (the domain a per-execution `lazy_static`,
//! the record cache loom's `thread_local`) with the fence strategy, and
//! `WordTable` tracks its own accesses so that loom reports a free that an
//! access does not happen before (`loom-tests/tests/word_models.rs`); each
//! execution's records are freed once it is over (`graveyard`), so a
//! user's loom run of hundreds of thousands of executions stays flat.

mod barrier;
mod epoch;
#[cfg(loom)]
pub(crate) mod graveyard;
mod guard;
mod registry;
mod retired;
#[cfg(all(test, not(loom)))]
mod tests;

use crossbeam_utils::CachePadded;

use self::registry::{Domain, Record, GLOBAL};
use self::retired::{Retired, RetiredTables};
use super::contract::Retire;
use crate::sync::fence;
// `pending` (a statistic) and `tick` (scan pacing) are heuristics, never a
// step of the reclamation argument (`sync.rs`, `stat`).
use crate::sync::stat::AtomicUsize;
use crate::sync::Ordering::{AcqRel, Relaxed, SeqCst};

/// The reclaimer of one `WordMap`: its queue of retired tables. The
/// announcements are process-wide.
pub(crate) struct TableReclaim {
    /// Retired tables, newest first. Taken whole by whoever scans.
    retired: CachePadded<RetiredTables>,
    pending: AtomicUsize,
    /// Unpins of this map while tables are queued; every 64th scans.
    tick: AtomicUsize,
}

impl TableReclaim {
    /// The reclaimer of a new map (`Reclaim::new`, in `guard.rs` with the
    /// rest of the trait: pins make guards).
    pub(super) fn create() -> Self {
        barrier::init();
        TableReclaim {
            retired: CachePadded::new(RetiredTables::new()),
            pending: AtomicUsize::new(0),
            tick: AtomicUsize::new(0),
        }
    }

    /// Tables retired and not yet freed.
    pub(super) fn pending_tables(&self) -> usize {
        self.pending.load(Relaxed)
    }
}

impl TableReclaim {
    /// The domain this map announces in.
    #[inline]
    fn domain(&self) -> &'static Domain {
        &GLOBAL
    }

    /// Claims a record of the domain and pins with it.
    fn claim_and_announce(&self) -> &Record {
        let r = self.domain().claim();
        self.domain().announce(r);
        r
    }

    /// Queues `ptr` to be freed once no pin can hold it.
    ///
    /// # Safety
    ///
    /// As for [`ReclaimGuard::retire`](super::ReclaimGuard::retire): `ptr`
    /// is unlinked, retired once, and valid for `T::free`.
    unsafe fn retire<T: Retire>(&self, ptr: *mut T) {
        // AcqRel: Release so a pin that reads the new epoch happens after
        // the unlink this call follows (see `Domain::announce`); Acquire
        // for the stamp's place in the epoch order.
        let stamp = self.domain().epoch.advance(AcqRel);
        // Every pin now either shows its announcement to a later scan or
        // loads the root after the unlink.
        barrier::heavy();
        // SAFETY: the caller's obligations are `Retired::new`'s.
        let table = unsafe { Retired::new(ptr, stamp) };
        // Relaxed: a gauge.
        self.pending.fetch_add(1, Relaxed);
        // Release (`RetiredTables::push`): the scanner that takes the table
        // happens after the heavy barrier above.
        self.retired.push(table);
    }

    /// Frees every queued table that no pin can hold; puts the rest back.
    fn reclaim(&self) {
        // Acquire (`RetiredTables::take`). The swap makes the taken tables
        // ours alone.
        let mut queued = self.retired.take();
        if queued.is_empty() {
            return;
        }
        // Orders our scan after the heavy barrier of every retirement we
        // took (they happen before our swap): in the fence-only strategy
        // this fence pairs with the pins' fences, and in either strategy it
        // makes the retirers' barriers precede our loads in the fence order.
        fence(SeqCst);
        // Acquire loads of every record (`Domain::oldest_pin`).
        let oldest_pin = self.domain().oldest_pin();
        // Mutation `tables_ignore_pins`: free regardless of pins.
        let free = queued.split_off_if(|table| {
            table.unreachable_under(oldest_pin) || cfg!(lfmap_mutation = "tables_ignore_pins")
        });
        for table in free {
            // SAFETY: every record read "not pinned" or an epoch at least
            // this table's stamp: by the barrier argument (docs/design.md,
            // "Table reclamation") no pin that can reach the table is left,
            // and its last accesses happen before this free. It was retired
            // once, and taken off the queue by us alone.
            unsafe { table.free() };
            // Relaxed: a gauge.
            self.pending.fetch_sub(1, Relaxed);
        }
        // Release (`RetiredTables::put_back`); nothing if all were freed.
        self.retired.put_back(queued);
    }

    /// After an unpin of this map: if tables are queued, scans at once when
    /// this guard retired one, else on every 64th unpin of the map (a pin
    /// held for long, an iterator, would otherwise make every unpin scan).
    /// Nested unpins count too, so a table retired inside a nested pin is
    /// freed by a later unpin of its map (or when the map is dropped).
    #[inline]
    fn after_unpin(&self, retired_here: bool) {
        // Relaxed: a hint (`RetiredTables::looks_empty`); `reclaim` takes
        // the queue with Acquire.
        if self.retired.looks_empty() {
            return;
        }
        // A lossy count (load, then store; Relaxed): it only paces scans,
        // and a lost increment delays one by an unpin, while `fetch_add`
        // would put a locked instruction on every unpin for as long as a
        // long pin keeps a table queued.
        let tick = self.tick.load(Relaxed).wrapping_add(1);
        self.tick.store(tick, Relaxed);
        if retired_here || tick % 64 == 0 {
            self.reclaim();
        }
    }
}

impl Drop for TableReclaim {
    fn drop(&mut self) {
        // Unwinding under loom: leave loom's state alone (`sync.rs`).
        if crate::sync::loom_unwinding() {
            return;
        }
        // `&mut self` orders every push before us: no ordering needed.
        for table in self.retired.take_all_mut() {
            // SAFETY: `&mut self`: no guard of this map is alive (guards
            // borrow it), so no pin can hold any table it retired; each is
            // freed once.
            unsafe { table.free() };
        }
    }
}
