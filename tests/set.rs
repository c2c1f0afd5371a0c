//! The sets, `HashSet` and `WordSet` (issue #17): a model test of each
//! against `std::collections::HashSet`, threads, drops, bad input, the
//! trait implementations, and the rayon and serde features.
//!
//! The sets are thin wrappers over the maps, which have their own suites;
//! these tests check what the wrappers add: `insert`'s "newly inserted"
//! answer (exactly one `true` per element among racing threads, the stored
//! element kept), `remove`'s answer, iteration yielding elements, and the
//! set-shaped traits. Scenarios shared by both sets are written once over
//! [`TestSet`] and turned into a test per set by `both_sets!`.

use std::collections::HashSet as StdSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::thread;

use lfmap::{HashSet, HashSetRef, WordSet};
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};

mod common;
use common::{
    arm, disarm, panic_message, quiet_planned_panics, shuffle, CountOnDrop, Ledger, PanicKey, Rng,
    Shape, ShapedHash, StopOnDrop, Tracked, ON_EQ, ON_HASH,
};

/// Work multiplier: debug builds (and profile `checked`) are slower.
const SCALE: u64 = if cfg!(debug_assertions) { 1 } else { 4 };

// ---------------------------------------------------------------------------
// One interface over both sets
// ---------------------------------------------------------------------------

/// A set of `u64` a scenario runs on: `HashSet` (pinned per call) or
/// `WordSet`.
trait TestSet: Send + Sync + Sized {
    const NAME: &'static str;
    fn with_hasher(hasher: ShapedHash) -> Self;
    fn insert(&self, x: u64) -> bool;
    fn contains(&self, x: u64) -> bool;
    fn remove(&self, x: u64) -> bool;
    /// `HashSetRef::retain`; iterate-and-remove on `WordSet` (which has no
    /// `retain` yet).
    fn retain(&self, keep: impl FnMut(u64) -> bool);
    fn clear(&self);
    fn len(&self) -> usize;
    /// Every element, from one iteration, in iteration order.
    fn elements(&self) -> Vec<u64>;
    /// A set of `elements`, built with `FromIterator`.
    fn collected(elements: &[u64]) -> Self;
    /// `PartialEq`.
    fn same(&self, other: &Self) -> bool;
    fn debug(&self) -> String;
}

impl TestSet for HashSet<u64, ShapedHash> {
    const NAME: &'static str = "HashSet";
    fn with_hasher(hasher: ShapedHash) -> Self {
        HashSet::with_capacity_and_hasher(0, hasher)
    }
    fn insert(&self, x: u64) -> bool {
        self.pin().insert(x)
    }
    fn contains(&self, x: u64) -> bool {
        self.pin().contains(&x)
    }
    fn remove(&self, x: u64) -> bool {
        self.pin().remove(&x)
    }
    fn retain(&self, mut keep: impl FnMut(u64) -> bool) {
        self.pin().retain(|x| keep(*x));
    }
    fn clear(&self) {
        self.pin().clear();
    }
    fn len(&self) -> usize {
        HashSet::len(self)
    }
    fn elements(&self) -> Vec<u64> {
        self.pin().iter().copied().collect()
    }
    fn collected(elements: &[u64]) -> Self {
        elements.iter().copied().collect()
    }
    fn same(&self, other: &Self) -> bool {
        self == other
    }
    fn debug(&self) -> String {
        format!("{self:?}")
    }
}

impl TestSet for WordSet<u64, ShapedHash> {
    const NAME: &'static str = "WordSet";
    fn with_hasher(hasher: ShapedHash) -> Self {
        WordSet::with_capacity_and_hasher(0, hasher)
    }
    fn insert(&self, x: u64) -> bool {
        WordSet::insert(self, x)
    }
    fn contains(&self, x: u64) -> bool {
        WordSet::contains(self, &x)
    }
    fn remove(&self, x: u64) -> bool {
        WordSet::remove(self, &x)
    }
    fn retain(&self, keep: impl FnMut(u64) -> bool) {
        WordSet::retain(self, keep);
    }
    fn clear(&self) {
        WordSet::clear(self);
    }
    fn len(&self) -> usize {
        WordSet::len(self)
    }
    fn elements(&self) -> Vec<u64> {
        self.iter().collect()
    }
    fn collected(elements: &[u64]) -> Self {
        elements.iter().copied().collect()
    }
    fn same(&self, other: &Self) -> bool {
        self == other
    }
    fn debug(&self) -> String {
        format!("{self:?}")
    }
}

/// Turns each scenario, generic over [`TestSet`], into two tests:
/// `hash_set::scenario` and `word_set::scenario`.
macro_rules! both_sets {
    ($($scenario:ident),+ $(,)?) => {
        mod hash_set {
            $(
                #[test]
                fn $scenario() {
                    super::$scenario::<::lfmap::HashSet<u64, super::ShapedHash>>();
                }
            )+
        }

        mod word_set {
            $(
                #[test]
                fn $scenario() {
                    super::$scenario::<::lfmap::WordSet<u64, super::ShapedHash>>();
                }
            )+
        }
    };
}

/// The elements of `set`, checked to be distinct, sorted.
fn distinct_sorted<S: TestSet>(set: &S, ctx: &str) -> Vec<u64> {
    let mut all = set.elements();
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "{} {ctx}: an element yielded twice", S::NAME);
    all
}

// ---------------------------------------------------------------------------
// The model: random operations against std's HashSet
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    Insert(u64),
    Remove(u64),
    Contains(u64),
    Len,
    /// Compare the whole contents (one iteration) with the model.
    Check,
    /// Keep the elements with `x % m != r` (`m` in 2..=5).
    Retain(u64, u64),
    Clear,
    /// Inserts `1000..1000 + n`, so that tables grow (and then shrink).
    Fill(u16),
}

/// An element from a space of 48: small numbers, their top-byte-set twins
/// (a `WordMap` slot's fast compare sees the low 56 bits only), extremes.
fn element(g: &mut Gen) -> u64 {
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
        match u8::arbitrary(g) % 20 {
            0..=6 => Op::Insert(element(g)),
            7..=10 => Op::Remove(element(g)),
            11..=13 => Op::Contains(element(g)),
            14 => Op::Len,
            15..=16 => Op::Check,
            17 => Op::Retain(
                u64::from(u8::arbitrary(g) % 4 + 2),
                u64::from(u8::arbitrary(g) % 2),
            ),
            18 if u8::arbitrary(g) % 4 == 0 => Op::Clear,
            18 => Op::Check,
            _ if u8::arbitrary(g) % 3 == 0 => Op::Fill(u16::arbitrary(g) % 2000),
            _ => Op::Insert(element(g)),
        }
    }
}

fn check_against<S: TestSet>(set: &S, model: &StdSet<u64>, ctx: &str) {
    let got = distinct_sorted(set, ctx);
    let mut want: Vec<u64> = model.iter().copied().collect();
    want.sort_unstable();
    assert_eq!(got, want, "{} {ctx}: contents", S::NAME);
    assert_eq!(set.len(), model.len(), "{} {ctx}: len", S::NAME);
}

/// Runs `ops` on a set hashing with `shape` and on a std set.
fn run_model<S: TestSet>(ops: &[Op], shape: Shape) {
    let set = S::with_hasher(ShapedHash(shape));
    let mut model = StdSet::new();
    for (step, op) in ops.iter().enumerate() {
        let ctx = format!("{shape:?} step {step} {op:?}");
        match *op {
            Op::Insert(x) => assert_eq!(set.insert(x), model.insert(x), "{ctx}"),
            Op::Remove(x) => assert_eq!(set.remove(x), model.remove(&x), "{ctx}"),
            Op::Contains(x) => assert_eq!(set.contains(x), model.contains(&x), "{ctx}"),
            Op::Len => assert_eq!(set.len(), model.len(), "{ctx}"),
            Op::Check => check_against(&set, &model, &ctx),
            Op::Retain(m, r) => {
                let mut judged = StdSet::new();
                set.retain(|x| {
                    assert!(judged.insert(x), "{ctx}: {x} judged twice");
                    x % m != r
                });
                assert_eq!(judged, model, "{ctx}: retain judged other elements");
                model.retain(|x| x % m != r);
            }
            Op::Clear => {
                set.clear();
                model.clear();
            }
            Op::Fill(n) => {
                // Colliding hashes make a fill quadratic: keep them short.
                let n = if shape.spreads() { n } else { n % 300 };
                for x in 1000..1000 + u64::from(n) {
                    assert_eq!(set.insert(x), model.insert(x), "{ctx}: {x}");
                }
            }
        }
        assert_eq!(set.len(), model.len(), "{ctx}: len");
    }
    check_against(&set, &model, "end");
    let elements: Vec<u64> = model.iter().copied().collect();
    let rebuilt = S::collected(&elements);
    assert!(rebuilt.same(&set), "{}: FromIterator copy differs", S::NAME);
    if let Some(&x) = elements.first() {
        assert!(!rebuilt.same(&S::collected(&elements[1..])));
        assert!(!S::collected(&elements[1..]).same(&set));
        let debug = set.debug();
        assert!(debug.starts_with('{') && debug.ends_with('}'), "{debug}");
        assert!(debug.contains(&x.to_string()), "{debug}");
    } else {
        assert_eq!(set.debug(), "{}");
    }
}

/// Random sequences with a good hash.
fn model_matches_std<S: TestSet>() {
    fn prop<S: TestSet>(ops: Vec<Op>) -> TestResult {
        run_model::<S>(&ops, Shape::Full);
        TestResult::passed()
    }
    QuickCheck::new()
        .tests(300 * SCALE)
        .rng(Gen::new(300))
        .quickcheck(prop::<S> as fn(Vec<Op>) -> TestResult);
}

/// The same with colliding hashers: one hash for every element, a few
/// distinct hashes, identical tags.
fn model_matches_std_colliding<S: TestSet>() {
    fn prop<S: TestSet>(ops: Vec<Op>, pick: u8) -> TestResult {
        let shape = match pick % 4 {
            0 => Shape::Const,
            1 => Shape::Mod(u64::from(pick % 5) + 1),
            2 => Shape::TagClash(u64::from(pick % 7) + 1),
            _ => Shape::HighOnly(u64::from(pick % 3) + 1),
        };
        run_model::<S>(&ops, shape);
        TestResult::passed()
    }
    QuickCheck::new()
        .tests(150 * SCALE)
        .rng(Gen::new(200))
        .quickcheck(prop::<S> as fn(Vec<Op>, u8) -> TestResult);
}

/// `HashSet<String>` under one handle held for the whole sequence:
/// lookups by `&str`, `get` and `take` returning the stored element,
/// references outliving their removal, and the by-value iterator.
#[test]
fn hash_set_string_model_one_pin() {
    fn prop(ops: Vec<(u8, u8)>, shape: u8) -> TestResult {
        let shape = if shape % 2 == 0 {
            Shape::Full
        } else {
            Shape::Mod(3)
        };
        let set: HashSet<String, ShapedHash> = HashSet::with_hasher(ShapedHash(shape));
        let mut model: StdSet<String> = StdSet::new();
        {
            let s = set.pin();
            let mut held: Vec<(&String, String)> = Vec::new();
            for (op, x) in ops {
                let x = format!("e{}", x % 40);
                match op % 6 {
                    0 | 1 => assert_eq!(s.insert(x.clone()), model.insert(x)),
                    2 => assert_eq!(s.remove(x.as_str()), model.remove(&x)),
                    3 => assert_eq!(s.contains(x.as_str()), model.contains(&x)),
                    4 => {
                        let got = s.get(x.as_str());
                        assert_eq!(got, model.get(&x));
                        if let Some(r) = got {
                            held.push((r, x));
                        }
                    }
                    _ => {
                        let got = s.take(x.as_str());
                        assert_eq!(got.cloned(), model.take(&x));
                        if let Some(r) = got {
                            held.push((r, x));
                        }
                    }
                }
            }
            // Every reference handed out is still valid under the pin.
            for (r, x) in held {
                assert_eq!(*r, x);
            }
            let mut got: Vec<&str> = s.iter().map(String::as_str).collect();
            got.sort_unstable();
            let mut want: Vec<&str> = model.iter().map(String::as_str).collect();
            want.sort_unstable();
            assert_eq!(got, want);
        }
        let mut owned: Vec<String> = set.pin_owned().into_iter().collect();
        owned.sort_unstable();
        let mut want: Vec<String> = model.into_iter().collect();
        want.sort_unstable();
        assert_eq!(owned, want);
        let mut consumed: Vec<String> = set.into_iter().collect();
        consumed.sort_unstable();
        assert_eq!(consumed, want);
        TestResult::passed()
    }
    QuickCheck::new()
        .tests(200 * SCALE)
        .rng(Gen::new(300))
        .quickcheck(prop as fn(Vec<(u8, u8)>, u8) -> TestResult);
}

// ---------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------

const THREADS: [u64; 3] = [2, 4, 8];

/// `threads` threads insert overlapping ranges (each element by up to four
/// threads, in each thread's own shuffled order): every element ends up
/// present once, and exactly one `insert` of it returned `true`.
fn overlapping_inserts_true_once<S: TestSet>() {
    for threads in THREADS {
        let per = 4000 * SCALE;
        let step = per / 4;
        let total = step * (threads - 1) + per;
        let set = S::with_hasher(ShapedHash::default());
        let wins: Vec<AtomicUsize> = (0..total).map(|_| AtomicUsize::new(0)).collect();
        let start = Barrier::new(threads as usize);
        thread::scope(|s| {
            for t in 0..threads {
                let (set, wins, start) = (&set, &wins, &start);
                s.spawn(move || {
                    let mut mine: Vec<u64> = (t * step..t * step + per).collect();
                    shuffle(&mut mine, t + 1);
                    start.wait();
                    for x in mine {
                        if set.insert(x) {
                            wins[x as usize].fetch_add(1, Ordering::Relaxed);
                        }
                        assert!(set.contains(x), "{x} absent after insert");
                    }
                });
            }
        });
        for (x, w) in wins.iter().enumerate() {
            let w = w.load(Ordering::Relaxed);
            assert_eq!(
                w,
                1,
                "{} {threads} threads: {x} inserted {w} times",
                S::NAME
            );
        }
        assert_eq!(set.len() as u64, total);
        assert_eq!(distinct_sorted(&set, "end"), (0..total).collect::<Vec<_>>());
    }
}

/// The same for removes: of the threads removing an element, exactly one
/// gets `true`, and the set ends empty.
fn overlapping_removes_true_once<S: TestSet>() {
    for threads in THREADS {
        let per = 4000 * SCALE;
        let step = per / 4;
        let total = step * (threads - 1) + per;
        let set = S::with_hasher(ShapedHash::default());
        for x in 0..total {
            assert!(set.insert(x));
        }
        let wins: Vec<AtomicUsize> = (0..total).map(|_| AtomicUsize::new(0)).collect();
        let start = Barrier::new(threads as usize);
        thread::scope(|s| {
            for t in 0..threads {
                let (set, wins, start) = (&set, &wins, &start);
                s.spawn(move || {
                    let mut mine: Vec<u64> = (t * step..t * step + per).collect();
                    shuffle(&mut mine, t + 100);
                    start.wait();
                    for x in mine {
                        if set.remove(x) {
                            wins[x as usize].fetch_add(1, Ordering::Relaxed);
                        }
                        assert!(!set.contains(x), "{x} present after remove");
                    }
                });
            }
        });
        for (x, w) in wins.iter().enumerate() {
            let w = w.load(Ordering::Relaxed);
            assert_eq!(w, 1, "{} {threads} threads: {x} removed {w} times", S::NAME);
        }
        assert_eq!(set.len(), 0);
        assert!(set.elements().is_empty());
    }
}

/// Threads insert and remove the same few elements at random. Per element,
/// the successful inserts and removes alternate (linearizability), so
/// `inserts - removes` is 1 if it ends present and 0 if not.
fn insert_remove_fight<S: TestSet>() {
    const ELEMENTS: u64 = 64;
    for threads in THREADS {
        let set = S::with_hasher(ShapedHash::default());
        let inserted: Vec<AtomicUsize> = (0..ELEMENTS).map(|_| AtomicUsize::new(0)).collect();
        let removed: Vec<AtomicUsize> = (0..ELEMENTS).map(|_| AtomicUsize::new(0)).collect();
        let start = Barrier::new(threads as usize);
        thread::scope(|s| {
            for t in 0..threads {
                let (set, inserted, removed, start) = (&set, &inserted, &removed, &start);
                s.spawn(move || {
                    let mut rng = Rng::new(t + 7);
                    start.wait();
                    for _ in 0..20_000 * SCALE {
                        let x = rng.below(ELEMENTS);
                        if rng.below(2) == 0 {
                            if set.insert(x) {
                                inserted[x as usize].fetch_add(1, Ordering::Relaxed);
                            }
                        } else if set.remove(x) {
                            removed[x as usize].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        let mut present = 0;
        for x in 0..ELEMENTS {
            let (i, r) = (
                inserted[x as usize].load(Ordering::Relaxed),
                removed[x as usize].load(Ordering::Relaxed),
            );
            let here = set.contains(x);
            assert_eq!(
                i as i64 - r as i64,
                i64::from(here),
                "{} {x}: {i} inserts, {r} removes, present {here}",
                S::NAME
            );
            present += usize::from(here);
        }
        assert_eq!(set.len(), present);
        assert_eq!(distinct_sorted(&set, "end").len(), present);
    }
}

/// Elements present throughout.
const STABLE: u64 = 2000;

/// Iteration while writers insert and remove other elements (growing the
/// table through several resizes and shrinking it again): every pass yields
/// each stable element once, and nothing twice.
fn iterate_during_churn<S: TestSet>() {
    let set = S::with_hasher(ShapedHash::default());
    for x in 0..STABLE {
        set.insert(x);
    }
    let writers = 2u64;
    let per_writer = 20_000 * SCALE;
    let done = AtomicUsize::new(0);
    let passes = AtomicUsize::new(0);
    thread::scope(|s| {
        for w in 0..writers {
            let (set, done) = (&set, &done);
            s.spawn(move || {
                let _done = CountOnDrop(done);
                let base = STABLE + w * per_writer;
                for i in 0..per_writer {
                    assert!(set.insert(base + i));
                    if i % 3 == 2 {
                        assert!(set.remove(base + i - 1));
                    }
                }
                // Then take most of them out again: the table shrinks.
                for i in 0..per_writer {
                    set.remove(base + i);
                }
            });
        }
        for _ in 0..2 {
            let (set, done, passes) = (&set, &done, &passes);
            s.spawn(move || {
                let mut n = 0;
                while done.load(Ordering::Acquire) < writers as usize || n < 2 {
                    let all = distinct_sorted(set, &format!("pass {n}"));
                    let stable = all.iter().filter(|&&x| x < STABLE).count();
                    assert_eq!(stable as u64, STABLE, "pass {n} missed stable elements");
                    n += 1;
                }
                passes.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    assert!(passes.load(Ordering::Relaxed) >= 4);
    assert_eq!(
        distinct_sorted(&set, "end"),
        (0..STABLE).collect::<Vec<_>>()
    );
}

both_sets!(
    model_matches_std,
    model_matches_std_colliding,
    overlapping_inserts_true_once,
    overlapping_removes_true_once,
    insert_remove_fight,
    iterate_during_churn,
    constant_hash_is_slow_not_wrong,
);

/// `HashSet` only: a handle held for the whole iteration while another
/// thread churns, iterating by reference, by `pin_owned().into_iter()`
/// (clones) and with `retain` judging every element.
#[test]
fn hash_set_long_pins_during_churn() {
    let set: HashSet<u64> = HashSet::with_capacity(0);
    (&set).extend(0..STABLE);
    let (stop, go) = (AtomicBool::new(false), AtomicBool::new(false));
    let until = set.stats().resizes + 1;
    thread::scope(|s| {
        s.spawn(|| {
            common::wait_for(&go);
            let m = set.pin();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) || i < 50_000 {
                let x = STABLE + i % 30_000;
                m.insert(x);
                if i % 2 == 1 {
                    m.remove(&(x - 1));
                }
                i += 1;
            }
        });
        // Stops the churn however the passes end: a failed check would
        // otherwise leave the scope waiting for the churn forever.
        let _stop = StopOnDrop(&stop);
        let resizes = || set.stats().resizes;
        common::passes_across_resizes(&go, 20, until, resizes, |pass| {
            let m = set.pin();
            let mut seen = StdSet::new();
            for x in &m {
                assert!(seen.insert(*x), "pass {pass}: {x} twice");
            }
            assert!((0..STABLE).all(|x| seen.contains(&x)), "pass {pass}");
            drop(m);
            let mut seen = StdSet::new();
            for x in set.pin_owned() {
                assert!(seen.insert(x), "pass {pass}: {x} twice (owned)");
            }
            assert!((0..STABLE).all(|x| seen.contains(&x)), "pass {pass}");
            let mut judged = StdSet::new();
            set.pin().retain(|x| {
                assert!(judged.insert(*x), "pass {pass}: {x} judged twice");
                true
            });
            assert!((0..STABLE).all(|x| judged.contains(&x)), "pass {pass}");
        });
    });
    let m = set.pin();
    assert!((0..STABLE).all(|x| m.contains(&x)));
}

// ---------------------------------------------------------------------------
// Drops
// ---------------------------------------------------------------------------

type Tracks = HashSet<Tracked>;

/// Every element given to the set (kept, refused as a duplicate, removed,
/// taken, cleared, churned) is dropped exactly once by the time the set is
/// dropped; a duplicate insert keeps the stored element and drops the new
/// one at once.
#[test]
fn drops_every_element_once() {
    let ledger = Ledger::new();
    let el = |x| Tracked::new(&ledger, x);
    let set = Tracks::with_capacity(0);
    {
        let s = set.pin();
        for x in 0..500 {
            assert!(s.insert(el(x)));
        }
        // Nothing removed yet, so nothing can be freed but the refused.
        for x in 0..500 {
            let dropped = ledger.dropped();
            let live = ledger.live();
            assert!(!s.insert(el(x)), "{x}");
            assert_eq!(ledger.dropped(), dropped + 1, "duplicate {x} not dropped");
            assert_eq!(ledger.live(), live, "duplicate {x}");
        }
        for x in (0..500).step_by(3) {
            assert!(s.remove(&el(x)));
            assert!(!s.remove(&el(x)));
        }
        for x in (1..500).step_by(3) {
            assert_eq!(s.take(&el(x)).map(Tracked::id), Some(x));
            assert_eq!(s.take(&el(x)).map(Tracked::id), None);
        }
        // Replace-free churn: insert and remove the same elements again
        // and again, through resizes.
        for round in 0..5 {
            for x in 1000..1600 {
                assert!(s.insert(el(x)), "round {round} {x}");
            }
            s.retain(|e| e.id() % 2 == 0 || e.id() < 1000);
            for x in 1000..1600 {
                assert_eq!(s.remove(&el(x)), x % 2 == 0, "round {round} {x}");
            }
        }
        assert_eq!(s.len(), 500 - 167 - 167);
    }
    set.pin().clear();
    assert!(set.is_empty());
    (&set).extend((0..300).map(el));
    assert_eq!(set.len(), 300);
    drop(set);
    assert_eq!(ledger.live(), 0);
    ledger.assert_balanced("set churn and clear");
}

/// The owning iterator yields the stored elements themselves (no clone),
/// and drops those it did not yield; `Clone` and the by-value handle
/// iterator make new elements, dropped by their owners.
#[test]
fn drops_through_iterators_and_clone() {
    let ledger = Ledger::new();
    let set: Tracks = (0..400).map(|x| Tracked::new(&ledger, x)).collect();
    let created = ledger.created();
    let copy = set.clone();
    assert!(copy == set);
    assert_eq!(ledger.created(), created + 400);
    drop(copy);
    let clones: Vec<Tracked> = set.pin_owned().into_iter().collect();
    assert_eq!(clones.len(), 400);
    drop(clones);
    let before = ledger.created();
    let mut iter = set.into_iter();
    let first: Vec<Tracked> = iter.by_ref().take(150).collect();
    assert_eq!(ledger.created(), before, "into_iter cloned");
    assert_eq!(first.len(), 150);
    drop(iter);
    drop(first);
    ledger.assert_balanced("iterators and clone");
}

/// Threads insert, remove, take, retain and clear tracked elements at
/// once; every element is dropped exactly once after the set drops.
#[test]
fn drops_under_concurrent_churn() {
    let ledger = Ledger::new();
    let set = Tracks::with_capacity(0);
    let wins = AtomicUsize::new(0);
    let losses = AtomicUsize::new(0);
    thread::scope(|s| {
        for t in 0..4u64 {
            let (set, ledger, wins, losses) = (&set, &ledger, &wins, &losses);
            s.spawn(move || {
                let mut rng = Rng::new(t + 40);
                for i in 0..5000 * SCALE {
                    let s = set.pin();
                    let x = rng.below(700);
                    match rng.below(10) {
                        0..=4 => {
                            if s.insert(Tracked::new(ledger, x)) {
                                wins.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        5..=6 => {
                            if s.remove(&Tracked::new(ledger, x)) {
                                losses.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        7 => {
                            if let Some(e) = s.take(&Tracked::new(ledger, x)) {
                                assert_eq!(e.id(), x);
                                losses.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        8 => {
                            if let Some(e) = s.get(&Tracked::new(ledger, x)) {
                                assert_eq!(e.id(), x);
                            }
                        }
                        _ if i % 500 == 0 && t == 0 => s.clear(),
                        _ => s.retain(|e| e.id() % 7 != t),
                    }
                }
            });
        }
    });
    assert!(wins.load(Ordering::Relaxed) > 0);
    drop(set);
    ledger.assert_balanced("concurrent churn");
}

// ---------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------

/// Elements for the constant-hash scenario: every operation probes past
/// all of them (quadratic), so not many.
const CONST_ELEMENTS: u64 = if cfg!(debug_assertions) { 3000 } else { 10_000 };

/// One hash for every element: inserts, duplicates, lookups, exact
/// iteration and removals all still right, only slower.
fn constant_hash_is_slow_not_wrong<S: TestSet>() {
    let el = |i: u64| if i % 2 == 0 { i } else { i | 0xff << 56 };
    let set = S::with_hasher(ShapedHash(Shape::Const));
    for i in 0..CONST_ELEMENTS {
        assert!(set.insert(el(i)), "insert {i}");
    }
    for i in (0..CONST_ELEMENTS).step_by(5) {
        assert!(!set.insert(el(i)), "duplicate {i}");
    }
    assert_eq!(set.len() as u64, CONST_ELEMENTS);
    for i in 0..CONST_ELEMENTS {
        assert!(set.contains(el(i)), "contains {i}");
    }
    assert!(!set.contains(el(CONST_ELEMENTS)));
    assert!(!set.contains(el(CONST_ELEMENTS + 1)));
    let mut want: Vec<u64> = (0..CONST_ELEMENTS).map(el).collect();
    want.sort_unstable();
    assert_eq!(distinct_sorted(&set, "after inserts"), want);
    for i in (0..CONST_ELEMENTS).step_by(3) {
        assert!(set.remove(el(i)), "remove {i}");
        assert!(!set.remove(el(i)), "remove {i} again");
    }
    let left: Vec<u64> = {
        let mut v: Vec<u64> = (0..CONST_ELEMENTS).filter(|i| i % 3 != 0).map(el).collect();
        v.sort_unstable();
        v
    };
    assert_eq!(distinct_sorted(&set, "after removes"), left);
    assert_eq!(set.len(), left.len());
}

/// `HashSet<PanicKey>`: random operations with `Hash`/`Eq` panics planned
/// on some. An operation that panics has no effect; one that returns
/// agrees with the model; nothing is lost, leaked or dropped twice.
/// (The set's version of `bad_input.rs`'s `panicking_key_ops`.)
#[test]
fn panicking_hash_and_eq_leave_the_set_consistent() {
    quiet_planned_panics();
    for (seed, shape) in [
        (1, Shape::Full),
        (2, Shape::Mod(4)),
        (3, Shape::Mod(1 << 20)),
    ] {
        let keys = Ledger::new();
        let set: HashSet<PanicKey, ShapedHash> = HashSet::with_hasher(ShapedHash(shape));
        let mut model: StdSet<u64> = StdSet::new();
        let mut rng = Rng::new(seed);
        let (mut panics, mut armed_ops) = (0, 0);
        let keyspace = 300;
        for step in 0..4000 * SCALE {
            let x = rng.below(keyspace);
            let op = rng.below(7);
            if rng.below(3) != 0 {
                armed_ops += 1;
                let on = rng.pick(&[ON_HASH, ON_EQ, ON_HASH | ON_EQ]);
                arm(rng.pick(&[0, 0, 0, 1, 1, 2, 3, 6]), on);
            }
            let ctx = format!("{shape:?} seed {seed} step {step} op {op} element {x}");
            let s = set.pin();
            let result = catch_unwind(AssertUnwindSafe(|| match op {
                0 | 1 => s.insert(PanicKey::new(&keys, x)) as u64,
                2 => s.contains(&PanicKey::new(&keys, x)) as u64,
                3 => s.remove(&PanicKey::new(&keys, x)) as u64,
                4 => s
                    .take(&PanicKey::new(&keys, x))
                    .map_or(u64::MAX, PanicKey::id),
                5 => s
                    .get(&PanicKey::new(&keys, x))
                    .map_or(u64::MAX, PanicKey::id),
                // Iteration may finish a resize, which compares keys.
                _ => s.iter().count() as u64,
            }));
            disarm();
            drop(s);
            match result {
                Err(payload) => {
                    panics += 1;
                    let msg = panic_message(&*payload);
                    assert!(msg.starts_with("planned panic"), "{ctx}: {msg}");
                    let s = set.pin();
                    assert_eq!(
                        s.contains(&PanicKey::new(&keys, x)),
                        model.contains(&x),
                        "{ctx}: changed by a panicking op"
                    );
                    assert_eq!(s.len(), model.len(), "{ctx}: len after panic");
                }
                Ok(got) => {
                    let want = match op {
                        0 | 1 => model.insert(x) as u64,
                        2 => model.contains(&x) as u64,
                        3 => model.remove(&x) as u64,
                        4 => model.take(&x).unwrap_or(u64::MAX),
                        5 => model.get(&x).copied().unwrap_or(u64::MAX),
                        _ => model.len() as u64,
                    };
                    assert_eq!(got, want, "{ctx}");
                }
            }
        }
        {
            let s = set.pin();
            let mut got: Vec<u64> = s.iter().map(PanicKey::id).collect();
            got.sort_unstable();
            let mut want: Vec<u64> = model.iter().copied().collect();
            want.sort_unstable();
            assert_eq!(got, want, "{shape:?}: contents");
            for x in 0..keyspace {
                assert_eq!(s.contains(&PanicKey::new(&keys, x)), model.contains(&x));
            }
        }
        assert!(
            panics * 10 > armed_ops,
            "only {panics} panics in {armed_ops} armed ops"
        );
        drop(set);
        keys.assert_balanced(&format!("{shape:?}: elements"));
    }
}

/// A `retain` closure that panics: the elements it removed before stay
/// removed, the others stay, and the set is usable and balanced after.
#[test]
fn panicking_retain_closure() {
    quiet_planned_panics();
    let ledger = Ledger::new();
    let set: HashSet<Tracked> = (0..1000).map(|x| Tracked::new(&ledger, x)).collect();
    let mut judged = 0;
    let r = catch_unwind(AssertUnwindSafe(|| {
        set.pin().retain(|e| {
            judged += 1;
            if judged == 500 {
                panic!("planned panic in retain");
            }
            e.id() % 2 == 0
        })
    }));
    assert!(panic_message(&*r.unwrap_err()).starts_with("planned"));
    let s = set.pin();
    let left: Vec<u64> = s.iter().map(Tracked::id).collect();
    let odd_left = left.iter().filter(|&&x| x % 2 == 1).count();
    assert_eq!(left.len(), s.len());
    assert!(
        left.iter().filter(|&&x| x % 2 == 0).count() == 500,
        "an even element lost"
    );
    assert!(
        odd_left < 500 && odd_left > 0,
        "{odd_left} odd elements left"
    );
    for x in 0..1000 {
        assert_eq!(s.contains(&Tracked::new(&ledger, x)), left.contains(&x));
    }
    s.retain(|e| e.id() % 2 == 0);
    assert_eq!(s.len(), 500);
    drop(s);
    drop(set);
    ledger.assert_balanced("panicking retain");
}

// ---------------------------------------------------------------------------
// API details
// ---------------------------------------------------------------------------

#[test]
fn auto_traits() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<HashSet<String>>();
    send_sync::<WordSet<u64>>();
    send::<HashSetRef<'static, String, lfmap::DefaultHashBuilder, lfmap::OwnedGuard<'static>>>();
    send::<lfmap::SetOwnedIter<'static, String, lfmap::OwnedGuard<'static>>>();
    send::<lfmap::SetIntoIter<String>>();
    send::<lfmap::WordSetIter<'static, u64, lfmap::DefaultHashBuilder>>();
}

#[test]
fn debug_and_equality() {
    let set: HashSet<u8> = [1, 2, 3].into_iter().collect();
    let text = format!("{set:?}");
    assert!(text.starts_with('{') && text.ends_with('}'), "{text}");
    assert_eq!(text.len(), "{1, 2, 3}".len(), "{text}");
    assert_eq!(format!("{:?}", set.pin()), text);
    // An iterator prints what it has left, as std's do.
    assert_eq!(
        format!("{:?}", set.pin().iter()).replace('{', "[").len(),
        text.len()
    );
    assert!(format!("{:?}", set.pin().iter()).starts_with('['));
    assert_eq!(format!("{:?}", HashSet::<u8>::new()), "{}");
    let words: WordSet<char> = ['a'].into_iter().collect();
    assert_eq!(format!("{words:?}"), "{'a'}");
    assert_eq!(format!("{:?}", words.iter()), "['a']");
    assert_eq!(WordSet::<i8>::new(), WordSet::default());
    let mut other = WordSet::new();
    other.extend(['a']);
    assert_eq!(words, other);
    assert!(other.insert('b'));
    assert_ne!(words, other);
    // -0.0 and 0.0 are different elements, by bit pattern.
    let floats: WordSet<f64> = [0.0, -0.0, 0.0].into_iter().collect();
    assert_eq!(floats.len(), 2);
    let mut default: HashSet<u8> = HashSet::default();
    default.extend([3, 2, 1]);
    assert_eq!(default, set);
}

#[cfg(feature = "rayon")]
mod rayon_support {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn par_iter_collect_and_extend() {
        let n = 100_000 * SCALE;
        let set: HashSet<u64> = (0..n).into_par_iter().map(|x| x / 2).collect();
        assert_eq!(set.len() as u64, n / 2);
        let s = set.pin();
        let mut par: Vec<u64> = s.par_iter().copied().collect();
        par.sort_unstable();
        assert_eq!(par, (0..n / 2).collect::<Vec<_>>());
        let mut more = HashSet::<u64>::new();
        more.par_extend((0..1000u64).into_par_iter());
        (&more).par_extend((500..1500u64).into_par_iter());
        assert_eq!(more.len(), 1500);
    }

    #[test]
    fn par_iter_while_writers_churn() {
        let set: HashSet<u64> = HashSet::with_capacity(0);
        (&set).par_extend((0..STABLE).into_par_iter());
        let (stop, go) = (AtomicBool::new(false), AtomicBool::new(false));
        let until = set.stats().resizes + 1;
        thread::scope(|s| {
            s.spawn(|| {
                common::wait_for(&go);
                let m = set.pin();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) || i < 50_000 {
                    m.insert(STABLE + i);
                    if i % 2 == 1 {
                        m.remove(&(STABLE + i - 1));
                    }
                    i += 1;
                }
            });
            // Stops the churn however the passes end (see
            // `hash_set_long_pins_during_churn`).
            let _stop = StopOnDrop(&stop);
            let resizes = || set.stats().resizes;
            common::passes_across_resizes(&go, 5, until, resizes, |pass| {
                let m = set.pin();
                let all: Vec<u64> = m.par_iter().copied().collect();
                let distinct: StdSet<u64> = all.iter().copied().collect();
                assert_eq!(distinct.len(), all.len(), "pass {pass}: an element twice");
                assert!((0..STABLE).all(|x| distinct.contains(&x)), "pass {pass}");
            });
        });
    }
}

#[cfg(feature = "serde")]
mod serde_support {
    use super::*;

    #[test]
    fn serde_round_trip_as_a_sequence() {
        let set: HashSet<String> = (0..300).map(|i| format!("e{i}")).collect();
        let json = serde_json::to_string(&set).unwrap();
        assert!(json.starts_with('[') && json.ends_with(']'), "{json}");
        let back: HashSet<String> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, set);
        let dup: HashSet<u8> = serde_json::from_str("[1, 1, 2]").unwrap();
        assert_eq!(dup.len(), 2);
        let empty: HashSet<u8> = serde_json::from_str("[]").unwrap();
        assert!(empty.is_empty());
        assert_eq!(serde_json::to_string(&empty).unwrap(), "[]");
        assert!(serde_json::from_str::<HashSet<u8>>("{}").is_err());
        assert!(serde_json::from_str::<HashSet<u8>>("[1, -1]").is_err());
    }
}

/// The relation iterators print the elements they have left, as std's do
/// (they printed the unfiltered walk: found by review), and a
/// `HashSetRef`'s clone, as std's: what is left, from the same place.
#[test]
fn relation_iterators_debug_as_their_rest_and_clone() {
    let (a, b): (HashSet<u8>, HashSet<u8>) =
        ([1, 2].into_iter().collect(), [2].into_iter().collect());
    let (a, b) = (a.pin(), b.pin());
    assert_eq!(format!("{:?}", a.difference(&b)), "[1]");
    assert_eq!(format!("{:?}", a.intersection(&b)), "[2]");
    let (c, d): (HashSet<u8>, HashSet<u8>) =
        ([1].into_iter().collect(), [1, 3].into_iter().collect());
    let (c, d) = (c.pin(), d.pin());
    assert_eq!(format!("{:?}", c.symmetric_difference(&d)), "[3]");
    let (e, f): (HashSet<u8>, HashSet<u8>) = ([1].into_iter().collect(), [2].into_iter().collect());
    let (e, f) = (e.pin(), f.pin());
    let mut union = e.union(&f);
    assert_eq!(format!("{union:?}"), "[1, 2]");
    let copy = union.clone();
    assert_eq!(union.next(), Some(&1));
    assert_eq!(format!("{union:?}"), "[2]");
    assert_eq!(copy.copied().collect::<Vec<_>>(), [1, 2]);
    let mut diff = a.difference(&b);
    let copy = diff.clone();
    assert_eq!(diff.next(), Some(&1));
    assert_eq!(format!("{diff:?}"), "[]");
    assert_eq!(copy.collect::<Vec<_>>(), [&1]);

    let (a, b): (WordSet<u8>, WordSet<u8>) =
        ([1, 2].into_iter().collect(), [2].into_iter().collect());
    assert_eq!(format!("{:?}", a.difference(&b)), "[1]");
    assert_eq!(format!("{:?}", a.intersection(&b)), "[2]");
    let (e, f): (WordSet<u8>, WordSet<u8>) = ([1].into_iter().collect(), [2].into_iter().collect());
    assert_eq!(format!("{:?}", e.union(&f)), "[1, 2]");
    assert_eq!(
        format!("{:?}", e.symmetric_difference(&f)).len(),
        "[1, 2]".len()
    );
}

/// `get_or_insert` and `get_or_insert_with`, an interner's calls: the
/// stored element comes back, the one given is dropped when an equal one
/// is present, `make` runs only for an absent element, and a `make` whose
/// element is not equal to the one looked up panics before anything is
/// added. Under threads interning the same words in different orders,
/// every caller gets the one stored copy of each word.
#[test]
fn get_or_insert_interns() {
    quiet_planned_panics();
    let ledger = Ledger::new();
    let el = |x| Tracked::new(&ledger, x);
    let set = Tracks::new();
    {
        let s = set.pin();
        let first: *const Tracked = s.get_or_insert(el(7));
        let dropped = ledger.dropped();
        assert!(std::ptr::eq(first, s.get_or_insert(el(7))));
        assert_eq!(ledger.dropped(), dropped + 1, "the duplicate dropped");
        let mut makes = 0;
        let mut make = |t: &Tracked| {
            makes += 1;
            el(t.id())
        };
        assert_eq!(s.get_or_insert_with(&el(8), &mut make).id(), 8);
        assert!(std::ptr::eq(first, s.get_or_insert_with(&el(7), &mut make)));
        assert_eq!(makes, 1, "make ran for the present element");
        // `make` adds an equal element itself: the write finds it present,
        // drops what `make` gave, and returns the stored one.
        let stored = s.get_or_insert_with(&el(11), |_| {
            s.insert(el(11));
            el(11)
        });
        assert!(std::ptr::eq(stored, s.get(&el(11)).unwrap()));
        assert!(s.remove(&el(11)));
        // `make` gives an element not equal to the one looked up.
        let wrong = catch_unwind(AssertUnwindSafe(|| {
            s.get_or_insert_with(&el(9), |_| el(10));
        }));
        let payload = wrong.expect_err("an unequal element was accepted");
        assert!(panic_message(&*payload).contains("not equal"));
        assert!(!s.contains(&el(9)) && !s.contains(&el(10)));
        assert_eq!(s.len(), 2);
        // Through growth: 1,000 elements, each asked for twice.
        for x in 100..1_100 {
            let stored: *const Tracked = s.get_or_insert(el(x));
            assert!(std::ptr::eq(
                stored,
                s.get_or_insert_with(&el(x), |_| unreachable!())
            ));
        }
        assert_eq!(s.len(), 1_002);
    }
    drop(set);
    assert_eq!(ledger.live(), 0);
    ledger.assert_balanced("get_or_insert");

    const WORDS: u64 = 2_000;
    let words: HashSet<String> = HashSet::new();
    let makes = AtomicUsize::new(0);
    let start = Barrier::new(4);
    let seen: Vec<Vec<(u64, usize)>> = thread::scope(|s| {
        let workers: Vec<_> = (0..4u64)
            .map(|t| {
                let (words, makes, start) = (&words, &makes, &start);
                s.spawn(move || {
                    let mut order: Vec<u64> = (0..WORDS).collect();
                    shuffle(&mut order, t + 1);
                    start.wait();
                    let w = words.pin();
                    order
                        .into_iter()
                        .map(|i| {
                            let word = format!("word-{i}");
                            let stored = w.get_or_insert_with(word.as_str(), |s| {
                                makes.fetch_add(1, Ordering::Relaxed);
                                s.to_owned()
                            });
                            assert_eq!(*stored, word);
                            (i, stored as *const String as usize)
                        })
                        .collect()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let w = words.pin();
    assert_eq!(w.len(), WORDS as usize);
    for per_thread in &seen {
        for &(i, addr) in per_thread {
            let stored = w.get(format!("word-{i}").as_str()).expect("interned");
            assert_eq!(addr, stored as *const String as usize, "word {i}");
        }
    }
    let makes = makes.load(Ordering::Relaxed) as u64;
    assert!((WORDS..=4 * WORDS).contains(&makes), "{makes} makes");
}
