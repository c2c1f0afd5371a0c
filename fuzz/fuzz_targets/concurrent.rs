//! `concurrent`: two or three threads run input scripts on one shared map.
//! Each thread's own keys are checked exactly against its private model;
//! shared keys, written by every thread, are checked for plausibility (the
//! value was written by some script for that key, a thread never sees its
//! own overwritten writes again, per-writer reads never go backwards). At
//! the end, own keys are checked exactly and shared keys for plausibility
//! again; then the map is dropped: every key and value constructed must
//! have been dropped exactly once. The interleaving is the OS scheduler's:
//! replay a crash many times (`-runs=1000`).
#![no_main]

use lfmap_fuzz::concurrent::{run, CInput};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: CInput| {
    run(&input);
});
