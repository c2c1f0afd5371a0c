//! Shared harness code for lfmap's fuzz targets (`fuzz_targets/`).
//!
//! * [`model`]: the single-threaded model check (`ops`, `collisions`,
//!   `panics`);
//! * [`concurrent`]: the multi-threaded check (`concurrent`);
//! * [`hashing`]: hashers whose output the input chooses;
//! * [`ledger`]: drop-counted keys and values;
//! * [`trip`]: planned panics in `Hash`, `Eq`, `Clone` and closures.
//!
//! See `docs/verification.md` for what each target checks.

pub mod concurrent;
pub mod hashing;
pub mod keys;
pub mod ledger;
pub mod model;
pub mod trip;
