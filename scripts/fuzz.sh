#!/usr/bin/env bash
# Run every cargo-fuzz target under fuzz/ for a bounded time. Not part of CI.
#
#   scripts/fuzz.sh                 # every target, FUZZ_SECONDS each
#   scripts/fuzz.sh range vary      # only these targets
#
# Environment:
#   FUZZ_SECONDS   seconds per target (default 120)
#   FUZZ_JOBS      parallel libFuzzer workers per target (default 1)
#   FUZZ_NICE      niceness of the fuzzing run (default 19)
#   FUZZ_SANITIZER address (default) or none
#
# cargo-fuzz passes nightly-only flags (-Zsanitizer, -Cpasses=sancov) to
# rustc. On a stable toolchain RUSTC_BOOTSTRAP=1 lets stable accept them;
# it is set here for the fuzz build only, never for the workspace build.
# Builds keep debug assertions and overflow checks on, so an arithmetic
# overflow in a parser is a crash too.
# Crashes land in fuzz/artifacts/<target>/ and the corpus in fuzz/corpus/<target>/
# (both ignored by git); a summary line per target goes to fuzz/last-run.txt.
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-120}"
jobs="${FUZZ_JOBS:-1}"
niceness="${FUZZ_NICE:-19}"
sanitizer="${FUZZ_SANITIZER:-address}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
# The fuzz crate has its own target dir; never share the workspace's.
unset CARGO_TARGET_DIR

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

cargo fuzz build --release --debug-assertions --sanitizer "$sanitizer"

: > fuzz/last-run.txt
status=0
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    log="fuzz/artifacts/$t/last-run.log"
    echo "== $t: ${seconds}s"
    parallel=()
    if [ "$jobs" -gt 1 ]; then
        parallel=(-jobs="$jobs" -workers="$jobs")
    fi
    if nice -n "$niceness" cargo fuzz run --release --debug-assertions --sanitizer "$sanitizer" "$t" \
        -- -max_total_time="$seconds" -print_final_stats=1 "${parallel[@]}" \
        >"$log" 2>&1; then
        result=ok
    else
        result="FAILED (see $log and fuzz/artifacts/$t/)"
        status=1
    fi
    # With several jobs, libFuzzer's workers log to fuzz-<n>.log in the working directory.
    execs=$(cat "$log" fuzz-*.log 2>/dev/null | awk '/stat::number_of_executed_units/ {s+=$2} END {print s+0}') || true
    rm -f fuzz-*.log
    echo "$t: ${seconds}s, ${execs} executions, $result" | tee -a fuzz/last-run.txt
done
exit "$status"
