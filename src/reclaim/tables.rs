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
//! * **unpin**: a `Release` store of 0 into the record.
//! * **retire** (once per resize): bump the global epoch, issue a *heavy*
//!   barrier, `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, which runs a
//!   full fence on every CPU running a thread of this process, then queue
//!   the table with the new epoch as its stamp.
//! * **free**: a queued table is freed once every pinned record shows an
//!   epoch at least its stamp (pinned later than the retirement) or 0.
//!
//! Why a record of 0 or ≥ stamp proves nobody holds the table: see
//! `docs/design.md`, "Table reclamation". In short, the heavy barrier splits
//! every reader's pin at one point: either the reader's announcement is
//! visible to the scan, or the reader loads the root after the unlink and
//! never sees the table.
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
//! Records live in one process-wide [`Domain`] shared by every `WordMap` and
//! are never freed (a record is reused by the next thread once its owner
//! exits). A thread keeps its record in a thread-local; a guard that must
//! move between threads (iterators) claims a record of its own.
//!
//! Under loom the same code runs (the domain a per-execution `lazy_static`,
//! the record cache loom's `thread_local`) with the fence strategy, and
//! `WordTable` tracks its own accesses so that loom reports a free that an
//! access does not happen before (`loom-tests/tests/word_models.rs`); each
//! execution's records are freed once it is over (`loom_graveyard`), so a
//! user's loom run of hundreds of thousands of executions stays flat.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr;

use crossbeam_utils::CachePadded;

use super::{acquire_load, Reclaim, ReclaimGuard, Retire};
use crate::sync::{fence, AtomicBool, AtomicPtr, AtomicU64, Ordering};
// `pending` (a statistic) and `tick` (scan pacing) are heuristics, never a
// step of the reclamation argument (`sync.rs`, `stat`).
use crate::sync::stat::AtomicUsize;
use Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};

/// One pinning party's announcement.
struct Record {
    /// The global epoch read when the holder pinned; 0 while not pinned.
    epoch: AtomicU64,
    /// Owned by a thread or an owned guard.
    taken: AtomicBool,
    /// The next record of the registry; written before the record is
    /// published and never again.
    next: AtomicPtr<CachePadded<Record>>,
}

/// The announcements: a push-only list of records and the epoch, one per
/// process ([`GLOBAL`]; under loom, one per model execution).
pub(crate) struct Domain {
    /// Padded records, so one party's announcement never shares a cache
    /// line with another's.
    records: AtomicPtr<CachePadded<Record>>,
    /// Starts at 1, so that 0 can mean "not pinned".
    epoch: AtomicU64,
    /// Under loom: this execution's records, freed with the domain.
    #[cfg(loom)]
    allocated: loom_graveyard::Allocated,
    /// Under loom: this domain's id (`loom_graveyard`).
    #[cfg(loom)]
    id: u64,
}

/// Under loom a domain lives for one execution of a model, and a user's
/// loom run may execute a model hundreds of thousands of times: nothing an
/// execution allocates may outlive it for long. What an execution retires
/// (its records, when its domain drops; `WordMap`'s tables, when they are
/// reclaimed) goes to this per-OS-thread graveyard, and the next
/// execution's domain frees it. Not earlier: loom drops the main thread's
/// thread-locals *after* the execution's statics, and a joined thread may
/// finish after them too; and a table "freed" by the reclaimer must stay
/// readable so that loom, not undefined behaviour, reports a late access
/// in a broken model. A [`Local`] that drops after its domain does not
/// touch its record at all.
#[cfg(loom)]
pub(crate) mod loom_graveyard {
    use super::{CachePadded, Record};
    use std::any::Any;
    use std::cell::{Cell, RefCell};
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
    use std::sync::Mutex;

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

    /// Keeps `remains` until the next execution starts (or, if the OS
    /// thread is exiting and the graveyard is gone, drops it at once:
    /// nothing of the execution runs on this thread any more).
    pub(crate) fn bury(remains: Box<dyn Any>) {
        // On failure `remains` was moved into the closure and is dropped
        // with it.
        let _ = GRAVEYARD.try_with(|g| g.borrow_mut().push(remains));
    }

    /// The records a domain allocated (raw addresses: a record is shared
    /// through `&'static` references while the domain lives).
    pub(super) struct Allocated(Mutex<Vec<usize>>);

    impl Allocated {
        pub(super) fn new() -> Allocated {
            Allocated(Mutex::new(Vec::new()))
        }

        pub(super) fn push(&self, r: *mut CachePadded<Record>) {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(r as usize);
        }

        /// The domain `id` ends: its records go to the graveyard.
        pub(super) fn bury_all(&mut self, id: u64) {
            let list = std::mem::take(self.0.get_mut().unwrap_or_else(|e| e.into_inner()));
            let _ = LIVE.try_with(|l| {
                if l.get() == id {
                    l.set(0);
                }
            });
            for r in list {
                // SAFETY: each address is a record this domain allocated with
                // `Box::into_raw`, listed once; the box is only freed by the
                // graveyard, after the execution.
                bury(unsafe { Box::from_raw(r as *mut CachePadded<Record>) });
            }
        }
    }
}

#[cfg(loom)]
impl Drop for Domain {
    fn drop(&mut self) {
        let id = self.records_domain_id();
        self.allocated.bury_all(id);
    }
}

/// The process-wide domain every `WordMap` announces in.
#[cfg(not(loom))]
static GLOBAL: Domain = Domain::new();

#[cfg(loom)]
loom::lazy_static! {
    /// Under loom: reset for every execution of a model.
    static ref GLOBAL: Domain = Domain::new();
}

impl Domain {
    #[cfg(not(loom))]
    const fn new() -> Domain {
        Domain {
            records: AtomicPtr::new(ptr::null_mut()),
            epoch: AtomicU64::new(1),
        }
    }

    #[cfg(loom)]
    fn new() -> Domain {
        Domain {
            records: AtomicPtr::new(ptr::null_mut()),
            epoch: AtomicU64::new(1),
            allocated: loom_graveyard::Allocated::new(),
            id: loom_graveyard::open(),
        }
    }

    #[cfg(loom)]
    fn records_domain_id(&self) -> u64 {
        self.id
    }

    /// The records, in list order.
    fn records(&self) -> impl Iterator<Item = &Record> + '_ {
        // Acquire: pairs with the Release CAS that published each record,
        // so its fields are initialised when we read them.
        let mut p = self.records.load(Acquire);
        std::iter::from_fn(move || {
            // SAFETY: records are never freed (under loom, only once the
            // execution is over: `loom_graveyard`), so every pointer in the
            // list stays valid.
            let r: &Record = unsafe { p.as_ref() }?;
            // Relaxed: `next` was written before the record was published.
            p = r.next.load(Relaxed);
            Some(r)
        })
    }

    /// Claims a free record, or adds a new one.
    fn claim(&self) -> &Record {
        for r in self.records() {
            // Acquire on success: the previous holder's last store (its
            // unpinning store of 0) happens before our use. The Relaxed
            // pre-check only skips a CAS that would fail.
            if !r.taken.load(Relaxed)
                && r.taken
                    .compare_exchange(false, true, Acquire, Relaxed)
                    .is_ok()
            {
                return r;
            }
        }
        let r = Box::into_raw(Box::new(CachePadded::new(Record {
            epoch: AtomicU64::new(0),
            taken: AtomicBool::new(true),
            next: AtomicPtr::new(ptr::null_mut()),
        })));
        #[cfg(loom)]
        self.allocated.push(r);
        // SAFETY: `r` is a fresh box; records are never freed (under loom,
        // only after the execution: `loom_graveyard`).
        let record: &CachePadded<Record> = unsafe { &*r };
        let mut head = self.records.load(Relaxed);
        loop {
            // Relaxed: published by the Release CAS below.
            record.next.store(head, Relaxed);
            // Release: a thread that walks to `r` sees its fields.
            match self
                .records
                .compare_exchange_weak(head, r, Release, Relaxed)
            {
                Ok(_) => return record,
                Err(now) => head = now,
            }
        }
    }

    /// The smallest epoch announced by a pinned record, or `u64::MAX`.
    fn min_pinned_epoch(&self) -> u64 {
        self.records()
            // Acquire: pairs with the Release store of 0 when unpinning, so
            // every access the holder made to a table happens before a free
            // decided on this value.
            .map(|r| r.epoch.load(Acquire))
            .filter(|&e| e != 0)
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Announces a pin on `r`, one of this domain's records.
    #[inline]
    fn announce(&self, r: &Record) {
        // Acquire: pairs with the AcqRel bump in `retire`. A pin that reads
        // the bumped epoch happens after the unlink that preceded the bump,
        // so it cannot load the retired table: announcing it is truthful.
        let e = self.epoch.load(Acquire);
        // The store, then the light barrier: the "store, fence, load" half
        // of the proof in `docs/design.md`. Release, not Relaxed: a scan may
        // read this announcement where an earlier pin of the same record
        // ended (its unpinning 0 overwritten), and must then also see that
        // pin's table accesses; they happen before this store (program
        // order, or the claim CAS after the record's release), and a
        // Release store carries them to the scan's Acquire load. A plain
        // `mov` on x86. (Found by loom: with Relaxed, model 11 reports the
        // free racing the earlier pin's read.)
        // Mutation `tables_relaxed_announce`: the store loom caught.
        let order = if cfg!(lfmap_mutation = "tables_relaxed_announce") {
            Relaxed
        } else {
            Release
        };
        r.epoch.store(e, order);
        barrier::light();
    }
}

/// Gives a record back. Its epoch must be 0.
fn release_record(r: &Record) {
    // Release: the next claimer (Acquire CAS) sees our last store.
    r.taken.store(false, Release);
}

/// The barrier strategy, chosen once per process.
#[cfg(not(loom))]
mod barrier {
    use super::*;
    use std::sync::atomic::{compiler_fence, AtomicU8};

    const UNKNOWN: u8 = 0;
    const MEMBARRIER: u8 = 1;
    const FENCES: u8 = 2;

    static STRATEGY: AtomicU8 = AtomicU8::new(UNKNOWN);

    /// Picks the strategy, once. Called when a map is created, so before any
    /// pin of that map: a thread that uses the map got it through some
    /// synchronisation after this returned and sees the chosen strategy.
    pub(super) fn init() {
        // Relaxed: the value only picks between two correct protocols, and
        // every reader of a map sees it through the map's publication.
        if STRATEGY.load(Relaxed) == UNKNOWN {
            let s = if sys::register() { MEMBARRIER } else { FENCES };
            // The first answer wins and every thread uses it, even if
            // threads would answer differently (a per-thread seccomp
            // filter): the registration belongs to the process.
            let _ = STRATEGY.compare_exchange(UNKNOWN, s, Relaxed, Relaxed);
        }
    }

    /// Whether pins may skip the hardware fence.
    #[inline]
    fn fast() -> bool {
        STRATEGY.load(Relaxed) == MEMBARRIER
    }

    /// The pin side: orders the announcement store before the loads that
    /// follow it, against a `heavy` barrier on another thread.
    #[inline]
    pub(super) fn light() {
        if fast() {
            // The heavy barrier runs a fence on this CPU for us; only the
            // compiler must keep the store before the loads.
            compiler_fence(SeqCst);
        } else {
            fence(SeqCst);
        }
    }

    /// The retire side.
    pub(super) fn heavy() {
        if fast() {
            sys::barrier();
        } else {
            fence(SeqCst);
        }
    }

    #[cfg(target_os = "linux")]
    mod sys {
        // From include/uapi/linux/membarrier.h (libc does not name them).
        const CMD_QUERY: libc::c_int = 0;
        const CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
        const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

        fn membarrier(cmd: libc::c_int) -> libc::c_long {
            // SAFETY: membarrier takes (cmd, flags, cpu_id) integers and
            // touches no memory of ours.
            unsafe {
                libc::syscall(
                    libc::SYS_membarrier,
                    cmd,
                    0 as libc::c_uint,
                    0 as libc::c_int,
                )
            }
        }

        /// Registers the process for private expedited membarriers; false
        /// where the kernel (or valgrind) does not offer them.
        pub(super) fn register() -> bool {
            let supported = membarrier(CMD_QUERY);
            let needed = (CMD_PRIVATE_EXPEDITED | CMD_REGISTER_PRIVATE_EXPEDITED) as libc::c_long;
            supported >= 0
                && supported & needed == needed
                && membarrier(CMD_REGISTER_PRIVATE_EXPEDITED) == 0
        }

        pub(super) fn barrier() {
            // Once registered, the call fails only transiently (ENOMEM: the
            // kernel could not allocate a CPU mask), so retry. The
            // registration belongs to the address space and survives fork
            // (checked on Linux 6.18: a forked child's call returns 0); exec
            // starts a new process with this crate's statics reset. If it
            // kept failing (a seccomp filter installed after the first map
            // was created), pins that skipped their fence would be
            // unprotected, and the only sound answer is to stop.
            for _ in 0..1000 {
                if membarrier(CMD_PRIVATE_EXPEDITED) == 0 {
                    return;
                }
                std::thread::yield_now();
            }
            std::process::abort();
        }
    }

    #[cfg(not(target_os = "linux"))]
    mod sys {
        pub(super) fn register() -> bool {
            false
        }
        pub(super) fn barrier() {
            unreachable!("membarrier is never selected off Linux")
        }
    }
}

/// Under loom, which cannot model `membarrier`: the fence strategy, which
/// loom models (its `SeqCst` fences are in one total order).
#[cfg(loom)]
mod barrier {
    use super::*;

    pub(super) fn init() {}

    pub(super) fn light() {
        fence(SeqCst);
    }

    pub(super) fn heavy() {
        fence(SeqCst);
    }
}

/// A thread's record (in [`GLOBAL`]) and pin depth.
struct Local {
    record: Cell<Option<&'static Record>>,
    /// Under loom: the domain `record` belongs to (`loom_graveyard`).
    #[cfg(loom)]
    domain: Cell<u64>,
    /// Guards of this thread now alive (pins nest: a closure run by one
    /// map operation may call another map).
    depth: Cell<u32>,
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
        // domain, which freed its records (`loom_graveyard`).
        #[cfg(loom)]
        if !loom_graveyard::alive(self.domain.get()) {
            return;
        }
        // A guard still alive (depth > 0) releases the record itself.
        if let (Some(r), 0) = (self.record.get(), self.depth.get()) {
            release_record(r);
        }
    }
}

#[cfg(not(loom))]
thread_local! {
    static LOCAL: Local = const {
        Local { record: Cell::new(None), depth: Cell::new(0) }
    };
}

#[cfg(loom)]
loom::thread_local! {
    static LOCAL: Local = Local { record: Cell::new(None), domain: Cell::new(0), depth: Cell::new(0) };
}

/// A table retired but not yet freed.
struct Retired {
    ptr: *mut (),
    free: unsafe fn(*mut ()),
    /// The epoch after this table's retirement bump.
    stamp: u64,
    next: *mut Retired,
}

/// The reclaimer of one `WordMap`: its queue of retired tables. The
/// announcements are process-wide.
pub(crate) struct TableReclaim {
    /// Retired tables, newest first. Taken whole (swap) by whoever scans.
    retired: CachePadded<AtomicPtr<Retired>>,
    pending: AtomicUsize,
    /// Unpins of this map while tables are queued; every 64th scans.
    tick: AtomicUsize,
}

impl Reclaim for TableReclaim {
    type Guard<'a> = TableGuard<'a>;
    type OwnedGuard<'a> = TableOwnedGuard<'a>;

    fn new() -> Self {
        barrier::init();
        TableReclaim {
            retired: CachePadded::new(AtomicPtr::new(ptr::null_mut())),
            pending: AtomicUsize::new(0),
            tick: AtomicUsize::new(0),
        }
    }

    /// Pins the current thread, through its thread-local record.
    #[inline]
    fn pin(&self) -> TableGuard<'_> {
        let local = LOCAL.try_with(|l| {
            let depth = l.depth.get();
            let r = match l.record.get() {
                Some(r) => r,
                None => {
                    let r = GLOBAL.claim();
                    l.record.set(Some(r));
                    #[cfg(loom)]
                    l.domain.set(loom_graveyard::current());
                    r
                }
            };
            if depth == 0 {
                GLOBAL.announce(r);
            }
            l.depth.set(depth + 1);
            (r, depth == 0)
        });
        match local {
            Ok((record, true)) => TableGuard::new(self, record, Pin::Outer),
            Ok((record, false)) => TableGuard::new(self, record, Pin::Nested),
            // The thread-local is gone (a pin from a thread-local's
            // destructor): pin with a record of the guard's own.
            Err(_) => TableGuard::new(self, self.claim_and_announce(), Pin::Own),
        }
    }

    /// Pins with a record of the guard's own, which may move between
    /// threads.
    fn pin_owned(&self) -> TableOwnedGuard<'_> {
        TableOwnedGuard {
            owner: self,
            record: self.claim_and_announce(),
        }
    }

    /// Tables retired and not yet freed.
    fn pending(&self) -> usize {
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
    /// As for [`ReclaimGuard::retire`]: `ptr` is unlinked, retired once, and
    /// valid for `T::free`.
    unsafe fn retire<T: Retire>(&self, ptr: *mut T) {
        // AcqRel: Release so a pin that reads the new epoch happens after
        // the unlink this call follows (see `announce`); Acquire for the
        // stamp's place in the epoch order.
        let stamp = self.domain().epoch.fetch_add(1, AcqRel) + 1;
        // Every pin now either shows its announcement to a later scan or
        // loads the root after the unlink.
        barrier::heavy();
        unsafe fn free<T: Retire>(p: *mut ()) {
            // SAFETY: `p` is the `*mut T` queued by `retire::<T>`, freed once.
            unsafe { T::free(p.cast()) }
        }
        let node = Box::into_raw(Box::new(Retired {
            ptr: ptr.cast(),
            free: free::<T>,
            stamp,
            next: ptr::null_mut(),
        }));
        // Relaxed: a gauge.
        self.pending.fetch_add(1, Relaxed);
        self.push(node, node);
    }

    /// Pushes the chain `first..=last` onto the queue.
    fn push(&self, first: *mut Retired, last: *mut Retired) {
        let mut head = self.retired.load(Relaxed);
        loop {
            // SAFETY: the chain is ours (just built, or taken off the queue
            // by us) until the CAS below publishes it.
            unsafe { (*last).next = head };
            // Release: a scanner that takes the chain (Acquire swap) sees
            // the nodes' fields, and happens after the heavy barrier of
            // every retirement in it.
            match self
                .retired
                .compare_exchange_weak(head, first, Release, Relaxed)
            {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// Frees every queued table that no pin can hold; puts the rest back.
    fn reclaim(&self) {
        // Acquire: see `push`. The swap makes the taken nodes ours alone.
        let mut p = self.retired.swap(ptr::null_mut(), Acquire);
        if p.is_null() {
            return;
        }
        // Orders our scan after the heavy barrier of every retirement we
        // took (they happen before our swap): in the fence-only strategy
        // this fence pairs with the pins' fences, and in either strategy it
        // makes the retirers' barriers precede our loads in the fence order.
        fence(SeqCst);
        let min = self.domain().min_pinned_epoch();
        let mut keep_first: *mut Retired = ptr::null_mut();
        let mut keep_last: *mut Retired = ptr::null_mut();
        while !p.is_null() {
            // SAFETY: we took the chain off the queue; its nodes are ours.
            let node = unsafe { &mut *p };
            let next = node.next;
            // Mutation `tables_ignore_pins`: free regardless of pins.
            if node.stamp <= min || cfg!(lfmap_mutation = "tables_ignore_pins") {
                // SAFETY: every record read 0 or an epoch at least this
                // table's stamp: by the barrier argument (docs/design.md,
                // "Table reclamation") no pin that can reach the table is
                // left, and its last accesses happen before this free. It
                // was retired once.
                unsafe { (node.free)(node.ptr) };
                // SAFETY: the node came from `Box::into_raw` in `retire`.
                drop(unsafe { Box::from_raw(p) });
                // Relaxed: a gauge.
                self.pending.fetch_sub(1, Relaxed);
            } else {
                node.next = keep_first;
                if keep_last.is_null() {
                    keep_last = p;
                }
                keep_first = p;
            }
            p = next;
        }
        if !keep_first.is_null() {
            self.push(keep_first, keep_last);
        }
    }

    /// After an unpin of this map: if tables are queued, scans at once when
    /// this guard retired one, else on every 64th unpin of the map (a pin
    /// held for long, an iterator, would otherwise make every unpin scan).
    /// Nested unpins count too, so a table retired inside a nested pin is
    /// freed by a later unpin of its map (or when the map is dropped).
    #[inline]
    fn after_unpin(&self, retired_here: bool) {
        // Relaxed: a hint; `reclaim` takes the queue with Acquire.
        if self.retired.load(Relaxed).is_null() {
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
        // Acquire, though `&mut self` already orders every push before us
        // (loom's atomics have no `get_mut`).
        let mut p = self.retired.load(Acquire);
        while !p.is_null() {
            // SAFETY: `&mut self`: no guard of this map is alive (guards
            // borrow it), so no pin can hold any table it retired.
            let node = unsafe { Box::from_raw(p) };
            // SAFETY: as above; each node is freed once.
            unsafe { (node.free)(node.ptr) };
            p = node.next;
        }
    }
}

/// How a [`TableGuard`] holds its pin.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pin {
    /// The thread's outermost pin, on its thread-local record.
    Outer,
    /// Inside another pin of the same thread, which holds the tables.
    Nested,
    /// On a record of the guard's own (the thread-local was gone).
    Own,
}

/// A pin of the current thread.
pub(crate) struct TableGuard<'a> {
    owner: &'a TableReclaim,
    record: &'a Record,
    pin: Pin,
    /// This guard retired a table: try to free it when unpinning.
    retired: Cell<bool>,
    _not_send: PhantomData<*const ()>,
}

impl<'a> TableGuard<'a> {
    fn new(owner: &'a TableReclaim, record: &'a Record, pin: Pin) -> Self {
        TableGuard {
            owner,
            record,
            pin,
            retired: Cell::new(false),
            _not_send: PhantomData,
        }
    }
}

impl Drop for TableGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // Unwinding under loom: leave loom's state alone (`sync.rs`).
        if crate::sync::loom_unwinding() {
            return;
        }
        if self.pin != Pin::Own {
            // Err: the thread-local died while we were pinned (`Local`'s
            // drop then left the record to the outermost guard).
            let alive = LOCAL.try_with(|l| l.depth.set(l.depth.get() - 1)).is_ok();
            if self.pin == Pin::Outer {
                // Release: the table accesses of this pin (and of the
                // nested ones, already dropped) happen before a scan that
                // reads 0 (Acquire) and frees.
                self.record.epoch.store(0, Release);
                if !alive {
                    release_record(self.record);
                }
            }
        } else {
            // Release: as above.
            self.record.epoch.store(0, Release);
            release_record(self.record);
        }
        self.owner.after_unpin(self.retired.get());
    }
}

impl ReclaimGuard for TableGuard<'_> {
    #[inline]
    fn protect<T>(&self, ptr: &AtomicPtr<T>) -> *mut T {
        acquire_load(ptr)
    }

    unsafe fn retire<T: Retire>(&self, ptr: *mut T) {
        self.retired.set(true);
        // SAFETY: the caller's obligations are `TableReclaim::retire`'s.
        unsafe { self.owner.retire(ptr) }
    }
}

/// A pin with a record of its own, free to move between threads.
pub(crate) struct TableOwnedGuard<'a> {
    owner: &'a TableReclaim,
    record: &'a Record,
}

impl Drop for TableOwnedGuard<'_> {
    fn drop(&mut self) {
        // Unwinding under loom: leave loom's state alone (`sync.rs`).
        if crate::sync::loom_unwinding() {
            return;
        }
        // Release: as in `TableGuard::drop`.
        self.record.epoch.store(0, Release);
        release_record(self.record);
        self.owner.after_unpin(false);
    }
}

impl ReclaimGuard for TableOwnedGuard<'_> {
    #[inline]
    fn protect<T>(&self, ptr: &AtomicPtr<T>) -> *mut T {
        acquire_load(ptr)
    }

    unsafe fn retire<T: Retire>(&self, ptr: *mut T) {
        // SAFETY: the caller's obligations are `TableReclaim::retire`'s.
        unsafe { self.owner.retire(ptr) }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize as Count;
    use std::sync::Arc;

    /// A retirable object that counts its frees.
    struct Probe(Arc<Count>);

    impl Retire for Probe {
        unsafe fn free(ptr: *mut Self) {
            // SAFETY: from Box::into_raw below, freed once.
            let b = unsafe { Box::from_raw(ptr) };
            b.0.fetch_add(1, Relaxed);
        }
    }

    /// The registry is process-wide: a test asserting that nothing else is
    /// pinned must not overlap another test's pins.
    fn alone() -> std::sync::MutexGuard<'static, ()> {
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        LOCK.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn probe(freed: &Arc<Count>) -> *mut Probe {
        Box::into_raw(Box::new(Probe(freed.clone())))
    }

    /// Pins `r`, retires a fresh probe through that pin, unpins.
    fn retire_one(r: &TableReclaim, freed: &Arc<Count>) {
        let g = r.pin();
        // SAFETY: the probe is never shared and retired once.
        unsafe { g.retire(probe(freed)) };
    }

    /// Runs `f` while another thread holds a pin of `pinner` taken before.
    fn while_pinned_elsewhere(pinner: &TableReclaim, f: impl FnOnce()) {
        let (pinned, go) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
        std::thread::scope(|s| {
            s.spawn(|| {
                let _old = pinner.pin();
                pinned.wait();
                go.wait();
            });
            pinned.wait();
            f();
            go.wait();
        });
    }

    #[test]
    fn freed_after_the_retiring_pin_ends() {
        let _alone = alone();
        let r = TableReclaim::new();
        let freed = Arc::new(Count::new(0));
        {
            let g = r.pin();
            // SAFETY: never shared; retired once.
            unsafe { g.retire(probe(&freed)) };
            assert_eq!(freed.load(Relaxed), 0, "freed while pinned");
            assert_eq!(r.pending(), 1);
        }
        assert_eq!(freed.load(Relaxed), 1);
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn an_older_pin_elsewhere_holds_it_a_newer_one_does_not() {
        let _alone = alone();
        let r = TableReclaim::new();
        let freed = Arc::new(Count::new(0));
        while_pinned_elsewhere(&r, || {
            retire_one(&r, &freed);
            // The other thread pinned before the retirement: still held.
            assert_eq!(freed.load(Relaxed), 0);
            // A pin taken after the retirement does not hold it.
            let newer = r.pin_owned();
            drop(newer);
            assert_eq!(freed.load(Relaxed), 0);
        });
        // The old pin is gone; the next scan frees it.
        r.reclaim();
        assert_eq!(freed.load(Relaxed), 1);
    }

    #[test]
    fn nested_pins_share_one_announcement() {
        let _alone = alone();
        let r = TableReclaim::new();
        let freed = Arc::new(Count::new(0));
        let outer = r.pin();
        {
            let inner = r.pin();
            // SAFETY: as above.
            unsafe { inner.retire(probe(&freed)) };
        }
        // The inner guard's drop must not unpin the thread.
        assert_eq!(freed.load(Relaxed), 0);
        drop(outer);
        r.reclaim();
        assert_eq!(freed.load(Relaxed), 1);
    }

    #[test]
    fn drop_frees_what_is_queued() {
        let _alone = alone();
        let freed = Arc::new(Count::new(0));
        let other = TableReclaim::new();
        // A pin of another map, held past this map's drop, blocks the scan
        // but not the drop.
        let held = other.pin_owned();
        {
            let r = TableReclaim::new();
            retire_one(&r, &freed);
            assert_eq!(freed.load(Relaxed), 0);
        }
        assert_eq!(freed.load(Relaxed), 1);
        drop(held);
    }

    #[test]
    fn alternating_between_two_maps_still_frees() {
        // A retirement whose own scan is blocked (an older pin elsewhere)
        // must be freed by later unpins of its map, even when the thread
        // alternates maps (a per-thread count of unpins would put all of
        // one map's unpins on odd numbers and never scan it).
        let _alone = alone();
        let (a, b) = (TableReclaim::new(), TableReclaim::new());
        let freed = Arc::new(Count::new(0));
        while_pinned_elsewhere(&b, || {
            retire_one(&a, &freed);
            assert_eq!(freed.load(Relaxed), 0, "freed under an older pin");
        });
        for _ in 0..200 {
            drop(a.pin());
            drop(b.pin());
        }
        assert_eq!(freed.load(Relaxed), 1);
        assert_eq!(a.pending(), 0);
    }

    #[test]
    fn records_are_reused_by_later_threads() {
        let _alone = alone();
        for _ in 0..64 {
            std::thread::spawn(|| drop(TableReclaim::new().pin()))
                .join()
                .unwrap();
        }
        let n = GLOBAL.records().count();
        // 64 threads one after another: each reuses the record the last
        // one gave back (other test threads hold a few).
        assert!(n < 40, "{n} records");
    }
}
