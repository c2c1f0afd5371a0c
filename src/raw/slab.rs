//! Entry memory, underneath the per-thread caches of `pool.rs`: spans that
//! pack the blocks of one size class end to end, and give their memory
//! back once every block has come back.
//!
//! Through the global allocator each entry block carried the allocator's
//! own overhead: glibc rounds a 24-byte `u64 -> u64` entry up to a 32-byte
//! chunk, a third more than the entry (`docs/benchmarks.md`, "Issue #15",
//! memory). Here a block costs exactly its class's size.
//!
//! * **Spans.** A span is [`SPAN`] bytes, aligned to its size, serving one
//!   class: a [`Span`] header in its first [`HEADER`] bytes, then blocks.
//!   A block's span is its address rounded down, so giving a block back
//!   needs nothing but the block. A span hands out blocks it was given
//!   back first, then *fresh* ones: the untouched rest of the span, handed
//!   out as a range that the taker carves itself (so the pages under
//!   blocks nobody asked for are never touched). A large take gets a run
//!   of new consecutive spans as one range, carved across their headers,
//!   whose pages the taker faults in with one call, outside the lock. A
//!   large run that opens a region faults in the runs of its size that
//!   the region holds after it too ([`AHEAD_SPANS`]): a growing map's
//!   entry memory faults in one call per region, not one per run.
//! * **Regions.** Spans come from regions of [`REGION_SPANS`] spans (1
//!   MiB), each one anonymous mapping from the kernel on Linux, like large
//!   tables (`resize/memory.rs`): the memory goes back to the system when
//!   the region is unmapped, whatever the global allocator's policy (glibc
//!   keeps freed heap it cannot trim). Elsewhere they come from the global
//!   allocator.
//! * **Giving back.** A span whose blocks have all come back leaves its
//!   class: it is kept, resident, for the next span any class needs, while
//!   fewer than [`RESERVE`] are; beyond that its pages go back to the
//!   kernel (`MADV_DONTNEED` on Linux, a hint) and it waits, costing no
//!   memory, in its region. A region none of whose spans is in use is
//!   unmapped. So resident entry memory follows the live blocks (plus the
//!   reserve, the caches' blocks, the free blocks of partly used spans,
//!   which the next takes hand out first, and the spans faulted in ahead:
//!   up to 48 in the newest region, fewer than a run in an older one, each
//!   discarded once its region has no span in use).
//! * **One lock.** The spans' bookkeeping is behind one mutex, taken once
//!   per batch: a cache's refill (given-back blocks from up to
//!   [`TAKE_SPANS`] spans and one fresh range) and a cache's batch of
//!   blocks given back, never per block. The kernel calls that give memory
//!   back (`MADV_DONTNEED` of a span or of a region's spans ahead, `munmap`
//!   of a region) run under it, so that no span is reused while its pages
//!   are discarded; they are rare (a span emptied beyond the reserve, a
//!   region emptied). A thread stalled inside the
//!   lock delays other threads' refills and give-backs, not their map
//!   operations on cached blocks; like any lock, it is not fork-safe (a
//!   child forked while another thread holds it must not touch an
//!   `lfmap` map before `exec`). Such a child may still exit normally:
//!   its exiting thread's cache gives its blocks back only if the lock is
//!   free there, and keeps them otherwise ([`slabs_at_exit`], told by a
//!   fork handler on Linux). A forked
//!   child also never gets back the
//!   blocks that the parent's other threads held in their caches (those
//!   threads do not exist in the child): up to a refill's worth per size
//!   class and thread stays allocated there, with the spans and regions
//!   that hold it.
//! * **Small pages.** Each new region is advised `MADV_NOHUGEPAGE` (Linux,
//!   a hint, ignored where the kernel has no transparent huge pages): with
//!   them `always`, the kernel could back regions (adjacent ones merge
//!   into one mapping) with 2 MiB pages, and a 16 KiB discard inside one
//!   frees nothing until the kernel gets round to splitting it.
//!   [`set_huge_pages`](crate::set_huge_pages) covers tables only.
//! * **Discards are hints.** In a process that locked its memory
//!   (`mlockall`) the kernel refuses `MADV_DONTNEED`; the spans then stay
//!   resident, and nothing else changes (`tests/mlock.rs`).
//!
//! Not used under loom or with `--cfg lfmap_no_pool` (`pool.rs`).

use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

/// Bytes per span, and their alignment: four pages. A span with one block
/// in use stays resident, so smaller spans follow a thinning map more
/// closely; larger ones spend less on headers (0.4 % here).
const SPAN: usize = 16 * 1024;
/// Bytes at the start of a span that hold its header: one cache line.
const HEADER: usize = 64;
/// Spans per region (one allocation): 1 MiB.
const REGION_SPANS: usize = 64;
/// A region's span bits, all set: every span used or warm.
const ALL_SPANS: u64 = u64::MAX >> (64 - REGION_SPANS);
/// Most partly used spans one [`Slabs::take`] visits for given-back
/// blocks: a refill after random frees, which left a block or two in many
/// spans, still gets a batch, and the lock is held for a bounded time.
const TAKE_SPANS: usize = 32;

/// A new span's (or run's) pages are faulted in by its taker in one call
/// when its fresh range is at least this large ([`Slabs::take_run`]);
/// smaller ranges fault page by page as they are carved.
const POPULATE_BYTES: usize = 8 * 1024;

/// Most spans one fresh range covers ([`Slabs::take_run`]): 512 KiB,
/// 21,760 blocks of 24 bytes (a refill's largest batch, `pool.rs`). Half
/// a region, so that two such runs fill one with nothing left over.
const RUN_SPANS: usize = REGION_SPANS / 2;

/// A run of at least this many new spans (a quarter of a region) that
/// opens a region has its taker fault in, with its own pages, those of
/// the spans after it that hold whole runs of its size: all the region for
/// the largest runs ([`Slabs::take_run`]). Such a run is a refill of a
/// thread that allocates fast (refills double up to it), whose next
/// refills, or another such thread's, take those runs (`Region::ahead`);
/// one call of a few hundred microseconds per region then replaces one
/// per run. In a growth of a `HashMap` to 4M keys from 2 threads that
/// halved the inserts' p99.99 (docs/benchmarks.md, "Entry memory faulted
/// in a region at a time"). Smaller runs, a small map's, fault in only
/// themselves.
const AHEAD_SPANS: usize = REGION_SPANS / 4;

/// Empty spans kept resident for reuse, over all classes (256 KiB): a map
/// that shrinks and grows by a few spans' worth does not fault its pages
/// in again each time.
const RESERVE: u32 = 16;

/// A free block's first word: the next block of its chain.
pub(crate) struct Block {
    pub(crate) next: *mut Block,
}

/// A span's header, at its first byte. Touched under [`SLABS`]'s lock only.
#[repr(C)]
struct Span {
    /// Blocks given back, to hand out again.
    free: *mut Block,
    /// Blocks on `free`.
    nfree: u32,
    /// Blocks handed out of the fresh part so far: the next fresh block's
    /// index. The span's blocks in use are `bump - nfree`.
    bump: u32,
    /// Blocks the span holds.
    cap: u32,
    /// Bytes per block.
    size: u32,
    /// The region that holds the span (an index into `Slabs::regions`).
    region: u32,
    /// Whether the span is on its class's `partial` list.
    listed: bool,
    prev: *mut Span,
    next: *mut Span,
}

const _: () = assert!(std::mem::size_of::<Span>() <= HEADER);
const _: () = assert!(SPAN.is_power_of_two() && HEADER % 8 == 0);

impl Span {
    /// Whether every block handed out has come back.
    fn is_empty(&self) -> bool {
        self.nfree == self.bump
    }

    /// Whether the span has blocks to hand out.
    fn has_room(&self) -> bool {
        self.nfree > 0 || self.bump < self.cap
    }
}

/// Cuts a chain after its `n`th block: returns that block (now the end of
/// a chain of `n`) and the rest of the chain.
///
/// # Safety
///
/// At least `n >= 1` free blocks are linked from `first` through their
/// first words, and the caller may write them.
pub(crate) unsafe fn cut(first: *mut Block, n: u32) -> (*mut Block, *mut Block) {
    debug_assert!(n >= 1);
    let mut last = first;
    for _ in 1..n {
        // SAFETY: the caller's: the first `n` blocks are linked.
        last = unsafe { (*last).next };
    }
    // SAFETY: as above; `last` is the `n`th block.
    unsafe {
        let rest = (*last).next;
        (*last).next = ptr::null_mut();
        (last, rest)
    }
}

/// The span that holds `block`.
fn span_of(block: *mut Block) -> *mut Span {
    block.map_addr(|a| a & !(SPAN - 1)).cast()
}

/// Blocks per span of `class`.
fn span_cap(class: usize) -> u32 {
    ((SPAN - HEADER) / (8 * (class + 1))) as u32
}

/// The most blocks of `class` one [`Slabs::take`] grants fresh: a run of
/// [`RUN_SPANS`] spans.
pub(crate) fn most_granted(class: usize) -> u32 {
    RUN_SPANS as u32 * span_cap(class)
}

/// The block after `block` in a fresh range of `size`-byte blocks: the
/// next one in its span, or, after a span's last, the first of the next
/// span (a run's spans are consecutive). Past a range's end this points
/// at memory that is not the range's: never read.
pub(crate) fn next_fresh(block: *mut u8, size: usize) -> *mut u8 {
    if (block.addr() & (SPAN - 1)) + 2 * size <= SPAN {
        block.wrapping_add(size)
    } else {
        block.map_addr(|a| (a & !(SPAN - 1)) + SPAN + HEADER)
    }
}

/// One allocation of [`REGION_SPANS`] spans.
struct Region {
    /// The first span; null once the region is freed (its index then
    /// serves the next region).
    base: *mut u8,
    /// The allocation that holds the spans (before `base` on Linux).
    alloc: *mut u8,
    /// Bit `i`: span `i` serves a class.
    used: u64,
    /// Bit `i`: span `i` is empty but resident, kept for reuse.
    warm: u64,
    /// Bit `i`: span `i` was faulted in, or is being faulted in (outside
    /// the lock), by the run that opened the region ([`AHEAD_SPANS`]), and
    /// is neither used nor warm yet: a run made of such spans needs no
    /// faulting in. (A run taken before that call reached its spans
    /// faults them as it writes them; nothing more.)
    ahead: u64,
}

/// What [`Slabs::take`] hands out: a chain of given-back blocks and a
/// range of fresh ones, all of one class and now the taker's.
pub(crate) struct Grant {
    /// Blocks linked through their first word, null-terminated.
    pub(crate) chain: *mut Block,
    pub(crate) chain_len: u32,
    /// `fresh_len` untouched blocks, end to end from `fresh`.
    pub(crate) fresh: *mut u8,
    pub(crate) fresh_len: u32,
    /// Memory the taker should fault in ([`populate`]) once the lock is
    /// released: the run of new spans the fresh range covers
    /// ([`Slabs::take_run`]); `populate_len` 0 if none.
    pub(crate) populate: *mut u8,
    pub(crate) populate_len: usize,
}

/// Whether the pages of a run [`Slabs::new_run`] found are resident.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pages {
    /// A warm span, or spans faulted in ahead: nothing to fault in.
    Resident,
    /// Untouched, or given back to the kernel: the taker faults them in.
    Cold,
    /// The start of region `r`, just mapped: the taker faults the run in,
    /// and for a large run the runs after it ([`AHEAD_SPANS`]).
    NewRegion(usize),
}

/// Bits `i..i + k` of a region's span masks.
fn span_bits(i: usize, k: usize) -> u64 {
    debug_assert!(i + k <= REGION_SPANS);
    if k == 0 {
        0
    } else {
        (u64::MAX >> (REGION_SPANS - k)) << i
    }
}

/// The spans of every class and the regions that hold them.
pub(crate) struct Slabs {
    /// Per class, the spans with blocks to hand out, most recently listed
    /// first (a doubly linked list through their headers).
    partial: [*mut Span; CLASSES],
    regions: Vec<Region>,
    /// Empty spans kept resident (the `warm` bits of every region).
    warm: u32,
    /// Where the searches for spans that are neither used nor warm (and
    /// for a freed region's index) start: every region below it is live
    /// and has all its spans used or warm. A growing map fills its regions
    /// in order and gives nothing back, so without it every new run walked
    /// every full region first, under the lock (O(regions): some 75,000
    /// steps per run at 100 M entries; found by review). Lowered by any
    /// span that leaves its class ([`Slabs::release`]), raised by the
    /// search as it passes full regions.
    open_from: usize,
}

/// Size classes, as in `pool.rs`: blocks of 8, 16, ..., 256 bytes.
const CLASSES: usize = 32;

// SAFETY: the raw pointers name spans and regions that this value alone
// manages (behind a mutex); no thread-bound state.
unsafe impl Send for Slabs {}

/// Every class's spans, shared by all threads.
static SLABS: Mutex<Slabs> = Mutex::new(Slabs::new());

/// The process's spans, locked. Nothing panics while the lock is held, but
/// a poisoned lock would still hold consistent bookkeeping: go on.
pub(crate) fn slabs() -> MutexGuard<'static, Slabs> {
    watch_forks();
    SLABS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Set in a child process whose parent's other threads held the spans'
/// lock at the fork (`after_fork`): those threads do not exist in the
/// child, and the lock stays held there for good.
static ABANDONED: AtomicBool = AtomicBool::new(false);

/// Registers [`after_fork`] with the C library, once, before this
/// process first takes the lock (Linux; elsewhere a forked child's exit
/// waits for the lock, as any call of its does).
#[inline]
fn watch_forks() {
    #[cfg(target_os = "linux")]
    {
        static WATCH: std::sync::Once = std::sync::Once::new();
        WATCH.call_once(|| {
            // SAFETY: registers a handler that is sound to run in a forked
            // child (below); the prepare and parent handlers are none. A
            // registration that fails (out of memory) leaves the child's
            // exit waiting for the lock, as before.
            unsafe { libc::pthread_atfork(None, None, Some(after_fork)) };
        });
    }
}

/// Runs in a forked child, on the one thread it has: the spans' lock is
/// free unless a thread of the parent held it at the fork, which
/// [`slabs_at_exit`] must then not wait for. A try and an unlock: atomic
/// operations on the lock's word (and a wake, which no one needs), which
/// a child may make before it uses anything else.
#[cfg(target_os = "linux")]
extern "C" fn after_fork() {
    match SLABS.try_lock() {
        Ok(slabs) => drop(slabs),
        Err(TryLockError::Poisoned(p)) => drop(p.into_inner()),
        Err(TryLockError::WouldBlock) => ABANDONED.store(true, Relaxed),
    }
}

/// The spans, locked, for a thread's exit (its cache's give-back, a free
/// after its cache is gone): [`slabs`], except in a child forked while a
/// thread of its parent held the lock, which would never be let go there
/// (found by review: glibc's `exit` runs the exiting thread's thread-local
/// destructors, and a child that never used a map hung in its `exit`).
/// There the lock is only tried, and `None` means the caller keeps (leaks)
/// what it was giving back: the child's exit takes it with the address
/// space. (A child forked while the lock was free, such as a pre-fork
/// worker of a single-threaded parent, gives back as any process does.)
pub(crate) fn slabs_at_exit() -> Option<MutexGuard<'static, Slabs>> {
    // Relaxed: set in this process before any of its other threads ran.
    if !ABANDONED.load(Relaxed) {
        return Some(slabs());
    }
    match SLABS.try_lock() {
        Ok(slabs) => Some(slabs),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

impl Slabs {
    pub(crate) const fn new() -> Slabs {
        Slabs {
            partial: [ptr::null_mut(); CLASSES],
            regions: Vec::new(),
            warm: 0,
            open_from: 0,
        }
    }

    /// Hands out up to `want` (at least 1) blocks of `class` (bytes
    /// `8 * (class + 1)`): given-back blocks first, from up to
    /// [`TAKE_SPANS`] partly used spans, then one fresh range: the rest of
    /// the last span visited, or, if no span was partly used, a new span or
    /// run of spans ([`take_run`](Self::take_run)). Empty only if no memory
    /// could be had for a new region.
    pub(crate) fn take(&mut self, class: usize, want: u32) -> Grant {
        let mut grant = Grant {
            chain: ptr::null_mut(),
            chain_len: 0,
            fresh: ptr::null_mut(),
            fresh_len: 0,
            populate: ptr::null_mut(),
            populate_len: 0,
        };
        let want = want.max(1);
        // The chain's last block, to append the next span's blocks to.
        let mut tail: *mut Block = ptr::null_mut();
        for _ in 0..TAKE_SPANS {
            let span = self.partial[class];
            if span.is_null() {
                if grant.chain_len == 0 {
                    self.take_run(class, want, &mut grant);
                }
                break;
            }
            // SAFETY: a span on a partial list is a live span of this
            // class, its header ours under the lock.
            let sp = unsafe { &mut *span };
            debug_assert_eq!(sp.size as usize, 8 * (class + 1));
            // Given-back blocks, as many as are still wanted: the span's
            // chain is cut after them and appended to the grant's.
            if sp.nfree > 0 {
                let n = (want - grant.chain_len).min(sp.nfree);
                let first = sp.free;
                // SAFETY: `nfree >= n` free blocks are linked from `free`.
                let (last, rest) = unsafe { cut(first, n) };
                sp.free = rest;
                if tail.is_null() {
                    grant.chain = first;
                } else {
                    // SAFETY: the grant's last block, free, the taker's.
                    unsafe { (*tail).next = first };
                }
                tail = last;
                sp.nfree -= n;
                grant.chain_len += n;
            }
            let more = want - grant.chain_len;
            if more > 0 && sp.bump < sp.cap {
                let n = more.min(sp.cap - sp.bump);
                // SAFETY: block `bump` lies inside the span (`bump < cap`).
                grant.fresh = unsafe {
                    span.cast::<u8>()
                        .add(HEADER + sp.bump as usize * sp.size as usize)
                };
                grant.fresh_len = n;
                sp.bump += n;
            }
            if !sp.has_room() {
                self.unlist(span);
            }
            if grant.fresh_len > 0 || grant.chain_len == want {
                break;
            }
        }
        grant
    }

    /// Takes back the blocks of `chain` (linked through their first word,
    /// null-terminated).
    ///
    /// # Safety
    ///
    /// Every block came from [`take`](Self::take) of this `Slabs`, is
    /// free (nothing uses it), and is given back once.
    pub(crate) unsafe fn give(&mut self, mut chain: *mut Block) {
        while !chain.is_null() {
            let block = chain;
            // SAFETY: the caller's: a free block of ours; its first word is
            // its link.
            chain = unsafe { (*block).next };
            // SAFETY: as above.
            unsafe { self.give_one(block) };
        }
    }

    /// Takes back `n` blocks end to end from `fresh` (a fresh range, or
    /// what is left of one), span by span. Where the range's part in a span
    /// ends at the span's `bump` (no later take carved past it, the usual
    /// case), it is uncarved: `bump` goes back to its first block, and no
    /// block is written. Otherwise each block is linked onto the span's
    /// free list, as a given-back block. (Linking all of them wrote a word
    /// into every block of the rest, up to 21,760 blocks under the lock at a
    /// thread's exit or a window's end, and faulted in the pages of a range
    /// never touched: found by review.)
    ///
    /// # Safety
    ///
    /// As for [`give`](Self::give): blocks of one [`Grant::fresh`] range of
    /// this `Slabs`, unused.
    pub(crate) unsafe fn give_range(&mut self, fresh: *mut u8, n: u32) {
        let mut block = fresh;
        let mut left = n;
        while left > 0 {
            let span = span_of(block.cast());
            // SAFETY: the caller's: `block` lies in a live span of ours,
            // whose header is ours under the lock.
            let sp = unsafe { &mut *span };
            let size = sp.size as usize;
            let first = ((block.addr() - span.addr() - HEADER) / size) as u32;
            // `n` blocks from `fresh`, walked as `next_fresh` walks them,
            // fill each span to its end before the next one's block 0.
            let here = left.min(sp.cap - first);
            left -= here;
            debug_assert!(first + here <= sp.bump, "blocks never carved");
            // The next span's first block: address arithmetic only, taken
            // before this span may be released below.
            let next = span.cast::<u8>().wrapping_add(SPAN + HEADER);
            if first + here == sp.bump {
                // None of them was ever handed out or put on the free list
                // (those are below `first`), so `nfree <= first`.
                sp.bump = first;
                if sp.is_empty() {
                    self.release(span);
                } else if !sp.listed {
                    self.list(span);
                }
            } else {
                for _ in 0..here {
                    let following = next_fresh(block, size);
                    // SAFETY: the caller's: blocks of the range, each free.
                    unsafe { self.give_one(block.cast()) };
                    block = following;
                }
            }
            block = next;
        }
    }

    /// # Safety
    ///
    /// As for [`give`](Self::give), one block.
    unsafe fn give_one(&mut self, block: *mut Block) {
        let span = span_of(block);
        // SAFETY: the caller's: the block is in a live span of ours.
        let sp = unsafe { &mut *span };
        debug_assert!({
            let off = block.addr() - span.addr() - HEADER;
            off % sp.size as usize == 0 && off / (sp.size as usize) < sp.bump as usize
        });
        debug_assert!(sp.nfree < sp.bump, "a block given back twice");
        // SAFETY: free and ours: its first word becomes its link.
        unsafe { block.write(Block { next: sp.free }) };
        sp.free = block;
        sp.nfree += 1;
        if sp.is_empty() {
            self.release(span);
        } else if !sp.listed {
            self.list(span);
        }
    }

    /// Grants `want` fresh blocks of `class` (at most [`RUN_SPANS`] spans'
    /// worth) from new spans: one span for a small want, else a run of
    /// consecutive spans, whose range the taker carves across span headers
    /// ([`next_fresh`]) and faults in at once (`grant.populate`). So a
    /// thread that allocates fast takes its page faults in one refill per
    /// thousands of blocks, not a few in every span's worth (about one
    /// write in 170 for 24-byte blocks: the p99.9 of a growing map).
    fn take_run(&mut self, class: usize, want: u32, grant: &mut Grant) {
        let cap = span_cap(class);
        let k = (want.div_ceil(cap) as usize).clamp(1, RUN_SPANS);
        let Some((first, pages)) = self.new_run(class, k) else {
            return;
        };
        let n = want.min(k as u32 * cap);
        for j in 0..k {
            // SAFETY: span `j` of the run, inside its region.
            let span = unsafe { first.cast::<u8>().add(j * SPAN) }.cast::<Span>();
            // SAFETY: a span of the run: live, its header just written.
            let sp = unsafe { &mut *span };
            sp.bump = (n - j as u32 * cap).min(cap);
            if sp.has_room() {
                self.list(span);
            }
        }
        // SAFETY: the run's first block lies inside its first span.
        grant.fresh = unsafe { first.cast::<u8>().add(HEADER) };
        grant.fresh_len = n;
        // A fresh span's pages are faulted in by the taker at once when
        // the range covers two pages or more (a warm span's, or one faulted
        // in ahead, are resident); a large run opening a region faults in
        // the runs of its size after it too.
        let spans = match pages {
            Pages::Resident => 0,
            Pages::Cold => k,
            Pages::NewRegion(r) if k >= AHEAD_SPANS => {
                let spans = REGION_SPANS / k * k;
                // The run opens the region (span 0): mark the rest.
                self.regions[r].ahead = span_bits(k, spans - k);
                spans
            }
            Pages::NewRegion(_) => k,
        };
        if spans > 0 && n as usize * 8 * (class + 1) >= POPULATE_BYTES {
            grant.populate = first.cast();
            grant.populate_len = spans * SPAN;
        }
    }

    /// `k` consecutive spans for `class`, headers written, none listed:
    /// for `k == 1` a kept (warm) one if any; else (or if none) spans that
    /// are not in use or warm, else the start of a new region. Returns the
    /// first span and whether its pages are resident.
    fn new_run(&mut self, class: usize, k: usize) -> Option<(*mut Span, Pages)> {
        debug_assert!((1..=REGION_SPANS).contains(&k));
        let warm = (k == 1 && self.warm > 0)
            .then(|| {
                self.regions
                    .iter()
                    .position(|r| r.warm != 0)
                    .map(|r| (r, self.regions[r].warm.trailing_zeros() as usize))
            })
            .flatten();
        self.debug_check_open_from();
        // Full regions at the hint stay full until a span of theirs leaves
        // its class, which lowers the hint again: step over them for good.
        while self
            .regions
            .get(self.open_from)
            .is_some_and(|reg| !reg.base.is_null() && reg.used | reg.warm == ALL_SPANS)
        {
            self.open_from += 1;
        }
        let from = self.open_from;
        let found = warm.or_else(|| {
            self.regions
                .iter()
                .enumerate()
                .skip(from)
                .find_map(|(r, reg)| {
                    if reg.base.is_null() {
                        return None;
                    }
                    // Bits that start a run of `k` spans neither used nor warm
                    // (the shifts bring in zeros: no run crosses the region's
                    // end).
                    let free = !(reg.used | reg.warm);
                    let mut starts = free;
                    for j in 1..k {
                        starts &= free >> j;
                    }
                    (starts != 0).then(|| (r, starts.trailing_zeros() as usize))
                })
        });
        let ((r, i), opened) = match found {
            Some(f) => (f, false),
            None => ((self.add_region()?, 0), true),
        };
        let region = &mut self.regions[r];
        let run = span_bits(i, k);
        let pages = if region.warm & run != 0 {
            // A warm span (`k == 1`).
            region.warm &= !run;
            self.warm -= 1;
            Pages::Resident
        } else if opened {
            Pages::NewRegion(r)
        } else if region.ahead & run == run {
            Pages::Resident
        } else {
            Pages::Cold
        };
        region.ahead &= !run;
        let size = 8 * (class + 1);
        for j in i..i + k {
            debug_assert!((region.used | region.warm) & (1u64 << j) == 0);
            region.used |= 1u64 << j;
            // SAFETY: span `j` of a live region: inside its allocation.
            let span = unsafe { region.base.add(j * SPAN) }.cast::<Span>();
            // SAFETY: the span is ours (unused until now); its header is
            // written whole.
            unsafe {
                span.write(Span {
                    free: ptr::null_mut(),
                    nfree: 0,
                    bump: 0,
                    cap: span_cap(class),
                    size: size as u32,
                    region: r as u32,
                    listed: false,
                    prev: ptr::null_mut(),
                    next: ptr::null_mut(),
                });
            }
        }
        debug_assert_eq!(region.ahead & (region.used | region.warm), 0);
        // SAFETY: span `i` of a live region.
        let first = unsafe { region.base.add(i * SPAN) }.cast::<Span>();
        Some((first, pages))
    }

    /// A span whose blocks have all come back leaves its class: kept warm
    /// while the reserve has room; else its region is freed if none of its
    /// spans is used (its warm spans leave the reserve then), or else the
    /// span's pages go back to the kernel.
    fn release(&mut self, span: *mut Span) {
        // SAFETY: a live span's header, ours under the lock.
        let (listed, r) = unsafe { ((*span).listed, (*span).region as usize) };
        if listed {
            self.unlist(span);
        }
        // The region may have a span neither used nor warm from here on, or
        // be freed: the searches must look at it again.
        self.open_from = self.open_from.min(r);
        let region = &mut self.regions[r];
        let i = (span.addr() - region.base.addr()) / SPAN;
        let bit = 1u64 << i;
        debug_assert!(region.used & bit != 0);
        region.used &= !bit;
        if self.warm < RESERVE {
            region.warm |= bit;
            self.warm += 1;
            if region.used == 0 && region.ahead != 0 {
                // Kept for the reserve, with spans faulted in for runs
                // that never came (a map that stopped growing): those go
                // back now, not with the region. (A region unmapped below
                // takes them along.) One call per range of them: first-fit
                // takes leave one range, but nothing relies on it.
                let mut ahead = std::mem::take(&mut region.ahead);
                while ahead != 0 {
                    let from = ahead.trailing_zeros() as usize;
                    let n = (ahead >> from).trailing_ones() as usize;
                    // SAFETY: spans of a live region of ours that no
                    // class uses: an `ahead` span is neither used nor warm
                    // (`new_run` clears the bits of every run it takes).
                    unsafe { discard(region.base.add(from * SPAN), n) };
                    ahead &= !span_bits(from, n);
                }
            }
        } else if region.used == 0 {
            self.warm -= region.warm.count_ones();
            region.warm = 0;
            region.ahead = 0;
            region.base = ptr::null_mut();
            // SAFETY: no span of the region is in use (every block of every
            // span came back): the whole allocation is unused; freed once.
            unsafe { free_region(region.alloc) };
        } else {
            // SAFETY: the span is inside a live region of ours, and unused:
            // every block came back, and it left its class.
            unsafe { discard(span.cast(), 1) };
        }
    }

    /// Allocates a new region (in a free index if any); its index.
    fn add_region(&mut self) -> Option<usize> {
        let (alloc, base) = alloc_region()?;
        let region = Region {
            base,
            alloc,
            used: 0,
            warm: 0,
            ahead: 0,
        };
        // Below `open_from` every region is live.
        let free = self.regions[self.open_from.min(self.regions.len())..]
            .iter()
            .position(|r| r.base.is_null())
            .map(|at| self.open_from + at);
        match free {
            Some(r) => {
                self.regions[r] = region;
                Some(r)
            }
            None => {
                self.regions.push(region);
                Some(self.regions.len() - 1)
            }
        }
    }

    /// Checks, in builds with debug assertions, what `open_from` promises:
    /// every region below it is live and full.
    fn debug_check_open_from(&self) {
        if cfg!(debug_assertions) {
            for (r, reg) in self.regions.iter().enumerate().take(self.open_from) {
                assert!(
                    !reg.base.is_null() && reg.used | reg.warm == ALL_SPANS,
                    "region {r} below the search hint {} has room",
                    self.open_from
                );
            }
        }
    }

    /// Puts `span` at the head of its class's partial list.
    fn list(&mut self, span: *mut Span) {
        // SAFETY: a live span's header, ours under the lock.
        let sp = unsafe { &mut *span };
        let class = sp.size as usize / 8 - 1;
        debug_assert!(!sp.listed);
        let head = self.partial[class];
        sp.prev = ptr::null_mut();
        sp.next = head;
        sp.listed = true;
        if !head.is_null() {
            // SAFETY: a listed span's header.
            unsafe { (*head).prev = span };
        }
        self.partial[class] = span;
    }

    /// Takes `span` off its class's partial list.
    fn unlist(&mut self, span: *mut Span) {
        // SAFETY: a live, listed span's header, ours under the lock; its
        // neighbours are listed spans too.
        unsafe {
            let sp = &mut *span;
            debug_assert!(sp.listed);
            let class = sp.size as usize / 8 - 1;
            if sp.prev.is_null() {
                self.partial[class] = sp.next;
            } else {
                (*sp.prev).next = sp.next;
            }
            if !sp.next.is_null() {
                (*sp.next).prev = sp.prev;
            }
            sp.prev = ptr::null_mut();
            sp.next = ptr::null_mut();
            sp.listed = false;
        }
    }

    /// Resident memory this bookkeeping may hold, in bytes: spans in use,
    /// kept warm or faulted in ahead (an upper bound: a span's untouched
    /// tail counts).
    #[cfg(test)]
    fn resident_bound(&self) -> usize {
        self.regions
            .iter()
            .map(|r| (r.used | r.warm | r.ahead).count_ones() as usize * SPAN)
            .sum()
    }
}

impl Drop for Slabs {
    /// Frees every region left. Only instances made by tests are ever
    /// dropped (the process's own lives in a static), after their blocks
    /// came back (and then no region is left).
    fn drop(&mut self) {
        for r in &self.regions {
            if !r.base.is_null() {
                // SAFETY: a live region of this value's, unused now.
                unsafe { free_region(r.alloc) };
            }
        }
    }
}

/// Faults in, for writing, the pages under `len` bytes at `at`, inside a
/// span (a hint: errors and other platforms do nothing).
pub(crate) fn populate(at: *mut u8, len: usize) {
    #[cfg(all(not(loom), target_os = "linux"))]
    {
        let page = crate::resize::memory::map::page_size();
        if page.is_power_of_two() {
            let start = at.map_addr(|a| a & !(page - 1));
            let end = (at.addr() + len).next_multiple_of(page);
            crate::resize::memory::map::populate(start, end - start.addr());
        }
    }
    #[cfg(not(all(not(loom), target_os = "linux")))]
    let _ = (at, len);
}

/// Bytes a region allocates: its spans, plus (for a kernel mapping, which
/// is only page-aligned) room to align the first span.
#[cfg(all(not(loom), target_os = "linux"))]
const REGION_BYTES: usize = REGION_SPANS * SPAN + SPAN;

/// A new region, its first span aligned to [`SPAN`]: `(allocation, first
/// span)`; `None` if the system has no memory.
#[cfg(all(not(loom), target_os = "linux"))]
fn alloc_region() -> Option<(*mut u8, *mut u8)> {
    let p = crate::resize::memory::map_or_release(|| crate::resize::memory::map::map(REGION_BYTES));
    if p.is_null() {
        return None;
    }
    // Small pages only, whatever the kernel's THP policy (module docs): a
    // hint; an error (a kernel without transparent huge pages) is ignored.
    // SAFETY: `[p, p + REGION_BYTES)` is the mapping just made, ours; the
    // advice changes no byte.
    let _ = unsafe { libc::madvise(p.cast(), REGION_BYTES, libc::MADV_NOHUGEPAGE) };
    // The pages before the first span are never touched: no resident
    // memory.
    Some((p, p.map_addr(|a| a.next_multiple_of(SPAN))))
}

/// # Safety
///
/// `at` is an allocation from [`alloc_region`], nothing in it is in use,
/// and it is freed once.
#[cfg(all(not(loom), target_os = "linux"))]
unsafe fn free_region(at: *mut u8) {
    // SAFETY: the caller's: one mapping made by `map`, of this size.
    unsafe { crate::resize::memory::map::unmap(at, REGION_BYTES) };
}

/// What a region asks the system for: the allocation that failed when a
/// block cannot be had, as an allocation failure reports it.
#[cfg(all(not(loom), target_os = "linux"))]
pub(crate) fn region_layout() -> std::alloc::Layout {
    std::alloc::Layout::from_size_align(REGION_BYTES, SPAN).expect("a region layout")
}

/// Elsewhere, regions come from the global allocator, aligned to a span.
#[cfg(not(all(not(loom), target_os = "linux")))]
pub(crate) fn region_layout() -> std::alloc::Layout {
    // A power-of-two alignment that divides the size: always valid.
    std::alloc::Layout::from_size_align(REGION_SPANS * SPAN, SPAN).expect("a region layout")
}

#[cfg(not(all(not(loom), target_os = "linux")))]
fn alloc_region() -> Option<(*mut u8, *mut u8)> {
    // SAFETY: the layout has a non-zero size.
    let p = unsafe { std::alloc::alloc(region_layout()) };
    (!p.is_null()).then_some((p, p))
}

/// # Safety
///
/// As above.
#[cfg(not(all(not(loom), target_os = "linux")))]
unsafe fn free_region(at: *mut u8) {
    // SAFETY: the caller's: allocated with this layout.
    unsafe { std::alloc::dealloc(at, region_layout()) };
}

/// Gives the pages of `n` unused spans from `span` back to the kernel
/// (Linux, where pages are no larger than a span: with 64 KiB pages a
/// span is part of a page, and discarding it would discard its
/// neighbours; it then stays resident until its region is unmapped).
/// Elsewhere nothing.
///
/// # Safety
///
/// The `n` spans from `span` lie in one live region and nothing in them
/// is in use (their bytes are lost).
unsafe fn discard(span: *mut u8, n: usize) {
    #[cfg(all(not(loom), target_os = "linux"))]
    {
        let page = crate::resize::memory::map::page_size();
        if page != 0 && SPAN % page == 0 {
            // SAFETY: the caller's; the spans are whole pages (aligned to
            // `SPAN`, a multiple of the page size).
            unsafe { crate::resize::memory::map::discard(span, n * SPAN) };
        }
    }
    #[cfg(not(all(not(loom), target_os = "linux")))]
    let _ = (span, n);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Takes every block a grant holds, carving its fresh range.
    fn blocks(g: &Grant, class: usize) -> Vec<*mut Block> {
        let mut out = Vec::new();
        let mut b = g.chain;
        while !b.is_null() {
            out.push(b);
            // SAFETY: a granted, free block: its first word is its link.
            b = unsafe { (*b).next };
        }
        assert_eq!(out.len(), g.chain_len as usize);
        let mut f = g.fresh;
        for _ in 0..g.fresh_len {
            out.push(f.cast());
            f = next_fresh(f, 8 * (class + 1));
        }
        out
    }

    /// Links `blocks` into a chain.
    fn chain(blocks: &[*mut Block]) -> *mut Block {
        let mut head = ptr::null_mut();
        for &b in blocks.iter().rev() {
            // SAFETY: free blocks of ours.
            unsafe { b.write(Block { next: head }) };
            head = b;
        }
        head
    }

    use super::span_cap as cap;

    #[test]
    fn blocks_are_packed_aligned_and_distinct() {
        let mut s = Slabs::new();
        let class = 2; // 24-byte blocks
        let g = s.take(class, 100);
        let got = blocks(&g, class);
        assert_eq!(got.len(), 100);
        for w in got.windows(2) {
            assert_eq!(w[1].addr() - w[0].addr(), 24, "packed end to end");
        }
        for &b in &got {
            assert_eq!(b.addr() % 8, 0);
            assert_eq!(span_of(b).addr() % SPAN, 0);
            // The whole block is writable.
            // SAFETY: granted, ours, 24 bytes.
            unsafe { b.cast::<[u64; 3]>().write([1, 2, 3]) };
        }
        // One more span of the region in use, so that it stays.
        let other = blocks(&s.take(3, 1), 3);
        // SAFETY: every block granted, given back once.
        unsafe { s.give(chain(&got)) };
        assert_eq!(
            s.resident_bound(),
            2 * SPAN,
            "the emptied span is kept warm"
        );
        assert_eq!(s.warm, 1);
        // SAFETY: as above.
        unsafe { s.give(chain(&other)) };
        assert_eq!(s.warm, 2, "the reserve keeps a small map's spans");
    }

    #[test]
    fn given_back_blocks_are_handed_out_first_and_a_full_span_moves_on() {
        let mut s = Slabs::new();
        let class = 0;
        let all = blocks(&s.take(class, cap(class)), class);
        assert_eq!(all.len() as u32, cap(class), "one grant, one span");
        // The span is full: the next take opens another.
        let other = blocks(&s.take(class, 1), class);
        assert_ne!(span_of(other[0]), span_of(all[0]));
        // Give back three of the first span's blocks: they come out next,
        // then fresh blocks of the second span.
        // SAFETY: granted blocks, given back once.
        unsafe { s.give(chain(&all[10..13])) };
        let g = s.take(class, 5);
        assert_eq!((g.chain_len, g.fresh_len), (3, 2));
        assert_eq!(span_of(g.fresh.cast()), span_of(other[0]));
        let again = blocks(&g, class);
        assert!(again[..3].iter().all(|b| all[10..13].contains(b)));
        let mut rest: Vec<_> = all
            .iter()
            .filter(|b| !all[10..13].contains(b))
            .copied()
            .collect();
        rest.extend(again);
        rest.extend(other);
        // SAFETY: every block still out, given back once.
        unsafe { s.give(chain(&rest)) };
        assert_eq!(
            (s.resident_bound(), s.warm),
            (2 * SPAN, 2),
            "both kept warm"
        );
    }

    #[test]
    fn a_take_gathers_given_back_blocks_from_many_spans() {
        let mut s = Slabs::new();
        let class = 3;
        let spans: Vec<Vec<*mut Block>> = (0..3)
            .map(|_| blocks(&s.take(class, cap(class)), class))
            .collect();
        // One block of each span back (as random frees leave them).
        for blocks in &spans {
            // SAFETY: granted blocks, given back once.
            unsafe { s.give(chain(&blocks[7..8])) };
        }
        let g = s.take(class, 10);
        assert_eq!((g.chain_len, g.fresh_len), (3, 0), "one from each span");
        let mut got = blocks(&g, class);
        got.sort();
        let mut want: Vec<_> = spans.iter().map(|b| b[7]).collect();
        want.sort();
        assert_eq!(got, want);
        // Nothing partly used is left: the next take opens a new span.
        let fresh = s.take(class, 10);
        assert_eq!((fresh.chain_len, fresh.fresh_len), (0, 10));
        let all: Vec<_> = spans
            .into_iter()
            .flatten()
            .chain(blocks(&fresh, class))
            .collect();
        // SAFETY: every block out, given back once.
        unsafe { s.give(chain(&all)) };
    }

    #[test]
    fn a_large_take_is_a_run_of_spans_carved_across_their_headers() {
        let mut s = Slabs::new();
        let class = 2;
        let g = s.take(class, 3 * cap(class) - 5);
        assert_eq!((g.chain_len, g.fresh_len), (0, 3 * cap(class) - 5));
        assert_eq!(
            (g.populate, g.populate_len),
            (span_of(g.fresh.cast()).cast(), 3 * SPAN)
        );
        let got = blocks(&g, class);
        let first = span_of(got[0]).addr();
        for (i, &b) in got.iter().enumerate() {
            let (span, k) = (i / cap(class) as usize, i % cap(class) as usize);
            assert_eq!(b.addr(), first + span * SPAN + HEADER + k * 24, "block {i}");
            // SAFETY: granted, ours, 24 bytes.
            unsafe { b.cast::<[u64; 3]>().write([i as u64; 3]) };
        }
        // The last span's unused rest is handed out next.
        let rest = s.take(class, 100);
        assert_eq!(rest.fresh_len, 5);
        assert_eq!(span_of(rest.fresh.cast()).addr(), first + 2 * SPAN);
        // The headers survived the writes: the whole range comes back.
        // SAFETY: every block granted, given back once.
        unsafe {
            s.give_range(g.fresh, g.fresh_len);
            s.give_range(rest.fresh, rest.fresh_len);
        }
        assert_eq!(s.warm, 3);
        assert!(s.regions[0].used == 0);
    }

    #[test]
    fn the_reserve_keeps_a_small_maps_region() {
        let mut s = Slabs::new();
        let a = blocks(&s.take(0, 1), 0);
        // SAFETY: granted, given back once.
        unsafe { s.give(chain(&a)) };
        assert!(!s.regions[0].base.is_null());
        assert_eq!(s.warm, 1);
        // Refilled: the same span, no new region.
        let b = blocks(&s.take(0, 1), 0);
        assert_eq!(a, b);
        assert_eq!((s.regions.len(), s.warm), (1, 0));
        // SAFETY: as above.
        unsafe { s.give(chain(&b)) };
    }

    /// The largest run opening a region faults in the whole region; the
    /// next run there faults in nothing; the one after opens a new region;
    /// a small run opening a region faults in only itself
    /// (`a_large_take_is_a_run_of_spans_carved_across_their_headers`).
    #[test]
    fn a_large_run_opening_a_region_faults_in_the_runs_after_it() {
        let mut s = Slabs::new();
        let class = 2;
        let run = most_granted(class);
        assert_eq!(
            run,
            super::super::pool::MAX_REFILL,
            "a refill's largest batch"
        );
        let a = s.take(class, run);
        let base = s.regions[0].base;
        assert_eq!(a.fresh_len, run);
        assert_eq!((a.populate, a.populate_len), (base, REGION_SPANS * SPAN));
        assert_eq!(s.resident_bound(), REGION_SPANS * SPAN);
        let b = s.take(class, run);
        assert_eq!(b.fresh_len, run);
        assert_eq!(
            span_of(b.fresh.cast()).addr(),
            base.addr() + RUN_SPANS * SPAN
        );
        assert_eq!(b.populate_len, 0, "faulted in with the first run");
        let c = s.take(class, run);
        assert_eq!(s.regions.len(), 2);
        assert_eq!(c.populate_len, REGION_SPANS * SPAN);
        // A region whose spans ahead were never used goes back whole once
        // the spans it used are back.
        // SAFETY: every block granted, given back once.
        unsafe {
            s.give_range(a.fresh, a.fresh_len);
            s.give_range(b.fresh, b.fresh_len);
            s.give_range(c.fresh, c.fresh_len);
        }
        assert!(s.resident_bound() <= RESERVE as usize * SPAN);
        assert!(s.regions.iter().all(|r| r.ahead == 0));

        // A region kept for the reserve after its last span came back
        // keeps no spans faulted in ahead: their pages go back.
        let mut s = Slabs::new();
        let d = s.take(class, AHEAD_SPANS as u32 * cap(class));
        assert_eq!(d.populate_len, REGION_SPANS * SPAN);
        assert_eq!(s.resident_bound(), REGION_SPANS * SPAN);
        populate(d.populate, d.populate_len);
        // SAFETY: as above.
        unsafe { s.give_range(d.fresh, d.fresh_len) };
        let base = s.regions[0].base;
        assert!(!base.is_null(), "kept: its spans are the reserve");
        assert_eq!(s.regions[0].ahead, 0);
        assert_eq!(s.resident_bound(), AHEAD_SPANS * SPAN);
        #[cfg(target_os = "linux")]
        if crate::resize::memory::map::residency_unknowable().is_none() {
            // SAFETY: inside the region's mapping.
            let ahead = unsafe { base.add(AHEAD_SPANS * SPAN) };
            let len = (REGION_SPANS - AHEAD_SPANS) * SPAN;
            assert_eq!(crate::resize::memory::map::resident_pages(ahead, len), 0);
        }
    }

    /// A large run whose size does not divide a region faults in the runs
    /// of its size that fit; a single span taken there needs no faulting
    /// in; a run that only partly lies there is faulted in whole.
    #[test]
    fn spans_ahead_serve_runs_of_any_size_that_fit_in_them() {
        let mut s = Slabs::new();
        let class = 2;
        let k = 25; // 50 of the 64 spans: two runs
        let a = s.take(class, k as u32 * cap(class));
        assert_eq!(a.populate_len, 2 * k * SPAN);
        assert_eq!(s.regions[0].ahead, span_bits(k, k));
        // One span of another class, from the spans ahead.
        let one = s.take(5, span_cap(5));
        let base = s.regions[0].base.addr();
        assert_eq!(span_of(one.fresh.cast()).addr(), base + k * SPAN);
        assert_eq!(one.populate_len, 0);
        // A run of 30 from span 26: 24 spans ahead, 6 not.
        let b = s.take(class, 30 * cap(class));
        assert_eq!(span_of(b.fresh.cast()).addr(), base + (k + 1) * SPAN);
        assert_eq!(b.populate_len, 30 * SPAN);
        assert_eq!(s.regions[0].ahead, 0);
        // SAFETY: every block granted, given back once.
        unsafe {
            s.give_range(a.fresh, a.fresh_len);
            s.give_range(one.fresh, one.fresh_len);
            s.give_range(b.fresh, b.fresh_len);
        }
        assert!(s.resident_bound() <= RESERVE as usize * SPAN);
    }

    #[test]
    fn emptied_spans_beyond_the_reserve_give_their_memory_back() {
        let mut s = Slabs::new();
        let class = 31; // 256-byte blocks
        let spans = RESERVE as usize + 20;
        let mut out = Vec::new();
        for _ in 0..spans {
            out.extend(blocks(&s.take(class, cap(class)), class));
        }
        assert_eq!(s.resident_bound(), spans * SPAN);
        // Some blocks of the last span still out: it stays.
        let keep = out.split_off(out.len() - 3);
        // SAFETY: granted blocks, given back once.
        unsafe { s.give(chain(&out)) };
        assert_eq!(s.resident_bound(), (RESERVE as usize + 1) * SPAN);
        assert_eq!(s.warm, RESERVE);
        // A new take reuses a warm span first.
        let g = blocks(&s.take(5, 1), 5);
        assert_eq!(s.warm, RESERVE - 1);
        // SAFETY: as above.
        unsafe {
            s.give(chain(&keep));
            s.give(chain(&g));
        }
        assert!(s.resident_bound() <= RESERVE as usize * SPAN);
    }

    /// Regions are advised against huge pages (the `nh` flag of their
    /// mapping), where the kernel has transparent huge pages.
    #[cfg(target_os = "linux")]
    #[test]
    fn regions_are_on_small_pages() {
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists() {
            return;
        }
        let mut s = Slabs::new();
        let g = blocks(&s.take(4, 1), 4);
        let at = s.regions[0].base.addr();
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("read smaps");
        let mut inside = false;
        let mut flags = None;
        for line in smaps.lines() {
            let range = line.split_once(' ').and_then(|(r, _)| r.split_once('-'));
            if let Some((lo, hi)) = range {
                if let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                {
                    inside = (lo..hi).contains(&at);
                    continue;
                }
            }
            if let Some(f) = line.strip_prefix("VmFlags:").filter(|_| inside) {
                flags = Some(f.split_whitespace().map(str::to_owned).collect::<Vec<_>>());
            }
        }
        let flags = flags.expect("the region's mapping in smaps");
        assert!(flags.iter().any(|f| f == "nh"), "flags {flags:?}");
        // SAFETY: granted blocks, given back once.
        unsafe { s.give(chain(&g)) };
    }

    #[test]
    fn a_region_with_nothing_in_use_is_freed() {
        let mut s = Slabs::new();
        let class = 31;
        let mut first = Vec::new();
        for _ in 0..REGION_SPANS {
            first.extend(blocks(&s.take(class, cap(class)), class));
        }
        let mut second = Vec::new();
        for _ in 0..REGION_SPANS {
            second.extend(blocks(&s.take(class, cap(class)), class));
        }
        assert_eq!(s.regions.len(), 2);
        // All of the first region's blocks but one come back: its emptied
        // spans fill the reserve, the rest are discarded; it stays.
        let last = first.pop().unwrap();
        // SAFETY: granted blocks, given back once.
        unsafe { s.give(chain(&first)) };
        assert!(!s.regions[0].base.is_null());
        assert_eq!(s.warm, RESERVE);
        // The second region empties: freed.
        // SAFETY: as above.
        unsafe { s.give(chain(&second)) };
        assert!(s.regions[1].base.is_null(), "nothing in use: freed");
        // The next span (of a class with no partly used span) is a warm
        // one of the first region.
        let g = blocks(&s.take(30, cap(30)), 30);
        assert_eq!(s.warm, RESERVE - 1);
        let base = s.regions[0].base.addr();
        assert!((base..base + REGION_SPANS * SPAN).contains(&g[0].addr()));
        // Its last block back: the region is freed, its warm spans leave
        // the reserve with it.
        // SAFETY: as above.
        unsafe { s.give(chain(&[last])) };
        assert!(!s.regions[0].base.is_null(), "`g`'s span is still in use");
        // SAFETY: as above.
        unsafe { s.give(chain(&g)) };
        assert!(s.regions.iter().all(|r| r.base.is_null()));
        assert_eq!(s.warm, 0);
        // A freed region's index serves the next region.
        let h = blocks(&s.take(class, 1), class);
        assert_eq!(s.regions.len(), 2);
        assert!(!s.regions[0].base.is_null());
        // SAFETY: as above.
        unsafe { s.give(chain(&h)) };
    }

    /// The searches for a span start past the regions that are full, and
    /// come back to a region as soon as a span of it leaves its class.
    #[test]
    fn span_searches_skip_full_regions_until_one_has_room() {
        let mut s = Slabs::new();
        let class = 31;
        let take_span = |s: &mut Slabs| blocks(&s.take(class, cap(class)), class);
        let mut spans: Vec<Vec<*mut Block>> =
            (0..8 * REGION_SPANS).map(|_| take_span(&mut s)).collect();
        assert_eq!((s.regions.len(), s.open_from), (8, 7));
        // The next span opens a ninth region, past eight full ones.
        spans.push(take_span(&mut s));
        assert_eq!((s.regions.len(), s.open_from), (9, 8));
        // Seventeen spans of region 3 empty: sixteen fill the reserve, the
        // last one's pages go back, and region 3 has room again.
        let region = |s: &Slabs, b: *mut Block| {
            s.regions
                .iter()
                .position(|r| {
                    (r.base.addr()..r.base.addr() + REGION_SPANS * SPAN).contains(&b.addr())
                })
                .unwrap()
        };
        let emptied: Vec<_> = spans
            .drain(3 * REGION_SPANS..3 * REGION_SPANS + 17)
            .collect();
        for blocks in &emptied {
            assert_eq!(region(&s, blocks[0]), 3);
            // SAFETY: granted blocks, given back once.
            unsafe { s.give(chain(blocks)) };
        }
        assert_eq!((s.warm, s.open_from), (RESERVE, 3));
        // The reserve's spans serve first; then the one span of region 3
        // with nothing in it, before the ninth region's room.
        for _ in 0..RESERVE {
            spans.push(take_span(&mut s));
        }
        assert_eq!(s.warm, 0);
        let next = take_span(&mut s);
        assert_eq!(region(&s, next[0]), 3);
        spans.push(next);
        for blocks in &spans {
            // SAFETY: as above.
            unsafe { s.give(chain(blocks)) };
        }
    }

    #[test]
    fn fresh_ranges_come_back_whole() {
        let mut s = Slabs::new();
        // Another span in use keeps the region.
        let other = blocks(&s.take(7, 1), 7);
        let class = 1;
        let g = s.take(class, 50);
        assert_eq!((g.chain_len, g.fresh_len), (0, 50));
        let first: *mut Block = g.fresh.cast();
        // Carve five, give back the rest as a range, then the five.
        // SAFETY: the range's last 45 blocks, unused.
        unsafe { s.give_range(g.fresh.add(5 * 16), 45) };
        let five: Vec<_> = (0..5)
            // SAFETY: inside the range.
            .map(|i| unsafe { g.fresh.add(i * 16) }.cast::<Block>())
            .collect();
        // SAFETY: as above.
        unsafe { s.give(chain(&five)) };
        assert_eq!(s.warm, 1);
        // The span is handed out again from its start.
        let again = s.take(class, 1);
        assert_eq!(again.chain_len + again.fresh_len, 1);
        let b = blocks(&again, class)[0];
        assert_eq!(b, first);
        // SAFETY: as above.
        unsafe {
            s.give(chain(&[b]));
            s.give(chain(&other));
        }
    }

    /// A range given back at its span's `bump` is uncarved without a write
    /// to any of its blocks, across a run's spans; one that a later take
    /// carved past is linked block by block, and each block is handed out
    /// again once.
    #[test]
    fn ranges_at_the_bump_come_back_unwritten() {
        const MARK: usize = 0x5EED_0000_0000_0001;
        let mut s = Slabs::new();
        let class = 2; // 24-byte blocks
        let cap = span_cap(class) as usize;
        // A run of three spans; mark every block past the first ten.
        let g = s.take(class, 3 * cap as u32);
        assert_eq!(g.fresh_len as usize, 3 * cap);
        let mut rest = Vec::new();
        let mut b = g.fresh;
        for i in 0..3 * cap {
            if i >= 10 {
                // SAFETY: a block of the range, unused, 8-aligned.
                unsafe { b.cast::<usize>().write(MARK) };
                rest.push(b);
            }
            b = next_fresh(b, 24);
        }
        // SAFETY: the range's blocks past the first ten, unused.
        unsafe { s.give_range(rest[0], rest.len() as u32) };
        for &b in &rest {
            // SAFETY: the blocks stay mapped: the run's first span holds
            // ten blocks in use, and uncarved spans go warm, not away.
            let word = unsafe { b.cast::<usize>().read() };
            assert_eq!(word, MARK, "a block was written");
        }
        // The first span hands out its eleventh block next: uncarved.
        let next = s.take(class, 1);
        assert_eq!(blocks(&next, class), [rest[0].cast::<Block>()]);
        // A range carved past: take two single blocks of one span, give the
        // first back as a range (not at the bump): linked, then taken again.
        let one = s.take(class, 1);
        let two = s.take(class, 1);
        let (b1, b2) = (blocks(&one, class)[0], blocks(&two, class)[0]);
        // SAFETY: `b1`, unused, was handed out as a one-block fresh range.
        unsafe { s.give_range(b1.cast(), 1) };
        let again = s.take(class, 1);
        assert_eq!(blocks(&again, class), [b1], "the linked block comes back");
        // SAFETY: every block taken above, given back once.
        unsafe {
            s.give(chain(&[b1, b2]));
            s.give(chain(&blocks(&next, class)));
            let first_ten: Vec<_> = (0..10)
                .map(|i| g.fresh.add(i * 24).cast::<Block>())
                .collect();
            s.give(chain(&first_ten));
        }
        // Every span came back, kept resident for reuse (`RESERVE`).
        assert_eq!(s.warm, 3, "every span came back");
    }

    #[test]
    fn threads_never_share_a_block() {
        use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
        let slabs = Mutex::new(Slabs::new());
        let stamp = AtomicU64::new(1);
        std::thread::scope(|sc| {
            for t in 0..4 {
                let (slabs, stamp) = (&slabs, &stamp);
                sc.spawn(move || {
                    let mut held: Vec<(*mut Block, u64)> = Vec::new();
                    let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ t;
                    for _ in 0..20_000 {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        if rng % 3 != 0 || held.is_empty() {
                            let g = slabs.lock().unwrap().take(2, (rng % 40) as u32 + 1);
                            for b in blocks(&g, 2) {
                                let mark = stamp.fetch_add(1, Relaxed);
                                // SAFETY: granted to this thread alone.
                                unsafe { b.cast::<[u64; 3]>().write([mark; 3]) };
                                held.push((b, mark));
                            }
                        } else {
                            let n = (rng as usize / 3 % held.len()) + 1;
                            let back: Vec<_> = held.drain(..n).collect();
                            for &(b, mark) in &back {
                                // SAFETY: still ours.
                                let seen = unsafe { b.cast::<[u64; 3]>().read() };
                                assert_eq!(seen, [mark; 3], "a block was handed out twice");
                            }
                            let c = chain(&back.iter().map(|p| p.0).collect::<Vec<_>>());
                            // SAFETY: granted blocks, given back once.
                            unsafe { slabs.lock().unwrap().give(c) };
                        }
                    }
                    let c = chain(&held.iter().map(|p| p.0).collect::<Vec<_>>());
                    // SAFETY: as above.
                    unsafe { slabs.lock().unwrap().give(c) };
                });
            }
        });
        let s = slabs.into_inner().unwrap();
        assert!(
            s.resident_bound() <= RESERVE as usize * SPAN,
            "every span emptied"
        );
    }
}
