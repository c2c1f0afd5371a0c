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
        let mut s = format!("k{id}-");
        for _ in 0..id % 7 {
            s.push('x');
        }
        s
    }
    fn id(&self) -> u16 {
        let digits = self[1..].split('-').next().unwrap_or("");
        digits.parse().expect("a key made by FKey::make")
    }
    fn q(&self) -> &str {
        self.as_str()
    }
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
