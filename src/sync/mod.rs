//! The one place atomics come from.
//!
//! Under `cfg(loom)` every atomic of the protocol is loom's, so the loom
//! models in `loom-tests/` drive exactly the code that ships; otherwise they
//! are `std`'s. The statistics atomics ([`stat`]: counters, occupancy, the
//! table reclaimer's pacing) are std's even under loom, as is the
//! process-wide counter that numbers threads for counter striping
//! (`stats.rs`) and the loom-only bookkeeping of `reclaim/asymmetric/`
//! (`loom_graveyard`): none plays a part in any protocol.
//!
//! [`AtomicU128`] (the slot unit of `WordMap`) is, on x86_64, `cmpxchg16b`
//! and `vmovdqa` inlined at each use behind a check made once
//! ([`atomic128`]: the instructions, and why each is atomic), and
//! `portable-atomic`'s elsewhere (LSE/LL-SC on AArch64, a documented
//! fallback beyond), on x86_64 CPUs without AVX, and on x86_64 builds with
//! 32-bit pointers (x32) or under Miri. Loom has
//! no 128-bit atomic, so under loom it is modelled as a `loom` mutex around a
//! `u128`: every operation on the unit is then one atomic step of the model
//! with at least acquire/release semantics, which is what the protocol uses.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize,
};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize,
};

// Every x86_64 target with std has SSE, which the module's vector
// registers need; x32 and Miri take portable-atomic's.
#[cfg(all(
    not(loom),
    not(miri),
    target_arch = "x86_64",
    target_pointer_width = "64"
))]
mod atomic128;
#[cfg(all(
    not(loom),
    not(miri),
    target_arch = "x86_64",
    target_pointer_width = "64"
))]
pub(crate) use atomic128::AtomicU128;
#[cfg(all(
    not(loom),
    any(miri, not(target_arch = "x86_64"), not(target_pointer_width = "64"))
))]
pub(crate) use portable_atomic::AtomicU128;

pub(crate) use std::sync::atomic::Ordering;

/// Atomics for statistics and heuristics: the counters behind `len` and
/// `stats`, table occupancy, the table reclaimer's scan pacing. Every access
/// is Relaxed and none is a step of a protocol, so they are std's atomics
/// even under loom, which then does not interleave them: left to loom, the
/// counter updates of every write were most of the scheduling points of a
/// model that grows a table (issue #16; `docs/design.md`, "What is
/// model-checked"). Their values still follow the schedule loom replays.
pub(crate) mod stat {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, AtomicUsize};
}

/// Whether a destructor must leave loom's state alone: under loom, while
/// the thread unwinds (a model's assertion failed, or loom itself stopped
/// the execution). Touching a loom atomic then can panic again, and a panic
/// during unwinding aborts the whole test binary instead of reporting the
/// failure. The execution is failing, so leaking what the destructor would
/// have freed costs nothing. One case is not a failure: a model that
/// catches a panic (`catch_unwind` around a panicking closure) and goes on.
/// Guards dropped by that unwinding stay announced, so `WordMap` frees no
/// retired table for the rest of that execution: conservative, never
/// unsound (`docs/testing-with-lfmap.md`). Always false outside loom.
#[inline(always)]
pub(crate) fn loom_unwinding() -> bool {
    cfg!(loom) && std::thread::panicking()
}

/// Spin-loop hint; under loom a yield so the model explores other threads.
#[inline]
#[allow(dead_code)]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

/// The loom model of a 128-bit atomic: one mutex-guarded `u128`. Each method
/// is one step of the model; the mutex orders every access to the unit,
/// which is at least as strong as the acquire/release orderings the
/// protocol asks for (so weaker orderings on units are not what loom checks:
/// the unit's own protocol never uses `Relaxed`).
#[cfg(loom)]
pub(crate) struct AtomicU128(loom::sync::Mutex<u128>);

#[cfg(loom)]
impl AtomicU128 {
    pub(crate) fn new(v: u128) -> Self {
        AtomicU128(loom::sync::Mutex::new(v))
    }
    pub(crate) fn load(&self, _: Ordering) -> u128 {
        *self.0.lock().unwrap()
    }
    pub(crate) fn store(&self, v: u128, _: Ordering) {
        *self.0.lock().unwrap() = v;
    }
    pub(crate) fn compare_exchange(
        &self,
        current: u128,
        new: u128,
        _: Ordering,
        _: Ordering,
    ) -> Result<u128, u128> {
        let mut v = self.0.lock().unwrap();
        if *v == current {
            *v = new;
            Ok(current)
        } else {
            Err(*v)
        }
    }
}
