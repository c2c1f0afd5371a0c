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

use std::fmt;
use std::hash::{BuildHasher, Hash};

use crate::raw::slot::{Entry, Held};
use crate::raw::table::Table;
use crate::raw::{find, RawMap};
use crate::reclaim::ReclaimGuard;
use crate::resize::{next_of, Generation};

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
        Self::over(table, guard, 0, table.len())
    }

    /// The table a walk starts from: the root, once no resize is in
    /// progress (finishing any that is, without waiting for anyone).
    pub(crate) fn start<S: BuildHasher>(map: &RawMap<K, V, S>, guard: &'g G) -> &'g Table<K, V> {
        map.stable_root(guard)
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

impl<K, V, G> fmt::Debug for RawIter<'_, K, V, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter")
            .field("slot", &self.index)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

impl<'g, K, V, G: ReclaimGuard> Iterator for RawIter<'g, K, V, G>
where
    K: Hash + Eq,
{
    type Item = &'g Entry<K, V>;

    fn next(&mut self) -> Option<&'g Entry<K, V>> {
        next_entry(self.table, &mut self.index, self.end, self.guard)
    }
}

/// The walk step shared by every iterator: the next entry at or after
/// `*index` (below `end`) of `table`, following keys a resize moved forward.
fn next_entry<'g, K, V, G>(
    table: &'g Table<K, V>,
    index: &mut usize,
    end: usize,
    guard: &'g G,
) -> Option<&'g Entry<K, V>>
where
    K: Hash + Eq,
    G: ReclaimGuard,
{
    while *index < end {
        let w = table.slots.load(*index, guard);
        *index += 1;
        let Held::Live(e) = w.view() else {
            continue;
        };
        if !w.copied() {
            return Some(e);
        }
        let next = next_of(table, guard)?;
        if let Some(found) = find(next, e.hash, &e.key, guard) {
            return Some(found);
        }
    }
    None
}

/// An iterator that owns its pinned handle and yields clones of the
/// entries, so a function can return it. From `IntoIterator` for
/// [`HashMapRef`](crate::HashMapRef) (by value). Same guarantee as
/// [`iter`](crate::HashMapRef::iter).
///
/// ```
/// let map = lfmap::HashMap::new();
/// map.pin().insert(1, 2);
/// let iter: lfmap::OwnedIter<'_, i32, i32, _> = map.pin_owned().into_iter();
/// assert_eq!(iter.collect::<Vec<_>>(), [(1, 2)]);
/// ```
pub struct OwnedIter<'map, K, V, G> {
    guard: G,
    /// The walk's table, kept alive by `guard` (a raw pointer: the guard is
    /// a field of this same struct).
    table: *const Table<K, V>,
    index: usize,
    _map: std::marker::PhantomData<&'map Table<K, V>>,
}

impl<'map, K, V, G> OwnedIter<'map, K, V, G>
where
    K: Hash + Eq,
    G: ReclaimGuard,
{
    pub(crate) fn new<S: BuildHasher>(map: &'map RawMap<K, V, S>, guard: G) -> Self {
        let table: *const Table<K, V> = RawIter::start(map, &guard);
        OwnedIter {
            guard,
            table,
            index: 0,
            _map: std::marker::PhantomData,
        }
    }
}

// SAFETY: the raw table pointer is a shared reference in disguise (kept
// valid by the owned guard), so the iterator may move to another thread when
// a `&Table` could (K, V: Sync) and the guard itself may move (G: Send);
// yielded items are owned clones (K, V: Send).
unsafe impl<K: Send + Sync, V: Send + Sync, G: Send> Send for OwnedIter<'_, K, V, G> {}

impl<K, V, G> fmt::Debug for OwnedIter<'_, K, V, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedIter")
            .field("slot", &self.index)
            .finish_non_exhaustive()
    }
}

impl<K, V, G> Iterator for OwnedIter<'_, K, V, G>
where
    K: Hash + Eq + Clone,
    V: Clone,
    G: ReclaimGuard,
{
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        // SAFETY: the table was loaded under `self.guard`, which we own and
        // which stays pinned until we drop.
        let table = unsafe { &*self.table };
        let e = next_entry(table, &mut self.index, table.len(), &self.guard)?;
        Some((e.key.clone(), e.value.clone()))
    }
}

/// An owning iterator over the entries of a [`HashMap`](crate::HashMap),
/// from its `IntoIterator` implementation. Order is unspecified.
///
/// ```
/// let map = lfmap::HashMap::new();
/// map.pin().insert(1, 2);
/// let iter: lfmap::IntoIter<i32, i32> = map.into_iter();
/// assert_eq!(iter.collect::<Vec<_>>(), [(1, 2)]);
/// ```
pub struct IntoIter<K, V> {
    table: Box<Table<K, V>>,
    index: usize,
}

impl<K, V> IntoIter<K, V> {
    pub(crate) fn new(table: Box<Table<K, V>>) -> Self {
        IntoIter { table, index: 0 }
    }
}

impl<K, V> fmt::Debug for IntoIter<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter")
            .field("slot", &self.index)
            .field("slots", &self.table.len())
            .finish_non_exhaustive()
    }
}

impl<K, V> Iterator for IntoIter<K, V> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        while self.index < self.table.len() {
            let i = self.index;
            self.index += 1;
            if let Some(pair) = self.table.slots.take_live(i) {
                return Some(pair);
            }
        }
        None
    }
}
