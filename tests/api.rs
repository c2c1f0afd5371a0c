//! The read-modify-write and owning APIs: `compute`, `try_insert`,
//! `remove_if` and by-value iteration, alone and under threads. (`compute`
//! increments under threads: `threads.rs`, `concurrent_adds_lose_nothing`,
//! where the kit's `add` is `compute` on a `HashMap`.)

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::thread;

use lfmap::{Compute, HashMap, Operation};

mod common;
use common::{Ledger, Tracked};

#[test]
fn compute_covers_every_outcome() {
    let map = HashMap::with_capacity(0);
    let m = map.pin();
    assert_eq!(
        m.compute(1u64, |e| if e.is_none() {
            Operation::Remove
        } else {
            Operation::<u64, ()>::Insert(0)
        }),
        Compute::Absent
    );
    assert_eq!(
        m.compute(1, |_| Operation::<u64, ()>::Insert(10)),
        Compute::Inserted(&10)
    );
    assert_eq!(
        m.compute(1, |e| Operation::<u64, ()>::Insert(e.unwrap().1 + 1)),
        Compute::Updated { old: &10, new: &11 }
    );
    assert_eq!(
        m.compute(1, |e| Operation::<u64, &str>::Abort(if e.is_some() {
            "present"
        } else {
            "absent"
        })),
        Compute::Aborted("present")
    );
    assert_eq!(m.get(&1), Some(&11));
    assert_eq!(
        m.compute(1, |_| Operation::<u64, ()>::Remove),
        Compute::Removed(&11)
    );
    assert_eq!(m.get(&1), None);
    assert_eq!(map.len(), 0);
}

/// `try_insert` under racing threads: exactly one `Ok` per key. The
/// threads start together and walk the keys in the same order, over
/// several rounds, so that they contend for the same keys.
#[test]
fn try_insert_has_one_winner_per_key() {
    for _round in 0..20 {
        let map = HashMap::with_capacity(0);
        let wins = AtomicUsize::new(0);
        let start = std::sync::Barrier::new(4);
        thread::scope(|s| {
            for t in 0..4u64 {
                let (map, wins, start) = (&map, &wins, &start);
                s.spawn(move || {
                    start.wait();
                    for k in 0..2_000u64 {
                        match map.pin().try_insert(k, t) {
                            Ok(&v) => {
                                assert_eq!(v, t);
                                wins.fetch_add(1, SeqCst);
                            }
                            Err(e) => {
                                assert_eq!(e.not_inserted, t);
                                assert!(*e.current < 4);
                            }
                        }
                    }
                });
            }
        });
        assert_eq!(wins.load(SeqCst), 2_000);
        assert_eq!(map.len(), 2_000);
    }
}

#[test]
fn into_iter_yields_every_entry_once_even_mid_resize() {
    for n in [0u64, 1, 13, 1_000, 50_000] {
        let map = HashMap::with_capacity(0);
        {
            let m = map.pin();
            for i in 0..n {
                m.insert(i, i * 3);
            }
            for i in (0..n).step_by(3) {
                m.remove(&i);
            }
        }
        let mut got: Vec<(u64, u64)> = map.into_iter().collect();
        got.sort_unstable();
        let want: Vec<(u64, u64)> = (0..n).filter(|i| i % 3 != 0).map(|i| (i, i * 3)).collect();
        assert_eq!(got, want, "n = {n}");
    }
}

/// The consuming iterators know their length exactly (so `collect`
/// sizes its target once) and count down as they go; every iterator is
/// fused and bounds its size hint by the slots it has left.
#[test]
fn iterators_report_their_lengths_and_stay_finished() {
    use std::iter::FusedIterator;
    fn fused<I: FusedIterator>(_: &I) {}
    let map: HashMap<u64, u64> = (0..1_000u64).map(|i| (i, i)).collect();
    {
        let m = map.pin();
        for i in (0..1_000u64).step_by(4) {
            m.remove(&i);
        }
        let mut iter = m.iter();
        fused(&iter);
        let (low, high) = iter.size_hint();
        assert_eq!(low, 0);
        assert!(high.is_some_and(|h| h >= 750), "{high:?}");
        assert_eq!(iter.by_ref().count(), 750);
        assert_eq!(iter.size_hint(), (0, Some(0)));
        assert!(iter.next().is_none());
    }
    let mut into = map.into_iter();
    assert_eq!(into.len(), 750);
    into.next();
    assert_eq!(into.len(), 749);
    assert_eq!(into.by_ref().count(), 749);
    assert_eq!((into.len(), into.next()), (0, None));

    let set: lfmap::HashSet<u64> = (0..100u64).collect();
    let into = set.into_iter();
    assert_eq!(into.len(), 100);
    assert_eq!(into.count(), 100);

    let words: lfmap::WordMap<u64, u64> = (0..100u64).map(|i| (i, i)).collect();
    let mut iter = words.iter();
    fused(&iter);
    assert!(iter.size_hint().1.is_some_and(|h| h >= 100));
    assert_eq!(iter.by_ref().count(), 100);
    assert_eq!((iter.size_hint(), iter.next()), ((0, Some(0)), None));
}

#[test]
fn into_iter_partly_consumed_drops_the_rest_once() {
    let values = Ledger::new();
    let map = HashMap::with_capacity(0);
    {
        let m = map.pin();
        for i in 0..10_000u64 {
            m.insert(i, Tracked::new(&values, i));
        }
        for i in 0..2_000u64 {
            m.remove(&i);
        }
    }
    let mut iter = map.into_iter();
    let taken: Vec<_> = iter.by_ref().take(100).collect();
    assert_eq!(taken.len(), 100);
    drop(taken);
    drop(iter);
    assert_eq!(values.dropped(), 10_000);
    values.assert_balanced("into_iter");
}

#[test]
fn remove_if_and_try_insert_single_thread() {
    let map = HashMap::new();
    let m = map.pin();
    assert!(m.try_insert("a", 1).is_ok());
    let err = m.try_insert("a", 2).unwrap_err();
    assert_eq!(*err.current, 1);
    assert_eq!(err.to_string(), "key already present with value 1");
    assert_eq!(m.remove_if("a", |_, v| *v == 2), None);
    assert_eq!(m.remove_if("a", |_, v| *v == 1), Some((&"a", &1)));
    assert!(m.is_empty());
}

#[test]
fn metrics_count_a_known_sequence_exactly() {
    let map = HashMap::with_capacity(0); // 16 slots: resizes past 12 claimed slots
    let m = map.pin();
    for k in 0..12u64 {
        assert_eq!(m.insert(k, k), None);
    }
    m.insert(0, 100); // a replacement: not an insert
    m.update(&1, |v| v + 1); // nor is an update
    m.get_or_insert(2, 0); // present: nothing
    m.remove(&3);
    m.remove(&3); // absent: not a remove
    m.insert(3, 3); // a re-insert counts
    let s = map.stats();
    assert_eq!((s.inserts, s.removes, s.len), (13, 1, 12), "{s:?}");
    assert_eq!(
        (s.resizes, s.resizes_finished, s.generation),
        (0, 0, 0),
        "{s:?}"
    );
    // The 13th claimed slot of 16 starts a resize; each write after it
    // migrates one 8-slot sub-chunk (`resize/cursor.rs`), so the next two
    // migrate the whole 16-slot table, and the second promotes.
    m.insert(100, 0);
    let s = map.stats();
    assert_eq!(
        (s.resizes, s.resizes_finished, s.generation),
        (1, 0, 0),
        "{s:?}"
    );
    m.insert(101, 0);
    let s = map.stats();
    assert_eq!(
        (s.resizes, s.resizes_finished, s.generation, s.chunks_helped),
        (1, 0, 0, 1),
        "{s:?}"
    );
    m.insert(102, 0);
    let s = map.stats();
    assert_eq!(
        (s.resizes, s.resizes_finished, s.generation, s.chunks_helped),
        (1, 1, 1, 2),
        "{s:?}"
    );
    assert_eq!(
        (s.inserts, s.removes, s.len, s.tombstones),
        (16, 1, 15, 0),
        "{s:?}"
    );
    assert_eq!(
        m.compute(7, |_| Operation::<u64, ()>::Remove),
        Compute::Removed(&7)
    );
    assert_eq!(map.stats().removes, 2);
}

/// An insert-if-absent of a present key (get-or-insert, try-insert, a
/// set's insert) is a lookup alone: during a migration it helps with none
/// of it (a write would take a sub-chunk), and nothing is written.
/// `HashMap`, `HashSet` and `WordMap`, each such call.
#[test]
fn insert_if_absent_of_a_present_key_writes_nothing_and_helps_no_migration() {
    let map = HashMap::with_capacity(0);
    let m = map.pin();
    let set = lfmap::HashSet::with_capacity(0);
    let s = set.pin();
    let word = lfmap::WordMap::<u64, u64>::with_capacity(0);
    let mut k = 0u64;
    // Grow until each has a resize under way, with sub-chunks left.
    let open = |st: lfmap::Stats| st.slots >= 256 && st.resizes > st.resizes_finished;
    while !(open(map.stats()) && open(set.stats()) && open(word.stats())) {
        if !open(map.stats()) {
            m.insert(k, k);
        }
        if !open(set.stats()) {
            s.insert(k);
        }
        if !open(word.stats()) {
            word.insert(k, k);
        }
        k += 1;
        assert!(k < 100_000, "no resize left under way");
    }
    let (before, set_before, word_before) = (map.stats(), set.stats(), word.stats());
    for key in 0..k {
        if let Some(&v) = m.get(&key) {
            assert_eq!(m.get_or_insert(key, u64::MAX), &v);
            assert_eq!(m.get_or_insert_with(key, || unreachable!()), &v);
            let ok = m.get_or_try_insert_with(key, || Err::<u64, ()>(()));
            assert_eq!(ok, Ok(&v));
            let err = m.try_insert(key, u64::MAX).unwrap_err();
            assert_eq!((err.current, err.not_inserted), (&v, u64::MAX));
            assert_eq!(m.try_insert_with(key, || unreachable!()), Err(&v));
        }
        if s.contains(&key) {
            assert_eq!(s.get_or_insert(key), &key);
            assert_eq!(s.get_or_insert_with(&key, |_| unreachable!()), &key);
            assert!(!s.insert(key));
        }
        if let Some(v) = word.get(&key) {
            assert_eq!(word.get_or_insert(key, u64::MAX), v);
            assert_eq!(word.get_or_insert_with(key, || unreachable!()), v);
            let ok = word.get_or_try_insert_with(key, || Err::<u64, ()>(()));
            assert_eq!(ok, Ok(v));
            assert_eq!(word.try_insert(key, u64::MAX), Err(v));
        }
    }
    let after = [map.stats(), set.stats(), word.stats()];
    let moved = |st: &lfmap::Stats| (st.chunks_helped, st.resizes_finished, st.inserts, st.len);
    for (b, a) in [before, set_before, word_before].iter().zip(&after) {
        assert_eq!(moved(b), moved(a), "{a:?}");
    }
    // The same calls for an absent key write, and help.
    m.get_or_insert(k, k);
    s.get_or_insert(k);
    word.get_or_insert(k, k);
    let helped = [map.stats(), set.stats(), word.stats()].map(|st| st.chunks_helped);
    assert!(helped[0] > before.chunks_helped);
    assert!(helped[1] > set_before.chunks_helped);
    assert!(helped[2] > word_before.chunks_helped);
}

/// Iterators print what they have left to yield, as std's do (a port of
/// hashbrown's `test_iter_debug_format` found their internal state
/// printed instead).
#[test]
fn iterators_debug_as_their_rest() {
    let map = lfmap::HashMap::new();
    let m = map.pin();
    m.insert(1, 2);
    assert_eq!(format!("{:?}", m.iter()), "[(1, 2)]");
    assert_eq!(format!("{:?}", m.keys()), "[1]");
    assert_eq!(format!("{:?}", m.values()), "[2]");
    let mut iter = m.iter();
    assert!(iter.next().is_some());
    assert_eq!(format!("{iter:?}"), "[]");
    assert!(iter.next().is_none(), "printing consumed nothing");
    let set = lfmap::HashSet::new();
    let s = set.pin();
    s.insert("a");
    assert_eq!(format!("{:?}", s.iter()), r#"["a"]"#);
}

/// The owning, draining and exclusive iterators print what they have
/// left, as std's do, after yielding part of it: `HashMap`'s, `WordMap`'s
/// and the sets'. (They printed a slot index before.)
#[test]
fn owning_and_exclusive_iterators_debug_as_their_rest() {
    fn two() -> lfmap::HashMap<u8, char> {
        lfmap::HashMap::from([(1, 'a'), (2, 'b')])
    }
    /// Yields one item, then checks the printed rest is the other one.
    fn check<I: Iterator + std::fmt::Debug>(mut iter: I, rest: impl Fn(&I::Item) -> String)
    where
        I::Item: std::fmt::Debug,
    {
        let whole = format!("{iter:?}");
        let first = iter.next().expect("two items");
        let printed = format!("{iter:?}");
        assert_eq!(printed, rest(&first), "after {first:?} (whole: {whole})");
        assert!(whole.contains(&printed[1..printed.len() - 1]), "{whole}");
        let last = iter.next().expect("the second item");
        assert_ne!(format!("{first:?}"), format!("{last:?}"));
        assert_eq!(format!("{iter:?}"), "[]", "printing consumed nothing");
        assert!(iter.next().is_none());
    }
    let other = |k: u8| if k == 1 { (2, 'b') } else { (1, 'a') };
    check(two().into_iter(), |&(k, _)| format!("[{:?}]", other(k)));
    check(two().into_keys(), |&k| format!("[{}]", other(k).0));
    check(two().into_values(), |&v| {
        format!("[{:?}]", if v == 'a' { 'b' } else { 'a' })
    });
    let mut map = two();
    check(map.drain(), |&(k, _)| format!("[{:?}]", other(k)));
    let mut map = two();
    check(map.iter_mut(), |(k, _)| {
        let (k, v) = other(**k);
        format!("[({k}, {v:?})]")
    });
    check(map.values_mut(), |v| {
        format!("[{:?}]", if **v == 'a' { 'b' } else { 'a' })
    });
    check(map.pin_owned().into_iter(), |&(k, _)| {
        format!("[{:?}]", other(k))
    });

    let words = || lfmap::WordMap::<u8, u8>::from([(1, 10), (2, 20)]);
    let other = |k: u8| if k == 1 { (2u8, 20u8) } else { (1, 10) };
    check(words().into_iter(), |&(k, _)| format!("[{:?}]", other(k)));
    check(words().into_keys(), |&k| format!("[{}]", other(k).0));
    check(words().into_values(), |&v| format!("[{}]", 30 - v));
    let mut w = words();
    check(w.drain(), |&(k, _)| format!("[{:?}]", other(k)));
    let w = words();
    check(w.iter(), |&(k, _)| format!("[{:?}]", other(k)));
    check(w.keys(), |&k| format!("[{}]", other(k).0));
    check(w.values(), |&v| format!("[{}]", 30 - v));

    let set = || lfmap::HashSet::from([1u8, 2]);
    check(set().into_iter(), |&x| format!("[{}]", 3 - x));
    let mut s = set();
    check(s.drain(), |&x| format!("[{}]", 3 - x));
    check(set().pin_owned().into_iter(), |&x| format!("[{}]", 3 - x));
    let wset = || lfmap::WordSet::from([1u8, 2]);
    check(wset().into_iter(), |&x| format!("[{}]", 3 - x));
    let mut ws = wset();
    check(ws.drain(), |&x| format!("[{}]", 3 - x));
    check(wset().iter(), |&x| format!("[{}]", 3 - x));
}

/// The same over 300 items, several groups of slots of the walk: after
/// a few items are yielded, what an iterator prints is exactly what it
/// goes on to yield, in order (an exact oracle for every owning, draining
/// and exclusive iterator).
#[test]
fn iterators_print_exactly_what_they_go_on_to_yield() {
    fn check<I: Iterator + std::fmt::Debug>(mut iter: I)
    where
        I::Item: std::fmt::Debug,
    {
        for _ in 0..7 {
            iter.next().expect("300 items");
        }
        let printed = format!("{iter:?}");
        let rest: Vec<I::Item> = iter.collect();
        assert_eq!(rest.len(), 293);
        assert_eq!(printed, format!("{rest:?}"));
    }
    let map = || {
        (0..300u32)
            .map(|i| (i, i * 3))
            .collect::<lfmap::HashMap<_, _>>()
    };
    check(map().into_iter());
    check(map().into_keys());
    check(map().into_values());
    check(map().drain());
    check(map().iter_mut());
    check(map().values_mut());
    check(map().pin_owned().into_iter());
    let words = || {
        (0..300u32)
            .map(|i| (i, i * 3))
            .collect::<lfmap::WordMap<_, _>>()
    };
    check(words().into_iter());
    check(words().into_keys());
    check(words().into_values());
    check(words().drain());
    let w = words();
    check(w.iter());
    check(w.keys());
    check(w.values());
    let set = || (0..300u32).collect::<lfmap::HashSet<_>>();
    check(set().into_iter());
    check(set().drain());
    check(set().pin_owned().into_iter());
    let wset = || (0..300u32).collect::<lfmap::WordSet<_>>();
    check(wset().into_iter());
    check(wset().drain());
    check(wset().iter());
}

/// `m[&key]` as std's `map[&key]`: the value, or a panic for an absent key.
#[test]
fn index_by_key() {
    let map: HashMap<String, u32> = HashMap::new();
    let m = map.pin();
    m.insert("a".to_string(), 1);
    assert_eq!(m["a"], 1);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m["b"]));
    assert!(r.is_err(), "an absent key indexed");
}

/// A composite key, looked up by borrowed parts through `Equivalent`.
#[derive(Hash, PartialEq, Eq, Clone, Debug)]
struct Route {
    host: String,
    path: String,
}

/// Hashes as `Route` does (field by field).
#[derive(Hash)]
struct RouteRef<'a>(&'a str, &'a str);

impl lfmap::Equivalent<Route> for RouteRef<'_> {
    fn equivalent(&self, key: &Route) -> bool {
        self.0 == key.host && self.1 == key.path
    }
}

fn route(host: &str, path: &str) -> Route {
    Route {
        host: host.into(),
        path: path.into(),
    }
}

/// Every method that takes a borrowed key takes an `Equivalent` one, on
/// both sides of a resize: the lookups find the key, the writes change
/// it, and keys that differ in one part stay apart.
#[test]
fn lookups_take_equivalent_keys() {
    let mut map = HashMap::new();
    {
        let m = map.pin();
        // Enough keys to resize several times while they go in.
        for i in 0..2_000u64 {
            m.insert(route(&format!("h{}", i % 40), &format!("/{i}")), i);
        }
        let (h, p) = ("h7".to_string(), "/7".to_string());
        let q = RouteRef(&h, &p);
        assert_eq!(m.get(&q), Some(&7));
        assert!(m.contains_key(&q));
        assert_eq!(m.get_key_value(&q), Some((&route("h7", "/7"), &7)));
        assert_eq!(m[&q], 7);
        assert!(m.get(&RouteRef("h8", "/7")).is_none());
        assert_eq!(m.update(&q, |v| v + 1), Some(&8));
        assert_eq!(m.remove_if(&q, |_, v| *v == 0), None);
        assert_eq!(
            m.remove_if(&q, |_, v| *v == 8),
            Some((&route("h7", "/7"), &8))
        );
        assert_eq!(m.remove(&RouteRef("h9", "/9")), Some(&9));
        assert_eq!(
            m.remove_entry(&RouteRef("h10", "/10")),
            Some((&route("h10", "/10"), &10))
        );
        assert_eq!(m.remove(&RouteRef("h9", "/9")), None);
        assert_eq!(m.len(), 1_997);
    }
    *map.get_mut(&RouteRef("h11", "/11")).unwrap() += 100;
    assert_eq!(map.pin().get(&RouteRef("h11", "/11")), Some(&111));

    let set = lfmap::HashSet::new();
    let s = set.pin();
    s.insert(route("a", "/"));
    assert!(s.contains(&RouteRef("a", "/")));
    assert_eq!(s.get(&RouteRef("a", "/")), Some(&route("a", "/")));
    assert_eq!(s.take(&RouteRef("a", "/")), Some(&route("a", "/")));
    assert!(!s.remove(&RouteRef("a", "/")));
    assert!(s.is_empty());
}
