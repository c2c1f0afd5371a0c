//! `WordMap`'s slot unit on x86_64: a 128-bit atomic whose operations are
//! inlined into the probe loops.
//!
//! `portable-atomic` gives x86_64 a lock-free `AtomicU128` without asking
//! the user for `-C target-feature=+cmpxchg16b`, by detecting the CPU at
//! run time: each load, store and compare-exchange is an indirect call
//! through a function pointer chosen at the first call. On a `WordMap`
//! operation that is two or three calls the optimiser cannot see through,
//! and it left `WordMap`'s speed to how the linker happened to lay out
//! unrelated code: a stamp added to the resize helper, which the workload
//! never ran, cost rapid growth 10 % in every round, with the same
//! instructions and cache misses counted by cachegrind (docs/benchmarks.md,
//! "Fourteenth session"). So the same detection is made once here, kept in
//! one byte, and tested at each operation: a load and a branch that always
//! goes the same way, with the instruction itself inlined at the call site.
//!
//! The instructions, and why each is the atomic operation it stands for:
//! - **compare-exchange**: `lock cmpxchg16b`, a locked read-modify-write
//!   of the 16 aligned bytes (Intel SDM vol. 2, CMPXCHG16B; AMD APM vol. 3,
//!   the same): sequentially consistent, the strongest of all orderings.
//! - **load**: `vmovdqa` of the 16-byte-aligned unit. Processors that
//!   report AVX guarantee that an aligned 16-byte load by it is one atomic
//!   access (Intel SDM vol. 3A, 9.1.1, since 2021; AMD APM vol. 2, 7.3.2;
//!   Zhaoxin likewise), which is what `portable-atomic`, LLVM and Boost
//!   rely on for the same operation. Every x86 load has acquire semantics
//!   (TSO), and a load of a location that some locked instruction wrote is
//!   ordered after it, so it serves every load ordering.
//! - **store**: `vmovdqa` to the unit, atomic by the same guarantee; every
//!   x86 store has release semantics. A `SeqCst` store adds `mfence` after
//!   it (as compilers do for 64-bit ones), ordering it before later loads.
//!
//! Each `asm!` block may read and write memory (no `nomem` or `readonly`
//! option), so the compiler moves no memory access across it: the
//! compiler's side of the ordering. Without both `cmpxchg16b` and AVX (a
//! CPU older than 2011, or a hypervisor that hides AVX) every operation is
//! `portable-atomic`'s, as before. The choice is the CPU's and made once
//! per process, so every access of the process to any unit takes the same
//! path: the two are never mixed on one location.

use std::sync::atomic::{AtomicU8, Ordering};

/// A 128-bit atomic integer: 16 bytes, 16-aligned, all-zero bits are `0`.
#[repr(transparent)]
pub(crate) struct AtomicU128(portable_atomic::AtomicU128);

// The layout the instructions and `Zeroable` (resize/memory.rs) rely on.
const _: () = assert!(std::mem::size_of::<AtomicU128>() == 16);
const _: () = assert!(std::mem::align_of::<AtomicU128>() == 16);

impl AtomicU128 {
    /// A unit holding `v`.
    #[allow(dead_code)] // tests; tables come zeroed (`Zeroed`)
    pub(crate) const fn new(v: u128) -> Self {
        AtomicU128(portable_atomic::AtomicU128::new(v))
    }

    /// The unit's value (every ordering but `Release` and `AcqRel`, which
    /// panic, as for std's atomics).
    #[inline]
    pub(crate) fn load(&self, order: Ordering) -> u128 {
        if native() {
            assert!(!matches!(order, Ordering::Release | Ordering::AcqRel));
            // SAFETY: `native()`: the CPU has AVX, under which the aligned
            // 16-byte `vmovdqa` is atomic (module docs). The pointer is to
            // this unit: valid, 16-aligned (the type's alignment), and
            // accessed only atomically (every access is through `self`).
            unsafe { vmovdqa_load(self.0.as_ptr()) }
        } else {
            self.0.load(order)
        }
    }

    /// Stores `v` (`Relaxed`, `Release` or `SeqCst`; the others panic, as
    /// for std's atomics).
    #[inline]
    pub(crate) fn store(&self, v: u128, order: Ordering) {
        if native() {
            assert!(!matches!(order, Ordering::Acquire | Ordering::AcqRel));
            // SAFETY: as in `load`.
            unsafe { vmovdqa_store(self.0.as_ptr(), v, order == Ordering::SeqCst) }
        } else {
            self.0.store(v, order)
        }
    }

    /// Replaces the value with `new` if it is `current`: `Ok(current)` if
    /// it was, else `Err(the value)`. Always sequentially consistent
    /// natively, which is at least what any `success`/`failure` pair asks.
    #[inline]
    pub(crate) fn compare_exchange(
        &self,
        current: u128,
        new: u128,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u128, u128> {
        if native() {
            // As std's and portable-atomic's: a failure cannot store.
            assert!(!matches!(failure, Ordering::Release | Ordering::AcqRel));
            // SAFETY: `native()`: the CPU has `cmpxchg16b`. The pointer is
            // as in `load`: valid, 16-aligned (the instruction faults
            // otherwise), accessed only atomically.
            let was = unsafe { cmpxchg16b(self.0.as_ptr(), current, new) };
            if was == current {
                Ok(was)
            } else {
                Err(was)
            }
        } else {
            self.0.compare_exchange(current, new, success, failure)
        }
    }
}

/// [`NATIVE`]: not yet detected.
const UNKNOWN: u8 = 0;
/// [`NATIVE`]: `cmpxchg16b` and AVX, the inlined instructions.
const YES: u8 = 1;
/// [`NATIVE`]: `portable-atomic`'s operations.
const NO: u8 = 2;

/// Whether the CPU has `cmpxchg16b` and AVX: [`UNKNOWN`], [`YES`] or
/// [`NO`]. Relaxed: every thread that detects finds the same answer (the
/// CPU's), so which store a load sees does not matter.
static NATIVE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Whether the instructions of this module may be used: known at compile
/// time when the build enables both features, else detected once.
#[inline(always)]
fn native() -> bool {
    if cfg!(all(target_feature = "cmpxchg16b", target_feature = "avx")) {
        return true;
    }
    match NATIVE.load(Ordering::Relaxed) {
        YES => true,
        NO => false,
        _ => detect(),
    }
}

/// The first call's detection (std's, which also checks that the OS saves
/// the AVX registers).
#[cold]
#[inline(never)]
fn detect() -> bool {
    let yes = std::arch::is_x86_feature_detected!("cmpxchg16b")
        && std::arch::is_x86_feature_detected!("avx");
    NATIVE.store(if yes { YES } else { NO }, Ordering::Relaxed);
    yes
}

/// The 16 bytes at `src`, read in one access.
///
/// # Safety
///
/// The CPU has AVX; `src` is valid for reads, 16-aligned, and no
/// non-atomic access to it races with this one.
#[inline(always)]
unsafe fn vmovdqa_load(src: *mut u128) -> u128 {
    debug_assert!(src as usize % 16 == 0);
    let lo: u64;
    let hi: u64;
    // SAFETY: the caller's. The asm reads 16 bytes at `src` into a vector
    // register and moves its halves out; it may touch memory (no `nomem`),
    // so the compiler keeps other accesses on their side of it.
    unsafe {
        std::arch::asm!(
            "vmovdqa {v}, xmmword ptr [{src}]",
            "vmovq {lo}, {v}",
            "vpextrq {hi}, {v}, 1",
            src = in(reg) src,
            v = out(xmm_reg) _,
            lo = out(reg) lo,
            hi = out(reg) hi,
            options(nostack, preserves_flags),
        );
    }
    (u128::from(hi) << 64) | u128::from(lo)
}

/// Writes `v` to the 16 bytes at `dst` in one access; with `seq_cst`,
/// followed by `mfence`.
///
/// # Safety
///
/// As [`vmovdqa_load`], for writes.
#[inline(always)]
unsafe fn vmovdqa_store(dst: *mut u128, v: u128, seq_cst: bool) {
    debug_assert!(dst as usize % 16 == 0);
    let (lo, hi) = (v as u64, (v >> 64) as u64);
    // SAFETY: the caller's. The halves are assembled in a vector register
    // and written by one aligned `vmovdqa`.
    unsafe {
        std::arch::asm!(
            "vmovq {v}, {lo}",
            "vpinsrq {v}, {v}, {hi}, 1",
            "vmovdqa xmmword ptr [{dst}], {v}",
            dst = in(reg) dst,
            lo = in(reg) lo,
            hi = in(reg) hi,
            v = out(xmm_reg) _,
            options(nostack, preserves_flags),
        );
    }
    if seq_cst {
        // `mfence` on x86_64: the store, then the fence, as compilers
        // emit a sequentially consistent store.
        std::sync::atomic::fence(Ordering::SeqCst);
    }
}

/// `lock cmpxchg16b` at `dst`: writes `new` if the 16 bytes are
/// `current`; returns what they were (`current` exactly when it wrote).
///
/// # Safety
///
/// The CPU has `cmpxchg16b`; `dst` is valid for reads and writes,
/// 16-aligned, and no non-atomic access to it races with this one.
#[inline(always)]
unsafe fn cmpxchg16b(dst: *mut u128, current: u128, new: u128) -> u128 {
    debug_assert!(dst as usize % 16 == 0);
    let (was_lo, was_hi): (u64, u64);
    // SAFETY: the caller's. The instruction compares rdx:rax with the 16
    // bytes at `dst` and writes rcx:rbx there if equal, else loads them
    // into rdx:rax: either way rdx:rax ends holding what `dst` held. rbx
    // cannot be an operand (LLVM may keep its own value there), so the new
    // low half goes in through r8, swapped into rbx around the instruction
    // and rbx's value swapped back. Every operand has a register named
    // here: left to the allocator, the address went into rbx itself, and
    // the swap replaced it (a test's segfault).
    unsafe {
        std::arch::asm!(
            "xchg r8, rbx",
            "lock cmpxchg16b xmmword ptr [rsi]",
            "mov rbx, r8",
            in("rsi") dst,
            inout("r8") new as u64 => _,
            in("rcx") (new >> 64) as u64,
            inout("rax") current as u64 => was_lo,
            inout("rdx") (current >> 64) as u64 => was_hi,
            options(nostack),
        );
    }
    (u128::from(was_hi) << 64) | u128::from(was_lo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};

    /// Values whose halves differ, so a half swapped or lost shows.
    const A: u128 = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210;
    const B: u128 = 0xdead_beef_0000_0001_8000_0000_0000_0002;

    #[test]
    fn operations_keep_both_halves() {
        let u = AtomicU128::new(A);
        assert_eq!(u.load(Acquire), A);
        assert_eq!(u.compare_exchange(B, 0, AcqRel, Acquire), Err(A));
        assert_eq!(u.load(Relaxed), A);
        assert_eq!(u.compare_exchange(A, B, AcqRel, Acquire), Ok(A));
        assert_eq!(u.load(SeqCst), B);
        u.store(A, Release);
        assert_eq!(u.load(Acquire), A);
        u.store(u128::MAX, SeqCst);
        assert_eq!(u.load(Acquire), u128::MAX);
        u.store(0, Relaxed);
        assert_eq!(u.compare_exchange(0, 1 << 64, SeqCst, SeqCst), Ok(0));
        assert_eq!(u.load(Acquire), 1 << 64);
    }

    #[test]
    fn the_machine_running_the_tests_takes_the_native_path() {
        // Every x86_64 CPU of the last decade has both; a CI machine that
        // lacks them would test only portable-atomic's path, silently.
        assert!(
            native(),
            "no cmpxchg16b + AVX: the inlined path is untested"
        );
    }

    /// Threads adding one to both halves with compare-exchange while
    /// another only loads: a torn load (one half from before a write, one
    /// from after) shows as halves that differ, a lost write as a short
    /// sum.
    #[test]
    fn increments_are_neither_torn_nor_lost() {
        const THREADS: u64 = 3;
        const EACH: u64 = 200_000;
        let u = AtomicU128::new(0);
        let done = std::sync::atomic::AtomicBool::new(false);
        let halves_agree = |v: u128| assert_eq!(v as u64, (v >> 64) as u64, "a torn load");
        std::thread::scope(|s| {
            s.spawn(|| {
                while !done.load(Relaxed) {
                    halves_agree(u.load(Acquire));
                }
            });
            let adders: Vec<_> = (0..THREADS)
                .map(|_| {
                    s.spawn(|| {
                        for _ in 0..EACH {
                            let mut cur = u.load(Acquire);
                            loop {
                                halves_agree(cur);
                                let next = cur + ((1 << 64) | 1);
                                match u.compare_exchange(cur, next, AcqRel, Acquire) {
                                    Ok(_) => break,
                                    Err(now) => cur = now,
                                }
                            }
                        }
                    })
                })
                .collect();
            for a in adders {
                a.join().unwrap();
            }
            done.store(true, Relaxed);
        });
        let n = u128::from(THREADS * EACH);
        assert_eq!(u.load(Acquire), (n << 64) | n);
    }

    /// Threads storing values whose halves agree while another loads: a
    /// torn store or load shows as halves that differ.
    #[test]
    fn stores_are_not_torn() {
        let u = AtomicU128::new(0);
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                while !done.load(Relaxed) {
                    let v = u.load(Acquire);
                    assert_eq!(v as u64, (v >> 64) as u64, "a torn store or load");
                }
            });
            let u = &u;
            let storers: Vec<_> = (0..2u64)
                .map(|t| {
                    s.spawn(move || {
                        for i in 0..300_000u64 {
                            let half = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ t;
                            let order = if i % 2 == 0 { Release } else { SeqCst };
                            u.store((u128::from(half) << 64) | u128::from(half), order);
                        }
                    })
                })
                .collect();
            for st in storers {
                st.join().unwrap();
            }
            done.store(true, Relaxed);
        });
    }
}
