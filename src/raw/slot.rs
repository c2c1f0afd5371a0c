//! The slot protocol: what a slot's tag and word mean, and every state
//! transition, each one a single CAS. This file is the whole of lfmap's
//! lock-free protocol at the level of one slot; `raw/mod.rs` strings the
//! transitions together into operations and `raw/migrate.rs` into resizes.
//!
//! A slot is two atomics in two parallel arrays of its [`Table`]:
//!
//! * the **tag** (`AtomicU8`): [`EMPTY`], or `0x80 | h7` where `h7` is seven
//!   low bits of the key's hash. Probes read tags first and touch a word only
//!   when the tag matches, so most foreign slots cost one byte load from a
//!   dense array. A tag is written once per table (`EMPTY -> full`), never
//!   reset.
//! * the **word** (`AtomicPtr<Entry>`): a pointer to an immutable heap
//!   [`Entry`] `{hash, key, value}`, with three flag bits in its low bits:
//!
//! | bit | name | meaning |
//! |---|---|---|
//! | 0 | `DELETED` | the key was removed: a *keyed tombstone*, the entry is kept so the key stays recognisable |
//! | 1 | `FROZEN` | a migration owns the slot; no write may land here any more |
//! | 2 | `COPIED` | the slot's content now lives in the next table (or, for a tombstone, was dropped) |
//!
//! States and transitions (every arrow is one CAS on the word, except the
//! tag publication):
//!
//! ```text
//!            claim                 replace (E1 -> E2, same key)
//!   empty ----------> E  <------------------------------+
//!     |               |  \---- delete ---> E|DELETED ---+ revive (-> E2)
//!     | seal          | freeze                 | freeze
//!     v               v                        v
//!  FROZEN          E|FROZEN            E|DELETED|FROZEN
//!                     | mark_copied            | mark_copied (retires E)
//!                     v                        v
//!                E|FROZEN|COPIED      E|DELETED|FROZEN|COPIED
//! ```
//!
//! Invariants the map relies on:
//!
//! * **A slot belongs to one key per table.** Once claimed, every entry the
//!   word ever points to carries an equal key (replacements are built from
//!   the same key; a removal keeps the entry). So a key occupies at most
//!   one slot per table, and a probe that found it may retry its CAS on that
//!   slot without searching again.
//! * **No tag is published past an empty tag.** Whoever publishes a tag has
//!   seen every earlier slot of the probe sequence with a published tag, or
//!   published it itself from the entry's stored hash (`publish`). So a
//!   probe that meets an `EMPTY` tag whose word is unfrozen may stop.
//! * **Frozen is final.** Nothing but `COPIED` is ever added to a frozen
//!   word; every writer CAS expects an unfrozen word and fails on a frozen
//!   one, so no write can land behind a copy.

use std::marker::PhantomData;

use super::table::Table;
use crate::reclaim::{ReclaimGuard, Retire};
use crate::sync::Ordering::{AcqRel, Acquire, Relaxed, Release};

/// Tag of a slot that no key has claimed.
pub(crate) const EMPTY: u8 = 0;

/// The tag a key with `hash` publishes: the high bit marks "full", the low
/// seven bits are the hash's low bits (the home slot uses the *high* bits,
/// so the two are independent).
#[inline]
pub(crate) fn tag_of(hash: u64) -> u8 {
    0x80 | (hash as u8 & 0x7f)
}

/// One key-value pair, immutable once published. Aligned to 8 so the word
/// has three free low bits.
#[repr(align(8))]
pub(crate) struct Entry<K, V> {
    /// The key's full hash, stored so that helpers and migrations never call
    /// the user's `Hash` (which may be slow or panic).
    pub(crate) hash: u64,
    pub(crate) key: K,
    pub(crate) value: V,
}

impl<K, V> Retire for Entry<K, V> {
    unsafe fn free(ptr: *mut Self) {
        // SAFETY: entries are allocated with `Box::new` (`Pending::new`) and
        // the caller guarantees this is the only free.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

/// An entry allocated but not (yet) published: freed on drop unless
/// [`Pending::publish`]ed. Holds a raw pointer, not a `Box`, because probes
/// borrow the key through it while the allocation changes hands.
pub(crate) struct Pending<K, V>(*mut Entry<K, V>);

impl<K, V> Pending<K, V> {
    pub(crate) fn new(hash: u64, key: K, value: V) -> Self {
        Pending(Box::into_raw(Box::new(Entry { hash, key, value })))
    }

    #[inline]
    pub(crate) fn ptr(&self) -> *mut Entry<K, V> {
        self.0
    }

    /// The entry's key, for probing. Valid for as long as the caller keeps
    /// the allocation alive (unpublished: until drop; published: guard).
    ///
    /// # Safety
    ///
    /// The reference must not outlive the allocation: the caller keeps the
    /// `Pending` (or, once published, its guard) alive while using it.
    #[inline]
    pub(crate) unsafe fn key<'a>(&self) -> &'a K {
        // SAFETY: `self.0` is a live allocation owned by us or the map.
        unsafe { &(*self.0).key }
    }

    /// Ownership has passed to the table.
    #[inline]
    pub(crate) fn publish(self) {
        std::mem::forget(self);
    }

    /// Takes the key and value back out of an entry that was never published.
    pub(crate) fn into_parts(self) -> (K, V) {
        let ptr = self.0;
        std::mem::forget(self);
        // SAFETY: never published, so we own the allocation alone; it came
        // from `Box::new` in `Pending::new`.
        let entry = unsafe { Box::from_raw(ptr) };
        (entry.key, entry.value)
    }
}

impl<K, V> Drop for Pending<K, V> {
    fn drop(&mut self) {
        // SAFETY: never published, so never shared: we own it alone.
        drop(unsafe { Box::from_raw(self.0) });
    }
}

const DELETED: usize = 0b001;
const FROZEN: usize = 0b010;
const COPIED: usize = 0b100;
const FLAGS: usize = 0b111;

/// A slot word: an entry pointer with flag bits.
pub(crate) struct Word<K, V>(*mut Entry<K, V>, PhantomData<(K, V)>);

impl<K, V> Clone for Word<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K, V> Copy for Word<K, V> {}
impl<K, V> PartialEq for Word<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl<K, V> Word<K, V> {
    #[inline]
    pub(crate) fn from_raw(ptr: *mut Entry<K, V>) -> Self {
        Word(ptr, PhantomData)
    }
    #[inline]
    fn raw(self) -> *mut Entry<K, V> {
        self.0
    }
    #[inline]
    fn with(self, flag: usize) -> Self {
        Word(self.0.map_addr(|a| a | flag), PhantomData)
    }
    #[inline]
    fn has(self, flag: usize) -> bool {
        self.0.addr() & flag != 0
    }
    /// The entry pointer without flags (null for an empty slot).
    #[inline]
    pub(crate) fn entry(self) -> *mut Entry<K, V> {
        self.0.map_addr(|a| a & !FLAGS)
    }
    /// No entry was ever placed here (the slot may be frozen).
    #[inline]
    pub(crate) fn is_vacant(self) -> bool {
        self.entry().is_null()
    }
    /// Never claimed, not frozen: the only state a claim or seal may CAS from.
    #[inline]
    pub(crate) fn is_unclaimed(self) -> bool {
        self.0.is_null()
    }
    #[inline]
    pub(crate) fn deleted(self) -> bool {
        self.has(DELETED)
    }
    #[inline]
    pub(crate) fn frozen(self) -> bool {
        self.has(FROZEN)
    }
    #[inline]
    pub(crate) fn copied(self) -> bool {
        self.has(COPIED)
    }
    /// The live entry, if the slot holds one (not deleted, not vacant).
    ///
    /// # Safety
    ///
    /// The word was loaded through a guard that is still alive for `'g`.
    #[inline]
    pub(crate) unsafe fn live<'g>(self) -> Option<&'g Entry<K, V>> {
        if self.deleted() {
            None
        } else {
            // SAFETY: a non-null entry pointer loaded under a live guard
            // stays valid for the guard's lifetime (reclaim contract 1).
            unsafe { self.entry().as_ref() }
        }
    }
}

impl<K, V> Table<K, V> {
    /// Loads slot `i`'s tag. Acquire: pairs with the Release in `publish`,
    /// so a full tag implies the word load that follows sees the entry.
    #[inline]
    pub(crate) fn tag(&self, i: usize) -> u8 {
        self.tags[i].load(Acquire)
    }

    /// Loads slot `i`'s word under `guard`.
    #[inline]
    pub(crate) fn word(&self, i: usize, guard: &impl ReclaimGuard) -> Word<K, V> {
        Word::from_raw(guard.protect(&self.words[i]))
    }

    /// **claim**: `empty -> E`. The linearization point of inserting a new
    /// key is this CAS's success *if* the tag is then published, which the
    /// caller (or any helper) does at once.
    #[inline]
    pub(crate) fn claim(&self, i: usize, entry: *mut Entry<K, V>) -> Result<(), Word<K, V>> {
        // Release on success: publishes the entry's initialisation to every
        // thread that later loads the word with Acquire. Acquire on failure:
        // the caller dereferences the entry it lost to.
        self.words[i]
            .compare_exchange(std::ptr::null_mut(), entry, Release, Acquire)
            .map(drop)
            .map_err(Word::from_raw)
    }

    /// Publishes the tag of a claimed slot whose entry has `hash`; returns
    /// the tag. Idempotent: every helper writes the same value.
    #[inline]
    pub(crate) fn publish(&self, i: usize, hash: u64) -> u8 {
        let tag = tag_of(hash);
        // Release: a reader that sees the tag (Acquire) also sees the claimed
        // word, which happened-before this store in our thread (our claim or
        // our Acquire load of it). Failure: another helper published the
        // same tag; Relaxed suffices since we return our own value.
        let _ = self.tags[i].compare_exchange(EMPTY, tag, Release, Relaxed);
        tag
    }

    /// **replace** / **revive**: `cur -> new` where `cur` is unfrozen and
    /// holds the same key (live or a keyed tombstone). The linearization
    /// point of insert-over-existing and of update.
    #[inline]
    pub(crate) fn replace(
        &self,
        i: usize,
        cur: Word<K, V>,
        new: *mut Entry<K, V>,
    ) -> Result<(), Word<K, V>> {
        // Release on success: publishes `new`'s initialisation. Acquire on
        // failure: the caller re-reads the entry it lost to.
        self.words[i]
            .compare_exchange(cur.raw(), new, Release, Acquire)
            .map(drop)
            .map_err(Word::from_raw)
    }

    /// **delete**: `E -> E|DELETED`. The linearization point of remove.
    #[inline]
    pub(crate) fn delete(&self, i: usize, cur: Word<K, V>) -> Result<(), Word<K, V>> {
        // Release on success: orders the removal after everything this
        // thread did before (a later revive of the same key sees it). Acquire
        // on failure: the caller re-reads the entry it lost to.
        self.words[i]
            .compare_exchange(cur.raw(), cur.with(DELETED).raw(), Release, Acquire)
            .map(drop)
            .map_err(Word::from_raw)
    }

    /// **seal**: `empty -> FROZEN`. Closes an unclaimed slot so no key can be
    /// inserted here any more; used both by chunk migration and by a writer
    /// sealing the end of its key's probe sequence.
    #[inline]
    pub(crate) fn seal(&self, i: usize) -> Result<(), Word<K, V>> {
        let frozen = Word::<K, V>::from_raw(std::ptr::null_mut()).with(FROZEN);
        // Release on success: a reader that sees FROZEN (Acquire) also sees
        // the `next` table this thread loaded before sealing. Acquire on
        // failure: the caller dereferences the entry that was claimed.
        self.words[i]
            .compare_exchange(std::ptr::null_mut(), frozen.raw(), Release, Acquire)
            .map(drop)
            .map_err(Word::from_raw)
    }

    /// **freeze**: sets `FROZEN` on slot `i` whatever its state; returns the
    /// frozen word. Lock-free: each failed CAS means another thread changed
    /// the word, i.e. made progress.
    pub(crate) fn freeze(&self, i: usize, guard: &impl ReclaimGuard) -> Word<K, V> {
        let mut cur = self.word(i, guard);
        loop {
            if cur.frozen() {
                return cur;
            }
            // AcqRel on success: Release so a reader that sees FROZEN also
            // sees the next table (installed before any freeze); Acquire so
            // the copier reads the final entry. Acquire on failure: retry
            // with the entry we lost to.
            match self.words[i].compare_exchange(cur.raw(), cur.with(FROZEN).raw(), AcqRel, Acquire)
            {
                Ok(_) => return cur.with(FROZEN),
                Err(seen) => cur = Word::from_raw(seen),
            }
        }
    }

    /// **mark_copied**: `w -> w|COPIED` for a frozen `w`. Returns whether this
    /// call set the bit: exactly one caller wins, which is how a dropped
    /// tombstone gets retired exactly once.
    #[inline]
    pub(crate) fn mark_copied(&self, i: usize, frozen: Word<K, V>) -> bool {
        debug_assert!(frozen.frozen());
        // Release on success: a reader that sees COPIED (Acquire) goes to the
        // next table and must find the copy, which this thread placed there
        // before. Failure: already COPIED (frozen words change no other way).
        self.words[i]
            .compare_exchange(frozen.raw(), frozen.with(COPIED).raw(), Release, Relaxed)
            .is_ok()
    }
}
