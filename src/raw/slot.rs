//! The slot protocol: what a slot's word means, and every state transition,
//! each one a single CAS. This file is the whole of lfmap's lock-free
//! protocol at the level of one slot; `raw/mod.rs` strings the transitions
//! together into operations and `raw/migrate.rs` into resizes.
//!
//! A slot is one atomic word (`AtomicPtr<Entry>`) of its [`Table`]: a
//! pointer to an immutable heap [`Entry`] `{key, value, hash}`, with the
//! slot's **tag** in its high bits and three state flags in its low bits:
//!
//! | bits | name | meaning |
//! |---|---|---|
//! | 57..64 | tag | seven low bits of the key's hash (64-bit targets; none on 32-bit) |
//! | 0 | `DELETED` | the key was removed: a *keyed tombstone*, the entry is kept so the key stays recognisable |
//! | 1 | `FROZEN` | a migration owns the slot; no write may land here any more |
//! | 2 | `COPIED` | the slot's content now lives in the next table (or, for a tombstone, was dropped) |
//!
//! A probe step is one load: a word with no entry ends the probe (or, if
//! frozen, sends it to the next table); a word whose tag differs from the
//! key's is skipped without touching its entry (a false match costs one
//! entry read in 128); only a matching tag leads to the entry, where the
//! key is compared (lookups skip the stored hash: on a hit they then touch
//! only the entry's key and value; migrations compare hashes first). The home slot comes from the
//! *high* bits of the spread hash (`probe.rs`) and the tag from the low
//! bits of the hash, so the two are independent.
//!
//! The tag is part of every word a slot ever holds for its key, so it is
//! set by the same CAS that claims the slot: there is no window in which a
//! slot is claimed but untagged. Entries come from the global allocator,
//! whose addresses on every 64-bit platform Rust supports leave the top
//! seven bits clear (user space ends at 2^47, or 2^56 with 5-level paging);
//! [`Pending::new`] checks this for every entry and panics with a clear
//! message rather than corrupt a word.
//!
//! States and transitions (every arrow is one CAS on the word, except
//! `mark_copied`, a store: see there):
//!
//! ```text
//!            claim                 replace (E1 -> E2, same key)
//!   empty ----------> E  <------------------------------+
//!     |               |  \---- delete ---> E|DELETED ---+ revive (-> E2)
//!     | seal          | freeze                 | freeze
//!     v               v                        v
//!  FROZEN          E|FROZEN            E|DELETED|FROZEN
//!                     | mark_copied            | mark_copied (E stays with the table)
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
//! * **A probe may stop at the first word without an entry.** Slots are
//!   claimed, never released, within a table; a key is inserted only into
//!   the first unclaimed slot of its probe sequence, so every slot before
//!   its own was claimed when it was inserted and stays claimed.
//! * **Frozen is final.** Nothing but `COPIED` is ever added to a frozen
//!   word; every writer CAS expects an unfrozen word and fails on a frozen
//!   one, so no write can land behind a copy.

use std::marker::PhantomData;

use super::table::Table;
use crate::reclaim::{ReclaimGuard, Retire};
use crate::sync::Ordering::{AcqRel, Acquire, Release};

/// Where the tag sits in a word: the top seven bits on 64-bit targets.
/// 32-bit targets have no spare high bits, so their tag is always 0: every
/// probe step there reads the entry (lookups compare the key; migrations
/// compare the stored hash first, then the key).
const TAG_SHIFT: u32 = usize::BITS - 7;
const TAG_MASK: usize = if usize::BITS == 64 {
    0x7f << TAG_SHIFT
} else {
    0
};

/// The tag bits of a word holding an entry with `hash`: seven low bits of
/// the hash, shifted into place (independent of the home slot, which comes
/// from the high bits of the spread hash).
#[inline]
pub(crate) fn tag_of(hash: u64) -> usize {
    ((hash as usize) << TAG_SHIFT) & TAG_MASK
}

/// One key-value pair, immutable once published. Aligned to 8 so the word
/// has three free low bits.
///
/// `repr(C)`, key and value first: a lookup hit reads the key and the value,
/// and for word-sized pairs those 16 bytes share a cache line wherever the
/// allocator puts the entry (16-aligned), while the stored hash, read only by
/// migrations, may spill into the next line. (With the hash first, a 24-byte
/// entry at offset 48 of a line had its value in the next line: a second
/// miss on half of all lookups; `docs/benchmarks.md`, notes.)
#[repr(C, align(8))]
pub(crate) struct Entry<K, V> {
    pub(crate) key: K,
    pub(crate) value: V,
    /// The key's full hash, stored so that helpers and migrations never call
    /// the user's `Hash` (which may be slow or panic).
    pub(crate) hash: u64,
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
        let ptr = Box::into_raw(Box::new(Entry { hash, key, value }));
        if ptr.addr() & TAG_MASK != 0 {
            // A platform whose allocator hands out addresses above 2^57:
            // none that Rust supports today. Report it, never corrupt.
            tag_space_exhausted(ptr);
        }
        Pending(ptr)
    }

    /// The word that publishes this entry: its pointer plus the tag of its
    /// hash.
    #[inline]
    pub(crate) fn word(&self) -> Word<K, V> {
        // SAFETY: `self.0` is a live allocation owned by us or the map.
        let hash = unsafe { (*self.0).hash };
        Word::tagged(self.0, hash)
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

#[cold]
fn tag_space_exhausted<T>(ptr: *mut T) -> ! {
    panic!(
        "lfmap: the allocator returned address {ptr:p}, whose top 7 bits are \
         not zero; lfmap keeps a hash tag there and cannot run on this platform"
    )
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

/// A slot word: an entry pointer with tag and flag bits.
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
    /// The word of `entry` (flags clear) tagged for `hash`, its hash.
    #[inline]
    pub(crate) fn tagged(entry: *mut Entry<K, V>, hash: u64) -> Self {
        Word(entry.map_addr(|a| a | tag_of(hash)), PhantomData)
    }
    /// The tag bits (compare with [`tag_of`]).
    #[inline]
    pub(crate) fn tag(self) -> usize {
        self.0.addr() & TAG_MASK
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
    /// The entry pointer without tag and flags (null for an empty slot).
    #[inline]
    pub(crate) fn entry(self) -> *mut Entry<K, V> {
        self.0.map_addr(|a| a & !(FLAGS | TAG_MASK))
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
    /// Loads slot `i`'s word under `guard`.
    #[inline]
    pub(crate) fn word(&self, i: usize, guard: &impl ReclaimGuard) -> Word<K, V> {
        Word::from_raw(guard.protect(&self.words[i]))
    }

    /// **claim**: `empty -> E`: the linearization point of inserting a new
    /// key. `entry` is the new entry's tagged word ([`Pending::word`]).
    #[inline]
    pub(crate) fn claim(&self, i: usize, entry: Word<K, V>) -> Result<(), Word<K, V>> {
        // Release on success: publishes the entry's initialisation to every
        // thread that later loads the word with Acquire. Acquire on failure:
        // the caller dereferences the entry it lost to.
        self.words[i]
            .compare_exchange(std::ptr::null_mut(), entry.raw(), Release, Acquire)
            .map(drop)
            .map_err(Word::from_raw)
    }

    /// **replace** / **revive**: `cur -> new` where `cur` is unfrozen and
    /// holds the same key (live or a keyed tombstone). The linearization
    /// point of insert-over-existing and of update.
    #[inline]
    pub(crate) fn replace(
        &self,
        i: usize,
        cur: Word<K, V>,
        new: Word<K, V>,
    ) -> Result<(), Word<K, V>> {
        debug_assert_eq!(cur.tag(), new.tag(), "a slot belongs to one key");
        // Release on success: publishes `new`'s initialisation. Acquire on
        // failure: the caller re-reads the entry it lost to.
        self.words[i]
            .compare_exchange(cur.raw(), new.raw(), Release, Acquire)
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
            .map(|_| self.note_tombstone())
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

    /// **mark_copied**: `w -> w|COPIED` for a frozen `w`, once its content is
    /// in the next table (or, for a tombstone, deliberately left behind).
    ///
    /// The one transition that is a store, not a CAS: a frozen word changes
    /// in no other way (frozen is final), and every thread that marks it
    /// writes the same value, so there is nothing to compare against. A store
    /// costs a fraction of a locked CAS, and migration marks every claimed
    /// slot of the table once.
    #[inline]
    pub(crate) fn mark_copied(&self, i: usize, frozen: Word<K, V>) {
        debug_assert!(frozen.frozen());
        // Release: a reader that sees COPIED (Acquire) goes to the next
        // table and must find the copy, which this thread placed there (or
        // saw placed there, with Acquire) before.
        self.words[i].store(frozen.with(COPIED).raw(), Release);
    }
}
