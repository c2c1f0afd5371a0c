//! The report: `benchmarks.md` (header, machine and method, targets, one
//! section per workload with its tables and charts, the hand-written notes
//! kept across runs) and `benchmarks-raw.csv`, written to the output
//! directory; also how maps, latencies and medians are shown in it.

use std::fmt::Write as _;
use std::path::Path;

use crate::charts::{latency_chart, throughput_chart};
use crate::common::{is_concurrent, takes_key, MAP_IDS};
use crate::driver::{Opts, RunEnv};
use crate::provenance::{cargo_lock_versions, command_output, utc_now};
use crate::stats::{any_starved, get, q, starved, stat, Query, Record, Stat, CPU_SHARE_MIN};
use crate::targets::targets;
use crate::workloads::WORKLOADS;

pub fn display_name(id: &str) -> &'static str {
    match id {
        "lfmap" => "lfmap",
        "wordmap" => "lfmap WordMap",
        "papaya" => "papaya",
        "dashmap" => "dashmap",
        "flurry" => "flurry",
        "scc" => "scc",
        "rwlock" => "RwLock<HashMap>",
        "mutex" => "Mutex<HashMap>",
        "hashbrown" => "hashbrown, 1 thread",
        _ => "?",
    }
}

pub fn fmt_ns(ns: f64) -> String {
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.1} ms", ns / 1e6)
    }
}

pub fn fmt_stat(s: Option<Stat>, digits: usize) -> String {
    match s {
        None => "—".into(),
        Some(s) if s.n == 1 => format!("{:.*}", digits, s.med),
        Some(s) => format!(
            "{:.*} ({:.*}–{:.*})",
            digits, s.med, digits, s.min, digits, s.max
        ),
    }
}

/// Marks a figure taken in a child run whose timed threads received less
/// than [`CPU_SHARE_MIN`] of their cores (listed under "Machine and
/// method").
const STARVED: &str = "†";

/// [`STARVED`] if any repetition of `qu` was starved, else nothing.
fn mark(records: &[Record], qu: &Query) -> &'static str {
    if any_starved(records, qu) {
        STARVED
    } else {
        ""
    }
}

/// Whether a map is lfmap's (`HashMap` or `WordMap`).
fn is_lfmap(id: &str) -> bool {
    matches!(id, "lfmap" | "wordmap")
}

const NOTES_START: &str =
    "<!-- notes:start (hand-written; kept when the report is regenerated) -->";
const NOTES_END: &str = "<!-- notes:end -->";

/// The hand-written notes of the report at `path`: what lies between the
/// markers, and anything written after the end marker too (the report
/// ends with the notes, so text appended to the file belongs to them; a
/// regeneration once dropped two notes left there).
fn kept_notes(path: &Path) -> String {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    match (old.find(NOTES_START), old.find(NOTES_END)) {
        (Some(a), Some(b)) if a < b => {
            let inside = old[a + NOTES_START.len()..b].trim();
            let after = old[b + NOTES_END.len()..].trim();
            if after.is_empty() {
                inside.to_string()
            } else {
                format!("{inside}\n\n{after}")
            }
        }
        _ => "No notes recorded yet.".into(),
    }
}

pub fn write_report(o: &Opts, records: &[Record], env: &RunEnv) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let md_path = o.out.join("benchmarks.md");
    let notes = kept_notes(&md_path);
    let versions = cargo_lock_versions(root);
    let has = |wl: &str| o.workloads.iter().any(|w| w == wl);
    let maps: Vec<&str> = MAP_IDS
        .iter()
        .copied()
        .filter(|m| o.maps.iter().any(|x| x == m))
        .collect();
    let mut md = String::new();
    let w = &mut md;

    // Header, machine, method.
    let starved_runs: Vec<&Record> = records.iter().filter(|r| starved(r)).collect();
    let loaded = env
        .load_start
        .split_whitespace()
        .next()
        .map_or(0.0, |l| l.parse::<f64>().unwrap_or(0.0))
        > 1.5
        || !env.foreign.is_empty()
        || !starved_runs.is_empty();
    let model = command_output("lscpu", &[])
        .lines()
        .find_map(|l| l.strip_prefix("Model name:").map(|m| m.trim().to_string()))
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let command = if o.quick {
        "cargo bench --bench peers -- --quick".to_string()
    } else {
        let extra: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| a.as_str() != "--bench")
            .collect();
        if extra.is_empty() {
            "cargo bench --bench peers".to_string()
        } else {
            format!("cargo bench --bench peers -- {}", extra.join(" "))
        }
    };
    let timer = {
        let mut v: Vec<f64> = records
            .iter()
            .filter_map(|r| r.fields.get("timer_ns").copied())
            .collect();
        stat(&mut v).map_or(0.0, |s| s.med)
    };
    let ver = |n: &str| versions.get(n).cloned().unwrap_or_else(|| "?".into());

    writeln!(w, "# lfmap benchmarks\n").unwrap();
    writeln!(
        w,
        "Generated by `{command}` on {} ({:.0} min). Everything outside the notes section \
         at the end is rewritten by that command.\n",
        utc_now(),
        env.minutes
    )
    .unwrap();
    if o.quick {
        writeln!(w, "> **Quick mode**: reduced sizes, one repetition; a smoke test, not figures to quote.\n").unwrap();
    }
    if !env.failed.is_empty() {
        writeln!(
            w,
            "> **{} measurement(s) failed** and are left out of the tables: a correctness check, \
             a crash or the timeout (listed with the reason under \"Machine and method\"). A \
             failed correctness check is a bug in that map or in this harness, not noise.\n",
            env.failed.len()
        )
        .unwrap();
    }
    if loaded {
        writeln!(
            w,
            "> **Taken on a loaded machine.** 1-minute load average at the start: {}; other \
             processes seen during the run: {}; child runs whose timed threads received less \
             than {:.0}% of their cores: {} of {} (marked {STARVED}, listed under \"Machine and \
             method\"). Expect lower throughput and longer tails than on a quiet machine, most \
             of all at 2 and 4 threads on this 2-core machine.\n",
            env.load_start,
            if env.foreign.is_empty() {
                "none".to_string()
            } else {
                format!("{} (e.g. `{}`)", env.foreign.len(), env.foreign[0])
            },
            CPU_SHARE_MIN * 100.0,
            starved_runs.len(),
            records.len()
        )
        .unwrap();
    }
    writeln!(w, "## Run it\n").unwrap();
    writeln!(
        w,
        "```sh\ncargo bench --bench peers              # everything below, then rewrites this file and docs/bench-*.svg\n\
         cargo bench --bench peers -- --quick   # smoke test, ~1 min, writes target/bench-quick/\n\
         cargo bench --bench micro              # criterion micro-benchmarks (single ops, 1 and 2 threads)\n```\n"
    )
    .unwrap();
    writeln!(
        w,
        "Options after `--`: `--reps N`, `--maps lfmap,dashmap`, `--workloads read_heavy,memory`, \
         `--threads 1,2`, `--no-strings`, `--out DIR`. Wait for a quiet machine first \
         (`uptime` below 1.5, no fuzzers or builds running).\n"
    )
    .unwrap();
    writeln!(w, "## Machine and method\n").unwrap();
    writeln!(w, "| | |\n|---|---|").unwrap();
    writeln!(w, "| CPU | {model}, {cores} cores (lscpu) |").unwrap();
    writeln!(
        w,
        "| memory, kernel | {mem_gib:.0} GiB, Linux {} |",
        kernel.trim()
    )
    .unwrap();
    writeln!(w, "| rustc | {} |", command_output("rustc", &["--version"])).unwrap();
    writeln!(w, "| lfmap source | {} |", env.source).unwrap();
    writeln!(
        w,
        "| crates | lfmap {} (default features: asymmetric-epoch reclamation), papaya {} (seize {}), dashmap {}, flurry {}, scc {}, hashbrown {}, foldhash {}, criterion {} |",
        env!("CARGO_PKG_VERSION"),
        ver("papaya"),
        ver("seize"),
        ver("dashmap"),
        ver("flurry"),
        ver("scc"),
        ver("hashbrown"),
        ver("foldhash"),
        ver("criterion")
    )
    .unwrap();
    writeln!(
        w,
        "| load | 1/5/15-min load average {} at the start, {} at the end (the end includes this run) |",
        env.load_start, env.load_end
    )
    .unwrap();
    writeln!(
        w,
        "| CPU received | each child's timed threads read their CPU time, run-queue wait and sleeps around the timed loop (`benches/peers/cpu.rs`); CPU share = CPU time / (timed window × min(threads, {cores} cores)); {} of {} runs below {:.0}% (marked {STARVED}; a run whose threads slept on a lock is marked only if they also waited for a CPU) |",
        starved_runs.len(),
        records.len(),
        CPU_SHARE_MIN * 100.0
    )
    .unwrap();
    writeln!(
        w,
        "| repetitions | {} per measurement, each in a fresh process, interleaved across maps; cells give the median (min–max) |",
        o.reps
    )
    .unwrap();
    writeln!(
        w,
        "| lfmap as users build it | {} |",
        if env.user_build {
            "lfmap and WordMap rows from `peers-user` (`benches/user-build/`: lfmap is its only dependency, so no peer's features reach lfmap's dependency tree); every other row from the `peers` binary, in the same run"
        } else {
            "**no**: `peers-user` could not be built, so lfmap's rows come from the `peers` binary, which also links the peers"
        }
    )
    .unwrap();
    writeln!(
        w,
        "| lfmap huge pages | off, lfmap's default (`lfmap::set_huge_pages`): the driver removes `LFMAP_HUGE_PAGES` from its children's environment{} |",
        match &env.huge_pages_env {
            Some(v) => format!(" (it was set to `{v}` in the driver's)"),
            None => String::new(),
        }
    )
    .unwrap();
    writeln!(
        w,
        "| timer | `Instant::now()` pair: {timer:.0} ns (median of 200k back-to-back pairs); every latency below includes it |\n"
    )
    .unwrap();
    writeln!(
        w,
        "* Every map hashes with `lfmap::DefaultHashBuilder` (foldhash's fast `RandomState`). \
         lfmap, papaya and flurry pin a guard per operation, as a service doing single operations \
         would; values are `u64`, copied out under the guard.\n\
         * Workloads 1–3: the key space ({} keys) is prefilled (see each workload) into a table \
         pre-sized for it, then {} operations in all are split over the threads; each thread \
         generates its operation sequence (splitmix64) before a barrier releases the clock. \
         Throughput = all operations / (last thread's end − first thread's start).\n\
         * `hashbrown, 1 thread` is a plain `hashbrown::HashMap` with no synchronisation: the \
         per-thread ceiling, measured at 1 thread only.\n\
         * 4 threads on a {cores}-core machine oversubscribe it: those figures show behaviour \
         under preemption, not scaling. A max latency of 8–15 ms is a descheduled thread; read \
         p99.99 beside max.\n\
         * Every child checks, after its timed part, what any correct map must show however \
         its threads interleaved, and fails (left out of the tables, listed below) if the map \
         does not: entries = prefilled + inserts that added − removes that removed, by \
         `len()` and by iteration (read-heavy, exchange, mixed, steady-state latency); every \
         get, insert and remove succeeds (read-heavy); every insert of a fresh key adds it, \
         `len()` and iteration count them all, and a sample of them reads back with its value \
         (rapid grow, read during growth, memory); the reader never misses a key already \
         inserted (read during growth); the counters sum to the adds (counters).\n",
        1u64 << o.keybits,
        o.ops
    )
    .unwrap();
    if !env.failed.is_empty() {
        writeln!(
            w,
            "**Failed or timed-out measurements** (left out of the tables):\n"
        )
        .unwrap();
        for (f, why) in &env.failed {
            writeln!(w, "* `{}`: {why}", f.args().join(" ")).unwrap();
        }
        writeln!(w).unwrap();
    }
    if !starved_runs.is_empty() {
        writeln!(
            w,
            "{STARVED} **Child runs whose timed threads received less than {:.0}% of their cores** \
             (kept in the tables; their cells are marked). *CPU* is the threads' CPU time over \
             the timed window times the cores they could use; *run-queue wait* the share of \
             their runnable time spent waiting for a CPU: high when other processes (or, at 4 \
             threads, the run's own threads) held the cores; low with a low CPU share when the \
             hypervisor took the time (steal, which the guest does not see) or the threads \
             slept; *sleeps* counts the times they went to sleep (a lock's waits, \
             `Mutex<HashMap>` and `RwLock<HashMap>` above all).\n",
            CPU_SHARE_MIN * 100.0
        )
        .unwrap();
        for r in &starved_runs {
            let c = &r.cfg;
            let field = |k: &str| {
                r.fields
                    .get(k)
                    .map_or("?".into(), |v| format!("{:.0}%", v * 100.0))
            };
            writeln!(
                w,
                "* {} {} {} t={} {}{}: CPU {}, run-queue wait {}, {} sleeps",
                c.wl,
                c.key,
                display_name(&c.map),
                c.threads,
                c.mode,
                if c.presized { " presized" } else { "" },
                field("cpu_share"),
                field("runq_share"),
                r.fields.get("sleeps").map_or(0, |&n| n as u64)
            )
            .unwrap();
        }
        writeln!(w).unwrap();
    }

    // Targets.
    targets(w, records, o);

    // Throughput workloads.
    let threads = &o.threads;
    let mut section = 1;
    for (wl, title) in WORKLOADS.iter().take(3) {
        if !has(wl) {
            continue;
        }
        writeln!(w, "## {section}. {title}\n").unwrap();
        section += 1;
        let detail = match *wl {
            "read_heavy" => format!(
                "All {} keys prefilled; gets pick prefilled keys uniformly (all hits); each \
                 thread's inserts add fresh keys from its own range and its removes take them \
                 back oldest first, so the map stays at ~{} keys.",
                1u64 << o.keybits,
                1u64 << o.keybits
            ),
            "exchange" => "Uniform keys over the key space, 75% prefilled; inserts replace or \
                           add, removes often miss, updates add 1 in place (atomically). \
                           papaya's `update` takes the key by value (its API has no borrowed \
                           form), so with `String` keys each of its updates allocates a copy of \
                           the key; the other maps' updates take `&str`."
                .into(),
            _ => "Uniform keys over the key space, half prefilled.".into(),
        };
        writeln!(w, "{detail}\n").unwrap();
        let keys: &[&str] = if o.strings {
            &["u64", "String"]
        } else {
            &["u64"]
        };
        for key in keys {
            if *key == "String" {
                writeln!(
                    w,
                    "Mops/s, `String` keys (24 bytes, `session-` and 16 hex digits, looked up as \
                     `&str` built in a stack buffer; inserts allocate the key; {} operations):\n",
                    o.ops / 4
                )
                .unwrap();
            } else {
                writeln!(w, "Mops/s, `u64` keys:\n").unwrap();
            }
            let maps: Vec<&str> = maps.iter().copied().filter(|m| takes_key(m, key)).collect();
            let svg = format!(
                "bench-{wl}{}.svg",
                if *key == "u64" { "" } else { "-string" }
            );
            let chart = Chart {
                title: &format!("{title} ({key} keys)"),
                svg: &svg,
                alt: &format!("{wl} {key}"),
            };
            throughput_block(w, records, o, wl, key, &maps, threads, chart);
        }
    }

    if has("rapid_grow") {
        writeln!(w, "## {section}. Rapid grow\n").unwrap();
        section += 1;
        writeln!(
            w,
            "An empty map, not pre-sized; each thread inserts its own range, {} keys in all. \
             Throughput from runs without per-operation clocks; latencies from separate runs \
             that time every insert.\n",
            o.grow
        )
        .unwrap();
        writeln!(w, "Throughput, Mops/s:\n").unwrap();
        let chart = Chart {
            title: "rapid grow: inserts into an empty map",
            svg: "bench-rapid_grow.svg",
            alt: "rapid grow",
        };
        throughput_block(w, records, o, "rapid_grow", "u64", &maps, threads, chart);
        for &t in threads {
            writeln!(w, "Per-insert latency, {t} thread(s) (median over repetitions; worst = the largest max of any repetition):\n").unwrap();
            latency_table(w, records, "rapid_grow", "lat", "", t, &maps);
        }
        let lat_threads = 2.min(*threads.iter().max().unwrap_or(&1));
        let chart = latency_chart(
            records,
            "rapid_grow",
            "lat",
            "",
            lat_threads,
            &maps,
            &format!("rapid grow: per-insert latency, {lat_threads} thread(s)"),
        );
        std::fs::write(o.out.join("bench-rapid_grow-latency.svg"), chart).expect("write svg");
        writeln!(w, "![rapid grow latency](bench-rapid_grow-latency.svg)\n").unwrap();
    }

    if has("read_growth") {
        writeln!(w, "## {section}. Read during growth\n").unwrap();
        section += 1;
        writeln!(
            w,
            "One thread inserts {} keys into an empty map while another thread gets uniformly \
             chosen keys the writer has already inserted (progress published every 64 inserts). \
             Every get must hit: the child checks it, and a run with a miss fails (listed \
             under \"Machine and method\").\n",
            o.grow
        )
        .unwrap();
        let conc: Vec<&str> = maps.iter().copied().filter(|m| is_concurrent(m)).collect();
        writeln!(w, "Reader get latency:\n").unwrap();
        latency_table(w, records, "read_growth", "thr", "r_", 1, &conc);
        writeln!(w, "Writer insert latency:\n").unwrap();
        latency_table(w, records, "read_growth", "thr", "w_", 1, &conc);
        writeln!(w, "Reader throughput during growth, Mops/s: {}\n", {
            conc.iter()
                .map(|m| {
                    let qu = q("read_growth", m, 1);
                    format!(
                        "{} {}{}",
                        display_name(m),
                        fmt_stat(get(records, &qu, "reader_mops"), 1),
                        mark(records, &qu)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap();
        let r = latency_chart(
            records,
            "read_growth",
            "thr",
            "r_",
            1,
            &conc,
            "read during growth: reader get latency",
        );
        let wr = latency_chart(
            records,
            "read_growth",
            "thr",
            "w_",
            1,
            &conc,
            "read during growth: writer insert latency",
        );
        std::fs::write(o.out.join("bench-read_growth-reader.svg"), r).expect("write svg");
        std::fs::write(o.out.join("bench-read_growth-writer.svg"), wr).expect("write svg");
        writeln!(w, "![reader latency](bench-read_growth-reader.svg)\n").unwrap();
        writeln!(w, "![writer latency](bench-read_growth-writer.svg)\n").unwrap();
    }

    if has("memory") {
        writeln!(w, "## {section}. Memory\n").unwrap();
        writeln!(
            w,
            "Bytes per entry after inserting {} `u64 -> u64` keys from one thread. *Heap* is the \
             bytes requested from the global allocator and still live (a counting global \
             allocator; retired memory not yet freed by a reclaimer counts); *peak heap* is the \
             most live at any moment (old and new tables during a resize); *RSS* is the growth \
             of the resident set, which includes the allocator's own overhead (glibc rounds a \
             24-byte entry up to a 32-byte chunk); *peak RSS* is the growth of its high-water \
             mark (`VmHWM`, reset to the RSS just before the inserts by writing `5` to \
             `/proc/self/clear_refs`), which shows the old and new tables of a resize for every \
             map alike. Compare maps by RSS and peak RSS.\n",
            o.grow
        )
        .unwrap();
        writeln!(w, "| map | heap, grown | peak heap, grown | RSS, grown | peak RSS, grown | heap, pre-sized | peak heap, pre-sized | RSS, pre-sized | peak RSS, pre-sized |").unwrap();
        writeln!(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|").unwrap();
        let mut hwm_missing = false;
        for m in &maps {
            let mut row = format!("| {} ", display_name(m));
            for presized in [false, true] {
                let qu = Query {
                    presized,
                    ..q("memory", m, 1)
                };
                let measured = get(records, &qu, "rss_per_entry").is_some();
                let star = mark(records, &qu);
                for f in [
                    "heap_per_entry",
                    "peak_heap_per_entry",
                    "rss_per_entry",
                    "peak_rss_per_entry",
                ] {
                    let cell = if !measured {
                        fmt_stat(None, 1)
                    } else if is_lfmap(m) && f.contains("heap") {
                        // lfmap's memory bypasses the counting allocator
                        // (note ¹): a 0.0 here would read as "no memory".
                        "n/a¹".to_string()
                    } else {
                        match get(records, &qu, f) {
                            Some(s) => format!("{}{star}", fmt_stat(Some(s), 1)),
                            // The kernel did not reset the high-water mark.
                            None if f == "peak_rss_per_entry" => {
                                hwm_missing = true;
                                "n/a²".to_string()
                            }
                            None => fmt_stat(None, 1),
                        }
                    };
                    write!(row, "| {cell} ").unwrap();
                }
            }
            writeln!(w, "{row}|").unwrap();
        }
        writeln!(w).unwrap();
        let grown = |m: &'static str| Query {
            presized: false,
            ..q("memory", m, 1)
        };
        if maps
            .iter()
            .any(|&m| get(records, &grown(m), "rss_octave_mean").is_some())
        {
            writeln!(
                w,
                "Grown from empty, the RSS per entry over one octave of sizes: the inserts go on \
                 from {} keys, and the RSS growth per entry is read at {} · 2^(k/8) keys, \
                 k = 0..7. A doubling table is half full after its growth and at its load \
                 limit before the next, and a map may also hold a successor prepared ahead or \
                 an old table still migrating: one size shows one phase of that cycle, the \
                 octave shows each once.\n",
                o.grow, o.grow
            )
            .unwrap();
            writeln!(
                w,
                "| map | RSS at {} keys | mean over the octave | largest in the octave |",
                o.grow
            )
            .unwrap();
            writeln!(w, "|---|---:|---:|---:|").unwrap();
            for &m in &maps {
                let qu = grown(m);
                let star = mark(records, &qu);
                let cell = |f: &str| match get(records, &qu, f) {
                    Some(s) => format!("{}{star}", fmt_stat(Some(s), 1)),
                    None => fmt_stat(None, 1),
                };
                writeln!(
                    w,
                    "| {} | {} | {} | {} |",
                    display_name(m),
                    cell("rss_per_entry"),
                    cell("rss_octave_mean"),
                    cell("rss_octave_max")
                )
                .unwrap();
            }
            writeln!(w).unwrap();
        }
        if maps.iter().any(|m| is_lfmap(m)) {
            writeln!(
                w,
                "¹ Not measured for lfmap: on Linux it maps its tables of 128 KiB and more \
                 (`src/resize/memory.rs`) and `HashMap`'s entry spans (`src/raw/slab.rs`, 1 MiB \
                 regions) from the kernel directly, past the global allocator, so the counting \
                 allocator sees almost none of its memory (it read 0.0) and none of its resize \
                 peak. Its RSS and peak RSS columns count all of it.\n"
            )
            .unwrap();
        }
        if hwm_missing {
            writeln!(
                w,
                "² The kernel did not reset the high-water mark (`/proc/self/clear_refs` \
                 refused or unsupported), so no peak RSS of the inserts alone.\n"
            )
            .unwrap();
        }
        section += 1;
    }

    if has("counter") {
        writeln!(w, "## {section}. Counters\n").unwrap();
        section += 1;
        writeln!(
            w,
            "From an empty map, {} operations in all, each adding 1 to a key with the map's own \
             atomic upsert (`WordMap::add`; lfmap `compute`; papaya `update_or_insert`; dashmap \
             and scc `entry().and_modify().or_insert()`; flurry `compute_if_present` then \
             `try_insert`; the locked maps `entry().or_insert()`): 90% to one of 1,000 hot keys, \
             10% to one of {} cold keys. Each run checks that the values sum to the number of \
             adds.\n\nMops/s:\n",
            o.ops,
            1u64 << o.keybits
        )
        .unwrap();
        let chart = Chart {
            title: "counter: add on hot and cold keys (u64)",
            svg: "bench-counter.svg",
            alt: "counter",
        };
        throughput_block(w, records, o, "counter", "u64", &maps, threads, chart);
    }

    if has("steady_latency") {
        writeln!(w, "## {section}. Steady-state latency\n").unwrap();
        writeln!(
            w,
            "2 threads, the mixed workload's operations (50% get / 25% insert / 25% remove on \
             {} keys, half of them present, the map pre-sized: no resize runs), {} operations \
             in all, every one timed. Percentiles per kind of operation, all threads together \
             (median over repetitions; worst = the largest max of any repetition).\n",
            1u64 << o.keybits,
            o.ops
        )
        .unwrap();
        let conc: Vec<&str> = maps.iter().copied().filter(|m| is_concurrent(m)).collect();
        for (prefix, what) in [("g_", "Get"), ("i_", "Insert"), ("d_", "Remove")] {
            writeln!(w, "{what} latency, 2 threads:\n").unwrap();
            latency_table(w, records, "steady_latency", "lat", prefix, 2, &conc);
        }
        let chart = latency_chart(
            records,
            "steady_latency",
            "lat",
            "i_",
            2,
            &conc,
            "steady state, 2 threads: insert latency",
        );
        std::fs::write(o.out.join("bench-steady-insert.svg"), chart).expect("write svg");
        writeln!(
            w,
            "![steady-state insert latency](bench-steady-insert.svg)\n"
        )
        .unwrap();
    }

    writeln!(w, "## Micro-benchmarks\n").unwrap();
    writeln!(
        w,
        "`cargo bench --bench micro` runs criterion benchmarks of single operations (get hit, \
         get miss, insert, remove, update, iterate) for every map at 1 and 2 threads; filter \
         with e.g. `cargo bench --bench micro -- get_hit`. Reports land in \
         `target/criterion/`. They are not summarised here.\n"
    )
    .unwrap();
    writeln!(w, "## Notes and profiles\n").unwrap();
    writeln!(w, "{NOTES_START}\n\n{notes}\n\n{NOTES_END}").unwrap();

    std::fs::write(&md_path, md).expect("write benchmarks.md");

    // Raw data, one line per measurement.
    let mut csv = String::from("workload,key,map,threads,mode,presized,field,value\n");
    for r in records {
        for (k, v) in &r.fields {
            writeln!(
                csv,
                "{},{},{},{},{},{},{k},{v}",
                r.cfg.wl, r.cfg.key, r.cfg.map, r.cfg.threads, r.cfg.mode, r.cfg.presized as u8
            )
            .unwrap();
        }
    }
    std::fs::write(o.out.join("benchmarks-raw.csv"), csv).expect("write csv");
}

/// Where a throughput chart goes and how it is named.
struct Chart<'a> {
    title: &'a str,
    /// File name under the output directory.
    svg: &'a str,
    /// The image's alt text in the report.
    alt: &'a str,
}

/// A workload's throughput table, its chart (written to `o.out`), and the
/// image link to it.
#[allow(clippy::too_many_arguments)]
fn throughput_block(
    w: &mut String,
    records: &[Record],
    o: &Opts,
    wl: &str,
    key: &str,
    maps: &[&str],
    threads: &[usize],
    chart: Chart<'_>,
) {
    throughput_table(w, records, wl, key, maps, threads);
    let svg = throughput_chart(records, wl, key, maps, threads, chart.title);
    std::fs::write(o.out.join(chart.svg), svg).expect("write svg");
    writeln!(w, "![{}]({})\n", chart.alt, chart.svg).unwrap();
}

fn throughput_table(
    w: &mut String,
    records: &[Record],
    wl: &str,
    key: &str,
    maps: &[&str],
    threads: &[usize],
) {
    write!(w, "| map |").unwrap();
    for t in threads {
        write!(w, " {t} thread{} |", if *t == 1 { "" } else { "s" }).unwrap();
    }
    writeln!(w).unwrap();
    writeln!(w, "|---|{}", "---:|".repeat(threads.len())).unwrap();
    for m in maps {
        write!(w, "| {} |", display_name(m)).unwrap();
        for &t in threads {
            let qu = Query { key, ..q(wl, m, t) };
            let cell = format!(
                "{}{}",
                fmt_stat(get(records, &qu, "mops"), 1),
                mark(records, &qu)
            );
            if *m == "lfmap" || *m == "wordmap" {
                write!(w, " **{cell}** |").unwrap();
            } else {
                write!(w, " {cell} |").unwrap();
            }
        }
        writeln!(w).unwrap();
    }
    writeln!(w).unwrap();
}

fn latency_table(
    w: &mut String,
    records: &[Record],
    wl: &str,
    mode: &str,
    prefix: &str,
    threads: usize,
    maps: &[&str],
) {
    writeln!(w, "| map | p50 | p99 | p99.9 | p99.99 | max | worst max |").unwrap();
    writeln!(w, "|---|---:|---:|---:|---:|---:|---:|").unwrap();
    for m in maps {
        let qu = Query {
            mode,
            ..q(wl, m, threads)
        };
        let mut row = format!("| {}{} ", display_name(m), mark(records, &qu));
        let mut any = false;
        for f in ["p50", "p99", "p99.9", "p99.99", "max"] {
            let s = get(records, &qu, &format!("{prefix}{f}"));
            any |= s.is_some();
            write!(row, "| {} ", s.map_or("—".into(), |s| fmt_ns(s.med))).unwrap();
        }
        let worst = get(records, &qu, &format!("{prefix}max"));
        write!(row, "| {} |", worst.map_or("—".into(), |s| fmt_ns(s.max))).unwrap();
        if any {
            writeln!(w, "{row}").unwrap();
        }
    }
    writeln!(w).unwrap();
}
