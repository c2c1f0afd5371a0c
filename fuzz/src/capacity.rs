//! What the targets expect of `reserve`, `try_reserve`, `shrink_to_fit` and
//! `shrink_to`,
//! shared by the map model (`model.rs`), the `word` and the `sets` targets.

/// Requests of `reserve`/`try_reserve` are taken modulo this: large enough
/// for several growths of the small maps the targets build, small enough
/// to keep every input fast.
pub const RESERVE_MOD: u16 = 1024;

/// The most slots a table may have (`MAX_SLOTS`, `src/resize/policy.rs`).
const MAX_SLOTS: usize = 1 << (usize::BITS - 5);

/// A `try_reserve` request that no table can satisfy, for a map holding
/// `len` entries, chosen by `pick`: `len + additional` overflows `usize`,
/// or is more than `MAX_SLOTS` (a table of that many entries would need
/// more slots than that), or is past `isize::MAX`, or is the first count
/// past what the largest table holds below its 3/4 load limit (an off by
/// one there would try to allocate a table of `MAX_SLOTS` slots: an
/// allocator failure, or under ASan a crash, either way a finding). Each
/// must fail with `CapacityOverflow` before allocating anything.
pub fn huge(pick: u8, len: usize) -> usize {
    let x = usize::from(pick >> 2);
    match pick % 4 {
        0 => usize::MAX - x,
        1 => MAX_SLOTS + x,
        2 => (isize::MAX as usize) - x,
        _ => (MAX_SLOTS / 4 * 3 + 1 + x).saturating_sub(len),
    }
}

/// After `shrink_to_fit` with `len` entries: the table is the smallest
/// that holds them below its load limit, so its capacity is at least `len`
/// and less than one table grain (16 slots, 12 entries) above it.
pub fn assert_shrunk(capacity: usize, len: usize, what: &str) {
    assert!(
        len <= capacity && capacity <= len + 12,
        "{what}: capacity {capacity} after shrink_to_fit with {len} entries"
    );
}

/// After `reserve(additional)` (or `try_reserve` returning `Ok`) with `len`
/// entries: room for `additional` more.
pub fn assert_reserved(capacity: usize, len: usize, additional: usize, what: &str) {
    assert!(
        capacity >= len + additional,
        "{what}: capacity {capacity} after reserve({additional}) with {len} entries"
    );
}

/// The capacity of the table sized to fit `n` entries below its load
/// limit (`slots_to_fit`, `src/resize/policy.rs`): `4 * ceil(n / 3)` slots
/// rounded up to the grain of 16 (at least 16), 3/4 of them.
pub fn fit_capacity(n: usize) -> usize {
    let slots = (n.div_ceil(3) * 4).max(16).next_multiple_of(16);
    slots / 4 * 3
}

/// After `shrink_to(min)` with `len` entries, from a capacity of
/// `before`: the table that fits `max(len, min)`, or, if the table was
/// smaller than that already, the same (`shrink_to` never grows).
pub fn assert_shrunk_to(before: usize, after: usize, len: usize, min: usize, what: &str) {
    let want = before.min(fit_capacity(len.max(min)));
    assert_eq!(
        after, want,
        "{what}: capacity {before} -> {after} after shrink_to({min}) with {len} entries"
    );
}
