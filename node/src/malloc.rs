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
//! operator who sets either malloc threshold in `GLIBC_TUNABLES` keeps their own values.

/// glibc's starting thresholds, fixed (which also turns its dynamic adjustment off).
pub const TUNABLES: &str = "glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072";

/// Set in the executed-again process, so that it runs on rather than executing again.
const MARK: &str = "SHROUD_MALLOC_THRESHOLDS_FIXED";

/// What [`fix_thresholds`] did, when it returns.
#[derive(Debug, PartialEq, Eq)]
pub enum Thresholds {
    /// This process already runs with the thresholds fixed (or on another allocator).
    Fixed,
    /// The operator set a malloc threshold in `GLIBC_TUNABLES`: theirs stands.
    SetByOperator,
    /// Executing again failed; the process runs on with glibc's dynamic thresholds.
    Dynamic(String),
}

/// The `GLIBC_TUNABLES` value to execute with, or none when the operator set a threshold.
fn tunables(existing: Option<&str>) -> Option<String> {
    match existing {
        Some(set)
            if set.contains("glibc.malloc.mmap_threshold")
                || set.contains("glibc.malloc.trim_threshold") =>
        {
            None
        }
        Some(set) if !set.is_empty() => Some(format!("{set}:{TUNABLES}")),
        _ => Some(TUNABLES.to_owned()),
    }
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
    fn the_operators_thresholds_stand_and_other_tunables_are_kept() {
        assert_eq!(tunables(None).as_deref(), Some(TUNABLES));
        assert_eq!(tunables(Some("")).as_deref(), Some(TUNABLES));
        assert_eq!(
            tunables(Some("glibc.malloc.arena_max=2")),
            Some(format!("glibc.malloc.arena_max=2:{TUNABLES}"))
        );
        assert_eq!(tunables(Some("glibc.malloc.trim_threshold=1")), None);
        assert_eq!(tunables(Some("glibc.malloc.mmap_threshold=1")), None);
    }
}
