//! Helpers shared by the loom models in `tests/`.
//!
//! The models drive the real `lfmap` code: built with `--cfg loom`, lfmap
//! takes every atomic from loom (`src/sync.rs`), uses 4-slot minimum tables
//! and 2-slot migration chunks, and reclaims with the `deferred` backend.
#![cfg(loom)]

use std::hash::{BuildHasher, Hasher};

/// A hasher whose every key hashes to the same value: all keys share one
/// probe sequence, so every insert collides with every other.
#[derive(Clone, Copy, Default)]
pub struct Collide;

/// The `Hasher` of [`Collide`].
pub struct CollideHasher;

impl Hasher for CollideHasher {
    fn finish(&self) -> u64 {
        0x0123_4567_89ab_cdef
    }
    fn write(&mut self, _: &[u8]) {}
}

impl BuildHasher for Collide {
    type Hasher = CollideHasher;
    fn build_hasher(&self) -> CollideHasher {
        CollideHasher
    }
}

/// A deterministic hasher (identity on the written integer): loom replays an
/// execution many times, and the map's home slots must not change between
/// replays.
#[derive(Clone, Copy, Default)]
pub struct Fixed;

/// The `Hasher` of [`Fixed`].
#[derive(Default)]
pub struct FixedHasher(u64);

impl Hasher for FixedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x55;
    }
}

impl BuildHasher for Fixed {
    type Hasher = FixedHasher;
    fn build_hasher(&self) -> FixedHasher {
        FixedHasher::default()
    }
}

/// A loom model builder with the preemption bound from `LOOM_MAX_PREEMPTIONS`
/// (default 2, what CI uses).
///
/// Prints how many interleavings were explored, so a model that explores
/// suspiciously few shows it. Checks that each execution frees every
/// table it made (`lfmap::__loom::live_tables`).
pub fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    model_bounded(usize::MAX, f);
}

/// [`model`] with its preemption bound capped at `max`: for a model too
/// large to explore at the bound the others use (it says so in its docs).
pub fn model_bounded<F: Fn() + Sync + Send + 'static>(max: usize, f: F) {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::sync::Arc;
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(builder.preemption_bound.unwrap_or(2).min(max));
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    builder.check(move || {
        counter.fetch_add(1, Relaxed);
        let live = lfmap::__loom::live_tables();
        f();
        // Every table the execution made is freed by its end (its maps
        // dropped with the model's threads): loom checks its own objects
        // for leaks, not a table.
        assert_eq!(
            lfmap::__loom::live_tables(),
            live,
            "the execution left tables it made unfreed"
        );
    });
    eprintln!(
        "explored {} interleavings (preemption bound {:?})",
        runs.load(Relaxed),
        builder.preemption_bound
    );
}

/// Runs `a` and `b` on two spawned threads and returns their results. Both
/// sides run on spawned threads (not one on the model's main thread), which
/// is the shape loom explores most thoroughly.
pub fn race<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send + 'static,
    B: FnOnce() -> RB + Send + 'static,
    RA: Send + 'static,
    RB: Send + 'static,
{
    let ta = loom::thread::spawn(a);
    let tb = loom::thread::spawn(b);
    (ta.join().unwrap(), tb.join().unwrap())
}
