//! A map that stops growing short of its resize gives back the table it
//! prepared for it (`src/resize/stall.rs`, `src/resize/prepared.rs`).
//!
//! Past 5/8 of its load limit a table allocates its successor, twice its
//! size, and the writes fault it in, so that the resize takes no page
//! fault. A map whose growth stops between 5/8 and 3/4 (a load that ends
//! there, then reads) held that table for good: up to twice its memory.
//!
//! Resident memory is process-wide, so this binary holds a single test.

#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use lfmap::WordMap;

mod common;

/// The table the map stops in: 2^20 slots, 16 MiB; its prepared successor
/// is 32 MiB.
const SLOTS: usize = 1 << 20;

/// How long the reads may take to release it: far beyond the second of
/// reads the watch waits, so that only reads that never release fail it,
/// however loaded the machine.
const DEADLINE: Duration = Duration::from_secs(120);

const MIB: usize = 1024;

/// A `WordMap` loaded to 70 % of [`SLOTS`] (past 5/8, where its successor
/// is prepared and about four fifths faulted in, short of the 3/4 that
/// starts the growth), then only read: the reads release the successor and
/// resident memory drops by most of it. The map then grows on: it prepares
/// its successor again, so the growth takes almost no page fault, and
/// every key is kept.
#[test]
fn a_map_that_stops_growing_gives_its_prepared_table_back() {
    let map: WordMap<u64, u64> = WordMap::new();
    let n = (SLOTS as u64) * 7 / 10;
    for k in 0..n {
        map.insert(k, k);
    }
    // Measured before any read: a lone writer's own claims keep its
    // watch from calling its load a stall (`stall.rs`), so nothing is
    // released yet, whatever the machine's load.
    let before = common::vm_rss_kib();
    let s = map.stats();
    assert_eq!(s.slots, SLOTS, "{s:?}");
    assert_eq!(s.prepared_released, 0, "{s:?}");

    read_until_released(&map, n, 1);
    // The released table is retired; reads' pins let it be freed.
    while map.stats().pending_garbage > 0 {
        for k in 0..1_000 {
            assert_eq!(map.get(&k), Some(k));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let after = common::vm_rss_kib();
    println!("released: RSS {} → {} MiB", before / MIB, after / MIB);
    assert!(
        after + 16 * MIB <= before,
        "RSS {before} KiB → {after} KiB: the 32 MiB prepared table was not given back"
    );

    // The map grows on. 1/64 of the slots later it prepares its successor
    // again, and by 23/32 every memory step of it is faulted in, so the
    // resize at 3/4 faults in almost nothing.
    let mut k = n;
    grow_through_a_prepared_resize(&map, &mut k, "after a release");
    let s = map.stats();
    assert_eq!(s.slots, 2 * SLOTS, "{s:?}");
    // Nothing else released: a lone writer's watch sees its own claims.
    assert_eq!(s.prepared_released, 1, "{s:?}");
    assert_eq!(map.len() as u64, k);
    for i in 0..k {
        assert_eq!(map.get(&i), Some(i), "key {i}");
    }

    // Now a stop in the last 1/64 of the table before its growth (74.5 %
    // of 2^21 slots): the successor is released again, and prepared again
    // at the next claim (never later than 23/32), so the resize that
    // follows still finds it faulted in. (Found by an outside test: the
    // retry point lay past the growth, which then took 64k page faults.)
    while k < (2 * SLOTS as u64) / 1000 * 745 {
        map.insert(k, k);
        k += 1;
    }
    read_until_released(&map, k, 2);
    // Prepared again this late, its steps are spread over the claims
    // left before the resize, not all taken by the first writes (found by
    // an outside test: one step a landing count put 20 ms into a batch of
    // 256 inserts). The first 1,024 inserts fault in about a fifth of the
    // successor's pages; all due at once, they faulted in all of them.
    let before = common::minor_faults();
    for _ in 0..1_024 {
        map.insert(k, k);
        k += 1;
    }
    let faults = common::minor_faults() - before;
    let pages = (4 * SLOTS * 16 / 4096) as u64;
    println!("{faults} page faults in the first 1,024 inserts after a late stop");
    assert!(
        faults < pages / 2,
        "{faults} page faults in the first 1,024 inserts: the successor's {pages} pages \
         were faulted in at once"
    );
    assert_eq!(map.stats().slots, 2 * SLOTS);
    grow_through_a_prepared_resize(&map, &mut k, "after a late stop");
    assert_eq!(map.len() as u64, k);
}

/// Inserts keys `k..` until `map`'s next resize has finished, and checks
/// that the resize (from its start: the faults before it include the
/// memory steps of its table, which count as this thread's too) took
/// almost no page fault: its table was prepared and faulted in.
fn grow_through_a_prepared_resize(map: &WordMap<u64, u64>, k: &mut u64, after: &str) {
    let s = map.stats();
    while map.stats().resizes == s.resizes {
        map.insert(*k, *k);
        *k += 1;
    }
    let before = common::minor_faults();
    while map.stats().resizes_finished == s.resizes_finished {
        map.insert(*k, *k);
        *k += 1;
    }
    let faults = common::minor_faults() - before;
    let pages = (map.stats().slots * 16 / 4096) as u64;
    println!("{faults} page faults in a resize into a table of {pages} pages, {after}");
    if !common::skipped() {
        assert!(
            faults < pages / 8,
            "{faults} page faults in a resize into a table of {pages} pages {after}: \
             its table was not prepared"
        );
    }
}

/// Reads keys `0..n` of `map` (with pauses) until `released` prepared
/// tables have been released in all.
fn read_until_released(map: &WordMap<u64, u64>, n: u64, released: u64) {
    let begun = Instant::now();
    while map.stats().prepared_released < released {
        for k in (0..n).step_by(7) {
            assert_eq!(map.get(&k), Some(k), "key {k} lost");
        }
        assert!(
            begun.elapsed() < DEADLINE,
            "after {:?} of reads the prepared table is still held: {:?}",
            begun.elapsed(),
            map.stats()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
