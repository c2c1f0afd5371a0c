//! A migration the writes leave open is finished by the reads that follow
//! (`src/resize/stall.rs`): a map bulk-loaded until a growth has begun,
//! then only read, must not keep both tables (and two lookups for every
//! copied key) for good.

use std::time::{Duration, Instant};

use lfmap::{HashMap, Stats, WordMap};

/// Keys inserted until a growth of a table of at least this many slots is
/// under way.
const SLOTS: usize = 1 << 16;

/// How long the reads may take to finish the migration: far beyond the
/// 50 ms stall and the few thousand sub-chunks left, so that only reads
/// that never migrate fail it, however loaded the machine.
const DEADLINE: Duration = Duration::from_secs(120);

fn open(s: &Stats) -> bool {
    s.resizes > s.resizes_finished
}

/// Inserts `0..` until a growth from at least [`SLOTS`] slots is open,
/// then 100 more keys (their writes help a little, as a bulk load's last
/// writes do); returns the number of keys.
fn load(insert: impl Fn(u64), stats: impl Fn() -> Stats) -> u64 {
    let mut n = 0u64;
    loop {
        insert(n);
        n += 1;
        if n % 64 == 0 {
            let s = stats();
            if open(&s) && s.slots >= SLOTS {
                break;
            }
        }
    }
    for _ in 0..100 {
        insert(n);
        n += 1;
    }
    let s = stats();
    assert!(
        open(&s),
        "the migration is still open after the load: {s:?}"
    );
    n
}

/// Reads keys `0..n` round and round until the migration is finished;
/// returns the reads it took.
fn read_until_finished(n: u64, get: impl Fn(u64) -> bool, stats: impl Fn() -> Stats) -> u64 {
    let begun = Instant::now();
    let mut reads = 0u64;
    loop {
        for k in 0..n {
            assert!(get(k), "key {k} lost");
            reads += 1;
        }
        let s = stats();
        if !open(&s) {
            assert!(s.chunks_read > 0, "finished without the reads: {s:?}");
            return reads;
        }
        assert!(
            begun.elapsed() < DEADLINE,
            "after {reads} reads in {:?} the migration is still open: {s:?}",
            begun.elapsed()
        );
        // The stall is measured in time: let it pass while nothing runs.
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn reads_finish_a_word_map_migration_the_writes_left() {
    let map: WordMap<u64, u64> = WordMap::new();
    let n = load(
        |k| {
            map.insert(k, k);
        },
        || map.stats(),
    );
    let reads = read_until_finished(n, |k| map.get(&k) == Some(k), || map.stats());
    assert_eq!(map.len() as u64, n);
    println!("{n} keys: finished after {reads} reads: {:?}", map.stats());
}

#[test]
fn reads_finish_a_hash_map_migration_the_writes_left() {
    let map: HashMap<u64, u64> = HashMap::new();
    let n = load(
        |k| {
            map.pin().insert(k, k);
        },
        || map.stats(),
    );
    let reads = read_until_finished(n, |k| map.pin().get(&k) == Some(&k), || map.stats());
    assert_eq!(map.len() as u64, n);
    println!("{n} keys: finished after {reads} reads: {:?}", map.stats());
}

#[test]
fn owned_handles_read_it_to_the_end_too() {
    let map: HashMap<u64, u64> = HashMap::new();
    let n = load(
        |k| {
            map.pin().insert(k, k);
        },
        || map.stats(),
    );
    read_until_finished(n, |k| map.pin_owned().get(&k) == Some(&k), || map.stats());
}
