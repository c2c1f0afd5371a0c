//! Multi-threaded correctness tests, each scenario on both maps
//! (`hash_map::*` and `word_map::*`, through the kit's runner).
//!
//! The `_pin_per_op` / `_long_pin` scenarios run with 2, 4 and 8 threads on
//! maps created with `with_capacity(0)`, so that the operations under test
//! race with several cooperative resizes; they pin per operation, or hold
//! one pin per thread for the whole run. After them: disjoint writers
//! through growth and shrink, iteration while the table grows, shrinks and
//! rebuilds, and `add`s that must lose nothing. `WordMap`-only scenarios
//! (`compare_exchange`, table retirement) are in `word_threads.rs`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

mod common;
use common::{both_maps, CountOnDrop, Ops, Rng, StopOnDrop, TestMap, UnwindBarrier};

const THREADS: [usize; 3] = [2, 4, 8];

/// Work multiplier: debug builds are an order of magnitude slower.
const SCALE: usize = if cfg!(debug_assertions) { 2 } else { 8 };

/// How a thread pins the map. (A `WordMap` pins inside each call: there
/// both modes run the same operations, differently scheduled.)
#[derive(Clone, Copy, Debug)]
enum Pin {
    /// `map.pin()` around every single operation.
    PerOp,
    /// One pin held by each thread for its whole run.
    Long,
}

fn value_of(key: u64) -> u64 {
    key.wrapping_mul(7).wrapping_add(1)
}

// ---------------------------------------------------------------------------
// Disjoint inserts
// ---------------------------------------------------------------------------

fn disjoint_inserts<M: TestMap>(threads: usize, pin: Pin) {
    let name = M::NAME;
    let per_thread = 10_000 * SCALE as u64;
    let map = M::with_capacity(0);
    let start = UnwindBarrier::new(threads);
    thread::scope(|s| {
        for t in 0..threads as u64 {
            let (map, start) = (&map, &start);
            s.spawn(move || {
                let start = start.enter();
                start.wait();
                let keys = (0..per_thread).map(|i| i * threads as u64 + t);
                match pin {
                    Pin::PerOp => {
                        for k in keys {
                            assert_eq!(map.pin().insert(k, value_of(k)), None, "key {k}");
                        }
                    }
                    Pin::Long => {
                        let m = map.pin();
                        for k in keys {
                            assert_eq!(m.insert(k, value_of(k)), None, "key {k}");
                        }
                    }
                }
            });
        }
    });
    let total = per_thread * threads as u64;
    let stats = map.stats();
    assert!(
        stats.resizes >= 5,
        "{name}, {threads} threads {pin:?}: {stats:?}"
    );
    assert_eq!(map.len(), total as usize, "{stats:?}");
    assert_eq!(stats.len, total as usize);
    // The table's own load limit (`Stats.capacity` is never below `len`,
    // so it would hold whatever the table): within a claim batch (16
    // per thread) of the keys.
    assert!(
        stats.slots * 3 / 4 + 16 * threads >= total as usize,
        "{stats:?}"
    );
    let m = map.pin();
    for k in 0..total {
        assert_eq!(m.get(&k), Some(value_of(k)), "key {k}");
    }
    assert_eq!(m.get(&total), None);
    let mut seen = vec![false; total as usize];
    let mut count = 0;
    for (k, v) in m.iter() {
        assert!(k < total, "unknown key {k}");
        assert_eq!(v, value_of(k), "key {k}");
        assert!(!seen[k as usize], "key {k} yielded twice");
        seen[k as usize] = true;
        count += 1;
    }
    assert_eq!(count, total);
}

fn disjoint_inserts_pin_per_op<M: TestMap>() {
    for threads in THREADS {
        disjoint_inserts::<M>(threads, Pin::PerOp);
    }
}

fn disjoint_inserts_long_pin<M: TestMap>() {
    for threads in THREADS {
        disjoint_inserts::<M>(threads, Pin::Long);
    }
}

// ---------------------------------------------------------------------------
// Racing get_or_insert
// ---------------------------------------------------------------------------

/// The `i`-th key the racing threads claim: half plain, half with a top
/// byte set (a `WordMap` claims those pending, and whoever comes first
/// completes the claim).
fn claim_key(i: u64) -> u64 {
    if i % 2 == 0 {
        i << 8
    } else {
        i ^ (0x7f << 56)
    }
}

/// Every thread walks the same keys calling `get_or_insert(key, own id)`:
/// each key is won by exactly one thread, whose value every thread gets.
/// (`word_threads.rs`'s `same_key_claims_race_to_one_slot` merged in: its
/// top-byte keys are `claim_key`'s odd ones.)
fn racing_get_or_insert<M: TestMap>(threads: usize, pin: Pin) {
    let name = M::NAME;
    let keys = 5_000 * SCALE as u64;
    let map = M::with_capacity(0);
    let start = UnwindBarrier::new(threads);
    let seen: Vec<Vec<u64>> = thread::scope(|s| {
        let handles: Vec<_> = (0..threads as u64)
            .map(|t| {
                let (map, start) = (&map, &start);
                s.spawn(move || {
                    let start = start.enter();
                    start.wait();
                    // Every thread walks the keys in the same order, so the
                    // threads collide on the same key all the time.
                    match pin {
                        Pin::PerOp => (0..keys)
                            .map(|i| map.pin().get_or_insert(claim_key(i), t))
                            .collect::<Vec<_>>(),
                        Pin::Long => {
                            let m = map.pin();
                            (0..keys)
                                .map(|i| {
                                    let v = m.get_or_insert(claim_key(i), t);
                                    // A second call must return the same value.
                                    assert_eq!(m.get_or_insert(claim_key(i), t + 1000), v);
                                    v
                                })
                                .collect()
                        }
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let stats = map.stats();
    assert!(
        stats.resizes >= 5,
        "{name}, {threads} threads {pin:?}: {stats:?}"
    );
    assert_eq!(map.len(), keys as usize);
    let m = map.pin();
    let mut winners = 0;
    for i in 0..keys {
        let k = claim_key(i);
        let v = seen[0][i as usize];
        assert!(
            v < threads as u64,
            "key {k:#x}: value {v} is no thread's id"
        );
        for (t, s) in seen.iter().enumerate() {
            assert_eq!(s[i as usize], v, "key {k:#x}: thread {t} saw another value");
        }
        assert_eq!(m.get(&k), Some(v), "key {k:#x}");
        winners += seen
            .iter()
            .enumerate()
            .filter(|(t, s)| s[i as usize] == *t as u64)
            .count();
    }
    assert_eq!(winners, keys as usize, "{name}, {threads} threads {pin:?}");
    assert_eq!(m.iter().count(), keys as usize);
}

fn racing_get_or_insert_pin_per_op<M: TestMap>() {
    for threads in THREADS {
        racing_get_or_insert::<M>(threads, Pin::PerOp);
    }
}

fn racing_get_or_insert_long_pin<M: TestMap>() {
    for threads in THREADS {
        racing_get_or_insert::<M>(threads, Pin::Long);
    }
}

// ---------------------------------------------------------------------------
// try_insert and remove racing on a few keys, accounted exactly
// ---------------------------------------------------------------------------

/// Threads race `try_insert` (each value unique to its call) and `remove`
/// on a few hot keys, while another thread grows and empties the map with
/// filler keys (so the races cross resizes both ways). Per key, every
/// successful `try_insert` starts a presence that exactly one `remove`
/// ends, or that lasts to the end: inserts = removes + (present at the
/// end); every removed value is one a `try_insert` inserted, removed
/// once; every `Err` names a value some call inserted; the final value is
/// the one inserted last and not removed. A lost update, a duplicate
/// claim, or a hit that answered from a stale table breaks one of these.
fn try_insert_and_remove_account_exactly<M: TestMap>() {
    const HOT: u64 = 16;
    let threads = 4u64;
    let rounds = 10_000 * SCALE as u64;
    let map = M::with_capacity(0);
    let stop = AtomicBool::new(false);
    let start = UnwindBarrier::new(threads as usize + 1);
    // Per thread: (key, value) inserted; values removed; values an `Err` named.
    type Log = (Vec<(u64, u64)>, Vec<(u64, u64)>, Vec<(u64, u64)>);
    let logs: Vec<Log> = thread::scope(|s| {
        let (map, stop, start) = (&map, &stop, &start);
        let filler = s.spawn(move || {
            let start = start.enter();
            start.wait();
            let mut cycles = 0u64;
            while !stop.load(Ordering::Relaxed) || cycles < 2 {
                let m = map.pin();
                let base = 1 << 40;
                for k in base..base + 2_000 {
                    m.insert(k, k);
                }
                for k in base..base + 2_000 {
                    m.remove(&k);
                }
                cycles += 1;
            }
            cycles
        });
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let start = start.enter();
                    start.wait();
                    let mut rng = Rng::new(0x7A11 + t);
                    let (mut ins, mut rem, mut err) = (Vec::new(), Vec::new(), Vec::new());
                    for i in 0..rounds {
                        let k = rng.below(HOT);
                        let m = map.pin();
                        if rng.below(2) == 0 {
                            let v = (t << 32) | i;
                            match m.try_insert(k, v) {
                                Ok(()) => ins.push((k, v)),
                                Err(cur) => err.push((k, cur)),
                            }
                        } else if let Some(v) = m.remove(&k) {
                            rem.push((k, v));
                        }
                    }
                    (ins, rem, err)
                })
            })
            .collect();
        // Stops the filler also if a racer panics (the scope then waits
        // for it).
        let stop_filler = StopOnDrop(stop);
        let logs = handles.into_iter().map(|h| h.join().unwrap()).collect();
        drop(stop_filler);
        assert!(filler.join().unwrap() >= 2);
        logs
    });
    let name = M::NAME;
    let inserted: HashSet<(u64, u64)> = logs.iter().flat_map(|l| l.0.iter().copied()).collect();
    let mut removed = HashSet::new();
    for &(k, v) in logs.iter().flat_map(|l| l.1.iter()) {
        assert!(
            inserted.contains(&(k, v)),
            "{name}: key {k} removed {v:#x}, never inserted"
        );
        assert!(
            removed.insert((k, v)),
            "{name}: key {k}: {v:#x} removed twice"
        );
    }
    for &(k, v) in logs.iter().flat_map(|l| l.2.iter()) {
        assert!(
            inserted.contains(&(k, v)),
            "{name}: key {k}: an Err named {v:#x}, never inserted"
        );
    }
    let m = map.pin();
    for k in 0..HOT {
        let ins = inserted.iter().filter(|e| e.0 == k).count();
        let rem = removed.iter().filter(|e| e.0 == k).count();
        let now = m.get(&k);
        assert_eq!(
            ins,
            rem + now.is_some() as usize,
            "{name}: key {k}: {ins} inserted, {rem} removed, now {now:?}"
        );
        if let Some(v) = now {
            assert!(
                inserted.contains(&(k, v)) && !removed.contains(&(k, v)),
                "{name}: key {k}: {v:#x}"
            );
        }
    }
    assert!(map.stats().resizes >= 4, "{name}: {:?}", map.stats());
}

// ---------------------------------------------------------------------------
// update increments while other keys force resizes
// ---------------------------------------------------------------------------

const COUNTERS: u64 = 16;
const GROW_BASE: u64 = 1 << 40;

fn update_counters<M: TestMap>(threads: usize, pin: Pin) {
    let name = M::NAME;
    let rounds = 10_000 * SCALE as u64;
    let map = M::with_capacity(0);
    for k in 0..COUNTERS {
        map.pin().insert(k, 0);
    }
    let start = UnwindBarrier::new(threads);
    thread::scope(|s| {
        for t in 0..threads as u64 {
            let (map, start) = (&map, &start);
            s.spawn(move || {
                // Entered before the pin: a panic in it breaks the start
                // line instead of leaving the other threads there.
                let start = start.enter();
                let long = matches!(pin, Pin::Long).then(|| map.pin());
                let mut last = [0u64; COUNTERS as usize];
                start.wait();
                for i in 0..rounds {
                    let c = (t + i) % COUNTERS;
                    let grow = GROW_BASE + t * rounds + i;
                    let (new, inserted) = match &long {
                        Some(m) => (m.update(&c, |v| v + 1), m.insert(grow, i).is_none()),
                        None => (
                            map.pin().update(&c, |v| v + 1),
                            map.pin().insert(grow, i).is_none(),
                        ),
                    };
                    let new = new.unwrap_or_else(|| panic!("counter {c} missing"));
                    // Linearizable increments: each thread sees its own
                    // increments of one counter return increasing values.
                    assert!(new > last[c as usize], "counter {c}: {new} after {last:?}");
                    last[c as usize] = new;
                    assert!(inserted, "key {grow} was already present");
                    // Second half: remove this thread's growth keys again, so
                    // that the table also shrinks under the updates.
                    if i >= rounds / 2 {
                        let old = GROW_BASE + t * rounds + (i - rounds / 2) * 2;
                        for k in [old, old + 1] {
                            let removed = match &long {
                                Some(m) => m.remove(&k),
                                None => map.pin().remove(&k),
                            };
                            assert_eq!(removed, Some(k - GROW_BASE - t * rounds), "key {k}");
                        }
                    }
                }
            });
        }
    });
    let stats = map.stats();
    assert!(
        stats.resizes >= 5,
        "{name}, {threads} threads {pin:?}: {stats:?}"
    );
    let m = map.pin();
    let mut sum = 0;
    for c in 0..COUNTERS {
        // Thread t bumps counter c on rounds i with (t + i) % COUNTERS == c.
        let expected: u64 = (0..threads as u64)
            .map(|t| (0..rounds).filter(|i| (t + i) % COUNTERS == c).count() as u64)
            .sum();
        let got = m.get(&c).unwrap();
        assert_eq!(got, expected, "counter {c}, {threads} threads {pin:?}");
        sum += got;
    }
    assert_eq!(sum, rounds * threads as u64);
    assert_eq!(map.len(), COUNTERS as usize, "{:?}", map.stats());
    assert_eq!(m.iter().count(), COUNTERS as usize);
}

fn update_counters_pin_per_op<M: TestMap>() {
    for threads in THREADS {
        update_counters::<M>(threads, Pin::PerOp);
    }
}

fn update_counters_long_pin<M: TestMap>() {
    for threads in THREADS {
        update_counters::<M>(threads, Pin::Long);
    }
}

// ---------------------------------------------------------------------------
// insert/remove churn on a small key set, with readers
// ---------------------------------------------------------------------------

const CHURN_KEYS: u64 = 64;

/// `value = key * 1000 + writer`: checks that a value belongs to `key` and
/// was written by one of the `writers`.
fn check_churn_value(key: u64, v: u64, writers: u64) {
    assert_eq!(v / 1000, key, "value {v} read for key {key}");
    assert!(v % 1000 < writers, "value {v}: no writer {}", v % 1000);
}

fn churn<M: TestMap>(threads: usize, pin: Pin) {
    let name = M::NAME;
    let ops = 20_000 * SCALE as u64;
    let writers = (threads / 2) as u64;
    let map = M::with_capacity(0);
    let done = AtomicUsize::new(0);
    let reads = AtomicUsize::new(0);
    let start = UnwindBarrier::new(threads);
    thread::scope(|s| {
        for w in 0..writers {
            let (map, done, start) = (&map, &done, &start);
            s.spawn(move || {
                let _done = CountOnDrop(done);
                let start = start.enter();
                let long = matches!(pin, Pin::Long).then(|| map.pin());
                let mut rng = Rng::new(w + 1);
                start.wait();
                for _ in 0..ops {
                    let k = rng.below(CHURN_KEYS);
                    let op = rng.below(4);
                    let per_op;
                    let m = match &long {
                        Some(m) => m,
                        None => {
                            per_op = map.pin();
                            &per_op
                        }
                    };
                    let prev = match op {
                        0 | 1 => m.insert(k, k * 1000 + w),
                        2 => m.remove(&k),
                        _ => m.update(&k, |v| {
                            check_churn_value(k, v, writers);
                            k * 1000 + w
                        }),
                    };
                    if let Some(v) = prev {
                        check_churn_value(k, v, writers);
                    }
                }
            });
        }
        for r in 0..threads as u64 - writers {
            let (map, done, reads, start) = (&map, &done, &reads, &start);
            s.spawn(move || {
                let start = start.enter();
                let long = matches!(pin, Pin::Long).then(|| map.pin());
                let mut rng = Rng::new(100 + r);
                let mut n = 0;
                start.wait();
                while done.load(Ordering::Acquire) < writers as usize || n < 1000 {
                    let k = rng.below(CHURN_KEYS);
                    let v = match &long {
                        Some(m) => m.get(&k),
                        None => map.pin().get(&k),
                    };
                    if let Some(v) = v {
                        check_churn_value(k, v, writers);
                    }
                    n += 1;
                }
                reads.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    let stats = map.stats();
    assert!(
        stats.resizes > 0,
        "{name}, {threads} threads {pin:?}: {stats:?}"
    );
    assert!(reads.load(Ordering::Relaxed) >= 1000);
    let m = map.pin();
    let mut count = 0;
    let mut keys = HashSet::new();
    for (k, v) in m.iter() {
        assert!(k < CHURN_KEYS);
        assert!(keys.insert(k), "key {k} yielded twice");
        check_churn_value(k, v, writers);
        assert_eq!(m.get(&k), Some(v));
        count += 1;
    }
    assert_eq!(map.len(), count);
    assert!(stats.slots <= 1024, "{name}: {stats:?}");
}

fn churn_with_readers_pin_per_op<M: TestMap>() {
    for threads in THREADS {
        churn::<M>(threads, Pin::PerOp);
    }
}

fn churn_with_readers_long_pin<M: TestMap>() {
    for threads in THREADS {
        churn::<M>(threads, Pin::Long);
    }
}

// ---------------------------------------------------------------------------
// Iteration while writers grow the map
// ---------------------------------------------------------------------------

const STABLE: u64 = 1_000;

fn iterate_while_growing<M: TestMap>(threads: usize, pin: Pin) {
    let name = M::NAME;
    let per_writer = 20_000 * SCALE as u64;
    let writers = (threads / 2) as u64;
    let iterators = threads as u64 - writers;
    let map = M::with_capacity(0);
    for k in 0..STABLE {
        map.pin().insert(k, value_of(k));
    }
    let resizes_before = map.stats().resizes;
    let done = AtomicUsize::new(0);
    let iterations = AtomicUsize::new(0);
    let start = UnwindBarrier::new(threads);
    thread::scope(|s| {
        for w in 0..writers {
            let (map, done, start) = (&map, &done, &start);
            s.spawn(move || {
                let _done = CountOnDrop(done);
                let start = start.enter();
                let long = matches!(pin, Pin::Long).then(|| map.pin());
                let base = STABLE + w * per_writer;
                start.wait();
                for i in 0..per_writer {
                    let per_op;
                    let m = match &long {
                        Some(m) => m,
                        None => {
                            per_op = map.pin();
                            &per_op
                        }
                    };
                    let k = base + i;
                    assert_eq!(m.insert(k, value_of(k)), None);
                    // Churn some non-stable keys: remove an older one of
                    // ours, and put back one removed before.
                    if i % 4 == 3 {
                        let old = base + i / 2;
                        assert_eq!(m.remove(&old), Some(value_of(old)));
                        assert_eq!(m.insert(old, value_of(old)), None);
                        assert_eq!(m.remove(&(old - 1)), Some(value_of(old - 1)));
                    }
                }
            });
        }
        for _ in 0..iterators {
            let (map, done, iterations, start) = (&map, &done, &iterations, &start);
            s.spawn(move || {
                let start = start.enter();
                let total_keys = (STABLE + writers * per_writer) as usize;
                let mut seen = vec![false; total_keys];
                let mut n = 0;
                start.wait();
                // Iterate until the writers are done, and at least twice.
                while done.load(Ordering::Acquire) < writers as usize || n < 2 {
                    let m = map.pin();
                    seen.fill(false);
                    let mut stable = 0;
                    for (k, v) in m.iter() {
                        assert!((k as usize) < total_keys, "unknown key {k}");
                        assert!(!seen[k as usize], "key {k} yielded twice");
                        seen[k as usize] = true;
                        assert_eq!(v, value_of(k), "key {k}");
                        if k < STABLE {
                            stable += 1;
                        }
                    }
                    assert_eq!(stable, STABLE, "iteration {n} missed stable keys");
                    n += 1;
                }
                iterations.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    let stats = map.stats();
    assert!(
        stats.resizes >= resizes_before + 3,
        "{name}, {threads} threads {pin:?}: {stats:?}"
    );
    assert!(iterations.load(Ordering::Relaxed) >= 2 * iterators as usize);
    // Each writer removed a quarter of its keys, minus those put back.
    let removed_per_writer = per_writer / 4;
    assert_eq!(
        map.len() as u64,
        STABLE + writers * (per_writer - removed_per_writer),
        "{stats:?}"
    );
    assert_eq!(map.pin().iter().count(), map.len());
}

fn iterate_while_growing_pin_per_op<M: TestMap>() {
    for threads in THREADS {
        iterate_while_growing::<M>(threads, Pin::PerOp);
    }
}

fn iterate_while_growing_long_pin<M: TestMap>() {
    for threads in THREADS {
        iterate_while_growing::<M>(threads, Pin::Long);
    }
}

// ---------------------------------------------------------------------------
// get during migration (grow and shrink)
// ---------------------------------------------------------------------------

const PRESENT: u64 = 512;

fn get_during_migration<M: TestMap>(threads: usize, pin: Pin) {
    let name = M::NAME;
    let per_writer = 10_000 * SCALE as u64;
    let rounds = 3;
    let writers = (threads / 2) as u64;
    let map = M::with_capacity(0);
    for k in 0..PRESENT {
        map.pin().insert(k, value_of(k));
    }
    let stop = AtomicBool::new(false);
    let max_slots = AtomicUsize::new(0);
    let lookups = AtomicUsize::new(0);
    let start = UnwindBarrier::new(threads);
    thread::scope(|s| {
        let writer_handles: Vec<_> = (0..writers)
            .map(|w| {
                let (map, max_slots, start) = (&map, &max_slots, &start);
                s.spawn(move || {
                    let start = start.enter();
                    let long = matches!(pin, Pin::Long).then(|| map.pin());
                    let base = PRESENT + w * per_writer;
                    start.wait();
                    for _ in 0..rounds {
                        for k in base..base + per_writer {
                            match &long {
                                Some(m) => assert_eq!(m.insert(k, value_of(k)), None),
                                None => assert_eq!(map.pin().insert(k, value_of(k)), None),
                            }
                        }
                        max_slots.fetch_max(map.stats().slots, Ordering::Relaxed);
                        for k in base..base + per_writer {
                            let removed = match &long {
                                Some(m) => m.remove(&k),
                                None => map.pin().remove(&k),
                            };
                            assert_eq!(removed, Some(value_of(k)), "key {k}");
                        }
                    }
                })
            })
            .collect();
        for r in 0..threads as u64 - writers {
            let (map, stop, lookups, start) = (&map, &stop, &lookups, &start);
            s.spawn(move || {
                let start = start.enter();
                let long = matches!(pin, Pin::Long).then(|| map.pin());
                let mut rng = Rng::new(r + 7);
                let mut n = 0;
                start.wait();
                while !stop.load(Ordering::Relaxed) || n < 1000 {
                    let k = rng.below(PRESENT);
                    let v = match &long {
                        Some(m) => m.get(&k),
                        None => map.pin().get(&k),
                    };
                    assert_eq!(v, Some(value_of(k)), "key {k} lost during migration");
                    n += 1;
                }
                lookups.fetch_add(n, Ordering::Relaxed);
            });
        }
        // Stops the readers however the writers end: a writer's failed
        // assertion fails the join below, and the readers must not spin on.
        let _stop = StopOnDrop(&stop);
        for h in writer_handles {
            h.join().unwrap();
        }
    });
    let stats = map.stats();
    // At least one grow and one shrink per round.
    assert!(
        stats.resizes >= 2 * rounds,
        "{name}, {threads} threads {pin:?}: {stats:?}"
    );
    assert!(lookups.load(Ordering::Relaxed) >= 1000);
    assert_eq!(map.len(), PRESENT as usize);
    let max_slots = max_slots.load(Ordering::Relaxed);
    // A shrink is due below 1/8 live, checked every 64th removal on large
    // tables and sized from a count that lags by a batch per thread: the
    // last one can start with up to about 4,096 keys live, and leaves 2/5
    // live (10,240 slots).
    assert!(
        stats.slots <= 10_240 && max_slots >= 4 * stats.slots,
        "{name}: no shrink: max {max_slots} slots, now {stats:?}"
    );
    let m = map.pin();
    for k in 0..PRESENT {
        assert_eq!(m.get(&k), Some(value_of(k)));
    }
    assert_eq!(m.iter().count(), PRESENT as usize);
}

fn get_during_migration_pin_per_op<M: TestMap>() {
    for threads in THREADS {
        get_during_migration::<M>(threads, Pin::PerOp);
    }
}

fn get_during_migration_long_pin<M: TestMap>() {
    for threads in THREADS {
        get_during_migration::<M>(threads, Pin::Long);
    }
}

// ---------------------------------------------------------------------------
// Disjoint writers through growth and shrink
// ---------------------------------------------------------------------------

/// Threads of the fixed-size scenarios below.
const FOUR: u64 = 4;

/// Four threads each insert, read back and remove nine tenths of their own
/// keys (top nibble = thread): growth and then shrink under disjoint
/// writers. (Formerly in `word_threads.rs`, `WordMap` only.)
fn disjoint_writers_through_grow_and_shrink<M: TestMap>() {
    let map = M::new();
    let n = 30_000u64;
    thread::scope(|s| {
        for t in 0..FOUR {
            let map = &map;
            s.spawn(move || {
                let key = |i: u64| (t << 60) | i;
                for i in 0..n {
                    assert_eq!(map.pin().insert(key(i), i), None);
                }
                for i in 0..n {
                    assert_eq!(map.pin().get(&key(i)), Some(i));
                }
                for i in (0..n).filter(|i| i % 10 != 0) {
                    assert_eq!(map.pin().remove(&key(i)), Some(i));
                }
            });
        }
    });
    assert_eq!(map.len() as u64, FOUR * n / 10);
    let seen: HashSet<u64> = map.keys().into_iter().collect();
    assert_eq!(seen.len() as u64, FOUR * n / 10);
    // Peak 120,000 keys needed 262,144 slots. A shrink is due below 32,768
    // live (1/8) and leaves 2/5 live: about 81,920 slots (more if writers
    // added keys between the check and the resize), and the 12,000 left
    // keep them (the next shrink is due below 10,240).
    assert!(
        map.stats().slots <= 100_000,
        "{}: did not shrink: {:?}",
        M::NAME,
        map.stats()
    );
}

// ---------------------------------------------------------------------------
// Iteration while the table grows, shrinks and rebuilds
// ---------------------------------------------------------------------------

/// One thread churns a window of keys while this one iterates: every
/// stable key is yielded exactly once by every pass, whatever resizes the
/// pass overlaps. (Formerly in `word_threads.rs`, `WordMap` only.)
fn iteration_during_growth_yields_stable_keys_once<M: TestMap>() {
    let map = M::new();
    let stable = 5_000u64;
    for k in 0..stable {
        map.pin().insert(k, k);
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
                let m = map.pin();
                m.insert(1 << 32 | (i % 20_000), i);
                m.remove(&(1 << 32 | ((i * 7 + 10_000) % 20_000)));
                i += 1;
            }
        });
        // Stops the churn however this thread's checks end: a failed one
        // would otherwise leave the scope waiting for the churn forever.
        let _stop = StopOnDrop(stop);
        let mut passes = 0u64;
        while passes < 50 || map.stats().resizes < resizes_wanted {
            let mut seen = HashSet::new();
            for (k, v) in map.pin().iter() {
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
                "{}: churn stopped resizing: {:?}",
                M::NAME,
                map.stats()
            );
        }
    });
}

/// The deterministic counterpart of the scenario above: a walk is
/// overtaken by resizes it did not finish (the thread walking grows the map
/// through several of them, then updates and removes keys, between two
/// steps of one walk). Every key present throughout is still yielded exactly
/// once; the rest of the walk yields each with the value it has when the
/// walk reaches it (the update's), and no key removed before that (as Go
/// promises: an entry removed before it is reached is not produced). The
/// walk's table has copied every slot forward by then, so a walk that
/// skipped copied slots would miss the keys ahead of it, and one that
/// yielded the copied slots' frozen entries would yield the removed keys
/// and the old values (as lfmap's walks did before the twelfth session).
fn walk_overtaken_by_resizes<M: TestMap>() {
    let map = M::new();
    let n = 2_000u64;
    let bumped = |k: u64| k + (1 << 40);
    for k in 0..n {
        map.pin().insert(k, k);
    }
    let finished = map.stats().resizes_finished;
    let handle = map.pin();
    let mut walk = handle.iter();
    let mut seen = std::collections::HashMap::new();
    for (k, v) in walk.by_ref().take(n as usize / 4) {
        assert!(seen.insert(k, v).is_none(), "{}: key {k} twice", M::NAME);
    }
    for k in n..16 * n {
        map.pin().insert(k, k);
    }
    // Two resizes finished: the walk's table was copied out entirely.
    assert!(
        map.stats().resizes_finished >= finished + 2,
        "{}: {:?}",
        M::NAME,
        map.stats()
    );
    for k in 0..n {
        if k % 3 == 0 {
            map.pin().remove(&k);
        } else {
            map.pin().insert(k, bumped(k));
        }
    }
    let before = seen.clone();
    for (k, v) in walk {
        assert!(seen.insert(k, v).is_none(), "{}: key {k} twice", M::NAME);
        if k < n {
            assert!(
                k % 3 != 0,
                "{}: key {k} yielded after its removal, with {v}",
                M::NAME
            );
            assert_eq!(
                v,
                bumped(k),
                "{}: key {k} yielded with a value it no longer had",
                M::NAME
            );
        } else {
            assert_eq!(v, k, "{}: key {k} with {v}, never its value", M::NAME);
        }
    }
    for k in (0..n).filter(|k| k % 3 != 0) {
        assert!(seen.contains_key(&k), "{}: key {k} missed", M::NAME);
    }
    for (&k, &v) in &before {
        assert_eq!(v, k, "{}: key {k} with {v} before any update", M::NAME);
    }
}

// ---------------------------------------------------------------------------
// Concurrent read-modify-write: no lost update
// ---------------------------------------------------------------------------

/// Threads `add` to hot keys every thread shares (plain ones and ones with
/// a top byte) while cold keys make the table grow through several resizes:
/// every count is exact. On `HashMap`, `add` is `compute`: this scenario
/// merges `word_threads.rs`'s `concurrent_adds_lose_nothing` and `api.rs`'s
/// `compute_increments_are_exact_under_threads`.
fn concurrent_adds_lose_nothing<M: TestMap>() {
    for threads in THREADS.map(|t| t as u64) {
        let map = M::new();
        let rounds = 64 * 300u64; // a multiple of both hot-key counts
        let barrier = UnwindBarrier::new(threads as usize);
        thread::scope(|s| {
            for t in 0..threads {
                let (map, barrier) = (&map, &barrier);
                s.spawn(move || {
                    let barrier = barrier.enter();
                    barrier.wait();
                    for i in 0..rounds {
                        let m = map.pin();
                        m.add(&(i % 64), 1);
                        m.add(&(1 << 40 | (t * rounds + i)), 2);
                        m.add(&(0xfe << 56 | (i % 16)), 3);
                    }
                });
            }
        });
        let ctx = format!("{}, {threads} threads", M::NAME);
        let m = map.pin();
        for k in 0..64 {
            assert_eq!(m.get(&k), Some(threads * rounds / 64), "{ctx}: hot key {k}");
        }
        for k in 0..16u64 {
            let got = m.get(&(0xfe << 56 | k));
            assert_eq!(got, Some(3 * threads * rounds / 16), "{ctx}");
        }
        for c in 0..threads * rounds {
            assert_eq!(m.get(&(1 << 40 | c)), Some(2), "{ctx}");
        }
        assert_eq!(map.len() as u64, 64 + 16 + threads * rounds, "{ctx}");
        assert!(map.stats().resizes > 5, "{ctx}: {:?}", map.stats());
    }
}

// ---------------------------------------------------------------------------
// With a resize helper (`ResizeHelper`) doing the migrations
// ---------------------------------------------------------------------------

/// Runs `work` while a thread runs a resize helper of `map`, then stops it.
/// The helper is registered before `work` starts, so writers leave their
/// migration shares to it from the first write; whether it gets the CPU
/// in time is the scheduler's business, so nothing here depends on how
/// much it did.
fn with_helper<M: TestMap>(map: &M, work: impl FnOnce()) {
    let stop = AtomicBool::new(false);
    let helper = map.resize_helper();
    thread::scope(|s| {
        s.spawn(|| helper.run(&stop));
        // Stops the helper however `work` ends: a failed assertion in it
        // would otherwise leave the scope waiting for the helper forever.
        let _stop = StopOnDrop(&stop);
        work();
    });
}

/// Disjoint writers grow the map to 120,000 keys and shrink it to 12,000
/// while a helper migrates: every insert, get and removal is exact.
fn disjoint_writers_with_a_helper<M: TestMap>() {
    let map = M::new();
    let n = 30_000u64;
    with_helper(&map, || {
        thread::scope(|s| {
            for t in 0..FOUR {
                let map = &map;
                s.spawn(move || {
                    let key = |i: u64| (t << 60) | i;
                    for i in 0..n {
                        assert_eq!(map.pin().insert(key(i), i), None);
                    }
                    for i in 0..n {
                        assert_eq!(map.pin().get(&key(i)), Some(i));
                    }
                    for i in (0..n).filter(|i| i % 10 != 0) {
                        assert_eq!(map.pin().remove(&key(i)), Some(i));
                    }
                });
            }
        });
    });
    assert_eq!(map.len() as u64, FOUR * n / 10);
    let seen: HashSet<u64> = map.keys().into_iter().collect();
    assert_eq!(seen.len() as u64, FOUR * n / 10);
    for t in 0..FOUR {
        for i in (0..n).step_by(10) {
            assert_eq!(map.pin().get(&((t << 60) | i)), Some(i));
        }
    }
}

/// Adds from several threads to keys that keep being created (so the map
/// grows throughout) while a helper migrates: no addition is lost or
/// doubled, and every pass of an iteration running alongside yields the
/// keys present from the start exactly once.
fn adds_and_iteration_with_a_helper<M: TestMap>() {
    let map = M::new();
    let stable = 2_000u64;
    for k in 0..stable {
        map.pin().insert(k, 0);
    }
    let (threads, rounds) = (3u64, 20_000u64);
    let done = AtomicUsize::new(0);
    with_helper(&map, || {
        thread::scope(|s| {
            for t in 0..threads {
                let (map, done) = (&map, &done);
                s.spawn(move || {
                    let _done = CountOnDrop(done);
                    for r in 0..rounds {
                        let m = map.pin();
                        m.add(&(r % stable), 1);
                        m.insert(1 << 40 | (t << 32) | r, r);
                    }
                });
            }
            let mut passes = 0;
            while passes < 3 || done.load(Ordering::Acquire) < threads as usize {
                let mut seen = HashSet::new();
                for (k, _) in map.pin().iter() {
                    assert!(seen.insert(k), "key {k:#x} yielded twice");
                }
                for k in 0..stable {
                    assert!(seen.contains(&k), "stable key {k} missed");
                }
                passes += 1;
            }
        });
    });
    let total: u64 = (0..stable).map(|k| map.pin().get(&k).unwrap()).sum();
    assert_eq!(total, threads * rounds);
    assert_eq!(map.len() as u64, stable + threads * rounds);
}

both_maps!(
    disjoint_writers_with_a_helper,
    adds_and_iteration_with_a_helper,
    disjoint_inserts_pin_per_op,
    disjoint_inserts_long_pin,
    racing_get_or_insert_pin_per_op,
    racing_get_or_insert_long_pin,
    try_insert_and_remove_account_exactly,
    update_counters_pin_per_op,
    update_counters_long_pin,
    churn_with_readers_pin_per_op,
    churn_with_readers_long_pin,
    iterate_while_growing_pin_per_op,
    iterate_while_growing_long_pin,
    get_during_migration_pin_per_op,
    get_during_migration_long_pin,
    disjoint_writers_through_grow_and_shrink,
    iteration_during_growth_yields_stable_keys_once,
    walk_overtaken_by_resizes,
    concurrent_adds_lose_nothing,
);
