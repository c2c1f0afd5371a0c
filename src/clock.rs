//! The crate's one monotonic clock: nanoseconds since its first reading in
//! the process.
//!
//! Its readers are heuristics, never steps of a protocol: the reclaimer's
//! bump pacing (`reclaim/asymmetric/pacing.rs`) and the resize helpers'
//! step stamps (`resize/handoff.rs`). Each keeps its own offsets and
//! thresholds; this module only reads the time. Not under loom, which has
//! no time: pacing has a stub there, and the helpers' handoff is not
//! compiled.

use std::sync::OnceLock;
use std::time::Instant;

/// Nanoseconds since the first call in the process: a monotonic clock read
/// through the vDSO (no system call).
#[inline]
pub(crate) fn now() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = ORIGIN.get_or_init(Instant::now);
    // 2^64 ns is 584 years: saturating is only for the type's sake.
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_clock_never_goes_back() {
        let mut last = super::now();
        for _ in 0..10_000 {
            let now = super::now();
            assert!(now >= last, "{now} < {last}");
            last = now;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(super::now() >= last + 2_000_000, "2 ms of sleep passed");
    }
}
