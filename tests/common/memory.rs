//! The process's resident memory, for the tests that bound it, and the
//! calling thread's page faults, for the tests that count them (Linux).

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

/// Minor page faults of the calling thread so far.
#[cfg(target_os = "linux")]
pub fn minor_faults() -> u64 {
    let stat =
        std::fs::read_to_string("/proc/thread-self/stat").expect("read /proc/thread-self/stat");
    // Fields after the command name (which may hold spaces, so split after
    // its closing parenthesis): state is field 3, minflt field 10.
    let rest = &stat[stat.rfind(')').expect("a stat line") + 2..];
    rest.split(' ')
        .nth(7)
        .expect("minflt")
        .parse()
        .expect("a count")
}

/// Why this kernel cannot show the difference, if it cannot: without
/// `MADV_POPULATE_WRITE` (Linux 5.14) lfmap cannot fault a table in ahead,
/// and with transparent huge pages always on, a table faults in 2 MiB at a
/// time with or without preparation.
#[cfg(target_os = "linux")]
fn cannot_tell() -> Option<&'static str> {
    let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled");
    if thp.is_ok_and(|s| s.contains("[always]")) {
        return Some("transparent huge pages are always on");
    }
    // SAFETY: a fresh private anonymous page, unmapped below; madvise only
    // faults it in.
    unsafe {
        let page = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(page, libc::MAP_FAILED);
        let populated = libc::madvise(page, 4096, 23 /* MADV_POPULATE_WRITE */) == 0;
        libc::munmap(page, 4096);
        (!populated).then_some("the kernel has no MADV_POPULATE_WRITE")
    }
}

#[cfg(target_os = "linux")]
/// Whether this kernel cannot show the difference ([`cannot_tell`]); says
/// why if so.
pub fn skipped() -> bool {
    let why = cannot_tell();
    if let Some(why) = why {
        eprintln!("skipped: {why}");
    }
    why.is_some()
}
