//! A spike of threads or owned guards does not make every later map
//! bigger.
//!
//! Each map keeps a few per-party values (bags of retired entries, key
//! counters) by the index of the party's reclamation record, allocated up
//! to the highest index that used the map. Records outlive their parties
//! and are claimed again; if a claim took any free record, the threads
//! that came after a spike would hold the spike's highest indices, and
//! every map made afterwards would allocate per-party values for all of
//! them. Claims take the lowest free record instead.
//!
//! Measured with a global allocator that counts live bytes, so this binary
//! holds a single test and nothing runs beside it.

use std::thread;

use lfmap::{HashMap, WordMap};

mod common;
use common::UnwindBarrier;

#[global_allocator]
static ALLOC: common::Counting = common::Counting;

/// Parties alive at once in each spike.
const SPIKE: usize = 300;

/// Heap bytes that a new thread's small maps hold: a `HashMap` with a few
/// writes, removals and a `len`, and a `WordMap` likewise, made, used and
/// measured in a thread of their own (which claims a record as any new
/// thread does).
fn small_maps_bytes() -> usize {
    thread::spawn(|| {
        let before = common::live_bytes();
        let map: HashMap<u64, u64> = HashMap::new();
        let words: WordMap<u64, u64> = WordMap::new();
        for k in 0..4 {
            map.pin().insert(k, k);
            words.insert(k, k);
        }
        // Removals retire entries: the map's bag for this party is used.
        map.pin().remove(&0);
        words.remove(&0);
        assert_eq!(map.len(), 3);
        assert_eq!(words.len(), 3);
        let held = common::live_bytes().saturating_sub(before);
        drop((map, words));
        held
    })
    .join()
    .expect("the measuring thread")
}

/// Heap bytes that a small `HashMap` used through owned guards holds,
/// made and measured on the calling thread: each guard's record is the
/// thread's spare, whose index sizes the map's per-party values.
fn small_map_bytes_through_owned_guards() -> usize {
    let before = common::live_bytes();
    let map: HashMap<u64, u64> = HashMap::new();
    for k in 0..4 {
        map.pin_owned().insert(k, k);
    }
    map.pin_owned().remove(&0);
    assert_eq!(map.len(), 3);
    let held = common::live_bytes().saturating_sub(before);
    drop(map);
    held
}

#[test]
fn maps_made_after_a_spike_of_parties_cost_what_they_cost_before() {
    // Warm up: the first use of each map kind makes process-wide state
    // (the registry's first records, allocator caches) that later uses
    // find.
    small_maps_bytes();
    let before = small_maps_bytes();
    small_map_bytes_through_owned_guards();
    let before_owned = small_map_bytes_through_owned_guards();

    // A spike of threads, all pinned at once, each on a record of its own.
    let shared: HashMap<u64, u64> = HashMap::new();
    let shared_words: WordMap<u64, u64> = WordMap::new();
    let barrier = UnwindBarrier::new(SPIKE);
    thread::scope(|s| {
        let handles: Vec<_> = (0..SPIKE as u64)
            .map(|t| {
                let (shared, shared_words, barrier) = (&shared, &shared_words, &barrier);
                s.spawn(move || {
                    let barrier = barrier.enter();
                    let guard = shared.pin();
                    guard.insert(t, t);
                    shared_words.insert(t, t);
                    barrier.wait();
                    drop(guard);
                })
            })
            .collect();
        // Joined through their handles: a handle's join waits for the
        // thread's exit, thread-locals (and their records' release)
        // included.
        for h in handles {
            h.join().expect("a spike thread");
        }
    });
    // A spike of owned guards on this thread, dropped from the last: the
    // thread keeps one record as its spare for its next owned guards,
    // which must be the spike's lowest, not its highest.
    let mut owned: Vec<_> = (0..SPIKE).map(|_| shared.pin_owned()).collect();
    while let Some(guard) = owned.pop() {
        drop(guard);
    }
    drop(owned);
    drop((shared, shared_words));

    let after = small_maps_bytes();
    // Before the fix a new thread held one of the spike's highest records
    // and these maps allocated their per-party values up to it: 100 KiB
    // and more, against a few KiB.
    assert!(
        after <= before + 4096,
        "small maps made after a spike of {SPIKE} parties hold {after} bytes, {before} before it"
    );
    let after_owned = small_map_bytes_through_owned_guards();
    assert!(
        after_owned <= before_owned + 4096,
        "a small map used through owned guards after a spike of {SPIKE} owned guards holds \
         {after_owned} bytes, {before_owned} before it"
    );
}
