//! The shared test kit. A test file says `mod common;` and takes what it
//! needs:
//!
//! * [`hashers`]: [`ShapedHash`], hash functions of every shape the tests
//!   feed the maps: the full digest, the key itself, one constant, a few
//!   distinct values (small, spread out, or with identical tags).
//! * [`history`]: [`Clock`](history::Clock), [`Record`](history::Record)
//!   and [`check`](history::check), a linearizability checker for one
//!   key's history recorded from real threads.
//! * [`memory`]: [`vm_rss_kib`], the process's resident memory;
//!   [`minor_faults`], the thread's page faults, and [`skipped`], whether
//!   this kernel can show a table faulted in ahead.
//! * [`counting`]: [`Counting`], a global allocator counting live heap
//!   bytes ([`live_bytes`]), for binaries that install it.
//! * [`garbage`]: [`settle`], which keeps using a map until its retired
//!   garbage has been freed (or a second has passed).
//! * [`rng`]: [`Rng`], the small deterministic PRNG, and [`shuffle`].
//! * [`drops`]: [`Ledger`], [`Tracked`] and [`Books`], which count every
//!   construction and drop of keys and values, by serial number, so a
//!   double drop and a leak are each caught as such.
//! * [`panics`]: [`PanicKey`], a key whose `Hash` and `Eq` panic on the
//!   calls a test arms, and the helpers around planned panics.
//! * [`barrier`]: [`UnwindBarrier`], a barrier that a panicking thread
//!   breaks, so the threads waiting at it fail instead of hanging.
//! * [`sweep`]: [`SweepOrder`] and [`sweep_prefix`], the orders "remove
//!   what you iterate" removes keys in (issue #12).
//! * [`runner`]: [`TestMap`] and [`Ops`], one interface over
//!   `HashMap<u64, u64>` and `WordMap<u64, u64>`, and [`both_maps!`], which
//!   turns each scenario, written once, into a test on each map.
//!
//! Reclamation backends: nothing here picks one. CI runs the whole test
//! suite three times, with default features (asymmetric epochs), with
//! `--features seize` and with `--features crossbeam-epoch`, so every
//! scenario, on both maps, runs on every backend. (`WordMap` reclaims its tables with its own epochs under
//! either feature.)
//!
//! The kit holds no `#[test]` and touches no process-wide state unless a
//! test calls it to ([`quiet_planned_panics`] installs a panic hook), so
//! binaries that must run alone, such as `rss.rs`, may use it too. Each
//! test binary uses only part of it, hence `allow(dead_code)`.

#![allow(dead_code, unused_imports, unused_macros)]

pub mod barrier;
pub mod counting;
pub mod drops;
pub mod garbage;
pub mod hashers;
pub mod history;
pub mod memory;
pub mod panics;
pub mod rng;
pub mod runner;
pub mod sweep;

pub use barrier::UnwindBarrier;
pub use counting::{live_bytes, Counting};
pub use drops::{Books, Ledger, Tracked};

/// Counts one finished thread when dropped, also when the thread panics:
/// threads that wait for the count (`while done < writers`) then stop, and
/// a failed assertion fails the test instead of hanging it.
pub struct CountOnDrop<'a>(pub &'a std::sync::atomic::AtomicUsize);

impl Drop for CountOnDrop<'_> {
    fn drop(&mut self) {
        // Release: the waiters' Acquire load then sees the thread's work.
        self.0.fetch_add(1, std::sync::atomic::Ordering::Release);
    }
}

/// Sets a stop flag when dropped, also when the thread holding it panics:
/// threads that run until the flag (`while !stop`) then stop, and a failed
/// assertion fails the test instead of hanging it.
pub struct StopOnDrop<'a>(pub &'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        // Release: a waiter's Acquire load then sees the work done before.
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }
}

/// Runs `pass` at least `min` times, and on until `resizes()` reads at
/// least `until` (or a minute has passed: a liveness bound, never reached
/// while a writer beside the passes grows the map). A test whose writer
/// starts when the first pass does (`go`, set here just before it) then
/// has its passes overlap the writer's resizes whatever the scheduler does:
/// a fixed count of passes could end before a writer spawned beside them
/// first ran (found by review).
pub fn passes_across_resizes(
    go: &std::sync::atomic::AtomicBool,
    min: usize,
    until: u64,
    resizes: impl Fn() -> u64,
    mut pass: impl FnMut(usize),
) {
    go.store(true, std::sync::atomic::Ordering::Release);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut n = 0;
    while n < min || (resizes() < until && std::time::Instant::now() < deadline) {
        pass(n);
        n += 1;
    }
    // The writer resized while the passes ran (else they overlapped
    // nothing the test is about).
    assert!(resizes() >= until, "no resize in a minute of passes");
}

/// Waits (yielding) until `go` is set: a writer's start, tied to the
/// first pass of [`passes_across_resizes`].
pub fn wait_for(go: &std::sync::atomic::AtomicBool) {
    while !go.load(std::sync::atomic::Ordering::Acquire) {
        std::thread::yield_now();
    }
}

pub use garbage::{retire_from_exiting_threads, settle};
pub use hashers::{PerCall, Shape, ShapedHash};
pub use memory::vm_rss_kib;
#[cfg(target_os = "linux")]
pub use memory::{minor_faults, skipped};
pub use panics::{
    arm, assert_planned, disarm, is_planned, panic_message, quiet_planned_panics, PanicHash,
    PanicKey, ON_EQ, ON_HASH,
};
pub use rng::{shuffle, Rng};
pub(crate) use runner::both_maps;
pub use runner::{Ops, Room, TestMap};
pub use sweep::{sweep_prefix, SweepOrder};
