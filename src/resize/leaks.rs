//! Under loom: the tables this OS thread made and has not yet freed, so
//! that a model checks that every execution frees each table it made
//! ([`crate::__loom::live_tables`]). loom checks its own objects for leaks
//! at the end of an execution, but a table is plain memory to it: a table
//! that no owner frees (a prepared table left marked as taken, say) passed
//! every model.
//!
//! Per OS thread, like the graveyard (`reclaim/asymmetric/graveyard.rs`):
//! loom runs a model's executions, and their threads, on the thread that
//! called it, while the test harness runs other models on other threads.
//! A table counts as freed when its free begins (`Header::free_prepared`,
//! which every free of a table runs once), not when its memory goes: a
//! `WordMap` table's memory waits in the graveyard for the next execution.
//! (A table dropped while loom unwinds is not counted: that execution
//! has failed already.)

use std::cell::Cell;

std::thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
}

/// A table's header was made.
pub(crate) fn made() {
    // `try_with`: a table made while the thread exits is not counted (nor
    // freed: see `freed`).
    let _ = LIVE.try_with(|n| n.set(n.get() + 1));
}

/// A table's free began.
pub(crate) fn freed() {
    let _ = LIVE.try_with(|n| {
        // More frees than tables made would hide a leak (the two would
        // cancel): the count's own check.
        debug_assert!(n.get() > 0, "a table freed that was not counted");
        n.set(n.get().saturating_sub(1));
    });
}

/// Tables made and not yet freed on this OS thread.
pub(crate) fn live() -> usize {
    LIVE.try_with(Cell::get).unwrap_or(0)
}
