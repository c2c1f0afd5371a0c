//! Shared harness code for lfmap's fuzz targets (`fuzz_targets/`).
//!
//! * [`model`]: the single-threaded model check (`ops`, `collisions`,
//!   `panics`);
//! * [`sets`]: the `HashSet`/`WordSet` model check (`sets`);
//! * [`concurrent`]: the multi-threaded check (`concurrent`);
//! * [`capacity`]: what `reserve`, `try_reserve` and `shrink_to_fit` must
//!   do (`ops`, `collisions`, `panics`, `word`, `sets`);
//! * [`hashing`]: hashers whose output the input chooses;
//! * [`ledger`]: drop-counted keys and values;
//! * [`trip`]: planned panics in `Hash`, `Eq`, `Clone` and closures.
//!
//! See `docs/verification.md` for what each target checks.

pub mod capacity;
pub mod concurrent;
pub mod hashing;
pub mod keys;
pub mod ledger;
pub mod model;
pub mod sets;
pub mod trip;
