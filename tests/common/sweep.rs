//! "Remove what you iterate" (issue #12): the orders a sweep removes keys
//! in, shared by the model tests.

use super::rng::shuffle;

/// The order a "remove what you iterate" sweep removes keys in.
#[derive(Clone, Copy, Debug)]
pub enum SweepOrder {
    /// The order `iter` yielded them in (slot order: ascending home).
    Iteration,
    /// Removing each key as `iter` yields it, inside the loop.
    DuringIteration,
    /// Ascending hash.
    Hash,
    /// A shuffle seeded by the value.
    Random(u64),
}

impl SweepOrder {
    /// One of the four orders, picked and seeded by `seed`.
    pub fn from_seed(seed: u64) -> SweepOrder {
        match seed % 4 {
            0 => SweepOrder::Iteration,
            1 => SweepOrder::DuringIteration,
            2 => SweepOrder::Hash,
            _ => SweepOrder::Random(seed),
        }
    }
}

/// The keys a sweep removes, in its order: the first `len - len * keep /
/// 10` of `keys` (given in iteration order) after arranging them by
/// `order`. `None` for [`SweepOrder::DuringIteration`], which the caller
/// runs inside its own iteration, removing that many keys.
pub fn sweep_prefix<K>(
    mut keys: Vec<K>,
    order: SweepOrder,
    keep: u8,
    hash: impl Fn(&K) -> u64,
) -> (usize, Option<Vec<K>>) {
    let remove = keys.len() - keys.len() * usize::from(keep) / 10;
    match order {
        SweepOrder::DuringIteration => return (remove, None),
        SweepOrder::Iteration => {}
        SweepOrder::Hash => keys.sort_by_key(|k| hash(k)),
        SweepOrder::Random(seed) => shuffle(&mut keys, seed),
    }
    keys.truncate(remove);
    (remove, Some(keys))
}
