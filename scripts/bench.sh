#!/usr/bin/env bash
# `make bench`: every benchmark, in one run (compare ratios within a run: these machines
# are shared and noisy). Copy the figures into BENCHMARKS.md with this command.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "== PoC: synthetic tasks on the CPU (cargo bench -p cpc-poc --bench poc)"
cargo bench -q -p cpc-poc --bench poc 2>/dev/null
echo "== PoC: block validation with synthetic results (cargo bench -p cpc-consensus --bench block_validation)"
cargo bench -q -p cpc-consensus --bench block_validation 2>/dev/null
echo "== State root: incremental cost (cargo bench -p cpc-state --bench state_root)"
cargo bench -q -p cpc-state --bench state_root 2>/dev/null
echo "== Staking: end of block at 100 validators (cargo bench -p cpc-state --bench staking)"
cargo bench -q -p cpc-state --bench staking 2>/dev/null
echo "== GPU (cargo bench -p cpc-gpu --bench gpu)"
cargo bench -q -p cpc-gpu --bench gpu 2>/dev/null || true
echo "== C baseline: plain i-k-j int8 product, n = 1024 (scripts/c-baseline/matmul_ikj.c)"
cc=$(command -v gcc || command -v cc)
"$cc" -O3 -march=native -o "$TARGET/matmul_ikj_O3" scripts/c-baseline/matmul_ikj.c && echo -n "gcc -O3 -march=native: " && "$TARGET/matmul_ikj_O3"
"$cc" -O2 -o "$TARGET/matmul_ikj_O2" scripts/c-baseline/matmul_ikj.c && echo -n "gcc -O2:                " && "$TARGET/matmul_ikj_O2"
echo "== JSON-RPC load: instant blocks (cpc-loadgen --spawn --block-time 0 --txs 60000)"
"$TARGET/release/cpc-loadgen" --spawn --block-time 0 --txs 60000
echo "== JSON-RPC load: 250 ms blocks (cpc-loadgen --spawn --block-time 250ms --txs 60000)"
"$TARGET/release/cpc-loadgen" --spawn --block-time 250ms --txs 60000
echo "== Sync: a fresh node catches up 10 000 blocks (cpc-netbench sync)"
"$TARGET/release/cpc-netbench" sync --blocks 10000
echo "== JSON-RPC load: 4 BFT validators, 250 ms blocks (cpc-loadgen --spawn-validators 4 --block-time 250ms --txs 60000)"
"$TARGET/release/cpc-loadgen" --spawn-validators 4 --block-time 250ms --txs 60000
echo "== BFT commit latency, 4 cpcd validators (cpc-netbench gossip)"
"$TARGET/release/cpc-netbench" gossip --validators 4 --blocks 60 --block-time 500ms
echo "== BFT commit latency, 4 validators, toy blocks (cargo bench --workspace --bench commit_latency -- 300)"
cargo bench -q --workspace --bench commit_latency -- 300 2>/dev/null
