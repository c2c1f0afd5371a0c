//! A small service built on lfmap, the way a user builds one: a request
//! de-duplicating cache, per-page hit counters and a session store, each
//! shared by every request-handling thread.
//!
//! It exists to be tested the way users test such code: `tests/loom.rs`
//! model-checks its invariants with loom (using the maps' default hashers,
//! unchanged), and `fuzz/` drives it with cargo-fuzz under
//! AddressSanitizer. `docs/testing-with-lfmap.md` in the lfmap repository
//! walks through both; CI runs both, so the guide stays true.

use lfmap::{HashMap, WordMap};

/// Answers each request once: concurrent requests for the same key share
/// the first answer computed.
#[derive(Default)]
pub struct Dedup {
    answers: HashMap<u64, u64>,
}

impl Dedup {
    /// The answer for `request`, computing it with `compute` if no answer
    /// exists yet. Every caller for one request gets the same answer.
    pub fn resolve(&self, request: u64, compute: impl FnOnce() -> u64) -> u64 {
        *self.answers.pin().get_or_insert_with(request, compute)
    }

    /// Forgets an answer (for example when it expires).
    pub fn forget(&self, request: u64) -> Option<u64> {
        self.answers.pin().remove(&request).copied()
    }

    /// Number of answers held.
    pub fn len(&self) -> usize {
        self.answers.len()
    }

    /// Whether no answer is held.
    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }
}

/// Hit counters per page.
#[derive(Default)]
pub struct Hits {
    counts: WordMap<u64, u64>,
}

impl Hits {
    /// Counts one hit on `page`; returns the page's count after it.
    pub fn hit(&self, page: u64) -> u64 {
        self.counts.add(&page, 1)
    }

    /// The count of `page`.
    pub fn count(&self, page: u64) -> u64 {
        self.counts.get(&page).unwrap_or(0)
    }

    /// Takes `page`'s count and resets it to 0, unless another thread
    /// counted a hit in between (then returns `None`: try again).
    pub fn take(&self, page: u64) -> Option<u64> {
        let seen = self.counts.get(&page)?;
        self.counts.compare_exchange(&page, seen, 0).ok()
    }

    /// The total over all pages (weakly consistent under concurrent hits).
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }
}

/// A logged-in session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Who logged in.
    pub user: u64,
    /// When the session expires (in the service's clock).
    pub expires: u64,
}

/// Sessions by id.
#[derive(Default)]
pub struct Sessions {
    by_id: HashMap<u64, Session>,
}

impl Sessions {
    /// Opens session `id` for `user`; fails if the id is taken.
    pub fn login(&self, id: u64, user: u64, expires: u64) -> Result<(), u64> {
        self.by_id
            .pin()
            .try_insert(id, Session { user, expires })
            .map(|_| ())
            .map_err(|e| e.current.user)
    }

    /// The user of session `id`, if it is open at time `now`.
    pub fn user(&self, id: u64, now: u64) -> Option<u64> {
        let m = self.by_id.pin();
        m.get(&id).filter(|s| s.expires > now).map(|s| s.user)
    }

    /// Closes session `id` if `user` owns it.
    pub fn logout(&self, id: u64, user: u64) -> bool {
        self.by_id
            .pin()
            .remove_if(&id, |_, s| s.user == user)
            .is_some()
    }

    /// Closes every session expired at `now`; returns how many it closed.
    /// A session renewed concurrently is judged on its new expiry.
    pub fn expire(&self, now: u64) -> usize {
        let m = self.by_id.pin();
        let mut closed = 0;
        for (id, _) in m.iter() {
            if m.remove_if(id, |_, s| s.expires <= now).is_some() {
                closed += 1;
            }
        }
        closed
    }

    /// Number of open (or not yet expired-and-swept) sessions.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there is no session.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}
