//! Where a key lives: a table's placement (home slots) and the probe
//! sequence. Both maps place keys with this one policy.
//!
//! A table of `2^b` slots places a key with hash `h` at home slot
//! `((h ^ s) * G) >> (64 - b)`: the top `b` bits of the product of the
//! salted hash with the golden-ratio constant `G` (Fibonacci hashing), where
//! the table's *salt* `s` picks one of 2^64 bijections of the hash. The
//! product's high bits depend on every bit of the hash, so hashers whose high
//! bits are weak (identity hashes of small integers) still spread, and
//! evenly spaced hashes land as evenly as any multiplier can place them (`G`
//! has the continued fraction [0; 1, 1, 1, ...]: by the three-distance
//! theorem its multiples leave gaps of at most three lengths, within a
//! factor of about 1.6 of each other). A random *multiplier* instead would
//! make some maps place sequential ids in a few crowded runs (measured: one
//! map in a few hundred, mean probe 1,484 for 3,000 keys).
//!
//! # Which salt a table gets
//!
//! * **A map's first table** draws a random salt (0 under loom, whose models
//!   must be deterministic). Two maps therefore order the same keys
//!   differently, even with the same hasher, and filling one map in another's
//!   iteration order cannot pile keys into a few homes (the quadratic
//!   insertion std's map once had with a shared hasher seed).
//! * **A doubling keeps the salt** (split order). Appending one bit to every
//!   home sends the keys of old slots `[a, b)` to homes `[2a, 2b)`, in order,
//!   so a migration's copies fill the new table front to back (and `WordMap`
//!   faults those pages in ahead of the copy). Growing halves the density of
//!   every region of the table, so it cannot create a cluster.
//! * **Every other resize draws a fresh salt**: a shrink, and a same-size
//!   rebuild. Their live keys are whatever removals left, and removals often
//!   follow the table's own order: `clear`, `retain` and any loop that
//!   removes what it iterates remove keys by ascending home, so the survivors
//!   hold the top homes. Under the old salt a shrink would squeeze them into
//!   the top fraction of a smaller table: one long cluster that every lookup
//!   walks (issue #12: O(len) per operation). Under a fresh salt `s'` the
//!   new home is `((h ^ s) ^ (s ^ s')) * G`: the xor with a random
//!   `s ^ s'` flips about half the bits of each survivor's salted hash, and
//!   through the carries of the product every flipped bit moves the top
//!   bits, so survivors chosen by their old top bits land independently of
//!   them (`tests/clustering.rs` measures it: the shape of a fresh table).
//!
//! The probe sequence is linear (home, home+1, ... wrapping), at most one
//! full lap. Linear probing keeps a probe inside one or two cache lines of
//! the slot array, and keeps entries close to home order.

/// 2^64 divided by the golden ratio, odd: the multiplier of every table
/// (and the seed of the salt mix).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// How one table places keys: its salt and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Placement {
    /// `(hash ^ salt) * GOLDEN` is a bijection of the hash.
    salt: u64,
    /// `64 - log2(slots)`: the home slot is `((hash ^ salt) * GOLDEN) >> shift`.
    shift: u32,
    /// `slots - 1`.
    mask: usize,
}

impl Placement {
    /// The placement of a map's first table of `slots` slots (a power of
    /// two): a random salt, drawn per map.
    pub(crate) fn first(slots: usize) -> Placement {
        Placement::new(slots, first_salt())
    }

    /// A placement of `slots` slots (a power of two, at least 2) with
    /// `salt`.
    pub(crate) fn new(slots: usize, salt: u64) -> Placement {
        debug_assert!(slots.is_power_of_two() && slots >= 2);
        Placement {
            salt,
            shift: 64 - slots.trailing_zeros(),
            mask: slots - 1,
        }
    }

    /// The placement of the table a resize of this one migrates into:
    /// `slots` slots, generation `generation`. The one policy both maps use
    /// (module docs): a growth keeps the salt, anything else draws a fresh
    /// one.
    pub(crate) fn successor(&self, slots: usize, generation: u64) -> Placement {
        // Mutation for checking the clustering tests (docs/verification.md):
        // every resize keeps the salt, as before issue #12.
        let grows = cfg!(lfmap_mutation = "keep_placement") || slots > self.slots();
        let salt = if grows {
            self.salt
        } else {
            rehash_salt(self.salt, generation)
        };
        Placement::new(slots, salt)
    }

    /// Whether this placement (of a newer table) split-orders `older`'s:
    /// the same salt and at least as many slots, so old slot range `[a, b)`
    /// copies to homes `[a, b)` scaled by the size ratio.
    pub(crate) fn splits(&self, older: &Placement) -> bool {
        self.salt == older.salt && self.mask >= older.mask
    }

    /// Number of slots.
    #[inline]
    pub(crate) fn slots(&self) -> usize {
        self.mask + 1
    }

    /// The home slot of `hash`.
    #[inline]
    pub(crate) fn home(&self, hash: u64) -> usize {
        ((hash ^ self.salt).wrapping_mul(GOLDEN) >> self.shift) as usize
    }

    /// The slots a probe for `hash` visits, in order.
    #[inline]
    pub(crate) fn probe(&self, hash: u64) -> Probe {
        Probe {
            pos: self.home(hash),
            mask: self.mask,
            left: self.mask + 1,
        }
    }

    /// How many slots a probe for `hash` reads to reach slot `i` (1 at home).
    #[inline]
    pub(crate) fn probe_length(&self, hash: u64, i: usize) -> usize {
        (i.wrapping_sub(self.home(hash)) & self.mask) + 1
    }
}

/// A random salt for a new map (0 under loom).
fn first_salt() -> u64 {
    #[cfg(loom)]
    {
        0
    }
    #[cfg(not(loom))]
    {
        use std::hash::BuildHasher;
        // `RandomState::new` draws per-thread random keys once and steps
        // them on every call, so each map hashes to a different value.
        std::collections::hash_map::RandomState::new().hash_one(GOLDEN)
    }
}

/// A fresh salt for a rehashing resize: a deterministic mix of the old one
/// and the new table's generation (so loom models stay deterministic), as
/// unrelated to the old one as a random draw for placement purposes.
fn rehash_salt(old: u64, generation: u64) -> u64 {
    mix(old ^ generation.wrapping_mul(GOLDEN))
}

/// splitmix64's finaliser: every output bit depends on every input bit.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The slots a probe for one hash visits, in order.
pub(crate) struct Probe {
    pos: usize,
    mask: usize,
    left: usize,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes() -> impl Iterator<Item = u64> {
        (0..10_000u64).map(|x| x.wrapping_mul(0x1234_5678_9abc_def1))
    }

    #[test]
    fn split_order_doubling_maps_ranges_in_order() {
        let first = Placement::first(8);
        for bits in 3..20 {
            let old = Placement::new(1 << bits, first.salt);
            let new = old.successor(1 << (bits + 1), 1);
            assert!(new.splits(&old));
            for h in hashes() {
                let (o, n) = (old.home(h), new.home(h));
                assert!(n == 2 * o || n == 2 * o + 1, "hash {h:#x} bits {bits}");
            }
        }
    }

    #[test]
    fn shrinks_and_rebuilds_rehash() {
        let old = Placement::first(1 << 12);
        for slots in [1 << 12, 1 << 10, 1 << 4] {
            let new = old.successor(slots, 7);
            assert!(!new.splits(&old));
            assert_ne!(new.salt, old.salt);
            assert_eq!(new.slots(), slots);
        }
    }

    /// The keys with the top eighth of homes under one placement (what a
    /// removal in iteration order leaves) spread over a shrunk table's
    /// whole range under its successor: no region gets much more than its
    /// share. Deterministic: fixed salts, several generations.
    #[test]
    fn survivors_of_home_order_spread_after_a_shrink() {
        let hashes: Vec<u64> = (0..1u64 << 16)
            .map(|x| mix(x.wrapping_mul(0x2545_F491_4F6C_DD1D)))
            .collect();
        for (salt, generation) in [(0, 1), (0x2545_F491_4F6C_DD1D, 5), (12345, 9)] {
            let old = Placement::new(1 << 16, salt);
            let survivors: Vec<u64> = hashes
                .iter()
                .copied()
                .filter(|&h| old.home(h) >= (7 << 16) / 8)
                .collect();
            let new = old.successor(1 << 12, generation);
            let mut regions = [0usize; 16];
            for &h in &survivors {
                regions[new.home(h) * 16 / new.slots()] += 1;
            }
            let share = survivors.len() / 16;
            for (r, &n) in regions.iter().enumerate() {
                assert!(n < share * 3 / 2, "region {r}: {n} of {}", survivors.len());
            }
        }
    }

    /// Sequential hashes (an identity hasher) under many salts: linear
    /// probing of `0..n` into a table of `2n` slots, or of `0..200` into
    /// 1024, leaves no key more than a few slots from home.
    #[test]
    fn sequential_hashes_spread_under_any_salt() {
        for seed in 0..300u64 {
            let salt = if seed == 0 { 0 } else { mix(seed) };
            for (keys, slots) in [(1u64 << 12, 1usize << 13), (200, 1024), (3000, 4096)] {
                let p = Placement::new(slots, salt);
                let mut taken = vec![false; slots];
                let mut longest = 0;
                for h in 0..keys {
                    let mut i = p.home(h);
                    let mut probe = 1;
                    while taken[i] {
                        i = (i + 1) & (slots - 1);
                        probe += 1;
                    }
                    taken[i] = true;
                    longest = longest.max(probe);
                }
                assert!(
                    longest <= 16,
                    "salt {salt:#x}, {keys} keys: probe {longest}"
                );
            }
        }
    }

    #[test]
    fn maps_draw_different_salts() {
        let a = Placement::first(16);
        let b = Placement::first(16);
        if cfg!(not(loom)) {
            assert_ne!(a.salt, b.salt);
        }
    }

    #[test]
    fn probe_visits_every_slot_once() {
        let p = Placement::new(16, 0);
        let mut seen: Vec<usize> = p.probe(12345).collect();
        assert_eq!(seen.len(), 16);
        assert_eq!(seen[0], p.home(12345));
        assert_eq!(p.probe_length(12345, seen[3]), 4);
        seen.sort_unstable();
        assert_eq!(seen, (0..16).collect::<Vec<_>>());
    }
}
