//! Maps whose tables are backed by huge pages (`lfmap::set_huge_pages`)
//! behave as any other: growth from empty by several threads, removal,
//! shrinking, across tables both under and over the 4 MiB from which huge
//! pages are asked for. Its own test binary: the setting is process-wide.

use lfmap::{HashMap, WordMap};

mod common;
use common::UnwindBarrier;

const THREADS: u64 = 2;
const PER: u64 = 300_000;

#[test]
fn maps_on_huge_pages_grow_and_shrink() {
    assert!(!lfmap::huge_pages(), "off by default");
    lfmap::set_huge_pages(true);
    assert!(lfmap::huge_pages());

    let map = HashMap::new();
    let words: WordMap<u64, u64> = WordMap::new();
    let barrier = UnwindBarrier::new(THREADS as usize);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (map, words, barrier) = (&map, &words, &barrier);
            s.spawn(move || {
                // Entered before the pin: a panic in it breaks the start
                // line instead of leaving the other thread there.
                let barrier = barrier.enter();
                let m = map.pin();
                barrier.wait();
                for k in t * PER..(t + 1) * PER {
                    assert_eq!(m.insert(k, k + 1), None);
                    assert_eq!(words.insert(k, k + 2), None);
                }
            });
        }
    });
    let n = THREADS * PER;
    // Past 4 MiB: a `WordMap` of 600,000 keys has 2^20 slots of 16 bytes.
    let table = words.stats().slots * 16;
    assert!(table >= 4 << 20, "{:?}", words.stats());
    // The setting reached the table's mapping (where the kernel has
    // transparent huge pages to advise for).
    if cfg!(target_os = "linux")
        && std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists()
    {
        let largest = advised_mappings().into_iter().max().unwrap_or(0);
        assert!(
            largest >= table,
            "largest advised mapping {largest} < {table}"
        );
    }
    let m = map.pin();
    assert_eq!((m.len(), words.len()), (n as usize, n as usize));
    for k in 0..n {
        assert_eq!(m.get(&k), Some(&(k + 1)));
        assert_eq!(words.get(&k), Some(k + 2));
    }
    for k in (0..n).filter(|k| k % 8 != 0) {
        assert_eq!(m.remove(&k), Some(&(k + 1)));
        assert_eq!(words.remove(&k), Some(k + 2));
    }
    m.shrink_to_fit();
    words.shrink_to_fit();
    for k in 0..n {
        let want = (k % 8 == 0).then_some(k);
        assert_eq!(m.get(&k).copied(), want.map(|k| k + 1));
        assert_eq!(words.get(&k), want.map(|k| k + 2));
    }
    lfmap::set_huge_pages(false);
    assert!(!lfmap::huge_pages());
}

/// The lengths of this process's mappings advised for huge pages (the `hg`
/// flag in `/proc/self/smaps`).
fn advised_mappings() -> Vec<usize> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("read /proc/self/smaps");
    let mut len = 0;
    let mut out = Vec::new();
    for line in smaps.lines() {
        if let Some(flags) = line.strip_prefix("VmFlags:") {
            if flags.split_whitespace().any(|f| f == "hg") {
                out.push(len);
            }
        } else if let Some((a, b)) = line
            .split_whitespace()
            .next()
            .and_then(|r| r.split_once('-'))
        {
            if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                len = b - a;
            }
        }
    }
    out
}
