//! `collisions`: the `ops` model check under a hasher whose output the input
//! chooses (all keys on one hash, a few distinct hashes, hashes equal in the
//! high bits or in the low 7 bits, or a table of input-chosen hashes), so
//! that probing, keyed tombstones and split-ordered migration are hammered.
#![no_main]

use arbitrary::Arbitrary;
use lfmap_fuzz::hashing::{Shape, ShapedHash};
use lfmap_fuzz::ledger::TKey;
use lfmap_fuzz::model::{run, Scenario};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    tracked_keys: bool,
    shape: Shape,
    scenario: Scenario,
}

fuzz_target!(|input: Input| {
    let Input {
        tracked_keys,
        shape,
        scenario: sc,
    } = input;
    let setup = sc.setup();
    let steps = sc.ops.into_iter().map(|op| (op, None));
    let h = ShapedHash::new(shape);
    if tracked_keys {
        run::<TKey, _>(h, setup, steps);
    } else {
        run::<u16, _>(h, setup, steps);
    }
});
