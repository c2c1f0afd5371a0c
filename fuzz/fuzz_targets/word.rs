//! `word`: `WordMap<u64, u64>` against `std::collections::HashMap`, under an
//! input-chosen hasher (`Shape`: constant, few hashes, equal high bits, ...).
//!
//! Keys come from a small alphabet (`keys::word_key`) that mixes small
//! values, values whose top byte is set (the pending-claim path) and that
//! share their low 56 bits with a small one, and the extremes 0 and
//! `u64::MAX`. Phase 1 runs the input's operations one by one and checks
//! every result, closure call counts, `len` after each operation and the
//! full contents (`iter`, `keys`, `values`, a lookup of every alphabet key)
//! at checkpoints. Closures (`update`, `compute`, `remove_if`, `retain`,
//! `get_or_insert_with`) panic when the input says: the map must then equal
//! the model (nothing changed; `retain` keeps the removals it made before
//! the panic). Phase 2 runs `add`s from two threads on input-chosen keys
//! (shared and own) while the map grows, then checks every key's value
//! exactly.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};

use arbitrary::Arbitrary;
use lfmap::{Operation, TryReserveError, WordCompute, WordMap};
use lfmap_fuzz::capacity::{assert_reserved, assert_shrunk, assert_shrunk_to, huge, RESERVE_MOD};
use lfmap_fuzz::hashing::{Shape, ShapedHash};
use lfmap_fuzz::keys::word_key as key;
use lfmap_fuzz::model::{compute_op, removes};
use lfmap_fuzz::trip::{payload_message, quiet_planned_panics, PLANNED};
use libfuzzer_sys::fuzz_target;

/// Thread `t`'s `i`-th own key in phase 2: distinct per thread and from
/// the alphabet, half of them with a top byte.
fn own_key(t: u64, i: u64) -> u64 {
    (t + 1) << 32 | i | (i & 1) << 62
}

/// `retain`'s verdict on `(k, v)`, varied by `p`.
fn keeps(k: u64, v: u64, p: u8) -> bool {
    let h = (k ^ v.rotate_left(17))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(u64::from(p));
    (h >> 40) % (u64::from(p % 4) + 2) != 0
}

/// A planned panic in a closure.
fn planned(what: &str) -> ! {
    panic!("{PLANNED} in {what}")
}

#[derive(Arbitrary, Debug)]
enum Op {
    Insert(u8, u64),
    Remove(u8),
    Get(u8),
    ContainsKey(u8),
    Add(u8, u64),
    /// `update(k, |v| v ^ d)`; the closure panics if the flag says so.
    Update(u8, u64, bool),
    Cas(u8, u64, u64),
    GetOrInsert(u8, u64),
    /// `get_or_insert_with`, or `get_or_try_insert_with` by `v % 3` (0: its
    /// closure fails); the closure panics if the flag says so.
    GetOrInsertWith(u8, u64, bool),
    /// `remove_if(k, |_, v| removes(v, p))`, panicking if the flag says so.
    RemoveIf(u8, u8, bool),
    /// `compute(k, f)` with `f` chosen by the mode (`model::compute_op`),
    /// panicking if the flag says so.
    Compute(u8, u8, u32, bool),
    /// `retain(|k, v| keeps(k, v, p))`; with `Some(n)`, the closure panics
    /// at its `n % (len + 1)`-th call (none if that is `len`).
    Retain(u8, Option<u8>),
    /// `Extend` (through `&WordMap`) from a list of pairs.
    Extend(Vec<(u8, u64)>),
    /// Clones the map, compares the clone (`==` and contents), clears the
    /// clone: the original must be untouched.
    CloneMap,
    /// `reserve(additional % RESERVE_MOD)`: the capacity must then hold
    /// `len + additional`, and up to `additional` inserts of new keys (the
    /// absent alphabet keys from `fill` on) must not resize.
    Reserve {
        additional: u16,
        fill: u8,
    },
    /// `try_reserve(additional % RESERVE_MOD)`: `Ok`, with room as `Reserve`.
    TryReserve(u16),
    /// `try_reserve` of a request no table can hold: `Err(CapacityOverflow)`
    /// and the map unchanged.
    TryReserveHuge(u8),
    /// `shrink_to_fit`: contents unchanged, capacity the smallest that
    /// holds them.
    ShrinkToFit,
    Check,
    Clear,
    /// `shrink_to(min % RESERVE_MOD)`: contents unchanged, capacity what
    /// fits the entries and `min` of them, or unchanged if smaller.
    ShrinkTo(u16),
    /// `drain` (`&mut`), `n` pairs taken (all if 255), the rest dropped
    /// with the iterator: each pair once, the map empty after.
    Drain(u8),
    /// `try_insert(k, v)`: `Ok` if absent (then present), else the value.
    TryInsert(u8, u64),
    /// `update_or_insert_with(k, |v| v ^ d, || d)`; whichever closure runs
    /// panics if the flag says so.
    UpdateOrInsert(u8, u64, bool),
}

#[derive(Arbitrary, Debug)]
struct Input {
    shape: Shape,
    capacity: u8,
    ops: Vec<Op>,
    /// Keys the two threads of phase 2 add to (each thread: these, then
    /// its own range).
    shared: Vec<u8>,
    own: u16,
}

type Map = WordMap<u64, u64, ShapedHash>;
type Model = HashMap<u64, u64>;

/// The full contents: `iter` (no key twice, the model's values), `keys`
/// and `values` (the model's, as sorted multisets), `len`, `is_empty`, and
/// `get` and `contains_key` of every alphabet key.
fn check(map: &Map, model: &Model) {
    let mut seen = HashSet::new();
    for (k, v) in map.iter() {
        assert!(seen.insert(k), "key {k:#x} yielded twice");
        assert_eq!(model.get(&k), Some(&v), "key {k:#x}");
    }
    assert_eq!(seen.len(), model.len(), "iter count");
    let mut got: Vec<u64> = map.keys().collect();
    let mut want: Vec<u64> = model.keys().copied().collect();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "keys");
    let mut got: Vec<u64> = map.values().collect();
    let mut want: Vec<u64> = model.values().copied().collect();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "values");
    assert_eq!(map.len(), model.len());
    assert_eq!(map.is_empty(), model.is_empty());
    for i in 0..=u8::MAX {
        let k = key(i);
        assert_eq!(map.get(&k), model.get(&k).copied(), "get {k:#x}");
        assert_eq!(
            map.contains_key(&k),
            model.contains_key(&k),
            "contains {k:#x}"
        );
    }
}

/// Runs `f`, which panics (a planned panic) exactly when `panics`; returns
/// its result if it did not. Any other panic is a finding.
fn run<R>(panics: bool, f: impl FnOnce() -> R) -> Option<R> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => {
            assert!(!panics, "a planned panic did not happen");
            Some(r)
        }
        Err(payload) => {
            let msg = payload_message(&*payload);
            assert!(msg.starts_with(PLANNED), "unexpected panic: {msg}");
            assert!(panics, "panicked unplanned: {msg}");
            None
        }
    }
}

fn retain(map: &Map, model: &mut Model, p: u8, at: Option<u8>) {
    let stop = at.map(|n| usize::from(n) % (model.len() + 1));
    let panics = stop.is_some_and(|n| n < model.len());
    let mut judged: Vec<(u64, u64, bool)> = Vec::new();
    let done = run(panics, || {
        map.retain(|k, v| {
            if Some(judged.len()) == stop {
                planned("retain");
            }
            let keep = keeps(k, v, p);
            judged.push((k, v, keep));
            keep
        })
    });
    let mut seen = HashSet::new();
    for &(k, v, _) in &judged {
        assert!(seen.insert(k), "retain judged {k:#x} twice");
        assert_eq!(model.get(&k), Some(&v), "retain judged {k:#x} on {v}");
    }
    if done.is_some() {
        assert_eq!(judged.len(), model.len(), "retain judged too few keys");
    }
    // Keys judged `false` before a panic stay removed; the panicking call
    // removed nothing.
    for &(k, _, keep) in &judged {
        if !keep {
            model.remove(&k);
        }
    }
}

/// After `reserve(a)`: room for `a` more keys, and inserting up to `a` new
/// keys (the absent alphabet keys from `fill` on) starts no resize.
fn fill_reserved(map: &Map, model: &mut Model, a: usize, fill: u8) {
    assert_reserved(map.capacity(), model.len(), a, "reserve");
    let resizes = map.stats().resizes;
    let mut added = 0;
    for j in 0..=u8::MAX {
        let k = key(fill.wrapping_add(j));
        if added == a || model.contains_key(&k) {
            continue;
        }
        let v = u64::from(j) << 32 | k & 0xffff;
        assert_eq!(map.insert(k, v), None, "fill insert {k:#x}");
        model.insert(k, v);
        added += 1;
    }
    assert_eq!(
        map.stats().resizes,
        resizes,
        "{added} inserts after reserve({a}) resized"
    );
}

fn op(map: &Map, model: &mut Model, op: Op) {
    match op {
        Op::Insert(k, v) => assert_eq!(map.insert(key(k), v), model.insert(key(k), v)),
        Op::Remove(k) => assert_eq!(map.remove(&key(k)), model.remove(&key(k))),
        Op::Get(k) => assert_eq!(map.get(&key(k)), model.get(&key(k)).copied()),
        Op::ContainsKey(k) => {
            assert_eq!(map.contains_key(&key(k)), model.contains_key(&key(k)));
        }
        Op::Add(k, d) => {
            let e = model.entry(key(k)).or_insert(0);
            *e = e.wrapping_add(d);
            assert_eq!(map.add(&key(k), d), *e);
        }
        Op::Update(k, d, panic) => {
            let present = model.contains_key(&key(k));
            let mut runs = 0;
            let got = run(panic && present, || {
                map.update(&key(k), |v| {
                    runs += 1;
                    if panic {
                        planned("update");
                    }
                    v ^ d
                })
            });
            // No other thread: the closure runs once if present.
            assert_eq!(runs, usize::from(present), "update runs");
            if let Some(got) = got {
                let want = model.get_mut(&key(k)).map(|v| {
                    *v ^= d;
                    *v
                });
                assert_eq!(got, want, "update");
            } else {
                check(map, model);
            }
        }
        Op::UpdateOrInsert(k, d, panic) => {
            let present = model.contains_key(&key(k));
            let (mut updates, mut makes) = (0, 0);
            let got = run(panic, || {
                map.update_or_insert_with(
                    key(k),
                    |v| {
                        updates += 1;
                        if panic {
                            planned("update_or_insert's update");
                        }
                        v ^ d
                    },
                    || {
                        makes += 1;
                        if panic {
                            planned("update_or_insert's insert");
                        }
                        d
                    },
                )
            });
            // No other thread: the closure the key's presence calls for
            // runs once, the other never.
            let want_runs = if present { (1, 0) } else { (0, 1) };
            assert_eq!((updates, makes), want_runs, "update_or_insert runs");
            match got {
                Some(got) => {
                    let e = model.entry(key(k)).and_modify(|v| *v ^= d).or_insert(d);
                    assert_eq!(got, *e, "update_or_insert");
                }
                None => check(map, model),
            }
        }
        Op::Cas(k, cur, new) => {
            let want = match model.get(&key(k)).copied() {
                Some(v) if v == cur => {
                    model.insert(key(k), new);
                    Ok(cur)
                }
                other => Err(other),
            };
            assert_eq!(map.compare_exchange(&key(k), cur, new), want);
        }
        Op::GetOrInsert(k, v) => {
            assert_eq!(
                map.get_or_insert(key(k), v),
                *model.entry(key(k)).or_insert(v)
            );
        }
        Op::GetOrInsertWith(k, v, panic) => {
            let absent = !model.contains_key(&key(k));
            let mut runs = 0;
            let mut make = || {
                runs += 1;
                if panic {
                    planned("get_or_insert_with");
                }
                v
            };
            // A third of the calls through `get_or_try_insert_with` whose
            // `make` fails (nothing inserted), a third through it succeeding.
            let got = run(panic && absent, || match v % 3 {
                0 => map.get_or_try_insert_with(key(k), || Err(make())),
                1 => map.get_or_try_insert_with(key(k), || Ok::<_, u64>(make())),
                _ => Ok(map.get_or_insert_with(key(k), make)),
            });
            assert_eq!(runs, usize::from(absent), "get_or_insert_with runs");
            match got {
                Some(Err(made)) => {
                    assert!(absent && v % 3 == 0, "an error for a present key");
                    assert_eq!(made, v);
                    assert_eq!(map.get(&key(k)), None, "a failed make inserted");
                }
                Some(Ok(got)) => {
                    assert!(!(absent && v % 3 == 0), "a failed make inserted");
                    assert_eq!(got, *model.entry(key(k)).or_insert(v));
                }
                None => check(map, model),
            }
        }
        Op::RemoveIf(k, p, panic) => {
            let cur = model.get(&key(k)).copied();
            let mut runs = 0;
            let got = run(panic && cur.is_some(), || {
                map.remove_if(&key(k), |kk, v| {
                    runs += 1;
                    assert_eq!(kk, key(k), "remove_if judged another key");
                    if panic {
                        planned("remove_if");
                    }
                    removes(v, p)
                })
            });
            assert_eq!(runs, usize::from(cur.is_some()), "remove_if runs");
            match got {
                Some(got) => {
                    let want = cur.filter(|&v| removes(v, p));
                    if want.is_some() {
                        model.remove(&key(k));
                    }
                    assert_eq!(got, want, "remove_if");
                }
                None => check(map, model),
            }
        }
        Op::Compute(k, mode, v, panic) => {
            let cur = model.get(&key(k)).copied();
            let mut runs = 0;
            let got = run(panic, || {
                map.compute(key(k), |seen| {
                    runs += 1;
                    assert_eq!(seen, cur, "compute saw another value");
                    if panic {
                        planned("compute");
                    }
                    compute_op(seen, mode, v)
                })
            });
            assert_eq!(runs, 1, "compute runs");
            let Some(got) = got else {
                return check(map, model);
            };
            let want = match (compute_op(cur, mode, v), cur) {
                (Operation::Insert(x), None) => {
                    model.insert(key(k), x);
                    WordCompute::Inserted(x)
                }
                (Operation::Insert(x), Some(old)) => {
                    model.insert(key(k), x);
                    WordCompute::Updated { old, new: x }
                }
                (Operation::Remove, Some(old)) => {
                    model.remove(&key(k));
                    WordCompute::Removed(old)
                }
                (Operation::Remove, None) => WordCompute::Absent,
                (Operation::Abort(r), _) => WordCompute::Aborted(r),
            };
            assert_eq!(got, want, "compute");
        }
        Op::Retain(p, at) => {
            retain(map, model, p, at);
            if at.is_some() {
                check(map, model);
            }
        }
        Op::Extend(pairs) => {
            let pairs = &pairs[..pairs.len().min(32)];
            let mut m = map;
            m.extend(pairs.iter().map(|&(k, v)| (key(k), v)));
            for &(k, v) in pairs {
                model.insert(key(k), v);
            }
        }
        Op::CloneMap => {
            let c = map.clone();
            assert!(c == *map, "clone != original");
            check(&c, model);
            c.clear();
            assert!(c.is_empty());
            check(map, model);
        }
        Op::Reserve { additional, fill } => {
            let a = usize::from(additional % RESERVE_MOD);
            map.reserve(a);
            fill_reserved(map, model, a, fill);
        }
        Op::TryReserve(additional) => {
            let a = usize::from(additional % RESERVE_MOD);
            assert_eq!(map.try_reserve(a), Ok(()), "try_reserve({a})");
            assert_reserved(map.capacity(), model.len(), a, "try_reserve");
        }
        Op::TryReserveHuge(pick) => {
            let a = huge(pick, model.len());
            let (cap, resizes) = (map.capacity(), map.stats().resizes);
            assert_eq!(
                map.try_reserve(a),
                Err(TryReserveError::CapacityOverflow),
                "try_reserve({a})"
            );
            assert_eq!(map.capacity(), cap, "capacity after Err");
            assert_eq!(map.stats().resizes, resizes, "resized on Err");
            check(map, model);
        }
        Op::ShrinkToFit => {
            map.shrink_to_fit();
            assert_shrunk(map.capacity(), model.len(), "shrink_to_fit");
            check(map, model);
        }
        Op::Check => check(map, model),
        Op::Clear => {
            map.clear();
            model.clear();
        }
        Op::ShrinkTo(min) => {
            let min = usize::from(min % RESERVE_MOD);
            let before = map.capacity();
            map.shrink_to(min);
            assert_shrunk_to(before, map.capacity(), model.len(), min, "shrink_to");
            check(map, model);
        }
        Op::Drain(_) => unreachable!("drained in the input's loop, with `&mut`"),
        Op::TryInsert(k, v) => {
            let want = match model.get(&key(k)) {
                Some(&cur) => Err(cur),
                None => {
                    model.insert(key(k), v);
                    Ok(())
                }
            };
            assert_eq!(map.try_insert(key(k), v), want, "try_insert {:#x}", key(k));
        }
    }
}

/// `Op::Drain(n)`: needs the map by `&mut`.
fn drain(map: &mut Map, model: &mut Model, n: u8) {
    let take = if n == u8::MAX {
        usize::MAX
    } else {
        usize::from(n)
    };
    let mut drain = map.drain();
    assert_eq!(drain.len(), model.len(), "drain's length");
    let mut seen = HashSet::new();
    for (k, v) in drain.by_ref().take(take) {
        assert!(seen.insert(k), "drain yielded {k:#x} twice");
        assert_eq!(model.get(&k), Some(&v), "drain yielded {k:#x}");
    }
    assert_eq!(seen.len(), model.len().min(take), "drain count");
    assert_eq!(drain.len(), model.len() - seen.len(), "drain's length left");
    drop(drain);
    model.clear();
}

fuzz_target!(|input: Input| {
    quiet_planned_panics();
    let Input {
        shape,
        capacity,
        ops,
        shared,
        own,
    } = input;
    let mut map = WordMap::with_capacity_and_hasher(usize::from(capacity), ShapedHash::new(shape));
    let mut model = Model::new();
    for o in ops.into_iter().take(2000) {
        match o {
            Op::Drain(n) => drain(&mut map, &mut model, n),
            o => op(&map, &mut model, o),
        }
        assert_eq!(map.len(), model.len());
    }
    check(&map, &model);

    // Phase 2: two threads add concurrently; every add must land once.
    let shared: Vec<u64> = shared.into_iter().take(64).map(key).collect();
    let own = u64::from(own % 600);
    // Joined through their handles, not by the scope's end: a handle's
    // join waits for the thread to exit, thread-locals included, while the
    // scope only waits for the closures to return. LeakSanitizer, which
    // libFuzzer runs right after the input, otherwise sees a thread still
    // exiting hold its std allocations (found by an 8-minute campaign: a
    // leak report that did not replay).
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..2u64)
            .map(|t| {
                let (map, shared) = (&map, &shared);
                s.spawn(move || {
                    for &k in shared {
                        map.add(&k, 1);
                    }
                    for i in 0..own {
                        map.add(&own_key(t, i), 1);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    let distinct: HashSet<u64> = shared.iter().copied().collect();
    for &k in &distinct {
        let before = model.get(&k).copied().unwrap_or(0);
        let adds = 2 * shared.iter().filter(|&&x| x == k).count() as u64;
        assert_eq!(
            map.get(&k),
            Some(before.wrapping_add(adds)),
            "shared key {k:#x}"
        );
    }
    for t in 0..2u64 {
        for i in 0..own {
            let k = own_key(t, i);
            assert_eq!(map.get(&k), Some(1), "own key {k:#x}");
        }
    }
    let new_shared = distinct.iter().filter(|k| !model.contains_key(k)).count();
    let len = model.len() + new_shared + 2 * own as usize;
    assert_eq!(map.len(), len);
    assert_eq!(map.iter().count(), len);
});
