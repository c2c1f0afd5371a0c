//! Latency measurement: a histogram that is exact below 64 ns, then has 64
//! sub-buckets per power of two (at most 1.6% relative error), values in
//! nanoseconds; the percentiles the report gives; the cost of the clock.

use std::time::Instant;

const SUB: u64 = 64;

/// A latency histogram (buckets as in the module header).
#[derive(Clone)]
pub struct Hist {
    counts: Vec<u64>,
    pub n: u64,
    max: u64,
}

impl Hist {
    pub fn new() -> Hist {
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
    pub fn record(&mut self, ns: u64) {
        self.counts[Self::index(ns)] += 1;
        self.n += 1;
        self.max = self.max.max(ns);
    }

    pub fn merge(&mut self, o: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.n += o.n;
        self.max = self.max.max(o.max);
    }

    /// The value below which a fraction `q` of the samples lie.
    pub fn quantile(&self, q: f64) -> u64 {
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

pub fn hist_fields(prefix: &str, h: &Hist, out: &mut Vec<(String, f64)>) {
    for (name, q) in QUANTILES {
        out.push((format!("{prefix}{name}"), h.quantile(*q) as f64));
    }
    out.push((format!("{prefix}max"), h.max as f64));
    out.push((format!("{prefix}n"), h.n as f64));
}

#[inline(always)]
pub fn ns_since(t: Instant) -> u64 {
    t.elapsed().as_nanos() as u64
}

/// The cost of one `Instant::now()` pair as the latency loops use it: the
/// median of many back-to-back pairs, in nanoseconds.
pub fn timer_cost_ns() -> u64 {
    let mut h = Hist::new();
    for _ in 0..200_000 {
        let a = Instant::now();
        h.record(ns_since(a));
    }
    h.quantile(0.5)
}
