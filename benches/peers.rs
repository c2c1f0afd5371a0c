//! lfmap against its peers on multi-threaded workloads; writes
//! `docs/benchmarks.md` and the SVG charts next to it.
//!
//! ```sh
//! cargo bench --bench peers              # full run (~20 min on 2 cores), writes docs/
//! cargo bench --bench peers -- --quick   # smoke test (~1 min), writes target/bench-quick/
//! ```
//!
//! Options (after `--`): `--quick`, `--reps N`, `--maps a,b`, `--workloads
//! a,b`, `--threads 1,2,4`, `--strings` / `--no-strings`, `--out DIR`.
//!
//! The driver re-executes this binary once per (repetition, workload, map,
//! threads) with `--child ...`, so every measurement starts in a fresh
//! process (a map that freed millions of entries otherwise leaves the
//! allocator in a state that slows the next map down). Repetitions are
//! interleaved across maps (repetition is the outer loop, and the map order
//! rotates), and the report gives the median with the min-max spread. Key
//! and operation sequences come from a splitmix64 PRNG, generated before
//! the clock starts.

#[path = "common/mod.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::{is_concurrent, mix, takes_key, visit_map, BenchMap, Key, Rng, Visit, MAP_IDS};

// ---------------------------------------------------------------------------
// Heap accounting (only switched on in the memory workload's child).

/// The system allocator, counting live and peak bytes while `COUNTING` is set.
struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn count(delta: isize) {
    if COUNTING.load(Ordering::Relaxed) {
        let now = LIVE.fetch_add(delta, Ordering::Relaxed) + delta;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to `System` unchanged; the counters are
// bookkeeping only.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's obligations are `System`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Resident set size of this process, in bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

// ---------------------------------------------------------------------------
// Latency histogram: exact below 64 ns, then 64 sub-buckets per power of two
// (at most 1.6% relative error). Values are nanoseconds.

const SUB: u64 = 64;

#[derive(Clone)]
struct Hist {
    counts: Vec<u64>,
    n: u64,
    max: u64,
}

impl Hist {
    fn new() -> Hist {
        Hist {
            counts: vec![0; (SUB + 58 * SUB) as usize],
            n: 0,
            max: 0,
        }
    }

    #[inline]
    fn index(v: u64) -> usize {
        if v < SUB {
            v as usize
        } else {
            let e = 63 - v.leading_zeros() as u64; // >= 6
            let sub = (v >> (e - 6)) & (SUB - 1);
            (SUB + (e - 6) * SUB + sub) as usize
        }
    }

    /// The midpoint of bucket `i`.
    fn value(i: usize) -> u64 {
        let i = i as u64;
        if i < SUB {
            i
        } else {
            let e = (i - SUB) / SUB + 6;
            let sub = (i - SUB) % SUB;
            let width = 1u64 << (e - 6);
            ((SUB + sub) << (e - 6)) + width / 2
        }
    }

    #[inline]
    fn record(&mut self, ns: u64) {
        self.counts[Self::index(ns)] += 1;
        self.n += 1;
        self.max = self.max.max(ns);
    }

    fn merge(&mut self, o: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.n += o.n;
        self.max = self.max.max(o.max);
    }

    /// The value below which a fraction `q` of the samples lie.
    fn quantile(&self, q: f64) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::value(i).min(self.max);
            }
        }
        self.max
    }
}

/// Percentiles reported for every latency distribution.
const QUANTILES: &[(&str, f64)] = &[
    ("p50", 0.5),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("p99.99", 0.9999),
];

fn hist_fields(prefix: &str, h: &Hist, out: &mut Vec<(String, f64)>) {
    for (name, q) in QUANTILES {
        out.push((format!("{prefix}{name}"), h.quantile(*q) as f64));
    }
    out.push((format!("{prefix}max"), h.max as f64));
    out.push((format!("{prefix}n"), h.n as f64));
}

#[inline(always)]
fn ns_since(t: Instant) -> u64 {
    t.elapsed().as_nanos() as u64
}

/// The cost of one `Instant::now()` pair as the latency loops use it: the
/// median of many back-to-back pairs, in nanoseconds.
fn timer_cost_ns() -> u64 {
    let mut h = Hist::new();
    for _ in 0..200_000 {
        let a = Instant::now();
        h.record(ns_since(a));
    }
    h.quantile(0.5)
}

// ---------------------------------------------------------------------------
// Workloads.

const WORKLOADS: &[(&str, &str)] = &[
    ("read_heavy", "read-heavy: 98% get / 1% insert / 1% remove"),
    (
        "exchange",
        "exchange: 10% get / 40% insert / 40% remove / 10% update",
    ),
    ("mixed", "mixed: 50% get / 25% insert / 25% remove"),
    ("rapid_grow", "rapid grow: insert 4M keys into an empty map"),
    (
        "read_growth",
        "read during growth: 1 writer grows, 1 reader gets",
    ),
    ("memory", "memory: bytes per u64->u64 entry"),
    (
        "counter",
        "counter: add 1 to 1,000 hot keys (90%) and 1M cold keys (10%)",
    ),
];

const OP_GET: u64 = 0;
const OP_INSERT: u64 = 1;
const OP_REMOVE: u64 = 2;
const OP_UPDATE: u64 = 3;
const KEY_MASK: u64 = (1 << 62) - 1;

/// What a child process runs.
#[derive(Clone, Debug)]
struct ChildCfg {
    wl: String,
    map: String,
    threads: usize,
    key: String,
    /// `thr` (throughput, no per-op clocks) or `lat` (per-op latency).
    mode: String,
    presized: bool,
    /// The key space of workloads 1-3 is `2^keybits`.
    keybits: u32,
    /// Operations of workloads 1-3, all threads together.
    ops: u64,
    /// Keys inserted by workloads 4-6.
    grow: u64,
}

impl ChildCfg {
    fn args(&self) -> Vec<String> {
        vec![
            "--child".into(),
            format!("wl={}", self.wl),
            format!("map={}", self.map),
            format!("threads={}", self.threads),
            format!("key={}", self.key),
            format!("mode={}", self.mode),
            format!("presized={}", self.presized as u8),
            format!("keybits={}", self.keybits),
            format!("ops={}", self.ops),
            format!("grow={}", self.grow),
        ]
    }

    fn parse(args: &[String]) -> ChildCfg {
        let mut c = ChildCfg {
            wl: String::new(),
            map: String::new(),
            threads: 1,
            key: "u64".into(),
            mode: "thr".into(),
            presized: false,
            keybits: 20,
            ops: 8 << 20,
            grow: 4 << 20,
        };
        for a in args {
            let (k, v) = a.split_once('=').expect("child arguments are key=value");
            match k {
                "wl" => c.wl = v.into(),
                "map" => c.map = v.into(),
                "threads" => c.threads = v.parse().unwrap(),
                "key" => c.key = v.into(),
                "mode" => c.mode = v.into(),
                "presized" => c.presized = v == "1",
                "keybits" => c.keybits = v.parse().unwrap(),
                "ops" => c.ops = v.parse().unwrap(),
                "grow" => c.grow = v.parse().unwrap(),
                _ => panic!("unknown child argument {a}"),
            }
        }
        c
    }
}

/// Churn keys per thread in the read-heavy workload (inserted, then removed
/// oldest first, from a range disjoint from the prefilled keys).
fn churn_cap(ops_per_thread: u64) -> u64 {
    ops_per_thread / 50 + 64
}

fn seed(wl: &str, t: usize) -> u64 {
    let mut s = t as u64 + 1;
    for b in wl.bytes() {
        s = mix(s ^ b as u64);
    }
    s
}

/// Whether key index `i` is prefilled in workload `wl`.
fn prefilled(wl: &str, i: u64) -> bool {
    match wl {
        "read_heavy" => true,
        "exchange" => mix(i ^ 0xA5A5) % 4 != 0, // 75%
        "mixed" => mix(i ^ 0xA5A5) & 1 == 0,    // 50%
        _ => unreachable!(),
    }
}

/// The operation sequence of thread `t` (op kind in the top two bits, key
/// index below), generated before timing.
fn gen_ops(wl: &str, t: usize, n: u64, ops: u64) -> Vec<u64> {
    let mut rng = Rng::new(seed(wl, t));
    let mut out = Vec::with_capacity(ops as usize);
    let cap = churn_cap(ops);
    let base = n + t as u64 * cap;
    let (mut ins, mut rem) = (0u64, 0u64);
    for _ in 0..ops {
        let r = rng.next_u64();
        let p = ((r & 0xFFFF_FFFF) * 100) >> 32;
        let key = ((r >> 32) * n) >> 32;
        let op = match wl {
            "read_heavy" => {
                if p < 98 {
                    OP_GET << 62 | key
                } else if p == 98 || rem == ins {
                    if ins < cap {
                        ins += 1;
                        OP_INSERT << 62 | (base + ins - 1)
                    } else {
                        OP_GET << 62 | key
                    }
                } else {
                    rem += 1;
                    OP_REMOVE << 62 | (base + rem - 1)
                }
            }
            "exchange" => {
                let kind = match p {
                    0..10 => OP_GET,
                    10..50 => OP_INSERT,
                    50..90 => OP_REMOVE,
                    _ => OP_UPDATE,
                };
                kind << 62 | key
            }
            "mixed" => {
                let kind = match p {
                    0..50 => OP_GET,
                    50..75 => OP_INSERT,
                    _ => OP_REMOVE,
                };
                kind << 62 | key
            }
            _ => unreachable!(),
        };
        out.push(op);
    }
    out
}

type Fields = Vec<(String, f64)>;

/// A worker's start, end, operations done and successful, by kind.
type ThreadResult = (Instant, Instant, [u64; 4], [u64; 4]);

/// Workloads 1-3: prefill, then every thread runs its pre-generated ops.
fn run_ops<K: Key, M: BenchMap<K>>(c: &ChildCfg) -> Fields {
    let n = 1u64 << c.keybits;
    let per_thread = c.ops / c.threads as u64;
    let map = M::with_capacity(n as usize);
    let mut live = 0u64;
    for i in 0..n {
        if prefilled(&c.wl, i) {
            map.insert(K::owned(i), i);
            live += 1;
        }
    }
    let barrier = Barrier::new(c.threads);
    let results: Vec<ThreadResult> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..c.threads)
            .map(|t| {
                let (map, barrier) = (&map, &barrier);
                s.spawn(move || {
                    let ops = gen_ops(&c.wl, t, n, per_thread);
                    let mut done = [0u64; 4];
                    let mut hit = [0u64; 4];
                    barrier.wait();
                    let start = Instant::now();
                    for &op in &ops {
                        let i = op & KEY_MASK;
                        let kind = op >> 62;
                        let ok = match kind {
                            OP_GET => K::with(i, |k| map.get(k)).is_some(),
                            OP_INSERT => map.insert(K::owned(i), i),
                            OP_REMOVE => K::with(i, |k| map.remove(k)),
                            _ => K::with(i, |k| map.update(k)),
                        };
                        done[kind as usize] += 1;
                        hit[kind as usize] += ok as u64;
                    }
                    let end = Instant::now();
                    (start, end, done, hit)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let start = results.iter().map(|r| r.0).min().unwrap();
    let end = results.iter().map(|r| r.1).max().unwrap();
    let total: u64 = results.iter().map(|r| r.2.iter().sum::<u64>()).sum();
    let secs = (end - start).as_secs_f64();
    let sum = |f: fn(&ThreadResult) -> u64| -> f64 { results.iter().map(f).sum::<u64>() as f64 };
    let out = vec![
        ("mops".into(), total as f64 / secs / 1e6),
        ("secs".into(), secs),
        ("prefilled".into(), live as f64),
        ("gets".into(), sum(|r| r.2[0])),
        ("get_hits".into(), sum(|r| r.3[0])),
        ("removes".into(), sum(|r| r.2[2])),
        ("remove_hits".into(), sum(|r| r.3[2])),
    ];
    // The process exits right after reporting: skip freeing the map.
    std::mem::forget(map);
    out
}

/// Workload 4: threads insert disjoint ranges into an empty map.
fn run_grow<M: BenchMap<u64>>(c: &ChildCfg) -> Fields {
    let timer = if c.mode == "lat" { timer_cost_ns() } else { 0 };
    let map = M::new();
    let barrier = Barrier::new(c.threads);
    let per = c.grow / c.threads as u64;
    let lat = c.mode == "lat";
    let results: Vec<(Instant, Instant, Hist)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..c.threads)
            .map(|t| {
                let (map, barrier) = (&map, &barrier);
                s.spawn(move || {
                    let mut h = Hist::new();
                    let range = t as u64 * per..(t as u64 + 1) * per;
                    barrier.wait();
                    let start = Instant::now();
                    if lat {
                        for i in range {
                            let a = Instant::now();
                            map.insert(i, i);
                            h.record(ns_since(a));
                        }
                    } else {
                        for i in range {
                            map.insert(i, i);
                        }
                    }
                    (start, Instant::now(), h)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let start = results.iter().map(|r| r.0).min().unwrap();
    let end = results.iter().map(|r| r.1).max().unwrap();
    let secs = (end - start).as_secs_f64();
    let found = (0..c.grow.min(per * c.threads as u64))
        .step_by(97)
        .filter(|i| map.get(i).is_some())
        .count();
    let mut out: Fields = vec![
        ("mops".into(), (per * c.threads as u64) as f64 / secs / 1e6),
        ("secs".into(), secs),
        (
            "missing".into(),
            ((per * c.threads as u64).div_ceil(97) - found as u64) as f64,
        ),
    ];
    if lat {
        let mut h = Hist::new();
        for r in &results {
            h.merge(&r.2);
        }
        hist_fields("", &h, &mut out);
        out.push(("timer_ns".into(), timer as f64));
    }
    std::mem::forget(map);
    out
}

/// Workload 5: one writer grows an empty map; one reader gets keys the
/// writer has already inserted (published every 64 inserts).
fn run_read_growth<M: BenchMap<u64>>(c: &ChildCfg) -> Fields {
    let timer = timer_cost_ns();
    let map = M::new();
    let progress = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let barrier = Barrier::new(2);
    let grow = c.grow;
    let (wh, (rh, misses, rsecs)) = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut h = Hist::new();
            barrier.wait();
            for i in 0..grow {
                let a = Instant::now();
                map.insert(i, i);
                h.record(ns_since(a));
                if (i + 1) % 64 == 0 {
                    progress.store(i + 1, Ordering::Release);
                }
            }
            progress.store(grow, Ordering::Release);
            done.store(true, Ordering::Release);
            h
        });
        let reader = s.spawn(|| {
            let mut h = Hist::new();
            let mut rng = Rng::new(7);
            let mut misses = 0u64;
            barrier.wait();
            let start = Instant::now();
            while !done.load(Ordering::Acquire) {
                let p = progress.load(Ordering::Acquire);
                if p == 0 {
                    std::hint::spin_loop();
                    continue;
                }
                let k = rng.below(p);
                let a = Instant::now();
                let v = map.get(&k);
                h.record(ns_since(a));
                misses += (v != Some(k)) as u64;
            }
            (h, misses, start.elapsed().as_secs_f64())
        });
        (writer.join().unwrap(), reader.join().unwrap())
    });
    let mut out: Fields = vec![
        ("reader_misses".into(), misses as f64),
        ("reader_mops".into(), rh.n as f64 / rsecs / 1e6),
        ("timer_ns".into(), timer as f64),
    ];
    hist_fields("r_", &rh, &mut out);
    hist_fields("w_", &wh, &mut out);
    std::mem::forget(map);
    out
}

/// Workload 6: heap and RSS per entry after inserting `grow` keys from one
/// thread, into an empty or a pre-sized map.
fn run_memory<M: BenchMap<u64>>(c: &ChildCfg) -> Fields {
    let rss0 = rss_bytes();
    COUNTING.store(true, Ordering::SeqCst);
    let map = if c.presized {
        M::with_capacity(c.grow as usize)
    } else {
        M::new()
    };
    for i in 0..c.grow {
        map.insert(i, i);
    }
    let live = LIVE.load(Ordering::SeqCst) as f64;
    let peak = PEAK.load(Ordering::SeqCst) as f64;
    let rss = rss_bytes().saturating_sub(rss0) as f64;
    COUNTING.store(false, Ordering::SeqCst);
    let n = c.grow as f64;
    let out = vec![
        ("heap_per_entry".into(), live / n),
        ("peak_heap_per_entry".into(), peak / n),
        ("rss_per_entry".into(), rss / n),
        (
            "len_check".into(),
            map.get(&(c.grow - 1)).is_some() as u64 as f64,
        ),
    ];
    std::mem::forget(map);
    out
}

/// Workload 7: counters, from an empty map. Every operation adds 1 to a key
/// (each map's own atomic upsert: `WordMap::add`, dashmap's
/// `entry().and_modify().or_insert()`, ...): 90% to one of 1,000 hot keys,
/// 10% to one of `2^keybits` cold keys, uniformly. Checks afterwards that the
/// values sum to the number of operations (no lost update).
fn run_counter<M: BenchMap<u64>>(c: &ChildCfg) -> Fields {
    const HOT: u64 = 1000;
    let cold = 1u64 << c.keybits;
    let per = c.ops / c.threads as u64;
    let map = M::new();
    let barrier = Barrier::new(c.threads);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..c.threads)
            .map(|t| {
                let (map, barrier) = (&map, &barrier);
                s.spawn(move || {
                    let mut rng = Rng::new(0xC0FFEE ^ t as u64);
                    let keys: Vec<u64> = (0..per)
                        .map(|_| {
                            if rng.below(10) == 0 {
                                HOT + rng.below(cold)
                            } else {
                                rng.below(HOT)
                            }
                        })
                        .collect();
                    barrier.wait();
                    let start = Instant::now();
                    for &k in &keys {
                        map.add(k, 1);
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let start = spans.iter().map(|r| r.0).min().unwrap();
    let end = spans.iter().map(|r| r.1).max().unwrap();
    let secs = (end - start).as_secs_f64();
    let total = per * c.threads as u64;
    let sum = map.sum_values();
    assert_eq!(sum, total, "{}: counter sum {sum} != {total} adds", c.map);
    std::mem::forget(map);
    vec![
        ("mops".into(), total as f64 / secs / 1e6),
        ("secs".into(), secs),
    ]
}

struct ChildRun<'a>(&'a ChildCfg);

impl<K: Key> Visit<K> for ChildRun<'_> {
    type Out = Fields;
    fn visit<M: BenchMap<K>>(self) -> Fields {
        run_ops::<K, M>(self.0)
    }
}

struct ChildRunU64<'a>(&'a ChildCfg);

impl Visit<u64> for ChildRunU64<'_> {
    type Out = Fields;
    fn visit<M: BenchMap<u64>>(self) -> Fields {
        match self.0.wl.as_str() {
            "rapid_grow" => run_grow::<M>(self.0),
            "read_growth" => run_read_growth::<M>(self.0),
            "memory" => run_memory::<M>(self.0),
            "counter" => run_counter::<M>(self.0),
            _ => run_ops::<u64, M>(self.0),
        }
    }
}

fn child_main(args: &[String]) {
    let c = ChildCfg::parse(args);
    assert!(
        c.threads == 1 || is_concurrent(&c.map),
        "{} is single-threaded",
        c.map
    );
    let fields = match c.key.as_str() {
        "u64" => visit_map::<u64, _>(&c.map, ChildRunU64(&c)),
        "String" => visit_map::<String, _>(&c.map, ChildRun(&c)),
        k => panic!("unknown key type {k}"),
    };
    let mut line = String::from("RESULT");
    for (k, v) in fields {
        write!(line, " {k}={v}").unwrap();
    }
    println!("{line}");
}

// ---------------------------------------------------------------------------
// Driver.

struct Opts {
    quick: bool,
    reps: usize,
    maps: Vec<String>,
    workloads: Vec<String>,
    threads: Vec<usize>,
    strings: bool,
    out: PathBuf,
    keybits: u32,
    ops: u64,
    grow: u64,
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn parse_opts(args: &[String]) -> Opts {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let quick = args.iter().any(|a| a == "--quick");
    let mut o = Opts {
        quick,
        reps: if quick { 1 } else { 3 },
        maps: MAP_IDS.iter().map(|s| s.to_string()).collect(),
        workloads: WORKLOADS.iter().map(|w| w.0.to_string()).collect(),
        threads: vec![1, 2, 4],
        strings: !quick,
        out: if quick {
            root.join("target/bench-quick")
        } else {
            root.join("docs")
        },
        keybits: if quick { 18 } else { 20 },
        ops: if quick { 1 << 20 } else { 8 << 20 },
        grow: if quick { 1 << 20 } else { 4 << 20 },
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().unwrap_or_default();
        match a.as_str() {
            "--quick" | "--bench" => {}
            "--reps" => o.reps = val().parse().expect("--reps N"),
            "--maps" => o.maps = list(&val()),
            "--workloads" => o.workloads = list(&val()),
            "--threads" => {
                o.threads = list(&val())
                    .iter()
                    .map(|t| t.parse().expect("--threads 1,2,4"))
                    .collect()
            }
            "--strings" => o.strings = true,
            "--no-strings" => o.strings = false,
            "--out" => o.out = PathBuf::from(val()),
            other => panic!("unknown option {other} (see the header of benches/peers.rs)"),
        }
    }
    o
}

/// One measurement: a child process's configuration and its results.
struct Record {
    cfg: ChildCfg,
    fields: BTreeMap<String, f64>,
}

/// Runs one child; `None` if it failed or timed out.
fn run_child(cfg: &ChildCfg, timeout: Duration) -> Option<BTreeMap<String, f64>> {
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .args(cfg.args())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("RESULT").map(str::to_string))
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait child") {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let line = reader.join().ok().flatten();
    if !status.is_some_and(|s| s.success()) {
        eprintln!("  child failed or timed out: {:?}", cfg.args());
        return None;
    }
    let mut fields = BTreeMap::new();
    for kv in line?.split_whitespace() {
        let (k, v) = kv.split_once('=')?;
        fields.insert(k.to_string(), v.parse().ok()?);
    }
    Some(fields)
}

/// Processes of others that load the machine: fuzzers, cargo, rustc (our
/// own ancestors, e.g. the `cargo bench` that started us, excluded).
fn foreign_busy_processes() -> Vec<String> {
    let mut ours = vec![std::process::id()];
    let mut pid = std::process::id();
    while pid > 1 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        ours.push(ppid);
        pid = ppid;
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if ours.contains(&pid) {
            continue;
        }
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let exe = cmd.split_whitespace().next().unwrap_or("");
        let base = exe.rsplit('/').next().unwrap_or("");
        if cmd.contains("fuzz") || base == "cargo" || base == "rustc" {
            found.push(cmd.chars().take(80).collect());
        }
    }
    found
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn driver_main(args: &[String]) {
    let o = parse_opts(args);
    let started = Instant::now();
    let load_start = loadavg();
    let mut foreign: Vec<String> = foreign_busy_processes();
    let mut jobs: Vec<ChildCfg> = Vec::new();
    let base = ChildCfg {
        wl: String::new(),
        map: String::new(),
        threads: 1,
        key: "u64".into(),
        mode: "thr".into(),
        presized: false,
        keybits: o.keybits,
        ops: o.ops,
        grow: o.grow,
    };
    for rep in 0..o.reps {
        let mut maps = o.maps.clone();
        let len = maps.len().max(1);
        maps.rotate_left(rep % len);
        for (wl, _) in WORKLOADS {
            if !o.workloads.iter().any(|w| w == wl) {
                continue;
            }
            let keys: &[&str] = match *wl {
                "read_heavy" | "exchange" | "mixed" if o.strings => &["u64", "String"],
                _ => &["u64"],
            };
            let threads: Vec<usize> = match *wl {
                "read_growth" | "memory" => vec![1],
                _ => o.threads.clone(),
            };
            let variants: &[(&str, bool)] = match *wl {
                "rapid_grow" => &[("thr", false), ("lat", false)],
                "memory" => &[("thr", false), ("thr", true)],
                _ => &[("thr", false)],
            };
            for key in keys {
                for &t in &threads {
                    for &(mode, presized) in variants {
                        for m in &maps {
                            let single_ok = *wl != "read_growth" && t == 1;
                            if !is_concurrent(m) && !single_ok || !takes_key(m, key) {
                                continue;
                            }
                            jobs.push(ChildCfg {
                                wl: wl.to_string(),
                                map: m.clone(),
                                threads: t,
                                key: key.to_string(),
                                mode: mode.into(),
                                presized,
                                // String keys: a quarter of the operations
                                // (they are slower; keeps the run short).
                                ops: if *key == "String" {
                                    base.ops / 4
                                } else {
                                    base.ops
                                },
                                ..base.clone()
                            });
                        }
                    }
                }
            }
        }
    }
    eprintln!(
        "peers: {} measurements ({} repetitions), results to {}",
        jobs.len(),
        o.reps,
        o.out.display()
    );
    let timeout = Duration::from_secs(if o.quick { 120 } else { 300 });
    let mut records = Vec::new();
    let mut failed = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        if i % 16 == 0 {
            for p in foreign_busy_processes() {
                if !foreign.contains(&p) {
                    foreign.push(p);
                }
            }
        }
        let t0 = Instant::now();
        match run_child(job, timeout) {
            Some(fields) => {
                let headline = ["mops", "rss_per_entry", "r_p99.9"]
                    .iter()
                    .find_map(|k| fields.get(*k).map(|v| format!("{k}={v:.2}")))
                    .unwrap_or_default();
                eprintln!(
                    "[{:>3}/{}] {:>5.0}s {} {} t={} {} {}{} ({:.1}s) {}",
                    i + 1,
                    jobs.len(),
                    started.elapsed().as_secs_f64(),
                    job.wl,
                    job.key,
                    job.threads,
                    job.map,
                    job.mode,
                    if job.presized { " presized" } else { "" },
                    t0.elapsed().as_secs_f64(),
                    headline
                );
                records.push(Record {
                    cfg: job.clone(),
                    fields,
                });
            }
            None => failed.push(job.clone()),
        }
    }
    let env = RunEnv {
        load_start,
        load_end: loadavg(),
        foreign,
        minutes: started.elapsed().as_secs_f64() / 60.0,
        failed,
    };
    std::fs::create_dir_all(&o.out).expect("create output directory");
    write_report(&o, &records, &env);
    eprintln!(
        "peers: done in {:.1} min; wrote {}",
        env.minutes,
        o.out.join("benchmarks.md").display()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        child_main(&args[1..]);
    } else {
        driver_main(&args);
    }
}

// ---------------------------------------------------------------------------
// Report.

struct RunEnv {
    load_start: String,
    load_end: String,
    foreign: Vec<String>,
    minutes: f64,
    failed: Vec<ChildCfg>,
}

/// Median, min and max of the values of `field` over matching records.
#[derive(Clone, Copy)]
struct Stat {
    med: f64,
    min: f64,
    max: f64,
    n: usize,
}

fn stat(vals: &mut [f64]) -> Option<Stat> {
    if vals.is_empty() {
        return None;
    }
    vals.sort_by(|a, b| a.total_cmp(b));
    let n = vals.len();
    let med = if n % 2 == 1 {
        vals[n / 2]
    } else {
        (vals[n / 2 - 1] + vals[n / 2]) / 2.0
    };
    Some(Stat {
        med,
        min: vals[0],
        max: vals[n - 1],
        n,
    })
}

struct Query<'a> {
    wl: &'a str,
    map: &'a str,
    threads: usize,
    key: &'a str,
    mode: &'a str,
    presized: bool,
}

fn q<'a>(wl: &'a str, map: &'a str, threads: usize) -> Query<'a> {
    Query {
        wl,
        map,
        threads,
        key: "u64",
        mode: "thr",
        presized: false,
    }
}

fn get(records: &[Record], qu: &Query, field: &str) -> Option<Stat> {
    let mut vals: Vec<f64> = records
        .iter()
        .filter(|r| {
            r.cfg.wl == qu.wl
                && r.cfg.map == qu.map
                && r.cfg.threads == qu.threads
                && r.cfg.key == qu.key
                && r.cfg.mode == qu.mode
                && r.cfg.presized == qu.presized
        })
        .filter_map(|r| r.fields.get(field).copied())
        .collect();
    stat(&mut vals)
}

fn display_name(id: &str) -> &'static str {
    match id {
        "lfmap" => "lfmap",
        "wordmap" => "lfmap WordMap",
        "papaya" => "papaya",
        "dashmap" => "dashmap",
        "flurry" => "flurry",
        "scc" => "scc",
        "rwlock" => "RwLock<HashMap>",
        "mutex" => "Mutex<HashMap>",
        "hashbrown" => "hashbrown, 1 thread",
        _ => "?",
    }
}

fn color(id: &str) -> &'static str {
    match id {
        "lfmap" => "#d62728",
        "wordmap" => "#e377c2",
        "papaya" => "#1f77b4",
        "dashmap" => "#2ca02c",
        "flurry" => "#9467bd",
        "scc" => "#ff7f0e",
        "rwlock" => "#8c564b",
        "mutex" => "#7f7f7f",
        _ => "#17becf",
    }
}

fn fmt_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.1} ms", ns / 1e6)
    }
}

fn fmt_stat(s: Option<Stat>, digits: usize) -> String {
    match s {
        None => "—".into(),
        Some(s) if s.n == 1 => format!("{:.*}", digits, s.med),
        Some(s) => format!(
            "{:.*} ({:.*}–{:.*})",
            digits, s.med, digits, s.min, digits, s.max
        ),
    }
}

fn cargo_lock_versions(root: &Path) -> BTreeMap<String, String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut name = String::new();
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = n.trim_matches('"').to_string();
        } else if let Some(v) = line.strip_prefix("version = ") {
            let v = v.trim_matches('"').to_string();
            // Several versions of one crate: keep the newest (the benches'
            // direct dependency; older ones come in through a peer).
            let newer = out.get(&name).is_none_or(|old| {
                let parse =
                    |s: &str| -> Vec<u64> { s.split('.').filter_map(|p| p.parse().ok()).collect() };
                parse(&v) > parse(old)
            });
            if newer {
                out.insert(name.clone(), v);
            }
        }
    }
    out
}

fn command_output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The git commit the measured lfmap was built from, and whether `src/`
/// had uncommitted changes; `LFMAP_BENCH_COMMIT` names it when the build
/// is not in a git checkout (e.g. a `git archive` snapshot).
fn source_revision(root: &Path) -> String {
    let dir = root.to_string_lossy();
    let head = command_output("git", &["-C", &dir, "rev-parse", "--short", "HEAD"]);
    if head.is_empty() {
        return std::env::var("LFMAP_BENCH_COMMIT")
            .map(|c| format!("commit {c}"))
            .unwrap_or_else(|_| "unknown (not a git checkout)".into());
    }
    let dirty =
        !command_output("git", &["-C", &dir, "status", "--porcelain", "--", "src"]).is_empty();
    format!(
        "commit {head}{}",
        if dirty {
            " plus uncommitted changes in src/"
        } else {
            ""
        }
    )
}

/// `YYYY-MM-DD HH:MM UTC` from the system clock (civil-from-days).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

const NOTES_START: &str =
    "<!-- notes:start (hand-written; kept when the report is regenerated) -->";
const NOTES_END: &str = "<!-- notes:end -->";

fn kept_notes(path: &Path) -> String {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    match (old.find(NOTES_START), old.find(NOTES_END)) {
        (Some(a), Some(b)) if a < b => old[a + NOTES_START.len()..b].trim().to_string(),
        _ => "No notes recorded yet.".into(),
    }
}

fn write_report(o: &Opts, records: &[Record], env: &RunEnv) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let md_path = o.out.join("benchmarks.md");
    let notes = kept_notes(&md_path);
    let versions = cargo_lock_versions(root);
    let has = |wl: &str| o.workloads.iter().any(|w| w == wl);
    let maps: Vec<&str> = MAP_IDS
        .iter()
        .copied()
        .filter(|m| o.maps.iter().any(|x| x == m))
        .collect();
    let mut md = String::new();
    let w = &mut md;

    // Header, machine, method.
    let loaded = env
        .load_start
        .split_whitespace()
        .next()
        .map_or(0.0, |l| l.parse::<f64>().unwrap_or(0.0))
        > 1.5
        || !env.foreign.is_empty();
    let model = command_output("lscpu", &[])
        .lines()
        .find_map(|l| l.strip_prefix("Model name:").map(|m| m.trim().to_string()))
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let command = if o.quick {
        "cargo bench --bench peers -- --quick".to_string()
    } else {
        let extra: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| a.as_str() != "--bench")
            .collect();
        if extra.is_empty() {
            "cargo bench --bench peers".to_string()
        } else {
            format!("cargo bench --bench peers -- {}", extra.join(" "))
        }
    };
    let timer = {
        let mut v: Vec<f64> = records
            .iter()
            .filter_map(|r| r.fields.get("timer_ns").copied())
            .collect();
        stat(&mut v).map_or(0.0, |s| s.med)
    };
    let ver = |n: &str| versions.get(n).cloned().unwrap_or_else(|| "?".into());

    writeln!(w, "# lfmap benchmarks\n").unwrap();
    writeln!(
        w,
        "Generated by `{command}` on {} ({:.0} min). Everything outside the notes section \
         at the end is rewritten by that command.\n",
        utc_now(),
        env.minutes
    )
    .unwrap();
    if o.quick {
        writeln!(w, "> **Quick mode**: reduced sizes, one repetition; a smoke test, not figures to quote.\n").unwrap();
    }
    if loaded {
        writeln!(
            w,
            "> **Taken on a loaded machine.** 1-minute load average at the start: {}; other \
             processes seen during the run: {}. Expect lower throughput and longer tails than on \
             a quiet machine, most of all at 2 and 4 threads on this 2-core machine.\n",
            env.load_start,
            if env.foreign.is_empty() {
                "none".to_string()
            } else {
                format!("{} (e.g. `{}`)", env.foreign.len(), env.foreign[0])
            }
        )
        .unwrap();
    }
    writeln!(w, "## Run it\n").unwrap();
    writeln!(
        w,
        "```sh\ncargo bench --bench peers              # everything below, then rewrites this file and docs/bench-*.svg\n\
         cargo bench --bench peers -- --quick   # smoke test, ~1 min, writes target/bench-quick/\n\
         cargo bench --bench micro              # criterion micro-benchmarks (single ops, 1 and 2 threads)\n```\n"
    )
    .unwrap();
    writeln!(
        w,
        "Options after `--`: `--reps N`, `--maps lfmap,dashmap`, `--workloads read_heavy,memory`, \
         `--threads 1,2`, `--no-strings`, `--out DIR`. Wait for a quiet machine first \
         (`uptime` below 1.5, no fuzzers or builds running).\n"
    )
    .unwrap();
    writeln!(w, "## Machine and method\n").unwrap();
    writeln!(w, "| | |\n|---|---|").unwrap();
    writeln!(w, "| CPU | {model}, {cores} cores (lscpu) |").unwrap();
    writeln!(
        w,
        "| memory, kernel | {mem_gib:.0} GiB, Linux {} |",
        kernel.trim()
    )
    .unwrap();
    writeln!(w, "| rustc | {} |", command_output("rustc", &["--version"])).unwrap();
    writeln!(w, "| lfmap source | {} |", source_revision(root)).unwrap();
    writeln!(
        w,
        "| crates | lfmap {} (seize {}), papaya {}, dashmap {}, flurry {}, scc {}, hashbrown {}, foldhash {}, criterion {} |",
        env!("CARGO_PKG_VERSION"),
        ver("seize"),
        ver("papaya"),
        ver("dashmap"),
        ver("flurry"),
        ver("scc"),
        ver("hashbrown"),
        ver("foldhash"),
        ver("criterion")
    )
    .unwrap();
    writeln!(
        w,
        "| load | 1/5/15-min load average {} at the start, {} at the end (the end includes this run) |",
        env.load_start, env.load_end
    )
    .unwrap();
    writeln!(
        w,
        "| repetitions | {} per measurement, each in a fresh process, interleaved across maps; cells give the median (min–max) |",
        o.reps
    )
    .unwrap();
    writeln!(
        w,
        "| timer | `Instant::now()` pair: {timer:.0} ns (median of 200k back-to-back pairs); every latency below includes it |\n"
    )
    .unwrap();
    writeln!(
        w,
        "* Every map hashes with `lfmap::DefaultHashBuilder` (foldhash's fast `RandomState`). \
         lfmap, papaya and flurry pin a guard per operation, as a service doing single operations \
         would; values are `u64`, copied out under the guard.\n\
         * Workloads 1–3: the key space ({} keys) is prefilled (see each workload) into a table \
         pre-sized for it, then {} operations in all are split over the threads; each thread \
         generates its operation sequence (splitmix64) before a barrier releases the clock. \
         Throughput = all operations / (last thread's end − first thread's start).\n\
         * `hashbrown, 1 thread` is a plain `hashbrown::HashMap` with no synchronisation: the \
         per-thread ceiling, measured at 1 thread only.\n\
         * 4 threads on a {cores}-core machine oversubscribe it: those figures show behaviour \
         under preemption, not scaling. A max latency of 8–15 ms is a descheduled thread; read \
         p99.99 beside max.\n",
        1u64 << o.keybits,
        o.ops
    )
    .unwrap();
    if !env.failed.is_empty() {
        writeln!(w, "**Failed or timed-out measurements** (left out):\n").unwrap();
        for f in &env.failed {
            writeln!(w, "* `{}`", f.args().join(" ")).unwrap();
        }
        writeln!(w).unwrap();
    }

    // Targets.
    targets(w, records, o);

    // Throughput workloads.
    let threads = &o.threads;
    let mut section = 1;
    for (wl, title) in WORKLOADS.iter().take(3) {
        if !has(wl) {
            continue;
        }
        writeln!(w, "## {section}. {title}\n").unwrap();
        section += 1;
        let detail = match *wl {
            "read_heavy" => format!(
                "All {} keys prefilled; gets pick prefilled keys uniformly (all hits); each \
                 thread's inserts add fresh keys from its own range and its removes take them \
                 back oldest first, so the map stays at ~{} keys.",
                1u64 << o.keybits,
                1u64 << o.keybits
            ),
            "exchange" => "Uniform keys over the key space, 75% prefilled; inserts replace or \
                           add, removes often miss, updates add 1 in place (atomically)."
                .into(),
            _ => "Uniform keys over the key space, half prefilled.".into(),
        };
        writeln!(w, "{detail}\n").unwrap();
        let keys: &[&str] = if o.strings {
            &["u64", "String"]
        } else {
            &["u64"]
        };
        for key in keys {
            if *key == "String" {
                writeln!(
                    w,
                    "Mops/s, `String` keys (24 bytes, `session-` and 16 hex digits, looked up as \
                     `&str` built in a stack buffer; inserts allocate the key; {} operations):\n",
                    o.ops / 4
                )
                .unwrap();
            } else {
                writeln!(w, "Mops/s, `u64` keys:\n").unwrap();
            }
            let maps: Vec<&str> = maps.iter().copied().filter(|m| takes_key(m, key)).collect();
            let svg = format!(
                "bench-{wl}{}.svg",
                if *key == "u64" { "" } else { "-string" }
            );
            let chart = Chart {
                title: &format!("{title} ({key} keys)"),
                svg: &svg,
                alt: &format!("{wl} {key}"),
            };
            throughput_block(w, records, o, wl, key, &maps, threads, chart);
        }
    }

    if has("rapid_grow") {
        writeln!(w, "## {section}. Rapid grow\n").unwrap();
        section += 1;
        writeln!(
            w,
            "An empty map, not pre-sized; each thread inserts its own range, {} keys in all. \
             Throughput from runs without per-operation clocks; latencies from separate runs \
             that time every insert.\n",
            o.grow
        )
        .unwrap();
        writeln!(w, "Throughput, Mops/s:\n").unwrap();
        let chart = Chart {
            title: "rapid grow: inserts into an empty map",
            svg: "bench-rapid_grow.svg",
            alt: "rapid grow",
        };
        throughput_block(w, records, o, "rapid_grow", "u64", &maps, threads, chart);
        for &t in threads {
            writeln!(w, "Per-insert latency, {t} thread(s) (median over repetitions; worst = the largest max of any repetition):\n").unwrap();
            latency_table(w, records, "rapid_grow", "lat", "", t, &maps);
        }
        let lat_threads = 2.min(*threads.iter().max().unwrap_or(&1));
        let chart = latency_chart(
            records,
            "rapid_grow",
            "lat",
            "",
            lat_threads,
            &maps,
            &format!("rapid grow: per-insert latency, {lat_threads} thread(s)"),
        );
        std::fs::write(o.out.join("bench-rapid_grow-latency.svg"), chart).expect("write svg");
        writeln!(w, "![rapid grow latency](bench-rapid_grow-latency.svg)\n").unwrap();
    }

    if has("read_growth") {
        writeln!(w, "## {section}. Read during growth\n").unwrap();
        section += 1;
        writeln!(
            w,
            "One thread inserts {} keys into an empty map while another thread gets uniformly \
             chosen keys the writer has already inserted (progress published every 64 inserts). \
             Every get must hit.\n",
            o.grow
        )
        .unwrap();
        let conc: Vec<&str> = maps.iter().copied().filter(|m| is_concurrent(m)).collect();
        writeln!(w, "Reader get latency:\n").unwrap();
        latency_table(w, records, "read_growth", "thr", "r_", 1, &conc);
        writeln!(w, "Writer insert latency:\n").unwrap();
        latency_table(w, records, "read_growth", "thr", "w_", 1, &conc);
        let mut misses = Vec::new();
        for m in &conc {
            if let Some(s) = get(records, &q("read_growth", m, 1), "reader_misses") {
                if s.max > 0.0 {
                    misses.push(format!("{m}: {}", s.max));
                }
            }
        }
        if !misses.is_empty() {
            writeln!(w, "**Reader misses (must be 0):** {}\n", misses.join(", ")).unwrap();
        }
        writeln!(w, "Reader throughput during growth, Mops/s: {}\n", {
            conc.iter()
                .map(|m| {
                    format!(
                        "{} {}",
                        display_name(m),
                        fmt_stat(get(records, &q("read_growth", m, 1), "reader_mops"), 1)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap();
        let r = latency_chart(
            records,
            "read_growth",
            "thr",
            "r_",
            1,
            &conc,
            "read during growth: reader get latency",
        );
        let wr = latency_chart(
            records,
            "read_growth",
            "thr",
            "w_",
            1,
            &conc,
            "read during growth: writer insert latency",
        );
        std::fs::write(o.out.join("bench-read_growth-reader.svg"), r).expect("write svg");
        std::fs::write(o.out.join("bench-read_growth-writer.svg"), wr).expect("write svg");
        writeln!(w, "![reader latency](bench-read_growth-reader.svg)\n").unwrap();
        writeln!(w, "![writer latency](bench-read_growth-writer.svg)\n").unwrap();
    }

    if has("memory") {
        writeln!(w, "## {section}. Memory\n").unwrap();
        writeln!(
            w,
            "Bytes per entry after inserting {} `u64 -> u64` keys from one thread. *Heap* is the \
             bytes requested from the allocator and still live (a counting global allocator; \
             retired memory not yet freed by a reclaimer counts); *peak heap* is the most live \
             at any moment (old and new tables during a resize); *RSS* is the growth of the \
             resident set, which includes the allocator's own overhead (glibc rounds a 24-byte \
             entry up to a 32-byte chunk).\n",
            o.grow
        )
        .unwrap();
        writeln!(w, "| map | heap, grown | peak heap, grown | RSS, grown | heap, pre-sized | peak heap, pre-sized | RSS, pre-sized |").unwrap();
        writeln!(w, "|---|---:|---:|---:|---:|---:|---:|").unwrap();
        for m in &maps {
            let mut row = format!("| {} ", display_name(m));
            for presized in [false, true] {
                for f in ["heap_per_entry", "peak_heap_per_entry", "rss_per_entry"] {
                    let qu = Query {
                        presized,
                        ..q("memory", m, 1)
                    };
                    write!(row, "| {} ", fmt_stat(get(records, &qu, f), 1)).unwrap();
                }
            }
            writeln!(w, "{row}|").unwrap();
        }
        writeln!(w).unwrap();
        section += 1;
    }

    if has("counter") {
        writeln!(w, "## {section}. Counters\n").unwrap();
        writeln!(
            w,
            "From an empty map, {} operations in all, each adding 1 to a key with the map's own \
             atomic upsert (`WordMap::add`; lfmap `compute`; papaya `update_or_insert`; dashmap \
             and scc `entry().and_modify().or_insert()`; flurry `compute_if_present` then \
             `try_insert`; the locked maps `entry().or_insert()`): 90% to one of 1,000 hot keys, \
             10% to one of {} cold keys. Each run checks that the values sum to the number of \
             adds.\n\nMops/s:\n",
            o.ops,
            1u64 << o.keybits
        )
        .unwrap();
        let chart = Chart {
            title: "counter: add on hot and cold keys (u64)",
            svg: "bench-counter.svg",
            alt: "counter",
        };
        throughput_block(w, records, o, "counter", "u64", &maps, threads, chart);
    }

    writeln!(w, "## Micro-benchmarks\n").unwrap();
    writeln!(
        w,
        "`cargo bench --bench micro` runs criterion benchmarks of single operations (get hit, \
         get miss, insert, remove, update, iterate) for every map at 1 and 2 threads; filter \
         with e.g. `cargo bench --bench micro -- get_hit`. Reports land in \
         `target/criterion/`. They are not summarised here.\n"
    )
    .unwrap();
    writeln!(w, "## Notes and profiles\n").unwrap();
    writeln!(w, "{NOTES_START}\n\n{notes}\n\n{NOTES_END}").unwrap();

    std::fs::write(&md_path, md).expect("write benchmarks.md");

    // Raw data, one line per measurement.
    let mut csv = String::from("workload,key,map,threads,mode,presized,field,value\n");
    for r in records {
        for (k, v) in &r.fields {
            writeln!(
                csv,
                "{},{},{},{},{},{},{k},{v}",
                r.cfg.wl, r.cfg.key, r.cfg.map, r.cfg.threads, r.cfg.mode, r.cfg.presized as u8
            )
            .unwrap();
        }
    }
    std::fs::write(o.out.join("benchmarks-raw.csv"), csv).expect("write csv");
}

/// Where a throughput chart goes and how it is named.
struct Chart<'a> {
    title: &'a str,
    /// File name under the output directory.
    svg: &'a str,
    /// The image's alt text in the report.
    alt: &'a str,
}

/// A workload's throughput table, its chart (written to `o.out`), and the
/// image link to it.
#[allow(clippy::too_many_arguments)]
fn throughput_block(
    w: &mut String,
    records: &[Record],
    o: &Opts,
    wl: &str,
    key: &str,
    maps: &[&str],
    threads: &[usize],
    chart: Chart<'_>,
) {
    throughput_table(w, records, wl, key, maps, threads);
    let svg = throughput_chart(records, wl, key, maps, threads, chart.title);
    std::fs::write(o.out.join(chart.svg), svg).expect("write svg");
    writeln!(w, "![{}]({})\n", chart.alt, chart.svg).unwrap();
}

fn throughput_table(
    w: &mut String,
    records: &[Record],
    wl: &str,
    key: &str,
    maps: &[&str],
    threads: &[usize],
) {
    write!(w, "| map |").unwrap();
    for t in threads {
        write!(w, " {t} thread{} |", if *t == 1 { "" } else { "s" }).unwrap();
    }
    writeln!(w).unwrap();
    writeln!(w, "|---|{}", "---:|".repeat(threads.len())).unwrap();
    for m in maps {
        write!(w, "| {} |", display_name(m)).unwrap();
        for &t in threads {
            let qu = Query { key, ..q(wl, m, t) };
            let cell = fmt_stat(get(records, &qu, "mops"), 1);
            if *m == "lfmap" || *m == "wordmap" {
                write!(w, " **{cell}** |").unwrap();
            } else {
                write!(w, " {cell} |").unwrap();
            }
        }
        writeln!(w).unwrap();
    }
    writeln!(w).unwrap();
}

fn latency_table(
    w: &mut String,
    records: &[Record],
    wl: &str,
    mode: &str,
    prefix: &str,
    threads: usize,
    maps: &[&str],
) {
    writeln!(w, "| map | p50 | p99 | p99.9 | p99.99 | max | worst max |").unwrap();
    writeln!(w, "|---|---:|---:|---:|---:|---:|---:|").unwrap();
    for m in maps {
        let qu = Query {
            mode,
            ..q(wl, m, threads)
        };
        let mut row = format!("| {} ", display_name(m));
        let mut any = false;
        for f in ["p50", "p99", "p99.9", "p99.99", "max"] {
            let s = get(records, &qu, &format!("{prefix}{f}"));
            any |= s.is_some();
            write!(row, "| {} ", s.map_or("—".into(), |s| fmt_ns(s.med))).unwrap();
        }
        let worst = get(records, &qu, &format!("{prefix}max"));
        write!(row, "| {} |", worst.map_or("—".into(), |s| fmt_ns(s.max))).unwrap();
        if any {
            writeln!(w, "{row}").unwrap();
        }
    }
    writeln!(w).unwrap();
}

/// One target of issue #6: a description, the measured value, the bound.
struct Target {
    what: String,
    measured: Option<f64>,
    shown: String,
    bound: String,
    met: Option<bool>,
}

/// A target row "measured ratio ≥ min".
fn ratio_row(what: &str, r: Option<f64>, min: f64) -> Target {
    Target {
        what: what.into(),
        measured: r,
        shown: r.map_or("—".into(), |r| format!("{r:.2}×")),
        bound: format!("≥ {min}×"),
        met: r.map(|r| r >= min),
    }
}

/// A target row "measured latency ≤ max_ns".
fn lat_row(what: &str, v: Option<f64>, max_ns: f64) -> Target {
    Target {
        what: what.into(),
        measured: v,
        shown: v.map_or("—".into(), fmt_ns),
        bound: format!("≤ {}", fmt_ns(max_ns)),
        met: v.map(|v| v <= max_ns),
    }
}

fn targets(w: &mut String, records: &[Record], o: &Opts) {
    let med = |wl: &str, m: &str, t: usize, f: &str, mode: &str| {
        get(
            records,
            &Query {
                mode,
                ..q(wl, m, t)
            },
            f,
        )
        .map(|s| s.med)
    };
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let mut ts: Vec<Target> = Vec::new();
    // The better of dashmap and scc at 2 threads.
    let best2 = |wl: &str| {
        let d = med(wl, "dashmap", 2, "mops", "thr");
        let s = med(wl, "scc", 2, "mops", "thr");
        match (d, s) {
            (Some(d), Some(s)) => Some(d.max(s)),
            (a, b) => a.or(b),
        }
    };
    let lf = |wl, t| med(wl, "lfmap", t, "mops", "thr");
    ts.push(ratio_row(
        "read-heavy, 2 threads: lfmap / dashmap",
        ratio(
            lf("read_heavy", 2),
            med("read_heavy", "dashmap", 2, "mops", "thr"),
        ),
        1.3,
    ));
    ts.push(ratio_row(
        "read-heavy, 2 threads: lfmap / papaya",
        ratio(
            lf("read_heavy", 2),
            med("read_heavy", "papaya", 2, "mops", "thr"),
        ),
        2.0,
    ));
    ts.push(ratio_row(
        "read-heavy, 1 thread: lfmap / hashbrown (1 thread)",
        ratio(
            lf("read_heavy", 1),
            med("read_heavy", "hashbrown", 1, "mops", "thr"),
        ),
        0.9,
    ));
    for wl in ["exchange", "mixed"] {
        ts.push(ratio_row(
            &format!("{wl}, 2 threads: lfmap / max(dashmap, scc)"),
            ratio(lf(wl, 2), best2(wl)),
            1.0,
        ));
    }
    ts.push(ratio_row(
        "rapid grow, 2 threads: lfmap / dashmap throughput",
        ratio(
            lf("rapid_grow", 2),
            med("rapid_grow", "dashmap", 2, "mops", "thr"),
        ),
        1.0,
    ));
    ts.push(lat_row(
        "rapid grow, 2 threads: lfmap insert p99.9",
        med("rapid_grow", "lfmap", 2, "p99.9", "lat"),
        2_000.0,
    ));
    ts.push(lat_row(
        "rapid grow, 2 threads: lfmap insert p99.99",
        med("rapid_grow", "lfmap", 2, "p99.99", "lat"),
        20_000.0,
    ));
    ts.push(lat_row(
        "read during growth: lfmap reader p99.9",
        med("read_growth", "lfmap", 1, "r_p99.9", "thr"),
        1_000.0,
    ));
    let mem = |f| med("memory", "lfmap", 1, f, "thr");
    let rss = mem("rss_per_entry");
    let heap = mem("heap_per_entry");
    ts.push(Target {
        what: "memory, grown from empty: lfmap bytes per u64→u64 entry (RSS; heap in brackets)"
            .into(),
        measured: rss,
        shown: match (rss, heap) {
            (Some(r), Some(h)) => format!("{r:.1} B ({h:.1} B)"),
            _ => "—".into(),
        },
        bound: "≤ 50 B".into(),
        met: rss.map(|r| r <= 50.0),
    });
    // Issue #7: WordMap, in the same run.
    let wm = |wl, t| med(wl, "wordmap", t, "mops", "thr");
    ts.push(ratio_row(
        "WordMap read-heavy, 2 threads: wordmap / dashmap",
        ratio(
            wm("read_heavy", 2),
            med("read_heavy", "dashmap", 2, "mops", "thr"),
        ),
        1.5,
    ));
    for wl in ["exchange", "mixed", "rapid_grow"] {
        ts.push(ratio_row(
            &format!("WordMap {wl}, 2 threads: wordmap / max(dashmap, scc)"),
            ratio(wm(wl, 2), best2(wl)),
            1.5,
        ));
    }
    ts.push(ratio_row(
        "WordMap counter, 2 threads: wordmap / dashmap",
        ratio(
            wm("counter", 2),
            med("counter", "dashmap", 2, "mops", "thr"),
        ),
        3.0,
    ));
    ts.push(lat_row(
        "WordMap rapid grow, 2 threads: insert p99.9",
        med("rapid_grow", "wordmap", 2, "p99.9", "lat"),
        1_000.0,
    ));
    let wr = med("memory", "wordmap", 1, "rss_per_entry", "thr");
    let wh = med("memory", "wordmap", 1, "heap_per_entry", "thr");
    ts.push(Target {
        what: "WordMap memory, grown from empty: bytes per u64→u64 entry (RSS; heap in brackets)"
            .into(),
        measured: wr,
        shown: match (wr, wh) {
            (Some(r), Some(h)) => format!("{r:.1} B ({h:.1} B)"),
            _ => "—".into(),
        },
        bound: "≤ 24 B".into(),
        met: wr.map(|r| r <= 24.0),
    });
    writeln!(w, "## Targets (issues #6 and #7)\n").unwrap();
    if o.quick {
        writeln!(w, "Quick mode: sizes differ from the targets' (fewer keys and ops), so these are indicative only.\n").unwrap();
    }
    writeln!(
        w,
        "| target | measured | bound | status |\n|---|---:|---:|---|"
    )
    .unwrap();
    for t in &ts {
        let status = match t.met {
            Some(true) => "met",
            Some(false) => "**not met**",
            None => "not measured",
        };
        let _ = t.measured;
        writeln!(w, "| {} | {} | {} | {status} |", t.what, t.shown, t.bound).unwrap();
    }
    writeln!(
        w,
        "\nRatios are of medians. Profiles of the targets not met are in the notes at the end.\n"
    )
    .unwrap();
}

// ---------------------------------------------------------------------------
// SVG charts, hand-rolled.

const W: f64 = 720.0;
const H: f64 = 420.0;
const ML: f64 = 70.0; // left margin
const MR: f64 = 180.0; // right margin (legend)
const MT: f64 = 40.0;
const MB: f64 = 50.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn svg_open(title: &str) -> String {
    let mut s = String::new();
    writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    )
    .unwrap();
    writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#).unwrap();
    writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14" font-weight="bold">{}</text>"#,
        (ML + W - MR) / 2.0,
        esc(title)
    )
    .unwrap();
    s
}

/// A "nice" tick step for a linear axis from 0 to `max`.
fn nice_step(max: f64) -> f64 {
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let n = raw / mag;
    mag * if n <= 1.0 {
        1.0
    } else if n <= 2.0 {
        2.0
    } else if n <= 5.0 {
        5.0
    } else {
        10.0
    }
}

/// Series: (map id, one (median, min, max) per x position).
type Series = Vec<(String, Vec<Option<(f64, f64, f64)>>)>;

fn line_chart(
    title: &str,
    x_labels: &[String],
    y_label: &str,
    series: &Series,
    log: bool,
) -> String {
    let mut s = svg_open(title);
    let (pw, ph) = (W - ML - MR, H - MT - MB);
    let vals: Vec<f64> = series
        .iter()
        .flat_map(|(_, v)| v.iter().flatten().flat_map(|p| [p.0, p.1, p.2]))
        .filter(|v| *v > 0.0)
        .collect();
    let vmax = vals.iter().copied().fold(0.0, f64::max).max(1e-9);
    let vmin = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let (lo, hi) = if log {
        (
            10f64.powf(vmin.max(1.0).log10().floor()),
            10f64.powf(vmax.log10().ceil()),
        )
    } else {
        let step = nice_step(vmax);
        (0.0, (vmax / step).ceil() * step)
    };
    let y = |v: f64| -> f64 {
        let f = if log {
            (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10())
        } else {
            v / hi
        };
        MT + ph * (1.0 - f)
    };
    let nx = x_labels.len().max(1) as f64;
    let x = |i: usize| ML + pw * (i as f64 + 0.5) / nx;
    // Grid and y ticks.
    let ticks: Vec<f64> = if log {
        let mut t = Vec::new();
        let mut v = lo;
        while v <= hi * 1.0001 {
            t.push(v);
            v *= 10.0;
        }
        t
    } else {
        let step = nice_step(vmax);
        (0..=((hi / step).round() as usize))
            .map(|i| i as f64 * step)
            .collect()
    };
    for t in ticks {
        let yy = y(t);
        let label = if log {
            fmt_ns(t).replace(".0 ", " ")
        } else {
            format!("{t}")
        };
        writeln!(
            s,
            r##"<line x1="{ML}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            ML + pw,
            ML - 6.0,
            yy + 4.0,
            esc(&label)
        )
        .unwrap();
    }
    for (i, l) in x_labels.iter().enumerate() {
        writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x(i),
            MT + ph + 18.0,
            esc(l)
        )
        .unwrap();
    }
    writeln!(
        s,
        r##"<rect x="{ML}" y="{MT}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>"##
    )
    .unwrap();
    writeln!(
        s,
        r#"<text transform="translate(16,{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        MT + ph / 2.0,
        esc(y_label)
    )
    .unwrap();
    // Series.
    for (k, (id, pts)) in series.iter().enumerate() {
        let c = color(id);
        let width = if id == "lfmap" { 3.0 } else { 1.5 };
        let path: Vec<String> = pts
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.map(|p| format!("{:.1},{:.1}", x(i), y(p.0))))
            .collect();
        if path.len() > 1 {
            writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{c}" stroke-width="{width}"/>"#,
                path.join(" ")
            )
            .unwrap();
        } else if let (false, Some(Some(p))) = (log, pts.first()) {
            // A single-thread ceiling: a dashed line across the chart.
            writeln!(
                s,
                r#"<line x1="{ML}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{c}" stroke-width="{width}" stroke-dasharray="6 4"/>"#,
                ML + pw,
                y = y(p.0)
            )
            .unwrap();
        }
        for (i, p) in pts.iter().enumerate() {
            if let Some((m, a, b)) = p {
                let xx = x(i);
                if b > a {
                    writeln!(
                        s,
                        r#"<line x1="{xx:.1}" y1="{:.1}" x2="{xx:.1}" y2="{:.1}" stroke="{c}"/>"#,
                        y(*a),
                        y(*b)
                    )
                    .unwrap();
                }
                writeln!(
                    s,
                    r#"<circle cx="{xx:.1}" cy="{:.1}" r="{}" fill="{c}"/>"#,
                    y(*m),
                    if id == "lfmap" { 4.0 } else { 3.0 }
                )
                .unwrap();
            }
        }
        let ly = MT + 10.0 + k as f64 * 18.0;
        let lx = W - MR + 14.0;
        writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{c}" stroke-width="{width}"/><circle cx="{}" cy="{ly}" r="3" fill="{c}"/><text x="{}" y="{}">{}</text>"#,
            lx + 22.0,
            lx + 11.0,
            lx + 28.0,
            ly + 4.0,
            esc(display_name(id))
        )
        .unwrap();
    }
    s.push_str("</svg>\n");
    s
}

fn throughput_chart(
    records: &[Record],
    wl: &str,
    key: &str,
    maps: &[&str],
    threads: &[usize],
    title: &str,
) -> String {
    let series: Series = maps
        .iter()
        .map(|m| {
            let pts = threads
                .iter()
                .map(|&t| {
                    get(records, &Query { key, ..q(wl, m, t) }, "mops")
                        .map(|s| (s.med, s.min, s.max))
                })
                .collect();
            (m.to_string(), pts)
        })
        .collect();
    let labels: Vec<String> = threads
        .iter()
        .map(|t| format!("{t} thread{}", if *t == 1 { "" } else { "s" }))
        .collect();
    line_chart(
        title,
        &labels,
        "Mops/s (median, min–max bar)",
        &series,
        false,
    )
}

fn latency_chart(
    records: &[Record],
    wl: &str,
    mode: &str,
    prefix: &str,
    threads: usize,
    maps: &[&str],
    title: &str,
) -> String {
    let fields = ["p50", "p99", "p99.9", "p99.99", "max"];
    let series: Series = maps
        .iter()
        .map(|m| {
            let qu = Query {
                mode,
                ..q(wl, m, threads)
            };
            let pts = fields
                .iter()
                .map(|f| get(records, &qu, &format!("{prefix}{f}")).map(|s| (s.med, s.min, s.max)))
                .collect();
            (m.to_string(), pts)
        })
        .filter(|(_, p): &(String, Vec<_>)| p.iter().any(Option::is_some))
        .collect();
    let labels: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
    line_chart(title, &labels, "latency (log scale)", &series, true)
}
