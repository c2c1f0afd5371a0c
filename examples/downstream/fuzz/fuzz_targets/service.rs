//! Fuzzes the downstream service against a single-threaded model, as a
//! user of lfmap would: every result is compared with what
//! `std::collections::HashMap` says. Runs under AddressSanitizer and
//! LeakSanitizer (cargo-fuzz's default) with no suppressions.
//!
//! Input: 3-byte operations `[op, key, value]`.
#![no_main]

use std::collections::HashMap as Model;

use lfmap_downstream::{Dedup, Hits, Session, Sessions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (dedup, hits, sessions) = (Dedup::default(), Hits::default(), Sessions::default());
    let mut answers: Model<u64, u64> = Model::new();
    let mut counts: Model<u64, u64> = Model::new();
    let mut open: Model<u64, Session> = Model::new();
    for op in data.chunks_exact(3) {
        let (key, value) = (u64::from(op[1] % 24), u64::from(op[2]));
        match op[0] % 8 {
            0 => {
                let want = *answers.entry(key).or_insert(value);
                let mut calls = 0;
                let got = dedup.resolve(key, || {
                    calls += 1;
                    value
                });
                assert_eq!(got, want);
                assert!(calls <= 1, "the answer was computed {calls} times");
            }
            1 => assert_eq!(dedup.forget(key), answers.remove(&key)),
            2 => {
                let n = counts.entry(key).or_insert(0);
                *n += 1;
                assert_eq!(hits.hit(key), *n);
            }
            3 => {
                // Single-threaded, nothing races the take.
                let want = counts.get_mut(&key).map(std::mem::take);
                assert_eq!(hits.take(key), want);
            }
            4 => {
                let (user, expires) = (value % 4, value % 16);
                let got = sessions.login(key, user, expires);
                match open.get(&key) {
                    Some(s) => assert_eq!(got, Err(s.user)),
                    None => {
                        assert_eq!(got, Ok(()));
                        open.insert(key, Session { user, expires });
                    }
                }
            }
            5 => {
                let user = value % 4;
                let want = open.get(&key).is_some_and(|s| s.user == user);
                if want {
                    open.remove(&key);
                }
                assert_eq!(sessions.logout(key, user), want);
            }
            6 => {
                let now = value % 16;
                let before = open.len();
                open.retain(|_, s| s.expires > now);
                assert_eq!(sessions.expire(now), before - open.len());
            }
            _ => {
                let now = value % 16;
                let want = open.get(&key).filter(|s| s.expires > now).map(|s| s.user);
                assert_eq!(sessions.user(key, now), want);
            }
        }
    }
    assert_eq!(dedup.len(), answers.len());
    assert_eq!(sessions.len(), open.len());
    assert_eq!(hits.total(), counts.values().sum::<u64>());
});
