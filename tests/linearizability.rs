//! Every per-key operation of both maps is linearizable, checked on
//! histories recorded from real threads while the map grows, shrinks,
//! rebuilds, is cleared, filtered and walked.
//!
//! Four threads run random operations on a few tracked keys, each call
//! recorded with tickets taken before and after it (`common::history`); a
//! fifth thread churns thousands of other keys through the map, so the
//! tracked keys' slots are frozen, copied and sealed by resizes over and
//! over while the calls run. Afterwards each tracked key's history must
//! have a linearization: an order of its calls, consistent with the
//! tickets, in which each call returns what a sequential map would. A lost
//! update, a read of a value already overwritten (a stale table), an
//! update applied twice or a `compare_exchange` that succeeds against a
//! value no longer there all leave histories without one. Stress tests
//! that count (`threads.rs`) see the first; only an order check sees the
//! others.
//!
//! One call in 64 has its closure panic (`update`, `remove_if`,
//! `compute`, and `HashMap`'s `*_with` and `update_or_insert`): such a
//! call must have had no effect, so it is left out of the history, and
//! any effect it had would leave a return no linearization explains.
//!
//! Whole-map operations enter each key's history as what they promise per
//! key: `clear` and `retain` act on each key at some moment during them;
//! an iteration reads a key it yields within the `next` call that yields
//! it (the value the key has when the walk reaches it: `src/iter.rs`), and
//! a key it does not yield was absent at some moment of the walk.
//!
//! No assertion depends on timing: a slow or loaded machine overlaps fewer
//! calls, which checks less, but never fails a correct map.

mod common;

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;

use common::hashers::{Shape, ShapedHash};
use common::history::{self, Call, Clock, Record, Ret};
use common::panics::{is_planned, panic_message, quiet_planned_panics};
use common::rng::Rng;
use common::runner::{both_maps, Ops, TestMap};
use common::{CountOnDrop, StopOnDrop};
use std::hash::BuildHasher;

use lfmap::{HashMap, HashMapRef, Operation, WordCompute, WordMap};

/// Threads that run the recorded operations.
const THREADS: usize = 4;

/// Operations per recording thread.
const OPS: usize = 100_000;

/// The tracked keys: small ones, and ones with a nonzero top byte (a
/// `WordMap` claims those with two CASes: `docs/design.md`, "WordMap").
/// The churn thread's keys lie between them, so none is tracked.
const KEYS: [u64; 6] = [
    1,
    2,
    3,
    0x0100_0000_0000_0005,
    0x8000_0000_0000_0001,
    u64::MAX - 6,
];

/// The first key the churn thread uses.
const CHURN_BASE: u64 = 1 << 40;

/// What one per-key operation is given: the key, a fresh value, a delta,
/// the value a `compare_exchange` expects, a roll that picks the verb, and
/// whether its closure panics.
#[derive(Clone, Copy)]
struct Args {
    key: u64,
    value: u64,
    delta: u64,
    expected: u64,
    roll: u64,
    /// Whether the call's closure (if it runs one, and once it runs)
    /// panics: the call must then have had no effect, so it is left out of
    /// the history, and any effect it had shows as a return no
    /// linearization explains.
    panics: bool,
}

/// A closure's panic, planned by [`Args::panics`].
fn trip(a: &Args) {
    if a.panics {
        panic!("planned panic in a closure");
    }
}

/// A map whose per-key operations the test records: every map runs the
/// verbs both maps share ([`shared_operation`]); a map may add its own.
trait Recorded: TestMap {
    /// Runs one operation on `a.key` through `handle`; what it asked and
    /// what it returned.
    fn operate(handle: &Self::Handle<'_>, a: Args) -> (Call, Ret) {
        shared_operation(handle, a)
    }
}

impl<S: BuildHasher + Clone + Default + Send + Sync> Recorded for WordMap<u64, u64, S> {}

/// `HashMap` adds the verbs only it has, about a quarter of the time.
impl<S: BuildHasher + Clone + Default + Send + Sync> Recorded for HashMap<u64, u64, S> {
    fn operate(handle: &HashMapRef<'_, u64, u64, S>, a: Args) -> (Call, Ret) {
        let Args {
            key, value, delta, ..
        } = a;
        let try_ret = |r: Result<&u64, &u64>| Ret::Try(r.copied().map_err(|v| *v));
        match a.roll % 30 {
            0 => (
                Call::TryInsert(value),
                try_ret(handle.try_insert(key, value).map_err(|e| e.current)),
            ),
            1 => (
                Call::TryInsert(value),
                try_ret(handle.try_insert_with(key, || {
                    trip(&a);
                    value
                })),
            ),
            2 => (
                Call::GetOrInsert(value),
                Ret::One(*handle.get_or_insert_with(key, || {
                    trip(&a);
                    value
                })),
            ),
            3 => (
                Call::UpdateOrInsert {
                    init: value,
                    d: delta,
                },
                Ret::One(*handle.update_or_insert(
                    key,
                    |v| {
                        trip(&a);
                        v.wrapping_add(delta)
                    },
                    value,
                )),
            ),
            4 => (
                Call::UpdateOrInsert {
                    init: value,
                    d: delta,
                },
                Ret::One(*handle.update_or_insert_with(key, |v| v.wrapping_add(delta), || value)),
            ),
            5 => {
                let found = handle.get_key_value(&key);
                assert!(found.is_none_or(|(k, _)| *k == key), "another key's entry");
                (Call::Get, Ret::Value(found.map(|(_, v)| *v)))
            }
            6 => {
                let removed = handle.remove_entry(&key);
                assert!(
                    removed.is_none_or(|(k, _)| *k == key),
                    "another key's entry"
                );
                (Call::Remove, Ret::Value(removed.map(|(_, v)| *v)))
            }
            7 => (Call::Contains, Ret::Present(handle.contains_key(&key))),
            _ => shared_operation(handle, a),
        }
    }
}

/// One recording thread's operation on tracked key `key` (an index into
/// [`KEYS`]), or a whole-map walk; pushes what it recorded to `out`.
fn one_operation<M: Recorded>(
    handle: &M::Handle<'_>,
    rng: &mut Rng,
    clock: &Clock,
    thread: u8,
    seen: &mut [Option<u64>; KEYS.len()],
    out: &mut Vec<(usize, Record)>,
) {
    let k = rng.below(KEYS.len() as u64) as usize;
    let key = KEYS[k];
    // Values: mostly below 2^44, some full words, either parity (`retain`,
    // `remove_if` and `compute` below decide by parity).
    let value = if rng.below(8) == 0 {
        rng.next_u64()
    } else {
        rng.next_u64() >> 20
    };
    let delta = rng.below(1000) + 1;
    let roll = rng.below(1000);

    // The whole-map walks, rarely: each records one step per tracked key.
    if roll < 6 {
        let called = clock.tick();
        // Per tracked key: what the walk recorded for it, with the tickets
        // of the `next` call that yielded it (`None`: not yielded).
        let mut steps = [(Ret::Unit, None); KEYS.len()];
        let call = match roll {
            0 => {
                handle.clear();
                Call::Clear
            }
            1 | 2 => {
                handle.retain(|_, v| v % 2 == 0);
                Call::RetainEven
            }
            _ => {
                // A yielded value is the key's at the moment the walk
                // reached it, within the `next` call that returned it; a
                // key not yielded was absent at some moment of the walk.
                steps = [(Ret::Value(None), None); KEYS.len()];
                let mut keys = HashSet::new();
                let mut walk = handle.iter();
                loop {
                    let before = clock.tick();
                    let Some((k, v)) = walk.next() else { break };
                    let after = clock.tick();
                    assert!(keys.insert(k), "an iteration yielded key {k} twice");
                    if let Some(i) = KEYS.iter().position(|&t| t == k) {
                        steps[i] = (Ret::Value(Some(v)), Some((before, after)));
                    }
                }
                Call::Iterate
            }
        };
        let returned = clock.tick();
        for (i, (ret, yielded)) in steps.into_iter().enumerate() {
            let (called, returned) = yielded.unwrap_or((called, returned));
            out.push((i, Record::new(thread, call, ret, called, returned)));
        }
        return;
    }

    // A compare_exchange against the value this thread saw last, so that
    // some succeed.
    let expected = seen[k].unwrap_or(value);
    let args = Args {
        key,
        value,
        delta,
        expected,
        roll,
        panics: rng.below(64) == 0,
    };
    let called = clock.tick();
    let (call, ret) = match catch_unwind(AssertUnwindSafe(|| M::operate(handle, args))) {
        Ok(done) => done,
        Err(payload) => {
            assert!(
                is_planned(&*payload),
                "{}",
                panic_message(&*payload).to_owned()
            );
            return;
        }
    };
    let returned = clock.tick();
    seen[k] = match ret {
        Ret::Value(v) => v.or(seen[k]),
        Ret::One(v) => Some(v),
        Ret::Exchange(Ok(_)) => Some(value),
        Ret::Exchange(Err(v)) => v,
        Ret::Computed(_, now) => now,
        Ret::Aborted(v) => Some(v),
        Ret::Try(Ok(v) | Err(v)) => Some(v),
        Ret::Present(_) | Ret::Unit => seen[k],
    };
    out.push((k, Record::new(thread, call, ret, called, returned)));
}

/// One of the per-key verbs both maps have, by `a.roll`.
fn shared_operation<H: Ops>(handle: &H, a: Args) -> (Call, Ret) {
    let Args {
        key,
        value,
        delta,
        expected,
        roll,
        ..
    } = a;
    match roll % 11 {
        0 | 1 => (Call::Get, Ret::Value(handle.get(&key))),
        2 | 3 => (Call::Insert(value), Ret::Value(handle.insert(key, value))),
        4 => (Call::Remove, Ret::Value(handle.remove(&key))),
        5 => (
            Call::GetOrInsert(value),
            Ret::One(handle.get_or_insert(key, value)),
        ),
        6 => (
            Call::Update(delta),
            Ret::Value(handle.update(&key, |v| {
                trip(&a);
                v.wrapping_add(delta)
            })),
        ),
        7 => (Call::Add(delta), Ret::One(handle.add(&key, delta))),
        8 => (
            Call::CompareExchange(expected, value),
            Ret::Exchange(handle.compare_exchange(&key, expected, value)),
        ),
        9 => (
            Call::RemoveIfOdd,
            Ret::Value(handle.remove_if(&key, |_, v| {
                trip(&a);
                v % 2 == 1
            })),
        ),
        _ if roll / 11 % 2 == 0 => {
            let step = |cur: Option<u64>| match cur {
                _ if a.panics => panic!("planned panic in a closure"),
                None => Operation::<u64, u64>::Insert(value),
                Some(v) if v % 2 == 1 => Operation::Remove,
                Some(v) => Operation::Insert(v.wrapping_add(delta)),
            };
            (
                Call::Compute {
                    init: value,
                    d: delta,
                },
                computed(handle.compute(key, step)),
            )
        }
        // `compute`'s other outcomes: a removal of an absent key, and an
        // abort.
        _ => {
            let step = |cur: Option<u64>| match cur {
                _ if a.panics => panic!("planned panic in a closure"),
                None => Operation::Remove,
                Some(v) if v % 3 == 0 => Operation::Abort(v),
                Some(v) => Operation::Insert(v ^ delta),
            };
            (
                Call::ComputeOrAbort { d: delta },
                computed(handle.compute(key, step)),
            )
        }
    }
}

/// `compute`'s outcome, as recorded.
fn computed(outcome: WordCompute<u64, u64>) -> Ret {
    match outcome {
        WordCompute::Inserted(v) => Ret::Computed(None, Some(v)),
        WordCompute::Updated { old, new } => Ret::Computed(Some(old), Some(new)),
        WordCompute::Removed(v) => Ret::Computed(Some(v), None),
        WordCompute::Absent => Ret::Computed(None, None),
        WordCompute::Aborted(v) => Ret::Aborted(v),
    }
}

/// Runs the recording threads and the churn thread on `map` (and a resize
/// helper thread, if `helper`), then checks each tracked key's history.
/// `churn` bounds how many keys the churn thread holds at once (weak
/// hashes get fewer: their probes are long).
fn record_and_check<M: Recorded>(map: M, seed: u64, churn: u64, helper: bool) {
    quiet_planned_panics();
    let clock = Clock::default();
    let finished = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let records: Mutex<Vec<(usize, Record)>> = Mutex::new(Vec::new());
    thread::scope(|s| {
        for t in 0..THREADS {
            let (map, clock, finished, records) = (&map, &clock, &finished, &records);
            s.spawn(move || {
                let _done = CountOnDrop(finished);
                let mut rng = Rng::new(seed ^ ((t as u64 + 1) * 0x51));
                let mut seen = [None; KEYS.len()];
                let mut out = Vec::with_capacity(OPS + OPS / 100);
                // Even threads pin per operation; odd ones hold a pin for
                // 32 operations (a `HashMap` handle; a `WordMap` pins
                // inside each call either way).
                let batch = if t % 2 == 0 { 1 } else { 32 };
                for _ in 0..OPS / batch {
                    let handle = map.pin();
                    for _ in 0..batch {
                        one_operation::<M>(&handle, &mut rng, clock, t as u8, &mut seen, &mut out);
                    }
                }
                records.lock().unwrap().extend(out);
            });
        }
        // The churn: fill a range of other keys, then empty it, with an
        // explicit reserve or shrink now and then, until the recording
        // threads are done. Each fill and emptying resizes the map.
        let (map, finished, stop) = (&map, &finished, &stop);
        if helper {
            s.spawn(move || map.resize_helper().run(stop));
        }
        s.spawn(move || {
            // Stops the helper when the churn ends, however it ends.
            let _stop = StopOnDrop(stop);
            let mut rng = Rng::new(seed ^ 0xC4_0124);
            // At least one round, however the threads are scheduled: the
            // resizes it makes are what the check needs.
            let mut round = 0u64;
            while round == 0 || finished.load(Ordering::Relaxed) < THREADS {
                let n = churn / 4 + rng.below(churn);
                let base = CHURN_BASE + (round % 64) * 2 * churn;
                let handle = map.pin();
                for i in 0..n {
                    handle.insert(base + i, i);
                }
                match rng.below(4) {
                    0 => map.reserve(rng.below(churn * 2) as usize),
                    1 => map.shrink_to_fit(),
                    _ => {}
                }
                for i in 0..n {
                    handle.remove(&(base + i));
                }
                drop(handle);
                if round % 3 == 0 {
                    map.shrink_to_fit();
                }
                round += 1;
            }
        });
    });

    let stats = map.stats();
    assert!(
        stats.resizes >= 2,
        "the churn resized the map {} times: the run checked no migration",
        stats.resizes
    );
    let records = records.into_inner().unwrap();
    // Every call not left out for a planned panic (one in 64 at most).
    assert!(records.len() >= THREADS * OPS / 2);
    for (k, key) in KEYS.iter().enumerate() {
        let history: Vec<Record> = records
            .iter()
            .filter(|(i, _)| *i == k)
            .map(|(_, r)| *r)
            .collect();
        if let Err(violation) = history::check(None, &history) {
            panic!(
                "{}: key {key:#x} (seed {seed:#x}, {} resizes): {violation}",
                M::NAME,
                stats.resizes
            );
        }
    }
}

fn per_key_operations_are_linearizable<M: Recorded>() {
    // The second run with a resize helper thread migrating beside the
    // writers (`ResizeHelper`).
    for (seed, helper) in [(0x11, false), (0x12, true)] {
        record_and_check(M::new(), seed, 2_000, helper);
    }
}

/// Weak hashes: tracked and churned keys share homes and tags, so writes
/// of different keys probe through one another's slots during migrations.
fn per_key_operations_are_linearizable_under_weak_hashes<M: Recorded<Hasher = ShapedHash>>() {
    for (seed, shape) in [(0x21, Shape::TagClash(8)), (0x22, Shape::Spread(16))] {
        record_and_check(M::with_hasher(ShapedHash(shape)), seed, 200, false);
    }
}

both_maps!(
    per_key_operations_are_linearizable,
    per_key_operations_are_linearizable_under_weak_hashes<ShapedHash>,
);

/// The checker itself: it accepts the orders a map may choose and rejects
/// what no order explains.
mod checker {
    use super::common::history::{check, Call, Record, Ret};

    fn rec(thread: u8, called: u64, returned: u64, call: Call, ret: Ret) -> Record {
        Record::new(thread, call, ret, called, returned)
    }

    #[test]
    fn a_read_after_a_finished_insert_must_see_it() {
        let h = [
            rec(0, 0, 1, Call::Insert(5), Ret::Value(None)),
            rec(1, 2, 3, Call::Get, Ret::Value(None)),
        ];
        let err = check(None, &h).unwrap_err();
        assert_eq!(err.at.call, Call::Get);
        assert!(err.to_string().contains("no linearization"));
    }

    #[test]
    fn an_overlapping_read_may_see_either_state() {
        for seen in [None, Some(5)] {
            let h = [
                rec(0, 0, 3, Call::Insert(5), Ret::Value(None)),
                rec(1, 1, 2, Call::Get, Ret::Value(seen)),
            ];
            check(None, &h).unwrap();
        }
    }

    #[test]
    fn reads_may_not_go_back_in_time() {
        // Two reads inside one long insert: once the first saw the new
        // value, a later read must too.
        let h = [
            rec(0, 0, 9, Call::Insert(5), Ret::Value(None)),
            rec(1, 1, 2, Call::Get, Ret::Value(Some(5))),
            rec(2, 3, 4, Call::Get, Ret::Value(None)),
        ];
        assert!(check(None, &h).is_err());
        let h = [
            rec(0, 0, 9, Call::Insert(5), Ret::Value(None)),
            rec(1, 1, 2, Call::Get, Ret::Value(None)),
            rec(2, 3, 4, Call::Get, Ret::Value(Some(5))),
        ];
        check(None, &h).unwrap();
    }

    #[test]
    fn two_adds_cannot_both_start_from_the_same_value() {
        // A lost update: both returned 1 + their delta from 1.
        let h = [
            rec(0, 0, 1, Call::Insert(1), Ret::Value(None)),
            rec(1, 2, 5, Call::Add(1), Ret::One(2)),
            rec(2, 3, 4, Call::Add(2), Ret::One(3)),
        ];
        assert!(check(None, &h).is_err());
        let h = [
            rec(0, 0, 1, Call::Insert(1), Ret::Value(None)),
            rec(1, 2, 5, Call::Add(1), Ret::One(4)),
            rec(2, 3, 4, Call::Add(2), Ret::One(3)),
        ];
        check(None, &h).unwrap();
    }

    #[test]
    fn an_exchange_must_find_the_value_it_replaced() {
        let h = [
            rec(0, 0, 1, Call::Insert(1), Ret::Value(None)),
            rec(0, 2, 3, Call::Insert(2), Ret::Value(Some(1))),
            rec(1, 4, 5, Call::CompareExchange(1, 3), Ret::Exchange(Ok(1))),
        ];
        assert!(check(None, &h).is_err());
    }

    #[test]
    fn walks_act_once_per_key_within_their_interval() {
        // A clear overlapping an insert may leave it or remove it; an
        // iteration overlapping both may see either.
        for after in [None, Some(7)] {
            let h = [
                rec(0, 0, 10, Call::Clear, Ret::Unit),
                rec(1, 1, 2, Call::Insert(7), Ret::Value(None)),
                rec(2, 11, 12, Call::Get, Ret::Value(after)),
            ];
            check(None, &h).unwrap();
        }
        // But a key inserted after the clear returned stays.
        let h = [
            rec(0, 0, 1, Call::Clear, Ret::Unit),
            rec(1, 2, 3, Call::Insert(7), Ret::Value(None)),
            rec(2, 4, 5, Call::Iterate, Ret::Value(None)),
        ];
        assert!(check(None, &h).is_err());
    }
}
