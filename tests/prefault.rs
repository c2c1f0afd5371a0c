//! A growth's table is faulted in before the resize that installs it
//! (issue #15): the writes, copies and reads of a resize take no page
//! fault on the new table's memory.
//!
//! Counted, not timed: this thread's minor page faults
//! (`/proc/thread-self/stat`) across a resize, against the new table's
//! page count. Linux only (elsewhere tables are not mapped by lfmap), and
//! skipped under AddressSanitizer (its shadow memory faults too).

#![cfg(target_os = "linux")]

use lfmap::WordMap;

/// Minor page faults of the calling thread so far.
fn minor_faults() -> u64 {
    let stat =
        std::fs::read_to_string("/proc/thread-self/stat").expect("read /proc/thread-self/stat");
    // Fields after the command name (which may hold spaces, so split after
    // its closing parenthesis): state is field 3, minflt field 10.
    let rest = &stat[stat.rfind(')').expect("a stat line") + 2..];
    rest.split(' ')
        .nth(7)
        .expect("minflt")
        .parse()
        .expect("a count")
}

/// Why this kernel cannot show the difference, if it cannot: without
/// `MADV_POPULATE_WRITE` (Linux 5.14) lfmap cannot fault a table in ahead,
/// and with transparent huge pages always on, a table faults in 2 MiB at a
/// time with or without preparation.
fn cannot_tell() -> Option<&'static str> {
    let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled");
    if thp.is_ok_and(|s| s.contains("[always]")) {
        return Some("transparent huge pages are always on");
    }
    // SAFETY: a fresh private anonymous page, unmapped below; madvise only
    // faults it in.
    unsafe {
        let page = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(page, libc::MAP_FAILED);
        let populated = libc::madvise(page, 4096, 23 /* MADV_POPULATE_WRITE */) == 0;
        libc::munmap(page, 4096);
        (!populated).then_some("the kernel has no MADV_POPULATE_WRITE")
    }
}

/// Grows a `WordMap` from 2^18 slots (4 MiB of units) to 2^19 (8 MiB,
/// 2,048 pages). By 23/32 load the next table is prepared and faulted in
/// (`Resizer::prepare`), so the inserts that start, migrate and finish the
/// resize fault in almost nothing; without preparation they faulted in
/// every page of the new table.
#[test]
fn table_pages_are_faulted_in_ahead_of_the_resize() {
    if let Some(why) = cannot_tell() {
        eprintln!("skipped: {why}");
        return;
    }
    const SLOTS: u64 = 1 << 18;
    let map: WordMap<u64, u64> = WordMap::new();
    let mut k = 0u64;
    while map.stats().slots < SLOTS as usize {
        map.insert(k, k);
        k += 1;
    }
    // Up to 23/32 of the slots: every memory step is due by then.
    while k < SLOTS / 32 * 23 + 64 {
        map.insert(k, k);
        k += 1;
    }
    assert_eq!(map.stats().slots, SLOTS as usize, "no resize yet");
    let finished = map.stats().resizes_finished;
    let before = minor_faults();
    // On past 3/4: the resize starts, and the inserts migrate it.
    while map.stats().resizes_finished == finished {
        map.insert(k, k);
        k += 1;
        assert!(k < SLOTS, "the resize never finished");
    }
    assert_eq!(map.stats().slots, 2 * SLOTS as usize);
    let faults = minor_faults() - before;
    let pages = 2 * SLOTS * 16 / 4096;
    assert!(
        faults < pages / 8,
        "{faults} page faults during a resize into a table of {pages} pages"
    );
    for i in (0..k).step_by(101) {
        assert_eq!(map.get(&i), Some(i));
    }
}
