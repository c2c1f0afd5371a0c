//! `WordMap` under threads: exact counts after concurrent `add`s (no lost
//! update), concurrent claims of the same top-byte keys (the pending-claim
//! path), disjoint inserts and removes through growth and shrink, and
//! iteration during growth yielding every stable key exactly once.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::thread;

use lfmap::WordMap;

const THREADS: u64 = 4;

#[test]
fn concurrent_adds_lose_nothing() {
    // Hot keys are shared by every thread; cold keys make the table grow
    // (several resizes) under the adds.
    let map: WordMap<u64, u64> = WordMap::new();
    let rounds = 64 * 300u64; // a multiple of both hot-key counts
    let barrier = Barrier::new(THREADS as usize);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (map, barrier) = (&map, &barrier);
            s.spawn(move || {
                barrier.wait();
                for i in 0..rounds {
                    map.add(&(i % 64), 1);
                    map.add(&(1 << 40 | (t * rounds + i)), 2);
                    map.add(&(0xfe << 56 | (i % 16)), 3);
                }
            });
        }
    });
    for k in 0..64 {
        assert_eq!(map.get(&k), Some(THREADS * rounds / 64), "hot key {k}");
    }
    for k in 0..16u64 {
        assert_eq!(map.get(&(0xfe << 56 | k)), Some(3 * THREADS * rounds / 16));
    }
    for c in 0..THREADS * rounds {
        assert_eq!(map.get(&(1 << 40 | c)), Some(2));
    }
    assert_eq!(map.len() as u64, 64 + 16 + THREADS * rounds);
    assert!(map.stats().resizes > 5);
}

#[test]
fn same_key_claims_race_to_one_slot() {
    // Every thread inserts the same keys with its own value, half of them
    // with a top byte (claimed pending, completed by whoever comes first).
    for round in 0..20u64 {
        let map: WordMap<u64, u64> = WordMap::new();
        let barrier = Barrier::new(THREADS as usize);
        let keys: Vec<u64> = (0..2000u64)
            .map(|i| {
                if i % 2 == 0 {
                    i << 8
                } else {
                    (i | round << 60) ^ (0x7f << 56)
                }
            })
            .collect();
        let won: Vec<Vec<u64>> = thread::scope(|s| {
            let hs: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (map, barrier, keys) = (&map, &barrier, &keys);
                    s.spawn(move || {
                        barrier.wait();
                        keys.iter()
                            .filter(|&&k| map.get_or_insert(k, t) == t)
                            .copied()
                            .collect()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        // Each key was won by exactly one thread, whose value it holds.
        let mut total = 0;
        for (t, keys) in won.iter().enumerate() {
            for k in keys {
                assert_eq!(map.get(k), Some(t as u64));
            }
            total += keys.len();
        }
        assert_eq!(total, keys.len());
        assert_eq!(map.len(), keys.len());
        assert_eq!(map.iter().count(), keys.len());
    }
}

#[test]
fn disjoint_writers_through_grow_and_shrink() {
    let map: WordMap<u64, u64> = WordMap::new();
    let n = 30_000u64;
    thread::scope(|s| {
        for t in 0..THREADS {
            let map = &map;
            s.spawn(move || {
                let key = |i: u64| (t << 60) | i;
                for i in 0..n {
                    assert_eq!(map.insert(key(i), i), None);
                }
                for i in 0..n {
                    assert_eq!(map.get(&key(i)), Some(i));
                }
                for i in (0..n).filter(|i| i % 10 != 0) {
                    assert_eq!(map.remove(&key(i)), Some(i));
                }
            });
        }
    });
    assert_eq!(map.len() as u64, THREADS * n / 10);
    let seen: HashSet<u64> = map.iter().map(|(k, _)| k).collect();
    assert_eq!(seen.len() as u64, THREADS * n / 10);
    // Peak 120,000 keys needed 262,144 slots; 12,000 left need 32,768 or 65,536.
    assert!(
        map.stats().slots <= 65_536,
        "did not shrink: {:?}",
        map.stats()
    );
}

#[test]
fn iteration_during_growth_yields_stable_keys_once() {
    let map: WordMap<u64, u64> = WordMap::new();
    let stable = 5_000u64;
    for k in 0..stable {
        map.insert(k, k);
    }
    let stop = AtomicBool::new(false);
    // The reader walks until the churn has forced this many resizes (and at
    // least 50 times), so every run overlaps iteration with resizes however
    // the two threads happen to be scheduled.
    let resizes_wanted = map.stats().resizes + 20;
    thread::scope(|s| {
        let (map, stop) = (&map, &stop);
        s.spawn(move || {
            // Churn over a window of 20,000 keys, about half present at a
            // time: tombstones pile up and force rebuilds, and the live count
            // swings enough to grow and shrink, while the reader walks.
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                map.insert(1 << 32 | (i % 20_000), i);
                map.remove(&(1 << 32 | ((i * 7 + 10_000) % 20_000)));
                i += 1;
            }
        });
        let mut passes = 0u64;
        while passes < 50 || map.stats().resizes < resizes_wanted {
            let mut seen = HashSet::new();
            for (k, v) in map.iter() {
                assert!(seen.insert(k), "key {k:#x} yielded twice");
                if k < stable {
                    assert_eq!(v, k);
                }
            }
            for k in 0..stable {
                assert!(seen.contains(&k), "stable key {k} missed");
            }
            passes += 1;
            // The churn resizes every few thousand operations; a million
            // passes without 20 resizes means resizing has stopped.
            assert!(
                passes < 1_000_000,
                "churn stopped resizing: {:?}",
                map.stats()
            );
        }
        stop.store(true, Ordering::Relaxed);
    });
}

#[test]
fn compare_exchange_counts_exactly() {
    // A CAS-increment loop on one key from every thread: every success is
    // one increment, none lost, none doubled.
    let map: WordMap<u8, u64> = WordMap::new();
    map.insert(0, 0);
    let per = 5_000u64;
    thread::scope(|s| {
        for _ in 0..THREADS {
            let map = &map;
            s.spawn(move || {
                for _ in 0..per {
                    let mut cur = map.get(&0).unwrap();
                    while let Err(seen) = map.compare_exchange(&0, cur, cur + 1) {
                        cur = seen.unwrap();
                    }
                }
            });
        }
    });
    assert_eq!(map.get(&0), Some(THREADS * per));
}

#[test]
fn readers_survive_table_retirement_and_tables_are_freed() {
    // Readers check every value while a writer grows and shrinks the map
    // over and over: each resize retires a table some reader may be walking.
    // A table freed too early shows up as a wrong or missing value here (and
    // as a use-after-free under the fuzz target's AddressSanitizer build).
    // Afterwards, with nobody pinned, every retired table must be freed.
    let map: WordMap<u64, u64> = WordMap::new();
    let stable = 2_000u64;
    for k in 0..stable {
        map.insert(k, !k);
    }
    let rounds = 40u64;
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        let (map, done) = (&map, &done);
        for r in 0..THREADS - 1 {
            s.spawn(move || {
                let mut k = r;
                while !done.load(Ordering::Relaxed) {
                    k = (k + 7) % stable;
                    assert_eq!(map.get(&k), Some(!k), "stable key {k}");
                }
            });
        }
        for round in 0..rounds {
            let base = 1 << 40 | round << 20;
            for i in 0..20_000 {
                map.insert(base | i, i);
            }
            for i in 0..20_000 {
                assert_eq!(map.remove(&(base | i)), Some(i));
            }
        }
        done.store(true, Ordering::Relaxed);
    });
    let stats = map.stats();
    assert!(stats.resizes >= 2 * rounds, "{stats:?}");
    // While the threads ran, a reader descheduled inside an operation held
    // every table retired meanwhile (epochs promise no bound there). Now
    // nobody is pinned: the retiring unpin or every 64th unpin of a thread
    // scans. Announcements are process-wide, so a pin of another test's map
    // may hold ours for a moment too: allow it a deadline.
    let start = std::time::Instant::now();
    while map.stats().pending_garbage > 0 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "retired tables never freed: {:?}",
            map.stats()
        );
        for k in 0..64 {
            assert_eq!(map.get(&k), Some(!k));
        }
        thread::yield_now();
    }
    assert_eq!(map.len() as u64, stable);
}
