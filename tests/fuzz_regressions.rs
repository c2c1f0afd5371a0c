//! Regression tests for findings of the fuzz targets (`fuzz/`,
//! docs/verification.md, "Findings"). Each test says which target found
//! what, and fails on the code before the fix.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use lfmap::{HashMap, Operation};

mod common;
use common::{Shape, ShapedHash, StopOnDrop};

/// Eight distinct hashes, spread over the whole range: keys pile up on
/// few probe sequences, so threads writing different keys race for the
/// same empty slots.
fn few_hashes() -> ShapedHash {
    ShapedHash(Shape::Spread(8))
}

/// How long each test races: long enough that the old code failed every
/// run here (2 cores), short enough for CI.
const RACE: Duration = Duration::from_millis(700);

/// Churn rounds the race must also see, however long they take: on a
/// loaded machine the churning thread may barely run in [`RACE`], and the
/// race would then test nothing (found by review). Tens of thousands run
/// in `RACE` here.
const MIN_CHURN: u64 = 20_000;

/// Whether the race started at `start` goes on: for [`RACE`], and until
/// the churn has made [`MIN_CHURN`] rounds (or a minute has passed: a
/// liveness bound).
fn racing(start: Instant, churned: &AtomicU64) -> bool {
    let elapsed = start.elapsed();
    elapsed < RACE
        || (churned.load(Ordering::Relaxed) < MIN_CHURN && elapsed < Duration::from_secs(60))
}

/// Inserts and removes keys disjoint from `0..own` until `done`: the map
/// keeps claiming slots next to the own keys' and keeps rebuilding (full of
/// tombstones) or growing, so slots freeze under the other thread's feet.
/// Counts its rounds in `churned`.
fn churn(
    map: &HashMap<u64, u64, ShapedHash>,
    barrier: &Barrier,
    done: &AtomicBool,
    churned: &AtomicU64,
) {
    barrier.wait();
    let mut k = 1_000_000u64;
    while !done.load(Ordering::Relaxed) {
        let m = map.pin();
        m.insert(k, k);
        m.remove(&(k - 40));
        k += 1;
        churned.fetch_add(1, Ordering::Relaxed);
    }
}

/// `concurrent` found (crash-a675e024...): "compute on own key ran 3 times".
/// A thread computing on a key no other thread touches saw its closure run
/// several times, although the docs promise a re-run only when another
/// thread changed the key. The write engine called its `decide` function
/// again after every failed CAS, also when the CAS failed for reasons that
/// leave the key's state as it was: another key claiming the empty slot
/// first (same probe sequence), or a migration freezing the slot. The
/// engine now reuses its last decision while the key's state is unchanged.
///
/// Here one thread computes on its own keys (inserting, replacing and
/// removing them) while another churns other keys on the same few probe
/// sequences: every compute's closure must run exactly once.
#[test]
fn compute_closure_runs_once_without_contention_on_its_key() {
    const OWN: u64 = 16;
    let map: HashMap<u64, u64, ShapedHash> = HashMap::with_hasher(few_hashes());
    let barrier = Barrier::new(2);
    let (done, churned) = (AtomicBool::new(false), AtomicU64::new(0));
    let mut model = [None::<u64>; OWN as usize];
    std::thread::scope(|s| {
        s.spawn(|| churn(&map, &barrier, &done, &churned));
        barrier.wait();
        // Sets `done` also while a failed assertion unwinds, so the
        // churning thread stops and the test fails instead of hanging.
        let _stop = StopOnDrop(&done);
        let start = Instant::now();
        let mut round = 0u64;
        while racing(start, &churned) {
            round += 1;
            for key in 0..OWN {
                let mut calls = 0;
                let m = map.pin();
                m.compute(key, |cur| {
                    calls += 1;
                    assert_eq!(cur.map(|(_, v)| *v), model[key as usize]);
                    match cur {
                        Some(_) if (round + key) % 3 == 0 => Operation::<u64, ()>::Remove,
                        _ => Operation::Insert(round),
                    }
                });
                model[key as usize] = match model[key as usize] {
                    Some(_) if (round + key) % 3 == 0 => None,
                    _ => Some(round),
                };
                assert_eq!(calls, 1, "round {round}, key {key}: the closure re-ran");
            }
        }
    });
    let m = map.pin();
    for key in 0..OWN {
        assert_eq!(m.get(&key).copied(), model[key as usize]);
    }
}

/// The same promise for `update`: its closure runs once per call when no
/// other thread writes the key, whatever resizes and slot races go on.
#[test]
fn update_closure_runs_once_without_contention_on_its_key() {
    const OWN: u64 = 16;
    let map: HashMap<u64, u64, ShapedHash> = HashMap::with_hasher(few_hashes());
    {
        let m = map.pin();
        for key in 0..OWN {
            m.insert(key, 0);
        }
    }
    let barrier = Barrier::new(2);
    let (done, churned) = (AtomicBool::new(false), AtomicU64::new(0));
    let mut rounds = 0;
    std::thread::scope(|s| {
        s.spawn(|| churn(&map, &barrier, &done, &churned));
        barrier.wait();
        // As above: stops the churn on a failed assertion too.
        let _stop = StopOnDrop(&done);
        let start = Instant::now();
        while racing(start, &churned) {
            rounds += 1;
            for key in 0..OWN {
                let mut calls = 0;
                map.pin().update(&key, |v| {
                    calls += 1;
                    v + 1
                });
                assert_eq!(calls, 1, "key {key}: the closure re-ran");
            }
        }
    });
    let m = map.pin();
    for key in 0..OWN {
        assert_eq!(m.get(&key), Some(&rounds));
    }
}
