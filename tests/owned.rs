//! Owned pins: `Send` handles that cross threads and `.await` points.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lfmap::HashMap;

fn assert_send<T: Send>(_: &T) {}

/// A value that records its drop.
struct Named(&'static str, Arc<AtomicBool>);

impl Drop for Named {
    fn drop(&mut self) {
        self.1.store(true, Ordering::SeqCst);
    }
}

/// Pins and unpins `map` from this thread for a while (about 50 ms, with
/// sleeps for the paced epoch bumps), which frees whatever no pin holds.
fn drive_reclamation<K, V>(map: &HashMap<K, V>) {
    for _ in 0..50 {
        for _ in 0..128 {
            drop(map.pin());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn owned_handle_is_send_and_outlives_moves() {
    let map = HashMap::new();
    let dropped = Arc::new(AtomicBool::new(false));
    let m = map.pin_owned();
    assert_send(&m);
    m.insert(1u64, Named("one", dropped.clone()));
    let v = m.get(&1).unwrap();
    // Another thread removes the entry while our owned pin holds it, hands
    // its garbage over, and drives reclamation: nothing but the owned pin
    // keeps the value.
    std::thread::scope(|s| {
        s.spawn(|| {
            let r = map.pin();
            assert_eq!(r.remove(&1).map(|v| v.0), Some("one"));
            r.flush();
            drop(r);
            drive_reclamation(&map);
        });
    });
    assert!(!dropped.load(Ordering::SeqCst), "freed under an owned pin");
    assert_eq!(v.0, "one", "the removed value stays valid while pinned");
    // The handle itself moves to another thread and keeps working there,
    // and its drop there lets the value go.
    std::thread::scope(|s| {
        s.spawn(move || {
            m.insert(2, Named("two", Arc::default()));
            assert_eq!(m.get(&2).map(|v| v.0), Some("two"));
        });
    });
    assert_eq!(map.len(), 1);
    let mut freed = false;
    for _ in 0..20 {
        drive_reclamation(&map);
        if dropped.load(Ordering::SeqCst) {
            freed = true;
            break;
        }
    }
    assert!(freed, "never freed once the owned pin was gone");
}

#[test]
fn owned_handle_crosses_await_while_another_task_writes() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let map = Arc::new(HashMap::with_capacity(0));
        for k in 0..64u64 {
            map.pin().insert(k, k);
        }
        // A writer task grows the map (several resizes) and churns the keys
        // the readers hold, while readers hold owned pins across awaits.
        let writer = {
            let map = map.clone();
            tokio::spawn(async move {
                for round in 0..20u64 {
                    {
                        let m = map.pin_owned();
                        for k in 0..64u64 {
                            m.insert(k, k + 1_000 * (round + 1));
                        }
                        for k in 0..2_000u64 {
                            m.insert(10_000 + round * 2_000 + k, k);
                        }
                    }
                    tokio::task::yield_now().await;
                }
            })
        };
        let mut readers = Vec::new();
        for r in 0..8u64 {
            let map = map.clone();
            readers.push(tokio::spawn(async move {
                let mut threads = std::collections::HashSet::new();
                for _ in 0..20 {
                    let m = map.pin_owned();
                    let held: Vec<(u64, &u64)> =
                        (0..64u64).map(|k| (k, m.get(&k).unwrap())).collect();
                    threads.insert(std::thread::current().id());
                    tokio::time::sleep(Duration::from_micros(200 + r * 50)).await;
                    threads.insert(std::thread::current().id());
                    // Values read before the await are still intact after it.
                    for (k, v) in held {
                        assert_eq!(*v % 1_000, k, "value for {k} corrupted across .await");
                    }
                }
                threads.len()
            }));
        }
        writer.await.unwrap();
        let mut moved = 0;
        for reader in readers {
            moved += usize::from(reader.await.unwrap() > 1);
        }
        assert!(map.stats().resizes > 0);
        // Not asserted (scheduling decides), but reported: tasks did migrate.
        eprintln!("{moved} of 8 reader tasks resumed on another worker thread");
    });
}

fn stable_keys(map: &HashMap<u64, u64>) -> impl Iterator<Item = (u64, u64)> + Send + '_ {
    // The handle (and its pin) moves into the iterator, which we return.
    map.pin_owned().into_iter().filter(|(k, _)| *k < 1_000)
}

#[test]
fn owned_iterator_outlives_the_call_that_pinned_and_crosses_threads() {
    let map = HashMap::with_capacity(0);
    for k in 0..1_000u64 {
        map.pin().insert(k, k * 2);
    }
    let iter = stable_keys(&map);
    std::thread::scope(|s| {
        // A writer grows the map (several resizes) and churns other keys
        // while the returned iterator runs on a third thread.
        s.spawn(|| {
            let m = map.pin();
            for k in 1_000..100_000u64 {
                m.insert(k, k);
                if k % 3 == 0 {
                    m.remove(&(k - 1));
                }
            }
        });
        let reader = s.spawn(move || {
            let mut seen: Vec<(u64, u64)> = iter.collect();
            seen.sort_unstable();
            seen
        });
        let seen = reader.join().unwrap();
        assert_eq!(seen, (0..1_000u64).map(|k| (k, k * 2)).collect::<Vec<_>>());
    });
    assert!(map.stats().resizes > 0);
}

/// Handles kept in thread-locals, under each backend: a `pin_owned` handle
/// may be held there past the thread's end; so may a `pin` handle whose
/// thread-local was set up after the thread's first pin; and a `pin`
/// handle leaked with `mem::forget`, or on the stack of a thread that
/// calls `process::exit`, is never dropped and harms nothing. With
/// `seize`, a `pin` handle held in a thread-local set up *before* the
/// thread's first pin is dropped after seize gave the thread's id back
/// (the feature's documented rule): the process aborts with a message
/// instead of racing the id's next thread for seize's state. Each case runs
/// in a child process, the test binary itself (`held_handle_child`).
#[test]
fn handles_held_in_thread_locals_past_the_threads_end() {
    let run = |mode: &str| {
        std::process::Command::new(std::env::current_exe().expect("the test binary"))
            .args(["--ignored", "--exact", "held_handle_child", "--nocapture"])
            .env("LFMAP_HELD_HANDLE", mode)
            // Under LeakSanitizer (CI's ASan step): the child's static map
            // is never dropped, and its slots' tagged pointers hide its
            // entries from the leak scan, which would fail the child.
            .env(
                "ASAN_OPTIONS",
                format!(
                    "{}:detect_leaks=0",
                    std::env::var("ASAN_OPTIONS").unwrap_or_default()
                ),
            )
            .output()
            .expect("the child ran")
    };
    for mode in ["owned", "after_first_pin", "forgotten", "exit_holding_one"] {
        let out = run(mode);
        assert!(
            out.status.success(),
            "{mode}: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = run("before_first_pin");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if cfg!(all(feature = "seize", not(feature = "crossbeam-epoch"))) {
        assert!(!out.status.success(), "the rule broken went unnoticed");
        assert!(
            stderr.contains("used or dropped after its thread gave"),
            "no message: {stderr}"
        );
    } else {
        // The other backends keep no per-thread id that a thread's end
        // gives away: the handle is simply dropped last.
        assert!(out.status.success(), "{:?}\n{stderr}", out.status);
    }
}

/// The child process of `handles_held_in_thread_locals_past_the_threads_end`
/// (`LFMAP_HELD_HANDLE` names the case): a thread keeps a handle of a
/// static map in a thread-local and exits.
#[test]
#[ignore = "a child process of handles_held_in_thread_locals_past_the_threads_end"]
fn held_handle_child() {
    use std::cell::RefCell;
    use std::sync::LazyLock;
    static MAP: LazyLock<HashMap<u64, u64>> = LazyLock::new(HashMap::new);
    thread_local! {
        static HELD: RefCell<Option<lfmap::HashMapRef<'static, u64, u64>>> =
            const { RefCell::new(None) };
        static HELD_OWNED: RefCell<Option<lfmap::HashMapRef<'static, u64, u64, lfmap::DefaultHashBuilder, lfmap::OwnedGuard<'static>>>> =
            const { RefCell::new(None) };
    }
    let mode = std::env::var("LFMAP_HELD_HANDLE").expect("run by the parent test");
    std::thread::spawn(move || match mode.as_str() {
        "owned" => HELD_OWNED.with(|h| {
            let m = MAP.pin_owned();
            m.insert(1, 1);
            *h.borrow_mut() = Some(m);
        }),
        "after_first_pin" => {
            MAP.pin().insert(2, 2);
            HELD.with(|h| *h.borrow_mut() = Some(MAP.pin()));
        }
        // Never dropped: no abort, whatever the backend.
        "forgotten" => {
            MAP.pin().insert(4, 4);
            std::mem::forget(MAP.pin());
        }
        // `exit` runs this thread's thread-local destructors, with the
        // handle still on its stack: no abort either.
        "exit_holding_one" => {
            let m = MAP.pin();
            m.insert(5, 5);
            std::process::exit(0);
        }
        "before_first_pin" => HELD.with(|h| {
            let m = MAP.pin();
            m.insert(3, 3);
            *h.borrow_mut() = Some(m);
        }),
        other => panic!("unknown case {other}"),
    })
    .join()
    .expect("the thread ended");
    assert_eq!(MAP.len(), 1);
}
