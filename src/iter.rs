//! Iteration, and its guarantee.
//!
//! # Guarantee
//!
//! Iteration is *weakly consistent*: it never blocks on another thread,
//! never panics because of concurrent writes, and
//!
//! * a key present for the whole iteration is yielded **exactly once**,
//!   even while one or more resizes run;
//! * no key is ever yielded twice;
//! * a yielded value is the one the key has when the walk reaches it
//!   (within the `next` call that yields it): a key removed before the
//!   walk reaches it is not yielded (as Go promises of its maps), and a
//!   key updated before then is yielded with its new value;
//! * keys inserted or removed during the iteration may or may not appear
//!   otherwise: a key inserted after the walk passed its place, or removed
//!   after the walk yielded it, is seen as it was there.
//!
//! # How
//!
//! An iterator first finishes any resize in progress (it migrates the
//! remaining slots itself, which is idempotent, so it never waits for the
//! threads that started it). Then the root table `T` has no successor, so
//! every key present at that moment sits in exactly one slot of `T`, and a
//! slot holds one key for the whole life of `T` (keys are never moved
//! between slots within a table; removal leaves a keyed tombstone). The
//! iterator walks `T`'s slots once, in order:
//!
//! * a live word is yielded, unless it is `COPIED`: a resize that began
//!   after the walk moved the key forward, and the word still points at
//!   the entry the key held when the resize froze the slot. The key may
//!   have been updated or removed in the newer table since, so the walk
//!   looks it up there (from the next table on, as `get` does once it
//!   meets the copied slot) and yields what it finds, or nothing. A frozen
//!   word not yet `COPIED` is still the key's current state (no newer write
//!   for the key lands before the mark);
//! * empty slots and tombstones are skipped.
//!
//! A key present throughout has one slot in `T`, visited once: yielded
//! once. A key is yielded only from its own slot of `T`: never twice.
//! The lookups cost a hashed probe per key whose slot a resize copied after
//! the walk began (two for a `HashMap` key whose entry was replaced or
//! removed since: the identity probe, then the key's; docs/benchmarks.md,
//! "Walks that follow copied keys"); a walk of a map no resize overtakes
//! makes none.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::iter::FusedIterator;
use std::marker::PhantomData;

use crate::raw::slot::{Entry, Held};
use crate::raw::table::Table;
use crate::raw::{find, Exclusive, RawMap};
use crate::reclaim::ReclaimGuard;
use crate::resize::{next_of, Generation};

/// The raw iterator: yields the live entries of a stable root table.
pub(crate) struct RawIter<'g, K, V, G> {
    guard: &'g G,
    table: &'g Table<K, V>,
    walk: Walk,
}

// A clone walks on from the same slot, under the same guard: what is left
// of the walk, with the same guarantee (std's iterators are `Clone` too).
// By hand: a derive would ask `K`, `V` and `G` to be `Clone`.
impl<K, V, G> Clone for RawIter<'_, K, V, G> {
    fn clone(&self) -> Self {
        RawIter {
            guard: self.guard,
            table: self.table,
            walk: self.walk,
        }
    }
}

impl<'g, K, V, G: ReclaimGuard> RawIter<'g, K, V, G>
where
    K: Hash + Eq,
{
    pub(crate) fn new<S: BuildHasher>(map: &RawMap<K, V, S>, guard: &'g G) -> Self {
        let table = Self::start(map, guard);
        Self::over(table, guard, 0, table.len())
    }

    /// The table a walk starts from: the root, once no resize is in
    /// progress (finishing any that is, without waiting for anyone).
    pub(crate) fn start<S: BuildHasher>(map: &RawMap<K, V, S>, guard: &'g G) -> &'g Table<K, V> {
        map.stable_root(guard)
    }

    /// Walks slots `start..end` of `table` (a table from [`RawIter::start`]).
    pub(crate) fn over(table: &'g Table<K, V>, guard: &'g G, start: usize, end: usize) -> Self {
        RawIter {
            guard,
            table,
            walk: Walk::new(start, end),
        }
    }
}

impl<K, V, G> fmt::Debug for RawIter<'_, K, V, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter")
            .field("slot", &self.walk.position())
            .field("end", &self.walk.end)
            .finish_non_exhaustive()
    }
}

impl<'g, K, V, G: ReclaimGuard> Iterator for RawIter<'g, K, V, G>
where
    K: Hash + Eq,
{
    type Item = &'g Entry<K, V>;

    #[inline]
    fn next(&mut self) -> Option<&'g Entry<K, V>> {
        self.walk.next(self.table, self.guard)
    }

    /// At most one entry per slot not yet visited; other threads' removals
    /// may leave none.
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.walk.remaining()))
    }
}

// A walk that returned `None` has passed its last slot and stays there.
impl<K: Hash + Eq, V, G: ReclaimGuard> FusedIterator for RawIter<'_, K, V, G> {}

/// The entry the key of `e` has now, for a walk that met its slot of
/// `table` `COPIED` with entry `e`: the key's state is in the tables after
/// `table`, and `find` gives it (`None`: removed since). Out of line: a
/// walk takes this only for slots a resize copied after the walk began.
/// (No prefetch ahead, unlike `WordMap`'s walk: as first written, with a
/// 128-bit division, it made this walk slower, and the hardware
/// prefetcher streams `HashMap`'s 8-byte slots: docs/benchmarks.md.)
#[inline(never)]
fn current<'g, K: Eq, V, G: ReclaimGuard>(
    table: &'g Table<K, V>,
    e: &'g Entry<K, V>,
    guard: &'g G,
) -> Option<&'g Entry<K, V>> {
    // A `COPIED` word is in a table that has a successor: the resize that
    // copied it linked it before migrating (and a promotion leaves the
    // link in place for the table's life).
    let Some(next) = next_of(table, guard) else {
        debug_assert!(false, "a copied slot in a table without a successor");
        return Some(e);
    };
    // The entry met, by identity alone (`SameEntry`: where the copy moved
    // it, with no `Eq` call, so an `Eq` that says yes to other keys cannot
    // send the walk to their entries); else, replaced or removed since, the
    // key's entry now, by the key object as well as by `==` (`StoredKey`:
    // a key whose `Eq` is not reflexive is found too).
    find(next, e.hash(), &e.same_entry(), guard)
        .or_else(|| find(next, e.hash(), &e.stored_key(), guard))
}

/// How many slots a walk scans at a time ([`Slots::live_hint`]): one
/// 64-bit mask. In a table between its shrink and grow thresholds that is
/// about 8 to 48 live entries, whose fetches the scan starts together.
///
/// [`Slots::live_hint`]: crate::raw::slot::Slots::live_hint
const GROUP: usize = 64;

/// A walk's place in a table, shared by every iterator over one: slots
/// `next..end` are not scanned yet, and `live` marks the slots from `base`
/// of the last group scanned that looked live and are not yet visited.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Walk {
    base: usize,
    live: u64,
    next: usize,
    end: usize,
}

impl Walk {
    /// A walk over slots `start..end`.
    pub(crate) fn new(start: usize, end: usize) -> Self {
        Walk {
            base: start,
            live: 0,
            next: start,
            end,
        }
    }

    /// At most how many more entries the walk can yield: one per slot not
    /// yet visited (the marked slots of the group at hand, and every slot
    /// after it). An iterator's `size_hint` upper bound.
    pub(crate) fn remaining(&self) -> usize {
        self.live.count_ones() as usize + (self.end - self.next)
    }

    /// The first slot not yet visited (for `Debug`).
    pub(crate) fn position(&self) -> usize {
        if self.live == 0 {
            self.next
        } else {
            self.base + self.live.trailing_zeros() as usize
        }
    }

    /// The next live entry of `table` at or after the cursor: the key's
    /// entry at the moment the walk reaches its slot.
    ///
    /// A live word that a resize begun since the walk started has marked
    /// `COPIED` still points at the entry the key held when its slot was
    /// frozen; the key may have been updated or removed in the newer
    /// table since. The walk then looks the key up from the next table on
    /// ([`current`]), so that it never yields a value the key no longer
    /// held when the walk reached it, nor a key already removed: what Go
    /// promises of a map iteration (an entry removed before it is reached
    /// is not produced). The lookup runs only for slots a resize has
    /// copied since the walk began; it looks for the entry met by identity
    /// (no `Eq` call), and runs the key's `Eq` only if that entry was
    /// replaced or removed since.
    #[inline]
    pub(crate) fn next<'g, K: Eq, V, G: ReclaimGuard>(
        &mut self,
        table: &'g Table<K, V>,
        guard: &'g G,
    ) -> Option<&'g Entry<K, V>> {
        self.visit(
            |start, n| table.slots.live_hint(start, n),
            |i| {
                let w = table.slots.load(i, guard);
                match w.view() {
                    // Mutation for checking the models (docs/verification.md):
                    // the walk yields a copied word's frozen entry, as before
                    // the twelfth session.
                    Held::Live(e) if w.copied() && !mutation!("walk_yields_frozen") => {
                        current(table, e, guard)
                    }
                    Held::Live(e) => Some(e),
                    _ => None,
                }
            },
        )
    }

    /// The walk itself, for either map's slots: each slot is visited once,
    /// in index order. A group of slots is first scanned (`hint(start, n)`:
    /// a mask of the slots that look live); each marked slot is then
    /// visited (`visit(i)`: its own load, `None` if it is no longer live)
    /// and the first `Some` returned.
    ///
    /// Small enough to inline into the caller's loop; the scan of the next
    /// group, once every ~30 entries, is a call ([`Walk::scan`]).
    #[inline]
    pub(crate) fn visit<T>(
        &mut self,
        hint: impl Fn(usize, usize) -> u64,
        mut visit: impl FnMut(usize) -> Option<T>,
    ) -> Option<T> {
        loop {
            if self.live == 0 && !self.scan(&hint) {
                return None;
            }
            let i = self.base + self.live.trailing_zeros() as usize;
            self.live &= self.live - 1;
            if let Some(found) = visit(i) {
                return Some(found);
            }
        }
    }

    /// Scans groups until one has a marked slot (true) or the range ends
    /// (false).
    #[inline(never)]
    fn scan(&mut self, hint: impl Fn(usize, usize) -> u64) -> bool {
        while self.live == 0 {
            if self.next >= self.end {
                return false;
            }
            let n = (self.end - self.next).min(GROUP);
            self.base = self.next;
            self.next += n;
            // Under loom every slot is marked and nothing is scanned: the
            // hint would only add scheduling points, and the visits' own
            // loads decide.
            self.live = if cfg!(loom) {
                u64::MAX >> (GROUP - n)
            } else {
                hint(self.base, n)
            };
        }
        true
    }
}

/// An iterator that owns its pinned handle and yields clones of the
/// entries, so a function can return it. From `IntoIterator` for
/// [`HashMapRef`](crate::HashMapRef) (by value). Same guarantee as
/// [`iter`](crate::HashMapRef::iter).
///
/// ```
/// let map = lfmap::HashMap::new();
/// map.pin().insert(1, 2);
/// let iter: lfmap::OwnedIter<'_, i32, i32, _> = map.pin_owned().into_iter();
/// assert_eq!(iter.collect::<Vec<_>>(), [(1, 2)]);
/// ```
pub struct OwnedIter<'map, K, V, G> {
    guard: G,
    /// The walk's table, kept alive by `guard` (a raw pointer: the guard is
    /// a field of this same struct).
    table: *const Table<K, V>,
    walk: Walk,
    _map: std::marker::PhantomData<&'map Table<K, V>>,
}

impl<'map, K, V, G> OwnedIter<'map, K, V, G>
where
    K: Hash + Eq,
    G: ReclaimGuard,
{
    pub(crate) fn new<S: BuildHasher>(map: &'map RawMap<K, V, S>, guard: G) -> Self {
        let table = RawIter::start(map, &guard);
        let walk = Walk::new(0, table.len());
        let table: *const Table<K, V> = table;
        OwnedIter {
            guard,
            table,
            walk,
            _map: std::marker::PhantomData,
        }
    }
}

// SAFETY: the raw table pointer is a shared reference in disguise (kept
// valid by the owned guard), so the iterator may move to another thread when
// a `&Table` could (K, V: Sync) and the guard itself may move (G: Send);
// yielded items are owned clones (K, V: Send).
unsafe impl<K: Send + Sync, V: Send + Sync, G: Send> Send for OwnedIter<'_, K, V, G> {}

impl<K: Eq, V, G: ReclaimGuard> OwnedIter<'_, K, V, G> {
    /// The pairs the walk has left to yield as the call finds them, by
    /// reference (for `Debug`, the set's too): the rest of the walk, on a
    /// copy of its position, under the same guard. Other threads may
    /// write meanwhile, so a later `next` may yield otherwise.
    pub(crate) fn rest(&self) -> impl Iterator<Item = (&K, &V)> {
        // SAFETY: as in `next`: loaded under `self.guard`, which we own.
        let table = unsafe { &*self.table };
        let mut walk = self.walk;
        std::iter::from_fn(move || walk.next(table, &self.guard)).map(Entry::pair)
    }
}

/// The pairs left to yield, as std's iterators print (as they are when
/// printed: other threads may write meanwhile).
impl<K, V, G> fmt::Debug for OwnedIter<'_, K, V, G>
where
    K: Eq + fmt::Debug,
    V: fmt::Debug,
    G: ReclaimGuard,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.rest()).finish()
    }
}

impl<K, V, G> Iterator for OwnedIter<'_, K, V, G>
where
    K: Hash + Eq + Clone,
    V: Clone,
    G: ReclaimGuard,
{
    type Item = (K, V);

    #[inline]
    fn next(&mut self) -> Option<(K, V)> {
        // SAFETY: the table was loaded under `self.guard`, which we own and
        // which stays pinned until we drop.
        let table = unsafe { &*self.table };
        let e = self.walk.next(table, &self.guard)?;
        Some((e.key.clone(), e.value().clone()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.walk.remaining()))
    }
}

impl<K, V, G> FusedIterator for OwnedIter<'_, K, V, G>
where
    K: Hash + Eq + Clone,
    V: Clone,
    G: ReclaimGuard,
{
}

/// An owning iterator over the entries of a [`HashMap`](crate::HashMap),
/// from its `IntoIterator` implementation. Order is unspecified.
///
/// ```
/// let map = lfmap::HashMap::new();
/// map.pin().insert(1, 2);
/// let iter: lfmap::IntoIter<i32, i32> = map.into_iter();
/// assert_eq!(iter.collect::<Vec<_>>(), [(1, 2)]);
/// ```
pub struct IntoIter<K, V> {
    table: Box<Table<K, V>>,
    index: usize,
    /// Entries not yet yielded: the map's length when it was consumed
    /// (exact then: no other thread can have written since).
    left: usize,
}

impl<K, V> IntoIter<K, V> {
    /// Yields the `len` entries of `table`.
    pub(crate) fn new(table: Box<Table<K, V>>, len: usize) -> Self {
        IntoIter {
            table,
            index: 0,
            left: len,
        }
    }
}

impl<K, V> IntoIter<K, V> {
    /// The pairs not yet yielded, by reference (for `Debug`, the set's
    /// too).
    pub(crate) fn rest(&self) -> impl Iterator<Item = (&K, &V)> {
        (self.index..self.table.len())
            // SAFETY: `table` is the consumed map's root, owned by this
            // iterator alone (no other thread, handle or reclaimer can
            // reach it: `IntoIter::new`'s callers took it out of the map).
            .filter_map(|i| unsafe { self.table.slots.peek_live(i) })
            .map(Entry::pair)
    }
}

/// The pairs left to yield, as std's `IntoIter` prints.
impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for IntoIter<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.rest()).finish()
    }
}

impl<K, V> Iterator for IntoIter<K, V> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        while self.index < self.table.len() {
            let i = self.index;
            self.index += 1;
            if let Some(pair) = self.table.slots.take_live(i) {
                self.left = self.left.saturating_sub(1);
                return Some(pair);
            }
        }
        self.left = 0;
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<K, V> ExactSizeIterator for IntoIter<K, V> {}

impl<K, V> FusedIterator for IntoIter<K, V> {}

/// An iterator over `(&K, &mut V)`, from
/// [`HashMap::iter_mut`](crate::HashMap::iter_mut), which needs exclusive
/// access (`&mut`) to the map. Each entry is yielded exactly once; order is
/// unspecified.
///
/// ```
/// let mut map = lfmap::HashMap::from([(1, 10), (2, 20)]);
/// for (_, v) in map.iter_mut() {
///     *v += 1;
/// }
/// assert_eq!(map.pin().get(&2), Some(&21));
/// ```
pub struct IterMut<'a, K, V> {
    root: Exclusive<'a, K, V>,
    walk: Walk,
    /// Entries not yet yielded: exact, as for [`IntoIter`] (no other
    /// thread can write while the map is borrowed mutably).
    left: usize,
    _values: PhantomData<&'a mut V>,
}

impl<'a, K, V> IterMut<'a, K, V> {
    /// Walks the root of a map held by `&mut` (every resize finished:
    /// [`RawMap::exclusive`]), whose length is `len`.
    pub(crate) fn new(root: Exclusive<'a, K, V>, len: usize) -> Self {
        let walk = Walk::new(0, root.slots());
        IterMut {
            root,
            walk,
            left: len,
            _values: PhantomData,
        }
    }
}

impl<K, V> IterMut<'_, K, V> {
    /// The pairs not yet yielded, by shared reference (for `Debug`): the
    /// rest of the walk, on a copy of its position.
    fn rest(&self) -> impl Iterator<Item = (&K, &V)> {
        let (root, mut walk) = (&self.root, self.walk);
        std::iter::from_fn(move || {
            walk.visit(|start, n| root.live_hint(start, n), |i| root.live(i))
        })
        .map(|entry| {
            // SAFETY: a live entry of the root of a map borrowed mutably
            // (as in `next`), not yet yielded (the copy walks on from the
            // walk's position, and each key is in one slot): no `&mut` to
            // its value exists, and none is made while `&self` lives.
            unsafe { entry.as_ref() }.pair()
        })
    }
}

/// The pairs left to yield, as std's `IterMut` prints.
impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for IterMut<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.rest()).finish()
    }
}

impl<'a, K, V> Iterator for IterMut<'a, K, V> {
    type Item = (&'a K, &'a mut V);

    fn next(&mut self) -> Option<(&'a K, &'a mut V)> {
        let root = &self.root;
        let Some(entry) = self
            .walk
            .visit(|start, n| root.live_hint(start, n), |i| root.live(i))
        else {
            self.left = 0;
            return None;
        };
        self.left = self.left.saturating_sub(1);
        let entry = entry.as_ptr();
        // SAFETY: `entry` is the live entry of one slot of the root of a map
        // borrowed mutably for `'a` (`RawMap::exclusive`): no other thread
        // is inside the map, and none can enter, retire or free the entry
        // before `'a` ends. The walk visits each slot once, and after every
        // resize was finished each key is in exactly one slot of the root,
        // no slot of it frozen or copied: so this entry is yielded once, and
        // no other reference to its value exists. (An older table, retired
        // and not yet freed, may still point at the entry; nothing reads it
        // through that table any more.) Tombstones and entries already
        // replaced or removed are in no live slot: never yielded. The value
        // is reached through the pointer the slot holds (write provenance
        // from its allocation), and only the value is lent mutably; the key
        // (and the stored hash) stay untouched, so the entry still hashes
        // to its slot.
        unsafe { Some((&(*entry).key, &mut *Entry::value_ptr(entry))) }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<K, V> ExactSizeIterator for IterMut<'_, K, V> {}

// SAFETY: std's (hashbrown's) bounds, `K: Send, V: Send`, as for sending
// the `&mut` map itself. The auto trait would ask `K, V: Send + Sync`,
// through the shared table reference, for what a shared *map* needs; here
// the map is borrowed mutably for `'a`, so no other thread is inside it or
// can reach its entries (a resize helper, a handle, an iterator and the
// map's reclamation all go through the map), and the iterator itself
// touches nothing but the root's slot words (atomic loads), the pointers
// they hold and the entries they point at, never a pin or any other
// thread-local state. So the thread that holds it is the only one that
// reads the keys and values for `'a`: they are lent to it, as an owned
// map's would be.
unsafe impl<K: Send, V: Send> Send for IterMut<'_, K, V> {}

// SAFETY: through `&IterMut` only `size_hint` and `Debug` run: the walk's
// position and count, and `Debug` reads the keys and values not yet
// yielded through shared references (`K: Sync, V: Sync`), to which no
// `&mut` exists; std's bounds.
unsafe impl<K: Sync, V: Sync> Sync for IterMut<'_, K, V> {}

// A walk that returned `None` has passed its last slot and stays there.
impl<K, V> FusedIterator for IterMut<'_, K, V> {}

/// An iterator over `&mut V`, from
/// [`HashMap::values_mut`](crate::HashMap::values_mut) (exclusive access).
///
/// ```
/// let mut map = lfmap::HashMap::from([("a", 1), ("b", 2)]);
/// map.values_mut().for_each(|v| *v *= 10);
/// assert_eq!(map.pin().get("b"), Some(&20));
/// ```
pub struct ValuesMut<'a, K, V> {
    iter: IterMut<'a, K, V>,
}

impl<'a, K, V> ValuesMut<'a, K, V> {
    pub(crate) fn new(iter: IterMut<'a, K, V>) -> Self {
        ValuesMut { iter }
    }
}

/// The values left to yield, as std's `ValuesMut` prints.
impl<K, V: fmt::Debug> fmt::Debug for ValuesMut<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter.rest().map(|(_, v)| v))
            .finish()
    }
}

impl<'a, K, V> Iterator for ValuesMut<'a, K, V> {
    type Item = &'a mut V;

    fn next(&mut self) -> Option<&'a mut V> {
        self.iter.next().map(|(_, v)| v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl<K, V> ExactSizeIterator for ValuesMut<'_, K, V> {}

impl<K, V> FusedIterator for ValuesMut<'_, K, V> {}

/// A draining iterator over the entries of a [`HashMap`](crate::HashMap),
/// from [`HashMap::drain`](crate::HashMap::drain) (exclusive access).
///
/// The map is already empty when `drain` returns: the iterator owns the
/// table the entries were in. Dropped before the end, it drops the entries
/// it did not yield, each once (if one of their `Drop`s panics, the rest
/// are still dropped as the panic unwinds; a second panic aborts, as in
/// std's collections). Leaked (`mem::forget`), it leaks them; the map is
/// empty and usable either way.
///
/// ```
/// let mut map = lfmap::HashMap::from([(1, "a"), (2, "b")]);
/// let mut drained: Vec<_> = map.drain().collect();
/// drained.sort();
/// assert_eq!(drained, [(1, "a"), (2, "b")]);
/// assert!(map.is_empty());
/// ```
pub struct Drain<'a, K, V> {
    /// Owns the root taken out of the map (`RawMap::take_root`, which
    /// finished every resize first, so each key is in one of its slots).
    /// Each yielded entry's slot is emptied before its pair is moved out
    /// (`Slots::take_live`), so the table's drop (`Table::drop`), when
    /// this is dropped early, frees only what was not yielded, each entry
    /// once; a panicking `Drop` there is resumed past as the panic unwinds.
    /// Retired entries (replaced or removed earlier) are in no slot of it:
    /// never yielded, freed by the map's reclaimer.
    iter: IntoIter<K, V>,
    /// Borrows the map as std's `Drain` does, though the entries left no
    /// longer live in it.
    _map: PhantomData<&'a mut ()>,
}

impl<K, V> Drain<'_, K, V> {
    /// Yields the `len` entries of `table`, the root just taken out of the
    /// map (`RawMap::take_root`).
    pub(crate) fn new(table: Box<Table<K, V>>, len: usize) -> Self {
        Drain {
            iter: IntoIter::new(table, len),
            _map: PhantomData,
        }
    }
}

impl<K, V> Drain<'_, K, V> {
    /// The pairs not yet yielded, by reference (for `Debug`, the sets' too).
    pub(crate) fn rest(&self) -> impl Iterator<Item = (&K, &V)> {
        self.iter.rest()
    }
}

/// The pairs left to yield, as std's `Drain` prints.
impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for Drain<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.rest()).finish()
    }
}

impl<K, V> Iterator for Drain<'_, K, V> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        self.iter.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl<K, V> ExactSizeIterator for Drain<'_, K, V> {}

impl<K, V> FusedIterator for Drain<'_, K, V> {}

/// An owning iterator over the keys of a [`HashMap`](crate::HashMap), from
/// [`HashMap::into_keys`](crate::HashMap::into_keys).
///
/// ```
/// let map = lfmap::HashMap::from([(1, "a")]);
/// assert_eq!(map.into_keys().collect::<Vec<_>>(), [1]);
/// ```
pub struct IntoKeys<K, V> {
    iter: IntoIter<K, V>,
}

impl<K, V> IntoKeys<K, V> {
    pub(crate) fn new(iter: IntoIter<K, V>) -> Self {
        IntoKeys { iter }
    }
}

/// The keys left to yield, as std's `IntoKeys` prints.
impl<K: fmt::Debug, V> fmt::Debug for IntoKeys<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter.rest().map(|(k, _)| k))
            .finish()
    }
}

impl<K, V> Iterator for IntoKeys<K, V> {
    type Item = K;

    fn next(&mut self) -> Option<K> {
        self.iter.next().map(|(k, _)| k)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl<K, V> ExactSizeIterator for IntoKeys<K, V> {}

impl<K, V> FusedIterator for IntoKeys<K, V> {}

/// An owning iterator over the values of a [`HashMap`](crate::HashMap),
/// from [`HashMap::into_values`](crate::HashMap::into_values).
///
/// ```
/// let map = lfmap::HashMap::from([(1, "a")]);
/// assert_eq!(map.into_values().collect::<Vec<_>>(), ["a"]);
/// ```
pub struct IntoValues<K, V> {
    iter: IntoIter<K, V>,
}

impl<K, V> IntoValues<K, V> {
    pub(crate) fn new(iter: IntoIter<K, V>) -> Self {
        IntoValues { iter }
    }
}

/// The values left to yield, as std's `IntoValues` prints.
impl<K, V: fmt::Debug> fmt::Debug for IntoValues<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.iter.rest().map(|(_, v)| v))
            .finish()
    }
}

impl<K, V> Iterator for IntoValues<K, V> {
    type Item = V;

    fn next(&mut self) -> Option<V> {
        self.iter.next().map(|(_, v)| v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

impl<K, V> ExactSizeIterator for IntoValues<K, V> {}

impl<K, V> FusedIterator for IntoValues<K, V> {}

#[cfg(test)]
mod tests {
    use super::Walk;

    /// A walk visits every marked slot of its range once, in order, across
    /// group boundaries and from any start; a visit that finds its slot no
    /// longer live (`None`) moves on to the next.
    #[test]
    fn a_walk_visits_each_marked_slot_once_in_order() {
        let marked = |i: usize| i % 3 != 1;
        let still_live = |i: usize| i % 5 != 0;
        let hint = |start: usize, n: usize| {
            assert!(0 < n && n <= 64, "a group of {n} slots");
            (0..n)
                .filter(|&j| marked(start + j))
                .fold(0u64, |m, j| m | 1 << j)
        };
        for (start, end) in [(0, 0), (0, 1), (3, 64), (0, 200), (5, 133), (64, 128)] {
            let mut walk = Walk::new(start, end);
            let mut seen = Vec::new();
            while let Some(i) = walk.visit(hint, |i| still_live(i).then_some(i)) {
                assert!(walk.position() > i, "{walk:?} after slot {i}");
                seen.push(i);
            }
            let want: Vec<usize> = (start..end)
                .filter(|&i| marked(i) && still_live(i))
                .collect();
            assert_eq!(seen, want, "{start}..{end}");
            assert_eq!(
                walk.visit(hint, Some),
                None,
                "a finished walk stays finished"
            );
        }
    }
}
