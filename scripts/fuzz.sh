#!/usr/bin/env bash
# `make fuzz` (FUZZ_SECONDS=60, FUZZ_TARGETS="all"): runs every cargo-fuzz target of
# fuzz/libfuzzer for FUZZ_SECONDS each, one after the other, starting from its committed corpus
# (fuzz/corpus/<target>). New inputs go to a scratch corpus (target/fuzz-corpus/<target>), so
# the committed one changes only by hand; crashes go to fuzz/libfuzzer/artifacts/<target>/.
# Prints one table row per target (executions, seconds, coverage, crashes) for RELIABILITY.md
# and writes the table to target/fuzz-report.md. Exit status 1 when any target crashed.
#
# Needs the nightly toolchain (cargo-fuzz builds with -Z flags; without nightly,
# RUSTC_BOOTSTRAP=1 lets stable take them) and cargo-fuzz (installed here when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${FUZZ_SECONDS:-${1:-60}}"
TARGETS="${FUZZ_TARGETS:-all}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$PWD/target}/fuzz}"
OUT="${CARGO_TARGET_DIR%/fuzz}"
mkdir -p "$OUT"
REPORT="$OUT/fuzz-report.md"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    FUZZ=(cargo +nightly fuzz)
else
    echo "no nightly toolchain: stable with RUSTC_BOOTSTRAP=1"
    export RUSTC_BOOTSTRAP=1
    FUZZ=(cargo fuzz)
fi
# No sanitizer: the targets are safe Rust (ASan would only slow them down); debug assertions
# on, so overflow checks and debug_assert! fire.
FLAGS=(--fuzz-dir fuzz/libfuzzer -s none -a)
if [ "$TARGETS" = all ]; then
    TARGETS="$("${FUZZ[@]}" list --fuzz-dir fuzz/libfuzzer | tr '\n' ' ')"
fi
"${FUZZ[@]}" build "${FLAGS[@]}"

echo "| target | seconds | executions | exec/s | coverage | corpus | crashes |" | tee "$REPORT"
echo "|---|---:|---:|---:|---:|---:|---:|" | tee -a "$REPORT"
crashed=0
for t in $TARGETS; do
    scratch="$OUT/fuzz-corpus/$t"
    mkdir -p "$scratch" "fuzz/libfuzzer/artifacts/$t"
    log="$OUT/fuzz-$t.log"
    before=$(find "fuzz/libfuzzer/artifacts/$t" -type f | wc -l)
    start=$(date +%s)
    set +e
    "${FUZZ[@]}" run "${FLAGS[@]}" "$t" "$scratch" "fuzz/corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    took=$(( $(date +%s) - start ))
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
    corpus=$(find "$scratch" "fuzz/corpus/$t" -type f | wc -l)
    crashes=$(( $(find "fuzz/libfuzzer/artifacts/$t" -type f | wc -l) - before ))
    if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes="run failed (rc $rc, see $log)"; fi
    [ "$crashes" != 0 ] && crashed=1
    echo "| $t | $took | ${execs:-?} | ${rate:-?} | ${cov:-?} | $corpus | $crashes |" | tee -a "$REPORT"
done
echo "report: $REPORT (logs: $OUT/fuzz-<target>.log)"
exit "$crashed"
