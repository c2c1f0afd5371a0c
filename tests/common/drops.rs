//! Drop ledgers: every tracked object has a serial number, and its ledger
//! counts constructions and drops per serial, so that "every key and value
//! dropped exactly once" is checked object by object: a double drop is
//! caught as such, not hidden by a leak elsewhere. Give each test its own
//! ledgers (tests run in parallel threads).

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

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

    /// Records a construction; returns the new object's serial number.
    pub fn register(&self) -> usize {
        self.created.fetch_add(1, Ordering::SeqCst)
    }

    /// Records the drop of object `serial`.
    pub fn record_drop(&self, serial: usize) {
        {
            let mut drops = self.drops.lock().unwrap();
            if drops.len() <= serial {
                drops.resize(serial + 1, 0);
            }
            drops[serial] = drops[serial].saturating_add(1);
        }
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }

    pub fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }

    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    /// Objects created and not dropped yet.
    pub fn live(&self) -> usize {
        self.created() - self.dropped()
    }

    /// Every object created was dropped exactly once.
    pub fn assert_balanced(&self, what: &str) {
        let created = self.created();
        let drops = self.drops.lock().unwrap();
        let twice: Vec<usize> = (0..drops.len()).filter(|&s| drops[s] > 1).collect();
        assert!(
            twice.is_empty(),
            "{what}: {} objects dropped more than once (serials {:?})",
            twice.len(),
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
        assert_eq!(self.dropped(), created, "{what}: drops != constructions");
    }
}

/// A key or value that records its construction and drop in a [`Ledger`].
/// Equality and hashing use `id` only (hashing writes it as one `u64`);
/// [`id`](Tracked::id) fails on an object already dropped.
pub struct Tracked {
    id: u64,
    serial: usize,
    canary: AtomicU64,
    ledger: Arc<Ledger>,
}

impl Tracked {
    pub fn new(ledger: &Arc<Ledger>, id: u64) -> Tracked {
        Tracked {
            id,
            serial: ledger.register(),
            canary: AtomicU64::new(ALIVE),
            ledger: Arc::clone(ledger),
        }
    }

    /// The id, after checking the object was not dropped already.
    pub fn id(&self) -> u64 {
        assert_eq!(
            self.canary.load(Ordering::SeqCst),
            ALIVE,
            "use after drop of object {}",
            self.id
        );
        self.id
    }
}

/// A clone is a new object: it gets its own serial.
impl Clone for Tracked {
    fn clone(&self) -> Tracked {
        Tracked::new(&self.ledger, self.id())
    }
}

impl PartialEq for Tracked {
    fn eq(&self, other: &Tracked) -> bool {
        self.id == other.id
    }
}
impl Eq for Tracked {}

impl Hash for Tracked {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.id.hash(h);
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.canary.store(DEAD, Ordering::SeqCst);
        self.ledger.record_drop(self.serial);
    }
}

/// A pair of ledgers, one for keys and one for values, and constructors
/// for both.
pub struct Books {
    pub keys: Arc<Ledger>,
    pub vals: Arc<Ledger>,
}

impl Default for Books {
    fn default() -> Books {
        Books::new()
    }
}

impl Books {
    pub fn new() -> Books {
        Books {
            keys: Ledger::new(),
            vals: Ledger::new(),
        }
    }

    /// A tracked key.
    pub fn k(&self, id: u64) -> Tracked {
        Tracked::new(&self.keys, id)
    }

    /// A tracked value.
    pub fn v(&self, id: u64) -> Tracked {
        Tracked::new(&self.vals, id)
    }

    /// Both ledgers balance: every key and every value created was
    /// dropped exactly once.
    pub fn assert_balanced(&self, what: &str) {
        self.keys.assert_balanced(&format!("{what} (keys)"));
        self.vals.assert_balanced(&format!("{what} (values)"));
    }
}
