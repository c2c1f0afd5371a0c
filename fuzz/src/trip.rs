//! Planned panics: a thread-local countdown that makes the `n`-th call of a
//! chosen kind (`Hash`, `Eq`, `Clone` of [`TKey`](crate::ledger::TKey), or a
//! user closure the harness passes to the map) panic, and a panic hook that
//! keeps those planned panics quiet while every other panic still aborts
//! (libFuzzer's hook, which it chains to, reports it as a crash).

use std::cell::Cell;
use std::sync::Once;

pub const ON_HASH: u8 = 1;
pub const ON_EQ: u8 = 2;
pub const ON_CLONE: u8 = 4;
pub const ON_CLOSURE: u8 = 8;

/// The message every planned panic starts with.
pub const PLANNED: &str = "planned panic";

thread_local! {
    /// `Some(n)`: the `n`-th matching call from now (0 = the next) panics.
    static TRIP: Cell<Option<u32>> = const { Cell::new(None) };
    /// Which kinds of call count towards `TRIP`.
    static TRIP_ON: Cell<u8> = const { Cell::new(0) };
}

/// Plans a panic at the `n`-th (from 0) call of a kind in `on`.
pub fn arm(n: u32, on: u8) {
    TRIP.with(|t| t.set(Some(n)));
    TRIP_ON.with(|t| t.set(on));
}

/// Cancels any planned panic.
pub fn disarm() {
    TRIP.with(|t| t.set(None));
    TRIP_ON.with(|t| t.set(0));
}

/// Whether a planned panic is still pending.
pub fn armed() -> bool {
    TRIP.with(|t| t.get().is_some())
}

/// Counts one call of kind `which`; panics if it is the planned one.
#[inline]
pub fn maybe_panic(which: u8) {
    if TRIP_ON.with(Cell::get) & which == 0 {
        return;
    }
    TRIP.with(|t| match t.get() {
        Some(0) => {
            t.set(None);
            panic!("{PLANNED} in {}", kind_name(which));
        }
        Some(n) => t.set(Some(n - 1)),
        None => {}
    });
}

fn kind_name(which: u8) -> &'static str {
    match which {
        ON_HASH => "Hash",
        ON_EQ => "Eq",
        ON_CLONE => "Clone",
        _ => "closure",
    }
}

/// The message of a panic payload, if it is a string.
pub fn payload_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("")
}

/// Installs (once per process) a panic hook that swallows planned panics
/// and hands every other panic to the hook installed before it (libFuzzer's,
/// which prints the panic and aborts: a crash).
pub fn quiet_planned_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !payload_message(info.payload()).starts_with(PLANNED) {
                previous(info);
            }
        }));
    });
}
