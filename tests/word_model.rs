//! `WordMap` model tests: random single-threaded operation sequences against
//! `std::collections::HashMap`, comparing every return value, the length
//! after every operation and the full contents (through `iter`, which must
//! not yield a key twice) at checkpoints and at the end.
//!
//! Keys are drawn from a small space that mixes small values with values
//! whose top byte is set (the slot's two claim paths) and extremes (0,
//! `u64::MAX`); maps start at 16 slots so growth, tombstone rebuilds and
//! shrinks happen; some runs hash with only a few distinct hashes.

use std::collections::{HashMap as StdMap, HashSet};
use std::hash::{BuildHasher, Hasher};

use lfmap::WordMap;
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};

mod common;
use common::{sweep_prefix, SweepOrder};

/// `hash % n` with a final mix; `n == 1` is a constant hash.
#[derive(Clone, Copy, Debug)]
struct FewHashes(u64);

struct FewHasher(u64, u64);

impl Hasher for FewHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.1 = (self.1 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        let h = self.1 ^ (self.1 >> 29);
        h.wrapping_mul(0xff51_afd7_ed55_8ccd) % self.0
    }
}

impl BuildHasher for FewHashes {
    type Hasher = FewHasher;
    fn build_hasher(&self) -> FewHasher {
        FewHasher(self.0, 0xcbf2_9ce4_8422_2325)
    }
}

#[derive(Clone, Debug)]
enum Op {
    Insert(u64, u64),
    Remove(u64),
    Get(u64),
    Add(u64, u64),
    Update(u64, u64),
    Cas(u64, u64, u64),
    GetOrInsert(u64, u64),
    Check,
    Clear,
    /// Inserts keys `1000..1000 + n` (so that sweeps shrink real tables).
    Fill(u16),
    /// "Remove what you iterate": removes a prefix of the keys in a
    /// [`SweepOrder`], keeping the last `keep` tenths.
    Sweep(SweepOrder, u8),
}

/// A key from a space of 48: small numbers, their top-byte-set twins (same
/// low 56 bits: the slot's fast compare matches, the top byte must not),
/// and the extremes.
fn key(g: &mut Gen) -> u64 {
    let k = u64::arbitrary(g) % 48;
    match k {
        0..=19 => k,
        20..=39 => (k - 20) | (u64::from(u8::arbitrary(g) % 3 + 1) << 56),
        40 => u64::MAX,
        41 => 0,
        _ => k << 50,
    }
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Op {
        let v = u64::arbitrary(g) % 8;
        match u8::arbitrary(g) % 20 {
            0..=5 => Op::Insert(key(g), v),
            6..=8 => Op::Remove(key(g)),
            9..=10 => Op::Get(key(g)),
            11..=12 => Op::Add(key(g), v),
            13 => Op::Update(key(g), v),
            14..=15 => Op::Cas(key(g), v % 3, v),
            16..=17 => Op::GetOrInsert(key(g), v),
            18 => Op::Check,
            19 if u8::arbitrary(g) % 4 == 0 => Op::Fill(u16::arbitrary(g) % 3000),
            19 if u8::arbitrary(g) % 2 == 0 => Op::Sweep(
                SweepOrder::from_seed(u64::arbitrary(g)),
                u8::arbitrary(g) % 11,
            ),
            _ => {
                if u8::arbitrary(g) % 8 == 0 {
                    Op::Clear
                } else {
                    Op::Check
                }
            }
        }
    }
}

fn check_contents<S: BuildHasher>(map: &WordMap<u64, u64, S>, model: &StdMap<u64, u64>) {
    let mut seen = HashSet::new();
    for (k, v) in map.iter() {
        assert!(seen.insert(k), "key {k:#x} yielded twice");
        assert_eq!(model.get(&k), Some(&v), "key {k:#x}");
    }
    assert_eq!(seen.len(), model.len());
}

fn run<S: BuildHasher>(map: WordMap<u64, u64, S>, ops: &[Op]) {
    let mut model = StdMap::new();
    for op in ops {
        match *op {
            Op::Insert(k, v) => assert_eq!(map.insert(k, v), model.insert(k, v)),
            Op::Remove(k) => assert_eq!(map.remove(&k), model.remove(&k)),
            Op::Get(k) => assert_eq!(map.get(&k), model.get(&k).copied()),
            Op::Add(k, d) => {
                let e = model.entry(k).or_insert(0);
                *e = e.wrapping_add(d);
                assert_eq!(map.add(&k, d), *e);
            }
            Op::Update(k, d) => {
                let want = model.get_mut(&k).map(|v| {
                    *v = v.wrapping_mul(3).wrapping_add(d);
                    *v
                });
                assert_eq!(map.update(&k, |v| v.wrapping_mul(3).wrapping_add(d)), want);
            }
            Op::Cas(k, cur, new) => {
                let want = match model.get(&k).copied() {
                    Some(v) if v == cur => {
                        model.insert(k, new);
                        Ok(cur)
                    }
                    other => Err(other),
                };
                assert_eq!(map.compare_exchange(&k, cur, new), want);
            }
            Op::GetOrInsert(k, v) => {
                assert_eq!(map.get_or_insert(k, v), *model.entry(k).or_insert(v));
            }
            Op::Check => check_contents(&map, &model),
            Op::Clear => {
                map.clear();
                model.clear();
            }
            Op::Fill(n) => {
                for k in 1000..1000 + u64::from(n) {
                    assert_eq!(map.insert(k, k), model.insert(k, k));
                }
            }
            Op::Sweep(order, keep) => {
                let keys: Vec<u64> = map.iter().map(|(k, _)| k).collect();
                let hash = |k: &u64| map.hasher().hash_one(k);
                match sweep_prefix(keys, order, keep, hash) {
                    (_, Some(doomed)) => {
                        for k in &doomed {
                            assert_eq!(map.remove(k), model.remove(k));
                        }
                    }
                    (remove, None) => {
                        for (k, _) in map.iter().take(remove) {
                            assert_eq!(map.remove(&k), model.remove(&k));
                        }
                    }
                }
                let (stats, probes) = (map.stats(), map.probe_stats());
                if stats.resizes == stats.resizes_finished {
                    assert_eq!(probes.keys, model.len(), "{probes:?} {stats:?}");
                }
            }
        }
        assert_eq!(map.len(), model.len());
    }
    check_contents(&map, &model);
}

#[test]
fn word_map_matches_std() {
    fn prop(ops: Vec<Op>) -> TestResult {
        run(WordMap::new(), &ops);
        TestResult::passed()
    }
    QuickCheck::new()
        .tests(500)
        .rng(Gen::new(400))
        .quickcheck(prop as fn(Vec<Op>) -> TestResult);
}

#[test]
fn word_map_matches_std_with_few_hashes() {
    fn prop(ops: Vec<Op>, few: u8) -> TestResult {
        let n = u64::from(few % 4) + 1; // 1 = every key collides
        run(WordMap::with_hasher(FewHashes(n)), &ops);
        TestResult::passed()
    }
    QuickCheck::new()
        .tests(300)
        .rng(Gen::new(300))
        .quickcheck(prop as fn(Vec<Op>, u8) -> TestResult);
}

#[test]
fn constant_hash_many_keys() {
    let map = WordMap::with_hasher(FewHashes(1));
    let keys: Vec<u64> = (0..3000u64)
        .map(|i| if i % 2 == 0 { i } else { i | 0xff << 56 })
        .collect();
    for &k in &keys {
        assert_eq!(map.insert(k, !k), None);
    }
    assert_eq!(map.len(), keys.len());
    for &k in &keys {
        assert_eq!(map.get(&k), Some(!k));
    }
    for &k in keys.iter().step_by(3) {
        assert_eq!(map.remove(&k), Some(!k));
    }
    for (i, &k) in keys.iter().enumerate() {
        assert_eq!(map.get(&k), (i % 3 != 0).then_some(!k));
    }
}

#[test]
fn every_word_type_round_trips() {
    let m: WordMap<f64, f32> = WordMap::new();
    m.insert(f64::NAN, -0.0);
    m.insert(f64::INFINITY, f32::MIN);
    assert_eq!(
        m.get(&f64::NAN).map(f32::to_bits),
        Some((-0.0f32).to_bits())
    );
    assert_eq!(m.get(&f64::INFINITY), Some(f32::MIN));
    let m: WordMap<i64, i8> = WordMap::new();
    assert_eq!(m.add(&i64::MIN, -128), -128);
    assert_eq!(m.add(&i64::MIN, -1), 127);
    let m: WordMap<char, std::num::NonZeroU64> = WordMap::new();
    let one = std::num::NonZeroU64::new(u64::MAX).unwrap();
    m.insert('é', one);
    assert_eq!(m.get(&'é'), Some(one));
    let m: WordMap<bool, usize> = WordMap::new();
    m.insert(false, usize::MAX);
    m.insert(true, 0);
    assert_eq!(m.iter().count(), 2);
    assert_eq!(
        format!("{:?}", WordMap::<u8, bool>::from_iter([(1, true)])),
        "{1: true}"
    );
}
