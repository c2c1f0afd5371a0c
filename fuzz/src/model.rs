//! The single-threaded model check shared by the `ops`, `collisions` and
//! `panics` targets: a sequence of operations runs on an `lfmap::HashMap`
//! and on a `std` map side by side; every return value, every closure call
//! count, the length after every operation and the whole contents at
//! checkpoints and at the end must agree. Values are tracked ([`TVal`]), and
//! keys are too when the key type is [`TKey`](crate::ledger::TKey), so after
//! the map is dropped every key and value ever constructed must have been
//! dropped exactly once.
//!
//! With planned panics (the `panics` target) an operation may unwind; then
//! the map must be exactly as before the operation (its linearization point
//! is a CAS after every user call), except for the documented partial
//! effects of `retain` and `extend`, which the model tracks.

use std::collections::HashMap as StdMap;
use std::hash::BuildHasher;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use arbitrary::Arbitrary;
use lfmap::{Compute, HashMap, HashMapRef, Operation, TryReserveError};

use crate::capacity::{assert_reserved, assert_shrunk, assert_shrunk_to, huge, RESERVE_MOD};

use crate::keys::FKey;
use crate::ledger::{Ledger, TVal};
use crate::trip::{self, maybe_panic, payload_message, ON_CLOSURE, PLANNED};

/// One operation. Key indices are reduced modulo the scenario's key space.
#[derive(Arbitrary, Clone, Debug)]
pub enum Op {
    Insert(u16, u32),
    Remove(u16),
    Get(u16),
    GetKeyValue(u16),
    ContainsKey(u16),
    GetOrInsert(u16, u32),
    GetOrInsertWith(u16, u32),
    /// `update(k, |v| v + delta)`.
    Update(u16, u32),
    /// `remove_if(k, |_, v| removes(v, p))`.
    RemoveIf(u16, u8),
    Clear,
    /// `retain(|k, v| keeps(k, v, p))`.
    Retain(u8),
    /// Full comparison of the contents (iter, keys, values, get of every key).
    Iter,
    Len,
    /// `refresh` the long-lived handle (lets garbage be reclaimed; when
    /// pinning per step, nothing more), then `flush` the thread's batch of
    /// retirements.
    Repin,
    /// Inserts `count` consecutive keys: drives growth with few input bytes.
    InsertRange {
        start: u16,
        count: u8,
        value: u32,
    },
    /// Removes `count` consecutive keys: drives tombstones and shrinking.
    RemoveRange {
        start: u16,
        count: u8,
    },
    /// `try_insert(k, v)`.
    TryInsert(u16, u32),
    /// `compute(k, f)` with `f` chosen by `mode` (see [`compute_op`]).
    Compute(u16, u8, u32),
    /// Gets a reference to `key`'s value, removes the key, inserts `churn`
    /// keys (resizes, retirements), then reads the reference: it must still
    /// hold the old value (the handle is pinned throughout).
    StaleRead {
        key: u16,
        churn: u8,
    },
    /// Clones the map, compares the clone (`==` and contents), drops it.
    CloneMap,
    /// `Extend` from a list of pairs.
    Extend(Vec<(u16, u32)>),
    /// `reserve(additional % RESERVE_MOD)`: the capacity must then hold
    /// `len + additional`; then up to `additional` new keys (the absent
    /// ones from `fill` on) are inserted, which must not resize.
    Reserve {
        additional: u16,
        fill: u16,
    },
    /// `try_reserve(additional % RESERVE_MOD)`: `Ok`, with room as
    /// `Reserve`.
    TryReserve(u16),
    /// `try_reserve` of a request no table can hold
    /// ([`huge`](crate::capacity::huge)): `Err(CapacityOverflow)`, and the
    /// map unchanged (contents and capacity).
    TryReserveHuge(u8),
    /// `shrink_to_fit`: the contents unchanged, the capacity the smallest
    /// that holds them.
    ShrinkToFit,
    /// `shrink_to(min % RESERVE_MOD)`: the contents unchanged, the
    /// capacity what fits the entries and `min` of them, or unchanged if
    /// the table was smaller.
    ShrinkTo(u16),
    /// `compare_exchange(k, expected, new)`, `expected` the key's value in
    /// the model when `use_current` (so that exchanges succeed), else
    /// `current`: the result, the value given back on failure, and the
    /// contents match the model.
    CompareExchange {
        key: u16,
        use_current: bool,
        current: u32,
        new: u32,
    },
}

/// A planned panic: the `after`-th call (mod 8) of a kind in `on`.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct Arm {
    pub after: u8,
    pub on: u8,
}

/// How a run ends, after the final contents check.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum End {
    /// The map is dropped.
    Drop,
    /// The map is consumed by `into_iter`, which must yield the contents.
    IntoIter,
    /// `into_iter`, `n` pairs taken, then the iterator is dropped.
    IntoIterPartial(u8),
    /// `drain`, `n` pairs taken (all of them if `n` is 255), then the
    /// iterator is dropped: the map is empty and usable (a few keys are
    /// inserted and read back), then dropped.
    Drain(u8),
}

/// The scenario of one run.
#[derive(Arbitrary, Clone, Debug)]
pub struct Scenario {
    pub end: End,
    /// Index into [`KEY_SPACES`].
    pub key_space: u8,
    /// `with_capacity(capacity % 80)`.
    pub capacity: u8,
    /// Keep one pinned handle across operations (`Repin` refreshes it).
    pub long_pin: bool,
    pub ops: Vec<Op>,
}

pub const KEY_SPACES: [u16; 13] = [1, 2, 3, 4, 8, 16, 24, 40, 64, 100, 200, 500, 1000];

/// Most operations per run: keeps every input fast.
pub const MAX_OPS: usize = 1500;

pub fn removes(v: u64, p: u8) -> bool {
    v.is_multiple_of(u64::from(p % 5) + 2)
}

pub fn keeps(id: u16, v: u64, p: u8) -> bool {
    (u64::from(id).wrapping_mul(0x9E37_79B9) ^ v).wrapping_add(u64::from(p))
        % (u64::from(p % 4) + 2)
        != 0
}

/// What `compute`'s closure decides, from the current value, by `mode`.
pub fn compute_op(cur: Option<u64>, mode: u8, v: u32) -> Operation<u64, u64> {
    let v = u64::from(v);
    match (mode % 5, cur) {
        (0, _) => Operation::Insert(v),
        (1, None) => Operation::Insert(v),
        (1, Some(_)) => Operation::Remove,
        (2, Some(x)) if x % 2 == 0 => Operation::Abort(x),
        (2, x) => Operation::Insert(x.unwrap_or(0).wrapping_add(v)),
        (3, None) => Operation::Abort(v),
        (3, Some(x)) => Operation::Insert(x ^ v),
        _ => Operation::Remove,
    }
}

/// A `Compute` result as plain data: (kind, old, new).
#[derive(Debug, PartialEq, Eq)]
pub enum Computed {
    Inserted(u64),
    Updated(u64, u64),
    Removed(u64),
    Absent,
    Aborted(u64),
}

type Model = StdMap<u16, u64>;

/// Runs `f`; with a planned panic (`arm`), catches it: `None` if it panicked
/// (which must be a planned panic: any other panic aborts via the hook).
fn guarded<R>(arm: Option<Arm>, f: impl FnOnce() -> R) -> Option<R> {
    let Some(a) = arm else {
        return Some(f());
    };
    let on = if a.on & 0xf == 0 { 0xf } else { a.on & 0xf };
    trip::arm(u32::from(a.after % 8), on);
    let r = catch_unwind(AssertUnwindSafe(f));
    trip::disarm();
    match r {
        Ok(r) => Some(r),
        Err(payload) => {
            let msg = payload_message(&*payload);
            assert!(msg.starts_with(PLANNED), "unexpected panic: {msg}");
            None
        }
    }
}

struct Engine<'a, K, S> {
    map: &'a HashMap<K, TVal, S>,
    model: Model,
    keys: u16,
    kl: Arc<Ledger>,
    vl: Arc<Ledger>,
    step: usize,
    panics: usize,
}

impl<K: FKey, S: BuildHasher + Clone> Engine<'_, K, S> {
    fn key(&self, id: u16) -> K {
        K::make(id, &self.kl)
    }

    fn val(&self, v: u64) -> TVal {
        TVal::new(&self.vl, v)
    }

    /// After an operation unwound: the map must equal the model.
    fn after_panic(&mut self, m: &HashMapRef<'_, K, TVal, S>) {
        self.panics += 1;
        check_all(m, &self.model, self.keys, &self.kl, self.step);
    }

    fn insert(&mut self, m: &HashMapRef<'_, K, TVal, S>, id: u16, v: u64, arm: Option<Arm>) {
        let (k, val) = (self.key(id), self.val(v));
        match guarded(arm, || m.insert(k, val).map(TVal::v)) {
            Some(got) => assert_eq!(got, self.model.insert(id, v), "step {}: insert", self.step),
            None => self.after_panic(m),
        }
    }

    fn remove(&mut self, m: &HashMapRef<'_, K, TVal, S>, id: u16, arm: Option<Arm>) {
        let k = self.key(id);
        match guarded(arm, || m.remove(k.q()).map(TVal::v)) {
            Some(got) => assert_eq!(got, self.model.remove(&id), "step {}: remove", self.step),
            None => self.after_panic(m),
        }
    }

    fn op(&mut self, m: &HashMapRef<'_, K, TVal, S>, op: &Op, arm: Option<Arm>) {
        let keys = self.keys;
        let step = self.step;
        match *op {
            Op::Insert(k, v) => self.insert(m, k % keys, u64::from(v), arm),
            Op::Remove(k) => self.remove(m, k % keys, arm),
            Op::Get(k) => {
                let (id, k) = (k % keys, self.key(k % keys));
                match guarded(arm, || m.get(k.q()).map(TVal::v)) {
                    Some(got) => assert_eq!(got, self.model.get(&id).copied(), "step {step}: get"),
                    None => self.after_panic(m),
                }
            }
            Op::GetKeyValue(k) => {
                let (id, k) = (k % keys, self.key(k % keys));
                match guarded(arm, || m.get_key_value(k.q()).map(|(k, v)| (k.id(), v.v()))) {
                    Some(got) => assert_eq!(
                        got,
                        self.model.get(&id).map(|&v| (id, v)),
                        "step {step}: get_key_value"
                    ),
                    None => self.after_panic(m),
                }
            }
            Op::ContainsKey(k) => {
                let (id, k) = (k % keys, self.key(k % keys));
                match guarded(arm, || m.contains_key(k.q())) {
                    Some(got) => assert_eq!(
                        got,
                        self.model.contains_key(&id),
                        "step {step}: contains_key"
                    ),
                    None => self.after_panic(m),
                }
            }
            Op::GetOrInsert(k, v) => {
                let id = k % keys;
                let (k, val) = (self.key(id), self.val(u64::from(v)));
                match guarded(arm, || m.get_or_insert(k, val).v()) {
                    Some(got) => assert_eq!(
                        got,
                        *self.model.entry(id).or_insert(u64::from(v)),
                        "step {step}: get_or_insert"
                    ),
                    None => self.after_panic(m),
                }
            }
            Op::GetOrInsertWith(k, v) => {
                let id = k % keys;
                let k = self.key(id);
                let mut calls = 0;
                let vl = &self.vl;
                let got = guarded(arm, || {
                    m.get_or_insert_with(k, || {
                        calls += 1;
                        maybe_panic(ON_CLOSURE);
                        TVal::new(vl, u64::from(v))
                    })
                    .v()
                });
                match got {
                    Some(got) => {
                        let absent = !self.model.contains_key(&id);
                        assert_eq!(calls, usize::from(absent), "step {step}: make calls");
                        assert_eq!(
                            got,
                            *self.model.entry(id).or_insert(u64::from(v)),
                            "step {step}: get_or_insert_with"
                        );
                    }
                    None => self.after_panic(m),
                }
            }
            Op::Update(k, d) => {
                let (id, k) = (k % keys, self.key(k % keys));
                let mut calls = 0;
                let vl = &self.vl;
                let got = guarded(arm, || {
                    m.update(k.q(), |old| {
                        calls += 1;
                        maybe_panic(ON_CLOSURE);
                        TVal::new(vl, old.v().wrapping_add(u64::from(d)))
                    })
                    .map(TVal::v)
                });
                match got {
                    Some(got) => {
                        let present = self.model.contains_key(&id);
                        assert_eq!(calls, usize::from(present), "step {step}: update calls");
                        let want = self.model.get_mut(&id).map(|x| {
                            *x = x.wrapping_add(u64::from(d));
                            *x
                        });
                        assert_eq!(got, want, "step {step}: update");
                    }
                    None => self.after_panic(m),
                }
            }
            Op::RemoveIf(k, p) => {
                let (id, k) = (k % keys, self.key(k % keys));
                let mut calls = 0;
                let got = guarded(arm, || {
                    m.remove_if(k.q(), |kk, v| {
                        calls += 1;
                        maybe_panic(ON_CLOSURE);
                        assert_eq!(kk.id(), id, "remove_if judged another key");
                        removes(v.v(), p)
                    })
                    .map(|(k, v)| (k.id(), v.v()))
                });
                match got {
                    Some(got) => {
                        let present = self.model.contains_key(&id);
                        let want = match self.model.get(&id) {
                            Some(&v) if removes(v, p) => {
                                self.model.remove(&id);
                                Some((id, v))
                            }
                            _ => None,
                        };
                        assert_eq!(calls, usize::from(present), "step {step}: remove_if calls");
                        assert_eq!(got, want, "step {step}: remove_if");
                    }
                    None => self.after_panic(m),
                }
            }
            Op::Clear => match guarded(arm, || m.clear()) {
                Some(()) => {
                    self.model.clear();
                    assert!(m.is_empty(), "step {step}: not empty after clear");
                    assert_eq!(m.iter().count(), 0, "step {step}: iter after clear");
                }
                None => {
                    // `clear` is `retain(|_, _| false)`: whatever it removed
                    // before the panic is gone, the rest untouched.
                    let now: Model = m.iter().map(|(k, v)| (k.id(), v.v())).collect();
                    for (id, v) in &now {
                        assert_eq!(self.model.get(id), Some(v), "step {step}: clear panicked");
                    }
                    self.model = now;
                    self.after_panic(m);
                }
            },
            Op::Retain(p) => self.retain(m, p, arm),
            Op::Iter => check_all(m, &self.model, keys, &self.kl, step),
            Op::Len => {
                let n = self.model.len();
                assert_eq!(m.len(), n, "step {step}: len");
                assert_eq!(m.is_empty(), n == 0, "step {step}: is_empty");
                assert_eq!(self.map.stats().len, n, "step {step}: stats.len");
            }
            // The repin happened before this call; hand this thread's
            // batch of retirements over too (`flush`).
            Op::Repin => m.flush(),
            Op::InsertRange {
                start,
                count,
                value,
            } => {
                for j in 0..u16::from(count) {
                    let a = if j == 0 { arm } else { None };
                    let id = start.wrapping_add(j) % keys;
                    self.insert(m, id, u64::from(value) + u64::from(j), a);
                }
            }
            Op::RemoveRange { start, count } => {
                for j in 0..u16::from(count) {
                    let a = if j == 0 { arm } else { None };
                    self.remove(m, start.wrapping_add(j) % keys, a);
                }
            }
            Op::TryInsert(k, v) => {
                let id = k % keys;
                let (k, val) = (self.key(id), self.val(u64::from(v)));
                let got = guarded(arm, || match m.try_insert(k, val) {
                    Ok(cur) => Ok(cur.v()),
                    Err(e) => Err((e.current.v(), e.not_inserted.v())),
                });
                match got {
                    Some(got) => {
                        let want = match self.model.get(&id) {
                            Some(&cur) => Err((cur, u64::from(v))),
                            None => {
                                self.model.insert(id, u64::from(v));
                                Ok(u64::from(v))
                            }
                        };
                        assert_eq!(got, want, "step {step}: try_insert");
                    }
                    None => self.after_panic(m),
                }
            }
            Op::Compute(k, mode, v) => {
                let id = k % keys;
                let k = self.key(id);
                let mut calls = 0;
                let vl = &self.vl;
                let got = guarded(arm, || {
                    let r = m.compute(k, |cur| {
                        calls += 1;
                        maybe_panic(ON_CLOSURE);
                        if let Some((k, _)) = cur {
                            assert_eq!(k.id(), id, "compute saw another key");
                        }
                        match compute_op(cur.map(|(_, v)| v.v()), mode, v) {
                            Operation::Insert(x) => Operation::Insert(TVal::new(vl, x)),
                            Operation::Remove => Operation::Remove,
                            Operation::Abort(r) => Operation::Abort(r),
                        }
                    });
                    match r {
                        Compute::Inserted(new) => Computed::Inserted(new.v()),
                        Compute::Updated { old, new } => Computed::Updated(old.v(), new.v()),
                        Compute::Removed(old) => Computed::Removed(old.v()),
                        Compute::Absent => Computed::Absent,
                        Compute::Aborted(r) => Computed::Aborted(r),
                    }
                });
                match got {
                    Some(got) => {
                        assert_eq!(calls, 1, "step {step}: compute calls");
                        let cur = self.model.get(&id).copied();
                        let want = match (compute_op(cur, mode, v), cur) {
                            (Operation::Insert(x), None) => {
                                self.model.insert(id, x);
                                Computed::Inserted(x)
                            }
                            (Operation::Insert(x), Some(old)) => {
                                self.model.insert(id, x);
                                Computed::Updated(old, x)
                            }
                            (Operation::Remove, Some(old)) => {
                                self.model.remove(&id);
                                Computed::Removed(old)
                            }
                            (Operation::Remove, None) => Computed::Absent,
                            (Operation::Abort(r), _) => Computed::Aborted(r),
                        };
                        assert_eq!(got, want, "step {step}: compute");
                    }
                    None => self.after_panic(m),
                }
            }
            Op::StaleRead { key, churn } => {
                let id = key % keys;
                let k = self.key(id);
                let Some(r) = m.get(k.q()) else {
                    assert_eq!(self.model.get(&id), None, "step {step}: stale get");
                    return;
                };
                let old = r.v();
                assert_eq!(Some(old), self.model.remove(&id), "step {step}: stale get");
                assert_eq!(m.remove(k.q()).map(TVal::v), Some(old));
                for j in 0..u16::from(churn % 64) {
                    let cid = id.wrapping_add(1 + j) % keys;
                    let v = u64::from(j) << 40 | u64::from(cid);
                    let prev = m.insert(self.key(cid), self.val(v)).map(TVal::v);
                    assert_eq!(prev, self.model.insert(cid, v), "step {step}: churn");
                    if j % 3 == 2 {
                        let prev = m.remove(self.key(cid).q()).map(TVal::v);
                        assert_eq!(prev, self.model.remove(&cid), "step {step}: churn");
                    }
                }
                // Still pinned: the removed value must be intact.
                assert_eq!(r.v(), old, "step {step}: removed value changed");
            }
            Op::CloneMap => {
                let cloned = guarded(arm, || self.map.clone());
                match cloned {
                    Some(c) => {
                        assert!(c == *self.map, "step {step}: clone != original");
                        check_all(&c.pin(), &self.model, keys, &self.kl, step);
                    }
                    None => self.after_panic(m),
                }
            }
            Op::Extend(ref pairs) => {
                let pairs = &pairs[..pairs.len().min(32)];
                let mut yielded: usize = 0;
                let (kl, vl) = (&self.kl, &self.vl);
                let done = guarded(arm, || {
                    let mut map = self.map;
                    map.extend(pairs.iter().map(|&(k, v)| {
                        yielded += 1;
                        (K::make(k % keys, kl), TVal::new(vl, u64::from(v)))
                    }));
                });
                // Every pair yielded before the last was inserted; the last
                // one too unless its insert panicked.
                let applied = if done.is_some() {
                    yielded
                } else {
                    yielded.saturating_sub(1)
                };
                assert!(done.is_none() || yielded == pairs.len());
                for &(k, v) in &pairs[..applied] {
                    self.model.insert(k % keys, u64::from(v));
                }
                if done.is_none() {
                    self.after_panic(m);
                }
            }
            Op::Reserve { additional, fill } => {
                let a = usize::from(additional % RESERVE_MOD);
                match guarded(arm, || m.reserve(a)) {
                    Some(()) => self.fill_reserved(m, a, fill),
                    None => self.after_panic(m),
                }
            }
            Op::TryReserve(additional) => {
                let a = usize::from(additional % RESERVE_MOD);
                match guarded(arm, || m.try_reserve(a)) {
                    Some(got) => {
                        assert_eq!(got, Ok(()), "step {step}: try_reserve({a})");
                        let what = format!("step {step}: try_reserve");
                        assert_reserved(m.capacity(), self.model.len(), a, &what);
                    }
                    None => self.after_panic(m),
                }
            }
            Op::TryReserveHuge(pick) => {
                let a = huge(pick, self.model.len());
                let (cap, resizes) = (m.capacity(), self.map.stats().resizes);
                match guarded(arm, || m.try_reserve(a)) {
                    Some(got) => {
                        assert_eq!(
                            got,
                            Err(TryReserveError::CapacityOverflow),
                            "step {step}: try_reserve({a})"
                        );
                        assert_eq!(m.capacity(), cap, "step {step}: capacity after Err");
                        let now = self.map.stats().resizes;
                        assert_eq!(now, resizes, "step {step}: resized on Err");
                        check_all(m, &self.model, keys, &self.kl, step);
                    }
                    None => self.after_panic(m),
                }
            }
            Op::ShrinkToFit => match guarded(arm, || m.shrink_to_fit()) {
                Some(()) => {
                    let what = format!("step {step}: shrink_to_fit");
                    assert_shrunk(m.capacity(), self.model.len(), &what);
                    check_all(m, &self.model, keys, &self.kl, step);
                }
                None => self.after_panic(m),
            },
            Op::ShrinkTo(min) => {
                let min = usize::from(min % RESERVE_MOD);
                let before = m.capacity();
                match guarded(arm, || m.shrink_to(min)) {
                    Some(()) => {
                        let what = format!("step {step}: shrink_to");
                        assert_shrunk_to(before, m.capacity(), self.model.len(), min, &what);
                        check_all(m, &self.model, keys, &self.kl, step);
                    }
                    None => self.after_panic(m),
                }
            }
            Op::CompareExchange {
                key,
                use_current,
                current,
                new,
            } => {
                let id = key % keys;
                let now = self.model.get(&id).copied();
                let expected = match now {
                    Some(v) if use_current => v,
                    _ => u64::from(current),
                };
                let new = u64::from(new);
                let (k, exp, val) = (self.key(id), self.val(expected), self.val(new));
                let got = guarded(arm, || match m.compare_exchange(k.q(), &exp, val) {
                    Ok(prev) => Ok(prev.v()),
                    Err(e) => Err((e.current.map(TVal::v), e.new.v())),
                });
                match got {
                    Some(got) => {
                        let want = match now {
                            Some(v) if v == expected => {
                                self.model.insert(id, new);
                                Ok(v)
                            }
                            other => Err((other, new)),
                        };
                        assert_eq!(got, want, "step {step}: compare_exchange");
                    }
                    None => self.after_panic(m),
                }
            }
        }
    }

    /// After `reserve(a)`: room for `a` more keys, and inserting up to `a`
    /// new keys (the absent ones from `fill` on) starts no resize, even
    /// where removed keys left tombstones.
    fn fill_reserved(&mut self, m: &HashMapRef<'_, K, TVal, S>, a: usize, fill: u16) {
        let step = self.step;
        let what = format!("step {step}: reserve");
        assert_reserved(m.capacity(), self.model.len(), a, &what);
        let resizes = self.map.stats().resizes;
        let mut added = 0;
        for j in 0..self.keys {
            let id = fill.wrapping_add(j) % self.keys;
            if added == a || self.model.contains_key(&id) {
                continue;
            }
            let v = u64::from(j) << 32 | u64::from(id);
            let got = m.insert(self.key(id), self.val(v)).map(TVal::v);
            assert_eq!(got, None, "step {step}: fill insert {id}");
            self.model.insert(id, v);
            added += 1;
        }
        let now = self.map.stats().resizes;
        assert_eq!(
            now, resizes,
            "step {step}: {added} inserts after reserve({a}) resized"
        );
    }

    /// `retain`: each key present is judged exactly once, on its current
    /// value, and removed iff judged false. After a panic, keys judged false
    /// before it are removed; the last one may or may not be (its removal
    /// may have been what panicked).
    fn retain(&mut self, m: &HashMapRef<'_, K, TVal, S>, p: u8, arm: Option<Arm>) {
        let step = self.step;
        let mut judged: Vec<(u16, u64, bool)> = Vec::new();
        let mut closure_panicked = false;
        let done = guarded(arm, || {
            m.retain(|k, v| {
                closure_panicked = true;
                maybe_panic(ON_CLOSURE);
                closure_panicked = false;
                let (id, v) = (k.id(), v.v());
                let keep = keeps(id, v, p);
                judged.push((id, v, keep));
                keep
            })
        });
        let mut seen = vec![false; usize::from(self.keys)];
        for &(id, v, _) in &judged {
            assert!(
                !seen[usize::from(id)],
                "step {step}: retain judged {id} twice"
            );
            seen[usize::from(id)] = true;
            assert_eq!(
                self.model.get(&id),
                Some(&v),
                "step {step}: retain judged {id} on a wrong value"
            );
        }
        if done.is_some() {
            assert_eq!(
                judged.len(),
                self.model.len(),
                "step {step}: retain judged {} of {} keys",
                judged.len(),
                self.model.len()
            );
            self.model.retain(|&id, &mut v| keeps(id, v, p));
            assert_eq!(m.len(), self.model.len(), "step {step}: len after retain");
            return;
        }
        let uncertain = match judged.last() {
            Some(&(id, _, false)) if !closure_panicked => Some(id),
            _ => None,
        };
        for &(id, _, keep) in &judged {
            if !keep && Some(id) != uncertain {
                self.model.remove(&id);
            }
        }
        if let Some(id) = uncertain {
            let k = self.key(id);
            if m.get(k.q()).is_none() {
                self.model.remove(&id);
            }
        }
        self.after_panic(m);
    }
}

/// Compares the whole map with the model: `iter` yields every key once and
/// nothing else, with the model's values; `keys` yields the model's keys
/// and `values` the model's values (as sorted multisets); `len`,
/// `is_empty` and a lookup of every key of the key space agree.
pub fn check_all<K: FKey, S: BuildHasher>(
    m: &HashMapRef<'_, K, TVal, S>,
    model: &Model,
    keys: u16,
    kl: &Arc<Ledger>,
    step: usize,
) {
    let mut seen = vec![false; usize::from(keys)];
    let mut n = 0;
    for (k, v) in m.iter() {
        let id = k.id();
        assert!(
            !std::mem::replace(&mut seen[usize::from(id)], true),
            "step {step}: iter yielded {id} twice"
        );
        assert_eq!(
            model.get(&id),
            Some(&v.v()),
            "step {step}: iter yielded {id} -> {}",
            v.v()
        );
        n += 1;
    }
    assert_eq!(n, model.len(), "step {step}: iter count");
    let mut got: Vec<u16> = m.keys().map(FKey::id).collect();
    let mut want: Vec<u16> = model.keys().copied().collect();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "step {step}: keys");
    let mut got: Vec<u64> = m.values().map(TVal::v).collect();
    let mut want: Vec<u64> = model.values().copied().collect();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "step {step}: values");
    assert_eq!(m.len(), n, "step {step}: len");
    assert_eq!(m.is_empty(), n == 0, "step {step}: is_empty");
    for id in 0..keys {
        let k = K::make(id, kl);
        assert_eq!(
            m.get(k.q()).map(TVal::v),
            model.get(&id).copied(),
            "step {step}: get {id}"
        );
    }
}

/// The settings of one run (all but the operations).
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    /// Index into [`KEY_SPACES`].
    pub key_space: u8,
    /// `with_capacity(capacity % 80)`.
    pub capacity: u8,
    /// Keep one pinned handle across operations (`Repin` refreshes it).
    pub long_pin: bool,
    pub end: End,
    /// A planned panic during `into_iter` (which finishes any resize in
    /// progress, comparing keys).
    pub end_arm: Option<Arm>,
}

impl Scenario {
    pub fn setup(&self) -> Setup {
        Setup {
            key_space: self.key_space,
            capacity: self.capacity,
            long_pin: self.long_pin,
            end: self.end,
            end_arm: None,
        }
    }
}

/// What a consuming walk (`into_iter`, `drain`) of `take` pairs yielded:
/// no key twice, each with the model's value, as many as there were (or
/// `take`).
fn check_yielded(pairs: &[(u16, u64)], model: &Model, keys: u16, take: usize, what: &str) {
    let mut seen = vec![false; usize::from(keys)];
    for &(id, v) in pairs {
        assert!(
            !std::mem::replace(&mut seen[usize::from(id)], true),
            "{what} yielded {id} twice"
        );
        assert_eq!(model.get(&id), Some(&v), "{what} yielded {id}");
    }
    assert_eq!(pairs.len(), model.len().min(take), "{what} count");
}

/// Runs a scenario: `steps` yields each operation with its planned panic
/// (always `None` outside the `panics` target). Checks the final contents,
/// ends the map as `setup.end` says, and checks every key and value was
/// dropped exactly once. Returns the number of planned panics caught.
pub fn run<K: FKey, S: BuildHasher + Clone>(
    hasher: S,
    setup: Setup,
    steps: impl Iterator<Item = (Op, Option<Arm>)>,
) -> usize {
    let keys = KEY_SPACES[usize::from(setup.key_space) % KEY_SPACES.len()];
    let (kl, vl) = (Ledger::new(), Ledger::new());
    let mut panics;
    {
        let mut map: HashMap<K, TVal, S> =
            HashMap::with_capacity_and_hasher(usize::from(setup.capacity % 80), hasher);
        let mut e = Engine {
            map: &map,
            model: Model::new(),
            keys,
            kl: Arc::clone(&kl),
            vl: Arc::clone(&vl),
            step: 0,
            panics: 0,
        };
        let mut pinned = Some(map.pin());
        for (step, (op, arm)) in steps.take(MAX_OPS).enumerate() {
            e.step = step;
            if setup.long_pin && matches!(op, Op::Repin) {
                // The long-lived handle lets go of its pin and pins again.
                pinned.as_mut().unwrap().refresh();
            } else if !setup.long_pin {
                drop(pinned.take());
                pinned = Some(map.pin());
            }
            let m = pinned.as_ref().unwrap();
            e.op(m, &op, arm);
            assert_eq!(m.len(), e.model.len(), "step {step}: len after {op:?}");
        }
        drop(pinned);
        check_all(&map.pin(), &e.model, keys, &kl, usize::MAX);
        assert_eq!(map.stats().len, e.model.len());
        panics = e.panics;
        let model = e.model;
        match setup.end {
            End::Drop => drop(map),
            End::IntoIter | End::IntoIterPartial(_) => {
                let take = match setup.end {
                    End::IntoIterPartial(n) => usize::from(n),
                    _ => usize::MAX,
                };
                let got = guarded(setup.end_arm, || {
                    map.into_iter()
                        .take(take)
                        .map(|(k, v)| (k.id(), v.v()))
                        .collect::<Vec<_>>()
                });
                match got {
                    Some(pairs) => check_yielded(&pairs, &model, keys, take, "into_iter"),
                    None => panics += 1,
                }
            }
            End::Drain(n) => {
                let take = if n == u8::MAX {
                    usize::MAX
                } else {
                    usize::from(n)
                };
                let got = guarded(setup.end_arm, || {
                    map.drain()
                        .take(take)
                        .map(|(k, v)| (k.id(), v.v()))
                        .collect::<Vec<_>>()
                });
                match got {
                    Some(pairs) => {
                        check_yielded(&pairs, &model, keys, take, "drain");
                        assert_eq!(map.len(), 0, "len after drain");
                        assert_eq!(map.pin().iter().count(), 0, "entries after drain");
                    }
                    // Unwound inside `drain` (a key's `Eq` while it finished
                    // a resize, or a `Drop` of what it had not yielded):
                    // the map holds its keys, or none; it goes on below.
                    None => panics += 1,
                }
                // The map goes on: new pairs in, read back, dropped with it.
                let m = map.pin();
                for id in 0..keys.min(4) {
                    let v = u64::from(id) + 7;
                    m.insert(K::make(id, &kl), TVal::new(&vl, v));
                    let got = m.get(K::make(id, &kl).q()).map(TVal::v);
                    assert_eq!(got, Some(v), "key {id} after drain");
                }
            }
        }
    }
    kl.assert_balanced("keys");
    vl.assert_balanced("values");
    panics
}
