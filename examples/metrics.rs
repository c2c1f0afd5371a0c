//! Prints a map's counters once a second while threads load it: what a
//! service would chart. `stats()` is cheap (a few dozen relaxed loads, no
//! scan), so it can be sampled as often as a dashboard wants.
//!
//! Run with `cargo run --release --example metrics`.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use lfmap::HashMap;

fn main() {
    let map: HashMap<u64, u64> = HashMap::new();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (map, stop) = (&map, &stop);
            s.spawn(move || {
                // Grow to 2M keys, then churn: remove and re-insert.
                let mut i = 0u64;
                while !stop.load(Relaxed) {
                    let m = map.pin();
                    if i < 1_000_000 {
                        m.insert(t + 2 * i, i);
                    } else {
                        // Each key is removed, then inserted again.
                        let k = t + 2 * ((i / 2) % 1_000_000);
                        if i % 2 == 0 {
                            m.remove(&k);
                        } else {
                            m.insert(k, i);
                        }
                    }
                    i += 1;
                }
            });
        }
        println!(
            "{:>5} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8} {:>6} {:>8} {:>8}",
            "t(s)",
            "len",
            "inserts",
            "removes",
            "slots",
            "resizes",
            "done",
            "gen",
            "helped",
            "garbage"
        );
        let start = Instant::now();
        for _ in 0..4 {
            std::thread::sleep(Duration::from_secs(1));
            let s = map.stats();
            println!(
                "{:>5.1} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8} {:>6} {:>8} {:>8}",
                start.elapsed().as_secs_f64(),
                s.len,
                s.inserts,
                s.removes,
                s.slots,
                s.resizes,
                s.resizes_finished,
                s.generation,
                s.chunks_helped,
                s.pending_garbage
            );
        }
        stop.store(true, Relaxed);
    });
}
