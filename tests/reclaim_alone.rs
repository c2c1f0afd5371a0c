//! Reclamation checks that need the process to themselves. Pins are
//! process-wide: a thread of another test that is pinned (rightly) holds
//! back every free, so these checks, which assert that garbage is freed,
//! run here, one after the other in a single test, with nothing beside
//! them.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use lfmap::HashMap;

mod common;
use common::{quiet_planned_panics, retire_from_exiting_threads, settle, Books, Tracked};

/// The most retirements one thread's batch holds before it is handed to
/// the reclaimer: 64 with the default and crossbeam-epoch backends; seize's
/// batch is the CPUs (at least 32) rounded up to a power of two, so the
/// checks below that count what a batch leaves behind scale with it.
fn batch() -> usize {
    if cfg!(all(feature = "seize", not(feature = "crossbeam-epoch"))) {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        cpus.max(32).next_power_of_two()
    } else {
        64
    }
}

#[test]
fn reclamation_alone() {
    exited_threads_garbage_stays_bounded();
    a_word_map_iteration_that_finishes_a_resize_frees_the_old_table();
    building_from_an_iterator_does_not_pin_across_it();
    a_map_written_from_another_maps_destructors_frees();
    panicking_drops_freed_inside_removals_leave_len_exact();
    a_drop_that_writes_its_own_map_does_not_nest_frees();
    removed_values_are_dropped_without_a_resize();
    refresh_lets_a_long_lived_handle_release_what_it_removed();
    a_drop_that_panics_in_a_refresh_leaves_the_handle_pinned();
    a_flushed_value_is_freed_within_a_few_operations();
    #[cfg(not(any(feature = "seize", feature = "crossbeam-epoch")))]
    a_churning_maps_retired_tables_are_freed_a_few_entries_at_a_time();
}

/// Pins and unpins on this thread, and sleeps, `rounds` times over: what
/// frees retired values when nothing holds them (scans run on unpins).
fn churn<K, V, S>(map: &HashMap<K, V, S>, rounds: usize) {
    for _ in 0..rounds {
        for _ in 0..128 {
            drop(map.pin());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A handle kept alive holds back the freeing of what it removed (and of
/// everything else retired since it pinned); `refresh` lets go of its pin,
/// so those values are freed by later operations while the handle lives
/// on. A `pin` handle beside another handle of its thread keeps its pin
/// where it was (the thread's pins share one announcement); an owned
/// handle's pin is its own.
fn refresh_lets_a_long_lived_handle_release_what_it_removed() {
    /// Refreshes (`refresh`, which also flushes) and churns until
    /// `live()` is `want`, for at most 2,000 rounds of a millisecond or
    /// more (not a speed bound: one or two rounds are the rule).
    fn refresh_until_freed(
        refresh: &mut dyn FnMut(),
        map: &HashMap<Tracked, Tracked>,
        live: &dyn Fn() -> usize,
        want: usize,
    ) {
        let freed = (0..2_000).any(|_| {
            refresh();
            churn(map, 1);
            live() == want
        });
        assert!(freed, "{} removed values still alive", live() - want);
    }
    let books = Books::new();
    let map: HashMap<Tracked, Tracked> = HashMap::with_capacity(4_000);
    for k in 0..1_000u64 {
        map.pin().insert(books.k(k), books.v(k));
    }
    let live = || books.vals.live();

    // A `pin` handle.
    let mut m = map.pin();
    for k in 0..300u64 {
        assert_eq!(m.remove(&books.k(k)).map(Tracked::id), Some(k));
    }
    m.flush();
    churn(&map, 100);
    assert_eq!(live(), 1_000, "freed while the handle held its pin");
    // Beside another handle of the thread, its pin stays.
    let other = map.pin();
    for _ in 0..50 {
        m.refresh();
        m.flush();
        churn(&map, 1);
    }
    assert_eq!(live(), 1_000, "freed while another handle held the pin");
    drop(other);
    refresh_until_freed(
        &mut || {
            m.refresh();
            m.flush();
        },
        &map,
        &live,
        700,
    );
    // The handle is pinned again and works.
    assert_eq!(m.get(&books.k(500)).map(Tracked::id), Some(500));
    drop(m);

    // An owned handle, refreshed on another thread than the one that
    // pinned it.
    let mut owned = map.pin_owned();
    for k in 300..600u64 {
        assert_eq!(owned.remove(&books.k(k)).map(Tracked::id), Some(k));
    }
    owned.flush();
    churn(&map, 100);
    assert_eq!(live(), 700, "freed while the owned handle held its pin");
    std::thread::scope(|s| {
        s.spawn(|| {
            refresh_until_freed(
                &mut || {
                    owned.refresh();
                    owned.flush();
                },
                &map,
                &live,
                400,
            )
        });
    });
    assert_eq!(owned.get(&books.k(700)).map(Tracked::id), Some(700));
    drop(owned);
    drop(map);
    books.assert_balanced("refreshed handles");
}

/// A removed value whose `Drop` panics when `refresh`'s unpin frees it:
/// the panic unwinds out of `refresh`, and the handle is pinned again and
/// usable; every value is dropped once. (One `Drop` panics: a second panic
/// in the same batch aborts, as in a `Vec`'s drop.)
fn a_drop_that_panics_in_a_refresh_leaves_the_handle_pinned() {
    /// Counts its drops; the first drop while `armed` panics and disarms.
    struct Bomb<'a>(&'a AtomicUsize, &'a std::sync::atomic::AtomicBool);
    impl Drop for Bomb<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
            if self.1.swap(false, SeqCst) {
                panic!("planned panic in Drop");
            }
        }
    }
    quiet_planned_panics();
    let dropped = AtomicUsize::new(0);
    let armed = std::sync::atomic::AtomicBool::new(true);
    let map: HashMap<u64, Bomb<'_>> = HashMap::new();
    for k in 0..200 {
        map.pin().insert(k, Bomb(&dropped, &armed));
    }
    let mut m = map.pin();
    for k in 0..100 {
        assert!(m.remove(&k).is_some());
    }
    m.flush();
    let mut panicked = false;
    for _ in 0..5_000 {
        if catch_unwind(AssertUnwindSafe(|| m.refresh())).is_err() {
            panicked = true;
            // Pinned again: reads and writes work.
            assert!(m.get(&150).is_some());
            m.insert(150, Bomb(&dropped, &armed));
            m.flush();
        }
        if dropped.load(SeqCst) == 101 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(panicked, "no Drop panicked inside a refresh");
    assert_eq!(
        dropped.load(SeqCst),
        101,
        "removed and replaced values freed"
    );
    // The new pin protects: a value removed through the handle stays
    // alive for as long as it is held, then goes with a refresh.
    assert!(m.remove(&160).is_some());
    m.flush();
    churn(&map, 50);
    assert_eq!(
        dropped.load(SeqCst),
        101,
        "freed under the handle's new pin"
    );
    let freed = (0..2_000).any(|_| {
        m.refresh();
        m.flush();
        churn(&map, 1);
        dropped.load(SeqCst) == 102
    });
    assert!(freed, "the value removed after the panic was never freed");
    assert_eq!(m.len(), 99);
    drop(m);
    drop(map);
    assert_eq!(dropped.load(SeqCst), 201, "every value dropped once");
}

/// A value removed and flushed is freed once no pin can see it: by the
/// flushing handle's drop, or within a few dozen operations on the map,
/// however far apart they come. The default reclaimer's ticks waited for
/// the map's writers to be idle for eight of them first, some 550
/// operations of a thread, in time 600 ms for a map used once a
/// millisecond, over 10 s for one used every 100 ms (found by a port of
/// flurry's tests, against `flush`'s doc; 19 operations now, and 127 with
/// the crossbeam-epoch backend, which collects every 128th pin). The
/// operations here are a millisecond apart, so no epoch bump is paced
/// out: not a speed bound.
fn a_flushed_value_is_freed_within_a_few_operations() {
    let value = std::sync::Arc::new(());
    let map = HashMap::new();
    map.pin().insert(42, std::sync::Arc::clone(&value));
    {
        let m = map.pin();
        m.insert(42, std::sync::Arc::new(()));
        m.flush();
    }
    let mut ops = 0;
    while std::sync::Arc::strong_count(&value) > 1 {
        assert!(
            ops < 300,
            "a flushed value still not freed after {ops} operations"
        );
        std::thread::sleep(Duration::from_millis(1));
        assert!(map.pin().get(&42).is_some());
        ops += 1;
    }
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
        for i in 0..4 * batch() as u64 {
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

/// Removals whose own retirement frees other values (a reclaimer frees a
/// few retired objects in each retirement), some of whose `Drop`s panic:
/// each removal that landed is counted before anything user-written runs,
/// so `len()` stays exact, and every value is dropped once by the end.
/// (Found by review: the removal's bookkeeping came after its retirement,
/// and a panic there left `len()` one too high for good.)
fn panicking_drops_freed_inside_removals_leave_len_exact() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    /// Counts its drops; panics in every seventh while `armed`.
    struct Bomb<'a>(u64, &'a AtomicUsize, &'a AtomicBool);
    impl Drop for Bomb<'_> {
        fn drop(&mut self) {
            self.1.fetch_add(1, SeqCst);
            if self.0 % 7 == 0 && self.2.load(SeqCst) {
                panic!("planned panic in Drop");
            }
        }
    }
    quiet_planned_panics();
    const N: u64 = 20_000;
    let (dropped, armed) = (AtomicUsize::new(0), AtomicBool::new(false));
    let map: HashMap<u64, Bomb<'_>> = HashMap::with_capacity(N as usize);
    for k in 0..N {
        map.pin().insert(k, Bomb(k, &dropped, &armed));
    }
    // Rounds of removing every key and putting back what is gone, until
    // some `Drop` has panicked inside an operation. Every round ends with
    // `len()` exact.
    let (mut panics, mut created) = (0, N);
    for _round in 0..50 {
        armed.store(true, SeqCst);
        for k in 0..N {
            if catch_unwind(AssertUnwindSafe(|| map.pin().remove(&k).is_some())).is_err() {
                panics += 1;
            }
        }
        armed.store(false, SeqCst);
        let present = (0..N).filter(|k| map.pin().get(k).is_some()).count();
        assert_eq!(map.len(), present, "len() after {panics} panics");
        if panics > 0 {
            break;
        }
        for k in 0..N {
            map.pin().insert(k, Bomb(k, &dropped, &armed));
            created += 1;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert!(panics > 0, "no Drop panicked inside an operation");
    drop(map);
    let dropped = dropped.load(SeqCst) as u64;
    assert!(dropped <= created, "values dropped twice");
    assert_eq!(dropped, created, "{} values leaked", created - dropped);
}

/// A value whose `Drop` writes its own map (the crate docs allow a
/// destructor to use the map): the write retires what it replaces, and a
/// free there would run the next value's `Drop`, which writes again, one
/// stack frame deeper each time. With the default reclaimer that nested
/// some 16,000 `Drop`s and overflowed a thread's stack (found by testing).
/// Frees now nest at most two deep (`guard::MAX_FREEING`): a write made
/// while the thread is two frees deep retires without freeing. Checked by
/// the deepest nesting of the `Drop`s, on a thread with the default 2 MiB
/// stack.
fn a_drop_that_writes_its_own_map_does_not_nest_frees() {
    use std::cell::Cell;
    use std::ptr;
    use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};

    /// The map the values write, published while it lives (not a static:
    /// a map never dropped is a leak to LeakSanitizer, which CI runs).
    static MAP: AtomicPtr<HashMap<u64, Writer>> = AtomicPtr::new(ptr::null_mut());
    static DEEPEST: AtomicUsize = AtomicUsize::new(0);
    thread_local!(static DEPTH: Cell<usize> = const { Cell::new(0) });
    /// Writes another key of `MAP` when dropped, if `writes`.
    struct Writer(bool);
    impl Drop for Writer {
        fn drop(&mut self) {
            let depth = DEPTH.with(|d| d.get() + 1);
            DEPTH.with(|d| d.set(depth));
            DEEPEST.fetch_max(depth, Relaxed);
            let map = MAP.load(SeqCst);
            if self.0 && !map.is_null() {
                // SAFETY: `MAP` points at the test's map only while it is
                // alive (set after it was made, cleared before it drops),
                // and every `Writer` drop before the clear runs while the
                // test holds the map.
                unsafe { &*map }.pin().insert(u64::MAX, Writer(false));
            }
            DEPTH.with(|d| d.set(depth - 1));
        }
    }
    let map: HashMap<u64, Writer> = HashMap::new();
    MAP.store(ptr::from_ref(&map).cast_mut(), SeqCst);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..200_000u64 {
                map.pin().insert(i % 1_000, Writer(true));
            }
        });
    });
    MAP.store(ptr::null_mut(), SeqCst);
    let deepest = DEEPEST.load(Relaxed);
    assert!(
        (1..=2).contains(&deepest),
        "destructors nested {deepest} deep"
    );
    assert_eq!(map.len(), 1_001);
}

/// A removed value is dropped once the pins that could see it are gone,
/// while the map goes on at the same size: the key's tombstone keeps the
/// key for the slot, not the value. (Before, a removed value lived until
/// a resize dropped the table that held its tombstone: a removed `Arc`,
/// file or channel end stayed alive for as long as the map did not
/// resize.) Retirements wait in the retiring thread's batch until it is
/// sealed ([`batch`]): of 1,000 removed values, all but the last batch's
/// are dropped, and after a `flush` all of them.
fn removed_values_are_dropped_without_a_resize() {
    let books = Books::new();
    let map: HashMap<Tracked, Tracked> = HashMap::with_capacity(4_000);
    {
        let m = map.pin();
        for k in 0..2_000u64 {
            m.insert(books.k(k), books.v(k));
        }
    }
    let resizes = map.stats().resizes;
    for k in 0..1_000u64 {
        assert_eq!(map.pin().remove(&books.k(k)).map(Tracked::id), Some(k));
    }
    // Some of their keys come back: the tombstones revive, with new values.
    for k in 0..10u64 {
        assert!(map.pin().insert(books.k(k), books.v(10_000 + k)).is_none());
    }
    settle(&map, 100);
    assert_eq!(map.stats().resizes, resizes, "the map resized");
    let removed_alive = books.vals.live() - 1_010;
    assert!(
        removed_alive < batch() + 36,
        "{removed_alive} of 1,000 removed values alive"
    );
    map.pin().flush();
    settle(&map, 1);
    assert_eq!(
        books.vals.live(),
        1_010,
        "removed values alive after a flush"
    );
    for k in 0..2_000u64 {
        let expected = match k {
            0..10 => Some(10_000 + k),
            10..1_000 => None,
            _ => Some(k),
        };
        assert_eq!(map.pin().get(&books.k(k)).map(Tracked::id), expected);
    }
    drop(map);
    books.assert_balanced("removed values");
}

/// A cache's map (new keys in, the oldest out) retires tables that own
/// the entries of the keys removed since they came (a removal retires the
/// value's drop at once, but its entry, with the key, stays as the key's
/// tombstone until its table is freed): thousands here, half a million in
/// a cache of that size; they are freed a few at a time over later
/// operations, never all in one (issue #15: one operation of 16–72 ms).
/// Counts the keys dropped inside each operation of one thread, less the
/// operation's own probe key: a stored key is dropped only when its entry
/// is freed. (The asymmetric backend's steps; crossbeam-epoch and seize
/// free a table whole.) Here, not beside other tests: their pins would
/// hold the frees back (it once counted values, which removals now drop
/// by themselves, and sat among the drop tests).
#[cfg(not(any(feature = "seize", feature = "crossbeam-epoch")))]
fn a_churning_maps_retired_tables_are_freed_a_few_entries_at_a_time() {
    const WINDOW: u64 = 20_000;
    let books = Books::new();
    let map: HashMap<Tracked, Tracked> = HashMap::new();
    for k in 0..WINDOW {
        map.pin().insert(books.k(k), books.v(k));
    }
    let mut most = 0;
    let probes_before = books.keys.dropped();
    for k in WINDOW..12 * WINDOW {
        let before = books.keys.dropped();
        assert!(map.pin().insert(books.k(k), books.v(k)).is_none());
        let between = books.keys.dropped();
        let probe = books.k(k - WINDOW);
        assert!(map.pin().remove(&probe).is_some());
        let after = books.keys.dropped();
        drop(probe);
        most = most.max(between - before).max(after - between);
    }
    // Most of the 220,000 keys removed were freed along the way (each
    // removal's probe key aside): tables were retired and freed, so the
    // bound below was put to the test.
    let freed = books.keys.dropped() - probes_before - 11 * WINDOW as usize;
    assert!(freed > 150_000, "only {freed} keys freed while churning");
    // A write's step frees 16 of each of at most 4 tables; a scan's first
    // steps, 16 of each table it finds freeable; the build before freed
    // whole tables, 29,152 entries in one operation.
    assert!(
        most <= 512,
        "one operation freed {most} entries (of {freed} freed while churning)"
    );
    assert_eq!(map.len(), WINDOW as usize);
    drop(map);
    books.assert_balanced("churning map");
}
