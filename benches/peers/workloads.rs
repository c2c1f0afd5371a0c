//! The workloads, run inside a child process: the list the driver and the
//! report iterate over, the pre-generated operation sequences, the timed
//! loops, and the visitors that run a child's workload on its map type. Each
//! `run_*` returns its results as named fields.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::Instant;

use crate::alloc::{rss_bytes, COUNTING, LIVE, PEAK};
use crate::child::ChildCfg;
use crate::common::{mix, BenchMap, Key, Rng, Visit};
use crate::hist::{hist_fields, ns_since, timer_cost_ns, Hist};

/// The workloads, in report order: id and title.
pub const WORKLOADS: &[(&str, &str)] = &[
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
    (
        "steady_latency",
        "steady-state latency: mixed 50% get / 25% insert / 25% remove, pre-sized, every operation timed",
    ),
];

const OP_GET: u64 = 0;
const OP_INSERT: u64 = 1;
const OP_REMOVE: u64 = 2;
const OP_UPDATE: u64 = 3;
const KEY_MASK: u64 = (1 << 62) - 1;

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
        "mixed" | "steady_latency" => mix(i ^ 0xA5A5) & 1 == 0, // 50%
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
            "mixed" | "steady_latency" => {
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

/// A child's results: name and value, printed on its `RESULT` line.
type Fields = Vec<(String, f64)>;

/// A worker's start, end, operations done and successful, by kind, and
/// (in `lat` mode) each kind's latencies.
type ThreadResult = (Instant, Instant, [u64; 4], [u64; 4], [Hist; 4]);

/// Workloads 1-3: prefill, then every thread runs its pre-generated ops.
///
/// In `lat` mode (workload 8, steady-state latency) every operation is
/// timed, and each kind's percentiles are reported (`g_`, `i_`, `d_` for
/// get, insert, remove).
fn run_ops<K: Key, M: BenchMap<K>>(c: &ChildCfg) -> Fields {
    let lat = c.mode == "lat";
    let timer = if lat { timer_cost_ns() } else { 0 };
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
                    let mut hists = [Hist::new(), Hist::new(), Hist::new(), Hist::new()];
                    let op = |op: u64| {
                        let i = op & KEY_MASK;
                        match op >> 62 {
                            OP_GET => K::with(i, |k| map.get(k)).is_some(),
                            OP_INSERT => map.insert(K::owned(i), i),
                            OP_REMOVE => K::with(i, |k| map.remove(k)),
                            _ => K::with(i, |k| map.update(k)),
                        }
                    };
                    barrier.wait();
                    let start = Instant::now();
                    if lat {
                        for &o in &ops {
                            let kind = (o >> 62) as usize;
                            let a = Instant::now();
                            let ok = op(o);
                            hists[kind].record(ns_since(a));
                            done[kind] += 1;
                            hit[kind] += ok as u64;
                        }
                    } else {
                        for &o in &ops {
                            let kind = (o >> 62) as usize;
                            let ok = op(o);
                            done[kind] += 1;
                            hit[kind] += ok as u64;
                        }
                    }
                    let end = Instant::now();
                    (start, end, done, hit, hists)
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
    let mut out: Fields = vec![
        ("mops".into(), total as f64 / secs / 1e6),
        ("secs".into(), secs),
        ("prefilled".into(), live as f64),
        ("gets".into(), sum(|r| r.2[0])),
        ("get_hits".into(), sum(|r| r.3[0])),
        ("removes".into(), sum(|r| r.2[2])),
        ("remove_hits".into(), sum(|r| r.3[2])),
    ];
    if lat {
        for (kind, prefix) in [(OP_GET, "g_"), (OP_INSERT, "i_"), (OP_REMOVE, "d_")] {
            let mut h = Hist::new();
            for r in &results {
                h.merge(&r.4[kind as usize]);
            }
            hist_fields(prefix, &h, &mut out);
        }
        out.push(("timer_ns".into(), timer as f64));
    }
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
    let stop = AtomicBool::new(false);
    /// Stops the helper however the workers end (a panic in one would
    /// otherwise leave the scope waiting for the helper).
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
    let results: Vec<(Instant, Instant, Hist)> = std::thread::scope(|s| {
        if c.assist {
            s.spawn(|| map.assist(&stop));
        }
        let stop_helper = StopOnDrop(&stop);
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
        let results = handles.into_iter().map(|h| h.join().unwrap()).collect();
        drop(stop_helper);
        results
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

/// Runs a child's workload on map `M` with key type `K` (workloads 1-3).
pub struct ChildRun<'a>(pub &'a ChildCfg);

impl<K: Key> Visit<K> for ChildRun<'_> {
    type Out = Fields;
    fn visit<M: BenchMap<K>>(self) -> Fields {
        run_ops::<K, M>(self.0)
    }
}

/// Runs a child's workload on map `M` with `u64` keys (any workload).
pub struct ChildRunU64<'a>(pub &'a ChildCfg);

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
