//! Key types the single-threaded harness runs with, all built from a small
//! index (`u16`), each with the borrowed form lookups use.

use std::borrow::Borrow;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use crate::ledger::{Ledger, TKey};

pub trait FKey: Hash + Eq + Clone + Debug + Borrow<Self::Q> + 'static {
    type Q: Hash + Eq + ?Sized;
    fn make(id: u16, ledger: &Arc<Ledger>) -> Self;
    fn id(&self) -> u16;
    fn q(&self) -> &Self::Q;
}

impl FKey for u16 {
    type Q = u16;
    fn make(id: u16, _: &Arc<Ledger>) -> u16 {
        id
    }
    fn id(&self) -> u16 {
        *self
    }
    fn q(&self) -> &u16 {
        self
    }
}

/// String keys of varying length, looked up by `&str`.
impl FKey for String {
    type Q = str;
    fn make(id: u16, _: &Arc<Ledger>) -> String {
        string_key(id)
    }
    fn id(&self) -> u16 {
        let digits = self[1..].split('-').next().unwrap_or("");
        digits.parse().expect("a key made by FKey::make")
    }
    fn q(&self) -> &str {
        self.as_str()
    }
}

/// The string key of `id`: `k{id}-` and `id % 7` more bytes.
pub fn string_key(id: u16) -> String {
    let mut s = format!("k{id}-");
    for _ in 0..id % 7 {
        s.push('x');
    }
    s
}

/// Tracked keys: constructions and drops are counted.
impl FKey for TKey {
    type Q = TKey;
    fn make(id: u16, ledger: &Arc<Ledger>) -> TKey {
        TKey::new(ledger, id)
    }
    fn id(&self) -> u16 {
        TKey::id(self)
    }
    fn q(&self) -> &TKey {
        self
    }
}

/// The key alphabet of the `word` and `sets` targets' `u64` keys: index
/// `i % 16` picks a class, `i / 16` the low bits. It mixes small values,
/// values whose top byte is set (`WordMap`'s pending-claim path) and that
/// share their low 56 bits with a small one, and the extremes 0 and
/// `u64::MAX`.
pub fn word_key(i: u8) -> u64 {
    let low = u64::from(i / 16);
    match i % 16 {
        0..=5 => low,
        6..=8 => low | 0xab << 56,
        9 => low | 0xff << 56,
        10 => u64::MAX - low,
        11 => low << 56,
        12 => low << 48,
        13 => 0,
        _ => low | 1 << 40,
    }
}
