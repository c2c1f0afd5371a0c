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
//!   itself.)
//! * Every operation is linearizable except iteration, `clear`, `retain`
//!   and `len` (see below and `docs/design.md`).
//! * A resize is incremental and cooperative: a writer that meets one
//!   migrates a small share of it (8 slots in a growth) before its own
//!   write. No thread ever copies the whole table while others wait.
//! * Removed and replaced values are freed only when no pinned handle can
//!   still see them: epochs whose pin is two plain stores, a retired entry
//!   pushed onto the retiring thread's own bag, and an epoch bump (with a
//!   `membarrier` on Linux, at most once a millisecond for entries unless
//!   256 sealed batches wait) paying for the barrier. A replace or remove
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
//! and no key is yielded twice. Keys inserted or removed meanwhile may or may
//! not appear.
//!
//! An iteration walks one table, with no resize under way: if another
//! thread's resize is under way when it starts, the iterator finishes that
//! migration first, in the calling thread (without waiting for anyone).
//! That costs up to O(capacity), and runs the keys' `Eq` (a `WordMap`'s
//! hasher) as any migration does. The same goes for everything built on a
//! walk: `keys`, `values`, `retain`, `clear`, `Debug`, `PartialEq`,
//! `Clone` and the rayon `par_iter`s. Iterators report `(0, Some(slots
//! left))` as their size hint; those that consume a map (`into_iter`) are
//! exact.
//!
//! ## Bad input
//!
//! A hasher that returns one hash for every key makes the map slow, not
//! wrong. A `Hash`, `Eq` or closure that panics unwinds out of the call
//! that ran it and leaves the map consistent: nothing is lost, leaked or
//! dropped twice. An impossible capacity panics with
//! "lfmap: capacity overflow".

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
//!   the built-in asymmetric epochs.
//! * `crossbeam-epoch`: `HashMap` reclaims with crossbeam-epoch (wins over
//!   `seize`). `WordMap` keeps the built-in epochs under either.
//!
//! ## Testing code that uses lfmap
//!
//! Your own loom models work out of the box: under `--cfg loom` lfmap takes
//! its atomics from loom, hashes deterministically ([`DefaultHashBuilder`]
//! is then a fixed-seed hasher), starts tables at 4 slots so your models see
//! resizes, frees `WordMap`'s per-thread records with each execution, and
//! leaves loom alone while a failed model unwinds, so the failure is
//! reported instead of aborting. Fuzzing under AddressSanitizer and
//! LeakSanitizer needs no suppressions. `docs/testing-with-lfmap.md` has
//! the set-up, bounds that finish, and what is and is not checked.
//!
//! `docs/api.md` maps Go's `map` and `sync.Map`, papaya's and dashmap's
//! calls to lfmap's.

#![warn(missing_docs, missing_debug_implementations)]

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

pub use error::TryReserveError;
pub use guard::{Guard, LocalGuard, OwnedGuard};
pub use iter::{IntoIter, OwnedIter};
pub use map::{
    Compute, DefaultHashBuilder, HashMap, HashMapRef, Iter, Keys, OccupiedError, Operation, Values,
};
pub use resize::assist::ResizeHelper;
pub use resize::memory::{huge_pages, set_huge_pages};
pub use set::{HashSet, HashSetRef, SetIntoIter, SetIter, SetOwnedIter, WordSet, WordSetIter};
pub use stats::{ProbeStats, Stats};
#[cfg(feature = "rayon")]
pub use word::WordParIter;
pub use word::{
    Iter as WordIter, Keys as WordKeys, Values as WordValues, WordCompute, WordInteger, WordMap,
    WordSized,
};
