//! loom models of every CAS protocol of lfmap. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p lfmap-loom-tests`.
//!
//! Each model starts from a 4-slot table (lfmap's loom minimum), so a
//! handful of keys is enough to make a resize happen inside the model.
#![cfg(loom)]
// Each model's doc opens with its number ("7. an update races ..."), which
// rustdoc reads as a list item; it is a label.
#![allow(clippy::doc_lazy_continuation)]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use lfmap::HashMap;
use lfmap_loom_tests::{model, model_bounded, race, Collide, Fixed};
use loom::sync::Arc;
use loom::thread;

type Map = HashMap<u64, u64, Fixed>;

fn map() -> Arc<Map> {
    Arc::new(HashMap::with_hasher(Fixed))
}

/// A map holding `keys`, each mapped to itself, and on the brink of a
/// resize: 3 of the 4 slots are claimed, so the next new key starts one.
fn nearly_full() -> Arc<Map> {
    let map = map();
    {
        let m = map.pin();
        for k in [1, 2, 3] {
            m.insert(k, k);
        }
    }
    assert_eq!(map.stats().resizes, 0);
    map
}

/// Inserts keys 4 and 5 into a [`nearly_full`] map: the first starts a
/// resize, the second helps it.
fn grow(map: &Map) {
    let m = map.pin();
    assert_eq!(m.insert(4, 4), None);
    assert_eq!(m.insert(5, 5), None);
}

/// Runs [`grow`] on one thread while another looks key 1 up (present,
/// value 1) and adds 100 to it: the update lands exactly once, on the
/// value it saw.
fn update_racing_growth(map: &Arc<Map>) {
    let (m1, m2) = (map.clone(), map.clone());
    let ((), updated) = race(
        move || grow(&m1),
        move || {
            let m = m2.pin();
            assert_eq!(m.get(&1), Some(&1));
            m.update(&1, |v| v + 100).copied()
        },
    );
    assert_eq!(updated, Some(101));
}

/// After [`update_racing_growth`] on a map that held key 1 alone: keys 1
/// (updated), 4 and 5, nothing else, each once. (A walk starts from a
/// stable root: it finishes the migration.)
fn check_after_growth(map: &Map) {
    let m = map.pin();
    for (k, v) in [(1, 101), (4, 4), (5, 5)] {
        assert_eq!(m.get(&k), Some(&v), "key {k}");
    }
    assert_eq!(m.get(&2), None);
    assert_eq!(m.iter().count(), 3);
    assert_eq!(map.len(), 3);
}

/// 1. insert vs insert of the same key: one wins the claim, the other sees
/// it as the previous value (or is ordered after it); the final value is
/// the one inserted last.
#[test]
fn insert_insert_same_key() {
    model(|| {
        let map = map();
        let (m1, m2) = (map.clone(), map.clone());
        let (first, second) = race(
            move || m1.pin().insert(7, 1).copied(),
            move || m2.pin().insert(7, 2).copied(),
        );
        let last = *map.pin().get(&7).unwrap();
        match (first, second) {
            (None, Some(1)) => assert_eq!(last, 2),
            (Some(2), None) => assert_eq!(last, 1),
            other => panic!("impossible outcome {other:?}"),
        }
        assert_eq!(map.len(), 1);
    });
}

/// 2. insert vs insert of different keys colliding on one probe sequence
/// (a constant hash): both are present afterwards, each exactly once.
#[test]
fn insert_insert_colliding_keys() {
    model(|| {
        let map: Arc<HashMap<u64, u64, Collide>> = Arc::new(HashMap::with_hasher(Collide));
        let (m1, m2) = (map.clone(), map.clone());
        race(
            move || assert_eq!(m1.pin().insert(1, 10), None),
            move || assert_eq!(m2.pin().insert(2, 20), None),
        );
        let m = map.pin();
        assert_eq!(m.get(&1), Some(&10));
        assert_eq!(m.get(&2), Some(&20));
        assert_eq!(m.iter().count(), 2);
    });
}

/// 3. insert vs remove of the same key: the remove either saw the insert
/// (and the key is gone) or ran before it (and the key stays).
#[test]
fn insert_remove_same_key() {
    model(|| {
        let map = map();
        let (m1, m2) = (map.clone(), map.clone());
        let (inserted, removed) = race(
            move || m1.pin().insert(5, 50).copied(),
            move || m2.pin().remove(&5).copied(),
        );
        assert_eq!(inserted, None);
        let now = map.pin().get(&5).copied();
        match removed {
            Some(50) => assert_eq!(now, None),
            None => assert_eq!(now, Some(50)),
            other => panic!("removed a value never inserted: {other:?}"),
        }
    });
}

/// 4. get vs insert then remove: the reader sees before, between or after,
/// never anything else.
#[test]
fn get_vs_insert_remove() {
    model(|| {
        let map = map();
        let (m1, m2) = (map.clone(), map.clone());
        let ((), seen) = race(
            move || {
                let m = m1.pin();
                m.insert(9, 90);
                m.remove(&9);
            },
            move || m2.pin().get(&9).copied(),
        );
        assert!(seen.is_none() || seen == Some(90), "{seen:?}");
        assert_eq!(map.pin().get(&9), None);
    });
}

/// 5. update vs update on one key: no update is lost.
#[test]
fn update_update_no_lost_update() {
    model(|| {
        let map = map();
        map.pin().insert(1, 0);
        let (m1, m2) = (map.clone(), map.clone());
        let (a, b) = race(
            move || m1.pin().update(&1, |v| v + 1).copied(),
            move || m2.pin().update(&1, |v| v + 1).copied(),
        );
        let mut seen = [a.unwrap(), b.unwrap()];
        seen.sort_unstable();
        assert_eq!(seen, [1, 2]);
        assert_eq!(map.pin().get(&1), Some(&2));
    });
}

/// 6. get_or_insert vs get_or_insert: exactly one winner, and both callers
/// see the winner's value.
#[test]
fn get_or_insert_one_winner() {
    model(|| {
        let map = map();
        let (m1, m2) = (map.clone(), map.clone());
        let (a, b) = race(
            move || *m1.pin().get_or_insert(4, 1),
            move || *m2.pin().get_or_insert(4, 2),
        );
        assert_eq!(a, b);
        assert_eq!(map.pin().get(&4), Some(&a));
    });
}

/// 7. a write racing a migration: one thread's insert starts a resize and
/// helps it, the other updates an existing key meanwhile (helping too).
/// Nothing is lost and no write lands behind the copy.
#[test]
fn write_racing_migration() {
    model(|| {
        let map = nearly_full();
        let (m1, m2) = (map.clone(), map.clone());
        let ((), updated) = race(
            move || grow(&m1),
            move || m2.pin().update(&1, |v| v + 100).copied(),
        );
        assert_eq!(updated, Some(101));
        assert!(map.stats().resizes >= 1);
        let m = map.pin();
        for (k, v) in [(1, 101), (2, 2), (3, 3), (4, 4), (5, 5)] {
            assert_eq!(m.get(&k), Some(&v), "key {k}");
        }
        assert_eq!(m.iter().count(), 5);
        assert_eq!(map.len(), 5);
    });
}

/// 8. get racing a migration: a reader looking up keys that are present
/// throughout always finds them, in the old table or the new one.
#[test]
fn get_racing_migration() {
    model(|| {
        let map = nearly_full();
        let (m1, m2) = (map.clone(), map.clone());
        race(
            move || grow(&m1),
            move || {
                let m = m2.pin();
                assert_eq!(m.get(&1), Some(&1));
                assert_eq!(m.get(&3), Some(&3));
            },
        );
        assert!(map.stats().resizes >= 1);
    });
}

/// 9. iteration racing a resize: keys present throughout are yielded
/// exactly once, and no key twice.
#[test]
fn iter_racing_resize() {
    model(|| {
        let map = nearly_full();
        let (m1, m2) = (map.clone(), map.clone());
        race(
            move || grow(&m1),
            move || {
                let m = m2.pin();
                let mut keys: Vec<u64> = m.keys().copied().collect();
                keys.sort_unstable();
                let before = keys.len();
                keys.dedup();
                assert_eq!(keys.len(), before, "a key was yielded twice: {keys:?}");
                for stable in [1, 2, 3] {
                    assert!(
                        keys.contains(&stable),
                        "stable key {stable} missed: {keys:?}"
                    );
                }
            },
        );
    });
}

/// 9b. iteration racing a resize and then an update of a key the resize
/// moved: the walk yields key 1 with the value it has when the walk
/// reaches its slot (following the slot into the new table where the
/// resize copied it), and every stable key once.
#[test]
fn iter_racing_update_of_moved_key() {
    model(|| {
        let map = nearly_full();
        let (m1, m2) = (map.clone(), map.clone());
        race(
            move || {
                let m = m1.pin();
                assert_eq!(m.insert(4, 4), None);
                assert_eq!(m.insert(1, 10), Some(&1));
            },
            move || {
                let m = m2.pin();
                let mut pairs: Vec<(u64, u64)> = m.iter().map(|(&k, &v)| (k, v)).collect();
                pairs.sort_unstable();
                // Key 4, inserted during the walk, may or may not come (it
                // goes to the new table: the walk's holds it only if the
                // insert came first); key 1 comes once, before or after its
                // update.
                let (k1, rest) = pairs.split_first().expect("key 1 missed");
                assert!(*k1 == (1, 1) || *k1 == (1, 10), "{pairs:?}");
                assert!(
                    rest == [(2, 2), (3, 3)] || rest == [(2, 2), (3, 3), (4, 4)],
                    "{pairs:?}"
                );
            },
        );
        assert!(map.stats().resizes >= 1);
    });
}

/// 9c. an iteration whose own thread removes a key ahead of the walk while
/// a resize races: the walk reaches each slot of its table after the
/// removal, and where the resize (or the removal's seal) copied the slot
/// forward, it looks the key up where it is now, so it never yields key 1
/// after its removal (as Go promises); keys 2 and 3 are yielded once each.
/// Before the twelfth session the walk yielded a copied slot's frozen entry
/// (mutation `walk_yields_frozen`), key 1 among them.
#[test]
fn iter_skips_a_key_removed_ahead() {
    model(|| {
        let map = nearly_full();
        let (m1, m2) = (map.clone(), map.clone());
        race(
            move || grow(&m1),
            move || {
                let m = m2.pin();
                let walk = m.iter();
                assert_eq!(m.remove(&1), Some(&1));
                let mut pairs: Vec<(u64, u64)> = walk.map(|(&k, &v)| (k, v)).collect();
                pairs.sort_unstable();
                let mut keys: Vec<u64> = pairs.iter().map(|&(k, _)| k).collect();
                keys.dedup();
                assert_eq!(keys.len(), pairs.len(), "a key yielded twice: {pairs:?}");
                assert!(
                    pairs.iter().all(|&(k, _)| k != 1),
                    "key 1 yielded after its removal: {pairs:?}"
                );
                assert!(
                    pairs.starts_with(&[(2, 2), (3, 3)]),
                    "keys 2 and 3 once each: {pairs:?}"
                );
            },
        );
    });
}

/// A value that records its own drop, and checks it is not read after.
/// `cell` makes loom check the order, not only the fact: a reader reads it
/// (`with`) and the drop writes it (`with_mut`), so a drop that is not
/// ordered after every pinned reader's read is a causality violation, even
/// if it happens later in the execution (which `alive` alone cannot see).
struct Tracked {
    value: u64,
    drops: &'static AtomicUsize,
    alive: bool,
    cell: loom::cell::UnsafeCell<u64>,
}

// SAFETY: the cell is read by pinned readers and written only by the drop;
// loom checks that every such read happens before that write (that is what
// the model tests), and reports any that does not.
unsafe impl Sync for Tracked {}

impl Tracked {
    fn new(value: u64, drops: &'static AtomicUsize) -> Tracked {
        Tracked {
            value,
            drops,
            alive: true,
            cell: loom::cell::UnsafeCell::new(value),
        }
    }

    /// Reads the value through the checked cell.
    fn read(&self) -> u64 {
        // SAFETY: written only by the drop, which loom checks is ordered
        // after this read.
        self.cell.with(|p| unsafe { *p })
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        assert!(self.alive, "dropped twice");
        self.alive = false;
        // SAFETY: we own the value; loom checks no read races this write.
        self.cell.with_mut(|p| unsafe { *p = 0 });
        self.drops.fetch_add(1, SeqCst);
    }
}

/// A map holding key 1 mapped to a `Tracked` 10, whose drops (and those of
/// every value the model adds) `drops` counts from 0.
fn tracked_map(drops: &'static AtomicUsize) -> Arc<HashMap<u64, Tracked, Fixed>> {
    drops.store(0, SeqCst);
    let map = Arc::new(HashMap::with_hasher(Fixed));
    map.pin().insert(1, Tracked::new(10, drops));
    map
}

/// 10. reclamation: a value read by a pinned reader stays valid while the
/// reader is pinned, even though a writer replaces and retires it; every
/// value is dropped exactly once by the end.
#[test]
fn reclamation_respects_pins() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    model(|| {
        let map = tracked_map(&DROPS);
        let (m1, m2) = (map.clone(), map.clone());
        race(
            move || {
                let m = m1.pin();
                m.insert(1, Tracked::new(11, &DROPS));
                m.remove(&1);
            },
            move || {
                let m = m2.pin();
                if let Some(v) = m.get(&1) {
                    thread::yield_now();
                    assert!(v.alive, "a value was freed while a pinned reader held it");
                    assert!(v.value == 10 || v.value == 11);
                    assert_eq!(v.read(), v.value);
                }
            },
        );
        drop(map);
        assert_eq!(DROPS.load(SeqCst), 2);
    });
}

/// 11. a same-size rebuild, which rehashes (`resize/probe.rs`: a fresh
/// salt, so every key may have another home in the new table), racing
/// an update and a lookup: key 1 stays present and gets its update exactly
/// once, wherever the copy and the write land. Keys 2 and 3 are removed,
/// leaving tombstones, so the next new key fills the 4-slot table and
/// starts the rebuild; the second new key helps it. Key 2 goes before key
/// 3 comes, so the map is half live when its third slot is claimed: the
/// successor prepared then is the rebuild (at most half live, the resize
/// rebuilds; more, and it would double).
#[test]
fn write_racing_rehash() {
    model(|| {
        let map = map();
        {
            let m = map.pin();
            m.insert(1, 1);
            m.insert(2, 2);
            assert_eq!(m.remove(&2), Some(&2));
            m.insert(3, 3);
            assert_eq!(m.remove(&3), Some(&3));
        }
        assert_eq!(map.stats().resizes, 0);
        update_racing_growth(&map);
        let stats = map.stats();
        assert!(stats.resizes >= 1 && stats.slots == 4, "{stats:?}");
        check_after_growth(&map);
    });
}

/// 12. `reserve` (a resize to a size the caller chose, migrated by the
/// caller with `finish`) racing an update: the update lands exactly once,
/// nothing is lost or duplicated, and the table ends as large as reserved.
/// The writer helps and seals its key as in any resize.
#[test]
fn reserve_racing_update() {
    model(|| {
        let map = nearly_full();
        let (m1, m2) = (map.clone(), map.clone());
        let ((), updated) = race(
            move || m1.reserve(2),
            move || m2.pin().update(&1, |v| v + 100).copied(),
        );
        assert_eq!(updated, Some(101));
        assert!(map.capacity() >= 5, "capacity {}", map.capacity());
        let m = map.pin();
        for (k, v) in [(1, 101), (2, 2), (3, 3)] {
            assert_eq!(m.get(&k), Some(&v), "key {k}");
        }
        assert_eq!(m.iter().count(), 3);
        assert_eq!(map.len(), 3);
    });
}

/// 13. preparing the next table (`Resizer::prepare`: published once in the
/// root's `prepared` when the table is half full) racing the resize that
/// installs it: whichever thread prepares, and whether the resize finds
/// the prepared table or allocates its own (the loser of either CAS frees
/// what it allocated), every key lands exactly once, and each table is
/// freed once: the prepared one by the chain when installed, with the
/// table that prepared it otherwise (`free_installed_prepared` frees it
/// twice).
#[test]
fn prepare_racing_resize() {
    model(|| {
        let map = map();
        assert_eq!(map.pin().insert(1, 1), None);
        let (m1, m2) = (map.clone(), map.clone());
        race(
            move || {
                let m = m1.pin();
                assert_eq!(m.insert(2, 2), None);
                assert_eq!(m.insert(3, 3), None);
            },
            move || {
                let m = m2.pin();
                assert_eq!(m.insert(4, 4), None);
                assert_eq!(m.insert(5, 5), None);
            },
        );
        assert!(map.stats().resizes >= 1);
        let m = map.pin();
        for k in 1..=5 {
            assert_eq!(m.get(&k), Some(&k), "key {k}");
        }
        assert_eq!(m.iter().count(), 5);
        assert_eq!(map.len(), 5);
    });
}

/// A key that checks, whenever it is compared, that it was not dropped: a
/// reader that compares keys through a freed entry finds `alive` false, or,
/// if the allocator already wrote over the freed memory, another key, and
/// then misses the key it looks up. (Reading freed memory is what the
/// model exists to rule out; it only happens with a planted bug.)
struct CheckedKey {
    k: u64,
    alive: bool,
}

impl CheckedKey {
    fn new(k: u64) -> CheckedKey {
        CheckedKey { k, alive: true }
    }
}

impl std::hash::Hash for CheckedKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.k);
    }
}

impl PartialEq for CheckedKey {
    fn eq(&self, other: &Self) -> bool {
        assert!(
            self.alive && other.alive,
            "a key was compared through a freed entry"
        );
        self.k == other.k
    }
}

impl Eq for CheckedKey {}

impl Drop for CheckedKey {
    fn drop(&mut self) {
        assert!(self.alive, "a key dropped twice");
        self.alive = false;
    }
}

/// 14. reclamation across a migration: an entry that a migration copied
/// into the new table and a writer then replaced there is still reached
/// through the old table's frozen word until that table is unlinked, and
/// readers compare its key there. It must wait for the unlinking
/// (`Word::inherited`, `Table::defer_retire`); an entry a writer placed in
/// the new table itself is retired at once, which the deferred backend's
/// count of retired objects shows. The writer fills an 8-slot
/// table to its limit, starts a resize with a new key and then replaces
/// key 1 (its write's share having copied key 1 first, or the write
/// copying it itself) while the migration, four sub-chunks, is unfinished;
/// the reader, pinned at any point of that, looks key 1 up.
#[test]
fn reclamation_across_migration() {
    model(|| {
        type KeyMap = HashMap<CheckedKey, u64, Fixed>;
        let map: Arc<KeyMap> = Arc::new(HashMap::with_capacity_and_hasher(4, Fixed));
        let keys = map.capacity() as u64;
        {
            let m = map.pin();
            for k in 1..=keys {
                m.insert(CheckedKey::new(k), k);
            }
        }
        let s = map.stats();
        assert!(s.slots == 8 && s.resizes == 0, "{s:?}");
        assert_eq!(s.capacity, keys as usize, "{s:?}");
        let (m1, m2) = (map.clone(), map.clone());
        race(
            move || {
                let m = m1.pin();
                assert_eq!(m.insert(CheckedKey::new(keys + 1), 0), None);
                assert_eq!(m.insert(CheckedKey::new(1), 10), Some(&1));
                assert_eq!(m.insert(CheckedKey::new(1), 11), Some(&10));
            },
            move || {
                let v = m2.pin().get(&CheckedKey::new(1)).copied();
                assert!(
                    matches!(v, Some(1 | 10 | 11)),
                    "the reader missed key 1 or read a value it never held: {v:?}"
                );
            },
        );
        let s = map.stats();
        assert!(s.resizes == 1 && s.resizes_finished == 0, "{s:?}");
        // With the deferred backend (nothing is freed before the map's
        // drop) the count of retired objects shows which replaced entry
        // waits: the writer's own (value 10) is retired at once, the
        // copied one (value 1) is parked until the old table goes.
        if lfmap::__loom::DEFERRED_RECLAMATION {
            assert_eq!(s.pending_garbage, 1, "{s:?}");
        }
        assert_eq!(map.pin().get(&CheckedKey::new(1)), Some(&11));
    });
}

/// 15. a prepared table of another kind than the resize wanted, installed
/// (`policy::prepared_serves`): keys 1 to 3 fill 3 of 4 slots, more than
/// half live, so the successor prepared then is the doubling (8 slots).
/// Keys 2 and 3 are removed: the resize that key 4 starts wants a rebuild
/// (half live), and the prepared doubling serves it (at least 7/16 live).
/// An update and a lookup race that migration: key 1 stays visible and
/// gets its update exactly once, and the table doubled.
#[test]
fn write_racing_prepared_doubling() {
    model(|| {
        let map = nearly_full();
        {
            let m = map.pin();
            assert_eq!(m.remove(&2), Some(&2));
            assert_eq!(m.remove(&3), Some(&3));
        }
        update_racing_growth(&map);
        check_after_growth(&map);
        let stats = map.stats();
        assert!(stats.resizes == 1 && stats.slots == 8, "{stats:?}");
    });
}

/// 16. a migration's copies reach a thread through the completion counts
/// alone. Keys 3 and 1 (T0 slots 0 and 1, T1 homes 1 and 3) and 5 (T0 slot
/// 2, T1 home 4) fill 3 of 4 slots; inserting 6 (T0 slot 3, T1 home 7)
/// starts the growth to 8 slots, nothing migrated. One thread inserts 12
/// (helping: one sub-chunk of T0); the other updates 5 (helping: the
/// other sub-chunk) and then looks up 3 and 1. The two sub-chunks' copies
/// land in different halves of T1, so neither thread's CAS meets the
/// other's: when the updater completes the table and promotes it, then
/// looks up the keys the inserter copied, only the range word's and
/// `done`'s AcqRel counts (`cursor.rs`, `complete`) order those copies
/// before its loads. Mutation `range_relaxed` (the counts Relaxed): the
/// lookup misses a key present throughout.
#[test]
fn get_after_cross_promotion() {
    model(|| {
        let map = map();
        {
            let m = map.pin();
            for k in [3, 1, 5, 6] {
                m.insert(k, k);
            }
        }
        let s = map.stats();
        assert!(s.resizes == 1 && s.resizes_finished == 0, "{s:?}");
        let (m1, m2) = (map.clone(), map.clone());
        race(
            move || assert_eq!(m1.pin().insert(12, 12), None),
            move || {
                let m = m2.pin();
                assert_eq!(m.update(&5, |v| v + 100), Some(&105));
                for k in [3, 1] {
                    assert_eq!(m.get(&k), Some(&k), "key {k}");
                }
            },
        );
        let m = map.pin();
        for (k, v) in [(3, 3), (1, 1), (5, 105), (6, 6), (12, 12)] {
            assert_eq!(m.get(&k), Some(&v), "key {k}");
        }
        assert_eq!(m.iter().count(), 5);
    });
}

/// 17. a migration's copies reach a thread through `done` alone: two
/// ranges, each completed by its own thread. An 8-slot table (two ranges
/// of two sub-chunks) holding 6 keys starts its growth to 16 slots on the
/// 7th, nothing migrated. Each thread then updates two keys (two helping
/// writes: four sub-chunks in all) and looks every key up. Where one
/// thread completes one range alone and the other the other range, the
/// ranges' words are different words: the thread whose `done` count
/// completes the table, and which promotes it, is ordered after the other
/// range's copies only by `done`'s AcqRel `fetch_add` (`cursor.rs`,
/// `complete`). Mutation `done_relaxed` (that count Relaxed, the range
/// words' still AcqRel): a lookup after the promotion misses a key the
/// other thread copied. The largest of the generic models: it runs at a
/// preemption bound of at most 2 ([`model_bounded`]; at 1 it passes under
/// the mutation too).
#[test]
fn get_after_two_range_promotion() {
    model_bounded(2, || {
        let map: Arc<Map> = Arc::new(HashMap::with_capacity_and_hasher(4, Fixed));
        assert_eq!(map.stats().slots, 8);
        let keys = {
            let m = map.pin();
            let mut keys = Vec::new();
            let mut k = 1;
            while map.stats().resizes == 0 {
                assert_eq!(m.insert(k, k), None);
                keys.push(k);
                k += 1;
            }
            keys
        };
        let s = map.stats();
        assert!(
            keys.len() == 7 && s.resizes == 1 && s.resizes_finished == 0 && s.chunks_helped == 0,
            "{keys:?} {s:?}"
        );
        let (m1, m2) = (map.clone(), map.clone());
        let lookups = |m: &Map, mine: [u64; 2]| {
            let m = m.pin();
            for k in mine {
                assert_eq!(m.update(&k, |v| v + 100), Some(&(k + 100)));
            }
            for k in 1..=7 {
                let want = if k <= 4 { k + 100 } else { k };
                // The other thread's keys may or may not be updated yet.
                let got = *m.get(&k).unwrap_or_else(|| panic!("key {k} missing"));
                assert!(got == k || got == want, "key {k}: {got}");
            }
        };
        race(move || lookups(&m1, [1, 2]), move || lookups(&m2, [3, 4]));
        let m = map.pin();
        for k in 1..=7 {
            let want = if k <= 4 { k + 100 } else { k };
            assert_eq!(m.get(&k), Some(&want), "key {k}");
        }
        assert_eq!(m.iter().count(), 7);
        let s = map.stats();
        assert!(s.resizes_finished == 1 && s.slots == 16, "{s:?}");
    });
}

/// 18. a removal racing a re-insert of its key: the removal leaves a keyed
/// tombstone and retires only the value's drop; the re-insert either
/// replaces the value first (the removal then removes the new one, whose
/// tombstone its table frees with it) or revives the tombstone, retiring
/// the old entry, whose key and block go once both that free and the
/// value's drop have run, in either order (`raw/slot.rs`, `Meta`). The
/// remover reads the value before removing it and checks it after: its
/// own pin keeps it alive. Every value is dropped exactly once (a second
/// drop panics in `Tracked::drop`).
#[test]
fn remove_racing_revive() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    model(|| {
        let map = tracked_map(&DROPS);
        let (m1, m2) = (map.clone(), map.clone());
        let (removed, replaced) = race(
            move || {
                let m = m1.pin();
                let removed = m.remove(&1).map(|v| {
                    thread::yield_now();
                    assert!(
                        v.alive,
                        "a removed value was dropped under its remover's pin"
                    );
                    assert_eq!(v.read(), v.value);
                    v.value
                });
                removed
            },
            move || {
                m2.pin()
                    .insert(1, Tracked::new(11, &DROPS))
                    .map(|v| v.value)
            },
        );
        let now = map.pin().get(&1).map(|v| v.value);
        match (removed, replaced, now) {
            // The removal first, then the re-insert revived the tombstone.
            (Some(10), None, Some(11)) => {}
            // The re-insert replaced 10, and the removal took 11.
            (Some(11), Some(10), None) => {}
            other => panic!("not a linearizable outcome: {other:?}"),
        }
        drop(map);
        assert_eq!(DROPS.load(SeqCst), 2);
    });
}

/// 19. An idle resize helper parks, and a resize that starts then rings
/// it awake (`resize/parking.rs`, the handshake as it ships; helpers do not
/// park in the other models). Two helpers park unless their last look
/// sees the work; the main thread publishes the work (a Relaxed store: the
/// fences alone must carry it) and rings once. Under loom a park has no
/// timeout, so a lost ring leaves a helper parked for good, which loom
/// reports as a deadlock. Two helpers, so that one leaving the list while
/// the other announces itself is explored too (a leave that cleared `any`
/// whatever the list held would hide the second from the ring). The
/// ringer rings only if the map has a helper (`Resizer::ring`): each
/// helper registers (a Relaxed add, as `ResizeHelper::new`'s) before it
/// ever parks, and the ringer reads the count after its fence.
/// `ring_without_fence` makes it fail.
#[test]
fn parked_helper_is_rung() {
    use lfmap::__loom::Parking;
    use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
    use std::time::Duration;
    model(|| {
        let parking = Arc::new(Parking::new());
        let work = Arc::new(AtomicBool::new(false));
        let assistants = Arc::new(AtomicUsize::new(0));
        let helper =
            |parking: Arc<Parking>, work: Arc<AtomicBool>, assistants: Arc<AtomicUsize>| {
                thread::spawn(move || {
                    assistants.fetch_add(1, Relaxed);
                    // Parks until rung; woken, it looks again (a real helper
                    // loops, looking for work, in the same way).
                    while parking
                        .park_unless(|| work.load(Relaxed).then_some(()), Duration::MAX)
                        .is_none()
                    {}
                })
            };
        let h1 = helper(parking.clone(), work.clone(), assistants.clone());
        let h2 = helper(parking.clone(), work.clone(), assistants.clone());
        work.store(true, Relaxed);
        parking.ring_if(|| assistants.load(Relaxed) > 0);
        h1.join().unwrap();
        h2.join().unwrap();
    });
}

/// 20. A replaced entry that a migration copied in is parked on its new
/// table's deferred list while the old table can still reach it, and the
/// promotion that unlinks the old table drains the list
/// (`Table::defer_retire`, `release_older`). The writer's push and the
/// promoter's drain race: a store-buffering pair (the writer pushes, then
/// reads the flag; the promoter clears the flag, then takes the list),
/// which `SeqCst` on both sides and the writer's look at the flag after
/// its push close: whichever comes second drains. Here the writer starts a
/// resize of a full 8-slot table and replaces key 1, copied in by its
/// share, while another thread finishes the migration (a walk does) and
/// promotes; the main thread then finishes it if it is still open. Every
/// replaced entry must have been retired, none left parked: with the
/// deferred backend (nothing freed before the map's drop) the count of
/// retired objects shows it. Mutation `defer_skip_recheck` (no look after
/// the push) leaves the entry parked when the drain came first.
#[test]
fn defer_racing_promotion() {
    model(|| {
        let map: Arc<Map> = Arc::new(HashMap::with_capacity_and_hasher(4, Fixed));
        let keys = map.capacity() as u64;
        {
            let m = map.pin();
            for k in 1..=keys {
                m.insert(k, k);
            }
        }
        let s = map.stats();
        assert!(s.slots == 8 && s.resizes == 0, "{s:?}");
        let (m1, m2) = (map.clone(), map.clone());
        race(
            move || {
                let m = m1.pin();
                assert_eq!(m.insert(keys + 1, 0), None);
                assert_eq!(m.insert(1, 10), Some(&1));
            },
            move || {
                // A walk starts from a stable root: it finishes the
                // migration, if one runs, and promotes.
                let n = m2.pin().iter().count() as u64;
                assert!(n == keys || n == keys + 1, "{n}");
            },
        );
        // Finished here if the walk came before the resize.
        assert_eq!(map.pin().iter().count() as u64, keys + 1);
        let s = map.stats();
        assert!(s.resizes == 1 && s.resizes_finished == 1, "{s:?}");
        if lfmap::__loom::DEFERRED_RECLAMATION {
            // The old table and key 1's first entry, parked or not.
            assert_eq!(s.pending_garbage, 2, "a replaced entry left parked: {s:?}");
        }
        assert_eq!(map.pin().get(&1), Some(&10));
    });
}

/// 21. Two `compare_exchange`s of one key from the same expected value:
/// exactly one replaces it, and the other fails on the winner's value and
/// gets its own value back. A loser that decided before the winner's CAS
/// takes its value back out of its unpublished attempt when the changed
/// entry sends it to `decide` again (`cx_drops_stale_attempt` drops the
/// attempt instead, and the loser has nothing to give back).
#[test]
fn compare_exchanges_of_one_key() {
    model(|| {
        let map = nearly_full();
        let (m1, m2) = (map.clone(), map.clone());
        let exchange = |m: Arc<Map>, new: u64| {
            let h = m.pin();
            let r = h.compare_exchange(&1, &1, new);
            r.copied().map_err(|e| (e.current.copied(), e.new))
        };
        let (a, b) = race(move || exchange(m1, 10), move || exchange(m2, 20));
        let winner = match (a, b) {
            (Ok(1), Err((Some(10), 20))) => 10,
            (Err((Some(20), 10)), Ok(1)) => 20,
            other => panic!("not one winner and one loser: {other:?}"),
        };
        assert_eq!(map.pin().get(&1), Some(&winner));
        assert_eq!(map.len(), 3);
    });
}

/// 22. A `compare_exchange` racing an insert of the value it expects: it
/// always succeeds, on whichever entry holds that value. One that decided
/// on the first entry and lost its CAS to the insert takes its value back
/// out of the stale attempt and decides again on the new entry, with that
/// entry's key (`cx_drops_stale_attempt` drops the attempt, and nothing is
/// left to publish). The two orders are told apart by what the insert
/// replaced: the insert then the exchange leaves 10; the exchange then the
/// insert leaves 1, and the insert replaced the exchange's 10.
#[test]
fn compare_exchange_racing_an_equal_write() {
    model(|| {
        let map = nearly_full();
        let (m1, m2) = (map.clone(), map.clone());
        let (swapped, replaced) = race(
            move || {
                let h = m1.pin();
                let r = h.compare_exchange(&1, &1, 10);
                r.copied().map_err(|e| (e.current.copied(), e.new))
            },
            move || m2.pin().insert(1, 1).copied(),
        );
        assert_eq!(swapped, Ok(1), "the expected value was there throughout");
        let now = map.pin().get(&1).copied();
        match (replaced, now) {
            (Some(1), Some(10)) | (Some(10), Some(1)) => {}
            other => panic!("no order of the two writes explains {other:?}"),
        }
        assert_eq!(map.len(), 3);
    });
}

/// 23. A `retain` racing a write that replaces the value it judges: the
/// sweep meets key 1 at 1 (odd: remove it), and an insert makes it 2.
/// Whatever the order, the 2 stays: the sweep removes the entry it met,
/// found again by identity, or, once that entry is replaced, judges the
/// replacement on its own value (the write engine retries a failed CAS
/// on the same slot, with the new entry). `sweep_takes_replacement`
/// removes whatever the slot holds once found: the 2 goes. (The first
/// version of the identity lookup did that; the linearizability check of
/// real threads caught it, this model shows it in every schedule.)
#[test]
fn retain_racing_a_replace_keeps_the_new_value() {
    model(|| {
        let map = map();
        map.pin().insert(1, 1);
        let (m1, m2) = (map.clone(), map.clone());
        let ((), replaced) = race(
            move || m1.pin().retain(|_, v| v % 2 == 0),
            move || m2.pin().insert(1, 2).copied(),
        );
        // The insert replaced the 1, or came after the sweep removed it.
        assert!(matches!(replaced, Some(1) | None), "{replaced:?}");
        assert_eq!(
            map.pin().get(&1),
            Some(&2),
            "the sweep removed the new value"
        );
        assert_eq!(map.len(), 1);
    });
}

/// 24. A sweep of the bags that parties left behind
/// (`reclaim/asymmetric/orphans.rs`, the default backend's: run with
/// `--cfg lfmap_loom_asymmetric`; under the other backends there is no
/// sweep, and CI skips the model there) racing the claims of new parties:
/// a sweep borrows only a free record, so no record ever has two holders
/// (the registry counts its holders under loom and panics at a second).
/// The main thread holds record 0; an owned guard takes record 1, retires
/// into its bag, and gives the record back, so the next scan sweeps. Each
/// racer then claims a record (1 or 2), and its replace seals and scans,
/// sweeping the other's record, possibly mid-claim (its CAS made, its bit
/// not yet set). `record_borrow_by_bit`, a borrow that trusts a clear bit
/// instead of the CAS, takes that record too.
#[test]
fn a_sweep_borrows_only_free_records() {
    model(|| {
        let map = map();
        map.pin().insert(1, 1);
        {
            let owned = map.pin_owned();
            owned.insert(2, 2);
            owned.insert(2, 3);
        }
        let (m1, m2) = (map.clone(), map.clone());
        let (one, two) = race(
            move || m1.pin().insert(1, 10).copied(),
            move || m2.pin().insert(2, 20).copied(),
        );
        assert_eq!((one, two), (Some(1), Some(3)));
        let m = map.pin();
        assert_eq!((m.get(&1), m.get(&2)), (Some(&10), Some(&20)));
    });
}

/// 25. a release of the prepared table (`Resizer::release_prepared`, which
/// an operation runs once its watch finds the map stopped growing short of
/// the resize; `resize/prepared.rs`) racing the resize that would install
/// it. The table is prepared when key 3 fills 3 of the 4 slots; key 4
/// starts the resize, key 5 helps it. The install takes the table with a
/// CAS on the root's `prepared` word, the release empties that word with
/// one: whichever comes second fails (the install then allocates its own
/// table, the release does nothing). Every key lands exactly once, a
/// release is counted only when it happened, and each table is freed once
/// (`take_by_load_store`, a take that loads the word and then stores it,
/// lets a release in between retire the table the install puts in the
/// chain: freed twice).
#[test]
fn release_racing_install() {
    model(|| {
        let map = nearly_full();
        let (m1, m2) = (map.clone(), map.clone());
        let ((), released) = race(
            move || grow(&m1),
            move || lfmap::__loom::release_prepared(&m2),
        );
        let s = map.stats();
        assert_eq!(s.prepared_released, u64::from(released), "{s:?}");
        assert!(s.resizes >= 1, "{s:?}");
        let m = map.pin();
        for k in 1..=5 {
            assert_eq!(m.get(&k), Some(&k), "key {k}");
        }
        assert_eq!(m.iter().count(), 5);
        assert_eq!(map.len(), 5);
    });
}
