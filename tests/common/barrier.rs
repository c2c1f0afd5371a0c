//! [`UnwindBarrier`]: a `std::sync::Barrier` that a panicking thread
//! breaks. With std's, a thread that fails an assertion before it reaches
//! the barrier leaves the others waiting there forever, and the test hangs
//! instead of failing; with this one they panic too, and the test fails
//! with the first thread's message.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;

/// A barrier for `parties` threads, reusable like std's, that each thread
/// waits at through its own [`Party`] ([`enter`](UnwindBarrier::enter)).
pub struct UnwindBarrier {
    parties: usize,
    state: Mutex<State>,
    turned: Condvar,
}

struct State {
    /// Threads waiting in the current generation.
    arrived: usize,
    /// Bumped each time all the parties have arrived.
    generation: u64,
    /// A party panicked: no generation can complete any more.
    broken: bool,
}

impl UnwindBarrier {
    pub fn new(parties: usize) -> UnwindBarrier {
        UnwindBarrier {
            parties,
            state: Mutex::new(State {
                arrived: 0,
                generation: 0,
                broken: false,
            }),
            turned: Condvar::new(),
        }
    }

    /// This thread's place at the barrier. Take it first thing in the
    /// thread, before anything that may panic: if the thread panics while
    /// it holds its `Party`, the barrier breaks, and every thread waiting
    /// at it, or arriving later, panics instead of waiting forever.
    pub fn enter(&self) -> Party<'_> {
        Party(self)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned lock (a panic
        // elsewhere) still holds a consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One thread's place at an [`UnwindBarrier`].
pub struct Party<'a>(&'a UnwindBarrier);

impl Party<'_> {
    /// Waits until all the parties have arrived, as `Barrier::wait`;
    /// panics if another party panicked instead.
    pub fn wait(&self) {
        let barrier = self.0;
        let mut state = barrier.lock();
        if !state.broken {
            state.arrived += 1;
            if state.arrived == barrier.parties {
                state.arrived = 0;
                state.generation += 1;
                barrier.turned.notify_all();
                return;
            }
            let generation = state.generation;
            while state.generation == generation && !state.broken {
                state = barrier
                    .turned
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if state.generation != generation {
                return;
            }
        }
        drop(state);
        panic!("barrier broken: another thread panicked before reaching it");
    }
}

impl Drop for Party<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.lock().broken = true;
            self.0.turned.notify_all();
        }
    }
}
