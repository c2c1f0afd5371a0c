//! rayon support (cargo feature `rayon`): parallel iteration over a pinned
//! map or set, and parallel collection into a map or set.
//!
//! Equal keys in a parallel collection (`collect`, `par_extend`): rayon's
//! workers insert as they go, so which of them stays is unspecified (for a
//! set, which of equal elements), as with dashmap's parallel collection.
//! In the iterator's order, std's and hashbrown's maps keep the last value
//! (std's with the first key) and their sets the first element; lfmap's
//! sequential `collect`, `extend` and `From` keep a map's last pair and a
//! set's first element. Where the order must decide, collect in order
//! first (rayon's `collect_vec_list`) and `extend` from that.

use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;

use rayon::iter::{FromParallelIterator, IntoParallelIterator, ParallelExtend, ParallelIterator};

use crate::iter::RawIter;
use crate::map::{HashMap, HashMapRef};
use crate::raw::slot::Entry;
use crate::reclaim::ReclaimGuard;
use crate::resize::Generation;
use crate::set::{HashSet, HashSetRef};

/// Slots per rayon work item: enough to amortise a pin and a `Vec`.
const SPLIT: usize = 4096;

/// The caller's guard's lifetime, without the guard: workers never use the
/// guard (it may not be `Sync`), they only tie what they load to how long
/// it lives. (`fn() -> &G` keeps the marker `Send + Sync` whatever `G`.)
struct Caller<'g, G>(PhantomData<fn() -> &'g G>);

impl<'g, G> Caller<'g, G> {
    fn of(_guard: &'g G) -> Self {
        Caller(PhantomData)
    }
}

impl<G> Clone for Caller<'_, G> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<G> Copy for Caller<'_, G> {}

/// Re-borrows `entry`, loaded by a worker under its own pin, for as long as
/// the caller's guard lives.
///
/// Sound because `entry` is retired, if ever, after the caller's guard was
/// pinned, and a backend frees an object only after every guard pinned
/// before its retirement is dropped (reclaim contract 4, which `pin` and
/// `pin_owned` promise alike; the caller's guard may be either). The worker loaded
/// `entry` from a slot of the walk's table after that pin. If the slot was
/// not frozen, the entry was the key's then, and is retired only by a
/// later write. If a resize (begun after the pin: the table had no
/// successor when the caller started the walk) froze the slot, the entry
/// is retired no sooner than that old table is unlinked
/// (`Table::defer_retire`), which is later still. If the slot was marked
/// `COPIED`, the walk looked the key up in a successor (`iter.rs`,
/// `current`) and found `entry` live there after the worker's pin: it is
/// unlinked, hence retired, later still.
///
/// # Safety
///
/// `entry` was loaded from the map under a pin made after `caller`'s guard
/// was pinned, and `caller`'s guard pins the same map.
unsafe fn protected_by<'g, G, K, V>(caller: Caller<'g, G>, entry: &Entry<K, V>) -> &'g Entry<K, V> {
    let _ = caller;
    // SAFETY: as argued above, `entry` stays allocated for `'g`.
    unsafe { &*(entry as *const Entry<K, V>) }
}

// `Send` as well as `Sync`: every worker pins the map, and a guard's drop
// may free entries other threads retired, dropping keys and values on the
// worker's thread.
impl<'map, K, V, S, G> HashMapRef<'map, K, V, S, G>
where
    K: Hash + Eq + Send + Sync,
    V: Send + Sync,
    S: BuildHasher + Sync,
    G: ReclaimGuard,
{
    /// A parallel iterator over the entries, with the same guarantee as
    /// [`iter`](HashMapRef::iter): each key present throughout is yielded
    /// exactly once, none twice.
    ///
    /// ```
    /// use rayon::prelude::*;
    /// let map: lfmap::HashMap<u64, u64> = (0..10_000).map(|i| (i, i)).collect();
    /// let sum: u64 = map.pin().par_iter().map(|(_, v)| *v).sum();
    /// assert_eq!(sum, (0..10_000).sum());
    /// ```
    pub fn par_iter(&self) -> impl ParallelIterator<Item = (&K, &V)> + '_ {
        let raw = self.raw();
        let table = RawIter::<K, V, G>::start(raw, self.guard());
        let slots = table.len();
        let caller = Caller::of(self.guard());
        (0..slots.div_ceil(SPLIT))
            .into_par_iter()
            .flat_map_iter(move |split| {
                // Each worker loads through a pin of its own; the entries it
                // hands out are protected by the caller's guard, which is
                // pinned for as long as this iterator borrows the handle
                // (`protected_by` says why that suffices).
                let guard = raw.pin();
                let start = split * SPLIT;
                let walk = RawIter::over(table, &guard, start, (start + SPLIT).min(slots));
                // SAFETY: loaded by this worker's pin, made after the caller's
                // guard pinned this same map (`protected_by`'s contract).
                let entries: Vec<&Entry<K, V>> =
                    walk.map(|e| unsafe { protected_by(caller, e) }).collect();
                // The pin goes before the entries are handed on: its drop
                // may free a value whose `Drop` panics, which would leak a
                // result still in the closure (crate docs, "Bad input").
                drop(guard);
                entries.into_iter().map(|e| (&e.key, e.value()))
            })
    }
}

/// Inserts the pairs from rayon's workers into a shared map (`&HashMap`),
/// a pin per pair, after making room when the length is known. Which of
/// several pairs with equal keys stays is unspecified: rayon's workers
/// insert as they go.
///
/// ```
/// use rayon::prelude::*;
/// let map = lfmap::HashMap::new();
/// let mut shared = &map;
/// shared.par_extend((0..1_000u32).into_par_iter().map(|i| (i, i * i)));
/// assert_eq!(map.pin().get(&30), Some(&900));
/// assert_eq!(map.len(), 1_000);
/// ```
impl<K, V, S> ParallelExtend<(K, V)> for &HashMap<K, V, S>
where
    K: Hash + Eq + Send + Sync,
    V: Send + Sync,
    S: BuildHasher + Sync,
{
    fn par_extend<I: IntoParallelIterator<Item = (K, V)>>(&mut self, items: I) {
        let map: &HashMap<K, V, S> = self;
        let items = items.into_par_iter();
        // Room first, as `extend` makes (when the length is known).
        if let Some(n) = items.opt_len() {
            map.pin().room_for_extend((n, Some(n)));
        }
        // A pin per pair, not one per worker across the upstream closures
        // (the caller's code, which may run long): as `extend`.
        items.for_each(|(k, v)| {
            map.pin().insert(k, v);
        });
    }
}

impl<K, V, S> ParallelExtend<(K, V)> for HashMap<K, V, S>
where
    K: Hash + Eq + Send + Sync,
    V: Send + Sync,
    S: BuildHasher + Sync,
{
    /// Which of several pairs with equal keys stays is unspecified:
    /// rayon's workers insert as they go. (rayon's collection into std's
    /// `HashMap`, and hashbrown's, keep the last value, as lfmap's sequential
    /// `extend` and `collect` do.)
    ///
    /// ```
    /// use rayon::prelude::*;
    /// let mut map = lfmap::HashMap::new();
    /// map.par_extend((0..1000u32).into_par_iter().map(|i| (i, i * 2)));
    /// assert_eq!(map.len(), 1000);
    /// ```
    fn par_extend<I: IntoParallelIterator<Item = (K, V)>>(&mut self, items: I) {
        (&*self).par_extend(items);
    }
}

impl<K, V, S> FromParallelIterator<(K, V)> for HashMap<K, V, S>
where
    K: Hash + Eq + Send + Sync,
    V: Send + Sync,
    S: BuildHasher + Default + Sync,
{
    /// Which of several pairs with equal keys stays is unspecified:
    /// rayon's workers insert as they go. (rayon's collection into std's
    /// `HashMap`, and hashbrown's, keep the last value, as lfmap's sequential
    /// `extend` and `collect` do.)
    ///
    /// ```
    /// use rayon::prelude::*;
    /// let map: lfmap::HashMap<u32, u32> = (0..1000u32).into_par_iter().map(|i| (i, i)).collect();
    /// assert_eq!(map.len(), 1000);
    /// ```
    fn from_par_iter<I: IntoParallelIterator<Item = (K, V)>>(items: I) -> Self {
        let mut map = HashMap::with_hasher(S::default());
        map.par_extend(items);
        map
    }
}

impl<'set, T, S, G> HashSetRef<'set, T, S, G>
where
    T: Hash + Eq + Send + Sync,
    S: BuildHasher + Sync,
    G: ReclaimGuard,
{
    /// A parallel iterator over the elements, with the same guarantee as
    /// [`iter`](HashSetRef::iter): each element present throughout is
    /// yielded exactly once, none twice.
    ///
    /// ```
    /// use rayon::prelude::*;
    /// let set: lfmap::HashSet<u64> = (0..10_000).collect();
    /// let sum: u64 = set.pin().par_iter().sum();
    /// assert_eq!(sum, (0..10_000).sum());
    /// ```
    pub fn par_iter(&self) -> impl ParallelIterator<Item = &T> + '_ {
        self.as_map().par_iter().map(|(k, _)| k)
    }
}

impl<T, S> ParallelExtend<T> for &HashSet<T, S>
where
    T: Hash + Eq + Send + Sync,
    S: BuildHasher + Sync,
{
    /// Which of several equal elements stays is unspecified:
    /// rayon's workers insert as they go. (rayon's collection into std's
    /// `HashSet`, and hashbrown's, keep the first, as lfmap's sequential
    /// `extend` and `collect` do.)
    ///
    /// Extends through a shared reference, inserting from rayon's workers.
    ///
    /// ```
    /// use rayon::prelude::*;
    /// let set = lfmap::HashSet::new();
    /// (&set).par_extend((0..1000u32).into_par_iter().map(|i| i % 500));
    /// assert_eq!(set.len(), 500);
    /// ```
    fn par_extend<I: IntoParallelIterator<Item = T>>(&mut self, items: I) {
        let set: &HashSet<T, S> = self;
        let items = items.into_par_iter();
        // Room first, as `extend` makes (when the length is known).
        if let Some(n) = items.opt_len() {
            set.pin().room_for_extend((n, Some(n)));
        }
        // A pin per element, as `HashMap`'s `par_extend`.
        items.for_each(|x| {
            set.pin().insert(x);
        });
    }
}

impl<T, S> ParallelExtend<T> for HashSet<T, S>
where
    T: Hash + Eq + Send + Sync,
    S: BuildHasher + Sync,
{
    /// Which of several equal elements stays is unspecified:
    /// rayon's workers insert as they go. (rayon's collection into std's
    /// `HashSet`, and hashbrown's, keep the first, as lfmap's sequential
    /// `extend` and `collect` do.)
    ///
    /// ```
    /// use rayon::prelude::*;
    /// let mut set = lfmap::HashSet::new();
    /// set.par_extend((0..1000u32).into_par_iter());
    /// assert_eq!(set.len(), 1000);
    /// ```
    fn par_extend<I: IntoParallelIterator<Item = T>>(&mut self, items: I) {
        (&*self).par_extend(items);
    }
}

impl<T, S> FromParallelIterator<T> for HashSet<T, S>
where
    T: Hash + Eq + Send + Sync,
    S: BuildHasher + Default + Sync,
{
    /// Which of several equal elements stays is unspecified:
    /// rayon's workers insert as they go. (rayon's collection into std's
    /// `HashSet`, and hashbrown's, keep the first, as lfmap's sequential
    /// `extend` and `collect` do.)
    ///
    /// ```
    /// use rayon::prelude::*;
    /// let set: lfmap::HashSet<u32> = (0..1000u32).into_par_iter().collect();
    /// assert_eq!(set.len(), 1000);
    /// ```
    fn from_par_iter<I: IntoParallelIterator<Item = T>>(items: I) -> Self {
        let mut set = HashSet::with_hasher(S::default());
        set.par_extend(items);
        set
    }
}
