//! The multi-threaded check behind the `concurrent` target.
//!
//! Two or three threads each run a script from the input on one shared map.
//! Keys come in two kinds:
//!
//! * **own keys**: each thread has its own range of keys that no other
//!   thread writes, so the thread checks every result on them exactly
//!   against its private model, and the final state of all of them is known;
//! * **shared keys**: every thread writes them, so reads are checked for
//!   plausibility. Every value encodes its writer, its key and the position
//!   (sequence number) of the writing operation in the writer's script, so a
//!   value read must be one that some script writes for that key; a thread
//!   never sees its own writes out of order or overwritten ones of its own
//!   again; and per key and writer, the writes a thread sees never go
//!   backwards (read coherence, implied by linearizability).
//!
//! After the threads join, the whole map is compared with the merged own
//! models and the shared-key rules, and after it is dropped every key and
//! value constructed must have been dropped exactly once.

use std::collections::{HashMap as StdMap, HashSet};
use std::hash::BuildHasher;
use std::sync::{Arc, Barrier};

use arbitrary::Arbitrary;
use lfmap::{Compute, HashMap, Operation};

use crate::ledger::{Ledger, TKey, TVal};

/// A key an operation targets: an index into the thread's own keys, or
/// into the shared keys.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Target {
    Own(u8),
    Shared(u8),
}

#[derive(Arbitrary, Clone, Debug)]
pub enum COp {
    Insert(Target),
    Remove(Target),
    Get(Target),
    GetOrInsert(Target),
    GetOrInsertWith(Target),
    Update(Target),
    RemoveIf(Target, u8),
    TryInsert(Target),
    /// `compute` deciding by `mode % 4`: 0 insert, 1 insert if absent else
    /// remove, 2 abort on an even current value else insert, 3 remove.
    Compute(Target, u8),
    /// Retain over the whole map: judges own and shared keys, keeps every
    /// other thread's own keys.
    Retain(u8),
    Iter,
    Len,
    Repin,
    InsertRange {
        start: u8,
        count: u8,
    },
    RemoveRange {
        start: u8,
        count: u8,
    },
    /// Busy-wait a little, to vary the interleaving.
    Spin(u8),
    /// A read, then `compare_exchange` from the value read (with `false`;
    /// an absent key expects a value never written), or from a value never
    /// written (with `true`, which must fail): replaces it with this
    /// operation's value unless another thread wrote the key in between.
    CompareExchange(Target, bool),
}

#[derive(Arbitrary, Clone, Debug)]
pub struct CInput {
    /// `None`: a full hash with fixed keys (`hashing::Fixed`); otherwise an input-chosen hasher.
    pub shape: Option<crate::hashing::Shape>,
    pub capacity: u8,
    pub three_threads: bool,
    /// `shared % 8 + 1` shared keys.
    pub shared: u8,
    /// `own % 128 + 1` own keys per thread.
    pub own: u8,
    pub long_pin: bool,
    pub scripts: [Vec<COp>; 3],
}

/// Most operations per script.
pub const MAX_SCRIPT: usize = 300;

/// `value = writer << 56 | key << 32 | seq`, `seq = op index * 256 + j`.
fn enc(writer: usize, id: u16, seq: u32) -> u64 {
    (writer as u64) << 56 | u64::from(id) << 32 | u64::from(seq)
}

fn dec(v: u64) -> (usize, u16, u32) {
    ((v >> 56) as usize, (v >> 32) as u16, v as u32)
}

fn seq(op: usize, j: usize) -> u32 {
    (op * 256 + j) as u32
}

fn removes(v: u64, p: u8) -> bool {
    ((v >> 8) ^ v).wrapping_add(u64::from(p)) % (u64::from(p % 3) + 2) == 0
}

fn keeps(v: u64, p: u8) -> bool {
    ((v >> 8) ^ v)
        .wrapping_mul(0x9E37_79B9)
        .wrapping_add(u64::from(p))
        % (u64::from(p % 4) + 2)
        != 0
}

/// What every script can do, computed before the run.
struct Plan {
    threads: usize,
    shared: u16,
    own: u16,
    /// Every value some script may write.
    writes: HashSet<u64>,
    /// Per thread and key: sequence numbers of its operations after which
    /// none of its earlier writes to the key can be seen again (insert,
    /// remove, update).
    overwrites: Vec<StdMap<u16, Vec<u32>>>,
    /// Shared keys some script may remove (any `retain` may remove all).
    removable: Vec<bool>,
    /// Shared keys some script inserts unconditionally or if absent.
    inserted: Vec<bool>,
}

impl Plan {
    fn own_id(&self, t: usize, i: u16) -> u16 {
        256 * (t as u16 + 1) + i % self.own
    }

    fn id(&self, t: usize, target: Target) -> u16 {
        match target {
            Target::Own(i) => self.own_id(t, u16::from(i)),
            Target::Shared(i) => u16::from(i) % self.shared,
        }
    }

    /// The thread owning `id`, `None` for a shared key.
    fn owner(&self, id: u16) -> Option<usize> {
        (id >= 256).then(|| usize::from(id / 256) - 1)
    }

    fn new(input: &CInput, threads: usize) -> Plan {
        let mut plan = Plan {
            threads,
            shared: u16::from(input.shared % 8) + 1,
            own: u16::from(input.own % 128) + 1,
            writes: HashSet::new(),
            overwrites: vec![StdMap::new(); threads],
            removable: vec![false; 8],
            inserted: vec![false; 8],
        };
        for (t, script) in input.scripts.iter().take(threads).enumerate() {
            for (q, op) in script.iter().take(MAX_SCRIPT).enumerate() {
                let s = seq(q, 0);
                match *op {
                    COp::Insert(target) | COp::Update(target) => {
                        let id = plan.id(t, target);
                        plan.writes.insert(enc(t, id, s));
                        plan.overwrites[t].entry(id).or_default().push(s);
                        if let (COp::Insert(_), Target::Shared(_)) = (op, target) {
                            plan.inserted[usize::from(id)] = true;
                        }
                    }
                    COp::Compute(target, mode) => {
                        let id = plan.id(t, target);
                        if mode % 4 != 3 {
                            plan.writes.insert(enc(t, id, s));
                        }
                        if mode % 4 == 0 || mode % 4 == 3 {
                            plan.overwrites[t].entry(id).or_default().push(s);
                        }
                        if id < 256 {
                            if mode % 4 != 3 {
                                plan.inserted[usize::from(id)] = true;
                            }
                            if mode % 4 == 1 || mode % 4 == 3 {
                                plan.removable[usize::from(id)] = true;
                            }
                        }
                    }
                    // Writes only over a present value: no insert, and no
                    // overwrite of the thread's own earlier writes that a
                    // failed exchange leaves.
                    COp::CompareExchange(target, _) => {
                        let id = plan.id(t, target);
                        plan.writes.insert(enc(t, id, s));
                    }
                    COp::GetOrInsert(target)
                    | COp::GetOrInsertWith(target)
                    | COp::TryInsert(target) => {
                        let id = plan.id(t, target);
                        plan.writes.insert(enc(t, id, s));
                        if id < 256 {
                            plan.inserted[usize::from(id)] = true;
                        }
                    }
                    COp::Remove(target) => {
                        let id = plan.id(t, target);
                        plan.overwrites[t].entry(id).or_default().push(s);
                        if id < 256 {
                            plan.removable[usize::from(id)] = true;
                        }
                    }
                    COp::RemoveIf(target, _) => {
                        let id = plan.id(t, target);
                        if id < 256 {
                            plan.removable[usize::from(id)] = true;
                        }
                    }
                    COp::Retain(_) => plan.removable.iter_mut().for_each(|r| *r = true),
                    COp::InsertRange { start, count } => {
                        for j in 0..usize::from(count % 64) {
                            let id = plan.own_id(t, u16::from(start) + j as u16);
                            plan.writes.insert(enc(t, id, seq(q, j)));
                            plan.overwrites[t].entry(id).or_default().push(seq(q, j));
                        }
                    }
                    COp::RemoveRange { start, count } => {
                        for j in 0..usize::from(count % 64) {
                            let id = plan.own_id(t, u16::from(start) + j as u16);
                            plan.overwrites[t].entry(id).or_default().push(seq(q, j));
                        }
                    }
                    _ => {}
                }
            }
        }
        plan
    }

    /// Whether thread `t` overwrites `id` strictly between `from` and `to`.
    fn overwritten_between(&self, t: usize, id: u16, from: u32, to: u32) -> bool {
        self.overwrites[t]
            .get(&id)
            .is_some_and(|v| v.iter().any(|&s| from < s && s < to))
    }
}

/// A thread's view: its own keys' model and, per key and writer, the latest
/// write it has seen.
struct View<'p> {
    plan: &'p Plan,
    t: usize,
    model: StdMap<u16, u64>,
    seen: StdMap<(u16, usize), u32>,
}

impl View<'_> {
    /// Checks a value that thread `t` observed for `id` during its operation
    /// at `now` (its own write at `now` included).
    fn observe(&mut self, id: u16, v: u64, now: u32) {
        let (w, kid, s) = dec(v);
        assert_eq!(
            kid, id,
            "thread {}: key {id} holds a value of key {kid}",
            self.t
        );
        assert!(w < self.plan.threads, "key {id}: writer {w}");
        assert!(
            self.plan.writes.contains(&v),
            "key {id}: value {v:#x} never written"
        );
        if let Some(owner) = self.plan.owner(id) {
            assert_eq!(w, owner, "key {id}: written by {w}, not its owner");
        }
        if w == self.t {
            assert!(
                s <= now,
                "thread {}: key {id}: saw its future write {s}",
                self.t
            );
            assert!(
                !self.plan.overwritten_between(self.t, id, s, now),
                "thread {}: key {id}: saw its write {s} after overwriting it (now {now})",
                self.t
            );
        }
        let last = self.seen.entry((id, w)).or_insert(s);
        assert!(
            s >= *last,
            "thread {}: key {id}: saw writer {w}'s write {s} after its write {}",
            self.t,
            *last
        );
        *last = s;
    }

    fn observe_opt(&mut self, id: u16, v: Option<u64>, now: u32) {
        if let Some(v) = v {
            self.observe(id, v, now);
        }
    }

    fn is_own(&self, id: u16) -> bool {
        self.plan.owner(id) == Some(self.t)
    }
}

/// Runs thread `t`'s script.
fn run_script<S: BuildHasher>(
    map: &HashMap<TKey, TVal, S>,
    view: &mut View<'_>,
    script: &[COp],
    long_pin: bool,
    kl: &Arc<Ledger>,
    vl: &Arc<Ledger>,
) {
    let t = view.t;
    let plan = view.plan;
    let mut pinned = Some(map.pin());
    for (q, op) in script.iter().take(MAX_SCRIPT).enumerate() {
        if long_pin && matches!(op, COp::Repin) {
            // The long-lived handle lets go of its pin while others write.
            pinned.as_mut().unwrap().refresh();
        } else if !long_pin {
            drop(pinned.take());
            pinned = Some(map.pin());
        }
        let m = pinned.as_ref().unwrap();
        let now = seq(q, 0);
        match *op {
            COp::Insert(target) => {
                let id = plan.id(t, target);
                let v = enc(t, id, now);
                let prev = m.insert(TKey::new(kl, id), TVal::new(vl, v)).map(TVal::v);
                single(view, id, prev, now, |model| model.insert(id, v));
            }
            COp::Remove(target) => {
                let id = plan.id(t, target);
                let prev = m.remove(&TKey::new(kl, id)).map(TVal::v);
                single(view, id, prev, now, |model| model.remove(&id));
            }
            COp::Get(target) => {
                let id = plan.id(t, target);
                let got = m.get(&TKey::new(kl, id)).map(TVal::v);
                single(view, id, got, now, |model| model.get(&id).copied());
            }
            COp::GetOrInsert(target) => {
                let id = plan.id(t, target);
                let v = enc(t, id, now);
                let got = m.get_or_insert(TKey::new(kl, id), TVal::new(vl, v)).v();
                single(view, id, Some(got), now, |model| {
                    Some(*model.entry(id).or_insert(v))
                });
            }
            COp::GetOrInsertWith(target) => {
                let id = plan.id(t, target);
                let v = enc(t, id, now);
                let mut calls = 0;
                let got = m
                    .get_or_insert_with(TKey::new(kl, id), || {
                        calls += 1;
                        TVal::new(vl, v)
                    })
                    .v();
                assert!(calls <= 1, "get_or_insert_with ran make {calls} times");
                if view.is_own(id) {
                    assert_eq!(calls, usize::from(!view.model.contains_key(&id)));
                }
                single(view, id, Some(got), now, |model| {
                    Some(*model.entry(id).or_insert(v))
                });
            }
            COp::Update(target) => {
                let id = plan.id(t, target);
                let v = enc(t, id, now);
                let mut calls = 0;
                let got = m
                    .update(&TKey::new(kl, id), |old| {
                        calls += 1;
                        let (_, kid, _) = dec(old.v());
                        assert_eq!(kid, id, "update saw a value of another key");
                        TVal::new(vl, v)
                    })
                    .map(TVal::v);
                // A result needs a run of the closure. The converse holds only
                // for own keys: on a shared key the closure may run on a value
                // that another thread then removes, and update returns `None`.
                assert!(got.is_none() || calls > 0, "update: calls {calls}, {got:?}");
                if view.is_own(id) {
                    assert_eq!(calls, usize::from(view.model.contains_key(&id)));
                }
                single(view, id, got, now, |model| {
                    model.get_mut(&id).map(|x| {
                        *x = v;
                        v
                    })
                });
            }
            COp::RemoveIf(target, p) => {
                let id = plan.id(t, target);
                let got = m
                    .remove_if(&TKey::new(kl, id), |k, v| {
                        assert_eq!(k.id(), id);
                        removes(v.v(), p)
                    })
                    .map(|(k, v)| {
                        assert_eq!(k.id(), id);
                        v.v()
                    });
                if let Some(v) = got {
                    assert!(removes(v, p), "remove_if removed a value it should keep");
                }
                single(view, id, got, now, |model| match model.get(&id) {
                    Some(&v) if removes(v, p) => model.remove(&id),
                    _ => None,
                });
            }
            COp::TryInsert(target) => {
                let id = plan.id(t, target);
                let v = enc(t, id, now);
                let got = match m.try_insert(TKey::new(kl, id), TVal::new(vl, v)) {
                    Ok(cur) => {
                        assert_eq!(cur.v(), v, "try_insert: Ok with another value");
                        Ok(v)
                    }
                    Err(e) => {
                        assert_eq!(e.not_inserted.v(), v, "try_insert gave back another value");
                        Err(e.current.v())
                    }
                };
                if view.is_own(id) {
                    let want = match view.model.get(&id) {
                        Some(&cur) => Err(cur),
                        None => {
                            view.model.insert(id, v);
                            Ok(v)
                        }
                    };
                    assert_eq!(got, want, "thread {t}: try_insert own key {id}");
                } else if let Err(cur) = got {
                    view.observe(id, cur, now);
                } else {
                    view.observe(id, v, now);
                }
            }
            COp::Compute(target, mode) => {
                let id = plan.id(t, target);
                let v = enc(t, id, now);
                let mut calls = 0;
                let mut saw = Vec::new();
                let r = m.compute(TKey::new(kl, id), |cur| {
                    calls += 1;
                    let cur = cur.map(|(k, x)| {
                        assert_eq!(k.id(), id, "compute saw another key");
                        x.v()
                    });
                    saw.extend(cur);
                    match (mode % 4, cur) {
                        (0, _) | (1, None) => Operation::Insert(TVal::new(vl, v)),
                        (1, Some(_)) | (3, _) => Operation::Remove,
                        (2, Some(x)) if x % 2 == 0 => Operation::Abort(x),
                        _ => Operation::Insert(TVal::new(vl, v)),
                    }
                });
                let got = match r {
                    Compute::Inserted(new) => (None, Some(new.v()), None),
                    Compute::Updated { old, new } => (Some(old.v()), Some(new.v()), None),
                    Compute::Removed(old) => (Some(old.v()), None, None),
                    Compute::Absent => (None, None, None),
                    Compute::Aborted(x) => (None, None, Some(x)),
                };
                assert!(calls >= 1, "compute never ran its closure");
                if let (_, Some(new), _) = got {
                    assert_eq!(new, v, "compute inserted another value");
                }
                if view.is_own(id) {
                    assert_eq!(calls, 1, "thread {t}: compute on own key ran {calls} times");
                    let cur = view.model.get(&id).copied();
                    let want = match (mode % 4, cur) {
                        (0, None) | (1, None) | (2, None) => (None, Some(v), None),
                        (2, Some(x)) if x % 2 == 0 => (None, None, Some(x)),
                        (0, Some(x)) | (2, Some(x)) => (Some(x), Some(v), None),
                        (_, Some(x)) => (Some(x), None, None),
                        (_, None) => (None, None, None),
                    };
                    match want.1 {
                        Some(new) => view.model.insert(id, new),
                        None if want.2.is_none() => view.model.remove(&id),
                        None => None,
                    };
                    assert_eq!(got, want, "thread {t}: compute own key {id}");
                } else {
                    for x in saw {
                        view.observe(id, x, now);
                    }
                    if let (Some(old), _, _) = got {
                        view.observe(id, old, now);
                    }
                    if let (_, _, Some(x)) = got {
                        view.observe(id, x, now);
                    }
                    if let (_, Some(new), _) = got {
                        view.observe(id, new, now);
                    }
                }
            }
            COp::Retain(p) => {
                let mut judged = Vec::new();
                let mut observed = Vec::new();
                m.retain(|k, v| {
                    let (id, v) = (k.id(), v.v());
                    if view.is_own(id) {
                        judged.push((id, v));
                        keeps(v, p)
                    } else if plan.owner(id).is_some() {
                        observed.push((id, v));
                        true
                    } else {
                        observed.push((id, v));
                        keeps(v, p)
                    }
                });
                for (id, v) in observed {
                    view.observe(id, v, now);
                }
                judged.sort_unstable();
                let mut want: Vec<(u16, u64)> = view.model.iter().map(|(&k, &v)| (k, v)).collect();
                want.sort_unstable();
                assert_eq!(judged, want, "thread {t}: retain judged own keys");
                view.model.retain(|_, v| keeps(*v, p));
            }
            COp::Iter => {
                let mut ids = HashSet::new();
                let mut own = StdMap::new();
                let mut others = Vec::new();
                for (k, v) in m.iter() {
                    let (id, v) = (k.id(), v.v());
                    assert!(ids.insert(id), "iter yielded {id} twice");
                    if view.is_own(id) {
                        own.insert(id, v);
                    } else {
                        others.push((id, v));
                    }
                }
                assert_eq!(own, view.model, "thread {t}: iter, own keys");
                for (id, v) in others {
                    view.observe(id, v, now);
                }
            }
            COp::Len => {
                // Not exact under concurrent writes; only must not crash.
                let _ = m.len();
                let _ = map.stats();
            }
            // As in the model target: the repin came first; flush too.
            COp::Repin => m.flush(),
            COp::InsertRange { start, count } => {
                for j in 0..usize::from(count % 64) {
                    let id = plan.own_id(t, u16::from(start) + j as u16);
                    let v = enc(t, id, seq(q, j));
                    let prev = m.insert(TKey::new(kl, id), TVal::new(vl, v)).map(TVal::v);
                    assert_eq!(prev, view.model.insert(id, v), "thread {t}: range insert");
                }
            }
            COp::RemoveRange { start, count } => {
                for j in 0..usize::from(count % 64) {
                    let id = plan.own_id(t, u16::from(start) + j as u16);
                    let prev = m.remove(&TKey::new(kl, id)).map(TVal::v);
                    assert_eq!(prev, view.model.remove(&id), "thread {t}: range remove");
                }
            }
            COp::Spin(n) => {
                for _ in 0..u32::from(n) * 16 {
                    std::hint::spin_loop();
                }
                if n % 16 == 0 {
                    std::thread::yield_now();
                }
            }
            COp::CompareExchange(target, never_written) => {
                let id = plan.id(t, target);
                let v = enc(t, id, now);
                let read = m.get(&TKey::new(kl, id)).map(TVal::v);
                single(view, id, read, now, |model| model.get(&id).copied());
                // This operation's own value, which no entry holds yet.
                let expected = if never_written { v } else { read.unwrap_or(v) };
                let got = match m.compare_exchange(
                    &TKey::new(kl, id),
                    &TVal::new(vl, expected),
                    TVal::new(vl, v),
                ) {
                    Ok(prev) => Ok(prev.v()),
                    Err(e) => {
                        assert_eq!(e.new.v(), v, "compare_exchange gave back another value");
                        Err(e.current.map(TVal::v))
                    }
                };
                if view.is_own(id) {
                    let want = match view.model.get(&id) {
                        Some(&cur) if cur == expected => {
                            view.model.insert(id, v);
                            Ok(cur)
                        }
                        other => Err(other.copied()),
                    };
                    assert_eq!(got, want, "thread {t}: compare_exchange own key {id}");
                } else {
                    match got {
                        Ok(prev) => {
                            assert_eq!(prev, expected, "compare_exchange replaced another value");
                            view.observe(id, v, now);
                        }
                        Err(cur) => {
                            // Values are unique per write: an equal one is
                            // the expected entry, which the exchange replaces.
                            assert_ne!(cur, Some(expected), "compare_exchange failed on its value");
                            view.observe_opt(id, cur, now);
                        }
                    }
                }
            }
        }
    }
}

/// Checks a result on `id`: exactly against the model for an own key
/// (`expect` updates the model and gives the expected result), for
/// plausibility otherwise.
fn single(
    view: &mut View<'_>,
    id: u16,
    got: Option<u64>,
    now: u32,
    expect: impl FnOnce(&mut StdMap<u16, u64>) -> Option<u64>,
) {
    if view.is_own(id) {
        let want = expect(&mut view.model);
        assert_eq!(got, want, "thread {}: own key {id}", view.t);
    } else {
        view.observe_opt(id, got, now);
    }
}

fn run_with<S: BuildHasher + Sync>(input: &CInput, hasher: S) {
    let threads = if input.three_threads { 3 } else { 2 };
    let plan = Plan::new(input, threads);
    let (kl, vl) = (Ledger::new(), Ledger::new());
    {
        let map: HashMap<TKey, TVal, S> =
            HashMap::with_capacity_and_hasher(usize::from(input.capacity % 80), hasher);
        let barrier = Barrier::new(threads);
        let views: Vec<View<'_>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (map, plan, barrier) = (&map, &plan, &barrier);
                    let (kl, vl) = (&kl, &vl);
                    let script = &input.scripts[t];
                    s.spawn(move || {
                        let mut view = View {
                            plan,
                            t,
                            model: StdMap::new(),
                            seen: StdMap::new(),
                        };
                        barrier.wait();
                        run_script(map, &mut view, script, input.long_pin, kl, vl);
                        view
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });

        // Quiescent: everything is exact now.
        let m = map.pin();
        let mut own_total = 0;
        for view in &views {
            for i in 0..plan.own {
                let id = plan.own_id(view.t, i);
                assert_eq!(
                    m.get(&TKey::new(&kl, id)).map(TVal::v),
                    view.model.get(&id).copied(),
                    "final: own key {id}"
                );
            }
            own_total += view.model.len();
        }
        let mut shared_present = 0;
        for id in 0..plan.shared {
            let got = m.get(&TKey::new(&kl, id)).map(TVal::v);
            let Some(v) = got else {
                assert!(
                    !plan.inserted[usize::from(id)] || plan.removable[usize::from(id)],
                    "final: shared key {id} inserted, never removed, yet absent"
                );
                continue;
            };
            shared_present += 1;
            let (w, kid, s) = dec(v);
            assert_eq!(kid, id);
            assert!(plan.writes.contains(&v), "final: shared key {id}: {v:#x}");
            assert!(
                !plan.overwritten_between(w, id, s, u32::MAX),
                "final: shared key {id} holds {w}'s write {s}, which {w} overwrote"
            );
            for view in &views {
                if let Some(&last) = view.seen.get(&(id, w)) {
                    assert!(s >= last, "final: shared key {id} went back to {w}'s {s}");
                }
            }
        }
        let mut n = 0;
        let mut ids = HashSet::new();
        for (k, v) in m.iter() {
            assert!(ids.insert(k.id()), "final iter: {} twice", k.id());
            let want = m.get(k).map(TVal::v);
            assert_eq!(Some(v.v()), want, "final iter vs get");
            n += 1;
        }
        assert_eq!(n, own_total + shared_present, "final: iter count");
        assert_eq!(map.len(), n, "final: len");
        assert_eq!(map.stats().len, n, "final: stats.len");
        drop(m);
        // A last clear empties it, whatever the threads left.
        map.pin().clear();
        assert_eq!(map.len(), 0);
        assert_eq!(map.pin().iter().count(), 0);
    }
    kl.assert_balanced("keys");
    vl.assert_balanced("values");
}

pub fn run(input: &CInput) {
    match &input.shape {
        None => run_with(input, crate::hashing::Fixed::default()),
        Some(shape) => run_with(input, crate::hashing::ShapedHash::new(shape.clone())),
    }
}
