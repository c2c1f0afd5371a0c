//! The `WordMap` slot protocol: what a slot's bits mean and every state
//! transition, each one CAS on the slot's 128-bit unit (or, for
//! `mark_copied`, a store). `word/raw.rs` strings these into operations and
//! migrations; this file is the whole protocol at the level of one slot.
//!
//! # Why 128 bits
//!
//! A `WordMap` slot must hold a 64-bit key, a 64-bit value and a few state
//! bits, and must be lock-free with no reserved key or value. Two needs fix
//! the layout:
//!
//! * **State and value change together.** A migration freezes a slot and
//!   then copies its value; a writer's value CAS that could still land after
//!   the freeze would be lost. So the freeze and every value write must be
//!   CASes on one atomic unit holding both: 64 value bits plus state bits
//!   are more than a word, hence a 128-bit unit `{meta, value}`.
//! * **A claim must publish the key.** An inserter that finds a slot claimed
//!   by a key it cannot read yet would have to wait (or risk inserting its
//!   key twice). So the claim CAS itself must carry the whole key.
//!
//! `meta` holds the key's low 56 bits and the state. The key's top byte is
//! zero for every key type below 8 bytes and for every 64-bit key below
//! 2^56 (counters, ids): then the claim is one CAS and a probe one 16-byte
//! load. Otherwise (`HIGH` set) the claim parks the top byte in the value
//! half (*pending*: no value yet), anyone who needs the key completes the
//! slot by copying the byte into the table's `high` array and installing a
//! value with a second CAS. A pending slot is readable (its whole key is in
//! the unit) and *helpable*: another inserter of the same key completes it
//! with its own value, so nobody ever waits for a stalled claimer.
//!
//! # Bits of `meta`
//!
//! | bits | name | meaning |
//! |---|---|---|
//! | 0..56 | key | the key's low 56 bits (valid while `CLAIMED`) |
//! | 56 | `CLAIMED` | a key owns this slot (for the rest of the table's life) |
//! | 57 | `VALUED` | the value half holds a value (clear: *pending*, it holds the key's top byte) |
//! | 58 | `DELETED` | the key was removed: a keyed tombstone (the last value stays) |
//! | 59 | `FROZEN` | a migration owns the slot; no write may land here any more |
//! | 60 | `COPIED` | the slot's content is in the next table (or, if none, there is nothing to copy) |
//! | 61 | `HIGH` | the key's top byte is not zero (it is in `high[i]` once `VALUED`) |
//!
//! An all-zero unit is an empty slot, so tables come from zeroed memory.
//!
//! # Transitions
//!
//! ```text
//!            claim (top byte 0)                replace / revive
//!   empty ----------------------> K=v  <---------------------------+
//!     |  \ claim (top byte set)    |  \---- delete ---> K=v|DELETED-+
//!     |   `--> K? --complete-->----'                         |
//!     | seal      | freeze        | freeze                    | freeze
//!     v           v               v                           v
//!  FROZEN      K?|FROZEN       K=v|FROZEN              K=v|DELETED|FROZEN
//!                 | mark_copied   | mark_copied               | mark_copied
//!                 v               v                           v
//!             (nothing copied) (v is in next)          (nothing copied)
//! ```
//!
//! # Invariants
//!
//! * **A slot belongs to one key per table.** `CLAIMED` and the key bits
//!   are set by the claim and never change afterwards (only state bits and
//!   the value do). A key occupies at most one slot per table, and every
//!   value a slot's unit ever holds was written for that slot's key: a
//!   reader can never pair a key with another key's value (no slot reuse
//!   within a table, and a new table is a new allocation).
//! * **A value is never torn from its state.** Readers load the unit with
//!   one 128-bit atomic load: the value they return was the key's value at
//!   that instant (if the state was live), and in the tombstone state it is
//!   not returned at all.
//! * **A probe may stop at the first unclaimed slot** (slots are never
//!   released within a table; a key is claimed in the first unclaimed slot
//!   of its probe sequence, after every slot before it was found claimed).
//! * **Frozen is final.** Nothing but `COPIED` is ever added to a frozen
//!   unit; every writer CAS expects an unfrozen unit.

use crate::error::TryReserveError;
use crate::resize::memory::{try_zeroed_slice, Zeroed};
use crate::sync::stat::AtomicBool;
use crate::sync::Ordering::{AcqRel, Acquire, Relaxed, Release};
use crate::sync::{AtomicU128, AtomicU8};

const KEY_LOW: u64 = (1 << 56) - 1;
const CLAIMED: u64 = 1 << 56;
const VALUED: u64 = 1 << 57;
const DELETED: u64 = 1 << 58;
const FROZEN: u64 = 1 << 59;
const COPIED: u64 = 1 << 60;
const HIGH: u64 = 1 << 61;
/// The bits that name the key a slot belongs to.
const IDENTITY: u64 = CLAIMED | HIGH | KEY_LOW;

/// A key, prepared for probing: its bits, hash, and the `meta` bits that
/// identify it in a claimed slot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyId {
    pub(crate) bits: u64,
    pub(crate) hash: u64,
    /// `CLAIMED | low 56 bits | HIGH if the top byte is set`.
    meta: u64,
}

impl KeyId {
    #[inline]
    pub(crate) fn new(bits: u64, hash: u64) -> KeyId {
        let high = if bits >> 56 != 0 { HIGH } else { 0 };
        KeyId {
            bits,
            hash,
            meta: CLAIMED | high | (bits & KEY_LOW),
        }
    }

    #[inline]
    fn top(&self) -> u8 {
        (self.bits >> 56) as u8
    }
}

/// A snapshot of one slot unit, as loaded or as seen by a failed CAS.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Unit(u128);

impl Unit {
    #[inline]
    fn new(meta: u64, value: u64) -> Unit {
        Unit((value as u128) << 64 | meta as u128)
    }
    #[inline]
    fn meta(self) -> u64 {
        self.0 as u64
    }
    #[inline]
    fn value(self) -> u64 {
        (self.0 >> 64) as u64
    }
    #[inline]
    fn has(self, bit: u64) -> bool {
        self.meta() & bit != 0
    }
    /// Never claimed, not frozen: the only state a claim or seal CASes from.
    #[inline]
    pub(crate) fn is_unclaimed(self) -> bool {
        self.0 == 0
    }
    /// No key owns the slot (it is empty, or sealed if frozen).
    #[inline]
    pub(crate) fn is_vacant(self) -> bool {
        !self.has(CLAIMED)
    }
    #[inline]
    pub(crate) fn frozen(self) -> bool {
        self.has(FROZEN)
    }
    #[inline]
    pub(crate) fn copied(self) -> bool {
        self.has(COPIED)
    }
    /// The slot holds a value for its key (live or removed), i.e. is not
    /// pending.
    #[inline]
    pub(crate) fn valued(self) -> bool {
        self.has(VALUED)
    }
    /// The key's value, if the slot holds a live one.
    #[inline]
    pub(crate) fn live(self) -> Option<u64> {
        (self.meta() & (VALUED | DELETED) == VALUED).then_some(self.value())
    }
}

/// A table's slot array: one 16-byte `{meta, value}` unit per slot, plus
/// one byte per slot for keys whose top byte is not zero. Private to this
/// file: every access is one of the transitions below.
pub(crate) struct Units {
    /// One `{meta, value}` unit per slot, 16-byte aligned.
    units: Zeroed<AtomicU128>,
    /// The top byte of the key of each slot whose meta has `HIGH` set;
    /// zero (and never read) for every other slot.
    high: Zeroed<AtomicU8>,
    /// Whether a key's top byte was ever stored in `high`: a successor's
    /// memory steps fault in its top bytes only then ([`populate`]), so a
    /// map of small keys (indexes, counters, ids below 2^56) never makes
    /// that array resident. A hint (a statistics atomic, not interleaved
    /// under loom), set once and never cleared.
    ///
    /// [`populate`]: Units::populate
    tops_seen: AtomicBool,
    /// Whether the map's keys may have a top byte at all: its key type is
    /// 8 bytes (`WordSized` types below that zero-extend). Without, no
    /// table of the map faults its top bytes in before a key stored one
    /// ([`populate`]). A hint, like `tops_seen`.
    ///
    /// [`populate`]: Units::populate
    tops_likely: bool,
    /// Under loom: every unit access reads this cell and freeing the table
    /// writes it, so loom reports any access not ordered before the free
    /// (a table freed while a pin could still reach it).
    #[cfg(loom)]
    alive: loom::cell::UnsafeCell<()>,
}

impl std::fmt::Debug for Units {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Units")
            .field("slots", &self.units.len())
            .finish_non_exhaustive()
    }
}

impl Units {
    /// `n` empty slots, from zeroed memory: an untouched page costs no
    /// resident memory. `tops_likely`: whether keys may have a top byte.
    pub(crate) fn try_new(n: usize, tops_likely: bool) -> Result<Units, TryReserveError> {
        Ok(Units {
            units: try_zeroed_slice(n)?,
            high: try_zeroed_slice(n)?,
            tops_seen: AtomicBool::new(false),
            tops_likely,
            #[cfg(loom)]
            alive: loom::cell::UnsafeCell::new(()),
        })
    }

    /// Number of slots (read by `prefault`, a no-op under loom).
    #[inline]
    #[cfg_attr(loom, allow(dead_code))]
    fn len(&self) -> usize {
        self.units.len()
    }

    /// Records an access to the table for loom's free-after-use check; a
    /// no-op outside loom.
    #[inline(always)]
    fn touch(&self) {
        #[cfg(loom)]
        self.alive.with(|_| ());
    }

    /// Under loom, the table's free: a write of `alive` that every earlier
    /// access must happen before. A no-op outside loom.
    #[inline]
    pub(crate) fn mark_freed(&mut self) {
        #[cfg(loom)]
        self.alive.with_mut(|_| ());
    }

    /// How many memory steps fault the unit array in (`memory::steps`).
    pub(crate) fn memory_steps(&self) -> usize {
        crate::resize::memory::steps(&self.units)
    }

    /// Faults in memory step `k` of the unit array (`memory::populate`),
    /// and, if `tops`, the top bytes of the same slots: a key with a top
    /// byte (a hashed or random `u64`, a pointer) writes its slot's byte,
    /// whose first write to a page would otherwise fault inside that
    /// write. Keys without one never touch that array, so for them its
    /// pages would be resident for nothing (1 byte per slot: 2 of the 32
    /// bytes per entry of a map grown to 2^22 keys).
    pub(crate) fn populate(&self, k: usize, tops: bool) {
        use crate::resize::memory::{populate, populate_range, step_range};
        populate(&self.units, k);
        if tops {
            populate_range(&self.high, step_range::<AtomicU128>(k));
        }
    }

    /// Pages of the top-byte array resident now: for tests of the memory
    /// steps. The array must be a mapping of its own (a table of 2^17
    /// slots or more), so that it starts on a page.
    #[cfg(all(test, not(loom), target_os = "linux"))]
    pub(crate) fn resident_top_pages(&self) -> usize {
        crate::resize::memory::map::resident_pages(self.high.as_ptr().cast(), self.high.len())
    }

    /// Whether a key's top byte was ever stored in this table (`complete`).
    /// Relaxed: a hint for the memory steps of a successor.
    pub(crate) fn tops_seen(&self) -> bool {
        self.tops_seen.load(Relaxed)
    }

    /// Whether the map's keys may have a top byte at all (its key type is
    /// 8 bytes).
    pub(crate) fn tops_likely(&self) -> bool {
        self.tops_likely
    }

    /// Asks the CPU to start loading the cache lines of units `range`
    /// (clamped to the table): ahead of a migration's copies into them
    /// (faulted in ahead, a successor's lines are still cache-cold, and
    /// each copy's claim waited for its own miss), or a key's home unit
    /// while a resize runs (`Generation::prefetch_home`). Only a hint:
    /// nothing is read, and a prefetch never faults.
    #[inline]
    pub(crate) fn prefetch(&self, range: std::ops::Range<usize>) {
        crate::resize::memory::prefetch_lines(&self.units, range);
    }

    /// Faults in, for writing, the pages of units `range` (clamped to the
    /// table) ahead of a migration copying into them.
    ///
    /// A new table is untouched zeroed memory. The copy's probe first *reads*
    /// a unit (the kernel maps the shared zero page), then its claim CAS
    /// *writes* it: a second, copy-on-write fault whose TLB flush interrupts
    /// the other cores, once per page. A `CAS(0 -> 0)` on one unit per page
    /// is a write access from the start: one fault, no flush. It changes no
    /// unit's value (an empty unit stays empty; a claimed one fails the CAS).
    pub(crate) fn prefault(&self, range: std::ops::Range<usize>) {
        #[cfg(not(loom))]
        {
            const UNITS_PER_PAGE: usize = 4096 / std::mem::size_of::<AtomicU128>();
            let end = range.end.min(self.len());
            let mut i = range.start - range.start % UNITS_PER_PAGE;
            while i < end {
                // AcqRel/Acquire like every unit CAS; the result is ignored:
                // the point is the write access.
                let _ = self.units[i].compare_exchange(0, 0, AcqRel, Acquire);
                i += UNITS_PER_PAGE;
            }
        }
        #[cfg(loom)]
        let _ = range;
    }

    /// Loads slot `i`'s unit. Acquire: pairs with the Release half of every
    /// CAS below, so the caller sees what the writer did before (for a
    /// `VALUED` slot with `HIGH`, the store of the key's top byte).
    #[inline]
    pub(crate) fn load(&self, i: usize) -> Unit {
        self.touch();
        Unit(self.units[i].load(Acquire))
    }

    /// Which of slots `start..start + n` (`1 <= n <= 64`) looked live: a
    /// walk's hint, as the generic map's `Slots::live_hint` (a marked slot
    /// is loaded again before anything is yielded). The scan has no branch
    /// per slot, which the predictor would lose in a table being filled.
    /// (Not called under loom: `iter::Walk` marks every slot there.)
    #[inline]
    pub(crate) fn live_hint(&self, start: usize, n: usize) -> u64 {
        let mut live = 0u64;
        for (j, unit) in self.units[start..start + n].iter().enumerate() {
            // Acquire, as `load`.
            live |= u64::from(Unit(unit.load(Acquire)).live().is_some()) << j;
        }
        live
    }

    /// Whether claimed slot `i`, seen as `u`, belongs to `key`.
    #[inline]
    pub(crate) fn owns(&self, i: usize, u: Unit, key: &KeyId) -> bool {
        if u.meta() & IDENTITY != key.meta {
            return false;
        }
        if key.meta & HIGH == 0 {
            return true;
        }
        // The top byte is in the unit's value half while pending, in
        // `high[i]` once valued. Relaxed: stored before the Release CAS that
        // set `VALUED`, which our Acquire load of `u` saw.
        let top = if u.valued() {
            self.high[i].load(Relaxed)
        } else {
            u.value() as u8
        };
        top == key.top()
    }

    /// The bits of the key that owns claimed slot `i`, seen as `u`.
    #[inline]
    pub(crate) fn key_bits(&self, i: usize, u: Unit) -> u64 {
        let low = u.meta() & KEY_LOW;
        if u.meta() & HIGH == 0 {
            low
        } else if u.valued() {
            // Relaxed: as in `owns`.
            (self.high[i].load(Relaxed) as u64) << 56 | low
        } else {
            u.value() << 56 | low
        }
    }

    #[inline]
    fn cas(&self, i: usize, cur: Unit, new: Unit) -> Result<(), Unit> {
        // AcqRel on success: Release publishes the new unit (and, for a
        // completion, the top byte stored before it) to Acquire loaders;
        // Acquire orders this thread after the writer of `cur`. Acquire on
        // failure: the caller goes on with the unit it lost to.
        self.touch();
        self.units[i]
            .compare_exchange(cur.0, new.0, AcqRel, Acquire)
            .map(drop)
            .map_err(Unit)
    }

    /// **claim**: `empty -> K=value` for a key whose top byte is zero (then
    /// the linearization point of inserting it), or `empty -> K?` (pending,
    /// the top byte parked in the value half) otherwise. Returns the unit
    /// now in the slot.
    #[inline]
    pub(crate) fn claim(&self, i: usize, key: &KeyId, value: u64) -> Result<Unit, Unit> {
        let new = if key.meta & HIGH == 0 {
            Unit::new(key.meta | VALUED, value)
        } else {
            Unit::new(key.meta, key.top() as u64)
        };
        self.cas(i, Unit(0), new).map(|()| new)
    }

    /// **complete**: `K? -> K=value` for a pending, unfrozen unit `cur` of
    /// `key`: the linearization point of inserting a key with a top byte.
    /// Any thread that wants the key's slot valued may complete it (with the
    /// value it wants there); every completer stores the same top byte.
    #[inline]
    pub(crate) fn complete(
        &self,
        i: usize,
        cur: Unit,
        key: &KeyId,
        value: u64,
    ) -> Result<(), Unit> {
        debug_assert!(!cur.valued() && !cur.frozen());
        // Relaxed: published by the Release CAS that follows.
        self.high[i].store(key.top(), Relaxed);
        // Relaxed: a hint (the field's docs); loaded first so that the
        // table's line is written once, not on every such key.
        if !self.tops_seen.load(Relaxed) {
            self.tops_seen.store(true, Relaxed);
        }
        self.cas(i, cur, Unit::new(cur.meta() | VALUED, value))
    }

    /// **replace** / **revive**: `K=v -> K=value` or `K=v|DELETED ->
    /// K=value` for an unfrozen valued `cur`. The linearization point of
    /// insert-over-existing, update and compare-exchange.
    #[inline]
    pub(crate) fn replace(&self, i: usize, cur: Unit, value: u64) -> Result<(), Unit> {
        debug_assert!(cur.valued() && !cur.frozen());
        self.cas(i, cur, Unit::new(cur.meta() & !DELETED, value))
    }

    /// **delete**: `K=v -> K=v|DELETED` for a live, unfrozen `cur`. The
    /// linearization point of remove. The value stays (never read again
    /// while deleted), so the slot keeps its key: a keyed tombstone.
    #[inline]
    pub(crate) fn delete(&self, i: usize, cur: Unit) -> Result<(), Unit> {
        debug_assert!(cur.live().is_some() && !cur.frozen());
        self.cas(i, cur, Unit::new(cur.meta() | DELETED, cur.value()))
    }

    /// **seal**: `empty -> FROZEN`: no key can be claimed here any more.
    #[inline]
    pub(crate) fn seal(&self, i: usize) -> Result<(), Unit> {
        self.cas(i, Unit(0), Unit::new(FROZEN, 0))
    }

    /// **freeze**: sets `FROZEN` on slot `i` whatever its state; returns the
    /// frozen unit. Lock-free: each failed CAS means another thread changed
    /// the unit, i.e. made progress.
    pub(crate) fn freeze(&self, i: usize) -> Unit {
        let mut cur = self.load(i);
        loop {
            if cur.frozen() {
                return cur;
            }
            let frozen = Unit::new(cur.meta() | FROZEN, cur.value());
            match self.cas(i, cur, frozen) {
                Ok(()) => return frozen,
                Err(seen) => cur = seen,
            }
        }
    }

    /// **mark_copied**: `u -> u|COPIED` for a frozen `u` whose content is in
    /// the next table (or has none to copy). A store, not a CAS: a frozen
    /// unit changes in no other way, and every marker writes the same bits.
    /// Release: a reader that sees `COPIED` (Acquire) goes to the next table
    /// and must find there the copy this thread placed or saw placed. One
    /// caller marks before its value lands: `insert_copy`, on its own
    /// pending claim in a migrating table, which a lookup reaches only
    /// through the older table's slot, marked once that value has landed
    /// further on (its comment says why).
    #[inline]
    pub(crate) fn mark_copied(&self, i: usize, frozen: Unit) {
        debug_assert!(frozen.frozen());
        let copied = Unit::new(frozen.meta() | COPIED, frozen.value());
        self.touch();
        self.units[i].store(copied.0, Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_publishes_the_whole_key() {
        let t = Units::try_new(16, true).unwrap();
        let small = KeyId::new(7, 0);
        let big = KeyId::new(0xab00_0000_0000_0007, 0);
        let u = t.claim(0, &small, 99).unwrap();
        assert_eq!(u.live(), Some(99));
        assert!(t.owns(0, u, &small) && !t.owns(0, u, &big));
        let p = t.claim(1, &big, 5).unwrap();
        assert_eq!(p.live(), None);
        assert!(t.owns(1, p, &big) && !t.owns(1, p, &small));
        assert_eq!(t.key_bits(1, p), big.bits);
        t.complete(1, p, &big, 5).unwrap();
        let v = t.load(1);
        assert_eq!(v.live(), Some(5));
        assert!(t.owns(1, v, &big));
        assert_eq!(t.key_bits(1, v), big.bits);
        // Same low bits, other top byte: a different key.
        let other = KeyId::new(0xac00_0000_0000_0007, 0);
        assert!(!t.owns(1, v, &other));
    }

    #[test]
    fn frozen_is_final() {
        let t = Units::try_new(16, true).unwrap();
        let k = KeyId::new(1, 0);
        let u = t.claim(3, &k, 1).unwrap();
        let f = t.freeze(3);
        assert!(t.replace(3, u, 2).is_err());
        assert!(t.delete(3, u).is_err());
        assert_eq!(f.live(), Some(1));
        assert!(t.seal(3).is_err());
        t.mark_copied(3, f);
        assert!(t.load(3).copied());
    }
}
