//! glibc's allocator thresholds, fixed for a long-running validator.
//!
//! glibc serves an allocation of 128 KiB or more with its own `mmap` and returns it to the
//! system when it is freed, but the first time such a chunk is freed it raises that
//! threshold to the chunk's size (up to 32 MiB) and the heap's trim threshold to twice that.
//! A validator frees buffers of hundreds of KiB to a few MiB many times a second (batch frames,
//! height records, the committed index's merge buffer), so after the first few seconds every
//! such buffer came from a per-thread arena and stayed there: at 50,000 tx/s a validator's
//! resident memory was 104-110 MiB, and 88-94 MiB with the thresholds fixed at glibc's own
//! starting values (BENCHMARKS.md, 2026-12-07). The cost is an `mmap` and `munmap` per large
//! buffer, which the same runs did not show in CPU per transaction beyond their spread.
//!
//! glibc reads its tunables once, at start-up, from `GLIBC_TUNABLES`, and the workspace has no
//! unsafe code to call `mallopt`: [`fix_thresholds`] therefore executes the same program again
//! (same process, same arguments, same environment) with the tunables added, once. An
//! operator who sets one of them in `GLIBC_TUNABLES` keeps their own value. The arenas are
//! limited to two as well: in 120 s runs at 50,000 tx/s, where the pruner and sled's threads
//! allocate beside the validator's, that took the largest validator from 113-116 to 100-103
//! MiB (BENCHMARKS.md, 2026-12-07).

/// glibc's starting thresholds, fixed (which also turns its dynamic adjustment off), and two
/// arenas rather than one per thread (up to sixteen on two cores): the pruner's and sled's
/// threads otherwise each kept their own freed pages.
pub const TUNABLES: [(&str, &str); 3] = [
    ("glibc.malloc.mmap_threshold", "131072"),
    ("glibc.malloc.trim_threshold", "131072"),
    ("glibc.malloc.arena_max", "2"),
];

/// Set in the executed-again process, so that it runs on rather than executing again.
const MARK: &str = "SHROUD_MALLOC_THRESHOLDS_FIXED";

/// What [`fix_thresholds`] did, when it returns.
#[derive(Debug, PartialEq, Eq)]
pub enum Thresholds {
    /// This process already runs with the thresholds fixed (or on another allocator).
    Fixed,
    /// The operator set every one of these tunables in `GLIBC_TUNABLES`: theirs stand.
    SetByOperator,
    /// Executing again failed; the process runs on with glibc's dynamic thresholds.
    Dynamic(String),
}

/// The `GLIBC_TUNABLES` value to execute with: the operator's, and each of [`TUNABLES`] they
/// did not set; none when they set them all.
fn tunables(existing: Option<&str>) -> Option<String> {
    let existing = existing.unwrap_or("");
    let set = |name: &str| {
        existing
            .split(':')
            .any(|item| item.split('=').next() == Some(name))
    };
    let added: Vec<String> = TUNABLES
        .iter()
        .filter(|(name, _)| !set(name))
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    if added.is_empty() {
        return None;
    }
    Some(
        std::iter::once(existing)
            .filter(|existing| !existing.is_empty())
            .map(str::to_owned)
            .chain(added)
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// Executes this program again with glibc's malloc thresholds fixed (see the module
/// documentation); returns only when it does not. Call it first thing in `main`, before any
/// thread starts, and only in long-running validator processes.
pub fn fix_thresholds() -> Thresholds {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) || std::env::var_os(MARK).is_some() {
        return Thresholds::Fixed;
    }
    let existing = std::env::var("GLIBC_TUNABLES").ok();
    let Some(tunables) = tunables(existing.as_deref()) else {
        return Thresholds::SetByOperator;
    };
    execute_again(&tunables)
}

#[cfg(unix)]
fn execute_again(tunables: &str) -> Thresholds {
    use std::os::unix::process::CommandExt as _;
    let program = match std::env::current_exe() {
        Ok(program) => program,
        Err(error) => return Thresholds::Dynamic(error.to_string()),
    };
    let mut arguments = std::env::args_os();
    let name = arguments
        .next()
        .unwrap_or_else(|| program.clone().into_os_string());
    // `exec` replaces this process (same PID) and returns only on failure.
    let error = std::process::Command::new(program)
        .arg0(name)
        .args(arguments)
        .env("GLIBC_TUNABLES", tunables)
        .env(MARK, "1")
        .exec();
    Thresholds::Dynamic(error.to_string())
}

#[cfg(not(unix))]
fn execute_again(_tunables: &str) -> Thresholds {
    Thresholds::Fixed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operators_tunables_stand_and_ours_fill_the_rest() {
        let ours = "glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072:\
                    glibc.malloc.arena_max=2";
        assert_eq!(tunables(None).as_deref(), Some(ours));
        assert_eq!(tunables(Some("")).as_deref(), Some(ours));
        assert_eq!(
            tunables(Some("glibc.malloc.tcache_count=0")),
            Some(format!("glibc.malloc.tcache_count=0:{ours}"))
        );
        assert_eq!(
            tunables(Some("glibc.malloc.arena_max=4")).as_deref(),
            Some(
                "glibc.malloc.arena_max=4:glibc.malloc.mmap_threshold=131072:\
                 glibc.malloc.trim_threshold=131072"
            )
        );
        assert_eq!(
            tunables(Some(
                "glibc.malloc.trim_threshold=1:glibc.malloc.mmap_threshold=1:glibc.malloc.arena_max=8"
            )),
            None
        );
    }
}
