//! Planted mutations (`docs/verification.md`, "Planted mutations"): known
//! bugs, each at a marked site in the code, that a loom model or a test
//! exists to catch. CI plants each one and checks that its suite fails.
//!
//! A site reads `mutation!("NAME")`, which is true where NAME is planted:
//!
//! * `--cfg lfmap_mutation="NAME"` plants NAME at compile time (the
//!   commands in `docs/verification.md` build one mutation this way);
//! * `--cfg lfmap_mutations` compiles every site with a check at run time:
//!   NAME is planted in a process whose environment variable
//!   `LFMAP_MUTATION` is NAME (read once). CI's mutation step
//!   (`.ci/mutations`) builds each suite once this way and runs it once
//!   per mutation, instead of one build per mutation.
//!
//! In a build with neither, every site is the constant `false`, which the
//! compiler folds away: the code that ships never takes a mutated branch. Each NAME must be declared in
//! `Cargo.toml`'s `check-cfg` list, or the build warns (an error under
//! CI's `-D warnings`), so a misspelt site cannot pass for a mutation.

/// Whether the planted mutation `$name` (a string literal) is on.
macro_rules! mutation {
    ($name:tt) => {
        (cfg!(lfmap_mutation = $name) || $crate::mutation::planted_at_run_time($name))
    };
}

/// Whether `LFMAP_MUTATION` names `name` (`--cfg lfmap_mutations` only).
#[cfg(lfmap_mutations)]
pub(crate) fn planted_at_run_time(name: &str) -> bool {
    // Read once, at the first site reached. A std `OnceLock` under loom
    // too: the choice is the same in every interleaving, so it is not
    // part of what loom explores.
    static CHOSEN: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    CHOSEN
        .get_or_init(|| std::env::var("LFMAP_MUTATION").ok())
        .as_deref()
        == Some(name)
}

/// Never: without `--cfg lfmap_mutations` no mutation is chosen at run time.
#[cfg(not(lfmap_mutations))]
#[inline(always)]
pub(crate) const fn planted_at_run_time(_name: &str) -> bool {
    false
}
