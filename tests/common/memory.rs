//! The process's resident memory, for the tests that bound it.

/// Resident set size of this process, in KiB (`VmRSS` of
/// /proc/self/status, the same number as /proc/self/statm's second field
/// without assuming a page size). Linux only.
pub fn vm_rss_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}
