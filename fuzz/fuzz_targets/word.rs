//! `word`: `WordMap<u64, u64>` against `std::collections::HashMap`, under an
//! input-chosen hasher (`Shape`: constant, few hashes, equal high bits, ...).
//!
//! Keys come from a small alphabet that mixes small values, values whose
//! top byte is set (the pending-claim path) and that share their low 56 bits
//! with a small one, and the extremes 0 and `u64::MAX`. Phase 1 runs the
//! input's operations one by one and checks every result, `len` after each
//! operation and the full contents through `iter` at checkpoints. Phase 2
//! runs `add`s from two threads on input-chosen keys (shared and own) while
//! the map grows, then checks every key's value exactly.
#![no_main]

use std::collections::{HashMap, HashSet};

use arbitrary::Arbitrary;
use lfmap::WordMap;
use lfmap_fuzz::hashing::{Shape, ShapedHash};
use libfuzzer_sys::fuzz_target;

/// The key alphabet: index `i % 16` picks a class, `i / 16` the low bits.
fn key(i: u8) -> u64 {
    let low = u64::from(i / 16);
    match i % 16 {
        0..=5 => low,
        6..=8 => low | 0xab << 56,
        9 => low | 0xff << 56,
        10 => u64::MAX - low,
        11 => low << 56,
        12 => low << 48,
        13 => 0,
        _ => low | 1 << 40,
    }
}

/// Thread `t`'s `i`-th own key in phase 2: distinct per thread and from
/// the alphabet, half of them with a top byte.
fn own_key(t: u64, i: u64) -> u64 {
    (t + 1) << 32 | i | (i & 1) << 62
}

#[derive(Arbitrary, Debug)]
enum Op {
    Insert(u8, u64),
    Remove(u8),
    Get(u8),
    Add(u8, u64),
    Update(u8, u64),
    Cas(u8, u64, u64),
    GetOrInsert(u8, u64),
    GetOrInsertWith(u8, u64),
    Check,
    Clear,
}

#[derive(Arbitrary, Debug)]
struct Input {
    shape: Shape,
    capacity: u8,
    ops: Vec<Op>,
    /// Keys the two threads of phase 2 add to (each thread: these, then
    /// its own range).
    shared: Vec<u8>,
    own: u16,
}

fn check(map: &WordMap<u64, u64, ShapedHash>, model: &HashMap<u64, u64>) {
    let mut seen = HashSet::new();
    for (k, v) in map.iter() {
        assert!(seen.insert(k), "key {k:#x} yielded twice");
        assert_eq!(model.get(&k), Some(&v), "key {k:#x}");
    }
    assert_eq!(seen.len(), model.len());
    assert_eq!(map.len(), model.len());
}

fuzz_target!(|input: Input| {
    let Input {
        shape,
        capacity,
        ops,
        shared,
        own,
    } = input;
    let map = WordMap::with_capacity_and_hasher(usize::from(capacity), ShapedHash::new(shape));
    let mut model: HashMap<u64, u64> = HashMap::new();
    for op in ops.into_iter().take(2000) {
        match op {
            Op::Insert(k, v) => assert_eq!(map.insert(key(k), v), model.insert(key(k), v)),
            Op::Remove(k) => assert_eq!(map.remove(&key(k)), model.remove(&key(k))),
            Op::Get(k) => assert_eq!(map.get(&key(k)), model.get(&key(k)).copied()),
            Op::Add(k, d) => {
                let e = model.entry(key(k)).or_insert(0);
                *e = e.wrapping_add(d);
                assert_eq!(map.add(&key(k), d), *e);
            }
            Op::Update(k, d) => {
                let want = model.get_mut(&key(k)).map(|v| {
                    *v ^= d;
                    *v
                });
                let mut runs = 0;
                let got = map.update(&key(k), |v| {
                    runs += 1;
                    v ^ d
                });
                assert_eq!(got, want);
                // No other thread: the closure runs once if present.
                assert_eq!(runs, usize::from(want.is_some()));
            }
            Op::Cas(k, cur, new) => {
                let want = match model.get(&key(k)).copied() {
                    Some(v) if v == cur => {
                        model.insert(key(k), new);
                        Ok(cur)
                    }
                    other => Err(other),
                };
                assert_eq!(map.compare_exchange(&key(k), cur, new), want);
            }
            Op::GetOrInsert(k, v) => {
                assert_eq!(
                    map.get_or_insert(key(k), v),
                    *model.entry(key(k)).or_insert(v)
                );
            }
            Op::GetOrInsertWith(k, v) => {
                let mut runs = 0;
                let got = map.get_or_insert_with(key(k), || {
                    runs += 1;
                    v
                });
                let absent = !model.contains_key(&key(k));
                assert_eq!(got, *model.entry(key(k)).or_insert(v));
                assert_eq!(runs, usize::from(absent));
            }
            Op::Check => check(&map, &model),
            Op::Clear => {
                map.clear();
                model.clear();
            }
        }
        assert_eq!(map.len(), model.len());
    }
    check(&map, &model);

    // Phase 2: two threads add concurrently; every add must land once.
    let shared: Vec<u64> = shared.into_iter().take(64).map(key).collect();
    let own = u64::from(own % 600);
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (map, shared) = (&map, &shared);
            s.spawn(move || {
                for &k in shared {
                    map.add(&k, 1);
                }
                for i in 0..own {
                    map.add(&own_key(t, i), 1);
                }
            });
        }
    });
    let distinct: HashSet<u64> = shared.iter().copied().collect();
    for &k in &distinct {
        let before = model.get(&k).copied().unwrap_or(0);
        let adds = 2 * shared.iter().filter(|&&x| x == k).count() as u64;
        assert_eq!(
            map.get(&k),
            Some(before.wrapping_add(adds)),
            "shared key {k:#x}"
        );
    }
    for t in 0..2u64 {
        for i in 0..own {
            let k = own_key(t, i);
            assert_eq!(map.get(&k), Some(1), "own key {k:#x}");
        }
    }
    let new_shared = distinct.iter().filter(|k| !model.contains_key(k)).count();
    let len = model.len() + new_shared + 2 * own as usize;
    assert_eq!(map.len(), len);
    assert_eq!(map.iter().count(), len);
});
