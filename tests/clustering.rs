//! Issue #12: the order keys are removed in must not cluster a table.
//!
//! Iteration walks slots in order, and a slot's home comes from the key's
//! hash, so `clear`, `retain` and any loop that removes what it iterates
//! remove keys by ascending home; the survivors hold the top homes. These
//! tests remove keys in iteration order, in hash order, from a sweep, and
//! from two threads while others read, on both maps, and then assert on the
//! shape of the table ([`lfmap::ProbeStats`]): lookups stay a few slots
//! long. They assert behaviour, never time: a clustered table shows up as a
//! mean probe in the hundreds or thousands, and as a run of claimed slots
//! as long as the map.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use lfmap::ProbeStats;

mod common;
use common::{both_maps, Ops, Shape, ShapedHash, TestMap};

/// Keys in the map for the large scenarios (2^18, as the issue asks).
const N: u64 = 1 << 18;

/// A table whose mean lookup stays under this many slots is unclustered
/// (linear probing expects at most 2.5 at the 3/4 load lfmap allows).
const MEAN: f64 = 3.5;
/// Longest lookup and longest claimed run allowed: Θ(log n) for linear
/// probing on a well-spread table (tens of slots at 2^18 keys), against
/// tens of thousands in the clustered tables issue #12 measured.
const LONGEST: usize = 400;

// Every scenario stores `!k` under key `k`.

fn filled<M: TestMap>(n: u64) -> M {
    let map = M::new();
    (0..n).for_each(|k| assert_eq!(map.pin().insert(k, !k), None));
    map
}

/// The table is unclustered, holds exactly `want`, and lookups agree.
fn assert_healthy<M: TestMap>(map: &M, want: &HashSet<u64>, ctx: &str) {
    assert_eq!(map.len(), want.len(), "{ctx}: len");
    let got: HashSet<u64> = map.keys().into_iter().collect();
    assert_eq!(got.len(), want.len(), "{ctx}: iteration");
    assert!(got == *want, "{ctx}: contents differ");
    for &k in want {
        assert_eq!(map.pin().get(&k), Some(!k), "{ctx}: lost {k}");
    }
    let stats = map.stats();
    let probes = map.probe_stats();
    if stats.resizes == stats.resizes_finished {
        assert_eq!(probes.keys, want.len(), "{ctx}: {probes:?}");
    }
    assert!(
        probes.mean_probe() <= MEAN && probes.max_probe <= LONGEST && probes.longest_run <= LONGEST,
        "{ctx}: clustered table: mean probe {:.2}, {probes:?}, {stats:?}",
        probes.mean_probe()
    );
}

/// Removes `order[..len - keep]` and checks the table, then inserts as many
/// fresh keys again (growing back through the thinned table) and checks it.
fn remove_prefix_then_refill<M: TestMap>(map: &M, order: &[u64], keep: usize, ctx: &str) {
    let cut = order.len() - keep;
    for &k in &order[..cut] {
        assert_eq!(map.pin().remove(&k), Some(!k), "{ctx}: remove {k}");
    }
    let mut want: HashSet<u64> = order[cut..].iter().copied().collect();
    assert_healthy(map, &want, &format!("{ctx}, after removals"));
    for k in (1 << 40)..(1 << 40) + cut as u64 {
        map.pin().insert(k, !k);
        want.insert(k);
    }
    assert_healthy(map, &want, &format!("{ctx}, refilled"));
}

const FIVE_PERCENT: usize = (N / 20) as usize;

fn iteration_order<M: TestMap>() {
    let map: M = filled(N);
    let order = map.keys();
    remove_prefix_then_refill(
        &map,
        &order,
        FIVE_PERCENT,
        &format!("{} iteration order", M::NAME),
    );
}

fn during_iteration<M: TestMap>() {
    let map: M = filled(N);
    {
        // Remove each key as the iterator yields it, until 95% are gone.
        let m = map.pin();
        for (k, _) in m.iter().take(N as usize - FIVE_PERCENT) {
            assert_eq!(m.remove(&k), Some(!k));
        }
    }
    let want: HashSet<u64> = map.keys().into_iter().collect();
    assert_eq!(want.len(), FIVE_PERCENT);
    let ctx = format!("{} removing while iterating", M::NAME);
    assert_healthy(&map, &want, &ctx);
}

fn hash_order<M: TestMap>() {
    let map: M = filled(N);
    let mut order = map.keys();
    order.sort_by_key(|&k| map.hash(k));
    let ctx = format!("{} hash order", M::NAME);
    remove_prefix_then_refill(&map, &order, FIVE_PERCENT, &ctx);
}

/// A map built large enough never to shrink: removals leave tombstones in
/// place, and the refill must not pile onto the survivors' range.
fn presized_iteration_order<M: TestMap>() {
    let map = M::with_capacity(N as usize);
    (0..N).for_each(|k| assert_eq!(map.pin().insert(k, !k), None));
    let order = map.keys();
    let ctx = format!("{} presized", M::NAME);
    remove_prefix_then_refill(&map, &order, FIVE_PERCENT, &ctx);
}

fn clear_and_retain<M: TestMap>() {
    let name = M::NAME;
    let map: M = filled(N);
    map.pin().clear();
    assert_healthy(&map, &HashSet::new(), &format!("{name} clear"));
    let stats = map.stats();
    assert!(
        stats.slots <= 64 && stats.tombstones == 0,
        "{name} clear: {stats:?}"
    );

    // Keep the last 5% that `retain` visits: its own order, the adversary.
    (0..N).for_each(|k| assert_eq!(map.pin().insert(k, !k), None));
    let mut visited = 0;
    let mut kept = HashSet::new();
    map.pin().retain(|k, _| {
        visited += 1;
        let keep = visited > N as usize - FIVE_PERCENT;
        if keep {
            kept.insert(k);
        }
        keep
    });
    assert_eq!(kept.len(), FIVE_PERCENT);
    assert_healthy(&map, &kept, &format!("{name} retain"));

    // A presized map keeps its table through `clear` but not its
    // tombstones.
    let map = M::with_capacity(N as usize);
    (0..N).for_each(|k| assert_eq!(map.pin().insert(k, !k), None));
    let slots = map.stats().slots;
    map.pin().clear();
    let stats = map.stats();
    assert_eq!(
        (stats.slots, stats.tombstones, stats.len),
        (slots, 0, 0),
        "{name}"
    );
}

/// Two threads remove the first 95% of the iteration order (one half
/// each, concurrently, so their shrinks and rebuilds race) while two
/// readers check that every survivor stays visible.
fn concurrent<M: TestMap>() {
    let name = M::NAME;
    let map: M = filled(N);
    let order = map.keys();
    let cut = order.len() - FIVE_PERCENT;
    let (doomed, survivors) = order.split_at(cut);
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let removers: Vec<_> = doomed
            .chunks(cut.div_ceil(2))
            .map(|half| {
                let map = &map;
                s.spawn(move || {
                    for &k in half {
                        assert_eq!(map.pin().remove(&k), Some(!k), "{name}: remove {k}");
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|r| {
                let (map, done) = (&map, &done);
                s.spawn(move || {
                    let mut rounds = 0u64;
                    let mut i = r;
                    // At least one full pass, however the threads are scheduled.
                    while !done.load(Ordering::Relaxed) || rounds < survivors.len() as u64 {
                        let k = survivors[i % survivors.len()];
                        let got = map.pin().get(&k);
                        assert_eq!(got, Some(!k), "{name}: survivor {k} not found");
                        i += 7;
                        rounds += 1;
                    }
                })
            })
            .collect();
        // Join the removers (a failed one fails the test here, rather than
        // leaving the readers spinning), then release the readers.
        let removed = removers.into_iter().map(|r| r.join()).collect::<Vec<_>>();
        done.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
        for r in removed {
            r.unwrap();
        }
    });
    let want: HashSet<u64> = survivors.iter().copied().collect();
    assert_healthy(&map, &want, &format!("{name} concurrent removal"));
}

/// Sequential keys under an identity hasher, in many maps (each draws its
/// own placement salt) and through shrinks (each draws another): no table
/// clusters. With a random multiplier per table instead, about one map in a
/// few hundred piled 3,000 such keys into one run (mean probe 1,484).
fn identity_hash_sequential_keys_never_cluster<M: TestMap<Hasher = ShapedHash>>() {
    let check = |p: ProbeStats, ctx: &str| {
        assert!(
            p.mean_probe() <= MEAN && p.longest_run <= LONGEST,
            "{ctx}: mean probe {:.2}, {p:?}",
            p.mean_probe()
        );
    };
    for round in 0..150 {
        let map = M::with_hasher(ShapedHash(Shape::Identity));
        {
            let m = map.pin();
            for k in 0..3000 {
                m.insert(k, k);
            }
        }
        check(map.probe_stats(), &format!("{} round {round}", M::NAME));
        // Shrink through rebuilt placements, keeping keys 0..200 (still
        // evenly spaced: what `well_spread` vouches for; other spacings
        // `d` depend on `d * m`, which no choice of `m` can vouch for
        // all at once).
        {
            let m = map.pin();
            for k in 200..3000 {
                m.remove(&k);
            }
        }
        let ctx = format!("{} round {round}, shrunk", M::NAME);
        check(map.probe_stats(), &ctx);
    }
}

both_maps!(
    iteration_order,
    during_iteration,
    hash_order,
    presized_iteration_order,
    clear_and_retain,
    concurrent,
    identity_hash_sequential_keys_never_cluster<ShapedHash>,
);
