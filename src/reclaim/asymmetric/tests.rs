//! Unit tests of the table reclaimer (not under loom: the loom models are
//! `loom-tests/tests/word_models.rs`).

use super::registry::GLOBAL;
use super::{bags, TableReclaim};
use crate::reclaim::contract::{Reclaim, ReclaimGuard, Retire};
use std::sync::atomic::AtomicUsize as Count;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// A retirable object that counts its frees.
struct Probe(Arc<Count>);

impl Retire for Probe {
    unsafe fn free(ptr: *mut Self) {
        // SAFETY: from Box::into_raw below, freed once.
        let b = unsafe { Box::from_raw(ptr) };
        b.0.fetch_add(1, Relaxed);
    }
}

/// The registry is process-wide: a test asserting that nothing else is
/// pinned must not overlap another test's pins.
fn alone() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `attempt` until it returns true, for up to 30 s (a liveness
/// bound: another test may hold a pin for a while, as one that pins
/// across 100,000 inserts does). `alone` keeps
/// this file's tests apart, but the registry is the process's: a pin of
/// another module's test, taken before a retirement here, holds it back
/// like any older pin. An attempt returns false where such a pin may have
/// held back a free it expected (it still asserts, at once, whatever no
/// other pin can excuse: nothing freed early); an implementation that
/// fails to free fails every attempt, and the test with it.
fn without_foreign_pins(mut attempt: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if attempt() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    panic!("no attempt in 30 s got the expected outcome");
}

fn probe(freed: &Arc<Count>) -> *mut Probe {
    Box::into_raw(Box::new(Probe(freed.clone())))
}

/// Pins `r`, retires a fresh probe through that pin, unpins.
fn retire_one(r: &TableReclaim, freed: &Arc<Count>) {
    let g = r.pin();
    // SAFETY: the probe is never shared and retired once.
    unsafe { g.retire_now(probe(freed)) };
}

/// Retires a probe from a thread of its own (which pins, retires and
/// exits), then scans `r`.
fn retire_elsewhere_then_scan(r: &TableReclaim, freed: &Arc<Count>) {
    std::thread::scope(|s| {
        s.spawn(|| retire_one(r, freed));
    });
    r.reclaim();
}

/// Runs `f` while another thread holds a pin of `pinner` taken before.
fn while_pinned_elsewhere(pinner: &TableReclaim, f: impl FnOnce()) {
    let (pinned, go) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
    std::thread::scope(|s| {
        s.spawn(|| {
            let _old = pinner.pin();
            pinned.wait();
            go.wait();
        });
        pinned.wait();
        f();
        go.wait();
    });
}

#[test]
fn freed_after_the_retiring_pin_ends() {
    let _alone = alone();
    without_foreign_pins(|| {
        let r = TableReclaim::new();
        let freed = Arc::new(Count::new(0));
        {
            let g = r.pin();
            // SAFETY: never shared; retired once.
            unsafe { g.retire_now(probe(&freed)) };
            assert_eq!(freed.load(Relaxed), 0, "freed while pinned");
            assert_eq!(r.pending(), 1);
        }
        if freed.load(Relaxed) != 1 {
            return false;
        }
        assert_eq!(r.pending(), 0);
        true
    });
}

#[test]
fn an_older_pin_elsewhere_holds_it_a_newer_one_does_not() {
    let _alone = alone();
    without_foreign_pins(|| {
        let r = TableReclaim::new();
        let freed = Arc::new(Count::new(0));
        while_pinned_elsewhere(&r, || {
            retire_one(&r, &freed);
            // The other thread pinned before the retirement: still held.
            assert_eq!(freed.load(Relaxed), 0);
            // A pin taken after the retirement does not hold it.
            let newer = r.pin_owned();
            drop(newer);
            assert_eq!(freed.load(Relaxed), 0);
        });
        // The old pin is gone; the next scan frees it.
        r.reclaim();
        freed.load(Relaxed) == 1
    });
}

#[test]
fn nested_pins_share_one_announcement() {
    let _alone = alone();
    without_foreign_pins(|| {
        let r = TableReclaim::new();
        let freed = Arc::new(Count::new(0));
        let outer = r.pin();
        {
            let inner = r.pin();
            // SAFETY: as above.
            unsafe { inner.retire_now(probe(&freed)) };
        }
        // The inner guard's drop must not unpin the thread.
        assert_eq!(freed.load(Relaxed), 0);
        drop(outer);
        r.reclaim();
        freed.load(Relaxed) == 1
    });
}

#[test]
fn drop_frees_what_is_queued() {
    let _alone = alone();
    let freed = Arc::new(Count::new(0));
    let other = TableReclaim::new();
    // A pin of another map, held past this map's drop, blocks the scan
    // but not the drop.
    let held = other.pin_owned();
    {
        let r = TableReclaim::new();
        retire_one(&r, &freed);
        assert_eq!(freed.load(Relaxed), 0);
    }
    assert_eq!(freed.load(Relaxed), 1);
    drop(held);
}

#[test]
fn alternating_between_two_maps_still_frees() {
    // A retirement whose own scan is blocked (an older pin elsewhere)
    // must be freed by later unpins of its map, even when the thread
    // alternates maps (a per-thread count of unpins would put all of
    // one map's unpins on odd numbers and never scan it).
    let _alone = alone();
    without_foreign_pins(|| {
        let (a, b) = (TableReclaim::new(), TableReclaim::new());
        let freed = Arc::new(Count::new(0));
        while_pinned_elsewhere(&b, || {
            retire_one(&a, &freed);
            assert_eq!(freed.load(Relaxed), 0, "freed under an older pin");
        });
        for _ in 0..200 {
            drop(a.pin());
            drop(b.pin());
        }
        if freed.load(Relaxed) != 1 {
            return false;
        }
        assert_eq!(a.pending(), 0);
        true
    });
}

#[test]
fn records_are_reused_by_later_threads() {
    let _alone = alone();
    // 64 threads one after another: each reuses a record an earlier one
    // gave back. Counted by the records they used, not by all the records
    // the process has: other tests' threads (as many at once as the
    // machine has cores) take records too, and may take a given-back one
    // first, so a few distinct ones are expected, never one per thread.
    let mut used: Vec<usize> = (0..64)
        .map(|_| {
            std::thread::spawn(|| TableReclaim::new().pin().slot())
                .join()
                .unwrap()
                .expect("a thread's record")
        })
        .collect();
    used.sort_unstable();
    used.dedup();
    assert!(used.len() < 32, "{} records for 64 threads", used.len());
}

/// Retires `n` fresh probes as entries (the batched path), in one pin.
fn retire_entries(r: &TableReclaim, freed: &Arc<Count>, n: usize) {
    let g = r.pin();
    for _ in 0..n {
        // SAFETY: never shared; retired once.
        unsafe { g.retire(probe(freed)) };
    }
}

/// Scans `r` until `freed` reaches `want` (the batch pacing may hold a
/// bump back for a millisecond); false if it never does.
fn scan_until(r: &TableReclaim, freed: &Count, want: usize) -> bool {
    frees_per_scan(r, freed, want).is_some()
}

/// Runs scans of `r` until `freed` reaches `want`, returning how many
/// objects each scan that freed anything freed (`None` if it never gets
/// there).
fn frees_per_scan(r: &TableReclaim, freed: &Count, want: usize) -> Option<Vec<usize>> {
    let mut per_scan = Vec::new();
    for _ in 0..2000 {
        let before = freed.load(Relaxed);
        r.reclaim();
        let now = freed.load(Relaxed);
        if now > before {
            per_scan.push(now - before);
        }
        if now == want {
            return Some(per_scan);
        }
        std::thread::sleep(std::time::Duration::from_micros(500));
    }
    None
}

#[test]
fn entries_wait_in_the_bag_until_a_batch_seals() {
    let _alone = alone();
    let r = TableReclaim::new();
    let freed = Arc::new(Count::new(0));
    retire_entries(&r, &freed, bags::BATCH - 1);
    assert_eq!(r.pending(), bags::BATCH - 1);
    assert!(!scan_until(&r, &freed, 1), "an unsealed bag was freed");
    retire_entries(&r, &freed, 1);
    assert!(scan_until(&r, &freed, bags::BATCH));
    assert_eq!(r.pending(), 0);
}

#[test]
fn a_batch_waits_for_an_older_pin() {
    let _alone = alone();
    let r = TableReclaim::new();
    let freed = Arc::new(Count::new(0));
    while_pinned_elsewhere(&r, || {
        retire_entries(&r, &freed, bags::BATCH);
        std::thread::sleep(std::time::Duration::from_millis(5));
        r.reclaim();
        assert_eq!(freed.load(Relaxed), 0, "freed under an older pin");
    });
    assert!(scan_until(&r, &freed, bags::BATCH));
}

#[test]
fn an_exited_threads_bag_is_freed_with_the_map() {
    let _alone = alone();
    let freed = Arc::new(Count::new(0));
    {
        let r = TableReclaim::new();
        std::thread::scope(|s| {
            s.spawn(|| retire_entries(&r, &freed, 5));
        });
        assert_eq!(r.pending(), 5);
        assert_eq!(freed.load(Relaxed), 0);
        // The next thread to hold the exited one's record fills the same
        // bag; a batch seals once it is full.
        std::thread::scope(|s| {
            s.spawn(|| retire_entries(&r, &freed, bags::BATCH));
        });
    }
    assert_eq!(freed.load(Relaxed), 5 + bags::BATCH);
}

/// An object whose free panics on the first free of its counter (a user's
/// `Drop` that panics), and counts every free.
struct Bomb(Arc<Count>);

impl Retire for Bomb {
    unsafe fn free(ptr: *mut Self) {
        // SAFETY: from Box::into_raw below, freed once.
        let b = unsafe { Box::from_raw(ptr) };
        if b.0.fetch_add(1, Relaxed) == 0 {
            panic!("the first free panics");
        }
    }
}

/// Retires `n` bombs as entries, in one pin; a panic from a scan this
/// runs is caught.
fn retire_bombs(r: &TableReclaim, freed: &Arc<Count>, n: usize) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let g = r.pin();
        for _ in 0..n {
            // SAFETY: never shared; retired once.
            unsafe { g.retire(Box::into_raw(Box::new(Bomb(freed.clone())))) };
        }
    }));
}

#[test]
fn a_panicking_free_still_frees_the_rest_of_its_batch() {
    let _alone = alone();
    let freed = Arc::new(Count::new(0));
    let r = TableReclaim::new();
    retire_bombs(&r, &freed, bags::BATCH - 1);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(r)));
    assert!(caught.is_err());
    assert_eq!(freed.load(Relaxed), bags::BATCH - 1);
}

#[test]
fn a_panicking_free_in_a_scan_leaves_the_other_batches_queued() {
    let _alone = alone();
    let freed = Arc::new(Count::new(0));
    let r = TableReclaim::new();
    // Seventeen batches, all stamped (the last ones by a scan more than the
    // pacing interval later) but held by an older pin (of another map: pins
    // are process-wide, and that map's unpin scans only that map), so that
    // one scan takes four (a backlog of 16 batches or more).
    let other = TableReclaim::new();
    while_pinned_elsewhere(&other, || {
        retire_bombs(&r, &freed, 17 * bags::BATCH);
        std::thread::sleep(std::time::Duration::from_millis(5));
        r.reclaim();
        assert_eq!(freed.load(Relaxed), 0, "freed under an older pin");
    });
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| r.reclaim()));
    assert!(caught.is_err(), "the first free panics");
    // The panicking batch freed all of its objects; the other batches the
    // scan took went back on the queue, and later scans free them and the
    // rest.
    assert_eq!(freed.load(Relaxed), bags::BATCH);
    assert!(scan_until(&r, &freed, 17 * bags::BATCH), "{freed:?} freed");
    assert_eq!(r.pending(), 0);
}

#[test]
fn a_panicking_free_in_a_maps_drop_still_frees_its_bags() {
    let _alone = alone();
    let freed = Arc::new(Count::new(0));
    let r = TableReclaim::new();
    // One sealed batch, queued (an older pin, of another map, holds it),
    // and five objects left in the bag.
    let other = TableReclaim::new();
    while_pinned_elsewhere(&other, || retire_bombs(&r, &freed, bags::BATCH + 5));
    assert_eq!(freed.load(Relaxed), 0);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(r)));
    assert!(caught.is_err());
    assert_eq!(freed.load(Relaxed), bags::BATCH + 5);
}

#[test]
fn guards_dropped_out_of_order_keep_the_thread_pinned() {
    let _alone = alone();
    without_foreign_pins(|| {
        let r = TableReclaim::new();
        let freed = Arc::new(Count::new(0));
        let first = r.pin();
        let second = r.pin();
        // The first guard goes while the second still reads: the thread
        // must stay pinned.
        drop(first);
        retire_elsewhere_then_scan(&r, &freed);
        assert_eq!(freed.load(Relaxed), 0, "freed under a live guard");
        drop(second);
        r.reclaim();
        if freed.load(Relaxed) != 1 {
            return false;
        }
        // And the thread's next pin announces itself again.
        let again = r.pin();
        retire_elsewhere_then_scan(&r, &freed);
        assert_eq!(freed.load(Relaxed), 1, "freed under a later guard");
        drop(again);
        r.reclaim();
        freed.load(Relaxed) == 2
    });
}

#[test]
fn a_scan_frees_one_batch_unless_a_backlog_waits() {
    let _alone = alone();
    let r = TableReclaim::new();
    let freed = Arc::new(Count::new(0));
    // Three batches, held back by an older pin: then one per scan (the
    // pins' own unpins may free one first).
    while_pinned_elsewhere(&r, || retire_entries(&r, &freed, 3 * bags::BATCH));
    let per_scan = frees_per_scan(&r, &freed, 3 * bags::BATCH).expect("never freed");
    assert!(per_scan.iter().all(|&n| n == bags::BATCH), "{per_scan:?}");
    // A backlog of 20 batches: worked off up to four per scan.
    while_pinned_elsewhere(&r, || retire_entries(&r, &freed, 20 * bags::BATCH));
    let per_scan = frees_per_scan(&r, &freed, 23 * bags::BATCH).expect("never freed");
    assert!(
        per_scan.iter().all(|&n| n <= 4 * bags::BATCH),
        "{per_scan:?}"
    );
    assert!(
        per_scan.iter().any(|&n| n > bags::BATCH),
        "no catch-up: {per_scan:?}"
    );
}

#[test]
fn a_reads_tick_leaves_the_freeing_to_sealing_writers() {
    use super::guard::TableOwnedGuard;
    let _alone = alone();
    // The seal must come within a millisecond of the bump below; a
    // thread preempted for longer in between bumps again at the seal,
    // and that attempt starts over.
    without_foreign_pins(|| {
        let r = TableReclaim::new();
        let freed = Arc::new(Count::new(0));
        // A batch sealed while an older pin holds it. Owned guards throughout,
        // whose first unpins are no pacing ticks: the explicit ticks below are
        // the first this map sees.
        let (pinned, go) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
        std::thread::scope(|s| {
            s.spawn(|| {
                let _old = TableOwnedGuard::pin(&r);
                pinned.wait();
                go.wait();
            });
            pinned.wait();
            let g = TableOwnedGuard::pin(&r);
            for i in 0..bags::BATCH {
                if i == bags::BATCH - 1 {
                    // A bump just made: the seal's own scan leaves its batch
                    // unstamped, for the readers' ticks below.
                    super::pacing::bumped();
                }
                // SAFETY: never shared; retired once.
                unsafe { g.retire(probe(&freed)) };
            }
            drop(g);
            go.wait();
        });
        assert_eq!(freed.load(Relaxed), 0);
        // SAFETY: no scan of `r` runs now.
        let unstamped = unsafe { (*r.scan.get()).unstamped.len() };
        if unstamped != 1 {
            // The seal's scan stamped its batch: it came over a
            // millisecond after the bump.
            return false;
        }
        // Fresh records, each held until the end (a released record is the
        // next one claimed, with its ticks' history): the first tick of each
        // after a seal finds the writers active; it frees nothing, and only
        // stamps the batch, a bump being due (another test's bump between
        // `allow_bump` and the tick makes it wait for the next try).
        let mut readers = Vec::new();
        let mut stamped = false;
        for _ in 0..20 {
            super::pacing::allow_bump();
            let fresh = GLOBAL.claim();
            readers.push(fresh);
            // SAFETY: this test holds `fresh`.
            unsafe { r.after_unpin(true, fresh, true) };
            assert_eq!(
                freed.load(Relaxed),
                0,
                "a read's tick freed while writers sealed"
            );
            // SAFETY: no scan of `r` runs now.
            if unsafe { (*r.scan.get()).unstamped.is_empty() } {
                stamped = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
        assert!(stamped, "no read's tick stamped the batch");
        let a = GLOBAL.claim();
        // SAFETY: this test holds `a`.
        unsafe { r.after_unpin(true, a, true) };
        assert_eq!(freed.load(Relaxed), 0, "a reader's first tick freed");
        // Seven quiet ticks in a row are not enough to find the writers idle.
        for i in 1..8 {
            // SAFETY: as above.
            unsafe { r.after_unpin(true, a, true) };
            assert_eq!(freed.load(Relaxed), 0, "freed at quiet tick {i}");
        }
        // Enough quiet ticks: the writers are idle, and ticks free.
        let mut done = false;
        for _ in 0..2000 {
            // SAFETY: as above.
            unsafe { r.after_unpin(true, a, true) };
            if freed.load(Relaxed) == bags::BATCH {
                done = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
        GLOBAL.release(a);
        for reader in readers {
            GLOBAL.release(reader);
        }
        assert!(done, "an idle map's ticks never freed its batch");
        true
    });
}

/// Whether `r`'s scanner holds one batch or none: after a seal's scan
/// (which takes the whole queue), only the batch just sealed, so every
/// older batch it held was freed or adopted.
fn holds_at_most_one(r: &TableReclaim) -> bool {
    // SAFETY: no scan of `r` runs now (the calling test's thread is its
    // only user), so nothing writes the scan state while we read it.
    let st = unsafe { &*r.scan.get() };
    st.held.len() + st.unstamped.len() <= 1
}

/// Runs `seal` (which seals a batch in `r`) while an older pin (of another
/// map: its unpin scans only that map) holds what it seals, then scans `r`
/// until the batch is stamped (the pacing may hold a bump back).
fn stamp_under_an_older_pin(r: &TableReclaim, seal: impl FnOnce()) {
    let other = TableReclaim::new();
    while_pinned_elsewhere(&other, || {
        seal();
        for _ in 0..2000 {
            // SAFETY: as in `holds_at_most_one`.
            if unsafe { (*r.scan.get()).unstamped.is_empty() } {
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(500));
            r.reclaim();
        }
    });
}

#[test]
fn a_sealing_writer_frees_a_freeable_batch_over_its_next_retirements() {
    let _alone = alone();
    // A pin of another test, older than the stamp, can hold the batch
    // back at the seal: then the attempt starts again.
    for _ in 0..50 {
        let r = TableReclaim::new();
        let freed = Arc::new(Count::new(0));
        // Batch A: sealed and stamped while an older pin holds it.
        stamp_under_an_older_pin(&r, || retire_entries(&r, &freed, bags::BATCH));
        assert_eq!(freed.load(Relaxed), 0, "freed under an older pin");
        // A writer pinned after the stamp (on its thread's record, which
        // it keeps: an owned guard's seal adopts nothing) seals batch B:
        // its scan finds A freeable and adopts it, and that retirement
        // frees four of it.
        let g = r.pin();
        for _ in 0..bags::BATCH {
            // SAFETY: never shared; retired once.
            unsafe { g.retire(probe(&freed)) };
        }
        if !holds_at_most_one(&r) {
            continue;
        }
        assert_eq!(freed.load(Relaxed), 4, "the seal freed a whole batch");
        // Then four per retirement: half of A after 7 more.
        for i in 1..=7 {
            // SAFETY: as above.
            unsafe { g.retire(probe(&freed)) };
            assert_eq!(freed.load(Relaxed), 4 + 4 * i, "after {i} retirements");
        }
        // The writer stops retiring. Its next pacing tick only notes that
        // it retired since the last; the one after frees the rest of A (32,
        // under a batch), but not B (whose scan waits for quiet ticks).
        // SAFETY: `g` holds its record.
        unsafe { r.after_unpin(true, g.record(), true) };
        assert_eq!(freed.load(Relaxed), 32, "freed by a tick while retiring");
        // SAFETY: as above.
        unsafe { r.after_unpin(true, g.record(), true) };
        assert_eq!(freed.load(Relaxed), bags::BATCH, "A not drained by a tick");
        // B (held) and the bag's 7 go with the map.
        drop(g);
        drop(r);
        assert_eq!(freed.load(Relaxed), 2 * bags::BATCH + 7);
        return;
    }
    panic!("older pins held the batch back at every attempt");
}

#[test]
fn a_tick_while_a_table_waits_gives_the_freeable_batches_to_the_bag() {
    let _alone = alone();
    // A pin of another test, older than the stamp, can hold the batch
    // back at the tick: then the attempt starts again.
    for _ in 0..50 {
        let r = TableReclaim::new();
        let other = TableReclaim::new();
        let (freed, tables) = (Arc::new(Count::new(0)), Arc::new(Count::new(0)));
        // Batch A: sealed and stamped while an older pin holds it, which
        // then ends: A is freeable.
        stamp_under_an_older_pin(&r, || retire_entries(&r, &freed, bags::BATCH));
        assert_eq!(freed.load(Relaxed), 0, "freed under an older pin");
        // A table retired while a newer pin (of another map) holds it: the
        // retiring guard's unpin is a tick with a table waiting. It frees
        // nothing of A: A goes to this thread's bag.
        while_pinned_elsewhere(&other, || {
            retire_one(&r, &tables);
            assert_eq!(tables.load(Relaxed), 0, "a table freed under a pin");
        });
        if !holds_at_most_one(&r) {
            // An older pin of another test held A back at the tick.
            continue;
        }
        assert_eq!(freed.load(Relaxed), 0, "a tick freed a whole batch");
        // This thread's retirements free A four at a time.
        for i in 1..=3 {
            retire_entries(&r, &freed, 1);
            assert_eq!(freed.load(Relaxed), 4 * i, "after {i} retirements");
        }
        drop(r);
        assert_eq!(freed.load(Relaxed), bags::BATCH + 3);
        assert_eq!(tables.load(Relaxed), 1);
        return;
    }
    panic!("older pins held the batch back at every attempt");
}

#[test]
fn a_batch_the_adopting_bag_has_no_room_for_stays_held() {
    use super::bags::{Batch, Deferred};
    let _alone = alone();
    // A pin of another test, older than the stamp, can hold the batch
    // back: then the attempt starts again.
    for _ in 0..50 {
        let r = TableReclaim::new();
        let (freed, filler) = (Arc::new(Count::new(0)), Arc::new(Count::new(0)));
        // Batch A: sealed and stamped while an older pin holds it, which
        // then ends: A is freeable.
        stamp_under_an_older_pin(&r, || retire_entries(&r, &freed, bags::BATCH));
        // A record to adopt with, pinned after A's stamp (so not holding A).
        let g = super::guard::TableOwnedGuard::pin(&r);
        let bag = r.bags.get(g.record().index);
        // The bag one object short of room for a batch.
        let fill = bags::READY_MAX - bags::BATCH + 1;
        // SAFETY: fresh probes, never shared, each retired once.
        let objects = (0..fill)
            .map(|_| unsafe { Deferred::new(probe(&filler)) })
            .collect();
        // SAFETY: `g` holds the bag's record; the probes are unreachable.
        assert!(unsafe { bag.adopt(Batch::of(objects)) }.is_none());
        // A scan adopting into the bag: no room for A, which stays held
        // instead of being freed in this scan.
        // SAFETY: `g` holds the bag's record.
        unsafe { r.reclaim_into(Some(bag)) };
        let freed_by_full = freed.load(Relaxed);
        // Room made: the next scan adopts A (frees none of it).
        // SAFETY: as above.
        unsafe { bag.free_ready(bags::READY_MAX) };
        assert_eq!(filler.load(Relaxed), fill);
        // SAFETY: as above.
        unsafe { r.reclaim_into(Some(bag)) };
        // SAFETY: no scan of `r` runs now (this thread is its only user).
        let held = unsafe { (*r.scan.get()).held.len() };
        if held != 0 {
            // An older pin of another test held A back at both scans.
            continue;
        }
        assert_eq!(
            freed_by_full, 0,
            "a scan freed a batch its bag had no room for"
        );
        assert_eq!(freed.load(Relaxed), 0, "an adopted batch was freed at once");
        // SAFETY: as above.
        assert!(unsafe { bag.has_ready() });
        drop(g);
        drop(r);
        assert_eq!(freed.load(Relaxed), bags::BATCH);
        return;
    }
    panic!("older pins held the batch back at every attempt");
}

#[test]
fn a_panicking_free_of_an_adopted_object_leaves_the_rest_to_later_retirements() {
    let _alone = alone();
    for _ in 0..50 {
        let r = TableReclaim::new();
        let (bombs, probes) = (Arc::new(Count::new(0)), Arc::new(Count::new(0)));
        // Batch A, of bombs (the first free panics): sealed and stamped
        // while an older pin holds it.
        stamp_under_an_older_pin(&r, || retire_bombs(&r, &bombs, bags::BATCH));
        let g = r.pin();
        for _ in 0..bags::BATCH - 1 {
            // SAFETY: never shared; retired once.
            unsafe { g.retire(probe(&probes)) };
        }
        // The seal adopts A; that retirement's first free panics.
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: as above.
            unsafe { g.retire(probe(&probes)) };
        }));
        if !holds_at_most_one(&r) {
            // An older pin of another test held A back: nothing adopted.
            // Its frees (a tick of the guard's unpin, the map's drop) reach
            // A, whose first bomb panics.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(g)));
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(r)));
            continue;
        }
        assert!(caught.is_err(), "the first adopted free panics");
        assert_eq!(bombs.load(Relaxed), 1);
        // The other 63 stay adopted and counted: B (held) and A's rest.
        assert_eq!(r.pending(), bags::BATCH + bags::BATCH - 1);
        // Later retirements free them, four each.
        for i in 1..=8 {
            // SAFETY: as above.
            unsafe { g.retire(probe(&probes)) };
            assert_eq!(bombs.load(Relaxed), 1 + 4 * i);
        }
        assert_eq!(r.pending(), bags::BATCH + 31 + 8);
        // The map's drop frees the 31 still adopted, B and the bag's 8.
        drop(g);
        drop(r);
        assert_eq!(bombs.load(Relaxed), bags::BATCH);
        assert_eq!(probes.load(Relaxed), bags::BATCH + 8);
        return;
    }
    panic!("older pins held the batch back at every attempt");
}

/// A retirable object that owns `left` parts and frees them a budget at a
/// time (`Retire::free_part`), as a table that owns its tombstones'
/// entries does, then whole; counts the parts freed and the frees of the
/// object, whose free panics if `bomb` (after counting).
struct Parts {
    left: usize,
    parts: Arc<Count>,
    whole: Arc<Count>,
    bomb: bool,
}

impl Retire for Parts {
    unsafe fn free(ptr: *mut Self) {
        // SAFETY: from Box::into_raw below, freed once.
        let p = unsafe { Box::from_raw(ptr) };
        p.parts.fetch_add(p.left, Relaxed);
        p.whole.fetch_add(1, Relaxed);
        if p.bomb {
            panic!("planned: the free of an object");
        }
    }

    unsafe fn free_part(ptr: *mut Self, budget: usize) -> bool {
        // SAFETY: from Box::into_raw below; the caller owns it alone and
        // has not freed it.
        let p = unsafe { &mut *ptr };
        let n = p.left.min(budget);
        p.left -= n;
        p.parts.fetch_add(n, Relaxed);
        p.left == 0
    }
}

/// Retires an object of `n` parts through a pin of `r`, then unpins.
fn retire_parts(r: &TableReclaim, n: usize) -> (Arc<Count>, Arc<Count>) {
    let (object, parts, whole) = parts_object(n, false);
    let g = r.pin();
    // SAFETY: never shared; retired once.
    unsafe { g.retire_now(object) };
    (parts, whole)
}

/// A fresh [`Parts`] of `n` parts, and its counts.
fn parts_object(n: usize, bomb: bool) -> (*mut Parts, Arc<Count>, Arc<Count>) {
    let (parts, whole) = (Arc::new(Count::new(0)), Arc::new(Count::new(0)));
    let object = Box::into_raw(Box::new(Parts {
        left: n,
        parts: parts.clone(),
        whole: whole.clone(),
        bomb,
    }));
    (object, parts, whole)
}

/// Retires `TABLES_PER_STEP + 2` objects of `n` parts each and scans
/// until each has had its first step (by its scan), so that all of them
/// wait to be stepped, oldest first.
fn queue_past_first_steps(r: &TableReclaim, n: usize) -> Vec<(Arc<Count>, Arc<Count>)> {
    let tables: Vec<_> = (0..super::draining::TABLES_PER_STEP + 2)
        .map(|_| retire_parts(r, n))
        .collect();
    let total = tables.len() * super::TABLE_STEP;
    let freed = || tables.iter().map(|(p, _)| p.load(Relaxed)).sum::<usize>();
    for _ in 0..2000 {
        r.reclaim();
        if freed() == total {
            break;
        }
        std::thread::sleep(std::time::Duration::from_micros(500));
    }
    assert_eq!(freed(), total, "each table's first step, by its scan");
    tables
}

/// `few` for the first `TABLES_PER_STEP` of `len` tables, `rest` after.
fn first_few(len: usize, few: usize, rest: usize) -> Vec<usize> {
    (0..len)
        .map(|i| {
            if i < super::draining::TABLES_PER_STEP {
                few
            } else {
                rest
            }
        })
        .collect()
}

/// A freeable table that owns many entries is freed a step per scan or
/// tick step, each at most `TABLE_STEP` of its entries, and counts as
/// pending until it is gone.
#[test]
fn a_table_that_owns_entries_is_freed_in_steps() {
    let _alone = alone();
    let r = TableReclaim::new();
    let n = 40 * super::TABLE_STEP + 3;
    let (parts, whole) = retire_parts(&r, n);
    assert_eq!(r.pending_objects(), 1);
    // The scan that finds it freeable frees a first step and hands it on.
    assert!(scan_until(&r, &parts, super::TABLE_STEP), "never freeable");
    assert_eq!(whole.load(Relaxed), 0);
    assert_eq!(r.pending_objects(), 1, "a table being freed is pending");
    let mut steps = 1;
    while whole.load(Relaxed) == 0 {
        let before = parts.load(Relaxed);
        r.step_draining();
        let freed = parts.load(Relaxed) - before;
        assert!(
            freed > 0 && freed <= super::TABLE_STEP,
            "a step freed {freed}"
        );
        steps += 1;
        assert!(steps <= n, "the table is never freed");
    }
    assert_eq!(steps, n.div_ceil(super::TABLE_STEP));
    assert_eq!((parts.load(Relaxed), whole.load(Relaxed)), (n, 1));
    assert_eq!(r.pending_objects(), 0);
    r.step_draining();
    assert_eq!(whole.load(Relaxed), 1, "nothing is freed twice");
}

/// Writes step the tables being freed, a step every 17th write of a
/// thread, without a scan.
#[test]
fn writes_step_a_table_being_freed() {
    let _alone = alone();
    let r = TableReclaim::new();
    let steps = 20;
    let n = steps * super::TABLE_STEP;
    let (parts, whole) = retire_parts(&r, n);
    assert!(scan_until(&r, &parts, super::TABLE_STEP), "never freeable");
    let mut writes = 0;
    while whole.load(Relaxed) == 0 {
        r.pin().before_write();
        writes += 1;
        assert!(writes <= 17 * (steps + 1), "writes do not step the table");
    }
    assert_eq!(parts.load(Relaxed), n);
}

/// Once writes stop, pacing ticks (reads too) step the tables being
/// freed: a map that churned and now only reads still frees them.
#[test]
fn ticks_step_a_table_being_freed_once_writes_stop() {
    let _alone = alone();
    let r = TableReclaim::new();
    let n = 20 * super::TABLE_STEP;
    let (parts, whole) = retire_parts(&r, n);
    assert!(scan_until(&r, &parts, super::TABLE_STEP), "never freeable");
    let mut unpins = 0;
    while whole.load(Relaxed) == 0 {
        drop(r.pin());
        unpins += 1;
        assert!(unpins <= 64 * n, "reads do not step the table");
    }
    assert_eq!(parts.load(Relaxed), n);
}

/// A map dropped while a table is being freed in steps frees the rest of
/// it, once.
#[test]
fn drop_frees_the_rest_of_a_table_being_freed() {
    let _alone = alone();
    let r = TableReclaim::new();
    let n = 10 * super::TABLE_STEP;
    let (parts, whole) = retire_parts(&r, n);
    assert!(scan_until(&r, &parts, super::TABLE_STEP), "never freeable");
    r.step_draining();
    assert_eq!(parts.load(Relaxed), 2 * super::TABLE_STEP);
    drop(r);
    assert_eq!((parts.load(Relaxed), whole.load(Relaxed)), (n, 1));
}

/// A step frees a part of the oldest `TABLES_PER_STEP` tables being
/// freed, in the order they came, and no more: a backlog drains faster,
/// yet a step stays bounded.
#[test]
fn a_step_frees_a_part_of_the_oldest_few_tables() {
    let _alone = alone();
    let r = TableReclaim::new();
    let step = super::TABLE_STEP;
    let tables = queue_past_first_steps(&r, 10 * step);
    r.step_draining();
    let parts: Vec<usize> = tables.iter().map(|(p, _)| p.load(Relaxed)).collect();
    assert_eq!(parts, first_few(tables.len(), 2 * step, step));
}

/// A table whose last free panics (a user's `Drop`) is freed once: the
/// panic hands nothing back to be stepped or freed again, in a step or in
/// the scan's first step.
#[test]
fn a_panicking_free_of_a_table_being_freed_frees_it_once() {
    let _alone = alone();
    for n in [super::TABLE_STEP / 2, 3 * super::TABLE_STEP] {
        let r = TableReclaim::new();
        let (object, parts, whole) = parts_object(n, true);
        // The retiring guard's unpin scans, and may free it (and panic).
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let g = r.pin();
            // SAFETY: never shared; retired once.
            unsafe { g.retire_now(object) };
        }));
        for _ in 0..2000 {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                r.reclaim();
                r.step_draining();
            }));
            if whole.load(Relaxed) > 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
        assert_eq!(whole.load(Relaxed), 1, "never freed ({n} parts)");
        for _ in 0..4 {
            r.reclaim();
            r.step_draining();
        }
        assert_eq!(r.pending_objects(), 0);
        drop(r);
        assert_eq!((parts.load(Relaxed), whole.load(Relaxed)), (n, 1));
    }
}

/// Tables a step finishes leave the queue without letting more than
/// `TABLES_PER_STEP` tables into that step.
#[test]
fn a_step_that_finishes_tables_still_visits_only_a_few() {
    let _alone = alone();
    let r = TableReclaim::new();
    let tables = queue_past_first_steps(&r, 2 * super::TABLE_STEP);
    r.step_draining();
    let wholes: Vec<usize> = tables.iter().map(|(_, w)| w.load(Relaxed)).collect();
    assert_eq!(wholes, first_few(tables.len(), 1, 0));
    assert_eq!(r.pending_objects(), 2);
}

/// A map whose batches wait while other maps bump the epoch all the time
/// still gets them stamped, within the pacing's `MAX_WAIT`: the interval
/// is the process's, and a quiet map's scans found it taken by a busy
/// map's bumps at every try, so its batches waited for 256 of their kind,
/// for good (found by review). Here a bump marked half an interval before
/// each of the map's scans stands in for the busy map: the interval is
/// taken at every scan, the starved map's turn is not.
#[test]
fn a_quiet_maps_batches_are_stamped_while_other_maps_bump() {
    let _alone = alone();
    // Each attempt: a fresh map, one batch sealed (its scan finds the
    // interval taken), then scans for a second. Another test's pin may
    // hold the free back; an attempt then starts over.
    without_foreign_pins(|| {
        let r = TableReclaim::new();
        let freed = Arc::new(Count::new(0));
        super::pacing::bumped();
        retire_entries(&r, &freed, bags::BATCH);
        assert_eq!(freed.load(Relaxed), 0);
        for _ in 0..2000 {
            super::pacing::bumped_half_an_interval_ago();
            r.reclaim();
            if freed.load(Relaxed) == bags::BATCH {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
        false
    });
}

/// An owned guard's seal frees what its scan finds freeable instead of
/// giving it to the guard's bag: the guard gives its record up when it
/// drops, and what the record's bag adopted waited for the record's next
/// holder in this map, or the map's drop (found by review; `scan_on_tick`
/// already left owned guards out).
#[test]
fn an_owned_guards_seal_adopts_nothing() {
    use super::guard::TableOwnedGuard;
    let _alone = alone();
    without_foreign_pins(|| {
        let r = TableReclaim::new();
        let freed = Arc::new(Count::new(0));
        // A first batch, sealed (and stamped: a bump is allowed) while its
        // own guard still holds it.
        {
            let g = TableOwnedGuard::pin(&r);
            for i in 0..bags::BATCH {
                if i == bags::BATCH - 1 {
                    super::pacing::allow_bump();
                }
                // SAFETY: never shared; retired once.
                unsafe { g.retire(probe(&freed)) };
            }
        }
        assert_eq!(freed.load(Relaxed), 0);
        // A second owned guard's seal: its scan finds the first batch
        // freeable (unless another test's pin holds it: try again).
        {
            let g = TableOwnedGuard::pin(&r);
            for _ in 0..bags::BATCH {
                // SAFETY: never shared; retired once.
                unsafe { g.retire(probe(&freed)) };
            }
        }
        freed.load(Relaxed) >= bags::BATCH
    });
}

/// Starved maps take the starved turns oldest first: a map that waited
/// less cannot take the turn from one that waited more, even when it scans
/// first (busy maps starve too, and scan all the time: first come, first
/// served, they took every turn and a quiet map starved again; found by
/// review).
#[test]
fn starved_maps_take_their_turns_oldest_first() {
    let _alone = alone();
    let wait = || std::thread::sleep(std::time::Duration::from_millis(3));
    // An attempt fails over (returns false) where another test's pin or
    // starved map, or a preemption longer than half an interval, changes
    // the outcome; an implementation without the order fails every one.
    without_foreign_pins(|| {
        let (older, younger) = (TableReclaim::new(), TableReclaim::new());
        let (freed_older, freed_younger) = (Arc::new(Count::new(0)), Arc::new(Count::new(0)));
        super::pacing::bumped();
        retire_entries(&older, &freed_older, bags::BATCH);
        wait();
        // Starved, it announces its wait; the turn is not open (a bump now).
        super::pacing::bumped();
        older.reclaim();
        super::pacing::bumped();
        retire_entries(&younger, &freed_younger, bags::BATCH);
        wait();
        // The turn is open, but the younger map waited less.
        super::pacing::bumped_half_an_interval_ago();
        younger.reclaim();
        if freed_younger.load(Relaxed) != 0 {
            return false;
        }
        super::pacing::bumped_half_an_interval_ago();
        older.reclaim();
        if freed_older.load(Relaxed) != bags::BATCH {
            return false;
        }
        // Now the younger map is the one that waited longest.
        super::pacing::bumped_half_an_interval_ago();
        younger.reclaim();
        freed_younger.load(Relaxed) == bags::BATCH
    });
}

/// The starved turn waits a quarter interval after the last bump: however
/// many maps starve, they add at most three bumps (each a `membarrier`
/// that interrupts every running thread) per interval.
#[test]
fn a_starved_turn_waits_a_quarter_interval_after_a_bump() {
    let _alone = alone();
    // The clock starts at its first use: a wait from its start is long
    // enough to starve 3 ms on.
    let _ = super::pacing::now();
    std::thread::sleep(std::time::Duration::from_millis(3));
    // An attempt fails over where this thread was preempted for a quarter
    // interval between the two calls.
    without_foreign_pins(|| {
        super::pacing::bumped();
        // Starved since the clock began, the oldest wait there can be.
        let took = super::pacing::may_bump(1, Some(0));
        super::pacing::withdraw(0);
        !took
    });
}

/// An announcement of a starved map that stopped scanning (idle, or
/// leaked) gives way, once stale, to the next starved map's: it would
/// otherwise hold every other map from the starved turns for good.
#[test]
fn a_stale_starved_announcement_gives_way() {
    let _alone = alone();
    // A wait that began at the clock's start is stale once the clock has
    // run that long.
    while super::pacing::now() < super::pacing::STALE_FOR_TESTS + 10_000_000 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    without_foreign_pins(|| {
        super::pacing::announce(1);
        let r = TableReclaim::new();
        let freed = Arc::new(Count::new(0));
        super::pacing::bumped();
        retire_entries(&r, &freed, bags::BATCH);
        std::thread::sleep(std::time::Duration::from_millis(3));
        super::pacing::bumped_half_an_interval_ago();
        r.reclaim();
        super::pacing::withdraw(1);
        freed.load(Relaxed) == bags::BATCH
    });
}

/// A flush makes the map's next ticks free what they can, a bounded
/// number of them: while a pin elsewhere holds the flushed batch (and
/// writers keep sealing, which leaves something queued throughout), the
/// ticks go back to the usual pacing after `FLUSH_TICKS` of them. A flag
/// cleared only once nothing was queued stayed set for good, and every
/// tick, reads' included, freed batches (found by the diff review). Once
/// the pin ends, the flushing thread's next ticks free the batch.
#[test]
fn a_flush_speeds_up_a_bounded_number_of_ticks() {
    let _alone = alone();
    let r = TableReclaim::new();
    let freed = Arc::new(Count::new(0));
    while_pinned_elsewhere(&r, || {
        let g = r.pin();
        // SAFETY: never shared; retired once.
        unsafe { g.retire(probe(&freed)) };
        g.flush();
        drop(g);
        assert_eq!(r.flush_ticks.load(Relaxed), super::FLUSH_TICKS - 1);
        // Every thread pin's unpin counts towards this thread's ticks.
        for _ in 0..(super::FLUSH_TICKS + 2) * 61 {
            drop(r.pin());
        }
        assert_eq!(r.flush_ticks.load(Relaxed), 0, "ticks freed past the bound");
        assert_eq!(freed.load(Relaxed), 0, "freed under an older pin");
    });
    without_foreign_pins(|| {
        let g = r.pin();
        g.flush();
        drop(g);
        for _ in 0..3 * 61 {
            drop(r.pin());
            std::thread::sleep(std::time::Duration::from_micros(20));
        }
        freed.load(Relaxed) == 1
    });
}

/// Scans `r` (this thread's seals: it retires `BATCH` fresh probes a
/// round, counted by `writes`) until `freed` reaches `want`, for up to
/// 4,000 rounds of half a millisecond; returns whether it got there.
fn write_until(r: &TableReclaim, writes: &Arc<Count>, freed: &Count, want: usize) -> bool {
    for _ in 0..4_000 {
        if freed.load(Relaxed) == want {
            return true;
        }
        retire_entries(r, writes, bags::BATCH);
        std::thread::sleep(std::time::Duration::from_micros(500));
    }
    freed.load(Relaxed) == want
}

/// A thread that exits with a partial bag (63 objects) and a full load of
/// adopted ones (256) leaves them to the sweep of the map's later scans
/// (`orphans.rs`), which queues them in batches of at most `BATCH`: a
/// scan with an adopter takes no batch larger than the adopter's room (at
/// most 256), and the first version's one batch of 319 stopped every such
/// scan, so that nothing in the map was freed while its writers went on
/// (found by review: 0 of 319 freed, 25,919 objects pending after 400
/// rounds of this thread's writes).
#[test]
fn a_swept_bag_larger_than_an_adopters_room_is_freed() {
    use super::bags::{Batch, Deferred};
    let _alone = alone();
    let r = TableReclaim::new();
    let (left, writes) = (Arc::new(Count::new(0)), Arc::new(Count::new(0)));
    // This thread's own record first.
    drop(r.pin());
    std::thread::scope(|s| {
        s.spawn(|| {
            let g = r.pin();
            for _ in 0..bags::BATCH - 1 {
                // SAFETY: never shared; retired once.
                unsafe { g.retire(probe(&left)) };
            }
            let bag = r.bags.get(g.record().index);
            let adopted = (0..bags::READY_MAX)
                // SAFETY: fresh probes, never shared: unreachable.
                .map(|_| unsafe { Deferred::new(probe(&left)) })
                .collect();
            // SAFETY: this thread holds the bag's record (its pin's).
            assert!(unsafe { bag.adopt(Batch::of(adopted)) }.is_none());
        });
    });
    let total = bags::BATCH - 1 + bags::READY_MAX;
    assert_eq!(r.pending(), total);
    assert!(
        write_until(&r, &writes, &left, total),
        "{} of the {total} objects an exited thread left were freed while this one wrote",
        left.load(Relaxed)
    );
}

/// The sweep takes an exited thread's bag over, but its objects still wait
/// for a pin older than the sweep's stamp.
#[test]
fn a_swept_bag_waits_for_an_older_pin() {
    let _alone = alone();
    let r = TableReclaim::new();
    let freed = Arc::new(Count::new(0));
    drop(r.pin());
    while_pinned_elsewhere(&r, || {
        std::thread::scope(|s| {
            s.spawn(|| retire_entries(&r, &freed, 10));
        });
        for _ in 0..100 {
            r.reclaim();
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
        assert_eq!(
            freed.load(Relaxed),
            0,
            "swept objects freed under an older pin"
        );
        // SAFETY: no scan runs now (this thread is the only one scanning).
        let st = unsafe { &*r.scan.get() };
        assert_eq!(
            st.held_objects + st.unstamped.iter().map(|b| b.count()).sum::<usize>(),
            10,
            "the sweep took the exited thread's bag over"
        );
    });
    assert!(scan_until(&r, &freed, 10));
}

/// A sweep leaves the bag of a party alive alone, however long it holds
/// its record without retiring.
#[test]
fn a_sweep_leaves_a_live_partys_bag_alone() {
    let _alone = alone();
    let r = TableReclaim::new();
    let (kept, gone) = (Arc::new(Count::new(0)), Arc::new(Count::new(0)));
    drop(r.pin());
    let (retired, done) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
    std::thread::scope(|s| {
        s.spawn(|| {
            retire_entries(&r, &kept, 10);
            retired.wait();
            done.wait();
        });
        retired.wait();
        // Another party retires and exits: a give-back, so scans sweep.
        std::thread::scope(|s| {
            s.spawn(|| retire_entries(&r, &gone, 10));
        });
        assert!(
            scan_until(&r, &gone, 10),
            "the exited party's bag was not swept"
        );
        assert_eq!(kept.load(Relaxed), 0, "a live party's bag was swept");
        done.wait();
    });
    drop(r);
    assert_eq!(kept.load(Relaxed), 10);
}

/// A sweep frees the buffers of an exited party's bag that holds no
/// object (its last retirement sealed it): up to 7 KiB a bag, which a
/// spike of writers would otherwise leave in every map it wrote until the
/// map's drop.
#[test]
fn a_sweep_frees_an_empty_bags_buffers() {
    let _alone = alone();
    let r = TableReclaim::new();
    let freed = Arc::new(Count::new(0));
    drop(r.pin());
    let index = std::thread::scope(|s| {
        s.spawn(|| {
            retire_entries(&r, &freed, bags::BATCH);
            r.pin().record().index
        })
        .join()
        .expect("the writer")
    });
    let bag = r.bags.get_installed(index).expect("the writer's bag");
    // SAFETY: its holder exited and no other party retires into `r`.
    assert!(unsafe { bag.capacity() } > 0, "a sealed bag keeps a buffer");
    assert!(bag.worth_a_sweep());
    for _ in 0..4_000 {
        // SAFETY: as above.
        if unsafe { bag.capacity() } == 0 {
            break;
        }
        r.reclaim();
        std::thread::sleep(std::time::Duration::from_micros(500));
    }
    // SAFETY: as above.
    let capacity = unsafe { bag.capacity() };
    assert_eq!(capacity, 0, "the empty bag's buffers stayed");
    assert!(!bag.worth_a_sweep());
}
