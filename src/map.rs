//! The public API: [`HashMap`] and its pinned handle [`HashMapRef`].
//!
//! This layer is thin on purpose: it hashes, allocates entries, and states
//! each operation as a `decide` function for the raw write engine.

use std::convert::Infallible;
use std::fmt;

use equivalent::Equivalent;
use std::hash::{BuildHasher, Hash};
use std::iter::FusedIterator;

use crate::error::TryReserveError;
use crate::guard::{LocalGuard, OwnedGuard};
use crate::iter::{Drain, IntoIter, IntoKeys, IntoValues, IterMut, OwnedIter, RawIter, ValuesMut};
use crate::raw::slot::{Entry, Pending};
use crate::raw::{Action, RawMap, Written};
use crate::reclaim::ReclaimGuard;
use crate::resize::policy::{slots_for_capacity, MIN_SLOTS};
use crate::stats::{ProbeStats, Stats};

/// The default hasher: [`foldhash`]'s fast `RandomState`, seeded per map.
///
/// foldhash is among the fastest high-quality hashers for hash tables (it
/// is hashbrown's default), and each map gets its own random seed, so an
/// attacker cannot precompute collisions that work against every map.
/// It is not a cryptographic PRF: if keys come from an adversary who can
/// observe timing, use [`std::collections::hash_map::RandomState`]
/// (SipHash-1-3) via [`HashMap::with_hasher`]. lfmap stays correct, only
/// slower, under any hasher, even one that returns a constant.
///
/// ```
/// let map: lfmap::HashMap<u8, u8, lfmap::DefaultHashBuilder> = lfmap::HashMap::new();
/// assert!(map.is_empty());
/// ```
///
/// Under `--cfg loom` it is `foldhash::fast::FixedState` instead: loom
/// replays a model many times and needs every replay to hash alike, so a
/// user's loom models of code that creates maps with `new()` work unchanged
/// (`docs/testing-with-lfmap.md`).
#[cfg(not(loom))]
pub type DefaultHashBuilder = foldhash::fast::RandomState;

/// The default hasher under `--cfg loom`: foldhash with a fixed seed, so
/// every replay of a model hashes alike (see the non-loom docs).
#[cfg(loom)]
pub type DefaultHashBuilder = foldhash::fast::FixedState;

/// A lock-free concurrent hash map.
///
/// Any number of threads may read, insert, remove, update and iterate at
/// once through [`pin`](HashMap::pin)ned handles; no operation waits for
/// another thread's (the entry allocator's one lock is taken once per
/// refill or give-back of a thread's block cache, not per operation). The table grows
/// and shrinks by cooperative,
/// incremental migration: writers that meet a resize move a small chunk of
/// it forward, so no operation pays for a whole copy.
///
/// Removed and replaced values are freed only once no pinned handle can
/// still see them, so `get` can hand out plain references: they live as
/// long as the handle they came from. Freeing runs the values' `Drop`
/// later, a few at a time, inside some thread's later operation on the map
/// (any thread's, not necessarily the remover's), or when the map drops:
/// a `Drop` that takes a lock held around map calls can deadlock. A
/// removed *key* stays longer: its slot keeps it, as a tombstone, until
/// the table's next resize (which churn brings: tombstones count against
/// the load limit) or until the key is inserted again; keep resources in
/// values, not keys.
/// Each thread hands what it retires over in batches (64 with the default
/// reclaimer), so its last few removals wait for its later writes (with
/// the default reclaimer, once it stops writing the map, for some tens of
/// milliseconds of its operations there), or, once it exits, for the next
/// thread that takes its place in the map; with the default reclaimer the
/// map's later operations (any thread's) also take over what a place
/// nobody holds has left, after some thousands of them. A map nobody uses
/// again keeps them until its drop, and a thread keeps what it left in
/// maps it no longer uses until it exits. [`HashMapRef::flush`] hands them
/// over at once.
///
/// Not async-signal-safe: do not use a map from a signal handler (a pin
/// interrupted before it is announced leaves the handler's reads
/// unprotected). Not fork-safe either: a child forked while other threads
/// use a map must not touch it, or any other lfmap map, before `exec`
/// (locks and pins those threads held stay held in the child); it may
/// exit normally, running thread-local destructors.
///
/// ```
/// use lfmap::HashMap;
/// use std::thread;
///
/// let map = HashMap::new();
/// thread::scope(|s| {
///     for t in 0..4u64 {
///         let map = &map;
///         s.spawn(move || {
///             let m = map.pin();
///             for i in 0..1000 {
///                 m.insert(t * 1000 + i, i);
///             }
///         });
///     }
/// });
/// assert_eq!(map.len(), 4000);
/// assert_eq!(map.pin().get(&2500), Some(&500));
/// ```
pub struct HashMap<K, V, S = DefaultHashBuilder> {
    raw: RawMap<K, V, S>,
}

#[cfg(loom)]
impl<K, V, S> HashMap<K, V, S> {
    /// `lfmap::__loom::release_prepared`'s way in.
    pub(crate) fn loom_release_prepared(&self) -> bool {
        self.raw.release_prepared()
    }
}

impl<K, V> HashMap<K, V> {
    /// Creates an empty map.
    ///
    /// ```
    /// let map: lfmap::HashMap<u64, String> = lfmap::HashMap::new();
    /// assert!(map.is_empty());
    /// ```
    pub fn new() -> Self {
        Self::with_hasher(DefaultHashBuilder::default())
    }

    /// Creates an empty map that holds at least `capacity` entries before
    /// it resizes.
    ///
    /// The table's memory is faulted in here (on Linux, for a table of
    /// 128 KiB or more: about 0.3 ms per MiB of slots, 8 bytes per slot at
    /// about twice `capacity` slots), and stays resident: the inserts that
    /// fill the map take no page fault in its table, and no read maps a page
    /// that a write will later have to copy (docs/design.md, "Table
    /// memory"). A map that should cost memory only as it fills is made
    /// with [`new`](HashMap::new) and left to grow.
    ///
    /// # Panics
    ///
    /// Panics with "lfmap: capacity overflow" if the table this needs would
    /// take more than `isize::MAX` bytes (the most any allocation may ask
    /// for, as for std's collections); a smaller table that the system
    /// cannot give (more than it has, or than the address space holds) ends
    /// the process as an allocation failure does in std
    /// ([`handle_alloc_error`](std::alloc::handle_alloc_error)).
    /// [`try_reserve`](HashMap::try_reserve) on a new map returns both as
    /// errors.
    ///
    /// ```
    /// let map: lfmap::HashMap<u64, u64> = lfmap::HashMap::with_capacity(1000);
    /// assert!(map.stats().capacity >= 1000);
    /// ```
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_capacity_and_hasher(capacity, DefaultHashBuilder::default())
    }
}

impl<K, V, S> HashMap<K, V, S> {
    /// Creates an empty map that hashes keys with `hasher`. The map uses
    /// the low 61 bits of each hash (the top three hold an entry's
    /// reclamation state): keys whose hashes differ only there collide,
    /// which only a hasher that puts all its difference in the top bits
    /// (an identity hash of multiples of 2^61) would notice.
    ///
    /// ```
    /// use std::collections::hash_map::RandomState;
    /// let map: lfmap::HashMap<&str, i32, _> = lfmap::HashMap::with_hasher(RandomState::new());
    /// map.pin().insert("a", 1);
    /// ```
    pub fn with_hasher(hasher: S) -> Self {
        HashMap {
            raw: RawMap::new(MIN_SLOTS, hasher),
        }
    }

    /// Creates an empty map with room for `capacity` entries, hashing keys
    /// with `hasher`.
    ///
    /// # Panics
    ///
    /// Panics with "lfmap: capacity overflow" if `capacity` is too large.
    ///
    /// ```
    /// use std::collections::hash_map::RandomState;
    /// let map: lfmap::HashMap<u32, u32, _> =
    ///     lfmap::HashMap::with_capacity_and_hasher(64, RandomState::new());
    /// assert!(map.stats().capacity >= 64);
    /// ```
    pub fn with_capacity_and_hasher(capacity: usize, hasher: S) -> Self {
        HashMap {
            raw: RawMap::new(slots_for_capacity(capacity), hasher),
        }
    }

    /// Pins the current thread and returns a handle for operating on the map.
    ///
    /// References returned by the handle stay valid as long as it lives,
    /// even if another thread removes the entry meanwhile. A handle delays
    /// the freeing of memory removed by any thread from any map (with the
    /// default backend, whose epochs are process-wide; with the `seize` or
    /// `crossbeam-epoch` feature, from this map), so keep handles
    /// short-lived in long-running loops (pin per request, not per thread).
    /// A handle leaked with `mem::forget` holds every later free back for
    /// good (in the process, or in this map).
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert("k", 1);
    /// let v = m.get("k").unwrap();
    /// m.remove("k");
    /// assert_eq!(*v, 1); // still valid: `m` is pinned
    /// ```
    #[inline]
    pub fn pin(&self) -> HashMapRef<'_, K, V, S> {
        HashMapRef {
            map: self,
            guard: LocalGuard(self.raw.pin(), std::marker::PhantomData),
        }
    }

    /// Pins with a handle that owns its guard: it is `Send` (when `K`, `V`
    /// and `S` allow) and may be held across `.await` points of a
    /// multi-threaded async runtime, or moved to another thread.
    ///
    /// Like any handle it delays the freeing of memory removed by every
    /// thread while it lives, so hold it for the length of a request, not
    /// for the life of a task. An owned pin costs a little more than
    /// [`pin`](HashMap::pin). The last few values it removed or replaced
    /// (up to 63) wait, after it drops, for the next handle that takes its
    /// place: the thread it drops on keeps one place for its next owned
    /// handle (with the default reclaimer, owned handles that write
    /// nothing in this map hand them over after some hundreds of their
    /// drops over some tens of milliseconds), and with the default
    /// reclaimer the map's later operations take over what a place nobody
    /// holds has left, after some thousands of them ([`HashMapRef::flush`]
    /// before the drop hands them over at once).
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin_owned();
    /// m.insert(1, "one");
    /// std::thread::scope(|s| {
    ///     s.spawn(move || assert_eq!(m.get(&1), Some(&"one")));
    /// });
    /// ```
    pub fn pin_owned(&self) -> HashMapRef<'_, K, V, S, OwnedGuard<'_>> {
        HashMapRef {
            map: self,
            guard: OwnedGuard(self.raw.pin_owned(), std::marker::PhantomData),
        }
    }

    /// Number of entries. Exact when no write is in flight; while writes run,
    /// off by at most the inserts and removes that complete during the call
    /// (each writer's counts are read once, at some moment of the call;
    /// never below 0, and it never stops writers).
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// map.pin().insert(1, 1);
    /// assert_eq!(map.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the map has no entries: `len() == 0`, with
    /// [`len`](HashMap::len)'s caveat under concurrent writes.
    ///
    /// ```
    /// let map: lfmap::HashMap<i32, i32> = lfmap::HashMap::new();
    /// assert!(map.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How far keys sit from their home slots: what lookups cost. Scans
    /// the current table, O(capacity); see [`ProbeStats`].
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// for i in 0..1000 {
    ///     m.insert(i, i);
    /// }
    /// m.retain(|k, _| k % 100 == 0);
    /// let probes = map.probe_stats();
    /// assert_eq!(probes.keys, 10);
    /// assert!(probes.mean_probe() < 4.0);
    /// ```
    pub fn probe_stats(&self) -> ProbeStats {
        self.raw.probe_stats()
    }

    /// Counters describing the map; cheap (no scan).
    ///
    /// ```
    /// let map = lfmap::HashMap::with_capacity(0);
    /// let m = map.pin();
    /// for i in 0..10_000 {
    ///     m.insert(i, i);
    /// }
    /// let stats = map.stats();
    /// assert_eq!(stats.len, 10_000);
    /// assert!(stats.resizes > 0);
    /// ```
    pub fn stats(&self) -> Stats {
        self.raw.stats()
    }

    /// The map's hasher.
    ///
    /// ```
    /// use std::hash::BuildHasher;
    /// let map: lfmap::HashMap<u8, u8> = lfmap::HashMap::new();
    /// let _h = map.hasher().hash_one(1u8);
    /// ```
    pub fn hasher(&self) -> &S {
        &self.raw.hasher
    }
}

/// Capacity control. Each call that resizes runs one ordinary cooperative
/// resize, migrated by the calling thread: other threads keep reading and
/// writing throughout (a writer that meets the resize helps by a few slots),
/// nobody waits for it. The table such a call installs has its memory
/// faulted in by the call, as with [`with_capacity`](HashMap::with_capacity).
impl<K: Hash + Eq, V, S: BuildHasher> HashMap<K, V, S> {
    /// How many entries the map holds before its table must grow: the
    /// current (or, during a resize, the new) table's load limit, 3/4 of
    /// its slots, or `len()` if that is more (a large table may hold a
    /// few entries past its limit before its growth starts). Removed keys
    /// keep their slots until the next resize, so after many removals
    /// fewer new keys than `capacity() - len()` may fit. Never 0: a map
    /// always has a table, of 16 slots at least, so `new()` and
    /// `with_capacity(0)` report 12 where std reports 0.
    ///
    /// ```
    /// let map: lfmap::HashMap<u64, u64> = lfmap::HashMap::with_capacity(1000);
    /// assert!(map.capacity() >= 1000);
    /// ```
    pub fn capacity(&self) -> usize {
        self.raw.capacity(&self.raw.pin())
    }

    /// Makes room for at least `additional` more entries than the map
    /// holds now, so that many inserts run without a resize: grows the
    /// table once, here, if it is too small (a no-op otherwise). Until
    /// [`shrink_to_fit`](HashMap::shrink_to_fit), the map also stops
    /// shrinking below that size when keys are removed, as after
    /// [`with_capacity`](HashMap::with_capacity), and prepares no growth
    /// while it holds no more than that. `reserve(0)` sets no such floor
    /// (it only finishes a resize in progress, or grows a table past its
    /// load limit).
    ///
    /// # Panics
    ///
    /// Panics with "lfmap: capacity overflow" if the table would take more
    /// than `isize::MAX` bytes, and aborts like `Vec` if the allocator
    /// cannot give a smaller one; use
    /// [`try_reserve`](HashMap::try_reserve) to get an error instead.
    ///
    /// ```
    /// let map: lfmap::HashMap<u64, u64> = lfmap::HashMap::new();
    /// map.reserve(10_000);
    /// let resizes = map.stats().resizes;
    /// let m = map.pin();
    /// for i in 0..10_000 {
    ///     m.insert(i, i);
    /// }
    /// assert_eq!(map.stats().resizes, resizes); // no resize while filling
    /// ```
    pub fn reserve(&self, additional: usize) {
        if let Err(e) = self.try_reserve(additional) {
            crate::resize::memory::alloc_failed(e);
        }
    }

    /// [`reserve`](HashMap::reserve), returning an error instead of
    /// panicking or aborting. The map is unchanged on error. The error
    /// covers the table this call allocates: a resize another thread
    /// started, which the call finishes first, may have to grow its own
    /// new table when writers have filled it meanwhile, and that
    /// allocation fails as a writer's does (an abort, like `Vec`'s).
    ///
    /// Unlike `Vec::try_reserve`, an `Ok` means the table's memory is
    /// faulted in already (so that the inserts it makes room for take no
    /// page fault). Where the kernel overcommits memory or a memory cgroup
    /// limits the process, that step can end in the out-of-memory killer
    /// rather than in an error, as touching any memory can.
    ///
    /// ```
    /// let map: lfmap::HashMap<u64, u64> = lfmap::HashMap::new();
    /// assert!(map.try_reserve(100).is_ok());
    /// assert_eq!(
    ///     map.try_reserve(usize::MAX),
    ///     Err(lfmap::TryReserveError::CapacityOverflow)
    /// );
    /// ```
    pub fn try_reserve(&self, additional: usize) -> Result<(), TryReserveError> {
        self.raw.try_reserve(additional, &self.raw.pin())
    }

    /// Shrinks the table to the smallest that holds the current entries
    /// below its load limit, dropping the tombstones of removed keys, and
    /// lifts the floor that [`with_capacity`](HashMap::with_capacity) and
    /// [`reserve`](HashMap::reserve) set. O(capacity). Best effort: if the
    /// smaller table cannot be allocated, the map keeps its table. The
    /// tables of earlier resizes, whose removed keys' entries later writes
    /// free a few at a time, are freed whole too (once no pin can reach
    /// them).
    ///
    /// It also gives back at once the next table that a growing map
    /// prepares ahead of its resize (from 5/8 load, so that no write
    /// faults in table memory during the resize; up to twice the table's
    /// memory). Without this call, a map that stops growing short of the
    /// resize releases that table by itself, in the operations that
    /// follow, once it has claimed almost nothing for a second (of one
    /// thread's operations: at least 4,096 of them)
    /// ([`Stats::prepared_released`](crate::Stats::prepared_released)),
    /// and a migration the load's writes left open is finished by the
    /// operations that follow. So a map loaded once and then only read is
    /// best ended with a `shrink_to_fit()` only to fit its table to what
    /// it holds (at 3/4 load).
    ///
    /// ```
    /// let map: lfmap::HashMap<u64, u64> = lfmap::HashMap::with_capacity(100_000);
    /// map.pin().insert(1, 1);
    /// map.shrink_to_fit();
    /// assert!(map.capacity() < 100);
    /// assert_eq!(map.pin().get(&1), Some(&1));
    /// ```
    pub fn shrink_to_fit(&self) {
        self.raw.shrink_to(0, &self.raw.pin());
    }

    /// Shrinks the table as [`shrink_to_fit`](HashMap::shrink_to_fit) does,
    /// but keeps room for at least `min_capacity` keys: std's `shrink_to`.
    /// The floor of [`with_capacity`](HashMap::with_capacity) and
    /// [`reserve`](HashMap::reserve) is lowered to `min_capacity` (never
    /// raised), so later removals do not shrink the table below it either.
    /// Never grows the table. O(capacity) when it shrinks.
    ///
    /// ```
    /// let map: lfmap::HashMap<u64, u64> = lfmap::HashMap::with_capacity(100_000);
    /// map.pin().insert(1, 1);
    /// map.shrink_to(1_000);
    /// assert!((1_000..10_000).contains(&map.capacity()));
    /// map.shrink_to(0);
    /// assert!(map.capacity() < 100);
    /// ```
    pub fn shrink_to(&self, min_capacity: usize) {
        self.raw.shrink_to(min_capacity, &self.raw.pin());
    }
}

/// Exclusive access: std's `&mut self` and consuming calls. Holding the
/// map by `&mut` (or by value) proves no handle, iterator or resize helper
/// of it is alive, since each borrows the map, so no other thread is inside
/// it: values can be changed in place and moved out, as in std. They are
/// not available while any handle is alive (the borrow checker refuses):
///
/// ```compile_fail,E0502
/// let mut map = lfmap::HashMap::from([(1, 1)]);
/// let m = map.pin();
/// let one = m.get(&1);
/// map.get_mut(&1); // error: `map` is borrowed by `m`
/// assert_eq!(one, Some(&1));
/// ```
///
/// ```compile_fail,E0502
/// let mut map = lfmap::HashMap::from([(1, 1)]);
/// let owned = map.pin_owned();
/// map.drain(); // error: `map` is borrowed by the owned handle
/// drop(owned);
/// ```
///
/// The `&mut self` ones first finish any resize that other threads left
/// under way (cooperative resizes advance a few slots per write, so one can
/// outlast the writes that started it): an O(capacity) step, once, that
/// the next writer would otherwise share out.
impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    /// A mutable reference to the value of `key`, if present: std's
    /// `get_mut`. Needs exclusive access (`&mut self`): no handle may be
    /// alive, and the value is changed in place, without the allocation a
    /// handle's [`update`](HashMapRef::update) makes.
    ///
    /// ```
    /// let mut map = lfmap::HashMap::new();
    /// map.pin().insert("apples", 3);
    /// if let Some(n) = map.get_mut("apples") {
    ///     *n += 1;
    /// }
    /// assert_eq!(map.get_mut("pears"), None);
    /// assert_eq!(map.pin().get("apples"), Some(&4));
    /// ```
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let hash = self.raw.hash(key);
        self.raw.get_mut(hash, key)
    }

    /// An iterator over the entries as `(&K, &mut V)`, each exactly once,
    /// in unspecified order: std's `iter_mut`. Needs exclusive access
    /// (`&mut self`): no handle may be alive. Exact length.
    ///
    /// ```
    /// let mut map: lfmap::HashMap<u32, u32> = (0..100).map(|i| (i, i)).collect();
    /// for (k, v) in map.iter_mut() {
    ///     *v = k * 2;
    /// }
    /// assert_eq!(map.pin().get(&21), Some(&42));
    /// ```
    pub fn iter_mut(&mut self) -> IterMut<'_, K, V> {
        let len = self.raw.len();
        IterMut::new(self.raw.exclusive(), len)
    }

    /// An iterator over the values as `&mut V`: std's `values_mut`, as
    /// [`iter_mut`](HashMap::iter_mut) without the keys. Needs exclusive
    /// access (`&mut self`).
    ///
    /// ```
    /// let mut map = lfmap::HashMap::from([("a", 1), ("b", 2)]);
    /// for v in map.values_mut() {
    ///     *v += 10;
    /// }
    /// let m = map.pin();
    /// assert_eq!((m.get("a"), m.get("b")), (Some(&11), Some(&12)));
    /// ```
    pub fn values_mut(&mut self) -> ValuesMut<'_, K, V> {
        ValuesMut::new(self.iter_mut())
    }

    /// Empties the map, returning its entries by value: std's `drain`.
    /// Needs exclusive access (`&mut self`).
    ///
    /// The map is empty once `drain` returns, and usable at once (after
    /// the iterator is dropped, as the borrow requires): it keeps its hasher
    /// and the capacity floor of [`with_capacity`](HashMap::with_capacity)
    /// or [`reserve`](HashMap::reserve), with a fresh table of that size.
    /// The iterator owns the old table: the entries it does not yield are
    /// dropped with it, each once (leaked with it if it is leaked).
    ///
    /// ```
    /// let mut map = lfmap::HashMap::from([(1, String::from("one")), (2, String::from("two"))]);
    /// let mut pairs: Vec<(i32, String)> = map.drain().collect();
    /// pairs.sort();
    /// assert_eq!(pairs, [(1, "one".to_string()), (2, "two".to_string())]);
    /// assert!(map.is_empty());
    /// map.pin().insert(3, String::from("three"));
    /// assert_eq!(map.len(), 1);
    /// ```
    pub fn drain(&mut self) -> Drain<'_, K, V> {
        // The length first: `take_root` leaves the map empty.
        let len = self.raw.len();
        Drain::new(self.raw.take_root(true), len)
    }

    /// Consumes the map, yielding its keys by value: std's `into_keys`
    /// (the values are dropped).
    ///
    /// ```
    /// let map = lfmap::HashMap::from([(2, 'b'), (1, 'a')]);
    /// let mut keys: Vec<i32> = map.into_keys().collect();
    /// keys.sort();
    /// assert_eq!(keys, [1, 2]);
    /// ```
    pub fn into_keys(self) -> IntoKeys<K, V> {
        IntoKeys::new(self.into_iter())
    }

    /// Consumes the map, yielding its values by value: std's `into_values`
    /// (the keys are dropped).
    ///
    /// ```
    /// let map = lfmap::HashMap::from([(1, String::from("a")), (2, String::from("b"))]);
    /// let mut values: Vec<String> = map.into_values().collect();
    /// values.sort();
    /// assert_eq!(values, ["a", "b"]);
    /// ```
    pub fn into_values(self) -> IntoValues<K, V> {
        IntoValues::new(self.into_iter())
    }
}

impl<K, V, S> HashMap<K, V, S>
where
    K: Eq + Send + Sync,
    V: Send + Sync,
    S: Sync,
{
    /// Registers a [`ResizeHelper`](crate::ResizeHelper) with the map: a
    /// handle another thread runs to do the map's resize work (migrating
    /// entries to a larger table, faulting the next table's memory in), so
    /// that writers do not, until the helper is dropped. Writers take the
    /// work back if the helper falls behind, so it never blocks them. Pays
    /// off where the helper has a core of its own.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// let map: Arc<lfmap::HashMap<u64, String>> = Arc::new(lfmap::HashMap::new());
    /// let stop = Arc::new(AtomicBool::new(false));
    /// let helper = {
    ///     let (map, stop) = (Arc::clone(&map), Arc::clone(&stop));
    ///     std::thread::spawn(move || map.resize_helper().run(&stop))
    /// };
    /// for i in 0..20_000 {
    ///     map.pin().insert(i, i.to_string());
    /// }
    /// stop.store(true, Ordering::Release);
    /// helper.join().unwrap();
    /// assert_eq!(map.pin().get(&19_999).map(String::as_str), Some("19999"));
    /// ```
    #[must_use = "writers leave their resize work to the helper only while it is alive"]
    pub fn resize_helper(&self) -> crate::ResizeHelper<'_> {
        crate::ResizeHelper::new(&self.raw)
    }
}

impl<K, V, S: Default> Default for HashMap<K, V, S> {
    fn default() -> Self {
        Self::with_hasher(S::default())
    }
}

/// A pinned handle to a [`HashMap`], from [`HashMap::pin`] or
/// [`HashMap::pin_owned`].
///
/// Every method is lock-free, but for the entry allocator's refills and
/// give-backs ([`HashMap`]). References it returns live as long as the
/// handle. With the default [`LocalGuard`] the handle is tied to the thread
/// that pinned it (not `Send`); with an [`OwnedGuard`] it may move.
///
/// ```
/// use lfmap::{HashMap, HashMapRef};
///
/// fn record(m: &HashMapRef<'_, String, u32>, name: &str) -> u32 {
///     *m.update_or_insert(name.to_string(), |n| n + 1, 1)
/// }
///
/// let map = HashMap::new();
/// let m = map.pin();
/// record(&m, "a");
/// assert_eq!(record(&m, "a"), 2);
/// ```
pub struct HashMapRef<'map, K, V, S = DefaultHashBuilder, G = LocalGuard<'map>> {
    map: &'map HashMap<K, V, S>,
    guard: G,
}

impl<'map, K, V, S, G> HashMapRef<'map, K, V, S, G>
where
    K: Hash + Eq,
    S: BuildHasher,
    G: ReclaimGuard,
{
    pub(crate) fn raw(&self) -> &'map RawMap<K, V, S> {
        &self.map.raw
    }

    #[cfg(feature = "rayon")]
    pub(crate) fn guard(&self) -> &G {
        &self.guard
    }

    /// Returns the value for `key`.
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(String::from("a"), 1);
    /// assert_eq!(m.get("a"), Some(&1));
    /// assert_eq!(m.get("b"), None);
    /// ```
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let hash = self.raw().hash(key);
        self.raw().get(hash, key, &self.guard).map(|e| e.value())
    }

    /// Returns the key-value pair for `key`.
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, "x");
    /// assert_eq!(m.get_key_value(&1), Some((&1, &"x")));
    /// ```
    #[inline]
    pub fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let hash = self.raw().hash(key);
        self.raw().get(hash, key, &self.guard).map(Entry::pair)
    }

    /// Whether `key` is present.
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, ());
    /// assert!(m.contains_key(&1));
    /// assert!(!m.contains_key(&2));
    /// ```
    #[inline]
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Inserts `key -> value`, returning the previous value if there was one.
    ///
    /// The key and value go in together as one new entry: unlike std's map,
    /// when the key was present the map afterwards holds the *new* key (the
    /// old key is dropped with the old value, once no handle can see them).
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.insert(1, "a"), None);
    /// assert_eq!(m.insert(1, "b"), Some(&"a"));
    /// assert_eq!(m.get(&1), Some(&"b"));
    /// ```
    pub fn insert(&self, key: K, value: V) -> Option<&V> {
        self.insert_entry(key, value).map(|(_, v)| v)
    }

    /// [`insert`](Self::insert), returning the previous entry, key and
    /// value (`HashSetRef::replace`).
    pub(crate) fn insert_entry(&self, key: K, value: V) -> Option<(&K, &V)> {
        self.write_owned(key, value, |_| Action::Put)
            .prev
            .map(|e| (&e.key, e.value()))
    }

    /// Runs a write whose key the caller owns: the key goes into a pending
    /// entry up front, and the probe compares against it there.
    fn write_owned<F>(&self, key: K, value: V, decide: F) -> Written<'_, K, V>
    where
        F: FnMut(Option<&Entry<K, V>>) -> Action,
    {
        let hash = self.raw().hash(&key);
        let entry = Pending::new(hash, key, value);
        self.raw().write_owned(entry, decide, &self.guard).0
    }

    /// Removes `key`, returning its value.
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, "a");
    /// assert_eq!(m.remove(&1), Some(&"a"));
    /// assert_eq!(m.remove(&1), None);
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> Option<&V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let hash = self.raw().hash(key);
        let written = self
            .raw()
            .write(hash, key, |_, _| Action::Remove, &self.guard);
        written.prev.map(|e| e.value())
    }

    /// Removes `key` if `should_remove(key, value)` holds for its current
    /// entry, returning the removed pair. The predicate may run more than
    /// once if the entry changes concurrently.
    ///
    /// The predicate may write other keys, not `key` (see
    /// [closures and reentrancy](crate#closures-and-reentrancy)).
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, 10);
    /// assert_eq!(m.remove_if(&1, |_, v| *v > 50), None);
    /// assert_eq!(m.remove_if(&1, |_, v| *v == 10), Some((&1, &10)));
    /// ```
    pub fn remove_if<Q, F>(&self, key: &Q, mut should_remove: F) -> Option<(&K, &V)>
    where
        Q: Hash + Equivalent<K> + ?Sized,
        F: FnMut(&K, &V) -> bool,
    {
        let hash = self.raw().hash(key);
        let decide = |cur: Option<&Entry<K, V>>, _: &mut Option<Pending<K, V>>| match cur {
            Some(e) if should_remove(&e.key, e.value()) => Action::Remove,
            _ => Action::Keep,
        };
        let written = self.raw().write(hash, key, decide, &self.guard);
        match (written.prev, written.cur) {
            (Some(e), None) => Some(e.pair()),
            _ => None,
        }
    }

    /// Inserts `key -> value` only if `key` is absent. Returns the inserted
    /// value, or, if the key was present, an [`OccupiedError`] holding the
    /// current value and giving `value` back. A present key is found by a
    /// lookup alone: nothing is written or allocated.
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.try_insert(1, "a"), Ok(&"a"));
    /// let err = m.try_insert(1, "b").unwrap_err();
    /// assert_eq!((err.current, err.not_inserted), (&"a", "b"));
    /// ```
    pub fn try_insert(&self, key: K, value: V) -> Result<&V, OccupiedError<'_, V>> {
        let hash = self.raw().hash(&key);
        if let Some(e) = self.raw().get(hash, &key, &self.guard) {
            drop(key);
            return Err(OccupiedError {
                current: e.value(),
                not_inserted: value,
            });
        }
        match self.put_if_absent(hash, key, value) {
            (current, None) => Ok(current.value()),
            (current, Some(unused)) => Err(OccupiedError {
                current: current.value(),
                not_inserted: unused.into_parts().1,
            }),
        }
    }

    /// [`try_insert`](Self::try_insert) with the value made only if `key`
    /// looks absent: `Ok` with the value this call inserted, or `Err` with
    /// the key's value (papaya's `try_insert_with`). `make` runs at most
    /// once; if another thread inserts the key between the look and the
    /// insert, the value made is dropped and `Err` has the winner's.
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.try_insert_with("a", || 1), Ok(&1));
    /// assert_eq!(m.try_insert_with("a", || unreachable!()), Err(&1));
    /// ```
    pub fn try_insert_with<F>(&self, key: K, make: F) -> Result<&V, &V>
    where
        F: FnOnce() -> V,
    {
        let hash = self.raw().hash(&key);
        if let Some(e) = self.raw().get(hash, &key, &self.guard) {
            return Err(e.value());
        }
        match self.put_if_absent(hash, key, make()) {
            (current, None) => Ok(current.value()),
            (current, Some(_)) => Err(current.value()),
        }
    }

    /// Atomically reads, then inserts, replaces, removes or leaves the entry
    /// of `key`, as `f` decides from the current entry: the general
    /// read-modify-write from which the other writes could be built.
    ///
    /// `f` sees the key's current entry (`None` if absent) and returns an
    /// [`Operation`]. The decision is applied with one CAS that succeeds
    /// only if the entry is still the one `f` saw; otherwise `f` runs again
    /// on the newer entry, so it may run more than once (keep it free of side
    /// effects). A CAS lost to a resize, or to another key taking the empty
    /// slot, reuses the decision: `f` reruns only when the key's entry
    /// changed. Needs `K: Clone` (as [`update`](HashMapRef::update)).
    ///
    /// `f` may write other keys, not `key` (see
    /// [closures and reentrancy](crate#closures-and-reentrancy)).
    ///
    /// ```
    /// use lfmap::{Compute, Operation};
    ///
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// // Insert 1, or add 1 to what is there; give up at 3.
    /// let bump = |entry: Option<(&&str, &u32)>| match entry {
    ///     None => Operation::Insert(1),
    ///     Some((_, &n)) if n >= 3 => Operation::Abort(n),
    ///     Some((_, &n)) => Operation::Insert(n + 1),
    /// };
    /// assert_eq!(m.compute("k", bump), Compute::Inserted(&1));
    /// assert_eq!(m.compute("k", bump), Compute::Updated { old: &1, new: &2 });
    /// m.compute("k", bump);
    /// assert_eq!(m.compute("k", bump), Compute::Aborted(3));
    /// assert_eq!(m.compute("k", |_| Operation::<u32, ()>::Remove), Compute::Removed(&3));
    /// ```
    pub fn compute<F, R>(&self, key: K, mut f: F) -> Compute<'_, V, R>
    where
        K: Clone,
        F: FnMut(Option<(&K, &V)>) -> Operation<V, R>,
    {
        let hash = self.raw().hash(&key);
        let mut aborted = None;
        let decide = |cur: Option<&Entry<K, V>>, pending: &mut Option<Pending<K, V>>| {
            match f(cur.map(Entry::pair)) {
                Operation::Insert(value) => {
                    // A stale attempt from a failed CAS is dropped here.
                    *pending = Some(Pending::new(hash, key.clone(), value));
                    Action::Put
                }
                Operation::Remove => Action::Remove,
                Operation::Abort(r) => {
                    aborted = Some(r);
                    Action::Keep
                }
            }
        };
        let written = self.raw().write(hash, &key, decide, &self.guard);
        if let Some(r) = aborted {
            return Compute::Aborted(r);
        }
        match (written.prev, written.cur) {
            (None, Some(new)) => Compute::Inserted(new.value()),
            (Some(old), Some(new)) => Compute::Updated {
                old: old.value(),
                new: new.value(),
            },
            (Some(old), None) => Compute::Removed(old.value()),
            (None, None) => Compute::Absent,
        }
    }

    /// Returns the value for `key`, inserting `value` first if the key is
    /// absent. Among racing callers for one key exactly one inserts, and all
    /// of them get the winner's value (unless another thread removes the
    /// key meanwhile: a caller after the removal inserts again). A present
    /// key is found by a lookup alone: nothing is written or allocated,
    /// and `key` and `value` are dropped.
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.get_or_insert(1, "a"), &"a");
    /// assert_eq!(m.get_or_insert(1, "b"), &"a");
    /// ```
    pub fn get_or_insert(&self, key: K, value: V) -> &V {
        self.get_or_insert_entry(key, value).1
    }

    /// [`get_or_insert`](Self::get_or_insert), returning the entry's key
    /// and value (`HashSetRef::get_or_insert`).
    pub(crate) fn get_or_insert_entry(&self, key: K, value: V) -> (&K, &V) {
        let hash = self.raw().hash(&key);
        match self.raw().get(hash, &key, &self.guard) {
            Some(e) => {
                // Key first, as a pending entry's drop would (the path
                // where the write finds the key present).
                drop(key);
                drop(value);
                e.pair()
            }
            None => self.put_if_absent(hash, key, value).0.pair(),
        }
    }

    /// [`put_if_absent`](Self::put_if_absent) for a caller that looked the
    /// key up by another type (`HashSetRef::get_or_insert_with`).
    pub(crate) fn put_entry_if_absent(&self, key: K, value: V) -> (&K, &V) {
        self.put_if_absent(self.raw().hash(&key), key, value)
            .0
            .pair()
    }

    /// The write half of the insert-if-absent calls (`get_or_insert*`,
    /// `try_insert*`), after their lookup found `key` (of hash `hash`)
    /// absent: puts `key -> value` unless the key is present by now.
    /// Returns the entry the key then has, and the pending entry unused if
    /// the key was present (its value to hand back). The lookup comes first
    /// so that a present key costs a read alone: no entry allocated and
    /// freed, no write, no migration help (an interner's or a cache fill's
    /// common case; measured in docs/benchmarks.md, "Get-or-insert and
    /// try-insert look up first").
    fn put_if_absent(&self, hash: u64, key: K, value: V) -> (&Entry<K, V>, Option<Pending<K, V>>) {
        let decide = |cur: Option<&Entry<K, V>>| {
            if cur.is_some() {
                Action::Keep
            } else {
                Action::Put
            }
        };
        let entry = Pending::new(hash, key, value);
        let (written, unused) = self.raw().write_owned(entry, decide, &self.guard);
        let entry = written
            .cur
            .expect("an insert-if-absent leaves the key present");
        (entry, unused)
    }

    /// Returns the value for `key`, inserting `make()` first if the key is
    /// absent. `make` runs at most once per call, and only if the key was
    /// absent when looked up; its value is inserted only if the key is still
    /// absent (otherwise it is dropped and the present value returned).
    ///
    /// `make` may use the map freely, `key` included (see
    /// [closures and reentrancy](crate#closures-and-reentrancy)).
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.get_or_insert_with(1, || "a"), &"a");
    /// assert_eq!(m.get_or_insert_with(1, || unreachable!()), &"a");
    /// ```
    pub fn get_or_insert_with<F>(&self, key: K, make: F) -> &V
    where
        F: FnOnce() -> V,
    {
        let Ok(value) = self.get_or_try_insert_with(key, || Ok::<V, Infallible>(make()));
        value
    }

    /// Returns the value for `key`, inserting the value `make()` gives first
    /// if the key is absent; if `make` fails, its error, with nothing
    /// inserted by the call (dashmap's `entry(k).or_try_insert_with(f)`).
    /// `make` runs at most once per call, and only if the key was absent
    /// when looked up; its value is inserted only if the key is still
    /// absent (otherwise it is dropped and the present value returned).
    ///
    /// `make` may use the map freely, `key` included (see
    /// [closures and reentrancy](crate#closures-and-reentrancy)).
    ///
    /// ```
    /// let config = lfmap::HashMap::new();
    /// let c = config.pin();
    /// let read = |s: &'static str| move || s.parse::<u16>();
    /// assert_eq!(c.get_or_try_insert_with("port", read("8080")), Ok(&8080));
    /// assert!(c.get_or_try_insert_with("retries", read("many")).is_err());
    /// assert_eq!(c.get("retries"), None);
    /// assert_eq!(c.get_or_try_insert_with("port", read("many")), Ok(&8080));
    /// ```
    pub fn get_or_try_insert_with<F, E>(&self, key: K, make: F) -> Result<&V, E>
    where
        F: FnOnce() -> Result<V, E>,
    {
        let hash = self.raw().hash(&key);
        if let Some(e) = self.raw().get(hash, &key, &self.guard) {
            return Ok(e.value());
        }
        Ok(self.put_if_absent(hash, key, make()?).0.value())
    }

    /// Atomically replaces the value of `key` with `f(&old)`, returning the
    /// new value, or `None` if the key is absent.
    ///
    /// Retried on conflict: if another thread changes the entry between the
    /// read and the CAS, `f` runs again on the newer value, so `f` may run
    /// more than once and should have no side effects. No update is lost.
    ///
    /// `f` may write other keys, not `key` (see
    /// [closures and reentrancy](crate#closures-and-reentrancy)).
    ///
    /// Needs `K: Clone`: every value version is one immutable allocation
    /// holding its key, which keeps reads at one pointer hop.
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert("hits", 1);
    /// assert_eq!(m.update("hits", |v| v + 1), Some(&2));
    /// assert_eq!(m.update("misses", |v| v + 1), None);
    /// ```
    pub fn update<Q, F>(&self, key: &Q, mut f: F) -> Option<&V>
    where
        K: Clone,
        Q: Hash + Equivalent<K> + ?Sized,
        F: FnMut(&V) -> V,
    {
        let hash = self.raw().hash(key);
        let decide = |cur: Option<&Entry<K, V>>, pending: &mut Option<Pending<K, V>>| match cur {
            None => Action::Keep,
            Some(e) => {
                // A stale attempt from a failed CAS is dropped here.
                *pending = Some(Pending::new(hash, e.key.clone(), f(e.value())));
                Action::Put
            }
        };
        let written = self.raw().write(hash, key, decide, &self.guard);
        if written.prev.is_some() {
            written.cur.map(|e| e.value())
        } else {
            None
        }
    }

    /// Replaces `key`'s value with `new` if it equals `current` (Java's
    /// `replace(key, old, new)`, folly's `assign_if_equal`): one CAS on
    /// the entry the comparison was made on. Returns `Ok` with the value
    /// replaced, or, if the key is absent or its value differs,
    /// [`CompareExchangeError`] with the value the key has (`None`:
    /// absent) and `new` given back.
    ///
    /// If another thread replaces the entry between the comparison and the
    /// CAS, the comparison is made again on the newer value, so
    /// `PartialEq::eq` may run more than once. Needs `K: Clone` (as
    /// [`update`](HashMapRef::update)).
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert("k", 1);
    /// assert_eq!(m.compare_exchange("k", &1, 2), Ok(&1));
    /// let lfmap::CompareExchangeError { current, new } = m.compare_exchange("k", &1, 3).unwrap_err();
    /// assert_eq!((current, new), (Some(&2), 3));
    /// assert_eq!(m.compare_exchange("absent", &1, 4).unwrap_err().current, None);
    /// assert_eq!(m.get("k"), Some(&2));
    /// ```
    pub fn compare_exchange<Q>(
        &self,
        key: &Q,
        current: &V,
        new: V,
    ) -> Result<&V, CompareExchangeError<'_, V>>
    where
        K: Clone,
        V: PartialEq,
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let hash = self.raw().hash(key);
        let mut new = Some(new);
        // The last decision: the engine performs it before it returns.
        let mut put = false;
        let decide = |cur: Option<&Entry<K, V>>, pending: &mut Option<Pending<K, V>>| {
            // An attempt whose CAS failed because the key's entry changed
            // comes back here: its value is `new` again (its key, a clone
            // of the entry it was decided on, is dropped). A new attempt,
            // if any, clones the key of the entry it replaces, as every
            // write that keeps a key does: reusing the stale attempt
            // whole would store an older entry's key, equal but perhaps
            // not the same, which no order of the writes explains.
            if let Some(stale) = pending.take() {
                // Mutation for checking loom models 21 and 22: the
                // attempt's value dropped, not given back.
                if mutation!("cx_drops_stale_attempt") {
                    drop(stale);
                } else {
                    new = Some(stale.into_parts().1);
                }
            }
            put = false;
            match cur {
                Some(e) if e.value() == current => {
                    let value = new.take().expect("new is back after every attempt");
                    *pending = Some(Pending::new(hash, e.key.clone(), value));
                    put = true;
                    Action::Put
                }
                _ => Action::Keep,
            }
        };
        let written = self.raw().write(hash, key, decide, &self.guard);
        if put {
            let prev = written
                .prev
                .expect("a put replaces the entry it was decided on");
            return Ok(prev.value());
        }
        Err(CompareExchangeError {
            current: written.cur.map(|e| e.value()),
            new: new.expect("new is back after every attempt"),
        })
    }

    /// Replaces `key`'s value `v` with `update(&v)` if the key is present,
    /// or inserts `value` if it is absent; returns the value now stored
    /// (papaya's `update_or_insert`; dashmap's
    /// `entry(k).and_modify(f).or_insert(v)`).
    ///
    /// Atomic, as [`compute`](HashMapRef::compute): the write is one CAS
    /// that succeeds only if the key's entry (or its absence) is still the
    /// one the decision was made on. If another thread changed it
    /// meanwhile, the decision is made again on the newer state, so
    /// `update` may run more than once (keep it free of side effects); no
    /// update is lost. If the key appears between the lookup and the
    /// insert, `update` runs on the newcomer and `value` is dropped; if it
    /// goes between a lookup and the update, `value` is inserted after all.
    /// Needs `K: Clone` (as [`update`](HashMapRef::update)).
    ///
    /// `update` may write other keys, not `key` (see
    /// [closures and reentrancy](crate#closures-and-reentrancy)).
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// assert_eq!(m.update_or_insert("hits", |n| n + 1, 1), &1);
    /// assert_eq!(m.update_or_insert("hits", |n| n + 1, 1), &2);
    /// assert_eq!(m.get("hits"), Some(&2));
    /// ```
    pub fn update_or_insert<F>(&self, key: K, update: F, value: V) -> &V
    where
        K: Clone,
        F: FnMut(&V) -> V,
    {
        self.update_or_insert_with(key, update, || value)
    }

    /// [`update_or_insert`](HashMapRef::update_or_insert), with the value
    /// to insert made by `insert()`: papaya's `update_or_insert_with`.
    ///
    /// `update` may run more than once, as in `update_or_insert`. `insert`
    /// runs at most once per call, and only if the key was absent when
    /// looked up; the value it made is kept across retries, so it is
    /// inserted, or, if the key appeared meanwhile, dropped after `update`
    /// ran on the newcomer. `update` may write other keys, not `key`;
    /// `insert` may use the map freely, `key` included (see
    /// [closures and reentrancy](crate#closures-and-reentrancy)).
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// let append = |s: &String| s.clone() + "b";
    /// assert_eq!(m.update_or_insert_with(1, append, || String::from("a")), "a");
    /// assert_eq!(m.update_or_insert_with(1, append, || unreachable!()), "ab");
    /// ```
    pub fn update_or_insert_with<F, I>(&self, key: K, mut update: F, insert: I) -> &V
    where
        K: Clone,
        F: FnMut(&V) -> V,
        I: FnOnce() -> V,
    {
        let hash = self.raw().hash(&key);
        let mut insert = Some(insert);
        // The value `insert` made, between attempts to insert it.
        let mut made: Option<V> = None;
        // Whether the entry left in `pending` carries `made` (rather than
        // an `update` result, which a retry drops).
        let mut pending_is_made = false;
        let decide = |cur: Option<&Entry<K, V>>, pending: &mut Option<Pending<K, V>>| {
            // A stale attempt from a failed CAS: keep the made value it
            // carries for the next attempt to insert.
            if let Some(stale) = pending.take() {
                if pending_is_made {
                    made = Some(stale.into_parts().1);
                }
            }
            let value = match cur {
                Some(e) => {
                    pending_is_made = false;
                    update(e.value())
                }
                None => {
                    pending_is_made = true;
                    made.take()
                        .unwrap_or_else(|| (insert.take().expect("insert runs at most once"))())
                }
            };
            *pending = Some(Pending::new(hash, key.clone(), value));
            Action::Put
        };
        let written = self.raw().write(hash, &key, decide, &self.guard);
        written
            .cur
            .expect("update_or_insert leaves the key present")
            .value()
    }

    /// Removes `key`, returning the stored key and its value (std's and
    /// papaya's `remove_entry`; here by reference, valid as long as the
    /// handle lives: the map frees them once no handle can see them).
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(String::from("a"), 1);
    /// assert_eq!(m.remove_entry("a"), Some((&String::from("a"), &1)));
    /// assert_eq!(m.remove_entry("a"), None);
    /// ```
    pub fn remove_entry<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.remove_if(key, |_, _| true)
    }

    /// Number of entries (see [`HashMap::len`]).
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, 1);
    /// assert_eq!(m.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the map is empty: `len() == 0`, with [`HashMap::len`]'s
    /// caveat under concurrent writes.
    ///
    /// ```
    /// let map: lfmap::HashMap<u8, u8> = lfmap::HashMap::new();
    /// assert!(map.pin().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hands what this handle removed or replaced in this map (its
    /// thread's, or, for a [`pin_owned`](HashMap::pin_owned) handle, its
    /// own), and the reclaimer still holds back, over to be freed now
    /// rather than once more of it has piled up.
    ///
    /// A removed or replaced value's `Drop` runs once no pinned handle can
    /// still see it, but each thread first gathers what it retires in a
    /// batch (64 objects with the default reclaimer; the `seize` and
    /// `crossbeam-epoch` backends have their own), so the last few that a
    /// thread removed wait for its later writes (with the default
    /// reclaimer, once it stops writing the map, for some tens of
    /// milliseconds of its operations there), or, once it exits, for the next thread that
    /// takes its place in the map or, with the default reclaimer, for the
    /// map's later operations, which take over what a place nobody holds
    /// has left (after some thousands of them). An owned handle's place is given up when it drops (see
    /// [`pin_owned`](HashMap::pin_owned)). After `flush` they
    /// wait only for the pins that may still see them, this handle's
    /// included, and for the reclaimer's next epoch bump (with the
    /// default reclaimer, bumps come at most once a millisecond, in turn
    /// with other maps whose batches waited longer): they are freed inside
    /// a later operation on the map, of any thread (this handle's drop,
    /// if no other pin holds them and a bump was due; else one of the next
    /// few dozen operations of a thread, however far apart they come), or
    /// when the map drops. That is for the last few; frees are paced, so
    /// that no one operation pays for thousands, and a backlog of many
    /// batches (a thread that removed tens of thousands of values at once)
    /// drains over many later operations: 65,536 removed values took about
    /// 2,700 pins of one thread to free in a test. For a value whose `Drop` matters soon (a file, a
    /// connection, a channel's sender); not per operation: with `seize`, a
    /// flush pads the batch with a few hundred no-op entries.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let map = lfmap::HashMap::new();
    /// let shared = Arc::new(());
    /// map.pin().insert(1, Arc::clone(&shared));
    /// let m = map.pin();
    /// m.remove(&1);
    /// m.flush();
    /// drop(m);
    /// // Freed inside later operations, once no pin can see it.
    /// let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    /// while Arc::strong_count(&shared) > 1 {
    ///     assert!(std::time::Instant::now() < deadline, "never freed");
    ///     drop(map.pin());
    ///     std::thread::sleep(std::time::Duration::from_millis(1));
    /// }
    /// ```
    ///
    /// A flush may free what is already freeable, running those values'
    /// `Drop`s (a panic there unwinds out of `flush`). With the
    /// `crossbeam-epoch` backend a thread's handles share one batch, which
    /// a handle that removed or replaced something hands over when it
    /// drops anyway, and frees run as handles drop, not in `flush`.
    pub fn flush(&self) {
        self.guard.flush();
    }

    /// [`HashMap::capacity`], through this handle's pin.
    ///
    /// ```
    /// let map: lfmap::HashMap<u8, u8> = lfmap::HashMap::with_capacity(40);
    /// assert!(map.pin().capacity() >= 40);
    /// ```
    pub fn capacity(&self) -> usize {
        self.raw().capacity(&self.guard)
    }

    /// [`HashMap::reserve`], through this handle's pin.
    ///
    /// ```
    /// let map: lfmap::HashMap<u64, u64> = lfmap::HashMap::new();
    /// let m = map.pin();
    /// m.reserve(1000);
    /// assert!(m.capacity() >= 1000);
    /// ```
    pub fn reserve(&self, additional: usize) {
        if let Err(e) = self.try_reserve(additional) {
            crate::resize::memory::alloc_failed(e);
        }
    }

    /// [`HashMap::try_reserve`], through this handle's pin.
    ///
    /// ```
    /// let map: lfmap::HashMap<u64, u64> = lfmap::HashMap::new();
    /// assert!(map.pin().try_reserve(usize::MAX).is_err());
    /// ```
    pub fn try_reserve(&self, additional: usize) -> Result<(), TryReserveError> {
        self.raw().try_reserve(additional, &self.guard)
    }

    /// The map this handle pins (papaya's `HashMapRef::map`).
    ///
    /// ```
    /// let map: lfmap::HashMap<u8, u8> = lfmap::HashMap::new();
    /// let m = map.pin();
    /// assert!(std::ptr::eq(m.map(), &map));
    /// ```
    pub fn map(&self) -> &'map HashMap<K, V, S> {
        self.map
    }

    /// [`HashMap::shrink_to_fit`], through this handle's pin.
    ///
    /// ```
    /// let map: lfmap::HashMap<u64, u64> = lfmap::HashMap::with_capacity(10_000);
    /// let m = map.pin();
    /// m.shrink_to_fit();
    /// assert!(m.capacity() < 100);
    /// ```
    pub fn shrink_to_fit(&self) {
        self.raw().shrink_to(0, &self.guard);
    }

    /// [`HashMap::shrink_to`], through this handle's pin.
    ///
    /// ```
    /// let map: lfmap::HashMap<u64, u64> = lfmap::HashMap::with_capacity(10_000);
    /// let m = map.pin();
    /// m.shrink_to(500);
    /// assert!((500..5_000).contains(&m.capacity()));
    /// ```
    pub fn shrink_to(&self, min_capacity: usize) {
        self.raw().shrink_to(min_capacity, &self.guard);
    }

    /// Removes every entry present when the call starts. Not atomic: it
    /// removes keys one by one, and keys inserted meanwhile may remain.
    /// O(capacity): the emptied table is then rebuilt once, without its
    /// tombstones, at the `with_capacity` size (or the smallest).
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, 1);
    /// m.clear();
    /// assert!(m.is_empty());
    /// ```
    pub fn clear(&self) {
        self.retain(|_, _| false);
    }

    /// Keeps only the entries for which `keep(key, value)` holds. Each key
    /// present throughout is judged once, on its value when the sweep
    /// reaches it (the iteration guarantee of [`iter`], which looks a key a
    /// resize moved on up where it is now). If that says `false` but the
    /// value has changed since, the key is judged again on its current
    /// value, and removed only if that says `false` too. A key whose value does not change during
    /// the sweep is kept exactly when `keep` says so.
    /// O(capacity): if it removed most keys, the table shrinks once, at the
    /// end. If `keep` panics, the keys removed so far stay removed and the
    /// shrink is left to later removals.
    ///
    /// [`iter`]: HashMapRef::iter
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// for i in 0..10 {
    ///     m.insert(i, i);
    /// }
    /// m.retain(|_, v| v % 2 == 0);
    /// assert_eq!(m.len(), 5);
    /// ```
    pub fn retain<F>(&self, mut keep: F)
    where
        F: FnMut(&K, &V) -> bool,
    {
        for e in RawIter::new(self.raw(), &self.guard) {
            if !keep(&e.key, e.value()) {
                // Removed if it is still the entry judged, or if what
                // replaced it is judged `false` on its own value too.
                let mut decide =
                    |cur: Option<&Entry<K, V>>, _: &mut Option<Pending<K, V>>| match cur {
                        // Mutation for checking loom model 23: remove the
                        // replacement too, unjudged.
                        Some(c)
                            if mutation!("sweep_takes_replacement")
                                || std::ptr::eq(c, e)
                                || !keep(&c.key, c.value()) =>
                        {
                            Action::Remove
                        }
                        _ => Action::Keep,
                    };
                // First the entry judged, found by identity alone
                // (`SameEntry`): where the walk met it, or where a resize
                // moved it. Once found, that slot is the key's for the
                // table's life, so if a write replaces the entry before our
                // CAS, the engine retries on the replacement (no `Eq`
                // asked). `prev`: the state the last decision saw.
                let written =
                    self.raw()
                        .write_in_sweep(e.hash(), &e.same_entry(), &mut decide, &self.guard);
                if written.prev.is_none() {
                    // Gone: replaced or removed since. The key's entry now,
                    // by `==`.
                    self.raw()
                        .write_in_sweep(e.hash(), &e.stored_key(), decide, &self.guard);
                }
            }
        }
        // The sweep removed keys in slot order without shrinking on the way;
        // resize once now if it left the table sparse (`RawMap::end_sweep`).
        self.raw().end_sweep(&self.guard);
    }

    /// An iterator over the entries. Weakly consistent, never blocks: see
    /// the [iteration guarantee](crate#iteration), and what starting one
    /// costs while a resize is under way.
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, 10);
    /// m.insert(2, 20);
    /// let mut pairs: Vec<_> = m.iter().map(|(k, v)| (*k, *v)).collect();
    /// pairs.sort();
    /// assert_eq!(pairs, [(1, 10), (2, 20)]);
    /// ```
    pub fn iter(&self) -> Iter<'_, K, V, G> {
        Iter {
            raw: RawIter::new(self.raw(), &self.guard),
        }
    }

    /// An iterator over the keys (see [`iter`](HashMapRef::iter)).
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, 10);
    /// assert_eq!(m.keys().copied().collect::<Vec<_>>(), [1]);
    /// ```
    pub fn keys(&self) -> Keys<'_, K, V, G> {
        Keys { iter: self.iter() }
    }

    /// An iterator over the values (see [`iter`](HashMapRef::iter)).
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, 10);
    /// assert_eq!(m.values().copied().collect::<Vec<_>>(), [10]);
    /// ```
    pub fn values(&self) -> Values<'_, K, V, G> {
        Values { iter: self.iter() }
    }
}

impl<'map, K, V, S> HashMapRef<'map, K, V, S, LocalGuard<'map>> {
    /// Lets go of this handle's pin and pins again, so that a handle kept
    /// for a long time (a worker's loop, a benchmark's thread) stops holding
    /// back the freeing of what every thread removed or replaced since it
    /// was pinned: crossbeam-epoch's `Guard::repin`, seize's (and papaya's)
    /// `refresh`. Takes `&mut self`, so no reference lent by the handle is
    /// alive across it.
    ///
    /// Pins of one thread share one announcement: while another pinned
    /// handle or iterator of this thread is alive, the pin stays where it
    /// was (as crossbeam's `repin` does), and the call only counts as an
    /// unpin and a pin. With the default reclaimer that is any map's
    /// handle (its pins are process-wide); with the `seize` or
    /// `crossbeam-epoch` backend, a handle of this map. A handle from
    /// [`pin_owned`](HashMap::pin_owned) has a pin of its own and always
    /// lets go.
    ///
    /// A reference the handle lent cannot be held across it:
    ///
    /// ```compile_fail
    /// let map = lfmap::HashMap::new();
    /// let mut m = map.pin();
    /// m.insert(1, 1);
    /// let one = m.get(&1).unwrap();
    /// m.refresh();
    /// assert_eq!(*one, 1);
    /// ```
    ///
    /// # Panics
    ///
    /// The unpin may free what is freeable, running those values' `Drop`s;
    /// a panic there unwinds out of `refresh` with the handle pinned again
    /// and usable.
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let mut m = map.pin();
    /// for i in 0..10_000u64 {
    ///     m.insert(i % 100, i);
    ///     if i % 1_000 == 999 {
    ///         m.refresh(); // the replaced values can now be freed
    ///     }
    /// }
    /// assert_eq!(m.get(&99), Some(&9_999));
    /// ```
    pub fn refresh(&mut self) {
        let map = self.map;
        crate::guard::repin(&mut self.guard, || {
            LocalGuard(map.raw.pin(), std::marker::PhantomData)
        });
    }
}

impl<'map, K, V, S> HashMapRef<'map, K, V, S, OwnedGuard<'map>> {
    /// Lets go of this handle's pin and takes a new one: as for a
    /// [`pin`](HashMap::pin) handle's
    /// [`refresh`](HashMapRef::refresh), but an owned
    /// handle's pin is its own, so it always lets go. For a handle held
    /// across many requests of an async task.
    ///
    /// # Panics
    ///
    /// As for a `pin` handle's `refresh`.
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let mut m = map.pin_owned();
    /// m.insert(1, "a");
    /// m.refresh();
    /// assert_eq!(m.get(&1), Some(&"a"));
    /// ```
    pub fn refresh(&mut self) {
        let map = self.map;
        crate::guard::repin(&mut self.guard, || {
            OwnedGuard(map.raw.pin_owned(), std::marker::PhantomData)
        });
    }
}

impl<K, V, S, G> fmt::Debug for HashMapRef<'_, K, V, S, G>
where
    K: Hash + Eq + fmt::Debug,
    V: fmt::Debug,
    S: BuildHasher,
    G: ReclaimGuard,
{
    /// The entries an iteration yields, as a map (in the table's order).
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, "a");
    /// assert_eq!(format!("{m:?}"), r#"{1: "a"}"#);
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// `m[&key]`: the value of `key`, lent while the handle lives, as std's
/// `map[&key]`.
///
/// # Panics
///
/// If `key` is absent.
///
/// ```
/// let map = lfmap::HashMap::new();
/// let m = map.pin();
/// m.insert("a", 1);
/// assert_eq!(m[&"a"], 1);
/// ```
impl<K, Q, V, S, G> std::ops::Index<&Q> for HashMapRef<'_, K, V, S, G>
where
    K: Hash + Eq,
    Q: Hash + Equivalent<K> + ?Sized,
    S: BuildHasher,
    G: ReclaimGuard,
{
    type Output = V;

    fn index(&self, key: &Q) -> &V {
        self.get(key).expect("lfmap: no entry for the key")
    }
}

/// The error of [`HashMapRef::try_insert`]: the key was present.
///
/// ```
/// let map = lfmap::HashMap::new();
/// let m = map.pin();
/// m.insert("k", 1);
/// let lfmap::OccupiedError { current, not_inserted } = m.try_insert("k", 2).unwrap_err();
/// assert_eq!((*current, not_inserted), (1, 2));
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct OccupiedError<'g, V> {
    /// The value the key already had.
    pub current: &'g V,
    /// The value that was not inserted, given back.
    pub not_inserted: V,
}

impl<V: fmt::Debug> fmt::Display for OccupiedError<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key already present with value {:?}", self.current)
    }
}

impl<V: fmt::Debug> std::error::Error for OccupiedError<'_, V> {}

/// The error of [`HashMapRef::compare_exchange`]: the key was absent, or
/// its value was not the one expected.
///
/// ```
/// let map = lfmap::HashMap::new();
/// let m = map.pin();
/// m.insert("k", String::from("a"));
/// let err = m.compare_exchange("k", &String::from("b"), String::from("c")).unwrap_err();
/// assert_eq!(err.current.map(String::as_str), Some("a"));
/// assert_eq!(err.new, "c"); // given back, not dropped
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct CompareExchangeError<'g, V> {
    /// The value the key has (`None`: the key is absent).
    pub current: Option<&'g V>,
    /// The value that was not stored, given back.
    pub new: V,
}

impl<V: fmt::Debug> fmt::Display for CompareExchangeError<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.current {
            Some(v) => write!(f, "the key's value is {v:?}, not the one expected"),
            None => f.write_str("the key is absent"),
        }
    }
}

impl<V: fmt::Debug> std::error::Error for CompareExchangeError<'_, V> {}

/// What the closure of [`HashMapRef::compute`] wants done.
///
/// ```
/// use lfmap::{Compute, Operation};
/// let map = lfmap::HashMap::new();
/// let m = map.pin();
/// let r = m.compute(1, |e| match e {
///     None => Operation::Insert(10),
///     Some(_) => Operation::Abort("exists"),
/// });
/// assert_eq!(r, Compute::Inserted(&10));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation<V, R> {
    /// Insert this value (or replace the current one).
    Insert(V),
    /// Remove the entry (nothing happens if it is absent).
    Remove,
    /// Change nothing and return this to the caller.
    Abort(R),
}

/// What [`HashMapRef::compute`] did.
///
/// ```
/// use lfmap::{Compute, Operation};
/// let map = lfmap::HashMap::new();
/// let m = map.pin();
/// m.insert(1, 1);
/// match m.compute(1, |_| Operation::<i32, ()>::Remove) {
///     Compute::Removed(v) => assert_eq!(*v, 1),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compute<'g, V, R> {
    /// The key was absent; this value was inserted.
    Inserted(&'g V),
    /// The key's value `old` was replaced by `new`.
    Updated {
        /// The value before.
        old: &'g V,
        /// The value now.
        new: &'g V,
    },
    /// The key's value was removed.
    Removed(&'g V),
    /// `Remove` was asked for an absent key: nothing happened.
    Absent,
    /// The closure aborted with this value; nothing changed.
    Aborted(R),
}

/// Iterator over `(&K, &V)`, from [`HashMapRef::iter`].
///
/// ```
/// let map = lfmap::HashMap::new();
/// map.pin().insert(1, 2);
/// let m = map.pin();
/// let iter = m.iter();
/// assert_eq!(iter.count(), 1);
/// ```
pub struct Iter<'g, K, V, G> {
    raw: RawIter<'g, K, V, G>,
}

/// What is left of the walk, from the same slot under the same guard (as
/// std's iterators).
impl<K, V, G> Clone for Iter<'_, K, V, G> {
    fn clone(&self) -> Self {
        Iter {
            raw: self.raw.clone(),
        }
    }
}

/// The pairs the walk has left to yield, as std's iterators print (a walk
/// of the rest of the table, on a clone).
impl<K, V, G> fmt::Debug for Iter<'_, K, V, G>
where
    K: Hash + Eq + fmt::Debug,
    V: fmt::Debug,
    G: ReclaimGuard,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

impl<'g, K: Hash + Eq, V, G: ReclaimGuard> Iterator for Iter<'g, K, V, G> {
    type Item = (&'g K, &'g V);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.raw.next().map(Entry::pair)
    }

    /// `(0, Some(slots not yet visited))`: other threads may remove what
    /// is left.
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.raw.size_hint()
    }
}

impl<K: Hash + Eq, V, G: ReclaimGuard> FusedIterator for Iter<'_, K, V, G> {}

/// Iterator over keys, from [`HashMapRef::keys`].
///
/// ```
/// let map = lfmap::HashMap::new();
/// map.pin().insert(1, 2);
/// let m = map.pin();
/// let keys = m.keys();
/// assert_eq!(keys.copied().collect::<Vec<_>>(), [1]);
/// ```
pub struct Keys<'g, K, V, G> {
    iter: Iter<'g, K, V, G>,
}

/// What is left of the walk, from the same slot under the same guard (as
/// std's iterators).
impl<K, V, G> Clone for Keys<'_, K, V, G> {
    fn clone(&self) -> Self {
        Keys {
            iter: self.iter.clone(),
        }
    }
}

/// The keys left to yield (as [`Iter`]'s `Debug`).
impl<K: Hash + Eq + fmt::Debug, V, G: ReclaimGuard> fmt::Debug for Keys<'_, K, V, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

impl<'g, K: Hash + Eq, V, G: ReclaimGuard> Iterator for Keys<'g, K, V, G> {
    type Item = &'g K;

    #[inline]
    fn next(&mut self) -> Option<&'g K> {
        self.iter.next().map(|(k, _)| k)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl<K: Hash + Eq, V, G: ReclaimGuard> FusedIterator for Keys<'_, K, V, G> {}

/// Iterator over values, from [`HashMapRef::values`].
///
/// ```
/// let map = lfmap::HashMap::new();
/// map.pin().insert(1, 2);
/// let m = map.pin();
/// let values = m.values();
/// assert_eq!(values.copied().collect::<Vec<_>>(), [2]);
/// ```
pub struct Values<'g, K, V, G> {
    iter: Iter<'g, K, V, G>,
}

/// What is left of the walk, from the same slot under the same guard (as
/// std's iterators).
impl<K, V, G> Clone for Values<'_, K, V, G> {
    fn clone(&self) -> Self {
        Values {
            iter: self.iter.clone(),
        }
    }
}

/// The values left to yield (as [`Iter`]'s `Debug`).
impl<K: Hash + Eq, V: fmt::Debug, G: ReclaimGuard> fmt::Debug for Values<'_, K, V, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

impl<'g, K: Hash + Eq, V, G: ReclaimGuard> Iterator for Values<'g, K, V, G> {
    type Item = &'g V;

    #[inline]
    fn next(&mut self) -> Option<&'g V> {
        self.iter.next().map(|(_, v)| v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl<K: Hash + Eq, V, G: ReclaimGuard> FusedIterator for Values<'_, K, V, G> {}

impl<'h, 'map, K, V, S, G> IntoIterator for &'h HashMapRef<'map, K, V, S, G>
where
    K: Hash + Eq,
    S: BuildHasher,
    G: ReclaimGuard,
{
    type Item = (&'h K, &'h V);
    type IntoIter = Iter<'h, K, V, G>;

    /// Iterates the handle's entries by reference (see
    /// [`HashMapRef::iter`]).
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// let m = map.pin();
    /// m.insert(1, 10);
    /// let mut sum = 0;
    /// for (k, v) in &m {
    ///     sum += k + v;
    /// }
    /// assert_eq!(sum, 11);
    /// ```
    fn into_iter(self) -> Iter<'h, K, V, G> {
        self.iter()
    }
}

impl<'map, K, V, S, G> IntoIterator for HashMapRef<'map, K, V, S, G>
where
    K: Hash + Eq + Clone,
    V: Clone,
    S: BuildHasher,
    G: ReclaimGuard,
{
    type Item = (K, V);
    type IntoIter = OwnedIter<'map, K, V, G>;

    /// Turns the handle into an iterator that owns its pin and yields
    /// clones, so it can be returned from a function.
    ///
    /// ```
    /// use lfmap::HashMap;
    ///
    /// fn evens(map: &HashMap<u32, String>) -> impl Iterator<Item = (u32, String)> + '_ {
    ///     map.pin().into_iter().filter(|(k, _)| k % 2 == 0)
    /// }
    ///
    /// let map = HashMap::new();
    /// for i in 0..4 {
    ///     map.pin().insert(i, i.to_string());
    /// }
    /// let mut got: Vec<_> = evens(&map).collect();
    /// got.sort();
    /// assert_eq!(got, [(0, "0".to_string()), (2, "2".to_string())]);
    /// ```
    fn into_iter(self) -> OwnedIter<'map, K, V, G> {
        OwnedIter::new(&self.map.raw, self.guard)
    }
}

impl<K, V, S> IntoIterator for HashMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    type Item = (K, V);
    type IntoIter = IntoIter<K, V>;

    /// Consumes the map, yielding its entries by value.
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// map.pin().insert(1, String::from("one"));
    /// let pairs: Vec<(i32, String)> = map.into_iter().collect();
    /// assert_eq!(pairs, [(1, String::from("one"))]);
    /// ```
    fn into_iter(mut self) -> IntoIter<K, V> {
        // The length first: `take_root` leaves the map empty.
        let len = self.raw.len();
        IntoIter::new(self.raw.take_root(false), len)
    }
}

impl<'a, K, V, S> IntoIterator for &'a mut HashMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    type Item = (&'a K, &'a mut V);
    type IntoIter = IterMut<'a, K, V>;

    /// [`iter_mut`](HashMap::iter_mut), for `for (k, v) in &mut map` as
    /// with std's map: exclusive access, each entry exactly once.
    ///
    /// ```
    /// let mut map = lfmap::HashMap::from([(1, 10), (2, 20)]);
    /// for (k, v) in &mut map {
    ///     *v += k;
    /// }
    /// assert_eq!(map.pin().get(&2), Some(&22));
    /// ```
    fn into_iter(self) -> IterMut<'a, K, V> {
        self.iter_mut()
    }
}

impl<K, V, S> fmt::Debug for HashMap<K, V, S>
where
    K: Hash + Eq + fmt::Debug,
    V: fmt::Debug,
    S: BuildHasher,
{
    /// As a pinned handle prints: the entries, as a map.
    ///
    /// ```
    /// let map: lfmap::HashMap<u8, u8> = [(1, 2)].into_iter().collect();
    /// assert_eq!(format!("{map:?}"), "{1: 2}");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.pin().fmt(f)
    }
}

impl<K, V, S> Clone for HashMap<K, V, S>
where
    K: Hash + Eq + Clone,
    V: Clone,
    S: BuildHasher + Clone,
{
    /// A new map with clones of the entries an iteration yields, and a
    /// clone of the hasher. Sized as [`collect`](FromIterator) sizes: room
    /// for them, without the floor [`with_capacity`](HashMap::with_capacity)
    /// sets, so the clone shrinks as usual when emptied.
    ///
    /// Under concurrent writes the clone is what one walk of the map saw
    /// (the [iteration guarantee](crate#iteration)), not a snapshot.
    ///
    /// ```
    /// let map: lfmap::HashMap<u32, u32> = (0..10_000).map(|i| (i, i)).collect();
    /// let copy = map.clone();
    /// assert_eq!(copy, map);
    /// copy.pin().clear();
    /// assert!(copy.capacity() < 100);
    /// ```
    fn clone(&self) -> Self {
        let clone = HashMap::with_hasher(self.raw.hasher.clone());
        {
            let (from, to) = (self.pin(), clone.pin());
            let len = self.len();
            to.room_for_extend((len, Some(len)));
            for (k, v) in from.iter() {
                to.insert(k.clone(), v.clone());
            }
        }
        clone
    }
}

impl<K, V, S> PartialEq for HashMap<K, V, S>
where
    K: Hash + Eq,
    V: PartialEq,
    S: BuildHasher,
{
    /// Equal when both hold the same keys with equal values. Meaningful
    /// only when neither map is being written concurrently.
    ///
    /// ```
    /// let a: lfmap::HashMap<u32, &str> = [(1, "a"), (2, "b")].into_iter().collect();
    /// let b: lfmap::HashMap<u32, &str> = [(2, "b"), (1, "a")].into_iter().collect();
    /// assert!(a == b);
    /// b.pin().insert(3, "c");
    /// assert!(a != b);
    /// ```
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.pin(), other.pin());
        a.iter().count() == b.iter().count() && a.iter().all(|(k, v)| b.get(k) == Some(v))
    }
}

impl<K, V, S> Eq for HashMap<K, V, S>
where
    K: Hash + Eq,
    V: Eq,
    S: BuildHasher,
{
}

impl<K, V, S> FromIterator<(K, V)> for HashMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher + Default,
{
    /// Sized as [`extend`](Extend::extend) sizes: room for the iterator's
    /// `size_hint` without the floor [`with_capacity`](HashMap::with_capacity)
    /// sets, so a collected map that is emptied later shrinks as usual.
    ///
    /// ```
    /// let map: lfmap::HashMap<u64, u64> = (0..10_000).map(|i| (i, i)).collect();
    /// map.pin().retain(|_, _| false);
    /// assert!(map.capacity() < 100);
    /// ```
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let map = HashMap::with_hasher(S::default());
        map.extend_from(iter);
        map
    }
}

impl<K, V, S> Extend<(K, V)> for HashMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    /// Inserts every pair, after making room for as many as the iterator's
    /// `size_hint` promises (all of them in an empty map, half in one with
    /// keys), so that a large extend resizes once rather than once per
    /// doubling. Below 256 promised pairs it makes no room first: so few
    /// cost a doubling or two as they go, which is cheaper than counting
    /// the map's keys on every small extend. The room is not a floor: the
    /// map shrinks as usual when emptied (unlike
    /// [`reserve`](HashMap::reserve)). An exact `size_hint` (lower and
    /// upper bound equal, as a collection's or a range's) is trusted: its
    /// room is faulted in ahead, as `reserve`'s is, so the inserts take no
    /// page fault. A lower bound alone is not: its room faults in as the
    /// inserts touch it, and an iterator that yields fewer pairs than it
    /// promised leaves the rest of the table unresident.
    ///
    /// ```
    /// let mut map = lfmap::HashMap::new();
    /// map.extend((0..10_000u64).map(|i| (i, i)));
    /// assert_eq!(map.len(), 10_000);
    /// assert_eq!(map.stats().resizes, 1);
    /// ```
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        self.extend_from(iter);
    }
}

impl<K, V, S> Extend<(K, V)> for &HashMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    /// Extends through a shared reference: threads may extend one map at
    /// once. Not atomic: each pair is inserted under a pin of its own, so
    /// other threads see the pairs arrive one by one (and a pair whose key
    /// comes again later is replaced, as by [`insert`](HashMapRef::insert)).
    /// Sized as the owned `extend` is.
    ///
    /// ```
    /// let map = lfmap::HashMap::new();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| (&map).extend((0..100u32).map(|i| (i, i))));
    ///     s.spawn(|| (&map).extend((50..150u32).map(|i| (i, i))));
    /// });
    /// assert_eq!(map.len(), 150);
    /// ```
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        self.extend_from(iter);
    }
}

impl<'a, K, V, S> Extend<(&'a K, &'a V)> for HashMap<K, V, S>
where
    K: Hash + Eq + Copy,
    V: Copy,
    S: BuildHasher,
{
    /// Inserts copies of the pairs (as std's `Extend<(&K, &V)>`), through
    /// the owned `extend`: sized alike, each pair under a pin of its own.
    ///
    /// ```
    /// let mut map: lfmap::HashMap<u32, u32> = lfmap::HashMap::new();
    /// let other = std::collections::HashMap::from([(1, 10), (2, 20)]);
    /// map.extend(&other);
    /// assert_eq!(map.pin().get(&2), Some(&20));
    /// ```
    fn extend<I: IntoIterator<Item = (&'a K, &'a V)>>(&mut self, iter: I) {
        Extend::<(K, V)>::extend(self, iter.into_iter().map(|(&k, &v)| (k, v)));
    }
}

impl<'a, K, V, S> Extend<(&'a K, &'a V)> for &HashMap<K, V, S>
where
    K: Hash + Eq + Copy,
    V: Copy,
    S: BuildHasher,
{
    /// Inserts copies of the pairs through a shared reference, as the
    /// `Extend<(K, V)>` for `&HashMap` does: threads may extend one map at
    /// once; not atomic; each pair under a pin of its own.
    ///
    /// ```
    /// let map: lfmap::HashMap<u32, char> = lfmap::HashMap::new();
    /// let pairs = [(1, 'a'), (2, 'b')];
    /// (&map).extend(pairs.iter().map(|(k, v)| (k, v)));
    /// assert_eq!(map.len(), 2);
    /// ```
    fn extend<I: IntoIterator<Item = (&'a K, &'a V)>>(&mut self, iter: I) {
        Extend::<(K, V)>::extend(self, iter.into_iter().map(|(&k, &v)| (k, v)));
    }
}

impl<K, V, const N: usize> From<[(K, V); N]> for HashMap<K, V>
where
    K: Hash + Eq,
{
    /// A map of the array's pairs, as [`collect`](FromIterator) makes it:
    /// one [`insert`](HashMapRef::insert) per pair, in order. Of pairs with
    /// equal keys, the last pair wins, key and value (`insert` stores the
    /// new key too; std's `HashMap::from` keeps the first key with the last
    /// value). For the default hasher only, as std's and papaya's, so that
    /// `HashMap::from([..])` needs no type annotation; with another hasher,
    /// `collect` the array.
    ///
    /// ```
    /// let map = lfmap::HashMap::from([("a", 1), ("b", 2), ("a", 3)]);
    /// assert_eq!(map.len(), 2);
    /// assert_eq!(map.pin().get("a"), Some(&3));
    /// ```
    fn from(pairs: [(K, V); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher,
{
    /// Makes room for `iter`'s size hint, then inserts every pair, each
    /// under a pin of its own. Not one pin for the whole iteration:
    /// `iter.next()` is the caller's code, which may run long or block (a
    /// deserializer reading a socket, a reader of standard input), and a
    /// pin held meanwhile would hold back the freeing of what every map
    /// in the process removes ([`pin`](HashMap::pin)). A pin and an unpin
    /// are a few plain stores.
    pub(crate) fn extend_from<I: IntoIterator<Item = (K, V)>>(&self, iter: I) {
        let iter = iter.into_iter();
        self.pin().room_for_extend(iter.size_hint());
        for (k, v) in iter {
            self.pin().insert(k, v);
        }
    }
}

impl<K, V, S, G> HashMapRef<'_, K, V, S, G>
where
    K: Hash + Eq,
    S: BuildHasher,
    G: ReclaimGuard,
{
    /// Before an `extend` of `hint` keys: room for them (all in an empty
    /// map, half in one with keys, which they may repeat), so that a large
    /// extend resizes once instead of once per doubling. No floor: the map
    /// shrinks as usual once emptied. Best effort (a hint too large to
    /// allocate leaves the map to grow as it fills).
    pub(crate) fn room_for_extend(&self, hint: (usize, Option<usize>)) {
        self.raw().room_for_extend(hint, &self.guard);
    }
}
