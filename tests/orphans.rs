//! Bags left behind: values retired by parties that are gone (threads that
//! exited, owned guards that dropped) are freed while the map is in use,
//! not kept until the map's drop, also when no later party takes their
//! records (the default backend's sweep: `src/reclaim/asymmetric/orphans.rs`).
//!
//! Claims take the lowest free record, so after a spike of parties the
//! records above the later peak may never be claimed again. Before the
//! sweep, each kept its bag in every map (up to 63 values): an outside test
//! left 32,059 values unfreed after 1,000 owned handles.
//!
//! And a party that holds a record whose last holder left values there,
//! but only reads the map, hands them over at its pacing ticks.
//!
//! The tests take turns ([`one_at_a_time`]): a record that another
//! test's thread keeps as its spare for owned handles (a thread keeps one)
//! keeps its bags in maps that thread does not use until it exits, which
//! would hold back what these tests wait for.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::thread;
use std::time::Duration;

use lfmap::HashMap;

mod common;
use common::UnwindBarrier;

/// Parties in each spike.
const SPIKE: usize = 500;

/// Values each party writes to its own key: 19 replaced values per party,
/// fewer than a batch (64), so each leaves them all in its bag.
const WRITES: usize = 20;

/// Keeps this file's tests apart (module docs).
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A value that counts its drops.
struct Counted(&'static AtomicUsize);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Relaxed);
    }
}

/// Uses `map` as a reader would (pins only) until `drops` reaches `want`,
/// or ten seconds of rounds have passed; returns the last count. Each
/// round pins 128 times (a thread's pacing tick comes every 61st unpin)
/// and sleeps a millisecond (the pacing of epoch bumps).
fn read_until(map: &HashMap<u64, Counted>, drops: &AtomicUsize, want: usize) -> usize {
    for round in 0..10_000 {
        if drops.load(Relaxed) >= want {
            // For the record (docs/benchmarks.md): how long it took.
            eprintln!("{want} values freed after {round} rounds of 128 pins");
            break;
        }
        for _ in 0..128 {
            drop(map.pin());
        }
        thread::sleep(Duration::from_millis(1));
    }
    drops.load(Relaxed)
}

#[test]
fn bags_of_parties_that_are_gone_are_freed_while_the_map_is_used() {
    // With another backend (a feature) there are no per-record bags.
    if cfg!(any(feature = "seize", feature = "crossbeam-epoch")) {
        return;
    }
    let _alone = one_at_a_time();
    static THREAD_DROPS: AtomicUsize = AtomicUsize::new(0);
    static OWNED_DROPS: AtomicUsize = AtomicUsize::new(0);
    let map: HashMap<u64, Counted> = HashMap::new();
    // This thread's own record first, so that the spikes' records are
    // others.
    map.pin().insert(u64::MAX, Counted(&THREAD_DROPS));

    // A spike of threads, alive at once, each replacing its key's value.
    let barrier = UnwindBarrier::new(SPIKE);
    thread::scope(|s| {
        for t in 0..SPIKE as u64 {
            let (map, barrier) = (&map, &barrier);
            s.spawn(move || {
                let barrier = barrier.enter();
                for _ in 0..WRITES {
                    map.pin().insert(t, Counted(&THREAD_DROPS));
                }
                // All alive at once: each on a record of its own.
                barrier.wait();
            });
        }
    });
    let retired = SPIKE * (WRITES - 1);
    let freed = read_until(&map, &THREAD_DROPS, retired);
    assert!(
        freed >= retired,
        "{} of the {retired} values replaced by {SPIKE} exited threads are still unfreed \
         ({:?})",
        retired - freed,
        map.stats()
    );

    // A spike of owned guards on this thread, dropped in order. The thread
    // keeps one record as its spare (for its next owned guard): its bag,
    // up to `WRITES - 1` values, waits for that guard.
    let guards: Vec<_> = (0..SPIKE).map(|_| map.pin_owned()).collect();
    for (g, guard) in guards.iter().enumerate() {
        for _ in 0..WRITES {
            guard.insert(1_000_000 + g as u64, Counted(&OWNED_DROPS));
        }
    }
    drop(guards);
    let retired = SPIKE * (WRITES - 1);
    let want = retired - (WRITES - 1);
    let freed = read_until(&map, &OWNED_DROPS, want);
    assert!(
        freed >= want,
        "{} of the {retired} values replaced through {SPIKE} dropped owned guards are still \
         unfreed ({:?})",
        retired - freed,
        map.stats()
    );
    // The spare's bag is handed over by the next owned guard's writes.
    drop(map);
    assert_eq!(OWNED_DROPS.load(Relaxed), SPIKE * WRITES);
    assert_eq!(THREAD_DROPS.load(Relaxed), SPIKE * WRITES + 1);
}

/// A party that only reads a map and holds a record whose previous holder
/// left values in its bag there (claims take the lowest free record, so a
/// reader that starts after a writer exits takes the writer's) hands them
/// over at its pacing ticks: the sweep of bags left behind cannot take a
/// record in use, and before, a reader never retired, so never sealed
/// them (found by an outside test: 19 of 19 values unfreed after 30 s of
/// reads). Thread-bound readers, and owned handles that only read (the
/// thread keeps their record as its spare).
#[test]
fn a_reader_hands_over_what_its_records_last_holder_left() {
    if cfg!(any(feature = "seize", feature = "crossbeam-epoch")) {
        return;
    }
    let _alone = one_at_a_time();
    for owned in [false, true] {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        DROPS.store(0, Relaxed);
        let map: HashMap<u64, Counted> = HashMap::new();
        thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..WRITES {
                    map.pin().insert(1, Counted(&DROPS));
                }
            });
        });
        // A fresh thread, likely on the writer's record, only reads.
        let freed = thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..10_000 {
                    if DROPS.load(Relaxed) >= WRITES - 1 {
                        break;
                    }
                    for _ in 0..128 {
                        if owned {
                            assert!(map.pin_owned().get(&1).is_some());
                        } else {
                            assert!(map.pin().get(&1).is_some());
                        }
                    }
                    thread::sleep(Duration::from_millis(1));
                }
                DROPS.load(Relaxed)
            })
            .join()
            .expect("the reader")
        });
        assert_eq!(
            freed,
            WRITES - 1,
            "a reader (owned handles: {owned}) kept what an exited writer left ({:?})",
            map.stats()
        );
    }
}
