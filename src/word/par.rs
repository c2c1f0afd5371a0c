//! rayon support for [`WordMap`] (cargo feature `rayon`): a parallel walk
//! of the map, and parallel collection into it, as the generic map has
//! (`rayon_impls.rs`). Keys and values are copies, so no worker hands out
//! a reference: a pin held by the caller for the whole walk keeps the
//! table alive, and the workers only read it. As there, which of equal
//! keys a parallel collection keeps is unspecified.

use std::hash::BuildHasher;

use rayon::iter::plumbing::UnindexedConsumer;
use rayon::iter::{FromParallelIterator, IntoParallelIterator, ParallelExtend, ParallelIterator};

use super::raw::{self, WordOwnedGuard};
use super::table::WordTable;
use super::{WordMap, WordSized};
use crate::iter::Walk;
use crate::resize::Generation;

/// Slots per rayon work item, as for the generic map: enough to amortise
/// the split.
const SPLIT: usize = 4096;

/// The table a parallel walk reads, shared by its workers.
#[derive(Clone, Copy)]
struct Shared(*const WordTable);

impl Shared {
    /// The table. A method, so that closures capture the whole `Shared`
    /// (which is `Send + Sync`), not its pointer field.
    ///
    /// # Safety
    ///
    /// The guard of the walk that made this is alive.
    unsafe fn table<'t>(self) -> &'t WordTable {
        // SAFETY: the caller's.
        unsafe { &*self.0 }
    }
}

// SAFETY: a `WordTable` is read by any number of threads at once (every
// unit is an atomic; the walk only loads), and the pointer is kept valid
// by the walk's guard for as long as any worker uses it (`drive_unindexed`
// drops the guard only after every worker is done).
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

/// A parallel iterator over a [`WordMap`]'s `(key, value)` pairs, from
/// [`WordMap::par_iter`].
///
/// ```
/// use rayon::prelude::*;
/// let map: lfmap::WordMap<u32, u32> = (0..1_000).map(|i| (i, 2 * i)).collect();
/// let iter: lfmap::WordParIter<'_, u32, u32, _> = map.par_iter();
/// assert_eq!(iter.filter(|&(k, v)| v == 2 * k).count(), 1_000);
/// ```
pub struct WordParIter<'m, K, V, S> {
    /// Keeps the table alive until every worker is done.
    guard: WordOwnedGuard<'m>,
    table: Shared,
    /// The map, for the workers' pins and the lookup of a key a resize
    /// moved on.
    map: &'m WordMap<K, V, S>,
}

/// Prints no items, unlike the sequential iterators (which print what
/// they have left): a parallel iterator's items are its workers' to walk.
impl<K, V, S> std::fmt::Debug for WordParIter<'_, K, V, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WordParIter").finish_non_exhaustive()
    }
}

// SAFETY: the guard is `Send` (a pin with a record of its own, free to move
// between threads); the table pointer is protected by it; keys and values
// are copies of `Send + Sync` types (`WordSized`'s supertraits).
unsafe impl<K: WordSized, V: WordSized, S: Sync> Send for WordParIter<'_, K, V, S> {}

impl<K: WordSized, V: WordSized, S: BuildHasher + Sync> WordMap<K, V, S> {
    /// A parallel iterator over the `(key, value)` pairs (copies), with the
    /// guarantee of [`iter`](WordMap::iter): each key present for the whole
    /// walk is yielded exactly once, and none twice. Rayon's workers each
    /// walk a stretch of the table; the walk starts, as `iter` does, by
    /// finishing a resize in progress.
    ///
    /// ```
    /// use rayon::prelude::*;
    /// let map: lfmap::WordMap<u64, u64> = (0..10_000).map(|i| (i, i)).collect();
    /// let sum: u64 = map.par_iter().map(|(_, v)| v).sum();
    /// assert_eq!(sum, (0..10_000).sum());
    /// ```
    pub fn par_iter(&self) -> WordParIter<'_, K, V, S> {
        let guard = self.raw.pin_owned();
        let table: *const WordTable = self.raw.stable_root(&guard);
        WordParIter {
            guard,
            table: Shared(table),
            map: self,
        }
    }
}

impl<K: WordSized, V: WordSized, S: BuildHasher + Sync> ParallelIterator
    for WordParIter<'_, K, V, S>
{
    type Item = (K, V);

    fn drive_unindexed<C: UnindexedConsumer<Self::Item>>(self, consumer: C) -> C::Result {
        let WordParIter { guard, table, map } = self;
        // SAFETY: loaded through `guard`, which lives until after the walk.
        let slots = unsafe { table.table() }.len();
        let result = (0..slots.div_ceil(SPLIT))
            .into_par_iter()
            .flat_map_iter(move |split| {
                // SAFETY: `guard` is alive until every worker is done (it is
                // dropped below, after `drive_unindexed` returns).
                let table = unsafe { table.table() };
                let start = split * SPLIT;
                let mut walk = Walk::new(start, (start + SPLIT).min(slots));
                // A pin of the worker's own, for the lookup of a key a resize
                // moved on (`next_live`): the tables after `table` were
                // linked after `guard` pinned, so they are retired, if ever,
                // after that, and `guard` keeps them alive for the whole
                // walk, as it keeps `table` (the generic map's workers pin
                // the same way, `rayon_impls.rs`).
                let pin = map.raw.pin();
                std::iter::from_fn(move || {
                    raw::next_live(&map.raw, table, &mut walk, &pin)
                        .map(|(k, v)| (K::from_word(k), V::from_word(v)))
                })
            })
            .drive_unindexed(consumer);
        drop(guard);
        result
    }
}

impl<K: WordSized, V: WordSized, S: BuildHasher + Sync> ParallelExtend<(K, V)>
    for &WordMap<K, V, S>
{
    /// Which of several pairs with equal keys stays is unspecified:
    /// rayon's workers insert as they go. (rayon's collection into std's
    /// `HashMap`, and hashbrown's, keep the last value, as lfmap's sequential
    /// `extend` and `collect` do.)
    ///
    /// Extends through a shared reference, inserting from rayon's workers,
    /// after making room (when the length is known) as `extend` does.
    ///
    /// ```
    /// use rayon::prelude::*;
    /// let map = lfmap::WordMap::new();
    /// (&map).par_extend((0..1000u32).into_par_iter().map(|i| (i % 500, i)));
    /// assert_eq!(map.len(), 500);
    /// ```
    fn par_extend<I: IntoParallelIterator<Item = (K, V)>>(&mut self, items: I) {
        let map: &WordMap<K, V, S> = self;
        let items = items.into_par_iter();
        if let Some(n) = items.opt_len() {
            map.room_for_extend((n, Some(n)));
        }
        items.for_each(|(k, v)| {
            map.insert(k, v);
        });
    }
}

impl<K: WordSized, V: WordSized, S: BuildHasher + Sync> ParallelExtend<(K, V)>
    for WordMap<K, V, S>
{
    /// Which of several pairs with equal keys stays is unspecified:
    /// rayon's workers insert as they go. (rayon's collection into std's
    /// `HashMap`, and hashbrown's, keep the last value, as lfmap's sequential
    /// `extend` and `collect` do.)
    ///
    /// ```
    /// use rayon::prelude::*;
    /// let mut map = lfmap::WordMap::new();
    /// map.par_extend((0..1000u32).into_par_iter().map(|i| (i, i * 2)));
    /// assert_eq!(map.get(&7), Some(14));
    /// ```
    fn par_extend<I: IntoParallelIterator<Item = (K, V)>>(&mut self, items: I) {
        (&*self).par_extend(items);
    }
}

impl<K: WordSized, V: WordSized, S: BuildHasher + Default + Sync> FromParallelIterator<(K, V)>
    for WordMap<K, V, S>
{
    /// Which of several pairs with equal keys stays is unspecified:
    /// rayon's workers insert as they go. (rayon's collection into std's
    /// `HashMap`, and hashbrown's, keep the last value, as lfmap's sequential
    /// `extend` and `collect` do.)
    ///
    /// ```
    /// use rayon::prelude::*;
    /// let map: lfmap::WordMap<u32, u32> = (0..1000u32).into_par_iter().map(|i| (i, i)).collect();
    /// assert_eq!(map.len(), 1000);
    /// ```
    fn from_par_iter<I: IntoParallelIterator<Item = (K, V)>>(items: I) -> Self {
        let mut map = WordMap::with_hasher(S::default());
        map.par_extend(items);
        map
    }
}
