//! The slot protocol: what a slot's word means, and every state transition,
//! each one a single CAS. This file is the whole of lfmap's lock-free
//! protocol at the level of one slot; `raw/mod.rs` strings the transitions
//! together into operations and `raw/migrate.rs` into resizes.
//!
//! The array is private to this file: the rest of the crate reaches a slot
//! only through the transitions below, and sees its word as a [`Word`]
//! bound to the guard it was loaded under, whose entry references live as
//! long as that guard and no longer.
//!
//! A slot is one atomic word (`AtomicPtr<Entry>`) of a table's [`Slots`]: a
//! pointer to a heap [`Entry`] `{key, value, hash}` (its key and hash never
//! change once published; its value only through `&mut` or its drop), with the
//! slot's **tag** in its high bits and three state flags in its low bits:
//!
//! | bits | name | meaning |
//! |---|---|---|
//! | 57..64 | tag | seven low bits of the key's hash (64-bit targets; none on 32-bit) |
//! | 0 | `DELETED` | the key was removed: a *keyed tombstone*, the entry is kept so the key stays recognisable |
//! | 1 | `FROZEN` | a migration owns the slot; no write may land here any more |
//! | 2 | `COPIED` | the slot's content now lives in the next table (or, for a tombstone, was dropped) |
//! | 56 | `INHERITED` | the entry came from an older table by a migration's copy (64-bit targets; none on 32-bit) |
//!
//! A probe step is one load: a word with no entry ends the probe (or, if
//! frozen, sends it to the next table); a word whose tag differs from the
//! key's is skipped without touching its entry (a false match costs one
//! entry read in 128); only a matching tag leads to the entry, where the
//! key is compared (lookups skip the stored hash: on a hit they then touch
//! only the entry's key and value; migrations compare hashes, never keys:
//! `raw/migrate.rs`). The home slot comes from the
//! *high* bits of the spread hash (`resize/probe.rs`) and the tag from the low
//! bits of the hash, so the two are independent.
//!
//! `INHERITED` tells a writer that replaces or revives the entry whether an
//! older table can still lead a reader to it: only a copied entry is also in
//! an older table's (frozen) slot, so only a copied entry may have to wait
//! for that table's unlinking before it is retired (`raw/table.rs`,
//! `defer_retire`). A replacement installs a word without it, so only the
//! first replacement of a copied key per migration waits; every later one
//! is retired at once. Bit 56 is clear wherever the top bits are (below:
//! user space ends below 2^56), as [`Pending::new`] checks. On 32-bit
//! targets there is no spare bit: every word counts as inherited, and every
//! replaced entry waits while a migration runs (the behaviour before the
//! bit existed).
//!
//! The tag is part of every word a slot ever holds for its key, so it is
//! set by the same CAS that claims the slot: there is no window in which a
//! slot is claimed but untagged. Entries come from the entry pool
//! (`raw/pool.rs`: spans mapped from the kernel, or from the global
//! allocator where there is no `mmap`, and the global allocator under
//! loom), whose addresses leave the top eight bits clear wherever user
//! space ends at 2^47, or 2^56 with 5-level paging, and pointers carry no
//! tag in their top byte. A platform that tags heap pointers there (AArch64
//! top-byte tagging or MTE, as on some Android systems) would set them:
//! [`Pending::new`] checks every entry and panics with a clear message
//! rather than corrupt a word.
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
//!   one slot per table, and a probe that found it may retry its CAS on
//!   that slot without searching again. (A `Hash` that varies for one key,
//!   a logic error, can give it a slot per hash; never an entry shared by
//!   two slots: a copy tells the key's slot by the stored hash, and a
//!   writer replaces a copied-in entry only under its stored hash,
//!   `RawMap::write_with`.)
//! * **A probe may stop at the first word without an entry.** Slots are
//!   claimed, never released, within a table; a key is inserted only into
//!   the first unclaimed slot of its probe sequence, so every slot before
//!   its own was claimed when it was inserted and stays claimed.
//! * **Frozen is final.** Nothing but `COPIED` is ever added to a frozen
//!   word; every writer CAS expects an unfrozen word and fails on a frozen
//!   one, so no write can land behind a copy.

use equivalent::Equivalent;
use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;

use super::pool;
use crate::error::TryReserveError;
use crate::reclaim::{ReclaimGuard, Retire};
use crate::resize::memory::{try_zeroed_slice, Zeroed};
use crate::sync::AtomicPtr;
use crate::sync::Ordering::{AcqRel, Acquire, Relaxed, Release};

/// Where the tag sits in a word: the top seven bits on 64-bit targets.
/// 32-bit targets have no spare high bits, so their tag is always 0: every
/// probe step there reads the entry (lookups compare the key; migrations
/// compare the stored hash).
const TAG_SHIFT: u32 = usize::BITS - 7;
const TAG_MASK: usize = if usize::BITS == 64 {
    0x7f << TAG_SHIFT
} else {
    0
};

/// The word bit that marks an entry a migration copied in from an older
/// table (module docs); 0 on 32-bit targets, which have no spare bit.
const INHERITED: usize = if usize::BITS == 64 { 1 << 56 } else { 0 };

/// The high bits of a word that are not address bits.
const HIGH_BITS: usize = TAG_MASK | INHERITED;

/// The tag bits of a word holding an entry with `hash`: seven low bits of
/// the hash, shifted into place (independent of the home slot, which comes
/// from the high bits of the spread hash).
#[inline]
pub(crate) fn tag_of(hash: u64) -> usize {
    ((hash as usize) << TAG_SHIFT) & TAG_MASK
}

/// One key-value pair: key and hash fixed once published, the value changed
/// only through exclusive access or dropped by a removal (`Meta`). Aligned
/// to 8 so the word has three free low bits.
///
/// `repr(C)`, key and value first: a lookup hit reads the key and the value,
/// and the stored hash, read only by migrations, comes last, where spilling
/// into the next cache line costs least. Entries are 8-aligned blocks packed
/// end to end (`pool.rs`, `slab.rs`): a 24-byte entry (word-sized key and
/// value) starts at offset 64 of its span plus a multiple of 24, so its
/// offset in a line cycles through the eight multiples of 8, and key and
/// value share a line in seven entries of eight; the eighth, at offset 56,
/// has its value in the next line (which did not show in read-heavy runs:
/// `docs/benchmarks.md`, "Issue #15"). (With the hash first, in glibc's
/// 16-aligned chunks, a 24-byte entry at offset 48 of a line had its value
/// in the next line: a second miss on half of all lookups;
/// `docs/benchmarks.md`, notes.)
#[repr(C, align(8))]
pub(crate) struct Entry<K, V> {
    pub(crate) key: K,
    /// Dropped by whoever frees the entry, or, once the key is removed,
    /// by the removal's [`RemovedValue`] (see [`Meta`]): never through a
    /// `drop_in_place` of the whole published entry. In a cell because
    /// that drop writes it while other threads may still hold the entry
    /// (a tombstone's readers compare its key and hash, never its value).
    value: UnsafeCell<V>,
    /// The key's full hash, stored so that helpers and migrations never call
    /// the user's `Hash` (which may be slow or panic), and the entry's
    /// reclamation state.
    meta: Meta,
}

// SAFETY: shared entries are only read (the key, the hash, the value),
// except the value's one drop (a removal's `RemovedValue`), which runs once
// no thread can read the value any more, and the state bits, which are
// atomic; so sharing an entry is sharing its key and value. (That drop may
// run on another thread than the insert's: moving `V` across threads,
// which needs `V: Send`, as the map's own `Send`/`Sync` bounds require.)
unsafe impl<K: Sync, V: Sync> Sync for Entry<K, V> {}

impl<K, V> Entry<K, V> {
    /// The key and the value, for as long as the entry is borrowed.
    #[inline]
    pub(crate) fn pair(&self) -> (&K, &V) {
        (&self.key, self.value())
    }

    /// The value, for as long as the entry is borrowed.
    #[inline]
    pub(crate) fn value(&self) -> &V {
        // SAFETY: the value is written only through exclusive access to the
        // map (`get_mut`, `iter_mut`, `values_mut`, which borrow it for
        // their whole use), and by its drop, which runs when no reference
        // to a live entry's value remains: the entry's owner frees it, or a
        // removal's grace period has passed, after which nothing reads a
        // tombstone's value (`Meta`).
        unsafe { &*self.value.get() }
    }

    /// A pointer to the value of `entry`, for its drop or for exclusive
    /// access.
    ///
    /// # Safety
    ///
    /// `entry` points to an entry (allocated, not yet given back).
    #[inline]
    pub(crate) unsafe fn value_ptr(entry: *mut Self) -> *mut V {
        // SAFETY: the caller's: `entry` is in bounds of its allocation, so
        // the field projection is too; nothing is read or written.
        unsafe { UnsafeCell::raw_get(std::ptr::addr_of!((*entry).value)) }
    }

    /// The key's full hash (as [`RawMap::hash`](super::RawMap::hash)
    /// computes it: its top [`STATE_BITS`] bits are clear).
    #[inline]
    pub(crate) fn hash(&self) -> u64 {
        self.meta.hash()
    }

    /// The entry's key as a probe that follows this entry compares it:
    /// [`StoredKey`].
    #[inline]
    pub(crate) fn stored_key(&self) -> StoredKey<'_, K> {
        StoredKey(&self.key)
    }

    /// This entry, looked up again by identity alone ([`SameEntry`]).
    pub(crate) fn same_entry(&self) -> SameEntry<'_, K> {
        SameEntry(&self.key)
    }

    /// Marks the entry removed: its value's drop is pending
    /// ([`RemovedValue`]). Called once, by the writer whose CAS deleted
    /// it, before it retires that drop.
    pub(crate) fn mark_removed(&self) {
        self.meta.mark_removed();
    }
}

/// The key of an entry seen in a slot, as the paths that follow that entry
/// look it up again once [`SameEntry`] no longer finds it (replaced or
/// removed since): a walk that met the entry's slot copied forward
/// (`iter::current`) and a sweep judging the key again (`retain`).
/// It matches a stored key that is the same key object, the entry itself
/// (only a resize's copy moves an entry between slots, and it moves the
/// pointer), or one that `==` calls equal.
///
/// For a lawful `Eq` the first test only skips a call whose answer is
/// `true` anyway. It matters for a key whose `Eq` is not reflexive (a
/// NaN-like key; a logic error, as in std): no lookup by `==` ever finds
/// it, so without the identity test `clear` and `retain` would leave it in
/// the map and a walk overtaken by a resize would skip it, where std's
/// `retain` and Go's `clear` remove it and a walk must yield it. The
/// identity is sound while the caller's guard pins the entry seen: its
/// block cannot be freed and reused by another entry until then.
pub(crate) struct StoredKey<'a, K>(&'a K);

/// An entry seen in a slot, looked up again by identity alone: it matches
/// the stored key that is this entry's own key object, wherever a resize's
/// copy moved the entry, and nothing else (no `Eq` is called). A sweep
/// (`retain`, `clear`) removes the entry it met and judged this way, and a
/// walk overtaken by a resize finds the entry it met this way, so an `Eq`
/// that says yes to other keys (a logic error) cannot turn the removal
/// onto another entry of the probe sequence, nor the walk (found by an
/// outside review: `clear` left about a third of the entries in such a
/// map, where std's `clear` empties it). Sound while the caller's guard
/// pins the entry, as for [`StoredKey`].
pub(crate) struct SameEntry<'a, K>(&'a K);

impl<K> Equivalent<K> for SameEntry<'_, K> {
    #[inline]
    fn equivalent(&self, key: &K) -> bool {
        std::ptr::eq(self.0, key)
    }
}

impl<K: Eq> Equivalent<K> for StoredKey<'_, K> {
    #[inline]
    fn equivalent(&self, key: &K) -> bool {
        std::ptr::eq(self.0, key) || *self.0 == *key
    }
}

/// The top bits of a stored hash, which hold an entry's reclamation state
/// instead ([`Meta`]); `RawMap::hash` clears them in every hash it
/// computes, so a stored hash and a computed one compare equal, and both
/// place a key alike. The top bits, not the low ones: the tag takes the
/// low bits, and an identity hash of small integers has its top bits
/// clear anyway.
pub(crate) const STATE_BITS: u32 = 3;

/// The hash bits of a stored hash word.
pub(crate) const HASH_MASK: u64 = u64::MAX >> STATE_BITS;

/// A removal scheduled the value's drop ([`RemovedValue`]), which has not
/// run yet: the entry is the removal's to free.
const VALUE_PENDING: u64 = 1 << 63;
/// The removal's drop of the value has run.
const VALUE_GONE: u64 = 1 << 62;
/// The entry's owner (the table that holds it, a writer that revived its
/// tombstone) let go of it.
const RELEASED: u64 = 1 << 61;

/// An entry's hash and reclamation state.
///
/// A removal leaves the entry in its slot as a keyed tombstone, which the
/// table owns until it is freed (a migration leaves tombstones behind), or
/// a writer that revives the slot retires; readers of the slot compare its
/// key until then. Its value is another matter: nothing reads the value of
/// a removed entry once the readers that saw it live are gone, so the
/// removal retires the value's drop at once ([`RemovedValue`]). Two frees
/// then race for one entry: the value's drop (after the removal's grace
/// period) and the owner's free of the rest (after its own). Whichever
/// comes second frees the entry's block:
///
/// * the removal sets `VALUE_PENDING` (a Relaxed load and store, no
///   read-modify-write: no other thread writes the state before the
///   remover unpins, and both frees wait for that);
/// * the value's drop runs, then flips `VALUE_PENDING` to `VALUE_GONE` and,
///   if `RELEASED` was set, frees the key and the block;
/// * the owner's free sets `RELEASED` and, if `VALUE_PENDING` was clear,
///   frees the key, the value unless `VALUE_GONE`, and the block. It
///   loads the state first (Acquire): with `VALUE_PENDING` clear it is
///   clear for good, and the owner frees without a read-modify-write (the
///   common case: replaced entries, a dropped map's live ones).
///
/// Both read-modify-writes are `AcqRel`, on one location, so exactly one
/// sees the other's bit, and whatever the first did to the entry (the
/// value's drop) happens-before the second's free. An entry never removed
/// has no state: its owner's free frees it whole, as before; so does one
/// whose value has no drop glue, whose removal retires nothing
/// (`RawMap::retire_removed`).
///
/// Outside loom the state sits in the top bits of the stored hash
/// (`STATE_BITS`): an entry stays key, value and hash. Loom has no way to
/// leave the hash loads out of its models, so there the state is an atomic
/// of its own beside a plain hash.
#[cfg(not(loom))]
struct Meta(crate::sync::AtomicU64);

#[cfg(loom)]
struct Meta {
    hash: u64,
    state: crate::sync::AtomicU64,
}

impl Meta {
    fn new(hash: u64) -> Meta {
        debug_assert_eq!(hash & !HASH_MASK, 0, "a hash with state bits set");
        #[cfg(not(loom))]
        return Meta(crate::sync::AtomicU64::new(hash & HASH_MASK));
        #[cfg(loom)]
        return Meta {
            hash: hash & HASH_MASK,
            state: crate::sync::AtomicU64::new(0),
        };
    }

    #[inline]
    fn hash(&self) -> u64 {
        // Relaxed: the hash bits never change after the entry is built,
        // and the Acquire load of the word that led here (or the entry's
        // construction on this thread) orders them before this load.
        #[cfg(not(loom))]
        return self.0.load(Relaxed) & HASH_MASK;
        #[cfg(loom)]
        return self.hash;
    }

    /// The word the state bits live in (outside loom, with the hash in its
    /// other bits, which the state operations below leave as they are).
    #[inline]
    fn word(&self) -> &crate::sync::AtomicU64 {
        #[cfg(not(loom))]
        return &self.0;
        #[cfg(loom)]
        return &self.state;
    }

    /// The removal's mark, made once, by the writer whose CAS deleted the
    /// entry, while it is still pinned.
    fn mark_removed(&self) {
        // A load and a store, not a read-modify-write (no locked
        // instruction): no other thread writes the word until one of the
        // two frees runs, and each runs after the remover's unpin, which
        // the reclaimer orders before it (that is its grace period), so
        // nothing can come between the two. Relaxed for the same reason;
        // readers of the hash bits read them unchanged.
        let word = self.word();
        word.store(word.load(Relaxed) | VALUE_PENDING, Relaxed);
    }

    /// The value's drop has run: flips `VALUE_PENDING` to `VALUE_GONE`,
    /// returning the word before.
    fn value_dropped(&self) -> u64 {
        // AcqRel: Release orders the value's drop before the owner's free
        // of the block (if the owner comes second); Acquire orders the
        // owner's last use before our free (if we do).
        self.word().fetch_xor(VALUE_PENDING | VALUE_GONE, AcqRel)
    }

    /// The state as the owner's free finds it, without writing: if no drop
    /// of the value is pending, none ever will be (the removal's mark
    /// happens-before the owner's free), and the owner may free at once.
    fn settled(&self) -> u64 {
        // Acquire: a `VALUE_GONE` seen here was set by the value's drop
        // (Release), which then happens-before our free of the block.
        self.word().load(Acquire) & !HASH_MASK
    }

    /// The owner lets go: sets `RELEASED`, returning the word before.
    fn release(&self) -> u64 {
        // AcqRel: as in `value_dropped`, the other side of the pair.
        self.word().fetch_or(RELEASED, AcqRel)
    }
}

impl<K, V> Retire for Entry<K, V> {
    /// The owner's free ([`Meta`]): the whole entry, or, for a removed
    /// one, the key and the block once the value's drop has run (else
    /// that drop frees them).
    unsafe fn free(ptr: *mut Self) {
        // SAFETY: the caller's: retired (or owned) once, and unreachable
        // from the map; a removal's `RemovedValue` may still be running on
        // the block (its value), which is why nothing but `meta` is
        // touched until the state says the entry is ours.
        let meta = unsafe { &(*ptr).meta };
        // Most entries freed were never removed (replaced ones, the live
        // ones of a dropped map), or their value's drop has run: a load
        // tells, and only a pending drop needs the read-modify-write.
        let mut before = meta.settled();
        if before & VALUE_PENDING != 0 {
            before = meta.release();
            if before & VALUE_PENDING != 0 {
                return;
            }
        }
        // Mutation for checking loom model 18 and the drop tests
        // (docs/verification.md): the owner drops the value even after the
        // removal's drop of it has run.
        let value = mutation!("owner_drops_gone_value") || before & VALUE_GONE == 0;
        // SAFETY: the entry is ours alone now: no drop of its value is
        // pending, and it came from `pool::alloc_with`.
        unsafe { free_rest(ptr, value) };
    }
}

/// Drops the key of `ptr`, and its value if `value`, then gives the block
/// back; each step also runs while an earlier one's panic unwinds, as a
/// struct's fields drop.
///
/// # Safety
///
/// `ptr` came from `pool::alloc_with`, nobody else uses it, and its value
/// is live exactly if `value`.
unsafe fn free_rest<K, V>(ptr: *mut Entry<K, V>, value: bool) {
    /// The value (if live) and the block, after the key.
    struct Rest<K, V>(*mut Entry<K, V>, bool);
    impl<K, V> Drop for Rest<K, V> {
        fn drop(&mut self) {
            /// The block, last.
            struct Block<K, V>(*mut Entry<K, V>);
            impl<K, V> Drop for Block<K, V> {
                fn drop(&mut self) {
                    // SAFETY: `free_rest`'s caller: from `alloc_with`, its
                    // key and value dropped, given back once.
                    unsafe { pool::release(self.0) };
                }
            }
            let block = Block(self.0);
            if self.1 {
                // SAFETY: `free_rest`'s caller: the value is live, ours.
                unsafe { std::ptr::drop_in_place(Entry::value_ptr(block.0)) };
            }
        }
    }
    let rest = Rest(ptr, value);
    // SAFETY: the caller's: the key is live and ours alone.
    unsafe { std::ptr::drop_in_place(std::ptr::addr_of_mut!((*rest.0).key)) };
}

/// A removed entry, retired as the drop of its value ([`Meta`]): the same
/// address as the entry, which stays in its slot as a tombstone.
#[repr(transparent)]
pub(crate) struct RemovedValue<K, V>(Entry<K, V>);

impl<K, V> Retire for RemovedValue<K, V> {
    /// Drops the value; frees the rest if the owner let go first.
    unsafe fn free(ptr: *mut Self) {
        /// Marks the value gone, also while its drop's panic unwinds.
        struct Gone<K, V>(*mut Entry<K, V>);
        impl<K, V> Drop for Gone<K, V> {
            fn drop(&mut self) {
                // SAFETY: the block stays ours until we or the owner free
                // it, and the owner frees it only after seeing our flip.
                let before = unsafe { &(*self.0).meta }.value_dropped();
                debug_assert_ne!(before & VALUE_PENDING, 0, "no drop was pending");
                if before & RELEASED != 0 {
                    // SAFETY: the owner let go (it saw `VALUE_PENDING`
                    // and left the rest to us); the value is gone.
                    unsafe { free_rest(self.0, false) };
                }
            }
        }
        let gone = Gone(ptr.cast::<Entry<K, V>>());
        // SAFETY: retired once, by the removal (`RawMap::retire_removed`),
        // after every reader that could reach the value live left: only
        // the key of a tombstone is read from then on.
        unsafe { std::ptr::drop_in_place(Entry::value_ptr(gone.0)) };
    }
}

/// An entry allocated but not (yet) published: freed on drop unless
/// published by a claim or replace. Holds a raw pointer, not a `Box`, because probes
/// borrow the key through it while the allocation changes hands.
pub(crate) struct Pending<K, V>(*mut Entry<K, V>);

impl<K, V> Pending<K, V> {
    pub(crate) fn new(hash: u64, key: K, value: V) -> Self {
        let ptr = pool::alloc_with(Entry {
            key,
            value: UnsafeCell::new(value),
            meta: Meta::new(hash),
        });
        if ptr.addr() & HIGH_BITS != 0 {
            // An address with any of its top 8 bits set (above 2^56, or a
            // pointer tagged in its top byte). Report it, never corrupt.
            tag_space_exhausted(ptr);
        }
        Pending(ptr)
    }

    /// The word that publishes this entry: its pointer plus the tag of its
    /// hash.
    #[inline]
    fn fresh(&self) -> Fresh<K, V> {
        Fresh(self.0.map_addr(|a| a | tag_of(self.entry().hash())))
    }

    /// The entry, for as long as this `Pending` is borrowed.
    #[inline]
    pub(crate) fn entry(&self) -> &Entry<K, V> {
        // SAFETY: `self.0` is a live allocation owned by us.
        unsafe { &*self.0 }
    }

    /// The allocation, for a write that probes with this entry's key while
    /// the `Pending` moves between its caller and the table (`raw/mod.rs`,
    /// `write_owned`, says why that is sound).
    #[inline]
    pub(crate) fn as_ptr(&self) -> *const Entry<K, V> {
        self.0
    }

    /// Takes the key and value back out of an entry that was never published.
    pub(crate) fn into_parts(self) -> (K, V) {
        let ptr = self.0;
        std::mem::forget(self);
        // SAFETY: never published, so we own the allocation alone; it came
        // from `pool::alloc_with` in `Pending::new`.
        let entry = unsafe { pool::take(ptr) };
        (entry.key, entry.value.into_inner())
    }
}

#[cold]
fn tag_space_exhausted<T>(ptr: *mut T) -> ! {
    panic!(
        "lfmap: the allocator returned address {ptr:p}, whose top 8 bits are \
         not zero; lfmap keeps a hash tag and a flag there and cannot run on \
         this platform"
    )
}

impl<K, V> fmt::Debug for Pending<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pending").field(self.entry()).finish()
    }
}

impl<K, V> Drop for Pending<K, V> {
    fn drop(&mut self) {
        // SAFETY: never published, so never shared: we own it alone; from
        // `pool::alloc_with`.
        unsafe { pool::free(self.0) };
    }
}

const DELETED: usize = 0b001;
const FROZEN: usize = 0b010;
const COPIED: usize = 0b100;
const FLAGS: usize = 0b111;

/// A slot word loaded under a guard that lives for `'g`: an entry pointer
/// with tag and flag bits. The entry it points to (live or a tombstone)
/// stays valid for `'g` (reclaim contract 1), so reading it is safe.
pub(crate) struct Word<'g, K, V> {
    raw: *mut Entry<K, V>,
    _guard: PhantomData<&'g Entry<K, V>>,
}

impl<K, V> Clone for Word<'_, K, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K, V> Copy for Word<'_, K, V> {}

/// What a slot holds, as an enum (its flags aside): see [`Word::view`].
#[derive(Debug)]
pub(crate) enum Held<'g, K, V> {
    /// No entry was ever placed here.
    Nothing,
    /// The key's current entry.
    Live(&'g Entry<K, V>),
    /// A keyed tombstone: the key was removed; the slot keeps its last
    /// entry so the key stays recognisable ([`Word::entry`]).
    Removed,
}

impl<'g, K, V> Word<'g, K, V> {
    /// A word loaded from a slot under a guard alive for `'g`.
    #[inline]
    fn loaded(raw: *mut Entry<K, V>) -> Self {
        Word {
            raw,
            _guard: PhantomData,
        }
    }
    /// The tag bits (compare with [`tag_of`]).
    #[inline]
    pub(crate) fn tag(self) -> usize {
        self.raw.addr() & TAG_MASK
    }
    #[inline]
    fn with(self, flag: usize) -> Self {
        Word::loaded(self.raw.map_addr(|a| a | flag))
    }
    #[inline]
    fn has(self, flag: usize) -> bool {
        self.raw.addr() & flag != 0
    }
    /// The entry pointer without tag and flags (null for an empty slot):
    /// an identity, for comparisons and retirement.
    #[inline]
    pub(crate) fn ptr(self) -> *mut Entry<K, V> {
        self.raw.map_addr(|a| a & !(FLAGS | HIGH_BITS))
    }
    /// Whether the entry may also be in an older table's slot: it came
    /// from there by a migration's copy (module docs). Always true on
    /// targets without the bit.
    #[inline]
    pub(crate) fn inherited(self) -> bool {
        // Mutation for checking the loom models (docs/verification.md): take
        // every entry for one placed here first, so a replaced copy is
        // retired while the older table still leads readers to it.
        if mutation!("retire_inherited_at_once") {
            return false;
        }
        INHERITED == 0 || self.has(INHERITED)
    }
    /// No entry was ever placed here (the slot may be frozen).
    #[inline]
    pub(crate) fn is_vacant(self) -> bool {
        self.ptr().is_null()
    }
    /// Never claimed, not frozen: the only state a claim or seal may CAS from.
    #[inline]
    pub(crate) fn is_unclaimed(self) -> bool {
        self.raw.is_null()
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
    /// The entry the slot points to, live or a tombstone (`None` if vacant).
    #[inline]
    pub(crate) fn entry(self) -> Option<&'g Entry<K, V>> {
        // SAFETY: a non-null entry pointer loaded under a guard alive for
        // `'g` stays valid for `'g` (reclaim contract 1): `Word<'g>` is only
        // made from loads and CAS results under such a guard.
        unsafe { self.ptr().as_ref() }
    }
    /// The live entry, if the slot holds one (not deleted, not vacant).
    #[inline]
    pub(crate) fn live(self) -> Option<&'g Entry<K, V>> {
        if self.deleted() {
            None
        } else {
            self.entry()
        }
    }
    /// What the slot holds, as an enum.
    #[inline]
    pub(crate) fn view(self) -> Held<'g, K, V> {
        match self.entry() {
            None => Held::Nothing,
            Some(_) if self.deleted() => Held::Removed,
            Some(e) => Held::Live(e),
        }
    }
}

impl<K, V> fmt::Debug for Word<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = match self.view() {
            Held::Nothing => "nothing",
            Held::Live(_) => "live",
            Held::Removed => "removed",
        };
        f.debug_struct("Word")
            .field("holds", &held)
            .field("entry", &self.ptr())
            .field("tag", &(self.tag() >> TAG_SHIFT))
            .field("frozen", &self.frozen())
            .field("copied", &self.copied())
            .field("inherited", &self.inherited())
            .finish()
    }
}

impl<K, V> fmt::Debug for Entry<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("hash", &format_args!("{:#018x}", self.hash()))
            .finish_non_exhaustive()
    }
}

/// A word a claim or replace installs: a tagged pointer to an entry with
/// no flags, from a [`Pending`] or moved from an older table's slot.
pub(crate) struct Fresh<K, V>(*mut Entry<K, V>);

impl<K, V> Fresh<K, V> {
    /// The word that carries `w`'s entry into another table: the same
    /// entry and tag, flags cleared, marked `INHERITED`. `w` must hold an
    /// entry.
    #[inline]
    pub(crate) fn moved(w: Word<'_, K, V>) -> Self {
        debug_assert!(!w.is_vacant());
        Fresh(w.raw.map_addr(|a| (a & !FLAGS) | INHERITED))
    }
}

/// A table's slot array: one word per slot, every transition a method.
pub(crate) struct Slots<K, V> {
    words: Zeroed<AtomicPtr<Entry<K, V>>>,
    /// The slots own entries (live ones and tombstones): the table is
    /// `Send`/`Sync` only when the keys and values are.
    _owns: PhantomData<Box<Entry<K, V>>>,
}

impl<K, V> Slots<K, V> {
    /// `n` empty slots, from zeroed memory (`resize/memory.rs`).
    pub(crate) fn try_new(n: usize) -> Result<Self, TryReserveError> {
        Ok(Slots {
            words: try_zeroed_slice(n)?,
            _owns: PhantomData,
        })
    }

    /// How many memory steps fault the slot array in (`memory::steps`).
    pub(crate) fn memory_steps(&self) -> usize {
        crate::resize::memory::steps(&self.words)
    }

    /// Faults in memory step `k` of the slot array (`memory::populate`).
    pub(crate) fn populate(&self, k: usize) {
        crate::resize::memory::populate(&self.words, k);
    }

    /// Loads slot `i`'s word under `guard`, which must be a pin of the map
    /// that owns this table and must keep the table itself alive for `'g`:
    /// it loaded the table from the root or a `next` pointer, or (rayon's
    /// workers, `rayon_impls.rs`) it was pinned after the guard that did,
    /// which lives longer (reclaim contract 4). The `Word<'g>` then stays
    /// valid for `'g`.
    #[inline]
    pub(crate) fn load<'g>(&self, i: usize, guard: &'g impl ReclaimGuard) -> Word<'g, K, V> {
        Word::loaded(guard.protect(&self.words[i]))
    }

    /// Which of slots `start..start + n` (`1 <= n <= 64`) looked live: bit `j`
    /// set if slot `start + j` held a live entry when scanned. A walk's hint
    /// (`iter.rs`), not a view: the walk loads each marked slot again with
    /// [`load`](Self::load) before it yields anything, and skips unmarked
    /// slots, which were empty or removed at the scan (a key present
    /// throughout a walk is live in its slot at every moment of it).
    ///
    /// The scan then asks the processor to fetch the marked slots' entries
    /// (only those: a prefetch per slot cost more than it saved in tables
    /// that fit in cache), so the walk's misses on them overlap instead of
    /// coming one per entry (docs/benchmarks.md, "Walks").
    /// (Not called under loom: `iter::Walk` marks every slot there.)
    #[inline]
    pub(crate) fn live_hint(&self, start: usize, n: usize) -> u64 {
        let mut live = 0u64;
        let mut entries = [std::ptr::null::<Entry<K, V>>(); 64];
        // First the scan, free of branches: whether a slot is live in a
        // table being filled is a coin toss the branch predictor loses.
        for (j, word) in self.words[start..start + n].iter().enumerate() {
            // Acquire, as `load`: the same view of the slot a walk's own
            // load would have (on x86 and AArch64 as cheap as Relaxed).
            let w = Word::<K, V>::loaded(word.load(Acquire));
            entries[j] = w.ptr();
            let is_live = !w.is_vacant() && !w.deleted();
            live |= u64::from(is_live) << j;
        }
        let mut marked = live;
        while marked != 0 {
            crate::resize::memory::prefetch(entries[marked.trailing_zeros() as usize]);
            marked &= marked - 1;
        }
        live
    }

    /// **claim**: `empty -> E`: the linearization point of inserting a new
    /// key. Fails with the word found if the slot is no longer unclaimed.
    #[inline]
    pub(crate) fn claim<'g>(
        &self,
        i: usize,
        new: &Fresh<K, V>,
        _guard: &'g impl ReclaimGuard,
    ) -> Result<(), Word<'g, K, V>> {
        // Release on success: publishes the entry's initialisation to every
        // thread that later loads the word with Acquire. Acquire on failure:
        // the caller dereferences the entry it lost to (under `_guard`).
        self.words[i]
            .compare_exchange(std::ptr::null_mut(), new.0, Release, Acquire)
            .map(drop)
            .map_err(Word::loaded)
    }

    /// **claim** with a new entry: on success the table owns `entry` and
    /// the entry is returned, protected by the guard from now on; on failure
    /// `entry` comes back with the word found.
    #[inline]
    #[allow(clippy::type_complexity)]
    pub(crate) fn claim_pending<'g>(
        &self,
        i: usize,
        entry: Pending<K, V>,
        guard: &'g impl ReclaimGuard,
    ) -> Result<&'g Entry<K, V>, (Pending<K, V>, Word<'g, K, V>)> {
        match self.claim(i, &entry.fresh(), guard) {
            // SAFETY: the claim CAS, made under `guard`, published it.
            Ok(()) => Ok(unsafe { publish(entry) }),
            Err(seen) => Err((entry, seen)),
        }
    }

    /// **replace** / **revive**: `cur -> entry` where `cur` is unfrozen and
    /// holds the same key (live or a keyed tombstone). The linearization
    /// point of insert-over-existing and of update. On success the table
    /// owns `entry`, which is returned; on failure `entry` comes back.
    #[inline]
    #[allow(clippy::type_complexity)]
    pub(crate) fn replace<'g>(
        &self,
        i: usize,
        cur: Word<'g, K, V>,
        entry: Pending<K, V>,
    ) -> Result<&'g Entry<K, V>, (Pending<K, V>, Word<'g, K, V>)> {
        let new = entry.fresh();
        debug_assert_eq!(
            cur.tag(),
            new.0.addr() & TAG_MASK,
            "a slot belongs to one key"
        );
        debug_assert!(
            !cur.inherited() || cur.entry().map(Entry::hash) == Some(entry.entry().hash()),
            "a copied-in entry is replaced only under its own hash"
        );
        debug_assert!(!cur.is_vacant() && !cur.frozen());
        // Release on success: publishes `new`'s initialisation. Acquire on
        // failure: the caller re-reads the entry it lost to.
        match self.words[i].compare_exchange(cur.raw, new.0, Release, Acquire) {
            // SAFETY: the replace CAS published it; `cur` was loaded under a
            // guard alive for `'g`, which protects what the slot holds.
            Ok(_) => Ok(unsafe { publish(entry) }),
            Err(seen) => Err((entry, Word::loaded(seen))),
        }
    }

    /// **delete**: `E -> E|DELETED`. The linearization point of remove.
    #[inline]
    pub(crate) fn delete<'g>(&self, i: usize, cur: Word<'g, K, V>) -> Result<(), Word<'g, K, V>> {
        debug_assert!(cur.live().is_some() && !cur.frozen());
        // Release on success: orders the removal after everything this
        // thread did before (a later revive of the same key sees it). Acquire
        // on failure: the caller re-reads the entry it lost to.
        self.words[i]
            .compare_exchange(cur.raw, cur.with(DELETED).raw, Release, Acquire)
            .map(drop)
            .map_err(Word::loaded)
    }

    /// **seal**: `empty -> FROZEN`. Closes an unclaimed slot so no key can be
    /// inserted here any more; used both by chunk migration and by a writer
    /// sealing the end of its key's probe sequence.
    #[inline]
    pub(crate) fn seal<'g>(
        &self,
        i: usize,
        _guard: &'g impl ReclaimGuard,
    ) -> Result<(), Word<'g, K, V>> {
        let frozen = std::ptr::null_mut::<Entry<K, V>>().map_addr(|a| a | FROZEN);
        // Release on success: a reader that sees FROZEN (Acquire) also sees
        // the `next` table this thread loaded before sealing. Acquire on
        // failure: the caller dereferences the entry that was claimed.
        self.words[i]
            .compare_exchange(std::ptr::null_mut(), frozen, Release, Acquire)
            .map(drop)
            .map_err(Word::loaded)
    }

    /// **freeze**: sets `FROZEN` on slot `i` whatever its state; returns the
    /// frozen word. Lock-free: each failed CAS means another thread changed
    /// the word, i.e. made progress.
    pub(crate) fn freeze<'g>(&self, i: usize, guard: &'g impl ReclaimGuard) -> Word<'g, K, V> {
        let mut cur = self.load(i, guard);
        loop {
            if cur.frozen() {
                return cur;
            }
            // AcqRel on success: Release so a reader that sees FROZEN also
            // sees the next table (installed before any freeze); Acquire so
            // the copier reads the final entry. Acquire on failure: retry
            // with the entry we lost to.
            match self.words[i].compare_exchange(cur.raw, cur.with(FROZEN).raw, AcqRel, Acquire) {
                Ok(_) => return cur.with(FROZEN),
                Err(seen) => cur = Word::loaded(seen),
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
    pub(crate) fn mark_copied(&self, i: usize, frozen: Word<'_, K, V>) {
        debug_assert!(frozen.frozen());
        // Release: a reader that sees COPIED (Acquire) goes to the next
        // table and must find the copy, which this thread placed there (or
        // saw placed there, with Acquire) before.
        self.words[i].store(frozen.with(COPIED).raw, Release);
    }

    /// Asks the CPU to start loading the entries of slots `range`, before a
    /// migration copies them. Copying needs each entry's stored hash, and
    /// entries are scattered over the heap: loaded one after the other, every
    /// copy waits for its own cache miss (89% of the copy's samples in a
    /// profile of rapid growth). Prefetched together, the misses overlap.
    ///
    /// Only a hint: the words are read Relaxed and nothing is dereferenced
    /// (a prefetch of a stale address cannot fault).
    #[inline]
    pub(crate) fn prefetch_entries(&self, range: Range<usize>) {
        // Not under loom: the load would be a step of every model.
        #[cfg(not(loom))]
        for i in range {
            let entry = self.words[i]
                .load(Relaxed)
                .map_addr(|a| a & !(FLAGS | HIGH_BITS));
            // The line holding the stored hash, which the copy reads.
            let hash = std::mem::offset_of!(Entry<K, V>, meta);
            crate::resize::memory::prefetch(entry.cast::<u8>().wrapping_add(hash));
        }
        #[cfg(loom)]
        let _ = range;
    }

    /// Asks the CPU to start loading the cache lines of slots `range`: the
    /// successor's slots that a sub-chunk's copies will claim, when the
    /// successor splits this table (`Table::prepare_copy`), or a key's home
    /// slot while a resize runs (`Generation::prefetch_home`). Only a hint,
    /// as above: nothing is read.
    #[inline]
    pub(crate) fn prefetch_slots(&self, range: Range<usize>) {
        crate::resize::memory::prefetch_lines(&self.words, range);
    }

    /// Takes the live entry of slot `i` out of a table this thread owns
    /// exclusively, leaving the slot vacant; `None` if it holds no live,
    /// owned entry (vacant, a tombstone, or handed to the next table).
    pub(crate) fn take_live(&mut self, i: usize) -> Option<(K, V)> {
        let w = self.owned_live(i)?;
        self.words[i].store(std::ptr::null_mut(), Relaxed);
        // SAFETY: the table owns this live entry (not deleted, not handed
        // on), we have exclusive access, and the slot no longer points to it.
        // From `pool::alloc_with`, like every entry.
        let entry = unsafe { pool::take(w.ptr()) };
        Some((entry.key, entry.value.into_inner()))
    }

    /// The live entry of slot `i` of a table this thread owns
    /// exclusively, left in place (what [`take_live`](Self::take_live)
    /// would take): for the owning iterators' `Debug`.
    ///
    /// # Safety
    ///
    /// The table is owned by the caller alone (no other thread can reach
    /// it, and nothing of it is retired to a reclaimer): its live entries
    /// are then freed or taken only through `&mut self`.
    pub(crate) unsafe fn peek_live(&self, i: usize) -> Option<&Entry<K, V>> {
        let w = self.owned_live(i)?;
        // SAFETY: the table owns this live entry (not deleted, not handed
        // on), and its exclusive owner (the caller's contract) frees or
        // takes it only through `&mut self`, which this borrow excludes.
        Some(unsafe { &*w.ptr() })
    }

    /// Slot `i`'s word, if it holds a live entry this table owns (not
    /// vacant, not a tombstone, not handed to a next table), for a table
    /// owned alone ([`take_live`](Self::take_live),
    /// [`peek_live`](Self::peek_live)).
    fn owned_live(&self, i: usize) -> Option<Word<'_, K, V>> {
        // Relaxed: exclusive access (every write happened-before it).
        let w = Word::<K, V>::loaded(self.words[i].load(Relaxed));
        (!w.is_vacant() && !w.deleted() && !w.copied()).then_some(w)
    }

    /// The number of slots.
    pub(crate) fn len(&self) -> usize {
        self.words.len()
    }

    /// Frees entries the table owns, for a table that nothing can reach
    /// any more: keyed tombstones, and live entries not handed to a next
    /// table. Frees at most `budget` of them, from slot `from` on, looking
    /// at no more than [`SCANNED_PER_FREE`] slots per entry of the budget,
    /// and returns the slot to go on from: [`len`](Self::len) once every
    /// owned entry is freed. With a bounded budget, each freed entry's
    /// slot is emptied first, so a step that a panicking `Drop` cut short
    /// is simply resumed: nothing is freed twice, and nothing after the
    /// panic is lost. (`usize::MAX`, a table's drop, frees to the end.)
    ///
    /// Entries are freed a group at a time: the group's lines are
    /// prefetched while the scan finds them, so that their misses overlap
    /// instead of each free waiting for its own (a retired table's entries
    /// are cold by the time it is freed). The scan itself is a mask of up
    /// to 64 slots at a time, built without branches ([`owned_mask`]):
    /// whether a slot of a churned table owns an entry is a coin toss the
    /// branch predictor loses.
    ///
    /// [`owned_mask`]: Self::owned_mask
    pub(crate) fn free_owned(&mut self, from: usize, budget: usize) -> usize {
        /// Entries whose lines are fetched together.
        const GROUP: usize = 8;
        let len = self.words.len();
        let end = from
            .saturating_add(budget.saturating_mul(SCANNED_PER_FREE))
            .min(len);
        // The step's words, fetched together: the array is cold, and read
        // one line after another each word's line would be its own miss.
        // (Up to 32 lines; a step that ends early leaves the rest cached
        // for the next.)
        self.prefetch_slots(from..end.min(from.saturating_add(PREFETCHED_WORDS)));
        // An unbounded call (a table's drop) is never resumed: its slots
        // are left as they are (under loom, no store is added to the
        // models' frees).
        let resumable = budget != usize::MAX;
        // `mask` marks the owning slots of `base..at` not yet freed.
        let (mut at, mut base, mut mask, mut left) = (from, from, 0u64, budget);
        while left > 0 && (mask != 0 || at < end) {
            let mut group = [0usize; GROUP];
            let mut n = 0;
            while n < GROUP.min(left) {
                if mask == 0 {
                    if at == end {
                        break;
                    }
                    let k = (end - at).min(64);
                    (base, mask) = (at, self.owned_mask(at, k));
                    at += k;
                    continue;
                }
                let i = base + mask.trailing_zeros() as usize;
                mask &= mask - 1;
                // Relaxed: exclusive access (every write happened-before it).
                let w = Word::<K, V>::loaded(self.words[i].load(Relaxed));
                crate::resize::memory::prefetch(w.ptr());
                group[n] = i;
                n += 1;
            }
            for &i in &group[..n] {
                // Relaxed: exclusive access, as above.
                let w = Word::<K, V>::loaded(self.words[i].load(Relaxed));
                if resumable {
                    self.words[i].store(std::ptr::null_mut(), Relaxed);
                }
                // SAFETY: owned by this table alone (`owned_mask`), which
                // nothing can reach any more; freed once, here: a later
                // call resumes only a bounded one, which emptied the slot.
                unsafe { Entry::free(w.ptr()) };
            }
            left -= n;
        }
        // Where the next call goes on: the first owning slot this one left
        // (the budget ran out inside a mask), else past what it scanned.
        if mask != 0 {
            base + mask.trailing_zeros() as usize
        } else {
            at
        }
    }

    /// Which of the `n <= 64` slots from `start` hold an entry this table
    /// owns: bit `j` is set if slot `start + j` holds a keyed tombstone,
    /// or a live entry not handed to a next table. For a table owned
    /// alone ([`free_owned`](Self::free_owned)); branch-free, so that a
    /// churned table's random pattern costs no mispredictions.
    fn owned_mask(&self, start: usize, n: usize) -> u64 {
        debug_assert!(n <= 64);
        let mut mask = 0u64;
        for (j, word) in self.words[start..start + n].iter().enumerate() {
            // Relaxed: exclusive access (every write happened-before it).
            let w = Word::<K, V>::loaded(word.load(Relaxed));
            // `&` and `|`, not `&&` and `||`: no branch per slot.
            let owned = !w.is_vacant() & (w.deleted() | !w.copied());
            mask |= u64::from(owned) << j;
        }
        mask
    }
}

/// Slots a step of [`Slots::free_owned`] looks at, at most, per entry it
/// may free: a step over a table with few owned entries left still ends
/// soon (16 slots are two cache lines of the array, read in order).
const SCANNED_PER_FREE: usize = 16;

/// Words of the array a step of [`Slots::free_owned`] fetches ahead as it
/// starts: what a step of 16 entries scans at most.
const PREFETCHED_WORDS: usize = 256;

/// Hands a claimed or replaced entry's ownership to the table; it is then
/// read through the guard that protected the CAS.
///
/// # Safety
///
/// A successful CAS made under a guard alive for `'g` has just published
/// `entry` in a slot.
#[inline]
unsafe fn publish<'g, K, V>(entry: Pending<K, V>) -> &'g Entry<K, V> {
    let ptr = entry.0;
    std::mem::forget(entry);
    // SAFETY: published under a guard alive for `'g` (the contract): the
    // entry is retired only after being unlinked, and freed only after
    // that guard is dropped.
    unsafe { &*ptr }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::reclaim::{Reclaim, Reclaimer};

    /// Every transition of one slot, through the enum view and `Debug`.
    #[test]
    fn transitions_and_views() {
        let reclaim = Reclaimer::new();
        let g = reclaim.pin();
        let slots = Slots::<u64, u64>::try_new(16).unwrap();
        let empty = slots.load(3, &g);
        assert!(empty.is_unclaimed() && matches!(empty.view(), Held::Nothing));

        let e = slots
            .claim_pending(3, Pending::new(0x55, 7, 70), &g)
            .unwrap();
        assert_eq!((e.key, *e.value(), e.hash()), (7, 70, 0x55));
        let live = slots.load(3, &g);
        assert!(matches!(live.view(), Held::Live(x) if std::ptr::eq(x, e)));
        assert_eq!(live.tag(), tag_of(0x55));
        let (lost, seen) = slots
            .claim_pending(3, Pending::new(0x56, 8, 80), &g)
            .unwrap_err();
        assert_eq!(seen.ptr(), live.ptr());
        assert_eq!(lost.into_parts(), (8, 80));

        slots.delete(3, live).unwrap();
        let removed = slots.load(3, &g);
        assert!(matches!(removed.view(), Held::Removed));
        assert!(removed.live().is_none() && removed.entry().is_some());
        assert!(slots.delete(3, live).is_err(), "a stale word must not win");

        let revived = slots
            .replace(3, removed, Pending::new(0x55, 7, 71))
            .unwrap();
        assert_eq!(*revived.value(), 71);
        assert_eq!(slots.load(3, &g).inherited(), INHERITED == 0);
        // SAFETY: unlinked by the replace above; this test owns it alone.
        unsafe { Entry::free(removed.ptr()) };

        let frozen = slots.freeze(3, &g);
        assert!(frozen.frozen() && !frozen.copied());
        assert_eq!(slots.freeze(3, &g).ptr(), frozen.ptr(), "frozen is final");
        slots.mark_copied(3, frozen);
        let copied = slots.load(3, &g);
        assert!(copied.copied() && copied.live().is_some());
        let shown = format!("{copied:?}");
        assert!(
            shown.contains("live") && shown.contains("copied: true"),
            "{shown}"
        );

        slots.seal(4, &g).unwrap();
        let sealed = slots.load(4, &g);
        assert!(sealed.is_vacant() && sealed.frozen() && !sealed.is_unclaimed());
        assert!(slots.seal(4, &g).is_err());
        assert!(slots.claim(4, &Fresh::moved(copied), &g).is_err());

        // A migration's copy is marked inherited, with the same entry and
        // tag; a writer's own claim is not (on targets with the bit).
        assert_eq!(live.inherited(), INHERITED == 0);
        slots.claim(5, &Fresh::moved(copied), &g).unwrap();
        let moved = slots.load(5, &g);
        assert!(moved.inherited() && !moved.frozen() && !moved.copied());
        assert_eq!((moved.ptr(), moved.tag()), (copied.ptr(), copied.tag()));
        assert!(format!("{moved:?}").contains("inherited: true"));
        let moved_frozen = slots.freeze(5, &g);
        assert!(moved_frozen.inherited() && moved_frozen.ptr() == copied.ptr());

        // SAFETY: the test owns the one live entry left (in slots 3 and 5,
        // as after a copy); nothing else frees it.
        unsafe { Entry::free(copied.ptr()) };
    }

    /// A value that notes its drop, by id, and panics in the drop of id
    /// `bomb` (after noting it).
    struct Noted {
        id: usize,
        bomb: usize,
        dropped: std::sync::Arc<std::sync::Mutex<Vec<usize>>>,
    }

    impl Drop for Noted {
        fn drop(&mut self) {
            self.dropped.lock().unwrap().push(self.id);
            if self.id == self.bomb {
                panic!("planned: the drop of entry {}", self.id);
            }
        }
    }

    /// `free_owned` over a sparse, mixed table (vacant slots, live
    /// entries, keyed tombstones, and live entries handed to a next table,
    /// which it must leave alone), at budgets that end steps inside the
    /// 64-slot masks of its scan: each step frees at most its budget,
    /// every owning slot before the position it returns is freed, and in
    /// the end exactly the owned entries are dropped, each once. One
    /// owned entry's `Drop` panics, at a place that differs by budget: the
    /// step it cuts short is resumed from where it began.
    #[test]
    fn steps_free_exactly_the_owned_entries_at_any_budget() {
        const N: usize = 700;
        for (budget, bomb) in [(1, 100), (3, 257), (7, 64), (16, 390), (40, 600)] {
            let reclaim = Reclaimer::new();
            let g = reclaim.pin();
            let dropped = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let mut slots = Slots::<usize, Noted>::try_new(N).unwrap();
            let (mut owned, mut copied) = (Vec::new(), Vec::new());
            let mut fired = false;
            let mut x = 0x2545_f491_4f6c_dd1du64;
            for i in 0..N {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let kind = x % 20;
                if kind < 9 {
                    continue;
                }
                // The first owned slot at or after `bomb` panics in its drop.
                let armed = kind <= 15 && i >= bomb && !std::mem::replace(&mut fired, true);
                let value = Noted {
                    id: i,
                    bomb: if armed { i } else { usize::MAX },
                    dropped: dropped.clone(),
                };
                assert!(slots
                    .claim_pending(i, Pending::new(i as u64, i, value), &g)
                    .is_ok());
                match kind {
                    9..=11 => owned.push(i),
                    12..=15 => {
                        slots.delete(i, slots.load(i, &g)).unwrap();
                        owned.push(i);
                    }
                    _ => {
                        let frozen = slots.freeze(i, &g);
                        slots.mark_copied(i, frozen);
                        copied.push(frozen.ptr());
                    }
                }
            }
            drop(g);
            assert!(fired, "budget {budget}: no owned slot at or after {bomb}");
            let (mut at, mut panics) = (0, 0);
            while at < N {
                let before = dropped.lock().unwrap().len();
                let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    slots.free_owned(at, budget)
                }));
                let freed = dropped.lock().unwrap().len() - before;
                assert!(freed <= budget, "budget {budget}: a step freed {freed}");
                let Ok(next) = step else {
                    panics += 1;
                    continue;
                };
                assert!(next > at, "budget {budget}: no progress at {at}");
                assert!(next <= N, "budget {budget}: past the end ({next})");
                let done = dropped.lock().unwrap().clone();
                for &i in owned.iter().filter(|&&i| i < next) {
                    assert!(done.contains(&i), "budget {budget}: slot {i} skipped");
                }
                at = next;
            }
            assert_eq!(panics, 1, "budget {budget}: the bomb went off once");
            let mut ids = std::mem::take(&mut *dropped.lock().unwrap());
            ids.sort_unstable();
            assert_eq!(ids, owned, "budget {budget}: owned entries dropped once");
            assert_eq!(slots.free_owned(0, usize::MAX), N);
            assert!(dropped.lock().unwrap().is_empty(), "a copied entry freed");
            let handed_on = copied.len();
            for ptr in copied {
                // SAFETY: handed on, so not the table's: the test owns it.
                unsafe { Entry::free(ptr) };
            }
            let late = dropped.lock().unwrap().len();
            assert_eq!(late, handed_on, "the handed-on entries were left alone");
        }
    }

    /// `free_owned` frees a table's owned entries (live ones not handed
    /// on, and keyed tombstones) a budget at a time, and a step cut short
    /// by a panicking `Drop` is resumed from where it started: every entry
    /// is dropped exactly once.
    #[test]
    fn owned_entries_are_freed_in_steps_and_a_panicking_step_is_resumed() {
        const N: usize = 1024;
        const BUDGET: usize = 16;
        let reclaim = Reclaimer::new();
        let g = reclaim.pin();
        let dropped = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut slots = Slots::<usize, Noted>::try_new(N).unwrap();
        let mut owned = 0;
        // Two claimed slots in three; every other claimed one deleted: live
        // entries and keyed tombstones, both owned by the table.
        for i in (0..N).filter(|i| i % 3 != 0) {
            let value = Noted {
                id: i,
                bomb: 500,
                dropped: dropped.clone(),
            };
            let e = slots.claim_pending(i, Pending::new(i as u64, i, value), &g);
            assert!(e.is_ok());
            if i % 2 == 0 {
                slots.delete(i, slots.load(i, &g)).unwrap();
            }
            owned += 1;
        }
        drop(g);
        let (mut at, mut steps, mut panics) = (0, 0, 0);
        while at < N {
            let before = dropped.lock().unwrap().len();
            let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                slots.free_owned(at, BUDGET)
            }));
            let freed = dropped.lock().unwrap().len() - before;
            assert!(freed <= BUDGET, "a step freed {freed} entries");
            match step {
                Ok(next) => {
                    assert!(next > at || freed > 0, "a step made no progress");
                    at = next;
                }
                Err(_) => panics += 1,
            }
            steps += 1;
        }
        assert_eq!(panics, 1);
        assert!(steps > owned / BUDGET, "{steps} steps for {owned} entries");
        let mut ids = std::mem::take(&mut *dropped.lock().unwrap());
        ids.sort_unstable();
        let want: Vec<usize> = (0..N).filter(|i| i % 3 != 0).collect();
        assert_eq!(ids, want, "every owned entry dropped exactly once");
        assert_eq!(slots.free_owned(0, usize::MAX), N, "nothing left to free");
        assert!(dropped.lock().unwrap().is_empty());
    }
}
