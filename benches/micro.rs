//! Criterion micro-benchmarks of single operations, lfmap against its peers,
//! at 1 and 2 threads: get (hit, miss), insert, remove, update,
//! get-or-insert of a present key, iterate.
//!
//! ```sh
//! cargo bench --bench micro                 # everything (~4 min)
//! cargo bench --bench micro -- get_hit      # one operation
//! cargo bench --bench micro -- 'insert_2t/lfmap'
//! ```
//!
//! Group names are `<operation>_<threads>t`, benchmark names the map id
//! (lfmap, papaya, dashmap, flurry, scc, rwlock, mutex, hashbrown). At 2
//! threads both threads run the operation at once on one shared map and the
//! throughput counts both; each thread times itself after a barrier and the
//! slower thread's time is reported. `u64 -> u64`, hashed by
//! `lfmap::DefaultHashBuilder` in every map; lfmap, papaya and flurry pin a
//! guard per operation. The multi-threaded workload comparison is
//! `benches/peers/`.

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::{is_concurrent, visit_map, BenchMap, Rng, Visit, MAP_IDS};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

/// Keys prefilled for get, update and iterate: `[0, N)`.
const N: u64 = 1 << 16;
/// Keys each thread inserts or removes per round.
const BATCH: u64 = 4096;
/// Pre-generated random key indices per thread (a power of two).
const LOOKUPS: usize = 1 << 12;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    GetHit,
    GetMiss,
    Insert,
    Remove,
    Update,
    GetOrInsertHit,
    Iterate,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::GetHit => "get_hit",
            Op::GetMiss => "get_miss",
            Op::Insert => "insert",
            Op::Remove => "remove",
            Op::Update => "update",
            Op::GetOrInsertHit => "get_or_insert_hit",
            Op::Iterate => "iterate",
        }
    }
}

const OPS: [Op; 7] = [
    Op::GetHit,
    Op::GetMiss,
    Op::Insert,
    Op::Remove,
    Op::Update,
    Op::GetOrInsertHit,
    Op::Iterate,
];

/// Runs `f(thread)` on `threads` threads released together by a barrier;
/// each returns the time it measured itself; the slowest counts.
fn parallel(threads: usize, f: impl Fn(usize) -> Duration + Sync) -> Duration {
    if threads == 1 {
        return f(0);
    }
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (f, barrier) = (&f, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    f(t)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .max()
            .unwrap()
    })
}

/// Random key indices in `[base, base + N)` for thread `t`.
fn lookups(t: usize, base: u64) -> Vec<u64> {
    let mut rng = Rng::new(0xC0FFEE + t as u64);
    (0..LOOKUPS).map(|_| base + rng.below(N)).collect()
}

fn prefilled<M: BenchMap<u64>>(n: u64) -> M {
    let map = M::with_capacity(n as usize);
    for i in 0..n {
        map.insert(i, i);
    }
    map
}

struct Bench<'a, 'c> {
    group: &'a mut BenchmarkGroup<'c, WallTime>,
    /// The map's id (`MAP_IDS`), the benchmark's name.
    id: &'static str,
    op: Op,
    threads: usize,
}

impl Visit<u64> for Bench<'_, '_> {
    type Out = ();
    fn visit<M: BenchMap<u64>>(self) {
        let Bench {
            group,
            id,
            op,
            threads,
        } = self;
        let t64 = threads as u64;
        match op {
            Op::GetHit | Op::GetMiss | Op::Update | Op::GetOrInsertHit => {
                let map: M = prefilled(N);
                let base = if op == Op::GetMiss { N } else { 0 };
                let keys: Vec<Vec<u64>> = (0..threads).map(|t| lookups(t, base)).collect();
                group.throughput(Throughput::Elements(t64));
                group.bench_function(id, |b| {
                    b.iter_custom(|iters| {
                        parallel(threads, |t| {
                            let keys = &keys[t];
                            let start = Instant::now();
                            for i in 0..iters as usize {
                                let k = &keys[i & (LOOKUPS - 1)];
                                match op {
                                    Op::Update => _ = black_box(map.update(k)),
                                    Op::GetOrInsertHit => _ = black_box(map.get_or_insert(*k, 0)),
                                    _ => _ = black_box(map.get(k)),
                                }
                            }
                            start.elapsed()
                        })
                    })
                });
            }
            Op::Insert | Op::Remove => {
                // One iteration is a round: a fresh map pre-sized for the
                // round; each thread inserts (or removes, after an untimed
                // prefill) its own BATCH keys.
                group.throughput(Throughput::Elements(t64 * BATCH));
                group.bench_function(id, |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let map: M = if op == Op::Remove {
                                prefilled(t64 * BATCH)
                            } else {
                                M::with_capacity((t64 * BATCH) as usize)
                            };
                            total += parallel(threads, |t| {
                                let range = t as u64 * BATCH..(t as u64 + 1) * BATCH;
                                let start = Instant::now();
                                if op == Op::Insert {
                                    for k in range {
                                        black_box(map.insert(k, k));
                                    }
                                } else {
                                    for k in range {
                                        black_box(map.remove(&k));
                                    }
                                }
                                start.elapsed()
                            });
                        }
                        total
                    })
                });
            }
            Op::Iterate => {
                let map: M = prefilled(N);
                group.throughput(Throughput::Elements(t64 * N));
                group.bench_function(id, |b| {
                    b.iter_custom(|iters| {
                        parallel(threads, |_| {
                            let start = Instant::now();
                            for _ in 0..iters {
                                black_box(map.sum_values());
                            }
                            start.elapsed()
                        })
                    })
                });
            }
        }
    }
}

fn micro(c: &mut Criterion) {
    for op in OPS {
        for threads in [1, 2] {
            let mut group = c.benchmark_group(format!("{}_{threads}t", op.name()));
            for id in MAP_IDS {
                if threads > 1 && !is_concurrent(id) {
                    continue;
                }
                visit_map::<u64, _>(
                    id,
                    Bench {
                        group: &mut group,
                        id,
                        op,
                        threads,
                    },
                );
            }
            group.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    targets = micro
}
criterion_main!(benches);
