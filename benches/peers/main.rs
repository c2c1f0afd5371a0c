//! lfmap against its peers on multi-threaded workloads; writes
//! `docs/benchmarks.md` and the SVG charts next to it.
//!
//! ```sh
//! cargo bench --bench peers              # full run (~20 min on 2 cores), writes docs/
//! cargo bench --bench peers -- --quick   # smoke test (~1 min), writes target/bench-quick/
//! ```
//!
//! Options (after `--`): `--quick`, `--reps N`, `--maps a,b`, `--workloads
//! a,b`, `--threads 1,2,4`, `--strings` / `--no-strings`, `--out DIR`,
//! `--user-bin PATH` (lfmap's rows from a `peers-user` built beforehand,
//! for a machine with no toolchain: `benches/device-scaling.sh`).
//!
//! The driver re-executes this binary once per (repetition, workload, map,
//! threads) with `--child ...`, so every measurement starts in a fresh
//! process (a map that freed millions of entries otherwise leaves the
//! allocator in a state that slows the next map down). Repetitions are
//! interleaved across maps (repetition is the outer loop, and the map order
//! rotates), and the report gives the median with the min-max spread. Key
//! and operation sequences come from a splitmix64 PRNG, generated before
//! the clock starts.
//!
//! The modules, in the order a run goes through them:
//!
//! * [`driver`]: options, one child process per measurement, the checks for
//!   a loaded machine; then hands the records to the report.
//! * [`child`]: child mode, its command line (`--child wl=... map=...`) and
//!   the `RESULT` line it prints.
//! * [`workloads`]: what a child runs and times, and the correctness
//!   checks it makes afterwards (a failed one fails the child); [`hist`]
//!   (latency histograms, the timer's cost), [`alloc`] (the counting
//!   global allocator, RSS and its peak) and [`cpu`] (the CPU its threads
//!   received) measure it.
//! * [`stats`]: the records, medians over repetitions, queries.
//! * [`report`]: `benchmarks.md` and the raw CSV, with [`targets`] (the
//!   issues' bounds), [`charts`] (the SVGs) and [`provenance`] (versions,
//!   commit, time).

#[path = "../common/mod.rs"]
mod common;

mod alloc;
mod charts;
mod child;
mod cpu;
mod driver;
mod hist;
mod provenance;
mod report;
mod stats;
mod targets;
mod workloads;

use child::child_main;
use driver::driver_main;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        child_main(&args[1..]);
    } else {
        driver_main(&args);
    }
}
