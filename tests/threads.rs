//! Multi-threaded correctness tests.
//!
//! Every scenario runs with 2, 4 and 8 threads on maps created with
//! `with_capacity(0)`, so that the operations under test race with several
//! cooperative resizes. Some tests pin per operation, others hold one pin per
//! thread for the whole run.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::thread;

use lfmap::HashMap;

const THREADS: [usize; 3] = [2, 4, 8];

/// Work multiplier: debug builds are an order of magnitude slower.
const SCALE: usize = if cfg!(debug_assertions) { 2 } else { 8 };

/// How a thread pins the map.
#[derive(Clone, Copy, Debug)]
enum Pin {
    /// `map.pin()` around every single operation.
    PerOp,
    /// One pin held by each thread for its whole run.
    Long,
}

/// A small deterministic PRNG (xorshift64*), one per thread.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn value_of(key: u64) -> u64 {
    key.wrapping_mul(7).wrapping_add(1)
}

// ---------------------------------------------------------------------------
// Disjoint inserts
// ---------------------------------------------------------------------------

fn disjoint_inserts(threads: usize, pin: Pin) {
    let per_thread = 10_000 * SCALE as u64;
    let map = HashMap::with_capacity(0);
    let start = Barrier::new(threads);
    thread::scope(|s| {
        for t in 0..threads as u64 {
            let (map, start) = (&map, &start);
            s.spawn(move || {
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
    assert!(stats.resizes >= 5, "{threads} threads {pin:?}: {stats:?}");
    assert_eq!(map.len(), total as usize, "{stats:?}");
    assert_eq!(stats.len, total as usize);
    assert!(stats.capacity >= total as usize, "{stats:?}");
    let m = map.pin();
    for k in 0..total {
        assert_eq!(m.get(&k), Some(&value_of(k)), "key {k}");
    }
    assert_eq!(m.get(&total), None);
    let mut seen = vec![false; total as usize];
    let mut count = 0;
    for (k, v) in m.iter() {
        assert!(*k < total, "unknown key {k}");
        assert_eq!(*v, value_of(*k), "key {k}");
        assert!(!seen[*k as usize], "key {k} yielded twice");
        seen[*k as usize] = true;
        count += 1;
    }
    assert_eq!(count, total);
}

#[test]
fn disjoint_inserts_pin_per_op() {
    for threads in THREADS {
        disjoint_inserts(threads, Pin::PerOp);
    }
}

#[test]
fn disjoint_inserts_long_pin() {
    for threads in THREADS {
        disjoint_inserts(threads, Pin::Long);
    }
}

// ---------------------------------------------------------------------------
// Racing get_or_insert
// ---------------------------------------------------------------------------

fn racing_get_or_insert(threads: usize, pin: Pin) {
    let keys = 5_000 * SCALE as u64;
    let map = HashMap::with_capacity(0);
    let start = Barrier::new(threads);
    let seen: Vec<Vec<usize>> = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (map, start) = (&map, &start);
                s.spawn(move || {
                    start.wait();
                    // Every thread walks the keys in the same order, so the
                    // threads collide on the same key all the time.
                    match pin {
                        Pin::PerOp => (0..keys)
                            .map(|k| *map.pin().get_or_insert(k, t))
                            .collect::<Vec<_>>(),
                        Pin::Long => {
                            let m = map.pin();
                            (0..keys)
                                .map(|k| {
                                    let v = *m.get_or_insert(k, t);
                                    // A second call must return the same value.
                                    assert_eq!(*m.get_or_insert(k, t + 1000), v);
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
    assert!(stats.resizes >= 5, "{threads} threads {pin:?}: {stats:?}");
    assert_eq!(map.len(), keys as usize);
    let m = map.pin();
    let mut winners = 0;
    for k in 0..keys {
        let v = seen[0][k as usize];
        assert!(v < threads, "key {k}: value {v} is no thread's id");
        for (t, s) in seen.iter().enumerate() {
            assert_eq!(s[k as usize], v, "key {k}: thread {t} saw another value");
        }
        assert_eq!(m.get(&k), Some(&v), "key {k}");
        winners += seen
            .iter()
            .enumerate()
            .filter(|(t, s)| s[k as usize] == *t)
            .count();
    }
    assert_eq!(winners, keys as usize, "{threads} threads {pin:?}");
}

#[test]
fn racing_get_or_insert_pin_per_op() {
    for threads in THREADS {
        racing_get_or_insert(threads, Pin::PerOp);
    }
}

#[test]
fn racing_get_or_insert_long_pin() {
    for threads in THREADS {
        racing_get_or_insert(threads, Pin::Long);
    }
}

// ---------------------------------------------------------------------------
// update increments while other keys force resizes
// ---------------------------------------------------------------------------

const COUNTERS: u64 = 16;
const GROW_BASE: u64 = 1 << 40;

fn update_counters(threads: usize, pin: Pin) {
    let rounds = 10_000 * SCALE as u64;
    let map = HashMap::with_capacity(0);
    for k in 0..COUNTERS {
        map.pin().insert(k, 0u64);
    }
    let start = Barrier::new(threads);
    thread::scope(|s| {
        for t in 0..threads as u64 {
            let (map, start) = (&map, &start);
            s.spawn(move || {
                let long = matches!(pin, Pin::Long).then(|| map.pin());
                let mut last = [0u64; COUNTERS as usize];
                start.wait();
                for i in 0..rounds {
                    let c = (t + i) % COUNTERS;
                    let grow = GROW_BASE + t * rounds + i;
                    let (new, inserted) = match &long {
                        Some(m) => (
                            m.update(&c, |v| v + 1).copied(),
                            m.insert(grow, i).is_none(),
                        ),
                        None => (
                            map.pin().update(&c, |v| v + 1).copied(),
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
                                Some(m) => m.remove(&k).copied(),
                                None => map.pin().remove(&k).copied(),
                            };
                            assert_eq!(removed, Some(k - GROW_BASE - t * rounds), "key {k}");
                        }
                    }
                }
            });
        }
    });
    let stats = map.stats();
    assert!(stats.resizes >= 5, "{threads} threads {pin:?}: {stats:?}");
    let m = map.pin();
    let mut sum = 0;
    for c in 0..COUNTERS {
        // Thread t bumps counter c on rounds i with (t + i) % COUNTERS == c.
        let expected: u64 = (0..threads as u64)
            .map(|t| (0..rounds).filter(|i| (t + i) % COUNTERS == c).count() as u64)
            .sum();
        let got = *m.get(&c).unwrap();
        assert_eq!(got, expected, "counter {c}, {threads} threads {pin:?}");
        sum += got;
    }
    assert_eq!(sum, rounds * threads as u64);
    assert_eq!(map.len(), COUNTERS as usize, "{:?}", map.stats());
    assert_eq!(m.iter().count(), COUNTERS as usize);
}

#[test]
fn update_counters_pin_per_op() {
    for threads in THREADS {
        update_counters(threads, Pin::PerOp);
    }
}

#[test]
fn update_counters_long_pin() {
    for threads in THREADS {
        update_counters(threads, Pin::Long);
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

fn churn(threads: usize, pin: Pin) {
    let ops = 20_000 * SCALE as u64;
    let writers = (threads / 2) as u64;
    let map: HashMap<u64, u64> = HashMap::with_capacity(0);
    let done = AtomicUsize::new(0);
    let reads = AtomicUsize::new(0);
    let start = Barrier::new(threads);
    thread::scope(|s| {
        for w in 0..writers {
            let (map, done, start) = (&map, &done, &start);
            s.spawn(move || {
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
                            check_churn_value(k, *v, writers);
                            k * 1000 + w
                        }),
                    };
                    if let Some(&v) = prev {
                        check_churn_value(k, v, writers);
                    }
                }
                done.fetch_add(1, Ordering::Release);
            });
        }
        for r in 0..threads as u64 - writers {
            let (map, done, reads, start) = (&map, &done, &reads, &start);
            s.spawn(move || {
                let long = matches!(pin, Pin::Long).then(|| map.pin());
                let mut rng = Rng::new(100 + r);
                let mut n = 0;
                start.wait();
                while done.load(Ordering::Acquire) < writers as usize || n < 1000 {
                    let k = rng.below(CHURN_KEYS);
                    let v = match &long {
                        Some(m) => m.get(&k).copied(),
                        None => map.pin().get(&k).copied(),
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
    assert!(stats.resizes > 0, "{threads} threads {pin:?}: {stats:?}");
    assert!(reads.load(Ordering::Relaxed) >= 1000);
    let m = map.pin();
    let mut count = 0;
    let mut keys = HashSet::new();
    for (k, v) in m.iter() {
        assert!(*k < CHURN_KEYS);
        assert!(keys.insert(*k), "key {k} yielded twice");
        check_churn_value(*k, *v, writers);
        assert_eq!(m.get(k), Some(v));
        count += 1;
    }
    assert_eq!(map.len(), count);
    assert!(stats.slots <= 1024, "{stats:?}");
}

#[test]
fn churn_with_readers_pin_per_op() {
    for threads in THREADS {
        churn(threads, Pin::PerOp);
    }
}

#[test]
fn churn_with_readers_long_pin() {
    for threads in THREADS {
        churn(threads, Pin::Long);
    }
}

// ---------------------------------------------------------------------------
// Iteration while writers grow the map
// ---------------------------------------------------------------------------

const STABLE: u64 = 1_000;

fn iterate_while_growing(threads: usize, pin: Pin) {
    let per_writer = 20_000 * SCALE as u64;
    let writers = (threads / 2) as u64;
    let iterators = threads as u64 - writers;
    let map = HashMap::with_capacity(0);
    for k in 0..STABLE {
        map.pin().insert(k, value_of(k));
    }
    let resizes_before = map.stats().resizes;
    let done = AtomicUsize::new(0);
    let iterations = AtomicUsize::new(0);
    let start = Barrier::new(threads);
    thread::scope(|s| {
        for w in 0..writers {
            let (map, done, start) = (&map, &done, &start);
            s.spawn(move || {
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
                        assert_eq!(m.remove(&old), Some(&value_of(old)));
                        assert_eq!(m.insert(old, value_of(old)), None);
                        assert_eq!(m.remove(&(old - 1)).copied(), Some(value_of(old - 1)));
                    }
                }
                done.fetch_add(1, Ordering::Release);
            });
        }
        for _ in 0..iterators {
            let (map, done, iterations, start) = (&map, &done, &iterations, &start);
            s.spawn(move || {
                let total_keys = (STABLE + writers * per_writer) as usize;
                let mut seen = vec![false; total_keys];
                let mut n = 0;
                start.wait();
                // Iterate until the writers are done, and at least twice.
                while done.load(Ordering::Acquire) < writers as usize || n < 2 {
                    let m = map.pin();
                    seen.fill(false);
                    let mut stable = 0;
                    for (&k, &v) in m.iter() {
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
        "{threads} threads {pin:?}: {stats:?}"
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

#[test]
fn iterate_while_growing_pin_per_op() {
    for threads in THREADS {
        iterate_while_growing(threads, Pin::PerOp);
    }
}

#[test]
fn iterate_while_growing_long_pin() {
    for threads in THREADS {
        iterate_while_growing(threads, Pin::Long);
    }
}

// ---------------------------------------------------------------------------
// get during migration (grow and shrink)
// ---------------------------------------------------------------------------

const PRESENT: u64 = 512;

fn get_during_migration(threads: usize, pin: Pin) {
    let per_writer = 10_000 * SCALE as u64;
    let rounds = 3;
    let writers = (threads / 2) as u64;
    let map = HashMap::with_capacity(0);
    for k in 0..PRESENT {
        map.pin().insert(k, value_of(k));
    }
    let stop = AtomicBool::new(false);
    let max_slots = AtomicUsize::new(0);
    let lookups = AtomicUsize::new(0);
    let start = Barrier::new(threads);
    thread::scope(|s| {
        let writer_handles: Vec<_> = (0..writers)
            .map(|w| {
                let (map, max_slots, start) = (&map, &max_slots, &start);
                s.spawn(move || {
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
                                Some(m) => m.remove(&k).copied(),
                                None => map.pin().remove(&k).copied(),
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
                let long = matches!(pin, Pin::Long).then(|| map.pin());
                let mut rng = Rng::new(r + 7);
                let mut n = 0;
                start.wait();
                while !stop.load(Ordering::Relaxed) || n < 1000 {
                    let k = rng.below(PRESENT);
                    let v = match &long {
                        Some(m) => m.get(&k).copied(),
                        None => map.pin().get(&k).copied(),
                    };
                    assert_eq!(v, Some(value_of(k)), "key {k} lost during migration");
                    n += 1;
                }
                lookups.fetch_add(n, Ordering::Relaxed);
            });
        }
        for h in writer_handles {
            h.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
    });
    let stats = map.stats();
    // At least one grow and one shrink per round.
    assert!(
        stats.resizes >= 2 * rounds,
        "{threads} threads {pin:?}: {stats:?}"
    );
    assert!(lookups.load(Ordering::Relaxed) >= 1000);
    assert_eq!(map.len(), PRESENT as usize);
    let max_slots = max_slots.load(Ordering::Relaxed);
    // 512 keys need at most 4096 slots before a shrink is due (len * 8 <
    // slots); the check runs every 64th removal on large tables, hence 8192.
    assert!(
        stats.slots <= 8192 && max_slots >= 4 * stats.slots,
        "no shrink: max {max_slots} slots, now {stats:?}"
    );
    let m = map.pin();
    for k in 0..PRESENT {
        assert_eq!(m.get(&k), Some(&value_of(k)));
    }
    assert_eq!(m.iter().count(), PRESENT as usize);
}

#[test]
fn get_during_migration_pin_per_op() {
    for threads in THREADS {
        get_during_migration(threads, Pin::PerOp);
    }
}

#[test]
fn get_during_migration_long_pin() {
    for threads in THREADS {
        get_during_migration(threads, Pin::Long);
    }
}
