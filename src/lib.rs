//! # lfmap
//!
//! A lock-free, open-addressing concurrent hash map with cooperative
//! incremental resize and epoch-based memory reclamation.
//!
//! ```
//! use lfmap::HashMap;
//!
//! let map = HashMap::new();
//! let m = map.pin();
//! m.insert("apples", 3);
//! m.update("apples", |n| n + 1);
//! assert_eq!(m.get("apples"), Some(&4));
//! assert_eq!(m.remove("apples"), Some(&4));
//! assert!(m.is_empty());
//! ```
//!
//! For word-sized keys and values, [`WordMap`] stores both inline in its
//! slots: no allocation per insert, no guard to hold, atomic counters.
//!
//! ```
//! let counts: lfmap::WordMap<u32, u64> = lfmap::WordMap::new();
//! counts.add(&7, 1);
//! assert_eq!(counts.get(&7), Some(1));
//! ```
//!
//! [`HashSet`] and [`WordSet`] are the sets: thin wrappers over
//! `HashMap<T, ()>` and `WordMap<T, bool>`, with the same guarantees
//! (and, under the features below, rayon support and serde as a
//! sequence).
//!
//! ## Guarantees
//!
//! * Any number of threads get, insert, remove, update and iterate at once;
//!   no operation waits for another thread's map operation, or panics
//!   because of what other threads do. (The locks there are, never taken
//!   per operation: [`HashMap`]'s entry allocator's, once per refill or
//!   give-back of a thread's cache of entry blocks; and, while a
//!   [`ResizeHelper`] is registered, the queue of retired tables it
//!   unmaps, which a free only tries: held, the freer unmaps the table
//!   itself, and the list of parked helpers, which a resize's start in a
//!   map with a helper takes to wake them.)
//! * Every operation is linearizable except iteration, `clear`, `retain`
//!   and `len` (and `is_empty`, which is `len() == 0`; see below and
//!   `docs/design.md`). What is built on a walk is weakly consistent as
//!   iteration is, not a snapshot: `Clone`, `Debug`, `PartialEq`, serde
//!   serialization and the sets' relations (`is_subset`, `difference`,
//!   ...). Each walks as an iteration does (keys inserted or removed
//!   meanwhile may or may not be seen), so under concurrent writes the
//!   result need not match the map at any single moment.
//! * A resize is incremental and cooperative: a writer that meets one
//!   migrates a small share of it (8 slots in a growth) before its own
//!   write. No thread ever copies the whole table while others wait.
//! * Removed and replaced values are freed only when no pinned handle can
//!   still see them: epochs whose pin is two plain stores, a retired entry
//!   pushed onto the retiring thread's own bag, and an epoch bump (with a
//!   `membarrier` on Linux, for entries at most once a millisecond in the
//!   process, four times while some map's batches have waited two, or
//!   when 256 sealed batches wait) paying for the barrier. A replace or remove
//!   executes one locked instruction, its CAS; an insert of a new key also
//!   adds to the table's occupancy count (every time below 8,192 slots,
//!   once per batch of up to 16 above).
//!   The cargo features `seize` and `crossbeam-epoch` make [`HashMap`]
//!   reclaim with those crates instead; [`WordMap`] retires nothing but
//!   whole tables and always uses the built-in epochs.
//!
//! ## Iteration
//!
//! Iteration is weakly consistent and never blocks: a key present for the
//! whole iteration is yielded exactly once, even across concurrent resizes,
//! and no key is yielded twice. A yielded value is the one the key has when
//! the walk reaches it: a key removed before the walk reaches it is not
//! yielded (as Go promises), and one updated before then comes with its
//! new value. Keys inserted or removed meanwhile may or may not appear
//! otherwise.
//!
//! An iteration walks one table, with no resize under way: if another
//! thread's resize is under way when it starts, the iterator finishes that
//! migration first, in the calling thread (without waiting for anyone).
//! That costs up to O(capacity), and runs a `WordMap`'s hasher on each key
//! it copies, as any of its migrations does (a `HashMap`'s copies run no
//! user code: its entries keep their hash). A resize that starts during
//! the walk moves keys ahead of it into a newer table; the walk looks each
//! such key up there, which runs the `WordMap`'s hasher for each key
//! moved. A `HashMap` walk looks for the entry it met by identity (no user
//! code), and runs the key's `Eq` (on the keys its probe meets) only for a
//! moved key whose entry was replaced or removed since. The same goes for
//! everything built on a walk: `keys`, `values`, `retain`, `clear`,
//! `Debug`, `PartialEq`, `Clone` and the rayon `par_iter`s. Iterators
//! report `(0, Some(slots left))` as their size hint; those that consume a
//! map (`into_iter`) are exact.
//!
//! Every iteration starts at the table's first slot. To empty a map key by
//! key, use `retain`, `clear` (or, with `&mut`, `drain`), not a loop that
//! removes what a fresh `iter().next()` returns: each such walk would
//! rescan the tombstones the earlier removals left in front of it, so the
//! loop costs O(n × capacity), as it would with std's map.
//!
//! ## Bad input
//!
//! A hasher that returns one hash for every key makes the map slow, not
//! wrong. A `Hash`, `Eq` or closure that panics unwinds out of the call
//! that ran it and leaves the map consistent: nothing is lost, leaked or
//! dropped twice. An impossible capacity panics with
//! "lfmap: capacity overflow".
//!
//! As for std's maps, it is a logic error for keys to hash differently
//! from call to call, for equal keys to hash differently, or for `Eq` not
//! to be an equivalence (`a == b` and `b == c` but `a != c`). The map then
//! gives wrong answers: keys not found, found twice, a wrong `len`. Never
//! undefined behaviour, never a hang, and the map stays usable; and every
//! stored entry is still dropped once (a resize's copy calls no `Eq`, so
//! it never merges two stored entries into one). A key whose `Eq` is not
//! reflexive (a NaN-like key) is never found by a lookup, but it is still
//! iterated, and `clear` and `retain` remove it, as std's do: a sweep
//! removes the entry it met and judged, found again by identity, not by
//! `==`, so whatever `Eq` says, `clear` empties the map of the entries it
//! met and `retain` removes exactly those its predicate said no to (`==`
//! is asked only for a key whose entry was replaced meanwhile).
//!
//! A value's `Drop` runs when the value is freed: for a removed or
//! replaced value, later, inside some operation of any thread that uses
//! the map, or as one of its handles drops (with the `crossbeam-epoch`
//! feature always, with `seize` for frees that would nest deeper than
//! two), or in the map's drop. A `Drop` that panics unwinds out of that
//! operation, and the map stays consistent with every other value freed
//! once; a second panic while the first unwinds (two panicking `Drop`s
//! freed in one call, such as the map's drop) aborts the process, as it
//! does for std's collections. A handle's drop is such an operation, and
//! Rust does not drop a function's return value when a local's destructor
//! panics after the value was built (rust-lang/rust#47949): a function of
//! the shape `{ let m = map.pin(); m.get(&k).cloned() }` leaks what it was
//! returning (there an `Arc` clone, so its value is never dropped) when
//! the drop of `m` frees a value whose `Drop` panics. Where values' `Drop`s
//! may panic, drop the handle before returning (`let v =
//! m.get(&k).cloned(); drop(m); v`): a local is dropped as the panic
//! unwinds. lfmap's own functions that return what they built under a
//! pin (`Clone`, `collect`) drop their pins first. A `Drop` may use the map (a write there
//! retires what it replaces, to be freed later: frees nest at most two
//! deep on a thread, with every reclaimer, and a map's drop frees what
//! waits, whatever the depth).
//!
//! ## Closures and reentrancy
//!
//! Some closures decide a write: `update` and `compute` (on
//! [`HashMapRef`] and [`WordMap`]), `remove_if`'s predicate (the same),
//! [`update_or_insert`](HashMapRef::update_or_insert)'s and
//! [`update_or_insert_with`](HashMapRef::update_or_insert_with)'s update
//! closure, and `retain`'s predicate (on the maps and the sets alike; the
//! sets take no other closure that decides a write); so does the value's
//! `PartialEq::eq` in [`HashMapRef::compare_exchange`]. Each runs on the
//! entry it sees, and the change is applied by one CAS that succeeds only
//! if the entry is still that one. If another thread changed it
//! meanwhile, the closure runs again on the newer entry, so keep these
//! closures free of side effects. A CAS lost to a resize, or to another
//! key taking the empty slot, reuses the decision without running the
//! closure again.
//!
//! Such a closure may use the map for other keys, reading or writing them
//! (even writes that resize the table under the write it decides), but
//! must not write the key it is deciding on: each such write changes that
//! key's entry, so the CAS fails and the closure runs again, and a
//! closure that writes its key on every run never returns (a livelock,
//! within the one thread). Reading the key is fine.
//!
//! `get_or_insert_with`'s and `get_or_try_insert_with`'s `make` (on
//! [`HashMapRef`] and [`WordMap`]) and `update_or_insert_with`'s `insert`
//! run at most once per call, and only if the key was absent when looked
//! up. Running once, they may use the map freely, their own key included:
//! if one inserts the key itself, `get_or_insert_with` (and
//! `get_or_try_insert_with`, when `make` succeeds) returns that value (the
//! made one is dropped, not inserted), and `update_or_insert_with` runs its
//! update closure on it (and drops the made value). A `make` that inserts
//! the key and then fails gives its error back, and the key stays as
//! `make` left it.

//!
//! ## Features
//!
//! * `rayon`: `par_iter`, `FromParallelIterator`, `ParallelExtend`, for
//!   all four containers (`par_iter` on a pinned handle of the generic
//!   ones).
//! * `serde`: `Serialize` and `Deserialize`: [`HashMap`] and [`WordMap`]
//!   as a map, [`HashSet`] and [`WordSet`] as a sequence (each in the same
//!   form as its sibling, so either reads the other's output).
//! * `seize`: `HashMap` reclaims with seize (papaya's reclaimer) instead of
//!   the built-in asymmetric epochs. One rule comes with it: do not keep a
//!   handle from [`HashMap::pin`] in a thread-local (a `pin_owned` handle
//!   is fine). seize gives the thread's id back in a thread-local
//!   destructor of its own, which may run while such a handle still
//!   lives, and another thread may then be given the id. A handle that is
//!   then dropped, or that removes or replaces a value, would share seize's
//!   state for the id with that thread: lfmap checks for it first and
//!   aborts the process with a message saying so. (A `pin` handle in a
//!   thread-local first used after the thread's first pin is dropped
//!   before seize's destructor and is fine, as is one never dropped: leaked,
//!   or on the stack of a thread that calls `std::process::exit`. A handle
//!   taken inside a thread-local destructor that late pins with an owned
//!   guard.)
//! * `crossbeam-epoch`: `HashMap` reclaims with crossbeam-epoch (wins over
//!   `seize`). `WordMap` keeps the built-in epochs under either.
//!
//! ## Testing code that uses lfmap
//!
//! Your own loom models work out of the box: under `--cfg loom` lfmap takes
//! its protocols' atomics from loom (not its statistics counters), hashes deterministically ([`DefaultHashBuilder`]
//! is then a fixed-seed hasher), starts tables at 4 slots so your models see
//! resizes, frees `WordMap`'s per-thread records with each execution, and
//! leaves loom alone while a failed model unwinds, so the failure is
//! reported instead of aborting. Fuzzing under AddressSanitizer and
//! LeakSanitizer needs no suppressions. `docs/testing-with-lfmap.md` has
//! the set-up, bounds that finish, and what is and is not checked.
//!
//! `docs/api.md` maps Go's `map` and `sync.Map`, papaya's, dashmap's,
//! scc's and std's calls to lfmap's.

#![warn(missing_docs, missing_debug_implementations)]

#[macro_use]
mod mutation;

#[cfg(not(loom))]
mod clock;
mod error;
mod guard;
mod iter;
mod map;
mod raw;
#[cfg(feature = "rayon")]
mod rayon_impls;
mod reclaim;
mod resize;
#[cfg(feature = "serde")]
mod serde_impls;
mod set;
mod stats;
mod sync;
mod word;

/// The trait of lookup keys: `get`, `remove` and the other methods that
/// take a borrowed key accept any `Q: Hash + Equivalent<K>`, which every
/// `Q: Eq` that `K` borrows as is (`String` keys looked up by `&str`). It
/// is the `equivalent` crate's trait, the one hashbrown, indexmap, papaya
/// and scc take, so one implementation serves all of them.
///
/// Implement it to look up a composite key without building one. `Q` must
/// hash as the key it is equivalent to does, and `equivalent` must agree
/// with `K`'s `Eq`; an implementation that breaks either only makes
/// lookups miss or find the wrong entry, as a broken `Eq` does (crate
/// docs, "Bad input"), never undefined behaviour:
///
/// ```
/// use std::hash::{Hash, Hasher};
/// use lfmap::Equivalent;
///
/// #[derive(Hash, PartialEq, Eq)]
/// struct Route {
///     host: String,
///     path: String,
/// }
///
/// /// A route by borrowed parts: hashes as `Route` does (field by field).
/// struct RouteRef<'a>(&'a str, &'a str);
///
/// impl Hash for RouteRef<'_> {
///     fn hash<H: Hasher>(&self, state: &mut H) {
///         self.0.hash(state);
///         self.1.hash(state);
///     }
/// }
///
/// impl Equivalent<Route> for RouteRef<'_> {
///     fn equivalent(&self, key: &Route) -> bool {
///         self.0 == key.host && self.1 == key.path
///     }
/// }
///
/// let routes = lfmap::HashMap::new();
/// let m = routes.pin();
/// m.insert(Route { host: "a.example".into(), path: "/".into() }, 1);
/// assert_eq!(m.get(&RouteRef("a.example", "/")), Some(&1));
/// assert_eq!(m.remove(&RouteRef("a.example", "/")), Some(&1));
/// assert!(m.is_empty());
/// ```
pub use equivalent::Equivalent;
pub use error::TryReserveError;
pub use guard::{Guard, LocalGuard, OwnedGuard};
pub use iter::{Drain, IntoIter, IntoKeys, IntoValues, IterMut, OwnedIter, ValuesMut};
pub use map::{
    CompareExchangeError, Compute, DefaultHashBuilder, HashMap, HashMapRef, Iter, Keys,
    OccupiedError, Operation, Values,
};
pub use resize::assist::ResizeHelper;
pub use resize::memory::{huge_pages, set_huge_pages};
pub use set::relations;
pub use set::{
    HashSet, HashSetRef, SetDifference, SetDrain, SetIntersection, SetIntoIter, SetIter,
    SetOwnedIter, SetSymmetricDifference, SetUnion, WordSet, WordSetDifference, WordSetDrain,
    WordSetIntersection, WordSetIntoIter, WordSetIter, WordSetSymmetricDifference, WordSetUnion,
};
pub use stats::{ProbeStats, Stats};
#[cfg(feature = "rayon")]
pub use word::WordParIter;
pub use word::{
    Drain as WordDrain, IntoIter as WordIntoIter, IntoKeys as WordIntoKeys,
    IntoValues as WordIntoValues, Iter as WordIter, Keys as WordKeys, Values as WordValues,
    WordCompute, WordInteger, WordMap, WordSized,
};

/// Internals that the loom models in `loom-tests/` drive directly, where a
/// protocol has no public entry point a model could reach (the resize
/// helper's park-and-ring handshake: helpers do not park under loom). Only
/// built with `--cfg loom`; not part of the API.
#[cfg(loom)]
#[doc(hidden)]
pub mod __loom {
    pub use crate::resize::parking::Parking;

    /// Whether `HashMap` reclaims with the deferred backend here (frees
    /// nothing before the map's drop), so that a model may read the count
    /// of retired objects as exact. Set by lfmap's own cfgs, which a
    /// mutation run may give lfmap alone (`.ci/mutations`).
    pub const DEFERRED_RECLAMATION: bool = crate::reclaim::DEFERRED;

    /// Releases the prepared table of `map`'s root, if one is ready, as an
    /// operation does once its watch finds the map stopped growing short
    /// of the resize (`resize/stall.rs`, which needs a clock loom does not
    /// have). Whether this call released it.
    pub fn release_prepared<K, V, S>(map: &crate::HashMap<K, V, S>) -> bool {
        map.loom_release_prepared()
    }

    /// Tables made and not yet freed on this OS thread (loom runs a
    /// model's executions and their threads on the thread that called
    /// it): a model checks that an execution frees every table it made by
    /// reading this before and after it (`lfmap-loom-tests`' `model`).
    pub fn live_tables() -> usize {
        crate::resize::leaks::live()
    }

    /// [`release_prepared`] for a `WordMap`.
    pub fn release_prepared_word<K, V, S>(map: &crate::WordMap<K, V, S>) -> bool {
        map.loom_release_prepared()
    }
}

/// The README's code blocks, compiled and run as doc tests so that they
/// stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
