//! Bad input: hashers that collide everything, `Hash` and `Eq` impls and
//! closures that panic, impossible capacities. The crate docs promise: a
//! constant hasher makes the map slow, not wrong; a panicking `Hash`, `Eq`
//! or closure unwinds out of the call that ran it and leaves the map
//! consistent, with nothing lost, leaked or dropped twice; an impossible
//! capacity panics with "lfmap: capacity overflow".

use std::cell::Cell;
use std::collections::HashMap as StdMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use lfmap::HashMap;

// ---------------------------------------------------------------------------
// Hashers
// ---------------------------------------------------------------------------

/// Hashes every key to the same value.
#[derive(Clone, Copy, Default)]
struct ConstHash;

struct ConstHasher;

impl Hasher for ConstHasher {
    fn write(&mut self, _: &[u8]) {}
    fn finish(&self) -> u64 {
        0xDEAD_BEEF
    }
}

impl BuildHasher for ConstHash {
    type Hasher = ConstHasher;
    fn build_hasher(&self) -> ConstHasher {
        ConstHasher
    }
}

/// Hashes a `u64` (or anything writing one) to `value % n`: few distinct
/// hashes, so probes compare many keys (many `Eq` calls).
#[derive(Clone, Copy)]
struct ModHash(u64);

struct ModHasher(u64, u64);

impl Hasher for ModHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.1 = self.1.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.1 ^= v;
    }
    fn finish(&self) -> u64 {
        self.1 % self.0
    }
}

impl BuildHasher for ModHash {
    type Hasher = ModHasher;
    fn build_hasher(&self) -> ModHasher {
        ModHasher(self.0, 0)
    }
}

/// Installs (once) a panic hook that keeps the planned panics of this file
/// (messages starting with "planned") off the output; others print as usual.
fn quiet_planned_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !msg.starts_with("planned") {
                default(info);
            }
        }));
    });
}

// ---------------------------------------------------------------------------
// (a) one hash for every key
// ---------------------------------------------------------------------------

/// Keys for the constant-hash test: every operation probes past all keys
/// (quadratic). 20_000 keys take ~1.2 s in release but ~25 s in debug, so
/// debug builds use fewer.
const CONST_KEYS: u64 = if cfg!(debug_assertions) {
    6_000
} else {
    20_000
};

#[test]
fn constant_hash_is_slow_not_wrong() {
    let start = Instant::now();
    let map: HashMap<u64, u64, ConstHash> = HashMap::with_capacity_and_hasher(0, ConstHash);
    {
        let m = map.pin();
        for k in 0..CONST_KEYS {
            assert_eq!(m.insert(k, k * 3), None, "insert {k}");
        }
    }
    assert_eq!(map.len(), CONST_KEYS as usize);
    let t_insert = start.elapsed();
    {
        let m = map.pin();
        for k in 0..CONST_KEYS {
            assert_eq!(m.get(&k), Some(&(k * 3)), "get {k}");
        }
        assert_eq!(m.get(&CONST_KEYS), None);
        assert_eq!(m.get(&u64::MAX), None);
        // Exact iteration: every key once.
        let mut keys: Vec<u64> = m.keys().copied().collect();
        assert_eq!(keys.len(), CONST_KEYS as usize);
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), CONST_KEYS as usize, "a key yielded twice");
        assert_eq!(keys.first(), Some(&0));
        assert_eq!(keys.last(), Some(&(CONST_KEYS - 1)));
    }
    {
        // Overwrite and update some, remove every other key.
        let m = map.pin();
        for k in (0..CONST_KEYS).step_by(7) {
            assert_eq!(m.update(&k, |v| v + 1), Some(&(k * 3 + 1)));
        }
        for k in (0..CONST_KEYS).step_by(2) {
            let expected = if k % 7 == 0 { k * 3 + 1 } else { k * 3 };
            assert_eq!(m.remove(&k), Some(&expected), "remove {k}");
            assert_eq!(m.remove(&k), None);
        }
    }
    let half = (CONST_KEYS / 2) as usize;
    assert_eq!(map.len(), half);
    {
        let m = map.pin();
        for k in 0..CONST_KEYS {
            let expected = match (k % 2, k % 7) {
                (0, _) => None,
                (_, 0) => Some(k * 3 + 1),
                _ => Some(k * 3),
            };
            assert_eq!(m.get(&k).copied(), expected, "get {k} after removes");
        }
        assert_eq!(m.iter().count(), half);
        assert!(m.iter().all(|(k, _)| k % 2 == 1));
    }
    let elapsed = start.elapsed();
    eprintln!(
        "constant hash, {CONST_KEYS} keys: inserts {t_insert:?}, total {elapsed:?}; {:?}",
        map.stats()
    );
}

/// A constant hash with String keys and lookups by `&str`, through growth,
/// removal of everything, and reuse.
#[test]
fn constant_hash_string_keys() {
    let n = if cfg!(debug_assertions) { 800 } else { 3000 };
    let map: HashMap<String, usize, ConstHash> = HashMap::with_hasher(ConstHash);
    for round in 0..3 {
        let m = map.pin();
        for i in 0..n {
            assert_eq!(m.insert(format!("k{i}"), i + round), None);
        }
        for i in 0..n {
            assert_eq!(m.get(format!("k{i}").as_str()), Some(&(i + round)));
        }
        assert_eq!(m.iter().count(), n);
        for i in 0..n {
            assert_eq!(m.remove(format!("k{i}").as_str()), Some(&(i + round)));
        }
        assert!(m.is_empty());
        assert_eq!(m.iter().count(), 0);
    }
}

// ---------------------------------------------------------------------------
// Drop accounting (a copy of the one in drops.rs: test files share nothing)
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Ledger {
    created: AtomicUsize,
    dropped: AtomicUsize,
    drops: Mutex<Vec<u8>>,
}

impl Ledger {
    fn new() -> Arc<Ledger> {
        Arc::new(Ledger::default())
    }

    fn assert_balanced(&self, what: &str) {
        let created = self.created.load(Ordering::SeqCst);
        let drops = self.drops.lock().unwrap();
        let twice = drops.iter().filter(|&&d| d > 1).count();
        assert_eq!(twice, 0, "{what}: objects dropped more than once");
        let never = (0..created)
            .filter(|&s| drops.get(s).copied().unwrap_or(0) == 0)
            .count();
        assert_eq!(never, 0, "{what}: objects never dropped (of {created})");
        assert_eq!(self.dropped.load(Ordering::SeqCst), created, "{what}");
    }

    fn record_drop(&self, serial: usize) {
        let mut drops = self.drops.lock().unwrap();
        if drops.len() <= serial {
            drops.resize(serial + 1, 0);
        }
        drops[serial] = drops[serial].saturating_add(1);
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// A tracked value.
struct Val {
    v: u64,
    serial: usize,
    ledger: Arc<Ledger>,
}

impl Val {
    fn new(ledger: &Arc<Ledger>, v: u64) -> Val {
        Val {
            v,
            serial: ledger.created.fetch_add(1, Ordering::SeqCst),
            ledger: Arc::clone(ledger),
        }
    }
}

impl Drop for Val {
    fn drop(&mut self) {
        self.ledger.record_drop(self.serial);
    }
}

// ---------------------------------------------------------------------------
// (b) a key whose Hash and Eq panic on chosen calls
// ---------------------------------------------------------------------------

thread_local! {
    /// `Some(n)`: the `n`-th `Hash`/`Eq` call from now (0 = the next) on
    /// this thread panics; `None`: no panic planned.
    static TRIP: Cell<Option<u32>> = const { Cell::new(None) };
    /// Which of `Hash` (bit 0) and `Eq` (bit 1) count towards `TRIP`.
    static TRIP_ON: Cell<u8> = const { Cell::new(0) };
}

const ON_HASH: u8 = 1;
const ON_EQ: u8 = 2;

fn arm(n: u32, on: u8) {
    TRIP.with(|t| t.set(Some(n)));
    TRIP_ON.with(|t| t.set(on));
}

fn disarm() {
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

/// A key whose `Hash` and `Eq` may panic (see [`arm`]). Tracked like `Val`.
struct PKey {
    id: u64,
    serial: usize,
    ledger: Arc<Ledger>,
}

impl PKey {
    fn new(ledger: &Arc<Ledger>, id: u64) -> PKey {
        PKey {
            id,
            serial: ledger.created.fetch_add(1, Ordering::SeqCst),
            ledger: Arc::clone(ledger),
        }
    }
}

impl Clone for PKey {
    fn clone(&self) -> PKey {
        PKey::new(&self.ledger, self.id)
    }
}

impl Drop for PKey {
    fn drop(&mut self) {
        self.ledger.record_drop(self.serial);
    }
}

impl Hash for PKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        maybe_panic(ON_HASH);
        h.write_u64(self.id);
    }
}

impl PartialEq for PKey {
    fn eq(&self, other: &PKey) -> bool {
        maybe_panic(ON_EQ);
        self.id == other.id
    }
}
impl Eq for PKey {}

/// xorshift64*, deterministic per seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Checks the whole map against the model (with no panic armed).
fn check_model<S: BuildHasher>(
    map: &HashMap<PKey, Val, S>,
    model: &StdMap<u64, u64>,
    keys: &Arc<Ledger>,
    keyspace: u64,
    ctx: &str,
) {
    disarm();
    let m = map.pin();
    let mut got: Vec<(u64, u64)> = m.iter().map(|(k, v)| (k.id, v.v)).collect();
    got.sort_unstable();
    let mut want: Vec<(u64, u64)> = model.iter().map(|(&k, &v)| (k, v)).collect();
    want.sort_unstable();
    assert_eq!(got, want, "{ctx}: contents");
    assert_eq!(m.len(), model.len(), "{ctx}: len");
    for k in 0..keyspace {
        assert_eq!(
            m.get(&PKey::new(keys, k)).map(|v| v.v),
            model.get(&k).copied(),
            "{ctx}: get {k}"
        );
    }
}

/// Random operations with `Hash`/`Eq` panics planned on some of them. An
/// operation that panics must have had no effect (its linearization point is
/// a CAS after every user call); one that returns must agree with the model.
fn panicking_key_ops<S: BuildHasher>(hasher: S, seed: u64, keyspace: u64, ops: usize) {
    let keys = Ledger::new();
    let vals = Ledger::new();
    let map: HashMap<PKey, Val, S> = HashMap::with_capacity_and_hasher(0, hasher);
    let mut model: StdMap<u64, u64> = StdMap::new();
    let mut rng = Rng(seed | 1);
    let mut panics = 0;
    let mut armed_ops = 0;
    for step in 0..ops {
        let k = rng.below(keyspace);
        let v = rng.next() >> 1;
        let op = rng.below(9);
        let armed = rng.below(3) != 0;
        if armed {
            armed_ops += 1;
            let on = [ON_HASH, ON_EQ, ON_HASH | ON_EQ][rng.below(3) as usize];
            arm([0, 0, 0, 1, 1, 2, 3, 6][rng.below(8) as usize], on);
        }
        let ctx = format!("seed {seed} step {step} op {op} key {k}");
        let m = map.pin();
        // What the op returned, as plain data, or Err if it panicked.
        let result = catch_unwind(AssertUnwindSafe(|| match op {
            0 | 1 => m
                .insert(PKey::new(&keys, k), Val::new(&vals, v))
                .map(|x| x.v),
            2 => m.get(&PKey::new(&keys, k)).map(|x| x.v),
            3 => m.remove(&PKey::new(&keys, k)).map(|x| x.v),
            4 => m
                .update(&PKey::new(&keys, k), |old| {
                    Val::new(&vals, old.v.wrapping_add(v))
                })
                .map(|x| x.v),
            5 => Some(m.get_or_insert(PKey::new(&keys, k), Val::new(&vals, v)).v),
            6 => Some(
                m.get_or_insert_with(PKey::new(&keys, k), || Val::new(&vals, v))
                    .v,
            ),
            7 => m
                .remove_if(&PKey::new(&keys, k), |_, x| x.v % 2 == v % 2)
                .map(|(_, x)| x.v),
            _ => {
                // Iteration may finish a resize, which compares keys.
                Some(m.iter().count() as u64)
            }
        }));
        disarm();
        drop(m);
        match result {
            Err(payload) => {
                panics += 1;
                let msg = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_default();
                assert!(msg.starts_with("planned panic"), "{ctx}: {msg}");
                // No effect: the key still has its model value.
                let m = map.pin();
                assert_eq!(
                    m.get(&PKey::new(&keys, k)).map(|x| x.v),
                    model.get(&k).copied(),
                    "{ctx}: key changed by a panicking op"
                );
                assert_eq!(m.len(), model.len(), "{ctx}: len after panic");
            }
            Ok(got) => {
                let expected = match op {
                    0 | 1 => model.insert(k, v),
                    2 => model.get(&k).copied(),
                    3 => model.remove(&k),
                    4 => model.get_mut(&k).map(|x| {
                        *x = x.wrapping_add(v);
                        *x
                    }),
                    5 | 6 => Some(*model.entry(k).or_insert(v)),
                    7 => match model.get(&k) {
                        Some(x) if x % 2 == v % 2 => model.remove(&k),
                        _ => None,
                    },
                    _ => Some(model.len() as u64),
                };
                assert_eq!(got, expected, "{ctx}");
            }
        }
        if step % 500 == 499 {
            check_model(&map, &model, &keys, keyspace, &ctx);
        }
    }
    check_model(&map, &model, &keys, keyspace, "end");
    // Hash runs once or twice per op and Eq rarely under a good hasher, so
    // only some armed ops panic; but many must.
    assert!(
        panics * 10 > armed_ops,
        "only {panics} panics in {armed_ops} armed ops"
    );
    drop(map);
    keys.assert_balanced(&format!("seed {seed}: keys"));
    vals.assert_balanced(&format!("seed {seed}: values"));
}

const PANIC_OPS: usize = if cfg!(debug_assertions) {
    4_000
} else {
    20_000
};

#[test]
fn panicking_hash_and_eq_default_hasher() {
    quiet_planned_panics();
    for seed in 1..=4 {
        panicking_key_ops(lfmap::DefaultHashBuilder::default(), seed, 400, PANIC_OPS);
    }
}

#[test]
fn panicking_hash_and_eq_few_hashes() {
    quiet_planned_panics();
    // Few distinct hashes: probes and migrations call `Eq` constantly, so
    // panics land inside resizes (helping, sealing, copying).
    for (seed, n) in [(11, 1), (12, 4), (13, 16), (14, 64)] {
        panicking_key_ops(ModHash(n), seed, 300, PANIC_OPS / 2);
    }
}

#[test]
fn panicking_hash_and_eq_large_tables() {
    quiet_planned_panics();
    // Enough keys for multi-chunk (64-slot) migrations, so a panic can stop
    // a helper between chunks and leave a resize half done.
    panicking_key_ops(ModHash(1 << 20), 21, 3000, PANIC_OPS * 2);
    panicking_key_ops(ModHash(97), 22, 1500, PANIC_OPS);
}

/// Eq panics on every call while a migration is in flight: writes must not
/// corrupt anything, and once `Eq` behaves, every key is still there.
#[test]
fn eq_panics_during_migration() {
    quiet_planned_panics();
    let keys = Ledger::new();
    let vals = Ledger::new();
    {
        let map: HashMap<PKey, Val, _> = HashMap::with_capacity_and_hasher(0, ModHash(8));
        let mut model = StdMap::new();
        for k in 0..700u64 {
            map.pin().insert(PKey::new(&keys, k), Val::new(&vals, k));
            model.insert(k, k);
        }
        // Push it over a resize threshold with Eq failing on many calls.
        let mut panics = 0;
        for k in 700..1400u64 {
            arm((k % 3) as u32, ON_EQ);
            let r = catch_unwind(AssertUnwindSafe(|| {
                map.pin().insert(PKey::new(&keys, k), Val::new(&vals, k));
            }));
            disarm();
            match r {
                Ok(()) => {
                    model.insert(k, k);
                }
                Err(_) => panics += 1,
            }
        }
        assert!(panics > 100, "only {panics} panics");
        check_model(&map, &model, &keys, 1400, "after panicking inserts");
        // And it keeps working: more growth, removals, shrink.
        for k in 1400..3000u64 {
            map.pin().insert(PKey::new(&keys, k), Val::new(&vals, k));
            model.insert(k, k);
        }
        for k in (0..3000u64).filter(|k| k % 5 != 0) {
            assert_eq!(
                map.pin().remove(&PKey::new(&keys, k)).map(|v| v.v),
                model.remove(&k)
            );
        }
        check_model(&map, &model, &keys, 3000, "after growth and shrink");
    }
    keys.assert_balanced("keys");
    vals.assert_balanced("values");
}

// ---------------------------------------------------------------------------
// (c) panicking closures
// ---------------------------------------------------------------------------

fn tracked_map(n: u64, keys: &Arc<Ledger>, vals: &Arc<Ledger>) -> HashMap<PKey, Val> {
    let map = HashMap::with_capacity(0);
    for k in 0..n {
        map.pin().insert(PKey::new(keys, k), Val::new(vals, k * 10));
    }
    map
}

fn contents(map: &HashMap<PKey, Val>) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = map.pin().iter().map(|(k, v)| (k.id, v.v)).collect();
    v.sort_unstable();
    v
}

#[test]
fn panicking_update_closure_leaves_value() {
    quiet_planned_panics();
    let (keys, vals) = (Ledger::new(), Ledger::new());
    {
        let map = tracked_map(200, &keys, &vals);
        let before = contents(&map);
        for k in 0..200u64 {
            let m = map.pin();
            let r = catch_unwind(AssertUnwindSafe(|| {
                m.update(&PKey::new(&keys, k), |old| {
                    // Build a value first, then panic: it must be dropped.
                    let _doomed = Val::new(&vals, old.v + 1);
                    panic!("planned: update closure");
                });
            }));
            assert!(r.is_err());
            assert_eq!(m.get(&PKey::new(&keys, k)).map(|v| v.v), Some(k * 10));
        }
        assert_eq!(contents(&map), before);
        // Updates still work afterwards.
        for k in 0..200u64 {
            let new = map
                .pin()
                .update(&PKey::new(&keys, k), |old| Val::new(&vals, old.v + 1))
                .map(|v| v.v);
            assert_eq!(new, Some(k * 10 + 1));
        }
        assert_eq!(map.len(), 200);
    }
    keys.assert_balanced("keys");
    vals.assert_balanced("values");
}

#[test]
fn panicking_get_or_insert_with_inserts_nothing() {
    quiet_planned_panics();
    let (keys, vals) = (Ledger::new(), Ledger::new());
    {
        let map = tracked_map(100, &keys, &vals);
        for k in 100..300u64 {
            let m = map.pin();
            let r = catch_unwind(AssertUnwindSafe(|| {
                m.get_or_insert_with(PKey::new(&keys, k), || panic!("planned: make"));
            }));
            assert!(r.is_err());
            assert!(m.get(&PKey::new(&keys, k)).is_none(), "key {k} inserted");
        }
        assert_eq!(map.len(), 100);
        assert_eq!(
            contents(&map),
            (0..100).map(|k| (k, k * 10)).collect::<Vec<_>>()
        );
        // Present keys never call make.
        for k in 0..100u64 {
            let v = map
                .pin()
                .get_or_insert_with(PKey::new(&keys, k), || panic!("make for present key"))
                .v;
            assert_eq!(v, k * 10);
        }
    }
    keys.assert_balanced("keys");
    vals.assert_balanced("values");
}

#[test]
fn panicking_remove_if_predicate_removes_nothing() {
    quiet_planned_panics();
    let (keys, vals) = (Ledger::new(), Ledger::new());
    {
        let map = tracked_map(300, &keys, &vals);
        for k in 0..300u64 {
            let m = map.pin();
            let r = catch_unwind(AssertUnwindSafe(|| {
                m.remove_if(&PKey::new(&keys, k), |_, _| panic!("planned: predicate"));
            }));
            assert!(r.is_err());
            assert_eq!(m.get(&PKey::new(&keys, k)).map(|v| v.v), Some(k * 10));
        }
        assert_eq!(map.len(), 300);
        assert_eq!(
            contents(&map),
            (0..300).map(|k| (k, k * 10)).collect::<Vec<_>>()
        );
        // Absent keys never call the predicate.
        assert!(map
            .pin()
            .remove_if(&PKey::new(&keys, 999), |_, _| panic!("absent"))
            .is_none());
    }
    keys.assert_balanced("keys");
    vals.assert_balanced("values");
}

/// `retain` whose predicate panics part-way: the entries judged before the
/// panic were kept or removed as judged, the rest are untouched. With most
/// entries removed, a shrink starts during the walk, so the panic can land
/// with a migration half done.
#[test]
fn panicking_retain_predicate_stops_cleanly() {
    quiet_planned_panics();
    for (n, panic_at) in [
        (50u64, 0usize),
        (50, 49),
        (1000, 500),
        (1000, 990),
        (3000, 2000),
    ] {
        let (keys, vals) = (Ledger::new(), Ledger::new());
        {
            let map = tracked_map(n, &keys, &vals);
            let mut judged = Vec::new();
            let r = catch_unwind(AssertUnwindSafe(|| {
                map.pin().retain(|k, _| {
                    if judged.len() == panic_at {
                        panic!("planned: retain predicate");
                    }
                    judged.push(k.id);
                    k.id % 10 == 0
                });
            }));
            assert!(r.is_err(), "n {n}: retain did not panic");
            assert_eq!(judged.len(), panic_at);
            let removed: std::collections::HashSet<u64> =
                judged.iter().copied().filter(|k| k % 10 != 0).collect();
            let want: Vec<(u64, u64)> = (0..n)
                .filter(|k| !removed.contains(k))
                .map(|k| (k, k * 10))
                .collect();
            assert_eq!(contents(&map), want, "n {n} panic_at {panic_at}");
            assert_eq!(map.len(), want.len());
            for &(k, v) in &want {
                assert_eq!(map.pin().get(&PKey::new(&keys, k)).map(|x| x.v), Some(v));
            }
            // A full retain afterwards finishes the job.
            map.pin().retain(|k, _| k.id % 10 == 0);
            assert_eq!(map.len(), n.div_ceil(10) as usize);
        }
        keys.assert_balanced(&format!("n {n}: keys"));
        vals.assert_balanced(&format!("n {n}: values"));
    }
}

// ---------------------------------------------------------------------------
// (d) capacity overflow
// ---------------------------------------------------------------------------

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        String::from("<non-string panic payload>")
    }
}

#[test]
fn capacity_overflow_panics_with_message() {
    let huge = [
        usize::MAX,
        usize::MAX - 1,
        usize::MAX / 2,
        usize::MAX / 3 * 2,
        1 << (usize::BITS - 2),
        1 << (usize::BITS - 4),
    ];
    for cap in huge {
        let r = catch_unwind(|| HashMap::<u64, u64>::with_capacity(cap));
        let msg = panic_message(
            r.err()
                .unwrap_or_else(|| panic!("with_capacity({cap}) returned")),
        );
        assert!(
            msg.contains("capacity overflow"),
            "with_capacity({cap}): panic message {msg:?}"
        );
        let r = catch_unwind(|| {
            HashMap::<String, Vec<u8>, _>::with_capacity_and_hasher(cap, ConstHash)
        });
        let msg = panic_message(
            r.err()
                .unwrap_or_else(|| panic!("with_capacity_and_hasher({cap}) returned")),
        );
        assert!(msg.contains("lfmap: capacity overflow"), "{msg:?}");
    }
    // Ordinary capacities still work.
    let map = HashMap::<u64, u64>::with_capacity(100_000);
    assert!(map.stats().capacity >= 100_000);
    map.pin().insert(1, 2);
    assert_eq!(map.pin().get(&1), Some(&2));
}
