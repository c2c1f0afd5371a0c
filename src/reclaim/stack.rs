//! The crate's one lock-free stack: Treiber's, with no pop.
//!
//! Every stack of the reclamation code is this type: the table reclaimer's
//! queue of retired tables and sealed batches (push, take all), and the
//! generic map's per-table deferred-retirement stack (`raw/table.rs`): push
//! with `SeqCst`, take all with `SeqCst`, drain what is left when the table
//! drops.
//!
//! # Operations
//!
//! * [`push`](Stack::push): one heap node per value, linked in by a CAS on
//!   the head;
//! * [`take_all`](Stack::take_all): swaps the head with null; the caller
//!   owns every node pushed before, as a [`Taken`] list (an owning iterator,
//!   newest first, that frees what it is not asked for when dropped);
//! * drop: frees every node left, dropping its value.
//!
//! There is no pop, so there is no ABA problem: a node leaves the stack only
//! by a take of the whole list, and a push never dereferences the head it
//! links to (it stores it in its own node and compares it). If the head
//! went away and came back between the push's load and its CAS, the CAS
//! succeeds and links the node to the head that is there: still correct.
//!
//! # Orderings
//!
//! Each operation that synchronises takes the ordering of its one
//! synchronising access as an argument, so every call site states (and
//! justifies) what it needs. The contract:
//!
//! * `push`: the ordering of the successful CAS, at least
//!   `Release`: whoever later reads the new head with `Acquire` (a take)
//!   sees the node's value and link, and everything the pusher did
//!   before the push. Every concurrent modification of the head is a
//!   read-modify-write (push, take; `take_all_mut` and drop hold `&mut` and
//!   so come after every other access), so each continues the release
//!   sequence of every earlier push: one `Acquire` read of the head
//!   synchronises with every push of a node it reaches, not only the last.
//!   The load that seeds the link and the CAS's failure ordering are
//!   `Relaxed`: the value read is only stored in our own node and compared
//!   by the CAS, never dereferenced. With `SeqCst` they are `SeqCst` too, for
//!   a caller that reasons about the push in the single total order (a
//!   store-buffering pattern with another location, as `raw/table.rs`
//!   does): every access of the push is then in that order, and none needs
//!   an argument of its own. (On x86 a load is a plain `mov` either way.)
//! * `take_all`: the ordering of the swap, at least `Acquire`: pairs with
//!   the pushes as above, so the taker may read and free every node.
//! * `take_all_mut`, drop: none (`&mut self`: no other access can race).
//!
//! Under loom the head is a loom atomic (`crate::sync`); the links and
//! values are plain memory, as in the shipped build.

use std::marker::PhantomData;
use std::ptr::{self, NonNull};

use crate::sync::{AtomicPtr, Ordering};
use Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};

/// One value of a stack and its link to the next (older) one.
pub(crate) struct Node<T> {
    value: T,
    /// The next older node. Written only while the node is private (before
    /// the CAS that publishes it, or after a take made it ours).
    next: *mut Node<T>,
}

/// A lock-free stack of `T` (push, take all; no pop).
pub(crate) struct Stack<T> {
    head: AtomicPtr<Node<T>>,
}

// SAFETY: a stack owns its values; moving the stack moves them.
unsafe impl<T: Send> Send for Stack<T> {}
// SAFETY: through `&Stack` a value is pushed on one thread and taken (moved
// out) on another, so `T: Send` is required and enough (no `&T` is shared).
unsafe impl<T: Send> Sync for Stack<T> {}

/// Checks an ordering argument against the contract (module docs).
#[inline(always)]
fn is_release(order: Ordering) -> bool {
    matches!(order, Release | AcqRel | SeqCst)
}

#[inline(always)]
fn is_acquire(order: Ordering) -> bool {
    matches!(order, Acquire | AcqRel | SeqCst)
}

impl<T> Stack<T> {
    /// An empty stack.
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Stack {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// An empty stack (loom's atomics cannot be built in a `const`).
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Stack {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Pushes `value`; `order` is the CAS's (at least `Release`: module
    /// docs). Returns the value's address, valid until its node is taken off
    /// the stack ([`take_all`](Stack::take_all)) or the stack is dropped.
    #[inline]
    pub(crate) fn push(&self, value: T, order: Ordering) -> NonNull<T> {
        let node = Box::into_raw(Box::new(Node {
            value,
            next: ptr::null_mut(),
        }));
        // SAFETY: `node` is a fresh box, ours alone until the CAS below (a
        // take may free it at once after that), so the field's address is
        // in bounds and never null. Its field, not the node's address:
        // `Node` has the default layout, which may put `next` first (found
        // by review).
        let value = unsafe { NonNull::new_unchecked(ptr::addr_of_mut!((*node).value)) };
        // SAFETY: `node` is a fresh box: a list of one, ours until the CAS.
        unsafe { self.link(node, node, order) };
        value
    }

    /// Links the private list `first..=last` on top of the head.
    ///
    /// # Safety
    ///
    /// `first..=last` is a list of nodes from `Box::into_raw`, linked by
    /// their `next` fields, owned by the caller and not on any stack.
    #[inline]
    unsafe fn link(&self, first: *mut Node<T>, last: *mut Node<T>, order: Ordering) {
        debug_assert!(is_release(order), "a push publishes its node: Release");
        // Relaxed (SeqCst for a SeqCst push): only stored in our own node
        // and compared by the CAS, never dereferenced (module docs).
        let seed = if order == SeqCst { SeqCst } else { Relaxed };
        let mut head = self.head.load(seed);
        loop {
            // SAFETY: the list is ours until the CAS below publishes it
            // (caller's contract), so nobody reads `next` concurrently.
            unsafe { (*last).next = head };
            // `order` (at least Release): whoever reads this head with
            // Acquire sees the nodes' values and links. Failure: as `seed`.
            match self.head.compare_exchange_weak(head, first, order, seed) {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// Whether the stack looked empty (a hint: a push or a take may land
    /// right after; `order` is the load's).
    #[inline]
    #[allow(dead_code)]
    pub(crate) fn is_empty(&self, order: Ordering) -> bool {
        self.head.load(order).is_null()
    }

    /// Takes every node off the stack; `order` is the swap's (at least
    /// `Acquire`: module docs). Afterwards the nodes are the caller's alone.
    #[inline]
    pub(crate) fn take_all(&self, order: Ordering) -> Taken<T> {
        debug_assert!(is_acquire(order), "a take reads the nodes: Acquire");
        // `order` (at least Acquire): pairs with every push of a node we
        // take (module docs), so the nodes are initialised and ours.
        Taken::from_head(self.head.swap(ptr::null_mut(), order))
    }

    /// Takes every node off a stack nobody else can reach (`&mut self`: no
    /// atomic read-modify-write, no ordering; under loom, loom checks that
    /// every other access of the head happens before this one).
    pub(crate) fn take_all_mut(&mut self) -> Taken<T> {
        #[cfg(not(loom))]
        let head = std::mem::replace(self.head.get_mut(), ptr::null_mut());
        #[cfg(loom)]
        let head = self
            .head
            .with_mut(|h| std::mem::replace(h, ptr::null_mut()));
        Taken::from_head(head)
    }
}

impl<T> Default for Stack<T> {
    fn default() -> Self {
        Stack::new()
    }
}

impl<T> Drop for Stack<T> {
    /// Drops every value left on the stack, and its node.
    fn drop(&mut self) {
        // Unwinding under loom: leave loom's state alone (`sync/mod.rs`); the
        // nodes leak with the failing execution.
        if crate::sync::loom_unwinding() {
            return;
        }
        drop(self.take_all_mut());
    }
}

/// The nodes of one take, newest first: the caller's alone. Iterating moves
/// the values out and frees their nodes; dropping the list drops the rest.
pub(crate) struct Taken<T> {
    head: *mut Node<T>,
    _owns: PhantomData<Box<Node<T>>>,
}

impl<T> Taken<T> {
    fn from_head(head: *mut Node<T>) -> Self {
        Taken {
            head,
            _owns: PhantomData,
        }
    }
}

impl<T> Iterator for Taken<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.head.is_null() {
            return None;
        }
        // SAFETY: the node is ours (a take, or a list built from one) and
        // from `Box::into_raw`; unlinked here, so freed once.
        let node = unsafe { Box::from_raw(self.head) };
        self.head = node.next;
        Some(node.value)
    }
}

impl<T> Drop for Taken<T> {
    fn drop(&mut self) {
        for value in self.by_ref() {
            drop(value);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    /// Counts its drops.
    struct Tracked(u32, Arc<AtomicUsize>);

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.1.fetch_add(1, Relaxed);
        }
    }

    /// `push` returns the address of the value, whatever the node's layout
    /// (a `u8` beside a pointer: the compiler may put the pointer first).
    #[test]
    fn push_returns_the_values_address() {
        let s = Stack::new();
        let p = s.push(7u8, Release);
        // SAFETY: the node is on the stack until `take_all` below.
        assert_eq!(unsafe { *p.as_ptr() }, 7);
        let _ = s.take_all(Acquire);
        let s = Stack::new();
        let q = s.push([1u64, 2, 3], Release);
        // SAFETY: as above.
        assert_eq!(unsafe { *q.as_ptr() }, [1, 2, 3]);
        let _ = s.take_all(Acquire);
    }

    fn values(list: Taken<Tracked>) -> Vec<u32> {
        list.map(|t| t.0).collect()
    }

    #[test]
    fn take_all_is_newest_first_and_empties() {
        let drops = Arc::new(AtomicUsize::new(0));
        let s = Stack::new();
        for i in 0..4 {
            s.push(Tracked(i, drops.clone()), Release);
        }
        assert_eq!(values(s.take_all(Acquire)), [3, 2, 1, 0]);
        assert_eq!(s.take_all(SeqCst).count(), 0);
        assert_eq!(drops.load(Relaxed), 4);
    }

    #[test]
    fn drop_drains() {
        let drops = Arc::new(AtomicUsize::new(0));
        {
            let s = Stack::new();
            for i in 0..3 {
                s.push(Tracked(i, drops.clone()), SeqCst);
            }
            // A partly consumed take frees the rest too.
            let mut t = s.take_all(SeqCst);
            assert_eq!(t.next().map(|t| t.0), Some(2));
            drop(t);
            assert_eq!(drops.load(Relaxed), 3);
            s.push(Tracked(9, drops.clone()), Release);
        }
        assert_eq!(drops.load(Relaxed), 4);
    }

    #[test]
    fn concurrent_pushes_all_arrive() {
        let s = Stack::new();
        let taken = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for t in 0..4u32 {
                let (s, taken) = (&s, &taken);
                scope.spawn(move || {
                    for i in 0..1000 {
                        s.push(t * 1000 + i, Release);
                        if i % 100 == 0 {
                            taken.lock().unwrap().extend(s.take_all(Acquire));
                        }
                    }
                });
            }
        });
        let mut all = taken.into_inner().unwrap();
        all.extend(s.take_all(Acquire));
        all.sort_unstable();
        assert_eq!(all, (0..4000).collect::<Vec<_>>());
    }
}
