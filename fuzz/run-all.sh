#!/usr/bin/env bash
# Runs every fuzz target for N seconds each (default 60), one at a time, on the nightly
# toolchain. Exits non-zero if any target crashes (or fails to build or run).
#
# Usage: fuzz/run-all.sh [SECONDS] [TARGET...]
#
# Each target starts from its seed corpus in fuzz/corpus/<target>/ (read only) and writes
# the inputs it finds to fuzz/work/<target>/ (ignored by git), so the committed corpus stays
# small. A crashing input is left in fuzz/artifacts/<target>/ by libFuzzer. A summary line per
# target (seconds, executions, crash or not) is printed at the end and written to
# fuzz/work/summary.tsv; full logs are in fuzz/work/<target>.log.
set -uo pipefail

seconds="${1:-60}"
shift || true
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "usage: $0 [SECONDS] [TARGET...]" >&2
    exit 2
fi

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

# Build everything once (two jobs: the reference machine has two cores).
CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" cargo +nightly fuzz build || exit 1

mkdir -p work
summary="work/summary.tsv"
printf 'target\tseconds\texecutions\tcrashes\n' >"$summary"
failed=0
for target in "${targets[@]}"; do
    mkdir -p "work/$target" "corpus/$target"
    log="work/$target.log"
    echo "=== $target (${seconds}s)"
    cargo +nightly fuzz run "$target" "work/$target" "corpus/$target" -j1 -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1
    status=$?
    # libFuzzer's own count: fuzzing time, without the (re)build that `cargo fuzz run` may do.
    elapsed=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' | tail -1)
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    crashes=0
    if [ "$status" -ne 0 ]; then
        crashes=1
        failed=1
        echo "!!! $target failed (exit $status); see fuzz/$log and fuzz/artifacts/$target/"
        grep -E 'panicked at|SUMMARY|ERROR: libFuzzer|Test unit written' "$log" | head -5
    fi
    printf '%s\t%s\t%s\t%s\n' "$target" "${elapsed:-?}" "${execs:-?}" "$crashes" | tee -a "$summary"
done

echo
column -t -s $'\t' "$summary" 2>/dev/null || cat "$summary"
exit "$failed"
