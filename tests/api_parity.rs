//! The calls a user porting from std, papaya or dashmap reaches for, each
//! checked against `std::collections` on the same input: `From` arrays,
//! `Extend` from references, the consuming iterators of `WordMap` and
//! `WordSet`, papaya's `update_or_insert` family and `remove_entry`,
//! std's set relations, and `Clone` for the borrowing iterators.

use std::collections::{HashMap as StdMap, HashSet as StdSet};
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use lfmap::{HashMap, HashSet, WordMap, WordSet};

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort_unstable();
    v
}

fn std_pairs(map: &StdMap<u64, u64>) -> Vec<(u64, u64)> {
    sorted(map.iter().map(|(&k, &v)| (k, v)).collect())
}

fn map_pairs(map: &HashMap<u64, u64>) -> Vec<(u64, u64)> {
    sorted(map.pin().iter().map(|(&k, &v)| (k, v)).collect())
}

fn word_pairs(map: &WordMap<u64, u64>) -> Vec<(u64, u64)> {
    sorted(map.iter().collect())
}

fn std_elements(set: &StdSet<u64>) -> Vec<u64> {
    sorted(set.iter().copied().collect())
}

fn set_elements(set: &HashSet<u64>) -> Vec<u64> {
    sorted(set.pin().iter().copied().collect())
}

fn word_elements(set: &WordSet<u64>) -> Vec<u64> {
    sorted(set.iter().collect())
}

/// A small deterministic generator (xorshift), so failures replay.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn from_arrays_match_std_and_the_last_duplicate_wins() {
    let pairs = [(1u64, 10u64), (2, 20), (1, 11), (3, 30), (2, 21), (1, 12)];
    let want = StdMap::from(pairs);
    assert_eq!(map_pairs(&HashMap::from(pairs)), std_pairs(&want));
    assert_eq!(word_pairs(&WordMap::from(pairs)), std_pairs(&want));
    assert_eq!(HashMap::from(pairs).len(), 3);
    assert_eq!(WordMap::from(pairs).get(&1), Some(12));
    assert_eq!(HashMap::from(pairs).pin().get(&2), Some(&21));

    let elements = [3u64, 1, 3, 2, 1, 3];
    let want = StdSet::from(elements);
    assert_eq!(set_elements(&HashSet::from(elements)), std_elements(&want));
    assert_eq!(word_elements(&WordSet::from(elements)), std_elements(&want));

    // Empty arrays, and arrays large enough to resize while filling.
    let none: [(u64, u64); 0] = [];
    assert!(HashMap::from(none).is_empty());
    assert!(WordMap::from(none).is_empty());
    assert!(HashSet::<u64>::from([]).is_empty());
    assert!(WordSet::<u64>::from([]).is_empty());
    let big: [(u64, u64); 2_000] = std::array::from_fn(|i| (i as u64 % 700, i as u64));
    let want = StdMap::from(big);
    assert_eq!(map_pairs(&HashMap::from(big)), std_pairs(&want));
    assert_eq!(word_pairs(&WordMap::from(big)), std_pairs(&want));
    let big: [u64; 2_000] = std::array::from_fn(|i| (i as u64 * 7) % 900);
    let want = StdSet::from(big);
    assert_eq!(set_elements(&HashSet::from(big)), std_elements(&want));
    assert_eq!(word_elements(&WordSet::from(big)), std_elements(&want));
}

/// A key whose `tag` takes no part in equality or hashing, to tell which
/// of two equal keys a map stored.
#[derive(Clone, Copy, Debug)]
struct Tagged {
    id: u8,
    tag: char,
}

impl PartialEq for Tagged {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Tagged {}

impl Hash for Tagged {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

#[test]
fn from_arrays_keep_the_last_pair_key_and_value() {
    let pairs = [
        (Tagged { id: 1, tag: 'a' }, 10),
        (Tagged { id: 2, tag: 'x' }, 20),
        (Tagged { id: 1, tag: 'b' }, 11),
    ];
    let map = HashMap::from(pairs);
    let m = map.pin();
    let (key, value) = m.get_key_value(&Tagged { id: 1, tag: '?' }).unwrap();
    assert_eq!((key.tag, *value), ('b', 11), "the last pair, key and value");
    // std keeps the first key and the last value.
    let std = StdMap::from(pairs);
    let (key, value) = std.get_key_value(&Tagged { id: 1, tag: '?' }).unwrap();
    assert_eq!((key.tag, *value), ('a', 11));
    // Sets keep the first of equal elements, as std's do.
    let set = HashSet::from([Tagged { id: 3, tag: 'a' }, Tagged { id: 3, tag: 'b' }]);
    assert_eq!(set.pin().iter().map(|t| t.tag).collect::<Vec<_>>(), ['a']);
}

#[test]
fn extend_from_references_matches_std() {
    let start = [(1u64, 1u64), (2, 2), (5, 5)];
    let source: StdMap<u64, u64> = (0..300).map(|i| (i % 120, i)).collect();
    let slice: Vec<(u64, u64)> = (100..400).map(|i| (i, i * 2)).collect();

    let mut want = StdMap::from(start);
    want.extend(&source);
    want.extend(slice.iter().map(|(k, v)| (k, v)));

    let mut map = HashMap::from(start);
    map.extend(&source);
    map.extend(slice.iter().map(|(k, v)| (k, v)));
    assert_eq!(map_pairs(&map), std_pairs(&want));

    let shared = HashMap::from(start);
    (&shared).extend(&source);
    (&shared).extend(slice.iter().map(|(k, v)| (k, v)));
    assert_eq!(map_pairs(&shared), std_pairs(&want));

    let mut words = WordMap::from(start);
    words.extend(&source);
    words.extend(slice.iter().map(|(k, v)| (k, v)));
    assert_eq!(word_pairs(&words), std_pairs(&want));

    let shared_words = WordMap::from(start);
    (&shared_words).extend(&source);
    (&shared_words).extend(slice.iter().map(|(k, v)| (k, v)));
    assert_eq!(word_pairs(&shared_words), std_pairs(&want));

    let elements: Vec<u64> = (0..500).map(|i| i * 3 % 250).collect();
    let other: StdSet<u64> = (200..260).collect();
    let mut want = StdSet::from([1u64, 7]);
    want.extend(&elements);
    want.extend(&other);

    let mut set = HashSet::from([1u64, 7]);
    set.extend(&elements);
    set.extend(&other);
    assert_eq!(set_elements(&set), std_elements(&want));

    let shared_set = HashSet::from([1u64, 7]);
    (&shared_set).extend(&elements);
    (&shared_set).extend(&other);
    assert_eq!(set_elements(&shared_set), std_elements(&want));

    let mut word_set = WordSet::from([1u64, 7]);
    word_set.extend(&elements);
    word_set.extend(&other);
    assert_eq!(word_elements(&word_set), std_elements(&want));

    let shared_word_set = WordSet::from([1u64, 7]);
    (&shared_word_set).extend(&elements);
    (&shared_word_set).extend(&other);
    assert_eq!(word_elements(&shared_word_set), std_elements(&want));
}

#[test]
fn word_into_iter_yields_exactly_the_pairs_with_an_exact_len() {
    for n in [0u64, 1, 13, 1_000, 50_000] {
        let map: WordMap<u64, u64> = WordMap::new();
        let set: WordSet<u64> = WordSet::new();
        let mut model = StdMap::new();
        for i in 0..n {
            map.insert(i, i ^ 0xff);
            set.insert(i);
            model.insert(i, i ^ 0xff);
        }
        for i in (0..n).step_by(3) {
            map.remove(&i);
            set.remove(&i);
            model.remove(&i);
        }
        // Keys at the ends of the word range are ordinary keys.
        map.insert(u64::MAX, 0);
        set.insert(u64::MAX);
        model.insert(u64::MAX, 0);

        let mut iter = map.into_iter();
        assert_eq!(iter.len(), model.len(), "n = {n}");
        assert_eq!(iter.size_hint(), (model.len(), Some(model.len())));
        let first = iter.next().expect("at least u64::MAX");
        assert_eq!(iter.len(), model.len() - 1);
        let mut got: Vec<(u64, u64)> = iter.by_ref().collect();
        got.push(first);
        assert_eq!(sorted(got), std_pairs(&model), "n = {n}");
        assert_eq!((iter.len(), iter.next(), iter.next()), (0, None, None));

        let mut iter = set.into_iter();
        assert_eq!(iter.len(), model.len(), "n = {n}");
        let got: Vec<u64> = iter.by_ref().collect();
        assert_eq!(sorted(got), sorted(model.keys().copied().collect()));
        assert_eq!((iter.len(), iter.next(), iter.next()), (0, None, None));
    }
    // `for` over an owned map, as over std's.
    let mut total = 0;
    for (k, v) in WordMap::from([(1u32, 10u32), (2, 20)]) {
        total += k * v;
    }
    assert_eq!(total, 50);
    let word_set: Vec<char> = sorted(WordSet::from(['b', 'a']).into_iter().collect());
    assert_eq!(word_set, ['a', 'b']);
}

#[test]
fn update_or_insert_updates_present_keys_and_inserts_absent_ones_as_std() {
    let map = HashMap::new();
    let m = map.pin();
    let mut model: StdMap<u64, u64> = StdMap::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let step = |v: &u64| v.wrapping_mul(3).wrapping_add(1);
    for round in 0..5_000 {
        let k = rng.below(200);
        let fresh = k + 1_000;
        let want = *model.entry(k).and_modify(|v| *v = step(v)).or_insert(fresh);
        assert_eq!(*m.update_or_insert(k, step, fresh), want, "round {round}");
        if rng.below(4) == 0 {
            let gone = rng.below(200);
            assert_eq!(m.remove(&gone).copied(), model.remove(&gone));
        }
    }
    assert_eq!(map_pairs(&map), std_pairs(&model));

    // The `_with` form: `insert` runs only for absent keys, `update` only
    // for present ones (single-threaded: once each, never retried).
    let (inserts, updates) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let (mut want_inserts, mut want_updates) = (0, 0);
    for round in 0..5_000 {
        let k = rng.below(300);
        if model.contains_key(&k) {
            want_updates += 1;
        } else {
            want_inserts += 1;
        }
        let want = *model.entry(k).and_modify(|v| *v = step(v)).or_insert(k + 7);
        let got = m.update_or_insert_with(
            k,
            |v| {
                updates.fetch_add(1, Ordering::Relaxed);
                step(v)
            },
            || {
                inserts.fetch_add(1, Ordering::Relaxed);
                k + 7
            },
        );
        assert_eq!(*got, want, "round {round}");
    }
    assert_eq!(inserts.load(Ordering::Relaxed), want_inserts);
    assert_eq!(updates.load(Ordering::Relaxed), want_updates);
    assert_eq!(map_pairs(&map), std_pairs(&model));

    // Values that are not `Copy`, and the papaya examples.
    let names: HashMap<String, String> = HashMap::new();
    let n = names.pin();
    let add_plus = |v: &String| format!("{v}+");
    assert_eq!(n.update_or_insert("a".into(), add_plus, "0".into()), "0");
    assert_eq!(n.update_or_insert("a".into(), add_plus, "0".into()), "0+");
    assert_eq!(
        n.update_or_insert_with("a".into(), add_plus, || unreachable!()),
        "0++"
    );
    assert_eq!(
        n.update_or_insert_with("b".into(), add_plus, || "1".into()),
        "1"
    );
    assert_eq!(*map.pin().update_or_insert(u64::MAX, |i| i + 1, 0), 0);
    assert_eq!(*map.pin().update_or_insert(u64::MAX, |i| i + 1, 0), 1);
}

/// How many tracked [`Counted`] values were made and how many dropped:
/// every one made must be dropped exactly once by the time its map is.
#[derive(Default)]
struct Census {
    made: AtomicUsize,
    dropped: AtomicUsize,
}

impl Census {
    fn made(&self) -> usize {
        self.made.load(Ordering::Relaxed)
    }

    fn dropped(&self) -> usize {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// A value that counts its drops (when tracked), to see that a made value
/// that is not inserted is dropped once, and one that is inserted is not
/// dropped by the call.
struct Counted {
    n: u64,
    census: Option<Arc<Census>>,
}

impl Counted {
    fn plain(n: u64) -> Self {
        Counted { n, census: None }
    }

    fn tracked(n: u64, census: &Arc<Census>) -> Self {
        census.made.fetch_add(1, Ordering::Relaxed);
        Counted {
            n,
            census: Some(Arc::clone(census)),
        }
    }
}

/// By `n`; a comparison with 666 on either side panics (a user's `Eq`
/// that panics, for `compare_exchange`).
impl PartialEq for Counted {
    fn eq(&self, other: &Counted) -> bool {
        assert!(self.n != 666 && other.n != 666, "eq panics");
        self.n == other.n
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Some(c) = &self.census {
            c.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// `(key, n)` of every entry, sorted.
fn counted_entries(map: &HashMap<u64, Counted>) -> Vec<(u64, u64)> {
    sorted(map.pin().iter().map(|(&k, v)| (k, v.n)).collect())
}

#[test]
fn update_or_insert_with_keeps_its_made_value_across_retries() {
    // `insert` inserts the key itself (allowed: it runs once): the call's
    // own insert then loses, `update` runs on the value `insert` wrote, and
    // the made value is dropped, once, by the call.
    let map: HashMap<u64, Counted> = HashMap::new();
    let m = map.pin();
    let census = Arc::new(Census::default());
    let (mut inserts, mut updates) = (0, 0);
    let got = m.update_or_insert_with(
        1,
        |v| {
            updates += 1;
            Counted::plain(v.n + 1)
        },
        || {
            inserts += 1;
            m.insert(1, Counted::plain(5));
            Counted::tracked(100, &census)
        },
    );
    assert_eq!((got.n, inserts, updates), (6, 1, 1));
    assert_eq!((census.made(), census.dropped()), (1, 1));

    // Absent, then present (`insert` wrote it), then absent again (the
    // first `update` removed it): the value `insert` made is carried over
    // and inserted, and `insert` ran once.
    let census = Arc::new(Census::default());
    let (mut inserts, mut updates) = (0, 0);
    let got = m.update_or_insert_with(
        2,
        |v| {
            updates += 1;
            if updates == 1 {
                m.remove(&2);
            }
            Counted::plain(v.n + 1)
        },
        || {
            inserts += 1;
            m.insert(2, Counted::plain(5));
            Counted::tracked(100, &census)
        },
    );
    assert_eq!((got.n, inserts, updates), (100, 1, 1));
    assert_eq!(census.dropped(), 0, "the made value is in the map");
    assert_eq!(m.get(&2).map(|v| v.n), Some(100));
    // Made once, and dropped exactly once overall: by the map.
    drop(m);
    drop(map);
    assert_eq!((census.made(), census.dropped()), (1, 1));
}

/// `compare_exchange` whose `PartialEq` panics unwinds out of the call,
/// leaves the map as it was and drops the value it was given exactly once;
/// a failed exchange gives the value back; a successful one stores it.
#[test]
fn compare_exchange_panics_and_failures_keep_the_map_and_the_value_counted() {
    let map: HashMap<u64, Counted> = HashMap::new();
    map.pin().insert(1, Counted::plain(666));
    map.pin().insert(2, Counted::plain(20));
    let before = counted_entries(&map);

    let census = Arc::new(Census::default());
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        let _ = map
            .pin()
            .compare_exchange(&1, &Counted::plain(1), Counted::tracked(7, &census));
    }));
    assert!(panicked.is_err());
    assert_eq!(counted_entries(&map), before);
    assert_eq!((census.made(), census.dropped()), (1, 1));

    let census = Arc::new(Census::default());
    {
        let m = map.pin();
        let Err(e) = m.compare_exchange(&2, &Counted::plain(21), Counted::tracked(8, &census))
        else {
            panic!("20 is not 21");
        };
        assert_eq!((e.current.map(|v| v.n), e.new.n), (Some(20), 8));
        assert_eq!(census.dropped(), 0, "given back, not dropped");
        drop(e);
        assert_eq!(census.dropped(), 1);
        let swapped = m.compare_exchange(&2, &Counted::plain(20), Counted::tracked(9, &census));
        assert_eq!(swapped.ok().map(|v| v.n), Some(20));
    }
    assert_eq!(map.pin().get(&2).map(|v| v.n), Some(9));
    drop(map);
    assert_eq!((census.made(), census.dropped()), (2, 2));
}

/// A panic in `update` or in `insert` unwinds out of the call, leaves the
/// map as it was, and drops the value the call was given or made exactly
/// once (the bad-input guarantee).
#[test]
fn update_or_insert_panics_leave_the_map_unchanged_and_drop_the_value_once() {
    let map: HashMap<u64, Counted> = HashMap::new();
    for k in 0..3 {
        map.pin().insert(k, Counted::plain(k * 10));
    }
    let before = counted_entries(&map);

    // `update` panics on a present key: `value` is never inserted, and is
    // dropped by the unwinding call.
    let census = Arc::new(Census::default());
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        map.pin().update_or_insert(
            1,
            |_| panic!("update panics"),
            Counted::tracked(100, &census),
        );
    }));
    assert!(panicked.is_err());
    assert_eq!(counted_entries(&map), before);
    assert_eq!((census.made(), census.dropped()), (1, 1));

    // `insert` panics on an absent key after making its value (and with
    // one moved into it): nothing is inserted, both are dropped once.
    let census = Arc::new(Census::default());
    let captured = Counted::tracked(200, &census);
    let inner = Arc::clone(&census);
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        map.pin().update_or_insert_with(
            7,
            |_| unreachable!("the key is absent"),
            move || {
                // Moves all of `captured` in (a closure that only read
                // `captured.n` would capture just that field).
                let captured = captured;
                let made = Counted::tracked(captured.n + 1, &inner);
                assert_eq!(made.n, 0, "insert panics");
                made
            },
        );
    }));
    assert!(panicked.is_err());
    assert_eq!(counted_entries(&map), before);
    assert_eq!((census.made(), census.dropped()), (2, 2));

    // `insert` made a value and wrote the key itself; `update` then runs
    // on that value and panics. The made value, held across the retry, is
    // dropped once, and the map keeps only what `insert` wrote itself.
    let census = Arc::new(Census::default());
    let panicked = catch_unwind(AssertUnwindSafe(|| {
        let m = map.pin();
        m.update_or_insert_with(
            8,
            |_| panic!("update panics"),
            || {
                m.insert(8, Counted::plain(80));
                Counted::tracked(300, &census)
            },
        );
    }));
    assert!(panicked.is_err());
    let mut want = before.clone();
    want.push((8, 80));
    assert_eq!(counted_entries(&map), want);
    assert_eq!((census.made(), census.dropped()), (1, 1));

    // The map works on after the panics.
    assert_eq!(
        map.pin()
            .update_or_insert(1, |v| Counted::plain(v.n + 1), Counted::plain(0))
            .n,
        11
    );
    drop(map);
    assert_eq!((census.made(), census.dropped()), (1, 1));
}

#[test]
fn concurrent_update_or_insert_loses_no_increment() {
    const THREADS: u64 = 4;
    const CALLS: u64 = 5_000;
    // Every value made (each call's `value`, each run of `update`) is
    // dropped exactly once by the time the map is: the ones that lose a
    // race by the call, the replaced ones by the map.
    let census = Arc::new(Census::default());
    let map: HashMap<&str, Counted> = HashMap::new();
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..CALLS {
                    map.pin().update_or_insert(
                        "counter",
                        |v| Counted::tracked(v.n + 1, &census),
                        Counted::tracked(1, &census),
                    );
                }
            });
        }
    });
    assert_eq!(map.pin().get("counter").map(|v| v.n), Some(THREADS * CALLS));
    // Each call made its `value`, and all but the first ran `update` at
    // least once.
    assert!(census.made() as u64 >= 2 * THREADS * CALLS - 1);
    drop(map);
    assert_eq!(census.dropped(), census.made());

    // The `_with` form, with `insert` counted: it runs at most once per
    // call, so at most once per thread here (only a call that saw the key
    // absent runs it), and every call counts once in the total.
    let census = Arc::new(Census::default());
    let map: HashMap<u64, Counted> = HashMap::new();
    let inserts = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..CALLS {
                    map.pin().update_or_insert_with(
                        7,
                        |v| Counted::tracked(v.n + 1, &census),
                        || {
                            inserts.fetch_add(1, Ordering::Relaxed);
                            Counted::tracked(1, &census)
                        },
                    );
                }
            });
        }
    });
    assert_eq!(map.pin().get(&7).map(|v| v.n), Some(THREADS * CALLS));
    assert!((1..=THREADS as usize).contains(&inserts.load(Ordering::Relaxed)));
    drop(map);
    assert_eq!(census.dropped(), census.made());
}

#[test]
fn remove_entry_matches_std() {
    let map: HashMap<String, u64> = HashMap::new();
    let mut model: StdMap<String, u64> = StdMap::new();
    for i in 0..100u64 {
        map.pin().insert(i.to_string(), i);
        model.insert(i.to_string(), i);
    }
    let m = map.pin();
    for i in (0..150u64).rev().step_by(2) {
        let key = i.to_string();
        let want = model.remove_entry(key.as_str());
        let got = m.remove_entry(key.as_str());
        assert_eq!(got.map(|(k, v)| (k.clone(), *v)), want, "key {key}");
        assert_eq!(m.remove_entry(key.as_str()), None);
    }
    let mut left: Vec<(String, u64)> = m.iter().map(|(k, v)| (k.clone(), *v)).collect();
    left.sort_unstable();
    let mut want: Vec<(String, u64)> = model.into_iter().collect();
    want.sort_unstable();
    assert_eq!(left, want);
}

/// Pairs of sets whose relations are compared: overlapping, disjoint,
/// equal, empty, strictly nested, and large enough to have resized.
fn set_cases() -> Vec<(Vec<u64>, Vec<u64>)> {
    vec![
        (vec![1, 2, 3, 4], vec![3, 4, 5, 6]),
        (vec![1, 2, 3], vec![7, 8, 9]),
        (vec![1, 2, 3], vec![3, 2, 1]),
        (vec![], vec![]),
        (vec![], vec![1, 2]),
        (vec![1, 2], vec![]),
        (vec![2, 3], vec![1, 2, 3, 4]),
        (vec![0, u64::MAX], vec![u64::MAX]),
        ((0..3_000).collect(), (1_500..4_500).collect()),
        ((0..3_000).map(|i| i * 2).collect(), (0..2_000).collect()),
    ]
}

#[test]
fn hash_set_relations_match_std() {
    for (a, b) in set_cases() {
        let (sa, sb): (StdSet<u64>, StdSet<u64>) =
            (a.iter().copied().collect(), b.iter().copied().collect());
        let (la, lb): (HashSet<u64>, HashSet<u64>) =
            (a.iter().copied().collect(), b.iter().copied().collect());
        // One handle of each kind: the relations take either.
        let (ra, rb) = (la.pin(), lb.pin_owned());
        let case = format!(
            "a = {:?}.., b = {:?}..",
            &a[..a.len().min(4)],
            &b[..b.len().min(4)]
        );
        // a against b.
        assert_eq!(ra.is_subset(&rb), sa.is_subset(&sb), "{case}");
        assert_eq!(ra.is_superset(&rb), sa.is_superset(&sb), "{case}");
        assert_eq!(ra.is_disjoint(&rb), sa.is_disjoint(&sb), "{case}");
        assert_eq!(
            sorted(ra.difference(&rb).copied().collect()),
            sorted(sa.difference(&sb).copied().collect()),
            "{case}"
        );
        assert_eq!(
            sorted(ra.intersection(&rb).copied().collect()),
            sorted(sa.intersection(&sb).copied().collect()),
            "{case}"
        );
        assert_eq!(
            sorted(ra.union(&rb).copied().collect()),
            sorted(sa.union(&sb).copied().collect()),
            "{case}"
        );
        assert_eq!(
            sorted(ra.symmetric_difference(&rb).copied().collect()),
            sorted(sa.symmetric_difference(&sb).copied().collect()),
            "{case}"
        );
        // b against a, from the owned handle.
        assert_eq!(rb.is_subset(&ra), sb.is_subset(&sa), "{case}");
        assert_eq!(rb.is_superset(&ra), sb.is_superset(&sa), "{case}");
        assert_eq!(rb.is_disjoint(&ra), sb.is_disjoint(&sa), "{case}");
        assert_eq!(
            sorted(rb.difference(&ra).copied().collect()),
            sorted(sb.difference(&sa).copied().collect()),
            "{case}"
        );
        assert_eq!(
            sorted(rb.intersection(&ra).copied().collect()),
            sorted(sb.intersection(&sa).copied().collect()),
            "{case}"
        );
        assert_eq!(
            sorted(rb.union(&ra).copied().collect()),
            sorted(sb.union(&sa).copied().collect()),
            "{case}"
        );
        assert_eq!(
            sorted(rb.symmetric_difference(&ra).copied().collect()),
            sorted(sb.symmetric_difference(&sa).copied().collect()),
            "{case}"
        );
        // A set against itself.
        assert!(ra.is_subset(&ra) && ra.is_superset(&ra));
        assert_eq!(ra.is_disjoint(&ra), sa.is_empty());
        assert_eq!(ra.difference(&ra).count(), 0);
        assert_eq!(ra.union(&ra).count(), sa.len());
    }
}

#[test]
fn word_set_relations_match_std() {
    for (a, b) in set_cases() {
        let (sa, sb): (StdSet<u64>, StdSet<u64>) =
            (a.iter().copied().collect(), b.iter().copied().collect());
        let (wa, wb): (WordSet<u64>, WordSet<u64>) =
            (a.iter().copied().collect(), b.iter().copied().collect());
        let case = format!(
            "a = {:?}.., b = {:?}..",
            &a[..a.len().min(4)],
            &b[..b.len().min(4)]
        );
        for ((x, y), (sx, sy)) in [((&wa, &wb), (&sa, &sb)), ((&wb, &wa), (&sb, &sa))] {
            assert_eq!(x.is_subset(y), sx.is_subset(sy), "{case}");
            assert_eq!(x.is_superset(y), sx.is_superset(sy), "{case}");
            assert_eq!(x.is_disjoint(y), sx.is_disjoint(sy), "{case}");
            assert_eq!(
                sorted(x.difference(y).collect()),
                sorted(sx.difference(sy).copied().collect()),
                "{case}"
            );
            assert_eq!(
                sorted(x.intersection(y).collect()),
                sorted(sx.intersection(sy).copied().collect()),
                "{case}"
            );
            assert_eq!(
                sorted(x.union(y).collect()),
                sorted(sx.union(sy).copied().collect()),
                "{case}"
            );
            assert_eq!(
                sorted(x.symmetric_difference(y).collect()),
                sorted(sx.symmetric_difference(sy).copied().collect()),
                "{case}"
            );
        }
        assert!(wa.is_subset(&wa) && wa.is_superset(&wa));
        assert_eq!(wa.is_disjoint(&wa), sa.is_empty());
        assert_eq!(wa.union(&wa).count(), sa.len());
    }
}

/// Steps through `iter`, which should yield `expected` items, checking
/// at every step that its size hint brackets the items still to come, and
/// that it stays fused once done.
fn check_hints<I: std::iter::FusedIterator>(mut iter: I, expected: usize, what: &str) {
    let mut left = expected;
    loop {
        let (low, high) = iter.size_hint();
        assert!(low <= left, "{what}: lower bound {low} > {left} left");
        assert!(
            high.is_none_or(|h| h >= left),
            "{what}: upper bound {high:?} < {left} left"
        );
        match iter.next() {
            Some(_) => {
                assert!(left > 0, "{what}: more than {expected} items");
                left -= 1;
            }
            None => break,
        }
    }
    assert_eq!(left, 0, "{what}: {left} items short");
    assert!(
        iter.next().is_none() && iter.next().is_none(),
        "{what}: fused"
    );
}

#[test]
fn set_relation_iterators_are_fused_and_bound_their_size() {
    for (a, b) in set_cases() {
        let (sa, sb): (StdSet<u64>, StdSet<u64>) =
            (a.iter().copied().collect(), b.iter().copied().collect());
        // The full results first, from std.
        let difference = sa.difference(&sb).count();
        let intersection = sa.intersection(&sb).count();
        let union = sa.union(&sb).count();
        let symmetric = sa.symmetric_difference(&sb).count();
        let case = format!("|a| = {}, |b| = {}", a.len(), b.len());

        let (ha, hb): (HashSet<u64>, HashSet<u64>) =
            (a.iter().copied().collect(), b.iter().copied().collect());
        let (ra, rb) = (ha.pin(), hb.pin_owned());
        check_hints(
            ra.difference(&rb),
            difference,
            &format!("difference, {case}"),
        );
        check_hints(
            ra.intersection(&rb),
            intersection,
            &format!("intersection, {case}"),
        );
        check_hints(ra.union(&rb), union, &format!("union, {case}"));
        check_hints(
            ra.symmetric_difference(&rb),
            symmetric,
            &format!("symmetric, {case}"),
        );

        let (wa, wb): (WordSet<u64>, WordSet<u64>) =
            (a.iter().copied().collect(), b.iter().copied().collect());
        check_hints(
            wa.difference(&wb),
            difference,
            &format!("word difference, {case}"),
        );
        check_hints(
            wa.intersection(&wb),
            intersection,
            &format!("word intersection, {case}"),
        );
        check_hints(wa.union(&wb), union, &format!("word union, {case}"));
        check_hints(
            wa.symmetric_difference(&wb),
            symmetric,
            &format!("word symmetric, {case}"),
        );
    }
}

/// What the docs promise of closures that use the map: writing other keys
/// from inside `update`, `compute`, `remove_if` or `update_or_insert` is
/// fine, even when those writes resize the table under the outer write;
/// `get_or_insert_with`'s closure may write its own key.
#[test]
fn closures_may_write_other_keys_and_make_may_write_its_own() {
    let map: HashMap<u64, u64> = HashMap::with_capacity(0);
    let m = map.pin();
    m.insert(0, 1);
    let mut next = 1_000;
    let mut grow = |n: u64| {
        // Enough inserts to resize the table under the outer write.
        for _ in 0..n {
            map.pin().insert(next, next);
            next += 1;
        }
    };
    assert_eq!(
        m.update(&0, |v| {
            grow(500);
            v + 1
        }),
        Some(&2)
    );
    assert_eq!(
        *m.update_or_insert(
            0,
            |v| {
                grow(500);
                v + 1
            },
            0
        ),
        3
    );
    assert_eq!(
        *m.update_or_insert_with(
            1,
            |_| unreachable!(),
            || {
                grow(500);
                10
            }
        ),
        10
    );
    assert_eq!(
        m.remove_if(&1, |_, v| {
            grow(500);
            *v == 10
        }),
        Some((&1, &10))
    );
    let got = m.get_or_insert_with(2, || {
        m.insert(2, 7);
        8
    });
    assert_eq!((got, m.get(&2)), (&7, Some(&7)));
    assert_eq!(m.len(), 2 + 2_000);

    let words: WordMap<u64, u64> = WordMap::with_capacity(0);
    words.insert(0, 1);
    let mut next = 1_000;
    let mut grow = |n: u64| {
        for _ in 0..n {
            words.insert(next, next);
            next += 1;
        }
    };
    assert_eq!(
        words.update(&0, |v| {
            grow(500);
            v + 1
        }),
        Some(2)
    );
    assert_eq!(
        words.compute(0, |v| {
            grow(500);
            lfmap::Operation::<u64, ()>::Insert(v.unwrap_or(0) + 1)
        }),
        lfmap::WordCompute::Updated { old: 2, new: 3 }
    );
    assert_eq!(
        words.remove_if(&0, |_, v| {
            grow(500);
            v == 3
        }),
        Some(3)
    );
    let got = words.get_or_insert_with(5, || {
        words.insert(5, 50);
        60
    });
    assert_eq!((got, words.get(&5)), (50, Some(50)));
    assert_eq!(words.len(), 1 + 1_500);
}

/// The borrowing iterators of `HashMap` and `HashSet` are `Clone`, as std's
/// are (with no `Clone` bound on the key, value or guard): a clone yields
/// what is left of the walk, from where it was cloned, and the original
/// goes on unaffected.
#[test]
fn borrowing_iterators_clone_from_where_they_are() {
    struct NotClone(u64);
    impl PartialEq for NotClone {
        fn eq(&self, other: &Self) -> bool {
            self.0 == other.0
        }
    }
    impl Eq for NotClone {}
    impl Hash for NotClone {
        fn hash<H: Hasher>(&self, state: &mut H) {
            self.0.hash(state);
        }
    }
    let map: HashMap<NotClone, NotClone> = HashMap::new();
    let m = map.pin();
    for k in 0..200 {
        m.insert(NotClone(k), NotClone(k * 2));
    }
    let mut iter = m.iter();
    let first: Vec<u64> = iter.by_ref().take(70).map(|(k, _)| k.0).collect();
    let rest: Vec<(u64, u64)> = iter.clone().map(|(k, v)| (k.0, v.0)).collect();
    assert_eq!(rest.len(), 130);
    assert_eq!(iter.map(|(k, v)| (k.0, v.0)).collect::<Vec<_>>(), rest);
    let all: StdSet<u64> = first
        .iter()
        .copied()
        .chain(rest.iter().map(|p| p.0))
        .collect();
    assert_eq!(all.len(), 200);

    let mut keys = m.keys();
    keys.next();
    assert_eq!(keys.clone().count(), 199);
    assert_eq!(
        keys.map(|k| k.0).sum::<u64>() + m.keys().next().unwrap().0,
        199 * 100
    );
    let values = m.values();
    assert_eq!(values.clone().map(|v| v.0).sum::<u64>(), 199 * 200);
    assert_eq!(values.count(), 200);

    let set: HashSet<u64> = (0..50).collect();
    let s = set.pin();
    let mut elements = s.iter();
    elements.next();
    let copy = elements.clone();
    assert_eq!(
        sorted(copy.copied().collect()),
        sorted(elements.copied().collect())
    );
}

/// `replace` as std's: the equal element that was there comes back (for
/// `HashSet`, the stored one, told apart here by a field equality ignores),
/// and the set then holds the new one; counted drops: each element once.
#[test]
fn set_replace_matches_std() {
    // Counters of this test alone (a key type holding an `Arc` of one would
    // be a mutable key type to clippy).
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    static MADE: AtomicUsize = AtomicUsize::new(0);
    #[derive(Debug, Clone)]
    struct Tagged(u8, u32);
    impl PartialEq for Tagged {
        fn eq(&self, other: &Self) -> bool {
            self.0 == other.0
        }
    }
    impl Eq for Tagged {}
    impl Hash for Tagged {
        fn hash<H: Hasher>(&self, state: &mut H) {
            self.0.hash(state);
        }
    }
    impl Drop for Tagged {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::Relaxed);
        }
    }
    let t = |id, tag| {
        MADE.fetch_add(1, Ordering::Relaxed);
        Tagged(id, tag)
    };
    let mut std_set = StdSet::new();
    let set = HashSet::new();
    for (i, (id, tag)) in [(1, 10), (2, 20), (1, 11), (1, 12), (3, 30), (2, 21)]
        .into_iter()
        .enumerate()
    {
        let want = std_set.replace(t(id, tag)).map(|old: Tagged| old.1);
        let s = set.pin();
        let got = s.replace(t(id, tag)).map(|old| old.1);
        assert_eq!(got, want, "replace #{i} of {id}");
        let stored = s.get(&t(id, 0)).map(|e| e.1);
        assert_eq!(stored, std_set.get(&t(id, 0)).map(|e| e.1));
    }
    assert_eq!(set.len(), std_set.len());
    drop((std_set, set));
    // Every element made (for both sets, and the probes) dropped once.
    assert_eq!(DROPS.load(Ordering::Relaxed), MADE.load(Ordering::Relaxed));

    let words = WordSet::new();
    assert_eq!(words.replace(7u16), None);
    assert_eq!(words.replace(7u16), Some(7));
    assert_eq!(sorted(words.iter().collect()), [7]);
}

/// `get_or_try_insert_with` (dashmap's `or_try_insert_with`): `make` runs
/// only for an absent key, at most once; its error leaves the map as it
/// was; its value is inserted, or, if `make` itself inserted the key,
/// dropped (once) for the present value; every value made is dropped once.
#[test]
fn get_or_try_insert_with_inserts_only_what_make_gives() {
    let census = Arc::new(Census::default());
    let map: HashMap<u64, Counted> = HashMap::new();
    let m = map.pin();
    let mut runs = 0;
    let got = m.get_or_try_insert_with(1, || {
        runs += 1;
        Ok::<_, &str>(Counted::tracked(10, &census))
    });
    assert_eq!((got.map(|v| v.n), runs), (Ok(10), 1));
    // Present: `make` does not run.
    let got = m.get_or_try_insert_with(1, || -> Result<Counted, &str> { unreachable!() });
    assert_eq!(got.map(|v| v.n), Ok(10));
    // An error: nothing inserted.
    let got = m.get_or_try_insert_with(2, || Err("no"));
    assert_eq!(got.err(), Some("no"));
    assert_eq!((m.get(&2).map(|v| v.n), m.len()), (None, 1));
    // `make` inserts the key itself, then gives a value: that value loses
    // and is dropped by the call; the one `make` inserted is returned.
    let got = m.get_or_try_insert_with(3, || {
        m.insert(3, Counted::plain(30));
        Ok::<_, &str>(Counted::tracked(31, &census))
    });
    assert_eq!(got.map(|v| v.n), Ok(30));
    assert_eq!(census.dropped(), 1);
    // `make` inserts the key, then fails: the error, the key as `make`
    // left it.
    let got = m.get_or_try_insert_with(4, || {
        m.insert(4, Counted::plain(40));
        Err("late")
    });
    assert_eq!(got.err(), Some("late"));
    assert_eq!(m.get(&4).map(|v| v.n), Some(40));
    assert_eq!(counted_entries(&map), [(1, 10), (3, 30), (4, 40)]);
    drop(m);
    drop(map);
    assert_eq!((census.made(), census.dropped()), (2, 2));

    // Threads race for keys, `make` failing for odd threads: every value
    // made is dropped once, whether it lost its race or went in (the
    // values themselves: `word_parity.rs`'s
    // `try_insert_races_store_a_made_value`, on both maps).
    const THREADS: u64 = 4;
    const KEYS: u64 = 2_000;
    let census = Arc::new(Census::default());
    let map: HashMap<u64, Counted> = HashMap::new();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (map, census) = (&map, &census);
            s.spawn(move || {
                let m = map.pin();
                for k in 0..KEYS {
                    let got = m.get_or_try_insert_with(k, || {
                        if t % 2 == 1 {
                            Err(t)
                        } else {
                            Ok(Counted::tracked(t * KEYS + k, census))
                        }
                    });
                    assert!(got.is_ok() || t % 2 == 1);
                }
            });
        }
    });
    let m = map.pin();
    assert_eq!(m.len(), KEYS as usize);
    // Every key's value went in; the others made lost and were dropped.
    assert_eq!(census.made() - census.dropped(), KEYS as usize);
    drop(m);
    drop(map);
    assert_eq!(census.dropped(), census.made());
}
