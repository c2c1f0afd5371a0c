//! [`WordSized`]: the key and value types a [`WordMap`](crate::WordMap)
//! stores inline, as a 64-bit pattern.

use std::num::{
    NonZeroI16, NonZeroI32, NonZeroI64, NonZeroI8, NonZeroIsize, NonZeroU16, NonZeroU32,
    NonZeroU64, NonZeroU8, NonZeroUsize,
};

/// A `Copy` type of at most 8 bytes that a [`WordMap`](crate::WordMap)
/// stores inline in its slots, as a bit pattern.
///
/// Implemented for the integer types (`u8`..`u64`, `i8`..`i64`, `usize`,
/// `isize`), their `NonZero` forms, `char`, `bool`, `f32` and `f64`. Sealed:
/// the map's correctness rests on the conversion being an injective, exact
/// round trip, so no other type can implement it.
///
/// Keys are compared and hashed **by bit pattern**: for floats that means
/// `0.0` and `-0.0` are different keys and a NaN is a key equal to itself
/// (the same NaN bits). Every bit pattern is a usable key: the map reserves
/// none (emptiness is a state bit of the slot, not a special key).
///
/// ```
/// let map = lfmap::WordMap::new();
/// map.insert(-0.0f64, 'a');
/// map.insert(0.0f64, 'b');
/// assert_eq!(map.get(&-0.0), Some('a'));
/// assert_eq!(map.len(), 2);
/// ```
pub trait WordSized: Copy + Send + Sync + 'static + sealed::Bits {}

/// The integer [`WordSized`] types, whose values
/// [`WordMap::add`](crate::WordMap::add) can add to (wrapping on overflow).
pub trait WordInteger: WordSized + sealed::Add {}

pub(crate) mod sealed {
    /// The bit conversion behind [`WordSized`](super::WordSized). `pub` in a
    /// private module: nameable in bounds, not implementable outside.
    pub trait Bits: Sized {
        /// The value's bits, zero-extended to 64 (never sign-extended, so
        /// every type below 8 bytes leaves the key's top byte zero).
        fn to_bits(self) -> u64;
        /// The value whose [`to_bits`](Bits::to_bits) is `bits`. Only ever
        /// called on bits that `to_bits` produced.
        fn from_bits(bits: u64) -> Self;
    }

    /// Wrapping addition on the bit patterns of an integer type.
    pub trait Add: Bits {
        fn wrapping_add_bits(bits: u64, delta: Self) -> u64;
    }
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl sealed::Bits for $t {
            #[inline]
            fn to_bits(self) -> u64 {
                self as u64
            }
            #[inline]
            fn from_bits(bits: u64) -> Self {
                bits as $t
            }
        }
        impl sealed::Add for $t {
            #[inline]
            fn wrapping_add_bits(bits: u64, delta: Self) -> u64 {
                (bits as $t).wrapping_add(delta) as u64
            }
        }
        impl WordSized for $t {}
        impl WordInteger for $t {}
    )*};
}

macro_rules! signed {
    ($($t:ty => $u:ty),*) => {$(
        impl sealed::Bits for $t {
            #[inline]
            fn to_bits(self) -> u64 {
                self as $u as u64
            }
            #[inline]
            fn from_bits(bits: u64) -> Self {
                bits as $u as $t
            }
        }
        impl sealed::Add for $t {
            #[inline]
            fn wrapping_add_bits(bits: u64, delta: Self) -> u64 {
                (bits as $u as $t).wrapping_add(delta) as $u as u64
            }
        }
        impl WordSized for $t {}
        impl WordInteger for $t {}
    )*};
}

macro_rules! nonzero {
    ($($t:ty => $i:ty),*) => {$(
        impl sealed::Bits for $t {
            #[inline]
            fn to_bits(self) -> u64 {
                sealed::Bits::to_bits(self.get())
            }
            #[inline]
            fn from_bits(bits: u64) -> Self {
                <$t>::new(<$i as sealed::Bits>::from_bits(bits))
                    .expect("lfmap: WordMap decoded a zero NonZero (bits not from to_bits)")
            }
        }
        impl WordSized for $t {}
    )*};
}

unsigned!(u8, u16, u32, u64, usize);
signed!(i8 => u8, i16 => u16, i32 => u32, i64 => u64, isize => usize);
nonzero!(
    NonZeroU8 => u8, NonZeroU16 => u16, NonZeroU32 => u32, NonZeroU64 => u64,
    NonZeroUsize => usize, NonZeroI8 => i8, NonZeroI16 => i16, NonZeroI32 => i32,
    NonZeroI64 => i64, NonZeroIsize => isize
);

impl sealed::Bits for bool {
    #[inline]
    fn to_bits(self) -> u64 {
        self as u64
    }
    #[inline]
    fn from_bits(bits: u64) -> Self {
        bits != 0
    }
}
impl WordSized for bool {}

impl sealed::Bits for char {
    #[inline]
    fn to_bits(self) -> u64 {
        self as u64
    }
    #[inline]
    fn from_bits(bits: u64) -> Self {
        char::from_u32(bits as u32).expect("lfmap: WordMap decoded an invalid char")
    }
}
impl WordSized for char {}

impl sealed::Bits for f32 {
    #[inline]
    fn to_bits(self) -> u64 {
        f32::to_bits(self) as u64
    }
    #[inline]
    fn from_bits(bits: u64) -> Self {
        f32::from_bits(bits as u32)
    }
}
impl WordSized for f32 {}

impl sealed::Bits for f64 {
    #[inline]
    fn to_bits(self) -> u64 {
        f64::to_bits(self)
    }
    #[inline]
    fn from_bits(bits: u64) -> Self {
        f64::from_bits(bits)
    }
}
impl WordSized for f64 {}

#[cfg(test)]
mod tests {
    use super::sealed::{Add, Bits};

    fn round<T: Bits + Copy + PartialEq + std::fmt::Debug>(v: T) {
        assert_eq!(T::from_bits(v.to_bits()), v);
    }

    #[test]
    fn round_trips_and_zero_extends() {
        round(-1i8);
        round(i64::MIN);
        round(u64::MAX);
        round('\u{10ffff}');
        round(true);
        round(std::num::NonZeroI32::new(-5).unwrap());
        assert_eq!((-1i32).to_bits(), 0xffff_ffff);
        assert_eq!((-1i8).to_bits() >> 56, 0);
        assert_eq!(f64::NAN.to_bits(), f64::NAN.to_bits());
        assert_ne!(0.0f64.to_bits(), (-0.0f64).to_bits());
    }

    #[test]
    fn add_wraps_in_the_type() {
        assert_eq!(i8::from_bits(i8::wrapping_add_bits((-1i8).to_bits(), 1)), 0);
        assert_eq!(u8::from_bits(u8::wrapping_add_bits(255u8.to_bits(), 2)), 1);
        assert_eq!(
            i64::wrapping_add_bits(5i64.to_bits(), -7),
            (-2i64).to_bits()
        );
    }
}
