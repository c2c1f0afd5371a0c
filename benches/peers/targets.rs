//! The targets of issues #6 (lfmap), #7 (WordMap), #14 (lock-freedom
//! that pays, as users build lfmap) and #15 (flat tails while the map
//! grows): ratios of medians against the peers
//! and latency and memory bounds, as the report's "Targets" table.

use std::fmt::Write as _;

use crate::driver::Opts;
use crate::report::fmt_ns;
use crate::stats::{get, q, Query, Record};

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

pub fn targets(w: &mut String, records: &[Record], o: &Opts) {
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
    // Peak RSS in brackets: lfmap's tables and entries are mapped outside
    // the counting allocator, so its heap column says nothing.
    let heap = mem("peak_rss_per_entry");
    ts.push(Target {
        what: "memory, grown from empty: lfmap bytes per u64→u64 entry (RSS; peak RSS in brackets)"
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
    let wh = med("memory", "wordmap", 1, "peak_rss_per_entry", "thr");
    ts.push(Target {
        what:
            "WordMap memory, grown from empty: bytes per u64→u64 entry (RSS; peak RSS in brackets)"
                .into(),
        measured: wr,
        shown: match (wr, wh) {
            (Some(r), Some(h)) => format!("{r:.1} B ({h:.1} B)"),
            _ => "—".into(),
        },
        bound: "≤ 24 B".into(),
        met: wr.map(|r| r <= 24.0),
    });
    // The same bounds over an octave of sizes (`octave_fields`): a map's
    // memory per entry at one size is one phase of its resize cycle.
    for (map, name, bound) in [("lfmap", "HashMap", 40.0), ("wordmap", "WordMap", 24.0)] {
        let mean = med("memory", map, 1, "rss_octave_mean", "thr");
        let max = med("memory", map, 1, "rss_octave_max", "thr");
        ts.push(Target {
            what: format!(
                "memory, grown from empty: {name} bytes per entry (RSS) over an octave of sizes, mean (largest in brackets)"
            ),
            measured: mean,
            shown: match (mean, max) {
                (Some(m), Some(x)) => format!("{m:.1} B ({x:.1} B)"),
                _ => "—".into(),
            },
            bound: format!("≤ {bound:.0} B"),
            met: mean.map(|m| m <= bound),
        });
    }
    // Issue #14: lfmap as users build it (the `peers-user` rows) against
    // the better of dashmap and scc, at 1 and 2 threads, u64 and String keys.
    let medk = |wl: &str, m: &str, t: usize, key: &str| {
        get(records, &Query { key, ..q(wl, m, t) }, "mops").map(|s| s.med)
    };
    let best = |wl: &str, t: usize, key: &str| match (
        medk(wl, "dashmap", t, key),
        medk(wl, "scc", t, key),
    ) {
        (Some(d), Some(s)) => Some(d.max(s)),
        (a, b) => a.or(b),
    };
    for key in ["u64", "String"] {
        for wl in ["read_heavy", "exchange", "mixed"] {
            for t in [1, 2] {
                ts.push(ratio_row(
                    &format!("#14 {wl}, {key} keys, {t} thread(s): lfmap / max(dashmap, scc)"),
                    ratio(medk(wl, "lfmap", t, key), best(wl, t, key)),
                    1.0,
                ));
            }
        }
    }
    for wl in ["read_heavy", "exchange", "mixed"] {
        ts.push(ratio_row(
            &format!("#14 WordMap {wl}, 2 threads: wordmap / max(dashmap, scc)"),
            ratio(wm(wl, 2), best(wl, 2, "u64")),
            1.5,
        ));
    }
    ts.push(ratio_row(
        "#14 WordMap read-heavy, 1 thread: wordmap / hashbrown (1 thread)",
        ratio(
            wm("read_heavy", 1),
            med("read_heavy", "hashbrown", 1, "mops", "thr"),
        ),
        0.8,
    ));
    ts.push(Target {
        what: "#14 memory, grown from empty: lfmap bytes per u64→u64 entry (RSS)".into(),
        measured: rss,
        shown: rss.map_or("—".into(), |r| format!("{r:.1} B")),
        bound: "≤ 40 B".into(),
        met: rss.map(|r| r <= 40.0),
    });
    // Issue #15: flat tails while the map grows, both maps, 2 threads.
    for (m, name) in [("lfmap", "HashMap"), ("wordmap", "WordMap")] {
        for (f, bound) in [("p99", 1_000.0), ("p99.9", 2_000.0), ("p99.99", 20_000.0)] {
            ts.push(lat_row(
                &format!("#15 rapid grow, 2 threads: {name} insert {f}"),
                med("rapid_grow", m, 2, f, "lat"),
                bound,
            ));
        }
        ts.push(ratio_row(
            &format!("#15 rapid grow, 2 threads: {name} / max(dashmap, scc) throughput"),
            ratio(med("rapid_grow", m, 2, "mops", "thr"), best2("rapid_grow")),
            1.0,
        ));
        for (f, bound) in [("r_p99.9", 1_000.0), ("r_p99.99", 10_000.0)] {
            ts.push(lat_row(
                &format!("#15 read during growth: {name} reader {}", &f[2..]),
                med("read_growth", m, 1, f, "thr"),
                bound,
            ));
        }
        // Steady state: at or below dashmap's p99.9, get and insert.
        for (f, what) in [("g_p99.9", "get"), ("i_p99.9", "insert")] {
            let lf = med("steady_latency", m, 2, f, "lat");
            let dash = med("steady_latency", "dashmap", 2, f, "lat");
            ts.push(Target {
                what: format!(
                    "#15 steady state, 2 threads: {name} {what} p99.9 (dashmap's in brackets)"
                ),
                measured: lf,
                shown: match (lf, dash) {
                    (Some(a), Some(b)) => format!("{} ({})", fmt_ns(a), fmt_ns(b)),
                    _ => "—".into(),
                },
                bound: "≤ dashmap's".into(),
                met: lf.zip(dash).map(|(a, b)| a <= b),
            });
        }
    }
    ts.push(Target {
        what: "#15 memory, grown from empty: WordMap bytes per entry (RSS)".into(),
        measured: wr,
        shown: wr.map_or("—".into(), |r| format!("{r:.1} B")),
        bound: "≤ 24 B".into(),
        met: wr.map(|r| r <= 24.0),
    });
    writeln!(w, "## Targets (issues #6, #7, #14 and #15)\n").unwrap();
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
