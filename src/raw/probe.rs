//! Where a key lives: split-ordered home slots and the probe sequence.
//!
//! The home slot of a hash in a table of `2^b` slots is the top `b` bits of
//! the (mixed) hash. Doubling the table appends one bit, so the keys whose
//! homes were old slots `[a, b)` have homes `[2a, 2b)` in the new table, in
//! the same order: migrating front to back writes the new table front to
//! back too. Shrinking by `2^k` maps `[a, b)` to `[a >> k, b >> k)`.
//!
//! The probe sequence is linear (home, home+1, ... wrapping), at most one
//! full lap. Linear probing keeps a probe inside one or two cache lines of
//! the dense tag array, and keeps entries close to split order.

/// Spreads a user hash so its *high* bits depend on all of its bits: a
/// multiplicative (Fibonacci) step, a bijection. Users may bring hashers
/// whose high bits are weak (identity hashes of small integers); without
/// this every such key would home to slot 0.
#[inline]
pub(crate) fn spread(hash: u64) -> u64 {
    hash.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The slots a probe for one hash visits, in order.
pub(crate) struct Probe {
    pos: usize,
    mask: usize,
    left: usize,
}

impl Probe {
    /// Starts a probe for `hash` in a table whose home index is
    /// `spread(hash) >> shift` and whose slot count is `mask + 1`.
    #[inline]
    pub(crate) fn new(hash: u64, shift: u32, mask: usize) -> Probe {
        let home = (spread(hash) >> shift) as usize;
        Probe {
            pos: home,
            mask,
            left: mask + 1,
        }
    }
}

impl Iterator for Probe {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let i = self.pos;
        self.pos = (self.pos + 1) & self.mask;
        Some(i)
    }
}

/// The home slot of `hash` in a table of `1 << bits` slots.
#[cfg(test)]
pub(crate) fn home(hash: u64, bits: u32) -> usize {
    (spread(hash) >> (64 - bits)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_order_doubling_maps_ranges_in_order() {
        for h in (0..10_000u64).map(|x| x.wrapping_mul(0x1234_5678_9abc_def1)) {
            for bits in 3..20 {
                let old = home(h, bits);
                let new = home(h, bits + 1);
                assert!(
                    new == 2 * old || new == 2 * old + 1,
                    "hash {h:#x} bits {bits}"
                );
            }
        }
    }

    #[test]
    fn probe_visits_every_slot_once() {
        let mut seen: Vec<usize> = Probe::new(12345, 64 - 4, 15).collect();
        assert_eq!(seen.len(), 16);
        seen.sort_unstable();
        assert_eq!(seen, (0..16).collect::<Vec<_>>());
    }
}
