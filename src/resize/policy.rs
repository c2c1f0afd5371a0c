//! The resize policy, once for both maps: table sizes, when a table grows,
//! shrinks or is rebuilt, and the capacity-overflow report.

use crate::error::TryReserveError;

/// The smallest table: 16 slots (and so `shift <= 60`). Under loom, 4, so
/// that models of a few operations already resize.
pub(crate) const MIN_SLOTS: usize = if cfg!(loom) { 4 } else { 16 };

/// The largest table lfmap allocates: `2^(usize::BITS - 5)` slots, so that
/// slot arrays never overflow `isize` in bytes.
pub(crate) const MAX_SLOTS: usize = 1 << (usize::BITS - 5);

/// The one place a capacity overflow is reported.
#[cold]
#[track_caller]
pub(crate) fn capacity_overflow() -> ! {
    panic!("lfmap: capacity overflow (requested more than {MAX_SLOTS} slots)")
}

/// The slot count for a table expected to hold `n` entries at a load factor
/// of at most 1/2 right after a resize, so the table can grow by half again
/// before the next resize (at 3/4). Panics on overflow.
pub(crate) fn slots_for(n: usize) -> usize {
    n.checked_mul(2)
        .and_then(usize::checked_next_power_of_two)
        .filter(|&s| s <= MAX_SLOTS)
        .unwrap_or_else(|| capacity_overflow())
        .max(MIN_SLOTS)
}

/// Whether a table of `slots` slots with `occupied` claimed slots (live
/// keys plus tombstones) must resize: past 3/4, linear probes lengthen
/// quickly. The new size then follows from the live count ([`slots_for`]).
#[inline]
pub(crate) fn should_grow(slots: usize, occupied: usize) -> bool {
    occupied * 4 > slots * 3
}

/// Whether a table of `slots` slots with `occupied` claimed slots should
/// get its successor ready (`Resizer::prepare`): from 5/8 full, an eighth
/// of the table's slots before it grows. Later means fewer maps that stop
/// growing hold a prepared table they never use (a map that settles
/// between 5/8 and 3/4 keeps one: up to twice its table's memory, until
/// it grows or `shrink_to_fit`); earlier would spread the steps thinner.
#[inline]
pub(crate) fn should_prepare(slots: usize, occupied: usize) -> bool {
    occupied.saturating_mul(8) >= slots.saturating_mul(5)
}

/// The size the next resize of a table of `slots` slots will have if it
/// starts with `len` keys live, when that is a doubling: the resize's own
/// size ([`slots_for`], never below `min_slots`), so a table whose
/// removals keep it at half live or less (the resize is then a same-size
/// rebuild) prepares nothing. `None` also for the largest table.
pub(crate) fn predicted_growth(slots: usize, len: usize, min_slots: usize) -> Option<usize> {
    let doubles = len.saturating_mul(2) > slots && slots < MAX_SLOTS;
    doubles.then(|| (slots * 2).max(min_slots))
}

/// How many of a prepared successor's `total` memory steps should be
/// handed out once its predecessor (of `slots` slots) has `occupied` claimed:
/// none at 5/8 ([`should_prepare`]), all at 23/32, so that the steps
/// spread evenly over the writes until then, and are done before the
/// resize (at 3/4: [`should_grow`]) even when the count lags
/// (`stats::claim_batch`).
pub(crate) fn steps_due(slots: usize, occupied: usize, total: usize) -> usize {
    let from = slots / 8 * 5;
    let span = (slots / 32 * 3).max(1) as u128;
    let past = occupied.saturating_sub(from) as u128;
    (total as u128 * past).div_ceil(span).min(total as u128) as usize
}

/// Whether a table of `slots` slots holding `len` live keys is mostly
/// empty and may shrink (not below `min_slots`, the `with_capacity` floor):
/// below 1/8 live, so that a shrink to [`slots_for`]`(len)` at least
/// quarters the table and a workload hovering around one size does not
/// resize back and forth.
pub(crate) fn should_shrink(slots: usize, min_slots: usize, len: usize) -> bool {
    slots > min_slots && len.saturating_mul(8) < slots
}

/// Whether a table that a sweep (`retain`, `clear`) has just thinned should
/// be rebuilt now, by the sweeping thread: when it may shrink, or when its
/// tombstones (`occupied - len`: removed keys keep their slots until the
/// next resize) fill more than a quarter of it, which would make the next
/// inserts start a same-size rebuild soon anyway.
pub(crate) fn should_tidy(slots: usize, min_slots: usize, len: usize, occupied: usize) -> bool {
    should_shrink(slots, min_slots, len) || occupied.saturating_sub(len) * 4 > slots
}

/// Whether a removal may start a shrink. Sweeps that remove much of the
/// map (`retain`, `clear`) defer it and resize once at their end
/// ([`should_tidy`]), instead of once per halving of the map.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Shrink {
    /// An ordinary removal: shrink once the table is mostly empty.
    Allow,
    /// A removal inside a sweep: the sweep decides at its end.
    Defer,
}

/// The slot count for `with_capacity(n)`: `n` entries must fit below the
/// 3/4 resize threshold. Panics on overflow.
pub(crate) fn slots_for_capacity(n: usize) -> usize {
    try_slots_for_capacity(n).unwrap_or_else(|_| capacity_overflow())
}

/// [`slots_for_capacity`], reporting an overflow instead (`try_reserve`).
pub(crate) fn try_slots_for_capacity(n: usize) -> Result<usize, TryReserveError> {
    let needed = n
        .checked_add(n / 3 + 1)
        .and_then(usize::checked_next_power_of_two)
        .filter(|&s| s <= MAX_SLOTS)
        .ok_or(TryReserveError::CapacityOverflow)?;
    Ok(needed.max(MIN_SLOTS))
}

/// How many keys a table of `slots` slots holds before it must grow: its
/// load limit ([`should_grow`]), the inverse of [`slots_for_capacity`].
pub(crate) fn capacity(slots: usize) -> usize {
    slots / 4 * 3
}
