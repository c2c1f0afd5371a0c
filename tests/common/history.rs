//! A linearizability checker for one key's history, recorded from real
//! threads.
//!
//! Each operation a test thread runs on a key is recorded with two
//! tickets from one shared counter ([`Clock`]): one taken before the call,
//! one after it returns. If operation A's return ticket is below operation
//! B's call ticket, A returned before B was called (the counter's
//! read-modify-writes are totally ordered and each synchronizes with the
//! next), so A happens before B and the map must order A first; operations
//! whose tickets overlap may take effect in either order.
//!
//! Per key, a map's operations form a register with a few more verbs
//! ([`Call`]). A map is linearizable iff each key's history is (the keys
//! are independent objects, and linearizability is local: Herlihy and
//! Wing). [`check`] decides one key's history with Lowe's just-in-time
//! search: it walks the history's events in ticket order and keeps every
//! *configuration* the operations so far could have produced, a model
//! state plus which of the calls still running have taken effect. At a
//! call's return, each configuration that has not yet applied it must be
//! able to, possibly after other running calls, with every applied call's
//! recorded result matching the model. A return no configuration can
//! explain is a violation: the history has no linearization. The
//! configurations stay few (a value per state, a bit per running thread),
//! so the check is linear in the history's length.
//!
//! The whole-map walks count per key as what they promise per key
//! (`src/iter.rs`, "Guarantee"), recorded by the caller with the interval
//! in which it holds: an iteration reads a key it yields within the `next`
//! call that yields it, and a key it does not yield was absent at some
//! moment of the walk ([`Call::Iterate`] either way); `clear` removes each
//! key at some moment during it; `retain` judges each key once, at some
//! moment, and removes it if the predicate says so.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// The tickets that order calls and returns across threads.
#[derive(Default)]
pub struct Clock(AtomicU64);

impl Clock {
    /// The next ticket. `SeqCst` read-modify-writes on one location: a
    /// ticket taken after another in the counter's order is ordered after
    /// everything its taker did before taking it.
    pub fn tick(&self) -> u64 {
        self.0.fetch_add(1, Ordering::SeqCst)
    }
}

/// What a recorded operation asked of one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    /// `get`; returns [`Ret::Value`].
    Get,
    /// `insert(v)`; returns the previous value.
    Insert(u64),
    /// `remove`; returns the previous value.
    Remove,
    /// `get_or_insert(v)`; returns [`Ret::One`], the value now there.
    GetOrInsert(u64),
    /// `update(|v| v + d)`; returns the new value, `None` if absent.
    Update(u64),
    /// `add(d)` (from 0 when absent); returns [`Ret::One`], the sum.
    Add(u64),
    /// `compare_exchange(current, new)`; returns [`Ret::Exchange`].
    CompareExchange(u64, u64),
    /// `try_insert(v)` (or `try_insert_with`); returns [`Ret::Try`].
    TryInsert(u64),
    /// `update_or_insert(|v| v + d, init)`; returns [`Ret::One`], the
    /// value now there.
    UpdateOrInsert { init: u64, d: u64 },
    /// `contains_key`; returns [`Ret::Present`].
    Contains,
    /// `remove_if(|_, v| v is odd)`; returns the value removed.
    RemoveIfOdd,
    /// `compute`: insert `init` if absent, remove an odd value, add `d` to
    /// an even one; returns [`Ret::Computed`].
    Compute { init: u64, d: u64 },
    /// `compute`: remove if absent (nothing to do), abort with a value
    /// divisible by 3, xor `d` into any other; returns [`Ret::Computed`] or
    /// [`Ret::Aborted`].
    ComputeOrAbort { d: u64 },
    /// One step of `clear` (every key goes at some moment of it).
    Clear,
    /// One step of `retain(|_, v| v is even)`.
    RetainEven,
    /// One key's share of an iteration: [`Ret::Value`], the value yielded
    /// (recorded around the `next` call that yielded it) or `None` when
    /// the key was not yielded (recorded around the whole walk).
    Iterate,
}

/// What a recorded operation returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// A value or its absence.
    Value(Option<u64>),
    /// One value.
    One(u64),
    /// `compare_exchange`'s result.
    Exchange(Result<u64, Option<u64>>),
    /// `try_insert`'s: `Ok` with the value inserted, or `Err` with the
    /// value found.
    Try(Result<u64, u64>),
    /// Whether the key was present.
    Present(bool),
    /// `compute`'s outcome as (value before, value after).
    Computed(Option<u64>, Option<u64>),
    /// `compute` aborted, with the value its closure saw.
    Aborted(u64),
    /// Nothing observable (`clear`, `retain`).
    Unit,
}

/// One operation on one key.
#[derive(Clone, Copy, Debug)]
pub struct Record {
    /// The recording thread, below 64.
    pub thread: u8,
    pub call: Call,
    pub ret: Ret,
    /// Ticket taken just before the call.
    pub called: u64,
    /// Ticket taken just after the return.
    pub returned: u64,
}

impl Record {
    /// `thread`'s `call`, which returned `ret`, between tickets `called`
    /// and `returned`.
    pub fn new(thread: u8, call: Call, ret: Ret, called: u64, returned: u64) -> Record {
        Record {
            thread,
            call,
            ret,
            called,
            returned,
        }
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:>8} .. {:>8}] thread {}: {:?} -> {:?}",
            self.called, self.returned, self.thread, self.call, self.ret
        )
    }
}

/// The state of one key in the model: its value, or absent.
pub type State = Option<u64>;

/// Applies `call` to `state`: the state after it, if `ret` is what the
/// call returns from `state` (else `None`: the call cannot take effect
/// there).
pub fn step(state: State, call: Call, ret: Ret) -> Option<State> {
    let odd = |v: u64| v % 2 == 1;
    let (expected, next) = match call {
        Call::Get | Call::Iterate => (Ret::Value(state), state),
        Call::Insert(v) => (Ret::Value(state), Some(v)),
        Call::Remove => (Ret::Value(state), None),
        Call::GetOrInsert(v) => {
            let now = state.unwrap_or(v);
            (Ret::One(now), Some(now))
        }
        Call::Update(d) => {
            let next = state.map(|v| v.wrapping_add(d));
            (Ret::Value(next), next)
        }
        Call::Add(d) => {
            let sum = state.unwrap_or(0).wrapping_add(d);
            (Ret::One(sum), Some(sum))
        }
        Call::CompareExchange(current, new) => {
            if state == Some(current) {
                (Ret::Exchange(Ok(current)), Some(new))
            } else {
                (Ret::Exchange(Err(state)), state)
            }
        }
        Call::TryInsert(v) => match state {
            None => (Ret::Try(Ok(v)), Some(v)),
            Some(found) => (Ret::Try(Err(found)), state),
        },
        Call::UpdateOrInsert { init, d } => {
            let now = state.map_or(init, |v| v.wrapping_add(d));
            (Ret::One(now), Some(now))
        }
        Call::Contains => (Ret::Present(state.is_some()), state),
        Call::RemoveIfOdd => match state {
            Some(v) if odd(v) => (Ret::Value(Some(v)), None),
            _ => (Ret::Value(None), state),
        },
        Call::Compute { init, d } => {
            let next = match state {
                None => Some(init),
                Some(v) if odd(v) => None,
                Some(v) => Some(v.wrapping_add(d)),
            };
            (Ret::Computed(state, next), next)
        }
        Call::ComputeOrAbort { d } => match state {
            None => (Ret::Computed(None, None), None),
            Some(v) if v % 3 == 0 => (Ret::Aborted(v), state),
            Some(v) => (Ret::Computed(state, Some(v ^ d)), Some(v ^ d)),
        },
        Call::Clear => (Ret::Unit, None),
        Call::RetainEven => match state {
            Some(v) if odd(v) => (Ret::Unit, None),
            _ => (Ret::Unit, state),
        },
    };
    (expected == ret).then_some(next)
}

/// A history with no linearization: the return no configuration explains,
/// and what led to it.
#[derive(Debug)]
pub struct Violation {
    /// The record whose return could not be explained.
    pub at: Record,
    /// The eight records that returned last before the violation's call,
    /// and every record that overlaps it, in call order.
    pub context: Vec<Record>,
    /// The states the model could be in just before the return, with the
    /// running calls not yet applied in each.
    pub states: Vec<State>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "no linearization explains the return of")?;
        writeln!(f, "  {}", self.at)?;
        writeln!(
            f,
            "the key's possible states just before it: {:?}",
            self.states
        )?;
        writeln!(f, "the key's history around it, in call order:")?;
        for r in &self.context {
            writeln!(f, "  {r}")?;
        }
        Ok(())
    }
}

/// Checks one key's history, which starts from `initial`. Records may come
/// in any order; tickets must be distinct, and each thread's calls must
/// not overlap (one operation at a time per thread).
pub fn check(initial: State, records: &[Record]) -> Result<(), Box<Violation>> {
    // Events in ticket order: (ticket, index of the record, is a return).
    let mut events: Vec<(u64, usize, bool)> = Vec::with_capacity(records.len() * 2);
    for (i, r) in records.iter().enumerate() {
        assert!(r.thread < 64, "thread {} out of range", r.thread);
        assert!(r.called < r.returned, "record {r} returns before its call");
        events.push((r.called, i, false));
        events.push((r.returned, i, true));
    }
    events.sort_unstable_by_key(|e| e.0);

    // The record each thread is running, if any.
    let mut running: [Option<usize>; 64] = [None; 64];
    // Configurations: a state, and the running threads whose calls it has
    // applied.
    let mut configs: HashSet<(State, u64)> = HashSet::from([(initial, 0)]);
    for &(_, i, is_return) in &events {
        let thread = records[i].thread as usize;
        if !is_return {
            assert!(
                running[thread].is_none(),
                "thread {thread} calls while its call is running"
            );
            running[thread] = Some(i);
            continue;
        }
        let bit = 1u64 << thread;
        let mut out: HashSet<(State, u64)> = HashSet::new();
        let mut seen: HashSet<(State, u64)> = configs.clone();
        let mut stack: Vec<(State, u64)> = configs.iter().copied().collect();
        while let Some((state, applied)) = stack.pop() {
            if applied & bit != 0 {
                out.insert((state, applied & !bit));
                continue;
            }
            for (t, slot) in running.iter().enumerate() {
                let Some(j) = *slot else { continue };
                if applied & (1 << t) != 0 {
                    continue;
                }
                let r = &records[j];
                if let Some(next) = step(state, r.call, r.ret) {
                    let config = (next, applied | 1 << t);
                    if seen.insert(config) {
                        stack.push(config);
                    }
                }
            }
        }
        if out.is_empty() {
            return Err(Box::new(violation(records, i, &configs)));
        }
        running[thread] = None;
        configs = out;
    }
    Ok(())
}

fn violation(records: &[Record], at: usize, configs: &HashSet<(State, u64)>) -> Violation {
    let target = records[at];
    // The eight calls that returned last before the target's call, and
    // every call that overlaps it, in call order.
    let mut before: Vec<Record> = records
        .iter()
        .filter(|r| r.returned < target.called)
        .copied()
        .collect();
    before.sort_unstable_by_key(|r| r.returned);
    let mut context: Vec<Record> = before.split_off(before.len().saturating_sub(8));
    context.extend(
        records
            .iter()
            .filter(|r| r.returned >= target.called && r.called <= target.returned),
    );
    context.sort_unstable_by_key(|r| r.called);
    let mut states: Vec<State> = configs.iter().map(|c| c.0).collect();
    states.sort_unstable();
    states.dedup();
    Violation {
        at: target,
        context,
        states,
    }
}
