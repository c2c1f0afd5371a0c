//! Exclusive access: the `&mut self` and consuming calls std users reach
//! for (`get_mut`, `iter_mut`, `values_mut`, `drain`, `into_keys`,
//! `into_values`), checked against `std::collections::HashMap` on random
//! operation sequences, across resizes left half done by other threads'
//! writes, and with drop-counted keys and values (an early-dropped `Drain`,
//! a `Drop` that panics while one is dropped).

use std::collections::{BTreeMap, HashMap as StdMap};
use std::hash::BuildHasher;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;

use lfmap::HashMap;
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};

mod common;
use common::drops::Ledger;
use common::hashers::{Shape, ShapedHash};
use common::panics::{assert_planned, quiet_planned_panics};
use common::{Books, Rng, Tracked};

/// A hasher that is not `Clone`: `drain` must keep the map's own.
struct NoClone(ShapedHash);

impl BuildHasher for NoClone {
    type Hasher = <ShapedHash as BuildHasher>::Hasher;
    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
    }
}

/// The map's contents, read through a handle (and checked for duplicates).
fn contents<S: BuildHasher>(map: &HashMap<u64, u64, S>) -> BTreeMap<u64, u64> {
    let m = map.pin();
    let mut out = BTreeMap::new();
    for (&k, &v) in m.iter() {
        assert!(out.insert(k, v).is_none(), "key {k} iterated twice");
    }
    out
}

fn sorted(std: &StdMap<u64, u64>) -> BTreeMap<u64, u64> {
    std.iter().map(|(&k, &v)| (k, v)).collect()
}

/// Whether a resize of `map` is under way (started and not finished).
fn resizing<K, V, S>(map: &HashMap<K, V, S>) -> bool {
    let s = map.stats();
    s.resizes > s.resizes_finished
}

/// One random sequence: inserts and removes through handles, interleaved
/// with every exclusive call, compared with std's map after each.
fn run_sequence<S: BuildHasher>(seed: u64, ops: usize, keys: u64, hasher: S) {
    let mut rng = Rng::new(seed);
    let mut map: HashMap<u64, u64, S> = HashMap::with_hasher(hasher);
    let mut std: StdMap<u64, u64> = StdMap::new();
    for step in 0..ops {
        let k = rng.below(keys);
        match rng.below(100) {
            0..=39 => {
                let v = rng.next_u64();
                assert_eq!(map.pin().insert(k, v).copied(), std.insert(k, v));
            }
            40..=59 => {
                assert_eq!(map.pin().remove(&k).copied(), std.remove(&k));
            }
            60..=79 => {
                // get_mut: the change is visible afterwards, through a handle.
                let add = rng.below(1000);
                match (map.get_mut(&k), std.get_mut(&k)) {
                    (Some(a), Some(b)) => {
                        assert_eq!(*a, *b);
                        *a = a.wrapping_add(add);
                        *b = b.wrapping_add(add);
                    }
                    (None, None) => {}
                    (a, b) => panic!("get_mut({k}): {a:?} vs std {b:?}"),
                }
                assert_eq!(map.pin().get(&k), std.get(&k));
            }
            80..=89 => {
                // iter_mut: every key once, each change sticks.
                let add = rng.below(1000);
                let iter = map.iter_mut();
                assert_eq!(iter.len(), std.len(), "iter_mut's exact length");
                let mut seen = BTreeMap::new();
                for (&k, v) in iter {
                    assert!(seen.insert(k, *v).is_none(), "iter_mut yielded {k} twice");
                    *v = v.wrapping_add(add ^ k);
                }
                assert_eq!(seen, sorted(&std), "iter_mut saw other contents");
                for (&k, v) in std.iter_mut() {
                    *v = v.wrapping_add(add ^ k);
                }
                assert_eq!(contents(&map), sorted(&std));
            }
            90..=94 => {
                for v in map.values_mut() {
                    *v = v.wrapping_mul(3);
                }
                for v in std.values_mut() {
                    *v = v.wrapping_mul(3);
                }
                assert_eq!(contents(&map), sorted(&std));
            }
            _ => {
                // drain: exactly the contents, the map left empty and usable.
                let mut drained = BTreeMap::new();
                let mut iter = map.drain();
                assert_eq!(iter.len(), std.len(), "drain's exact length");
                // Sometimes stop early: the rest is dropped with the iterator.
                let take = if rng.below(3) == 0 {
                    rng.below(std.len() as u64 + 1) as usize
                } else {
                    usize::MAX
                };
                for (k, v) in iter.by_ref().take(take) {
                    assert!(drained.insert(k, v).is_none(), "drain yielded {k} twice");
                }
                drop(iter);
                assert!(map.is_empty() && map.pin().iter().next().is_none());
                if take == usize::MAX {
                    assert_eq!(drained, sorted(&std), "drain yielded other contents");
                } else {
                    assert_eq!(drained.len(), take.min(std.len()));
                    for (k, v) in &drained {
                        assert_eq!(std.get(k), Some(v));
                    }
                }
                std.clear();
                // Refill: the map keeps working, and its hasher.
                for k in 0..rng.below(keys) {
                    let v = rng.next_u64();
                    map.pin().insert(k, v);
                    std.insert(k, v);
                }
            }
        }
        assert_eq!(map.len(), std.len(), "length after step {step}");
        if step % 64 == 0 {
            assert_eq!(contents(&map), sorted(&std), "contents after step {step}");
        }
    }
    assert_eq!(contents(&map), sorted(&std));
    let mut owned: Vec<(u64, u64)> = map.into_iter().collect();
    owned.sort_unstable();
    assert_eq!(owned, sorted(&std).into_iter().collect::<Vec<_>>());
}

#[test]
fn random_sequences_match_std() {
    for seed in 0..24 {
        // Small key spaces grow, shrink and rebuild small tables often;
        // larger ones reach sizes that migrate over many writes.
        let keys = [8, 64, 600, 3000][seed as usize % 4];
        run_sequence(seed, 3000, keys, ShapedHash(Shape::Full));
    }
}

/// Weak hashers (few distinct hashes, clashing tags): probes run long and
/// `get_mut` compares many keys. The hasher is not `Clone`.
#[test]
fn random_sequences_match_std_under_weak_hashers() {
    for (seed, shape) in [
        Shape::Mod(4),
        Shape::TagClash(16),
        Shape::Identity,
        Shape::Const,
    ]
    .into_iter()
    .enumerate()
    {
        run_sequence(100 + seed as u64, 1500, 200, NoClone(ShapedHash(shape)));
    }
}

/// A quickcheck-generated sequence of operations on `u8` keys.
#[derive(Clone, Debug)]
enum Op {
    Insert(u8, u16),
    Remove(u8),
    GetMut(u8, u16),
    IterMut(u16),
    Drain(u8),
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Op {
        match u8::arbitrary(g) % 16 {
            0..=6 => Op::Insert(u8::arbitrary(g), u16::arbitrary(g)),
            7..=9 => Op::Remove(u8::arbitrary(g)),
            10..=12 => Op::GetMut(u8::arbitrary(g), u16::arbitrary(g)),
            13..=14 => Op::IterMut(u16::arbitrary(g)),
            _ => Op::Drain(u8::arbitrary(g)),
        }
    }
}

fn prop_ops_match_std(ops: Vec<Op>) -> TestResult {
    let mut map: HashMap<u8, u64> = HashMap::with_capacity(0);
    let mut std: StdMap<u8, u64> = StdMap::new();
    for op in ops {
        match op {
            Op::Insert(k, v) => {
                if map.pin().insert(k, v.into()).copied() != std.insert(k, v.into()) {
                    return TestResult::failed();
                }
            }
            Op::Remove(k) => {
                if map.pin().remove(&k).copied() != std.remove(&k) {
                    return TestResult::failed();
                }
            }
            Op::GetMut(k, add) => match (map.get_mut(&k), std.get_mut(&k)) {
                (Some(a), Some(b)) if *a == *b => {
                    *a += u64::from(add);
                    *b += u64::from(add);
                }
                (None, None) => {}
                _ => return TestResult::failed(),
            },
            Op::IterMut(add) => {
                let mut n = 0;
                for (&k, v) in map.iter_mut() {
                    *v += u64::from(add) + u64::from(k);
                    n += 1;
                }
                if n != std.len() {
                    return TestResult::failed();
                }
                for (&k, v) in std.iter_mut() {
                    *v += u64::from(add) + u64::from(k);
                }
            }
            Op::Drain(take) => {
                let got: Vec<(u8, u64)> = map.drain().take(take.into()).collect();
                if got.len() != std.len().min(take.into())
                    || got.iter().any(|(k, v)| std.get(k) != Some(v))
                    || !map.is_empty()
                {
                    return TestResult::failed();
                }
                std.clear();
            }
        }
    }
    let mut all: Vec<(u8, u64)> = map.drain().collect();
    all.sort_unstable();
    let mut want: Vec<(u8, u64)> = std.into_iter().collect();
    want.sort_unstable();
    TestResult::from_bool(all == want && map.is_empty())
}

#[test]
fn quickcheck_ops_match_std() {
    QuickCheck::new()
        .tests(300)
        .rng(Gen::new(400))
        .quickcheck(prop_ops_match_std as fn(Vec<Op>) -> TestResult);
}

/// Fills a map from one thread (keys from 0, values `k * 10`), to at least
/// key `past`, until a growth is under way, and leaves it there (a cooperative resize migrates a few slots per write, so it
/// outlasts the writes that started it). Returns the keys inserted.
fn fill_until_mid_resize(map: &HashMap<u64, u64>, past: u64) -> u64 {
    fill_from_until_mid_resize(map, 0, past)
}

/// [`fill_until_mid_resize`] with keys from `from` on, up to at least
/// `past`; returns the end of the keys inserted.
fn fill_from_until_mid_resize(map: &HashMap<u64, u64>, from: u64, past: u64) -> u64 {
    let m = map.pin();
    let mut k = from;
    while k < past || !resizing(map) {
        m.insert(k, k * 10);
        k += 1;
        assert!(k < 10_000_000, "no resize left under way");
    }
    k
}

/// `drain`, `iter_mut` and `get_mut` on a map whose growth is half done:
/// every key exactly once (the half-migrated old table and its successor
/// may point at the same entries; only the finished root is walked).
#[test]
fn exclusive_calls_mid_resize_see_each_key_once() {
    for past in (0..6000u64).step_by(97) {
        // drain
        let mut map: HashMap<u64, u64> = HashMap::with_capacity(0);
        let n = fill_until_mid_resize(&map, past);
        assert!(resizing(&map), "the drain's map is mid-resize");
        let mut keys: Vec<u64> = map
            .drain()
            .map(|(k, v)| {
                assert_eq!(v, k * 10);
                k
            })
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, (0..n).collect::<Vec<_>>(), "drain after {n} inserts");
        assert!(map.is_empty() && !resizing(&map));
        map.pin().insert(7, 7);
        assert_eq!(contents(&map), BTreeMap::from([(7, 7)]));

        // iter_mut, then get_mut, on a fresh half-resized map
        let mut map: HashMap<u64, u64> = HashMap::with_capacity(0);
        let n = fill_until_mid_resize(&map, past);
        let mut keys = Vec::new();
        for (&k, v) in map.iter_mut() {
            keys.push(k);
            *v += 1;
        }
        keys.sort_unstable();
        assert_eq!(
            keys,
            (0..n).collect::<Vec<_>>(),
            "iter_mut after {n} inserts"
        );
        fill_from_until_mid_resize(&map, n, n + past);
        *map.get_mut(&(n / 2)).unwrap() += 1;
        let m = map.pin();
        for k in 0..n {
            let want = k * 10 + 1 + u64::from(k == n / 2);
            assert_eq!(m.get(&k), Some(&want), "key {k}");
        }
    }
}

/// A shrink that may stack on an unfinished growth, left half done, then
/// drained: each surviving key exactly once.
#[test]
fn drain_mid_shrink() {
    for removed in (0..=1500u64).step_by(37) {
        let mut map: HashMap<u64, u64> = HashMap::with_capacity(0);
        {
            let m = map.pin();
            for k in 0..1600 {
                m.insert(k, k);
            }
            for k in 0..removed {
                m.remove(&k);
            }
        }
        let mut keys: Vec<u64> = map.drain().map(|(k, _)| k).collect();
        keys.sort_unstable();
        assert_eq!(keys, (removed..1600).collect::<Vec<_>>());
        assert!(map.is_empty());
    }
}

/// Two threads fill the map (growing it while both write), join, and the
/// owner drains: each key exactly once. Then the same for `iter_mut`, whose
/// changes the threads of the next round read.
#[test]
fn drain_after_two_writer_threads() {
    let mut map: HashMap<u64, u64> = HashMap::with_capacity(0);
    for round in 0..20u64 {
        let per = 500 + round * 700;
        thread::scope(|s| {
            for t in 0..2u64 {
                let map = &map;
                s.spawn(move || {
                    for i in 0..per {
                        map.pin().insert(t * per + i, round);
                    }
                });
            }
        });
        if round % 2 == 0 {
            let mut keys: Vec<u64> = map
                .drain()
                .map(|(k, v)| {
                    assert_eq!(v, round);
                    k
                })
                .collect();
            keys.sort_unstable();
            assert_eq!(keys, (0..2 * per).collect::<Vec<_>>(), "round {round}");
            assert!(map.is_empty());
        } else {
            let mut n = 0;
            for (&k, v) in map.iter_mut() {
                *v = k + 1;
                n += 1;
            }
            assert_eq!(n, 2 * per);
            // The changes are seen by other threads.
            thread::scope(|s| {
                for t in 0..2u64 {
                    let map = &map;
                    s.spawn(move || {
                        let m = map.pin();
                        for k in (t..2 * per).step_by(2) {
                            assert_eq!(m.get(&k), Some(&(k + 1)));
                        }
                    });
                }
            });
            map.pin().clear();
        }
    }
}

/// Drop-counted keys and values: a `Drain` dropped early drops the entries
/// it did not yield, each exactly once, when it drops (not later, with the
/// map); the map is empty then and usable.
#[test]
fn an_early_dropped_drain_drops_the_rest_once() {
    let books = Books::new();
    for (n, take) in [
        (0, 0),
        (10, 0),
        (10, 3),
        (500, 499),
        (3000, 1),
        (3000, 2999),
    ] {
        let mut map: HashMap<Tracked, Tracked> = HashMap::with_capacity(0);
        {
            let m = map.pin();
            for k in 0..n {
                m.insert(books.k(k), books.v(k));
            }
        }
        let live_before = books.vals.live();
        let held: Vec<(Tracked, Tracked)> = map.drain().take(take).collect();
        assert_eq!(held.len(), take);
        assert_eq!(
            books.vals.live(),
            live_before - (n as usize - take),
            "the drain's drop dropped the {} values it did not yield",
            n as usize - take
        );
        assert!(map.is_empty());
        for (k, v) in &held {
            assert_eq!(k.id(), v.id());
        }
        drop(held);
        // Reusable, with drop-counted entries again.
        {
            let m = map.pin();
            for k in 0..n / 2 {
                m.insert(books.k(k), books.v(k + 1));
            }
        }
        let left: Vec<_> = map.drain().collect();
        assert_eq!(left.len(), n as usize / 2);
        drop(left);
        // Leaked: the entries leak, the map is still empty and usable.
        if (n, take) == (10, 3) {
            let leaked = Ledger::new();
            map.pin().insert(books.k(99), Tracked::new(&leaked, 99));
            std::mem::forget(map.drain());
            assert!(map.is_empty());
            assert_eq!(leaked.live(), 1);
        }
        drop(map);
    }
    // The one leaked key (of the forgotten drain) is the only imbalance.
    assert_eq!(books.keys.live(), 1);
    assert_eq!(books.vals.live(), 0);
    books.vals.assert_balanced("drain");
}

/// A value whose drop panics (once armed), after its tracked part is
/// dropped as the panic unwinds through the fields' drops.
struct Bomb {
    armed: bool,
    _t: Tracked,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.armed {
            panic!("planned panic in a value's Drop");
        }
    }
}

/// A value's `Drop` panics while an early-dropped `Drain` drops the rest:
/// the panic reaches the caller, every other entry is still dropped exactly
/// once, and the map is empty and usable.
#[test]
fn a_panicking_drop_in_a_dropped_drain() {
    quiet_planned_panics();
    let books = Books::new();
    for bomb in [0, 1, 250, 499] {
        let mut map: HashMap<Tracked, Bomb> = HashMap::with_capacity(0);
        {
            let m = map.pin();
            for k in 0..500 {
                m.insert(
                    books.k(k),
                    Bomb {
                        armed: k == bomb,
                        _t: books.v(k),
                    },
                );
            }
        }
        let mut drain = map.drain();
        let first = drain.next().unwrap();
        if first.1.armed {
            // The armed one came first: defuse it; the rest drop quietly.
            let mut first = first;
            first.1.armed = false;
            drop(first);
            drop(drain);
        } else {
            drop(first);
            assert_planned(catch_unwind(AssertUnwindSafe(|| drop(drain))));
        }
        assert!(map.is_empty());
        map.pin().insert(
            books.k(1000),
            Bomb {
                armed: false,
                _t: books.v(1000),
            },
        );
        assert_eq!(map.len(), 1);
        drop(map);
        books.assert_balanced(&format!("bomb {bomb}"));
    }
}

/// The consuming `into_keys` and `into_values` yield every key (value),
/// exactly once, also from a map whose growth is half done, and drop the
/// other half of each entry.
#[test]
fn into_keys_and_into_values_are_complete() {
    let books = Books::new();
    for past in [0u64, 1, 100, 1000, 5000] {
        let map: HashMap<u64, u64> = HashMap::with_capacity(0);
        let n = fill_until_mid_resize(&map, past);
        let mut keys: Vec<u64> = map.into_keys().collect();
        keys.sort_unstable();
        assert_eq!(keys, (0..n).collect::<Vec<_>>());

        let map: HashMap<u64, u64> = HashMap::with_capacity(0);
        let n = fill_until_mid_resize(&map, past);
        let values = map.into_values();
        assert_eq!(values.len(), n as usize);
        let mut values: Vec<u64> = values.collect();
        values.sort_unstable();
        assert_eq!(values, (0..n).map(|k| k * 10).collect::<Vec<_>>());

        let map: HashMap<Tracked, Tracked> = HashMap::with_capacity(0);
        {
            let m = map.pin();
            for k in 0..past {
                m.insert(books.k(k), books.v(k));
            }
        }
        let keys: Vec<Tracked> = map.into_keys().take(past as usize / 2).collect();
        assert_eq!(books.vals.live(), 0, "into_keys drops every value");
        drop(keys);
        let map: HashMap<Tracked, Tracked> = HashMap::with_capacity(0);
        {
            let m = map.pin();
            for k in 0..past {
                m.insert(books.k(k), books.v(k));
            }
        }
        let values: Vec<Tracked> = map.into_values().collect();
        assert_eq!(values.len(), past as usize);
        drop(values);
    }
    books.assert_balanced("into_keys, into_values");
}

/// `get_mut` with borrowed lookups (`String` keys, `&str` queries) and
/// values that own memory; `iter_mut` replaces values, and the replaced
/// ones are dropped at once (they are the caller's, no reclamation).
#[test]
fn get_mut_and_iter_mut_on_owned_values() {
    let books = Books::new();
    let mut map: HashMap<String, Tracked> = HashMap::new();
    for k in 0..100u64 {
        map.pin().insert(k.to_string(), books.v(k));
    }
    let live = books.vals.live();
    *map.get_mut("42").unwrap() = books.v(4200);
    assert_eq!(
        books.vals.live(),
        live,
        "the replaced value dropped at once"
    );
    assert_eq!(map.pin().get("42").map(Tracked::id), Some(4200));
    assert!(map.get_mut("100").is_none());
    for (k, v) in map.iter_mut() {
        *v = books.v(k.parse::<u64>().unwrap() + 1);
    }
    assert_eq!(books.vals.live(), live);
    let m = map.pin();
    for k in 0..100u64 {
        assert_eq!(m.get(k.to_string().as_str()).map(Tracked::id), Some(k + 1));
    }
    drop(m);
    drop(map);
    books.vals.assert_balanced("get_mut, iter_mut");
}

/// A map shared through an `Arc`: once the other owners are gone,
/// `Arc::get_mut` gives the exclusive access these calls need.
#[test]
fn exclusive_access_through_arc_get_mut() {
    let mut map = Arc::new(HashMap::<u64, u64>::with_capacity(0));
    thread::scope(|s| {
        for t in 0..2u64 {
            let map = Arc::clone(&map);
            s.spawn(move || {
                for i in 0..5000 {
                    map.pin().insert(t * 5000 + i, i);
                }
            });
        }
    });
    let owned = Arc::get_mut(&mut map).expect("the only owner");
    assert_eq!(owned.iter_mut().count(), 10_000);
    assert_eq!(owned.drain().count(), 10_000);
    assert!(map.is_empty());
}

/// The iterators can move to another thread (for the key and value types
/// maps share across threads), as std's can.
#[test]
fn the_iterators_are_send() {
    fn send<T: Send>(t: T) -> T {
        t
    }
    let mut map: HashMap<u64, String> = (0..100).map(|i| (i, i.to_string())).collect();
    thread::scope(|s| {
        let iter = send(map.iter_mut());
        s.spawn(move || iter.for_each(|(_, v)| v.push('!')));
    });
    assert_eq!(map.pin().get(&7).map(String::as_str), Some("7!"));
    let total = thread::scope(|s| {
        let drain = send(map.drain());
        s.spawn(move || drain.count()).join().unwrap()
    });
    assert_eq!(total, 100);
    let keys = send(map.into_keys());
    assert_eq!(thread::spawn(move || keys.count()).join().unwrap(), 0);

    // With std's bounds: values that are `Send` but not `Sync` (a map that
    // could not be shared, but can lend its values to one other thread).
    let mut cells: HashMap<u64, std::cell::Cell<u64>> = HashMap::new();
    cells.pin().insert(1, std::cell::Cell::new(1));
    thread::scope(|s| {
        let iter = send(cells.iter_mut());
        s.spawn(move || iter.for_each(|(_, c)| c.set(c.get() + 1)));
    });
    thread::scope(|s| {
        let values = send(cells.values_mut());
        s.spawn(move || values.for_each(|c| *c.get_mut() *= 10));
    });
    let mut got: Vec<u64> = (&mut cells).into_iter().map(|(_, c)| c.get()).collect();
    got.sort_unstable();
    assert_eq!(got, [20]);

    // And keys that are `Send` but not `Sync`, as hashbrown's `IterMut`
    // allows: the map is borrowed mutably, so the keys are lent to one
    // thread at a time.
    #[derive(PartialEq, Eq, Hash)]
    struct SendOnly(u64, std::marker::PhantomData<std::cell::Cell<()>>);
    let mut by_send_only: HashMap<SendOnly, u64> = HashMap::new();
    by_send_only
        .pin()
        .insert(SendOnly(3, std::marker::PhantomData), 30);
    thread::scope(|s| {
        let iter = send(by_send_only.iter_mut());
        s.spawn(move || iter.for_each(|(k, v)| *v += k.0));
    });
    assert_eq!(by_send_only.iter_mut().map(|(_, v)| *v).sum::<u64>(), 33);
}

/// A drain keeps the map's statistics cumulative (its keys count as
/// removed) and its capacity floor, and leaves the next table's occupancy
/// exact: the held-back claims of the drained table (same generation tag)
/// do not reach the new one (found by review).
#[test]
fn a_drain_keeps_statistics_floor_and_occupancy_exact() {
    for n in [10u64, 100, 5_000] {
        let mut map: HashMap<u64, u64> = HashMap::with_capacity(100_000);
        let floor = map.capacity();
        {
            let m = map.pin();
            for k in 0..n {
                m.insert(k, k);
            }
        }
        let before = map.stats();
        assert_eq!(map.drain().count(), n as usize);
        let after = map.stats();
        assert_eq!(after.len, 0);
        assert_eq!(after.inserts, before.inserts, "inserts stay cumulative");
        assert_eq!(
            after.removes,
            before.removes + n,
            "drained keys count as removed"
        );
        assert!(
            map.capacity() >= floor,
            "the capacity floor survives a drain"
        );
        {
            let m = map.pin();
            for k in 0..n {
                m.insert(k + 1_000_000, k);
            }
        }
        let s = map.stats();
        assert_eq!(s.len, n as usize);
        assert_eq!(
            s.tombstones, 0,
            "{n} keys: the new table's occupancy counts only its own keys: {s:?}"
        );
        assert_eq!(
            s.resizes, before.resizes,
            "no resize below the floor: {s:?}"
        );
    }
}

/// Removals and replacements before a drain: tombstones' entries, replaced
/// entries waiting in the reclaimer and live ones are each dropped once.
#[test]
fn a_drain_after_removals_and_replacements_drops_everything_once() {
    let books = Books::new();
    {
        let mut map: HashMap<Tracked, Tracked> = HashMap::with_capacity(0);
        {
            let m = map.pin();
            for k in 0..2_000 {
                m.insert(books.k(k), books.v(k));
            }
            for k in (0..2_000).step_by(3) {
                m.remove(&books.k(k));
            }
            for k in (1..2_000).step_by(3) {
                m.insert(books.k(k), books.v(k + 10_000));
            }
        }
        let drained: Vec<_> = map.drain().collect();
        assert_eq!(drained.len(), 2_000 - 667);
        drop(drained);
        map.pin().insert(books.k(1), books.v(1));
        drop(map);
    }
    books
        .keys
        .assert_balanced("keys after removals, replacements and a drain");
    books
        .vals
        .assert_balanced("values after removals, replacements and a drain");
}

/// `HashSet::drain`: every element once, by value, the set empty and
/// reusable afterwards; an early-dropped drain drops the rest once.
#[test]
fn a_set_drain_yields_every_element_once() {
    let books = Books::new();
    let mut set: lfmap::HashSet<Tracked> = lfmap::HashSet::with_capacity(0);
    {
        let s = set.pin();
        for k in 0..1_000 {
            s.insert(books.k(k));
        }
        for k in (0..1_000).step_by(4) {
            s.remove(&books.k(k));
        }
    }
    let mut ids: Vec<u64> = set.drain().map(|t| t.id()).collect();
    ids.sort_unstable();
    let want: Vec<u64> = (0..1_000).filter(|k| k % 4 != 0).collect();
    assert_eq!(ids, want);
    assert!(set.is_empty());
    {
        let s = set.pin();
        for k in 0..10 {
            s.insert(books.k(k));
        }
    }
    let first: Vec<_> = set.drain().take(3).collect();
    assert_eq!(first.len(), 3);
    drop(first);
    assert!(set.is_empty());
    drop(set);
    books.keys.assert_balanced("a set's drains");
}
