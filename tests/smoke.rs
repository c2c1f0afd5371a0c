//! Quick sanity checks, each on both maps: grow and shrink on one thread,
//! disjoint inserts and shared counters on a few.

use std::thread;

mod common;
use common::{both_maps, Ops, TestMap};

fn single_thread_grow_shrink<M: TestMap>() {
    let map = M::new();
    let m = map.pin();
    for i in 0..100_000u64 {
        assert_eq!(m.insert(i, i * 2), None);
    }
    assert_eq!(m.len(), 100_000);
    for i in 0..100_000u64 {
        assert_eq!(m.get(&i), Some(i * 2), "key {i}");
    }
    assert_eq!(m.iter().count(), 100_000);
    for i in 0..100_000u64 {
        assert_eq!(m.remove(&i), Some(i * 2));
    }
    assert!(m.is_empty());
    drop(m);
    let m = map.pin();
    for i in 0..10u64 {
        m.insert(i, i);
    }
    drop(m);
    assert!(map.stats().slots <= 1024, "{:?}", map.stats());
}

fn threads_disjoint_inserts<M: TestMap>() {
    for threads in [2u64, 4, 8] {
        let map = M::new();
        thread::scope(|s| {
            for t in 0..threads {
                let map = &map;
                s.spawn(move || {
                    for i in 0..20_000u64 {
                        let m = map.pin();
                        assert_eq!(m.insert(t * 1_000_000 + i, i), None);
                    }
                });
            }
        });
        assert_eq!(map.len(), 20_000 * threads as usize);
        let m = map.pin();
        for t in 0..threads {
            for i in 0..20_000u64 {
                assert_eq!(m.get(&(t * 1_000_000 + i)), Some(i));
            }
        }
        assert_eq!(m.iter().count(), 20_000 * threads as usize);
    }
}

fn threads_update_counters<M: TestMap>() {
    let map = M::new();
    for k in 0..16u64 {
        map.pin().insert(k, 0);
    }
    thread::scope(|s| {
        for _ in 0..4 {
            let map = &map;
            s.spawn(move || {
                for i in 0..20_000u64 {
                    map.pin().update(&(i % 16), |v| v + 1);
                    map.pin().insert(1000 + i, i);
                }
            });
        }
    });
    let m = map.pin();
    let sum: u64 = (0..16u64).map(|k| m.get(&k).unwrap()).sum();
    assert_eq!(sum, 80_000);
}

both_maps!(
    single_thread_grow_shrink,
    threads_disjoint_inserts,
    threads_update_counters,
);
