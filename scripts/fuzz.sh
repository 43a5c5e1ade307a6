#!/usr/bin/env bash
# `make fuzz` (FUZZ_SECONDS=60, FUZZ_TARGETS="all", FUZZ_JOBS=1): builds every cargo-fuzz
# target of fuzz/libfuzzer once, then runs each for FUZZ_SECONDS, FUZZ_JOBS at a time (one
# core each), starting from its committed corpus
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
# FUZZ_NO_BUILD=1 reuses the binaries of the last build.
[ "${FUZZ_NO_BUILD:-0}" = 1 ] || "${FUZZ[@]}" build "${FLAGS[@]}"

BIN_DIR="$CARGO_TARGET_DIR/$(rustc -vV | sed -n 's/^host: //p')/release"
JOBS="${FUZZ_JOBS:-1}"

# One target: run its built binary (no rebuild mid-campaign: an edit to the tree while a
# campaign runs must not stop it), print its row.
fuzz_one() {
    local t="$1" scratch="$OUT/fuzz-corpus/$1" log="$OUT/fuzz-$1.log" before start rc took execs rate cov corpus crashes
    mkdir -p "$scratch" "fuzz/libfuzzer/artifacts/$t"
    before=$(find "fuzz/libfuzzer/artifacts/$t" -type f | wc -l)
    start=$(date +%s)
    set +e
    "$BIN_DIR/$t" -artifact_prefix="fuzz/libfuzzer/artifacts/$t/" -max_total_time="$SECONDS_EACH" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$scratch" "fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    set -e
    took=$(( $(date +%s) - start ))
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
    corpus=$(find "$scratch" "fuzz/corpus/$t" -type f | wc -l)
    crashes=$(( $(find "fuzz/libfuzzer/artifacts/$t" -type f | wc -l) - before ))
    if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes="run failed (rc $rc, see $log)"; fi
    echo "| $t | $took | ${execs:-?} | ${rate:-?} | ${cov:-?} | $corpus | $crashes |"
}

echo "| target | seconds | executions | exec/s | coverage | corpus | crashes |" | tee "$REPORT"
echo "|---|---:|---:|---:|---:|---:|---:|" | tee -a "$REPORT"
rows="$OUT/fuzz-rows.txt"
: >"$rows"
running=0
for t in $TARGETS; do
    fuzz_one "$t" | tee -a "$rows" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait
sort "$rows" >>"$REPORT"
echo "report: $REPORT (logs: $OUT/fuzz-<target>.log)"
grep -qv '| 0 |$' "$rows" && exit 1
exit 0
