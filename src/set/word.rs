//! [`WordSet`]: a set of word-sized elements, a thin wrapper over
//! [`WordMap<T, bool>`](crate::WordMap) whose value is always `true`.

use std::fmt;
use std::hash::BuildHasher;
use std::iter::FusedIterator;

use super::relations;
use crate::map::DefaultHashBuilder;
use crate::stats::{ProbeStats, Stats};
use crate::word::{
    Drain as WordMapDrain, IntoIter as WordMapIntoIter, Iter as WordMapIter, WordMap, WordSized,
};

/// A lock-free concurrent set of word-sized elements, stored inline: a
/// [`WordMap<T, bool>`](crate::WordMap) with a set's API.
///
/// Elements are any [`WordSized`] type (integers, `NonZero` integers,
/// `char`, `bool`, floats by bit pattern), compared and hashed by bit
/// pattern. An insert allocates nothing, a lookup reads one slot, and
/// methods pin internally: no handle, no guard.
///
/// ```
/// use lfmap::WordSet;
/// use std::thread;
///
/// let seen: WordSet<u64> = WordSet::new();
/// let fresh: usize = thread::scope(|s| {
///     let workers: Vec<_> = (0..4)
///         .map(|_| s.spawn(|| (0..100).filter(|&i| seen.insert(i)).count()))
///         .collect();
///     workers.into_iter().map(|w| w.join().unwrap()).sum()
/// });
/// assert_eq!(fresh, 100); // each element newly inserted exactly once
/// assert_eq!(seen.len(), 100);
/// ```
///
/// Every operation except iteration, `clear`, `retain` and `len` (and
/// `is_empty`, which is `len() == 0`) is linearizable. What is built on a
/// walk is weakly consistent as iteration is, not a snapshot: `Clone`,
/// `Debug`, `PartialEq`, serde serialization and the set relations.
/// Iteration has the [`HashSet`](crate::HashSet)'s guarantee: an element
/// present for the whole iteration is yielded exactly once.
pub struct WordSet<T, S = DefaultHashBuilder> {
    map: WordMap<T, bool, S>,
}

impl<T: WordSized> WordSet<T> {
    /// Creates an empty set.
    ///
    /// ```
    /// let set: lfmap::WordSet<u32> = lfmap::WordSet::new();
    /// assert!(set.is_empty());
    /// ```
    pub fn new() -> Self {
        WordSet {
            map: WordMap::new(),
        }
    }

    /// Creates an empty set that holds `capacity` elements without
    /// resizing.
    ///
    /// Its table's memory is faulted in here and stays resident, as with
    /// [`WordMap::with_capacity`](crate::WordMap::with_capacity).
    ///
    /// ```
    /// let set: lfmap::WordSet<u64> = lfmap::WordSet::with_capacity(1000);
    /// assert!(set.stats().capacity >= 1000);
    /// ```
    pub fn with_capacity(capacity: usize) -> Self {
        WordSet {
            map: WordMap::with_capacity(capacity),
        }
    }
}

impl<T: WordSized, S: BuildHasher + Default> Default for WordSet<T, S> {
    /// An empty set with a default hasher.
    ///
    /// ```
    /// let set: lfmap::WordSet<char> = Default::default();
    /// assert!(set.is_empty());
    /// ```
    fn default() -> Self {
        Self::with_hasher(S::default())
    }
}

impl<T: WordSized, S: BuildHasher> WordSet<T, S> {
    /// Creates an empty set that hashes elements (their bit patterns, as
    /// `u64`) with `hasher`.
    ///
    /// ```
    /// use std::collections::hash_map::RandomState;
    /// let set: lfmap::WordSet<u64, _> = lfmap::WordSet::with_hasher(RandomState::new());
    /// assert!(set.insert(1));
    /// ```
    pub fn with_hasher(hasher: S) -> Self {
        WordSet {
            map: WordMap::with_hasher(hasher),
        }
    }

    /// Creates an empty set for `capacity` elements, hashing with
    /// `hasher`. Panics with "lfmap: capacity overflow" if no table can be
    /// that large.
    ///
    /// ```
    /// use std::collections::hash_map::RandomState;
    /// let set: lfmap::WordSet<u8, _> =
    ///     lfmap::WordSet::with_capacity_and_hasher(10, RandomState::new());
    /// assert!(set.is_empty());
    /// ```
    pub fn with_capacity_and_hasher(capacity: usize, hasher: S) -> Self {
        WordSet {
            map: WordMap::with_capacity_and_hasher(capacity, hasher),
        }
    }

    /// Adds `value`, returning the equal element that was there: std's
    /// `replace`. Elements are equal only when their words are, so the
    /// element returned is `value` itself, and the set is the same either
    /// way: [`insert`](Self::insert) saying it in another form.
    ///
    /// ```
    /// let set = lfmap::WordSet::new();
    /// assert_eq!(set.replace('x'), None);
    /// assert_eq!(set.replace('x'), Some('x'));
    /// assert_eq!(set.len(), 1);
    /// ```
    #[inline]
    pub fn replace(&self, value: T) -> Option<T> {
        (!self.insert(value)).then_some(value)
    }

    /// Adds `value`; returns whether it was newly inserted. Linearizable:
    /// of any number of threads inserting one element into a set without
    /// it, exactly one gets `true`. An element already present costs one
    /// lookup and no write.
    ///
    /// ```
    /// let set = lfmap::WordSet::new();
    /// assert!(set.insert(u64::MAX));
    /// assert!(!set.insert(u64::MAX));
    /// ```
    #[inline]
    pub fn insert(&self, value: T) -> bool {
        !self.map.contains_key(&value) && self.map.insert(value, true).is_none()
    }

    /// Whether `value` is present.
    ///
    /// ```
    /// let set = lfmap::WordSet::new();
    /// set.insert('x');
    /// assert!(set.contains(&'x'));
    /// assert!(!set.contains(&'y'));
    /// ```
    #[inline]
    pub fn contains(&self, value: &T) -> bool {
        self.map.contains_key(value)
    }

    /// Removes `value`; returns whether it was present.
    ///
    /// ```
    /// let set = lfmap::WordSet::new();
    /// set.insert(3i16);
    /// assert!(set.remove(&3));
    /// assert!(!set.remove(&3));
    /// ```
    #[inline]
    pub fn remove(&self, value: &T) -> bool {
        self.map.remove(value).is_some()
    }

    /// The element equal to `value`, if present: std's `get` (elements are
    /// compared by their bits, so it is `*value`).
    ///
    /// ```
    /// let set = lfmap::WordSet::new();
    /// set.insert(5u8);
    /// assert_eq!(set.get(&5), Some(5));
    /// assert_eq!(set.get(&6), None);
    /// ```
    #[inline]
    pub fn get(&self, value: &T) -> Option<T> {
        self.contains(value).then_some(*value)
    }

    /// Removes `value` and returns it, if it was present: std's `take`.
    ///
    /// ```
    /// let set = lfmap::WordSet::new();
    /// set.insert('q');
    /// assert_eq!(set.take(&'q'), Some('q'));
    /// assert_eq!(set.take(&'q'), None);
    /// ```
    #[inline]
    pub fn take(&self, value: &T) -> Option<T> {
        self.remove(value).then_some(*value)
    }

    /// Removes every element, yielding each: std's `drain`, as
    /// [`WordMap::drain`], which it is built on. Needs exclusive access
    /// (`&mut self`); the set is empty when this returns and keeps its
    /// hasher and capacity floor. Exact length.
    ///
    /// ```
    /// let mut set = lfmap::WordSet::from([3u32, 1, 2]);
    /// let drain: lfmap::WordSetDrain<'_, u32> = set.drain();
    /// assert_eq!(drain.len(), 3);
    /// let mut all: Vec<u32> = drain.collect();
    /// all.sort();
    /// assert_eq!(all, [1, 2, 3]);
    /// assert!(set.is_empty());
    /// ```
    pub fn drain(&mut self) -> WordSetDrain<'_, T> {
        WordSetDrain {
            iter: self.map.drain(),
        }
    }

    /// Removes every element. Not atomic: elements inserted meanwhile may
    /// stay (see [`WordMap::clear`]).
    ///
    /// ```
    /// let set: lfmap::WordSet<u8> = (0..10).collect();
    /// set.clear();
    /// assert!(set.is_empty());
    /// ```
    pub fn clear(&self) {
        self.map.clear();
    }

    /// An iterator over the elements (copies), weakly consistent: an
    /// element present for the whole iteration is yielded exactly once,
    /// none twice. It holds a pin until dropped (see [`WordMap::iter`]):
    /// drop iterators when done.
    ///
    /// ```
    /// let set: lfmap::WordSet<u64> = (1..=100).collect();
    /// assert_eq!(set.iter().sum::<u64>(), 5050);
    /// ```
    pub fn iter(&self) -> WordSetIter<'_, T, S> {
        WordSetIter {
            iter: self.map.iter(),
        }
    }

    /// How far elements sit from their home slots: what lookups cost.
    /// Scans the current table, O(capacity); see [`ProbeStats`].
    ///
    /// ```
    /// let set: lfmap::WordSet<u32> = (0..1000).collect();
    /// let probes = set.probe_stats();
    /// assert_eq!(probes.keys, 1000);
    /// assert!(probes.mean_probe() < 4.0);
    /// ```
    pub fn probe_stats(&self) -> ProbeStats {
        self.map.probe_stats()
    }

    /// Keeps only the elements for which `keep` holds, judging each element
    /// present throughout once (see [`WordMap::retain`]). Not atomic;
    /// O(capacity); if most elements go, the table shrinks once, at the end.
    ///
    /// ```
    /// let set: lfmap::WordSet<u32> = (0..10).collect();
    /// set.retain(|x| x % 2 == 0);
    /// assert_eq!(set.len(), 5);
    /// ```
    pub fn retain<F: FnMut(T) -> bool>(&self, mut keep: F) {
        self.map.retain(|x, _| keep(x));
    }

    /// How many elements the set holds before its table must grow (see
    /// [`WordMap::capacity`]).
    ///
    /// ```
    /// let set: lfmap::WordSet<u64> = lfmap::WordSet::with_capacity(100);
    /// assert!(set.capacity() >= 100);
    /// ```
    pub fn capacity(&self) -> usize {
        self.map.capacity()
    }

    /// Makes room for `additional` more elements (see
    /// [`WordMap::reserve`]).
    ///
    /// # Panics
    ///
    /// As [`WordMap::reserve`]: on a capacity overflow, and it aborts like
    /// `Vec` if the allocator cannot give the table.
    ///
    /// ```
    /// let set: lfmap::WordSet<u64> = lfmap::WordSet::new();
    /// set.reserve(1000);
    /// assert!(set.capacity() >= 1000);
    /// ```
    pub fn reserve(&self, additional: usize) {
        self.map.reserve(additional);
    }

    /// [`reserve`](WordSet::reserve), returning an error instead of
    /// panicking (see [`WordMap::try_reserve`]).
    ///
    /// ```
    /// let set: lfmap::WordSet<u64> = lfmap::WordSet::new();
    /// assert!(set.try_reserve(usize::MAX).is_err());
    /// ```
    pub fn try_reserve(&self, additional: usize) -> Result<(), crate::TryReserveError> {
        self.map.try_reserve(additional)
    }

    /// Shrinks the table to fit the elements (see
    /// [`WordMap::shrink_to_fit`]).
    ///
    /// ```
    /// let set: lfmap::WordSet<u64> = lfmap::WordSet::with_capacity(10_000);
    /// set.shrink_to_fit();
    /// assert!(set.capacity() < 100);
    /// ```
    pub fn shrink_to_fit(&self) {
        self.map.shrink_to_fit();
    }

    /// Shrinks the table, keeping room for at least `min_capacity`
    /// elements (see [`WordMap::shrink_to`]).
    ///
    /// ```
    /// let set: lfmap::WordSet<u64> = lfmap::WordSet::with_capacity(10_000);
    /// set.shrink_to(100);
    /// assert!((100..1_000).contains(&set.capacity()));
    /// ```
    pub fn shrink_to(&self, min_capacity: usize) {
        self.map.shrink_to(min_capacity);
    }
}

/// Set relations, as std's `HashSet` has them, by value.
///
/// Under concurrent writes these are weakly consistent: they walk one set
/// as [`iter`](WordSet::iter) does and look each element up in the other
/// once, at the moment the walk reaches it. No snapshot of either set is
/// taken, so with writers running an answer need not hold at any single
/// moment (as [`PartialEq`] for sets); with no write in flight it is exact.
/// The iterators are [`relations`]' generic ones, named
/// here through aliases such as [`WordSetDifference`].
impl<T: WordSized, S: BuildHasher> WordSet<T, S> {
    /// Whether every element of `self` is in `other`. Walks `self` (with no
    /// shortcut on the lengths, as std takes: under concurrent writes a
    /// length is a count of a moment, not of the walk).
    ///
    /// ```
    /// let a: lfmap::WordSet<u8> = [1, 2].into_iter().collect();
    /// let b: lfmap::WordSet<u8> = [1, 2, 3].into_iter().collect();
    /// assert!(a.is_subset(&b));
    /// assert!(!b.is_subset(&a));
    /// ```
    pub fn is_subset(&self, other: &WordSet<T, S>) -> bool {
        relations::all_in(self.iter(), other)
    }

    /// Whether every element of `other` is in `self`. Walks `other`.
    ///
    /// ```
    /// let a: lfmap::WordSet<u8> = [1, 2, 3].into_iter().collect();
    /// let b: lfmap::WordSet<u8> = [3].into_iter().collect();
    /// assert!(a.is_superset(&b));
    /// assert!(!b.is_superset(&a));
    /// ```
    pub fn is_superset(&self, other: &WordSet<T, S>) -> bool {
        other.is_subset(self)
    }

    /// Whether `self` and `other` have no element in common. Walks the
    /// set whose [`len`](WordSet::len) is smaller.
    ///
    /// ```
    /// let a: lfmap::WordSet<u8> = [1, 2].into_iter().collect();
    /// let b: lfmap::WordSet<u8> = [3, 4].into_iter().collect();
    /// assert!(a.is_disjoint(&b));
    /// b.insert(2);
    /// assert!(!a.is_disjoint(&b));
    /// ```
    pub fn is_disjoint(&self, other: &WordSet<T, S>) -> bool {
        if self.len() <= other.len() {
            relations::none_in(self.iter(), other)
        } else {
            relations::none_in(other.iter(), self)
        }
    }

    /// The elements of `self` that are not in `other`. Walks `self`,
    /// looking each element up in `other` as it comes.
    ///
    /// ```
    /// let a: lfmap::WordSet<u8> = [1, 2, 3].into_iter().collect();
    /// let b: lfmap::WordSet<u8> = [2, 3, 4].into_iter().collect();
    /// assert_eq!(a.difference(&b).collect::<Vec<_>>(), [1]);
    /// ```
    pub fn difference<'a>(&'a self, other: &'a WordSet<T, S>) -> WordSetDifference<'a, T, S> {
        relations::Difference::new(self.iter(), other)
    }

    /// The elements of `self` that are also in `other`. Walks `self`.
    ///
    /// ```
    /// let a: lfmap::WordSet<u8> = [1, 2, 3].into_iter().collect();
    /// let b: lfmap::WordSet<u8> = [2, 3, 4].into_iter().collect();
    /// let mut both: Vec<u8> = a.intersection(&b).collect();
    /// both.sort();
    /// assert_eq!(both, [2, 3]);
    /// ```
    pub fn intersection<'a>(&'a self, other: &'a WordSet<T, S>) -> WordSetIntersection<'a, T, S> {
        relations::Intersection::new(self.iter(), other)
    }

    /// The elements of `self`, then those of `other` not in `self`. Walks
    /// both (both walks start here).
    ///
    /// Each element comes once when no write is in flight. Under
    /// concurrent writes an element can come once from each walk: one
    /// yielded from `self`, then removed from `self` while it is in
    /// `other`, is yielded again by the walk of `other`. And one can be
    /// missed: an element of `other` inserted into `self` after the walk
    /// of `self` passed its place is then skipped by the walk of `other`
    /// as one of `self`'s, though it was in `other` throughout. (Two walks
    /// and no memory of what they yielded can promise neither.)
    ///
    /// ```
    /// let a: lfmap::WordSet<u8> = [1, 2].into_iter().collect();
    /// let b: lfmap::WordSet<u8> = [2, 3].into_iter().collect();
    /// let mut all: Vec<u8> = a.union(&b).collect();
    /// all.sort();
    /// assert_eq!(all, [1, 2, 3]);
    /// ```
    pub fn union<'a>(&'a self, other: &'a WordSet<T, S>) -> WordSetUnion<'a, T, S> {
        relations::Union::new(self.iter(), other.difference(self))
    }

    /// The elements in exactly one of the two sets: those of `self` not in
    /// `other`, then those of `other` not in `self`. Walks both.
    ///
    /// Each element comes once when no write is in flight. Under
    /// concurrent writes an element can come once from each walk: one
    /// yielded from `self` (absent from `other` then) that moves to
    /// `other` (inserted there, removed from `self`) is yielded again by
    /// the walk of `other`.
    ///
    /// ```
    /// let a: lfmap::WordSet<u8> = [1, 2].into_iter().collect();
    /// let b: lfmap::WordSet<u8> = [2, 3].into_iter().collect();
    /// let mut odd: Vec<u8> = a.symmetric_difference(&b).collect();
    /// odd.sort();
    /// assert_eq!(odd, [1, 3]);
    /// ```
    pub fn symmetric_difference<'a>(
        &'a self,
        other: &'a WordSet<T, S>,
    ) -> WordSetSymmetricDifference<'a, T, S> {
        relations::SymmetricDifference::new(self.difference(other), other.difference(self))
    }
}

impl<T: WordSized, S: BuildHasher + Sync> WordSet<T, S> {
    /// Registers a [`ResizeHelper`](crate::ResizeHelper) with the set
    /// ([`WordMap::resize_helper`]).
    ///
    /// ```
    /// let set: lfmap::WordSet<u64> = lfmap::WordSet::new();
    /// let helper = set.resize_helper();
    /// set.insert(1);
    /// while helper.step() {}
    /// assert!(set.contains(&1));
    /// ```
    #[must_use = "writers leave their resize work to the helper only while it is alive"]
    pub fn resize_helper(&self) -> crate::ResizeHelper<'_> {
        self.map.resize_helper()
    }
}

impl<T, S> WordSet<T, S> {
    /// Number of elements. Exact when no write runs concurrently; while
    /// writes run, off by at most the inserts and removes that complete
    /// during the call (each writer's counts are read once, at some moment
    /// of the call; never below 0, and it never stops writers), as
    /// [`WordMap::len`].
    ///
    /// ```
    /// let set = lfmap::WordSet::new();
    /// set.insert(0u64);
    /// assert_eq!(set.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the set has no elements: `len() == 0`, with
    /// [`len`](WordSet::len)'s caveat under concurrent writes.
    ///
    /// ```
    /// assert!(lfmap::WordSet::<u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The set's counters (see [`Stats`]); a few relaxed loads, no scan.
    ///
    /// ```
    /// let set = lfmap::WordSet::new();
    /// set.insert(1u64);
    /// assert_eq!(set.stats().len, 1);
    /// ```
    pub fn stats(&self) -> Stats {
        self.map.stats()
    }

    /// The set's hasher.
    ///
    /// ```
    /// let set = lfmap::WordSet::<u8>::new();
    /// let _ = set.hasher();
    /// ```
    pub fn hasher(&self) -> &S {
        self.map.hasher()
    }
}

/// Iterator over a [`WordSet`]'s elements (copies), from
/// [`WordSet::iter`].
///
/// ```
/// let set: lfmap::WordSet<u8> = [5].into_iter().collect();
/// let iter: lfmap::WordSetIter<'_, u8, _> = set.iter();
/// assert_eq!(iter.collect::<Vec<_>>(), [5]);
/// ```
pub struct WordSetIter<'s, T, S> {
    iter: WordMapIter<'s, T, bool, S>,
}

/// The elements left to yield, as std's iterators print.
impl<T: WordSized + fmt::Debug, S: BuildHasher> fmt::Debug for WordSetIter<'_, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter.rest().map(|(t, _)| t))
            .finish()
    }
}

impl<T: WordSized, S: BuildHasher> relations::Rest for WordSetIter<'_, T, S> {
    fn rest(&self) -> impl Iterator<Item = T> + '_ {
        self.iter.rest().map(|(t, _)| t)
    }
}

impl<T: WordSized, S: BuildHasher> Iterator for WordSetIter<'_, T, S> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        self.iter.next().map(|(k, _)| k)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl<T: WordSized, S: BuildHasher> FusedIterator for WordSetIter<'_, T, S> {}

/// Iterator over the elements of one [`WordSet`] not in another, from
/// [`WordSet::difference`]: [`relations::Difference`] walking the first
/// set. Weakly consistent (see the set relations); fused.
///
/// ```
/// let a: lfmap::WordSet<u8> = [1, 2].into_iter().collect();
/// let b: lfmap::WordSet<u8> = [2].into_iter().collect();
/// let iter: lfmap::WordSetDifference<'_, u8, _> = a.difference(&b);
/// assert_eq!(iter.collect::<Vec<_>>(), [1]);
/// ```
pub type WordSetDifference<'a, T, S> =
    relations::Difference<WordSetIter<'a, T, S>, &'a WordSet<T, S>>;

/// Iterator over the elements of one [`WordSet`] that are also in
/// another, from [`WordSet::intersection`]: [`relations::Intersection`]
/// walking the first set. Weakly consistent (see the set relations);
/// fused.
///
/// ```
/// let a: lfmap::WordSet<u8> = [1, 2].into_iter().collect();
/// let b: lfmap::WordSet<u8> = [2].into_iter().collect();
/// let iter: lfmap::WordSetIntersection<'_, u8, _> = a.intersection(&b);
/// assert_eq!(iter.collect::<Vec<_>>(), [2]);
/// ```
pub type WordSetIntersection<'a, T, S> =
    relations::Intersection<WordSetIter<'a, T, S>, &'a WordSet<T, S>>;

/// Iterator over the elements of either of two [`WordSet`]s, from
/// [`WordSet::union`]: [`relations::Union`] of a walk of the first set and
/// a [`WordSetDifference`] of the second from the first. Each element once
/// when no write is in flight; under concurrent writes an element can come
/// once from each walk (see [`WordSet::union`]). Fused.
///
/// ```
/// let a: lfmap::WordSet<u8> = [1].into_iter().collect();
/// let b: lfmap::WordSet<u8> = [1].into_iter().collect();
/// let iter: lfmap::WordSetUnion<'_, u8, _> = a.union(&b);
/// assert_eq!(iter.collect::<Vec<_>>(), [1]);
/// ```
pub type WordSetUnion<'a, T, S> =
    relations::Union<WordSetIter<'a, T, S>, WordSetDifference<'a, T, S>>;

/// Iterator over the elements in exactly one of two [`WordSet`]s, from
/// [`WordSet::symmetric_difference`]:
/// [`relations::SymmetricDifference`] of the two [`WordSetDifference`]s.
/// Each element once when no write is in flight; under concurrent writes
/// an element can come once from each walk (see
/// [`WordSet::symmetric_difference`]). Fused.
///
/// ```
/// let a: lfmap::WordSet<u8> = [1].into_iter().collect();
/// let b: lfmap::WordSet<u8> = [1].into_iter().collect();
/// let iter: lfmap::WordSetSymmetricDifference<'_, u8, _> = a.symmetric_difference(&b);
/// assert_eq!(iter.count(), 0);
/// ```
pub type WordSetSymmetricDifference<'a, T, S> =
    relations::SymmetricDifference<WordSetDifference<'a, T, S>, WordSetDifference<'a, T, S>>;

/// A draining iterator over a [`WordSet`]'s elements, from
/// [`WordSet::drain`]. Exact length, fused.
///
/// ```
/// let mut set: lfmap::WordSet<u32> = (0..3).collect();
/// let drain: lfmap::WordSetDrain<'_, u32> = set.drain();
/// assert_eq!(drain.len(), 3);
/// let mut all: Vec<u32> = drain.collect();
/// all.sort();
/// assert_eq!(all, [0, 1, 2]);
/// assert!(set.is_empty());
/// ```
pub struct WordSetDrain<'a, T> {
    iter: WordMapDrain<'a, T, bool>,
}

/// The elements left to yield, as std's `Drain` prints.
impl<T: WordSized + fmt::Debug> fmt::Debug for WordSetDrain<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter.rest().map(|(t, _)| t))
            .finish()
    }
}

impl<T: WordSized> Iterator for WordSetDrain<'_, T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        self.iter.next().map(|(x, _)| x)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl<T: WordSized> ExactSizeIterator for WordSetDrain<'_, T> {}

impl<T: WordSized> FusedIterator for WordSetDrain<'_, T> {}

/// An owning iterator over a [`WordSet`]'s elements, from its
/// `IntoIterator` implementation (by value). Exact length, fused; it holds
/// the set's table (not a copy of its elements) until it drops. Order is
/// unspecified.
///
/// ```
/// let set: lfmap::WordSet<u8> = [5].into_iter().collect();
/// let iter: lfmap::WordSetIntoIter<u8> = set.into_iter();
/// assert_eq!(iter.len(), 1);
/// assert_eq!(iter.collect::<Vec<_>>(), [5]);
/// ```
pub struct WordSetIntoIter<T> {
    iter: WordMapIntoIter<T, bool>,
}

/// The elements left to yield, as std's `IntoIter` prints.
impl<T: WordSized + fmt::Debug> fmt::Debug for WordSetIntoIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter.rest().map(|(t, _)| t))
            .finish()
    }
}

impl<T: WordSized> Iterator for WordSetIntoIter<T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        self.iter.next().map(|(x, _)| x)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl<T: WordSized> ExactSizeIterator for WordSetIntoIter<T> {}

impl<T: WordSized> FusedIterator for WordSetIntoIter<T> {}

impl<T: WordSized, S: BuildHasher> IntoIterator for WordSet<T, S> {
    type Item = T;
    type IntoIter = WordSetIntoIter<T>;

    /// Consumes the set, yielding its elements, each exactly once (the set
    /// is owned: no other thread writes it). As the map's: it walks the
    /// set's one table, which it holds until it drops, with no buffer.
    ///
    /// ```
    /// let set: lfmap::WordSet<u32> = (0..3).collect();
    /// let mut all: Vec<u32> = set.into_iter().collect();
    /// all.sort();
    /// assert_eq!(all, [0, 1, 2]);
    /// ```
    fn into_iter(self) -> WordSetIntoIter<T> {
        WordSetIntoIter {
            iter: self.map.into_iter(),
        }
    }
}

impl<'s, T: WordSized, S: BuildHasher> IntoIterator for &'s WordSet<T, S> {
    type Item = T;
    type IntoIter = WordSetIter<'s, T, S>;

    /// Iterates over the elements (see [`WordSet::iter`]).
    ///
    /// ```
    /// let set: lfmap::WordSet<u32> = (0..4).collect();
    /// let mut sum = 0;
    /// for x in &set {
    ///     sum += x;
    /// }
    /// assert_eq!(sum, 6);
    /// ```
    fn into_iter(self) -> WordSetIter<'s, T, S> {
        self.iter()
    }
}

impl<T: WordSized + fmt::Debug, S: BuildHasher> fmt::Debug for WordSet<T, S> {
    /// Prints the elements as a set, like std's.
    ///
    /// ```
    /// let set: lfmap::WordSet<u8> = [7].into_iter().collect();
    /// assert_eq!(format!("{set:?}"), "{7}");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl<T: WordSized, S: BuildHasher + Clone> Clone for WordSet<T, S> {
    /// A new set with the elements an iteration yields, and a clone of the
    /// hasher (sized as `collect` sizes). Under concurrent writes, what one
    /// walk saw, not a snapshot.
    ///
    /// ```
    /// let set: lfmap::WordSet<u8> = (0..3).collect();
    /// assert_eq!(set.clone(), set);
    /// ```
    fn clone(&self) -> Self {
        WordSet {
            map: self.map.clone(),
        }
    }
}

impl<T: WordSized, S: BuildHasher> PartialEq for WordSet<T, S> {
    /// Equal when both hold the same elements (by bit pattern). Meaningful
    /// only when neither set is being written concurrently.
    ///
    /// ```
    /// let a: lfmap::WordSet<u8> = [1, 2].into_iter().collect();
    /// let b: lfmap::WordSet<u8> = [2, 1].into_iter().collect();
    /// assert_eq!(a, b);
    /// b.insert(3);
    /// assert_ne!(a, b);
    /// ```
    fn eq(&self, other: &Self) -> bool {
        self.iter().count() == other.iter().count() && self.iter().all(|x| other.contains(&x))
    }
}

impl<T: WordSized, S: BuildHasher> Eq for WordSet<T, S> {}

impl<T: WordSized, S: BuildHasher + Default> FromIterator<T> for WordSet<T, S> {
    /// ```
    /// let set: lfmap::WordSet<u8> = [1, 2, 2].into_iter().collect();
    /// assert_eq!(set.len(), 2);
    /// ```
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        // Room as `extend` makes it: no floor (see `WordMap::from_iter`).
        let set = Self::with_hasher(S::default());
        (&set).extend(iter);
        set
    }
}

impl<T: WordSized, S: BuildHasher> Extend<T> for WordSet<T, S> {
    /// ```
    /// let mut set = lfmap::WordSet::new();
    /// set.extend([1u8, 2, 3]);
    /// assert_eq!(set.len(), 3);
    /// ```
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        (&*self).extend(iter);
    }
}

impl<T: WordSized, S: BuildHasher> WordSet<T, S> {
    /// Before an `extend` of `hint` elements: room for them, without a
    /// floor (as [`WordMap`]'s).
    pub(crate) fn room_for_extend(&self, hint: (usize, Option<usize>)) {
        self.map.room_for_extend(hint);
    }
}

impl<T: WordSized, S: BuildHasher> Extend<T> for &WordSet<T, S> {
    /// Extends through a shared reference: threads may extend one set at
    /// once. Not atomic: other threads see the elements arrive one by one.
    ///
    /// ```
    /// let set = lfmap::WordSet::new();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| (&set).extend(0..100u32));
    ///     s.spawn(|| (&set).extend(50..150u32));
    /// });
    /// assert_eq!(set.len(), 150);
    /// ```
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.room_for_extend(iter.size_hint());
        for x in iter {
            self.insert(x);
        }
    }
}

impl<'a, T: WordSized, S: BuildHasher> Extend<&'a T> for WordSet<T, S> {
    /// Inserts copies of the elements (as std's `Extend<&T>`), through the
    /// owned `extend`.
    ///
    /// ```
    /// let mut set: lfmap::WordSet<u8> = lfmap::WordSet::new();
    /// set.extend(&[1, 2, 2]);
    /// assert_eq!(set.len(), 2);
    /// ```
    fn extend<I: IntoIterator<Item = &'a T>>(&mut self, iter: I) {
        Extend::<T>::extend(self, iter.into_iter().copied());
    }
}

impl<'a, T: WordSized, S: BuildHasher> Extend<&'a T> for &WordSet<T, S> {
    /// Inserts copies of the elements through a shared reference, as the
    /// `Extend<T>` for `&WordSet` does (threads may extend one set at once;
    /// not atomic).
    ///
    /// ```
    /// let set: lfmap::WordSet<u8> = lfmap::WordSet::new();
    /// (&set).extend(&[1, 2]);
    /// assert!(set.contains(&2));
    /// ```
    fn extend<I: IntoIterator<Item = &'a T>>(&mut self, iter: I) {
        Extend::<T>::extend(self, iter.into_iter().copied());
    }
}

impl<T: WordSized, const N: usize> From<[T; N]> for WordSet<T> {
    /// A set of the array's elements, as [`collect`](FromIterator) makes
    /// it (duplicates count once). For the default hasher only, so that
    /// `WordSet::from([..])` needs no type annotation; with another hasher,
    /// `collect` the array.
    ///
    /// ```
    /// let set = lfmap::WordSet::from([1u32, 2, 2, 3]);
    /// assert_eq!(set.len(), 3);
    /// ```
    fn from(elements: [T; N]) -> Self {
        elements.into_iter().collect()
    }
}

/// rayon support (cargo feature `rayon`), as the map's (`word/par.rs`).
#[cfg(feature = "rayon")]
mod par {
    use std::hash::BuildHasher;

    use rayon::iter::{
        FromParallelIterator, IntoParallelIterator, ParallelExtend, ParallelIterator,
    };

    use super::WordSet;
    use crate::word::WordSized;

    impl<T: WordSized, S: BuildHasher + Sync> WordSet<T, S> {
        /// A parallel iterator over the elements (copies), with the
        /// guarantee of [`iter`](WordSet::iter): each element present for
        /// the whole walk is yielded exactly once, none twice.
        ///
        /// ```
        /// use rayon::prelude::*;
        /// let set: lfmap::WordSet<u64> = (0..10_000).collect();
        /// assert_eq!(set.par_iter().sum::<u64>(), (0..10_000).sum());
        /// ```
        pub fn par_iter(&self) -> impl ParallelIterator<Item = T> + '_ {
            self.map.par_iter().map(|(x, _)| x)
        }
    }

    impl<T: WordSized, S: BuildHasher + Sync> ParallelExtend<T> for &WordSet<T, S> {
        /// Extends through a shared reference, inserting from rayon's
        /// workers, after making room (when the length is known).
        ///
        /// ```
        /// use rayon::prelude::*;
        /// let set = lfmap::WordSet::new();
        /// (&set).par_extend((0..1000u32).into_par_iter().map(|i| i % 500));
        /// assert_eq!(set.len(), 500);
        /// ```
        fn par_extend<I: IntoParallelIterator<Item = T>>(&mut self, items: I) {
            let set: &WordSet<T, S> = self;
            let items = items.into_par_iter();
            if let Some(n) = items.opt_len() {
                set.room_for_extend((n, Some(n)));
            }
            items.for_each(|x| {
                set.insert(x);
            });
        }
    }

    impl<T: WordSized, S: BuildHasher + Sync> ParallelExtend<T> for WordSet<T, S> {
        /// ```
        /// use rayon::prelude::*;
        /// let mut set = lfmap::WordSet::new();
        /// set.par_extend((0..1000u32).into_par_iter());
        /// assert_eq!(set.len(), 1000);
        /// ```
        fn par_extend<I: IntoParallelIterator<Item = T>>(&mut self, items: I) {
            (&*self).par_extend(items);
        }
    }

    impl<T: WordSized, S: BuildHasher + Default + Sync> FromParallelIterator<T> for WordSet<T, S> {
        /// ```
        /// use rayon::prelude::*;
        /// let set: lfmap::WordSet<u32> = (0..1000u32).into_par_iter().collect();
        /// assert_eq!(set.len(), 1000);
        /// ```
        fn from_par_iter<I: IntoParallelIterator<Item = T>>(items: I) -> Self {
            let mut set = WordSet::with_hasher(S::default());
            set.par_extend(items);
            set
        }
    }
}
