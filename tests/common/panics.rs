//! Planned panics: [`PanicKey`], a tracked key whose `Hash` and `Eq` panic
//! on the call a test arms, and the helpers around panics a test causes on
//! purpose. Planned panic messages start with "planned".

use std::any::Any;
use std::cell::Cell;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Once};

use super::drops::{Ledger, Tracked};
use super::hashers::{ShapedHash, ShapedHasher};

thread_local! {
    /// `Some(n)`: the `n`-th counted `Hash`/`Eq` call from now (0 = the
    /// next) on this thread panics; `None`: no panic planned.
    static TRIP: Cell<Option<u32>> = const { Cell::new(None) };
    /// Which of `Hash` ([`ON_HASH`]) and `Eq` ([`ON_EQ`]) count towards
    /// `TRIP`.
    static TRIP_ON: Cell<u8> = const { Cell::new(0) };
}

/// [`arm`]: count `Hash` calls.
pub const ON_HASH: u8 = 1;
/// [`arm`]: count `Eq` calls.
pub const ON_EQ: u8 = 2;

/// Plans a panic on this thread: the `n`-th (0 = the next) call of the
/// kinds in `on` (`ON_HASH`, `ON_EQ` or both) on any [`PanicKey`] panics,
/// once.
pub fn arm(n: u32, on: u8) {
    TRIP.with(|t| t.set(Some(n)));
    TRIP_ON.with(|t| t.set(on));
}

/// Cancels this thread's planned panic, if any.
pub fn disarm() {
    TRIP.with(|t| t.set(None));
}

fn maybe_panic(which: u8) {
    if TRIP_ON.with(Cell::get) & which == 0 {
        return;
    }
    TRIP.with(|t| match t.get() {
        Some(0) => {
            t.set(None);
            panic!(
                "planned panic in {}",
                if which == ON_HASH { "Hash" } else { "Eq" }
            );
        }
        Some(n) => t.set(Some(n - 1)),
        None => {}
    });
}

/// A [`Tracked`] key whose `Hash` and `Eq` may panic (see [`arm`]). It
/// hashes as its id, one `u64`; a clone is a new tracked object.
#[derive(Clone)]
pub struct PanicKey(Tracked);

impl PanicKey {
    pub fn new(ledger: &Arc<Ledger>, id: u64) -> PanicKey {
        PanicKey(Tracked::new(ledger, id))
    }

    pub fn id(&self) -> u64 {
        self.0.id()
    }
}

impl Hash for PanicKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        maybe_panic(ON_HASH);
        self.0.hash(h);
    }
}

impl PartialEq for PanicKey {
    fn eq(&self, other: &PanicKey) -> bool {
        maybe_panic(ON_EQ);
        self.0 == other.0
    }
}
impl Eq for PanicKey {}

/// A hasher that counts as a [`PanicKey`]'s `Hash` does ([`ON_HASH`]):
/// its `finish` may panic (see [`arm`]). For maps that hash with their
/// hasher alone, keys that cannot panic: a `WordMap` hashes its key words
/// with it, in its own operations and in its migration's copies.
#[derive(Clone, Default)]
pub struct PanicHash(pub ShapedHash);

impl BuildHasher for PanicHash {
    type Hasher = PanicHasher;
    fn build_hasher(&self) -> PanicHasher {
        PanicHasher(self.0.build_hasher())
    }
}

/// The [`PanicHash`] hasher.
pub struct PanicHasher(ShapedHasher);

impl Hasher for PanicHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
    }
    fn write_u64(&mut self, n: u64) {
        self.0.write_u64(n);
    }
    fn finish(&self) -> u64 {
        maybe_panic(ON_HASH);
        self.0.finish()
    }
}

/// Whether `payload` is a planned panic (its message starts with
/// "planned"): a test that expects one must not count any other panic,
/// such as an assertion inside lfmap, as the one it planned.
pub fn is_planned(payload: &(dyn Any + Send)) -> bool {
    panic_message(payload).starts_with("planned")
}

/// Asserts that `r` is a planned panic ([`is_planned`]); any other panic
/// goes on unwinding, with its own message.
#[track_caller]
pub fn assert_planned<T>(r: std::thread::Result<T>) {
    match r {
        Ok(_) => panic!("expected a planned panic, got none"),
        Err(payload) if is_planned(&*payload) => {}
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// The message of a panic payload (`""` for a payload that is no string).
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("")
}

/// Installs (once per process) a panic hook that keeps planned panics
/// (messages starting with "planned") off the output; others print as
/// usual. The hook is process-wide: call it only from binaries whose
/// tests all tolerate it.
pub fn quiet_planned_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !panic_message(info.payload()).starts_with("planned") {
                default(info);
            }
        }));
    });
}
