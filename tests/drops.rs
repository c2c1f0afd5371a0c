//! Drop accounting: every key and value the map is given, or builds itself
//! (update's results, clones of keys), is dropped exactly once by the time
//! the map is dropped: no leak, no double drop.
//!
//! Each test has its own ledgers (the kit's [`Books`]: tests run in
//! parallel threads), and every tracked object has a serial number, so a
//! double drop is caught as such and not hidden by a leak elsewhere.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use lfmap::HashMap;

mod common;
use common::{settle, Books, Rng, Tracked};

type Map = HashMap<Tracked, Tracked>;

/// The value id a key is expected to hold, read through the map.
fn value_of(map: &Map, books: &Books, key: u64) -> Option<u64> {
    let probe = books.k(key);
    map.pin().get(&probe).map(Tracked::id)
}

#[test]
fn insert_over_existing_drops_old_value_and_one_key() {
    let books = Books::new();
    let map = Map::with_capacity(0);
    {
        let m = map.pin();
        for round in 0..5u64 {
            for k in 0..200u64 {
                let prev = m.insert(books.k(k), books.v(round * 1000 + k));
                assert_eq!(
                    prev.map(Tracked::id),
                    round.checked_sub(1).map(|r| r * 1000 + k)
                );
            }
        }
    }
    for k in 0..200 {
        assert_eq!(value_of(&map, &books, k), Some(4000 + k));
    }
    assert_eq!(map.len(), 200);
    // 1000 keys given, 200 live in the map (+ none of the probes).
    assert_eq!(books.keys.created(), 1200);
    drop(map);
    books.assert_balanced("insert over existing");
}

#[test]
fn removed_values_dropped() {
    let books = Books::new();
    let map = Map::with_capacity(0);
    {
        let m = map.pin();
        for k in 0..500u64 {
            m.insert(books.k(k), books.v(k));
        }
        for k in (0..500u64).step_by(3) {
            let probe = books.k(k);
            assert_eq!(m.remove(&probe).map(Tracked::id), Some(k));
            assert!(m.remove(&probe).is_none());
        }
        for k in (1..500u64).step_by(3) {
            let probe = books.k(k);
            let removed = m.remove_if(&probe, |key, v| key.id() == k && v.id() == k);
            assert_eq!(removed.map(|(k, v)| (k.id(), v.id())), Some((k, k)));
            // A failing predicate removes nothing.
            let probe = books.k(k + 1);
            assert!(m.remove_if(&probe, |_, _| false).is_none());
        }
    }
    assert_eq!(map.len(), 500 - 167 - 167);
    drop(map);
    books.assert_balanced("remove / remove_if");
}

#[test]
fn update_drops_replaced_values() {
    let books = Books::new();
    let map = Map::with_capacity(0);
    {
        let m = map.pin();
        for k in 0..100u64 {
            m.insert(books.k(k), books.v(0));
        }
        for round in 1..=20u64 {
            for k in 0..120u64 {
                let probe = books.k(k);
                let got = m.update(&probe, |v| books.v(v.id() + 1)).map(Tracked::id);
                assert_eq!(got, (k < 100).then_some(round));
            }
        }
    }
    for k in 0..100 {
        assert_eq!(value_of(&map, &books, k), Some(20));
    }
    // Each successful update built exactly one value (single thread: no
    // retries) and cloned the key once.
    assert_eq!(books.vals.created(), 100 + 20 * 100);
    drop(map);
    books.assert_balanced("update");
}

/// `compare_exchange` as the counters of Java's `replace(k, old, new)`
/// loops: threads raise shared counters, each step a compare-exchange
/// from the value read. No raise is lost (each counter ends at the number
/// of successful exchanges on it) while the table grows and shrinks under
/// them, a failed exchange gives its value
/// back (the test drops it, the ledger sees it once), and every replaced
/// value and cloned key is dropped exactly once.
#[test]
fn compare_exchange_loses_no_update_and_gives_back_what_it_did_not_store() {
    const COUNTERS: u64 = 8;
    let books = Books::new();
    let map = Map::with_capacity(0);
    for k in 0..COUNTERS {
        map.pin().insert(books.k(k), books.v(0));
    }
    let won = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let threads = 4u64;
    let steps = 3_000u64;
    // Even with the threads run one after another, a block and the
    // counters (208 keys) are past a 256-slot table's load limit (192).
    const BLOCK: u64 = 200;
    let most_slots = AtomicUsize::new(0);
    thread::scope(|s| {
        for t in 0..threads {
            let (map, books, won, failed, most_slots) = (&map, &books, &won, &failed, &most_slots);
            s.spawn(move || {
                let mut rng = Rng::new(t + 1);
                for i in 0..steps {
                    let k = rng.below(COUNTERS);
                    let probe = books.k(k);
                    let m = map.pin();
                    // Also grow and shrink the table under the exchanges:
                    // each thread holds up to `BLOCK` keys of its own,
                    // then removes them all.
                    let churn = books.k(1_000 + t * steps + i);
                    m.insert(churn, books.v(0));
                    loop {
                        let seen = m.get(&probe).expect("a counter is never removed").id();
                        let expected = books.v(seen);
                        match m.compare_exchange(&probe, &expected, books.v(seen + 1)) {
                            Ok(old) => {
                                assert_eq!(old.id(), seen);
                                won.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                            Err(e) => {
                                // Another thread raised it: a higher value.
                                let now = e.current.expect("present").id();
                                assert!(now > seen, "{now} after {seen}");
                                assert_eq!(e.new.id(), seen + 1, "the value given back");
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    if i % BLOCK == BLOCK - 1 {
                        for j in i + 1 - BLOCK..=i {
                            assert!(m.remove(&books.k(1_000 + t * steps + j)).is_some());
                        }
                    }
                    most_slots.fetch_max(map.stats().slots, Ordering::Relaxed);
                }
            });
        }
    });
    // The exchanges raced growths and shrinks, not only rebuilds.
    let (most, last) = (most_slots.into_inner(), map.stats().slots);
    assert!(
        most >= 256 && last < most,
        "slots: at most {most}, {last} at the end"
    );
    let m = map.pin();
    let total: u64 = (0..COUNTERS)
        .map(|k| m.get(&books.k(k)).unwrap().id())
        .sum();
    assert_eq!(total, threads * steps, "raises lost");
    assert_eq!(won.load(Ordering::Relaxed) as u64, threads * steps);
    // Absent key and mismatched value: nothing stored, `new` given back.
    let err = m
        .compare_exchange(&books.k(999_999), &books.v(0), books.v(7))
        .err()
        .expect("an absent key exchanges nothing");
    assert!(err.current.is_none());
    assert_eq!(err.new.id(), 7);
    drop(err);
    drop(m);
    assert_eq!(map.len(), COUNTERS as usize);
    eprintln!("{} exchanges failed and were retried", failed.into_inner());
    drop(map);
    books.assert_balanced("compare_exchange");
}

#[test]
fn get_or_insert_losers_dropped_at_once() {
    let books = Books::new();
    let map = Map::with_capacity(0);
    let m = map.pin();
    for k in 0..50u64 {
        assert_eq!(m.get_or_insert(books.k(k), books.v(k)).id(), k);
    }
    for k in 0..50u64 {
        let (kd, vd) = (books.keys.dropped(), books.vals.dropped());
        // The losing key and value were never published: they are freed
        // before the call returns, not deferred.
        assert_eq!(m.get_or_insert(books.k(k), books.v(999)).id(), k);
        assert_eq!(books.keys.dropped(), kd + 1, "loser key of {k}");
        assert_eq!(books.vals.dropped(), vd + 1, "loser value of {k}");

        let (kd, vd) = (books.keys.dropped(), books.vals.dropped());
        let mut made = false;
        let got = m.get_or_insert_with(books.k(k), || {
            made = true;
            books.v(998)
        });
        assert_eq!(got.id(), k);
        assert!(!made, "make() ran for a present key");
        assert_eq!(books.keys.dropped(), kd + 1);
        assert_eq!(books.vals.dropped(), vd);
    }
    for k in 50..80u64 {
        assert_eq!(m.get_or_insert_with(books.k(k), || books.v(k)).id(), k);
    }
    drop(m);
    assert_eq!(map.len(), 80);
    drop(map);
    books.assert_balanced("get_or_insert");
}

#[test]
fn clear_and_retain_drop_everything_removed() {
    let books = Books::new();
    let map = Map::with_capacity(0);
    for cycle in 0..10u64 {
        let m = map.pin();
        for k in 0..300u64 {
            m.insert(books.k(k), books.v(cycle));
        }
        m.retain(|k, v| k.id() % 3 == 0 && v.id() == cycle);
        assert_eq!(m.len(), 100);
        assert_eq!(m.iter().filter(|(k, _)| k.id() % 3 == 0).count(), 100);
        m.clear();
        assert!(m.is_empty());
        assert_eq!(m.iter().count(), 0);
    }
    drop(map);
    books.assert_balanced("clear / retain");
}

#[test]
fn drop_map_with_live_entries_and_tombstones() {
    for n in [0u64, 1, 5, 12, 13, 100, 1000] {
        let books = Books::new();
        let map = Map::with_capacity(0);
        {
            let m = map.pin();
            for k in 0..n {
                m.insert(books.k(k), books.v(k));
            }
            // Tombstones: removed keys keep their slot until a resize.
            for k in (0..n).step_by(2) {
                assert!(m.remove(&books.k(k)).is_some());
            }
            // Revive a few tombstones.
            for k in (0..n).step_by(4) {
                assert!(m.insert(books.k(k), books.v(k + 1)).is_none());
            }
        }
        drop(map);
        books.assert_balanced(&format!("n = {n}"));
    }
}

/// A resize helper frees the entries of a churning map's retired tables
/// too: with no other operation running, its steps alone free them all.
#[cfg(not(any(feature = "seize", feature = "crossbeam-epoch")))]
#[test]
fn a_resize_helper_frees_the_entries_of_retired_tables() {
    const WINDOW: u64 = 5_000;
    let books = Books::new();
    let map = Map::new();
    for k in 0..WINDOW {
        map.pin().insert(books.k(k), books.v(k));
    }
    // Churn until a table retired by a rebuild waits to be freed.
    let filled = map.stats().resizes;
    let mut k = WINDOW;
    while map.stats().pending_garbage == 0 || map.stats().resizes < filled + 2 {
        map.pin().insert(books.k(k), books.v(k));
        map.pin().remove(&books.k(k - WINDOW));
        k += 1;
        assert!(k < 100 * WINDOW, "no table was retired");
    }
    // The last removals wait in this thread's batch: hand them over too.
    map.pin().flush();
    let before = books.vals.dropped();
    let helper = map.resize_helper();
    // Pins elsewhere in the process (other tests' maps share the epoch
    // domain) may hold a retired table back for a while: step until the
    // garbage is gone, pausing when the helper finds nothing to do.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut steps = 0;
    while map.stats().pending_garbage > 0 {
        if helper.step() {
            steps += 1;
        } else {
            thread::sleep(std::time::Duration::from_micros(200));
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a helper alone never freed the garbage: {:?}",
            map.stats()
        );
    }
    assert!(steps > 0, "the helper found no work");
    assert!(books.vals.dropped() > before, "nothing was freed");
    drop(helper);
    drop(map);
    books.assert_balanced("churn, then a helper");
}

/// Drops the map at every point of a growth (and, from 1024 slots on, in
/// the middle of the incremental migration: a 1024-slot table takes 16
/// writes to migrate), and of a shrink that may stack on an unfinished growth.
#[test]
fn drop_map_mid_resize() {
    let books = Books::new();
    for n in (0..1700u64).step_by(7).chain(760..800) {
        let map = Map::with_capacity(0);
        {
            let m = map.pin();
            for k in 0..n {
                m.insert(books.k(k), books.v(k));
            }
        }
        assert_eq!(map.len(), n as usize);
        drop(map);
    }
    books.assert_balanced("grow then drop");

    let books = Books::new();
    for removed in (0..=780u64).step_by(13) {
        let map = Map::with_capacity(0);
        {
            let m = map.pin();
            for k in 0..780u64 {
                m.insert(books.k(k), books.v(k));
            }
            for k in 0..removed {
                assert_eq!(m.remove(&books.k(k)).map(Tracked::id), Some(k));
                if k % 5 == 0 {
                    m.update(&books.k(k + 1), |v| books.v(v.id()));
                }
            }
        }
        assert_eq!(map.len(), 780 - removed as usize);
        drop(map);
    }
    books.assert_balanced("shrink then drop");
}

/// Values that are maps themselves: replacing or removing an outer value
/// drops an inner map (and its entries) from inside the outer map's
/// reclamation.
#[test]
fn nested_maps_as_values() {
    let books = Books::new();
    {
        let outer: HashMap<u64, HashMap<Tracked, Tracked>> = HashMap::with_capacity(0);
        for round in 0..30u64 {
            let o = outer.pin();
            for k in 0..20u64 {
                let inner = HashMap::with_capacity(0);
                {
                    let i = inner.pin();
                    for j in 0..(round % 7) * 10 {
                        i.insert(books.k(j), books.v(round));
                    }
                }
                o.insert(k, inner);
            }
            for k in (0..20u64).step_by(3) {
                o.remove(&k);
            }
        }
    }
    books.assert_balanced("nested maps");
}

/// Many grow-to-N / delete-all cycles. Whatever the reclamation backend,
/// the objects alive after each cycle (garbage not yet freed) stay bounded
/// rather than growing with the number of cycles, and the books balance
/// once the map is dropped. Each cycle's count is taken after the map has
/// been used a little more (`settle`): the other tests of this binary run
/// beside this one, and a thread of theirs preempted while pinned holds
/// back every map's frees until it runs again (the default backend's
/// epochs are process-wide), which says nothing about this map's leaks.
#[test]
fn grow_shrink_cycles_do_not_leak() {
    const N: u64 = 2000;
    const CYCLES: u64 = 40;
    // Keys plus values alive with the map empty. Retired tables own their
    // tombstoned entries until the backend frees them, and seize frees in
    // batches, so a few cycles' worth (6N was seen) may be alive at once; a
    // leak would reach 2N per cycle, 80N by the end.
    const MAX_LIVE: usize = 10 * N as usize;
    let books = Books::new();
    let map = Map::with_capacity(0);
    let mut max_live = 0;
    for cycle in 0..CYCLES {
        for k in 0..N {
            map.pin().insert(books.k(k), books.v(cycle));
        }
        assert_eq!(map.len(), N as usize);
        for k in 0..N {
            assert_eq!(map.pin().remove(&books.k(k)).map(Tracked::id), Some(cycle));
        }
        assert!(map.is_empty());
        // The thread's last batch is partial (under 64 retirements): hand
        // it over, or settle waits its whole second for a seal that no
        // later write brings.
        map.pin().flush();
        settle(&map, 1);
        // Nothing is live in the map: whatever is alive is garbage in flight
        // (or tombstones in the current table).
        let live = books.keys.live() + books.vals.live();
        max_live = max_live.max(live);
        assert!(
            live <= MAX_LIVE,
            "cycle {cycle}: {live} objects alive with an empty map; {:?}",
            map.stats()
        );
    }
    // Small again after deleting everything (shrinks happen; a few writes
    // finish any migration still in flight).
    for k in 0..4u64 {
        map.pin().insert(books.k(k), books.v(0));
        map.pin().remove(&books.k(k));
    }
    let stats = map.stats();
    assert!(stats.slots <= 1024, "table never shrank: {stats:?}");
    drop(map);
    books.assert_balanced("grow/shrink cycles");
    assert!(
        max_live <= MAX_LIVE,
        "garbage grew with the number of cycles: max {max_live}"
    );
}

/// Threads churn insert / remove / update / get_or_insert / remove_if on
/// overlapping keys (so updates retry their CAS and discard closure results,
/// and resizes run under contention); then the map is dropped and every
/// object must have been dropped exactly once.
fn churn(threads: u64, keys: u64, ops: u64) {
    let books = Books::new();
    let map = Map::with_capacity(0);
    let update_calls = AtomicUsize::new(0);
    let updates_done = AtomicUsize::new(0);
    thread::scope(|s| {
        for t in 0..threads {
            let (map, books) = (&map, &books);
            let (update_calls, updates_done) = (&update_calls, &updates_done);
            s.spawn(move || {
                let mut rng = Rng::new(t);
                for i in 0..ops {
                    let x = rng.next_u64();
                    // Half the ops on 8 hot keys, half spread over `keys`.
                    let k = if x & 1 == 0 {
                        (x >> 8) % 8
                    } else {
                        (x >> 8) % keys
                    };
                    let m = map.pin();
                    match (x >> 4) % 8 {
                        0 | 1 => {
                            m.insert(books.k(k), books.v(i));
                        }
                        2 => {
                            m.remove(&books.k(k));
                        }
                        3 | 4 => {
                            let r = m.update(&books.k(k), |v| {
                                update_calls.fetch_add(1, Ordering::Relaxed);
                                books.v(v.id() + 1)
                            });
                            if let Some(v) = r {
                                v.id(); // not freed under us
                                updates_done.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        5 => {
                            m.get_or_insert(books.k(k), books.v(i)).id();
                        }
                        6 => {
                            m.remove_if(&books.k(k), |_, v| v.id() % 2 == 0);
                        }
                        _ => {
                            if let Some(v) = m.get(&books.k(k)) {
                                v.id();
                            }
                            if i % 512 == 0 {
                                for (k, v) in m.iter() {
                                    k.id();
                                    v.id();
                                }
                            }
                        }
                    }
                }
            });
        }
    });
    // The map is consistent: iteration agrees with len and lookups.
    {
        let m = map.pin();
        let entries: Vec<(u64, u64)> = m.iter().map(|(k, v)| (k.id(), v.id())).collect();
        assert_eq!(entries.len(), map.len());
        let mut ids: Vec<u64> = entries.iter().map(|e| e.0).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), entries.len(), "a key yielded twice");
        for (k, v) in entries {
            assert_eq!(m.get(&books.k(k)).map(Tracked::id), Some(v));
        }
    }
    let calls = update_calls.load(Ordering::Relaxed);
    let done = updates_done.load(Ordering::Relaxed);
    assert!(
        calls >= done,
        "{calls} update closure calls < {done} updates"
    );
    drop(map);
    books.assert_balanced(&format!("{threads} threads, {keys} keys"));
}

const CHURN_OPS: u64 = if cfg!(debug_assertions) {
    50_000
} else {
    400_000
};

#[test]
fn concurrent_churn_2_threads() {
    churn(2, 64, CHURN_OPS);
    churn(2, 2000, CHURN_OPS);
}

#[test]
fn concurrent_churn_4_threads() {
    churn(4, 64, CHURN_OPS / 2);
    churn(4, 2000, CHURN_OPS / 2);
}

#[test]
fn concurrent_churn_8_threads() {
    churn(8, 64, CHURN_OPS / 4);
    churn(8, 2000, CHURN_OPS / 4);
}

/// A closure whose result loses its CAS (another thread replaced the key
/// in between) runs again, and the result it built first is dropped:
/// `update`, `compute` and `update_or_insert`. The conflict is made, not
/// hoped for: each closure's first call has another thread replace the
/// key before it returns.
#[test]
fn a_closure_result_that_loses_its_cas_is_dropped() {
    let books = Books::new();
    let map = Map::with_capacity(0);
    let m = map.pin();
    m.insert(books.k(0), books.v(0));
    // Has another thread replace key 0's value with `id`.
    let replace_elsewhere = |id: u64| {
        thread::scope(|s| {
            s.spawn(|| {
                map.pin().insert(books.k(0), books.v(id));
            });
        });
    };
    let calls = AtomicUsize::new(0);
    let new = m.update(&books.k(0), |v| {
        if calls.fetch_add(1, Ordering::Relaxed) == 0 {
            replace_elsewhere(10);
        }
        books.v(v.id() + 1)
    });
    assert_eq!(new.map(Tracked::id), Some(11), "applied to the newer value");
    assert_eq!(calls.swap(0, Ordering::Relaxed), 2);
    let outcome = m.compute(books.k(0), |entry| {
        if calls.fetch_add(1, Ordering::Relaxed) == 0 {
            replace_elsewhere(20);
        }
        lfmap::Operation::<_, ()>::Insert(books.v(entry.map_or(0, |(_, v)| v.id()) + 1))
    });
    assert!(matches!(outcome, lfmap::Compute::Updated { new, .. } if new.id() == 21));
    assert_eq!(calls.swap(0, Ordering::Relaxed), 2);
    let v = m.update_or_insert(
        books.k(0),
        |v| {
            if calls.fetch_add(1, Ordering::Relaxed) == 0 {
                replace_elsewhere(30);
            }
            books.v(v.id() + 1)
        },
        books.v(99),
    );
    assert_eq!(v.id(), 31);
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    // Built: the first value, three by the other thread, two per closure
    // (one discarded each), and `update_or_insert`'s unused 99.
    assert_eq!(books.vals.created(), 1 + 3 + 3 * 2 + 1);
    drop(m);
    drop(map);
    books.assert_balanced("closure results that lost their CAS");
}

/// Concurrent updates on one key: every update lands exactly once (no lost
/// update), and every closure result, including those discarded by a failed
/// CAS, is dropped.
#[test]
fn concurrent_updates_one_key_drop_discarded_results() {
    let books = Books::new();
    let map = Map::with_capacity(0);
    map.pin().insert(books.k(0), books.v(0));
    const PER_THREAD: u64 = if cfg!(debug_assertions) {
        5_000
    } else {
        50_000
    };
    let calls = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..4 {
            let (map, books, calls) = (&map, &books, &calls);
            s.spawn(move || {
                for _ in 0..PER_THREAD {
                    let m = map.pin();
                    let new = m.update(&books.k(0), |v| {
                        calls.fetch_add(1, Ordering::Relaxed);
                        books.v(v.id() + 1)
                    });
                    assert!(new.is_some());
                }
            });
        }
    });
    // No update lost, none applied twice.
    assert_eq!(value_of(&map, &books, 0), Some(4 * PER_THREAD));
    let calls = calls.load(Ordering::Relaxed);
    assert!(calls >= 4 * PER_THREAD as usize);
    // Every closure call built one value (the initial one aside); those of
    // calls beyond one per update were discarded after a failed CAS.
    assert_eq!(books.vals.created(), 1 + calls);
    eprintln!("{} update retries", calls - 4 * PER_THREAD as usize);
    drop(map);
    books.assert_balanced("concurrent updates");
}
