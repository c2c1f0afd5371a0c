//! The driver: parses the options, plans the measurements (repetitions
//! outermost, the map order rotating), runs each in a child process with a
//! timeout, watches the machine's load and other busy processes, then
//! writes the report.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::child::ChildCfg;
use crate::common::{is_concurrent, takes_key, MAP_IDS};
use crate::report::write_report;
use crate::stats::Record;
use crate::workloads::WORKLOADS;

/// The driver's options (the crate header lists them).
pub struct Opts {
    pub quick: bool,
    pub reps: usize,
    pub maps: Vec<String>,
    pub workloads: Vec<String>,
    pub threads: Vec<usize>,
    pub strings: bool,
    pub out: PathBuf,
    pub keybits: u32,
    pub ops: u64,
    pub grow: u64,
    /// A `peers-user` built beforehand (`--user-bin`), for a machine
    /// without a toolchain; else the driver builds it.
    pub user_bin: Option<PathBuf>,
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
        user_bin: None,
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
            "--user-bin" => o.user_bin = Some(PathBuf::from(val())),
            other => panic!("unknown option {other} (see the header of benches/peers/main.rs)"),
        }
    }
    o
}

/// Whether a map is lfmap's: measured with the `peers-user` binary.
fn is_lfmap(map: &str) -> bool {
    matches!(map, "lfmap" | "wordmap")
}

/// Builds `benches/user-build/` (the `peers-user` binary: lfmap alone, as a
/// user's build has it) and returns its path, or `None` if it cannot be
/// built (lfmap's rows then come from this binary, and the report says so).
fn build_user_binary() -> Option<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // This binary is <target>/<profile>/deps/peers-<hash>: build into the
    // same target directory, release profile.
    let exe = std::env::current_exe().ok()?;
    let target = exe.parent()?.parent()?.parent()?.to_path_buf();
    eprintln!("peers: building peers-user (lfmap alone) ...");
    let ok = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--release",
            "-p",
            "lfmap-bench-user",
            "--bin",
            "peers-user",
        ])
        .arg("--target-dir")
        .arg(&target)
        .status()
        .is_ok_and(|s| s.success());
    let bin = target.join("release").join("peers-user");
    (ok && bin.exists()).then_some(bin)
}

/// lfmap's switch for tables on huge pages, read by `peers-user`
/// (`benches/user-build/main.rs`). Removed from every child's environment:
/// the report measures lfmap's default (pages as the kernel gives them),
/// and a variable left set in the shell must not change lfmap's rows
/// unnoticed. Measuring with it is for children run by hand.
const HUGE_PAGES_VAR: &str = "LFMAP_HUGE_PAGES";

/// Why a child's measurement is left out of the report.
fn failure_reason(
    status: Option<std::process::ExitStatus>,
    timeout: Duration,
    said: &[String],
) -> String {
    // The child's own words first: a failed check, else a panic's message
    // (the line after "panicked at").
    if let Some(l) = said.iter().find(|l| l.starts_with("CHECK FAILED")) {
        return l.clone();
    }
    if let Some(i) = said.iter().position(|l| l.contains("panicked at")) {
        let msg = said.get(i + 1).map_or("", String::as_str);
        return format!("panicked: {} {msg}", said[i].trim());
    }
    match status {
        None => format!("timed out after {} s", timeout.as_secs()),
        Some(st) if st.success() => "no RESULT line".into(),
        Some(st) => format!("exited with {st}"),
    }
}

/// Runs one child with `exe`: its `RESULT` fields, or why it failed (a
/// correctness check, a panic, a crash, the timeout).
fn run_child(
    exe: &Path,
    cfg: &ChildCfg,
    timeout: Duration,
) -> Result<BTreeMap<String, f64>, String> {
    let mut child = Command::new(exe)
        .args(cfg.args())
        .env_remove(HUGE_PAGES_VAR)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("RESULT").map(str::to_string))
    });
    // The child's stderr still goes to ours, line by line; its last lines
    // are kept to say why it failed, if it does.
    let stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut kept: Vec<String> = Vec::new();
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{l}");
            kept.push(l);
            if kept.len() > 64 {
                kept.remove(0);
            }
        }
        kept
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
    let said = errors.join().unwrap_or_default();
    let fail = |why: String| {
        // A check's or a panic's message has just been passed on above.
        if said
            .iter()
            .any(|l| !l.trim().is_empty() && why.contains(l.trim()))
        {
            eprintln!("  child failed: {:?}", cfg.args());
        } else {
            eprintln!("  child failed ({why}): {:?}", cfg.args());
        }
        Err(why)
    };
    let line = match line {
        Some(l) if status.is_some_and(|s| s.success()) => l,
        _ => return fail(failure_reason(status, timeout, &said)),
    };
    let mut fields = BTreeMap::new();
    for kv in line.split_whitespace() {
        let parsed = kv
            .split_once('=')
            .and_then(|(k, v)| Some((k, v.parse::<f64>().ok()?)));
        match parsed {
            Some((k, v)) => fields.insert(k.to_string(), v),
            None => return fail(format!("unreadable RESULT field {kv:?}")),
        };
    }
    Ok(fields)
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

pub fn driver_main(args: &[String]) {
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
        assist: false,
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
                // The setting: a 2-thread mixed load.
                "steady_latency" => vec![2],
                _ => o.threads.clone(),
            };
            let variants: &[(&str, bool)] = match *wl {
                "rapid_grow" => &[("thr", false), ("lat", false)],
                "memory" => &[("thr", false), ("thr", true)],
                // Workloads 1-3 always pre-size (`run_ops`).
                "steady_latency" => &[("lat", false)],
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
    // The source the binaries are built from: read now, before the run,
    // not when the report is written (edits made during a run would
    // otherwise be reported as measured).
    let source =
        crate::provenance::source_revision(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    let own = std::env::current_exe().expect("current_exe");
    let user = if !o.maps.iter().any(|m| is_lfmap(m)) {
        None
    } else if let Some(bin) = &o.user_bin {
        // Built elsewhere (`benches/device-scaling.sh`): used as given, and
        // a path that is not there is an error, not a silent fallback to
        // lfmap built beside its peers.
        assert!(bin.is_file(), "--user-bin {}: no such file", bin.display());
        Some(bin.clone())
    } else {
        build_user_binary()
    };
    if user.is_none() {
        eprintln!("peers: peers-user unavailable; lfmap's rows come from this binary");
    }
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
        let exe = match &user {
            Some(u) if is_lfmap(&job.map) => u.as_path(),
            _ => own.as_path(),
        };
        match run_child(exe, job, timeout) {
            Ok(fields) => {
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
            Err(why) => failed.push((job.clone(), why)),
        }
    }
    let env = RunEnv {
        load_start,
        load_end: loadavg(),
        foreign,
        minutes: started.elapsed().as_secs_f64() / 60.0,
        failed,
        user_build: user.is_some(),
        huge_pages_env: std::env::var(HUGE_PAGES_VAR).ok(),
        source,
    };
    std::fs::create_dir_all(&o.out).expect("create output directory");
    write_report(&o, &records, &env);
    eprintln!(
        "peers: done in {:.1} min; wrote {}",
        env.minutes,
        o.out.join("benchmarks.md").display()
    );
    if !env.failed.is_empty() {
        eprintln!(
            "peers: {} measurement(s) FAILED (listed at the top of the report):",
            env.failed.len()
        );
        for (job, why) in &env.failed {
            eprintln!(
                "  {} {} t={} {}: {why}",
                job.wl, job.key, job.threads, job.map
            );
        }
        // A map that lost or invented entries, or an lfmap child that
        // failed in any way, fails the run (CI's smoke run included): the
        // report is written first. A peer's timeout or crash only leaves
        // its cell out.
        let fatal = env.failed.iter().any(|(job, why)| {
            why.starts_with("CHECK FAILED") || job.map == "lfmap" || job.map == "wordmap"
        });
        if fatal {
            eprintln!("peers: a correctness check or an lfmap measurement failed");
            std::process::exit(1);
        }
    }
}

/// The conditions of a run, for the report: load, other busy processes,
/// duration, failed measurements.
pub struct RunEnv {
    /// Whether lfmap's rows were measured with `peers-user`.
    pub user_build: bool,
    pub load_start: String,
    pub load_end: String,
    pub foreign: Vec<String>,
    pub minutes: f64,
    /// Each failed child and why (a correctness check's message, a panic,
    /// a timeout).
    pub failed: Vec<(ChildCfg, String)>,
    /// `LFMAP_HUGE_PAGES` as the driver found it, removed from every
    /// child's environment ([`HUGE_PAGES_VAR`]).
    pub huge_pages_env: Option<String>,
    /// The lfmap source revision when the run started
    /// (`provenance::source_revision`).
    pub source: String,
}
