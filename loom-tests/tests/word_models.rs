//! loom models of `WordMap`'s slot protocol (`src/word/slot.rs`) and its
//! migration (`src/word/raw.rs`). Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test --release -p lfmap-loom-tests --test word_models`.
//!
//! Each model starts from a 4-slot table (lfmap's loom minimum), so a
//! handful of keys is enough to make a resize happen inside the model; the
//! 128-bit slot unit is a loom mutex (`src/sync.rs`), each access one step.
//!
//! Keys built by [`big`] have a nonzero top byte: claiming one takes two
//! CASes (*pending*, then *complete*), by the claimer or by anyone else who
//! needs the slot, and a migration copies them the same way.
#![cfg(loom)]
// Each model's doc opens with its number ("7. an update races ..."), which
// rustdoc reads as a list item; it is a label.
#![allow(clippy::doc_lazy_continuation)]

use lfmap::WordMap;
use lfmap_loom_tests::{model, race, Collide, Fixed};
use loom::sync::Arc;

type Map = WordMap<u64, u64, Fixed>;
type CollideMap = WordMap<u64, u64, Collide>;

/// A key whose top byte is set (`0xab`), low bits `n`: its claim is pending
/// until a second CAS completes it.
const fn big(n: u64) -> u64 {
    0xab00_0000_0000_0000 | n
}

fn map() -> Arc<Map> {
    Arc::new(WordMap::with_hasher(Fixed))
}

/// A [`Fixed`]-hashed map holding keys 1, 2 and 3, each mapped to itself,
/// and on the brink of a resize: 3 of the 4 slots are claimed (homes 1, 1
/// and 0: key 2 probes past key 1), so the next new key starts one.
fn nearly_full() -> Arc<Map> {
    let map = map();
    for k in [1, 2, 3] {
        map.insert(k, k);
    }
    assert_eq!(map.stats().resizes, 0);
    map
}

/// Inserts keys 4 and 5 into a [`nearly_full`] map: the first takes the
/// last slot and starts a resize, the second helps it (one chunk) and lands
/// in the new table.
fn grow(map: &Map) {
    assert_eq!(map.insert(4, 4), None);
    assert_eq!(map.insert(5, 5), None);
}

/// A [`Collide`]-hashed map holding top-byte keys `big(1..=3)`, each mapped
/// to its low bits, on the brink of a resize. Every key shares one probe
/// sequence in every table, so copies into the new table claim (pending)
/// and complete the same few slots, in whatever order the copiers run.
fn nearly_full_big() -> Arc<CollideMap> {
    let map = Arc::new(WordMap::with_hasher(Collide));
    for k in 1..=3 {
        map.insert(big(k), k);
    }
    assert_eq!(map.stats().resizes, 0);
    map
}

/// Inserts `big(4)` and `big(5)` into a [`nearly_full_big`] map: the first
/// starts a resize, the second helps it.
fn grow_big(map: &CollideMap) {
    assert_eq!(map.insert(big(4), 4), None);
    assert_eq!(map.insert(big(5), 5), None);
}

/// Checks the whole content of a quiescent map: `iter` yields exactly
/// `expected` (no key twice, none missing, right values), `get` agrees, and
/// `len` is exact.
fn check_content<S: std::hash::BuildHasher>(map: &WordMap<u64, u64, S>, expected: &[(u64, u64)]) {
    let mut seen: Vec<(u64, u64)> = map.iter().collect();
    seen.sort_unstable();
    let mut want = expected.to_vec();
    want.sort_unstable();
    assert_eq!(seen, want, "iter yielded the wrong content");
    for &(k, v) in expected {
        assert_eq!(map.get(&k), Some(v), "key {k:#x}");
    }
    assert_eq!(map.len(), expected.len());
}

/// 1. insert vs insert of one top-byte key: one claims it pending; the
/// other completes the pending slot with its own value (or replaces the
/// value, if ordered after). Exactly one sees the key absent, the other
/// sees the first value as previous; the final value is the last insert's.
#[test]
fn insert_insert_top_byte_key() {
    model(|| {
        let map = map();
        let k = big(7);
        let (m1, m2) = (map.clone(), map.clone());
        let (first, second) = race(move || m1.insert(k, 1), move || m2.insert(k, 2));
        let last = map.get(&k);
        match (first, second) {
            (None, Some(1)) => assert_eq!(last, Some(2)),
            (Some(2), None) => assert_eq!(last, Some(1)),
            other => panic!("impossible outcome {other:?}"),
        }
        assert_eq!(map.len(), 1);
        check_content(&map, &[(k, last.unwrap())]);
    });
}

/// 2. add vs add on one absent top-byte key: no update is lost, even when
/// one adder completes the other's pending claim. The first add returns
/// its own delta, the second the sum.
#[test]
fn add_add_no_lost_update() {
    model(|| {
        let map = map();
        let k = big(7);
        let (m1, m2) = (map.clone(), map.clone());
        let (a, b) = race(move || m1.add(&k, 1), move || m2.add(&k, 10));
        assert!(matches!((a, b), (1, 11) | (11, 10)), "{a} {b}");
        check_content(&map, &[(k, 11)]);
    });
}

/// 3. insert vs remove of one top-byte key: the remove either saw the
/// completed insert (and the key is gone) or ran before it (the key stays).
/// A remove that finds the key pending sees it absent.
#[test]
fn insert_remove_top_byte_key() {
    model(|| {
        let map = map();
        let k = big(5);
        let (m1, m2) = (map.clone(), map.clone());
        let (inserted, removed) = race(move || m1.insert(k, 50), move || m2.remove(&k));
        assert_eq!(inserted, None);
        match removed {
            Some(50) => check_content(&map, &[]),
            None => check_content(&map, &[(k, 50)]),
            other => panic!("removed a value never inserted: {other:?}"),
        }
    });
}

/// 4. get vs insert of a top-byte key: a reader that finds the slot pending
/// sees the key absent; it sees the inserted value or nothing, never
/// anything else, and never absent again after seeing it present.
#[test]
fn get_vs_insert_top_byte_key() {
    model(|| {
        let map = map();
        let k = big(3);
        let (m1, m2) = (map.clone(), map.clone());
        let (inserted, (first, second)) =
            race(move || m1.insert(k, 30), move || (m2.get(&k), m2.get(&k)));
        assert_eq!(inserted, None);
        match (first, second) {
            (None, None) | (None, Some(30)) | (Some(30), Some(30)) => {}
            other => panic!("impossible reads {other:?}"),
        }
        check_content(&map, &[(k, 30)]);
    });
}

/// 5. add racing a migration: one thread's inserts start a resize and help
/// it, the other adds to an existing key meanwhile (helping and sealing its
/// key too). The add is not lost, does not land behind the copy, and sees
/// the key's value.
#[test]
fn add_racing_migration() {
    model(|| {
        let map = nearly_full();
        let (m1, m2) = (map.clone(), map.clone());
        let ((), added) = race(move || grow(&m1), move || m2.add(&1, 10));
        assert_eq!(added, 11);
        assert!(map.stats().resizes >= 1);
        check_content(&map, &[(1, 11), (2, 2), (3, 3), (4, 4), (5, 5)]);
    });
}

/// 6. get racing a migration: a reader looking up keys present throughout
/// always finds them with their values, in the old table or the new one.
#[test]
fn get_racing_migration() {
    model(|| {
        let map = nearly_full();
        let (m1, m2) = (map.clone(), map.clone());
        race(
            move || grow(&m1),
            move || {
                for k in [1, 2, 3] {
                    assert_eq!(m2.get(&k), Some(k), "key {k}");
                }
            },
        );
        assert!(map.stats().resizes >= 1);
        check_content(&map, &[(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]);
    });
}

/// 7. copy races: one thread grows a nearly-full map of top-byte keys
/// sharing one probe sequence (inserting a fourth starts a resize, a fifth
/// helps it), the other writes an existing key, which helps and seals that
/// key: its `seal_key` copy and the grower's chunk copy of the same key
/// race in the new table (one claims it pending, the other completes or
/// finds it complete), and both race the new keys' claims for the same
/// slots. Afterwards every key is present exactly once with its value, the
/// write was not lost and saw the old value.
#[test]
fn copy_race_top_byte_keys() {
    model(|| {
        let map = nearly_full_big();
        let (m1, m2) = (map.clone(), map.clone());
        let ((), replaced) = race(move || grow_big(&m1), move || m2.insert(big(1), 100));
        assert_eq!(replaced, Some(1));
        assert!(map.stats().resizes >= 1);
        check_content(
            &map,
            &[
                (big(1), 100),
                (big(2), 2),
                (big(3), 3),
                (big(4), 4),
                (big(5), 5),
            ],
        );
    });
}

/// 8. iteration racing a resize: keys present throughout are yielded
/// exactly once with their values, no key twice, and a new key (if
/// yielded) with its value. The iterator finishes the resize itself
/// (`stable_root`), racing the grower's own copies.
#[test]
fn iter_racing_resize() {
    model(|| {
        let map = nearly_full();
        let (m1, m2) = (map.clone(), map.clone());
        race(
            move || grow(&m1),
            move || {
                let mut seen: Vec<(u64, u64)> = m2.iter().collect();
                seen.sort_unstable();
                let before = seen.len();
                seen.dedup_by_key(|(k, _)| *k);
                assert_eq!(seen.len(), before, "a key was yielded twice: {seen:?}");
                for &(k, v) in &seen {
                    assert_eq!(k, v, "key {k} yielded with value {v}: {seen:?}");
                    assert!((1..=5).contains(&k), "key {k} was never inserted");
                }
                for stable in [1, 2, 3] {
                    assert!(
                        seen.iter().any(|&(k, _)| k == stable),
                        "stable key {stable} missed: {seen:?}"
                    );
                }
            },
        );
        check_content(&map, &[(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]);
    });
}

/// 8b. an iteration whose own thread removes a key ahead of the walk while
/// a resize races: where the resize (or the removal's seal) copied key 1's
/// unit forward, the walk looks the key up where it is now, so it never
/// yields key 1 after its removal; keys 2 and 3 are yielded once each
/// (the generic map's model 9c; mutation `walk_yields_frozen`).
#[test]
fn iter_skips_a_key_removed_ahead() {
    model(|| {
        let map = nearly_full();
        let (m1, m2) = (map.clone(), map.clone());
        race(
            move || grow(&m1),
            move || {
                let walk = m2.iter();
                assert_eq!(m2.remove(&1), Some(1));
                let mut pairs: Vec<(u64, u64)> = walk.collect();
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

/// 9. compare_exchange vs compare_exchange from the same current value:
/// exactly one succeeds; the other fails with the winner's new value.
#[test]
fn compare_exchange_one_winner() {
    model(|| {
        let map = map();
        let k = big(2);
        map.insert(k, 1);
        let (m1, m2) = (map.clone(), map.clone());
        let (a, b) = race(
            move || m1.compare_exchange(&k, 1, 2),
            move || m2.compare_exchange(&k, 1, 3),
        );
        let last = match (a, b) {
            (Ok(1), Err(Some(2))) => 2,
            (Err(Some(3)), Ok(1)) => 3,
            other => panic!("impossible outcome {other:?}"),
        };
        check_content(&map, &[(k, last)]);
    });
}

/// 10. both threads grow a nearly-full map of top-byte keys sharing one
/// probe sequence: one inserts two new keys, the other one. Whoever claims
/// the last slot starts the resize; the other finds the table full, joins
/// the resize and helps. Chunk copies (pending, then complete) race the
/// other thread's claims of its new keys for the same slots of the new
/// table. (Chunks are handed out once, and a new key's `seal_key` copies
/// nothing, so here no two copiers copy one key: model 7 and model 11 race
/// those.) Every key lands exactly once with its value.
#[test]
fn grow_grow_top_byte_keys() {
    model(|| {
        let map = nearly_full_big();
        let (m1, m2) = (map.clone(), map.clone());
        race(
            move || grow_big(&m1),
            move || assert_eq!(m2.insert(big(6), 6), None),
        );
        assert!(map.stats().resizes >= 1);
        check_content(&map, &(1..=6).map(|k| (big(k), k)).collect::<Vec<_>>());
    });
}

/// 11. iteration racing a resize of a map of top-byte keys: the iterator
/// finishes the resize itself (`finish` copies every slot), racing the
/// grower's chunk copies of the same keys into the new table: one copier
/// claims a key pending, the other must complete it or find it complete,
/// never take it as done. Keys present throughout are yielded exactly once
/// with their values.
#[test]
fn iter_racing_resize_top_byte_keys() {
    model(|| {
        let map = nearly_full_big();
        let (m1, m2) = (map.clone(), map.clone());
        race(
            move || grow_big(&m1),
            move || {
                let mut seen: Vec<(u64, u64)> = m2.iter().collect();
                seen.sort_unstable();
                let before = seen.len();
                seen.dedup_by_key(|(k, _)| *k);
                assert_eq!(seen.len(), before, "a key was yielded twice: {seen:x?}");
                for &(k, v) in &seen {
                    assert_eq!(k, big(v), "key {k:#x} yielded with value {v}");
                    assert!((1..=5).contains(&v), "key {k:#x} was never inserted");
                }
                for stable in 1..=3 {
                    assert!(
                        seen.contains(&(big(stable), stable)),
                        "stable key {:#x} missed: {seen:x?}",
                        big(stable)
                    );
                }
            },
        );
        check_content(&map, &(1..=5).map(|k| (big(k), k)).collect::<Vec<_>>());
    });
}

/// 12. get racing a migration of top-byte keys: a reader of keys present
/// throughout finds each with its value while the grower copies them
/// (pending in the new table until completed; a reader only goes there
/// after the old slot is marked copied, by then the copy is complete).
#[test]
fn get_racing_migration_top_byte_keys() {
    model(|| {
        let map = nearly_full_big();
        let (m1, m2) = (map.clone(), map.clone());
        race(
            move || grow_big(&m1),
            move || {
                for k in 1..=3 {
                    assert_eq!(m2.get(&big(k)), Some(k), "key {:#x}", big(k));
                }
            },
        );
        check_content(&map, &(1..=5).map(|k| (big(k), k)).collect::<Vec<_>>());
    });
}

/// 13. two keys differing only in their top byte (same low 56 bits, so the
/// same `meta` key bits) and a third with a zero top byte and the same low
/// bits, all on one probe sequence: the two top-byte inserts race for the
/// same empty slot, and the loser must tell the winner's slot apart by the
/// top byte (read from the pending unit's value half, or from the `high`
/// array once complete) and probe on. Each key lands once, with its value,
/// and neither thread ever reads another key's value for its own.
#[test]
fn keys_differing_in_top_byte() {
    const PLAIN: u64 = 7;
    const AB: u64 = 0xab00_0000_0000_0007;
    const AC: u64 = 0xac00_0000_0000_0007;
    model(|| {
        let map: Arc<CollideMap> = Arc::new(WordMap::with_hasher(Collide));
        map.insert(PLAIN, 70);
        let (m1, m2) = (map.clone(), map.clone());
        let (a, b) = race(
            move || (m1.insert(AB, 1), m1.get(&AC), m1.get(&AB)),
            move || (m2.insert(AC, 2), m2.get(&AB), m2.get(&AC)),
        );
        assert_eq!(a.0, None);
        assert_eq!(b.0, None);
        assert!(matches!(a.1, None | Some(2)), "{a:?}");
        assert!(matches!(b.1, None | Some(1)), "{b:?}");
        assert_eq!(a.2, Some(1));
        assert_eq!(b.2, Some(2));
        check_content(&map, &[(PLAIN, 70), (AB, 1), (AC, 2)]);
    });
}

/// 14. a same-size rebuild, which rehashes (`resize/probe.rs`: a fresh
/// salt, so every key may have another home in the new table), racing
/// an add and a lookup: key 1 stays present and gets its addition exactly
/// once. Keys 2 and 3 are each removed before the next comes, leaving
/// tombstones, so the next new key fills the 4-slot table and starts the
/// rebuild; the second new key helps it. (Removed only after key 3 came,
/// as first written, the map was 3/4 live when its successor was prepared:
/// a doubling, which the rebuild then takes once key 4 is counted, at
/// half live, as the generic map's model 15 does; the generic model 11
/// orders its removals this way for the same reason.)
#[test]
fn add_racing_rehash() {
    model(|| {
        let map = map();
        map.insert(1, 1);
        map.insert(2, 2);
        assert_eq!(map.remove(&2), Some(2));
        map.insert(3, 3);
        assert_eq!(map.remove(&3), Some(3));
        assert_eq!(map.stats().resizes, 0);
        let (m1, m2) = (map.clone(), map.clone());
        let ((), added) = race(
            move || grow(&m1),
            move || {
                assert_eq!(m2.get(&1), Some(1));
                m2.add(&1, 100)
            },
        );
        assert_eq!(added, 101);
        let stats = map.stats();
        assert!(stats.resizes >= 1 && stats.slots == 4, "{stats:?}");
        check_content(&map, &[(1, 101), (4, 4), (5, 5)]);
    });
}

/// 15. a migration done by resize helpers (`src/resize/assist.rs`), racing
/// an add. The map holds keys 1 to 6 in 8 slots; inserting 7 starts a
/// growth to 16. A helper registered before the race makes the grower's
/// writes and the add leave their share of the migration to helpers (the
/// new table, with the 7 keys left to copy, stays below 5/8 full: 10
/// slots; a write that comes while a helper has copied part of a range
/// counts those keys twice and helps); a second helper steps meanwhile, migrating what it takes,
/// while the adder (after the grower's inserts, on the same thread) seals
/// its key and writes in the new table. The add is not lost, does not land
/// behind a helper's copy, and sees the old value; afterwards every key is
/// present once.
#[test]
fn add_racing_helper_migration() {
    model(|| {
        let map = map();
        for k in 1..=6 {
            map.insert(k, k);
        }
        let s = map.stats();
        assert!(s.slots == 8 && s.resizes == s.resizes_finished, "{s:?}");
        let registered = map.resize_helper();
        let (m1, m2) = (map.clone(), map.clone());
        let (added, ()) = race(
            move || {
                assert_eq!(m1.insert(7, 7), None);
                assert_eq!(m1.insert(8, 8), None);
                m1.add(&1, 10)
            },
            move || {
                let helper = m2.resize_helper();
                helper.step();
                helper.step();
            },
        );
        assert_eq!(added, 11);
        assert_eq!(map.stats().resizes, 2);
        while registered.step() {}
        drop(registered);
        check_content(
            &map,
            &[
                (1, 11),
                (2, 2),
                (3, 3),
                (4, 4),
                (5, 5),
                (6, 6),
                (7, 7),
                (8, 8),
            ],
        );
    });
}

/// 16. a pin's announcement carries the reads of the pin before it on the
/// same record (`registry.rs`, the Release store): one thread looks a key
/// up twice (two pins, one record, the first unpinned before the second
/// announces), the other grows the map to the end of its migration (keys
/// 4, 5 and 6: the last completes and promotes, retiring the old table,
/// and scans when its pin ends). A scan that reads the second pin's
/// announcement must also see the first pin's reads of the old table, or
/// it frees the table under them (a causality violation on the table's
/// liveness cell). Mutation `tables_relaxed_announce`.
#[test]
fn scan_after_a_repin_sees_the_earlier_pins_reads() {
    model(|| {
        let map = nearly_full();
        let (m1, m2) = (map.clone(), map.clone());
        race(
            move || {
                assert_eq!(m1.get(&1), Some(1));
                assert_eq!(m1.get(&2), Some(2));
            },
            move || {
                grow(&m2);
                assert_eq!(m2.insert(6, 6), None);
            },
        );
        check_content(&map, &(1..=6).map(|k| (k, k)).collect::<Vec<_>>());
    });
}

/// 17. a release of the prepared table racing the resize that would
/// install it (the generic map's model 25, with `WordMap`'s table
/// reclaimer, which frees a released table for real once no pin can reach
/// it: every access to it, a memory step faulted in or the install's test
/// of its size, must happen before that free). `take_by_load_store`
/// installs a table the release retired.
#[test]
fn release_racing_install() {
    model(|| {
        let map = nearly_full();
        let (m1, m2) = (map.clone(), map.clone());
        let ((), released) = race(
            move || grow(&m1),
            move || lfmap::__loom::release_prepared_word(&m2),
        );
        let s = map.stats();
        assert_eq!(s.prepared_released, u64::from(released), "{s:?}");
        assert!(s.resizes >= 1, "{s:?}");
        check_content(&map, &[(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]);
    });
}
