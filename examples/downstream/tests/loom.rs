//! loom models of the service's own invariants, as a user of lfmap writes
//! them: the maps are created with `new()` (the default, randomly seeded
//! hasher: lfmap makes it deterministic under `--cfg loom`), and nothing
//! about lfmap's internals is assumed. Run with
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!   cargo test --release -p lfmap-downstream --test loom
//! ```
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use lfmap_downstream::{Dedup, Hits, Sessions};
use loom::sync::Arc;
use loom::thread;

/// A loom model with a bounded number of preemptions (the default 2 keeps
/// these models to seconds; `LOOM_MAX_PREEMPTIONS` overrides it). Prints
/// how many executions loom explored (`--nocapture` shows it).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    builder.check(move || {
        counter.fetch_add(1, Relaxed);
        f();
    });
    eprintln!("explored {} executions", runs.load(Relaxed));
}

/// Two requests for one key race: both get the first answer computed, and
/// nothing is computed more than once per caller.
#[test]
fn dedup_one_answer_per_request() {
    model(|| {
        let dedup = Arc::new(Dedup::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2u64)
            .map(|t| {
                let (dedup, calls) = (dedup.clone(), calls.clone());
                thread::spawn(move || {
                    dedup.resolve(7, || {
                        calls.fetch_add(1, Relaxed);
                        100 + t
                    })
                })
            })
            .collect();
        let answers: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(answers[0], answers[1], "two answers for one request");
        assert!((1..=2).contains(&calls.load(Relaxed)));
        assert_eq!(dedup.len(), 1);
    });
}

/// Two threads count hits on two pages while a third takes one page's
/// count: no hit is lost or counted twice.
#[test]
fn hits_are_never_lost() {
    model(|| {
        let hits = Arc::new(Hits::default());
        let counters: Vec<_> = (0..2)
            .map(|_| {
                let hits = hits.clone();
                thread::spawn(move || {
                    hits.hit(1);
                    hits.hit(2);
                })
            })
            .collect();
        let taker = {
            let hits = hits.clone();
            thread::spawn(move || hits.take(1).unwrap_or(0))
        };
        counters.into_iter().for_each(|h| h.join().unwrap());
        let taken = taker.join().unwrap();
        assert_eq!(taken + hits.count(1), 2, "hits on page 1 lost or doubled");
        assert_eq!(hits.count(2), 2);
    });
}

/// Enough distinct pages from two threads that the counter table grows
/// (lfmap's tables start at 4 slots under loom): the resize migrates while
/// both threads count, and every count survives it.
#[test]
fn hits_survive_a_resize() {
    model(|| {
        let hits = Arc::new(Hits::default());
        let handles: Vec<_> = (0..2u64)
            .map(|t| {
                let hits = hits.clone();
                thread::spawn(move || {
                    for page in 0..3 {
                        hits.hit(t * 10 + page);
                    }
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
        for t in 0..2 {
            for page in 0..3 {
                assert_eq!(hits.count(t * 10 + page), 1);
            }
        }
        assert_eq!(hits.total(), 6);
    });
}

/// Two logins race for one session id: exactly one wins, and the loser is
/// told who holds it; logout by the wrong user does nothing.
#[test]
fn one_login_per_session() {
    model(|| {
        let sessions = Arc::new(Sessions::default());
        let handles: Vec<_> = (1..=2u64)
            .map(|user| {
                let sessions = sessions.clone();
                thread::spawn(move || sessions.login(42, user, 10))
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winner = match (results[0], results[1]) {
            (Ok(()), Err(held)) => {
                assert_eq!(held, 1);
                1
            }
            (Err(held), Ok(())) => {
                assert_eq!(held, 2);
                2
            }
            other => panic!("both or neither logged in: {other:?}"),
        };
        assert_eq!(sessions.user(42, 0), Some(winner));
        assert!(!sessions.logout(42, 3 - winner));
        assert!(sessions.logout(42, winner));
        assert!(sessions.is_empty());
    });
}

/// Expiry sweeps while a session is opened: the fresh session survives,
/// the expired ones are closed exactly once.
#[test]
fn expiry_keeps_fresh_sessions() {
    model(|| {
        let sessions = Arc::new(Sessions::default());
        sessions.login(1, 1, 5).unwrap();
        sessions.login(2, 2, 5).unwrap();
        let opener = {
            let sessions = sessions.clone();
            thread::spawn(move || sessions.login(3, 3, 50).unwrap())
        };
        let sweeper = {
            let sessions = sessions.clone();
            thread::spawn(move || sessions.expire(10))
        };
        opener.join().unwrap();
        assert_eq!(sweeper.join().unwrap(), 2);
        assert_eq!(sessions.user(3, 10), Some(3));
        assert_eq!(sessions.len(), 1);
    });
}

/// A bug in the user's code (check-then-act: `get`, then `insert`) is
/// caught, and reported as the user's own assertion: while the threads
/// unwind, lfmap's destructors stand aside instead of panicking again
/// (which would abort the whole test binary).
#[test]
#[should_panic(expected = "two answers for one request")]
fn a_racy_resolve_is_caught() {
    model(|| {
        let answers = Arc::new(lfmap::HashMap::<u64, u64>::new());
        let handles: Vec<_> = (0..2u64)
            .map(|t| {
                let answers = answers.clone();
                thread::spawn(move || {
                    let m = answers.pin();
                    match m.get(&7) {
                        Some(v) => *v,
                        None => {
                            m.insert(7, 100 + t);
                            100 + t
                        }
                    }
                })
            })
            .collect();
        let got: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(got[0], got[1], "two answers for one request");
    });
}

/// The same for a `WordMap` counter built as load-then-store, with the
/// failing check inside a spawned thread that holds a pin (an iterator)
/// while it unwinds.
#[test]
#[should_panic(expected = "lost a hit")]
fn a_racy_counter_is_caught() {
    model(|| {
        let counts = Arc::new(lfmap::WordMap::<u64, u64>::new());
        let bump = |counts: &lfmap::WordMap<u64, u64>| {
            let n = counts.get(&1).unwrap_or(0);
            counts.insert(1, n + 1);
        };
        let other = {
            let counts = counts.clone();
            thread::spawn(move || bump(&counts))
        };
        bump(&counts);
        other.join().unwrap();
        let checker = {
            let counts = counts.clone();
            thread::spawn(move || {
                for (_, n) in counts.iter() {
                    assert_eq!(n, 2, "lost a hit");
                }
            })
        };
        if let Err(e) = checker.join() {
            std::panic::resume_unwind(e);
        }
    });
}

/// A service that gives migration a thread of its own
/// (`ResizeHelper::run`) while a writer grows the map, and stops it when
/// the writer is done: every key is there, and the helper returns. (Before,
/// `run`'s idle path slept and read a clock, which are no steps of a loom
/// model: the helper only looked again and again, and every such model hit
/// loom's branch limit; found by an outside user's model.)
#[test]
fn a_resize_helper_thread_stops() {
    model(|| {
        let counts = Arc::new(lfmap::WordMap::<u64, u64>::new());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let helper = {
            let (counts, stop) = (counts.clone(), stop.clone());
            thread::spawn(move || counts.resize_helper().run(&stop))
        };
        for k in 0..4 {
            counts.insert(k, k);
        }
        stop.store(true, std::sync::atomic::Ordering::Release);
        helper.join().unwrap();
        for k in 0..4 {
            assert_eq!(counts.get(&k), Some(k));
        }
        // Not checked: that the helper finished the growth after `stop`.
        // `stop` is a std atomic, which loom does not see as
        // synchronisation, so in some executions the helper's loads do not
        // yet see the table the writer installed (docs/testing-with-lfmap.md).
        assert!(counts.stats().resizes >= 1);
    });
}

/// A map kept from one model into the next (here in a `LazyLock`; a
/// `static` map must be a `loom::lazy_static!`, made anew in each
/// execution) is refused with lfmap's own message: loom's atomics live for
/// one execution. Before, such a `WordMap` read another execution's
/// objects as its table pointer and segfaulted (found by an outside
/// user's model).
#[test]
#[should_panic(expected = "a map used outside the loom execution that created it")]
fn a_map_kept_across_models_is_refused() {
    static KEPT: std::sync::LazyLock<lfmap::WordMap<u64, u64>> =
        std::sync::LazyLock::new(lfmap::WordMap::new);
    loom::model(|| {
        KEPT.insert(1, 1);
    });
    loom::model(|| {
        let _ = KEPT.get(&1);
    });
}

/// The same where the later model makes maps of its own first, so that the
/// kept map's atomics name theirs: the kept map must not pass for one of
/// them (a canary of one value for every map let it, and the kept map then
/// read and wrote the new map's table; found by review).
#[test]
#[should_panic(expected = "a map used outside the loom execution that created it")]
fn a_map_kept_across_models_is_refused_beside_other_maps() {
    static KEPT: std::sync::LazyLock<lfmap::WordMap<u64, u64>> =
        std::sync::LazyLock::new(lfmap::WordMap::new);
    loom::model(|| {
        let _first = lfmap::WordMap::<u64, u64>::new();
        KEPT.insert(2, 2);
    });
    loom::model(|| {
        let _first = lfmap::WordMap::<u64, u64>::new();
        let second = lfmap::WordMap::<u64, u64>::new();
        second.insert(3, 3);
        assert_eq!(KEPT.get(&3), None, "the kept map read another map's table");
    });
}

/// The models [`loom_stopping_a_model_anywhere_is_reported`] stops, by
/// name: each grows a map through several resizes and drops it.
fn stoppable_model(name: &str) {
    match name {
        "wordmap" => loom::model(|| {
            let counts = lfmap::WordMap::<u64, u64>::new();
            for k in 0..33 {
                counts.insert(k, k);
            }
            assert_eq!(counts.len(), 33);
        }),
        "hashmap" => loom::model(|| {
            let sessions = lfmap::HashMap::<u64, u64>::new();
            let m = sessions.pin();
            for k in 0..12 {
                m.insert(k, k);
            }
            assert_eq!(m.len(), 12);
        }),
        _ => unreachable!("no model {name}"),
    }
}

/// The child process of [`loom_stopping_a_model_anywhere_is_reported`]:
/// runs the model its parent names, under the parent's
/// `LOOM_MAX_BRANCHES`.
#[test]
#[ignore = "a child process of loom_stopping_a_model_anywhere_is_reported"]
fn stoppable_model_child() {
    // Run alone (`--include-ignored`): nothing to do.
    if let Ok(name) = std::env::var("LFMAP_STOPPABLE_MODEL") {
        stoppable_model(&name);
    }
}

/// loom stops an execution that exceeds its branch limit with a panic, at
/// whatever step the limit falls on; here it falls on each of the last
/// steps of a model in turn, the map's drop among them (one child process
/// per limit). Each stop must be reported as a failed test, never abort
/// the binary: found by an outside user's model, where the limit struck
/// inside the drop of a map and the table being dropped was freed twice
/// ("double free or corruption", SIGABRT).
#[test]
fn loom_stopping_a_model_anywhere_is_reported() {
    use std::process::Command;
    let run = |name: &str, max_branches: usize| {
        let mut child = Command::new(std::env::current_exe().unwrap());
        // loom's settings of this run (a checkpoint file, a log, bounds)
        // are not the child's: it gets only its branch limit.
        for (var, _) in std::env::vars_os() {
            if var.to_string_lossy().starts_with("LOOM_") {
                child.env_remove(var);
            }
        }
        let status = child
            .args([
                "--exact",
                "stoppable_model_child",
                "--ignored",
                "--test-threads=1",
            ])
            .env("LFMAP_STOPPABLE_MODEL", name)
            .env("LOOM_MAX_BRANCHES", max_branches.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        // 0: finished; 101: a failed test (loom's panic). Anything else
        // (a signal: the abort of a double free or a double panic) is a
        // stop that was not reported.
        assert!(
            matches!(status.code(), Some(0 | 101)),
            "model {name} under {max_branches} branches ended with {status}"
        );
        status.success()
    };
    for name in ["wordmap", "hashmap"] {
        // The least limit the model finishes under: its length, found by
        // bisection (the model is one thread, so one execution).
        let (mut lo, mut hi) = (1, 1 << 16);
        assert!(run(name, hi), "model {name} does not finish");
        while lo < hi {
            let mid = (lo + hi) / 2;
            if run(name, mid) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        // Its last steps are the map's drop.
        for max_branches in hi.saturating_sub(120).max(1)..hi {
            assert!(!run(name, max_branches));
        }
        eprintln!("{name}: {hi} branches, the last 120 stopped in turn");
    }
}
