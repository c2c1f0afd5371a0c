//! Entry memory: a per-thread cache of freed entry blocks, by size class.
//!
//! The generic map allocates an entry on every insert and frees one for
//! every entry the reclaimer lets go. Through the global allocator that was
//! about 200 of a write's 530 instructions (glibc: a retired entry is freed
//! in a batch of 64, which overflows its 7-block thread cache and takes the
//! slow path; `docs/benchmarks.md`, "Issue #14"). So an entry's block, once
//! freed, goes onto the freeing thread's own list for its size class, and
//! the next entry of that size allocated on that thread takes it back: a
//! push and a pop on a thread-local list, no atomic instruction.
//!
//! * **Classes.** A block of class `c` is `8 * (c + 1)` bytes, 8-aligned;
//!   entries up to 256 bytes with alignment at most 8 use the class their
//!   size rounds up to, and always allocate and free through it. Larger or
//!   more aligned entries use the global allocator directly.
//! * **Spans underneath.** Blocks come from, and go back to, the spans of
//!   `slab.rs`, which pack a class's blocks end to end (a 24-byte entry
//!   costs 24 bytes, not glibc's 32-byte chunk) and give a span's memory
//!   back to the kernel once all its blocks are back.
//! * **Bound.** A thread keeps at most twice its recent allocations of a
//!   class per window of 4096 frees (the last window's, or half the
//!   previous estimate if more: [`List::adapt`]), and never more than
//!   [`CAP_BYTES`] (1 MiB) per class, plus [`FLUSH`] blocks and the rest of
//!   its last refill's fresh range (up to a run of spans, 512 KiB); beyond
//!   that freed blocks go back to the spans, `FLUSH` at a time. A thread
//!   that empties a map keeps almost nothing within a few windows (the
//!   estimate halves with each), so its cached blocks do not pin spans.
//!   Windows are counted in the thread's own frees: a thread that only
//!   allocates (a loader, a rayon worker after `par_extend`, whose entries
//!   are freed on other threads or not at all) never ends one, and keeps
//!   the rest of its last refill per class, up to [`MAX_REFILL`] blocks
//!   within a run of 32 spans (510 KiB of 24-byte blocks, whose pages the
//!   refill faulted in), until it exits: for good, on a pool's threads that
//!   never exit. When the thread exits, its cache gives every block back.
//!   So memory follows the maps: a map that shrinks or drops returns its
//!   entries' blocks to the spans, except at most `CAP_BYTES` per class on
//!   each thread that freed them, and the unused rest of a refill per
//!   class on each thread that allocated them, until that thread ends a
//!   window of frees without allocating, or exits.
//! * **Refills.** An empty list takes a batch of blocks at once
//!   ([`List::refill`]: doubling, at most 21,760, `CAP_BYTES` and a run of
//!   32 spans), so that the spans' lock is taken once per batch and the
//!   page faults of fresh blocks land in one allocation per thousands, not
//!   in one in a hundred and seventy. A thread that only allocates
//!   therefore keeps up to a batch of unused blocks per class until it
//!   allocates them or exits ("Bound").
//! * **Any map, any backend.** The cache knows nothing of maps: a block
//!   freed by one map's reclaimer may hold the next entry of another map of
//!   the same class. It serves every reclamation backend the same way.
//! * **Off** under loom (a model must not carry blocks from one execution
//!   into the next) and with `--cfg lfmap_no_pool` (CI's AddressSanitizer
//!   run, so that a use after free of an entry is reported rather than
//!   hidden by a cached block).

use std::alloc::{handle_alloc_error, Layout};
use std::cell::Cell;
use std::ptr;

use super::slab::{self, Block};

/// Size classes: blocks of 8, 16, ..., 256 bytes.
const CLASSES: usize = 32;
/// Bytes kept per class per thread: enough for the entries a busy thread
/// frees between two of the reclaimer's paced epoch bumps (a millisecond
/// at most: about 10,000 entries at 10 million writes per second), so that
/// the next millisecond's allocations find them here.
const CAP_BYTES: usize = 1 << 20;

/// Blocks kept for class `class` per thread.
#[inline]
fn cap(class: usize) -> u32 {
    (CAP_BYTES / (8 * (class + 1))) as u32
}

/// Most blocks one refill of an empty list asks for ([`List::refill`]): a
/// run of spans of 24-byte blocks (`slab::most_granted`, which also bounds
/// what a refill of another size gets).
pub(super) const MAX_REFILL: u32 = 21_760;

/// Blocks a list may hold beyond its limit before it gives them back
/// (in one batch, so the spans' lock is taken once per batch).
const FLUSH: u32 = 64;

/// Whether the cache is in use (see the module docs).
const ENABLED: bool = !cfg!(any(loom, lfmap_no_pool));

/// One class's free blocks on one thread.
struct List {
    head: Cell<*mut Block>,
    len: Cell<u32>,
    /// Blocks the list may hold now ([`List::adapt`]).
    limit: Cell<u32>,
    /// Allocations and frees of this class on this thread in the current
    /// window of [`WINDOW`] frees.
    allocs: Cell<u32>,
    frees: Cell<u32>,
    /// The thread's recent allocations per window: the last window's, or
    /// half the previous estimate if that is more ([`adapt`](Self::adapt)).
    peak: Cell<u32>,
    /// Blocks the next refill asks for ([`List::refill`]).
    refill: Cell<u32>,
    /// The rest of the fresh range of the last refill: `fresh_left`
    /// untouched blocks from `fresh`, carved one by one after the list.
    fresh: Cell<*mut u8>,
    fresh_left: Cell<u32>,
}

/// Frees per adaptation window.
const WINDOW: u32 = 4096;

impl List {
    const fn new() -> List {
        List {
            head: Cell::new(ptr::null_mut()),
            len: Cell::new(0),
            limit: Cell::new(WINDOW),
            allocs: Cell::new(0),
            frees: Cell::new(0),
            peak: Cell::new(0),
            refill: Cell::new(1),
            fresh: Cell::new(ptr::null_mut()),
            fresh_left: Cell::new(0),
        }
    }

    /// Takes blocks for an empty list from the spans (`slab.rs`): returns
    /// one (null if no memory could be mapped) and keeps the others. The
    /// batch doubles on each refill (up to [`MAX_REFILL`] and [`cap`]) and
    /// starts again at each window's end from the thread's recent
    /// allocations per window ([`adapt`](Self::adapt)), so a thread holds
    /// at most about as many unused blocks as it allocates in a window.
    ///
    /// Why batches: a thread that inserts new keys faster than it frees
    /// takes fresh blocks, and a fresh page faults when first written
    /// (microseconds: one insert in 128 took one with 32-byte blocks, the
    /// p99 of a growing map). A large refill's fresh range is a run of
    /// spans faulted in at once (`Slabs::take_run`), so those faults land
    /// in the refill, one write in thousands, instead (docs/benchmarks.md,
    /// "Issue #15"); and the spans' lock is taken once per batch.
    #[cold]
    fn refill(&self, class: usize) -> *mut Block {
        debug_assert!(self.head.get().is_null() && self.fresh_left.get() == 0);
        let n = self.refill.get().min(cap(class)).max(1);
        let grant = slab::slabs().take(class, n);
        // The batch doubles after a full grant only (or one as large as a
        // grant gets): a grant cut short by the rest of a partly used span
        // does not count as a batch taken.
        if grant.chain_len + grant.fresh_len >= n.min(slab::most_granted(class)) {
            self.refill.set(n.saturating_mul(2).min(MAX_REFILL));
        }
        self.head.set(grant.chain);
        self.len.set(grant.chain_len);
        self.fresh.set(grant.fresh);
        self.fresh_left.set(grant.fresh_len);
        if grant.populate_len > 0 {
            slab::populate(grant.populate, grant.populate_len);
        }
        self.next(class)
    }

    /// Puts `block` at the head of the list.
    ///
    /// # Safety
    ///
    /// `block` is free, ours, at least 8 bytes and 8-aligned.
    #[inline]
    unsafe fn link(&self, block: *mut Block) {
        // SAFETY: the caller's: its first word becomes the link.
        unsafe {
            block.write(Block {
                next: self.head.get(),
            })
        };
        self.head.set(block);
        self.len.set(self.len.get() + 1);
    }

    /// Takes a cached block, or null.
    #[inline]
    fn pop(&self, class: usize) -> *mut Block {
        self.allocs.set(self.allocs.get().wrapping_add(1));
        let b = self.next(class);
        if b.is_null() {
            self.refill(class)
        } else {
            b
        }
    }

    /// The list's first block, else the fresh range's next, else null.
    #[inline]
    fn next(&self, class: usize) -> *mut Block {
        let b = self.head.get();
        if !b.is_null() {
            // SAFETY: a block on the list is free and ours; its first word
            // is its link.
            self.head.set(unsafe { (*b).next });
            self.len.set(self.len.get() - 1);
            return b;
        }
        let left = self.fresh_left.get();
        if left == 0 {
            return ptr::null_mut();
        }
        let f = self.fresh.get();
        self.fresh_left.set(left - 1);
        // Blocks of the range lie end to end, `class_size` apart, each
        // span's after its header (`slab::next_fresh`).
        self.fresh.set(slab::next_fresh(f, class_size(class)));
        f.cast()
    }

    /// Keeps `block`; gives the list's excess back to the spans in one
    /// batch once it is [`FLUSH`] blocks over its limit.
    ///
    /// # Safety
    ///
    /// `block` is a block of class `class` that came from the spans
    /// (through any thread's list), is free (nothing uses it any more), and
    /// is given back once.
    #[inline]
    unsafe fn push(&self, block: *mut Block, class: usize) {
        let frees = self.frees.get() + 1;
        self.frees.set(frees);
        if frees >= WINDOW {
            self.adapt(class);
        }
        // SAFETY: the caller's: free and ours, and a block of a class is
        // at least 8 bytes, 8-aligned.
        unsafe { self.link(block) };
        if self.len.get() > self.limit.get() + FLUSH {
            self.give_back(self.len.get() - self.limit.get());
        }
    }

    /// Gives the first `n` (at most `len`) blocks of the list back to the
    /// spans.
    #[cold]
    fn give_back(&self, n: u32) {
        if let Some(first) = self.unlink(n) {
            // SAFETY: `unlink`'s chain: free blocks of the spans, no longer
            // on the list, so given back once.
            unsafe { slab::slabs().give(first) };
        }
    }

    /// Unlinks the first `n` (at most `len`) blocks of the list: a chain of
    /// free blocks of the spans, taken by a refill (this thread's or
    /// another's), for the caller to give back once; `None` if `n` is 0.
    fn unlink(&self, n: u32) -> Option<*mut Block> {
        let n = n.min(self.len.get());
        if n == 0 {
            return None;
        }
        let first = self.head.get();
        // SAFETY: `1 <= n <= len` free blocks of ours are linked from
        // `head`.
        let (_, rest) = unsafe { slab::cut(first, n) };
        self.head.set(rest);
        self.len.set(self.len.get() - n);
        Some(first)
    }

    /// Gives back the rest of the fresh range.
    fn give_fresh(&self) {
        if let Some((fresh, left)) = self.unlink_fresh() {
            // SAFETY: `unlink_fresh`'s range, given back once.
            unsafe { slab::slabs().give_range(fresh, left) };
        }
    }

    /// Takes the rest of the fresh range off the list: `left` blocks from
    /// `fresh` of a granted range, never handed out, for the caller to give
    /// back once; `None` if none is left.
    fn unlink_fresh(&self) -> Option<(*mut u8, u32)> {
        let left = self.fresh_left.replace(0);
        (left > 0).then(|| (self.fresh.get(), left))
    }

    /// Ends a window: the list may hold twice the thread's recent
    /// allocations per window (plus a little), at most [`cap`]; blocks
    /// beyond that go back to the spans now, and so does the fresh range
    /// if the window allocated nothing. The next refill takes the recent
    /// allocations' worth.
    ///
    /// The recent allocations are this window's, or half the previous
    /// estimate if that is more. Frees come in bursts (a paced epoch bump
    /// makes a millisecond's retirements freeable at once), so a window of
    /// frees can close inside a burst having seen few of the thread's
    /// allocations. Sized by that window alone, the list of a thread that
    /// allocates more than it frees (a map that grows while it is updated)
    /// gave the burst back to the spans and took it again at its next
    /// refill, each under the spans' lock; and refills restarted at half a
    /// window's allocations. With 4 writers growing a map while they update
    /// it, each writer took the spans' lock 2,000–2,600 times (1,500–2,200
    /// give-backs, 330–400 refills); with the estimate, 860–1,400 (630–1,140
    /// give-backs, 180–230 refills) (docs/benchmarks.md, "Bursts of
    /// frees"). A thread that stops allocating (a map being emptied) still
    /// drops to the floor within a few windows (log2 of its estimate), so
    /// its freed blocks do not pin spans; one that allocates as much as it
    /// frees (steady writes) keeps a window's worth.
    #[cold]
    fn adapt(&self, class: usize) {
        let allocs = self.allocs.get();
        let peak = allocs.max(self.peak.get() / 2);
        self.peak.set(peak);
        let limit = peak.saturating_mul(2).saturating_add(64).min(cap(class));
        self.limit.set(limit);
        self.allocs.set(0);
        self.frees.set(0);
        // The next refill: the recent allocations per window.
        self.refill.set(peak.clamp(1, MAX_REFILL));
        if self.len.get() > limit {
            self.give_back(self.len.get() - limit);
        }
        if allocs == 0 {
            self.give_fresh();
        }
    }
}

/// A thread's lists.
struct Cache {
    lists: [List; CLASSES],
}

impl Drop for Cache {
    /// A thread's exit gives every cached block back to the spans, under
    /// one lock (none if the cache holds nothing). In a forked child whose
    /// parent's threads may have held the lock at the fork, the blocks are
    /// kept instead if the lock is taken ([`slab::slabs_at_exit`]).
    fn drop(&mut self) {
        let mut slabs = None;
        for list in &self.lists {
            let blocks = list.unlink(list.len.get());
            let fresh = list.unlink_fresh();
            if blocks.is_none() && fresh.is_none() {
                continue;
            }
            if slabs.is_none() {
                slabs = Some(slab::slabs_at_exit());
            }
            let Some(Some(slabs)) = slabs.as_mut() else {
                return; // kept: the child's exit takes them
            };
            if let Some(first) = blocks {
                // SAFETY: `unlink`'s chain, given back once.
                unsafe { slabs.give(first) };
            }
            if let Some((fresh, left)) = fresh {
                // SAFETY: `unlink_fresh`'s range, given back once.
                unsafe { slabs.give_range(fresh, left) };
            }
        }
    }
}

thread_local! {
    static CACHE: Cache = const {
        Cache {
            lists: [const { List::new() }; CLASSES],
        }
    };
}

/// Bytes per block of class `class`.
#[inline]
fn class_size(class: usize) -> usize {
    8 * (class + 1)
}

/// The class `T`'s blocks come from, or `None` if `T` bypasses the cache.
#[inline(always)]
fn class_of<T>() -> Option<usize> {
    let layout = Layout::new::<T>();
    if !ENABLED || layout.size() == 0 || layout.size() > 8 * CLASSES || layout.align() > 8 {
        return None;
    }
    Some(layout.size().div_ceil(8) - 1)
}

/// Allocates a block for a `T` and moves `value` into it.
#[inline]
pub(crate) fn alloc_with<T>(value: T) -> *mut T {
    let Some(class) = class_of::<T>() else {
        return Box::into_raw(Box::new(value));
    };
    let block = CACHE
        .try_with(|c| c.lists[class].pop(class))
        .unwrap_or_else(|_| take_one(class));
    if block.is_null() {
        // The region the block would have come from could not be had:
        // reported with its size, not the entry's (found by an outside
        // test: "memory allocation of 24 bytes failed").
        handle_alloc_error(slab::region_layout());
    }
    let block = block.cast::<T>();
    // SAFETY: the block is at least `size_of::<T>()` bytes (its class
    // rounds the size up), 8-aligned (at least `T`'s alignment), and ours.
    unsafe { block.write(value) };
    block
}

/// Gives back the block of `ptr`, whose value was already dropped or moved
/// out.
///
/// # Safety
///
/// `ptr` came from [`alloc_with::<T>`], its value is no longer used, and
/// the block is given back once.
#[inline]
pub(crate) unsafe fn release<T>(ptr: *mut T) {
    let Some(class) = class_of::<T>() else {
        // SAFETY: `alloc_with` made this block with `Box::new` (a bypassing
        // type); `MaybeUninit` frees it without dropping the value again.
        drop(unsafe { Box::from_raw(ptr.cast::<std::mem::MaybeUninit<T>>()) });
        return;
    };
    let block = ptr.cast::<Block>();
    if CACHE
        // SAFETY: the caller's: a block of `class` from the spans
        // (`alloc_with` took it from a list or from them), its value gone,
        // given back once.
        .try_with(|c| unsafe { c.lists[class].push(block, class) })
        .is_err()
    {
        // The thread's cache is gone (a free during thread exit): straight
        // back to the spans.
        // SAFETY: a block of the spans (`alloc_with`), free, given back
        // once; it is made a chain of one. Kept instead (leaked) in a
        // forked child whose lock may be held for good (`slabs_at_exit`).
        unsafe {
            block.write(Block {
                next: ptr::null_mut(),
            });
            if let Some(mut slabs) = slab::slabs_at_exit() {
                slabs.give(block);
            }
        }
    }
}

/// One block of `class` straight from the spans (the thread's cache is
/// gone: an allocation during thread exit); null if out of memory.
#[cold]
fn take_one(class: usize) -> *mut Block {
    let grant = slab::slabs().take(class, 1);
    if grant.chain_len > 0 {
        grant.chain
    } else {
        grant.fresh.cast()
    }
}

/// Drops the value at `ptr` and gives its block back (to this thread's
/// cache, or to the spans). If the value's drop panics, the block is
/// still given back.
///
/// # Safety
///
/// `ptr` came from [`alloc_with::<T>`], nothing uses it any more, and it
/// is freed once.
#[inline]
pub(crate) unsafe fn free<T>(ptr: *mut T) {
    /// Gives the block back when dropped, also while a panic unwinds.
    struct Release<T>(*mut T);
    impl<T> Drop for Release<T> {
        fn drop(&mut self) {
            // SAFETY: `free`'s caller: from `alloc_with`, freed once; the
            // value is dropped (or its drop panicked) before this runs.
            unsafe { release(self.0) }
        }
    }
    let block = Release(ptr);
    // SAFETY: the caller's: the value is live and used by nobody else.
    unsafe { ptr::drop_in_place(block.0) };
}

/// Moves the value out of `ptr` and gives its block back.
///
/// # Safety
///
/// As for [`free`].
#[inline]
pub(crate) unsafe fn take<T>(ptr: *mut T) -> T {
    // SAFETY: the caller's: live, ours alone; read once, then the block
    // (no longer holding a value) is given back once.
    unsafe {
        let value = ptr::read(ptr);
        release(ptr);
        value
    }
}

/// Blocks cached for class of `T` on this thread, its fresh range
/// included (tests).
#[cfg(test)]
pub(crate) fn cached<T>() -> u32 {
    class_of::<T>().map_or(0, |class| {
        CACHE
            .try_with(|c| c.lists[class].len.get() + c.lists[class].fresh_left.get())
            .unwrap_or(0)
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::rc::Rc;

    /// A child forked while another thread holds the spans' lock exits
    /// without waiting for it. glibc's `exit` runs the exiting thread's
    /// thread-local destructors, the entry cache's among them, which gave
    /// its blocks back under the lock, whose holder does not exist in the
    /// child: the child hung in `exit` though it never used a map (found
    /// by review: 33 of 300 forks of a process with a busy map hung).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_forked_childs_exit_leaves_a_held_lock_alone() {
        use std::sync::mpsc;
        use std::time::{Duration, Instant};
        if !ENABLED {
            return;
        }
        // This thread's cache holds a block for its exit to give back.
        let a = alloc_with([1u64, 2, 3]);
        // SAFETY: from alloc_with, freed once.
        unsafe { free(a) };
        assert!(cached::<[u64; 3]>() > 0);
        let (locked, wait_locked) = mpsc::channel();
        let (release, wait_release) = mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let _slabs = slab::slabs();
            locked.send(()).unwrap();
            let _ = wait_release.recv();
        });
        wait_locked.recv().unwrap();
        // SAFETY: the child calls nothing but `exit`, which runs this
        // thread's thread-local destructors (the code under test) and the
        // process's exit handlers; glibc resets its own locks in a child.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: ends the child.
            unsafe { libc::exit(0) };
        }
        assert!(pid > 0, "fork failed: {}", std::io::Error::last_os_error());
        // The child exits at once, or never: a minute is no speed bound.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut status = 0;
        let exited = loop {
            // SAFETY: waits for our own child, writing `status`.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                break true;
            }
            assert_eq!(r, 0, "waitpid: {}", std::io::Error::last_os_error());
            if Instant::now() > deadline {
                // SAFETY: ends and reaps our own child.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut status, 0);
                }
                break false;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        drop(release);
        holder.join().unwrap();
        assert!(exited, "the forked child hung in its exit");
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    }

    #[test]
    fn a_freed_block_serves_the_next_allocation_of_its_class() {
        if !ENABLED {
            return;
        }
        let before = cached::<[u64; 3]>();
        let a = alloc_with([1u64, 2, 3]);
        // SAFETY: from alloc_with, freed once.
        unsafe { free(a) };
        assert_eq!(cached::<[u64; 3]>(), before + 1);
        // Another type of the same class takes the same block.
        let b = alloc_with((7u32, 8u64, 9u64));
        assert_eq!(b.cast::<u8>(), a.cast::<u8>());
        // SAFETY: as above.
        assert_eq!(unsafe { take(b) }, (7, 8, 9));
    }

    #[test]
    fn values_are_dropped_once_and_the_cache_is_bounded() {
        let rc = Rc::new(());
        // Two windows and a bit of frees, after the allocations: the first
        // window (which saw them) keeps every block, and so does the
        // second (which saw none: the estimate halves, to about the blocks
        // held); further windows without allocations trim the list to its
        // floor.
        let n = 2 * WINDOW + 100;
        let ptrs: Vec<_> = (0..n).map(|_| alloc_with(rc.clone())).collect();
        assert_eq!(Rc::strong_count(&rc), n as usize + 1);
        for p in ptrs {
            // SAFETY: from alloc_with, freed once.
            unsafe { free(p) };
        }
        assert_eq!(Rc::strong_count(&rc), 1);
        if ENABLED {
            let kept = cached::<Rc<()>>();
            assert!(
                kept >= n,
                "{kept} of {n} blocks kept after one free-only window"
            );
            let class = class_of::<Rc<()>>().unwrap();
            // Windows without allocations: the estimate halves with each
            // (from about 8,300: fourteen windows bring it to zero).
            CACHE.with(|c| {
                for _ in 0..14 {
                    c.lists[class].adapt(class);
                }
            });
            let kept = cached::<Rc<()>>();
            assert!(kept <= 64, "{kept} blocks kept after free-only windows");
        }
    }

    #[test]
    fn refills_double_up_to_their_bound_and_restart_after_a_window() {
        if !ENABLED {
            return;
        }
        // A class no other test on this thread uses: 248-byte blocks.
        type T = [u64; 31];
        let mut ptrs = Vec::new();
        // Allocations only: each refill of the empty list doubles its batch,
        // so what is cached stays below what was allocated.
        for i in 0..5000u64 {
            ptrs.push(alloc_with([i; 31]));
            let cached = u64::from(cached::<T>());
            assert!(
                cached <= i + 1,
                "{cached} cached after {} allocations",
                i + 1
            );
        }
        CACHE.with(|c| {
            let list = &c.lists[class_of::<T>().unwrap()];
            assert!(list.refill.get() > 4096 && list.refill.get() <= MAX_REFILL);
        });
        for (i, p) in ptrs.into_iter().enumerate() {
            // SAFETY: from alloc_with, freed once.
            assert_eq!(unsafe { take(p) }, [i as u64; 31]);
        }
        // A window ended among those frees (4096 of them, after the 5000
        // allocations): the batch starts again at those.
        CACHE.with(|c| {
            let list = &c.lists[class_of::<T>().unwrap()];
            assert_eq!(list.refill.get(), 5000);
            // The list gives back in batches of `FLUSH` beyond its limit.
            assert!(list.len.get() <= cap(class_of::<T>().unwrap()) + FLUSH);
        });
    }

    #[test]
    fn a_window_without_allocations_gives_the_fresh_range_back() {
        if !ENABLED {
            return;
        }
        // A class no other test on this thread uses: 232-byte blocks.
        type T = [u64; 29];
        let class = class_of::<T>().unwrap();
        // Enough allocations that the last refill leaves a fresh range.
        let ptrs: Vec<_> = (0..300u64).map(|i| alloc_with([i; 29])).collect();
        let fresh = CACHE.with(|c| c.lists[class].fresh_left.get());
        assert!(fresh > 0, "a refill left a fresh range");
        // A window of frees (the first ends after these 300 frees plus
        // 3,796 more; the allocations count in it), then a window of frees
        // alone: its end gives the range back.
        let (a, b) = ptrs.split_at(150);
        for &p in a {
            // SAFETY: from alloc_with, freed once.
            unsafe { free(p) };
        }
        CACHE.with(|c| {
            let list = &c.lists[class];
            list.frees.set(WINDOW - 1);
        });
        // This free ends the window that saw the allocations.
        // SAFETY: as above.
        unsafe { free(b[0]) };
        assert_eq!(CACHE.with(|c| c.lists[class].fresh_left.get()), fresh);
        CACHE.with(|c| c.lists[class].frees.set(WINDOW - 1));
        // And this one ends a window without allocations.
        // SAFETY: as above.
        unsafe { free(b[1]) };
        assert_eq!(CACHE.with(|c| c.lists[class].fresh_left.get()), 0);
        for &p in &b[2..] {
            // SAFETY: as above.
            unsafe { free(p) };
        }
    }

    #[test]
    fn large_and_overaligned_types_bypass_the_cache() {
        #[repr(align(64))]
        struct Wide(u8);
        assert_eq!(class_of::<Wide>(), None);
        assert_eq!(class_of::<[u8; 300]>(), None);
        let p = alloc_with(Wide(5));
        assert_eq!(p.addr() % 64, 0);
        // SAFETY: from alloc_with, freed once.
        assert_eq!(unsafe { take(p) }.0, 5);
        let q = alloc_with([9u8; 300]);
        // SAFETY: as above.
        unsafe { free(q) };
    }
}
