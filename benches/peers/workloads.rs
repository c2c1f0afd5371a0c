//! The workloads, run inside a child process: the list the driver and the
//! report iterate over, the pre-generated operation sequences, the timed
//! loops, and the visitors that run a child's workload on its map type. Each
//! `run_*` returns its results as named fields.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::Instant;

use crate::alloc::{reset_peak_rss, rss_bytes, vm_hwm_bytes, COUNTING, LIVE, PEAK};
use crate::child::ChildCfg;
use crate::common::{mix, BenchMap, Key, Rng, Visit};
use crate::cpu::{cpu_fields, span_end, span_start, Span};
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
pub type Fields = Vec<(String, f64)>;

/// Checks a property that every correct map has whatever the threads'
/// interleaving, after the timed part: if it fails, says so on stderr and
/// exits with status 3 before the `RESULT` line, so the driver lists the
/// run among the failed measurements (with this message) and no figure
/// of a map that lost or invented entries reaches the report. Only
/// properties that hold exactly are checked; each call says why it holds.
fn check(c: &ChildCfg, ok: bool, what: impl FnOnce() -> String) {
    if !ok {
        eprintln!(
            "CHECK FAILED: {} wl={} key={} threads={}: {}",
            c.map,
            c.wl,
            c.key,
            c.threads,
            what()
        );
        std::process::exit(3);
    }
}

/// Checks that `map` holds `expected` entries, by its own count and by
/// its iterator's (the map is quiescent: every writer has been joined).
fn check_len<K: Key, M: BenchMap<K>>(c: &ChildCfg, map: &M, expected: u64, why: &str) {
    let len = map.len() as u64;
    check(c, len == expected, || {
        format!("len() = {len}, expected {expected} ({why})")
    });
    let visited = map.iter_len() as u64;
    check(c, visited == expected, || {
        format!("the iterator visits {visited} entries, expected {expected} ({why})")
    });
}

/// Checks the sample of keys `0..n` that the rapid-grow and memory
/// workloads read back (every 97th, and the last): each was inserted with
/// itself as value, by a writer joined since, and nothing removes or
/// updates it. (Every 97th: reading all 4M back would add seconds to
/// every such child for little more assurance than `check_len` gives.)
fn check_sample<M: BenchMap<u64>>(c: &ChildCfg, map: &M, n: u64) {
    let sample = (0..n).step_by(97).chain(n.checked_sub(1));
    let (mut found, mut tried) = (0u64, 0u64);
    for i in sample {
        tried += 1;
        found += (map.get(&i) == Some(i)) as u64;
    }
    check(c, found == tried, || {
        format!(
            "{} of {tried} sampled keys of 0..{n} missing or with a wrong value after \
             every insert returned",
            tried - found
        )
    });
}

/// A worker's timed span, operations done and successful, by kind, and
/// (in `lat` mode) each kind's latencies.
type ThreadResult = (Span, [u64; 4], [u64; 4], [Hist; 4]);

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
    let (mut live, mut fresh) = (0u64, 0u64);
    for i in 0..n {
        if prefilled(&c.wl, i) {
            fresh += map.insert(K::owned(i), i) as u64;
            live += 1;
        }
    }
    // Distinct keys into an empty map, from one thread.
    check(c, fresh == live, || {
        format!(
            "{} of {live} prefill inserts found the key present",
            live - fresh
        )
    });
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
                    let begun = span_start();
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
                    (span_end(begun), done, hit, hists)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let spans: Vec<Span> = results.iter().map(|r| r.0).collect();
    let start = spans.iter().map(|s| s.start).min().unwrap();
    let end = spans.iter().map(|s| s.end).max().unwrap();
    let total: u64 = results.iter().map(|r| r.1.iter().sum::<u64>()).sum();
    let secs = (end - start).as_secs_f64();
    // Operations done and successful of one kind, all threads together.
    let done = |kind: u64| -> u64 { results.iter().map(|r| r.1[kind as usize]).sum() };
    let hits = |kind: u64| -> u64 { results.iter().map(|r| r.2[kind as usize]).sum() };
    let (gets, get_hits) = (done(OP_GET), hits(OP_GET));
    let (inserts, insert_hits) = (done(OP_INSERT), hits(OP_INSERT));
    let (removes, remove_hits) = (done(OP_REMOVE), hits(OP_REMOVE));
    let (updates, update_hits) = (done(OP_UPDATE), hits(OP_UPDATE));
    let mut out: Fields = vec![
        ("mops".into(), total as f64 / secs / 1e6),
        ("secs".into(), secs),
        ("prefilled".into(), live as f64),
        ("gets".into(), gets as f64),
        ("get_hits".into(), get_hits as f64),
        ("inserts".into(), inserts as f64),
        ("insert_hits".into(), insert_hits as f64),
        ("removes".into(), removes as f64),
        ("remove_hits".into(), remove_hits as f64),
        ("updates".into(), updates as f64),
        ("update_hits".into(), update_hits as f64),
    ];
    cpu_fields(&spans, &mut out);
    // Every workload: an insert that returns "was absent" added one entry,
    // a remove that returns "was present" took one away, and nothing else
    // changes the count (a replacing insert keeps it; an update changes a
    // present key's value only: lfmap's, WordMap's, papaya's and scc's
    // `update`, flurry's `compute_if_present` returning `Some`, and the
    // others' `get_mut` never insert). So, however the operations
    // interleaved, a correct map ends with exactly this many entries.
    check(c, remove_hits <= live + insert_hits, || {
        format!("{remove_hits} removes hit, more than {live} prefilled + {insert_hits} added")
    });
    let expected = live + insert_hits - remove_hits;
    check_len(
        c,
        &map,
        expected,
        "prefilled + inserts that added - removes that removed",
    );
    if c.wl == "read_heavy" {
        // Gets pick prefilled keys (`0..n`), which no operation removes or
        // replaces; each thread inserts fresh keys of its own range
        // (`n + t * cap ..`, never reused) and removes only keys it
        // inserted earlier and has not removed yet (`gen_ops`: rem < ins).
        // So every operation of this workload succeeds, in any correct map.
        for (what, n, hit) in [
            ("gets", gets, get_hits),
            ("inserts", inserts, insert_hits),
            ("removes", removes, remove_hits),
        ] {
            check(c, hit == n, || {
                format!("{} of {n} {what} failed; all must succeed here", n - hit)
            });
        }
    }
    if lat {
        for (kind, prefix) in [(OP_GET, "g_"), (OP_INSERT, "i_"), (OP_REMOVE, "d_")] {
            let mut h = Hist::new();
            for r in &results {
                h.merge(&r.3[kind as usize]);
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
    // Per worker: its timed span, its latencies, its inserts that added.
    let results: Vec<(Span, Hist, u64)> = std::thread::scope(|s| {
        if c.assist {
            s.spawn(|| map.assist(&stop));
        }
        let stop_helper = StopOnDrop(&stop);
        let handles: Vec<_> = (0..c.threads)
            .map(|t| {
                let (map, barrier) = (&map, &barrier);
                s.spawn(move || {
                    let mut h = Hist::new();
                    let mut added = 0u64;
                    let range = t as u64 * per..(t as u64 + 1) * per;
                    barrier.wait();
                    let begun = span_start();
                    if lat {
                        for i in range {
                            let a = Instant::now();
                            added += map.insert(i, i) as u64;
                            h.record(ns_since(a));
                        }
                    } else {
                        for i in range {
                            added += map.insert(i, i) as u64;
                        }
                    }
                    (span_end(begun), h, added)
                })
            })
            .collect();
        let results = handles.into_iter().map(|h| h.join().unwrap()).collect();
        drop(stop_helper);
        results
    });
    let spans: Vec<Span> = results.iter().map(|r| r.0).collect();
    let start = spans.iter().map(|s| s.start).min().unwrap();
    let end = spans.iter().map(|s| s.end).max().unwrap();
    let secs = (end - start).as_secs_f64();
    let total = per * c.threads as u64;
    let added: u64 = results.iter().map(|r| r.2).sum();
    // The threads' ranges are disjoint and nothing removes: every insert
    // adds its key, and all `total` keys are there at the end.
    check(c, added == total, || {
        format!(
            "{} of {total} inserts of fresh keys found them present",
            total - added
        )
    });
    check_len(c, &map, total, "keys inserted, all distinct, none removed");
    check_sample(c, &map, total);
    let mut out: Fields = vec![
        ("mops".into(), total as f64 / secs / 1e6),
        ("secs".into(), secs),
        ("insert_hits".into(), added as f64),
    ];
    cpu_fields(&spans, &mut out);
    if lat {
        let mut h = Hist::new();
        for r in &results {
            h.merge(&r.1);
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
    let ((wh, added, wspan), (rh, misses, rsecs, rspan)) = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut h = Hist::new();
            let mut added = 0u64;
            barrier.wait();
            let begun = span_start();
            for i in 0..grow {
                let a = Instant::now();
                added += map.insert(i, i) as u64;
                h.record(ns_since(a));
                if (i + 1) % 64 == 0 {
                    progress.store(i + 1, Ordering::Release);
                }
            }
            let span = span_end(begun);
            progress.store(grow, Ordering::Release);
            done.store(true, Ordering::Release);
            (h, added, span)
        });
        let reader = s.spawn(|| {
            let mut h = Hist::new();
            let mut rng = Rng::new(7);
            let mut misses = 0u64;
            barrier.wait();
            let begun = span_start();
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
            let rsecs = start.elapsed().as_secs_f64();
            (h, misses, rsecs, span_end(begun))
        });
        (writer.join().unwrap(), reader.join().unwrap())
    });
    // The reader gets only keys below a published progress `p`: the writer
    // inserted each of them (value = key) before its Release store of `p`,
    // which the reader's Acquire load saw, and nothing removes or updates
    // them. A correct map returns every one, with its value.
    check(c, misses == 0, || {
        format!(
            "{misses} of {} reader gets of keys already inserted missed or read a wrong value",
            rh.n
        )
    });
    check(c, added == grow, || {
        format!(
            "{} of {grow} inserts of fresh keys found them present",
            grow - added
        )
    });
    check_len(c, &map, grow, "keys inserted, all distinct, none removed");
    let mut out: Fields = vec![
        ("reader_misses".into(), misses as f64),
        ("reader_mops".into(), rh.n as f64 / rsecs / 1e6),
        ("timer_ns".into(), timer as f64),
    ];
    cpu_fields(&[wspan, rspan], &mut out);
    hist_fields("r_", &rh, &mut out);
    hist_fields("w_", &wh, &mut out);
    std::mem::forget(map);
    out
}

/// Workload 6: heap and RSS per entry after inserting `grow` keys from one
/// thread, into an empty or a pre-sized map.
fn run_memory<M: BenchMap<u64>>(c: &ChildCfg) -> Fields {
    // The peak resident set: the kernel's high-water mark, reset here to
    // the current RSS so that it covers this loop alone. It is the only
    // peak of lfmap's: its tables and `HashMap`'s entry spans are mapped
    // from the kernel, past the counting allocator (`alloc.rs`).
    let hwm_reset = reset_peak_rss();
    let rss0 = rss_bytes();
    let begun = span_start();
    COUNTING.store(true, Ordering::SeqCst);
    let map = if c.presized {
        M::with_capacity(c.grow as usize)
    } else {
        M::new()
    };
    let mut added = 0u64;
    for i in 0..c.grow {
        added += map.insert(i, i) as u64;
    }
    let live = LIVE.load(Ordering::SeqCst) as f64;
    let peak = PEAK.load(Ordering::SeqCst) as f64;
    let rss_now = rss_bytes();
    let hwm = vm_hwm_bytes();
    COUNTING.store(false, Ordering::SeqCst);
    let span = span_end(begun);
    let rss = rss_now.saturating_sub(rss0) as f64;
    let n = c.grow as f64;
    let mut out: Fields = vec![
        ("heap_per_entry".into(), live / n),
        ("peak_heap_per_entry".into(), peak / n),
        ("rss_per_entry".into(), rss / n),
    ];
    if hwm_reset {
        // The high-water mark is at least the RSS read just before it.
        let peak_rss = hwm.max(rss_now).saturating_sub(rss0) as f64;
        out.push(("peak_rss_per_entry".into(), peak_rss / n));
    }
    cpu_fields(&[span], &mut out);
    // One thread inserts distinct keys and removes none.
    check(c, added == c.grow, || {
        format!(
            "{} of {} inserts of fresh keys found them present",
            c.grow - added,
            c.grow
        )
    });
    check_len(c, &map, c.grow, "keys inserted, all distinct, none removed");
    check_sample(c, &map, c.grow);
    if !c.presized {
        octave_fields(&map, c.grow, rss0, &mut out);
    }
    std::mem::forget(map);
    out
}

/// Sizes [`octave_fields`] reads in one octave: eight, log-spaced.
const OCTAVE_POINTS: u32 = 8;

/// Goes on inserting into `map` (holding keys `0..grow`), reading the RSS
/// growth per entry at `grow · 2^(k/8)` keys, `k = 0..7` (one octave,
/// log-spaced): their mean and the largest. One size flatters or wrongs any
/// map whose memory per entry moves with where its size falls between two
/// resizes (a doubling table: half full after it, at its load limit before
/// it; a successor prepared or an old table still migrating adds its
/// memory in between); an octave of sizes shows every phase once, for
/// every map alike.
fn octave_fields<M: BenchMap<u64>>(map: &M, grow: u64, rss0: u64, out: &mut Fields) {
    let per_entry = |n: u64| rss_bytes().saturating_sub(rss0) as f64 / n as f64;
    let mut seen = vec![per_entry(grow)];
    let mut next = grow;
    for k in 1..OCTAVE_POINTS {
        let mark = (grow as f64 * 2f64.powf(f64::from(k) / f64::from(OCTAVE_POINTS))) as u64;
        for i in next..mark {
            map.insert(i, i);
        }
        next = mark;
        seen.push(per_entry(mark));
    }
    let mean = seen.iter().sum::<f64>() / seen.len() as f64;
    let max = seen.iter().copied().fold(0.0, f64::max);
    out.push(("rss_octave_mean".into(), mean));
    out.push(("rss_octave_max".into(), max));
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
    let spans: Vec<Span> = std::thread::scope(|s| {
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
                    let begun = span_start();
                    for &k in &keys {
                        map.add(k, 1);
                    }
                    span_end(begun)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let start = spans.iter().map(|s| s.start).min().unwrap();
    let end = spans.iter().map(|s| s.end).max().unwrap();
    let secs = (end - start).as_secs_f64();
    let total = per * c.threads as u64;
    // Every add is an atomic upsert of +1: no update lost, none doubled.
    let sum = map.sum_values();
    check(c, sum == total, || {
        format!("the counters sum to {sum}, not the {total} adds made")
    });
    std::mem::forget(map);
    let mut out: Fields = vec![
        ("mops".into(), total as f64 / secs / 1e6),
        ("secs".into(), secs),
    ];
    cpu_fields(&spans, &mut out);
    out
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
