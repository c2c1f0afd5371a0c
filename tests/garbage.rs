//! Garbage bounds: long churn on a small key set must not let retired
//! entries and tables pile up, and a grow-then-delete-all cycle must give
//! the table back. (Resident memory is checked in `tests/rss.rs`, alone in
//! its own binary.)

use std::thread;

use lfmap::HashMap;

mod common;
use common::{settle, Rng, UnwindBarrier};

/// Operations per churning thread.
const OPS: u64 = if cfg!(debug_assertions) {
    300_000
} else {
    1_000_000
};

/// Keys each churn touches.
const KEYS: u64 = 64;

/// Operations between two quiescent checks in multi-threaded churn.
const PHASE: u64 = 50_000;

/// Pending garbage allowed once the churn is over and the map has been
/// pinned and unpinned a few more times (`settle`). With seize, everything
/// retired has then been freed except each thread's partial batch (at most
/// `batch_size - 1`, 31 on small machines): a few dozen. crossbeam-epoch
/// frees a bag only after the global epoch has advanced twice, which needs
/// later pins, so a few bags of 64 may still wait. The default backend
/// (asymmetric epochs) keeps each record's partial bag (up to 63 entries)
/// and the freeable entries its writer adopted and had not freed yet when
/// it exited or stopped (up to 256: a writer parked at a barrier does not
/// tick), until the settling thread's scans sweep an exited writer's
/// record (`orphans.rs`: a sweep begins at most once per 10 ms, so it may
/// not have run yet when the bound is met); its sealed batches are freed by the scans of later unpins once
/// its paced epoch bump (at most one per millisecond) has run. Two
/// writers: at most 638, plus up to 256 that the settling thread's own
/// ticks adopt while a retired table waits (its later ticks free them). A
/// leak, or a
/// reclaimer that stops freeing, reaches hundreds of thousands over a run.
const QUIET_PENDING: usize = if cfg!(feature = "crossbeam-epoch") {
    10_000
} else {
    1_000
};

/// Pending garbage allowed at any moment. A thread preempted while pinned
/// holds back everything other threads retire meanwhile (that is how
/// epoch-style reclamation works), so on an oversubscribed machine running
/// samples reach tens of thousands; the bound only has to stay well below
/// the run's retirements (about 1.25 million in release).
const RUNNING_PENDING: usize = 500_000;

/// Slots allowed for 64 keys: the table never needs more than 256 (plus one
/// resize in flight), however many times the keys are removed and re-added.
const MAX_SLOTS: usize = 512;

/// A sample taken while other threads may be pinned.
fn sample_running<S>(map: &HashMap<u64, u64, S>) {
    let stats = map.stats();
    assert!(
        stats.pending_garbage < RUNNING_PENDING,
        "garbage piles up: {stats:?}"
    );
    assert!(stats.slots <= MAX_SLOTS, "table grows: {stats:?}");
}

/// A sample taken while no thread holds a pin, once the map has settled.
fn sample_quiet<S>(map: &HashMap<u64, u64, S>, when: &str) {
    settle(map, QUIET_PENDING);
    let stats = map.stats();
    assert!(
        stats.pending_garbage < QUIET_PENDING,
        "garbage not reclaimed {when}: {stats:?}"
    );
    assert!(stats.slots <= MAX_SLOTS, "table grows {when}: {stats:?}");
}

/// One churning thread: insert (often over an existing key), remove, update,
/// one pin per operation. Values are `key * 1_000_000_000 + op index * 10 +
/// thread`, so every returned value can be checked for its key. Every
/// [`PHASE`] operations the threads meet at `barrier`, unpinned, and thread 0
/// checks that the garbage was reclaimed.
fn churn(map: &HashMap<u64, u64>, thread: u64, barrier: &UnwindBarrier) -> usize {
    // A failed check in one thread breaks the barrier: the other fails at
    // it too, instead of waiting there forever.
    let barrier = barrier.enter();
    let mut rng = Rng::new(thread + 1);
    let check = |k: u64, v: Option<&u64>| {
        if let Some(&v) = v {
            assert_eq!(v / 1_000_000_000, k, "value {v} for key {k}");
        }
    };
    let mut quiet_checks = 0;
    for i in 0..OPS {
        let k = rng.below(KEYS);
        let v = k * 1_000_000_000 + i * 10 + thread;
        match rng.below(8) {
            0..=3 => check(k, map.pin().insert(k, v)),
            4..=6 => check(k, map.pin().remove(&k)),
            _ => check(k, map.pin().update(&k, |_| v)),
        }
        if i % 1_000 == 0 {
            sample_running(map);
        }
        if (i + 1) % PHASE == 0 {
            barrier.wait();
            if thread == 0 {
                sample_quiet(map, &format!("after {} ops per thread", i + 1));
                quiet_checks += 1;
            }
            barrier.wait();
        }
    }
    quiet_checks
}

#[test]
fn garbage_bounded_churn_one_thread() {
    let map = HashMap::with_capacity(0);
    // Model the single thread's map exactly, so every result is checked.
    let mut model = [None::<u64>; KEYS as usize];
    let mut rng = Rng::new(42);
    let mut max_pending = 0;
    for i in 0..OPS {
        let k = rng.below(KEYS);
        let slot = &mut model[k as usize];
        match rng.below(8) {
            0..=3 => {
                assert_eq!(map.pin().insert(k, i).copied(), *slot, "insert {k}");
                *slot = Some(i);
            }
            4..=6 => {
                assert_eq!(map.pin().remove(&k).copied(), slot.take(), "remove {k}");
            }
            _ => {
                let got = map.pin().update(&k, |_| i).copied();
                if slot.is_some() {
                    *slot = Some(i);
                }
                assert_eq!(got, *slot, "update {k}");
            }
        }
        if i % 1_000 == 0 {
            // Single thread, no pin held here: always quiet.
            sample_quiet(&map, &format!("after {i} ops"));
            max_pending = max_pending.max(map.stats().pending_garbage);
        }
    }
    let stats = map.stats();
    assert!(stats.resizes > 0, "{stats:?}");
    // Sanity: garbage was produced and tracked at all. (crossbeam-epoch
    // collects the single thread's garbage at its next pin, so samples taken
    // between pins may all read zero there.)
    if !cfg!(feature = "crossbeam-epoch") {
        assert!(max_pending > 0, "{stats:?}");
    }
    let m = map.pin();
    let present = model.iter().filter(|v| v.is_some()).count();
    assert_eq!(map.len(), present);
    assert_eq!(m.iter().count(), present);
    for k in 0..KEYS {
        assert_eq!(m.get(&k).copied(), model[k as usize], "key {k}");
    }
}

#[test]
fn garbage_bounded_churn_two_threads() {
    let map = HashMap::with_capacity(0);
    let barrier = UnwindBarrier::new(2);
    let quiet_checks: usize = thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let (map, barrier) = (&map, &barrier);
                s.spawn(move || churn(map, t, barrier))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(quiet_checks as u64, OPS / PHASE);
    let stats = map.stats();
    assert!(stats.resizes > 0, "{stats:?}");
    sample_quiet(&map, "after the threads exited");
    for i in 0..10_000 {
        map.pin().insert(i % KEYS, i);
    }
    sample_quiet(&map, "after more inserts");
    assert_eq!(map.len(), KEYS as usize);
}

/// Threads come and go: garbage left behind by exited threads must not
/// accumulate from one generation of threads to the next.
#[test]
fn garbage_bounded_across_thread_generations() {
    let map = HashMap::with_capacity(0);
    let generations = if cfg!(debug_assertions) { 20 } else { 50 };
    let mut pending = Vec::new();
    for g in 0..generations {
        thread::scope(|s| {
            for t in 0..2 {
                let map = &map;
                s.spawn(move || {
                    let mut rng = Rng::new(g * 2 + t + 1);
                    for i in 0..20_000u64 {
                        let k = rng.below(KEYS);
                        if i % 2 == 0 {
                            map.pin().insert(k, i);
                        } else {
                            map.pin().remove(&k);
                        }
                    }
                });
            }
        });
        settle(&map, QUIET_PENDING);
        let stats = map.stats();
        assert!(stats.slots <= MAX_SLOTS, "generation {g}: {stats:?}");
        pending.push(stats.pending_garbage);
    }
    // Each generation leaves at most a partial batch per thread slot behind,
    // and seize hands a new thread an exited thread's slot.
    let max = pending.iter().max().unwrap();
    assert!(
        *max < QUIET_PENDING,
        "pending garbage per generation: {pending:?}"
    );
}

/// Keys of the grow-then-delete-all cycle.
const GROW_KEYS: u64 = if cfg!(debug_assertions) {
    300_000
} else {
    1_000_000
};

/// Inserts `n` keys from `threads` threads, removes them all, and checks
/// that the table shrinks back to (nearly) its minimum.
fn grow_then_delete_all(threads: u64, n: u64) {
    let map = HashMap::with_capacity(0);
    let per = n / threads;
    thread::scope(|s| {
        for t in 0..threads {
            let map = &map;
            s.spawn(move || {
                for k in t * per..(t + 1) * per {
                    assert_eq!(map.pin().insert(k, k), None);
                }
            });
        }
    });
    let grown = map.stats();
    assert_eq!(grown.len, n as usize);
    assert!(grown.slots >= n as usize, "{grown:?}");
    thread::scope(|s| {
        for t in 0..threads {
            let map = &map;
            s.spawn(move || {
                for k in t * per..(t + 1) * per {
                    assert_eq!(map.pin().remove(&k), Some(&k));
                }
            });
        }
    });
    // A few more operations.
    for k in 0..10u64 {
        map.pin().insert(k, k);
    }
    for k in 0..10u64 {
        assert_eq!(map.pin().remove(&k), Some(&k));
    }
    let stats = map.stats();
    assert_eq!(stats.len, 0);
    assert!(map.pin().iter().next().is_none());
    assert!(
        stats.slots <= 64,
        "table did not shrink: grown {grown:?}, now {stats:?}"
    );
    assert!(stats.resizes > grown.resizes, "{stats:?}");
    assert!(stats.pending_garbage < QUIET_PENDING, "{stats:?}");
}

#[test]
fn grow_then_delete_all_shrinks_one_thread() {
    grow_then_delete_all(1, GROW_KEYS);
}

#[test]
fn grow_then_delete_all_shrinks_two_threads() {
    grow_then_delete_all(2, GROW_KEYS);
}

/// A key that counts its drops: a removed key's entry stays in its table
/// as a tombstone until the table is freed, so the count says which
/// retired tables are gone.
struct Counted(u64, &'static std::sync::atomic::AtomicUsize);

impl PartialEq for Counted {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Counted {}
impl std::hash::Hash for Counted {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.0.hash(h);
    }
}
impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A map sized with `with_capacity(n)`, grown to `3n` keys and emptied
/// down to 1,000: the removals shrink its table to the floor, a table half
/// the size, whose predecessor (holding a tombstone per removed key) is
/// then freed a step at a time by later writes. `shrink_to_fit`, which
/// asks for the memory back, frees it whole (found by an outside test: 90
/// MiB of a map of 1,000 keys stayed resident through `shrink_to_fit`
/// and 100,000 writes). Checked by the keys' drops: every removed key's
/// tombstone is freed once its table is.
#[test]
fn shrink_to_fit_frees_the_tables_left_to_steps() {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let n = if cfg!(debug_assertions) {
        30_000
    } else {
        100_000
    };
    let keep = 1_000u64;
    let map: HashMap<Counted, u64> = HashMap::with_capacity(n);
    for k in 0..3 * n as u64 {
        map.pin().insert(Counted(k, &DROPS), k);
    }
    let grown = map.stats().slots;
    for k in keep..3 * n as u64 {
        map.pin().remove(&Counted(k, &DROPS));
    }
    // The lookups' keys are dropped too: count from here.
    let floor = map.stats();
    assert!(
        floor.slots * 2 == grown,
        "the removals shrank the table to the floor, half the grown table: {grown} -> {floor:?}"
    );
    map.shrink_to_fit();
    assert!(map.stats().slots < floor.slots / 8, "{:?}", map.stats());
    // The table `shrink_to_fit` itself retired goes whole at a later scan
    // (a shrink's): a few pins let one run. Far fewer than the reads' own
    // steps would need to free the older table (64 entries a pacing tick).
    let removed = 3 * n - keep as usize;
    // The removals' own arguments, then each lookup's.
    let mut arguments = removed;
    let freed = |arguments: usize| DROPS.load(Relaxed) - arguments;
    for _ in 0..2_000 {
        let _ = map.pin().get(&Counted(0, &DROPS));
        arguments += 1;
        if freed(arguments) >= removed {
            break;
        }
    }
    assert_eq!(
        freed(arguments),
        removed,
        "removed keys freed after shrink_to_fit ({:?})",
        map.stats()
    );
    assert_eq!(map.len(), keep as usize);
}
