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

pub fn get(records: &[Record], qu: &Query, field: &str) -> Option<Stat> {
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
