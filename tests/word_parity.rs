//! `WordMap`'s parity with `HashMap` (issue #17): `retain`, `remove_if`,
//! `compute`, `keys`, `values`, `&WordMap: IntoIterator`, and the open
//! `WordSized` trait.
//!
//! * Under threads, on both maps (the kit's runner): concurrent `compute`
//!   increments and token takes come out exact; `retain` racing inserts and
//!   removes keeps exactly the stable keys it keeps; a `retain` racing
//!   updates re-judges a changed value instead of removing it; racing
//!   `remove_if`s have exactly one winner per key.
//! * `WordMap` only: user key and value types (a `UserId` newtype, a packed
//!   struct, `(u32, u32)`, `[u8; 8]`, `()`) round-trip through every call;
//!   deliberately wrong `WordSized` impls give wrong answers but no panic
//!   in the map and no undefined behaviour (CI runs the tests under
//!   AddressSanitizer), and leave the map consistent and usable.
//!
//! * `update_or_insert` and `update_or_insert_with` (papaya's names):
//!   against std's `entry(k).and_modify(f).or_insert(v)`, a made value
//!   kept across retries, panicking closures, no increment lost under
//!   threads with a remover.
//!
//! The single-threaded model of `retain`, `remove_if` and `compute` against
//! std is `model.rs` (`U64Op::Retain`, `RemoveIf`, `Compute`).

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;

use lfmap::{Operation, WordCompute, WordMap, WordSized};

mod common;
use common::{
    both_maps, quiet_planned_panics, shuffle, Ops, Rng, Shape, ShapedHash, StopOnDrop, TestMap,
};

const THREADS: u64 = 4;

/// Work multiplier: debug builds are an order of magnitude slower.
const SCALE: u64 = if cfg!(debug_assertions) { 1 } else { 4 };

// ---------------------------------------------------------------------------
// Threads, both maps
// ---------------------------------------------------------------------------

/// A spinning start line: the threads leave it within a few cycles of each
/// other (a `Barrier` wakes them one futex call apart), so their operations
/// overlap.
struct SpinStart {
    waiting: AtomicUsize,
}

impl SpinStart {
    fn new(threads: usize) -> SpinStart {
        SpinStart {
            waiting: AtomicUsize::new(threads),
        }
    }

    fn wait(&self) {
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        while self.waiting.load(Ordering::Acquire) != 0 {
            // Yield too: there may be more threads than cores.
            thread::yield_now();
        }
    }
}

/// `THREADS` threads each run `per` `compute` increments over `KEYS` keys
/// while inserting keys of their own (so the increments race resizes):
/// every key ends at exactly `THREADS * per / KEYS`, and every call reports
/// `old + 1` over the value it replaced.
fn compute_increments_lose_nothing<M: TestMap>() {
    const KEYS: u64 = 16;
    let per = 2_000 * SCALE;
    let map = M::new();
    let start = SpinStart::new(THREADS as usize);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (map, start) = (&map, &start);
            s.spawn(move || {
                start.wait();
                let m = map.pin();
                for i in 0..per {
                    let key = (i + t) % KEYS;
                    let bump =
                        |cur: Option<u64>| Operation::<u64, ()>::Insert(cur.map_or(1, |n| n + 1));
                    match m.compute(key, bump) {
                        WordCompute::Inserted(1) => {}
                        WordCompute::Updated { old, new } => assert_eq!(new, old + 1),
                        other => panic!("{}: key {key}: {other:?}", M::NAME),
                    }
                    // A key of this thread's own: grows the table.
                    let own = 1_000 + t * per + i;
                    assert_eq!(m.insert(own, own), None);
                }
            });
        }
    });
    let m = map.pin();
    for key in 0..KEYS {
        assert_eq!(
            m.get(&key),
            Some(THREADS * per / KEYS),
            "{}: key {key}",
            M::NAME
        );
    }
    assert_eq!(map.len() as u64, KEYS + THREADS * per);
    assert!(map.stats().resizes >= 3, "{:?}", map.stats());
}

/// Keys hold budgets; threads take one token at a time with `compute`
/// (`Insert(n - 1)`, `Remove` for the last token, `Abort` when there is
/// none): exactly every token is taken once, on colliding hashes.
fn compute_takes_every_token_once<M: TestMap<Hasher = ShapedHash>>() {
    const KEYS: u64 = 64;
    let budget = 50 * SCALE;
    let map = M::with_hasher(ShapedHash(Shape::Mod(8)));
    for k in 0..KEYS {
        map.pin().insert(k, budget);
    }
    let taken = AtomicU64::new(0);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (map, taken) = (&map, &taken);
            s.spawn(move || {
                let mut mine = 0;
                let mut rng = Rng::new(t);
                let mut open: Vec<u64> = (0..KEYS).collect();
                while !open.is_empty() {
                    let at = rng.below(open.len() as u64) as usize;
                    let take = |cur: Option<u64>| match cur {
                        Some(1) => Operation::Remove,
                        Some(n) => Operation::Insert(n - 1),
                        None => Operation::Abort("empty"),
                    };
                    match map.pin().compute(open[at], take) {
                        WordCompute::Updated { old, new } => {
                            assert_eq!(new + 1, old);
                            mine += 1;
                        }
                        WordCompute::Removed(1) => mine += 1,
                        WordCompute::Aborted("empty") => {
                            open.swap_remove(at);
                        }
                        other => panic!("{}: {other:?}", M::NAME),
                    }
                }
                taken.fetch_add(mine, Ordering::Relaxed);
            });
        }
    });
    assert_eq!(taken.into_inner(), KEYS * budget, "{}", M::NAME);
    assert!(map.is_empty());
}

/// One thread `retain`s while others insert and remove keys of their own
/// range. Every stable key (present throughout) is judged exactly once;
/// those judged `true` are still there with their value, those judged
/// `false` (and never re-inserted) are gone, checked while the churn goes
/// on. Several rounds, re-inserting the stable keys between them.
fn retain_during_churn<M: TestMap>() {
    const STABLE: u64 = 3_000;
    const CHURN: u64 = 4_096;
    let map = M::new();
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        let (map, done) = (&map, &done);
        for t in 1..THREADS {
            s.spawn(move || {
                let mut rng = Rng::new(t);
                while !done.load(Ordering::Relaxed) {
                    let k = STABLE + rng.below(CHURN);
                    if rng.below(2) == 0 {
                        map.pin().insert(k, k);
                    } else {
                        map.pin().remove(&k);
                    }
                }
            });
        }
        // Stops the churn however the rounds end: a failed check would
        // otherwise leave the scope waiting for the churn forever.
        let _stop = StopOnDrop(done);
        for round in 0..4 * SCALE {
            for k in 0..STABLE {
                map.pin().insert(k, !k);
            }
            let modulus = round % 3 + 2;
            let keep = |k: u64| k % modulus != 0;
            let mut judged = Vec::new();
            map.pin().retain(|k, v| {
                if k < STABLE {
                    assert_eq!(v, !k, "{}: stable key {k} judged on {v}", M::NAME);
                    judged.push(k);
                    keep(k)
                } else {
                    v % 2 == 0
                }
            });
            judged.sort_unstable();
            assert!(
                judged.iter().copied().eq(0..STABLE),
                "{}: round {round}: stable keys judged {} times in all",
                M::NAME,
                judged.len()
            );
            let m = map.pin();
            for k in 0..STABLE {
                let want = keep(k).then_some(!k);
                assert_eq!(m.get(&k), want, "{}: round {round}: key {k}", M::NAME);
            }
        }
    });
}

/// Every key starts at 1 (odd: `retain` removes it); a writer moves each to
/// 2 (even: kept) with `update` while `retain` runs. A key whose value
/// changed after it was judged is judged again, so it survives: at the end
/// a key is present (with 2) exactly when the writer's update found it.
fn retain_rejudges_changed_values<M: TestMap>() {
    const KEYS: u64 = 20_000;
    for round in 0..3 * SCALE {
        let map = M::new();
        for k in 0..KEYS {
            map.pin().insert(k, 1);
        }
        let mut order: Vec<u64> = (0..KEYS).collect();
        shuffle(&mut order, round);
        let start = SpinStart::new(2);
        let updated: Vec<bool> = thread::scope(|s| {
            let (map, start, order) = (&map, &start, &order);
            let writer = s.spawn(move || {
                start.wait();
                let mut found = vec![false; KEYS as usize];
                for &k in order {
                    if let Some(v) = map.pin().update(&k, |_| 2) {
                        assert_eq!(v, 2);
                        found[k as usize] = true;
                    }
                }
                found
            });
            start.wait();
            // A slow predicate: updates land between a judgement and the
            // removal it asks for.
            map.pin().retain(|_, v| {
                (0..100).for_each(|_| std::hint::spin_loop());
                v % 2 == 0
            });
            writer.join().unwrap()
        });
        let m = map.pin();
        for k in 0..KEYS {
            let want = updated[k as usize].then_some(2);
            assert_eq!(m.get(&k), want, "{}: round {round}: key {k}", M::NAME);
        }
    }
}

/// Threads race `remove_if(k, true)` over the same keys, each in its own
/// order, on colliding hashes: exactly one wins each key, with its value.
fn remove_if_has_one_winner<M: TestMap<Hasher = ShapedHash>>() {
    const KEYS: u64 = 1_000;
    for round in 0..4 * SCALE {
        let map = M::with_hasher(ShapedHash(Shape::Mod(16)));
        for k in 0..KEYS {
            map.pin().insert(k, k * 3);
        }
        let wins: Vec<AtomicUsize> = (0..KEYS).map(|_| AtomicUsize::new(0)).collect();
        let start = SpinStart::new(THREADS as usize);
        thread::scope(|s| {
            for t in 0..THREADS {
                let (map, wins, start) = (&map, &wins, &start);
                s.spawn(move || {
                    let mut order: Vec<u64> = (0..KEYS).collect();
                    shuffle(&mut order, round * THREADS + t);
                    start.wait();
                    for k in order {
                        let got = map.pin().remove_if(&k, |kk, v| {
                            assert_eq!((kk, v), (k, k * 3));
                            true
                        });
                        if let Some(v) = got {
                            assert_eq!(v, k * 3);
                            wins[k as usize].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        for (k, w) in wins.iter().enumerate() {
            assert_eq!(w.load(Ordering::Relaxed), 1, "{}: key {k}", M::NAME);
        }
        assert!(map.is_empty(), "{}", M::NAME);
    }
}

/// Threads race `get_or_try_insert_with` for the same keys (with a top
/// byte, on `WordMap` the pending claim), odd threads' `make` failing with
/// the thread's number: every key ends with a value an even thread made
/// for it, and every call that returned `Ok` returned that value.
fn try_insert_races_store_a_made_value<M: TestMap>() {
    let keys = 1_000 * SCALE;
    let key = |k: u64| k << 56 | k;
    let map = M::new();
    let start = SpinStart::new(THREADS as usize);
    let results: Vec<Vec<Result<u64, u64>>> = thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (map, start) = (&map, &start);
                s.spawn(move || {
                    start.wait();
                    let m = map.pin();
                    (0..keys)
                        .map(|k| {
                            m.get_or_try_insert_with(key(k), || {
                                if t % 2 == 1 {
                                    Err(t)
                                } else {
                                    Ok(t * keys + k)
                                }
                            })
                        })
                        .collect()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let m = map.pin();
    for k in 0..keys {
        let stored = m.get(&key(k));
        for (t, r) in results.iter().enumerate() {
            match r[k as usize] {
                Ok(n) => assert_eq!(Some(n), stored, "key {k}, thread {t}"),
                Err(e) => assert_eq!(e, t as u64, "key {k}: only odd threads fail"),
            }
        }
        // Even threads' `make` always succeeds: every key is present,
        // with a value an even thread made for it.
        let n = stored.unwrap_or_else(|| panic!("key {k} absent"));
        assert_eq!((n % keys, (n / keys) % 2), (k, 0), "key {k}");
    }
}

both_maps!(
    compute_increments_lose_nothing,
    compute_takes_every_token_once<ShapedHash>,
    retain_during_churn,
    retain_rejudges_changed_values,
    remove_if_has_one_winner<ShapedHash>,
    try_insert_races_store_a_made_value,
);

// ---------------------------------------------------------------------------
// User types
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct UserId(u64);

impl WordSized for UserId {
    fn to_word(self) -> u64 {
        self.0
    }
    fn from_word(word: u64) -> Self {
        UserId(word)
    }
}

/// A packed struct of two `u32`s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

impl WordSized for Span {
    fn to_word(self) -> u64 {
        u64::from(self.start) << 32 | u64::from(self.len)
    }
    fn from_word(word: u64) -> Self {
        Span {
            start: (word >> 32) as u32,
            len: word as u32,
        }
    }
}

/// Ids with and without a top byte (the two-CAS insert path).
fn user_ids() -> impl Iterator<Item = UserId> {
    (0..500u64).map(|i| UserId(if i % 2 == 0 { i } else { u64::MAX - i }))
}

fn pair_of(id: UserId) -> (u32, u32) {
    (id.0 as u32, (id.0 >> 32) as u32 ^ 0xdead)
}

#[test]
fn newtype_key_and_pair_value_round_trip() {
    let map: WordMap<UserId, (u32, u32)> = WordMap::new();
    for id in user_ids() {
        assert_eq!(map.insert(id, pair_of(id)), None);
    }
    assert_eq!(map.len(), 500);
    for id in user_ids() {
        assert_eq!(map.get(&id), Some(pair_of(id)), "{id:?}");
    }
    let mut seen: Vec<(UserId, (u32, u32))> = map.iter().collect();
    seen.sort();
    let mut want: Vec<_> = user_ids().map(|id| (id, pair_of(id))).collect();
    want.sort();
    assert_eq!(seen, want);
    let mut keys: Vec<UserId> = map.keys().collect();
    keys.sort();
    assert_eq!(keys, want.iter().map(|&(k, _)| k).collect::<Vec<_>>());
    let mut values: Vec<(u32, u32)> = map.values().collect();
    values.sort();
    let mut want_values: Vec<_> = want.iter().map(|&(_, v)| v).collect();
    want_values.sort();
    assert_eq!(values, want_values);
    assert_eq!((&map).into_iter().count(), 500);

    // compute: swap the halves of every odd-indexed id's pair.
    for id in user_ids() {
        let (a, b) = pair_of(id);
        let got = map.compute(id, |cur| match cur {
            Some((x, y)) if id.0 >> 56 != 0 => Operation::<_, ()>::Insert((y, x)),
            Some(_) => Operation::Abort(()),
            None => unreachable!("{id:?} is present"),
        });
        if id.0 >> 56 != 0 {
            assert_eq!(
                got,
                WordCompute::Updated {
                    old: (a, b),
                    new: (b, a)
                }
            );
        } else {
            assert_eq!(got, WordCompute::Aborted(()));
        }
    }
    let absent = UserId(1 << 60);
    assert_eq!(
        map.compute(absent, |_| Operation::<_, ()>::Insert((7, 7))),
        WordCompute::Inserted((7, 7))
    );
    assert_eq!(
        map.remove_if(&absent, |k, v| k == absent && v == (7, 7)),
        Some((7, 7))
    );
    assert_eq!(map.remove_if(&absent, |_, _| true), None);

    // retain by key: keep the ids without a top byte.
    let mut judged = 0;
    map.retain(|k, v| {
        judged += 1;
        let (a, b) = pair_of(k);
        let top = k.0 >> 56 != 0;
        assert_eq!(v, if top { (b, a) } else { (a, b) });
        !top
    });
    assert_eq!(judged, 500);
    assert_eq!(map.len(), 250);
    assert!(map.keys().all(|k| k.0 < 500));
    assert!(format!("{map:?}").contains("UserId(0): (0, 57005)"));
}

#[test]
fn struct_array_and_unit_types_round_trip() {
    let spans: WordMap<Span, [u8; 8]> = WordMap::new();
    let span = Span {
        start: u32::MAX,
        len: 3,
    };
    spans.insert(span, *b"lfmap!!!");
    assert_eq!(spans.get(&span), Some(*b"lfmap!!!"));
    assert_eq!(
        spans.get(&Span {
            start: 3,
            len: u32::MAX
        }),
        None
    );
    assert_eq!(spans.iter().collect::<Vec<_>>(), [(span, *b"lfmap!!!")]);

    // `()` values: a set of byte-array keys.
    let set: WordMap<[u8; 3], ()> = WordMap::new();
    for key in [*b"abc", *b"abd", [0, 0, 0], [255, 255, 255]] {
        assert_eq!(set.insert(key, ()), None);
        assert_eq!(set.insert(key, ()), Some(()));
    }
    assert!(set.contains_key(b"abd"));
    assert_eq!(set.remove_if(b"abc", |_, ()| true), Some(()));
    assert_eq!(set.len(), 3);
    let mut keys: Vec<[u8; 3]> = set.keys().collect();
    keys.sort();
    assert_eq!(keys, [[0, 0, 0], *b"abd", [255, 255, 255]]);

    let pairs: WordMap<(char, bool), (f32, i16)> = WordMap::new();
    pairs.insert(('é', true), (-0.0, -1));
    pairs.insert(('é', false), (f32::NAN, i16::MIN));
    assert_eq!(
        pairs.get(&('é', true)).map(|(f, i)| (f.to_bits(), i)),
        Some(((-0.0f32).to_bits(), -1))
    );
    assert_eq!(pairs.get(&('é', false)).map(|(_, i)| i), Some(i16::MIN));
    assert_eq!(pairs.len(), 2);
}

#[test]
fn keys_values_and_into_iter_are_debug_and_send() {
    fn send<T: Send>(_: &T) {}
    let map: WordMap<u16, i64> = (0..50).map(|i| (i, -i64::from(i))).collect();
    let (keys, values) = (map.keys(), map.values());
    send(&keys);
    send(&values);
    // They print what they have left to yield, as std's iterators do.
    let (keys_shown, values_shown) = (format!("{keys:?}"), format!("{values:?}"));
    let (keys, values): (Vec<u16>, Vec<i64>) = (keys.collect(), values.collect());
    assert_eq!(keys_shown, format!("{keys:?}"));
    assert_eq!(values_shown, format!("{values:?}"));
    assert_eq!(keys.into_iter().map(u64::from).sum::<u64>(), 49 * 50 / 2);
    assert_eq!(values.into_iter().sum::<i64>(), -(49 * 50 / 2));
    let mut n = 0;
    for (k, v) in &map {
        assert_eq!(v, -i64::from(k));
        n += 1;
    }
    assert_eq!(n, 50);
    fn send_sync<T: Send + Sync>(t: T) -> T {
        t
    }
    let consumed = send_sync(map.into_iter());
    let shown = format!("{consumed:?}");
    let consumed = send_sync(consumed);
    assert_eq!(consumed.len(), 50);
    let pairs: Vec<(u16, i64)> = consumed.collect();
    assert_eq!(shown, format!("{pairs:?}"));
}

/// Consuming a `WordMap` or `WordSet` whose growth or shrink is half
/// done: every pair exactly once, with its last value, and an exact
/// length at every step (`ExactSizeIterator`, which `collect` trusts).
/// The consumed map's half-migrated old table and its successor both hold
/// some keys; only the finished root may be walked.
#[test]
fn consuming_mid_resize_yields_each_pair_once_with_exact_len() {
    fn resizing(s: lfmap::Stats) -> bool {
        s.resizes > s.resizes_finished
    }
    let mut seen_mid_growth = 0;
    let mut seen_mid_shrink = 0;
    for past in (0..5000u64).step_by(113) {
        // Growth: insert past `past` until a resize is under way.
        let map: WordMap<u64, u64> = WordMap::new();
        let mut n = 0;
        while n < past || !resizing(map.stats()) {
            map.insert(n, n);
            map.insert(n, n * 3); // a replaced value: only the last comes out
            n += 1;
            assert!(n < 10_000_000, "no growth left under way");
        }
        seen_mid_growth += usize::from(resizing(map.stats()));
        let mut iter = map.into_iter();
        assert_eq!(iter.len(), n as usize);
        let mut got = HashSet::new();
        let mut left = n as usize;
        while let Some((k, v)) = iter.next() {
            left -= 1;
            assert_eq!(iter.len(), left, "exact length after key {k}");
            assert_eq!(v, k * 3, "key {k}'s last value");
            assert!(k < n && got.insert(k), "key {k} yielded twice or never put");
        }
        assert_eq!((got.len(), iter.len(), iter.next()), (n as usize, 0, None));

        // Shrink: remove most keys until a shrink is under way, through a set.
        let set: lfmap::WordSet<u64> = (0..past + 2000).collect();
        let mut k = 0;
        while k < past + 2000 && !resizing(set.stats()) {
            set.remove(&k);
            k += 1;
        }
        seen_mid_shrink += usize::from(resizing(set.stats()));
        let want: HashSet<u64> = (k..past + 2000).collect();
        let iter = set.into_iter();
        assert_eq!(iter.len(), want.len());
        let got: Vec<u64> = iter.collect();
        assert_eq!(got.len(), want.len(), "an element yielded twice");
        assert_eq!(got.into_iter().collect::<HashSet<_>>(), want);
    }
    assert!(
        seen_mid_growth > 0 && seen_mid_shrink > 0,
        "no resize was under way"
    );
}

/// `drain` mid-growth: every pair once with an exact length, the map
/// empty and usable at once, its floor and hasher kept, its statistics
/// cumulative (the drained keys count as removed); a drain dropped early
/// leaves the map as empty; `into_keys` and `into_values` are complete.
#[test]
fn drain_and_into_keys_values_mid_resize() {
    fn resizing(s: lfmap::Stats) -> bool {
        s.resizes > s.resizes_finished
    }
    for past in (0..4000u64).step_by(331) {
        let mut map: WordMap<u64, u64> = WordMap::with_capacity(100);
        let floor = map.capacity();
        let mut n = 0;
        while n < past || !resizing(map.stats()) {
            map.insert(n, n + 1);
            n += 1;
        }
        let mut drain = map.drain();
        let mut got = HashSet::new();
        let mut left = n as usize;
        assert_eq!(drain.len(), left);
        while let Some((k, v)) = drain.next() {
            left -= 1;
            assert_eq!((drain.len(), v), (left, k + 1));
            assert!(got.insert(k), "key {k} twice");
        }
        assert_eq!(got.len(), n as usize);
        drop(drain);
        let s = map.stats();
        assert_eq!(
            (map.len(), s.len, s.inserts, s.removes),
            (0, 0, n, n),
            "{s:?}"
        );
        assert_eq!(map.capacity(), floor, "the floor of with_capacity stays");
        assert_eq!(map.get(&1), None);
        for k in 0..n {
            map.insert(k, k);
        }
        // A drain dropped after one pair: the map is empty all the same.
        let mut early = map.drain();
        assert!(early.next().is_some());
        drop(early);
        assert_eq!(map.iter().count(), 0);
        map.insert(7, 70);
        assert_eq!(map.get(&7), Some(70));

        let map: WordMap<u64, u64> = (0..n).map(|k| (k, k * 2)).collect();
        let keys = map.clone().into_keys();
        assert_eq!(keys.len(), n as usize);
        assert_eq!(keys.collect::<HashSet<_>>(), (0..n).collect());
        let values: Vec<u64> = map.into_values().collect();
        assert_eq!(values.len(), n as usize);
        assert_eq!(values.iter().sum::<u64>(), (0..n).map(|k| k * 2).sum());
    }
    let mut set: lfmap::WordSet<u32> = (0..1000).collect();
    let drained: HashSet<u32> = set.drain().collect();
    assert_eq!((drained.len(), set.len()), (1000, 0));
    assert!(set.insert(5));
}

// ---------------------------------------------------------------------------
// Wrong `WordSized` impls: wrong answers, no panic, no UB, still usable
// ---------------------------------------------------------------------------

/// Not injective: only the key modulo 4 (plus a top byte for odd keys, so
/// both insert paths see collapsed keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Collapsing(u64);

impl WordSized for Collapsing {
    fn to_word(self) -> u64 {
        let low = self.0 % 4;
        if low % 2 == 1 {
            low | 0xff << 56
        } else {
            low
        }
    }
    fn from_word(word: u64) -> Self {
        Collapsing(word)
    }
}

/// Decodes every word to the same value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Forgetful(u64);

impl WordSized for Forgetful {
    fn to_word(self) -> u64 {
        self.0
    }
    fn from_word(_: u64) -> Self {
        Forgetful(42)
    }
}

/// Not even deterministic: a new word (top byte included) every call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fickle(u64);

static FICKLE: AtomicU64 = AtomicU64::new(1);

impl WordSized for Fickle {
    fn to_word(self) -> u64 {
        FICKLE
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
    fn from_word(word: u64) -> Self {
        Fickle(word)
    }
}

/// Panics when decoding the word 13.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fussy(u64);

impl WordSized for Fussy {
    fn to_word(self) -> u64 {
        self.0
    }
    fn from_word(word: u64) -> Self {
        if word == 13 {
            panic!("planned: Fussy decoded 13");
        }
        Fussy(word)
    }
}

/// Iteration agrees with `len` and yields no word twice.
fn consistent<K: WordSized, V: WordSized>(map: &WordMap<K, V>) -> usize {
    let n = map.iter().count();
    assert_eq!(n, map.len());
    assert_eq!(map.keys().count(), n);
    assert_eq!(map.values().count(), n);
    n
}

#[test]
fn a_non_injective_key_merges_keys_and_nothing_worse() {
    let map: WordMap<Collapsing, u64> = WordMap::new();
    for i in 0..100 {
        map.insert(Collapsing(i), i);
    }
    // Wrong answers, as documented: 100 keys are 4.
    assert_eq!(consistent(&map), 4);
    assert_eq!(map.get(&Collapsing(5)), Some(97));
    assert_eq!(map.get(&Collapsing(1_000_001)), Some(97));
    assert_eq!(
        map.compute(Collapsing(2), |v| Operation::<_, ()>::Insert(
            v.unwrap() + 1
        )),
        WordCompute::Updated { old: 98, new: 99 }
    );
    assert_eq!(map.remove_if(&Collapsing(7), |_, v| v == 99), Some(99));
    map.retain(|k, _| k.0 != 0);
    assert_eq!(consistent(&map), 2);
    let mut words: Vec<u64> = map.keys().map(|k| k.0).collect();
    words.sort_unstable();
    assert_eq!(words, [2, 0xff << 56 | 1]);
    map.clear();
    assert_eq!(consistent(&map), 0);
    map.insert(Collapsing(1), 1);
    assert_eq!(map.get(&Collapsing(1)), Some(1));
}

#[test]
fn a_lossy_from_word_returns_wrong_values_and_sweeps_by_stored_word() {
    let map: WordMap<Forgetful, Forgetful> = WordMap::new();
    for i in 0..200 {
        assert_eq!(map.insert(Forgetful(i), Forgetful(i)), None);
    }
    assert_eq!(consistent(&map), 200);
    assert_eq!(map.get(&Forgetful(7)), Some(Forgetful(42)));
    assert!(map.iter().all(|kv| kv == (Forgetful(42), Forgetful(42))));
    assert_eq!(
        map.compute(Forgetful(3), |v| {
            assert_eq!(v, Some(Forgetful(42)));
            Operation::<_, ()>::Remove
        }),
        WordCompute::Removed(Forgetful(42))
    );
    // `retain` judges decoded copies but removes by the stored word: every
    // key judged `false` goes, though every one decodes to the same value.
    let mut judged = 0;
    map.retain(|_, _| {
        judged += 1;
        judged % 2 == 0
    });
    assert_eq!(judged, 199);
    assert_eq!(consistent(&map), 99);
    map.retain(|k, _| k != Forgetful(42));
    assert_eq!(consistent(&map), 0);
}

#[test]
fn a_non_deterministic_to_word_misses_but_stays_consistent() {
    let map: WordMap<Fickle, Fickle> = WordMap::new();
    for i in 0..2_000 {
        // Each call encodes the key anew: always a new key.
        assert_eq!(map.insert(Fickle(i), Fickle(i)), None);
    }
    assert_eq!(map.get(&Fickle(0)), None);
    assert_eq!(map.remove(&Fickle(0)), None);
    assert_eq!(map.remove_if(&Fickle(0), |_, _| true), None);
    assert_eq!(
        map.compute(Fickle(0), |_| Operation::<_, ()>::Remove),
        WordCompute::Absent
    );
    assert_eq!(consistent(&map), 2_000);
    let words: HashSet<u64> = map.keys().map(|k| k.0).collect();
    assert_eq!(words.len(), 2_000);
    let mut judged = 0;
    map.retain(|_, _| {
        judged += 1;
        judged % 2 == 0
    });
    assert_eq!(judged, 2_000);
    assert_eq!(consistent(&map), 1_000);
    map.clear();
    assert_eq!(consistent(&map), 0);
}

#[test]
fn a_panicking_from_word_unwinds_and_leaves_the_map_consistent() {
    quiet_planned_panics();
    let map: WordMap<u64, Fussy> = WordMap::new();
    for k in 0..100 {
        map.insert(k, Fussy(if k == 50 { 13 } else { k + 100 }));
    }
    fn planned<T>(f: impl FnOnce() -> T) {
        assert!(catch_unwind(AssertUnwindSafe(f)).is_err(), "did not panic");
    }
    planned(|| map.get(&50));
    planned(|| map.iter().count());
    // compute decodes the current value inside the write: nothing written.
    planned(|| map.compute(50, |_| Operation::<_, ()>::Insert(Fussy(0))));
    assert_eq!(map.len(), 100);
    // retain stops at the panic: what it removed stays removed.
    let mut judged = 0;
    planned(|| {
        map.retain(|_, _| {
            judged += 1;
            false
        })
    });
    assert!(judged < 100);
    assert_eq!(map.len(), 100 - judged);
    // insert over 13 writes, then panics decoding the old value.
    planned(|| map.insert(50, Fussy(1)));
    assert_eq!(map.get(&50), Some(Fussy(1)));
    assert_eq!(consistent(&map), 100 - judged);
    assert_eq!(map.remove_if(&50, |_, v| v == Fussy(1)), Some(Fussy(1)));
    map.retain(|_, _| false);
    assert_eq!(consistent(&map), 0);
}

#[test]
fn wrong_impls_under_threads_never_panic_in_the_map() {
    let map: WordMap<Collapsing, Forgetful> = WordMap::new();
    let other: WordMap<Fickle, u64> = WordMap::new();
    let fickle_inserts = AtomicUsize::new(0);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (map, other, fickle_inserts) = (&map, &other, &fickle_inserts);
            s.spawn(move || {
                let mut rng = Rng::new(t + 100);
                for _ in 0..5_000 * SCALE {
                    let k = Collapsing(rng.below(64));
                    match rng.below(8) {
                        0 | 1 => {
                            map.insert(k, Forgetful(rng.next_u64()));
                        }
                        2 => {
                            map.remove(&k);
                        }
                        3 => {
                            map.remove_if(&k, |_, v| v == Forgetful(42));
                        }
                        4 => {
                            map.compute(k, |cur| match cur {
                                Some(_) => Operation::<_, ()>::Remove,
                                None => Operation::Insert(Forgetful(1)),
                            });
                        }
                        5 => map.retain(|k, _| k.0 % 3 != 0),
                        6 => assert!(map.iter().count() <= 4),
                        _ => {
                            assert_eq!(other.insert(Fickle(0), t), None);
                            assert_eq!(other.remove(&Fickle(0)), None);
                            fickle_inserts.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    assert!(consistent(&map) <= 4);
    assert_eq!(consistent(&other), fickle_inserts.into_inner());
}

/// `try_insert` under racing threads: exactly one `Ok` per key, every
/// `Err` carries the winner's value, and the winner's value stays. The
/// threads start together and walk the keys in the same order, over
/// several rounds, so that they contend for the same keys.
#[test]
fn try_insert_has_one_winner_per_key() {
    for _round in 0..10 {
        try_insert_round();
    }
}

fn try_insert_round() {
    const THREADS: u64 = 4;
    const KEYS: u64 = 5_000;
    let map: WordMap<u64, u64> = WordMap::new();
    let start = std::sync::Barrier::new(THREADS as usize);
    let outcomes: Vec<Vec<Result<(), u64>>> = thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (map, start) = (&map, &start);
                s.spawn(move || {
                    start.wait();
                    (0..KEYS).map(|k| map.try_insert(k, t)).collect()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for k in 0..KEYS {
        let winner = map.get(&k).expect("some thread inserted it");
        let wins: Vec<u64> = (0..THREADS)
            .filter(|&t| outcomes[t as usize][k as usize].is_ok())
            .collect();
        assert_eq!(wins, [winner], "key {k}: one winner, the value that stayed");
        for t in (0..THREADS).filter(|&t| t != winner) {
            assert_eq!(
                outcomes[t as usize][k as usize],
                Err(winner),
                "key {k}, thread {t}"
            );
        }
    }
    assert_eq!(map.len(), KEYS as usize);
}

// ---------------------------------------------------------------------------
// `update_or_insert` and `update_or_insert_with` (papaya's; dashmap's
// `entry(k).and_modify(f).or_insert(v)`)
// ---------------------------------------------------------------------------

/// Against std's `entry(k).and_modify(f).or_insert(v)`, with removals
/// mixed in, through a growth from empty; the `_with` form runs `insert`
/// only for absent keys and `update` only for present ones (one thread:
/// no retry).
#[test]
fn update_or_insert_matches_std_entry() {
    let map: WordMap<u64, u64> = WordMap::new();
    let mut model = std::collections::HashMap::new();
    let mut rng = Rng::new(0x5eed);
    let step = |v: u64| v.wrapping_mul(3).wrapping_add(1);
    for round in 0..20_000 {
        let k = rng.below(3_000);
        let want = *model
            .entry(k)
            .and_modify(|v| *v = step(*v))
            .or_insert(k + 1);
        assert_eq!(map.update_or_insert(k, step, k + 1), want, "round {round}");
        if rng.below(4) == 0 {
            let gone = rng.below(3_000);
            assert_eq!(map.remove(&gone), model.remove(&gone), "round {round}");
        }
    }
    let (mut inserts, mut updates) = (0, 0);
    let (mut want_inserts, mut want_updates) = (0, 0);
    for round in 0..20_000 {
        let k = rng.below(5_000);
        if model.contains_key(&k) {
            want_updates += 1;
        } else {
            want_inserts += 1;
        }
        let want = *model
            .entry(k)
            .and_modify(|v| *v = step(*v))
            .or_insert(k ^ 7);
        let got = map.update_or_insert_with(
            k,
            |v| {
                updates += 1;
                step(v)
            },
            || {
                inserts += 1;
                k ^ 7
            },
        );
        assert_eq!(got, want, "round {round}");
    }
    assert_eq!((inserts, updates), (want_inserts, want_updates));
    let mut pairs: Vec<(u64, u64)> = map.iter().collect();
    pairs.sort_unstable();
    let mut want: Vec<(u64, u64)> = model.into_iter().collect();
    want.sort_unstable();
    assert_eq!(pairs, want);
    // Keys with a top byte take the pending claim; word-sized user types.
    assert_eq!(map.update_or_insert(u64::MAX, |v| v + 1, 0), 0);
    assert_eq!(map.update_or_insert(u64::MAX, |v| v + 1, 0), 1);
    let ids: WordMap<UserId, (u32, u32)> = WordMap::new();
    let grow = |(a, b): (u32, u32)| (a + 1, b * 2);
    assert_eq!(ids.update_or_insert(UserId(9), grow, (0, 1)), (0, 1));
    assert_eq!(ids.update_or_insert(UserId(9), grow, (0, 1)), (1, 2));
}

/// A retry keeps what `insert` made: `insert` itself inserts the key (it
/// may use the map freely), so the call's own insert loses and `update`
/// runs on that value; then `update` removes the key it ran on, so the
/// retry finds it absent again and inserts the value made before, without
/// running `insert` a second time.
#[test]
fn update_or_insert_with_keeps_its_made_value_across_retries() {
    let map: WordMap<u64, u64> = WordMap::new();
    let (mut inserts, mut updates) = (0, 0);
    let got = map.update_or_insert_with(
        1,
        |v| {
            updates += 1;
            v + 1
        },
        || {
            inserts += 1;
            map.insert(1, 5);
            100
        },
    );
    assert_eq!((got, inserts, updates), (6, 1, 1));
    assert_eq!(map.get(&1), Some(6));

    let (mut inserts, mut updates) = (0, 0);
    let got = map.update_or_insert_with(
        2,
        |v| {
            updates += 1;
            map.remove(&2);
            v + 1
        },
        || {
            inserts += 1;
            map.insert(2, 5);
            100
        },
    );
    assert_eq!((got, inserts, updates), (100, 1, 1));
    assert_eq!(map.get(&2), Some(100));
    assert_eq!(map.len(), 2);
}

/// A panicking `update` or `insert` unwinds out of the call and leaves the
/// map as it was, usable.
#[test]
fn update_or_insert_panics_leave_the_map_unchanged() {
    quiet_planned_panics();
    let map: WordMap<u64, u64> = (0..1_000).map(|k| (k, k)).collect();
    for k in (0..2_000).step_by(7) {
        let r = catch_unwind(AssertUnwindSafe(|| {
            map.update_or_insert(k, |_| panic!("planned"), 0)
        }));
        assert_eq!(r.is_err(), k < 1_000, "key {k}");
        let r = catch_unwind(AssertUnwindSafe(|| {
            map.update_or_insert_with(k + 5_000, |v| v, || panic!("planned"))
        }));
        assert!(r.is_err(), "key {k}");
    }
    let added = (0..2_000).step_by(7).filter(|&k| k >= 1_000).count();
    assert_eq!(map.len(), 1_000 + added);
    for k in 0..2_000 {
        let want = if k < 1_000 {
            Some(k)
        } else if k % 7 == 0 {
            Some(0)
        } else {
            None
        };
        assert_eq!(map.get(&k), want, "key {k}");
        assert_eq!(map.get(&(k + 5_000)), None, "key {}", k + 5_000);
    }
    assert_eq!(map.update_or_insert(3, |v| v + 1, 0), 4);
}

/// Threads bump shared counters while others remove them: every call
/// counts once, none lost (each thread knows what it added, and a removal
/// returns what it took out).
#[test]
fn concurrent_update_or_insert_loses_no_increment() {
    const KEYS: u64 = 64;
    let calls = 20_000 * SCALE;
    let map: WordMap<u64, u64> = WordMap::new();
    let start = SpinStart::new(THREADS as usize + 1);
    let (removed, removals) = (AtomicU64::new(0), AtomicU64::new(0));
    let stop = AtomicBool::new(false);
    let inserts = AtomicU64::new(0);
    thread::scope(|s| {
        // Stops the remover however the workers end.
        let stop_remover = StopOnDrop(&stop);
        let remover = s.spawn(|| {
            start.wait();
            let mut rng = Rng::new(99);
            while !stop.load(Ordering::Relaxed) {
                if let Some(v) = map.remove(&rng.below(KEYS)) {
                    removed.fetch_add(v, Ordering::Relaxed);
                    removals.fetch_add(1, Ordering::Relaxed);
                }
                thread::yield_now();
            }
        });
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (map, start, inserts) = (&map, &start, &inserts);
                s.spawn(move || {
                    start.wait();
                    let mut rng = Rng::new(t + 1);
                    for _ in 0..calls {
                        map.update_or_insert_with(
                            rng.below(KEYS),
                            |v| v + 1,
                            || {
                                inserts.fetch_add(1, Ordering::Relaxed);
                                1
                            },
                        );
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        drop(stop_remover);
        remover.join().unwrap();
    });
    let left: u64 = map.values().sum();
    assert_eq!(left + removed.load(Ordering::Relaxed), THREADS * calls);
    // Every time a key went from absent to present, a value made by
    // `insert` went in (each made at most once per call, inserted at most
    // once): at least one run per removal, and per key present at the end.
    let appeared = removals.load(Ordering::Relaxed) + map.len() as u64;
    assert!(inserts.load(Ordering::Relaxed) >= appeared);
    assert!(inserts.load(Ordering::Relaxed) <= THREADS * calls);
}

/// `get_or_try_insert_with`: `make` only for an absent key, at most once;
/// an error leaves the key absent; `make` may insert the key itself (its
/// value then wins). (Under threads: `try_insert_races_store_a_made_value`.)
#[test]
fn get_or_try_insert_with_inserts_only_what_make_gives() {
    let map: WordMap<u64, u64> = WordMap::new();
    let mut runs = 0;
    let got = map.get_or_try_insert_with(u64::MAX, || {
        runs += 1;
        Ok::<_, ()>(7)
    });
    assert_eq!((got, runs), (Ok(7), 1));
    assert_eq!(map.get_or_try_insert_with(u64::MAX, || Err(())), Ok(7));
    assert_eq!(map.get_or_try_insert_with(2, || Err("no")), Err("no"));
    assert_eq!((map.get(&2), map.len()), (None, 1));
    let got = map.get_or_try_insert_with(3, || {
        map.insert(3, 30);
        Ok::<_, ()>(31)
    });
    assert_eq!(got, Ok(30));
    let got = map.get_or_try_insert_with(4, || {
        map.insert(4, 40);
        Err("late")
    });
    assert_eq!((got, map.get(&4)), (Err("late"), Some(40)));
}
