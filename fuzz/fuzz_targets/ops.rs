//! `ops`: operation sequences on a small map with small key spaces, checked
//! step by step against `std::collections::HashMap` (every return value, the
//! length, the full contents via `iter`), with `u16`, `String` and
//! drop-counted keys under a full hash with fixed keys (so that a crash
//! repeats: `hashing::Fixed`).
#![no_main]

use arbitrary::Arbitrary;
use lfmap_fuzz::ledger::TKey;
use lfmap_fuzz::model::{run, Scenario};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum KeyKind {
    U16,
    Str,
    Tracked,
}

#[derive(Arbitrary, Debug)]
struct Input {
    kind: KeyKind,
    scenario: Scenario,
}

fuzz_target!(|input: Input| {
    let Input { kind, scenario: sc } = input;
    let setup = sc.setup();
    let steps = sc.ops.into_iter().map(|op| (op, None));
    let h = lfmap_fuzz::hashing::Fixed::default();
    match kind {
        KeyKind::U16 => run::<u16, _>(h, setup, steps),
        KeyKind::Str => run::<String, _>(h, setup, steps),
        KeyKind::Tracked => run::<TKey, _>(h, setup, steps),
    };
});
