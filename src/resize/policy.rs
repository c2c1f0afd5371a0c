//! The resize policy, once for both maps: table sizes, when a table grows,
//! shrinks or is rebuilt, and the capacity-overflow report.
//!
//! # Table sizes
//!
//! A table's slot count is any multiple of [`GRAIN`] from [`MIN_SLOTS`] to
//! [`MAX_SLOTS`], not only a power of two (homes are a multiplication,
//! `probe.rs`). A size computed from a key count is that count's need,
//! rounded up to the grain, not to the next power of two (which took up to
//! twice as much): a shrink or rebuild takes `5·len/2` slots (2/5 live
//! after it, so that a map whose count drifts up by a quarter rebuilds at
//! the same size instead of doubling), never more than the table it
//! replaces; `with_capacity(n)` and `reserve` `2n` (room for `n` at half
//! load); and `shrink_to_fit` the smallest table that holds the map
//! (`4·len/3`: its load limit is 3/4). A growth doubles the table, whatever its size,
//! so that it keeps split order (`probe.rs`) and copies each key about
//! once per doubling of the map: a map grown from empty by inserts has
//! power-of-two tables, a presized one twice its first size, four times,
//! and so on (an `extend` that makes room for its iterator jumps to that
//! room's size: at least a doubling, [`extend_room`]). A resize the map
//! starts itself may instead take the successor prepared for it ahead of
//! time if that one is close enough ([`prepared_serves`]).

use crate::error::TryReserveError;

/// The smallest table: 16 slots. Under loom, 4, so
/// that models of a few operations already resize.
pub(crate) const MIN_SLOTS: usize = if cfg!(loom) { 4 } else { 16 };

/// The largest table lfmap sizes: `2^(usize::BITS - 5)` slots. A limit on
/// the slot count, not on bytes: at 16 bytes a slot (`WordMap`) the
/// largest table would be `2^(usize::BITS - 1)` bytes, past `isize`, and
/// its allocation fails cleanly (a `Layout` error: `try_reserve` returns
/// it, a growth panics with lfmap's capacity message) before any memory
/// is touched. On 64-bit targets no machine reaches either bound.
pub(crate) const MAX_SLOTS: usize = 1 << (usize::BITS - 5);

/// Every table's slot count is a multiple of this: 16 slots (the smallest
/// table; two cache lines of `HashMap` words, four of `WordMap` units), so
/// that a table's end is a line's end. Under loom, 4 (the smallest table
/// there).
pub(crate) const GRAIN: usize = MIN_SLOTS;

/// `n` slots rounded up to a table size, or `None` past [`MAX_SLOTS`].
fn table_size(n: usize) -> Option<usize> {
    let slots = n.max(MIN_SLOTS).checked_next_multiple_of(GRAIN)?;
    (slots <= MAX_SLOTS).then_some(slots)
}

/// The one place a capacity overflow is reported.
#[cold]
#[track_caller]
pub(crate) fn capacity_overflow() -> ! {
    panic!("lfmap: capacity overflow (more than {MAX_SLOTS} slots, or more than isize::MAX bytes)")
}

/// The size of the resize that follows a table of `slots` slots holding
/// `len` live keys (at least `min_slots`, the `with_capacity` floor): a
/// doubling when more than half of it is live (a growth: split order,
/// module docs); else `5·len/2` slots, at most `slots` (a rebuild that
/// drops tombstones, or a shrink). 2/5 live, not 1/2: a rebuilt table
/// right at the doubling line would double at its next rebuild after one
/// more key, and shrink back at the one after. In a model of a map
/// churning around 5,000 keys (±50, 2M operations), `2·len` averaged 3.3
/// slots per key over 210 resizes, `5·len/2` 2.5 over 241, and the
/// earlier powers of two 3.3 over 146. Panics on overflow.
pub(crate) fn resize_slots(slots: usize, len: usize, min_slots: usize) -> usize {
    let slots = if len.saturating_mul(2) > slots {
        slots
            .checked_mul(2)
            .filter(|&s| s <= MAX_SLOTS)
            .unwrap_or_else(|| capacity_overflow())
    } else {
        // `len <= slots / 2`, so `5·len/2 <= 5·slots/4`: no overflow, and
        // the result rounds to at most `slots` (a multiple of `GRAIN`).
        let need = len.max(1) / 2 * 5 + len.max(1) % 2 * 3;
        table_size(need).map_or(slots, |s| s.min(slots))
    };
    slots.max(min_slots)
}

/// Whether a table of `slots` slots with `occupied` claimed slots (live
/// keys plus tombstones) must resize: past 3/4, linear probes lengthen
/// quickly. The new size then follows from the live count
/// ([`resize_slots`]).
#[inline]
pub(crate) fn should_grow(slots: usize, occupied: usize) -> bool {
    occupied * 4 > slots * 3
}

/// Whether a table of `slots` slots with `occupied` claimed slots should
/// get its successor ready (`Resizer::prepare`): from 5/8 full, an eighth
/// of the table's slots before it grows. Later means fewer maps that stop
/// growing hold a prepared table they never use (a map that settles
/// between 5/8 and 3/4 keeps one, up to twice its table's memory, until
/// its operations release it a second after it stopped claiming slots,
/// `stall.rs`); earlier would spread the steps thinner.
#[inline]
pub(crate) fn should_prepare(slots: usize, occupied: usize) -> bool {
    occupied.saturating_mul(8) >= slots.saturating_mul(5)
}

/// The size the next resize of a table of `slots` slots will have if it
/// starts with `len` keys live: the resize's own size ([`resize_slots`]),
/// a doubling, or, while removals keep the map at half live or less, a
/// rebuild (what `Resizer::prepare` gets ready: a churning map rebuilds
/// once per so many new keys, into a fresh table each time). `None` for a
/// table that would have to double and cannot.
pub(crate) fn predicted_resize(slots: usize, len: usize, min_slots: usize) -> Option<usize> {
    let doubles = len.saturating_mul(2) > slots;
    (!doubles || slots <= MAX_SLOTS / 2).then(|| resize_slots(slots, len, min_slots))
}

/// The live count the resize of a table of `slots` slots is likely to
/// find, judged when `occupied` of its slots are claimed and `len` keys
/// live, the map having held `len_at_install` when the table came: `len`,
/// moved on by the map's net growth per slot claimed since then, over the
/// claims left until the resize (at 3/4). A map that churns at one size
/// stays where it is; one that grows while removing half of what it
/// inserts is found a sixteenth of the table further on (at 5/8 it may be
/// half live, a rebuild's side of the line, and double at 3/4).
pub(crate) fn expected_len_at_resize(
    slots: usize,
    occupied: usize,
    len: usize,
    len_at_install: usize,
) -> usize {
    // Slots claimed by new keys since the table came: all claims but the
    // copies of the keys it was installed with (about).
    let claims = occupied.saturating_sub(len_at_install);
    if claims == 0 {
        return len;
    }
    let left = (slots / 4 * 3).saturating_sub(occupied) as i128;
    let grown = len as i128 - len_at_install as i128;
    let expected = len as i128 + grown * left / claims as i128;
    expected.clamp(0, usize::MAX as i128) as usize
}

/// Whether a table of `prepared` slots, prepared ahead of the resize of a
/// table of `slots` slots, may serve that resize when it wants `wanted`
/// slots for `len` live keys, with the floor at `min_slots`. The size
/// wanted always serves. Otherwise (never below the floor):
///
/// * a rebuild's size for a rebuild: within an eighth of the size wanted.
///   A rebuild's size is `5·len/2` of a live count that drifts between the
///   preparation (at 5/8 claimed) and the resize (at 3/4), and anything
///   within an eighth of it leaves the rebuilt table 36–46 % live (up to
///   4/7 where the size wanted is capped at `slots`, for a map just under
///   half live);
/// * at the doubling line, the other kind: a map churning at half live
///   is predicted to double and then, a few keys under the line, wants to
///   rebuild, or the other way round. A prepared doubling serves a rebuild
///   of a table at least 7/16 live (it leaves the map at 7/32 or more, far
///   above a shrink, and the next resize rebuilds to 2/5 live); a prepared
///   rebuild serves a growth that it leaves at most 9/16 live (room for
///   3/16 of the table in new keys before the next resize, which doubles
///   if the map really grows);
/// * never another doubling than the one prepared (there is just one: the
///   same salt, twice the slots, for split order).
pub(crate) fn prepared_serves(
    prepared: usize,
    wanted: usize,
    slots: usize,
    min_slots: usize,
    len: usize,
) -> bool {
    if prepared == wanted {
        return true;
    }
    if prepared < min_slots {
        return false;
    }
    // Mutation for checking loom model 15 and the unit tests
    // (docs/verification.md): no rule for the doubling line, so a prepared
    // table of the other kind never serves.
    if mutation!("no_line_rule") && (prepared > slots) != (wanted > slots) {
        return false;
    }
    match (prepared > slots, wanted > slots) {
        (false, false) => prepared.abs_diff(wanted) <= wanted / 8,
        (false, true) => len.saturating_mul(16) <= prepared.saturating_mul(9),
        (true, false) => len.saturating_mul(16) >= slots.saturating_mul(7),
        (true, true) => false,
    }
}

/// While a resize helper is registered and keeps up, a thread's writes
/// that meet a migration do one share in this many (`assist.rs`,
/// `helps_anyway`): enough to end a migration no helper works on, at a
/// sixteenth of the writers' usual migration work. Unused under loom,
/// whose models never help anyway.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const ASSISTED_WRITES_PER_SHARE: u32 = 16;

/// Whether writers may leave a running migration to the map's resize
/// helpers (`assist.rs`): while the new table, with what is left to copy
/// into it, stays below 5/8 full. `next` has `next_slots` slots and
/// `next_occupied` claimed; the old table `old_slots`, `old_occupied`
/// claimed, `done` of its slots migrated; what is left to copy is
/// estimated as the old table's claimed share of the slots not migrated
/// (tombstones count, so the estimate errs high). A growth leaves the new
/// table at 3/8 once copied, so writers may insert a quarter of its slots
/// (half the old table's) before they help again; then each does its
/// usual share, and the sub-chunks left are done long before the new
/// table reaches 3/4, where its own resize would have to wait for this
/// one. A helper that stalls or falls behind thus costs the writers what
/// no helper would.
///
/// Counting only the new table's claims is not enough: copies land there
/// too, and writers that waited for it to reach 5/8 with nothing copied
/// yet filled it past its load limit before the migration was done (a map
/// grown with an idle helper took 55 µs a write, its tables full).
#[inline]
pub(crate) fn assistant_keeps_up(
    next_slots: usize,
    next_occupied: usize,
    old_slots: usize,
    old_occupied: usize,
    done: usize,
) -> bool {
    let left = old_slots.saturating_sub(done) as u128;
    let to_copy = (old_occupied as u128 * left / old_slots.max(1) as u128) as usize;
    next_occupied.saturating_add(to_copy).saturating_mul(8) < next_slots.saturating_mul(5)
}

/// How many of a prepared successor's `total` memory steps should be
/// handed out once its predecessor (of `slots` slots) has `occupied` claimed,
/// for a successor prepared at `prepared_at` claimed: none at 5/8
/// ([`should_prepare`]), all at 23/32, so that the steps spread evenly over
/// the writes until then, and are done before the resize (at 3/4:
/// [`should_grow`]) even when the count lags (`stats::claim_batch`). A
/// successor prepared later (again, after [`retry_after_release`]) spreads
/// its steps from there over at least half the way to the resize, instead
/// of taking at once all that the window has made due: one step a landing
/// count put 20 ms into a batch of 256 inserts (found by an outside test).
pub(crate) fn steps_due(slots: usize, occupied: usize, total: usize, prepared_at: usize) -> usize {
    let (from, span) = steps_window(slots, prepared_at);
    let past = occupied.saturating_sub(from) as u128;
    (total as u128 * past)
        .div_ceil(span as u128)
        .min(total as u128) as usize
}

/// Whether a table of `slots` slots with `occupied` claimed is at the end
/// of the window over which its successor's memory steps, prepared at
/// `prepared_at` claimed, are handed out ([`steps_due`]): from then on
/// writers fault in what is left, one step a write, even when a resize
/// helper was to do it (`assist.rs`).
pub(crate) fn steps_all_due(slots: usize, occupied: usize, prepared_at: usize) -> bool {
    let (from, span) = steps_window(slots, prepared_at);
    occupied >= from + span
}

/// Progress a stall watch allows in a window without calling it progress
/// (`stall.rs`): sub-chunks the writes and helpers move in a migration
/// (64, 512 slots, so that a migration others move at a trickle, which
/// would take minutes over a large table while every read of a copied key
/// reads both tables, is taken over too), or slots claimed in a table
/// that holds a prepared successor.
pub(crate) const WATCH_MARGIN: usize = 64;

/// How many times a table releases a prepared successor the map stopped
/// growing towards (`Resizer::release_prepared`); the one it prepares
/// after that stays until the resize or `shrink_to_fit`. Each release
/// retires a table up to twice this one's size, which a pin held across
/// the pauses (a long iteration) keeps allocated: a map that grows in
/// bursts with idle seconds between them released and prepared again at
/// every pause (found by an outside test: 7 tables pending, 720 MiB for
/// a 64 MiB table, with one iterator open).
pub(crate) const MAX_RELEASES: usize = 3;

/// The occupancy from which a table whose prepared successor was just
/// released for the `released`-th time (1-based) prepares again, from
/// `occupied` claimed of `slots`: another 1/64 of the slots, doubled at
/// each release (so a map growing in bursts prepares less and less often),
/// at least `floor`; but never past 23/32, so that a map that resumes
/// growing still gets its successor faulted in before its resize at 3/4,
/// its steps spread over at least half the way left ([`steps_due`]).
/// (Found by an outside test: a pause at 74.5 % put the retry point past
/// the growth, whose writes then took 64k page faults instead of 600.)
/// Past 23/32 already, the next claim prepares.
pub(crate) fn retry_after_release(
    slots: usize,
    occupied: usize,
    released: usize,
    floor: usize,
) -> usize {
    let shift = released.saturating_sub(1).min(8) as u32;
    let distance = ((slots / 64) << shift).max(floor);
    let (from, span) = steps_window(slots, 0);
    let latest = (from + span).max(occupied.saturating_add(1));
    occupied.saturating_add(distance).min(latest)
}

/// Where [`steps_due`]'s window starts and how long it is (at least one
/// claim), for a successor prepared at `prepared_at` claimed: from 5/8 of
/// `slots` to 23/32 of them (3/32); from `prepared_at` if that is later,
/// to 23/32 or halfway to the resize at 3/4, whichever is later.
fn steps_window(slots: usize, prepared_at: usize) -> (usize, usize) {
    let from = (slots / 8 * 5).max(prepared_at);
    let resize = slots / 4 * 3;
    let end = (slots / 32 * 23).max(from + resize.saturating_sub(from) / 2);
    (from, end.saturating_sub(from).max(1))
}

/// Whether a migration from a table of `slots` slots into one of
/// `successor` slots prepares each chunk's copies (`Generation::
/// prepare_copy`: faults in and prefetches the successor's range the
/// chunk splits into): for a growth by at most 4 times, where that range
/// is at most 4 times the chunk and the copies fill it. Past that they are
/// sparse in it: a growth from 16 slots to 2^23 sends one chunk's dozen
/// keys over the whole successor, which preparing faulted in entire (found
/// by an outside test: an `extend` of one key repeated 4M times, 32,768
/// page faults for one key). The copies then fault in only the pages
/// they write.
pub(crate) fn prepares_copies(slots: usize, successor: usize) -> bool {
    successor <= slots.saturating_mul(4)
}

/// Whether a retired table of `slots` slots that a resize to
/// `successor` slots replaced is freed whole, rather than a step at a
/// time (`reclaim/asymmetric/draining.rs`): when that resize was a shrink
/// (under half the size: [`should_shrink`] takes a table under a third).
/// The entries a retired table owns are its tombstones' (`raw/table.rs`):
/// for a rebuild or a growth, one per key removed while it was the root,
/// about as many as the map holds, spread over the operations that follow
/// (a step every few); for a shrink, the keys of a map that gave most of
/// them back, which the operations of the small map left would take far
/// longer to free: its memory is freed at once, as the user who removed
/// them expects (`tests/rss.rs`).
pub(crate) fn freed_whole(slots: usize, successor: usize) -> bool {
    successor < slots / 2
}

/// Whether a table of `slots` slots holding `len` live keys is mostly
/// empty and may shrink (not below `min_slots`, the `with_capacity` floor):
/// below 1/8 live, so that a shrink ([`resize_slots`]: `5·len/2`) takes
/// the table under a third of its size and a workload hovering around one
/// size does not resize back and forth.
pub(crate) fn should_shrink(slots: usize, min_slots: usize, len: usize) -> bool {
    slots > min_slots && len.saturating_mul(8) < slots
}

/// Every how many of its own removals a party checks [`should_shrink`] in
/// a table of `slots` slots larger than 1,024 (smaller ones check on every
/// removal), with the map's counts spread over `parties` parties (a check
/// sums them all, so it is sampled): a power of two, at most 64 and at
/// most `slots / (16 · min(parties, 16))`. Then however up to 16 parties
/// share the removals that take a map from `slots / 16` live keys to none,
/// one of them makes a check in that stretch: were each to make fewer
/// than its interval there, they would make fewer than `parties · slots /
/// (16 · parties)` removals in all. (With a fixed 64, nine parties
/// emptying a 2,048-slot map could all pass the stretch between two of
/// their checks: the map stayed at 2,048 slots, empty; found by review.)
/// Past 16 parties the interval stops shrinking: a check reads every
/// party's counts, so its cost per removal would grow with the square of
/// the parties (found by the review of the change); a map emptied by more
/// threads at once, none of which removes again, may keep its table until
/// the next checked removal. Tables of 16,384 slots or more keep 64.
pub(crate) fn shrink_check_every(slots: usize, parties: usize) -> u64 {
    let every = (slots / (16 * parties.clamp(1, 16))).clamp(1, 64);
    1 << every.ilog2()
}

/// Whether a table that a sweep (`retain`, `clear`) has just thinned should
/// be rebuilt now, by the sweeping thread: when it may shrink, or when its
/// tombstones (`occupied - len`: removed keys keep their slots until the
/// next resize) fill more than a quarter of it, which would make the next
/// inserts start a rebuild soon anyway.
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

/// The slot count for `with_capacity(n)` and `reserve`: room for `n` keys
/// at half load (`2n` slots), as a growth leaves them, so that a
/// map filled to what it asked for can still take removals' tombstones
/// and more keys before its first resize. Panics on overflow.
///
/// Not the smallest table that holds `n` ([`slots_to_fit`]): a table at its
/// load limit grows as soon as removals leave tombstones in it, and probes
/// are longest there. Measured: a `WordMap` presized to exactly its
/// 1,048,576 keys ran the read-heavy workload (1 % inserts, 1 % removes)
/// at 8.8–12.4 Mops/s against 11.7–14.1 at half load (4 alternated runs,
/// 2 threads; docs/benchmarks.md).
pub(crate) fn slots_for_capacity(n: usize) -> usize {
    try_slots_for_capacity(n).unwrap_or_else(|_| capacity_overflow())
}

/// [`slots_for_capacity`], reporting an overflow instead (`try_reserve`).
/// Past `MAX_SLOTS / 2` keys, where half load no longer fits, the largest
/// counts a table can hold still get one: the smallest that fits them
/// ([`slots_to_fit`]), as a map grown to that count would have.
pub(crate) fn try_slots_for_capacity(n: usize) -> Result<usize, TryReserveError> {
    n.checked_mul(2)
        .and_then(table_size)
        .or_else(|| try_slots_to_fit(n))
        .ok_or(TryReserveError::CapacityOverflow)
}

/// How many more keys an `extend` of an iterator whose `size_hint` says
/// `hint` makes room for in a map of `len` keys: all of them in an empty
/// map, half in one that has keys (the iterator may repeat them), as
/// std's maps do. So a large extend resizes once, not once per doubling.
/// None below [`EXTEND_ROOM_MIN`], without counting the map (`len` is
/// only called above it).
pub(crate) fn extend_room(len: impl FnOnce() -> usize, hint: usize) -> usize {
    if hint < EXTEND_ROOM_MIN {
        0
    } else if len() == 0 {
        hint
    } else {
        hint.div_ceil(2)
    }
}

/// The smallest `size_hint` an `extend` makes room for ([`extend_room`]):
/// fewer keys cause at most a doubling or two as they are inserted, which
/// is no dearer than counting the map's keys (a sum over its threads'
/// counters) on every small extend.
pub(crate) const EXTEND_ROOM_MIN: usize = 256;

/// The smallest table whose load limit ([`capacity`]) holds `n` keys: what
/// `shrink_to_fit` shrinks to. Within a grain of `4n/3` slots, where the
/// next power of two would take up to twice that. Panics on overflow.
pub(crate) fn slots_to_fit(n: usize) -> usize {
    try_slots_to_fit(n).unwrap_or_else(|| capacity_overflow())
}

/// [`slots_to_fit`], or `None` past [`MAX_SLOTS`].
pub(crate) fn try_slots_to_fit(n: usize) -> Option<usize> {
    // `capacity(slots) = slots / 4 * 3 >= n` needs `slots >= 4 * ceil(n / 3)`
    // (`GRAIN` is a multiple of 4, so rounding up keeps that).
    n.div_ceil(3).checked_mul(4).and_then(table_size)
}

/// How many keys a table of `slots` slots holds before it must grow: its
/// load limit ([`should_grow`]), the inverse of [`slots_to_fit`].
pub(crate) fn capacity(slots: usize) -> usize {
    slots / 4 * 3
}

#[cfg(test)]
mod tests {
    use super::{assistant_keeps_up, expected_len_at_resize, prepared_serves, shrink_check_every};
    use super::{retry_after_release, steps_all_due, steps_due, steps_window};

    #[test]
    fn a_release_backs_off_and_stops_short_of_the_growth() {
        let slots = 1 << 20;
        let at = slots / 100 * 67;
        // 1/64 of the slots, then doubled at each release.
        assert_eq!(retry_after_release(slots, at, 1, 128), at + slots / 64);
        assert_eq!(retry_after_release(slots, at, 2, 128), at + slots / 32);
        // Never past 23/32, where every step of a table prepared at 5/8 is due.
        let (from, span) = steps_window(slots, 0);
        assert_eq!(from + span, slots / 32 * 23);
        assert_eq!(retry_after_release(slots, at, 3, 128), from + span);
        // Past it already: the next claim prepares.
        let late = slots / 1000 * 745;
        assert_eq!(retry_after_release(slots, late, 1, 128), late + 1);
        // The floor, for small tables.
        assert_eq!(retry_after_release(4096, 2600, 1, 128), 2600 + 128);
    }

    /// A successor prepared again late in the window (after a release)
    /// spreads its steps over at least half the way left to the resize,
    /// not all at once; one prepared at 5/8 or before keeps the window.
    #[test]
    fn steps_prepared_late_are_spread_towards_the_resize() {
        let (slots, total) = (1 << 22, 128);
        for early in [0, slots / 2, slots / 8 * 5] {
            assert_eq!(steps_window(slots, early), steps_window(slots, 0));
        }
        let resize = slots / 4 * 3;
        for at in [
            slots / 100 * 70,
            slots / 32 * 23 - 1,
            slots / 32 * 23,
            resize - 64,
        ] {
            assert_eq!(steps_due(slots, at, total, at), 0);
            let (from, span) = steps_window(slots, at);
            assert_eq!(from, at);
            assert!(from + span >= slots / 32 * 23);
            assert!(2 * span >= resize - at - 1, "at least half the way left");
            assert!(from + span < resize, "all due before the resize");
            assert!(!steps_all_due(slots, from + span - 1, at));
            assert!(steps_all_due(slots, from + span, at));
            assert_eq!(steps_due(slots, from + span, total, at), total);
            // Evenly: the first claims past the start make one step due,
            // not all that the default window would.
            let per_step = span / total;
            if per_step > 1 {
                assert_eq!(steps_due(slots, at + 1, total, at), 1);
                assert_eq!(steps_due(slots, at + per_step, total, at), 1);
                assert!(steps_due(slots, at + 1, total, 0) > 1);
            }
        }
        // Past the resize's point (a lagging count): due at once, no
        // overflow at the largest sizes.
        assert_eq!(steps_due(slots, resize + 1, total, resize + 1), 0);
        assert_eq!(steps_due(slots, resize + 2, total, resize + 1), total);
        let max = super::MAX_SLOTS;
        assert_eq!(steps_due(max, max - 1, total, max / 4 * 3), total);
    }

    /// The shrink check's interval: a power of two up to 64, small enough
    /// that up to 16 parties each checking less often than it could not
    /// together remove the last sixteenth of a table's keys, and never
    /// below what 16 parties need (a check's cost grows with the parties).
    #[test]
    fn shrink_checks_come_often_enough_for_up_to_sixteen_parties() {
        for slots in (1040..1 << 20).step_by(4_112) {
            for parties in [1, 2, 8, 16, 24, 56, 120, 1_000, 100_000] {
                let every = shrink_check_every(slots, parties);
                let counted = parties.min(16) as u64;
                assert!(every.is_power_of_two() && every <= 64);
                assert!(
                    every == 1 || counted * every <= slots as u64 / 16,
                    "{slots} slots, {parties} parties: every {every}"
                );
                assert_eq!(every, shrink_check_every(slots, parties.min(16)));
            }
        }
        assert_eq!(shrink_check_every(1 << 20, 8), 64);
        assert_eq!(shrink_check_every(16_384, 120), 64);
        assert_eq!(shrink_check_every(2048, 24), 8);
    }

    /// A growth of 4,096 slots, 3,072 claimed, into 8,192 (5/8: 5,120).
    #[test]
    fn writers_leave_a_growth_until_the_new_table_would_pass_five_eighths() {
        // Nothing copied: the 3,072 to come count, so 2,047 new keys may
        // land first, not 5,119.
        assert!(assistant_keeps_up(8_192, 2_047, 4_096, 3_072, 0));
        assert!(!assistant_keeps_up(8_192, 2_048, 4_096, 3_072, 0));
        // Half migrated (1,536 copied): the same total.
        assert!(assistant_keeps_up(
            8_192,
            1_536 + 2_047,
            4_096,
            3_072,
            2_048
        ));
        assert!(!assistant_keeps_up(
            8_192,
            1_536 + 2_048,
            4_096,
            3_072,
            2_048
        ));
        // All migrated: only the new table counts.
        assert!(assistant_keeps_up(8_192, 5_119, 4_096, 3_072, 4_096));
        assert!(!assistant_keeps_up(8_192, 5_120, 4_096, 3_072, 4_096));
    }

    /// A table of 8,192 slots: which prepared successors serve which
    /// resize.
    #[test]
    fn a_prepared_table_serves_its_resize_or_one_close_to_it() {
        let slots = 8_192;
        // Exactly the size wanted, growth or rebuild.
        assert!(prepared_serves(16_384, 16_384, slots, 16, 5_000));
        assert!(prepared_serves(8_192, 8_192, slots, 16, 3_500));
        // A rebuild for a rebuild: within an eighth of the size wanted.
        assert!(prepared_serves(7_200, 8_000, slots, 16, 3_200));
        assert!(!prepared_serves(6_992, 8_000, slots, 16, 3_200));
        assert!(prepared_serves(5_056, 4_496, slots, 16, 1_800));
        assert!(!prepared_serves(5_072, 4_496, slots, 16, 1_800));
        // Never below the floor.
        assert!(!prepared_serves(7_200, 8_000, slots, 8_000, 3_200));
        // At the doubling line: a rebuild serves a growth it leaves at most
        // 9/16 live; a doubling serves a rebuild of a table 7/16 live.
        assert!(prepared_serves(8_192, 16_384, slots, 16, 4_608));
        assert!(!prepared_serves(8_192, 16_384, slots, 16, 4_609));
        assert!(prepared_serves(16_384, 8_192, slots, 16, 3_584));
        assert!(!prepared_serves(16_384, 8_192, slots, 16, 3_583));
        // No other doubling than the one wanted.
        assert!(!prepared_serves(16_384, 16_400, slots, 16, 5_000));
    }

    /// The live count a resize will find, from a table of 8,192 slots at
    /// 5/8 claimed (5,120), installed with 2,000 keys.
    #[test]
    fn the_count_at_the_resize_follows_the_growth_since_the_table_came() {
        // Churning at one size: 3,120 new-key claims, no net growth.
        assert_eq!(expected_len_at_resize(8_192, 5_120, 2_000, 2_000), 2_000);
        // Growing by every key: 1,024 claims left, each one more key.
        assert_eq!(expected_len_at_resize(8_192, 5_120, 5_120, 2_000), 6_144);
        // Removing half of what it inserts: at 3,560 live now (under half),
        // about 4,072 at the resize (just under), the line to watch.
        assert_eq!(expected_len_at_resize(8_192, 5_120, 3_560, 2_000), 4_072);
        // Shrinking: never below zero.
        assert_eq!(expected_len_at_resize(8_192, 5_120, 0, 4_000), 0);
        // No claims since: the count as it is.
        assert_eq!(expected_len_at_resize(8_192, 2_000, 1_000, 2_000), 1_000);
    }
}
