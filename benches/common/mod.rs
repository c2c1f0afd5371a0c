//! Shared by `benches/micro.rs` and `benches/peers/`: one trait over lfmap
//! and its peers, the key types, and a cheap deterministic PRNG.
//!
//! Every map hashes with the same hasher, [`lfmap::DefaultHashBuilder`]
//! (foldhash's fast `RandomState`). Every epoch-based map (lfmap, papaya,
//! flurry) pins a guard per operation, as a service doing single operations
//! would; values are copied out before the guard drops.

// Each bench binary uses a different part of this module.
#![allow(dead_code)]

// `cfg(lfmap_user_build)`: compiled into `benches/user-build/` (the
// `peers-user` binary, which links lfmap alone, as a user's build does), the
// peers' impls are left out, and so are their crates.

use std::borrow::Borrow;
#[cfg(not(lfmap_user_build))]
use std::cell::UnsafeCell;
use std::collections::HashMap as StdHashMap;
use std::hash::Hash;
use std::sync::{Mutex, RwLock};

/// The one hasher every map in the benchmarks uses.
pub type Hasher = lfmap::DefaultHashBuilder;

/// A key type the benchmarks run with. Keys are named by indices; the key
/// of an index is built on the spot, in a stack buffer for `String` (looked
/// up as `&str`), so a lookup touches no memory outside the map.
pub trait Key: Hash + Eq + Ord + Clone + Send + Sync + 'static + Borrow<Self::Q> {
    /// Name used in reports.
    const NAME: &'static str;
    /// The borrowed form lookups take (`u64`, `str`).
    type Q: ?Sized + Hash + Eq + Ord + Sync;
    /// Runs `f` on the borrowed key of index `i` (no allocation).
    fn with<R>(i: u64, f: impl FnOnce(&Self::Q) -> R) -> R;
    /// The owned key of index `i` (an allocation for `String`).
    fn owned(i: u64) -> Self {
        Self::with(i, Self::from_q)
    }
    /// An owned copy of a borrowed key.
    fn from_q(q: &Self::Q) -> Self;
    /// Runs `v` with [`Word`], lfmap's inline map, which takes word-sized
    /// keys only.
    fn visit_word<V: Visit<Self>>(v: V) -> V::Out;
}

impl Key for u64 {
    const NAME: &'static str = "u64";
    type Q = u64;
    #[inline(always)]
    fn with<R>(i: u64, f: impl FnOnce(&u64) -> R) -> R {
        f(&i)
    }
    #[inline(always)]
    fn from_q(q: &u64) -> u64 {
        *q
    }
    fn visit_word<V: Visit<u64>>(v: V) -> V::Out {
        v.visit::<Word>()
    }
}

impl Key for String {
    const NAME: &'static str = "String";
    type Q = str;
    /// `session-` and 16 hex digits: 24 bytes, typical of ids.
    #[inline(always)]
    fn with<R>(i: u64, f: impl FnOnce(&str) -> R) -> R {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut buf = *b"session-0000000000000000";
        for (d, b) in buf[8..].iter_mut().enumerate() {
            *b = HEX[(i >> (60 - 4 * d)) as usize & 15];
        }
        // SAFETY: ASCII only.
        f(unsafe { std::str::from_utf8_unchecked(&buf) })
    }
    #[inline(always)]
    fn from_q(q: &str) -> String {
        q.to_owned()
    }
    fn visit_word<V: Visit<String>>(_: V) -> V::Out {
        panic!("wordmap takes word-sized keys only, not String")
    }
}

/// The operations the benchmarks run, over `K -> u64`.
pub trait BenchMap<K: Key>: Send + Sync + Sized {
    /// Name used in reports.
    const NAME: &'static str;
    /// False for the single-threaded ceiling (hashbrown): run it on one
    /// thread only.
    const CONCURRENT: bool = true;
    /// An empty map, not pre-sized.
    fn new() -> Self;
    /// An empty map with room for `capacity` entries.
    fn with_capacity(capacity: usize) -> Self;
    /// The value of `k`, copied out.
    fn get(&self, k: &K::Q) -> Option<u64>;
    /// Inserts or replaces; true if the key was absent.
    fn insert(&self, k: K, v: u64) -> bool;
    /// Removes; true if the key was present.
    fn remove(&self, k: &K::Q) -> bool;
    /// Adds one to the value of `k` in place (atomically); true if present.
    fn update(&self, k: &K::Q) -> bool;
    /// Iterates over every entry; returns the sum of the values.
    fn sum_values(&self) -> u64;
    /// The number of entries by the map's own count (`len()`): exact for
    /// every map here once no write is in flight, which is when the peers
    /// children call it (after joining their workers).
    fn len(&self) -> usize;
    /// The number of entries its iterator visits: a count that does not
    /// rely on the map's own counter, for the children's checks.
    fn iter_len(&self) -> usize;
    /// Adds `delta` to the value of `k`, inserting `delta` if absent: the
    /// counter upsert, done the way each map's users would do it atomically.
    fn add(&self, k: K, delta: u64);
    /// The value of `k`, inserting `v` first if absent: the get-or-insert
    /// (interning) call, done the way each map's users would do it for a
    /// mostly-present key: a read first where the map's read is cheaper
    /// than its insert call (papaya, dashmap, scc, flurry, `RwLock`), else
    /// the map's one call (lfmap's looks up first inside it).
    fn get_or_insert(&self, k: K, v: u64) -> u64;
    /// Does the map's resize work on the calling thread until `stop` is
    /// set, where the map has a way to (lfmap's `ResizeHelper`); returns
    /// at once for the others.
    fn assist(&self, stop: &std::sync::atomic::AtomicBool) {
        let _ = stop;
    }
}

/// lfmap (its default reclaimer, the built-in asymmetric epochs:
/// `src/reclaim/mod.rs`): one `pin` per operation.
pub type Lfmap<K> = lfmap::HashMap<K, u64, Hasher>;

impl<K: Key> BenchMap<K> for Lfmap<K> {
    const NAME: &'static str = "lfmap";
    fn new() -> Self {
        lfmap::HashMap::with_hasher(Hasher::default())
    }
    fn with_capacity(capacity: usize) -> Self {
        lfmap::HashMap::with_capacity_and_hasher(capacity, Hasher::default())
    }
    #[inline]
    fn get(&self, k: &K::Q) -> Option<u64> {
        self.pin().get(k).copied()
    }
    #[inline]
    fn insert(&self, k: K, v: u64) -> bool {
        self.pin().insert(k, v).is_none()
    }
    #[inline]
    fn remove(&self, k: &K::Q) -> bool {
        self.pin().remove(k).is_some()
    }
    #[inline]
    fn update(&self, k: &K::Q) -> bool {
        self.pin().update(k, |v| v + 1).is_some()
    }
    fn sum_values(&self) -> u64 {
        self.pin().values().fold(0, |a, v| a.wrapping_add(*v))
    }
    fn len(&self) -> usize {
        lfmap::HashMap::len(self)
    }
    fn iter_len(&self) -> usize {
        self.pin().iter().count()
    }
    fn add(&self, k: K, delta: u64) {
        self.pin().compute(k, |cur| {
            lfmap::Operation::<u64, ()>::Insert(cur.map_or(delta, |(_, v)| v + delta))
        });
    }
    #[inline]
    fn get_or_insert(&self, k: K, v: u64) -> u64 {
        *self.pin().get_or_insert(k, v)
    }
    fn assist(&self, stop: &std::sync::atomic::AtomicBool) {
        self.resize_helper().run(stop);
    }
}

/// papaya (seize reclamation, incremental resize by default): one `pin` per
/// operation.
#[cfg(not(lfmap_user_build))]
pub type Papaya<K> = papaya::HashMap<K, u64, Hasher>;

#[cfg(not(lfmap_user_build))]
impl<K: Key> BenchMap<K> for Papaya<K> {
    const NAME: &'static str = "papaya";
    fn new() -> Self {
        papaya::HashMap::with_hasher(Hasher::default())
    }
    fn with_capacity(capacity: usize) -> Self {
        papaya::HashMap::with_capacity_and_hasher(capacity, Hasher::default())
    }
    #[inline]
    fn get(&self, k: &K::Q) -> Option<u64> {
        self.pin().get(k).copied()
    }
    #[inline]
    fn insert(&self, k: K, v: u64) -> bool {
        self.pin().insert(k, v).is_none()
    }
    #[inline]
    fn remove(&self, k: &K::Q) -> bool {
        self.pin().remove(k).is_some()
    }
    #[inline]
    fn update(&self, k: &K::Q) -> bool {
        // papaya's `update` takes the key by value (an allocation for String).
        self.pin().update(K::from_q(k), |v| v + 1).is_some()
    }
    fn sum_values(&self) -> u64 {
        self.pin().values().fold(0, |a, v| a.wrapping_add(*v))
    }
    fn len(&self) -> usize {
        papaya::HashMap::len(self)
    }
    fn iter_len(&self) -> usize {
        self.pin().iter().count()
    }
    fn add(&self, k: K, delta: u64) {
        self.pin().update_or_insert(k, |v| v + delta, delta);
    }
    #[inline]
    fn get_or_insert(&self, k: K, v: u64) -> u64 {
        // A get first: papaya's `get_or_insert` is its `try_insert`, which
        // allocates the new entry before it looks.
        let m = self.pin();
        if let Some(v) = m.get(k.borrow()) {
            return *v;
        }
        *m.get_or_insert(k, v)
    }
}

/// dashmap: sharded `RwLock`s over hashbrown tables.
#[cfg(not(lfmap_user_build))]
pub type Dash<K> = dashmap::DashMap<K, u64, Hasher>;

#[cfg(not(lfmap_user_build))]
impl<K: Key> BenchMap<K> for Dash<K> {
    const NAME: &'static str = "dashmap";
    fn new() -> Self {
        dashmap::DashMap::with_hasher(Hasher::default())
    }
    fn with_capacity(capacity: usize) -> Self {
        dashmap::DashMap::with_capacity_and_hasher(capacity, Hasher::default())
    }
    #[inline]
    fn get(&self, k: &K::Q) -> Option<u64> {
        dashmap::DashMap::get(self, k).map(|r| *r)
    }
    #[inline]
    fn insert(&self, k: K, v: u64) -> bool {
        dashmap::DashMap::insert(self, k, v).is_none()
    }
    #[inline]
    fn remove(&self, k: &K::Q) -> bool {
        dashmap::DashMap::remove(self, k).is_some()
    }
    #[inline]
    fn update(&self, k: &K::Q) -> bool {
        self.get_mut(k).map(|mut r| *r += 1).is_some()
    }
    fn sum_values(&self) -> u64 {
        self.iter().fold(0, |a, r| a.wrapping_add(*r.value()))
    }
    fn len(&self) -> usize {
        dashmap::DashMap::len(self)
    }
    fn iter_len(&self) -> usize {
        self.iter().count()
    }
    fn add(&self, k: K, delta: u64) {
        self.entry(k).and_modify(|v| *v += delta).or_insert(delta);
    }
    #[inline]
    fn get_or_insert(&self, k: K, v: u64) -> u64 {
        // A read lock first: a present key takes no write lock.
        if let Some(r) = self.get(k.borrow()) {
            return *r;
        }
        *self.entry(k).or_insert(v)
    }
}

/// flurry (Java's ConcurrentHashMap; crossbeam-epoch): one `pin` per
/// operation.
#[cfg(not(lfmap_user_build))]
pub type Flurry<K> = flurry::HashMap<K, u64, Hasher>;

#[cfg(not(lfmap_user_build))]
impl<K: Key> BenchMap<K> for Flurry<K> {
    const NAME: &'static str = "flurry";
    fn new() -> Self {
        flurry::HashMap::with_hasher(Hasher::default())
    }
    fn with_capacity(capacity: usize) -> Self {
        flurry::HashMap::with_capacity_and_hasher(capacity, Hasher::default())
    }
    #[inline]
    fn get(&self, k: &K::Q) -> Option<u64> {
        self.pin().get(k).copied()
    }
    #[inline]
    fn insert(&self, k: K, v: u64) -> bool {
        self.pin().insert(k, v).is_none()
    }
    #[inline]
    fn remove(&self, k: &K::Q) -> bool {
        self.pin().remove(k).is_some()
    }
    #[inline]
    fn update(&self, k: &K::Q) -> bool {
        self.pin()
            .compute_if_present(k, |_, v| Some(v + 1))
            .is_some()
    }
    fn sum_values(&self) -> u64 {
        self.pin().values().fold(0, |a, v| a.wrapping_add(*v))
    }
    fn len(&self) -> usize {
        flurry::HashMap::len(self)
    }
    fn iter_len(&self) -> usize {
        self.pin().iter().count()
    }
    fn add(&self, k: K, delta: u64) {
        // flurry has no upsert: update if present, else try to insert, and
        // retry if another thread inserted in between.
        let m = self.pin();
        loop {
            if m.compute_if_present(k.borrow(), |_, v| Some(v + delta))
                .is_some()
            {
                return;
            }
            if m.try_insert(k.clone(), delta).is_ok() {
                return;
            }
        }
    }
    #[inline]
    fn get_or_insert(&self, k: K, v: u64) -> u64 {
        // flurry has no get-or-insert: a get, then `try_insert`, which
        // returns the present value where it does not insert.
        let m = self.pin();
        if let Some(v) = m.get(k.borrow()) {
            return *v;
        }
        match m.try_insert(k, v) {
            Ok(v) => *v,
            Err(e) => *e.current,
        }
    }
}

/// scc: bucket-locked arrays with lock-free reads (sdd reclamation inside).
#[cfg(not(lfmap_user_build))]
pub type Scc<K> = scc::HashMap<K, u64, Hasher>;

#[cfg(not(lfmap_user_build))]
impl<K: Key> BenchMap<K> for Scc<K> {
    const NAME: &'static str = "scc";
    fn new() -> Self {
        scc::HashMap::with_hasher(Hasher::default())
    }
    fn with_capacity(capacity: usize) -> Self {
        scc::HashMap::with_capacity_and_hasher(capacity, Hasher::default())
    }
    #[inline]
    fn get(&self, k: &K::Q) -> Option<u64> {
        self.read_sync(k, |_, v| *v)
    }
    #[inline]
    fn insert(&self, k: K, v: u64) -> bool {
        // Insert-or-replace, like every other map here.
        self.upsert_sync(k, v).is_none()
    }
    #[inline]
    fn remove(&self, k: &K::Q) -> bool {
        self.remove_sync(k).is_some()
    }
    #[inline]
    fn update(&self, k: &K::Q) -> bool {
        self.update_sync(k, |_, v| *v += 1).is_some()
    }
    fn sum_values(&self) -> u64 {
        let mut sum = 0u64;
        self.iter_sync(|_, v| {
            sum = sum.wrapping_add(*v);
            true
        });
        sum
    }
    fn len(&self) -> usize {
        scc::HashMap::len(self)
    }
    fn iter_len(&self) -> usize {
        let mut n = 0;
        self.iter_sync(|_, _| {
            n += 1;
            true
        });
        n
    }
    fn add(&self, k: K, delta: u64) {
        self.entry_sync(k)
            .and_modify(|v| *v += delta)
            .or_insert(delta);
    }
    #[inline]
    fn get_or_insert(&self, k: K, v: u64) -> u64 {
        // A shared read first: a present key takes no bucket lock.
        if let Some(v) = self.read_sync(k.borrow(), |_, v| *v) {
            return v;
        }
        *self.entry_sync(k).or_insert(v).get()
    }
}

type Std<K> = StdHashMap<K, u64, Hasher>;

/// `std::sync::RwLock<std::collections::HashMap>`.
pub struct RwLockMap<K>(RwLock<Std<K>>);

impl<K: Key> BenchMap<K> for RwLockMap<K> {
    const NAME: &'static str = "RwLock<HashMap>";
    fn new() -> Self {
        RwLockMap(RwLock::new(Std::with_hasher(Hasher::default())))
    }
    fn with_capacity(capacity: usize) -> Self {
        RwLockMap(RwLock::new(Std::with_capacity_and_hasher(
            capacity,
            Hasher::default(),
        )))
    }
    #[inline]
    fn get(&self, k: &K::Q) -> Option<u64> {
        self.0.read().unwrap().get(k).copied()
    }
    #[inline]
    fn insert(&self, k: K, v: u64) -> bool {
        self.0.write().unwrap().insert(k, v).is_none()
    }
    #[inline]
    fn remove(&self, k: &K::Q) -> bool {
        self.0.write().unwrap().remove(k).is_some()
    }
    #[inline]
    fn update(&self, k: &K::Q) -> bool {
        self.0
            .write()
            .unwrap()
            .get_mut(k)
            .map(|v| *v += 1)
            .is_some()
    }
    fn sum_values(&self) -> u64 {
        self.0
            .read()
            .unwrap()
            .values()
            .fold(0, |a, v| a.wrapping_add(*v))
    }
    fn len(&self) -> usize {
        self.0.read().unwrap().len()
    }
    fn iter_len(&self) -> usize {
        self.0.read().unwrap().iter().count()
    }
    fn add(&self, k: K, delta: u64) {
        *self.0.write().unwrap().entry(k).or_insert(0) += delta;
    }
    #[inline]
    fn get_or_insert(&self, k: K, v: u64) -> u64 {
        // A read lock first: a present key takes no write lock.
        if let Some(v) = self.0.read().unwrap().get(k.borrow()) {
            return *v;
        }
        *self.0.write().unwrap().entry(k).or_insert(v)
    }
}

/// `std::sync::Mutex<std::collections::HashMap>`.
pub struct MutexMap<K>(Mutex<Std<K>>);

impl<K: Key> BenchMap<K> for MutexMap<K> {
    const NAME: &'static str = "Mutex<HashMap>";
    fn new() -> Self {
        MutexMap(Mutex::new(Std::with_hasher(Hasher::default())))
    }
    fn with_capacity(capacity: usize) -> Self {
        MutexMap(Mutex::new(Std::with_capacity_and_hasher(
            capacity,
            Hasher::default(),
        )))
    }
    #[inline]
    fn get(&self, k: &K::Q) -> Option<u64> {
        self.0.lock().unwrap().get(k).copied()
    }
    #[inline]
    fn insert(&self, k: K, v: u64) -> bool {
        self.0.lock().unwrap().insert(k, v).is_none()
    }
    #[inline]
    fn remove(&self, k: &K::Q) -> bool {
        self.0.lock().unwrap().remove(k).is_some()
    }
    #[inline]
    fn update(&self, k: &K::Q) -> bool {
        self.0.lock().unwrap().get_mut(k).map(|v| *v += 1).is_some()
    }
    fn sum_values(&self) -> u64 {
        self.0
            .lock()
            .unwrap()
            .values()
            .fold(0, |a, v| a.wrapping_add(*v))
    }
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    fn iter_len(&self) -> usize {
        self.0.lock().unwrap().iter().count()
    }
    fn add(&self, k: K, delta: u64) {
        *self.0.lock().unwrap().entry(k).or_insert(0) += delta;
    }
    #[inline]
    fn get_or_insert(&self, k: K, v: u64) -> u64 {
        *self.0.lock().unwrap().entry(k).or_insert(v)
    }
}

/// Single-threaded hashbrown, no synchronisation at all: the per-thread
/// ceiling. Only ever used from one thread (`CONCURRENT = false`; the
/// drivers check it before sharing a map).
#[cfg(not(lfmap_user_build))]
pub struct Single<K>(UnsafeCell<hashbrown::HashMap<K, u64, Hasher>>);

// SAFETY: a `Single` is only accessed by one thread at a time: the drivers
// run it with one thread (`CONCURRENT = false`), moving it between threads
// at most through a scoped spawn that happens-before every access.
#[cfg(not(lfmap_user_build))]
unsafe impl<K: Send> Sync for Single<K> {}

#[cfg(not(lfmap_user_build))]
impl<K: Key> Single<K> {
    #[inline]
    fn map(&self) -> &hashbrown::HashMap<K, u64, Hasher> {
        // SAFETY: single-threaded use (above), and no `&mut` outlives a call.
        unsafe { &*self.0.get() }
    }
    #[inline]
    #[allow(clippy::mut_from_ref)]
    fn map_mut(&self) -> &mut hashbrown::HashMap<K, u64, Hasher> {
        // SAFETY: single-threaded use, and each caller drops the `&mut`
        // before returning, so no other reference to the map is live.
        unsafe { &mut *self.0.get() }
    }
}

#[cfg(not(lfmap_user_build))]
impl<K: Key> BenchMap<K> for Single<K> {
    const NAME: &'static str = "hashbrown (1 thread)";
    const CONCURRENT: bool = false;
    fn new() -> Self {
        Single(UnsafeCell::new(hashbrown::HashMap::with_hasher(
            Hasher::default(),
        )))
    }
    fn with_capacity(capacity: usize) -> Self {
        Single(UnsafeCell::new(
            hashbrown::HashMap::with_capacity_and_hasher(capacity, Hasher::default()),
        ))
    }
    #[inline]
    fn get(&self, k: &K::Q) -> Option<u64> {
        self.map().get(k).copied()
    }
    #[inline]
    fn insert(&self, k: K, v: u64) -> bool {
        self.map_mut().insert(k, v).is_none()
    }
    #[inline]
    fn remove(&self, k: &K::Q) -> bool {
        self.map_mut().remove(k).is_some()
    }
    #[inline]
    fn update(&self, k: &K::Q) -> bool {
        self.map_mut().get_mut(k).map(|v| *v += 1).is_some()
    }
    fn sum_values(&self) -> u64 {
        self.map().values().fold(0, |a, v| a.wrapping_add(*v))
    }
    fn len(&self) -> usize {
        self.map().len()
    }
    fn iter_len(&self) -> usize {
        self.map().iter().count()
    }
    fn add(&self, k: K, delta: u64) {
        *self.map_mut().entry(k).or_insert(0) += delta;
    }
    #[inline]
    fn get_or_insert(&self, k: K, v: u64) -> u64 {
        *self.map_mut().entry(k).or_insert(v)
    }
}

/// lfmap's `WordMap`: keys and values inline in the slots; methods pin
/// internally. `u64` keys only.
pub type Word = lfmap::WordMap<u64, u64, Hasher>;

impl BenchMap<u64> for Word {
    const NAME: &'static str = "wordmap";
    fn new() -> Self {
        lfmap::WordMap::with_hasher(Hasher::default())
    }
    fn with_capacity(capacity: usize) -> Self {
        lfmap::WordMap::with_capacity_and_hasher(capacity, Hasher::default())
    }
    #[inline]
    fn get(&self, k: &u64) -> Option<u64> {
        lfmap::WordMap::get(self, k)
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) -> bool {
        lfmap::WordMap::insert(self, k, v).is_none()
    }
    #[inline]
    fn remove(&self, k: &u64) -> bool {
        lfmap::WordMap::remove(self, k).is_some()
    }
    #[inline]
    fn update(&self, k: &u64) -> bool {
        lfmap::WordMap::update(self, k, |v| v + 1).is_some()
    }
    fn sum_values(&self) -> u64 {
        self.iter().fold(0, |a, (_, v)| a.wrapping_add(v))
    }
    fn len(&self) -> usize {
        lfmap::WordMap::len(self)
    }
    fn iter_len(&self) -> usize {
        self.iter().count()
    }
    #[inline]
    fn add(&self, k: u64, delta: u64) {
        lfmap::WordMap::add(self, &k, delta);
    }
    #[inline]
    fn get_or_insert(&self, k: u64, v: u64) -> u64 {
        lfmap::WordMap::get_or_insert(self, k, v)
    }
    fn assist(&self, stop: &std::sync::atomic::AtomicBool) {
        self.resize_helper().run(stop);
    }
}

/// Command-line ids of the maps, in report order.
pub const MAP_IDS: &[&str] = &[
    "lfmap",
    "wordmap",
    "papaya",
    "dashmap",
    "flurry",
    "scc",
    "rwlock",
    "mutex",
    "hashbrown",
];

/// A computation generic over the map type, run by [`visit_map`].
pub trait Visit<K: Key> {
    /// What it returns.
    type Out;
    /// Runs with the map type `M`.
    fn visit<M: BenchMap<K>>(self) -> Self::Out;
}

/// Runs `v` with the map whose id (see [`MAP_IDS`]) is `id`.
pub fn visit_map<K: Key, V: Visit<K>>(id: &str, v: V) -> V::Out {
    match id {
        "lfmap" => v.visit::<Lfmap<K>>(),
        "wordmap" => K::visit_word(v),
        #[cfg(not(lfmap_user_build))]
        "papaya" => v.visit::<Papaya<K>>(),
        #[cfg(not(lfmap_user_build))]
        "dashmap" => v.visit::<Dash<K>>(),
        #[cfg(not(lfmap_user_build))]
        "flurry" => v.visit::<Flurry<K>>(),
        #[cfg(not(lfmap_user_build))]
        "scc" => v.visit::<Scc<K>>(),
        "rwlock" => v.visit::<RwLockMap<K>>(),
        "mutex" => v.visit::<MutexMap<K>>(),
        #[cfg(not(lfmap_user_build))]
        "hashbrown" => v.visit::<Single<K>>(),
        _ => panic!("unknown map {id:?}; known: {MAP_IDS:?}"),
    }
}

/// Whether the map with this id takes keys of type `key` ("u64", "String").
pub fn takes_key(id: &str, key: &str) -> bool {
    id != "wordmap" || key == "u64"
}

/// Whether the map with this id may be shared between threads.
pub fn is_concurrent(id: &str) -> bool {
    id != "hashbrown"
}

/// splitmix64: a cheap, deterministic PRNG (one multiply-xorshift chain per
/// draw), good enough to pick keys and operations.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value).
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5851_F42D_4C95_7F2D)
    }
    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    /// Uniform in `[0, n)` (multiply-high; `n > 0`).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// splitmix64's finaliser: a bijection that scatters bits.
#[inline]
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
