//! Model tests: random single-threaded operation sequences run against
//! `lfmap`'s maps and `std::collections::HashMap`, comparing every return
//! value, the length after every operation, and the full contents (through
//! `iter`, which must not yield a key twice) at checkpoints and at the end.
//!
//! Two models: `HashMap`'s whole API on `u16` and `String` keys (the
//! `model_*` tests), and the operations both maps share on `u64` keys and
//! values, run on each map through the kit's runner (`hash_map::*`,
//! `word_map::*`), with keys whose top byte is set and the extremes.
//!
//! Key spaces are small so keys collide, are removed and come back; maps
//! start at 16 slots so growth, same-size tombstone rebuilds and shrinks all
//! happen; some runs use hashers with only a handful of distinct hashes.

use std::borrow::Borrow;
use std::collections::{HashMap as StdMap, HashSet};
use std::fmt::Debug;
use std::hash::{BuildHasher, Hash, Hasher};

use lfmap::{HashMap, Operation, WordCompute, WordMap};
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};

mod common;
use common::{both_maps, sweep_prefix, Ops, Shape, ShapedHash, SweepOrder, TestMap};

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

/// A key type the model can build from a small index, and the borrowed form
/// lookups use (`u16` for `u16`, `str` for `String`).
trait Key: Hash + Eq + Clone + Debug + Ord + Borrow<Self::Q> + 'static {
    type Q: Hash + Eq + ?Sized;
    fn make(i: u16) -> Self;
    fn q(&self) -> &Self::Q;
}

impl Key for u16 {
    type Q = u16;
    fn make(i: u16) -> u16 {
        i
    }
    fn q(&self) -> &u16 {
        self
    }
}

impl Key for String {
    type Q = str;
    fn make(i: u16) -> String {
        // Vary the length so string hashing and comparison see different sizes.
        format!("key-{i}-{}", "x".repeat(usize::from(i % 5)))
    }
    fn q(&self) -> &str {
        self.as_str()
    }
}

// ---------------------------------------------------------------------------
// Operations and scenarios
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Op {
    Insert(u16, u32),
    Remove(u16),
    Get(u16),
    GetKeyValue(u16),
    GetOrInsert(u16, u32),
    GetOrInsertWith(u16, u32),
    /// `try_insert`, or (odd values) `try_insert_with`.
    TryInsert(u16, u32),
    Update(u16, u32),
    RemoveIf(u16, u32),
    ContainsKey(u16),
    Clear,
    Retain(u32),
    Len,
    Iter,
    /// With a long-lived handle, `refresh` it (lets garbage be reclaimed);
    /// otherwise, as every step, drop the pinned handle and pin again.
    Repin,
    /// "Remove what you iterate": remove a prefix of the keys, in a
    /// [`SweepOrder`], keeping the last `keep` tenths.
    Sweep(SweepOrder, u8),
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Op {
        let k = u16::arbitrary(g);
        let v = u32::arbitrary(g);
        // Weighted: writes dominate, whole-map operations are rare.
        match u32::arbitrary(g) % 1000 {
            0..=279 => Op::Insert(k, v),
            280..=459 => Op::Remove(k),
            460..=539 => Op::Get(k),
            540..=569 => Op::GetKeyValue(k),
            570..=609 => Op::GetOrInsert(k, v),
            610..=639 => Op::TryInsert(k, v),
            640..=699 => Op::GetOrInsertWith(k, v),
            700..=799 => Op::Update(k, v),
            800..=869 => Op::RemoveIf(k, v),
            870..=919 => Op::ContainsKey(k),
            920..=923 => Op::Clear,
            924..=939 => Op::Retain(v),
            940..=949 => Op::Len,
            950..=959 => Op::Sweep(SweepOrder::from_seed(u64::from(v)), (v % 11) as u8),
            960..=979 => Op::Iter,
            _ => Op::Repin,
        }
    }
}

#[derive(Clone, Debug)]
struct Scenario {
    /// Keys are `op key % keys`.
    keys: u16,
    /// `with_capacity` argument.
    capacity: usize,
    /// Keep one pinned handle for all operations (until `Repin`), rather
    /// than pinning for each.
    long_pin: bool,
    ops: Vec<Op>,
}

impl Arbitrary for Scenario {
    fn arbitrary(g: &mut Gen) -> Scenario {
        let keys = *g
            .choose(&[1u16, 2, 3, 8, 16, 24, 40, 64, 100, 200, 500, 1000])
            .unwrap();
        let capacity = *g.choose(&[0usize, 0, 0, 0, 1, 11, 12, 13, 50]).unwrap();
        let len = usize::arbitrary(g) % (g.size() + 1);
        Scenario {
            keys,
            capacity,
            long_pin: bool::arbitrary(g),
            ops: (0..len).map(|_| Op::arbitrary(g)).collect(),
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Scenario>> {
        let s = self.clone();
        Box::new(
            self.ops
                .shrink()
                .map(move |ops| Scenario { ops, ..s.clone() }),
        )
    }
}

// ---------------------------------------------------------------------------
// The model check
// ---------------------------------------------------------------------------

/// Compares the whole map with the model: `iter` yields every key once and
/// nothing else; `keys`/`values` agree; `len` and `stats` agree.
fn check_contents<K: Key, S: BuildHasher>(
    map: &HashMap<K, u32, S>,
    model: &StdMap<K, u32>,
    ctx: &str,
) {
    let m = map.pin();
    let mut seen = HashSet::new();
    let mut got = StdMap::new();
    for (k, v) in m.iter() {
        assert!(seen.insert(k.clone()), "{ctx}: iter yielded {k:?} twice");
        got.insert(k.clone(), *v);
    }
    assert_eq!(&got, model, "{ctx}: iter contents differ from model");
    assert_eq!(m.keys().count(), model.len(), "{ctx}: keys().count()");
    assert_eq!(
        m.values().map(|&v| u64::from(v)).sum::<u64>(),
        model.values().map(|&v| u64::from(v)).sum::<u64>(),
        "{ctx}: values() sum"
    );
    assert_eq!(map.len(), model.len(), "{ctx}: len");
    assert_eq!(map.is_empty(), model.is_empty(), "{ctx}: is_empty");
    let stats = map.stats();
    assert_eq!(stats.len, model.len(), "{ctx}: stats.len {stats:?}");
    assert!(
        stats.slots % 16 == 0 && stats.slots >= 16,
        "{ctx}: {stats:?}"
    );
    // Every model key is found by lookup too (not only by iteration).
    for (k, v) in model {
        assert_eq!(m.get(k.q()), Some(v), "{ctx}: get({k:?})");
    }
}

/// Whether a hasher spreads keys well enough for probe-length bounds to
/// hold (a constant or `% n` hash clusters by design, correctly).
trait Spreads {
    fn spreads(&self) -> bool;
}

impl Spreads for ShapedHash {
    fn spreads(&self) -> bool {
        self.0.spreads()
    }
}

impl Spreads for lfmap::DefaultHashBuilder {
    fn spreads(&self) -> bool {
        true
    }
}

impl Spreads for std::collections::hash_map::RandomState {
    fn spreads(&self) -> bool {
        true
    }
}

/// `probe_stats` agrees with the model: once no resize is in progress, the
/// current table holds every key; with a hasher that spreads keys and
/// enough keys for the statistics to settle, no lookup walks a long cluster,
/// whatever order keys were removed in (issue #12: a clustered table shows
/// a mean probe in the hundreds).
fn check_probes<K: Key, S: BuildHasher + Spreads>(
    map: &HashMap<K, u32, S>,
    model: &StdMap<K, u32>,
    ctx: &str,
) {
    let stats = map.stats();
    let probes = map.probe_stats();
    if stats.resizes == stats.resizes_finished {
        assert_eq!(probes.keys, model.len(), "{ctx}: {probes:?} {stats:?}");
        assert_eq!(probes.slots, stats.slots, "{ctx}: {probes:?} {stats:?}");
    }
    if map.hasher().spreads() && probes.keys >= 500 {
        assert!(
            probes.mean_probe() <= 3.5 && probes.longest_run <= 400,
            "{ctx}: clustered table: mean probe {:.2}, {probes:?}",
            probes.mean_probe()
        );
    }
}

fn keep_for_retain(v: u32, m: u32) -> bool {
    v % (m % 5 + 2) != 0
}

/// Runs `sc` against both maps, panicking (with context) on any divergence.
fn run<K: Key, S: BuildHasher + Clone + Spreads>(sc: &Scenario, hasher: S) {
    let map: HashMap<K, u32, S> = HashMap::with_capacity_and_hasher(sc.capacity, hasher);
    let mut model: StdMap<K, u32> = StdMap::new();
    let key = |k: u16| K::make(k % sc.keys);

    let mut pinned = Some(map.pin());
    for (step, &op) in sc.ops.iter().enumerate() {
        let ctx = format!("step {step} {op:?}");
        if sc.long_pin && matches!(op, Op::Repin) {
            // The long-lived handle lets go of its pin and pins again.
            pinned.as_mut().unwrap().refresh();
        } else if !sc.long_pin {
            drop(pinned.take()); // unpin before pinning again
            pinned = Some(map.pin());
        }
        let m = pinned.as_ref().unwrap();
        match op {
            Op::Insert(k, v) => {
                let k = key(k);
                let expected = model.insert(k.clone(), v);
                assert_eq!(m.insert(k, v).copied(), expected, "{ctx}");
            }
            Op::Remove(k) => {
                let k = key(k);
                let expected = model.remove(k.q());
                assert_eq!(m.remove(k.q()).copied(), expected, "{ctx}");
            }
            Op::Get(k) => {
                let k = key(k);
                assert_eq!(m.get(k.q()), model.get(k.q()), "{ctx}");
            }
            Op::GetKeyValue(k) => {
                let k = key(k);
                assert_eq!(m.get_key_value(k.q()), model.get_key_value(k.q()), "{ctx}");
            }
            Op::GetOrInsert(k, v) => {
                let k = key(k);
                let expected = *model.entry(k.clone()).or_insert(v);
                assert_eq!(*m.get_or_insert(k, v), expected, "{ctx}");
            }
            Op::GetOrInsertWith(k, v) => {
                let k = key(k);
                let present = model.contains_key(k.q());
                let mut calls = 0;
                let mut make = || {
                    calls += 1;
                    v
                };
                // A fifth of the calls through `get_or_try_insert_with` whose
                // `make` fails (the model unchanged), a fifth through it
                // succeeding, the rest through `get_or_insert_with`.
                let got = match v % 5 {
                    0 => m.get_or_try_insert_with(k.clone(), || Err(make())).copied(),
                    1 => m
                        .get_or_try_insert_with(k.clone(), || Ok::<_, u32>(make()))
                        .copied(),
                    _ => Ok(*m.get_or_insert_with(k.clone(), make)),
                };
                let expected = match model.get(k.q()) {
                    None if v % 5 == 0 => Err(v),
                    _ => Ok(*model.entry(k).or_insert(v)),
                };
                assert_eq!(got, expected, "{ctx}");
                // Single-threaded, `make` runs exactly when the key is absent.
                assert_eq!(calls, usize::from(!present), "{ctx}: make() calls");
            }
            Op::TryInsert(k, v) => {
                let k = key(k);
                let present = model.get(k.q()).copied();
                let got = if v % 2 == 0 {
                    m.try_insert(k.clone(), v).copied().map_err(|e| {
                        assert_eq!(e.not_inserted, v, "{ctx}: the value given back");
                        *e.current
                    })
                } else {
                    let mut calls = 0;
                    let got = m.try_insert_with(k.clone(), || {
                        calls += 1;
                        v
                    });
                    assert_eq!(calls, usize::from(present.is_none()), "{ctx}: make() calls");
                    got.copied().map_err(|x| *x)
                };
                let expected = match present {
                    Some(cur) => Err(cur),
                    None => {
                        model.insert(k, v);
                        Ok(v)
                    }
                };
                assert_eq!(got, expected, "{ctx}");
            }
            Op::Update(k, d) => {
                let k = key(k);
                let expected = model.get_mut(k.q()).map(|v| {
                    *v = v.wrapping_add(d);
                    *v
                });
                let mut calls = 0;
                let got = m
                    .update(k.q(), |v| {
                        calls += 1;
                        v.wrapping_add(d)
                    })
                    .copied();
                assert_eq!(got, expected, "{ctx}");
                assert_eq!(calls, usize::from(expected.is_some()), "{ctx}: f calls");
            }
            Op::RemoveIf(k, t) => {
                let k = key(k);
                let pred = |v: &u32| v % 3 == t % 3;
                let expected = match model.get(k.q()) {
                    Some(v) if pred(v) => model.remove_entry(k.q()),
                    _ => None,
                };
                let got = m
                    .remove_if(k.q(), |kk, v| {
                        assert_eq!(kk, &k, "{ctx}: predicate got another key");
                        pred(v)
                    })
                    .map(|(k, v)| (k.clone(), *v));
                assert_eq!(got, expected, "{ctx}");
            }
            Op::ContainsKey(k) => {
                let k = key(k);
                assert_eq!(m.contains_key(k.q()), model.contains_key(k.q()), "{ctx}");
            }
            Op::Clear => {
                m.clear();
                model.clear();
                assert!(m.is_empty(), "{ctx}");
                assert_eq!(m.iter().count(), 0, "{ctx}");
            }
            Op::Retain(r) => {
                let mut visited = Vec::new();
                m.retain(|k, v| {
                    visited.push(k.clone());
                    keep_for_retain(*v, r)
                });
                // Each key judged exactly once (single-threaded).
                let mut expected_visits: Vec<K> = model.keys().cloned().collect();
                expected_visits.sort();
                visited.sort();
                assert_eq!(visited, expected_visits, "{ctx}: retain visits");
                model.retain(|_, v| keep_for_retain(*v, r));
            }
            Op::Len => {
                assert_eq!(m.len(), model.len(), "{ctx}");
            }
            Op::Sweep(order, keep) => {
                let keys: Vec<K> = m.keys().cloned().collect();
                let hash = |k: &K| map.hasher().hash_one(k);
                match sweep_prefix(keys, order, keep, hash) {
                    (_, Some(doomed)) => {
                        for k in &doomed {
                            assert_eq!(m.remove(k.q()).copied(), model.remove(k.q()), "{ctx}");
                        }
                    }
                    (remove, None) => {
                        for k in m.keys().take(remove) {
                            assert_eq!(m.remove(k.q()), model.remove(k.q()).as_ref(), "{ctx}");
                        }
                    }
                }
                check_probes(&map, &model, &ctx);
            }
            Op::Iter => check_contents(&map, &model, &ctx),
            Op::Repin => {}
        }
        assert_eq!(map.len(), model.len(), "{ctx}: len after op");
    }
    drop(pinned);
    check_contents(&map, &model, "end");

    // Clone and equality, on whatever the sequence left behind.
    let copy = map.clone();
    assert!(copy == map, "clone differs");
    check_contents(&copy, &model, "clone");
}

fn qc(tests: u64, size: usize) -> QuickCheck {
    QuickCheck::new()
        .tests(tests)
        .max_tests(tests * 10)
        .rng(Gen::new(size))
}

/// Fewer and shorter runs in debug builds, which are ~20x slower.
fn scale(release: u64, debug: u64) -> u64 {
    if cfg!(debug_assertions) {
        debug
    } else {
        release
    }
}

fn prop_u16_full(sc: Scenario) -> TestResult {
    run::<u16, _>(&sc, ShapedHash(Shape::Full));
    TestResult::passed()
}

fn prop_u16_foldhash(sc: Scenario) -> TestResult {
    run::<u16, _>(&sc, lfmap::DefaultHashBuilder::default());
    TestResult::passed()
}

fn prop_u16_weak(sc: Scenario, shape: u8, n: u8) -> TestResult {
    let n = u64::from(n % 8) + 1;
    let shape = match shape % 4 {
        0 => Shape::Mod(n),
        1 => Shape::Const,
        2 => Shape::HighOnly(n),
        _ => Shape::TagClash(n),
    };
    run::<u16, _>(&sc, ShapedHash(shape));
    TestResult::passed()
}

fn prop_string_full(sc: Scenario) -> TestResult {
    run::<String, _>(&sc, std::collections::hash_map::RandomState::new());
    TestResult::passed()
}

fn prop_string_weak(sc: Scenario, n: u8) -> TestResult {
    run::<String, _>(&sc, ShapedHash(Shape::Mod(u64::from(n % 4) + 1)));
    TestResult::passed()
}

#[test]
fn model_u16_short() {
    qc(scale(10_000, 1000), 60).quickcheck(prop_u16_full as fn(Scenario) -> TestResult);
}

#[test]
fn model_u16_long() {
    qc(scale(2000, 200), 3000).quickcheck(prop_u16_full as fn(Scenario) -> TestResult);
}

#[test]
fn model_u16_foldhash_long() {
    qc(scale(1000, 100), 3000).quickcheck(prop_u16_foldhash as fn(Scenario) -> TestResult);
}

#[test]
fn model_u16_weak_hashes() {
    qc(scale(2000, 200), 1500).quickcheck(prop_u16_weak as fn(Scenario, u8, u8) -> TestResult);
}

#[test]
fn model_string_keys() {
    qc(scale(1000, 100), 1500).quickcheck(prop_string_full as fn(Scenario) -> TestResult);
}

#[test]
fn model_string_keys_weak_hash() {
    qc(scale(1000, 100), 1000).quickcheck(prop_string_weak as fn(Scenario, u8) -> TestResult);
}

// ---------------------------------------------------------------------------
// Fixed sequences that random runs reach only by luck
// ---------------------------------------------------------------------------

/// Long deterministic churn: grow to many keys, delete most (shrink), revive
/// tombstones, fill a table with tombstones so a same-size rebuild happens.
#[test]
fn model_deterministic_grow_shrink_tombstones() {
    for shape in [Shape::Full, Shape::Mod(3), Shape::HighOnly(4), Shape::Const] {
        let n: u16 = if matches!(shape, Shape::Const) {
            300
        } else {
            3000
        };
        let mut ops = Vec::new();
        for i in 0..n {
            ops.push(Op::Insert(i, u32::from(i)));
        }
        for i in 0..n {
            if i % 10 != 0 {
                ops.push(Op::Remove(i));
            }
        }
        ops.push(Op::Iter);
        for round in 0..20u32 {
            for i in 0..12u16 {
                ops.push(Op::Insert(n + i, round));
                ops.push(Op::Remove(n + i));
            }
            ops.push(Op::Update(0, 1));
            ops.push(Op::RemoveIf(10, round));
        }
        ops.push(Op::Iter);
        for i in 0..n {
            ops.push(Op::GetOrInsert(i, 7));
        }
        ops.push(Op::Retain(1));
        ops.push(Op::Iter);
        ops.push(Op::Clear);
        for i in 0..40 {
            ops.push(Op::Insert(i, 1));
        }
        let sc = Scenario {
            keys: u16::MAX,
            capacity: 0,
            long_pin: false,
            ops,
        };
        run::<u16, _>(&sc, ShapedHash(shape));
        let sc = Scenario {
            long_pin: true,
            ..sc
        };
        run::<u16, _>(&sc, ShapedHash(shape));
    }
}

/// "Remove what you iterate" at a size where tables really shrink: 20,000
/// keys removed down to 0, 10% or 50% in each order, then refilled and
/// swept again.
#[test]
fn model_remove_what_you_iterate() {
    let orders = [
        SweepOrder::Iteration,
        SweepOrder::DuringIteration,
        SweepOrder::Hash,
        SweepOrder::Random(7),
    ];
    for order in orders {
        for keep in [0, 1, 5] {
            let mut ops: Vec<Op> = (0..20_000).map(|i| Op::Insert(i, u32::from(i))).collect();
            ops.push(Op::Sweep(order, keep));
            ops.push(Op::Iter);
            ops.extend((20_000..30_000).map(|i| Op::Insert(i, 1)));
            ops.push(Op::Sweep(order, 1));
            ops.push(Op::Iter);
            let sc = Scenario {
                keys: u16::MAX,
                capacity: 0,
                long_pin: true,
                ops,
            };
            run::<u16, _>(&sc, ShapedHash(Shape::Full));
            run::<u16, _>(&sc, lfmap::DefaultHashBuilder::default());
        }
    }
}

/// A 16-slot table kept at 12 live keys while other keys are inserted and
/// removed: every removal leaves a tombstone, so the table repeatedly fills
/// with tombstones and must rebuild at the same size, never losing a key.
fn model_tombstone_rebuild_same_size<M: TestMap>() {
    let map = M::with_capacity(0);
    let mut model = StdMap::new();
    let m = map.pin();
    for k in 0..12u64 {
        m.insert(k, k);
        model.insert(k, k);
    }
    for k in 100..5000u64 {
        assert_eq!(m.insert(k, k), None);
        assert_eq!(m.remove(&k), Some(k));
        if k % 97 == 0 {
            let mut got: Vec<_> = m.iter().collect();
            got.sort_unstable();
            let mut want: Vec<_> = model.iter().map(|(k, v)| (*k, *v)).collect();
            want.sort_unstable();
            assert_eq!(got, want, "after churn key {k}");
        }
    }
    for k in 0..12u64 {
        assert_eq!(m.get(&k), Some(k));
    }
    assert_eq!(m.len(), 12);
    drop(m);
    let stats = map.stats();
    assert!(
        stats.slots <= 64,
        "{}: 12 live keys need no big table: {stats:?}",
        M::NAME
    );
}

/// The docs of `insert` say: "As with std's map, an existing key is kept and
/// the new key dropped." Keys that are equal but distinguishable show which
/// key the map holds afterwards.
#[test]
fn insert_over_existing_stores_the_new_key_as_documented() {
    #[derive(Clone, Debug)]
    struct Tagged(u32, &'static str);
    impl PartialEq for Tagged {
        fn eq(&self, other: &Self) -> bool {
            self.0 == other.0
        }
    }
    impl Eq for Tagged {}
    impl Hash for Tagged {
        fn hash<H: Hasher>(&self, h: &mut H) {
            self.0.hash(h);
        }
    }

    let mut std_map = StdMap::new();
    std_map.insert(Tagged(1, "first"), 1);
    std_map.insert(Tagged(1, "second"), 2);
    let (std_key, _) = std_map.get_key_value(&Tagged(1, "probe")).unwrap();
    assert_eq!(
        std_key.1, "first",
        "std keeps the original key; lfmap documents otherwise"
    );

    let map = HashMap::new();
    let m = map.pin();
    m.insert(Tagged(1, "first"), 1);
    assert_eq!(m.insert(Tagged(1, "second"), 2), Some(&1));
    let (key, value) = m.get_key_value(&Tagged(1, "probe")).unwrap();
    assert_eq!(*value, 2);
    assert_eq!(
        key.1, "second",
        "insert over an existing key stores the new key with the new value (documented)"
    );
}

// ---------------------------------------------------------------------------
// The u64 model, on both maps
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum U64Op {
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
    /// `retain` keeping what [`keep_u64`] says for this modulus.
    Retain(u8),
    /// `remove_if` the value is below the bound.
    RemoveIf(u64, u64),
    /// `compute` with [`compute_u64`]'s closure for this operand.
    Compute(u64, u64),
    /// `update_or_insert_with`: `v * 3 + d` if present, else `d`.
    UpdateOrInsert(u64, u64),
}

/// `U64Op::Retain`'s predicate.
fn keep_u64(k: u64, v: u64, m: u8) -> bool {
    (k ^ v) % (u64::from(m % 4) + 2) != 0
}

/// `U64Op::Compute`'s closure: every `Operation`, picked by the operand and
/// the current value.
fn compute_u64(cur: Option<u64>, x: u64) -> Operation<u64, u64> {
    match cur {
        None if x % 4 == 0 => Operation::Abort(x),
        None if x % 4 == 1 => Operation::Remove,
        None => Operation::Insert(x),
        Some(v) => match v.wrapping_add(x) % 4 {
            0 => Operation::Remove,
            1 => Operation::Abort(v),
            _ => Operation::Insert(v.wrapping_add(x)),
        },
    }
}

/// A key from a space of 48: small numbers, their top-byte-set twins (same
/// low 56 bits: a `WordMap` slot's fast compare matches, the top byte must
/// not), and the extremes.
fn u64_key(g: &mut Gen) -> u64 {
    let k = u64::arbitrary(g) % 48;
    match k {
        0..=19 => k,
        20..=39 => (k - 20) | (u64::from(u8::arbitrary(g) % 3 + 1) << 56),
        40 => u64::MAX,
        41 => 0,
        _ => k << 50,
    }
}

impl Arbitrary for U64Op {
    fn arbitrary(g: &mut Gen) -> U64Op {
        let v = u64::arbitrary(g) % 8;
        match u8::arbitrary(g) % 24 {
            0..=5 => U64Op::Insert(u64_key(g), v),
            6..=8 => U64Op::Remove(u64_key(g)),
            9..=10 => U64Op::Get(u64_key(g)),
            11..=12 => U64Op::Add(u64_key(g), v),
            13 if bool::arbitrary(g) => U64Op::Update(u64_key(g), v),
            13 => U64Op::UpdateOrInsert(u64_key(g), v),
            14..=15 => U64Op::Cas(u64_key(g), v % 3, v),
            16..=17 => U64Op::GetOrInsert(u64_key(g), v),
            18 => U64Op::Check,
            20..=21 => U64Op::Compute(u64_key(g), u64::arbitrary(g) % 16),
            22 => U64Op::RemoveIf(u64_key(g), v),
            23 => U64Op::Retain(u8::arbitrary(g)),
            19 if u8::arbitrary(g) % 4 == 0 => U64Op::Fill(u16::arbitrary(g) % 3000),
            19 if u8::arbitrary(g) % 2 == 0 => U64Op::Sweep(
                SweepOrder::from_seed(u64::arbitrary(g)),
                u8::arbitrary(g) % 11,
            ),
            _ => {
                if u8::arbitrary(g) % 8 == 0 {
                    U64Op::Clear
                } else {
                    U64Op::Check
                }
            }
        }
    }
}

fn check_u64_contents<M: TestMap>(map: &M, model: &StdMap<u64, u64>) {
    let mut seen = HashSet::new();
    for (k, v) in map.pin().iter() {
        assert!(seen.insert(k), "key {k:#x} yielded twice");
        assert_eq!(model.get(&k), Some(&v), "key {k:#x}");
    }
    assert_eq!(seen.len(), model.len());
}

/// Runs `ops` on `map` and on a std map, one pin per operation.
fn run_u64<M: TestMap>(map: M, ops: &[U64Op]) {
    let mut model = StdMap::new();
    for op in ops {
        match *op {
            U64Op::Insert(k, v) => assert_eq!(map.pin().insert(k, v), model.insert(k, v)),
            U64Op::Remove(k) => assert_eq!(map.pin().remove(&k), model.remove(&k)),
            U64Op::Get(k) => assert_eq!(map.pin().get(&k), model.get(&k).copied()),
            U64Op::Add(k, d) => {
                let e = model.entry(k).or_insert(0);
                *e = e.wrapping_add(d);
                assert_eq!(map.pin().add(&k, d), *e);
            }
            U64Op::UpdateOrInsert(k, d) => {
                let step = |v: u64| v.wrapping_mul(3).wrapping_add(d);
                let present = model.contains_key(&k);
                let want = *model.entry(k).and_modify(|v| *v = step(*v)).or_insert(d);
                let (mut updates, mut makes) = (0, 0);
                let got = map.pin().update_or_insert_with(
                    k,
                    |v| {
                        updates += 1;
                        step(v)
                    },
                    || {
                        makes += 1;
                        d
                    },
                );
                assert_eq!(got, want);
                // One thread: each closure runs once, and only the one
                // the key's presence calls for.
                assert_eq!((updates, makes), if present { (1, 0) } else { (0, 1) });
            }
            U64Op::Update(k, d) => {
                let want = model.get_mut(&k).map(|v| {
                    *v = v.wrapping_mul(3).wrapping_add(d);
                    *v
                });
                let got = map.pin().update(&k, |v| v.wrapping_mul(3).wrapping_add(d));
                assert_eq!(got, want);
            }
            U64Op::Cas(k, cur, new) => {
                let want = match model.get(&k).copied() {
                    Some(v) if v == cur => {
                        model.insert(k, new);
                        Ok(cur)
                    }
                    other => Err(other),
                };
                assert_eq!(map.pin().compare_exchange(&k, cur, new), want);
            }
            U64Op::GetOrInsert(k, v) => {
                let want = *model.entry(k).or_insert(v);
                assert_eq!(map.pin().get_or_insert(k, v), want);
            }
            U64Op::Check => check_u64_contents(&map, &model),
            U64Op::Clear => {
                map.pin().clear();
                model.clear();
            }
            U64Op::Fill(n) => {
                for k in 1000..1000 + u64::from(n) {
                    assert_eq!(map.pin().insert(k, k), model.insert(k, k));
                }
            }
            U64Op::Sweep(order, keep) => {
                let hash = |k: &u64| map.hash(*k);
                match sweep_prefix(map.keys(), order, keep, hash) {
                    (_, Some(doomed)) => {
                        for k in &doomed {
                            assert_eq!(map.pin().remove(k), model.remove(k));
                        }
                    }
                    (remove, None) => {
                        let m = map.pin();
                        for (k, _) in m.iter().take(remove) {
                            assert_eq!(m.remove(&k), model.remove(&k));
                        }
                    }
                }
                let (stats, probes) = (map.stats(), map.probe_stats());
                if stats.resizes == stats.resizes_finished {
                    assert_eq!(probes.keys, model.len(), "{probes:?} {stats:?}");
                }
            }
            U64Op::Retain(m) => {
                let mut judged = Vec::new();
                map.pin().retain(|k, v| {
                    assert_eq!(model.get(&k), Some(&v), "retain judged {k:#x}");
                    judged.push(k);
                    keep_u64(k, v, m)
                });
                // Single-threaded: every key judged exactly once.
                let mut want: Vec<u64> = model.keys().copied().collect();
                want.sort_unstable();
                judged.sort_unstable();
                assert_eq!(judged, want, "retain judgements");
                model.retain(|&k, &mut v| keep_u64(k, v, m));
                let (stats, probes) = (map.stats(), map.probe_stats());
                if stats.resizes == stats.resizes_finished {
                    assert_eq!(probes.keys, model.len(), "retain: {probes:?} {stats:?}");
                }
            }
            U64Op::RemoveIf(k, bound) => {
                let present = model.contains_key(&k);
                let want = match model.get(&k) {
                    Some(&v) if v < bound => model.remove(&k),
                    _ => None,
                };
                let mut calls = 0;
                let got = map.pin().remove_if(&k, |kk, v| {
                    assert_eq!(kk, k, "remove_if: another key");
                    calls += 1;
                    v < bound
                });
                assert_eq!(got, want, "remove_if {k:#x}");
                // Single-threaded: judged exactly once if present, never
                // if absent.
                assert_eq!(calls, usize::from(present), "remove_if: calls");
            }
            U64Op::Compute(k, x) => {
                let before = model.get(&k).copied();
                let want = match (compute_u64(before, x), before) {
                    (Operation::Insert(new), None) => {
                        model.insert(k, new);
                        WordCompute::Inserted(new)
                    }
                    (Operation::Insert(new), Some(old)) => {
                        model.insert(k, new);
                        WordCompute::Updated { old, new }
                    }
                    (Operation::Remove, Some(old)) => {
                        model.remove(&k);
                        WordCompute::Removed(old)
                    }
                    (Operation::Remove, None) => WordCompute::Absent,
                    (Operation::Abort(r), _) => WordCompute::Aborted(r),
                };
                let mut calls = 0;
                let got = map.pin().compute(k, |cur| {
                    calls += 1;
                    compute_u64(cur, x)
                });
                assert_eq!(got, want, "compute {k:#x} {x}");
                // Single-threaded: the closure runs exactly once.
                assert_eq!(calls, 1, "compute: closure calls");
            }
        }
        assert_eq!(map.len(), model.len());
    }
    check_u64_contents(&map, &model);
}

/// Random `u64` operation sequences against std (formerly
/// `word_model.rs`'s `word_map_matches_std`, `WordMap` only).
fn matches_std<M: TestMap>() {
    fn prop<M: TestMap>(ops: Vec<U64Op>) -> TestResult {
        run_u64(M::new(), &ops);
        TestResult::passed()
    }
    QuickCheck::new()
        .tests(500)
        .rng(Gen::new(400))
        .quickcheck(prop::<M> as fn(Vec<U64Op>) -> TestResult);
}

/// The same with one to four distinct hashes (formerly
/// `word_map_matches_std_with_few_hashes`).
fn matches_std_with_few_hashes<M: TestMap<Hasher = ShapedHash>>() {
    fn prop<M: TestMap<Hasher = ShapedHash>>(ops: Vec<U64Op>, few: u8) -> TestResult {
        let n = u64::from(few % 4) + 1; // 1 = every key collides
        run_u64(M::with_hasher(ShapedHash(Shape::Mod(n))), &ops);
        TestResult::passed()
    }
    QuickCheck::new()
        .tests(300)
        .rng(Gen::new(300))
        .quickcheck(prop::<M> as fn(Vec<U64Op>, u8) -> TestResult);
}

both_maps!(
    matches_std,
    matches_std_with_few_hashes<ShapedHash>,
    model_tombstone_rebuild_same_size,
);

// ---------------------------------------------------------------------------
// WordMap's other word types
// ---------------------------------------------------------------------------

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
