//! The lfmap demo: Go's concurrent-map failure scenarios, replayed on
//! `lfmap::HashMap` and on `std::sync::RwLock<std::collections::HashMap>`
//! in the same run.
//!
//! Go's built-in map is not safe for concurrent use, and the runtime says so
//! by killing the process:
//!
//! * two goroutines writing at once: `fatal error: concurrent map writes`;
//! * one goroutine iterating while another writes:
//!   `fatal error: concurrent map iteration and map write`;
//! * underneath both: growth moves buckets under a writer's (and an
//!   iterator's) feet.
//!
//! This example runs four such scenarios, each with the same workload on
//! both maps:
//!
//! 1. many writers at once (own keys and shared counters);
//! 2. iterate while writing;
//! 3. delete during iteration (remove entries in the loop that walks them);
//! 4. grow while readers read (from an empty map, no pre-sizing).
//!
//! For each one it prints a table with one row per map: throughput,
//! per-operation latency percentiles (every timed operation is measured on
//! its own with `Instant`), and how many of the scenario's concrete
//! correctness checks passed, followed by the checks themselves. It exits
//! with a non-zero status if any check fails.
//!
//! Both maps hash with the same hasher (`lfmap::DefaultHashBuilder`), so
//! the comparison is between the two concurrency designs, not two hashers.
//! Workload sizes are the constants at the top of each scenario; the whole
//! run takes one to two minutes on two cores (more on a loaded machine).
//!
//! ```sh
//! cargo run --release --example scenarios
//! ```
//!
//! To run some of the scenarios only, name their numbers
//! (`cargo run --release --example scenarios -- 3 4`).

use std::collections::HashMap as StdHashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;
use std::thread::{self, ScopedJoinHandle};
use std::time::{Duration, Instant};

use lfmap::DefaultHashBuilder;

fn main() {
    let started = Instant::now();
    // A hang detector, not a speed check: a whole run takes a minute or two
    // on two quiet cores, but a slow or loaded machine (CI's) can take
    // several times that, mostly in the lock's scenarios, whose writers
    // wait behind the walkers (seen: over 120 s in scenario 2).
    start_watchdog(Duration::from_secs(900));
    let chosen = chosen_scenarios();
    print_preamble();

    let scenarios: [fn(usize) -> bool; 4] = [
        play::<ManyWriters>,
        play::<IterateWhileWriting>,
        play::<DeleteDuringIteration>,
        play::<GrowWhileReading>,
    ];
    let results: Vec<bool> = (1..=scenarios.len())
        .filter(|number| chosen.is_empty() || chosen.contains(number))
        .map(|number| scenarios[number - 1](number))
        .collect();

    let failed = results.iter().filter(|passed| !**passed).count();
    println!();
    println!("total time: {:.1} s", started.elapsed().as_secs_f64());
    if failed == 0 {
        println!("all scenarios PASS");
    } else {
        println!("{failed} scenario(s) FAIL");
        std::process::exit(1);
    }
}

/// The scenario numbers named on the command line (none: all of them).
/// Anything else ends the process with a usage message.
fn chosen_scenarios() -> Vec<usize> {
    std::env::args()
        .skip(1)
        .map(|arg| match arg.parse::<usize>() {
            Ok(number @ 1..=4) => number,
            _ => {
                eprintln!("usage: scenarios [1|2|3|4]...  (no argument: all four; got {arg:?})");
                std::process::exit(2);
            }
        })
        .collect()
}

fn print_preamble() {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    println!("lfmap scenarios: Go's concurrent-map failures, on lfmap and on RwLock<HashMap>");
    println!("machine: {cores} cores; both maps hash with lfmap::DefaultHashBuilder (foldhash)");
    println!(
        "latency: every timed operation is measured on its own with Instant \
         (the ~{} this costs is included)",
        fmt_duration(timer_overhead())
    );
    if cores < MAX_THREADS {
        println!(
            "note:    the scenarios run up to {MAX_THREADS} threads on {cores} cores, so a thread \
             can be descheduled mid-operation;"
        );
        println!("         max latency (for either map) includes that time");
    }
}

/// The most threads any scenario runs at once.
const MAX_THREADS: usize = 4;

// ---------------------------------------------------------------------------
// The two maps, behind one interface
// ---------------------------------------------------------------------------

/// What the scenarios need from a concurrent `u64 -> u64` map.
trait ConcurrentMap: Sync {
    /// The name shown in the tables.
    const NAME: &'static str;

    /// A new, empty map with no capacity reserved.
    fn empty() -> Self;

    fn get(&self, key: u64) -> Option<u64>;

    /// Inserts or overwrites; returns the previous value.
    fn insert(&self, key: u64, value: u64) -> Option<u64>;

    /// Atomically replaces the value of `key` with `f(old)` and returns the
    /// new value; `None` if the key is absent.
    fn update(&self, key: u64, f: impl Fn(u64) -> u64) -> Option<u64>;

    fn len(&self) -> usize;

    /// Walks the whole map once, calling `visit` on every entry.
    fn for_each(&self, visit: impl FnMut(u64, u64));

    /// Walks the whole map once and, in the same pass, removes every entry
    /// for which `visit` returns true. Returns how many of those removals
    /// did not remove the entry that `visit` saw.
    fn sweep(&self, visit: impl FnMut(u64, u64) -> bool) -> u64;

    /// How many times the table was resized, if the map reports it.
    fn resizes(&self) -> Option<u64>;
}

type LfMap = lfmap::HashMap<u64, u64>;
type LockedMap = RwLock<StdHashMap<u64, u64, DefaultHashBuilder>>;

/// lfmap: every call pins a handle for just that operation (the documented
/// pattern); walks pin one handle for the whole walk.
impl ConcurrentMap for LfMap {
    const NAME: &'static str = "lfmap";

    fn empty() -> Self {
        LfMap::new()
    }

    fn get(&self, key: u64) -> Option<u64> {
        self.pin().get(&key).copied()
    }

    fn insert(&self, key: u64, value: u64) -> Option<u64> {
        self.pin().insert(key, value).copied()
    }

    fn update(&self, key: u64, f: impl Fn(u64) -> u64) -> Option<u64> {
        self.pin().update(&key, |v| f(*v)).copied()
    }

    fn len(&self) -> usize {
        LfMap::len(self)
    }

    fn for_each(&self, mut visit: impl FnMut(u64, u64)) {
        let map = self.pin();
        for (&key, &value) in map.iter() {
            visit(key, value);
        }
    }

    fn sweep(&self, mut visit: impl FnMut(u64, u64) -> bool) -> u64 {
        let map = self.pin();
        let mut missed = 0;
        for (&key, &value) in map.iter() {
            if visit(key, value) && map.remove(&key) != Some(&value) {
                missed += 1;
            }
        }
        missed
    }

    fn resizes(&self) -> Option<u64> {
        Some(self.stats().resizes)
    }
}

/// The usual fix in Go (`sync.RWMutex` around a map), in Rust: reads share
/// the lock, writes and sweeps take it exclusively, walks hold the read lock
/// for the whole walk.
impl ConcurrentMap for LockedMap {
    const NAME: &'static str = "RwLock<HashMap>";

    fn empty() -> Self {
        RwLock::new(StdHashMap::default())
    }

    fn get(&self, key: u64) -> Option<u64> {
        self.read().unwrap().get(&key).copied()
    }

    fn insert(&self, key: u64, value: u64) -> Option<u64> {
        self.write().unwrap().insert(key, value)
    }

    fn update(&self, key: u64, f: impl Fn(u64) -> u64) -> Option<u64> {
        let mut map = self.write().unwrap();
        let value = map.get_mut(&key)?;
        *value = f(*value);
        Some(*value)
    }

    fn len(&self) -> usize {
        self.read().unwrap().len()
    }

    fn for_each(&self, mut visit: impl FnMut(u64, u64)) {
        for (&key, &value) in self.read().unwrap().iter() {
            visit(key, value);
        }
    }

    fn sweep(&self, mut visit: impl FnMut(u64, u64) -> bool) -> u64 {
        self.write()
            .unwrap()
            .retain(|&key, &mut value| !visit(key, value));
        0
    }

    fn resizes(&self) -> Option<u64> {
        None
    }
}

// ---------------------------------------------------------------------------
// Running a scenario against both maps
// ---------------------------------------------------------------------------

/// One of Go's failure scenarios, runnable against any [`ConcurrentMap`].
trait Scenario {
    const TITLE: &'static str;
    /// What Go's built-in map does in this scenario.
    const IN_GO: &'static str;
    /// Which operations the ops/s and latency columns describe.
    const TIMED: &'static str;
    /// The workload, in one line.
    fn workload() -> String;
    /// Runs the scenario on a fresh map of type `M`.
    fn run<M: ConcurrentMap>() -> Outcome;
}

/// What one run of a scenario on one map produced.
struct Outcome {
    /// The timed operations (see [`Scenario::TIMED`]).
    latencies: Latencies,
    /// Wall time of the concurrent phase the timed operations ran in.
    elapsed: Duration,
    /// Anything else worth a line under the table.
    note: String,
    checks: Vec<Check>,
}

/// One concrete correctness check and its result.
struct Check {
    what: String,
    /// `None` if it passed, otherwise what went wrong.
    failure: Option<String>,
}

impl Check {
    /// Passes if `bad` is zero, out of `total` things checked.
    fn none_bad(what: impl Into<String>, bad: u64, total: u64) -> Check {
        Check {
            what: what.into(),
            failure: (bad != 0).then(|| format!("{} of {} failed", count(bad), count(total))),
        }
    }

    /// Passes if `actual == expected`.
    fn equal(what: impl Into<String>, actual: u64, expected: u64) -> Check {
        Check {
            what: what.into(),
            failure: (actual != expected)
                .then(|| format!("got {}, expected {}", count(actual), count(expected))),
        }
    }

    fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// A finished run, summarized for the table.
struct Row {
    map: &'static str,
    ops_per_sec: f64,
    p50: Duration,
    p99: Duration,
    p999: Duration,
    max: Duration,
    note: String,
    checks: Vec<Check>,
}

impl Row {
    fn new(map: &'static str, outcome: Outcome) -> Row {
        let Outcome {
            latencies,
            elapsed,
            note,
            checks,
        } = outcome;
        let sorted = latencies.sorted();
        Row {
            map,
            ops_per_sec: sorted.len() as f64 / elapsed.as_secs_f64(),
            p50: percentile(&sorted, 0.50),
            p99: percentile(&sorted, 0.99),
            p999: percentile(&sorted, 0.999),
            max: percentile(&sorted, 1.0),
            note,
            checks,
        }
    }

    fn passed(&self) -> bool {
        self.checks.iter().all(Check::passed)
    }
}

/// Runs scenario `S` on both maps, prints its table and checks, and says
/// whether every check passed.
fn play<S: Scenario>(number: usize) -> bool {
    println!();
    println!("== {number}. {} ==", S::TITLE);
    println!("in Go:    {}", S::IN_GO);
    println!("workload: {}", S::workload());
    println!("timed:    {}", S::TIMED);
    let rows = [measure::<S, LfMap>(), measure::<S, LockedMap>()];
    println!();
    print_table(&rows);
    print_checks(&rows);
    rows.iter().all(Row::passed)
}

/// Runs scenario `S` on map `M`, with a progress line.
fn measure<S: Scenario, M: ConcurrentMap>() -> Row {
    print!("  running on {:<16}", M::NAME);
    std::io::stdout().flush().expect("stdout");
    let started = Instant::now();
    let outcome = S::run::<M>();
    println!("done in {:.2} s", started.elapsed().as_secs_f64());
    Row::new(M::NAME, outcome)
}

fn print_table(rows: &[Row]) {
    println!(
        "  {:<16} {:>9} {:>9} {:>9} {:>9} {:>9}   checks",
        "map", "ops/s", "p50", "p99", "p99.9", "max"
    );
    for row in rows {
        let passed = row.checks.iter().filter(|c| c.passed()).count();
        println!(
            "  {:<16} {:>9} {:>9} {:>9} {:>9} {:>9}   {passed}/{} {}",
            row.map,
            fmt_rate(row.ops_per_sec),
            fmt_duration(row.p50),
            fmt_duration(row.p99),
            fmt_duration(row.p999),
            fmt_duration(row.max),
            row.checks.len(),
            verdict(row.passed()),
        );
    }
    for row in rows {
        println!("  {:<16} {}", row.map, row.note);
    }
}

/// Prints the checks as a matrix (one line per check, one column per map),
/// then the details of any failure.
fn print_checks(rows: &[Row]) {
    println!();
    let header: String = rows.iter().map(|row| format!(" {:<16}", row.map)).collect();
    println!("  {:<56}{}", "check", header.trim_end());
    for (i, check) in rows[0].checks.iter().enumerate() {
        let verdicts: String = rows
            .iter()
            .map(|row| format!(" {:<16}", verdict(row.checks[i].passed())))
            .collect();
        println!("  {:<56}{}", check.what, verdicts.trim_end());
    }
    for row in rows {
        for check in &row.checks {
            if let Some(failure) = &check.failure {
                println!("  FAIL [{}] {}: {failure}", row.map, check.what);
            }
        }
    }
}

fn verdict(passed: bool) -> &'static str {
    if passed {
        "PASS"
    } else {
        "FAIL"
    }
}

// ---------------------------------------------------------------------------
// Scenario 1: many writers at once
// ---------------------------------------------------------------------------

struct ManyWriters;

const MW_THREADS: u64 = 4;
const MW_KEYS_PER_THREAD: u64 = 750_000;
const MW_COUNTERS: u64 = 64;

/// Writer `t`'s `i`th own key.
fn mw_own_key(t: u64, i: u64) -> u64 {
    t * MW_KEYS_PER_THREAD + i
}

/// The key of shared counter `c` (after every own key).
fn mw_counter_key(c: u64) -> u64 {
    MW_THREADS * MW_KEYS_PER_THREAD + c
}

/// How many times each writer bumps counter `c`.
fn mw_bumps_per_thread(c: u64) -> u64 {
    MW_KEYS_PER_THREAD / MW_COUNTERS + u64::from(c < MW_KEYS_PER_THREAD % MW_COUNTERS)
}

impl Scenario for ManyWriters {
    const TITLE: &'static str = "many writers at once";
    const IN_GO: &'static str = "fatal error: concurrent map writes";
    const TIMED: &'static str = "every insert and update";

    fn workload() -> String {
        format!(
            "{MW_THREADS} threads; each inserts {} keys of its own and, after each, \
             bumps one of {MW_COUNTERS} shared counters (read-modify-write)",
            count(MW_KEYS_PER_THREAD)
        )
    }

    fn run<M: ConcurrentMap>() -> Outcome {
        let map = M::empty();
        for c in 0..MW_COUNTERS {
            map.insert(mw_counter_key(c), 0);
        }

        let started = Instant::now();
        let writers = thread::scope(|s| {
            let map = &map;
            let handles = (0..MW_THREADS)
                .map(|t| s.spawn(move || mw_writer(map, t)))
                .collect();
            join_all(handles)
        });
        let elapsed = started.elapsed();

        let own_keys = MW_THREADS * MW_KEYS_PER_THREAD;
        let replaced = writers.iter().map(|w| w.replaced).sum();
        let missing_counters = writers.iter().map(|w| w.missing_counters).sum();
        let wrong_keys = (0..MW_THREADS)
            .flat_map(|t| (0..MW_KEYS_PER_THREAD).map(move |i| mw_own_key(t, i)))
            .filter(|&key| map.get(key) != Some(value_of(key, 0)))
            .count() as u64;
        let lost_bumps = (0..MW_COUNTERS)
            .filter(|&c| map.get(mw_counter_key(c)) != Some(MW_THREADS * mw_bumps_per_thread(c)))
            .count() as u64;

        Outcome {
            latencies: Latencies::merge(writers.into_iter().map(|w| w.latencies)),
            elapsed,
            note: format!("{} inserts + {} updates", count(own_keys), count(own_keys)),
            checks: vec![
                Check::none_bad(
                    "no insert of a fresh key found a previous value",
                    replaced,
                    own_keys,
                ),
                Check::none_bad(
                    "no update found its counter missing",
                    missing_counters,
                    own_keys,
                ),
                Check::none_bad("every own key present with its value", wrong_keys, own_keys),
                Check::none_bad(
                    "every counter = its number of bumps (no lost update)",
                    lost_bumps,
                    MW_COUNTERS,
                ),
                Check::equal("len exact", map.len() as u64, own_keys + MW_COUNTERS),
            ],
        }
    }
}

struct MwWriter {
    latencies: Latencies,
    replaced: u64,
    missing_counters: u64,
}

fn mw_writer<M: ConcurrentMap>(map: &M, t: u64) -> MwWriter {
    let mut writer = MwWriter {
        latencies: Latencies::with_capacity(2 * MW_KEYS_PER_THREAD),
        replaced: 0,
        missing_counters: 0,
    };
    for i in 0..MW_KEYS_PER_THREAD {
        let key = mw_own_key(t, i);
        let counter = mw_counter_key(i % MW_COUNTERS);
        let lat = &mut writer.latencies;
        if lat.time(|| map.insert(key, value_of(key, 0))).is_some() {
            writer.replaced += 1;
        }
        if lat.time(|| map.update(counter, |n| n + 1)).is_none() {
            writer.missing_counters += 1;
        }
    }
    writer
}

// ---------------------------------------------------------------------------
// Scenario 2: iterate while writing
// ---------------------------------------------------------------------------

struct IterateWhileWriting;

const IW_STABLE: u64 = 20_000;
const IW_WRITERS: u64 = 2;
const IW_KEYS_PER_WRITER: u64 = 500_000;
const IW_WALKERS: usize = 2;

/// Writer `t`'s `i`th key (after the stable keys).
fn iw_key(t: u64, i: u64) -> u64 {
    IW_STABLE + t * IW_KEYS_PER_WRITER + i
}

/// The version a writer's `i`th key ends with: each odd-numbered step
/// overwrites the key written just before it.
fn iw_final_version(i: u64) -> u64 {
    u64::from(i % 2 == 0 && i + 1 < IW_KEYS_PER_WRITER)
}

impl Scenario for IterateWhileWriting {
    const TITLE: &'static str = "iterate while writing";
    const IN_GO: &'static str = "fatal error: concurrent map iteration and map write";
    const TIMED: &'static str = "the writers' inserts (walks are reported below the table)";

    fn workload() -> String {
        format!(
            "{} stable keys; {IW_WRITERS} writers insert {} new keys each (overwriting every \
             other one once) while {IW_WALKERS} threads walk the whole map over and over",
            count(IW_STABLE),
            count(IW_KEYS_PER_WRITER)
        )
    }

    fn run<M: ConcurrentMap>() -> Outcome {
        let map = M::empty();
        for key in 0..IW_STABLE {
            map.insert(key, value_of(key, 0));
        }
        let key_space = iw_key(IW_WRITERS, 0);
        let done = AtomicBool::new(false);

        let started = Instant::now();
        let (writers, elapsed, walkers) = thread::scope(|s| {
            let (map, done) = (&map, &done);
            let walkers: Vec<_> = (0..IW_WALKERS)
                .map(|_| s.spawn(move || iw_walker(map, done, key_space)))
                .collect();
            let writers = (0..IW_WRITERS)
                .map(|t| s.spawn(move || iw_writer(map, t)))
                .collect();
            let writers = join_all(writers);
            let elapsed = started.elapsed();
            done.store(true, Ordering::Release);
            (writers, elapsed, join_all(walkers))
        });

        let walks = WalkLog::merge(&walkers);
        let total_keys = key_space;
        let wrong_keys = (0..IW_WRITERS)
            .flat_map(|t| (0..IW_KEYS_PER_WRITER).map(move |i| (iw_key(t, i), i)))
            .filter(|&(key, i)| map.get(key) != Some(value_of(key, iw_final_version(i))))
            .count() as u64
            + (0..IW_STABLE)
                .filter(|&key| map.get(key) != Some(value_of(key, 0)))
                .count() as u64;
        let short_final_walks = walkers
            .iter()
            .filter(|w| w.last_walk_len != total_keys)
            .count() as u64;

        Outcome {
            latencies: Latencies::merge(writers),
            elapsed,
            note: walks.summary("walks"),
            checks: vec![
                Check::none_bad("no key twice in any walk", walks.duplicates, walks.visits),
                Check::none_bad(
                    "every stable key seen by every walk",
                    walks.missing_stable,
                    walks.walks,
                ),
                Check::none_bad(
                    "every key and value seen was one written",
                    walks.unwritten,
                    walks.visits,
                ),
                Check::none_bad(
                    "the walk after the writers finished saw every key",
                    short_final_walks,
                    IW_WALKERS as u64,
                ),
                Check::none_bad(
                    "every key present with its final value",
                    wrong_keys,
                    total_keys,
                ),
                Check::equal("len exact", map.len() as u64, total_keys),
            ],
        }
    }
}

fn iw_writer<M: ConcurrentMap>(map: &M, t: u64) -> Latencies {
    let mut latencies = Latencies::with_capacity(IW_KEYS_PER_WRITER * 3 / 2);
    for i in 0..IW_KEYS_PER_WRITER {
        let key = iw_key(t, i);
        latencies.time(|| map.insert(key, value_of(key, 0)));
        if i % 2 == 1 {
            let previous = iw_key(t, i - 1);
            latencies.time(|| map.insert(previous, value_of(previous, 1)));
        }
    }
    latencies
}

/// Walks the map until the writers are done, then once more.
fn iw_walker<M: ConcurrentMap>(map: &M, done: &AtomicBool, key_space: u64) -> WalkLog {
    let mut checker = WalkChecker::new(key_space, IW_STABLE, 1);
    loop {
        let last = done.load(Ordering::Acquire);
        checker.begin();
        map.for_each(|key, value| checker.visit(key, value));
        checker.end();
        if last {
            return checker.log;
        }
    }
}

// ---------------------------------------------------------------------------
// Scenario 3: delete during iteration
// ---------------------------------------------------------------------------

struct DeleteDuringIteration;

const DI_STABLE: u64 = 20_000;
const DI_WRITERS: u64 = 2;
const DI_KEYS_PER_WRITER: u64 = 600_000;
/// The sweeper's pause between sweeps. Without it, a sweeper that holds
/// the write lock back to back starves the lock's other writers.
const DI_SWEEP_PAUSE: Duration = Duration::from_millis(1);

/// Writer `t`'s `i`th key (after the stable keys).
fn di_key(t: u64, i: u64) -> u64 {
    DI_STABLE + t * DI_KEYS_PER_WRITER + i
}

/// The sweeper removes every odd key the writers insert.
fn di_doomed(key: u64) -> bool {
    key >= DI_STABLE && key % 2 == 1
}

impl Scenario for DeleteDuringIteration {
    const TITLE: &'static str = "delete during iteration";
    const IN_GO: &'static str =
        "fatal error: concurrent map iteration and map write (once another goroutine writes)";
    const TIMED: &'static str = "the writers' inserts (sweeps are reported below the table)";

    fn workload() -> String {
        format!(
            "{} stable keys; {DI_WRITERS} writers insert {} new keys each while one thread \
             sweeps the map every {} ms, removing the odd new keys in the loop that walks them \
             (lfmap: iter + remove on one pinned handle; RwLock: write lock + retain)",
            count(DI_STABLE),
            count(DI_KEYS_PER_WRITER),
            DI_SWEEP_PAUSE.as_millis()
        )
    }

    fn run<M: ConcurrentMap>() -> Outcome {
        let map = M::empty();
        for key in 0..DI_STABLE {
            map.insert(key, value_of(key, 0));
        }
        let key_space = di_key(DI_WRITERS, 0);
        let done = AtomicBool::new(false);

        let started = Instant::now();
        let (writers, elapsed, sweeper) = thread::scope(|s| {
            let (map, done) = (&map, &done);
            let sweeper = s.spawn(move || di_sweeper(map, done, key_space));
            let writers = (0..DI_WRITERS)
                .map(|t| s.spawn(move || di_writer(map, t)))
                .collect();
            let writers = join_all(writers);
            let elapsed = started.elapsed();
            done.store(true, Ordering::Release);
            (writers, elapsed, join(sweeper))
        });

        let doomed = (0..key_space).filter(|&k| di_doomed(k)).count() as u64;
        let kept = key_space - doomed;
        let doomed_left = (0..key_space)
            .filter(|&key| di_doomed(key) && map.get(key).is_some())
            .count() as u64;
        let wrong_kept = (0..key_space)
            .filter(|&key| !di_doomed(key) && map.get(key) != Some(value_of(key, 0)))
            .count() as u64;
        let walks = &sweeper.walks;

        Outcome {
            latencies: Latencies::merge(writers),
            elapsed,
            note: format!(
                "{}, {} removed",
                walks.summary("sweeps"),
                count(sweeper.removed)
            ),
            checks: vec![
                Check::none_bad("no key twice in any sweep", walks.duplicates, walks.visits),
                Check::none_bad(
                    "every stable key seen by every sweep",
                    walks.missing_stable,
                    walks.walks,
                ),
                Check::none_bad(
                    "every key and value seen was one written",
                    walks.unwritten,
                    walks.visits,
                ),
                Check::none_bad(
                    "every removal removed the entry the sweep saw",
                    sweeper.missed,
                    sweeper.removed,
                ),
                Check::equal("each odd key removed exactly once", sweeper.removed, doomed),
                Check::none_bad("no odd key left after the last sweep", doomed_left, doomed),
                Check::none_bad("every kept key present with its value", wrong_kept, kept),
                Check::equal("len exact", map.len() as u64, kept),
            ],
        }
    }
}

fn di_writer<M: ConcurrentMap>(map: &M, t: u64) -> Latencies {
    let mut latencies = Latencies::with_capacity(DI_KEYS_PER_WRITER);
    for i in 0..DI_KEYS_PER_WRITER {
        let key = di_key(t, i);
        latencies.time(|| map.insert(key, value_of(key, 0)));
    }
    latencies
}

struct Sweeper {
    walks: WalkLog,
    /// Entries the sweeps decided to remove.
    removed: u64,
    /// Removals that did not remove the entry the sweep saw.
    missed: u64,
}

/// Sweeps the map until the writers are done, then once more.
fn di_sweeper<M: ConcurrentMap>(map: &M, done: &AtomicBool, key_space: u64) -> Sweeper {
    let mut checker = WalkChecker::new(key_space, DI_STABLE, 0);
    let (mut removed, mut missed) = (0, 0);
    loop {
        let last = done.load(Ordering::Acquire);
        checker.begin();
        missed += map.sweep(|key, value| {
            checker.visit(key, value);
            let doomed = di_doomed(key);
            removed += u64::from(doomed);
            doomed
        });
        checker.end();
        if last {
            return Sweeper {
                walks: checker.log,
                removed,
                missed,
            };
        }
        thread::sleep(DI_SWEEP_PAUSE);
    }
}

// ---------------------------------------------------------------------------
// Scenario 4: grow while readers read
// ---------------------------------------------------------------------------

struct GrowWhileReading;

const GR_KEYS: u64 = 1_000_000;
const GR_READERS: u64 = 2;

impl Scenario for GrowWhileReading {
    const TITLE: &'static str = "grow while readers read";
    const IN_GO: &'static str =
        "fatal error: concurrent map read and map write (growth moves buckets under everyone)";
    const TIMED: &'static str = "the readers' gets (the writer's inserts are reported below)";

    fn workload() -> String {
        format!(
            "empty map, no pre-sizing; one writer inserts keys 0..{} in order while \
             {GR_READERS} readers get random keys it has already inserted",
            count(GR_KEYS)
        )
    }

    fn run<M: ConcurrentMap>() -> Outcome {
        let map = M::empty();
        // Keys below `published` have been inserted.
        let published = AtomicU64::new(0);

        let started = Instant::now();
        let (writer, elapsed, readers) = thread::scope(|s| {
            let (map, published) = (&map, &published);
            let readers: Vec<_> = (1..=GR_READERS)
                .map(|seed| s.spawn(move || gr_reader(map, published, seed)))
                .collect();
            let writer = join(s.spawn(move || gr_writer(map, published)));
            let elapsed = started.elapsed();
            (writer, elapsed, join_all(readers))
        });

        let reads = readers.iter().map(|r| r.latencies.len()).sum::<usize>() as u64;
        let bad_reads = readers.iter().map(|r| r.bad_reads).sum();
        let wrong_keys = (0..GR_KEYS)
            .filter(|&key| map.get(key) != Some(value_of(key, 0)))
            .count() as u64;
        let writes = writer.latencies.sorted();
        let resizes = map
            .resizes()
            .map_or(String::new(), |n| format!(", {n} resizes"));

        Outcome {
            latencies: Latencies::merge(readers.into_iter().map(|r| r.latencies)),
            elapsed,
            note: format!(
                "writer: {} inserts in {:.2} s, p99.9 {}, slowest {}{resizes}",
                count(GR_KEYS),
                elapsed.as_secs_f64(),
                fmt_duration(percentile(&writes, 0.999)),
                fmt_duration(percentile(&writes, 1.0)),
            ),
            checks: vec![
                Check::none_bad(
                    "no insert of a fresh key found a previous value",
                    writer.replaced,
                    GR_KEYS,
                ),
                Check::none_bad(
                    "every read of an inserted key returned its value",
                    bad_reads,
                    reads,
                ),
                Check::none_bad("every key present with its value", wrong_keys, GR_KEYS),
                Check::equal("len exact", map.len() as u64, GR_KEYS),
            ],
        }
    }
}

struct GrWriter {
    latencies: Latencies,
    replaced: u64,
}

fn gr_writer<M: ConcurrentMap>(map: &M, published: &AtomicU64) -> GrWriter {
    let mut writer = GrWriter {
        latencies: Latencies::with_capacity(GR_KEYS),
        replaced: 0,
    };
    for key in 0..GR_KEYS {
        if writer
            .latencies
            .time(|| map.insert(key, value_of(key, 0)))
            .is_some()
        {
            writer.replaced += 1;
        }
        published.store(key + 1, Ordering::Release);
    }
    writer
}

struct GrReader {
    latencies: Latencies,
    /// Reads of an already-inserted key that missed or saw a wrong value.
    bad_reads: u64,
}

/// Reads random already-inserted keys until the writer has inserted all.
fn gr_reader<M: ConcurrentMap>(map: &M, published: &AtomicU64, seed: u64) -> GrReader {
    let mut reader = GrReader {
        latencies: Latencies::with_capacity(4_000_000),
        bad_reads: 0,
    };
    let mut rng = XorShift::new(seed);
    loop {
        let inserted = published.load(Ordering::Acquire);
        if inserted == GR_KEYS {
            return reader;
        }
        if inserted == 0 {
            std::hint::spin_loop();
            continue;
        }
        let key = rng.next() % inserted;
        if reader.latencies.time(|| map.get(key)) != Some(value_of(key, 0)) {
            reader.bad_reads += 1;
        }
    }
}

// ---------------------------------------------------------------------------
// Checking walks
// ---------------------------------------------------------------------------

/// Checks one walk of the map at a time: no key twice, every stable key
/// (`0..stable`) seen, every key and value one that was written.
struct WalkChecker {
    /// For each key, the number of the last walk that saw it ([`UNSEEN`]
    /// before the first).
    seen: Vec<u32>,
    stable: u64,
    max_version: u64,
    walk_started: Instant,
    walk_len: u64,
    stable_seen: u64,
    log: WalkLog,
}

/// What a thread's walks found, in total.
#[derive(Default)]
struct WalkLog {
    walks: u64,
    visits: u64,
    duplicates: u64,
    /// Walks that missed at least one stable key.
    missing_stable: u64,
    /// Entries whose key was never inserted or whose value was never written.
    unwritten: u64,
    last_walk_len: u64,
    total_time: Duration,
    longest: Duration,
}

/// A key no walk has seen yet: not a walk number (walks count from 1; this
/// one would take 2^32 - 1 walks).
const UNSEEN: u32 = u32::MAX;

impl WalkChecker {
    /// Keys are in `0..key_space`, stable keys in `0..stable`; values are
    /// `value_of(key, v)` with `v <= max_version`.
    fn new(key_space: u64, stable: u64, max_version: u64) -> WalkChecker {
        WalkChecker {
            // Filled with a value that is not zero, so that the fill
            // writes every page. `vec![0; n]` takes pages the kernel
            // zeroes on first touch, untouched; the walk's first read of
            // each then maps the shared zero page, and its write replaces
            // that mapping, which takes a TLB shootdown: an interrupt to
            // every other CPU running this process. Those CPUs run the map's
            // writers, in the middle of the operations this demo times:
            // hundreds of 5-10 µs stalls per run of scenario 3, the
            // checker's cost counted as lfmap's (the lock's writers wait
            // out a sweep asleep, so the interrupts rarely land in a timed
            // operation of theirs). A page first written faults on this
            // thread alone.
            seen: vec![UNSEEN; key_space as usize],
            stable,
            max_version,
            walk_started: Instant::now(),
            walk_len: 0,
            stable_seen: 0,
            log: WalkLog::default(),
        }
    }

    fn begin(&mut self) {
        self.log.walks += 1;
        self.walk_len = 0;
        self.stable_seen = 0;
        self.walk_started = Instant::now();
    }

    fn visit(&mut self, key: u64, value: u64) {
        let walk = self.log.walks as u32;
        self.walk_len += 1;
        let Some(seen) = self.seen.get_mut(key as usize) else {
            self.log.unwritten += 1; // a key no one inserted
            return;
        };
        if !is_written(key, value, self.max_version) {
            self.log.unwritten += 1;
        }
        if *seen == walk {
            self.log.duplicates += 1;
            return;
        }
        *seen = walk;
        if key < self.stable {
            self.stable_seen += 1;
        }
    }

    fn end(&mut self) {
        let took = self.walk_started.elapsed();
        let log = &mut self.log;
        log.total_time += took;
        log.longest = log.longest.max(took);
        log.visits += self.walk_len;
        log.last_walk_len = self.walk_len;
        if self.stable_seen != self.stable {
            log.missing_stable += 1;
        }
    }
}

impl WalkLog {
    /// The sum of several threads' logs (`last_walk_len` is not summed).
    fn merge(logs: &[WalkLog]) -> WalkLog {
        let mut total = WalkLog::default();
        for log in logs {
            total.walks += log.walks;
            total.visits += log.visits;
            total.duplicates += log.duplicates;
            total.missing_stable += log.missing_stable;
            total.unwritten += log.unwritten;
            total.total_time += log.total_time;
            total.longest = total.longest.max(log.longest);
        }
        total
    }

    fn summary(&self, name: &str) -> String {
        let mean = self.total_time / self.walks.max(1) as u32;
        format!(
            "{} {name} of the whole map ({} entries visited), mean {}, longest {}",
            count(self.walks),
            count(self.visits),
            fmt_duration(mean),
            fmt_duration(self.longest)
        )
    }
}

// ---------------------------------------------------------------------------
// Values, latencies and small helpers
// ---------------------------------------------------------------------------

/// Values carry their key and a version, so a reader can tell whether a
/// value it saw was ever written for that key.
fn value_of(key: u64, version: u64) -> u64 {
    key << 8 | version
}

fn is_written(key: u64, value: u64, max_version: u64) -> bool {
    value >> 8 == key && value & 0xff <= max_version
}

/// Per-operation latencies of one thread, in nanoseconds.
struct Latencies(Vec<u32>);

impl Latencies {
    fn with_capacity(ops: u64) -> Latencies {
        Latencies(Vec::with_capacity(ops as usize))
    }

    /// Runs `op`, recording how long it took.
    #[inline]
    fn time<R>(&mut self, op: impl FnOnce() -> R) -> R {
        let start = Instant::now();
        let result = op();
        let nanos = start.elapsed().as_nanos();
        self.0.push(u32::try_from(nanos).unwrap_or(u32::MAX));
        result
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn merge(parts: impl IntoIterator<Item = Latencies>) -> Latencies {
        Latencies(parts.into_iter().flat_map(|part| part.0).collect())
    }

    fn sorted(mut self) -> Vec<u32> {
        self.0.sort_unstable();
        self.0
    }
}

/// The `q` quantile (0.0 ..= 1.0) of sorted nanosecond samples.
fn percentile(sorted: &[u32], q: f64) -> Duration {
    let Some(last) = sorted.len().checked_sub(1) else {
        return Duration::ZERO;
    };
    let index = (last as f64 * q).round() as usize;
    Duration::from_nanos(u64::from(sorted[index]))
}

/// The median cost of timing an empty operation.
fn timer_overhead() -> Duration {
    let mut latencies = Latencies::with_capacity(100_000);
    for _ in 0..100_000 {
        latencies.time(|| ());
    }
    percentile(&latencies.sorted(), 0.5)
}

/// Joins a scoped thread, re-raising its panic if it panicked.
fn join<T>(handle: ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn join_all<T>(handles: Vec<ScopedJoinHandle<'_, T>>) -> Vec<T> {
    handles.into_iter().map(join).collect()
}

/// Ends the process if the run hangs: a hang is a failure too.
fn start_watchdog(limit: Duration) {
    thread::spawn(move || {
        thread::sleep(limit);
        eprintln!(
            "FAIL: still running after {} s; something hangs",
            limit.as_secs()
        );
        std::process::exit(2);
    });
}

/// A tiny deterministic random number generator (xorshift64).
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn fmt_duration(d: Duration) -> String {
    let nanos = d.as_nanos() as f64;
    match d.as_nanos() {
        0..=999 => format!("{nanos} ns"),
        1_000..=999_999 => format!("{:.1} µs", nanos / 1e3),
        1_000_000..=999_999_999 => format!("{:.1} ms", nanos / 1e6),
        _ => format!("{:.2} s", nanos / 1e9),
    }
}

fn fmt_rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.2} M", per_sec / 1e6)
    } else {
        format!("{:.0} k", per_sec / 1e3)
    }
}

/// `1234567` as `1,234,567`.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
