//! The `sets` target's model check: operation sequences on an
//! `lfmap::HashSet` (of `u16`, `String` or [`Tagged`] elements) or an
//! `lfmap::WordSet<u64>`, run side by side with `std::collections::HashSet`.
//! Every return value is compared: `insert`'s and `remove`'s `bool`,
//! `contains`, the element `get` and `take` return (for [`Tagged`], the
//! *stored* one: an equal element inserted later must not replace it), the
//! elements `retain` judges (each once), `len` after every operation, and
//! the whole contents (`iter` with no duplicates, a lookup of every key of
//! the key space) at checkpoints and at the end; plus `reserve`,
//! `try_reserve` and `shrink_to_fit` as in `model.rs`. Tagged elements are
//! drop-counted: after the set is dropped (or consumed by `into_iter`),
//! every element constructed was dropped exactly once.

use std::borrow::Borrow;
use std::collections::HashSet as StdSet;
use std::fmt::Debug;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use arbitrary::Arbitrary;
use lfmap::{HashSet, HashSetRef, TryReserveError, WordSet};

use crate::capacity::{assert_reserved, assert_shrunk, assert_shrunk_to, huge, RESERVE_MOD};
use crate::hashing::{Fixed, Shape, ShapedHash};
use crate::keys::{string_key, word_key, FKey};
use crate::ledger::{Ledger, TKey};
use crate::model::{keeps, KEY_SPACES, MAX_OPS};

/// An element equal to, and hashed as, its `id` (a `u16`, by which it is
/// looked up), carrying a `tag` that equality ignores: the tag of what
/// `get`, `take` and `iter` return tells the stored element from an equal
/// one inserted later. Drop-counted (`track`).
#[derive(Clone, Debug)]
pub struct Tagged {
    id: u16,
    tag: u32,
    track: TKey,
}

impl PartialEq for Tagged {
    fn eq(&self, other: &Tagged) -> bool {
        self.id == other.id
    }
}

impl Eq for Tagged {}

/// As `u16`'s `Hash` (`write_u16`), so that lookups by `&u16` agree.
impl Hash for Tagged {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.id.hash(h);
    }
}

impl Borrow<u16> for Tagged {
    fn borrow(&self) -> &u16 {
        &self.id
    }
}

/// Element types of the `HashSet` engine.
pub trait Elem: Hash + Eq + Clone + Debug + Borrow<Self::Q> + 'static {
    type Q: Hash + Eq + ?Sized;
    type Probe: Borrow<Self::Q>;
    fn make(id: u16, tag: u32, ledger: &Arc<Ledger>) -> Self;
    /// What identifies this very element: its id, and its tag (0 for
    /// element types without one).
    fn seen(&self) -> (u16, u32);
    /// A lookup key for `id`.
    fn probe(id: u16) -> Self::Probe;
}

/// The borrowed form of a probe.
fn q<E: Elem>(p: &E::Probe) -> &E::Q {
    p.borrow()
}

impl Elem for u16 {
    type Q = u16;
    type Probe = u16;
    fn make(id: u16, _: u32, _: &Arc<Ledger>) -> u16 {
        id
    }
    fn seen(&self) -> (u16, u32) {
        (*self, 0)
    }
    fn probe(id: u16) -> u16 {
        id
    }
}

impl Elem for String {
    type Q = str;
    type Probe = String;
    fn make(id: u16, _: u32, _: &Arc<Ledger>) -> String {
        string_key(id)
    }
    fn seen(&self) -> (u16, u32) {
        (FKey::id(self), 0)
    }
    fn probe(id: u16) -> String {
        string_key(id)
    }
}

impl Elem for Tagged {
    type Q = u16;
    type Probe = u16;
    fn make(id: u16, tag: u32, ledger: &Arc<Ledger>) -> Tagged {
        Tagged {
            id,
            tag,
            track: TKey::new(ledger, id),
        }
    }
    /// Checks the element was not dropped (the key's canary) first.
    fn seen(&self) -> (u16, u32) {
        assert_eq!(self.track.id(), self.id, "a tagged element was corrupted");
        (self.id, self.tag)
    }
    fn probe(id: u16) -> u16 {
        id
    }
}

/// One operation. Ids are reduced modulo the key space; `WordSet` maps
/// them onto the `u64` alphabet (`keys::word_key`) and runs `Get` as
/// `contains` and `Take` and `StaleTake` as `remove` (it has no element
/// references to hand out).
#[derive(Arbitrary, Clone, Debug)]
pub enum SetOp {
    /// `insert(make(id, tag))`.
    Insert(u16, u32),
    Contains(u16),
    Get(u16),
    Remove(u16),
    Take(u16),
    /// `retain(|e| keeps(id, tag, p))`.
    Retain(u8),
    Clear,
    /// Full comparison of the contents.
    Iter,
    Len,
    /// `refresh` the long-lived handle (when pinning per step, nothing).
    Repin,
    InsertRange {
        start: u16,
        count: u8,
        tag: u32,
    },
    RemoveRange {
        start: u16,
        count: u8,
    },
    /// `Extend` (through `&HashSet`) from a list of elements.
    Extend(Vec<(u16, u32)>),
    /// Clones the set, compares the clone (`==`, contents), clears it: the
    /// original must be untouched.
    CloneSet,
    /// `reserve(additional % RESERVE_MOD)`: room for `additional` more,
    /// and up to that many inserts of new elements (the absent ones from
    /// `fill` on) start no resize.
    Reserve {
        additional: u16,
        fill: u16,
    },
    /// `try_reserve(additional % RESERVE_MOD)`: `Ok`, room as `Reserve`.
    TryReserve(u16),
    /// `try_reserve` of a request no table can hold: `Err(CapacityOverflow)`,
    /// the set unchanged.
    TryReserveHuge(u8),
    /// `shrink_to_fit`: contents unchanged, the smallest capacity.
    ShrinkToFit,
    /// Takes `key`, inserts and removes `churn` others (resizes), then
    /// reads the taken element: intact while the handle stays pinned.
    StaleTake {
        key: u16,
        churn: u8,
    },
    /// `shrink_to(min % RESERVE_MOD)`: contents unchanged, the capacity
    /// that fits the elements and `min` of them, or unchanged if smaller.
    ShrinkTo(u16),
}

#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Kind {
    U16,
    Str,
    Tagged,
    Word,
}

#[derive(Arbitrary, Debug)]
pub struct SetInput {
    pub kind: Kind,
    /// `None`: `hashing::Fixed`; otherwise an input-shaped hasher.
    pub shape: Option<Shape>,
    /// Index into [`KEY_SPACES`].
    pub key_space: u8,
    /// `with_capacity(capacity % 80)`.
    pub capacity: u8,
    /// Keep one pinned handle across operations (`Repin` refreshes it).
    pub long_pin: bool,
    /// End a `HashSet` with `into_iter` (checked) instead of a drop.
    pub into_iter: bool,
    pub ops: Vec<SetOp>,
}

/// Runs one input.
pub fn run(input: SetInput) {
    match input.shape.clone() {
        None => run_with(Fixed::default(), input),
        Some(shape) => run_with(ShapedHash::new(shape), input),
    }
}

fn run_with<S: BuildHasher + Clone>(hasher: S, input: SetInput) {
    match input.kind {
        Kind::U16 => run_set::<u16, S>(hasher, &input),
        Kind::Str => run_set::<String, S>(hasher, &input),
        Kind::Tagged => run_set::<Tagged, S>(hasher, &input),
        Kind::Word => run_word(hasher, &input),
    }
}

/// The contents as `(id, tag)`, sorted, after checking no id twice.
fn sorted(items: impl Iterator<Item = (u16, u32)>, what: &str) -> Vec<(u16, u32)> {
    let mut v: Vec<(u16, u32)> = items.collect();
    v.sort_unstable();
    for w in v.windows(2) {
        assert_ne!(w[0].0, w[1].0, "{what}: element {} twice", w[0].0);
    }
    v
}

struct Engine<'a, E, S> {
    set: &'a HashSet<E, S>,
    model: StdSet<E>,
    keys: u16,
    ledger: Arc<Ledger>,
    step: usize,
}

impl<E: Elem, S: BuildHasher + Clone> Engine<'_, E, S> {
    fn make(&self, id: u16, tag: u32) -> E {
        E::make(id, tag, &self.ledger)
    }

    fn get_model(&self, id: u16) -> Option<(u16, u32)> {
        self.model.get(q::<E>(&E::probe(id))).map(Elem::seen)
    }

    /// `insert`, or by the tag, `get_or_insert` (tag % 3 == 1) or
    /// `get_or_insert_with` (tag % 3 == 2), which return the stored
    /// element: the one already there (by its tag), or the new one.
    fn insert(&mut self, s: &HashSetRef<'_, E, S>, id: u16, tag: u32) {
        let step = self.step;
        if tag % 3 == 0 {
            let got = s.insert(self.make(id, tag));
            let want = self.model.insert(self.make(id, tag));
            assert_eq!(got, want, "step {step}: insert {id}");
            return;
        }
        let want = self
            .get_model(id)
            .unwrap_or_else(|| self.make(id, tag).seen());
        let got = if tag % 3 == 1 {
            s.get_or_insert(self.make(id, tag)).seen()
        } else {
            let p = E::probe(id);
            let mut makes = 0;
            let got = s
                .get_or_insert_with(q::<E>(&p), |_| {
                    makes += 1;
                    self.make(id, tag)
                })
                .seen();
            let absent = self.get_model(id).is_none();
            assert_eq!(makes, usize::from(absent), "step {step}: makes");
            got
        };
        assert_eq!(got, want, "step {step}: get_or_insert {id}");
        if self.get_model(id).is_none() {
            self.model.insert(self.make(id, tag));
        }
    }

    fn remove(&mut self, s: &HashSetRef<'_, E, S>, id: u16) {
        let p = E::probe(id);
        let got = s.remove(q::<E>(&p));
        assert_eq!(
            got,
            self.model.remove(q::<E>(&p)),
            "step {}: remove",
            self.step
        );
    }

    /// Compares the whole set with the model.
    fn check(&self, s: &HashSetRef<'_, E, S>) {
        let step = self.step;
        let got = sorted(s.iter().map(Elem::seen), "iter");
        let want = sorted(self.model.iter().map(Elem::seen), "model");
        assert_eq!(got, want, "step {step}: iter");
        assert_eq!(s.len(), want.len(), "step {step}: len");
        assert_eq!(s.is_empty(), want.is_empty(), "step {step}: is_empty");
        assert_eq!(self.set.len(), want.len(), "step {step}: set len");
        for id in 0..self.keys {
            let p = E::probe(id);
            let want = self.get_model(id);
            assert_eq!(
                s.contains(q::<E>(&p)),
                want.is_some(),
                "step {step}: contains {id}"
            );
            assert_eq!(
                s.get(q::<E>(&p)).map(Elem::seen),
                want,
                "step {step}: get {id}"
            );
        }
    }

    fn fill_reserved(&mut self, s: &HashSetRef<'_, E, S>, a: usize, fill: u16) {
        let step = self.step;
        let what = format!("step {step}: reserve");
        assert_reserved(self.set.capacity(), self.model.len(), a, &what);
        let resizes = self.set.stats().resizes;
        let mut added = 0;
        for j in 0..self.keys {
            let id = fill.wrapping_add(j) % self.keys;
            if added == a || self.get_model(id).is_some() {
                continue;
            }
            self.insert(s, id, u32::from(j));
            added += 1;
        }
        let now = self.set.stats().resizes;
        assert_eq!(
            now, resizes,
            "step {step}: {added} inserts after reserve({a}) resized"
        );
    }

    fn op(&mut self, s: &HashSetRef<'_, E, S>, op: &SetOp) {
        let keys = self.keys;
        let step = self.step;
        match *op {
            SetOp::Insert(id, tag) => self.insert(s, id % keys, tag),
            SetOp::Contains(id) => {
                let p = E::probe(id % keys);
                let want = self.model.contains(q::<E>(&p));
                assert_eq!(s.contains(q::<E>(&p)), want, "step {step}: contains");
            }
            SetOp::Get(id) => {
                let got = s.get(q::<E>(&E::probe(id % keys))).map(Elem::seen);
                assert_eq!(got, self.get_model(id % keys), "step {step}: get");
            }
            SetOp::Remove(id) => self.remove(s, id % keys),
            SetOp::Take(id) => {
                let p = E::probe(id % keys);
                let got = s.take(q::<E>(&p)).map(Elem::seen);
                let want = self.model.take(q::<E>(&p));
                assert_eq!(got, want.as_ref().map(Elem::seen), "step {step}: take");
            }
            SetOp::Retain(p) => {
                let mut judged = Vec::new();
                s.retain(|e| {
                    let (id, tag) = e.seen();
                    judged.push((id, tag));
                    keeps(id, u64::from(tag), p)
                });
                let want = sorted(self.model.iter().map(Elem::seen), "model");
                assert_eq!(
                    sorted(judged.into_iter(), "retain"),
                    want,
                    "step {step}: retain"
                );
                self.model.retain(|e| {
                    let (id, tag) = e.seen();
                    keeps(id, u64::from(tag), p)
                });
            }
            SetOp::Clear => {
                s.clear();
                self.model.clear();
            }
            SetOp::Iter => self.check(s),
            SetOp::Len => {
                assert_eq!(s.len(), self.model.len(), "step {step}: len");
                assert_eq!(s.is_empty(), self.model.is_empty(), "step {step}: is_empty");
                assert_eq!(self.set.stats().len, self.model.len(), "step {step}: stats");
            }
            SetOp::Repin => {}
            SetOp::InsertRange { start, count, tag } => {
                for j in 0..u16::from(count) {
                    self.insert(s, start.wrapping_add(j) % keys, tag ^ u32::from(j));
                }
            }
            SetOp::RemoveRange { start, count } => {
                for j in 0..u16::from(count) {
                    self.remove(s, start.wrapping_add(j) % keys);
                }
            }
            SetOp::Extend(ref items) => {
                let items = &items[..items.len().min(32)];
                let mut set = self.set;
                set.extend(items.iter().map(|&(id, tag)| self.make(id % keys, tag)));
                for &(id, tag) in items {
                    let e = self.make(id % keys, tag);
                    self.model.insert(e);
                }
            }
            SetOp::CloneSet => {
                let c = self.set.clone();
                assert!(c == *self.set, "step {step}: clone != original");
                let got = sorted(c.pin().iter().map(Elem::seen), "clone");
                let want = sorted(self.model.iter().map(Elem::seen), "model");
                assert_eq!(got, want, "step {step}: clone contents");
                c.pin().clear();
                assert!(c.is_empty(), "step {step}: clone cleared");
                drop(c);
                self.check(s);
            }
            SetOp::Reserve { additional, fill } => {
                let a = usize::from(additional % RESERVE_MOD);
                self.set.reserve(a);
                self.fill_reserved(s, a, fill);
            }
            SetOp::TryReserve(additional) => {
                let a = usize::from(additional % RESERVE_MOD);
                assert_eq!(self.set.try_reserve(a), Ok(()), "step {step}: try_reserve");
                let what = format!("step {step}: try_reserve");
                assert_reserved(self.set.capacity(), self.model.len(), a, &what);
            }
            SetOp::TryReserveHuge(pick) => {
                let a = huge(pick, self.model.len());
                let (cap, resizes) = (self.set.capacity(), self.set.stats().resizes);
                assert_eq!(
                    self.set.try_reserve(a),
                    Err(TryReserveError::CapacityOverflow),
                    "step {step}: try_reserve({a})"
                );
                assert_eq!(self.set.capacity(), cap, "step {step}: capacity after Err");
                let now = self.set.stats().resizes;
                assert_eq!(now, resizes, "step {step}: resized on Err");
                self.check(s);
            }
            SetOp::ShrinkToFit => {
                self.set.shrink_to_fit();
                let what = format!("step {step}: shrink_to_fit");
                assert_shrunk(self.set.capacity(), self.model.len(), &what);
                self.check(s);
            }
            SetOp::ShrinkTo(min) => {
                let min = usize::from(min % RESERVE_MOD);
                let before = self.set.capacity();
                self.set.shrink_to(min);
                let what = format!("step {step}: shrink_to");
                assert_shrunk_to(before, self.set.capacity(), self.model.len(), min, &what);
                self.check(s);
            }
            SetOp::StaleTake { key, churn } => {
                let id = key % keys;
                let p = E::probe(id);
                let Some(taken) = s.take(q::<E>(&p)) else {
                    assert_eq!(self.get_model(id), None, "step {step}: stale take");
                    return;
                };
                let seen = taken.seen();
                let want = self.model.take(q::<E>(&p)).map(|e| e.seen());
                assert_eq!(Some(seen), want, "step {step}: stale take");
                for j in 0..u16::from(churn % 64) {
                    let cid = id.wrapping_add(1 + j) % keys;
                    self.insert(s, cid, u32::from(j) << 16);
                    if j % 3 == 2 {
                        self.remove(s, cid);
                    }
                }
                // Still pinned: the taken element must be intact.
                assert_eq!(taken.seen(), seen, "step {step}: taken element changed");
            }
        }
    }
}

fn run_set<E: Elem, S: BuildHasher + Clone>(hasher: S, input: &SetInput) {
    let keys = KEY_SPACES[usize::from(input.key_space) % KEY_SPACES.len()];
    let ledger = Ledger::new();
    {
        let set: HashSet<E, S> =
            HashSet::with_capacity_and_hasher(usize::from(input.capacity % 80), hasher);
        let mut e = Engine {
            set: &set,
            model: StdSet::new(),
            keys,
            ledger: Arc::clone(&ledger),
            step: 0,
        };
        let mut pinned = Some(set.pin());
        for (step, op) in input.ops.iter().take(MAX_OPS).enumerate() {
            e.step = step;
            if input.long_pin && matches!(op, SetOp::Repin) {
                // The long-lived handle lets go of its pin and pins again.
                pinned.as_mut().unwrap().refresh();
            } else if !input.long_pin {
                drop(pinned.take());
                pinned = Some(set.pin());
            }
            let s = pinned.as_ref().unwrap();
            e.op(s, op);
            assert_eq!(s.len(), e.model.len(), "step {step}: len after {op:?}");
        }
        drop(pinned);
        e.step = usize::MAX;
        e.check(&set.pin());
        let model = e.model;
        if input.into_iter {
            let got = sorted(set.into_iter().map(|e| e.seen()), "into_iter");
            let want = sorted(model.iter().map(Elem::seen), "model");
            assert_eq!(got, want, "into_iter");
        }
    }
    ledger.assert_balanced("elements");
}

/// `WordSet<u64>` against `std::collections::HashSet<u64>`.
fn run_word<S: BuildHasher + Clone>(hasher: S, input: &SetInput) {
    let keys = KEY_SPACES[usize::from(input.key_space) % KEY_SPACES.len()].min(256);
    let key = |id: u16| word_key((id % keys) as u8);
    let set: WordSet<u64, S> =
        WordSet::with_capacity_and_hasher(usize::from(input.capacity % 80), hasher);
    let mut model: StdSet<u64> = StdSet::new();
    let check = |set: &WordSet<u64, S>, model: &StdSet<u64>, step: usize| {
        let mut got: Vec<u64> = set.iter().collect();
        got.sort_unstable();
        let len = got.len();
        got.dedup();
        assert_eq!(got.len(), len, "step {step}: iter yielded an element twice");
        let mut want: Vec<u64> = model.iter().copied().collect();
        want.sort_unstable();
        assert_eq!(got, want, "step {step}: iter");
        assert_eq!(set.len(), model.len(), "step {step}: len");
        assert_eq!(set.is_empty(), model.is_empty(), "step {step}: is_empty");
        for id in 0..keys {
            let k = key(id);
            assert_eq!(
                set.contains(&k),
                model.contains(&k),
                "step {step}: contains {k:#x}"
            );
        }
    };
    for (step, op) in input.ops.iter().take(MAX_OPS).enumerate() {
        match *op {
            SetOp::Insert(id, _) => {
                let k = key(id);
                assert_eq!(set.insert(k), model.insert(k), "step {step}: insert {k:#x}");
            }
            SetOp::Contains(id) | SetOp::Get(id) => {
                let k = key(id);
                assert_eq!(
                    set.contains(&k),
                    model.contains(&k),
                    "step {step}: contains"
                );
            }
            SetOp::Remove(id) | SetOp::Take(id) | SetOp::StaleTake { key: id, .. } => {
                let k = key(id);
                assert_eq!(set.remove(&k), model.remove(&k), "step {step}: remove");
            }
            SetOp::Retain(p) => {
                let mut judged = Vec::new();
                set.retain(|x| {
                    judged.push(x);
                    keeps(x as u16, x, p)
                });
                judged.sort_unstable();
                let mut want: Vec<u64> = model.iter().copied().collect();
                want.sort_unstable();
                assert_eq!(judged, want, "step {step}: retain judged");
                model.retain(|&x| keeps(x as u16, x, p));
            }
            SetOp::Clear => {
                set.clear();
                model.clear();
            }
            SetOp::Iter => check(&set, &model, step),
            SetOp::Len => {
                assert_eq!(set.len(), model.len(), "step {step}: len");
                assert_eq!(set.stats().len, model.len(), "step {step}: stats");
            }
            SetOp::Repin => {}
            SetOp::InsertRange { start, count, .. } => {
                for j in 0..u16::from(count) {
                    let k = key(start.wrapping_add(j));
                    assert_eq!(set.insert(k), model.insert(k), "step {step}: insert");
                }
            }
            SetOp::RemoveRange { start, count } => {
                for j in 0..u16::from(count) {
                    let k = key(start.wrapping_add(j));
                    assert_eq!(set.remove(&k), model.remove(&k), "step {step}: remove");
                }
            }
            SetOp::Extend(ref items) => {
                let items = &items[..items.len().min(32)];
                let mut s = &set;
                s.extend(items.iter().map(|&(id, _)| key(id)));
                model.extend(items.iter().map(|&(id, _)| key(id)));
            }
            SetOp::CloneSet => {
                let c = set.clone();
                assert!(c == set, "step {step}: clone != original");
                check(&c, &model, step);
                c.clear();
                assert!(c.is_empty(), "step {step}: clone cleared");
                check(&set, &model, step);
            }
            SetOp::Reserve { additional, fill } => {
                let a = usize::from(additional % RESERVE_MOD);
                set.reserve(a);
                let what = format!("step {step}: reserve");
                assert_reserved(set.capacity(), model.len(), a, &what);
                let resizes = set.stats().resizes;
                let mut added = 0;
                for j in 0..keys {
                    let k = key(fill.wrapping_add(j));
                    if added == a || model.contains(&k) {
                        continue;
                    }
                    assert!(set.insert(k), "step {step}: fill {k:#x}");
                    model.insert(k);
                    added += 1;
                }
                let now = set.stats().resizes;
                assert_eq!(
                    now, resizes,
                    "step {step}: {added} inserts after reserve({a}) resized"
                );
            }
            SetOp::TryReserve(additional) => {
                let a = usize::from(additional % RESERVE_MOD);
                assert_eq!(set.try_reserve(a), Ok(()), "step {step}: try_reserve");
                let what = format!("step {step}: try_reserve");
                assert_reserved(set.capacity(), model.len(), a, &what);
            }
            SetOp::TryReserveHuge(pick) => {
                let a = huge(pick, model.len());
                let (cap, resizes) = (set.capacity(), set.stats().resizes);
                assert_eq!(
                    set.try_reserve(a),
                    Err(TryReserveError::CapacityOverflow),
                    "step {step}: try_reserve({a})"
                );
                assert_eq!(set.capacity(), cap, "step {step}: capacity after Err");
                assert_eq!(set.stats().resizes, resizes, "step {step}: resized on Err");
                check(&set, &model, step);
            }
            SetOp::ShrinkToFit => {
                set.shrink_to_fit();
                let what = format!("step {step}: shrink_to_fit");
                assert_shrunk(set.capacity(), model.len(), &what);
                check(&set, &model, step);
            }
            SetOp::ShrinkTo(min) => {
                let min = usize::from(min % RESERVE_MOD);
                let before = set.capacity();
                set.shrink_to(min);
                let what = format!("step {step}: shrink_to");
                assert_shrunk_to(before, set.capacity(), model.len(), min, &what);
                check(&set, &model, step);
            }
        }
        assert_eq!(set.len(), model.len(), "step {step}: len after {op:?}");
    }
    check(&set, &model, usize::MAX);
}
