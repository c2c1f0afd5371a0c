//! The default reclaimer and the entry cache, from outside (issue #14):
//! each retired entry is freed exactly once, whichever thread, map or
//! backend frees it; a thread that exits with retired entries in its bag
//! loses nothing and leaks nothing; and garbage stays bounded while a
//! reader pins on and off beside writers that churn.
//!
//! Entry blocks are recycled through a per-thread cache (`src/raw/pool.rs`)
//! shared by every map whose entries have the same size: the ledgers here
//! catch a block handed out while still holding a live entry (a value
//! dropped twice, or never), and CI runs these tests under LeakSanitizer
//! (with the cache off, so a lost block shows) and under each backend.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use lfmap::HashMap;

mod common;
use common::{retire_from_exiting_threads, settle, vm_rss_kib, Books, Rng, StopOnDrop, Tracked};

/// Two maps with entries of one size, used in turns by several threads:
/// blocks freed by one map's reclaimer (and by its drop) serve the other
/// map's next entries; every value is still dropped exactly once.
#[test]
fn entry_blocks_move_between_maps_and_threads() {
    let books = Books::new();
    for round in 0..4u64 {
        let (a, b) = (HashMap::new(), HashMap::new());
        thread::scope(|s| {
            for t in 0..3u64 {
                let (a, b, books) = (&a, &b, &books);
                s.spawn(move || {
                    let mut rng = Rng::new(round * 10 + t);
                    for i in 0..20_000u64 {
                        let k = rng.below(256);
                        let map = if (i + t) % 2 == 0 { a } else { b };
                        let m = map.pin();
                        match rng.below(4) {
                            0 | 1 => drop(m.insert(books.k(k), books.v(i))),
                            2 => drop(m.remove(&books.k(k))),
                            _ => drop(m.update(&books.k(k), |v| books.v(v.id() + 1))),
                        }
                    }
                });
            }
        });
        // `a` goes first: its entries' blocks return to this thread's
        // cache, and `b`'s last writes below take them.
        drop(a);
        {
            let m = b.pin();
            for k in 0..512u64 {
                m.insert(books.k(k), books.v(k));
            }
        }
        drop(b);
    }
    books.assert_balanced("entries across maps and threads");
}

/// Threads that retire entries and exit at once: their partial bags stay
/// behind, and the map frees every entry exactly once when it drops. (That
/// the garbage pending stays bounded as threads come and go is checked in
/// `reclaim_alone.rs`, where no other test's pins hold it back.)
#[test]
fn exited_threads_garbage_is_freed_exactly_once() {
    let books = Books::new();
    let map: HashMap<Tracked, Tracked> = HashMap::new();
    for generation in 0..8u64 {
        retire_from_exiting_threads(&map, &books, generation);
    }
    assert_eq!(map.len(), 40);
    drop(map);
    books.assert_balanced("exited threads' garbage");
}

/// Writers churn a small key set for a while; a reader pins, holds its pin
/// across a few microseconds, unpins, and starts again. Returns the map,
/// the most garbage a writer saw pending, and resident-memory samples
/// taken every 5 ms while the writers ran.
fn churn_beside_a_pinning_reader() -> (HashMap<u64, [u64; 4]>, usize, Vec<usize>) {
    const WRITERS: u64 = 2;
    const OPS: u64 = if cfg!(debug_assertions) {
        200_000
    } else {
        600_000
    };
    let map: HashMap<u64, [u64; 4]> = HashMap::new();
    let stop = AtomicBool::new(false);
    let start = Barrier::new(WRITERS as usize + 1);
    let mut rss = Vec::new();
    let mut max_pending = 0;
    thread::scope(|s| {
        let (map, stop, start) = (&map, &stop, &start);
        let reader = s.spawn(move || {
            start.wait();
            let mut pins = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let m = map.pin();
                // The reference, not a copy: read again after the sleep,
                // through the pin, while writers replace the key and
                // retire this value. (A copy taken at once, as this test
                // once did, could not see a value freed under the pin.)
                let seen = m.get(&(pins % 64));
                let before = seen.copied();
                thread::sleep(Duration::from_micros(20));
                if let (Some(v), Some(before)) = (seen, before) {
                    assert_eq!(*v, before, "a value changed under a pin");
                    assert_eq!(v[1], v[0] * 3, "a value changed under a pin");
                }
                drop(m);
                pins += 1;
            }
            pins
        });
        let writers: Vec<_> = (0..WRITERS)
            .map(|t| {
                s.spawn(move || {
                    start.wait();
                    let mut rng = Rng::new(t + 7);
                    let mut max_pending = 0;
                    for i in 0..OPS {
                        let k = rng.below(64);
                        let m = map.pin();
                        if i % 3 == 2 {
                            m.remove(&k);
                        } else {
                            m.insert(k, [i, i * 3, t, 0]);
                        }
                        drop(m);
                        if i % 1_000 == 0 {
                            max_pending = max_pending.max(map.stats().pending_garbage);
                        }
                    }
                    max_pending
                })
            })
            .collect();
        // Stops the reader however the writers end: a writer's failed
        // assertion fails the join below, and the reader must not pin on
        // forever.
        let stop_reader = StopOnDrop(stop);
        while !writers.iter().all(|w| w.is_finished()) {
            rss.push(vm_rss_kib());
            thread::sleep(Duration::from_millis(5));
        }
        max_pending = writers
            .into_iter()
            .map(|w| w.join().unwrap())
            .max()
            .unwrap_or(0);
        drop(stop_reader);
        assert!(reader.join().unwrap() > 0, "the reader never pinned");
    });
    (map, max_pending, rss)
}

/// Garbage (held back by each of the reader's pins) stays bounded while
/// the writers churn, and is freed once the reader is gone.
#[test]
fn garbage_bounded_with_a_reader_pinning_on_and_off() {
    let (map, max_pending, _) = churn_beside_a_pinning_reader();
    // A pin held for ~20 µs (longer when the reader is descheduled) holds
    // back what the writers retire meanwhile, plus the paced millisecond of
    // unstamped batches: thousands, never the run's 1.2 million
    // retirements.
    assert!(max_pending < 200_000, "garbage piled up: {max_pending}");
    let left = settle(&map, 1_000);
    assert!(
        left < 1_000,
        "garbage not freed after the reader left: {left}"
    );
}

/// Resident memory does not climb with the run's length while the writers
/// churn beside the pinning reader. (Named `memory_bounded_*` so that CI's
/// AddressSanitizer step skips it with the other RSS tests: ASan's
/// quarantine of freed memory changes RSS.)
#[test]
fn memory_bounded_with_a_reader_pinning_on_and_off() {
    let (_map, _, rss) = churn_beside_a_pinning_reader();
    // Not with crossbeam-epoch: that backend registers a participant per
    // pin (about 2 KiB, freed through the epoch itself), and with a reader
    // holding pins the collector falls behind: seen climbing from 14 to
    // 130 MiB over this run, then freed at the map's drop (the gauge above
    // and the drop tests still hold). A known cost of that backend
    // (`src/reclaim/epoch.rs`), not of the map.
    if rss.len() >= 4 && !cfg!(feature = "crossbeam-epoch") {
        // Resident memory after the first quarter of the run may not keep
        // growing: 1.2 million 48-byte entries leaked would be 55 MiB.
        let quarter = rss[rss.len() / 4];
        let last = *rss.last().unwrap_or(&quarter);
        assert!(
            last <= quarter + 16 * 1024,
            "RSS grew from {quarter} KiB to {last} KiB during the run: {rss:?}"
        );
    }
}

/// A value that records its drop.
struct Flagged(std::sync::Arc<AtomicBool>);

impl Drop for Flagged {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A thread's handles share one pin, and may be dropped in any order: a
/// reference read through the handle still alive stays valid however the
/// others go, and however much another thread writes meanwhile.
#[test]
fn handles_dropped_out_of_order_keep_their_references() {
    let dropped = std::sync::Arc::new(AtomicBool::new(false));
    let map = HashMap::new();
    map.pin().insert(0u64, Flagged(dropped.clone()));
    let first = map.pin();
    let second = map.pin();
    let value = second.get(&0).unwrap();
    drop(first);
    thread::scope(|s| {
        s.spawn(|| {
            // Removes the value, then retires enough entries (sealed
            // batches) over long enough (epoch bumps for batches are paced
            // to one per millisecond) that anything unprotected is freed.
            // Bounded, not `settle`: the live handle holds back every
            // map's garbage in the process (the epochs are process-wide),
            // so this test keeps it short for the tests beside it.
            map.pin().remove(&0);
            for round in 0..5u64 {
                for i in 1..400u64 {
                    map.pin()
                        .insert(round * 1000 + i, Flagged(Default::default()));
                    map.pin().remove(&(round * 1000 + i));
                }
                thread::sleep(Duration::from_millis(2));
            }
        });
    });
    assert!(!dropped.load(Ordering::SeqCst), "freed under a live handle");
    assert!(std::sync::Arc::ptr_eq(&value.0, &dropped));
    drop(second);
    // The thread is unpinned now: the value goes.
    settle(&map, 1);
    assert!(dropped.load(Ordering::SeqCst), "never freed");
}
