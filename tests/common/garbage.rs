//! [`settle`]: waits, using the map, until its retired garbage is freed;
//! [`retire_from_exiting_threads`]: a generation of short-lived threads
//! that leave their partial bags behind.

use std::thread;
use std::time::Duration;

use lfmap::HashMap;

use super::{Books, Tracked};

/// Uses `map` a little, as a service keeps using a map after a burst of
/// writes, until its pending garbage is below `bound` or a second has
/// passed; returns the last gauge read. Each round pins and unpins 128
/// times (a thread scans its map every 61st unpin) and sleeps a
/// millisecond (the default backend paces its epoch bumps for sealed
/// batches to one per millisecond). A reclaimer that leaks never gets
/// below the bound.
pub fn settle<K, V, S>(map: &HashMap<K, V, S>, bound: usize) -> usize {
    for _ in 0..1_000 {
        let pending = map.stats().pending_garbage;
        if pending < bound {
            return pending;
        }
        for _ in 0..128 {
            drop(map.pin());
        }
        thread::sleep(Duration::from_millis(1));
    }
    map.stats().pending_garbage
}

/// One generation of 4 threads, each replacing 40 values of its own 10
/// keys and exiting at once: fewer retirements than a batch (64), so each
/// leaves its whole bag behind. Values are numbered by `generation`.
pub fn retire_from_exiting_threads(
    map: &HashMap<Tracked, Tracked>,
    books: &Books,
    generation: u64,
) {
    thread::scope(|s| {
        for t in 0..4u64 {
            s.spawn(move || {
                for i in 0..40u64 {
                    let k = t * 100 + i % 10;
                    map.pin().insert(books.k(k), books.v(generation * 1000 + i));
                }
            });
        }
    });
}
