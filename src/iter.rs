//! Iteration, and its guarantee.
//!
//! # Guarantee
//!
//! Iteration is *weakly consistent*: it never blocks on another thread,
//! never panics because of concurrent writes, and
//!
//! * a key present for the whole iteration is yielded **exactly once**,
//!   even while one or more resizes run;
//! * no key is ever yielded twice;
//! * keys inserted or removed during the iteration may or may not appear,
//!   and a yielded value is one the key held at some moment during the
//!   iteration.
//!
//! # How
//!
//! An iterator first finishes any resize in progress (it migrates the
//! remaining slots itself, which is idempotent, so it never waits for the
//! threads that started it). Then the root table `T` has no successor, so
//! every key present at that moment sits in exactly one slot of `T`, and a
//! slot holds one key for the whole life of `T` (keys are never moved
//! between slots within a table; removal leaves a keyed tombstone). The
//! iterator walks `T`'s slots once, in order:
//!
//! * a live word that is not `COPIED` is yielded as it is;
//! * a `COPIED` word means a resize moved the key forward after the walk
//!   began: the key's current entry is looked up in the newer tables (under
//!   the same guard, which keeps `T` and everything it points to alive);
//! * empty slots and tombstones are skipped.
//!
//! A key present throughout has one slot in `T`, visited once: yielded
//! once. A key is yielded only from its own slot of `T`: never twice.

use std::hash::{BuildHasher, Hash};

use crate::raw::slot::Entry;
use crate::raw::table::Table;
use crate::raw::{find, next_of, RawMap};
use crate::reclaim::ReclaimGuard;

/// The raw iterator: yields entries of the root table, following keys that
/// a concurrent resize has moved forward.
pub(crate) struct RawIter<'g, K, V, G> {
    guard: &'g G,
    table: &'g Table<K, V>,
    index: usize,
    end: usize,
}

impl<'g, K, V, G: ReclaimGuard> RawIter<'g, K, V, G>
where
    K: Hash + Eq,
{
    pub(crate) fn new<S: BuildHasher>(map: &RawMap<K, V, S>, guard: &'g G) -> Self {
        let table = Self::start(map, guard);
        Self::over(table, guard, 0, table.slots())
    }

    /// The table a walk starts from: the root, once no resize is in
    /// progress (finishing any that is, without waiting for anyone).
    pub(crate) fn start<S: BuildHasher>(map: &RawMap<K, V, S>, guard: &'g G) -> &'g Table<K, V> {
        loop {
            let root = map.root(guard);
            if next_of(root, guard).is_none() {
                return root;
            }
            map.finish(root, guard);
        }
    }

    /// Walks slots `start..end` of `table` (a table from [`RawIter::start`]).
    pub(crate) fn over(table: &'g Table<K, V>, guard: &'g G, start: usize, end: usize) -> Self {
        RawIter {
            guard,
            table,
            index: start,
            end,
        }
    }
}

impl<'g, K, V, G: ReclaimGuard> Iterator for RawIter<'g, K, V, G>
where
    K: Hash + Eq,
{
    type Item = &'g Entry<K, V>;

    fn next(&mut self) -> Option<&'g Entry<K, V>> {
        while self.index < self.end {
            let w = self.table.word(self.index, self.guard);
            self.index += 1;
            if w.is_vacant() || w.deleted() {
                continue;
            }
            // SAFETY: loaded under our guard, which outlives `'g`.
            let e = unsafe { &*w.entry() };
            if !w.copied() {
                return Some(e);
            }
            let next = next_of(self.table, self.guard)?;
            if let Some(found) = find(next, e.hash, &e.key, self.guard) {
                return Some(found);
            }
        }
        None
    }
}

/// An owning iterator over the entries of a [`HashMap`](crate::HashMap),
/// from its `IntoIterator` implementation. Order is unspecified.
pub struct IntoIter<K, V> {
    table: Box<Table<K, V>>,
    index: usize,
}

impl<K, V> IntoIter<K, V> {
    pub(crate) fn new(table: Box<Table<K, V>>) -> Self {
        IntoIter { table, index: 0 }
    }
}

impl<K, V> Iterator for IntoIter<K, V> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        while self.index < self.table.slots() {
            let i = self.index;
            self.index += 1;
            if let Some(pair) = self.table.take_live(i) {
                return Some(pair);
            }
        }
        None
    }
}
