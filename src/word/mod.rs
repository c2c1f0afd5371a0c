//! [`WordMap`]: the inline fast path for word-sized keys and values.
//!
//! Layout of this module, mirroring the generic map's:
//!
//! | file | what |
//! |---|---|
//! | `bits.rs` | [`WordSized`]: which types fit, as which bit patterns |
//! | `slot.rs` | the slot unit and every transition of its protocol |
//! | `table.rs` | one table generation |
//! | `raw.rs` | lookups, the write engine, migration, iteration steps |
//! | `mod.rs` | the public API |

mod bits;
mod raw;
mod slot;
mod table;

use std::fmt;
use std::hash::BuildHasher;
use std::marker::PhantomData;

pub use self::bits::{WordInteger, WordSized};
use self::raw::{Action, RawWordMap};
use self::table::WordTable;
use crate::map::DefaultHashBuilder;
use crate::resize::policy::{slots_for_capacity, MIN_SLOTS};
use crate::stats::{ProbeStats, Stats};

/// A lock-free concurrent hash map for word-sized keys and values, stored
/// inline: lfmap's answer to Go's `map[int64]int64` fast path.
///
/// Keys and values are any [`WordSized`] types (integers, `NonZero`
/// integers, `char`, `bool`, floats by bit pattern). Each slot holds the
/// key and the value themselves, so an insert allocates nothing and a
/// lookup reads one 16-byte slot: no entry to chase, no reference to hold.
/// Every key is usable, 0 and `u64::MAX` included.
///
/// The architecture is [`HashMap`](crate::HashMap)'s: every change is one
/// CAS on a slot, the table is split-ordered, and a resize is cooperative
/// and incremental (a writer that meets one migrates one chunk of 64 slots
/// first). Nothing but whole tables is ever retired, so the only garbage is
/// old tables, and the map has a reclaimer made for that: a pin is two
/// plain stores to the thread's own record (no locked instruction), and the
/// thread that retires a table, once per resize, pays for the barrier.
/// Methods pin internally; no guard is needed. Pinning is not
/// async-signal-safe: do not use a `WordMap` from a signal handler.
///
/// ```
/// use lfmap::WordMap;
/// use std::thread;
///
/// let hits: WordMap<u64, u64> = WordMap::new();
/// thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| {
///             for page in 0..100 {
///                 hits.add(&page, 1);
///             }
///         });
///     }
/// });
/// assert_eq!(hits.get(&7), Some(4));
/// assert_eq!(hits.len(), 100);
/// ```
///
/// Every operation except iteration and `len` is linearizable
/// (`docs/design.md`, "WordMap"). Iteration is weakly consistent with the
/// same guarantee as [`HashMap`](crate::HashMap)'s: a key present for the
/// whole iteration is yielded exactly once, even across resizes.
pub struct WordMap<K, V, S = DefaultHashBuilder> {
    raw: RawWordMap<S>,
    // Keys and values are stored as bits; `WordSized` types are `Send +
    // Sync + Copy`, so holding them by value changes no auto trait.
    _types: PhantomData<(K, V)>,
}

impl<K: WordSized, V: WordSized> WordMap<K, V> {
    /// Creates an empty map.
    ///
    /// ```
    /// let map: lfmap::WordMap<u32, f64> = lfmap::WordMap::new();
    /// assert!(map.is_empty());
    /// ```
    pub fn new() -> Self {
        Self::with_hasher(DefaultHashBuilder::default())
    }

    /// Creates an empty map that holds `capacity` keys without resizing.
    ///
    /// ```
    /// let map: lfmap::WordMap<u64, u64> = lfmap::WordMap::with_capacity(1000);
    /// assert!(map.stats().capacity >= 1000);
    /// ```
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_capacity_and_hasher(capacity, DefaultHashBuilder::default())
    }
}

impl<K: WordSized, V: WordSized> Default for WordMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: WordSized, V: WordSized, S: BuildHasher> WordMap<K, V, S> {
    /// Creates an empty map that hashes keys (their bit patterns, as `u64`)
    /// with `hasher`.
    ///
    /// ```
    /// use std::collections::hash_map::RandomState;
    /// let map: lfmap::WordMap<u64, u64, _> = lfmap::WordMap::with_hasher(RandomState::new());
    /// map.insert(1, 2);
    /// assert_eq!(map.get(&1), Some(2));
    /// ```
    pub fn with_hasher(hasher: S) -> Self {
        WordMap {
            raw: RawWordMap::new(MIN_SLOTS, hasher),
            _types: PhantomData,
        }
    }

    /// Creates an empty map for `capacity` keys, hashing with `hasher`.
    /// Panics with "lfmap: capacity overflow" if no table can be that large.
    ///
    /// ```
    /// use std::collections::hash_map::RandomState;
    /// let map: lfmap::WordMap<u8, u8, _> =
    ///     lfmap::WordMap::with_capacity_and_hasher(10, RandomState::new());
    /// assert!(map.is_empty());
    /// ```
    pub fn with_capacity_and_hasher(capacity: usize, hasher: S) -> Self {
        WordMap {
            raw: RawWordMap::new(slots_for_capacity(capacity), hasher),
            _types: PhantomData,
        }
    }

    #[inline]
    fn key(&self, key: K) -> slot::KeyId {
        self.raw.key(key.to_bits())
    }

    /// The value of `key`, if present. One probe over inline slots; no
    /// allocation, no reference handed out.
    ///
    /// ```
    /// let map = lfmap::WordMap::new();
    /// map.insert(u64::MAX, 0u64);
    /// assert_eq!(map.get(&u64::MAX), Some(0));
    /// assert_eq!(map.get(&0), None);
    /// ```
    #[inline]
    pub fn get(&self, key: &K) -> Option<V> {
        let key = self.key(*key);
        let guard = self.raw.pin();
        self.raw.get(&key, &guard).map(V::from_bits)
    }

    /// Whether `key` is present.
    ///
    /// ```
    /// let map = lfmap::WordMap::new();
    /// map.insert('x', true);
    /// assert!(map.contains_key(&'x'));
    /// ```
    #[inline]
    pub fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    /// Runs the write engine for `key` with `decide` over bit patterns.
    #[inline]
    fn write(
        &self,
        key: K,
        decide: impl FnMut(Option<u64>) -> Action,
    ) -> (Option<u64>, Option<u64>) {
        let key = self.key(key);
        let guard = self.raw.pin();
        self.raw.write(&key, decide, &guard)
    }

    /// Sets `key` to `value`; returns the value it replaced.
    ///
    /// ```
    /// let map = lfmap::WordMap::new();
    /// assert_eq!(map.insert(1i32, 10u8), None);
    /// assert_eq!(map.insert(1, 11), Some(10));
    /// ```
    #[inline]
    pub fn insert(&self, key: K, value: V) -> Option<V> {
        let bits = value.to_bits();
        self.write(key, |_| Action::Put(bits)).0.map(V::from_bits)
    }

    /// Removes `key`; returns the value it had.
    ///
    /// ```
    /// let map = lfmap::WordMap::new();
    /// map.insert(3u16, 'c');
    /// assert_eq!(map.remove(&3), Some('c'));
    /// assert_eq!(map.remove(&3), None);
    /// ```
    #[inline]
    pub fn remove(&self, key: &K) -> Option<V> {
        self.write(*key, |_| Action::Remove).0.map(V::from_bits)
    }

    /// The value of `key`, inserting `value` first if the key is absent.
    ///
    /// ```
    /// let ids = lfmap::WordMap::new();
    /// assert_eq!(ids.get_or_insert(42u64, 1u32), 1);
    /// assert_eq!(ids.get_or_insert(42, 2), 1);
    /// ```
    #[inline]
    pub fn get_or_insert(&self, key: K, value: V) -> V {
        let bits = value.to_bits();
        V::from_bits(self.get_or_put(key, || bits))
    }

    /// The value of `key`, inserting `make()` first if the key is absent.
    /// `make` runs at most once, and only if the key was absent when looked
    /// at (another thread may still insert it first: its value is returned).
    ///
    /// ```
    /// let map = lfmap::WordMap::new();
    /// assert_eq!(map.get_or_insert_with(1u8, || 5u8), 5);
    /// assert_eq!(map.get_or_insert_with(1, || unreachable!()), 5);
    /// ```
    pub fn get_or_insert_with<F: FnOnce() -> V>(&self, key: K, make: F) -> V {
        let mut make = Some(make);
        let mut made = None;
        V::from_bits(self.get_or_put(key, || {
            *made.get_or_insert_with(|| (make.take().expect("made once"))().to_bits())
        }))
    }

    /// The value bits of `key`, putting `put()` first if the key is absent:
    /// a plain lookup first (no write, no migration help when present), then
    /// the write engine, with one hash and one pin for both.
    fn get_or_put(&self, key: K, mut put: impl FnMut() -> u64) -> u64 {
        let key = self.key(key);
        let guard = self.raw.pin();
        if let Some(v) = self.raw.get(&key, &guard) {
            return v;
        }
        let (_, cur) = self.raw.write(
            &key,
            |cur| match cur {
                Some(_) => Action::Keep,
                None => Action::Put(put()),
            },
            &guard,
        );
        cur.expect("the write leaves the key present")
    }

    /// Replaces `key`'s value `v` with `f(v)` if the key is present; returns
    /// the new value. `f` may run more than once, but only when another
    /// thread changed the key between runs (lock-free retry); the value
    /// written is `f` of the value it replaced.
    ///
    /// ```
    /// let map = lfmap::WordMap::new();
    /// map.insert(1u64, 2.0f64);
    /// assert_eq!(map.update(&1, |v| v * 1.5), Some(3.0));
    /// assert_eq!(map.update(&2, |v| v * 1.5), None);
    /// ```
    pub fn update<F: FnMut(V) -> V>(&self, key: &K, mut f: F) -> Option<V> {
        let (_, cur) = self.write(*key, |cur| match cur {
            Some(v) => Action::Put(f(V::from_bits(v)).to_bits()),
            None => Action::Keep,
        });
        cur.map(V::from_bits)
    }

    /// Adds `delta` to `key`'s value (wrapping on overflow), starting from 0
    /// if the key is absent; returns the value **after** the addition. The
    /// atomic counter of a rate limiter or a histogram: one CAS per call in
    /// the common case, no allocation ever.
    ///
    /// ```
    /// let limits = lfmap::WordMap::<u32, u8>::new();
    /// assert_eq!(limits.add(&7, 200), 200);
    /// assert_eq!(limits.add(&7, 100), 44); // wrapped
    /// let balance = lfmap::WordMap::<u64, i64>::new();
    /// assert_eq!(balance.add(&1, -5), -5);
    /// ```
    #[inline]
    pub fn add(&self, key: &K, delta: V) -> V
    where
        V: WordInteger,
    {
        let (_, cur) = self.write(*key, |cur| {
            Action::Put(V::wrapping_add_bits(cur.unwrap_or(0), delta))
        });
        V::from_bits(cur.expect("add leaves the key present"))
    }

    /// Sets `key` to `new` if its value is `current` (compared by bit
    /// pattern). Returns `Ok(current)` on success, or `Err` with the value
    /// the key had (`None`: absent) when it was not `current`.
    ///
    /// ```
    /// let map = lfmap::WordMap::new();
    /// map.insert(1u64, 10u64);
    /// assert_eq!(map.compare_exchange(&1, 10, 11), Ok(10));
    /// assert_eq!(map.compare_exchange(&1, 10, 12), Err(Some(11)));
    /// assert_eq!(map.compare_exchange(&2, 0, 1), Err(None));
    /// ```
    pub fn compare_exchange(&self, key: &K, current: V, new: V) -> Result<V, Option<V>> {
        let (expected, replacement) = (current.to_bits(), new.to_bits());
        let (prev, _) = self.write(*key, |cur| {
            if cur == Some(expected) {
                Action::Put(replacement)
            } else {
                Action::Keep
            }
        });
        match prev {
            Some(p) if p == expected => Ok(current),
            other => Err(other.map(V::from_bits)),
        }
    }

    /// How far keys sit from their home slots: what lookups cost. Scans
    /// the current table, O(capacity); see [`ProbeStats`].
    ///
    /// ```
    /// let map: lfmap::WordMap<u32, u32> = (0..1000).map(|i| (i, i)).collect();
    /// let probes = map.probe_stats();
    /// assert_eq!(probes.keys, 1000);
    /// assert!(probes.mean_probe() < 4.0);
    /// ```
    pub fn probe_stats(&self) -> ProbeStats {
        self.raw.probe_stats()
    }

    /// Removes every key. Not atomic: keys inserted meanwhile may stay.
    /// O(capacity): the emptied table is then rebuilt once, without its
    /// tombstones, at the `with_capacity` size (or the smallest).
    ///
    /// ```
    /// let map: lfmap::WordMap<u8, u8> = (0..10).map(|i| (i, i)).collect();
    /// map.clear();
    /// assert!(map.is_empty());
    /// ```
    pub fn clear(&self) {
        let guard = self.raw.pin();
        let table = self.raw.stable_root(&guard);
        let mut index = 0;
        while let Some((bits, _)) = self.raw.next_live(table, &mut index, &guard) {
            let key = self.raw.key(bits);
            self.raw.write_in_sweep(
                &key,
                |cur| cur.map_or(Action::Keep, |_| Action::Remove),
                &guard,
            );
        }
        // Removed in slot order without shrinking on the way: resize once.
        self.raw.end_sweep(&guard);
    }

    /// An iterator over `(key, value)` pairs (copies), weakly consistent:
    /// see the type's documentation. It may move between threads, and holds
    /// a pin until dropped: while it lives, no table retired by a resize of
    /// any `WordMap` in the process is freed (epochs are process-wide), so
    /// drop iterators when done; a leaked one (`mem::forget`) holds them
    /// until each map is dropped. The same goes for an `update` or
    /// `get_or_insert_with` closure that blocks.
    ///
    /// ```
    /// let map: lfmap::WordMap<u64, u64> = (0..100).map(|i| (i, i * i)).collect();
    /// let mut sum = 0;
    /// for (k, v) in map.iter() {
    ///     assert_eq!(v, k * k);
    ///     sum += k;
    /// }
    /// assert_eq!(sum, 4950);
    /// ```
    pub fn iter(&self) -> Iter<'_, K, V, S> {
        let guard = self.raw.pin_owned();
        let table: *const WordTable = self.raw.stable_root(&guard);
        Iter {
            map: self,
            guard,
            table,
            index: 0,
        }
    }
}

impl<K, V, S> WordMap<K, V, S> {
    /// Number of keys. Exact when no write runs concurrently; otherwise a
    /// recent value (it never stops writers).
    ///
    /// ```
    /// let map = lfmap::WordMap::new();
    /// map.insert(0u64, 0u64);
    /// assert_eq!(map.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the map has no keys (see [`len`](WordMap::len)).
    ///
    /// ```
    /// assert!(lfmap::WordMap::<u8, u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The map's counters (see [`Stats`]); a few relaxed loads, no scan.
    ///
    /// ```
    /// let map = lfmap::WordMap::new();
    /// map.add(&1u64, 1u64);
    /// assert_eq!(map.stats().inserts, 1);
    /// ```
    pub fn stats(&self) -> Stats {
        self.raw.stats()
    }

    /// The map's hasher.
    ///
    /// ```
    /// let map = lfmap::WordMap::<u8, u8>::new();
    /// let _ = map.hasher();
    /// ```
    pub fn hasher(&self) -> &S {
        &self.raw.hasher
    }
}

/// Iterator over a [`WordMap`]'s `(key, value)` pairs, from
/// [`WordMap::iter`].
pub struct Iter<'m, K, V, S> {
    map: &'m WordMap<K, V, S>,
    guard: raw::WordOwnedGuard<'m>,
    /// The table walked: loaded through `guard`, so alive while it is.
    table: *const WordTable,
    index: usize,
}

impl<K, V, S> fmt::Debug for Iter<'_, K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WordIter")
            .field("slot", &self.index)
            .finish_non_exhaustive()
    }
}

// SAFETY: the table pointer is protected by the owned guard, which is
// `Send`; keys and values are copies of `Send + Sync` types.
unsafe impl<K: WordSized, V: WordSized, S: Sync> Send for Iter<'_, K, V, S> {}

impl<K: WordSized, V: WordSized, S: BuildHasher> Iterator for Iter<'_, K, V, S> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        // SAFETY: loaded through `self.guard`, which is alive.
        let table = unsafe { &*self.table };
        self.map
            .raw
            .next_live(table, &mut self.index, &self.guard)
            .map(|(k, v)| (K::from_bits(k), V::from_bits(v)))
    }
}

impl<K: WordSized, V: WordSized, S: BuildHasher> fmt::Debug for WordMap<K, V, S>
where
    K: fmt::Debug,
    V: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: WordSized, V: WordSized, S: BuildHasher> Extend<(K, V)> for WordMap<K, V, S> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K: WordSized, V: WordSized, S: BuildHasher> Extend<(K, V)> for &WordMap<K, V, S> {
    /// Extends through a shared reference: threads may extend one map at
    /// once.
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K: WordSized, V: WordSized, S: BuildHasher + Default> FromIterator<(K, V)>
    for WordMap<K, V, S>
{
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let map = Self::with_capacity_and_hasher(iter.size_hint().0, S::default());
        for (k, v) in iter {
            map.insert(k, v);
        }
        map
    }
}

/// Capacity control, as on [`HashMap`](crate::HashMap::reserve):
/// each call that resizes runs one ordinary cooperative resize, migrated by
/// the calling thread, while other threads keep reading and writing.
impl<K: WordSized, V: WordSized, S: BuildHasher> WordMap<K, V, S> {
    /// How many keys the map holds before its table must grow: the current
    /// (or, during a resize, the new) table's load limit, 3/4 of its slots.
    /// Removed keys keep their slots until the next resize.
    ///
    /// ```
    /// let map: lfmap::WordMap<u64, u64> = lfmap::WordMap::with_capacity(1000);
    /// assert!(map.capacity() >= 1000);
    /// ```
    pub fn capacity(&self) -> usize {
        self.raw.capacity()
    }

    /// Makes room for at least `additional` more keys than the map holds
    /// now, growing the table once, here, if it is too small; until
    /// [`shrink_to_fit`](WordMap::shrink_to_fit) the map does not shrink
    /// below that size.
    ///
    /// # Panics
    ///
    /// Panics with "lfmap: capacity overflow" if the table would not fit in
    /// the address space, and aborts like `Vec` if the allocator fails; use
    /// [`try_reserve`](WordMap::try_reserve) to get an error instead.
    ///
    /// ```
    /// let map: lfmap::WordMap<u64, u64> = lfmap::WordMap::new();
    /// map.reserve(10_000);
    /// let resizes = map.stats().resizes;
    /// for i in 0..10_000 {
    ///     map.insert(i, i);
    /// }
    /// assert_eq!(map.stats().resizes, resizes);
    /// ```
    pub fn reserve(&self, additional: usize) {
        if let Err(e) = self.try_reserve(additional) {
            crate::resize::memory::alloc_failed(e);
        }
    }

    /// [`reserve`](WordMap::reserve), returning an error instead of
    /// panicking or aborting. The map is unchanged on error.
    ///
    /// ```
    /// let map: lfmap::WordMap<u64, u64> = lfmap::WordMap::new();
    /// assert_eq!(
    ///     map.try_reserve(usize::MAX),
    ///     Err(lfmap::TryReserveError::CapacityOverflow)
    /// );
    /// ```
    pub fn try_reserve(&self, additional: usize) -> Result<(), crate::TryReserveError> {
        self.raw.try_reserve(additional)
    }

    /// Shrinks the table to the smallest that holds the current keys below
    /// its load limit, dropping removed keys' tombstones, and lifts the
    /// floor that `with_capacity` and `reserve` set. O(capacity); best
    /// effort (if the smaller table cannot be allocated, nothing changes).
    ///
    /// ```
    /// let map: lfmap::WordMap<u64, u64> = lfmap::WordMap::with_capacity(100_000);
    /// map.insert(1, 1);
    /// map.shrink_to_fit();
    /// assert!(map.capacity() < 100);
    /// assert_eq!(map.get(&1), Some(1));
    /// ```
    pub fn shrink_to_fit(&self) {
        self.raw.shrink_to_fit();
    }
}
