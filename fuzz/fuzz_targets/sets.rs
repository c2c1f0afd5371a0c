//! `sets`: operation sequences on an `lfmap::HashSet` (`u16`, `String` or
//! tagged, drop-counted elements) or a `WordSet<u64>`, checked step by step
//! against `std::collections::HashSet`: every return value (`insert`,
//! `contains`, the stored element `get` and `take` return, `remove`), the
//! elements `retain` judges, `len`, the full contents, `reserve`,
//! `try_reserve` and `shrink_to_fit` (`lfmap_fuzz::sets`), under
//! `hashing::Fixed` or an input-shaped hasher.
#![no_main]

use lfmap_fuzz::sets::{run, SetInput};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: SetInput| {
    run(input);
});
