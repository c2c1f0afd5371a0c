//! The sets: [`HashSet`] and [`WordSet`], thin wrappers over the two maps.
//!
//! A set is a map whose values carry nothing: [`HashSet<T>`] is a
//! [`HashMap<T, ()>`](crate::HashMap) and [`WordSet<T>`] a
//! [`WordMap<T, bool>`](crate::WordMap) whose value is always `true`. Every
//! operation is the map's, so every guarantee is too: lock-freedom,
//! linearizability (except iteration, `clear`, `retain` and `len`, and
//! `is_empty`, which is `len() == 0`), weak consistency for what is built
//! on a walk (`Clone`, `Debug`, `PartialEq`, serde serialization and the
//! set relations), the iteration guarantee, and the bad-input guarantees.
//!
//! | file | what |
//! |---|---|
//! | `set.rs` | [`HashSet`], its pinned handle [`HashSetRef`], iterators |
//! | `set/word.rs` | [`WordSet`] |
//! | `set/relations.rs` | the set relations' iterators, shared by both sets |

pub mod relations;
mod word;

use equivalent::Equivalent;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::iter::FusedIterator;

pub use self::word::{
    WordSet, WordSetDifference, WordSetDrain, WordSetIntersection, WordSetIntoIter, WordSetIter,
    WordSetSymmetricDifference, WordSetUnion,
};
use crate::guard::{LocalGuard, OwnedGuard};
use crate::iter::{Drain, IntoIter, OwnedIter};
use crate::map::{DefaultHashBuilder, HashMap, HashMapRef, Keys};
use crate::reclaim::ReclaimGuard;
use crate::stats::{ProbeStats, Stats};

/// A lock-free concurrent hash set: a [`HashMap<T, ()>`](crate::HashMap)
/// with a set's API (papaya's `HashSet`, dashmap's `DashSet` and
/// `scc::HashSet` map onto it).
///
/// Elements are read and written through a [`pin`](HashSet::pin)ned
/// handle, like the map's entries; no operation waits for another thread's
/// (as for [`HashMap`], the entry allocator's refills
/// aside), and the table resizes cooperatively and incrementally.
///
/// ```
/// use lfmap::HashSet;
/// use std::thread;
///
/// let set = HashSet::new();
/// thread::scope(|s| {
///     for t in 0..4u64 {
///         let set = &set;
///         s.spawn(move || {
///             let s = set.pin();
///             for i in 0..1000 {
///                 s.insert(i * (t + 1) % 2000);
///             }
///         });
///     }
/// });
/// assert!(set.pin().contains(&0));
/// assert_eq!(set.len(), set.pin().iter().count());
/// ```
pub struct HashSet<T, S = DefaultHashBuilder> {
    map: HashMap<T, (), S>,
}

impl<T> HashSet<T> {
    /// Creates an empty set.
    ///
    /// ```
    /// let set: lfmap::HashSet<String> = lfmap::HashSet::new();
    /// assert!(set.is_empty());
    /// ```
    pub fn new() -> Self {
        HashSet {
            map: HashMap::new(),
        }
    }

    /// Creates an empty set that holds at least `capacity` elements before
    /// it resizes.
    ///
    /// Its table's memory is faulted in here and stays resident, as with
    /// [`HashMap::with_capacity`].
    ///
    /// # Panics
    ///
    /// Panics with "lfmap: capacity overflow" if the table this needs would
    /// take more than `isize::MAX` bytes, and aborts like `Vec` if the
    /// allocator cannot give a smaller one.
    ///
    /// ```
    /// let set: lfmap::HashSet<u64> = lfmap::HashSet::with_capacity(1000);
    /// assert!(set.stats().capacity >= 1000);
    /// ```
    pub fn with_capacity(capacity: usize) -> Self {
        HashSet {
            map: HashMap::with_capacity(capacity),
        }
    }
}

impl<T, S> HashSet<T, S> {
    /// Creates an empty set that hashes elements with `hasher`.
    ///
    /// ```
    /// use std::collections::hash_map::RandomState;
    /// let set: lfmap::HashSet<&str, _> = lfmap::HashSet::with_hasher(RandomState::new());
    /// assert!(set.pin().insert("a"));
    /// ```
    pub fn with_hasher(hasher: S) -> Self {
        HashSet {
            map: HashMap::with_hasher(hasher),
        }
    }

    /// Creates an empty set with room for `capacity` elements, hashing them
    /// with `hasher`.
    ///
    /// # Panics
    ///
    /// Panics with "lfmap: capacity overflow" if `capacity` is too large.
    ///
    /// ```
    /// use std::collections::hash_map::RandomState;
    /// let set: lfmap::HashSet<u32, _> =
    ///     lfmap::HashSet::with_capacity_and_hasher(64, RandomState::new());
    /// assert!(set.stats().capacity >= 64);
    /// ```
    pub fn with_capacity_and_hasher(capacity: usize, hasher: S) -> Self {
        HashSet {
            map: HashMap::with_capacity_and_hasher(capacity, hasher),
        }
    }

    /// Pins the current thread and returns a handle for operating on the
    /// set. References it returns stay valid as long as it lives, even if
    /// another thread removes the element meanwhile (see
    /// [`HashMap::pin`](crate::HashMap::pin): keep handles short-lived in
    /// long-running loops).
    ///
    /// ```
    /// let set = lfmap::HashSet::new();
    /// let s = set.pin();
    /// s.insert(String::from("k"));
    /// let k = s.get("k").unwrap();
    /// s.remove("k");
    /// assert_eq!(k, "k"); // still valid: `s` is pinned
    /// ```
    #[inline]
    pub fn pin(&self) -> HashSetRef<'_, T, S> {
        HashSetRef {
            map: self.map.pin(),
        }
    }

    /// Pins with a handle that owns its guard: it is `Send` (when `T` and
    /// `S` allow) and may be held across `.await` points or moved to
    /// another thread (see [`HashMap::pin_owned`](crate::HashMap::pin_owned)).
    ///
    /// ```
    /// let set = lfmap::HashSet::new();
    /// let s = set.pin_owned();
    /// s.insert(1);
    /// std::thread::scope(|scope| {
    ///     scope.spawn(move || assert!(s.contains(&1)));
    /// });
    /// ```
    pub fn pin_owned(&self) -> HashSetRef<'_, T, S, OwnedGuard<'_>> {
        HashSetRef {
            map: self.map.pin_owned(),
        }
    }

    /// Number of elements. Exact when no write is in flight; while writes run,
    /// off by at most the inserts and removes that complete during the call
    /// (each writer's counts are read once, at some moment of the call;
    /// never below 0, and it never stops writers).
    ///
    /// ```
    /// let set = lfmap::HashSet::new();
    /// set.pin().insert(1);
    /// assert_eq!(set.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the set has no elements: `len() == 0`, with
    /// [`len`](HashSet::len)'s caveat under concurrent writes.
    ///
    /// ```
    /// let set: lfmap::HashSet<i32> = lfmap::HashSet::new();
    /// assert!(set.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// How far elements sit from their home slots: what lookups cost.
    /// Scans the current table, O(capacity); see [`ProbeStats`].
    ///
    /// ```
    /// let set: lfmap::HashSet<u32> = (0..1000).collect();
    /// let probes = set.probe_stats();
    /// assert_eq!(probes.keys, 1000);
    /// assert!(probes.mean_probe() < 4.0);
    /// ```
    pub fn probe_stats(&self) -> ProbeStats {
        self.map.probe_stats()
    }

    /// Counters describing the set; cheap (no scan). See [`Stats`].
    ///
    /// ```
    /// let set = lfmap::HashSet::with_capacity(0);
    /// let s = set.pin();
    /// for i in 0..10_000 {
    ///     s.insert(i);
    /// }
    /// let stats = set.stats();
    /// assert_eq!(stats.len, 10_000);
    /// assert!(stats.resizes > 0);
    /// ```
    pub fn stats(&self) -> Stats {
        self.map.stats()
    }

    /// The set's hasher.
    ///
    /// ```
    /// use std::hash::BuildHasher;
    /// let set: lfmap::HashSet<u8> = lfmap::HashSet::new();
    /// let _h = set.hasher().hash_one(1u8);
    /// ```
    pub fn hasher(&self) -> &S {
        self.map.hasher()
    }
}

impl<T, S: Default> Default for HashSet<T, S> {
    /// An empty set with a default hasher.
    ///
    /// ```
    /// let set: lfmap::HashSet<u8> = Default::default();
    /// assert!(set.is_empty());
    /// ```
    fn default() -> Self {
        Self::with_hasher(S::default())
    }
}

/// A pinned handle to a [`HashSet`], from [`HashSet::pin`] or
/// [`HashSet::pin_owned`].
///
/// Every method is lock-free, but for the entry allocator's refills
/// ([`HashMap`]). References it returns live as long as the
/// handle. With the default [`LocalGuard`] the handle is tied to the thread
/// that pinned it (not `Send`); with an [`OwnedGuard`] it may move.
///
/// ```
/// let set = lfmap::HashSet::new();
/// let s: lfmap::HashSetRef<'_, u32, _, lfmap::LocalGuard<'_>> = set.pin();
/// assert!(s.insert(7));
/// assert!(!s.insert(7));
/// assert!(s.contains(&7));
/// ```
pub struct HashSetRef<'set, T, S = DefaultHashBuilder, G = LocalGuard<'set>> {
    map: HashMapRef<'set, T, (), S, G>,
}

impl<'set, T, S, G> HashSetRef<'set, T, S, G>
where
    T: Hash + Eq,
    S: BuildHasher,
    G: ReclaimGuard,
{
    /// The map handle underneath, for `par_iter`.
    #[cfg(feature = "rayon")]
    pub(crate) fn as_map(&self) -> &HashMapRef<'set, T, (), S, G> {
        &self.map
    }

    /// Before an `extend` of `hint` elements: room for them, without a
    /// floor (`HashMapRef::room_for_extend`).
    pub(crate) fn room_for_extend(&self, hint: (usize, Option<usize>)) {
        self.map.room_for_extend(hint);
    }

    /// Adds `value`; returns whether it was newly inserted.
    ///
    /// If an equal element is present, the set keeps it (as std's does;
    /// unlike [`HashMapRef::insert`], which stores the new key) and `value`
    /// is dropped. Linearizable: of any number of threads inserting equal
    /// elements into a set without one, exactly one gets `true`. An element
    /// already present costs one lookup and no allocation.
    ///
    /// ```
    /// let set = lfmap::HashSet::new();
    /// let s = set.pin();
    /// assert!(s.insert("a"));
    /// assert!(!s.insert("a"));
    /// assert_eq!(s.len(), 1);
    /// ```
    pub fn insert(&self, value: T) -> bool {
        self.map.try_insert(value, ()).is_ok()
    }

    /// Adds `value`, replacing the equal element if there is one, which it
    /// returns: std's `replace`. The replaced element is lent for as long
    /// as the handle lives (it is dropped once no handle can see it).
    ///
    /// ```
    /// // Equal by name, told apart by their ids.
    /// #[derive(Debug)]
    /// struct User { name: &'static str, id: u32 }
    /// impl PartialEq for User {
    ///     fn eq(&self, other: &Self) -> bool { self.name == other.name }
    /// }
    /// impl Eq for User {}
    /// impl std::hash::Hash for User {
    ///     fn hash<H: std::hash::Hasher>(&self, h: &mut H) { self.name.hash(h) }
    /// }
    /// let set = lfmap::HashSet::new();
    /// let s = set.pin();
    /// assert!(s.replace(User { name: "ann", id: 1 }).is_none());
    /// let old = s.replace(User { name: "ann", id: 2 }).unwrap();
    /// assert_eq!(old.id, 1);
    /// assert_eq!(s.len(), 1);
    /// assert_eq!(s.iter().next().unwrap().id, 2);
    /// ```
    pub fn replace(&self, value: T) -> Option<&T> {
        self.map.insert_entry(value, ()).map(|(old, ())| old)
    }

    /// The element equal to `value`, adding `value` first if none is
    /// present: the stored element either way, lent for as long as the
    /// handle lives (std's and hashbrown's `get_or_insert`), an interner's
    /// call. Among racing callers with equal elements exactly one adds its
    /// own, and all of them get that one (unless another thread removes it
    /// meanwhile: a caller after the removal adds again). A present
    /// element is found by a lookup alone: nothing is written or
    /// allocated, and `value` is dropped.
    ///
    /// ```
    /// let names = lfmap::HashSet::new();
    /// let n = names.pin();
    /// let a: &String = n.get_or_insert(String::from("ann"));
    /// let b: &String = n.get_or_insert(String::from("ann"));
    /// assert!(std::ptr::eq(a, b)); // one stored copy
    /// assert_eq!(n.len(), 1);
    /// ```
    pub fn get_or_insert(&self, value: T) -> &T {
        self.map.get_or_insert_entry(value, ()).0
    }

    /// The element equal to `value`, adding `make(value)` first if none is
    /// present (std's and hashbrown's `get_or_insert_with`): the interner
    /// that looks up by `&str` and builds the `String` (or `Arc<str>`) only
    /// for a new one. `make` runs at most once per call, and only if no
    /// equal element was present when looked up; what it made is added
    /// only if none is by then (otherwise it is dropped and the present one
    /// returned). `make` may use the set freely, `value` included.
    ///
    /// # Panics
    ///
    /// If `make(value)` is not equal to `value` (it would be stored where
    /// lookups of `value` never find it), before anything is added, as in
    /// hashbrown.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let words: lfmap::HashSet<Arc<str>> = lfmap::HashSet::new();
    /// let w = words.pin();
    /// let first = Arc::clone(w.get_or_insert_with("lock-free", |s| Arc::from(s)));
    /// let again = w.get_or_insert_with("lock-free", |_| unreachable!());
    /// assert!(Arc::ptr_eq(&first, again));
    /// ```
    pub fn get_or_insert_with<Q, F>(&self, value: &Q, make: F) -> &T
    where
        Q: Hash + Equivalent<T> + ?Sized,
        F: FnOnce(&Q) -> T,
    {
        if let Some(present) = self.get(value) {
            return present;
        }
        let made = make(value);
        assert!(
            value.equivalent(&made),
            "HashSetRef::get_or_insert_with: the element made is not equal to the one looked up"
        );
        self.map.put_entry_if_absent(made, ()).0
    }

    /// Whether `value` is present.
    ///
    /// ```
    /// let set = lfmap::HashSet::new();
    /// let s = set.pin();
    /// s.insert(String::from("a"));
    /// assert!(s.contains("a"));
    /// assert!(!s.contains("b"));
    /// ```
    #[inline]
    pub fn contains<Q>(&self, value: &Q) -> bool
    where
        Q: Hash + Equivalent<T> + ?Sized,
    {
        self.map.contains_key(value)
    }

    /// The element equal to `value`, if present: the stored one, valid as
    /// long as the handle lives.
    ///
    /// ```
    /// let set = lfmap::HashSet::new();
    /// let s = set.pin();
    /// s.insert(String::from("a"));
    /// assert_eq!(s.get("a"), Some(&String::from("a")));
    /// assert_eq!(s.get("b"), None);
    /// ```
    #[inline]
    pub fn get<Q>(&self, value: &Q) -> Option<&T>
    where
        Q: Hash + Equivalent<T> + ?Sized,
    {
        self.map.get_key_value(value).map(|(k, _)| k)
    }

    /// Removes `value`; returns whether it was present.
    ///
    /// ```
    /// let set = lfmap::HashSet::new();
    /// let s = set.pin();
    /// s.insert(1);
    /// assert!(s.remove(&1));
    /// assert!(!s.remove(&1));
    /// ```
    pub fn remove<Q>(&self, value: &Q) -> bool
    where
        Q: Hash + Equivalent<T> + ?Sized,
    {
        self.map.remove(value).is_some()
    }

    /// Removes `value` and returns the element that was stored, valid as
    /// long as the handle lives (std's `take`, by reference). A removed
    /// element is a removed key: its slot keeps it until the table's next
    /// resize or until it is inserted again, and only then is it freed,
    /// once no handle can see it ([`HashMap`]'s docs).
    ///
    /// ```
    /// let set = lfmap::HashSet::new();
    /// let s = set.pin();
    /// s.insert(String::from("a"));
    /// assert_eq!(s.take("a").map(String::as_str), Some("a"));
    /// assert_eq!(s.take("a"), None);
    /// ```
    pub fn take<Q>(&self, value: &Q) -> Option<&T>
    where
        Q: Hash + Equivalent<T> + ?Sized,
    {
        self.map.remove_if(value, |_, _| true).map(|(k, _)| k)
    }

    /// Number of elements (see [`HashSet::len`]).
    ///
    /// ```
    /// let set = lfmap::HashSet::new();
    /// let s = set.pin();
    /// s.insert(1);
    /// assert_eq!(s.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the set is empty: `len() == 0`, with [`HashSet::len`]'s
    /// caveat under concurrent writes.
    ///
    /// ```
    /// let set: lfmap::HashSet<u8> = lfmap::HashSet::new();
    /// assert!(set.pin().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Hands what this handle's thread retired in this set over to be
    /// freed as soon as no pinned handle can see it
    /// ([`HashMapRef::flush`]): elements replaced by `replace`, and the
    /// tombstones of a table a resize retired. A removed element is a
    /// removed key, which its slot keeps until the next resize (see
    /// [`take`](Self::take)): a flush does not free it sooner.
    ///
    /// ```
    /// let set = lfmap::HashSet::new();
    /// let s = set.pin();
    /// s.insert(String::from("a"));
    /// s.replace(String::from("a"));
    /// s.flush();
    /// ```
    pub fn flush(&self) {
        self.map.flush();
    }

    /// [`HashSet::reserve`], through this handle's pin.
    ///
    /// ```
    /// let set: lfmap::HashSet<u64> = lfmap::HashSet::new();
    /// let s = set.pin();
    /// s.reserve(1000);
    /// assert!(set.capacity() >= 1000);
    /// ```
    pub fn reserve(&self, additional: usize) {
        self.map.reserve(additional);
    }

    /// [`HashSet::try_reserve`], through this handle's pin.
    ///
    /// ```
    /// let set: lfmap::HashSet<u64> = lfmap::HashSet::new();
    /// assert!(set.pin().try_reserve(usize::MAX).is_err());
    /// ```
    pub fn try_reserve(&self, additional: usize) -> Result<(), crate::TryReserveError> {
        self.map.try_reserve(additional)
    }

    /// [`HashSet::capacity`], through this handle's pin.
    ///
    /// ```
    /// let set: lfmap::HashSet<u64> = lfmap::HashSet::with_capacity(100);
    /// assert!(set.pin().capacity() >= 100);
    /// ```
    pub fn capacity(&self) -> usize {
        self.map.capacity()
    }

    /// [`HashSet::shrink_to_fit`], through this handle's pin.
    ///
    /// ```
    /// let set: lfmap::HashSet<u64> = lfmap::HashSet::with_capacity(10_000);
    /// set.pin().shrink_to_fit();
    /// assert!(set.capacity() < 100);
    /// ```
    pub fn shrink_to_fit(&self) {
        self.map.shrink_to_fit();
    }

    /// [`HashSet::shrink_to`], through this handle's pin.
    ///
    /// ```
    /// let set: lfmap::HashSet<u64> = lfmap::HashSet::with_capacity(10_000);
    /// set.pin().shrink_to(500);
    /// assert!(set.capacity() >= 500 && set.capacity() < 10_000);
    /// ```
    pub fn shrink_to(&self, min_capacity: usize) {
        self.map.shrink_to(min_capacity);
    }

    /// Removes every element present when the call starts. Not atomic:
    /// elements inserted meanwhile may remain (see
    /// [`HashMapRef::clear`]).
    ///
    /// ```
    /// let set = lfmap::HashSet::new();
    /// let s = set.pin();
    /// s.insert(1);
    /// s.clear();
    /// assert!(s.is_empty());
    /// ```
    pub fn clear(&self) {
        self.map.clear();
    }

    /// Keeps only the elements for which `keep` holds. Each element present
    /// throughout is judged once, with the iteration guarantee of
    /// [`iter`](HashSetRef::iter) (see [`HashMapRef::retain`]).
    ///
    /// ```
    /// let set: lfmap::HashSet<u32> = (0..10).collect();
    /// let s = set.pin();
    /// s.retain(|x| x % 2 == 0);
    /// assert_eq!(s.len(), 5);
    /// assert!(!s.contains(&3));
    /// ```
    pub fn retain<F>(&self, mut keep: F)
    where
        F: FnMut(&T) -> bool,
    {
        self.map.retain(|k, _| keep(k));
    }

    /// An iterator over the elements. Weakly consistent, never blocks: an
    /// element present for the whole iteration is yielded exactly once, and
    /// none twice (the [iteration guarantee](crate#iteration)).
    ///
    /// ```
    /// let set = lfmap::HashSet::new();
    /// let s = set.pin();
    /// s.insert(1);
    /// s.insert(2);
    /// let mut all: Vec<_> = s.iter().copied().collect();
    /// all.sort();
    /// assert_eq!(all, [1, 2]);
    /// ```
    pub fn iter(&self) -> SetIter<'_, T, G> {
        SetIter {
            keys: self.map.keys(),
        }
    }
}

/// Set relations, as std's `HashSet` has them: the other set is another
/// handle (pinned with [`pin`](HashSet::pin) or
/// [`pin_owned`](HashSet::pin_owned)), and the iterators yield references
/// valid as long as both handles are borrowed.
///
/// Under concurrent writes these are weakly consistent: they walk one set
/// as [`iter`](HashSetRef::iter) does and look each element up in the
/// other once, at the moment the walk reaches it. No snapshot of either
/// set is taken, so with writers running an answer need not hold at any
/// single moment (as [`PartialEq`] for sets); with no write in flight it
/// is exact. The iterators are [`relations`]' generic
/// ones, named here through aliases such as [`SetDifference`].
impl<'set, T, S, G> HashSetRef<'set, T, S, G>
where
    T: Hash + Eq,
    S: BuildHasher,
    G: ReclaimGuard,
{
    /// Whether every element of `self` is in `other`. Walks `self` (with no
    /// shortcut on the lengths, as std takes: under concurrent writes a
    /// length is a count of a moment, not of the walk).
    ///
    /// ```
    /// let a: lfmap::HashSet<u8> = [1, 2].into_iter().collect();
    /// let b: lfmap::HashSet<u8> = [1, 2, 3].into_iter().collect();
    /// let (a, b) = (a.pin(), b.pin());
    /// assert!(a.is_subset(&b));
    /// assert!(!b.is_subset(&a));
    /// ```
    pub fn is_subset<G2: ReclaimGuard>(&self, other: &HashSetRef<'_, T, S, G2>) -> bool {
        relations::all_in(self.iter(), other)
    }

    /// Whether every element of `other` is in `self`. Walks `other`.
    ///
    /// ```
    /// let a: lfmap::HashSet<u8> = [1, 2, 3].into_iter().collect();
    /// let b: lfmap::HashSet<u8> = [3].into_iter().collect();
    /// let (a, b) = (a.pin(), b.pin_owned());
    /// assert!(a.is_superset(&b));
    /// assert!(!b.is_superset(&a));
    /// ```
    pub fn is_superset<G2: ReclaimGuard>(&self, other: &HashSetRef<'_, T, S, G2>) -> bool {
        other.is_subset(self)
    }

    /// Whether `self` and `other` have no element in common. Walks the
    /// set whose [`len`](HashSetRef::len) is smaller.
    ///
    /// ```
    /// let a: lfmap::HashSet<u8> = [1, 2].into_iter().collect();
    /// let b: lfmap::HashSet<u8> = [3, 4].into_iter().collect();
    /// let (a, b) = (a.pin(), b.pin());
    /// assert!(a.is_disjoint(&b));
    /// b.insert(2);
    /// assert!(!a.is_disjoint(&b));
    /// ```
    pub fn is_disjoint<G2: ReclaimGuard>(&self, other: &HashSetRef<'_, T, S, G2>) -> bool {
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
    /// let a: lfmap::HashSet<u8> = [1, 2, 3].into_iter().collect();
    /// let b: lfmap::HashSet<u8> = [2, 3, 4].into_iter().collect();
    /// let (a, b) = (a.pin(), b.pin());
    /// assert_eq!(a.difference(&b).collect::<Vec<_>>(), [&1]);
    /// ```
    pub fn difference<'a, G2: ReclaimGuard>(
        &'a self,
        other: &'a HashSetRef<'_, T, S, G2>,
    ) -> SetDifference<'a, T, S, G, G2> {
        relations::Difference::new(self.iter(), other)
    }

    /// The elements of `self` that are also in `other` (those of `self`:
    /// the stored ones). Walks `self`.
    ///
    /// ```
    /// let a: lfmap::HashSet<u8> = [1, 2, 3].into_iter().collect();
    /// let b: lfmap::HashSet<u8> = [2, 3, 4].into_iter().collect();
    /// let (a, b) = (a.pin(), b.pin());
    /// let mut both: Vec<u8> = a.intersection(&b).copied().collect();
    /// both.sort();
    /// assert_eq!(both, [2, 3]);
    /// ```
    pub fn intersection<'a, G2: ReclaimGuard>(
        &'a self,
        other: &'a HashSetRef<'_, T, S, G2>,
    ) -> SetIntersection<'a, T, S, G, G2> {
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
    /// let a: lfmap::HashSet<u8> = [1, 2].into_iter().collect();
    /// let b: lfmap::HashSet<u8> = [2, 3].into_iter().collect();
    /// let (a, b) = (a.pin(), b.pin());
    /// let mut all: Vec<u8> = a.union(&b).copied().collect();
    /// all.sort();
    /// assert_eq!(all, [1, 2, 3]);
    /// ```
    pub fn union<'a, G2: ReclaimGuard>(
        &'a self,
        other: &'a HashSetRef<'_, T, S, G2>,
    ) -> SetUnion<'a, T, S, G, G2> {
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
    /// let a: lfmap::HashSet<u8> = [1, 2].into_iter().collect();
    /// let b: lfmap::HashSet<u8> = [2, 3].into_iter().collect();
    /// let (a, b) = (a.pin(), b.pin());
    /// let mut odd: Vec<u8> = a.symmetric_difference(&b).copied().collect();
    /// odd.sort();
    /// assert_eq!(odd, [1, 3]);
    /// ```
    pub fn symmetric_difference<'a, G2: ReclaimGuard>(
        &'a self,
        other: &'a HashSetRef<'_, T, S, G2>,
    ) -> SetSymmetricDifference<'a, T, S, G, G2> {
        relations::SymmetricDifference::new(self.difference(other), other.difference(self))
    }
}

impl<'set, T, S> HashSetRef<'set, T, S, LocalGuard<'set>> {
    /// Lets go of this handle's pin and pins again, so that a handle kept
    /// for a long time stops holding back the freeing of what every thread
    /// removed since it was pinned: as
    /// [`HashMapRef::refresh`](HashMapRef::refresh)
    /// (while another handle of this thread is alive, the pin stays where
    /// it was, the backends differing as said there; a panicking `Drop` of
    /// a freed element unwinds out of it with the handle pinned again).
    ///
    /// ```
    /// let set = lfmap::HashSet::new();
    /// let mut s = set.pin();
    /// for i in 0..10_000u64 {
    ///     s.insert(i);
    ///     s.remove(&(i / 2));
    ///     if i % 1_000 == 999 {
    ///         s.refresh();
    ///     }
    /// }
    /// assert!(s.contains(&9_999));
    /// ```
    pub fn refresh(&mut self) {
        self.map.refresh();
    }
}

impl<'set, T, S> HashSetRef<'set, T, S, OwnedGuard<'set>> {
    /// Lets go of this handle's pin and takes a new one, as a `pin`
    /// handle's [`refresh`](HashSetRef::refresh); an
    /// owned handle's pin is its own, so it always lets go.
    ///
    /// ```
    /// let set = lfmap::HashSet::new();
    /// let mut s = set.pin_owned();
    /// s.insert(1);
    /// s.refresh();
    /// assert!(s.contains(&1));
    /// ```
    pub fn refresh(&mut self) {
        self.map.refresh();
    }
}

impl<T, S, G> fmt::Debug for HashSetRef<'_, T, S, G>
where
    T: Hash + Eq + fmt::Debug,
    S: BuildHasher,
    G: ReclaimGuard,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl<'a, T, S, G> IntoIterator for &'a HashSetRef<'_, T, S, G>
where
    T: Hash + Eq,
    S: BuildHasher,
    G: ReclaimGuard,
{
    type Item = &'a T;
    type IntoIter = SetIter<'a, T, G>;

    /// Iterates over the elements (see [`HashSetRef::iter`]).
    ///
    /// ```
    /// let set: lfmap::HashSet<u32> = (0..3).collect();
    /// let s = set.pin();
    /// let mut sum = 0;
    /// for x in &s {
    ///     sum += x;
    /// }
    /// assert_eq!(sum, 3);
    /// ```
    fn into_iter(self) -> SetIter<'a, T, G> {
        self.iter()
    }
}

impl<'set, T, S, G> IntoIterator for HashSetRef<'set, T, S, G>
where
    T: Hash + Eq + Clone,
    S: BuildHasher,
    G: ReclaimGuard,
{
    type Item = T;
    type IntoIter = SetOwnedIter<'set, T, G>;

    /// Turns the handle into an iterator that owns its pin and yields
    /// clones, so it can be returned from a function. Same guarantee as
    /// [`iter`](HashSetRef::iter).
    ///
    /// ```
    /// use lfmap::HashSet;
    ///
    /// fn evens(set: &HashSet<u32>) -> impl Iterator<Item = u32> + '_ {
    ///     set.pin().into_iter().filter(|x| x % 2 == 0)
    /// }
    ///
    /// let set: HashSet<u32> = (0..5).collect();
    /// let mut got: Vec<_> = evens(&set).collect();
    /// got.sort();
    /// assert_eq!(got, [0, 2, 4]);
    /// ```
    fn into_iter(self) -> SetOwnedIter<'set, T, G> {
        SetOwnedIter {
            iter: self.map.into_iter(),
        }
    }
}

/// Iterator over `&T`, from [`HashSetRef::iter`].
///
/// ```
/// let set: lfmap::HashSet<u8> = [1].into_iter().collect();
/// let s = set.pin();
/// let iter: lfmap::SetIter<'_, u8, _> = s.iter();
/// assert_eq!(iter.collect::<Vec<_>>(), [&1]);
/// ```
pub struct SetIter<'g, T, G> {
    keys: Keys<'g, T, (), G>,
}

/// What is left of the walk, from the same slot under the same guard (as
/// std's iterators).
impl<T, G> Clone for SetIter<'_, T, G> {
    fn clone(&self) -> Self {
        SetIter {
            keys: self.keys.clone(),
        }
    }
}

/// The elements left to yield, as std's iterators print (a walk of the
/// rest of the table, on a clone).
impl<T: Hash + Eq + fmt::Debug, G: ReclaimGuard> fmt::Debug for SetIter<'_, T, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

impl<T: Hash + Eq, G: ReclaimGuard> relations::Rest for SetIter<'_, T, G> {
    fn rest(&self) -> impl Iterator<Item = Self::Item> + '_ {
        self.clone()
    }
}

impl<'g, T: Hash + Eq, G: ReclaimGuard> Iterator for SetIter<'g, T, G> {
    type Item = &'g T;

    #[inline]
    fn next(&mut self) -> Option<&'g T> {
        self.keys.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.keys.size_hint()
    }
}

impl<T: Hash + Eq, G: ReclaimGuard> FusedIterator for SetIter<'_, T, G> {}

/// Iterator over the elements of one [`HashSetRef`] not in another, from
/// [`HashSetRef::difference`]: [`relations::Difference`] walking the first
/// handle. Weakly consistent (see the set relations); fused. `G` is the
/// walked handle's guard, `G2` the other's.
///
/// ```
/// let a: lfmap::HashSet<u8> = [1, 2].into_iter().collect();
/// let b: lfmap::HashSet<u8> = [2].into_iter().collect();
/// let (a, b) = (a.pin(), b.pin());
/// let iter: lfmap::SetDifference<'_, u8, _, _, _> = a.difference(&b);
/// assert_eq!(iter.collect::<Vec<_>>(), [&1]);
/// ```
pub type SetDifference<'a, T, S, G, G2> =
    relations::Difference<SetIter<'a, T, G>, &'a HashSetRef<'a, T, S, G2>>;

/// Iterator over the elements of one [`HashSetRef`] that are also in
/// another, from [`HashSetRef::intersection`]:
/// [`relations::Intersection`] walking the first handle. Weakly consistent
/// (see the set relations); fused.
///
/// ```
/// let a: lfmap::HashSet<u8> = [1, 2].into_iter().collect();
/// let b: lfmap::HashSet<u8> = [2].into_iter().collect();
/// let (a, b) = (a.pin(), b.pin());
/// let iter: lfmap::SetIntersection<'_, u8, _, _, _> = a.intersection(&b);
/// assert_eq!(iter.collect::<Vec<_>>(), [&2]);
/// ```
pub type SetIntersection<'a, T, S, G, G2> =
    relations::Intersection<SetIter<'a, T, G>, &'a HashSetRef<'a, T, S, G2>>;

/// Iterator over the elements of either of two [`HashSetRef`]s, from
/// [`HashSetRef::union`]: [`relations::Union`] of a walk of the first
/// handle and a [`SetDifference`] of the second from the first. Each
/// element once when no write is in flight; under concurrent writes an
/// element can come once from each walk (see [`HashSetRef::union`]).
/// Fused.
///
/// ```
/// let a: lfmap::HashSet<u8> = [1].into_iter().collect();
/// let b: lfmap::HashSet<u8> = [1].into_iter().collect();
/// let (a, b) = (a.pin(), b.pin());
/// let iter: lfmap::SetUnion<'_, u8, _, _, _> = a.union(&b);
/// assert_eq!(iter.collect::<Vec<_>>(), [&1]);
/// ```
pub type SetUnion<'a, T, S, G, G2> =
    relations::Union<SetIter<'a, T, G>, SetDifference<'a, T, S, G2, G>>;

/// Iterator over the elements in exactly one of two [`HashSetRef`]s, from
/// [`HashSetRef::symmetric_difference`]: [`relations::SymmetricDifference`]
/// of the two [`SetDifference`]s. Each element once when no write is in
/// flight; under concurrent writes an element can come once from each walk
/// (see [`HashSetRef::symmetric_difference`]). Fused.
///
/// ```
/// let a: lfmap::HashSet<u8> = [1].into_iter().collect();
/// let b: lfmap::HashSet<u8> = [1].into_iter().collect();
/// let (a, b) = (a.pin(), b.pin());
/// let iter: lfmap::SetSymmetricDifference<'_, u8, _, _, _> = a.symmetric_difference(&b);
/// assert_eq!(iter.count(), 0);
/// ```
pub type SetSymmetricDifference<'a, T, S, G, G2> =
    relations::SymmetricDifference<SetDifference<'a, T, S, G, G2>, SetDifference<'a, T, S, G2, G>>;

/// An iterator that owns its pinned handle and yields clones of the
/// elements, from `IntoIterator` for [`HashSetRef`] (by value). Same
/// guarantee as [`HashSetRef::iter`].
///
/// ```
/// let set: lfmap::HashSet<u8> = [1].into_iter().collect();
/// let iter: lfmap::SetOwnedIter<'_, u8, _> = set.pin_owned().into_iter();
/// assert_eq!(iter.collect::<Vec<_>>(), [1]);
/// ```
pub struct SetOwnedIter<'set, T, G> {
    iter: OwnedIter<'set, T, (), G>,
}

/// The elements left to yield, as std's iterators print.
impl<T: Eq + fmt::Debug, G: ReclaimGuard> fmt::Debug for SetOwnedIter<'_, T, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter.rest().map(|(t, ())| t))
            .finish()
    }
}

impl<T, G> Iterator for SetOwnedIter<'_, T, G>
where
    T: Hash + Eq + Clone,
    G: ReclaimGuard,
{
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        self.iter.next().map(|(k, ())| k)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl<T, G> FusedIterator for SetOwnedIter<'_, T, G>
where
    T: Hash + Eq + Clone,
    G: ReclaimGuard,
{
}

/// A draining iterator over a [`HashSet`]'s elements, from
/// [`HashSet::drain`] (exclusive access). Exact-size and fused.
///
/// ```
/// let mut set: lfmap::HashSet<u8> = [1, 2].into_iter().collect();
/// let drain: lfmap::SetDrain<'_, u8> = set.drain();
/// assert_eq!(drain.len(), 2);
/// assert_eq!(drain.sum::<u8>(), 3);
/// assert!(set.pin().is_empty());
/// ```
pub struct SetDrain<'a, T> {
    iter: Drain<'a, T, ()>,
}

/// The elements left to yield, as std's `Drain` prints.
impl<T: fmt::Debug> fmt::Debug for SetDrain<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter.rest().map(|(t, ())| t))
            .finish()
    }
}

impl<T> Iterator for SetDrain<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.iter.next().map(|(t, ())| t)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl<T> ExactSizeIterator for SetDrain<'_, T> {}

impl<T> FusedIterator for SetDrain<'_, T> {}

/// An owning iterator over the elements of a [`HashSet`], from its
/// `IntoIterator` implementation. Order is unspecified.
///
/// ```
/// let set: lfmap::HashSet<u8> = [1].into_iter().collect();
/// let iter: lfmap::SetIntoIter<u8> = set.into_iter();
/// assert_eq!(iter.collect::<Vec<_>>(), [1]);
/// ```
pub struct SetIntoIter<T> {
    iter: IntoIter<T, ()>,
}

/// The elements left to yield, as std's `IntoIter` prints.
impl<T: fmt::Debug> fmt::Debug for SetIntoIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter.rest().map(|(t, ())| t))
            .finish()
    }
}

impl<T> Iterator for SetIntoIter<T> {
    type Item = T;

    #[inline]
    fn next(&mut self) -> Option<T> {
        self.iter.next().map(|(k, ())| k)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl<T> ExactSizeIterator for SetIntoIter<T> {}

impl<T> FusedIterator for SetIntoIter<T> {}

impl<T, S> IntoIterator for HashSet<T, S>
where
    T: Hash + Eq,
    S: BuildHasher,
{
    type Item = T;
    type IntoIter = SetIntoIter<T>;

    /// Consumes the set, yielding its elements by value.
    ///
    /// ```
    /// let set = lfmap::HashSet::new();
    /// set.pin().insert(String::from("one"));
    /// let all: Vec<String> = set.into_iter().collect();
    /// assert_eq!(all, [String::from("one")]);
    /// ```
    fn into_iter(self) -> SetIntoIter<T> {
        SetIntoIter {
            iter: self.map.into_iter(),
        }
    }
}

impl<T, S> fmt::Debug for HashSet<T, S>
where
    T: Hash + Eq + fmt::Debug,
    S: BuildHasher,
{
    /// Prints the elements as a set, like std's.
    ///
    /// ```
    /// let set: lfmap::HashSet<u8> = [7].into_iter().collect();
    /// assert_eq!(format!("{set:?}"), "{7}");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.pin().fmt(f)
    }
}

impl<T, S> Clone for HashSet<T, S>
where
    T: Hash + Eq + Clone,
    S: BuildHasher + Clone,
{
    /// A new set with clones of the elements an iteration yields, and a
    /// clone of the hasher. Under concurrent writes, what one walk saw, not
    /// a snapshot.
    ///
    /// ```
    /// let set: lfmap::HashSet<u8> = (0..3).collect();
    /// assert_eq!(set.clone(), set);
    /// ```
    fn clone(&self) -> Self {
        HashSet {
            map: self.map.clone(),
        }
    }
}

impl<T, S> PartialEq for HashSet<T, S>
where
    T: Hash + Eq,
    S: BuildHasher,
{
    /// Equal when both hold the same elements. Meaningful only when neither
    /// set is being written concurrently.
    ///
    /// ```
    /// let a: lfmap::HashSet<u8> = [1, 2].into_iter().collect();
    /// let b: lfmap::HashSet<u8> = [2, 1].into_iter().collect();
    /// assert_eq!(a, b);
    /// b.pin().insert(3);
    /// assert_ne!(a, b);
    /// ```
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.pin(), other.pin());
        a.iter().count() == b.iter().count() && a.iter().all(|x| b.contains(x))
    }
}

impl<T, S> Eq for HashSet<T, S>
where
    T: Hash + Eq,
    S: BuildHasher,
{
}

impl<T, S> FromIterator<T> for HashSet<T, S>
where
    T: Hash + Eq,
    S: BuildHasher + Default,
{
    /// ```
    /// let set: lfmap::HashSet<u8> = [1, 2, 2].into_iter().collect();
    /// assert_eq!(set.len(), 2);
    /// ```
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        // Room as `extend` makes it: no floor (see `HashMap::from_iter`).
        let set = HashSet::with_hasher(S::default());
        set.extend_from(iter);
        set
    }
}

impl<T, S> Extend<T> for HashSet<T, S>
where
    T: Hash + Eq,
    S: BuildHasher,
{
    /// ```
    /// let mut set = lfmap::HashSet::new();
    /// set.extend([1, 2, 3]);
    /// assert_eq!(set.len(), 3);
    /// ```
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        self.extend_from(iter);
    }
}

impl<T, S> Extend<T> for &HashSet<T, S>
where
    T: Hash + Eq,
    S: BuildHasher,
{
    /// Extends through a shared reference: threads may extend one set at
    /// once. Not atomic: each element is inserted under a pin of its own,
    /// and other threads see them arrive one by one.
    ///
    /// ```
    /// let set = lfmap::HashSet::new();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| (&set).extend(0..100));
    ///     s.spawn(|| (&set).extend(50..150));
    /// });
    /// assert_eq!(set.len(), 150);
    /// ```
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        self.extend_from(iter);
    }
}

impl<'a, T, S> Extend<&'a T> for HashSet<T, S>
where
    T: Hash + Eq + Copy,
    S: BuildHasher,
{
    /// Inserts copies of the elements (as std's `Extend<&T>`), through the
    /// owned `extend`: sized alike, each element under a pin of its own.
    ///
    /// ```
    /// let mut set: lfmap::HashSet<u8> = lfmap::HashSet::new();
    /// set.extend(&[1, 2, 2]);
    /// assert_eq!(set.len(), 2);
    /// ```
    fn extend<I: IntoIterator<Item = &'a T>>(&mut self, iter: I) {
        Extend::<T>::extend(self, iter.into_iter().copied());
    }
}

impl<'a, T, S> Extend<&'a T> for &HashSet<T, S>
where
    T: Hash + Eq + Copy,
    S: BuildHasher,
{
    /// Inserts copies of the elements through a shared reference, as the
    /// `Extend<T>` for `&HashSet` does (threads may extend one set at once;
    /// not atomic).
    ///
    /// ```
    /// let set: lfmap::HashSet<u8> = lfmap::HashSet::new();
    /// (&set).extend(&[1, 2]);
    /// assert!(set.pin().contains(&2));
    /// ```
    fn extend<I: IntoIterator<Item = &'a T>>(&mut self, iter: I) {
        Extend::<T>::extend(self, iter.into_iter().copied());
    }
}

impl<T, const N: usize> From<[T; N]> for HashSet<T>
where
    T: Hash + Eq,
{
    /// A set of the array's elements, as [`collect`](FromIterator) makes
    /// it (of equal elements, the first one stays, as with
    /// [`insert`](HashSetRef::insert) and std's `HashSet::from`). For the
    /// default hasher only, as std's and papaya's, so that
    /// `HashSet::from([..])` needs no type annotation; with another hasher,
    /// `collect` the array.
    ///
    /// ```
    /// let set = lfmap::HashSet::from(["a", "b", "a"]);
    /// assert_eq!(set.len(), 2);
    /// assert!(set.pin().contains("b"));
    /// ```
    fn from(elements: [T; N]) -> Self {
        elements.into_iter().collect()
    }
}

/// Capacity control, as on [`HashMap`](crate::HashMap::reserve): each call
/// that resizes runs one ordinary cooperative resize, migrated by the
/// calling thread, while other threads keep working.
impl<T: Hash + Eq, S: BuildHasher> HashSet<T, S> {
    /// How many elements the set holds before its table must grow (see
    /// [`HashMap::capacity`](crate::HashMap::capacity)).
    ///
    /// ```
    /// let set: lfmap::HashSet<u64> = lfmap::HashSet::with_capacity(100);
    /// assert!(set.capacity() >= 100);
    /// ```
    pub fn capacity(&self) -> usize {
        self.map.capacity()
    }

    /// Makes room for `additional` more elements (see
    /// [`HashMap::reserve`](crate::HashMap::reserve)).
    ///
    /// # Panics
    ///
    /// As `HashMap::reserve`: on a capacity overflow.
    ///
    /// ```
    /// let set: lfmap::HashSet<u64> = lfmap::HashSet::new();
    /// set.reserve(1000);
    /// assert!(set.capacity() >= 1000);
    /// ```
    pub fn reserve(&self, additional: usize) {
        self.map.reserve(additional);
    }

    /// [`reserve`](HashSet::reserve), returning an error instead of
    /// panicking (see [`HashMap::try_reserve`](crate::HashMap::try_reserve)).
    ///
    /// ```
    /// let set: lfmap::HashSet<u64> = lfmap::HashSet::new();
    /// assert!(set.try_reserve(usize::MAX).is_err());
    /// ```
    pub fn try_reserve(&self, additional: usize) -> Result<(), crate::TryReserveError> {
        self.map.try_reserve(additional)
    }

    /// Shrinks the table to fit the elements (see
    /// [`HashMap::shrink_to_fit`](crate::HashMap::shrink_to_fit)).
    ///
    /// ```
    /// let set: lfmap::HashSet<u64> = lfmap::HashSet::with_capacity(10_000);
    /// set.shrink_to_fit();
    /// assert!(set.capacity() < 100);
    /// ```
    pub fn shrink_to_fit(&self) {
        self.map.shrink_to_fit();
    }

    /// Shrinks the table, keeping room for at least `min_capacity`
    /// elements (see [`HashMap::shrink_to`](crate::HashMap::shrink_to)).
    ///
    /// ```
    /// let set: lfmap::HashSet<u64> = lfmap::HashSet::with_capacity(10_000);
    /// set.shrink_to(100);
    /// assert!((100..1_000).contains(&set.capacity()));
    /// ```
    pub fn shrink_to(&self, min_capacity: usize) {
        self.map.shrink_to(min_capacity);
    }
}

impl<T: Eq + Send + Sync, S: Sync> HashSet<T, S> {
    /// Registers a [`ResizeHelper`](crate::ResizeHelper) with the set
    /// ([`HashMap::resize_helper`]).
    ///
    /// ```
    /// let set: lfmap::HashSet<u64> = lfmap::HashSet::new();
    /// let helper = set.resize_helper();
    /// set.pin().insert(1);
    /// while helper.step() {}
    /// assert!(set.pin().contains(&1));
    /// ```
    #[must_use = "writers leave their resize work to the helper only while it is alive"]
    pub fn resize_helper(&self) -> crate::ResizeHelper<'_> {
        self.map.resize_helper()
    }
}

impl<T, S> HashSet<T, S>
where
    T: Hash + Eq,
    S: BuildHasher,
{
    /// Removes every element, yielding each by value: std's `drain`. Needs
    /// exclusive access (`&mut`: no handle of the set is alive, which the
    /// borrow checker enforces), as [`HashMap::drain`], which it is built
    /// on: the set is empty when this returns, keeps its hasher and
    /// capacity floor, and the elements the iterator does not yield are
    /// dropped with it, each once.
    ///
    /// ```
    /// let mut set = lfmap::HashSet::from([1, 2, 3]);
    /// let mut all: Vec<i32> = set.drain().collect();
    /// all.sort();
    /// assert_eq!(all, [1, 2, 3]);
    /// assert!(set.is_empty());
    /// set.pin().insert(4);
    /// assert_eq!(set.len(), 1);
    /// ```
    pub fn drain(&mut self) -> SetDrain<'_, T> {
        SetDrain {
            iter: self.map.drain(),
        }
    }

    /// Makes room for `iter`'s size hint, then inserts every element, each
    /// under a pin of its own, as `HashMap`'s extend does (not one pin
    /// across the caller's iterator, which may block).
    pub(crate) fn extend_from<I: IntoIterator<Item = T>>(&self, iter: I) {
        let iter = iter.into_iter();
        self.pin().room_for_extend(iter.size_hint());
        for x in iter {
            self.pin().insert(x);
        }
    }
}
