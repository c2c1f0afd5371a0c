//! `panics`: the model check with drop-counted keys whose `Hash`, `Eq` and
//! `Clone`, and closures (`update`, `compute`, `retain`, `remove_if`,
//! `get_or_insert_with`), panic at input-chosen calls. Each planned panic is
//! caught; the map must then still equal the model (an operation that
//! panicked changed nothing; `retain`, `clear` and `extend` keep what they
//! did before it), and after the map drops (or is consumed by `into_iter`,
//! which may panic too) every key and value constructed must have been
//! dropped exactly once.
#![no_main]

use arbitrary::Arbitrary;
use lfmap_fuzz::hashing::{Shape, ShapedHash};
use lfmap_fuzz::ledger::TKey;
use lfmap_fuzz::model::{run, Arm, End, Op, Setup};
use lfmap_fuzz::trip::quiet_planned_panics;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    /// `None`: a full hash with fixed keys (`hashing::Fixed`); otherwise an
    /// input-chosen hasher (few distinct hashes make `Eq` run often: probes,
    /// copies in migrations).
    shape: Option<Shape>,
    key_space: u8,
    capacity: u8,
    long_pin: bool,
    end: End,
    end_arm: Option<Arm>,
    steps: Vec<(Op, Option<Arm>)>,
}

fuzz_target!(|input: Input| {
    quiet_planned_panics();
    let setup = Setup {
        key_space: input.key_space,
        capacity: input.capacity,
        long_pin: input.long_pin,
        end: input.end,
        end_arm: input.end_arm,
    };
    let steps = input.steps.into_iter();
    match input.shape {
        None => run::<TKey, _>(lfmap_fuzz::hashing::Fixed::default(), setup, steps),
        Some(shape) => run::<TKey, _>(ShapedHash::new(shape), setup, steps),
    };
});
