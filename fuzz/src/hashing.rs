//! Hashers whose output the fuzz input chooses.
//!
//! [`Shape`] says how a key's hash is made from its *index* (what the key
//! writes into the hasher: its `u16` id, or the bytes of a string key folded
//! into a `u64`). The shapes cover the cases the map must survive: every key
//! on one hash; a handful of distinct hashes; hashes that differ only in
//! their high bits (identical 7-bit tags), or that share one home with
//! distinct tags; and a table of hash values chosen byte for byte by the
//! input. Fuzzing builds of the map place keys with a fixed salt (`cfg
//! (fuzzing)`, `src/resize/probe.rs`), so a shape's homes, and any crash,
//! repeat from run to run.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use arbitrary::Arbitrary;

#[derive(Arbitrary, Clone, Debug)]
pub enum Shape {
    /// One hash for every key.
    Const(u64),
    /// `n + 1` distinct, well-mixed hashes.
    Few { n: u8, seed: u64 },
    /// `base ^ ((index % (n + 1)) << 57)`: homes differ, low 7 bits (tags)
    /// identical.
    HighOnly { n: u8, base: u64 },
    /// Hashes whose *home* is the same in every table and whose tags (low
    /// 7 bits) differ: `x * G⁻¹` for `x = (base & !0x7f) | ((index % (n +
    /// 1)) & 0x7f)`. The map's home is the top bits of `(hash ^ salt) * G`
    /// (`src/resize/probe.rs`, `G` the golden-ratio constant), and the salt
    /// is 0 in fuzzing builds, so the product is `x`: its high bits are
    /// `base`'s for every key, and the tags, the low 7 bits of `x * G⁻¹`,
    /// are distinct for distinct `x` (`G⁻¹` is odd). Should the placement
    /// change, these are still valid hashes, only no longer aimed.
    LowOnly { n: u8, base: u64 },
    /// `(index % (n + 1)) << shift`: small hashes shifted anywhere.
    Shifted { n: u8, shift: u8 },
    /// `table[index % len]`: every hash chosen by the input (0 if empty).
    Table(Vec<u64>),
    /// A decent hash of the index (no collisions beyond chance).
    Mixed(u64),
}

/// A full hash with fixed keys (std's SipHash, keys 0), for targets that
/// want no collisions beyond chance: the map's default hasher draws random
/// keys per map, and a crash found with it would not repeat.
pub type Fixed = std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>;

/// A `BuildHasher` for a [`Shape`]; cheap to clone.
#[derive(Clone, Debug)]
pub struct ShapedHash(Arc<Shape>);

impl ShapedHash {
    pub fn new(mut shape: Shape) -> ShapedHash {
        if let Shape::Table(t) = &mut shape {
            t.truncate(64);
        }
        ShapedHash(Arc::new(shape))
    }
}

pub struct ShapedHasher {
    shape: Arc<Shape>,
    index: u64,
}

/// The inverse, mod 2^64, of the multiplier of the map's placement
/// (`0x9E37_79B9_7F4A_7C15`, `src/resize/probe.rs`).
const GOLDEN_INVERSE: u64 = 0xF1DE_83E1_9937_733D;
const _: () = assert!(GOLDEN_INVERSE.wrapping_mul(0x9E37_79B9_7F4A_7C15) == 1);

fn mix(mut h: u64) -> u64 {
    // splitmix64's finalizer.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

impl Hasher for ShapedHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.index = self.index.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u16(&mut self, i: u16) {
        self.index ^= u64::from(i);
    }
    fn finish(&self) -> u64 {
        let i = self.index;
        match &*self.shape {
            Shape::Const(c) => *c,
            Shape::Few { n, seed } => mix((i % (u64::from(*n) + 1)) ^ seed),
            Shape::HighOnly { n, base } => base ^ ((i % (u64::from(*n) + 1)) << 57),
            Shape::LowOnly { n, base } => {
                let x = (base & !0x7f) | ((i % (u64::from(*n) + 1)) & 0x7f);
                x.wrapping_mul(GOLDEN_INVERSE)
            }
            Shape::Shifted { n, shift } => (i % (u64::from(*n) + 1)) << (shift % 64),
            Shape::Table(t) if t.is_empty() => 0,
            Shape::Table(t) => t[(i % t.len() as u64) as usize],
            Shape::Mixed(seed) => mix(i ^ seed),
        }
    }
}

impl BuildHasher for ShapedHash {
    type Hasher = ShapedHasher;
    fn build_hasher(&self) -> ShapedHasher {
        ShapedHasher {
            shape: Arc::clone(&self.0),
            index: 0,
        }
    }
}
