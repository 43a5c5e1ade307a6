#!/usr/bin/env bash
# One-command check of the CUDA backend on a machine with an NVIDIA GPU:
#   1. nvidia-smi (GPU, driver, the CUDA version the driver supports);
#   2. libnvrtc: CPC_NVRTC_PATH, the loader's path, a CUDA toolkit, or the pip wheel
#      nvidia-cuda-nvrtc-cu12 (installed into ~/.cache/cpc/nvrtc-venv when missing and pip
#      is available, at the driver's CUDA minor version so its PTX JIT-compiles);
#   3. builds cpc-kernels and cpc-gpu (release);
#   4. runs their tests with output (NVRTC compile of every kernel, CPU emulation of the
#      kernels, GPU vs CPU bit-exactness, cancellation, self-test);
#   5. runs the GPU benchmark (tasks/s and int8 TOPS at n = 1024);
#   6. prints a summary. Exit status non-zero if any step or test fails, or if the GPU tests
#      skipped on a machine where nvidia-smi sees a GPU.
#
# Usage: scripts/gpu-check.sh            (from anywhere)
# Env:   CPC_NVRTC_PATH=<libnvrtc.so.12 or its folder>   use this NVRTC
#        CPC_NVRTC_VENV=<dir>     where to install the wheel (default ~/.cache/cpc/nvrtc-venv)
#        SKIP_BENCH=1             no benchmark
#        CPC_BENCH_SECONDS=<s>    time per batch size in the benchmark (default 2)
set -u -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
LOG_DIR="${TMPDIR:-/tmp}/cpc-gpu-check.$$"
mkdir -p "$LOG_DIR"
FAIL=0
SUMMARY=()
note() { SUMMARY+=("$1"); echo "== $1"; }
fail() { SUMMARY+=("FAIL: $1"); echo "== FAIL: $1"; FAIL=1; }

echo "== cpc GPU check in $ROOT (logs in $LOG_DIR)"

# 1. The GPU and its driver --------------------------------------------------------------
GPU_SEEN=0
DRIVER_CUDA=""
if command -v nvidia-smi >/dev/null 2>&1; then
    if nvidia-smi >"$LOG_DIR/nvidia-smi.txt" 2>&1; then
        GPU_SEEN=1
        cat "$LOG_DIR/nvidia-smi.txt"
        GPU_LINE="$(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>/dev/null | head -n1)"
        DRIVER_CUDA="$(sed -n 's/.*CUDA Version: *\([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' "$LOG_DIR/nvidia-smi.txt" | head -n1)"
        note "GPU: ${GPU_LINE:-unknown}; driver supports CUDA ${DRIVER_CUDA:-?}"
    else
        cat "$LOG_DIR/nvidia-smi.txt"
        fail "nvidia-smi is installed but fails (driver not loaded?)"
    fi
else
    note "nvidia-smi not found: no NVIDIA driver here; GPU tests will skip"
fi

# 2. NVRTC ---------------------------------------------------------------------------------
find_nvrtc() {
    local d f
    if [ -n "${CPC_NVRTC_PATH:-}" ]; then
        if [ -f "$CPC_NVRTC_PATH" ]; then echo "$CPC_NVRTC_PATH"; return 0; fi
        for f in "$CPC_NVRTC_PATH"/libnvrtc.so.12 "$CPC_NVRTC_PATH"/libnvrtc.so; do
            [ -f "$f" ] && { echo "$f"; return 0; }
        done
    fi
    f="$(ldconfig -p 2>/dev/null | awk '/libnvrtc\.so\.12 /{print $NF; exit}')"
    [ -n "$f" ] && [ -f "$f" ] && { echo "$f"; return 0; }
    for d in ${LD_LIBRARY_PATH:+${LD_LIBRARY_PATH//:/ }} "${CUDA_HOME:-/nonexistent}/lib64" "${CUDA_PATH:-/nonexistent}/lib64" \
             /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /opt/cuda/lib64; do
        [ -f "$d/libnvrtc.so.12" ] && { echo "$d/libnvrtc.so.12"; return 0; }
    done
    for f in "${CPC_NVRTC_VENV:-$HOME/.cache/cpc/nvrtc-venv}"/lib/python3*/site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.12 \
             "${VIRTUAL_ENV:-/nonexistent}"/lib/python3*/site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.12 \
             "$HOME"/.local/lib/python3*/site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.12 \
             /usr/local/lib/python3*/dist-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.12 \
             /usr/lib/python3*/dist-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.12; do
        [ -f "$f" ] && { echo "$f"; return 0; }
    done
    return 1
}

NVRTC="$(find_nvrtc || true)"
if [ -z "$NVRTC" ]; then
    VENV="${CPC_NVRTC_VENV:-$HOME/.cache/cpc/nvrtc-venv}"
    PY="$(command -v python3 || true)"
    if [ -n "$PY" ] && "$PY" -m pip --version >/dev/null 2>&1; then
        echo "== libnvrtc not found: installing nvidia-cuda-nvrtc-cu12 into $VENV"
        if [ ! -x "$VENV/bin/pip" ]; then
            "$PY" -m venv "$VENV" || fail "could not create the venv $VENV"
        fi
        if [ -x "$VENV/bin/pip" ]; then
            # NVRTC no newer than the driver, so the driver can JIT its PTX.
            SPEC="nvidia-cuda-nvrtc-cu12"
            case "$DRIVER_CUDA" in 12.*) SPEC="nvidia-cuda-nvrtc-cu12==${DRIVER_CUDA}.*" ;; esac
            "$VENV/bin/pip" install -q "$SPEC" || "$VENV/bin/pip" install -q nvidia-cuda-nvrtc-cu12 \
                || fail "pip install nvidia-cuda-nvrtc-cu12 failed"
        fi
        NVRTC="$(find_nvrtc || true)"
    fi
fi
if [ -n "$NVRTC" ]; then
    export CPC_NVRTC_PATH="$NVRTC"
    export LD_LIBRARY_PATH="$(dirname "$NVRTC")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    note "NVRTC: $NVRTC"
else
    if [ "$GPU_SEEN" = 1 ]; then
        fail "libnvrtc.so.12 not found (install a CUDA 12 toolkit or pip install nvidia-cuda-nvrtc-cu12)"
    else
        note "NVRTC: not found (NVRTC tests will skip)"
    fi
fi

# 3. Build ---------------------------------------------------------------------------------
echo "== building (release)"
if cargo build --release -p cpc-kernels -p cpc-gpu 2>&1 | tee "$LOG_DIR/build.txt" | tail -n 3 \
   && cargo test --release -p cpc-kernels -p cpc-gpu --no-run 2>&1 | tee -a "$LOG_DIR/build.txt" | tail -n 3; then
    note "build: ok"
else
    fail "build (see $LOG_DIR/build.txt)"
fi

# 4. Tests ---------------------------------------------------------------------------------
echo "== tests (output in $LOG_DIR/tests.txt)"
cargo test --release -p cpc-kernels -p cpc-gpu -- --nocapture --test-threads=1 2>&1 | tee "$LOG_DIR/tests.txt"
TEST_RC=${PIPESTATUS[0]}
PASSED=$(grep -Eo '[0-9]+ passed' "$LOG_DIR/tests.txt" | awk '{s+=$1} END {print s+0}')
FAILED=$(grep -Eo '[0-9]+ failed' "$LOG_DIR/tests.txt" | awk '{s+=$1} END {print s+0}')
SKIPS=$(grep -c 'skipped: ' "$LOG_DIR/tests.txt" || true)
if [ "$TEST_RC" = 0 ] && [ "$FAILED" = 0 ]; then
    note "tests: $PASSED passed, $FAILED failed, $SKIPS skip messages"
else
    fail "tests: $PASSED passed, $FAILED failed (rc $TEST_RC); see $LOG_DIR/tests.txt"
fi
if [ "$GPU_SEEN" = 1 ] && grep -Eq 'skipped: (no CUDA|CUDA driver|NVRTC|device 0)' "$LOG_DIR/tests.txt"; then
    fail "GPU/NVRTC tests skipped although nvidia-smi sees a GPU:"
    grep -Eo 'skipped: .*' "$LOG_DIR/tests.txt" | sort | uniq -c
fi

# 5. Benchmark -----------------------------------------------------------------------------
if [ "${SKIP_BENCH:-0}" != 1 ]; then
    echo "== GPU benchmark (output in $LOG_DIR/bench.txt)"
    cargo bench -p cpc-gpu --bench gpu 2>&1 | tee "$LOG_DIR/bench.txt"
    BENCH_RC=${PIPESTATUS[0]}
    if [ "$BENCH_RC" = 0 ]; then
        note "benchmark: ok"
    else
        fail "benchmark (rc $BENCH_RC; see $LOG_DIR/bench.txt)"
    fi
fi

# 6. Summary -------------------------------------------------------------------------------
echo
echo "================ cpc GPU check summary ================"
for line in "${SUMMARY[@]}"; do echo "  $line"; done
if [ -f "$LOG_DIR/bench.txt" ]; then
    echo "  benchmark:"
    grep -E '^(device:|int8 dense|solver:|self-test| *batch| *[0-9]+ +[0-9]+ )' "$LOG_DIR/bench.txt" | sed 's/^/    /'
fi
if [ "$FAIL" = 0 ]; then
    echo "RESULT: PASS"
else
    echo "RESULT: FAIL"
fi
exit "$FAIL"
