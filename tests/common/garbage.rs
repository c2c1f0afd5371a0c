//! [`settle`]: waits, using the map, until its retired garbage is freed.

use std::thread;
use std::time::Duration;

use lfmap::HashMap;

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
