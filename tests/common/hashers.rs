//! Hashers of every shape, one type for all: [`ShapedHash`] hashes a key to
//! a well-mixed 64-bit digest and then gives it the [`Shape`] a test asks
//! for. A constant or `% n` hash makes the maps slow, never wrong; the
//! identity hash is the input the placement is most sensitive to.

use std::hash::{BuildHasher, Hasher};

/// What a [`ShapedHash`] makes of a key's digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// The digest itself: a decent hash.
    Full,
    /// The key itself, unmixed (keys hashed as one `u64` only): sequential
    /// keys get evenly spaced hashes, the input multiply-shift placement
    /// is most sensitive to (`raw/probe.rs`, `well_spread`).
    Identity,
    /// One hash for every key.
    Const,
    /// `digest % n`: only `n` distinct hashes, all small values (`n == 1`
    /// is a constant hash).
    Mod(u64),
    /// `(digest % n) * φ`: `n` distinct hashes spread over the whole range
    /// (distinct homes and tags), so keys pile up on `n` probe sequences.
    Spread(u64),
    /// `(digest % n) << 57`: distinct homes, identical 7-bit tags.
    HighOnly(u64),
    /// `(digest % n) * 128`: identical tags (low 7 bits zero).
    TagClash(u64),
}

impl Shape {
    /// Whether any set of keys gets well-spread hashes, so that bounds on
    /// probe lengths apply (a constant or `% n` hash clusters by design,
    /// correctly; the identity spreads only evenly spaced keys).
    pub fn spreads(self) -> bool {
        self == Shape::Full
    }
}

/// Builds [`ShapedHasher`]s of one [`Shape`]. The default is
/// [`Shape::Full`].
#[derive(Clone, Copy, Debug)]
pub struct ShapedHash(pub Shape);

impl Default for ShapedHash {
    fn default() -> ShapedHash {
        ShapedHash(Shape::Full)
    }
}

impl BuildHasher for ShapedHash {
    type Hasher = ShapedHasher;
    fn build_hasher(&self) -> ShapedHasher {
        ShapedHasher {
            shape: self.0,
            fnv: 0xcbf2_9ce4_8422_2325,
            word: None,
        }
    }
}

/// FNV-1a over the bytes written, a final avalanche, then the shape.
pub struct ShapedHasher {
    shape: Shape,
    fnv: u64,
    /// The `u64` written, for [`Shape::Identity`].
    word: Option<u64>,
}

impl Hasher for ShapedHasher {
    fn write(&mut self, bytes: &[u8]) {
        assert!(
            self.shape != Shape::Identity,
            "Shape::Identity hashes u64 keys only"
        );
        for &b in bytes {
            self.fnv ^= u64::from(b);
            self.fnv = self.fnv.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        if self.shape == Shape::Identity {
            self.word = Some(n);
        } else {
            self.write(&n.to_le_bytes());
        }
    }

    fn finish(&self) -> u64 {
        // A final avalanche so `% n` sees all the bits.
        let mut h = self.fnv;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        match self.shape {
            Shape::Full => h,
            Shape::Identity => self.word.expect("Shape::Identity: no u64 written"),
            Shape::Const => 0x1234_5678,
            Shape::Mod(n) => h % n,
            Shape::Spread(n) => (h % n).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            Shape::HighOnly(n) => (h % n) << 57,
            Shape::TagClash(n) => (h % n) * 128,
        }
    }
}

/// A hasher whose result changes from call to call, as a `Hash` that is a
/// logic error's does: FNV-1a of the key's bytes, then `vary(digest,
/// call)`, where `call` counts every hash in the process.
#[derive(Clone, Copy)]
pub struct PerCall(pub fn(u64, u64) -> u64);

/// The hasher [`PerCall`] builds.
pub struct PerCallHasher(u64, fn(u64, u64) -> u64);

impl BuildHasher for PerCall {
    type Hasher = PerCallHasher;
    fn build_hasher(&self) -> PerCallHasher {
        PerCallHasher(0xcbf2_9ce4_8422_2325, self.0)
    }
}

impl Hasher for PerCallHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
        static CALLS: AtomicU64 = AtomicU64::new(0);
        (self.1)(self.0, CALLS.fetch_add(1, Relaxed))
    }
}
