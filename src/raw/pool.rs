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
//! * **Bound.** A thread keeps at most twice the blocks of a class it
//!   allocated in the last window of 4096 frees, and never more than
//!   [`CAP_BYTES`] (1 MiB) per class; beyond that a freed block goes back
//!   to the global allocator. A thread that empties a map keeps almost
//!   nothing, so its cached blocks do not pin the heap's pages. When the thread
//!   exits, its cache gives every block back. So memory follows the maps:
//!   a map that shrinks or drops returns its entries' blocks to the
//!   allocator, except at most `CAP_BYTES` per class on each thread that
//!   freed them.
//! * **Refills.** An empty list allocates a batch of blocks at once
//!   ([`List::refill`]: doubling, at most 16,384 and `CAP_BYTES`), so that
//!   the page faults of fresh heap land in one allocation per thousands,
//!   not in one in a hundred. A thread that only allocates (its entries
//!   freed on other threads) therefore keeps up to a batch of unused
//!   blocks per class, within `CAP_BYTES`, until it allocates them or
//!   exits.
//! * **Any map, any backend.** The cache knows nothing of maps: a block
//!   freed by one map's reclaimer may hold the next entry of another map of
//!   the same class. It serves every reclamation backend the same way.
//! * **Off** under loom (a model must not carry blocks from one execution
//!   into the next) and with `--cfg lfmap_no_pool` (CI's AddressSanitizer
//!   run, so that a use after free of an entry is reported rather than
//!   hidden by a cached block).

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::cell::Cell;
use std::ptr;

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

/// Most blocks one refill of an empty list allocates ([`List::refill`]).
const MAX_REFILL: u32 = 16 * 1024;

/// Whether the cache is in use (see the module docs).
const ENABLED: bool = !cfg!(any(loom, lfmap_no_pool));

/// A free block's first word: the next free block of its list.
struct Block {
    next: *mut Block,
}

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
    /// Blocks the next refill allocates ([`List::refill`]).
    refill: Cell<u32>,
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
            refill: Cell::new(1),
        }
    }

    /// Allocates blocks for an empty list: returns one (null if the
    /// allocator has none) and caches the others. The batch doubles on
    /// each refill (up to [`MAX_REFILL`] and [`cap`]) and starts again at
    /// each window's end from half of what the window allocated
    /// ([`adapt`](Self::adapt)), so a thread holds at most about as many
    /// unused blocks as it allocated lately.
    ///
    /// Why batches: a thread that inserts new keys faster than it frees
    /// allocates blocks the allocator carves from fresh heap, and a fresh
    /// page faults when first written (microseconds: one insert in 128
    /// took one with 32-byte blocks, the p99 of a growing map). In a batch
    /// those faults land in the refill, one write in thousands, instead
    /// (docs/benchmarks.md, "Issue #15").
    #[cold]
    fn refill(&self, class: usize) -> *mut Block {
        let layout = class_layout(class);
        let n = self.refill.get().min(cap(class)).max(1);
        self.refill.set(n.saturating_mul(2).min(MAX_REFILL));
        // SAFETY: the layout is nonzero in size.
        let first = unsafe { alloc(layout) }.cast::<Block>();
        if first.is_null() {
            return first;
        }
        for _ in 1..n {
            // SAFETY: as above.
            let b = unsafe { alloc(layout) }.cast::<Block>();
            if b.is_null() {
                break;
            }
            // SAFETY: a fresh block of at least 8 bytes, 8-aligned, ours.
            unsafe { self.link(b) };
        }
        first
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
    fn pop(&self) -> *mut Block {
        self.allocs.set(self.allocs.get().wrapping_add(1));
        let b = self.head.get();
        if !b.is_null() {
            // SAFETY: a block on the list is free and ours; its first word
            // is its link.
            self.head.set(unsafe { (*b).next });
            self.len.set(self.len.get() - 1);
        }
        b
    }

    /// Keeps `block` if the list is below its limit; returns whether it did
    /// (else the caller gives it to the allocator).
    #[inline]
    fn push(&self, block: *mut Block, class: usize) -> bool {
        let frees = self.frees.get() + 1;
        self.frees.set(frees);
        if frees >= WINDOW {
            self.adapt(class);
        }
        if self.len.get() >= self.limit.get() {
            return false;
        }
        // SAFETY: the block is ours and at least 8 bytes, 8-aligned.
        unsafe { self.link(block) };
        true
    }

    /// Ends a window: the list may hold twice what this thread allocated
    /// in it (plus a little), at most [`cap`]; blocks beyond that go back
    /// to the allocator now. A thread that frees much and allocates little
    /// (a map being emptied) thus keeps almost nothing, and its freed
    /// blocks do not pin pages of the heap; one that allocates as much as
    /// it frees (steady writes) keeps a window's worth.
    #[cold]
    fn adapt(&self, class: usize) {
        let allocs = self.allocs.get();
        let limit = allocs.saturating_mul(2).saturating_add(64).min(cap(class));
        self.limit.set(limit);
        self.allocs.set(0);
        self.frees.set(0);
        // The next refill: about half of what this window allocated.
        self.refill.set((allocs / 2).clamp(1, MAX_REFILL));
        let layout = class_layout(class);
        while self.len.get() > limit {
            let b = self.head.get();
            // SAFETY: `len > 0`, so `b` is a cached block, ours; unlinked,
            // then given back once, with its class's layout.
            unsafe {
                self.head.set((*b).next);
                dealloc(b.cast(), layout);
            }
            self.len.set(self.len.get() - 1);
        }
    }
}

/// A thread's lists.
struct Cache {
    lists: [List; CLASSES],
}

impl Drop for Cache {
    fn drop(&mut self) {
        for (class, list) in self.lists.iter().enumerate() {
            let layout = class_layout(class);
            let mut b = list.head.replace(ptr::null_mut());
            while !b.is_null() {
                // SAFETY: every block on a list is a free block of this
                // class's layout, owned by the list; unlinked, then freed
                // once.
                unsafe {
                    let next = (*b).next;
                    dealloc(b.cast(), layout);
                    b = next;
                }
            }
            list.len.set(0);
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

/// The layout of class `class`'s blocks.
#[inline]
fn class_layout(class: usize) -> Layout {
    // 8 * 32 bytes, 8-aligned: always a valid layout.
    Layout::from_size_align(8 * (class + 1), 8).expect("a size class layout")
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
    let cached = CACHE
        .try_with(|c| {
            let list = &c.lists[class];
            let b = list.pop();
            if b.is_null() {
                list.refill(class)
            } else {
                b
            }
        })
        .unwrap_or(ptr::null_mut());
    let block = if cached.is_null() {
        let layout = class_layout(class);
        // SAFETY: the layout is nonzero in size.
        let p = unsafe { alloc(layout) };
        if p.is_null() {
            handle_alloc_error(layout);
        }
        p.cast::<T>()
    } else {
        cached.cast::<T>()
    };
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
unsafe fn release<T>(ptr: *mut T) {
    let Some(class) = class_of::<T>() else {
        // SAFETY: `alloc_with` made this block with `Box::new` (a bypassing
        // type); `MaybeUninit` frees it without dropping the value again.
        drop(unsafe { Box::from_raw(ptr.cast::<std::mem::MaybeUninit<T>>()) });
        return;
    };
    let block = ptr.cast::<Block>();
    let kept = CACHE
        .try_with(|c| c.lists[class].push(block, class))
        .unwrap_or(false);
    if !kept {
        // SAFETY: allocated with this class's layout by `alloc_with`.
        unsafe { dealloc(ptr.cast(), class_layout(class)) };
    }
}

/// Drops the value at `ptr` and gives its block back (to this thread's
/// cache, or to the allocator). If the value's drop panics, the block is
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

/// Blocks cached for class of `T` on this thread (tests).
#[cfg(test)]
pub(crate) fn cached<T>() -> u32 {
    class_of::<T>().map_or(0, |class| {
        CACHE.try_with(|c| c.lists[class].len.get()).unwrap_or(0)
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::rc::Rc;

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
        // window (which saw them) keeps every block, the second (which saw
        // none) trims the list to its floor.
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
                kept <= 64 + 100,
                "{kept} blocks kept after a free-only window"
            );
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
        // allocations): the batch starts again at half of those.
        CACHE.with(|c| {
            let list = &c.lists[class_of::<T>().unwrap()];
            assert_eq!(list.refill.get(), 2500);
            assert!(list.len.get() <= cap(class_of::<T>().unwrap()));
        });
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
