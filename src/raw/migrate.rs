//! The generic map's half of a resize: how one slot is frozen and copied,
//! and how a writer seals its key. The driver that hands out the work,
//! finishes and promotes is shared with `WordMap` (`resize/mod.rs`, which
//! also states the protocol).
//!
//! A copy moves the entry itself (the same allocation, so no `K`/`V` is
//! cloned and no user code runs: not even `Eq`, see [`insert_copy`]); a
//! tombstone stays with the old table and is freed with it.

use equivalent::Equivalent;

use super::slot::{tag_of, Entry, Fresh, Word};
use super::table::Table;
use crate::reclaim::ReclaimGuard;
use crate::resize::{next_of, Generation, Resizer};

/// Freezes slot `i` of `table` and copies it into `next` (the generic
/// map's [`Migrate::migrate_slot`](crate::resize::Migrate::migrate_slot)).
#[inline]
pub(super) fn migrate_slot<K, V, G: ReclaimGuard>(
    resize: &Resizer<Table<K, V>>,
    table: &Table<K, V>,
    i: usize,
    next: &Table<K, V>,
    guard: &G,
) {
    // Mutation for checking the loom models (docs/verification.md): copy
    // without freezing, so a write can land behind the copy.
    let w = if mutation!("skip_freeze") {
        table.slots.load(i, guard)
    } else {
        table.slots.freeze(i, guard)
    };
    copy_slot(resize, table, i, w, next, guard);
}

/// What a write's seals (`seal_key`) found: the tables it sealed its key
/// in, the newer table of the last seal, and the entry frozen in the
/// key's slot there (its source slot now marked `COPIED`), if it had one;
/// or, where that slot was sealed, the entry an earlier seal of the write
/// forwarded past it (stacked resizes).
///
/// The late copier's check in [`insert_copy`] rests on this: a same-hash
/// entry in a newer table with the source slot unmarked belongs to
/// another key, because a writer that replaced a copied entry marked (or
/// saw marked) that entry's source slot first. A write's seal marks the
/// source of the entry it finds; but with an `Eq` that is not an
/// equivalence (`a == b`, `b == c`, `a != c`: a logic error) or that
/// answers differently from call to call, `Eq` in the newer table matched
/// a copy whose source the seal had not reached (it stops at the first
/// slot `Eq` takes): the writer replaced the copy of `c` after sealing
/// `a`'s slot, and a late copier of `c`'s slot placed `c`'s entry again,
/// live and retired at once, freed twice (found by review). So a copied-in
/// entry other than the one the seals found is taken only once every slot
/// that holds it in a table this write sealed is copied and marked
/// ([`takes`](Self::takes)); one found in none of them came from a table
/// older than the write's root, whose migration is finished (a root was
/// promoted), every source slot marked. A write that starts at a root
/// needs no check at all, for the same reason.
pub(super) struct Sealed<'g, K, V> {
    /// The newer table of the last seal (none in this write yet).
    into: Option<&'g Table<K, V>>,
    /// The entry the seals found for the key (null: none). Compared only.
    /// It may be a tombstone's, or one placed under another hash by a
    /// writer that replaced the key's entry between the seal's load and
    /// its freeze: harmless, as a write takes it only where its hash
    /// matches, and its slot was frozen and marked by the seal.
    entry: *const Entry<K, V>,
    /// The older tables this write sealed, oldest first: the first
    /// [`SEALED_TABLES`] of `passed`.
    from: [Option<&'g Table<K, V>>; SEALED_TABLES],
    passed: usize,
}

/// The sealed tables a write remembers. Writes finish the oldest
/// migration once two are stacked (`Resizer::writable`), so a write seals
/// two or three; past this many, an entry its seals did not find is taken
/// for another key's (a duplicate key at worst, never a shared entry).
const SEALED_TABLES: usize = 4;

impl<'g, K, V> Sealed<'g, K, V> {
    /// No seal yet.
    pub(super) fn new() -> Self {
        Sealed {
            into: None,
            entry: std::ptr::null(),
            from: [None; SEALED_TABLES],
            passed: 0,
        }
    }

    /// Whether a write in `table` may take `entry`, which a migration
    /// copied there, for its key's (its hash and `Eq` matched): the entry
    /// the seals found, or another once every slot holding it in a table
    /// this write sealed is copied and marked. Marks them (`copy_slot`:
    /// the copy is in place already, so it only marks), or returns false
    /// if one of them is not frozen, which no copy in place can leave.
    pub(super) fn takes<G: ReclaimGuard>(
        &self,
        resize: &Resizer<Table<K, V>>,
        table: &Table<K, V>,
        entry: &Entry<K, V>,
        guard: &'g G,
    ) -> bool {
        if !self.into.is_some_and(|into| std::ptr::eq(into, table))
            || std::ptr::eq(self.entry, entry)
        {
            return true;
        }
        // Mutation for checking the regression tests
        // (`a_writer_takes_only_the_copy_its_seal_reached`): `Eq` alone.
        if mutation!("take_unsealed_copy") {
            return true;
        }
        if self.passed > SEALED_TABLES {
            return false;
        }
        for older in self.from.iter().flatten() {
            let Some((i, w)) = older
                .placement()
                .probe(entry.hash())
                .map(|i| (i, older.slots.load(i, guard)))
                // A word without an entry ends the probe: the entry was
                // never here (its slot would come before any such word).
                .take_while(|(_, w)| w.entry().is_some())
                .find(|(_, w)| w.entry().is_some_and(|e| std::ptr::eq(e, entry)))
            else {
                continue;
            };
            if !w.frozen() {
                return false;
            }
            let next = next_of(*older, guard).expect("a sealed table has a successor");
            copy_slot(resize, older, i, w, next, guard);
        }
        true
    }
}

/// Makes `table` final for `key`: freezes the key's slot (and copies it
/// into `next`), or seals the empty slot ending its probe sequence. After
/// this no write to `key` can land in `table`, and the key's state in
/// `table` is in `next`. `sealed` records what this seal found.
pub(super) fn seal_key<'g, K, V, Q, G>(
    resize: &Resizer<Table<K, V>>,
    table: &'g Table<K, V>,
    next: &'g Table<K, V>,
    hash: u64,
    key: &Q,
    sealed: &mut Sealed<'g, K, V>,
    guard: &G,
) where
    K: Eq,
    Q: Equivalent<K> + ?Sized,
    G: ReclaimGuard,
{
    let tag = tag_of(hash);
    // A seal that finds no entry here (the key's slot sealed, or a full
    // lap) keeps the one the previous seal of this write found, if that
    // seal was into `table`: its copy went on past `table`'s sealed slot
    // into `next` (stacked resizes), and its source was marked by that
    // seal (found by review: the write refused the copy it had just
    // forwarded, and stored the key twice).
    if !sealed.into.is_some_and(|into| std::ptr::eq(into, table)) {
        sealed.entry = std::ptr::null();
    }
    let carried = sealed.entry;
    sealed.into = Some(next);
    if let Some(at) = sealed.from.get_mut(sealed.passed) {
        *at = Some(table);
    }
    sealed.passed += 1;
    for i in table.placement().probe(hash) {
        let mut w = table.slots.load(i, guard);
        if w.is_unclaimed() {
            match table.slots.seal(i, guard) {
                Ok(()) => return,
                Err(seen) => w = seen,
            }
        }
        let Some(e) = w.entry() else {
            return; // already sealed
        };
        if w.tag() != tag {
            continue;
        }
        // The carried entry is the key's by its pointer: its copy in this
        // table is frozen, copied on and marked below like the key's own,
        // whatever `Eq` answers now (found by review: an `Eq` that said no
        // here let the seal pass the copy, unmarked, and carry the entry
        // on; the write then replaced it in the next table, and a late
        // copier of the unmarked slot placed it again).
        if std::ptr::eq(e, carried) || (e.hash() == hash && key.equivalent(&e.key)) {
            let w = table.slots.freeze(i, guard);
            copy_slot(resize, table, i, w, next, guard);
            // The entry frozen and copied, not `e`: a write that reached
            // this table before the resize may have replaced `e` since the
            // load (found by review: the write then refused the copy of
            // the newer entry, and stored the key twice).
            if let Some(frozen) = w.entry() {
                sealed.entry = frozen;
            }
            return;
        }
    }
    // A full lap: the table is full, nothing can be inserted here.
}

/// Copies frozen slot `i` of `table` into `next` unless that is done. Live
/// entries move (the same allocation); tombstones stay with `table` and are
/// freed with it.
fn copy_slot<K, V, G: ReclaimGuard>(
    resize: &Resizer<Table<K, V>>,
    table: &Table<K, V>,
    i: usize,
    w: Word<'_, K, V>,
    next: &Table<K, V>,
    guard: &G,
) {
    if w.copied() || w.is_vacant() {
        return;
    }
    if !w.deleted() {
        insert_copy(resize, next, (table, i), w, guard);
    }
    table.slots.mark_copied(i, w);
}

/// Inserts the entry of `from` (the frozen, live word of slot `source` of
/// an older table) into `table` unless its key is there already (as this
/// very entry, a newer one, or a keyed tombstone). If `table` is itself
/// migrating and sealed for the key, goes on to its successor.
///
/// A slot of the key holding another entry than `from`'s is told from a
/// slot of another key with the same hash without calling `Eq`: by the
/// source slot's `COPIED` mark. Any entry of the key in a newer table other
/// than `from`'s own was written after `source` was marked: a writer seals
/// the key in every older table before writing (`Resizer::writable`), and
/// sealing a key whose slot holds an entry copies it and marks the slot
/// before the seal returns (`seal_key`); a removal or revival there is such
/// a write too. So a same-hash entry met while `source` is unmarked belongs
/// to another key, and the probe goes on; met once `source` is marked,
/// some copier has placed `from` (the mark follows the placement), and this
/// copy is done either way. Ordering: the load of the newer table's slot is
/// Acquire and the writer's write there is a Release CAS that follows its
/// mark in program order, so the reload of `source` below sees the mark.
/// Calling `Eq` here ran user code inside any thread's migration share (a
/// panicking `Eq` then broke other keys' writes), and a non-equivalence
/// `Eq` merged two stored entries, leaking one value's drop.
fn insert_copy<'g, K, V, G: ReclaimGuard>(
    resize: &Resizer<Table<K, V>>,
    mut table: &'g Table<K, V>,
    source: (&Table<K, V>, usize),
    from: Word<'_, K, V>,
    guard: &'g G,
) {
    let e = from.entry().expect("a copied word holds an entry");
    let word = Fresh::moved(from);
    let tag = from.tag();
    'tables: loop {
        for i in table.placement().probe(e.hash()) {
            let mut w = table.slots.load(i, guard);
            if w.is_unclaimed() {
                match table.slots.claim(i, &word, guard) {
                    Ok(()) => {
                        resize.after_copy(table, guard);
                        return;
                    }
                    Err(seen) => w = seen,
                }
            }
            let Some(other) = w.entry() else {
                // Sealed: `table` is migrating and final for this key,
                // which it does not hold; go on.
                table =
                    next_of(table, guard).expect("a sealed slot in a table without a successor");
                continue 'tables;
            };
            if w.tag() != tag {
                continue;
            }
            if std::ptr::eq(other, e) {
                return; // copied by another helper
            }
            // Mutations for checking the tests and the loom models
            // (docs/verification.md): take a same-hash entry for the key, as
            // a hash-only `Eq` would; or never, as if the mark did not count.
            if other.hash() == e.hash()
                && !mutation!("copy_ignores_mark")
                && (mutation!("copy_trusts_hash") || source.0.slots.load(source.1, guard).copied())
            {
                return; // the key is here already, possibly newer (above)
            }
        }
        // Full: make room in a successor and continue there.
        resize.start_resize_full(table, guard);
        table = next_of(table, guard).expect("start_resize installs a successor");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::slot::Pending;
    use crate::raw::{find, Action, RawMap};
    use crate::DefaultHashBuilder;

    /// The slot of `key` in `table`, or the first unclaimed one of its
    /// probe sequence.
    fn slot_of<V>(table: &Table<u64, V>, hash: u64, key: u64, guard: &impl ReclaimGuard) -> usize {
        table
            .placement()
            .probe(hash)
            .find(|&i| {
                let w = table.slots.load(i, guard);
                w.is_unclaimed() || w.entry().is_some_and(|e| e.key == key)
            })
            .expect("a slot for the key")
    }

    /// A writer of a key whose `Hash` gave it another hash (a logic error)
    /// with the same tag never replaces the entry a copy placed: a late
    /// copier of that entry, which stalled between its freeze and its
    /// probe, tells the key's slot by the stored hash, and would place the
    /// entry again, live and retired at once (found by review: a double
    /// drop, and the entry freed while reachable). The writer claims a
    /// slot of its own instead.
    #[test]
    fn a_writer_of_another_hash_leaves_a_copied_entry_to_its_late_copier() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        use std::sync::Arc;
        struct Drops(Arc<AtomicUsize>);
        impl Drop for Drops {
            fn drop(&mut self) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        let drops = Arc::new(AtomicUsize::new(0));
        {
            let raw = RawMap::<u64, Drops, _>::new(16, DefaultHashBuilder::default());
            let guard = raw.pin();
            let key = 1u64;
            let h1 = raw.hash(&key);
            let value = || Drops(Arc::clone(&drops));
            raw.write_owned(Pending::new(h1, key, value()), |_| Action::Put, &guard);
            let t0 = raw.root(&guard);
            raw.resize.start_resize(t0, &guard);
            let t1 = next_of(t0, &guard).expect("T0 -> T1");
            // B freezes the key's slot and stalls; A copies it and marks it.
            let i = slot_of(t0, h1, key, &guard);
            let frozen = t0.slots.freeze(i, &guard);
            copy_slot(&raw.resize, t0, i, frozen, t1, &guard);
            let j = slot_of(t1, h1, key, &guard);
            assert_eq!(t1.slots.load(j, &guard).ptr(), frozen.ptr());
            // W writes the key under another hash: same tag, same home in T1.
            let h2 = (1u64..)
                .map(|m| h1 ^ (m << 7))
                .find(|&h| {
                    h & !crate::raw::slot::HASH_MASK == 0
                        && t1.placement().home(h) == t1.placement().home(h1)
                })
                .expect("a hash with the same tag and home");
            assert_eq!(tag_of(h2), tag_of(h1));
            raw.write_owned(Pending::new(h2, key, value()), |_| Action::Put, &guard);
            assert_eq!(
                t1.slots.load(j, &guard).ptr(),
                frozen.ptr(),
                "a writer of another hash replaced the copied entry"
            );
            // B resumes with its stale word: the entry is there already.
            copy_slot(&raw.resize, t0, i, frozen, t1, &guard);
            let placed = (0..t1.len())
                .filter(|&s| t1.slots.load(s, &guard).ptr() == frozen.ptr())
                .count();
            assert_eq!(placed, 1, "the entry placed twice");
        }
        assert_eq!(drops.load(SeqCst), 2, "each value dropped once");
    }

    /// A writer replaces a copied-in entry only once its source slot is
    /// marked. Keys `a`, `b`, `c` share a hash and `b` equals both others,
    /// `a` not `c` (an `Eq` that is not an equivalence: a logic error).
    /// Copier X places `c`'s entry in T1 and stalls before marking its
    /// source; writer Y of `b` seals `a`'s slot (the first `Eq` takes), and
    /// in T1 meets `c`'s copy first. It replaced it, parking it for
    /// retirement, and a late copier Z of `c`'s source, unmarked, placed it
    /// again: live and retired at once, dropped twice (found by review: 4
    /// drops of 3 values). Y now marks `c`'s source (the copy is in place)
    /// before it replaces the copy, and Z finds the mark.
    #[test]
    fn a_writer_takes_only_the_copy_its_seal_reached() {
        use std::hash::{Hash, Hasher};
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        use std::sync::Arc;
        /// Equal when the ids differ by at most one; one hash for all.
        struct Near(u64);
        impl PartialEq for Near {
            fn eq(&self, other: &Near) -> bool {
                self.0.abs_diff(other.0) <= 1
            }
        }
        impl Eq for Near {}
        impl Hash for Near {
            fn hash<H: Hasher>(&self, state: &mut H) {
                0u8.hash(state);
            }
        }
        struct Drops(Arc<AtomicUsize>);
        impl Drop for Drops {
            fn drop(&mut self) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        let drops = Arc::new(AtomicUsize::new(0));
        {
            // A map whose first table puts the hash's home where Y's share
            // of the migration (the first sub-chunk) does not reach.
            let raw = std::iter::repeat_with(|| {
                RawMap::<Near, Drops, _>::new(16, DefaultHashBuilder::default())
            })
            .take(10_000)
            .find(|raw| {
                let guard = raw.pin();
                let home = raw.root(&guard).placement().home(raw.hash(&Near(0)));
                (8..14).contains(&home)
            })
            .expect("a map with the home past the first sub-chunk");
            let guard = raw.pin();
            let h = raw.hash(&Near(0));
            let value = || Drops(Arc::clone(&drops));
            raw.write_owned(Pending::new(h, Near(0), value()), |_| Action::Put, &guard);
            raw.write_owned(Pending::new(h, Near(2), value()), |_| Action::Put, &guard);
            let t0 = raw.root(&guard);
            let s1 = t0.placement().home(h);
            let s2 = s1 + 1;
            assert_eq!(t0.slots.load(s1, &guard).entry().map(|e| e.key.0), Some(0));
            assert_eq!(t0.slots.load(s2, &guard).entry().map(|e| e.key.0), Some(2));
            raw.resize.start_resize(t0, &guard);
            let t1 = next_of(t0, &guard).expect("T0 -> T1");
            // X: freezes `c`'s slot and places its copy, not yet marked.
            let frozen = t0.slots.freeze(s2, &guard);
            insert_copy(&raw.resize, t1, (t0, s2), frozen, &guard);
            // Y writes `b` through the write engine.
            raw.write_owned(Pending::new(h, Near(1), value()), |_| Action::Put, &guard);
            let placed = |t1: &Table<Near, Drops>| {
                (0..t1.len())
                    .filter(|&j| t1.slots.load(j, &guard).ptr() == frozen.ptr())
                    .count()
            };
            assert!(
                placed(t1) == 1 || t0.slots.load(s2, &guard).copied(),
                "Y replaced the copy of `c` with its source unmarked"
            );
            // Z, a late copier of `c`'s slot, with the word X froze.
            copy_slot(&raw.resize, t0, s2, frozen, t1, &guard);
            assert!(placed(t1) <= 1, "`c`'s entry placed twice");
            // X resumes: its mark.
            t0.slots.mark_copied(s2, frozen);
        }
        assert_eq!(
            drops.load(SeqCst),
            3,
            "each of the three values dropped once"
        );
    }

    /// A seal records the entry it froze, not the one it compared: a write
    /// that reached the table before the resize may replace the key's
    /// entry between the seal's load and its freeze. Writer A of key 0
    /// stalls inside `Eq` before its replace; the resize starts; writer B's
    /// seal loads the key's slot and stalls inside `Eq`; A replaces the
    /// entry and finishes; B freezes and copies A's entry. B recorded the
    /// entry it had compared, refused the copy of A's in the new table and
    /// claimed a slot of its own: the key twice (found by review).
    #[test]
    fn a_seal_records_the_entry_it_froze() {
        use std::cell::RefCell;
        use std::hash::{Hash, Hasher};
        use std::sync::mpsc;
        std::thread_local! {
            /// Run by this thread's next `Eq` call.
            static HOOK: RefCell<Option<Box<dyn FnOnce()>>> = RefCell::new(None);
        }
        struct K(u64);
        impl PartialEq for K {
            fn eq(&self, other: &K) -> bool {
                if let Some(hook) = HOOK.with(|h| h.borrow_mut().take()) {
                    hook();
                }
                self.0 == other.0
            }
        }
        impl Eq for K {}
        impl Hash for K {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.0.hash(state);
            }
        }
        // The key's home past the first sub-chunk, which B's share of the
        // migration copies.
        let raw =
            std::iter::repeat_with(|| RawMap::<K, u64, _>::new(16, DefaultHashBuilder::default()))
                .take(10_000)
                .find(|raw| {
                    let guard = raw.pin();
                    let home = raw.root(&guard).placement().home(raw.hash(&K(0)));
                    (8..14).contains(&home)
                })
                .expect("a map with the home past the first sub-chunk");
        let h = raw.hash(&K(0));
        raw.write_owned(Pending::new(h, K(0), 1), |_| Action::Put, &raw.pin());
        let (a_in_eq, wait_a_in_eq) = mpsc::channel::<()>();
        let (go_a, wait_go_a) = mpsc::channel::<()>();
        let (a_done, wait_a_done) = mpsc::channel::<()>();
        std::thread::scope(|s| {
            let raw = &raw;
            s.spawn(move || {
                HOOK.with(|hook| {
                    *hook.borrow_mut() = Some(Box::new(move || {
                        a_in_eq.send(()).unwrap();
                        wait_go_a.recv().unwrap();
                    }))
                });
                raw.write_owned(Pending::new(h, K(0), 2), |_| Action::Put, &raw.pin());
                a_done.send(()).unwrap();
            });
            wait_a_in_eq.recv().unwrap();
            {
                let guard = raw.pin();
                raw.resize.start_resize(raw.root(&guard), &guard);
            }
            HOOK.with(|hook| {
                *hook.borrow_mut() = Some(Box::new(move || {
                    go_a.send(()).unwrap();
                    wait_a_done.recv().unwrap();
                }))
            });
            let guard = raw.pin();
            raw.write_owned(Pending::new(h, K(0), 3), |_| Action::Put, &guard);
            let t1 = next_of(raw.root(&guard), &guard).expect("T0 -> T1");
            let live: Vec<u64> = (0..t1.len())
                .filter_map(|j| t1.slots.load(j, &guard).live().map(|e| *e.value()))
                .collect();
            assert_eq!(live, [3], "key 0 live in T1 once, with B's value");
        });
    }

    /// The key of the stacked-resize tests below.
    const STACKED: u64 = 0xab00_0000_0000_0001;

    /// T0 holds [`STACKED`], and T0 -> T1 -> T2 are stacked resizes whose
    /// second sealed T1's slot for the key: a copy of the key from T0 goes
    /// on past T1 into T2. Returns the key's hash.
    fn stacked_past_a_sealed_slot<G: ReclaimGuard>(
        raw: &RawMap<u64, u64, DefaultHashBuilder>,
        guard: &G,
    ) -> u64 {
        let hash = raw.hash(&STACKED);
        raw.write_owned(Pending::new(hash, STACKED, 7), |_| Action::Put, guard);
        let t0 = raw.root(guard);
        raw.resize.start_resize(t0, guard);
        let t1 = next_of(t0, guard).expect("T0 -> T1");
        let j = slot_of(t1, hash, STACKED, guard);
        raw.resize.start_resize(t1, guard);
        assert!(t1.slots.seal(j, guard).is_ok());
        hash
    }

    /// The values of the live, unfrozen words of `table` and its successors.
    fn live_from<G: ReclaimGuard>(table: &Table<u64, u64>, guard: &G) -> Vec<u64> {
        let mut live = Vec::new();
        let mut table = Some(table);
        while let Some(t) = table {
            live.extend((0..t.len()).filter_map(|s| {
                let w = t.slots.load(s, guard);
                w.live().filter(|_| !w.frozen()).map(|e| *e.value())
            }));
            table = next_of(t, guard);
        }
        live
    }

    /// Across stacked resizes a write's seal of the first table may forward
    /// the key's copy past the second table, whose slot for the key a
    /// migration of it sealed, into the third; the seal of the second table
    /// then finds no entry, and the write must still take that copy in the
    /// third (found by review: it refused it and stored the key twice).
    #[test]
    fn a_copy_forwarded_past_a_sealed_table_is_the_writes_own() {
        let raw = RawMap::<u64, u64, _>::new(16, DefaultHashBuilder::default());
        let guard = raw.pin();
        let hash = stacked_past_a_sealed_slot(&raw, &guard);
        let t0 = raw.root(&guard);
        raw.write_owned(Pending::new(hash, STACKED, 8), |_| Action::Put, &guard);
        assert_eq!(
            live_from(t0, &guard),
            [8],
            "the key live once, with the new value"
        );
        assert_eq!(
            find(raw.root(&guard), hash, &STACKED, &guard).map(|e| *e.value()),
            Some(8)
        );
    }

    /// A copied-in entry that none of the write's seals found is taken
    /// when no table the write sealed holds it: it came from a table older
    /// than the write's root, whose migration is finished. T0's copy of the
    /// key goes on past T1's sealed slot into T2; T0 is promoted away; a
    /// write from the root T1 finds the key's slot there sealed, and must
    /// take the copy in T2 (a rule that took only what the seals found
    /// stored the key twice).
    #[test]
    fn a_copy_from_a_finished_migration_is_taken() {
        let raw = RawMap::<u64, u64, _>::new(16, DefaultHashBuilder::default());
        let guard = raw.pin();
        let hash = stacked_past_a_sealed_slot(&raw, &guard);
        let t0 = raw.root(&guard);
        let t1 = next_of(t0, &guard).expect("T0 -> T1");
        raw.resize.finish(&raw, t0, &guard);
        assert!(std::ptr::eq(raw.root(&guard), t1), "T0 promoted away");
        raw.write_owned(Pending::new(hash, STACKED, 8), |_| Action::Put, &guard);
        assert_eq!(
            live_from(t1, &guard),
            [8],
            "the key live once, with the new value"
        );
    }

    /// A seal takes the copy of the entry it carries from the previous
    /// table for the key's by its pointer, not by `Eq`. Writer W's seal of
    /// T0 copies the key's entry `e` into T1; at W's seal of T1, a
    /// migrator X of T1 freezes the copy, places it in T2 and stalls
    /// before marking, and `Eq` (nondeterministic: a logic error) says no.
    /// The seal passed the copy and carried `e`; W took `e` in T2 as the
    /// entry its seals found and replaced it, and a late copier of the
    /// unmarked slot placed it again: dropped twice (found by review). The
    /// seal now marks that copy; the `Eq` call X's step hooks into is then
    /// W's compare in T2, whose "no" costs a duplicate key, nothing worse.
    #[test]
    fn a_seal_takes_the_carried_entry_by_its_pointer() {
        use std::cell::{Cell, RefCell};
        use std::hash::{Hash, Hasher};
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        use std::sync::{mpsc, Arc};
        /// Asked at an `Eq` call: `Some(answer)`, or `None` to compare.
        type Hook = Box<dyn FnOnce() -> Option<bool>>;
        std::thread_local! {
            /// `Eq` calls to let through before the hook.
            static SKIP: Cell<usize> = const { Cell::new(0) };
            /// Asked at the next `Eq` call after `SKIP`.
            static HOOK: RefCell<Option<Hook>> = RefCell::new(None);
        }
        struct K(u64);
        impl PartialEq for K {
            fn eq(&self, other: &K) -> bool {
                if SKIP.get() > 0 {
                    SKIP.set(SKIP.get() - 1);
                } else if let Some(hook) = HOOK.with(|h| h.borrow_mut().take()) {
                    if let Some(answer) = hook() {
                        return answer;
                    }
                }
                self.0 == other.0
            }
        }
        impl Eq for K {}
        impl Hash for K {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.0.hash(state);
            }
        }
        struct Drops(Arc<AtomicUsize>);
        impl Drop for Drops {
            fn drop(&mut self) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        enum Step {
            Asked,
            Done,
        }
        // Maps whose placement lets W's own share of the migration freeze
        // T1's copy first never meet the race: try fresh ones until one does
        // (on the old code; the fix leaves the hook nothing to meet).
        for _ in 0..300 {
            let drops = Arc::new(AtomicUsize::new(0));
            let met = {
                let raw = RawMap::<K, Drops, _>::new(16, DefaultHashBuilder::default());
                let guard = raw.pin();
                let h = raw.hash(&K(1));
                let value = || Drops(Arc::clone(&drops));
                raw.write_owned(Pending::new(h, K(1), value()), |_| Action::Put, &guard);
                let t0 = raw.root(&guard);
                let e = (0..t0.len())
                    .map(|i| t0.slots.load(i, &guard).ptr())
                    .find(|p| !p.is_null())
                    .expect("the key's entry");
                raw.resize.start_resize(t0, &guard);
                let t1 = next_of(t0, &guard).expect("T0 -> T1");
                raw.resize.start_resize(t1, &guard);
                let t2 = next_of(t1, &guard).expect("T1 -> T2");
                let (step, wait_step) = mpsc::channel();
                let (answer, wait_answer) = mpsc::channel::<Option<bool>>();
                let mut late = None;
                std::thread::scope(|s| {
                    let (raw, step, v) = (&raw, step.clone(), value());
                    s.spawn(move || {
                        // Past W's seal of T0 (its one `Eq` call there).
                        SKIP.set(1);
                        let asked = step.clone();
                        HOOK.with(|hook| {
                            *hook.borrow_mut() = Some(Box::new(move || {
                                asked.send(Step::Asked).unwrap();
                                wait_answer.recv().unwrap()
                            }))
                        });
                        raw.write_owned(Pending::new(h, K(1), v), |_| Action::Put, &raw.pin());
                        HOOK.with(|hook| hook.borrow_mut().take());
                        step.send(Step::Done).unwrap();
                    });
                    while let Step::Asked = wait_step.recv().unwrap() {
                        // X: freezes T1's copy of `e`, places it in T2, stalls.
                        let j = (0..t1.len()).find(|&j| {
                            let w = t1.slots.load(j, &guard);
                            w.ptr() == e && !w.frozen()
                        });
                        if let Some(j) = j {
                            let frozen = t1.slots.freeze(j, &guard);
                            insert_copy(&raw.resize, t2, (t1, j), frozen, &guard);
                            late = Some(j);
                        }
                        answer.send(j.map(|_| false)).unwrap();
                    }
                });
                // A late copier of T1's slot, frozen and unmarked: the hook met
                // the copy unfrozen only where the seal had passed it.
                if let Some(j) = late {
                    let w = t1.slots.load(j, &guard);
                    copy_slot(&raw.resize, t1, j, w, t2, &guard);
                }
                late.is_some()
            };
            assert_eq!(drops.load(SeqCst), 2, "each value dropped once");
            if met {
                break;
            }
        }
    }

    /// The generic map's side of the stacked-resize case the `WordMap` got
    /// wrong (`word::raw::tests`): a copy from T0 whose slot in T1 a
    /// migration of T1 sealed goes on to T2, and whose claim in T1 a
    /// migration froze before copying it on; in both, a lookup from the
    /// root finds the key before the copy's mark, and from each table that
    /// holds or forwards it after.
    /// (The generic copy claims with the entry itself, so a frozen claim is
    /// never an empty one; this test keeps it so.)
    #[test]
    fn a_copy_across_stacked_resizes_leaves_the_key_findable() {
        for freeze_claim in [false, true] {
            let raw = RawMap::<u64, u64, _>::new(16, DefaultHashBuilder::default());
            let guard = raw.pin();
            let (key, value) = (0xab00_0000_0000_0001u64, 7u64);
            let hash = raw.hash(&key);
            raw.write_owned(Pending::new(hash, key, value), |_| Action::Put, &guard);
            let t0 = raw.root(&guard);
            raw.resize.start_resize(t0, &guard);
            let t1 = next_of(t0, &guard).expect("T0 -> T1");
            // A: freezes the key's slot in T0.
            let i = slot_of(t0, hash, key, &guard);
            let frozen = t0.slots.freeze(i, &guard);
            let j = slot_of(t1, hash, key, &guard);
            if freeze_claim {
                // A claims in T1 (the entry itself), then T1's migration
                // freezes that slot before copying it.
                insert_copy(&raw.resize, t1, (t0, i), frozen, &guard);
                raw.resize.start_resize(t1, &guard);
                t1.slots.freeze(j, &guard);
            } else {
                // T1's migration seals the key's empty slot first.
                raw.resize.start_resize(t1, &guard);
                assert!(t1.slots.seal(j, &guard).is_ok());
            }
            let t2 = next_of(t1, &guard).expect("T1 -> T2");
            // Before the copy lands, lookups start at the root, T0 (T1
            // becomes the root only once T0 is finished, and that waits
            // for this copy).
            let found = find(t0, hash, &key, &guard).map(|e| *e.value());
            assert_eq!(found, Some(value), "T0, before the mark");
            copy_slot(&raw.resize, t0, i, frozen, t1, &guard);
            for (from, name) in [(t0, "T0"), (t1, "T1"), (t2, "T2")] {
                let found = find(from, hash, &key, &guard).map(|e| *e.value());
                if name == "T2" && freeze_claim {
                    // Nobody copied T1's frozen claim on yet: T2 does not
                    // hold the key, and a lookup never starts there while
                    // T1 is unfinished.
                    continue;
                }
                assert_eq!(found, Some(value), "{name}, after the mark");
            }
        }
    }
}
