//! The CPU a child's timed threads actually received, for the report's
//! check of a loaded machine: the 1-minute load at the start says little
//! about a 20-minute run, and another process that starts later takes
//! cores from the children it overlaps, so each child measures its own.
//!
//! Each timed thread reads, just before and just after its timed loop
//! (outside the clock), its CPU time (`CLOCK_THREAD_CPUTIME_ID`), its
//! run-queue wait (`/proc/thread-self/schedstat`: nanoseconds runnable but
//! waiting for a CPU) and its voluntary context switches
//! (`/proc/thread-self/status`: times it went to sleep). The CPU time in
//! `schedstat` is only brought up to date at the scheduler's tick, up to
//! 4 ms late, too coarse for a quick run's loop; the wait is exact when
//! the thread reads it itself, being on a CPU then. Timed loops only, not
//! the whole process (as `getrusage` at exit would count): the prefill
//! and the operation generation run on fewer threads than the loop, and
//! would read as CPU not received. The user build links lfmap alone, no
//! `libc` crate, hence the one `clock_gettime` declared below (std links
//! the C library anyway).
//!
//! From them (`cpu_fields`):
//!
//! * `cpu_share`: the threads' CPU time over the timed window (first
//!   thread's start to last thread's end) times the cores they could use,
//!   `min(threads, available cores)`; 1.0 is every thread on a core all
//!   the time. It falls when other processes hold the cores, when the
//!   hypervisor steals the virtual CPU (the guest does not count stolen
//!   time as the thread's), and also when the threads sleep on a lock of
//!   their own: `Mutex<HashMap>` at 2 threads reads about 0.83 on an idle
//!   machine.
//! * `cpu_got`: of the time the threads were runnable (on a CPU or
//!   waiting for one), the share on a CPU, over the share `min(threads,
//!   cores) / threads` they would get by themselves (4 threads on 2 cores
//!   get half each). Sleeping on a lock does not lower it; other
//!   processes do; stolen time does not show in it.
//! * `sleeps`: voluntary context switches in the timed loops.
//!
//! The report (`stats::starved`) marks a run whose `cpu_share` is below
//! 90%, unless its threads slept (`sleeps` > 0) and `cpu_got` is 90% or
//! more: then the shortfall is the threads' own waits on a lock, not CPU
//! taken from them.

use std::time::Instant;

use crate::workloads::Fields;

/// Nanoseconds a thread has run on a CPU and waited on a run queue, and
/// how many times it went to sleep.
#[derive(Clone, Copy, Default)]
pub struct Sched {
    pub run_ns: u64,
    pub wait_ns: u64,
    pub sleeps: u64,
}

/// `struct timespec` of 64-bit Linux.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

/// The calling thread's CPU time, in nanoseconds.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn thread_cpu_ns() -> Option<u64> {
    /// Linux's `CLOCK_THREAD_CPUTIME_ID`.
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes one `struct timespec`, whose layout on
    // 64-bit Linux `Timespec` repeats, and keeps no pointer to it.
    let rc = unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// Elsewhere: not measured (the report then marks nothing).
#[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
fn thread_cpu_ns() -> Option<u64> {
    None
}

/// The calling thread's CPU time, run-queue wait and voluntary context
/// switches, `None` where they cannot be read (`CONFIG_SCHED_INFO` off,
/// no `/proc`, not 64-bit Linux).
pub fn thread_sched() -> Option<Sched> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let wait_ns = stat.split_whitespace().nth(1)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string("/proc/thread-self/status").ok()?;
    let sleeps = status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(Sched {
        run_ns: thread_cpu_ns()?,
        wait_ns,
        sleeps,
    })
}

/// A timed thread's loop: its start and end, and its scheduler
/// statistics over it (`None` if they could not be read).
#[derive(Clone, Copy)]
pub struct Span {
    pub start: Instant,
    pub end: Instant,
    pub sched: Option<Sched>,
}

/// Starts a [`Span`]: reads the statistics, then the clock.
pub fn span_start() -> (Instant, Option<Sched>) {
    let s = thread_sched();
    (Instant::now(), s)
}

/// Ends the span begun by [`span_start`]: the clock, then the statistics.
pub fn span_end(begun: (Instant, Option<Sched>)) -> Span {
    let end = Instant::now();
    let after = thread_sched();
    let sched = match (begun.1, after) {
        (Some(a), Some(b)) => Some(Sched {
            run_ns: b.run_ns.saturating_sub(a.run_ns),
            wait_ns: b.wait_ns.saturating_sub(a.wait_ns),
            sleeps: b.sleeps.saturating_sub(a.sleeps),
        }),
        _ => None,
    };
    Span {
        start: begun.0,
        end,
        sched,
    }
}

/// `cpu_share`, `cpu_got`, `sleeps` (the module header) and `runq_share`
/// (of the threads' runnable time, the part spent waiting for a CPU), for
/// the spans of a child's timed threads; nothing if a thread's statistics
/// are missing.
pub fn cpu_fields(spans: &[Span], out: &mut Fields) {
    let Some(start) = spans.iter().map(|s| s.start).min() else {
        return;
    };
    let end = spans.iter().map(|s| s.end).max().unwrap();
    let Some(scheds) = spans.iter().map(|s| s.sched).collect::<Option<Vec<_>>>() else {
        return;
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = spans.len() as f64;
    let usable = spans.len().min(cores) as f64;
    let run: u64 = scheds.iter().map(|s| s.run_ns).sum();
    let wait: u64 = scheds.iter().map(|s| s.wait_ns).sum();
    let sleeps: u64 = scheds.iter().map(|s| s.sleeps).sum();
    let window_ns = (end - start).as_nanos() as f64;
    if window_ns <= 0.0 || run + wait == 0 {
        return;
    }
    let on_cpu = run as f64 / (run + wait) as f64;
    out.push(("cpu_share".into(), run as f64 / (window_ns * usable)));
    out.push(("cpu_got".into(), on_cpu / (usable / threads)));
    out.push(("runq_share".into(), 1.0 - on_cpu));
    out.push(("sleeps".into(), sleeps as f64));
}
