//! One scenario, both maps. A scenario is a function generic over
//! [`TestMap`], written once against the operations both maps share
//! ([`Ops`]); `both_maps!(scenario, ...)` turns each listed scenario into
//! two tests, `hash_map::scenario` on `lfmap::HashMap<u64, u64>` and
//! `word_map::scenario` on `lfmap::WordMap<u64, u64>`. Two tests rather
//! than one loop: they run in parallel, and a failure names its map.
//!
//! ```ignore
//! mod common;
//! use common::{both_maps, Ops, TestMap};
//!
//! fn insert_then_get<M: TestMap>() {
//!     let map = M::new();
//!     assert_eq!(map.pin().insert(1, 2), None);
//!     assert_eq!(map.pin().get(&1), Some(2), "{}", M::NAME);
//! }
//!
//! both_maps!(insert_then_get, identity_keys<common::ShapedHash>);
//! ```
//!
//! `scenario<H>` runs the scenario on maps built with hasher type `H`
//! (the scenario passes the hasher value, e.g.
//! `M::with_hasher(ShapedHash(Shape::Identity))`). `both_maps!` appears
//! once per module (it defines `hash_map` and `word_map` there).
//!
//! A handle is what [`TestMap::pin`] returns: a pinned `HashMapRef`
//! (references stay valid while it lives; a scenario may hold one across
//! many operations, as a thread holding a pin would) or the `WordMap`
//! itself (which pins inside each call). [`Ops`] returns copies either
//! way.

use std::hash::BuildHasher;

use lfmap::{Compute, HashMap, HashMapRef, Operation, ProbeStats, Stats, WordCompute, WordMap};

/// A map of `u64` to `u64` a scenario runs on: `HashMap` or `WordMap`.
pub trait TestMap: Send + Sync + Sized {
    /// `"HashMap"` or `"WordMap"`, for messages.
    const NAME: &'static str;
    /// The hasher type the map was instantiated with.
    type Hasher: BuildHasher + Clone + Default + Send + Sync;
    /// What [`pin`](TestMap::pin) returns.
    type Handle<'a>: Ops
    where
        Self: 'a;

    fn with_capacity_and_hasher(capacity: usize, hasher: Self::Hasher) -> Self;

    fn with_hasher(hasher: Self::Hasher) -> Self {
        Self::with_capacity_and_hasher(0, hasher)
    }

    fn with_capacity(capacity: usize) -> Self {
        Self::with_capacity_and_hasher(capacity, Self::Hasher::default())
    }

    /// An empty map at the smallest table, with a default hasher.
    fn new() -> Self {
        Self::with_capacity(0)
    }

    /// A handle for operations: `HashMap::pin`, or the `WordMap` itself.
    fn pin(&self) -> Self::Handle<'_>;

    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn stats(&self) -> Stats;

    fn probe_stats(&self) -> ProbeStats;

    /// The map's `resize_helper`.
    fn resize_helper(&self) -> lfmap::ResizeHelper<'_>;

    fn hasher(&self) -> &Self::Hasher;

    /// The map's `reserve`.
    fn reserve(&self, additional: usize);

    /// The map's `shrink_to_fit`.
    fn shrink_to_fit(&self);

    /// The hash the map's hasher gives `key`.
    fn hash(&self, key: u64) -> u64 {
        self.hasher().hash_one(key)
    }

    /// Every `(key, value)`, from one iteration.
    fn entries(&self) -> Vec<(u64, u64)> {
        self.pin().iter().collect()
    }

    /// Every key, from one iteration, in iteration order.
    fn keys(&self) -> Vec<u64> {
        self.pin().iter().map(|(k, _)| k).collect()
    }
}

/// The operations both maps have, on `u64` keys and values, returning
/// copies. Each is the map's own method, except the two `HashMap` has
/// no method for: [`add`](Ops::add) and
/// [`compare_exchange`](Ops::compare_exchange) are `compute` there.
/// [`compute`](Ops::compute) reports as `WordMap`'s does, by value.
pub trait Ops {
    fn insert(&self, key: u64, value: u64) -> Option<u64>;
    fn get(&self, key: &u64) -> Option<u64>;
    fn contains_key(&self, key: &u64) -> bool;
    fn remove(&self, key: &u64) -> Option<u64>;
    /// The new value, if the key was present.
    fn update(&self, key: &u64, f: impl FnMut(u64) -> u64) -> Option<u64>;
    fn get_or_insert(&self, key: u64, value: u64) -> u64;
    /// Inserts only if `key` is absent: `Ok` if this call inserted, else
    /// the present value.
    fn try_insert(&self, key: u64, value: u64) -> Result<(), u64>;
    /// The value of `key`, inserting what `make()` gives if absent (run at
    /// most once); `make`'s error inserts nothing.
    fn get_or_try_insert_with<E>(
        &self,
        key: u64,
        make: impl FnOnce() -> Result<u64, E>,
    ) -> Result<u64, E>;
    /// `update(v)` if present, else inserts `make()` (run at most once);
    /// returns the value now stored.
    fn update_or_insert_with(
        &self,
        key: u64,
        update: impl FnMut(u64) -> u64,
        make: impl FnOnce() -> u64,
    ) -> u64;
    /// Adds `delta` (wrapping), starting from 0 if absent; returns the sum.
    fn add(&self, key: &u64, delta: u64) -> u64;
    /// `Ok(current)` if the value was `current` and is now `new`; else the
    /// value there was (`None`: absent).
    fn compare_exchange(&self, key: &u64, current: u64, new: u64) -> Result<u64, Option<u64>>;
    /// Removes the entries `keep` says no to, judging each once.
    fn retain(&self, keep: impl FnMut(u64, u64) -> bool);
    /// Removes `key` if `should_remove(key, value)`; the value removed.
    fn remove_if(&self, key: &u64, should_remove: impl FnMut(u64, u64) -> bool) -> Option<u64>;
    /// The map's `compute`, its outcome by value.
    fn compute<R>(
        &self,
        key: u64,
        f: impl FnMut(Option<u64>) -> Operation<u64, R>,
    ) -> WordCompute<u64, R>;
    fn clear(&self);
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A weakly consistent iteration, as the map's own `iter`.
    fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_;
}

impl<S: BuildHasher + Clone + Default + Send + Sync> TestMap for HashMap<u64, u64, S> {
    const NAME: &'static str = "HashMap";
    type Hasher = S;
    type Handle<'a>
        = HashMapRef<'a, u64, u64, S>
    where
        Self: 'a;

    fn with_capacity_and_hasher(capacity: usize, hasher: S) -> Self {
        HashMap::with_capacity_and_hasher(capacity, hasher)
    }
    fn pin(&self) -> HashMapRef<'_, u64, u64, S> {
        HashMap::pin(self)
    }
    fn len(&self) -> usize {
        HashMap::len(self)
    }
    fn stats(&self) -> Stats {
        HashMap::stats(self)
    }
    fn probe_stats(&self) -> ProbeStats {
        HashMap::probe_stats(self)
    }
    fn resize_helper(&self) -> lfmap::ResizeHelper<'_> {
        HashMap::resize_helper(self)
    }
    fn hasher(&self) -> &S {
        HashMap::hasher(self)
    }
    fn reserve(&self, additional: usize) {
        HashMap::reserve(self, additional)
    }
    fn shrink_to_fit(&self) {
        HashMap::shrink_to_fit(self)
    }
}

impl<S: BuildHasher> Ops for HashMapRef<'_, u64, u64, S> {
    fn insert(&self, key: u64, value: u64) -> Option<u64> {
        HashMapRef::insert(self, key, value).copied()
    }
    fn get(&self, key: &u64) -> Option<u64> {
        HashMapRef::get(self, key).copied()
    }
    fn contains_key(&self, key: &u64) -> bool {
        HashMapRef::contains_key(self, key)
    }
    fn remove(&self, key: &u64) -> Option<u64> {
        HashMapRef::remove(self, key).copied()
    }
    fn update(&self, key: &u64, mut f: impl FnMut(u64) -> u64) -> Option<u64> {
        HashMapRef::update(self, key, |v| f(*v)).copied()
    }
    fn get_or_insert(&self, key: u64, value: u64) -> u64 {
        *HashMapRef::get_or_insert(self, key, value)
    }
    fn try_insert(&self, key: u64, value: u64) -> Result<(), u64> {
        match HashMapRef::try_insert(self, key, value) {
            Ok(_) => Ok(()),
            Err(e) => {
                assert_eq!(e.not_inserted, value, "try_insert gave back another value");
                Err(*e.current)
            }
        }
    }
    fn get_or_try_insert_with<E>(
        &self,
        key: u64,
        make: impl FnOnce() -> Result<u64, E>,
    ) -> Result<u64, E> {
        HashMapRef::get_or_try_insert_with(self, key, make).copied()
    }
    fn update_or_insert_with(
        &self,
        key: u64,
        mut update: impl FnMut(u64) -> u64,
        make: impl FnOnce() -> u64,
    ) -> u64 {
        *HashMapRef::update_or_insert_with(self, key, |v| update(*v), make)
    }
    fn add(&self, key: &u64, delta: u64) -> u64 {
        let sum = |e: Option<(&u64, &u64)>| {
            Operation::<u64, ()>::Insert(e.map_or(delta, |(_, v)| v.wrapping_add(delta)))
        };
        match self.compute(*key, sum) {
            Compute::Inserted(&v) | Compute::Updated { new: &v, .. } => v,
            other => unreachable!("add: {other:?}"),
        }
    }
    fn compare_exchange(&self, key: &u64, current: u64, new: u64) -> Result<u64, Option<u64>> {
        HashMapRef::compare_exchange(self, key, &current, new)
            .copied()
            .map_err(|e| {
                assert_eq!(e.new, new, "a failed exchange gives its own value back");
                e.current.copied()
            })
    }
    fn retain(&self, mut keep: impl FnMut(u64, u64) -> bool) {
        HashMapRef::retain(self, |k, v| keep(*k, *v));
    }
    fn remove_if(&self, key: &u64, mut should_remove: impl FnMut(u64, u64) -> bool) -> Option<u64> {
        HashMapRef::remove_if(self, key, |k, v| should_remove(*k, *v)).map(|(_, v)| *v)
    }
    fn compute<R>(
        &self,
        key: u64,
        mut f: impl FnMut(Option<u64>) -> Operation<u64, R>,
    ) -> WordCompute<u64, R> {
        match HashMapRef::compute(self, key, |e| f(e.map(|(_, v)| *v))) {
            Compute::Inserted(&v) => WordCompute::Inserted(v),
            Compute::Updated {
                old: &old,
                new: &new,
            } => WordCompute::Updated { old, new },
            Compute::Removed(&v) => WordCompute::Removed(v),
            Compute::Absent => WordCompute::Absent,
            Compute::Aborted(r) => WordCompute::Aborted(r),
        }
    }
    fn clear(&self) {
        HashMapRef::clear(self);
    }
    fn len(&self) -> usize {
        HashMapRef::len(self)
    }
    fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        HashMapRef::iter(self).map(|(k, v)| (*k, *v))
    }
}

impl<S: BuildHasher + Clone + Default + Send + Sync> TestMap for WordMap<u64, u64, S> {
    const NAME: &'static str = "WordMap";
    type Hasher = S;
    type Handle<'a>
        = &'a WordMap<u64, u64, S>
    where
        Self: 'a;

    fn with_capacity_and_hasher(capacity: usize, hasher: S) -> Self {
        WordMap::with_capacity_and_hasher(capacity, hasher)
    }
    fn pin(&self) -> &Self {
        self
    }
    fn len(&self) -> usize {
        WordMap::len(self)
    }
    fn stats(&self) -> Stats {
        WordMap::stats(self)
    }
    fn probe_stats(&self) -> ProbeStats {
        WordMap::probe_stats(self)
    }
    fn resize_helper(&self) -> lfmap::ResizeHelper<'_> {
        WordMap::resize_helper(self)
    }
    fn hasher(&self) -> &S {
        WordMap::hasher(self)
    }
    fn reserve(&self, additional: usize) {
        WordMap::reserve(self, additional)
    }
    fn shrink_to_fit(&self) {
        WordMap::shrink_to_fit(self)
    }
}

impl<S: BuildHasher> Ops for &WordMap<u64, u64, S> {
    fn insert(&self, key: u64, value: u64) -> Option<u64> {
        WordMap::insert(self, key, value)
    }
    fn get(&self, key: &u64) -> Option<u64> {
        WordMap::get(self, key)
    }
    fn contains_key(&self, key: &u64) -> bool {
        WordMap::contains_key(self, key)
    }
    fn remove(&self, key: &u64) -> Option<u64> {
        WordMap::remove(self, key)
    }
    fn update(&self, key: &u64, f: impl FnMut(u64) -> u64) -> Option<u64> {
        WordMap::update(self, key, f)
    }
    fn get_or_insert(&self, key: u64, value: u64) -> u64 {
        WordMap::get_or_insert(self, key, value)
    }
    fn try_insert(&self, key: u64, value: u64) -> Result<(), u64> {
        WordMap::try_insert(self, key, value)
    }
    fn get_or_try_insert_with<E>(
        &self,
        key: u64,
        make: impl FnOnce() -> Result<u64, E>,
    ) -> Result<u64, E> {
        WordMap::get_or_try_insert_with(self, key, make)
    }
    fn update_or_insert_with(
        &self,
        key: u64,
        update: impl FnMut(u64) -> u64,
        make: impl FnOnce() -> u64,
    ) -> u64 {
        WordMap::update_or_insert_with(self, key, update, make)
    }
    fn add(&self, key: &u64, delta: u64) -> u64 {
        WordMap::add(self, key, delta)
    }
    fn compare_exchange(&self, key: &u64, current: u64, new: u64) -> Result<u64, Option<u64>> {
        WordMap::compare_exchange(self, key, current, new)
    }
    fn retain(&self, keep: impl FnMut(u64, u64) -> bool) {
        WordMap::retain(self, keep);
    }
    fn remove_if(&self, key: &u64, should_remove: impl FnMut(u64, u64) -> bool) -> Option<u64> {
        WordMap::remove_if(self, key, should_remove)
    }
    fn compute<R>(
        &self,
        key: u64,
        f: impl FnMut(Option<u64>) -> Operation<u64, R>,
    ) -> WordCompute<u64, R> {
        WordMap::compute(self, key, f)
    }
    fn clear(&self) {
        WordMap::clear(self);
    }
    fn len(&self) -> usize {
        WordMap::len(self)
    }
    fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        WordMap::iter(self)
    }
}

/// The capacity calls a scenario needs of either map beyond [`TestMap`]
/// (`tests/capacity.rs`, `tests/prefault.rs`).
pub trait Room: TestMap {
    fn capacity(&self) -> usize;
    /// `Extend` through a shared reference.
    fn extend_shared(&self, items: impl Iterator<Item = (u64, u64)>);
}

impl<S: BuildHasher + Clone + Default + Send + Sync> Room for HashMap<u64, u64, S> {
    fn capacity(&self) -> usize {
        HashMap::capacity(self)
    }
    fn extend_shared(&self, items: impl Iterator<Item = (u64, u64)>) {
        let mut map = self;
        map.extend(items);
    }
}

impl<S: BuildHasher + Clone + Default + Send + Sync> Room for WordMap<u64, u64, S> {
    fn capacity(&self) -> usize {
        WordMap::capacity(self)
    }
    fn extend_shared(&self, items: impl Iterator<Item = (u64, u64)>) {
        let mut map = self;
        map.extend(items);
    }
}

/// `both_maps!(a, b<H>, ...)`: for each scenario `a` (a function generic
/// over [`TestMap`] in the calling module), a test `hash_map::a` running
/// `a::<HashMap<u64, u64>>()` and a test `word_map::a` running
/// `a::<WordMap<u64, u64>>()`; with `<H>`, the maps' hasher type is `H`.
macro_rules! both_maps {
    ($($scenario:ident $(<$hasher:ty>)?),+ $(,)?) => {
        /// The scenarios on `lfmap::HashMap<u64, u64>`.
        mod hash_map {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $scenario() {
                    super::$scenario::<::lfmap::HashMap<u64, u64 $(, $hasher)?>>();
                }
            )+
        }

        /// The scenarios on `lfmap::WordMap<u64, u64>`.
        mod word_map {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $scenario() {
                    super::$scenario::<::lfmap::WordMap<u64, u64 $(, $hasher)?>>();
                }
            )+
        }
    };
}
pub(crate) use both_maps;
