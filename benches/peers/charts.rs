//! The report's SVG charts, hand-rolled: throughput against threads (linear
//! axis) and latency percentiles (log axis), one line per map.

use std::fmt::Write as _;

use crate::report::{display_name, fmt_ns};
use crate::stats::{get, q, Query, Record};

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

pub fn throughput_chart(
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

pub fn latency_chart(
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
