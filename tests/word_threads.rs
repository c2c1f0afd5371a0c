//! `WordMap`-only scenarios under threads: `compare_exchange` on a `u8`
//! key counting exactly, and readers surviving table retirement with every
//! retired table freed afterwards (`WordMap`'s epochs are process-wide: a
//! pin in another test's map may delay the freeing that test waits for, so
//! it stays in this small binary).
//!
//! The scenarios both maps share (concurrent `add`s losing nothing,
//! concurrent claims of the same top-byte keys, disjoint writers through
//! growth and shrink, iteration during growth yielding every stable key
//! once, and more) run on `WordMap` too, from `threads.rs`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use lfmap::WordMap;

mod common;
use common::StopOnDrop;

const THREADS: u64 = 4;

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
        // Stops the readers however the writes end: a failed check would
        // otherwise leave the scope waiting for them forever.
        let _stop = StopOnDrop(done);
        for round in 0..rounds {
            let base = 1 << 40 | round << 20;
            for i in 0..20_000 {
                map.insert(base | i, i);
            }
            for i in 0..20_000 {
                assert_eq!(map.remove(&(base | i)), Some(i));
            }
        }
    });
    let stats = map.stats();
    assert!(stats.resizes >= 2 * rounds, "{stats:?}");
    // While the threads ran, a reader descheduled inside an operation held
    // every table retired meanwhile (epochs promise no bound there). Now
    // nobody is pinned: the retiring unpin or a pacing tick (every 61st
    // unpin of a thread) scans. Announcements are process-wide, so a pin of another test's map
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
