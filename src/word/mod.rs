//! [`WordMap`]: the inline fast path for word-sized keys and values.
//!
//! Layout of this module, mirroring the generic map's:
//!
//! | file | what |
//! |---|---|
//! | `bits.rs` | [`WordSized`]: which types fit, as which 64-bit words |
//! | `slot.rs` | the slot unit and every transition of its protocol |
//! | `table.rs` | one table generation |
//! | `raw.rs` | lookups, the write engine, migration, iteration steps |
//! | `mod.rs` | the public API |

mod bits;
#[cfg(feature = "rayon")]
mod par;
mod raw;
mod slot;
pub(crate) mod table;

use std::convert::Infallible;
use std::fmt;
use std::hash::BuildHasher;
use std::iter::FusedIterator;
use std::marker::PhantomData;

pub use self::bits::{WordInteger, WordSized};
#[cfg(feature = "rayon")]
pub use self::par::WordParIter;
use self::raw::{Action, RawWordMap};
use self::table::WordTable;
use crate::iter::Walk;
use crate::map::{DefaultHashBuilder, Operation};
use crate::resize::policy::{slots_for_capacity, MIN_SLOTS};
use crate::resize::Generation;
use crate::stats::{ProbeStats, Stats};

/// A lock-free concurrent hash map for word-sized keys and values, stored
/// inline: lfmap's answer to Go's `map[int64]int64` fast path.
///
/// Keys and values are any [`WordSized`] types: integers, `NonZero`
/// integers, `char`, `bool`, floats by bit pattern, small byte arrays and
/// pairs, and your own newtypes and small `Copy` types (implement
/// [`WordSized`] for them; a wrong implementation gives wrong answers,
/// never undefined behaviour). Each slot holds the key and the value
/// themselves, so an insert allocates nothing and a lookup reads one
/// 16-byte slot: no entry to chase, no reference to hold. Every key is
/// usable, 0 and `u64::MAX` included.
///
/// The architecture is [`HashMap`](crate::HashMap)'s: every change is one
/// CAS on a slot, the table is split-ordered, and a resize is cooperative
/// and incremental (a writer that meets one migrates a few slots of it
/// first: 8 in a growth). Nothing but whole tables is ever retired, so the
/// only garbage is old tables, and the map has a reclaimer made for that: a
/// pin is two plain stores to the thread's own record (no locked instruction), and the
/// thread that retires a table, once per resize, pays for the barrier.
/// Methods pin internally; no guard is needed. Pinning is not
/// async-signal-safe: do not use a `WordMap` from a signal handler (a pin
/// interrupted before it is announced leaves the handler's reads
/// unprotected). Nor fork-safe: a child forked while other threads use a
/// map must not touch one before `exec`.
///
/// Lock-free where the target has a 128-bit CAS: x86_64 (`cmpxchg16b`,
/// detected at run time), AArch64, riscv64, s390x and powerpc64. Elsewhere
/// (32-bit targets among them) the slot operations fall back to a global
/// lock table (`portable-atomic`'s fallback): still correct, not lock-free.
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
/// Every operation except iteration, `clear`, `retain` and `len` (and
/// `is_empty`, which is `len() == 0`) is linearizable (`docs/design.md`,
/// "WordMap"). What is built on a walk is weakly consistent as iteration
/// is, not a snapshot: `Clone`, `Debug`, `PartialEq` and serde
/// serialization. Iteration is weakly consistent with the same guarantee
/// as [`HashMap`](crate::HashMap)'s: a key present for the whole iteration
/// is yielded exactly once, even across resizes.
pub struct WordMap<K, V, S = DefaultHashBuilder> {
    raw: RawWordMap<S>,
    // Keys and values are stored as words; `WordSized` types are `Send +
    // Sync + Copy`, so holding them by value changes no auto trait.
    _types: PhantomData<(K, V)>,
}

/// Whether keys of type `K` may have a top byte (bits 56..64 of their
/// word): only a type of 8 bytes (an over-approximation for 8-byte pairs
/// whose second half is 3 bytes or less of value, such as `(u16, char)`:
/// their tables fault 1 byte per slot in ahead for nothing). A smaller
/// [`WordSized`] type zero-extends (its docs), so a map of such keys never
/// faults in its tables' top-byte arrays ahead (`word/table.rs`). A hint:
/// a small type that does not zero-extend has those pages faulted in by
/// its own writes.
fn tops_likely<K>() -> bool {
    std::mem::size_of::<K>() >= 8
}

#[cfg(loom)]
impl<K, V, S> WordMap<K, V, S> {
    /// `lfmap::__loom::release_prepared_word`'s way in.
    pub(crate) fn loom_release_prepared(&self) -> bool {
        self.raw.release_prepared()
    }
}

#[cfg(all(test, not(loom)))]
impl<K, V, S> WordMap<K, V, S> {
    /// The untyped map, for the resize engine's tests (`resize/mod.rs`).
    pub(crate) fn raw(&self) -> &RawWordMap<S> {
        &self.raw
    }
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
    /// The table's memory is faulted in here and stays resident, as with
    /// [`HashMap::with_capacity`](crate::HashMap::with_capacity) (on Linux,
    /// for tables of 128 KiB or more: 16 bytes per slot, plus 1 from
    /// 131,072 slots, where keys with a top byte, such as hashes, keep it,
    /// at about twice `capacity` slots): the inserts that fill the map take
    /// no page fault in it. For a key type of 8 bytes that extra byte is
    /// faulted in here whatever the keys, since none is known yet; for a
    /// smaller one (zero-extended: no top byte) never. A map grown from
    /// empty faults it in only once a key with a top byte came.
    ///
    /// ```
    /// let map: lfmap::WordMap<u64, u64> = lfmap::WordMap::with_capacity(1000);
    /// assert!(map.stats().capacity >= 1000);
    /// ```
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_capacity_and_hasher(capacity, DefaultHashBuilder::default())
    }
}

/// For the default hasher only, so that `WordMap::default()` infers it
/// (a generic `S` would need a type annotation at every such call, as
/// std's `HashMap::default()` does, and code written against this impl
/// would stop compiling); with another hasher,
/// `WordMap::with_hasher(S::default())`. (`WordSet`, `HashMap` and
/// `HashSet` have the generic impl, as std's.)
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
            raw: RawWordMap::new(MIN_SLOTS, hasher, tops_likely::<K>()),
            _types: PhantomData,
        }
    }

    /// Creates an empty map for `capacity` keys, hashing with `hasher`.
    ///
    /// # Panics
    ///
    /// Panics with "lfmap: capacity overflow" if the table would take more
    /// than `isize::MAX` bytes, and aborts like `Vec` if the allocator
    /// cannot give a smaller one ([`with_capacity`](WordMap::with_capacity)).
    ///
    /// ```
    /// use std::collections::hash_map::RandomState;
    /// let map: lfmap::WordMap<u8, u8, _> =
    ///     lfmap::WordMap::with_capacity_and_hasher(10, RandomState::new());
    /// assert!(map.is_empty());
    /// ```
    pub fn with_capacity_and_hasher(capacity: usize, hasher: S) -> Self {
        WordMap {
            raw: RawWordMap::new(slots_for_capacity(capacity), hasher, tops_likely::<K>()),
            _types: PhantomData,
        }
    }

    #[inline]
    fn key(&self, key: K) -> slot::KeyId {
        self.raw.key(key.to_word())
    }

    /// The value of `key`, if present. One probe over inline slots; no
    /// allocation, no reference handed out. (A get that meets a migration
    /// the writes left stalled moves a sub-chunk of it first: see
    /// [`Stats::chunks_read`](crate::Stats::chunks_read).)
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
        self.raw.get(&key, &guard).map(V::from_word)
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

    /// The key and value of `key`, if present: std's `get_key_value`. Keys
    /// are compared by their bits, so the stored key is `*key`.
    ///
    /// ```
    /// let map = lfmap::WordMap::new();
    /// map.insert(7u32, 'x');
    /// assert_eq!(map.get_key_value(&7), Some((7, 'x')));
    /// assert_eq!(map.get_key_value(&8), None);
    /// ```
    #[inline]
    pub fn get_key_value(&self, key: &K) -> Option<(K, V)> {
        self.get(key).map(|v| (*key, v))
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
        let bits = value.to_word();
        self.write(key, |_| Action::Put(bits)).0.map(V::from_word)
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
        self.write(*key, |_| Action::Remove).0.map(V::from_word)
    }

    /// Removes `key`; returns the key and the value it had: std's
    /// `remove_entry` (the key is `*key`, as in
    /// [`get_key_value`](Self::get_key_value)).
    ///
    /// ```
    /// let map = lfmap::WordMap::new();
    /// map.insert(3u16, 'c');
    /// assert_eq!(map.remove_entry(&3), Some((3, 'c')));
    /// assert_eq!(map.remove_entry(&3), None);
    /// ```
    #[inline]
    pub fn remove_entry(&self, key: &K) -> Option<(K, V)> {
        self.remove(key).map(|v| (*key, v))
    }

    /// Inserts `key -> value` only if `key` is absent: `Ok(())` if this
    /// call inserted it, else `Err` with the value the key has (and nothing
    /// changed). Linearizable: of threads racing to insert one absent key,
    /// exactly one gets `Ok`, and the others get its value. (As
    /// [`HashMapRef::try_insert`](crate::HashMapRef::try_insert), with the
    /// value by copy: yours is yours still.)
    ///
    /// ```
    /// let owners = lfmap::WordMap::new();
    /// assert_eq!(owners.try_insert(7u32, 'a'), Ok(()));
    /// assert_eq!(owners.try_insert(7, 'b'), Err('a'));
    /// assert_eq!(owners.get(&7), Some('a'));
    /// ```
    pub fn try_insert(&self, key: K, value: V) -> Result<(), V> {
        let key = self.key(key);
        let guard = self.raw.pin();
        // A present key costs one lookup and no write, as `get_or_insert`.
        if let Some(cur) = self.raw.get(&key, &guard) {
            return Err(V::from_word(cur));
        }
        let bits = value.to_word();
        let (prev, _) = self.raw.write(
            &key,
            |cur| match cur {
                Some(_) => Action::Keep,
                None => Action::Put(bits),
            },
            &guard,
        );
        prev.map_or(Ok(()), |cur| Err(V::from_word(cur)))
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
        let bits = value.to_word();
        let Ok(word) = self.try_get_or_put(key, || Ok::<u64, Infallible>(bits));
        V::from_word(word)
    }

    /// The value of `key`, inserting `make()` first if the key is absent.
    /// `make` runs at most once, and only if the key was absent when looked
    /// at (another thread may still insert it first: its value is returned).
    ///
    /// `make` may use the map freely, `key` included (see
    /// [closures and reentrancy](crate#closures-and-reentrancy)).
    ///
    /// ```
    /// let map = lfmap::WordMap::new();
    /// assert_eq!(map.get_or_insert_with(1u8, || 5u8), 5);
    /// assert_eq!(map.get_or_insert_with(1, || unreachable!()), 5);
    /// ```
    pub fn get_or_insert_with<F: FnOnce() -> V>(&self, key: K, make: F) -> V {
        let Ok(value) = self.get_or_try_insert_with(key, || Ok::<V, Infallible>(make()));
        value
    }

    /// The value of `key`, inserting the value `make()` gives first if the
    /// key is absent; if `make` fails, its error, with nothing inserted by
    /// the call (dashmap's `entry(k).or_try_insert_with(f)`). `make` runs at
    /// most once, and only if the key was absent when looked at (another
    /// thread may still insert it first: its value is returned, and what
    /// `make` gave is dropped).
    ///
    /// `make` may use the map freely, `key` included (see
    /// [closures and reentrancy](crate#closures-and-reentrancy)).
    ///
    /// ```
    /// let ports = lfmap::WordMap::<u32, u16>::new();
    /// let parse = |s: &'static str| move || s.parse::<u16>();
    /// assert_eq!(ports.get_or_try_insert_with(1, parse("8080")), Ok(8080));
    /// assert!(ports.get_or_try_insert_with(2, parse("http")).is_err());
    /// assert_eq!(ports.get(&2), None);
    /// assert_eq!(ports.get_or_try_insert_with(1, parse("http")), Ok(8080));
    /// ```
    pub fn get_or_try_insert_with<F, E>(&self, key: K, make: F) -> Result<V, E>
    where
        F: FnOnce() -> Result<V, E>,
    {
        let mut make = Some(make);
        // What `make` gave, for a retry after a CAS lost to a resize or to
        // another key: it runs once.
        let mut made = None;
        self.try_get_or_put(key, || {
            if let Some(bits) = made {
                return Ok(bits);
            }
            let bits = (make.take().expect("made once"))()?.to_word();
            made = Some(bits);
            Ok(bits)
        })
        .map(V::from_word)
    }

    /// The value word of `key`, putting what `put()` gives first if the key
    /// is absent, or `put`'s error (nothing written): a plain lookup first
    /// (no write, no migration help when present), then the write engine,
    /// with one hash and one pin for both. `put` runs only on a decision
    /// for an absent key; an error ends the write (`Keep`, which is final).
    fn try_get_or_put<E>(&self, key: K, mut put: impl FnMut() -> Result<u64, E>) -> Result<u64, E> {
        let key = self.key(key);
        let guard = self.raw.pin();
        if let Some(v) = self.raw.get(&key, &guard) {
            return Ok(v);
        }
        let mut failed = None;
        let (_, cur) = self.raw.write(
            &key,
            |cur| match cur {
                Some(_) => Action::Keep,
                None => match put() {
                    Ok(word) => Action::Put(word),
                    Err(e) => {
                        failed = Some(e);
                        Action::Keep
                    }
                },
            },
            &guard,
        );
        match failed {
            Some(e) => Err(e),
            None => Ok(cur.expect("the write leaves the key present")),
        }
    }

    /// Replaces `key`'s value `v` with `f(v)` if the key is present; returns
    /// the new value. `f` may run more than once, but only when another
    /// thread changed the key between runs (lock-free retry); the value
    /// written is `f` of the value it replaced.
    ///
    /// `f` may write other keys, not `key` (see
    /// [closures and reentrancy](crate#closures-and-reentrancy)).
    ///
    /// ```
    /// let map = lfmap::WordMap::new();
    /// map.insert(1u64, 2.0f64);
    /// assert_eq!(map.update(&1, |v| v * 1.5), Some(3.0));
    /// assert_eq!(map.update(&2, |v| v * 1.5), None);
    /// ```
    pub fn update<F: FnMut(V) -> V>(&self, key: &K, mut f: F) -> Option<V> {
        let (_, cur) = self.write(*key, |cur| match cur {
            Some(v) => Action::Put(f(V::from_word(v)).to_word()),
            None => Action::Keep,
        });
        cur.map(V::from_word)
    }

    /// Replaces `key`'s value `v` with `update(v)` if the key is present, or
    /// inserts `value` if it is absent; returns the value now stored
    /// (papaya's `update_or_insert`; dashmap's
    /// `entry(k).and_modify(f).or_insert(v)`).
    ///
    /// Atomic, as [`compute`](WordMap::compute): one CAS that succeeds only
    /// if the key's value (or its absence) is still the one the decision was
    /// made on; otherwise the decision is made again on the newer state, so
    /// `update` may run more than once (keep it free of side effects) and no
    /// update is lost. For integer counters, [`add`](WordMap::add) is the
    /// same with `update` an addition.
    ///
    /// `update` may write other keys, not `key` (see
    /// [closures and reentrancy](crate#closures-and-reentrancy)).
    ///
    /// ```
    /// let max_seen = lfmap::WordMap::<u32, f64>::new();
    /// assert_eq!(max_seen.update_or_insert(7, |v| v.max(2.5), 2.5), 2.5);
    /// assert_eq!(max_seen.update_or_insert(7, |v| v.max(1.0), 1.0), 2.5);
    /// assert_eq!(max_seen.update_or_insert(7, |v| v.max(4.0), 4.0), 4.0);
    /// ```
    pub fn update_or_insert<F>(&self, key: K, update: F, value: V) -> V
    where
        F: FnMut(V) -> V,
    {
        self.update_or_insert_with(key, update, || value)
    }

    /// [`update_or_insert`](WordMap::update_or_insert), with the value to
    /// insert made by `insert()`: papaya's `update_or_insert_with`.
    ///
    /// `update` may run more than once, as in `update_or_insert`. `insert`
    /// runs at most once per call, and only if the key was absent when
    /// looked at; the value it made is kept across retries, so it is
    /// inserted, or, if the key appeared meanwhile, dropped after `update`
    /// ran on the newcomer's value. `update` may write other keys, not
    /// `key`; `insert` may use the map freely, `key` included (see
    /// [closures and reentrancy](crate#closures-and-reentrancy)).
    ///
    /// ```
    /// let map = lfmap::WordMap::<u64, u64>::new();
    /// assert_eq!(map.update_or_insert_with(1, |v| v * 2, || 3), 3);
    /// assert_eq!(map.update_or_insert_with(1, |v| v * 2, || unreachable!()), 6);
    /// ```
    pub fn update_or_insert_with<F, I>(&self, key: K, mut update: F, insert: I) -> V
    where
        F: FnMut(V) -> V,
        I: FnOnce() -> V,
    {
        let mut insert = Some(insert);
        // The word `insert` made: kept across retries, and inserted by
        // any that finds the key absent (after `update` ran on a present
        // value, too); never made twice.
        let mut made: Option<u64> = None;
        let (_, cur) = self.write(key, |cur| match cur {
            Some(v) => Action::Put(update(V::from_word(v)).to_word()),
            None => Action::Put(
                *made.get_or_insert_with(|| (insert.take().expect("made once"))().to_word()),
            ),
        });
        V::from_word(cur.expect("update_or_insert leaves the key present"))
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
            Action::Put(V::wrapping_add_word(cur.unwrap_or(0), delta))
        });
        V::from_word(cur.expect("add leaves the key present"))
    }

    /// Sets `key` to `new` if its value is `current` (compared by word:
    /// [`WordSized::to_word`]). Returns `Ok(current)` on success, or `Err`
    /// with the value the key had (`None`: absent) when it was not
    /// `current`.
    ///
    /// ```
    /// let map = lfmap::WordMap::new();
    /// map.insert(1u64, 10u64);
    /// assert_eq!(map.compare_exchange(&1, 10, 11), Ok(10));
    /// assert_eq!(map.compare_exchange(&1, 10, 12), Err(Some(11)));
    /// assert_eq!(map.compare_exchange(&2, 0, 1), Err(None));
    /// ```
    pub fn compare_exchange(&self, key: &K, current: V, new: V) -> Result<V, Option<V>> {
        let (expected, replacement) = (current.to_word(), new.to_word());
        let (prev, _) = self.write(*key, |cur| {
            if cur == Some(expected) {
                Action::Put(replacement)
            } else {
                Action::Keep
            }
        });
        match prev {
            Some(p) if p == expected => Ok(current),
            other => Err(other.map(V::from_word)),
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
        self.sweep(|_, _| false);
    }

    /// Keeps only the keys for which `keep(key, value)` holds. Each key
    /// present throughout is judged once, on its value when the sweep
    /// reaches it (the iteration guarantee of [`iter`](WordMap::iter), which
    /// looks a key a resize moved on up where it is now). If that says
    /// `false` but the value has changed since, the key is judged again on
    /// its current value, and removed only if that says `false` too. A key whose value does not
    /// change during the sweep is kept exactly when `keep` says so. Not atomic: keys inserted or removed meanwhile
    /// may or may not be judged. O(capacity): if it removed most keys, the table
    /// shrinks once, at the end. If `keep` panics, the keys removed so far
    /// stay removed and the shrink is left to later removals. `keep` runs
    /// while the map is pinned (see [`iter`](WordMap::iter) on pins).
    ///
    /// ```
    /// let map: lfmap::WordMap<u32, u32> = (0..10).map(|i| (i, i * i)).collect();
    /// map.retain(|_, v| v % 2 == 0);
    /// assert_eq!(map.len(), 5);
    /// assert_eq!(map.get(&4), Some(16));
    /// assert_eq!(map.get(&3), None);
    /// ```
    pub fn retain<F: FnMut(K, V) -> bool>(&self, mut keep: F) {
        self.sweep(|k, v| keep(K::from_word(k), V::from_word(v)));
    }

    /// `retain` over words: removes each live key for which `keep(key,
    /// value)` is false, by the stored key word (never re-encoded), in one
    /// pass that shrinks at most once, at the end.
    fn sweep(&self, mut keep: impl FnMut(u64, u64) -> bool) {
        let guard = self.raw.pin();
        let table = self.raw.stable_root(&guard);
        let mut walk = Walk::new(0, table.len());
        while let Some((bits, judged)) = raw::next_live(&self.raw, table, &mut walk, &guard) {
            if keep(bits, judged) {
                continue;
            }
            let key = self.raw.key(bits);
            // Removed if still at the value judged `false`, or if its
            // current value is judged `false` too.
            self.raw.write_in_sweep(
                &key,
                |cur| match cur {
                    Some(v) if v == judged || !keep(bits, v) => Action::Remove,
                    _ => Action::Keep,
                },
                &guard,
            );
        }
        // Removed in slot order without shrinking on the way: resize once.
        self.raw.end_sweep(&guard);
    }

    /// Removes `key` if `should_remove(key, value)` holds for its current
    /// value; returns the value removed (as [`remove`](WordMap::remove)
    /// does: the key is the one passed). The predicate may run more than
    /// once, but only when another thread changed the key between runs; the
    /// value removed is one it said `true` to. Among threads racing to
    /// remove one key, exactly one gets `Some`.
    ///
    /// The predicate may write other keys, not `key` (see
    /// [closures and reentrancy](crate#closures-and-reentrancy)).
    ///
    /// ```
    /// let map = lfmap::WordMap::new();
    /// map.insert(1u64, 10u64);
    /// assert_eq!(map.remove_if(&1, |_, v| v > 50), None);
    /// assert_eq!(map.remove_if(&1, |_, v| v == 10), Some(10));
    /// assert_eq!(map.remove_if(&1, |_, _| true), None);
    /// ```
    pub fn remove_if<F: FnMut(K, V) -> bool>(&self, key: &K, mut should_remove: F) -> Option<V> {
        let k = *key;
        match self.write(k, |cur| match cur {
            Some(v) if should_remove(k, V::from_word(v)) => Action::Remove,
            _ => Action::Keep,
        }) {
            (Some(old), None) => Some(V::from_word(old)),
            _ => None,
        }
    }

    /// Atomically reads, then inserts, replaces, removes or leaves the
    /// value of `key`, as `f` decides from the current value: the general
    /// read-modify-write (as [`HashMapRef::compute`](crate::HashMapRef::compute),
    /// by value).
    ///
    /// `f` sees the key's current value (`None` if absent) and returns an
    /// [`Operation`]. The decision is applied with one CAS that succeeds
    /// only if the value is still the one `f` saw; `f` runs again only when
    /// another thread changed the key meanwhile, to a value other than the
    /// one `f` last decided on (a CAS lost to a resize or to another key,
    /// or to a change that put the same value back, reuses the decision),
    /// so it may run more than once: keep it free of side effects.
    ///
    /// `f` may write other keys, not `key` (see
    /// [closures and reentrancy](crate#closures-and-reentrancy)).
    ///
    /// ```
    /// use lfmap::{Operation, WordCompute};
    ///
    /// let map = lfmap::WordMap::new();
    /// // Insert 1, or add 1 to what is there; give up at 3.
    /// let bump = |cur: Option<u32>| match cur {
    ///     None => Operation::Insert(1),
    ///     Some(n) if n >= 3 => Operation::Abort(n),
    ///     Some(n) => Operation::Insert(n + 1),
    /// };
    /// assert_eq!(map.compute(7u64, bump), WordCompute::Inserted(1));
    /// assert_eq!(map.compute(7, bump), WordCompute::Updated { old: 1, new: 2 });
    /// map.compute(7, bump);
    /// assert_eq!(map.compute(7, bump), WordCompute::Aborted(3));
    /// assert_eq!(map.compute(7, |_| Operation::<u32, ()>::Remove), WordCompute::Removed(3));
    /// assert_eq!(map.compute(7, |_| Operation::<u32, ()>::Remove), WordCompute::Absent);
    /// ```
    pub fn compute<F, R>(&self, key: K, mut f: F) -> WordCompute<V, R>
    where
        F: FnMut(Option<V>) -> Operation<V, R>,
    {
        let mut aborted = None;
        let written = self.write(key, |cur| match f(cur.map(V::from_word)) {
            Operation::Insert(v) => Action::Put(v.to_word()),
            Operation::Remove => Action::Remove,
            Operation::Abort(r) => {
                // `Keep` ends the write: this run's is the last decision.
                aborted = Some(r);
                Action::Keep
            }
        });
        if let Some(r) = aborted {
            return WordCompute::Aborted(r);
        }
        match written {
            (None, Some(new)) => WordCompute::Inserted(V::from_word(new)),
            (Some(old), Some(new)) => WordCompute::Updated {
                old: V::from_word(old),
                new: V::from_word(new),
            },
            (Some(old), None) => WordCompute::Removed(V::from_word(old)),
            (None, None) => WordCompute::Absent,
        }
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
        let table = self.raw.stable_root(&guard);
        let walk = Walk::new(0, table.len());
        let table: *const WordTable = table;
        Iter {
            guard,
            table,
            walk,
            map: self,
        }
    }

    /// An iterator over the keys (copies), with [`iter`](WordMap::iter)'s
    /// guarantee.
    ///
    /// ```
    /// let map: lfmap::WordMap<u8, char> = [(1, 'a'), (2, 'b')].into_iter().collect();
    /// let mut keys: Vec<u8> = map.keys().collect();
    /// keys.sort();
    /// assert_eq!(keys, [1, 2]);
    /// ```
    pub fn keys(&self) -> Keys<'_, K, V, S> {
        Keys { iter: self.iter() }
    }

    /// An iterator over the values (copies), with [`iter`](WordMap::iter)'s
    /// guarantee.
    ///
    /// ```
    /// let map: lfmap::WordMap<u8, u64> = (0..4).map(|i| (i, 10)).collect();
    /// assert_eq!(map.values().sum::<u64>(), 40);
    /// ```
    pub fn values(&self) -> Values<'_, K, V, S> {
        Values { iter: self.iter() }
    }
}

impl<K, V, S> WordMap<K, V, S> {
    /// Number of keys. Exact when no write runs concurrently; while writes
    /// run, off by at most the inserts and removes that complete during the
    /// call (each writer's counts are read once, at some moment of the
    /// call; never below 0, and it never stops writers).
    ///
    /// ```
    /// let map = lfmap::WordMap::new();
    /// map.insert(0u64, 0u64);
    /// assert_eq!(map.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the map has no keys: `len() == 0`, with
    /// [`len`](WordMap::len)'s caveat under concurrent writes.
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
/// [`WordMap::iter`]. It holds its own pin: a function can return it.
///
/// ```
/// fn evens(map: &lfmap::WordMap<u32, u32>) -> impl Iterator<Item = u32> + '_ {
///     map.iter().filter(|(k, _)| k % 2 == 0).map(|(_, v)| v)
/// }
/// let map: lfmap::WordMap<u32, u32> = (0..10).map(|i| (i, 10 * i)).collect();
/// let iter: lfmap::WordIter<'_, u32, u32, _> = map.iter();
/// assert_eq!(iter.count(), 10);
/// assert_eq!(evens(&map).sum::<u32>(), 200);
/// ```
pub struct Iter<'m, K, V, S> {
    /// Keeps `table` and its successors alive; protects the loads of the
    /// lookups of keys a resize moved on (`raw::next_live`).
    guard: raw::WordOwnedGuard<'m>,
    /// The table walked: loaded through the guard, so alive while it is.
    table: *const WordTable,
    walk: Walk,
    /// The map, for the lookup of a key a resize moved on.
    map: &'m WordMap<K, V, S>,
}

impl<K: WordSized, V: WordSized, S: BuildHasher> Iter<'_, K, V, S> {
    /// The pairs the walk has left to yield as the call finds them (for
    /// `Debug`, the set's too): the rest of the walk, on a copy of its
    /// position. Other threads may write meanwhile, so a later `next` may
    /// yield otherwise.
    pub(crate) fn rest(&self) -> impl Iterator<Item = (K, V)> + '_ {
        // SAFETY: loaded through `self.guard`, alive while `self` is.
        let table = unsafe { &*self.table };
        let mut walk = self.walk;
        let (map, guard) = (&self.map.raw, &self.guard);
        std::iter::from_fn(move || raw::next_live(map, table, &mut walk, guard))
            .map(|(k, v)| (K::from_word(k), V::from_word(v)))
    }
}

/// The pairs left to yield, as std's iterators print (as they are when
/// printed: other threads may write meanwhile).
impl<K: WordSized + fmt::Debug, V: WordSized + fmt::Debug, S: BuildHasher> fmt::Debug
    for Iter<'_, K, V, S>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.rest()).finish()
    }
}

// SAFETY: the table pointer is protected by the owned guard, which is
// `Send`; keys and values are copies of `Send + Sync` types (`WordSized`'s
// supertraits, which the compiler checks for every impl, users' included;
// nothing here depends on what the word conversion returns).
unsafe impl<K: WordSized, V: WordSized, S: Sync> Send for Iter<'_, K, V, S> {}

impl<K: WordSized, V: WordSized, S: BuildHasher> Iterator for Iter<'_, K, V, S> {
    type Item = (K, V);

    #[inline]
    fn next(&mut self) -> Option<(K, V)> {
        // SAFETY: loaded through `self.guard`, which is alive.
        let table = unsafe { &*self.table };
        raw::next_live(&self.map.raw, table, &mut self.walk, &self.guard)
            .map(|(k, v)| (K::from_word(k), V::from_word(v)))
    }

    /// `(0, Some(slots not yet visited))`: other threads may remove what
    /// is left.
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.walk.remaining()))
    }
}

// A walk that returned `None` has passed its last slot and stays there.
impl<K: WordSized, V: WordSized, S: BuildHasher> FusedIterator for Iter<'_, K, V, S> {}

/// Iterator over a [`WordMap`]'s keys, from [`WordMap::keys`].
///
/// ```
/// let map: lfmap::WordMap<u32, bool> = [(3, true)].into_iter().collect();
/// let keys: lfmap::WordKeys<'_, u32, bool, _> = map.keys();
/// assert_eq!(keys.collect::<Vec<_>>(), [3]);
/// ```
pub struct Keys<'m, K, V, S> {
    iter: Iter<'m, K, V, S>,
}

/// The keys left to yield, as std's iterators print.
impl<K: WordSized + fmt::Debug, V: WordSized, S: BuildHasher> fmt::Debug for Keys<'_, K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter.rest().map(|(k, _)| k))
            .finish()
    }
}

impl<K: WordSized, V: WordSized, S: BuildHasher> Iterator for Keys<'_, K, V, S> {
    type Item = K;

    fn next(&mut self) -> Option<K> {
        self.iter.next().map(|(k, _)| k)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl<K: WordSized, V: WordSized, S: BuildHasher> FusedIterator for Keys<'_, K, V, S> {}

/// Iterator over a [`WordMap`]'s values, from [`WordMap::values`].
///
/// ```
/// let map: lfmap::WordMap<u32, bool> = [(3, true)].into_iter().collect();
/// let values: lfmap::WordValues<'_, u32, bool, _> = map.values();
/// assert_eq!(values.collect::<Vec<_>>(), [true]);
/// ```
pub struct Values<'m, K, V, S> {
    iter: Iter<'m, K, V, S>,
}

/// The values left to yield, as std's iterators print.
impl<K: WordSized, V: WordSized + fmt::Debug, S: BuildHasher> fmt::Debug for Values<'_, K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter.rest().map(|(_, v)| v))
            .finish()
    }
}

impl<K: WordSized, V: WordSized, S: BuildHasher> Iterator for Values<'_, K, V, S> {
    type Item = V;

    fn next(&mut self) -> Option<V> {
        self.iter.next().map(|(_, v)| v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl<K: WordSized, V: WordSized, S: BuildHasher> FusedIterator for Values<'_, K, V, S> {}

impl<'m, K: WordSized, V: WordSized, S: BuildHasher> IntoIterator for &'m WordMap<K, V, S> {
    type Item = (K, V);
    type IntoIter = Iter<'m, K, V, S>;

    /// Iterates over `(key, value)` copies, as [`WordMap::iter`].
    ///
    /// ```
    /// let map: lfmap::WordMap<u8, u8> = (0..3).map(|i| (i, 2 * i)).collect();
    /// let mut sum = 0;
    /// for (k, v) in &map {
    ///     assert_eq!(v, 2 * k);
    ///     sum += v;
    /// }
    /// assert_eq!(sum, 6);
    /// ```
    fn into_iter(self) -> Iter<'m, K, V, S> {
        self.iter()
    }
}

/// What [`WordMap::compute`] did, with the values by copy (the by-value
/// counterpart of [`Compute`](crate::Compute)).
///
/// ```
/// use lfmap::{Operation, WordCompute};
/// let map = lfmap::WordMap::new();
/// map.insert(1u8, 1i32);
/// match map.compute(1, |_| Operation::<i32, ()>::Remove) {
///     WordCompute::Removed(v) => assert_eq!(v, 1),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WordCompute<V, R> {
    /// The key was absent; this value was inserted.
    Inserted(V),
    /// The key's value `old` was replaced by `new`.
    Updated {
        /// The value before.
        old: V,
        /// The value now.
        new: V,
    },
    /// The key's value was removed.
    Removed(V),
    /// `Remove` was asked for an absent key: nothing happened.
    Absent,
    /// The closure aborted with this value; nothing changed.
    Aborted(R),
}

impl<K: WordSized, V: WordSized, S: BuildHasher + Clone> Clone for WordMap<K, V, S> {
    /// A new map with the pairs an iteration yields, and a clone of the
    /// hasher; sized as [`collect`](FromIterator) sizes (no floor: the
    /// clone shrinks as usual when emptied). Under concurrent writes, what
    /// one walk saw (the [iteration guarantee](crate#iteration)), not a
    /// snapshot.
    ///
    /// ```
    /// let map: lfmap::WordMap<u32, u32> = (0..10_000).map(|i| (i, i)).collect();
    /// let copy = map.clone();
    /// assert_eq!(copy, map);
    /// copy.clear();
    /// assert!(copy.capacity() < 100);
    /// ```
    fn clone(&self) -> Self {
        let clone = WordMap::with_hasher(self.raw.hasher.clone());
        let len = self.len();
        clone.room_for_extend((len, Some(len)));
        for (k, v) in self.iter() {
            clone.insert(k, v);
        }
        clone
    }
}

impl<K: WordSized, V: WordSized, S: BuildHasher> PartialEq for WordMap<K, V, S> {
    /// Equal when both hold the same keys with the same values, both
    /// compared by bit pattern (as the map compares keys; a `f64` value
    /// `NaN` equals itself, `0.0` differs from `-0.0`). Meaningful only
    /// when neither map is being written concurrently.
    ///
    /// ```
    /// let a: lfmap::WordMap<u8, f64> = [(1, 0.5), (2, f64::NAN)].into_iter().collect();
    /// let b: lfmap::WordMap<u8, f64> = [(2, f64::NAN), (1, 0.5)].into_iter().collect();
    /// assert_eq!(a, b);
    /// b.insert(1, -0.5);
    /// assert_ne!(a, b);
    /// ```
    fn eq(&self, other: &Self) -> bool {
        self.iter().count() == other.iter().count()
            && self
                .iter()
                .all(|(k, v)| other.get(&k).map(V::to_word) == Some(v.to_word()))
    }
}

impl<K: WordSized, V: WordSized, S: BuildHasher> Eq for WordMap<K, V, S> {}

impl<K: WordSized, V: WordSized, S: BuildHasher> fmt::Debug for WordMap<K, V, S>
where
    K: fmt::Debug,
    V: fmt::Debug,
{
    /// The pairs an iteration yields, as a map (in the table's order).
    ///
    /// ```
    /// let map: lfmap::WordMap<u8, char> = [(1, 'x')].into_iter().collect();
    /// assert_eq!(format!("{map:?}"), "{1: 'x'}");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: WordSized, V: WordSized, S: BuildHasher> Extend<(K, V)> for WordMap<K, V, S> {
    /// Inserts every pair, after making room for as many as the iterator's
    /// `size_hint` promises (all of them in an empty map, half in one with
    /// keys), so that a large extend resizes once rather than once per
    /// doubling. Below 256 promised pairs it makes no room first: so few
    /// cost a doubling or two as they go, which is cheaper than counting
    /// the map's keys on every small extend. The room is not a floor: the
    /// map shrinks as usual when emptied (unlike
    /// [`reserve`](WordMap::reserve)). An exact `size_hint` (lower and
    /// upper bound equal, as a collection's or a range's) is trusted: its
    /// room is faulted in ahead, as `reserve`'s is, so the inserts take no
    /// page fault. A lower bound alone is not: its room faults in as the
    /// inserts touch it, and an iterator that yields fewer pairs than it
    /// promised leaves the rest of the table unresident.
    ///
    /// ```
    /// let mut map = lfmap::WordMap::new();
    /// map.extend((0..10_000u64).map(|i| (i, i)));
    /// assert_eq!(map.len(), 10_000);
    /// assert_eq!(map.stats().resizes, 1);
    /// ```
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        (&*self).extend(iter);
    }
}

impl<K: WordSized, V: WordSized, S: BuildHasher> Extend<(K, V)> for &WordMap<K, V, S> {
    /// Extends through a shared reference: threads may extend one map at
    /// once. Not atomic: other threads see the pairs arrive one by one
    /// (each insert pins by itself). Sized as the owned `extend` is.
    ///
    /// ```
    /// let map = lfmap::WordMap::new();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| (&map).extend((0..100u32).map(|i| (i, i))));
    ///     s.spawn(|| (&map).extend((50..150u32).map(|i| (i, i))));
    /// });
    /// assert_eq!(map.len(), 150);
    /// ```
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.room_for_extend(iter.size_hint());
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K: WordSized, V: WordSized, S: BuildHasher + Default> FromIterator<(K, V)>
    for WordMap<K, V, S>
{
    /// Sized as [`extend`](Extend::extend) sizes: room for the iterator's
    /// `size_hint` without the floor [`with_capacity`](WordMap::with_capacity)
    /// sets, so a collected map that is emptied later shrinks as usual.
    ///
    /// ```
    /// let map: lfmap::WordMap<u64, u64> = (0..10_000).map(|i| (i, i)).collect();
    /// map.retain(|_, _| false);
    /// assert!(map.capacity() < 100);
    /// ```
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let map = Self::with_hasher(S::default());
        (&map).extend(iter);
        map
    }
}

impl<'a, K: WordSized, V: WordSized, S: BuildHasher> Extend<(&'a K, &'a V)> for WordMap<K, V, S> {
    /// Inserts copies of the pairs (as std's `Extend<(&K, &V)>`), through
    /// the owned `extend`.
    ///
    /// ```
    /// let mut map: lfmap::WordMap<u32, u32> = lfmap::WordMap::new();
    /// let other = std::collections::HashMap::from([(1, 10), (2, 20)]);
    /// map.extend(&other);
    /// assert_eq!(map.get(&2), Some(20));
    /// ```
    fn extend<I: IntoIterator<Item = (&'a K, &'a V)>>(&mut self, iter: I) {
        Extend::<(K, V)>::extend(self, iter.into_iter().map(|(&k, &v)| (k, v)));
    }
}

impl<'a, K: WordSized, V: WordSized, S: BuildHasher> Extend<(&'a K, &'a V)> for &WordMap<K, V, S> {
    /// Inserts copies of the pairs through a shared reference, as the
    /// `Extend<(K, V)>` for `&WordMap` does (threads may extend one map at
    /// once; not atomic).
    ///
    /// ```
    /// let map: lfmap::WordMap<u32, char> = lfmap::WordMap::new();
    /// let pairs = [(1, 'a'), (2, 'b')];
    /// (&map).extend(pairs.iter().map(|(k, v)| (k, v)));
    /// assert_eq!(map.get(&1), Some('a'));
    /// ```
    fn extend<I: IntoIterator<Item = (&'a K, &'a V)>>(&mut self, iter: I) {
        Extend::<(K, V)>::extend(self, iter.into_iter().map(|(&k, &v)| (k, v)));
    }
}

impl<K: WordSized, V: WordSized, const N: usize> From<[(K, V); N]> for WordMap<K, V> {
    /// A map of the array's pairs, as [`collect`](FromIterator) makes it;
    /// of pairs with equal keys, the last pair wins, key and value (keys
    /// are equal only when their bits are, so the two are the same key).
    /// For the default hasher only, so that
    /// `WordMap::from([..])` needs no type annotation (as
    /// [`Default`](WordMap::default), and std's `From`); with another
    /// hasher, `collect` the array.
    ///
    /// ```
    /// let map = lfmap::WordMap::from([(1u64, 10u64), (2, 20), (1, 11)]);
    /// assert_eq!(map.len(), 2);
    /// assert_eq!(map.get(&1), Some(11));
    /// ```
    fn from(pairs: [(K, V); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl<K: WordSized, V: WordSized, S: BuildHasher> IntoIterator for WordMap<K, V, S> {
    type Item = (K, V);
    type IntoIter = IntoIter<K, V>;

    /// Consumes the map, yielding its pairs. The map is owned, so no other
    /// thread writes it: every pair is yielded exactly once, and the
    /// iterator knows its length. It first finishes any resize left under
    /// way, then keeps the map's one table and walks it, with no buffer:
    /// the map's other memory goes when this is called, its table's when
    /// the iterator drops. Order is unspecified.
    ///
    /// ```
    /// let map: lfmap::WordMap<u32, u32> = (0..3).map(|i| (i, 10 * i)).collect();
    /// let mut pairs: Vec<(u32, u32)> = map.into_iter().collect();
    /// pairs.sort();
    /// assert_eq!(pairs, [(0, 0), (1, 10), (2, 20)]);
    /// ```
    fn into_iter(mut self) -> IntoIter<K, V> {
        // Exact: no other thread can have written since (`&mut`).
        let left = self.len();
        let table = self.raw.take_root(false);
        IntoIter {
            walk: Walk::new(0, table.len()),
            table,
            left,
            _types: PhantomData,
        }
    }
}

/// An owning iterator over a [`WordMap`]'s `(key, value)` pairs, from its
/// `IntoIterator` implementation (by value). Exact length, fused; it holds
/// the map's table (not a copy of its pairs) until it drops. Order is
/// unspecified.
///
/// ```
/// let map: lfmap::WordMap<u8, u8> = [(1, 2)].into_iter().collect();
/// let iter: lfmap::WordIntoIter<u8, u8> = map.into_iter();
/// assert_eq!(iter.len(), 1);
/// assert_eq!(iter.collect::<Vec<_>>(), [(1, 2)]);
/// ```
pub struct IntoIter<K, V> {
    /// The consumed map's root, with no successor and no other owner
    /// (`RawWordMap::take_root`): nothing writes its units any more.
    table: Box<WordTable>,
    walk: Walk,
    /// Pairs not yet yielded: the map's length when it was consumed.
    left: usize,
    // Keys and values are words in the table; `WordSized` types are `Send
    // + Sync + Copy`, so this changes no auto trait.
    _types: PhantomData<(K, V)>,
}

impl<K: WordSized, V: WordSized> IntoIter<K, V> {
    /// The pairs not yet yielded (for `Debug`, the set's too): the rest of
    /// the walk, on a copy of its position.
    pub(crate) fn rest(&self) -> impl Iterator<Item = (K, V)> + '_ {
        let mut walk = self.walk;
        std::iter::from_fn(move || raw::next_owned(&self.table, &mut walk))
            .map(|(k, v)| (K::from_word(k), V::from_word(v)))
    }
}

/// The pairs left to yield, as std's `IntoIter` prints.
impl<K: WordSized + fmt::Debug, V: WordSized + fmt::Debug> fmt::Debug for IntoIter<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.rest()).finish()
    }
}

impl<K: WordSized, V: WordSized> Iterator for IntoIter<K, V> {
    type Item = (K, V);

    #[inline]
    fn next(&mut self) -> Option<(K, V)> {
        match raw::next_owned(&self.table, &mut self.walk) {
            Some((k, v)) => {
                self.left = self.left.saturating_sub(1);
                Some((K::from_word(k), V::from_word(v)))
            }
            None => {
                self.left = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<K: WordSized, V: WordSized> ExactSizeIterator for IntoIter<K, V> {}

// A walk that returned `None` has passed its last slot and stays there.
impl<K: WordSized, V: WordSized> FusedIterator for IntoIter<K, V> {}

impl<K: WordSized, V: WordSized, S: BuildHasher> WordMap<K, V, S> {
    /// Empties the map, yielding its pairs: std's `drain`. Needs exclusive
    /// access (`&mut self`: no iterator or helper of the map is alive,
    /// which the borrow checker enforces). Any resize left under way is
    /// finished first, so each pair comes exactly once; the map is empty
    /// when this returns, and keeps its hasher and the capacity floor of
    /// [`with_capacity`](WordMap::with_capacity) or
    /// [`reserve`](WordMap::reserve), with a fresh table of that size. The
    /// iterator owns the old table and frees it when it drops, yielded to
    /// the end or not. Exact length.
    ///
    /// ```
    /// let mut map = lfmap::WordMap::from([(1u32, 'a'), (2, 'b')]);
    /// let mut pairs: Vec<(u32, char)> = map.drain().collect();
    /// pairs.sort();
    /// assert_eq!(pairs, [(1, 'a'), (2, 'b')]);
    /// assert!(map.is_empty());
    /// map.insert(3, 'c');
    /// assert_eq!(map.len(), 1);
    /// ```
    pub fn drain(&mut self) -> Drain<'_, K, V> {
        // The length first: `take_root` leaves the map empty.
        let left = self.len();
        let table = self.raw.take_root(true);
        Drain {
            iter: IntoIter {
                walk: Walk::new(0, table.len()),
                table,
                left,
                _types: PhantomData,
            },
            _map: PhantomData,
        }
    }

    /// Consumes the map, yielding its keys: std's `into_keys`, as
    /// [`into_iter`](IntoIterator::into_iter) without the values.
    ///
    /// ```
    /// let map = lfmap::WordMap::from([(2u8, 20u8), (1, 10)]);
    /// let mut keys: Vec<u8> = map.into_keys().collect();
    /// keys.sort();
    /// assert_eq!(keys, [1, 2]);
    /// ```
    pub fn into_keys(self) -> IntoKeys<K, V> {
        IntoKeys {
            iter: self.into_iter(),
        }
    }

    /// Consumes the map, yielding its values: std's `into_values`.
    ///
    /// ```
    /// let map = lfmap::WordMap::from([(2u8, 20u8), (1, 10)]);
    /// assert_eq!(map.into_values().map(u32::from).sum::<u32>(), 30);
    /// ```
    pub fn into_values(self) -> IntoValues<K, V> {
        IntoValues {
            iter: self.into_iter(),
        }
    }
}

/// A draining iterator over a [`WordMap`]'s pairs, from
/// [`WordMap::drain`]. Exact length, fused; it owns the table the pairs
/// were in (the map is already empty) and frees it when it drops.
///
/// ```
/// let mut map = lfmap::WordMap::from([(7u64, 70u64)]);
/// let drain: lfmap::WordDrain<'_, u64, u64> = map.drain();
/// assert_eq!(drain.len(), 1);
/// assert_eq!(drain.collect::<Vec<_>>(), [(7, 70)]);
/// ```
pub struct Drain<'a, K, V> {
    iter: IntoIter<K, V>,
    /// The map stays borrowed, as std's `drain` borrows it.
    _map: PhantomData<&'a mut ()>,
}

/// An owning iterator over a [`WordMap`]'s keys, from
/// [`WordMap::into_keys`]. Exact length, fused.
///
/// ```
/// let map = lfmap::WordMap::from([(1u16, 2u16)]);
/// let keys: lfmap::WordIntoKeys<u16, u16> = map.into_keys();
/// assert_eq!(keys.collect::<Vec<_>>(), [1]);
/// ```
pub struct IntoKeys<K, V> {
    iter: IntoIter<K, V>,
}

/// An owning iterator over a [`WordMap`]'s values, from
/// [`WordMap::into_values`]. Exact length, fused.
///
/// ```
/// let map = lfmap::WordMap::from([(1u16, 2u16)]);
/// let values: lfmap::WordIntoValues<u16, u16> = map.into_values();
/// assert_eq!(values.collect::<Vec<_>>(), [2]);
/// ```
pub struct IntoValues<K, V> {
    iter: IntoIter<K, V>,
}

impl<K: WordSized, V: WordSized> Drain<'_, K, V> {
    /// The pairs not yet yielded (for `Debug`, the set's too).
    pub(crate) fn rest(&self) -> impl Iterator<Item = (K, V)> + '_ {
        self.iter.rest()
    }
}

/// The pairs left to yield, as std's `Drain` prints.
impl<K: WordSized + fmt::Debug, V: WordSized + fmt::Debug> fmt::Debug for Drain<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.rest()).finish()
    }
}

/// The keys left to yield, as std's `IntoKeys` prints.
impl<K: WordSized + fmt::Debug, V: WordSized> fmt::Debug for IntoKeys<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter.rest().map(|(k, _)| k))
            .finish()
    }
}

/// The values left to yield, as std's `IntoValues` prints.
impl<K: WordSized, V: WordSized + fmt::Debug> fmt::Debug for IntoValues<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter.rest().map(|(_, v)| v))
            .finish()
    }
}

impl<K: WordSized, V: WordSized> Iterator for Drain<'_, K, V> {
    type Item = (K, V);

    #[inline]
    fn next(&mut self) -> Option<(K, V)> {
        self.iter.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl<K: WordSized, V: WordSized> Iterator for IntoKeys<K, V> {
    type Item = K;

    #[inline]
    fn next(&mut self) -> Option<K> {
        self.iter.next().map(|(k, _)| k)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl<K: WordSized, V: WordSized> Iterator for IntoValues<K, V> {
    type Item = V;

    #[inline]
    fn next(&mut self) -> Option<V> {
        self.iter.next().map(|(_, v)| v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl<K: WordSized, V: WordSized> ExactSizeIterator for Drain<'_, K, V> {}
impl<K: WordSized, V: WordSized> ExactSizeIterator for IntoKeys<K, V> {}
impl<K: WordSized, V: WordSized> ExactSizeIterator for IntoValues<K, V> {}
impl<K: WordSized, V: WordSized> FusedIterator for Drain<'_, K, V> {}
impl<K: WordSized, V: WordSized> FusedIterator for IntoKeys<K, V> {}
impl<K: WordSized, V: WordSized> FusedIterator for IntoValues<K, V> {}

impl<K: WordSized, V: WordSized, S: BuildHasher> WordMap<K, V, S> {
    /// Before an `extend` of `hint` keys: room for them, without a floor
    /// (as `HashMapRef::room_for_extend`).
    pub(crate) fn room_for_extend(&self, hint: (usize, Option<usize>)) {
        self.raw.room_for_extend(hint);
    }
}

/// Capacity control, as on [`HashMap`](crate::HashMap::reserve):
/// each call that resizes runs one ordinary cooperative resize, migrated by
/// the calling thread, while other threads keep reading and writing, and
/// faults in the memory of the table it installs.
impl<K: WordSized, V: WordSized, S: BuildHasher> WordMap<K, V, S> {
    /// How many keys the map holds before its table must grow: the current
    /// (or, during a resize, the new) table's load limit, 3/4 of its slots,
    /// or `len()` if that is more (as [`HashMap::capacity`](crate::HashMap::capacity);
    /// never 0). Removed keys keep their slots until the next resize.
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
    /// below that size, and prepares no growth while it holds no more than
    /// that. `reserve(0)` sets no such floor (it
    /// only finishes a resize in progress, or grows a table past its load
    /// limit).
    ///
    /// # Panics
    ///
    /// Panics with "lfmap: capacity overflow" if the table would take more
    /// than `isize::MAX` bytes, and aborts like `Vec` if the allocator
    /// cannot give a smaller one; use
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
    /// panicking or aborting. The map is unchanged on error. The error
    /// covers the table this call allocates: a resize another thread
    /// started, which the call finishes first, may have to grow its own
    /// new table when writers have filled it meanwhile, and that
    /// allocation fails as a writer's does (an abort, like `Vec`'s).
    ///
    /// Unlike `Vec::try_reserve`, an `Ok` means the table's memory is
    /// faulted in already ([`HashMap::try_reserve`](crate::HashMap::try_reserve)
    /// says what that means under overcommit).
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
    /// let map: lfmap::WordMap<u64, u64> = lfmap::WordMap::with_capacity(100_000);
    /// map.insert(1, 1);
    /// map.shrink_to_fit();
    /// assert!(map.capacity() < 100);
    /// assert_eq!(map.get(&1), Some(1));
    /// ```
    pub fn shrink_to_fit(&self) {
        self.raw.shrink_to(0);
    }

    /// Shrinks the table as [`shrink_to_fit`](WordMap::shrink_to_fit) does,
    /// but keeps room for at least `min_capacity` keys: std's `shrink_to`.
    /// The floor of [`with_capacity`](WordMap::with_capacity) and
    /// [`reserve`](WordMap::reserve) is lowered to `min_capacity` (never
    /// raised), so later removals do not shrink the table below it either.
    /// Never grows the table.
    ///
    /// ```
    /// let map: lfmap::WordMap<u64, u64> = lfmap::WordMap::with_capacity(100_000);
    /// map.insert(1, 1);
    /// map.shrink_to(1_000);
    /// assert!((1_000..10_000).contains(&map.capacity()));
    /// ```
    pub fn shrink_to(&self, min_capacity: usize) {
        self.raw.shrink_to(min_capacity);
    }
}

impl<K: WordSized, V: WordSized, S: BuildHasher + Sync> WordMap<K, V, S> {
    /// Registers a [`ResizeHelper`](crate::ResizeHelper) with the map: a
    /// handle another thread runs to do the map's resize work (migrating
    /// entries to a larger table, faulting the next table's memory in), so
    /// that writers do not, until the helper is dropped. Writers take the
    /// work back if the helper falls behind, so it never blocks them. Pays
    /// off where the helper has a core of its own.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    ///
    /// let map: lfmap::WordMap<u64, u64> = lfmap::WordMap::new();
    /// let stop = AtomicBool::new(false);
    /// std::thread::scope(|s| {
    ///     s.spawn(|| map.resize_helper().run(&stop));
    ///     for i in 0..100_000 {
    ///         map.insert(i, i);
    ///     }
    ///     stop.store(true, Ordering::Release);
    /// });
    /// assert_eq!(map.len(), 100_000);
    /// ```
    #[must_use = "writers leave their resize work to the helper only while it is alive"]
    pub fn resize_helper(&self) -> crate::ResizeHelper<'_> {
        crate::ResizeHelper::new(&self.raw)
    }
}
