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
//! The bound: at most one batch bump per `INTERVAL` per process, plus one
//! per `MAX_UNSTAMPED` batches a single scan takes. Tables (`retire_now`)
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

#[cfg(not(loom))]
mod clock {
    use std::sync::atomic::AtomicU64;
    use std::sync::OnceLock;
    use std::time::Instant;

    /// When the last bump ran: nanoseconds on the [`now`] clock (a heuristic,
    /// read and written Relaxed; never a step of the reclamation argument).
    pub(super) static LAST: AtomicU64 = AtomicU64::new(0);

    /// Nanoseconds since the first call in the process (a monotonic clock,
    /// through the vDSO: no system call).
    #[inline]
    pub(super) fn now() -> u64 {
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        let origin = ORIGIN.get_or_init(Instant::now);
        // 2^64 ns is 584 years: the cast never truncates in practice.
        origin.elapsed().as_nanos() as u64
    }
}

/// Whether a scan holding `unstamped` unstamped batches may bump now.
#[cfg(not(loom))]
#[inline]
pub(super) fn may_bump(unstamped: usize) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    unstamped >= MAX_UNSTAMPED || clock::now().saturating_sub(clock::LAST.load(Relaxed)) >= INTERVAL
}

/// Records that a bump (and its barrier) just ran.
#[cfg(not(loom))]
#[inline]
pub(super) fn bumped() {
    use std::sync::atomic::Ordering::Relaxed;
    clock::LAST.store(clock::now(), Relaxed);
}

/// Lets the next scan bump at once, as if the last bump were long ago
/// (tests: another test's bump must not hold a tick's stamp back).
#[cfg(all(test, not(loom)))]
pub(super) fn allow_bump() {
    use std::sync::atomic::Ordering::Relaxed;
    clock::LAST.store(0, Relaxed);
}

#[cfg(loom)]
pub(super) fn may_bump(_unstamped: usize) -> bool {
    true
}

#[cfg(loom)]
pub(super) fn bumped() {}
