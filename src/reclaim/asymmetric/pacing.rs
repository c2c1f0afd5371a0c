//! How often the epoch is bumped for sealed batches of entries.
//!
//! Each bump is followed by the heavy barrier, `membarrier`, which
//! interrupts every CPU running a thread of this process: a few
//! microseconds stolen from an operation of some other thread. Bumping for
//! every sealed batch would put those interrupts into the other threads'
//! latency tails at the rate of the writes. So a scan that finds unstamped
//! batches bumps only if the last bump in the process is at least
//! [`INTERVAL`] old, or if it holds [`MAX_UNSTAMPED`] unstamped batches
//! (which bounds the garbage a burst of writes leaves unstamped). Otherwise
//! the scanner keeps them, unstamped, and a later scan stamps them.
//!
//! The interval is the process's, so that the barriers of many maps do
//! not add up; but then a map whose scans come rarely (a few removals and
//! a `flush`) could find it taken by a busy map's bumps at every scan, and
//! its batches waited for 256 of their kind, for good (found by review).
//! So a map whose oldest unstamped batch has waited [`MAX_WAIT`] is
//! *starved*: it announces how long it has waited, and the starved map
//! that has waited longest bumps at its next scan once the last bump in
//! the process is at least [`STARVED_INTERVAL`] old. Starved maps get their
//! turns oldest first (busy maps starve too, sharing the interval, and
//! scan all the time: first come, first served, they took every turn and
//! the quiet map starved again; found by review), at up to four times the
//! usual rate, never more, however many they are. An announcement whose
//! map never scans again (an idle map keeps its batches until its next
//! scan) is replaced by the next starved map's after [`STALE`].
//!
//! The bound: at most one batch bump per `INTERVAL` per process, or one
//! per `STARVED_INTERVAL` while some map is starved, plus one per
//! `MAX_UNSTAMPED` batches a single scan takes. Tables (`retire_now`)
//! bump at once; they are one per resize. Under loom every scan may bump
//! (time is not part of a model, and a model must replay).

/// Minimum time between two batch bumps, in nanoseconds: 1 ms. Each
/// barrier delays one operation of every other running thread by the
/// interrupt (several microseconds in a virtual machine): at 1 ms about one
/// operation in a thousand at 2 threads, the p99.9 of gets under a steady
/// write load. 4 ms moved that p99.9 from 0.94 to 0.85 µs but cost the
/// exchange workload 18 % of its throughput (garbage held four times as
/// long: four times the entries in flight); not taken (docs/benchmarks.md,
/// "Issue #15").
#[cfg(not(loom))]
const INTERVAL: u64 = 1_000_000;

/// A scan holding this many unstamped batches (16,384 entries) bumps
/// regardless of time. Writers that retire faster than this per
/// millisecond get a bump per this many batches; below that rate the
/// interval paces them.
#[cfg(not(loom))]
const MAX_UNSTAMPED: usize = 256;

/// A scan whose map's oldest unstamped batch has waited this long bumps
/// once the last bump is [`STARVED_INTERVAL`] old: 2 ms, the interval
/// twice (so that maps that each seal about once per interval still share
/// most bumps).
#[cfg(not(loom))]
const MAX_WAIT: u64 = 2 * INTERVAL;

/// The shortest time between two bumps when the second is for a map whose
/// batches waited [`MAX_WAIT`]: a quarter of the interval, so that many
/// such maps add at most three bumps per interval to the process's.
#[cfg(not(loom))]
const STARVED_INTERVAL: u64 = INTERVAL / 4;

/// How long the starved map that has waited longest keeps the others from
/// the starved turns without taking one (nanoseconds since its wait
/// began): 1 s. Then the next starved map's announcement replaces its.
#[cfg(not(loom))]
const STALE: u64 = 1_000_000_000;

#[cfg(not(loom))]
mod stamps {
    use std::sync::atomic::AtomicU64;

    /// When the last bump ran: nanoseconds on the [`now`](super::now)
    /// clock (a heuristic, read and written Relaxed; never a step of the
    /// reclamation argument).
    pub(super) static LAST: AtomicU64 = AtomicU64::new(0);

    /// When the wait of the starved map that has waited longest began (its
    /// `waiting_since`), or `u64::MAX` for none: announced by `fetch_min`,
    /// withdrawn by its bump or its map's drop (a heuristic, Relaxed).
    pub(super) static STARVED: AtomicU64 = AtomicU64::new(u64::MAX);
}

/// Now, in nanoseconds: the crate's clock ([`crate::clock`]).
#[cfg(not(loom))]
#[inline]
pub(super) fn now() -> u64 {
    crate::clock::now()
}

/// Whether a scan holding `unstamped` unstamped batches, the oldest of
/// them taken at `waiting_since` (on the [`now`] clock; `None` for a tick
/// that does not know), may bump now.
#[cfg(not(loom))]
#[inline]
pub(super) fn may_bump(unstamped: usize, waiting_since: Option<u64>) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    if unstamped >= MAX_UNSTAMPED {
        return true;
    }
    let now = now();
    let since_last = now.saturating_sub(stamps::LAST.load(Relaxed));
    if since_last >= INTERVAL {
        return true;
    }
    let Some(since) = waiting_since else {
        return false;
    };
    if now.saturating_sub(since) < MAX_WAIT {
        return false;
    }
    // Starved: announce the wait, and take the turn if it is open and no
    // announced wait is longer. A longer one announced more than `STALE`
    // ago is a map that stopped scanning (idle, or leaked): ours replaces
    // it (its map, should it scan again, announces itself anew).
    let mut oldest = stamps::STARVED.fetch_min(since, Relaxed).min(since);
    if oldest < since && now.saturating_sub(oldest) >= STALE {
        oldest = match stamps::STARVED.compare_exchange(oldest, since, Relaxed, Relaxed) {
            Ok(_) => since,
            Err(now_announced) => now_announced,
        };
    }
    since_last >= STARVED_INTERVAL && since <= oldest
}

/// Records that a bump (and its barrier) just ran.
#[cfg(not(loom))]
#[inline]
pub(super) fn bumped() {
    use std::sync::atomic::Ordering::Relaxed;
    stamps::LAST.store(now(), Relaxed);
}

/// Withdraws the announcement of a map whose wait began at `since`, if it
/// is the one announced: the map bumped, or drops.
#[cfg(not(loom))]
#[inline]
pub(super) fn withdraw(since: u64) {
    use std::sync::atomic::Ordering::Relaxed;
    let _ = stamps::STARVED.compare_exchange(since, u64::MAX, Relaxed, Relaxed);
}

/// Lets the next scan bump at once, as if the last bump were long ago
/// (tests: another test's bump must not hold a tick's stamp back).
#[cfg(all(test, not(loom)))]
pub(super) fn allow_bump() {
    use std::sync::atomic::Ordering::Relaxed;
    stamps::LAST.store(0, Relaxed);
}

/// Marks a bump as made half an interval ago (tests: another map's
/// bumps keep the interval taken, but not the starved maps' turn).
#[cfg(all(test, not(loom)))]
pub(super) fn bumped_half_an_interval_ago() {
    use std::sync::atomic::Ordering::Relaxed;
    stamps::LAST.store(now().saturating_sub(INTERVAL / 2), Relaxed);
}

/// Announces a starved map whose wait began at `since` (tests: a map
/// that stopped scanning).
#[cfg(all(test, not(loom)))]
pub(super) fn announce(since: u64) {
    use std::sync::atomic::Ordering::Relaxed;
    stamps::STARVED.fetch_min(since, Relaxed);
}

/// [`STALE`], for tests.
#[cfg(all(test, not(loom)))]
pub(super) const STALE_FOR_TESTS: u64 = STALE;

#[cfg(loom)]
pub(super) fn now() -> u64 {
    0
}

#[cfg(loom)]
pub(super) fn may_bump(_unstamped: usize, _waiting_since: Option<u64>) -> bool {
    true
}

#[cfg(loom)]
pub(super) fn bumped() {}

#[cfg(loom)]
pub(super) fn withdraw(_since: u64) {}
