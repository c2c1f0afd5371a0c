//! Model tests: random single-threaded operation sequences run against
//! `lfmap::HashMap` and `std::collections::HashMap`, comparing every return
//! value, the length after every operation, and the full contents (through
//! `iter`, which must not yield a key twice) at checkpoints and at the end.
//!
//! Key spaces are small so keys collide, are removed and come back; maps
//! start at 16 slots so growth, same-size tombstone rebuilds and shrinks all
//! happen; some runs use hashers with only a handful of distinct hashes.

use std::borrow::Borrow;
use std::collections::{HashMap as StdMap, HashSet};
use std::fmt::Debug;
use std::hash::{BuildHasher, Hash, Hasher};

use lfmap::HashMap;
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};

mod common;
use common::{sweep_prefix, SweepOrder};

// ---------------------------------------------------------------------------
// Hashers
// ---------------------------------------------------------------------------

/// How a [`WeakHash`] turns a well-mixed 64-bit digest into the final hash.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// The digest itself (a decent hash).
    Full,
    /// `digest % n`: only `n` distinct hashes, all with small values.
    Mod(u64),
    /// One hash for every key.
    Const,
    /// `(digest % n) << 57`: distinct homes, identical 7-bit tags.
    HighOnly(u64),
    /// `(digest % n) * 128`: identical tags (low 7 bits zero).
    TagClash(u64),
}

#[derive(Clone, Copy, Debug)]
struct WeakHash(Shape);

struct WeakHasher(Shape, u64);

impl Hasher for WeakHasher {
    fn write(&mut self, bytes: &[u8]) {
        // FNV-1a.
        for &b in bytes {
            self.1 ^= u64::from(b);
            self.1 = self.1.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        // A final avalanche so `% n` sees all the bits.
        let mut h = self.1;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        match self.0 {
            Shape::Full => h,
            Shape::Mod(n) => h % n,
            Shape::Const => 0x1234_5678,
            Shape::HighOnly(n) => (h % n) << 57,
            Shape::TagClash(n) => (h % n) * 128,
        }
    }
}

impl BuildHasher for WeakHash {
    type Hasher = WeakHasher;
    fn build_hasher(&self) -> WeakHasher {
        WeakHasher(self.0, 0xcbf2_9ce4_8422_2325)
    }
}

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
    Update(u16, u32),
    RemoveIf(u16, u32),
    ContainsKey(u16),
    Clear,
    Retain(u32),
    Len,
    Iter,
    /// Drop the pinned handle and pin again (lets garbage be reclaimed).
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
            570..=639 => Op::GetOrInsert(k, v),
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
        stats.slots.is_power_of_two() && stats.slots >= 16,
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

impl Spreads for WeakHash {
    fn spreads(&self) -> bool {
        matches!(self.0, Shape::Full)
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
        if !sc.long_pin || matches!(op, Op::Repin) {
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
                let expected = *model.entry(k.clone()).or_insert(v);
                let mut calls = 0;
                let got = *m.get_or_insert_with(k, || {
                    calls += 1;
                    v
                });
                assert_eq!(got, expected, "{ctx}");
                // Single-threaded, `make` runs exactly when the key is absent.
                assert_eq!(calls, usize::from(!present), "{ctx}: make() calls");
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
    run::<u16, _>(&sc, WeakHash(Shape::Full));
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
    run::<u16, _>(&sc, WeakHash(shape));
    TestResult::passed()
}

fn prop_string_full(sc: Scenario) -> TestResult {
    run::<String, _>(&sc, std::collections::hash_map::RandomState::new());
    TestResult::passed()
}

fn prop_string_weak(sc: Scenario, n: u8) -> TestResult {
    run::<String, _>(&sc, WeakHash(Shape::Mod(u64::from(n % 4) + 1)));
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
        run::<u16, _>(&sc, WeakHash(shape));
        let sc = Scenario {
            long_pin: true,
            ..sc
        };
        run::<u16, _>(&sc, WeakHash(shape));
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
            run::<u16, _>(&sc, WeakHash(Shape::Full));
            run::<u16, _>(&sc, lfmap::DefaultHashBuilder::default());
        }
    }
}

/// A 16-slot table kept at 12 live keys while other keys are inserted and
/// removed: every removal leaves a tombstone, so the table repeatedly fills
/// with tombstones and must rebuild at the same size, never losing a key.
#[test]
fn model_tombstone_rebuild_same_size() {
    let map: HashMap<u64, u64> = HashMap::with_capacity(0);
    let mut model = StdMap::new();
    let m = map.pin();
    for k in 0..12u64 {
        m.insert(k, k);
        model.insert(k, k);
    }
    for k in 100..5000u64 {
        assert_eq!(m.insert(k, k), None);
        assert_eq!(m.remove(&k), Some(&k));
        if k % 97 == 0 {
            let mut got: Vec<_> = m.iter().map(|(k, v)| (*k, *v)).collect();
            got.sort_unstable();
            let mut want: Vec<_> = model.iter().map(|(k, v)| (*k, *v)).collect();
            want.sort_unstable();
            assert_eq!(got, want, "after churn key {k}");
        }
    }
    for k in 0..12u64 {
        assert_eq!(m.get(&k), Some(&k));
    }
    assert_eq!(m.len(), 12);
    drop(m);
    let stats = map.stats();
    assert!(
        stats.slots <= 64,
        "12 live keys need no big table: {stats:?}"
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
