//! [`WordSet`]: a set of word-sized elements, a thin wrapper over
//! [`WordMap<T, bool>`](crate::WordMap) whose value is always `true`.

use std::fmt;
use std::hash::BuildHasher;
use std::iter::FusedIterator;

use crate::map::DefaultHashBuilder;
use crate::stats::{ProbeStats, Stats};
use crate::word::{Iter as WordMapIter, WordMap, WordSized};

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
/// Every operation except iteration, `clear`, `retain` and `len` is
/// linearizable;
/// iteration has the [`HashSet`](crate::HashSet)'s guarantee: an element
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
    /// As [`WordMap::reserve`]: on a capacity overflow.
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
    /// Number of elements. Exact when no write runs concurrently;
    /// otherwise a recent value.
    ///
    /// ```
    /// let set = lfmap::WordSet::new();
    /// set.insert(0u64);
    /// assert_eq!(set.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the set has no elements (see [`len`](WordSet::len)).
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

impl<T, S> fmt::Debug for WordSetIter<'_, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WordSetIter").field(&self.iter).finish()
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
    /// hasher (sized as `collect` sizes).
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
    pub(crate) fn room_for_extend(&self, hint: usize) {
        self.map.room_for_extend(hint);
    }
}

impl<T: WordSized, S: BuildHasher> Extend<T> for &WordSet<T, S> {
    /// Extends through a shared reference: threads may extend one set at
    /// once.
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
        self.room_for_extend(iter.size_hint().0);
        for x in iter {
            self.insert(x);
        }
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
                set.room_for_extend(n);
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
