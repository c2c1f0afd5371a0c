//! A process that locks its memory (`mlockall`), as latency-sensitive
//! services do to keep page faults out of their requests. The kernel then
//! refuses to discard locked pages (`madvise(MADV_DONTNEED)` answers
//! `EINVAL`), which lfmap asks for when an entry span empties and when a
//! region's spans faulted in ahead are not needed. That is a hint it may
//! lose: the maps keep working, with nothing lost, and no debug assertion
//! fires (one did, found by review). Run in a binary of its own: the lock
//! applies to the whole process.
//!
//! Skipped where the process may not lock its memory (`mlockall` fails
//! without `CAP_IPC_LOCK` under a small `RLIMIT_MEMLOCK`).

#![cfg(target_os = "linux")]

use lfmap::{HashMap, WordMap};

mod common;
use common::settle;

/// Locks the process's memory, now and from now on; false if refused.
fn lock_all() -> bool {
    // SAFETY: a plain system call with valid flags; it changes no memory.
    let r = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if r != 0 {
        eprintln!(
            "skipped: mlockall refused ({})",
            std::io::Error::last_os_error()
        );
    }
    r == 0
}

#[test]
fn maps_keep_working_in_a_process_that_locks_its_memory() {
    if !lock_all() {
        return;
    }
    // Entries: 300,000 inserted in order fill some 440 spans of 16 KiB;
    // removing the first 250,000 empties most of them while the regions
    // stay in use, so once the removed entries are freed, spans beyond the
    // kept reserve are discarded (refused here).
    const N: u64 = 300_000;
    const REMOVED: u64 = 250_000;
    let map = HashMap::new();
    {
        let m = map.pin();
        for k in 0..N {
            assert_eq!(m.insert(k, k * 3), None);
        }
        for k in 0..REMOVED {
            assert_eq!(m.remove(&k), Some(&(k * 3)));
        }
    }
    settle(&map, 1);
    {
        let m = map.pin();
        for k in 0..N {
            let want = (k >= REMOVED).then_some(k * 3);
            assert_eq!(m.get(&k).copied(), want, "key {k}");
        }
        // The discarded spans serve again: their blocks were kept.
        for k in 0..REMOVED {
            assert_eq!(m.insert(k, k), None);
        }
    }
    assert_eq!(map.len(), N as usize);
    drop(map);

    // Tables: a WordMap grown and emptied shrinks, and its retired tables
    // are unmapped.
    let words: WordMap<u64, u64> = WordMap::new();
    for k in 0..N {
        words.insert(k, k);
    }
    for k in 0..N {
        assert_eq!(words.remove(&k), Some(k));
    }
    assert!(words.is_empty());
    words.insert(7, 7);
    assert_eq!(words.get(&7), Some(7));

    // SAFETY: a plain system call; it changes no memory.
    unsafe { libc::munlockall() };
}
