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

/// The reads stay out of a migration the writes move: one thread doing a
/// write per ten reads (each write moves a sub-chunk) grows a map through
/// a migration of 2^20 slots and more (long against the 50 ms a stall
/// takes to be seen). Only a pause of the thread for
/// 50 ms (descheduled) can make its reads take a turn, and each such turn
/// ends once the writes moved 64 sub-chunks (640 reads), against the
/// 131,072 sub-chunks and more the writes move: so the reads' share stays
/// far below the writes' on any machine. (An earlier stall watch compared
/// each check with the last one instead of with the window's start: reads
/// moved 124,307 sub-chunks against the writes' 6,706 in a review's run.)
#[test]
fn reads_leave_a_migration_the_writes_move_to_them() {
    let map: WordMap<u64, u64> = WordMap::new();
    let mut n = 0u64;
    // Up to a growth of at least 2^20 slots under way.
    loop {
        map.insert(n, n);
        n += 1;
        if n % 64 == 0 {
            let s = map.stats();
            if open(&s) && s.slots >= 1 << 20 {
                break;
            }
        }
    }
    let before = map.stats();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    while map.stats().resizes_finished < before.resizes {
        for _ in 0..10 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            assert!(map.get(&(x % n)).is_some());
        }
        map.insert(n, n);
        n += 1;
    }
    let after = map.stats();
    let by_writes = after.chunks_helped - before.chunks_helped;
    let by_reads = after.chunks_read - before.chunks_read;
    assert!(
        by_reads * 4 < by_writes,
        "reads moved {by_reads} sub-chunks, writes {by_writes}: {after:?}"
    );
}

/// A map whose writes only update once it stopped growing short of its
/// resize (a table of counters) releases the table it prepared for the
/// growth: writes watch it as reads do (`src/resize/stall.rs`). 70 % of
/// 2^16 slots: past the 5/8 that prepares the doubling, short of the 3/4
/// that starts it. Then the map grows on with every key and count kept.
#[test]
fn updates_alone_release_a_prepared_table() {
    let map: HashMap<u64, u64> = HashMap::new();
    let n = (SLOTS as u64) * 7 / 10;
    for k in 0..n {
        map.pin().insert(k, 0);
    }
    let s = map.stats();
    assert_eq!((s.slots, s.prepared_released), (SLOTS, 0), "{s:?}");
    let begun = Instant::now();
    let mut rounds = 0u64;
    while map.stats().prepared_released == 0 {
        let m = map.pin();
        for k in (0..n).step_by(5) {
            assert!(m.update(&k, |c| c + 1).is_some(), "key {k} lost");
        }
        drop(m);
        rounds += 1;
        assert!(
            begun.elapsed() < DEADLINE,
            "after {rounds} rounds of updates in {:?} the prepared table is still held: {:?}",
            begun.elapsed(),
            map.stats()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut k = n;
    while map.stats().slots == SLOTS {
        map.pin().insert(k, rounds);
        k += 1;
    }
    let m = map.pin();
    for i in 0..k {
        let want = if i >= n || i % 5 == 0 { rounds } else { 0 };
        assert_eq!(m.get(&i), Some(&want), "key {i}");
    }
    assert_eq!(map.stats().prepared_released, 1, "{:?}", map.stats());
}
