//! Reclamation checks that need the process to themselves. Pins are
//! process-wide: a thread of another test that is pinned (rightly) holds
//! back every free, so these checks, which assert that garbage is freed,
//! run here, one after the other in a single test, with nothing beside
//! them.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use lfmap::HashMap;

mod common;
use common::{retire_from_exiting_threads, Books, Tracked};

#[test]
fn reclamation_alone() {
    exited_threads_garbage_stays_bounded();
    a_word_map_iteration_that_finishes_a_resize_frees_the_old_table();
    building_from_an_iterator_does_not_pin_across_it();
    a_map_written_from_another_maps_destructors_frees();
}

/// `extend`, `collect` and deserializing insert each element under a pin
/// of its own, not under one pin across the caller's iterator, whose
/// `next` may run long or block (a deserializer reading a socket): what
/// another map removes while that iterator runs is freed before it ends.
/// (Found by review: one pin held across the whole `extend` held back the
/// frees of every map in the process.)
fn building_from_an_iterator_does_not_pin_across_it() {
    /// Counts its drops, by round.
    struct Counted<'a>(&'a AtomicUsize);
    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    let dropped = [AtomicUsize::new(0), AtomicUsize::new(0)];
    let other: HashMap<u64, Counted<'_>> = HashMap::new();
    // While the iterator yields its second element: retire a few batches'
    // worth of the other map's entries, and keep using that map (up to two
    // seconds) until some of them are freed.
    let freed_while_iterating = |round: usize| {
        for i in 0..256 {
            let k = (round as u64) << 32 | i;
            other.pin().insert(k, Counted(&dropped[round]));
            other.pin().remove(&k);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while dropped[round].load(SeqCst) == 0 && Instant::now() < deadline {
            for _ in 0..128 {
                drop(other.pin());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        dropped[round].load(SeqCst) > 0
    };
    let mut seen = Vec::new();
    let map: HashMap<u64, u64> = HashMap::new();
    (&map).extend((0..2).map(|i| {
        if i == 1 {
            seen.push(freed_while_iterating(0));
        }
        (i, i)
    }));
    let set: lfmap::HashSet<u64> = (0..2)
        .inspect(|&i| {
            if i == 1 {
                seen.push(freed_while_iterating(1));
            }
        })
        .collect();
    assert_eq!((map.len(), set.len()), (2, 2));
    assert_eq!(
        seen,
        [true, true],
        "an entry removed meanwhile stayed unfreed"
    );
}

/// Threads that retire entries and exit at once: their partial bags stay
/// with their records, and the next threads to hold those records go on
/// filling and sealing them, so the garbage pending stays bounded however
/// many threads come and go; the map frees every entry exactly once when
/// it drops. 64 generations of 4 threads retire 10,120 entries in all; if
/// the exited threads' bags were never freed they would all be pending by
/// the end (here it levels off near 1,300).
fn exited_threads_garbage_stays_bounded() {
    let books = Books::new();
    let map: HashMap<Tracked, Tracked> = HashMap::new();
    let mut most = 0;
    for generation in 0..64u64 {
        retire_from_exiting_threads(&map, &books, generation);
        most = most.max(map.stats().pending_garbage);
    }
    assert!(most < 4_000, "garbage pending grew to {most}");
    assert_eq!(map.len(), 40);
    drop(map);
    books.assert_balanced("exited threads' garbage");
}

/// A `WordMap` iteration that finishes a resize retires the old table
/// through its owned pin, and frees it when that pin ends if nothing else
/// is pinned: a quiet map holds no retired table afterwards. (Found by
/// review: the owned pin left it to a later pin's tick, or to the map's
/// drop if none came.)
fn a_word_map_iteration_that_finishes_a_resize_frees_the_old_table() {
    let map: lfmap::WordMap<u64, u64> = lfmap::WordMap::new();
    let mut k = 0;
    // Insert until a resize has started, then a few more keys: each helps
    // by a sub-chunk, so the migration is still under way.
    while map.stats().resizes < 12 || map.stats().resizes == map.stats().resizes_finished {
        map.insert(k, k);
        k += 1;
        // Bounded: if every resize finished inside the insert that started
        // it, this loop would grow the map until memory ran out.
        assert!(k < 1 << 22, "no resize left under way: {:?}", map.stats());
    }
    for _ in 0..8 {
        map.insert(k, k);
        k += 1;
    }
    let s = map.stats();
    assert!(
        s.resizes > s.resizes_finished,
        "the resize is under way: {s:?}"
    );
    assert_eq!(map.iter().count() as u64, k);
    let s = map.stats();
    assert_eq!(s.resizes, s.resizes_finished, "{s:?}");
    assert_eq!(s.pending_garbage, 0, "{s:?}");
}

/// A map written only from another map's values' destructors still frees
/// what it retires (the nesting bound of frees is a depth, not a flag:
/// with a flag, every write of the second map came from inside a free of
/// the first, and none of them ever freed; found by review).
fn a_map_written_from_another_maps_destructors_frees() {
    use std::ptr;
    use std::sync::atomic::AtomicPtr;

    /// The map the values' drops write, published while it lives (not a
    /// static: a map never dropped is a leak to LeakSanitizer).
    static COUNTS: AtomicPtr<HashMap<u64, u64>> = AtomicPtr::new(ptr::null_mut());
    /// Counts itself in `COUNTS` (a replace: one retirement there) when
    /// dropped.
    struct Counted;
    impl Drop for Counted {
        fn drop(&mut self) {
            let counts = COUNTS.load(SeqCst);
            if !counts.is_null() {
                // SAFETY: `COUNTS` points at the test's map only while it
                // is alive (cleared before it drops, after every
                // `Counted` was dropped).
                unsafe { &*counts }.pin().insert(0, 0);
            }
        }
    }
    let counts: HashMap<u64, u64> = HashMap::new();
    COUNTS.store(ptr::from_ref(&counts).cast_mut(), SeqCst);
    let values: HashMap<u64, Counted> = HashMap::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..200_000u64 {
                values.pin().insert(i % 1_000, Counted);
            }
        });
    });
    drop(values);
    COUNTS.store(ptr::null_mut(), SeqCst);
    let pending = counts.stats().pending_garbage;
    assert!(pending < 20_000, "{pending} retired entries never freed");
}
