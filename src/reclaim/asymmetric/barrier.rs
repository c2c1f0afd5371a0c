//! The barrier strategy: the two halves of the pin/retire ordering.
//!
//! A pin stores its announcement and then loads the root; a retirement
//! unlinks a table, bumps the epoch, and then must know that every pin
//! either shows its announcement to a later scan or loads the root after
//! the unlink (`docs/design.md`, "Table reclamation"). That is a
//! store-buffering pattern, and each side needs a barrier between its store
//! and its loads. The pin runs on every operation and the retirement once
//! per resize, so the cost is put on the retirement:
//!
//! | strategy | [`light`] (pin) | [`heavy`] (retire) | when |
//! |---|---|---|---|
//! | membarrier | compiler fence | `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`: a full fence on every CPU running a thread of this process | Linux >= 4.14, detected once per process ([`init`]) |
//! | fences | `fence(SeqCst)` | `fence(SeqCst)` | elsewhere (other OSes, older kernels, valgrind), and always under loom, which models it |
//!
//! Only [`light`] is on the pin's path: a `Relaxed` load of the strategy
//! (a plain load of a line that never changes after the first map) and, with
//! membarrier, a compiler fence: no instruction.

#[cfg(loom)]
pub(super) use self::model::{heavy, init, light};
#[cfg(not(loom))]
pub(super) use self::native::{heavy, init, light};

/// The strategy chosen once per process.
#[cfg(not(loom))]
mod native {
    use std::sync::atomic::{compiler_fence, fence, AtomicU8, Ordering::Relaxed, Ordering::SeqCst};

    const UNKNOWN: u8 = 0;
    const MEMBARRIER: u8 = 1;
    const FENCES: u8 = 2;

    static STRATEGY: AtomicU8 = AtomicU8::new(UNKNOWN);

    /// Picks the strategy, once. Called when a map is created, so before any
    /// pin of that map: a thread that uses the map got it through some
    /// synchronisation after this returned and sees the chosen strategy.
    pub(in super::super) fn init() {
        // Relaxed: the value only picks between two correct protocols, and
        // every reader of a map sees it through the map's publication.
        if STRATEGY.load(Relaxed) == UNKNOWN {
            let s = if sys::register() { MEMBARRIER } else { FENCES };
            // The first answer wins and every thread uses it, even if
            // threads would answer differently (a per-thread seccomp
            // filter): the registration belongs to the process.
            let _ = STRATEGY.compare_exchange(UNKNOWN, s, Relaxed, Relaxed);
        }
    }

    /// Whether pins may skip the hardware fence.
    #[inline]
    fn fast() -> bool {
        STRATEGY.load(Relaxed) == MEMBARRIER
    }

    /// The pin side: orders the announcement store before the loads that
    /// follow it, against a `heavy` barrier on another thread.
    #[inline]
    pub(in super::super) fn light() {
        if fast() {
            // The heavy barrier runs a fence on this CPU for us; only the
            // compiler must keep the store before the loads.
            compiler_fence(SeqCst);
        } else {
            fence(SeqCst);
        }
    }

    /// The retire side.
    pub(in super::super) fn heavy() {
        if fast() {
            sys::barrier();
        } else {
            fence(SeqCst);
        }
    }

    #[cfg(target_os = "linux")]
    mod sys {
        // From include/uapi/linux/membarrier.h (libc does not name them).
        const CMD_QUERY: libc::c_int = 0;
        const CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
        const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

        fn membarrier(cmd: libc::c_int) -> libc::c_long {
            // SAFETY: membarrier takes (cmd, flags, cpu_id) integers and
            // touches no memory of ours.
            unsafe {
                libc::syscall(
                    libc::SYS_membarrier,
                    cmd,
                    0 as libc::c_uint,
                    0 as libc::c_int,
                )
            }
        }

        /// Registers the process for private expedited membarriers; false
        /// where the kernel (or valgrind) does not offer them. One barrier
        /// is issued too, and must succeed: a seccomp filter that lets the
        /// query and the registration through but not the barrier itself
        /// then selects the fence strategy here, instead of aborting the
        /// process at the first epoch bump (`barrier`).
        pub(super) fn register() -> bool {
            let supported = membarrier(CMD_QUERY);
            let needed = (CMD_PRIVATE_EXPEDITED | CMD_REGISTER_PRIVATE_EXPEDITED) as libc::c_long;
            supported >= 0
                && supported & needed == needed
                && membarrier(CMD_REGISTER_PRIVATE_EXPEDITED) == 0
                && membarrier(CMD_PRIVATE_EXPEDITED) == 0
        }

        pub(super) fn barrier() {
            // Once registered, the call fails only transiently (ENOMEM: the
            // kernel could not allocate a CPU mask), so retry. The
            // registration belongs to the address space and survives fork
            // (checked on Linux 6.18: a forked child's call returns 0); exec
            // starts a new process with this crate's statics reset. If it
            // kept failing (a seccomp filter installed after the first map
            // was created), pins that skipped their fence would be
            // unprotected, and the only sound answer is to stop.
            for _ in 0..1000 {
                if membarrier(CMD_PRIVATE_EXPEDITED) == 0 {
                    return;
                }
                std::thread::yield_now();
            }
            std::process::abort();
        }
    }

    #[cfg(not(target_os = "linux"))]
    mod sys {
        pub(super) fn register() -> bool {
            false
        }
        pub(super) fn barrier() {
            unreachable!("membarrier is never selected off Linux")
        }
    }
}

/// Under loom, which cannot model `membarrier`: the fence strategy, which
/// loom models (its `SeqCst` fences are in one total order).
#[cfg(loom)]
mod model {
    use crate::sync::fence;
    use crate::sync::Ordering::SeqCst;

    pub(in super::super) fn init() {}

    pub(in super::super) fn light() {
        // Mutation `light_noop`: a pin without its fence (its announcement
        // may not be seen by a scan while it reads the table).
        if !mutation!("light_noop") {
            fence(SeqCst);
        }
    }

    pub(in super::super) fn heavy() {
        fence(SeqCst);
    }
}
