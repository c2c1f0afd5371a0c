//! [`WordSized`]: the key and value types a [`WordMap`](crate::WordMap)
//! stores inline, as a 64-bit word.

use std::num::{
    NonZeroI16, NonZeroI32, NonZeroI64, NonZeroI8, NonZeroIsize, NonZeroU16, NonZeroU32,
    NonZeroU64, NonZeroU8, NonZeroUsize,
};

/// A `Copy` type of at most 8 bytes that a [`WordMap`](crate::WordMap)
/// stores inline in its slots, as a 64-bit word.
///
/// Implemented for the integer types (`u8`..`u64`, `i8`..`i64`, `usize`,
/// `isize`), their `NonZero` forms, `char`, `bool`, `f32`, `f64`, `()`,
/// byte arrays `[u8; 1]`..`[u8; 8]` (little-endian, zero-extended), and
/// pairs `(A, B)` of two of the types up to 4 bytes (`u8`..`u32`,
/// `i8`..`i32`, `f32`, `char`, `bool`; `A` in the low half of the word).
/// **Implement it for your own types** (newtypes, small `Copy` structs) to
/// store them without converting at every call:
///
/// ```
/// use lfmap::{WordMap, WordSized};
///
/// #[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// struct UserId(u64);
///
/// impl WordSized for UserId {
///     fn to_word(self) -> u64 {
///         self.0
///     }
///     fn from_word(word: u64) -> Self {
///         UserId(word)
///     }
/// }
///
/// // A small struct: two `u32`s packed into one word.
/// #[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// struct Span {
///     start: u32,
///     len: u32,
/// }
///
/// impl WordSized for Span {
///     fn to_word(self) -> u64 {
///         u64::from(self.start) | u64::from(self.len) << 32
///     }
///     fn from_word(word: u64) -> Self {
///         Span { start: word as u32, len: (word >> 32) as u32 }
///     }
/// }
///
/// let spans: WordMap<UserId, Span> = WordMap::new();
/// spans.insert(UserId(7), Span { start: 10, len: 3 });
/// assert_eq!(spans.get(&UserId(7)), Some(Span { start: 10, len: 3 }));
///
/// // Pairs and byte arrays work out of the box.
/// let tags: WordMap<[u8; 8], (u32, u32)> = WordMap::new();
/// tags.insert(*b"release!", (1, 2));
/// assert_eq!(tags.get(b"release!"), Some((1, 2)));
/// ```
///
/// # The contract
///
/// `to_word` must be **injective** (distinct values, distinct words) and
/// `from_word(v.to_word())` must give back `v`. The map only ever calls
/// `from_word` on words `to_word` produced; but `from_word` is a safe
/// method, which any code can call with any word, so it must be sound for
/// **every** `u64`: decode with checks (the built-in `char` and `NonZero*`
/// impls panic on a word no value has), never with `transmute` or
/// `new_unchecked` of an enum, a `bool`, a `NonZero*` or a pointer. For
/// the same reason, `to_word` should read a value field by field, not
/// transmute a struct whose padding bytes are uninitialised.
///
/// Keys are **hashed and compared by their word**, not with `Hash` and `Eq`
/// (which the type need not implement): two keys are the same key exactly
/// when their words are equal. For floats that means `0.0` and `-0.0` are
/// different keys and a NaN is a key equal to itself (the same NaN bits).
/// Every word is a usable key and value: the map reserves none (emptiness
/// is a state bit of the slot, not a special word).
///
/// ```
/// let map = lfmap::WordMap::new();
/// map.insert(-0.0f64, 'a');
/// map.insert(0.0f64, 'b');
/// assert_eq!(map.get(&-0.0), Some('a'));
/// assert_eq!(map.len(), 2);
/// ```
///
/// # Safe to implement
///
/// A wrong implementation (not injective, not an exact round trip, not
/// even deterministic) gives **wrong answers, never undefined behaviour**,
/// and leaves the map consistent and usable:
///
/// * The map's engine works on `u64` words alone. It accepts every 64-bit
///   pattern as a key and as a value (it reserves none), so whatever
///   `to_word` returns is valid input.
/// * `to_word` is called only on what you pass in (a key, a value, or what
///   an [`update`](crate::WordMap::update) or
///   [`compute`](crate::WordMap::compute) closure returns), to get the word
///   the map then stores or looks up. `from_word` is called only to hand
///   you a copy of a stored word. The map's own operations never decode a
///   word to act on it: a sweep such as [`retain`](crate::WordMap::retain)
///   judges the decoded copy and removes by the stored word. What is built
///   from decoded copies through the public API does re-encode them:
///   `Clone`, `PartialEq`, the set relations and serde. With a lossy
///   `from_word` those give wrong answers too (`map == map` may be false,
///   a clone may hold other keys).
/// * No `unsafe` code in lfmap depends on what either method returns. All
///   it relies on of the type is `Send + Sync` (for the iterator's `Send`),
///   supertraits the compiler checks for every impl; `Copy` means nothing
///   stored ever needs dropping.
///
/// So with a wrong impl, two keys may act as one, a key may not be found
/// again, or a value may come back changed. A panic in either method
/// unwinds out of the map call that made it and leaves the map consistent,
/// as a panicking [`update`](crate::WordMap::update) closure does (the
/// write it was part of happens entirely or not at all).
///
/// # Performance: keep the top byte zero
///
/// A key whose word has a **zero top byte** (bits 56..64) is inserted with
/// one CAS and looked up with one 16-byte load. A key with a non-zero top
/// byte takes two CASes to insert (the slot is claimed, then completed) and
/// one more byte per slot. Every built-in type below 8 bytes is
/// zero-extended; if your key has spare bits, put them at the top (in
/// `UserId` above, ids below 2^56 are the fast case). Values may use all 64
/// bits at no cost. A key type below 8 bytes should zero-extend too: its
/// maps then never fault in the tables' top-byte arrays ahead of use (a
/// pre-sized `WordMap<u32, _>` takes 16 bytes per slot, not 17).
pub trait WordSized: Copy + Send + Sync + 'static {
    /// The value as a 64-bit word: for a key, its identity in the map (its
    /// hash and equality). Must be injective; a type below 8 bytes should
    /// zero-extend (see the trait docs on the top byte).
    ///
    /// ```
    /// use lfmap::WordSized;
    /// assert_eq!((-1i8).to_word(), 0xff);
    /// assert_eq!('A'.to_word(), 65);
    /// ```
    fn to_word(self) -> u64;

    /// The value whose [`to_word`](WordSized::to_word) is `word`. The map
    /// calls it only on words `to_word` produced; it must still be sound
    /// for any word (it may panic on one no value has: "The contract").
    ///
    /// ```
    /// use lfmap::WordSized;
    /// assert_eq!(i8::from_word(0xff), -1);
    /// assert_eq!(<(u16, bool)>::from_word((7u16, true).to_word()), (7, true));
    /// ```
    fn from_word(word: u64) -> Self;
}

/// The integer [`WordSized`] types, whose values
/// [`WordMap::add`](crate::WordMap::add) can add to (wrapping on overflow).
/// Sealed: implemented for `u8`..`u64`, `i8`..`i64`, `usize` and `isize`.
///
/// ```
/// fn bump<V: lfmap::WordInteger>(map: &lfmap::WordMap<u32, V>, key: u32, by: V) -> V {
///     map.add(&key, by)
/// }
/// let map = lfmap::WordMap::new();
/// assert_eq!(bump(&map, 1, 5u16), 5);
/// ```
pub trait WordInteger: WordSized + sealed::Add {}

pub(crate) mod sealed {
    /// Wrapping addition on the words of an integer type. `pub` in a
    /// private module: nameable in bounds, not implementable outside.
    pub trait Add: super::WordSized {
        fn wrapping_add_word(word: u64, delta: Self) -> u64;
    }

    /// The [`WordSized`](super::WordSized) types whose words fit in 32 bits
    /// (zero-extended): the halves of a pair.
    pub trait Half: super::WordSized {}
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl WordSized for $t {
            #[inline]
            fn to_word(self) -> u64 {
                self as u64
            }
            #[inline]
            fn from_word(word: u64) -> Self {
                word as $t
            }
        }
        impl sealed::Add for $t {
            #[inline]
            fn wrapping_add_word(word: u64, delta: Self) -> u64 {
                (word as $t).wrapping_add(delta) as u64
            }
        }
        impl WordInteger for $t {}
    )*};
}

macro_rules! signed {
    ($($t:ty => $u:ty),*) => {$(
        impl WordSized for $t {
            #[inline]
            fn to_word(self) -> u64 {
                self as $u as u64
            }
            #[inline]
            fn from_word(word: u64) -> Self {
                word as $u as $t
            }
        }
        impl sealed::Add for $t {
            #[inline]
            fn wrapping_add_word(word: u64, delta: Self) -> u64 {
                (word as $u as $t).wrapping_add(delta) as $u as u64
            }
        }
        impl WordInteger for $t {}
    )*};
}

macro_rules! nonzero {
    ($($t:ty => $i:ty),*) => {$(
        impl WordSized for $t {
            #[inline]
            fn to_word(self) -> u64 {
                self.get().to_word()
            }
            #[inline]
            fn from_word(word: u64) -> Self {
                <$t>::new(<$i>::from_word(word))
                    .expect("lfmap: WordMap decoded a zero NonZero (word not from to_word)")
            }
        }
    )*};
}

macro_rules! half {
    ($($t:ty),*) => {$(
        impl sealed::Half for $t {}
    )*};
}

macro_rules! byte_array {
    ($($n:literal),*) => {$(
        /// Little-endian: byte 0 is the word's low byte; the bytes above
        /// `N` are zero.
        impl WordSized for [u8; $n] {
            #[inline]
            fn to_word(self) -> u64 {
                let mut word = [0u8; 8];
                word[..$n].copy_from_slice(&self);
                u64::from_le_bytes(word)
            }
            #[inline]
            fn from_word(word: u64) -> Self {
                let mut bytes = [0u8; $n];
                bytes.copy_from_slice(&word.to_le_bytes()[..$n]);
                bytes
            }
        }
    )*};
}

unsigned!(u8, u16, u32, u64, usize);
signed!(i8 => u8, i16 => u16, i32 => u32, i64 => u64, isize => usize);
nonzero!(
    NonZeroU8 => u8, NonZeroU16 => u16, NonZeroU32 => u32, NonZeroU64 => u64,
    NonZeroUsize => usize, NonZeroI8 => i8, NonZeroI16 => i16, NonZeroI32 => i32,
    NonZeroI64 => i64, NonZeroIsize => isize
);
half!(u8, u16, u32, i8, i16, i32, f32, char, bool);
byte_array!(1, 2, 3, 4, 5, 6, 7, 8);

impl WordSized for bool {
    #[inline]
    fn to_word(self) -> u64 {
        self as u64
    }
    #[inline]
    fn from_word(word: u64) -> Self {
        word != 0
    }
}

impl WordSized for char {
    #[inline]
    fn to_word(self) -> u64 {
        self as u64
    }
    #[inline]
    fn from_word(word: u64) -> Self {
        char::from_u32(word as u32).expect("lfmap: WordMap decoded an invalid char")
    }
}

impl WordSized for f32 {
    #[inline]
    fn to_word(self) -> u64 {
        self.to_bits() as u64
    }
    #[inline]
    fn from_word(word: u64) -> Self {
        f32::from_bits(word as u32)
    }
}

impl WordSized for f64 {
    #[inline]
    fn to_word(self) -> u64 {
        self.to_bits()
    }
    #[inline]
    fn from_word(word: u64) -> Self {
        f64::from_bits(word)
    }
}

/// The word 0: a `WordMap<K, ()>` is a set of `K`.
impl WordSized for () {
    #[inline]
    fn to_word(self) -> u64 {
        0
    }
    #[inline]
    fn from_word(_: u64) -> Self {}
}

/// `A` in the low 32 bits, `B` in the high 32 (each half's word fits in
/// 32 bits, so the pair's word is exact).
impl<A: sealed::Half, B: sealed::Half> WordSized for (A, B) {
    #[inline]
    fn to_word(self) -> u64 {
        self.0.to_word() | self.1.to_word() << 32
    }
    #[inline]
    fn from_word(word: u64) -> Self {
        (A::from_word(word & 0xffff_ffff), B::from_word(word >> 32))
    }
}

#[cfg(test)]
mod tests {
    use super::sealed::Add;
    use super::WordSized;

    fn round<T: WordSized + PartialEq + std::fmt::Debug>(v: T) {
        assert_eq!(T::from_word(v.to_word()), v);
    }

    #[test]
    fn round_trips_and_zero_extends() {
        round(-1i8);
        round(i64::MIN);
        round(u64::MAX);
        round('\u{10ffff}');
        round(true);
        round(std::num::NonZeroI32::new(-5).unwrap());
        round(());
        round([0xffu8; 8]);
        round([1u8, 2, 3]);
        round((u32::MAX, u32::MAX));
        round((-1i8, '\u{10ffff}'));
        round((f32::MIN, false));
        assert_eq!((-1i32).to_word(), 0xffff_ffff);
        assert_eq!((-1i8).to_word() >> 56, 0);
        assert_eq!([1u8, 2].to_word(), 0x0201);
        assert_eq!((1u32, 2u32).to_word(), 2 << 32 | 1);
        assert_eq!((-1i32, 0u8).to_word(), 0xffff_ffff);
        assert_eq!(f64::NAN.to_word(), f64::NAN.to_word());
        assert_ne!(0.0f64.to_word(), (-0.0f64).to_word());
    }

    #[test]
    fn every_half_fits_in_32_bits() {
        assert!(u32::MAX.to_word() <= u64::from(u32::MAX));
        assert!(i32::MIN.to_word() <= u64::from(u32::MAX));
        assert!(f32::NAN.to_word() <= u64::from(u32::MAX));
        assert!(char::MAX.to_word() <= u64::from(u32::MAX));
    }

    #[test]
    fn add_wraps_in_the_type() {
        assert_eq!(i8::from_word(i8::wrapping_add_word((-1i8).to_word(), 1)), 0);
        assert_eq!(u8::from_word(u8::wrapping_add_word(255u8.to_word(), 2)), 1);
        assert_eq!(
            i64::wrapping_add_word(5i64.to_word(), -7),
            (-2i64).to_word()
        );
    }
}
