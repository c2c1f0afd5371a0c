//! Table memory is faulted in before operations use it (issue #15): a
//! growth's table before the resize that installs it, so that the writes,
//! copies and reads of a resize take no page fault on it; a table sized by
//! `with_capacity` or `reserve` by that call, so that the writes filling
//! it take none; and no more than that: not the room of an `extend` whose
//! `size_hint` overstated, nor a growth a `reserve` made unneeded.
//!
//! Counted, not timed: this thread's minor page faults
//! (`/proc/thread-self/stat`) across the operations, against the table's
//! page count. Linux only (elsewhere tables are not mapped by lfmap), and
//! skipped under AddressSanitizer (its shadow memory faults too).

#![cfg(target_os = "linux")]

use lfmap::WordMap;

mod common;
use common::{both_maps, minor_faults, skipped, Ops, Room};

/// The table size the growth tests start from: 2^18 slots (4 MiB of
/// units), growing to 2^19.
const SLOTS: u64 = 1 << 18;

/// Fills a `WordMap` to 23/32 of [`SLOTS`] with keys `key(0..)`, then
/// inserts on until the resize to `2 * SLOTS` has finished; returns this
/// thread's minor page faults during that last part (the resize's start,
/// migration and end) and how many keys went in. By 23/32 load every
/// memory step of the next table is due, so with preparation the resize
/// faults in almost nothing.
fn faults_across_growth(map: &WordMap<u64, u64>, key: impl Fn(u64) -> u64) -> (u64, u64) {
    let mut k = 0u64;
    while k < SLOTS / 32 * 23 + 64 {
        map.insert(key(k), k);
        k += 1;
    }
    assert_eq!(map.stats().slots, SLOTS as usize, "no resize yet");
    let finished = map.stats().resizes_finished;
    let before = minor_faults();
    // On past 3/4: the resize starts, and the inserts migrate it.
    while map.stats().resizes_finished == finished {
        map.insert(key(k), k);
        k += 1;
        assert!(k < SLOTS, "the resize never finished");
    }
    (minor_faults() - before, k)
}

/// Grows a `WordMap` from 2^18 slots (4 MiB of units) to 2^19 (8 MiB,
/// 2,048 pages). By 23/32 load the next table is prepared and faulted in
/// (`Resizer::prepare`), so the inserts that start, migrate and finish the
/// resize fault in almost nothing; without preparation they faulted in
/// every page of the new table.
#[test]
fn table_pages_are_faulted_in_ahead_of_the_resize() {
    if skipped() {
        return;
    }
    let map: WordMap<u64, u64> = WordMap::new();
    let (faults, k) = faults_across_growth(&map, |k| k);
    assert_eq!(map.stats().slots, 2 * SLOTS as usize);
    let pages = 2 * SLOTS * 16 / 4096;
    assert!(
        faults < pages / 8,
        "{faults} page faults during a resize into a table of {pages} pages"
    );
    for i in (0..k).step_by(101) {
        assert_eq!(map.get(&i), Some(i));
    }
}

/// Keys with a top byte (as hashed or random `u64`s have): each stores
/// its byte beside its slot, in an array of one byte per slot.
fn spread(k: u64) -> u64 {
    k.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1 << 63
}

/// Inserts `n` keys with top bytes into `map`; returns this thread's minor
/// page faults meanwhile. Checks a sample afterwards.
fn faults_inserting(map: &WordMap<u64, u64>, n: u64) -> u64 {
    let before = minor_faults();
    for k in 0..n {
        map.insert(spread(k), k);
    }
    let faults = minor_faults() - before;
    for k in (0..n).step_by(97) {
        assert_eq!(map.get(&spread(k)), Some(k));
    }
    faults
}

/// A table sized by `with_capacity` is faulted in by the constructor: the
/// inserts that fill it (at random places, each page's first write a
/// fault before) fault in almost nothing, top bytes included.
#[test]
fn with_capacity_faults_the_table_in() {
    if skipped() {
        return;
    }
    const KEYS: u64 = 1 << 17;
    let before = minor_faults();
    let map: WordMap<u64, u64> = WordMap::with_capacity(KEYS as usize);
    let in_new = minor_faults() - before;
    let slots = map.stats().slots as u64;
    // 16-byte units and one top byte per slot.
    let pages = slots * 17 / 4096;
    assert!(
        in_new >= pages * 9 / 10,
        "with_capacity faulted in {in_new} of the table's {pages} pages"
    );
    let faults = faults_inserting(&map, KEYS);
    assert!(
        faults < pages / 32,
        "{faults} page faults filling a pre-sized table of {pages} pages"
    );
}

/// `reserve` faults in the table it installs, in the call.
#[test]
fn reserve_faults_the_table_in() {
    if skipped() {
        return;
    }
    const KEYS: u64 = 1 << 17;
    let map: WordMap<u64, u64> = WordMap::new();
    map.insert(spread(u64::MAX), 0);
    map.reserve(KEYS as usize);
    let pages = map.stats().slots as u64 * 17 / 4096;
    let faults = faults_inserting(&map, KEYS);
    assert!(
        faults < pages / 32,
        "{faults} page faults filling a reserved table of {pages} pages"
    );
}

/// An `extend` whose iterator's `size_hint` is exact (a range's, a
/// collection's) faults in the room it makes, as `reserve` does, so its
/// inserts (each at a random place) fault in almost nothing. (A lower
/// bound alone is not trusted that far: below.) Found by
/// review: a change that faulted in no `extend`'s room doubled a
/// `collect`'s page faults, each first write of a page faulting twice.
#[test]
fn an_exact_extend_faults_its_room_in() {
    if skipped() {
        return;
    }
    const KEYS: u64 = 1 << 17;
    let map: WordMap<u64, u64> = WordMap::new();
    let before = minor_faults();
    (&map).extend((0..KEYS).map(|k| (spread(k), k)));
    let faults = minor_faults() - before;
    let pages = map.stats().slots as u64 * 17 / 4096;
    assert_eq!(map.stats().resizes, 1, "one resize, to the room");
    // The room's own faulting in is a fault per page: at most the table's
    // pages, not twice them; and none while filling.
    assert!(
        faults <= pages + pages / 16,
        "{faults} page faults extending into a table of {pages} pages"
    );
    for k in (0..KEYS).step_by(97) {
        assert_eq!(map.get(&spread(k)), Some(k));
    }
}

/// A growth's memory steps fault in the top bytes of the prepared table's
/// slots too, not only its units: a growth with keys that have top bytes
/// faults in almost nothing (the top-byte array alone is 1/17 of the
/// table's pages, which faulted inside the inserts and copies before).
#[test]
fn growth_prepares_the_top_bytes_too() {
    if skipped() {
        return;
    }
    let map: WordMap<u64, u64> = WordMap::new();
    let (faults, _) = faults_across_growth(&map, spread);
    // The new table's top bytes: 2^19 bytes, 128 pages.
    let top_pages = 2 * SLOTS / 4096;
    assert!(
        faults < top_pages / 4,
        "{faults} page faults during a resize whose top bytes alone are {top_pages} pages"
    );
}

/// The generic map's `with_capacity` faults its slot array in too (its
/// entries are faulted in by the entry pool, a span run at a time).
#[test]
fn hashmap_with_capacity_faults_the_table_in() {
    if skipped() {
        return;
    }
    let before = minor_faults();
    let map: lfmap::HashMap<u64, u64> = lfmap::HashMap::with_capacity(1 << 17);
    let in_new = minor_faults() - before;
    let pages = map.stats().slots as u64 * 8 / 4096;
    assert!(
        in_new >= pages * 9 / 10,
        "with_capacity faulted in {in_new} of the table's {pages} pages"
    );
    map.pin().insert(1, 1);
    assert_eq!(map.pin().get(&1), Some(&1));
}

/// A `reserve` that finds room in a larger table still sizes the map:
/// filling up to what it reserved, the map prepares no growth (its
/// successor, twice the table, would be faulted in by these inserts).
/// (Found by an outside test: 600,000 keys in 2^20 slots, `reserve(100_000)`,
/// 100,000 inserts: 15 MiB more resident, and no resize.) The calling
/// thread's page faults: the table is resident already, so filling it
/// takes next to none.
fn a_reserve_with_room_prepares_no_growth<M: Room>() {
    if skipped() {
        return;
    }
    let map = M::new();
    let m = map.pin();
    for k in 0..600_000u64 {
        m.insert(k, k);
    }
    drop(m);
    map.reserve(0);
    let slots = map.stats().slots;
    assert_eq!(slots, 1 << 20, "{}", M::NAME);
    map.reserve(100_000);
    assert_eq!(map.stats().slots, slots, "{}: room was there", M::NAME);
    let before = minor_faults();
    let m = map.pin();
    for k in 600_000..700_000u64 {
        m.insert(k, k);
    }
    let faults = minor_faults() - before;
    assert_eq!(map.stats().resizes_finished, map.stats().resizes);
    assert_eq!(map.stats().slots, slots, "{}", M::NAME);
    // The successor would be 2^21 slots (16 bytes each, more for a
    // `HashMap`'s entries): 8,192 pages and more, of which the steps
    // due by 700,000 claims are over a third (3,840 and 2,816 faults
    // when it was prepared; 0 and 768 now, a `HashMap`'s being its
    // 100,000 entries').
    assert!(
        faults < 1_500,
        "{}: {faults} page faults filling a reserved table: a growth was prepared",
        M::NAME
    );
}

/// An iterator that yields one pair but whose `size_hint` promises
/// 2^22 (a lower bound may overstate: it is not trusted for safety).
struct Overstated(bool);

impl Iterator for Overstated {
    type Item = (u64, u64);
    fn next(&mut self) -> Option<(u64, u64)> {
        std::mem::take(&mut self.0).then_some((1, 1))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (1 << 22, None)
    }
}

/// An `extend` whose iterator's `size_hint` is only a lower bound, and
/// overstates what it yields, makes room for it, as std's does, but
/// does not fault that room in: the map's resident memory follows its
/// keys. (An exact hint is trusted and faulted in, as `reserve`'s
/// room is.) Found by an outside test: an `extend` of one key made
/// room for 4M, and the migration from the 16-slot table prefaulted
/// its one chunk's split range, the whole successor: 34,816 page
/// faults (`WordMap`). The calling thread's page faults: a table of
/// 2^23 slots is 16,384 pages and more.
fn extend_faults_in_no_room_its_hint_overstated<M: Room>() {
    if skipped() {
        return;
    }
    let map = M::new();
    let before = minor_faults();
    map.extend_shared(Overstated(true));
    let faults = minor_faults() - before;
    assert_eq!(map.len(), 1);
    assert!(map.capacity() >= 1 << 22, "{}: room for the hint", M::NAME);
    assert!(
        faults < 1_000,
        "{}: {faults} page faults for one key: the hint's room was faulted in",
        M::NAME
    );
}

both_maps!(
    a_reserve_with_room_prepares_no_growth,
    extend_faults_in_no_room_its_hint_overstated,
);
