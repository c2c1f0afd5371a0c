//! Where a key lives: a table's placement (home slots) and the probe
//! sequence. Both maps place keys with this one policy.
//!
//! A table of `n` slots places a key with hash `h` at home slot
//! `⌊x · n / 2^64⌋`, where `x = (h ^ s) * G mod 2^64` is the product of the
//! salted hash with the golden-ratio constant `G` (Fibonacci hashing) and
//! the table's *salt* `s` picks one of 2^64 bijections of the hash. The
//! home is `x`'s position as a fraction of 2^64, scaled to the table: for
//! `n = 2^b` it is `x`'s top `b` bits, and `n` need not be a power of two
//! (`policy.rs` sizes tables to what they must hold, not to the next power
//! of two). The product's high bits depend on every bit of the hash, so
//! hashers whose high bits are weak (identity hashes of small integers)
//! still spread, and evenly spaced hashes land as evenly as any multiplier
//! can place them (`G` has the continued fraction [0; 1, 1, 1, ...]: by the
//! three-distance theorem its multiples leave gaps of at most three
//! lengths, within a factor of about 1.6 of each other). A random
//! *multiplier* instead would make some maps place sequential ids in a few
//! crowded runs (measured: one map in a few hundred, mean probe 1,484 for
//! 3,000 keys).
//!
//! # Which salt a table gets
//!
//! * **A map's first table** draws a random salt (0 under loom and in
//!   fuzzing builds, whose runs must repeat). Two maps therefore order the same keys
//!   differently, even with the same hasher, and filling one map in another's
//!   iteration order cannot pile keys into a few homes (the quadratic
//!   insertion std's map once had with a shared hasher seed).
//! * **A growth keeps the salt** (split order). The home is monotone in `x`,
//!   so the keys of old slots `[a, b)` of `n` go to homes
//!   `[⌊a·m/n⌋, ⌈b·m/n⌉)` of `m > n`, in order ([`Placement::split_range`];
//!   for a doubling exactly `[2a, 2b)`), and a migration chunk's copies
//!   fill one range of the new table (the maps prefetch those lines ahead
//!   of the copy). Growing spreads every region of the table over a larger one, so
//!   it cannot create a cluster.
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

use std::ops::Range;

/// 2^64 divided by the golden ratio, odd: the multiplier of every table
/// (and the seed of the salt mix).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// How one table places keys: its salt and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Placement {
    /// `(hash ^ salt) * GOLDEN` is a bijection of the hash.
    salt: u64,
    /// The table's slot count (any number from 2 up; `policy.rs` chooses).
    slots: usize,
}

impl Placement {
    /// The placement of a map's first table of `slots` slots: a random
    /// salt, drawn per map.
    pub(crate) fn first(slots: usize) -> Placement {
        Placement::new(slots, first_salt())
    }

    /// A placement of `slots` slots (at least 2) with `salt`.
    pub(crate) fn new(slots: usize, salt: u64) -> Placement {
        debug_assert!(slots >= 2);
        Placement { salt, slots }
    }

    /// The placement of the table a resize of this one migrates into:
    /// `slots` slots, generation `generation`. The one policy both maps use
    /// (module docs): a growth keeps the salt, anything else draws a fresh
    /// one.
    pub(crate) fn successor(&self, slots: usize, generation: u64) -> Placement {
        // Mutation for checking the clustering tests (docs/verification.md):
        // every resize keeps the salt, as before issue #12.
        let grows = mutation!("keep_placement") || slots > self.slots();
        let salt = if grows {
            self.salt
        } else {
            rehash_salt(self.salt, generation)
        };
        Placement::new(slots, salt)
    }

    /// Whether this placement (of a newer table) split-orders `older`'s:
    /// the same salt and at least as many slots, so old slot range `[a, b)`
    /// copies to homes `[a, b)` scaled by the size ratio
    /// ([`split_range`](Self::split_range)).
    pub(crate) fn splits(&self, older: &Placement) -> bool {
        self.salt == older.salt && self.slots >= older.slots
    }

    /// The homes, in this placement, of the keys whose homes in `older`
    /// are `range`, if this placement split-orders `older`'s (else `None`):
    /// `[⌊a·m/n⌋, ⌈b·m/n⌉)` for `n` old and `m` new slots. Where a
    /// migration of `range` will write (plus the probe overflow past its
    /// end), for the maps to prefetch.
    #[inline]
    pub(crate) fn split_range(
        &self,
        older: &Placement,
        range: Range<usize>,
    ) -> Option<Range<usize>> {
        if !self.splits(older) {
            return None;
        }
        let (m, n) = (self.slots as u128, older.slots as u128);
        let start = range.start as u128 * m / n;
        let end = (range.end as u128 * m).div_ceil(n);
        // Both at most `m`: `range` lies within `older`'s slots.
        Some(start as usize..end as usize)
    }

    /// Number of slots.
    #[inline]
    pub(crate) fn slots(&self) -> usize {
        self.slots
    }

    /// The home slot of `hash`: `⌊x · slots / 2^64⌋` for the salted product
    /// `x` (module docs), one widening multiplication.
    #[inline]
    pub(crate) fn home(&self, hash: u64) -> usize {
        let x = (hash ^ self.salt).wrapping_mul(GOLDEN);
        // Below `slots`: `x < 2^64`.
        ((x as u128 * self.slots as u128) >> 64) as usize
    }

    /// The slots a probe for `hash` visits, in order.
    #[inline]
    pub(crate) fn probe(&self, hash: u64) -> Probe {
        Probe {
            pos: self.home(hash),
            slots: self.slots,
            left: self.slots,
        }
    }

    /// How many slots a probe for `hash` reads to reach slot `i` (1 at home).
    #[inline]
    pub(crate) fn probe_length(&self, hash: u64, i: usize) -> usize {
        let home = self.home(hash);
        // The probe wraps from the last slot to slot 0.
        let distance = if i >= home {
            i - home
        } else {
            i + self.slots - home
        };
        distance + 1
    }
}

/// A random salt for a new map (0 under loom, and in fuzzing builds, whose
/// runs must repeat: cargo-fuzz builds with `--cfg fuzzing`).
fn first_salt() -> u64 {
    #[cfg(any(loom, fuzzing))]
    {
        0
    }
    #[cfg(not(any(loom, fuzzing)))]
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
    slots: usize,
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
        self.pos += 1;
        if self.pos == self.slots {
            self.pos = 0;
        }
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

    /// Any growth with the salt kept (tables need not be powers of two):
    /// every key of old home `o` lands in `split_range(o..o + 1)`, and the
    /// ranges of consecutive old slots overlap in at most one slot, in
    /// order.
    #[test]
    fn split_order_holds_for_any_growth() {
        let first = Placement::first(16);
        for (n, m) in [
            (16, 32),
            (48, 96),
            (24, 40),
            (1000, 1504),
            (4096, 12_288),
            (16, 16),
        ] {
            let old = Placement::new(n, first.salt);
            let new = Placement::new(m, first.salt);
            assert!(new.splits(&old));
            for h in hashes() {
                let (o, home) = (old.home(h), new.home(h));
                let range = new.split_range(&old, o..o + 1).unwrap();
                assert!(
                    range.contains(&home),
                    "{n} -> {m}: {o} -> {home} not in {range:?}"
                );
            }
            for o in 0..n - 1 {
                let (a, b) = (
                    new.split_range(&old, o..o + 1).unwrap(),
                    new.split_range(&old, o + 1..o + 2).unwrap(),
                );
                assert!(a.start <= b.start && b.start + 1 >= a.end && a.end <= m);
            }
            assert_eq!(new.split_range(&old, 0..n), Some(0..m));
        }
        let other = Placement::new(64, first.salt ^ 1);
        assert_eq!(other.split_range(&first, 0..4), None);
    }

    /// Homes cover a table of any size evenly: 256 spread hashes per slot
    /// into 24, 40 and 1,000 slots (fixed salts) leave no slot with less
    /// than half or more than twice its share (about 8 standard deviations
    /// of a uniform placement's).
    #[test]
    fn homes_spread_over_any_size() {
        for slots in [24usize, 40, 1000] {
            for salt in [0, 0x2545_F491_4F6C_DD1D] {
                let p = Placement::new(slots, salt);
                let share = 256;
                let mut count = vec![0usize; slots];
                for x in 0..(slots * share) as u64 {
                    count[p.home(mix(x))] += 1;
                }
                let (min, max) = (count.iter().min().unwrap(), count.iter().max().unwrap());
                assert!(
                    *min > share / 2 && *max < share * 2,
                    "{slots}: {min}..{max}"
                );
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
        for slots in [16, 24, 1000] {
            let p = Placement::new(slots, 0);
            for h in [12345, u64::MAX, 0x8000_0000_0000_0000] {
                let mut seen: Vec<usize> = p.probe(h).collect();
                assert_eq!(seen.len(), slots);
                assert_eq!(seen[0], p.home(h));
                for (k, &i) in seen.iter().enumerate() {
                    assert_eq!(p.probe_length(h, i), k + 1);
                }
                seen.sort_unstable();
                assert_eq!(seen, (0..slots).collect::<Vec<_>>());
            }
        }
    }
}
