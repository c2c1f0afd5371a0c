//! Table memory goes back to the system, under the default allocator and
//! with no environment variable: repeated grow-then-delete-all cycles keep
//! resident memory flat (issue #15).
//!
//! glibc raises its mmap threshold each time a large block it mapped is
//! freed, so later large blocks land in its heap, which it does not hand
//! back without `malloc_trim`. A map that takes a million keys and gives
//! them back six times over saw its resident peak climb from 38 to 120 MiB
//! that way. lfmap maps large tables from the kernel itself
//! (`resize/memory.rs`). This binary holds one test: resident memory is
//! process-wide.

#![cfg(target_os = "linux")]

use lfmap::{HashMap, WordMap};

mod common;

/// Resident set size of this process, in KiB, without trimming the
/// allocator: what a user's process would show.
fn rss_kib() -> usize {
    common::vm_rss_kib()
}

const KEYS: u64 = 1 << 20;
const CYCLES: usize = 6;

#[test]
fn grow_then_delete_all_cycles_keep_rss_flat() {
    let before = rss_kib();
    // WordMap: tables only (keys and values are inline).
    let mut after = Vec::new();
    for _ in 0..CYCLES {
        let map: WordMap<u64, u64> = WordMap::new();
        for k in 0..KEYS {
            map.insert(k, k);
        }
        for k in 0..KEYS {
            assert_eq!(map.remove(&k), Some(k));
        }
        for k in 0..64 {
            map.insert(k, k);
            map.remove(&k);
        }
        assert!(map.stats().slots <= 64, "{:?}", map.stats());
        drop(map);
        after.push(rss_kib());
    }
    // HashMap: tables plus entries (small blocks: the allocator may keep
    // those cached, so only its growth across cycles is checked).
    for _ in 0..CYCLES {
        let map: HashMap<u64, u64> = HashMap::new();
        let m = map.pin();
        for k in 0..KEYS {
            m.insert(k, k);
        }
        for k in 0..KEYS {
            assert_eq!(m.remove(&k), Some(&k));
        }
        drop(m);
        drop(map);
        after.push(rss_kib());
    }
    let (word, hash) = after.split_at(CYCLES);
    // A WordMap cycle's tables peak at 48 MiB (2^21 slots of 16 bytes plus
    // the 2^20-slot table it grew from), all of it table memory: after each
    // cycle resident memory must be back within a few MiB of where it
    // started. A HashMap's entries are small blocks the allocator may keep
    // cached for reuse (lfmap cannot hand those back), so there resident
    // memory must only not creep up from one cycle to the next.
    let report = format!(
        "resident memory (KiB) before: {before}; after each cycle: WordMap {word:?}, \
         HashMap {hash:?}"
    );
    assert!(word.iter().all(|&r| r <= before + 8 * 1024), "{report}");
    assert!(hash[CYCLES - 1] <= hash[0] + 8 * 1024, "{report}");
    eprintln!("{report}");
}
