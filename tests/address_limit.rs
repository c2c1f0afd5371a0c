//! A process that runs into its address-space limit (`RLIMIT_AS`: what
//! `ulimit -v` and some container runtimes set). A table the system
//! refuses ends the process only where a write needs it, as in std: a
//! growth. Removals, sweeps and shrinks that would move the map to a
//! smaller table keep the one they have instead; and retired tables that a
//! resize helper still holds to unmap in steps are given back before a
//! table is refused. Both were found by an outside test under such a limit
//! (a `remove` aborted the process; with a helper registered, a table the
//! size of one just dropped could not be had). Run in a binary of its own:
//! the limit applies to the whole process. Linux only (`/proc`,
//! `setrlimit`).

#![cfg(target_os = "linux")]

use lfmap::{HashMap, WordMap};

/// The process's mapped bytes (`VmSize`).
fn vm_size() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// An address-space limit of the process's present size plus `room`
/// bytes, until dropped (the soft limit goes back to what it was: a
/// process may raise its soft limit up to its hard one).
struct Limit(libc::rlimit);

impl Limit {
    fn room(room: u64) -> Limit {
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a plain system call writing into `old`.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut old) }, 0);
        let new = libc::rlimit {
            rlim_cur: (vm_size() + room).min(old.rlim_max),
            rlim_max: old.rlim_max,
        };
        // SAFETY: a plain system call reading `new`.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &new) }, 0);
        Limit(old)
    }
}

impl Drop for Limit {
    fn drop(&mut self) {
        // SAFETY: a plain system call reading the saved limit.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &self.0) }, 0);
    }
}

/// Removals one by one, `retain` and `clear` on maps whose smaller table
/// cannot be had: each keeps its table and its keys are exact; once the
/// limit is lifted, the next removals shrink the table.
fn removals_and_sweeps_keep_their_table() {
    const N: u64 = 1 << 20;
    let word: WordMap<u64, u64> = WordMap::new();
    let hash: HashMap<u64, u64> = HashMap::new();
    for k in 0..N {
        word.insert(k, k);
        hash.pin().insert(k, k);
    }
    let slots = (word.stats().slots, hash.stats().slots);
    {
        // Room for the maps' own bookkeeping, not for any table the
        // removals and the `retain` would shrink to (5/2 of the keys left:
        // at least 81,920 slots, 1.3 MiB and 640 KiB).
        let _limit = Limit::room(512 << 10);
        for k in 0..N - N / 16 {
            assert_eq!(word.remove(&k), Some(k));
            assert_eq!(hash.pin().remove(&k), Some(&k));
        }
        word.retain(|k, _| k % 2 == 0);
        hash.pin().retain(|k, _| k % 2 == 0);
        assert_eq!((word.stats().slots, hash.stats().slots), slots);
        for k in N - N / 16..N {
            let want = (k % 2 == 0).then_some(k);
            assert_eq!(word.get(&k), want);
            assert_eq!(hash.pin().get(&k).copied(), want);
        }
        // A clear's table, the smallest, may fit: whether it does or not,
        // the maps are empty.
        word.clear();
        hash.pin().clear();
        assert_eq!((word.len(), hash.len()), (0, 0));
        assert_eq!(word.iter().count() + hash.pin().iter().count(), 0);
    }
    // Room again: the maps grow and shrink as usual.
    for k in 0..N / 16 {
        word.insert(k, k);
        hash.pin().insert(k, k);
    }
    for k in 0..N / 16 {
        assert_eq!(word.remove(&k), Some(k));
        assert_eq!(hash.pin().remove(&k), Some(&k));
    }
    word.retain(|_, _| true);
    hash.pin().retain(|_, _| true);
    assert!(word.stats().slots < slots.0 / 64, "{:?}", word.stats());
    assert!(hash.stats().slots < slots.1 / 64, "{:?}", hash.stats());
}

/// With a resize helper registered (for another map) and stepping,
/// tables of 136 MB are made and dropped in turn under a limit that holds
/// one of them: each dropped table waits on the helper's queue to be
/// unmapped in steps, and the next one, refused at first, gets that room
/// back.
fn tables_a_helper_holds_come_back() {
    use std::sync::mpsc::channel;
    let helped: WordMap<u64, u64> = WordMap::new();
    let (step, steps) = channel::<bool>();
    let (stepped, acks) = channel::<()>();
    std::thread::scope(|s| {
        // The helper steps when told, and only then: whatever it was given
        // to unmap stays queued until the next table is refused. (Its
        // thread's first allocations, a malloc arena of 64 MiB of address
        // space among them, are made before the limit is set.)
        s.spawn(move || {
            let helper = helped.resize_helper();
            while steps.recv().unwrap() {
                helper.step();
                stepped.send(()).unwrap();
            }
        });
        let step_now = || {
            step.send(true).unwrap();
            acks.recv().unwrap();
        };
        step_now();
        {
            let _limit = Limit::room(150 << 20);
            for round in 0..6 {
                // 8,000,000 units of 16 bytes, and a byte each beside.
                let big: WordMap<u64, u64> = WordMap::with_capacity(4_000_000);
                big.insert(round, round);
                assert_eq!(big.get(&round), Some(round));
                // A fresh step: the queue takes tables while helpers step
                // (within the last second).
                step_now();
                let stepped_at = std::time::Instant::now();
                let mapped = vm_size();
                drop(big);
                // Queued, not unmapped: the process keeps the mapping (a
                // check that the test exercises the queue; skipped if this
                // thread was held up past the helpers' second).
                if stepped_at.elapsed() < std::time::Duration::from_millis(500) {
                    assert!(
                        vm_size() + (100 << 20) > mapped,
                        "round {round}: not queued"
                    );
                }
            }
        }
        step.send(false).unwrap();
    });
}

#[test]
fn running_into_the_address_space_limit() {
    removals_and_sweeps_keep_their_table();
    tables_a_helper_holds_come_back();
}
