//! The measurements and the statistics over them: each record is one child
//! process's results; a query selects the records of one configuration and
//! a field, and `Stat` gives their median, min and max over repetitions.

use std::collections::BTreeMap;

use crate::child::ChildCfg;

/// One measurement: a child process's configuration and its results.
pub struct Record {
    pub cfg: ChildCfg,
    pub fields: BTreeMap<String, f64>,
}

/// Median, min and max of the values of `field` over matching records.
#[derive(Clone, Copy)]
pub struct Stat {
    pub med: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

pub fn stat(vals: &mut [f64]) -> Option<Stat> {
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

pub struct Query<'a> {
    pub wl: &'a str,
    pub map: &'a str,
    pub threads: usize,
    pub key: &'a str,
    pub mode: &'a str,
    pub presized: bool,
}

pub fn q<'a>(wl: &'a str, map: &'a str, threads: usize) -> Query<'a> {
    Query {
        wl,
        map,
        threads,
        key: "u64",
        mode: "thr",
        presized: false,
    }
}

/// Whether record `r` is of the configuration `qu` selects.
pub fn matches(r: &Record, qu: &Query) -> bool {
    r.cfg.wl == qu.wl
        && r.cfg.map == qu.map
        && r.cfg.threads == qu.threads
        && r.cfg.key == qu.key
        && r.cfg.mode == qu.mode
        && r.cfg.presized == qu.presized
}

pub fn get(records: &[Record], qu: &Query, field: &str) -> Option<Stat> {
    let mut vals: Vec<f64> = records
        .iter()
        .filter(|r| matches(r, qu))
        .filter_map(|r| r.fields.get(field).copied())
        .collect();
    stat(&mut vals)
}

/// The least CPU share a child's timed threads may receive
/// (`cpu::cpu_fields`) before the report marks its figures.
pub const CPU_SHARE_MIN: f64 = 0.9;

/// Whether a record's timed threads received less than [`CPU_SHARE_MIN`]
/// of the cores they could use (`cpu.rs` defines the fields): by
/// `cpu_share`, unless the threads slept and `cpu_got` shows that they
/// got the CPU whenever they wanted it (a lock's waits, not a loaded
/// machine).
pub fn starved(r: &Record) -> bool {
    let f = |k: &str| r.fields.get(k).copied();
    let Some(share) = f("cpu_share") else {
        return false;
    };
    let slept = f("sleeps").is_some_and(|n| n > 0.0);
    let got = f("cpu_got").unwrap_or(share);
    share < CPU_SHARE_MIN && !(slept && got >= CPU_SHARE_MIN)
}

/// Whether any repetition of the configuration `qu` selects was starved.
pub fn any_starved(records: &[Record], qu: &Query) -> bool {
    records.iter().any(|r| matches(r, qu) && starved(r))
}
