//! The one place atomics come from.
//!
//! Under `cfg(loom)` every atomic the map uses is loom's, so the loom models
//! in `loom-tests/` drive exactly the code that ships; otherwise they are
//! `std`'s. The only other atomic in the crate is the process-wide counter
//! that numbers threads for counter striping (`stats.rs`): it must be a
//! `static`, which loom atomics cannot be, and it plays no part in the
//! protocol.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicIsize, AtomicPtr, AtomicUsize};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicPtr, AtomicUsize};

pub(crate) use std::sync::atomic::Ordering;

/// Spin-loop hint; under loom a yield so the model explores other threads.
#[inline]
#[allow(dead_code)]
pub(crate) fn spin_hint() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}
