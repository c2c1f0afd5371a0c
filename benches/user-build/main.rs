//! `peers-user`: the child half of `benches/peers` (one measurement per
//! process, `--child wl=... map=...`), built with lfmap as its only
//! dependency. The peers driver runs lfmap's and WordMap's measurements
//! with this binary, so that they are taken on lfmap as users build it.

// The driver's half of the shared modules is not used here.
#![allow(dead_code)]

#[path = "../common/mod.rs"]
mod common;

#[path = "../peers/alloc.rs"]
mod alloc;
#[path = "../peers/child.rs"]
mod child;
#[path = "../peers/cpu.rs"]
mod cpu;
#[path = "../peers/hist.rs"]
mod hist;
#[path = "../peers/workloads.rs"]
mod workloads;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--child") => {
            // `LFMAP_HUGE_PAGES=1` measures lfmap with its tables on huge
            // pages (`lfmap::set_huge_pages`, off by default); for children
            // run by hand: docs/benchmarks.md, "Huge pages". The peers
            // driver removes the variable from its children's environment,
            // so that the report's figures are taken with lfmap's default
            // (its machine table says so).
            if std::env::var_os("LFMAP_HUGE_PAGES").is_some_and(|v| v == "1") {
                lfmap::set_huge_pages(true);
            }
            child::child_main(&args[1..])
        }
        _ => {
            eprintln!("usage: peers-user --child wl=... map=lfmap|wordmap ... (run by `cargo bench --bench peers`)");
            std::process::exit(2);
        }
    }
}
