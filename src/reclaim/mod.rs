//! Memory reclamation: when may a removed entry or a retired table be freed?
//!
//! A thread that unlinks an object from the map cannot free it at once:
//! another thread may have loaded the pointer a moment earlier and still be
//! reading through it. Every operation therefore runs *pinned* (inside a
//! guard), loads shared pointers through [`ReclaimGuard::protect`], and hands
//! unlinked objects to [`ReclaimGuard::retire`]. The backend frees a retired
//! object only once every guard that could have loaded it has been dropped.
//!
//! The contract the rest of the crate relies on, and that every backend keeps:
//!
//! 1. A pointer loaded with `protect` stays dereferenceable until the guard
//!    that loaded it is dropped, even if another thread retires it meanwhile.
//! 2. `retire(p)` is called exactly once per object, after `p` has been made
//!    unreachable for operations that start later (unlinked by a CAS).
//! 3. [`Retire::free`] runs exactly once per retired object, on some thread,
//!    at the latest when the backend itself is dropped.
//! 4. An object retired after a guard was pinned (by `pin` or `pin_owned`)
//!    is not freed until that guard is dropped, whichever guard loaded it.
//!    (Contract 1 follows for an object retired while a guard holds it; 4
//!    also lets one guard keep alive what another, later pin loaded:
//!    rayon's workers walk with pins of their own under the caller's.)
//!
//! Five backends implement the contract behind one small trait. `WordMap`,
//! whose only garbage is one table per resize, always uses `asymmetric`;
//! `HashMap` uses it too unless a feature picks another:
//!
//! | backend | when | notes |
//! |---|---|---|
//! | `asymmetric` | default; `WordMap` always; under loom with `cfg(lfmap_loom_asymmetric)` (its fence strategy) | epochs with an asymmetric barrier: a pin is two plain stores; a retired entry is a push onto the retiring thread's own bag in the map, sealed every 64 into a batch; a batch bump (an epoch increment and a `membarrier`) runs at most once a millisecond per process (`pacing.rs` has the exceptions); a table is bumped for at once. A directory by concept: the backend (`mod.rs`), `epoch.rs`, `registry.rs`, `barrier.rs`, `bags.rs`, `pacing.rs`, `guard.rs`, `retired.rs`, `draining.rs` (retired tables that own entries, freed a step at a time by later writes) |
//! | `epoch` | `--features crossbeam-epoch` (wins over `seize`) | crossbeam's epoch GC with one collector per map |
//! | `seize` | `--features seize` | hyaline-style reference counting of batches (papaya's reclaimer): a pin is a `SeqCst` store, an unpin an atomic swap |
//! | `deferred` | `cfg(loom)` | frees nothing until the map is dropped, so loom models can run the real map code with the smallest state space |
//! | `epoch` under loom | `cfg(loom)` and `cfg(crossbeam_loom)` | crossbeam-epoch's own loom support: real reclamation, model-checked |
//!
//! Why `asymmetric` is the default: docs/benchmarks.md, "Issue #14". As
//! users build lfmap (seize without papaya's `fast-barrier`), a write went
//! from five locked instructions to one and exchange gained 21 % at 1
//! thread and 37 % at 2; reads lost their two locked instructions and kept
//! their speed at 2^20 keys, where two cache misses per hit dominate.
//!
//! [`stack`] is the crate's one lock-free stack (push, take all; each
//! synchronising access's ordering chosen and justified by the caller): the
//! `asymmetric` backend's queue of retired tables and batches is one, and
//! so is the generic map's per-table deferred-retirement stack
//! (`raw/table.rs`). The traits of the contract above live in
//! [`contract`], a leaf module every backend and map depends on.

mod asymmetric;
pub(crate) mod contract;
#[cfg(all(loom, not(crossbeam_loom), not(lfmap_loom_asymmetric)))]
mod deferred;
#[cfg(any(all(not(loom), feature = "crossbeam-epoch"), all(loom, crossbeam_loom)))]
mod epoch;
#[cfg(any(
    all(not(loom), any(feature = "seize", feature = "crossbeam-epoch")),
    all(loom, crossbeam_loom)
))]
mod ready;
#[cfg(all(not(loom), feature = "seize", not(feature = "crossbeam-epoch")))]
mod seize;
pub(crate) mod stack;

#[cfg(any(
    all(not(loom), not(feature = "seize"), not(feature = "crossbeam-epoch")),
    all(loom, lfmap_loom_asymmetric, not(crossbeam_loom))
))]
pub(crate) use self::asymmetric::TableReclaim as Reclaimer;
#[cfg(all(loom, not(crossbeam_loom), not(lfmap_loom_asymmetric)))]
pub(crate) use self::deferred::DeferredReclaim as Reclaimer;
#[cfg(any(all(not(loom), feature = "crossbeam-epoch"), all(loom, crossbeam_loom)))]
pub(crate) use self::epoch::EpochReclaim as Reclaimer;
#[cfg(all(not(loom), feature = "seize", not(feature = "crossbeam-epoch")))]
pub(crate) use self::seize::SeizeReclaim as Reclaimer;

/// Whether `Reclaimer` is the deferred backend, which frees nothing before
/// the map's drop (the loom models read it through `lfmap::__loom`, to
/// take the count of retired objects as exact).
#[cfg(loom)]
pub(crate) const DEFERRED: bool = cfg!(all(not(crossbeam_loom), not(lfmap_loom_asymmetric)));

/// Under loom: where an execution's retired memory waits for the next one
/// (`asymmetric/graveyard.rs`).
#[cfg(loom)]
pub(crate) use self::asymmetric::graveyard as loom_graveyard;
/// `WordMap`'s backend: only tables are retired, so pins are plain stores
/// and the retirer pays for the barrier (`asymmetric/`). Under loom it runs
/// its fence strategy, which loom can model.
pub(crate) use self::asymmetric::TableReclaim as TableReclaimer;

/// Per-record values (a map's bags, its thread-owned counters) and the
/// calling thread's record index (`asymmetric/directory.rs`, `guard.rs`).
pub(crate) use self::asymmetric::{thread_record, PerRecord};
pub(crate) use self::contract::Reclaim;
pub use self::contract::{ReclaimGuard, Retire};
