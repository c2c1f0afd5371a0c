//! Where the report's figures come from: the crate versions in
//! `Cargo.lock`, the lfmap commit measured, the time of the run, and a
//! helper that runs a command for its output (lscpu, rustc, git).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

pub fn cargo_lock_versions(root: &Path) -> BTreeMap<String, String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut name = String::new();
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = n.trim_matches('"').to_string();
        } else if let Some(v) = line.strip_prefix("version = ") {
            let v = v.trim_matches('"').to_string();
            // Several versions of one crate: keep the newest (the benches'
            // direct dependency; older ones come in through a peer).
            let newer = out.get(&name).is_none_or(|old| {
                let parse =
                    |s: &str| -> Vec<u64> { s.split('.').filter_map(|p| p.parse().ok()).collect() };
                parse(&v) > parse(old)
            });
            if newer {
                out.insert(name.clone(), v);
            }
        }
    }
    out
}

pub fn command_output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// What decides the figures besides the commit: lfmap's code, the
/// harness that measures it, and the versions of every crate built.
const MEASURED_PATHS: &[&str] = &["src", "benches", "Cargo.toml", "Cargo.lock"];

/// The git commit the measured lfmap was built from, and which of
/// [`MEASURED_PATHS`] had uncommitted changes (untracked files included);
/// `LFMAP_BENCH_COMMIT` names it when the build is not in a git checkout
/// (e.g. a `git archive` snapshot).
pub fn source_revision(root: &Path) -> String {
    let dir = root.to_string_lossy();
    let head = command_output("git", &["-C", &dir, "rev-parse", "--short", "HEAD"]);
    if head.is_empty() {
        return std::env::var("LFMAP_BENCH_COMMIT")
            .map(|c| format!("commit {c}"))
            .unwrap_or_else(|_| "unknown (not a git checkout)".into());
    }
    let dirty: Vec<String> = MEASURED_PATHS
        .iter()
        .filter(|p| {
            !command_output("git", &["-C", &dir, "status", "--porcelain", "--", p]).is_empty()
        })
        .map(|p| {
            if root.join(p).is_dir() {
                format!("{p}/")
            } else {
                p.to_string()
            }
        })
        .collect();
    if dirty.is_empty() {
        format!("commit {head}")
    } else {
        format!(
            "commit {head} plus uncommitted changes in {}",
            dirty.join(", ")
        )
    }
}

/// `YYYY-MM-DD HH:MM UTC` from the system clock (civil-from-days).
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}
