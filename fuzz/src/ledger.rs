//! Drop accounting: every tracked key and value records its construction
//! and its drop in a [`Ledger`], so a leak or a double drop is caught, and
//! each object carries a canary so a use after drop is caught even when the
//! allocator has not reused the memory yet.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::trip::{maybe_panic, ON_CLONE, ON_EQ, ON_HASH};

const ALIVE: u64 = 0xA11C_E000_0000_0001;
const DEAD: u64 = 0xDEAD_DEAD_DEAD_DEAD;

/// Counts constructions and drops of one family of tracked objects.
#[derive(Default)]
pub struct Ledger {
    created: AtomicUsize,
    dropped: AtomicUsize,
    /// Drops per serial number.
    drops: Mutex<Vec<u8>>,
}

impl Ledger {
    pub fn new() -> Arc<Ledger> {
        Arc::new(Ledger::default())
    }

    fn next_serial(&self) -> usize {
        self.created.fetch_add(1, Ordering::Relaxed)
    }

    fn record_drop(&self, serial: usize) {
        {
            let mut drops = self.drops.lock().unwrap_or_else(|e| e.into_inner());
            if drops.len() <= serial {
                drops.resize(serial + 1, 0);
            }
            drops[serial] = drops[serial].saturating_add(1);
            assert!(drops[serial] == 1, "object {serial} dropped twice");
        }
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    pub fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }

    pub fn live(&self) -> usize {
        self.created() - self.dropped.load(Ordering::SeqCst)
    }

    /// Every object created was dropped exactly once.
    pub fn assert_balanced(&self, what: &str) {
        let created = self.created();
        let drops = self.drops.lock().unwrap_or_else(|e| e.into_inner());
        let twice: Vec<usize> = (0..drops.len()).filter(|&s| drops[s] > 1).collect();
        assert!(
            twice.is_empty(),
            "{what}: objects dropped more than once (serials {:?})",
            &twice[..twice.len().min(10)]
        );
        let never: Vec<usize> = (0..created)
            .filter(|&s| drops.get(s).copied().unwrap_or(0) == 0)
            .collect();
        assert!(
            never.is_empty(),
            "{what}: {} of {created} objects never dropped (serials {:?})",
            never.len(),
            &never[..never.len().min(10)]
        );
        assert_eq!(
            self.dropped.load(Ordering::SeqCst),
            created,
            "{what}: drops != constructions"
        );
    }
}

/// A tracked key: hashes and compares by `id`. Its `Hash`, `Eq` and `Clone`
/// consult [`maybe_panic`](crate::trip::maybe_panic), so the `panics` target
/// can make them fail at chosen calls (other targets never arm it).
pub struct TKey {
    id: u16,
    serial: usize,
    canary: AtomicU64,
    ledger: Arc<Ledger>,
}

impl TKey {
    pub fn new(ledger: &Arc<Ledger>, id: u16) -> TKey {
        TKey {
            id,
            serial: ledger.next_serial(),
            canary: AtomicU64::new(ALIVE),
            ledger: Arc::clone(ledger),
        }
    }

    /// The id, after checking the key was not dropped already.
    pub fn id(&self) -> u16 {
        assert_eq!(
            self.canary.load(Ordering::Relaxed),
            ALIVE,
            "use of key {} after drop",
            self.id
        );
        self.id
    }
}

impl Clone for TKey {
    fn clone(&self) -> TKey {
        maybe_panic(ON_CLONE);
        TKey::new(&self.ledger, self.id())
    }
}

impl PartialEq for TKey {
    fn eq(&self, other: &TKey) -> bool {
        maybe_panic(ON_EQ);
        self.id() == other.id()
    }
}

impl Eq for TKey {}

impl Hash for TKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        maybe_panic(ON_HASH);
        h.write_u16(self.id());
    }
}

impl std::fmt::Debug for TKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TKey({})", self.id)
    }
}

impl Drop for TKey {
    fn drop(&mut self) {
        let was = self.canary.swap(DEAD, Ordering::Relaxed);
        assert_eq!(was, ALIVE, "key {} dropped twice", self.id);
        self.ledger.record_drop(self.serial);
    }
}

/// A tracked value holding a `u64`.
pub struct TVal {
    v: u64,
    serial: usize,
    canary: AtomicU64,
    ledger: Arc<Ledger>,
}

impl TVal {
    pub fn new(ledger: &Arc<Ledger>, v: u64) -> TVal {
        TVal {
            v,
            serial: ledger.next_serial(),
            canary: AtomicU64::new(ALIVE),
            ledger: Arc::clone(ledger),
        }
    }

    /// The payload, after checking the value was not dropped already.
    pub fn v(&self) -> u64 {
        assert_eq!(
            self.canary.load(Ordering::Relaxed),
            ALIVE,
            "use of value {} after drop",
            self.v
        );
        self.v
    }
}

impl Clone for TVal {
    fn clone(&self) -> TVal {
        TVal::new(&self.ledger, self.v())
    }
}

impl PartialEq for TVal {
    fn eq(&self, other: &TVal) -> bool {
        self.v() == other.v()
    }
}

impl std::fmt::Debug for TVal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TVal({})", self.v)
    }
}

impl Drop for TVal {
    fn drop(&mut self) {
        let was = self.canary.swap(DEAD, Ordering::Relaxed);
        assert_eq!(was, ALIVE, "value {} dropped twice", self.v);
        self.ledger.record_drop(self.serial);
    }
}
