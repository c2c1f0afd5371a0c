//! Child mode: every measurement runs in a fresh process started as
//! `<bin> --child wl=... map=... threads=N key=u64 mode=thr presized=0
//! keybits=20 ops=... grow=...`; it runs the workload for that map and key
//! type and prints one `RESULT name=value ...` line, or, if the map fails
//! one of the workload's correctness checks, a `CHECK FAILED: ...` line on
//! stderr and exits with status 3 (`workloads::check`).

use std::fmt::Write as _;

use crate::common::{is_concurrent, visit_map};
use crate::workloads::{ChildRun, ChildRunU64};

/// What a child process runs.
#[derive(Clone, Debug)]
pub struct ChildCfg {
    pub wl: String,
    pub map: String,
    pub threads: usize,
    pub key: String,
    /// `thr` (throughput, no per-op clocks) or `lat` (per-op latency).
    pub mode: String,
    pub presized: bool,
    /// The key space of workloads 1-3 is `2^keybits`.
    pub keybits: u32,
    /// Operations of workloads 1-3, all threads together.
    pub ops: u64,
    /// Keys inserted by workloads 4-6.
    pub grow: u64,
    /// Workload 4: a thread beside the workers runs the map's resize
    /// helper (lfmap's `ResizeHelper`; nothing for maps without one). The
    /// driver never sets it (the report measures maps as they come); it is
    /// for children run by hand, as in docs/benchmarks.md, "Resize
    /// helpers" (`peers-user --child wl=rapid_grow threads=1 assist=1`).
    pub assist: bool,
}

impl ChildCfg {
    pub fn args(&self) -> Vec<String> {
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
            format!("assist={}", self.assist as u8),
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
            assist: false,
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
                "assist" => c.assist = v == "1",
                _ => panic!("unknown child argument {a}"),
            }
        }
        c
    }
}

pub fn child_main(args: &[String]) {
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
