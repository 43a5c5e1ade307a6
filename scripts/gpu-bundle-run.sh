#!/bin/bash
# The runner of a bundle made by scripts/gpu-bundle.sh (copied into it as run.sh). On a CUDA
# machine, without cargo:  bash BUNDLE/run.sh [tests] [cpu] [bench] [node] [worker]   (none: all)
#   tests  the cpc-kernels and cpc-gpu tests (NVRTC compile, GPU vs CPU bit-exactness on random
#          tips, protocol vectors on the GPU, cancellation, self-test)
#   cpu    the cpc-poc tests (every CPU kernel this CPU has against the reference), single-core
#          n = 1024 products per kernel beside the C i-k-j baseline, the PoC benchmark
#   bench  the GPU benchmark (tasks/s and int8 TOPS at n = 1024)
#   node   `cpcd --dev --mine --gpu 0` for NODE_SECONDS (40): blocks, miner_status, metrics
#   worker `cpcd worker --gpu 0` (WORKER_DEVICE overrides) mining over WebSocket for a
#          `cpcd --dev --ws` node for WORKER_SECONDS (30), as dev account 1 imported into a
#          keystore (a SUBMIT_RESULT pays 80 000 gas, so a worker needs a funded account; dev
#          account 0 is the proposer): its balance change is rewards minus fees
# Output goes to the terminal and to $OUT (default /tmp/cpc-bundle-out). Exit status 1 if any
# test fails.
set -u
B=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/cpc-bundle-out}
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$B${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap,clocks.max.sm --format=csv
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(nproc) threads"

# NVRTC. cudarc (built for CUDA 12) asks for libnvrtc.so or libnvrtc.so.12; the C API it uses
# is the same in CUDA 13, so a CUDA 13 toolkit's library serves under the CUDA 12 name.
if [ -z "${CPC_NVRTC_PATH:-}" ]; then
    NV=$(ls /usr/local/cuda/lib64/libnvrtc.so.1[2-9] /usr/local/cuda/targets/x86_64-linux/lib/libnvrtc.so.1[2-9] 2>/dev/null | head -n1)
    [ -z "$NV" ] && NV=$(find / -xdev -name 'libnvrtc.so.1[2-9]' 2>/dev/null | head -n1)
    if [ -n "$NV" ]; then
        mkdir -p /tmp/cpc-nvrtc
        ln -sf "$NV" /tmp/cpc-nvrtc/libnvrtc.so.12
        export CPC_NVRTC_PATH=/tmp/cpc-nvrtc/libnvrtc.so.12
        export LD_LIBRARY_PATH="/tmp/cpc-nvrtc:$(dirname "$NV"):$LD_LIBRARY_PATH"
    fi
fi
echo "NVRTC: ${NV:-${CPC_NVRTC_PATH:-not found}}"

what=" ${*:-all} "
has() { [[ "$what" == *" $1 "* || "$what" == *" all "* ]]; }
RC=0
rpc() { curl -s -H 'content-type: application/json' -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":${2:-[]}}" http://127.0.0.1:18545; echo; }
run_tests() { # package target...
    local pkg=$1 t
    shift
    for t in "$@"; do
        echo "=== $pkg $t"
        "$B/$pkg.$t" --nocapture --test-threads=1 2>&1 | tee "$OUT/$pkg.$t.txt" | grep -Ev '^test .* ok$'
        [ "${PIPESTATUS[0]}" = 0 ] || { echo "FAILED: $pkg $t"; RC=1; }
    done
}
if has tests; then
    run_tests cpc-gpu nvrtc_compile gpu_solver cpc_gpu emulated_kernels solution no_driver
    run_tests cpc-kernels cpc_kernels
    if grep -h 'skipped: ' "$OUT"/cpc-gpu.*.txt | grep -v 'a CUDA driver is present'; then
        echo "FAILED: GPU tests skipped on a machine with a GPU"; RC=1
    fi
fi
if has cpu; then
    echo "=== CPU SIMD: $(grep -m1 flags /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|avx512bw|avx512_vnni|avx_vnni)$' | tr '\n' ' ')"
    run_tests cpc-poc kernels vectors verify cpc_poc
    PIN=""; command -v taskset >/dev/null && PIN="taskset -c 2"
    cc=$(command -v gcc || command -v cc || true)
    echo "=== single-core n = 1024 products (fastest of 15; two rounds) ${PIN:+pinned: $PIN}"
    for round in 1 2; do
        for k in avx512vnni avx2 portable; do $PIN "$B/cpc-poc.one_product" 15 $k; done
        if [ -n "$cc" ]; then
            "$cc" -O3 -march=native -o /tmp/ikj_O3 "$B/matmul_ikj.c" && echo -n "C i-k-j gcc -O3 -march=native: " && $PIN /tmp/ikj_O3
            "$cc" -O2 -o /tmp/ikj_O2 "$B/matmul_ikj.c" && echo -n "C i-k-j gcc -O2: " && $PIN /tmp/ikj_O2
        fi
    done 2>&1 | tee "$OUT/single-core.txt"
    echo "=== PoC benchmark, 1 rayon thread (pinned), then all threads"
    RAYON_NUM_THREADS=1 $PIN "$B/cpc-poc.poc" --bench 2>&1 | tee "$OUT/poc-bench-1.txt"
    "$B/cpc-poc.poc" --bench 2>&1 | tee "$OUT/poc-bench-all.txt"
fi
if has bench; then
    echo "=== GPU benchmark"
    CPC_BENCH_SECONDS=${CPC_BENCH_SECONDS:-2} "$B/cpc-gpu.gpu" --bench 2>&1 | tee "$OUT/gpu-bench.txt"
    [ "${PIPESTATUS[0]}" = 0 ] || RC=1
fi
if has node; then
    echo "=== node: cpcd --dev --mine --gpu 0 --miner.results-per-tip 16, ${NODE_SECONDS:-40} s"
    "$B/cpcd" --dev --dev.block-time 1s --mine --gpu 0 --miner.results-per-tip 16 --http.port 18545 \
        --metrics 127.0.0.1:19615 >"$OUT/node.log" 2>&1 &
    PID=$!
    sleep "${NODE_SECONDS:-40}"
    rpc miner_status | tee "$OUT/miner_status.json"
    echo "height: $(rpc cpc_blockNumber)"
    curl -s http://127.0.0.1:19615/metrics | grep -E '^cpcd_(miner|poc|gpu|blocks|chain)' | tee "$OUT/metrics.txt" | head -40
    kill -INT $PID
    wait $PID
    echo "node exit status: $? (0 = clean shutdown)"
    echo "blocks: $(grep -c 'produced block' "$OUT/node.log"), with 16 txs: $(grep -c 'produced block.* txs=16 ' "$OUT/node.log")"
    grep -o 'build_ms=[0-9]*' "$OUT/node.log" | cut -d= -f2 | sort -n | awk '{a[NR]=$1} END {if (NR) print "block build ms (full verification of its results): median " a[int((NR+1)/2)] ", max " a[NR]}'
    grep -E ' (WARN|ERROR) |panicked' "$OUT/node.log" | head -20
fi
if has worker; then
    echo "=== remote worker: cpcd worker --gpu 0 for a cpcd --dev --ws node, ${WORKER_SECONDS:-30} s"
    "$B/cpcd" --dev --dev.block-time 1s --http.port 18545 --ws.port 18546 >"$OUT/worker-node.log" 2>&1 &
    NPID=$!
    KS=/tmp/cpc-worker-ks
    rm -rf "$KS"
    echo "bundle-worker-password" >/tmp/cpc-worker-pw
    printf 'cpc-dev-1' | sha256sum | cut -c1-64 >/tmp/cpc-worker-secret
    ADDR=$("$B/cpcd" key import --keystore "$KS" --secret-file /tmp/cpc-worker-secret \
        --password-file /tmp/cpc-worker-pw | awk '/^address/{print $2}')
    sleep 2
    echo "worker account $ADDR, balance before: $(rpc cpc_getBalance "[\"$ADDR\"]")"
    "$B/cpcd" worker --node ws://127.0.0.1:18546 --miner "$ADDR" ${WORKER_DEVICE:---gpu 0} --miner.results-per-tip 8 \
        --keystore "$KS" --password-file /tmp/cpc-worker-pw >"$OUT/worker.log" 2>&1 &
    WPID=$!
    sleep "${WORKER_SECONDS:-30}"
    echo "worker balance after: $(rpc cpc_getBalance "[\"$ADDR\"]")"
    echo "height: $(rpc cpc_blockNumber)"
    kill -INT $WPID
    wait $WPID
    echo "worker exit status: $?"
    kill -INT $NPID
    wait $NPID
    echo "node exit status: $?"
    grep -c 'produced block.* txs=8 ' "$OUT/worker-node.log" | sed 's/^/blocks with 8 results: /'
    tail -n 5 "$OUT/worker.log"
    grep -hE ' (WARN|ERROR) |panicked' "$OUT/worker.log" "$OUT/worker-node.log" | head -20
fi
exit $RC
